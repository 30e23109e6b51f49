//! A bound on calls whose cost grows with what the node holds (node info,
//! listings, roll-ups, queries, audit bundles, backups). Any session holder
//! can ask for them, so without a bound a few hundred concurrent asks fill
//! the blocking pool and starve everyone: each session may run a few at
//! once, and the node as a whole a few per core, others waiting their turn
//! for a while and then told to come back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::NodeError;

/// Expensive calls one session may have running at once.
pub(crate) const PER_SESSION: usize = 2;
/// How long a call waits for the node's turn before it is told to come back.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Which session a request came in, as the session check saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SessionToken(pub(crate) [u8; 32]);

#[derive(Debug)]
pub(crate) struct ExpensiveCalls {
    node: Arc<Semaphore>,
    node_limit: usize,
    running: Arc<Mutex<HashMap<SessionToken, usize>>>,
}

/// Held while an expensive call runs; frees its places when dropped.
#[derive(Debug)]
pub(crate) struct Turn {
    _node: OwnedSemaphorePermit,
    _session: Option<SessionPlace>,
}

/// One of a session's places, given back when dropped.
#[derive(Debug)]
struct SessionPlace {
    session: SessionToken,
    running: Arc<Mutex<HashMap<SessionToken, usize>>>,
}

fn lock(running: &Mutex<HashMap<SessionToken, usize>>) -> MutexGuard<'_, HashMap<SessionToken, usize>> {
    running.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Drop for SessionPlace {
    fn drop(&mut self) {
        let mut running = lock(&self.running);
        if let Some(count) = running.get_mut(&self.session) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.session);
            }
        }
    }
}

impl Default for ExpensiveCalls {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        ExpensiveCalls::with_node_limit((2 * cores).max(4))
    }
}

impl ExpensiveCalls {
    pub(crate) fn with_node_limit(node_limit: usize) -> Self {
        ExpensiveCalls { node: Arc::new(Semaphore::new(node_limit)), node_limit, running: Arc::default() }
    }

    /// Waits for a turn for `what`, asked in `session` (the node's own
    /// in-process callers have none).
    pub(crate) async fn turn(&self, session: Option<SessionToken>, what: &str) -> Result<Turn, NodeError> {
        let place = match session {
            None => None,
            Some(session) => {
                let mut running = lock(&self.running);
                let count = running.entry(session).or_default();
                if *count >= PER_SESSION {
                    return Err(NodeError::Exhausted(format!(
                        "{what}: this session already has {PER_SESSION} such calls running; wait for their answers before asking again"
                    )));
                }
                *count += 1;
                Some(SessionPlace { session, running: Arc::clone(&self.running) })
            }
        };
        match tokio::time::timeout(QUEUE_WAIT, Arc::clone(&self.node).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Turn { _node: permit, _session: place }),
            Ok(Err(_)) => Err(NodeError::ShuttingDown),
            Err(_) => Err(NodeError::Exhausted(format!(
                "{what}: the node is answering {} such calls and none finished within {} s; ask again in a moment",
                self.node_limit,
                QUEUE_WAIT.as_secs()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_runs_at_most_its_share_and_the_node_at_most_its_limit() {
        let calls = ExpensiveCalls::with_node_limit(3);
        let (one, two) = (Some(SessionToken([1; 32])), Some(SessionToken([2; 32])));
        let first = calls.turn(one, "GetNodeInfo").await.expect("first");
        let _second = calls.turn(one, "GetNodeInfo").await.expect("second");
        let refused = calls.turn(one, "GetNodeInfo").await.expect_err("a third in the same session");
        assert!(matches!(refused, NodeError::Exhausted(_)), "{refused}");
        let _other = calls.turn(two, "GetNodeInfo").await.expect("another session still gets a turn");
        drop(first);
        let _again = calls.turn(one, "GetNodeInfo").await.expect("a place freed is a place again");
        assert_eq!(calls.node.available_permits(), 0, "three turns hold the node's three places");
    }
}
