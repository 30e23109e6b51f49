//! The envelope byte layout, signing and verification.
//!
//! ```text
//! envelope  = magic "ESE1"
//!             u16 type_len | payload_type (ASCII, e.g. "edusync.v1.Plan")
//!             u32 body_len | body
//!             signature (64 bytes, Ed25519)
//! body      = u8 version (1)
//!             author_key (32 bytes, Ed25519 public key)
//!             u8 stream (1 local, 2 shared)
//!             u64 seq (1, 2, 3, ...)
//!             prev_id (32 bytes; zero for seq 1)
//!             i64 created_unix_ms
//!             u16 org_len | author_org (ASCII)
//!             u32 record_len | record (protobuf of payload_type)
//! signed    = "EDUSYNC-ENVELOPE-V1" SP LEN(payload_type) SP payload_type SP LEN(body) SP body
//!             (LEN is the ASCII decimal length in bytes, SP one space: DSSE's PAE)
//! record id = SHA-256(envelope)
//! ```
//! All integers are big-endian. Nothing may follow the signature. Because the
//! body carries the author, key, sequence and previous id, all of them are
//! signed: nobody but the author can move a record to another place in a log.

use std::ops::Range;

use ed25519_dalek::Signature;
use sha2::{Digest, Sha256};

use edusync_core::{LogStream, OrgId, RecordId, Seq};

use crate::keys::{NodeKey, PublicKey};

pub const ENVELOPE_MAGIC: &[u8; 4] = b"ESE1";
pub const SIGNING_CONTEXT: &str = "EDUSYNC-ENVELOPE-V1";
pub const MAX_ENVELOPE_BYTES: usize = 4 * 1024 * 1024;
const BODY_VERSION: u8 = 1;
const MAX_PAYLOAD_TYPE: usize = 128;
const SIGNATURE_LEN: usize = 64;
/// Offset of the author key inside the body, fixed so that the key can be read
/// for verification without decoding anything else.
pub(crate) const KEY_RANGE: Range<usize> = 1..33;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("envelope is {0} bytes; the limit is {MAX_ENVELOPE_BYTES}")]
    TooLarge(usize),
    #[error("envelope is truncated: {0} is missing")]
    Truncated(&'static str),
    #[error("envelope does not start with the magic bytes ESE1")]
    BadMagic,
    #[error("envelope has {0} bytes after the signature")]
    TrailingBytes(usize),
    #[error("envelope payload type must be 1 to {MAX_PAYLOAD_TYPE} ASCII characters")]
    BadPayloadType,
    #[error("envelope body version {0} is not known to this node; upgrade edusync")]
    UnknownVersion(u8),
    #[error("envelope names an author key that is not a valid Ed25519 key")]
    BadKey,
    #[error("envelope signature does not verify under its author key")]
    BadSignature,
    #[error("envelope body field {field} is invalid: {reason}")]
    BadField { field: &'static str, reason: String },
}

/// What an author puts in an envelope before it is signed.
#[derive(Clone, Debug)]
pub struct EnvelopeDraft<'a> {
    pub payload_type: &'a str,
    pub author_org: &'a OrgId,
    pub stream: LogStream,
    pub seq: Seq,
    pub prev: Option<RecordId>,
    pub created_unix_ms: i64,
    pub record: &'a [u8],
}

/// The decoded, signed header of an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeHeader {
    pub payload_type: String,
    pub author_key: PublicKey,
    pub author_org: OrgId,
    pub stream: LogStream,
    pub seq: Seq,
    pub prev: Option<RecordId>,
    pub created_unix_ms: i64,
}

/// An envelope whose signature has been checked with `verify_strict` under
/// the key it names. The only constructors verify, or sign.
#[derive(Clone, Debug)]
pub struct VerifiedEnvelope {
    bytes: Vec<u8>,
    id: RecordId,
    header: EnvelopeHeader,
    record: Range<usize>,
}

