//! Upward sync: push this node's shared log to its parent, resuming from what
//! the parent says it durably holds, and back off when the link is down.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use edusync_config::{ParentConfig, SyncConfig};
use edusync_core::{LogStream, RecordId, Seq};
use edusync_proto::stream_to_wire;
use edusync_proto::wire;
use edusync_proto::wire::record_service_client::RecordServiceClient;
use edusync_proto::wire::sync_service_client::SyncServiceClient;
use edusync_proto::wire::trust_service_client::TrustServiceClient;

use crate::client::SessionChannel;

use crate::{Node, NodeError, Refusal};

/// The clients of one session with the parent.
type Clients =
    (SyncServiceClient<SessionChannel>, TrustServiceClient<SessionChannel>, RecordServiceClient<SessionChannel>);

/// How many refusals the status keeps, newest last.
const KEPT_REFUSALS: usize = 100;
/// Push batches sent ahead of their acknowledgement.
const PUSH_BATCHES_IN_FLIGHT: usize = 2;
/// Acknowledgement latencies kept for quantiles.
const KEPT_LATENCIES: usize = 4096;
/// Upper bounds, in seconds, of the acknowledgement-latency histogram.
pub const ACK_LATENCY_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// What this node knows of its link to its parent, for `edusync status` and NodeInfo.
#[derive(Debug)]
pub struct ParentStatus {
    parent: ParentConfig,
    state: Mutex<ParentState>,
    /// Apart from `state`, which every status read clones whole.
    latencies: Mutex<AckLatencies>,
    /// An operator asked for a round now (`edusync sync now`).
    round_asked: tokio::sync::Notify,
    /// Rounds begun and ended since start; a caller waits on the second.
    rounds_begun: std::sync::atomic::AtomicU64,
    rounds_ended: watch::Sender<u64>,
    /// The sync loop has stopped (the node shuts down): no round will come.
    stopped: std::sync::atomic::AtomicBool,
}

/// How a round asked for by an operator ended.
#[derive(Debug, Clone)]
pub struct RoundOutcome {
    /// Its number since the node started.
    pub round: u64,
    /// Why it failed; `None` when it succeeded.
    pub error: Option<String>,
}

#[derive(Debug, Default, Clone)]
struct ParentState {
    last_contact: Option<DateTime<Utc>>,
    acknowledged: u64,
    /// This node's own shared-log head when last looked at.
    local_head: u64,
    last_error: Option<String>,
    refused: Vec<Refusal>,
    /// Sync rounds since start, and how many failed, for metrics.
    rounds: u64,
    failed_rounds: u64,
}

/// Time from sending a push batch to its acknowledgement: the newest
/// `KEPT_LATENCIES`, and a histogram of all since start.
#[derive(Debug, Default)]
struct AckLatencies {
    recent: std::collections::VecDeque<std::time::Duration>,
    histogram: AckLatencyHistogram,
}

/// Cumulative counts per bucket of `ACK_LATENCY_BUCKETS` (the last one is
/// +Inf), with the sum, as Prometheus wants a histogram.
#[derive(Debug, Default, Clone)]
pub struct AckLatencyHistogram {
    pub cumulative: [u64; ACK_LATENCY_BUCKETS.len() + 1],
    pub sum_seconds: f64,
}

impl AckLatencies {
    fn record(&mut self, latency: std::time::Duration) {
        if self.recent.len() == KEPT_LATENCIES {
            self.recent.pop_front();
        }
        self.recent.push_back(latency);
        let seconds = latency.as_secs_f64();
        let histogram = &mut self.histogram;
        histogram.sum_seconds += seconds;
        for (index, count) in histogram.cumulative.iter_mut().enumerate() {
            if ACK_LATENCY_BUCKETS.get(index).is_none_or(|bound| seconds <= *bound) {
                *count += 1;
            }
        }
    }
}

