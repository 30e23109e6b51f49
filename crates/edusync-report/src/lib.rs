//! Reports for people who would rather read or look than query: an office's
//! totals for a period, its units' incident cases by category, its trend by
//! semester and its compliance table, rendered as a terminal table, CSV (for
//! spreadsheets), JSON (for scripts) or one self-contained HTML file with
//! inline SVG charts (no script, no font or file fetched), each labelled in
//! Vietnamese, Chinese or English.
//!
//! Pure: it renders what the caller fetched and verified. It is not where
//! numbers are computed, checked or disclosed; it never reads a file or a
//! node, and it holds counts, org ids and dates only.

use std::fmt::Write;

use edusync_core::IncidentCategory;
use edusync_i18n::Language;

/// One unit below the office: its incident cases for the period.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UnitRow {
    pub org: String,
    /// Cases by category, in `IncidentCategory::ALL` order.
    pub cases: Vec<u64>,
    pub total: u64,
    pub contributing_schools: u64,
}

/// The office's own total of incident cases for one period.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TrendPoint {
    pub period: String,
    pub cases: u64,
}

/// How a unit stands on one check of the compliance table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    OnTime,
    Late,
    Missing,
    NotYetDue,
    NoDeadline,
    Clear,
    Flagged,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ComplianceRow {
    pub org: String,
    pub school_year_report: Standing,
    pub semester1_report: Standing,
    pub staff_commitments: Standing,
    pub notifications: Standing,
    pub investigations: Standing,
    pub repeated_incidents: Standing,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub org: String,
    pub period: String,
    pub as_of: String,
    pub total_cases: u64,
    pub contributing_schools: u64,
    /// Whether every signature, the sum and each proof were verified by the caller.
    pub verified: bool,
    pub units: Vec<UnitRow>,
    pub trend: Vec<TrendPoint>,
    pub compliance: Vec<ComplianceRow>,
    pub alerts: Vec<String>,
    /// Display names by org id (the office's and its units', as the
    /// office's config names them); a unit without one shows its id.
    pub names: std::collections::BTreeMap<String, String>,
}

/// `Trường THCS Phú Hưng (VN.BT.D03.S017)`, or the id alone when no name is known.
fn named(report: &Report, org: &str) -> String {
    match report.names.get(org) {
        Some(name) => format!("{name} ({org})"),
        None => org.to_owned(),
    }
}

/// A category as every page, form and table names it (one name everywhere).
fn category_label(category: IncidentCategory, language: Language) -> String {
    edusync_i18n::value_name(category.as_str(), language)
}

#[derive(Clone, Copy)]
enum Label {
    Title,
    Unit,
    Total,
    Schools,
    ByCategory,
    Trend,
    Compliance,
    YearReport,
    Semester1Report,
    StaffPledges,
    Notifications,
    Investigations,
    Repeated,
    Alerts,
    NoAlerts,
    AsOf,
    Verified,
    NotVerified,
    NoUnits,
    UnitName,
    Period,
    ReportLanguage,
    Legend,
    LegendGood,
    LegendLate,
    LegendBad,
    LegendNone,
}

