//! The aggregate: the only description of incidents, reports, commitments and
//! risk registers that leaves a school. Exact counts in a fixed grid of cells,
//! per period, signed by the node that derived it.
//!
//! The cell layout is versioned. Version 1, in order (`Cell::index` is the
//! position in `Counts`):
//!
//! | cells | what |
//! | --- | --- |
//! | 120 | incident cases by category (8) x severity (3) x latest status (5) |
//! | 8 | incident cases by intake channel |
//! | 12 | incident cases by place category |
//! | 4 | notified upward within 3 h, within 12 h, later, not yet (from detection) |
//! | 4 | investigation concluded within 15 days, concluded later, open within 15 days, open and overdue |
//! | 1 | follow-up reports |
//! | 1 | repeat cases |
//! | 1 | periodic reports filed for the period |
//! | 10 | report indicators: awareness sessions, staff total, informed, trained, commitments signed, channels set up, counselling teams, screenings, home visits, parent meetings |
//! | 3 | commitment signatures by kind |
//! | 7 | at-risk students by group (semester aggregates only) |
//! | 1 | contributing schools |

use std::fmt;

use crate::{
    AtRiskGroup, CommitmentKind, IncidentCategory, IncidentStatus, IntakeChannel, OrgId, Period, PlaceCategory, Reason,
    Severity, UpwardSafe, ValidationError,
};

pub const LAYOUT_VERSION: u16 = 1;

/// The root of a Merkle sum tree over no children: SHA-256 of nothing
/// (`edusync-rollup` builds the trees and checks it is this).
pub const EMPTY_CHILDREN_ROOT: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41,
    0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// A report indicator, one cell each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indicator {
    AwarenessSessions,
    StaffTotal,
    StaffInformed,
    StaffTrained,
    CommitmentsSigned,
    ChannelsSetUp,
    CounsellingTeams,
    Screenings,
    HomeVisits,
    ParentMeetings,
}

impl Indicator {
    pub const ALL: [Indicator; 10] = [
        Indicator::AwarenessSessions,
        Indicator::StaffTotal,
        Indicator::StaffInformed,
        Indicator::StaffTrained,
        Indicator::CommitmentsSigned,
        Indicator::ChannelsSetUp,
        Indicator::CounsellingTeams,
        Indicator::Screenings,
        Indicator::HomeVisits,
        Indicator::ParentMeetings,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Indicator::AwarenessSessions => "awareness_sessions",
            Indicator::StaffTotal => "staff_total",
            Indicator::StaffInformed => "staff_informed",
            Indicator::StaffTrained => "staff_trained",
            Indicator::CommitmentsSigned => "commitments_signed",
            Indicator::ChannelsSetUp => "channels_set_up",
            Indicator::CounsellingTeams => "counselling_teams",
            Indicator::Screenings => "psychological_screenings",
            Indicator::HomeVisits => "home_visits",
            Indicator::ParentMeetings => "parent_meetings",
        }
    }
}

/// How fast an incident was notified upward, from its detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notified {
    Within3Hours,
    Within12Hours,
    Later,
    NotYet,
}

/// Where an investigation stands against the 15-day deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Investigation {
    ConcludedInTime,
    ConcludedLate,
    OpenInTime,
    OpenOverdue,
}

/// One cell of the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Cases(IncidentCategory, Severity, IncidentStatus),
    Channel(IntakeChannel),
    Place(PlaceCategory),
    Notified(Notified),
    Investigation(Investigation),
    FollowUps,
    RepeatCases,
    ReportsFiled,
    Indicator(Indicator),
    Commitments(CommitmentKind),
    AtRisk(AtRiskGroup),
    ContributingSchools,
}

fn position<T: PartialEq>(all: &[T], value: &T) -> usize {
    all.iter().position(|candidate| candidate == value).unwrap_or(0)
}

const CASES: usize = 8 * 3 * 5;
const CHANNELS: usize = CASES;
const PLACES: usize = CHANNELS + 8;
const NOTIFIED: usize = PLACES + 12;
const INVESTIGATION: usize = NOTIFIED + 4;
const FOLLOW_UPS: usize = INVESTIGATION + 4;
const REPEATS: usize = FOLLOW_UPS + 1;
const REPORTS: usize = REPEATS + 1;
const INDICATORS: usize = REPORTS + 1;
const COMMITMENTS: usize = INDICATORS + 10;
const AT_RISK: usize = COMMITMENTS + 3;
const SCHOOLS: usize = AT_RISK + 7;
/// Number of cells in layout version 1.
pub const CELLS: usize = SCHOOLS + 1;

