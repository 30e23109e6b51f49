use chrono::TimeZone;

use super::*;

fn now() -> edusync_core::Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).single().expect("valid")
}

fn rows(lines: &[&[&str]]) -> Vec<Vec<String>> {
    lines.iter().map(|line| line.iter().map(|cell| (*cell).to_owned()).collect()).collect()
}

#[test]
fn every_template_reads_back_as_a_valid_record_in_every_language() {
    for kind in [RecordKind::Commitment, RecordKind::PeriodicReport] {
        for lang in Language::ALL {
            let (header, example) = template(kind, lang).expect("tabular");
            // Untouched, the example row is refused: it never imports as a record.
            let (records, problems) =
                read_rows(kind, &[header.clone(), example.clone()], now()).expect("headers known");
            assert!(records.is_empty(), "{kind} {lang:?}");
            assert_eq!(problems[0].reason, Reason::TemplateExample, "{kind} {lang:?}");
            // With its mark taken off, it is a valid record.
            let mut own = example;
            own[0] = own[0].replacen(lang.pick(EXAMPLE_MARKS), "", 1);
            let (records, problems) = read_rows(kind, &[header, own], now()).expect("headers known");
            assert!(problems.is_empty(), "{kind} {lang:?}: {problems:?}");
            assert_eq!(records.len(), 1);
            assert_eq!(records[0].0, 2);
        }
    }
}

#[test]
fn vietnamese_headers_and_labels_make_a_commitment() {
    let sheet = rows(&[
        &["Loại cam kết", "Người ký", "Số chữ ký", "Ngày ký", "Năm học"],
        &["Cam kết của cán bộ, giáo viên, nhân viên", "Giáo viên", "38", "2025-09-08", "2025-2026"],
    ]);
    let (records, problems) = read_rows(RecordKind::Commitment, &sheet, now()).expect("read");
    assert!(problems.is_empty(), "{problems:?}");
    let Record::Commitment(commitment) = &records[0].1 else { panic!("a commitment") };
    assert_eq!((commitment.count, commitment.signer_role.as_str()), (38, "teacher"));
}

#[test]
fn every_bad_row_is_named_with_its_column_value_and_reason() {
    let sheet = rows(&[
        &["Loại cam kết", "Người ký", "Số chữ ký", "Ngày ký", "Năm học"],
        &["staff_pledge", "Giáo viên", "mười", "2025-09-08", "2025-2026"],
        &["staff_pledge", "Giáo viên", "10", "2025-09-08", "2025-2026"],
        &["staff_pledge", "Hiệu phó", "10", "2025-09-08", "2025-2026"],
        &["staff_pledge", "Giáo viên", "10", "2024-09-08", "2025-2026"],
    ]);
    let (records, problems) = read_rows(RecordKind::Commitment, &sheet, now()).expect("read");
    assert_eq!(records.len(), 1);
    let named: Vec<(usize, &str, &str)> =
        problems.iter().map(|problem| (problem.row, problem.column.as_str(), problem.value.as_str())).collect();
    assert_eq!(named, vec![(2, "Số chữ ký", "mười"), (4, "Người ký", "Hiệu phó"), (5, "Ngày ký", "2024-09-08")]);
    assert_eq!(problems[0].reason, Reason::NotAWholeNumber { text: "mười".into() });
    assert!(matches!(problems[1].reason, Reason::UnknownValue { .. }), "{:?}", problems[1].reason);
    assert_eq!(
        problems[2].reason,
        Reason::OutsideSchoolYear { date: "2024-09-08".into(), school_year: "2025-2026".into() }
    );
}

#[test]
fn an_unknown_or_missing_column_is_refused_before_any_row() {
    let unknown = rows(&[&["Loại cam kết", "Họ tên", "Số chữ ký", "Ngày ký", "Năm học"]]);
    assert!(matches!(
        read_rows(RecordKind::Commitment, &unknown, now()),
        Err(SheetError::UnknownColumn { column: 2, .. })
    ));
    let missing = rows(&[&["Loại cam kết", "Số chữ ký", "Ngày ký", "Năm học"]]);
    assert!(matches!(
        read_rows(RecordKind::Commitment, &missing, now()),
        Err(SheetError::MissingColumn { field: "signer_role", .. })
    ));
    assert_eq!(template(RecordKind::Incident, Language::English), Err(SheetError::NotTabular(RecordKind::Incident)));
}

#[test]
fn a_negative_or_too_large_count_says_so_rather_than_not_a_number() {
    let sheet = rows(&[
        &["Loại cam kết", "Người ký", "Số chữ ký", "Ngày ký", "Năm học"],
        &["staff_pledge", "Giáo viên", "-3", "2025-09-08", "2025-2026"],
        &["staff_pledge", "Giáo viên", "99999999999", "2025-09-08", "2025-2026"],
    ]);
    let (_, problems) = read_rows(RecordKind::Commitment, &sheet, now()).expect("read");
    assert_eq!(problems[0].reason, Reason::NegativeCount { text: "-3".into() });
    assert_eq!(problems[1].reason, Reason::OutOfRange { value: "99999999999".into() });
}

/// "Phụ huynh" is what most schools write for parents; the template's label
/// is "Cha mẹ học sinh". Both import, and a value neither list knows is
/// refused with the choices named as the template names them.
#[test]
fn common_names_of_a_signer_import_and_a_refusal_names_the_templates_labels() {
    for parent in ["Phụ huynh", "phụ huynh học sinh", "Cha mẹ học sinh", "parent", "家长"] {
        let sheet = rows(&[
            &["Loại cam kết", "Người ký", "Số chữ ký", "Ngày ký", "Năm học"],
            &["Cam kết giữa cha mẹ, học sinh và nhà trường", parent, "120", "2025-09-08", "2025-2026"],
        ]);
        let (records, problems) = read_rows(RecordKind::Commitment, &sheet, now()).expect("read");
        assert!(problems.is_empty(), "{parent}: {problems:?}");
        let Record::Commitment(commitment) = &records[0].1 else { panic!("a commitment") };
        assert_eq!(commitment.signer_role.as_str(), "parent", "{parent}");
    }
    let sheet = rows(&[
        &["Loại cam kết", "Người ký", "Số chữ ký", "Ngày ký", "Năm học"],
        &["staff_pledge", "Hàng xóm", "10", "2025-09-08", "2025-2026"],
    ]);
    let (_, problems) = read_rows(RecordKind::Commitment, &sheet, now()).expect("read");
    let said = edusync_i18n::reason(&problems[0].reason, Language::Vietnamese);
    // The template's names, with the code a command line would take beside each.
    assert!(said.contains("cha mẹ học sinh (parent)") && said.contains("hiệu trưởng (principal)"), "{said}");
}
