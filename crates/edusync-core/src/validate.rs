//! The rules every record passes before it is signed or accepted from a peer.
//!
//! Validation also normalises: free text is NFC-normalised here, so the bytes
//! that get signed are the normalised ones. A `CheckedRecord` can only be
//! built by passing these rules.

use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate};

use crate::text::normalize_text;
use crate::{
    AtRiskGroup, Commitment, CommitmentKind, Incident, IncidentTimeliness, PeriodicReport, PersonInvolved, Plan,
    Policy, Reason, Record, RecordKind, RiskRegister, SignerRole, Timestamp, ValidationError,
};

const SHORT_TEXT: usize = 200;
const LONG_TEXT: usize = 10_000;
const NARRATIVE_TEXT: usize = 20_000;
const MAX_LIST: usize = 200;
const MAX_PEOPLE: usize = 100;
const MAX_COUNT: u32 = 1_000_000;
const MAX_GRADE: u8 = 12;
/// A plan may be issued before the school year it covers, for up to this long.
const PLAN_LEAD_DAYS: i64 = 183;

/// What validation needs to know about the world.
#[derive(Clone, Copy, Debug)]
pub struct ValidationContext {
    /// When set, records dated in the future (beyond `clock_grace`) are refused.
    /// Unset when checking records from peers, whose clocks we do not judge here.
    pub now: Option<Timestamp>,
    pub clock_grace: Duration,
}

impl ValidationContext {
    pub fn at(now: Timestamp) -> Self {
        ValidationContext { now: Some(now), clock_grace: Duration::hours(24) }
    }

    pub fn without_clock() -> Self {
        ValidationContext { now: None, clock_grace: Duration::zero() }
    }

    fn latest_allowed(&self) -> Option<Timestamp> {
        self.now.map(|now| now + self.clock_grace)
    }

    fn latest_allowed_date(&self) -> Option<NaiveDate> {
        self.latest_allowed().map(|t| t.date_naive())
    }
}

/// A record that has passed validation, with its text normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedRecord(Record);

impl CheckedRecord {
    pub fn record(&self) -> &Record {
        &self.0
    }

    pub fn into_record(self) -> Record {
        self.0
    }

    pub fn kind(&self) -> RecordKind {
        self.0.kind()
    }
}

impl Record {
    /// Normalises and validates the record; the error names the first field
    /// that breaks a rule and says why.
    pub fn check(self, context: &ValidationContext) -> Result<CheckedRecord, ValidationError> {
        let record = match self {
            Record::Plan(plan) => Record::Plan(check_plan(plan, context)?),
            Record::Incident(incident) => Record::Incident(check_incident(incident, context)?),
            Record::PeriodicReport(report) => Record::PeriodicReport(check_periodic_report(report, context)?),
            Record::Commitment(commitment) => Record::Commitment(check_commitment(commitment, context)?),
            Record::RiskRegister(register) => Record::RiskRegister(check_risk_register(register, context)?),
            Record::Aggregate(aggregate) => {
                aggregate.check()?;
                Record::Aggregate(aggregate)
            }
            Record::SevereNotice(notice) => {
                notice.check()?;
                Record::SevereNotice(notice)
            }
            Record::Policy(policy) => Record::Policy(check_policy(policy, context)?),
        };
        Ok(CheckedRecord(record))
    }
}

fn short(field: &str, text: &str) -> Result<String, ValidationError> {
    normalize_text(field, text, 1, SHORT_TEXT, false)
}

fn optional_short(field: &str, text: Option<String>) -> Result<Option<String>, ValidationError> {
    match text {
        Some(text) if !text.trim().is_empty() => Ok(Some(short(field, &text)?)),
        _ => Ok(None),
    }
}

fn long(field: &str, text: &str, max: usize) -> Result<String, ValidationError> {
    normalize_text(field, text, 0, max, true)
}

fn list<T>(field: &str, items: &[T], max: usize) -> Result<(), ValidationError> {
    if items.len() > max {
        return Err(ValidationError::new(field, Reason::TooManyEntries { count: items.len() as u64, max: max as u64 }));
    }
    Ok(())
}

fn count(field: &str, value: u32) -> Result<(), ValidationError> {
    if value > MAX_COUNT {
        return Err(ValidationError::new(field, Reason::OverLimit { value: value.into(), max: MAX_COUNT.into() }));
    }
    Ok(())
}

