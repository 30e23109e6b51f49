//! The web app: HTML pages for school staff, office operators, data officers
//! and auditors, served by a client of a node. Every page is made from the
//! answers of the node's gRPC services, asked through a session opened as
//! the command line opens it (the node's own key for its operator; a
//! reader's key and certificate), so the web app has no way around
//! authorisation or what readers are shown. The key stays in this process;
//! the browser holds only a session cookie.
//!
//! Serves on loopback only (a school LAN reaches it through the machine it
//! runs on); prints one address with a sign-in token, exchanged once for an
//! HttpOnly, SameSite=Strict cookie; every form carries a CSRF token. Pages
//! work without JavaScript and use none.

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
        "--listen: {0} is not a loopback address; the web app serves this machine only (127.0.0.1 or [::1]), \
         and anything wider would need TLS, which it does not serve"
    )]
    NotLoopback(SocketAddr),
    #[error("--listen: cannot listen on {address}: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    #[error("the web server stopped: {0}")]
    Serve(std::io::Error),
}

pub struct WebOptions {
    pub listen: SocketAddr,
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
    if !options.listen.ip().is_loopback() {
        return Err(WebError::NotLoopback(options.listen));
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| WebError::Listen { address: options.listen, source })?;
    let address = listener.local_addr().map_err(|source| WebError::Listen { address: options.listen, source })?;
    let app = Arc::new(App {
        connect: options.connect,
        node: tokio::sync::Mutex::new(None),
        sessions: session::Sessions::new(),
        language: options.language,
        utc_offset: options.utc_offset,
        org: std::sync::Mutex::new(String::new()),
    });
    let token = app.sessions.sign_in_token().unwrap_or_default();
    let sign_in_url = format!("http://{address}/login?token={token}");
    let router = pages::router(app);
    let task = tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(Running { address, sign_in_url, task })
}
