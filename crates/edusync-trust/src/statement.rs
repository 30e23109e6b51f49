//! Trust statements: the exact bytes of certificates, revocations, rotations
//! and enrolment requests, how they are signed (by one key or several) and
//! verified (`verify_strict` of every signature, before the body is decoded).
//!
//! ```text
//! statement = magic "EST1"
//!             u8 kind (1 certificate, 2 revocation, 3 rotation, 4 enrolment request)
//!             u32 body_len | body
//!             u8 count | count × (signer key 32 bytes | signature 64 bytes)
//! signed    = PAE("EDUSYNC-TRUST-V1", kind name, body), the same message for every signer
//! id        = SHA-256(statement)
//! ```

use sha2::{Digest, Sha256};

use edusync_core::{Level, OrgId};
use edusync_envelope::{NodeKey, PublicKey};

use crate::codec::{level_code, Reader, Writer};
use crate::TrustError;

pub const STATEMENT_MAGIC: &[u8; 4] = b"EST1";
pub const TRUST_CONTEXT: &str = "EDUSYNC-TRUST-V1";
const MAX_STATEMENT_BYTES: usize = 16 * 1024;
const MAX_SIGNERS: usize = 16;

/// What a certified key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// An edusync node of an organisation at this level: writes its own
    /// records, syncs with its parent, certifies its children.
    Node(Level),
    /// Pulls aggregates and reports inside its scope; never pushes.
    DataOfficer,
    /// Pulls aggregates, reports and audit bundles inside its scope; never pushes.
    Auditor,
}

impl Role {
    pub(crate) fn code(self) -> u8 {
        match self {
            Role::Node(level) => level_code(level),
            Role::DataOfficer => 10,
            Role::Auditor => 11,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Role> {
        Some(match code {
            1 => Role::Node(Level::Ministry),
            2 => Role::Node(Level::Province),
            3 => Role::Node(Level::District),
            4 => Role::Node(Level::School),
            10 => Role::DataOfficer,
            11 => Role::Auditor,
            _ => return None,
        })
    }

    pub fn is_reader(self) -> bool {
        matches!(self, Role::DataOfficer | Role::Auditor)
    }

    pub fn parse(text: &str) -> Result<Role, TrustError> {
        match text {
            "data-officer" | "data_officer" => Ok(Role::DataOfficer),
            "auditor" => Ok(Role::Auditor),
            other => other.parse::<Level>().map(Role::Node).map_err(|_| TrustError::Refused {
                reason: format!(
                    "role `{other}` is not one of ministry, province, district, school, data-officer, auditor"
                ),
            }),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Node(level) => write!(f, "{level} node"),
            Role::DataOfficer => f.write_str("data officer"),
            Role::Auditor => f.write_str("auditor"),
        }
    }
}

/// A parent's (or a root's) statement that `subject_key` speaks for
/// `subject_org` in `role` during the window. For readers `subject_org` is
/// the scope they may read: an org id and everything below it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub subject_key: PublicKey,
    pub subject_org: OrgId,
    pub role: Role,
    pub issuer_org: OrgId,
    /// Per node org (per key for readers), versions only go up.
    pub version: u64,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    pub issued_ms: i64,
}

/// Why a key was revoked. A closed list: trust statements carry no free text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationReason {
    KeyCompromise,
    Superseded,
    Decommissioned,
    Unspecified,
}

impl RevocationReason {
    fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::Superseded => 2,
            RevocationReason::Decommissioned => 3,
        }
    }
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => RevocationReason::Unspecified,
            1 => RevocationReason::KeyCompromise,
            2 => RevocationReason::Superseded,
            3 => RevocationReason::Decommissioned,
            _ => return None,
        })
    }
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        Ok(match text {
            "key-compromise" => RevocationReason::KeyCompromise,
            "superseded" => RevocationReason::Superseded,
            "decommissioned" => RevocationReason::Decommissioned,
            "unspecified" => RevocationReason::Unspecified,
            other => {
                return Err(TrustError::Refused {
                    reason: format!(
                        "reason `{other}` is not one of key-compromise, superseded, decommissioned, unspecified"
                    ),
                })
            }
        })
    }
}

impl std::fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RevocationReason::KeyCompromise => "key compromise",
            RevocationReason::Superseded => "superseded",
            RevocationReason::Decommissioned => "decommissioned",
            RevocationReason::Unspecified => "unspecified",
        })
    }
}

