//! Compliance of this node's children for a school year, from the aggregates
//! they signed and the deadlines in force for them.

use chrono::{DateTime, Utc};

use edusync_core::{OrgId, Period, PeriodSpan, Record, RecordKind, SchoolYear};
use edusync_envelope::EnvelopeView;
use edusync_proto::decode_record;
use edusync_rollup::compliance::{assess, Assessment, ChildHistory, Deadlines, Signed};
use edusync_store::ListFilter;

use crate::aggregator::aggregate_in;
use crate::engine::Node;
use crate::error::NodeError;

impl Node {
    /// Judges every child certified by this node for `school_year`, as of
    /// `now` in this node's time zone: reports and commitments against the
    /// deadlines in force (DOMAIN.md's defaults, overridden by the policies
    /// from above and this node's own, nearest office last), incident
    /// timeliness, and repeated incidents.
    #[tracing::instrument(skip_all, fields(org = %self.org(), school_year = %school_year))]
    pub fn compliance(&self, school_year: SchoolYear, now: DateTime<Utc>) -> Result<Assessment, NodeError> {
        let offset = self.utc_offset();
        let today = now.with_timezone(&offset).date_naive();
        let previous_semester2 = SchoolYear::new("school_year", u32::from(school_year.start_year()).saturating_sub(1))
            .ok()
            .map(|year| Period { school_year: year, span: PeriodSpan::Semester2 });
        let wanted = |period: Period| {
            period.school_year == school_year
                && matches!(
                    period.span,
                    PeriodSpan::SchoolYear | PeriodSpan::Semester1 | PeriodSpan::Semester2 | PeriodSpan::Month(9)
                )
        };
        // One pass over the aggregates below, and one over the certificates,
        // whatever the number of children: an office of 1,000 schools is
        // judged in one read of its store, not 1,000.
        let children_with_levels = self.children_with_levels();
        let mut histories: std::collections::HashMap<OrgId, (Vec<Signed>, Option<edusync_core::Aggregate>)> =
            children_with_levels.iter().map(|(child, _)| (child.clone(), (Vec::new(), None))).collect();
        let filter = ListFilter {
            kind: Some(RecordKind::Aggregate),
            org_prefix: Some(self.org().clone()),
            ..ListFilter::default()
        };
        self.store().for_each_listed(&filter, |stored| {
            let Some(period) = stored.meta.period else { return Ok(()) };
            let Some((revisions, previous)) = histories.get_mut(&stored.meta.author_org) else { return Ok(()) };
            if wanted(period) {
                let signed_on =
                    chrono::DateTime::from_timestamp_millis(EnvelopeView::parse(&stored.bytes)?.header.created_unix_ms)
                        .map(|at| at.with_timezone(&offset).date_naive())
                        .unwrap_or(today);
                revisions.push(Signed { signed_on, aggregate: aggregate_in(&stored)? });
            } else if Some(period) == previous_semester2 {
                *previous = Some(aggregate_in(&stored)?);
            }
            Ok::<(), NodeError>(())
        })?;
        let mut certified_from: std::collections::HashMap<OrgId, i64> = std::collections::HashMap::new();
        for certificate in self.trust().certificates().filter(|certificate| {
            certificate.issuer_org == *self.org()
                && !certificate.role.is_reader()
                && histories.contains_key(&certificate.subject_org)
        }) {
            let earliest = certified_from.entry(certificate.subject_org.clone()).or_insert(certificate.not_before_ms);
            *earliest = (*earliest).min(certificate.not_before_ms);
        }
        let mut children = Vec::new();
        for (child, level) in children_with_levels {
            let (revisions, previous) = histories.remove(&child).unwrap_or_default();
            let certified_from = certified_from
                .get(&child)
                .and_then(|ms| chrono::DateTime::from_timestamp_millis(*ms))
                .map(|at| at.with_timezone(&offset).date_naive());
            children.push(ChildHistory { org: child, level, certified_from, revisions, previous_semester2: previous });
        }
        let mut deadlines = Deadlines::defaults(school_year);
        let mut policies = self.policies_above(school_year)?;
        policies.extend(self.own_policies(school_year)?);
        for sourced in edusync_core::PolicyInForce::of(policies.iter()).deadlines {
            deadlines.set(sourced.rule.report, sourced.rule.level, sourced.rule.due_on);
        }
        Ok(assess(&children, &deadlines, school_year, today))
    }

    /// The assessment as a reader sees it: timeliness from the school year's
    /// release (`edusync_rollup::compliance::as_released`).
    pub fn compliance_for_reader(&self, school_year: SchoolYear, now: DateTime<Utc>) -> Result<Assessment, NodeError> {
        let assessment = self.compliance(school_year, now)?;
        let releases = match self.releases_for(Period::school_year(school_year), "school_year", now) {
            Ok(releases) => releases,
            // Nothing counted yet: there are no timeliness figures to show.
            Err(NodeError::NotFound(_)) => Vec::new(),
            Err(error) => return Err(error),
        };
        let tables: Vec<_> = releases.iter().map(|served| &served.tables).collect();
        Ok(edusync_rollup::compliance::as_released(assessment, &tables))
    }

    /// The policies this node itself issued for its units for `school_year`.
    fn own_policies(&self, school_year: SchoolYear) -> Result<Vec<edusync_core::Policy>, NodeError> {
        let org: &OrgId = self.org();
        let filter =
            ListFilter { kind: Some(RecordKind::Policy), org_prefix: Some(org.clone()), ..ListFilter::default() };
        let mut policies = Vec::new();
        self.store().for_each_listed(&filter, |stored| {
            if stored.meta.author_org != *org {
                return Ok(());
            }
            let view = EnvelopeView::parse(&stored.bytes)?;
            if let Record::Policy(policy) = decode_record(&view.header.payload_type, view.record)? {
                if policy.school_year == school_year {
                    policies.push(policy);
                }
            }
            Ok::<(), NodeError>(())
        })?;
        Ok(policies)
    }
}
