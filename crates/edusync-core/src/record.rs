//! The five kinds of record, as plain Rust values.
//!
//! These structs mirror what the source documents name. They derive serde so
//! that an operator can write them as JSON (`edusync record add`); enum values
//! are snake_case words, and unknown fields are refused.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{LogStream, OrgId, Period, Reason, RecordId, SchoolYear, ValidationError};

/// A moment in time, in UTC. JSON accepts any RFC 3339 offset and converts.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// Declares a closed set of values with its snake_case names, so that every
/// boundary (JSON, protobuf, CLI) refuses a value it does not know by name.
macro_rules! domain_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        // Named in JSON exactly as everywhere else: a derived snake_case name
        // would split `Semester1Report` differently from `semester_1_report`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $name::ALL.iter().copied().find(|value| value.as_str() == text).ok_or_else(|| {
                    let expected = $name::ALL.iter().map(|value| value.as_str().to_owned()).collect();
                    ValidationError::new(stringify!($name), Reason::UnknownValue { value: text.to_owned(), expected })
                })
            }
        }
    };
}

domain_enum!(RecordKind {
    Plan => "plan",
    Incident => "incident",
    PeriodicReport => "periodic_report",
    Commitment => "commitment",
    RiskRegister => "risk_register",
    Aggregate => "aggregate",
    SevereNotice => "severe_notice",
    Policy => "policy",
});

impl RecordKind {
    /// Which log a record of this kind is written to. Incidents and risk
    /// registers name children, and periodic reports carry free-text remarks;
    /// they stay in the local log and never travel. What leaves a node is its
    /// plans (public documents), its commitments (counts) and its aggregates.
    pub fn stream(self) -> LogStream {
        match self {
            RecordKind::Plan
            | RecordKind::Commitment
            | RecordKind::Aggregate
            | RecordKind::SevereNotice
            | RecordKind::Policy => LogStream::Shared,
            RecordKind::Incident | RecordKind::RiskRegister | RecordKind::PeriodicReport => LogStream::Local,
        }
    }

    /// Whether an office's record of this kind is also for the units below
    /// it, and flows down to them.
    pub fn flows_down(self) -> bool {
        matches!(self, RecordKind::Plan | RecordKind::Policy)
    }

    /// Aggregates and notices are derived by a node from what it holds; nobody writes one by hand.
    pub fn is_derived(self) -> bool {
        matches!(self, RecordKind::Aggregate | RecordKind::SevereNotice)
    }

    /// The envelope payload type of this kind: the protobuf message name.
    pub fn payload_type(self) -> &'static str {
        match self {
            RecordKind::Plan => "edusync.v1.Plan",
            RecordKind::Incident => "edusync.v1.Incident",
            RecordKind::PeriodicReport => "edusync.v1.PeriodicReport",
            RecordKind::Commitment => "edusync.v1.Commitment",
            RecordKind::RiskRegister => "edusync.v1.RiskRegister",
            RecordKind::Aggregate => "edusync.v1.Aggregate",
            RecordKind::SevereNotice => "edusync.v1.SevereNotice",
            RecordKind::Policy => "edusync.v1.Policy",
        }
    }

    pub fn from_payload_type(payload_type: &str) -> Option<Self> {
        RecordKind::ALL.iter().copied().find(|kind| kind.payload_type() == payload_type)
    }

    pub fn as_byte(self) -> u8 {
        match self {
            RecordKind::Plan => 1,
            RecordKind::Incident => 2,
            RecordKind::PeriodicReport => 3,
            RecordKind::Commitment => 4,
            RecordKind::RiskRegister => 5,
            RecordKind::Aggregate => 6,
            RecordKind::SevereNotice => 7,
            RecordKind::Policy => 8,
        }
    }

    pub fn from_byte(byte: u8) -> Option<Self> {
        RecordKind::ALL.iter().copied().find(|kind| kind.as_byte() == byte)
    }
}

domain_enum!(PlaceCategory {
    Classroom => "classroom",
    Schoolyard => "schoolyard",
    CorridorOrStairs => "corridor_or_stairs",
    Toilet => "toilet",
    Canteen => "canteen",
    Dormitory => "dormitory",
    SportsGround => "sports_ground",
    SchoolGate => "school_gate",
    WayToSchool => "way_to_school",
    Online => "online",
    OutsideSchool => "outside_school",
    Other => "other",
});

domain_enum!(IncidentCategory {
    Physical => "physical",
    Verbal => "verbal",
    Psychological => "psychological",
    Cyber => "cyber",
    Sexual => "sexual",
    Property => "property",
    Exclusion => "exclusion",
    Other => "other",
});

domain_enum!(Severity {
    Minor => "minor",
    Serious => "serious",
    Severe => "severe",
});

domain_enum!(IntakeChannel {
    SuggestionBox => "suggestion_box",
    Hotline => "hotline",
    Camera => "camera",
    Teacher => "teacher",
    Parent => "parent",
    StudentInformant => "student_informant",
    NationalHotline111 => "national_hotline_111",
    Other => "other",
});

