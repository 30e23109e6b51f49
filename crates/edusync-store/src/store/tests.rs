//! The log rules hold on disk: replays store nothing, gaps are refused, forks
//! and equivocations are kept as evidence and never merged, and what was
//! flushed is there after reopening.

use edusync_envelope::{sign_envelope, EnvelopeDraft, NodeKey};

use super::*;

fn org() -> OrgId {
    OrgId::parse("org", "VN.BT.D03.S017").expect("valid")
}

fn signed(key: &NodeKey, seq: u64, prev: Option<RecordId>, content: &[u8]) -> VerifiedEnvelope {
    let org = org();
    sign_envelope(
        key,
        &EnvelopeDraft {
            payload_type: "edusync.v1.Plan",
            author_org: &org,
            stream: LogStream::Shared,
            seq: Seq(seq),
            prev,
            created_unix_ms: 1,
            record: content,
        },
    )
    .expect("signs")
}

fn chain(key: &NodeKey, count: u64) -> Vec<VerifiedEnvelope> {
    let mut out: Vec<VerifiedEnvelope> = Vec::new();
    for seq in 1..=count {
        let prev = out.last().map(|envelope| envelope.id());
        out.push(signed(key, seq, prev, format!("record {seq}").as_bytes()));
    }
    out
}

fn put(store: &Store, envelope: &VerifiedEnvelope) -> Append {
    store.append(envelope, &Indexing { kind: RecordKind::Plan, period: None, stored_unix_ms: 0 }).expect("store works")
}

#[test]
fn replayed_envelopes_store_nothing_new() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    let key = NodeKey::from_seed([1; 32]);
    let envelopes = chain(&key, 5);
    for envelope in &envelopes {
        assert_eq!(put(&store, envelope), Append::Stored);
    }
    let before = store.list(&ListFilter::default(), None, 100).expect("list").records.len();
    for envelope in &envelopes {
        assert_eq!(put(&store, envelope), Append::Duplicate);
    }
    assert_eq!(store.list(&ListFilter::default(), None, 100).expect("list").records.len(), before);
    assert_eq!(store.head(&org(), LogStream::Shared).expect("head").map(|(seq, _)| seq), Some(Seq(5)));
}

#[test]
fn a_gap_in_an_author_log_is_detected_and_nothing_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    let envelopes = chain(&NodeKey::from_seed([2; 32]), 3);
    assert_eq!(put(&store, &envelopes[0]), Append::Stored);
    assert_eq!(put(&store, &envelopes[2]), Append::Gap { expected: Seq(2) });
    assert!(store.get(envelopes[2].id()).expect("get").is_none());
}

#[test]
fn a_fork_in_an_author_log_is_kept_as_evidence_and_not_merged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    let key = NodeKey::from_seed([3; 32]);
    let envelopes = chain(&key, 2);
    put(&store, &envelopes[0]);
    put(&store, &envelopes[1]);
    // The author signs a second, different record at seq 2.
    let rival = signed(&key, 2, Some(envelopes[0].id()), b"another history");
    assert_eq!(put(&store, &rival), Append::Equivocation { existing: envelopes[1].id() });
    assert_eq!(put(&store, &rival), Append::Equivocation { existing: envelopes[1].id() });
    // And continues that other history at seq 3.
    let fork = signed(&key, 3, Some(rival.id()), b"continued");
    assert_eq!(put(&store, &fork), Append::Fork { head: envelopes[1].id() });

    assert_eq!(store.head(&org(), LogStream::Shared).expect("head"), Some((Seq(2), envelopes[1].id())));
    let evidence = store.equivocations().expect("evidence");
    assert_eq!(evidence.len(), 2);
    assert_eq!(evidence[0].seq, Seq(2));
    assert_eq!(evidence[0].record_ids, vec![envelopes[1].id(), rival.id()]);
    assert!(store.get(rival.id()).expect("get").expect("kept").meta.evidence_only);
    let listed: Vec<RecordId> =
        store.list(&ListFilter::default(), None, 100).expect("list").records.iter().map(|r| r.id).collect();
    assert!(!listed.contains(&rival.id()) && !listed.contains(&fork.id()));
}

