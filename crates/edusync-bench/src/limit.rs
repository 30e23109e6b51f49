//! The limit every other figure is read against: how fast this machine
//! verifies Ed25519 envelope signatures, one by one, in batches and over
//! every core. Ratios divide by the fastest of the three, measured in the
//! same run: a slower way would flatter every figure read against it.

use std::time::Instant;

use edusync_core::{LogStream, OrgId, Seq};
use edusync_envelope::{sign_envelope, EnvelopeDraft, NodeKey, VerifiedEnvelope};

#[derive(Clone, Debug, serde::Serialize)]
pub struct VerificationLimit {
    pub envelopes: usize,
    /// `verify_strict`, one envelope at a time.
    pub single_per_second: f64,
    /// `verify_many`: Ed25519 batch verification with the strict checks.
    pub batch_per_second: f64,
    /// `verify_strict` spread over every core of this machine.
    pub parallel_per_second: f64,
    pub threads: usize,
}

impl VerificationLimit {
    /// The fastest way this machine verified, and its rate: what every
    /// ratio divides by.
    pub fn fastest(&self) -> (&'static str, f64) {
        [
            ("verify_strict one by one", self.single_per_second),
            ("strict batch verification", self.batch_per_second),
            ("verify_strict over every core", self.parallel_per_second),
        ]
        .into_iter()
        .fold(("verify_strict one by one", 0.0), |best, way| if way.1 > best.1 { way } else { best })
    }
}

/// Signs `count` small envelopes and verifies them both ways.
pub fn measure_verification_limit(count: usize) -> Result<VerificationLimit, crate::BenchError> {
    let key = NodeKey::generate();
    let org = OrgId::parse("org", "VN.BENCH").map_err(|error| crate::BenchError::Setup(error.to_string()))?;
    let mut envelopes = Vec::with_capacity(count);
    for index in 0..count {
        let record = (index as u64).to_be_bytes();
        let envelope = sign_envelope(
            &key,
            &EnvelopeDraft {
                payload_type: "edusync.v1.Commitment",
                author_org: &org,
                stream: LogStream::Shared,
                seq: Seq::FIRST,
                prev: None,
                created_unix_ms: 0,
                record: &record,
            },
        )
        .map_err(|error| crate::BenchError::Setup(error.to_string()))?;
        envelopes.push(envelope.into_bytes());
    }
    let started = Instant::now();
    let single_ok = envelopes.iter().filter(|bytes| VerifiedEnvelope::verify((*bytes).clone()).is_ok()).count();
    let single = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let batch_ok = edusync_envelope::verify_many(envelopes.clone()).iter().filter(|result| result.is_ok()).count();
    let batch = started.elapsed().as_secs_f64();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let started = Instant::now();
    let parallel_ok =
        edusync_envelope::verify_parallel(envelopes, threads).iter().filter(|result| result.is_ok()).count();
    let parallel = started.elapsed().as_secs_f64();
    if single_ok != count || batch_ok != count || parallel_ok != count {
        return Err(crate::BenchError::Setup("a freshly signed envelope did not verify".into()));
    }
    Ok(VerificationLimit {
        envelopes: count,
        single_per_second: count as f64 / single.max(1e-9),
        batch_per_second: count as f64 / batch.max(1e-9),
        parallel_per_second: count as f64 / parallel.max(1e-9),
        threads,
    })
}
