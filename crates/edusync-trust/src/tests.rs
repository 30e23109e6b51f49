use edusync_core::{Level, OrgId};
use edusync_envelope::NodeKey;
use proptest::prelude::*;

use super::*;

const DAY: i64 = 86_400_000;
const NOW: i64 = 1_790_000_000_000;

fn org(text: &str) -> OrgId {
    OrgId::parse("org", text).expect("valid test id")
}

fn key(seed: u8) -> NodeKey {
    NodeKey::from_seed([seed; 32])
}

fn certificate(subject: &NodeKey, subject_org: &str, role: Role, issuer_org: &str, version: u64) -> Certificate {
    Certificate {
        subject_key: subject.public_key(),
        subject_org: org(subject_org),
        role,
        issuer_org: org(issuer_org),
        version,
        not_before_ms: NOW - DAY,
        not_after_ms: NOW + 365 * DAY,
        issued_ms: NOW - DAY,
    }
}

fn admit(set: &mut TrustSet, bytes: &[u8]) -> Result<Admission, TrustError> {
    set.admit(&VerifiedStatement::verify(bytes)?)
}

/// Roots 1..3 (2 of 3), ministry 10, province 11, district 12, school 13.
fn hierarchy() -> TrustSet {
    let anchor = Anchor {
        org: org("VN"),
        keys: vec![key(1).public_key(), key(2).public_key(), key(3).public_key()],
        threshold: 2,
    };
    let mut set = TrustSet::new(vec![anchor], 300_000);
    let ministry = Statement::Certificate(certificate(&key(10), "VN", Role::Node(Level::Ministry), "VN", 1));
    admit(&mut set, &ministry.sign(&[&key(1), &key(3)])).expect("ministry by two roots");
    let province = Statement::Certificate(certificate(&key(11), "VN.BT", Role::Node(Level::Province), "VN", 1));
    admit(&mut set, &province.sign(&[&key(10)])).expect("province by ministry");
    let district = Statement::Certificate(certificate(&key(12), "VN.BT.D03", Role::Node(Level::District), "VN.BT", 1));
    admit(&mut set, &district.sign(&[&key(11)])).expect("district by province");
    let school =
        Statement::Certificate(certificate(&key(13), "VN.BT.D03.S017", Role::Node(Level::School), "VN.BT.D03", 1));
    admit(&mut set, &school.sign(&[&key(12)])).expect("school by district");
    set
}

#[test]
fn a_school_key_chains_up_to_the_anchor() {
    let set = hierarchy();
    let standing = set.standing(&org("VN.BT.D03.S017"), &key(13).public_key(), NOW).expect("trusted");
    assert_eq!(standing.role, Role::Node(Level::School));
    assert_eq!(standing.chain, vec![org("VN.BT.D03"), org("VN.BT"), org("VN"), org("VN")]);
    let error = set.standing(&org("VN.BT.D03.S018"), &key(13).public_key(), NOW).expect_err("other org");
    assert!(matches!(error, TrustError::Untrusted { .. }), "{error}");
    let chain = set.chain_certificates(&org("VN.BT.D03.S017"), &key(13).public_key(), NOW);
    let orgs: Vec<&str> = chain.iter().map(|c| c.subject_org.as_str()).collect();
    assert_eq!(orgs, ["VN", "VN.BT", "VN.BT.D03", "VN.BT.D03.S017"]);
}

#[test]
fn a_root_certificate_needs_two_distinct_anchor_keys_not_two_signatures_by_one() {
    let anchor = Anchor {
        org: org("VN"),
        keys: vec![key(1).public_key(), key(2).public_key(), key(3).public_key()],
        threshold: 2,
    };
    let mut set = TrustSet::new(vec![anchor], 0);
    let ministry = Statement::Certificate(certificate(&key(10), "VN", Role::Node(Level::Ministry), "VN", 1));
    let error = admit(&mut set, &ministry.sign(&[&key(1), &key(1)])).expect_err("one key twice");
    assert!(error.to_string().contains("needs 2 of its 3 keys"), "{error}");
    let error = admit(&mut set, &ministry.sign(&[&key(1), &key(9)])).expect_err("a stranger's key does not count");
    assert!(error.to_string().contains("carries 1"), "{error}");
    admit(&mut set, &ministry.sign(&[&key(2), &key(3)])).expect("two distinct anchor keys");
}

