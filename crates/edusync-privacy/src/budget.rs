//! The units of a privacy budget and the arithmetic between them.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrivacyError {
    #[error("{field}: a privacy cost must be greater than zero")]
    ZeroCost { field: &'static str },
    #[error("{field}: {value} is too large to account for; keep it below 1,000,000,000 (1,000 rho)")]
    TooLarge { field: &'static str, value: u64 },
    #[error("noise: the noise scale must be greater than zero")]
    ZeroNoise,
}

/// A zero-concentrated DP parameter rho, in millionths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MicroRho(pub u64);

/// The largest rho a ledger accounts for; anything above it is meaningless as
/// a guarantee and would only risk overflow.
const MAX_MICRO_RHO: u64 = 1_000_000_000;

impl MicroRho {
    pub const ZERO: MicroRho = MicroRho(0);

    pub fn checked(field: &'static str, value: u64) -> Result<MicroRho, PrivacyError> {
        if value == 0 {
            return Err(PrivacyError::ZeroCost { field });
        }
        if value > MAX_MICRO_RHO {
            return Err(PrivacyError::TooLarge { field, value });
        }
        Ok(MicroRho(value))
    }

    pub fn as_rho(self) -> f64 {
        self.0 as f64 / 1e6
    }

    pub fn saturating_add(self, other: MicroRho) -> MicroRho {
        MicroRho(self.0.saturating_add(other.0))
    }

    /// The (epsilon, delta)-DP that rho-zCDP implies: epsilon = rho +
    /// 2 sqrt(rho ln(1/delta)) (Bun and Steinke 2016, Proposition 1.3). For
    /// display only; the ledger adds rho.
    pub fn epsilon_at(self, delta: f64) -> f64 {
        let rho = self.as_rho();
        rho + 2.0 * (rho * (1.0 / delta).ln()).sqrt()
    }

    /// Pure epsilon-DP implies epsilon^2/2-zCDP (Bun and Steinke 2016,
    /// Proposition 1.4): how the demographic crosses' Laplace releases are
    /// charged in the same currency. Rounded up.
    pub fn of_pure_epsilon(micro_epsilon: u64) -> MicroRho {
        let squared = u128::from(micro_epsilon) * u128::from(micro_epsilon);
        MicroRho(u64::try_from(squared.div_ceil(2_000_000)).unwrap_or(u64::MAX))
    }
}

impl std::fmt::Display for MicroRho {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (whole, millionths) = (self.0 / 1_000_000, self.0 % 1_000_000);
        let fraction = format!("{millionths:06}");
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() {
            write!(f, "{whole}")
        } else {
            write!(f, "{whole}.{fraction}")
        }
    }
}

/// L2 sensitivity squared of releasing `tables` tables that each count every
/// case once: changing one case's attributes takes one from a column and
/// adds one to another in each table, (-1)^2 + 1^2 = 2 per table.
pub fn sensitivity_squared(tables: u64) -> u64 {
    2 * tables
}

/// The most any one case can lose over every level that releases from it:
/// each level's period cap, added (zCDP composes by addition).
pub fn levels_bound(period_caps: &[MicroRho]) -> MicroRho {
    period_caps.iter().fold(MicroRho::ZERO, |sum, cap| sum.saturating_add(*cap))
}

/// The scale sigma of discrete Gaussian noise, in thousandths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sigma(pub u64);

impl Sigma {
    /// The smallest sigma (to a thousandth, rounded up) at which a release of
    /// L2 sensitivity squared `sensitivity_squared` costs at most `cost`:
    /// rho = Delta^2 / (2 sigma^2). Rounding sigma up only lowers the cost.
    pub fn for_cost(cost: MicroRho, sensitivity_squared: u64) -> Result<Sigma, PrivacyError> {
        let cost = MicroRho::checked("cost", cost.0)?;
        // sigma_milli^2 >= Delta^2 * 1e12 / (2 * micro_rho)
        let needed = (u128::from(sensitivity_squared) * 1_000_000_000_000).div_ceil(2 * u128::from(cost.0));
        let mut root = needed.isqrt();
        if root * root < needed {
            root += 1;
        }
        Ok(Sigma(u64::try_from(root).unwrap_or(u64::MAX).max(1)))
    }

    /// What a release at this sigma costs, rounded up.
    pub fn cost(self, sensitivity_squared: u64) -> MicroRho {
        let squared = u128::from(self.0) * u128::from(self.0);
        if squared == 0 {
            return MicroRho(u64::MAX);
        }
        let micro = (u128::from(sensitivity_squared) * 1_000_000_000_000).div_ceil(2 * squared);
        MicroRho(u64::try_from(micro).unwrap_or(u64::MAX))
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn rho_prints_as_a_decimal_and_converts_to_epsilon() {
        assert_eq!(MicroRho(1_500_000).to_string(), "1.5");
        assert_eq!(MicroRho(2_000_000).to_string(), "2");
        assert_eq!(MicroRho(250).to_string(), "0.00025");
        // rho = 0.5 at delta = 1e-6: 0.5 + 2 sqrt(0.5 * 13.8155) = 5.756
        assert!((MicroRho(500_000).epsilon_at(1e-6) - 5.756).abs() < 0.001);
        assert_eq!(MicroRho::of_pure_epsilon(500_000), MicroRho(125_000));
        assert_eq!(levels_bound(&[MicroRho(1), MicroRho(2), MicroRho(3)]), MicroRho(6));
    }

    #[test]
    fn a_zero_or_absurd_cost_is_refused_by_name() {
        assert_eq!(Sigma::for_cost(MicroRho(0), 14), Err(PrivacyError::ZeroCost { field: "cost" }));
        assert!(matches!(MicroRho::checked("cap", 2_000_000_000), Err(PrivacyError::TooLarge { field: "cap", .. })));
    }

    proptest! {
        /// The sigma chosen for a cost never costs more than it, and a
        /// thousandth less would.
        #[test]
        fn sigma_for_a_cost_is_the_smallest_that_keeps_within_it(micro in 1u64..1_000_000_000, tables in 1u64..20) {
            let sensitivity = sensitivity_squared(tables);
            let sigma = Sigma::for_cost(MicroRho(micro), sensitivity).expect("valid cost");
            prop_assert!(sigma.cost(sensitivity).0 <= micro, "{sigma:?} costs {:?} > {micro}", sigma.cost(sensitivity));
            if sigma.0 > 1 {
                let exact = |sigma_milli: u64| sensitivity as f64 * 1e12 / (2.0 * (sigma_milli as f64).powi(2));
                prop_assert!(exact(sigma.0 - 1) > micro as f64 * (1.0 - 1e-9));
            }
        }
    }
}
