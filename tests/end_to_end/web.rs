//! The web app in a real browser: headless Chromium driven through
//! chromedriver (WebDriver), against real nodes on loopback. A school records
//! an incident through the form and sees it in its list; a refused field is
//! shown next to itself in Vietnamese and nothing is stored; a request
//! without the session cookie or with a wrong CSRF token is refused and
//! stores nothing; the district's pages count the school's incident.
//! Screenshots of each page go to `target/tmp/web-screenshots/`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::harness::{edusync_bin, free_port, run, running_school_and_district, text};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The browser and its driver, or why this machine has none. Under CI=true a
/// missing browser fails the test: `.ci/run` installs them.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let (chromium, driver) = (PathBuf::from(CHROMIUM), PathBuf::from(CHROMEDRIVER));
    if chromium.exists() && driver.exists() {
        return Some((chromium, driver));
    }
    let missing =
        "the browser tests need Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver); \
                   `.ci/run` installs them, or: apt-get install chromium chromium-driver";
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{missing}");
    eprintln!("SKIPPED (not under CI): {missing}");
    None
}

/// One browser test at a time: each starts its own chromedriver on a port
/// picked free, and two picked at once could meet on one driver, which the
/// first test to end would take down under the other. One at a time also
/// keeps two Chromiums from starving a 2-core machine.
static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `edusync web` for a node and returns it with its sign-in address.
fn start_web(args: &[&str]) -> (Killed, String) {
    let listen: &[&str] = if args.contains(&"--listen") { &[] } else { &["--listen", "127.0.0.1:0"] };
    let mut child = Command::new(edusync_bin())
        .arg("web")
        .args(args)
        .args(listen)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("edusync web starts");
    let stdout = child.stdout.take().expect("piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.split("open ").nth(1) {
                let _ = sender.send(url.trim().to_owned());
            }
        }
    });
    let url = receiver.recv_timeout(Duration::from_secs(30)).expect("edusync web printed its address");
    (Killed(child), url)
}

/// chromedriver on a free port, once it answers.
fn start_driver(driver: &Path) -> (Killed, u16) {
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver never listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Killed(child), port)
}

async fn browser(chromium: &Path, driver_port: u16, profile: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1200,1000", format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a browser session")
}

/// Opens a page and waits until it is drawn (every page has a header). Under
/// load Chromium has answered a navigation with an empty document; the
/// page is then asked for again, up to three times in all.
async fn visit(client: &Client, url: &str) -> Result<(), fantoccini::error::CmdError> {
    // A sign-in address works once: asked again, it is its home page that is wanted.
    let again = match url.split_once("/login?token=") {
        Some((base, _)) => format!("{base}/"),
        None => url.to_owned(),
    };
    for attempt in 0..3 {
        client.goto(if attempt == 0 { url } else { &again }).await?;
        if client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("header")).await.is_ok() {
            return Ok(());
        }
        eprintln!("{url}: the page came back undrawn (attempt {}); asking again", attempt + 1);
    }
    client.goto(&again).await
}

/// One plain HTTP/1.1 request to the web app: its status and body.
fn http(address: &str, request: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(address).expect("connects");
    stream.write_all(request.as_bytes()).expect("writes");
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    // Downloads may be binary (XLSX): their bytes are kept, read loosely.
    let answer = String::from_utf8_lossy(&bytes).into_owned();
    let status = answer.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    (status, answer)
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("write screenshot");
}

/// Sets a form field by script: `datetime-local` inputs take typed keys in
/// the browser's locale format, which differs by machine.
async fn set(client: &Client, id: &str, value: &str) {
    client
        .execute(
            "const field = document.getElementById(arguments[0]); field.value = arguments[1];",
            vec![Value::from(id), Value::from(value)],
        )
        .await
        .expect("sets the field");
}

async fn fill_incident(client: &Client, detected_at: &str) {
    set(client, "occurred_at", "2025-10-14T09:30").await;
    set(client, "detected_at", detected_at).await;
    set(client, "reported_to_school_at", "2025-10-14T10:15").await;
    for (id, value) in [("place", "schoolyard"), ("category", "physical"), ("severity", "serious"), ("status", "open")]
    {
        set(client, id, value).await;
    }
    client
        .find(Locator::Id("narrative"))
        .await
        .expect("narrative")
        .send_keys("Xô xát giờ ra chơi")
        .await
        .expect("types");
    set(client, "people_0__name", "Trần Văn Bình").await;
    set(client, "people_0__grade", "7").await;
}