#[test]
fn an_anchor_listing_one_key_twice_still_counts_it_once() {
    let anchor = Anchor { org: org("VN"), keys: vec![key(1).public_key(), key(1).public_key()], threshold: 2 };
    let mut set = TrustSet::new(vec![anchor], 0);
    let ministry = Statement::Certificate(certificate(&key(10), "VN", Role::Node(Level::Ministry), "VN", 1));
    let error = admit(&mut set, &ministry.sign(&[&key(1)])).expect_err("one key, listed twice, is one signature");
    assert!(error.to_string().contains("carries 1"), "{error}");
}

#[test]
fn a_certificate_outside_its_issuers_scope_is_refused() {
    let mut set = hierarchy();
    let stray =
        Statement::Certificate(certificate(&key(20), "VN.BT.D04.S001", Role::Node(Level::School), "VN.BT.D03", 1));
    let error = admit(&mut set, &stray.sign(&[&key(12)])).expect_err("outside D03");
    assert!(matches!(error, TrustError::OutOfScope { .. }), "{error}");
    // Claiming the right issuer org does not help when the signer is not that org's key.
    let forged =
        Statement::Certificate(certificate(&key(20), "VN.BT.D04.S001", Role::Node(Level::School), "VN.BT.D04", 1));
    let error = admit(&mut set, &forged.sign(&[&key(12)])).expect_err("D03's key does not speak for D04");
    assert!(matches!(error, TrustError::Untrusted { .. }), "{error}");
    // Nor may a school certify a school, or a district a province.
    let sideways = Statement::Certificate(certificate(
        &key(21),
        "VN.BT.D03.S017.X",
        Role::Node(Level::School),
        "VN.BT.D03.S017",
        1,
    ));
    let error = admit(&mut set, &sideways.sign(&[&key(13)])).expect_err("same level");
    assert!(error.to_string().contains("only lower levels"), "{error}");
}

#[test]
fn an_expired_certificate_is_accepted_inside_the_skew_grace_and_refused_outside_it() {
    let mut set = hierarchy();
    let mut late = certificate(&key(30), "VN.BT.D03.S030", Role::Node(Level::School), "VN.BT.D03", 1);
    late.not_after_ms = NOW - 60_000;
    admit(&mut set, &Statement::Certificate(late).sign(&[&key(12)])).expect("issued while valid");
    set.standing(&org("VN.BT.D03.S030"), &key(30).public_key(), NOW).expect("60 s late is inside a 300 s grace");
    let error = set.standing(&org("VN.BT.D03.S030"), &key(30).public_key(), NOW + 3_600_000).expect_err("an hour");
    assert!(matches!(error, TrustError::Expired { .. }), "{error}");
    assert!(error.to_string().contains("grace 300 s"), "{error}");
}

#[test]
fn a_revocation_refuses_what_the_key_signs_after_it_and_keeps_what_it_signed_before() {
    let mut set = hierarchy();
    let revocation = Statement::Revocation(Revocation {
        issuer_org: org("VN.BT.D03"),
        subject_org: org("VN.BT.D03.S017"),
        subject_key: key(13).public_key(),
        reason: RevocationReason::KeyCompromise,
        effective_ms: NOW,
        issued_ms: NOW,
    });
    // Only the issuer (or above) may revoke.
    let error = admit(&mut set, &revocation.sign(&[&key(13)])).expect_err("a school cannot revoke itself here");
    assert!(error.to_string().contains("VN.BT.D03"), "{error}");
    admit(&mut set, &revocation.sign(&[&key(12)])).expect("the district revokes");
    set.standing(&org("VN.BT.D03.S017"), &key(13).public_key(), NOW - 1).expect("signed before");
    let error = set.standing(&org("VN.BT.D03.S017"), &key(13).public_key(), NOW + 1).expect_err("signed after");
    assert!(matches!(error, TrustError::Revoked { .. }), "{error}");
    assert!(error.to_string().contains("key compromise"), "{error}");
}

#[test]
fn revoking_a_district_key_cuts_the_schools_below_it_from_then_on() {
    let mut set = hierarchy();
    let revocation = Statement::Revocation(Revocation {
        issuer_org: org("VN.BT"),
        subject_org: org("VN.BT.D03"),
        subject_key: key(12).public_key(),
        reason: RevocationReason::KeyCompromise,
        effective_ms: NOW,
        issued_ms: NOW,
    });
    admit(&mut set, &revocation.sign(&[&key(11)])).expect("province revokes");
    set.standing(&org("VN.BT.D03.S017"), &key(13).public_key(), NOW - 1).expect("before");
    let error = set.standing(&org("VN.BT.D03.S017"), &key(13).public_key(), NOW + 1).expect_err("after");
    assert!(matches!(error, TrustError::Revoked { .. }), "{error}");
}