fn not_in_future(field: &str, date: NaiveDate, context: &ValidationContext) -> Result<(), ValidationError> {
    match context.latest_allowed_date() {
        Some(latest) if date > latest => {
            Err(ValidationError::new(field, Reason::InTheFuture { value: date.to_string() }))
        }
        _ => Ok(()),
    }
}

fn unique<T: Ord + Copy + std::fmt::Display>(field: &str, values: &[T]) -> Result<(), ValidationError> {
    let mut seen = BTreeSet::new();
    for value in values {
        if !seen.insert(*value) {
            return Err(ValidationError::new(field, Reason::ListedTwice { value: value.to_string() }));
        }
    }
    Ok(())
}

fn student_number(field: &str, value: Option<String>) -> Result<Option<String>, ValidationError> {
    let Some(value) = optional_short(field, value)? else { return Ok(None) };
    if value.chars().count() > 32 || !value.chars().all(|c| c.is_alphanumeric() || "-/._".contains(c)) {
        return Err(ValidationError::new(field, Reason::StudentNumberFormat));
    }
    Ok(Some(value))
}

fn grade(field: &str, value: u8) -> Result<(), ValidationError> {
    if value > MAX_GRADE {
        return Err(ValidationError::new(
            field,
            Reason::GradeOutOfRange { value: value.into(), max: MAX_GRADE.into() },
        ));
    }
    Ok(())
}

/// Most a unit may spend on one release, and in one school year: a policy
/// that allows more protects nobody.
const MAX_EPSILON_MILLIONTHS: u64 = 10_000_000;

/// A plan or policy is issued during the school year it covers, or up to
/// `PLAN_LEAD_DAYS` before it, and not in the future.
fn issued_for(
    what: &str,
    issued_on: NaiveDate,
    school_year: crate::SchoolYear,
    context: &ValidationContext,
) -> Result<(), ValidationError> {
    let earliest = school_year.first_day() - Duration::days(PLAN_LEAD_DAYS);
    if issued_on < earliest || issued_on > school_year.last_day() {
        return Err(ValidationError::new(
            "issued_on",
            Reason::IssuedOutsideSchoolYear {
                date: issued_on.to_string(),
                school_year: school_year.to_string(),
                kind: what.to_owned(),
                earliest: earliest.to_string(),
                latest: school_year.last_day().to_string(),
            },
        ));
    }
    not_in_future("issued_on", issued_on, context)
}

fn check_policy(policy: Policy, context: &ValidationContext) -> Result<Policy, ValidationError> {
    issued_for("policy", policy.issued_on, policy.school_year, context)?;
    list("deadlines", &policy.deadlines, MAX_LIST)?;
    let mut seen = BTreeSet::new();
    for (index, deadline) in policy.deadlines.iter().enumerate() {
        let at = |name: &str| format!("deadlines[{index}].{name}");
        if !seen.insert((deadline.report, deadline.level)) {
            return Err(ValidationError::new(
                at("report"),
                Reason::DeadlineSetTwice { report: deadline.report.to_string(), level: deadline.level.to_string() },
            ));
        }
        let latest = policy.school_year.last_day() + Duration::days(92);
        if deadline.due_on < policy.school_year.first_day() || deadline.due_on > latest {
            return Err(ValidationError::new(
                at("due_on"),
                Reason::DueOutsideSchoolYear {
                    date: deadline.due_on.to_string(),
                    school_year: policy.school_year.to_string(),
                },
            ));
        }
    }
    if let Some(timeliness) = &policy.incident_timeliness {
        let IncidentTimeliness { phone_within_hours, written_within_hours, investigation_within_days } = *timeliness;
        if !(1..=72).contains(&phone_within_hours) {
            return Err(ValidationError::new(
                "incident_timeliness.phone_within_hours",
                Reason::NotBetween { value: phone_within_hours.into(), min: 1, max: 72 },
            ));
        }
        if written_within_hours < phone_within_hours || written_within_hours > 168 {
            return Err(ValidationError::new(
                "incident_timeliness.written_within_hours",
                Reason::AtLeastAtMost {
                    value: written_within_hours.into(),
                    least_field: "phone_within_hours".into(),
                    least: phone_within_hours.into(),
                    max: 168,
                },
            ));
        }
        if !(1..=90).contains(&investigation_within_days) {
            return Err(ValidationError::new(
                "incident_timeliness.investigation_within_days",
                Reason::NotBetween { value: investigation_within_days.into(), min: 1, max: 90 },
            ));
        }
    }
    if let Some(privacy) = &policy.privacy {
        let (release, year) = (privacy.epsilon_per_release_millionths, privacy.epsilon_per_school_year_millionths);
        if release == 0 || release > MAX_EPSILON_MILLIONTHS {
            return Err(ValidationError::new(
                "privacy.epsilon_per_release_millionths",
                Reason::NotBetween { value: release as i64, min: 1, max: MAX_EPSILON_MILLIONTHS as i64 },
            ));
        }
        if year < release || year > MAX_EPSILON_MILLIONTHS * 10 {
            return Err(ValidationError::new(
                "privacy.epsilon_per_school_year_millionths",
                Reason::AtLeastAtMost {
                    value: year as i64,
                    least_field: "epsilon_per_release_millionths".into(),
                    least: release as i64,
                    max: (MAX_EPSILON_MILLIONTHS * 10) as i64,
                },
            ));
        }
        if let Some(tables) = &privacy.reader_tables {
            check_reader_tables(tables)?;
        }
    }
    Ok(Policy { number: short("number", &policy.number)?, ..policy })
}

