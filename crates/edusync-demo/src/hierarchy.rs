//! Building, filling, syncing and summarising a whole hierarchy in one process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::net::TcpListener;

use edusync_config::NodeConfig;
use edusync_core::{
    Cell, Investigation, Level, LogStream, Notified, OrgId, Period, Record, RecordId, RecordKind, SchoolYear, Severity,
};
use edusync_envelope::NodeKey;
use edusync_envelope::VerifiedEnvelope;
use edusync_node::{certify_by_anchor, enrol_in_process, init_key, load_key, open_session, NodeError, RunningNode};
use edusync_proto::wire;
use edusync_proto::wire::record_service_client::RecordServiceClient;

use crate::synth::{plan, school_year_records, SchoolProfile};

const PROVINCES: &[(&str, &str)] = &[
    ("BT", "Sở GD&ĐT Bến Tre"),
    ("QN", "Sở GD&ĐT Quảng Ninh"),
    ("HCM", "Sở GD&ĐT TP. Hồ Chí Minh"),
    ("HN", "Sở GD&ĐT Hà Nội"),
];
const DISTRICTS: &[&str] =
    &["Châu Thành", "Mỏ Cày Nam", "Giồng Trôm", "Ba Tri", "Bình Đại", "Thạnh Phú", "Chợ Lách", "Mỏ Cày Bắc"];
const SCHOOLS: &[&str] = &[
    "Trường THCS Phú Hưng",
    "Trường Tiểu học An Hội",
    "Trường THCS Mỹ Thạnh An",
    "Trường Mầm non Hoa Sen",
    "Trường THPT Nguyễn Đình Chiểu",
    "Trường THCS Sơn Đông",
    "Trường Tiểu học Phú Khương",
    "Trường THCS Bình Phú",
];
const CONVERGENCE_LIMIT: Duration = Duration::from_secs(25);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo options: {0}")]
    Options(String),
    #[error("cannot prepare the demo directory {path}: {reason}")]
    Directory { path: String, reason: String },
    #[error("the hierarchy synced but does not verify: {0}")]
    Unverified(String),
    #[error("node {org}: {reason}")]
    Node { org: String, reason: String },
    #[error("the hierarchy did not converge within {0:?}; see the log lines above for the failing link")]
    NoConvergence(Duration),
}

#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub provinces: usize,
    pub districts_per_province: usize,
    pub schools_per_district: usize,
    /// Keep every node's config and store here; a temporary directory otherwise.
    pub dir: Option<PathBuf>,
    pub seed: u64,
    pub school_year: SchoolYear,
}

/// Record counts by kind.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct KindCounts {
    pub plan: u64,
    pub incident: u64,
    pub periodic_report: u64,
    pub commitment: u64,
    pub risk_register: u64,
    pub aggregate: u64,
    pub severe_notice: u64,
    pub policy: u64,
}

impl KindCounts {
    fn add(&mut self, kind: RecordKind, count: u64) {
        match kind {
            RecordKind::Plan => self.plan += count,
            RecordKind::Incident => self.incident += count,
            RecordKind::PeriodicReport => self.periodic_report += count,
            RecordKind::Commitment => self.commitment += count,
            RecordKind::RiskRegister => self.risk_register += count,
            RecordKind::Aggregate => self.aggregate += count,
            RecordKind::SevereNotice => self.severe_notice += count,
            RecordKind::Policy => self.policy += count,
        }
    }

    pub fn total(&self) -> u64 {
        self.plan
            + self.incident
            + self.periodic_report
            + self.commitment
            + self.risk_register
            + self.aggregate
            + self.severe_notice
            + self.policy
    }
}

