//! Key layout of the one sled tree. Every key starts with a one-byte table tag
//! and a slash; organisation ids never contain a NUL byte, so NUL ends them.
//!
//! ```text
//! _/layout                          -> u8            layout version (3; see `migrate.rs`)
//! e/ id                              -> RecordMeta envelope   meta first (self-delimiting, see meta.rs)
//! l/ org NUL stream seq(u64 BE)      -> id            the author's log; also the index by author org
//! x/ org NUL stream seq id           -> ()            equivocation evidence
//! k/ kind org NUL stream seq         -> id            index by kind
//! p/ period(3) org NUL stream seq    -> id            index by period
//! c/ content-hash                    -> id            own records by content
//! s/ name                            -> u64 BE        sync cursors
//! v/ kind period(3) org NUL          -> seq(u64 BE) id  latest record of a kind and period, per author
//! d/ period(3)                       -> ()            periods whose aggregate must be derived again
//! b/ school year(u16 BE)             -> u64 BE        privacy budget spent (millionths of epsilon)
//! n/ period(3)                       -> hash(32) i64 BE...  the noisy cross released for the period
//! w/ case id                         -> pseudonym(16) the severe notice issued for an incident case
//! q/ period(3)                       -> hash(32) i64 BE  an exact cross waiting to be quiet before release
//! j/ period(3)                       -> bytes         readers' release of a semester and its ledger (encoded by the node)
//! t/ z/ u/ y/ g/ h/ a/ f/ r/         trust statements, feeds, records from above, notices ahead: see feeds.rs
//! A/ arrival(u64 BE)                 -> Arrival       listed records in the order they were stored here
//! ```

use edusync_core::{LogStream, OrgId, Period, RecordId, RecordKind, Seq};

pub(crate) const ARRIVALS: &[u8; 2] = b"A/";

pub(crate) fn arrival(position: u64) -> Vec<u8> {
    tagged(ARRIVALS, &position.to_be_bytes())
}

/// What the arrival index keeps of a record beside its id: enough to filter
/// a listing by kind, school year and author without reading the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Arrival {
    pub(crate) id: RecordId,
    pub(crate) kind: RecordKind,
    /// 0 when the record has no period.
    pub(crate) school_year_start: u16,
    pub(crate) author_org: OrgId,
}

impl Arrival {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let org = self.author_org.as_str().as_bytes();
        let mut bytes = Vec::with_capacity(32 + 1 + 2 + org.len());
        bytes.extend_from_slice(&self.id.0);
        bytes.push(self.kind.as_byte());
        bytes.extend_from_slice(&self.school_year_start.to_be_bytes());
        bytes.extend_from_slice(org);
        bytes
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Arrival> {
        let id = RecordId(bytes.get(..32)?.try_into().ok()?);
        let kind = RecordKind::from_byte(*bytes.get(32)?)?;
        let school_year_start = u16::from_be_bytes(bytes.get(33..35)?.try_into().ok()?);
        let author_org = OrgId::parse("author_org", std::str::from_utf8(bytes.get(35..)?).ok()?).ok()?;
        Some(Arrival { id, kind, school_year_start, author_org })
    }
}

pub(crate) fn envelope(id: RecordId) -> Vec<u8> {
    tagged(b"e/", &id.0)
}

pub(crate) fn envelope_prefix(id_prefix: &[u8]) -> Vec<u8> {
    tagged(b"e/", id_prefix)
}

pub(crate) fn log_prefix(org: &OrgId, stream: LogStream) -> Vec<u8> {
    let mut key = tagged(b"l/", org.as_str().as_bytes());
    key.push(0);
    key.push(stream.as_byte());
    key
}

pub(crate) fn log(org: &OrgId, stream: LogStream, seq: Seq) -> Vec<u8> {
    let mut key = log_prefix(org, stream);
    key.extend_from_slice(&seq.0.to_be_bytes());
    key
}

/// Splits a log key back into (org, stream, seq).
pub(crate) fn parse_log(key: &[u8]) -> Option<(OrgId, LogStream, Seq)> {
    let rest = key.strip_prefix(b"l/")?;
    let nul = rest.iter().position(|b| *b == 0)?;
    let org = OrgId::parse("org", std::str::from_utf8(&rest[..nul]).ok()?).ok()?;
    let stream = LogStream::from_byte(*rest.get(nul + 1)?)?;
    let seq: [u8; 8] = rest.get(nul + 2..nul + 10)?.try_into().ok()?;
    Some((org, stream, Seq(u64::from_be_bytes(seq))))
}

