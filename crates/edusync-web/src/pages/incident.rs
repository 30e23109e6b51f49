//! An incident put on record through the form: its clocks, its people,
//! and a refusal shown next to the field it is about.

use super::form::{self, FormProblem};
use super::*;

/// People an incident form offers rows for; more are added as follow-ups.
const PEOPLE: usize = 3;

/// The incident form's fields, as typed (people rows are `people[i].…`).
const INCIDENT_FIELDS: [&str; 17] = [
    "follow_up_of",
    "people",
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

/// The clocks an incident runs against, from its detection, as the policy
/// in force sets them (the law's 3 h, 12 h and 15 days when none does).
pub(super) struct Clocks {
    pub(super) phone_hours: u32,
    pub(super) written_hours: u32,
    pub(super) investigation_days: u32,
    /// The policy that set them, e.g. "12/QĐ-SGDĐT of 01.01.001"; empty for the law's.
    pub(super) source: String,
}

impl Clocks {
    pub(super) async fn in_force(app: &App) -> Clocks {
        let mut clocks = Clocks { phone_hours: 3, written_hours: 12, investigation_days: 15, source: String::new() };
        let Ok((mut client, _)) = app.node().await else { return clocks };
        let Ok(info) = client.get_node_info(wire::GetNodeInfoRequest {}).await else { return clocks };
        let info = info.into_inner();
        if let Ok(mut org) = app.org.lock() {
            org.clone_from(&info.org_id);
        }
        if let Some(policy) = info.policy {
            if let Some(set) = policy.incident_timeliness {
                clocks = Clocks {
                    phone_hours: set.phone_within_hours,
                    written_hours: set.written_within_hours,
                    investigation_days: set.investigation_within_days,
                    source: policy.incident_timeliness_from,
                };
            }
        }
        clocks
    }

    pub(super) fn describe(&self, language: Language) -> Markup {
        html! {
            strong { (Label::Clocks.text(language)) }
            @if !self.source.is_empty() { " (" (Label::PolicyInForce.text(language)) ": " (self.source) ")" }
            ": " (Label::PhoneNotice.text(language)) " ≤ " (self.phone_hours) " h · "
            (Label::WrittenNotice.text(language)) " ≤ " (self.written_hours) " h · "
            (Label::InvestigationDue.text(language)) " ≤ " (self.investigation_days) " d"
        }
    }
}

fn incident_form(
    viewer: &Viewer,
    values: &HashMap<String, String>,
    problem: Option<&FormProblem>,
    clocks: &Clocks,
) -> Markup {
    let language = viewer.language;
    let value = |name: &str| values.get(name).cloned().unwrap_or_default();
    let error_for = |name: &str| -> Option<String> {
        problem.and_then(|problem| {
            let field = problem.field.as_deref()?;
            let field = field.strip_prefix("record.").unwrap_or(field);
            (field == name || field.starts_with(&format!("{name}.")))
                .then(|| problem.reason.clone().unwrap_or_else(|| problem.message.clone()))
        })
    };
    let unplaced = problem.filter(|problem| {
        problem.field.as_deref().is_none_or(|field| {
            let field = field.strip_prefix("record.").unwrap_or(field);
            !INCIDENT_FIELDS.iter().any(|name| {
                field == *name || field.starts_with(&format!("{name}.")) || field.starts_with(&format!("{name}["))
            })
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
        p #clocks { (clocks.describe(language)) }
        @if problem.is_some() {
            p.problem role="alert" {
                (Label::NothingStored.text(language))
                @if let Some(unplaced) = unplaced { " " (unplaced.message) }
            }
        }
        form method="post" action="/records/new" novalidate {
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
            @for row in 0..PEOPLE {
                @let at = |name: &str| format!("people[{row}].{name}");
                fieldset {
                    legend { (Label::PersonInvolved.text(language)) " " (row + 1) " (" (Label::Optional.text(language)) ")" }
                    (select(&at("role"), Label::PersonRole, names(&PersonRole::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>())))
                    (text_input(&at("name"), Label::PersonName, "text", true))
                    (select(&at("sex"), Label::PersonSex, names(&Sex::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>())))
                    (text_input(&at("grade"), Label::PersonGrade, "text", true))
                    (text_input(&at("birth_date"), Label::PersonBirthDate, "date", false))
                }
            }
            (text_input("follow_up_of", Label::FollowUpOf, "text", false))
            button type="submit" { (Label::Save.text(language)) }
        }
    }
}

pub(super) async fn new_incident(
    State(app): Shared,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = operator_only(&app, &viewer).await {
        return refused;
    }
    // A follow-up is opened from the first report's page, its id filled in.
    let values: HashMap<String, String> =
        query.get("follow_up_of").map(|id| ("follow_up_of".to_owned(), id.clone())).into_iter().collect();
    let body = incident_form(&viewer, &values, None, &Clocks::in_force(&app).await);
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

/// People rows left empty are not sent: where each sent person came from.
fn people_rows(form: &HashMap<String, String>) -> Vec<(String, String)> {
    let typed =
        |row: usize, name: &str| form.get(&format!("people[{row}].{name}")).is_some_and(|text| !text.trim().is_empty());
    (0..PEOPLE)
        .filter(|row| ["name", "grade", "birth_date"].iter().any(|name| typed(*row, name)))
        .enumerate()
        .map(|(sent, row)| (format!("people[{sent}]"), format!("people[{row}]")))
        .collect()
}

/// The incident the form describes, or the first field that cannot be one.
fn incident_from_form(form: &HashMap<String, String>, offset: chrono::FixedOffset) -> Result<Record, ValidationError> {
    let get = |name: &str| form.get(name).map(|value| value.trim().to_owned()).unwrap_or_default();
    // A choice from outside the form's lists is named here, in the page's
    // language, rather than left to the decoder's English.
    let one_of = |name: &str, codes: Vec<&'static str>| -> Result<(), ValidationError> {
        let value = get(name);
        if codes.contains(&value.as_str()) {
            return Ok(());
        }
        let expected = codes.iter().map(|code| (*code).to_owned()).collect();
        Err(ValidationError::new(name, Reason::UnknownValue { value, expected }))
    };
    one_of("place", PlaceCategory::ALL.iter().map(|value| value.as_str()).collect())?;
    one_of("category", IncidentCategory::ALL.iter().map(|value| value.as_str()).collect())?;
    one_of("severity", Severity::ALL.iter().map(|value| value.as_str()).collect())?;
    one_of("intake_channel", IntakeChannel::ALL.iter().map(|value| value.as_str()).collect())?;
    one_of("status", IncidentStatus::ALL.iter().map(|value| value.as_str()).collect())?;
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
    let follow_up_of = get("follow_up_of").to_ascii_lowercase();
    if !follow_up_of.is_empty() {
        if !follow_up_of.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(ValidationError::new("follow_up_of", Reason::RecordIdHex));
        }
        if follow_up_of.len() != 64 {
            let got = (follow_up_of.len() / 2) as u64;
            return Err(ValidationError::new("follow_up_of", Reason::RecordIdLength { got }));
        }
        incident["follow_up_of"] = serde_json::Value::from(follow_up_of);
    }
    for row in 0..PEOPLE {
        let at = |name: &str| format!("people[{row}].{name}");
        let name = get(&at("name"));
        // A row is a person once anything typed is in it; the choices alone
        // (which always hold a value) are not.
        if [name.as_str(), &get(&at("grade")), &get(&at("birth_date"))].iter().all(|typed| typed.is_empty()) {
            continue;
        }
        if name.is_empty() {
            return Err(ValidationError::new(at("name"), Reason::Required));
        }
        one_of(&at("role"), PersonRole::ALL.iter().map(|value| value.as_str()).collect())?;
        one_of(&at("sex"), Sex::ALL.iter().map(|value| value.as_str()).collect())?;
        let grade_text = get(&at("grade"));
        let grade: u8 = grade_text
            .parse()
            .map_err(|_| ValidationError::new(at("grade"), Reason::NotAWholeNumber { text: grade_text.clone() }))?;
        let mut person = serde_json::json!({
            "role": get(&at("role")), "name": name, "sex": get(&at("sex")), "grade": grade,
        });
        let birth = get(&at("birth_date"));
        if !birth.is_empty() {
            person["birth_date"] = serde_json::Value::from(birth);
        }
        if let Some(people) = incident["people"].as_array_mut() {
            people.push(person);
        }
    }
    let incident: edusync_core::Incident = form::decode(incident)?;
    Ok(Record::Incident(incident))
}

pub(super) async fn submit_incident(
    State(app): Shared,
    viewer: Viewer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let language = viewer.language;
    let csrf = form.get("csrf").map(String::as_str).unwrap_or_default();
    if !Sessions::csrf_matches(&viewer.session, csrf) {
        tracing::warn!(session = %&viewer.id[..8], "a form without this session's CSRF token was refused");
        return problem_page(
            &app,
            &viewer,
            StatusCode::FORBIDDEN,
            &format!("{} {}", Label::NothingStored.text(language), Label::CsrfRefused.text(language)),
        );
    }
    let record = match incident_from_form(&form, app.utc_offset) {
        Ok(record) => record,
        Err(error) => return refused(&app, &viewer, &form, FormProblem::of(&error, language)).await,
    };
    match submit(&app, &record, language).await {
        Ok(stored) => stored,
        Err(mut problem) => {
            problem.field = problem.field.map(|field| form::form_place(&field, &people_rows(&form)));
            refused(&app, &viewer, &form, problem).await
        }
    }
}

/// The form again, as typed, with what was wrong next to its field (422).
async fn refused(app: &App, viewer: &Viewer, form: &HashMap<String, String>, problem: FormProblem) -> Response {
    let body = incident_form(viewer, form, Some(&problem), &Clocks::in_force(app).await);
    let page = signed_in_page(app, viewer, Label::NewIncident.text(viewer.language), body).await;
    (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
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

    #[test]
    fn a_person_typed_without_a_name_or_with_a_bad_choice_is_refused_not_dropped() {
        let offset = chrono::FixedOffset::east_opt(7 * 3600).expect("offset");
        let mut form: HashMap<String, String> = [
            ("occurred_at", "2025-10-14T09:30"),
            ("detected_at", "2025-10-14T10:00"),
            ("reported_to_school_at", "2025-10-14T10:15"),
            ("place", "classroom"),
            ("category", "verbal"),
            ("severity", "minor"),
            ("intake_channel", "national_hotline_111"),
            ("status", "open"),
            ("narrative", "x"),
            ("people[0].role", "victim"),
            ("people[0].sex", "female"),
            ("people[1].grade", "7"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        let error = incident_from_form(&form, offset).expect_err("a person without a name");
        assert_eq!((error.field.as_str(), &*error.reason), ("people[1].name", &Reason::Required));
        form.insert("people[1].name".into(), "Lê Văn C".into());
        form.insert("people[1].role".into(), "king".into());
        let error = incident_from_form(&form, offset).expect_err("an unknown role");
        assert_eq!(error.field, "people[1].role");
        assert!(matches!(*error.reason, Reason::UnknownValue { .. }), "{error:?}");
        form.insert("people[1].role".into(), "witness".into());
        form.insert("people[1].sex".into(), "male".into());
        let Ok(Record::Incident(incident)) = incident_from_form(&form, offset) else { panic!("an incident") };
        assert_eq!(incident.people.len(), 1, "the untyped row 0 is no person");
        form.insert("follow_up_of".into(), "not-an-id".into());
        assert_eq!(*incident_from_form(&form, offset).expect_err("not hex").reason, Reason::RecordIdHex);
    }
}
