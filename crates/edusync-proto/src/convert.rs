//! Wire <-> domain conversions. Wire to domain is fallible and names the field.

use chrono::{DateTime, NaiveDate, Utc};
use prost::Message;

use edusync_core as core;
use edusync_core::{
    LogStream, OrgId, Period, PeriodSpan, Reason, Record, RecordId, RecordKind, SchoolYear, ValidationError,
};
use edusync_envelope::EnvelopeHeader;

use crate::wire;

/// Maps a domain enum to its generated twin, variant for variant; value 0
/// (UNSPECIFIED) and numbers this build does not know are refused.
macro_rules! wire_enum {
    ($domain:ident { $($variant:ident),+ $(,)? }) => {
        impl WireEnum for core::$domain {
            fn to_wire(self) -> i32 {
                match self { $(core::$domain::$variant => wire::$domain::$variant as i32),+ }
            }
            fn from_wire(field: &str, value: i32) -> Result<Self, ValidationError> {
                match wire::$domain::try_from(value) {
                    $(Ok(wire::$domain::$variant) => Ok(core::$domain::$variant),)+
                    _ => Err(ValidationError::new(field, Reason::malformed(format!("missing or unknown {} value {value}", stringify!($domain))))),
                }
            }
        }
    };
}

trait WireEnum: Sized {
    fn to_wire(self) -> i32;
    fn from_wire(field: &str, value: i32) -> Result<Self, ValidationError>;
}

wire_enum!(PlaceCategory {
    Classroom,
    Schoolyard,
    CorridorOrStairs,
    Toilet,
    Canteen,
    Dormitory,
    SportsGround,
    SchoolGate,
    WayToSchool,
    Online,
    OutsideSchool,
    Other
});
wire_enum!(IncidentCategory { Physical, Verbal, Psychological, Cyber, Sexual, Property, Exclusion, Other });
wire_enum!(Severity { Minor, Serious, Severe });
wire_enum!(IntakeChannel {
    SuggestionBox,
    Hotline,
    Camera,
    Teacher,
    Parent,
    StudentInformant,
    NationalHotline111,
    Other
});
wire_enum!(IncidentStatus { Open, Investigating, Concluded, ReferredToPolice, ReferredToCourt });
wire_enum!(PersonRole { Victim, Perpetrator, Witness, Other });
wire_enum!(Sex { Female, Male, NotRecorded });
wire_enum!(AtRiskGroup {
    LearningDifficulties,
    VeryPoor,
    LeftBehind,
    DivorcedParents,
    EmotionalProblems,
    ViolentTendencies,
    GangSigns
});
wire_enum!(CommitmentKind { StaffPledge, ParentStudentSchool, SchoolToAuthority });
wire_enum!(SignerRole { Staff, Teacher, Parent, Student, Principal });
wire_enum!(RecordKind { Plan, Incident, PeriodicReport, Commitment, RiskRegister, Aggregate, SevereNotice, Policy });
wire_enum!(DeadlineKind { Semester1Report, SchoolYearReport, StaffCommitments });
wire_enum!(Level { Ministry, Province, District, School });
wire_enum!(StudentsBand { One, TwoToThree, FourToNine, TenOrMore });

fn grade_band_to_wire(band: Option<core::GradeBand>) -> i32 {
    match band {
        None => wire::GradeBand::Unspecified as i32,
        Some(core::GradeBand::PreSchool) => wire::GradeBand::PreSchool as i32,
        Some(core::GradeBand::Primary) => wire::GradeBand::Primary as i32,
        Some(core::GradeBand::LowerSecondary) => wire::GradeBand::LowerSecondary as i32,
        Some(core::GradeBand::UpperSecondary) => wire::GradeBand::UpperSecondary as i32,
    }
}

fn grade_band_from_wire(field: &str, value: i32) -> Result<Option<core::GradeBand>, ValidationError> {
    match wire::GradeBand::try_from(value) {
        Ok(wire::GradeBand::Unspecified) => Ok(None),
        Ok(wire::GradeBand::PreSchool) => Ok(Some(core::GradeBand::PreSchool)),
        Ok(wire::GradeBand::Primary) => Ok(Some(core::GradeBand::Primary)),
        Ok(wire::GradeBand::LowerSecondary) => Ok(Some(core::GradeBand::LowerSecondary)),
        Ok(wire::GradeBand::UpperSecondary) => Ok(Some(core::GradeBand::UpperSecondary)),
        Err(_) => Err(ValidationError::new(field, Reason::malformed(format!("unknown grade band {value}")))),
    }
}

