//! Signed envelopes: the exact byte layout every record travels and rests in,
//! how it is signed (a domain-separated pre-authentication encoding, as DSSE
//! does), how it is verified (`verify_strict`, before anything in the body is
//! decoded), how its id is computed (SHA-256 of the envelope bytes), and the
//! rules of an author's log (sequence, previous hash, forks, gaps).
//!
//! This crate is not a place for I/O or for record semantics: it treats the
//! record inside an envelope as opaque bytes and never reads a file or a
//! clock. Key files are written by the node; records are decoded by the proto
//! crate.

mod bundle;
mod chain;
mod envelope;
mod keys;
mod many;

pub use bundle::{sign_bundle, BundleCheckpoint, BundleEntries, VerifiedBundle, MAX_BUNDLE_BYTES};
pub use chain::{classify_append, AppendDecision};
pub use envelope::{
    sign_envelope, signed_bytes, EnvelopeDraft, EnvelopeError, EnvelopeHeader, EnvelopeView, KeyCache,
    VerifiedEnvelope, ENVELOPE_MAGIC, MAX_ENVELOPE_BYTES, SIGNING_CONTEXT,
};
pub use keys::{pae, KeyError, NodeKey, PublicKey};
pub use many::{verify_many, verify_parallel};
