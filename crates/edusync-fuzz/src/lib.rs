//! The bodies of the fuzz targets, one per decoder of outside bytes, kept in
//! a library so that the committed corpora replay on stable Rust as plain
//! tests (`cargo test --manifest-path crates/edusync-fuzz/Cargo.toml`).
//!
//! Each body feeds the bytes to the decoder exactly as a node does, then
//! checks what must hold of anything the decoder accepts. A panic, an
//! overflow or a broken invariant is a finding.
//!
//! This crate is not part of the main workspace and nothing depends on it.

use edusync_core::{OrgId, ValidationContext};
use edusync_envelope::{EnvelopeView, NodeKey, VerifiedBundle, VerifiedEnvelope};
use edusync_trust::{Anchor, TrustSet, VerifiedStatement};

/// Envelope framing, `verify_strict` and body decoding; what verifies must
/// parse the same way when read back from a store, and must carry its id.
pub fn envelope(data: &[u8]) {
    let Ok(verified) = VerifiedEnvelope::verify(data.to_vec()) else { return };
    let view = EnvelopeView::parse(data).expect("a verified envelope parses as a stored one");
    assert_eq!(&view.header, verified.header());
    assert_eq!(view.record, verified.record_bytes());
    assert!(verified.header().seq.0 >= 1, "sequence numbers start at 1");
    if verified.header().seq.0 == 1 {
        assert!(verified.header().prev.is_none(), "the first record of a log follows nothing");
    }
    let _ = edusync_proto::decode_record(&verified.header().payload_type, verified.record_bytes())
        .map(|record| record.check(&ValidationContext::without_clock()));
}

/// Record decoding for every payload type, then validation; a record that
/// passes validation passes it again (normalisation is idempotent).
pub fn record(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let kinds = edusync_core::RecordKind::ALL;
    let kind = kinds[usize::from(selector) % kinds.len()];
    if let Ok(record) = edusync_proto::decode_record(kind.payload_type(), bytes) {
        if let Ok(checked) = record.check(&ValidationContext::without_clock()) {
            let again = checked.record().clone().check(&ValidationContext::without_clock());
            assert_eq!(again.as_ref().map(|again| again.record()), Ok(checked.record()));
        }
    }
    // The same bytes as JSON, as `edusync record add` reads them.
    if let Ok(record) = serde_json::from_slice::<edusync_core::Record>(bytes) {
        let _ = record.check(&ValidationContext::without_clock());
    }
}

/// Sneakernet bundles: framing, the signer's signature, entries.
pub fn bundle(data: &[u8]) {
    let Ok(bundle) = VerifiedBundle::verify(data) else { return };
    if let edusync_envelope::BundleEntries::Envelopes(envelopes) = &bundle.entries {
        for envelope_bytes in envelopes {
            let _ = VerifiedEnvelope::verify(envelope_bytes.clone());
        }
    }
}

/// Trust statements (certificates, revocations, rotations, enrolment
/// requests), raw and armored; a statement that verifies re-verifies from
/// its own bytes with the same id.
pub fn statement(data: &[u8]) {
    if let Ok(statement) = VerifiedStatement::verify(data) {
        let again = VerifiedStatement::verify(statement.bytes()).expect("its own bytes verify");
        assert_eq!(again.id, statement.id);
        let mut trust = trust_set();
        let _ = trust.admit(&statement);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(statements) = edusync_trust::dearmor(text) {
            for bytes in statements {
                let _ = VerifiedStatement::verify(&bytes);
            }
        }
    }
}

