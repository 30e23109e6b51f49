//! The words for the values of the record forms' lists (places, categories,
//! severities, channels, statuses, roles, sexes), as the domain's documents
//! name them, for pages and forms. The stored value stays the English code.

use crate::Language;

/// The value's name in `language`, or the code itself for one this table
/// does not know.
pub fn value_name(code: &str, language: Language) -> String {
    let [en, vi, zh] = match code {
        "classroom" => ["classroom", "lớp học", "教室"],
        "schoolyard" => ["schoolyard", "sân trường", "校园操场"],
        "corridor_or_stairs" => ["corridor or stairs", "hành lang, cầu thang", "走廊或楼梯"],
        "toilet" => ["toilet", "nhà vệ sinh", "厕所"],
        "canteen" => ["canteen", "căng tin", "食堂"],
        "dormitory" => ["dormitory", "ký túc xá", "宿舍"],
        "sports_ground" => ["sports ground", "sân thể thao", "运动场"],
        "school_gate" => ["school gate", "cổng trường", "校门"],
        "way_to_school" => ["on the way to school", "trên đường đến trường", "上学路上"],
        "online" => ["online", "trên mạng", "网上"],
        "outside_school" => ["outside school", "ngoài nhà trường", "校外"],
        "other" => ["other", "khác", "其他"],
        "physical" => ["physical", "bạo lực thân thể", "身体暴力"],
        "verbal" => ["verbal", "bạo lực lời nói", "言语暴力"],
        "psychological" => ["psychological", "bạo lực tinh thần", "心理暴力"],
        "cyber" => ["online (cyberbullying)", "bắt nạt trên mạng", "网络欺凌"],
        "sexual" => ["sexual", "xâm hại tình dục", "性侵害"],
        "property" => ["property", "xâm phạm tài sản", "财物侵害"],
        "exclusion" => ["exclusion", "cô lập, tẩy chay", "孤立排斥"],
        "minor" => ["minor", "nhẹ", "轻微"],
        "serious" => ["serious", "nghiêm trọng", "严重"],
        "severe" => ["severe", "đặc biệt nghiêm trọng", "特别严重"],
        "suggestion_box" => ["suggestion box", "hòm thư góp ý", "意见箱"],
        "hotline" => ["school hotline", "đường dây nóng của trường", "学校热线"],
        "camera" => ["camera", "camera", "摄像头"],
        "teacher" => ["teacher", "giáo viên", "教师"],
        "parent" => ["parent", "cha mẹ học sinh", "家长"],
        "student_informant" => ["a student", "học sinh báo tin", "学生举报"],
        "national_hotline_111" => ["national hotline 111", "tổng đài quốc gia 111", "全国热线 111"],
        "open" => ["open", "mới tiếp nhận", "已受理"],
        "investigating" => ["investigating", "đang xác minh", "调查中"],
        "concluded" => ["concluded", "đã kết luận", "已结案"],
        "referred_to_police" => ["referred to the police", "chuyển công an", "移交公安"],
        "referred_to_court" => ["referred to the court", "chuyển tòa án", "移交法院"],
        "victim" => ["victim", "người bị hại", "受害者"],
        "perpetrator" => ["perpetrator", "người gây ra", "实施者"],
        "witness" => ["witness", "người chứng kiến", "目击者"],
        "female" => ["female", "nữ", "女"],
        "male" => ["male", "nam", "男"],
        "not_recorded" => ["not recorded", "không ghi", "未记录"],
        "within_3h" => ["reported within 3 h", "báo cáo trong 3 giờ", "3 小时内报告"],
        "within_12h" => ["reported within 12 h", "báo cáo trong 12 giờ", "12 小时内报告"],
        "later" => ["reported later", "báo cáo muộn", "逾时报告"],
        "not_yet" => ["not yet reported", "chưa báo cáo", "尚未报告"],
        "concluded_within_15_days" => ["concluded in time", "kết luận đúng hạn", "按时结案"],
        "concluded_late" => ["concluded late", "kết luận quá hạn", "逾期结案"],
        "open_within_15_days" => ["open, in time", "đang xác minh, còn hạn", "调查中（未逾期）"],
        "open_overdue" => ["open, overdue", "đang xác minh, quá hạn", "调查中（已逾期）"],
        "learning_difficulties" => ["learning difficulties", "học lực yếu", "学习困难"],
        "very_poor" => ["very poor family", "hoàn cảnh đặc biệt khó khăn", "家庭特别困难"],
        "left_behind" => ["left behind by migrant parents", "cha mẹ đi làm ăn xa", "留守儿童"],
        "divorced_parents" => ["parents divorced", "cha mẹ ly hôn", "父母离异"],
        "emotional_problems" => ["emotional problems", "có vấn đề về tâm lý", "情绪问题"],
        "violent_tendencies" => ["violent tendencies", "có biểu hiện bạo lực", "暴力倾向"],
        "gang_signs" => ["signs of gang ties", "có dấu hiệu tham gia băng nhóm", "涉帮派迹象"],
        "staff_pledge" => ["staff pledge", "cam kết của cán bộ, giáo viên, nhân viên", "教职工承诺书"],
        "parent_student_school" => {
            ["parent, student and school", "cam kết giữa cha mẹ, học sinh và nhà trường", "家长、学生与学校承诺书"]
        }
        "school_to_authority" => {
            ["school to its authority", "cam kết của nhà trường với cấp trên", "学校向主管部门承诺书"]
        }
        "staff" => ["staff", "nhân viên", "职工"],
        "student" => ["student", "học sinh", "学生"],
        "principal" => ["principal", "hiệu trưởng", "校长"],
        "semester_1_report" => ["semester 1 report", "báo cáo học kỳ I", "第一学期报告"],
        "school_year_report" => ["school-year report", "báo cáo năm học", "学年报告"],
        "staff_commitments" => ["staff commitments", "cam kết của cán bộ, giáo viên", "教职工承诺"],
        "ministry" => ["ministry", "Bộ", "部"],
        "province" => ["province", "Sở", "省厅"],
        "plan" => ["plan", "kế hoạch", "计划"],
        "incident" => ["incident", "vụ việc", "事件"],
        "periodic_report" => ["periodic report", "báo cáo định kỳ", "定期报告"],
        "commitment" => ["commitment", "cam kết", "承诺"],
        "risk_register" => ["risk register", "sổ theo dõi học sinh có nguy cơ", "风险登记"],
        "aggregate" => ["aggregate", "tổng hợp", "汇总"],
        "severe_notice" => ["severe-incident notice", "thông báo vụ việc nghiêm trọng", "严重事件通知"],
        "policy" => ["policy", "văn bản chỉ đạo", "政策"],
        "district" => ["district", "Phòng", "区县教育局"],
        "school" => ["school", "trường", "学校"],
        _ => return code.to_owned(),
    };
    match language {
        Language::English => en,
        Language::Vietnamese => vi,
        Language::Chinese => zh,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_value_has_a_name_in_each_language_and_an_unknown_code_stays() {
        assert_eq!(value_name("schoolyard", Language::Vietnamese), "sân trường");
        assert_eq!(value_name("cyber", Language::Chinese), "网络欺凌");
        assert_eq!(value_name("no_such_value", Language::Vietnamese), "no_such_value");
    }
}
