//! Who may sign for whom, checkable later and offline: certificates that bind
//! a key to an organisation (or a reader to a scope), revocations, key
//! rotations and enrolment requests, as exact signed bytes; the evaluation of
//! a chain up to a trust anchor at a given time; and the proof a caller signs
//! to open an authenticated session.
//!
//! This crate is not a place for I/O, clocks or policy about who is
//! connected to whom: callers pass "now", the statements they hold and the
//! anchors from their config, and get a decision with a reason back.

mod armor;
mod codec;
mod root;
mod session;
mod set;
mod statement;

pub use armor::{armor, dearmor, STATEMENT_LABEL};
pub use root::{RootDocument, VerifiedRoot, ROOT_LABEL};
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

/// Certifies a verified request with one or more keys (an anchor's offline
/// keys, for a root certificate). The caller has checked scope and version.
pub fn issue_certificate(
    request: &EnrolmentRequest,
    issuer_org: &edusync_core::OrgId,
    version: u64,
    not_before_ms: i64,
    not_after_ms: i64,
    issued_ms: i64,
    keys: &[&edusync_envelope::NodeKey],
) -> Vec<u8> {
    Statement::Certificate(Certificate {
        subject_key: request.subject_key,
        subject_org: request.subject_org.clone(),
        role: request.role,
        issuer_org: issuer_org.clone(),
        version,
        not_before_ms,
        not_after_ms,
        issued_ms,
    })
    .sign(keys)
}

/// Adds one more signature to a statement (a second root key signing a
/// root certificate on another machine). Existing signatures must verify.
pub fn cosign(bytes: &[u8], key: &edusync_envelope::NodeKey) -> Result<Vec<u8>, TrustError> {
    let verified = VerifiedStatement::verify(bytes)?;
    if verified.signed_by(&key.public_key()) {
        return Err(TrustError::Refused {
            reason: format!(
                "key {} has already signed this statement; a second signature by it counts for nothing",
                key.public_key()
            ),
        });
    }
    // Framing was checked by `verify`: magic(4) kind(1) length(4) body count(1) signatures.
    let body_len = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) as usize;
    let body = &bytes[9..9 + body_len];
    let count = bytes[9 + body_len];
    let kind_name = Statement::kind_name(bytes[4])
        .ok_or_else(|| TrustError::Malformed { what: "statement", reason: "unknown kind".into() })?;
    let mut out = bytes.to_vec();
    out[9 + body_len] =
        count.checked_add(1).ok_or_else(|| TrustError::Refused { reason: "too many signatures".into() })?;
    out.extend_from_slice(&key.public_key().0);
    out.extend_from_slice(&key.sign_pae(TRUST_CONTEXT, kind_name, body));
    VerifiedStatement::verify(&out)?;
    Ok(out)
}
