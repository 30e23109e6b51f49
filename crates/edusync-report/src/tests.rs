//! What a reader of each format relies on.

use super::*;

fn report() -> Report {
    Report {
        org: "VN.BT.D03".into(),
        period: "2024-2025".into(),
        as_of: "2025-09-01".into(),
        total_cases: 7,
        contributing_schools: 2,
        verified: true,
        units: vec![
            UnitRow {
                org: "VN.BT.D03.S001".into(),
                cases: vec![2, 1, 0, 0, 0, 0, 0, 0],
                total: 3,
                contributing_schools: 1,
            },
            UnitRow {
                org: "VN.BT.D03.S002".into(),
                cases: vec![0, 0, 0, 4, 0, 0, 0, 0],
                total: 4,
                contributing_schools: 1,
            },
        ],
        trend: vec![
            TrendPoint { period: "2023-2024/S2".into(), cases: 1 },
            TrendPoint { period: "2024-2025/S1".into(), cases: 5 },
            TrendPoint { period: "2024-2025/S2".into(), cases: 2 },
        ],
        compliance: vec![ComplianceRow {
            org: "VN.BT.D03.S002".into(),
            school_year_report: Standing::Missing,
            semester1_report: Standing::NoDeadline,
            staff_commitments: Standing::OnTime,
            notifications: Standing::Flagged,
            investigations: Standing::Clear,
            repeated_incidents: Standing::Flagged,
        }],
        alerts: vec!["VN.BT.D03.S002: school-year report missing (due 2025-08-01) <check>".into()],
        names: [
            ("VN.BT.D03".to_owned(), "Phòng GD&ĐT Châu Thành".to_owned()),
            ("VN.BT.D03.S002".to_owned(), "Trường THCS Phú Hưng".to_owned()),
        ]
        .into_iter()
        .collect(),
    }
}

#[test]
fn the_html_is_one_self_contained_file_labelled_in_the_chosen_language() {
    for (language, code, category, title) in [
        (Language::Vietnamese, "vi", "bạo lực thân thể", "Phòng, chống bạo lực học đường"),
        (Language::Chinese, "zh", "身体暴力", "校园欺凌与暴力防治报告"),
        (Language::English, "en", "physical", "School violence and bullying"),
    ] {
        let page = html(&report(), language);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains(&format!("<html lang=\"{code}\">")) && page.contains("<meta charset=\"utf-8\">"));
        assert!(page.contains(category) && page.contains(title), "{language:?}");
        for chart in ["id=\"by-category\"", "id=\"trend\"", "id=\"compliance\""] {
            assert!(page.contains(chart), "{chart} missing");
        }
        // Nothing to fetch and nothing to run.
        for forbidden in ["<script", "src=", "href=", "@import", "url("] {
            assert!(!page.contains(forbidden), "{forbidden} in the page");
        }
        assert!(page.contains("&lt;check&gt;") && !page.contains("<check>"), "text is escaped");
        assert!(page.contains("<strong id=\"total\">7</strong>"));
        // Units by name, with the id; the heat map has its key.
        assert!(page.contains("Trường THCS Phú Hưng (VN.BT.D03.S002)"), "{language:?}");
        assert!(page.contains(label(Label::Legend, language)) && page.contains(label(Label::LegendNone, language)));
    }
}

#[test]
fn the_csv_has_a_header_in_the_language_one_row_per_unit_and_opens_in_excel() {
    let text = csv(&report(), Language::Chinese);
    assert!(text.starts_with('\u{feff}'), "a byte-order mark for Excel");
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    // What the file is (office, period, as of, language), a blank line, then the table.
    assert_eq!(lines[0], "校园欺凌与暴力防治报告,VN.BT.D03,Phòng GD&ĐT Châu Thành");
    assert_eq!(lines[1..5], ["期间,2024-2025", "截至,2025-09-01", "语言,zh", ""]);
    assert_eq!(lines.len(), 8);
    assert!(lines[5].starts_with("单位,单位名称,身体暴力,言语暴力"), "{}", lines[5]);
    assert_eq!(lines[6], "VN.BT.D03.S001,,2,1,0,0,0,0,0,0,3,1,,,,,,");
    assert!(
        lines[7].starts_with("VN.BT.D03.S002,Trường THCS Phú Hưng,0,0,0,4,0,0,0,0,4,1,缺报,—,按时"),
        "{}",
        lines[7]
    );
    let vietnamese = csv(&report(), Language::Vietnamese);
    assert!(vietnamese.contains("\"cô lập, tẩy chay\""), "a label with a comma is quoted");
}

#[test]
fn the_terminal_table_lines_up_wide_characters() {
    let text = table(&report(), Language::Chinese);
    assert!(text.contains("校园欺凌与暴力防治报告"));
    let rows: Vec<&str> =
        text.lines().filter(|line| line.contains("VN.BT.D03.S00") && !line.starts_with(' ')).collect();
    assert_eq!(rows.len(), 3, "two units and one compliance row:\n{text}");
    let header = text.lines().find(|line| line.starts_with("单位") && line.contains("身体暴力")).expect("header");
    // The total column starts at the same terminal column in the header and the rows.
    let total_at = |line: &str| width(&line[..line.rfind(' ').expect("columns")]);
    assert_eq!(total_at(header), total_at(rows[0]), "{header}\n{}", rows[0]);
    assert_eq!(width("身体"), 4);
}
