//! Each class of bad input is refused, with the field named.

use chrono::TimeZone;
use serde_json::json;

use super::*;

fn now() -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).single().expect("valid time")
}

fn check(value: serde_json::Value) -> Result<CheckedRecord, ValidationError> {
    let record: Record = parse(value).expect("test JSON matches the schema");
    record.check(&ValidationContext::at(now()))
}

/// Test values are written flat, with the kind beside the fields, and wrapped here.
fn parse(mut value: serde_json::Value) -> Result<Record, serde_json::Error> {
    let object = value.as_object_mut().expect("test value is an object");
    let kind = object.remove("kind").expect("test value names its kind");
    serde_json::from_value(json!({"kind": kind, "record": value}))
}

fn incident() -> serde_json::Value {
    json!({
        "kind": "incident",
        "occurred_at": "2024-10-14T09:30:00+07:00",
        "detected_at": "2024-10-14T10:00:00+07:00",
        "reported_to_school_at": "2024-10-14T10:15:00+07:00",
        "reported_upward_at": "2024-10-14T12:00:00+07:00",
        "place": "schoolyard",
        "category": "physical",
        "severity": "serious",
        "intake_channel": "teacher",
        "people": [
            {"role": "victim", "name": "Nguyễn Thị Lan", "student_number": "HS-0042", "sex": "female",
             "birth_date": "2012-03-04", "grade": 7, "at_risk_groups": ["left_behind"]},
            {"role": "perpetrator", "name": "Trần Văn Nam", "sex": "male", "grade": 8}
        ],
        "narrative": "Hai học sinh xô xát ở sân trường giờ ra chơi.",
        "measures_taken": "Giáo viên chủ nhiệm can thiệp, báo phụ huynh.",
        "status": "investigating"
    })
}

fn periodic_report() -> serde_json::Value {
    json!({
        "kind": "periodic_report",
        "period": "2024-2025/S1",
        "submitted_on": "2025-01-20",
        "awareness_sessions": 4,
        "staff_total": 52,
        "staff_informed": 52,
        "staff_trained": 30,
        "commitments_signed": 52,
        "channels_set_up": ["suggestion_box", "hotline"],
        "counselling_team_in_place": true,
        "psychological_screenings": 1,
        "home_visits": 12,
        "parent_meetings": 2,
        "remarks": "Đã tổ chức tuyên truyền đầu năm học."
    })
}

fn field_of(result: Result<CheckedRecord, ValidationError>) -> String {
    result.expect_err("the record must be refused").field
}

#[test]
fn valid_records_pass_and_keep_their_text() {
    let checked = check(incident()).expect("valid incident");
    let Record::Incident(incident) = checked.record() else { panic!("kind changed") };
    assert_eq!(incident.people[0].name, "Nguyễn Thị Lan");
    check(periodic_report()).expect("valid report");
}

#[test]
fn incident_reported_before_it_occurred_is_refused() {
    let mut value = incident();
    value["detected_at"] = json!("2024-10-14T08:00:00+07:00");
    assert_eq!(field_of(check(value)), "detected_at");
    let mut value = incident();
    value["reported_upward_at"] = json!("2024-10-14T10:00:00+07:00");
    assert_eq!(field_of(check(value)), "reported_upward_at");
}

#[test]
fn dates_outside_the_period_are_refused() {
    let mut value = periodic_report();
    value["submitted_on"] = json!("2024-08-01");
    assert_eq!(field_of(check(value)), "submitted_on");

    let commitment = json!({"kind": "commitment", "record": {"kind": "staff_pledge", "signer_role": "staff",
        "count": 52, "signed_on": "2025-09-05", "school_year": "2024-2025"}});
    let record: Record = serde_json::from_value(commitment).expect("schema");
    assert_eq!(record.check(&ValidationContext::without_clock()).expect_err("outside").field, "signed_on");

    let register = json!({"kind": "risk_register", "period": "2024-2025/S2", "screened_on": "2024-10-01",
        "counts": [{"group": "very_poor", "count": 3}]});
    assert_eq!(field_of(check(register)), "screened_on");

    let mut value = incident();
    value["people"][0]["birth_date"] = json!("2025-01-01");
    assert_eq!(field_of(check(value)), "people[0].birth_date");
}