fn label(label: Label, language: Language) -> &'static str {
    use Label::*;
    match label {
        Title => language.pick([
            "School violence and bullying: report",
            "Phòng, chống bạo lực học đường: báo cáo",
            "校园欺凌与暴力防治报告",
        ]),
        Unit => language.pick(["unit", "đơn vị", "单位"]),
        Total => language.pick(["total cases", "tổng số vụ", "案件总数"]),
        Schools => language.pick(["schools", "số trường", "学校数"]),
        ByCategory => language.pick([
            "Incident cases by category, per unit",
            "Số vụ việc theo loại, từng đơn vị",
            "各单位按类别统计的事件数",
        ]),
        Trend => language.pick(["Incident cases per semester", "Số vụ việc theo học kỳ", "各学期事件数"]),
        Compliance => language.pick(["Compliance", "Tình hình thực hiện", "合规情况"]),
        YearReport => language.pick(["school-year report", "báo cáo năm học", "学年报告"]),
        Semester1Report => language.pick(["semester 1 report", "báo cáo học kỳ I", "第一学期报告"]),
        StaffPledges => language.pick(["staff pledges", "cam kết của cán bộ", "教职工承诺书"]),
        Notifications => language.pick(["reported within 12 h", "báo cáo trong 12 giờ", "12小时内上报"]),
        Investigations => language.pick(["investigations in time", "xác minh đúng hạn", "按时调查"]),
        Repeated => language.pick(["repeated incidents", "vụ việc lặp lại", "多次发生"]),
        Alerts => language.pick(["Alerts", "Cảnh báo", "提醒"]),
        NoAlerts => language.pick(["no alerts", "không có cảnh báo", "无提醒"]),
        AsOf => language.pick(["as of", "tính đến", "截至"]),
        Verified => language.pick([
            "every signature, the sum and each inclusion proof verified",
            "đã kiểm tra mọi chữ ký, phép cộng và từng bằng chứng",
            "所有签名、合计与包含证明均已验证",
        ]),
        NotVerified => language.pick(["NOT VERIFIED", "CHƯA KIỂM TRA", "未验证"]),
        NoUnits => {
            language.pick(["no units below have reported", "chưa có đơn vị cấp dưới báo cáo", "下级单位尚未上报"])
        }
        UnitName => language.pick(["unit name", "tên đơn vị", "单位名称"]),
        Period => language.pick(["period", "kỳ", "期间"]),
        ReportLanguage => language.pick(["language", "ngôn ngữ", "语言"]),
        Legend => language.pick(["Key", "Chú giải", "图例"]),
        LegendGood => language.pick(["on time, ok", "đúng hạn, đạt", "按时、正常"]),
        LegendLate => language.pick(["late", "muộn", "逾期"]),
        LegendBad => language.pick(["missing, flagged", "chưa nộp, cần chú ý", "缺报、需关注"]),
        LegendNone => {
            language.pick(["not yet due; — no deadline set", "chưa đến hạn; — chưa có hạn", "未到期；— 未设期限"])
        }
    }
}

fn standing_label(standing: Standing, language: Language) -> &'static str {
    use Standing::*;
    match standing {
        OnTime => language.pick(["on time", "đúng hạn", "按时"]),
        Late => language.pick(["late", "muộn", "逾期"]),
        Missing => language.pick(["missing", "chưa nộp", "缺报"]),
        NotYetDue => language.pick(["not yet due", "chưa đến hạn", "未到期"]),
        NoDeadline => "—",
        Clear => language.pick(["ok", "đạt", "正常"]),
        Flagged => language.pick(["flagged", "cần chú ý", "需关注"]),
    }
}

/// Fill colour of a standing in the heat map: green, amber, red, grey.
fn standing_colour(standing: Standing) -> &'static str {
    match standing {
        Standing::OnTime | Standing::Clear => "#2e7d32",
        Standing::Late => "#f9a825",
        Standing::Missing | Standing::Flagged => "#c62828",
        Standing::NotYetDue | Standing::NoDeadline => "#bdbdbd",
    }
}

fn checks(row: &ComplianceRow) -> [(Label, Standing); 6] {
    [
        (Label::YearReport, row.school_year_report),
        (Label::Semester1Report, row.semester1_report),
        (Label::StaffPledges, row.staff_commitments),
        (Label::Notifications, row.notifications),
        (Label::Investigations, row.investigations),
        (Label::Repeated, row.repeated_incidents),
    ]
}

/// Terminal columns `text` takes: two for CJK, none for a combining mark.
fn width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

fn pad(text: &str, columns: usize) -> String {
    let mut out = text.to_owned();
    for _ in width(text)..columns {
        out.push(' ');
    }
    out
}

