//! Records kept here: the list, and one record with its signature checked.

use super::incident::Clocks;
use super::*;

/// Records kept here, searched by kind and school year, a page at a time.
pub(super) async fn records(
    State(app): Shared,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let language = viewer.language;
    let kind = query.get("kind").and_then(|text| text.parse::<edusync_core::RecordKind>().ok());
    let year_text = query.get("school_year").cloned().unwrap_or_default();
    let year = match year_text.trim() {
        "" => None,
        text => match text.parse::<SchoolYear>() {
            Ok(year) => Some(year),
            Err(error) => {
                let message =
                    edusync_i18n::validation_error(&ValidationError { field: "school_year".into(), ..error }, language);
                return problem_page(&app, &viewer, StatusCode::BAD_REQUEST, &message);
            }
        },
    };
    let page_token = query.get("page").cloned().unwrap_or_default();
    let request = wire::ListRecordsRequest {
        kind: kind.map(edusync_proto::kind_to_wire).unwrap_or_default(),
        school_year_start: year.map(|year| u32::from(year.start_year())).unwrap_or_default(),
        limit: 100,
        page_token,
        ..Default::default()
    };
    let listed = match app.node().await {
        Ok((mut client, _)) => client.list_records(request).await,
        Err(error) => return problem_page(&app, &viewer, StatusCode::BAD_GATEWAY, &error),
    };
    let listed = match listed {
        Ok(listed) => listed.into_inner(),
        Err(status) => return problem_page(&app, &viewer, StatusCode::FORBIDDEN, &said(&status, language).1),
    };
    // The node lists newest first: the one just stored at the top.
    let rows: Vec<&wire::StoredRecord> = listed.records.iter().collect();
    // The "stored" notice only for a record the node holds: a link with a
    // made-up id shows none.
    let mut stored = None;
    if let Some(id) = query.get("stored").filter(|id| id.len() >= 8 && id.bytes().all(|byte| byte.is_ascii_hexdigit()))
    {
        if let Ok((mut client, _)) = app.node().await {
            if client.get_record(wire::GetRecordRequest { record_id: id.clone() }).await.is_ok() {
                stored = Some(id.clone());
            }
        }
    }
    let next = (!listed.next_page_token.is_empty()).then(|| {
        format!(
            "/records?kind={}&school_year={}&page={}",
            kind.map(|kind| kind.as_str()).unwrap_or_default(),
            year_text.trim(),
            listed.next_page_token
        )
    });
    let body = html! {
        h1 { (Label::Records.text(language)) }
        @if let Some(id) = stored {
            p.notice role="status" {
                @if query.get("already").is_some_and(|value| value == "1") { (Label::AlreadyStored.text(language)) }
                @else { (Label::Stored.text(language)) }
                " " code { (id) }
            }
        }
        p {
            (Label::NewRecord.text(language)) ": "
            a href="/records/new" { (super::entry::kind_name(edusync_core::RecordKind::Incident, language)) }
            @for kind in super::entry::FORM_KINDS { " · " a href=(format!("/records/new/{kind}")) { (super::entry::kind_name(kind, language)) } }
            " · " a href="/records/upload" { (Label::Upload.text(language)) }
        }
        form method="get" action="/records" {
            label for="kind" { (Label::Kind.text(language)) }
            select id="kind" name="kind" {
                option value="" { (Label::AllKinds.text(language)) }
                @for each in edusync_core::RecordKind::ALL {
                    option value=(each.as_str()) selected[kind == Some(*each)] { (super::entry::kind_name(*each, language)) }
                }
            }
            label for="school_year" { (Label::SchoolYear.text(language)) " (" (Label::Optional.text(language)) ")" }
            input id="school_year" name="school_year" value=(year_text) placeholder="2025-2026";
            button type="submit" { (Label::Search.text(language)) }
        }
        @if rows.is_empty() { p { (Label::NoRecords.text(language)) } }
        @else {
            table #records {
                tr {
                    th { (Label::Record.text(language)) } th { (Label::Kind.text(language)) }
                    th { (Label::Author.text(language)) } th { (Label::Sequence.text(language)) }
                    th { (Label::Written.text(language)) } th { }
                }
                @for stored in rows {
                    @let header = stored.header.clone().unwrap_or_default();
                    @let kind = edusync_core::RecordKind::from_payload_type(&header.payload_type);
                    tr {
                        td { a href=(format!("/records/{}", hex::encode(&header.record_id))) { code { (hex::encode(header.record_id.get(..8).unwrap_or_default())) } } }
                        td { (kind.map(|kind| super::entry::kind_name(kind, language).to_owned()).unwrap_or_else(|| header.payload_type.clone())) }
                        td { (header.author_org) }
                        td { (header.seq) }
                        td { (header.created_at.map(|t| timestamp(t.seconds, app.utc_offset)).unwrap_or_default()) }
                        td { (summary(stored, language)) }
                    }
                }
            }
        }
        @if let Some(next) = next { p { a href=(next) rel="next" { (Label::NextPage.text(language)) } } }
    };
    signed_in_page(&app, &viewer, Label::Records.text(language), body).await
}

