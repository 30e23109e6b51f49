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
    let district = NodeProcess::start(&district_config);
    let endpoint = district.endpoint();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let held_at_kill = loop {
        match checkpoint(&endpoint, SCHOOL).await {
            Some(held) if held > 0 && held < shared_total => break held,
            Some(held) => assert!(held < shared_total, "sync finished before the kill; raise the record count"),
            None => {}
        }
        assert!(std::time::Instant::now() < deadline, "the district never started ingesting");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    district.kill9();

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
    drop(school);
}

fn tokio_stream_of(
    receiver: tokio::sync::mpsc::Receiver<wire::PushBatch>,
) -> tokio_stream::wrappers::ReceiverStream<wire::PushBatch> {
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}