#[test]
fn flushed_writes_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let envelopes = chain(&NodeKey::from_seed([4; 32]), 3);
    {
        let store = Store::open(dir.path()).expect("opens");
        for envelope in &envelopes {
            put(&store, envelope);
        }
        store.set_cursor("parent", 3).expect("cursor");
        store.flush().expect("flush");
    }
    let store = Store::open(dir.path()).expect("reopens");
    assert_eq!(store.read_log(&org(), LogStream::Shared, Seq(1), 10).expect("log").len(), 3);
    assert_eq!(store.cursor("parent").expect("cursor"), Some(3));
}

#[test]
fn own_records_with_identical_content_are_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    let key = NodeKey::from_seed([5; 32]);
    let write = || {
        store
            .append_own(
                &org(),
                [7; 32],
                &Indexing { kind: RecordKind::Plan, period: None, stored_unix_ms: 0 },
                true,
                |head| {
                    let seq = head.map_or(1, |(seq, _)| seq.0 + 1);
                    Ok::<_, std::convert::Infallible>(signed(&key, seq, head.map(|(_, id)| id), b"same"))
                },
            )
            .expect("store works")
            .expect("signs")
    };
    let OwnAppend::Stored(first) = write() else { panic!("first write must store") };
    let OwnAppend::AlreadyStored(again) = write() else { panic!("second write must not store") };
    assert_eq!(first.id(), again);
    let down = store.read_down(0, 10).expect("feed");
    assert_eq!(down, vec![(1, first.bytes().to_vec())], "published down once, with the record");
}

#[test]
fn listing_pages_through_every_record_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    let envelopes = chain(&NodeKey::from_seed([6; 32]), 25);
    for envelope in &envelopes {
        put(&store, envelope);
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = store.list(&ListFilter::default(), token.as_deref(), 7).expect("page");
        seen.extend(page.records.iter().map(|record| record.id));
        match page.next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 25);
}

mod one_write_per_batch {
    use proptest::prelude::*;

    use super::*;

    /// What the store holds, entry by entry, for comparing two stores.
    fn contents(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
        store.tree().iter().map(|entry| entry.expect("readable")).map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// A batch offered at once is judged envelope by envelope exactly as
        /// appending them one at a time: same outcomes, same bytes on disk,
        /// whatever mix of replays, gaps, forks, equivocations and held
        /// envelopes it holds.
        #[test]
        fn append_all_judges_and_writes_as_appending_one_by_one(
            picks in proptest::collection::vec((0usize..14, any::<bool>()), 0..40),
            before in 0usize..4,
        ) {
            let key = NodeKey::from_seed([3; 32]);
            let honest = chain(&key, 8);
            // A second history that shares seq 1-2 and then differs: forks and equivocations.
            let mut other = honest[..2].to_vec();
            for seq in 3..=6u64 {
                let prev = other.last().map(|envelope| envelope.id());
                other.push(signed(&key, seq, prev, format!("other {seq}").as_bytes()));
            }
            let pool: Vec<&VerifiedEnvelope> = honest.iter().chain(other[2..].iter()).collect();
            let one = tempfile::tempdir().expect("tempdir");
            let all = tempfile::tempdir().expect("tempdir");
            let (one, all) = (Store::open(one.path()).expect("opens"), Store::open(all.path()).expect("opens"));
            for envelope in &honest[..before] {
                prop_assert_eq!(put(&one, envelope), Append::Stored);
                prop_assert_eq!(put(&all, envelope), Append::Stored);
            }
            let indexing = Indexing { kind: RecordKind::Plan, period: None, stored_unix_ms: 0 };
            let offers: Vec<Offer<'_>> = picks
                .iter()
                .map(|(index, held)| Offer { envelope: pool[index % pool.len()], indexing, held: *held })
                .collect();
            let one_by_one: Vec<Append> = offers
                .iter()
                .map(|offer| {
                    if offer.held { one.hold(offer.envelope, &offer.indexing) } else { one.append(offer.envelope, &offer.indexing) }
                        .expect("store works")
                })
                .collect();
            let at_once = all.append_all(&offers).expect("store works");
            prop_assert_eq!(one_by_one, at_once);
            prop_assert_eq!(contents(&one), contents(&all));
        }
    }
}
