//! Derivation counts what the rules say, and roll-ups of any shape sum exactly.

use chrono::{NaiveDate, TimeZone, Utc};
use proptest::prelude::*;

use edusync_core::{
    AtRiskCount, AtRiskGroup, Commitment, CommitmentKind, IncidentCategory, IntakeChannel, OrgId, PeriodSpan,
    PeriodicReport, PlaceCategory, RiskRegister, SchoolYear, Severity, SignerRole,
};

use super::*;
use crate::roll_up;

fn at(day: u32, hour: u32) -> Timestamp {
    // Days of October 2024, in UTC; Vietnam is 7 hours ahead.
    Utc.with_ymd_and_hms(2024, 10, day, hour, 0, 0).single().expect("valid")
}

fn offset() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("valid")
}

fn year() -> SchoolYear {
    "2024-2025".parse().expect("valid")
}

fn semester1() -> Period {
    Period { school_year: year(), span: PeriodSpan::Semester1 }
}

fn incident(detected: Timestamp, upward: Option<Timestamp>, status: IncidentStatus) -> Incident {
    Incident {
        occurred_at: detected,
        detected_at: detected,
        reported_to_school_at: detected,
        reported_upward_at: upward,
        place: PlaceCategory::Classroom,
        category: IncidentCategory::Verbal,
        severity: Severity::Minor,
        repeat: false,
        intake_channel: IntakeChannel::Teacher,
        people: vec![],
        narrative: "Nguyễn Văn Canary".into(),
        measures_taken: String::new(),
        status,
        follow_up_of: None,
    }
}

fn own(id: u8, seq: u64, record: &Record) -> OwnRecord<'_> {
    OwnRecord { id: RecordId([id; 32]), seq, record }
}

#[test]
fn timeliness_follow_ups_and_latest_state_are_counted_by_the_rules() {
    // Case A: notified after 2 h, concluded by a follow-up 5 days later, which also upgrades it.
    let a = Record::Incident(incident(at(1, 1), Some(at(1, 3)), IncidentStatus::Investigating));
    let mut a_follow = incident(at(1, 1), Some(at(1, 3)), IncidentStatus::Concluded);
    a_follow.reported_to_school_at = at(6, 1);
    a_follow.follow_up_of = Some(RecordId([1; 32]));
    a_follow.severity = Severity::Serious;
    a_follow.repeat = true;
    let a_follow = Record::Incident(a_follow);
    // Case B: notified after 10 h, still open 20 days later.
    let b = Record::Incident(incident(at(2, 1), Some(at(2, 11)), IncidentStatus::Open));
    // Case C: never notified, reported to the school (already concluded) 18 days after detection.
    let mut c = incident(at(3, 1), None, IncidentStatus::Concluded);
    c.reported_to_school_at = at(21, 1);
    let c = Record::Incident(c);
    // Case D: occurred in semester 2; not part of semester 1.
    let mut d = incident(at(3, 1), None, IncidentStatus::Open);
    d.occurred_at = Utc.with_ymd_and_hms(2025, 3, 1, 1, 0, 0).single().expect("valid");
    d.detected_at = d.occurred_at;
    d.reported_to_school_at = d.occurred_at;
    let d = Record::Incident(d);

    let records = [own(1, 1, &a), own(2, 2, &a_follow), own(3, 3, &b), own(4, 4, &c), own(5, 5, &d)];
    let counts = derive_own(&records, semester1(), true, at(22, 1), offset()).expect("no overflow");
    assert_eq!(counts.incident_cases(), 3);
    assert_eq!(counts.get(Cell::Cases(IncidentCategory::Verbal, Severity::Serious, IncidentStatus::Concluded)), 1);
    assert_eq!(counts.get(Cell::Cases(IncidentCategory::Verbal, Severity::Minor, IncidentStatus::Open)), 1);
    assert_eq!(counts.get(Cell::Notified(Notified::Within3Hours)), 1);
    assert_eq!(counts.get(Cell::Notified(Notified::Within12Hours)), 1);
    assert_eq!(counts.get(Cell::Notified(Notified::NotYet)), 1);
    assert_eq!(counts.get(Cell::Investigation(Investigation::ConcludedInTime)), 1);
    assert_eq!(counts.get(Cell::Investigation(Investigation::OpenOverdue)), 1);
    assert_eq!(counts.get(Cell::Investigation(Investigation::ConcludedLate)), 1);
    assert_eq!(counts.get(Cell::FollowUps), 1);
    assert_eq!(counts.get(Cell::RepeatCases), 1);
    assert_eq!(counts.get(Cell::Channel(IntakeChannel::Teacher)), 3);
    assert_eq!(counts.get(Cell::ContributingSchools), 1);

    let year_counts = derive_own(&records, Period::school_year(year()), true, at(22, 1), offset()).expect("sums");
    assert_eq!(year_counts.incident_cases(), 4);
}

