//! A node's answer to `GetRollUp`, checked by its client rather than taken
//! on the node's word: the aggregate's and every child's signature (from the
//! signed bytes), that the total is exactly the node's own count plus its
//! children's, and each child's inclusion proof against the signed Merkle
//! root. The command line refuses an answer that fails any of it; the web
//! app shows each child's standing.

use edusync_core::{Aggregate, Counts, Record, RecordId};
use edusync_envelope::VerifiedEnvelope;
use edusync_proto::wire;
use edusync_rollup::{leaf, verify_inclusion, verify_roll_up, InclusionProof, SumNode};

/// Why a roll-up answer cannot be trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RollUpError {
    #[error("{what}: {reason}")]
    NotAnAggregate { what: String, reason: String },
    #[error("no inclusion proof for child {0}")]
    MissingProof(usize),
    #[error("{org} for {period}: {reason}")]
    Sum { org: String, period: String, reason: String },
}

/// One child's aggregate as the roll-up holds it, and whether its inclusion
/// proof leads to the signed root.
#[derive(Clone, Debug)]
pub struct CheckedChild {
    pub id: RecordId,
    pub aggregate: Aggregate,
    /// `Err` says why the proof fails.
    pub proof: Result<(), String>,
}

#[derive(Clone, Debug)]
pub struct CheckedRollUp {
    pub aggregate_id: RecordId,
    pub aggregate: Aggregate,
    pub children: Vec<CheckedChild>,
}

impl CheckedRollUp {
    /// Every child's proof holds (the signatures and the sum always do, or
    /// there is no `CheckedRollUp`).
    pub fn every_proof_holds(&self) -> bool {
        self.children.iter().all(|child| child.proof.is_ok())
    }

    pub fn proofs_checked(&self) -> usize {
        self.children.iter().filter(|child| child.proof.is_ok()).count()
    }
}

/// Checks a `GetRollUp` answer. Signatures and the sum are all-or-nothing;
/// each child's inclusion proof is judged on its own.
pub fn check_roll_up(roll_up: wire::RollUp) -> Result<CheckedRollUp, RollUpError> {
    let (aggregate_id, aggregate) =
        open(roll_up.aggregate.map(|envelope| envelope.envelope).unwrap_or_default(), "the node's aggregate")?;
    let mut opened = Vec::new();
    for (index, envelope) in roll_up.children.into_iter().enumerate() {
        let (id, child) = open(envelope.envelope, &format!("child {index}'s aggregate"))?;
        let proof = roll_up.proofs.get(index).ok_or(RollUpError::MissingProof(index))?.clone();
        opened.push((id, child, proof));
    }
    let summed: Vec<_> = opened.iter().map(|(id, child, _)| (child.org.clone(), *id, child.total.clone())).collect();
    let crosses: Vec<_> = opened.iter().map(|(_, child, _)| child.cross.clone()).collect();
    let sum_error = |reason: String| RollUpError::Sum {
        org: aggregate.org.to_string(),
        period: aggregate.period.to_string(),
        reason,
    };
    verify_roll_up(&aggregate, &summed, &crosses).map_err(|error| sum_error(error.to_string()))?;
    let children_sum = difference(&aggregate.total, &aggregate.own)
        .ok_or_else(|| sum_error("the total is smaller than the node's own count".to_owned()))?;
    let root = SumNode { hash: aggregate.children_root, sum: children_sum };
    let children = opened
        .into_iter()
        .map(|(id, child, proof)| {
            let holds = proof_from_wire(&proof).and_then(|proof| {
                verify_inclusion(&leaf(id, &child.total), &proof, &root).map_err(|error| error.to_string())
            });
            CheckedChild { id, aggregate: child, proof: holds }
        })
        .collect();
    Ok(CheckedRollUp { aggregate_id, aggregate, children })
}

fn open(bytes: Vec<u8>, what: &str) -> Result<(RecordId, Aggregate), RollUpError> {
    let refused = |reason: String| RollUpError::NotAnAggregate { what: what.to_owned(), reason };
    let envelope = VerifiedEnvelope::verify(bytes).map_err(|error| refused(error.to_string()))?;
    match edusync_proto::decode_record(&envelope.header().payload_type, envelope.record_bytes()) {
        Ok(Record::Aggregate(aggregate)) if aggregate.org == envelope.header().author_org => {
            Ok((envelope.id(), aggregate))
        }
        Ok(_) => Err(refused("not an aggregate of its signer".to_owned())),
        Err(error) => Err(refused(error.to_string())),
    }
}

fn difference(total: &Counts, own: &Counts) -> Option<Counts> {
    let cells = total
        .cells()
        .iter()
        .zip(own.cells())
        .map(|(total, own)| total.checked_sub(*own))
        .collect::<Option<Vec<u64>>>()?;
    Counts::from_cells("total", cells).ok()
}

fn proof_from_wire(proof: &wire::InclusionProof) -> Result<InclusionProof, String> {
    let path = proof
        .path
        .iter()
        .map(|node| {
            let hash: [u8; 32] =
                node.hash.as_slice().try_into().map_err(|_| "a proof hash is not 32 bytes".to_owned())?;
            let sum = Counts::from_cells("sum", node.sum.clone()).map_err(|error| error.to_string())?;
            Ok(SumNode { hash, sum })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(InclusionProof { index: proof.index, size: proof.size, path })
}