impl Cell {
    pub fn index(self) -> usize {
        match self {
            Cell::Cases(category, severity, status) => {
                position(IncidentCategory::ALL, &category) * 15
                    + position(Severity::ALL, &severity) * 5
                    + position(IncidentStatus::ALL, &status)
            }
            Cell::Channel(channel) => CHANNELS + position(IntakeChannel::ALL, &channel),
            Cell::Place(place) => PLACES + position(PlaceCategory::ALL, &place),
            Cell::Notified(notified) => {
                NOTIFIED
                    + position(
                        &[Notified::Within3Hours, Notified::Within12Hours, Notified::Later, Notified::NotYet],
                        &notified,
                    )
            }
            Cell::Investigation(state) => {
                INVESTIGATION
                    + position(
                        &[
                            Investigation::ConcludedInTime,
                            Investigation::ConcludedLate,
                            Investigation::OpenInTime,
                            Investigation::OpenOverdue,
                        ],
                        &state,
                    )
            }
            Cell::FollowUps => FOLLOW_UPS,
            Cell::RepeatCases => REPEATS,
            Cell::ReportsFiled => REPORTS,
            Cell::Indicator(indicator) => INDICATORS + position(&Indicator::ALL, &indicator),
            Cell::Commitments(kind) => COMMITMENTS + position(CommitmentKind::ALL, &kind),
            Cell::AtRisk(group) => AT_RISK + position(AtRiskGroup::ALL, &group),
            Cell::ContributingSchools => SCHOOLS,
        }
    }

    /// Every cell, in layout order.
    pub fn all() -> Vec<Cell> {
        let mut cells = Vec::with_capacity(CELLS);
        for category in IncidentCategory::ALL {
            for severity in Severity::ALL {
                for status in IncidentStatus::ALL {
                    cells.push(Cell::Cases(*category, *severity, *status));
                }
            }
        }
        cells.extend(IntakeChannel::ALL.iter().map(|channel| Cell::Channel(*channel)));
        cells.extend(PlaceCategory::ALL.iter().map(|place| Cell::Place(*place)));
        cells.extend(
            [Notified::Within3Hours, Notified::Within12Hours, Notified::Later, Notified::NotYet].map(Cell::Notified),
        );
        cells.extend(
            [
                Investigation::ConcludedInTime,
                Investigation::ConcludedLate,
                Investigation::OpenInTime,
                Investigation::OpenOverdue,
            ]
            .map(Cell::Investigation),
        );
        cells.extend([Cell::FollowUps, Cell::RepeatCases, Cell::ReportsFiled]);
        cells.extend(Indicator::ALL.map(Cell::Indicator));
        cells.extend(CommitmentKind::ALL.iter().map(|kind| Cell::Commitments(*kind)));
        cells.extend(AtRiskGroup::ALL.iter().map(|group| Cell::AtRisk(*group)));
        cells.push(Cell::ContributingSchools);
        cells
    }

    /// A stable name, for tables, CSV and JSON.
    pub fn name(self) -> String {
        match self {
            Cell::Cases(category, severity, status) => format!("cases.{category}.{severity}.{status}"),
            Cell::Channel(channel) => format!("channel.{channel}"),
            Cell::Place(place) => format!("place.{place}"),
            Cell::Notified(notified) => format!(
                "notified.{}",
                match notified {
                    Notified::Within3Hours => "within_3h",
                    Notified::Within12Hours => "within_12h",
                    Notified::Later => "later",
                    Notified::NotYet => "not_yet",
                }
            ),
            Cell::Investigation(state) => format!(
                "investigation.{}",
                match state {
                    Investigation::ConcludedInTime => "concluded_within_15_days",
                    Investigation::ConcludedLate => "concluded_late",
                    Investigation::OpenInTime => "open_within_15_days",
                    Investigation::OpenOverdue => "open_overdue",
                }
            ),
            Cell::FollowUps => "follow_ups".into(),
            Cell::RepeatCases => "repeat_cases".into(),
            Cell::ReportsFiled => "reports_filed".into(),
            Cell::Indicator(indicator) => format!("indicator.{}", indicator.as_str()),
            Cell::Commitments(kind) => format!("commitments.{kind}"),
            Cell::AtRisk(group) => format!("at_risk.{group}"),
            Cell::ContributingSchools => "contributing_schools".into(),
        }
    }
}