/// The largest rho a policy may set for one semester's releases at one
/// office; beyond it the guarantee means nothing.
pub(crate) const MAX_RHO_MILLIONTHS: u64 = 50_000_000;

fn check_reader_tables(tables: &crate::ReaderTables) -> Result<(), ValidationError> {
    let (release, semester) = (tables.rho_per_release_millionths, tables.rho_per_semester_millionths);
    if release == 0 || release > MAX_RHO_MILLIONTHS {
        return Err(ValidationError::new(
            "privacy.reader_tables.rho_per_release_millionths",
            Reason::NotBetween { value: release as i64, min: 1, max: MAX_RHO_MILLIONTHS as i64 },
        ));
    }
    if semester < release || semester > MAX_RHO_MILLIONTHS {
        return Err(ValidationError::new(
            "privacy.reader_tables.rho_per_semester_millionths",
            Reason::AtLeastAtMost {
                value: semester as i64,
                least_field: "rho_per_release_millionths".into(),
                least: release as i64,
                max: MAX_RHO_MILLIONTHS as i64,
            },
        ));
    }
    if !(1..=366).contains(&tables.release_every_days) {
        return Err(ValidationError::new(
            "privacy.reader_tables.release_every_days",
            Reason::NotBetween { value: tables.release_every_days.into(), min: 1, max: 366 },
        ));
    }
    Ok(())
}

fn check_plan(plan: Plan, context: &ValidationContext) -> Result<Plan, ValidationError> {
    issued_for("plan", plan.issued_on, plan.school_year, context)?;
    list("goals", &plan.goals, MAX_LIST)?;
    list("activities", &plan.activities, MAX_LIST)?;
    list("recipients", &plan.recipients, MAX_LIST)?;
    let goals = plan
        .goals
        .iter()
        .enumerate()
        .map(|(index, goal)| normalize_text(&format!("goals[{index}]"), goal, 1, LONG_TEXT, true))
        .collect::<Result<_, _>>()?;
    let mut items = BTreeSet::new();
    let mut activities = Vec::with_capacity(plan.activities.len());
    for (index, activity) in plan.activities.into_iter().enumerate() {
        let at = |name: &str| format!("activities[{index}].{name}");
        if !items.insert(activity.item) {
            return Err(ValidationError::new(at("item"), Reason::ItemNumberTwice { item: activity.item.into() }));
        }
        list(&at("coordinating_units"), &activity.coordinating_units, MAX_LIST)?;
        activities.push(crate::PlanActivity {
            item: activity.item,
            content: normalize_text(&at("content"), &activity.content, 1, LONG_TEXT, true)?,
            lead_unit: short(&at("lead_unit"), &activity.lead_unit)?,
            coordinating_units: activity
                .coordinating_units
                .iter()
                .enumerate()
                .map(|(unit, text)| short(&format!("activities[{index}].coordinating_units[{unit}]"), text))
                .collect::<Result<_, _>>()?,
            time_frame: short(&at("time_frame"), &activity.time_frame)?,
        });
    }
    Ok(Plan {
        number: short("number", &plan.number)?,
        issued_on: plan.issued_on,
        issuing_org: plan.issuing_org,
        title: normalize_text("title", &plan.title, 1, 500, false)?,
        school_year: plan.school_year,
        implements_plan: optional_short("implements_plan", plan.implements_plan)?,
        goals,
        activities,
        recipients: plan
            .recipients
            .iter()
            .enumerate()
            .map(|(index, text)| short(&format!("recipients[{index}]"), text))
            .collect::<Result<_, _>>()?,
    })
}

