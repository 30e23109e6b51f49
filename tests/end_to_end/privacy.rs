//! Canary test: what identifies a child never leaves the school. Names,
//! student numbers, birth dates, phone numbers and narrative phrases are
//! planted at a school; none of them, in any of several encodings, appears in
//! a byte that the district, province or ministry receives or stores, or in a
//! log line of any node — while the school's counts do reach the ministry.

use std::time::Duration;

use base64::Engine;
use serde_json::json;

use edusync_core::Record;
use edusync_proto::wire;

use crate::harness::{
    bytes_below, enrol, free_port, prepare, records_client, run, text, wait_until, NodeProcess, NodeSpec,
    RecordingProxy,
};

const SCHOOL: &str = "VN.BT.D03.S017";
const DISTRICT: &str = "VN.BT.D03";
const PROVINCE: &str = "VN.BT";
const MINISTRY: &str = "VN";

const CANARIES: &[&str] = &[
    "Phạm Thị Hoàng Yến Canary",
    "张小明金丝雀",
    "Lưu Đức Chim Hoàng Yến",
    "HS-CANARY-7731",
    "HS-CANARY-8842",
    "2011-07-29",
    "29/07/2011",
    "0912 345 678",
    "0912345678",
    "bị nhốt trong nhà kho phía sau căng tin",
    "被关在食堂后面的仓库里",
];

