//! An auditor verifies one record with Python's `cryptography` and with
//! openssl, from the bytes and the documented layout alone.

use std::process::Command;

use base64::Engine;
use serde_json::Value;

use crate::cli::incident_json;
use crate::harness::{run, start_lone_node, text};

#[test]
fn a_record_verifies_with_python_cryptography_and_openssl_and_a_changed_byte_does_not() {
    let root = tempfile::tempdir().expect("tempdir");
    let (node, public_key) = start_lone_node(&root.path().join("school"), "VN.BT.D03.S017", "school");
    let endpoint = node.endpoint();
    let input = root.path().join("incident.json");
    std::fs::write(&input, incident_json().to_string()).expect("write");
    let added =
        run(&["record", "add", "incident", "--file", input.to_str().expect("utf-8"), "--node", &endpoint, "--json"]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    let added: Value = serde_json::from_slice(&added.stdout).expect("JSON");
    let id = added["header"]["record_id"].as_str().expect("record id").to_owned();

    let shown = run(&["record", "show", &id, "--node", &endpoint, "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    let envelope = base64::engine::general_purpose::STANDARD
        .decode(shown["envelope"].as_str().expect("envelope field"))
        .expect("base64");
    let envelope_path = root.path().join("envelope.bin");
    std::fs::write(&envelope_path, &envelope).expect("write");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/verify_envelope.py");
    let verified = Command::new("python3")
        .args([script, envelope_path.to_str().expect("utf-8"), "--key", &public_key, "--openssl-dir"])
        .arg(root.path())
        .output()
        .expect("python3 runs");
    let report = text(&verified.stdout);
    assert!(verified.status.success(), "python: {report}{}", text(&verified.stderr));
    assert!(report.contains(&format!("record_id    {id}")), "the record id is the SHA-256 of the bytes: {report}");
    assert!(report.contains("author_org   VN.BT.D03.S017") && report.contains("seq          1"), "{report}");

    let openssl = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-rawin"])
        .arg("-inkey")
        .arg(root.path().join("author.pem"))
        .arg("-in")
        .arg(root.path().join("signed.bin"))
        .arg("-sigfile")
        .arg(root.path().join("signature.bin"))
        .output()
        .expect("openssl runs");
    assert!(openssl.status.success(), "openssl: {}{}", text(&openssl.stdout), text(&openssl.stderr));

    // The node's own public key file is what the auditor is handed.
    let pem = std::fs::read_to_string(root.path().join("school/data/node.pub.pem")).expect("pem written");
    assert_eq!(pem, std::fs::read_to_string(root.path().join("author.pem")).expect("pem"));

    for position in [10, envelope.len() / 2, envelope.len() - 1] {
        let mut tampered = envelope.clone();
        tampered[position] ^= 0x01;
        std::fs::write(&envelope_path, &tampered).expect("write");
        let refused =
            Command::new("python3").args([script, envelope_path.to_str().expect("utf-8")]).output().expect("runs");
        assert!(!refused.status.success(), "a changed byte at {position} still verified");
    }
    drop(node);
}

/// A district (`VN.BT.D03`) and its school (`VN.BT.D03.S017`) running in
/// `root`, the school having reported two physical incidents in October 2024.
/// A data officer of `scope`: a key, a request to `issuer`, and the certificate
/// that `sign` (a command, given `--request` and `--out`) makes of it. Returns
/// the key's and the certificate's paths.
fn data_officer(dir: &std::path::Path, name: &str, scope: &str, issuer: &str, sign: &[&str]) -> (String, String) {
    let file = |suffix: &str| dir.join(format!("{name}.{suffix}")).to_str().expect("utf-8").to_owned();
    let (key, request, certificate) = (file("key"), file("req"), file("cert"));
    let mut signing: Vec<&str> = sign.to_vec();
    signing.extend(["--request", &request, "--out", &certificate]);
    for step in [
        vec!["keys", "generate", "--out", &key],
        vec![
            "enroll",
            "request",
            "--key",
            &key,
            "--org",
            scope,
            "--role",
            "data-officer",
            "--parent",
            issuer,
            "--out",
            &request,
        ],
        signing,
    ] {
        let done = run(&step);
        assert!(done.status.success(), "{step:?}: {}", text(&done.stderr));
    }
    (key, certificate)
}

fn district_with_two_incidents(
    root: &std::path::Path,
) -> (crate::harness::NodeProcess, std::path::PathBuf, crate::harness::NodeProcess) {
    let (_school_config, district_config, school, district) = crate::harness::running_school_and_district(root);
    for number in 0..2 {
        let mut incident = incident_json();
        incident["narrative"] = Value::from(format!("Xô xát lần {number}"));
        let input = root.join(format!("incident-{number}.json"));
        std::fs::write(&input, incident.to_string()).expect("write");
        let added =
            run(&["record", "add", "incident", "--file", input.to_str().expect("utf-8"), "--node", &school.endpoint()]);
        assert!(added.status.success(), "{}", text(&added.stderr));
    }
    (district, district_config, school)
}

/// The district's bundle: exported over gRPC by the command line, verified
/// offline with the root key file alone, equal to the totals the node reports;
/// a changed digit, a stranger's root key and an existing output file fail.
#[test]
fn an_exported_audit_bundle_verifies_offline_matches_the_nodes_totals_and_a_changed_digit_fails() {
    use crate::harness::root_key;

    let root = tempfile::tempdir().expect("tempdir");
    let (district, _district_config, school) = district_with_two_incidents(root.path());
    let rollup = || {
        let output = run(&["rollup", "--period", "2024-2025", "--node", &district.endpoint(), "--json"]);
        serde_json::from_slice::<Value>(&output.stdout).ok()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let reported = loop {
        match rollup() {
            Some(report) if report["incident_cases"] == 2 => break report,
            _ if std::time::Instant::now() > deadline => panic!("the district never summed the school's two incidents"),
            _ => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    };

    let bundle_path = root.path().join("VN.BT.D03-2024-2025.audit.json");
    let bundle = bundle_path.to_str().expect("utf-8");
    let export = ["audit", "export", "--org", "VN.BT.D03", "--period", "2024-2025", "--out", bundle];
    let exported = run(&[&export[..], &["--node", &district.endpoint()]].concat());
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let again = run(&[&export[..], &["--node", &district.endpoint()]].concat());
    assert_eq!(again.status.code(), Some(2), "an existing file is never overwritten: {}", text(&again.stderr));
    let elsewhere = run(&[
        "audit",
        "export",
        "--org",
        "VN.BT.D03.S017",
        "--period",
        "2024-2025",
        "--out",
        &format!("{bundle}.2"),
        "--node",
        &district.endpoint(),
    ]);
    assert!(!elsewhere.status.success() && text(&elsewhere.stderr).contains("org_id"), "{}", text(&elsewhere.stderr));

    let anchor = root.path().join("root.pub");
    std::fs::write(&anchor, root_key().public_key().to_base64()).expect("write");
    let anchor = anchor.to_str().expect("utf-8");
    let verified = run(&["audit", "verify", bundle, "--anchor", anchor]);
    let lines = text(&verified.stdout);
    assert!(verified.status.success(), "{lines}{}", text(&verified.stderr));
    assert!(lines.lines().last().is_some_and(|line| line.starts_with("VERIFIED")), "{lines}");
    assert!(lines.lines().filter(|line| line.starts_with("ok")).count() >= 10, "{lines}");

    // The same bundle, checked from the documented formats alone by Python's `cryptography`.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/verify_audit_bundle.py");
    let root_base64 = root_key().public_key().to_base64();
    let python =
        Command::new("python3").args([script, bundle, "--anchor", &root_base64]).output().expect("python3 runs");
    assert!(python.status.success(), "python: {}{}", text(&python.stdout), text(&python.stderr));
    assert!(text(&python.stdout).contains("merkle root"), "{}", text(&python.stdout));

    let contents: Value = serde_json::from_slice(&std::fs::read(&bundle_path).expect("read")).expect("JSON");
    assert_eq!(contents["aggregate"]["incident_cases"], reported["incident_cases"]);
    assert_eq!(contents["aggregate"]["record_id"], reported["aggregate_record_id"]);
    assert_eq!(contents["children"][0]["aggregate"]["record_id"], reported["children"][0]["aggregate_record_id"]);

    // The school's stated incident count, 2, becomes 3.
    let original = std::fs::read_to_string(&bundle_path).expect("read");
    let child = contents["children"][0]["aggregate"]["record_id"].as_str().expect("id");
    let tampered_text = original.replacen("\"incident_cases\": 2,", "\"incident_cases\": 3,", 2).replacen(
        "\"incident_cases\": 3,",
        "\"incident_cases\": 2,",
        1,
    );
    assert_ne!(tampered_text, original);
    let tampered = root.path().join("tampered.json");
    std::fs::write(&tampered, tampered_text).expect("write");
    let refused = run(&["audit", "verify", tampered.to_str().expect("utf-8"), "--anchor", anchor]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));
    let failures: Vec<String> =
        text(&refused.stdout).lines().filter(|line| line.starts_with("FAIL")).map(str::to_owned).collect();
    assert!(
        failures.iter().any(|line| line.contains(&child[..12])
            && line.contains("stated figures")
            && line.contains("incident_cases")),
        "{failures:?}"
    );
    assert!(text(&refused.stderr).contains("NOT VERIFIED"), "{}", text(&refused.stderr));

    let stranger = root.path().join("stranger.pub");
    std::fs::write(&stranger, edusync_envelope::NodeKey::generate().public_key().to_base64()).expect("write");
    let refused = run(&["audit", "verify", bundle, "--anchor", stranger.to_str().expect("utf-8")]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));

    // The school's own bundle, verified together with the district's: the
    // record the district summed is the one the school's bundle proves.
    let school_bundle = root.path().join("VN.BT.D03.S017-2024-2025.audit.json");
    let school_bundle = school_bundle.to_str().expect("utf-8");
    let exported = run(&[
        "audit",
        "export",
        "--org",
        "VN.BT.D03.S017",
        "--period",
        "2024-2025",
        "--out",
        school_bundle,
        "--node",
        &school.endpoint(),
    ]);
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let together = run(&["audit", "verify", bundle, school_bundle, "--anchor", anchor]);
    assert!(together.status.success(), "{}{}", text(&together.stdout), text(&together.stderr));
    assert!(text(&together.stdout).contains("VERIFIED: 2 bundles and 1 links"), "{}", text(&together.stdout));

    // A signed root document pins the root's keys and threshold. The test's
    // hierarchy is certified by one root key: with that key and two others
    // at threshold 1 it verifies and says so; at threshold 2 the same bundle
    // fails, where `--anchor` with the one key would have said "1 of 1".
    let root_private = root.path().join("root.key");
    std::fs::write(&root_private, root_key().to_pkcs8_pem()).expect("write");
    let mut publics = vec![anchor.to_owned()];
    for name in ["root-b.key", "root-c.key"] {
        let key = root.path().join(name);
        let generated = run(&["keys", "generate", "--out", key.to_str().expect("utf-8")]);
        assert!(generated.status.success(), "{}", text(&generated.stderr));
        publics.push(key.with_extension("pub").to_str().expect("utf-8").to_owned());
    }
    let root_document = |threshold: &str, signers: &[&str], name: &str| {
        let out = root.path().join(name);
        let mut args = vec!["keys", "root", "--org", "VN", "--threshold", threshold, "--expires", "2099-01-01"];
        for public in &publics {
            args.extend(["--public", public.as_str()]);
        }
        for signer in signers {
            args.extend(["--sign", *signer]);
        }
        args.extend(["--out", out.to_str().expect("utf-8")]);
        (run(&args), out)
    };
    let b_key = root.path().join("root-b.key");
    let (b, c) = (b_key.to_str().expect("utf-8"), root.path().join("root-c.key"));
    let (made, one_of_three) = root_document("1", &[root_private.to_str().expect("utf-8")], "root-1of3.txt");
    assert!(made.status.success(), "{}", text(&made.stderr));
    let pinned = text(&made.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("sha256 (for auditors to pin): "))
        .map(str::to_owned);
    let pinned = pinned.expect("the hash to pin is printed");
    let one_of_three = one_of_three.to_str().expect("utf-8");
    let verified = run(&["audit", "verify", bundle, "--root", one_of_three, "--root-sha256", &pinned]);
    assert!(verified.status.success(), "{}{}", text(&verified.stdout), text(&verified.stderr));
    assert!(text(&verified.stdout).contains("1 of its 3 keys required"), "{}", text(&verified.stdout));
    let wrong_pin = run(&["audit", "verify", bundle, "--root", one_of_three, "--root-sha256", &"0".repeat(64)]);
    assert_eq!(wrong_pin.status.code(), Some(2), "{}", text(&wrong_pin.stderr));

    let (made, two_of_three) = root_document("2", &[root_private.to_str().expect("utf-8"), b], "root-2of3.txt");
    assert!(made.status.success(), "{}", text(&made.stderr));
    let refused = run(&["audit", "verify", bundle, "--root", two_of_three.to_str().expect("utf-8")]);
    assert_eq!(refused.status.code(), Some(1), "one root key's certificate is not 2 of 3: {}", text(&refused.stdout));
    let (short, _) = root_document("2", &[c.to_str().expect("utf-8")], "root-short.txt");
    assert_eq!(short.status.code(), Some(2), "fewer signers than the threshold: {}", text(&short.stderr));

    // A changed byte inside the school's signed envelope: both verifiers refuse it.
    let mut forged = contents.clone();
    let engine = base64::engine::general_purpose::STANDARD;
    let mut envelope =
        engine.decode(forged["children"][0]["aggregate"]["envelope"].as_str().expect("envelope")).expect("base64");
    let middle = envelope.len() / 2;
    envelope[middle] ^= 0x01;
    forged["children"][0]["aggregate"]["envelope"] = Value::from(engine.encode(envelope));
    let forged_path = root.path().join("forged.json");
    std::fs::write(&forged_path, serde_json::to_vec_pretty(&forged).expect("JSON")).expect("write");
    let forged = forged_path.to_str().expect("utf-8");
    let refused = run(&["audit", "verify", forged, "--anchor", anchor]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));
    assert!(
        text(&refused.stdout)
            .lines()
            .any(|line| line.starts_with("FAIL") && line.contains(&child[..12]) && line.contains("signature")),
        "{}",
        text(&refused.stdout)
    );
    let python =
        Command::new("python3").args([script, forged, "--anchor", &root_base64]).output().expect("python3 runs");
    assert_eq!(python.status.code(), Some(1), "python: {}", text(&python.stdout));
}

/// A district's compliance table and alerts, from what its school signed:
/// two incidents in the first semester, no school-year report by 1 August.
#[test]
fn a_district_sees_its_schools_compliance_and_alerts_in_the_table_and_in_status() {
    let root = tempfile::tempdir().expect("tempdir");
    let (district, district_config, _school) = district_with_two_incidents(root.path());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let compliance = loop {
        let output = run(&["compliance", "--school-year", "2024-2025", "--node", &district.endpoint(), "--json"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let document: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        if document["children"][0]["cases_semester1"] == 2 {
            break document;
        }
        assert!(std::time::Instant::now() < deadline, "the district never counted the school's incidents: {document}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let school_row = &compliance["children"][0];
    assert_eq!(school_row["org_id"], "VN.BT.D03.S017");
    assert_eq!(school_row["school_year_report"]["status"], "missing", "{compliance}");
    assert_eq!(school_row["school_year_report"]["due_on"], "2025-08-01");
    let codes: Vec<&str> =
        compliance["alerts"].as_array().expect("alerts").iter().filter_map(|alert| alert["code"].as_str()).collect();
    for expected in ["report_missing", "repeated_incidents"] {
        assert!(codes.contains(&expected), "{codes:?}");
    }

    // Alerts read in the user's language, from the values the node sent.
    let in_chinese =
        run(&["compliance", "--school-year", "2024-2025", "--node", &district.endpoint(), "--language", "zh"]);
    assert!(
        text(&in_chinese.stdout).contains("VN.BT.D03.S017：未提交学年报告（截止 2025-08-01）"),
        "{}",
        text(&in_chinese.stdout)
    );
    let in_vietnamese =
        run(&["compliance", "--school-year", "2024-2025", "--node", &district.endpoint(), "--language", "vi"]);
    assert!(
        text(&in_vietnamese.stdout).contains("VN.BT.D03.S017: chưa nộp báo cáo năm học (hạn 2025-08-01)"),
        "{}",
        text(&in_vietnamese.stdout)
    );

    let status = run(&["status", "--node", &district.endpoint()]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let shown = text(&status.stdout);
    assert!(shown.contains("Alerts about the units below"), "{shown}");

    // The same, as a report: one HTML file in Vietnamese, CSV and JSON.
    let page = root.path().join("bao-cao.html");
    let report = run(&[
        "report",
        "--period",
        "2024-2025",
        "--format",
        "html",
        "--out",
        page.to_str().expect("utf-8"),
        "--node",
        &district.endpoint(),
        "--language",
        "vi",
    ]);
    assert!(report.status.success(), "{}", text(&report.stderr));
    let html = std::fs::read_to_string(&page).expect("written");
    for expected in [
        "<html lang=\"vi\">",
        "bạo lực thân thể",
        "<strong id=\"total\">2</strong>",
        "id=\"trend\"",
        "id=\"compliance\"",
        "VN.BT.D03.S017",
        "chưa nộp",
    ] {
        assert!(html.contains(expected), "{expected} not in the page");
    }
    assert!(!html.contains("<script") && !html.contains("src="), "self-contained");
    let again = run(&[
        "report",
        "--period",
        "2024-2025",
        "--format",
        "html",
        "--out",
        page.to_str().expect("utf-8"),
        "--node",
        &district.endpoint(),
    ]);
    assert_eq!(again.status.code(), Some(2), "an existing file is never overwritten");
    let csv = run(&[
        "report",
        "--period",
        "2024-2025",
        "--format",
        "csv",
        "--node",
        &district.endpoint(),
        "--language",
        "zh",
    ]);
    assert!(csv.status.success(), "{}", text(&csv.stderr));
    let csv = text(&csv.stdout);
    // What the file is, then the table; a unit the config names no name for has an empty name.
    assert!(csv.starts_with("\u{feff}校园欺凌与暴力防治报告,VN.BT.D03,") && csv.contains("\n语言,zh\n"), "{csv}");
    assert!(csv.contains("身体暴力") && csv.contains("VN.BT.D03.S017,,2,"), "{csv}");
    let json = run(&["report", "--period", "2024-2025", "--format", "json", "--node", &district.endpoint()]);
    let json: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(json["total_cases"], 2);
    assert_eq!(json["verified"], true);
    assert_eq!(json["units"][0]["org"], "VN.BT.D03.S017");

    // Interop: a client generated from proto/ by grpcio-tools pulls the same aggregate. It
    // needs `pip install grpcio grpcio-tools`, which a fresh machine may lack: then this
    // step says so on standard error instead of failing.
    let has_grpcio =
        Command::new("python3").args(["-c", "import grpc, grpc_tools"]).output().is_ok_and(|o| o.status.success());
    if has_grpcio {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pull_aggregate.py");
        let address = district.endpoint().trim_start_matches("http://").to_owned();
        let pulled = Command::new("python3")
            .args([script, "--node", &address, "--period", "2024-2025", "--org", "VN.BT.D03", "--key"])
            .arg(district_config.with_file_name("data").join("node.key"))
            .output()
            .expect("python3 runs");
        let said = text(&pulled.stdout);
        assert!(pulled.status.success(), "python grpcio: {said}{}", text(&pulled.stderr));
        assert!(said.contains("VN.BT.D03 2024-2025 revision") && said.contains("2 incident cases"), "{said}");
        assert!(said.contains("VN.BT.D03.S017: 2 incident cases") && said.contains("alert: "), "{said}");
    } else {
        let missing = "python3 has no grpcio/grpcio-tools (pip install grpcio grpcio-tools)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "the interop step needs them under CI: {missing}");
        eprintln!("interop step SKIPPED (not under CI): {missing}");
    }

    // Queries: the district's operator sees exact values; a data officer of the
    // district sees a differentially private release: the school's 2 cases
    // exact (the compliance view shows them), their categories noisy.
    let query = ["query", "--period", "2024-2025", "--by", "category", "--json", "--node"];
    let exact = run(&[&query[..], &[&district.endpoint()]].concat());
    assert!(exact.status.success(), "{}", text(&exact.stderr));
    let exact: Value = serde_json::from_slice(&exact.stdout).expect("JSON");
    assert_eq!(exact["disclosed"], false);
    assert_eq!(exact["rows"][0]["label"], "VN.BT.D03.S017");
    assert_eq!(exact["rows"][0]["cells"][0], 2, "{exact}");
    assert_eq!(exact["grand_total"], 2);
    let (key, certificate) = data_officer(
        root.path(),
        "officer",
        "VN.BT.D03",
        "VN.BT.D03",
        &["enroll", "sign", "--node", &district.endpoint()],
    );
    let as_officer =
        run(&[&query[..], &[&district.endpoint(), "--identity", &key, "--certificate", &certificate]].concat());
    assert!(as_officer.status.success(), "{}", text(&as_officer.stderr));
    let shown: Value = serde_json::from_slice(&as_officer.stdout).expect("JSON");
    assert_eq!(shown["disclosed"], true, "{shown}");
    // Released under differential privacy: the school's row with its exact 2
    // cases, each category a noisy count with its margin, adding up to 2.
    assert_eq!(shown["rows"][0]["label"], "VN.BT.D03.S017", "{shown}");
    assert_eq!(shown["grand_total"], 2, "the cases are shown: {shown}");
    assert_eq!(shown["rows"][0]["total"], 2, "{shown}");
    let cells = shown["rows"][0]["cells"].as_array().expect("cells");
    let value = |cell: &Value| cell.get("value").and_then(Value::as_u64).or_else(|| cell.as_u64()).expect("a count");
    assert_eq!(cells.iter().map(value).sum::<u64>(), 2, "the released row adds up to its cases: {shown}");
    assert!(cells.iter().all(|cell| cell["margin"].as_u64().is_some_and(|margin| margin >= 1)), "{shown}");
    let releases = shown["releases"].as_array().expect("the releases behind the table");
    let charged: f64 = releases.iter().map(|release| release["rho_spent"].as_f64().expect("spent")).sum();
    assert!(
        charged > 0.0 && releases.iter().all(|release| release["rho_spent"].as_f64() <= release["rho_cap"].as_f64())
    );
    let again = run(&[&query[..], &[&district.endpoint(), "--identity", &key, "--certificate", &certificate]].concat());
    let again: Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(again, shown, "asking again within the slot gets the same release, at no cost");
    // Asked for a semester, the trend line of that semester is the table's own margins
    // as the table shows them, for every dimension, never a total the table hides.
    let endpoint = district.endpoint();
    let officer_query = |period: &str, dimension: &str| {
        run(&[
            "query",
            "--period",
            period,
            "--by",
            dimension,
            "--json",
            "--node",
            &endpoint,
            "--identity",
            &key,
            "--certificate",
            &certificate,
        ])
    };
    let mut lines_checked = 0;
    for semester in ["2024-2025/S1", "2024-2025/S2"] {
        for dimension in ["category", "severity", "place"] {
            let asked = officer_query(semester, dimension);
            if asked.status.code() == Some(1) && text(&asked.stderr).contains("no aggregate") {
                continue;
            }
            assert!(asked.status.success(), "{semester} {dimension}: {}", text(&asked.stderr));
            let table: Value = serde_json::from_slice(&asked.stdout).expect("JSON");
            let line = table["trend"]
                .as_array()
                .and_then(|trend| trend.iter().find(|row| row["label"] == semester))
                .unwrap_or_else(|| panic!("no trend line for {semester}: {table}"));
            assert_eq!(line["total"], table["grand_total"], "{semester} {dimension}: {table}");
            assert_eq!(line["cells"], table["column_totals"], "{semester} {dimension}: {table}");
            lines_checked += 1;
        }
    }
    assert!(lines_checked >= 3, "the incidents' semester was not queried");
    // Months add up to semesters: by month, units are for the operator only.
    let by_month = officer_query("2024-2025/M10", "category");
    assert_eq!(by_month.status.code(), Some(4), "{}", text(&by_month.stderr));
    assert!(text(&by_month.stderr).contains("2024-2025/M10 is a month"), "{}", text(&by_month.stderr));
    let operator_by_month =
        run(&["query", "--period", "2024-2025/M10", "--by", "category", "--node", &district.endpoint()]);
    assert!(operator_by_month.status.success(), "{}", text(&operator_by_month.stderr));
    // Each child's exact counts are for the operator and auditors, not for a data officer.
    let officer_audit = root.path().join("officer-audit.json").to_str().expect("utf-8").to_owned();
    for exact_per_child in [
        vec!["rollup", "--period", "2024-2025"],
        vec!["audit", "export", "--org", "VN.BT.D03", "--period", "2024-2025", "--out", &officer_audit],
    ] {
        let refused = run(&[
            &exact_per_child[..],
            &["--node", &district.endpoint(), "--identity", &key, "--certificate", &certificate],
        ]
        .concat());
        assert_eq!(refused.status.code(), Some(4), "{exact_per_child:?}: {}", text(&refused.stderr));
        assert!(text(&refused.stderr).contains("disclosure control"), "{}", text(&refused.stderr));
    }
    // A data officer of the province saw the district among its siblings at the
    // province's node; the district's own table could undo that by differencing.
    let root_key = crate::harness::root_key_file().to_str().expect("utf-8").to_owned();
    let (above_key, above_certificate) = data_officer(
        root.path(),
        "province-officer",
        "VN.BT",
        "VN",
        &["keys", "certify", "--anchor", "VN", "--key", &root_key],
    );
    let from_above =
        run(&[&query[..], &[&district.endpoint(), "--identity", &above_key, "--certificate", &above_certificate]]
            .concat());
    assert_eq!(from_above.status.code(), Some(4), "{}", text(&from_above.stderr));
    assert!(text(&from_above.stderr).contains("queries VN.BT's node"), "{}", text(&from_above.stderr));
    assert!(from_above.stdout.is_empty());
    let status_from_above =
        run(&["status", "--node", &district.endpoint(), "--identity", &above_key, "--certificate", &above_certificate]);
    assert!(status_from_above.status.success(), "the officer still reads status: {}", text(&status_from_above.stderr));

    let bad_dimension = run(&["query", "--period", "2024-2025", "--by", "names", "--node", &district.endpoint()]);
    assert_eq!(bad_dimension.status.code(), Some(2), "{}", text(&bad_dimension.stderr));
    assert!(text(&bad_dimension.stderr).contains("dimension"), "{}", text(&bad_dimension.stderr));

    let bad = run(&["compliance", "--school-year", "2024/25", "--node", &district.endpoint()]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains("--school-year"), "{}", text(&bad.stderr));
}

/// A school's key is stolen; its district revokes it from the moment of the
/// theft, after the thief's aggregate was summed. The district derives
/// again and its total drops the cases signed after the theft.
#[test]
fn a_backdated_revocation_takes_a_stolen_keys_cases_out_of_the_district_total() {
    let root = tempfile::tempdir().expect("tempdir");
    let (school_config, district_config, school, district) = crate::harness::running_school_and_district(root.path());
    let cases = || {
        let output = run(&["rollup", "--period", "2024-2025", "--node", &district.endpoint(), "--json"]);
        serde_json::from_slice::<Value>(&output.stdout).ok().and_then(|report| report["incident_cases"].as_u64())
    };
    let wait_for = |expected: u64, what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while cases() != Some(expected) {
            assert!(std::time::Instant::now() < deadline, "{what}: the district never showed {expected} cases");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    let add = |number: u32| {
        let mut incident = incident_json();
        incident["narrative"] = Value::from(format!("Xô xát lần {number}"));
        let input = root.path().join(format!("incident-{number}.json"));
        std::fs::write(&input, incident.to_string()).expect("write");
        let added =
            run(&["record", "add", "incident", "--file", input.to_str().expect("utf-8"), "--node", &school.endpoint()]);
        assert!(added.status.success(), "{}", text(&added.stderr));
    };
    add(0);
    wait_for(1, "the first case");
    let theft = chrono::Utc::now();
    add(1);
    wait_for(2, "the case signed with the stolen key");

    let config = edusync_config::NodeConfig::load(&school_config).expect("config");
    let school_key = edusync_node::load_key(&config.data_dir).expect("key").public_key().to_base64();
    let revoked = run(&[
        "revoke",
        "--org",
        "VN.BT.D03.S017",
        "--key",
        &school_key,
        "--reason",
        "key-compromise",
        "--effective",
        &theft.to_rfc3339(),
        "--node",
        &district.endpoint(),
        "--config",
        district_config.to_str().expect("utf-8"),
    ]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    wait_for(1, "after the revocation");
}

/// A district certified two schools this school year; one never reports.
/// Its bundle names the silent school as missing, with what makes it owed,
/// and verifies; the auditor reads the omission in the `omissions` check.
#[test]
fn a_bundle_names_a_certified_school_that_sent_nothing() {
    use chrono::Datelike;

    use crate::harness::{enrol, prepare, NodeSpec};

    let root = tempfile::tempdir().expect("tempdir");
    let (_school_config, district_config, school, district) = crate::harness::running_school_and_district(root.path());
    let silent_spec = NodeSpec {
        org: "VN.BT.D03.S018",
        level: "school",
        port: 0,
        parent: Some(("VN.BT.D03", district.address.port())),
        batch_size: 64,
        compression: "zstd",
    };
    let (silent_config, _) = prepare(&root.path().join("silent"), &silent_spec);
    enrol(&silent_config, &district_config);

    // An incident of yesterday: this school year, while both certificates hold.
    let yesterday = chrono::Utc::now() - chrono::TimeDelta::days(1);
    let start = if yesterday.month() >= 9 { yesterday.year() } else { yesterday.year() - 1 };
    let period = format!("{start}-{}", start + 1);
    let mut incident = incident_json();
    let at = yesterday.to_rfc3339();
    for field in ["occurred_at", "detected_at", "reported_to_school_at"] {
        incident[field] = Value::from(at.clone());
    }
    let input = root.path().join("incident.json");
    std::fs::write(&input, incident.to_string()).expect("write");
    let added =
        run(&["record", "add", "incident", "--file", input.to_str().expect("utf-8"), "--node", &school.endpoint()]);
    assert!(added.status.success(), "{}", text(&added.stderr));

    let bundle = root.path().join("bundle.json");
    let contents = export_when(
        &["--org", "VN.BT.D03", "--period", &period, "--node", &district.endpoint()],
        &bundle,
        |contents| contents["aggregate"]["incident_cases"] == 1,
        "no bundle of the case",
    );
    assert_eq!(contents["missing"][0]["org_id"], "VN.BT.D03.S018", "{contents}");
    let anchor = root.path().join("root.pub");
    std::fs::write(&anchor, crate::harness::root_key().public_key().to_base64()).expect("write");
    let verified =
        run(&["audit", "verify", bundle.to_str().expect("utf-8"), "--anchor", anchor.to_str().expect("utf-8")]);
    assert!(verified.status.success(), "{}{}", text(&verified.stdout), text(&verified.stderr));
    let omissions = text(&verified.stdout).lines().find(|line| line.contains("omissions")).map(str::to_owned);
    let omissions = omissions.expect("an omissions line");
    assert!(omissions.contains("VN.BT.D03.S018") && omissions.contains("sent nothing"), "{omissions}");
}

/// A province, its district and two schools as real processes: the schools
/// write incidents, sync carries the aggregates and the roll-up evidence up,
/// and one bundle exported at the province proves its total down to both
/// schools, offline, against the root key alone.
#[test]
fn one_bundle_exported_at_the_province_proves_its_total_down_to_the_schools() {
    use crate::harness::{enrol_from, free_port, prepare, NodeProcess, NodeSpec};

    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let (province_config, district_config, _) = crate::harness::province_and_district(root.path(), district_port);
    let spec = |org| NodeSpec {
        org,
        level: "school",
        port: 0,
        parent: Some(("VN.BT.D03", district_port)),
        batch_size: 64,
        compression: "zstd",
    };
    let schools: Vec<_> = ["VN.BT.D03.S017", "VN.BT.D03.S018"]
        .into_iter()
        .map(|org| {
            let (config, _) = prepare(&root.path().join(org), &spec(org));
            enrol_from(&config, &district_config, Some("2024-08-01T00:00:00Z"));
            config
        })
        .collect();
    let province = NodeProcess::start(&province_config);
    let _district = NodeProcess::start(&district_config);
    let running: Vec<NodeProcess> = schools.iter().map(|config| NodeProcess::start(config)).collect();
    for (index, school) in running.iter().enumerate() {
        for number in 0..=index {
            let mut incident = incident_json();
            incident["narrative"] = Value::from(format!("Xô xát {index}-{number}"));
            let input = root.path().join(format!("incident-{index}-{number}.json"));
            std::fs::write(&input, incident.to_string()).expect("write");
            let added = run(&[
                "record",
                "add",
                "incident",
                "--file",
                input.to_str().expect("utf-8"),
                "--node",
                &school.endpoint(),
            ]);
            assert!(added.status.success(), "{}", text(&added.stderr));
        }
    }

    // Until sync has carried everything up, the tree export says what is missing.
    let bundle = root.path().join("tree.json");
    let contents = export_when(
        &["--org", "VN.BT", "--period", "2024-2025", "--tree", "--node", &province.endpoint()],
        &bundle,
        |contents| contents["aggregate"]["incident_cases"] == 3,
        "the province never held the whole tree",
    );
    assert_eq!(contents["below"].as_array().map(Vec::len), Some(1), "the district's level");
    let anchor = root.path().join("root.pub");
    std::fs::write(&anchor, crate::harness::root_key().public_key().to_base64()).expect("write");
    let verified =
        run(&["audit", "verify", bundle.to_str().expect("utf-8"), "--anchor", anchor.to_str().expect("utf-8")]);
    let out = text(&verified.stdout);
    assert!(verified.status.success(), "{out}{}", text(&verified.stderr));
    assert!(out.contains("down to 2 aggregates with nothing below them"), "{out}");
}

/// Exports a bundle with `args` into `bundle` until the export succeeds and
/// `ready` holds for it (sync and derivation take their time), or fails
/// the test saying `what` and the last refusal.
fn export_when(args: &[&str], bundle: &std::path::Path, ready: impl Fn(&Value) -> bool, what: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let _ = std::fs::remove_file(bundle);
        let exported = run(&[&["audit", "export", "--out", bundle.to_str().expect("utf-8")][..], args].concat());
        let contents: Option<Value> = exported
            .status
            .success()
            .then(|| serde_json::from_slice(&std::fs::read(bundle).expect("read")).expect("JSON"));
        match contents {
            Some(contents) if ready(&contents) => return contents,
            _ => {
                assert!(std::time::Instant::now() < deadline, "{what}: {}", text(&exported.stderr));
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
        }
    }
}

/// Issue 19's attacks C and D, against real nodes: a district's data officer
/// reads status, compliance and every table; one more incident (a severe
/// one, which also writes a notice) is counted at the district; the officer
/// reads again. Nothing the officer sees moves but the exact case counts the
/// officer is meant to see: no log head, no acknowledged sequence, no count
/// by kind, no notice, and the tables are the same release.
#[test]
fn a_data_officer_sees_nothing_move_with_one_new_incident_but_its_case_count() {
    let root = tempfile::tempdir().expect("tempdir");
    let (district, _district_config, school) = district_with_two_incidents(root.path());
    let counted = |cases: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let output = run(&["query", "--period", "2024-2025", "--json", "--node", &district.endpoint()]);
            let table: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
            if table["grand_total"] == cases {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the district never counted {cases} cases: {table} {}",
                text(&output.stderr)
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    counted(2);
    let (key, certificate) = data_officer(
        root.path(),
        "officer",
        "VN.BT.D03",
        "VN.BT.D03",
        &["enroll", "sign", "--node", &district.endpoint()],
    );
    let endpoint = district.endpoint();
    let as_officer = |args: &[&str]| -> Value {
        let output =
            run(&[args, &["--json", "--node", &endpoint, "--identity", &key, "--certificate", &certificate]].concat());
        assert!(output.status.success(), "{args:?}: {}", text(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("JSON")
    };
    let everything = || -> Vec<Value> {
        let mut seen = vec![as_officer(&["status"])];
        let mut compliance = as_officer(&["compliance", "--school-year", "2024-2025"]);
        // Case counts are the officer's to see, and alerts about repeated
        // incidents are made of them; everything else must stand still.
        // Timeliness counts for a reader are sums of the tables' released
        // cells, brought up to the case counts like them (checked below).
        for child in compliance["children"].as_array_mut().expect("children") {
            for count in [
                "cases_semester1",
                "cases_semester2",
                "notified_late",
                "notified_in_time",
                "investigations_overdue",
                "timeliness_margin",
            ] {
                child[count] = Value::Null;
            }
        }
        if let Some(alerts) = compliance["alerts"].as_array_mut() {
            alerts.retain(|alert| !alert["code"].as_str().unwrap_or("").starts_with("repeated"));
        }
        seen.push(compliance);
        for dimension in ["category", "severity", "status", "channel", "place", "notified", "investigation"] {
            for period in ["2024-2025", "2024-2025/S1"] {
                seen.push(as_officer(&["query", "--period", period, "--by", dimension]));
            }
        }
        seen
    };
    let before = everything();
    let status = &before[0];
    assert!(
        status["children"].as_array().is_none_or(Vec::is_empty) && status["parent"].is_null(),
        "a data officer sees no log heads: {status}"
    );

    let mut severe = incident_json();
    severe["severity"] = Value::from("severe");
    severe["narrative"] = Value::from("Một vụ nghiêm trọng");
    let input = root.path().join("incident-severe.json");
    std::fs::write(&input, severe.to_string()).expect("write");
    let added =
        run(&["record", "add", "incident", "--file", input.to_str().expect("utf-8"), "--node", &school.endpoint()]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    counted(3);
    let after = everything();
    assert_eq!(before[..2], after[..2], "status or compliance moved with one incident");
    // Each table is the same release, brought up to the new case counts (which
    // the officer is meant to see) by the same projection any reader could
    // run: nothing in it depends on the new case's details, and nothing more
    // was charged.
    let value = |cell: &Value| cell.get("value").and_then(Value::as_u64).or_else(|| cell.as_u64()).expect("a count");
    for (was, is) in before[2..].iter().zip(&after[2..]) {
        assert_eq!(was["releases"], is["releases"], "a new release was drawn within the slot");
        for (old_row, new_row) in was["rows"].as_array().expect("rows").iter().zip(is["rows"].as_array().expect("rows"))
        {
            assert_eq!(old_row["label"], new_row["label"]);
            let old: Vec<i64> =
                old_row["cells"].as_array().expect("cells").iter().map(|cell| value(cell) as i64).collect();
            let new: Vec<u64> = new_row["cells"].as_array().expect("cells").iter().map(value).collect();
            let total = new_row["total"].as_u64().expect("an exact case count");
            assert_eq!(new, edusync_privacy::closest_with_total(&old, total), "{was} then {is}");
        }
    }
}
