//! Sockets anyone can open without a session: idle ones cannot lock out a
//! real client or a child coming to sync, and the silent ones are closed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edusync_proto::wire;

use crate::harness::{checkpoint, commitment, free_port, records_client, run, school_and_district, NodeProcess};

const SCHOOL: &str = "VN.BT.D03.S017";
const CAP: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_cap_never_lock_out_a_client_or_a_childs_sync() {
    let root = tempfile::tempdir().expect("tempdir");
    let (school_config, _district_config, district) = district_with_cap(root.path());

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

    let _school = school_writes_and_syncs(&school_config, &district, "idle sockets").await;

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

/// A school (not started) and its district, running with `max_connections = CAP`:
/// both configs and the district's process.
fn district_with_cap(root: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, NodeProcess) {
    let district_port = free_port();
    let (school_config, district_config) = school_and_district(root, district_port, district_port, 64, "zstd");
    let text = std::fs::read_to_string(&district_config).expect("config");
    std::fs::write(&district_config, text.replacen("[server]\n", &format!("[server]\nmax_connections = {CAP}\n"), 1))
        .expect("config");
    let district = NodeProcess::start(&district_config);
    (school_config, district_config, district)
}

/// Starts the school, writes a record there and waits until the district
/// holds it; the school's process is returned to keep it running.
async fn school_writes_and_syncs(school_config: &std::path::Path, district: &NodeProcess, attack: &str) -> NodeProcess {
    let school = NodeProcess::start(school_config);
    let written = records_client(&school.endpoint())
        .await
        .submit_record(wire::SubmitRecordRequest { record: Some(commitment(7)) })
        .await
        .expect("the school writes")
        .into_inner();
    let seq = written.header.map_or(0, |header| header.seq);
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoint(&district.endpoint(), SCHOOL).await.unwrap_or(0) < seq {
        assert!(Instant::now() < deadline, "the child's sync was locked out by {attack}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    school
}

/// An endless, valid start of an HTTP/2 connection: the preface, then
/// SETTINGS frames of 600 zero bytes (unknown settings, ignored), so a
/// server reading it never sees an error, only slow progress.
fn dribble_byte(index: usize) -> u8 {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const SETTINGS_HEADER: [u8; 9] = [0x00, 0x02, 0x58, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00];
    match index.checked_sub(PREFACE.len()) {
        None => PREFACE[index],
        Some(after) => SETTINGS_HEADER.get(after % 609).copied().unwrap_or(0),
    }
}

/// Holds `sockets` connections to `address`, each sending one byte every
/// 50 ms and opened again as soon as the node closes it, until `stop`;
/// returns how many times the node closed or refused one.
fn slowloris(address: std::net::SocketAddr, sockets: usize, stop: Arc<AtomicBool>) -> usize {
    let mut held: Vec<Option<(TcpStream, usize)>> = (0..sockets).map(|_| None).collect();
    let mut closed = 0;
    while !stop.load(Ordering::Relaxed) {
        for slot in &mut held {
            if slot.is_none() {
                *slot = TcpStream::connect(address).ok().map(|socket| (socket, 0));
            }
            let Some((socket, sent)) = slot else { continue };
            if socket.write_all(&[dribble_byte(*sent)]).is_ok() {
                *sent += 1;
            } else {
                *slot = None;
                closed += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    closed
}

/// Twice the cap in sockets dribbling a valid HTTP/2 start and reconnecting
/// whenever they are closed: a node judges connections by requests, not
/// bytes, so the operator's `edusync status` is served throughout, a child
/// still syncs, and the dribblers are closed again and again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dribbling_sockets_that_reconnect_never_lock_out_a_client_or_a_childs_sync() {
    let root = tempfile::tempdir().expect("tempdir");
    let (school_config, district_config, district) = district_with_cap(root.path());

    let stop = Arc::new(AtomicBool::new(false));
    let attack = {
        let (address, stop) = (district.address, Arc::clone(&stop));
        std::thread::spawn(move || slowloris(address, 2 * CAP, stop))
    };

    // Past the time a connection has for its first request, so the
    // dribblers have been closed and have come back at least once.
    let started = Instant::now();
    let mut served = 0;
    while served < 3 || started.elapsed() < crate::harness::first_request_window() + Duration::from_secs(3) {
        let (endpoint, config) = (district.endpoint(), district_config.clone());
        let status = tokio::task::spawn_blocking(move || {
            run(&["status", "--node", &endpoint, "--config", config.to_str().expect("utf-8")])
        })
        .await
        .expect("runs");
        assert!(
            status.status.success(),
            "status refused under the slow-socket attack, after {:?}: {}",
            started.elapsed(),
            String::from_utf8_lossy(&status.stderr)
        );
        served += 1;
    }

    let _school = school_writes_and_syncs(&school_config, &district, "dribbling sockets").await;

    stop.store(true, Ordering::Relaxed);
    let closed = attack.join().expect("the attack ends");
    assert!(closed >= 2 * CAP, "the node closed dribbling sockets only {closed} times");
}
