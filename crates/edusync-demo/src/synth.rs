//! Synthetic records for one school year, shaped like the seed documents.

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use edusync_core::{
    AtRiskCount, AtRiskGroup, AtRiskStudent, Commitment, CommitmentKind, Incident, IncidentCategory, IncidentStatus,
    IntakeChannel, OrgId, Period, PeriodSpan, PeriodicReport, PersonInvolved, PersonRole, PlaceCategory, Plan,
    PlanActivity, Record, SchoolYear, Severity, Sex, SignerRole,
};

const FAMILY: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương",
    "Lý",
];
const MIDDLE: &[&str] = &["Văn", "Thị", "Minh", "Ngọc", "Đức", "Thanh", "Gia", "Bảo", "Hoài", "Quốc"];
const GIVEN: &[&str] = &[
    "An", "Bình", "Châu", "Dũng", "Hà", "Hải", "Hạnh", "Hùng", "Lan", "Linh", "Mai", "Nam", "Ngân", "Phúc", "Quân",
    "Tâm", "Thảo", "Trang", "Tuấn", "Vy", "Khoa", "Nhung",
];
const NARRATIVES: &[&str] = &[
    "Học sinh bị nhóm bạn cùng lớp trêu chọc, đặt biệt danh xúc phạm trong giờ ra chơi.",
    "Hai học sinh xô xát tại sân trường, một em bị trầy xước nhẹ ở tay.",
    "Học sinh bị lập nhóm chat để chế giễu và phát tán hình ảnh cá nhân.",
    "Học sinh bị bạn lấy đồ dùng học tập và đe dọa không được báo giáo viên.",
    "Một nhóm học sinh cô lập bạn, không cho tham gia hoạt động tập thể.",
];
const MEASURES: &[&str] = &[
    "Giáo viên chủ nhiệm can thiệp, tách các em, báo phụ huynh hai bên.",
    "Tổ tư vấn tâm lý gặp riêng học sinh; nhà trường mời phụ huynh làm việc.",
    "Báo cáo Ban giám hiệu, lập biên bản, theo dõi trong 2 tuần.",
];

/// The facts about a school that shape its synthetic year.
#[derive(Clone, Debug)]
pub struct SchoolProfile {
    pub org: OrgId,
    pub display_name: String,
    pub staff: u32,
    pub students: u32,
    /// Number of the district plan the school's plan implements.
    pub district_plan: String,
}

fn date(rng: &mut StdRng, from: NaiveDate, days: i64) -> NaiveDate {
    from + Duration::days(rng.gen_range(0..days.max(1)))
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MIN)
}

fn name(rng: &mut StdRng) -> String {
    let pick = |rng: &mut StdRng, list: &[&str]| list.choose(rng).copied().unwrap_or("An").to_owned();
    format!("{} {} {}", pick(rng, FAMILY), pick(rng, MIDDLE), pick(rng, GIVEN))
}

fn pick<T: Copy>(rng: &mut StdRng, values: &[T]) -> T {
    values[rng.gen_range(0..values.len())]
}

