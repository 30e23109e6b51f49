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

/// Appends and flushes, as ingest does before it acknowledges.
fn put(store: &Store, envelope: &VerifiedEnvelope) -> Append {
    let outcome = write(store, envelope);
    store.flush().expect("flush");
    outcome
}

/// Appends without flushing: written, not yet durable.
fn write(store: &Store, envelope: &VerifiedEnvelope) -> Append {
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

fn plan_draft(hash: u8) -> OwnDraft {
    OwnDraft {
        content_hash: [hash; 32],
        indexing: Indexing { kind: RecordKind::Plan, period: None, stored_unix_ms: 0 },
        publish_down: true,
    }
}

/// Signs each draft at the head it is given, with content named by its hash.
fn sign_drafts<'a>(
    key: &'a NodeKey,
    drafts: &'a [OwnDraft],
) -> impl FnMut(usize, Option<(Seq, RecordId)>) -> Result<VerifiedEnvelope, &'static str> + 'a {
    move |index, head| {
        let seq = head.map_or(1, |(seq, _)| seq.0 + 1);
        Ok(signed(key, seq, head.map(|(_, id)| id), &drafts[index].content_hash))
    }
}

#[test]
fn own_records_with_identical_content_are_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    let key = NodeKey::from_seed([5; 32]);
    let drafts = [plan_draft(7)];
    let write = || {
        let mut outcomes =
            store.append_own_all(&org(), &drafts, sign_drafts(&key, &drafts)).expect("store works").expect("signs");
        store.flush().expect("flush");
        outcomes.remove(0)
    };
    let OwnAppend::Stored(first) = write() else { panic!("first write must store") };
    let OwnAppend::AlreadyStored(again) = write() else { panic!("second write must not store") };
    assert_eq!(first.id(), again);
    let down = store.read_down(0, 10).expect("feed");
    assert_eq!(down, vec![(1, first.bytes().to_vec())], "published down once, with the record");
}

#[test]
fn one_call_of_own_records_is_one_write_the_same_content_twice_in_it_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    let key = NodeKey::from_seed([5; 32]);
    let drafts = [plan_draft(1), plan_draft(2), plan_draft(1), plan_draft(3)];
    let outcomes =
        store.append_own_all(&org(), &drafts, sign_drafts(&key, &drafts)).expect("store works").expect("signs");
    store.flush().expect("flush");
    let stored: Vec<RecordId> = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            OwnAppend::Stored(envelope) => Some(envelope.id()),
            OwnAppend::AlreadyStored(_) => None,
        })
        .collect();
    assert_eq!(stored.len(), 3);
    assert!(matches!(outcomes[2], OwnAppend::AlreadyStored(id) if id == stored[0]));
    let log: Vec<RecordId> =
        store.read_log(&org(), LogStream::Shared, Seq(1), 10).expect("log").iter().map(|stored| stored.id).collect();
    assert_eq!(log, stored, "one log position each, in order");
    let down: Vec<u64> = store.read_down(0, 10).expect("feed").iter().map(|(seq, _)| *seq).collect();
    assert_eq!(down, vec![1, 2, 3], "each plan at its own place in the downward feed");
}

#[test]
fn a_call_whose_signing_fails_part_way_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    let key = NodeKey::from_seed([5; 32]);
    let drafts = [plan_draft(1), plan_draft(2), plan_draft(3)];
    let mut sign = sign_drafts(&key, &drafts);
    let refused = store
        .append_own_all(&org(), &drafts, |index, head| if index == 2 { Err("refused") } else { sign(index, head) })
        .expect("store works");
    assert_eq!(refused.err(), Some("refused"));
    store.flush().expect("flush");
    assert_eq!(store.head(&org(), LogStream::Shared).expect("head"), None);
    assert!(store.read_down(0, 10).expect("feed").is_empty());
    let again = store.append_own_all(&org(), &drafts, sign_drafts(&key, &drafts)).expect("store works").expect("signs");
    assert!(again.iter().all(|outcome| matches!(outcome, OwnAppend::Stored(_))), "no content was claimed");
}

#[test]
fn what_is_written_is_read_out_only_once_flushed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    let envelopes = chain(&NodeKey::from_seed([8; 32]), 4);
    for envelope in &envelopes[..2] {
        put(&store, envelope);
    }
    store.flush().expect("flush");
    for envelope in &envelopes[2..] {
        write(&store, envelope);
    }
    let durable = |store: &Store| {
        (
            store.head(&org(), LogStream::Shared).expect("head").map(|(seq, _)| seq.0),
            store.read_log(&org(), LogStream::Shared, Seq(1), 10).expect("log").len(),
            store.list(&ListFilter::default(), None, 10).expect("list").records.len(),
            store.logs().expect("logs").iter().map(|log| log.head.0).collect::<Vec<_>>(),
        )
    };
    assert_eq!(durable(&store), (Some(2), 2, 2, vec![2]), "seq 3 and 4 could still be lost");
    let written_too = ListFilter { written_too: true, ..ListFilter::default() };
    assert_eq!(
        store.list(&written_too, None, 10).expect("list").records.len(),
        4,
        "the node's own derivation sees what a dirty mark was set for"
    );
    assert_eq!(
        write(&store, &envelopes[3]),
        Append::Duplicate,
        "the next append still follows what is written, not what is durable"
    );
    store.flush().expect("flush");
    assert_eq!(durable(&store), (Some(4), 4, 4, vec![4]));
    drop(store);
    let reopened = Store::open(dir.path()).expect("reopens");
    assert_eq!(durable(&reopened), (Some(4), 4, 4, vec![4]));
}

