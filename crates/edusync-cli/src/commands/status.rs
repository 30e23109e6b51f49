//! `edusync status`: how this node stands with its parent and its children, at a glance.

use chrono::{DateTime, Utc};

use edusync_proto::wire;

use super::NodeTarget;
use crate::failure::Failure;
use crate::output::{json, pad};
use edusync_i18n::{Language, Message};

fn time(timestamp: Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    timestamp.and_then(|time| DateTime::from_timestamp(time.seconds, time.nanos.max(0) as u32))
}

fn ago(time: DateTime<Utc>, now: DateTime<Utc>, language: Language) -> String {
    let seconds = (now - time).num_seconds().max(0);
    let message = match seconds {
        0..=119 => Message::SecondsAgo { count: seconds },
        120..=7199 => Message::MinutesAgo { count: seconds / 60 },
        7200..=172_799 => Message::HoursAgo { count: seconds / 3600 },
        _ => Message::DaysAgo { count: seconds / 86_400 },
    };
    message.text(language)
}

/// `edusync status`.
#[derive(clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) target: NodeTarget,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Follow the link to the parent until the parent holds every record of
    /// this node's shared log: a progress bar on a terminal, a line per
    /// change otherwise. Exit 0 when in sync, 3 after --timeout.
    #[arg(long, conflicts_with = "json")]
    follow: bool,
    /// With --follow: give up after this many seconds.
    #[arg(long, default_value_t = 3600, requires = "follow")]
    timeout: u64,
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

fn print_policy(policy: &wire::PolicyInForce, language: Language) {
    let say = |message: Message| message.text(language);
    let line = |label: Message, value: String| println!("  {} {value}", pad(&say(label), 14));
    let year = policy.school_year_start;
    let school_year = format!("{year}-{}", year + 1);
    println!("{}", say(Message::PolicyFor { school_year, from_above: policy.policies_from_above }));
    if let Some(privacy) = &policy.privacy {
        let settings = Message::PrivacySettings {
            crosses: privacy.demographic_crosses,
            per_release: (privacy.epsilon_per_release_millionths as f64 / 1e6).to_string(),
            per_school_year: (privacy.epsilon_per_school_year_millionths as f64 / 1e6).to_string(),
        };
        line(Message::PrivacyLabel, say(settings));
    }
    for sourced in &policy.deadlines {
        let Some(deadline) = &sourced.deadline else { continue };
        let due = deadline
            .due_on
            .as_ref()
            .map_or_else(|| "?".to_owned(), |d| format!("{}-{:02}-{:02}", d.year, d.month, d.day));
        let report = match wire::DeadlineKind::try_from(deadline.report) {
            Ok(wire::DeadlineKind::Semester1Report) => say(Message::Semester1Report),
            Ok(wire::DeadlineKind::SchoolYearReport) => say(Message::SchoolYearReport),
            Ok(wire::DeadlineKind::StaffCommitments) => say(Message::StaffCommitments),
            _ => "?".to_owned(),
        };
        let from = match wire::Level::try_from(deadline.level) {
            Ok(wire::Level::Ministry) => say(Message::FromTheMinistry),
            Ok(wire::Level::Province) => say(Message::FromProvinces),
            Ok(wire::Level::District) => say(Message::FromDistricts),
            Ok(wire::Level::School) => say(Message::FromSchools),
            _ => "?".to_owned(),
        };
        let source = format!("{}, {}", sourced.issuing_org, sourced.number);
        line(Message::DeadlineLabel, say(Message::Deadline { report, from, due, source }));
    }
    if let Some(timeliness) = &policy.incident_timeliness {
        let rules = Message::IncidentTimeliness {
            phone_hours: timeliness.phone_within_hours,
            written_hours: timeliness.written_within_hours,
            investigation_days: timeliness.investigation_within_days,
            source: policy.incident_timeliness_from.clone(),
        };
        line(Message::IncidentsLabel, say(rules));
    }
}

