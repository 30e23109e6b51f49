//! Starting real nodes and talking to them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use edusync_proto::wire;
use edusync_proto::wire::record_service_client::RecordServiceClient;
use tonic::transport::Channel;

/// The `edusync` binary, built once per test run (a no-op when up to date).
pub(crate) fn edusync_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("EDUSYNC_BIN") {
            return PathBuf::from(path);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "edusync-cli", "--bin", "edusync"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the edusync binary failed");
        // The test executable lives in target/<profile>/deps/.
        let exe = std::env::current_exe().expect("test executable path");
        exe.parent().and_then(Path::parent).expect("target/<profile>").join("edusync")
    })
}

/// Runs the command line. Pointed at a node the harness started (`--node
/// URL`), it acts as that node's operator, as `--config` does on the node's
/// own machine.
pub(crate) fn run(args: &[&str]) -> Output {
    run_with_environment(args, &[])
}

/// As `run`, with these environment variables. The locale variables of the
/// test's own environment are not passed on, so messages are English unless
/// a test sets them.
pub(crate) fn run_with_environment(args: &[&str], environment: &[(&str, &str)]) -> Output {
    let mut args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    let operator = args
        .iter()
        .position(|arg| arg == "--node")
        .and_then(|index| args.get(index + 1))
        .and_then(|endpoint| operators().lock().ok()?.get(endpoint).cloned());
    if let Some(config) = operator {
        if !args.iter().any(|arg| arg == "--config" || arg == "--identity") {
            args.push("--config".into());
            args.push(config.display().to_string());
        }
    }
    let mut command = Command::new(edusync_bin());
    for variable in ["LC_ALL", "LC_MESSAGES", "LANG", "EDUSYNC_LANGUAGE"] {
        command.env_remove(variable);
    }
    command.args(&args).envs(environment.iter().copied()).stdin(Stdio::null()).output().expect("edusync runs")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A port on 127.0.0.1 that was free a moment ago, for a node started later.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("bind").port()
}

pub(crate) struct NodeSpec<'a> {
    pub(crate) org: &'a str,
    pub(crate) level: &'a str,
    pub(crate) port: u16,
    pub(crate) parent: Option<(&'a str, u16)>,
    pub(crate) batch_size: usize,
    /// Sync compression: "zstd" (the default) or "none".
    pub(crate) compression: &'a str,
}

/// The tests' root of trust: one anchor key for VN, kept in a file as an
/// offline root key would be.
pub(crate) fn root_key_file() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("edusync-test-root-{}.key", std::process::id()));
        std::fs::write(&path, root_key().to_pkcs8_pem()).expect("root key written");
        path
    })
}

pub(crate) fn root_key() -> edusync_envelope::NodeKey {
    edusync_envelope::NodeKey::from_seed([77; 32])
}

/// Certifies a node that has no parent in the test directly under the root,
/// by files, as `edusync keys certify` does for a ministry.
pub(crate) fn certify_top(config: &Path) {
    let dir = config.parent().expect("config dir");
    let request = dir.join("top.req");
    let certificate = dir.join("top.cert");
    expect_ok(&["enroll", "request", "--config", path(config), "--out", path(&request)]);
    expect_ok(&[
        "keys",
        "certify",
        "--request",
        path(&request),
        "--anchor",
        "VN",
        "--key",
        path(root_key_file()),
        "--out",
        path(&certificate),
    ]);
    expect_ok(&["enroll", "install", "--config", path(config), "--file", path(&certificate)]);
}

/// Offline enrolment by files: the child writes a request, the parent signs
/// it, the child installs the chain. Works whether the nodes run or not.
pub(crate) fn enrol(child: &Path, parent: &Path) {
    enrol_from(child, parent, None);
}

