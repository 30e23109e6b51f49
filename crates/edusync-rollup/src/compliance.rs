//! Compliance of the units below an office, from what they sent up: whether
//! each filed its reports and collected its staff commitments by the
//! deadlines in force, how its incidents were notified and investigated, and
//! which schools had two or more incidents in a semester (and in two semesters
//! in a row). Pure: the caller hands in each child's signed aggregates with
//! the time each was signed, the deadlines and today's date.
//!
//! A report counts as filed when the child's own count of filed reports first
//! became non-zero in an aggregate it signed, on the local date it signed it:
//! an offline school that filed on time is on time, however late its link
//! came back.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use edusync_core::{
    Aggregate, Cell, CommitmentKind, DeadlineKind, Investigation, Level, Notified, OrgId, Period, PeriodSpan,
    SchoolYear,
};

/// Days a deadline falls on, by the level of the unit that files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deadlines {
    pub due: BTreeMap<(DeadlineKind, Level), NaiveDate>,
}

impl Deadlines {
    /// The defaults of DOMAIN.md for a school year: schools report the year by
    /// 1 August and district offices by 7 August; staff commitments are
    /// collected in September. No semester deadline unless a policy sets one.
    pub fn defaults(school_year: SchoolYear) -> Deadlines {
        let end_year = i32::from(school_year.start_year()) + 1;
        let start_year = i32::from(school_year.start_year());
        let mut due = BTreeMap::new();
        let mut set = |kind, level, year, month, day| {
            if let Some(date) = NaiveDate::from_ymd_opt(year, month, day) {
                due.insert((kind, level), date);
            }
        };
        set(DeadlineKind::SchoolYearReport, Level::School, end_year, 8, 1);
        set(DeadlineKind::SchoolYearReport, Level::District, end_year, 8, 7);
        set(DeadlineKind::StaffCommitments, Level::School, start_year, 9, 30);
        Deadlines { due }
    }

    pub fn set(&mut self, kind: DeadlineKind, level: Level, due_on: NaiveDate) {
        self.due.insert((kind, level), due_on);
    }

    fn of(&self, kind: DeadlineKind, level: Level) -> Option<NaiveDate> {
        self.due.get(&(kind, level)).copied()
    }
}

/// One signed aggregate of a child, with the local date it was signed.
#[derive(Clone, Debug)]
pub struct Signed {
    pub signed_on: NaiveDate,
    pub aggregate: Aggregate,
}

/// What a parent holds of one child for a school year: every revision of
/// its aggregates for the year, the semesters and September, in log order,
/// and its latest second semester of the year before.
#[derive(Clone, Debug)]
pub struct ChildHistory {
    pub org: OrgId,
    pub level: Level,
    /// The first day the unit was certified (local date): nothing due
    /// before it is owed. `None`: judged on every deadline.
    pub certified_from: Option<NaiveDate>,
    pub revisions: Vec<Signed>,
    pub previous_semester2: Option<Aggregate>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Filing {
    OnTime { filed_on: NaiveDate, due_on: NaiveDate },
    Late { filed_on: NaiveDate, due_on: NaiveDate, days_late: i64 },
    Missing { due_on: NaiveDate },
    NotYetDue { due_on: NaiveDate },
}

impl Filing {
    fn judge(filed_on: Option<NaiveDate>, due_on: NaiveDate, today: NaiveDate) -> Filing {
        match filed_on {
            Some(filed_on) if filed_on <= due_on => Filing::OnTime { filed_on, due_on },
            Some(filed_on) => Filing::Late { filed_on, due_on, days_late: (filed_on - due_on).num_days() },
            None if today > due_on => Filing::Missing { due_on },
            None => Filing::NotYetDue { due_on },
        }
    }

    pub fn is_a_problem(&self) -> bool {
        matches!(self, Filing::Late { .. } | Filing::Missing { .. })
    }
}

/// One child's standing for a school year.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChildCompliance {
    pub org: OrgId,
    pub level: Level,
    pub school_year_report: Option<Filing>,
    pub semester1_report: Option<Filing>,
    pub staff_commitments: Option<Filing>,
    /// Incident cases of the year whose first report upward came later than
    /// 12 hours after detection, or has not come.
    pub notified_late: u64,
    pub notified_in_time: u64,
    /// Investigations concluded after the deadline, or open past it.
    pub investigations_overdue: u64,
    pub cases_semester1: u64,
    pub cases_semester2: u64,
    /// 0 when the three timeliness figures above are exact (the operator);
    /// for a reader, who sees them from the year's release, the half-width of
    /// their 90% interval.
    pub timeliness_margin: u64,
}

