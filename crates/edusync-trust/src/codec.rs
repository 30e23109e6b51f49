//! The field encoding inside trust statement bodies: big-endian integers,
//! length-prefixed ASCII, raw 32-byte keys. Decoding refuses trailing bytes.

use edusync_core::{Level, OrgId};
use edusync_envelope::PublicKey;

use crate::TrustError;

#[derive(Default)]
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn u8(&mut self, value: u8) -> &mut Self {
        self.0.push(value);
        self
    }
    pub(crate) fn u64(&mut self, value: u64) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }
    pub(crate) fn i64(&mut self, value: i64) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }
    pub(crate) fn key(&mut self, key: &PublicKey) -> &mut Self {
        self.0.extend_from_slice(&key.0);
        self
    }
    pub(crate) fn org(&mut self, org: &OrgId) -> &mut Self {
        // `OrgId::parse` refuses ids longer than 255 bytes, so nothing is cut.
        let bytes = org.as_str().as_bytes();
        self.0.push(bytes.len().min(255) as u8);
        self.0.extend_from_slice(&bytes[..bytes.len().min(255)]);
        self
    }
    pub(crate) fn optional_key(&mut self, key: Option<&PublicKey>) -> &mut Self {
        match key {
            None => self.u8(0),
            Some(key) => self.u8(1).key(key),
        }
    }
}

pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { bytes, what }
    }

    fn take(&mut self, count: usize, field: &'static str) -> Result<&'a [u8], TrustError> {
        if self.bytes.len() < count {
            return Err(TrustError::Malformed { what: self.what, reason: format!("truncated at {field}") });
        }
        let (head, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, TrustError> {
        Ok(self.take(1, field)?[0])
    }
    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, TrustError> {
        let bytes: [u8; 8] = self.take(8, field)?.try_into().map_err(|_| self.bad(field, "8 bytes expected"))?;
        Ok(u64::from_be_bytes(bytes))
    }
    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, TrustError> {
        let bytes: [u8; 8] = self.take(8, field)?.try_into().map_err(|_| self.bad(field, "8 bytes expected"))?;
        Ok(i64::from_be_bytes(bytes))
    }
    pub(crate) fn key(&mut self, field: &'static str) -> Result<PublicKey, TrustError> {
        let bytes = self.take(32, field)?;
        PublicKey::from_bytes(bytes).map_err(|error| self.bad(field, &error.to_string()))
    }
    pub(crate) fn org(&mut self, field: &'static str) -> Result<OrgId, TrustError> {
        let len = usize::from(self.u8(field)?);
        let bytes = self.take(len, field)?;
        let text = std::str::from_utf8(bytes).map_err(|_| self.bad(field, "not ASCII"))?;
        OrgId::parse(field, text).map_err(|error| self.bad(field, &error.reason.to_string()))
    }
    pub(crate) fn optional_key(&mut self, field: &'static str) -> Result<Option<PublicKey>, TrustError> {
        match self.u8(field)? {
            0 => Ok(None),
            1 => Ok(Some(self.key(field)?)),
            other => Err(self.bad(field, &format!("presence byte {other} is not 0 or 1"))),
        }
    }
    pub(crate) fn role(&mut self, field: &'static str) -> Result<crate::Role, TrustError> {
        let code = self.u8(field)?;
        crate::Role::from_code(code).ok_or_else(|| self.bad(field, &format!("unknown role code {code}")))
    }
    pub(crate) fn finish(self) -> Result<(), TrustError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(TrustError::Malformed {
                what: self.what,
                reason: format!("{} bytes after the last field", self.bytes.len()),
            })
        }
    }

    fn bad(&self, field: &'static str, reason: &str) -> TrustError {
        TrustError::Malformed { what: self.what, reason: format!("{field}: {reason}") }
    }
}

pub(crate) fn level_code(level: Level) -> u8 {
    match level {
        Level::Ministry => 1,
        Level::Province => 2,
        Level::District => 3,
        Level::School => 4,
    }
}