#[test]
fn a_rotation_retires_the_old_key_for_new_signatures_only() {
    let mut set = hierarchy();
    let renewed =
        Statement::Certificate(certificate(&key(14), "VN.BT.D03.S017", Role::Node(Level::School), "VN.BT.D03", 2));
    admit(&mut set, &renewed.sign(&[&key(12)])).expect("v2 for the new key");
    let rotation = Statement::Rotation(Rotation {
        org: org("VN.BT.D03.S017"),
        old_key: key(13).public_key(),
        new_key: key(14).public_key(),
        effective_ms: NOW,
    });
    let error = admit(&mut set, &rotation.sign(&[&key(14)])).expect_err("the old key must sign too");
    assert!(error.to_string().contains("old key"), "{error}");
    admit(&mut set, &rotation.sign(&[&key(13), &key(14)])).expect("both keys");
    set.standing(&org("VN.BT.D03.S017"), &key(13).public_key(), NOW - 1).expect("old key, before");
    set.standing(&org("VN.BT.D03.S017"), &key(13).public_key(), NOW + 1).expect_err("old key, after");
    set.standing(&org("VN.BT.D03.S017"), &key(14).public_key(), NOW + 1).expect("new key");

    // Versions only go up.
    let stale =
        Statement::Certificate(certificate(&key(15), "VN.BT.D03.S017", Role::Node(Level::School), "VN.BT.D03", 2));
    let error = admit(&mut set, &stale.sign(&[&key(12)])).expect_err("version 2 again");
    assert!(error.to_string().contains("versions only go up"), "{error}");
    assert_eq!(set.next_version(&org("VN.BT.D03.S017"), Role::Node(Level::School), &key(15).public_key()), 3);
}

#[test]
fn a_district_rotation_does_not_undo_the_school_certificates_it_issued_before() {
    let mut set = hierarchy();
    let renewed = Statement::Certificate(certificate(&key(16), "VN.BT.D03", Role::Node(Level::District), "VN.BT", 2));
    admit(&mut set, &renewed.sign(&[&key(11)])).expect("district v2");
    let rotation = Statement::Rotation(Rotation {
        org: org("VN.BT.D03"),
        old_key: key(12).public_key(),
        new_key: key(16).public_key(),
        effective_ms: NOW,
    });
    admit(&mut set, &rotation.sign(&[&key(12), &key(16)])).expect("rotation");
    set.standing(&org("VN.BT.D03.S017"), &key(13).public_key(), NOW + DAY).expect("school still chains");
    let late = Statement::Certificate(Certificate {
        issued_ms: NOW + 1,
        ..certificate(&key(17), "VN.BT.D03.S099", Role::Node(Level::School), "VN.BT.D03", 1)
    });
    let error = admit(&mut set, &late.sign(&[&key(12)])).expect_err("the old key issues nothing after rotation");
    assert!(matches!(error, TrustError::Revoked { .. }), "{error}");
}

#[test]
fn readers_have_a_scope_and_certify_nobody() {
    let mut set = hierarchy();
    // A province certifies its own data officers for the whole province; a
    // node, though, never certifies its own org.
    let own = Statement::Certificate(certificate(&key(42), "VN.BT", Role::DataOfficer, "VN.BT", 1));
    admit(&mut set, &own.sign(&[&key(11)])).expect("a reader at the issuer's own id");
    let itself = Statement::Certificate(certificate(&key(43), "VN.BT", Role::Node(Level::Province), "VN.BT", 9));
    let error = admit(&mut set, &itself.sign(&[&key(11)])).expect_err("a node at the issuer's own id");
    assert!(error.to_string().contains("cannot certify itself"), "{error}");
    let officer = Statement::Certificate(certificate(&key(40), "VN.BT.D03", Role::DataOfficer, "VN.BT", 1));
    admit(&mut set, &officer.sign(&[&key(11)])).expect("officer for D03");
    let standing = set.standing_of_key(&key(40).public_key(), NOW).expect("reader");
    assert_eq!((standing.role, standing.org), (Role::DataOfficer, org("VN.BT.D03")));
    let below =
        Statement::Certificate(certificate(&key(41), "VN.BT.D03.S001", Role::Node(Level::School), "VN.BT.D03", 1));
    let error = admit(&mut set, &below.sign(&[&key(40)])).expect_err("a reader signs no certificate");
    assert!(error.to_string().contains("certify nobody"), "{error}");
}

