//! Sockets anyone can open without a session: idle ones cannot lock out a
//! real client or a child coming to sync, and the silent ones are closed.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use edusync_proto::wire;

use crate::harness::{checkpoint, commitment, free_port, records_client, school_and_district, NodeProcess};

const SCHOOL: &str = "VN.BT.D03.S017";
const CAP: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_cap_never_lock_out_a_client_or_a_childs_sync() {
    let root = tempfile::tempdir().expect("tempdir");
    let district_port = free_port();
    let (school_config, district_config) = school_and_district(root.path(), district_port, district_port, 64, "zstd");
    let text = std::fs::read_to_string(&district_config).expect("config");
    std::fs::write(&district_config, text.replacen("[server]\n", &format!("[server]\nmax_connections = {CAP}\n"), 1))
        .expect("config");
    let district = NodeProcess::start(&district_config);

    // Three times the cap in sockets that never say a word: silent ones give
    // way first to anyone who comes next.
    let idle: Vec<TcpStream> =
        (0..3 * CAP).map(|_| TcpStream::connect(district.address).expect("the port accepts")).collect();

    let info = records_client(&district.endpoint())
        .await
        .get_node_info(wire::GetNodeInfoRequest {})
        .await
        .expect("a real client is served while idle sockets hold every place");
    assert_eq!(info.into_inner().org_id, "VN.BT.D03");

    let school = NodeProcess::start(&school_config);
    let written = records_client(&school.endpoint())
        .await
        .submit_record(wire::SubmitRecordRequest { record: Some(commitment(7)) })
        .await
        .expect("the school writes")
        .into_inner();
    let seq = written.header.map_or(0, |header| header.seq);
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoint(&district.endpoint(), SCHOOL).await.unwrap_or(0) < seq {
        assert!(Instant::now() < deadline, "the child's sync was locked out by idle sockets");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every silent socket is closed by the node: made room for others, or
    // closed for sending nothing within its first seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    for mut socket in idle {
        socket
            .set_read_timeout(Some(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))))
            .expect("timeout");
        // The server may greet first (HTTP/2 settings); what counts is that it hangs up.
        let mut greeting = Vec::new();
        match socket.read_to_end(&mut greeting) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(error) => panic!("a silent socket was kept open: {error}"),
        }
    }
}
