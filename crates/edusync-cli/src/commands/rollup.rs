//! `edusync rollup`: fetch a node's aggregate with what it summed, and check
//! it here — every signature, the total, and each child's inclusion proof.

use edusync_core::{Aggregate, Counts, Period, Record, RecordId};
use edusync_envelope::VerifiedEnvelope;
use edusync_proto::wire;
use edusync_rollup::{leaf, verify_inclusion, verify_roll_up, InclusionProof, SumNode};

use super::NodeTarget;
use crate::failure::Failure;
use crate::output::{json, pad};

/// A node's aggregate for a period and the children's it summed, every
/// signature, the sum and each inclusion proof verified here.
pub(crate) struct Checked {
    pub(crate) aggregate_id: RecordId,
    pub(crate) aggregate: Aggregate,
    pub(crate) children: Vec<Aggregate>,
    rows: Vec<(edusync_core::OrgId, u32, u64, u64, RecordId)>,
    proofs_checked: usize,
}

/// Fetches and verifies; `None` when the node has no aggregate for the period.
pub(crate) async fn fetch_verified(period: Period, target: &NodeTarget) -> Result<Option<Checked>, Failure> {
    let client = target.connect().await?;
    let answer = super::ask_again_while_unavailable(|| {
        let mut client = client.clone();
        async move {
            client.get_roll_up(wire::GetRollUpRequest { period: Some(edusync_proto::period_to_wire(period)) }).await
        }
    })
    .await;
    let roll_up = match answer {
        Ok(roll_up) => roll_up,
        Err(status) if status.code() == tonic::Code::NotFound => return Ok(None),
        Err(status) => return Err(Failure::from_status(status)),
    };

    let (aggregate_id, aggregate) =
        open(roll_up.aggregate.map(|envelope| envelope.envelope).unwrap_or_default(), "the node's aggregate")?;
    let mut children = Vec::new();
    let mut children_aggregates = Vec::new();
    let mut crosses = Vec::new();
    let mut rows = Vec::new();
    for (index, envelope) in roll_up.children.into_iter().enumerate() {
        let (id, child) = open(envelope.envelope, "a child's aggregate")?;
        let proof = roll_up
            .proofs
            .get(index)
            .ok_or_else(|| Failure::other(anyhow::anyhow!("no inclusion proof for child {index}")))?;
        rows.push((
            child.org.clone(),
            child.revision,
            child.total.incident_cases(),
            child.total.get(edusync_core::Cell::ContributingSchools),
            id,
            proof.clone(),
        ));
        children.push((child.org.clone(), id, child.total.clone()));
        crosses.push(child.cross.clone());
        children_aggregates.push(child);
    }
    verify_roll_up(&aggregate, &children, &crosses)
        .map_err(|error| Failure::other(anyhow::anyhow!("{} for {period}: {error}", aggregate.org)))?;
    let children_sum = difference(&aggregate.total, &aggregate.own)?;
    let root = SumNode { hash: aggregate.children_root, sum: children_sum };
    let mut proofs_checked = 0;
    for (org, _, _, _, id, proof) in &rows {
        let total = children
            .iter()
            .find(|(child, ..)| child == org)
            .map(|(_, _, total)| total.clone())
            .unwrap_or_else(Counts::zero);
        let proof = proof_from_wire(proof)?;
        verify_inclusion(&leaf(*id, &total), &proof, &root)
            .map_err(|error| Failure::other(anyhow::anyhow!("inclusion proof of {org}: {error}")))?;
        proofs_checked += 1;
    }
    Ok(Some(Checked {
        aggregate_id,
        aggregate,
        children: children_aggregates,
        rows: rows
            .into_iter()
            .map(|(org, revision, cases, schools, id, _)| (org, revision, cases, schools, id))
            .collect(),
        proofs_checked,
    }))
}

