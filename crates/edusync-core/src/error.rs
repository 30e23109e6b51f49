//! The one error type of the domain: which field was wrong, and why.
//!
//! The reason is a value, not a sentence: the English sentence is its
//! `Display`, and `edusync-i18n` renders the same value in Vietnamese and
//! Chinese. A node sends the value alongside its English message, so the
//! person at the keyboard reads the reason in their own language whichever
//! node found it.

use serde::{Deserialize, Serialize};

/// A record or value that breaks a domain rule. `field` is a path into the
/// record as the user wrote it (`people[1].birth_date`), so that a message can
/// point at the cell to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: String,
    /// Boxed: reasons carry the values they quote, and an error travels in
    /// every `Result` of validation, which should stay small.
    pub reason: Box<Reason>,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: Reason) -> Self {
        Self { field: field.into(), reason: Box::new(reason) }
    }

    /// Prefixes the field path, so nested validators can report full paths.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

/// Why a value was refused. Values the user wrote are carried as they wrote
/// them (`value`, `text`); dates and periods in their ISO form, which reads
/// the same in every language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    // Text.
    Empty,
    TooShort {
        min: u64,
    },
    TooLong {
        length: u64,
        max: u64,
    },
    ControlCharacter {
        code_point: u32,
    },
    // Presence, numbers, lists, choices.
    Required,
    TooManyEntries {
        count: u64,
        max: u64,
    },
    OverLimit {
        value: u64,
        max: u64,
    },
    NotBetween {
        value: i64,
        min: i64,
        max: i64,
    },
    /// `value` must be at least `least` (the value of `least_field`) and at most `max`.
    AtLeastAtMost {
        value: i64,
        least_field: String,
        least: i64,
        max: i64,
    },
    OutOfRange {
        value: String,
    },
    ListedTwice {
        value: String,
    },
    UnknownValue {
        value: String,
        expected: Vec<String>,
    },
    NotAWholeNumber {
        text: String,
    },
    /// A count written with a minus sign.
    NegativeCount {
        text: String,
    },
    /// The example row a spreadsheet template comes with, left in.
    TemplateExample,
    NotYesOrNo {
        text: String,
    },
    // Dates and periods.
    NotADate {
        text: String,
    },
    InTheFuture {
        value: String,
    },
    Before {
        later: String,
        earlier_field: String,
        earlier: String,
    },
    OutsideSchoolYear {
        date: String,
        school_year: String,
    },
    IssuedOutsideSchoolYear {
        date: String,
        school_year: String,
        kind: String,
        earliest: String,
        latest: String,
    },
    DueOutsideSchoolYear {
        date: String,
        school_year: String,
    },
    SubmittedBeforePeriod {
        date: String,
        period: String,
        begins: String,
    },
    SubmittedLongAfterPeriod {
        date: String,
        period: String,
    },
    NotOneSemester {
        period: String,
    },
    OutsideSemester {
        date: String,
        period: String,
    },
    NotASchoolYear {
        text: String,
    },
    SchoolYearOutOfRange {
        first: u32,
        last: u32,
        got: u32,
    },
    SecondYearMustFollow {
        text: String,
    },
    NotAMonth {
        text: String,
    },
    NotAPeriod {
        text: String,
    },
    // Organisations.
    OrganisationRequired,
    TooManySegments {
        max: u64,
        got: u64,
    },
    BadSegment {
        text: String,
        max: u64,
    },
    BadCharacters {
        text: String,
    },
    UnknownLevel {
        text: String,
    },
    // People.
    StudentNumberFormat,
    GradeOutOfRange {
        value: i64,
        max: u64,
    },
    BirthNotBeforeIncident {
        birth: String,
        occurred: String,
    },
    OlderThanThirty {
        birth: String,
    },
    NamedMoreThanCounted {
        named: u64,
        group: String,
        counted: u64,
    },
    // Plans, reports, commitments, policies.
    ItemNumberTwice {
        item: u64,
    },
    DeadlineSetTwice {
        report: String,
        level: String,
    },
    MoreThanStaffTotal {
        value: u64,
        staff_total: u64,
    },
    CommitmentCountsNone,
    WrongSigner {
        kind: String,
        allowed: Vec<String>,
        got: String,
    },
    AllZeroId,
    // Record ids.
    RecordIdLength {
        got: u64,
    },
    RecordIdHex,
    // What a node refuses of an otherwise valid record.
    DerivedKind {
        kind: String,
    },
    IssuedInOwnName {
        kind: String,
        own: String,
        got: String,
    },
    NoSuchRecord {
        id: String,
    },
    NotAnIncidentOfThisSchool {
        id: String,
    },
    /// Machine-made input (wire messages, bundles, certificates, backups)
    /// that no form or spreadsheet produces: the detail is for engineers and
    /// is shown as is in every language.
    Malformed {
        detail: String,
    },
}

