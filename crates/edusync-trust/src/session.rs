//! The proof a caller signs to open a session: the server's one-time
//! challenge, bound to both parties, under its own signing context so that
//! no record or certificate signature can ever stand in for it.

use edusync_core::OrgId;
use edusync_envelope::{NodeKey, PublicKey};

use crate::codec::Writer;

pub const SESSION_CONTEXT: &str = "EDUSYNC-SESSION-V1";
const SESSION_KIND: &str = "open";

pub fn session_proof_message(
    challenge: &[u8; 32],
    server_org: &OrgId,
    caller_org: &OrgId,
    caller_key: &PublicKey,
) -> Vec<u8> {
    let mut writer = Writer::default();
    writer.0.extend_from_slice(challenge);
    writer.org(server_org).org(caller_org).key(caller_key);
    writer.0
}

pub fn sign_session(key: &NodeKey, challenge: &[u8; 32], server_org: &OrgId, caller_org: &OrgId) -> [u8; 64] {
    let body = session_proof_message(challenge, server_org, caller_org, &key.public_key());
    key.sign_pae(SESSION_CONTEXT, SESSION_KIND, &body)
}

pub fn verify_session(
    challenge: &[u8; 32],
    server_org: &OrgId,
    caller_org: &OrgId,
    caller_key: &PublicKey,
    signature: &[u8; 64],
) -> bool {
    let body = session_proof_message(challenge, server_org, caller_org, caller_key);
    caller_key.verify_pae(SESSION_CONTEXT, SESSION_KIND, &body, signature)
}