/// A vector of exact counts in layout order. Sums are overflow-checked: an
/// overflow is an error, never a wrapped total.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Counts(Vec<u64>);

impl UpwardSafe for Counts {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a sum of counts overflowed 64 bits in cell {cell}")]
pub struct CountOverflow {
    pub cell: usize,
}

impl Counts {
    pub fn zero() -> Self {
        Counts(vec![0; CELLS])
    }

    pub fn from_cells(field: &str, cells: Vec<u64>) -> Result<Self, ValidationError> {
        if cells.len() != CELLS {
            return Err(ValidationError::new(
                field,
                Reason::malformed(format!("layout {LAYOUT_VERSION} has {CELLS} cells, got {}", cells.len())),
            ));
        }
        Ok(Counts(cells))
    }

    pub fn cells(&self) -> &[u64] {
        &self.0
    }

    pub fn get(&self, cell: Cell) -> u64 {
        self.0[cell.index()]
    }

    pub fn add_to(&mut self, cell: Cell, amount: u64) -> Result<(), CountOverflow> {
        let index = cell.index();
        self.0[index] = self.0[index].checked_add(amount).ok_or(CountOverflow { cell: index })?;
        Ok(())
    }

    pub fn checked_add(&self, other: &Counts) -> Result<Counts, CountOverflow> {
        let mut sum = Vec::with_capacity(CELLS);
        for (cell, (left, right)) in self.0.iter().zip(&other.0).enumerate() {
            sum.push(left.checked_add(*right).ok_or(CountOverflow { cell })?);
        }
        Ok(Counts(sum))
    }

    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|count| *count == 0)
    }

    /// Incident cases in all categories, severities and statuses; at most
    /// `u64::MAX` (cells signed by someone else may add up past it).
    pub fn incident_cases(&self) -> u64 {
        self.0[..CASES].iter().fold(0u64, |sum, count| sum.saturating_add(*count))
    }

    /// Cases of one category, over every severity and status.
    pub fn cases_of(&self, category: IncidentCategory) -> u64 {
        let start = position(IncidentCategory::ALL, &category) * 15;
        self.0[start..start + 15].iter().fold(0u64, |sum, count| sum.saturating_add(*count))
    }

    /// The canonical bytes of the vector, as hashed in Merkle sum trees:
    /// u16 cell count, then each cell as u64, big-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(2 + 8 * self.0.len());
        bytes.extend_from_slice(&(self.0.len() as u16).to_be_bytes());
        for count in &self.0 {
            bytes.extend_from_slice(&count.to_be_bytes());
        }
        bytes
    }
}

impl fmt::Debug for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nonzero: Vec<String> = Cell::all()
            .into_iter()
            .filter(|cell| self.get(*cell) != 0)
            .map(|cell| format!("{}={}", cell.name(), self.get(cell)))
            .collect();
        write!(f, "Counts[{}]", nonzero.join(", "))
    }
}

/// A coarse grade band: how a child's grade may be described above the school.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradeBand {
    PreSchool,
    Primary,
    LowerSecondary,
    UpperSecondary,
}

impl GradeBand {
    pub const ALL: [GradeBand; 4] =
        [GradeBand::PreSchool, GradeBand::Primary, GradeBand::LowerSecondary, GradeBand::UpperSecondary];

    /// Grade 0 is pre-school, 1-5 primary, 6-9 lower secondary, 10-12 upper secondary.
    pub fn of_grade(grade: u8) -> GradeBand {
        match grade {
            0 => GradeBand::PreSchool,
            1..=5 => GradeBand::Primary,
            6..=9 => GradeBand::LowerSecondary,
            _ => GradeBand::UpperSecondary,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GradeBand::PreSchool => "pre_school",
            GradeBand::Primary => "primary",
            GradeBand::LowerSecondary => "lower_secondary",
            GradeBand::UpperSecondary => "upper_secondary",
        }
    }
}

