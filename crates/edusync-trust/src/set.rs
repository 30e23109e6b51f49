//! Which keys speak for which organisations, at a given time: the trust
//! anchors plus every certificate, revocation and rotation a node holds,
//! evaluated as a pure function of that set and a time.
//!
//! The rules:
//! - a chain walks from a key up through issuers to an anchor; every link's
//!   validity window must hold at the time asked about, widened on both
//!   sides by the clock-skew grace, because offline schools keep bad time;
//! - a certificate's subject lies under its issuer's org id (scope never
//!   widens), a node certifies only orgs of a lower level, and an anchor
//!   certifies only under its own org id with `threshold` distinct keys;
//! - a revocation is effective from its time on, for whatever the key signs
//!   and for every certificate below it: earlier signatures stay valid;
//! - a rotation retires the old key for new signatures from its time on,
//!   but does not undo certificates the old key issued before it.

use std::collections::{BTreeMap, BTreeSet};

use edusync_core::OrgId;
use edusync_envelope::PublicKey;

use crate::statement::{Certificate, Revocation, Role, Rotation, Statement, VerifiedStatement};
use crate::TrustError;

const MAX_CHAIN: usize = 8;

/// A root of trust from node-config: `threshold` of `keys` must sign a
/// certificate directly under `org`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub org: OrgId,
    pub keys: Vec<PublicKey>,
    pub threshold: usize,
}

impl Anchor {
    /// How many of the anchor's keys are among `signers` (each counted once).
    /// Each root key counts once, however often the anchor lists it.
    fn distinct_signers(&self, signers: &[PublicKey]) -> usize {
        let listed: BTreeSet<&PublicKey> = self.keys.iter().collect();
        listed.into_iter().filter(|key| signers.contains(key)).count()
    }

    fn signed_by_enough(&self, signers: &[PublicKey]) -> bool {
        self.distinct_signers(signers) >= self.threshold.max(1)
    }
}

#[derive(Clone, Debug)]
struct Held<T> {
    value: T,
    signers: Vec<PublicKey>,
    bytes: Vec<u8>,
}

/// What a key is, once its chain holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub org: OrgId,
    pub role: Role,
    pub key: PublicKey,
    pub version: u64,
    /// The org ids of the issuers, nearest first, ending at the anchor's.
    pub chain: Vec<OrgId>,
}

/// Whether a statement was new to the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    New,
    Known,
}

#[derive(Clone, Debug, Default)]
pub struct TrustSet {
    anchors: Vec<Anchor>,
    grace_ms: i64,
    ids: BTreeSet<[u8; 32]>,
    certificates: Vec<Held<Certificate>>,
    by_key: BTreeMap<PublicKey, Vec<usize>>,
    revocations: Vec<Held<Revocation>>,
    rotations: Vec<Held<Rotation>>,
}

