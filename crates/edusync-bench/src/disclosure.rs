//! What disclosure control costs a reader's query as an office grows: the
//! tables of an office's children for a school year and its two semesters,
//! one per query dimension each, disclosed together as a node does on the
//! first query of that year (it keeps them until an aggregate they were cut
//! from changes), and how much of them it hides.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use edusync_core::{Cell, Counts, OrgId};
use edusync_rollup::query::{disclosed_school_year, PeriodCounts};
use edusync_rollup::{Shown, ShownTable};

use crate::BenchError;

/// One office size.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DisclosurePoint {
    pub units: usize,
    pub incident_cases: u64,
    /// Rows shown after small units are pooled.
    pub rows: usize,
    /// Cells and column totals of the 21 tables, and how many of them are hidden
    /// (case counts are always shown).
    pub values: usize,
    pub hidden: usize,
    pub hidden_share: f64,
    /// The 21 tables (3 periods × 7 dimensions) disclosed, as a school year's first query costs.
    pub seconds: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DisclosureReport {
    pub seed: u64,
    pub points: Vec<DisclosurePoint>,
}

/// Synthetic offices of `sizes` children each: 0 to 11 incident cases per
/// child in a school year, each in one of its semesters, 1 to 19 schools, each
/// case counted once per family of cells as `derive_own` counts it.
pub fn measure_disclosure(sizes: &[usize], seed: u64) -> Result<DisclosureReport, BenchError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut points = Vec::new();
    for &units in sizes {
        let periods =
            synthetic_children(&mut rng, units)?.map(|children| PeriodCounts { own: Counts::zero(), children });
        let started = Instant::now();
        let tables: Vec<ShownTable> = disclosed_school_year(&periods).into_iter().flatten().collect();
        let seconds = started.elapsed().as_secs_f64();
        let children = &periods[0].children;
        let values: usize = tables.iter().map(breakdown_values).map(|values| values.len()).sum();
        let hidden: usize = tables
            .iter()
            .map(|table| breakdown_values(table).into_iter().filter(|value| *value == Shown::Suppressed).count())
            .sum();
        points.push(DisclosurePoint {
            units,
            incident_cases: children.iter().map(|(_, counts)| counts.incident_cases()).sum(),
            rows: tables.first().map_or(0, |table| table.rows.len()),
            values,
            hidden,
            hidden_share: hidden as f64 / values.max(1) as f64,
            seconds,
        });
    }
    Ok(DisclosureReport { seed, points })
}

/// What a table breaks down: its cells and column totals.
fn breakdown_values(table: &ShownTable) -> Vec<Shown> {
    table.rows.iter().flat_map(|row| row.cells.iter().copied()).chain(table.column_totals.iter().copied()).collect()
}

/// The same children for a school year, its first semester and its second.
pub(crate) fn synthetic_children(rng: &mut StdRng, units: usize) -> Result<[Vec<(OrgId, Counts)>; 3], BenchError> {
    let cases: Vec<Cell> = Cell::all().into_iter().filter(|cell| matches!(cell, Cell::Cases(..))).collect();
    let family = |belongs: fn(&Cell) -> bool| -> Vec<Cell> { Cell::all().into_iter().filter(belongs).collect() };
    let families = [
        family(|cell| matches!(cell, Cell::Channel(_))),
        family(|cell| matches!(cell, Cell::Place(_))),
        family(|cell| matches!(cell, Cell::Notified(_))),
        family(|cell| matches!(cell, Cell::Investigation(_))),
    ];
    if families.iter().any(Vec::is_empty) || cases.is_empty() {
        return Err(BenchError::Setup("the cell layout has no incident families to draw from".into()));
    }
    let add = |counts: &mut Counts, cell: Cell, amount: u64| {
        counts.add_to(cell, amount).map_err(|error| BenchError::Setup(error.to_string()))
    };
    let mut periods: [Vec<(OrgId, Counts)>; 3] = Default::default();
    for index in 0..units {
        let schools = rng.gen_range(1..20);
        let mut counts = [Counts::zero(), Counts::zero(), Counts::zero()];
        for each in &mut counts {
            add(each, Cell::ContributingSchools, schools)?;
        }
        for _ in 0..rng.gen_range(0..12) {
            let semester = rng.gen_range(1..3);
            let mut cells = vec![cases[rng.gen_range(0..cases.len())]];
            cells.extend(families.iter().map(|family| family[rng.gen_range(0..family.len())]));
            for cell in cells {
                add(&mut counts[0], cell, 1)?;
                add(&mut counts[semester], cell, 1)?;
            }
        }
        let org = OrgId::parse("org", &format!("VN.HN.S{:04}", index + 1))
            .map_err(|error| BenchError::Setup(error.to_string()))?;
        for (period, counts) in periods.iter_mut().zip(counts) {
            period.push((org.clone(), counts));
        }
    }
    Ok(periods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disclosure_measurement_reports_each_size_and_hides_something() {
        let report = measure_disclosure(&[6, 12], 7).expect("measures");
        assert_eq!(report.points.len(), 2);
        for point in &report.points {
            assert!(point.rows >= 1 && point.hidden > 0 && point.incident_cases > 0, "{point:?}");
            assert!(point.hidden < point.values && point.seconds > 0.0, "{point:?}");
        }
    }
}
