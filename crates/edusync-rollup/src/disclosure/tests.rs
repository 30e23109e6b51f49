//! What a reader is shown is safe against the strongest attack on totals.

use proptest::prelude::*;

use super::*;

fn org(index: usize) -> OrgId {
    OrgId::parse("org", &format!("VN.BT.D{index:02}")).expect("valid")
}

fn unit(index: usize, schools: u64, values: &[u64]) -> Unit {
    Unit { org: org(index), values: values.to_vec(), schools }
}

/// The exact values behind each shown row, rebuilt the way `disclose` pools them.
fn exact_rows(shown: &ShownTable, units: &[Unit], parent_own: &[u64], columns: usize) -> Vec<Vec<u64>> {
    shown
        .rows
        .iter()
        .map(|row| match &row.org {
            Some(org) => units
                .iter()
                .find(|unit| &unit.org == org)
                .map(|unit| column_values(&unit.values, columns))
                .unwrap_or_default(),
            None => {
                let mut pooled = column_values(parent_own, columns);
                for unit in
                    units.iter().filter(|unit| !shown.rows.iter().any(|row| row.org.as_ref() == Some(&unit.org)))
                {
                    for (cell, value) in pooled.iter_mut().zip(column_values(&unit.values, columns)) {
                        *cell += value;
                    }
                }
                pooled
            }
        })
        .collect()
}

#[test]
fn small_cells_are_hidden_with_a_complement_and_rows_still_add_up() {
    // Columns: physical (k 5), sexual (k 10).
    // Two small units (1 + 2 schools) pool into "unallocated" with three schools.
    let units = vec![
        unit(1, 4, &[12, 2]),
        unit(2, 5, &[20, 0]),
        unit(3, 6, &[9, 15]),
        unit(4, 1, &[3, 0]),
        unit(5, 2, &[6, 1]),
    ];
    let shown = disclose(&units, &[0, 0], &[5, 10], 5);
    assert_eq!(shown.rows.len(), 4, "three shown districts and unallocated");
    assert_eq!(shown.rows[3].org, None);
    assert_eq!(shown.rows[0].cells[1], Shown::Suppressed, "2 sexual incidents are below k = 10");
    let hidden: usize = shown
        .rows
        .iter()
        .flat_map(|row| row.cells.iter().chain([&row.total]))
        .filter(|c| **c == Shown::Suppressed)
        .count();
    assert!(hidden >= 2, "a lone hidden cell would be recovered from its row total");
    let exact = exact_rows(&shown, &units, &[0, 0], 2);
    assert_eq!(exact[3], vec![9, 1], "unallocated holds the pooled units");
    for exposure in attack(&shown, &exact) {
        assert!(exposure.is_protected(), "{exposure:?}");
    }
}

#[test]
fn a_unit_of_fewer_than_three_schools_is_never_shown_alone() {
    let units = vec![unit(1, 2, &[30]), unit(2, 10, &[40]), unit(3, 12, &[50])];
    let shown = disclose(&units, &[0], &[5], 5);
    assert!(shown.rows.iter().all(|row| row.org.as_ref() != Some(&org(1))));
    // Two pooled schools would be a unit shown on its own: the smallest shown unit joins them.
    assert!(shown.rows.iter().all(|row| row.org.as_ref() != Some(&org(2))));
    assert_eq!(shown.rows.last().map(|row| row.cells[0]), Some(Shown::Value(70)));
    assert_eq!(shown.column_totals[0], Shown::Value(120));
}

fn random_units() -> impl Strategy<Value = (Vec<(u64, Vec<u64>)>, Vec<u64>)> {
    let columns = 1usize..4;
    columns.prop_flat_map(|columns| {
        (
            proptest::collection::vec(
                (1u64..7, proptest::collection::vec(prop_oneof![3 => 0u64..4, 2 => 0u64..12, 1 => 0u64..40], columns)),
                1..6,
            ),
            proptest::collection::vec(prop_oneof![Just(5u64), Just(10u64)], columns),
        )
    })
}

