//! The command line as an operator uses it: every class of bad input is
//! refused with the field named and exit status 2, and nothing is stored.

use serde_json::{json, Value};

use edusync_proto::wire;

use crate::harness::{path, records_client, run, run_with_environment, start_lone_node, text};

pub(crate) fn incident_json() -> Value {
    json!({
        "occurred_at": "2024-10-14T09:30:00+07:00",
        "detected_at": "2024-10-14T10:00:00+07:00",
        "reported_to_school_at": "2024-10-14T10:15:00+07:00",
        "place": "schoolyard",
        "category": "physical",
        "severity": "serious",
        "intake_channel": "teacher",
        "people": [
            {"role": "victim", "name": "Nguyễn Thị Lan", "student_number": "HS-0042", "sex": "female",
             "birth_date": "2012-03-04", "grade": 7}
        ],
        "narrative": "Hai học sinh xô xát ở sân trường giờ ra chơi.",
        "status": "investigating"
    })
}

fn periodic_report_json() -> Value {
    json!({
        "period": "2024-2025/S1",
        "submitted_on": "2025-01-20",
        "awareness_sessions": 4,
        "staff_total": 52,
        "staff_informed": 52,
        "staff_trained": 30,
        "commitments_signed": 52,
        "channels_set_up": ["suggestion_box", "hotline"],
        "counselling_team_in_place": true,
        "psychological_screenings": 1,
        "home_visits": 12,
        "parent_meetings": 2,
        "remarks": "Đã tổ chức tuyên truyền đầu năm học."
    })
}