/// A plan for any level, as the seed plans read.
pub(crate) fn plan(
    number: String,
    issuer: &OrgId,
    issuer_name: &str,
    year: SchoolYear,
    implements: Option<String>,
    issued_on: NaiveDate,
) -> Record {
    Record::Plan(Plan {
        number,
        issued_on,
        issuing_org: issuer.clone(),
        title: format!("Kế hoạch phòng, chống bạo lực học đường năm học {year}"),
        school_year: year,
        implements_plan: implements,
        goals: vec![
            "Xây dựng môi trường giáo dục an toàn, lành mạnh, thân thiện, phòng, chống bạo lực học đường.".into(),
            "100% cán bộ, giáo viên, nhân viên được phổ biến, quán triệt các quy định về phòng, chống bạo lực học đường.".into(),
            "Kịp thời phát hiện, ngăn chặn, xử lý các vụ việc bạo lực học đường.".into(),
        ],
        activities: vec![
            PlanActivity {
                item: 1,
                content: "Tuyên truyền, phổ biến văn bản về phòng, chống bạo lực học đường".into(),
                lead_unit: issuer_name.to_owned(),
                coordinating_units: vec!["Công đoàn".into(), "Đoàn Thanh niên".into()],
                time_frame: "Tháng 9-10".into(),
            },
            PlanActivity {
                item: 2,
                content: "Ký cam kết không vi phạm bạo lực học đường".into(),
                lead_unit: issuer_name.to_owned(),
                coordinating_units: vec!["Ban đại diện cha mẹ học sinh".into()],
                time_frame: "Tháng 9".into(),
            },
            PlanActivity {
                item: 3,
                content: "Duy trì hòm thư góp ý, đường dây nóng, tổ tư vấn tâm lý".into(),
                lead_unit: "Tổ tư vấn".into(),
                coordinating_units: vec![],
                time_frame: "Cả năm học".into(),
            },
            PlanActivity {
                item: 4,
                content: "Sơ kết học kỳ I, tổng kết năm học, báo cáo cấp trên".into(),
                lead_unit: issuer_name.to_owned(),
                coordinating_units: vec![],
                time_frame: "Tháng 1 và tháng 7".into(),
            },
        ],
        recipients: vec!["Cấp trên trực tiếp (để báo cáo)".into(), "Lưu: VT".into()],
    })
}

/// Every record a school writes in one school year, in the order it writes them.
pub fn school_year_records(
    rng: &mut StdRng,
    school: &SchoolProfile,
    year: SchoolYear,
    plan_number: u32,
) -> Vec<Record> {
    let start = i32::from(year.start_year());
    let mut records = Vec::new();
    records.push(plan(
        format!("{plan_number}/KH-{}", school.org.as_str().rsplit('.').next().unwrap_or("TH")),
        &school.org,
        &school.display_name,
        year,
        Some(school.district_plan.clone()),
        date(rng, ymd(start, 9, 8), 20),
    ));
    let commitment = |kind, signer_role, count, signed_on| {
        Record::Commitment(Commitment { kind, signer_role, count, signed_on, school_year: year })
    };
    records.push(commitment(
        CommitmentKind::StaffPledge,
        SignerRole::Staff,
        school.staff,
        date(rng, ymd(start, 9, 5), 20),
    ));
    records.push(commitment(
        CommitmentKind::ParentStudentSchool,
        SignerRole::Parent,
        school.students - rng.gen_range(0..school.students / 20 + 1),
        date(rng, ymd(start, 9, 10), 30),
    ));
    records.push(commitment(
        CommitmentKind::SchoolToAuthority,
        SignerRole::Principal,
        1,
        date(rng, ymd(start, 9, 15), 15),
    ));

    let incidents = rng.gen_range(0..=6);
    let mut first_reports = Vec::new();
    for _ in 0..incidents {
        let incident = incident(rng, year);
        first_reports.push(incident.clone());
        records.push(Record::Incident(incident));
    }

    for (span, submitted) in [
        (PeriodSpan::Semester1, ymd(start + 1, 1, 20)),
        (PeriodSpan::Semester2, ymd(start + 1, 7, 20)),
        (PeriodSpan::SchoolYear, ymd(start + 1, 7, 28)),
    ] {
        let trained = rng.gen_range(school.staff / 2..=school.staff);
        records.push(Record::PeriodicReport(PeriodicReport {
            period: Period { school_year: year, span },
            submitted_on: submitted - Duration::days(rng.gen_range(0..5)),
            awareness_sessions: rng.gen_range(1..6),
            staff_total: school.staff,
            staff_informed: school.staff,
            staff_trained: trained,
            commitments_signed: school.staff,
            channels_set_up: vec![IntakeChannel::SuggestionBox, IntakeChannel::Hotline, IntakeChannel::Teacher],
            counselling_team_in_place: true,
            psychological_screenings: u32::from(span != PeriodSpan::Semester2),
            home_visits: rng.gen_range(0..20),
            parent_meetings: rng.gen_range(1..4),
            remarks: "Nhà trường thực hiện đầy đủ các nội dung theo kế hoạch.".into(),
        }));
        if span != PeriodSpan::SchoolYear {
            records.push(Record::RiskRegister(risk_register(rng, Period { school_year: year, span })));
        }
    }
    records
}