pub(crate) async fn run(args: StatusArgs, language: Language) -> Result<(), Failure> {
    if args.follow {
        return follow(&args.target, std::time::Duration::from_secs(args.timeout), language).await;
    }
    let (target, as_json) = (&args.target, args.json);
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
    // Alerts about the children (late or missing reports, repeated incidents...);
    // a node that cannot judge them still shows the rest of its status.
    let compliance = super::compliance::fetch(target, None).await;
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
            "identity_alerts": info.identity_alerts,
            "severe_notices": info.severe_notices.iter().map(|notice| serde_json::json!({
                "author_org": notice.author_org,
                "record_id": hex::encode(&notice.record_id),
                "created_at": time(notice.created_at).map(|t| t.to_rfc3339()),
                "ahead_of_log": notice.ahead_of_log,
            })).collect::<Vec<_>>(),
            "alerts": compliance.as_ref().ok().map(|compliance| compliance.alerts.iter().map(|alert| serde_json::json!({
                "org_id": alert.org_id, "code": alert.code, "message": alert.message,
            })).collect::<Vec<_>>()),
        });
        println!("{}", json(&document));
        return Ok(());
    }
    let say = |message: Message| message.text(language);
    // Labels are padded to one column in characters; each language has its own widths.
    let line = |label: Message, value: String| println!("  {} {value}", pad(&say(label), 14));
    println!("{} ({}) {}", info.org_id, edusync_i18n::value_name(&info.level, language), info.display_name);
    match parent {
        None if target.is_reader() => println!("{}", say(Message::SyncNotShownToReaders)),
        None => println!("{}", say(Message::NoParent)),
        Some(parent) => {
            println!(
                "{}",
                say(Message::ParentAt { parent: parent.parent_org.clone(), endpoint: parent.endpoint.clone() })
            );
            let contact = time(parent.last_contact)
                .map_or_else(|| say(Message::Never), |t| format!("{} ({})", ago(t, now, language), t.to_rfc3339()));
            line(Message::LastContact, contact);
            let acknowledged = Message::Acknowledged { seq: parent.acknowledged_seq, head: parent.local_head_seq };
            line(Message::AcknowledgedLabel, say(acknowledged));
            let oldest =
                time(parent.oldest_unsent_created_at).map_or_else(|| "-".to_owned(), |t| ago(t, now, language));
            line(Message::OutboxLabel, say(Message::Outbox { waiting: parent.outbox_depth, oldest }));
            let last_error =
                if parent.last_error.is_empty() { say(Message::NoneYet) } else { parent.last_error.clone() };
            line(Message::LastError, last_error);
            if parent.refused.is_empty() {
                line(Message::Refused, say(Message::NoneYet));
            }
            for refusal in &parent.refused {
                line(Message::Refused, say(Message::RefusedSeq { seq: refusal.seq, reason: refusal.reason.clone() }));
            }
        }
    }
    if children.is_empty() {
        println!("{}", say(Message::NoChildrenYet));
    } else {
        println!("{}", say(Message::ChildrenHeader));
        for (org, seq) in &children {
            println!("  {org:<20} {}", say(Message::UpToSeq { seq: *seq }));
        }
    }
    if let Some(policy) = &info.policy {
        print_policy(policy, language);
    }
    if !info.identity_alerts.is_empty() {
        println!("{}", say(Message::IdentityAlerts { count: info.identity_alerts.len() }));
        for alert in &info.identity_alerts {
            println!("  {alert}");
        }
    }
    if !info.severe_notices.is_empty() {
        println!("{}", say(Message::NoticesHeader));
        for notice in &info.severe_notices {
            let created = time(notice.created_at);
            println!(
                "  {:<20} {}  {} {}{}",
                notice.author_org,
                hex::encode(notice.record_id.get(..6).unwrap_or_default()),
                language.pick(["written", "ghi lúc", "写于"]),
                created.map_or_else(|| "-".to_owned(), |t| format!("{} ({})", ago(t, now, language), t.to_rfc3339())),
                if notice.ahead_of_log { format!("  {}", say(Message::AheadOfItsLog)) } else { String::new() }
            );
        }
    }
    if !info.equivocations.is_empty() {
        println!("{}", say(Message::Equivocations { count: info.equivocations.len() }));
    }
    match &compliance {
        Ok(compliance) if !compliance.alerts.is_empty() => {
            println!(
                "{}",
                say(Message::AlertsHeader {
                    school_year: compliance.school_year.clone(),
                    count: compliance.alerts.len()
                })
            );
            for alert in &compliance.alerts {
                println!("  {}", super::compliance::alert_text(alert, language));
            }
        }
        Ok(_) => {}
        Err(failure) => println!("{}", say(Message::AlertsUnavailable { reason: failure.text(language) })),
    }
    Ok(())
}

/// Watches the node's outbox drain into its parent. The sync itself is the
/// node's (it runs whether anyone watches); this only shows how far it is.
async fn follow(target: &NodeTarget, timeout: std::time::Duration, language: Language) -> Result<(), Failure> {
    // On a terminal a bar redrawn in place; otherwise (a log, a pipe) a line per change.
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = if terminal { indicatif::ProgressBar::new(0) } else { indicatif::ProgressBar::hidden() };
    bar.set_style(
        indicatif::ProgressStyle::with_template("[{bar:30}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("#> "),
    );
    let mut client = target.connect().await?;
    let started = std::time::Instant::now();
    let mut shown: Option<(u64, u64, String)> = None;
    loop {
        let info = client.get_node_info(wire::GetNodeInfoRequest {}).await.map_err(Failure::from_status)?.into_inner();
        let Some(parent) = info.parent else {
            bar.finish_and_clear();
            println!("{}", Message::NoParent.text(language));
            return Ok(());
        };
        let (acknowledged, head) = (parent.acknowledged_seq, parent.local_head_seq);
        if parent.outbox_depth == 0 {
            bar.finish_and_clear();
            println!("{}", Message::SyncDone { head }.text(language));
            return Ok(());
        }
        let now_showing = (acknowledged, head, parent.last_error.clone());
        if shown.as_ref() != Some(&now_showing) {
            let progress = Message::SyncProgress { acknowledged, head, waiting: parent.outbox_depth }.text(language);
            if terminal {
                bar.set_length(head);
                bar.set_position(acknowledged.min(head));
                bar.set_message(progress);
            } else {
                eprintln!("{progress}");
            }
            let error_changed = shown.as_ref().is_none_or(|(_, _, error)| *error != parent.last_error);
            if !parent.last_error.is_empty() && error_changed {
                let waiting = Message::SyncWaitingForParent { error: parent.last_error.clone() }.text(language);
                if terminal {
                    bar.println(waiting);
                } else {
                    eprintln!("{waiting}");
                }
            }
            shown = Some(now_showing);
        }
        if started.elapsed() >= timeout {
            bar.abandon();
            return Err(Failure::unreachable_message(Message::SyncTimedOut {
                waiting: parent.outbox_depth,
                seconds: timeout.as_secs(),
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
