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