#[test]
fn the_latest_report_and_register_count_and_commitments_fall_in_their_periods() {
    let report = |trained| {
        Record::PeriodicReport(PeriodicReport {
            period: semester1(),
            submitted_on: NaiveDate::from_ymd_opt(2025, 1, 20).expect("valid"),
            awareness_sessions: 3,
            staff_total: 40,
            staff_informed: 40,
            staff_trained: trained,
            commitments_signed: 40,
            channels_set_up: vec![IntakeChannel::Hotline, IntakeChannel::SuggestionBox],
            counselling_team_in_place: true,
            psychological_screenings: 1,
            home_visits: 4,
            parent_meetings: 2,
            remarks: "Lê Thị Canary".into(),
        })
    };
    let first = report(10);
    let corrected = report(25);
    let register = |count| {
        Record::RiskRegister(RiskRegister {
            period: semester1(),
            screened_on: NaiveDate::from_ymd_opt(2024, 10, 1).expect("valid"),
            counts: vec![AtRiskCount { group: AtRiskGroup::VeryPoor, count }],
            students: vec![],
        })
    };
    let register_old = register(5);
    let register_new = register(3);
    let pledge = Record::Commitment(Commitment {
        kind: CommitmentKind::StaffPledge,
        signer_role: SignerRole::Staff,
        count: 40,
        signed_on: NaiveDate::from_ymd_opt(2024, 9, 6).expect("valid"),
        school_year: year(),
    });
    let spring = Record::Commitment(Commitment {
        kind: CommitmentKind::ParentStudentSchool,
        signer_role: SignerRole::Parent,
        count: 300,
        signed_on: NaiveDate::from_ymd_opt(2025, 3, 6).expect("valid"),
        school_year: year(),
    });
    let records = [
        own(1, 1, &first),
        own(2, 2, &register_old),
        own(3, 3, &corrected),
        own(4, 4, &register_new),
        own(5, 5, &pledge),
        own(6, 6, &spring),
    ];
    let semester = derive_own(&records, semester1(), true, at(1, 1), offset()).expect("sums");
    assert_eq!(semester.get(Cell::ReportsFiled), 1);
    assert_eq!(semester.get(Cell::Indicator(Indicator::StaffTrained)), 25, "the correction supersedes");
    assert_eq!(semester.get(Cell::Indicator(Indicator::ChannelsSetUp)), 2);
    assert_eq!(semester.get(Cell::AtRisk(AtRiskGroup::VeryPoor)), 3, "the latest register counts");
    assert_eq!(semester.get(Cell::Commitments(CommitmentKind::StaffPledge)), 40);
    assert_eq!(semester.get(Cell::Commitments(CommitmentKind::ParentStudentSchool)), 0);
    let whole_year = derive_own(&records, Period::school_year(year()), true, at(1, 1), offset()).expect("sums");
    assert_eq!(whole_year.get(Cell::Commitments(CommitmentKind::ParentStudentSchool)), 300);
    assert_eq!(whole_year.get(Cell::ReportsFiled), 0, "a semester report is not the year's report");
    assert_eq!(whole_year.get(Cell::AtRisk(AtRiskGroup::VeryPoor)), 0);
}

