//! Small identifiers shared by every layer: record ids, sequence numbers, log streams.

use std::fmt;
use std::str::FromStr;

use crate::{Reason, ValidationError};

/// The SHA-256 of a signed envelope's exact bytes. Computing it is the
/// envelope crate's job; this type only carries and prints it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(pub [u8; 32]);

impl RecordId {
    pub const ZERO: RecordId = RecordId([0; 32]);

    pub fn from_slice(field: &str, bytes: &[u8]) -> Result<Self, ValidationError> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| ValidationError::new(field, Reason::RecordIdLength { got: bytes.len() as u64 }))?;
        Ok(RecordId(array))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits, for tables meant for people.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({})", self.short())
    }
}

impl FromStr for RecordId {
    type Err = ValidationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(text.trim()).map_err(|_| ValidationError::new("record_id", Reason::RecordIdHex))?;
        RecordId::from_slice("record_id", &bytes)
    }
}

impl serde::Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for RecordId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Position of an envelope in its author's log: 1, 2, 3, ... with no gaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(pub u64);

impl Seq {
    pub const FIRST: Seq = Seq(1);

    pub fn next(self) -> Seq {
        Seq(self.0.saturating_add(1))
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Each author keeps two logs. The local one holds raw records that must
/// never leave the node (incidents, risk registers); the shared one holds what
/// may travel upward. Keeping them apart lets a parent check that the shared
/// log it receives is complete (no gaps) without ever seeing a local record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogStream {
    Local,
    Shared,
}

impl LogStream {
    pub fn as_byte(self) -> u8 {
        match self {
            LogStream::Local => 1,
            LogStream::Shared => 2,
        }
    }

    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(LogStream::Local),
            2 => Some(LogStream::Shared),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Local => "local",
            LogStream::Shared => "shared",
        }
    }
}

impl fmt::Display for LogStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
