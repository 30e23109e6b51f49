//! Backups that cannot fork a log. A backup is a consistent snapshot of the
//! store plus the node's key; a node restored from one signs nothing until
//! its parent has said how much of its log it holds, and first takes back
//! from the parent whatever it had signed after the backup was taken, so it
//! never signs a second, different record at a sequence number it used.
//!
//! ```text
//! file = "EDUSYNC-BACKUP-2\n" | u16 len | org | i64 taken at (ms since the epoch)
//!        | u32 len | key PEM
//!        | u64 count | count × (u32 len | key | u32 len | value) | SHA-256 of all before (32)
//! ```
//!
//! Files of the first layout (`EDUSYNC-BACKUP-1\n`, without the time) are read too.

use sha2::{Digest, Sha256};

use edusync_core::{OrgId, ValidationError};

use crate::{Node, NodeError};

const MAGIC: &[u8] = b"EDUSYNC-BACKUP-2\n";
/// The first layout, without the time the backup was taken.
const MAGIC_1: &[u8] = b"EDUSYNC-BACKUP-1\n";
/// The store cursor that marks a node restored and not yet reconciled with its parent.
pub(crate) const RESTORED: &str = "restored-from-backup";

fn invalid(reason: impl Into<String>) -> NodeError {
    NodeError::Invalid(ValidationError::new("backup", edusync_core::Reason::Malformed { detail: reason.into() }))
}

impl Node {
    /// A consistent snapshot of this node, with its key, as one file.
    pub fn backup(&self) -> Result<Vec<u8>, NodeError> {
        let entries = self.store.snapshot()?;
        let mut bytes = MAGIC.to_vec();
        let org = self.org().as_str().as_bytes();
        bytes.extend_from_slice(&(org.len() as u16).to_be_bytes());
        bytes.extend_from_slice(org);
        bytes.extend_from_slice(&chrono::Utc::now().timestamp_millis().to_be_bytes());
        let key = self.key.to_pkcs8_pem();
        bytes.extend_from_slice(&(key.len() as u32).to_be_bytes());
        bytes.extend_from_slice(key.as_bytes());
        bytes.extend_from_slice(&(entries.len() as u64).to_be_bytes());
        for (key, value) in &entries {
            for part in [key, value] {
                let len = u32::try_from(part.len()).map_err(|_| invalid("an entry is larger than 4 GiB"))?;
                bytes.extend_from_slice(&len.to_be_bytes());
                bytes.extend_from_slice(part);
            }
        }
        let digest = Sha256::digest(&bytes);
        bytes.extend_from_slice(&digest);
        tracing::info!(org = %self.org(), entries = entries.len(), bytes = bytes.len(), "backup taken");
        Ok(bytes)
    }

    /// Whether this node was restored from a backup and has not yet learned
    /// from its parent how much of its log the parent holds.
    pub fn awaiting_reconciliation(&self) -> Result<bool, NodeError> {
        Ok(self.store.cursor(RESTORED)?.is_some())
    }

    pub(crate) fn refuse_if_restored(&self) -> Result<(), NodeError> {
        if self.awaiting_reconciliation()? {
            return Err(NodeError::Restored(format!(
                "{} was restored from a backup and signs nothing until its parent has told it how much of its \
                 log it holds (it may hold records signed after the backup); start the node with its parent \
                 reachable, and `edusync status` shows when it is done",
                self.org()
            )));
        }
        Ok(())
    }

    /// Appends envelopes of this node's own shared log that its parent gave
    /// back: each must verify under a key that spoke for this node when it
    /// signed, and continue the log exactly (anything else is refused).
    pub(crate) fn take_back_own(&self, envelopes: Vec<Vec<u8>>) -> Result<(), NodeError> {
        for bytes in envelopes {
            let envelope = edusync_envelope::VerifiedEnvelope::verify(bytes)?;
            let header = envelope.header();
            if header.author_org != *self.org() || header.stream != edusync_core::LogStream::Shared {
                return Err(invalid(format!(
                    "the parent gave back a record of {}, not of this node",
                    header.author_org
                )));
            }
            self.trust()
                .standing(self.org(), &header.author_key, header.created_unix_ms)
                .map_err(|error| invalid(format!("a record given back is not this node's: {error}")))?;
            let kind = edusync_core::RecordKind::from_payload_type(&header.payload_type)
                .ok_or_else(|| invalid(format!("unknown payload type {}", header.payload_type)))?;
            let record = edusync_proto::decode_record(&header.payload_type, envelope.record_bytes())?;
            let indexing = edusync_store::Indexing {
                kind,
                period: record.period(self.utc_offset()),
                stored_unix_ms: chrono::Utc::now().timestamp_millis(),
            };
            let content_hash = crate::engine::content_hash(&header.payload_type, envelope.record_bytes());
            match self.store.append_taken_back(&envelope, &indexing, content_hash)? {
                edusync_store::Append::Stored | edusync_store::Append::Duplicate => {}
                other => return Err(invalid(format!("a record given back does not continue this log: {other:?}"))),
            }
        }
        self.store.flush()?;
        Ok(())
    }

