//! Which TCP connections a node keeps. Anyone can open a socket without
//! authenticating, so sockets are a resource to defend, and a connection is
//! judged by the progress it makes above TCP, never by bytes alone: bytes
//! can be dribbled one a second forever.
//!
//! - A new connection must make its first request to an edusync service
//!   within `FIRST_REQUEST` (a TLS handshake included) or it is closed,
//!   however many bytes it sends. After that it is closed when nothing
//!   arrives for `server.idle_timeout_seconds`; HTTP/2 keepalive pings keep
//!   a live but idle client open.
//! - At `server.max_connections` a new connection takes the place of one
//!   that has made the least progress: first one with no request yet (from
//!   the address holding most such places, the longest-waiting first), then
//!   one with requests but no session (the one whose last request is
//!   oldest), then an authenticated one quiet for `EVICTABLE_AFTER`. A
//!   client that has opened a session and is in use is never cut for a
//!   newcomer; when every place is such a client, the newcomer is refused.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Sleep;

/// A new connection must make its first request within this long.
pub const FIRST_REQUEST: Duration = Duration::from_secs(10);
/// At the cap, an authenticated connection gives way only when it has been
/// quiet this long: longer than the keepalive interval (30 s) plus its
/// timeout (20 s), so a live client between pings is never cut.
const EVICTABLE_AFTER: Duration = Duration::from_secs(60);
/// `last_request_ms` of a connection that has made none.
const NEVER: u64 = u64::MAX;

#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionLimits {
    pub(crate) max_connections: usize,
    pub(crate) idle_timeout: Duration,
}

/// One accepted connection, as the registry sees it. Times are milliseconds
/// since the registry's epoch.
#[derive(Debug)]
struct Entry {
    peer: SocketAddr,
    accepted_ms: u64,
    /// The last byte the peer sent.
    last_activity_ms: AtomicU64,
    /// The last request that reached an edusync service, or `NEVER`.
    last_request_ms: AtomicU64,
    /// Set when a request carried a valid session.
    authenticated: AtomicBool,
    /// Set when the connection must give way; `close` wakes it.
    evicted: AtomicBool,
    close: Arc<Notify>,
}

impl Entry {
    fn made_a_request(&self) -> bool {
        self.last_request_ms.load(Ordering::Relaxed) != NEVER
    }
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    live: HashMap<u64, Arc<Entry>>,
    /// A connection's id by its peer's address, for requests to report
    /// progress: tonic gives a request its peer's address.
    by_peer: HashMap<SocketAddr, u64>,
}

impl Registry {
    fn remove(&mut self, id: u64) -> Option<Arc<Entry>> {
        let entry = self.live.remove(&id)?;
        if self.by_peer.get(&entry.peer) == Some(&id) {
            self.by_peer.remove(&entry.peer);
        }
        Some(entry)
    }
}

#[derive(Debug)]
struct Inner {
    epoch: Instant,
    limits: ConnectionLimits,
    registry: Mutex<Registry>,
}

/// The node's live connections, shared by the accept loop and the
/// interceptors that see each request's progress.
#[derive(Clone, Debug)]
pub(crate) struct Connections(Arc<Inner>);

impl Connections {
    pub(crate) fn new(limits: ConnectionLimits) -> Self {
        Connections(Arc::new(Inner { epoch: Instant::now(), limits, registry: Mutex::default() }))
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.epoch.elapsed().as_millis()).unwrap_or(NEVER - 1)
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // Every change below is a single map operation: nothing is half done.
        self.0.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A request reached an edusync service on the connection from `peer`,
    /// with a valid session if `authenticated`.
    pub(crate) fn requested(&self, peer: Option<SocketAddr>, authenticated: bool) {
        let Some(peer) = peer else { return };
        let now = self.now_ms();
        let registry = self.lock();
        let Some(entry) = registry.by_peer.get(&peer).and_then(|id| registry.live.get(id)) else { return };
        entry.last_request_ms.store(now, Ordering::Relaxed);
        if authenticated {
            entry.authenticated.store(true, Ordering::Relaxed);
        }
    }

