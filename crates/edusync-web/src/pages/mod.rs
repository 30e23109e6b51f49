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

mod audit;
mod entry;
mod form;
mod home;
mod incident;
mod office;
mod records;
mod upload;

type Shared = State<Arc<App>>;

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/login", get(login))
        .route("/", get(home::home))
        .route("/records", get(records::records))
        .route("/records/new", get(incident::new_incident).post(incident::submit_incident))
        .route("/records/new/{kind}", get(entry::new_record).post(entry::submit_record))
        .route(
            "/records/upload",
            get(upload::upload_page)
                .post(upload::upload)
                .layer(axum::extract::DefaultBodyLimit::max(upload::UPLOAD_LIMIT)),
        )
        .route("/records/template/{file}", get(upload::template))
        .route("/records/{id}", get(records::record_page))
        .route("/tables", get(office::tables))
        .route("/tables.csv", get(office::tables_file))
        .route("/tables.xlsx", get(office::tables_file))
        .route("/trends", get(office::trends))
        .route("/trends.csv", get(office::trends_file))
        .route("/trends.xlsx", get(office::trends_file))
        .route("/rollup", get(office::rollup))
        .route("/enrolments", get(office::enrolments).post(office::approve_enrolment))
        .route("/compliance", get(office::compliance))
        .route("/compliance.csv", get(office::compliance_file))
        .route("/compliance.xlsx", get(office::compliance_file))
        .route(
            "/audit",
            get(audit::audit_form)
                .post(audit::audit_verify)
                .layer(axum::extract::DefaultBodyLimit::max(audit::AUDIT_UPLOAD_LIMIT)),
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
label.check{font-weight:400;display:inline-block;margin-right:1rem}
form>button[type=submit]{display:block}
figure{margin:1rem 0;overflow-x:auto}
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
                style { (PreEscaped(STYLE)) (PreEscaped(edusync_report::CHART_STYLE)) }
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
                                a href="/records/upload" { (Label::Upload.text(language)) }
                            }
                            a href="/tables" { (Label::Tables.text(language)) }
                            a href="/trends" { (Label::Trends.text(language)) }
                            @if nav.operator { a href="/rollup" { (Label::RollUp.text(language)) } }
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

/// Sends a record to the node. On success, the way to the list with its
/// "stored" notice; otherwise what the node said, its field as the node
/// named it (the caller maps it onto its form).
async fn submit(app: &App, record: &Record, language: Language) -> Result<Response, form::FormProblem> {
    let (mut client, _) = app.node().await.map_err(form::FormProblem::unplaced)?;
    match client.submit_record(wire::SubmitRecordRequest { record: Some(wire::Record::from(record)) }).await {
        Ok(response) => {
            let response = response.into_inner();
            let id = response.header.map(|header| hex::encode(header.record_id.get(..8).unwrap_or_default()));
            let already = u8::from(response.already_stored);
            Ok(Redirect::to(&format!("/records?stored={}&already={already}", id.unwrap_or_default())).into_response())
        }
        Err(status) => {
            if status.code() == tonic::Code::Unauthenticated {
                app.drop_session().await;
            }
            Err(form::FormProblem::said(&status, language))
        }
    }
}

/// A page only the node's operator may use: for anyone else, a refusal
/// before the form is drawn (the node would refuse what it sends anyway).
async fn operator_only(app: &App, viewer: &Viewer) -> Option<Response> {
    match app.node().await {
        Ok((_, role)) if role == "operator" => None,
        Ok((_, role)) => Some(problem_page(
            app,
            viewer,
            StatusCode::FORBIDDEN,
            &format!("{}: {}", role_label(&role, viewer.language), Label::OperatorsOnly.text(viewer.language)),
        )),
        Err(error) => Some(problem_page(app, viewer, StatusCode::BAD_GATEWAY, &error)),
    }
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
            let secure = if app.secure { "; Secure" } else { "" };
            let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/{secure}");
            let mut response = Redirect::to("/").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        None => (StatusCode::UNAUTHORIZED, render(sign_in_page(language))).into_response(),
    }
}

fn timestamp(seconds: i64, offset: chrono::FixedOffset) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|time| time.with_timezone(&offset).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn current_school_year(offset: chrono::FixedOffset) -> String {
    let today = chrono::Utc::now().with_timezone(&offset).date_naive();
    SchoolYear::containing(today).map(|year| year.to_string()).unwrap_or_default()
}
