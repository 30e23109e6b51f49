//! Trust statements and the feeds that carry them (and directives) between
//! nodes. The store keeps bytes and order only; whether a statement is
//! trustworthy is decided by the caller before it is added.
//!
//! ```text
//! t/ id(32)           -> statement bytes
//! z/ seq(u64 BE)      -> id           every statement, in the order it was admitted
//! u/ seq(u64 BE)      -> id           the upward feed: statements the parent should hold
//! y/ seq(u64 BE)      -> item bytes   the downward feed: statements and envelopes for the children
//! g/ id(32)           -> request bytes   enrolment requests waiting for an operator
//! h/ id(32)           -> answer bytes    the signed certificate chain for a request
//! a/ id(32)           -> envelope bytes  records issued above this node (plans), verified on arrival
//! f/ seq(u64 BE)      -> id           the same, in the order they arrived
//! r/ id(32)           -> envelope bytes  severe-incident notices a child sent ahead of its log
//! ```

use crate::store::{Store, StoreError};

/// An enrolment request waiting for an operator: its id and signed bytes.
pub type PendingRequest = ([u8; 32], Vec<u8>);

/// A record held outside the logs (issued above this node, or a notice
/// ahead of its log): its id and envelope bytes.
pub type RecordFromAbove = ([u8; 32], Vec<u8>);

/// Which feeds a newly admitted statement joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feeds {
    pub up: bool,
    pub down: bool,
}

fn tagged(tag: &[u8; 2], rest: &[u8]) -> Vec<u8> {
    let mut key = tag.to_vec();
    key.extend_from_slice(rest);
    key
}

/// The key of position `seq` in the downward feed.
pub(crate) fn down_key(seq: u64) -> Vec<u8> {
    tagged(b"y/", &seq.to_be_bytes())
}

impl Store {
    /// The next free position of the downward feed; the caller holds the writer lock.
    pub(crate) fn next_down_seq(&self) -> Result<u64, StoreError> {
        self.next_seq(b"y/")
    }

    /// The next free position of a sequence table (`tag` then u64 BE keys).
    pub(crate) fn next_seq(&self, tag: &[u8; 2]) -> Result<u64, StoreError> {
        match self.tree().scan_prefix(tag).next_back() {
            None => Ok(1),
            Some(entry) => {
                let (key, _) = entry?;
                let seq: [u8; 8] = key
                    .get(2..10)
                    .and_then(|bytes| bytes.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt { key: String::from_utf8_lossy(&key).into_owned() })?;
                Ok(u64::from_be_bytes(seq) + 1)
            }
        }
    }

    /// Keeps a statement that the caller has admitted; true if it was new.
    /// Not durable until `flush`.
    pub fn add_statement(&self, id: [u8; 32], bytes: &[u8], feeds: Feeds) -> Result<bool, StoreError> {
        let _guard = self.lock();
        let key = tagged(b"t/", &id);
        if self.tree().contains_key(&key)? {
            return Ok(false);
        }
        let mut batch = sled::Batch::default();
        batch.insert(key, bytes);
        batch.insert(tagged(b"z/", &self.next_seq(b"z/")?.to_be_bytes()), &id[..]);
        if feeds.up {
            batch.insert(tagged(b"u/", &self.next_seq(b"u/")?.to_be_bytes()), &id[..]);
        }
        if feeds.down {
            batch.insert(tagged(b"y/", &self.next_seq(b"y/")?.to_be_bytes()), bytes);
        }
        self.writable()?.apply_batch(batch)?;
        Ok(true)
    }

    /// Keeps a record issued above this node, which the caller verified, and
    /// passes it on down the downward feed; true if it was new. Not durable
    /// until `flush`.
    pub fn add_from_above(&self, id: [u8; 32], bytes: &[u8]) -> Result<bool, StoreError> {
        let _guard = self.lock();
        let key = tagged(b"a/", &id);
        if self.tree().contains_key(&key)? {
            return Ok(false);
        }
        let mut batch = sled::Batch::default();
        batch.insert(key, bytes);
        batch.insert(tagged(b"f/", &self.next_seq(b"f/")?.to_be_bytes()), &id[..]);
        batch.insert(tagged(b"y/", &self.next_seq(b"y/")?.to_be_bytes()), bytes);
        self.writable()?.apply_batch(batch)?;
        Ok(true)
    }

    /// Records issued above this node, as (id, envelope bytes), in the order they arrived.
    pub fn from_above(&self) -> Result<Vec<RecordFromAbove>, StoreError> {
        let mut out = Vec::new();
        for entry in self.tree().scan_prefix(b"f/") {
            let (_, id) = entry?;
            let Ok(id) = <[u8; 32]>::try_from(id.as_ref()) else { continue };
            if let Some(bytes) = self.tree().get(tagged(b"a/", &id))? {
                out.push((id, bytes.to_vec()));
            }
        }
        Ok(out)
    }