impl ParentStatus {
    fn new(parent: ParentConfig) -> Self {
        ParentStatus {
            parent,
            state: Mutex::new(ParentState::default()),
            latencies: Mutex::default(),
            round_asked: tokio::sync::Notify::new(),
            rounds_begun: std::sync::atomic::AtomicU64::new(0),
            rounds_ended: watch::Sender::new(0),
            stopped: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn stop(&self) {
        self.stopped.store(true, std::sync::atomic::Ordering::SeqCst);
        self.rounds_ended.send_modify(|_| {});
    }

    /// Wakes the sync loop, whatever it waits for (its interval, a back-off),
    /// and answers once a round begun after this call has ended: a round
    /// already under way may have pulled from above before the caller's
    /// reason to ask existed.
    /// `None` when the node stops first.
    pub async fn round_now(&self) -> Option<RoundOutcome> {
        let mut ended = self.rounds_ended.subscribe();
        let wanted = self.rounds_begun.load(std::sync::atomic::Ordering::SeqCst) + 1;
        self.round_asked.notify_one();
        let stopped = || self.stopped.load(std::sync::atomic::Ordering::SeqCst);
        // The sender lives as long as this status, which the caller holds.
        let _ = ended.wait_for(|ended| *ended >= wanted || stopped()).await;
        let round = *ended.borrow();
        (round >= wanted).then(|| RoundOutcome { round, error: self.snapshot().last_error })
    }

    fn update(&self, change: impl FnOnce(&mut ParentState)) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut state);
    }