    /// Registers a connection, making room at the cap by evicting the one
    /// that has made the least progress; `None` when every place is held by
    /// a client in use.
    fn admit(&self, stream: TcpStream, peer: SocketAddr) -> Option<Tracked> {
        let _ = stream.set_nodelay(true);
        let now = self.now_ms();
        let mut registry = self.lock();
        if registry.live.len() >= self.0.limits.max_connections {
            let victim = least_progress(&registry, now)?;
            if let Some(entry) = registry.remove(victim) {
                entry.evicted.store(true, Ordering::Relaxed);
                entry.close.notify_one();
            }
        }
        let id = registry.next_id;
        registry.next_id += 1;
        let entry = Arc::new(Entry {
            peer,
            accepted_ms: now,
            last_activity_ms: AtomicU64::new(now),
            last_request_ms: AtomicU64::new(NEVER),
            authenticated: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            close: Arc::new(Notify::new()),
        });
        registry.live.insert(id, Arc::clone(&entry));
        registry.by_peer.insert(peer, id);
        drop(registry);
        let closed = Box::pin(Arc::clone(&entry.close).notified_owned());
        Some(Tracked {
            inner: stream,
            connections: self.clone(),
            id,
            entry,
            closed,
            deadline: Box::pin(tokio::time::sleep(FIRST_REQUEST)),
        })
    }
}

/// The connection to close for a newcomer, by the order in the module's
/// documentation; `None` when none may be closed.
fn least_progress(registry: &Registry, now: u64) -> Option<u64> {
    let candidates = || registry.live.iter().filter(|(_, entry)| !entry.evicted.load(Ordering::Relaxed));
    let mut waiting_by_address: HashMap<IpAddr, usize> = HashMap::new();
    for (_, entry) in candidates().filter(|(_, entry)| !entry.made_a_request()) {
        *waiting_by_address.entry(entry.peer.ip()).or_default() += 1;
    }
    let evictable_ms = u64::try_from(EVICTABLE_AFTER.as_millis()).unwrap_or(NEVER);
    candidates()
        .filter_map(|(id, entry)| {
            let last_request = entry.last_request_ms.load(Ordering::Relaxed);
            let rank = if last_request == NEVER {
                let waiting = waiting_by_address.get(&entry.peer.ip()).copied().unwrap_or(0);
                (0, usize::MAX - waiting, entry.accepted_ms)
            } else if !entry.authenticated.load(Ordering::Relaxed) {
                (1, 0, last_request)
            } else {
                let last = entry.last_activity_ms.load(Ordering::Relaxed);
                if now.saturating_sub(last) < evictable_ms {
                    return None;
                }
                (2, 0, last)
            };
            Some((rank, *id))
        })
        .min()
        .map(|(_, id)| id)
}