    /// The parent holds this node's log up to `parent_holds`; with everything
    /// up to there back in the store, signing may resume.
    pub(crate) fn reconciled(&self) -> Result<(), NodeError> {
        self.store.remove_cursor(RESTORED)?;
        self.store.flush()?;
        tracing::warn!(org = %self.org(), "restored node reconciled with its parent; signing resumes");
        Ok(())
    }
}

/// What a backup file holds, checked.
pub struct Backup {
    pub org: OrgId,
    /// When it was taken; unknown for files of the first layout.
    pub taken_unix_ms: Option<i64>,
    pub key_pem: String,
    entries: Vec<edusync_store::StoreEntry>,
}

impl Backup {
    pub fn parse(bytes: &[u8]) -> Result<Backup, NodeError> {
        let body_len = bytes.len().checked_sub(32).ok_or_else(|| invalid("truncated: no checksum"))?;
        let (body, digest) = bytes.split_at(body_len);
        if Sha256::digest(body).as_slice() != digest {
            return Err(invalid("the checksum does not match: the file is damaged or incomplete"));
        }
        let mut at = 0usize;
        let mut take = |count: usize, what: &str| -> Result<&[u8], NodeError> {
            let end = at.checked_add(count).filter(|end| *end <= body.len());
            let end = end.ok_or_else(|| invalid(format!("truncated: {what} is missing")))?;
            let slice = &body[at..end];
            at = end;
            Ok(slice)
        };
        let layout = take(MAGIC.len(), "magic")?;
        let timed = if layout == MAGIC {
            true
        } else if layout == MAGIC_1 {
            false
        } else {
            return Err(invalid("not an edusync backup"));
        };
        let org_len = u16::from_be_bytes(take(2, "org length")?.try_into().unwrap_or([0; 2])) as usize;
        let org = std::str::from_utf8(take(org_len, "org")?).map_err(|_| invalid("org is not UTF-8"))?;
        let org = OrgId::parse("backup org", org).map_err(|error| invalid(error.to_string()))?;
        let taken_unix_ms =
            if timed { Some(i64::from_be_bytes(take(8, "time taken")?.try_into().unwrap_or([0; 8]))) } else { None };
        let key_len = u32::from_be_bytes(take(4, "key length")?.try_into().unwrap_or([0; 4])) as usize;
        let key_pem = String::from_utf8(take(key_len, "key")?.to_vec()).map_err(|_| invalid("key is not UTF-8"))?;
        let count = u64::from_be_bytes(take(8, "entry count")?.try_into().unwrap_or([0; 8]));
        let mut entries = Vec::new();
        for _ in 0..count {
            let mut part = || -> Result<Vec<u8>, NodeError> {
                let len = u32::from_be_bytes(take(4, "entry length")?.try_into().unwrap_or([0; 4])) as usize;
                Ok(take(len, "entry")?.to_vec())
            };
            let key = part()?;
            let value = part()?;
            entries.push((key, value));
        }
        if at != body.len() {
            return Err(invalid(format!("{} bytes follow the entries", body.len() - at)));
        }
        Ok(Backup { org, taken_unix_ms, key_pem, entries })
    }

    /// Writes the snapshot into the (empty) store at `store_path`, marked as
    /// restored so that the node signs nothing until its parent has answered.
    pub fn restore_store(&self, store_path: &std::path::Path) -> Result<usize, NodeError> {
        let store = edusync_store::Store::open(store_path)?;
        store.restore(&self.entries)?;
        store.set_cursor(RESTORED, 1)?;
        store.flush()?;
        Ok(self.entries.len())
    }
}
