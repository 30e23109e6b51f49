//! An auditor verifies one record with Python's `cryptography` and with
//! openssl, from the bytes and the documented layout alone.

use std::process::Command;

use base64::Engine;
use serde_json::Value;

use crate::cli::incident_json;
use crate::harness::{run, start_lone_node, text};

#[test]
fn a_record_verifies_with_python_cryptography_and_openssl_and_a_changed_byte_does_not() {
    let root = tempfile::tempdir().expect("tempdir");
    let (node, public_key) = start_lone_node(&root.path().join("school"), "VN.BT.D03.S017", "school");
    let endpoint = node.endpoint();
    let input = root.path().join("incident.json");
    std::fs::write(&input, incident_json().to_string()).expect("write");
    let added =
        run(&["record", "add", "incident", "--file", input.to_str().expect("utf-8"), "--node", &endpoint, "--json"]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    let added: Value = serde_json::from_slice(&added.stdout).expect("JSON");
    let id = added["header"]["record_id"].as_str().expect("record id").to_owned();

    let shown = run(&["record", "show", &id, "--node", &endpoint, "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    let envelope = base64::engine::general_purpose::STANDARD
        .decode(shown["envelope"].as_str().expect("envelope field"))
        .expect("base64");
    let envelope_path = root.path().join("envelope.bin");
    std::fs::write(&envelope_path, &envelope).expect("write");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/verify_envelope.py");
    let verified = Command::new("python3")
        .args([script, envelope_path.to_str().expect("utf-8"), "--key", &public_key, "--openssl-dir"])
        .arg(root.path())
        .output()
        .expect("python3 runs");
    let report = text(&verified.stdout);
    assert!(verified.status.success(), "python: {report}{}", text(&verified.stderr));
    assert!(report.contains(&format!("record_id    {id}")), "the record id is the SHA-256 of the bytes: {report}");
    assert!(report.contains("author_org   VN.BT.D03.S017") && report.contains("seq          1"), "{report}");

    let openssl = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-rawin"])
        .arg("-inkey")
        .arg(root.path().join("author.pem"))
        .arg("-in")
        .arg(root.path().join("signed.bin"))
        .arg("-sigfile")
        .arg(root.path().join("signature.bin"))
        .output()
        .expect("openssl runs");
    assert!(openssl.status.success(), "openssl: {}{}", text(&openssl.stdout), text(&openssl.stderr));

    // The node's own public key file is what the auditor is handed.
    let pem = std::fs::read_to_string(root.path().join("school/data/node.pub.pem")).expect("pem written");
    assert_eq!(pem, std::fs::read_to_string(root.path().join("author.pem")).expect("pem"));

    for position in [10, envelope.len() / 2, envelope.len() - 1] {
        let mut tampered = envelope.clone();
        tampered[position] ^= 0x01;
        std::fs::write(&envelope_path, &tampered).expect("write");
        let refused =
            Command::new("python3").args([script, envelope_path.to_str().expect("utf-8")]).output().expect("runs");
        assert!(!refused.status.success(), "a changed byte at {position} still verified");
    }
    drop(node);
}
