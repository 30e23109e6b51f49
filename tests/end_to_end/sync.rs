//! One hop of sync between real processes: a district killed with SIGKILL in
//! the middle of ingesting, restarted, ends with every record exactly once.

use std::time::Duration;

use edusync_proto::wire;

use crate::harness::{
    checkpoint, commitment, records_client, school_and_district, settled_head, sync_client_as, wait_until, whole_log,
    NodeProcess,
};

const SCHOOL: &str = "VN.BT.D03.S017";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn district_killed_mid_sync_holds_every_record_exactly_once_after_restart() {
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = crate::harness::free_port();
    let (school_config, district_config) = school_and_district(root.path(), district_port, district_port, 8, "zstd");

    // The school works offline first: its district is not running yet.
    let school = NodeProcess::start(&school_config);
    let total: u32 = 1200;
    let mut writers = tokio::task::JoinSet::new();
    for worker in 0..4u32 {
        let endpoint = school.endpoint();
        writers.spawn(async move {
            let mut client = records_client(&endpoint).await;
            for count in (1..=total).filter(|count| count % 4 == worker) {
                let request = wire::SubmitRecordRequest { record: Some(commitment(count)) };
                client.submit_record(request).await.expect("school accepts the record");
            }
        });
    }
    while let Some(result) = writers.join_next().await {
        result.expect("writer finished");
    }
    let mut school_client = records_client(&school.endpoint()).await;
    // A raw incident, with a child's name, goes into the school's local log.
    let incident: edusync_core::Record =
        serde_json::from_value(serde_json::json!({"kind": "incident", "record": crate::cli::incident_json()}))
            .expect("incident JSON matches the schema");
    school_client
        .submit_record(wire::SubmitRecordRequest { record: Some(wire::Record::from(&incident)) })
        .await
        .expect("school accepts the incident");

    // The school derives its aggregates from what was written; once its shared
    // log stops growing, its length is what the district must end up holding.
    let shared_total = settled_head(&mut school_client, SCHOOL).await;
    assert!(shared_total > u64::from(total), "the school's aggregates are in its shared log");

    // The district comes up; kill it while it is part-way through the log.
    // "Acknowledged" is what the school was told, not what the district's
    // store shows mid-batch (a read may see records not flushed yet).
    let district = NodeProcess::start(&district_config);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let held = acknowledged_by_parent(&mut school_client).await;
        assert!(held < shared_total, "sync finished before the kill; raise the record count");
        if held > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the district never acknowledged a batch");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    district.kill9();
    let held_at_kill = acknowledged_by_parent(&mut school_client).await;

    // Restart on the same port; the school resumes from what the district holds.
    let district = NodeProcess::start(&district_config);
    let endpoint = district.endpoint();
    let after_restart = checkpoint(&endpoint, SCHOOL).await.expect("district answers");
    assert!(after_restart >= held_at_kill, "acknowledged records vanished: {after_restart} < {held_at_kill}");
    wait_until(Duration::from_secs(120), "the district to hold the whole log", || {
        let endpoint = endpoint.clone();
        async move { checkpoint(&endpoint, SCHOOL).await == Some(shared_total) }
    })
    .await;

    // Exactly once: the district's copy of the log is 1..=total, every id
    // distinct, byte-identical to the school's own log.
    let mut district_client = records_client(&endpoint).await;
    let district_log = whole_log(&mut district_client, SCHOOL).await;
    let school_log = whole_log(&mut school_client, SCHOOL).await;
    assert_eq!(district_log.len() as u64, shared_total);
    assert_eq!(district_log, school_log, "the district's copy differs from the school's log");
    let info = district_client.get_node_info(wire::GetNodeInfoRequest {}).await.expect("info").into_inner();
    let count_of =
        |kind: wire::RecordKind| info.kinds.iter().find(|count| count.kind == kind as i32).map_or(0, |c| c.count);
    assert_eq!(count_of(wire::RecordKind::Commitment), u64::from(total));
    assert_eq!(count_of(wire::RecordKind::Incident), 0, "a raw incident reached the district");
    let school_aggregates = shared_total - u64::from(total);
    assert!(count_of(wire::RecordKind::Aggregate) >= school_aggregates, "the district holds the school's aggregates");
    assert!(info.equivocations.is_empty());

    // A replayed batch changes nothing.
    let mut sync = sync_client_as(&endpoint, &school_config).await;
    let replay: Vec<wire::SignedEnvelope> =
        school_log.iter().take(50).cloned().map(|envelope| wire::SignedEnvelope { envelope }).collect();
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    sender.send(wire::PushBatch { batch_number: 1, envelopes: replay }).await.expect("send");
    drop(sender);
    let mut acks = sync.push_envelopes(tokio_stream_of(receiver)).await.expect("push").into_inner();
    let ack = acks.message().await.expect("ack").expect("one ack");
    assert_eq!((ack.stored, ack.duplicates, ack.refused.len()), (0, 50, 0));

    // A batch larger than any child sends is refused whole, before any of it is verified.
    let flood = vec![wire::SignedEnvelope { envelope: vec![0; 8] }; edusync_config::SyncConfig::MAX_BATCH + 1];
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    sender.send(wire::PushBatch { batch_number: 1, envelopes: flood }).await.expect("send");
    drop(sender);
    let mut acks = sync.push_envelopes(tokio_stream_of(receiver)).await.expect("push").into_inner();
    let refused = acks.message().await.expect_err("an oversized batch is refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("send smaller batches"), "{}", refused.message());
    drop(school);
}

/// What the school's parent has acknowledged to it: flushed before it was sent.
async fn acknowledged_by_parent(client: &mut crate::harness::Client) -> u64 {
    let info = client.get_node_info(wire::GetNodeInfoRequest {}).await.expect("school info").into_inner();
    info.parent.map_or(0, |parent| parent.acknowledged_seq)
}

fn tokio_stream_of(
    receiver: tokio::sync::mpsc::Receiver<wire::PushBatch>,
) -> tokio_stream::wrappers::ReceiverStream<wire::PushBatch> {
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_and_a_policy_issued_at_the_province_reach_every_school_below_it_verified() {
    use crate::harness::{enrol, expect_ok, free_port, path, prepare, text, NodeProcess, NodeSpec};
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let spec = |org, level, port, parent| NodeSpec { org, level, port, parent, batch_size: 64, compression: "zstd" };
    let (province, district, _) = crate::harness::province_and_district(root.path(), district_port);
    let schools: Vec<_> = ["VN.BT.D03.S017", "VN.BT.D03.S018"]
        .into_iter()
        .map(|org| {
            let (config, _) =
                prepare(&root.path().join(org), &spec(org, "school", 0, Some(("VN.BT.D03", district_port))));
            enrol(&config, &district);
            config
        })
        .collect();
    let _province = NodeProcess::start(&province);
    let _district = NodeProcess::start(&district);
    let running: Vec<NodeProcess> = schools.iter().map(|config| NodeProcess::start(config)).collect();

    let plan = root.path().join("plan.json");
    let fixture = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/records/plan.json"))
        .expect("plan fixture");
    std::fs::write(&plan, fixture.replace("\"VN.BT.D03.S017\"", "\"VN.BT\"").replace("137/KH-THCSPH", "88/KH-SGDĐT"))
        .expect("plan written");
    let issued = expect_ok(&["record", "add", "plan", "--config", path(&province), "--file", path(&plan)]);
    assert!(text(&issued.stdout).contains("stored plan"), "{}", text(&issued.stdout));

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut endpoints: Vec<String> = running.iter().map(NodeProcess::endpoint).collect();
    endpoints.push(format!("http://127.0.0.1:{district_port}"));
    for endpoint in &endpoints {
        loop {
            let listed = crate::harness::run(&["record", "list", "--from-above", "--node", endpoint]);
            let out = text(&listed.stdout);
            if listed.status.success() && out.contains("plan") && out.contains("VN.BT ") {
                assert!(out.contains("1 record(s) issued above this node; every signature verified here"), "{out}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the plan never reached {endpoint}: {out}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // The school reads the province's plan itself, not a copy re-signed on the way.
    let shown = expect_ok(&["record", "list", "--from-above", "--json", "--node", &endpoints[0]]);
    let listed: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
    assert_eq!(listed[0]["header"]["author_org"], "VN.BT", "{listed}");
    assert_eq!(listed[0]["record"]["record"]["number"], "88/KH-SGDĐT", "{listed}");

    // A policy for this school year: the province turns demographic crosses
    // off and sets deadlines; every unit below works under it.
    let today = chrono::Utc::now().date_naive();
    let year = edusync_core::SchoolYear::containing(today).expect("a school year").start_year();
    let policy = root.path().join("policy.json");
    let fixture = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/records/policy.json"))
        .expect("policy fixture");
    let this_year = fixture
        .replace("2025-2026", &format!("{year}-{}", year + 1))
        .replace("2025-09-05", &today.to_string())
        .replace("2026-08-", &format!("{}-08-", year + 1))
        .replace("2025-09-30", &format!("{year}-09-30"));
    std::fs::write(&policy, this_year).expect("policy written");
    expect_ok(&["record", "add", "policy", "--config", path(&province), "--file", path(&policy)]);
    for endpoint in &endpoints {
        loop {
            let status = crate::harness::run(&["status", "--json", "--node", endpoint]);
            let document: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
            let in_force = &document["policy"];
            if in_force["policies_from_above"] == 1 {
                assert_eq!(in_force["privacy"]["demographic_crosses"], false, "{document}");
                assert_eq!(in_force["privacy"]["epsilon_per_release_millionths"], 250_000, "{document}");
                let deadlines = in_force["deadlines"].as_array().expect("deadlines");
                assert!(
                    deadlines.iter().any(|deadline| deadline["report"] == "school-year report"
                        && deadline["level"] == "schools"
                        && deadline["due_on"] == format!("{}-08-01", year + 1)
                        && deadline["issuing_org"] == "VN.BT"),
                    "{document}"
                );
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the policy never reached {endpoint}: {document}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let human = expect_ok(&["status", "--node", &endpoints[0]]);
    assert!(text(&human.stdout).contains("demographic crosses off"), "{}", text(&human.stdout));
}