#[test]
fn reading_a_record_by_id_makes_it_durable_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    let envelopes = chain(&NodeKey::from_seed([9; 32]), 1);
    write(&store, &envelopes[0]);
    assert_eq!(store.head(&org(), LogStream::Shared).expect("head"), None);
    assert!(store.get(envelopes[0].id()).expect("get").is_some());
    assert_eq!(store.head(&org(), LogStream::Shared).expect("head").map(|(seq, _)| seq), Some(Seq(1)));
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

/// Two authors' records stored in turns list newest first across both, page
/// by page, each once, and a kind filter pages the same way.
#[test]
fn listing_newest_first_follows_arrival_across_authors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    let school = chain(&NodeKey::from_seed([6; 32]), 6);
    let other_org = OrgId::parse("org", "VN.BT.D03.S018").expect("valid");
    let other_key = NodeKey::from_seed([7; 32]);
    let mut other: Vec<VerifiedEnvelope> = Vec::new();
    for seq in 1..=6u64 {
        let prev = other.last().map(|envelope| envelope.id());
        let record = format!("other {seq}");
        other.push(
            sign_envelope(
                &other_key,
                &EnvelopeDraft {
                    payload_type: "edusync.v1.Commitment",
                    author_org: &other_org,
                    stream: LogStream::Shared,
                    seq: Seq(seq),
                    prev,
                    created_unix_ms: 1,
                    record: record.as_bytes(),
                },
            )
            .expect("signs"),
        );
    }
    let mut stored_order = Vec::new();
    for (mine, theirs) in school.iter().zip(&other) {
        put(&store, mine);
        let indexing = Indexing { kind: RecordKind::Commitment, period: None, stored_unix_ms: 0 };
        assert_eq!(store.append(theirs, &indexing).expect("store works"), Append::Stored);
        store.flush().expect("flush");
        stored_order.extend([mine.id(), theirs.id()]);
    }
    let pages = |filter: &ListFilter| {
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = store.list_newest_first(filter, token.as_deref(), 5).expect("page");
            assert!(page.records.len() <= 5);
            seen.extend(page.records.iter().map(|record| record.id));
            match page.next {
                Some(next) => token = Some(next),
                None => return seen,
            }
        }
    };
    let newest_first: Vec<RecordId> = stored_order.iter().rev().copied().collect();
    assert_eq!(pages(&ListFilter::default()), newest_first);
    let commitments = ListFilter { kind: Some(RecordKind::Commitment), ..ListFilter::default() };
    let theirs: Vec<RecordId> = other.iter().rev().map(VerifiedEnvelope::id).collect();
    assert_eq!(pages(&commitments), theirs);
    let by_org = ListFilter { org_prefix: Some(org()), ..ListFilter::default() };
    let mine: Vec<RecordId> = school.iter().rev().map(VerifiedEnvelope::id).collect();
    assert_eq!(pages(&by_org), mine);
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

mod older_layout {
    use super::*;

    /// Rewrites a current store's entries as edusync wrote them in layout 1:
    /// meta under `m/ id`, envelopes alone under `e/ id`, indexes by kind,
    /// period and org ending in the record id, no layout key.
    fn as_layout_one(entries: &[StoreEntry]) -> Vec<StoreEntry> {
        let mut old = Vec::new();
        let mut metas = std::collections::HashMap::new();
        for (key, value) in entries {
            if key.starts_with(b"e/") {
                let (meta, envelope) = RecordMeta::split(value).expect("current value");
                let id = RecordId::from_slice("id", &key[2..]).expect("id");
                old.push((key.clone(), envelope.to_vec()));
                old.push(([&b"m/"[..], &id.0].concat(), meta.encode()));
                metas.insert(id, meta);
            }
        }
        for (key, value) in entries {
            let listed =
                key.starts_with(b"l/") && !metas[&RecordId::from_slice("id", value).expect("id")].evidence_only;
            if listed {
                let id = RecordId::from_slice("id", value).expect("id");
                let meta = &metas[&id];
                old.push(([&b"k/"[..], &[meta.kind.as_byte()], &id.0].concat(), Vec::new()));
                old.push(([&b"o/"[..], meta.author_org.as_str().as_bytes(), &[0], &id.0].concat(), Vec::new()));
                if let Some(period) = meta.period {
                    old.push(([&b"p/"[..], &period.sort_key(), &id.0].concat(), Vec::new()));
                }
            }
            let current_only = key.starts_with(b"e/")
                || key.starts_with(b"A/")
                || key.starts_with(b"k/")
                || key.starts_with(b"p/")
                || key.as_slice() == keys::LAYOUT;
            if !current_only {
                old.push((key.clone(), value.clone()));
            }
        }
        old.sort();
        old
    }

