//! Writes the seed corpora under `corpus/`: real, valid inputs for every
//! target, made with the same code a node uses, so the fuzzer starts from
//! inputs that get deep into each decoder. Run from this crate's folder:
//! `cargo run --bin make-seeds`.

use std::path::Path;

use edusync_core::{Commitment, CommitmentKind, Level, LogStream, OrgId, Record, RecordKind, Seq, SignerRole};
use edusync_envelope::{sign_bundle, sign_envelope, BundleEntries, EnvelopeDraft, NodeKey};
use edusync_trust::{armor, issue_certificate, sign_session, EnrolmentRequest, Role};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    std::fs::create_dir_all(&folder).expect("corpus folder");
    std::fs::write(folder.join(name), bytes).expect("seed written");
}

fn org(text: &str) -> OrgId {
    OrgId::parse("org", text).expect("valid org id")
}

fn main() {
    let school_key = NodeKey::from_seed([1; 32]);
    let school = org("VN.BT.D03.S017");
    let commitment = Record::Commitment(Commitment {
        kind: CommitmentKind::StaffPledge,
        signer_role: SignerRole::Teacher,
        count: 12,
        signed_on: chrono::NaiveDate::from_ymd_opt(2025, 9, 8).expect("date"),
        school_year: "2025-2026".parse().expect("school year"),
    });
    let checked = commitment.clone().check(&edusync_core::ValidationContext::without_clock()).expect("valid");
    let (payload_type, payload) = edusync_proto::encode_record(checked.record());
    let first = sign_envelope(
        &school_key,
        &EnvelopeDraft {
            payload_type,
            author_org: &school,
            stream: LogStream::Shared,
            seq: Seq(1),
            prev: None,
            created_unix_ms: 1_757_300_000_000,
            record: &payload,
        },
    )
    .expect("signs");
    let second = sign_envelope(
        &school_key,
        &EnvelopeDraft {
            payload_type,
            author_org: &school,
            stream: LogStream::Shared,
            seq: Seq(2),
            prev: Some(first.id()),
            created_unix_ms: 1_757_300_060_000,
            record: &payload,
        },
    )
    .expect("signs");
    write("envelope", "commitment-seq-1", first.bytes());
    write("envelope", "commitment-seq-2", second.bytes());
    let mut flipped = first.bytes().to_vec();
    if let Some(byte) = flipped.get_mut(40) {
        *byte ^= 0x01;
    }
    write("envelope", "one-bit-flipped", &flipped);

    let mut selected =
        vec![RecordKind::ALL.iter().position(|kind| *kind == RecordKind::Commitment).expect("kind") as u8];
    selected.extend_from_slice(&payload);
    write("record", "commitment-wire", &selected);
    let mut json = vec![0u8];
    json.extend_from_slice(serde_json::to_string(&commitment).expect("json").as_bytes());
    write("record", "commitment-json", &json);

    let bundle = sign_bundle(
        &school_key,
        &school,
        &org("VN.BT.D03"),
        1_757_300_100_000,
        &BundleEntries::Envelopes(vec![first.bytes().to_vec(), second.bytes().to_vec()]),
    )
    .expect("signs");
    write("bundle", "two-envelopes", &bundle);

    let anchor = edusync_fuzz::anchor_key();
    let district_key = NodeKey::from_seed([2; 32]);
    let request = EnrolmentRequest {
        subject_org: org("VN.BT"),
        role: Role::Node(Level::Province),
        parent_org: org("VN"),
        subject_key: district_key.public_key(),
        previous_key: None,
        created_ms: 1_757_000_000_000,
    };
    let certificate =
        issue_certificate(&request, &org("VN"), 1, 1_757_000_000_000, 1_800_000_000_000, 1_757_000_000_000, &[&anchor]);
    write("statement", "province-certificate", &certificate);
    let chain = armor(std::slice::from_ref(&certificate));
    write("statement", "province-certificate-armored", chain.as_bytes());

    let server = org("VN.BT.D03");
    let signature = sign_session(&district_key, &edusync_fuzz::SESSION_CHALLENGE, &server, &org("VN.BT"));
    let mut handshake = vec![5u8];
    handshake.extend_from_slice(b"VN.BT");
    handshake.extend_from_slice(&district_key.public_key().0);
    handshake.extend_from_slice(&signature);
    handshake.extend_from_slice(chain.as_bytes());
    write("handshake", "certified-province", &handshake);

    write(
        "sheet",
        "commitments-vi",
        "Loại cam kết,Người ký,Số chữ ký,Ngày ký,Năm học\nstaff_pledge,Giáo viên,10,2025-09-08,2025-2026\nstaff_pledge,Hiệu phó,mười,2024-09-08,2025-2026\n"
            .as_bytes(),
    );
    println!("seeds written under {}", Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").display());
}
