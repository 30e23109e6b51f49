//! What readers are shown of this office's tables: one differentially
//! private release per semester, drawn on the schedule and paid from the
//! semester's privacy ledger (`edusync_privacy::Ledger`), kept durable with
//! the ledger that charges for it before anyone sees it, and served to every
//! reader of the slot alike.

use std::sync::Mutex;

use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use edusync_core::{Period, PeriodSpan};
use edusync_privacy::{Decision, GaussianNoise, Ledger, MicroRho, Refusal, Schedule, Sigma, Slot};
use edusync_rollup::released::{release_sensitivity, release_tables, ReleasedTables};

use crate::engine::Node;
use crate::error::NodeError;

/// Serialises drawing: two readers arriving in a new slot at once must get
/// the same release and pay for it once.
#[derive(Debug, Default)]
pub(crate) struct ReaderReleases {
    drawing: Mutex<()>,
}

/// A semester's release and its ledger, as the store keeps them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct StoredRelease {
    pub ledger: Ledger,
    pub latest: Option<ReleasedTables>,
}

/// A release as served, with what a reader is told about it.
#[derive(Clone, Debug)]
pub struct ServedRelease {
    pub semester: Period,
    pub tables: ReleasedTables,
    pub ledger: Ledger,
    /// The entry of `ledger` that drew `tables`; `None` for a semester
    /// without cases, whose all-zero tables need no noise and cost nothing.
    pub entry: Option<usize>,
    /// Set when a fresh release was due and the budget refused it.
    pub not_fresher: Option<Refusal>,
}

impl Node {
    /// The unix-second bounds of a period in this node's local time.
    fn period_bounds(&self, period: Period) -> (i64, i64) {
        let at_midnight = |date: chrono::NaiveDate| {
            date.and_time(NaiveTime::MIN)
                .and_local_timezone(self.utc_offset())
                .single()
                .map_or(i64::MAX, |time| time.timestamp())
        };
        let end = period.last_day().succ_opt().map_or(i64::MAX, at_midnight);
        (at_midnight(period.first_day()), end)
    }

    /// Every semester release this node keeps, with its ledger.
    pub fn reader_ledgers(&self) -> Result<Vec<(Period, Ledger)>, NodeError> {
        let mut ledgers = Vec::new();
        for period in self.store().reader_release_periods()? {
            ledgers.push((period, self.stored_release(period)?.ledger));
        }
        Ok(ledgers)
    }

    /// A semester's ledger as this node signs it into its aggregate.
    pub(crate) fn signed_reader_ledger(
        &self,
        semester: Period,
    ) -> Result<Option<edusync_core::ReleaseLedger>, NodeError> {
        let ledger = self.stored_release(semester)?.ledger;
        if ledger.entries.is_empty() {
            return Ok(None);
        }
        Ok(Some(edusync_core::ReleaseLedger {
            rho_cap_millionths: ledger.cap.0,
            charges: ledger
                .entries
                .iter()
                .map(|entry| {
                    let (closing, slot_index) = match entry.slot {
                        Slot::Provisional(index) => (false, index),
                        Slot::Closing(index) => (true, index),
                    };
                    edusync_core::ReleaseCharge {
                        closing,
                        slot_index,
                        released_at_unix_s: entry.released_at,
                        rho_millionths: entry.cost.0,
                    }
                })
                .collect(),
        }))
    }

    /// Takes back the ledger this node last signed into the semester's
    /// aggregate when it holds more than the store's: after a restore from an
    /// older backup, the store's ledger went back in time, but the aggregate
    /// the node signed (taken back from its parent) did not. The values of
    /// those releases are not in the aggregate, so they are not served again;
    /// their slots stay spent.
    fn recover_signed_ledger(&self, semester: Period, stored: &mut StoredRelease) -> Result<(), NodeError> {
        let Some((_, aggregate)) = self.latest_aggregate(self.org(), semester)? else { return Ok(()) };
        let Some(signed) = aggregate.reader_releases else { return Ok(()) };
        if signed.charges.len() <= stored.ledger.entries.len() {
            return Ok(());
        }
        tracing::warn!(period = %semester, signed = signed.charges.len(), held = stored.ledger.entries.len(),
            "the signed readers' ledger is ahead of the store's: taken back, its releases' values lost");
        stored.ledger.entries = signed
            .charges
            .iter()
            .map(|charge| edusync_privacy::LedgerEntry {
                slot: if charge.closing {
                    Slot::Closing(charge.slot_index)
                } else {
                    Slot::Provisional(charge.slot_index)
                },
                released_at: charge.released_at_unix_s,
                cost: MicroRho(charge.rho_millionths),
            })
            .collect();
        stored.latest = None;
        Ok(())
    }