impl Reason {
    pub fn malformed(detail: impl Into<String>) -> Self {
        Reason::Malformed { detail: detail.into() }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use Reason::*;
        match self {
            Empty => write!(formatter, "must not be empty"),
            TooShort { min } => write!(formatter, "needs at least {min} characters"),
            TooLong { length, max } => write!(formatter, "is {length} characters long; the limit is {max}"),
            ControlCharacter { code_point } => write!(formatter, "contains the control character U+{code_point:04X}"),
            Required => write!(formatter, "is required"),
            TooManyEntries { count, max } => write!(formatter, "has {count} entries; the limit is {max}"),
            OverLimit { value, max } => write!(formatter, "{value} is more than the limit of {max}"),
            NotBetween { value, min, max } => write!(formatter, "{value} is not between {min} and {max}"),
            AtLeastAtMost { value, least_field, least, max } => {
                write!(formatter, "{value} must be at least {least_field} ({least}) and at most {max}")
            }
            OutOfRange { value } => write!(formatter, "{value} is out of range"),
            ListedTwice { value } => write!(formatter, "`{value}` is listed twice"),
            UnknownValue { value, expected } => {
                write!(formatter, "unknown value `{value}`; expected one of {}", expected.join(", "))
            }
            NotAWholeNumber { text } => write!(formatter, "`{text}` is not a whole number"),
            NegativeCount { text } => write!(formatter, "`{text}` is negative; a count is 0 or more"),
            TemplateExample => {
                write!(formatter, "this is the template's example row: replace it with your own rows, or delete it")
            }
            NotYesOrNo { text } => write!(formatter, "`{text}` is neither yes nor no (có/không, 是/否)"),
            NotADate { text } => write!(formatter, "`{text}` is not a date like 2025-09-08"),
            InTheFuture { value } => write!(formatter, "{value} is in the future"),
            Before { later, earlier_field, earlier } => {
                write!(formatter, "{later} is before {earlier_field} ({earlier})")
            }
            OutsideSchoolYear { date, school_year } => write!(formatter, "{date} is outside school year {school_year}"),
            IssuedOutsideSchoolYear { date, school_year, kind, earliest, latest } => write!(
                formatter,
                "{date} is outside school year {school_year} (a {kind} may be issued from {earliest} to {latest})"
            ),
            DueOutsideSchoolYear { date, school_year } => {
                write!(formatter, "{date} is not within school year {school_year} (or the summer after it)")
            }
            SubmittedBeforePeriod { date, period, begins } => {
                write!(formatter, "{date} is before the period {period} begins ({begins})")
            }
            SubmittedLongAfterPeriod { date, period } => {
                write!(formatter, "{date} is more than six months after the period {period} ends")
            }
            NotOneSemester { period } => write!(formatter, "a risk register covers one semester, not {period}"),
            OutsideSemester { date, period } => write!(formatter, "{date} is outside the semester {period}"),
            NotASchoolYear { text } => write!(formatter, "`{text}` is not a school year like 2024-2025"),
            SchoolYearOutOfRange { first, last, got } => {
                write!(formatter, "school year must start between {first} and {last}, got {got}")
            }
            SecondYearMustFollow { text } => {
                write!(formatter, "`{text}`: the second year must follow the first (2024-2025)")
            }
            NotAMonth { text } => write!(formatter, "`{text}`: a month is M01 to M12"),
            NotAPeriod { text } => write!(
                formatter,
                "`{text}` is not a period; write 2024-2025, 2024-2025/S1, 2024-2025/S2 or 2024-2025/M10"
            ),
            OrganisationRequired => write!(formatter, "an organisation id is required, e.g. VN.BT.D03.S017"),
            TooManySegments { max, got } => {
                write!(formatter, "an organisation id has at most {max} segments, got {got}")
            }
            BadSegment { text, max } => {
                write!(formatter, "`{text}` has an empty or over-long segment (1 to {max} characters each)")
            }
            BadCharacters { text } => {
                write!(formatter, "`{text}` may hold only ASCII letters, digits, '-', '_' and '.' between segments")
            }
            UnknownLevel { text } => {
                write!(formatter, "unknown level `{text}`; expected ministry, province, district or school")
            }
            StudentNumberFormat => {
                write!(formatter, "a student number is up to 32 letters, digits, '-', '/', '.' or '_'")
            }
            GradeOutOfRange { value, max } => write!(formatter, "grade {value} is outside 0 (pre-school) to {max}"),
            BirthNotBeforeIncident { birth, occurred } => {
                write!(formatter, "{birth} is not before the incident ({occurred})")
            }
            OlderThanThirty { birth } => write!(formatter, "{birth} makes the person over 30 at the incident"),
            NamedMoreThanCounted { named, group, counted } => {
                write!(formatter, "{named} students are named in group {group} but the count for it is {counted}")
            }
            ItemNumberTwice { item } => write!(formatter, "item number {item} is used twice"),
            DeadlineSetTwice { report, level } => write!(formatter, "{report} of the {level} level is set twice"),
            MoreThanStaffTotal { value, staff_total } => {
                write!(formatter, "{value} is more than staff_total ({staff_total})")
            }
            CommitmentCountsNone => write!(formatter, "a commitment record counts at least one signature"),
            WrongSigner { kind, allowed, got } => {
                write!(formatter, "a {kind} is signed by {}, not {got}", allowed.join(" or "))
            }
            AllZeroId => write!(formatter, "the all-zero id names no record"),
            RecordIdLength { got } => write!(formatter, "a record id is 32 bytes, got {got}"),
            RecordIdHex => write!(formatter, "a record id is 64 hexadecimal digits"),
            DerivedKind { kind } => {
                write!(formatter, "{kind} records are derived by the node from its own records; they cannot be added")
            }
            IssuedInOwnName { kind, own, got } => {
                write!(formatter, "this node issues {kind}s in its own name, {own}, not {got}")
            }
            NoSuchRecord { id } => write!(formatter, "no record {id} is stored here"),
            NotAnIncidentOfThisSchool { id } => write!(formatter, "{id} is not an incident reported by this school"),
            Malformed { detail } => write!(formatter, "{detail}"),
        }
    }
}
