//! Durable storage for one node: envelopes by record id, each author's log by
//! (author, stream, sequence), indexes by kind, period and organisation,
//! evidence of equivocation, and sync cursors.
//!
//! This is the only crate that names sled, and no sled type appears in its
//! public API, so the engine can be replaced here alone. It is not a place for
//! verification or record semantics: it accepts only `VerifiedEnvelope`s and
//! index entries computed by its caller, and it never decodes a record.
//!
//! Writes are not durable until [`Store::flush`] returns; callers flush before
//! they acknowledge anything to anyone.

mod durability;
mod evidence;
mod feeds;
mod keys;
mod meta;
mod migrate;
mod store;

pub use feeds::{Feeds, PendingRequest, RecordFromAbove};
pub use meta::RecordMeta;
pub use store::{
    is_listing_token, Append, CrossRelease, EquivocationEvidence, Indexing, ListFilter, LogSummary, Offer, OwnAppend,
    OwnDraft, Page, Store, StoreEntry, StoreError, StoredEnvelope, DEFAULT_DISK_RESERVE_BYTES,
};
