//! Demographic crosses under differential privacy.
//!
//! Who was involved (sex x grade band x at-risk group, for victims and for
//! perpetrators) never leaves a school exactly. A school releases, once a
//! period has ended, every cell of the grid (zeros too) plus discrete Laplace
//! noise of parameter epsilon; each release is paid from a per-school,
//! per-school-year budget kept in a durable ledger; and the same data always
//! gets the same released answer, so asking again reveals nothing new.
//!
//! Unit of privacy: one person in one incident case. Each such person is
//! counted in exactly one cell (their first listed at-risk group, or none), so
//! adding or removing one changes one cell by one: sensitivity 1, and a
//! release with noise of parameter epsilon is epsilon-differentially private.

use sha2::{Digest, Sha256};

use chrono::FixedOffset;
use edusync_core::{CrossCell, CrossRole, GradeBand, Period, PersonRole, CROSS_CELLS};

use edusync_privacy::{DrawRng, LaplaceNoise, PrivacyError};

use crate::{incident_cases, OwnRecord};

/// Epsilon in millionths, so that the ledger adds integers exactly.
pub type MicroEpsilon = u64;

/// The exact cross of one period: people in the latest report of each case
/// that occurred in the period.
pub fn exact_cross(records: &[OwnRecord<'_>], period: Period, utc_offset: FixedOffset) -> Vec<u64> {
    let mut cells = vec![0u64; CROSS_CELLS];
    for case in incident_cases(records) {
        if !case.occurred_in(period, utc_offset) {
            continue;
        }
        let incident = case.latest();
        for person in &incident.people {
            let role = match person.role {
                PersonRole::Victim => CrossRole::Victim,
                PersonRole::Perpetrator => CrossRole::Perpetrator,
                PersonRole::Witness | PersonRole::Other => continue,
            };
            let cell = CrossCell {
                role,
                sex: person.sex,
                band: GradeBand::of_grade(person.grade),
                group: person.at_risk_groups.first().copied(),
            };
            cells[cell.index()] += 1;
        }
    }
    cells
}

/// Identifies an exact cross, so that an unchanged one is never released twice.
pub fn cross_hash(exact: &[u64]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"edusync/cross/v1");
    for value in exact {
        hasher.update(value.to_be_bytes());
    }
    hasher.finalize().into()
}

/// The released values: every cell plus its own discrete Laplace noise of
/// parameter epsilon (millionths), drawn by the exact integer sampler.
pub fn add_noise(exact: &[u64], epsilon: MicroEpsilon, rng: &mut DrawRng) -> Result<Vec<i64>, PrivacyError> {
    let noise = LaplaceNoise::new(epsilon)?;
    Ok(exact.iter().map(|value| i64::try_from(*value).unwrap_or(i64::MAX).saturating_add(noise.draw(rng))).collect())
}

/// What to do for one period's cross, given the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseDecision {
    /// The data is what was released before: give the same answer, free.
    Reuse,
    /// Release anew and spend `cost`; the year's spending becomes `spent_after`.
    Release { spent_after: MicroEpsilon },
    /// The year's budget cannot pay for another release: keep the last one, marked frozen.
    Frozen,
}

pub fn decide_release(
    released_hash: Option<[u8; 32]>,
    exact_hash: [u8; 32],
    spent: MicroEpsilon,
    cost: MicroEpsilon,
    cap: MicroEpsilon,
) -> ReleaseDecision {
    if released_hash == Some(exact_hash) {
        return ReleaseDecision::Reuse;
    }
    match spent.checked_add(cost) {
        Some(spent_after) if spent_after <= cap => ReleaseDecision::Release { spent_after },
        _ => ReleaseDecision::Frozen,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn an_unchanged_cross_is_reused_and_a_spent_budget_freezes() {
        let hash = cross_hash(&[1, 2, 3]);
        assert_eq!(decide_release(Some(hash), hash, 2_000_000, 500_000, 2_000_000), ReleaseDecision::Reuse);
        assert_eq!(
            decide_release(None, hash, 1_500_000, 500_000, 2_000_000),
            ReleaseDecision::Release { spent_after: 2_000_000 }
        );
        assert_eq!(decide_release(Some([0; 32]), hash, 1_600_000, 500_000, 2_000_000), ReleaseDecision::Frozen);
    }

    proptest! {
        /// Whatever sequence of data changes arrives, the ledger never spends past its cap.
        #[test]
        fn the_ledger_never_exceeds_its_yearly_cap(
            changes in proptest::collection::vec((0usize..3, 0u64..4), 0..200),
            cost in 1u64..2_000_000,
            cap in 0u64..5_000_000,
        ) {
            let mut spent = 0;
            let mut released: [Option<[u8; 32]>; 3] = [None; 3];
            for (period, data) in changes {
                let hash = cross_hash(&[data]);
                match decide_release(released[period], hash, spent, cost, cap) {
                    ReleaseDecision::Reuse => prop_assert_eq!(released[period], Some(hash)),
                    ReleaseDecision::Release { spent_after } => {
                        prop_assert_eq!(spent_after, spent + cost);
                        spent = spent_after;
                        released[period] = Some(hash);
                    }
                    ReleaseDecision::Frozen => prop_assert!(spent + cost > cap),
                }
                prop_assert!(spent <= cap);
            }
        }
    }
}
