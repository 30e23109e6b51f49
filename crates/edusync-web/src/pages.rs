//! The pages. Each handler asks the node, then renders with maud, which
//! escapes every value it interpolates.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use edusync_core::{
    IncidentCategory, IncidentStatus, IntakeChannel, PersonRole, PlaceCategory, Reason, Record, SchoolYear, Severity,
    Sex, ValidationError,
};
use edusync_i18n::Language;
use edusync_proto::wire;

use crate::labels::Label;
use crate::session::{session_cookie, Session, Sessions, COOKIE};
use crate::App;

type Shared = State<Arc<App>>;

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/login", get(login))
        .route("/", get(home))
        .route("/records", get(records))
        .route("/records/new", get(new_incident).post(submit_incident))
        .route("/records/{id}", get(record_page))
        .route("/tables", get(tables))
        .route("/tables.csv", get(tables_csv))
        .route("/enrolments", get(enrolments).post(approve_enrolment))
        .route("/compliance", get(compliance))
        .route(
            "/audit",
            get(audit_form).post(audit_verify).layer(axum::extract::DefaultBodyLimit::max(AUDIT_UPLOAD_LIMIT)),
        )
        .fallback(not_found)
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(app)
}

/// No script, no frame, no outside fetch, no referrer (the sign-in address
/// carries its token).
async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "cache-control", "no-store");
    response
}

/// The person looking at a page: their session and language.
struct Viewer {
    id: String,
    session: Session,
    language: Language,
}

fn language_asked(query: &HashMap<String, String>) -> Option<Language> {
    query.get("lang").and_then(|code| Language::parse(code))
}

/// The viewer, or the sign-in page (401) for a request without a valid session.
fn viewer(app: &App, headers: &HeaderMap, query: &HashMap<String, String>) -> Result<Viewer, Box<Response>> {
    let asked = language_asked(query);
    let Some((id, session)) = session_cookie(headers).and_then(|id| app.sessions.get(&id).map(|session| (id, session)))
    else {
        let language = asked.unwrap_or(app.language);
        return Err(Box::new((StatusCode::UNAUTHORIZED, render(sign_in_page(language))).into_response()));
    };
    let language = match asked {
        Some(language) => {
            app.sessions.set_language(&id, language);
            language
        }
        None => session.language,
    };
    Ok(Viewer { id, session, language })
}

/// Every page but sign-in takes its viewer from the request: a request
/// without a valid session is answered with the sign-in page (401), before
/// any handler asks the node anything.
impl axum::extract::FromRequestParts<Arc<App>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, app: &Arc<App>) -> Result<Viewer, Response> {
        let query =
            Query::<HashMap<String, String>>::try_from_uri(&parts.uri).map(|Query(query)| query).unwrap_or_default();
        viewer(app, &parts.headers, &query).map_err(|refused| *refused)
    }
}

fn sign_in_page(language: Language) -> maud::Markup {
    layout(
        language,
        Label::SignInTitle.text(language),
        None,
        html! {
            h1 { (Label::SignInTitle.text(language)) }
            p { (Label::SignInHelp.text(language)) }
        },
    )
}

/// A page as an HTTP response.
fn render(markup: Markup) -> Response {
    axum::response::Html(markup.into_string()).into_response()
}

