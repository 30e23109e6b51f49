//! The root document: the anchor org's root keys and how many of them must
//! sign, itself signed by that many of them, with a version and an expiry
//! (as TUF's `root.json`). An auditor pins one file (or its SHA-256) rather
//! than a list of keys and a threshold typed on a command line, so a bundle
//! checked against one key of three cannot pass as "1 of 1 required".
//!
//! Bytes: `ERD1`, the body's length (u32, big-endian), the body, the number
//! of signatures (u8), then per signature the signer's raw key (32 bytes)
//! and its Ed25519 signature (64 bytes) over
//! PAE(`EDUSYNC-TRUST-V1`, `root`, body). The body: the anchor org (u8
//! length, UTF-8), version (u64), expiry (i64 ms since the epoch), threshold
//! (u8), the number of keys (u8) and each raw key (32 bytes). As text, one
//! block between `-----BEGIN EDUSYNC ROOT-----` and `-----END EDUSYNC ROOT-----`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha2::{Digest, Sha256};

use edusync_core::OrgId;
use edusync_envelope::{NodeKey, PublicKey};

use crate::codec::{Reader, Writer};
use crate::{Anchor, TrustError, TRUST_CONTEXT};

const MAGIC: &[u8; 4] = b"ERD1";
const KIND: &str = "root";
pub const ROOT_LABEL: &str = "EDUSYNC ROOT";
/// More keys than any ministry keeps offline; bounds what a reader allocates.
const MAX_KEYS: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootDocument {
    pub org: OrgId,
    pub version: u64,
    pub expires_ms: i64,
    pub threshold: u8,
    pub keys: Vec<PublicKey>,
}

/// A root document whose signatures hold, with the SHA-256 of its bytes.
#[derive(Clone, Debug)]
pub struct VerifiedRoot {
    pub document: RootDocument,
    pub signers: Vec<PublicKey>,
    pub sha256: String,
}

impl VerifiedRoot {
    pub fn anchor(&self) -> Anchor {
        Anchor {
            org: self.document.org.clone(),
            keys: self.document.keys.clone(),
            threshold: usize::from(self.document.threshold),
        }
    }
}

fn malformed(reason: impl Into<String>) -> TrustError {
    TrustError::Malformed { what: "root document", reason: reason.into() }
}

impl RootDocument {
    fn body(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        writer.org(&self.org).u64(self.version).i64(self.expires_ms).u8(self.threshold).u8(self.keys.len() as u8);
        for key in &self.keys {
            writer.key(key);
        }
        writer.0
    }

    /// The rules a document must keep to be signed or read: 1 to 16
    /// distinct keys and a threshold between 1 and their number.
    fn check(&self) -> Result<(), TrustError> {
        if self.keys.is_empty() || self.keys.len() > MAX_KEYS {
            return Err(malformed(format!("it lists {} keys; 1 to {MAX_KEYS} are allowed", self.keys.len())));
        }
        let mut distinct = self.keys.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() != self.keys.len() {
            return Err(malformed("a key is listed twice"));
        }
        if self.threshold == 0 || usize::from(self.threshold) > self.keys.len() {
            return Err(malformed(format!(
                "the threshold is {}; it must be between 1 and the {} keys",
                self.threshold,
                self.keys.len()
            )));
        }
        Ok(())
    }

