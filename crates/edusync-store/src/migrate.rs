//! Moves a store written by an older edusync to the current key layout, once,
//! in one atomic batch, when the store is opened (or a backup restored).
//!
//! Layout 1 (edusync up to 2026-12-01) kept each record's meta under its own
//! key (`m/ id`), indexed by kind, period and org with keys ending in the
//! record id, so every record cost five randomly placed keys. Layout 2 keeps
//! the meta in front of the envelope, indexes by the record's place in its
//! author's log, and lists by org from the logs themselves (see `keys.rs`).
//! Layout 3 adds the arrival index (`A/`), for listings newest first; a
//! store of layout 2 gets it in the order its records were stored.

use std::collections::HashMap;

use edusync_core::RecordId;

use crate::keys;
use crate::meta::RecordMeta;
use crate::store::{corrupt, StoreError};

pub(crate) const CURRENT_LAYOUT: u8 = 3;

pub(crate) fn to_current_layout(tree: &sled::Tree) -> Result<(), StoreError> {
    // No layout key: layout 1, or a new store.
    let layout = match tree.get(keys::LAYOUT)? {
        None => 1,
        Some(layout) => layout.first().copied().unwrap_or(0),
    };
    if layout == CURRENT_LAYOUT {
        return Ok(());
    }
    if layout > CURRENT_LAYOUT {
        return Err(StoreError::Io(format!(
            "the store has key layout {layout}, newer than this edusync knows ({CURRENT_LAYOUT}); \
             run the edusync version that wrote it"
        )));
    }
    if layout == 0 {
        return Err(StoreError::Io("the store's layout key is empty: the store is damaged; restore a backup".into()));
    }
    if layout < 2 {
        from_layout_1(tree)?;
    }
    add_arrival_index(tree)?;
    tree.flush()?;
    Ok(())
}

/// Layout 1 to 2: metas in front of envelopes, indexes by log position.
fn from_layout_1(tree: &sled::Tree) -> Result<(), StoreError> {
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
    batch.insert(keys::LAYOUT, &[2][..]);
    tree.apply_batch(batch)?;
    Ok(())
}

/// Layout 2 to 3: every listed record in the arrival index, in the order
/// it was stored here (log position breaking ties), in one batch.
fn add_arrival_index(tree: &sled::Tree) -> Result<(), StoreError> {
    let mut listed = Vec::new();
    for entry in tree.scan_prefix(b"l/") {
        let (key, value) = entry?;
        let id = RecordId::from_slice("log", &value).map_err(|_| corrupt(&key))?;
        let envelope_key = keys::envelope(id);
        let stored = tree.get(&envelope_key)?.ok_or_else(|| corrupt(&envelope_key))?;
        let meta = RecordMeta::decode(&stored).ok_or_else(|| corrupt(&envelope_key))?;
        if meta.evidence_only {
            continue;
        }
        listed.push((meta.stored_unix_ms, key.to_vec(), id, meta));
    }
    listed.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut batch = sled::Batch::default();
    if !listed.is_empty() {
        tracing::info!(records = listed.len(), "moving the store to key layout {CURRENT_LAYOUT}: the arrival index");
    }
    for (position, (_, _, id, meta)) in listed.into_iter().enumerate() {
        let entry = keys::Arrival {
            id,
            kind: meta.kind,
            school_year_start: meta.period.map_or(0, |period| period.school_year.start_year()),
            author_org: meta.author_org,
        };
        batch.insert(keys::arrival(position as u64 + 1), entry.encode());
    }
    batch.insert(keys::LAYOUT, &[CURRENT_LAYOUT][..]);
    tree.apply_batch(batch)?;
    Ok(())
}
