//! Keeping this node's aggregates current: whenever its own counted records
//! or its children's aggregates change, derive the period again, roll up, and
//! sign a new revision if anything differs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use tokio::sync::watch;

use edusync_core::{
    Aggregate, Level, NoisyCross, OrgId, Period, PeriodSpan, Record, RecordId, RecordKind, ValidationContext,
    LAYOUT_VERSION,
};
use edusync_envelope::EnvelopeView;
use edusync_proto::decode_record;
use edusync_rollup::{
    add_noise, cross_hash, decide_release, derive_own, exact_cross, roll_up, sum_crosses, OwnRecord, ReleaseDecision,
};
use edusync_store::ListFilter;

use crate::{Node, NodeError};

/// A node's aggregate with what it summed and the proofs of each part.
#[derive(Clone, Debug)]
pub struct RollUpEvidence {
    pub aggregate: Vec<u8>,
    pub children: Vec<Vec<u8>>,
    pub proofs: Vec<edusync_rollup::InclusionProof>,
    /// For an earlier revision: this node's latest aggregate for the period.
    pub superseded_by: Option<Vec<u8>>,
}

/// Lets writes wake the aggregator, and lets callers ask whether it is done.
#[derive(Debug, Default)]
pub(crate) struct Aggregation {
    wake: tokio::sync::Notify,
    running: AtomicBool,
    /// The last derivation failed (a full disk, say): readers do not wait on it.
    failing: AtomicBool,
}

impl Aggregation {
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The aggregate periods a record counts in: its school year, both
/// semesters, and the month it is dated in (incidents by the local date they
/// occurred, commitments by the date they were signed).
pub(crate) fn periods_affected_by(record: &Record, utc_offset: FixedOffset) -> Vec<Period> {
    let month = match record {
        Record::Incident(incident) => {
            Period::month_containing(incident.occurred_at.with_timezone(&utc_offset).date_naive())
        }
        Record::Commitment(commitment) => Period::month_containing(commitment.signed_on),
        Record::PeriodicReport(_) | Record::RiskRegister(_) => None,
        _ => return Vec::new(),
    };
    let Some(period) = record.period(utc_offset) else { return Vec::new() };
    let year = period.school_year;
    let mut periods: Vec<Period> = [PeriodSpan::SchoolYear, PeriodSpan::Semester1, PeriodSpan::Semester2]
        .map(|span| Period { school_year: year, span })
        .to_vec();
    periods.extend(month);
    periods
}

/// The store cursor that records which layout this node's aggregates were last derived under.
const DERIVED_LAYOUT: &str = "derived-layout";

impl Node {
    /// On opening a store whose records were never derived under the current
    /// layout (records written before aggregates existed, or before a layout
    /// change), marks every period of the node's own school years dirty once.
    pub(crate) fn rederive_after_upgrade(&self) -> Result<(), NodeError> {
        if self.store().cursor(DERIVED_LAYOUT)? == Some(u64::from(LAYOUT_VERSION)) {
            return Ok(());
        }
        let mut years = std::collections::BTreeSet::new();
        let filter =
            ListFilter { kind: None, school_year_start: None, org_prefix: Some(self.org().clone()), written_too: true };
        self.store().for_each_listed(&filter, |stored| {
            if stored.meta.author_org == *self.org() && !stored.meta.kind.is_derived() {
                if let Some(period) = stored.meta.period {
                    years.insert(period.school_year);
                }
            }
            Ok::<(), NodeError>(())
        })?;
        let mut periods = Vec::new();
        for school_year in years {
            periods.extend(
                [PeriodSpan::SchoolYear, PeriodSpan::Semester1, PeriodSpan::Semester2]
                    .map(|span| Period { school_year, span }),
            );
            periods.extend((1..=12).map(|month| Period { school_year, span: PeriodSpan::Month(month) }));
        }
        self.store().mark_dirty(&periods)?;
        self.store().set_cursor(DERIVED_LAYOUT, u64::from(LAYOUT_VERSION))?;
        self.store().flush()?;
        Ok(())
    }

    /// True while some period still waits to be derived, or is being
    /// derived, or holds a changed cross waiting to be released.
    pub fn aggregation_pending(&self) -> Result<bool, NodeError> {
        Ok(self.aggregation.running.load(Ordering::SeqCst)
            || !self.store().dirty_periods()?.is_empty()
            || !self.store().pending_cross_periods()?.is_empty())
    }