fn check_incident(incident: Incident, context: &ValidationContext) -> Result<Incident, ValidationError> {
    let order = |field: &str, later: Timestamp, earlier_name: &str, earlier: Timestamp| {
        if later < earlier {
            Err(ValidationError::new(
                field,
                Reason::Before {
                    later: later.to_rfc3339(),
                    earlier_field: earlier_name.to_owned(),
                    earlier: earlier.to_rfc3339(),
                },
            ))
        } else {
            Ok(())
        }
    };
    order("detected_at", incident.detected_at, "occurred_at", incident.occurred_at)?;
    order("reported_to_school_at", incident.reported_to_school_at, "detected_at", incident.detected_at)?;
    if let Some(upward) = incident.reported_upward_at {
        order("reported_upward_at", upward, "reported_to_school_at", incident.reported_to_school_at)?;
    }
    if let Some(latest) = context.latest_allowed() {
        let latest_time = incident.reported_upward_at.unwrap_or(incident.reported_to_school_at);
        let field = if incident.reported_upward_at.is_some() { "reported_upward_at" } else { "reported_to_school_at" };
        if latest_time > latest {
            return Err(ValidationError::new(field, Reason::InTheFuture { value: latest_time.to_rfc3339() }));
        }
    }
    list("people", &incident.people, MAX_PEOPLE)?;
    let occurred_on = incident.occurred_at.date_naive();
    let people = incident
        .people
        .into_iter()
        .enumerate()
        .map(|(index, person)| check_person(person, occurred_on).map_err(|e| e.within(&format!("people[{index}]"))))
        .collect::<Result<_, _>>()?;
    if incident.follow_up_of == Some(crate::RecordId::ZERO) {
        return Err(ValidationError::new("follow_up_of", Reason::AllZeroId));
    }
    Ok(Incident {
        people,
        narrative: normalize_text("narrative", &incident.narrative, 1, NARRATIVE_TEXT, true)?,
        measures_taken: long("measures_taken", &incident.measures_taken, LONG_TEXT)?,
        ..incident
    })
}

fn check_person(person: PersonInvolved, occurred_on: NaiveDate) -> Result<PersonInvolved, ValidationError> {
    grade("grade", person.grade)?;
    unique("at_risk_groups", &person.at_risk_groups)?;
    if let Some(birth) = person.birth_date {
        if birth >= occurred_on {
            return Err(ValidationError::new(
                "birth_date",
                Reason::BirthNotBeforeIncident { birth: birth.to_string(), occurred: occurred_on.to_string() },
            ));
        }
        if occurred_on.years_since(birth).unwrap_or(0) > 30 {
            return Err(ValidationError::new("birth_date", Reason::OlderThanThirty { birth: birth.to_string() }));
        }
    }
    Ok(PersonInvolved {
        name: short("name", &person.name)?,
        student_number: student_number("student_number", person.student_number)?,
        ..person
    })
}

