//! The store itself.

use std::path::Path;
use std::sync::Mutex;

use edusync_core::{LogStream, OrgId, Period, RecordId, RecordKind, Seq};
use edusync_envelope::{classify_append, AppendDecision, VerifiedEnvelope};

use crate::durability::{Durability, Head, LogKey};
use crate::keys;
use crate::meta::RecordMeta;

/// One envelope offered to `Store::append_all`; `held` as for `Store::hold`.
pub struct Offer<'a> {
    pub envelope: &'a VerifiedEnvelope,
    pub indexing: Indexing,
    pub held: bool,
}

/// Writes judged but not yet applied, and what they will change, so that
/// the next envelope of the same batch is judged against them.
#[derive(Default)]
struct Staged {
    batch: sled::Batch,
    logs: std::collections::HashMap<Vec<u8>, RecordId>,
    heads: std::collections::HashMap<(OrgId, LogStream), (Seq, RecordId)>,
    /// Each touched log's head before this batch, for the durability record.
    before: std::collections::HashMap<LogKey, Head>,
    metas: std::collections::HashSet<RecordId>,
    /// Own records staged in this batch, by content hash.
    contents: std::collections::HashMap<[u8; 32], RecordId>,
    /// The next free position of the downward feed once this batch is applied.
    next_down: Option<u64>,
    /// The next free position of the arrival index once this batch is applied.
    next_arrival: Option<u64>,
}

/// One of this node's own records offered to `Store::append_own_all`.
#[derive(Clone, Copy, Debug)]
pub struct OwnDraft {
    pub content_hash: [u8; 32],
    pub indexing: Indexing,
    /// The record also joins the downward feed, in the same atomic batch.
    pub publish_down: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store at {path} is damaged and cannot be opened ({reason}); restore it from a backup into a new data directory (`edusync restore BACKUP --config CONFIG`), keeping the damaged one aside for inspection")]
    Open { path: String, reason: String },
    #[error("the store at {path} is in use by another edusync process; stop that one first (only one node may use a data directory)")]
    Locked { path: String },
    #[error("storage failed: {0}; check disk space and permissions of the data directory")]
    Io(String),
    /// Refused before touching the store, which stays whole.
    #[error("the disk holding {path} has {free_mib} MiB free, below the {reserve_mib} MiB kept in reserve; nothing was written. Free space on that disk (reads go on meanwhile); writes resume by themselves")]
    DiskFull { path: String, free_mib: u64, reserve_mib: u64 },
    #[error("the store holds a damaged entry under key {key}; restore it from a backup into a new data directory (`edusync restore BACKUP --config CONFIG`)")]
    Corrupt { key: String },
    #[error("record is a {kind} but the envelope is in the {stream} log; kinds and logs must match")]
    WrongStream { kind: RecordKind, stream: LogStream },
}

impl From<sled::Error> for StoreError {
    fn from(error: sled::Error) -> Self {
        StoreError::Io(error.to_string())
    }
}

/// What happened to an envelope offered to an author's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Append {
    Stored,
    /// Already held: nothing written.
    Duplicate,
    /// A different envelope holds that position; this one is kept as evidence.
    Equivocation {
        existing: RecordId,
    },
    /// It does not extend the head; nothing written.
    Gap {
        expected: Seq,
    },
    /// It extends the head but names another predecessor; kept as evidence.
    Fork {
        head: RecordId,
    },
}

/// The result of writing one of this node's own records.
#[derive(Debug)]
pub enum OwnAppend {
    Stored(VerifiedEnvelope),
    /// A record with the same content was written before; nothing new.
    AlreadyStored(RecordId),
}

#[derive(Clone, Debug)]
pub struct StoredEnvelope {
    pub id: RecordId,
    pub bytes: Vec<u8>,
    pub meta: RecordMeta,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSummary {
    pub author_org: OrgId,
    pub stream: LogStream,
    pub head: Seq,
    pub head_id: RecordId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EquivocationEvidence {
    pub author_org: OrgId,
    pub stream: LogStream,
    pub seq: Seq,
    /// The envelope in the log first, then every conflicting one.
    pub record_ids: Vec<RecordId>,
}

/// A demographic cross as released: the hash of the exact cross it was drawn
/// for, and the noisy values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrossRelease {
    pub exact_hash: [u8; 32],
    pub values: Vec<i64>,
}

/// What the caller learned from decoding a record, for the store's indexes.
#[derive(Clone, Copy, Debug)]
pub struct Indexing {
    pub kind: RecordKind,
    pub period: Option<Period>,
    pub stored_unix_ms: i64,
}

/// One raw key and value of the store, as a snapshot carries it.
pub type StoreEntry = (Vec<u8>, Vec<u8>);

#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub kind: Option<RecordKind>,
    pub school_year_start: Option<u16>,
    pub org_prefix: Option<OrgId>,
    /// Records written but not yet on disk too. Only for the node's own
    /// derivation, which must see every record a dirty mark was set for (what
    /// it signs is flushed after them, so a crash cannot keep the one and
    /// lose the other); never for anything told to anyone.
    pub written_too: bool,
}

#[derive(Clone, Debug)]
pub struct Page {
    pub records: Vec<StoredEnvelope>,
    /// Opaque token to pass back for the next page; `None` at the end.
    pub next: Option<String>,
}

