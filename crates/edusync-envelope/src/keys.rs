//! Ed25519 keys and their text forms: PKCS#8 and SPKI PEM, so that openssl and
//! Python's `cryptography` read them as they are, and base64 for config files.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

/// DER prefix of a PKCS#8 v1 Ed25519 private key (RFC 8410); the 32-byte seed follows.
const PKCS8_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
/// DER prefix of an SPKI Ed25519 public key (RFC 8410); the 32-byte key follows.
const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{what} is not valid base64: {reason}")]
    Base64 { what: &'static str, reason: String },
    #[error("{what} is not a PEM block labelled {label}")]
    Pem { what: &'static str, label: &'static str },
    #[error("{what} is not an Ed25519 key in the expected DER form (RFC 8410)")]
    Der { what: &'static str },
    #[error("public key is not a valid Ed25519 point, or is a weak (small-order) key")]
    InvalidPoint,
}

/// An Ed25519 public key: also the key id carried in every envelope.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Parses 32 raw bytes, refusing points that are invalid or of small order.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| KeyError::InvalidPoint)?;
        let key = VerifyingKey::from_bytes(&array).map_err(|_| KeyError::InvalidPoint)?;
        if key.is_weak() {
            return Err(KeyError::InvalidPoint);
        }
        Ok(PublicKey(array))
    }

    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|error| KeyError::Base64 { what: "public key", reason: error.to_string() })?;
        PublicKey::from_bytes(&bytes)
    }

    /// Accepts either the base64 of the raw key or an SPKI PEM block.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        if text.contains("-----BEGIN") {
            let der = pem_decode(text, "PUBLIC KEY", "public key")?;
            let raw = der.strip_prefix(&SPKI_PREFIX[..]).ok_or(KeyError::Der { what: "public key" })?;
            return PublicKey::from_bytes(raw);
        }
        PublicKey::from_base64(text)
    }

    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    pub fn to_spki_pem(&self) -> String {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.0);
        pem_encode("PUBLIC KEY", &der)
    }

    pub(crate) fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::InvalidPoint)
    }

    /// `verify_strict` of a signature over [`pae`]`(context, kind, body)`.
    pub fn verify_pae(&self, context: &str, kind: &str, body: &[u8], signature: &[u8; 64]) -> bool {
        self.verifying_key().is_ok_and(|key| {
            key.verify_strict(&pae(context, kind, body), &ed25519_dalek::Signature::from_bytes(signature)).is_ok()
        })
    }
}

/// DSSE's pre-authentication encoding with an edusync context first:
/// `CONTEXT SP LEN(kind) SP kind SP LEN(body) SP body`. Every edusync
/// signature covers such a message, each use under its own context, so a
/// signature made for one purpose never verifies for another.
pub fn pae(context: &str, kind: &str, body: &[u8]) -> Vec<u8> {
    let prefix = format!("{context} {} {kind} {} ", kind.len(), body.len());
    let mut message = Vec::with_capacity(prefix.len() + body.len());
    message.extend_from_slice(prefix.as_bytes());
    message.extend_from_slice(body);
    message
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// A node's signing key. Its secret never appears in `Debug` output.
pub struct NodeKey(SigningKey);

impl NodeKey {
    pub fn generate() -> Self {
        NodeKey(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    pub fn from_seed(seed: [u8; 32]) -> Self {
        NodeKey(SigningKey::from_bytes(&seed))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    pub fn to_pkcs8_pem(&self) -> String {
        let mut der = PKCS8_PREFIX.to_vec();
        der.extend_from_slice(&self.0.to_bytes());
        pem_encode("PRIVATE KEY", &der)
    }

    pub fn from_pkcs8_pem(text: &str) -> Result<Self, KeyError> {
        let der = pem_decode(text, "PRIVATE KEY", "private key")?;
        let seed = der.strip_prefix(&PKCS8_PREFIX[..]).ok_or(KeyError::Der { what: "private key" })?;
        let seed: [u8; 32] = seed.try_into().map_err(|_| KeyError::Der { what: "private key" })?;
        Ok(NodeKey::from_seed(seed))
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// Signs [`pae`]`(context, kind, body)`. Contexts must name an edusync
    /// purpose (`EDUSYNC-...-V1`) so that no two uses share one.
    pub fn sign_pae(&self, context: &str, kind: &str, body: &[u8]) -> [u8; 64] {
        debug_assert!(context.starts_with("EDUSYNC-") && context != crate::SIGNING_CONTEXT);
        self.sign(&pae(context, kind, body))
    }
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeKey(public {})", self.public_key())
    }
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_decode(text: &str, label: &'static str, what: &'static str) -> Result<Vec<u8>, KeyError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or(KeyError::Pem { what, label })? + begin.len();
    let stop = text[start..].find(&end).ok_or(KeyError::Pem { what, label })? + start;
    let body: String = text[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    BASE64.decode(body).map_err(|error| KeyError::Base64 { what, reason: error.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_pem_and_base64() {
        let key = NodeKey::from_seed([7; 32]);
        let again = NodeKey::from_pkcs8_pem(&key.to_pkcs8_pem()).expect("round trip");
        assert_eq!(again.public_key(), key.public_key());
        let public = key.public_key();
        assert_eq!(PublicKey::from_text(&public.to_spki_pem()).expect("pem"), public);
        assert_eq!(PublicKey::from_text(&public.to_base64()).expect("base64"), public);
    }

    #[test]
    fn small_order_public_keys_are_refused() {
        // The identity point: verifies forged signatures under non-strict rules.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(PublicKey::from_bytes(&identity).is_err());
        assert!(PublicKey::from_base64("not base64!").is_err());
    }
}
