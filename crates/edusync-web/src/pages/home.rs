//! The home page: who this node is, its link upward, and what is due.

use super::*;

pub(super) async fn home(State(app): Shared, viewer: Viewer) -> Response {
    let language = viewer.language;
    let info = match app.node().await {
        Ok((mut client, _)) => client.get_node_info(wire::GetNodeInfoRequest {}).await,
        Err(error) => return problem_page(&app, &viewer, StatusCode::BAD_GATEWAY, &error),
    };
    let info = match info {
        Ok(info) => info.into_inner(),
        Err(status) => return problem_page(&app, &viewer, StatusCode::BAD_GATEWAY, &said(&status, language).1),
    };
    if let Ok(mut org) = app.org.lock() {
        org.clone_from(&info.org_id);
    }
    let body = html! {
        h1 { (info.display_name) " — " (info.org_id) }
        p { (edusync_i18n::value_name(&info.level, language)) }
        @if let Some(parent) = &info.parent {
            table {
                tr { th { (Label::Parent.text(language)) } td { (parent.parent_org) } }
                tr { th { (Label::LastContact.text(language)) } td { (parent.last_contact.as_ref().map(|t| timestamp(t.seconds, app.utc_offset)).unwrap_or_else(|| Label::Never.text(language).to_owned())) } }
                tr { th { (Label::Outbox.text(language)) } td #outbox { (parent.outbox_depth) } }
                tr { th { (Label::ParentHolds.text(language)) } td { "#" (parent.acknowledged_seq) " / #" (parent.local_head_seq) } }
                @if !parent.last_error.is_empty() { tr { th { (Label::LastError.text(language)) } td { (parent.last_error) } } }
            }
            @if !parent.refused.is_empty() {
                h2 { (Label::RefusedAbove.text(language)) }
                ul { @for refusal in &parent.refused { li { code { (hex::encode(refusal.record_id.get(..8).unwrap_or_default())) } " #" (refusal.seq) ": " (refusal.reason) } } }
            }
        }
        @if let Some(policy) = &info.policy {
            @if !policy.deadlines.is_empty() {
                h2 { (Label::Deadlines.text(language)) }
                ul {
                    @for sourced in &policy.deadlines {
                        @if let Some(deadline) = &sourced.deadline {
                            li {
                                @let kind = wire::DeadlineKind::try_from(deadline.report).map(|kind| kind.as_str_name().trim_start_matches("DEADLINE_KIND_").to_lowercase().replace("semester1", "semester_1")).unwrap_or_default();
                                @let level = wire::Level::try_from(deadline.level).map(|level| level.as_str_name().trim_start_matches("LEVEL_").to_lowercase()).unwrap_or_default();
                                @let due = deadline.due_on.as_ref().and_then(|d| chrono::NaiveDate::from_ymd_opt(d.year, d.month, d.day));
                                (edusync_i18n::value_name(&kind, language)) " · " (edusync_i18n::value_name(&level, language))
                                " · " (Label::DueBy.text(language)) " " (due.map(|due| due.to_string()).unwrap_or_default())
                                @if let Some(due) = due {
                                    @let today = chrono::Utc::now().with_timezone(&app.utc_offset).date_naive();
                                    " — " @if due < today { span.late { (Label::Late.text(language)) } } @else { span.not_yet_due { ((due - today).num_days()) " d" } }
                                }
                                " (" (sourced.issuing_org) ", " (sourced.number) ")"
                            }
                        }
                    }
                }
            }
        }
        @if !info.severe_notices.is_empty() {
            h2 { (Label::Notices.text(language)) }
            ul { @for notice in &info.severe_notices { li { (notice.author_org) " · " (notice.created_at.as_ref().map(|t| format!("{} ({} {})", timestamp(t.seconds, app.utc_offset), (chrono::Utc::now().timestamp() - t.seconds).max(0) / 3600, Label::HoursAgo.text(language))).unwrap_or_default()) } } }
        }
    };
    signed_in_page(&app, &viewer, Label::Home.text(language), body).await
}