    /// Keeps a child's severe-incident notice that arrived ahead of the rest
    /// of its log (verified by the caller); true if new. Not durable until `flush`.
    pub fn add_notice_ahead(&self, id: [u8; 32], bytes: &[u8]) -> Result<bool, StoreError> {
        let key = tagged(b"r/", &id);
        if self.tree().contains_key(&key)? {
            return Ok(false);
        }
        self.writable()?.insert(key, bytes)?;
        Ok(true)
    }

    /// Notices held ahead of their logs, as (id, envelope bytes).
    pub fn notices_ahead(&self) -> Result<Vec<RecordFromAbove>, StoreError> {
        let mut out = Vec::new();
        for entry in self.tree().scan_prefix(b"r/") {
            let (key, bytes) = entry?;
            if let Some(id) = key.get(2..34).and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()) {
                out.push((id, bytes.to_vec()));
            }
        }
        Ok(out)
    }

    /// Forgets a notice held ahead once its log has caught up with it.
    pub fn drop_notice_ahead(&self, id: [u8; 32]) -> Result<(), StoreError> {
        self.writable()?.remove(tagged(b"r/", &id))?;
        Ok(())
    }

    /// Every statement, in the order it was admitted, to rebuild trust at start.
    pub fn statements(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        for entry in self.tree().scan_prefix(b"z/") {
            let (_, id) = entry?;
            if let Some(bytes) = self.tree().get(tagged(b"t/", &id))? {
                out.push(bytes.to_vec());
            }
        }
        Ok(out)
    }

    /// Appends an item (a statement or an envelope) to the downward feed.
    pub fn push_down(&self, bytes: &[u8]) -> Result<u64, StoreError> {
        let _guard = self.lock();
        let seq = self.next_seq(b"y/")?;
        self.writable()?.insert(tagged(b"y/", &seq.to_be_bytes()), bytes)?;
        Ok(seq)
    }

    /// Items of a feed after `after`, at most `limit`, with their positions.
    fn read_feed(&self, tag: &[u8; 2], after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let start = tagged(tag, &(after.saturating_add(1)).to_be_bytes());
        let end = tagged(tag, &u64::MAX.to_be_bytes());
        let mut out = Vec::new();
        for entry in self.tree().range(start..=end).take(limit) {
            let (key, value) = entry?;
            let seq: [u8; 8] = key
                .get(2..10)
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt { key: String::from_utf8_lossy(&key).into_owned() })?;
            out.push((u64::from_be_bytes(seq), value.to_vec()));
        }
        Ok(out)
    }

    /// Items of the downward feed after `after`, at most `limit`: only those
    /// on disk, since a plan in it shares its batch with the office's own log.
    pub fn read_down(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let head = self.down_head()?;
        let mut items = self.read_feed(b"y/", after, limit)?;
        items.retain(|(seq, _)| *seq <= head);
        // Before any of it leaves; a child finding nothing new costs no disk sync.
        if !items.is_empty() {
            self.flush()?;
        }
        Ok(items)
    }

    /// Statements of the upward feed after `after`, as bytes.
    pub fn read_up(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for (seq, id) in self.read_feed(b"u/", after, limit)? {
            if let Some(bytes) = self.tree().get(tagged(b"t/", &id))? {
                out.push((seq, bytes.to_vec()));
            }
        }
        Ok(out)
    }

    /// The position of the last item in the downward feed (0 when empty).
    pub fn down_head(&self) -> Result<u64, StoreError> {
        Ok(self.next_seq(b"y/")? - 1)
    }

    pub fn add_enrolment_request(&self, id: [u8; 32], bytes: &[u8]) -> Result<(), StoreError> {
        self.writable()?.insert(tagged(b"g/", &id), bytes)?;
        Ok(())
    }

    pub fn enrolment_requests(&self) -> Result<Vec<PendingRequest>, StoreError> {
        let mut out = Vec::new();
        for entry in self.tree().scan_prefix(b"g/") {
            let (key, value) = entry?;
            if let Some(id) = key.get(2..34).and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()) {
                out.push((id, value.to_vec()));
            }
        }
        Ok(out)
    }

    pub fn enrolment_request(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree().get(tagged(b"g/", id))?.map(|value| value.to_vec()))
    }

    /// Drops a pending request without an answer; true if it was pending.
    pub fn remove_enrolment_request(&self, id: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self.writable()?.remove(tagged(b"g/", id))?.is_some())
    }

    /// Answers a request: the request leaves the queue, the answer stays for
    /// the requester to fetch.
    pub fn answer_enrolment_request(&self, id: &[u8; 32], answer: &[u8]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        batch.remove(tagged(b"g/", id));
        batch.insert(tagged(b"h/", id), answer);
        self.writable()?.apply_batch(batch)?;
        Ok(())
    }

    pub fn enrolment_answer(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree().get(tagged(b"h/", id))?.map(|value| value.to_vec()))
    }
}
