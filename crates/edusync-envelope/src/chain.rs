//! The rules of an author's log, as a pure decision: given what the store
//! holds for this author and stream, what does one more envelope mean?

use edusync_core::{RecordId, Seq};

use crate::envelope::EnvelopeHeader;

/// What to do with an envelope offered to an author's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendDecision {
    /// It extends the log by one: store it and advance the head.
    Append,
    /// The very same envelope is already held at that position: store nothing.
    Duplicate,
    /// A different envelope already holds that position: keep both as evidence
    /// that the author signed two histories, and never merge them.
    Equivocation { existing: RecordId },
    /// It is past the head: earlier envelopes are missing.
    Gap { expected: Seq },
    /// It is the next position but does not name the head as its predecessor:
    /// the author's history forked before this point.
    Fork { head: RecordId },
}

/// `head` is the highest contiguous (seq, id) held for the author and stream;
/// `held_at_seq` is the id held at the envelope's own position, if any.
pub fn classify_append(
    head: Option<(Seq, RecordId)>,
    held_at_seq: Option<RecordId>,
    header: &EnvelopeHeader,
    id: RecordId,
) -> AppendDecision {
    if let Some(existing) = held_at_seq {
        return if existing == id { AppendDecision::Duplicate } else { AppendDecision::Equivocation { existing } };
    }
    let expected = head.map_or(Seq::FIRST, |(seq, _)| seq.next());
    if header.seq != expected {
        return AppendDecision::Gap { expected };
    }
    match head {
        Some((_, head_id)) if header.prev != Some(head_id) => AppendDecision::Fork { head: head_id },
        _ => AppendDecision::Append,
    }
}

#[cfg(test)]
mod tests {
    use edusync_core::{LogStream, OrgId};

    use super::*;
    use crate::keys::NodeKey;

    fn header(seq: u64, prev: Option<RecordId>) -> EnvelopeHeader {
        EnvelopeHeader {
            payload_type: "edusync.v1.Plan".into(),
            author_key: NodeKey::from_seed([1; 32]).public_key(),
            author_org: OrgId::parse("org", "VN.BT").expect("valid"),
            stream: LogStream::Shared,
            seq: Seq(seq),
            prev,
            created_unix_ms: 0,
        }
    }

    #[test]
    fn log_positions_are_classified() {
        let a = RecordId([1; 32]);
        let b = RecordId([2; 32]);
        let c = RecordId([3; 32]);
        assert_eq!(classify_append(None, None, &header(1, None), a), AppendDecision::Append);
        assert_eq!(classify_append(None, None, &header(2, Some(a)), b), AppendDecision::Gap { expected: Seq(1) });
        assert_eq!(classify_append(Some((Seq(1), a)), None, &header(2, Some(a)), b), AppendDecision::Append);
        assert_eq!(
            classify_append(Some((Seq(1), a)), None, &header(3, Some(b)), c),
            AppendDecision::Gap { expected: Seq(2) }
        );
        assert_eq!(classify_append(Some((Seq(1), a)), None, &header(2, Some(c)), b), AppendDecision::Fork { head: a });
        assert_eq!(classify_append(Some((Seq(2), b)), Some(b), &header(2, Some(a)), b), AppendDecision::Duplicate);
        assert_eq!(
            classify_append(Some((Seq(2), b)), Some(b), &header(2, Some(a)), c),
            AppendDecision::Equivocation { existing: b }
        );
    }
}
