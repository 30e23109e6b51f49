//! Verifying many envelopes at once, with exactly the answers of
//! `verify_strict` one by one.
//!
//! Ed25519 batch verification checks the cofactored equation, which accepts
//! some signatures (made on purpose by a key's owner, with small-order parts)
//! that the cofactorless `verify_strict` refuses. For a signature whose S is
//! canonical and whose R and key A are torsion-free points not of small
//! order, the two equations agree; so those signatures are checked together
//! in one batch, and every other one — or every one, if the batch fails — is
//! checked alone with `verify_strict`, which also names the bad record.

use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};

use crate::envelope::{split_framing, EnvelopeError, KeyCache, VerifiedEnvelope, KEY_RANGE};
use crate::keys::PublicKey;

/// True when batch and strict verification must agree on this signature.
fn batch_safe(signature: &[u8; 64], key: &[u8; 32]) -> bool {
    let torsion_free = |bytes: &[u8]| {
        let Ok(array) = <[u8; 32]>::try_from(bytes) else { return false };
        CompressedEdwardsY(array).decompress().is_some_and(|point| point.is_torsion_free() && !point.is_small_order())
    };
    let s: [u8; 32] = signature[32..].try_into().unwrap_or([0xff; 32]);
    bool::from(Scalar::from_canonical_bytes(s).is_some()) && torsion_free(&signature[..32]) && torsion_free(key)
}

/// `verify_strict` on every envelope, spread over `threads` threads (the
/// caller passes what it measured pays); answers in input order.
pub fn verify_parallel(envelopes: Vec<Vec<u8>>, threads: usize) -> Vec<Result<VerifiedEnvelope, EnvelopeError>> {
    let threads = threads.clamp(1, 64);
    if threads == 1 || envelopes.len() < 2 * threads {
        let mut keys = KeyCache::default();
        return envelopes.into_iter().map(|bytes| VerifiedEnvelope::verify_with(bytes, &mut keys)).collect();
    }
    let chunk = envelopes.len().div_ceil(threads);
    let mut chunks: Vec<Vec<Vec<u8>>> = Vec::with_capacity(threads);
    let mut rest = envelopes.into_iter().peekable();
    while rest.peek().is_some() {
        chunks.push(rest.by_ref().take(chunk).collect());
    }
    let verify_chunk = |chunk: Vec<Vec<u8>>| {
        let mut keys = KeyCache::default();
        chunk.into_iter().map(|bytes| VerifiedEnvelope::verify_with(bytes, &mut keys)).collect::<Vec<_>>()
    };
    // The calling thread takes the last chunk itself: one thread fewer to start and wait for.
    let last = chunks.pop().unwrap_or_default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks.into_iter().map(|chunk| scope.spawn(move || verify_chunk(chunk))).collect();
        let own = verify_chunk(last);
        let mut results: Vec<_> = handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect();
        results.extend(own);
        results
    })
}

