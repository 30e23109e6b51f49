//! The fixed catalogue of dimensions a reader may ask for, and the tables
//! they make: one row per child unit (plus "unallocated"), one column per
//! value of the dimension, exact for the office itself and after disclosure
//! control for readers. A fixed catalogue, all cut from the same cells of the
//! same aggregates, so that what one reader receives nests rather than
//! overlaps (ARCHITECTURE.md, "Disclosure control").

use edusync_core::{Cell, Counts, IncidentCategory, Investigation, Notified, OrgId};

use crate::disclosure::{disclose_keeping, HiddenCells, Shown, ShownRow, ShownTable, Unit};

/// What the columns of a table are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    Category,
    Severity,
    Status,
    Channel,
    Place,
    Notified,
    Investigation,
}

impl Dimension {
    pub const ALL: [Dimension; 7] = [
        Dimension::Category,
        Dimension::Severity,
        Dimension::Status,
        Dimension::Channel,
        Dimension::Place,
        Dimension::Notified,
        Dimension::Investigation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Category => "category",
            Dimension::Severity => "severity",
            Dimension::Status => "status",
            Dimension::Channel => "channel",
            Dimension::Place => "place",
            Dimension::Notified => "notified",
            Dimension::Investigation => "investigation",
        }
    }

    /// Its place in [`Dimension::ALL`].
    pub fn index(self) -> usize {
        Dimension::ALL.iter().position(|each| *each == self).unwrap_or(0)
    }

    pub fn parse(text: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|dimension| dimension.name() == text)
    }

    /// Each column's name and the cells it sums, in layout order.
    fn columns(self) -> Vec<(String, Vec<Cell>)> {
        let mut columns: Vec<(String, Vec<Cell>)> = Vec::new();
        for cell in Cell::all() {
            let key = match (self, cell) {
                (Dimension::Category, Cell::Cases(category, _, _)) => category.to_string(),
                (Dimension::Severity, Cell::Cases(_, severity, _)) => severity.to_string(),
                (Dimension::Status, Cell::Cases(_, _, status)) => status.to_string(),
                (Dimension::Channel, Cell::Channel(_))
                | (Dimension::Place, Cell::Place(_))
                | (Dimension::Notified, Cell::Notified(_))
                | (Dimension::Investigation, Cell::Investigation(_)) => {
                    cell.name().split_once('.').map_or_else(|| cell.name(), |(_, value)| value.to_owned())
                }
                _ => continue,
            };
            match columns.iter_mut().find(|(name, _)| *name == key) {
                Some((_, cells)) => cells.push(cell),
                None => columns.push((key, vec![cell])),
            }
        }
        columns
    }

    pub fn column_names(self) -> Vec<String> {
        self.columns().into_iter().map(|(name, _)| name).collect()
    }

    /// The counts of each column.
    pub fn values(self, counts: &Counts) -> Vec<u64> {
        self.columns().iter().map(|(_, cells)| cells.iter().map(|cell| counts.get(*cell)).sum()).collect()
    }

    /// The groups of columns whose sum for each child the compliance view
    /// shows for a school year (`compliance::assess`: notifications in time and
    /// late, investigations overdue and not), by column index; empty for the
    /// other dimensions.
    pub fn compliance_groups(self) -> Vec<Vec<usize>> {
        let groups: [&[Cell]; 2] = match self {
            Dimension::Notified => [
                &[Cell::Notified(Notified::Within3Hours), Cell::Notified(Notified::Within12Hours)],
                &[Cell::Notified(Notified::Later), Cell::Notified(Notified::NotYet)],
            ],
            Dimension::Investigation => [
                &[Cell::Investigation(Investigation::ConcludedLate), Cell::Investigation(Investigation::OpenOverdue)],
                &[Cell::Investigation(Investigation::ConcludedInTime), Cell::Investigation(Investigation::OpenInTime)],
            ],
            _ => return Vec::new(),
        };
        let columns = self.columns();
        groups
            .iter()
            .map(|members| {
                (0..columns.len()).filter(|index| columns[*index].1.iter().all(|cell| members.contains(cell))).collect()
            })
            .collect()
    }

    /// Each column's suppression threshold: 10 for sexual incidents, else 5.
    pub fn column_k(self) -> Vec<u64> {
        let sexual = IncidentCategory::Sexual.to_string();
        self.columns()
            .iter()
            .map(|(name, _)| if self == Dimension::Category && *name == sexual { 10 } else { 5 })
            .collect()
    }
}