pub(crate) async fn run(period: &str, target: &NodeTarget, as_json: bool) -> Result<(), Failure> {
    let period = super::period_arg(period)?;
    let Checked { aggregate_id, aggregate, rows, proofs_checked, .. } =
        fetch_verified(period, target).await?.ok_or_else(|| {
            Failure::input(format!("the node has no aggregate for {period}: nothing has been counted for that period"))
        })?;

    if as_json {
        let document = serde_json::json!({
            "org_id": aggregate.org.to_string(),
            "period": period.to_string(),
            "aggregate_record_id": aggregate_id.to_hex(),
            "revision": aggregate.revision,
            "incident_cases": aggregate.total.incident_cases(),
            "own_incident_cases": aggregate.own.incident_cases(),
            "children": rows.iter().map(|(org, revision, cases, schools, id)| serde_json::json!({
                "org_id": org.to_string(), "revision": revision, "incident_cases": cases,
                "contributing_schools": schools, "aggregate_record_id": id.to_hex(), "inclusion_proof": "verified",
            })).collect::<Vec<_>>(),
            "verified": true,
        });
        println!("{}", json(&document));
        return Ok(());
    }
    println!(
        "{} {period}: revision {}, {} incident cases ({} of its own), {} contributing schools",
        aggregate.org,
        aggregate.revision,
        aggregate.total.incident_cases(),
        aggregate.own.incident_cases(),
        aggregate.total.get(edusync_core::Cell::ContributingSchools)
    );
    println!("{} {} {} {} PROOF", pad("CHILD", 20), pad("REVISION", 9), pad("CASES", 6), pad("SCHOOLS", 8));
    for (org, revision, cases, schools, ..) in &rows {
        println!(
            "{} {} {} {} verified",
            pad(org.as_str(), 20),
            pad(&revision.to_string(), 9),
            pad(&cases.to_string(), 6),
            pad(&schools.to_string(), 8)
        );
    }
    println!(
        "verified: {} signatures, the total is exactly its own count plus its children's, and {proofs_checked} inclusion proofs lead to the signed Merkle root",
        1 + rows.len()
    );
    Ok(())
}

fn open(bytes: Vec<u8>, what: &str) -> Result<(RecordId, Aggregate), Failure> {
    let envelope =
        VerifiedEnvelope::verify(bytes).map_err(|error| Failure::other(anyhow::anyhow!("{what}: {error}")))?;
    match edusync_proto::decode_record(&envelope.header().payload_type, envelope.record_bytes()) {
        Ok(Record::Aggregate(aggregate)) if aggregate.org == envelope.header().author_org => {
            Ok((envelope.id(), aggregate))
        }
        Ok(_) => Err(Failure::other(anyhow::anyhow!("{what}: not an aggregate of its signer"))),
        Err(error) => Err(Failure::other(anyhow::anyhow!("{what}: {error}"))),
    }
}

fn difference(total: &Counts, own: &Counts) -> Result<Counts, Failure> {
    let cells = total
        .cells()
        .iter()
        .zip(own.cells())
        .map(|(total, own)| total.checked_sub(*own))
        .collect::<Option<Vec<u64>>>()
        .ok_or_else(|| Failure::other(anyhow::anyhow!("the total is smaller than the node's own count")))?;
    Counts::from_cells("total", cells).map_err(|error| Failure::other(anyhow::Error::new(error)))
}

fn proof_from_wire(proof: &wire::InclusionProof) -> Result<InclusionProof, Failure> {
    let path = proof
        .path
        .iter()
        .map(|node| {
            let hash: [u8; 32] = node
                .hash
                .as_slice()
                .try_into()
                .map_err(|_| Failure::other(anyhow::anyhow!("a proof hash is not 32 bytes")))?;
            let sum = Counts::from_cells("sum", node.sum.clone())
                .map_err(|error| Failure::other(anyhow::Error::new(error)))?;
            Ok(SumNode { hash, sum })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    Ok(InclusionProof { index: proof.index, size: proof.size, path })
}
