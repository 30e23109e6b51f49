//! Starting and stopping a node: the gRPC server (with health and reflection)
//! and, when the node has a parent, its upward sync task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use edusync_config::NodeConfig;
use edusync_proto::wire::record_service_server::RecordServiceServer;
use edusync_proto::wire::sync_service_server::SyncServiceServer;

use edusync_proto::wire::auth_service_server::AuthServiceServer;
use edusync_proto::wire::trust_service_server::TrustServiceServer;
use tonic::service::interceptor::InterceptedService;

use crate::auth::{Authenticator, RequestSeen, SessionCheck};
use crate::connections::{ConnectionLimits, Connections};
use crate::service::{RecordApi, SyncApi};
use crate::sync::{ParentStatus, UpwardSync};
use crate::trust_service::{AuthApi, TrustApi};
use crate::{load_key, Node, NodeError};

/// A node serving gRPC on `address`, syncing upward if it has a parent.
pub struct RunningNode {
    address: SocketAddr,
    node: Arc<Node>,
    parent_status: Option<Arc<ParentStatus>>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    sync: Option<JoinHandle<()>>,
    aggregator: JoinHandle<()>,
    metrics: Option<JoinHandle<()>>,
    disk_watch: JoinHandle<()>,
}

/// The health name that says whether the node accepts writes: NOT_SERVING
/// while its disk is below the reserve (reads are served all the same).
pub const WRITES_HEALTH_NAME: &str = "edusync.v1.Writes";

/// Keeps the writes' health in step with the disk, so that a supervisor sees
/// a full disk before a client does, and the recovery when space returns.
async fn watch_disk(
    node: Arc<Node>,
    health: tonic_health::server::HealthReporter,
    mut shutdown: watch::Receiver<bool>,
) {
    const EVERY: Duration = Duration::from_secs(2);
    let mut accepting = None;
    loop {
        let now = match node.store().disk_space() {
            Ok((free, reserve)) => free >= reserve,
            Err(error) => {
                tracing::warn!(org = %node.org(), error = %error, "cannot read the disk's free space");
                true
            }
        };
        if accepting != Some(now) {
            let status = if now {
                tonic_health::ServingStatus::Serving
            } else {
                tracing::error!(org = %node.org(), "the disk is below its reserve: writes are refused until space is freed");
                tonic_health::ServingStatus::NotServing
            };
            health.set_service_status(WRITES_HEALTH_NAME, status).await;
            if now && accepting == Some(false) {
                tracing::warn!(org = %node.org(), "the disk has room again: writes resume");
            }
            accepting = Some(now);
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

impl std::fmt::Debug for RunningNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningNode").field("address", &self.address).field("node", &self.node).finish_non_exhaustive()
    }
}

/// Loads the key and opens the store (re-deriving after an upgrade).
async fn open_node(config: &NodeConfig, demo_noise_seed: Option<u64>) -> Result<Node, NodeError> {
    let key = load_key(&config.data_dir)?;
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        let mut node = Node::open(&config, key)?;
        if let Some(seed) = demo_noise_seed {
            node = node.with_demo_noise_seed(seed);
        }
        node.rederive_after_upgrade()?;
        Ok::<_, NodeError>(node)
    })
    .await
    .map_err(|_| NodeError::ShuttingDown)?
}

impl RunningNode {
    /// Loads the key, opens the store, then binds `server.listen` and
    /// starts: nothing answers on the port before the store is open, so a
    /// probe that connects sees a node that can serve.
    pub async fn start(config: &NodeConfig) -> Result<Self, NodeError> {
        let node = open_node(config, None).await?;
        let listener = TcpListener::bind(config.server.listen)
            .await
            .map_err(|error| NodeError::Startup(format!("cannot listen on {}: {error}", config.server.listen)))?;
        RunningNode::serve(config, node, listener).await
    }

    /// Starts on a listener the caller bound (port 0 included).
    pub async fn start_on(config: &NodeConfig, listener: TcpListener) -> Result<Self, NodeError> {
        let node = open_node(config, None).await?;
        RunningNode::serve(config, node, listener).await
    }

    /// As `start_on`, for `edusync demo` only: privacy noise drawn from
    /// `seed`, so that the same `--seed` shows the same demo. Never for a
    /// real node, whose releases would then be predictable.
    pub async fn start_demo_on(config: &NodeConfig, listener: TcpListener, seed: u64) -> Result<Self, NodeError> {
        let node = open_node(config, Some(seed)).await?;
        RunningNode::serve(config, node, listener).await
    }