/// The forms a leak could take: as written, lower-cased, hex, base64 and SHA-256.
fn forms(canary: &str) -> Vec<(String, Vec<u8>)> {
    use sha2::Digest;
    let bytes = canary.as_bytes();
    let lower = canary.to_lowercase();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        ("as written".into(), bytes.to_vec()),
        ("lower-cased".into(), lower.into_bytes()),
        ("hex".into(), hex.clone().into_bytes()),
        ("HEX".into(), hex.to_uppercase().into_bytes()),
        ("base64".into(), base64::engine::general_purpose::STANDARD.encode(bytes).into_bytes()),
        (
            "sha-256".into(),
            sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>().into_bytes(),
        ),
        ("sha-256 raw".into(), sha2::Sha256::digest(bytes).to_vec()),
    ]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_numbers_dates_phones_and_narratives_never_leave_the_school() {
    let root = tempfile::tempdir().expect("tempdir");
    let [district_port, province_port, ministry_port] = [free_port(), free_port(), free_port()];
    let to_district = RecordingProxy::start(district_port).await;
    let to_province = RecordingProxy::start(province_port).await;
    let to_ministry = RecordingProxy::start(ministry_port).await;

    // The default: zstd on every link. What crosses is searched raw and as the
    // gRPC messages read back from the HTTP/2 frames, decompressed.
    let spec = |org, level, port, parent| NodeSpec { org, level, port, parent, batch_size: 64, compression: "zstd" };
    let (ministry_config, _) = prepare(&root.path().join("ministry"), &spec(MINISTRY, "ministry", ministry_port, None));
    let (province_config, _) = prepare(
        &root.path().join("province"),
        &spec(PROVINCE, "province", province_port, Some((MINISTRY, to_ministry.port))),
    );
    let (district_config, _) = prepare(
        &root.path().join("district"),
        &spec(DISTRICT, "district", district_port, Some((PROVINCE, to_province.port))),
    );
    let (school_config, _) =
        prepare(&root.path().join("school"), &spec(SCHOOL, "school", 0, Some((DISTRICT, to_district.port))));
    enrol(&province_config, &ministry_config);
    enrol(&district_config, &province_config);
    enrol(&school_config, &district_config);
    let nodes = [
        NodeProcess::start(&ministry_config),
        NodeProcess::start(&province_config),
        NodeProcess::start(&district_config),
        NodeProcess::start(&school_config),
    ];
    let school = &nodes[3];

    let incident = json!({
        "occurred_at": "2025-10-14T09:30:00+07:00",
        "detected_at": "2025-10-14T10:00:00+07:00",
        "reported_to_school_at": "2025-10-14T10:15:00+07:00",
        "reported_upward_at": "2025-10-14T12:00:00+07:00",
        "place": "canteen", "category": "physical", "severity": "severe", "intake_channel": "parent",
        "people": [
            {"role": "victim", "name": CANARIES[0], "student_number": CANARIES[3], "sex": "female",
             "birth_date": CANARIES[5], "grade": 8, "at_risk_groups": ["left_behind"]},
            {"role": "perpetrator", "name": CANARIES[1], "student_number": CANARIES[4], "sex": "male", "grade": 9}
        ],
        "narrative": format!("Em {} {} (mẹ: {}, {}). {}", CANARIES[0], CANARIES[9], CANARIES[7], CANARIES[8], CANARIES[10]),
        "measures_taken": format!("Gọi phụ huynh qua số {}; sinh ngày {}", CANARIES[8], CANARIES[6]),
        "status": "investigating"
    });
    let register = json!({
        "period": "2025-2026/S1", "screened_on": "2025-10-20",
        "counts": [{"group": "left_behind", "count": 2}],
        "students": [{"name": CANARIES[2], "student_number": CANARIES[3], "group": "left_behind", "grade": 8}]
    });
    let report = json!({
        "period": "2025-2026/S1", "submitted_on": "2026-01-20", "awareness_sessions": 2, "staff_total": 30,
        "staff_informed": 30, "staff_trained": 20, "commitments_signed": 30, "counselling_team_in_place": true,
        "psychological_screenings": 1, "home_visits": 3, "parent_meetings": 1,
        "remarks": format!("Theo dõi em {} ({}), điện thoại {}", CANARIES[2], CANARIES[3], CANARIES[7])
    });
    for (kind, value) in [("incident", incident), ("risk_register", register), ("periodic_report", report)] {
        let path = root.path().join(format!("{kind}.json"));
        std::fs::write(&path, value.to_string()).expect("write");
        let added =
            run(&["record", "add", kind, "--file", path.to_str().expect("utf-8"), "--node", &school.endpoint()]);
        assert!(added.status.success(), "{kind}: {}", text(&added.stderr));
    }

    // The school's counts reach the ministry: its aggregate for the year shows the case.
    let ministry_endpoint = nodes[0].endpoint();
    wait_until(Duration::from_secs(60), "the ministry's aggregate to include the school's incident", || {
        let endpoint = ministry_endpoint.clone();
        async move { ministry_cases(&endpoint).await == Some(1) }
    })
    .await;

    // An auditor checks the totals from each level down, with proofs, from the command line.
    for node in [&nodes[2], &nodes[0]] {
        let checked = run(&["rollup", "--period", "2025-2026", "--node", &node.endpoint(), "--json"]);
        assert!(checked.status.success(), "rollup at {}: {}", node.endpoint(), text(&checked.stderr));
        let report: serde_json::Value = serde_json::from_slice(&checked.stdout).expect("JSON");
        assert_eq!(report["verified"], true);
        assert_eq!(report["incident_cases"], 1);
        assert_eq!(report["children"].as_array().map(Vec::len), Some(1));
    }
    drop(nodes);

    // Positive control: the search finds the canaries where they belong.
    let school_bytes: Vec<u8> =
        bytes_below(&root.path().join("school/data")).into_iter().flat_map(|(_, bytes)| bytes).collect();
    for canary in [CANARIES[0], CANARIES[3], CANARIES[9]] {
        assert!(contains(&school_bytes, canary.as_bytes()), "the school's own store should hold {canary}");
    }

    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    for level in ["district", "province", "ministry"] {
        for (path, bytes) in bytes_below(&root.path().join(level)) {
            places.push((format!("{level}: {}", path.display()), bytes));
        }
    }
    // The school's own log too: log lines may name records, never children.
    let school_log = std::fs::read(root.path().join("school/node.log")).expect("school log");
    places.push(("school log".into(), school_log));
    places.push(("bytes received by the district".into(), to_district.captured()));
    places.push(("bytes received by the province".into(), to_province.captured()));
    places.push(("bytes received by the ministry".into(), to_ministry.captured()));
    for (link, proxy) in [("district", &to_district), ("province", &to_province), ("ministry", &to_ministry)] {
        let (messages, compressed) = proxy.grpc_messages();
        assert!(compressed > 0, "nothing crossed to the {link} compressed: the test would not read what zstd hides");
        // Empty messages (requests without fields) hold nothing to search.
        for (index, message) in messages.into_iter().enumerate().filter(|(_, message)| !message.is_empty()) {
            places.push((format!("gRPC message {index} to the {link}, decompressed"), message));
        }
    }
    assert!(places.iter().all(|(_, bytes)| !bytes.is_empty()), "every place searched holds something");

    let mut leaks = Vec::new();
    for canary in CANARIES {
        for (form, needle) in forms(canary) {
            for (place, bytes) in &places {
                if contains(bytes, &needle) {
                    leaks.push(format!("{canary:?} ({form}) in {place}"));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "canaries left the school:\n{}", leaks.join("\n"));
}

/// Incident cases in the ministry's own latest school-year aggregate.
async fn ministry_cases(endpoint: &str) -> Option<u64> {
    let mut client = records_client(endpoint).await;
    let request = wire::ListRecordsRequest {
        kind: wire::RecordKind::Aggregate as i32,
        org_prefix: MINISTRY.into(),
        limit: 1000,
        ..Default::default()
    };
    let records = client.list_records(request).await.ok()?.into_inner().records;
    records
        .into_iter()
        .filter_map(|stored| Record::try_from(stored.record?).ok())
        .filter_map(|record| match record {
            Record::Aggregate(aggregate) if aggregate.org.as_str() == MINISTRY && !aggregate.period.is_semester() => {
                Some(aggregate)
            }
            _ => None,
        })
        .max_by_key(|aggregate| aggregate.revision)
        .map(|aggregate| aggregate.total.incident_cases())
}
