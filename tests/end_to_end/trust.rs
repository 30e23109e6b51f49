//! Every RPC is authenticated and authorised: the refusals a hostile or
//! mistaken caller meets, with real processes.

use edusync_proto::wire;
use edusync_proto::wire::auth_service_client::AuthServiceClient;

use crate::harness::{
    commitment, enrol, free_port, prepare, records_client, settled_head, sync_client_as, NodeProcess, NodeSpec,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_pushing_another_schools_records_and_a_replayed_session_are_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let spec = |org, level, port, parent| NodeSpec { org, level, port, parent, batch_size: 64, compression: "zstd" };
    let (district_config, _) =
        prepare(&root.path().join("district"), &spec("VN.BT.D03", "district", district_port, None));
    // Both schools point at a closed port: the test pushes by hand.
    let dead = free_port();
    let (s17, _) = prepare(&root.path().join("s17"), &spec("VN.BT.D03.S017", "school", 0, Some(("VN.BT.D03", dead))));
    let (s18, _) = prepare(&root.path().join("s18"), &spec("VN.BT.D03.S018", "school", 0, Some(("VN.BT.D03", dead))));
    enrol(&s17, &district_config);
    enrol(&s18, &district_config);
    let district = NodeProcess::start(&district_config);
    let school = NodeProcess::start(&s17);
    let mut school_client = records_client(&school.endpoint()).await;
    school_client.submit_record(wire::SubmitRecordRequest { record: Some(commitment(3)) }).await.expect("written");
    settled_head(&mut school_client, "VN.BT.D03.S017").await;
    let envelopes = crate::harness::whole_log(&mut school_client, "VN.BT.D03.S017").await;

    // S018, certified and authenticated, pushes S017's records: refused whole, nothing stored.
    let mut impostor = sync_client_as(&district.endpoint(), &s18).await;
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    let batch = envelopes.iter().cloned().map(|envelope| wire::SignedEnvelope { envelope }).collect();
    sender.send(wire::PushBatch { batch_number: 1, envelopes: batch }).await.expect("send");
    drop(sender);
    let outcome = match impostor.push_envelopes(tokio_stream::wrappers::ReceiverStream::new(receiver)).await {
        Err(status) => Err(status),
        Ok(response) => response.into_inner().message().await.map(|_| ()),
    };
    let status = outcome.expect_err("another school's records are refused");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("only records it wrote itself"), "{}", status.message());
    assert_eq!(crate::harness::checkpoint(&district.endpoint(), "VN.BT.D03.S017").await, Some(0), "nothing stored");

    // Without a session nothing is served.
    let channel =
        tonic::transport::Endpoint::from_shared(district.endpoint()).expect("url").connect().await.expect("up");
    let mut anonymous = wire::record_service_client::RecordServiceClient::new(channel.clone());
    let status = anonymous.get_node_info(wire::GetNodeInfoRequest {}).await.expect_err("no session");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");

    // A recorded OpenSession, sent again, opens nothing.
    let config = edusync_config::NodeConfig::load(&s18).expect("config");
    let key = edusync_node::load_key(&config.data_dir).expect("key");
    let mut auth = AuthServiceClient::new(channel);
    let challenge = auth.get_challenge(wire::GetChallengeRequest {}).await.expect("challenge").into_inner();
    let nonce: [u8; 32] = challenge.challenge.as_slice().try_into().expect("32 bytes");
    let server = edusync_core::OrgId::parse("server", &challenge.server_org).expect("org");
    let signature = edusync_trust::sign_session(&key, &nonce, &server, &config.organisation.id);
    let request = wire::OpenSessionRequest {
        challenge: nonce.to_vec(),
        caller_org: config.organisation.id.to_string(),
        caller_key: key.public_key().0.to_vec(),
        signature: signature.to_vec(),
        certificates: vec![],
    };
    auth.open_session(request.clone()).await.expect("first use opens a session");
    let status = auth.open_session(request).await.expect_err("the replay is refused");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("already used"), "{}", status.message());
}
