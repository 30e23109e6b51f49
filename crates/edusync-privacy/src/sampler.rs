//! Exact integer noise. The draws come from prio's implementation of the
//! samplers of Canonne, Kamath and Steinke (2020), which work on big
//! rationals and Bernoulli trials: no floating-point value ever decides a
//! draw, so the attacks on textbook floating-point Laplace (Mironov 2012) have
//! nothing to act on.

use num_bigint::{BigInt, BigUint};
use num_rational::Ratio;
use num_traits::ToPrimitive;
use prio::dp::distributions::{DiscreteGaussian, DiscreteLaplace};
use rand::distr::Distribution;
use rand::SeedableRng;

use crate::budget::{PrivacyError, Sigma};

/// The generator every release draws from: ChaCha12, seeded from the
/// operating system for real releases.
pub type DrawRng = rand::rngs::StdRng;

/// A generator seeded by the operating system, for a release.
pub fn fresh_rng() -> DrawRng {
    DrawRng::from_os_rng()
}

/// A reproducible generator, for tests and benchmarks only.
pub fn seeded_rng(seed: u64) -> DrawRng {
    DrawRng::seed_from_u64(seed)
}

fn saturating_i64(value: &BigInt) -> i64 {
    value.to_i64().unwrap_or(if value.sign() == num_bigint::Sign::Minus { i64::MIN } else { i64::MAX })
}

/// Discrete Gaussian noise N_Z(0, sigma^2): P(x) proportional to
/// exp(-x^2 / (2 sigma^2)) over the integers.
#[derive(Clone, Debug)]
pub struct GaussianNoise {
    sigma: Sigma,
    sampler: DiscreteGaussian,
}

impl GaussianNoise {
    pub fn new(sigma: Sigma) -> Result<GaussianNoise, PrivacyError> {
        if sigma.0 == 0 {
            return Err(PrivacyError::ZeroNoise);
        }
        let scale = Ratio::new(BigUint::from(sigma.0), BigUint::from(1000u32));
        let sampler = DiscreteGaussian::new(scale).map_err(|_| PrivacyError::ZeroNoise)?;
        Ok(GaussianNoise { sigma, sampler })
    }

    pub fn sigma(&self) -> Sigma {
        self.sigma
    }

    pub fn draw<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> i64 {
        saturating_i64(&self.sampler.sample(rng))
    }
}

/// Discrete Laplace noise of parameter epsilon: P(x) proportional to
/// exp(-epsilon |x|), i.e. scale 1/epsilon. Sensitivity-1 counts with this
/// noise are epsilon-DP.
pub struct LaplaceNoise {
    sampler: DiscreteLaplace,
}

impl LaplaceNoise {
    /// `micro_epsilon`: epsilon in millionths, as the signed policies carry it.
    pub fn new(micro_epsilon: u64) -> Result<LaplaceNoise, PrivacyError> {
        if micro_epsilon == 0 {
            return Err(PrivacyError::ZeroCost { field: "epsilon" });
        }
        let scale = Ratio::new(BigUint::from(1_000_000u32), BigUint::from(micro_epsilon));
        let sampler = DiscreteLaplace::new(scale).map_err(|_| PrivacyError::ZeroNoise)?;
        Ok(LaplaceNoise { sampler })
    }

