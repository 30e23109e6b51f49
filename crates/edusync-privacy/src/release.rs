//! From exact counts to what a reader sees: noise on every cell, then the
//! closest consistent row.

use crate::budget::Sigma;
use crate::sampler::GaussianNoise;

/// The non-negative integers closest (in squared distance) to `noisy` that
/// add up to `total`. A row's cells are noisy, its total is exact: this is the
/// projection that makes them agree without moving any cell further than
/// it must. Pure post-processing of the noisy values and a public total, so
/// it costs no privacy.
///
/// Separable and convex, so greedy is exact: start from each cell clipped at
/// zero (the best point without the total), then move one unit at a time
/// where it costs least, toward the total. Ties go to the lower column, so
/// the result depends on nothing but the inputs.
pub fn closest_with_total(noisy: &[i64], total: u64) -> Vec<u64> {
    let target = i128::from(total);
    let mut cells: Vec<i128> = noisy.iter().map(|value| i128::from(*value).max(0)).collect();
    if cells.is_empty() {
        return Vec::new();
    }
    let mut sum: i128 = cells.iter().sum();
    // Moving x to x + 1 changes (x - y)^2 by 2(x - y) + 1; to x - 1 by -2(x - y) + 1.
    while sum < target {
        let (best, _) = cells
            .iter()
            .zip(noisy)
            .enumerate()
            .map(|(index, (x, y))| (index, 2 * (x - i128::from(*y)) + 1))
            .min_by_key(|(index, cost)| (*cost, *index))
            .unwrap_or((0, 0));
        cells[best] += 1;
        sum += 1;
    }
    while sum > target {
        let (best, _) = cells
            .iter()
            .zip(noisy)
            .enumerate()
            .filter(|(_, (x, _))| **x > 0)
            .map(|(index, (x, y))| (index, -2 * (x - i128::from(*y)) + 1))
            .min_by_key(|(index, cost)| (*cost, *index))
            .unwrap_or((0, 0));
        cells[best] -= 1;
        sum -= 1;
    }
    cells.into_iter().map(|cell| u64::try_from(cell).unwrap_or(0)).collect()
}

/// One row as released: each exact cell plus its own noise, made consistent
/// with the row's exact total.
pub fn release_row<R: rand::Rng + ?Sized>(exact: &[u64], noise: &GaussianNoise, rng: &mut R) -> Vec<u64> {
    let total = exact.iter().fold(0u64, |sum, value| sum.saturating_add(*value));
    let noisy: Vec<i64> =
        exact.iter().map(|value| i64::try_from(*value).unwrap_or(i64::MAX).saturating_add(noise.draw(rng))).collect();
    closest_with_total(&noisy, total)
}

/// The half-width of the 90% interval of the noise on a value that sums
/// `cells` noisy cells of scale `sigma`: the smallest q with P(|Z| <= q) >=
/// 0.9, for Z the sum's noise (a discrete Gaussian of variance cells *
/// sigma^2, which a sum of independent discrete Gaussians closely follows).
/// This is what a reader is told of a value's uncertainty; projecting a row
/// onto its exact total only narrows it, so the figure is conservative.
/// Floating point here only describes noise, it never draws any.
pub fn margin90(sigma: Sigma, cells: u64) -> u64 {
    if cells == 0 || sigma.0 == 0 {
        return 0;
    }
    let scale = sigma.as_f64() * (cells as f64).sqrt();
    let weight = |x: f64| (-(x * x) / (2.0 * scale * scale)).exp();
    let bound = (12.0 * scale).ceil() as u64 + 2;
    let total: f64 = weight(0.0) + 2.0 * (1..=bound).map(|x| weight(x as f64)).sum::<f64>();
    let mut inside = weight(0.0);
    for q in 0..=bound {
        if q > 0 {
            inside += 2.0 * weight(q as f64);
        }
        if inside >= 0.9 * total {
            return q;
        }
    }
    bound
}

/// One part of a shown row: the released cells of one release and the scale
/// of the noise they were drawn with. A school year's row has two parts.
pub struct RowPart<'a> {
    pub released: &'a [u64],
    pub sigma: Sigma,
}

/// How many simulated releases a margin is read from.
const SIMULATIONS: usize = 200;