    fn stored_release(&self, semester: Period) -> Result<StoredRelease, NodeError> {
        match self.store().reader_release(semester)? {
            None => Ok(StoredRelease::default()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                tracing::error!(period = %semester, %error, "a reader release cannot be read");
                NodeError::Store(edusync_store::StoreError::Corrupt { key: format!("j/{semester} (reader release)") })
            }),
        }
    }

    /// The release a reader gets for `semester` at `now`: the current slot's,
    /// a fresh one if the slot moved on and the ledger can pay, or the last
    /// one with the reason it is not fresher. `None` when the semester has
    /// nothing counted yet (nothing to release, nothing charged).
    #[tracing::instrument(skip_all, fields(org = %self.org(), period = %semester))]
    pub fn semester_release(&self, semester: Period, now: DateTime<Utc>) -> Result<Option<ServedRelease>, NodeError> {
        debug_assert!(semester.is_semester() && semester.span != PeriodSpan::SchoolYear);
        let _drawing = self.releases.drawing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let settings =
            self.privacy_in_force(semester.school_year)?.reader_tables.unwrap_or(edusync_config::DEFAULT_READER_TABLES);
        let cost = MicroRho::checked("privacy.reader_rho_per_release", settings.rho_per_release_millionths)?;
        let cap = MicroRho(settings.rho_per_semester_millionths);
        let mut stored = self.stored_release(semester)?;
        self.recover_signed_ledger(semester, &mut stored)?;
        // The cap in force now: a policy that tightens it stops releases at once.
        stored.ledger.cap = cap;
        let (start, end) = self.period_bounds(semester);
        let slot = Slot::at(now.timestamp(), start, end, Schedule { every_days: settings.release_every_days });
        let served = |stored: StoredRelease, entry: Option<usize>, not_fresher| {
            stored.latest.map(|tables| ServedRelease { semester, tables, ledger: stored.ledger, entry, not_fresher })
        };
        let decision = stored.ledger.decide(slot, cost);
        if let Decision::Reuse { .. } | Decision::KeepLast { .. } = decision {
            if stored.latest.is_none() {
                return Err(NodeError::BudgetSpent(format!(
                    "{semester}: this slot's release to readers was lost when the store was restored from an \
                     older backup; it is not drawn again (that would spend the budget twice), and the next \
                     slot's release is drawn as the schedule allows"
                )));
            }
        }
        if let Decision::Reuse { index } | Decision::KeepLast { index, .. } = decision {
            let not_fresher = match decision {
                Decision::KeepLast { refusal, .. } => Some(refusal),
                _ => None,
            };
            // Brought up to today's case counts, which readers see exactly elsewhere.
            let sources = self.period_sources(semester)?;
            let current = edusync_rollup::released::case_rows(&crate::query::period_counts(&sources)?);
            let mut served = served(stored, Some(index), not_fresher);
            if let Some(served) = served.as_mut() {
                served.tables = served.tables.updated(&current);
            }
            return Ok(served);
        }
        let sources = self.period_sources(semester)?;
        if sources.is_empty() {
            return Ok(None);
        }
        let counts = crate::query::period_counts(&sources)?;
        if counts.case_count() == 0 {
            // No case, no attribute to protect: every row is zeros whatever the
            // noise, and the count of cases is public. Nothing is charged.
            let tables = release_tables(&counts, &GaussianNoise::new(Sigma(1))?, &mut self.noise_rng("no cases"));
            stored.latest = Some(tables);
            return Ok(served(stored, None, None));
        }
        match decision {
            Decision::Reuse { .. } | Decision::KeepLast { .. } => Ok(None),
            Decision::Refuse(refusal) => Err(NodeError::BudgetSpent(format!(
                "{semester}: nothing has been released to readers, and {refusal}; \
                 an office above can raise privacy.reader_tables in a policy, or the operator in node.toml"
            ))),
            Decision::Fresh { slot, cost } => {
                let noise = GaussianNoise::new(Sigma::for_cost(cost, release_sensitivity())?)?;
                let tables =
                    release_tables(&counts, &noise, &mut self.noise_rng(&format!("reader {semester} {slot:?}")));
                stored.ledger.record(slot, now.timestamp(), cost);
                stored.latest = Some(tables);
                let encoded = serde_json::to_vec(&stored)
                    .map_err(|error| NodeError::Startup(format!("a reader release could not be encoded: {error}")))?;
                self.store().put_reader_release(semester, &encoded)?;
                // The semester's aggregate is signed again with the new ledger.
                self.store().mark_dirty(&[semester])?;
                // Durable before any reader sees it: a crash after showing a
                // release and before recording it would let it be drawn again.
                self.store().flush()?;
                self.aggregation.wake();
                tracing::info!(slot = %slot, spent = %stored.ledger.spent(), cap = %cap, "reader release drawn");
                let entry = stored.ledger.entries.len().checked_sub(1);
                Ok(served(stored, entry, None))
            }
        }
    }
}
