//! A node as a service: standard health and reflection for generic gRPC
//! tools, and a clean stop on SIGTERM.

use std::process::Command;
use std::time::Duration;

use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

use crate::harness::start_lone_node;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_services_and_health_reports_serving() {
    let root = tempfile::tempdir().expect("tempdir");
    let (node, _) = start_lone_node(&root.path().join("district"), "VN.BT.D03", "district");

    let channel =
        tonic::transport::Endpoint::from_shared(node.endpoint()).expect("url").connect().await.expect("connects");
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection answers")
        .into_inner();
    let response = responses.message().await.expect("a response").expect("one message");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list, got {:?}", response.message_response)
    };
    let mut names: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
    names.sort();
    for expected in ["edusync.v1.RecordService", "edusync.v1.SyncService", "grpc.health.v1.Health"] {
        assert!(names.iter().any(|name| name == expected), "{expected} missing from {names:?}");
    }

    let mut health = HealthClient::new(channel);
    for service in ["edusync.v1.RecordService", "edusync.v1.SyncService"] {
        let status = health
            .check(HealthCheckRequest { service: service.into() })
            .await
            .expect("health answers")
            .into_inner()
            .status;
        assert_eq!(status, 1, "{service} is not SERVING");
    }
}

#[test]
fn sigterm_stops_a_node_cleanly_with_exit_status_0() {
    let root = tempfile::tempdir().expect("tempdir");
    let (node, _) = start_lone_node(&root.path().join("school"), "VN.BT.D03.S017", "school");
    let status = Command::new("kill").args(["-TERM", &node.pid().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let exit = node.wait_for_exit(Duration::from_secs(20));
    assert_eq!(exit, Some(0), "the node did not exit 0 after SIGTERM");
}

/// `GET path` on 127.0.0.1:`port`, the whole answer as text.
async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("metrics port open");
    stream.write_all(format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n").as_bytes()).await.expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("answer");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_reports_the_outbox_depth_that_status_shows() {
    use crate::harness::{commitment, free_port, prepare, records_client, run, settled_head, NodeProcess, NodeSpec};
    let root = tempfile::tempdir().expect("tempdir");
    // The district is not running: everything the school writes waits in its outbox.
    let spec = NodeSpec {
        org: "VN.BT.D03.S017",
        level: "school",
        port: 0,
        parent: Some(("VN.BT.D03", free_port())),
        batch_size: 64,
        compression: "zstd",
    };
    let (district, _) = prepare(
        &root.path().join("district"),
        &NodeSpec { org: "VN.BT.D03", level: "district", port: 0, parent: None, batch_size: 64, compression: "zstd" },
    );
    let (school, _) = prepare(&root.path().join("school"), &spec);
    crate::harness::enrol(&school, &district);
    let metrics_port = free_port();
    let mut config = std::fs::read_to_string(&school).expect("config");
    config.push_str(&format!("\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"));
    std::fs::write(&school, config).expect("config written");
    let node = NodeProcess::start(&school);
    let mut client = records_client(&node.endpoint()).await;
    for count in 1..=5 {
        let request = edusync_proto::wire::SubmitRecordRequest { record: Some(commitment(count)) };
        client.submit_record(request).await.expect("written");
    }
    let head = settled_head(&mut client, "VN.BT.D03.S017").await;

    let status = run(&["status", "--json", "--node", &node.endpoint()]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    let depth = status["parent"]["outbox_depth"].as_u64().expect("outbox depth");
    assert_eq!(depth, head, "nothing reached the absent district");

    let page = http_get(metrics_port, "/metrics").await;
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.contains("content-type: text/plain; version=0.0.4"), "{page}");
    let reported = page
        .lines()
        .find_map(|line| line.strip_prefix("edusync_outbox_depth{org=\"VN.BT.D03.S017\"} "))
        .and_then(|value| value.trim().parse::<u64>().ok());
    assert_eq!(reported, Some(depth), "{page}");
    assert!(page.contains("edusync_records{org=\"VN.BT.D03.S017\",kind=\"commitment\"} 5"), "{page}");
    assert!(page.contains("edusync_sync_failures_total{org=\"VN.BT.D03.S017\"}"), "{page}");
    assert!(
        page.contains("edusync_incident_reports{org=\"VN.BT.D03.S017\",report=\"phone\",state=\"due\"} 0"),
        "deadlines at risk are reported (none here): {page}"
    );
    let age = page
        .lines()
        .find_map(|line| line.strip_prefix("edusync_oldest_unsent_age_seconds{org=\"VN.BT.D03.S017\"} "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .expect("age reported");
    assert!(age >= 0.0, "{page}");
    assert!(http_get(metrics_port, "/").await.starts_with("HTTP/1.1 404"), "only /metrics is served");
}