impl VerifiedEnvelope {
    /// Checks the framing, then the signature, and only then decodes the body.
    pub fn verify(bytes: Vec<u8>) -> Result<Self, EnvelopeError> {
        VerifiedEnvelope::verify_with(bytes, &mut KeyCache::default())
    }

    /// As `verify`, with the author keys already parsed kept in `keys`.
    pub fn verify_with(bytes: Vec<u8>, keys: &mut KeyCache) -> Result<Self, EnvelopeError> {
        let framing = split_framing(&bytes)?;
        let key_bytes = framing.body.get(KEY_RANGE).ok_or(EnvelopeError::Truncated("author key"))?;
        let (key, verifying_key) = keys.parse(key_bytes)?;
        let message = signed_bytes(framing.payload_type, framing.body);
        verifying_key
            .verify_strict(&message, &Signature::from_bytes(&framing.signature))
            .map_err(|_| EnvelopeError::BadSignature)?;
        let (header, record) = decode_body(framing.payload_type, framing.body, key)?;
        let record = shift(record, framing.body_offset);
        let id = RecordId(Sha256::digest(&bytes).into());
        Ok(VerifiedEnvelope { bytes, id, header, record })
    }

    /// For envelopes whose signature a strict-equivalent batch check has
    /// already accepted (see `many.rs`); decodes exactly as `verify` does.
    pub(crate) fn after_batch(bytes: Vec<u8>) -> Result<Self, EnvelopeError> {
        let framing = split_framing(&bytes)?;
        let key_bytes = framing.body.get(KEY_RANGE).ok_or(EnvelopeError::Truncated("author key"))?;
        let key = PublicKey::from_bytes(key_bytes).map_err(|_| EnvelopeError::BadKey)?;
        let (header, record) = decode_body(framing.payload_type, framing.body, key)?;
        let record = shift(record, framing.body_offset);
        let id = RecordId(Sha256::digest(&bytes).into());
        Ok(VerifiedEnvelope { bytes, id, header, record })
    }

    pub fn id(&self) -> RecordId {
        self.id
    }

    pub fn header(&self) -> &EnvelopeHeader {
        &self.header
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The encoded record, still to be decoded by whoever knows its type.
    pub fn record_bytes(&self) -> &[u8] {
        &self.bytes[self.record.clone()]
    }
}

/// An envelope read back from this node's own store: parsed, not re-verified.
/// It was verified (or signed) before it was stored; reading must stay cheap.
#[derive(Clone, Debug)]
pub struct EnvelopeView<'a> {
    pub header: EnvelopeHeader,
    pub record: &'a [u8],
}

impl<'a> EnvelopeView<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, EnvelopeError> {
        let framing = split_framing(bytes)?;
        // Checked when it was verified or signed, before it was stored.
        let key_bytes = framing.body.get(KEY_RANGE).ok_or(EnvelopeError::Truncated("author key"))?;
        let key = PublicKey(key_bytes.try_into().map_err(|_| EnvelopeError::BadKey)?);
        let (header, record) = decode_body(framing.payload_type, framing.body, key)?;
        Ok(EnvelopeView { header, record: &bytes[shift(record, framing.body_offset)] })
    }
}