    /// Signs with each of `keys`, which must be listed; the text to keep.
    pub fn sign(&self, keys: &[&NodeKey]) -> Result<String, TrustError> {
        self.check()?;
        if let Some(stranger) = keys.iter().find(|key| !self.keys.contains(&key.public_key())) {
            return Err(TrustError::BadSignature {
                reason: format!("key {} is not one of the document's root keys", stranger.public_key()),
            });
        }
        let body = self.body();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&body);
        bytes.push(keys.len() as u8);
        for key in keys {
            bytes.extend_from_slice(&key.public_key().0);
            bytes.extend_from_slice(&key.sign_pae(TRUST_CONTEXT, KIND, &body));
        }
        let mut text = format!("-----BEGIN {ROOT_LABEL}-----\n");
        for chunk in BASE64.encode(&bytes).as_bytes().chunks(64) {
            text.push_str(&String::from_utf8_lossy(chunk));
            text.push('\n');
        }
        text.push_str(&format!("-----END {ROOT_LABEL}-----\n"));
        Ok(text)
    }

    /// Reads a root document's text and checks it: every signature by a
    /// listed key and `verify_strict`, at least `threshold` distinct
    /// signers, and not expired at `now_ms`.
    pub fn verify(text: &str, now_ms: i64) -> Result<VerifiedRoot, TrustError> {
        let begin = format!("-----BEGIN {ROOT_LABEL}-----");
        let end = format!("-----END {ROOT_LABEL}-----");
        let mut lines = text.lines().map(str::trim).skip_while(|line| *line != begin);
        if lines.next().is_none() {
            return Err(malformed(format!("no `{begin}` line")));
        }
        let mut encoded = String::new();
        let mut ended = false;
        for line in lines.by_ref() {
            if line == end {
                ended = true;
                break;
            }
            encoded.push_str(line);
        }
        if !ended {
            return Err(malformed(format!("no `{end}` line")));
        }
        let bytes = BASE64.decode(&encoded).map_err(|error| malformed(format!("not base64: {error}")))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let rest = bytes.strip_prefix(MAGIC).ok_or_else(|| malformed("it does not start with ERD1"))?;
        let (length, rest) = rest.split_at_checked(4).ok_or_else(|| malformed("truncated at the body's length"))?;
        let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
        let (body, rest) = rest.split_at_checked(length).ok_or_else(|| malformed("truncated in the body"))?;
        let mut reader = Reader::new(body, "root document");
        let (org, version, expires_ms, threshold) =
            (reader.org("org")?, reader.u64("version")?, reader.i64("expires")?, reader.u8("threshold")?);
        let count = usize::from(reader.u8("keys")?);
        if count > MAX_KEYS {
            return Err(malformed(format!("it lists {count} keys; at most {MAX_KEYS}")));
        }
        let keys = (0..count).map(|_| reader.key("key")).collect::<Result<Vec<_>, _>>()?;
        reader.finish()?;
        let document = RootDocument { org, version, expires_ms, threshold, keys };
        document.check()?;
        let (&signatures, mut rest) =
            rest.split_first().ok_or_else(|| malformed("truncated at the signature count"))?;
        let mut signers: Vec<PublicKey> = Vec::new();
        for index in 0..signatures {
            let (entry, tail) = rest.split_at_checked(96).ok_or_else(|| malformed("truncated in a signature"))?;
            rest = tail;
            let key = PublicKey::from_bytes(&entry[..32])
                .map_err(|_| TrustError::BadSignature { reason: format!("signer {index} is not an Ed25519 key") })?;
            let mut signature = [0u8; 64];
            signature.copy_from_slice(&entry[32..]);
            if !document.keys.contains(&key) {
                return Err(TrustError::BadSignature {
                    reason: format!("signature {index} is by {key}, which is not one of the document's root keys"),
                });
            }
            if !key.verify_pae(TRUST_CONTEXT, KIND, body, &signature) {
                return Err(TrustError::BadSignature {
                    reason: format!("signature {index} does not verify under {key}"),
                });
            }
            if !signers.contains(&key) {
                signers.push(key);
            }
        }
        if !rest.is_empty() {
            return Err(malformed("bytes follow the last signature"));
        }
        if signers.len() < usize::from(document.threshold) {
            return Err(TrustError::Untrusted {
                reason: format!(
                    "{} of its keys signed it; it needs {} of the {}",
                    signers.len(),
                    document.threshold,
                    document.keys.len()
                ),
            });
        }
        if document.expires_ms <= now_ms {
            return Err(TrustError::Expired {
                reason: format!(
                    "root document version {} of {} expired at {}",
                    document.version,
                    document.org,
                    crate::format_ms(document.expires_ms)
                ),
            });
        }
        Ok(VerifiedRoot { document, signers, sha256 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<NodeKey> {
        (1..=3).map(|seed| NodeKey::from_seed([seed; 32])).collect()
    }

    fn document(keys: &[NodeKey]) -> RootDocument {
        RootDocument {
            org: OrgId::parse("org", "VN").expect("valid"),
            version: 1,
            expires_ms: 2_000_000_000_000,
            threshold: 2,
            keys: keys.iter().map(NodeKey::public_key).collect(),
        }
    }

    #[test]
    fn a_document_signed_by_its_threshold_verifies_and_names_its_anchor() {
        let keys = keys();
        let text = document(&keys).sign(&[&keys[0], &keys[2]]).expect("signs");
        let verified = RootDocument::verify(&text, 1_700_000_000_000).expect("verifies");
        let anchor = verified.anchor();
        assert_eq!((anchor.threshold, anchor.keys.len()), (2, 3));
        assert_eq!(verified.sha256.len(), 64);
    }

    #[test]
    fn too_few_signers_a_stranger_an_expiry_or_a_changed_byte_are_refused() {
        let keys = keys();
        let one = document(&keys).sign(&[&keys[0]]).expect("signs");
        assert!(matches!(RootDocument::verify(&one, 0), Err(TrustError::Untrusted { .. })));
        let stranger = NodeKey::from_seed([9; 32]);
        assert!(document(&keys).sign(&[&keys[0], &stranger]).is_err());
        let good = document(&keys).sign(&[&keys[0], &keys[1]]).expect("signs");
        assert!(matches!(RootDocument::verify(&good, 2_000_000_000_000), Err(TrustError::Expired { .. })));
        let bytes =
            BASE64.decode(good.lines().filter(|line| !line.starts_with("-----")).collect::<String>()).expect("base64");
        for at in [4, 12, 20, bytes.len() - 1] {
            let mut changed = bytes.clone();
            changed[at] ^= 1;
            let mut text = format!("-----BEGIN {ROOT_LABEL}-----\n");
            text.push_str(&BASE64.encode(&changed));
            text.push_str(&format!("\n-----END {ROOT_LABEL}-----\n"));
            assert!(RootDocument::verify(&text, 0).is_err(), "byte {at}");
        }
    }

    #[test]
    fn a_threshold_above_the_keys_or_a_key_twice_is_malformed() {
        let keys = keys();
        let mut high = document(&keys);
        high.threshold = 4;
        assert!(high.sign(&[&keys[0], &keys[1]]).is_err());
        let mut twice = document(&keys);
        twice.keys[1] = twice.keys[0];
        assert!(twice.sign(&[&keys[0], &keys[2]]).is_err());
    }
}