/// Whose side of an incident a person was on, in the demographic crosses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrossRole {
    Victim,
    Perpetrator,
}

/// One cell of the demographic cross grid: role x sex x grade band x at-risk
/// group (or none). 2 x 3 x 4 x 8 = 192 cells, always all released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrossCell {
    pub role: CrossRole,
    pub sex: crate::Sex,
    pub band: GradeBand,
    pub group: Option<AtRiskGroup>,
}

/// Number of cells of the demographic cross grid.
pub const CROSS_CELLS: usize = 2 * 3 * 4 * 8;

impl CrossCell {
    pub fn index(self) -> usize {
        let role = match self.role {
            CrossRole::Victim => 0,
            CrossRole::Perpetrator => 1,
        };
        let sex = position(crate::Sex::ALL, &self.sex);
        let band = position(&GradeBand::ALL, &self.band);
        let group = self.group.map_or(0, |group| 1 + position(AtRiskGroup::ALL, &group));
        ((role * 3 + sex) * 4 + band) * 8 + group
    }

    pub fn all() -> Vec<CrossCell> {
        let mut cells = Vec::with_capacity(CROSS_CELLS);
        for role in [CrossRole::Victim, CrossRole::Perpetrator] {
            for sex in crate::Sex::ALL {
                for band in GradeBand::ALL {
                    for group in std::iter::once(None).chain(AtRiskGroup::ALL.iter().copied().map(Some)) {
                        cells.push(CrossCell { role, sex: *sex, band, group });
                    }
                }
            }
        }
        cells
    }

    pub fn name(self) -> String {
        let role = match self.role {
            CrossRole::Victim => "victims",
            CrossRole::Perpetrator => "perpetrators",
        };
        let group = self.group.map_or("no_group", |group| group.as_str());
        format!("{role}.{}.{}.{group}", self.sex, self.band.as_str())
    }
}

crate::upward_struct! {
    /// Demographic crosses as released: exact counts plus discrete Laplace
    /// noise, one value per cell of the grid (zeros included), possibly
    /// negative. Sums of released values stay unbiased up the hierarchy.
    #[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    pub struct NoisyCross {
        pub values: Vec<i64>,
        /// True when data changed after the school year's privacy budget was
        /// spent: these are the last values released, not current ones.
        pub frozen: bool,
    }
}

impl NoisyCross {
    pub fn zero() -> Self {
        NoisyCross { values: vec![0; CROSS_CELLS], frozen: false }
    }

    /// Cell-by-cell sum, overflow-checked; frozen if either part is.
    pub fn checked_add(&self, other: &NoisyCross) -> Option<NoisyCross> {
        let values = self
            .values
            .iter()
            .zip(&other.values)
            .map(|(left, right)| left.checked_add(*right))
            .collect::<Option<Vec<i64>>>()?;
        Some(NoisyCross { values, frozen: self.frozen || other.frozen })
    }
}

/// How many students a severe incident involved, in bands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StudentsBand {
    One,
    TwoToThree,
    FourToNine,
    TenOrMore,
}

impl StudentsBand {
    pub fn of_count(count: usize) -> StudentsBand {
        match count {
            0 | 1 => StudentsBand::One,
            2..=3 => StudentsBand::TwoToThree,
            4..=9 => StudentsBand::FourToNine,
            _ => StudentsBand::TenOrMore,
        }
    }
}

impl UpwardSafe for StudentsBand {}
impl UpwardSafe for GradeBand {}

crate::upward_struct! {
    /// The notice a school sends its supervising office, at once, when a case
    /// becomes severe: enough to act on the 3-hour and 12-hour rules, nothing
    /// that names or points at a child. It travels one hop only: a node pushes
    /// only its own log, and no node copies a child's notice into its own.
    #[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    pub struct SevereNotice {
        pub school: OrgId,
        /// Random, drawn for this notice; never derived from any id of a person or record.
        pub pseudonym: [u8; 16],
        pub category: IncidentCategory,
        pub severity: Severity,
        /// ISO 8601 week of the local date the incident occurred.
        pub iso_year: u16,
        pub iso_week: u8,
        /// Grade band of the (first) victim, or of the first person when no victim is named.
        pub grade_band: Option<GradeBand>,
        pub students: StudentsBand,
    }
}