/// Signs a draft with the node's key.
pub fn sign_envelope(key: &NodeKey, draft: &EnvelopeDraft<'_>) -> Result<VerifiedEnvelope, EnvelopeError> {
    if draft.payload_type.is_empty() || draft.payload_type.len() > MAX_PAYLOAD_TYPE || !draft.payload_type.is_ascii() {
        return Err(EnvelopeError::BadPayloadType);
    }
    check_seq_and_prev(draft.seq, draft.prev)?;
    let org = draft.author_org.as_str().as_bytes();
    let mut body = Vec::with_capacity(1 + 32 + 1 + 8 + 32 + 8 + 2 + org.len() + 4 + draft.record.len());
    body.push(BODY_VERSION);
    body.extend_from_slice(&key.public_key().0);
    body.push(draft.stream.as_byte());
    body.extend_from_slice(&draft.seq.0.to_be_bytes());
    body.extend_from_slice(&draft.prev.unwrap_or(RecordId::ZERO).0);
    body.extend_from_slice(&draft.created_unix_ms.to_be_bytes());
    body.extend_from_slice(&len_u16(org.len(), "author_org")?.to_be_bytes());
    body.extend_from_slice(org);
    body.extend_from_slice(&len_u32(draft.record.len(), "record")?.to_be_bytes());
    body.extend_from_slice(draft.record);

    let signature = key.sign(&signed_bytes(draft.payload_type, &body));
    let mut bytes = Vec::with_capacity(4 + 2 + draft.payload_type.len() + 4 + body.len() + SIGNATURE_LEN);
    bytes.extend_from_slice(ENVELOPE_MAGIC);
    bytes.extend_from_slice(&len_u16(draft.payload_type.len(), "payload_type")?.to_be_bytes());
    bytes.extend_from_slice(draft.payload_type.as_bytes());
    bytes.extend_from_slice(&len_u32(body.len(), "body")?.to_be_bytes());
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(&signature);
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(EnvelopeError::TooLarge(bytes.len()));
    }
    // Verifying what we just signed costs one check and guards the layout code above.
    VerifiedEnvelope::verify(bytes)
}

/// The exact bytes an envelope signature covers.
pub fn signed_bytes(payload_type: &str, body: &[u8]) -> Vec<u8> {
    crate::keys::pae(SIGNING_CONTEXT, payload_type, body)
}

pub(crate) struct Framing<'a> {
    pub(crate) payload_type: &'a str,
    pub(crate) body: &'a [u8],
    body_offset: usize,
    pub(crate) signature: [u8; SIGNATURE_LEN],
}

struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize, what: &'static str) -> Result<&'a [u8], EnvelopeError> {
        let end = self.position.checked_add(count).ok_or(EnvelopeError::Truncated(what))?;
        let slice = self.bytes.get(self.position..end).ok_or(EnvelopeError::Truncated(what))?;
        self.position = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], EnvelopeError> {
        let slice = self.take(N, what)?;
        let mut array = [0u8; N];
        array.copy_from_slice(slice);
        Ok(array)
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }
}

pub(crate) fn split_framing(bytes: &[u8]) -> Result<Framing<'_>, EnvelopeError> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(EnvelopeError::TooLarge(bytes.len()));
    }
    let mut reader = Reader { bytes, position: 0 };
    if reader.take(4, "magic")? != ENVELOPE_MAGIC {
        return Err(EnvelopeError::BadMagic);
    }
    let type_len = u16::from_be_bytes(reader.array("payload type length")?) as usize;
    let payload_type = reader.take(type_len, "payload type")?;
    if payload_type.is_empty()
        || payload_type.len() > MAX_PAYLOAD_TYPE
        || !payload_type.iter().all(|b| b.is_ascii_graphic())
    {
        return Err(EnvelopeError::BadPayloadType);
    }
    let payload_type = std::str::from_utf8(payload_type).map_err(|_| EnvelopeError::BadPayloadType)?;
    let body_len = u32::from_be_bytes(reader.array("body length")?) as usize;
    let body_offset = reader.position;
    let body = reader.take(body_len, "body")?;
    let signature = reader.array::<SIGNATURE_LEN>("signature")?;
    if reader.remaining() != 0 {
        return Err(EnvelopeError::TrailingBytes(reader.remaining()));
    }
    Ok(Framing { payload_type, body, body_offset, signature })
}

