//! The node's side of the trust hierarchy: the statements it holds (rebuilt
//! from the store at start), whether a key speaks for an org, and the
//! operator's acts: certify a child, install this node's own chain, revoke.

use chrono::{DateTime, Utc};

use edusync_core::{OrgId, ValidationError};
use edusync_envelope::PublicKey;
use edusync_store::Feeds;
use edusync_trust::{
    armor, dearmor, verify_enrolment_request, Admission, Anchor, Certificate, Revocation, RevocationReason, Role,
    Rotation, Standing, Statement, TrustError, TrustSet, VerifiedStatement,
};

use crate::{Node, NodeError};

/// Statements that come from a child go up; from the parent, down; a node's
/// own statements go both ways.
pub(crate) const FROM_CHILD: Feeds = Feeds { up: true, down: false };
pub(crate) const FROM_PARENT: Feeds = Feeds { up: false, down: true };
pub(crate) const OWN: Feeds = Feeds { up: true, down: true };

const DEFAULT_VALIDITY_MS: i64 = 365 * 86_400_000;
/// More than any parent has children and readers waiting at once.
pub(crate) const MAX_PENDING_ENROLMENTS: usize = 1000;
/// One place in this many of the queue is kept for requests signed by a key
/// that speaks for its org now (a child renewing or replacing its key), so
/// strangers filling the queue cannot lock out the children it serves.
pub(crate) const ENROLMENT_PLACES_FOR_KNOWN_ONE_IN: usize = 10;
/// A request not answered within this long is dropped: its requester asks again.
pub(crate) const ENROLMENT_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::days(14);

/// What a batch of statements did.
#[derive(Clone, Debug, Default)]
pub struct StatementReport {
    pub added: u32,
    pub known: u32,
    /// (index in the batch, reason)
    pub refused: Vec<(usize, String)>,
}

pub(crate) fn trust_set(config: &edusync_config::NodeConfig) -> TrustSet {
    let anchors = config
        .trust
        .anchors
        .iter()
        .map(|anchor| Anchor { org: anchor.org_id.clone(), keys: anchor.keys.clone(), threshold: anchor.threshold })
        .collect();
    TrustSet::new(anchors, i64::try_from(config.trust.clock_skew.as_millis()).unwrap_or(i64::MAX))
}

fn invalid(field: &str, reason: impl Into<String>) -> NodeError {
    NodeError::Invalid(ValidationError::new(field, edusync_core::Reason::Malformed { detail: reason.into() }))
}

impl Node {
    pub(crate) fn trust(&self) -> std::sync::RwLockReadGuard<'_, TrustSet> {
        self.trust.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn trust_mut(&self) -> std::sync::RwLockWriteGuard<'_, TrustSet> {
        self.trust.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Rebuilds the trust set from the store, in admission order.
    pub(crate) fn load_trust(&self) -> Result<(), NodeError> {
        let mut trust = self.trust_mut();
        for bytes in self.store.statements()? {
            let admitted = VerifiedStatement::verify(&bytes).and_then(|statement| trust.admit(&statement));
            if let Err(error) = admitted {
                tracing::warn!(org = %self.org(), error = %error, "a stored trust statement no longer holds");
            }
        }
        Ok(())
    }

    /// Whether this node's own key has standing now.
    pub fn own_standing(&self, now: DateTime<Utc>) -> Result<Standing, TrustError> {
        self.trust().standing(self.org(), &self.public_key(), now.timestamp_millis())
    }

    /// This node's certificate chain, root first, as signed bytes.
    pub fn own_chain(&self, now: DateTime<Utc>) -> Vec<Vec<u8>> {
        self.trust().chain_statements(self.org(), &self.public_key(), now.timestamp_millis())
    }

    /// `key` speaks for `org` at `at_ms` and `org` is a node this one certified.
    pub(crate) fn child_standing(&self, org: &OrgId, key: &PublicKey, at_ms: i64) -> Result<Standing, String> {
        let standing = self.trust().standing(org, key, at_ms).map_err(|error| error.to_string())?;
        if !matches!(standing.role, Role::Node(_)) {
            return Err(format!("{org} is certified as a {}, not as a node", standing.role));
        }
        if standing.chain.first() != Some(self.org()) {
            return Err(format!("{org} was not certified by {}; it is not a child of this node", self.org()));
        }
        Ok(standing)
    }

