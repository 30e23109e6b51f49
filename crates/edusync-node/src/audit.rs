//! The audit bundle of this node's latest aggregate: the roll-up evidence
//! plus the statements that say who could sign each aggregate in it.

use edusync_core::{OrgId, Period, Record, RecordId};
use edusync_envelope::EnvelopeView;
use edusync_proto::decode_record;
use sha2::{Digest, Sha256};

use crate::engine::Node;
use crate::error::NodeError;

impl Node {
    /// Everything an auditor needs to check this node's latest aggregate for
    /// `period` offline, given the root keys: the aggregate, the children's it
    /// summed with an inclusion proof each, and the statements that judge each
    /// signer (its certificate chain when it signed, and the rotations and
    /// revocations of the keys in that chain, with what checks them).
    pub fn audit_bundle(&self, period: Period) -> Result<edusync_audit::Bundle, NodeError> {
        self.audit_bundle_at(period, None)
    }

    /// The bundle of one revision of this node's aggregate (`None`: the
    /// latest); an earlier one carries the latest, signed, as what supersedes it.
    #[tracing::instrument(skip_all, fields(org = %self.org(), period = %period, revision))]
    pub fn audit_bundle_at(&self, period: Period, revision: Option<u32>) -> Result<edusync_audit::Bundle, NodeError> {
        self.audit_bundle_with(period, revision, false)
    }

    /// The bundle of one revision, and with `tree` every level below it
    /// down to the schools, from the roll-up evidence the children sent up.
    #[tracing::instrument(skip_all, fields(org = %self.org(), period = %period, revision, tree))]
    pub fn audit_bundle_with(
        &self,
        period: Period,
        revision: Option<u32>,
        tree: bool,
    ) -> Result<edusync_audit::Bundle, NodeError> {
        let evidence = self.roll_up_evidence_at(period, revision)?;
        let below = if tree { self.levels_below(&evidence.children, period)? } else { Vec::new() };
        let trust = self.trust();
        let mut signatures = Vec::new();
        let below_envelopes = below.iter().flat_map(|level| &level.children);
        for envelope in std::iter::once(&evidence.aggregate)
            .chain(&evidence.children)
            .chain(&evidence.superseded_by)
            .chain(below_envelopes)
        {
            let header = EnvelopeView::parse(envelope)?.header;
            signatures.push((header.author_org, header.author_key, header.created_unix_ms));
        }
        let (from_ms, until_ms) = edusync_audit::period_window(period);
        for level in &below {
            for (child, _) in &level.missing {
                if let Some((key, at_ms)) = trust.owed_children(&level.org, from_ms, until_ms).get(child) {
                    signatures.push((child.clone(), *key, *at_ms));
                }
            }
        }
        // Children owed for the period that sent nothing for it are named,
        // with the certificates that make them owed.
        let mut missing = Vec::new();
        for (child, (key, at_ms)) in trust.owed_children(self.org(), from_ms, until_ms) {
            if signatures.iter().any(|(org, _, _)| *org == child) {
                continue;
            }
            signatures.push((child.clone(), key, at_ms));
            missing.push((child, None));
        }
        let statements = trust.evidence(signatures);
        let anchor_org: OrgId = trust
            .anchors()
            .first()
            .map(|anchor| anchor.org.clone())
            .ok_or_else(|| NodeError::NotFound("this node's configuration names no trust anchor".into()))?;
        drop(trust);
        for (child, last_heard) in &mut missing {
            *last_heard = self.last_heard_from(child)?;
        }
        edusync_audit::build(&edusync_audit::Evidence {
            org: self.org(),
            period,
            anchor_org: &anchor_org,
            aggregate: &evidence.aggregate,
            children: &evidence.children,
            proofs: &evidence.proofs,
            missing: &missing,
            superseded_by: evidence.superseded_by.as_deref(),
            below: &below,
            statements: &statements,
        })
        // The evidence came from this node's own store, already verified when
        // it arrived: failing to read it back means the store is damaged.
        .map_err(|error| {
            NodeError::Store(edusync_store::StoreError::Corrupt {
                key: format!("audit evidence for {period} ({error})"),
            })
        })
    }

