//! Disclosure control for what is shown, exported or queried — never for what
//! is summed.
//!
//! A reader sees a table: one row per child unit (plus an "unallocated" row),
//! one column per chosen cell, with row totals, column totals (the parent's
//! totals) and a grand total. Three rules protect it:
//!
//! 1. A unit with fewer than [`MIN_SCHOOLS`] contributing schools is never shown
//!    on its own: it goes into the "unallocated" row, which itself is grown
//!    until it holds none or at least [`MIN_SCHOOLS`] schools. Shown rows plus
//!    "unallocated" always equal the parent total.
//! 2. Each row's total and the grand total are always shown: they are the
//!    incident cases of each unit and of the parent, which the compliance view
//!    shows the same readers unit by unit (a supervising office always sees
//!    how many cases each unit had). What is protected is how a unit's cases
//!    break down. Primary suppression: a cell or column total from 1 to k-1 is
//!    hidden (k per column).
//!    So are a table's column groups, where it has them (timeliness sums the
//!    compliance view shows; see [`ShownTable::column_groups`]).
//! 3. Complementary suppression: more values are hidden until, from everything
//!    shown plus the fact that counts are not negative, every hidden value can
//!    still be ⌈k/2⌉ below its value (or 0) and the rest of k above — or as far
//!    as the shown case counts allow at best (a unit with 2 cases confines each
//!    of its cells to [0, 2] however much is hidden; that interval is then the aim).
//!
//! Rule 3 is checked by the attack itself. A table with its margins is a
//! circulation: every inner cell is an edge from its row to its column, every
//! row total an edge from a row hub to the row, every column total an edge
//! from the column to a column hub, and the grand total an edge from the
//! column hub back to the row hub; "totals add up" is flow conservation. What
//! an attacker can learn about a hidden value is the range of flows that edge
//! can carry in any non-negative circulation agreeing with every shown value
//! — exact, because the constraint matrix of a network is totally unimodular
//! — computed here with max-flow feasibility checks.

use edusync_core::OrgId;

/// The smallest number of contributing schools a unit may be shown with.
pub const MIN_SCHOOLS: u64 = 3;

/// One child unit's exact values for the table's columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    pub org: OrgId,
    pub values: Vec<u64>,
    pub schools: u64,
}

/// What a reader may see of one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    Value(u64),
    Suppressed,
}

