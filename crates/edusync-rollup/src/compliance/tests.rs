//! The hand-built scenario of issue 6: a late district, a missing school, and
//! a school with two incidents in two semesters in a row.

use super::*;

fn org(text: &str) -> OrgId {
    OrgId::parse("org", text).expect("valid")
}

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid")
}

fn year() -> SchoolYear {
    "2024-2025".parse().expect("valid")
}

fn aggregate(of: &str, period: Period, own: &[(Cell, u64)], cases: u64) -> Aggregate {
    let mut counts = edusync_core::Counts::zero();
    for (cell, value) in own {
        counts.add_to(*cell, *value).expect("fits");
    }
    let case = Cell::Cases(
        edusync_core::IncidentCategory::Physical,
        edusync_core::Severity::Minor,
        edusync_core::IncidentStatus::Open,
    );
    counts.add_to(case, cases).expect("fits");
    Aggregate {
        org: org(of),
        period,
        revision: 1,
        layout_version: edusync_core::LAYOUT_VERSION,
        own: counts.clone(),
        total: counts,
        children_root: [0; 32],
        children: 0,
        cross: None,
        reader_releases: None,
    }
}

fn signed(on: NaiveDate, aggregate: Aggregate) -> Signed {
    Signed { signed_on: on, aggregate }
}

fn periods() -> (Period, Period, Period, Period) {
    let school_year = year();
    (
        Period::school_year(school_year),
        Period { school_year, span: PeriodSpan::Semester1 },
        Period { school_year, span: PeriodSpan::Semester2 },
        Period { school_year, span: PeriodSpan::Month(9) },
    )
}

#[test]
fn a_late_district_a_missing_school_and_a_school_with_incidents_two_semesters_running_are_flagged() {
    let (whole, semester1, semester2, september) = periods();
    let filed = [(Cell::ReportsFiled, 1)];
    let pledged = [(Cell::Commitments(CommitmentKind::StaffPledge), 40)];
    let previous: Period = "2023-2024/S2".parse().expect("valid");
    let children = vec![
        // On time everywhere, one incident.
        ChildHistory {
            certified_from: None,
            org: org("VN.BT.D03.S001"),
            level: Level::School,
            revisions: vec![
                signed(date(2024, 9, 20), aggregate("VN.BT.D03.S001", september, &pledged, 0)),
                signed(date(2025, 7, 30), aggregate("VN.BT.D03.S001", whole, &filed, 1)),
            ],
            previous_semester2: None,
        },
        // Never filed its school-year report; pledges only in October.
        ChildHistory {
            certified_from: None,
            org: org("VN.BT.D03.S002"),
            level: Level::School,
            revisions: vec![signed(date(2024, 10, 15), aggregate("VN.BT.D03.S002", whole, &pledged, 0))],
            previous_semester2: None,
        },
        // Two incidents in each semester, and one in the last semester of the year before.
        ChildHistory {
            certified_from: None,
            org: org("VN.BT.D03.S003"),
            level: Level::School,
            revisions: vec![
                signed(date(2024, 9, 10), aggregate("VN.BT.D03.S003", september, &pledged, 0)),
                signed(date(2025, 1, 20), aggregate("VN.BT.D03.S003", semester1, &[], 2)),
                signed(date(2025, 5, 20), aggregate("VN.BT.D03.S003", semester2, &[], 3)),
                signed(date(2025, 7, 1), aggregate("VN.BT.D03.S003", whole, &filed, 5)),
            ],
            previous_semester2: Some(aggregate("VN.BT.D03.S003", previous, &[], 1)),
        },
        // A district (under a province) that filed on 12 August, five days late.
        ChildHistory {
            certified_from: None,
            org: org("VN.BT.D04"),
            level: Level::District,
            revisions: vec![
                signed(date(2025, 8, 1), aggregate("VN.BT.D04", whole, &[], 0)),
                signed(date(2025, 8, 12), aggregate("VN.BT.D04", whole, &filed, 0)),
            ],
            previous_semester2: None,
        },
    ];
    let assessment = assess(&children, &Deadlines::defaults(year()), year(), date(2025, 9, 1));
    let alerts: Vec<String> = assessment.alerts.iter().map(ToString::to_string).collect();
    assert_eq!(
        alerts,
        vec![
            "VN.BT.D03.S002: school-year report missing (due 2025-08-01)",
            "VN.BT.D03.S002: staff commitments filed 2024-10-15, 15 day(s) after 2024-09-30",
            "VN.BT.D03.S003: 2 incident cases in 2024-2025/S1 (two or more in a semester)",
            "VN.BT.D03.S003: 3 incident cases in 2024-2025/S2 (two or more in a semester)",
            "VN.BT.D03.S003: two or more incidents in 2024-2025/S1 and again in 2024-2025/S2",
            "VN.BT.D04: school-year report filed 2025-08-12, 5 day(s) after 2025-08-07",
        ]
    );
    let first = &assessment.children[0];
    assert!(matches!(first.school_year_report, Some(Filing::OnTime { .. })));
    assert!(matches!(first.staff_commitments, Some(Filing::OnTime { .. })));
    assert_eq!(first.semester1_report, None, "no semester deadline unless a policy sets one");
    assert_eq!(assessment.children[3].staff_commitments, None, "districts collect no staff pledges by default");
}

