//! Sneakernet bundles: what one node owes another, in one signed file that
//! travels by USB stick or email when no link does.
//!
//! ```text
//! bundle   = "ESB1"
//!            u8 kind (1 envelopes, 2 checkpoints, 3 checkpoints and downward items)
//!            u16 len | from org   u16 len | to org
//!            i64 created_unix_ms
//!            signer key (32 bytes)
//!            u32 count, then per entry:
//!              envelopes:   u32 len | envelope bytes
//!              checkpoints: u16 len | author org | u8 stream | u64 seq | head id (32 bytes)
//!            kind 3 then: u32 count, then per item: u32 len | item bytes
//!              (the parent's downward feed: trust statements, plans, policies)
//!            signature (64 bytes)
//! signed   = "EDUSYNC-BUNDLE-V1" SP LEN("edusync.bundle") SP "edusync.bundle" SP LEN(rest) SP rest
//!            where rest is every byte before the signature
//! ```
//! The signature is checked before any entry is read. Envelopes inside keep
//! their own signatures and are checked again, one by one, by whoever ingests them.

use ed25519_dalek::Signature;

use edusync_core::{LogStream, OrgId, RecordId, Seq};

use crate::envelope::EnvelopeError;
use crate::keys::{NodeKey, PublicKey};

const MAGIC: &[u8; 4] = b"ESB1";
const CONTEXT: &str = "EDUSYNC-BUNDLE-V1";
const PAYLOAD_TYPE: &str = "edusync.bundle";
/// Large enough for a semester of a school's shared records.
pub const MAX_BUNDLE_BYTES: usize = 512 * 1024 * 1024;

/// One author log's acknowledged position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleCheckpoint {
    pub author: OrgId,
    pub stream: LogStream,
    pub seq: Seq,
    pub head: RecordId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleEntries {
    Envelopes(Vec<Vec<u8>>),
    Checkpoints(Vec<BundleCheckpoint>),
    /// From a parent to a child: its acknowledgement (possibly of nothing
    /// yet) and its downward feed, for a child reached only by file.
    Downward {
        checkpoints: Vec<BundleCheckpoint>,
        items: Vec<Vec<u8>>,
    },
}

/// A bundle whose signature has been checked under the key it names.
#[derive(Clone, Debug)]
pub struct VerifiedBundle {
    pub from: OrgId,
    pub to: OrgId,
    pub created_unix_ms: i64,
    pub signer: PublicKey,
    pub entries: BundleEntries,
}

fn pae(rest: &[u8]) -> Vec<u8> {
    let mut message = format!("{CONTEXT} {} {PAYLOAD_TYPE} {} ", PAYLOAD_TYPE.len(), rest.len()).into_bytes();
    message.extend_from_slice(rest);
    message
}

fn field(reason: impl Into<String>) -> EnvelopeError {
    EnvelopeError::BadField { field: "bundle", reason: reason.into() }
}

/// Writes and signs a bundle.
pub fn sign_bundle(
    key: &NodeKey,
    from: &OrgId,
    to: &OrgId,
    created_unix_ms: i64,
    entries: &BundleEntries,
) -> Result<Vec<u8>, EnvelopeError> {
    let mut bytes = MAGIC.to_vec();
    bytes.push(match entries {
        BundleEntries::Envelopes(_) => 1,
        BundleEntries::Checkpoints(_) => 2,
        BundleEntries::Downward { .. } => 3,
    });
    for org in [from, to] {
        bytes.extend_from_slice(&(org.as_str().len() as u16).to_be_bytes());
        bytes.extend_from_slice(org.as_str().as_bytes());
    }
    bytes.extend_from_slice(&created_unix_ms.to_be_bytes());
    bytes.extend_from_slice(&key.public_key().0);
    match entries {
        BundleEntries::Envelopes(envelopes) => write_items(&mut bytes, envelopes)?,
        BundleEntries::Checkpoints(checkpoints) => write_checkpoints(&mut bytes, checkpoints),
        BundleEntries::Downward { checkpoints, items } => {
            write_checkpoints(&mut bytes, checkpoints);
            write_items(&mut bytes, items)?;
        }
    }
    if bytes.len() + 64 > MAX_BUNDLE_BYTES {
        return Err(field(format!("{} bytes is more than a bundle may hold; export in parts", bytes.len())));
    }
    let signature = key.sign(&pae(&bytes));
    bytes.extend_from_slice(&signature);
    Ok(bytes)
}

fn write_items(bytes: &mut Vec<u8>, items: &[Vec<u8>]) -> Result<(), EnvelopeError> {
    bytes.extend_from_slice(&(items.len() as u32).to_be_bytes());
    for item in items {
        let len = u32::try_from(item.len()).map_err(|_| field("an entry is too large"))?;
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(item);
    }
    Ok(())
}

