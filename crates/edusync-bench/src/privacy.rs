//! What readers get from differential privacy, against what cell suppression
//! hid: synthetic provinces of N schools in districts of 8, each school 0 to
//! 11 incident cases a school year; each office releases its two semesters'
//! tables under a budget per release; a reader's school-year table is the sum
//! of the two. For each budget, level (a district's table of its schools, the
//! province's table of its districts) and dimension: the mean absolute error
//! of the released cells against the exact ones, the share of cells whose
//! 90% interval is within ±2, and the share suppression hid of the same
//! table. Seeded: the same command prints the same figures.

use edusync_core::{Counts, OrgId};
use edusync_privacy::{seeded_rng, GaussianNoise, MicroRho, Sigma};
use edusync_rollup::query::{disclosed_school_year, Dimension, PeriodCounts};
use edusync_rollup::released::{reader_table, release_sensitivity, release_tables};
use edusync_rollup::Shown;
use rand::SeedableRng;

use crate::disclosure::synthetic_children;
use crate::BenchError;

const SCHOOLS_PER_DISTRICT: usize = 8;

/// One budget, level and dimension of one province.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PrivacyPoint {
    pub schools: usize,
    pub incident_cases: u64,
    pub level: &'static str,
    pub dimension: &'static str,
    pub rho_per_release: f64,
    pub sigma: f64,
    /// Cells of the school-year tables at this level (every office's).
    pub cells: usize,
    pub mean_absolute_error: f64,
    /// Share of cells whose 90% interval is within ±2.
    pub within_two: f64,
    /// Share of cells whose exact value lies within the margin shown: how
    /// honest the 90% intervals are (about 0.9 or more is).
    pub covered: f64,
    /// Share of the same cells cell suppression hides.
    pub suppressed: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PrivacyReport {
    pub seed: u64,
    /// Releases a semester's cap pays for, and the levels that release from a
    /// school's data: what one case can lose at most is their product times
    /// the cost of one release.
    pub releases_per_semester: u32,
    pub levels: u32,
    pub points: Vec<PrivacyPoint>,
}

/// An office's table source for the school year and each semester.
type Office = [PeriodCounts; 3];

fn sum(children: &[(OrgId, Counts)]) -> Result<Counts, BenchError> {
    children.iter().try_fold(Counts::zero(), |total, (_, counts)| {
        total.checked_add(counts).map_err(|error| BenchError::Setup(error.to_string()))
    })
}

/// The district offices (each with its schools) and the province office (its districts).
fn offices(schools: usize, rng: &mut rand::rngs::StdRng) -> Result<(Vec<Office>, Office), BenchError> {
    let [year, first, second] = synthetic_children(rng, schools)?;
    let mut districts = Vec::new();
    let mut province: [Vec<(OrgId, Counts)>; 3] = Default::default();
    for (index, start) in (0..schools).step_by(SCHOOLS_PER_DISTRICT).enumerate() {
        let end = (start + SCHOOLS_PER_DISTRICT).min(schools);
        let org = OrgId::parse("org", &format!("VN.HN.D{:03}", index + 1))
            .map_err(|error| BenchError::Setup(error.to_string()))?;
        let office = [&year, &first, &second]
            .map(|period| PeriodCounts { own: Counts::zero(), children: period[start..end].to_vec() });
        for (total, period) in province.iter_mut().zip(&office) {
            total.push((org.clone(), sum(&period.children)?));
        }
        districts.push(office);
    }
    let province = province.map(|children| PeriodCounts { own: Counts::zero(), children });
    Ok((districts, province))
}

#[derive(Default)]
struct Tally {
    cells: usize,
    error: u64,
    within_two: usize,
    covered: usize,
    suppressed: usize,
    suppressed_of: usize,
}