    async fn serve(config: &NodeConfig, node: Node, listener: TcpListener) -> Result<Self, NodeError> {
        let node = Arc::new(node);
        let address = listener
            .local_addr()
            .map_err(|error| NodeError::Startup(format!("cannot read the bound address: {error}")))?;
        let (shutdown, shutdown_signal) = watch::channel(false);

        let upward = config.parent.clone().map(|parent| {
            UpwardSync::new(Arc::clone(&node), parent, config.sync.clone(), config.server.max_message_bytes)
        });
        let parent_status = upward.as_ref().map(UpwardSync::status);

        let limit = config.server.max_message_bytes;
        let sessions = Arc::new(Authenticator::new(Arc::clone(&node)));
        let connections = Connections::new(ConnectionLimits {
            max_connections: config.server.max_connections,
            idle_timeout: config.server.idle_timeout,
        });
        let check = SessionCheck { sessions: Arc::clone(&sessions), connections: connections.clone() };
        let records = RecordServiceServer::new(RecordApi {
            node: Arc::clone(&node),
            parent_status: parent_status.clone(),
            unit_names: Arc::new(
                config
                    .unit_names
                    .iter()
                    .map(|(org, name)| edusync_proto::wire::UnitName {
                        org_id: org.to_string(),
                        display_name: name.clone(),
                    })
                    .collect(),
            ),
            expensive: Arc::default(),
            max_message_bytes: limit,
        })
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
        let records = InterceptedService::new(records, check.clone());
        let auth = InterceptedService::new(
            AuthServiceServer::new(AuthApi { node: Arc::clone(&node), sessions }),
            RequestSeen(connections.clone()),
        );
        let trust = TrustServiceServer::new(TrustApi { node: Arc::clone(&node), enrolment_sources: Arc::default() })
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
            .accept_compressed(tonic::codec::CompressionEncoding::Zstd)
            .send_compressed(tonic::codec::CompressionEncoding::Zstd);
        let trust = InterceptedService::new(trust, check.clone());
        // Sync traffic is compressed with zstd when the peer offers it: envelopes
        // of the same kind compress well, and school links are slow.
        let sync_service = SyncServiceServer::new(SyncApi { node: Arc::clone(&node) })
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
            .accept_compressed(tonic::codec::CompressionEncoding::Zstd)
            .send_compressed(tonic::codec::CompressionEncoding::Zstd);
        let sync_service = InterceptedService::new(sync_service, check);
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        health_reporter.set_serving::<RecordServiceServer<RecordApi>>().await;
        health_reporter.set_serving::<SyncServiceServer<SyncApi>>().await;
        let disk_watch = tokio::spawn(watch_disk(Arc::clone(&node), health_reporter, shutdown_signal.clone()));
        // Both reflection versions: grpcurl before 1.8.8 and many IDE clients
        // still ask v1alpha only.
        let reflection_builder = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(edusync_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_error = |error| NodeError::Startup(format!("cannot build gRPC reflection: {error}"));
        let reflection = reflection_builder().build_v1().map_err(reflection_error)?;
        let reflection_v1alpha = reflection_builder().build_v1alpha().map_err(reflection_error)?;

        let mut server_shutdown = shutdown_signal.clone();
        let incoming =
            crate::connections::incoming(listener, connections, shutdown_signal.clone(), node.org().to_string());
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = crate::server_tls(&config.server.transport)? {
            builder = builder.tls_config(tls).map_err(|error| {
                NodeError::Startup(format!("server.tls: the certificate or key is unusable: {error}"))
            })?;
        }
        let server = tokio::spawn(
            builder
                .http2_keepalive_interval(Some(Duration::from_secs(30)))
                .http2_keepalive_timeout(Some(Duration::from_secs(20)))
                .concurrency_limit_per_connection(64)
                .add_service(health_service)
                .add_service(reflection)
                .add_service(reflection_v1alpha)
                .add_service(auth)
                .add_service(trust)
                .add_service(records)
                .add_service(sync_service)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = server_shutdown.wait_for(|stop| *stop).await;
                }),
        );
        let metrics = match config.metrics_listen {
            None => None,
            Some(address) => {
                let listener = TcpListener::bind(address).await.map_err(|error| {
                    NodeError::Startup(format!("metrics.listen: cannot listen on {address}: {error}"))
                })?;
                tracing::info!(org = %node.org(), address = %address, "metrics served at /metrics");
                Some(tokio::spawn(crate::metrics::serve(
                    listener,
                    Arc::clone(&node),
                    parent_status.clone(),
                    shutdown_signal.clone(),
                )))
            }
        };
        let sync = upward.map(|upward| tokio::spawn(upward.run(shutdown_signal.clone())));
        let aggregator = tokio::spawn(crate::aggregator::run(Arc::clone(&node), shutdown_signal.clone()));
        tracing::info!(org = %node.org(), address = %address, "node serving");
        Ok(RunningNode { address, node, parent_status, shutdown, server, sync, aggregator, metrics, disk_watch })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    pub fn parent_status(&self) -> Option<&Arc<ParentStatus>> {
        self.parent_status.as_ref()
    }

    /// Stops accepting, lets in-flight requests finish, stops sync, flushes.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let _ = self.shutdown.send(true);
        if let Some(sync) = self.sync {
            let _ = sync.await;
        }
        let _ = self.aggregator.await;
        if let Some(metrics) = self.metrics {
            let _ = metrics.await;
        }
        let _ = self.disk_watch.await;
        let served = self.server.await.map_err(|_| NodeError::ShuttingDown)?;
        served.map_err(|error| NodeError::Startup(format!("server stopped with an error: {error}")))?;
        let node = self.node;
        tokio::task::spawn_blocking(move || node.store().flush()).await.map_err(|_| NodeError::ShuttingDown)??;
        Ok(())
    }
}
