//! The domain model of edusync: organisations and their ids, school years and
//! semesters, the five kinds of record (plan, incident, periodic report,
//! commitment, risk register), and the validation that every record passes
//! before it is signed or accepted.
//!
//! This crate is not a place for I/O: no clock, no files, no network, no
//! storage, no cryptography. Functions take what they need (including "now")
//! as arguments, so every rule here is tested with data in, expectation out.

mod aggregate;
mod error;
mod ids;
mod org;
mod period;
mod policy;
mod record;
mod text;
mod upward;
mod validate;

pub use aggregate::{
    Aggregate, Cell, CountOverflow, Counts, CrossCell, CrossRole, GradeBand, Indicator, Investigation, NoisyCross,
    Notified, ReleaseCharge, ReleaseLedger, SevereNotice, StudentsBand, CELLS, CROSS_CELLS, EMPTY_CHILDREN_ROOT,
    LAYOUT_VERSION, MAX_RELEASE_CHARGES,
};
pub use error::{Reason, ValidationError};
pub use ids::{LogStream, RecordId, Seq};
pub use org::{Level, OrgId, Organisation};
pub use period::{Period, PeriodSpan, SchoolYear};
pub use policy::{PolicyInForce, Sourced};
pub use record::{
    AtRiskCount, AtRiskGroup, AtRiskStudent, Commitment, CommitmentKind, Deadline, DeadlineKind, Incident,
    IncidentCategory, IncidentStatus, IncidentTimeliness, IntakeChannel, PeriodicReport, PersonInvolved, PersonRole,
    PlaceCategory, Plan, PlanActivity, Policy, PrivacyPolicy, ReaderTables, Record, RecordKind, RiskRegister, Severity,
    Sex, SignerRole, Timestamp,
};
pub use text::normalize_text;
pub use upward::UpwardSafe;
pub use validate::{CheckedRecord, ValidationContext};

/// A calendar date without a time zone.
pub type Date = chrono::NaiveDate;
