//! An edusync node: the engine that writes this organisation's own records
//! (validate, sign, store, flush), ingests its children's envelopes (verify,
//! authorise, store, flush, acknowledge), serves both over gRPC, and pushes its
//! own shared log to its parent.
//!
//! This crate is not the command line (that is `edusync-cli`), and it is not a
//! place for storage details (only `edusync-store` names sled) or wire-format
//! details beyond the service implementations (conversions live in
//! `edusync-proto`). Blocking storage work runs on tokio's blocking pool,
//! never on the async reactor.

mod aggregator;
mod audit;
mod auth;
mod backup;
mod checked_rollup;
mod client;
mod compliance;
mod connections;
mod engine;
mod error;
mod evidence;
mod expensive;
mod keyfile;
mod metrics;
mod query;
mod releases;
mod runtime;
mod service;
mod signing;
pub use service::MAX_RECORDS_PER_SUBMISSION;
mod status;
mod sync;
mod tls;
mod trust;
mod trust_service;

pub use aggregator::RollUpEvidence;
pub use backup::Backup;
pub use checked_rollup::{check_roll_up, CheckedChild, CheckedRollUp, RollUpError};
pub use client::{open_session, Bearer, OpenedSession, SessionChannel};
pub use connections::FIRST_REQUEST;
pub use engine::{BundleImport, CheckedBatch, IngestReport, Node, NoticesAhead, Refusal, RefusalKind, Submitted};
pub use error::NodeError;
pub use evidence::EvidenceItem;
pub use keyfile::{init_key, load_key, next_key, pending_next_key, promote_next_key};
pub use query::ReaderAnswer;
pub use releases::ServedRelease;
pub use runtime::{RunningNode, WRITES_HEALTH_NAME};
pub use sync::{AckLatencyHistogram, ParentStatus, RoundOutcome, ACK_LATENCY_BUCKETS};
pub use tls::{client_endpoint, server_tls, TLS_HANDSHAKE_TIMEOUT};
pub use trust::{
    certify_by_anchor, enrol_in_process, issuer_of, own_enrolment_request, rotation_request, StatementReport,
};
