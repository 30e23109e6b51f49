//! The node's synchronous core: writing its own records and ingesting its
//! children's. Every method here may block on storage; callers in async code
//! run it on the blocking pool.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use edusync_config::NodeConfig;
use edusync_core::{
    LogStream, OrgId, Organisation, Period, Reason, Record, RecordId, RecordKind, Seq, ValidationContext,
    ValidationError,
};
use edusync_envelope::{
    sign_bundle, sign_envelope, BundleCheckpoint, BundleEntries, EnvelopeDraft, NodeKey, PublicKey, VerifiedBundle,
    VerifiedEnvelope,
};
use edusync_proto::{decode_record, encode_record};
use edusync_store::{Append, Indexing, Offer, OwnAppend, OwnDraft, Store};

use crate::NodeError;

/// One node: its identity, key, store, and the children it accepts.
pub struct Node {
    organisation: Organisation,
    pub(crate) key: NodeKey,
    pub(crate) store: Store,
    utc_offset: chrono::FixedOffset,
    /// Anchors and every certificate, revocation and rotation held: who may
    /// sign for whom. Rebuilt from the store at start.
    pub(crate) trust: std::sync::RwLock<edusync_trust::TrustSet>,
    /// Woken whenever a record lands in the shared log, so sync runs at once.
    shared_written: Arc<tokio::sync::Notify>,
    pub(crate) aggregation: crate::aggregator::Aggregation,
    pub(crate) privacy: edusync_config::PrivacyConfig,
    /// `Some` only in `edusync demo`: privacy noise drawn from this seed, so
    /// that the same seed shows the same released values. A real node draws
    /// from the operating system; seeded, its releases would be predictable.
    noise_seed: Option<u64>,
    pub(crate) parent: Option<edusync_config::ParentConfig>,
    /// This node's enrolment request, made once per run so that asking
    /// again online is idempotent.
    pub(crate) enrolment_request: std::sync::Mutex<Option<String>>,
    /// Anyone may leave an enrolment request, so the queue is bounded.
    pub(crate) pending_enrolment_limit: usize,
    /// Threads that verify an arriving batch: `verify_strict` spread over the
    /// cores measured faster than strict batch verification (`edusync bench sync`).
    verify_threads: usize,
    /// Refusals of children's records since start, by class, for metrics.
    refusals: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// Draws readers' releases one at a time (see releases.rs).
    pub(crate) releases: crate::releases::ReaderReleases,
    /// Paused while the parent may hold more of the shared log than this
    /// node does, so that it never signs at a position the parent holds.
    pub(crate) shared_signing: crate::signing::SharedSigning,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("org", &self.organisation.id).finish_non_exhaustive()
    }
}

/// The office a plan or policy names as its issuer: only that office signs it.
fn issuing_org(record: &Record) -> Option<&OrgId> {
    match record {
        Record::Plan(plan) => Some(&plan.issuing_org),
        Record::Policy(policy) => Some(&policy.issuing_org),
        _ => None,
    }
}

/// Why an envelope was not stored, and, when it is authentic but its content
/// was refused, the envelope that may hold its place in its log.
struct Refused {
    refusal: Refusal,
    hold: Option<Box<(VerifiedEnvelope, RecordKind)>>,
}

/// Why a record of this node's own was not signed.
enum SignRefused {
    /// Signing in the shared log is paused.
    Paused,
    Node(NodeError),
}

/// The content address of a record: the same record submitted twice is stored once.
pub(crate) fn content_hash(payload_type: &str, payload: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(payload_type.as_bytes());
    hasher.update([0]);
    hasher.update(payload);
    hasher.finalize().into()
}

/// Severe notices are rare; more than this many from one child ahead of its
/// log is not a school catching up.
const MAX_NOTICES_AHEAD_PER_CHILD: usize = 200;

/// What a delivery of notices ahead of their log did.
#[derive(Clone, Debug, Default)]
pub struct NoticesAhead {
    pub stored: u32,
    pub known: u32,
    pub refused: Vec<Refusal>,
}

/// The outcome of writing one record.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub id: RecordId,
    pub envelope: Vec<u8>,
    pub already_stored: bool,
    pub stream: LogStream,
}

/// A pushed batch after `Node::check_batch`: what may go into the store, and
/// what was refused already.
pub struct CheckedBatch {
    admitted: Vec<Admitted>,
    refused: Vec<Refusal>,
}

/// An envelope of an ingested batch that passed every check but its log
/// position, or (with `refusal`) one refused for its content but authentic,
/// to be held at its place.
struct Admitted {
    envelope: VerifiedEnvelope,
    kind: RecordKind,
    period: Option<Period>,
    refusal: Option<Refusal>,
}

/// Why one envelope of a batch was not taken into its author's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub record_id: RecordId,
    pub seq: u64,
    /// What kind of refusal: the metrics label and the code on the wire.
    pub kind: RefusalKind,
    /// The particulars, for the person reading it.
    pub reason: String,
}

/// Why an envelope was refused, as a closed list: metrics count by it and
/// the wire carries its code, so nothing is classified by a message's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefusalKind {
    /// The bytes are not an envelope, or its signature does not verify.
    BadEnvelope,
    UntrustedSigner,
    LocalRecord,
    UnknownKind,
    /// A kind that never travels upward raw (incidents, risk registers, …).
    RawRecord,
    MalformedRecord,
    /// It decodes, and its content is not acceptable (held at its place).
    InvalidRecord,
    Gap,
    Equivocation,
    Fork,
    /// Ahead of its log: only severe-incident notices may be.
    NotANotice,
    /// Ahead of its log: too many of the child's notices wait already.
    TooManyAhead,
    /// A parent's code this node does not know (a newer edusync).
    Other,
}

