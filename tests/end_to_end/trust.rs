//! Every RPC is authenticated and authorised: the refusals a hostile or
//! mistaken caller meets, with real processes.

use edusync_proto::wire;
use edusync_proto::wire::auth_service_client::AuthServiceClient;

use crate::harness::{
    commitment, enrol, expect_ok, free_port, path, prepare, records_client, run, settled_head, sync_client_as, text,
    NodeProcess, NodeSpec,
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

fn school_spec<'a>(org: &'a str, parent_port: u16) -> NodeSpec<'a> {
    NodeSpec {
        org,
        level: "school",
        port: 0,
        parent: Some(("VN.BT.D03", parent_port)),
        batch_size: 64,
        compression: "zstd",
    }
}

fn district_spec(port: u16) -> NodeSpec<'static> {
    NodeSpec { org: "VN.BT.D03", level: "district", port, parent: None, batch_size: 64, compression: "zstd" }
}

fn rfc3339(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn sync_statements_client(
    endpoint: &str,
    as_node: &std::path::Path,
) -> wire::trust_service_client::TrustServiceClient<edusync_node::SessionChannel> {
    let (channel, bearer) = crate::harness::session_as(endpoint, as_node).await.expect("session");
    wire::trust_service_client::TrustServiceClient::with_interceptor(channel, bearer)
}

async fn session_refusal(endpoint: &str, as_node: &std::path::Path) -> tonic::Status {
    match crate::harness::session_as(endpoint, as_node).await {
        Ok(_) => panic!("a session was opened for {}", as_node.display()),
        Err(status) => status,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_signed_after_its_keys_revocation_is_refused_while_one_signed_before_is_kept() {
    let root = tempfile::tempdir().expect("tempdir");
    let (district_config, _) = prepare(&root.path().join("district"), &district_spec(free_port()));
    let dead = free_port();
    let (school_config, school_key) = prepare(&root.path().join("school"), &school_spec("VN.BT.D03.S017", dead));
    enrol(&school_config, &district_config);
    let district = NodeProcess::start(&district_config);
    let school = NodeProcess::start(&school_config);
    let mut school_client = records_client(&school.endpoint()).await;

    school_client.submit_record(wire::SubmitRecordRequest { record: Some(commitment(3)) }).await.expect("written");
    let signed_before = settled_head(&mut school_client, "VN.BT.D03.S017").await;
    assert!(signed_before > 0);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let effective = rfc3339(chrono::Utc::now());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    school_client.submit_record(wire::SubmitRecordRequest { record: Some(commitment(4)) }).await.expect("written");
    let signed_after = settled_head(&mut school_client, "VN.BT.D03.S017").await;
    assert!(signed_after > signed_before);

    // The school's records travel by file; meanwhile the district learns
    // that the school's key was stolen at `effective`.
    let bundle = root.path().join("school-to-district.bundle");
    let school_url = school.endpoint();
    expect_ok(&["bundle", "export", "--to", "VN.BT.D03", "--out", path(&bundle), "--node", &school_url]);
    let district_url = district.endpoint();
    expect_ok(&[
        "revoke",
        "--node",
        &district_url,
        "--org",
        "VN.BT.D03.S017",
        "--key",
        &school_key,
        "--reason",
        "key-compromise",
        "--effective",
        &effective,
    ]);

    let import = run(&["bundle", "import", path(&bundle), "--node", &district_url]);
    let stdout = text(&import.stdout);
    assert_eq!(import.status.code(), Some(2), "refusals make the import fail: {stdout}{}", text(&import.stderr));
    assert!(stdout.contains(&format!("refused seq {}:", signed_before + 1)), "{stdout}");
    assert!(stdout.contains("was revoked by VN.BT.D03"), "{stdout}");
    assert!(stdout.contains("(key compromise)"), "{stdout}");
    assert_eq!(
        crate::harness::checkpoint(&district_url, "VN.BT.D03.S017").await,
        Some(signed_before),
        "what was signed before the revocation is kept; nothing signed after it is stored"
    );

    // Online, the revoked key opens no session at all.
    let status = session_refusal(&district_url, &school_config).await;
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("was revoked"), "{}", status.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_outside_its_issuers_scope_is_refused_everywhere() {
    let root = tempfile::tempdir().expect("tempdir");
    let (province_config, district_config, _) = crate::harness::province_and_district(root.path(), 0);
    // An auditor for a school of another district asks D03 to certify it.
    let stranger_reader = root.path().join("stranger-reader.key");
    expect_ok(&["keys", "generate", "--out", path(&stranger_reader)]);
    let request = root.path().join("stranger.req");
    expect_ok(&[
        "enroll",
        "request",
        "--key",
        path(&stranger_reader),
        "--org",
        "VN.BT.D04.S099",
        "--role",
        "auditor",
        "--parent",
        "VN.BT.D03",
        "--out",
        path(&request),
    ]);
    let signed = run(&[
        "enroll",
        "sign",
        "--config",
        path(&district_config),
        "--request",
        path(&request),
        "--out",
        path(&root.path().join("never.cert")),
    ]);
    assert_eq!(signed.status.code(), Some(2), "{}", text(&signed.stderr));
    assert!(text(&signed.stderr).contains("outside this node's scope VN.BT.D03"), "{}", text(&signed.stderr));
    assert!(!root.path().join("never.cert").exists());

    // A district that forges a node certificate anyway (its own key, by
    // hand) for a school of another district convinces nobody.
    let (stranger_config, _) = prepare(
        &root.path().join("stranger"),
        &NodeSpec {
            org: "VN.BT.D04.S099",
            level: "school",
            port: 0,
            parent: Some(("VN.BT.D04", free_port())),
            batch_size: 64,
            compression: "zstd",
        },
    );
    let district_key = {
        let config = edusync_config::NodeConfig::load(&district_config).expect("config");
        edusync_node::load_key(&config.data_dir).expect("key")
    };
    let stranger = edusync_config::NodeConfig::load(&stranger_config).expect("config");
    let stranger_key = edusync_node::load_key(&stranger.data_dir).expect("key");
    let now = chrono::Utc::now().timestamp_millis();
    let forged = edusync_trust::Statement::Certificate(edusync_trust::Certificate {
        subject_key: stranger_key.public_key(),
        subject_org: stranger.organisation.id.clone(),
        role: edusync_trust::Role::Node(edusync_core::Level::School),
        issuer_org: edusync_core::OrgId::parse("issuer", "VN.BT.D03").expect("org"),
        version: 1,
        not_before_ms: now - 60_000,
        not_after_ms: now + 86_400_000,
        issued_ms: now,
    })
    .sign(&[&district_key]);
    let province = NodeProcess::start(&province_config);
    let mut pushed = sync_statements_client(&province.endpoint(), &district_config).await;
    let answer = pushed
        .push_statements(wire::PushStatementsRequest { statements: vec![forged.clone()] })
        .await
        .expect("the call itself is allowed to a child")
        .into_inner();
    assert_eq!(answer.added, 0);
    let [refusal] = answer.refused.as_slice() else { panic!("one refusal expected: {answer:?}") };
    assert!(refusal.reason.contains("lies outside its issuer's scope"), "{}", refusal.reason);

    // The stranger presenting the forged chain gets no session either.
    let district_chain = {
        let file = std::fs::read_to_string(root.path().join("district/enrol.cert")).expect("district chain");
        edusync_trust::dearmor(&file).expect("armored")
    };
    let mut certificates = district_chain;
    certificates.push(forged);
    let channel = tonic::transport::Endpoint::from_shared(province.endpoint())
        .expect("url")
        .connect()
        .await
        .expect("province up");
    let status = edusync_node::open_session(channel, &stranger.organisation.id, &stranger_key, certificates)
        .await
        .expect_err("no session for an out-of-scope certificate");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("lies outside its issuer's scope"), "{}", status.message());

    // Nothing of it was kept: the province knows two certificates, the district's and its own.
    let (channel, bearer) = crate::harness::operator_session(&province.endpoint()).await.expect("operator");
    let mut trust = wire::trust_service_client::TrustServiceClient::with_interceptor(channel, bearer);
    let held = trust.get_trust(wire::GetTrustRequest {}).await.expect("trust").into_inner();
    assert!(
        held.certificates.iter().all(|certificate| certificate.subject_org != "VN.BT.D04.S099"),
        "{:?}",
        held.certificates
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_is_refused_outside_the_clock_skew_grace_and_accepted_inside_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let (district_config, _) = prepare(&root.path().join("district"), &district_spec(district_port));
    // The harness's nodes allow 300 s of clock skew.
    let (inside, _) = prepare(&root.path().join("s17"), &school_spec("VN.BT.D03.S017", district_port));
    let (outside, _) = prepare(&root.path().join("s18"), &school_spec("VN.BT.D03.S018", free_port()));
    let district = NodeProcess::start(&district_config);
    let district_url = district.endpoint();
    let certify = |config: &std::path::Path, not_after: chrono::DateTime<chrono::Utc>| {
        let dir = config.parent().expect("dir");
        let (request, certificate) = (dir.join("enrol.req"), dir.join("enrol.cert"));
        expect_ok(&["enroll", "request", "--config", path(config), "--out", path(&request)]);
        expect_ok(&[
            "enroll",
            "sign",
            "--node",
            &district_url,
            "--request",
            path(&request),
            "--out",
            path(&certificate),
            "--not-after",
            &rfc3339(not_after),
        ]);
        run(&["enroll", "install", "--config", path(config), "--file", path(&certificate)])
    };
    let now = chrono::Utc::now();
    let installed = certify(&inside, now - chrono::Duration::seconds(60));
    assert!(installed.status.success(), "expired 60 s ago, inside the grace: {}", text(&installed.stderr));
    let installed = certify(&outside, now - chrono::Duration::hours(1));
    assert_eq!(installed.status.code(), Some(2), "{}", text(&installed.stderr));
    assert!(text(&installed.stderr).contains("expired at"), "{}", text(&installed.stderr));
    assert!(text(&installed.stderr).contains("grace 300 s"), "{}", text(&installed.stderr));

    // Inside the grace: the school syncs and its records are stored.
    let school = NodeProcess::start(&inside);
    let mut school_client = records_client(&school.endpoint()).await;
    school_client.submit_record(wire::SubmitRecordRequest { record: Some(commitment(2)) }).await.expect("written");
    let head = settled_head(&mut school_client, "VN.BT.D03.S017").await;
    crate::harness::wait_until(std::time::Duration::from_secs(60), "the school's records at the district", || {
        let url = district_url.clone();
        async move { crate::harness::checkpoint(&url, "VN.BT.D03.S017").await == Some(head) }
    })
    .await;

    // Outside it: no session, and a bundle from that key stores nothing.
    let status = session_refusal(&district_url, &outside).await;
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("expired at"), "{}", status.message());
    let stale = NodeProcess::start(&outside);
    let mut stale_client = records_client(&stale.endpoint()).await;
    stale_client.submit_record(wire::SubmitRecordRequest { record: Some(commitment(2)) }).await.expect("written");
    settled_head(&mut stale_client, "VN.BT.D03.S018").await;
    let bundle = root.path().join("s18.bundle");
    expect_ok(&["bundle", "export", "--to", "VN.BT.D03", "--out", path(&bundle), "--node", &stale.endpoint()]);
    let import = run(&["bundle", "import", path(&bundle), "--node", &district_url]);
    assert_eq!(import.status.code(), Some(2), "{}", text(&import.stdout));
    assert!(text(&import.stderr).contains("expired at"), "{}", text(&import.stderr));
    assert_eq!(crate::harness::checkpoint(&district_url, "VN.BT.D03.S018").await, Some(0), "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_reads_inside_its_scope_and_may_never_push() {
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let (district_config, _) = prepare(&root.path().join("district"), &district_spec(district_port));
    let (school_config, _) = prepare(&root.path().join("school"), &school_spec("VN.BT.D03.S017", district_port));
    enrol(&school_config, &district_config);
    let district = NodeProcess::start(&district_config);
    let district_url = district.endpoint();

    // A data officer for the whole district, and one for a single school.
    let reader = |name: &str, scope: &str| {
        let (key, request, certificate) = (
            root.path().join(format!("{name}.key")),
            root.path().join(format!("{name}.req")),
            root.path().join(format!("{name}.cert")),
        );
        expect_ok(&["keys", "generate", "--out", path(&key)]);
        expect_ok(&[
            "enroll",
            "request",
            "--key",
            path(&key),
            "--org",
            scope,
            "--role",
            "data-officer",
            "--parent",
            "VN.BT.D03",
            "--out",
            path(&request),
        ]);
        expect_ok(&[
            "enroll",
            "sign",
            "--node",
            &district_url,
            "--request",
            path(&request),
            "--out",
            path(&certificate),
        ]);
        (key, certificate)
    };
    let (officer_key, officer_cert) = reader("officer", "VN.BT.D03");
    let (narrow_key, narrow_cert) = reader("narrow", "VN.BT.D03.S017");

    let as_reader = |key: &std::path::Path, certificate: &std::path::Path| {
        vec![
            "status".to_owned(),
            "--node".to_owned(),
            district_url.clone(),
            "--identity".to_owned(),
            path(key).to_owned(),
            "--certificate".to_owned(),
            path(certificate).to_owned(),
        ]
    };
    let args = as_reader(&officer_key, &officer_cert);
    let read = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(read.status.success(), "the district's officer reads it: {}", text(&read.stderr));
    let args = as_reader(&narrow_key, &narrow_cert);
    let read = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(read.status.code(), Some(4), "{}", text(&read.stderr));
    assert!(text(&read.stderr).contains("outside the reader's scope VN.BT.D03.S017"), "{}", text(&read.stderr));

    // The officer, with a valid session, tries every way in.
    let key =
        edusync_envelope::NodeKey::from_pkcs8_pem(&std::fs::read_to_string(&officer_key).expect("key")).expect("pem");
    let chain = edusync_trust::dearmor(&std::fs::read_to_string(&officer_cert).expect("cert")).expect("armored");
    let channel =
        tonic::transport::Endpoint::from_shared(district_url.clone()).expect("url").connect().await.expect("up");
    let scope = edusync_core::OrgId::parse("scope", "VN.BT.D03").expect("org");
    let session = edusync_node::open_session(channel.clone(), &scope, &key, chain).await.expect("reader session");

    let mut sync =
        wire::sync_service_client::SyncServiceClient::with_interceptor(channel.clone(), session.bearer.clone());
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    sender.send(wire::PushBatch { batch_number: 1, envelopes: vec![] }).await.expect("send");
    drop(sender);
    let pushed = match sync.push_envelopes(tokio_stream::wrappers::ReceiverStream::new(receiver)).await {
        Err(status) => Err(status),
        Ok(response) => response.into_inner().message().await.map(|_| ()),
    };
    let status = pushed.expect_err("a reader cannot push");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("may read, never push"), "{}", status.message());

    let mut trust =
        wire::trust_service_client::TrustServiceClient::with_interceptor(channel.clone(), session.bearer.clone());
    let status = trust
        .push_statements(wire::PushStatementsRequest { statements: vec![] })
        .await
        .expect_err("nor push statements");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");

    let mut records = wire::record_service_client::RecordServiceClient::with_interceptor(channel, session.bearer);
    let status = records
        .submit_record(wire::SubmitRecordRequest { record: Some(commitment(1)) })
        .await
        .expect_err("nor write records");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    let info = records.get_node_info(wire::GetNodeInfoRequest {}).await.expect("but it reads").into_inner();
    assert_eq!(info.org_id, "VN.BT.D03");
    // Not the office's counts by kind (its severe notices among them), nor the notices.
    assert!(info.kinds.is_empty() && info.severe_notices.is_empty(), "{info:?}");
    // A school's shared log holds its aggregates with their exact counts: a data
    // officer reads disclosed tables (Query), never the logs, even inside its scope.
    let status = records
        .read_log(wire::ReadLogRequest {
            author_org: "VN.BT.D03.S017".into(),
            stream: wire::LogStream::Shared as i32,
            from_seq: 1,
            limit: 10,
        })
        .await
        .expect_err("a data officer reads no log");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("exact counts"), "{}", status.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_signs_on_while_what_the_old_key_signed_before_stays_valid() {
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let (district_config, _) = prepare(&root.path().join("district"), &district_spec(district_port));
    let (school_config, old_key) = prepare(&root.path().join("school"), &school_spec("VN.BT.D03.S017", district_port));
    enrol(&school_config, &district_config);
    let district = NodeProcess::start(&district_config);
    let district_url = district.endpoint();
    let synced = |head: u64| {
        let url = district_url.clone();
        async move { crate::harness::checkpoint(&url, "VN.BT.D03.S017").await == Some(head) }
    };

    let school = NodeProcess::start(&school_config);
    let mut school_client = records_client(&school.endpoint()).await;
    school_client.submit_record(wire::SubmitRecordRequest { record: Some(commitment(5)) }).await.expect("written");
    let before = settled_head(&mut school_client, "VN.BT.D03.S017").await;
    crate::harness::wait_until(std::time::Duration::from_secs(60), "the old key's records", || synced(before)).await;
    school.kill9();

    let dir = root.path().join("school");
    let (request, certificate) = (dir.join("rotate.req"), dir.join("rotate.cert"));
    expect_ok(&["keys", "rotate", "--config", path(&school_config), "--out", path(&request)]);
    expect_ok(&["enroll", "sign", "--node", &district_url, "--request", path(&request), "--out", path(&certificate)]);
    let installed = expect_ok(&["enroll", "install", "--config", path(&school_config), "--file", path(&certificate)]);
    assert!(text(&installed.stdout).contains("certificate version 2"), "{}", text(&installed.stdout));
    let new_key = std::fs::read_to_string(dir.join("data/node.pub")).expect("public key").trim().to_owned();
    assert_ne!(new_key, old_key, "the node's key changed");

    // The new key signs on; the district keeps what the old key signed before.
    let school = NodeProcess::start(&school_config);
    let mut school_client = records_client(&school.endpoint()).await;
    school_client.submit_record(wire::SubmitRecordRequest { record: Some(commitment(6)) }).await.expect("written");
    let after = settled_head(&mut school_client, "VN.BT.D03.S017").await;
    assert!(after > before);
    crate::harness::wait_until(std::time::Duration::from_secs(60), "the new key's records", || synced(after)).await;
    let envelopes = crate::harness::whole_log(&mut school_client, "VN.BT.D03.S017").await;
    let signers: std::collections::BTreeSet<String> = envelopes
        .iter()
        .map(|bytes| edusync_envelope::EnvelopeView::parse(bytes).expect("envelope").header.author_key.to_base64())
        .collect();
    assert_eq!(signers, [old_key.clone(), new_key].into_iter().collect(), "both keys' records are in the log");

    // The old key, retired, opens nothing; the old certificate cannot be reinstalled.
    let retired = std::fs::read_dir(dir.join("data"))
        .expect("data dir")
        .map_while(Result::ok)
        .find(|entry| entry.file_name().to_string_lossy().starts_with("node.key.retired-"))
        .expect("the old key is kept for the operator to destroy");
    let retired_key =
        edusync_envelope::NodeKey::from_pkcs8_pem(&std::fs::read_to_string(retired.path()).expect("read"))
            .expect("pem");
    assert_eq!(retired_key.public_key().to_base64(), old_key);
    let channel =
        tonic::transport::Endpoint::from_shared(district_url.clone()).expect("url").connect().await.expect("up");
    let org = edusync_core::OrgId::parse("org", "VN.BT.D03.S017").expect("org");
    let status =
        edusync_node::open_session(channel, &org, &retired_key, vec![]).await.expect_err("the old key is retired");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("rotated out"), "{}", status.message());
    let school_url = school.endpoint();
    let reinstalled = run(&["enroll", "install", "--node", &school_url, "--file", path(&dir.join("enrol.cert"))]);
    assert_eq!(reinstalled.status.code(), Some(2), "{}", text(&reinstalled.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_syncs_over_tls_and_nothing_readable_crosses_the_wire() {
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let (district_config, _) = prepare(&root.path().join("district"), &district_spec(district_port));
    let proxy = crate::harness::RecordingProxy::start(district_port).await;
    let (school_config, _) = prepare(&root.path().join("school"), &school_spec("VN.BT.D03.S017", proxy.port));
    enrol(&school_config, &district_config);
    let tls = root.path().join("district/tls");
    expect_ok(&["tls", "generate", "--out-dir", path(&tls)]);
    // The district serves TLS only; the school trusts the district's ca.crt.
    let edit = |config: &std::path::Path, from: &str, to: &str| {
        let text = std::fs::read_to_string(config).expect("config");
        assert!(text.contains(from), "{text}");
        std::fs::write(config, text.replacen(from, to, 1)).expect("config written");
    };
    let served = format!("127.0.0.1:{district_port}\"\nplaintext = true\n");
    edit(&district_config, &served, &format!("127.0.0.1:{district_port}\"\n"));
    let mut served_config = std::fs::read_to_string(&district_config).expect("config");
    served_config.push_str(
        "\n[server.tls]\ncertificate = \"tls/server.crt\"\nkey = \"tls/server.key\"\nca_certificate = \"tls/ca.crt\"\n",
    );
    std::fs::write(&district_config, served_config).expect("config written");
    let reached = format!("endpoint = \"http://127.0.0.1:{}\"\nplaintext = true\n", proxy.port);
    let ca = tls.join("ca.crt");
    edit(
        &school_config,
        &reached,
        &format!("endpoint = \"https://127.0.0.1:{}\"\nca_certificate = \"{}\"\n", proxy.port, path(&ca)),
    );

    let _district = NodeProcess::start(&district_config);
    let school = NodeProcess::start(&school_config);
    let mut school_client = records_client(&school.endpoint()).await;
    school_client.submit_record(wire::SubmitRecordRequest { record: Some(commitment(7)) }).await.expect("written");
    let head = settled_head(&mut school_client, "VN.BT.D03.S017").await;
    let district_status = || run(&["status", "--config", path(&district_config)]);
    // The operator's way to wait for a catch-up: it exits 0 once the parent holds everything.
    let followed = run(&["status", "--follow", "--timeout", "60", "--node", &school.endpoint()]);
    assert!(followed.status.success(), "never synced over TLS: {}", text(&followed.stderr));
    assert!(
        text(&followed.stdout).contains(&format!("in sync: the parent holds all {head} records")),
        "{}",
        text(&followed.stdout)
    );
    let status = run(&["status", "--node", &school.endpoint()]);
    assert!(text(&status.stdout).contains(&format!("acknowledged   seq {head} of {head}")), "{}", text(&status.stdout));
    let status = district_status();
    assert!(status.status.success(), "the operator reaches its TLS node by its config: {}", text(&status.stderr));

    // On the wire: no org id, no record, only TLS.
    let captured = proxy.captured();
    assert!(captured.len() > 1000, "the sync went through the proxy");
    let readable = |needle: &[u8]| captured.windows(needle.len()).any(|window| window == needle);
    assert!(!readable(b"VN.BT.D03.S017"), "an org id crossed the wire in the clear");
    assert!(!readable(b"edusync.v1"), "a gRPC method name crossed the wire in the clear");

    // A plaintext client gets no answer from a TLS-only node.
    let plaintext =
        run(&["status", "--node", &format!("http://127.0.0.1:{district_port}"), "--config", path(&district_config)]);
    assert_eq!(plaintext.status.code(), Some(3), "{}", text(&plaintext.stderr));
    assert!(text(&plaintext.stderr).contains("use https://"), "{}", text(&plaintext.stderr));
    // And a client that trusts another CA refuses the node's certificate.
    let other = root.path().join("other-tls");
    expect_ok(&["tls", "generate", "--out-dir", path(&other)]);
    let wrong = run(&[
        "status",
        "--node",
        &format!("https://127.0.0.1:{district_port}"),
        "--config",
        path(&district_config),
        "--ca",
        path(&other.join("ca.crt")),
    ]);
    assert_eq!(wrong.status.code(), Some(3), "{}", text(&wrong.stderr));
    assert!(text(&wrong.stderr).contains("invalid peer certificate"), "{}", text(&wrong.stderr));

    // A handshake dribbled a byte every two seconds (never idle, never done)
    // is cut at the handshake timeout.
    use std::io::{Read, Write};
    let started = std::time::Instant::now();
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", district_port)).expect("connects");
    slow.set_read_timeout(Some(std::time::Duration::from_secs(2))).expect("timeout");
    // A TLS handshake record header announcing 512 bytes that never all come.
    slow.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).expect("header");
    let mut answer = [0u8; 64];
    loop {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "a handshake that never finishes held its socket for 30 s"
        );
        match slow.read(&mut answer) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
        if slow.write_all(&[0x01]).is_err() {
            break;
        }
    }
    assert!(
        started.elapsed() >= crate::harness::tls_handshake_timeout() - std::time::Duration::from_secs(1),
        "closed before the handshake timeout: refused for something else"
    );
}

/// The number of revocations the node at `endpoint` holds (as its operator).
async fn revocations_held(endpoint: &str) -> u32 {
    let Ok((channel, bearer)) = crate::harness::operator_session(endpoint).await else { return 0 };
    let mut trust = wire::trust_service_client::TrustServiceClient::with_interceptor(channel, bearer);
    trust.get_trust(wire::GetTrustRequest {}).await.map_or(0, |info| info.into_inner().revocations)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_enrols_online_with_an_operators_approval_and_a_revocation_travels_up_and_down() {
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let (province_config, district_config, _) = crate::harness::province_and_district(root.path(), district_port);
    let (online, _) = prepare(&root.path().join("s17"), &school_spec("VN.BT.D03.S017", district_port));
    let (by_file, by_file_key) = prepare(&root.path().join("s18"), &school_spec("VN.BT.D03.S018", district_port));
    enrol(&by_file, &district_config);
    let province = NodeProcess::start(&province_config);
    let district = NodeProcess::start(&district_config);
    let district_url = district.endpoint();
    let school = NodeProcess::start(&online);

    // The school leaves its request at the district by itself; nothing of it is accepted yet.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let request_id = loop {
        let listed = expect_ok(&["enroll", "pending", "--node", &district_url]);
        let line = text(&listed.stdout).lines().find(|line| line.contains("VN.BT.D03.S017")).map(str::to_owned);
        if let Some(id) = line.and_then(|line| line.split_whitespace().next().map(str::to_owned)) {
            break id;
        }
        assert!(std::time::Instant::now() < deadline, "the school's request never reached the district");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(request_id.len(), 64, "a request id: {request_id}");
    let mut school_client = records_client(&school.endpoint()).await;
    school_client.submit_record(wire::SubmitRecordRequest { record: Some(commitment(3)) }).await.expect("written");
    assert_eq!(crate::harness::checkpoint(&district_url, "VN.BT.D03.S017").await, Some(0), "not before approval");

    expect_ok(&["enroll", "approve", &request_id, "--node", &district_url]);
    let head = settled_head(&mut school_client, "VN.BT.D03.S017").await;
    crate::harness::wait_until(std::time::Duration::from_secs(60), "the approved school's records", || {
        let url = district_url.clone();
        async move { crate::harness::checkpoint(&url, "VN.BT.D03.S017").await == Some(head) }
    })
    .await;

    // The district revokes S018's key: the province (up) and S017 (down) learn it by sync.
    expect_ok(&[
        "revoke",
        "--node",
        &district_url,
        "--org",
        "VN.BT.D03.S018",
        "--key",
        &by_file_key,
        "--reason",
        "decommissioned",
    ]);
    let (province_url, school_url) = (province.endpoint(), school.endpoint());
    crate::harness::wait_until(std::time::Duration::from_secs(60), "the revocation at the province", || {
        let url = province_url.clone();
        async move { revocations_held(&url).await == 1 }
    })
    .await;
    crate::harness::wait_until(std::time::Duration::from_secs(60), "the revocation at the sibling school", || {
        let url = school_url.clone();
        async move { revocations_held(&url).await == 1 }
    })
    .await;
    let status = session_refusal(&district_url, &by_file).await;
    assert!(status.message().contains("was revoked"), "{}", status.message());
}

/// Anyone may leave an enrolment request without a session: one source gets
/// a few a minute, and the operator rejects requests by id or clears them by age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_flood_from_one_source_is_limited_and_the_operator_clears_it() {
    use edusync_proto::wire::trust_service_client::TrustServiceClient;
    let root = tempfile::tempdir().expect("tempdir");
    let (district, _) = crate::harness::start_lone_node(root.path(), "VN.BT.D03", "district");
    let channel = tonic::transport::Endpoint::from_shared(district.endpoint())
        .expect("endpoint")
        .connect()
        .await
        .expect("connects");
    let mut trust = TrustServiceClient::new(channel);
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut accepted = Vec::new();
    let refusal = loop {
        let key = edusync_envelope::NodeKey::generate();
        let request = edusync_trust::EnrolmentRequest {
            subject_org: edusync_core::OrgId::parse("org", &format!("VN.BT.D03.X{}", accepted.len())).expect("valid"),
            role: edusync_trust::Role::Node(edusync_core::Level::School),
            parent_org: edusync_core::OrgId::parse("org", "VN.BT.D03").expect("valid"),
            subject_key: key.public_key(),
            previous_key: None,
            created_ms: an_hour_ago.timestamp_millis(),
        };
        let text = edusync_trust::armor(&[edusync_trust::Statement::EnrolmentRequest(request).sign(&[&key])]);
        match trust.submit_enrolment(wire::StatementFile { text }).await {
            Ok(receipt) => accepted.push(receipt.into_inner().request_id),
            Err(status) => break status,
        }
        assert!(accepted.len() <= 100, "one source left 100 requests without being limited");
    };
    assert_eq!(refusal.code(), tonic::Code::ResourceExhausted, "{refusal:?}");
    assert!(refusal.message().contains("127.0.0.1"), "the refusal names the source: {}", refusal.message());
    assert!(accepted.len() >= 5, "a few requests a minute still get through");

    let endpoint = district.endpoint();
    let rejected = run(&["enroll", "reject", &accepted[0][..10], "--node", &endpoint]);
    assert!(rejected.status.success(), "{}", text(&rejected.stderr));
    assert!(text(&rejected.stdout).contains(&accepted[0]), "{}", text(&rejected.stdout));
    let ambiguous = run(&["enroll", "reject", "0123", "--node", &endpoint]);
    assert_eq!(ambiguous.status.code(), Some(2), "a prefix under 8 digits: {}", text(&ambiguous.stderr));
    let cleared = run(&["enroll", "pending", "--clear-older-than", "30m", "--node", &endpoint]);
    assert!(cleared.status.success(), "{}", text(&cleared.stderr));
    assert!(
        text(&cleared.stdout).contains(&format!("dropped {} request(s)", accepted.len() - 1)),
        "{}",
        text(&cleared.stdout)
    );
    assert!(text(&cleared.stdout).contains("no enrolment request is waiting"), "{}", text(&cleared.stdout));
}

/// A district certifies a key of its own choosing for its school (a second
/// `init` of the school's config, enrolled by the district): the school
/// sees the certificate come down and reports an identity alert in
/// `edusync status` (JSON, and in Vietnamese as its operator reads it).
#[test]
fn a_school_raises_an_alert_when_its_parent_certifies_another_key_for_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let (school_config, district_config, school, district) = crate::harness::running_school_and_district(root.path());
    let path = |path: &std::path::Path| path.to_str().expect("utf-8").to_owned();
    let status = || {
        let output = run(&["status", "--node", &school.endpoint(), "--config", &path(&school_config), "--json"]);
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap_or_default()
    };
    assert_eq!(status()["identity_alerts"].as_array().map(Vec::len), Some(0), "{}", status());

    let thief_dir = root.path().join("thief");
    std::fs::create_dir_all(&thief_dir).expect("mkdir");
    let thief_config = thief_dir.join("node.toml");
    std::fs::copy(&school_config, &thief_config).expect("copy");
    let init = run(&["init", "--config", &path(&thief_config)]);
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let request = thief_dir.join("thief.req");
    let asked = run(&["enroll", "request", "--config", &path(&thief_config), "--out", &path(&request)]);
    assert!(asked.status.success(), "{}", String::from_utf8_lossy(&asked.stderr));
    let signed = run(&[
        "enroll",
        "sign",
        "--request",
        &path(&request),
        "--out",
        &path(&thief_dir.join("thief.cert")),
        "--node",
        &district.endpoint(),
        "--config",
        &path(&district_config),
    ]);
    assert!(signed.status.success(), "{}", String::from_utf8_lossy(&signed.stderr));

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let alerts = loop {
        let alerts = status()["identity_alerts"].as_array().cloned().unwrap_or_default();
        if !alerts.is_empty() {
            break alerts;
        }
        assert!(std::time::Instant::now() < deadline, "the school never noticed the certificate: {}", status());
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let plain = run(&["status", "--node", &school.endpoint(), "--config", &path(&school_config), "--language", "vi"]);
    assert!(
        String::from_utf8_lossy(&plain.stdout).contains("NGHIÊM TRỌNG"),
        "{}",
        String::from_utf8_lossy(&plain.stdout)
    );
}
