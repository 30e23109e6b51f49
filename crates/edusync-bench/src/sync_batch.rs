//! Which push batch size to use: a school's backlog caught up by its
//! district over real gRPC on loopback, once per batch size, from the same
//! stored backlog, so that only the batch size differs between runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;

use edusync_core::OrgId;
use edusync_envelope::NodeKey;
use edusync_node::{certify_by_anchor, enrol_in_process, init_key, load_key, Node, RunningNode};

use crate::fixture::{commitments, config_text, copy_dir, setup, submit_in_chunks, write_config};
use crate::BenchError;

const SCHOOL: &str = "VN.BT.D03.S017";
const DISTRICT: &str = "VN.BT.D03";

#[derive(Clone, Debug, serde::Serialize)]
pub struct BatchPoint {
    pub batch_size: usize,
    pub records: u64,
    pub seconds: f64,
    /// Verified, stored and flushed at the district, per second.
    pub records_per_second: f64,
    /// The same, as a fraction of the fastest verification measured in this run.
    pub of_verification_limit: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct BatchReport {
    pub limit: crate::VerificationLimit,
    pub points: Vec<BatchPoint>,
    /// The smallest batch size within 5% of the best throughput: larger
    /// batches cost memory and make a cut link lose more work.
    pub recommended_batch_size: usize,
}

/// A district and a school holding `records` commitments the district has
/// not seen, written once and copied for every run.
fn template(root: &Path, records: u32, anchor: &NodeKey) -> Result<(PathBuf, PathBuf), BenchError> {
    let (district_dir, school_dir) = (root.join("template/district"), root.join("template/school"));
    let district_config =
        write_config(&district_dir, &config_text(DISTRICT, "district", "127.0.0.1:0", None, 1, anchor))?;
    let school_config = write_config(
        &school_dir,
        &config_text(SCHOOL, "school", "127.0.0.1:0", Some((DISTRICT, "127.0.0.1:1")), 1, anchor),
    )?;
    init_key(&district_config.data_dir).map_err(setup)?;
    init_key(&school_config.data_dir).map_err(setup)?;
    let district = Node::open(&district_config, load_key(&district_config.data_dir).map_err(setup)?).map_err(setup)?;
    let school = Node::open(&school_config, load_key(&school_config.data_dir).map_err(setup)?).map_err(setup)?;
    let now = Utc::now();
    certify_by_anchor(&district, &OrgId::parse("anchor", "VN").map_err(setup)?, &[anchor], now).map_err(setup)?;
    enrol_in_process(&district, &school, now).map_err(setup)?;
    submit_in_chunks(&school, commitments(1, records)?, now)?;
    // As a school that was offline has: its aggregator ran as it wrote, so
    // its aggregates are in the backlog and nothing is left to derive.
    school.derive_dirty(now).map_err(setup)?;
    Ok((district_dir, school_dir))
}

async fn one_run(
    root: &Path,
    templates: &(PathBuf, PathBuf),
    batch: usize,
    records: u64,
    anchor: &NodeKey,
) -> Result<f64, BenchError> {
    let run = root.join(format!("batch-{batch}"));
    let (district_dir, school_dir) = (run.join("district"), run.join("school"));
    copy_dir(&templates.0.join("data"), &district_dir.join("data"))?;
    copy_dir(&templates.1.join("data"), &school_dir.join("data"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(setup)?;
    let address = listener.local_addr().map_err(setup)?.to_string();
    let district_config =
        write_config(&district_dir, &config_text(DISTRICT, "district", &address, None, batch, anchor))?;
    let school_config = write_config(
        &school_dir,
        &config_text(SCHOOL, "school", "127.0.0.1:0", Some((DISTRICT, &address)), batch, anchor),
    )?;
    let district = RunningNode::start_on(&district_config, listener).await.map_err(setup)?;
    let started = Instant::now();
    let school = RunningNode::start(&school_config).await.map_err(setup)?;
    // Caught up when the school has the district's acknowledgement, which
    // the district gives only after a flush: durable, not merely received.
    let parent = school.parent_status().cloned().ok_or_else(|| setup("the school has no parent"))?;
    let school_org = school.node().org().clone();
    let head = school.node().store().head(&school_org, edusync_core::LogStream::Shared).map_err(setup)?;
    let head = head.map_or(records, |(seq, _)| seq.0.max(records));
    loop {
        if parent.acknowledged() >= head {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(BenchError::Stalled(format!("batch size {batch}: the district never caught up")));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    school.shutdown().await.map_err(setup)?;
    district.shutdown().await.map_err(setup)?;
    Ok(seconds)
}

/// A school's backlog caught up by its district.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CatchUp {
    pub records: u64,
    pub batch_size: usize,
    /// From the school's start to the district's durable acknowledgement of the last record.
    pub seconds: f64,
    pub records_per_second: f64,
}

/// A fresh root, an anchor key, and the stored backlog every run copies.
async fn backlog(records: u32) -> Result<(tempfile::TempDir, NodeKey, (PathBuf, PathBuf)), BenchError> {
    let root = tempfile::tempdir().map_err(setup)?;
    let anchor = NodeKey::generate();
    let root_path = root.path().to_path_buf();
    let anchor_copy = NodeKey::from_pkcs8_pem(&anchor.to_pkcs8_pem()).map_err(setup)?;
    let templates =
        tokio::task::spawn_blocking(move || template(&root_path, records, &anchor_copy)).await.map_err(setup)??;
    Ok((root, anchor, templates))
}

/// Catches up one school's backlog of `records` at `batch` per push.
pub async fn measure_catch_up(records: u32, batch: usize) -> Result<CatchUp, BenchError> {
    let (root, anchor, templates) = backlog(records).await?;
    let seconds = one_run(root.path(), &templates, batch, u64::from(records), &anchor).await?;
    Ok(CatchUp {
        records: u64::from(records),
        batch_size: batch,
        seconds,
        records_per_second: f64::from(records) / seconds.max(1e-9),
    })
}

/// Catches up `records` once per batch size and reports each against the
/// verification limit measured first.
pub async fn measure_batch_sizes(records: u32, sizes: &[usize]) -> Result<BatchReport, BenchError> {
    let limit = tokio::task::spawn_blocking(|| crate::measure_verification_limit(20_000)).await.map_err(setup)??;
    let (root, anchor, templates) = backlog(records).await?;
    let mut points = Vec::new();
    for &batch in sizes {
        let seconds = one_run(root.path(), &templates, batch, u64::from(records), &anchor).await?;
        let per_second = f64::from(records) / seconds.max(1e-9);
        points.push(BatchPoint {
            batch_size: batch,
            records: u64::from(records),
            seconds,
            records_per_second: per_second,
            of_verification_limit: per_second / limit.fastest().1.max(1e-9),
        });
    }
    let best = points.iter().map(|point| point.records_per_second).fold(0.0, f64::max);
    let recommended_batch_size = points
        .iter()
        .filter(|point| point.records_per_second >= best * 0.95)
        .map(|point| point.batch_size)
        .min()
        .unwrap_or(256);
    Ok(BatchReport { limit, points, recommended_batch_size })
}