fn write_checkpoints(bytes: &mut Vec<u8>, checkpoints: &[BundleCheckpoint]) {
    bytes.extend_from_slice(&(checkpoints.len() as u32).to_be_bytes());
    for checkpoint in checkpoints {
        bytes.extend_from_slice(&(checkpoint.author.as_str().len() as u16).to_be_bytes());
        bytes.extend_from_slice(checkpoint.author.as_str().as_bytes());
        bytes.push(checkpoint.stream.as_byte());
        bytes.extend_from_slice(&checkpoint.seq.0.to_be_bytes());
        bytes.extend_from_slice(&checkpoint.head.0);
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, count: usize, what: &str) -> Result<&'a [u8], EnvelopeError> {
        let end = self.at.checked_add(count).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| field(format!("truncated: {what} is missing")))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u16(&mut self, what: &str) -> Result<usize, EnvelopeError> {
        Ok(u16::from_be_bytes(self.take(2, what)?.try_into().unwrap_or([0; 2])) as usize)
    }

    fn u32(&mut self, what: &str) -> Result<usize, EnvelopeError> {
        Ok(u32::from_be_bytes(self.take(4, what)?.try_into().unwrap_or([0; 4])) as usize)
    }

    fn items(&mut self, what: &str) -> Result<Vec<Vec<u8>>, EnvelopeError> {
        let count = self.u32(&format!("{what} count"))?;
        let mut items = Vec::with_capacity(count.min(1 << 20));
        for _ in 0..count {
            let len = self.u32(&format!("{what} length"))?;
            items.push(self.take(len, what)?.to_vec());
        }
        Ok(items)
    }

    fn checkpoints(&mut self) -> Result<Vec<BundleCheckpoint>, EnvelopeError> {
        let count = self.u32("checkpoint count")?;
        let mut checkpoints = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let author = self.org("checkpoint author")?;
            let stream = LogStream::from_byte(self.take(1, "stream")?[0]).ok_or_else(|| field("unknown stream"))?;
            let seq = Seq(u64::from_be_bytes(self.take(8, "seq")?.try_into().unwrap_or([0; 8])));
            let head = RecordId(self.take(32, "head id")?.try_into().unwrap_or([0; 32]));
            checkpoints.push(BundleCheckpoint { author, stream, seq, head });
        }
        Ok(checkpoints)
    }

    fn org(&mut self, what: &str) -> Result<OrgId, EnvelopeError> {
        let len = self.u16(what)?;
        let text = std::str::from_utf8(self.take(len, what)?).map_err(|_| field(format!("{what} is not UTF-8")))?;
        OrgId::parse(what, text).map_err(|error| field(error.to_string()))
    }
}

impl VerifiedBundle {
    /// Checks the framing of the header and the signature, then reads the entries.
    pub fn verify(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        let body_len = bytes.len().checked_sub(64).ok_or_else(|| field("truncated: no signature"))?;
        let (body, signature) = bytes.split_at(body_len);
        let mut cursor = Cursor { bytes: body, at: 0 };
        if cursor.take(4, "magic")? != MAGIC {
            return Err(field("not an edusync bundle (magic)"));
        }
        let kind = cursor.take(1, "kind")?[0];
        let from = cursor.org("from")?;
        let to = cursor.org("to")?;
        let created_unix_ms = i64::from_be_bytes(cursor.take(8, "created time")?.try_into().unwrap_or([0; 8]));
        let signer = PublicKey::from_bytes(cursor.take(32, "signer key")?).map_err(|_| EnvelopeError::BadKey)?;
        let signature: [u8; 64] = signature.try_into().map_err(|_| field("truncated: no signature"))?;
        signer
            .verifying_key()
            .map_err(|_| EnvelopeError::BadKey)?
            .verify_strict(&pae(body), &Signature::from_bytes(&signature))
            .map_err(|_| EnvelopeError::BadSignature)?;

        let entries = match kind {
            1 => BundleEntries::Envelopes(cursor.items("envelope")?),
            2 => BundleEntries::Checkpoints(cursor.checkpoints()?),
            3 => {
                let checkpoints = cursor.checkpoints()?;
                BundleEntries::Downward { checkpoints, items: cursor.items("downward item")? }
            }
            other => return Err(field(format!("unknown bundle kind {other}"))),
        };
        if cursor.at != body.len() {
            return Err(field(format!("{} bytes follow the entries", body.len() - cursor.at)));
        }
        Ok(VerifiedBundle { from, to, created_unix_ms, signer, entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(text: &str) -> OrgId {
        OrgId::parse("org", text).expect("valid")
    }

    #[test]
    fn bundles_round_trip_and_any_changed_byte_is_refused() {
        let key = NodeKey::from_seed([8; 32]);
        let entries = BundleEntries::Envelopes(vec![b"first".to_vec(), b"second".to_vec()]);
        let bytes = sign_bundle(&key, &org("VN.BT.D03.S017"), &org("VN.BT.D03"), 5, &entries).expect("signs");
        let bundle = VerifiedBundle::verify(&bytes).expect("verifies");
        assert_eq!(bundle.entries, entries);
        assert_eq!(bundle.signer, key.public_key());
        for position in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[position] ^= 0x20;
            assert!(VerifiedBundle::verify(&tampered).is_err(), "byte {position}");
        }
        let acks = BundleEntries::Checkpoints(vec![BundleCheckpoint {
            author: org("VN.BT.D03.S017"),
            stream: LogStream::Shared,
            seq: Seq(42),
            head: RecordId([7; 32]),
        }]);
        let bytes = sign_bundle(&key, &org("VN.BT.D03"), &org("VN.BT.D03.S017"), 6, &acks).expect("signs");
        assert_eq!(VerifiedBundle::verify(&bytes).expect("verifies").entries, acks);
        let BundleEntries::Checkpoints(checkpoints) = acks else { unreachable!("built above") };
        for checkpoints in [vec![], checkpoints] {
            let down = BundleEntries::Downward { checkpoints, items: vec![b"EST1 a".to_vec(), b"ESE1 b".to_vec()] };
            let bytes = sign_bundle(&key, &org("VN.BT.D03"), &org("VN.BT.D03.S017"), 7, &down).expect("signs");
            assert_eq!(VerifiedBundle::verify(&bytes).expect("verifies").entries, down);
            for position in 0..bytes.len() {
                let mut tampered = bytes.clone();
                tampered[position] ^= 0x01;
                assert!(VerifiedBundle::verify(&tampered).is_err(), "byte {position}");
            }
        }
    }
}