/// `author_key` is the key at `KEY_RANGE`, already parsed and checked by the caller.
fn decode_body(
    payload_type: &str,
    body: &[u8],
    author_key: PublicKey,
) -> Result<(EnvelopeHeader, Range<usize>), EnvelopeError> {
    let mut reader = Reader { bytes: body, position: 0 };
    let [version] = reader.array::<1>("version")?;
    if version != BODY_VERSION {
        return Err(EnvelopeError::UnknownVersion(version));
    }
    reader.take(32, "author key")?;
    let [stream] = reader.array::<1>("stream")?;
    let stream = LogStream::from_byte(stream)
        .ok_or_else(|| EnvelopeError::BadField { field: "stream", reason: format!("unknown stream {stream}") })?;
    let seq = Seq(u64::from_be_bytes(reader.array("seq")?));
    let prev = RecordId(reader.array("prev_id")?);
    let prev = (prev != RecordId::ZERO).then_some(prev);
    check_seq_and_prev(seq, prev)?;
    let created_unix_ms = i64::from_be_bytes(reader.array("created time")?);
    let org_len = u16::from_be_bytes(reader.array("author org length")?) as usize;
    let org = reader.take(org_len, "author org")?;
    let org = std::str::from_utf8(org)
        .map_err(|_| EnvelopeError::BadField { field: "author_org", reason: "not UTF-8".into() })?;
    let author_org = OrgId::parse("author_org", org)
        .map_err(|error| EnvelopeError::BadField { field: "author_org", reason: error.reason.to_string() })?;
    let record_len = u32::from_be_bytes(reader.array("record length")?) as usize;
    let start = reader.position;
    reader.take(record_len, "record")?;
    if reader.remaining() != 0 {
        return Err(EnvelopeError::BadField {
            field: "record",
            reason: format!("{} bytes follow the record", reader.remaining()),
        });
    }
    let header = EnvelopeHeader {
        payload_type: payload_type.to_owned(),
        author_key,
        author_org,
        stream,
        seq,
        prev,
        created_unix_ms,
    };
    Ok((header, start..start + record_len))
}

fn check_seq_and_prev(seq: Seq, prev: Option<RecordId>) -> Result<(), EnvelopeError> {
    match (seq.0, prev) {
        (0, _) => Err(EnvelopeError::BadField { field: "seq", reason: "sequence numbers start at 1".into() }),
        (1, Some(_)) => {
            Err(EnvelopeError::BadField { field: "prev_id", reason: "the first envelope has no previous one".into() })
        }
        (2.., None) => Err(EnvelopeError::BadField {
            field: "prev_id",
            reason: "only the first envelope may omit its previous id".into(),
        }),
        _ => Ok(()),
    }
}

fn shift(range: Range<usize>, offset: usize) -> Range<usize> {
    range.start + offset..range.end + offset
}

fn len_u16(len: usize, field: &'static str) -> Result<u16, EnvelopeError> {
    u16::try_from(len).map_err(|_| EnvelopeError::BadField { field, reason: format!("{len} bytes is too long") })
}

fn len_u32(len: usize, field: &'static str) -> Result<u32, EnvelopeError> {
    u32::try_from(len).map_err(|_| EnvelopeError::BadField { field, reason: format!("{len} bytes is too long") })
}

#[cfg(test)]
mod tests;

/// Author keys parsed and checked (valid point, not of small order), by
/// their bytes. A pushed batch is signed by one key or a few, and parsing a
/// key is a point decompression, a good part of a verification's cost.
#[derive(Default)]
pub struct KeyCache(std::collections::HashMap<[u8; 32], Option<(PublicKey, ed25519_dalek::VerifyingKey)>>);

impl KeyCache {
    /// Bounded, so that a stream of distinct keys cannot grow it without end.
    const MAX_KEYS: usize = 1024;

    fn parse(&mut self, bytes: &[u8]) -> Result<(PublicKey, ed25519_dalek::VerifyingKey), EnvelopeError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| EnvelopeError::BadKey)?;
        if let Some(known) = self.0.get(&array) {
            return known.ok_or(EnvelopeError::BadKey);
        }
        let parsed = PublicKey::from_bytes(&array)
            .ok()
            .and_then(|key| key.verifying_key().ok().map(|verifying_key| (key, verifying_key)));
        if self.0.len() >= Self::MAX_KEYS {
            self.0.clear();
        }
        self.0.insert(array, parsed);
        parsed.ok_or(EnvelopeError::BadKey)
    }
}