domain_enum!(IncidentStatus {
    Open => "open",
    Investigating => "investigating",
    Concluded => "concluded",
    ReferredToPolice => "referred_to_police",
    ReferredToCourt => "referred_to_court",
});

domain_enum!(PersonRole {
    Victim => "victim",
    Perpetrator => "perpetrator",
    Witness => "witness",
    Other => "other",
});

domain_enum!(Sex {
    Female => "female",
    Male => "male",
    NotRecorded => "not_recorded",
});

domain_enum!(AtRiskGroup {
    LearningDifficulties => "learning_difficulties",
    VeryPoor => "very_poor",
    LeftBehind => "left_behind",
    DivorcedParents => "divorced_parents",
    EmotionalProblems => "emotional_problems",
    ViolentTendencies => "violent_tendencies",
    GangSigns => "gang_signs",
});

domain_enum!(CommitmentKind {
    StaffPledge => "staff_pledge",
    ParentStudentSchool => "parent_student_school",
    SchoolToAuthority => "school_to_authority",
});

domain_enum!(SignerRole {
    Staff => "staff",
    Teacher => "teacher",
    Parent => "parent",
    Student => "student",
    Principal => "principal",
});

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanActivity {
    pub item: u32,
    pub content: String,
    pub lead_unit: String,
    #[serde(default)]
    pub coordinating_units: Vec<String>,
    pub time_frame: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub number: String,
    pub issued_on: NaiveDate,
    pub issuing_org: OrgId,
    pub title: String,
    pub school_year: SchoolYear,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implements_plan: Option<String>,
    #[serde(default)]
    pub goals: Vec<String>,
    #[serde(default)]
    pub activities: Vec<PlanActivity>,
    #[serde(default)]
    pub recipients: Vec<String>,
}

/// Someone involved in an incident. Every field here is local-only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonInvolved {
    pub role: PersonRole,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_number: Option<String>,
    pub sex: Sex,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
    /// 0 is pre-school; 1 to 12 are grades.
    pub grade: u8,
    #[serde(default)]
    pub at_risk_groups: Vec<AtRiskGroup>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    pub occurred_at: Timestamp,
    pub detected_at: Timestamp,
    pub reported_to_school_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_upward_at: Option<Timestamp>,
    pub place: PlaceCategory,
    pub category: IncidentCategory,
    pub severity: Severity,
    #[serde(default)]
    pub repeat: bool,
    pub intake_channel: IntakeChannel,
    #[serde(default)]
    pub people: Vec<PersonInvolved>,
    pub narrative: String,
    #[serde(default)]
    pub measures_taken: String,
    pub status: IncidentStatus,
    /// The first report of the case, when this record is a follow-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up_of: Option<RecordId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodicReport {
    pub period: Period,
    pub submitted_on: NaiveDate,
    pub awareness_sessions: u32,
    pub staff_total: u32,
    pub staff_informed: u32,
    pub staff_trained: u32,
    pub commitments_signed: u32,
    #[serde(default)]
    pub channels_set_up: Vec<IntakeChannel>,
    pub counselling_team_in_place: bool,
    pub psychological_screenings: u32,
    pub home_visits: u32,
    pub parent_meetings: u32,
    #[serde(default)]
    pub remarks: String,
}

domain_enum!(
    /// A report or collection that a policy sets a date for.
    DeadlineKind {
        Semester1Report => "semester_1_report",
        SchoolYearReport => "school_year_report",
        StaffCommitments => "staff_commitments",
    }
);

/// When the units of one level must have filed one kind of report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadline {
    pub report: DeadlineKind,
    /// Who files it: schools, districts or provinces.
    pub level: crate::Level,
    pub due_on: NaiveDate,
}

/// How much a unit may spend on privacy when it releases noisy demographic
/// crosses. A unit applies the stricter of this and its own settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyPolicy {
    pub demographic_crosses: bool,
    /// In millionths of epsilon, as everywhere in signed records: no floats.
    pub epsilon_per_release_millionths: u64,
    pub epsilon_per_school_year_millionths: u64,
    /// How readers' tables are released; `None`: as each unit's own settings say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader_tables: Option<ReaderTables>,
}

/// The differential privacy of the tables readers see at each office: the
/// zCDP cost of one release, the cap of every release of one semester
/// together, and how often a fresh release may be drawn. In millionths of
/// rho, as everywhere in signed records: no floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderTables {
    pub rho_per_release_millionths: u64,
    pub rho_per_semester_millionths: u64,
    pub release_every_days: u32,
}

impl ReaderTables {
    /// The stricter of two settings: less spent per release (more noise),
    /// a lower cap, and fresh releases no more often than either allows.
    pub fn stricter(&self, other: &ReaderTables) -> ReaderTables {
        ReaderTables {
            rho_per_release_millionths: self.rho_per_release_millionths.min(other.rho_per_release_millionths),
            rho_per_semester_millionths: self.rho_per_semester_millionths.min(other.rho_per_semester_millionths),
            release_every_days: self.release_every_days.max(other.release_every_days),
        }
    }
}