    /// The children with the level they were certified at.
    pub(crate) fn children_with_levels(&self) -> Vec<(OrgId, edusync_core::Level)> {
        let mut children: Vec<(OrgId, edusync_core::Level)> = self
            .trust()
            .certificates()
            .filter(|certificate| certificate.issuer_org == *self.org() && certificate.subject_org != *self.org())
            .filter_map(|certificate| match certificate.role {
                Role::Node(level) => Some((certificate.subject_org.clone(), level)),
                _ => None,
            })
            .collect();
        children.sort();
        children.dedup_by(|a, b| a.0 == b.0);
        children
    }

    /// The orgs this node certified as nodes: its children, past and present.
    pub(crate) fn children(&self) -> Vec<OrgId> {
        let mut children: Vec<OrgId> = self
            .trust()
            .certificates()
            .filter(|certificate| {
                certificate.issuer_org == *self.org()
                    && certificate.subject_org != *self.org()
                    && matches!(certificate.role, Role::Node(_))
            })
            .map(|certificate| certificate.subject_org.clone())
            .collect();
        children.sort();
        children.dedup();
        children
    }

    /// Verifies and admits statements, keeps the new ones in the store (on
    /// the given feeds) and flushes. Each statement stands alone.
    pub fn admit_statements(&self, items: &[Vec<u8>], feeds: Feeds) -> Result<StatementReport, NodeError> {
        let mut report = StatementReport::default();
        let mut revoked_orgs = std::collections::BTreeSet::new();
        for (index, bytes) in items.iter().enumerate() {
            let verified = match VerifiedStatement::verify(bytes) {
                Ok(verified) => verified,
                Err(error) => {
                    report.refused.push((index, error.to_string()));
                    continue;
                }
            };
            if matches!(verified.statement, Statement::EnrolmentRequest(_)) {
                report.refused.push((index, "an enrolment request is not a trust statement".into()));
                continue;
            }
            let admitted = self.trust_mut().admit(&verified);
            match admitted {
                Ok(Admission::Known) => report.known += 1,
                Ok(Admission::New) => {
                    self.store.add_statement(verified.id, verified.bytes(), feeds)?;
                    report.added += 1;
                    match &verified.statement {
                        Statement::Revocation(revocation) => {
                            revoked_orgs.insert(revocation.subject_org.clone());
                        }
                        Statement::Rotation(rotation) => {
                            revoked_orgs.insert(rotation.org.clone());
                        }
                        _ => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(org = %self.org(), statement = %verified.id_hex(), error = %error, "statement refused");
                    report.refused.push((index, error.to_string()));
                }
            }
        }
        // What a revoked (or retired) key signed may leave the sum: derive
        // again every period it counted in.
        for org in &revoked_orgs {
            self.rederive_periods_of(org)?;
        }
        if report.added > 0 {
            self.store.flush()?;
        }
        Ok(report)
    }

    /// Certificates held for this node's own org that bind a key other than
    /// its own, unexplained: not a key it rotated from or is rotating to,
    /// not revoked. Whoever holds such a key can sign as this unit, so the
    /// node watches what comes down to it, as Certificate Transparency
    /// monitors watch the logs for their own names.
    pub fn identity_alerts(&self) -> Vec<String> {
        let own = self.public_key();
        let trust = self.trust();
        trust
            .certificates()
            .filter(|certificate| {
                certificate.subject_org == *self.org() && !certificate.role.is_reader() && certificate.subject_key != own
            })
            .filter(|certificate| {
                let key = certificate.subject_key;
                let retired = trust.rotation_of(&key).is_some();
                let next = trust.rotation_of(&own).is_some_and(|rotation| rotation.new_key == key);
                let revoked = trust.revocations().any(|revocation| revocation.subject_key == key);
                !retired && !next && !revoked
            })
            .map(|certificate| {
                format!(
                    "certificate version {} from {} binds key {} to {}, and this node's key is {}: whoever holds that key can sign as this unit; if this node did not ask for it, have {} revoke it",
                    certificate.version,
                    certificate.issuer_org,
                    certificate.subject_key,
                    certificate.subject_org,
                    own,
                    certificate.issuer_org
                )
            })
            .collect()
    }

    /// An enrolment request for this node's own key, as a request file.
    pub fn enrolment_request(&self, now: DateTime<Utc>) -> Result<String, NodeError> {
        let issuer = issuer_of(
            self.org(),
            self.parent.as_ref().map(|parent| &parent.org_id),
            self.trust().anchors().iter().map(|anchor| &anchor.org),
        )?;
        let request = own_enrolment_request(self.organisation(), issuer, self.public_key(), now);
        Ok(armor(&[Statement::EnrolmentRequest(request).sign(&[&self.key])]))
    }

    /// Certifies a child's (or a reader's) request. The answer is the whole
    /// chain, root first, so that the requester can verify it to its anchor.
    pub fn sign_enrolment(
        &self,
        request_text: &str,
        not_after: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(String, Certificate), NodeError> {
        self.sign_enrolment_from(request_text, None, not_after, now)
    }

    /// `sign_enrolment` with the start of validity set: a unit enrolled
    /// after it began reporting owes its deadlines from then. At most ten
    /// years back, never in the future.
    pub fn sign_enrolment_from(
        &self,
        request_text: &str,
        not_before: Option<DateTime<Utc>>,
        not_after: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(String, Certificate), NodeError> {
        if let Some(not_before) = not_before {
            if not_before > now || not_before < now - chrono::TimeDelta::days(3653) {
                return Err(invalid(
                    "not_before",
                    format!("{not_before} is not between ten years ago and now; a certificate cannot start later than it is issued"),
                ));
            }
        }
        let bytes = dearmor(request_text).map_err(|error| invalid("request", error.to_string()))?;
        let [request_bytes] = bytes.as_slice() else {
            return Err(invalid("request", format!("a request file holds one statement, this one {}", bytes.len())));
        };
        let (_, request) =
            verify_enrolment_request(request_bytes).map_err(|error| invalid("request", error.to_string()))?;
        if request.parent_org != *self.org() {
            return Err(invalid(
                "request",
                format!("it asks {} to certify it, not {}", request.parent_org, self.org()),
            ));
        }
        // A reader may read this node's own org; a node is always below it.
        let own_org_allowed = request.role.is_reader();
        if !request.subject_org.is_within(self.org()) || (request.subject_org == *self.org() && !own_org_allowed) {
            return Err(invalid(
                "request",
                format!(
                    "{} is outside this node's scope {}; it may certify only org ids below it",
                    request.subject_org,
                    self.org()
                ),
            ));
        }
        if let Role::Node(level) = request.role {
            if level <= self.organisation().level {
                return Err(invalid(
                    "request",
                    format!("a {} may certify only lower levels, not a {level}", self.organisation().level),
                ));
            }
        }
        if let Some(previous) = &request.previous_key {
            self.trust()
                .standing(&request.subject_org, previous, now.timestamp_millis())
                .map_err(|error| invalid("request", format!("the key it replaces has no standing: {error}")))?;
        }
        self.own_standing(now)
            .map_err(|error| invalid("request", format!("this node cannot certify anyone yet: {error}")))?;
        let now_ms = now.timestamp_millis();
        let not_after_ms = not_after.map_or(now_ms + DEFAULT_VALIDITY_MS, |time| time.timestamp_millis());
        let certificate = Certificate {
            subject_key: request.subject_key,
            subject_org: request.subject_org.clone(),
            role: request.role,
            issuer_org: self.org().clone(),
            version: self.trust().next_version(&request.subject_org, request.role, &request.subject_key),
            // Offline clocks drift: a certificate is valid from a day before it was issued.
            not_before_ms: not_before.map_or(now_ms - 86_400_000, |time| time.timestamp_millis()),
            not_after_ms,
            issued_ms: now_ms,
        };
        let statement = Statement::Certificate(certificate.clone()).sign(&[&self.key]);
        let report = self.admit_statements(std::slice::from_ref(&statement), OWN)?;
        if let Some((_, reason)) = report.refused.first() {
            return Err(invalid("request", reason.clone()));
        }
        tracing::info!(org = %self.org(), subject = %certificate.subject_org, role = %certificate.role, version = certificate.version, "certificate issued");
        let mut chain = self.trust().chain_statements(self.org(), &self.public_key(), now_ms);
        chain.push(statement);
        Ok((armor(&chain), certificate))
    }

    /// Installs this node's certificate chain (root first). Every statement
    /// is checked; the last must certify this node's own key.
    pub fn install_certificate(&self, text: &str, now: DateTime<Utc>) -> Result<(Certificate, u32), NodeError> {
        let (statements, certificate) = certificate_file(text)?;
        let certificate = &certificate;
        if certificate.subject_org != *self.org() || certificate.subject_key != self.public_key() {
            return Err(invalid(
                "certificate",
                format!(
                    "it certifies {} for {}, but this node is {} with key {}{}",
                    certificate.subject_key,
                    certificate.subject_org,
                    self.org(),
                    self.public_key(),
                    if certificate.subject_org == *self.org() {
                        "; a certificate for the key of `edusync keys rotate` is installed with the node stopped, \
                         by `edusync enroll install --config`"
                    } else {
                        ""
                    }
                ),
            ));
        }
        if let Some(held) = self.trust().highest_version(certificate) {
            if held > certificate.version {
                return Err(invalid(
                    "certificate",
                    format!("it is version {}, older than the installed version {held}", certificate.version),
                ));
            }
        }
        self.would_stand(statements.iter(), &self.public_key(), now)?;
        let report = self.admit_statements(&statements, FROM_PARENT)?;
        if let Some((index, reason)) = report.refused.first() {
            return Err(invalid("certificate", format!("statement {} of the file: {reason}", index + 1)));
        }
        tracing::info!(org = %self.org(), version = certificate.version, "certificate installed");
        Ok((certificate.clone(), report.added))
    }

    /// Takes in the certificate for `next` (the key of `edusync keys rotate`)
    /// and signs, with both keys, the rotation that retires the current key
    /// from now on. What the current key signed before stays valid. Run with
    /// the node stopped; the caller then puts `next` in place of the node key
    /// ([`crate::promote_next_key`]). Running it again after a crash finds
    /// what is already held and signs no second rotation.
    pub fn install_rotation(
        &self,
        text: &str,
        next: &edusync_envelope::NodeKey,
        now: DateTime<Utc>,
    ) -> Result<(Certificate, u32), NodeError> {
        let (statements, certificate) = certificate_file(text)?;
        let certificate = &certificate;
        if certificate.subject_org != *self.org() || certificate.subject_key != next.public_key() {
            return Err(invalid(
                "certificate",
                format!(
                    "it certifies {} for {}, but the key being rotated to is {} for {}",
                    certificate.subject_key,
                    certificate.subject_org,
                    next.public_key(),
                    self.org()
                ),
            ));
        }
        let old_key = self.public_key();
        let held = self.trust().rotation_of(&old_key).cloned();
        let rotation = match held {
            Some(rotation) if rotation.new_key == next.public_key() => rotation,
            Some(rotation) => {
                return Err(invalid(
                    "certificate",
                    format!("key {old_key} was already rotated to {}, not to {}", rotation.new_key, next.public_key()),
                ))
            }
            None => Rotation {
                org: self.org().clone(),
                old_key,
                new_key: next.public_key(),
                effective_ms: now.timestamp_millis(),
            },
        };
        let rotation = Statement::Rotation(rotation).sign(&[&self.key, next]);
        self.would_stand(statements.iter().chain(std::iter::once(&rotation)), &next.public_key(), now)?;
        let from_parent = self.admit_statements(&statements, FROM_PARENT)?;
        let own = self.admit_statements(std::slice::from_ref(&rotation), OWN)?;
        if let Some((_, reason)) = from_parent.refused.first().or(own.refused.first()) {
            return Err(invalid("certificate", reason.clone()));
        }
        tracing::warn!(org = %self.org(), old = %old_key, new = %next.public_key(), version = certificate.version, "key rotated");
        Ok((certificate.clone(), from_parent.added + own.added))
    }

    /// Whether `key` would speak for this node now once `statements` were
    /// admitted, tried on a copy of the trust set: a chain that would not give
    /// standing (expired, revoked, out of scope) leaves nothing behind.
    fn would_stand<'a>(
        &self,
        statements: impl Iterator<Item = &'a Vec<u8>>,
        key: &PublicKey,
        now: DateTime<Utc>,
    ) -> Result<(), NodeError> {
        let mut trial = self.trust().clone();
        for (index, bytes) in statements.enumerate() {
            VerifiedStatement::verify(bytes)
                .and_then(|statement| trial.admit(&statement))
                .map_err(|error| invalid("certificate", format!("statement {} of the file: {error}", index + 1)))?;
        }
        trial.standing(self.org(), key, now.timestamp_millis()).map_err(|error| {
            invalid("certificate", format!("not installed: {error}; ask the parent for a new certificate"))
        })?;
        Ok(())
    }

    /// Revokes a key this node (or a node below it) certified.
    pub fn revoke(
        &self,
        subject_org: &OrgId,
        subject_key: &PublicKey,
        reason: RevocationReason,
        effective: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<String, NodeError> {
        if !subject_org.is_within(self.org()) || subject_org == self.org() {
            return Err(invalid("subject_org", format!("{subject_org} is not below {}", self.org())));
        }
        let statement = Statement::Revocation(Revocation {
            issuer_org: self.org().clone(),
            subject_org: subject_org.clone(),
            subject_key: *subject_key,
            reason,
            effective_ms: effective.timestamp_millis(),
            issued_ms: now.timestamp_millis(),
        })
        .sign(&[&self.key]);
        let report = self.admit_statements(std::slice::from_ref(&statement), OWN)?;
        if let Some((_, reason)) = report.refused.first() {
            return Err(invalid("subject_key", reason.clone()));
        }
        tracing::warn!(org = %self.org(), subject = %subject_org, key = %subject_key, "key revoked");
        Ok(armor(&[statement]))
    }

    /// Keeps a request that arrived online for an operator to approve.
    pub fn queue_enrolment(&self, text: &str, now: DateTime<Utc>) -> Result<String, NodeError> {
        let bytes = dearmor(text).map_err(|error| invalid("request", error.to_string()))?;
        let [request_bytes] = bytes.as_slice() else {
            return Err(invalid("request", "a request file holds exactly one statement"));
        };
        let (verified, request) =
            verify_enrolment_request(request_bytes).map_err(|error| invalid("request", error.to_string()))?;
        if request.parent_org != *self.org() || !request.subject_org.is_within(self.org()) {
            return Err(invalid("request", format!("{} is not for {} to certify", request.subject_org, self.org())));
        }
        // A child that restarted asks again with a new timestamp: the same
        // key for the same org is one request for the operator, not two.
        let same = |other: &edusync_trust::EnrolmentRequest| {
            other.subject_org == request.subject_org
                && other.subject_key == request.subject_key
                && other.role == request.role
                && other.previous_key == request.previous_key
        };
        if request.created_ms > now.timestamp_millis() + self.trust().grace_ms() {
            return Err(invalid("request", "it is dated in the future; check the requesting machine's clock"));
        }
        self.drop_expired_enrolments(now)?;
        let pending = self.pending_enrolments(now)?;
        if let Some((id, _)) = pending.iter().find(|(_, other)| same(other)) {
            return Ok(id.clone());
        }
        // Known: signed by a key that speaks for the org now (a renewal, or a
        // replacement signed by the old key too). Naming a child is not enough.
        let speaks = |key: &edusync_envelope::PublicKey| {
            self.trust().standing(&request.subject_org, key, now.timestamp_millis()).is_ok()
        };
        let known = speaks(&request.subject_key) || request.previous_key.as_ref().is_some_and(speaks);
        let limit = self.pending_enrolment_limit;
        let places = if known { limit } else { limit - (limit / ENROLMENT_PLACES_FOR_KNOWN_ONE_IN).max(1) };
        if pending.len() >= places {
            return Err(NodeError::Exhausted(format!(
                "{} enrolment requests already wait for an operator at {}; nothing was queued (requests expire after {} days, and the operator can clear them with `edusync enroll pending --clear-older-than`)",
                pending.len(),
                self.org(),
                ENROLMENT_LIFETIME.num_days()
            )));
        }
        if self.store.enrolment_answer(&verified.id)?.is_none() {
            self.store.add_enrolment_request(verified.id, request_bytes)?;
            self.store.flush()?;
            tracing::info!(org = %self.org(), subject = %request.subject_org, request = %verified.id_hex(), "enrolment request waiting for an operator");
        }
        Ok(verified.id_hex())
    }

    /// Requests waiting for an operator that have not expired, oldest first.
    pub fn pending_enrolments(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, edusync_trust::EnrolmentRequest)>, NodeError> {
        let oldest = (now - ENROLMENT_LIFETIME).timestamp_millis();
        let mut out = Vec::new();
        for (_, bytes) in self.store.enrolment_requests()? {
            if let Ok((verified, request)) = verify_enrolment_request(&bytes) {
                if request.created_ms >= oldest {
                    out.push((verified.id_hex(), request));
                }
            }
        }
        out.sort_by_key(|(_, request)| request.created_ms);
        Ok(out)
    }

    fn drop_expired_enrolments(&self, now: DateTime<Utc>) -> Result<(), NodeError> {
        self.reject_enrolments(&[], Some(ENROLMENT_LIFETIME), now).map(|_| ())
    }

    /// Drops pending requests named by id (or a unique prefix of at least 8
    /// hex digits) and every one made longer than `older_than` ago; the ids
    /// dropped. Nothing is certified or answered: a requester asks again.
    pub fn reject_enrolments(
        &self,
        ids: &[String],
        older_than: Option<chrono::TimeDelta>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, NodeError> {
        let pending = self.store.enrolment_requests()?;
        let mut chosen: Vec<[u8; 32]> = Vec::new();
        for wanted in ids {
            chosen.push(pending_by_prefix(&pending, wanted, "request_ids")?);
        }
        if let Some(age) = older_than {
            let before = (now - age).timestamp_millis();
            for (id, bytes) in &pending {
                // A request that does not verify any more is never worth keeping.
                let old = verify_enrolment_request(bytes).map_or(true, |(_, request)| request.created_ms < before);
                if old {
                    chosen.push(*id);
                }
            }
        }
        let mut rejected = Vec::new();
        for id in chosen {
            if self.store.remove_enrolment_request(&id)? {
                rejected.push(hex::encode(id));
            }
        }
        if !rejected.is_empty() {
            self.store.flush()?;
            tracing::info!(org = %self.org(), count = rejected.len(), "enrolment requests dropped");
        }
        Ok(rejected)
    }

    /// Signs a pending request by id and keeps the answer for the requester.
    pub fn approve_enrolment(
        &self,
        id_hex: &str,
        not_after: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(String, Certificate), NodeError> {
        let id = pending_by_prefix(&self.store.enrolment_requests()?, id_hex, "request_id")?;
        let bytes = self
            .store
            .enrolment_request(&id)?
            .ok_or_else(|| NodeError::NotFound(format!("no pending enrolment request {id_hex}")))?;
        let (chain, certificate) = self.sign_enrolment(&armor(&[bytes]), not_after, now)?;
        self.store.answer_enrolment_request(&id, chain.as_bytes())?;
        self.store.flush()?;
        Ok((chain, certificate))
    }

    pub fn enrolment_answer(&self, id_hex: &str) -> Result<Option<String>, NodeError> {
        let id = parse_request_id(id_hex)?;
        Ok(self.store.enrolment_answer(&id)?.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// A certificate file's statements (root first) and the certificate it ends with.
fn certificate_file(text: &str) -> Result<(Vec<Vec<u8>>, Certificate), NodeError> {
    let statements = dearmor(text).map_err(|error| invalid("certificate", error.to_string()))?;
    let last = statements.last().ok_or_else(|| invalid("certificate", "the file holds no statement"))?;
    let last = VerifiedStatement::verify(last).map_err(|error| invalid("certificate", error.to_string()))?;
    let Statement::Certificate(certificate) = last.statement else {
        return Err(invalid("certificate", "the last statement of the file is not a certificate"));
    };
    Ok((statements, certificate))
}

fn parse_request_id(text: &str) -> Result<[u8; 32], NodeError> {
    crate::auth::decode_hex32(text).ok_or_else(|| invalid("request_id", "a request id is 64 hexadecimal digits"))
}

/// The one pending request whose id starts with `wanted` (8 to 64 hex
/// digits, as git takes commit ids); which ones match when several do.
fn pending_by_prefix(
    pending: &[edusync_store::PendingRequest],
    wanted: &str,
    field: &str,
) -> Result<[u8; 32], NodeError> {
    let wanted = wanted.trim().to_ascii_lowercase();
    if wanted.len() < 8 || wanted.len() > 64 || !wanted.chars().all(|digit| digit.is_ascii_hexdigit()) {
        return Err(invalid(field, format!("`{wanted}` is not a request id or a prefix of 8 or more hex digits")));
    }
    let matching: Vec<[u8; 32]> =
        pending.iter().map(|(id, _)| *id).filter(|id| hex::encode(id).starts_with(&wanted)).collect();
    match matching.as_slice() {
        [one] => Ok(*one),
        [] => Err(NodeError::NotFound(format!("no pending enrolment request {wanted}"))),
        several => Err(invalid(
            field,
            format!(
                "`{wanted}` names {} pending requests ({}); give more digits",
                several.len(),
                several.iter().map(|id| hex::encode(&id[..6])).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

impl Node {
    /// The same request bytes every time for the same key, so that asking
    /// again online finds the pending request instead of queueing another.
    pub(crate) fn enrolment_request_cached(&self) -> Result<String, NodeError> {
        let mut cached = self.enrolment_request.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(text) = cached.as_ref() {
            return Ok(text.clone());
        }
        let text = self.enrolment_request(chrono::Utc::now())?;
        *cached = Some(text.clone());
        Ok(text)
    }

    /// Items of the parent's downward feed, in order: trust statements are
    /// admitted, plans from above verified and kept; both are passed on down.
    /// A refused item is logged and skipped: the feed goes on.
    pub(crate) fn take_from_above(&self, items: &[Vec<u8>]) -> Result<(), NodeError> {
        for item in items {
            if item.starts_with(edusync_trust::STATEMENT_MAGIC) {
                let report = self.admit_statements(std::slice::from_ref(item), FROM_PARENT)?;
                for (_, reason) in report.refused {
                    tracing::warn!(org = %self.org(), reason = %reason, "a statement from above was refused");
                }
            } else if let Err(reason) = self.take_record_from_above(item)? {
                tracing::warn!(org = %self.org(), reason = %reason, "a record from above was refused");
            }
        }
        self.store.flush()?;
        Ok(())
    }
}

/// Who certifies a node: its parent, or for a node without one, the trust
/// anchor whose org id lies above it.
pub fn issuer_of<'a>(
    org: &OrgId,
    parent: Option<&OrgId>,
    mut anchors: impl Iterator<Item = &'a OrgId>,
) -> Result<OrgId, NodeError> {
    parent
        .or_else(|| anchors.find(|anchor| org.is_within(anchor)))
        .cloned()
        .ok_or_else(|| invalid("parent", format!("{org} has no parent and no trust anchor above it")))
}

/// The request a node makes to have its own key certified by `issuer`.
pub fn own_enrolment_request(
    organisation: &edusync_core::Organisation,
    issuer: OrgId,
    key: PublicKey,
    now: DateTime<Utc>,
) -> edusync_trust::EnrolmentRequest {
    edusync_trust::EnrolmentRequest {
        subject_org: organisation.id.clone(),
        role: Role::Node(organisation.level),
        parent_org: issuer,
        subject_key: key,
        previous_key: None,
        created_ms: now.timestamp_millis(),
    }
}

/// The request to certify `next` in place of `current`, signed by both: the
/// new key proves possession, the old one that the rotation is wanted.
pub fn rotation_request(
    organisation: &edusync_core::Organisation,
    issuer: OrgId,
    current: &edusync_envelope::NodeKey,
    next: &edusync_envelope::NodeKey,
    now: DateTime<Utc>,
) -> String {
    let request = edusync_trust::EnrolmentRequest {
        previous_key: Some(current.public_key()),
        ..own_enrolment_request(organisation, issuer, next.public_key(), now)
    };
    armor(&[Statement::EnrolmentRequest(request).sign(&[next, current])])
}

/// Enrolment without files or network, for a hierarchy in one process (the
/// demo and tests): the parent certifies the child's request exactly as
/// `edusync enroll sign` would, and the child installs the answer.
pub fn enrol_in_process(parent: &Node, child: &Node, now: DateTime<Utc>) -> Result<Certificate, NodeError> {
    let request = child.enrolment_request(now)?;
    let (chain, _) = parent.sign_enrolment(&request, None, now)?;
    Ok(child.install_certificate(&chain, now)?.0)
}

/// Certifies a top node with an anchor's keys, as `edusync keys certify`
/// does with offline root keys, and installs it.
pub fn certify_by_anchor(
    node: &Node,
    anchor_org: &OrgId,
    keys: &[&edusync_envelope::NodeKey],
    now: DateTime<Utc>,
) -> Result<Certificate, NodeError> {
    let now_ms = now.timestamp_millis();
    let request = own_enrolment_request(node.organisation(), anchor_org.clone(), node.public_key(), now);
    let certificate = edusync_trust::issue_certificate(
        &request,
        anchor_org,
        1,
        now_ms - 86_400_000,
        now_ms + DEFAULT_VALIDITY_MS * 10,
        now_ms,
        keys,
    );
    Ok(node.install_certificate(&armor(&[certificate]), now)?.0)
}