pub fn kind_to_wire(kind: RecordKind) -> i32 {
    kind.to_wire()
}

/// `None` for UNSPECIFIED (meaning "any kind" in a filter).
pub fn kind_from_wire(field: &str, value: i32) -> Result<Option<RecordKind>, ValidationError> {
    if value == 0 {
        return Ok(None);
    }
    RecordKind::from_wire(field, value).map(Some)
}

pub fn stream_to_wire(stream: LogStream) -> i32 {
    match stream {
        LogStream::Local => wire::LogStream::Local as i32,
        LogStream::Shared => wire::LogStream::Shared as i32,
    }
}

pub fn stream_from_wire(field: &str, value: i32) -> Result<LogStream, ValidationError> {
    match wire::LogStream::try_from(value) {
        Ok(wire::LogStream::Local) => Ok(LogStream::Local),
        Ok(wire::LogStream::Shared) => Ok(LogStream::Shared),
        _ => Err(ValidationError::new(
            field,
            Reason::malformed(format!("missing or unknown log stream {value}; use LOCAL or SHARED")),
        )),
    }
}

fn enums<T: WireEnum + Copy>(values: &[T]) -> Vec<i32> {
    values.iter().map(|value| value.to_wire()).collect()
}

fn enums_from<T: WireEnum>(field: &str, values: &[i32]) -> Result<Vec<T>, ValidationError> {
    values.iter().enumerate().map(|(index, value)| T::from_wire(&format!("{field}[{index}]"), *value)).collect()
}

fn date_to_wire(date: NaiveDate) -> wire::Date {
    use chrono::Datelike;
    wire::Date { year: date.year(), month: date.month(), day: date.day() }
}

fn date_from_wire(field: &str, date: Option<wire::Date>) -> Result<NaiveDate, ValidationError> {
    let date = date.ok_or_else(|| ValidationError::new(field, Reason::Required))?;
    NaiveDate::from_ymd_opt(date.year, date.month, date.day).ok_or_else(|| {
        ValidationError::new(
            field,
            Reason::NotADate { text: format!("{}-{:02}-{:02}", date.year, date.month, date.day) },
        )
    })
}

fn optional_date_from_wire(field: &str, date: Option<wire::Date>) -> Result<Option<NaiveDate>, ValidationError> {
    date.map(|date| date_from_wire(field, Some(date))).transpose()
}

fn time_to_wire(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 }
}

fn time_from_wire(field: &str, time: Option<prost_types::Timestamp>) -> Result<DateTime<Utc>, ValidationError> {
    let time = time.ok_or_else(|| ValidationError::new(field, Reason::Required))?;
    u32::try_from(time.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(time.seconds, nanos))
        .ok_or_else(|| ValidationError::new(field, Reason::OutOfRange { value: format!("{}s", time.seconds) }))
}

pub fn period_to_wire(period: Period) -> wire::Period {
    let span = match period.span {
        PeriodSpan::SchoolYear => wire::PeriodSpan::SchoolYear,
        PeriodSpan::Semester1 => wire::PeriodSpan::Semester1,
        PeriodSpan::Semester2 => wire::PeriodSpan::Semester2,
        PeriodSpan::Month(_) => wire::PeriodSpan::Month,
    };
    let month = match period.span {
        PeriodSpan::Month(month) => u32::from(month),
        _ => 0,
    };
    wire::Period { school_year_start: u32::from(period.school_year.start_year()), span: span as i32, month }
}

pub fn period_from_wire(field: &str, period: Option<wire::Period>) -> Result<Period, ValidationError> {
    let period = period.ok_or_else(|| ValidationError::new(field, Reason::Required))?;
    let span = match wire::PeriodSpan::try_from(period.span) {
        Ok(wire::PeriodSpan::SchoolYear) => PeriodSpan::SchoolYear,
        Ok(wire::PeriodSpan::Semester1) => PeriodSpan::Semester1,
        Ok(wire::PeriodSpan::Semester2) => PeriodSpan::Semester2,
        Ok(wire::PeriodSpan::Month) => match u8::try_from(period.month) {
            Ok(month) if (1..=12).contains(&month) => PeriodSpan::Month(month),
            _ => {
                return Err(ValidationError::new(
                    format!("{field}.month"),
                    Reason::NotBetween { value: period.month.into(), min: 1, max: 12 },
                ))
            }
        },
        _ => {
            return Err(ValidationError::new(
                format!("{field}.span"),
                Reason::malformed(format!("missing or unknown period span {}", period.span)),
            ))
        }
    };
    Ok(Period { school_year: SchoolYear::new(&format!("{field}.school_year_start"), period.school_year_start)?, span })
}

