//! `edusync demo`: a ministry, provinces, districts and schools, each a real
//! gRPC node on 127.0.0.1 with its own store, filled with a school year of
//! realistic synthetic records (Vietnamese names in the fields that never
//! leave a school), synced upward, and summarised level by level.
//!
//! This crate is not test scaffolding and not a benchmark: it is what an
//! evaluator runs first to see the system work. Its generator is seeded and
//! deterministic, so the same seed writes the same records.

mod hierarchy;
mod synth;

pub use hierarchy::{
    run_demo, run_demo_kept, DemoAccess, DemoError, DemoOptions, DemoReport, KeptDemo, KindCounts, NodeSummary,
    ReaderRow, Totals, Verification,
};
pub use synth::{school_year_records, SchoolProfile};