pub(crate) fn evidence(org: &OrgId, stream: LogStream, seq: Seq, id: RecordId) -> Vec<u8> {
    let mut key = tagged(b"x/", org.as_str().as_bytes());
    key.push(0);
    key.push(stream.as_byte());
    key.extend_from_slice(&seq.0.to_be_bytes());
    key.extend_from_slice(&id.0);
    key
}

pub(crate) fn parse_evidence(key: &[u8]) -> Option<(OrgId, LogStream, Seq, RecordId)> {
    let rest = key.strip_prefix(b"x/")?;
    let nul = rest.iter().position(|b| *b == 0)?;
    let org = OrgId::parse("org", std::str::from_utf8(&rest[..nul]).ok()?).ok()?;
    let stream = LogStream::from_byte(*rest.get(nul + 1)?)?;
    let seq: [u8; 8] = rest.get(nul + 2..nul + 10)?.try_into().ok()?;
    let id: [u8; 32] = rest.get(nul + 10..nul + 42)?.try_into().ok()?;
    Some((org, stream, Seq(u64::from_be_bytes(seq)), RecordId(id)))
}

pub(crate) fn by_kind_prefix(kind: RecordKind) -> Vec<u8> {
    vec![b'k', b'/', kind.as_byte()]
}

/// Index keys name the record by its place in its author's log, not by its
/// id: one author's records then sit side by side in the tree, so a batch
/// of them rewrites a few pages instead of one page per record.
fn log_position(key: &mut Vec<u8>, org: &OrgId, stream: LogStream, seq: Seq) {
    key.extend_from_slice(org.as_str().as_bytes());
    key.push(0);
    key.push(stream.as_byte());
    key.extend_from_slice(&seq.0.to_be_bytes());
}

pub(crate) fn by_kind(kind: RecordKind, org: &OrgId, stream: LogStream, seq: Seq) -> Vec<u8> {
    let mut key = by_kind_prefix(kind);
    log_position(&mut key, org, stream, seq);
    key
}

pub(crate) fn by_period(period: Period, org: &OrgId, stream: LogStream, seq: Seq) -> Vec<u8> {
    let mut key = tagged(b"p/", &period.sort_key());
    log_position(&mut key, org, stream, seq);
    key
}

pub(crate) fn by_school_year_prefix(start_year: u16) -> Vec<u8> {
    tagged(b"p/", &start_year.to_be_bytes())
}

/// Logs of `org_prefix` and of every org whose id extends it as text (the
/// caller keeps those truly within it).
pub(crate) fn by_org_prefix(org_prefix: &str) -> Vec<u8> {
    tagged(b"l/", org_prefix.as_bytes())
}

pub(crate) fn latest(kind: RecordKind, period: Period, org: &OrgId) -> Vec<u8> {
    let mut key = vec![b'v', b'/', kind.as_byte()];
    key.extend_from_slice(&period.sort_key());
    key.extend_from_slice(org.as_str().as_bytes());
    key.push(0);
    key
}

pub(crate) fn dirty(period: Period) -> Vec<u8> {
    tagged(b"d/", &period.sort_key())
}

pub(crate) fn budget(school_year_start: u16) -> Vec<u8> {
    tagged(b"b/", &school_year_start.to_be_bytes())
}

pub(crate) fn reader_release(period: Period) -> Vec<u8> {
    tagged(b"j/", &period.sort_key())
}

pub(crate) fn cross_release(period: Period) -> Vec<u8> {
    tagged(b"n/", &period.sort_key())
}

pub(crate) fn cross_pending(period: Period) -> Vec<u8> {
    tagged(b"q/", &period.sort_key())
}

pub(crate) fn notice(case: RecordId) -> Vec<u8> {
    tagged(b"w/", &case.0)
}

pub(crate) fn content(hash: [u8; 32]) -> Vec<u8> {
    tagged(b"c/", &hash)
}

pub(crate) fn cursor(name: &str) -> Vec<u8> {
    tagged(b"s/", name.as_bytes())
}

pub(crate) const LAYOUT: &[u8] = b"_/layout";

fn tagged(tag: &[u8; 2], rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + rest.len() + 42);
    key.extend_from_slice(tag);
    key.extend_from_slice(rest);
    key
}
