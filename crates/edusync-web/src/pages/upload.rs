//! Spreadsheets uploaded whole, their templates, and files to download.

use edusync_core::RecordKind;

use super::entry::kind_name;
use super::*;

/// The kinds kept in spreadsheets, with a template to fill.
fn sheet_kinds() -> [RecordKind; 2] {
    [RecordKind::Commitment, RecordKind::PeriodicReport]
}

/// Uploads are spreadsheets within the import's own limit.
pub(super) const UPLOAD_LIMIT: usize = edusync_cells::limits::FILE_BYTES as usize + 64 * 1024;

fn upload_form(viewer: &Viewer, chosen: Option<RecordKind>) -> Markup {
    let language = viewer.language;
    html! {
        h1 { (Label::Upload.text(language)) }
        p { (Label::UploadHelp.text(language)) }
        ul {
            @for kind in sheet_kinds() {
                li { (kind_name(kind, language)) ": "
                    a href=(format!("/records/template/{kind}.xlsx")) download { (Label::Template.text(language)) " XLSX" } " · "
                    a href=(format!("/records/template/{kind}.csv")) download { "CSV" }
                }
            }
        }
        form method="post" action="/records/upload" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(viewer.session.csrf);
            label for="kind" { (Label::Kind.text(language)) }
            select id="kind" name="kind" {
                @for kind in sheet_kinds() { option value=(kind.as_str()) selected[chosen == Some(kind)] { (kind_name(kind, language)) } }
            }
            label for="sheet" { (Label::Spreadsheet.text(language)) " (.xlsx, .csv)" }
            input id="sheet" name="sheet" type="file" accept=".xlsx,.csv,text/csv" required;
            button type="submit" { (Label::Upload.text(language)) }
        }
    }
}

pub(super) async fn upload_page(State(app): Shared, viewer: Viewer) -> Response {
    if let Some(refused) = operator_only(&app, &viewer).await {
        return refused;
    }
    let body = upload_form(&viewer, None);
    signed_in_page(&app, &viewer, Label::Upload.text(viewer.language), body).await
}

/// A template to fill, with headers in the page's language; its example row
/// is marked, so that uploading it untouched stores nothing.
pub(super) async fn template(
    State(app): Shared,
    viewer: Viewer,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let language = viewer.language;
    let (name, extension) = file.rsplit_once('.').unwrap_or((&file, ""));
    let Some(kind) = name.parse::<RecordKind>().ok().filter(|kind| sheet_kinds().contains(kind)) else {
        return problem_page(&app, &viewer, StatusCode::NOT_FOUND, &format!("kind: no template for `{name}`"));
    };
    let (header, example) = match edusync_sheet::template(kind, language) {
        Ok(template) => template,
        Err(error) => return problem_page(&app, &viewer, StatusCode::NOT_FOUND, &error.text(language)),
    };
    let written = match extension {
        "xlsx" => edusync_sheet::template_xlsx(kind, language).map_err(|error| error.to_string()),
        "csv" => csv_bytes(&[header, example]),
        _ => Err(format!("{file}: a template is .xlsx or .csv")),
    };
    match written {
        Ok(bytes) => download(bytes, extension, &format!("{kind}-template.{extension}")),
        Err(message) => problem_page(&app, &viewer, StatusCode::NOT_FOUND, &message),
    }
}

/// An upload that could not be read whole: most often one past the limit.
fn upload_unreadable(app: &App, viewer: &Viewer, detail: &str) -> Response {
    tracing::debug!(%detail, "an upload could not be read");
    let message = format!(
        "{} {} ({} MiB)",
        Label::NothingStored.text(viewer.language),
        Label::UploadUnreadable.text(viewer.language),
        edusync_cells::limits::FILE_BYTES >> 20
    );
    problem_page(app, viewer, StatusCode::PAYLOAD_TOO_LARGE, &message)
}

/// Rows as CSV bytes.
pub(super) fn csv_bytes(rows: &[Vec<String>]) -> Result<Vec<u8>, String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.write_record(row).map_err(|error| error.to_string())?;
    }
    writer.into_inner().map_err(|error| error.to_string())
}

/// Rows shown on a page as a file to save: XLSX (numbers as numbers) or CSV.
pub(super) fn sheet_download(
    sheet: &str,
    header: Vec<String>,
    rows: &[Vec<edusync_cells::Cell>],
    extension: &str,
    name: &str,
) -> Result<Response, String> {
    use edusync_cells::Cell;
    let bytes = if extension == "xlsx" {
        edusync_cells::xlsx(sheet, &header, rows, &[], 0).map_err(|error| error.to_string())?
    } else {
        let text = |cell: &Cell| match cell {
            Cell::Text(text) => text.clone(),
            Cell::Number(number) => format!("{number}"),
            Cell::Empty => String::new(),
        };
        let mut all = vec![header];
        all.extend(rows.iter().map(|row| row.iter().map(text).collect()));
        csv_bytes(&all)?
    };
    Ok(download(bytes, extension, name))
}

