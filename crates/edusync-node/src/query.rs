//! Tables for readers: this node's latest aggregate for a period cut by one
//! dimension of the fixed catalogue, by child unit or as a trend.

use std::collections::BTreeMap;
use std::sync::Arc;

use edusync_core::{Counts, Period, RecordId, RecordKind};
use edusync_rollup::query::{child_table, disclosed_tables, total_row, Dimension};
use edusync_rollup::ShownTable;

use crate::aggregator::aggregate_in;
use crate::engine::Node;
use crate::error::NodeError;

/// Per period: the ids of the aggregates the tables were cut from (this
/// node's, then each child's), and the seven tables.
pub(crate) type DisclosedCache = BTreeMap<Period, (Vec<RecordId>, Arc<Vec<ShownTable>>)>;

impl Node {
    /// The children's latest totals for `period` by `dimension`, with this
    /// node's own count as "unallocated": exact, or as a reader may see it.
    #[tracing::instrument(skip_all, fields(org = %self.org(), period = %period, dimension = dimension.name()))]
    pub fn query_by_child(
        &self,
        period: Period,
        dimension: Dimension,
        disclosed: bool,
    ) -> Result<ShownTable, NodeError> {
        let own = self.latest_aggregate(self.org(), period)?.ok_or_else(|| {
            NodeError::NotFound(format!(
                "{} has no aggregate for {period}: nothing has been counted for that period",
                self.org()
            ))
        })?;
        let mut children = Vec::new();
        let mut cut_from = vec![own.0];
        for child in self.children() {
            if let Some(stored) = self.store().latest(&child, RecordKind::Aggregate, period)? {
                cut_from.push(stored.id);
                children.push((child, aggregate_in(&stored)?.total));
            }
        }
        if !disclosed {
            return Ok(child_table(dimension, &own.1.own, &children, false));
        }
        let cached = self.disclosed_tables.lock().ok().and_then(|cache| {
            cache.get(&period).filter(|(ids, _)| *ids == cut_from).map(|(_, tables)| Arc::clone(tables))
        });
        let tables = match cached {
            Some(tables) => tables,
            None => {
                let tables = Arc::new(disclosed_tables(&own.1.own, &children));
                if let Ok(mut cache) = self.disclosed_tables.lock() {
                    cache.insert(period, (cut_from, Arc::clone(&tables)));
                }
                tables
            }
        };
        tables
            .get(dimension.index())
            .cloned()
            .ok_or_else(|| NodeError::NotFound(format!("no table by {} for {period}", dimension.name())))
    }

    /// This node's totals by `dimension` for each period it has one for.
    pub fn query_trend(
        &self,
        periods: &[Period],
        dimension: Dimension,
        disclosed: bool,
    ) -> Result<Vec<(Period, ShownTable)>, NodeError> {
        let mut out = Vec::new();
        for period in periods {
            if let Some((_, aggregate)) = self.latest_aggregate(self.org(), *period)? {
                let total: Counts = aggregate.total;
                out.push((*period, total_row(dimension, self.org(), &total, disclosed)));
            }
        }
        Ok(out)
    }
}