/// A table by child unit, exact: the office's own view. The office's own
/// count goes to the "unallocated" row. What a reader sees instead is cut by
/// [`disclosed_school_year`].
pub fn child_table(dimension: Dimension, own: &Counts, children: &[(OrgId, Counts)]) -> ShownTable {
    let own_values = dimension.values(own);
    let column_k = dimension.column_k();
    let units = units_of(dimension, children);
    let exact = |values: &[u64]| values.iter().map(|value| Shown::Value(*value)).collect::<Vec<_>>();
    let mut rows: Vec<ShownRow> = units
        .iter()
        .map(|unit| ShownRow {
            org: Some(unit.org.clone()),
            cells: exact(&unit.values),
            total: Shown::Value(unit.values.iter().sum()),
        })
        .collect();
    if own_values.iter().any(|value| *value > 0) {
        rows.push(ShownRow { org: None, cells: exact(&own_values), total: Shown::Value(own_values.iter().sum()) });
    }
    let column_totals: Vec<u64> = (0..own_values.len())
        .map(|column| own_values[column] + units.iter().map(|unit| unit.values[column]).sum::<u64>())
        .collect();
    let grand_total = column_totals.iter().sum();
    ShownTable {
        rows,
        column_totals: exact(&column_totals),
        grand_total: Shown::Value(grand_total),
        column_groups: Vec::new(),
        column_k,
        base_k: 5,
    }
}

/// What one period's tables are cut from: the office's own count and each
/// child's latest total.
#[derive(Clone, Debug)]
pub struct PeriodCounts {
    pub own: Counts,
    pub children: Vec<(OrgId, Counts)>,
}

impl PeriodCounts {
    /// Incident cases in all: the office's own and every child's.
    pub fn case_count(&self) -> u64 {
        let cases = |counts: &Counts| Dimension::Category.values(counts).iter().sum::<u64>();
        self.children.iter().fold(cases(&self.own), |sum, (_, counts)| sum.saturating_add(cases(counts)))
    }
}

