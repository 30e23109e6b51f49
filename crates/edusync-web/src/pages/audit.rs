//! An auditor's page: a bundle checked against the root's keys.

use super::*;

/// Bundles of large offices run to tens of megabytes.
pub(super) const AUDIT_UPLOAD_LIMIT: usize = 64 * 1024 * 1024;

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

pub(super) async fn audit_form(State(app): Shared, viewer: Viewer) -> Response {
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

pub(super) async fn audit_verify(State(app): Shared, viewer: Viewer, mut form: axum::extract::Multipart) -> Response {
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
        return problem_page(&app, &viewer, StatusCode::FORBIDDEN, Label::CsrfRefused.text(viewer.language));
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
