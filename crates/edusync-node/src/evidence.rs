//! Roll-up evidence travelling upward: what an office needs to prove its
//! total down to every school without visiting the nodes below. Each node
//! records what its aggregates summed; a child sends its parent the
//! aggregates of the nodes below it (and what each summed), and the parent
//! keeps them and sends them on. Only school-year and semester aggregates
//! travel: months stay where they are derived.

use edusync_core::{OrgId, Period, Record, RecordId};
use edusync_envelope::{EnvelopeView, VerifiedEnvelope};
use edusync_proto::decode_record;

use crate::{Node, NodeError};

/// Items per push: aggregates are about a kilobyte each.
pub(crate) const EVIDENCE_BATCH: usize = 256;

/// One aggregate as evidence: its envelope and the children it summed.
#[derive(Clone, Debug)]
pub struct EvidenceItem {
    pub envelope: Vec<u8>,
    pub summed: Vec<RecordId>,
}

fn travels(period: Option<Period>) -> bool {
    period.is_some_and(|period| !period.is_month())
}

/// Whether an aggregate held here (verified when it arrived) summed any child.
fn sums_something(bytes: &[u8]) -> Result<bool, NodeError> {
    let view = EnvelopeView::parse(bytes)?;
    match decode_record(&view.header.payload_type, view.record)? {
        Record::Aggregate(aggregate) => Ok(aggregate.children > 0),
        _ => Ok(false),
    }
}

fn invalid(field: &str, reason: String) -> NodeError {
    NodeError::Invalid(edusync_core::ValidationError::new(field, edusync_core::Reason::malformed(reason)))
}

impl Node {
    /// Notes what this node's new aggregate summed, and queues it for the parent.
    pub(crate) fn note_summed(
        &self,
        aggregate: RecordId,
        period: Period,
        children: &[RecordId],
    ) -> Result<(), NodeError> {
        if travels(Some(period)) {
            self.store().set_summed(aggregate, children)?;
        }
        Ok(())
    }

    /// Queues a child's aggregate, just stored in its log, for the parent.
    pub(crate) fn queue_child_aggregate(&self, id: RecordId, period: Option<Period>) -> Result<(), NodeError> {
        if travels(period) {
            self.store().queue_evidence(id)?;
        }
        Ok(())
    }

    /// Up to `limit` queued items after `after`, made durable first (nothing
    /// leaves this node before it is on its disk): the position of the last
    /// and the items. An id whose envelope is not held is skipped.
    pub fn evidence_to_send(&self, after: u64, limit: usize) -> Result<(u64, Vec<EvidenceItem>), NodeError> {
        self.store().flush()?;
        let queued = self.store().evidence_queue(after, limit)?;
        let last = queued.last().map_or(after, |(seq, _)| *seq);
        let mut items = Vec::new();
        for (_, id) in queued {
            let envelope = match self.store().evidence(id)? {
                Some(bytes) => bytes,
                None => match self.store().get(id)? {
                    Some(stored) => stored.bytes,
                    None => continue,
                },
            };
            let summed = match self.store().summed(id)? {
                Some(summed) => summed,
                // A child's aggregate is stored (and queued) when its log
                // arrives, and what it summed only with the child's evidence,
                // which queues it again. Sent now with no list, the parent
                // would refuse the whole push for the missing names.
                None => match sums_something(&envelope) {
                    Ok(true) => {
                        tracing::debug!(org = %self.org(), record = %id, "evidence waits for what the aggregate summed");
                        continue;
                    }
                    Ok(false) => Vec::new(),
                    // Verified when it arrived, so this is damage; one item must not stop every round.
                    Err(error) => {
                        tracing::error!(org = %self.org(), record = %id, error = %error, "evidence not sent: it does not decode");
                        continue;
                    }
                },
            };
            items.push(EvidenceItem { envelope, summed });
        }
        Ok((last, items))
    }

    /// Takes in evidence from `child`: each envelope must verify, be an
    /// aggregate, and come from `child` or a node below it; a summed list must
    /// name as many records as the aggregate says it summed (else the whole
    /// push is refused). An aggregate whose signer had no standing as a node
    /// when it signed is left out. Durable before it returns. Returns how
    /// many items were new.
    pub fn accept_evidence(&self, child: &OrgId, items: Vec<EvidenceItem>) -> Result<usize, NodeError> {
        let mut checked = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let field = format!("items[{index}]");
            let envelope =
                VerifiedEnvelope::verify(item.envelope).map_err(|error| invalid(&field, error.to_string()))?;
            let header = envelope.header();
            if !header.author_org.is_within(child) {
                return Err(invalid(&field, format!("{} is not {child} or below it", header.author_org)));
            }
            let Record::Aggregate(aggregate) = decode_record(&header.payload_type, envelope.record_bytes())? else {
                return Err(invalid(&field, format!("it holds a {}, not an aggregate", header.payload_type)));
            };
            if !travels(Some(aggregate.period)) {
                return Err(invalid(
                    &field,
                    format!("{} is a month: months do not travel as evidence", aggregate.period),
                ));
            }
            if item.summed.len() != aggregate.children as usize {
                return Err(invalid(
                    &field,
                    format!("it names {} summed records; the aggregate sums {}", item.summed.len(), aggregate.children),
                ));
            }
            let author = header.author_org.clone();
            // Signed by a node of that org when it signed, as the statements
            // pushed before it say; anything else is kept out (and logged),
            // without failing the rest: a key revoked since stays revoked.
            let standing = self.trust().standing(&author, &header.author_key, header.created_unix_ms);
            if !standing.is_ok_and(|standing| matches!(standing.role, edusync_trust::Role::Node(_))) {
                tracing::warn!(org = %self.org(), child = %child, author = %author, record = %envelope.id(), "evidence not kept: its signer had no standing as a node when it signed");
                continue;
            }
            checked.push((envelope, author, item.summed));
        }
        let mut added = 0;
        for (envelope, author, summed) in checked {
            // The child's own aggregates are in its log here already.
            if author != *child && self.store().add_evidence(envelope.id(), envelope.bytes())? {
                added += 1;
            }
            if !summed.is_empty() {
                self.store().set_summed(envelope.id(), &summed)?;
            }
        }
        self.store().flush()?;
        Ok(added)
    }

    /// An aggregate held here, in a log or as evidence.
    pub(crate) fn aggregate_bytes(&self, id: RecordId) -> Result<Option<Vec<u8>>, NodeError> {
        if let Some(bytes) = self.store().evidence(id)? {
            return Ok(Some(bytes));
        }
        Ok(self.store().get(id)?.map(|stored| stored.bytes))
    }

    /// The org of an aggregate's envelope, read without verifying (it was
    /// verified when it arrived).
    pub(crate) fn author_of(bytes: &[u8]) -> Result<OrgId, NodeError> {
        Ok(EnvelopeView::parse(bytes)?.header.author_org)
    }
}
