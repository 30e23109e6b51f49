//! What readers see of an office's tables: one differentially private
//! release per semester covering every dimension of the catalogue at once,
//! and every table a reader can ask for cut from releases by
//! post-processing alone (a school year is its two semesters added; a trend
//! line is a release's column totals; the compliance view's timeliness
//! figures are sums of its cells). Post-processing is free, so the ledger's
//! charge for the releases is the whole privacy cost of everything a reader
//! sees.

use serde::{Deserialize, Serialize};

use edusync_core::OrgId;
use edusync_privacy::{margin90, release_row, sensitivity_squared, simulated_margins, GaussianNoise, RowPart, Sigma};

use crate::query::{Dimension, PeriodCounts};

/// L2 sensitivity squared of one release: one case's attributes moving in
/// each of the seven tables.
pub fn release_sensitivity() -> u64 {
    sensitivity_squared(Dimension::ALL.len() as u64)
}

/// One semester's release: the rows (each child unit, then this office's own
/// cases when it has any), each row's exact case count, and the noisy,
/// consistent cells of every dimension.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedTables {
    pub sigma: Sigma,
    /// `None`: the office's own cases.
    pub rows: Vec<Option<OrgId>>,
    pub totals: Vec<u64>,
    /// `[dimension][row][column]`, dimensions in [`Dimension::ALL`] order.
    pub cells: Vec<Vec<Vec<u64>>>,
    /// Rows shown without released cells (units that had no row when the
    /// release was drawn): their breakdown is unknown, from 0 to their cases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreleased: Vec<Option<OrgId>>,
}

impl ReleasedTables {
    /// The release brought up to today's case counts, which are public: each
    /// released row projected onto its unit's current count, as a release
    /// itself is projected (post-processing, free). A unit the release has
    /// no row for gets an even split and is marked unreleased.
    pub fn updated(&self, current: &[(Option<OrgId>, u64)]) -> ReleasedTables {
        let cells = (0..self.cells.len())
            .map(|dimension| {
                current
                    .iter()
                    .map(|(org, total)| {
                        let released = self
                            .rows
                            .iter()
                            .position(|row| row == org)
                            .and_then(|at| self.cells.get(dimension).and_then(|table| table.get(at)));
                        let columns = self.cells.get(dimension).and_then(|table| table.first()).map_or(0, Vec::len);
                        let noisy: Vec<i64> = match released {
                            Some(row) => row.iter().map(|value| i64::try_from(*value).unwrap_or(i64::MAX)).collect(),
                            None => vec![0; columns],
                        };
                        edusync_privacy::closest_with_total(&noisy, *total)
                    })
                    .collect()
            })
            .collect();
        let unreleased = current
            .iter()
            .filter(|(org, total)| *total > 0 && (!self.rows.contains(org) || self.unreleased.contains(org)))
            .map(|(org, _)| org.clone())
            .collect();
        ReleasedTables {
            sigma: self.sigma,
            rows: current.iter().map(|(org, _)| org.clone()).collect(),
            totals: current.iter().map(|(_, total)| *total).collect(),
            cells,
            unreleased,
        }
    }
}

/// The rows of a semester's tables and each one's exact case count: every
/// child unit in order, then the office's own cases when it has any. Public
/// facts, which decide the rows of a release and bring it up to date.
pub fn case_rows(counts: &PeriodCounts) -> Vec<(Option<OrgId>, u64)> {
    let cases = |counts: &edusync_core::Counts| Dimension::Category.values(counts).iter().sum::<u64>();
    let mut rows: Vec<(Option<OrgId>, u64)> =
        counts.children.iter().map(|(org, counts)| (Some(org.clone()), cases(counts))).collect();
    rows.sort_by(|left, right| left.0.cmp(&right.0));
    let own = cases(&counts.own);
    if own > 0 {
        rows.push((None, own));
    }
    rows
}

