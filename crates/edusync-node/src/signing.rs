//! Whether this node may sign at the next position of its shared log. A node
//! that lost part of its shared log (restored, rolled back, a disk that lied)
//! may find its parent holding more of it than it does; signing there would
//! make an honest node an equivocator. Until the parent has said how much it
//! holds, and what it holds beyond the local head has been taken back, shared
//! signing waits. The local log never leaves the node, so it never waits.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a write waits for shared signing to resume before it answers
/// "try again": long enough for a first contact with a reachable parent.
pub(crate) const WAIT_FOR_RESUME: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub(crate) struct SharedSigning {
    /// Why signing is paused; `None` while it may go on.
    paused: Mutex<Option<String>>,
    resumed: Condvar,
}

impl SharedSigning {
    fn state(&self) -> MutexGuard<'_, Option<String>> {
        self.paused.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn pause(&self, why: impl Into<String>) {
        *self.state() = Some(why.into());
    }

    pub(crate) fn resume(&self) {
        *self.state() = None;
        self.resumed.notify_all();
    }

    pub(crate) fn paused(&self) -> Option<String> {
        self.state().clone()
    }

    /// Blocks until signing resumes, or `timeout` passes (then the reason it is still paused).
    pub(crate) fn wait(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        while let Some(why) = state.as_ref() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(why.clone());
            }
            state = self.resumed.wait_timeout(state, left).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_signer_waits_for_resume_and_gives_the_reason_on_timeout() {
        let signing = std::sync::Arc::new(SharedSigning::default());
        assert_eq!(signing.wait(Duration::ZERO), Ok(()));
        signing.pause("the parent is being asked");
        assert_eq!(signing.wait(Duration::from_millis(10)), Err("the parent is being asked".to_owned()));
        let resumer = std::sync::Arc::clone(&signing);
        let thread = std::thread::spawn(move || resumer.resume());
        assert_eq!(signing.wait(Duration::from_secs(10)), Ok(()));
        thread.join().expect("resumer");
    }
}