/// Accepts connections on `listener` until shutdown; the stream to hand to
/// the gRPC server.
pub(crate) fn incoming(
    listener: TcpListener,
    connections: Connections,
    mut shutdown: watch::Receiver<bool>,
    org: String,
) -> tokio_stream::wrappers::ReceiverStream<Result<Tracked, io::Error>> {
    let (sender, receiver) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, say: the listener stays, the next accept may work.
                    tracing::warn!(org = %org, error = %error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some(tracked) = connections.admit(stream, peer) else {
                tracing::warn!(
                    org = %org,
                    max = connections.0.limits.max_connections,
                    "connection refused: every place is held by a client in use"
                );
                continue;
            };
            if sender.send(Ok(tracked)).await.is_err() {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

/// A connection that closes itself when it makes no progress or is evicted.
pub(crate) struct Tracked {
    inner: TcpStream,
    connections: Connections,
    id: u64,
    entry: Arc<Entry>,
    closed: Pin<Box<tokio::sync::futures::OwnedNotified>>,
    /// First the time by which a request must come; after one, the time by
    /// which a byte must come.
    deadline: Pin<Box<Sleep>>,
}

impl Tracked {
    /// An error if the connection must end now; registers for the wake-ups otherwise.
    fn must_end(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if self.closed.as_mut().poll(cx).is_ready() || self.entry.evicted.load(Ordering::Relaxed) {
            return Some(io::Error::new(io::ErrorKind::ConnectionAborted, "closed to make room for a new connection"));
        }
        while self.deadline.as_mut().poll(cx).is_ready() {
            if !self.entry.made_a_request() {
                return Some(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no request within the first seconds of the connection",
                ));
            }
            // Bytes only extend a connection that has made a request; the
            // timer is moved here rather than at every read.
            let idle_timeout_ms = u64::try_from(self.connections.0.limits.idle_timeout.as_millis()).unwrap_or(NEVER);
            let idle_until = self.entry.last_activity_ms.load(Ordering::Relaxed).saturating_add(idle_timeout_ms);
            let now = self.connections.now_ms();
            if idle_until <= now {
                return Some(io::Error::new(io::ErrorKind::TimedOut, "the connection was idle too long"));
            }
            let next = tokio::time::Instant::now() + Duration::from_millis(idle_until - now);
            self.deadline.as_mut().reset(next);
        }
        None
    }

    fn active(&self) {
        self.entry.last_activity_ms.store(self.connections.now_ms(), Ordering::Relaxed);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.connections.lock().remove(self.id);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.active();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => match self.must_end(cx) {
                Some(error) => Poll::Ready(Err(error)),
                None => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        // Only what the peer sends counts as activity: writes into a dead
        // peer's socket buffer succeed for a long time.
        if let Some(error) = self.must_end(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Tracked {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(peer: &str, accepted_ms: u64, last_request_ms: u64, authenticated: bool, last_activity_ms: u64) -> Entry {
        Entry {
            peer: peer.parse().expect("address"),
            accepted_ms,
            last_activity_ms: AtomicU64::new(last_activity_ms),
            last_request_ms: AtomicU64::new(last_request_ms),
            authenticated: AtomicBool::new(authenticated),
            evicted: AtomicBool::new(false),
            close: Arc::new(Notify::new()),
        }
    }

    fn registry(entries: Vec<Entry>) -> Registry {
        let mut registry = Registry::default();
        for entry in entries {
            let id = registry.next_id;
            registry.next_id += 1;
            registry.by_peer.insert(entry.peer, id);
            registry.live.insert(id, Arc::new(entry));
        }
        registry
    }

    const NOW: u64 = 1_000_000;

    #[test]
    fn a_connection_without_a_request_goes_first_from_the_address_holding_most_such_places() {
        let registry = registry(vec![
            // A school's client, waiting longest, alone on its address.
            entry("10.0.0.1:5000", 10, NEVER, false, NOW),
            // Three from one address, dribbling bytes up to now.
            entry("10.0.0.9:1", 20, NEVER, false, NOW),
            entry("10.0.0.9:2", 30, NEVER, false, NOW),
            entry("10.0.0.9:3", 40, NEVER, false, NOW),
            entry("10.0.0.2:7000", 0, NOW - 1, false, NOW),
        ]);
        assert_eq!(least_progress(&registry, NOW), Some(1));
    }

    #[test]
    fn with_every_connection_requesting_the_one_without_a_session_and_oldest_request_goes() {
        let registry = registry(vec![
            entry("10.0.0.1:1", 0, NOW - 10, true, NOW - 120_000),
            entry("10.0.0.1:2", 0, NOW - 5, false, NOW),
            entry("10.0.0.1:3", 0, NOW - 50, false, NOW),
        ]);
        assert_eq!(least_progress(&registry, NOW), Some(2));
    }

    #[test]
    fn an_authenticated_client_gives_way_only_when_quiet_past_the_keepalive() {
        let quiet = EVICTABLE_AFTER.as_millis() as u64;
        let busy = registry(vec![
            entry("10.0.0.1:1", 0, NOW - 1, true, NOW - quiet + 1),
            entry("10.0.0.1:2", 0, NOW - 1, true, NOW),
        ]);
        assert_eq!(least_progress(&busy, NOW), None);
        let one_quiet = registry(vec![
            entry("10.0.0.1:1", 0, NOW - 1, true, NOW),
            entry("10.0.0.1:2", 0, NOW - quiet - 1, true, NOW - quiet),
        ]);
        assert_eq!(least_progress(&one_quiet, NOW), Some(1));
    }
}