/// The browser's session cookie for the web app it is signed in to last.
async fn session_cookie(client: &Client) -> fantoccini::cookies::Cookie<'static> {
    client
        .get_all_cookies()
        .await
        .expect("cookies")
        .into_iter()
        .find(|cookie| cookie.name() == "edusync_session")
        .expect("the session cookie")
}

fn incidents_stored(school_endpoint: &str) -> usize {
    stored(school_endpoint, "incident").len()
}

/// The records of a kind the node holds, as `record list --json` gives them.
fn stored(endpoint: &str, kind: &str) -> Vec<Value> {
    let listed = run(&["record", "list", "--kind", kind, "--json", "--node", endpoint]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    listed.as_array().cloned().unwrap_or_default()
}

/// Submits the page's form and waits for the page it leads to: the list
/// with its "stored" notice, or the form again with `error` shown.
async fn submit_and_wait(client: &Client, wanted: Locator<'_>) -> String {
    client.find(Locator::Css("button[type=submit]")).await.expect("button").click().await.expect("submits");
    if client.wait().at_most(Duration::from_secs(20)).for_element(wanted).await.is_err() {
        panic!("the page after submitting: {}", client.source().await.unwrap_or_default());
    }
    client.source().await.expect("source")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_records_an_incident_in_the_browser_and_its_district_counts_it() {
    let Some((chromium, driver)) = browser_tools() else { return };
    let _one_browser = ONE_BROWSER_AT_A_TIME.lock().await;
    let root = tempfile::tempdir().expect("tempdir");
    let (school_config, district_config, school, district) = running_school_and_district(root.path());
    let school_endpoint = school.endpoint();
    let (_school_web, school_url) =
        start_web(&["--config", school_config.to_str().expect("utf-8"), "--node", &school_endpoint]);
    let base = school_url.split("/login").next().expect("base").to_owned();
    let address = base.trim_start_matches("http://").to_owned();
    let (_driver, driver_port) = start_driver(&driver);
    let client = browser(&chromium, driver_port, &root.path().join("profile")).await;

    // Without a session: the sign-in page, and nothing of the node's.
    visit(&client, &format!("{base}/records")).await.expect("navigates");
    let page = client.source().await.expect("source");
    assert!(page.contains("Sign in") || page.contains("Đăng nhập"), "{page}");
    assert!(!page.contains("VN.BT.D03.S017"), "a page without a session shows data: {page}");
    let (status, _) = http(&address, &format!("GET /records HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"));
    assert_eq!(status, 401);

    // Signed in once through the printed address; the address works once.
    visit(&client, &school_url).await.expect("signs in");
    let page = client.source().await.expect("source");
    assert!(page.contains("VN.BT.D03.S017"), "{page}");
    screenshot(&client, "school-home").await;
    let (status, _) = http(
        &address,
        &format!(
            "GET /login?{} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n",
            school_url.split('?').nth(1).unwrap_or("")
        ),
    );
    assert_eq!(status, 401, "the sign-in address works once");

    // A refused field, in Vietnamese, next to the field; nothing stored.
    visit(&client, &format!("{base}/records/new?lang=vi")).await.expect("form");
    screenshot(&client, "school-incident-form").await;
    fill_incident(&client, "2025-10-13T09:00").await;
    client.find(Locator::Css("button[type=submit]")).await.expect("button").click().await.expect("submits");
    let Ok(error) = client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Id("detected_at-error")).await
    else {
        panic!("no error next to detected_at: {}", client.source().await.unwrap_or_default());
    };
    let said = error.text().await.expect("text");
    assert!(said.contains("sớm hơn"), "the reason, in Vietnamese: {said}");
    assert!(client.source().await.expect("source").contains("Chưa có gì được lưu"));
    screenshot(&client, "school-incident-refused").await;
    assert_eq!(incidents_stored(&school.endpoint()), 0, "a refused form stores nothing");

    // The same form, right: signed, stored, listed.
    visit(&client, &format!("{base}/records/new")).await.expect("form");
    fill_incident(&client, "2025-10-14T10:00").await;
    client.find(Locator::Css("button[type=submit]")).await.expect("button").click().await.expect("submits");
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("p.notice")).await.expect("stored");
    let page = client.source().await.expect("source");
    assert!(page.contains("Đã ký và lưu"), "{page}");
    assert!(page.contains("bạo lực thân thể · nghiêm trọng · mới tiếp nhận"), "the record is listed: {page}");
    screenshot(&client, "school-records").await;
    assert_eq!(incidents_stored(&school.endpoint()), 1);
    // The record's own page checks its signature in this process, from the signed bytes.
    client.find(Locator::Css("td a[href^='/records/']")).await.expect("a record link").click().await.expect("opens");
    let signature =
        client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("p.notice#signature")).await;
    let signature = signature.unwrap_or_else(|_| panic!("no verified signature: {}", "see the screenshot"));
    assert!(signature.text().await.expect("text").contains("verify_strict"));
    screenshot(&client, "school-record").await;

    // A forged form: the session cookie, a wrong CSRF token. Refused; nothing stored.
    let cookie = session_cookie(&client).await;
    assert_eq!(cookie.http_only(), Some(true));
    let body = "csrf=forged&occurred_at=2025-10-14T09%3A30&detected_at=2025-10-14T10%3A00&reported_to_school_at=2025-10-14T10%3A15&place=schoolyard&category=verbal&severity=minor&intake_channel=teacher&status=open&narrative=x";
    let forged = |cookie_header: &str| {
        http(
            &address,
            &format!(
                "POST /records/new HTTP/1.1\r\nHost: {address}\r\n{cookie_header}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    assert_eq!(forged(&format!("Cookie: edusync_session={}\r\n", cookie.value())).0, 403);
    assert_eq!(forged("").0, 401, "no session cookie");
    assert_eq!(incidents_stored(&school.endpoint()), 1, "forged forms store nothing");

    // The district counts it, on its own pages.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let output = run(&["query", "--period", "2025-2026", "--json", "--node", &district.endpoint()]);
        let table: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        if table["grand_total"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the district never counted the incident: {}", text(&output.stderr));
        std::thread::sleep(Duration::from_millis(200));
    }
    let district_endpoint = district.endpoint();
    let (_district_web, district_url) =
        start_web(&["--config", district_config.to_str().expect("utf-8"), "--node", &district_endpoint]);
    let district_base = district_url.split("/login").next().expect("base").to_owned();
    visit(&client, &district_url).await.expect("signs in at the district");
    visit(&client, &format!("{district_base}/tables?period=2025-2026&by=severity&lang=zh")).await.expect("tables");
    let page = client.source().await.expect("source");
    assert!(page.contains("VN.BT.D03.S017") && page.contains("精确值"), "{page}");
    screenshot(&client, "district-tables").await;
    // What is on screen, as CSV.
    let district_cookie = session_cookie(&client).await;
    let district_address = district_base.trim_start_matches("http://");
    let (status, csv) = http(
        district_address,
        &format!(
            "GET /tables.csv?period=2025-2026&by=severity HTTP/1.1\r\nHost: {district_address}\r\nCookie: edusync_session={}\r\nConnection: close\r\n\r\n",
            district_cookie.value()
        ),
    );
    assert_eq!(status, 200, "{csv}");
    assert!(csv.contains("text/csv") && csv.contains("VN.BT.D03.S017,0,1,0,1"), "{csv}");
    // The roll-up, checked in the web process: signatures, the sum, each proof.
    visit(&client, &format!("{district_base}/rollup?period=2025-2026&lang=en")).await.expect("roll-up");
    let verdict = client.find(Locator::Id("verdict")).await.expect("a verdict").text().await.expect("text");
    assert!(verdict.starts_with("Checked here"), "{verdict}");
    let rows = client.find(Locator::Id("rollup")).await.expect("the table").text().await.expect("text");
    assert!(rows.contains("VN.BT.D03.S017 ") && rows.contains("verified"), "{rows}");
    screenshot(&client, "district-rollup").await;
    visit(&client, &format!("{district_base}/compliance?school_year=2025-2026&lang=zh")).await.expect("compliance");
    let page = client.source().await.expect("source");
    assert!(page.contains("未提交学年报告"), "alerts in the page's language: {page}");
    screenshot(&client, "district-compliance").await;
    let (status, heat_map) = http(
        district_address,
        &format!(
            "GET /compliance.csv?school_year=2025-2026 HTTP/1.1\r\nHost: {district_address}\r\nCookie: edusync_session={}\r\nConnection: close\r\n\r\n",
            district_cookie.value()
        ),
    );
    assert_eq!(status, 200, "{heat_map}");
    assert!(heat_map.lines().any(|line| line.starts_with("VN.BT.D03.S017,未提交")), "{heat_map}");

    // The district sets its schools a deadline through the policy form.
    visit(&client, &format!("{district_base}/records/new/policy?lang=en")).await.expect("policy form");
    set(&client, "number", "12/QĐ-PGDĐT").await;
    set(&client, "school_year", "2025-2026").await;
    set(&client, "issued_on", "2025-09-01").await;
    set(&client, "deadlines_0__report", "staff_commitments").await;
    set(&client, "deadlines_0__level", "school").await;
    set(&client, "deadlines_0__due_on", "2025-10-15").await;
    // The form's first choice, a semester-1 report, under the name JSON and the form share.
    set(&client, "deadlines_1__report", "semester_1_report").await;
    set(&client, "deadlines_1__level", "school").await;
    set(&client, "deadlines_1__due_on", "2026-01-20").await;
    screenshot(&client, "district-policy-form").await;
    submit_and_wait(&client, Locator::Css("p.notice")).await;
    let policies = stored(&district_endpoint, "policy");
    assert_eq!(policies.len(), 1, "{policies:?}");
    assert_eq!(policies[0]["record"]["record"]["deadlines"][0]["due_on"], "2025-10-15", "{:?}", policies[0]);
    assert_eq!(policies[0]["record"]["record"]["deadlines"][1]["report"], "semester_1_report", "{:?}", policies[0]);
    assert!(policies[0]["record"]["record"].get("incident_timeliness").is_none(), "{:?}", policies[0]);

    // An auditor's page: the district's bundle, checked against the root's key.
    let bundle = root.path().join("district-bundle.json");
    let exported = run(&[
        "audit",
        "export",
        "--org",
        "VN.BT.D03",
        "--period",
        "2025-2026",
        "--out",
        bundle.to_str().expect("utf-8"),
        "--node",
        &district_endpoint,
    ]);
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    visit(&client, &format!("{district_base}/audit?lang=en")).await.expect("audit page");
    client
        .find(Locator::Id("bundle"))
        .await
        .expect("file input")
        .send_keys(bundle.to_str().expect("utf-8"))
        .await
        .expect("chooses the file");
    let root_key = crate::harness::root_key().public_key().to_base64();
    client.find(Locator::Id("anchors")).await.expect("anchors").send_keys(&root_key).await.expect("types");
    client.find(Locator::Css("button[type=submit]")).await.expect("button").click().await.expect("verifies");
    let verdict =
        client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Id("verdict")).await.expect("a verdict");
    assert_eq!(
        verdict.text().await.expect("text"),
        "Every check passed.",
        "{}",
        client.source().await.unwrap_or_default()
    );
    screenshot(&client, "auditor-verdict").await;

    // A new school asks to be enrolled; the district's operator approves it with a button.
    let (newcomer_config, _) = crate::harness::prepare(
        &root.path().join("s018"),
        &crate::harness::NodeSpec {
            org: "VN.BT.D03.S018",
            level: "school",
            port: 0,
            parent: Some(("VN.BT.D03", district.address.port())),
            batch_size: 64,
            compression: "zstd",
        },
    );
    let _newcomer = crate::harness::NodeProcess::start(&newcomer_config);
    let pending = || {
        let listed = run(&["enroll", "pending", "--node", &district_endpoint]);
        text(&listed.stdout).contains("VN.BT.D03.S018")
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pending() {
        assert!(Instant::now() < deadline, "the new school's request never reached the district");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    visit(&client, &format!("{district_base}/enrolments")).await.expect("enrolments");
    screenshot(&client, "district-enrolments").await;
    client
        .find(Locator::Css("button[aria-label='Approve VN.BT.D03.S018']"))
        .await
        .expect("an approve button for the new school")
        .click()
        .await
        .expect("approves");
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("p.notice")).await.expect("approved");
    assert!(!pending(), "the approved request is no longer pending");
    client.close().await.expect("closes the browser");
}

/// The README's promise for a newcomer: `edusync demo --web` keeps a whole
/// hierarchy running and prints addresses; a school records an incident in
/// Vietnamese, and the province's data officer sees its district's case
/// counted, released with margins, while the ministry's operator sees it exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_records_an_incident_in_the_demo_and_the_provinces_officer_sees_it_released() {
    let Some((chromium, driver)) = browser_tools() else { return };
    let _one_browser = ONE_BROWSER_AT_A_TIME.lock().await;
    let root = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(edusync_bin())
        .args(["--language", "vi", "demo", "--web", "--schools", "1", "--districts", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the demo starts");
    let stdout = child.stdout.take().expect("piped");
    let _demo = Killed(child);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((label, url)) = line.trim().split_once("http://") {
                let _ = sender.send((label.trim().to_owned(), format!("http://{}", url.trim())));
            }
        }
    });
    let mut urls = std::collections::BTreeMap::new();
    while urls.len() < 3 {
        let (label, url) = receiver.recv_timeout(Duration::from_secs(120)).expect("the demo printed three addresses");
        urls.insert(label, url);
    }
    let url_of = |wanted: &str| {
        urls.iter().find(|(label, _)| label.starts_with(wanted)).map(|(_, url)| url.clone()).expect(wanted)
    };
    let school_url = urls
        .iter()
        .find(|(label, _)| label.starts_with("operator of") && label.matches('.').count() == 3)
        .map(|(_, url)| url.clone())
        .expect("a school's address");
    let (_driver, driver_port) = start_driver(&driver);
    let client = browser(&chromium, driver_port, &root.path().join("profile")).await;

    // The school, in Vietnamese: an incident of an hour ago.
    visit(&client, &school_url).await.expect("signs in");
    let base = school_url.split("/login").next().expect("base").to_owned();
    visit(&client, &format!("{base}/records/new")).await.expect("form");
    let form = client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Id("occurred_at")).await;
    let page = client.source().await.expect("source");
    assert!(form.is_ok() && page.contains("Ghi nhận vụ việc"), "the form, in Vietnamese: {page}");
    let hour_ago = (chrono::Utc::now() - chrono::TimeDelta::hours(1))
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).expect("offset"))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    for id in ["occurred_at", "detected_at", "reported_to_school_at"] {
        set(&client, id, &hour_ago).await;
    }
    client
        .find(Locator::Id("narrative"))
        .await
        .expect("narrative")
        .send_keys("Bắt nạt trên mạng")
        .await
        .expect("types");
    client.find(Locator::Css("button[type=submit]")).await.expect("button").click().await.expect("submits");
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("p.notice")).await.expect("stored");

    // The province's data officer: the district's one case, its breakdown with margins.
    let school_year = edusync_core::SchoolYear::containing(chrono::Utc::now().date_naive()).expect("a school year");
    let officer = url_of("data officer of");
    let officer_base = officer.split("/login").next().expect("base").to_owned();
    visit(&client, &officer).await.expect("signs in");
    let deadline = Instant::now() + Duration::from_secs(90);
    let page = loop {
        visit(&client, &format!("{officer_base}/tables?period={school_year}&by=category")).await.expect("tables");
        let page = client.source().await.expect("source");
        if page.contains("±") {
            break page;
        }
        assert!(Instant::now() < deadline, "the province never counted the incident: {page}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(page.contains("VN.BT.D01") && page.contains("quyền riêng tư vi phân"), "{page}");
    screenshot(&client, "demo-province-officer-tables").await;
    // Its downloads carry what the page shows, margins beside values; its
    // trend is drawn from the same release; forms are not offered to it.
    let officer_cookie = session_cookie(&client).await;
    let officer_address = officer_base.trim_start_matches("http://").to_owned();
    let fetch = |path: &str| {
        http(
            &officer_address,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: {officer_address}\r\nCookie: edusync_session={}\r\nConnection: close\r\n\r\n",
                officer_cookie.value()
            ),
        )
    };
    let (status, csv) = fetch(&format!("/tables.csv?period={school_year}&by=category"));
    assert_eq!(status, 200, "{csv}");
    let district_row = csv.lines().find(|line| line.starts_with("VN.BT.D01,")).expect("the district's row");
    let mut page_cells = Vec::new();
    for cell in client.find_all(Locator::Css("tr[id='VN.BT.D01'] td")).await.expect("its row") {
        page_cells.push(cell.text().await.expect("text"));
    }
    // The unit by the name the province's config gives it, with its id.
    assert!(page_cells[0].starts_with("Phòng GD&ĐT") && page_cells[0].contains("VN.BT.D01"), "{page_cells:?}");
    let page_text = page_cells.join(" ");
    let page_values: Vec<String> = page_cells[1..].iter().map(|cell| cell.replace('±', " ")).collect();
    let csv_values: Vec<&str> = district_row.split(',').skip(1).collect();
    assert_eq!(
        page_values.join(" ").split_whitespace().collect::<Vec<_>>(),
        csv_values,
        "{page_text} / {district_row}"
    );
    let (status, xlsx) = fetch(&format!("/tables.xlsx?period={school_year}&by=category"));
    assert_eq!(status, 200);
    assert!(xlsx.contains("spreadsheetml") && xlsx.contains("PK"), "an XLSX workbook");
    assert_eq!(fetch("/records/new/plan").0, 403, "a reader is not offered forms");
    visit(&client, &format!("{officer_base}/trends?school_year={school_year}&by=severity")).await.expect("trends");
    let page = client.source().await.expect("source");
    assert!(page.contains("<svg") && page.contains("/S1") && page.contains("±"), "{page}");
    screenshot(&client, "demo-province-officer-trends").await;
    // A province's reader sees its districts, never a school: no school's id
    // in any page's bytes or any download.
    let (_, trend_csv) = fetch(&format!("/trends.csv?school_year={school_year}&by=severity"));
    assert!(trend_csv.contains("/S1,"), "{trend_csv}");
    let mut seen = vec![page, csv, xlsx, trend_csv];
    for path in ["/", "/compliance", &format!("/tables?period={school_year}&by=place"), "/compliance.csv"] {
        seen.push(fetch(path).1);
    }
    for bytes in &seen {
        assert!(!bytes.contains("VN.BT.D01.S"), "a school's id reached the province's reader: {bytes}");
    }

    // The ministry's operator sees it exact.
    let ministry = urls.get("operator of VN").cloned().expect("the ministry's address");
    let ministry_base = ministry.split("/login").next().expect("base").to_owned();
    visit(&client, &ministry).await.expect("signs in");
    // The province's aggregate reaches the ministry at its next sync round.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        visit(&client, &format!("{ministry_base}/tables?period={school_year}&by=severity")).await.expect("tables");
        let page = client.source().await.expect("source");
        // The province by the name the ministry's config gives it, with its id.
        if page.contains("Chính xác") && page.contains("Sở GD&amp;ĐT Bến Tre <small>(VN.BT)</small>") {
            break;
        }
        assert!(Instant::now() < deadline, "the ministry never counted the incident: {page}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    screenshot(&client, "demo-ministry-tables").await;
    client.close().await.expect("closes the browser");
}

/// Every kind a school keeps has a form; a refused count is shown next to
/// itself in Vietnamese with nothing stored; rows of a repeated part may be
/// left empty; a spreadsheet with one bad row stores nothing and names the
/// row, column, value and reason; the same file, fixed, stores every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_puts_every_kind_on_file_through_forms_and_a_bad_spreadsheet_stores_nothing() {
    let Some((chromium, driver)) = browser_tools() else { return };
    let _one_browser = ONE_BROWSER_AT_A_TIME.lock().await;
    let root = tempfile::tempdir().expect("tempdir");
    let (school_config, _district_config, school, _district) = running_school_and_district(root.path());
    let endpoint = school.endpoint();
    let (_web, url) = start_web(&["--config", school_config.to_str().expect("utf-8"), "--node", &endpoint]);
    let base = url.split("/login").next().expect("base").to_owned();
    let (_driver, driver_port) = start_driver(&driver);
    let client = browser(&chromium, driver_port, &root.path().join("profile")).await;
    visit(&client, &url).await.expect("signs in");

    // Commitments, in Vietnamese: a negative count is refused at its field.
    visit(&client, &format!("{base}/records/new/commitment?lang=vi")).await.expect("form");
    set(&client, "count", "-3").await;
    set(&client, "school_year", "2025-2026").await;
    set(&client, "signed_on", "2025-09-20").await;
    let page = submit_and_wait(&client, Locator::Id("count-error")).await;
    assert!(page.contains("là số âm"), "the reason, in Vietnamese, at the count: {page}");
    screenshot(&client, "school-commitment-refused").await;
    assert!(stored(&endpoint, "commitment").is_empty(), "a refused form stores nothing");
    set(&client, "count", "42").await;
    submit_and_wait(&client, Locator::Css("p.notice")).await;
    let commitments = stored(&endpoint, "commitment");
    assert_eq!(commitments.len(), 1);
    assert_eq!(commitments[0]["record"]["record"]["count"], 42, "{:?}", commitments[0]);

    // A plan whose only activity is typed in the second row.
    visit(&client, &format!("{base}/records/new/plan")).await.expect("form");
    set(&client, "number", "05/KH-THCS").await;
    set(&client, "title", "Kế hoạch phòng, chống bạo lực học đường").await;
    set(&client, "school_year", "2025-2026").await;
    set(&client, "issued_on", "2025-09-05").await;
    set(&client, "goals", "Không có vụ bạo lực nào\nMọi giáo viên được tập huấn").await;
    set(&client, "activities_1__item", "1").await;
    set(&client, "activities_1__content", "Tập huấn giáo viên").await;
    set(&client, "activities_1__lead_unit", "Ban giám hiệu").await;
    set(&client, "activities_1__coordinating_units", "Đoàn thanh niên, Công đoàn").await;
    set(&client, "activities_1__time_frame", "Tháng 10").await;
    screenshot(&client, "school-plan-form").await;
    submit_and_wait(&client, Locator::Css("p.notice")).await;
    let plans = stored(&endpoint, "plan");
    assert_eq!(plans.len(), 1);
    let plan = &plans[0]["record"]["record"];
    assert_eq!(plan["activities"][0]["content"], "Tập huấn giáo viên", "{plan}");
    assert_eq!(plan["activities"][0]["coordinating_units"][1], "Công đoàn", "{plan}");
    assert_eq!(plan["goals"].as_array().map(Vec::len), Some(2), "{plan}");

    // A risk register: counts by group and one named student (who stays here).
    visit(&client, &format!("{base}/records/new/risk_register")).await.expect("form");
    set(&client, "period", "2025-2026/S1").await;
    set(&client, "screened_on", "2025-10-01").await;
    set(&client, "counts_0__count", "1").await;
    set(&client, "students_0__name", "Lê Thị Hoa").await;
    set(&client, "students_0__grade", "6").await;
    submit_and_wait(&client, Locator::Css("p.notice")).await;
    assert_eq!(stored(&endpoint, "risk_register").len(), 1);

    // A periodic report, its channels ticked.
    visit(&client, &format!("{base}/records/new/periodic_report")).await.expect("form");
    set(&client, "period", "2025-2026/S1").await;
    set(&client, "submitted_on", "2026-01-10").await;
    for (id, value) in [
        ("awareness_sessions", "2"),
        ("staff_total", "40"),
        ("staff_informed", "40"),
        ("staff_trained", "30"),
        ("commitments_signed", "40"),
        ("psychological_screenings", "120"),
        ("home_visits", "8"),
        ("parent_meetings", "2"),
    ] {
        set(&client, id, value).await;
    }
    client.find(Locator::Id("channels_set_up-hotline")).await.expect("a channel box").click().await.expect("ticks");
    screenshot(&client, "school-periodic-report-form").await;
    submit_and_wait(&client, Locator::Css("p.notice")).await;
    let reports = stored(&endpoint, "periodic_report");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["record"]["record"]["channels_set_up"], json!(["hotline"]), "{:?}", reports[0]);

    // A spreadsheet of commitments with one bad row: listed, nothing stored.
    let header = "Loại cam kết,Người ký,Số chữ ký,Ngày ký,Năm học";
    let bad = format!(
        "{header}\nstaff_pledge,teacher,30,2025-09-21,2025-2026\nparent_student_school,parent,-3,2025-09-21,2025-2026\n"
    );
    let sheet = root.path().join("cam-ket.csv");
    std::fs::write(&sheet, &bad).expect("writes the sheet");
    visit(&client, &format!("{base}/records/upload")).await.expect("upload page");
    set(&client, "kind", "commitment").await;
    client
        .find(Locator::Id("sheet"))
        .await
        .expect("file input")
        .send_keys(sheet.to_str().expect("utf-8"))
        .await
        .expect("chooses");
    let page = submit_and_wait(&client, Locator::Id("problems")).await;
    let problems = client.find(Locator::Id("problems")).await.expect("the table").text().await.expect("text");
    assert!(problems.contains("3") && problems.contains("Số chữ ký") && problems.contains("-3"), "{problems}");
    assert!(problems.contains("là số âm"), "the reason, in Vietnamese: {problems}");
    assert!(page.contains("Chưa có gì được lưu"), "{page}");
    screenshot(&client, "school-upload-refused").await;
    assert_eq!(stored(&endpoint, "commitment").len(), 1, "a sheet with a bad row stores nothing");

    // Fixed: both rows stored.
    std::fs::write(&sheet, bad.replace(",-3,", ",25,")).expect("writes the sheet");
    visit(&client, &format!("{base}/records/upload")).await.expect("upload page");
    set(&client, "kind", "commitment").await;
    client
        .find(Locator::Id("sheet"))
        .await
        .expect("file input")
        .send_keys(sheet.to_str().expect("utf-8"))
        .await
        .expect("chooses");
    submit_and_wait(&client, Locator::Id("imported")).await;
    assert_eq!(stored(&endpoint, "commitment").len(), 3);
    screenshot(&client, "school-upload-stored").await;

    // The list, searched by kind.
    visit(&client, &format!("{base}/records?kind=commitment")).await.expect("list");
    let listed = client.find(Locator::Id("records")).await.expect("a list").text().await.expect("text");
    assert_eq!(listed.matches("2025-2026").count(), 3, "{listed}");
    screenshot(&client, "school-records-by-kind").await;

    // On a phone-sized screen the forms fit the width: nothing to scroll sideways.
    client.set_window_size(390, 844).await.expect("a phone-sized window");
    for page in ["/records/new", "/records/new/periodic_report", "/records/upload", "/"] {
        visit(&client, &format!("{base}{page}")).await.expect("page");
        let widths = client
            .execute("return [document.documentElement.scrollWidth, window.innerWidth];", vec![])
            .await
            .expect("widths");
        let (scroll, inner) = (widths[0].as_u64().unwrap_or(0), widths[1].as_u64().unwrap_or(0));
        assert!(scroll <= inner, "{page} is {scroll} px wide in a {inner} px window");
    }
    screenshot(&client, "school-home-phone").await;
    client.close().await.expect("closes the browser");
}

