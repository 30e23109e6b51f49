//! Which TCP connections a node keeps. Anyone can open a socket without
//! authenticating, so sockets are a resource to defend: a connection that
//! sends nothing within `FIRST_BYTES` of being accepted (a TLS handshake
//! included) or goes quiet for `server.idle_timeout_seconds` is closed, and
//! at `server.max_connections` a new connection takes the place of the one
//! quiet the longest, so idle sockets can never lock out a real client or a
//! child coming to sync. HTTP/2 keepalive pings keep a live but idle client
//! active, so only the dead and the silent are closed.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Sleep;

/// A new connection must send its first bytes within this long.
pub(crate) const FIRST_BYTES: Duration = Duration::from_secs(10);
/// At the cap, a connection that has sent something gives way only when it
/// has been quiet this long: longer than the keepalive interval (30 s) plus
/// its timeout (20 s), so a live client between pings is never cut.
const EVICTABLE_AFTER: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionLimits {
    pub(crate) max_connections: usize,
    pub(crate) idle_timeout: Duration,
}

/// One accepted connection, as the registry sees it.
#[derive(Debug)]
struct Entry {
    /// Milliseconds since the registry's epoch of the last byte either way.
    last_activity_ms: AtomicU64,
    /// Set when the connection must give way; `close` wakes it.
    evicted: AtomicBool,
    /// Set at the first byte the peer sends: until then it gives way first.
    spoke: AtomicBool,
    close: Arc<Notify>,
}

#[derive(Debug)]
struct Registry {
    epoch: Instant,
    next_id: u64,
    live: HashMap<u64, Arc<Entry>>,
}

impl Registry {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

type Shared = Arc<Mutex<Registry>>;

fn lock(registry: &Shared) -> MutexGuard<'_, Registry> {
    // Every change below is a single map operation: nothing is half done.
    registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Accepts connections on `listener` under `limits` until shutdown; the
/// stream to hand to the gRPC server.
pub(crate) fn incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
    org: String,
) -> tokio_stream::wrappers::ReceiverStream<Result<Tracked, io::Error>> {
    let (sender, receiver) = mpsc::channel(64);
    let registry: Shared = Arc::new(Mutex::new(Registry { epoch: Instant::now(), next_id: 0, live: HashMap::new() }));
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors, say: the listener stays, the next accept may work.
                    tracing::warn!(org = %org, error = %error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some(tracked) = admit(&registry, stream, limits) else {
                tracing::warn!(org = %org, max = limits.max_connections, "connection refused: every connection is busy");
                continue;
            };
            if sender.send(Ok(tracked)).await.is_err() {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

/// Registers a connection, making room by evicting the one quiet the
/// longest when at the cap; `None` when every connection is busy.
fn admit(registry: &Shared, stream: TcpStream, limits: ConnectionLimits) -> Option<Tracked> {
    let _ = stream.set_nodelay(true);
    let mut state = lock(registry);
    let now = state.now_ms();
    if state.live.len() >= limits.max_connections {
        let evictable_ms = u64::try_from(EVICTABLE_AFTER.as_millis()).unwrap_or(u64::MAX);
        // Silent ones first (oldest first), then the one quiet the longest
        // if it has been quiet long enough.
        let victim = state
            .live
            .iter()
            .filter(|(_, entry)| !entry.evicted.load(Ordering::Relaxed))
            .map(|(id, entry)| {
                (*id, entry.spoke.load(Ordering::Relaxed), entry.last_activity_ms.load(Ordering::Relaxed))
            })
            .filter(|(_, spoke, last)| !spoke || now.saturating_sub(*last) >= evictable_ms)
            .min_by_key(|(_, spoke, last)| (*spoke, *last))?;
        if let Some(entry) = state.live.remove(&victim.0) {
            entry.evicted.store(true, Ordering::Relaxed);
            entry.close.notify_one();
        }
    }
    let id = state.next_id;
    state.next_id += 1;
    let entry = Arc::new(Entry {
        last_activity_ms: AtomicU64::new(now),
        evicted: AtomicBool::new(false),
        spoke: AtomicBool::new(false),
        close: Arc::new(Notify::new()),
    });
    state.live.insert(id, Arc::clone(&entry));
    drop(state);
    let closed = Box::pin(Arc::clone(&entry.close).notified_owned());
    Some(Tracked {
        inner: stream,
        registry: Arc::clone(registry),
        id,
        entry,
        closed,
        deadline: Box::pin(tokio::time::sleep(FIRST_BYTES)),
        idle_timeout: limits.idle_timeout,
    })
}

/// A connection that closes itself when idle too long or evicted.
pub(crate) struct Tracked {
    inner: TcpStream,
    registry: Shared,
    id: u64,
    entry: Arc<Entry>,
    closed: Pin<Box<tokio::sync::futures::OwnedNotified>>,
    deadline: Pin<Box<Sleep>>,
    idle_timeout: Duration,
}

impl Tracked {
    /// An error if the connection must end now; registers for the wake-ups otherwise.
    fn must_end(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if self.closed.as_mut().poll(cx).is_ready() || self.entry.evicted.load(Ordering::Relaxed) {
            return Some(io::Error::new(io::ErrorKind::ConnectionAborted, "closed to make room for a new connection"));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Some(io::Error::new(io::ErrorKind::TimedOut, "the connection was idle too long"));
        }
        None
    }

    fn active(&mut self) {
        let now = lock(&self.registry).now_ms();
        self.entry.last_activity_ms.store(now, Ordering::Relaxed);
        self.entry.spoke.store(true, Ordering::Relaxed);
        let next = tokio::time::Instant::now() + self.idle_timeout;
        self.deadline.as_mut().reset(next);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        lock(&self.registry).live.remove(&self.id);
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