/// The issuer's statement that whatever `subject_key` signs from
/// `effective_ms` on is not to be trusted; what it signed before stays valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub issuer_org: OrgId,
    pub subject_org: OrgId,
    pub subject_key: PublicKey,
    pub reason: RevocationReason,
    pub effective_ms: i64,
    pub issued_ms: i64,
}

/// A node's statement, signed by both its old and its new key, that from
/// `effective_ms` on it signs with `new_key` only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    pub org: OrgId,
    pub old_key: PublicKey,
    pub new_key: PublicKey,
    pub effective_ms: i64,
}

/// What a node (or a reader) asks its parent to certify. Signed by the key
/// to be certified, as proof of possession, and by the currently certified
/// key too when it replaces one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrolmentRequest {
    pub subject_org: OrgId,
    pub role: Role,
    pub parent_org: OrgId,
    pub subject_key: PublicKey,
    pub previous_key: Option<PublicKey>,
    pub created_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Statement {
    Certificate(Certificate),
    Revocation(Revocation),
    Rotation(Rotation),
    EnrolmentRequest(EnrolmentRequest),
}

impl Statement {
    fn kind(&self) -> (u8, &'static str) {
        match self {
            Statement::Certificate(_) => (1, "certificate"),
            Statement::Revocation(_) => (2, "revocation"),
            Statement::Rotation(_) => (3, "rotation"),
            Statement::EnrolmentRequest(_) => (4, "enrolment-request"),
        }
    }

    pub(crate) fn kind_name(code: u8) -> Option<&'static str> {
        Some(match code {
            1 => "certificate",
            2 => "revocation",
            3 => "rotation",
            4 => "enrolment-request",
            _ => return None,
        })
    }

    fn encode_body(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        match self {
            Statement::Certificate(c) => {
                writer
                    .key(&c.subject_key)
                    .org(&c.subject_org)
                    .u8(c.role.code())
                    .org(&c.issuer_org)
                    .u64(c.version)
                    .i64(c.not_before_ms)
                    .i64(c.not_after_ms)
                    .i64(c.issued_ms);
            }
            Statement::Revocation(r) => {
                writer
                    .org(&r.issuer_org)
                    .org(&r.subject_org)
                    .key(&r.subject_key)
                    .u8(r.reason.code())
                    .i64(r.effective_ms)
                    .i64(r.issued_ms);
            }
            Statement::Rotation(r) => {
                writer.org(&r.org).key(&r.old_key).key(&r.new_key).i64(r.effective_ms);
            }
            Statement::EnrolmentRequest(r) => {
                writer
                    .org(&r.subject_org)
                    .u8(r.role.code())
                    .org(&r.parent_org)
                    .key(&r.subject_key)
                    .optional_key(r.previous_key.as_ref())
                    .i64(r.created_ms);
            }
        }
        writer.0
    }

    fn decode_body(kind: u8, body: &[u8]) -> Result<Statement, TrustError> {
        let statement = match kind {
            1 => {
                let mut r = Reader::new(body, "certificate");
                let certificate = Certificate {
                    subject_key: r.key("subject_key")?,
                    subject_org: r.org("subject_org")?,
                    role: r.role("role")?,
                    issuer_org: r.org("issuer_org")?,
                    version: r.u64("version")?,
                    not_before_ms: r.i64("not_before")?,
                    not_after_ms: r.i64("not_after")?,
                    issued_ms: r.i64("issued")?,
                };
                r.finish()?;
                if certificate.not_after_ms < certificate.not_before_ms {
                    return Err(TrustError::Malformed {
                        what: "certificate",
                        reason: "not_after is before not_before".into(),
                    });
                }
                Statement::Certificate(certificate)
            }
            2 => {
                let mut r = Reader::new(body, "revocation");
                let issuer_org = r.org("issuer_org")?;
                let subject_org = r.org("subject_org")?;
                let subject_key = r.key("subject_key")?;
                let code = r.u8("reason")?;
                let reason = RevocationReason::from_code(code).ok_or_else(|| TrustError::Malformed {
                    what: "revocation",
                    reason: format!("reason: unknown code {code}"),
                })?;
                let revocation = Revocation {
                    issuer_org,
                    subject_org,
                    subject_key,
                    reason,
                    effective_ms: r.i64("effective")?,
                    issued_ms: r.i64("issued")?,
                };
                r.finish()?;
                Statement::Revocation(revocation)
            }
            3 => {
                let mut r = Reader::new(body, "rotation");
                let rotation = Rotation {
                    org: r.org("org")?,
                    old_key: r.key("old_key")?,
                    new_key: r.key("new_key")?,
                    effective_ms: r.i64("effective")?,
                };
                r.finish()?;
                Statement::Rotation(rotation)
            }
            4 => {
                let mut r = Reader::new(body, "enrolment request");
                let request = EnrolmentRequest {
                    subject_org: r.org("subject_org")?,
                    role: r.role("role")?,
                    parent_org: r.org("parent_org")?,
                    subject_key: r.key("subject_key")?,
                    previous_key: r.optional_key("previous_key")?,
                    created_ms: r.i64("created")?,
                };
                r.finish()?;
                Statement::EnrolmentRequest(request)
            }
            other => return Err(TrustError::Malformed { what: "statement", reason: format!("unknown kind {other}") }),
        };
        Ok(statement)
    }

    /// Encodes and signs with every key given (at least one).
    pub fn sign(&self, keys: &[&NodeKey]) -> Vec<u8> {
        let (code, name) = self.kind();
        let body = self.encode_body();
        let mut bytes = Vec::with_capacity(body.len() + 100 * keys.len() + 16);
        bytes.extend_from_slice(STATEMENT_MAGIC);
        bytes.push(code);
        bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&body);
        bytes.push(keys.len().min(MAX_SIGNERS) as u8);
        for key in keys.iter().take(MAX_SIGNERS) {
            bytes.extend_from_slice(&key.public_key().0);
            bytes.extend_from_slice(&key.sign_pae(TRUST_CONTEXT, name, &body));
        }
        bytes
    }
}

