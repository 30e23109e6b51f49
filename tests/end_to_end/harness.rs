//! Starting real nodes and talking to them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use edusync_proto::wire;
use edusync_proto::wire::record_service_client::RecordServiceClient;
use edusync_proto::wire::sync_service_client::SyncServiceClient;
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

pub(crate) fn run(args: &[&str]) -> Output {
    Command::new(edusync_bin()).args(args).stdin(Stdio::null()).output().expect("edusync runs")
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
    pub(crate) children: Vec<(&'a str, String)>,
    pub(crate) batch_size: usize,
    /// Sync compression: "zstd" (the default) or "none".
    pub(crate) compression: &'a str,
}

/// Writes `dir/node.toml` and runs `edusync init`; returns the config path
/// and the node's public key.
pub(crate) fn prepare(dir: &Path, spec: &NodeSpec<'_>) -> (PathBuf, String) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut config = format!(
        "[node]\norg_id = \"{}\"\nlevel = \"{}\"\ndisplay_name = \"Đơn vị {}\"\ndata_dir = \"data\"\n\n[server]\nlisten = \"127.0.0.1:{}\"\n\n[sync]\nbatch_size = {}\ninterval_seconds = 1\nretry_initial_ms = 50\nretry_max_seconds = 1\nconnect_timeout_seconds = 2\nrequest_timeout_seconds = 10\ncompression = \"{}\"\n",
        spec.org, spec.level, spec.org, spec.port, spec.batch_size, spec.compression
    );
    if let Some((parent, port)) = spec.parent {
        config.push_str(&format!("\n[parent]\norg_id = \"{parent}\"\nendpoint = \"http://127.0.0.1:{port}\"\n"));
    }
    for (child, key) in &spec.children {
        config.push_str(&format!("\n[[children]]\norg_id = \"{child}\"\npublic_key = \"{key}\"\n"));
    }
    let path = dir.join("node.toml");
    std::fs::write(&path, config).expect("write config");
    let output = run(&["init", "--config", path.to_str().expect("utf-8 path")]);
    assert!(output.status.success(), "init failed: {}", text(&output.stderr));
    let key = std::fs::read_to_string(dir.join("data/node.pub")).expect("public key written");
    (path, key.trim().to_owned())
}

/// Prepares and starts a node with no parent and no children, in `dir`.
pub(crate) fn start_lone_node(dir: &Path, org: &str, level: &str) -> (NodeProcess, String) {
    let (config, public_key) = prepare(
        dir,
        &NodeSpec { org, level, port: 0, parent: None, children: vec![], batch_size: 64, compression: "zstd" },
    );
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
        NodeProcess { child, address: address.parse().expect("a socket address") }
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

pub(crate) async fn records_client(endpoint: &str) -> RecordServiceClient<Channel> {
    RecordServiceClient::connect(endpoint.to_owned()).await.expect("connects").max_decoding_message_size(64 << 20)
}

pub(crate) async fn sync_client(endpoint: &str) -> SyncServiceClient<Channel> {
    SyncServiceClient::connect(endpoint.to_owned()).await.expect("connects")
}

/// The parent's checkpoint for an author's shared log, or `None` if unreachable.
pub(crate) async fn checkpoint(endpoint: &str, author: &str) -> Option<u64> {
    let mut client = SyncServiceClient::connect(endpoint.to_owned()).await.ok()?;
    let request = wire::GetCheckpointRequest { author_org: author.into(), stream: wire::LogStream::Shared as i32 };
    Some(client.get_checkpoint(request).await.ok()?.into_inner().highest_contiguous_seq)
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
    task: tokio::task::JoinHandle<()>,
}

impl RecordingProxy {
    pub(crate) async fn start(target_port: u16) -> RecordingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let captured = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&captured);
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let sink = std::sync::Arc::clone(&sink);
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await else { return };
                    let (inbound_read, inbound_write) = inbound.into_split();
                    let (outbound_read, outbound_write) = outbound.into_split();
                    let up = pump(inbound_read, outbound_write, std::sync::Arc::clone(&sink));
                    let down = pump(outbound_read, inbound_write, sink);
                    let _ = tokio::join!(up, down);
                });
            }
        });
        RecordingProxy { port, captured, task }
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

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    sink: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(count) => {
                if let Ok(mut bytes) = sink.lock() {
                    bytes.extend_from_slice(&buffer[..count]);
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

/// A gRPC client of the record service.
pub(crate) type Client = RecordServiceClient<Channel>;

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
    let (school, key) = prepare(
        &root.join("school"),
        &NodeSpec {
            org: "VN.BT.D03.S017",
            level: "school",
            port: 0,
            parent: Some(("VN.BT.D03", parent_port)),
            children: vec![],
            batch_size: school_batch,
            compression,
        },
    );
    let (district, _) = prepare(
        &root.join("district"),
        &NodeSpec {
            org: "VN.BT.D03",
            level: "district",
            port: district_port,
            parent: None,
            children: vec![("VN.BT.D03.S017", key)],
            batch_size: 256,
            compression,
        },
    );
    (school, district)
}
