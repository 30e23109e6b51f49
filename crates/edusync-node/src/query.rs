//! Tables: this node's latest aggregates for a period cut by one dimension
//! of the fixed catalogue, by child unit or as a trend; exact for the
//! office's operator, from the semester releases for readers.

use edusync_core::{Counts, OrgId, Period, PeriodSpan, RecordKind};
use edusync_rollup::query::{child_table, total_row, Dimension, PeriodCounts};
use edusync_rollup::released::{reader_table, ReaderTable};
use edusync_rollup::ShownTable;
use edusync_store::StoredEnvelope;

use crate::aggregator::aggregate_in;
use crate::engine::Node;
use crate::error::NodeError;
use crate::releases::ServedRelease;

impl Node {
    /// The children's latest totals for `period` by `dimension`, exact, with
    /// this node's own count as "unallocated": the office's operator's view.
    /// Readers see releases instead ([`Node::reader_query`]).
    #[tracing::instrument(skip_all, fields(org = %self.org(), period = %period, dimension = dimension.name()))]
    pub fn query_by_child(&self, period: Period, dimension: Dimension) -> Result<ShownTable, NodeError> {
        let sources = self.period_sources(period)?;
        if sources.is_empty() {
            return Err(self.no_aggregate(period));
        }
        let counts = period_counts(&sources)?;
        Ok(child_table(dimension, &counts.own, &counts.children))
    }

    /// This node's exact totals by `dimension` for each period it has one for.
    pub fn query_trend(
        &self,
        periods: &[Period],
        dimension: Dimension,
    ) -> Result<Vec<(Period, ShownTable)>, NodeError> {
        let mut out = Vec::new();
        for period in periods {
            let Some((_, aggregate)) = self.latest_aggregate(self.org(), *period)? else { continue };
            out.push((*period, total_row(dimension, self.org(), &aggregate.total)));
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
    pub(crate) fn period_sources(&self, period: Period) -> Result<Vec<(OrgId, StoredEnvelope)>, NodeError> {
        let Some(own) = self.store().latest(self.org(), RecordKind::Aggregate, period)? else { return Ok(Vec::new()) };
        let mut sources = vec![(self.org().clone(), own)];
        for child in self.children() {
            if let Some(stored) = self.counted_envelope(&child, period)? {
                sources.push((child, stored));
            }
        }
        Ok(sources)
    }

    /// The semester releases a reader's table of `period` is cut from: the
    /// semester's own, or both of a school year's. Months are not released:
    /// every fresh release is paid from a semester's budget. `field` names
    /// the period in a refusal.
    pub fn releases_for(
        &self,
        period: Period,
        field: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<ServedRelease>, NodeError> {
        if self.organisation().level == edusync_core::Level::School {
            return Err(NodeError::NotForReaders(format!(
                "{} is a school: its own breakdown is for its operator; readers see a school as a row of its \
                 district's tables, released there (a second release here would spend the same cases' privacy again)",
                self.org()
            )));
        }
        if period.is_month() {
            return Err(NodeError::NotForReaders(format!(
                "{field}: {period} is a month; readers see semesters and school years, each release paid from \
                 its semester's privacy budget (by month, only the office's operator). Ask a semester or the school year"
            )));
        }
        let school_year = period.school_year;
        let semesters = match period.span {
            PeriodSpan::SchoolYear => vec![PeriodSpan::Semester1, PeriodSpan::Semester2],
            span => vec![span],
        };
        let mut served = Vec::new();
        for span in semesters {
            if let Some(release) = self.semester_release(Period { school_year, span }, now)? {
                served.push(release);
            }
        }
        if served.is_empty() {
            return Err(self.no_aggregate(period));
        }
        Ok(served)
    }

    /// `period`'s table by `dimension` as a reader sees it, the trend of
    /// `trend`'s periods (each period's column totals; periods with nothing
    /// released are left out), and the releases all of it was cut from.
    pub fn reader_query(
        &self,
        period: Period,
        dimension: Dimension,
        trend: &[Period],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<ReaderAnswer, NodeError> {
        let mut releases = self.releases_for(period, "period", now)?;
        let table = reader_table(dimension, &releases.iter().map(|served| &served.tables).collect::<Vec<_>>());
        let mut lines = Vec::new();
        for (index, trend_period) in trend.iter().enumerate() {
            let served = match self.releases_for(*trend_period, &format!("trend[{index}]"), now) {
                Ok(served) => served,
                Err(NodeError::NotFound(_) | NodeError::BudgetSpent(_)) => continue,
                Err(error) => return Err(error),
            };
            lines.push((
                *trend_period,
                reader_table(dimension, &served.iter().map(|served| &served.tables).collect::<Vec<_>>()),
            ));
            for release in served {
                if !releases.iter().any(|known| known.semester == release.semester) {
                    releases.push(release);
                }
            }
        }
        releases.sort_by_key(|served| served.semester);
        Ok(ReaderAnswer { table, trend: lines, releases })
    }
}

/// What a reader is answered: a table, its trend, and the releases behind them.
#[derive(Clone, Debug)]
pub struct ReaderAnswer {
    pub table: ReaderTable,
    pub trend: Vec<(Period, ReaderTable)>,
    pub releases: Vec<ServedRelease>,
}

/// What a period's tables are cut from, decoded: the office's own count and
/// each child's total (zero and none for a period without sources).
pub(crate) fn period_counts(sources: &[(OrgId, StoredEnvelope)]) -> Result<PeriodCounts, NodeError> {
    let Some(((_, own), children)) = sources.split_first() else {
        return Ok(PeriodCounts { own: Counts::zero(), children: Vec::new() });
    };
    let children = children
        .iter()
        .map(|(child, stored)| Ok((child.clone(), aggregate_in(stored)?.total)))
        .collect::<Result<Vec<_>, NodeError>>()?;
    Ok(PeriodCounts { own: aggregate_in(own)?.own, children })
}