fn random_incident() -> impl Strategy<Value = (u32, u32, usize, usize, usize, bool)> {
    (
        1u32..28,
        0u32..20,
        0..IncidentCategory::ALL.len(),
        0..Severity::ALL.len(),
        0..IncidentStatus::ALL.len(),
        any::<bool>(),
    )
}

proptest! {
    /// A random province: districts of 1 to 4 schools (one-school districts
    /// included), each school with random incidents. The province's total,
    /// rolled up through the districts' Merkle sum trees, equals the count
    /// taken directly over every school's raw records.
    #[test]
    fn the_top_total_equals_the_direct_count_over_all_raw_records(
        districts in proptest::collection::vec(
            proptest::collection::vec(proptest::collection::vec(random_incident(), 0..8), 1..=4), 1..6),
    ) {
        let period = Period::school_year(year());
        let mut district_aggregates = Vec::new();
        let mut direct_cases = 0u64;
        let mut direct_by_category = vec![0u64; IncidentCategory::ALL.len()];
        let mut schools = 0u64;
        for (d, district) in districts.iter().enumerate() {
            let mut school_totals = Vec::new();
            for (s, incidents) in district.iter().enumerate() {
                let records: Vec<Record> = incidents
                    .iter()
                    .map(|(day, hour, category, severity, status, repeat)| {
                        let mut record = incident(at(*day, *hour), None, IncidentStatus::ALL[*status]);
                        record.category = IncidentCategory::ALL[*category];
                        record.severity = Severity::ALL[*severity];
                        record.repeat = *repeat;
                        Record::Incident(record)
                    })
                    .collect();
                let owns: Vec<OwnRecord<'_>> =
                    records.iter().enumerate().map(|(i, r)| own(i as u8, i as u64 + 1, r)).collect();
                let counts = derive_own(&owns, period, true, at(28, 0), offset()).expect("sums");
                direct_cases += incidents.len() as u64;
                for (_, _, category, ..) in incidents {
                    direct_by_category[*category] += 1;
                }
                schools += 1;
                let org = OrgId::parse("org", &format!("VN.BT.D{d:02}.S{s:03}")).expect("valid");
                school_totals.push((org, RecordId([s as u8; 32]), counts));
            }
            let rolled = roll_up(&Counts::zero(), &school_totals).expect("sums");
            let org = OrgId::parse("org", &format!("VN.BT.D{d:02}")).expect("valid");
            district_aggregates.push((org, RecordId([d as u8; 32]), rolled.total));
        }
        let province = roll_up(&Counts::zero(), &district_aggregates).expect("sums");
        prop_assert_eq!(province.total.incident_cases(), direct_cases);
        for (index, category) in IncidentCategory::ALL.iter().enumerate() {
            prop_assert_eq!(province.total.cases_of(*category), direct_by_category[index]);
        }
        prop_assert_eq!(province.total.get(Cell::ContributingSchools), schools);
        prop_assert_eq!(province.children as usize, districts.len());
    }
}

#[test]
fn incidents_are_counted_in_the_local_month_they_occurred() {
    // 18:00 UTC on 31 October is already 1 November in Vietnam.
    let late_october = Utc.with_ymd_and_hms(2024, 10, 31, 18, 0, 0).single().expect("valid");
    let mid_october = at(14, 3);
    let november = Record::Incident(incident(late_october, None, IncidentStatus::Open));
    let october = Record::Incident(incident(mid_october, None, IncidentStatus::Open));
    let records = [own(1, 1, &november), own(2, 2, &october)];
    let month = |number| Period { school_year: year(), span: PeriodSpan::Month(number) };
    let count = |period| derive_own(&records, period, true, at(28, 0), offset()).expect("sums").incident_cases();
    assert_eq!(count(month(10)), 1);
    assert_eq!(count(month(11)), 1);
    assert_eq!(count(month(12)), 0);
    assert_eq!(count(semester1()), 2);
    let reports = derive_own(&records, month(10), true, at(28, 0), offset()).expect("sums");
    assert_eq!(reports.get(Cell::ReportsFiled), 0, "reports are never monthly");
}
