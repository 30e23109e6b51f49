//! Merkle sum trees over children's aggregates.
//!
//! ```text
//! leaf  = SHA-256(0x00 || child envelope id (32 bytes) || counts)   sum = counts
//! node  = SHA-256(0x01 || left.hash || right.hash || sum)           sum = left.sum + right.sum
//! empty = SHA-256("")                                                sum = 0
//! counts bytes = u16 cell count, then each cell as u64, big-endian
//! ```
//! The split is RFC 6962's: the left subtree holds the largest power of two
//! smaller than the number of leaves. Leaves are ordered by child
//! organisation id. Every sum is overflow-checked.

use sha2::{Digest, Sha256};

use edusync_core::{Aggregate, Cell, CountOverflow, Counts, NoisyCross, OrgId, RecordId};

/// A node of a Merkle sum tree: its hash and the sum of the counts below it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SumNode {
    pub hash: [u8; 32],
    pub sum: Counts,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error(transparent)]
    Overflow(#[from] CountOverflow),
    #[error("leaf {index} is outside a tree of {size} leaves")]
    OutOfRange { index: u64, size: u64 },
    #[error("the inclusion proof has the wrong length for leaf {index} of {size}")]
    ProofShape { index: u64, size: u64 },
    #[error("the proof leads to root {computed}, not to the signed root {expected}")]
    RootMismatch { computed: String, expected: String },
    #[error("the proof's sums lead to a total that differs from the signed total")]
    SumMismatch,
    #[error("total is not own plus the children's sum (first difference in cell {cell})")]
    TotalMismatch { cell: usize },
    #[error("the aggregate says {claimed} children but {given} were given")]
    ChildCount { claimed: u32, given: usize },
    #[error("the demographic crosses are not the sum of the children's")]
    CrossMismatch,
}

/// Sums released crosses; `None` when none of the parts has one.
pub fn sum_crosses<'a>(
    parts: impl IntoIterator<Item = Option<&'a NoisyCross>>,
) -> Result<Option<NoisyCross>, CountOverflow> {
    let mut total: Option<NoisyCross> = None;
    for part in parts.into_iter().flatten() {
        total = Some(match total {
            None => part.clone(),
            Some(sum) => sum.checked_add(part).ok_or(CountOverflow { cell: 0 })?,
        });
    }
    Ok(total)
}

pub fn leaf(envelope: RecordId, counts: &Counts) -> SumNode {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(envelope.0);
    hasher.update(counts.to_bytes());
    SumNode { hash: hasher.finalize().into(), sum: counts.clone() }
}

fn node(left: &SumNode, right: &SumNode) -> Result<SumNode, CountOverflow> {
    let sum = left.sum.checked_add(&right.sum)?;
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left.hash);
    hasher.update(right.hash);
    hasher.update(sum.to_bytes());
    Ok(SumNode { hash: hasher.finalize().into(), sum })
}

fn split(size: usize) -> usize {
    let mut k = 1;
    while k * 2 < size {
        k *= 2;
    }
    k
}

/// The root of the tree over `leaves`, in the order given.
pub fn tree_root(leaves: &[SumNode]) -> Result<SumNode, CountOverflow> {
    match leaves.len() {
        0 => Ok(SumNode { hash: edusync_core::EMPTY_CHILDREN_ROOT, sum: Counts::zero() }),
        1 => Ok(leaves[0].clone()),
        size => {
            let k = split(size);
            node(&tree_root(&leaves[..k])?, &tree_root(&leaves[k..])?)
        }
    }
}

/// What a node summed for one period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolledUp {
    pub total: Counts,
    pub root: [u8; 32],
    pub children: u32,
}

/// Adds the children's latest aggregates to a node's own counts. `children`
/// holds, per child, its organisation id, the id of the envelope carrying its
/// aggregate, and that aggregate's total; leaves are ordered by org id.
pub fn roll_up(own: &Counts, children: &[(OrgId, RecordId, Counts)]) -> Result<RolledUp, CountOverflow> {
    let leaves = ordered_leaves(children);
    let root = tree_root(&leaves)?;
    Ok(RolledUp { total: own.checked_add(&root.sum)?, root: root.hash, children: leaves.len() as u32 })
}