pub fn table(report: &Report, language: Language) -> String {
    let mut out = String::new();
    let say = |l| label(l, language);
    let _ = writeln!(
        out,
        "{} — {} {} ({} {})",
        say(Label::Title),
        named(report, &report.org),
        report.period,
        say(Label::AsOf),
        report.as_of
    );
    let _ = writeln!(
        out,
        "{}: {}   {}: {}   {}",
        say(Label::Total),
        report.total_cases,
        say(Label::Schools),
        report.contributing_schools,
        if report.verified { say(Label::Verified) } else { say(Label::NotVerified) }
    );
    let _ = writeln!(out, "\n{}", say(Label::ByCategory));
    if report.units.is_empty() {
        let _ = writeln!(out, "  {}", say(Label::NoUnits));
    } else {
        let headers: Vec<String> = IncidentCategory::ALL.iter().map(|c| category_label(*c, language)).collect();
        let columns: Vec<usize> = headers.iter().map(|h| width(h).max(5)).collect();
        let unit_width = report.units.iter().map(|unit| width(&named(report, &unit.org))).max().unwrap_or(0).max(20);
        let _ = write!(out, "{}", pad(say(Label::Unit), unit_width));
        for (header, columns) in headers.iter().zip(&columns) {
            let _ = write!(out, " {}", pad(header, *columns));
        }
        let _ = writeln!(out, " {}", say(Label::Total));
        for unit in &report.units {
            let _ = write!(out, "{}", pad(&named(report, &unit.org), unit_width));
            for (cases, columns) in unit.cases.iter().zip(&columns) {
                let _ = write!(out, " {}", pad(&cases.to_string(), *columns));
            }
            let _ = writeln!(out, " {}", unit.total);
        }
    }
    if !report.trend.is_empty() {
        let _ = writeln!(out, "\n{}", say(Label::Trend));
        for point in &report.trend {
            let _ = writeln!(out, "  {} {}", pad(&point.period, 14), point.cases);
        }
    }
    if !report.compliance.is_empty() {
        let _ = writeln!(out, "\n{}", say(Label::Compliance));
        let unit_width = report.compliance.iter().map(|row| width(&named(report, &row.org))).max().unwrap_or(0).max(20);
        let _ = write!(out, "{}", pad(say(Label::Unit), unit_width));
        let headers: Vec<&str> = checks(&report.compliance[0]).iter().map(|(l, _)| say(*l)).collect();
        let columns: Vec<usize> = headers.iter().map(|h| width(h).max(12)).collect();
        for (header, columns) in headers.iter().zip(&columns) {
            let _ = write!(out, " {}", pad(header, *columns));
        }
        let _ = writeln!(out);
        for row in &report.compliance {
            let _ = write!(out, "{}", pad(&named(report, &row.org), unit_width));
            for ((_, standing), columns) in checks(row).iter().zip(&columns) {
                let _ = write!(out, " {}", pad(standing_label(*standing, language), *columns));
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(out, "\n{}", say(Label::Alerts));
    if report.alerts.is_empty() {
        let _ = writeln!(out, "  {}", say(Label::NoAlerts));
    }
    for alert in &report.alerts {
        let _ = writeln!(out, "  {alert}");
    }
    out
}

/// One row per unit: the categories, the total and the compliance checks.
/// UTF-8 with a byte-order mark, so Excel reads Vietnamese and Chinese right.
pub fn csv(report: &Report, language: Language) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    // What the file is, before its table: it is opened far from the command that wrote it.
    let office_name = report.names.get(&report.org).cloned().unwrap_or_default();
    rows.push(vec![label(Label::Title, language).to_owned(), report.org.clone(), office_name]);
    rows.push(vec![label(Label::Period, language).to_owned(), report.period.clone()]);
    rows.push(vec![label(Label::AsOf, language).to_owned(), report.as_of.clone()]);
    rows.push(vec![label(Label::ReportLanguage, language).to_owned(), lang_code(language).to_owned()]);
    let about = csv_text(&rows);
    rows.clear();
    let mut header: Vec<String> = vec![label(Label::Unit, language).into(), label(Label::UnitName, language).into()];
    header.extend(IncidentCategory::ALL.iter().map(|c| category_label(*c, language)));
    header.push(label(Label::Total, language).into());
    header.push(label(Label::Schools, language).into());
    let check_labels = [
        Label::YearReport,
        Label::Semester1Report,
        Label::StaffPledges,
        Label::Notifications,
        Label::Investigations,
        Label::Repeated,
    ];
    header.extend(check_labels.iter().map(|l| label(*l, language).to_owned()));
    rows.push(header);
    for unit in &report.units {
        let mut row: Vec<String> = vec![unit.org.clone(), report.names.get(&unit.org).cloned().unwrap_or_default()];
        row.extend(unit.cases.iter().map(u64::to_string));
        row.push(unit.total.to_string());
        row.push(unit.contributing_schools.to_string());
        match report.compliance.iter().find(|c| c.org == unit.org) {
            Some(compliance) => {
                row.extend(checks(compliance).iter().map(|(_, s)| standing_label(*s, language).to_owned()))
            }
            None => row.extend(std::iter::repeat_n(String::new(), check_labels.len())),
        }
        rows.push(row);
    }
    // A blank line between what the file is and its table.
    format!("\u{feff}{about}\n{}", csv_text(&rows))
}

/// Rows as CSV (quoted where a field needs it); rows may differ in length.
fn csv_text(rows: &[Vec<String>]) -> String {
    let mut writer =
        csv::WriterBuilder::new().flexible(true).terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    for row in rows {
        // Writing to memory cannot fail but for a bug: the row is then left out, not the file.
        let _ = writer.write_record(row);
    }
    String::from_utf8_lossy(&writer.into_inner().unwrap_or_default()).into_owned()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const PALETTE: [&str; 8] = ["#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e", "#757575"];

/// The CSS the charts' text and lines are drawn with, for pages that embed them.
pub const CHART_STYLE: &str =
    ".axis{font-size:12px;fill:#424242}.value{font-size:11px;fill:#212121}.legend{font-size:12px;fill:#424242}.cell{font-size:11px;fill:#fff}.grid{stroke:#9e9e9e}";

/// Horizontal stacked bars: one bar per unit, one colour per category.
fn category_chart(report: &Report, language: Language) -> String {
    let bar = 22;
    let left = 170;
    let chart_width = 520;
    let most = report.units.iter().map(|u| u.total).max().unwrap_or(0).max(1);
    let height = report.units.len() * (bar + 8) + 90;
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"{}\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(label(Label::ByCategory, language)),
        left + chart_width + 60,
        left + chart_width + 60
    );
    for (row, unit) in report.units.iter().enumerate() {
        let y = row * (bar + 8) + 10;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"axis\">{}</text>",
            left - 8,
            y + 16,
            escape(&unit.org)
        );
        let mut x = left as f64;
        for (index, cases) in unit.cases.iter().enumerate() {
            if *cases == 0 {
                continue;
            }
            let w = *cases as f64 / most as f64 * chart_width as f64;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bar}\" fill=\"{}\"><title>{}: {} {}</title></rect>",
                PALETTE[index % PALETTE.len()],
                escape(&unit.org),
                escape(&category_label(IncidentCategory::ALL[index], language)),
                cases
            );
            x += w;
        }
        let _ = write!(svg, "<text x=\"{:.1}\" y=\"{}\" class=\"value\">{}</text>", x + 6.0, y + 16, unit.total);
    }
    // Legend.
    let legend_y = report.units.len() * (bar + 8) + 30;
    for (index, category) in IncidentCategory::ALL.iter().enumerate() {
        let x = 10 + (index % 3) * 250;
        let y = legend_y + (index / 3) * 18;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" class=\"legend\">{}</text>",
            y,
            PALETTE[index],
            x + 16,
            y + 11,
            escape(&category_label(*category, language))
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A line over the semesters, oldest first.
fn trend_chart(report: &Report, language: Language) -> String {
    trend_svg(&report.trend, language)
}

/// The trend as an inline SVG line chart, oldest first: every label escaped,
/// nothing fetched.
pub fn trend_svg(trend: &[TrendPoint], language: Language) -> String {
    let (width, height, left, bottom) = (560usize, 220usize, 50usize, 40usize);
    let most = trend.iter().map(|p| p.cases).max().unwrap_or(0).max(1);
    let plot_height = height - bottom - 20;
    let step = if trend.len() > 1 { (width - left - 90) as f64 / (trend.len() - 1) as f64 } else { 0.0 };
    let point = |index: usize, cases: u64| {
        let x = left as f64 + 10.0 + step * index as f64;
        let y = 20.0 + plot_height as f64 * (1.0 - cases as f64 / most as f64);
        (x, y)
    };
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"{}\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(label(Label::Trend, language))
    );
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"grid\"/>",
        height - bottom,
        width - 10,
        height - bottom
    );
    let path: Vec<String> = trend
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let (x, y) = point(index, p.cases);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let _ =
        write!(svg, "<polyline points=\"{}\" fill=\"none\" stroke=\"#1565c0\" stroke-width=\"2.5\"/>", path.join(" "));
    for (index, p) in trend.iter().enumerate() {
        let (x, y) = point(index, p.cases);
        let _ = write!(
            svg,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"#1565c0\"><title>{}: {}</title></circle><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"value\">{}</text><text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\" class=\"axis\">{}</text>",
            escape(&p.period),
            p.cases,
            y - 8.0,
            p.cases,
            height - bottom + 18,
            escape(&p.period)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Units × checks, one coloured cell each, its standing written in it.
fn heat_map(report: &Report, language: Language) -> String {
    let (cell_width, cell_height, left, top) = (118usize, 26usize, 230usize, 110usize);
    let width = left + cell_width * 6 + 130;
    let legend_top = top + report.compliance.len() * (cell_height + 4) + 16;
    let height = legend_top + 52;
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"{}\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(label(Label::Compliance, language))
    );
    if let Some(first) = report.compliance.first() {
        for (column, (l, _)) in checks(first).iter().enumerate() {
            let (x, y) = (left + column * cell_width + cell_width / 2 - 10, top - 10);
            let _ = write!(
                svg,
                "<text x=\"{x}\" y=\"{y}\" transform=\"rotate(-30 {x} {y})\" class=\"axis\">{}</text>",
                escape(label(*l, language))
            );
        }
    }
    for (row, compliance) in report.compliance.iter().enumerate() {
        let y = top + row * (cell_height + 4);
        let shown = report.names.get(&compliance.org).unwrap_or(&compliance.org);
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"axis\"><title>{}</title>{}</text>",
            left - 8,
            y + 17,
            escape(&named(report, &compliance.org)),
            escape(shown)
        );
        for (column, (_, standing)) in checks(compliance).iter().enumerate() {
            let x = left + column * cell_width;
            let _ = write!(
                svg,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{cell_height}\" rx=\"3\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"cell\">{}</text>",
                cell_width - 4,
                standing_colour(*standing),
                x + cell_width / 2 - 2,
                y + 17,
                escape(standing_label(*standing, language))
            );
        }
    }
    // The key: what each colour means, and the dash.
    let _ = write!(
        svg,
        "<text x=\"{left}\" y=\"{}\" class=\"legend\">{}</text>",
        legend_top + 12,
        escape(label(Label::Legend, language))
    );
    let keys = [
        (Standing::OnTime, Label::LegendGood),
        (Standing::Late, Label::LegendLate),
        (Standing::Missing, Label::LegendBad),
        (Standing::NotYetDue, Label::LegendNone),
    ];
    for (index, (standing, meaning)) in keys.iter().enumerate() {
        let x = left + index * (cell_width + 40);
        let y = legend_top + 24;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" class=\"legend\">{}</text>",
            standing_colour(*standing),
            x + 16,
            y + 10,
            escape(label(*meaning, language))
        );
    }
    svg.push_str("</svg>");
    svg
}

