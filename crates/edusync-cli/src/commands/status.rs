//! `edusync status`: how this node stands with its parent and its children, at a glance.

use chrono::{DateTime, Utc};

use edusync_proto::wire;

use super::NodeTarget;
use crate::failure::Failure;
use crate::output::json;

fn time(timestamp: Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    timestamp.and_then(|time| DateTime::from_timestamp(time.seconds, time.nanos.max(0) as u32))
}

fn ago(time: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - time).num_seconds().max(0);
    match seconds {
        0..=119 => format!("{seconds} s ago"),
        120..=7199 => format!("{} min ago", seconds / 60),
        7200..=172_799 => format!("{} h ago", seconds / 3600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

pub(crate) async fn run(target: &NodeTarget, as_json: bool) -> Result<(), Failure> {
    let mut client = target.connect().await?;
    let info = client.get_node_info(wire::GetNodeInfoRequest {}).await.map_err(Failure::from_status)?.into_inner();
    let now = Utc::now();
    let children: Vec<(String, u64)> = info
        .logs
        .iter()
        .filter(|log| log.author_org != info.org_id && log.stream == wire::LogStream::Shared as i32)
        .map(|log| (log.author_org.clone(), log.highest_contiguous_seq))
        .collect();
    let parent = info.parent.as_ref();
    if as_json {
        let document = serde_json::json!({
            "org_id": info.org_id,
            "level": info.level,
            "parent": parent.map(|parent| serde_json::json!({
                "org_id": parent.parent_org,
                "endpoint": parent.endpoint,
                "last_contact": time(parent.last_contact).map(|t| t.to_rfc3339()),
                "acknowledged_seq": parent.acknowledged_seq,
                "local_head_seq": parent.local_head_seq,
                "outbox_depth": parent.outbox_depth,
                "oldest_unsent_created_at": time(parent.oldest_unsent_created_at).map(|t| t.to_rfc3339()),
                "oldest_unsent_age_seconds": time(parent.oldest_unsent_created_at).map(|t| (now - t).num_seconds()),
                "last_error": (!parent.last_error.is_empty()).then_some(&parent.last_error),
                "refused": parent.refused.iter().map(|r| serde_json::json!({"seq": r.seq, "reason": r.reason})).collect::<Vec<_>>(),
            })),
            "children": children.iter().map(|(org, seq)| serde_json::json!({"org_id": org, "held_up_to_seq": seq})).collect::<Vec<_>>(),
            "equivocations": info.equivocations.len(),
            "severe_notices": info.severe_notices.iter().map(|notice| serde_json::json!({
                "author_org": notice.author_org,
                "record_id": hex::encode(&notice.record_id),
                "created_at": time(notice.created_at).map(|t| t.to_rfc3339()),
                "ahead_of_log": notice.ahead_of_log,
            })).collect::<Vec<_>>(),
        });
        println!("{}", json(&document));
        return Ok(());
    }
    println!("{} ({}) {}", info.org_id, info.level, info.display_name);
    match parent {
        None => println!("parent: none (top of the hierarchy)"),
        Some(parent) => {
            println!("parent {} at {}", parent.parent_org, parent.endpoint);
            println!(
                "  last contact   {}",
                time(parent.last_contact)
                    .map_or_else(|| "never".to_owned(), |t| format!("{} ({})", ago(t, now), t.to_rfc3339()))
            );
            println!(
                "  acknowledged   seq {} of {} in this node's shared log",
                parent.acknowledged_seq, parent.local_head_seq
            );
            let oldest = time(parent.oldest_unsent_created_at).map_or_else(|| "-".to_owned(), |t| ago(t, now));
            println!("  outbox         {} records waiting; oldest written {oldest}", parent.outbox_depth);
            println!(
                "  last error     {}",
                if parent.last_error.is_empty() { "none" } else { parent.last_error.as_str() }
            );
            if parent.refused.is_empty() {
                println!("  refused        none");
            }
            for refusal in &parent.refused {
                println!("  refused        seq {}: {}", refusal.seq, refusal.reason);
            }
        }
    }
    if children.is_empty() {
        println!("children: nothing received yet");
    } else {
        println!("children (what this node holds of each one's shared log):");
        for (org, seq) in &children {
            println!("  {org:<20} up to seq {seq}");
        }
    }
    if !info.severe_notices.is_empty() {
        println!("severe-incident notices from children (newest first):");
        for notice in &info.severe_notices {
            let created = time(notice.created_at);
            println!(
                "  {:<20} {}  written {}{}",
                notice.author_org,
                hex::encode(notice.record_id.get(..6).unwrap_or_default()),
                created.map_or_else(|| "-".to_owned(), |t| format!("{} ({})", ago(t, now), t.to_rfc3339())),
                if notice.ahead_of_log { "  [ahead of its log]" } else { "" }
            );
        }
    }
    if !info.equivocations.is_empty() {
        println!("EQUIVOCATIONS: {} log positions signed twice; see `edusync info`", info.equivocations.len());
    }
    Ok(())
}