#[test]
fn before_the_deadline_nothing_is_missing_and_a_policy_date_overrides_the_default() {
    let (whole, ..) = periods();
    let children = vec![ChildHistory {
        certified_from: None,
        org: org("VN.BT.D03.S002"),
        level: Level::School,
        revisions: vec![signed(date(2025, 7, 25), aggregate("VN.BT.D03.S002", whole, &[], 0))],
        previous_semester2: None,
    }];
    let mut deadlines = Deadlines::defaults(year());
    let early = assess(&children, &deadlines, year(), date(2025, 7, 31));
    assert!(matches!(early.children[0].school_year_report, Some(Filing::NotYetDue { .. })));
    deadlines.set(DeadlineKind::SchoolYearReport, Level::School, date(2025, 7, 20));
    let tightened = assess(&children, &deadlines, year(), date(2025, 7, 31));
    assert!(tightened.alerts.iter().any(|alert| alert.to_string().contains("missing (due 2025-07-20)")));
}

#[test]
fn two_semesters_in_a_row_span_the_turn_of_the_school_year() {
    let (_, semester1, ..) = periods();
    let previous: Period = "2023-2024/S2".parse().expect("valid");
    let children = vec![ChildHistory {
        certified_from: None,
        org: org("VN.BT.D03.S009"),
        level: Level::School,
        revisions: vec![signed(date(2025, 1, 20), aggregate("VN.BT.D03.S009", semester1, &[], 2))],
        previous_semester2: Some(aggregate("VN.BT.D03.S009", previous, &[], 2)),
    }];
    let assessment = assess(&children, &Deadlines::default(), year(), date(2025, 2, 1));
    assert!(assessment.alerts.iter().any(|alert| matches!(alert,
        Alert::RepeatedTwoSemestersInARow { first, second, .. } if *first == previous && *second == semester1)));
}

#[test]
fn nothing_is_owed_before_a_unit_was_certified() {
    let (whole, ..) = periods();
    let child = |certified_from| ChildHistory {
        certified_from,
        org: org("VN.BT.D03.S002"),
        level: Level::School,
        revisions: vec![signed(date(2025, 3, 1), aggregate("VN.BT.D03.S002", whole, &[], 2))],
        previous_semester2: None,
    };
    let deadlines = Deadlines::defaults(year());
    let late = assess(&[child(Some(date(2025, 10, 1)))], &deadlines, year(), date(2025, 12, 1));
    let row = &late.children[0];
    assert_eq!((row.school_year_report, row.staff_commitments), (None, None), "certified after both deadlines");
    assert!(!late.alerts.iter().any(|alert| alert.code() == "report_missing"), "{:?}", late.alerts);
    let early = assess(&[child(Some(date(2024, 6, 1)))], &deadlines, year(), date(2025, 12, 1));
    assert!(matches!(early.children[0].school_year_report, Some(Filing::Missing { .. })));
}
