//! Differential privacy for what readers see.
//!
//! A data officer or an auditor reading an office's tables gets noisy counts,
//! never suppressed cells: each release adds exact discrete Gaussian noise
//! ([`GaussianNoise`], Canonne–Kamath–Steinke 2020, integer arithmetic only)
//! to every cell, then post-processes each row to the closest non-negative
//! integers that add up to the row's exact case count ([`closest_with_total`]).
//! Post-processing costs no privacy; the case counts are public by design
//! (the compliance view shows them unit by unit).
//!
//! Privacy is accounted in zero-concentrated DP ([`MicroRho`], millionths of
//! rho, so ledgers add integers exactly). A [`Ledger`] per period holds every
//! release of that period with its cost; [`Ledger::decide`] reuses the
//! release of the current schedule slot, draws a fresh one only when the slot
//! moved on and the period's cap can pay for it (keeping the price of the
//! closing release in reserve), and otherwise keeps the last one or refuses.
//!
//! What is protected: the attributes of any one incident case (its category,
//! severity, status, channel, place, notification and investigation timing),
//! given the public number of cases per unit. Changing one case moves one
//! count from one column to another in each of the tables of a release, so a
//! release of `t` tables has L2 sensitivity squared `2t`
//! ([`sensitivity_squared`]) and costs `rho = 2t / (2 sigma^2)` (CKS20,
//! Theorem 4). A case lies in one period, and every office above its school
//! releases from it; summed over the levels and releases, its loss is at most
//! the sum of the levels' period caps ([`levels_bound`]), which
//! [`MicroRho::epsilon_at`] states as (epsilon, delta)-DP.
//!
//! Pure: no clocks, no storage, no I/O. The caller gives the time, keeps the
//! ledger durable, and supplies the randomness.

mod budget;
mod ledger;
mod release;
mod sampler;

pub use budget::{levels_bound, sensitivity_squared, MicroRho, PrivacyError, Sigma};
pub use ledger::{Decision, Ledger, LedgerEntry, Refusal, Schedule, Slot};
pub use release::{closest_with_total, margin90, release_row, simulated_margins, RowPart};
pub use sampler::{fresh_rng, seeded_rng, DrawRng, GaussianNoise, LaplaceNoise};