/// [`enrol`], with the certificate valid from `not_before` (RFC 3339): a
/// unit that reported before it was enrolled owes its deadlines from then.
pub(crate) fn enrol_from(child: &Path, parent: &Path, not_before: Option<&str>) {
    let dir = child.parent().expect("config dir");
    let request = dir.join("enrol.req");
    let certificate = dir.join("enrol.cert");
    expect_ok(&["enroll", "request", "--config", path(child), "--out", path(&request)]);
    let mut sign =
        vec!["enroll", "sign", "--config", path(parent), "--request", path(&request), "--out", path(&certificate)];
    if let Some(not_before) = not_before {
        sign.extend(["--not-before", not_before]);
    }
    expect_ok(&sign);
    expect_ok(&["enroll", "install", "--config", path(child), "--file", path(&certificate)]);
}

pub(crate) fn path(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

pub(crate) fn expect_ok(args: &[&str]) -> Output {
    let output = run(args);
    assert!(output.status.success(), "edusync {args:?} failed: {}{}", text(&output.stdout), text(&output.stderr));
    output
}

/// Writes `dir/node.toml` and runs `edusync init`; returns the config path
/// and the node's public key. A node without a parent is certified by the
/// test root at once; others need [`enrol`] once their parent is prepared.
pub(crate) fn prepare(dir: &Path, spec: &NodeSpec<'_>) -> (PathBuf, String) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut config = format!(
        "[node]\norg_id = \"{}\"\nlevel = \"{}\"\ndisplay_name = \"Đơn vị {}\"\ndata_dir = \"data\"\n\n[server]\nlisten = \"127.0.0.1:{}\"\nplaintext = true\n\n[sync]\nbatch_size = {}\ninterval_seconds = 1\nretry_initial_ms = 50\nretry_max_seconds = 1\nconnect_timeout_seconds = 2\nrequest_timeout_seconds = 10\ncompression = \"{}\"\n",
        spec.org, spec.level, spec.org, spec.port, spec.batch_size, spec.compression
    );
    if let Some((parent, port)) = spec.parent {
        config.push_str(&format!(
            "\n[parent]\norg_id = \"{parent}\"\nendpoint = \"http://127.0.0.1:{port}\"\nplaintext = true\n"
        ));
    }
    config.push_str(&format!(
        "\n[trust]\nclock_skew_seconds = 300\n\n[[trust.anchors]]\norg_id = \"VN\"\nkeys = [\"{}\"]\n",
        root_key().public_key().to_base64()
    ));
    let config_path = dir.join("node.toml");
    std::fs::write(&config_path, config).expect("write config");
    let output = run(&["init", "--config", path(&config_path)]);
    assert!(output.status.success(), "init failed: {}", text(&output.stderr));
    let key = std::fs::read_to_string(dir.join("data/node.pub")).expect("public key written");
    if spec.parent.is_none() {
        certify_top(&config_path);
    }
    (config_path, key.trim().to_owned())
}

/// Prepares and starts a node with no parent and no children, in `dir`.
pub(crate) fn start_lone_node(dir: &Path, org: &str, level: &str) -> (NodeProcess, String) {
    let (config, public_key) =
        prepare(dir, &NodeSpec { org, level, port: 0, parent: None, batch_size: 64, compression: "zstd" });
    (NodeProcess::start(&config), public_key)
}

/// A running `edusync node run` process. Killed when dropped.
pub(crate) struct NodeProcess {
    child: Child,
    pub(crate) address: SocketAddr,
}

