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
    #[tracing::instrument(skip_all, fields(org = %self.org(), period = %period))]
    pub fn audit_bundle(&self, period: Period) -> Result<edusync_audit::Bundle, NodeError> {
        let evidence = self.roll_up_evidence(period)?;
        let trust = self.trust();
        let mut signatures = Vec::new();
        for envelope in std::iter::once(&evidence.aggregate).chain(&evidence.children) {
            let header = EnvelopeView::parse(envelope)?.header;
            signatures.push((header.author_org, header.author_key, header.created_unix_ms));
        }
        let statements = trust.evidence(signatures);
        let anchor_org: OrgId = trust
            .anchors()
            .first()
            .map(|anchor| anchor.org.clone())
            .ok_or_else(|| NodeError::NotFound("this node's configuration names no trust anchor".into()))?;
        drop(trust);
        edusync_audit::build(&edusync_audit::Evidence {
            org: self.org(),
            period,
            anchor_org: &anchor_org,
            aggregate: &evidence.aggregate,
            children: &evidence.children,
            proofs: &evidence.proofs,
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
}