    /// Entries on one side only, keys shown as text, for a readable failure.
    fn difference(left: &[StoreEntry], right: &[StoreEntry]) -> String {
        let show = |entries: &[StoreEntry], other: &[StoreEntry]| -> Vec<String> {
            entries
                .iter()
                .filter(|entry| !other.contains(entry))
                .map(|(key, value)| format!("{} ({} bytes)", String::from_utf8_lossy(key), value.len()))
                .collect()
        };
        format!("only left: {:?}; only right: {:?}", show(left, right), show(right, left))
    }

    /// A store with records of several kinds and periods, a held envelope
    /// and equivocation evidence.
    fn varied_store(dir: &Path) -> Store {
        let store = Store::open(dir).expect("opens");
        let key = NodeKey::from_seed([5; 32]);
        let envelopes = chain(&key, 6);
        let period: Period = "2024-2025/S1".parse().expect("period");
        for (index, envelope) in envelopes.iter().enumerate() {
            let indexing = Indexing {
                kind: if index % 2 == 0 { RecordKind::Plan } else { RecordKind::Commitment },
                period: (index % 3 != 0).then_some(period),
                stored_unix_ms: index as i64,
            };
            let outcome = if index == 4 { store.hold(envelope, &indexing) } else { store.append(envelope, &indexing) };
            assert_eq!(outcome.expect("store works"), Append::Stored);
        }
        let rival = signed(&key, 3, Some(envelopes[1].id()), b"rival");
        assert!(matches!(put(&store, &rival), Append::Equivocation { .. }));
        store
    }

    #[test]
    fn a_backup_in_the_older_layout_restores_to_exactly_the_current_one() {
        let (current_dir, restored_dir) =
            (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
        let current = varied_store(current_dir.path());
        let entries = current.snapshot().expect("snapshot");
        let old = as_layout_one(&entries);
        assert!(old.iter().any(|(key, _)| key.starts_with(b"m/")), "the rewrite makes layout 1");
        let restored = Store::open(restored_dir.path()).expect("opens");
        restored.restore(&old).expect("restores");
        let restored = restored.snapshot().expect("snapshot");
        assert!(restored == entries, "{}", difference(&restored, &entries));
    }

    #[test]
    fn a_store_in_the_older_layout_is_moved_on_opening_and_reads_the_same() {
        let (current_dir, old_dir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
        let current = varied_store(current_dir.path());
        let entries = current.snapshot().expect("snapshot");
        {
            let db = sled::open(old_dir.path()).expect("sled opens");
            let tree = db.open_tree("records").expect("tree");
            for (key, value) in as_layout_one(&entries) {
                tree.insert(key, value).expect("insert");
            }
            db.flush().expect("flush");
        }
        let moved = Store::open(old_dir.path()).expect("opens and moves");
        let moved_entries = moved.snapshot().expect("snapshot");
        assert!(moved_entries == entries, "{}", difference(&moved_entries, &entries));
        let everything = moved.list(&ListFilter::default(), None, 100).expect("list");
        assert_eq!(everything.records.len(), 5, "six appended, one held: the held one and the rival are never listed");
        let by_kind = ListFilter { kind: Some(RecordKind::Commitment), ..ListFilter::default() };
        let seqs: Vec<u64> =
            moved.list(&by_kind, None, 100).expect("list").records.iter().map(|record| record.meta.seq.0).collect();
        assert_eq!(seqs, vec![2, 4, 6]);
        drop(moved);
        // A store already in the current layout is left alone on opening.
        let again = Store::open(old_dir.path()).expect("opens");
        let again = again.snapshot().expect("snapshot");
        assert!(again == entries, "{}", difference(&again, &entries));
    }

    #[test]
    fn a_store_of_layout_two_gains_the_arrival_index_in_the_order_it_stored() {
        let (current_dir, old_dir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
        let entries = varied_store(current_dir.path()).snapshot().expect("snapshot");
        assert!(entries.iter().any(|(key, _)| key.starts_with(b"A/")), "the current layout has the index");
        {
            let db = sled::open(old_dir.path()).expect("sled opens");
            let tree = db.open_tree("records").expect("tree");
            for (key, value) in entries.iter().filter(|(key, _)| !key.starts_with(b"A/")) {
                let value = if key.as_slice() == keys::LAYOUT { vec![2] } else { value.clone() };
                tree.insert(key.as_slice(), value).expect("insert");
            }
            db.flush().expect("flush");
        }
        let moved = Store::open(old_dir.path()).expect("opens and moves").snapshot().expect("snapshot");
        assert!(moved == entries, "{}", difference(&moved, &entries));
    }

    #[test]
    fn a_store_from_a_newer_edusync_is_refused_not_rewritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("opens");
            store.tree().insert(keys::LAYOUT, &[9][..]).expect("insert");
            store.flush().expect("flush");
        }
        let error = Store::open(dir.path()).expect_err("refused");
        assert!(error.to_string().contains("newer than this edusync knows"), "{error}");
    }
}
