//! Every `Reason` in Vietnamese and Chinese; English is its `Display`.
//! Field paths (`people[0].name`) stay as written: they name keys of the
//! JSON the user wrote and columns are named by the spreadsheet's own header.

use edusync_core::{Reason, ValidationError};

use crate::{value_name, Language};

/// `field: reason`, in `language`.
pub fn validation_error(error: &ValidationError, language: Language) -> String {
    format!("{}: {}", error.field, reason(&error.reason, language))
}

/// Stored codes (`staff_pledge`) as the forms and templates name them.
fn names(codes: &[String], language: Language) -> Vec<String> {
    codes.iter().map(|code| value_name(code, language)).collect()
}

/// The choices of a refused value: each by its name with the code beside it
/// (`kế hoạch (plan)`), since a command line takes the code and a template
/// either; `;` between them, as names may hold commas.
fn choices(codes: &[String], language: Language) -> String {
    codes
        .iter()
        .map(|code| match value_name(code, language) {
            name if name == *code => name,
            name => format!("{name} ({code})"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a value was refused, in `language`.
pub fn reason(reason: &Reason, language: Language) -> String {
    match language {
        Language::English => reason.to_string(),
        Language::Vietnamese => vietnamese(reason),
        Language::Chinese => chinese(reason),
    }
}

fn vietnamese(reason: &Reason) -> String {
    use Reason::*;
    match reason {
        Empty => "không được để trống".into(),
        TooShort { min } => format!("cần ít nhất {min} ký tự"),
        TooLong { length, max } => format!("dài {length} ký tự; tối đa là {max}"),
        ControlCharacter { code_point } => format!("chứa ký tự điều khiển U+{code_point:04X}"),
        Required => "là bắt buộc".into(),
        TooManyEntries { count, max } => format!("có {count} mục; tối đa là {max}"),
        OverLimit { value, max } => format!("{value} vượt quá giới hạn {max}"),
        NotBetween { value, min, max } => format!("{value} không nằm trong khoảng {min} đến {max}"),
        AtLeastAtMost { value, least_field, least, max } => {
            format!("{value} phải ít nhất bằng {least_field} ({least}) và nhiều nhất là {max}")
        }
        OutOfRange { value } => format!("{value} nằm ngoài phạm vi cho phép"),
        ListedTwice { value } => format!("`{value}` được liệt kê hai lần"),
        UnknownValue { value, expected } => {
            format!(
                "giá trị `{value}` không hợp lệ; cần một trong các giá trị: {}",
                choices(expected, Language::Vietnamese)
            )
        }
        NotAWholeNumber { text } => format!("`{text}` không phải là số nguyên"),
        NegativeCount { text } => format!("`{text}` là số âm; số lượng phải từ 0 trở lên"),
        TemplateExample => "đây là dòng ví dụ của mẫu: hãy thay bằng các dòng của đơn vị, hoặc xóa nó".to_owned(),
        NotYesOrNo { text } => format!("`{text}` không phải là có hoặc không (có/không, yes/no, 是/否)"),
        NotADate { text } => format!("`{text}` không phải là ngày hợp lệ, ví dụ 2025-09-08"),
        InTheFuture { value } => format!("{value} là thời điểm trong tương lai"),
        Before { later, earlier_field, earlier } => format!("{later} sớm hơn {earlier_field} ({earlier})"),
        OutsideSchoolYear { date, school_year } => format!("{date} nằm ngoài năm học {school_year}"),
        IssuedOutsideSchoolYear { date, school_year, kind, earliest, latest } => format!(
            "{date} nằm ngoài năm học {school_year} ({} chỉ được ban hành từ {earliest} đến {latest})",
            kind_vi(kind)
        ),
        DueOutsideSchoolYear { date, school_year } => {
            format!("{date} không thuộc năm học {school_year} (hoặc kỳ nghỉ hè sau đó)")
        }
        SubmittedBeforePeriod { date, period, begins } => {
            format!("{date} sớm hơn ngày bắt đầu của kỳ {period} ({begins})")
        }
        SubmittedLongAfterPeriod { date, period } => format!("{date} muộn hơn sáu tháng sau khi kỳ {period} kết thúc"),
        NotOneSemester { period } => format!("sổ theo dõi nguy cơ chỉ dành cho một học kỳ, không phải {period}"),
        OutsideSemester { date, period } => format!("{date} nằm ngoài học kỳ {period}"),
        NotASchoolYear { text } => format!("`{text}` không phải là năm học, ví dụ 2024-2025"),
        SchoolYearOutOfRange { first, last, got } => {
            format!("năm học phải bắt đầu trong khoảng {first} đến {last}, nhận được {got}")
        }
        SecondYearMustFollow { text } => format!("`{text}`: năm thứ hai phải liền sau năm thứ nhất (2024-2025)"),
        NotAMonth { text } => format!("`{text}`: tháng được viết từ M01 đến M12"),
        NotAPeriod { text } => {
            format!(
                "`{text}` không phải là kỳ báo cáo; hãy viết 2024-2025, 2024-2025/S1, 2024-2025/S2 hoặc 2024-2025/M10"
            )
        }
        OrganisationRequired => "cần có mã đơn vị, ví dụ VN.BT.D03.S017".into(),
        TooManySegments { max, got } => format!("mã đơn vị có tối đa {max} phần, nhận được {got}"),
        BadSegment { text, max } => format!("`{text}` có một phần trống hoặc quá dài (mỗi phần từ 1 đến {max} ký tự)"),
        BadCharacters { text } => {
            format!("`{text}` chỉ được chứa chữ cái ASCII, chữ số, '-', '_' và dấu '.' giữa các phần")
        }
        UnknownLevel { text } => format!("cấp `{text}` không hợp lệ; cần ministry, province, district hoặc school"),
        StudentNumberFormat => "mã học sinh gồm tối đa 32 chữ cái, chữ số, '-', '/', '.' hoặc '_'".into(),
        GradeOutOfRange { value, max } => format!("lớp {value} nằm ngoài khoảng 0 (mầm non) đến {max}"),
        BirthNotBeforeIncident { birth, occurred } => format!("{birth} không trước ngày xảy ra vụ việc ({occurred})"),
        OlderThanThirty { birth } => format!("với ngày sinh {birth}, người này đã trên 30 tuổi khi xảy ra vụ việc"),
        NamedMoreThanCounted { named, group, counted } => {
            format!("có {named} học sinh được ghi tên trong nhóm {group} nhưng số lượng của nhóm là {counted}")
        }
        ItemNumberTwice { item } => format!("số thứ tự {item} được dùng hai lần"),
        DeadlineSetTwice { report, level } => format!("hạn {report} của cấp {level} được đặt hai lần"),
        MoreThanStaffTotal { value, staff_total } => {
            format!("{value} lớn hơn tổng số cán bộ, giáo viên, nhân viên (staff_total = {staff_total})")
        }
        CommitmentCountsNone => "bản cam kết phải có ít nhất một chữ ký".into(),
        WrongSigner { kind, allowed, got } => {
            let name = |code: &str| value_name(code, Language::Vietnamese);
            format!(
                "{} do {} ký, không phải {}",
                name(kind),
                names(allowed, Language::Vietnamese).join(" hoặc "),
                name(got)
            )
        }
        AllZeroId => "mã toàn số 0 không chỉ bản ghi nào".into(),
        RecordIdLength { got } => format!("mã bản ghi dài 32 byte, nhận được {got}"),
        RecordIdHex => "mã bản ghi gồm 64 chữ số thập lục phân".into(),
        DerivedKind { kind } => {
            format!("bản ghi {kind} do nút tự tổng hợp từ các bản ghi của mình; không thể thêm bằng tay")
        }
        IssuedInOwnName { kind, own, got } => {
            format!("nút này ban hành {} với danh nghĩa của chính mình, {own}, không phải {got}", kind_vi(kind))
        }
        NoSuchRecord { id } => format!("không có bản ghi {id} được lưu ở đây"),
        NotAnIncidentOfThisSchool { id } => format!("{id} không phải là vụ việc do trường này báo cáo"),
        Malformed { detail } => format!("dữ liệu không đúng định dạng: {detail}"),
    }
}

fn chinese(reason: &Reason) -> String {
    use Reason::*;
    match reason {
        Empty => "不能为空".into(),
        TooShort { min } => format!("至少需要 {min} 个字符"),
        TooLong { length, max } => format!("长度为 {length} 个字符，上限为 {max}"),
        ControlCharacter { code_point } => format!("包含控制字符 U+{code_point:04X}"),
        Required => "为必填项".into(),
        TooManyEntries { count, max } => format!("有 {count} 项，上限为 {max}"),
        OverLimit { value, max } => format!("{value} 超过上限 {max}"),
        NotBetween { value, min, max } => format!("{value} 不在 {min} 到 {max} 之间"),
        AtLeastAtMost { value, least_field, least, max } => {
            format!("{value} 必须不小于 {least_field}（{least}）且不大于 {max}")
        }
        OutOfRange { value } => format!("{value} 超出允许范围"),
        ListedTwice { value } => format!("“{value}”重复列出"),
        UnknownValue { value, expected } => {
            format!("未知的值“{value}”；应为以下之一：{}", choices(expected, Language::Chinese))
        }
        NotAWholeNumber { text } => format!("“{text}”不是整数"),
        NegativeCount { text } => format!("“{text}”是负数；数量须为 0 或以上"),
        TemplateExample => "这是模板自带的示例行：请换成本单位的数据行，或删除它".to_owned(),
        NotYesOrNo { text } => format!("“{text}”既不是“是”也不是“否”（是/否、có/không、yes/no）"),
        NotADate { text } => format!("“{text}”不是有效日期，例如 2025-09-08"),
        InTheFuture { value } => format!("{value} 是将来的时间"),
        Before { later, earlier_field, earlier } => format!("{later} 早于 {earlier_field}（{earlier}）"),
        OutsideSchoolYear { date, school_year } => format!("{date} 不在 {school_year} 学年内"),
        IssuedOutsideSchoolYear { date, school_year, kind, earliest, latest } => {
            format!("{date} 不在 {school_year} 学年内（{}只能在 {earliest} 至 {latest} 之间发布）", kind_zh(kind))
        }
        DueOutsideSchoolYear { date, school_year } => format!("{date} 不在 {school_year} 学年（或其后的暑假）内"),
        SubmittedBeforePeriod { date, period, begins } => format!("{date} 早于报告期 {period} 的开始日期（{begins}）"),
        SubmittedLongAfterPeriod { date, period } => format!("{date} 晚于报告期 {period} 结束后六个月"),
        NotOneSemester { period } => format!("风险登记只覆盖一个学期，而不是 {period}"),
        OutsideSemester { date, period } => format!("{date} 不在学期 {period} 内"),
        NotASchoolYear { text } => format!("“{text}”不是学年，例如 2024-2025"),
        SchoolYearOutOfRange { first, last, got } => {
            format!("学年的起始年份必须在 {first} 到 {last} 之间，实际为 {got}")
        }
        SecondYearMustFollow { text } => format!("“{text}”：第二个年份必须紧接第一个年份（2024-2025）"),
        NotAMonth { text } => format!("“{text}”：月份写作 M01 到 M12"),
        NotAPeriod { text } => {
            format!("“{text}”不是报告期；请写 2024-2025、2024-2025/S1、2024-2025/S2 或 2024-2025/M10")
        }
        OrganisationRequired => "必须填写单位代码，例如 VN.BT.D03.S017".into(),
        TooManySegments { max, got } => format!("单位代码最多 {max} 段，实际为 {got} 段"),
        BadSegment { text, max } => format!("“{text}”有空段或过长的段（每段 1 到 {max} 个字符）"),
        BadCharacters { text } => format!("“{text}”只能包含 ASCII 字母、数字、'-'、'_'，段与段之间用 '.' 分隔"),
        UnknownLevel { text } => format!("未知的级别“{text}”；应为 ministry、province、district 或 school"),
        StudentNumberFormat => "学号最多 32 个字符，只能是字母、数字、'-'、'/'、'.' 或 '_'".into(),
        GradeOutOfRange { value, max } => format!("年级 {value} 不在 0（学前）到 {max} 之间"),
        BirthNotBeforeIncident { birth, occurred } => format!("{birth} 不早于事件发生日期（{occurred}）"),
        OlderThanThirty { birth } => format!("按出生日期 {birth}，此人在事件发生时已超过 30 岁"),
        NamedMoreThanCounted { named, group, counted } => {
            format!("{group} 组列出了 {named} 名学生，但该组的人数为 {counted}")
        }
        ItemNumberTwice { item } => format!("序号 {item} 被使用了两次"),
        DeadlineSetTwice { report, level } => format!("{level} 级的 {report} 期限被设置了两次"),
        MoreThanStaffTotal { value, staff_total } => format!("{value} 大于教职工总数（staff_total = {staff_total}）"),
        CommitmentCountsNone => "承诺书记录至少要有一个签名".into(),
        WrongSigner { kind, allowed, got } => {
            let name = |code: &str| value_name(code, Language::Chinese);
            format!("{} 应由 {} 签署，而不是 {}", name(kind), names(allowed, Language::Chinese).join(" 或 "), name(got))
        }
        AllZeroId => "全零的标识不指向任何记录".into(),
        RecordIdLength { got } => format!("记录标识为 32 字节，实际为 {got} 字节"),
        RecordIdHex => "记录标识是 64 位十六进制数字".into(),
        DerivedKind { kind } => format!("{kind} 记录由节点根据自身记录汇总生成，不能手动添加"),
        IssuedInOwnName { kind, own, got } => {
            format!("本节点以自己的名义（{own}）发布{}，而不是 {got}", kind_zh(kind))
        }
        NoSuchRecord { id } => format!("此处没有存储记录 {id}"),
        NotAnIncidentOfThisSchool { id } => format!("{id} 不是本校报告的事件"),
        Malformed { detail } => format!("数据格式不正确：{detail}"),
    }
}

fn kind_vi(kind: &str) -> &str {
    match kind {
        "plan" => "kế hoạch",
        "policy" => "quy định",
        other => other,
    }
}

fn kind_zh(kind: &str) -> &str {
    match kind {
        "plan" => "计划",
        "policy" => "规定",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_too_long_name_reads_correctly_in_each_language() {
        let error = ValidationError::new("people[0].name", Reason::TooLong { length: 250, max: 200 });
        assert_eq!(
            validation_error(&error, Language::English),
            "people[0].name: is 250 characters long; the limit is 200"
        );
        assert_eq!(validation_error(&error, Language::Vietnamese), "people[0].name: dài 250 ký tự; tối đa là 200");
        assert_eq!(validation_error(&error, Language::Chinese), "people[0].name: 长度为 250 个字符，上限为 200");
    }

    #[test]
    fn a_date_outside_the_school_year_reads_correctly_in_each_language() {
        let error = ValidationError::new(
            "signed_on",
            Reason::OutsideSchoolYear { date: "2026-09-01".into(), school_year: "2024-2025".into() },
        );
        assert_eq!(
            validation_error(&error, Language::English),
            "signed_on: 2026-09-01 is outside school year 2024-2025"
        );
        assert_eq!(validation_error(&error, Language::Vietnamese), "signed_on: 2026-09-01 nằm ngoài năm học 2024-2025");
        assert_eq!(validation_error(&error, Language::Chinese), "signed_on: 2026-09-01 不在 2024-2025 学年内");
    }

    /// A reason left in English in another language would mean the
    /// translation was forgotten; every parameter must also survive.
    #[test]
    fn every_reason_has_its_own_sentence_in_each_language_with_every_value_in_it() {
        for sample in samples() {
            let english = reason(&sample, Language::English);
            for language in [Language::Vietnamese, Language::Chinese] {
                let translated = reason(&sample, language);
                if !matches!(sample, Reason::Malformed { .. }) {
                    assert_ne!(translated, english, "{sample:?} is not translated to {language}");
                }
                for value in values_of(&sample) {
                    // A stored code may be said by its name in that language.
                    let said = translated.contains(&value) || translated.contains(&value_name(&value, language));
                    assert!(said, "{language} lost `{value}` of {sample:?}: {translated}");
                }
            }
        }
    }

    fn values_of(reason: &Reason) -> Vec<String> {
        let debug = format!("{reason:?}");
        let mut values = Vec::new();
        for piece in debug.split(['{', '}', ',', '[', ']']) {
            let Some((_, value)) = piece.split_once(": ") else { continue };
            let value = value.trim().trim_matches('"').to_owned();
            if !value.is_empty() && value != "plan" && value != "policy" {
                values.push(value);
            }
        }
        values
    }

    fn samples() -> Vec<Reason> {
        use Reason::*;
        let text = || "X-17".to_owned();
        vec![
            Empty,
            TooShort { min: 3 },
            TooLong { length: 250, max: 200 },
            ControlCharacter { code_point: 7 },
            Required,
            TooManyEntries { count: 201, max: 200 },
            OverLimit { value: 1_000_001, max: 1_000_000 },
            NotBetween { value: 99, min: 1, max: 72 },
            AtLeastAtMost { value: 2, least_field: "phone_within_hours".into(), least: 3, max: 168 },
            OutOfRange { value: "70000".into() },
            ListedTwice { value: "hotline".into() },
            UnknownValue { value: text(), expected: vec!["staff".into(), "teacher".into()] },
            NotAWholeNumber { text: text() },
            NegativeCount { text: "-3".into() },
            TemplateExample,
            NotYesOrNo { text: text() },
            NotADate { text: text() },
            InTheFuture { value: "2031-01-01".into() },
            Before { later: "2025-01-01".into(), earlier_field: "occurred_at".into(), earlier: "2025-02-01".into() },
            OutsideSchoolYear { date: "2026-09-01".into(), school_year: "2024-2025".into() },
            IssuedOutsideSchoolYear {
                date: "2020-01-01".into(),
                school_year: "2024-2025".into(),
                kind: "plan".into(),
                earliest: "2024-03-01".into(),
                latest: "2025-08-31".into(),
            },
            DueOutsideSchoolYear { date: "2027-01-01".into(), school_year: "2024-2025".into() },
            SubmittedBeforePeriod {
                date: "2024-08-01".into(),
                period: "2024-2025/S1".into(),
                begins: "2024-09-01".into(),
            },
            SubmittedLongAfterPeriod { date: "2026-09-01".into(), period: "2024-2025/S1".into() },
            NotOneSemester { period: "2024-2025".into() },
            OutsideSemester { date: "2025-03-01".into(), period: "2024-2025/S1".into() },
            NotASchoolYear { text: text() },
            SchoolYearOutOfRange { first: 2000, last: 2100, got: 1999 },
            SecondYearMustFollow { text: text() },
            NotAMonth { text: text() },
            NotAPeriod { text: text() },
            OrganisationRequired,
            TooManySegments { max: 8, got: 9 },
            BadSegment { text: text(), max: 32 },
            BadCharacters { text: text() },
            UnknownLevel { text: text() },
            StudentNumberFormat,
            GradeOutOfRange { value: 13, max: 12 },
            BirthNotBeforeIncident { birth: "2025-01-02".into(), occurred: "2025-01-01".into() },
            OlderThanThirty { birth: "1980-01-01".into() },
            NamedMoreThanCounted { named: 4, group: "orphaned".into(), counted: 2 },
            ItemNumberTwice { item: 5 },
            DeadlineSetTwice { report: "school_year_report".into(), level: "district".into() },
            MoreThanStaffTotal { value: 41, staff_total: 40 },
            CommitmentCountsNone,
            WrongSigner {
                kind: "staff_pledge".into(),
                allowed: vec!["staff".into(), "teacher".into()],
                got: "parent".into(),
            },
            AllZeroId,
            RecordIdLength { got: 31 },
            RecordIdHex,
            DerivedKind { kind: "aggregate".into() },
            IssuedInOwnName { kind: "plan".into(), own: "VN.BT".into(), got: "VN.HN".into() },
            NoSuchRecord { id: "ab12".into() },
            NotAnIncidentOfThisSchool { id: "ab12".into() },
            Malformed { detail: "malformed Incident: buffer underflow".into() },
        ]
    }
}