    /// Every level below `children`, breadth first: for each aggregate that
    /// summed children, those children (from the logs here or the evidence
    /// sent up) with proofs against its root, and the units it was owed by
    /// that sent nothing. Refused while some of it has not arrived yet.
    fn levels_below(
        &self,
        children: &[Vec<u8>],
        period: Period,
    ) -> Result<Vec<edusync_audit::BelowEvidence>, NodeError> {
        let (from_ms, until_ms) = edusync_audit::period_window(period);
        let mut pending: Vec<Vec<u8>> = children.to_vec();
        let mut levels = Vec::new();
        while let Some(bytes) = pending.pop() {
            let envelope = EnvelopeView::parse(&bytes)?;
            let Record::Aggregate(aggregate) = decode_record(&envelope.header.payload_type, envelope.record)? else {
                continue;
            };
            if aggregate.children == 0 {
                continue;
            }
            let id = RecordId(Sha256::digest(&bytes).into());
            let not_yet = |what: String| {
                NodeError::NotFound(format!(
                    "the tree below {} is not complete here yet: {what}; its sync brings it, or export without --tree",
                    aggregate.org
                ))
            };
            let summed = self
                .store()
                .summed(id)?
                .ok_or_else(|| not_yet(format!("what its aggregate {} summed has not arrived", id.to_hex())))?;
            let mut below = Vec::new();
            for child in &summed {
                let bytes = self
                    .aggregate_bytes(*child)?
                    .ok_or_else(|| not_yet(format!("the aggregate {} it summed has not arrived", child.to_hex())))?;
                let view = EnvelopeView::parse(&bytes)?;
                let Record::Aggregate(child_aggregate) = decode_record(&view.header.payload_type, view.record)? else {
                    return Err(not_yet(format!("record {} is not an aggregate", child.to_hex())));
                };
                below.push((*child, child_aggregate.total, bytes));
            }
            let leaves: Vec<edusync_rollup::SumNode> =
                below.iter().map(|(child, total, _)| edusync_rollup::leaf(*child, total)).collect();
            let root =
                edusync_rollup::tree_root(&leaves).map_err(|_| not_yet("its children's counts overflow".to_owned()))?;
            if root.hash != aggregate.children_root {
                return Err(not_yet(format!("the records listed as what {} summed do not make its root", id.to_hex())));
            }
            let proofs = (0..leaves.len())
                .map(|index| edusync_rollup::prove_inclusion(&leaves, index))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| not_yet(error.to_string()))?;
            let summed_orgs: Vec<OrgId> =
                below.iter().filter_map(|(_, _, bytes)| Node::author_of(bytes).ok()).collect();
            let missing = self
                .trust()
                .owed_children(&aggregate.org, from_ms, until_ms)
                .into_keys()
                .filter(|org| !summed_orgs.contains(org))
                .map(|org| (org, None))
                .collect();
            let envelopes: Vec<Vec<u8>> = below.into_iter().map(|(_, _, bytes)| bytes).collect();
            pending.extend(envelopes.iter().cloned());
            levels.push(edusync_audit::BelowEvidence {
                org: aggregate.org.clone(),
                record_id: id,
                children: envelopes,
                proofs,
                missing,
            });
        }
        Ok(levels)
    }

    /// When the newest record this node holds from `child` was signed.
    fn last_heard_from(&self, child: &OrgId) -> Result<Option<i64>, NodeError> {
        let Some((_, id)) = self.store().head(child, edusync_core::LogStream::Shared)? else { return Ok(None) };
        let Some(stored) = self.store().get(id)? else { return Ok(None) };
        Ok(Some(EnvelopeView::parse(&stored.bytes)?.header.created_unix_ms))
    }
}