/// What one node holds at the end of the demo.
#[derive(Clone, Debug, Serialize)]
pub struct NodeSummary {
    pub org_id: String,
    pub level: String,
    pub display_name: String,
    pub address: String,
    /// Records this node wrote itself.
    pub own: KindCounts,
    /// Records received from its children, by child.
    pub from_children: BTreeMap<String, u64>,
    /// Everything held, by kind.
    pub held: KindCounts,
    /// Highest sequence of its shared log, and how much of it the parent acknowledged.
    pub shared_log_head: u64,
    pub acknowledged_by_parent: Option<u64>,
    pub equivocations: usize,
    /// The node's latest signed aggregate for the school year.
    pub totals: Option<Totals>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DemoReport {
    pub school_year: String,
    pub directory: String,
    pub kept: bool,
    pub nodes: Vec<NodeSummary>,
    pub records_written: u64,
    pub fill_seconds: f64,
    pub sync_seconds: f64,
    pub total_seconds: f64,
    /// True when every node's parent holds its whole shared log, no raw
    /// record is held above the school that wrote it, and every total checks.
    pub converged: bool,
    pub verification: Verification,
    /// The same totals as a data officer is shown them: released under
    /// differential privacy by each office.
    pub reader_view: Vec<ReaderRow>,
}

/// One row of the reader's view: a unit's incident cases (exact) and how
/// they break down by severity (released, each with its 90% margin).
#[derive(Clone, Debug, Serialize)]
pub struct ReaderRow {
    /// The unit, or `None` for the office's own cases under `parent`.
    pub org_id: Option<String>,
    pub parent: Option<String>,
    pub depth: usize,
    pub minor: Option<edusync_rollup::released::Noisy>,
    pub serious: Option<edusync_rollup::released::Noisy>,
    pub severe: Option<edusync_rollup::released::Noisy>,
    pub cases: u64,
}

/// Totals of one node's latest signed aggregate for the school year.
#[derive(Clone, Debug, Serialize)]
pub struct Totals {
    pub revision: u32,
    pub incident_cases: u64,
    pub minor: u64,
    pub serious: u64,
    pub severe: u64,
    pub notified_within_12_hours: u64,
    pub investigations_overdue: u64,
    pub contributing_schools: u64,
    /// The demographic crosses: "released", "frozen" (budget spent) or "none".
    pub crosses: &'static str,
}

/// The check of the ministry's totals down to the schools' signed aggregates.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub signatures_checked: u64,
    pub roll_ups_checked: u64,
    /// Incident cases in the ministry's signed aggregate.
    pub ministry_incident_cases: u64,
    /// Incident cases counted directly from every school's raw records.
    pub schools_incident_cases: u64,
    pub verified: bool,
    pub problems: Vec<String>,
}

struct Planned {
    org: OrgId,
    level: Level,
    display_name: String,
    parent: Option<usize>,
}

fn plan_tree(options: &DemoOptions) -> Vec<Planned> {
    let mut nodes = vec![Planned {
        org: org("VN"),
        level: Level::Ministry,
        display_name: "Bộ Giáo dục và Đào tạo".into(),
        parent: None,
    }];
    for province in 0..options.provinces {
        let (code, name) = PROVINCES[province % PROVINCES.len()];
        let code = if province < PROVINCES.len() { code.to_owned() } else { format!("{code}{province}") };
        let province_org = org(&format!("VN.{code}"));
        nodes.push(Planned {
            org: province_org.clone(),
            level: Level::Province,
            display_name: name.into(),
            parent: Some(0),
        });
        let province_index = nodes.len() - 1;
        for district in 0..options.districts_per_province {
            let district_org = org(&format!("{province_org}.D{:02}", district + 1));
            nodes.push(Planned {
                org: district_org.clone(),
                level: Level::District,
                display_name: format!("Phòng GD&ĐT {}", DISTRICTS[district % DISTRICTS.len()]),
                parent: Some(province_index),
            });
            let district_index = nodes.len() - 1;
            for school in 0..options.schools_per_district {
                nodes.push(Planned {
                    org: org(&format!("{district_org}.S{:03}", school + 1)),
                    level: Level::School,
                    display_name: SCHOOLS[(district * options.schools_per_district + school) % SCHOOLS.len()].into(),
                    parent: Some(district_index),
                });
            }
        }
    }
    nodes
}

fn org(text: &str) -> OrgId {
    // Every id here is built from fixed ASCII codes and numbers.
    OrgId::parse("org", text).unwrap_or_else(|error| unreachable!("demo org id {text}: {error}"))
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> DemoError + '_ {
    move |error| DemoError::Directory { path: path.display().to_string(), reason: error.to_string() }
}