    fn snapshot(&self) -> ParentState {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Records an acknowledgement that came back another way (a bundle).
    pub(crate) fn acknowledge(&self, seq: u64) {
        self.update(|state| state.acknowledged = state.acknowledged.max(seq));
    }

    /// The highest sequence of the shared log the parent has acknowledged.
    pub fn acknowledged(&self) -> u64 {
        self.snapshot().acknowledged
    }

    pub fn last_error(&self) -> Option<String> {
        self.snapshot().last_error
    }

    /// The newest acknowledgement latencies of push batches, oldest first.
    pub fn recent_ack_latencies(&self) -> Vec<std::time::Duration> {
        self.latencies().recent.iter().copied().collect()
    }

    pub fn ack_latency_histogram(&self) -> AckLatencyHistogram {
        self.latencies().histogram.clone()
    }

    fn latencies(&self) -> std::sync::MutexGuard<'_, AckLatencies> {
        self.latencies.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// (sync rounds since start, of which failed).
    pub fn rounds(&self) -> (u64, u64) {
        let state = self.snapshot();
        (state.rounds, state.failed_rounds)
    }

    pub(crate) fn to_wire(&self) -> wire::ParentStatus {
        let state = self.snapshot();
        wire::ParentStatus {
            parent_org: self.parent.org_id.to_string(),
            endpoint: self.parent.endpoint.clone(),
            last_contact: state.last_contact.map(|time| prost_types::Timestamp {
                seconds: time.timestamp(),
                nanos: time.timestamp_subsec_nanos() as i32,
            }),
            acknowledged_seq: state.acknowledged,
            local_head_seq: state.local_head,
            last_error: state.last_error.unwrap_or_default(),
            refused: state.refused.into_iter().map(wire::Refusal::from).collect(),
            oldest_unsent_created_at: None,
            outbox_depth: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error("cannot reach the parent at {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("the parent answered {code:?}: {message}")]
    Rpc { code: tonic::Code, message: String },
    #[error("the parent did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the parent closed the push stream before acknowledging batch {0}")]
    StreamClosed(u64),
    #[error("the parent refused seq {seq}: {reason}")]
    Refused { seq: u64, reason: String },
    #[error("the parent holds seq {parent} of this node's shared log but this node's head is {local}, and taking the rest back failed: {reason}; this node signs nothing more in its shared log until it succeeds")]
    TakeBack { parent: u64, local: u64, reason: String },
    #[error("not enrolled yet: {0}")]
    NotEnrolled(String),
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl From<tonic::Status> for SyncError {
    fn from(status: tonic::Status) -> Self {
        SyncError::Rpc { code: status.code(), message: status.message().to_owned() }
    }
}

pub(crate) struct UpwardSync {
    node: Arc<Node>,
    parent: ParentConfig,
    config: SyncConfig,
    max_message_bytes: usize,
    status: Arc<ParentStatus>,
    /// The enrolment request left with the parent, and when.
    enrolment_left: Mutex<Option<(String, std::time::Instant)>>,
    /// The parent said it holds more of the shared log than this node, and
    /// taking it back has not succeeded yet.
    parent_known_ahead: std::sync::atomic::AtomicBool,
}

/// How long an enrolment request left with the parent is only asked after.
const ENROLMENT_LEAVE_AGAIN: Duration = Duration::from_secs(600);

impl UpwardSync {
    /// Store work on the blocking pool: a sled call may wait on the disk,
    /// which would hold up every request on an async worker thread.
    async fn on_store<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Node) -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let node = Arc::clone(&self.node);
        tokio::task::spawn_blocking(move || work(&node)).await.map_err(|_| NodeError::ShuttingDown)?
    }

    async fn cursor(&self, name: &str) -> Result<u64, NodeError> {
        let name = name.to_owned();
        self.on_store(move |node| Ok(node.store().cursor(&name)?.unwrap_or(0))).await
    }

    async fn set_cursor(&self, name: &str, value: u64) -> Result<(), NodeError> {
        let name = name.to_owned();
        self.on_store(move |node| Ok(node.store().set_cursor(&name, value)?)).await
    }

    pub(crate) fn new(node: Arc<Node>, parent: ParentConfig, config: SyncConfig, max_message_bytes: usize) -> Self {
        let status = Arc::new(ParentStatus::new(parent.clone()));
        // Until the parent answers, show what it last acknowledged, as kept on disk.
        let remembered = node.store().cursor(&cursor_name(&parent)).ok().flatten().unwrap_or(0);
        status.update(|state| state.acknowledged = remembered);
        // Until the first round has asked the parent (or found it unreachable).
        node.shared_signing.pause(format!(
            "it asks {} how much of its shared log it holds (at start, before signing anything new there)",
            parent.org_id
        ));
        UpwardSync {
            node,
            parent,
            config,
            max_message_bytes,
            status,
            enrolment_left: Mutex::new(None),
            parent_known_ahead: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn status(&self) -> Arc<ParentStatus> {
        Arc::clone(&self.status)
    }

    /// Runs rounds until shutdown: at once when a shared record is written,
    /// every `interval` otherwise, and after failures with exponential
    /// back-off and full jitter up to `retry_max`.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        // However the loop ends (shutdown, or a panic in a round), whoever
        // waits for a round is told none will come.
        struct StopOnExit(Arc<ParentStatus>);
        impl Drop for StopOnExit {
            fn drop(&mut self) {
                self.0.stop();
            }
        }
        let _stop_on_exit = StopOnExit(Arc::clone(&self.status));
        let wake = self.node.shared_written();
        let mut failures: u32 = 0;
        loop {
            if *shutdown.borrow() {
                return;
            }
            self.status.rounds_begun.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let outcome = self.round(&mut shutdown).await;
            // Signing waits only while the parent may hold more of the log:
            // an unreachable parent leaves the node to work on offline, as
            // it must; a parent known to be ahead keeps it waiting until a
            // take-back succeeds, whatever later rounds fail on.
            if !self.parent_known_ahead.load(std::sync::atomic::Ordering::SeqCst) {
                self.node.shared_signing.resume();
            }
            self.status.update(|state| {
                state.rounds += 1;
                state.failed_rounds += u64::from(outcome.is_err());
            });
            let wait = match outcome {
                Ok(()) => {
                    failures = 0;
                    self.status.update(|state| state.last_error = None);
                    self.config.interval
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    if matches!(error, SyncError::NotEnrolled(_)) {
                        // Expected until an operator acts; `edusync status` shows it.
                        tracing::info!(org = %self.node.org(), parent = %self.parent.org_id, error = %error, "waiting for a certificate");
                    } else {
                        tracing::warn!(org = %self.node.org(), parent = %self.parent.org_id, error = %error, failures, "sync round failed");
                    }
                    self.status.update(|state| state.last_error = Some(error.to_string()));
                    self.backoff(failures)
                }
            };
            self.status.rounds_ended.send_modify(|ended| *ended += 1);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = wake.notified(), if failures == 0 => {}
                // An operator asking skips a back-off too: the link may be back.
                _ = self.status.round_asked.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        let ceiling = self.config.retry_initial.saturating_mul(1 << exponent).min(self.config.retry_max);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX).max(1);
        // Full jitter, never below a tenth of the ceiling, so a flapping link
        // does not make every school retry in step.
        Duration::from_millis(rand::thread_rng().gen_range(millis / 10..=millis))
    }

    /// Connects, makes sure this node holds a certificate (enrolling online
    /// when it does not), and opens a session as this node.
    async fn connect(&self) -> Result<Clients, SyncError> {
        let connect_error = |reason: String| SyncError::Connect { endpoint: self.parent.endpoint.clone(), reason };
        let channel = crate::client_endpoint(&self.parent.endpoint, &self.parent.transport)
            .map_err(|error| connect_error(error.to_string()))?
            .connect_timeout(self.config.connect_timeout)
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|error| connect_error(error.to_string()))?;
        if let Err(problem) = self.node.own_standing(Utc::now()) {
            self.enrol_online(channel.clone(), problem).await?;
        }
        let chain = self.node.own_chain(Utc::now());
        let session = self
            .within_deadline(crate::client::open_session(channel.clone(), self.node.org(), &self.node.key, chain))
            .await??;
        let records = RecordServiceClient::with_interceptor(channel.clone(), session.bearer.clone())
            .max_decoding_message_size(self.max_message_bytes);
        let trust = TrustServiceClient::with_interceptor(channel.clone(), session.bearer.clone())
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes);
        let client = SyncServiceClient::with_interceptor(channel, session.bearer)
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes);
        Ok(if self.config.compress {
            (
                client
                    .send_compressed(tonic::codec::CompressionEncoding::Zstd)
                    .accept_compressed(tonic::codec::CompressionEncoding::Zstd),
                trust.accept_compressed(tonic::codec::CompressionEncoding::Zstd),
                records.accept_compressed(tonic::codec::CompressionEncoding::Zstd),
            )
        } else {
            (client, trust, records)
        })
    }

    /// The parent holds `parent_holds` of this node's shared log, maybe more
    /// than this node does (restored from a backup, or a store that lost
    /// what it had written): shared signing pauses, the write in progress
    /// settles, and whatever the parent holds beyond the local head is taken
    /// back and checked as this node's own before anything new is signed.
    async fn take_back(
        &self,
        records: &mut RecordServiceClient<SessionChannel>,
        parent_holds: u64,
    ) -> Result<(), SyncError> {
        self.node.shared_signing.pause(format!(
            "it takes back from {} the {parent_holds} records of its shared log that it holds",
            self.parent.org_id
        ));
        let node = Arc::clone(&self.node);
        tokio::task::spawn_blocking(move || node.store().settle())
            .await
            .map_err(|_| self.parent_ahead(parent_holds, NodeError::ShuttingDown))?
            .map_err(|error| self.parent_ahead(parent_holds, NodeError::from(error)))?;
        let local = self.local_head().await.map_err(|error| self.parent_ahead(parent_holds, error))?;
        if local < parent_holds {
            tracing::warn!(org = %self.node.org(), parent = %self.parent.org_id, parent_holds, local, "the parent holds more of this node's shared log; taking it back");
        }
        match self.reconcile(records, parent_holds).await {
            Ok(()) => Ok(()),
            Err(error) => {
                let now = self.local_head().await.unwrap_or(local);
                Err(SyncError::TakeBack { parent: parent_holds, local: now, reason: error.to_string() })
            }
        }
    }

    /// Any failure once the parent may hold more than this node: signing stays paused.
    fn parent_ahead(&self, parent: u64, error: impl std::fmt::Display) -> SyncError {
        let local = self.status.snapshot().local_head;
        SyncError::TakeBack { parent, local, reason: error.to_string() }
    }

    /// Takes back from the parent whatever of this node's own log it holds
    /// beyond the local head, checking each record as its own; then, if the
    /// node was restored from a backup, lets it sign again.
    async fn reconcile(
        &self,
        records: &mut RecordServiceClient<SessionChannel>,
        parent_holds: u64,
    ) -> Result<(), SyncError> {
        loop {
            let local = self.local_head().await?;
            if local >= parent_holds {
                break;
            }
            let page = self
                .within_deadline(records.read_log(wire::ReadLogRequest {
                    author_org: self.node.org().to_string(),
                    stream: stream_to_wire(LogStream::Shared),
                    from_seq: local + 1,
                    limit: 1000,
                }))
                .await??
                .into_inner();
            if page.envelopes.is_empty() {
                return Err(SyncError::Refused {
                    seq: local + 1,
                    reason: "the parent claims more of this log than it serves back".into(),
                });
            }
            let node = Arc::clone(&self.node);
            let envelopes: Vec<Vec<u8>> = page.envelopes.into_iter().map(|envelope| envelope.envelope).collect();
            tokio::task::spawn_blocking(move || node.take_back_own(envelopes))
                .await
                .map_err(|_| NodeError::ShuttingDown)??;
        }
        let node = Arc::clone(&self.node);
        tokio::task::spawn_blocking(move || if node.awaiting_reconciliation()? { node.reconciled() } else { Ok(()) })
            .await
            .map_err(|_| NodeError::ShuttingDown)??;
        Ok(())
    }

    /// Leaves an enrolment request with the parent (the same request each
    /// time: it is content-addressed) and installs the answer once an
    /// operator there has signed it.
    async fn enrol_online(&self, channel: Channel, problem: edusync_trust::TrustError) -> Result<(), SyncError> {
        let request = self.node.enrolment_request_cached()?;
        let mut trust = TrustServiceClient::new(channel);
        // Left once, then only asked after: the parent limits requests per
        // source, and an operator may take days. Left again now and then, in
        // case the parent dropped it (expired, or rejected by mistake).
        let left = self.enrolment_left.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        let request_id = match left {
            Some((id, at)) if at.elapsed() < ENROLMENT_LEAVE_AGAIN => id,
            _ => {
                let receipt = self
                    .within_deadline(trust.submit_enrolment(wire::StatementFile { text: request }))
                    .await??
                    .into_inner();
                *self.enrolment_left.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    Some((receipt.request_id.clone(), std::time::Instant::now()));
                receipt.request_id
            }
        };
        let receipt = wire::EnrolmentReceipt { request_id: request_id.clone() };
        let answer = self
            .within_deadline(trust.fetch_enrolment(wire::FetchEnrolmentRequest { request_id }))
            .await??
            .into_inner();
        if !answer.signed {
            return Err(SyncError::NotEnrolled(format!(
                "{problem}; enrolment request {} is waiting at {} for an operator (`edusync enroll approve`), or install a certificate file with `edusync enroll install`",
                receipt.request_id, self.parent.org_id
            )));
        }
        let node = Arc::clone(&self.node);
        tokio::task::spawn_blocking(move || node.install_certificate(&answer.certificate_chain, Utc::now()))
            .await
            .map_err(|_| NodeError::ShuttingDown)??;
        Ok(())
    }

    /// Takes in the parent's downward feed from this node's cursor:
    /// certificates and revocations from above, checked like any others.
    async fn pull_down(&self, trust: &mut TrustServiceClient<SessionChannel>) -> Result<(), SyncError> {
        let cursor = format!("down-from/{}", self.parent.org_id);
        loop {
            let after = self.cursor(&cursor).await?;
            let page =
                self.within_deadline(trust.pull_down(wire::PullDownRequest { after, limit: 500 })).await??.into_inner();
            let Some(last) = page.items.last().map(|item| item.seq) else { return Ok(()) };
            let items: Vec<Vec<u8>> = page.items.into_iter().map(|item| item.item).collect();
            let node = Arc::clone(&self.node);
            let name = cursor.clone();
            tokio::task::spawn_blocking(move || {
                node.take_from_above(&items)?;
                node.store().set_cursor(&name, last)?;
                node.store().flush()?;
                Ok::<_, NodeError>(())
            })
            .await
            .map_err(|_| NodeError::ShuttingDown)??;
            if last >= page.head {
                return Ok(());
            }
        }
    }

    /// Sends the parent the statements it should hold: the certificates and
    /// revocations this node and its subtree issued.
    async fn push_statements(&self, trust: &mut TrustServiceClient<SessionChannel>) -> Result<(), SyncError> {
        let cursor = format!("statements-to/{}", self.parent.org_id);
        loop {
            let after = self.cursor(&cursor).await?;
            let pending = self.on_store(move |node| Ok(node.store().read_up(after, 200)?)).await?;
            let Some(last) = pending.last().map(|(seq, _)| *seq) else { return Ok(()) };
            let statements = pending.into_iter().map(|(_, bytes)| bytes).collect();
            let answer = self
                .within_deadline(trust.push_statements(wire::PushStatementsRequest { statements }))
                .await??
                .into_inner();
            for refusal in &answer.refused {
                tracing::warn!(org = %self.node.org(), reason = %refusal.reason, "the parent refused a trust statement");
            }
            self.set_cursor(&cursor, last).await?;
        }
    }

    /// Sends the parent the roll-up evidence queued since the last round:
    /// the aggregates of the nodes below this one and what each summed.
    async fn push_evidence(&self, client: &mut SyncServiceClient<SessionChannel>) -> Result<(), SyncError> {
        let cursor = format!("evidence-to/{}", self.parent.org_id);
        loop {
            let after = self.cursor(&cursor).await?;
            let (last, items) =
                self.on_store(move |node| node.evidence_to_send(after, crate::evidence::EVIDENCE_BATCH)).await?;
            if last == after {
                return Ok(());
            }
            if !items.is_empty() {
                let items = items
                    .into_iter()
                    .map(|item| wire::EvidenceItem {
                        envelope: item.envelope,
                        summed: item.summed.iter().map(|id| id.0.to_vec()).collect(),
                    })
                    .collect();
                self.within_deadline(client.push_evidence(wire::PushEvidenceRequest { items })).await??;
            }
            self.set_cursor(&cursor, last).await?;
        }
    }

    /// One session: learn what the parent holds, send the rest in batches,
    /// wait for each acknowledgement before sending the next.
    #[tracing::instrument(skip_all, fields(org = %self.node.org(), parent = %self.parent.org_id))]
    async fn round(&self, shutdown: &mut watch::Receiver<bool>) -> Result<(), SyncError> {
        let org = self.node.org().clone();
        let (mut client, mut trust, mut records) = self.connect().await?;
        // First what the parent holds: shared signing waits on the answer.
        // Deadlines apply to each exchange, not to the push stream as a whole,
        // which may rightly run for minutes when a school catches up.
        let checkpoint = self
            .within_deadline(client.get_checkpoint(wire::GetCheckpointRequest {
                author_org: org.to_string(),
                stream: stream_to_wire(LogStream::Shared),
            }))
            .await??
            .into_inner();
        let mut acknowledged = checkpoint.highest_contiguous_seq;
        let restored = self
            .on_store(|node| node.awaiting_reconciliation())
            .await
            .map_err(|error| self.parent_ahead(acknowledged, error))?;
        let local = self.local_head().await.map_err(|error| self.parent_ahead(acknowledged, error))?;
        if restored || acknowledged > local {
            self.parent_known_ahead.store(true, std::sync::atomic::Ordering::SeqCst);
            self.take_back(&mut records, acknowledged).await?;
        }
        // The parent holds nothing this node lacks: signing may go on.
        self.parent_known_ahead.store(false, std::sync::atomic::Ordering::SeqCst);
        self.node.shared_signing.resume();
        self.pull_down(&mut trust).await?;
        self.push_statements(&mut trust).await?;
        self.push_evidence(&mut client).await?;
        self.record_contact(acknowledged).await?;
        let local_head = self.local_head().await?;
        self.status.update(|state| state.local_head = local_head);
        if acknowledged == local_head {
            return Ok(());
        }

        // Severe-incident notices go first, ahead of any backlog.
        let mut delivered = BTreeSet::new();
        self.deliver_notices_ahead(&mut client, acknowledged, &mut delivered).await?;

        let (sender, receiver) = tokio::sync::mpsc::channel::<wire::PushBatch>(2);
        let mut acks = self
            .within_deadline(client.push_envelopes(tokio_stream::wrappers::ReceiverStream::new(receiver)))
            .await??
            .into_inner();
        let mut batch_number = 0u64;
        // Two batches in flight: the parent verifies and stores one while the
        // next is read here and crosses the link, so neither side waits for a
        // round trip. Acknowledgements come back in order.
        let mut in_flight: std::collections::VecDeque<(u64, u64, std::time::Instant)> = Default::default();
        let mut next_seq = acknowledged + 1;
        loop {
            while in_flight.len() < PUSH_BATCHES_IN_FLIGHT
                && !*shutdown.borrow()
                && next_seq <= self.local_head().await?
            {
                let envelopes = self.read_batch(Seq(next_seq)).await?;
                if envelopes.is_empty() {
                    break;
                }
                batch_number += 1;
                let last_seq = next_seq + envelopes.len() as u64 - 1;
                if sender.send(wire::PushBatch { batch_number, envelopes }).await.is_err() {
                    return Err(SyncError::StreamClosed(batch_number));
                }
                in_flight.push_back((batch_number, last_seq, std::time::Instant::now()));
                next_seq = last_seq + 1;
            }
            let Some((answered, last_seq, sent_at)) = in_flight.pop_front() else { break };
            let ack = self.within_deadline(acks.next()).await?.ok_or(SyncError::StreamClosed(answered))??;
            self.status.latencies().record(sent_at.elapsed());
            if !ack.refused.is_empty() {
                let refusals: Vec<Refusal> = ack
                    .refused
                    .iter()
                    .map(|refusal| Refusal {
                        record_id: RecordId::from_slice("record_id", &refusal.record_id).unwrap_or(RecordId::ZERO),
                        seq: refusal.seq,
                        kind: crate::RefusalKind::from_code(&refusal.code),
                        reason: refusal.reason.clone(),
                    })
                    .collect();
                for refusal in &refusals {
                    tracing::warn!(org = %org, record = %refusal.record_id, seq = refusal.seq, reason = %refusal.reason, "parent refused a record");
                }
                self.status.update(|state| {
                    state.refused.extend(refusals);
                    let excess = state.refused.len().saturating_sub(KEPT_REFUSALS);
                    state.refused.drain(..excess);
                });
            }
            let held = ack
                .checkpoints
                .iter()
                .find(|checkpoint| checkpoint.author_org == org.as_str())
                .map_or(acknowledged, |checkpoint| checkpoint.highest_contiguous_seq);
            tracing::debug!(
                batch = answered,
                stored = ack.stored,
                duplicates = ack.duplicates,
                held,
                "batch acknowledged"
            );
            self.record_contact(held).await?;
            // A notice written while a long backlog goes up overtakes the rest of it.
            self.deliver_notices_ahead(&mut client, held, &mut delivered).await?;
            if held < last_seq {
                let reason = ack.refused.first().map_or_else(|| "no reason given".to_owned(), |r| r.reason.clone());
                return Err(SyncError::Refused { seq: held + 1, reason });
            }
            acknowledged = held;
        }
        Ok(())
    }

    /// Sends the parent this node's severe-incident notices that it does not
    /// hold yet (after `acknowledged` in the log), once per round each.
    async fn deliver_notices_ahead(
        &self,
        client: &mut SyncServiceClient<SessionChannel>,
        acknowledged: u64,
        delivered: &mut BTreeSet<RecordId>,
    ) -> Result<(), SyncError> {
        let node = Arc::clone(&self.node);
        let unsent = tokio::task::spawn_blocking(move || node.unsent_notices(acknowledged))
            .await
            .map_err(|_| NodeError::ShuttingDown)??;
        let fresh: Vec<(RecordId, Vec<u8>)> = unsent.into_iter().filter(|(id, _)| !delivered.contains(id)).collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let envelopes = fresh.iter().map(|(_, bytes)| wire::SignedEnvelope { envelope: bytes.clone() }).collect();
        let answer = self
            .within_deadline(client.deliver_notices(wire::DeliverNoticesRequest { envelopes }))
            .await??
            .into_inner();
        tracing::info!(org = %self.node.org(), stored = answer.stored, known = answer.known, "severe-incident notices delivered ahead of the log");
        for refusal in &answer.refused {
            tracing::warn!(org = %self.node.org(), seq = refusal.seq, reason = %refusal.reason, "the parent refused a notice");
        }
        delivered.extend(fresh.into_iter().map(|(id, _)| id));
        Ok(())
    }

    async fn within_deadline<T>(&self, exchange: impl std::future::Future<Output = T>) -> Result<T, SyncError> {
        tokio::time::timeout(self.config.request_timeout, exchange)
            .await
            .map_err(|_| SyncError::Timeout(self.config.request_timeout))
    }

    async fn record_contact(&self, acknowledged: u64) -> Result<(), SyncError> {
        self.status.update(|state| {
            state.last_contact = Some(Utc::now());
            state.acknowledged = acknowledged;
        });
        // The parent is the authority on what it holds; this copy only serves
        // status displays while offline, so it is flushed with the next write.
        self.set_cursor(&cursor_name(&self.parent), acknowledged).await?;
        Ok(())
    }

    async fn local_head(&self) -> Result<u64, SyncError> {
        let head = self.on_store(|node| Ok(node.store().head(node.org(), LogStream::Shared)?)).await?;
        Ok(head.map_or(0, |(seq, _)| seq.0))
    }

    async fn read_batch(&self, from: Seq) -> Result<Vec<wire::SignedEnvelope>, SyncError> {
        let limit = self.config.batch_size;
        let budget = self.max_message_bytes / 2;
        let envelopes =
            self.on_store(move |node| Ok(node.store().read_log(node.org(), LogStream::Shared, from, limit)?)).await?;
        // Keep each batch well inside the parent's message limit.
        let mut size = 0;
        Ok(envelopes
            .into_iter()
            .enumerate()
            .take_while(|(index, stored)| {
                size += stored.bytes.len() + 16;
                *index == 0 || size <= budget
            })
            .map(|(_, stored)| wire::SignedEnvelope { envelope: stored.bytes })
            .collect())
    }
}

fn cursor_name(parent: &ParentConfig) -> String {
    Node::parent_cursor(&parent.org_id)
}