impl TrustSet {
    /// The clock-skew grace, in milliseconds, that windows are widened by.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    pub fn new(anchors: Vec<Anchor>, grace_ms: i64) -> Self {
        TrustSet { anchors, grace_ms: grace_ms.max(0), ..TrustSet::default() }
    }

    pub fn anchors(&self) -> &[Anchor] {
        &self.anchors
    }

    /// Takes a verified statement in if its issuer had the authority to make
    /// it when it was made; otherwise says why not and keeps nothing.
    pub fn admit(&mut self, statement: &VerifiedStatement) -> Result<Admission, TrustError> {
        if self.ids.contains(&statement.id) {
            return Ok(Admission::Known);
        }
        let signers = statement.signers.clone();
        match &statement.statement {
            Statement::Certificate(certificate) => {
                if let Some(held) = self.highest_version(certificate) {
                    if held >= certificate.version {
                        return Err(TrustError::Refused {
                            reason: format!(
                                "certificate version {} for {} is not above the held version {held}; versions only go up",
                                certificate.version, certificate.subject_org
                            ),
                        });
                    }
                }
                self.check_issuer(certificate, &signers, certificate.issued_ms, 0)?;
                let index = self.certificates.len();
                self.by_key.entry(certificate.subject_key).or_default().push(index);
                self.certificates.push(Held { value: certificate.clone(), signers, bytes: statement.bytes().to_vec() });
            }
            Statement::Revocation(revocation) => {
                if !revocation.subject_org.is_within(&revocation.issuer_org) {
                    return Err(TrustError::OutOfScope {
                        reason: format!(
                            "{} may not revoke a key of {}, which is not under it",
                            revocation.issuer_org, revocation.subject_org
                        ),
                    });
                }
                if !self.certified(&revocation.subject_org, &revocation.subject_key) {
                    return Err(TrustError::Untrusted {
                        reason: format!(
                            "no certificate binds {} to {}; there is nothing to revoke",
                            revocation.subject_key, revocation.subject_org
                        ),
                    });
                }
                self.check_authority(&revocation.issuer_org, &signers, revocation.issued_ms, "revocation")?;
                self.revocations.push(Held { value: revocation.clone(), signers, bytes: statement.bytes().to_vec() });
            }
            Statement::Rotation(rotation) => {
                for (key, which) in [(&rotation.old_key, "old"), (&rotation.new_key, "new")] {
                    if !signers.contains(key) {
                        return Err(TrustError::BadSignature {
                            reason: format!("a rotation must be signed by the {which} key {key} too"),
                        });
                    }
                    if !self.certified(&rotation.org, key) {
                        return Err(TrustError::Untrusted {
                            reason: format!("the {which} key {key} has no certificate for {}", rotation.org),
                        });
                    }
                }
                self.rotations.push(Held { value: rotation.clone(), signers, bytes: statement.bytes().to_vec() });
            }
            Statement::EnrolmentRequest(_) => {
                return Err(TrustError::Refused {
                    reason: "an enrolment request is not a trust statement; the parent signs a certificate for it"
                        .into(),
                })
            }
        }
        self.ids.insert(statement.id);
        Ok(Admission::New)
    }

    /// Whether `key` speaks for `org` at `at_ms`: as a node of that org, or
    /// as a reader whose scope is `org`.
    pub fn standing(&self, org: &OrgId, key: &PublicKey, at_ms: i64) -> Result<Standing, TrustError> {
        self.check_key(org, key, at_ms, at_ms, 0)
    }

    /// The standing of a key whatever org it holds, for a caller that names
    /// only its key (readers).
    pub fn standing_of_key(&self, key: &PublicKey, at_ms: i64) -> Result<Standing, TrustError> {
        let orgs: BTreeSet<&OrgId> = self.certificates_of(key).map(|held| &held.value.subject_org).collect();
        let mut last = TrustError::Untrusted { reason: format!("no certificate names key {key}") };
        for org in orgs {
            match self.standing(org, key, at_ms) {
                Ok(standing) => return Ok(standing),
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    /// The certificates that make up `key`'s chain for `org`, root first:
    /// what a certificate file or a session carries so others can verify.
    pub fn chain_certificates(&self, org: &OrgId, key: &PublicKey, at_ms: i64) -> Vec<&Certificate> {
        self.chain(org, key, at_ms).into_iter().map(|held| &held.value).collect()
    }

    /// The signed bytes of the same chain, root first.
    pub fn chain_statements(&self, org: &OrgId, key: &PublicKey, at_ms: i64) -> Vec<Vec<u8>> {
        self.chain(org, key, at_ms).into_iter().map(|held| held.bytes.clone()).collect()
    }

    fn chain(&self, org: &OrgId, key: &PublicKey, at_ms: i64) -> Vec<&Held<Certificate>> {
        let mut chain = Vec::new();
        let (mut org, mut key) = (org.clone(), *key);
        for _ in 0..MAX_CHAIN {
            let Some(held) = self.best_certificate(&org, &key, at_ms) else { break };
            chain.push(held);
            let anchored = self
                .anchors
                .iter()
                .any(|anchor| anchor.org == held.value.issuer_org && anchor.signed_by_enough(&held.signers));
            let issuer_signer = held.signers.iter().find(|signer| self.certified(&held.value.issuer_org, signer));
            match issuer_signer {
                Some(signer) if !anchored => {
                    org = held.value.issuer_org.clone();
                    key = *signer;
                }
                _ => break,
            }
        }
        chain.reverse();
        chain
    }

    /// Every certificate held, in the order it was admitted.
    pub fn certificates(&self) -> impl Iterator<Item = &Certificate> {
        self.certificates.iter().map(|held| &held.value)
    }

    /// The rotation that retired `old_key`, if one is held.
    pub fn rotation_of(&self, old_key: &PublicKey) -> Option<&Rotation> {
        self.rotations.iter().map(|held| &held.value).find(|rotation| rotation.old_key == *old_key)
    }

    /// The signed bytes of every statement that judging these signatures
    /// needs, each once: the signers' certificate chains and
    /// every node certificate of a signer's org (its key history), then the
    /// rotations that retired a key of those chains (with the chain of the
    /// key it passed to), then the revocations of those keys (with the
    /// chains of their issuers). Statements about other keys are left out.
    /// Certificates come in the order they were admitted here: issuers
    /// first, versions going up. Each signature is `(org, key, signed at ms)`.
    pub fn evidence(&self, signatures: impl IntoIterator<Item = (OrgId, PublicKey, i64)>) -> Vec<Vec<u8>> {
        let mut certificates: Vec<&[u8]> = Vec::new();
        let mut retirements: Vec<&[u8]> = Vec::new();
        let mut revocations: Vec<&[u8]> = Vec::new();
        fn once<'a>(list: &mut Vec<&'a [u8]>, bytes: &'a [u8]) {
            if !list.contains(&bytes) {
                list.push(bytes);
            }
        }
        let mut judged: BTreeSet<PublicKey> = BTreeSet::new();
        let mut pending: Vec<(OrgId, PublicKey, i64)> = signatures.into_iter().collect();
        let signer_orgs: BTreeSet<OrgId> = pending.iter().map(|(org, _, _)| org.clone()).collect();
        for held in &self.certificates {
            let certificate = &held.value;
            if signer_orgs.contains(&certificate.subject_org) && !certificate.role.is_reader() {
                pending.push((certificate.subject_org.clone(), certificate.subject_key, certificate.not_before_ms));
            }
        }
        while let Some((org, key, at_ms)) = pending.pop() {
            for held in self.chain(&org, &key, at_ms) {
                once(&mut certificates, &held.bytes);
                let subject = held.value.subject_key;
                if !judged.insert(subject) {
                    continue;
                }
                for rotation in self.rotations.iter().filter(|held| held.value.old_key == subject) {
                    once(&mut retirements, &rotation.bytes);
                    pending.push((rotation.value.org.clone(), rotation.value.new_key, rotation.value.effective_ms));
                }
                for revocation in self.revocations.iter().filter(|held| held.value.subject_key == subject) {
                    once(&mut revocations, &revocation.bytes);
                    for signer in &revocation.signers {
                        pending.push((revocation.value.issuer_org.clone(), *signer, revocation.value.issued_ms));
                    }
                }
            }
        }
        // In the order this set admitted them, which a verifier can follow:
        // issuers before what they issued, versions going up.
        let admitted = |bytes: &&[u8]| self.certificates.iter().position(|held| held.bytes.as_slice() == *bytes);
        certificates.sort_by_key(admitted);
        certificates.into_iter().chain(retirements).chain(revocations).map(<[u8]>::to_vec).collect()
    }

    /// The children `parent` certified as nodes for some time within
    /// `[from_ms, until_ms)` with a key not revoked by `from_ms`: the units
    /// that owe it an aggregate for that time. Each with one such key and a
    /// moment its certificate holds, for [`TrustSet::evidence`].
    pub fn owed_children(&self, parent: &OrgId, from_ms: i64, until_ms: i64) -> BTreeMap<OrgId, (PublicKey, i64)> {
        let mut owed = BTreeMap::new();
        for certificate in self.certificates.iter().map(|held| &held.value) {
            let certified_then = certificate.issuer_org == *parent
                && certificate.subject_org.is_child_of(parent)
                && !certificate.role.is_reader()
                && certificate.not_before_ms < until_ms
                && certificate.not_after_ms >= from_ms;
            let revoked_before = self
                .revocations
                .iter()
                .any(|held| held.value.subject_key == certificate.subject_key && held.value.effective_ms <= from_ms);
            if certified_then && !revoked_before {
                owed.entry(certificate.subject_org.clone())
                    .or_insert((certificate.subject_key, certificate.not_before_ms.max(from_ms)));
            }
        }
        owed
    }

    /// Each time `org`'s node key was replaced by a certificate of a higher
    /// version with neither a rotation signed by the old key nor a
    /// revocation of it: how a parent could take over its child. Empty when
    /// every replacement is explained.
    pub fn unexplained_replacements(&self, org: &OrgId) -> Vec<String> {
        let mut lineage: Vec<&Certificate> = self
            .certificates
            .iter()
            .map(|held| &held.value)
            .filter(|certificate| certificate.subject_org == *org && !certificate.role.is_reader())
            .collect();
        lineage.sort_by_key(|certificate| certificate.version);
        lineage
            .windows(2)
            .filter(|pair| pair[0].subject_key != pair[1].subject_key)
            .filter(|pair| {
                let (old, new) = (&pair[0].subject_key, &pair[1].subject_key);
                let rotated = self.rotations.iter().any(|held| held.value.old_key == *old && held.value.new_key == *new);
                let revoked = self.revocations.iter().any(|held| held.value.subject_key == *old);
                !rotated && !revoked
            })
            .map(|pair| {
                format!(
                    "version {} of {org}'s certificate, issued by {}, binds key {} in place of {} (version {}) with no rotation signed by the old key and no revocation of it",
                    pair[1].version, pair[1].issuer_org, pair[1].subject_key, pair[0].subject_key, pair[0].version
                )
            })
            .collect()
    }

    pub fn revocations(&self) -> impl Iterator<Item = &Revocation> {
        self.revocations.iter().map(|held| &held.value)
    }

    /// The highest version held for this certificate's lineage: the node org
    /// for nodes, the key for readers.
    pub fn highest_version(&self, certificate: &Certificate) -> Option<u64> {
        self.certificates
            .iter()
            .filter(|held| same_lineage(&held.value, certificate))
            .map(|held| held.value.version)
            .max()
    }

    /// The next version for a certificate of `org` in `role` for `key`.
    pub fn next_version(&self, org: &OrgId, role: Role, key: &PublicKey) -> u64 {
        let lineage = |c: &Certificate| {
            c.role == role && if role.is_reader() { c.subject_key == *key } else { c.subject_org == *org }
        };
        self.certificates
            .iter()
            .filter(|held| lineage(&held.value))
            .map(|held| held.value.version)
            .max()
            .map_or(1, |version| version.saturating_add(1))
    }

    /// Every certificate held for `key`, whatever org it names.
    fn certificates_of(&self, key: &PublicKey) -> impl Iterator<Item = &Held<Certificate>> {
        self.by_key.get(key).into_iter().flatten().filter_map(|&index| self.certificates.get(index))
    }

    /// The certificates binding `key` to `org`: node certificates first
    /// (a key that is an org's node signs for it, whatever reader
    /// certificates it also holds; versions count per lineage, so they do
    /// not order roles), each kind newest version first.
    fn candidates(&self, org: &OrgId, key: &PublicKey) -> Vec<&Held<Certificate>> {
        let mut candidates: Vec<&Held<Certificate>> =
            self.certificates_of(key).filter(|held| held.value.subject_org == *org).collect();
        candidates.sort_by_key(|held| (held.value.role.is_reader(), std::cmp::Reverse(held.value.version)));
        candidates
    }

    fn certified(&self, org: &OrgId, key: &PublicKey) -> bool {
        self.certificates_of(key).any(|held| held.value.subject_org == *org)
    }

    fn best_certificate(&self, org: &OrgId, key: &PublicKey, at_ms: i64) -> Option<&Held<Certificate>> {
        let candidates = self.candidates(org, key);
        candidates
            .iter()
            .find(|held| self.check_certificate(held, key, at_ms, at_ms, 0).is_ok())
            .or(candidates.first())
            .copied()
    }

    /// `at_ms`: when the chain must hold (windows, revocations);
    /// `signed_at_ms`: when this key made the signature being judged (rotations).
    fn check_key(
        &self,
        org: &OrgId,
        key: &PublicKey,
        at_ms: i64,
        signed_at_ms: i64,
        depth: usize,
    ) -> Result<Standing, TrustError> {
        if depth >= MAX_CHAIN {
            return Err(TrustError::Untrusted { reason: format!("the chain of {org} is longer than {MAX_CHAIN}") });
        }
        let candidates = self.candidates(org, key);
        if candidates.is_empty() {
            return Err(TrustError::Untrusted { reason: format!("no certificate binds key {key} to {org}") });
        }
        let mut last = None;
        for held in candidates {
            match self.check_certificate(held, key, at_ms, signed_at_ms, depth) {
                Ok(chain) => {
                    return Ok(Standing {
                        org: org.clone(),
                        role: held.value.role,
                        key: *key,
                        version: held.value.version,
                        chain,
                    })
                }
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| TrustError::Untrusted { reason: format!("no certificate binds {key} to {org}") }))
    }

    fn check_certificate(
        &self,
        held: &Held<Certificate>,
        key: &PublicKey,
        at_ms: i64,
        signed_at_ms: i64,
        depth: usize,
    ) -> Result<Vec<OrgId>, TrustError> {
        let certificate = &held.value;
        let grace = self.grace_ms;
        if at_ms < certificate.not_before_ms.saturating_sub(grace) {
            return Err(TrustError::Expired {
                reason: format!(
                    "certificate v{} of {} is not valid before {} (clock-skew grace {} s)",
                    certificate.version,
                    certificate.subject_org,
                    crate::format_ms(certificate.not_before_ms),
                    grace / 1000
                ),
            });
        }
        if at_ms > certificate.not_after_ms.saturating_add(grace) {
            return Err(TrustError::Expired {
                reason: format!(
                    "certificate v{} of {} expired at {} (clock-skew grace {} s)",
                    certificate.version,
                    certificate.subject_org,
                    crate::format_ms(certificate.not_after_ms),
                    grace / 1000
                ),
            });
        }
        if let Some(revocation) = self
            .revocations
            .iter()
            .map(|held| &held.value)
            .find(|revocation| revocation.subject_key == *key && revocation.effective_ms <= at_ms)
        {
            return Err(TrustError::Revoked {
                reason: format!(
                    "key {key} of {} was revoked by {} from {} ({})",
                    revocation.subject_org,
                    revocation.issuer_org,
                    crate::format_ms(revocation.effective_ms),
                    revocation.reason
                ),
            });
        }
        if let Some(rotation) = self
            .rotations
            .iter()
            .map(|held| &held.value)
            .find(|rotation| rotation.old_key == *key && rotation.effective_ms <= signed_at_ms)
        {
            return Err(TrustError::Revoked {
                reason: format!(
                    "key {key} of {} was rotated out at {}; {} signs from then on",
                    rotation.org,
                    crate::format_ms(rotation.effective_ms),
                    rotation.new_key
                ),
            });
        }
        self.check_issuer(certificate, &held.signers, at_ms, depth)
    }

    /// Whether the signers of `certificate` had the authority to issue it;
    /// the chain above, issuer first.
    fn check_issuer(
        &self,
        certificate: &Certificate,
        signers: &[PublicKey],
        at_ms: i64,
        depth: usize,
    ) -> Result<Vec<OrgId>, TrustError> {
        if !certificate.subject_org.is_within(&certificate.issuer_org) {
            return Err(TrustError::OutOfScope {
                reason: format!(
                    "a certificate for {} issued by {} lies outside its issuer's scope",
                    certificate.subject_org, certificate.issuer_org
                ),
            });
        }
        let mut last = None;
        for anchor in self.anchors.iter().filter(|anchor| anchor.org == certificate.issuer_org) {
            if anchor.signed_by_enough(signers) {
                return Ok(vec![anchor.org.clone()]);
            }
            let distinct = anchor.distinct_signers(signers);
            last = Some(TrustError::Untrusted {
                reason: format!(
                    "anchor {} needs {} of its {} keys; the certificate for {} carries {distinct}",
                    anchor.org,
                    anchor.threshold,
                    anchor.keys.len(),
                    certificate.subject_org
                ),
            });
        }
        let any_issuer_key = signers.iter().any(|signer| self.certified(&certificate.issuer_org, signer));
        if let (Some(anchor_error), false) = (&last, any_issuer_key) {
            return Err(anchor_error.clone());
        }
        if certificate.subject_org == certificate.issuer_org && !certificate.role.is_reader() {
            return Err(TrustError::OutOfScope {
                reason: format!("{} cannot certify itself; its parent or an anchor must", certificate.subject_org),
            });
        }
        for signer in signers {
            match self.check_key(&certificate.issuer_org, signer, at_ms, certificate.issued_ms, depth + 1) {
                Ok(issuer) => {
                    let Role::Node(issuer_level) = issuer.role else {
                        last = Some(TrustError::OutOfScope {
                            reason: format!("{} is a {}, and readers certify nobody", issuer.org, issuer.role),
                        });
                        continue;
                    };
                    if let Role::Node(subject_level) = certificate.role {
                        if subject_level <= issuer_level {
                            last = Some(TrustError::OutOfScope {
                                reason: format!(
                                    "a {issuer_level} may certify only lower levels, not a {subject_level}"
                                ),
                            });
                            continue;
                        }
                    }
                    let mut chain = vec![issuer.org.clone()];
                    chain.extend(issuer.chain);
                    return Ok(chain);
                }
                Err(error) => last = Some(error),
            }
        }
        Err(match last {
            Some(TrustError::Untrusted { reason }) => TrustError::Untrusted {
                reason: format!(
                    "issuer {} of {}'s certificate: {reason}",
                    certificate.issuer_org, certificate.subject_org
                ),
            },
            Some(other) => other,
            None => TrustError::Untrusted {
                reason: format!("no signer of the certificate for {} is trusted", certificate.subject_org),
            },
        })
    }

    /// A key with standing for `org` (or the anchor of `org`) signed this.
    fn check_authority(&self, org: &OrgId, signers: &[PublicKey], at_ms: i64, what: &str) -> Result<(), TrustError> {
        for anchor in self.anchors.iter().filter(|anchor| anchor.org == *org) {
            if anchor.signed_by_enough(signers) {
                return Ok(());
            }
        }
        let mut last = None;
        for signer in signers {
            match self.check_key(org, signer, at_ms, at_ms, 0) {
                Ok(standing) if matches!(standing.role, Role::Node(_)) => return Ok(()),
                Ok(standing) => {
                    last = Some(TrustError::OutOfScope { reason: format!("a {} may not sign a {what}", standing.role) })
                }
                Err(error) => last = Some(error),
            }
        }
        Err(last
            .unwrap_or_else(|| TrustError::Untrusted { reason: format!("no signer of the {what} speaks for {org}") }))
    }
}

fn same_lineage(a: &Certificate, b: &Certificate) -> bool {
    a.role == b.role && if a.role.is_reader() { a.subject_key == b.subject_key } else { a.subject_org == b.subject_org }
}
