//! A period's privacy ledger: every release drawn from its data, what each
//! cost, and the rule that decides whether a reader gets the current release,
//! a fresh one, or a refusal.
//!
//! Releases follow a schedule, not the readers: while the period runs, one
//! provisional release per `every_days` slot (counted from the period's
//! start); once it has ended, a closing release, and after that one per slot
//! again while late changes come in and the cap allows. Within a slot every
//! reader gets the same release, however often they ask, so asking again
//! costs nothing and reveals nothing new; what differencing two releases can
//! tell is exactly what the ledger charges for. Whether a fresh release is
//! drawn depends only on the time and the ledger, never on the data.

use serde::{Deserialize, Serialize};

use crate::budget::MicroRho;

const DAY_SECONDS: i64 = 86_400;

/// When fresh releases may be drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Days between fresh releases; at least 1.
    pub every_days: u32,
}

/// A slot of the schedule: the n-th while the period runs, or the n-th after
/// it ended (0 is the closing release).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "phase", content = "index", rename_all = "snake_case")]
pub enum Slot {
    Provisional(u32),
    Closing(u32),
}

impl Slot {
    /// The slot `now` falls in (unix seconds), for a period running from
    /// `start` to `end` (exclusive).
    pub fn at(now: i64, start: i64, end: i64, schedule: Schedule) -> Slot {
        let width = i64::from(schedule.every_days.max(1)) * DAY_SECONDS;
        let index = |since: i64| u32::try_from(since.max(0) / width).unwrap_or(u32::MAX);
        if now < end {
            Slot::Provisional(index(now - start))
        } else {
            Slot::Closing(index(now - end))
        }
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Slot::Provisional(index) => write!(f, "provisional #{}", index + 1),
            Slot::Closing(0) => f.write_str("closing"),
            Slot::Closing(index) => write!(f, "after close #{index}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub slot: Slot,
    /// When it was drawn, unix seconds.
    pub released_at: i64,
    pub cost: MicroRho,
}

/// The releases of one period at one node, against the period's cap.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub cap: MicroRho,
    pub entries: Vec<LedgerEntry>,
}

/// Why no fresh release was drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    /// The cap cannot pay for another release.
    CapSpent { spent: MicroRho, cost: MicroRho, cap: MicroRho },
    /// The cap can pay only for the closing release, which it keeps.
    KeptForClosing { spent: MicroRho, cost: MicroRho, cap: MicroRho },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::CapSpent { spent, cost, cap } => write!(
                f,
                "the period's privacy budget is spent: {spent} of {cap} rho used, and a fresh release costs {cost}"
            ),
            Refusal::KeptForClosing { spent, cost, cap } => write!(
                f,
                "the period's privacy budget ({spent} of {cap} rho used) keeps {cost} rho for the release at the period's close"
            ),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Serve entry `index`'s release again, at no cost.
    Reuse { index: usize },
    /// Draw a fresh release for `slot` and record it at `cost`.
    Fresh { slot: Slot, cost: MicroRho },
    /// Serve entry `index`'s release, and say why it is not fresher.
    KeepLast { index: usize, refusal: Refusal },
    /// Nothing was released and nothing can be.
    Refuse(Refusal),
}

impl Ledger {
    pub fn new(cap: MicroRho) -> Ledger {
        Ledger { cap, entries: Vec::new() }
    }

    pub fn spent(&self) -> MicroRho {
        self.entries.iter().fold(MicroRho::ZERO, |sum, entry| sum.saturating_add(entry.cost))
    }

    pub fn remaining(&self) -> MicroRho {
        MicroRho(self.cap.0.saturating_sub(self.spent().0))
    }

    /// What to serve a reader in `slot`, a fresh release costing `cost`.
    /// A provisional release is drawn only if the closing one can still be
    /// paid for after it. A slot earlier than the last release's (a clock set
    /// back) never draws.
    pub fn decide(&self, slot: Slot, cost: MicroRho) -> Decision {
        let last = self.entries.len().checked_sub(1);
        if let Some(index) = last {
            if self.entries[index].slot >= slot {
                return Decision::Reuse { index };
            }
        }
        let spent = self.spent();
        let closing_released = self.entries.iter().any(|entry| matches!(entry.slot, Slot::Closing(_)));
        let reserve = match slot {
            Slot::Provisional(_) if !closing_released => cost,
            _ => MicroRho::ZERO,
        };
        let needed = spent.saturating_add(cost).saturating_add(reserve);
        if needed <= self.cap {
            return Decision::Fresh { slot, cost };
        }
        let refusal = if spent.saturating_add(cost) <= self.cap {
            Refusal::KeptForClosing { spent, cost, cap: self.cap }
        } else {
            Refusal::CapSpent { spent, cost, cap: self.cap }
        };
        match last {
            Some(index) => Decision::KeepLast { index, refusal },
            None => Decision::Refuse(refusal),
        }
    }