/// Beyond loopback the web app serves HTTPS only: without TLS files it
/// refuses to start and says which flags it needs; with them a client that
/// trusts only the given CA signs in, and the session cookie is Secure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_serves_a_lan_only_over_https() {
    let root = tempfile::tempdir().expect("tempdir");
    let (school_config, _district_config, school, _district) = running_school_and_district(root.path());
    let endpoint = school.endpoint();
    let config = school_config.to_str().expect("utf-8");
    let refused = run(&["web", "--config", config, "--node", &endpoint, "--listen", "0.0.0.0:0"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("--tls-certificate"), "{}", text(&refused.stderr));

    let tls = root.path().join("web-tls");
    let generated = run(&["tls", "generate", "--out-dir", tls.to_str().expect("utf-8")]);
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    let (certificate, key) = (tls.join("server.crt"), tls.join("server.key"));
    let (_web, url) = start_web(&[
        "--config",
        config,
        "--node",
        &endpoint,
        "--listen",
        "0.0.0.0:0",
        "--tls-certificate",
        certificate.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
    ]);
    assert!(url.starts_with("https://"), "{url}");
    let port = url.split(':').nth(2).and_then(|rest| rest.split('/').next()).expect("a port").to_owned();
    let path = format!("/login?{}", url.split('?').nth(1).expect("a token"));

    // Plain HTTP to the HTTPS port gets no page.
    let (status, _) = http(&format!("127.0.0.1:{port}"), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 0, "plain HTTP is not served beside HTTPS");

    // A client trusting only the generated CA.
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls::pki_types::CertificateDer::from_pem_file(tls.join("ca.crt")).expect("the CA");
    roots.add(ca).expect("a root");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client_config));
    let tcp = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.expect("connects");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    let mut stream = connector.connect(name, tcp).await.expect("the handshake checks out against the CA");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("writes");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    let cookie = answer.lines().find(|line| line.to_ascii_lowercase().starts_with("set-cookie:")).expect("a cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Secure"), "{cookie}");
}
