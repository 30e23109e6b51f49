//! Tables for readers: this node's latest aggregate for a period cut by one
//! dimension of the fixed catalogue, by child unit or as a trend.

use std::collections::BTreeMap;
use std::sync::Arc;

use edusync_core::{Counts, OrgId, Period, PeriodSpan, RecordId, RecordKind, SchoolYear};
use edusync_rollup::query::{child_table, disclosed_school_year, margins_row, total_row, Dimension, PeriodCounts};
use edusync_rollup::ShownTable;
use edusync_store::StoredEnvelope;

use crate::aggregator::aggregate_in;
use crate::engine::Node;
use crate::error::NodeError;

/// Per school year: the ids of the aggregates the tables were cut from (for
/// the year and each semester: this node's, then each child's), and the
/// tables of the year and its semesters (see `disclosed_school_year`).
pub(crate) type DisclosedCache = BTreeMap<SchoolYear, (Vec<Vec<RecordId>>, Arc<[Vec<ShownTable>; 3]>)>;

/// The year and its semesters, in the order `disclosed_school_year` takes them.
const LINKED_SPANS: [PeriodSpan; 3] = [PeriodSpan::SchoolYear, PeriodSpan::Semester1, PeriodSpan::Semester2];

impl Node {
    /// The children's latest totals for `period` by `dimension`, with this
    /// node's own count as "unallocated": exact, or as a reader may see it.
    /// A reader sees a school year or a semester, disclosed together with the
    /// other two, which they add up to; a month only its office's operator.
    #[tracing::instrument(skip_all, fields(org = %self.org(), period = %period, dimension = dimension.name()))]
    pub fn query_by_child(
        &self,
        period: Period,
        dimension: Dimension,
        disclosed: bool,
    ) -> Result<ShownTable, NodeError> {
        if disclosed {
            return self.disclosed(period, "period", dimension);
        }
        let sources = self.period_sources(period)?;
        if sources.is_empty() {
            return Err(self.no_aggregate(period));
        }
        let counts = period_counts(&sources)?;
        Ok(child_table(dimension, &counts.own, &counts.children))
    }

    /// This node's totals by `dimension` for each period it has one for: exact,
    /// or for a reader the margins of that period's disclosed table.
    pub fn query_trend(
        &self,
        periods: &[Period],
        dimension: Dimension,
        disclosed: bool,
    ) -> Result<Vec<(Period, ShownTable)>, NodeError> {
        let mut out = Vec::new();
        for (index, period) in periods.iter().enumerate() {
            let Some((_, aggregate)) = self.latest_aggregate(self.org(), *period)? else { continue };
            let line = if disclosed {
                margins_row(&self.disclosed(*period, &format!("trend[{index}]"), dimension)?)
            } else {
                total_row(dimension, self.org(), &aggregate.total)
            };
            out.push((*period, line));
        }
        Ok(out)
    }

    fn no_aggregate(&self, period: Period) -> NodeError {
        NodeError::NotFound(format!(
            "{} has no aggregate for {period}: nothing has been counted for that period",
            self.org()
        ))
    }

    /// The aggregates a period's tables are cut from, as stored: this node's
    /// latest first, then each child's; none without one of this node's own.
    /// Read without decoding: their ids are all a cached cut needs.
    fn period_sources(&self, period: Period) -> Result<Vec<(OrgId, StoredEnvelope)>, NodeError> {
        let Some(own) = self.store().latest(self.org(), RecordKind::Aggregate, period)? else { return Ok(Vec::new()) };
        let mut sources = vec![(self.org().clone(), own)];
        for child in self.children() {
            if let Some(stored) = self.counted_envelope(&child, period)? {
                sources.push((child, stored));
            }
        }
        Ok(sources)
    }

    /// `period`'s table by `dimension` as a reader may see it, cut with the
    /// rest of its school year and kept while the aggregates they were cut
    /// from are the latest. `field` names the period in a refusal.
    fn disclosed(&self, period: Period, field: &str, dimension: Dimension) -> Result<ShownTable, NodeError> {
        if period.is_month() {
            return Err(NodeError::NotForReaders(format!(
                "{field}: {period} is a month; by month, units are shown only to the office's operator \
                 (months add up to semesters, and a reader holding both could subtract). Ask a semester or the school year"
            )));
        }
        let school_year = period.school_year;
        let in_year = |span| self.period_sources(Period { school_year, span });
        let sources = [in_year(LINKED_SPANS[0])?, in_year(LINKED_SPANS[1])?, in_year(LINKED_SPANS[2])?];
        let at = LINKED_SPANS.iter().position(|span| *span == period.span).unwrap_or(0);
        if sources[at].is_empty() {
            return Err(self.no_aggregate(period));
        }
        let cut_from: Vec<Vec<RecordId>> =
            sources.iter().map(|period| period.iter().map(|(_, stored)| stored.id).collect()).collect();
        let cached = self.disclosed_tables.lock().ok().and_then(|cache| {
            cache.get(&school_year).filter(|(ids, _)| *ids == cut_from).map(|(_, tables)| Arc::clone(tables))
        });
        let tables = match cached {
            Some(tables) => tables,
            None => {
                let counts = [period_counts(&sources[0])?, period_counts(&sources[1])?, period_counts(&sources[2])?];
                let tables = Arc::new(disclosed_school_year(&counts));
                if let Ok(mut cache) = self.disclosed_tables.lock() {
                    cache.insert(school_year, (cut_from, Arc::clone(&tables)));
                }
                tables
            }
        };
        tables[at]
            .get(dimension.index())
            .cloned()
            .ok_or_else(|| NodeError::NotFound(format!("no table by {} for {period}", dimension.name())))
    }
}

/// What a period's tables are cut from, decoded: the office's own count and
/// each child's total (zero and none for a period without sources).
fn period_counts(sources: &[(OrgId, StoredEnvelope)]) -> Result<PeriodCounts, NodeError> {
    let Some(((_, own), children)) = sources.split_first() else {
        return Ok(PeriodCounts { own: Counts::zero(), children: Vec::new() });
    };
    let children = children
        .iter()
        .map(|(child, stored)| Ok((child.clone(), aggregate_in(stored)?.total)))
        .collect::<Result<Vec<_>, NodeError>>()?;
    Ok(PeriodCounts { own: aggregate_in(own)?.own, children })
}