    /// Records a fresh release; the caller makes it durable with the
    /// release's values in one write, before anyone sees them.
    pub fn record(&mut self, slot: Slot, released_at: i64, cost: MicroRho) {
        self.entries.push(LedgerEntry { slot, released_at, cost });
    }

    /// Whether every entry was affordable when it was made: what an auditor
    /// checks of a ledger it was given.
    pub fn kept_its_cap(&self) -> bool {
        self.spent() <= self.cap && self.entries.windows(2).all(|pair| pair[0].slot < pair[1].slot)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const WEEK: Schedule = Schedule { every_days: 7 };

    #[test]
    fn slots_follow_the_calendar_and_the_close() {
        let (start, end) = (1_000_000, 1_000_000 + 100 * DAY_SECONDS);
        assert_eq!(Slot::at(start, start, end, WEEK), Slot::Provisional(0));
        assert_eq!(Slot::at(start + 7 * DAY_SECONDS, start, end, WEEK), Slot::Provisional(1));
        assert_eq!(Slot::at(start - 5, start, end, WEEK), Slot::Provisional(0));
        assert_eq!(Slot::at(end, start, end, WEEK), Slot::Closing(0));
        assert_eq!(Slot::at(end + 15 * DAY_SECONDS, start, end, WEEK), Slot::Closing(2));
        assert!(Slot::Provisional(40) < Slot::Closing(0));
    }

    #[test]
    fn asking_twice_in_a_slot_reuses_and_a_spent_cap_keeps_the_last() {
        let cost = MicroRho(500_000);
        let mut ledger = Ledger::new(MicroRho(1_500_000));
        assert_eq!(ledger.decide(Slot::Provisional(0), cost), Decision::Fresh { slot: Slot::Provisional(0), cost });
        ledger.record(Slot::Provisional(0), 10, cost);
        assert_eq!(ledger.decide(Slot::Provisional(0), cost), Decision::Reuse { index: 0 });
        assert!(matches!(ledger.decide(Slot::Provisional(1), cost), Decision::Fresh { .. }));
        ledger.record(Slot::Provisional(1), 20, cost);
        // 1.0 spent of 1.5: the last 0.5 waits for the close.
        assert_eq!(
            ledger.decide(Slot::Provisional(2), cost),
            Decision::KeepLast {
                index: 1,
                refusal: Refusal::KeptForClosing { spent: MicroRho(1_000_000), cost, cap: MicroRho(1_500_000) }
            }
        );
        assert!(matches!(ledger.decide(Slot::Closing(0), cost), Decision::Fresh { .. }));
        ledger.record(Slot::Closing(0), 30, cost);
        assert!(matches!(
            ledger.decide(Slot::Closing(1), cost),
            Decision::KeepLast { index: 2, refusal: Refusal::CapSpent { .. } }
        ));
        assert!(ledger.kept_its_cap());
        let empty = Ledger::new(MicroRho(400_000));
        assert!(matches!(empty.decide(Slot::Closing(0), cost), Decision::Refuse(Refusal::CapSpent { .. })));
    }

    proptest! {
        /// Whatever times readers come at, the ledger never passes its cap,
        /// draws at most once per slot, and always keeps the closing release
        /// affordable until it is drawn.
        #[test]
        fn the_ledger_never_exceeds_its_cap(
            times in proptest::collection::vec(0i64..300, 0..120),
            cost in 1u64..2_000_000,
            cap in 0u64..6_000_000,
            every_days in 1u32..40,
        ) {
            let (start, end) = (0, 150 * DAY_SECONDS);
            let mut times: Vec<i64> = times.into_iter().map(|day| day * DAY_SECONDS).collect();
            times.sort_unstable();
            let mut ledger = Ledger::new(MicroRho(cap));
            let schedule = Schedule { every_days };
            for now in times {
                let slot = Slot::at(now, start, end, schedule);
                match ledger.decide(slot, MicroRho(cost)) {
                    Decision::Fresh { slot, cost } => ledger.record(slot, now, cost),
                    Decision::Reuse { index } => prop_assert_eq!(ledger.entries[index].slot, slot),
                    Decision::KeepLast { .. } | Decision::Refuse(_) => {}
                }
                prop_assert!(ledger.kept_its_cap());
                let closing_drawn = ledger.entries.iter().any(|e| matches!(e.slot, Slot::Closing(_)));
                if !closing_drawn && cost <= cap {
                    prop_assert!(ledger.spent().0 + cost <= cap, "the closing release is no longer affordable");
                }
            }
        }
    }
}
