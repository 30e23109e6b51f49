//! Moves a store written by an older edusync to the current key layout, once,
//! in one atomic batch, when the store is opened (or a backup restored).
//!
//! Layout 1 (edusync up to 2026-12-01) kept each record's meta under its own
//! key (`m/ id`), indexed by kind, period and org with keys ending in the
//! record id, so every record cost five randomly placed keys. Layout 2 keeps
//! the meta in front of the envelope, indexes by the record's place in its
//! author's log, and lists by org from the logs themselves (see `keys.rs`).

use std::collections::HashMap;

use edusync_core::RecordId;

use crate::keys;
use crate::meta::RecordMeta;
use crate::store::{corrupt, StoreError};

pub(crate) const CURRENT_LAYOUT: u8 = 2;

pub(crate) fn to_current_layout(tree: &sled::Tree) -> Result<(), StoreError> {
    if let Some(layout) = tree.get(keys::LAYOUT)? {
        return match layout.first() {
            Some(&CURRENT_LAYOUT) => Ok(()),
            _ => Err(StoreError::Io(format!(
                "the store has key layout {layout:?}, newer than this edusync knows ({CURRENT_LAYOUT}); \
                 run the edusync version that wrote it"
            ))),
        };
    }
    let mut batch = sled::Batch::default();
    let mut metas: HashMap<RecordId, RecordMeta> = HashMap::new();
    for entry in tree.scan_prefix(b"m/") {
        let (key, value) = entry?;
        let id = key.get(2..).and_then(|id| RecordId::from_slice("meta", id).ok()).ok_or_else(|| corrupt(&key))?;
        let meta = RecordMeta::decode(&value).ok_or_else(|| corrupt(&key))?;
        let envelope_key = keys::envelope(id);
        let envelope = tree.get(&envelope_key)?.ok_or_else(|| corrupt(&envelope_key))?;
        batch.insert(envelope_key, meta.encode_with(&envelope));
        batch.remove(key);
        metas.insert(id, meta);
    }
    if !metas.is_empty() {
        tracing::info!(records = metas.len(), "moving the store to key layout {CURRENT_LAYOUT}");
        for old_index in [&b"o/"[..], b"k/", b"p/"] {
            for entry in tree.scan_prefix(old_index) {
                batch.remove(entry?.0);
            }
        }
        for entry in tree.scan_prefix(b"l/") {
            let (key, value) = entry?;
            let (org, stream, seq) = keys::parse_log(&key).ok_or_else(|| corrupt(&key))?;
            let id = RecordId::from_slice("log", &value).map_err(|_| corrupt(&key))?;
            let meta = metas.get(&id).ok_or_else(|| corrupt(&key))?;
            if meta.evidence_only {
                continue;
            }
            batch.insert(keys::by_kind(meta.kind, &org, stream, seq), &id.0[..]);
            if let Some(period) = meta.period {
                batch.insert(keys::by_period(period, &org, stream, seq), &id.0[..]);
            }
        }
    }
    batch.insert(keys::LAYOUT, &[CURRENT_LAYOUT][..]);
    tree.apply_batch(batch)?;
    tree.flush()?;
    Ok(())
}
