//! Privacy reduction and verifiable roll-up.
//!
//! [`derive_own`] turns a node's raw records (incidents with names and
//! narratives, reports with remarks, registers with names) into exact counts
//! in the fixed cell layout of `edusync_core::Counts`, the only form in which
//! they leave a school. [`roll_up`] adds the children's latest aggregates to a
//! node's own counts and commits to exactly what it summed with a Merkle sum
//! tree (RFC 6962-style, domain-separated, overflow-checked), whose root goes
//! into the signed aggregate; [`prove_inclusion`] and [`verify_inclusion`]
//! let an auditor check one child's part of a total. [`compliance::assess`]
//! judges the units below an office from the aggregates they signed: reports
//! and commitments against deadlines, incident timeliness, repeated incidents.
//!
//! This crate is not a place for I/O, signing or storage: it takes records and
//! counts in, and gives counts and hashes out.

pub mod compliance;
mod derive;
mod disclosure;
mod merkle;
mod noise;
pub mod query;
pub mod released;

pub use derive::{derive_own, incident_cases, IncidentCase, OwnRecord, INVESTIGATION_DEADLINE_DAYS};
pub use disclosure::{
    attack, disclose, disclose_keeping, disclose_within, Exposure, HiddenCells, Shown, ShownRow, ShownTable, Unit,
    MIN_SCHOOLS,
};
pub use merkle::{
    leaf, prove_inclusion, roll_up, sum_crosses, tree_root, verify_inclusion, verify_roll_up, InclusionProof,
    MerkleError, RolledUp, SumNode,
};
pub use noise::{add_noise, cross_hash, decide_release, exact_cross, MicroEpsilon, ReleaseDecision};