/// The tables of a school year and of its two semesters, every dimension of
/// each (`[year, semester 1, semester 2]`, each in [`Dimension::ALL`] order),
/// as a reader may see them.
///
/// Every dimension counts each incident case once, so the seven tables of one
/// period share their row totals (cases per unit) and grand total. Those are
/// always shown (the compliance view shows them unit by unit), so the seven
/// are tied to each other by nothing hidden: each protects its own cells, and
/// holding all seven tells a reader nothing more of one.
///
/// Each unit's year is the sum of its two semesters, cell by cell (every
/// record of a year counts in the year and in the semester it falls in), so a
/// reader holding the three could subtract: a value hidden in one is hidden in
/// all three, again until none hides one the others show, and every hidden
/// value keeps its protection levels in each, so that intersecting what the
/// three say (the year's interval less the other semester's) still reaches
/// them. The three tables have the same rows: a child missing from one period
/// counts zero there, with its schools from the others, so small units pool
/// alike. The `notified` and `investigation` tables are protected against a
/// reader who knows the timeliness sums the compliance view shows for each
/// child (see [`Dimension::compliance_groups`]): for the year, as it does, and
/// for each semester as if it did.
pub fn disclosed_school_year(periods: &[PeriodCounts; 3]) -> [Vec<ShownTable>; 3] {
    let mut orgs: Vec<OrgId> =
        periods.iter().flat_map(|period| period.children.iter().map(|(org, _)| org.clone())).collect();
    orgs.sort();
    orgs.dedup();
    let schools = |org: &OrgId| {
        periods
            .iter()
            .flat_map(|period| period.children.iter().filter(|(child, _)| child == org))
            .map(|(_, counts)| counts.get(Cell::ContributingSchools))
            .max()
            .unwrap_or(0)
    };
    let aligned: Vec<Vec<(OrgId, Counts)>> = periods
        .iter()
        .map(|period| {
            orgs.iter()
                .map(|org| {
                    let mut counts = period
                        .children
                        .iter()
                        .find(|(child, _)| child == org)
                        .map_or_else(Counts::zero, |(_, counts)| counts.clone());
                    let missing = schools(org).saturating_sub(counts.get(Cell::ContributingSchools));
                    // Saturating: a count that does not fit is left as it is.
                    let _ = counts.add_to(Cell::ContributingSchools, missing);
                    (org.clone(), counts)
                })
                .collect()
        })
        .collect();
    let linked_by_dimension = |dimension: Dimension| {
        let mut hidden = HiddenCells::default();
        loop {
            let mut grew = false;
            let round: Vec<ShownTable> = periods
                .iter()
                .zip(&aligned)
                .map(|(period, children)| {
                    // The compliance view shows each child's timeliness sums for the
                    // year; a semester is protected as if its own were shown too, a
                    // stronger reader than the real one, so that what the year's sums
                    // say of a semester (never more than they hold) is within its aims.
                    let groups = dimension.compliance_groups();
                    let table = disclose_keeping(
                        &units_of(dimension, children),
                        &dimension.values(&period.own),
                        &dimension.column_k(),
                        5,
                        &hidden,
                        &groups,
                    );
                    grew |= hidden.absorb(&HiddenCells::hidden_in(&table));
                    table
                })
                .collect();
            if !grew {
                return round;
            }
        }
    };
    // The seven dimensions share nothing hidden: each on its own thread.
    let by_dimension: Vec<Vec<ShownTable>> = std::thread::scope(|scope| {
        let running: Vec<_> =
            Dimension::ALL.map(|dimension| scope.spawn(move || linked_by_dimension(dimension))).into_iter().collect();
        running
            .into_iter()
            .map(|thread| thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    let mut tables: [Vec<ShownTable>; 3] = Default::default();
    for linked in by_dimension {
        for (period_tables, table) in tables.iter_mut().zip(linked) {
            period_tables.push(table);
        }
    }
    tables
}

fn units_of(dimension: Dimension, children: &[(OrgId, Counts)]) -> Vec<Unit> {
    children
        .iter()
        .map(|(org, counts)| Unit {
            org: org.clone(),
            values: dimension.values(counts),
            schools: counts.get(Cell::ContributingSchools),
        })
        .collect()
}

/// One period's totals as a one-row table, exact: the office's trend line.
/// A reader's is the column totals of the period's releases
/// ([`crate::released::reader_table`]).
pub fn total_row(dimension: Dimension, org: &OrgId, total: &Counts) -> ShownTable {
    child_table(dimension, &Counts::zero(), &[(org.clone(), total.clone())])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A suppressed table's margins as one row, as the suppression baseline's
    /// trend line showed them.
    fn margins_row(table: &ShownTable) -> ShownTable {
        ShownTable {
            rows: vec![ShownRow { org: None, cells: table.column_totals.clone(), total: table.grand_total }],
            column_totals: table.column_totals.clone(),
            grand_total: table.grand_total,
            column_groups: Vec::new(),
            column_k: table.column_k.clone(),
            base_k: table.base_k,
        }
    }

    fn counts(cells: &[(Cell, u64)]) -> Counts {
        let mut counts = Counts::zero();
        for (cell, value) in cells {
            counts.add_to(*cell, *value).expect("fits");
        }
        counts
    }

    fn case(category: IncidentCategory) -> Cell {
        Cell::Cases(category, edusync_core::Severity::Minor, edusync_core::IncidentStatus::Open)
    }

    #[test]
    fn every_dimension_sums_to_its_cells_and_parses_by_name() {
        let total = counts(&[(case(IncidentCategory::Physical), 7), (case(IncidentCategory::Sexual), 2)]);
        for dimension in Dimension::ALL {
            assert_eq!(Dimension::parse(dimension.name()), Some(dimension));
            assert_eq!(dimension.values(&total).len(), dimension.column_names().len());
        }
        assert_eq!(Dimension::Category.values(&total)[0], 7);
        assert_eq!(Dimension::Severity.values(&total), vec![9, 0, 0]);
        assert_eq!(Dimension::Category.column_k()[4], 10, "sexual incidents take k = 10");
        assert_eq!(Dimension::parse("names"), None);
        let names = |dimension: Dimension, groups: Vec<Vec<usize>>| -> Vec<Vec<String>> {
            let columns = dimension.column_names();
            groups.into_iter().map(|group| group.into_iter().map(|index| columns[index].clone()).collect()).collect()
        };
        assert_eq!(
            names(Dimension::Notified, Dimension::Notified.compliance_groups()),
            vec![vec!["within_3h", "within_12h"], vec!["later", "not_yet"]]
        );
        assert_eq!(
            names(Dimension::Investigation, Dimension::Investigation.compliance_groups()),
            vec![vec!["concluded_late", "open_overdue"], vec!["concluded_within_15_days", "open_within_15_days"]]
        );
        assert!(Dimension::Category.compliance_groups().is_empty());
    }

    #[test]
    fn the_office_sees_exact_values_and_a_reader_sees_small_ones_hidden() {
        let org = |text: &str| OrgId::parse("org", text).expect("valid");
        let schools = |n| (Cell::ContributingSchools, n);
        let children = vec![
            (org("VN.BT.D01"), counts(&[(case(IncidentCategory::Physical), 12), schools(30)])),
            (org("VN.BT.D02"), counts(&[(case(IncidentCategory::Physical), 2), schools(25)])),
            (org("VN.BT.D03"), counts(&[(case(IncidentCategory::Physical), 9), schools(28)])),
        ];
        let exact = child_table(Dimension::Category, &Counts::zero(), &children);
        assert_eq!(exact.rows[1].cells[0], Shown::Value(2));
        assert_eq!(exact.grand_total, Shown::Value(23));
        let shown = as_a_reader_sees_it(Dimension::Category, &Counts::zero(), &children);
        let d02 = shown.rows.iter().find(|row| row.org == Some(org("VN.BT.D02"))).expect("row");
        assert_eq!(d02.cells[0], Shown::Suppressed, "2 is below k = 5");
        assert_eq!(d02.total, Shown::Value(2), "its 2 cases are shown, as compliance shows them");
        assert!(
            d02.cells[1..].contains(&Shown::Suppressed),
            "with its cases shown, a lone hidden cell would be their difference: {d02:?}"
        );
        let office = [(org("VN.BT"), counts(&[(case(IncidentCategory::Sexual), 3), schools(40)]))];
        let trend = margins_row(&as_a_reader_sees_it(Dimension::Category, &Counts::zero(), &office));
        assert_eq!(trend.rows[0].cells[4], Shown::Suppressed, "3 sexual incidents are hidden from a reader");
    }

    /// One period's table as a reader sees it: a school year whose incidents all
    /// fell in its first semester, so the linkage changes nothing.
    fn as_a_reader_sees_it(dimension: Dimension, own: &Counts, children: &[(OrgId, Counts)]) -> ShownTable {
        let period = PeriodCounts { own: own.clone(), children: children.to_vec() };
        let empty = PeriodCounts { own: Counts::zero(), children: Vec::new() };
        let [year, _, _] = disclosed_school_year(&[period.clone(), period, empty]);
        year[dimension.index()].clone()
    }

    /// Each incident counted once in every family of cells, as `derive_own` does.
    fn children_from_incidents(incidents: &[Vec<[usize; 5]>], schools: &[u64]) -> Vec<(OrgId, Counts)> {
        let cases: Vec<Cell> = Cell::all().into_iter().filter(|cell| matches!(cell, Cell::Cases(..))).collect();
        let families = [Dimension::Channel, Dimension::Place, Dimension::Notified, Dimension::Investigation];
        incidents
            .iter()
            .zip(schools)
            .enumerate()
            .map(|(index, (unit_incidents, schools))| {
                let mut counts = Counts::zero();
                counts.add_to(Cell::ContributingSchools, *schools).expect("fits");
                for choice in unit_incidents {
                    counts.add_to(cases[choice[0] % cases.len()], 1).expect("fits");
                    for (family, pick) in families.iter().zip(&choice[1..]) {
                        let columns = family.columns();
                        let (_, cells) = &columns[pick % columns.len()];
                        counts.add_to(cells[0], 1).expect("fits");
                    }
                }
                (OrgId::parse("org", &format!("VN.BT.D{:02}", index + 1)).expect("valid"), counts)
            })
            .collect()
    }

    /// The exact values behind a disclosed table's rows, pooled rows included.
    fn exact_rows(dimension: Dimension, shown: &ShownTable, children: &[(OrgId, Counts)]) -> Vec<Vec<u64>> {
        let all: Vec<u64> = (0..dimension.column_names().len())
            .map(|column| children.iter().map(|(_, counts)| dimension.values(counts)[column]).sum())
            .collect();
        let mut rows: Vec<Vec<u64>> = Vec::new();
        for row in &shown.rows {
            rows.push(match &row.org {
                Some(org) => dimension.values(&children.iter().find(|(o, _)| o == org).expect("shown unit").1),
                None => vec![0; all.len()],
            });
        }
        let unallocated: Vec<u64> =
            (0..all.len()).map(|column| all[column] - rows.iter().map(|row| row[column]).sum::<u64>()).collect();
        if let Some(position) = shown.rows.iter().position(|row| row.org.is_none()) {
            rows[position] = unallocated;
        }
        rows
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        #[test]
        fn every_dimension_shows_the_same_case_counts_and_each_table_resists_the_attack(
            incidents in proptest::collection::vec(
                proptest::collection::vec(proptest::array::uniform5(0usize..60), 0..14), 2..6),
            schools in proptest::collection::vec(1u64..8, 6),
        ) {
            let children = children_from_incidents(&incidents, &schools);
            let tables: Vec<(Dimension, ShownTable)> = Dimension::ALL
                .into_iter()
                .map(|dimension| (dimension, as_a_reader_sees_it(dimension, &Counts::zero(), &children)))
                .collect();
            let margins = |table: &ShownTable| -> (Vec<(Option<OrgId>, Shown)>, Shown) {
                (table.rows.iter().map(|row| (row.org.clone(), row.total)).collect(), table.grand_total)
            };
            // The seven share their margins, and show them exactly: the cases per unit.
            let first = margins(&tables[0].1);
            let exact_first = exact_rows(tables[0].0, &tables[0].1, &children);
            for (row, exact) in tables[0].1.rows.iter().zip(&exact_first) {
                proptest::prop_assert_eq!(row.total, Shown::Value(exact.iter().sum()));
            }
            let cases: u64 = incidents.iter().map(Vec::len).sum::<usize>() as u64;
            proptest::prop_assert_eq!(first.1, Shown::Value(cases));
            for (dimension, table) in &tables {
                proptest::prop_assert_eq!(&margins(table), &first, "{} shows other margins", dimension.name());
                let exact = exact_rows(*dimension, table, &children);
                for exposure in crate::attack(table, &exact) {
                    proptest::prop_assert!(exposure.is_protected(), "{}: {:?}", dimension.name(), exposure);
                }
            }
        }

        /// A reader holding a school year's table and both semesters' (the year
        /// being their sum) sees the same values hidden in all three, and
        /// intersecting what the three say leaves each hidden value its aim.
        #[test]
        fn a_school_year_and_its_semesters_hide_alike_and_subtracting_them_recovers_nothing(
            incidents in proptest::collection::vec(
                proptest::collection::vec((proptest::array::uniform5(0usize..60), proptest::bool::ANY), 0..12), 2..5),
            schools in proptest::collection::vec(1u64..8, 5),
        ) {
            let in_semester = |second: Option<bool>| -> Vec<Vec<[usize; 5]>> {
                incidents
                    .iter()
                    .map(|unit| unit.iter().filter(|(_, s2)| second.is_none_or(|wanted| *s2 == wanted)).map(|(choice, _)| *choice).collect())
                    .collect()
            };
            let periods = [None, Some(false), Some(true)].map(|second| PeriodCounts {
                own: Counts::zero(),
                children: children_from_incidents(&in_semester(second), &schools),
            });
            let tables = disclosed_school_year(&periods);
            for (index, dimension) in Dimension::ALL.into_iter().enumerate() {
                let [year, first, second] = [&tables[0][index], &tables[1][index], &tables[2][index]];
                let orgs = |table: &ShownTable| table.rows.iter().map(|row| row.org.clone()).collect::<Vec<_>>();
                proptest::prop_assert_eq!(orgs(year), orgs(first));
                proptest::prop_assert_eq!(orgs(year), orgs(second));
                let hidden = HiddenCells::hidden_in(year);
                proptest::prop_assert_eq!(&HiddenCells::hidden_in(first), &hidden, "{}: S1 hides otherwise", dimension.name());
                proptest::prop_assert_eq!(&HiddenCells::hidden_in(second), &hidden, "{}: S2 hides otherwise", dimension.name());
                let attacked: Vec<std::collections::BTreeMap<(usize, usize), crate::Exposure>> = [year, first, second]
                    .iter()
                    .zip(&periods)
                    .map(|(table, period)| {
                        crate::attack(table, &exact_rows(dimension, table, &period.children))
                            .into_iter()
                            .map(|exposure| ((exposure.row, exposure.column), exposure))
                            .collect()
                    })
                    .collect();
                for (place, in_year) in &attacked[0] {
                    let (Some(in_first), Some(in_second)) = (attacked[1].get(place), attacked[2].get(place)) else {
                        proptest::prop_assert!(place.1 == year.column_k.len(), "{place:?} hidden in the year only");
                        continue;
                    };
                    for exposure in [in_year, in_first, in_second] {
                        proptest::prop_assert!(exposure.is_protected(), "{}: {:?}", dimension.name(), exposure);
                    }
                    // The year is the sum of the semesters; each semester the year less the other.
                    let sum = (in_first.low + in_second.low, in_first.high.saturating_add(in_second.high));
                    let less = |minuend: &crate::Exposure, subtrahend: &crate::Exposure| {
                        (minuend.low.saturating_sub(subtrahend.high), minuend.high.saturating_sub(subtrahend.low))
                    };
                    for (exposure, (implied_low, implied_high)) in
                        [(in_year, sum), (in_first, less(in_year, in_second)), (in_second, less(in_year, in_first))]
                    {
                        let (low, high) = (exposure.low.max(implied_low), exposure.high.min(implied_high));
                        proptest::prop_assert!(low <= exposure.aim_low && high >= exposure.aim_high,
                            "{}: {place:?} narrowed to [{low}, {high}] by subtracting, aim {:?}",
                            dimension.name(), (exposure.aim_low, exposure.aim_high));
                    }
                }
            }
        }
    }
}
