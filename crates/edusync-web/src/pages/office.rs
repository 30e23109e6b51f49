//! An office's view of the units below: tables, compliance, enrolments.

use super::*;

pub(super) async fn tables(
    State(app): Shared,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let language = viewer.language;
    let period_text = query.get("period").cloned().unwrap_or_else(|| current_school_year(app.utc_offset));
    let by = query.get("by").cloned().unwrap_or_else(|| "category".to_owned());
    let form = html! {
        form method="get" action="/tables" {
            label for="period" { (Label::Period.text(language)) }
            input id="period" name="period" value=(period_text);
            label for="by" { (Label::By.text(language)) }
            select id="by" name="by" { @for dimension in DIMENSIONS { option value=(dimension) selected[by == dimension] { (dimension_name(dimension, language)) } } }
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
    let csv_link = format!("/tables.csv?period={}&by={}", period, by);
    let xlsx_link = format!("/tables.xlsx?period={}&by={}", period, by);
    let names = unit_names(&app).await;
    let body = html! {
        h1 { (Label::Tables.text(language)) }
        (form)
        p { a href=(csv_link) download { "CSV" } " · " a href=(xlsx_link) download { "XLSX" } }
        p { @if table.disclosed { (Label::ReleasedNote.text(language)) } @else { (Label::ExactNote.text(language)) } }
        h2 { (table.org_id) " · " (table.period) " · " (dimension_name(&table.dimension, language)) }
        table {
            tr {
                th { (Label::Unit.text(language)) }
                @for column in &table.columns { th title=(column) { (edusync_i18n::value_name(column, language)) } }
                th { (Label::Total.text(language)) }
            }
            @for row in &table.rows {
                tr id=(row.label) {
                    td {
                        @if row.label.is_empty() { (Label::OfficesOwn.text(language)) }
                        @else if let Some(name) = names.get(&row.label) { (name) " " small { "(" (row.label) ")" } }
                        @else { (row.label) }
                    }
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

/// The names the office's config gives the units below it, by org id; none
/// when the node cannot be asked (the page then shows ids).
async fn unit_names(app: &App) -> std::collections::BTreeMap<String, String> {
    let Ok((mut client, _)) = app.node().await else { return Default::default() };
    match client.get_node_info(wire::GetNodeInfoRequest {}).await {
        Ok(info) => info.into_inner().unit_names.into_iter().map(|unit| (unit.org_id, unit.display_name)).collect(),
        Err(_) => Default::default(),
    }
}

/// Asks the node for a table of `period` by `by`, with trend rows for `trend`.
async fn fetch_table(
    app: &App,
    period: edusync_core::Period,
    by: &str,
    trend: &[edusync_core::Period],
) -> Result<wire::QueryTable, (StatusCode, Option<tonic::Status>, String)> {
    let (mut client, _) = app.node().await.map_err(|error| (StatusCode::BAD_GATEWAY, None, error))?;
    let request = wire::QueryRequest {
        period: Some(edusync_proto::period_to_wire(period)),
        dimension: by.to_owned(),
        trend: trend.iter().map(|period| edusync_proto::period_to_wire(*period)).collect(),
    };
    client
        .query(request)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| (StatusCode::FORBIDDEN, Some(status.clone()), status.message().to_owned()))
}

/// The table as a sheet: a header, then one row per unit and the totals.
/// Values are numbers; for a reader each value has a margin column beside
/// it (`… ±`), so a spreadsheet keeps both.
fn table_sheet(
    table: &wire::QueryTable,
    language: Language,
    trend: bool,
) -> (Vec<String>, Vec<Vec<edusync_cells::Cell>>) {
    use edusync_cells::Cell;
    let first = if trend { Label::Semester } else { Label::Unit };
    let mut header = vec![first.text(language).to_owned()];
    for column in &table.columns {
        let name = edusync_i18n::value_name(column, language);
        if table.disclosed {
            header.push(format!("{name} ±"));
        }
        header.push(name);
    }
    // The margin goes after its value.
    if table.disclosed {
        for pair in header[1..].chunks_mut(2) {
            pair.swap(0, 1);
        }
    }
    header.push(Label::Total.text(language).to_owned());
    let line = |label: String, cells: &[wire::ShownCount], total: Option<&wire::ShownCount>| {
        let mut record = vec![Cell::from(label)];
        for cell in cells {
            record.push(Cell::from(cell.value));
            if table.disclosed {
                record.push(Cell::from(cell.margin));
            }
        }
        record.push(total.map_or(Cell::Empty, |total| Cell::from(total.value)));
        record
    };
    if trend {
        let rows = table.trend.iter().map(|row| line(row.label.clone(), &row.cells, row.total.as_ref())).collect();
        return (header, rows);
    }
    let mut rows = Vec::new();
    for row in &table.rows {
        let label = if row.label.is_empty() { Label::OfficesOwn.text(language).to_owned() } else { row.label.clone() };
        rows.push(line(label, &row.cells, row.total.as_ref()));
    }
    rows.push(line(Label::Total.text(language).to_owned(), &table.column_totals, table.grand_total.as_ref()));
    (header, rows)
}

/// `/tables.csv` and `/tables.xlsx`: the same rows, in the file the path names.
pub(super) async fn tables_file(
    State(app): Shared,
    viewer: Viewer,
    uri: axum::http::Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    tables_download(&app, &viewer, &query, file_extension(&uri)).await
}

/// The table on screen as a file: exactly the values the page shows.
async fn tables_download(app: &App, viewer: &Viewer, query: &HashMap<String, String>, extension: &str) -> Response {
    let by = query.get("by").cloned().unwrap_or_else(|| "category".to_owned());
    let period = match query.get("period").map(|text| text.parse::<edusync_core::Period>()) {
        Some(Ok(period)) => period,
        _ => return problem_page(app, viewer, StatusCode::BAD_REQUEST, "period: name a period, e.g. 2025-2026"),
    };
    let table = match fetch_table(app, period, &by, &[]).await {
        Ok(table) => table,
        Err((code, status, message)) => {
            let message = status.map(|status| said(&status, viewer.language).1).unwrap_or(message);
            return problem_page(app, viewer, code, &message);
        }
    };
    let (header, rows) = table_sheet(&table, viewer.language, false);
    let name = format!("{}-{}-{}.{extension}", table.org_id, table.period.replace('/', "-"), table.dimension);
    super::upload::sheet_download(&table.dimension, header, &rows, extension, &name)
        .unwrap_or_else(|message| problem_page(app, viewer, StatusCode::INTERNAL_SERVER_ERROR, &message))
}

/// The dimensions of the query catalogue, as the node names them.
const DIMENSIONS: [&str; 7] = ["category", "severity", "status", "channel", "place", "notified", "investigation"];

/// Each semester of the last few school years, this one's included: the
/// office's own totals by a dimension, as a table and a line.
pub(super) async fn trends(
    State(app): Shared,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let language = viewer.language;
    let by = query.get("by").cloned().unwrap_or_else(|| "category".to_owned());
    let years: u16 =
        query.get("years").and_then(|text| text.parse().ok()).filter(|years| (1..=10).contains(years)).unwrap_or(3);
    let year_text = query.get("school_year").cloned().unwrap_or_else(|| current_school_year(app.utc_offset));
    let form = html! {
        form method="get" action="/trends" {
            label for="school_year" { (Label::SchoolYear.text(language)) }
            input id="school_year" name="school_year" value=(year_text);
            label for="years" { (Label::Years.text(language)) }
            input id="years" name="years" type="number" min="1" max="10" value=(years);
            label for="by" { (Label::By.text(language)) }
            select id="by" name="by" { @for dimension in DIMENSIONS { option value=(dimension) selected[by == dimension] { (dimension_name(dimension, language)) } } }
            button type="submit" { (Label::Show.text(language)) }
        }
    };
    let year = match year_text.parse::<SchoolYear>() {
        Ok(year) => year,
        Err(error) => {
            let message =
                edusync_i18n::validation_error(&ValidationError { field: "school_year".into(), ..error }, language);
            let body = html! { h1 { (Label::Trends.text(language)) } (form) p.problem { (message) } };
            return signed_in_page(&app, &viewer, Label::Trends.text(language), body).await;
        }
    };
    let answer = fetch_trend(&app, year, years, &by).await;
    let table = match answer {
        Ok(table) => table,
        Err((_, status, message)) => {
            let message = status.map(|status| said(&status, language).1).unwrap_or(message);
            let body = html! { h1 { (Label::Trends.text(language)) } (form) p.problem { (message) } };
            return signed_in_page(&app, &viewer, Label::Trends.text(language), body).await;
        }
    };
    let points: Vec<edusync_report::TrendPoint> = table
        .trend
        .iter()
        .map(|row| edusync_report::TrendPoint {
            period: row.label.clone(),
            cases: row.total.as_ref().map(|total| total.value).unwrap_or_default(),
        })
        .collect();
    let body = html! {
        h1 { (Label::Trends.text(language)) " · " (table.org_id) }
        (form)
        p {
            a href=(format!("/trends.csv?school_year={year}&years={years}&by={by}")) download { "CSV" } " · "
            a href=(format!("/trends.xlsx?school_year={year}&years={years}&by={by}")) download { "XLSX" }
        }
        p { @if table.disclosed { (Label::ReleasedNote.text(language)) } @else { (Label::ExactNote.text(language)) } }
        figure { (PreEscaped(edusync_report::trend_svg(&points, language))) }
        table #trend {
            tr {
                th { (Label::Semester.text(language)) }
                @for column in &table.columns { th title=(column) { (edusync_i18n::value_name(column, language)) } }
                th { (Label::Total.text(language)) }
            }
            @for row in &table.trend {
                tr {
                    td { (row.label) }
                    @for cell in &row.cells { td { (shown(Some(cell))) } }
                    td { (shown(row.total.as_ref())) }
                }
            }
        }
    };
    signed_in_page(&app, &viewer, Label::Trends.text(language), body).await
}

/// The semesters of the `years` school years up to `year` that have begun,
/// by `by`, as trend rows of the node's answer.
async fn fetch_trend(
    app: &App,
    year: SchoolYear,
    years: u16,
    by: &str,
) -> Result<wire::QueryTable, (StatusCode, Option<tonic::Status>, String)> {
    let today = chrono::Utc::now().with_timezone(&app.utc_offset).date_naive();
    let first = year.start_year().saturating_sub(years.max(1) - 1);
    let mut semesters = Vec::new();
    for start in first..=year.start_year() {
        let Ok(school_year) = SchoolYear::new("school_year", u32::from(start)) else { continue };
        for span in [edusync_core::PeriodSpan::Semester1, edusync_core::PeriodSpan::Semester2] {
            let semester = edusync_core::Period { school_year, span };
            // A semester not begun has nothing to show, not a zero.
            if semester.first_day() <= today {
                semesters.push(semester);
            }
        }
    }
    // The trend rows come with a table of one period the node holds: the
    // newest school year of the span that has one (a new year may have none yet).
    let mut answer = Err((StatusCode::NOT_FOUND, None, String::new()));
    for start in (first..=year.start_year()).rev() {
        let Ok(school_year) = SchoolYear::new("school_year", u32::from(start)) else { continue };
        let period = edusync_core::Period { school_year, span: edusync_core::PeriodSpan::SchoolYear };
        answer = fetch_table(app, period, by, &semesters).await;
        let nothing_counted = matches!(&answer, Err((_, Some(status), _)) if status.code() == tonic::Code::NotFound);
        if !nothing_counted {
            break;
        }
    }
    answer
}

/// `/trends.csv` and `/trends.xlsx`: the same rows, in the file the path names.
pub(super) async fn trends_file(
    State(app): Shared,
    viewer: Viewer,
    uri: axum::http::Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    trends_download(&app, &viewer, &query, file_extension(&uri)).await
}

/// The trend on screen as a file: one row per semester.
async fn trends_download(app: &App, viewer: &Viewer, query: &HashMap<String, String>, extension: &str) -> Response {
    let by = query.get("by").cloned().unwrap_or_else(|| "category".to_owned());
    let years: u16 =
        query.get("years").and_then(|text| text.parse().ok()).filter(|years| (1..=10).contains(years)).unwrap_or(3);
    let Some(year) = query.get("school_year").and_then(|text| text.parse::<SchoolYear>().ok()) else {
        return problem_page(app, viewer, StatusCode::BAD_REQUEST, "school_year: name a school year, e.g. 2025-2026");
    };
    let table = match fetch_trend(app, year, years, &by).await {
        Ok(table) => table,
        Err((code, status, message)) => {
            let message = status.map(|status| said(&status, viewer.language).1).unwrap_or(message);
            return problem_page(app, viewer, code, &message);
        }
    };
    let (header, rows) = table_sheet(&table, viewer.language, true);
    let name = format!("{}-trend-{}-{}.{extension}", table.org_id, year, table.dimension);
    super::upload::sheet_download(&table.dimension, header, &rows, extension, &name)
        .unwrap_or_else(|message| problem_page(app, viewer, StatusCode::INTERNAL_SERVER_ERROR, &message))
}

/// The file a download's path asks for: XLSX, or else CSV.
fn file_extension(uri: &axum::http::Uri) -> &'static str {
    if uri.path().ends_with(".xlsx") {
        "xlsx"
    } else {
        "csv"
    }
}

/// A count as shown: exact, or released with its margin.
fn shown(count: Option<&wire::ShownCount>) -> Markup {
    match count {
        Some(count) if count.margin > 0 => html! { (count.value) span.margin { "±" (count.margin) } },
        Some(count) => html! { (count.value) },
        None => html! { "—" },
    }
}

/// A dimension's name in the page's language.
fn dimension_name(dimension: &str, language: Language) -> &'static str {
    match dimension {
        "category" => Label::Category.text(language),
        "severity" => Label::Severity.text(language),
        "status" => Label::Status.text(language),
        "channel" => Label::IntakeChannel.text(language),
        "place" => Label::Place.text(language),
        "notified" => language.pick(["notified in time", "báo cáo đúng hạn", "报告及时性"]),
        "investigation" => language.pick(["investigation in time", "xác minh đúng hạn", "调查及时性"]),
        _ => "",
    }
}

pub(super) async fn compliance(
    State(app): Shared,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
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
    let names = unit_names(&app).await;
    let body = html! {
        h1 { (Label::Compliance.text(language)) " · " (compliance.school_year) }
        (form)
        p {
            a href=(format!("/compliance.csv?school_year={period}")) download { "CSV" } " · "
            a href=(format!("/compliance.xlsx?school_year={period}")) download { "XLSX" }
        }
        table.heat {
            tr {
                th { (Label::Child.text(language)) } th { (Label::YearReport.text(language)) }
                th { (Label::Semester1Report.text(language)) } th { (Label::StaffPledges.text(language)) }
                th { (Label::NotifiedLate.text(language)) }
                th { (Label::InvestigationsOverdue.text(language)) } th { (Label::CasesBySemester.text(language)) }
            }
            @for child in &compliance.children {
                tr {
                    td {
                        a href=(format!("/tables?period={period}&by=category#{}", child.org_id)) {
                            @if let Some(name) = names.get(&child.org_id) { (name) " " small { "(" (child.org_id) ")" } }
                            @else { (child.org_id) }
                        }
                    }
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
pub(super) async fn enrolments(
    State(app): Shared,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
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

pub(super) async fn approve_enrolment(
    State(app): Shared,
    viewer: Viewer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !Sessions::csrf_matches(&viewer.session, form.get("csrf").map(String::as_str).unwrap_or_default()) {
        return problem_page(&app, &viewer, StatusCode::FORBIDDEN, Label::CsrfRefused.text(viewer.language));
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

/// The roll-up of a period: the office's signed aggregate and each unit's
/// it summed, every signature, the sum and each inclusion proof checked in
/// this process (as `edusync rollup` does), exact, for the operator.
pub(super) async fn rollup(
    State(app): Shared,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let language = viewer.language;
    let period_text = query.get("period").cloned().unwrap_or_else(|| current_school_year(app.utc_offset));
    let form = html! {
        form method="get" action="/rollup" {
            label for="period" { (Label::Period.text(language)) }
            input id="period" name="period" value=(period_text);
            button type="submit" { (Label::Show.text(language)) }
        }
    };
    let (app, viewer, form) = (&app, &viewer, &form);
    let page = move |body: Markup| async move {
        let body = html! { h1 { (Label::RollUp.text(language)) } (form) (body) };
        signed_in_page(app, viewer, Label::RollUp.text(language), body).await
    };
    let period = match period_text.parse::<edusync_core::Period>() {
        Ok(period) => period,
        Err(error) => {
            let message =
                edusync_i18n::validation_error(&ValidationError { field: "period".into(), ..error }, language);
            return page(html! { p.problem { (message) } }).await;
        }
    };
    let answer = match app.node().await {
        Ok((mut client, _)) => {
            client.get_roll_up(wire::GetRollUpRequest { period: Some(edusync_proto::period_to_wire(period)) }).await
        }
        Err(error) => return problem_page(app, viewer, StatusCode::BAD_GATEWAY, &error),
    };
    let roll_up = match answer {
        Ok(roll_up) => roll_up.into_inner(),
        Err(status) => return page(html! { p.problem { (said(&status, language).1) } }).await,
    };
    let checked =
        match edusync_node::check_roll_up(roll_up) {
            Ok(checked) => checked,
            Err(error) => return page(
                html! { p.problem role="alert" id="verdict" { (Label::SignatureFails.text(language)) ": " (error) } },
            )
            .await,
        };
    let total = &checked.aggregate.total;
    let body = html! {
        h2 { (checked.aggregate.org.to_string()) " · " (checked.aggregate.period.to_string()) " · " (Label::Revision.text(language)) " " (checked.aggregate.revision) }
        p {
            (Label::Cases.text(language)) ": " strong { (total.incident_cases()) }
            " (" (checked.aggregate.own.incident_cases()) " " (Label::OwnCases.text(language)) ") · "
            (Label::Schools.text(language)) ": " (total.get(edusync_core::Cell::ContributingSchools))
        }
        @if checked.every_proof_holds() { p.notice id="verdict" { (Label::RollUpHolds.text(language)) } }
        @else { p.problem role="alert" id="verdict" { (Label::ProofFails.text(language)) } }
        table #rollup {
            tr {
                th { (Label::Unit.text(language)) } th { (Label::Revision.text(language)) }
                th { (Label::Cases.text(language)) } th { (Label::Schools.text(language)) } th { (Label::Proof.text(language)) }
            }
            @for child in &checked.children {
                tr {
                    td { (child.aggregate.org.to_string()) }
                    td { (child.aggregate.revision) }
                    td { (child.aggregate.total.incident_cases()) }
                    td { (child.aggregate.total.get(edusync_core::Cell::ContributingSchools)) }
                    @match &child.proof {
                        Ok(()) => { td.on_time { (Label::Verified.text(language)) } }
                        Err(reason) => { td.missing { (reason) } }
                    }
                }
            }
        }
    };
    page(body).await
}

/// A filing as a spreadsheet cell reads: its state, and days late.
fn filing_text(filing: Option<&wire::Filing>, language: Language) -> String {
    let Some(filing) = filing else { return String::new() };
    let state = match filing.status.as_str() {
        "on_time" => Label::OnTime,
        "late" => Label::Late,
        "missing" => Label::Missing,
        _ => Label::NotYetDue,
    }
    .text(language);
    if filing.days_late > 0 {
        format!("{state} ({})", filing.days_late)
    } else {
        state.to_owned()
    }
}

/// `/compliance.csv` and `/compliance.xlsx`: the same rows, in the file the path names.
pub(super) async fn compliance_file(
    State(app): Shared,
    viewer: Viewer,
    uri: axum::http::Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    compliance_download(&app, &viewer, &query, file_extension(&uri)).await
}

/// The heat map on screen as a file: the same states, counts and margins.
async fn compliance_download(app: &App, viewer: &Viewer, query: &HashMap<String, String>, extension: &str) -> Response {
    use edusync_cells::Cell;
    let language = viewer.language;
    let school_year = query.get("school_year").cloned().unwrap_or_else(|| current_school_year(app.utc_offset));
    let answer = match app.node().await {
        Ok((mut client, _)) => client.get_compliance(wire::GetComplianceRequest { school_year }).await,
        Err(error) => return problem_page(app, viewer, StatusCode::BAD_GATEWAY, &error),
    };
    let compliance = match answer {
        Ok(answer) => answer.into_inner(),
        Err(status) => return problem_page(app, viewer, StatusCode::FORBIDDEN, &said(&status, language).1),
    };
    let header: Vec<String> = [
        Label::Unit,
        Label::YearReport,
        Label::Semester1Report,
        Label::StaffPledges,
        Label::NotifiedLate,
        Label::InvestigationsOverdue,
    ]
    .iter()
    .map(|label| label.text(language).to_owned())
    .chain(["±".to_owned(), "S1".to_owned(), "S2".to_owned()])
    .collect();
    let rows: Vec<Vec<Cell>> = compliance
        .children
        .iter()
        .map(|child| {
            vec![
                Cell::from(child.org_id.clone()),
                Cell::from(filing_text(child.school_year_report.as_ref(), language)),
                Cell::from(filing_text(child.semester1_report.as_ref(), language)),
                Cell::from(filing_text(child.staff_commitments.as_ref(), language)),
                Cell::from(child.notified_late),
                Cell::from(child.investigations_overdue),
                Cell::from(child.timeliness_margin),
                Cell::from(child.cases_semester1),
                Cell::from(child.cases_semester2),
            ]
        })
        .collect();
    let org = app.org.lock().map(|org| org.clone()).unwrap_or_default();
    let name = format!("{org}-compliance-{}.{extension}", compliance.school_year);
    super::upload::sheet_download("compliance", header, &rows, extension, &name)
        .unwrap_or_else(|message| problem_page(app, viewer, StatusCode::INTERNAL_SERVER_ERROR, &message))
}