/// Opening a session, as a node judges a caller: its org id, its key, the
/// certificate chain it presents (armored), and its signature over the
/// challenge. Input layout: org length (1 byte), org, key (32), signature
/// (64), then the chain text.
pub fn handshake(data: &[u8]) {
    let Some((&org_length, rest)) = data.split_first() else { return };
    let org_length = usize::from(org_length).min(rest.len());
    let (org, rest) = rest.split_at(org_length);
    if rest.len() < 96 {
        return;
    }
    let (key, rest) = rest.split_at(32);
    let (signature, chain) = rest.split_at(64);
    let Ok(org) = std::str::from_utf8(org).map_err(drop).and_then(|text| OrgId::parse("org", text).map_err(drop))
    else {
        return;
    };
    let Ok(key) = edusync_envelope::PublicKey::from_bytes(key) else { return };
    let mut trust = trust_set();
    if let Ok(text) = std::str::from_utf8(chain) {
        for bytes in edusync_trust::dearmor(text).unwrap_or_default() {
            if let Ok(statement) = VerifiedStatement::verify(&bytes) {
                let _ = trust.admit(&statement);
            }
        }
    }
    let now_ms = 1_767_225_600_000;
    let standing = trust.standing(&org, &key, now_ms);
    let server = OrgId::parse("server", "VN.BT.D03").expect("valid");
    let signature: [u8; 64] = signature.try_into().expect("64 bytes");
    let proven = edusync_trust::verify_session(&SESSION_CHALLENGE, &server, &org, &key, &signature);
    // The proof is over this server and this caller: it never proves the
    // same key for another server.
    if proven {
        let elsewhere = OrgId::parse("server", "VN.BT.D04").expect("valid");
        assert!(!edusync_trust::verify_session(&SESSION_CHALLENGE, &elsewhere, &org, &key, &signature));
    }
    let _ = standing;
}

/// Spreadsheet rows as text, as `edusync import` passes cells: every row
/// becomes a record or a problem naming its row.
pub fn sheet(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let rows: Vec<Vec<String>> =
        text.lines().take(200).map(|line| line.split(',').map(str::to_owned).collect()).collect();
    let body_rows = rows.iter().skip(1).filter(|row| !row.iter().all(|cell| cell.trim().is_empty())).count();
    for kind in [edusync_core::RecordKind::Commitment, edusync_core::RecordKind::PeriodicReport] {
        let now = chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("valid");
        if let Ok((records, problems)) = edusync_sheet::read_rows(kind, &rows, now) {
            let mut bad: Vec<usize> = problems.iter().map(|problem| problem.row).collect();
            bad.dedup();
            assert_eq!(records.len() + bad.len(), body_rows, "every row is a record or a problem");
        }
    }
}

/// An audit bundle file, verified offline as `edusync audit verify` does: an
/// unreadable file is an error, anything else a list of checks; a bundle
/// that passes has checked a sum and at least one signature.
pub fn audit(data: &[u8]) {
    let Ok(verification) = edusync_audit::verify(data, &[anchor_key().public_key()], 1, 300_000) else { return };
    if verification.passed() {
        let names: Vec<&str> = verification.checks.iter().map(|check| check.check).collect();
        assert!(names.contains(&"signature") && names.contains(&"children complete"), "{names:?}");
    }
}

/// The challenge the handshake target's signatures are over.
pub const SESSION_CHALLENGE: [u8; 32] = [9; 32];

/// The anchor key of the fuzz corpora: fixed, so seeds can be signed by it.
pub fn anchor_key() -> NodeKey {
    NodeKey::from_seed([7; 32])
}

fn trust_set() -> TrustSet {
    let anchor = Anchor {
        org: OrgId::parse("anchor", "VN").expect("valid"),
        keys: vec![anchor_key().public_key()],
        threshold: 1,
    };
    TrustSet::new(vec![anchor], 300_000)
}

#[cfg(test)]
mod tests {
    /// Every committed corpus file goes through its target without a finding.
    #[test]
    fn the_committed_corpora_replay_without_a_finding() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        type Target = fn(&[u8]);
        let targets: [(&str, Target); 7] = [
            ("envelope", super::envelope),
            ("record", super::record),
            ("bundle", super::bundle),
            ("statement", super::statement),
            ("handshake", super::handshake),
            ("sheet", super::sheet),
            ("audit", super::audit),
        ];
        for (name, target) in targets {
            let folder = root.join(name);
            let entries = std::fs::read_dir(&folder).unwrap_or_else(|error| panic!("{}: {error}", folder.display()));
            let mut count = 0;
            for entry in entries {
                let path = entry.expect("entry").path();
                target(&std::fs::read(&path).expect("readable"));
                count += 1;
            }
            assert!(count > 0, "{name} has no seeds");
        }
    }
}