fn node_error(org: &OrgId) -> impl Fn(String) -> DemoError + '_ {
    move |reason| DemoError::Node { org: org.to_string(), reason }
}

/// Runs the whole demo and returns what each level holds.
pub async fn run_demo(options: DemoOptions) -> Result<DemoReport, DemoError> {
    let (report, kept) = run_demo_kept(options).await?;
    kept.shutdown().await?;
    Ok(report)
}

/// Who may be signed in to the running demo, and how to reach its node: a
/// node's operator (the node's own key) or a data officer (a key the node
/// certified). What `edusync demo --web` serves pages for.
pub struct DemoAccess {
    /// e.g. "operator of VN" or "data officer of VN.BT".
    pub label: String,
    pub org: OrgId,
    pub endpoint: String,
    pub key: std::sync::Arc<NodeKey>,
    /// The certificate chain a reader presents; empty for an operator.
    pub chain: Vec<Vec<u8>>,
}

/// The demo's hierarchy, still running.
pub struct KeptDemo {
    running: Vec<RunningNode>,
    /// The ministry's operator, the first school's operator, and a data
    /// officer of the first province.
    pub access: Vec<DemoAccess>,
    /// Deleted when the demo stops, unless `--dir` named a directory.
    _temporary: Option<tempfile::TempDir>,
}

impl KeptDemo {
    /// Stops every node, children first, so that none is left trying to
    /// reach a parent that has gone.
    pub async fn shutdown(self) -> Result<(), DemoError> {
        for node in self.running.into_iter().rev() {
            let org = node.node().org().clone();
            node.shutdown().await.map_err(|error| node_error(&org)(error.to_string()))?;
        }
        Ok(())
    }
}

/// A data officer of `org`, certified by `org`'s own node as `edusync
/// enroll sign` would: a fresh key and its certificate chain.
fn data_officer(node: &RunningNode, now: chrono::DateTime<chrono::Utc>) -> Result<(NodeKey, Vec<Vec<u8>>), String> {
    let key = NodeKey::generate();
    let org = node.node().org().clone();
    let request = edusync_trust::EnrolmentRequest {
        subject_org: org.clone(),
        role: edusync_trust::Role::DataOfficer,
        parent_org: org,
        subject_key: key.public_key(),
        previous_key: None,
        created_ms: now.timestamp_millis(),
    };
    let text = edusync_trust::armor(&[edusync_trust::Statement::EnrolmentRequest(request).sign(&[&key])]);
    let (chain, _) = node.node().sign_enrolment(&text, None, now).map_err(|error| error.to_string())?;
    let chain = edusync_trust::dearmor(&chain).map_err(|error| error.to_string())?;
    Ok((key, chain))
}