/// A statement whose every signature verified with `verify_strict`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedStatement {
    pub statement: Statement,
    /// Distinct signing keys, in the order they appear. A key that signed
    /// twice is counted once.
    pub signers: Vec<PublicKey>,
    pub id: [u8; 32],
    bytes: Vec<u8>,
}

impl VerifiedStatement {
    /// Checks the framing and every signature, and only then decodes the body.
    pub fn verify(bytes: &[u8]) -> Result<Self, TrustError> {
        let malformed = |reason: &str| TrustError::Malformed { what: "statement", reason: reason.to_owned() };
        if bytes.len() > MAX_STATEMENT_BYTES {
            return Err(malformed(&format!("{} bytes; the limit is {MAX_STATEMENT_BYTES}", bytes.len())));
        }
        let rest = bytes.strip_prefix(STATEMENT_MAGIC).ok_or_else(|| malformed("it does not start with EST1"))?;
        let (&kind, rest) = rest.split_first().ok_or_else(|| malformed("truncated at kind"))?;
        let name = Statement::kind_name(kind).ok_or_else(|| malformed(&format!("unknown kind {kind}")))?;
        let (length, rest) = rest.split_at_checked(4).ok_or_else(|| malformed("truncated at body length"))?;
        let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
        let (body, rest) = rest.split_at_checked(length).ok_or_else(|| malformed("truncated in the body"))?;
        let (&count, mut rest) = rest.split_first().ok_or_else(|| malformed("truncated at signature count"))?;
        if count == 0 || usize::from(count) > MAX_SIGNERS {
            return Err(malformed(&format!("it carries {count} signatures; 1 to {MAX_SIGNERS} are allowed")));
        }
        let mut signers: Vec<PublicKey> = Vec::new();
        for index in 0..count {
            let (entry, tail) = rest.split_at_checked(96).ok_or_else(|| malformed("truncated in a signature"))?;
            rest = tail;
            let key = PublicKey::from_bytes(&entry[..32]).map_err(|_| TrustError::BadSignature {
                reason: format!("signer {index} is not a valid Ed25519 key"),
            })?;
            let mut signature = [0u8; 64];
            signature.copy_from_slice(&entry[32..]);
            if !key.verify_pae(TRUST_CONTEXT, name, body, &signature) {
                return Err(TrustError::BadSignature {
                    reason: format!("signature {index} does not verify under key {key}"),
                });
            }
            if !signers.contains(&key) {
                signers.push(key);
            }
        }
        if !rest.is_empty() {
            return Err(malformed(&format!("{} bytes after the last signature", rest.len())));
        }
        let statement = Statement::decode_body(kind, body)?;
        Ok(VerifiedStatement { statement, signers, id: Sha256::digest(bytes).into(), bytes: bytes.to_vec() })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }

    pub fn signed_by(&self, key: &PublicKey) -> bool {
        self.signers.contains(key)
    }
}