/// Draws a release from a semester's exact counts. Which rows there are
/// depends only on public facts (the units below, whether the office has
/// cases of its own); every cell gets noise, zeros included.
pub fn release_tables<R: rand::Rng + ?Sized>(
    counts: &PeriodCounts,
    noise: &GaussianNoise,
    rng: &mut R,
) -> ReleasedTables {
    let mut units: Vec<(Option<OrgId>, &edusync_core::Counts)> =
        counts.children.iter().map(|(org, counts)| (Some(org.clone()), counts)).collect();
    units.sort_by(|left, right| left.0.cmp(&right.0));
    let own_cases: u64 = Dimension::Category.values(&counts.own).iter().sum();
    if own_cases > 0 {
        units.push((None, &counts.own));
    }
    let totals = units.iter().map(|(_, counts)| Dimension::Category.values(counts).iter().sum()).collect();
    let cells = Dimension::ALL
        .iter()
        .map(|dimension| units.iter().map(|(_, counts)| release_row(&dimension.values(counts), noise, rng)).collect())
        .collect();
    ReleasedTables {
        sigma: noise.sigma(),
        rows: units.into_iter().map(|(org, _)| org).collect(),
        totals,
        cells,
        unreleased: Vec::new(),
    }
}

/// A released value and the half-width of its 90% interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Noisy {
    pub value: u64,
    pub margin: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaderRow {
    /// `None`: the office's own cases.
    pub org: Option<OrgId>,
    pub cells: Vec<Noisy>,
    /// Exact: the unit's incident cases.
    pub total: u64,
}

/// A table as a reader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaderTable {
    pub rows: Vec<ReaderRow>,
    pub column_totals: Vec<Noisy>,
    /// Exact: the office's incident cases.
    pub grand_total: u64,
}

/// The half-width of the 90% interval of a value that adds independent
/// noises of these scales.
fn margin_of(sigmas: &[Sigma]) -> u64 {
    let variance: f64 = sigmas.iter().map(|sigma| sigma.as_f64().powi(2)).sum();
    if variance == 0.0 {
        return 0;
    }
    margin90(Sigma((variance.sqrt() * 1000.0).ceil() as u64), 1)
}

/// `dimension`'s table of the period the releases add up to: one release for
/// a semester, both semesters' for a school year. Rows are matched by unit;
/// a unit missing from a release counts zero there.
pub fn reader_table(dimension: Dimension, releases: &[&ReleasedTables]) -> ReaderTable {
    let columns = dimension.column_names().len();
    let mut rows: Vec<Option<OrgId>> = releases.iter().flat_map(|release| release.rows.iter().cloned()).collect();
    rows.sort();
    rows.dedup();
    // The office's own row last, as in a release.
    if let Some(position) = rows.iter().position(Option::is_none) {
        let own = rows.remove(position);
        rows.push(own);
    }
    let mut shown = Vec::with_capacity(rows.len());
    let mut parts: Vec<Vec<RowPart<'_>>> = Vec::with_capacity(rows.len());
    let mut column_values = vec![0u64; columns];
    for org in rows {
        let mut values = vec![0u64; columns];
        let mut row_parts = Vec::new();
        for release in releases {
            let Some(at) = release.rows.iter().position(|row| *row == org) else { continue };
            let Some(cells) = release.cells.get(dimension.index()).and_then(|table| table.get(at)) else { continue };
            for (value, cell) in values.iter_mut().zip(cells) {
                *value = value.saturating_add(*cell);
            }
            row_parts.push(RowPart { released: cells, sigma: release.sigma });
        }
        for (sum, value) in column_values.iter_mut().zip(&values) {
            *sum = sum.saturating_add(*value);
        }
        // Each dimension counts every case once, so the cells add up to the
        // row's exact case count.
        let total = values.iter().fold(0u64, |sum, value| sum.saturating_add(*value));
        shown.push(ReaderRow {
            org,
            cells: values.into_iter().map(|value| Noisy { value, margin: 0 }).collect(),
            total,
        });
        parts.push(row_parts);
    }
    let (cell_margins, column_margins) = simulated_margins(&parts, columns);
    for (row, margins) in shown.iter_mut().zip(cell_margins) {
        let unknown = releases.iter().any(|release| release.unreleased.contains(&row.org));
        for (cell, margin) in row.cells.iter_mut().zip(margins) {
            // Nothing was released of a unit that came after the release.
            cell.margin = if unknown { row.total } else { margin };
        }
    }
    let grand_total = shown.iter().fold(0u64, |sum, row| sum.saturating_add(row.total));
    ReaderTable {
        rows: shown,
        column_totals: column_values
            .into_iter()
            .zip(column_margins)
            .map(|(value, margin)| Noisy { value, margin })
            .collect(),
        grand_total,
    }
}

