//! The fixed catalogue of dimensions a reader may ask for, and the tables
//! they make: one row per child unit (plus "unallocated"), one column per
//! value of the dimension, exact for the office itself and after disclosure
//! control for readers. A fixed catalogue, all cut from the same cells of the
//! same aggregates, so that what one reader receives nests rather than
//! overlaps (ARCHITECTURE.md, "Disclosure control").

use edusync_core::{Cell, Counts, IncidentCategory, OrgId};

use crate::disclosure::{disclose, Shown, ShownRow, ShownTable, Unit};

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

    /// Each column's suppression threshold: 10 for sexual incidents, else 5.
    pub fn column_k(self) -> Vec<u64> {
        let sexual = IncidentCategory::Sexual.to_string();
        self.columns()
            .iter()
            .map(|(name, _)| if self == Dimension::Category && *name == sexual { 10 } else { 5 })
            .collect()
    }
}

/// A table by child unit: exact when `disclosed` is false (the office's own
/// view), else as `disclose` lets a reader see it. The office's own count
/// goes to the "unallocated" row.
///
/// Every dimension counts each incident case once, so all seven tables of the
/// same children share their row totals (cases per unit) and grand total.
/// Those are always shown (the compliance view shows them unit by unit), so
/// the seven tables are tied to each other by nothing hidden: each protects
/// its own cells, and holding all seven tells a reader nothing more of one.
pub fn child_table(dimension: Dimension, own: &Counts, children: &[(OrgId, Counts)], disclosed: bool) -> ShownTable {
    if disclosed {
        let mut tables = disclosed_tables(own, children);
        return tables.swap_remove(dimension.index());
    }
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
        column_k,
        base_k: 5,
    }
}

/// The tables of every dimension (in [`Dimension::ALL`] order) as a reader
/// may see them; see [`child_table`]. A node computes and keeps them together
/// because a reader asking one dimension usually asks the others next.
pub fn disclosed_tables(own: &Counts, children: &[(OrgId, Counts)]) -> Vec<ShownTable> {
    Dimension::ALL
        .into_iter()
        .map(|each| disclose(&units_of(each, children), &each.values(own), &each.column_k(), 5))
        .collect()
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

/// One period's totals as a one-row table: exact, or with values below the
/// threshold hidden (a reader's trend line must not show a count of 1 to 4).
pub fn total_row(dimension: Dimension, org: &OrgId, total: &Counts, disclosed: bool) -> ShownTable {
    child_table(dimension, &Counts::zero(), &[(org.clone(), with_many_schools(total))], disclosed)
}

/// A period's own total is not a small unit however few schools it counts;
/// only its values are protected.
fn with_many_schools(total: &Counts) -> Counts {
    let mut counts = total.clone();
    let schools = counts.get(Cell::ContributingSchools);
    let _ = counts.add_to(Cell::ContributingSchools, crate::disclosure::MIN_SCHOOLS.saturating_sub(schools));
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let exact = child_table(Dimension::Category, &Counts::zero(), &children, false);
        assert_eq!(exact.rows[1].cells[0], Shown::Value(2));
        assert_eq!(exact.grand_total, Shown::Value(23));
        let shown = child_table(Dimension::Category, &Counts::zero(), &children, true);
        let d02 = shown.rows.iter().find(|row| row.org == Some(org("VN.BT.D02"))).expect("row");
        assert_eq!(d02.cells[0], Shown::Suppressed, "2 is below k = 5");
        assert_eq!(d02.total, Shown::Value(2), "its 2 cases are shown, as compliance shows them");
        assert!(
            d02.cells[1..].contains(&Shown::Suppressed),
            "with its cases shown, a lone hidden cell would be their difference: {d02:?}"
        );
        let trend =
            total_row(Dimension::Category, &org("VN.BT"), &counts(&[(case(IncidentCategory::Sexual), 3)]), true);
        assert_eq!(trend.rows[0].cells[4], Shown::Suppressed, "3 sexual incidents are hidden from a reader");
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
                .map(|dimension| (dimension, child_table(dimension, &Counts::zero(), &children, true)))
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
                for (edge, low, high, required) in crate::attack(table, &exact) {
                    proptest::prop_assert!(high.saturating_sub(low) >= required,
                        "{}: {edge} narrowed to [{low}, {high}] (must keep {required})", dimension.name());
                }
            }
        }
    }
}