fn lang_code(language: Language) -> &'static str {
    language.pick(["en", "vi", "zh"])
}

/// One HTML file that opens anywhere: inline CSS and SVG, no script, nothing fetched.
pub fn html(report: &Report, language: Language) -> String {
    let say = |l| label(l, language);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{} — {} {}</title>\n<style>\nbody{{font-family:\"Noto Sans\",\"Noto Sans CJK SC\",\"Segoe UI\",\"Microsoft YaHei\",\"PingFang SC\",Arial,sans-serif;margin:2rem;color:#212121;max-width:1000px}}\nh1{{font-size:1.5rem}}h2{{font-size:1.15rem;margin-top:2rem}}\ntable{{border-collapse:collapse;margin:.5rem 0}}td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}}td:first-child,th:first-child{{text-align:left}}\n.axis{{font-size:12px;fill:#424242}}.value{{font-size:11px;fill:#212121}}.legend{{font-size:12px;fill:#424242}}.cell{{font-size:11px;fill:#fff}}.grid{{stroke:#9e9e9e}}\n.summary{{font-size:1.05rem}}.verified{{color:#2e7d32}}.unverified{{color:#c62828;font-weight:bold}}\n</style>\n</head>\n<body>\n",
        lang_code(language),
        escape(say(Label::Title)),
        escape(&report.org),
        escape(&report.period)
    );
    let _ = writeln!(
        out,
        "<h1>{} — {} {}</h1>",
        escape(say(Label::Title)),
        escape(&named(report, &report.org)),
        escape(&report.period)
    );
    let _ = writeln!(
        out,
        "<p class=\"summary\">{}: <strong id=\"total\">{}</strong> · {}: {} · {} {} · <span class=\"{}\">{}</span></p>",
        escape(say(Label::Total)),
        report.total_cases,
        escape(say(Label::Schools)),
        report.contributing_schools,
        escape(say(Label::AsOf)),
        escape(&report.as_of),
        if report.verified { "verified" } else { "unverified" },
        escape(if report.verified { say(Label::Verified) } else { say(Label::NotVerified) })
    );
    let _ = writeln!(out, "<h2>{}</h2>", escape(say(Label::ByCategory)));
    if report.units.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", escape(say(Label::NoUnits)));
    } else {
        let _ = writeln!(out, "<figure id=\"by-category\">{}</figure>", category_chart(report, language));
        let _ = write!(out, "<table id=\"units\"><tr><th>{}</th>", escape(say(Label::Unit)));
        for category in IncidentCategory::ALL {
            let _ = write!(out, "<th>{}</th>", escape(&category_label(*category, language)));
        }
        let _ = writeln!(out, "<th>{}</th></tr>", escape(say(Label::Total)));
        for unit in &report.units {
            let _ = write!(out, "<tr><td>{}</td>", escape(&named(report, &unit.org)));
            for cases in &unit.cases {
                let _ = write!(out, "<td>{cases}</td>");
            }
            let _ = writeln!(out, "<td>{}</td></tr>", unit.total);
        }
        out.push_str("</table>\n");
    }
    if !report.trend.is_empty() {
        let _ = writeln!(
            out,
            "<h2>{}</h2>\n<figure id=\"trend\">{}</figure>",
            escape(say(Label::Trend)),
            trend_chart(report, language)
        );
    }
    if !report.compliance.is_empty() {
        let _ = writeln!(
            out,
            "<h2>{}</h2>\n<figure id=\"compliance\">{}</figure>",
            escape(say(Label::Compliance)),
            heat_map(report, language)
        );
    }
    let _ = writeln!(out, "<h2>{}</h2>", escape(say(Label::Alerts)));
    if report.alerts.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", escape(say(Label::NoAlerts)));
    } else {
        out.push_str("<ul id=\"alerts\">\n");
        for alert in &report.alerts {
            let _ = writeln!(out, "<li>{}</li>", escape(alert));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests;