#[test]
fn a_value_hidden_in_the_parent_table_stays_hidden_in_the_nested_one() {
    // The parent's row hid "minor"; its only child table pools everything.
    let parent_row =
        ShownRow { org: Some(org(9)), cells: vec![Shown::Suppressed, Shown::Value(5)], total: Shown::Value(8) };
    let units = vec![unit(1, 1, &[2, 2]), unit(2, 1, &[1, 3])];
    let shown = disclose_within(&units, &[0, 0], &[5, 5], 5, Some(&parent_row));
    assert_eq!(shown.column_totals[0], Shown::Suppressed);
    assert_eq!(shown.rows.len(), 1, "both one-school units are pooled");
    assert_eq!(shown.rows[0].cells[0], Shown::Suppressed, "the pooled row would give the hidden value away");
    for exposure in attack(&shown, &exact_rows(&shown, &units, &[0, 0], 2)) {
        assert!(exposure.is_protected(), "{exposure:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn shown_tables_keep_every_rule_and_resist_the_interval_attack((raw_units, column_k) in random_units()) {
        let columns = column_k.len();
        let units: Vec<Unit> = raw_units.iter().enumerate().map(|(i, (schools, values))| unit(i, *schools, values)).collect();
        let parent_own = vec![0; columns];
        let shown = disclose(&units, &parent_own, &column_k, 5);
        let exact = exact_rows(&shown, &units, &parent_own, columns);

        // Every shown value is 0, at least its k, or hidden.
        for (row, values) in shown.rows.iter().zip(&exact) {
            for (column, cell) in row.cells.iter().enumerate() {
                if let Shown::Value(value) = cell {
                    prop_assert!(*value == 0 || *value >= column_k[column], "cell {value} shown with k {}", column_k[column]);
                    prop_assert_eq!(*value, values[column]);
                }
            }
            // A unit's cases are shown, exactly.
            prop_assert_eq!(row.total, Shown::Value(values.iter().sum()));
        }
        // No unit of fewer than three schools stands alone; "unallocated" holds none or at least three.
        let mut pooled_schools = 0;
        for unit in &units {
            match shown.rows.iter().find(|row| row.org.as_ref() == Some(&unit.org)) {
                Some(_) => prop_assert!(unit.schools >= MIN_SCHOOLS),
                None => pooled_schools += unit.schools,
            }
        }
        let shown_units = shown.rows.len() - 1;
        prop_assert!(pooled_schools == 0 || pooled_schools >= MIN_SCHOOLS || shown_units == 0);
        // Shown rows plus "unallocated" equal the parent total, column by column.
        for column in 0..columns {
            let parent: u64 = units.iter().map(|unit| unit.values[column]).sum();
            prop_assert_eq!(exact.iter().map(|row| row[column]).sum::<u64>(), parent);
        }
        // The interval attack on everything this reader receives narrows nothing below
        // its k, or below what the shown case counts allow at best.
        let grand: u64 = exact.iter().flatten().sum();
        for exposure in attack(&shown, &exact) {
            prop_assert!(exposure.is_protected(), "{:?}", exposure);
            // The aim, checked against the closed form: protection levels of ⌈k/2⌉
            // below and the rest of k above, within what the case counts alone allow
            // (a cell: 0 to its unit's cases; a column total: 0 to the grand total;
            // with one column each is a case count itself).
            let (row, column) = (exposure.row, exposure.column);
            let (value, k, best_high) = if row < exact.len() {
                (exact[row][column], column_k[column], exact[row].iter().sum::<u64>())
            } else {
                (exact.iter().map(|values| values[column]).sum::<u64>(), column_k[column].max(5), grand)
            };
            let below = value.min(k.div_ceil(2));
            let expected = if columns > 1 { (value - below, (value + k - below).min(best_high)) } else { (value, value) };
            prop_assert_eq!((exposure.aim_low, exposure.aim_high), expected, "{:?}", exposure);
        }
    }
}

/// The largest flow from `source` to `sink` as the smallest cut, by trying
/// every set of nodes that holds the source and not the sink: an oracle that
/// shares nothing with Dinic's algorithm but the graph.
fn min_cut_by_enumeration(nodes: usize, edges: &[(usize, usize, i128)], source: usize, sink: usize) -> i128 {
    let mut best = i128::MAX;
    for set in 0u32..(1 << nodes) {
        let inside = |node: usize| set & (1 << node) != 0;
        if !inside(source) || inside(sink) {
            continue;
        }
        let cut = edges.iter().filter(|(from, to, _)| inside(*from) && !inside(*to)).map(|edge| edge.2).sum();
        best = best.min(cut);
    }
    best
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The maximum flow the disclosure's attacks rest on equals the minimum
    /// cut found by brute force, on every small graph (parallel edges, loops
    /// back to the source and edges into it included).
    #[test]
    fn max_flow_equals_the_minimum_cut_on_small_graphs(
        nodes in 2usize..8,
        raw_edges in proptest::collection::vec((0usize..8, 0usize..8, 0i128..20), 0..24),
    ) {
        let edges: Vec<(usize, usize, i128)> = raw_edges
            .into_iter()
            .map(|(from, to, capacity)| (from % nodes, to % nodes, capacity))
            .filter(|(from, to, _)| from != to)
            .collect();
        let (source, sink) = (0, nodes - 1);
        let mut flow = MaxFlow::new(nodes);
        for (from, to, capacity) in &edges {
            flow.add_edge(*from, *to, *capacity);
        }
        prop_assert_eq!(flow.run(source, sink), min_cut_by_enumeration(nodes, &edges, source, sink), "{:?}", edges);
        // Reused buffers give the same answer on the next graph.
        flow.reset(nodes);
        for (from, to, capacity) in &edges {
            flow.add_edge(*from, *to, *capacity);
        }
        prop_assert_eq!(flow.run(source, sink), min_cut_by_enumeration(nodes, &edges, source, sink));
    }
}
