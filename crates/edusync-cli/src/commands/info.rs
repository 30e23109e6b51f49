//! `edusync info`.

use edusync_proto::wire;

use super::NodeTarget;
use crate::failure::Failure;
use crate::output::json;

pub(crate) async fn run(target: &NodeTarget, as_json: bool) -> Result<(), Failure> {
    let mut client = target.connect().await?;
    let info = client.get_node_info(wire::GetNodeInfoRequest {}).await.map_err(Failure::from_status)?.into_inner();
    let kinds: Vec<(String, u64)> = info
        .kinds
        .iter()
        .map(|count| {
            let kind =
                edusync_proto::kind_from_wire("kind", count.kind).ok().flatten().map_or("?", |kind| kind.as_str());
            (kind.to_owned(), count.count)
        })
        .collect();
    let logs: Vec<serde_json::Value> = info
        .logs
        .iter()
        .map(|log| {
            serde_json::json!({
                "author_org": log.author_org,
                "stream": if log.stream == wire::LogStream::Local as i32 { "local" } else { "shared" },
                "highest_contiguous_seq": log.highest_contiguous_seq,
            })
        })
        .collect();
    let parent = info.parent.as_ref().map(|parent| {
        serde_json::json!({
            "parent_org": parent.parent_org,
            "endpoint": parent.endpoint,
            "last_contact": parent.last_contact.map(|t| chrono::DateTime::from_timestamp(t.seconds, 0).map(|t| t.to_rfc3339())),
            "acknowledged_seq": parent.acknowledged_seq,
            "last_error": (!parent.last_error.is_empty()).then_some(&parent.last_error),
            "refused": parent.refused.iter().map(|r| serde_json::json!({"seq": r.seq, "reason": r.reason})).collect::<Vec<_>>(),
        })
    });
    let document = serde_json::json!({
        "org_id": info.org_id,
        "level": info.level,
        "display_name": info.display_name,
        "total_records": info.total_records,
        "kinds": kinds.iter().map(|(kind, count)| (kind.clone(), *count)).collect::<std::collections::BTreeMap<_, _>>(),
        "logs": logs,
        "equivocations": info.equivocations.len(),
        "parent": parent,
    });
    if as_json {
        println!("{}", json(&document));
        return Ok(());
    }
    println!("{} ({}) {}", info.org_id, info.level, info.display_name);
    println!("records: {}", info.total_records);
    for (kind, count) in &kinds {
        println!("  {kind:<16} {count}");
    }
    println!("logs:");
    for log in &logs {
        let field = |name: &str| log[name].as_str().unwrap_or("?").to_owned();
        println!("  {} {} log up to seq {}", field("author_org"), field("stream"), log["highest_contiguous_seq"]);
    }
    if !info.equivocations.is_empty() {
        println!("EQUIVOCATIONS: {} positions where an author signed two different records", info.equivocations.len());
    }
    if let Some(parent) = &info.parent {
        println!(
            "parent {} at {}: acknowledged up to seq {}",
            parent.parent_org, parent.endpoint, parent.acknowledged_seq
        );
        if !parent.last_error.is_empty() {
            println!("  last error: {}", parent.last_error);
        }
        for refusal in &parent.refused {
            println!("  refused seq {}: {}", refusal.seq, refusal.reason);
        }
    }
    Ok(())
}