fn check_periodic_report(
    report: PeriodicReport,
    context: &ValidationContext,
) -> Result<PeriodicReport, ValidationError> {
    if report.submitted_on < report.period.first_day() {
        return Err(ValidationError::new(
            "submitted_on",
            Reason::SubmittedBeforePeriod {
                date: report.submitted_on.to_string(),
                period: report.period.to_string(),
                begins: report.period.first_day().to_string(),
            },
        ));
    }
    if report.submitted_on > report.period.last_day() + Duration::days(183) {
        return Err(ValidationError::new(
            "submitted_on",
            Reason::SubmittedLongAfterPeriod {
                date: report.submitted_on.to_string(),
                period: report.period.to_string(),
            },
        ));
    }
    not_in_future("submitted_on", report.submitted_on, context)?;
    for (field, value) in [
        ("awareness_sessions", report.awareness_sessions),
        ("staff_total", report.staff_total),
        ("staff_informed", report.staff_informed),
        ("staff_trained", report.staff_trained),
        ("commitments_signed", report.commitments_signed),
        ("psychological_screenings", report.psychological_screenings),
        ("home_visits", report.home_visits),
        ("parent_meetings", report.parent_meetings),
    ] {
        count(field, value)?;
    }
    for (field, value) in [("staff_informed", report.staff_informed), ("staff_trained", report.staff_trained)] {
        if value > report.staff_total {
            return Err(ValidationError::new(
                field,
                Reason::MoreThanStaffTotal { value: value.into(), staff_total: report.staff_total.into() },
            ));
        }
    }
    unique("channels_set_up", &report.channels_set_up)?;
    Ok(PeriodicReport { remarks: long("remarks", &report.remarks, LONG_TEXT)?, ..report })
}

fn check_commitment(commitment: Commitment, context: &ValidationContext) -> Result<Commitment, ValidationError> {
    if commitment.count == 0 {
        return Err(ValidationError::new("count", Reason::CommitmentCountsNone));
    }
    count("count", commitment.count)?;
    if !commitment.school_year.contains(commitment.signed_on) {
        return Err(ValidationError::new(
            "signed_on",
            Reason::OutsideSchoolYear {
                date: commitment.signed_on.to_string(),
                school_year: commitment.school_year.to_string(),
            },
        ));
    }
    not_in_future("signed_on", commitment.signed_on, context)?;
    let allowed: &[SignerRole] = match commitment.kind {
        CommitmentKind::StaffPledge => &[SignerRole::Staff, SignerRole::Teacher, SignerRole::Principal],
        CommitmentKind::ParentStudentSchool => &[SignerRole::Parent, SignerRole::Student, SignerRole::Principal],
        CommitmentKind::SchoolToAuthority => &[SignerRole::Principal],
    };
    if !allowed.contains(&commitment.signer_role) {
        return Err(ValidationError::new(
            "signer_role",
            Reason::WrongSigner {
                kind: commitment.kind.to_string(),
                allowed: allowed.iter().map(|role| role.as_str().to_owned()).collect(),
                got: commitment.signer_role.to_string(),
            },
        ));
    }
    Ok(commitment)
}

fn check_risk_register(register: RiskRegister, context: &ValidationContext) -> Result<RiskRegister, ValidationError> {
    if !register.period.is_semester() {
        return Err(ValidationError::new("period", Reason::NotOneSemester { period: register.period.to_string() }));
    }
    if !register.period.contains(register.screened_on) {
        return Err(ValidationError::new(
            "screened_on",
            Reason::OutsideSemester { date: register.screened_on.to_string(), period: register.period.to_string() },
        ));
    }
    not_in_future("screened_on", register.screened_on, context)?;
    let groups: Vec<AtRiskGroup> = register.counts.iter().map(|entry| entry.group).collect();
    unique("counts", &groups)?;
    for (index, entry) in register.counts.iter().enumerate() {
        count(&format!("counts[{index}].count"), entry.count)?;
    }
    list("students", &register.students, 10_000)?;
    let mut students = Vec::with_capacity(register.students.len());
    for (index, student) in register.students.into_iter().enumerate() {
        let at = |name: &str| format!("students[{index}].{name}");
        grade(&at("grade"), student.grade)?;
        students.push(crate::AtRiskStudent {
            name: short(&at("name"), &student.name)?,
            student_number: student_number(&at("student_number"), student.student_number)?,
            ..student
        });
    }
    for group in AtRiskGroup::ALL {
        let named = students.iter().filter(|student| student.group == *group).count() as u64;
        let counted =
            register.counts.iter().find(|entry| entry.group == *group).map_or(0, |entry| u64::from(entry.count));
        if named > counted {
            return Err(ValidationError::new(
                "counts",
                Reason::NamedMoreThanCounted { named, group: group.to_string(), counted },
            ));
        }
    }
    Ok(RiskRegister { students, ..register })
}

#[cfg(test)]
mod tests;