fn optional_text(text: &Option<String>) -> String {
    text.clone().unwrap_or_default()
}

fn text_or_none(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn grade_from_wire(field: &str, grade: u32) -> Result<u8, ValidationError> {
    u8::try_from(grade).map_err(|_| ValidationError::new(field, Reason::OutOfRange { value: grade.to_string() }))
}

fn policy_to_wire(policy: &core::Policy) -> wire::Policy {
    wire::Policy {
        number: policy.number.clone(),
        issued_on: Some(date_to_wire(policy.issued_on)),
        issuing_org: policy.issuing_org.to_string(),
        school_year_start: u32::from(policy.school_year.start_year()),
        deadlines: policy
            .deadlines
            .iter()
            .map(|deadline| wire::Deadline {
                report: deadline.report.to_wire(),
                level: deadline.level.to_wire(),
                due_on: Some(date_to_wire(deadline.due_on)),
            })
            .collect(),
        incident_timeliness: policy.incident_timeliness.as_ref().map(|timeliness| wire::IncidentTimeliness {
            phone_within_hours: u32::from(timeliness.phone_within_hours),
            written_within_hours: u32::from(timeliness.written_within_hours),
            investigation_within_days: u32::from(timeliness.investigation_within_days),
        }),
        privacy: policy.privacy.as_ref().map(|privacy| wire::PrivacyPolicy {
            demographic_crosses: privacy.demographic_crosses,
            epsilon_per_release_millionths: privacy.epsilon_per_release_millionths,
            epsilon_per_school_year_millionths: privacy.epsilon_per_school_year_millionths,
            reader_tables: privacy.reader_tables.map(reader_tables_to_wire),
        }),
    }
}

fn reader_tables_to_wire(tables: core::ReaderTables) -> wire::ReaderTables {
    wire::ReaderTables {
        rho_per_release_millionths: tables.rho_per_release_millionths,
        rho_per_semester_millionths: tables.rho_per_semester_millionths,
        release_every_days: tables.release_every_days,
    }
}

/// The rules a node works under for a school year, for `NodeInfo`.
pub fn policy_in_force_to_wire(
    school_year: SchoolYear,
    privacy: &core::PrivacyPolicy,
    in_force: &core::PolicyInForce,
) -> wire::PolicyInForce {
    wire::PolicyInForce {
        school_year_start: u32::from(school_year.start_year()),
        privacy: Some(wire::PrivacyPolicy {
            demographic_crosses: privacy.demographic_crosses,
            epsilon_per_release_millionths: privacy.epsilon_per_release_millionths,
            epsilon_per_school_year_millionths: privacy.epsilon_per_school_year_millionths,
            reader_tables: privacy.reader_tables.map(reader_tables_to_wire),
        }),
        deadlines: in_force
            .deadlines
            .iter()
            .map(|sourced| wire::SourcedDeadline {
                deadline: Some(wire::Deadline {
                    report: sourced.rule.report.to_wire(),
                    level: sourced.rule.level.to_wire(),
                    due_on: Some(date_to_wire(sourced.rule.due_on)),
                }),
                issuing_org: sourced.issuing_org.to_string(),
                number: sourced.number.clone(),
            })
            .collect(),
        incident_timeliness: in_force.incident_timeliness.as_ref().map(|sourced| wire::IncidentTimeliness {
            phone_within_hours: u32::from(sourced.rule.phone_within_hours),
            written_within_hours: u32::from(sourced.rule.written_within_hours),
            investigation_within_days: u32::from(sourced.rule.investigation_within_days),
        }),
        incident_timeliness_from: in_force
            .incident_timeliness
            .as_ref()
            .map(|sourced| format!("{}, {}", sourced.issuing_org, sourced.number))
            .unwrap_or_default(),
        policies_from_above: u32::try_from(in_force.policies).unwrap_or(u32::MAX),
    }
}

fn small(field: &str, value: u32) -> Result<u8, ValidationError> {
    u8::try_from(value).map_err(|_| ValidationError::new(field, Reason::OutOfRange { value: value.to_string() }))
}

fn policy_from_wire(policy: wire::Policy) -> Result<core::Policy, ValidationError> {
    Ok(core::Policy {
        number: policy.number,
        issued_on: date_from_wire("issued_on", policy.issued_on)?,
        issuing_org: OrgId::parse("issuing_org", &policy.issuing_org)?,
        school_year: SchoolYear::new("school_year_start", policy.school_year_start)?,
        deadlines: policy
            .deadlines
            .into_iter()
            .enumerate()
            .map(|(index, deadline)| {
                Ok(core::Deadline {
                    report: core::DeadlineKind::from_wire(&format!("deadlines[{index}].report"), deadline.report)?,
                    level: core::Level::from_wire(&format!("deadlines[{index}].level"), deadline.level)?,
                    due_on: date_from_wire(&format!("deadlines[{index}].due_on"), deadline.due_on)?,
                })
            })
            .collect::<Result<_, ValidationError>>()?,
        incident_timeliness: policy
            .incident_timeliness
            .map(|timeliness| {
                Ok::<_, ValidationError>(core::IncidentTimeliness {
                    phone_within_hours: small("incident_timeliness.phone_within_hours", timeliness.phone_within_hours)?,
                    written_within_hours: small(
                        "incident_timeliness.written_within_hours",
                        timeliness.written_within_hours,
                    )?,
                    investigation_within_days: small(
                        "incident_timeliness.investigation_within_days",
                        timeliness.investigation_within_days,
                    )?,
                })
            })
            .transpose()?,
        privacy: policy.privacy.map(|privacy| core::PrivacyPolicy {
            demographic_crosses: privacy.demographic_crosses,
            epsilon_per_release_millionths: privacy.epsilon_per_release_millionths,
            epsilon_per_school_year_millionths: privacy.epsilon_per_school_year_millionths,
            reader_tables: privacy.reader_tables.map(|tables| core::ReaderTables {
                rho_per_release_millionths: tables.rho_per_release_millionths,
                rho_per_semester_millionths: tables.rho_per_semester_millionths,
                release_every_days: tables.release_every_days,
            }),
        }),
    })
}

fn record_to_wire(record: &Record) -> wire::record::Kind {
    use wire::record::Kind;
    match record {
        Record::Policy(policy) => Kind::Policy(policy_to_wire(policy)),
        Record::Plan(plan) => Kind::Plan(wire::Plan {
            number: plan.number.clone(),
            issued_on: Some(date_to_wire(plan.issued_on)),
            issuing_org: plan.issuing_org.to_string(),
            title: plan.title.clone(),
            school_year_start: u32::from(plan.school_year.start_year()),
            implements_plan: optional_text(&plan.implements_plan),
            goals: plan.goals.clone(),
            activities: plan
                .activities
                .iter()
                .map(|activity| wire::PlanActivity {
                    item: activity.item,
                    content: activity.content.clone(),
                    lead_unit: activity.lead_unit.clone(),
                    coordinating_units: activity.coordinating_units.clone(),
                    time_frame: activity.time_frame.clone(),
                })
                .collect(),
            recipients: plan.recipients.clone(),
        }),
        Record::Incident(incident) => Kind::Incident(wire::Incident {
            occurred_at: Some(time_to_wire(incident.occurred_at)),
            detected_at: Some(time_to_wire(incident.detected_at)),
            reported_to_school_at: Some(time_to_wire(incident.reported_to_school_at)),
            reported_upward_at: incident.reported_upward_at.map(time_to_wire),
            place: incident.place.to_wire(),
            category: incident.category.to_wire(),
            severity: incident.severity.to_wire(),
            repeat: incident.repeat,
            intake_channel: incident.intake_channel.to_wire(),
            people: incident
                .people
                .iter()
                .map(|person| wire::PersonInvolved {
                    role: person.role.to_wire(),
                    name: person.name.clone(),
                    student_number: optional_text(&person.student_number),
                    sex: person.sex.to_wire(),
                    birth_date: person.birth_date.map(date_to_wire),
                    grade: u32::from(person.grade),
                    at_risk_groups: enums(&person.at_risk_groups),
                })
                .collect(),
            narrative: incident.narrative.clone(),
            measures_taken: incident.measures_taken.clone(),
            status: incident.status.to_wire(),
            follow_up_of: incident.follow_up_of.map(|id| id.0.to_vec()).unwrap_or_default(),
        }),
        Record::PeriodicReport(report) => Kind::PeriodicReport(wire::PeriodicReport {
            period: Some(period_to_wire(report.period)),
            submitted_on: Some(date_to_wire(report.submitted_on)),
            awareness_sessions: report.awareness_sessions,
            staff_total: report.staff_total,
            staff_informed: report.staff_informed,
            staff_trained: report.staff_trained,
            commitments_signed: report.commitments_signed,
            channels_set_up: enums(&report.channels_set_up),
            counselling_team_in_place: report.counselling_team_in_place,
            psychological_screenings: report.psychological_screenings,
            home_visits: report.home_visits,
            parent_meetings: report.parent_meetings,
            remarks: report.remarks.clone(),
        }),
        Record::Commitment(commitment) => Kind::Commitment(wire::Commitment {
            kind: commitment.kind.to_wire(),
            signer_role: commitment.signer_role.to_wire(),
            count: commitment.count,
            signed_on: Some(date_to_wire(commitment.signed_on)),
            school_year_start: u32::from(commitment.school_year.start_year()),
        }),
        Record::RiskRegister(register) => Kind::RiskRegister(wire::RiskRegister {
            period: Some(period_to_wire(register.period)),
            screened_on: Some(date_to_wire(register.screened_on)),
            counts: register
                .counts
                .iter()
                .map(|entry| wire::AtRiskCount { group: entry.group.to_wire(), count: entry.count })
                .collect(),
            students: register
                .students
                .iter()
                .map(|student| wire::AtRiskStudent {
                    name: student.name.clone(),
                    student_number: optional_text(&student.student_number),
                    group: student.group.to_wire(),
                    grade: u32::from(student.grade),
                })
                .collect(),
        }),
        Record::Aggregate(aggregate) => Kind::Aggregate(wire::Aggregate {
            org_id: aggregate.org.to_string(),
            period: Some(period_to_wire(aggregate.period)),
            revision: aggregate.revision,
            layout_version: u32::from(aggregate.layout_version),
            own_cells: aggregate.own.cells().to_vec(),
            total_cells: aggregate.total.cells().to_vec(),
            children_root: aggregate.children_root.to_vec(),
            children: aggregate.children,
            cross: aggregate.cross.as_ref().map(|cross| cross.values.clone()).unwrap_or_default(),
            cross_frozen: aggregate.cross.as_ref().is_some_and(|cross| cross.frozen),
            reader_releases: aggregate.reader_releases.as_ref().map(|ledger| wire::ReleaseLedger {
                rho_cap_millionths: ledger.rho_cap_millionths,
                charges: ledger
                    .charges
                    .iter()
                    .map(|charge| wire::ReleaseCharge {
                        closing: charge.closing,
                        slot_index: charge.slot_index,
                        released_at_unix_s: charge.released_at_unix_s,
                        rho_millionths: charge.rho_millionths,
                    })
                    .collect(),
            }),
        }),
        Record::SevereNotice(notice) => Kind::SevereNotice(wire::SevereNotice {
            school: notice.school.to_string(),
            pseudonym: notice.pseudonym.to_vec(),
            category: notice.category.to_wire(),
            severity: notice.severity.to_wire(),
            iso_year: u32::from(notice.iso_year),
            iso_week: u32::from(notice.iso_week),
            grade_band: grade_band_to_wire(notice.grade_band),
            students: notice.students.to_wire(),
        }),
    }
}

fn record_from_wire(kind: wire::record::Kind) -> Result<Record, ValidationError> {
    use wire::record::Kind;
    Ok(match kind {
        Kind::Policy(policy) => Record::Policy(policy_from_wire(policy)?),
        Kind::Plan(plan) => Record::Plan(core::Plan {
            number: plan.number,
            issued_on: date_from_wire("issued_on", plan.issued_on)?,
            issuing_org: OrgId::parse("issuing_org", &plan.issuing_org)?,
            title: plan.title,
            school_year: SchoolYear::new("school_year_start", plan.school_year_start)?,
            implements_plan: text_or_none(plan.implements_plan),
            goals: plan.goals,
            activities: plan
                .activities
                .into_iter()
                .map(|activity| core::PlanActivity {
                    item: activity.item,
                    content: activity.content,
                    lead_unit: activity.lead_unit,
                    coordinating_units: activity.coordinating_units,
                    time_frame: activity.time_frame,
                })
                .collect(),
            recipients: plan.recipients,
        }),
        Kind::Incident(incident) => Record::Incident(core::Incident {
            occurred_at: time_from_wire("occurred_at", incident.occurred_at)?,
            detected_at: time_from_wire("detected_at", incident.detected_at)?,
            reported_to_school_at: time_from_wire("reported_to_school_at", incident.reported_to_school_at)?,
            reported_upward_at: incident
                .reported_upward_at
                .map(|time| time_from_wire("reported_upward_at", Some(time)))
                .transpose()?,
            place: WireEnum::from_wire("place", incident.place)?,
            category: WireEnum::from_wire("category", incident.category)?,
            severity: WireEnum::from_wire("severity", incident.severity)?,
            repeat: incident.repeat,
            intake_channel: WireEnum::from_wire("intake_channel", incident.intake_channel)?,
            people: incident
                .people
                .into_iter()
                .enumerate()
                .map(|(index, person)| {
                    let at = |name: &str| format!("people[{index}].{name}");
                    Ok(core::PersonInvolved {
                        role: WireEnum::from_wire(&at("role"), person.role)?,
                        name: person.name,
                        student_number: text_or_none(person.student_number),
                        sex: WireEnum::from_wire(&at("sex"), person.sex)?,
                        birth_date: optional_date_from_wire(&at("birth_date"), person.birth_date)?,
                        grade: grade_from_wire(&at("grade"), person.grade)?,
                        at_risk_groups: enums_from(&at("at_risk_groups"), &person.at_risk_groups)?,
                    })
                })
                .collect::<Result<_, ValidationError>>()?,
            narrative: incident.narrative,
            measures_taken: incident.measures_taken,
            status: WireEnum::from_wire("status", incident.status)?,
            follow_up_of: if incident.follow_up_of.is_empty() {
                None
            } else {
                Some(RecordId::from_slice("follow_up_of", &incident.follow_up_of)?)
            },
        }),
        Kind::PeriodicReport(report) => Record::PeriodicReport(core::PeriodicReport {
            period: period_from_wire("period", report.period)?,
            submitted_on: date_from_wire("submitted_on", report.submitted_on)?,
            awareness_sessions: report.awareness_sessions,
            staff_total: report.staff_total,
            staff_informed: report.staff_informed,
            staff_trained: report.staff_trained,
            commitments_signed: report.commitments_signed,
            channels_set_up: enums_from("channels_set_up", &report.channels_set_up)?,
            counselling_team_in_place: report.counselling_team_in_place,
            psychological_screenings: report.psychological_screenings,
            home_visits: report.home_visits,
            parent_meetings: report.parent_meetings,
            remarks: report.remarks,
        }),
        Kind::Commitment(commitment) => Record::Commitment(core::Commitment {
            kind: WireEnum::from_wire("kind", commitment.kind)?,
            signer_role: WireEnum::from_wire("signer_role", commitment.signer_role)?,
            count: commitment.count,
            signed_on: date_from_wire("signed_on", commitment.signed_on)?,
            school_year: SchoolYear::new("school_year_start", commitment.school_year_start)?,
        }),
        Kind::RiskRegister(register) => Record::RiskRegister(core::RiskRegister {
            period: period_from_wire("period", register.period)?,
            screened_on: date_from_wire("screened_on", register.screened_on)?,
            counts: register
                .counts
                .into_iter()
                .enumerate()
                .map(|(index, entry)| {
                    Ok(core::AtRiskCount {
                        group: WireEnum::from_wire(&format!("counts[{index}].group"), entry.group)?,
                        count: entry.count,
                    })
                })
                .collect::<Result<_, ValidationError>>()?,
            students: register
                .students
                .into_iter()
                .enumerate()
                .map(|(index, student)| {
                    let at = |name: &str| format!("students[{index}].{name}");
                    Ok(core::AtRiskStudent {
                        name: student.name,
                        student_number: text_or_none(student.student_number),
                        group: WireEnum::from_wire(&at("group"), student.group)?,
                        grade: grade_from_wire(&at("grade"), student.grade)?,
                    })
                })
                .collect::<Result<_, ValidationError>>()?,
        }),
        Kind::SevereNotice(notice) => Record::SevereNotice(core::SevereNotice {
            school: OrgId::parse("school", &notice.school)?,
            pseudonym: notice
                .pseudonym
                .as_slice()
                .try_into()
                .map_err(|_| ValidationError::new("pseudonym", Reason::malformed("a pseudonym is 16 bytes")))?,
            category: WireEnum::from_wire("category", notice.category)?,
            severity: WireEnum::from_wire("severity", notice.severity)?,
            iso_year: u16::try_from(notice.iso_year).map_err(|_| {
                ValidationError::new("iso_year", Reason::OutOfRange { value: notice.iso_year.to_string() })
            })?,
            iso_week: u8::try_from(notice.iso_week).map_err(|_| {
                ValidationError::new("iso_week", Reason::OutOfRange { value: notice.iso_week.to_string() })
            })?,
            grade_band: grade_band_from_wire("grade_band", notice.grade_band)?,
            students: WireEnum::from_wire("students", notice.students)?,
        }),
        Kind::Aggregate(aggregate) => Record::Aggregate(core::Aggregate {
            org: OrgId::parse("org_id", &aggregate.org_id)?,
            period: period_from_wire("period", aggregate.period)?,
            revision: aggregate.revision,
            layout_version: u16::try_from(aggregate.layout_version).map_err(|_| {
                ValidationError::new(
                    "layout_version",
                    Reason::OutOfRange { value: aggregate.layout_version.to_string() },
                )
            })?,
            own: core::Counts::from_cells("own_cells", aggregate.own_cells)?,
            total: core::Counts::from_cells("total_cells", aggregate.total_cells)?,
            children_root: aggregate
                .children_root
                .as_slice()
                .try_into()
                .map_err(|_| ValidationError::new("children_root", Reason::malformed("a root hash is 32 bytes")))?,
            children: aggregate.children,
            cross: match aggregate.cross.len() {
                0 => None,
                core::CROSS_CELLS => Some(core::NoisyCross { values: aggregate.cross, frozen: aggregate.cross_frozen }),
                other => {
                    return Err(ValidationError::new(
                        "cross",
                        Reason::malformed(format!("the cross grid has {} cells, got {other}", core::CROSS_CELLS)),
                    ))
                }
            },
            reader_releases: match aggregate.reader_releases {
                None => None,
                Some(ledger) if ledger.charges.len() > core::MAX_RELEASE_CHARGES => {
                    return Err(ValidationError::new(
                        "reader_releases.charges",
                        Reason::malformed(format!("at most {} releases", core::MAX_RELEASE_CHARGES)),
                    ))
                }
                Some(ledger) => Some(core::ReleaseLedger {
                    rho_cap_millionths: ledger.rho_cap_millionths,
                    charges: ledger
                        .charges
                        .into_iter()
                        .map(|charge| core::ReleaseCharge {
                            closing: charge.closing,
                            slot_index: charge.slot_index,
                            released_at_unix_s: charge.released_at_unix_s,
                            rho_millionths: charge.rho_millionths,
                        })
                        .collect(),
                }),
            },
        }),
    })
}

impl From<&Record> for wire::Record {
    fn from(record: &Record) -> Self {
        wire::Record { kind: Some(record_to_wire(record)) }
    }
}

impl TryFrom<wire::Record> for Record {
    type Error = ValidationError;
    fn try_from(record: wire::Record) -> Result<Self, Self::Error> {
        record_from_wire(record.kind.ok_or_else(|| ValidationError::new("record", Reason::Required))?)
    }
}

/// The payload type and payload bytes of a record: the protobuf encoding of
/// its own message (not of the `Record` wrapper), named by the payload type.
pub fn encode_record(record: &Record) -> (&'static str, Vec<u8>) {
    use wire::record::Kind;
    let bytes = match record_to_wire(record) {
        Kind::Plan(message) => message.encode_to_vec(),
        Kind::Incident(message) => message.encode_to_vec(),
        Kind::PeriodicReport(message) => message.encode_to_vec(),
        Kind::Commitment(message) => message.encode_to_vec(),
        Kind::RiskRegister(message) => message.encode_to_vec(),
        Kind::Aggregate(message) => message.encode_to_vec(),
        Kind::SevereNotice(message) => message.encode_to_vec(),
        Kind::Policy(message) => message.encode_to_vec(),
    };
    (record.kind().payload_type(), bytes)
}

/// Decodes envelope payload bytes. Only call this on a verified envelope.
pub fn decode_record(payload_type: &str, bytes: &[u8]) -> Result<Record, ValidationError> {
    use wire::record::Kind;
    let kind = RecordKind::from_payload_type(payload_type).ok_or_else(|| {
        ValidationError::new(
            "payload_type",
            Reason::malformed(format!("`{payload_type}` is not a record type this node knows")),
        )
    })?;
    let malformed = |error: prost::DecodeError| {
        ValidationError::new("payload", Reason::malformed(format!("malformed {payload_type}: {error}")))
    };
    let wire_kind = match kind {
        RecordKind::Plan => Kind::Plan(wire::Plan::decode(bytes).map_err(malformed)?),
        RecordKind::Incident => Kind::Incident(wire::Incident::decode(bytes).map_err(malformed)?),
        RecordKind::PeriodicReport => Kind::PeriodicReport(wire::PeriodicReport::decode(bytes).map_err(malformed)?),
        RecordKind::Commitment => Kind::Commitment(wire::Commitment::decode(bytes).map_err(malformed)?),
        RecordKind::RiskRegister => Kind::RiskRegister(wire::RiskRegister::decode(bytes).map_err(malformed)?),
        RecordKind::Aggregate => Kind::Aggregate(wire::Aggregate::decode(bytes).map_err(malformed)?),
        RecordKind::SevereNotice => Kind::SevereNotice(wire::SevereNotice::decode(bytes).map_err(malformed)?),
        RecordKind::Policy => Kind::Policy(wire::Policy::decode(bytes).map_err(malformed)?),
    };
    record_from_wire(wire_kind)
}

pub fn header_to_wire(id: RecordId, header: &EnvelopeHeader) -> wire::EnvelopeHeader {
    let created = DateTime::from_timestamp_millis(header.created_unix_ms).unwrap_or_default();
    wire::EnvelopeHeader {
        record_id: id.0.to_vec(),
        author_org: header.author_org.to_string(),
        stream: stream_to_wire(header.stream),
        seq: header.seq.0,
        prev_record_id: header.prev.map(|prev| prev.0.to_vec()).unwrap_or_default(),
        created_at: Some(time_to_wire(created)),
        payload_type: header.payload_type.clone(),
        author_key: header.author_key.0.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_and_unknown_enum_values_are_refused_with_the_field() {
        let incident = wire::Incident { category: 99, ..Default::default() };
        let error = Record::try_from(wire::Record { kind: Some(wire::record::Kind::Incident(incident)) })
            .expect_err("no times, unknown category");
        assert_eq!(error.field, "occurred_at");
        let error = core::IncidentCategory::from_wire("category", 99).expect_err("unknown");
        assert_eq!(error.field, "category");
        let error = core::IncidentCategory::from_wire("category", 0).expect_err("unspecified");
        assert_eq!(error.field, "category");
    }

    #[test]
    fn payload_of_an_unknown_type_is_refused() {
        assert_eq!(decode_record("edusync.v1.Nope", b"").expect_err("unknown").field, "payload_type");
    }
}

#[cfg(test)]
mod round_trip {
    use chrono::NaiveDate;
    use proptest::prelude::*;

    use super::*;

    /// Vietnamese (precomposed and combining), Chinese, and ASCII.
    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                proptest::char::range('a', 'z'),
                proptest::sample::select(vec![
                    'ă', 'â', 'đ', 'ê', 'ô', 'ơ', 'ư', 'Ễ', 'ự', '\u{0300}', '\u{0303}', '\u{0323}'
                ]),
                proptest::char::range('\u{4e00}', '\u{9fa5}'),
                Just(' '),
            ],
            1..60,
        )
        .prop_map(|chars| chars.into_iter().collect::<String>())
        .prop_filter("not blank", |text| !text.trim().is_empty())
    }

    proptest! {
        #[test]
        fn checked_records_round_trip_exactly_through_the_payload_encoding(
            number in text(), title in text(), goals in proptest::collection::vec(text(), 0..4), day in 0u32..300,
        ) {
            let year = SchoolYear::new("year", 2024).expect("valid");
            let record = Record::Plan(core::Plan {
                number,
                issued_on: NaiveDate::from_ymd_opt(2024, 9, 1).expect("valid") + chrono::Duration::days(i64::from(day)),
                issuing_org: OrgId::parse("org", "VN.BT").expect("valid"),
                title,
                school_year: year,
                implements_plan: None,
                goals,
                activities: vec![],
                recipients: vec![],
            });
            let Ok(checked) = record.check(&core::ValidationContext::without_clock()) else {
                return Ok(());
            };
            let (payload_type, bytes) = encode_record(checked.record());
            let decoded = decode_record(payload_type, &bytes).expect("decodes");
            prop_assert_eq!(&decoded, checked.record());
            // Normalised text is a fixed point: checking again changes nothing.
            let again = decoded.check(&core::ValidationContext::without_clock()).expect("still valid");
            prop_assert_eq!(again.record(), checked.record());
            prop_assert_eq!(encode_record(again.record()).1, bytes);
        }
    }
}
