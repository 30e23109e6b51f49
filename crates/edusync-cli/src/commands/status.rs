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

fn deadline_name(report: i32) -> &'static str {
    match wire::DeadlineKind::try_from(report) {
        Ok(wire::DeadlineKind::Semester1Report) => "semester 1 report",
        Ok(wire::DeadlineKind::SchoolYearReport) => "school-year report",
        Ok(wire::DeadlineKind::StaffCommitments) => "staff commitments",
        _ => "?",
    }
}

fn level_name(level: i32) -> &'static str {
    match wire::Level::try_from(level) {
        Ok(wire::Level::Ministry) => "the ministry",
        Ok(wire::Level::Province) => "provinces",
        Ok(wire::Level::District) => "districts",
        Ok(wire::Level::School) => "schools",
        _ => "?",
    }
}

fn print_policy(policy: &wire::PolicyInForce) {
    let year = policy.school_year_start;
    println!("policy for {year}-{} ({} from the offices above)", year + 1, policy.policies_from_above);
    if let Some(privacy) = &policy.privacy {
        println!(
            "  privacy        demographic crosses {}; epsilon {} per release, {} per school year",
            if privacy.demographic_crosses { "on" } else { "off" },
            privacy.epsilon_per_release_millionths as f64 / 1e6,
            privacy.epsilon_per_school_year_millionths as f64 / 1e6
        );
    }
    for sourced in &policy.deadlines {
        let Some(deadline) = &sourced.deadline else { continue };
        let due = deadline
            .due_on
            .as_ref()
            .map_or_else(|| "?".to_owned(), |d| format!("{}-{:02}-{:02}", d.year, d.month, d.day));
        println!(
            "  deadline       {} from {}: {due} ({}, {})",
            deadline_name(deadline.report),
            level_name(deadline.level),
            sourced.issuing_org,
            sourced.number
        );
    }
    if let Some(timeliness) = &policy.incident_timeliness {
        println!(
            "  incidents      by phone within {} h, in writing within {} h, investigated within {} days ({})",
            timeliness.phone_within_hours,
            timeliness.written_within_hours,
            timeliness.investigation_within_days,
            policy.incident_timeliness_from
        );
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
            "policy": info.policy.as_ref().map(|policy| serde_json::json!({
                "school_year_start": policy.school_year_start,
                "policies_from_above": policy.policies_from_above,
                "privacy": policy.privacy.as_ref().map(|privacy| serde_json::json!({
                    "demographic_crosses": privacy.demographic_crosses,
                    "epsilon_per_release_millionths": privacy.epsilon_per_release_millionths,
                    "epsilon_per_school_year_millionths": privacy.epsilon_per_school_year_millionths,
                })),
                "deadlines": policy.deadlines.iter().filter_map(|sourced| {
                    let deadline = sourced.deadline.as_ref()?;
                    let due = deadline.due_on.as_ref()?;
                    Some(serde_json::json!({
                        "report": deadline_name(deadline.report),
                        "level": level_name(deadline.level),
                        "due_on": format!("{}-{:02}-{:02}", due.year, due.month, due.day),
                        "issuing_org": sourced.issuing_org,
                        "number": sourced.number,
                    }))
                }).collect::<Vec<_>>(),
            })),
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
    if let Some(policy) = &info.policy {
        print_policy(policy);
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
