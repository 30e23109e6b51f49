//! How much of each log is on disk. Writes reach sled's tree at once but the
//! disk only at the next flush; anything read for someone else (a parent, a
//! reader, a bundle) must come from the part a crash cannot take back, or the
//! node may later sign different records at positions someone else holds.
//!
//! Heads are tracked in memory: a log's durable head is its stored head until
//! this process first writes to it, and from then on the last head written
//! before a flush that has returned.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use edusync_core::{LogStream, OrgId, RecordId, Seq};

pub(crate) type LogKey = (OrgId, LogStream);
pub(crate) type Head = Option<(Seq, RecordId)>;

#[derive(Debug, Default)]
pub(crate) struct Durability {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The head each log was given by the last write applied in this process.
    written: HashMap<LogKey, (Seq, RecordId)>,
    /// The durable head of every log written in this process. A log that is
    /// not here has not been written since open, so its stored head is durable.
    durable: HashMap<LogKey, Head>,
}

impl Durability {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every update below is a single map operation: nothing is half done.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Before a batch that moves these logs is applied: pins each log's head
    /// as it was (the caller holds the writer lock, so `before` is current).
    pub(crate) fn before_apply<'a>(&self, logs: impl IntoIterator<Item = (&'a LogKey, Head)>) {
        let mut state = self.state();
        for (log, before) in logs {
            state.durable.entry(log.clone()).or_insert(before);
        }
    }

    /// After the batch is applied: the heads it wrote.
    pub(crate) fn applied<'a>(&self, heads: impl IntoIterator<Item = (&'a LogKey, (Seq, RecordId))>) {
        let mut state = self.state();
        for (log, head) in heads {
            state.written.insert(log.clone(), head);
        }
    }

    /// What a flush about to start will make durable.
    pub(crate) fn flush_starts(&self) -> Vec<(LogKey, (Seq, RecordId))> {
        let state = self.state();
        state
            .written
            .iter()
            .filter(|(log, head)| state.durable.get(*log).is_none_or(|durable| durable.is_none_or(|d| d.0 < head.0)))
            .map(|(log, head)| (log.clone(), *head))
            .collect()
    }

    /// A flush that started after `flushed` were written has returned.
    pub(crate) fn flushed(&self, flushed: Vec<(LogKey, (Seq, RecordId))>) {
        let mut state = self.state();
        for (log, head) in flushed {
            let durable = state.durable.entry(log).or_insert(None);
            // Flushes may return out of order; heads only move forward.
            if durable.is_none_or(|d| d.0 < head.0) {
                *durable = Some(head);
            }
        }
    }

    /// The durable head of a log; `stored` reads the head from the tree and is
    /// called under this lock, so that no write lands between the two looks.
    pub(crate) fn head<E>(&self, log: &LogKey, stored: impl FnOnce() -> Result<Head, E>) -> Result<Head, E> {
        let state = self.state();
        match state.durable.get(log) {
            Some(head) => Ok(*head),
            None => stored(),
        }
    }
}