impl UpwardSafe for [u8; 16] {}

impl SevereNotice {
    pub(crate) fn check(&self) -> Result<(), ValidationError> {
        if !(1..=53).contains(&self.iso_week) {
            return Err(ValidationError::new(
                "iso_week",
                Reason::NotBetween { value: self.iso_week.into(), min: 1, max: 53 },
            ));
        }
        if !(2000..=2101).contains(&self.iso_year) {
            return Err(ValidationError::new("iso_year", Reason::OutOfRange { value: self.iso_year.to_string() }));
        }
        Ok(())
    }
}

crate::upward_struct! {
    /// One node's signed totals for one period: its own counts, derived from
    /// its own raw records, plus the exact sum of its children's latest
    /// aggregates, committed to by the root of a Merkle sum tree.
    #[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    pub struct Aggregate {
        pub org: OrgId,
        pub period: Period,
        /// 1 for the first aggregate of this org and period; each new one supersedes the last.
        pub revision: u32,
        pub layout_version: u16,
        pub own: Counts,
        /// `own` plus the sum of the children's aggregates.
        pub total: Counts,
        /// Root hash of the Merkle sum tree over the children's aggregates summed.
        pub children_root: [u8; 32],
        pub children: u32,
        /// Noisy demographic crosses: this node's own release (schools only,
        /// once the period has ended) plus its children's. Absent when there
        /// is nothing released below.
        pub cross: Option<NoisyCross>,
        /// This office's privacy ledger of the period's releases to readers
        /// (semesters only), signed so an auditor can check the cap was kept.
        /// Absent when nothing has been released.
        pub reader_releases: Option<ReleaseLedger>,
    }
}

/// The most releases one ledger may list: a fresh release at most daily over
/// a semester and a year after its close.
pub const MAX_RELEASE_CHARGES: usize = 600;

crate::upward_struct! {
    /// One release to readers: when, in which slot of the schedule, at what
    /// zCDP cost (millionths of rho).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    pub struct ReleaseCharge {
        /// False while the period runs (provisional), true from its close.
        pub closing: bool,
        pub slot_index: u32,
        pub released_at_unix_s: i64,
        pub rho_millionths: u64,
    }
}

crate::upward_struct! {
    /// A period's releases to readers at one office and the cap they are
    /// paid from.
    #[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    pub struct ReleaseLedger {
        pub rho_cap_millionths: u64,
        pub charges: Vec<ReleaseCharge>,
    }
}

impl ReleaseLedger {
    pub fn spent_millionths(&self) -> u64 {
        self.charges.iter().fold(0u64, |sum, charge| sum.saturating_add(charge.rho_millionths))
    }

    /// Well formed and within its cap: at most one release per slot, slots in
    /// order, the costs adding up to no more than the cap.
    pub(crate) fn check(&self) -> Result<(), ValidationError> {
        if self.charges.len() > MAX_RELEASE_CHARGES {
            return Err(ValidationError::new(
                "reader_releases.charges",
                Reason::malformed(format!("at most {MAX_RELEASE_CHARGES} releases")),
            ));
        }
        let slot = |charge: &ReleaseCharge| (charge.closing, charge.slot_index);
        if let Some(at) = self.charges.windows(2).position(|pair| slot(&pair[0]) >= slot(&pair[1])) {
            return Err(ValidationError::new(
                format!("reader_releases.charges[{}]", at + 1),
                Reason::malformed("each release takes a later slot than the one before"),
            ));
        }
        if self.spent_millionths() > self.rho_cap_millionths {
            return Err(ValidationError::new(
                "reader_releases.charges",
                Reason::malformed(format!(
                    "the releases cost {} millionths of rho, more than the cap of {}",
                    self.spent_millionths(),
                    self.rho_cap_millionths
                )),
            ));
        }
        Ok(())
    }
}

