//! Sustained durable ingest at a parent from many children: the district is
//! a real `edusync node run` process (so its memory is its own), the
//! children run in this process and push over gRPC on loopback.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;

use edusync_core::OrgId;
use edusync_envelope::NodeKey;
use edusync_node::{certify_by_anchor, enrol_in_process, init_key, load_key, Node, RunningNode};

use crate::fixture::{commitments, config_text, memory_of, quantile, setup, submit_in_chunks, write_config};
use crate::BenchError;

const DISTRICT: &str = "VN.BT.D03";

#[derive(Clone, Debug, serde::Serialize)]
pub struct Ingest {
    pub children: u32,
    pub records_per_child: u32,
    pub batch_size: usize,
    pub seconds: f64,
    /// Verified, stored and flushed at the district, then acknowledged, per second.
    pub records_per_second: f64,
    /// Push batch sent → durable acknowledgement received, over all children.
    pub ack_latency_p50_ms: f64,
    pub ack_latency_p99_ms: f64,
    pub ack_latency_samples: usize,
    /// The district process, resident, once started and quiet.
    pub idle_rss_bytes: u64,
    /// Its peak resident memory, at the end of the ingest.
    pub peak_rss_bytes: u64,
}

/// Kills the district process however the measurement ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_address() -> Result<String, BenchError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(setup)?;
    Ok(listener.local_addr().map_err(setup)?.to_string())
}

/// The district and `children` schools, each school holding
/// `records_per_child` records the district has not seen.
fn prepare(
    root: &Path,
    address: &str,
    children: u32,
    records_per_child: u32,
    batch: usize,
    anchor: &NodeKey,
) -> Result<(PathBuf, Vec<PathBuf>), BenchError> {
    let district_dir = root.join("district");
    let district_config =
        write_config(&district_dir, &config_text(DISTRICT, "district", address, None, batch, anchor))?;
    init_key(&district_config.data_dir).map_err(setup)?;
    let district = Node::open(&district_config, load_key(&district_config.data_dir).map_err(setup)?).map_err(setup)?;
    let now = Utc::now();
    certify_by_anchor(&district, &OrgId::parse("anchor", "VN").map_err(setup)?, &[anchor], now).map_err(setup)?;
    let mut school_configs = Vec::new();
    for child in 0..children {
        let org = format!("{DISTRICT}.S{child:03}");
        let dir = root.join(format!("school-{child:03}"));
        let config =
            write_config(&dir, &config_text(&org, "school", "127.0.0.1:0", Some((DISTRICT, address)), batch, anchor))?;
        init_key(&config.data_dir).map_err(setup)?;
        let school = Node::open(&config, load_key(&config.data_dir).map_err(setup)?).map_err(setup)?;
        enrol_in_process(&district, &school, now).map_err(setup)?;
        submit_in_chunks(&school, commitments(1, records_per_child)?, now)?;
        school_configs.push(dir.join("node.toml"));
    }
    Ok((district_dir.join("node.toml"), school_configs))
}

async fn wait_until_listening(address: &str, process: &mut Process) -> Result<(), BenchError> {
    let started = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = process.0.try_wait() {
            return Err(setup(format!("the district process exited: {status}")));
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err(BenchError::Stalled("the district process never listened".into()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `binary` is the `edusync` executable that runs the district.
pub async fn measure_ingest(
    binary: &Path,
    children: u32,
    records_per_child: u32,
    batch: usize,
) -> Result<Ingest, BenchError> {
    let root = tempfile::tempdir().map_err(setup)?;
    let address = free_address()?;
    let anchor = NodeKey::generate();
    let (root_path, address_copy) = (root.path().to_path_buf(), address.clone());
    let anchor_copy = NodeKey::from_pkcs8_pem(&anchor.to_pkcs8_pem()).map_err(setup)?;
    let (district_config, school_configs) = tokio::task::spawn_blocking(move || {
        prepare(&root_path, &address_copy, children, records_per_child, batch, &anchor_copy)
    })
    .await
    .map_err(setup)??;

    let mut district = Process(
        Command::new(binary)
            .args(["node", "run", "--config"])
            .arg(&district_config)
            .env("EDUSYNC_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| setup(format!("cannot start {}: {error}", binary.display())))?,
    );
    wait_until_listening(&address, &mut district).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = district.0.id();
    let (idle_rss_bytes, _) = memory_of(pid)?;

    let started = Instant::now();
    let mut schools = Vec::new();
    for config in &school_configs {
        let config = edusync_config::NodeConfig::load(config).map_err(setup)?;
        schools.push(RunningNode::start(&config).await.map_err(setup)?);
    }
    let parents: Vec<_> = schools.iter().filter_map(|school| school.parent_status().cloned()).collect();
    loop {
        if parents.iter().all(|parent| parent.acknowledged() >= u64::from(records_per_child)) {
            break;
        }
        if started.elapsed() > Duration::from_secs(900) {
            return Err(BenchError::Stalled("the district never acknowledged every child's backlog".into()));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (_, peak_rss_bytes) = memory_of(pid)?;
    let mut latencies: Vec<f64> = parents
        .iter()
        .flat_map(|parent| parent.recent_ack_latencies())
        .map(|latency| latency.as_secs_f64() * 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    for school in schools {
        school.shutdown().await.map_err(setup)?;
    }
    drop(district);
    let records = f64::from(children) * f64::from(records_per_child);
    Ok(Ingest {
        children,
        records_per_child,
        batch_size: batch,
        seconds,
        records_per_second: records / seconds.max(1e-9),
        ack_latency_p50_ms: quantile(&latencies, 0.50),
        ack_latency_p99_ms: quantile(&latencies, 0.99),
        ack_latency_samples: latencies.len(),
        idle_rss_bytes,
        peak_rss_bytes,
    })
}