/// As [`run_demo`], leaving the hierarchy running for the caller to stop.
pub async fn run_demo_kept(options: DemoOptions) -> Result<(DemoReport, KeptDemo), DemoError> {
    if options.provinces == 0 || options.districts_per_province == 0 || options.schools_per_district == 0 {
        return Err(DemoError::Options("every level needs at least one node".into()));
    }
    let node_count = 1 + options.provinces * (1 + options.districts_per_province * (1 + options.schools_per_district));
    if node_count > 400 {
        return Err(DemoError::Options(format!("{node_count} nodes is more than this demo runs at once (400)")));
    }
    let started = Instant::now();
    let (temporary, root) = match &options.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
            (None, dir.clone())
        }
        None => {
            let temporary =
                tempfile::Builder::new().prefix("edusync-demo-").tempdir().map_err(io_error(Path::new("/tmp")))?;
            let root = temporary.path().to_path_buf();
            (Some(temporary), root)
        }
    };

    let planned = plan_tree(&options);
    // Keys and listeners first: a parent's config names its children's keys,
    // and a child's config names its parent's address.
    let mut keys = Vec::with_capacity(planned.len());
    let mut listeners = Vec::with_capacity(planned.len());
    for node in &planned {
        let dir = root.join(node.org.as_str());
        if dir.join("node.key").exists() {
            return Err(DemoError::Directory {
                path: dir.display().to_string(),
                reason: "already holds a node; pass an empty --dir".into(),
            });
        }
        init_key(&dir).map_err(|error| node_error(&node.org)(error.to_string()))?;
        keys.push(std::sync::Arc::new(load_key(&dir).map_err(|error| node_error(&node.org)(error.to_string()))?));
        listeners
            .push(TcpListener::bind("127.0.0.1:0").await.map_err(|error| node_error(&node.org)(error.to_string()))?);
    }
    let addresses: Vec<_> = listeners.iter().map(|listener| listener.local_addr().ok()).collect();
    // The ministry's root: three offline keys, any two of which certify the
    // ministry's node. In a real deployment they never meet a running node.
    let roots = [NodeKey::generate(), NodeKey::generate(), NodeKey::generate()];
    let anchors = format!(
        "\n[trust]\nclock_skew_seconds = 600\n\n[[trust.anchors]]\norg_id = \"{}\"\nthreshold = 2\nkeys = [{}]\n",
        planned[0].org,
        roots.iter().map(|key| format!("\"{}\"", key.public_key().to_base64())).collect::<Vec<_>>().join(", ")
    );

    let mut running = Vec::with_capacity(planned.len());
    for (index, (node, listener)) in planned.iter().zip(listeners).enumerate() {
        let dir = root.join(node.org.as_str());
        let address = addresses[index].ok_or_else(|| node_error(&node.org)("no local address".into()))?;
        let mut text = format!(
            "# Written by `edusync demo`.\n[node]\norg_id = \"{}\"\nlevel = \"{}\"\ndisplay_name = \"{}\"\ndata_dir = \".\"\n\n[server]\nlisten = \"{address}\"\n# The demo runs on loopback only.\nplaintext = true\n\n[sync]\nbatch_size = 256\ninterval_seconds = 5\nretry_initial_ms = 100\nretry_max_seconds = 2\n\n[privacy]\ncross_quiet_seconds = 1\n",
            node.org, node.level, node.display_name
        );
        if let Some(parent) = node.parent {
            let parent_address = addresses[parent].ok_or_else(|| node_error(&node.org)("no parent address".into()))?;
            text.push_str(&format!(
                "\n[parent]\norg_id = \"{}\"\nendpoint = \"http://{parent_address}\"\nplaintext = true\n",
                planned[parent].org
            ));
        }
        text.push_str(&anchors);
        // The office's directory of its children, for reports and tables.
        let below: Vec<&Planned> =
            planned.iter().filter(|other| other.org.parent().is_some_and(|parent| parent == node.org)).collect();
        if !below.is_empty() {
            text.push_str("\n[unit_names]\n");
            for unit in below {
                text.push_str(&format!("\"{}\" = \"{}\"\n", unit.org, unit.display_name.replace('"', "'")));
            }
        }
        let config_path = dir.join("node.toml");
        std::fs::write(&config_path, &text).map_err(io_error(&config_path))?;
        let config = NodeConfig::load(&config_path).map_err(|error| node_error(&node.org)(error.to_string()))?;
        let node_handle = RunningNode::start_demo_on(&config, listener, options.seed)
            .await
            .map_err(|error| node_error(&node.org)(error.to_string()))?;
        running.push(node_handle);
    }

    // Enrolment, top down: the roots certify the ministry, and every parent
    // certifies its children exactly as `edusync enroll sign` would.
    let now = chrono::Utc::now();
    let top = &running[0];
    certify_by_anchor(top.node(), &planned[0].org, &[&roots[0], &roots[2]], now)
        .map_err(|error| node_error(&planned[0].org)(error.to_string()))?;
    for (index, node) in planned.iter().enumerate() {
        if let Some(parent) = node.parent {
            enrol_in_process(running[parent].node(), running[index].node(), now)
                .map_err(|error| node_error(&node.org)(error.to_string()))?;
        }
    }

    let fill_started = Instant::now();
    let records_written = fill(&options, &planned, &running, &keys).await?;
    let fill_seconds = fill_started.elapsed().as_secs_f64();

    let sync_started = Instant::now();
    let converged = wait_for_convergence(&running, Period::school_year(options.school_year)).await;
    let sync_seconds = sync_started.elapsed().as_secs_f64();

    let mut nodes = Vec::with_capacity(running.len());
    for (index, node) in running.iter().enumerate() {
        nodes.push(
            summarise(node, &planned, index, Period::school_year(options.school_year))
                .map_err(node_error(&planned[index].org))?,
        );
    }
    let clean = nodes
        .iter()
        .filter(|node| node.level != "school")
        .all(|node| node.held.incident == 0 && node.held.risk_register == 0);
    let verification = verify_from_the_top(&running, &planned, Period::school_year(options.school_year))?;
    let reader_view = reader_view(&running, &planned, Period::school_year(options.school_year));
    let endpoint = |index: usize| addresses[index].map(|address| format!("http://{address}")).unwrap_or_default();
    let mut access = vec![DemoAccess {
        label: format!("operator of {}", planned[0].org),
        org: planned[0].org.clone(),
        endpoint: endpoint(0),
        key: std::sync::Arc::clone(&keys[0]),
        chain: Vec::new(),
    }];
    if let Some(school) = planned.iter().position(|node| node.level == Level::School) {
        access.push(DemoAccess {
            label: format!("operator of {}", planned[school].org),
            org: planned[school].org.clone(),
            endpoint: endpoint(school),
            key: std::sync::Arc::clone(&keys[school]),
            chain: Vec::new(),
        });
    }
    if let Some(province) = planned.iter().position(|node| node.level == Level::Province) {
        let (key, chain) =
            data_officer(&running[province], chrono::Utc::now()).map_err(node_error(&planned[province].org))?;
        access.push(DemoAccess {
            label: format!("data officer of {}", planned[province].org),
            org: planned[province].org.clone(),
            endpoint: endpoint(province),
            key: std::sync::Arc::new(key),
            chain,
        });
    }
    let kept = KeptDemo { running, access, _temporary: None };
    let report = DemoReport {
        school_year: options.school_year.to_string(),
        directory: root.display().to_string(),
        kept: temporary.is_none(),
        nodes,
        records_written,
        fill_seconds,
        sync_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
        converged: converged && clean && verification.verified,
        verification,
        reader_view,
    };
    let kept = KeptDemo { _temporary: temporary, ..kept };
    if !converged {
        kept.shutdown().await?;
        return Err(DemoError::NoConvergence(CONVERGENCE_LIMIT));
    }
    if !report.converged {
        let mut problems = report.verification.problems.clone();
        if !clean {
            problems.push("an office holds raw incidents or risk registers".into());
        }
        kept.shutdown().await?;
        return Err(DemoError::Unverified(problems.join("; ")));
    }
    Ok((report, kept))
}