fn code(language: Language) -> &'static str {
    match language {
        Language::English => "en",
        Language::Vietnamese => "vi",
        Language::Chinese => "zh",
    }
}

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa;line-height:1.45}
header{background:#0b4f6c;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.8rem;align-items:center}
header a{color:#fff}
main{padding:1rem;max-width:72rem;margin:auto}
nav a{margin-right:.8rem}
a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #f4a261;outline-offset:2px}
label{display:block;font-weight:600;margin-top:.8rem}
input,select,textarea{font:inherit;padding:.35rem;max-width:100%;box-sizing:border-box}
textarea{width:100%;min-height:5rem}
button{font:inherit;padding:.5rem 1rem;margin-top:1rem;background:#0b4f6c;color:#fff;border:0;border-radius:3px}
.error{color:#a4161a;font-weight:600}
.notice{background:#e9f5db;padding:.5rem}
.problem{background:#fde2e4;padding:.5rem}
table{border-collapse:collapse;margin:.5rem 0;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
.margin{color:#555;font-size:.85em}
.on_time{background:#d8f3dc}.late{background:#ffe8a3}.missing{background:#f8b4b4}.not_yet_due{background:#edf2f4}
.heat td{text-align:center}
fieldset{margin-top:1rem}
";

/// Who the page is for, for its header: the org, how the role reads, and
/// whether it is the node's operator (readers get no links to what the node
/// would refuse them).
struct Nav<'a> {
    org: &'a str,
    role: &'a str,
    operator: bool,
}

fn layout(language: Language, title: &str, nav: Option<Nav<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(code(language)) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — edusync" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "edusync" }
                    @if let Some(nav) = nav {
                        span { (Label::SignedInAs.text(language)) " " (nav.org) " (" (nav.role) ")" }
                        nav {
                            a href="/" { (Label::Home.text(language)) }
                            @if nav.operator {
                                a href="/records" { (Label::Records.text(language)) }
                                a href="/records/new" { (Label::NewIncident.text(language)) }
                            }
                            a href="/tables" { (Label::Tables.text(language)) }
                            a href="/compliance" { (Label::Compliance.text(language)) }
                            @if nav.operator { a href="/enrolments" { (Label::Enrolments.text(language)) } }
                            a href="/audit" { (Label::Audit.text(language)) }
                        }
                    }
                    span {
                        (Label::Language.text(language)) ": "
                        a href="?lang=vi" lang="vi" { "Tiếng Việt" } " · "
                        a href="?lang=zh" lang="zh" { "中文" } " · "
                        a href="?lang=en" lang="en" { "English" }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// What the node said, in the viewer's language when it named a field.
fn said(status: &tonic::Status, language: Language) -> (Option<String>, String) {
    match edusync_proto::validation_error_of(status) {
        Some(error) => (Some(error.field.clone()), edusync_i18n::validation_error(&error, language)),
        None => (None, status.message().to_owned()),
    }
}

fn role_label(role: &str, language: Language) -> String {
    match role {
        "operator" => Label::Operator.text(language).to_owned(),
        other => format!("{} ({other})", Label::Reader.text(language)),
    }
}

/// A page for a signed-in viewer, with the node's org and the role it speaks as.
async fn signed_in_page(app: &App, viewer: &Viewer, title: &str, body: Markup) -> Response {
    let role = match app.node().await {
        Ok((_, role)) => role,
        Err(_) => String::new(),
    };
    let org = app.org.lock().map(|org| org.clone()).unwrap_or_default();
    let nav = Nav { org: &org, role: &role_label(&role, viewer.language), operator: role == "operator" };
    render(layout(viewer.language, title, Some(nav), body))
}

fn problem_page(app: &App, viewer: &Viewer, status: StatusCode, message: &str) -> Response {
    let org = app.org.lock().map(|org| org.clone()).unwrap_or_default();
    (
        status,
        render(layout(
            viewer.language,
            Label::Refused.text(viewer.language),
            Some(Nav { org: &org, role: "", operator: false }),
            html! { p.problem { (Label::NodeSaid.text(viewer.language)) ": " (message) } },
        )),
    )
        .into_response()
}

async fn not_found(State(app): Shared, headers: HeaderMap) -> Response {
    match viewer(&app, &headers, &HashMap::new()) {
        Ok(viewer) => problem_page(&app, &viewer, StatusCode::NOT_FOUND, "no such page"),
        Err(refused) => *refused,
    }
}

async fn login(State(app): Shared, Query(query): Query<HashMap<String, String>>) -> Response {
    let language = language_asked(&query).unwrap_or(app.language);
    let token = query.get("token").map(String::as_str).unwrap_or_default();
    match app.sessions.sign_in(token, language) {
        Some(id) => {
            let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/");
            let mut response = Redirect::to("/").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        None => (StatusCode::UNAUTHORIZED, render(sign_in_page(language))).into_response(),
    }
}

async fn home(State(app): Shared, viewer: Viewer) -> Response {
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
        p { (info.level) }
        @if let Some(parent) = &info.parent {
            table {
                tr { th { "parent" } td { (parent.parent_org) } }
                tr { th { "last contact" } td { (parent.last_contact.as_ref().map(|t| timestamp(t.seconds, app.utc_offset)).unwrap_or_else(|| "—".into())) } }
                tr { th { "outbox" } td { (parent.outbox_depth) } }
                @if !parent.last_error.is_empty() { tr { th { "last error" } td { (parent.last_error) } } }
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
                                (wire::DeadlineKind::try_from(deadline.report).map(|kind| kind.as_str_name().to_lowercase()).unwrap_or_default())
                                " · " (wire::Level::try_from(deadline.level).map(|level| level.as_str_name().to_lowercase()).unwrap_or_default())
                                " · " (deadline.due_on.as_ref().map(|d| format!("{}-{:02}-{:02}", d.year, d.month, d.day)).unwrap_or_default())
                                " (" (sourced.issuing_org) ", " (sourced.number) ")"
                            }
                        }
                    }
                }
            }
        }
        @if !info.severe_notices.is_empty() {
            h2 { "severe notices" }
            ul { @for notice in &info.severe_notices { li { (notice.author_org) " · " (notice.created_at.as_ref().map(|t| format!("{} ({} h ago)", timestamp(t.seconds, app.utc_offset), (chrono::Utc::now().timestamp() - t.seconds).max(0) / 3600)).unwrap_or_default()) } } }
        }
    };
    signed_in_page(&app, &viewer, Label::Home.text(language), body).await
}

fn timestamp(seconds: i64, offset: chrono::FixedOffset) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|time| time.with_timezone(&offset).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

async fn records(State(app): Shared, viewer: Viewer, Query(query): Query<HashMap<String, String>>) -> Response {
    let language = viewer.language;
    let listed = match app.node().await {
        Ok((mut client, _)) => client.list_records(wire::ListRecordsRequest { limit: 200, ..Default::default() }).await,
        Err(error) => return problem_page(&app, &viewer, StatusCode::BAD_GATEWAY, &error),
    };
    let listed = match listed {
        Ok(listed) => listed.into_inner(),
        Err(status) => return problem_page(&app, &viewer, StatusCode::FORBIDDEN, &said(&status, language).1),
    };
    let mut rows: Vec<&wire::StoredRecord> = listed.records.iter().collect();
    // Newest first: the one just stored at the top.
    rows.sort_by_key(|stored| std::cmp::Reverse(stored.header.as_ref().and_then(|h| h.created_at).map(|t| t.seconds)));
    let stored = query.get("stored");
    let body = html! {
        h1 { (Label::Records.text(language)) }
        @if let Some(id) = stored {
            p.notice role="status" {
                @if query.get("already").is_some_and(|value| value == "1") { (Label::AlreadyStored.text(language)) }
                @else { (Label::Stored.text(language)) }
                " " code { (id) }
            }
        }
        @if rows.is_empty() { p { (Label::NoRecords.text(language)) } }
        @else {
            table {
                tr {
                    th { (Label::Record.text(language)) } th { (Label::Kind.text(language)) }
                    th { (Label::Author.text(language)) } th { (Label::Sequence.text(language)) }
                    th { (Label::Written.text(language)) } th { }
                }
                @for stored in rows {
                    @let header = stored.header.clone().unwrap_or_default();
                    tr {
                        td { a href=(format!("/records/{}", hex::encode(&header.record_id))) { code { (hex::encode(header.record_id.get(..8).unwrap_or_default())) } } }
                        td { (header.payload_type.rsplit('.').next().unwrap_or_default()) }
                        td { (header.author_org) }
                        td { (header.seq) }
                        td { (header.created_at.map(|t| timestamp(t.seconds, app.utc_offset)).unwrap_or_default()) }
                        td { (summary(stored)) }
                    }
                }
            }
        }
    };
    signed_in_page(&app, &viewer, Label::Records.text(language), body).await
}

/// One record: its header, whether its signature verifies here, and its fields.
async fn record_page(
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
    let fields = stored
        .record
        .clone()
        .and_then(|record| Record::try_from(record).ok())
        .and_then(|record| serde_json::to_string_pretty(&record).ok())
        .unwrap_or_default();
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
        pre { (fields) }
    };
    signed_in_page(&app, &viewer, Label::Record.text(language), body).await
}

/// One line about a record, from its decoded fields.
fn summary(stored: &wire::StoredRecord) -> String {
    let Some(record) = stored.record.clone() else { return String::new() };
    match Record::try_from(record) {
        Ok(Record::Incident(incident)) => {
            format!("{} · {} · {}", incident.category, incident.severity, incident.status)
        }
        Ok(Record::Aggregate(aggregate)) => format!("{} r{}", aggregate.period, aggregate.revision),
        Ok(other) => other.kind().to_string(),
        Err(_) => String::new(),
    }
}

/// The incident form's fields, as typed.
const INCIDENT_FIELDS: [&str; 15] = [
    "occurred_at",
    "detected_at",
    "reported_to_school_at",
    "place",
    "category",
    "severity",
    "intake_channel",
    "status",
    "narrative",
    "measures_taken",
    "people[0].role",
    "people[0].name",
    "people[0].sex",
    "people[0].grade",
    "people[0].birth_date",
];

struct FormProblem {
    field: Option<String>,
    message: String,
}

fn incident_form(viewer: &Viewer, values: &HashMap<String, String>, problem: Option<&FormProblem>) -> Markup {
    let language = viewer.language;
    let value = |name: &str| values.get(name).cloned().unwrap_or_default();
    let error_for = |name: &str| -> Option<String> {
        problem.and_then(|problem| {
            let field = problem.field.as_deref()?;
            let field = field.strip_prefix("record.").unwrap_or(field);
            (field == name || field.starts_with(&format!("{name}."))).then(|| problem.message.clone())
        })
    };
    let unplaced = problem.filter(|problem| {
        problem.field.as_deref().is_none_or(|field| {
            let field = field.strip_prefix("record.").unwrap_or(field);
            !INCIDENT_FIELDS.iter().any(|name| field == *name || field.starts_with(&format!("{name}.")))
        })
    });
    let text_input = |name: &str, label: Label, kind: &str, required: bool| -> Markup {
        let id = name.replace(['[', ']', '.'], "_");
        let error = error_for(name);
        html! {
            label for=(id) { (label.text(language)) @if !required { " (" (Label::Optional.text(language)) ")" } }
            input id=(id) name=(name) type=(kind) value=(value(name)) required[required]
                aria-invalid=[error.as_ref().map(|_| "true")] aria-describedby=[error.as_ref().map(|_| format!("{id}-error"))];
            @if let Some(error) = error { p.error id=(format!("{id}-error")) { (error) } }
        }
    };
    let select = |name: &str, label: Label, options: Vec<&'static str>| -> Markup {
        let id = name.replace(['[', ']', '.'], "_");
        let error = error_for(name);
        let chosen = value(name);
        html! {
            label for=(id) { (label.text(language)) }
            select id=(id) name=(name) aria-invalid=[error.as_ref().map(|_| "true")] {
                @for option in options {
                    option value=(option) selected[chosen == option] { (edusync_i18n::value_name(option, language)) }
                }
            }
            @if let Some(error) = error { p.error id=(format!("{id}-error")) { (error) } }
        }
    };
    let names = |all: &[&'static str]| all.to_vec();
    html! {
        h1 { (Label::NewIncident.text(language)) }
        p { strong { (Label::Clocks.text(language)) ": " } (Label::ClocksHelp.text(language)) }
        @if problem.is_some() {
            p.problem role="alert" {
                (Label::NothingStored.text(language))
                @if let Some(unplaced) = unplaced { " " (unplaced.message) }
            }
        }
        form method="post" action="/records/new" {
            input type="hidden" name="csrf" value=(viewer.session.csrf);
            (text_input("occurred_at", Label::OccurredAt, "datetime-local", true))
            (text_input("detected_at", Label::DetectedAt, "datetime-local", true))
            (text_input("reported_to_school_at", Label::ReportedToSchoolAt, "datetime-local", true))
            (select("place", Label::Place, names(&PlaceCategory::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>())))
            (select("category", Label::Category, names(&IncidentCategory::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>())))
            (select("severity", Label::Severity, names(&Severity::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>())))
            (select("intake_channel", Label::IntakeChannel, names(&IntakeChannel::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>())))
            (select("status", Label::Status, names(&IncidentStatus::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>())))
            label for="narrative" { (Label::Narrative.text(language)) }
            textarea id="narrative" name="narrative" required { (value("narrative")) }
            @if let Some(error) = error_for("narrative") { p.error { (error) } }
            label for="measures_taken" { (Label::MeasuresTaken.text(language)) " (" (Label::Optional.text(language)) ")" }
            textarea id="measures_taken" name="measures_taken" { (value("measures_taken")) }
            fieldset {
                legend { (Label::PersonInvolved.text(language)) " (" (Label::Optional.text(language)) ")" }
                (select("people[0].role", Label::PersonRole, names(&PersonRole::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>())))
                (text_input("people[0].name", Label::PersonName, "text", false))
                (select("people[0].sex", Label::PersonSex, names(&Sex::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>())))
                (text_input("people[0].grade", Label::PersonGrade, "text", false))
                (text_input("people[0].birth_date", Label::PersonBirthDate, "date", false))
            }
            button type="submit" { (Label::Save.text(language)) }
        }
    }
}

async fn new_incident(State(app): Shared, viewer: Viewer) -> Response {
    let body = incident_form(&viewer, &HashMap::new(), None);
    signed_in_page(&app, &viewer, Label::NewIncident.text(viewer.language), body).await
}

/// A time typed into a `datetime-local` field, read in the node's offset.
fn local_time(field: &str, text: &str, offset: chrono::FixedOffset) -> Result<String, ValidationError> {
    if text.trim().is_empty() {
        return Err(ValidationError::new(field, Reason::Required));
    }
    chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S"))
        .ok()
        .and_then(|naive| naive.and_local_timezone(offset).single())
        .map(|time| time.to_rfc3339())
        .ok_or_else(|| ValidationError::new(field, Reason::NotADate { text: text.to_owned() }))
}

/// The incident the form describes, or the first field that cannot be one.
fn incident_from_form(form: &HashMap<String, String>, offset: chrono::FixedOffset) -> Result<Record, ValidationError> {
    let get = |name: &str| form.get(name).map(|value| value.trim().to_owned()).unwrap_or_default();
    let mut incident = serde_json::json!({
        "occurred_at": local_time("occurred_at", &get("occurred_at"), offset)?,
        "detected_at": local_time("detected_at", &get("detected_at"), offset)?,
        "reported_to_school_at": local_time("reported_to_school_at", &get("reported_to_school_at"), offset)?,
        "place": get("place"),
        "category": get("category"),
        "severity": get("severity"),
        "intake_channel": get("intake_channel"),
        "status": get("status"),
        "narrative": get("narrative"),
        "measures_taken": get("measures_taken"),
        "people": [],
    });
    let name = get("people[0].name");
    if !name.is_empty() {
        let grade_text = get("people[0].grade");
        let grade: u8 = grade_text.parse().map_err(|_| {
            ValidationError::new("people[0].grade", Reason::NotAWholeNumber { text: grade_text.clone() })
        })?;
        let mut person = serde_json::json!({
            "role": get("people[0].role"), "name": name, "sex": get("people[0].sex"), "grade": grade,
        });
        let birth = get("people[0].birth_date");
        if !birth.is_empty() {
            person["birth_date"] = serde_json::Value::from(birth);
        }
        if let Some(people) = incident["people"].as_array_mut() {
            people.push(person);
        }
    }
    let text = incident.to_string();
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    let incident: edusync_core::Incident = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        ValidationError::new(error.path().to_string(), Reason::malformed(error.inner().to_string()))
    })?;
    Ok(Record::Incident(incident))
}

async fn submit_incident(State(app): Shared, viewer: Viewer, Form(form): Form<HashMap<String, String>>) -> Response {
    let language = viewer.language;
    let csrf = form.get("csrf").map(String::as_str).unwrap_or_default();
    if !Sessions::csrf_matches(&viewer.session, csrf) {
        tracing::warn!(session = %&viewer.id[..8], "a form without this session's CSRF token was refused");
        return problem_page(
            &app,
            &viewer,
            StatusCode::FORBIDDEN,
            &format!("{} (csrf)", Label::NothingStored.text(language)),
        );
    }
    let record = match incident_from_form(&form, app.utc_offset) {
        Ok(record) => record,
        Err(error) => {
            let message = edusync_i18n::validation_error(&error, language);
            return refused(&app, &viewer, &form, FormProblem { field: Some(error.field), message }).await;
        }
    };
    let submitted = match app.node().await {
        Ok((mut client, _)) => {
            client.submit_record(wire::SubmitRecordRequest { record: Some(wire::Record::from(&record)) }).await
        }
        Err(error) => return refused(&app, &viewer, &form, FormProblem { field: None, message: error }).await,
    };
    match submitted {
        Ok(response) => {
            let response = response.into_inner();
            let id = response.header.map(|header| hex::encode(header.record_id.get(..8).unwrap_or_default()));
            let already = u8::from(response.already_stored);
            Redirect::to(&format!("/records?stored={}&already={already}", id.unwrap_or_default())).into_response()
        }
        Err(status) => {
            if status.code() == tonic::Code::Unauthenticated {
                app.drop_session().await;
            }
            let (field, message) = said(&status, language);
            refused(&app, &viewer, &form, FormProblem { field, message }).await
        }
    }
}

/// The form again, as typed, with what was wrong next to its field (422).
async fn refused(app: &App, viewer: &Viewer, form: &HashMap<String, String>, problem: FormProblem) -> Response {
    let body = incident_form(viewer, form, Some(&problem));
    let page = signed_in_page(app, viewer, Label::NewIncident.text(viewer.language), body).await;
    (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
}

fn current_school_year(offset: chrono::FixedOffset) -> String {
    let today = chrono::Utc::now().with_timezone(&offset).date_naive();
    SchoolYear::containing(today).map(|year| year.to_string()).unwrap_or_default()
}

async fn tables(State(app): Shared, viewer: Viewer, Query(query): Query<HashMap<String, String>>) -> Response {
    let language = viewer.language;
    let period_text = query.get("period").cloned().unwrap_or_else(|| current_school_year(app.utc_offset));
    let by = query.get("by").cloned().unwrap_or_else(|| "category".to_owned());
    let dimensions = ["category", "severity", "status", "channel", "place", "notified", "investigation"];
    let form = html! {
        form method="get" action="/tables" {
            label for="period" { (Label::Period.text(language)) }
            input id="period" name="period" value=(period_text);
            label for="by" { (Label::By.text(language)) }
            select id="by" name="by" { @for dimension in dimensions { option value=(dimension) selected[by == dimension] { (dimension) } } }
            button type="submit" { (Label::Show.text(language)) }
        }
    };
    let period = match period_text.parse::<edusync_core::Period>() {
        Ok(period) => period,
        Err(error) => {
            let body = html! { (form) p.problem { (edusync_i18n::validation_error(&ValidationError { field: "period".into(), ..error }, language)) } };
            return signed_in_page(&app, &viewer, Label::Tables.text(language), body).await;
        }
    };
    let answer = match app.node().await {
        Ok((mut client, _)) => {
            client
                .query(wire::QueryRequest {
                    period: Some(edusync_proto::period_to_wire(period)),
                    dimension: by.clone(),
                    trend: Vec::new(),
                })
                .await
        }
        Err(error) => return problem_page(&app, &viewer, StatusCode::BAD_GATEWAY, &error),
    };
    let table = match answer {
        Ok(table) => table.into_inner(),
        Err(status) => {
            let body = html! { (form) p.problem { (said(&status, language).1) } };
            return signed_in_page(&app, &viewer, Label::Tables.text(language), body).await;
        }
    };
    let shown = |count: Option<&wire::ShownCount>| -> Markup {
        match count {
            Some(count) if count.margin > 0 => html! { (count.value) span.margin { "±" (count.margin) } },
            Some(count) => html! { (count.value) },
            None => html! { "—" },
        }
    };
    let csv_link = format!("/tables.csv?period={}&by={}", period, by);
    let body = html! {
        h1 { (Label::Tables.text(language)) }
        (form)
        p { a href=(csv_link) download { "CSV" } }
        p { @if table.disclosed { (Label::ReleasedNote.text(language)) } @else { (Label::ExactNote.text(language)) } }
        h2 { (table.org_id) " · " (table.period) " · " (table.dimension) }
        table {
            tr {
                th { (Label::Unit.text(language)) }
                @for column in &table.columns { th title=(column) { (edusync_i18n::value_name(column, language)) } }
                th { (Label::Total.text(language)) }
            }
            @for row in &table.rows {
                tr id=(row.label) {
                    td { @if row.label.is_empty() { (Label::OfficesOwn.text(language)) } @else { (row.label) } }
                    @for cell in &row.cells { td { (shown(Some(cell))) } }
                    td { (shown(row.total.as_ref())) }
                }
            }
            tr {
                th { (Label::Total.text(language)) }
                @for cell in &table.column_totals { th { (shown(Some(cell))) } }
                th { (shown(table.grand_total.as_ref())) }
            }
        }
        @for release in table.releases.iter().filter(|release| !release.ledger.is_empty()) {
            p {
                (release.period) ": σ " (format!("{:.2}", release.sigma_thousandths as f64 / 1000.0)) ", "
                (Label::Budget.text(language)) " " (format!("{}", release.rho_spent_millionths as f64 / 1e6))
                " / " (format!("{}", release.rho_cap_millionths as f64 / 1e6)) " ρ"
                @if !release.not_fresher.is_empty() { " · " (Label::NotRefreshed.text(language)) ": " (release.not_fresher) }
            }
        }
    };
    signed_in_page(&app, &viewer, Label::Tables.text(language), body).await
}

/// The table on screen as CSV: one column per value and, for a reader,
/// one for its margin (`category ±`), so a spreadsheet keeps both.
async fn tables_csv(State(app): Shared, viewer: Viewer, Query(query): Query<HashMap<String, String>>) -> Response {
    let by = query.get("by").cloned().unwrap_or_else(|| "category".to_owned());
    let period = match query.get("period").map(|text| text.parse::<edusync_core::Period>()) {
        Some(Ok(period)) => period,
        _ => return problem_page(&app, &viewer, StatusCode::BAD_REQUEST, "period: name a period, e.g. 2025-2026"),
    };
    let answer = match app.node().await {
        Ok((mut client, _)) => {
            client
                .query(wire::QueryRequest {
                    period: Some(edusync_proto::period_to_wire(period)),
                    dimension: by,
                    trend: Vec::new(),
                })
                .await
        }
        Err(error) => return problem_page(&app, &viewer, StatusCode::BAD_GATEWAY, &error),
    };
    let table = match answer {
        Ok(table) => table.into_inner(),
        Err(status) => return problem_page(&app, &viewer, StatusCode::FORBIDDEN, &said(&status, viewer.language).1),
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec![Label::Unit.text(viewer.language).to_owned()];
    for column in &table.columns {
        header.push(column.clone());
        if table.disclosed {
            header.push(format!("{column} ±"));
        }
    }
    header.push(Label::Total.text(viewer.language).to_owned());
    let line = |label: String, cells: &[wire::ShownCount], total: Option<&wire::ShownCount>| {
        let mut record = vec![label];
        for cell in cells {
            record.push(cell.value.to_string());
            if table.disclosed {
                record.push(cell.margin.to_string());
            }
        }
        record.push(total.map(|total| total.value.to_string()).unwrap_or_default());
        record
    };
    let mut records = vec![header];
    for row in &table.rows {
        let label =
            if row.label.is_empty() { Label::OfficesOwn.text(viewer.language).to_owned() } else { row.label.clone() };
        records.push(line(label, &row.cells, row.total.as_ref()));
    }
    records.push(line(Label::Total.text(viewer.language).to_owned(), &table.column_totals, table.grand_total.as_ref()));
    for record in records {
        if let Err(error) = writer.write_record(&record) {
            return problem_page(&app, &viewer, StatusCode::INTERNAL_SERVER_ERROR, &error.to_string());
        }
    }
    let bytes = writer.into_inner().unwrap_or_default();
    let name =
        format!("attachment; filename=\"{}-{}-{}.csv\"", table.org_id, table.period.replace('/', "-"), table.dimension);
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(value) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

async fn compliance(State(app): Shared, viewer: Viewer, Query(query): Query<HashMap<String, String>>) -> Response {
    let language = viewer.language;
    let school_year = query.get("school_year").cloned().unwrap_or_else(|| current_school_year(app.utc_offset));
    let answer = match app.node().await {
        Ok((mut client, _)) => {
            client.get_compliance(wire::GetComplianceRequest { school_year: school_year.clone() }).await
        }
        Err(error) => return problem_page(&app, &viewer, StatusCode::BAD_GATEWAY, &error),
    };
    let form = html! {
        form method="get" action="/compliance" {
            label for="school_year" { (Label::SchoolYear.text(language)) }
            input id="school_year" name="school_year" value=(school_year);
            button type="submit" { (Label::Show.text(language)) }
        }
    };
    let compliance = match answer {
        Ok(answer) => answer.into_inner(),
        Err(status) => {
            let body = html! { (form) p.problem { (said(&status, language).1) } };
            return signed_in_page(&app, &viewer, Label::Compliance.text(language), body).await;
        }
    };
    let with_margin =
        |value: u64, margin: u64| if margin > 0 { format!("{value}±{margin}") } else { value.to_string() };
    // A heat map: each unit's filings coloured by their state, with the word in
    // the cell too (colour is never the only sign).
    let filing = |filing: Option<&wire::Filing>| -> Markup {
        match filing {
            None => html! { td { "—" } },
            Some(filing) => {
                let (label, class) = match filing.status.as_str() {
                    "on_time" => (Label::OnTime, "on_time"),
                    "late" => (Label::Late, "late"),
                    "missing" => (Label::Missing, "missing"),
                    _ => (Label::NotYetDue, "not_yet_due"),
                };
                html! {
                    td class=(class) title=(filing.due_on) {
                        (label.text(language)) @if filing.days_late > 0 { " (" (filing.days_late) ")" }
                    }
                }
            }
        }
    };
    let period = compliance.school_year.clone();
    let body = html! {
        h1 { (Label::Compliance.text(language)) " · " (compliance.school_year) }
        (form)
        table.heat {
            tr {
                th { (Label::Child.text(language)) } th { (Label::YearReport.text(language)) }
                th { (Label::Semester1Report.text(language)) } th { (Label::StaffPledges.text(language)) }
                th { (Label::NotifiedLate.text(language)) }
                th { (Label::InvestigationsOverdue.text(language)) } th { (Label::CasesBySemester.text(language)) }
            }
            @for child in &compliance.children {
                tr {
                    td { a href=(format!("/tables?period={period}&by=category#{}", child.org_id)) { (child.org_id) } }
                    (filing(child.school_year_report.as_ref()))
                    (filing(child.semester1_report.as_ref()))
                    (filing(child.staff_commitments.as_ref()))
                    td { (with_margin(child.notified_late, child.timeliness_margin)) }
                    td { (with_margin(child.investigations_overdue, child.timeliness_margin)) }
                    td { (child.cases_semester1) " / " (child.cases_semester2) }
                }
            }
        }
        h2 { (Label::Alerts.text(language)) }
        @if compliance.alerts.is_empty() { p { (Label::NoAlerts.text(language)) } }
        @else { ul { @for alert in &compliance.alerts { li { (edusync_proto::alert_text(alert, language)) } } } }
    };
    signed_in_page(&app, &viewer, Label::Compliance.text(language), body).await
}

/// Requests to be certified by this office, each with a button that signs
/// it with the same checks as `edusync enroll approve`.
async fn enrolments(State(app): Shared, viewer: Viewer, Query(query): Query<HashMap<String, String>>) -> Response {
    let language = viewer.language;
    let listed = match app.trust().await {
        Ok(mut client) => client.list_enrolments(wire::ListEnrolmentsRequest {}).await,
        Err(error) => return problem_page(&app, &viewer, StatusCode::BAD_GATEWAY, &error),
    };
    let pending = match listed {
        Ok(listed) => listed.into_inner().pending,
        Err(status) => return problem_page(&app, &viewer, StatusCode::FORBIDDEN, &said(&status, language).1),
    };
    let body = html! {
        h1 { (Label::Enrolments.text(language)) }
        @if query.contains_key("approved") { p.notice role="status" { (Label::Approved.text(language)) } }
        @if pending.is_empty() { p { (Label::NoEnrolments.text(language)) } }
        @else {
            table {
                tr { th { (Label::Unit.text(language)) } th { (Label::PersonRole.text(language)) } th { "key" } th { (Label::Requested.text(language)) } th {} }
                @for request in &pending {
                    tr {
                        td { (request.subject_org) }
                        td { (request.role) }
                        td { code { (base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &request.subject_key)) } }
                        td { (request.created_at.map(|t| timestamp(t.seconds, app.utc_offset)).unwrap_or_default()) }
                        td {
                            form method="post" action="/enrolments" {
                                input type="hidden" name="csrf" value=(viewer.session.csrf);
                                input type="hidden" name="request_id" value=(request.request_id);
                                button type="submit" aria-label=(format!("{} {}", Label::Approve.text(language), request.subject_org)) { (Label::Approve.text(language)) }
                            }
                        }
                    }
                }
            }
        }
    };
    signed_in_page(&app, &viewer, Label::Enrolments.text(language), body).await
}

async fn approve_enrolment(State(app): Shared, viewer: Viewer, Form(form): Form<HashMap<String, String>>) -> Response {
    if !Sessions::csrf_matches(&viewer.session, form.get("csrf").map(String::as_str).unwrap_or_default()) {
        return problem_page(&app, &viewer, StatusCode::FORBIDDEN, "csrf");
    }
    let request_id = form.get("request_id").cloned().unwrap_or_default();
    let signed = match app.trust().await {
        Ok(mut client) => client.sign_enrolment(wire::SignEnrolmentRequest { request_id, ..Default::default() }).await,
        Err(error) => return problem_page(&app, &viewer, StatusCode::BAD_GATEWAY, &error),
    };
    match signed {
        Ok(_) => Redirect::to("/enrolments?approved=1").into_response(),
        Err(status) => problem_page(&app, &viewer, StatusCode::UNPROCESSABLE_ENTITY, &said(&status, viewer.language).1),
    }
}

/// Bundles of large offices run to tens of megabytes.
const AUDIT_UPLOAD_LIMIT: usize = 64 * 1024 * 1024;

fn audit_upload_form(viewer: &Viewer) -> Markup {
    let language = viewer.language;
    html! {
        h1 { (Label::Audit.text(language)) }
        p { (Label::AuditHelp.text(language)) }
        form method="post" action="/audit" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(viewer.session.csrf);
            label for="bundle" { (Label::AuditBundle.text(language)) }
            input id="bundle" name="bundle" type="file" accept=".json,application/json" required;
            label for="root" { (Label::RootDocument.text(language)) " (" (Label::Optional.text(language)) ")" }
            input id="root" name="root" type="file";
            label for="anchors" { (Label::RootKeys.text(language)) }
            textarea id="anchors" name="anchors" {}
            button type="submit" { (Label::Verify.text(language)) }
        }
    }
}

async fn audit_form(State(app): Shared, viewer: Viewer) -> Response {
    let body = audit_upload_form(&viewer);
    signed_in_page(&app, &viewer, Label::Audit.text(viewer.language), body).await
}

/// The keys a bundle is checked against: a signed root document's, or keys
/// given one per line (a majority of them required).
fn anchoring(root: &[u8], anchors: &str) -> Result<(Vec<edusync_envelope::PublicKey>, usize, String), String> {
    if !root.is_empty() {
        let text = std::str::from_utf8(root).map_err(|_| "root: not a text file".to_owned())?;
        let verified = edusync_trust::RootDocument::verify(text, chrono::Utc::now().timestamp_millis())
            .map_err(|error| format!("root: {error}"))?;
        let document = verified.document;
        let described = format!(
            "root document version {} of {} (sha256 {}), {} of {} keys",
            document.version,
            document.org,
            verified.sha256,
            document.threshold,
            document.keys.len()
        );
        return Ok((document.keys, usize::from(document.threshold), described));
    }
    let mut keys = Vec::new();
    for (index, line) in anchors.lines().map(str::trim).filter(|line| !line.is_empty()).enumerate() {
        let key = edusync_envelope::PublicKey::from_text(line)
            .map_err(|error| format!("anchors, line {}: not a public key: {error}", index + 1))?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return Err("root: give the signed root document, or the root's public keys".to_owned());
    }
    let threshold = keys.len() / 2 + 1;
    let described = format!("{} root key(s) given, {threshold} required (not a signed root document)", keys.len());
    Ok((keys, threshold, described))
}

async fn audit_verify(State(app): Shared, viewer: Viewer, mut form: axum::extract::Multipart) -> Response {
    let language = viewer.language;
    let mut parts: HashMap<String, Vec<u8>> = HashMap::new();
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                match field.bytes().await {
                    Ok(bytes) => {
                        parts.insert(name, bytes.to_vec());
                    }
                    Err(error) => return problem_page(&app, &viewer, StatusCode::BAD_REQUEST, &error.to_string()),
                }
            }
            Ok(None) => break,
            Err(error) => return problem_page(&app, &viewer, StatusCode::BAD_REQUEST, &error.to_string()),
        }
    }
    let text =
        |name: &str| parts.get(name).map(|bytes| String::from_utf8_lossy(bytes).into_owned()).unwrap_or_default();
    if !Sessions::csrf_matches(&viewer.session, &text("csrf")) {
        return problem_page(&app, &viewer, StatusCode::FORBIDDEN, "csrf");
    }
    let bundle = parts.get("bundle").cloned().unwrap_or_default();
    let outcome = anchoring(parts.get("root").map(Vec::as_slice).unwrap_or_default(), &text("anchors")).and_then(
        |(keys, threshold, described)| {
            edusync_audit::verify(&bundle, &keys, threshold, 300_000)
                .map(|verification| (verification, described))
                .map_err(|error| format!("bundle: {error}"))
        },
    );
    let (verification, described) = match outcome {
        Ok(outcome) => outcome,
        Err(message) => {
            let body = html! { (audit_upload_form(&viewer)) p.problem role="alert" { (message) } };
            let page = signed_in_page(&app, &viewer, Label::Audit.text(language), body).await;
            return (StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
        }
    };
    let verdict = serde_json::to_vec_pretty(&verification).unwrap_or_default();
    let download = format!(
        "data:application/json;base64,{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &verdict)
    );
    let body = html! {
        h1 { (Label::Audit.text(language)) " · " (verification.org_id) " " (verification.period) }
        p { (described) }
        @if verification.passed() { p.notice role="status" id="verdict" { (Label::Passed.text(language)) } }
        @else { p.problem role="alert" id="verdict" { (Label::Failed.text(language)) ": " (verification.failures()) } }
        p { a download="verdict.json" href=(download) { (Label::DownloadVerdict.text(language)) } }
        table {
            @for check in &verification.checks {
                tr {
                    td { @if check.passed { "ok" } @else { strong.error { "FAIL" } } }
                    td { (check.subject) } td { (check.check) } td style="text-align:left;white-space:normal" { (check.detail) }
                }
            }
        }
        (audit_upload_form(&viewer))
    };
    signed_in_page(&app, &viewer, Label::Audit.text(language), body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_becomes_an_incident_in_the_nodes_offset_and_a_bad_field_is_named() {
        let offset = chrono::FixedOffset::east_opt(7 * 3600).expect("offset");
        let mut form: HashMap<String, String> = [
            ("occurred_at", "2025-10-14T09:30"),
            ("detected_at", "2025-10-14T10:00"),
            ("reported_to_school_at", "2025-10-14T10:15"),
            ("place", "classroom"),
            ("category", "verbal"),
            ("severity", "minor"),
            ("intake_channel", "teacher"),
            ("status", "open"),
            ("narrative", "Trêu chọc"),
            ("people[0].role", "victim"),
            ("people[0].name", "Nguyễn Văn A"),
            ("people[0].sex", "male"),
            ("people[0].grade", "7"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        let Ok(Record::Incident(incident)) = incident_from_form(&form, offset) else { panic!("an incident") };
        assert_eq!(incident.occurred_at.to_rfc3339(), "2025-10-14T02:30:00+00:00");
        assert_eq!(incident.people.len(), 1);
        form.insert("people[0].grade".into(), "bảy".into());
        let error = incident_from_form(&form, offset).expect_err("not a number");
        assert_eq!(error.field, "people[0].grade");
        form.insert("detected_at".into(), "hôm qua".into());
        assert_eq!(incident_from_form(&form, offset).expect_err("not a time").field, "detected_at");
        form.insert("detected_at".into(), "2025-10-14T10:00".into());
        form.insert("people[0].grade".into(), "7".into());
        form.insert("category".into(), "rumours".into());
        assert_eq!(incident_from_form(&form, offset).expect_err("unknown").field, "category");
    }
}