fn ordered_leaves(children: &[(OrgId, RecordId, Counts)]) -> Vec<SumNode> {
    let mut sorted: Vec<&(OrgId, RecordId, Counts)> = children.iter().collect();
    sorted.sort_by(|left, right| left.0.cmp(&right.0));
    sorted.into_iter().map(|(_, envelope, counts)| leaf(*envelope, counts)).collect()
}

/// Checks that an aggregate's total and root are exactly what its children
/// give, and — for a node that is not itself a school, and so releases no
/// crosses of its own — that its crosses are exactly its children's summed.
pub fn verify_roll_up(
    aggregate: &Aggregate,
    children: &[(OrgId, RecordId, Counts)],
    children_crosses: &[Option<NoisyCross>],
) -> Result<(), MerkleError> {
    if aggregate.children as usize != children.len() {
        return Err(MerkleError::ChildCount { claimed: aggregate.children, given: children.len() });
    }
    let rolled = roll_up(&aggregate.own, children)?;
    if rolled.root != aggregate.children_root {
        return Err(MerkleError::RootMismatch { computed: hex(&rolled.root), expected: hex(&aggregate.children_root) });
    }
    if let Some(cell) = rolled.total.cells().iter().zip(aggregate.total.cells()).position(|(a, b)| a != b) {
        return Err(MerkleError::TotalMismatch { cell });
    }
    // Last: a wrong set of children is the likelier fault, and the checks above name it.
    if aggregate.own.get(Cell::ContributingSchools) == 0 {
        let summed = sum_crosses(children_crosses.iter().map(Option::as_ref))?;
        if summed != aggregate.cross {
            return Err(MerkleError::CrossMismatch);
        }
    }
    Ok(())
}

/// The siblings from one leaf up to the root (RFC 6962 audit path), with their sums.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    pub path: Vec<SumNode>,
}

pub fn prove_inclusion(leaves: &[SumNode], index: usize) -> Result<InclusionProof, MerkleError> {
    if index >= leaves.len() {
        return Err(MerkleError::OutOfRange { index: index as u64, size: leaves.len() as u64 });
    }
    let mut path = Vec::new();
    audit_path(index, leaves, &mut path)?;
    Ok(InclusionProof { index: index as u64, size: leaves.len() as u64, path })
}

fn audit_path(index: usize, leaves: &[SumNode], path: &mut Vec<SumNode>) -> Result<(), CountOverflow> {
    if leaves.len() <= 1 {
        return Ok(());
    }
    let k = split(leaves.len());
    if index < k {
        audit_path(index, &leaves[..k], path)?;
        path.push(tree_root(&leaves[k..])?);
    } else {
        audit_path(index - k, &leaves[k..], path)?;
        path.push(tree_root(&leaves[..k])?);
    }
    Ok(())
}

