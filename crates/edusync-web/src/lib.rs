//! The web app: HTML pages for school staff, office operators, data officers
//! and auditors, served by a client of a node. Every page is made from the
//! answers of the node's gRPC services, asked through a session opened as
//! the command line opens it (the node's own key for its operator; a
//! reader's key and certificate), so the web app has no way around
//! authorisation or what readers are shown. The key stays in this process;
//! the browser holds only a session cookie.
//!
//! Serves plain HTTP on loopback only; anywhere else (a school LAN) it
//! serves HTTPS from the TLS files it is given, and refuses to start
//! without them. Prints one address with a sign-in token, exchanged once
//! for an HttpOnly, SameSite=Strict cookie (Secure under HTTPS); every form
//! carries a CSRF token. Pages work without JavaScript and use none.

mod labels;
mod pages;
mod session;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edusync_i18n::Language;
use edusync_node::{Bearer, SessionChannel};
use edusync_proto::wire::record_service_client::RecordServiceClient;
use edusync_proto::wire::trust_service_client::TrustServiceClient;
use tonic::transport::Channel;

pub use labels::Label;

/// Opens a session with the node: a channel, the bearer token that speaks for
/// it, and the role the node gave (`operator`, `data officer`, ...).
pub type Connect =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(Channel, Bearer, String), String>> + Send>> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(
        "--listen: {0} is not a loopback address; serving beyond this machine needs HTTPS: give \
         --tls-certificate and --tls-key (for example from `edusync tls generate`), or listen on 127.0.0.1"
    )]
    NotLoopback(SocketAddr),
    #[error("{field}: {reason}")]
    Tls { field: &'static str, reason: String },
    #[error("--listen: cannot listen on {address}: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    #[error("the web server stopped: {0}")]
    Serve(std::io::Error),
}

/// The PEM files HTTPS is served with.
pub struct TlsFiles {
    pub certificate: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

pub struct WebOptions {
    pub listen: SocketAddr,
    /// Required for any address but loopback.
    pub tls: Option<TlsFiles>,
    pub language: Language,
    /// How times typed into forms are read: the node's local offset.
    pub utc_offset: chrono::FixedOffset,
    pub connect: Connect,
}

/// Sessions are renewed well before the node's 15 minutes run out.
const SESSION_RENEWAL: Duration = Duration::from_secs(10 * 60);

pub(crate) struct App {
    connect: Connect,
    node: tokio::sync::Mutex<Option<(Channel, Bearer, Instant, String)>>,
    pub(crate) sessions: session::Sessions,
    /// Served over HTTPS: cookies are marked Secure.
    pub(crate) secure: bool,
    pub(crate) language: Language,
    pub(crate) utc_offset: chrono::FixedOffset,
    /// The node's org id, as its first answer named it.
    pub(crate) org: std::sync::Mutex<String>,
}

impl App {
    /// A client of the node with a live session, and the role it speaks as.
    pub(crate) async fn node(&self) -> Result<(RecordServiceClient<SessionChannel>, String), String> {
        let (channel, bearer, role) = self.session().await?;
        let client = RecordServiceClient::with_interceptor(channel, bearer).max_decoding_message_size(64 * 1024 * 1024);
        Ok((client, role))
    }

    /// The node's trust service, in the same session.
    pub(crate) async fn trust(&self) -> Result<TrustServiceClient<SessionChannel>, String> {
        let (channel, bearer, _) = self.session().await?;
        Ok(TrustServiceClient::with_interceptor(channel, bearer))
    }

    async fn session(&self) -> Result<(Channel, Bearer, String), String> {
        let mut held = self.node.lock().await;
        if let Some((channel, bearer, opened, role)) = held.as_ref() {
            if opened.elapsed() < SESSION_RENEWAL {
                return Ok((channel.clone(), bearer.clone(), role.clone()));
            }
        }
        let (channel, bearer, role) = (self.connect)().await?;
        *held = Some((channel.clone(), bearer.clone(), Instant::now(), role.clone()));
        Ok((channel, bearer, role))
    }

    /// Forgets the session, after the node said it no longer knows it.
    pub(crate) async fn drop_session(&self) {
        *self.node.lock().await = None;
    }
}

/// A running web app: its address, and the one-time sign-in address.
pub struct Running {
    pub address: SocketAddr,
    pub sign_in_url: String,
    task: tokio::task::JoinHandle<Result<(), std::io::Error>>,
}

impl Running {
    /// Serves until the task ends (on an error) or the process is stopped.
    pub async fn wait(self) -> Result<(), WebError> {
        match self.task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(WebError::Serve(error)),
            Err(joined) => Err(WebError::Serve(std::io::Error::other(joined.to_string()))),
        }
    }
}

/// Binds and starts serving; the sign-in address is printed by the caller.
pub async fn start(options: WebOptions) -> Result<Running, WebError> {
    let acceptor = match &options.tls {
        Some(files) => Some(tls_acceptor(files)?),
        None if !options.listen.ip().is_loopback() => return Err(WebError::NotLoopback(options.listen)),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| WebError::Listen { address: options.listen, source })?;
    let address = listener.local_addr().map_err(|source| WebError::Listen { address: options.listen, source })?;
    let app = Arc::new(App {
        connect: options.connect,
        node: tokio::sync::Mutex::new(None),
        sessions: session::Sessions::new(),
        secure: acceptor.is_some(),
        language: options.language,
        utc_offset: options.utc_offset,
        org: std::sync::Mutex::new(String::new()),
    });
    let token = app.sessions.sign_in_token().unwrap_or_default();
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let sign_in_url = format!("{scheme}://{address}/login?token={token}");
    let router = pages::router(app);
    let task = match acceptor {
        Some(acceptor) => tokio::spawn(serve_tls(listener, router, acceptor)),
        None => tokio::spawn(async move { axum::serve(listener, router).await }),
    };
    Ok(Running { address, sign_in_url, task })
}

fn tls_acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, WebError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read = |path: &std::path::Path, field: &'static str| {
        std::fs::read(path)
            .map_err(|error| WebError::Tls { field, reason: format!("cannot read {}: {error}", path.display()) })
    };
    let certificate = read(&files.certificate, "--tls-certificate")?;
    let certificates: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&certificate).collect::<Result<_, _>>().map_err(|error| WebError::Tls {
            field: "--tls-certificate",
            reason: format!("{} is not a PEM certificate chain: {error}", files.certificate.display()),
        })?;
    if certificates.is_empty() {
        return Err(WebError::Tls {
            field: "--tls-certificate",
            reason: format!("{} holds no certificate", files.certificate.display()),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key, "--tls-key")?).map_err(|error| WebError::Tls {
        field: "--tls-key",
        reason: format!("{} is not a PEM private key: {error}", files.key.display()),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(certificates, key))
        .map_err(|error| WebError::Tls {
            field: "--tls-key",
            reason: format!("the key and certificate do not make a TLS identity: {error}"),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// How long a browser has to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// HTTPS: each connection's handshake on its own task, so one slow client
/// holds up no other.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    acceptor: tokio_rustls::TlsAcceptor,
) -> Result<(), std::io::Error> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait, then go on serving.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "a TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = hyper_util::service::TowerToHyperService::new(router);
            let served = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "an HTTPS connection ended with an error");
            }
        });
    }
}
