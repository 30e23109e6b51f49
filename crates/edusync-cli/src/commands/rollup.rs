//! `edusync rollup`: fetch a node's aggregate with what it summed, and check
//! it here — every signature, the total, and each child's inclusion proof.

use edusync_core::{Aggregate, Period, RecordId};
use edusync_proto::wire;

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
    let checked = edusync_node::check_roll_up(roll_up).map_err(|error| Failure::other(anyhow::Error::new(error)))?;
    if let Some(child) = checked.children.iter().find(|child| child.proof.is_err()) {
        let reason = child.proof.clone().err().unwrap_or_default();
        return Err(Failure::other(anyhow::anyhow!("inclusion proof of {}: {reason}", child.aggregate.org)));
    }
    let proofs_checked = checked.proofs_checked();
    let rows = checked
        .children
        .iter()
        .map(|child| {
            let total = &child.aggregate.total;
            (
                child.aggregate.org.clone(),
                child.aggregate.revision,
                total.incident_cases(),
                total.get(edusync_core::Cell::ContributingSchools),
                child.id,
            )
        })
        .collect();
    Ok(Some(Checked {
        aggregate_id: checked.aggregate_id,
        aggregate: checked.aggregate,
        children: checked.children.into_iter().map(|child| child.aggregate).collect(),
        rows,
        proofs_checked,
    }))
}

pub(crate) async fn run(
    period: &str,
    target: &NodeTarget,
    as_json: bool,
    language: edusync_i18n::Language,
) -> Result<(), Failure> {
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
    let (org, revision) = (&aggregate.org, aggregate.revision);
    let (cases, own) = (aggregate.total.incident_cases(), aggregate.own.incident_cases());
    let schools = aggregate.total.get(edusync_core::Cell::ContributingSchools);
    println!(
        "{}",
        language.pick([
            format!("{org} {period}: revision {revision}, {cases} incident cases ({own} of its own), {schools} contributing schools"),
            format!("{org} {period}: phiên bản {revision}, {cases} vụ việc ({own} của chính đơn vị), {schools} trường báo cáo"),
            format!("{org} {period}：第 {revision} 版，{cases} 起事件（本单位 {own} 起），{schools} 所学校上报"),
        ])
    );
    let say = |words: [&'static str; 3]| language.pick(words);
    let schools_header = say(["SCHOOLS", "SỐ TRƯỜNG", "学校数"]);
    let schools_width = schools_header.chars().count().max(8);
    println!(
        "{} {} {} {} {}",
        pad(say(["CHILD", "ĐƠN VỊ", "下级单位"]), 20),
        pad(say(["REVISION", "PHIÊN BẢN", "版本"]), 9),
        pad(say(["CASES", "SỐ VỤ", "案件"]), 6),
        pad(schools_header, schools_width),
        say(["PROOF", "BẰNG CHỨNG", "证明"])
    );
    for (org, revision, cases, schools, ..) in &rows {
        println!(
            "{} {} {} {} {}",
            pad(org.as_str(), 20),
            pad(&revision.to_string(), 9),
            pad(&cases.to_string(), 6),
            pad(&schools.to_string(), schools_width),
            say(["verified", "đã kiểm tra", "已验证"])
        );
    }
    let signatures = 1 + rows.len();
    println!(
        "{}",
        language.pick([
            format!("verified: {signatures} signatures, the total is exactly its own count plus its children's, and {proofs_checked} inclusion proofs lead to the signed Merkle root"),
            format!("đã kiểm tra: {signatures} chữ ký, tổng đúng bằng số của chính đơn vị cộng số của các đơn vị cấp dưới, và {proofs_checked} bằng chứng bao hàm dẫn tới gốc Merkle đã ký"),
            format!("已验证：{signatures} 个签名，总数恰为本单位自身数目加下级数目，{proofs_checked} 个包含证明通向已签名的 Merkle 根"),
        ])
    );
    Ok(())
}
