//! Who may sign for whom, checkable later and offline: certificates that bind
//! a key to an organisation (or a reader to a scope), revocations, key
//! rotations and enrolment requests, as exact signed bytes; the evaluation of
//! a chain up to a trust anchor at a given time; and the proof a caller signs
//! to open an authenticated session.
//!
//! This crate is not a place for I/O, clocks or policy about who is
//! connected to whom: callers pass "now", the statements they hold and the
//! anchors from their config, and get a decision with a reason back.

mod codec;
mod session;
mod set;
mod statement;

pub use session::{session_proof_message, sign_session, verify_session, SESSION_CONTEXT};
pub use set::{Admission, Anchor, Standing, TrustSet};
pub use statement::{
    Certificate, EnrolmentRequest, Revocation, RevocationReason, Role, Rotation, Statement, VerifiedStatement,
    STATEMENT_MAGIC, TRUST_CONTEXT,
};

/// Why a statement, a chain or a key was not trusted. Every variant says
/// which statement or key and why, in words an operator can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("{what} is malformed: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("bad signature: {reason}")]
    BadSignature { reason: String },
    #[error("not trusted: {reason}")]
    Untrusted { reason: String },
    #[error("out of scope: {reason}")]
    OutOfScope { reason: String },
    #[error("revoked: {reason}")]
    Revoked { reason: String },
    #[error("outside its validity window: {reason}")]
    Expired { reason: String },
    #[error("refused: {reason}")]
    Refused { reason: String },
}

/// An enrolment request whose signatures hold: by the key to be certified,
/// and by the previous key when it replaces one.
pub fn verify_enrolment_request(bytes: &[u8]) -> Result<(VerifiedStatement, EnrolmentRequest), TrustError> {
    let verified = VerifiedStatement::verify(bytes)?;
    let Statement::EnrolmentRequest(request) = &verified.statement else {
        return Err(TrustError::Refused { reason: "this file is not an enrolment request".into() });
    };
    if !verified.signed_by(&request.subject_key) {
        return Err(TrustError::BadSignature {
            reason: format!("the request is not signed by the key it asks to certify, {}", request.subject_key),
        });
    }
    if let Some(previous) = &request.previous_key {
        if !verified.signed_by(previous) {
            return Err(TrustError::BadSignature {
                reason: format!("a key replacement must be signed by the previous key {previous} too"),
            });
        }
    }
    let request = request.clone();
    Ok((verified, request))
}

/// Milliseconds since the epoch as an RFC 3339 UTC time, for messages.
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| format!("{ms} ms"), |time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests;