impl Shown {
    pub fn value(self) -> Option<u64> {
        match self {
            Shown::Value(value) => Some(value),
            Shown::Suppressed => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShownRow {
    /// `None` for the "unallocated" row.
    pub org: Option<OrgId>,
    pub cells: Vec<Shown>,
    pub total: Shown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShownTable {
    pub rows: Vec<ShownRow>,
    pub column_totals: Vec<Shown>,
    pub grand_total: Shown,
    /// Groups of columns whose sum for each row the reader is shown elsewhere
    /// (the compliance view's timeliness figures), by column index; the attack
    /// takes them as known. Empty for most tables.
    pub column_groups: Vec<Vec<usize>>,
    /// The threshold of each column, and of the margins (`base_k`), as applied.
    pub column_k: Vec<u64>,
    pub base_k: u64,
}

/// Builds what a reader may see. `column_k` holds each column's threshold
/// (5 by default, 10 for sexual incidents and demographic cells); `parent_own`
/// is the parent's own count, which goes to "unallocated".
pub fn disclose(units: &[Unit], parent_own: &[u64], column_k: &[u64], base_k: u64) -> ShownTable {
    disclose_within(units, parent_own, column_k, base_k, None)
}

/// As [`disclose`], for a table nested in another one: the parent's row as
/// its own parent's table shows it. A value hidden there stays hidden here
/// (as this table's column total), and is protected here too, so that the
/// nested tables cannot be combined to recover it.
pub fn disclose_within(
    units: &[Unit],
    parent_own: &[u64],
    column_k: &[u64],
    base_k: u64,
    parent_row: Option<&ShownRow>,
) -> ShownTable {
    disclose_with(units, parent_own, column_k, base_k, parent_row, &HiddenCells::default(), &[])
}

/// As [`disclose`], with `also_hidden` hidden from the start and protected
/// like any hidden value: for tables that add up to one another (a school
/// year and its two semesters), where a value hidden in one must be hidden in
/// all or a reader could subtract; see [`HiddenCells`].
///
/// `column_groups`: groups of columns whose sum per row the reader is shown
/// elsewhere (see [`ShownTable::column_groups`]); empty for none.
pub fn disclose_keeping(
    units: &[Unit],
    parent_own: &[u64],
    column_k: &[u64],
    base_k: u64,
    also_hidden: &HiddenCells,
    column_groups: &[Vec<usize>],
) -> ShownTable {
    disclose_with(units, parent_own, column_k, base_k, None, also_hidden, column_groups)
}

/// Cells and column totals hidden in one of several tables of the same rows
/// and columns, by place: a row by its unit (`None`: "unallocated") and a column
/// by its index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HiddenCells {
    pub cells: std::collections::BTreeSet<(Option<OrgId>, usize)>,
    pub column_totals: std::collections::BTreeSet<usize>,
}

impl HiddenCells {
    /// What `table` hides of its cells and column totals.
    pub fn hidden_in(table: &ShownTable) -> HiddenCells {
        let mut hidden = HiddenCells::default();
        for row in &table.rows {
            for (column, cell) in row.cells.iter().enumerate() {
                if *cell == Shown::Suppressed {
                    hidden.cells.insert((row.org.clone(), column));
                }
            }
        }
        for (column, total) in table.column_totals.iter().enumerate() {
            if *total == Shown::Suppressed {
                hidden.column_totals.insert(column);
            }
        }
        hidden
    }

    /// Adds what `other` hides; true if that hid anything more.
    pub fn absorb(&mut self, other: &HiddenCells) -> bool {
        let before = (self.cells.len(), self.column_totals.len());
        self.cells.extend(other.cells.iter().cloned());
        self.column_totals.extend(other.column_totals.iter().copied());
        before != (self.cells.len(), self.column_totals.len())
    }
}

fn disclose_with(
    units: &[Unit],
    parent_own: &[u64],
    column_k: &[u64],
    base_k: u64,
    parent_row: Option<&ShownRow>,
    also_hidden: &HiddenCells,
    column_groups: &[Vec<usize>],
) -> ShownTable {
    let columns = column_k.len();
    // Rule 1: small units into "unallocated", then grow it past MIN_SCHOOLS.
    let mut shown: Vec<&Unit> = units.iter().filter(|unit| unit.schools >= MIN_SCHOOLS).collect();
    let mut pooled: Vec<&Unit> = units.iter().filter(|unit| unit.schools < MIN_SCHOOLS).collect();
    let pooled_schools = |pooled: &[&Unit]| pooled.iter().map(|unit| unit.schools).sum::<u64>();
    while (1..MIN_SCHOOLS).contains(&pooled_schools(&pooled)) && !shown.is_empty() {
        let smallest = (0..shown.len()).min_by_key(|index| (shown[*index].schools, shown[*index].org.clone()));
        if let Some(index) = smallest {
            pooled.push(shown.remove(index));
        }
    }
    let mut rows: Vec<(Option<OrgId>, Vec<u64>)> =
        shown.iter().map(|unit| (Some(unit.org.clone()), column_values(&unit.values, columns))).collect();
    let mut unallocated = column_values(parent_own, columns);
    for unit in &pooled {
        for (cell, value) in unallocated.iter_mut().zip(column_values(&unit.values, columns)) {
            *cell = cell.saturating_add(value);
        }
    }
    rows.push((None, unallocated));

    let table = Table::new(&rows, column_k, base_k, column_groups);
    // Rule 2: the case counts are shown; small cells and column totals are not.
    let mut hidden: Vec<bool> = (0..table.edges.len())
        .map(|index| {
            let edge = table.edges[index];
            !table.is_published(index) && edge.value > 0 && edge.value < edge.k
        })
        .collect();
    if let Some(parent_row) = parent_row {
        for (column, cell) in parent_row.cells.iter().enumerate().take(columns) {
            if *cell == Shown::Suppressed {
                hidden[table.at(table.rows, column)] = true;
            }
        }
    }
    for (row, (org, _)) in rows.iter().enumerate() {
        for column in 0..columns {
            if also_hidden.cells.contains(&(org.clone(), column)) {
                hidden[table.at(row, column)] = true;
            }
        }
    }
    for column in also_hidden.column_totals.iter().filter(|column| **column < columns) {
        hidden[table.at(table.rows, *column)] = true;
    }
    complementary_suppression(&table, &mut hidden);
    table.shown(&rows, hidden)
}

fn column_values(values: &[u64], columns: usize) -> Vec<u64> {
    (0..columns).map(|index| values.get(index).copied().unwrap_or(0)).collect()
}

/// Every value the reader could be shown, as edges of the circulation.
struct Table {
    rows: usize,
    columns: usize,
    /// Cells, row totals, column totals, the grand total, then each row's
    /// group sums (see `ShownTable::column_groups`).
    edges: Vec<Edge>,
    /// For each column, its group, when the table has groups.
    group_of: Option<Vec<usize>>,
    groups: usize,
    /// The flow network's buffers, kept between the many feasibility checks
    /// one disclosure runs (building it anew each time was half their cost).
    scratch: std::cell::RefCell<MaxFlow>,
}

#[derive(Clone, Copy, Debug)]
struct Edge {
    from: usize,
    to: usize,
    value: u64,
    k: u64,
}

// Node numbering: rows 0..R, columns R..R+C, row hub R+C, column hub R+C+1,
// then with G groups one node per row and group, R+C+2+row·G+group: a row's
// cells leave from its group nodes, which its group sums feed.
impl Table {
    fn new(rows: &[(Option<OrgId>, Vec<u64>)], column_k: &[u64], base_k: u64, column_groups: &[Vec<usize>]) -> Table {
        let (row_count, columns) = (rows.len(), column_k.len());
        let row_hub = row_count + columns;
        let column_hub = row_hub + 1;
        // Groups are used only when they split every column exactly once.
        let group_of = (!column_groups.is_empty())
            .then(|| {
                let mut group_of = vec![usize::MAX; columns];
                for (group, members) in column_groups.iter().enumerate() {
                    for column in members {
                        match group_of.get_mut(*column) {
                            Some(slot) if *slot == usize::MAX => *slot = group,
                            _ => return None,
                        }
                    }
                }
                group_of.iter().all(|group| *group != usize::MAX).then_some(group_of)
            })
            .flatten();
        let groups = group_of.as_ref().map_or(0, |_| column_groups.len());
        let group_node = |row: usize, group: usize| column_hub + 1 + row * groups + group;
        let mut edges = Vec::with_capacity(row_count * columns + row_count + columns + 1 + row_count * groups);
        for (row, (_, values)) in rows.iter().enumerate() {
            for (column, value) in values.iter().enumerate() {
                let from = group_of.as_ref().map_or(row, |group_of| group_node(row, group_of[column]));
                edges.push(Edge { from, to: row_count + column, value: *value, k: column_k[column] });
            }
        }
        for (row, (_, values)) in rows.iter().enumerate() {
            edges.push(Edge { from: row_hub, to: row, value: values.iter().sum(), k: base_k });
        }
        for (column, k) in column_k.iter().enumerate() {
            let total = rows.iter().map(|(_, values)| values[column]).sum();
            edges.push(Edge { from: row_count + column, to: column_hub, value: total, k: (*k).max(base_k) });
        }
        let grand = rows.iter().flat_map(|(_, values)| values.iter()).sum();
        edges.push(Edge { from: column_hub, to: row_hub, value: grand, k: base_k });
        if let Some(group_of) = &group_of {
            for (row, (_, values)) in rows.iter().enumerate() {
                for group in 0..groups {
                    let value =
                        (0..columns).filter(|column| group_of[*column] == group).map(|column| values[column]).sum();
                    edges.push(Edge { from: row, to: group_node(row, group), value, k: base_k });
                }
            }
        }
        Table { rows: row_count, columns, edges, group_of, groups, scratch: std::cell::RefCell::new(MaxFlow::new(0)) }
    }

    /// The grand total's edge; group sums come after it.
    fn grand(&self) -> usize {
        self.rows * self.columns + self.rows + self.columns
    }

    /// Whether the value at `index` is always shown: a row total (a unit's
    /// cases), the grand total (the parent's), or a group sum.
    fn is_published(&self, index: usize) -> bool {
        let inner = self.rows * self.columns;
        (inner..inner + self.rows).contains(&index) || index >= self.grand()
    }

    fn nodes(&self) -> usize {
        self.rows + self.columns + 2 + self.rows * self.groups
    }

    /// The edge at (row, column) of the table extended by its margins: row
    /// `rows` is the column totals, column `columns` the row totals.
    fn at(&self, row: usize, column: usize) -> usize {
        let inner = self.rows * self.columns;
        match (row == self.rows, column == self.columns) {
            (false, false) => row * self.columns + column,
            (false, true) => inner + row,
            (true, false) => inner + self.rows + column,
            (true, true) => self.grand(),
        }
    }

    /// The groups as column lists, as `ShownTable` carries them.
    fn column_groups(&self) -> Vec<Vec<usize>> {
        let Some(group_of) = &self.group_of else { return Vec::new() };
        (0..self.groups).map(|group| (0..self.columns).filter(|column| group_of[*column] == group).collect()).collect()
    }

    /// Whether two columns' cells of one row lie in different groups, so that
    /// no rectangle through both keeps the row's group sums.
    fn split_by_groups(&self, column: usize, other_column: usize) -> bool {
        match &self.group_of {
            Some(group_of) if column < self.columns && other_column < self.columns => {
                group_of[column] != group_of[other_column]
            }
            _ => false,
        }
    }

    fn position(&self, edge: usize) -> (usize, usize) {
        let inner = self.rows * self.columns;
        if edge < inner {
            (edge / self.columns, edge % self.columns)
        } else if edge < inner + self.rows {
            (edge - inner, self.columns)
        } else if edge < inner + self.rows + self.columns {
            (self.rows, edge - inner - self.rows)
        } else {
            (self.rows, self.columns)
        }
    }

    fn shown(&self, rows: &[(Option<OrgId>, Vec<u64>)], hidden: Vec<bool>) -> ShownTable {
        let show = |index: usize| if hidden[index] { Shown::Suppressed } else { Shown::Value(self.edges[index].value) };
        let inner = self.rows * self.columns;
        ShownTable {
            rows: rows
                .iter()
                .enumerate()
                .map(|(row, (org, _))| ShownRow {
                    org: org.clone(),
                    cells: (0..self.columns).map(|column| show(row * self.columns + column)).collect(),
                    total: show(inner + row),
                })
                .collect(),
            column_totals: (0..self.columns).map(|column| show(inner + self.rows + column)).collect(),
            grand_total: show(self.grand()),
            column_k: self.edges[..self.columns.min(self.edges.len())].iter().map(|edge| edge.k).collect(),
            column_groups: self.column_groups(),
            base_k: self.edges.get(self.grand()).map_or(0, |edge| edge.k),
        }
    }
}

/// Hides more values until the attack on every hidden one still reaches its
/// aim (see [`Requirements`]). For the first hidden value still too exposed,
/// the cheapest rectangle through it is hidden — its row and column in the
/// table extended by the margins (a total is one more row or column), as the
/// hypercube method does — choosing the rectangle that adds the least shown
/// value and that the attack confirms is enough. If no rectangle is, the
/// neighbour that widens the interval most is hidden and the search goes on;
/// with nothing left, all but the case counts is hidden, which is always enough.
fn complementary_suppression(table: &Table, hidden: &mut [bool]) {
    let mut required = Requirements::new(table);
    // Hiding more only removes constraints, so an interval only ever widens: a
    // value once found wide enough stays so, and is not attacked again.
    let mut wide_enough = vec![false; table.edges.len()];
    loop {
        let mut exposed = None;
        for index in 0..table.edges.len() {
            if !hidden[index] || wide_enough[index] {
                continue;
            }
            if too_narrow(table, hidden, index, required.aim(index)) {
                exposed = Some(index);
                break;
            }
            wide_enough[index] = true;
        }
        let Some(exposed) = exposed else { return };
        let aim = required.aim(exposed);
        if let Some(rectangle) = cheapest_sufficient_rectangle(table, hidden, exposed, aim) {
            for corner in rectangle {
                hidden[corner] = true;
            }
            continue;
        }
        let edge = table.edges[exposed];
        let candidates: Vec<usize> = (0..table.edges.len())
            .filter(|index| !hidden[*index] && !table.is_published(*index))
            .filter(|index| {
                let other = table.edges[*index];
                [other.from, other.to].iter().any(|node| *node == edge.from || *node == edge.to)
            })
            .collect();
        if candidates.is_empty() {
            for (index, flag) in hidden.iter_mut().enumerate() {
                *flag = !table.is_published(index);
            }
            return;
        }
        let best = candidates
            .into_iter()
            .map(|candidate| {
                hidden[candidate] = true;
                let (low, high) = interval_near(table, hidden, exposed);
                hidden[candidate] = false;
                (candidate, high.saturating_sub(low))
            })
            .max_by_key(|(candidate, width)| (*width, std::cmp::Reverse(table.edges[*candidate].value)));
        if let Some((candidate, _)) = best {
            hidden[candidate] = true;
        }
    }
}

/// How far below and above its value the attack must still reach for each
/// hidden value: its protection levels, ⌈k/2⌉ below (or down to 0) and the
/// rest of k above — levels rather than a width, because a reader holding
/// tables that add up to one another (a school year and its semesters)
/// intersects what each says, and levels survive that where widths do not.
/// Where the shown case counts alone confine a value more narrowly, the aim is
/// what they allow: its interval with everything else hidden. Found once per
/// value, when first needed.
struct Requirements<'table> {
    table: &'table Table,
    aims: Vec<Option<(u64, u64)>>,
    everything_hidden: Vec<bool>,
}

impl<'table> Requirements<'table> {
    fn new(table: &'table Table) -> Self {
        let everything_hidden = (0..table.edges.len()).map(|index| !table.is_published(index)).collect();
        Requirements { table, aims: vec![None; table.edges.len()], everything_hidden }
    }

    /// The lowest value the attack must still allow, and the highest.
    fn aim(&mut self, index: usize) -> (u64, u64) {
        if let Some(aim) = self.aims[index] {
            return aim;
        }
        let edge = self.table.edges[index];
        let below = edge.value.min(edge.k.div_ceil(2));
        let above = edge.k - below;
        let (mut low, mut high) = (edge.value - below, edge.value + above);
        // Mostly the levels are within reach with everything else hidden; only
        // where the case counts confine the value is its best interval searched
        // (clamped to k either side of the value, which both ends of the aim are).
        let reaches = |aim: (u64, u64)| reaches(self.table, &self.everything_hidden, index, aim);
        if !reaches((low, edge.value)) || !reaches((edge.value, high)) {
            let (best_low, best_high) = interval_near(self.table, &self.everything_hidden, index);
            (low, high) = (low.max(best_low), high.min(best_high));
        }
        let aim = (low, high);
        self.aims[index] = Some(aim);
        aim
    }
}

/// Whether the attack confines hidden edge `index` inside `aim`.
fn too_narrow(table: &Table, hidden: &[bool], index: usize, aim: (u64, u64)) -> bool {
    !reaches(table, hidden, index, aim)
}

/// Whether hidden edge `index` can still be as low as `aim.0` and as high as
/// `aim.1` in some circulation agreeing with everything shown: two feasibility
/// checks, since the values it can take form an interval.
fn reaches(table: &Table, hidden: &[bool], index: usize, aim: (u64, u64)) -> bool {
    feasible_with(table, hidden, index, Some(aim.0), 0) && feasible_with(table, hidden, index, None, aim.1)
}

/// The attack's interval for hidden edge `index`, clamped to k either side of
/// its true value: only that part decides whether it is wide enough, so each
/// end is searched over k values, not over every value the table could hold.
fn interval_near(table: &Table, hidden: &[bool], index: usize) -> (u64, u64) {
    let value = table.edges[index].value;
    let k = table.edges[index].k;
    // Lowest feasible value, clamped below at value - k.
    let (mut low, mut high) = (value.saturating_sub(k), value);
    if !feasible_with(table, hidden, index, Some(low), 0) {
        while low + 1 < high {
            let middle = low + (high - low) / 2;
            if feasible_with(table, hidden, index, Some(middle), 0) {
                high = middle;
            } else {
                low = middle;
            }
        }
        low = high;
    }
    // Highest feasible value, clamped above at value + k.
    let (mut floor, mut ceiling) = (value, value.saturating_add(k));
    if !feasible_with(table, hidden, index, None, ceiling) {
        while floor + 1 < ceiling {
            let middle = floor + (ceiling - floor) / 2;
            if feasible_with(table, hidden, index, None, middle) {
                floor = middle;
            } else {
                ceiling = middle;
            }
        }
        ceiling = floor;
    }
    (low, ceiling)
}

/// How many of the cheapest rectangles are tried before hiding neighbours one by one.
const RECTANGLES_TRIED: usize = 48;

/// The other three corners of the cheapest rectangle through `exposed` that,
/// once hidden, leaves it reaching `aim`; `None` if no rectangle does.
/// A rectangle through a case count (always shown) is no rectangle.
fn cheapest_sufficient_rectangle(
    table: &Table,
    hidden: &mut [bool],
    exposed: usize,
    aim: (u64, u64),
) -> Option<[usize; 3]> {
    let (row, column) = table.position(exposed);
    let mut rectangles: Vec<(u64, [usize; 3])> = Vec::new();
    for other_row in 0..=table.rows {
        for other_column in 0..=table.columns {
            if other_row == row || other_column == column || table.split_by_groups(column, other_column) {
                continue;
            }
            let corners = [table.at(row, other_column), table.at(other_row, column), table.at(other_row, other_column)];
            if corners.iter().any(|corner| table.is_published(*corner)) {
                continue;
            }
            // Moving t around the rectangle keeps every sum: each corner moves by ±t,
            // the sign flipping across the table's margins. The exposed value can rise
            // only if the corners that then fall hold something, and fall only if it and
            // the corners that then rise do; a rectangle allowing neither cannot widen
            // it (sparse tables are mostly such rectangles of zeros).
            let value = |edge: usize| table.edges[edge].value;
            let margin_sign = |index: usize, margin: usize| if index == margin { -1i8 } else { 1 };
            let sign = |at_row: usize, at_column: usize| {
                let row_sign = if at_row == row { 1 } else { -1 };
                let column_sign = if at_column == column { 1 } else { -1 };
                row_sign
                    * column_sign
                    * margin_sign(at_row, table.rows)
                    * margin_sign(at_column, table.columns)
                    * margin_sign(row, table.rows)
                    * margin_sign(column, table.columns)
            };
            let positions = [(row, other_column), (other_row, column), (other_row, other_column)];
            let mut rises = u64::MAX;
            let mut falls = value(exposed);
            for (corner, (at_row, at_column)) in corners.iter().zip(positions) {
                if sign(at_row, at_column) < 0 {
                    rises = rises.min(value(*corner));
                } else {
                    falls = falls.min(value(*corner));
                }
            }
            if rises == 0 && falls == 0 {
                continue;
            }
            let cost = corners.iter().filter(|corner| !hidden[**corner]).map(|corner| value(*corner)).sum();
            rectangles.push((cost, corners));
        }
    }
    rectangles.sort_by_key(|(cost, _)| *cost);
    // The cheapest few are where a sufficient one is; past them the search below
    // (one neighbour at a time) is cheaper than trying every rectangle.
    for (_, corners) in rectangles.into_iter().take(RECTANGLES_TRIED) {
        let newly: Vec<usize> = corners.iter().copied().filter(|corner| !hidden[*corner]).collect();
        if newly.is_empty() {
            continue;
        }
        newly.iter().for_each(|corner| hidden[*corner] = true);
        let enough = !too_narrow(table, hidden, exposed, aim);
        newly.iter().for_each(|corner| hidden[*corner] = false);
        if enough {
            return Some(corners);
        }
    }
    None
}

/// What an attacker can learn of hidden edge `target`: the smallest and the
/// largest flow it can carry in a non-negative circulation that agrees with
/// every shown value. `u64::MAX` as the upper end means unbounded.
fn interval(table: &Table, hidden: &[bool], target: usize) -> (u64, u64) {
    let true_value = table.edges[target].value;
    // Generous bound: past the sum of every value, flow is as good as unbounded.
    let bound = table.edges.iter().map(|edge| edge.value).sum::<u64>().saturating_mul(2).saturating_add(64);
    let feasible = |cap_on_target: Option<u64>, forced_on_target: u64| {
        feasible_with(table, hidden, target, cap_on_target, forced_on_target)
    };
    // Smallest: lowest cap on the target that still admits a circulation.
    let (mut low, mut high) = (0u64, true_value);
    while low < high {
        let middle = low + (high - low) / 2;
        if feasible(Some(middle), 0) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    let smallest = low;
    // Largest: highest amount that can be forced through the target.
    if feasible(None, bound) {
        return (smallest, u64::MAX);
    }
    let (mut low, mut high) = (true_value, bound);
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        if feasible(None, middle) {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    (smallest, low)
}

/// Is there a non-negative circulation agreeing with every shown value, in
/// which the target carries at least `forced` and at most `cap`?
fn feasible_with(table: &Table, hidden: &[bool], target: usize, cap: Option<u64>, forced: u64) -> bool {
    let nodes = table.nodes();
    // need[v] > 0: hidden edges must carry that much net flow out of v.
    let mut flow = table.scratch.borrow_mut();
    flow.reset(nodes + 2);
    let mut need = std::mem::take(&mut flow.need);
    need.extend(std::iter::repeat_n(0i128, nodes));
    for (index, edge) in table.edges.iter().enumerate() {
        let fixed = if hidden[index] {
            if index == target {
                forced
            } else {
                0
            }
        } else {
            edge.value
        };
        need[edge.to] += i128::from(fixed);
        need[edge.from] -= i128::from(fixed);
    }
    let source = nodes;
    let sink = nodes + 1;
    let mut required = 0i128;
    for (node, amount) in need.iter().enumerate() {
        if *amount > 0 {
            flow.add_edge(source, node, *amount);
            required += amount;
        } else if *amount < 0 {
            flow.add_edge(node, sink, -amount);
        }
    }
    flow.need = need;
    let unbounded = i128::from(u64::MAX);
    for (index, edge) in table.edges.iter().enumerate() {
        if !hidden[index] {
            continue;
        }
        let capacity = if index == target {
            match cap {
                Some(cap) => i128::from(cap.saturating_sub(forced)),
                None => unbounded,
            }
        } else {
            unbounded
        };
        flow.add_edge(edge.from, edge.to, capacity);
    }
    flow.run(source, sink) == required
}

/// Maximum flow on a small graph.
struct MaxFlow {
    adjacency: Vec<Vec<usize>>,
    to: Vec<usize>,
    capacity: Vec<i128>,
    level: Vec<usize>,
    next_edge: Vec<usize>,
    /// The caller's per-node balance, kept here only for its allocation.
    need: Vec<i128>,
}

impl MaxFlow {
    fn new(nodes: usize) -> Self {
        let mut flow = MaxFlow {
            adjacency: Vec::new(),
            to: Vec::new(),
            capacity: Vec::new(),
            level: Vec::new(),
            next_edge: Vec::new(),
            need: Vec::new(),
        };
        flow.reset(nodes);
        flow
    }

    /// Empties the graph to `nodes` nodes and no edges, keeping the buffers.
    fn reset(&mut self, nodes: usize) {
        self.adjacency.iter_mut().for_each(Vec::clear);
        self.adjacency.resize_with(nodes, Vec::new);
        self.to.clear();
        self.capacity.clear();
        self.need.clear();
    }

    fn add_edge(&mut self, from: usize, to: usize, capacity: i128) {
        self.adjacency[from].push(self.to.len());
        self.to.push(to);
        self.capacity.push(capacity);
        self.adjacency[to].push(self.to.len());
        self.to.push(from);
        self.capacity.push(0);
    }

    /// Dinic's algorithm: shortest augmenting paths found a level graph at a
    /// time, so a table of hundreds of units costs few breadth-first passes.
    fn run(&mut self, source: usize, sink: usize) -> i128 {
        let nodes = self.adjacency.len();
        let mut total = 0;
        let mut level = std::mem::take(&mut self.level);
        let mut next_edge = std::mem::take(&mut self.next_edge);
        level.resize(nodes, usize::MAX);
        next_edge.resize(nodes, 0);
        loop {
            level.iter_mut().for_each(|entry| *entry = usize::MAX);
            level[source] = 0;
            let mut queue = std::collections::VecDeque::from([source]);
            while let Some(node) = queue.pop_front() {
                for &edge in &self.adjacency[node] {
                    let next = self.to[edge];
                    if level[next] == usize::MAX && self.capacity[edge] > 0 {
                        level[next] = level[node] + 1;
                        queue.push_back(next);
                    }
                }
            }
            if level[sink] == usize::MAX {
                (self.level, self.next_edge) = (level, next_edge);
                return total;
            }
            next_edge.iter_mut().for_each(|entry| *entry = 0);
            loop {
                let pushed = self.push(source, sink, i128::MAX, &level, &mut next_edge);
                if pushed == 0 {
                    break;
                }
                total += pushed;
            }
        }
    }

    /// One augmenting path along the level graph, iteratively (a deep table
    /// must not exhaust the stack), returning the flow it carried.
    fn push(&mut self, source: usize, sink: usize, limit: i128, level: &[usize], next_edge: &mut [usize]) -> i128 {
        let mut path: Vec<usize> = Vec::new();
        let mut node = source;
        loop {
            if node == sink {
                let bottleneck = path.iter().map(|edge| self.capacity[*edge]).fold(limit, i128::min);
                for edge in &path {
                    self.capacity[*edge] -= bottleneck;
                    self.capacity[*edge ^ 1] += bottleneck;
                }
                return bottleneck;
            }
            let mut advanced = false;
            while next_edge[node] < self.adjacency[node].len() {
                let edge = self.adjacency[node][next_edge[node]];
                let next = self.to[edge];
                if self.capacity[edge] > 0 && level[next] == level[node] + 1 {
                    path.push(edge);
                    node = next;
                    advanced = true;
                    break;
                }
                next_edge[node] += 1;
            }
            if advanced {
                continue;
            }
            // A dead end: never try it again in this phase, and step back.
            match path.pop() {
                None => return 0,
                Some(edge) => {
                    node = self.to[edge ^ 1];
                    next_edge[node] += 1;
                }
            }
        }
    }
}

/// What the attack learns of one hidden value, and what it must not learn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exposure {
    /// Where the value is in the table extended by its margins: row `rows.len()`
    /// is the column totals, column `column_k.len()` the row totals.
    pub row: usize,
    pub column: usize,
    /// The interval the attack confines it to (`u64::MAX`: unbounded above).
    pub low: u64,
    pub high: u64,
    /// The interval it must still allow: its protection levels, or what the
    /// shown case counts allow at best.
    pub aim_low: u64,
    pub aim_high: u64,
}

impl Exposure {
    pub fn is_protected(&self) -> bool {
        self.low <= self.aim_low && self.high >= self.aim_high
    }
}

/// The attack, as a reader holding `shown` would run it: for every hidden
/// value, the interval it is confined to by everything shown, and the aim it
/// must keep. Used by tests and by anyone who wants to audit a published table.
pub fn attack(shown: &ShownTable, exact_rows: &[Vec<u64>]) -> Vec<Exposure> {
    let rows: Vec<(Option<OrgId>, Vec<u64>)> =
        shown.rows.iter().zip(exact_rows).map(|(row, values)| (row.org.clone(), values.clone())).collect();
    let table = Table::new(&rows, &shown.column_k, shown.base_k, &shown.column_groups);
    let mut hidden = Vec::with_capacity(table.edges.len());
    for row in &shown.rows {
        hidden.extend(row.cells.iter().map(|cell| *cell == Shown::Suppressed));
    }
    hidden.extend(shown.rows.iter().map(|row| row.total == Shown::Suppressed));
    hidden.extend(shown.column_totals.iter().map(|cell| *cell == Shown::Suppressed));
    hidden.push(shown.grand_total == Shown::Suppressed);
    hidden.resize(table.edges.len(), false);
    let mut required = Requirements::new(&table);
    (0..table.edges.len())
        .filter(|index| hidden[*index])
        .map(|index| {
            let (low, high) = interval(&table, &hidden, index);
            let (aim_low, aim_high) = required.aim(index);
            let (row, column) = table.position(index);
            Exposure { row, column, low, high, aim_low, aim_high }
        })
        .collect()
}

#[cfg(test)]
mod tests;
