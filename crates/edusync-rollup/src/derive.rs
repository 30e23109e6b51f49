//! From raw records to counts. Everything that could identify a child —
//! names, student numbers, birth dates, narratives, exact times — is read here
//! and left here: only counts come out.

use std::collections::BTreeMap;

use chrono::{Duration, FixedOffset};

use edusync_core::{
    Cell, CountOverflow, Counts, Incident, IncidentStatus, Indicator, Investigation, Notified, Period, Record,
    RecordId, Timestamp,
};

/// The 15-day rule for concluding an investigation.
pub const INVESTIGATION_DEADLINE_DAYS: i64 = 15;

/// One of the node's own records, with the facts of its envelope that
/// derivation needs.
#[derive(Clone, Copy, Debug)]
pub struct OwnRecord<'a> {
    pub id: RecordId,
    /// Position in the author's log; later positions supersede earlier ones.
    pub seq: u64,
    pub record: &'a Record,
}

/// The counts a node's own records give for one period.
///
/// - An incident case is a first report and its follow-ups; it belongs to the
///   semester (and school year) of the local date it occurred, and is counted
///   once, by the category, severity, status and place of its latest record
///   and the intake channel of its first.
/// - Notification time runs from detection to the first report upward;
///   investigation time from detection to the first report (by its
///   reported-to-school time) that concluded or referred the case, against
///   `as_of` for cases still open. Times come from the records themselves, not
///   from when they were typed in, so back-filled and imported records count
///   as they happened.
/// - The latest periodic report for exactly this period gives the indicators.
/// - Commitments count in their school year and in the semester and month they were signed.
/// - The latest risk register of a semester gives that semester's at-risk counts.
/// - A school counts itself once in `ContributingSchools`.
pub fn derive_own(
    records: &[OwnRecord<'_>],
    period: Period,
    is_school: bool,
    as_of: Timestamp,
    utc_offset: FixedOffset,
) -> Result<Counts, CountOverflow> {
    let mut counts = Counts::zero();
    count_incidents(records, period, as_of, utc_offset, &mut counts)?;

    let latest_report = records
        .iter()
        .filter_map(|own| match own.record {
            Record::PeriodicReport(report) if report.period == period => Some((own.seq, report)),
            _ => None,
        })
        .max_by_key(|(seq, _)| *seq);
    if let Some((_, report)) = latest_report {
        counts.add_to(Cell::ReportsFiled, 1)?;
        for (indicator, value) in [
            (Indicator::AwarenessSessions, report.awareness_sessions),
            (Indicator::StaffTotal, report.staff_total),
            (Indicator::StaffInformed, report.staff_informed),
            (Indicator::StaffTrained, report.staff_trained),
            (Indicator::CommitmentsSigned, report.commitments_signed),
            (Indicator::ChannelsSetUp, report.channels_set_up.len() as u32),
            (Indicator::CounsellingTeams, u32::from(report.counselling_team_in_place)),
            (Indicator::Screenings, report.psychological_screenings),
            (Indicator::HomeVisits, report.home_visits),
            (Indicator::ParentMeetings, report.parent_meetings),
        ] {
            counts.add_to(Cell::Indicator(indicator), u64::from(value))?;
        }
    }

    for own in records {
        if let Record::Commitment(commitment) = own.record {
            let counted = if period.span == edusync_core::PeriodSpan::SchoolYear {
                commitment.school_year == period.school_year
            } else {
                period.contains(commitment.signed_on)
            };
            if counted {
                counts.add_to(Cell::Commitments(commitment.kind), u64::from(commitment.count))?;
            }
        }
    }

    if period.is_semester() {
        let latest_register = records
            .iter()
            .filter_map(|own| match own.record {
                Record::RiskRegister(register) if register.period == period => Some((own.seq, register)),
                _ => None,
            })
            .max_by_key(|(seq, _)| *seq);
        if let Some((_, register)) = latest_register {
            for entry in &register.counts {
                counts.add_to(Cell::AtRisk(entry.group), u64::from(entry.count))?;
            }
        }
    }

    if is_school {
        counts.add_to(Cell::ContributingSchools, 1)?;
    }
    Ok(counts)
}

/// One incident case: a first report and its follow-ups.
#[derive(Clone, Debug)]
pub struct IncidentCase<'a> {
    /// The record id of the first report: the case's identity at the school.
    pub id: RecordId,
    pub first: &'a Incident,
    /// Every record of the case, first report included, in log order.
    pub records: Vec<(&'a OwnRecord<'a>, &'a Incident)>,
}

impl<'a> IncidentCase<'a> {
    /// The case as its latest report describes it.
    pub fn latest(&self) -> &'a Incident {
        self.records.last().map_or(self.first, |(_, incident)| *incident)
    }

    /// Whether the case belongs to `period`, by the local date it occurred.
    pub fn occurred_in(&self, period: Period, utc_offset: FixedOffset) -> bool {
        period.contains(self.first.occurred_at.with_timezone(&utc_offset).date_naive())
    }
}