impl Aggregate {
    pub(crate) fn check(&self) -> Result<(), ValidationError> {
        if self.layout_version != LAYOUT_VERSION {
            return Err(ValidationError::new(
                "layout_version",
                Reason::malformed(format!(
                    "layout {} is not known to this node (it knows {LAYOUT_VERSION}); upgrade edusync",
                    self.layout_version
                )),
            ));
        }
        if self.revision == 0 {
            return Err(ValidationError::new("revision", Reason::malformed("revisions start at 1")));
        }
        for (field, counts) in [("own", &self.own), ("total", &self.total)] {
            if counts.0.len() != CELLS {
                return Err(ValidationError::new(
                    field,
                    Reason::malformed(format!("layout {LAYOUT_VERSION} has {CELLS} cells")),
                ));
            }
        }
        if let Some(ledger) = &self.reader_releases {
            if !self.period.is_semester() {
                return Err(ValidationError::new(
                    "reader_releases",
                    Reason::malformed("readers' releases are per semester"),
                ));
            }
            ledger.check()?;
        }
        if self.cross.as_ref().is_some_and(|cross| cross.values.len() != CROSS_CELLS) {
            return Err(ValidationError::new(
                "cross",
                Reason::malformed(format!("the cross grid has {CROSS_CELLS} cells")),
            ));
        }
        if let Some(cell) = self.own.0.iter().zip(&self.total.0).position(|(own, total)| own > total) {
            return Err(ValidationError::new(
                "total",
                Reason::malformed(format!("cell {cell} is smaller than the node's own count")),
            ));
        }
        // With no children there is nothing to add: a leaf's total is its own count.
        if self.children == 0 {
            if let Some(cell) = self.own.0.iter().zip(&self.total.0).position(|(own, total)| own != total) {
                return Err(ValidationError::new(
                    "total",
                    Reason::malformed(format!(
                        "cell {} is {} in the total but {} in the own count, with no children to add",
                        Cell::all().get(cell).map_or_else(|| cell.to_string(), |cell| cell.name()),
                        self.total.0[cell],
                        self.own.0[cell]
                    )),
                ));
            }
            if self.children_root != EMPTY_CHILDREN_ROOT {
                return Err(ValidationError::new(
                    "children_root",
                    Reason::malformed("with no children the root is the empty tree's"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_that_overspends_its_cap_or_repeats_a_slot_is_refused() {
        let charge = |closing, slot_index, rho_millionths| ReleaseCharge {
            closing,
            slot_index,
            released_at_unix_s: 1_700_000_000,
            rho_millionths,
        };
        let ledger = |charges| ReleaseLedger { rho_cap_millionths: 1_500_000, charges };
        assert!(ledger(vec![charge(false, 0, 500_000), charge(true, 0, 500_000)]).check().is_ok());
        let over = ledger(vec![charge(false, 0, 1_000_000), charge(true, 0, 1_000_000)]).check().expect_err("over");
        assert_eq!(over.field, "reader_releases.charges", "{over}");
        let repeated = ledger(vec![charge(true, 1, 1), charge(true, 1, 1)]).check().expect_err("repeated");
        assert_eq!(repeated.field, "reader_releases.charges[1]", "{repeated}");
        let backwards = ledger(vec![charge(true, 0, 1), charge(false, 3, 1)]).check().expect_err("backwards");
        assert!(backwards.to_string().contains("later slot"), "{backwards}");
    }

    #[test]
    fn every_cell_has_its_own_index_in_layout_order() {
        let cells = Cell::all();
        assert_eq!(cells.len(), CELLS);
        for (index, cell) in cells.iter().enumerate() {
            assert_eq!(cell.index(), index, "{}", cell.name());
        }
        let mut names: Vec<String> = cells.iter().map(|cell| cell.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CELLS, "cell names are unique");
    }

    #[test]
    fn every_cross_cell_has_its_own_index_in_grid_order() {
        let cells = CrossCell::all();
        assert_eq!(cells.len(), CROSS_CELLS);
        for (index, cell) in cells.iter().enumerate() {
            assert_eq!(cell.index(), index, "{}", cell.name());
        }
    }

    #[test]
    fn sums_refuse_to_overflow() {
        let mut big = Counts::zero();
        big.add_to(Cell::FollowUps, u64::MAX).expect("fits");
        let mut one = Counts::zero();
        one.add_to(Cell::FollowUps, 1).expect("fits");
        assert_eq!(big.checked_add(&one), Err(CountOverflow { cell: Cell::FollowUps.index() }));
    }
}
