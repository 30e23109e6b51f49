//! The audit bundle of this node's latest aggregate: the roll-up evidence
//! plus the statements that say who could sign each aggregate in it.

use edusync_core::{OrgId, Period};
use edusync_envelope::EnvelopeView;

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
        let evidence = self.roll_up_evidence_at(period, revision)?;
        let trust = self.trust();
        let mut signatures = Vec::new();
        for envelope in std::iter::once(&evidence.aggregate).chain(&evidence.children).chain(&evidence.superseded_by) {
            let header = EnvelopeView::parse(envelope)?.header;
            signatures.push((header.author_org, header.author_key, header.created_unix_ms));
        }
        // Children owed for the period that sent nothing for it are named,
        // with the certificates that make them owed.
        let (from_ms, until_ms) = edusync_audit::period_window(period);
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

    /// When the newest record this node holds from `child` was signed.
    fn last_heard_from(&self, child: &OrgId) -> Result<Option<i64>, NodeError> {
        let Some((_, id)) = self.store().head(child, edusync_core::LogStream::Shared)? else { return Ok(None) };
        let Some(stored) = self.store().get(id)? else { return Ok(None) };
        Ok(Some(EnvelopeView::parse(&stored.bytes)?.header.created_unix_ms))
    }
}