impl NodeProcess {
    /// Starts the node and waits for its "listening on" line. Its log goes
    /// to `node.log` beside the config, kept across restarts.
    pub(crate) fn start(config: &Path) -> NodeProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(config.with_file_name("node.log"))
            .expect("node log file");
        let mut child = Command::new(edusync_bin())
            .args(["node", "run", "--config", config.to_str().expect("utf-8 path")])
            .env("EDUSYNC_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.split("listening on ").nth(1) {
                    let _ = sender.send(address.trim().to_owned());
                }
            }
        });
        let address = receiver.recv_timeout(Duration::from_secs(30)).expect("node printed its address in time");
        let address: SocketAddr = address.parse().expect("a socket address");
        operators().lock().expect("registry").insert(format!("http://{address}"), config.to_path_buf());
        NodeProcess { child, address }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit on its own; its exit code, if it did.
    pub(crate) fn wait_for_exit(mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    pub(crate) fn kill9(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reaped");
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which config each running node (by endpoint) was started from, so that a
/// test can speak to it as its operator, with the node's own key.
fn operators() -> &'static std::sync::Mutex<std::collections::HashMap<String, PathBuf>> {
    static MAP: OnceLock<std::sync::Mutex<std::collections::HashMap<String, PathBuf>>> = OnceLock::new();
    MAP.get_or_init(Default::default)
}

/// A session as the operator of the node at `endpoint`.
pub(crate) async fn operator_session(endpoint: &str) -> Result<(Channel, edusync_node::Bearer), tonic::Status> {
    let config = operators().lock().expect("registry").get(endpoint).cloned().expect("a node started by the harness");
    session_as(endpoint, &config).await
}

pub(crate) async fn records_client(endpoint: &str) -> Client {
    let (channel, bearer) = operator_session(endpoint).await.expect("operator session");
    RecordServiceClient::with_interceptor(channel, bearer).max_decoding_message_size(64 << 20)
}

/// What the node at `endpoint` holds of an author's shared log (its
/// highest contiguous seq), or `None` if unreachable.
pub(crate) async fn checkpoint(endpoint: &str, author: &str) -> Option<u64> {
    let (channel, bearer) = operator_session(endpoint).await.ok()?;
    let mut client = RecordServiceClient::with_interceptor(channel, bearer);
    let info = client.get_node_info(wire::GetNodeInfoRequest {}).await.ok()?.into_inner();
    Some(
        info.logs
            .iter()
            .find(|log| log.author_org == author && log.stream == wire::LogStream::Shared as i32)
            .map_or(0, |log| log.highest_contiguous_seq),
    )
}

pub(crate) async fn wait_until<F, Fut>(limit: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn commitment(count: u32) -> wire::Record {
    wire::Record {
        kind: Some(wire::record::Kind::Commitment(wire::Commitment {
            kind: wire::CommitmentKind::StaffPledge as i32,
            signer_role: wire::SignerRole::Staff as i32,
            count,
            signed_on: Some(wire::Date { year: 2024, month: 9, day: 6 }),
            school_year_start: 2024,
        })),
    }
}

/// A TCP proxy on 127.0.0.1 that forwards to `target` and keeps a copy of
/// every byte it carries, both ways.
pub(crate) struct RecordingProxy {
    pub(crate) port: u16,
    captured: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    /// Each connection's bytes in each direction, apart, so that HTTP/2
    /// frames can be read back from them.
    directions: std::sync::Arc<std::sync::Mutex<Vec<Captured>>>,
    task: tokio::task::JoinHandle<()>,
}

type Captured = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

impl RecordingProxy {
    pub(crate) async fn start(target_port: u16) -> RecordingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let captured = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let directions: std::sync::Arc<std::sync::Mutex<Vec<Captured>>> = std::sync::Arc::default();
        let sink = std::sync::Arc::clone(&captured);
        let each = std::sync::Arc::clone(&directions);
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let sink = std::sync::Arc::clone(&sink);
                let [up_bytes, down_bytes]: [Captured; 2] = Default::default();
                if let Ok(mut all) = each.lock() {
                    all.extend([std::sync::Arc::clone(&up_bytes), std::sync::Arc::clone(&down_bytes)]);
                }
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await else { return };
                    let (inbound_read, inbound_write) = inbound.into_split();
                    let (outbound_read, outbound_write) = outbound.into_split();
                    let up = pump(inbound_read, outbound_write, [std::sync::Arc::clone(&sink), up_bytes]);
                    let down = pump(outbound_read, inbound_write, [sink, down_bytes]);
                    let _ = tokio::join!(up, down);
                });
            }
        });
        RecordingProxy { port, captured, directions, task }
    }

    /// Every gRPC message that crossed, read back from the HTTP/2 DATA
    /// frames of each connection and direction and decompressed when it was
    /// sent compressed; and how many were compressed.
    pub(crate) fn grpc_messages(&self) -> (Vec<Vec<u8>>, usize) {
        let directions: Vec<Vec<u8>> = self
            .directions
            .lock()
            .map(|all| all.iter().filter_map(|bytes| bytes.lock().ok().map(|bytes| bytes.clone())).collect())
            .unwrap_or_default();
        let (mut messages, mut compressed) = (Vec::new(), 0);
        for bytes in directions {
            for stream in http2_data_by_stream(&bytes) {
                let mut rest = stream.as_slice();
                while rest.len() >= 5 {
                    let flag = rest[0];
                    let length = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
                    let Some(message) = rest.get(5..5 + length) else { break };
                    if flag == 1 {
                        compressed += 1;
                        messages.push(zstd::decode_all(message).expect("a compressed gRPC message is zstd"));
                    } else {
                        messages.push(message.to_vec());
                    }
                    rest = &rest[5 + length..];
                }
            }
        }
        (messages, compressed)
    }

    pub(crate) fn captured(&self) -> Vec<u8> {
        self.captured.lock().map(|bytes| bytes.clone()).unwrap_or_default()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The DATA carried by each HTTP/2 stream of one direction of a connection.
fn http2_data_by_stream(bytes: &[u8]) -> Vec<Vec<u8>> {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut rest = bytes.strip_prefix(PREFACE).unwrap_or(bytes);
    let mut streams: std::collections::BTreeMap<u32, Vec<u8>> = std::collections::BTreeMap::new();
    while rest.len() >= 9 {
        let length = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]) as usize;
        let (kind, flags) = (rest[3], rest[4]);
        let stream = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]) & 0x7fff_ffff;
        let Some(payload) = rest.get(9..9 + length) else { break };
        if kind == 0 {
            let data = if flags & 0x8 != 0 {
                let padding = usize::from(payload.first().copied().unwrap_or(0));
                payload.get(1..length.saturating_sub(padding)).unwrap_or_default()
            } else {
                payload
            };
            streams.entry(stream).or_default().extend_from_slice(data);
        }
        rest = &rest[9 + length..];
    }
    streams.into_values().collect()
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    sinks: [std::sync::Arc<std::sync::Mutex<Vec<u8>>>; 2],
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(count) => {
                for sink in &sinks {
                    if let Ok(mut bytes) = sink.lock() {
                        bytes.extend_from_slice(&buffer[..count]);
                    }
                }
                if to.write_all(&buffer[..count]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// Every byte of every file below `dir`.
pub(crate) fn bytes_below(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("readable directory").map_while(Result::ok) {
                pending.push(entry.path());
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

/// What a [`FaultyProxy`] does to the link right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Forwards everything.
    Pass,
    /// Cuts each connection after a random number of bytes (up to `max_bytes`)
    /// and delays every chunk by `delay_ms`.
    Flaky { max_bytes: usize, delay_ms: u64 },
    /// Refuses connections and cuts open ones.
    Partitioned,
}

/// A TCP proxy on 127.0.0.1 whose faults can be switched while it runs.
pub(crate) struct FaultyProxy {
    pub(crate) port: u16,
    fault: std::sync::Arc<std::sync::Mutex<Fault>>,
    cuts: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultyProxy {
    pub(crate) async fn start(target_port: u16) -> FaultyProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let fault = std::sync::Arc::new(std::sync::Mutex::new(Fault::Pass));
        let cuts = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (shared_fault, shared_cuts) = (std::sync::Arc::clone(&fault), std::sync::Arc::clone(&cuts));
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let fault = std::sync::Arc::clone(&shared_fault);
                let cuts = std::sync::Arc::clone(&shared_cuts);
                tokio::spawn(async move {
                    let now = || *fault.lock().expect("fault lock");
                    if now() == Fault::Partitioned {
                        cuts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                    let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await else { return };
                    let budget = match now() {
                        Fault::Flaky { max_bytes, .. } => rand::random::<usize>() % max_bytes.max(1) + 512,
                        _ => usize::MAX,
                    };
                    let carried = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
                    let (inbound_read, inbound_write) = inbound.into_split();
                    let (outbound_read, outbound_write) = outbound.into_split();
                    let up = faulty_pump(
                        inbound_read,
                        outbound_write,
                        std::sync::Arc::clone(&fault),
                        std::sync::Arc::clone(&carried),
                        budget,
                    );
                    let down =
                        faulty_pump(outbound_read, inbound_write, std::sync::Arc::clone(&fault), carried, budget);
                    // The first side to stop (a cut, or a close) ends the connection both ways.
                    let cut = tokio::select! { cut = up => cut, cut = down => cut };
                    if cut {
                        cuts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        FaultyProxy { port, fault, cuts, task }
    }

    pub(crate) fn set(&self, fault: Fault) {
        *self.fault.lock().expect("fault lock") = fault;
    }

    /// Connections refused or cut so far.
    pub(crate) fn cuts(&self) -> u64 {
        self.cuts.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Forwards one direction; true when it stopped because of a fault.
async fn faulty_pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    fault: std::sync::Arc<std::sync::Mutex<Fault>>,
    carried: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    budget: usize,
) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let count = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return false,
            Ok(count) => count,
        };
        let current = *fault.lock().expect("fault lock");
        match current {
            Fault::Partitioned => return true,
            Fault::Flaky { delay_ms, .. } => tokio::time::sleep(Duration::from_millis(delay_ms)).await,
            Fault::Pass => {}
        }
        let total = carried.fetch_add(count, std::sync::atomic::Ordering::SeqCst) + count;
        if total > budget {
            // Cut mid-stream: forward part of this chunk, then drop the connection.
            let part = count.saturating_sub(total - budget).min(count);
            let _ = to.write_all(&buffer[..part]).await;
            return true;
        }
        if to.write_all(&buffer[..count]).await.is_err() {
            return false;
        }
    }
}

/// A gRPC client of the record service, in an operator's session.
pub(crate) type Client = RecordServiceClient<edusync_node::SessionChannel>;

/// An author's shared-log head once it has stayed the same for half a second.
pub(crate) async fn settled_head(client: &mut Client, author: &str) -> u64 {
    let (mut last, mut steady) = (None, 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let info = client.get_node_info(wire::GetNodeInfoRequest {}).await.expect("info").into_inner();
        let head = info
            .logs
            .iter()
            .find(|log| log.author_org == author && log.stream == wire::LogStream::Shared as i32)
            .map_or(0, |log| log.highest_contiguous_seq);
        steady = if last == Some(head) { steady + 1 } else { 0 };
        if steady >= 5 {
            return head;
        }
        last = Some(head);
        assert!(Instant::now() < deadline, "the shared log never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn whole_log(client: &mut Client, author: &str) -> Vec<Vec<u8>> {
    let mut envelopes = Vec::new();
    loop {
        let request = wire::ReadLogRequest {
            author_org: author.into(),
            stream: wire::LogStream::Shared as i32,
            from_seq: envelopes.len() as u64 + 1,
            limit: 1000,
        };
        let page = client.read_log(request).await.expect("read log").into_inner().envelopes;
        if page.is_empty() {
            break;
        }
        envelopes.extend(page.into_iter().map(|envelope| envelope.envelope));
    }
    let distinct: std::collections::BTreeSet<&Vec<u8>> = envelopes.iter().collect();
    assert_eq!(distinct.len(), envelopes.len(), "an envelope appears twice in {author}'s log");
    envelopes
}

/// A school (`VN.BT.D03.S017`) and its district (`VN.BT.D03`), prepared in
/// `root`: the district listens on `district_port`, the school pushes to
/// `parent_port` (the district's, or a proxy's in front of it).
pub(crate) fn school_and_district(
    root: &Path,
    district_port: u16,
    parent_port: u16,
    school_batch: usize,
    compression: &str,
) -> (PathBuf, PathBuf) {
    let (district, _) = prepare(
        &root.join("district"),
        &NodeSpec {
            org: "VN.BT.D03",
            level: "district",
            port: district_port,
            parent: None,
            batch_size: 256,
            compression,
        },
    );
    let (school, _) = prepare(
        &root.join("school"),
        &NodeSpec {
            org: "VN.BT.D03.S017",
            level: "school",
            port: 0,
            parent: Some(("VN.BT.D03", parent_port)),
            batch_size: school_batch,
            compression,
        },
    );
    // The tests' schools report incidents of 2024-2025: enrolled since before then.
    enrol_from(&school, &district, Some("2024-08-01T00:00:00Z"));
    (school, district)
}

/// [`school_and_district`] on a free port, both started (the district
/// first): the school's and the district's configs and processes.
pub(crate) fn running_school_and_district(root: &Path) -> (PathBuf, PathBuf, NodeProcess, NodeProcess) {
    let district_port = free_port();
    let (school_config, district_config) = school_and_district(root, district_port, district_port, 64, "zstd");
    let district = NodeProcess::start(&district_config);
    let school = NodeProcess::start(&school_config);
    (school_config, district_config, school, district)
}

/// A province (`VN.BT`, certified by the test root) and its district
/// (`VN.BT.D03`, enrolled by files), prepared in `root`; the district listens
/// on `district_port` (0: any). Returns the configs and the province's port.
pub(crate) fn province_and_district(root: &Path, district_port: u16) -> (PathBuf, PathBuf, u16) {
    let province_port = free_port();
    let spec = |org, level, port, parent| NodeSpec { org, level, port, parent, batch_size: 64, compression: "zstd" };
    let (province, _) = prepare(&root.join("province"), &spec("VN.BT", "province", province_port, None));
    let (district, _) =
        prepare(&root.join("district"), &spec("VN.BT.D03", "district", district_port, Some(("VN.BT", province_port))));
    enrol(&district, &province);
    (province, district, province_port)
}

/// A session at `endpoint` as the node whose config is `as_node` (a child
/// pushing to its parent, say).
pub(crate) async fn session_as(
    endpoint: &str,
    as_node: &Path,
) -> Result<(Channel, edusync_node::Bearer), tonic::Status> {
    let config = edusync_config::NodeConfig::load(as_node).expect("config loads");
    let key = edusync_node::load_key(&config.data_dir).expect("key loads");
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
        .expect("endpoint")
        .connect()
        .await
        .map_err(|error| tonic::Status::unavailable(error.to_string()))?;
    let session = edusync_node::open_session(channel.clone(), &config.organisation.id, &key, Vec::new()).await?;
    Ok((channel, session.bearer))
}

pub(crate) async fn sync_client_as(
    endpoint: &str,
    as_node: &Path,
) -> edusync_proto::wire::sync_service_client::SyncServiceClient<edusync_node::SessionChannel> {
    let (channel, bearer) = session_as(endpoint, as_node).await.expect("session");
    edusync_proto::wire::sync_service_client::SyncServiceClient::with_interceptor(channel, bearer)
}

/// Copies a directory tree (a node's store, say) file by file.
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

/// How long a new connection has to make its first request.
pub(crate) fn first_request_window() -> Duration {
    edusync_node::FIRST_REQUEST
}

/// How long a node waits for a TLS handshake to finish.
pub(crate) fn tls_handshake_timeout() -> Duration {
    edusync_node::TLS_HANDSHAKE_TIMEOUT
}
