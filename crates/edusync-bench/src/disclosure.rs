//! What disclosure control costs a reader's query as an office grows: one
//! table of an office's children by one dimension, disclosed linked with the
//! other six (as `Query` serves it), against the same seven disclosed each on
//! its own in the same run — the ratio is what the linking costs.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use edusync_core::{Cell, Counts, OrgId};
use edusync_rollup::query::{child_table, Dimension};
use edusync_rollup::{disclose, Shown, ShownTable, Unit};

use crate::BenchError;

/// One office size.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DisclosurePoint {
    pub units: usize,
    pub incident_cases: u64,
    /// Rows shown after small units are pooled.
    pub rows: usize,
    /// Values hidden in the linked category table (cells and row totals).
    pub hidden: usize,
    /// The category table as `Query` serves it: all seven dimensions disclosed until their margins agree.
    pub linked_seconds: f64,
    /// The seven tables disclosed each on its own, one after another.
    pub separate_seconds: f64,
    pub linked_over_separate: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DisclosureReport {
    pub seed: u64,
    pub points: Vec<DisclosurePoint>,
}

/// Synthetic offices of `sizes` children each: 0 to 11 incident cases per
/// child, 1 to 19 schools, each case counted once per family of cells as
/// `derive_own` counts it.
pub fn measure_disclosure(sizes: &[usize], seed: u64) -> Result<DisclosureReport, BenchError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut points = Vec::new();
    for &units in sizes {
        let children = synthetic_children(&mut rng, units)?;
        let started = Instant::now();
        let linked = child_table(Dimension::Category, &Counts::zero(), &children, true);
        let linked_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        for dimension in Dimension::ALL {
            let table_units: Vec<Unit> = children
                .iter()
                .map(|(org, counts)| Unit {
                    org: org.clone(),
                    values: dimension.values(counts),
                    schools: counts.get(Cell::ContributingSchools),
                })
                .collect();
            let own = vec![0; dimension.column_names().len()];
            std::hint::black_box(disclose(&table_units, &own, &dimension.column_k(), 5));
        }
        let separate_seconds = started.elapsed().as_secs_f64();
        points.push(DisclosurePoint {
            units,
            incident_cases: children.iter().map(|(_, counts)| counts.incident_cases()).sum(),
            rows: linked.rows.len(),
            hidden: hidden_values(&linked),
            linked_seconds,
            separate_seconds,
            linked_over_separate: linked_seconds / separate_seconds.max(f64::MIN_POSITIVE),
        });
    }
    Ok(DisclosureReport { seed, points })
}

fn hidden_values(table: &ShownTable) -> usize {
    table
        .rows
        .iter()
        .flat_map(|row| row.cells.iter().chain(std::iter::once(&row.total)))
        .filter(|value| **value == Shown::Suppressed)
        .count()
}

fn synthetic_children(rng: &mut StdRng, units: usize) -> Result<Vec<(OrgId, Counts)>, BenchError> {
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
    let mut children = Vec::with_capacity(units);
    for index in 0..units {
        let mut counts = Counts::zero();
        let add = |counts: &mut Counts, cell: Cell, amount: u64| {
            counts.add_to(cell, amount).map_err(|error| BenchError::Setup(error.to_string()))
        };
        add(&mut counts, Cell::ContributingSchools, rng.gen_range(1..20))?;
        for _ in 0..rng.gen_range(0..12) {
            add(&mut counts, cases[rng.gen_range(0..cases.len())], 1)?;
            for cells in &families {
                add(&mut counts, cells[rng.gen_range(0..cells.len())], 1)?;
            }
        }
        let org = OrgId::parse("org", &format!("VN.HN.S{:04}", index + 1))
            .map_err(|error| BenchError::Setup(error.to_string()))?;
        children.push((org, counts));
    }
    Ok(children)
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
            assert!(point.linked_seconds > 0.0 && point.separate_seconds > 0.0);
        }
    }
}