impl RefusalKind {
    pub(crate) const ALL: [RefusalKind; 13] = [
        RefusalKind::BadEnvelope,
        RefusalKind::UntrustedSigner,
        RefusalKind::LocalRecord,
        RefusalKind::UnknownKind,
        RefusalKind::RawRecord,
        RefusalKind::MalformedRecord,
        RefusalKind::InvalidRecord,
        RefusalKind::Gap,
        RefusalKind::Equivocation,
        RefusalKind::Fork,
        RefusalKind::NotANotice,
        RefusalKind::TooManyAhead,
        RefusalKind::Other,
    ];

    /// The metrics label and the wire code.
    pub fn code(self) -> &'static str {
        match self {
            RefusalKind::BadEnvelope => "bad_envelope",
            RefusalKind::UntrustedSigner => "untrusted_signer",
            RefusalKind::LocalRecord => "local_record",
            RefusalKind::UnknownKind => "unknown_kind",
            RefusalKind::RawRecord => "raw_record",
            RefusalKind::MalformedRecord => "malformed_record",
            RefusalKind::InvalidRecord => "invalid_record",
            RefusalKind::Gap => "gap",
            RefusalKind::Equivocation => "equivocation",
            RefusalKind::Fork => "fork",
            RefusalKind::NotANotice => "not_a_notice",
            RefusalKind::TooManyAhead => "too_many_ahead",
            RefusalKind::Other => "other",
        }
    }

    /// From a parent's wire code; one this node does not know is `Other`.
    pub fn from_code(code: &str) -> RefusalKind {
        RefusalKind::ALL.into_iter().find(|kind| kind.code() == code).unwrap_or(RefusalKind::Other)
    }
}

/// What importing a bundle did.
#[derive(Clone, Debug)]
pub enum BundleImport {
    Ingested(IngestReport),
    /// The parent acknowledged this node's shared log up to `seq`.
    Acknowledged {
        seq: u64,
    },
}

/// What a batch did at the parent. Everything counted here is flushed.
#[derive(Clone, Debug, Default)]
pub struct IngestReport {
    pub stored: u32,
    pub duplicates: u32,
    pub refused: Vec<Refusal>,
    /// Refused for their content, but authentic: kept at their place in the
    /// log (never counted or listed) so that what follows them goes in.
    pub held: u32,
    /// Highest contiguous (seq, head id) per author log touched by the batch.
    pub checkpoints: Vec<(OrgId, Seq, RecordId)>,
}

impl Node {
    pub fn open(config: &NodeConfig, key: NodeKey) -> Result<Self, NodeError> {
        let store = Store::open(&config.store_path())?;
        store.set_disk_reserve(config.disk_reserve_bytes);
        let node = Node {
            organisation: config.organisation.clone(),
            key,
            store,
            utc_offset: config.utc_offset,
            trust: std::sync::RwLock::new(crate::trust::trust_set(config)),
            shared_written: Arc::new(tokio::sync::Notify::new()),
            aggregation: crate::aggregator::Aggregation::default(),
            privacy: config.privacy.clone(),
            parent: config.parent.clone(),
            enrolment_request: std::sync::Mutex::new(None),
            pending_enrolment_limit: crate::trust::MAX_PENDING_ENROLMENTS,
            verify_threads: std::thread::available_parallelism().map_or(1, usize::from),
            refusals: std::sync::Mutex::new(std::collections::BTreeMap::new()),
            releases: crate::releases::ReaderReleases::default(),
            shared_signing: crate::signing::SharedSigning::default(),
            noise_seed: None,
        };
        node.load_trust()?;
        // A node with no parent has no one who could hold more of its log.
        if node.parent.is_none() && node.store.cursor(crate::backup::RESTORED)?.is_some() {
            node.reconciled()?;
        }
        Ok(node)
    }

    /// For `edusync demo` only (see `noise_seed`).
    pub fn with_demo_noise_seed(mut self, seed: u64) -> Self {
        self.noise_seed = Some(seed);
        self
    }

    /// The generator one privacy release draws from: the operating system's,
    /// or in the demo one seeded by the demo's seed, this node and `release`
    /// (which names the release), whatever order releases happen in.
    pub(crate) fn noise_rng(&self, release: &str) -> edusync_privacy::DrawRng {
        match self.noise_seed {
            None => edusync_privacy::fresh_rng(),
            Some(seed) => {
                use sha2::Digest;
                let digest = sha2::Sha256::new()
                    .chain_update(seed.to_be_bytes())
                    .chain_update(self.org().as_str().as_bytes())
                    .chain_update([0])
                    .chain_update(release.as_bytes())
                    .finalize();
                let mut first = [0u8; 8];
                first.copy_from_slice(&digest[..8]);
                edusync_privacy::seeded_rng(u64::from_be_bytes(first))
            }
        }
    }

    pub fn organisation(&self) -> &Organisation {
        &self.organisation
    }

    pub fn org(&self) -> &OrgId {
        &self.organisation.id
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn shared_written(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.shared_written)
    }

    /// The node's local time zone, which places incidents in semesters.
    pub fn utc_offset(&self) -> chrono::FixedOffset {
        self.utc_offset
    }

    /// Validates, signs, appends and flushes one of this node's own records.
    /// Submitting the same content twice returns the first record.
    pub fn submit(&self, record: Record, now: DateTime<Utc>) -> Result<Submitted, NodeError> {
        let mut submitted = self.write_own(vec![record], now, false)?;
        submitted.pop().ok_or_else(|| NodeError::Startup("a submission of one record wrote nothing".into()))
    }

    /// Validates every record first (one bad record: nothing is written),
    /// then signs and appends each in order and flushes once, so that a
    /// spreadsheet or a generated school year costs one disk sync, not one
    /// per record. Same content submitted twice returns the first record.
    /// A refusal names the record by its place, as `[i].field`.
    pub fn submit_all(&self, records: Vec<Record>, now: DateTime<Utc>) -> Result<Vec<Submitted>, NodeError> {
        self.write_own(records, now, true)
    }

