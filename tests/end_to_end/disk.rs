//! A full disk: writes are refused with RESOURCE_EXHAUSTED before anything
//! reaches the store, reads go on, health says writes are NOT_SERVING, and
//! writes resume by themselves once space is freed.
//!
//! The node's directory sits on a small tmpfs; mounting needs root, which CI
//! has. Without it this test fails (it never skips in silence).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use edusync_proto::wire;

use crate::harness::{commitment, path, prepare, records_client, NodeProcess, NodeSpec};

/// A tmpfs mounted for the test, unmounted when dropped.
struct SmallDisk {
    at: PathBuf,
}

impl SmallDisk {
    fn mount(at: &Path, megabytes: u32) -> SmallDisk {
        std::fs::create_dir_all(at).expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs", path(at)])
            .output()
            .expect("the mount command runs");
        assert!(
            mounted.status.success(),
            "this test needs a small file system and could not mount a tmpfs (run it as root, as CI does): {}",
            String::from_utf8_lossy(&mounted.stderr)
        );
        SmallDisk { at: at.to_path_buf() }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").args(["-l", path(&self.at)]).status();
    }
}

async fn writes_health(endpoint: &str) -> ServingStatus {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
        .expect("endpoint")
        .connect()
        .await
        .expect("connects");
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest { service: edusync_node::WRITES_HEALTH_NAME.into() })
        .await
        .expect("health answers");
    ServingStatus::try_from(answer.into_inner().status).unwrap_or(ServingStatus::Unknown)
}

async fn wait_for_writes_health(endpoint: &str, wanted: ServingStatus) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while writes_health(endpoint).await != wanted {
        assert!(Instant::now() < deadline, "writes' health never became {wanted:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_cleanly_serves_reads_and_recovers_without_a_restart() {
    let root = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::mount(&root.path().join("disk"), 128);
    let dir = disk.at.join("node");
    let (config, _) = prepare(
        &dir,
        &NodeSpec {
            org: "VN.BT.D03.S017",
            level: "school",
            port: 0,
            parent: None,
            batch_size: 64,
            compression: "zstd",
        },
    );
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replacen("data_dir = \"data\"", "data_dir = \"data\"\ndisk_reserve_megabytes = 16", 1),
    )
    .expect("config");
    let node = NodeProcess::start(&config);
    let endpoint = node.endpoint();
    let mut client = records_client(&endpoint).await;
    client.submit_record(wire::SubmitRecordRequest { record: Some(commitment(1)) }).await.expect("room: stored");
    wait_for_writes_health(&endpoint, ServingStatus::Serving).await;

    // Another program fills the disk to the last byte.
    let filler = disk.at.join("filler");
    fill(&filler);
    assert_eq!(fs_free(&disk.at), 0, "the disk is full");

    let refused = client
        .submit_records(wire::SubmitRecordsRequest { records: (2..=40).map(commitment).collect() })
        .await
        .expect_err("no room: refused");
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("MiB free") && refused.message().contains(path(&dir)),
        "the refusal names the disk and its free space: {}",
        refused.message()
    );
    wait_for_writes_health(&endpoint, ServingStatus::NotServing).await;
    let listed = client
        .list_records(wire::ListRecordsRequest {
            kind: wire::RecordKind::Commitment as i32,
            ..wire::ListRecordsRequest::default()
        })
        .await
        .expect("reads go on while the disk is full")
        .into_inner();
    assert_eq!(listed.records.len(), 1, "the refused call stored nothing");

    std::fs::remove_file(&filler).expect("space freed");
    wait_for_writes_health(&endpoint, ServingStatus::Serving).await;
    let stored = client
        .submit_records(wire::SubmitRecordsRequest { records: (2..=40).map(commitment).collect() })
        .await
        .expect("writes resume without a restart")
        .into_inner();
    assert!(stored.results.iter().all(|result| !result.already_stored), "none of them was stored before");
    drop(node);
}

/// Writes to `file` until the disk refuses.
fn fill(file: &Path) {
    use std::io::Write;
    let mut out = std::fs::File::create(file).expect("filler");
    let chunk = vec![0u8; 1 << 20];
    loop {
        if out.write_all(&chunk).is_err() {
            break;
        }
    }
    // The last partial megabyte.
    for _ in 0..(1 << 20) / 512 {
        if out.write_all(&chunk[..512]).is_err() {
            break;
        }
    }
}

fn fs_free(at: &Path) -> u64 {
    let output = Command::new("df").args(["--output=avail", "-B1", path(at)]).output().expect("df runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .nth(1)
        .and_then(|line| line.trim().parse().ok())
        .expect("df prints the free bytes")
}