#[test]
fn enrolment_requests_prove_possession_of_the_key_and_of_the_previous_one() {
    let request = Statement::EnrolmentRequest(EnrolmentRequest {
        subject_org: org("VN.BT.D03.S017"),
        role: Role::Node(Level::School),
        parent_org: org("VN.BT.D03"),
        subject_key: key(14).public_key(),
        previous_key: Some(key(13).public_key()),
        created_ms: NOW,
    });
    verify_enrolment_request(&request.sign(&[&key(14), &key(13)])).expect("both keys");
    let error = verify_enrolment_request(&request.sign(&[&key(14)])).expect_err("previous key missing");
    assert!(error.to_string().contains("previous key"), "{error}");
    let error = verify_enrolment_request(&request.sign(&[&key(13)])).expect_err("not the subject key");
    assert!(error.to_string().contains("not signed by the key it asks"), "{error}");
}

#[test]
fn a_session_proof_is_bound_to_challenge_server_and_caller() {
    let challenge = [7u8; 32];
    let signature = sign_session(&key(13), &challenge, &org("VN.BT.D03"), &org("VN.BT.D03.S017"));
    let caller = key(13).public_key();
    assert!(verify_session(&challenge, &org("VN.BT.D03"), &org("VN.BT.D03.S017"), &caller, &signature));
    assert!(!verify_session(&[8; 32], &org("VN.BT.D03"), &org("VN.BT.D03.S017"), &caller, &signature));
    assert!(!verify_session(&challenge, &org("VN.BT.D04"), &org("VN.BT.D03.S017"), &caller, &signature));
    assert!(!verify_session(&challenge, &org("VN.BT.D03"), &org("VN.BT.D03.S018"), &caller, &signature));
}

#[test]
fn changing_any_byte_of_a_certificate_makes_it_fail_or_a_different_statement() {
    let bytes =
        Statement::Certificate(certificate(&key(13), "VN.BT.D03.S017", Role::Node(Level::School), "VN.BT.D03", 1))
            .sign(&[&key(12)]);
    let original = VerifiedStatement::verify(&bytes).expect("valid");
    for index in 0..bytes.len() {
        let mut changed = bytes.clone();
        changed[index] ^= 0x01;
        if let Ok(verified) = VerifiedStatement::verify(&changed) {
            panic!("byte {index} changed and it still verified: {:?} vs {:?}", verified.statement, original.statement);
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_statement_verifier(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = VerifiedStatement::verify(&bytes);
        let mut framed = STATEMENT_MAGIC.to_vec();
        framed.extend_from_slice(&bytes);
        let _ = VerifiedStatement::verify(&framed);
    }
}

#[test]
fn cosigning_adds_a_distinct_key_and_refuses_the_same_key_twice() {
    let anchor = Anchor {
        org: org("VN"),
        keys: vec![key(1).public_key(), key(2).public_key(), key(3).public_key()],
        threshold: 2,
    };
    let mut set = TrustSet::new(vec![anchor], 0);
    let once =
        Statement::Certificate(certificate(&key(10), "VN", Role::Node(Level::Ministry), "VN", 1)).sign(&[&key(1)]);
    let error = cosign(&once, &key(1)).expect_err("same key");
    assert!(error.to_string().contains("already signed"), "{error}");
    admit(&mut set, &once).expect_err("one of three is not enough");
    let twice = cosign(&once, &key(2)).expect("second key");
    admit(&mut set, &twice).expect("two distinct anchor keys");
}

#[test]
fn a_key_that_is_a_node_stands_as_the_node_whatever_reader_certificate_it_also_holds() {
    let mut set = hierarchy();
    // The school's own key, also certified (version 2 of its reader lineage) as an auditor of itself.
    let reader = Statement::Certificate(certificate(&key(13), "VN.BT.D03.S017", Role::Auditor, "VN.BT.D03", 2));
    admit(&mut set, &reader.sign(&[&key(12)])).expect("a reader certificate");
    let standing = set.standing(&org("VN.BT.D03.S017"), &key(13).public_key(), NOW).expect("trusted");
    assert_eq!(standing.role, Role::Node(Level::School));
}