    fn write_own(
        &self,
        records: Vec<Record>,
        now: DateTime<Utc>,
        name_by_place: bool,
    ) -> Result<Vec<Submitted>, NodeError> {
        let checked = records
            .into_iter()
            .enumerate()
            .map(|(index, record)| {
                self.check_own(record, now).map_err(|error| match error {
                    NodeError::Invalid(invalid) if name_by_place => {
                        NodeError::Invalid(invalid.within(&format!("[{index}]")))
                    }
                    other => other,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let counted: BTreeSet<Period> = checked
            .iter()
            .flat_map(|checked| crate::aggregator::periods_affected_by(checked.record(), self.utc_offset))
            .collect();
        if !counted.is_empty() {
            // Before the write: a crash in between leaves a spare derivation, never a stale aggregate.
            self.store.mark_dirty(&counted.iter().copied().collect::<Vec<_>>())?;
        }
        let submitted = self.append_checked_all(checked, now)?;
        if !counted.is_empty() {
            // And after: a derivation that ran between the first mark and the
            // write cleared that mark without seeing these records.
            self.store.mark_dirty(&counted.iter().copied().collect::<Vec<_>>())?;
        }
        if self.make_durable(&submitted)? && !counted.is_empty() {
            self.aggregation.wake();
        }
        Ok(submitted)
    }

    /// Flushes what `append_checked_all` wrote, and wakes the sync when the
    /// shared log grew. True if anything new was written. A record found
    /// already stored is made durable too before anyone hears of it: it may
    /// be another call's, still on its way to the disk.
    fn make_durable(&self, submitted: &[Submitted]) -> Result<bool, NodeError> {
        let written = submitted.iter().any(|submitted| !submitted.already_stored);
        let mut flush = written;
        for known in submitted.iter().filter(|submitted| submitted.already_stored) {
            if !flush {
                let view = edusync_envelope::EnvelopeView::parse(&known.envelope)?;
                flush = !self.store.is_durable(self.org(), known.stream, view.header.seq)?;
            }
        }
        if flush {
            self.store.flush()?;
        }
        if submitted.iter().any(|submitted| !submitted.already_stored && submitted.stream == LogStream::Shared) {
            self.shared_written.notify_one();
        }
        Ok(written)
    }

    /// The checks a record of this node's own passes before it is signed.
    fn check_own(&self, record: Record, now: DateTime<Utc>) -> Result<edusync_core::CheckedRecord, NodeError> {
        if record.kind().is_derived() {
            return Err(NodeError::Invalid(ValidationError::new(
                "kind",
                Reason::DerivedKind { kind: record.kind().to_string() },
            )));
        }
        let checked = record.check(&ValidationContext::at(now))?;
        if let Record::Incident(incident) = checked.record() {
            if let Some(first) = incident.follow_up_of {
                self.check_follow_up(first)?;
            }
        }
        if let Some(issuer) = issuing_org(checked.record()) {
            if issuer != self.org() {
                return Err(NodeError::Invalid(ValidationError::new(
                    "issuing_org",
                    Reason::IssuedInOwnName {
                        kind: checked.kind().to_string(),
                        own: self.org().to_string(),
                        got: issuer.to_string(),
                    },
                )));
            }
        }
        Ok(checked)
    }

    /// Encodes, signs, appends and flushes a record that passed its checks.
    pub(crate) fn write_checked(
        &self,
        checked: edusync_core::CheckedRecord,
        now: DateTime<Utc>,
    ) -> Result<Submitted, NodeError> {
        let mut submitted = self.append_checked_all(vec![checked], now)?;
        self.make_durable(&submitted)?;
        submitted.pop().ok_or_else(|| NodeError::Startup("a write of one record wrote nothing".into()))
    }

    /// Encodes, signs and appends records that passed their checks, as one
    /// atomic write (all or none, also across a crash); durable at the
    /// caller's flush. While signing in the shared log is paused (the parent
    /// may hold more of it than this node), waits for it to resume.
    fn append_checked_all(
        &self,
        checked: Vec<edusync_core::CheckedRecord>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Submitted>, NodeError> {
        let now_ms = now.timestamp_millis();
        let encoded: Vec<(&'static str, Vec<u8>)> =
            checked.iter().map(|checked| encode_record(checked.record())).collect();
        let drafts: Vec<OwnDraft> = checked
            .iter()
            .zip(&encoded)
            .map(|(checked, (payload_type, payload))| OwnDraft {
                content_hash: content_hash(payload_type, payload),
                indexing: Indexing {
                    kind: checked.kind(),
                    period: checked.record().period(self.utc_offset),
                    stored_unix_ms: now_ms,
                },
                // A plan is for the units below too: it joins the downward
                // feed atomically with its own log entry.
                publish_down: checked.kind().flows_down(),
            })
            .collect();
        let outcomes = loop {
            let attempt = self.store.append_own_all(self.org(), &drafts, |index, head| {
                let (payload_type, payload) = &encoded[index];
                let stream = drafts[index].indexing.kind.stream();
                // Nothing is signed at a sequence number a restored node may have used already.
                self.refuse_if_restored().map_err(SignRefused::Node)?;
                // Checked under the store's writer lock, so a pause takes effect
                // before any later signature in the shared log.
                if stream == LogStream::Shared && self.shared_signing.paused().is_some() {
                    return Err(SignRefused::Paused);
                }
                sign_envelope(
                    &self.key,
                    &EnvelopeDraft {
                        payload_type,
                        author_org: self.org(),
                        stream,
                        seq: head.map_or(Seq::FIRST, |(seq, _)| seq.next()),
                        prev: head.map(|(_, id)| id),
                        created_unix_ms: now_ms,
                        record: payload,
                    },
                )
                .map_err(|error| SignRefused::Node(error.into()))
            })?;
            match attempt {
                Ok(outcomes) => break outcomes,
                Err(SignRefused::Node(error)) => return Err(error),
                Err(SignRefused::Paused) => {
                    if let Err(why) = self.shared_signing.wait(crate::signing::WAIT_FOR_RESUME) {
                        return Err(NodeError::Retry(format!(
                            "{} signs nothing in its shared log while {why}",
                            self.org()
                        )));
                    }
                }
            }
        };
        let mut submitted = Vec::with_capacity(outcomes.len());
        for (outcome, draft) in outcomes.into_iter().zip(&drafts) {
            let kind = draft.indexing.kind;
            let stream = kind.stream();
            submitted.push(match outcome {
                OwnAppend::Stored(envelope) => {
                    tracing::info!(org = %self.org(), record = %envelope.id(), kind = %kind, seq = %envelope.header().seq, "record written");
                    Submitted { id: envelope.id(), envelope: envelope.into_bytes(), already_stored: false, stream }
                }
                OwnAppend::AlreadyStored(id) => match self.store.get(id)? {
                    Some(stored) => Submitted { id, envelope: stored.bytes, already_stored: true, stream },
                    // Stored by this very call (the same content twice in it).
                    None => submitted
                        .iter()
                        .find(|earlier: &&Submitted| earlier.id == id)
                        .map(|earlier| Submitted { already_stored: true, ..earlier.clone() })
                        .ok_or_else(|| NodeError::NotFound(format!("no record {id} is stored here")))?,
                },
            });
        }
        Ok(submitted)
    }

    fn check_follow_up(&self, first: RecordId) -> Result<(), NodeError> {
        let invalid = |reason: Reason| NodeError::Invalid(ValidationError::new("follow_up_of", reason));
        let stored = self.store.get(first)?.ok_or_else(|| invalid(Reason::NoSuchRecord { id: first.to_string() }))?;
        if stored.meta.kind != RecordKind::Incident || stored.meta.author_org != *self.org() {
            return Err(invalid(Reason::NotAnIncidentOfThisSchool { id: first.to_string() }));
        }
        Ok(())
    }

    /// Verifies, authorises, stores and flushes a batch of envelopes from
    /// children. Each envelope stands alone: a bad one is refused with a
    /// reason and the rest still go in.
    pub fn ingest(&self, envelopes: Vec<Vec<u8>>, now: DateTime<Utc>) -> Result<IngestReport, NodeError> {
        self.store_batch(self.check_batch(envelopes), now)
    }

    /// The first half of `ingest`, which writes nothing: signatures, signers'
    /// standing and content. A push stream checks the next batch with it
    /// while the store takes the one before.
    pub fn check_batch(&self, envelopes: Vec<Vec<u8>>) -> CheckedBatch {
        let mut refused = Vec::new();
        // Record ids of what arrived, to name refusals even when nothing verifies.
        let arrived: Vec<RecordId> = envelopes.iter().map(|bytes| RecordId(Sha256::digest(bytes).into())).collect();
        // Signatures first, before any decoding: verify_strict on every envelope, over all cores.
        // Then every check but log position; then one store write for the whole batch.
        let mut admitted = Vec::new();
        for (verified, arrived_id) in
            edusync_envelope::verify_parallel(envelopes, self.verify_threads).into_iter().zip(arrived)
        {
            match self.admit(verified, arrived_id) {
                Ok((envelope, kind, period)) => admitted.push(Admitted { envelope, kind, period, refusal: None }),
                Err(Refused { refusal, hold: Some(held) }) => {
                    let (envelope, kind) = *held;
                    admitted.push(Admitted { envelope, kind, period: None, refusal: Some(refusal) });
                }
                Err(Refused { refusal, hold: None }) => {
                    tracing::warn!(org = %self.org(), record = %refusal.record_id, reason = %refusal.reason, "envelope refused");
                    refused.push(refusal);
                }
            }
        }
        CheckedBatch { admitted, refused }
    }

    /// The second half of `ingest`: each checked envelope into its author's
    /// log, in one store write, flushed before anyone hears of it.
    pub fn store_batch(&self, batch: CheckedBatch, now: DateTime<Utc>) -> Result<IngestReport, NodeError> {
        let CheckedBatch { admitted, refused } = batch;
        let mut report = IngestReport { refused, ..IngestReport::default() };
        let mut authors = BTreeSet::new();
        let mut derive_again = false;
        let dirty: Vec<Period> = admitted
            .iter()
            .filter(|entry| entry.refusal.is_none() && entry.kind == RecordKind::Aggregate)
            .filter_map(|entry| entry.period)
            .collect();
        if !dirty.is_empty() {
            // Before the write: a crash in between leaves a spare derivation, never a stale aggregate.
            self.store.mark_dirty(&dirty)?;
            derive_again = true;
        }
        let stored_unix_ms = now.timestamp_millis();
        let offers: Vec<Offer<'_>> = admitted
            .iter()
            .map(|entry| Offer {
                envelope: &entry.envelope,
                indexing: Indexing { kind: entry.kind, period: entry.period, stored_unix_ms },
                held: entry.refusal.is_some(),
            })
            .collect();
        let outcomes = self.store.append_all(&offers)?;
        drop(offers);
        if derive_again {
            // And after: a derivation that ran between the first mark and the
            // write cleared that mark without seeing these aggregates, and
            // would leave this node's roll-up short of them until the next change.
            self.store.mark_dirty(&dirty)?;
        }
        for (entry, outcome) in admitted.into_iter().zip(outcomes) {
            let Admitted { envelope, kind, refusal, period } = entry;
            let header = envelope.header();
            if let Some(mut refusal) = refusal {
                // Authentic but refused for its content: held at its place, evidence only.
                match outcome {
                    Append::Stored | Append::Duplicate => {
                        report.held += 1;
                        authors.insert(header.author_org.clone());
                        refusal.reason.push_str(
                            "; held at its place in the log, not counted, so that the records after it go in",
                        );
                    }
                    Append::Gap { expected } => {
                        refusal.reason.push_str(&format!("; and out of order: this log continues at seq {expected}"))
                    }
                    Append::Equivocation { .. } | Append::Fork { .. } => {
                        refusal.reason.push_str("; and its log position is taken: kept as evidence")
                    }
                }
                tracing::warn!(org = %self.org(), record = %refusal.record_id, reason = %refusal.reason, "envelope refused");
                report.refused.push(refusal);
                continue;
            }
            authors.insert(header.author_org.clone());
            let refuse = |kind: RefusalKind, reason: String| Refusal {
                record_id: envelope.id(),
                seq: header.seq.0,
                kind,
                reason,
            };
            match outcome {
                Append::Stored => {
                    report.stored += 1;
                    if kind == RecordKind::Aggregate {
                        // The parent above gets it as evidence of what this node sums.
                        self.queue_child_aggregate(envelope.id(), period)?;
                    }
                    if kind == RecordKind::SevereNotice {
                        // Its log has caught up with it: it is held in order now.
                        self.store.drop_notice_ahead(envelope.id().0)?;
                    }
                }
                Append::Duplicate => report.duplicates += 1,
                Append::Gap { expected } => report.refused.push(refuse(
                    RefusalKind::Gap,
                    format!("gap: this log continues at seq {expected}, not {}", header.seq),
                )),
                Append::Equivocation { existing } => report.refused.push(refuse(
                    RefusalKind::Equivocation,
                    format!(
                        "equivocation: seq {} of {} already holds record {existing}; both are kept as evidence",
                        header.seq, header.author_org
                    ),
                )),
                Append::Fork { head } => report.refused.push(refuse(
                    RefusalKind::Fork,
                    format!("fork: seq {} does not follow the held head {head}; kept as evidence", header.seq),
                )),
            }
        }
        // Durable before anyone hears that it was stored.
        self.store.flush()?;
        if !report.refused.is_empty() {
            let mut counts = self.refusals.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for refusal in &report.refused {
                *counts.entry(refusal.kind.code()).or_default() += 1;
            }
        }
        if derive_again {
            self.aggregation.wake();
        }
        for author in authors {
            if let Some((seq, id)) = self.store.head(&author, LogStream::Shared)? {
                report.checkpoints.push((author, seq, id));
            }
        }
        Ok(report)
    }

    /// The store cursor holding what the parent last acknowledged.
    pub(crate) fn parent_cursor(parent: &OrgId) -> String {
        format!("parent-ack/{parent}")
    }

    /// Writes what this node owes `to` into one signed bundle: for its parent,
    /// its shared log past what the parent last acknowledged; for a child, an
    /// acknowledgement of that child's shared log as held here.
    ///
    /// To the parent, a long backlog goes in parts of at most `max_bytes` of
    /// envelopes, from `from_seq` on (default: the first not acknowledged);
    /// the third value is the seq the next part starts at, if any.
    pub fn export_bundle(
        &self,
        to: &OrgId,
        from_seq: Option<u64>,
        max_bytes: usize,
        now: DateTime<Utc>,
    ) -> Result<(Vec<u8>, usize, Option<u64>), NodeError> {
        let invalid =
            |reason: String| NodeError::Invalid(ValidationError::new("to", Reason::Malformed { detail: reason }));
        let mut next_seq = None;
        let entries = if self.parent.as_ref().is_some_and(|parent| parent.org_id == *to) {
            let acknowledged = self.store.cursor(&Node::parent_cursor(to))?.unwrap_or(0);
            let mut from = from_seq.unwrap_or(acknowledged + 1).max(1);
            let mut envelopes = Vec::new();
            let mut bytes = 0usize;
            'pages: loop {
                let page = self.store.read_log(self.org(), LogStream::Shared, Seq(from), 1000)?;
                let Some(last) = page.last().map(|stored| stored.meta.seq.0) else { break };
                for stored in page {
                    if !envelopes.is_empty() && bytes + stored.bytes.len() > max_bytes {
                        next_seq = Some(stored.meta.seq.0);
                        break 'pages;
                    }
                    bytes += stored.bytes.len();
                    envelopes.push(stored.bytes);
                }
                from = last + 1;
            }
            BundleEntries::Envelopes(envelopes)
        } else if self.children().contains(to) {
            let head = self.store.head(to, LogStream::Shared)?;
            // The whole downward feed: the child keeps what it lacks and
            // recognises the rest, so no cursor is needed on this side.
            let items = self.store.read_down(0, usize::MAX)?.into_iter().map(|(_, item)| item).collect();
            BundleEntries::Downward {
                checkpoints: head
                    .map(|(seq, head)| BundleCheckpoint { author: to.clone(), stream: LogStream::Shared, seq, head })
                    .into_iter()
                    .collect(),
                items,
            }
        } else {
            return Err(invalid(format!("{to} is neither the parent nor a child of {}", self.org())));
        };
        let count = match &entries {
            BundleEntries::Envelopes(envelopes) => envelopes.len(),
            BundleEntries::Checkpoints(checkpoints) => checkpoints.len(),
            BundleEntries::Downward { checkpoints, items } => checkpoints.len() + items.len(),
        };
        let bytes = sign_bundle(&self.key, self.org(), to, now.timestamp_millis(), &entries)?;
        Ok((bytes, count, next_seq))
    }

    /// Takes in a bundle with exactly the checks of online sync. Envelopes
    /// from a child go through `ingest`; from the parent, its downward feed
    /// goes through `take_from_above` and its acknowledgement, signed by a key
    /// that speaks for the parent, advances this node's checkpoint.
    pub fn import_bundle(&self, bytes: &[u8], now: DateTime<Utc>) -> Result<BundleImport, NodeError> {
        let invalid = |field: &str, reason: String| {
            NodeError::Invalid(ValidationError::new(field, Reason::Malformed { detail: reason }))
        };
        let bundle = VerifiedBundle::verify(bytes).map_err(|error| invalid("bundle", error.to_string()))?;
        if bundle.to != *self.org() {
            return Err(invalid("bundle", format!("it is addressed to {}, not to {}", bundle.to, self.org())));
        }
        match bundle.entries {
            BundleEntries::Envelopes(envelopes) => {
                let mut earliest_ms = bundle.created_unix_ms;
                for (index, bytes) in envelopes.iter().enumerate() {
                    let header = edusync_envelope::EnvelopeView::parse(bytes)
                        .map_err(|error| invalid("bundle", format!("envelope {index}: {error}")))?
                        .header;
                    if header.author_org != bundle.from {
                        return Err(invalid(
                            "bundle",
                            format!(
                                "envelope {index} was written by {}; a child carries only its own records",
                                header.author_org
                            ),
                        ));
                    }
                    earliest_ms = earliest_ms.min(header.created_unix_ms);
                }
                // The bundle is only the wrapping; each record inside is judged
                // at its own signing time below. Its signer must speak for the
                // child when the bundle was made, or at least when the oldest
                // record in it was signed: a school that exports after its key
                // was revoked still delivers what it signed before.
                self.child_standing(&bundle.from, &bundle.signer, bundle.created_unix_ms)
                    .or_else(|reason| {
                        self.child_standing(&bundle.from, &bundle.signer, earliest_ms).map_err(|_| reason)
                    })
                    .map_err(|reason| {
                        invalid("bundle", format!("its signer does not speak for {}: {reason}", bundle.from))
                    })?;
                Ok(BundleImport::Ingested(self.ingest(envelopes, now)?))
            }
            BundleEntries::Checkpoints(checkpoints) => {
                self.check_parent_bundle(&bundle.from, &bundle.signer, now)?;
                let own = checkpoints
                    .iter()
                    .find(|checkpoint| checkpoint.author == *self.org() && checkpoint.stream == LogStream::Shared)
                    .ok_or_else(|| invalid("bundle", "it acknowledges nothing of this node's log".into()))?;
                self.take_acknowledgement(own)
            }
            BundleEntries::Downward { checkpoints, items } => {
                self.check_parent_bundle(&bundle.from, &bundle.signer, now)?;
                // Statements first in feed order, so that the chain of what
                // follows is known by the time it is checked.
                self.take_from_above(&items)?;
                match checkpoints
                    .iter()
                    .find(|checkpoint| checkpoint.author == *self.org() && checkpoint.stream == LogStream::Shared)
                {
                    Some(own) => self.take_acknowledgement(own),
                    None => {
                        let cursor = Node::parent_cursor(&bundle.from);
                        Ok(BundleImport::Acknowledged { seq: self.store.cursor(&cursor)?.unwrap_or(0) })
                    }
                }
            }
        }
    }

    /// A bundle from `from` must come from this node's parent, signed by a
    /// key that speaks for it.
    fn check_parent_bundle(&self, from: &OrgId, signer: &PublicKey, now: DateTime<Utc>) -> Result<(), NodeError> {
        let invalid =
            |reason: String| NodeError::Invalid(ValidationError::new("bundle", Reason::Malformed { detail: reason }));
        let parent = self
            .parent
            .as_ref()
            .filter(|parent| parent.org_id == *from)
            .ok_or_else(|| invalid(format!("a bundle from {from}, which is not this node's parent")))?;
        self.trust()
            .standing(&parent.org_id, signer, now.timestamp_millis())
            .map_err(|error| invalid(format!("its signer does not speak for {}: {error}", parent.org_id)))?;
        Ok(())
    }

    /// The parent's checkpoint of this node's shared log, from a bundle.
    fn take_acknowledgement(&self, own: &BundleCheckpoint) -> Result<BundleImport, NodeError> {
        let invalid = |field: &str, reason: String| {
            NodeError::Invalid(ValidationError::new(field, Reason::Malformed { detail: reason }))
        };
        let Some(parent) = self.parent.as_ref() else {
            return Err(invalid("bundle", "this node has no parent to acknowledge anything".into()));
        };
        let held = self.store.read_log(self.org(), LogStream::Shared, own.seq, 1)?;
        if held.first().map(|stored| stored.id) != Some(own.head) {
            return Err(invalid(
                "bundle",
                format!("it acknowledges seq {} as a record this node did not write there", own.seq),
            ));
        }
        let cursor = Node::parent_cursor(&parent.org_id);
        let acknowledged = self.store.cursor(&cursor)?.unwrap_or(0).max(own.seq.0);
        self.store.set_cursor(&cursor, acknowledged)?;
        self.store.flush()?;
        Ok(BundleImport::Acknowledged { seq: acknowledged })
    }

    /// Takes in one record issued above this node (a plan of its parent, or
    /// of any office above it), passed down the parent's feed. It is kept
    /// and passed on down only if it verifies (`verify_strict`), its author
    /// is an ancestor whose key had standing when it signed, and it is a
    /// kind that flows down. True if it was new; not durable until `flush`.
    pub(crate) fn take_record_from_above(&self, bytes: &[u8]) -> Result<Result<bool, String>, NodeError> {
        let envelope = match self.check_record_from_above(bytes) {
            Ok(envelope) => envelope,
            Err(reason) => return Ok(Err(reason)),
        };
        let new = self.store.add_from_above(envelope.id().0, envelope.bytes())?;
        if new {
            let header = envelope.header();
            tracing::info!(org = %self.org(), record = %envelope.id(), author = %header.author_org, "record from above kept");
        }
        Ok(Ok(new))
    }

    fn check_record_from_above(&self, bytes: &[u8]) -> Result<VerifiedEnvelope, String> {
        let envelope = VerifiedEnvelope::verify(bytes.to_vec()).map_err(|error| error.to_string())?;
        let header = envelope.header();
        if !self.org().is_within(&header.author_org) || header.author_org == *self.org() {
            return Err(format!(
                "{} is not above {}; only offices above send records down",
                header.author_org,
                self.org()
            ));
        }
        let standing = self
            .trust()
            .standing(&header.author_org, &header.author_key, header.created_unix_ms)
            .map_err(|error| format!("signer not trusted: {error}"))?;
        if !matches!(standing.role, edusync_trust::Role::Node(_)) {
            return Err(format!("{} signed as a {}, not as an office", header.author_org, standing.role));
        }
        let kind = RecordKind::from_payload_type(&header.payload_type)
            .ok_or_else(|| format!("unknown payload type {}", header.payload_type))?;
        if !kind.flows_down() {
            return Err(format!("a {kind} does not flow down"));
        }
        let record = decode_record(&header.payload_type, envelope.record_bytes())
            .and_then(|record| record.check(&ValidationContext::without_clock()))
            .map_err(|error| format!("invalid record: {error}"))?;
        if let Some(issuer) = issuing_org(record.record()) {
            if *issuer != header.author_org {
                return Err(format!("a {kind} of {issuer} signed by {}", header.author_org));
            }
        }
        Ok(envelope)
    }

    /// Takes in a child's severe-incident notices ahead of the rest of its
    /// log, with every check `ingest` makes except the log position (which
    /// the notice takes when the log catches up). Anything else is refused.
    pub fn take_notices_ahead(&self, envelopes: Vec<Vec<u8>>) -> Result<NoticesAhead, NodeError> {
        let mut report = NoticesAhead::default();
        let arrived: Vec<RecordId> = envelopes.iter().map(|bytes| RecordId(Sha256::digest(bytes).into())).collect();
        for (verified, arrived_id) in
            edusync_envelope::verify_parallel(envelopes, self.verify_threads).into_iter().zip(arrived)
        {
            let (envelope, kind, _) = match self.admit(verified, arrived_id) {
                Ok(admitted) => admitted,
                // Ahead of its log there is no place to hold anything.
                Err(Refused { refusal, .. }) => {
                    report.refused.push(refusal);
                    continue;
                }
            };
            let header = envelope.header();
            if kind != RecordKind::SevereNotice {
                report.refused.push(Refusal {
                    record_id: envelope.id(),
                    seq: header.seq.0,
                    kind: RefusalKind::NotANotice,
                    reason: format!("only severe-incident notices travel ahead of their log, not a {kind}"),
                });
                continue;
            }
            if self.store.get(envelope.id())?.is_some() {
                report.known += 1;
                continue;
            }
            // Held ahead only until the log catches up; a child cannot pile up more.
            let held_ahead = self
                .store
                .notices_ahead()?
                .iter()
                .filter(|(_, bytes)| {
                    edusync_envelope::EnvelopeView::parse(bytes)
                        .is_ok_and(|view| view.header.author_org == header.author_org)
                })
                .count();
            if held_ahead >= MAX_NOTICES_AHEAD_PER_CHILD {
                report.refused.push(Refusal {
                    record_id: envelope.id(),
                    seq: header.seq.0,
                    kind: RefusalKind::TooManyAhead,
                    reason: format!(
                        "{held_ahead} notices of {} already wait for its log to catch up; send the log first",
                        header.author_org
                    ),
                });
                continue;
            }
            if !self.store.add_notice_ahead(envelope.id().0, envelope.bytes())? {
                report.known += 1;
                continue;
            }
            tracing::debug!(org = %self.org(), author = %header.author_org, record = %envelope.id(), "severe-incident notice received ahead of its log");
            report.stored += 1;
        }
        self.store.flush()?;
        Ok(report)
    }

    /// This node's own severe-incident notices after `after_seq` in its
    /// shared log (not yet acknowledged by the parent), oldest first, at most 100.
    pub(crate) fn unsent_notices(&self, after_seq: u64) -> Result<Vec<(RecordId, Vec<u8>)>, NodeError> {
        let filter = edusync_store::ListFilter {
            kind: Some(RecordKind::SevereNotice),
            org_prefix: Some(self.org().clone()),
            ..Default::default()
        };
        let mut unsent = Vec::new();
        self.store.for_each_listed(&filter, |stored| {
            if stored.meta.author_org == *self.org() && stored.meta.seq.0 > after_seq {
                unsent.push((stored.meta.seq, stored.id, stored.bytes));
            }
            Ok::<(), NodeError>(())
        })?;
        unsent.sort_by_key(|(seq, _, _)| *seq);
        Ok(unsent.into_iter().take(100).map(|(_, id, bytes)| (id, bytes)).collect())
    }

    /// Children's severe-incident notices, newest first, at most `limit`:
    /// (author, record id, created ms, still ahead of its log).
    pub fn severe_notices(&self, limit: usize) -> Result<Vec<(OrgId, RecordId, i64, bool)>, NodeError> {
        let mut notices = Vec::new();
        for (id, bytes) in self.store.notices_ahead()? {
            let header = edusync_envelope::EnvelopeView::parse(&bytes)?.header;
            notices.push((header.author_org, RecordId(id), header.created_unix_ms, true));
        }
        let filter = edusync_store::ListFilter { kind: Some(RecordKind::SevereNotice), ..Default::default() };
        self.store.for_each_listed(&filter, |stored| {
            if stored.meta.author_org != *self.org() {
                let header = edusync_envelope::EnvelopeView::parse(&stored.bytes)?.header;
                notices.push((header.author_org, stored.id, header.created_unix_ms, false));
            }
            Ok::<(), NodeError>(())
        })?;
        notices.sort_by_key(|notice| std::cmp::Reverse(notice.2));
        notices.truncate(limit);
        Ok(notices)
    }

    /// What the policies issued above this node set for a school year.
    pub fn policy_in_force(
        &self,
        school_year: edusync_core::SchoolYear,
    ) -> Result<edusync_core::PolicyInForce, NodeError> {
        let policies = self.policies_from_above()?;
        Ok(edusync_core::PolicyInForce::of(policies.iter().filter(|policy| policy.school_year == school_year)))
    }

    /// The policies issued above this node for `school_year`.
    pub(crate) fn policies_above(
        &self,
        school_year: edusync_core::SchoolYear,
    ) -> Result<Vec<edusync_core::Policy>, NodeError> {
        Ok(self.policies_from_above()?.into_iter().filter(|policy| policy.school_year == school_year).collect())
    }

    /// Every policy issued above this node, as it came down.
    fn policies_from_above(&self) -> Result<Vec<edusync_core::Policy>, NodeError> {
        let mut policies = Vec::new();
        for (_, bytes) in self.store.from_above()? {
            let view = edusync_envelope::EnvelopeView::parse(&bytes)?;
            if view.header.payload_type != RecordKind::Policy.payload_type() {
                continue;
            }
            if let Record::Policy(policy) = decode_record(&view.header.payload_type, view.record)? {
                policies.push(policy);
            }
        }
        Ok(policies)
    }

    /// The school year whose policy an operator most likely wants to see
    /// (`current` if any policy governs it, else the latest one that has a
    /// policy, else `current`)…
    /// …with what the policies set for it.
    pub fn policy_to_show(
        &self,
        current: edusync_core::SchoolYear,
    ) -> Result<(edusync_core::SchoolYear, edusync_core::PolicyInForce), NodeError> {
        let policies = self.policies_from_above()?;
        let years: BTreeSet<edusync_core::SchoolYear> = policies.iter().map(|policy| policy.school_year).collect();
        let year = if years.contains(&current) { current } else { years.last().copied().unwrap_or(current) };
        Ok((year, edusync_core::PolicyInForce::of(policies.iter().filter(|policy| policy.school_year == year))))
    }

    /// This node's privacy limits for a school year: its own settings,
    /// tightened by whatever the offices above set.
    pub(crate) fn privacy_in_force(
        &self,
        school_year: edusync_core::SchoolYear,
    ) -> Result<edusync_core::PrivacyPolicy, NodeError> {
        Ok(self.privacy_under(&self.policy_in_force(school_year)?))
    }

    /// This node's own privacy settings, tightened by `in_force`.
    pub(crate) fn privacy_under(&self, in_force: &edusync_core::PolicyInForce) -> edusync_core::PrivacyPolicy {
        let own = edusync_core::PrivacyPolicy {
            demographic_crosses: self.privacy.demographic_crosses,
            epsilon_per_release_millionths: self.privacy.epsilon_per_release_millionths,
            epsilon_per_school_year_millionths: self.privacy.epsilon_per_school_year_millionths,
            reader_tables: Some(self.privacy.reader_tables),
        };
        match &in_force.privacy {
            Some(above) => own.stricter(above),
            None => own,
        }
    }

    /// Refusals of children's records since start, by class.
    pub(crate) fn refusal_counts(&self) -> Vec<(&'static str, u64)> {
        let counts = self.refusals.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.iter().map(|(class, count)| (*class, *count)).collect()
    }

    /// Records issued above this node, verified when they arrived, in arrival order.
    pub fn records_from_above(&self) -> Result<Vec<(RecordId, Vec<u8>)>, NodeError> {
        Ok(self.store.from_above()?.into_iter().map(|(id, bytes)| (RecordId(id), bytes)).collect())
    }

    /// Everything that must hold before an envelope may touch the store.
    fn admit(
        &self,
        verified: Result<VerifiedEnvelope, edusync_envelope::EnvelopeError>,
        arrived_id: RecordId,
    ) -> Result<(VerifiedEnvelope, RecordKind, Option<Period>), Refused> {
        let envelope = verified.map_err(|error| Refused {
            refusal: Refusal {
                record_id: arrived_id,
                seq: 0,
                kind: RefusalKind::BadEnvelope,
                reason: error.to_string(),
            },
            hold: None,
        })?;
        let header = envelope.header();
        let refuse = |kind: RefusalKind, reason: String| Refused {
            refusal: Refusal { record_id: envelope.id(), seq: header.seq.0, kind, reason },
            hold: None,
        };
        // From here on the envelope is authentic, from a trusted child, in its
        // shared log, and of a kind that may travel: refused for its content, it
        // can hold its place so that the log goes on.
        let refuse_content = |reason: String, kind: RecordKind| Refused {
            refusal: Refusal { record_id: envelope.id(), seq: header.seq.0, kind: RefusalKind::InvalidRecord, reason },
            hold: Some(Box::new((envelope.clone(), kind))),
        };
        // Judged at the time the record says it was signed: a revocation or a
        // rotation refuses what the key signed after it, never what came before.
        self.child_standing(&header.author_org, &header.author_key, header.created_unix_ms)
            .map_err(|reason| refuse(RefusalKind::UntrustedSigner, format!("signer not trusted: {reason}")))?;
        if header.stream != LogStream::Shared {
            return Err(refuse(
                RefusalKind::LocalRecord,
                "a record of the local log never leaves the node that wrote it".into(),
            ));
        }
        let kind = RecordKind::from_payload_type(&header.payload_type)
            .ok_or_else(|| refuse(RefusalKind::UnknownKind, format!("unknown payload type {}", header.payload_type)))?;
        if kind.stream() != LogStream::Shared {
            return Err(refuse(RefusalKind::RawRecord, format!("a {kind} record never travels upward in raw form")));
        }
        // Bytes that do not decode as the typed record they claim to be are
        // never kept, not even as evidence: only typed records, which carry no
        // free text about people, may rest at a parent.
        let record = decode_record(&header.payload_type, envelope.record_bytes())
            .map_err(|error| refuse(RefusalKind::MalformedRecord, format!("malformed record: {error}")))?
            .check(&ValidationContext::without_clock())
            .map_err(|error| refuse_content(format!("invalid record: {error}"), kind))?;
        if let Record::Aggregate(aggregate) = record.record() {
            if aggregate.org != header.author_org {
                return Err(refuse_content(
                    format!("an aggregate of {} signed by {}", aggregate.org, header.author_org),
                    kind,
                ));
            }
        }
        if let Some(issuer) = issuing_org(record.record()) {
            if *issuer != header.author_org {
                return Err(refuse_content(format!("a {kind} of {issuer} signed by {}", header.author_org), kind));
            }
        }
        let period = record.record().period(self.utc_offset);
        Ok((envelope, kind, period))
    }
}

#[cfg(test)]
mod tests;