/// Hours and days allowed for an incident's notices and investigation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentTimeliness {
    pub phone_within_hours: u8,
    pub written_within_hours: u8,
    pub investigation_within_days: u8,
}

/// Rules an office sets for every unit below it for a school year: reporting
/// deadlines, incident timeliness and privacy limits. It flows down; each unit
/// applies what its offices above set, the stricter where they differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The document that sets it, e.g. "12/QĐ-SGDĐT".
    pub number: String,
    pub issued_on: NaiveDate,
    pub issuing_org: OrgId,
    pub school_year: SchoolYear,
    #[serde(default)]
    pub deadlines: Vec<Deadline>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_timeliness: Option<IncidentTimeliness>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<PrivacyPolicy>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commitment {
    pub kind: CommitmentKind,
    pub signer_role: SignerRole,
    pub count: u32,
    pub signed_on: NaiveDate,
    pub school_year: SchoolYear,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtRiskCount {
    pub group: AtRiskGroup,
    pub count: u32,
}

/// A named entry of a risk register. Local-only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtRiskStudent {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_number: Option<String>,
    pub group: AtRiskGroup,
    pub grade: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskRegister {
    pub period: Period,
    pub screened_on: NaiveDate,
    pub counts: Vec<AtRiskCount>,
    #[serde(default)]
    pub students: Vec<AtRiskStudent>,
}

/// Any record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
/// As JSON: `{"kind": "incident", "record": {...}}`.
#[serde(tag = "kind", content = "record", rename_all = "snake_case")]
pub enum Record {
    Plan(Plan),
    Incident(Incident),
    PeriodicReport(PeriodicReport),
    Commitment(Commitment),
    RiskRegister(RiskRegister),
    Aggregate(crate::Aggregate),
    SevereNotice(crate::SevereNotice),
    Policy(Policy),
}

impl Record {
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Plan(_) => RecordKind::Plan,
            Record::Incident(_) => RecordKind::Incident,
            Record::PeriodicReport(_) => RecordKind::PeriodicReport,
            Record::Commitment(_) => RecordKind::Commitment,
            Record::RiskRegister(_) => RecordKind::RiskRegister,
            Record::Aggregate(_) => RecordKind::Aggregate,
            Record::SevereNotice(_) => RecordKind::SevereNotice,
            Record::Policy(_) => RecordKind::Policy,
        }
    }

    /// The period a record is filed under: its own for reports and registers,
    /// the school year for plans and commitments, and for an incident the
    /// semester of the local date on which it occurred.
    pub fn period(&self, utc_offset: chrono::FixedOffset) -> Option<Period> {
        match self {
            Record::Plan(plan) => Some(Period::school_year(plan.school_year)),
            Record::Incident(incident) => {
                Period::semester_containing(incident.occurred_at.with_timezone(&utc_offset).date_naive())
            }
            Record::PeriodicReport(report) => Some(report.period),
            Record::Commitment(commitment) => Some(Period::school_year(commitment.school_year)),
            Record::RiskRegister(register) => Some(register.period),
            Record::Aggregate(aggregate) => Some(aggregate.period),
            Record::SevereNotice(_) => None,
            Record::Policy(policy) => Some(Period::school_year(policy.school_year)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JSON, the CLI, forms and error messages name a value one way.
    fn json_names_are_the_codes<T: Serialize + serde::de::DeserializeOwned + PartialEq + fmt::Debug + Copy>(
        all: &[T],
        code: fn(T) -> &'static str,
    ) {
        for value in all {
            assert_eq!(serde_json::to_value(value).ok(), Some(serde_json::Value::from(code(*value))));
            let back: T = serde_json::from_value(serde_json::Value::from(code(*value))).expect("reads its own code");
            assert_eq!(back, *value);
        }
    }

    #[test]
    fn every_value_is_named_in_json_as_its_code() {
        json_names_are_the_codes(RecordKind::ALL, RecordKind::as_str);
        json_names_are_the_codes(PlaceCategory::ALL, PlaceCategory::as_str);
        json_names_are_the_codes(IncidentCategory::ALL, IncidentCategory::as_str);
        json_names_are_the_codes(Severity::ALL, Severity::as_str);
        json_names_are_the_codes(IntakeChannel::ALL, IntakeChannel::as_str);
        json_names_are_the_codes(IncidentStatus::ALL, IncidentStatus::as_str);
        json_names_are_the_codes(PersonRole::ALL, PersonRole::as_str);
        json_names_are_the_codes(Sex::ALL, Sex::as_str);
        json_names_are_the_codes(AtRiskGroup::ALL, AtRiskGroup::as_str);
        json_names_are_the_codes(CommitmentKind::ALL, CommitmentKind::as_str);
        json_names_are_the_codes(SignerRole::ALL, SignerRole::as_str);
        json_names_are_the_codes(DeadlineKind::ALL, DeadlineKind::as_str);
    }
}