/// What an office should look at, one line each.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Alert {
    ReportLate { org: OrgId, report: DeadlineKind, due_on: NaiveDate, filed_on: NaiveDate, days_late: i64 },
    ReportMissing { org: OrgId, report: DeadlineKind, due_on: NaiveDate },
    NotificationsLate { org: OrgId, cases: u64 },
    InvestigationsOverdue { org: OrgId, cases: u64 },
    RepeatedIncidents { org: OrgId, period: Period, cases: u64 },
    RepeatedTwoSemestersInARow { org: OrgId, first: Period, second: Period },
}

impl Alert {
    /// A stable name for the kind of alert, for scripts and translations.
    pub fn code(&self) -> &'static str {
        match self {
            Alert::ReportLate { .. } => "report_late",
            Alert::ReportMissing { .. } => "report_missing",
            Alert::NotificationsLate { .. } => "notifications_late",
            Alert::InvestigationsOverdue { .. } => "investigations_overdue",
            Alert::RepeatedIncidents { .. } => "repeated_incidents",
            Alert::RepeatedTwoSemestersInARow { .. } => "repeated_two_semesters_in_a_row",
        }
    }

    pub fn org(&self) -> &OrgId {
        match self {
            Alert::ReportLate { org, .. }
            | Alert::ReportMissing { org, .. }
            | Alert::NotificationsLate { org, .. }
            | Alert::InvestigationsOverdue { org, .. }
            | Alert::RepeatedIncidents { org, .. }
            | Alert::RepeatedTwoSemestersInARow { org, .. } => org,
        }
    }
}

impl std::fmt::Display for Alert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Alert::ReportLate { org, report, due_on, filed_on, days_late } => {
                write!(f, "{org}: {} filed {filed_on}, {days_late} day(s) after {due_on}", report_name(*report))
            }
            Alert::ReportMissing { org, report, due_on } => {
                write!(f, "{org}: {} missing (due {due_on})", report_name(*report))
            }
            Alert::NotificationsLate { org, cases } => {
                write!(f, "{org}: {cases} incident case(s) not reported upward within 12 hours of detection")
            }
            Alert::InvestigationsOverdue { org, cases } => {
                write!(f, "{org}: {cases} investigation(s) concluded late or open past the deadline")
            }
            Alert::RepeatedIncidents { org, period, cases } => {
                write!(f, "{org}: {cases} incident cases in {period} (two or more in a semester)")
            }
            Alert::RepeatedTwoSemestersInARow { org, first, second } => {
                write!(f, "{org}: two or more incidents in {first} and again in {second}")
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Assessment {
    pub school_year: SchoolYear,
    pub as_of: NaiveDate,
    pub children: Vec<ChildCompliance>,
    pub alerts: Vec<Alert>,
}

fn report_name(kind: DeadlineKind) -> &'static str {
    match kind {
        DeadlineKind::Semester1Report => "semester 1 report",
        DeadlineKind::SchoolYearReport => "school-year report",
        DeadlineKind::StaffCommitments => "staff commitments",
    }
}