/// The 90% margins of released rows and of their column sums, by
/// simulation around the released values (a parametric bootstrap): each
/// round adds fresh noise of the release's scale to every released cell,
/// projects each row back onto its exact total as a release does, and
/// records how far each cell and each column sum moved. The margin is the
/// 90th percentile of that distance. It sees only released values and
/// public totals, so it is post-processing and costs no privacy; it is
/// seeded from them, so the same release always shows the same margins.
/// Projection onto the row's total narrows small rows a great deal, which
/// the noise's own spread ([`margin90`]) does not know. The simulation's
/// noise is floating point: it describes, it never releases.
pub fn simulated_margins(rows: &[Vec<RowPart<'_>>], columns: usize) -> (Vec<Vec<u64>>, Vec<u64>) {
    use rand::{Rng, SeedableRng};
    // Each row draws from its own generator, seeded by its own released
    // values: a row's margins stay the same whatever other rows come and go.
    let seed_of = |parts: &[RowPart<'_>]| {
        let mut seed = 0x5eed_u64;
        for part in parts {
            seed = seed.rotate_left(11) ^ part.sigma.0;
            for value in part.released {
                seed = seed.rotate_left(7) ^ value.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            }
        }
        seed
    };
    let mut cell_moves: Vec<Vec<u64>> = Vec::with_capacity(rows.len());
    let mut column_sums = vec![vec![0i64; columns]; SIMULATIONS];
    let mut any_cases = false;
    for parts in rows {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed_of(parts));
        let mut gaussian = |sigma: f64| -> f64 {
            // Box–Muller: two uniforms in (0, 1] make one standard normal.
            let (u, v): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
            sigma * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let mut moves = vec![Vec::with_capacity(SIMULATIONS); columns];
        let cases: u64 = parts.iter().map(|part| part.released.iter().sum::<u64>()).sum();
        any_cases |= cases > 0;
        for column_sum in column_sums.iter_mut() {
            let mut moved = vec![0i64; columns];
            for part in parts {
                let total = part.released.iter().sum::<u64>();
                if total == 0 {
                    continue;
                }
                let noisy: Vec<i64> = part
                    .released
                    .iter()
                    .map(|value| (*value as f64 + gaussian(part.sigma.as_f64())).round() as i64)
                    .collect();
                for ((change, again), was) in moved.iter_mut().zip(closest_with_total(&noisy, total)).zip(part.released)
                {
                    *change += again as i64 - *was as i64;
                }
            }
            for column in 0..columns {
                moves[column].push(moved[column].unsigned_abs());
                column_sum[column] += moved[column];
            }
        }
        // A row with cases is never shown as certain: its cells are noisy.
        let floor = u64::from(cases > 0);
        cell_moves.push(moves.into_iter().map(|column| percentile(column).max(floor)).collect());
    }
    let columns_moves = (0..columns)
        .map(|column| {
            let moves = column_sums.iter().map(|sums| sums[column].unsigned_abs()).collect();
            percentile(moves).max(u64::from(any_cases))
        })
        .collect();
    (cell_moves, columns_moves)
}

fn percentile(mut moves: Vec<u64>) -> u64 {
    moves.sort_unstable();
    moves.get((moves.len() * 9).div_ceil(10).saturating_sub(1)).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::sampler::seeded_rng;

    #[test]
    fn a_row_keeps_its_total_and_stays_close() {
        assert_eq!(closest_with_total(&[5, -2, 3], 6), vec![4, 0, 2]);
        assert_eq!(closest_with_total(&[-3, -1], 2), vec![0, 2], "the cell nearer its share takes it");
        assert_eq!(closest_with_total(&[7, 7], 0), vec![0, 0]);
        assert_eq!(closest_with_total(&[], 0), Vec::<u64>::new());
        assert_eq!(closest_with_total(&[2, 2, 2], 6), vec![2, 2, 2], "a consistent row is left as it is");
    }

    #[test]
    fn the_margin_covers_ninety_percent_of_the_noise() {
        // A continuous Gaussian's 90% half-width is 1.645 sigma.
        assert_eq!(margin90(Sigma(1_000), 1), 2);
        assert_eq!(margin90(Sigma(10_000), 1), 16);
        assert_eq!(margin90(Sigma(10_000), 4), 33);
        let noise = GaussianNoise::new(Sigma(2_500)).expect("valid");
        let mut rng = seeded_rng(5);
        let margin = margin90(Sigma(2_500), 1) as i64;
        let inside = (0..20_000).filter(|_| noise.draw(&mut rng).abs() <= margin).count();
        assert!((0.9..0.95).contains(&(inside as f64 / 20_000.0)), "{inside} of 20000 within {margin}");
    }

    proptest! {
        /// Whatever the noise, a released row is non-negative and adds up
        /// to the exact total, and no other such row is closer.
        #[test]
        fn projection_is_consistent_and_optimal(
            noisy in proptest::collection::vec(-20i64..40, 1..6),
            total in 0u64..30,
        ) {
            let row = closest_with_total(&noisy, total);
            prop_assert_eq!(row.iter().sum::<u64>(), total);
            let distance = |row: &[u64]| -> i128 {
                row.iter().zip(&noisy).map(|(x, y)| (i128::from(*x) - i128::from(*y)).pow(2)).sum()
            };
            // Moving one unit between any two cells never gets closer.
            for from in 0..row.len() {
                for to in 0..row.len() {
                    if from == to || row[from] == 0 {
                        continue;
                    }
                    let mut moved = row.clone();
                    moved[from] -= 1;
                    moved[to] += 1;
                    prop_assert!(distance(&moved) >= distance(&row));
                }
            }
        }

        #[test]
        fn released_rows_add_up_to_the_exact_total(exact in proptest::collection::vec(0u64..50, 1..12), seed in 0u64..1000) {
            let noise = GaussianNoise::new(Sigma(3_000)).expect("valid");
            let row = release_row(&exact, &noise, &mut seeded_rng(seed));
            prop_assert_eq!(row.iter().sum::<u64>(), exact.iter().sum::<u64>());
        }
    }
}