/// Every node writes its year through its own gRPC API, all schools at once.
async fn fill(
    options: &DemoOptions,
    planned: &[Planned],
    running: &[RunningNode],
    keys: &[std::sync::Arc<NodeKey>],
) -> Result<u64, DemoError> {
    let year = options.school_year;
    let start = i32::from(year.start_year());
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut work: Vec<(usize, Vec<Record>)> = Vec::new();
    let plan_number = |index: usize| format!("{}/KH-{}", 100 + index, planned[index].org.as_str().replace('.', ""));
    for (index, node) in planned.iter().enumerate() {
        let implements = node.parent.map(plan_number);
        let issued = chrono::NaiveDate::from_ymd_opt(start, 8, 10 + (node.org.depth() as u32) * 5).unwrap_or_default();
        let mut records = Vec::new();
        if node.level != Level::School {
            records.push(plan(plan_number(index), &node.org, &node.display_name, year, implements, issued));
        } else {
            let profile = SchoolProfile {
                org: node.org.clone(),
                display_name: node.display_name.clone(),
                staff: rng.gen_range(25..90),
                students: rng.gen_range(300..1500),
                district_plan: implements.unwrap_or_default(),
            };
            let mut school_rng = StdRng::seed_from_u64(rng.gen());
            records = school_year_records(&mut school_rng, &profile, year, 100 + index as u32);
        }
        work.push((index, records));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (index, records) in work {
        let endpoint = format!("http://{}", running[index].address());
        let org = planned[index].org.clone();
        let key = std::sync::Arc::clone(&keys[index]);
        tasks.spawn(async move {
            let channel = tonic::transport::Endpoint::from_shared(endpoint)
                .map_err(|error| node_error(&org)(error.to_string()))?
                .connect()
                .await
                .map_err(|error| node_error(&org)(error.to_string()))?;
            // The operator's session: the node's own key, as `edusync record add --config` uses.
            let session = open_session(channel.clone(), &org, &key, Vec::new())
                .await
                .map_err(|status| node_error(&org)(status.message().to_owned()))?;
            let mut client = RecordServiceClient::with_interceptor(channel, session.bearer);
            let mut written = 0u64;
            for record in records {
                let request = wire::SubmitRecordRequest { record: Some(wire::Record::from(&record)) };
                client.submit_record(request).await.map_err(|status| node_error(&org)(status.message().to_owned()))?;
                written += 1;
            }
            Ok::<u64, DemoError>(written)
        });
    }
    let mut total = 0;
    while let Some(result) = tasks.join_next().await {
        total += result.map_err(|error| DemoError::Options(format!("a fill task failed: {error}")))??;
    }
    Ok(total)
}

/// Converged when, twice in a row, no node has a period left to derive, every
/// parent holds its child's whole shared log, and every node's aggregate for
/// `period` sums exactly the children's latest aggregates it holds (the last
/// is what the verification checks, so it is waited for, not inferred).
async fn wait_for_convergence(running: &[RunningNode], period: Period) -> bool {
    let deadline = Instant::now() + CONVERGENCE_LIMIT;
    let mut quiet_polls = 0;
    loop {
        let quiet = running.iter().all(|node| {
            let idle = matches!(node.node().aggregation_pending(), Ok(false));
            let synced = node.parent_status().is_none_or(|status| {
                let head = node.node().store().head(node.node().org(), LogStream::Shared).ok().flatten();
                status.acknowledged() == head.map_or(0, |(seq, _)| seq.0)
            });
            let summed_latest = !matches!(node.node().roll_up_evidence(period), Err(NodeError::Retry(_)));
            idle && synced && summed_latest
        });
        quiet_polls = if quiet { quiet_polls + 1 } else { 0 };
        if quiet_polls >= 2 {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn summarise(running: &RunningNode, planned: &[Planned], index: usize, period: Period) -> Result<NodeSummary, String> {
    let node = running.node();
    let store = node.store();
    let mut held = KindCounts::default();
    for kind in RecordKind::ALL {
        held.add(*kind, store.count_by_kind(*kind).map_err(|error| error.to_string())?);
    }
    let mut own = KindCounts::default();
    let mut from_children = BTreeMap::new();
    let mut shared_log_head = 0;
    for log in store.logs().map_err(|error| error.to_string())? {
        if log.author_org == *node.org() {
            if log.stream == LogStream::Shared {
                shared_log_head = log.head.0;
            }
            for stored in store
                .read_log(&log.author_org, log.stream, edusync_core::Seq(1), usize::MAX)
                .map_err(|e| e.to_string())?
            {
                own.add(stored.meta.kind, 1);
            }
        } else {
            *from_children.entry(log.author_org.to_string()).or_insert(0) += log.head.0;
        }
    }
    let planned_node = &planned[index];
    Ok(NodeSummary {
        org_id: planned_node.org.to_string(),
        level: planned_node.level.to_string(),
        display_name: planned_node.display_name.clone(),
        address: running.address().to_string(),
        own,
        from_children,
        held,
        shared_log_head,
        acknowledged_by_parent: running.parent_status().map(|status| status.acknowledged()),
        equivocations: store.equivocations().map_err(|error| error.to_string())?.len(),
        totals: node.latest_aggregate(node.org(), period).map_err(|error| error.to_string())?.map(|(_, aggregate)| {
            let total = &aggregate.total;
            let by_severity = |severity: Severity| -> u64 {
                Cell::all()
                    .into_iter()
                    .filter(|cell| matches!(cell, Cell::Cases(_, s, _) if *s == severity))
                    .map(|cell| total.get(cell))
                    .sum()
            };
            Totals {
                revision: aggregate.revision,
                incident_cases: total.incident_cases(),
                minor: by_severity(Severity::Minor),
                serious: by_severity(Severity::Serious),
                severe: by_severity(Severity::Severe),
                notified_within_12_hours: total.get(Cell::Notified(Notified::Within3Hours))
                    + total.get(Cell::Notified(Notified::Within12Hours)),
                investigations_overdue: total.get(Cell::Investigation(Investigation::OpenOverdue))
                    + total.get(Cell::Investigation(Investigation::ConcludedLate)),
                contributing_schools: total.get(Cell::ContributingSchools),
                crosses: match &aggregate.cross {
                    None => "none",
                    Some(cross) if cross.frozen => "frozen",
                    Some(_) => "released",
                },
            }
        }),
    })
}

/// Walks from the ministry down: at every node, checks the signature of its
/// latest aggregate and of each child aggregate it summed, that each summed
/// child aggregate is that child's own latest, and that total and Merkle root
/// are exactly own plus children. Then compares the ministry's total with the
/// count taken directly from every school's raw records.
fn verify_from_the_top(
    running: &[RunningNode],
    planned: &[Planned],
    period: Period,
) -> Result<Verification, DemoError> {
    let mut verification = Verification {
        signatures_checked: 0,
        roll_ups_checked: 0,
        ministry_incident_cases: 0,
        schools_incident_cases: 0,
        verified: false,
        problems: Vec::new(),
    };
    let check_signature =
        |node: &RunningNode, author: &OrgId, key: edusync_envelope::PublicKey| -> Result<Option<RecordId>, String> {
            let Some(stored) =
                node.node().store().latest(author, RecordKind::Aggregate, period).map_err(|e| e.to_string())?
            else {
                return Ok(None);
            };
            let envelope = VerifiedEnvelope::verify(stored.bytes).map_err(|error| format!("{author}: {error}"))?;
            if envelope.header().author_key != key {
                return Err(format!("{author}: aggregate not signed by {author}'s key"));
            }
            Ok(Some(envelope.id()))
        };
    for (index, planned_node) in planned.iter().enumerate() {
        let node = &running[index];
        let own_key = node.node().public_key();
        let own_id = match check_signature(node, &planned_node.org, own_key) {
            Ok(Some(id)) => id,
            Ok(None) => {
                verification.problems.push(format!("{}: no aggregate for {period}", planned_node.org));
                continue;
            }
            Err(problem) => {
                verification.problems.push(problem);
                continue;
            }
        };
        verification.signatures_checked += 1;
        let Ok(Some((_, aggregate))) = node.node().latest_aggregate(&planned_node.org, period) else { continue };
        let mut children = Vec::new();
        let mut children_crosses = Vec::new();
        for (child_index, child) in planned.iter().enumerate().filter(|(_, child)| child.parent == Some(index)) {
            let child_key = running[child_index].node().public_key();
            match check_signature(node, &child.org, child_key) {
                Ok(Some(held_id)) => {
                    verification.signatures_checked += 1;
                    let child_latest = running[child_index].node().latest_aggregate(&child.org, period).ok().flatten();
                    match child_latest {
                        Some((latest_id, child_aggregate)) if latest_id == held_id => {
                            children.push((child.org.clone(), held_id, child_aggregate.total));
                            children_crosses.push(child_aggregate.cross);
                        }
                        _ => verification
                            .problems
                            .push(format!("{}: summed an old revision of {}", planned_node.org, child.org)),
                    }
                }
                Ok(None) => {}
                Err(problem) => verification.problems.push(problem),
            }
        }
        match edusync_rollup::verify_roll_up(&aggregate, &children, &children_crosses) {
            Ok(()) => verification.roll_ups_checked += 1,
            Err(error) => verification.problems.push(format!("{} ({own_id}): {error}", planned_node.org)),
        }
        if planned_node.level == Level::Ministry {
            verification.ministry_incident_cases = aggregate.total.incident_cases();
        }
        if planned_node.level == Level::School {
            verification.schools_incident_cases += aggregate.own.incident_cases();
            let direct = count_cases_directly(node, period).map_err(node_error(&planned_node.org))?;
            if direct != aggregate.own.incident_cases() {
                verification.problems.push(format!(
                    "{}: aggregate says {} cases, raw records {direct}",
                    planned_node.org,
                    aggregate.own.incident_cases()
                ));
            }
        }
    }
    verification.verified =
        verification.problems.is_empty() && verification.ministry_incident_cases == verification.schools_incident_cases;
    Ok(verification)
}

/// What a data officer is shown, asked at each office as a data officer
/// asks: the top office's totals, then, under each office, its children's
/// row of its released table by severity (each count with its 90% margin,
/// each unit's cases exact). These are the nodes' own releases, charged to
/// their ledgers like any reader's.
fn reader_view(running: &[RunningNode], planned: &[Planned], period: Period) -> Vec<ReaderRow> {
    use edusync_rollup::query::Dimension;
    let now = chrono::Utc::now();
    let mut rows = Vec::new();
    let Ok(top) = running[0].node().reader_query(period, Dimension::Severity, &[], now) else { return rows };
    let cell = |cells: &[edusync_rollup::released::Noisy], at: usize| cells.get(at).copied();
    rows.push(ReaderRow {
        org_id: Some(planned[0].org.to_string()),
        parent: None,
        depth: 0,
        minor: cell(&top.table.column_totals, 0),
        serious: cell(&top.table.column_totals, 1),
        severe: cell(&top.table.column_totals, 2),
        cases: top.table.grand_total,
    });
    fn walk(
        index: usize,
        depth: usize,
        running: &[RunningNode],
        planned: &[Planned],
        period: Period,
        rows: &mut Vec<ReaderRow>,
    ) {
        let children: Vec<usize> = (0..planned.len()).filter(|child| planned[*child].parent == Some(index)).collect();
        if children.is_empty() {
            return;
        }
        let Ok(answer) = running[index].node().reader_query(period, Dimension::Severity, &[], chrono::Utc::now())
        else {
            return;
        };
        for row in &answer.table.rows {
            let cell = |at: usize| row.cells.get(at).copied();
            rows.push(ReaderRow {
                org_id: row.org.as_ref().map(ToString::to_string),
                parent: Some(planned[index].org.to_string()),
                depth: depth + 1,
                minor: cell(0),
                serious: cell(1),
                severe: cell(2),
                cases: row.total,
            });
            if let Some(child) = children.iter().find(|child| row.org.as_ref() == Some(&planned[**child].org)) {
                walk(*child, depth + 1, running, planned, period, rows);
            }
        }
    }
    walk(0, 0, running, planned, period, &mut rows);
    rows
}

/// First reports of incidents that occurred in `period`, read from the raw log.
fn count_cases_directly(node: &RunningNode, period: Period) -> Result<u64, String> {
    let store = node.node().store();
    let mut cases = 0;
    for stored in store
        .read_log(node.node().org(), LogStream::Local, edusync_core::Seq(1), usize::MAX)
        .map_err(|e| e.to_string())?
    {
        let view = edusync_envelope::EnvelopeView::parse(&stored.bytes).map_err(|e| e.to_string())?;
        if let Ok(Record::Incident(incident)) = edusync_proto::decode_record(&view.header.payload_type, view.record) {
            let local = incident.occurred_at.with_timezone(&node.node().utc_offset());
            if incident.follow_up_of.is_none() && period.contains(local.date_naive()) {
                cases += 1;
            }
        }
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_hierarchy_converges_and_keeps_raw_records_at_the_schools() {
        let report = run_demo(DemoOptions {
            provinces: 1,
            districts_per_province: 2,
            schools_per_district: 2,
            dir: None,
            seed: 3,
            school_year: "2024-2025".parse().expect("valid"),
        })
        .await
        .expect("demo runs");
        assert!(report.converged);
        assert_eq!(report.nodes.len(), 1 + 1 + 2 + 4);
        for node in &report.nodes {
            match node.level.as_str() {
                "school" => assert_eq!(node.own.plan, 1),
                _ => {
                    assert_eq!(node.held.incident + node.held.risk_register, 0, "{} holds raw records", node.org_id);
                }
            }
        }
        let district = report.nodes.iter().find(|node| node.org_id == "VN.BT.D01").expect("district");
        let schools: u64 = report
            .nodes
            .iter()
            .filter(|node| node.org_id.starts_with("VN.BT.D01."))
            .map(|node| node.shared_log_head)
            .sum();
        assert_eq!(
            district.from_children.values().sum::<u64>(),
            schools,
            "the district holds every shared record of its schools"
        );
    }
}