/// One node's durable state.
pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
    /// Appends read the head and then write; one writer at a time keeps that
    /// pair atomic. Reads do not take it.
    writer: Mutex<()>,
    /// How much of each log a crash cannot take back: all that reads for
    /// others (`head`, `read_log`, `logs`, `list`) ever show.
    durability: Durability,
    /// Where the store lives, to ask the file system for free space.
    path: std::path::PathBuf,
    /// Writes are refused while less than this is free on the store's disk,
    /// so a full disk never reaches sled, which would fail halfway and keep
    /// failing until restarted.
    reserve_bytes: std::sync::atomic::AtomicU64,
}

/// Space kept free on the store's disk unless the node's config says otherwise.
pub const DEFAULT_DISK_RESERVE_BYTES: u64 = 64 << 20;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store. sled's periodic background flush is off:
    /// every write that anyone is told about is flushed explicitly first
    /// (`flush`), and a flusher waking mid-ingest only competes with the
    /// store write it would not make any safer (`edusync bench sync`: a
    /// 100,000-record catch-up went from 11.5 s to 10.5-10.8 s). sled keeps
    /// the file lock for a moment after a store in this process is dropped,
    /// so a lock conflict is retried briefly before it is reported.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        const LOCK_RETRIES: u32 = 60;
        let mut attempt = 0;
        let db = loop {
            // sled panics on some damaged files rather than returning an error;
            // either way the answer is the same: name the files, point at restore.
            let opened = std::panic::catch_unwind(|| {
                sled::Config::new().path(path).mode(sled::Mode::HighThroughput).flush_every_ms(None).open()
            });
            match opened {
                Ok(Ok(db)) => break db,
                // sled reports a held lock as an I/O error whose text names it.
                Ok(Err(sled::Error::Io(error))) if error.to_string().contains("could not acquire lock") => {
                    if attempt >= LOCK_RETRIES {
                        return Err(StoreError::Locked { path: path.display().to_string() });
                    }
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Ok(Err(error)) => {
                    return Err(StoreError::Open { path: path.display().to_string(), reason: error.to_string() })
                }
                Err(panic) => {
                    let reason = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                        .unwrap_or_else(|| "the storage engine failed reading it".to_owned());
                    return Err(StoreError::Open { path: path.display().to_string(), reason });
                }
            }
        };
        let tree = db.open_tree("records")?;
        crate::migrate::to_current_layout(&tree)?;
        // What sled recovered may sit in the page cache only (a killed
        // process, not a lost machine); from here on all of it is on disk,
        // and every stored head is a durable one.
        db.flush()?;
        Ok(Store {
            db,
            tree,
            writer: Mutex::new(()),
            durability: Durability::default(),
            path: path.to_path_buf(),
            reserve_bytes: std::sync::atomic::AtomicU64::new(DEFAULT_DISK_RESERVE_BYTES),
        })
    }

    /// Sets the space kept free on the store's disk (see `writable`).
    pub fn set_disk_reserve(&self, bytes: u64) {
        self.reserve_bytes.store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Bytes free on the store's disk for this process, and the reserve.
    pub fn disk_space(&self) -> Result<(u64, u64), StoreError> {
        let free = fs2::available_space(&self.path).map_err(|error| {
            StoreError::Io(format!("cannot read the free space of {}: {error}", self.path.display()))
        })?;
        Ok((free, self.reserve_bytes.load(std::sync::atomic::Ordering::Relaxed)))
    }

    /// The tree, for a write: refused while the disk is below its reserve.
    pub(crate) fn writable(&self) -> Result<&sled::Tree, StoreError> {
        let (free, reserve) = self.disk_space()?;
        if free < reserve {
            return Err(StoreError::DiskFull {
                path: self.path.display().to_string(),
                free_mib: free >> 20,
                reserve_mib: reserve >> 20,
            });
        }
        Ok(&self.tree)
    }

    /// Makes every write so far durable. Call before acknowledging.
    pub fn flush(&self) -> Result<(), StoreError> {
        let flushing = self.durability.flush_starts();
        self.db.flush()?;
        self.durability.flushed(flushing);
        Ok(())
    }

    /// Applies a staged batch, keeping the durability record in step: the
    /// heads before it are pinned first, so no reader sees the new ones as durable.
    fn apply(&self, staged: Staged) -> Result<(), StoreError> {
        self.durability.before_apply(staged.before.iter().map(|(log, head)| (log, *head)));
        self.writable()?.apply_batch(staged.batch)?;
        self.durability.applied(staged.heads.iter().map(|(log, head)| (log, *head)));
        Ok(())
    }

    /// True if the log position `seq` of `org`'s `stream` is on disk.
    pub fn is_durable(&self, org: &OrgId, stream: LogStream, seq: Seq) -> Result<bool, StoreError> {
        Ok(self.head(org, stream)?.is_some_and(|(head, _)| head >= seq))
    }

    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic while holding the lock cannot leave sled half-written (each
        // append is one atomic batch), so a poisoned lock is safe to reuse.
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Offers a verified envelope from any author to that author's log.
    /// `kind` and `period` come from the decoded record. Not yet durable.
    pub fn append(&self, envelope: &VerifiedEnvelope, indexing: &Indexing) -> Result<Append, StoreError> {
        let _guard = self.lock();
        self.append_locked(envelope, indexing, None, false)
    }

    /// Offers many envelopes at once, in order, as one atomic write: each is
    /// judged exactly as `append` (or `hold`) would judge it after the ones
    /// before it, and the outcomes come back in the same order. One write
    /// per pushed batch instead of one per envelope is what lets a parent
    /// ingest at the speed of signature verification. Not yet durable.
    pub fn append_all(&self, offers: &[Offer<'_>]) -> Result<Vec<Append>, StoreError> {
        let _guard = self.lock();
        let mut staged = Staged::default();
        let mut outcomes = Vec::with_capacity(offers.len());
        for offer in offers {
            outcomes.push(self.stage(offer.envelope, &offer.indexing, None, offer.held, &mut staged)?);
        }
        self.apply(staged)?;
        Ok(outcomes)
    }

    /// Appends a record of this node's own that came back from elsewhere (its
    /// parent, after a restore): indexed exactly as if written here, content
    /// address included, so that submitting it again finds it. Not yet durable.
    pub fn append_taken_back(
        &self,
        envelope: &VerifiedEnvelope,
        indexing: &Indexing,
        content_hash: [u8; 32],
    ) -> Result<Append, StoreError> {
        let _guard = self.lock();
        self.append_locked(envelope, indexing, Some((content_hash, indexing.kind.flows_down())), false)
    }

    /// Waits for the write in progress, if any, and makes everything written
    /// durable: after it, the durable heads are the written ones.
    pub fn settle(&self) -> Result<(), StoreError> {
        let _guard = self.lock();
        self.flush()
    }

    /// Holds an authentic envelope whose content the caller refused, at its
    /// place in its author's log, so that the log goes on after it. It is
    /// kept as evidence only: in no index by kind, period or org, so nothing
    /// counts or lists it. Not yet durable.
    pub fn hold(&self, envelope: &VerifiedEnvelope, indexing: &Indexing) -> Result<Append, StoreError> {
        let _guard = self.lock();
        self.append_locked(envelope, indexing, None, true)
    }

    /// Writes several of this node's own records as one atomic batch: after
    /// a crash either all of them are in the store or none is. Under the
    /// writer lock, each draft's `content_hash` is looked up (so the same
    /// record submitted twice, even within one call, is stored once), then
    /// `sign` gets the draft's index and the head of the author's log for
    /// its kind, and the envelope it returns is staged. When `sign` fails,
    /// nothing is written.
    pub fn append_own_all<E>(
        &self,
        author: &OrgId,
        drafts: &[OwnDraft],
        mut sign: impl FnMut(usize, Option<(Seq, RecordId)>) -> Result<VerifiedEnvelope, E>,
    ) -> Result<Result<Vec<OwnAppend>, E>, StoreError> {
        let _guard = self.lock();
        let mut staged = Staged::default();
        let mut outcomes = Vec::with_capacity(drafts.len());
        for (index, draft) in drafts.iter().enumerate() {
            if let Some(id) = staged.contents.get(&draft.content_hash) {
                outcomes.push(OwnAppend::AlreadyStored(*id));
                continue;
            }
            if let Some(existing) = self.tree.get(keys::content(draft.content_hash))? {
                let id = RecordId::from_slice("content", &existing)
                    .map_err(|_| corrupt(&keys::content(draft.content_hash)))?;
                outcomes.push(OwnAppend::AlreadyStored(id));
                continue;
            }
            let log = (author.clone(), draft.indexing.kind.stream());
            let head = match staged.heads.get(&log) {
                Some(head) => Some(*head),
                None => self.live_head(author, log.1)?,
            };
            let envelope = match sign(index, head) {
                Ok(envelope) => envelope,
                Err(error) => return Ok(Err(error)),
            };
            match self.stage(
                &envelope,
                &draft.indexing,
                Some((draft.content_hash, draft.publish_down)),
                false,
                &mut staged,
            )? {
                Append::Stored => {}
                other => return Err(StoreError::Io(format!("own append was not stored: {other:?}"))),
            }
            staged.contents.insert(draft.content_hash, envelope.id());
            outcomes.push(OwnAppend::Stored(envelope));
        }
        self.apply(staged)?;
        Ok(Ok(outcomes))
    }

    fn append_locked(
        &self,
        envelope: &VerifiedEnvelope,
        indexing: &Indexing,
        own: Option<([u8; 32], bool)>,
        held: bool,
    ) -> Result<Append, StoreError> {
        let mut staged = Staged::default();
        let outcome = self.stage(envelope, indexing, own, held, &mut staged)?;
        self.apply(staged)?;
        Ok(outcome)
    }

    /// Judges one envelope against the store as it will be once `staged`
    /// is applied, and adds its writes to `staged`.
    fn stage(
        &self,
        envelope: &VerifiedEnvelope,
        indexing: &Indexing,
        own: Option<([u8; 32], bool)>,
        held: bool,
        staged: &mut Staged,
    ) -> Result<Append, StoreError> {
        let Indexing { kind, period, stored_unix_ms } = *indexing;
        let header = envelope.header();
        if kind.stream() != header.stream {
            return Err(StoreError::WrongStream { kind, stream: header.stream });
        }
        let id = envelope.id();
        let org = &header.author_org;
        let log_key = keys::log(org, header.stream, header.seq);
        let held_at_seq = match staged.logs.get(&log_key) {
            Some(staged_id) => Some(*staged_id),
            None => self.log_entry(org, header.stream, header.seq)?,
        };
        let log = (org.clone(), header.stream);
        let head = match staged.heads.get(&log) {
            Some(staged_head) => Some(*staged_head),
            None => {
                let stored = self.live_head(org, header.stream)?;
                staged.before.entry(log).or_insert(stored);
                stored
            }
        };
        let decision = classify_append(head, held_at_seq, header, id);
        let mut meta = RecordMeta {
            author_org: org.clone(),
            stream: header.stream,
            seq: header.seq,
            kind,
            period,
            stored_unix_ms,
            evidence_only: held,
        };
        let batch = &mut staged.batch;
        let outcome = match decision {
            AppendDecision::Duplicate => return Ok(Append::Duplicate),
            AppendDecision::Gap { expected } => return Ok(Append::Gap { expected }),
            AppendDecision::Append if held => {
                batch.insert(log_key.clone(), &id.0[..]);
                staged.logs.insert(log_key, id);
                staged.heads.insert((org.clone(), header.stream), (header.seq, id));
                Append::Stored
            }
            AppendDecision::Append => {
                batch.insert(log_key.clone(), &id.0[..]);
                staged.logs.insert(log_key, id);
                staged.heads.insert((org.clone(), header.stream), (header.seq, id));
                batch.insert(keys::by_kind(kind, org, header.stream, header.seq), &id.0[..]);
                if let Some(period) = period {
                    batch.insert(keys::by_period(period, org, header.stream, header.seq), &id.0[..]);
                }
                let arrival = match staged.next_arrival {
                    Some(position) => position,
                    None => self.next_seq(keys::ARRIVALS)?,
                };
                let entry = keys::Arrival {
                    id,
                    kind,
                    school_year_start: period.map_or(0, |period| period.school_year.start_year()),
                    author_org: org.clone(),
                };
                batch.insert(keys::arrival(arrival), entry.encode());
                staged.next_arrival = Some(arrival + 1);
                if let Some((hash, publish_down)) = own {
                    batch.insert(keys::content(hash), &id.0[..]);
                    if publish_down {
                        let seq = match staged.next_down {
                            Some(seq) => seq,
                            None => self.next_down_seq()?,
                        };
                        batch.insert(crate::feeds::down_key(seq), envelope.bytes());
                        staged.next_down = Some(seq + 1);
                    }
                }
                if let Some(period) = period {
                    // Logs only grow, so the record just appended is the latest of its kind and period.
                    let mut value = header.seq.0.to_be_bytes().to_vec();
                    value.extend_from_slice(&id.0);
                    batch.insert(keys::latest(kind, period, org), value);
                }
                Append::Stored
            }
            AppendDecision::Equivocation { existing } => {
                if staged.metas.contains(&id) || self.tree.contains_key(keys::envelope(id))? {
                    return Ok(Append::Equivocation { existing });
                }
                meta.evidence_only = true;
                batch.insert(keys::evidence(org, header.stream, header.seq, id), &[][..]);
                Append::Equivocation { existing }
            }
            AppendDecision::Fork { head } => {
                meta.evidence_only = true;
                batch.insert(keys::evidence(org, header.stream, header.seq, id), &[][..]);
                Append::Fork { head }
            }
        };
        batch.insert(keys::envelope(id), meta.encode_with(envelope.bytes()));
        staged.metas.insert(id);
        if !matches!(outcome, Append::Stored) {
            tracing::warn!(org = %org, seq = %header.seq, record = %id, outcome = ?outcome, "equivocation evidence kept");
        }
        Ok(outcome)
    }

    fn log_entry(&self, org: &OrgId, stream: LogStream, seq: Seq) -> Result<Option<RecordId>, StoreError> {
        let key = keys::log(org, stream, seq);
        match self.tree.get(&key)? {
            Some(value) => Ok(Some(RecordId::from_slice("log", &value).map_err(|_| corrupt(&key))?)),
            None => Ok(None),
        }
    }

    /// The highest (seq, id) of an author's log that is on disk: what may be
    /// told to anyone. Logs are stored without gaps, so it is also the
    /// highest contiguous one.
    pub fn head(&self, org: &OrgId, stream: LogStream) -> Result<Option<(Seq, RecordId)>, StoreError> {
        self.durability.head(&(org.clone(), stream), || self.live_head(org, stream))
    }

    /// The highest (seq, id) of an author's log as written, durable or not:
    /// what the next append must follow.
    fn live_head(&self, org: &OrgId, stream: LogStream) -> Result<Option<(Seq, RecordId)>, StoreError> {
        match self.tree.scan_prefix(keys::log_prefix(org, stream)).next_back() {
            None => Ok(None),
            Some(entry) => {
                let (key, value) = entry?;
                let (_, _, seq) = keys::parse_log(&key).ok_or_else(|| corrupt(&key))?;
                let id = RecordId::from_slice("log", &value).map_err(|_| corrupt(&key))?;
                Ok(Some((seq, id)))
            }
        }
    }

    /// A record by id. One written but not yet on disk is made durable
    /// first: whoever asks is about to tell someone of it.
    pub fn get(&self, id: RecordId) -> Result<Option<StoredEnvelope>, StoreError> {
        let Some(stored) = self.get_stored(id)? else { return Ok(None) };
        let meta = &stored.meta;
        // Evidence has no log position to compare; it is rare, so it is flushed.
        if meta.evidence_only || !self.is_durable(&meta.author_org, meta.stream, meta.seq)? {
            self.flush()?;
        }
        Ok(Some(stored))
    }

    fn get_stored(&self, id: RecordId) -> Result<Option<StoredEnvelope>, StoreError> {
        let key = keys::envelope(id);
        let Some(value) = self.tree.get(&key)? else { return Ok(None) };
        let (meta, bytes) = RecordMeta::split(&value).ok_or_else(|| corrupt(&key))?;
        Ok(Some(StoredEnvelope { id, bytes: bytes.to_vec(), meta }))
    }

    /// Envelopes of one author's log from `from` on, at most `limit`, up to
    /// its durable head: what a crash could take back is never read out.
    pub fn read_log(
        &self,
        org: &OrgId,
        stream: LogStream,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<StoredEnvelope>, StoreError> {
        let Some((durable, _)) = self.head(org, stream)? else { return Ok(Vec::new()) };
        if from > durable {
            return Ok(Vec::new());
        }
        let start = keys::log(org, stream, from);
        let end = keys::log(org, stream, durable);
        let mut out = Vec::new();
        for entry in self.tree.range(start..=end) {
            let (key, value) = entry?;
            if out.len() >= limit {
                break;
            }
            let id = RecordId::from_slice("log", &value).map_err(|_| corrupt(&key))?;
            out.push(self.get_stored(id)?.ok_or_else(|| corrupt(&key))?);
        }
        Ok(out)
    }

    /// Every author log this store holds, with its durable head.
    pub fn logs(&self) -> Result<Vec<LogSummary>, StoreError> {
        let mut durable = Vec::new();
        for log in self.written_logs()? {
            if let Some((head, head_id)) = self.head(&log.author_org, log.stream)? {
                durable.push(LogSummary { head, head_id, ..log });
            }
        }
        Ok(durable)
    }

    fn written_logs(&self) -> Result<Vec<LogSummary>, StoreError> {
        let mut out: Vec<LogSummary> = Vec::new();
        for entry in self.tree.scan_prefix(b"l/") {
            let (key, value) = entry?;
            let (author_org, stream, seq) = keys::parse_log(&key).ok_or_else(|| corrupt(&key))?;
            let head_id = RecordId::from_slice("log", &value).map_err(|_| corrupt(&key))?;
            match out.last_mut() {
                Some(last) if last.author_org == author_org && last.stream == stream => {
                    last.head = seq;
                    last.head_id = head_id;
                }
                _ => out.push(LogSummary { author_org, stream, head: seq, head_id }),
            }
        }
        Ok(out)
    }

    pub fn count_by_kind(&self, kind: RecordKind) -> Result<u64, StoreError> {
        Ok(self.tree.scan_prefix(keys::by_kind_prefix(kind)).count() as u64)
    }

    pub fn equivocations(&self) -> Result<Vec<EquivocationEvidence>, StoreError> {
        let mut out: Vec<EquivocationEvidence> = Vec::new();
        for entry in self.tree.scan_prefix(b"x/") {
            let (key, _) = entry?;
            let (author_org, stream, seq, id) = keys::parse_evidence(&key).ok_or_else(|| corrupt(&key))?;
            match out.last_mut() {
                Some(last) if last.author_org == author_org && last.stream == stream && last.seq == seq => {
                    last.record_ids.push(id);
                }
                _ => {
                    let mut record_ids = Vec::new();
                    if let Some(in_log) = self.log_entry(&author_org, stream, seq)? {
                        record_ids.push(in_log);
                    }
                    record_ids.push(id);
                    out.push(EquivocationEvidence { author_org, stream, seq, record_ids });
                }
            }
        }
        Ok(out)
    }

    /// Records in the logs (not evidence), filtered, in index order.
    pub fn list(&self, filter: &ListFilter, page_token: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        let prefix = match (filter.kind, filter.school_year_start, &filter.org_prefix) {
            (Some(kind), _, _) => keys::by_kind_prefix(kind),
            (None, Some(year), _) => keys::by_school_year_prefix(year),
            (None, None, Some(org)) => keys::by_org_prefix(org.as_str()),
            (None, None, None) => b"l/".to_vec(),
        };
        let start = match page_token {
            Some(token) => {
                let mut key = hex::decode(token).map_err(|_| StoreError::Corrupt { key: "page token".into() })?;
                key.push(0); // strictly after the last key returned
                key
            }
            None => prefix.clone(),
        };
        let mut records = Vec::new();
        let mut last_key = None;
        let mut durable_heads = DurableHeads::default();
        for entry in self.tree.range(start..) {
            let (key, value) = entry?;
            if !key.starts_with(&prefix) {
                break;
            }
            if records.len() >= limit {
                return Ok(Page { records, next: last_key.map(hex::encode) });
            }
            // Every index entry, and every log entry, holds the record's id.
            let id = RecordId::from_slice("index", &value).map_err(|_| corrupt(&key))?;
            let record = self.get_stored(id)?.ok_or_else(|| corrupt(&key))?;
            let meta = &record.meta;
            // Held envelopes sit in their logs but are never listed.
            let wanted = !meta.evidence_only
                && filter.kind.is_none_or(|kind| meta.kind == kind)
                && filter
                    .school_year_start
                    .is_none_or(|year| meta.period.is_some_and(|p| p.school_year.start_year() == year))
                && filter.org_prefix.as_ref().is_none_or(|org| meta.author_org.is_within(org));
            let durable = durable_heads.of(self, meta)?;
            // Not yet on disk: as if not yet written (evidence has no place to check).
            if !filter.written_too && !meta.evidence_only && durable.is_none_or(|head| meta.seq > head) {
                continue;
            }
            if wanted {
                records.push(record);
            }
            last_key = Some(key.to_vec());
        }
        Ok(Page { records, next: None })
    }

    /// Records matching `filter`, newest first: in the reverse of the order
    /// they were stored here, whoever wrote them. Filtered on the arrival
    /// index, so a page reads only the records it returns (and those a
    /// crash left written but not yet on disk, which it skips as `list`
    /// does). `page_token` is the previous page's `next`.
    pub fn list_newest_first(
        &self,
        filter: &ListFilter,
        page_token: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let end = match page_token {
            Some(token) => listing_token_key(token).ok_or_else(|| StoreError::Corrupt { key: "page token".into() })?,
            None => keys::arrival(u64::MAX),
        };
        let start = keys::arrival(0);
        let limit = limit.max(1);
        let mut records = Vec::new();
        let mut last_key: Option<sled::IVec> = None;
        let mut durable_heads = DurableHeads::default();
        for entry in self.tree.range(start..end).rev() {
            let (key, value) = entry?;
            let arrival = keys::Arrival::decode(&value).ok_or_else(|| corrupt(&key))?;
            let wanted = filter.kind.is_none_or(|kind| arrival.kind == kind)
                && filter.school_year_start.is_none_or(|year| arrival.school_year_start == year)
                && filter.org_prefix.as_ref().is_none_or(|org| arrival.author_org.is_within(org));
            if !wanted {
                continue;
            }
            if records.len() >= limit {
                // The next page goes on below the last record of this one.
                return Ok(Page { records, next: last_key.map(hex::encode) });
            }
            let record = self.get_stored(arrival.id)?.ok_or_else(|| corrupt(&key))?;
            let meta = &record.meta;
            let durable = durable_heads.of(self, meta)?;
            if !filter.written_too && durable.is_none_or(|head| meta.seq > head) {
                continue;
            }
            records.push(record);
            last_key = Some(key);
        }
        Ok(Page { records, next: None })
    }

    /// Every record [`Store::list`] matches, over all its pages, handed to
    /// `visit` one at a time in index order: for callers that want them all
    /// without holding them all at once. Stops at the first error `visit` returns.
    pub fn for_each_listed<E: From<StoreError>>(
        &self,
        filter: &ListFilter,
        mut visit: impl FnMut(StoredEnvelope) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut token: Option<String> = None;
        loop {
            let page = self.list(filter, token.as_deref(), 1000)?;
            for stored in page.records {
                visit(stored)?;
            }
            match page.next {
                Some(next) => token = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// The author's latest record of `kind` for `period`, if any.
    pub fn latest(
        &self,
        author: &OrgId,
        kind: RecordKind,
        period: Period,
    ) -> Result<Option<StoredEnvelope>, StoreError> {
        let key = keys::latest(kind, period, author);
        let Some(value) = self.tree.get(&key)? else { return Ok(None) };
        let id = value.get(8..).and_then(|id| RecordId::from_slice("latest", id).ok()).ok_or_else(|| corrupt(&key))?;
        self.get(id)?.map(Some).ok_or_else(|| corrupt(&key))
    }

    /// Up to `limit` ids of stored envelopes whose hex starts with `prefix`
    /// (lowercase hex digits), in id order.
    pub fn ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<RecordId>, StoreError> {
        let whole = &prefix[..prefix.len() - prefix.len() % 2];
        let bytes = hex::decode(whole).unwrap_or_default();
        let mut out = Vec::new();
        for entry in self.tree.scan_prefix(keys::envelope_prefix(&bytes)) {
            let (key, _) = entry?;
            let Some(id) = key.get(2..34).and_then(|id| <[u8; 32]>::try_from(id).ok()) else { continue };
            if hex::encode(id).starts_with(prefix) {
                out.push(RecordId(id));
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Notes that the aggregates of these periods must be derived again.
    /// Call it before writing what changes them, so that a crash in between
    /// leaves a spare derivation, never a stale aggregate.
    pub fn mark_dirty(&self, periods: &[Period]) -> Result<(), StoreError> {
        // Each mark is unique, so that a derivation clears only the mark it
        // saw: a change that lands while it runs marks the period again.
        let stamp = self.db.generate_id()?.to_be_bytes();
        let mut batch = sled::Batch::default();
        for period in periods {
            batch.insert(keys::dirty(*period), &stamp[..]);
        }
        self.writable()?.apply_batch(batch)?;
        Ok(())
    }

    pub fn dirty_periods(&self) -> Result<Vec<Period>, StoreError> {
        Ok(self.dirty_marks()?.into_iter().map(|(period, _)| period).collect())
    }

    /// Dirty periods with the mark each carries now, for [`Store::clear_dirty`].
    pub fn dirty_marks(&self) -> Result<Vec<(Period, Vec<u8>)>, StoreError> {
        let mut periods = Vec::new();
        for entry in self.tree.scan_prefix(b"d/") {
            let (key, mark) = entry?;
            let sort_key: [u8; 3] = key.get(2..5).and_then(|k| k.try_into().ok()).ok_or_else(|| corrupt(&key))?;
            periods.push((Period::from_sort_key(sort_key).ok_or_else(|| corrupt(&key))?, mark.to_vec()));
        }
        Ok(periods)
    }

    /// Clears a period's mark if it is still the one the caller saw; a newer
    /// mark stays, and the period is derived again.
    pub fn clear_dirty(&self, period: Period, seen: &[u8]) -> Result<(), StoreError> {
        let _ = self.writable()?.compare_and_swap(keys::dirty(period), Some(seen), None as Option<&[u8]>)?;
        Ok(())
    }

    /// A semester's release for readers with its privacy ledger, as the node
    /// encoded it.
    pub fn reader_release(&self, period: Period) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(keys::reader_release(period))?.map(|value| value.to_vec()))
    }

    /// Replaces a semester's release and ledger in one write, so that no
    /// release is ever served that its ledger does not charge for. Durable at
    /// the next flush, which comes before anyone sees the release.
    pub fn put_reader_release(&self, period: Period, encoded: &[u8]) -> Result<(), StoreError> {
        self.writable()?.insert(keys::reader_release(period), encoded)?;
        Ok(())
    }

    /// Every semester with a reader release, for the ledger's listing.
    pub fn reader_release_periods(&self) -> Result<Vec<Period>, StoreError> {
        self.periods_keyed(b"j/")
    }

    /// The periods of the keys of one table keyed by period (`tag` then the
    /// period's sort key).
    fn periods_keyed(&self, tag: &[u8; 2]) -> Result<Vec<Period>, StoreError> {
        let mut periods = Vec::new();
        for entry in self.tree.scan_prefix(tag) {
            let (key, _) = entry?;
            let sort_key: [u8; 3] = key.get(2..5).and_then(|k| k.try_into().ok()).ok_or_else(|| corrupt(&key))?;
            periods.push(Period::from_sort_key(sort_key).ok_or_else(|| corrupt(&key))?);
        }
        Ok(periods)
    }

    /// Privacy budget spent in a school year, in millionths of epsilon.
    pub fn privacy_spent(&self, school_year_start: u16) -> Result<u64, StoreError> {
        let key = keys::budget(school_year_start);
        match self.tree.get(&key)? {
            None => Ok(0),
            Some(value) => {
                let bytes: [u8; 8] = value.as_ref().try_into().map_err(|_| corrupt(&key))?;
                Ok(u64::from_be_bytes(bytes))
            }
        }
    }

    /// The noisy cross last released for a period: the hash of the exact
    /// cross it was drawn for, and the released values.
    pub fn cross_release(&self, period: Period) -> Result<Option<CrossRelease>, StoreError> {
        let key = keys::cross_release(period);
        let Some(value) = self.tree.get(&key)? else { return Ok(None) };
        let (hash, values) = value.split_at_checked(32).ok_or_else(|| corrupt(&key))?;
        if values.len() % 8 != 0 {
            return Err(corrupt(&key));
        }
        let hash: [u8; 32] = hash.try_into().map_err(|_| corrupt(&key))?;
        let values =
            values.chunks_exact(8).map(|chunk| i64::from_be_bytes(chunk.try_into().unwrap_or([0; 8]))).collect();
        Ok(Some(CrossRelease { exact_hash: hash, values }))
    }

    /// Records a new release and what it cost, in one atomic batch, so the
    /// ledger can never lag behind a release. Durable at the next flush,
    /// which comes before the aggregate carrying the values is acknowledged.
    pub fn record_cross_release(
        &self,
        period: Period,
        exact_hash: [u8; 32],
        values: &[i64],
        spent_after: u64,
    ) -> Result<(), StoreError> {
        let mut release = exact_hash.to_vec();
        for value in values {
            release.extend_from_slice(&value.to_be_bytes());
        }
        let mut batch = sled::Batch::default();
        batch.insert(keys::cross_release(period), release);
        batch.insert(keys::budget(period.school_year.start_year()), &spent_after.to_be_bytes());
        self.writable()?.apply_batch(batch)?;
        Ok(())
    }

    /// An exact cross that changed and waits to be quiet before it is
    /// released: its hash, and since when it has been unchanged.
    pub fn cross_pending(&self, period: Period) -> Result<Option<([u8; 32], i64)>, StoreError> {
        let key = keys::cross_pending(period);
        let Some(value) = self.tree.get(&key)? else { return Ok(None) };
        let hash: [u8; 32] = value.get(..32).and_then(|h| h.try_into().ok()).ok_or_else(|| corrupt(&key))?;
        let since: [u8; 8] = value.get(32..40).and_then(|s| s.try_into().ok()).ok_or_else(|| corrupt(&key))?;
        Ok(Some((hash, i64::from_be_bytes(since))))
    }

    pub fn set_cross_pending(
        &self,
        period: Period,
        exact_hash: [u8; 32],
        since_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let mut value = exact_hash.to_vec();
        value.extend_from_slice(&since_unix_ms.to_be_bytes());
        self.writable()?.insert(keys::cross_pending(period), value)?;
        Ok(())
    }

    pub fn clear_cross_pending(&self, period: Period) -> Result<(), StoreError> {
        self.writable()?.remove(keys::cross_pending(period))?;
        Ok(())
    }

    /// Periods with a cross change waiting to be released.
    pub fn pending_cross_periods(&self) -> Result<Vec<Period>, StoreError> {
        self.periods_keyed(b"q/")
    }

    /// The pseudonym of the severe notice issued for an incident case, if any.
    pub fn notice_for_case(&self, case: RecordId) -> Result<Option<[u8; 16]>, StoreError> {
        let key = keys::notice(case);
        match self.tree.get(&key)? {
            None => Ok(None),
            Some(value) => Ok(Some(value.as_ref().try_into().map_err(|_| corrupt(&key))?)),
        }
    }

    /// Remembers a case's notice pseudonym. Kept locally only: this is the one
    /// place where a pseudonym meets the case it stands for.
    pub fn set_notice_for_case(&self, case: RecordId, pseudonym: [u8; 16]) -> Result<(), StoreError> {
        self.writable()?.insert(keys::notice(case), &pseudonym[..])?;
        Ok(())
    }

    pub fn cursor(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let key = keys::cursor(name);
        match self.tree.get(&key)? {
            None => Ok(None),
            Some(value) => {
                let bytes: [u8; 8] = value.as_ref().try_into().map_err(|_| corrupt(&key))?;
                Ok(Some(u64::from_be_bytes(bytes)))
            }
        }
    }

    /// Records a cursor. Like every write, durable only after `flush`.
    pub fn set_cursor(&self, name: &str, value: u64) -> Result<(), StoreError> {
        self.writable()?.insert(keys::cursor(name), &value.to_be_bytes())?;
        Ok(())
    }

    pub fn remove_cursor(&self, name: &str) -> Result<(), StoreError> {
        self.writable()?.remove(keys::cursor(name))?;
        Ok(())
    }

    /// Every entry of the store, read under the writer lock so that no
    /// append is half in it: a consistent snapshot of a running node.
    pub fn snapshot(&self) -> Result<Vec<StoreEntry>, StoreError> {
        let _guard = self.lock();
        // A backup holds only what is on disk, like everything else that leaves.
        self.flush()?;
        let mut entries = Vec::new();
        for entry in self.tree.iter() {
            let (key, value) = entry?;
            entries.push((key.to_vec(), value.to_vec()));
        }
        Ok(entries)
    }

    /// Fills an empty store with a snapshot's entries and flushes.
    pub fn restore(&self, entries: &[StoreEntry]) -> Result<(), StoreError> {
        let _guard = self.lock();
        let mut holds_records = false;
        for key in self.tree.iter().keys() {
            holds_records |= key?.as_ref() != keys::LAYOUT;
        }
        if holds_records {
            return Err(StoreError::Io("the store is not empty; restore only into a new data directory".into()));
        }
        let mut batch = sled::Batch::default();
        // The layout is the snapshot's: a snapshot without the key is older.
        batch.remove(keys::LAYOUT);
        for (key, value) in entries {
            batch.insert(key.as_slice(), value.as_slice());
        }
        self.writable()?.apply_batch(batch)?;
        // A backup made by an older edusync holds the older layout.
        crate::migrate::to_current_layout(&self.tree)?;
        self.tree.flush()?;
        Ok(())
    }
}

/// Whether `token` is one `list_newest_first` gives out (the hex of an
/// arrival key), so a caller can refuse another as bad input before asking.
pub fn is_listing_token(token: &str) -> bool {
    listing_token_key(token).is_some()
}

fn listing_token_key(token: &str) -> Option<Vec<u8>> {
    let key = hex::decode(token).ok()?;
    (key.len() == keys::arrival(0).len() && key.starts_with(keys::ARRIVALS)).then_some(key)
}

/// Each log's durable head, read once per listing.
#[derive(Default)]
struct DurableHeads(std::collections::HashMap<LogKey, Option<Seq>>);

impl DurableHeads {
    fn of(&mut self, store: &Store, meta: &RecordMeta) -> Result<Option<Seq>, StoreError> {
        let log = (meta.author_org.clone(), meta.stream);
        if let Some(head) = self.0.get(&log) {
            return Ok(*head);
        }
        let head = store.head(&log.0, log.1)?.map(|(seq, _)| seq);
        self.0.insert(log, head);
        Ok(head)
    }
}

pub(crate) fn corrupt(key: &[u8]) -> StoreError {
    StoreError::Corrupt { key: String::from_utf8_lossy(key).into_owned() }
}

#[cfg(test)]
mod tests;
