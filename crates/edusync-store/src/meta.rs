//! What the store keeps beside each envelope, in its own versioned encoding
//! (never serde on domain types), so that the layout can migrate on its own.

use edusync_core::{LogStream, OrgId, Period, RecordKind, Seq};

const VERSION: u8 = 1;
const NO_PERIOD: [u8; 3] = [0xff; 3];

/// Index facts about a stored envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordMeta {
    pub author_org: OrgId,
    pub stream: LogStream,
    pub seq: Seq,
    pub kind: RecordKind,
    pub period: Option<Period>,
    pub stored_unix_ms: i64,
    /// True when this envelope is kept only as evidence: of equivocation
    /// (then it is not part of the author's log), or because its content was
    /// refused (then it holds its place in the log so the log goes on). Either
    /// way it is never listed, sent on or summed.
    pub evidence_only: bool,
}

impl RecordMeta {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let org = self.author_org.as_str().as_bytes();
        let mut bytes = Vec::with_capacity(1 + 1 + 3 + 1 + 8 + 8 + 1 + 2 + org.len());
        bytes.push(VERSION);
        bytes.push(self.kind.as_byte());
        bytes.extend_from_slice(&self.period.map_or(NO_PERIOD, |p| p.sort_key()));
        bytes.push(self.stream.as_byte());
        bytes.extend_from_slice(&self.seq.0.to_be_bytes());
        bytes.extend_from_slice(&self.stored_unix_ms.to_be_bytes());
        bytes.push(u8::from(self.evidence_only));
        bytes.extend_from_slice(&(org.len() as u16).to_be_bytes());
        bytes.extend_from_slice(org);
        bytes
    }

    /// The value stored under an envelope's id: this meta, then the
    /// envelope's bytes exactly as signed. One entry per record instead of
    /// two, so reading a record is one lookup and storing it one key.
    pub(crate) fn encode_with(&self, envelope: &[u8]) -> Vec<u8> {
        let mut value = self.encode();
        value.extend_from_slice(envelope);
        value
    }

    /// Splits a stored value into its meta and the envelope bytes after it.
    pub(crate) fn split(value: &[u8]) -> Option<(Self, &[u8])> {
        let meta = Self::decode(value)?;
        let length = 25 + meta.author_org.as_str().len();
        Some((meta, value.get(length..)?))
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        if *bytes.first()? != VERSION {
            return None;
        }
        let kind = RecordKind::from_byte(*bytes.get(1)?)?;
        let period_key: [u8; 3] = bytes.get(2..5)?.try_into().ok()?;
        let period = if period_key == NO_PERIOD { None } else { Some(Period::from_sort_key(period_key)?) };
        let stream = LogStream::from_byte(*bytes.get(5)?)?;
        let seq = Seq(u64::from_be_bytes(bytes.get(6..14)?.try_into().ok()?));
        let stored_unix_ms = i64::from_be_bytes(bytes.get(14..22)?.try_into().ok()?);
        let evidence_only = *bytes.get(22)? != 0;
        let org_len = u16::from_be_bytes(bytes.get(23..25)?.try_into().ok()?) as usize;
        let org = std::str::from_utf8(bytes.get(25..25 + org_len)?).ok()?;
        let author_org = OrgId::parse("author_org", org).ok()?;
        Some(RecordMeta { author_org, stream, seq, kind, period, stored_unix_ms, evidence_only })
    }
}