fn incident(rng: &mut StdRng, year: SchoolYear) -> Incident {
    let start = i32::from(year.start_year());
    let day = date(rng, ymd(start, 9, 10), 260);
    // Hours 0 to 8 UTC are the school day in Vietnam (UTC+7).
    let time = day.and_hms_opt(rng.gen_range(0..9), rng.gen_range(0..60), 0).unwrap_or_default();
    let occurred = Utc.from_utc_datetime(&time);
    let detected = occurred + Duration::minutes(rng.gen_range(0..180));
    let to_school = detected + Duration::minutes(rng.gen_range(5..120));
    let upward = to_school + Duration::minutes(rng.gen_range(30..(60 * 20)));
    let severity = pick(rng, &[Severity::Minor, Severity::Minor, Severity::Minor, Severity::Serious, Severity::Severe]);
    let people_count = rng.gen_range(1..=3);
    let people = (0..people_count)
        .map(|index| {
            let grade = rng.gen_range(6..=9u8);
            let birth_year = start - i32::from(grade) - 5;
            PersonInvolved {
                role: if index == 0 { PersonRole::Victim } else { PersonRole::Perpetrator },
                name: name(rng),
                student_number: Some(format!("HS-{:05}", rng.gen_range(1..99_999))),
                sex: pick(rng, &[Sex::Female, Sex::Male]),
                birth_date: Some(date(rng, ymd(birth_year, 1, 1), 360)),
                grade,
                at_risk_groups: if rng.gen_bool(0.3) { vec![pick(rng, AtRiskGroup::ALL)] } else { vec![] },
            }
        })
        .collect();
    Incident {
        occurred_at: occurred,
        detected_at: detected,
        reported_to_school_at: to_school,
        reported_upward_at: (severity != Severity::Minor || rng.gen_bool(0.5)).then_some(upward),
        place: pick(rng, PlaceCategory::ALL),
        category: pick(rng, IncidentCategory::ALL),
        severity,
        repeat: rng.gen_bool(0.15),
        intake_channel: pick(rng, IntakeChannel::ALL),
        people,
        narrative: NARRATIVES.choose(rng).copied().unwrap_or("").to_owned(),
        measures_taken: MEASURES.choose(rng).copied().unwrap_or("").to_owned(),
        status: pick(
            rng,
            &[
                IncidentStatus::Concluded,
                IncidentStatus::Concluded,
                IncidentStatus::Investigating,
                IncidentStatus::ReferredToPolice,
            ],
        ),
        follow_up_of: None,
    }
}

fn risk_register(rng: &mut StdRng, period: Period) -> edusync_core::RiskRegister {
    let mut counts = Vec::new();
    let mut students = Vec::new();
    for group in AtRiskGroup::ALL {
        let count = rng.gen_range(0..6);
        if count == 0 {
            continue;
        }
        for _ in 0..rng.gen_range(0..=count.min(2)) {
            students.push(AtRiskStudent {
                name: name(rng),
                student_number: Some(format!("HS-{:05}", rng.gen_range(1..99_999))),
                group: *group,
                grade: rng.gen_range(6..=9),
            });
        }
        counts.push(AtRiskCount { group: *group, count });
    }
    edusync_core::RiskRegister {
        period,
        screened_on: period.first_day() + Duration::days(rng.gen_range(20..60)),
        counts,
        students,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn every_synthetic_record_passes_validation() {
        let mut rng = StdRng::seed_from_u64(7);
        let year: SchoolYear = "2024-2025".parse().expect("valid");
        let now = Utc.with_ymd_and_hms(2025, 9, 1, 0, 0, 0).single().expect("valid");
        for index in 0..50 {
            let school = SchoolProfile {
                org: OrgId::parse("org", &format!("VN.BT.D01.S{index:03}")).expect("valid"),
                display_name: "Trường THCS Phú Hưng".into(),
                staff: 40,
                students: 600,
                district_plan: "12/KH-PGDĐT".into(),
            };
            for record in school_year_records(&mut rng, &school, year, 100) {
                let kind = record.kind();
                record
                    .check(&edusync_core::ValidationContext::at(now))
                    .unwrap_or_else(|error| panic!("{kind}: {error}"));
            }
        }
    }
}