    /// Waits, up to `limit`, until the periods marked for derivation have
    /// been derived, so that a total read right after a write here or a
    /// child's push counts it. Crosses waiting to be quiet are not waited
    /// for: they wait on purpose. False when the limit passed first.
    pub async fn derivations_settled(&self, limit: Duration) -> bool {
        const POLL: Duration = Duration::from_millis(20);
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.aggregation.failing.load(Ordering::SeqCst) {
                return false;
            }
            let running = self.aggregation.running.load(Ordering::SeqCst);
            // A store that cannot be read answers the read itself with the error.
            let dirty = self.store().dirty_periods().map(|periods| !periods.is_empty()).unwrap_or(false);
            if !running && !dirty {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Derives every period marked dirty, oldest first, clearing each once its
    /// new aggregate (if any) is durable.
    pub fn derive_dirty(&self, now: DateTime<Utc>) -> Result<(), NodeError> {
        self.aggregation.running.store(true, Ordering::SeqCst);
        let result = (|| {
            // A school year's records are read and decoded once for all its dirty periods.
            let mut by_year: std::collections::BTreeMap<edusync_core::SchoolYear, Vec<(Period, Vec<u8>)>> =
                std::collections::BTreeMap::new();
            for (period, mark) in self.store().dirty_marks()? {
                by_year.entry(period.school_year).or_default().push((period, mark));
            }
            for (school_year, periods) in by_year {
                let own_records = self.own_counted_records(school_year)?;
                for (period, mark) in periods {
                    self.derive_from(period, &own_records, now)?;
                    self.store().clear_dirty(period, &mark)?;
                }
            }
            self.store().flush()?;
            Ok(())
        })();
        self.aggregation.running.store(false, Ordering::SeqCst);
        result
    }

    /// Derives this node's aggregate for `period` from its own records and its
    /// children's latest aggregates; signs and stores a new revision when it
    /// differs from the latest one. Returns the new record's id.
    #[tracing::instrument(skip_all, fields(org = %self.org(), period = %period))]
    pub fn derive_aggregate(&self, period: Period, now: DateTime<Utc>) -> Result<Option<RecordId>, NodeError> {
        let own_records = self.own_counted_records(period.school_year)?;
        self.derive_from(period, &own_records, now)
    }

    /// `derive_aggregate`, given the node's own records of the period's school year.
    fn derive_from(
        &self,
        period: Period,
        own_records: &[(RecordId, u64, Record)],
        now: DateTime<Utc>,
    ) -> Result<Option<RecordId>, NodeError> {
        let owns: Vec<OwnRecord<'_>> =
            own_records.iter().map(|(id, seq, record)| OwnRecord { id: *id, seq: *seq, record }).collect();
        let is_school = self.organisation().level == Level::School;
        let own = derive_own(&owns, period, is_school, now, self.utc_offset()).map_err(overflow)?;

        if period.is_semester() {
            self.issue_severe_notices(&owns, period, now)?;
        }
        // Crosses are released per semester and school year only: monthly
        // releases would spend the year's budget for little use.
        let own_cross = if is_school && !owns.is_empty() && !period.is_month() {
            self.own_cross(&owns, period, now)?
        } else {
            None
        };
        let mut children = Vec::new();
        let mut children_crosses = Vec::new();
        for child in &self.children() {
            if let Some((stored, aggregate)) = self.counted_aggregate(child, period)? {
                children.push((child.clone(), stored.id, aggregate.total));
                children_crosses.push(aggregate.cross);
            }
        }
        let reader_releases = if period.is_semester() { self.signed_reader_ledger(period)? } else { None };
        let previous = self.latest_aggregate(self.org(), period)?.map(|(_, aggregate)| aggregate);
        if previous.is_none() && owns.is_empty() && children.is_empty() {
            return Ok(None);
        }
        let rolled = roll_up(&own, &children).map_err(overflow)?;
        let cross = sum_crosses(std::iter::once(own_cross.as_ref()).chain(children_crosses.iter().map(Option::as_ref)))
            .map_err(overflow)?;
        if let Some(previous) = &previous {
            if previous.own == own
                && previous.total == rolled.total
                && previous.children_root == rolled.root
                && previous.children == rolled.children
                && previous.cross == cross
                && previous.reader_releases == reader_releases
            {
                return Ok(None);
            }
        }
        let aggregate = Aggregate {
            org: self.org().clone(),
            period,
            revision: previous.map_or(1, |previous| previous.revision.saturating_add(1)),
            layout_version: LAYOUT_VERSION,
            own,
            total: rolled.total,
            children_root: rolled.root,
            children: rolled.children,
            cross,
            reader_releases,
        };
        let revision = aggregate.revision;
        let checked = Record::Aggregate(aggregate).check(&ValidationContext::without_clock())?;
        let written = self.write_checked(checked, now)?;
        let mut leaves: Vec<&(OrgId, RecordId, edusync_core::Counts)> = children.iter().collect();
        leaves.sort_by(|left, right| left.0.cmp(&right.0));
        self.note_summed(written.id, period, &leaves.iter().map(|(_, id, _)| *id).collect::<Vec<_>>())?;
        tracing::info!(record = %written.id, revision, children = rolled.children, "aggregate derived");
        Ok(Some(written.id))
    }

    /// This school's noisy demographic cross for a period, released through
    /// the privacy ledger: nothing before the period has ended (a release per
    /// new incident would spend the year's budget in weeks); the same answer
    /// while the data is unchanged; a new release, paid for, when it changed;
    /// and the last release, marked frozen, once the budget is spent.
    fn own_cross(
        &self,
        owns: &[OwnRecord<'_>],
        period: Period,
        now: DateTime<Utc>,
    ) -> Result<Option<NoisyCross>, NodeError> {
        let today = now.with_timezone(&self.utc_offset()).date_naive();
        let privacy = self.privacy_in_force(period.school_year)?;
        if !privacy.demographic_crosses || period.last_day() >= today {
            return Ok(None);
        }
        let exact = exact_cross(owns, period, self.utc_offset());
        let hash = cross_hash(&exact);
        let released = self.store().cross_release(period)?;
        if released.as_ref().is_some_and(|release| release.exact_hash == hash) {
            self.store().clear_cross_pending(period)?;
            return Ok(released.map(|release| NoisyCross { values: release.values, frozen: false }));
        }
        // Changed since the last release: wait until it has been quiet, so that
        // a burst of late or imported records pays for one release, not many.
        let quiet_ms = i64::try_from(self.privacy.cross_quiet.as_millis()).unwrap_or(i64::MAX);
        let since = match self.store().cross_pending(period)? {
            Some((pending, since)) if pending == hash => since,
            _ => {
                self.store().set_cross_pending(period, hash, now.timestamp_millis())?;
                now.timestamp_millis()
            }
        };
        if now.timestamp_millis().saturating_sub(since) < quiet_ms {
            return Ok(released.map(|release| NoisyCross { values: release.values, frozen: false }));
        }
        self.store().clear_cross_pending(period)?;
        let year = period.school_year.start_year();
        let spent = self.store().privacy_spent(year)?;
        let cost = privacy.epsilon_per_release_millionths;
        let cap = privacy.epsilon_per_school_year_millionths;
        Ok(match decide_release(released.as_ref().map(|release| release.exact_hash), hash, spent, cost, cap) {
            ReleaseDecision::Reuse => released.map(|release| NoisyCross { values: release.values, frozen: false }),
            ReleaseDecision::Release { spent_after } => {
                let values = add_noise(&exact, cost, &mut self.noise_rng(&format!("cross {period} {spent}")))?;
                self.store().record_cross_release(period, hash, &values, spent_after)?;
                tracing::info!(period = %period, spent_after, cap, "demographic cross released");
                Some(NoisyCross { values, frozen: false })
            }
            ReleaseDecision::Frozen => {
                tracing::warn!(period = %period, spent, cap, "privacy budget spent; demographic cross frozen at its last release");
                released.map(|release| NoisyCross { values: release.values, frozen: true })
            }
        })
    }

    /// Issues a notice for every severe case of the semester that has none yet.
    /// The pseudonym is drawn at random and kept locally with the case, so a
    /// retry after a crash writes the same notice, which the store keeps once.
    fn issue_severe_notices(
        &self,
        owns: &[OwnRecord<'_>],
        period: Period,
        now: DateTime<Utc>,
    ) -> Result<(), NodeError> {
        for case in edusync_rollup::incident_cases(owns) {
            let latest = case.latest();
            let occurred = case.first.occurred_at.with_timezone(&self.utc_offset()).date_naive();
            if latest.severity != edusync_core::Severity::Severe || !period.contains(occurred) {
                continue;
            }
            let case = case.id;
            let pseudonym = match self.store().notice_for_case(case)? {
                Some(pseudonym) => pseudonym,
                None => {
                    let pseudonym: [u8; 16] = rand::random();
                    self.store().set_notice_for_case(case, pseudonym)?;
                    pseudonym
                }
            };
            let subject = latest
                .people
                .iter()
                .find(|person| person.role == edusync_core::PersonRole::Victim)
                .or_else(|| latest.people.first());
            let week = chrono::Datelike::iso_week(&occurred);
            let notice = edusync_core::SevereNotice {
                school: self.org().clone(),
                pseudonym,
                category: latest.category,
                severity: latest.severity,
                iso_year: u16::try_from(week.year()).unwrap_or(0),
                iso_week: u8::try_from(week.week()).unwrap_or(0),
                grade_band: subject.map(|person| edusync_core::GradeBand::of_grade(person.grade)),
                students: edusync_core::StudentsBand::of_count(latest.people.len()),
            };
            let checked = Record::SevereNotice(notice).check(&ValidationContext::without_clock())?;
            let written = self.write_checked(checked, now)?;
            if !written.already_stored {
                tracing::info!(record = %written.id, "severe-incident notice sent to the supervising office");
            }
        }
        Ok(())
    }

    /// Everything needed to check this node's latest aggregate for a period:
    /// its envelope, the envelopes of the children's aggregates it summed (in
    /// leaf order), and an inclusion proof for each.
    pub fn roll_up_evidence(&self, period: Period) -> Result<RollUpEvidence, NodeError> {
        self.roll_up_evidence_at(period, None)
    }

    /// The same for one revision of this node's aggregate (`None`: the
    /// latest). An earlier revision's children are the aggregates each
    /// child had here when it was derived, found by when they were stored
    /// and checked against the root the revision signed.
    pub fn roll_up_evidence_at(&self, period: Period, revision: Option<u32>) -> Result<RollUpEvidence, NodeError> {
        let nothing = || {
            NodeError::NotFound(format!(
                "{} has no aggregate for {period}: nothing has been counted for that period",
                self.org()
            ))
        };
        let latest = self.store().latest(self.org(), RecordKind::Aggregate, period)?.ok_or_else(nothing)?;
        let latest_revision = aggregate_in(&latest)?.revision;
        let (own, superseded_by) = match revision {
            None => (latest, None),
            Some(revision) if revision == latest_revision => (latest, None),
            Some(revision) if revision > latest_revision => {
                return Err(NodeError::NotFound(format!(
                    "{} has signed {latest_revision} revision(s) for {period}; there is no revision {revision}",
                    self.org()
                )))
            }
            Some(revision) => {
                let own = self.own_revision(period, revision)?.ok_or_else(|| {
                    NodeError::NotFound(format!("{}'s revision {revision} for {period} is not held here", self.org()))
                })?;
                (own, Some(latest.bytes))
            }
        };
        let aggregate = aggregate_in(&own)?;
        let mut children = Vec::new();
        for child in &self.children() {
            let counted = match superseded_by {
                None => self.counted_aggregate(child, period)?,
                Some(_) => self.child_aggregate_as_of(child, period, own.meta.stored_unix_ms)?,
            };
            if let Some((stored, aggregate)) = counted {
                children.push((child.clone(), stored, aggregate.total));
            }
        }
        children.sort_by(|left, right| left.0.cmp(&right.0));
        let leaves: Vec<edusync_rollup::SumNode> =
            children.iter().map(|(_, stored, total)| edusync_rollup::leaf(stored.id, total)).collect();
        let root = edusync_rollup::tree_root(&leaves).map_err(overflow)?;
        if root.hash != aggregate.children_root {
            return Err(match superseded_by {
                None => NodeError::Retry(format!(
                    "a newer aggregate from a child of {} is being summed for {period}",
                    self.org()
                )),
                Some(_) => NodeError::NotFound(format!(
                    "the children {} summed in revision {} for {period} cannot be told from when they arrived; export the latest revision",
                    self.org(),
                    aggregate.revision
                )),
            });
        }
        let proofs = (0..leaves.len())
            .map(|index| edusync_rollup::prove_inclusion(&leaves, index))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| {
                NodeError::Invalid(edusync_core::ValidationError::new(
                    "proof",
                    edusync_core::Reason::malformed(error.to_string()),
                ))
            })?;
        Ok(RollUpEvidence {
            aggregate: own.bytes,
            children: children.into_iter().map(|(_, stored, _)| stored.bytes).collect(),
            proofs,
            superseded_by,
        })
    }

    /// This node's own aggregate of `period` at `revision`, if held.
    fn own_revision(&self, period: Period, revision: u32) -> Result<Option<edusync_store::StoredEnvelope>, NodeError> {
        let filter = ListFilter {
            kind: Some(RecordKind::Aggregate),
            school_year_start: Some(period.school_year.start_year()),
            org_prefix: Some(self.org().clone()),
            written_too: false,
        };
        let mut found = None;
        self.store().for_each_listed(&filter, |stored| {
            if found.is_none()
                && stored.meta.author_org == *self.org()
                && stored.meta.period == Some(period)
                && aggregate_in(&stored)?.revision == revision
            {
                found = Some(stored);
            }
            Ok::<(), NodeError>(())
        })?;
        Ok(found)
    }

    /// The newest aggregate of `child` for `period` stored here by `as_of_ms`:
    /// what a derivation at that moment summed.
    fn child_aggregate_as_of(
        &self,
        child: &OrgId,
        period: Period,
        as_of_ms: i64,
    ) -> Result<Option<(edusync_store::StoredEnvelope, Aggregate)>, NodeError> {
        let filter = ListFilter {
            kind: Some(RecordKind::Aggregate),
            school_year_start: Some(period.school_year.start_year()),
            org_prefix: Some(child.clone()),
            written_too: false,
        };
        let mut best: Option<(edusync_store::StoredEnvelope, Aggregate)> = None;
        self.store().for_each_listed(&filter, |stored| {
            if stored.meta.author_org != *child
                || stored.meta.period != Some(period)
                || stored.meta.stored_unix_ms > as_of_ms
            {
                return Ok(());
            }
            let aggregate = aggregate_in(&stored)?;
            if best.as_ref().is_none_or(|(_, kept)| kept.revision < aggregate.revision) {
                best = Some((stored, aggregate));
            }
            Ok::<(), NodeError>(())
        })?;
        Ok(best)
    }

    /// The aggregate of `child` for `period` that this node counts, decoded.
    pub(crate) fn counted_aggregate(
        &self,
        child: &OrgId,
        period: Period,
    ) -> Result<Option<(edusync_store::StoredEnvelope, Aggregate)>, NodeError> {
        let Some(stored) = self.counted_envelope(child, period)? else { return Ok(None) };
        let aggregate = aggregate_in(&stored)?;
        Ok(Some((stored, aggregate)))
    }

    /// The aggregate of `child` for `period` that this node counts: the
    /// newest revision signed by a key that stood when it signed. A
    /// revocation dated back before a revision takes it out of the sum, and
    /// the child's earlier revision (if any) counts again.
    pub(crate) fn counted_envelope(
        &self,
        child: &OrgId,
        period: Period,
    ) -> Result<Option<edusync_store::StoredEnvelope>, NodeError> {
        let Some(latest) = self.store().latest(child, RecordKind::Aggregate, period)? else { return Ok(None) };
        if self.signer_stood(&latest)? {
            return Ok(Some(latest));
        }
        let filter = ListFilter {
            kind: Some(RecordKind::Aggregate),
            school_year_start: Some(period.school_year.start_year()),
            org_prefix: Some(child.clone()),
            written_too: false,
        };
        let mut best: Option<(u32, edusync_store::StoredEnvelope)> = None;
        self.store().for_each_listed(&filter, |stored| {
            if stored.meta.author_org != *child || stored.meta.period != Some(period) || !self.signer_stood(&stored)? {
                return Ok(());
            }
            let revision = aggregate_in(&stored)?.revision;
            if best.as_ref().is_none_or(|(kept, _)| *kept < revision) {
                best = Some((revision, stored));
            }
            Ok::<(), NodeError>(())
        })?;
        tracing::warn!(
            org = %self.org(),
            child = %child,
            period = %period,
            counted = best.as_ref().map_or(0, |(revision, _)| *revision),
            "the child's latest aggregate was signed by a key revoked or retired by then; an earlier revision counts"
        );
        Ok(best.map(|(_, stored)| stored))
    }

    /// Whether the key that signed `stored` spoke for its author when it signed.
    fn signer_stood(&self, stored: &edusync_store::StoredEnvelope) -> Result<bool, NodeError> {
        let header = EnvelopeView::parse(&stored.bytes)?.header;
        let standing = self.trust().standing(&header.author_org, &header.author_key, header.created_unix_ms);
        Ok(standing.is_ok_and(|standing| matches!(standing.role, edusync_trust::Role::Node(_))))
    }

    /// Marks every period for which this node holds an aggregate of `org`
    /// to be derived again, and wakes the aggregator: a revocation may take
    /// some of them out of the sum.
    pub(crate) fn rederive_periods_of(&self, org: &OrgId) -> Result<(), NodeError> {
        let filter = ListFilter {
            kind: Some(RecordKind::Aggregate),
            school_year_start: None,
            org_prefix: Some(org.clone()),
            written_too: false,
        };
        let mut periods = std::collections::BTreeSet::new();
        self.store().for_each_listed(&filter, |stored| {
            if stored.meta.author_org == *org {
                periods.extend(stored.meta.period);
            }
            Ok::<(), NodeError>(())
        })?;
        if !periods.is_empty() {
            self.store().mark_dirty(&periods.into_iter().collect::<Vec<_>>())?;
            self.aggregation.wake();
        }
        Ok(())
    }

    /// The latest aggregate an author signed for a period, as stored here.
    pub fn latest_aggregate(&self, author: &OrgId, period: Period) -> Result<Option<(RecordId, Aggregate)>, NodeError> {
        let Some(stored) = self.store().latest(author, RecordKind::Aggregate, period)? else { return Ok(None) };
        Ok(Some((stored.id, aggregate_in(&stored)?)))
    }

    /// This node's own raw records of the school year of `period`, decoded,
    /// with their ids and log positions. Aggregates and other authors' records
    /// are left out.
    fn own_counted_records(
        &self,
        school_year: edusync_core::SchoolYear,
    ) -> Result<Vec<(RecordId, u64, Record)>, NodeError> {
        let filter = ListFilter {
            kind: None,
            school_year_start: Some(school_year.start_year()),
            org_prefix: Some(self.org().clone()),
            written_too: true,
        };
        let mut out = Vec::new();
        self.store().for_each_listed(&filter, |stored| {
            if stored.meta.author_org != *self.org() || stored.meta.kind == RecordKind::Aggregate {
                return Ok(());
            }
            let view = EnvelopeView::parse(&stored.bytes)?;
            let record = decode_record(&view.header.payload_type, view.record)?;
            out.push((stored.id, stored.meta.seq.0, record));
            Ok::<(), NodeError>(())
        })?;
        Ok(out)
    }
}

/// Decodes an aggregate this node stored (and so verified) earlier.
pub(crate) fn aggregate_in(stored: &edusync_store::StoredEnvelope) -> Result<Aggregate, NodeError> {
    let view = EnvelopeView::parse(&stored.bytes)?;
    match decode_record(&view.header.payload_type, view.record)? {
        Record::Aggregate(aggregate) => Ok(aggregate),
        _ => {
            Err(NodeError::NotFound(format!("record {} is not an aggregate; the store's index is damaged", stored.id)))
        }
    }
}

fn overflow(error: edusync_core::CountOverflow) -> NodeError {
    NodeError::Invalid(edusync_core::ValidationError::new("counts", edusync_core::Reason::malformed(error.to_string())))
}

/// Derives dirty periods whenever woken, after a short pause that lets a burst
/// of writes settle into one revision, and once at start for anything left
/// dirty by a crash.
pub(crate) async fn run(node: Arc<Node>, mut shutdown: watch::Receiver<bool>) {
    const SETTLE: Duration = Duration::from_millis(50);
    // After a failure (a full disk, say) the dirty periods are still marked;
    // try again on a timer, not only when the next write happens.
    const RETRY: Duration = Duration::from_secs(10);
    loop {
        let worker = Arc::clone(&node);
        let failed = match tokio::task::spawn_blocking(move || worker.derive_dirty(Utc::now())).await {
            Ok(Ok(())) => false,
            Ok(Err(error)) => {
                tracing::error!(org = %node.org(), error = %error, "deriving aggregates failed; retrying");
                true
            }
            Err(_) => return,
        };
        node.aggregation.failing.store(failed, Ordering::SeqCst);
        // Crosses waiting to be quiet are looked at again when their time may have come.
        let quiet = node.privacy.cross_quiet.max(Duration::from_millis(200));
        // Store calls wait on the blocking pool, never on an async worker.
        let reader = Arc::clone(&node);
        let waiting = match tokio::task::spawn_blocking(move || reader.store().pending_cross_periods()).await {
            Ok(Ok(periods)) => periods,
            Ok(Err(error)) => {
                tracing::error!(org = %node.org(), error = %error, "cannot read pending crosses");
                Vec::new()
            }
            Err(_) => return,
        };
        tokio::select! {
            _ = node.aggregation.wake.notified() => {}
            _ = tokio::time::sleep(RETRY), if failed => {}
            _ = tokio::time::sleep(quiet), if !waiting.is_empty() => {
                let marker = Arc::clone(&node);
                match tokio::task::spawn_blocking(move || marker.store().mark_dirty(&waiting)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::error!(org = %node.org(), error = %error, "cannot mark periods for derivation");
                    }
                    Err(_) => return,
                }
            }
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        tokio::time::sleep(SETTLE).await;
    }
}

/// Incident reports a school owes its office under the timeliness rules (by
/// phone within 3 h, in writing within 12 h of detection, unless a policy from
/// above sets other hours): serious and severe cases not yet reported upward.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IncidentDeadlines {
    pub phone_due: u64,
    pub phone_overdue: u64,
    pub written_due: u64,
    pub written_overdue: u64,
}

impl Node {
    pub fn incident_deadlines(&self, now: DateTime<Utc>) -> Result<IncidentDeadlines, NodeError> {
        let filter = ListFilter {
            kind: Some(RecordKind::Incident),
            org_prefix: Some(self.org().clone()),
            ..ListFilter::default()
        };
        let mut own_records = Vec::new();
        self.store().for_each_listed(&filter, |stored| {
            if stored.meta.author_org != *self.org() {
                return Ok(());
            }
            let view = edusync_envelope::EnvelopeView::parse(&stored.bytes)?;
            let record = edusync_proto::decode_record(&view.header.payload_type, view.record)?;
            own_records.push((stored.id, stored.meta.seq.0, record));
            Ok::<(), NodeError>(())
        })?;
        let owns: Vec<OwnRecord<'_>> =
            own_records.iter().map(|(id, seq, record)| OwnRecord { id: *id, seq: *seq, record }).collect();
        let today = now.with_timezone(&self.utc_offset()).date_naive();
        let timeliness = edusync_core::SchoolYear::containing(today)
            .map(|year| self.policy_in_force(year))
            .transpose()?
            .and_then(|in_force| in_force.incident_timeliness.map(|sourced| sourced.rule));
        let (phone_hours, written_hours) = timeliness
            .map_or((3, 12), |rule| (i64::from(rule.phone_within_hours), i64::from(rule.written_within_hours)));
        let mut deadlines = IncidentDeadlines::default();
        for case in edusync_rollup::incident_cases(&owns) {
            let latest = case.latest();
            if latest.reported_upward_at.is_some() || latest.severity == edusync_core::Severity::Minor {
                continue;
            }
            let detected = case.first.detected_at;
            if now < detected + chrono::Duration::hours(phone_hours) {
                deadlines.phone_due += 1;
            } else {
                deadlines.phone_overdue += 1;
            }
            if now < detected + chrono::Duration::hours(written_hours) {
                deadlines.written_due += 1;
            } else {
                deadlines.written_overdue += 1;
            }
        }
        Ok(deadlines)
    }
}