/// Measures every budget of `rho_per_release` (millionths) on provinces of `sizes` schools.
pub fn measure_privacy(sizes: &[usize], rho_per_release: &[u64], seed: u64) -> Result<PrivacyReport, BenchError> {
    let mut points = Vec::new();
    for &schools in sizes {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ schools as u64);
        let (districts, province) = offices(schools, &mut rng)?;
        let incident_cases = province[0].children.iter().map(|(_, counts)| counts.incident_cases()).sum();
        let levels: [(&'static str, Vec<&Office>); 2] =
            [("district", districts.iter().collect()), ("province", vec![&province])];
        for (level, level_offices) in &levels {
            // What suppression hides of each school-year table, per dimension.
            let mut hidden = vec![(0usize, 0usize); Dimension::ALL.len()];
            for office in level_offices {
                let [year_tables, _, _] = disclosed_school_year(office);
                for (at, table) in year_tables.iter().enumerate() {
                    let values = table.rows.iter().flat_map(|row| row.cells.iter());
                    for value in values {
                        hidden[at].1 += 1;
                        hidden[at].0 += usize::from(*value == Shown::Suppressed);
                    }
                }
            }
            for &micro in rho_per_release {
                let cost = MicroRho::checked("rho_per_release", micro)
                    .map_err(|error| BenchError::Setup(error.to_string()))?;
                let sigma =
                    Sigma::for_cost(cost, release_sensitivity()).map_err(|e| BenchError::Setup(e.to_string()))?;
                let noise = GaussianNoise::new(sigma).map_err(|error| BenchError::Setup(error.to_string()))?;
                let mut noise_rng = seeded_rng(seed.wrapping_add(micro));
                let mut tallies: Vec<Tally> = Dimension::ALL.iter().map(|_| Tally::default()).collect();
                for office in level_offices {
                    let first = release_tables(&office[1], &noise, &mut noise_rng);
                    let second = release_tables(&office[2], &noise, &mut noise_rng);
                    for (at, dimension) in Dimension::ALL.iter().enumerate() {
                        let table = reader_table(*dimension, &[&first, &second]);
                        for row in &table.rows {
                            let Some(org) = &row.org else { continue };
                            let Some((_, exact)) = office[0].children.iter().find(|(child, _)| child == org) else {
                                continue;
                            };
                            for (shown, exact) in row.cells.iter().zip(dimension.values(exact)) {
                                let tally = &mut tallies[at];
                                tally.cells += 1;
                                tally.error += shown.value.abs_diff(exact);
                                tally.within_two += usize::from(shown.margin <= 2);
                                tally.covered += usize::from(shown.value.abs_diff(exact) <= shown.margin);
                            }
                        }
                        tallies[at].suppressed = hidden[at].0;
                        tallies[at].suppressed_of = hidden[at].1;
                    }
                }
                for (dimension, tally) in Dimension::ALL.iter().zip(tallies) {
                    points.push(PrivacyPoint {
                        schools,
                        incident_cases,
                        level,
                        dimension: dimension.name(),
                        rho_per_release: cost.as_rho(),
                        sigma: sigma.as_f64(),
                        cells: tally.cells,
                        mean_absolute_error: tally.error as f64 / tally.cells.max(1) as f64,
                        within_two: tally.within_two as f64 / tally.cells.max(1) as f64,
                        covered: tally.covered as f64 / tally.cells.max(1) as f64,
                        suppressed: tally.suppressed as f64 / tally.suppressed_of.max(1) as f64,
                    });
                }
            }
        }
    }
    Ok(PrivacyReport { seed, releases_per_semester: 3, levels: 3, points })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_budget_means_less_error_and_suppression_is_measured_on_the_same_tables() {
        let report = measure_privacy(&[24], &[100_000, 2_000_000], 7).expect("measures");
        let error = |rho: f64, level: &str| -> f64 {
            let points: Vec<&PrivacyPoint> =
                report.points.iter().filter(|p| p.rho_per_release == rho && p.level == level).collect();
            points.iter().map(|p| p.mean_absolute_error).sum::<f64>() / points.len() as f64
        };
        assert!(error(2.0, "district") < error(0.1, "district"), "{:?}", report.points);
        assert!(error(2.0, "province") < error(0.1, "province"));
        assert!(report.points.iter().all(|p| p.cells > 0 && (0.0..=1.0).contains(&p.suppressed)));
        assert!(report.points.iter().any(|p| p.suppressed > 0.0), "suppression hides something of 24 schools");
    }
}
