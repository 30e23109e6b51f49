//! Links that come and go: a flaky, partitioned link; a school killed in the
//! middle of a push; a school that was offline for a whole semester.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use edusync_proto::wire;

use crate::harness::{
    checkpoint, commitment, free_port, records_client, school_and_district, settled_head, whole_log, Fault,
    FaultyProxy, NodeProcess,
};

const SCHOOL: &str = "VN.BT.D03.S017";
const DISTRICT: &str = "VN.BT.D03";

/// Writes commitments `from..=to` (distinct counts, so distinct records) with four writers.
async fn write_commitments(endpoint: &str, from: u32, to: u32) {
    let mut writers = tokio::task::JoinSet::new();
    for worker in 0..4u32 {
        let endpoint = endpoint.to_owned();
        writers.spawn(async move {
            let mut client = records_client(&endpoint).await;
            for count in (from..=to).filter(|count| count % 4 == worker) {
                let request = wire::SubmitRecordRequest { record: Some(commitment(count)) };
                client.submit_record(request).await.expect("the school accepts the record");
            }
        });
    }
    while let Some(result) = writers.join_next().await {
        result.expect("writer finished");
    }
}

async fn wait_for(endpoint: &str, head: u64, limit: Duration) -> Duration {
    let started = Instant::now();
    while checkpoint(endpoint, SCHOOL).await != Some(head) {
        assert!(started.elapsed() < limit, "the district did not reach seq {head} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

/// Both sides hold the same shared log of the school, each envelope once, in order.
async fn assert_same_records_once(school: &str, district: &str, head: u64) {
    let school_log = whole_log(&mut records_client(school).await, SCHOOL).await;
    let district_log = whole_log(&mut records_client(district).await, SCHOOL).await;
    assert_eq!(school_log.len() as u64, head);
    assert_eq!(district_log, school_log, "the district's copy differs from the school's log");
    let distinct: BTreeSet<&Vec<u8>> = district_log.iter().collect();
    assert_eq!(distinct.len(), district_log.len(), "an envelope is held twice");
    let info = records_client(district).await.get_node_info(wire::GetNodeInfoRequest {}).await.expect("info");
    assert!(info.into_inner().equivocations.is_empty(), "the district saw two histories");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_partitioned_link_ends_with_both_sides_holding_the_same_records_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let proxy = FaultyProxy::start(district_port).await;
    let (school_config, district_config) = school_and_district(root.path(), district_port, proxy.port, 16, "zstd");
    let district = NodeProcess::start(&district_config);
    let school = NodeProcess::start(&school_config);

    // Cut connections mid-stream and delay every chunk while the school writes;
    // partition the link for a while; then cut and delay again.
    proxy.set(Fault::Flaky { max_bytes: 24 * 1024, delay_ms: 3 });
    let school_endpoint = school.endpoint();
    let writing = write_commitments(&school_endpoint, 1, 900);
    let weather = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        proxy.set(Fault::Partitioned);
        tokio::time::sleep(Duration::from_millis(2000)).await;
        proxy.set(Fault::Flaky { max_bytes: 8 * 1024, delay_ms: 5 });
        tokio::time::sleep(Duration::from_millis(2000)).await;
    };
    tokio::join!(writing, weather);
    let head = settled_head(&mut records_client(&school.endpoint()).await, SCHOOL).await;
    assert!(proxy.cuts() >= 3, "the proxy cut only {} connections", proxy.cuts());

    proxy.set(Fault::Pass);
    wait_for(&district.endpoint(), head, Duration::from_secs(120)).await;
    assert_same_records_once(&school.endpoint(), &district.endpoint(), head).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_killed_in_the_middle_of_a_push_loses_and_duplicates_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let (school_config, district_config) = school_and_district(root.path(), district_port, district_port, 8, "zstd");
    let school = NodeProcess::start(&school_config);
    write_commitments(&school.endpoint(), 1, 1500).await;
    let head = settled_head(&mut records_client(&school.endpoint()).await, SCHOOL).await;

    let district = NodeProcess::start(&district_config);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match checkpoint(&district.endpoint(), SCHOOL).await {
            Some(held) if held > 0 && held < head => break,
            Some(held) => assert!(held < head, "the push finished before the kill; raise the record count"),
            None => {}
        }
        assert!(Instant::now() < deadline, "the district never started receiving");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    school.kill9();

    let school = NodeProcess::start(&school_config);
    let head = settled_head(&mut records_client(&school.endpoint()).await, SCHOOL).await;
    wait_for(&district.endpoint(), head, Duration::from_secs(120)).await;
    assert_same_records_once(&school.endpoint(), &district.endpoint(), head).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_offline_for_a_semester_catches_up_ten_thousand_records() {
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let (school_config, district_config) = school_and_district(root.path(), district_port, district_port, 256, "zstd");
    let school = NodeProcess::start(&school_config);
    write_commitments(&school.endpoint(), 1, 10_000).await;
    let head = settled_head(&mut records_client(&school.endpoint()).await, SCHOOL).await;
    assert!(head >= 10_000);

    let district = NodeProcess::start(&district_config);
    let took = wait_for(&district.endpoint(), head, Duration::from_secs(180)).await;
    eprintln!("caught up {head} records in {took:?}");
    assert_same_records_once(&school.endpoint(), &district.endpoint(), head).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_traffic_is_compressed_with_zstd() {
    let mut carried = Vec::new();
    for compression in ["none", "zstd"] {
        let root = tempfile::tempdir().expect("tempdir");
        let district_port = free_port();
        let proxy = crate::harness::RecordingProxy::start(district_port).await;
        let (school_config, district_config) =
            school_and_district(root.path(), district_port, proxy.port, 256, compression);
        let school = NodeProcess::start(&school_config);
        write_commitments(&school.endpoint(), 1, 600).await;
        let head = settled_head(&mut records_client(&school.endpoint()).await, SCHOOL).await;
        let district = NodeProcess::start(&district_config);
        wait_for(&district.endpoint(), head, Duration::from_secs(60)).await;
        // Per envelope, so that a different number of aggregate revisions does not skew it.
        carried.push(proxy.captured().len() as f64 / head as f64);
    }
    let ratio = carried[1] / carried[0];
    eprintln!("bytes per envelope on the wire: {:.0} plain, {:.0} zstd (ratio {ratio:.2})", carried[0], carried[1]);
    assert!(ratio < 0.9, "zstd carried {ratio:.2} of the plain bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sneakernet_round_trip_ends_in_the_same_state_as_online_sync() {
    use crate::harness::{run, text};
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let link = FaultyProxy::start(district_port).await;
    link.set(Fault::Partitioned);
    let (school_config, district_config) = school_and_district(root.path(), district_port, link.port, 64, "zstd");
    // The school trusts acknowledgements signed by its district's key because
    // the certificate chain it installed at enrolment certifies that key.
    let district = NodeProcess::start(&district_config);
    let school = NodeProcess::start(&school_config);
    let bundle = |name: &str| root.path().join(name).to_str().expect("utf-8").to_owned();
    let ok = |output: std::process::Output| {
        assert!(output.status.success(), "{}{}", text(&output.stdout), text(&output.stderr));
        text(&output.stdout)
    };

    write_commitments(&school.endpoint(), 1, 400).await;
    let head = settled_head(&mut records_client(&school.endpoint()).await, SCHOOL).await;
    ok(run(&["bundle", "export", "--to", DISTRICT, "--out", &bundle("up-1.bundle"), "--node", &school.endpoint()]));
    let imported = ok(run(&["bundle", "import", &bundle("up-1.bundle"), "--node", &district.endpoint()]));
    assert!(imported.contains(&format!("{head} stored")), "{imported}");
    assert_eq!(checkpoint(&district.endpoint(), SCHOOL).await, Some(head));

    // Importing the same bundle again stores nothing; a changed byte is refused and stores nothing.
    let again = ok(run(&["bundle", "import", &bundle("up-1.bundle"), "--node", &district.endpoint()]));
    assert!(again.contains(&format!("0 stored, {head} already held")), "{again}");
    let mut tampered = std::fs::read(bundle("up-1.bundle")).expect("bundle");
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    std::fs::write(bundle("tampered.bundle"), tampered).expect("write");
    let refused = run(&["bundle", "import", &bundle("tampered.bundle"), "--node", &district.endpoint()]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));

    // The acknowledgement travels back the same way, and with it the
    // district's downward feed: here, a plan it issued for its schools.
    let plan = root.path().join("plan.json");
    let fixture = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/records/plan.json"))
        .expect("plan fixture");
    std::fs::write(&plan, fixture.replace("\"VN.BT.D03.S017\"", "\"VN.BT.D03\"")).expect("plan written");
    ok(run(&["record", "add", "plan", "--file", plan.to_str().expect("utf-8"), "--node", &district.endpoint()]));
    ok(run(&["bundle", "export", "--to", SCHOOL, "--out", &bundle("ack-1.bundle"), "--node", &district.endpoint()]));
    let acknowledged = ok(run(&["bundle", "import", &bundle("ack-1.bundle"), "--node", &school.endpoint()]));
    assert!(acknowledged.contains(&format!("up to seq {head}")), "{acknowledged}");
    let from_above = ok(run(&["record", "list", "--from-above", "--node", &school.endpoint()]));
    assert!(from_above.contains("plan") && from_above.contains(DISTRICT), "{from_above}");
    assert!(from_above.contains("1 record(s) issued above"), "{from_above}");
    let status = ok(run(&["status", "--node", &school.endpoint(), "--json"]));
    let status: serde_json::Value = serde_json::from_str(&status).expect("JSON");
    assert_eq!(status["parent"]["acknowledged_seq"], head);
    assert_eq!(status["parent"]["outbox_depth"], 0);

    // The next bundle carries only what is new.
    write_commitments(&school.endpoint(), 401, 450).await;
    let new_head = settled_head(&mut records_client(&school.endpoint()).await, SCHOOL).await;
    let exported =
        ok(run(&["bundle", "export", "--to", DISTRICT, "--out", &bundle("up-2.bundle"), "--node", &school.endpoint()]));
    assert!(exported.contains(&format!("({} entries", new_head - head)), "{exported}");
    ok(run(&["bundle", "import", &bundle("up-2.bundle"), "--node", &district.endpoint()]));
    assert_same_records_once(&school.endpoint(), &district.endpoint(), new_head).await;

    // A term offline: a backlog larger than one file goes in parts, which
    // may be imported in any order, and again without effect.
    let mut school_client = records_client(&school.endpoint()).await;
    for first in (1_000..7_000).step_by(1_000) {
        let records = (first..first + 1_000).map(commitment).collect();
        school_client.submit_records(wire::SubmitRecordsRequest { records }).await.expect("stored");
    }
    let new_head = settled_head(&mut school_client, SCHOOL).await;
    let exported = ok(run(&[
        "bundle",
        "export",
        "--to",
        DISTRICT,
        "--out",
        &bundle("term.bundle"),
        "--max-megabytes",
        "1",
        "--node",
        &school.endpoint(),
    ]));
    let mut parts: Vec<String> =
        exported.lines().filter_map(|line| line.strip_prefix("wrote ")?.split(' ').next()).map(str::to_owned).collect();
    assert!(parts.len() >= 2, "a backlog over 1 MiB in parts: {exported}");
    assert!(parts.iter().all(|part| std::fs::metadata(part).is_ok_and(|meta| meta.len() < 2 << 20)), "{exported}");
    parts.reverse();
    let district_endpoint = district.endpoint();
    let import = |parts: &[String]| {
        let mut args = vec!["bundle", "import"];
        args.extend(parts.iter().map(String::as_str));
        args.extend(["--node", district_endpoint.as_str()]);
        ok(run(&args))
    };
    import(&parts);
    assert_same_records_once(&school.endpoint(), &district.endpoint(), new_head).await;
    let again = import(&parts);
    assert!(again.lines().filter(|line| line.contains(" 0 stored")).count() == parts.len(), "{again}");

    // When the link comes back, online sync finds nothing left to send: the
    // district's copy of the school's log neither grows nor repeats.
    link.set(Fault::Pass);
    // A whole round over the mended link, asked for and waited on, not slept for.
    let round = ok(run(&["sync", "now", "--node", &school.endpoint()]));
    assert!(round.contains("in sync"), "{round}");
    assert_eq!(checkpoint(&district.endpoint(), SCHOOL).await, Some(new_head));
    assert_same_records_once(&school.endpoint(), &district.endpoint(), new_head).await;
    let status = ok(run(&["status", "--node", &school.endpoint(), "--json"]));
    let status: serde_json::Value = serde_json::from_str(&status).expect("JSON");
    assert!(status["parent"]["last_contact"].is_string(), "the school reached its district online: {status}");
}

/// The district's view of the school's severe notices: (seq held of the
/// school's log, notices shown, how many of them ahead of the log).
async fn district_notice_view(endpoint: &str) -> (u64, usize, usize) {
    let (channel, bearer) = crate::harness::operator_session(endpoint).await.expect("operator");
    let mut client = edusync_proto::wire::record_service_client::RecordServiceClient::with_interceptor(channel, bearer);
    let info = client.get_node_info(wire::GetNodeInfoRequest {}).await.expect("info").into_inner();
    let held = info
        .logs
        .iter()
        .find(|log| log.author_org == SCHOOL && log.stream == wire::LogStream::Shared as i32)
        .map_or(0, |log| log.highest_contiguous_seq);
    let notices: Vec<_> = info.severe_notices.iter().filter(|notice| notice.author_org == SCHOOL).collect();
    (held, notices.len(), notices.iter().filter(|notice| notice.ahead_of_log).count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_severe_incident_notice_overtakes_a_backlog_on_a_slow_link() {
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let proxy = FaultyProxy::start(district_port).await;
    proxy.set(Fault::Partitioned);
    // Small batches on a slow link: the backlog takes many round trips.
    let (school_config, district_config) = school_and_district(root.path(), district_port, proxy.port, 8, "zstd");
    let district = NodeProcess::start(&district_config);
    let school = NodeProcess::start(&school_config);
    write_commitments(&school.endpoint(), 1, 800).await;
    let incident = root.path().join("severe.json");
    let fixture = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/records/incident.json"))
        .expect("fixture");
    std::fs::write(&incident, fixture.replace("\"serious\"", "\"severe\"")).expect("written");
    let school_url = school.endpoint();
    crate::harness::expect_ok(&[
        "record",
        "add",
        "incident",
        "--node",
        &school_url,
        "--file",
        crate::harness::path(&incident),
    ]);
    let head = settled_head(&mut records_client(&school_url).await, SCHOOL).await;
    assert!(head > 800, "the notice (and aggregates) follow the backlog in the log: head {head}");

    proxy.set(Fault::Flaky { max_bytes: usize::MAX / 2, delay_ms: 40 });
    let district_url = district.endpoint();
    let started = Instant::now();
    let (held, shown, ahead) = loop {
        let view = district_notice_view(&district_url).await;
        if view.1 > 0 {
            break view;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the notice never reached the district");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("the notice reached the district after {:?}, holding {held} of {head} records", started.elapsed());
    assert_eq!((shown, ahead), (1, 1), "one notice, held ahead of its log");
    assert!(held < head / 2, "the notice arrived while most of the backlog had not: held {held} of {head}");

    // Once the log catches up, the notice is held in order, once.
    proxy.set(Fault::Pass);
    wait_for(&district_url, head, Duration::from_secs(120)).await;
    let (_, shown, ahead) = district_notice_view(&district_url).await;
    assert_eq!((shown, ahead), (1, 0), "held once, in its log now");
    assert_same_records_once(&school_url, &district_url, head).await;
}

fn sigterm(node: NodeProcess) -> Option<i32> {
    let status = std::process::Command::new("kill").args(["-TERM", &node.pid().to_string()]).status().expect("kill");
    assert!(status.success());
    node.wait_for_exit(Duration::from_secs(30))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_sync_loses_and_duplicates_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let (school_config, district_config) = school_and_district(root.path(), district_port, district_port, 8, "zstd");
    let school = NodeProcess::start(&school_config);
    write_commitments(&school.endpoint(), 1, 1200).await;
    let head = settled_head(&mut records_client(&school.endpoint()).await, SCHOOL).await;

    // The school is stopped with SIGTERM in the middle of its push ...
    let district = NodeProcess::start(&district_config);
    let started = Instant::now();
    while checkpoint(&district.endpoint(), SCHOOL).await.unwrap_or(0) == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "the push never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(sigterm(school), Some(0), "the school exits 0 on SIGTERM");
    let held = checkpoint(&district.endpoint(), SCHOOL).await.expect("district answers");
    assert!(held < head, "stopped part-way ({held} of {head}); raise the record count");

    // ... and, once it runs again, the district with SIGTERM in the middle of its ingest.
    let school = NodeProcess::start(&school_config);
    let started = Instant::now();
    while checkpoint(&district.endpoint(), SCHOOL).await.unwrap_or(0) <= held {
        assert!(started.elapsed() < Duration::from_secs(60), "the push never resumed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(sigterm(district), Some(0), "the district exits 0 on SIGTERM");

    let district = NodeProcess::start(&district_config);
    wait_for(&district.endpoint(), head, Duration::from_secs(120)).await;
    assert_same_records_once(&school.endpoint(), &district.endpoint(), head).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_from_a_stale_backup_never_forks_the_schools_log_at_its_parent() {
    use crate::harness::{expect_ok, path};
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let (school_config, district_config) = school_and_district(root.path(), district_port, district_port, 64, "zstd");
    let district = NodeProcess::start(&district_config);
    let school = NodeProcess::start(&school_config);
    let at_backup = write_and_sync(&school, &district, 1, 3).await;
    let backup = root.path().join("school.backup");
    expect_ok(&["backup", "--out", path(&backup), "--node", &school.endpoint()]);

    // The school signs on after the backup, and its district takes it all in ...
    let before_loss = write_and_sync(&school, &district, 4, 9).await;
    assert!(before_loss > at_backup);

    // ... then its disk dies and it is restored from the stale backup while
    // the district is unreachable.
    school.kill9();
    district.kill9();
    std::fs::remove_dir_all(root.path().join("school/data")).expect("the school's data is lost");
    // Nobody at a terminal and no --yes: it says what it would lose and restores nothing.
    let unasked =
        crate::harness::run(&["restore", path(&backup), "--config", path(&school_config), "--language", "en"]);
    assert_eq!(unasked.status.code(), Some(2), "{}", crate::harness::text(&unasked.stderr));
    assert!(crate::harness::text(&unasked.stderr).contains("--yes"), "{}", crate::harness::text(&unasked.stderr));
    assert!(!root.path().join("school/data").join("store").exists(), "nothing restored without --yes");
    let restored =
        expect_ok(&["restore", path(&backup), "--config", path(&school_config), "--language", "en", "--yes"]);
    // Before it runs, it says when the backup was taken and what it cannot bring back.
    let said = crate::harness::text(&restored.stderr);
    let day = |at: chrono::DateTime<chrono::Utc>| format!("this backup was taken {}", at.format("%Y-%m-%d"));
    let now = chrono::Utc::now();
    let dated = said.contains(&day(now)) || said.contains(&day(now - chrono::TimeDelta::minutes(5)));
    assert!(dated && said.contains("never sent up"), "{said}");
    let school = NodeProcess::start(&school_config);
    let mut school_client = records_client(&school.endpoint()).await;
    let refused = school_client
        .submit_record(wire::SubmitRecordRequest { record: Some(crate::harness::commitment(100)) })
        .await
        .expect_err("a restored node signs nothing before its parent has answered");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("restored from a backup"), "{}", refused.message());

    // The district comes back: the school takes back what it had signed after
    // the backup, and signs on after it.
    let district = NodeProcess::start(&district_config);
    let started = Instant::now();
    loop {
        let request = wire::SubmitRecordRequest { record: Some(crate::harness::commitment(100)) };
        match school_client.submit_record(request).await {
            Ok(written) => {
                let seq = written.into_inner().header.map_or(0, |header| header.seq);
                assert!(seq > before_loss, "the new record continues after seq {before_loss}, at {seq}");
                break;
            }
            Err(status) => assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the school never reconciled with its district");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let head = settled_head(&mut school_client, SCHOOL).await;
    wait_for(&district.endpoint(), head, Duration::from_secs(60)).await;
    assert_same_records_once(&school.endpoint(), &district.endpoint(), head).await;
    assert_taken_back_records_are_known_by_content(&mut school_client, 4..=9).await;
}

/// Writes commitments `from..=to` at the school and waits until the district
/// holds its whole shared log; the school's head.
async fn write_and_sync(school: &NodeProcess, district: &NodeProcess, from: u32, to: u32) -> u64 {
    write_commitments(&school.endpoint(), from, to).await;
    let head = settled_head(&mut records_client(&school.endpoint()).await, SCHOOL).await;
    wait_for(&district.endpoint(), head, Duration::from_secs(60)).await;
    head
}

/// Records the node took back from its parent are indexed as its own: the
/// same record entered again is "already stored", never counted twice.
async fn assert_taken_back_records_are_known_by_content(
    client: &mut crate::harness::Client,
    counts: std::ops::RangeInclusive<u32>,
) {
    for count in counts {
        let again = client
            .submit_record(wire::SubmitRecordRequest { record: Some(commitment(count)) })
            .await
            .expect("the school answers");
        assert!(again.into_inner().already_stored, "commitment {count} was taken back but is stored a second time");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_whose_store_went_back_in_time_takes_back_its_log_before_signing_again() {
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let (school_config, district_config) = school_and_district(root.path(), district_port, district_port, 64, "zstd");
    let district = NodeProcess::start(&district_config);
    let school = NodeProcess::start(&school_config);
    let early = write_and_sync(&school, &district, 1, 3).await;
    school.kill9();
    let data = root.path().join("school/data");
    let early_copy = root.path().join("school/data-early");
    crate::harness::copy_tree(&data, &early_copy);

    let school = NodeProcess::start(&school_config);
    let before_loss = write_and_sync(&school, &district, 4, 9).await;
    assert!(before_loss > early);

    // The store goes back to the early copy (a virtual machine's snapshot, a
    // disk that lied about its writes), with no restore to mark it.
    school.kill9();
    std::fs::remove_dir_all(&data).expect("remove data");
    crate::harness::copy_tree(&early_copy, &data);
    let school = NodeProcess::start(&school_config);
    let mut school_client = records_client(&school.endpoint()).await;
    let written = school_client
        .submit_record(wire::SubmitRecordRequest { record: Some(commitment(100)) })
        .await
        .expect("the school signs once it has taken back what its district holds")
        .into_inner();
    let seq = written.header.map_or(0, |header| header.seq);
    assert!(seq > before_loss, "the new record continues after seq {before_loss}, at {seq}");
    let head = settled_head(&mut school_client, SCHOOL).await;
    wait_for(&district.endpoint(), head, Duration::from_secs(60)).await;
    assert_same_records_once(&school.endpoint(), &district.endpoint(), head).await;
    assert_taken_back_records_are_known_by_content(&mut school_client, 4..=9).await;
}