/// Groups incident records into cases. A follow-up whose first report is not
/// among `records` stands as its own case, so nothing written is ever left out.
pub fn incident_cases<'a>(records: &'a [OwnRecord<'a>]) -> Vec<IncidentCase<'a>> {
    let mut cases: BTreeMap<RecordId, IncidentCase<'a>> = BTreeMap::new();
    let mut follow_ups = Vec::new();
    for own in records {
        if let Record::Incident(incident) = own.record {
            match incident.follow_up_of {
                Some(first) => follow_ups.push((first, own, incident)),
                None => {
                    cases.insert(own.id, IncidentCase { id: own.id, first: incident, records: vec![(own, incident)] });
                }
            }
        }
    }
    for (first, own, incident) in follow_ups {
        match cases.get_mut(&first) {
            Some(case) => case.records.push((own, incident)),
            None => {
                cases.insert(own.id, IncidentCase { id: own.id, first: incident, records: vec![(own, incident)] });
            }
        }
    }
    let mut cases: Vec<IncidentCase<'a>> = cases.into_values().collect();
    for case in &mut cases {
        case.records.sort_by_key(|(own, _)| own.seq);
    }
    cases
}

fn count_incidents(
    records: &[OwnRecord<'_>],
    period: Period,
    as_of: Timestamp,
    utc_offset: FixedOffset,
    counts: &mut Counts,
) -> Result<(), CountOverflow> {
    for case in incident_cases(records) {
        if !case.occurred_in(period, utc_offset) {
            continue;
        }
        let latest = case.latest();
        counts.add_to(Cell::Cases(latest.category, latest.severity, latest.status), 1)?;
        counts.add_to(Cell::Channel(case.first.intake_channel), 1)?;
        counts.add_to(Cell::Place(latest.place), 1)?;
        counts.add_to(Cell::FollowUps, case.records.len() as u64 - 1)?;
        if case.records.iter().any(|(_, incident)| incident.repeat) {
            counts.add_to(Cell::RepeatCases, 1)?;
        }

        let detected = case.first.detected_at;
        let notified = case.records.iter().filter_map(|(_, incident)| incident.reported_upward_at).min();
        let notified = match notified.map(|at| at - detected) {
            None => Notified::NotYet,
            Some(delay) if delay <= Duration::hours(3) => Notified::Within3Hours,
            Some(delay) if delay <= Duration::hours(12) => Notified::Within12Hours,
            Some(_) => Notified::Later,
        };
        counts.add_to(Cell::Notified(notified), 1)?;

        let deadline = detected + Duration::days(INVESTIGATION_DEADLINE_DAYS);
        let concluded = case
            .records
            .iter()
            .filter(|(_, incident)| {
                matches!(
                    incident.status,
                    IncidentStatus::Concluded | IncidentStatus::ReferredToPolice | IncidentStatus::ReferredToCourt
                )
            })
            .map(|(_, incident)| incident.reported_to_school_at)
            .min();
        let investigation = match concluded {
            Some(at) if at <= deadline => Investigation::ConcludedInTime,
            Some(_) => Investigation::ConcludedLate,
            None if as_of <= deadline => Investigation::OpenInTime,
            None => Investigation::OpenOverdue,
        };
        counts.add_to(Cell::Investigation(investigation), 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