/// A file to save, named.
pub(super) fn download(bytes: Vec<u8>, extension: &str, name: &str) -> Response {
    let kind = match extension {
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "json" => "application/json",
        _ => "text/csv; charset=utf-8",
    };
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// A spreadsheet uploaded whole: every row checked first, every bad row
/// shown with its column, value and reason, and nothing stored unless all
/// are good (as `edusync import` does without --skip-invalid).
pub(super) async fn upload(State(app): Shared, viewer: Viewer, mut form: axum::extract::Multipart) -> Response {
    let language = viewer.language;
    let (mut kind_text, mut csrf, mut file_name, mut bytes) = (String::new(), String::new(), String::new(), Vec::new());
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                if name == "sheet" {
                    file_name = field.file_name().unwrap_or_default().to_owned();
                }
                match field.bytes().await {
                    Ok(read) => match name.as_str() {
                        "sheet" => bytes = read.to_vec(),
                        "kind" => kind_text = String::from_utf8_lossy(&read).into_owned(),
                        "csrf" => csrf = String::from_utf8_lossy(&read).into_owned(),
                        _ => {}
                    },
                    Err(error) => return upload_unreadable(&app, &viewer, &error.to_string()),
                }
            }
            Ok(None) => break,
            Err(error) => return upload_unreadable(&app, &viewer, &error.to_string()),
        }
    }
    if !Sessions::csrf_matches(&viewer.session, &csrf) {
        tracing::warn!(session = %&viewer.id[..8], "an upload without this session's CSRF token was refused");
        let message = format!("{} {}", Label::NothingStored.text(language), Label::CsrfRefused.text(language));
        return problem_page(&app, &viewer, StatusCode::FORBIDDEN, &message);
    }
    let kind = kind_text.parse::<RecordKind>().ok().filter(|kind| sheet_kinds().contains(kind));
    let (app, viewer) = (&app, &viewer);
    let refuse = move |message: String, table: Markup| async move {
        let body = html! {
            (upload_form(viewer, kind))
            p.problem role="alert" { (Label::NothingStored.text(language)) " " (message) }
            (table)
        };
        let page = signed_in_page(app, viewer, Label::Upload.text(language), body).await;
        (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
    };
    let Some(kind) = kind else {
        return refuse(format!("kind: `{kind_text}` is not commitment or periodic_report"), html! {}).await;
    };
    let cells = match edusync_cells::read(&bytes, edusync_cells::Format::of_name(&file_name)) {
        Ok(cells) => cells,
        Err(error) => return refuse(format!("{file_name}: {error}"), html! {}).await,
    };
    let (records, problems) = match edusync_sheet::read_rows(kind, &cells, chrono::Utc::now()) {
        Ok(read) => read,
        Err(error) => return refuse(format!("{file_name}: {}", error.text(language)), html! {}).await,
    };
    if !problems.is_empty() {
        let mut rows: Vec<usize> = problems.iter().map(|problem| problem.row).collect();
        rows.dedup();
        let message = edusync_i18n::Message::BadRows {
            file: file_name.clone(),
            bad: rows.len(),
            total: rows.len() + records.len(),
        }
        .text(language);
        let table = html! {
            table #problems {
                tr { th { (Label::Row.text(language)) } th { (Label::Column.text(language)) } th { (Label::Value.text(language)) } th { (Label::Reason.text(language)) } }
                @for problem in &problems {
                    tr {
                        td { (problem.row) } td { (problem.column) } td { (problem.value) }
                        td style="text-align:left;white-space:normal" { (edusync_i18n::reason(&problem.reason, language)) }
                    }
                }
            }
        };
        return refuse(message, table).await;
    }
    if records.is_empty() {
        return refuse(format!("{file_name}: {}", Label::NoRows.text(language)), html! {}).await;
    }
    let mut client = match app.node().await {
        Ok((client, _)) => client,
        Err(error) => return refuse(error, html! {}).await,
    };
    let (mut stored, mut already, mut done) = (0usize, 0usize, 0usize);
    for chunk in records.chunks(edusync_node::MAX_RECORDS_PER_SUBMISSION.min(250)) {
        let request = wire::SubmitRecordsRequest { records: chunk.iter().map(|(_, record)| record.into()).collect() };
        match client.submit_records(request).await {
            Ok(answer) => {
                let results = answer.into_inner().results;
                already += results.iter().filter(|result| result.already_stored).count();
                stored += results.iter().filter(|result| !result.already_stored).count();
                done += chunk.len();
            }
            Err(status) => {
                let (_, said) = said(&status, language);
                // Earlier chunks are stored; uploading the same file again stores only the rest.
                let message = format!("{said} ({} {done}/{})", Label::RowsStoredBefore.text(language), records.len());
                return refuse(message, html! {}).await;
            }
        }
    }
    let body = html! {
        h1 { (Label::Upload.text(language)) }
        p.notice role="status" id="imported" {
            (edusync_i18n::Message::Imported { file: file_name, stored, already, rejected: 0 }.text(language))
        }
        p { a href=(format!("/records?kind={kind}")) { (Label::Records.text(language)) } }
    };
    signed_in_page(app, viewer, Label::Upload.text(language), body).await
}
