//! Every byte of an envelope is covered: changing any one makes it fail.

use proptest::prelude::*;

use super::*;

fn org() -> OrgId {
    OrgId::parse("org", "VN.BT.D03.S017").expect("valid org")
}

fn envelope(key: &NodeKey, seq: u64, record: &[u8]) -> VerifiedEnvelope {
    let org = org();
    let draft = EnvelopeDraft {
        payload_type: "edusync.v1.Plan",
        author_org: &org,
        stream: LogStream::Shared,
        seq: Seq(seq),
        prev: (seq > 1).then_some(RecordId([9; 32])),
        created_unix_ms: 1_730_000_000_000,
        record,
    };
    sign_envelope(key, &draft).expect("signs")
}

#[test]
fn a_signed_envelope_verifies_and_decodes_its_header() {
    let key = NodeKey::from_seed([1; 32]);
    let signed = envelope(&key, 2, b"record bytes");
    let again = VerifiedEnvelope::verify(signed.bytes().to_vec()).expect("verifies");
    assert_eq!(again.id(), signed.id());
    assert_eq!(again.header().seq, Seq(2));
    assert_eq!(again.header().author_key, key.public_key());
    assert_eq!(again.record_bytes(), b"record bytes");
    assert_eq!(EnvelopeView::parse(signed.bytes()).expect("parses").record, b"record bytes");
}

#[test]
fn changing_any_byte_of_an_envelope_makes_verification_fail() {
    let key = NodeKey::from_seed([2; 32]);
    let bytes = envelope(&key, 3, "Kế hoạch 137/KH-MNĐM".as_bytes()).into_bytes();
    for position in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut tampered = bytes.clone();
            tampered[position] ^= flip;
            assert!(VerifiedEnvelope::verify(tampered).is_err(), "byte {position} xor {flip:#x} went unnoticed");
        }
    }
}

#[test]
fn truncated_extended_and_resigned_envelopes_are_refused() {
    let key = NodeKey::from_seed([3; 32]);
    let bytes = envelope(&key, 1, b"x").into_bytes();
    for cut in 0..bytes.len() {
        assert!(VerifiedEnvelope::verify(bytes[..cut].to_vec()).is_err(), "cut at {cut}");
    }
    let mut extended = bytes.clone();
    extended.push(0);
    assert_eq!(VerifiedEnvelope::verify(extended).map(|_| ()), Err(EnvelopeError::TrailingBytes(1)));

    // A signature by another key over the same body does not pass as the named author.
    let other = NodeKey::from_seed([4; 32]);
    let mut forged = bytes.clone();
    let body_start = 4 + 2 + "edusync.v1.Plan".len() + 4;
    let body_end = bytes.len() - 64;
    let forged_signature = other.sign(&signed_bytes("edusync.v1.Plan", &bytes[body_start..body_end]));
    forged[body_end..].copy_from_slice(&forged_signature);
    assert_eq!(VerifiedEnvelope::verify(forged).map(|_| ()), Err(EnvelopeError::BadSignature));
}

#[test]
fn sequence_and_previous_id_must_agree() {
    let key = NodeKey::from_seed([5; 32]);
    let org = org();
    let mut draft = EnvelopeDraft {
        payload_type: "edusync.v1.Plan",
        author_org: &org,
        stream: LogStream::Shared,
        seq: Seq(0),
        prev: None,
        created_unix_ms: 0,
        record: b"",
    };
    assert!(sign_envelope(&key, &draft).is_err());
    draft.seq = Seq(2);
    assert!(sign_envelope(&key, &draft).is_err());
    draft.seq = Seq(1);
    draft.prev = Some(RecordId([1; 32]));
    assert!(sign_envelope(&key, &draft).is_err());
}

#[test]
fn the_signed_bytes_are_the_documented_pre_authentication_encoding() {
    assert_eq!(signed_bytes("edusync.v1.Plan", b"abc"), b"EDUSYNC-ENVELOPE-V1 15 edusync.v1.Plan 3 abc".to_vec());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_verifier(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = VerifiedEnvelope::verify(bytes.clone());
        let _ = EnvelopeView::parse(&bytes);
    }

    #[test]
    fn any_record_content_round_trips(record in proptest::collection::vec(any::<u8>(), 0..2000), seq in 1u64..1_000_000) {
        let key = NodeKey::from_seed([6; 32]);
        let signed = envelope(&key, seq, &record);
        let again = VerifiedEnvelope::verify(signed.bytes().to_vec()).expect("verifies");
        prop_assert_eq!(again.record_bytes(), &record[..]);
        prop_assert_eq!(again.header().seq, Seq(seq));
    }
}