#[test]
fn counts_that_do_not_add_up_are_refused() {
    let mut value = periodic_report();
    value["staff_trained"] = json!(53);
    assert_eq!(field_of(check(value)), "staff_trained");

    let register = json!({"kind": "risk_register", "period": "2024-2025/S1", "screened_on": "2024-10-01",
    "counts": [{"group": "very_poor", "count": 1}],
    "students": [
        {"name": "Lê Văn A", "group": "very_poor", "grade": 6},
        {"name": "Phạm Thị B", "group": "very_poor", "grade": 6}
    ]});
    assert_eq!(field_of(check(register)), "counts");
}

#[test]
fn oversized_text_is_refused() {
    let mut value = incident();
    value["narrative"] = json!("x".repeat(20_001));
    assert_eq!(field_of(check(value)), "narrative");
    let mut value = incident();
    value["people"][1]["name"] = json!("y".repeat(201));
    assert_eq!(field_of(check(value)), "people[1].name");
}

#[test]
fn unknown_enum_values_are_refused_by_name() {
    let mut value = incident();
    value["category"] = json!("teasing");
    let error = parse(value).expect_err("unknown category");
    assert!(error.to_string().contains("teasing"), "{error}");
    assert_eq!("teasing".parse::<crate::IncidentCategory>().expect_err("unknown").field, "IncidentCategory");
}

#[test]
fn records_dated_in_the_future_are_refused() {
    let mut value = periodic_report();
    value["period"] = json!("2024-2025/S2");
    value["submitted_on"] = json!("2025-08-01");
    assert_eq!(field_of(check(value)), "submitted_on");
}

#[test]
fn signer_role_must_fit_the_commitment_kind() {
    let record = Record::Commitment(crate::Commitment {
        kind: crate::CommitmentKind::StaffPledge,
        signer_role: SignerRole::Parent,
        count: 3,
        signed_on: NaiveDate::from_ymd_opt(2024, 9, 5).expect("valid date"),
        school_year: "2024-2025".parse().expect("valid year"),
    });
    assert_eq!(record.check(&ValidationContext::at(now())).expect_err("wrong signer").field, "signer_role");
}

fn policy() -> serde_json::Value {
    json!({
        "kind": "policy", "number": "12/QĐ-SGDĐT", "issued_on": "2024-09-05", "issuing_org": "VN.BT",
        "school_year": "2024-2025",
        "deadlines": [{"report": "school_year_report", "level": "school", "due_on": "2025-08-01"}],
        "incident_timeliness": {"phone_within_hours": 3, "written_within_hours": 12, "investigation_within_days": 15},
        "privacy": {"demographic_crosses": true, "epsilon_per_release_millionths": 500000,
                    "epsilon_per_school_year_millionths": 2000000}
    })
}

#[test]
fn a_policy_with_impossible_rules_is_refused_naming_the_field() {
    check(policy()).expect("the example policy is valid");
    let cases: [(&str, serde_json::Value, &str); 5] = [
        ("/incident_timeliness/written_within_hours", json!(2), "incident_timeliness.written_within_hours"),
        ("/privacy/epsilon_per_release_millionths", json!(0), "privacy.epsilon_per_release_millionths"),
        ("/privacy/epsilon_per_school_year_millionths", json!(1000), "privacy.epsilon_per_school_year_millionths"),
        ("/deadlines/0/due_on", json!("2027-01-01"), "deadlines[0].due_on"),
        ("/issued_on", json!("2025-07-01"), "issued_on"),
    ];
    for (pointer, value, field) in cases {
        let mut bad = policy();
        *bad.pointer_mut(pointer).expect("pointer exists") = value;
        let error = check(bad).expect_err(field);
        assert_eq!(error.field, field, "{error}");
    }
    let mut twice = policy();
    let again = twice["deadlines"][0].clone();
    twice["deadlines"].as_array_mut().expect("array").push(again);
    assert_eq!(check(twice).expect_err("set twice").field, "deadlines[1].report");
}