    pub fn draw<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> i64 {
        saturating_i64(&self.sampler.sample(rng))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact probabilities of a discrete Gaussian, for the test's expectation.
    fn gaussian_pmf(sigma: f64, bound: i64) -> Vec<(i64, f64)> {
        let weights: Vec<(i64, f64)> =
            (-bound..=bound).map(|x| (x, (-(x * x) as f64 / (2.0 * sigma * sigma)).exp())).collect();
        let total: f64 = weights.iter().map(|(_, w)| w).sum();
        weights.into_iter().map(|(x, w)| (x, w / total)).collect()
    }

    /// Pearson's chi-squared over the values with an expected count of at
    /// least 5 (the tails pooled), against the 0.999 quantile.
    fn chi_squared_accepts(draws: &[i64], pmf: &[(i64, f64)]) -> (f64, f64) {
        let n = draws.len() as f64;
        let mut counts = std::collections::BTreeMap::new();
        for draw in draws {
            *counts.entry(*draw).or_insert(0u64) += 1;
        }
        let (mut statistic, mut cells, mut tail_expected, mut tail_seen) = (0.0, 0u32, 0.0, 0.0);
        for (x, p) in pmf {
            let seen = counts.get(x).copied().unwrap_or(0) as f64;
            if n * p >= 5.0 {
                statistic += (seen - n * p).powi(2) / (n * p);
                cells += 1;
            } else {
                tail_expected += n * p;
                tail_seen += seen;
            }
        }
        let beyond: f64 =
            counts.iter().filter(|(x, _)| !pmf.iter().any(|(y, _)| y == *x)).map(|(_, c)| *c as f64).sum();
        tail_seen += beyond;
        if tail_expected > 0.0 {
            statistic += (tail_seen - tail_expected).powi(2) / tail_expected;
            cells += 1;
        }
        // Wilson–Hilferty approximation of the chi-squared 0.999 quantile.
        let k = f64::from(cells - 1);
        let z = 3.0902;
        let quantile = k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3);
        (statistic, quantile)
    }

    #[test]
    fn discrete_gaussian_draws_follow_the_distribution() {
        let mut rng = seeded_rng(19);
        for sigma_milli in [700u64, 1_500, 3_742] {
            let noise = GaussianNoise::new(Sigma(sigma_milli)).expect("valid sigma");
            let draws: Vec<i64> = (0..30_000).map(|_| noise.draw(&mut rng)).collect();
            let sigma = sigma_milli as f64 / 1000.0;
            let pmf = gaussian_pmf(sigma, (12.0 * sigma) as i64 + 2);
            let (statistic, quantile) = chi_squared_accepts(&draws, &pmf);
            assert!(statistic < quantile, "sigma {sigma}: chi-squared {statistic:.1} above {quantile:.1}");
            let mean = draws.iter().sum::<i64>() as f64 / draws.len() as f64;
            assert!(mean.abs() < 4.0 * sigma / (draws.len() as f64).sqrt(), "sigma {sigma}: mean {mean}");
        }
    }

    #[test]
    fn discrete_laplace_draws_follow_the_distribution() {
        let mut rng = seeded_rng(23);
        for micro_epsilon in [250_000u64, 500_000, 2_000_000] {
            let noise = LaplaceNoise::new(micro_epsilon).expect("valid epsilon");
            let draws: Vec<i64> = (0..30_000).map(|_| noise.draw(&mut rng)).collect();
            let epsilon = micro_epsilon as f64 / 1e6;
            let bound = (40.0 / epsilon) as i64 + 2;
            let weights: Vec<(i64, f64)> = (-bound..=bound).map(|x| (x, (-epsilon * x.abs() as f64).exp())).collect();
            let total: f64 = weights.iter().map(|(_, w)| w).sum();
            let pmf: Vec<(i64, f64)> = weights.into_iter().map(|(x, w)| (x, w / total)).collect();
            let (statistic, quantile) = chi_squared_accepts(&draws, &pmf);
            assert!(statistic < quantile, "epsilon {epsilon}: chi-squared {statistic:.1} above {quantile:.1}");
        }
    }

    #[test]
    fn a_biased_sampler_would_fail_the_distribution_test() {
        // The test has teeth: draws of a wider Gaussian are rejected.
        let mut rng = seeded_rng(29);
        let wider = GaussianNoise::new(Sigma(1_650)).expect("valid sigma");
        let draws: Vec<i64> = (0..30_000).map(|_| wider.draw(&mut rng)).collect();
        let (statistic, quantile) = chi_squared_accepts(&draws, &gaussian_pmf(1.5, 20));
        assert!(statistic > quantile, "a sigma 10% too wide passed: {statistic:.1} <= {quantile:.1}");
    }

    #[test]
    fn zero_noise_is_refused() {
        assert!(GaussianNoise::new(Sigma(0)).is_err());
        assert!(LaplaceNoise::new(0).is_err());
    }
}
