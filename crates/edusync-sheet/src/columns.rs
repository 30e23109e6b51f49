//! The columns of each tabular kind: field, headers (English, Vietnamese,
//! Chinese), how a cell is read, and an example value.

use edusync_core::RecordKind;

use edusync_core::Reason;

use crate::Language;

/// How a cell's text becomes a field value.
#[derive(Clone, Copy, Debug)]
pub enum ValueKind {
    /// A whole number, 0 or more.
    Count,
    /// `YYYY-MM-DD`.
    Date,
    /// `2024-2025`.
    SchoolYear,
    /// `2024-2025`, `2024-2025/S1`, `2024-2025/S2`.
    Period,
    /// Yes or no, in any of the languages.
    YesNo,
    /// One of a closed set: (stored value, [English, Vietnamese, Chinese] labels).
    Choice(&'static [(&'static str, [&'static str; 3])]),
}

#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub field: &'static str,
    /// English, Vietnamese, Chinese.
    pub headers: [&'static str; 3],
    pub kind: ValueKind,
    example: &'static str,
}

const COMMITMENT_KINDS: &[(&str, [&str; 3])] = &[
    ("staff_pledge", ["Staff pledge", "Cam kết của cán bộ, giáo viên, nhân viên", "教职工承诺书"]),
    (
        "parent_student_school",
        ["Parent, student and school", "Cam kết giữa cha mẹ, học sinh và nhà trường", "家长、学生与学校承诺书"],
    ),
    ("school_to_authority", ["School to its authority", "Cam kết của nhà trường với cấp trên", "学校向主管部门承诺书"]),
];

const SIGNER_ROLES: &[(&str, [&str; 3])] = &[
    ("staff", ["Staff", "Nhân viên", "职工"]),
    ("teacher", ["Teacher", "Giáo viên", "教师"]),
    ("parent", ["Parent", "Cha mẹ học sinh", "家长"]),
    ("student", ["Student", "Học sinh", "学生"]),
    ("principal", ["Principal", "Hiệu trưởng", "校长"]),
];

/// Other names people write for a value in a list, beyond its labels:
/// the short forms and everyday words of school paperwork.
const SYNONYMS: &[(&str, &[&str])] = &[
    (
        "parent",
        &["Phụ huynh", "Phụ huynh học sinh", "PHHS", "Cha mẹ", "Bố mẹ", "Parents", "Guardian", "父母", "监护人"],
    ),
    ("teacher", &["GV", "Giáo viên chủ nhiệm", "GVCN", "Teachers", "老师", "班主任"]),
    (
        "staff",
        &["Cán bộ", "CBGVNV", "Cán bộ, giáo viên, nhân viên", "Nhân viên nhà trường", "Employee", "员工", "教职工"],
    ),
    ("student", &["HS", "Students", "Pupil", "学生们"]),
    ("principal", &["HT", "Ban giám hiệu", "Head teacher", "Headteacher", "Headmaster", "校领导"]),
];

const COMMITMENT: &[Column] = &[
    Column {
        field: "kind",
        headers: ["Commitment", "Loại cam kết", "承诺类型"],
        kind: ValueKind::Choice(COMMITMENT_KINDS),
        example: "staff_pledge",
    },
    Column {
        field: "signer_role",
        headers: ["Signed by", "Người ký", "签署人"],
        kind: ValueKind::Choice(SIGNER_ROLES),
        example: "teacher",
    },
    Column {
        field: "count", headers: ["Signatures", "Số chữ ký", "签名数"], kind: ValueKind::Count, example: "42"
    },
    Column {
        field: "signed_on",
        headers: ["Signed on", "Ngày ký", "签署日期"],
        kind: ValueKind::Date,
        example: "2025-09-08",
    },
    Column {
        field: "school_year",
        headers: ["School year", "Năm học", "学年"],
        kind: ValueKind::SchoolYear,
        example: "2025-2026",
    },
];

const PERIODIC_REPORT: &[Column] = &[
    Column {
        field: "period",
        headers: ["Period", "Kỳ báo cáo", "报告期"],
        kind: ValueKind::Period,
        example: "2025-2026/S1",
    },
    Column {
        field: "submitted_on",
        headers: ["Submitted on", "Ngày nộp", "提交日期"],
        kind: ValueKind::Date,
        example: "2026-01-20",
    },
    Column {
        field: "awareness_sessions",
        headers: ["Awareness sessions", "Số buổi tuyên truyền", "宣传活动次数"],
        kind: ValueKind::Count,
        example: "3",
    },
    Column {
        field: "staff_total",
        headers: ["Staff", "Tổng số cán bộ, giáo viên, nhân viên", "教职工总数"],
        kind: ValueKind::Count,
        example: "40",
    },
    Column {
        field: "staff_informed",
        headers: ["Staff informed", "Số người được phổ biến", "已知晓人数"],
        kind: ValueKind::Count,
        example: "40",
    },
    Column {
        field: "staff_trained",
        headers: ["Staff trained", "Số người được tập huấn", "已培训人数"],
        kind: ValueKind::Count,
        example: "12",
    },
    Column {
        field: "commitments_signed",
        headers: ["Commitments signed", "Số bản cam kết đã ký", "已签承诺书数"],
        kind: ValueKind::Count,
        example: "40",
    },
    Column {
        field: "counselling_team_in_place",
        headers: ["Counselling team in place", "Có tổ tư vấn", "已设心理辅导小组"],
        kind: ValueKind::YesNo,
        example: "yes",
    },
    Column {
        field: "psychological_screenings",
        headers: ["Psychological screenings", "Số lượt sàng lọc tâm lý", "心理筛查人次"],
        kind: ValueKind::Count,
        example: "120",
    },
    Column {
        field: "home_visits",
        headers: ["Home visits", "Số lần thăm gia đình", "家访次数"],
        kind: ValueKind::Count,
        example: "8",
    },
    Column {
        field: "parent_meetings",
        headers: ["Parent meetings", "Số buổi họp phụ huynh", "家长会次数"],
        kind: ValueKind::Count,
        example: "2",
    },
];

/// The columns of a kind kept in spreadsheets; `None` for the others.
pub fn columns(kind: RecordKind) -> Option<&'static [Column]> {
    match kind {
        RecordKind::Commitment => Some(COMMITMENT),
        RecordKind::PeriodicReport => Some(PERIODIC_REPORT),
        _ => None,
    }
}

fn same(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

impl Column {
    pub(crate) fn matches_header(&self, text: &str) -> bool {
        same(text, self.field) || self.headers.iter().any(|header| same(text, header))
    }

    /// The example value, with labels in `lang`.
    pub(crate) fn example(&self, language: Language) -> String {
        match self.kind {
            ValueKind::Choice(choices) => choices
                .iter()
                .find(|(value, _)| *value == self.example)
                .map_or(self.example, |(_, labels)| language.pick(*labels))
                .to_owned(),
            ValueKind::YesNo => language.pick(["yes", "có", "是"]).to_owned(),
            _ => self.example.to_owned(),
        }
    }

    /// The JSON value of a cell, or why it cannot be one.
    pub(crate) fn value(&self, text: &str) -> Result<serde_json::Value, Reason> {
        if text.is_empty() {
            return Err(Reason::Empty);
        }
        match self.kind {
            ValueKind::Count => {
                // Spreadsheets often store whole numbers as "12.0".
                let whole = text.strip_suffix(".0").unwrap_or(text);
                match whole.parse::<u32>() {
                    Ok(count) => Ok(serde_json::Value::from(count)),
                    Err(_) if whole.strip_prefix('-').is_some_and(|digits| digits.parse::<u32>().is_ok()) => {
                        Err(Reason::NegativeCount { text: text.to_owned() })
                    }
                    Err(_) if whole.bytes().all(|byte| byte.is_ascii_digit()) => {
                        Err(Reason::OutOfRange { value: text.to_owned() })
                    }
                    Err(_) => Err(Reason::NotAWholeNumber { text: text.to_owned() }),
                }
            }
            ValueKind::Date => {
                let date = text.get(..10).unwrap_or(text);
                chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
                    .map(|date| serde_json::Value::from(date.to_string()))
                    .map_err(|_| Reason::NotADate { text: text.to_owned() })
            }
            ValueKind::SchoolYear | ValueKind::Period => Ok(serde_json::Value::from(text)),
            ValueKind::YesNo => match text.to_lowercase().as_str() {
                "yes" | "y" | "true" | "1" | "có" | "co" | "是" | "有" => Ok(serde_json::Value::from(true)),
                "no" | "n" | "false" | "0" | "không" | "khong" | "否" | "无" => Ok(serde_json::Value::from(false)),
                _ => Err(Reason::NotYesOrNo { text: text.to_owned() }),
            },
            ValueKind::Choice(choices) => choices
                .iter()
                .find(|(value, labels)| {
                    same(text, value)
                        || labels.iter().any(|label| same(text, label))
                        || SYNONYMS
                            .iter()
                            .any(|(synonym_of, names)| synonym_of == value && names.iter().any(|name| same(text, name)))
                })
                .map(|(value, _)| serde_json::Value::from(*value))
                .ok_or_else(|| {
                    let expected = choices.iter().map(|(value, _)| (*value).to_owned()).collect();
                    Reason::UnknownValue { value: text.to_owned(), expected }
                }),
        }
    }
}