/// Verifies every envelope; the answer for each is what
/// `VerifiedEnvelope::verify` would give it alone.
pub fn verify_many(envelopes: Vec<Vec<u8>>) -> Vec<Result<VerifiedEnvelope, EnvelopeError>> {
    struct Candidate {
        index: usize,
        message: Vec<u8>,
        signature: Signature,
        key: VerifyingKey,
    }
    let mut candidates = Vec::new();
    for (index, bytes) in envelopes.iter().enumerate() {
        let Ok(framing) = split_framing(bytes) else { continue };
        let Some(key_bytes) = framing.body.get(KEY_RANGE) else { continue };
        let Ok(key) = PublicKey::from_bytes(key_bytes) else { continue };
        if !batch_safe(&framing.signature, &key.0) {
            continue;
        }
        let Ok(verifying_key) = VerifyingKey::from_bytes(&key.0) else { continue };
        candidates.push(Candidate {
            index,
            message: crate::signed_bytes(framing.payload_type, framing.body),
            signature: Signature::from_bytes(&framing.signature),
            key: verifying_key,
        });
    }
    let batch_passed = candidates.len() >= 2 && {
        let messages: Vec<&[u8]> = candidates.iter().map(|candidate| candidate.message.as_slice()).collect();
        let signatures: Vec<Signature> = candidates.iter().map(|candidate| candidate.signature).collect();
        let keys: Vec<VerifyingKey> = candidates.iter().map(|candidate| candidate.key).collect();
        ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
    };
    let mut batch_verified = vec![false; envelopes.len()];
    if batch_passed {
        for candidate in &candidates {
            batch_verified[candidate.index] = true;
        }
    }
    envelopes
        .into_iter()
        .zip(batch_verified)
        .map(
            |(bytes, verified)| {
                if verified {
                    VerifiedEnvelope::after_batch(bytes)
                } else {
                    VerifiedEnvelope::verify(bytes)
                }
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use edusync_core::{LogStream, OrgId, RecordId, Seq};
    use proptest::prelude::*;

    use super::*;
    use crate::{sign_envelope, EnvelopeDraft, NodeKey};

    fn batch(count: usize) -> Vec<Vec<u8>> {
        let org = OrgId::parse("org", "VN.BT.D03.S017").expect("valid");
        let key = NodeKey::from_seed([3; 32]);
        (1..=count as u64)
            .map(|seq| {
                let draft = EnvelopeDraft {
                    payload_type: "edusync.v1.Commitment",
                    author_org: &org,
                    stream: LogStream::Shared,
                    seq: Seq(seq),
                    prev: (seq > 1).then_some(RecordId([1; 32])),
                    created_unix_ms: 0,
                    record: &seq.to_be_bytes(),
                };
                sign_envelope(&key, &draft).expect("signs").into_bytes()
            })
            .collect()
    }

    #[test]
    fn a_good_batch_verifies_together_and_a_bad_record_is_named() {
        let mut envelopes = batch(20);
        assert!(verify_many(envelopes.clone()).iter().all(Result::is_ok));
        let last = envelopes[7].len() - 1;
        envelopes[7][last] ^= 1;
        let results = verify_many(envelopes);
        for (index, result) in results.iter().enumerate() {
            assert_eq!(result.is_err(), index == 7, "envelope {index}");
        }
        assert_eq!(results[7].as_ref().map(|_| ()), Err(&EnvelopeError::BadSignature));
    }

    proptest! {
        /// Whatever is changed in a batch, each answer is the one-by-one answer.
        #[test]
        fn batch_answers_equal_one_by_one_answers(
            changes in proptest::collection::vec((0usize..12, 0usize..400, 1u8..=255), 0..4),
        ) {
            let mut envelopes = batch(12);
            for (which, position, flip) in changes {
                let envelope = &mut envelopes[which];
                let position = position % envelope.len();
                envelope[position] ^= flip;
            }
            let together: Vec<Result<RecordId, EnvelopeError>> =
                verify_many(envelopes.clone()).into_iter().map(|result| result.map(|e| e.id())).collect();
            let alone: Vec<Result<RecordId, EnvelopeError>> =
                envelopes.into_iter().map(|bytes| VerifiedEnvelope::verify(bytes).map(|e| e.id())).collect();
            prop_assert_eq!(together, alone);
        }
    }
}

#[cfg(test)]
mod parallel_tests {
    use super::*;
    use crate::{sign_envelope, EnvelopeDraft, NodeKey};
    use edusync_core::{LogStream, OrgId, Seq};

    #[test]
    fn parallel_answers_are_the_one_by_one_answers_in_order() {
        let key = NodeKey::from_seed([3; 32]);
        let org = OrgId::parse("org", "VN.BT").expect("valid");
        let mut envelopes: Vec<Vec<u8>> = (0..40u64)
            .map(|index| {
                let record = index.to_be_bytes();
                let draft = EnvelopeDraft {
                    payload_type: "edusync.v1.Commitment",
                    author_org: &org,
                    stream: LogStream::Shared,
                    seq: Seq::FIRST,
                    prev: None,
                    created_unix_ms: 0,
                    record: &record,
                };
                sign_envelope(&key, &draft).expect("signs").into_bytes()
            })
            .collect();
        for bad in [3, 17, 39] {
            let last = envelopes[bad].len() - 1;
            envelopes[bad][last] ^= 1;
        }
        envelopes[8].truncate(10);
        let one_by_one: Vec<String> = envelopes
            .iter()
            .map(|bytes| format!("{:?}", VerifiedEnvelope::verify(bytes.clone()).map(|e| e.id())))
            .collect();
        for threads in [1, 2, 3, 7] {
            let parallel: Vec<String> = verify_parallel(envelopes.clone(), threads)
                .into_iter()
                .map(|result| format!("{:?}", result.map(|e| e.id())))
                .collect();
            assert_eq!(parallel, one_by_one, "{threads} threads");
        }
    }
}
