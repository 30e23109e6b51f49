//! `edusync bench`: every measurement in one run, each against the limit
//! of this machine measured in the same run, and the targets they must hold.

use std::path::PathBuf;

use crate::fixture::setup;
use crate::{BenchError, CatchUp, Ingest, Rederive, VerificationLimit};

#[derive(Clone, Debug)]
pub struct SuiteOptions {
    /// The `edusync` executable, to run a parent as its own process.
    pub binary: PathBuf,
    pub children: u32,
    pub records_per_child: u32,
    pub ingest_batch_size: usize,
    pub catch_up_records: u32,
    pub catch_up_batch_size: usize,
    pub schools: u32,
    pub districts: u32,
    pub seed: u64,
    /// Envelopes signed and verified to measure the limit.
    pub verification_sample: usize,
}

/// A figure, the bound it must keep, and whether it does.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Target {
    pub name: String,
    pub measured: f64,
    pub bound: f64,
    /// "at least" or "under".
    pub rule: &'static str,
    pub unit: &'static str,
    pub holds: bool,
}

impl Target {
    fn at_least(name: impl Into<String>, measured: f64, bound: f64, unit: &'static str) -> Self {
        Target { name: name.into(), measured, bound, rule: "at least", unit, holds: measured >= bound }
    }

    fn under(name: impl Into<String>, measured: f64, bound: f64, unit: &'static str) -> Self {
        Target { name: name.into(), measured, bound, rule: "under", unit, holds: measured < bound }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Suite {
    pub machine: Machine,
    pub limit: VerificationLimit,
    pub ingest: Ingest,
    pub catch_up: CatchUp,
    pub rederive: Rederive,
    pub targets: Vec<Target>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Machine {
    pub cores: usize,
    pub release_build: bool,
}

/// The target is set for 100,000 records; a run with another backlog is
/// scaled to it linearly, and says so, so a small run does not read as the
/// real figure.
fn catch_up_target_name(records: u64) -> String {
    if records == 100_000 {
        "catch-up of a 100,000-record backlog".to_owned()
    } else {
        format!("catch-up of a 100,000-record backlog (scaled from {records} records)")
    }
}

const MIB: f64 = 1024.0 * 1024.0;

pub async fn run_suite(options: SuiteOptions) -> Result<Suite, BenchError> {
    let sample = options.verification_sample;
    let limit =
        tokio::task::spawn_blocking(move || crate::measure_verification_limit(sample)).await.map_err(setup)??;
    let ingest =
        crate::measure_ingest(&options.binary, options.children, options.records_per_child, options.ingest_batch_size)
            .await?;
    let catch_up = crate::measure_catch_up(options.catch_up_records, options.catch_up_batch_size).await?;
    let (schools, districts, seed) = (options.schools, options.districts, options.seed);
    let rederive = tokio::task::spawn_blocking(move || crate::measure_rederive(schools, districts, seed))
        .await
        .map_err(setup)??;
    let targets = vec![
        Target::at_least(
            "durable verified ingest, as a share of the fastest verification measured",
            ingest.records_per_second / limit.fastest().1.max(1e-9),
            0.5,
            "ratio",
        ),
        Target::under(
            catch_up_target_name(catch_up.records),
            catch_up.seconds * 100_000.0 / catch_up.records.max(1) as f64,
            10.0,
            "s",
        ),
        Target::under("province re-derivation after one school's new revision", rederive.seconds, 2.0, "s"),
        Target::under("resident memory of an idle node", ingest.idle_rss_bytes as f64 / MIB, 40.0, "MiB"),
    ];
    let machine = Machine {
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        release_build: !cfg!(debug_assertions),
    };
    Ok(Suite { machine, limit, ingest, catch_up, rederive, targets })
}