/// Judges every child against the deadlines, as of `today`.
pub fn assess(
    children: &[ChildHistory],
    deadlines: &Deadlines,
    school_year: SchoolYear,
    today: NaiveDate,
) -> Assessment {
    let year = Period::school_year(school_year);
    let semester1 = Period { school_year, span: PeriodSpan::Semester1 };
    let semester2 = Period { school_year, span: PeriodSpan::Semester2 };
    let september = Period { school_year, span: PeriodSpan::Month(9) };
    let mut rows = Vec::new();
    let mut alerts = Vec::new();
    for child in children {
        let of_period = |period: Period| child.revisions.iter().filter(move |signed| signed.aggregate.period == period);
        let latest = |period: Period| of_period(period).next_back().map(|signed| &signed.aggregate);
        // The first signature of a non-zero own count of filed reports.
        let filed = |period: Period| {
            of_period(period)
                .find(|signed| signed.aggregate.own.get(Cell::ReportsFiled) > 0)
                .map(|signed| signed.signed_on)
        };
        let pledged = |period: Period| {
            of_period(period)
                .find(|signed| signed.aggregate.own.get(Cell::Commitments(CommitmentKind::StaffPledge)) > 0)
                .map(|signed| signed.signed_on)
        };
        // Nothing is owed before a unit was certified: it did not exist here yet.
        let judge = |kind: DeadlineKind, filed_on: Option<NaiveDate>| {
            deadlines
                .of(kind, child.level)
                .filter(|due_on| child.certified_from.is_none_or(|from| *due_on >= from))
                .map(|due_on| Filing::judge(filed_on, due_on, today))
        };
        let school_year_report = judge(DeadlineKind::SchoolYearReport, filed(year));
        let semester1_report = judge(DeadlineKind::Semester1Report, filed(semester1));
        // September's count is by the date each pledge was signed, so pledges
        // counted there were collected in September, whenever they were entered
        // (on the due date at the latest, if it falls in September); pledges
        // counted only in the year's total were collected later, and are
        // dated by the first aggregate that counted them.
        let collected_in_september = pledged(september).map(|_| {
            let last = september.last_day();
            deadlines.of(DeadlineKind::StaffCommitments, child.level).map_or(last, |due_on| due_on.min(last))
        });
        let staff_commitments = judge(DeadlineKind::StaffCommitments, collected_in_september.or_else(|| pledged(year)));
        for (kind, filing) in [
            (DeadlineKind::SchoolYearReport, school_year_report),
            (DeadlineKind::Semester1Report, semester1_report),
            (DeadlineKind::StaffCommitments, staff_commitments),
        ] {
            match filing {
                Some(Filing::Late { filed_on, due_on, days_late }) => {
                    alerts.push(Alert::ReportLate { org: child.org.clone(), report: kind, due_on, filed_on, days_late })
                }
                Some(Filing::Missing { due_on }) => {
                    alerts.push(Alert::ReportMissing { org: child.org.clone(), report: kind, due_on })
                }
                _ => {}
            }
        }
        let year_total =
            latest(year).map(|aggregate| aggregate.total.clone()).unwrap_or_else(edusync_core::Counts::zero);
        let notified_late =
            year_total.get(Cell::Notified(Notified::Later)) + year_total.get(Cell::Notified(Notified::NotYet));
        let notified_in_time = year_total.get(Cell::Notified(Notified::Within3Hours))
            + year_total.get(Cell::Notified(Notified::Within12Hours));
        let investigations_overdue = year_total.get(Cell::Investigation(Investigation::ConcludedLate))
            + year_total.get(Cell::Investigation(Investigation::OpenOverdue));
        if notified_late > 0 {
            alerts.push(Alert::NotificationsLate { org: child.org.clone(), cases: notified_late });
        }
        if investigations_overdue > 0 {
            alerts.push(Alert::InvestigationsOverdue { org: child.org.clone(), cases: investigations_overdue });
        }
        let cases = |aggregate: Option<&Aggregate>| aggregate.map_or(0, |aggregate| aggregate.total.incident_cases());
        let (cases_semester1, cases_semester2) = (cases(latest(semester1)), cases(latest(semester2)));
        if child.level == Level::School {
            let previous =
                child.previous_semester2.as_ref().map(|aggregate| (aggregate.period, aggregate.total.incident_cases()));
            let mut run: Vec<(Period, u64)> = previous.into_iter().collect();
            run.extend([(semester1, cases_semester1), (semester2, cases_semester2)]);
            for &(period, count) in &run[run.len() - 2..] {
                if count >= 2 {
                    alerts.push(Alert::RepeatedIncidents { org: child.org.clone(), period, cases: count });
                }
            }
            for pair in run.windows(2) {
                if pair[0].1 >= 2 && pair[1].1 >= 2 {
                    alerts.push(Alert::RepeatedTwoSemestersInARow {
                        org: child.org.clone(),
                        first: pair[0].0,
                        second: pair[1].0,
                    });
                }
            }
        }
        rows.push(ChildCompliance {
            org: child.org.clone(),
            level: child.level,
            school_year_report,
            semester1_report,
            staff_commitments,
            notified_late,
            notified_in_time,
            investigations_overdue,
            cases_semester1,
            cases_semester2,
            timeliness_margin: 0,
        });
    }
    Assessment { school_year, as_of: today, children: rows, alerts }
}

/// The assessment as a reader sees it: each child's notification and
/// investigation timeliness taken from the school year's release (the sums of
/// the released `notified` and `investigation` cells the compliance groups
/// name), with their margin. The alerts that would quote those counts are
/// left out: a noisy count is no ground for an alert (a reader would be told
/// of a late notification that was not). Reports, commitments and case
/// counts are facts about the offices and stay exact, with their alerts.
pub fn as_released(mut assessment: Assessment, releases: &[&crate::released::ReleasedTables]) -> Assessment {
    use crate::query::Dimension;
    use crate::released::group_sum;
    let notified = Dimension::Notified.compliance_groups();
    let investigation = Dimension::Investigation.compliance_groups();
    assessment
        .alerts
        .retain(|alert| !matches!(alert, Alert::NotificationsLate { .. } | Alert::InvestigationsOverdue { .. }));
    for child in &mut assessment.children {
        let unit = Some(child.org.clone());
        let in_time = group_sum(releases, Dimension::Notified, &unit, &notified[0]);
        let late = group_sum(releases, Dimension::Notified, &unit, &notified[1]);
        let overdue = group_sum(releases, Dimension::Investigation, &unit, &investigation[0]);
        child.notified_in_time = in_time.value;
        child.notified_late = late.value;
        child.investigations_overdue = overdue.value;
        child.timeliness_margin = in_time.margin.max(late.margin).max(overdue.margin);
    }
    assessment
}

#[cfg(test)]
mod tests;
