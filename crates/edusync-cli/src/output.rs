//! Rendering node answers for people (tables) and for scripts (JSON).

use serde::Serialize;

use edusync_core::{Record, RecordId};
use edusync_proto::wire;

/// An envelope header as printed.
#[derive(Serialize)]
pub(crate) struct HeaderView {
    pub(crate) record_id: String,
    pub(crate) author_org: String,
    pub(crate) stream: &'static str,
    pub(crate) seq: u64,
    pub(crate) prev_record_id: Option<String>,
    pub(crate) created_at: String,
    pub(crate) payload_type: String,
    pub(crate) author_key: String,
}

pub(crate) fn header_view(header: &wire::EnvelopeHeader) -> HeaderView {
    let id = |bytes: &[u8]| RecordId::from_slice("record_id", bytes).map(|id| id.to_hex()).ok();
    HeaderView {
        record_id: id(&header.record_id).unwrap_or_default(),
        author_org: header.author_org.clone(),
        stream: match edusync_proto::stream_from_wire("stream", header.stream) {
            Ok(edusync_core::LogStream::Local) => "local",
            Ok(edusync_core::LogStream::Shared) => "shared",
            Err(_) => "unknown",
        },
        seq: header.seq,
        prev_record_id: id(&header.prev_record_id),
        created_at: header
            .created_at
            .and_then(|time| chrono::DateTime::from_timestamp(time.seconds, time.nanos.max(0) as u32))
            .map(|time| time.to_rfc3339())
            .unwrap_or_default(),
        payload_type: header.payload_type.clone(),
        author_key: edusync_envelope::PublicKey::from_bytes(&header.author_key)
            .map(|key| key.to_base64())
            .unwrap_or_default(),
    }
}

#[derive(Serialize)]
pub(crate) struct RecordView {
    pub(crate) header: HeaderView,
    pub(crate) record: Option<Record>,
    /// The exact signed envelope bytes, base64: what an auditor verifies.
    pub(crate) envelope: String,
}

pub(crate) fn record_view(stored: wire::StoredRecord) -> RecordView {
    use base64::Engine;
    let header =
        stored.header.as_ref().map(header_view).unwrap_or_else(|| header_view(&wire::EnvelopeHeader::default()));
    let record = stored.record.and_then(|record| Record::try_from(record).ok());
    let envelope = stored
        .envelope
        .map(|envelope| base64::engine::general_purpose::STANDARD.encode(envelope.envelope))
        .unwrap_or_default();
    RecordView { header, record, envelope }
}

pub(crate) fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
}

/// Pads to `width` terminal columns: Chinese takes two a character.
pub(crate) fn pad(text: &str, width: usize) -> String {
    let length = unicode_width::UnicodeWidthStr::width(text);
    if length >= width {
        text.to_owned()
    } else {
        format!("{text}{}", " ".repeat(width - length))
    }
}