fn add(endpoint: &str, kind: &str, dir: &std::path::Path, name: &str, value: &str) -> std::process::Output {
    let path = dir.join(name);
    std::fs::write(&path, value).expect("write input");
    run(&["record", "add", kind, "--file", path.to_str().expect("utf-8"), "--node", endpoint])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_are_refused_with_the_field_named_and_nothing_is_stored() {
    let root = tempfile::tempdir().expect("tempdir");
    let (node, _) = start_lone_node(&root.path().join("school"), "VN.BT.D03.S017", "school");
    let endpoint = node.endpoint();

    let mut cases: Vec<(&str, String, &str)> = Vec::new();
    let mut value = incident_json();
    value["detected_at"] = json!("2024-10-14T08:00:00+07:00");
    cases.push(("incident", value.to_string(), "detected_at"));
    let mut value = incident_json();
    value["category"] = json!("teasing");
    cases.push(("incident", value.to_string(), "category"));
    let mut value = incident_json();
    value["narrative"] = json!("x".repeat(20_001));
    cases.push(("incident", value.to_string(), "narrative"));
    let mut value = incident_json();
    value["people"][0]["grade"] = json!(15);
    cases.push(("incident", value.to_string(), "people[0].grade"));
    let mut value = periodic_report_json();
    value["staff_trained"] = json!(60);
    cases.push(("periodic_report", value.to_string(), "staff_trained"));
    let mut value = periodic_report_json();
    value["submitted_on"] = json!("2024-08-01");
    cases.push(("periodic_report", value.to_string(), "submitted_on"));
    let mut value = periodic_report_json();
    value["surprise"] = json!(1);
    cases.push(("periodic_report", value.to_string(), "surprise"));
    cases.push(("periodic_report", "{\"period\": ".into(), "period"));
    cases.push(("homework", periodic_report_json().to_string(), "kind"));

    for (index, (kind, input, field)) in cases.iter().enumerate() {
        let output = add(&endpoint, kind, root.path(), &format!("bad-{index}.json"), input);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "case {index} ({field}) exit status; stderr: {stderr}");
        assert!(stderr.contains(field), "case {index}: the error does not name `{field}`: {stderr}");
    }
    let mut client = records_client(&endpoint).await;
    let info = client.get_node_info(wire::GetNodeInfoRequest {}).await.expect("info").into_inner();
    assert_eq!(info.total_records, 0, "a refused record was stored");

    // The same checks hold over gRPC, for clients other than the CLI.
    let bad = wire::Record {
        kind: Some(wire::record::Kind::Commitment(wire::Commitment {
            kind: 99,
            signer_role: wire::SignerRole::Staff as i32,
            count: 3,
            signed_on: Some(wire::Date { year: 2024, month: 9, day: 6 }),
            school_year_start: 2024,
        })),
    };
    let status =
        client.submit_record(wire::SubmitRecordRequest { record: Some(bad.clone()) }).await.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("kind"), "{}", status.message());
    let status = client.get_record(wire::GetRecordRequest { record_id: "zz".into() }).await.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    // Many at once: all or nothing, and the bad one named by its place in the call.
    let good = |count| crate::harness::commitment(count);
    let mut future = good(4);
    if let Some(wire::record::Kind::Commitment(commitment)) = &mut future.kind {
        commitment.signed_on = Some(wire::Date { year: 2099, month: 9, day: 6 });
    }
    for (records, named) in [
        (vec![good(1), bad.clone(), good(2)], "records[1]"),
        (vec![good(1), good(2), future], "records[2]"),
        (Vec::new(), "records: 0 given"),
    ] {
        let status = client.submit_records(wire::SubmitRecordsRequest { records }).await.expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{}", status.message());
        assert!(status.message().contains(named), "{named}: {}", status.message());
    }
    let info = client.get_node_info(wire::GetNodeInfoRequest {}).await.expect("info").into_inner();
    assert_eq!(info.total_records, 0, "a refused call stored some of its records");
    for replay in [false, true] {
        let answer = client
            .submit_records(wire::SubmitRecordsRequest { records: vec![good(1), good(2)] })
            .await
            .expect("stored")
            .into_inner();
        assert_eq!(answer.results.len(), 2);
        assert!(answer.results.iter().all(|result| result.already_stored == replay), "replay {replay}");
    }
    let info = client.get_node_info(wire::GetNodeInfoRequest {}).await.expect("info").into_inner();
    let commitments = info.kinds.iter().find(|count| count.kind == wire::RecordKind::Commitment as i32);
    assert_eq!(commitments.map(|count| count.count), Some(2), "{:?}", info.kinds);
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_added_twice_is_stored_once_and_reads_back_exactly() {
    let root = tempfile::tempdir().expect("tempdir");
    let (node, _) = start_lone_node(&root.path().join("school"), "VN.BT.D03.S017", "school");
    let endpoint = node.endpoint();
    let input = incident_json().to_string();

    let first = add(&endpoint, "incident", root.path(), "incident.json", &input);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    let id = stdout.split_whitespace().nth(2).expect("stored incident <id> ...").to_owned();
    assert_eq!(id.len(), 64, "{stdout}");

    let again = add(&endpoint, "incident", root.path(), "incident.json", &input);
    assert!(again.status.success());
    assert!(text(&again.stdout).contains("already stored"), "{}", text(&again.stdout));

    // Said in one language: the log's name too.
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/records/commitment.json");
    let in_vietnamese =
        run(&["record", "add", "commitment", "--file", fixture, "--node", &endpoint, "--language", "vi"]);
    assert!(in_vietnamese.status.success(), "{}", text(&in_vietnamese.stderr));
    assert!(text(&in_vietnamese.stdout).contains("(nhật ký chia sẻ, số thứ tự "), "{}", text(&in_vietnamese.stdout));

    let shown = run(&["record", "show", &id, "--node", &endpoint, "--json"]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    assert_eq!(shown["record"]["record"]["people"][0]["name"], "Nguyễn Thị Lan");
    assert_eq!(shown["header"]["seq"], 1);
    assert_eq!(shown["header"]["stream"], "local");

    let listed = run(&["record", "list", "--node", &endpoint, "--kind", "incident", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let refused = add(&endpoint, "aggregate", root.path(), "aggregate.json", "{}");
    assert_eq!(refused.status.code(), Some(2), "an aggregate cannot be added by hand");

    let missing = run(&["record", "show", &"ab".repeat(32), "--node", &endpoint]);
    assert_eq!(missing.status.code(), Some(2));
    // The 12 digits `record list` prints are enough, as a git commit id's prefix is.
    let by_prefix = run(&["record", "show", &id[..12], "--node", &endpoint, "--json"]);
    assert!(by_prefix.status.success(), "{}", text(&by_prefix.stderr));
    let by_prefix: Value = serde_json::from_slice(&by_prefix.stdout).expect("JSON");
    assert_eq!(by_prefix["header"]["record_id"], id.as_str());
    // An aggregate reads as its named non-zero cells, not 344 bare numbers.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let aggregate_id = loop {
        let listed = run(&["record", "list", "--node", &endpoint, "--kind", "aggregate", "--json"]);
        let listed: Value = serde_json::from_slice(&listed.stdout).unwrap_or_default();
        // The oldest, listed last: the first aggregate derived, the school year's.
        let oldest = listed.as_array().and_then(|records| records.last());
        if let Some(id) = oldest.and_then(|record| record["header"]["record_id"].as_str()) {
            break id.to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "no aggregate derived");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let aggregate = run(&["record", "show", &aggregate_id, "--node", &endpoint]);
    let shown_text = text(&aggregate.stdout);
    assert!(aggregate.status.success(), "{}", text(&aggregate.stderr));
    assert!(shown_text.contains("non-zero cells") && shown_text.contains("cases.physical.serious"), "{shown_text}");
    assert!(shown_text.lines().count() < 60, "{shown_text}");
    let too_short = run(&["record", "show", &id[..6], "--node", &endpoint]);
    assert_eq!(too_short.status.code(), Some(2), "{}", text(&too_short.stderr));
    assert!(text(&too_short.stderr).contains("8 or more"), "{}", text(&too_short.stderr));
    drop(node);

    let unreachable = run(&["record", "list", "--node", "http://127.0.0.1:1"]);
    assert_eq!(unreachable.status.code(), Some(3), "{}", text(&unreachable.stderr));
}

#[test]
/// Not timed here (a loaded CI machine is no measure): the demo reports its own
/// timings, and `edusync bench` is where speed is measured.
fn the_demo_runs_a_whole_hierarchy_converges_and_reports_its_timings() {
    let output = run(&["demo", "--json", "--school-year", "2024-2025"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(report["converged"], true);
    assert_eq!(report["verification"]["verified"], true, "{}", report["verification"]);
    for timing in ["fill_seconds", "sync_seconds", "total_seconds"] {
        assert!(report[timing].as_f64().is_some_and(|seconds| seconds > 0.0), "{timing}: {}", report[timing]);
    }
    let nodes = report["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 10, "a ministry, a province, two districts and six schools");
    for node in nodes.iter().filter(|node| node["level"] != "school") {
        assert_eq!(node["held"]["incident"], 0, "{} holds raw incidents", node["org_id"]);
    }
}

/// A seed decides the records and the released values, and what the demo
/// prints is only what the seed decides; it prints in the language asked.
#[test]
fn the_same_seed_prints_the_same_demo_in_the_language_asked() {
    let printed = || {
        let output = run(&["demo", "--seed", "11", "--language", "vi", "--school-year", "2024-2025"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        // The first line has the timings and the last the temporary directory's name.
        let stdout = text(&output.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        lines[1..lines.len() - 1].join("\n")
    };
    let (first, second) = (printed(), printed());
    assert_eq!(first, second, "the same seed, another demo");
    assert!(first.contains("Đã kiểm tra từ Bộ xuống") && first.contains("ĐƠN VỊ"), "{first}");
    assert!(!first.contains("ORGANISATION") && !first.contains("Verified"), "English in a Vietnamese demo: {first}");
}

#[test]
fn a_vietnamese_spreadsheet_imports_once_and_a_file_with_three_bad_rows_stores_nothing() {
    use crate::harness::{expect_ok, path, run, start_lone_node, text};
    let root = tempfile::tempdir().expect("tempdir");
    let (node, _) = start_lone_node(&root.path().join("school"), "VN.BT.D03.S017", "school");
    let url = node.endpoint();
    let commitments = || {
        let listed = expect_ok(&["record", "list", "--kind", "commitment", "--node", &url]);
        text(&listed.stdout).lines().last().unwrap_or_default().to_owned()
    };

    // The XLSX template, headers in Vietnamese, imported untouched: its example row is named
    // and nothing is stored.
    let template = root.path().join("cam-ket.xlsx");
    expect_ok(&["template", "commitment", "--format", "xlsx", "--language", "vi", "--out", path(&template)]);
    let untouched = run(&["import", path(&template), "--kind", "commitment", "--node", &url, "--language", "vi"]);
    assert_eq!(untouched.status.code(), Some(2), "{}", text(&untouched.stderr));
    assert!(text(&untouched.stderr).contains("dòng ví dụ của mẫu"), "{}", text(&untouched.stderr));
    assert_eq!(commitments(), "0 record(s), newest first", "the example never imports");

    // The CSV template with the example made the school's own row imports; again, nothing new.
    let own = root.path().join("cam-ket-own.csv");
    expect_ok(&["template", "commitment", "--format", "csv", "--language", "vi", "--out", path(&own)]);
    std::fs::write(&own, std::fs::read_to_string(&own).expect("read").replacen("VÍ DỤ: ", "", 1)).expect("write");
    let imported = expect_ok(&["import", path(&own), "--kind", "commitment", "--node", &url]);
    assert!(text(&imported.stdout).contains("1 stored, 0 already held"), "{}", text(&imported.stdout));
    let again = expect_ok(&["import", path(&own), "--kind", "commitment", "--node", &url]);
    assert!(text(&again.stdout).contains("0 stored, 1 already held"), "{}", text(&again.stdout));
    assert_eq!(commitments(), "1 record(s), newest first");

    // Three bad rows among five: all three named, nothing stored.
    let sheet = root.path().join("cam-ket.csv");
    // A comma inside a label is quoted, as a spreadsheet program writes it.
    std::fs::write(
        &sheet,
        "Loại cam kết,Người ký,Số chữ ký,Ngày ký,Năm học\n\
         \"Cam kết của cán bộ, giáo viên, nhân viên\",Giáo viên,10,2025-09-08,2025-2026\n\
         staff_pledge,Giáo viên,mười,2025-09-08,2025-2026\n\
         staff_pledge,Nhân viên,11,2025-09-09,2025-2026\n\
         staff_pledge,Hiệu phó,12,2025-09-08,2025-2026\n\
         staff_pledge,Giáo viên,13,2024-09-08,2025-2026\n",
    )
    .expect("written");
    let refused = run(&["import", path(&sheet), "--kind", "commitment", "--node", &url]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    let stderr = text(&refused.stderr);
    for named in [
        "row 3, column `Số chữ ký`, value `mười`",
        "row 5, column `Người ký`, value `Hiệu phó`",
        "row 6, column `Ngày ký`",
    ] {
        assert!(stderr.contains(named), "{named} in {stderr}");
    }
    assert!(stderr.contains("nothing was stored"), "{stderr}");
    assert_eq!(commitments(), "1 record(s), newest first", "nothing stored");

    // With --skip-invalid the two good rows go in and the three bad ones wait in a rejects file.
    let rejects = root.path().join("rejects.csv");
    let partial = expect_ok(&[
        "import",
        path(&sheet),
        "--kind",
        "commitment",
        "--skip-invalid",
        "--rejects",
        path(&rejects),
        "--node",
        &url,
    ]);
    assert!(text(&partial.stdout).contains("2 stored"), "{}", text(&partial.stdout));
    let rejected = std::fs::read_to_string(&rejects).expect("rejects written");
    assert_eq!(rejected.lines().count(), 4, "a header and the three bad rows: {rejected}");
    assert!(rejected.lines().next().is_some_and(|header| header.ends_with(",reason")), "{rejected}");
    assert_eq!(commitments(), "3 record(s), newest first");

    // Newest first, a page at a time: the two just imported, then the one before them.
    let ids = |args: &[&str]| -> Vec<String> {
        let listed = expect_ok(&[&["record", "list", "--kind", "commitment", "--ids", "--node", &url], args].concat());
        text(&listed.stdout).lines().map(str::to_owned).collect()
    };
    let all = ids(&[]);
    assert_eq!(all.len(), 3);
    let first_page = expect_ok(&["record", "list", "--kind", "commitment", "--limit", "2", "--node", &url]);
    let first_page = text(&first_page.stdout);
    let footer = first_page.lines().last().unwrap_or_default();
    let token = footer.split("--page ").nth(1).unwrap_or_else(|| panic!("a token for the older ones: {first_page}"));
    assert!(footer.starts_with("2 record(s), newest first; older ones"), "{footer}");
    assert_eq!(ids(&["--page", token]), all[2..], "the older page holds the rest, once");
    // A token this node never issued is bad input, not a damaged store.
    let forged = run(&["record", "list", "--page", "abcdef0123", "--node", &url]);
    assert_eq!(forged.status.code(), Some(2), "{}", text(&forged.stderr));
    assert!(text(&forged.stderr).contains("page_token"), "{}", text(&forged.stderr));
    let seq = |id: &str| {
        let shown = expect_ok(&["record", "show", id, "--json", "--node", &url]);
        let shown: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
        shown["header"]["seq"].as_u64().expect("a seq")
    };
    assert!(seq(&all[0]) > seq(&all[1]) && seq(&all[1]) > seq(&all[2]), "newest at the top: {all:?}");
}

/// The reasons a school's operator reads, whoever found them (this command
/// or the node), in the language of the locale, of the node's config, or of
/// `--language`, in that order of strength from weakest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_read_in_vietnamese_chinese_or_english_as_the_locale_config_or_flag_says() {
    let root = tempfile::tempdir().expect("tempdir");
    let (node, _) = start_lone_node(&root.path().join("school"), "VN.BT.D03.S017", "school");
    let url = node.endpoint();
    let sheet = root.path().join("cam-ket.csv");
    std::fs::write(
        &sheet,
        "Loại cam kết,Người ký,Số chữ ký,Ngày ký,Năm học\nstaff_pledge,Giáo viên,mười,2025-09-08,2025-2026\n",
    )
    .expect("written");
    let import = ["import", sheet.to_str().expect("utf-8"), "--kind", "commitment", "--node", &url];
    let refused_in = |environment: &[(&str, &str)], extra: &[&str]| {
        let args: Vec<&str> = import.iter().chain(extra).copied().collect();
        let output = run_with_environment(&args, environment);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
        text(&output.stderr)
    };

    let vietnamese = refused_in(&[("LANG", "vi_VN.UTF-8")], &[]);
    assert!(
        vietnamese.contains("dòng 2, cột `Số chữ ký`, giá trị `mười`: `mười` không phải là số nguyên"),
        "{vietnamese}"
    );
    assert!(vietnamese.contains("lỗi: chưa lưu gì; hãy sửa 1 dòng ở trên"), "{vietnamese}");

    let chinese = refused_in(&[("LANG", "vi_VN.UTF-8"), ("LC_ALL", "zh_CN.UTF-8")], &[]);
    assert!(chinese.contains("第 2 行，列“Số chữ ký”，值“mười”：“mười”不是整数"), "{chinese}");
    assert!(chinese.contains("错误：") || chinese.contains("错误: "), "{chinese}");

    let english = refused_in(&[("LANG", "vi_VN.UTF-8")], &["--language", "en"]);
    assert!(english.contains("row 2, column `Số chữ ký`, value `mười`: `mười` is not a whole number"), "{english}");
    assert!(english.contains("error: nothing was stored"), "{english}");

    let unknown_locale = refused_in(&[("LANG", "fr_FR.UTF-8")], &[]);
    assert!(unknown_locale.contains("is not a whole number"), "English is the fallback: {unknown_locale}");

    // A refusal only the node can find (the follow-up names a record it does
    // not hold) travels as a value and reads in the caller's language.
    let mut follow_up = incident_json();
    let missing = "ab".repeat(32);
    follow_up["follow_up_of"] = json!(missing);
    let input = root.path().join("follow-up.json");
    std::fs::write(&input, follow_up.to_string()).expect("written");
    let add = ["record", "add", "incident", "--file", input.to_str().expect("utf-8"), "--node", &url];
    let output = run_with_environment(&add, &[("LANG", "vi_VN.UTF-8")]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains(&format!("nút trả lời: follow_up_of: không có bản ghi {missing} được lưu ở đây")),
        "{}",
        text(&output.stderr)
    );
    let output = run_with_environment(&add, &[("LANG", "zh_CN.UTF-8")]);
    assert!(text(&output.stderr).contains(&format!("此处没有存储记录 {missing}")), "{}", text(&output.stderr));

    // The node's config names a language: it wins over the locale, and
    // --language still wins over it.
    let config = root.path().join("school/node.toml");
    let written = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, written.replacen("[node]\n", "[node]\nlanguage = \"zh\"\n", 1)).expect("config");
    let configured = refused_in(&[("LANG", "vi_VN.UTF-8")], &[]);
    assert!(configured.contains("“mười”不是整数"), "{configured}");
    let flagged = refused_in(&[("LANG", "vi_VN.UTF-8")], &["--language", "vi"]);
    assert!(flagged.contains("không phải là số nguyên"), "{flagged}");
    drop(node);
}

/// The benchmark is a command, not a timed test; this runs it tiny, to keep
/// every measurement working: one JSON document on standard output with
/// each figure and target, the table on standard error.
#[test]
fn the_bench_command_measures_every_figure_and_prints_one_json_document() {
    let output = run(&[
        "bench",
        "--children",
        "2",
        "--records-per-child",
        "40",
        "--catch-up-records",
        "100",
        "--schools",
        "3",
        "--districts",
        "2",
        "--verification-sample",
        "200",
        "--check",
    ]);
    // A tiny debug run may or may not keep the targets; `--check` must say
    // which it missed, and only those, after the whole report.
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    let missed: Vec<&str> = report["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|target| target["holds"] == false)
        .filter_map(|target| target["name"].as_str())
        .collect();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.success(), missed.is_empty(), "{stderr}");
    for name in &missed {
        assert!(stderr.contains("targets not held on this machine: ") && stderr.contains(name), "{stderr}");
    }
    assert_eq!(report["ingest"]["children"], 2);
    assert!(report["ingest"]["records_per_second"].as_f64().is_some_and(|rate| rate > 0.0), "{report}");
    assert!(report["ingest"]["idle_rss_bytes"].as_u64().is_some_and(|bytes| bytes > 1024 * 1024), "{report}");
    assert_eq!(report["catch_up"]["records"], 100);
    assert_eq!(report["rederive"]["schools"], 3);
    assert!(report["rederive"]["revisions_from_district"].as_u64().is_some_and(|count| count > 0), "{report}");
    assert_eq!(report["targets"].as_array().map(Vec::len), Some(4));
    let table = text(&output.stderr);
    assert!(table.contains("| target | measured | bound | holds |"), "{table}");
    assert!(table.contains("| catch-up of one school's 100 records, batch 1024 |"), "{table}");

    let disclose = run(&["bench", "disclose", "--units", "6,12", "--json"]);
    assert!(disclose.status.success(), "{}", text(&disclose.stderr));
    let report: Value = serde_json::from_slice(&disclose.stdout).expect("one JSON document");
    assert_eq!(report["points"][1]["units"], 12, "{report}");
    assert!(report["points"][1]["seconds"].as_f64().is_some_and(|seconds| seconds > 0.0), "{report}");
    assert!(report["points"][1]["hidden"].as_u64() < report["points"][1]["values"].as_u64(), "{report}");
    let refused = run(&["bench", "disclose", "--units", "0"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("--units"), "{}", text(&refused.stderr));
}

#[test]
fn the_simulate_command_converges_a_small_province_and_refuses_impossible_settings() {
    let output = run(&[
        "bench",
        "simulate",
        "--schools",
        "9",
        "--districts",
        "3",
        "--writing-days",
        "4",
        "--seed",
        "11",
        "--cut-probability",
        "0.3",
        "--json",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let run_report: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(run_report["logs_identical_at_parents"], 12, "{run_report}");
    assert_eq!(run_report["incident_cases_in_province_total"], run_report["incidents_given_to_schools"]);
    assert_eq!(run_report["traffic"]["envelopes_stored"], run_report["shared_envelopes"], "{run_report}");

    let refused = run(&["bench", "simulate", "--schools", "2", "--districts", "3"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("--districts"), "{}", text(&refused.stderr));
}

/// Peak resident memory of one `edusync` run, from GNU time, and its output.
fn peak_memory_mib(args: &[&str]) -> (u64, std::process::Output) {
    let output = std::process::Command::new("/usr/bin/time")
        .arg("-f")
        .arg("peak-kib=%M")
        .arg(crate::harness::edusync_bin())
        .args(args)
        .output()
        .expect("GNU time runs (Debian's `time` package)");
    let stderr = text(&output.stderr);
    let kib: u64 = stderr
        .lines()
        .find_map(|line| line.strip_prefix("peak-kib="))
        .and_then(|kib| kib.trim().parse().ok())
        .expect("GNU time printed the peak");
    (kib / 1024, output)
}

/// A workbook whose first sheet inflates to `inflated_mib` MiB of spaces.
fn xlsx_bomb(path: &std::path::Path, inflated_mib: usize) {
    use std::io::Write;
    let mut archive = zip::ZipWriter::new(std::fs::File::create(path).expect("create"));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    archive.start_file("xl/worksheets/sheet1.xml", options).expect("part");
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..inflated_mib {
        archive.write_all(&spaces).expect("write");
    }
    archive.finish().expect("finish");
}

/// A workbook whose first sheet has `rows` × `columns` cells, all naming the
/// one shared string of `length` characters.
fn xlsx_with_one_shared_string(path: &std::path::Path, rows: usize, columns: usize, length: usize) {
    use std::io::Write;
    let mut archive = zip::ZipWriter::new(std::fs::File::create(path).expect("create"));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut part = |name: &str, body: &[u8]| {
        archive.start_file(name, options).expect("part");
        archive.write_all(body).expect("write");
    };
    part(
        "xl/workbook.xml",
        br#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
    );
    part(
        "xl/_rels/workbook.xml.rels",
        br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
    );
    part(
        "xl/sharedStrings.xml",
        format!(r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>{}</t></si></sst>"#, "x".repeat(length)).as_bytes(),
    );
    let mut sheet =
        String::from(r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#);
    for row in 1..=rows {
        sheet.push_str(&format!(r#"<row r="{row}">"#));
        for column in 0..columns {
            let letter = char::from(b'A' + column as u8);
            sheet.push_str(&format!(r#"<c r="{letter}{row}" t="s"><v>0</v></c>"#));
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    part("xl/worksheets/sheet1.xml", sheet.as_bytes());
    archive.finish().expect("finish");
}

/// Decompression bombs and oversized sheets are refused with the limit
/// named, before they inflate, in bounded memory; nothing reaches a node.
#[test]
fn spreadsheet_bombs_are_refused_by_their_limit_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nowhere = "http://127.0.0.1:9";
    let import = |file: &std::path::Path| {
        peak_memory_mib(&["import", path(file), "--kind", "commitment", "--node", nowhere, "--language", "en"])
    };

    let bomb = dir.path().join("bomb.xlsx");
    xlsx_bomb(&bomb, 1024);
    assert!(std::fs::metadata(&bomb).expect("size").len() < 4 << 20, "a small file");
    let (peak, output) = import(&bomb);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("decompression bomb"), "{}", text(&output.stderr));
    assert!(peak < 100, "refusing a 1 GiB bomb took {peak} MiB");

    // Two cells a million rows and 16,000 columns apart: tiny, but a sheet
    // laid out as rows × columns would ask for 17 billion cells.
    let corners = dir.path().join("corners.xlsx");
    {
        use std::io::Write;
        let mut archive = zip::ZipWriter::new(std::fs::File::create(&corners).expect("create"));
        let options = zip::write::SimpleFileOptions::default();
        archive.start_file("xl/worksheets/sheet1.xml", options).expect("part");
        archive
            .write_all(
                br#"<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData></worksheet>"#,
            )
            .expect("write");
        archive.finish().expect("finish");
    }
    let (peak, output) = import(&corners);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("row 1048576, column 16384"), "{}", text(&output.stderr));
    assert!(peak < 100, "refusing far-apart cells took {peak} MiB");

    let rows = dir.path().join("rows.csv");
    let mut csv = String::from("Loại cam kết,Người ký,Số chữ ký,Ngày ký,Năm học\n");
    for _ in 0..150_000 {
        csv.push_str("x,y,1,2024-09-01,2024-2025\n");
    }
    std::fs::write(&rows, csv).expect("write");
    let (peak, output) = import(&rows);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("more than 100000 rows"), "{}", text(&output.stderr));
    assert!(peak < 200, "refusing 150,000 rows took {peak} MiB");

    let long = dir.path().join("long.csv");
    std::fs::write(&long, format!("Loại cam kết\n{}\n", "a".repeat(10_000))).expect("write");
    let (_, output) = import(&long);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("at most 4096"), "{}", text(&output.stderr));

    // 500,000 cells naming one shared string of 4,096 characters: 1.6 MB
    // that a reader expanding every cell would make 2 GB of.
    let shared = dir.path().join("shared.xlsx");
    xlsx_with_one_shared_string(&shared, 100_000, 5, 4_096);
    let (peak, output) = import(&shared);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("more than 32 MiB of text"), "{}", text(&output.stderr));
    assert!(peak < 150, "refusing 500,000 copies of one long string took {peak} MiB");

    // Parts a reader keeps whole, padded with millions of small entries: a
    // sheet list of 700,000 sheets, a table of 6 million empty strings.
    for (name, part, entry, count, limit) in [
        (
            "sheets.xlsx",
            "xl/workbook.xml",
            &br#"<sheet name="" sheetId="1" r:id="rId1"/>"#[..],
            700_000,
            "more than 4 MiB",
        ),
        ("strings.xlsx", "xl/sharedStrings.xml", &b"<si/>"[..], 6_000_000, "more than 1000000 shared strings"),
    ] {
        use std::io::Write;
        let file = dir.path().join(name);
        let mut archive = zip::ZipWriter::new(std::fs::File::create(&file).expect("create"));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        archive.start_file(part, options).expect("part");
        archive.write_all(b"<root>").expect("write");
        archive.write_all(&entry.repeat(count)).expect("write");
        archive.write_all(b"</root>").expect("write");
        archive.finish().expect("finish");
        let (peak, output) = import(&file);
        assert_eq!(output.status.code(), Some(2), "{name}: {}", text(&output.stderr));
        assert!(text(&output.stderr).contains(limit), "{name}: {}", text(&output.stderr));
        assert!(peak < 100, "refusing {name} took {peak} MiB");
    }

    // One record of 31 million empty fields.
    let fields = dir.path().join("fields.csv");
    std::fs::write(&fields, vec![b','; 31 << 20]).expect("write");
    let (peak, output) = import(&fields);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("row 1: more than 256 fields"), "{}", text(&output.stderr));
    assert!(peak < 100, "refusing a record of 31 million fields took {peak} MiB");

    // 100,000 rows of 30 one-letter cells: within every other limit.
    let wide = dir.path().join("wide.csv");
    std::fs::write(&wide, format!("{}\n", ["a"; 30].join(",")).repeat(100_000)).expect("write");
    let (peak, output) = import(&wide);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("more than 2000000 cells"), "{}", text(&output.stderr));
    assert!(peak < 200, "refusing 3 million cells took {peak} MiB");

    let huge = dir.path().join("huge.csv");
    std::fs::write(&huge, vec![b' '; 40 << 20]).expect("write");
    let (peak, output) = import(&huge);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("at most 33554432 bytes (32 MiB)"), "{}", text(&output.stderr));
    assert!(peak < 100, "refusing a 40 MiB file took {peak} MiB");
}

/// `edusync record list | head`: when the reader goes away, the command stops
/// quietly with the status of a command ended by SIGPIPE, never a panic.
#[test]
fn a_closed_pipe_ends_a_listing_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, _) = start_lone_node(dir.path(), "VN.BT.D03.S017", "school");
    let config = dir.path().join("node.toml");
    let mut child = std::process::Command::new(crate::harness::edusync_bin())
        .args(["record", "list", "--node", &node.endpoint(), "--config", path(&config)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    // The reader hangs up before reading a byte.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("exits");
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(matches!(output.status.code(), Some(141) | Some(0)), "exit {:?}: {stderr}", output.status.code());
    drop(node);
}

/// `keys generate --out root.key` writes root.pub beside it, which
/// `audit verify --anchor` and the trust anchors take; neither is overwritten.
#[test]
fn a_generated_key_comes_with_its_public_key_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("root.key");
    let generated = run(&["keys", "generate", "--out", path(&key)]);
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    let printed = text(&generated.stdout);
    let public = std::fs::read_to_string(dir.path().join("root.pub")).expect("root.pub written");
    assert!(printed.contains(public.trim()), "the file holds the printed public key: {printed} / {public}");
    let again = run(&["keys", "generate", "--out", path(&key)]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
}