/// Checks that `leaf` is at `proof.index` of a tree whose root is `root`
/// (hash and sum), recomputing every hash and every sum on the way up
/// (RFC 9162, section 2.1.3.2).
pub fn verify_inclusion(leaf: &SumNode, proof: &InclusionProof, root: &SumNode) -> Result<(), MerkleError> {
    if proof.index >= proof.size {
        return Err(MerkleError::OutOfRange { index: proof.index, size: proof.size });
    }
    let shape = || MerkleError::ProofShape { index: proof.index, size: proof.size };
    let mut position = proof.index;
    let mut last = proof.size - 1;
    let mut current = leaf.clone();
    for sibling in &proof.path {
        if last == 0 {
            return Err(shape());
        }
        if position & 1 == 1 || position == last {
            current = node(sibling, &current)?;
            if position & 1 == 0 {
                while position & 1 == 0 && position != 0 {
                    position >>= 1;
                    last >>= 1;
                }
            }
        } else {
            current = node(&current, sibling)?;
        }
        position >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(shape());
    }
    if current.hash != root.hash {
        return Err(MerkleError::RootMismatch { computed: hex(&current.hash), expected: hex(&root.hash) });
    }
    if current.sum != root.sum {
        return Err(MerkleError::SumMismatch);
    }
    Ok(())
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use edusync_core::Cell;

    fn counts(value: u64) -> Counts {
        let mut counts = Counts::zero();
        counts.add_to(Cell::FollowUps, value).expect("fits");
        counts.add_to(Cell::ContributingSchools, 1).expect("fits");
        counts
    }

    fn leaves(size: usize) -> Vec<SumNode> {
        (0..size).map(|index| leaf(RecordId([index as u8; 32]), &counts(index as u64 * 3 + 1))).collect()
    }

    #[test]
    fn every_leaf_of_every_small_tree_proves_its_inclusion() {
        for size in 1..=40 {
            let leaves = leaves(size);
            let root = tree_root(&leaves).expect("no overflow");
            assert_eq!(root.sum.get(Cell::ContributingSchools), size as u64);
            for index in 0..size {
                let proof = prove_inclusion(&leaves, index).expect("in range");
                verify_inclusion(&leaves[index], &proof, &root).unwrap_or_else(|e| panic!("{index}/{size}: {e}"));
                // The same proof does not fit another leaf or another position.
                let other = (index + 1) % size;
                if other != index {
                    assert!(verify_inclusion(&leaves[other], &proof, &root).is_err(), "{index}/{size}");
                    let moved = InclusionProof { index: other as u64, ..proof.clone() };
                    assert!(verify_inclusion(&leaves[index], &moved, &root).is_err(), "{index}/{size}");
                }
            }
        }
    }

    #[test]
    fn a_changed_count_breaks_the_root_and_the_proof() {
        let leaves = leaves(7);
        let root = tree_root(&leaves).expect("no overflow");
        let proof = prove_inclusion(&leaves, 3).expect("in range");
        let forged = leaf(RecordId([3; 32]), &counts(999));
        assert!(verify_inclusion(&forged, &proof, &root).is_err());
        let mut lying_root = root.clone();
        lying_root.sum = counts(1);
        assert_eq!(verify_inclusion(&leaves[3], &proof, &lying_root), Err(MerkleError::SumMismatch));
    }

    #[test]
    fn roll_up_orders_children_and_refuses_overflow() {
        let org = |text: &str| OrgId::parse("org", text).expect("valid");
        let a = (org("VN.A"), RecordId([1; 32]), counts(1));
        let b = (org("VN.B"), RecordId([2; 32]), counts(2));
        let forward = roll_up(&Counts::zero(), &[a.clone(), b.clone()]).expect("sums");
        let backward = roll_up(&Counts::zero(), &[b, a.clone()]).expect("sums");
        assert_eq!(forward, backward);
        assert_eq!(forward.total.get(Cell::FollowUps), 3);
        let mut huge = Counts::zero();
        huge.add_to(Cell::FollowUps, u64::MAX).expect("fits");
        assert!(roll_up(&huge, &[a]).is_err());
    }

    #[test]
    fn the_empty_tree_root_is_the_sha256_of_nothing() {
        let digest: [u8; 32] = Sha256::digest([]).into();
        assert_eq!(tree_root(&[]).expect("empty").hash, digest);
    }

    proptest! {
        #[test]
        fn the_root_sum_is_the_sum_of_the_leaves(values in proptest::collection::vec(0u64..1_000_000, 0..60)) {
            let leaves: Vec<SumNode> =
                values.iter().enumerate().map(|(i, v)| leaf(RecordId([i as u8; 32]), &counts(*v))).collect();
            let root = tree_root(&leaves).expect("no overflow");
            prop_assert_eq!(root.sum.get(Cell::FollowUps), values.iter().sum::<u64>());
            prop_assert_eq!(root.sum.get(Cell::ContributingSchools), values.len() as u64);
        }
    }
}
