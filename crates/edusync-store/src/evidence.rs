//! Roll-up evidence that travels upward, so that an office can prove its
//! total down to every school's signed aggregate without visiting them: the
//! aggregates of nodes below its children (each arriving from the child
//! that summed it), what each aggregate summed, and the queue of what this
//! node still owes its own parent. The store keeps bytes only; the caller
//! verifies signatures before it adds anything.
//!
//! ```text
//! m/ id(32)           -> envelope bytes      an aggregate of a node below a child, held as evidence
//! i/ id(32)           -> id(32)...           the child aggregates an aggregate summed, in leaf order
//! o/ seq(u64 BE)      -> id(32)              aggregates (and their summed lists) to send up, in order
//! ```

use edusync_core::RecordId;

use crate::store::{Store, StoreError};

fn tagged(tag: &[u8; 2], rest: &[u8]) -> Vec<u8> {
    let mut key = tag.to_vec();
    key.extend_from_slice(rest);
    key
}

impl Store {
    /// Keeps an aggregate of a node below a child as evidence, and queues it
    /// for this node's parent; false if it was already held. Not durable
    /// until `flush`.
    pub fn add_evidence(&self, id: RecordId, bytes: &[u8]) -> Result<bool, StoreError> {
        let _guard = self.lock();
        let key = tagged(b"m/", &id.0);
        if self.tree().contains_key(&key)? {
            return Ok(false);
        }
        let mut batch = sled::Batch::default();
        batch.insert(key, bytes);
        batch.insert(tagged(b"o/", &self.next_evidence_seq()?.to_be_bytes()), &id.0[..]);
        self.writable()?.apply_batch(batch)?;
        Ok(true)
    }

    /// An aggregate held as evidence.
    pub fn evidence(&self, id: RecordId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree().get(tagged(b"m/", &id.0))?.map(|value| value.to_vec()))
    }

    /// Records what an aggregate summed (its children's aggregates, in leaf
    /// order) and queues it for this node's parent, once. Not durable until
    /// `flush`.
    pub fn set_summed(&self, aggregate: RecordId, children: &[RecordId]) -> Result<(), StoreError> {
        let _guard = self.lock();
        let key = tagged(b"i/", &aggregate.0);
        if self.tree().contains_key(&key)? {
            return Ok(());
        }
        let ids: Vec<u8> = children.iter().flat_map(|id| id.0).collect();
        let mut batch = sled::Batch::default();
        batch.insert(key, ids);
        batch.insert(tagged(b"o/", &self.next_evidence_seq()?.to_be_bytes()), &aggregate.0[..]);
        self.writable()?.apply_batch(batch)?;
        Ok(())
    }

    /// What an aggregate summed, if this node knows.
    pub fn summed(&self, aggregate: RecordId) -> Result<Option<Vec<RecordId>>, StoreError> {
        let key = tagged(b"i/", &aggregate.0);
        let Some(value) = self.tree().get(&key)? else { return Ok(None) };
        if value.len() % 32 != 0 {
            return Err(StoreError::Corrupt { key: String::from_utf8_lossy(&key).into_owned() });
        }
        Ok(Some(value.chunks(32).filter_map(|chunk| chunk.try_into().ok().map(RecordId)).collect()))
    }

    /// Queues one of this node's own aggregates (or a child's, held in its
    /// log) for the parent's evidence. Not durable until `flush`.
    pub fn queue_evidence(&self, id: RecordId) -> Result<(), StoreError> {
        let _guard = self.lock();
        let seq = self.next_evidence_seq()?;
        self.writable()?.insert(tagged(b"o/", &seq.to_be_bytes()), &id.0[..])?;
        Ok(())
    }

    /// Up to `limit` queued ids after position `after`, with their positions.
    pub fn evidence_queue(&self, after: u64, limit: usize) -> Result<Vec<(u64, RecordId)>, StoreError> {
        let start = tagged(b"o/", &after.saturating_add(1).to_be_bytes());
        let mut out = Vec::new();
        for entry in
            self.tree().range(start..).take_while(|entry| entry.as_ref().is_ok_and(|(key, _)| key.starts_with(b"o/")))
        {
            let (key, value) = entry?;
            let corrupt = || StoreError::Corrupt { key: String::from_utf8_lossy(&key).into_owned() };
            let seq: [u8; 8] = key.get(2..10).and_then(|bytes| bytes.try_into().ok()).ok_or_else(corrupt)?;
            let id: [u8; 32] = value.as_ref().try_into().map_err(|_| corrupt())?;
            out.push((u64::from_be_bytes(seq), RecordId(id)));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn next_evidence_seq(&self) -> Result<u64, StoreError> {
        self.next_seq(b"o/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_and_summed_lists_are_kept_once_and_queued_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("opens");
        let (a, b, c) = (RecordId([1; 32]), RecordId([2; 32]), RecordId([3; 32]));
        assert!(store.add_evidence(a, b"envelope a").expect("adds"));
        assert!(!store.add_evidence(a, b"envelope a").expect("adds"), "held already");
        store.set_summed(c, &[a, b]).expect("sets");
        store.set_summed(c, &[a, b]).expect("once");
        store.queue_evidence(b).expect("queues");
        assert_eq!(store.evidence(a).expect("reads").as_deref(), Some(&b"envelope a"[..]));
        assert_eq!(store.summed(c).expect("reads"), Some(vec![a, b]));
        let queued = store.evidence_queue(0, 10).expect("reads");
        assert_eq!(queued.iter().map(|(_, id)| *id).collect::<Vec<_>>(), vec![a, c, b]);
        assert_eq!(store.evidence_queue(queued[0].0, 1).expect("reads"), vec![queued[1]]);
    }
}
