//! Measurements behind edusync's settings and performance claims. Each
//! figure is taken on this machine, in one run, next to a limit measured in
//! the same run (Ed25519 verifications per second), so that a report reads
//! as a ratio rather than as a number from somewhere else.
//!
//! Its measurements are not part of the test suite and assert nothing: they
//! run real nodes (in process, over real gRPC on loopback) and report. The
//! one exception is the province simulation (`simulate`), whose point is to
//! prove what must hold (nothing lost, nothing stored twice, totals exact)
//! after weeks of flaky links; it fails when any of that does not hold, and
//! small configurations of it run as tests.

mod dashboard;
mod disclosure;
mod fixture;
mod ingest;
mod limit;
mod privacy;
mod rederive;
mod simulate;
mod suite;
mod sync_batch;

pub use dashboard::{measure_dashboard, Dashboard, PageLoad, PAGE_BUDGET_MS};
pub use disclosure::{measure_disclosure, DisclosurePoint, DisclosureReport};
pub use ingest::{measure_ingest, Ingest};
pub use limit::{measure_verification_limit, VerificationLimit};
pub use privacy::{measure_privacy, PrivacyPoint, PrivacyReport};
pub use rederive::{measure_rederive, Rederive};
pub use simulate::{simulate, Simulation, SimulationOptions, Traffic};
pub use suite::{run_suite, Suite, SuiteOptions, Target};
pub use sync_batch::{measure_batch_sizes, measure_catch_up, BatchPoint, BatchReport, CatchUp};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("setting up the measurement: {0}")]
    Setup(String),
    #[error("the measurement did not finish: {0}")]
    Stalled(String),
    #[error("{0}")]
    Options(String),
    #[error("the simulation broke a rule the system promises: {0}")]
    Invariant(String),
}