/// One record: its header, whether its signature verifies here, and its fields.
pub(super) async fn record_page(
    State(app): Shared,
    viewer: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let language = viewer.language;
    let answer = match app.node().await {
        Ok((mut client, _)) => client.get_record(wire::GetRecordRequest { record_id: id.clone() }).await,
        Err(error) => return problem_page(&app, &viewer, StatusCode::BAD_GATEWAY, &error),
    };
    let stored = match answer {
        Ok(stored) => stored.into_inner(),
        Err(status) => return problem_page(&app, &viewer, StatusCode::NOT_FOUND, &said(&status, language).1),
    };
    let bytes = stored.envelope.as_ref().map(|envelope| envelope.envelope.clone()).unwrap_or_default();
    // Checked here, from the signed bytes, not taken from the node's word.
    let verified =
        edusync_envelope::VerifiedEnvelope::verify(bytes).map_err(|error| error.to_string()).and_then(|envelope| {
            let actual = hex::encode(envelope.id().0);
            if actual.starts_with(&id.to_ascii_lowercase()) {
                Ok(envelope)
            } else {
                Err(format!("the node answered with record {actual} for {id}"))
            }
        });
    let decoded = stored.record.clone().and_then(|record| Record::try_from(record).ok());
    let fields = decoded.as_ref().and_then(|record| serde_json::to_string_pretty(record).ok()).unwrap_or_default();
    let body = html! {
        h1 { (Label::Record.text(language)) " " code { (id.get(..16).unwrap_or(&id)) } }
        @match &verified {
            Ok(envelope) => {
                p.notice id="signature" {
                    (Label::SignatureHolds.text(language)) " "
                    (envelope.header().author_org.to_string()) " #" (envelope.header().seq.0) ", key " code { (envelope.header().author_key.to_string()) }
                }
            }
            Err(error) => { p.problem id="signature" { (Label::SignatureFails.text(language)) ": " (error) } }
        }
        @if let Some(Record::Incident(incident)) = &decoded {
            (incident_clocks(incident, &Clocks::in_force(&app).await, app.utc_offset, language))
            p { a href=(format!("/records/new?follow_up_of={}", hex::encode(stored.header.as_ref().map(|h| h.record_id.clone()).unwrap_or_default()))) { (Label::FollowUpOf.text(language)) } }
        }
        pre { (fields) }
    };
    signed_in_page(&app, &viewer, Label::Record.text(language), body).await
}

/// One line about a record, from its decoded fields.
fn summary(stored: &wire::StoredRecord, language: Language) -> String {
    let Some(record) = stored.record.clone() else { return String::new() };
    let name = |code: &str| edusync_i18n::value_name(code, language);
    match Record::try_from(record) {
        Ok(Record::Incident(incident)) => format!(
            "{} · {} · {}",
            name(incident.category.as_str()),
            name(incident.severity.as_str()),
            name(incident.status.as_str())
        ),
        Ok(Record::Commitment(commitment)) => {
            format!("{} · {} × {}", commitment.school_year, name(commitment.kind.as_str()), commitment.count)
        }
        Ok(Record::PeriodicReport(report)) => format!("{} · {}", report.period, report.submitted_on),
        Ok(Record::RiskRegister(register)) => format!("{} · {}", register.period, register.screened_on),
        Ok(Record::Plan(plan)) => format!("{} · {}", plan.number, plan.title),
        Ok(Record::Policy(policy)) => format!("{} · {}", policy.number, policy.school_year),
        Ok(Record::Aggregate(aggregate)) => format!("{} r{}", aggregate.period, aggregate.revision),
        Ok(other) => other.kind().to_string(),
        Err(_) => String::new(),
    }
}

/// An incident's clocks from its detection: each due time, and whether it
/// is met, open or passed as of now.
fn incident_clocks(
    incident: &edusync_core::Incident,
    clocks: &Clocks,
    offset: chrono::FixedOffset,
    language: Language,
) -> Markup {
    let detected = incident.detected_at;
    let now = chrono::Utc::now();
    let due = [
        (
            Label::PhoneNotice,
            detected + chrono::Duration::hours(i64::from(clocks.phone_hours)),
            incident.reported_upward_at,
        ),
        (
            Label::WrittenNotice,
            detected + chrono::Duration::hours(i64::from(clocks.written_hours)),
            incident.reported_upward_at,
        ),
        (Label::InvestigationDue, detected + chrono::Duration::days(i64::from(clocks.investigation_days)), None),
    ];
    let concluded = !matches!(incident.status, IncidentStatus::Open | IncidentStatus::Investigating);
    html! {
        table #clocks {
            tr { th colspan="3" { (clocks.describe(language)) } }
            @for (label, due_at, done_at) in due {
                @let met = done_at.map(|at| at <= due_at).unwrap_or(label == Label::InvestigationDue && concluded);
                @let (class, state) = if met { ("on_time", Label::OnTime) } else if now > due_at { ("late", Label::Late) } else { ("not_yet_due", Label::NotYetDue) };
                tr {
                    td { (label.text(language)) }
                    td { (Label::DueBy.text(language)) " " (timestamp(due_at.timestamp(), offset)) }
                    td class=(class) { (state.text(language)) }
                }
            }
        }
    }
}