/// The sum of some of a unit's released cells over `releases` (a semester's
/// or both of a year's), with the margin of that sum.
pub fn group_sum(releases: &[&ReleasedTables], dimension: Dimension, unit: &Option<OrgId>, columns: &[usize]) -> Noisy {
    let mut value = 0u64;
    let mut total = 0u64;
    let mut noise = Vec::new();
    for release in releases {
        let Some(at) = release.rows.iter().position(|row| row == unit) else { continue };
        let Some(cells) = release.cells.get(dimension.index()).and_then(|table| table.get(at)) else { continue };
        let row_total = cells.iter().fold(0u64, |sum, cell| sum.saturating_add(*cell));
        total = total.saturating_add(row_total);
        value =
            columns.iter().filter_map(|column| cells.get(*column)).fold(value, |sum, cell| sum.saturating_add(*cell));
        if row_total > 0 {
            noise.extend(columns.iter().map(|_| release.sigma));
        }
    }
    Noisy { value, margin: margin_of(&noise).min(total) }
}

#[cfg(test)]
mod tests {
    use edusync_core::{
        Cell, Counts, IncidentCategory, IncidentStatus, IntakeChannel, Investigation, Notified, PlaceCategory, Severity,
    };
    use edusync_privacy::{seeded_rng, MicroRho};

    use super::*;

    fn org(text: &str) -> OrgId {
        OrgId::parse("org", text).expect("valid")
    }

    /// Cases counted once in every family of cells, as `derive_own` counts them.
    fn cases(physical: u64, sexual: u64, schools: u64) -> Counts {
        let mut counts = Counts::zero();
        let cell = |category| Cell::Cases(category, Severity::Minor, IncidentStatus::Open);
        counts.add_to(cell(IncidentCategory::Physical), physical).expect("fits");
        counts.add_to(cell(IncidentCategory::Sexual), sexual).expect("fits");
        for family in [Cell::Channel(IntakeChannel::ALL[0]), Cell::Place(PlaceCategory::ALL[0])] {
            counts.add_to(family, physical + sexual).expect("fits");
        }
        counts.add_to(Cell::Notified(Notified::Within3Hours), physical + sexual).expect("fits");
        counts.add_to(Cell::Investigation(Investigation::OpenInTime), physical + sexual).expect("fits");
        counts.add_to(Cell::ContributingSchools, schools).expect("fits");
        counts
    }

    fn noise() -> GaussianNoise {
        GaussianNoise::new(Sigma::for_cost(MicroRho(500_000), release_sensitivity()).expect("valid")).expect("valid")
    }

    #[test]
    fn every_row_adds_up_to_its_exact_cases_in_every_dimension() {
        let period = PeriodCounts {
            own: cases(1, 0, 0),
            children: vec![(org("VN.BT.D02"), cases(0, 2, 25)), (org("VN.BT.D01"), cases(12, 3, 30))],
        };
        let release = release_tables(&period, &noise(), &mut seeded_rng(3));
        assert_eq!(release.rows, vec![Some(org("VN.BT.D01")), Some(org("VN.BT.D02")), None]);
        assert_eq!(release.totals, vec![15, 2, 1]);
        for dimension in Dimension::ALL {
            let table = reader_table(dimension, &[&release]);
            for row in &table.rows {
                assert_eq!(row.cells.iter().map(|cell| cell.value).sum::<u64>(), row.total, "{}", dimension.name());
                assert!(row.cells.iter().all(|cell| cell.margin <= row.total), "{row:?}");
            }
            assert_eq!(table.grand_total, 18);
            assert_eq!(table.column_totals.iter().map(|cell| cell.value).sum::<u64>(), 18);
        }
    }

    #[test]
    fn a_school_year_is_its_two_semesters_added() {
        let first = PeriodCounts { own: Counts::zero(), children: vec![(org("VN.BT.D01"), cases(4, 1, 30))] };
        let second = PeriodCounts { own: Counts::zero(), children: vec![(org("VN.BT.D03"), cases(6, 0, 28))] };
        let mut rng = seeded_rng(4);
        let (s1, s2) = (release_tables(&first, &noise(), &mut rng), release_tables(&second, &noise(), &mut rng));
        let year = reader_table(Dimension::Category, &[&s1, &s2]);
        let semester =
            |release: &ReleasedTables, at: usize| reader_table(Dimension::Category, &[release]).rows[at].clone();
        assert_eq!(year.rows.len(), 2);
        let values = |row: &ReaderRow| row.cells.iter().map(|cell| cell.value).collect::<Vec<_>>();
        assert_eq!(values(&year.rows[0]), values(&semester(&s1, 0)));
        assert_eq!(values(&year.rows[1]), values(&semester(&s2, 0)));
        assert_eq!(year.grand_total, 11);
    }
}
