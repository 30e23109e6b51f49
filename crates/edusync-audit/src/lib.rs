//! Audit bundles: one node's signed aggregate for one period, the signed
//! aggregates of the children it summed, an inclusion proof for each, and the
//! trust statements (certificate chains, rotations, revocations) that say who
//! could sign them — in one JSON file with base64 fields, which an auditor
//! verifies offline against the root keys alone (`verify`).
//!
//! The signed bytes travel as they were signed; every readable figure in the
//! file is a copy, and verification checks each copy against the signed value,
//! so changing any number or byte fails a named check of a named record.
//!
//! This crate is pure: it neither reads files nor talks to nodes, and it never
//! holds anything but counts, hashes, keys and org ids. It is not where roll-up
//! or trust rules live (`edusync-rollup`, `edusync-trust`); it applies them.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use edusync_core::{Aggregate, Cell, Counts, OrgId, Period, Record, RecordId, ValidationContext};
use edusync_envelope::VerifiedEnvelope;
use edusync_rollup::{leaf, verify_inclusion, verify_roll_up, InclusionProof, SumNode};
use edusync_trust::{Anchor, TrustSet, VerifiedStatement};

/// The `format` field of every bundle this crate writes and reads.
pub const FORMAT: &str = "edusync.audit.v2";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: String,
    pub org_id: String,
    /// `2024-2025`, `2024-2025/S1` or `2024-2025/M10`.
    pub period: String,
    /// The org whose root keys the chains lead to (the auditor brings the keys).
    pub anchor_org: String,
    pub aggregate: SignedAggregate,
    /// In leaf order (by org id), as summed.
    pub children: Vec<SummedChild>,
    /// Every child the node certified for some time in the period (a key not
    /// revoked by its start) that has no aggregate here, by org id: a total
    /// that leaves a unit out says so.
    pub missing: Vec<MissingChild>,
    /// For an earlier revision: the node's latest aggregate for the period,
    /// signed, which replaces this one as the current total.
    pub superseded_by: Option<SignedAggregate>,
    /// A tree bundle (`audit export --tree`): for every aggregate in the
    /// bundle that summed children, those children with their proofs, down
    /// to the schools. Empty in a bundle of one level.
    #[serde(default)]
    pub below: Vec<Below>,
    /// Trust statements ("EST1" bytes, base64), each once: every signer's
    /// certificate chain, root first; then the rotations that retired a key
    /// of those chains (with the chain of the key rotated to); then the
    /// revocations of those keys (with the chains of their issuers).
    pub statements: Vec<String>,
}

/// The children one aggregate of the bundle summed, one level down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Below {
    /// The aggregate whose children these are: its org and record id (hex).
    pub org_id: String,
    pub record_id: String,
    /// In leaf order, each with its proof against that aggregate's root.
    pub children: Vec<SummedChild>,
    /// Children certified for the period that sent that node nothing.
    pub missing: Vec<MissingChild>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissingChild {
    pub org_id: String,
    /// When the newest record the node holds from this child was signed, if any.
    pub last_heard_unix_ms: Option<i64>,
}

/// A signed aggregate and readable copies of what it says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedAggregate {
    pub org_id: String,
    /// SHA-256 of the envelope bytes, hex.
    pub record_id: String,
    /// The envelope exactly as signed, base64 (layout: ARCHITECTURE.md, "The signed envelope").
    pub envelope: String,
    /// The signer's raw Ed25519 key, base64 (the same bytes as the envelope's `author_key`).
    pub signer_key: String,
    pub signed_unix_ms: i64,
    pub revision: u32,
    pub incident_cases: u64,
    pub contributing_schools: u64,
    /// Every non-zero cell of the total (own plus children), by cell name.
    pub total: BTreeMap<String, u64>,
    /// Every non-zero cell of the org's own count.
    pub own: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummedChild {
    pub aggregate: SignedAggregate,
    pub inclusion_proof: Proof,
}

/// An inclusion proof in the parent's Merkle sum tree (RFC 6962 shape).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    pub index: u64,
    pub size: u64,
    pub path: Vec<ProofNode>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofNode {
    /// Hex.
    pub hash: String,
    /// Non-zero cells of the sum below this node, by cell name.
    pub sum: BTreeMap<String, u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the bundle is not readable: {0}")]
    Unreadable(String),
    #[error("cannot build the bundle: {0}")]
    Build(String),
}

/// Counts as a map of non-zero cells by name: what a person reads.
pub fn named_cells(counts: &Counts) -> BTreeMap<String, u64> {
    Cell::all()
        .into_iter()
        .filter_map(|cell| {
            let value = counts.get(cell);
            (value != 0).then(|| (cell.name(), value))
        })
        .collect()
}

/// Named cells back into counts; an unknown cell name is an error naming it.
fn counts_of(cells: &BTreeMap<String, u64>) -> Result<Counts, String> {
    let mut counts = Counts::zero();
    let by_name: BTreeMap<String, Cell> = Cell::all().into_iter().map(|cell| (cell.name(), cell)).collect();
    for (name, value) in cells {
        let cell = by_name.get(name).ok_or_else(|| format!("`{name}` is not a cell of layout 1"))?;
        if *value == 0 {
            return Err(format!("`{name}` is listed as 0; only non-zero cells are listed"));
        }
        counts.add_to(*cell, *value).map_err(|_| format!("`{name}` overflows"))?;
    }
    Ok(counts)
}

fn open(envelope: &[u8]) -> Result<(VerifiedEnvelope, Aggregate), String> {
    let verified = VerifiedEnvelope::verify(envelope.to_vec()).map_err(|error| error.to_string())?;
    match edusync_proto::decode_record(&verified.header().payload_type, verified.record_bytes()) {
        Ok(Record::Aggregate(aggregate)) => Ok((verified, aggregate)),
        Ok(other) => Err(format!("it holds a {}, not an aggregate", other.kind())),
        Err(error) => Err(error.to_string()),
    }
}

fn describe(envelope: &[u8]) -> Result<SignedAggregate, AuditError> {
    let (verified, aggregate) = open(envelope).map_err(AuditError::Build)?;
    Ok(SignedAggregate {
        org_id: aggregate.org.to_string(),
        record_id: verified.id().to_hex(),
        envelope: BASE64.encode(verified.bytes()),
        signer_key: verified.header().author_key.to_base64(),
        signed_unix_ms: verified.header().created_unix_ms,
        revision: aggregate.revision,
        incident_cases: aggregate.total.incident_cases(),
        contributing_schools: aggregate.total.get(Cell::ContributingSchools),
        total: named_cells(&aggregate.total),
        own: named_cells(&aggregate.own),
    })
}

fn proof_to_file(proof: &InclusionProof) -> Proof {
    Proof {
        index: proof.index,
        size: proof.size,
        path: proof
            .path
            .iter()
            .map(|node| ProofNode { hash: hex::encode(node.hash), sum: named_cells(&node.sum) })
            .collect(),
    }
}

fn proof_from_file(proof: &Proof) -> Result<InclusionProof, String> {
    let path = proof
        .path
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let hash: [u8; 32] = hex::decode(&node.hash)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .filter(|hash: &[u8; 32]| hex::encode(hash) == node.hash)
                .ok_or_else(|| format!("path[{index}].hash is not 64 lowercase hex digits"))?;
            let sum = counts_of(&node.sum).map_err(|reason| format!("path[{index}].sum: {reason}"))?;
            Ok(SumNode { hash, sum })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(InclusionProof { index: proof.index, size: proof.size, path })
}

/// What a node puts in a bundle: its aggregate's envelope, the children's
/// (in leaf order) with a proof each, and the statements that certify them.
pub struct Evidence<'a> {
    pub org: &'a OrgId,
    pub period: Period,
    pub anchor_org: &'a OrgId,
    pub aggregate: &'a [u8],
    pub children: &'a [Vec<u8>],
    pub proofs: &'a [InclusionProof],
    /// Children owed for the period with no aggregate, and when each was last heard from.
    pub missing: &'a [(OrgId, Option<i64>)],
    /// For an earlier revision: the envelope of the node's latest aggregate.
    pub superseded_by: Option<&'a [u8]>,
    /// For a tree bundle: each level below, by the aggregate that summed it.
    pub below: &'a [BelowEvidence],
    pub statements: &'a [Vec<u8>],
}

/// One level below, as a node gathers it for a tree bundle.
#[derive(Clone, Debug)]
pub struct BelowEvidence {
    pub org: OrgId,
    pub record_id: RecordId,
    /// Envelopes in leaf order, with a proof each.
    pub children: Vec<Vec<u8>>,
    pub proofs: Vec<InclusionProof>,
    pub missing: Vec<(OrgId, Option<i64>)>,
}

pub fn build(evidence: &Evidence<'_>) -> Result<Bundle, AuditError> {
    if evidence.children.len() != evidence.proofs.len() {
        return Err(AuditError::Build(format!(
            "{} children but {} proofs",
            evidence.children.len(),
            evidence.proofs.len()
        )));
    }
    let children = evidence
        .children
        .iter()
        .zip(evidence.proofs)
        .map(|(envelope, proof)| {
            Ok(SummedChild { aggregate: describe(envelope)?, inclusion_proof: proof_to_file(proof) })
        })
        .collect::<Result<Vec<_>, AuditError>>()?;
    Ok(Bundle {
        format: FORMAT.to_owned(),
        org_id: evidence.org.to_string(),
        period: evidence.period.to_string(),
        anchor_org: evidence.anchor_org.to_string(),
        aggregate: describe(evidence.aggregate)?,
        children,
        missing: evidence
            .missing
            .iter()
            .map(|(org, last_heard)| MissingChild { org_id: org.to_string(), last_heard_unix_ms: *last_heard })
            .collect(),
        superseded_by: evidence.superseded_by.map(describe).transpose()?,
        below: evidence
            .below
            .iter()
            .map(|level| {
                Ok(Below {
                    org_id: level.org.to_string(),
                    record_id: level.record_id.to_hex(),
                    children: level
                        .children
                        .iter()
                        .zip(&level.proofs)
                        .map(|(envelope, proof)| {
                            Ok(SummedChild { aggregate: describe(envelope)?, inclusion_proof: proof_to_file(proof) })
                        })
                        .collect::<Result<Vec<_>, AuditError>>()?,
                    missing: level
                        .missing
                        .iter()
                        .map(|(org, last_heard)| MissingChild {
                            org_id: org.to_string(),
                            last_heard_unix_ms: *last_heard,
                        })
                        .collect(),
                })
            })
            .collect::<Result<Vec<_>, AuditError>>()?,
        statements: evidence.statements.iter().map(|bytes| BASE64.encode(bytes)).collect(),
    })
}

/// One check of one thing in the bundle, passed or not, with what was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked: `aggregate VN.BT.D03 (record 1a2b3c4d5e6f)`, `aggregate VN.BT.D03 2024-2025`,
    /// `statement 3`, `bundle 1 → VN.BT.D03.S017 (record …)`.
    pub subject: String,
    /// Which check: `signature`, `record id`, `signer certified`, `stated figures`, `sum`, `inclusion proof`...
    pub check: &'static str,
    pub passed: bool,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub org_id: String,
    pub period: String,
    /// The aggregate's revision, when every check of the aggregate itself held.
    pub revision: Option<u32>,
    /// The newer revision that replaces this one, when the bundle (or
    /// another bundle given with it) proves one: `revision N (record …)`.
    pub superseded_by: Option<String>,
    pub checks: Vec<Check>,
}

impl Verification {
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|check| check.passed)
    }

    pub fn failures(&self) -> usize {
        self.checks.iter().filter(|check| !check.passed).count()
    }
}

struct Checks(Vec<Check>);

impl Checks {
    fn record(&mut self, subject: &str, check: &'static str, outcome: Result<String, String>) -> bool {
        let passed = outcome.is_ok();
        let detail = outcome.unwrap_or_else(|reason| reason);
        self.0.push(Check { subject: subject.to_owned(), check, passed, detail });
        passed
    }
}

/// Checks everything in a bundle against the anchor's keys, offline: every
/// statement's signatures and its place in a chain up to the anchor, every
/// aggregate's signature, id, content, signer (certified for its org when it
/// signed, not revoked) and readable copies, the total against the children
/// summed, and each child's inclusion proof. An unreadable file is an error;
/// anything else that is wrong is a failed check in the answer.
pub fn verify(
    bytes: &[u8],
    anchor_keys: &[edusync_envelope::PublicKey],
    threshold: usize,
    grace_ms: i64,
) -> Result<Verification, AuditError> {
    let bundle: Bundle = serde_json::from_slice(bytes).map_err(|error| AuditError::Unreadable(error.to_string()))?;
    if bundle.format != FORMAT {
        return Err(AuditError::Unreadable(format!("format is `{}`; this edusync reads `{FORMAT}`", bundle.format)));
    }
    let anchor_org = OrgId::parse("anchor_org", &bundle.anchor_org)
        .map_err(|error| AuditError::Unreadable(format!("anchor_org: {}", error.reason)))?;
    let mut checks = Checks(Vec::new());
    let mut trust = TrustSet::new(
        vec![Anchor { org: anchor_org.clone(), keys: anchor_keys.to_vec(), threshold: threshold.max(1) }],
        grace_ms,
    );
    admit_statements(&bundle.statements, &mut trust, &mut checks);

    let period: Result<Period, String> =
        bundle.period.parse().map_err(|_| format!("`{}` is not a period", bundle.period));
    let parent = check_aggregate(&bundle.aggregate, &trust, &mut checks);
    let mut children = Vec::new();
    for child in &bundle.children {
        children.push(check_aggregate(&child.aggregate, &trust, &mut checks));
    }
    let Some((parent_id, parent)) = parent else {
        return Ok(Verification {
            org_id: bundle.org_id,
            period: bundle.period,
            revision: None,
            superseded_by: None,
            checks: checks.0,
        });
    };
    let subject = format!("aggregate {} {}", bundle.org_id, bundle.period);
    checks.record(
        &subject,
        "org and period",
        match &period {
            Ok(period) if parent.org.as_str() == bundle.org_id && parent.period == *period => {
                Ok(format!("record {} is {}'s aggregate for {period}", short(parent_id), parent.org))
            }
            Ok(_) => Err(format!(
                "the signed aggregate is {}'s for {}, but the bundle says {} for {}",
                parent.org, parent.period, bundle.org_id, bundle.period
            )),
            Err(reason) => Err(reason.clone()),
        },
    );
    check_level(&subject, &parent, &bundle.children, &children, &bundle.missing, &trust, &mut checks);
    check_below(&bundle, &children, &trust, &mut checks);
    let superseded_by = bundle.superseded_by.as_ref().and_then(|newer| {
        let stated = check_aggregate(newer, &trust, &mut checks);
        let outcome = match &stated {
            None => Err("the newer aggregate failed its checks".to_owned()),
            Some((_, newer)) if newer.org != parent.org || newer.period != parent.period => {
                Err(format!("it is {}'s for {}, not this aggregate's org and period", newer.org, newer.period))
            }
            Some((_, newer)) if newer.revision <= parent.revision => {
                Err(format!("its revision {} is not above this one's {}", newer.revision, parent.revision))
            }
            Some((id, newer)) => Ok(format!(
                "revision {} (record {}) replaces revision {}: this total is not the current one",
                newer.revision,
                short(*id),
                parent.revision
            )),
        };
        let described = outcome
            .as_ref()
            .ok()
            .and_then(|_| stated.map(|(id, newer)| format!("revision {} (record {})", newer.revision, short(id))));
        checks.record(&subject, "superseded", outcome);
        described
    });
    Ok(Verification {
        org_id: bundle.org_id,
        period: bundle.period,
        revision: Some(parent.revision),
        superseded_by,
        checks: checks.0,
    })
}

/// Checks that bundles verified together agree: each child record a
/// parent's bundle summed is the one the bundle given for that child
/// proves, and of two bundles for one org and period the older revision is
/// marked superseded by the newer. `bundles` and `verifications` are in the
/// same order; the checks are named by bundle position (`bundle 2`).
pub fn link(bundles: &[Bundle], verifications: &mut [Verification]) -> Vec<Check> {
    let mut checks = Checks(Vec::new());
    for (index, parent) in bundles.iter().enumerate() {
        for child in &parent.children {
            let given: Vec<(usize, &Bundle)> = bundles
                .iter()
                .enumerate()
                .filter(|(_, other)| other.org_id == child.aggregate.org_id && other.period == parent.period)
                .collect();
            if given.is_empty() {
                continue;
            }
            let subject = format!(
                "bundle {} → {} (record {})",
                index + 1,
                child.aggregate.org_id,
                child.aggregate.record_id.get(..12).unwrap_or(&child.aggregate.record_id)
            );
            let outcome = match given.iter().find(|(_, other)| other.aggregate.record_id == child.aggregate.record_id) {
                Some((at, _)) => Ok(format!(
                    "bundle {} proves revision {} of {}, the record bundle {} summed",
                    at + 1,
                    child.aggregate.revision,
                    child.aggregate.org_id,
                    index + 1
                )),
                None => Err(format!(
                    "bundle {} summed revision {} of {}, but the bundle given for {} proves revision {}: export {}'s bundle with --revision {}",
                    index + 1,
                    child.aggregate.revision,
                    child.aggregate.org_id,
                    child.aggregate.org_id,
                    given.iter().map(|(_, other)| other.aggregate.revision.to_string()).collect::<Vec<_>>().join(", "),
                    child.aggregate.org_id,
                    child.aggregate.revision
                )),
            };
            checks.record(&subject, "child bundle", outcome);
        }
    }
    for (index, bundle) in bundles.iter().enumerate() {
        let newer = bundles
            .iter()
            .enumerate()
            .filter(|(_, other)| {
                other.org_id == bundle.org_id
                    && other.period == bundle.period
                    && other.aggregate.revision > bundle.aggregate.revision
            })
            .max_by_key(|(_, other)| other.aggregate.revision);
        // Only a bundle that verified may say another is out of date.
        let newer = newer.filter(|(at, _)| verifications.get(*at).is_some_and(Verification::passed));
        if let (Some((at, newer)), Some(verification)) = (newer, verifications.get_mut(index)) {
            if verification.superseded_by.is_none() {
                verification.superseded_by = Some(format!(
                    "revision {} (record {}, bundle {})",
                    newer.aggregate.revision,
                    newer.aggregate.record_id.get(..12).unwrap_or(&newer.aggregate.record_id),
                    at + 1
                ));
            }
        }
    }
    checks.0
}

/// A tree bundle's levels below its children: every aggregate in it that
/// summed children must have its level here, checked as the top level is;
/// then the schools at the bottom are counted.
fn check_below(bundle: &Bundle, top_children: &[Option<(RecordId, Aggregate)>], trust: &TrustSet, checks: &mut Checks) {
    if bundle.below.is_empty() {
        return;
    }
    let mut pending: Vec<(RecordId, Aggregate)> = top_children.iter().flatten().cloned().collect();
    let mut nodes = 1 + pending.len();
    let mut leaves = 0usize;
    let mut used = std::collections::BTreeSet::new();
    while let Some((id, aggregate)) = pending.pop() {
        if aggregate.children == 0 {
            leaves += 1;
            continue;
        }
        let subject = format!("aggregate {} (record {})", aggregate.org, short(id));
        let Some((at, level)) = bundle.below.iter().enumerate().find(|(_, level)| level.record_id == id.to_hex())
        else {
            checks.record(
                &subject,
                "level below",
                Err(format!(
                    "{} summed {} children, but the bundle carries no level below it",
                    aggregate.org, aggregate.children
                )),
            );
            continue;
        };
        used.insert(at);
        let placed = if level.org_id == aggregate.org.as_str() {
            Ok(format!("the level below {}'s aggregate, {} children", aggregate.org, level.children.len()))
        } else {
            Err(format!(
                "the level below record {} is listed as {}'s, but the record is {}'s",
                short(id),
                level.org_id,
                aggregate.org
            ))
        };
        checks.record(&subject, "level below", placed);
        let checked: Vec<Option<(RecordId, Aggregate)>> =
            level.children.iter().map(|child| check_aggregate(&child.aggregate, trust, checks)).collect();
        check_level(&subject, &aggregate, &level.children, &checked, &level.missing, trust, checks);
        nodes += checked.iter().flatten().count();
        pending.extend(checked.into_iter().flatten());
    }
    let unused: Vec<&str> = bundle
        .below
        .iter()
        .enumerate()
        .filter(|(at, _)| !used.contains(at))
        .map(|(_, level)| level.record_id.as_str())
        .collect();
    let subject = format!("aggregate {} {}", bundle.org_id, bundle.period);
    checks.record(
        &subject,
        "tree",
        if unused.is_empty() {
            Ok(format!(
                "the bundle proves the total down to {leaves} aggregates with nothing below them (the schools), over {nodes} signed aggregates"
            ))
        } else {
            Err(format!("levels below records no aggregate of the bundle summed: {}", unused.join(", ")))
        },
    );
}

/// The checks of one level of a roll-up: each child (already checked on
/// its own, in `checked`) lies directly under `parent` for its period, is
/// listed in leaf order with a proof of its own position, every child the
/// certificates make owed is summed or named missing, and the total is own
/// plus the children's, cell by cell, with the signed root.
fn check_level(
    subject: &str,
    parent: &Aggregate,
    stated: &[SummedChild],
    checked: &[Option<(RecordId, Aggregate)>],
    missing: &[MissingChild],
    trust: &TrustSet,
    checks: &mut Checks,
) {
    let children = checked;
    let mut summed = Vec::new();
    let mut crosses = Vec::new();
    for (index, child) in children.iter().enumerate() {
        let Some((id, aggregate)) = child else { continue };
        let subject = subject_of(&stated[index].aggregate);
        let belongs = if !aggregate.org.is_child_of(&parent.org) {
            Err(format!("{} is not directly under {}", aggregate.org, parent.org))
        } else if aggregate.period != parent.period {
            Err(format!("it is for {}, the total for {}", aggregate.period, parent.period))
        } else {
            Ok(format!("{} is a child of {} and the period is {}", aggregate.org, parent.org, parent.period))
        };
        checks.record(&subject, "child of the total", belongs);
        summed.push((aggregate.org.clone(), *id, aggregate.total.clone()));
        crosses.push(aggregate.cross.clone());
    }
    let orgs: Vec<&str> = stated.iter().map(|child| child.aggregate.org_id.as_str()).collect();
    checks.record(
        subject,
        "leaf order",
        match orgs.windows(2).find(|pair| pair[0] >= pair[1]) {
            None => Ok(format!("the {} children are listed by org id, as the tree's leaves are", orgs.len())),
            Some(pair) => Err(format!(
                "{} is listed before {}: children[] must be in leaf order, by org id, each org once",
                pair[0], pair[1]
            )),
        },
    );
    let complete = children.iter().all(Option::is_some);
    checks.record(
        subject,
        "children complete",
        if !complete {
            Err("a child's aggregate failed its checks, so the sum cannot be checked against it".into())
        } else if u64::from(parent.children) != summed.len() as u64 {
            Err(format!("the signed total sums {} children; the bundle carries {}", parent.children, summed.len()))
        } else {
            Ok(format!("the signed total sums {} children; the bundle carries all of them", parent.children))
        },
    );
    checks.record(subject, "omissions", omissions(stated, missing, &parent.org, parent.period, trust));
    if complete {
        checks.record(
            subject,
            "sum",
            verify_roll_up(parent, &summed, &crosses)
                .map(|()| {
                    format!(
                        "total = own + the {} children's totals, cell by cell ({} incident cases), and the children's Merkle sum root is the signed one",
                        summed.len(),
                        parent.total.incident_cases()
                    )
                })
                .map_err(|error| error.to_string()),
        );
    }
    let children_sum = parent
        .total
        .cells()
        .iter()
        .zip(parent.own.cells())
        .map(|(total, own)| total.checked_sub(*own))
        .collect::<Option<Vec<u64>>>()
        .and_then(|cells| Counts::from_cells("sum", cells).ok());
    for (index, child) in children.iter().enumerate() {
        let Some((id, aggregate)) = child else { continue };
        let subject = subject_of(&stated[index].aggregate);
        let outcome = match (&children_sum, proof_from_file(&stated[index].inclusion_proof)) {
            (None, _) => Err("the total is smaller than the own count somewhere".to_owned()),
            (_, Err(reason)) => Err(reason),
            (_, Ok(proof)) if proof.index != index as u64 => Err(format!(
                "the proof is for leaf {}, but this child is entry {index} of children[], which is in leaf order",
                proof.index
            )),
            (_, Ok(proof)) if proof.size != u64::from(parent.children) => Err(format!(
                "the proof is for a tree of {} leaves, but the signed total sums {} children",
                proof.size, parent.children
            )),
            (Some(sum), Ok(proof)) => {
                let root = SumNode { hash: parent.children_root, sum: sum.clone() };
                verify_inclusion(&leaf(*id, &aggregate.total), &proof, &root)
                    .map(|()| format!("leaf {} of {} leads to the signed root", proof.index, proof.size))
                    .map_err(|error| error.to_string())
            }
        };
        checks.record(&subject, "inclusion proof", outcome);
    }
}

/// The period as milliseconds since the epoch, `[first day, day after the last)`, UTC.
pub fn period_window(period: Period) -> (i64, i64) {
    let midnight = |date: chrono::NaiveDate| date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_millis();
    (midnight(period.first_day()), midnight(period.last_day()) + 86_400_000)
}

/// Every child the bundle's certificates say the org certified for the
/// period is either summed or listed as missing, and no other.
fn omissions(
    children: &[SummedChild],
    listed_missing: &[MissingChild],
    org: &OrgId,
    period: Period,
    trust: &TrustSet,
) -> Result<String, String> {
    let (from_ms, until_ms) = period_window(period);
    let owed = trust.owed_children(org, from_ms, until_ms);
    let summed: Vec<&str> = children.iter().map(|child| child.aggregate.org_id.as_str()).collect();
    let missing: Vec<&str> = listed_missing.iter().map(|child| child.org_id.as_str()).collect();
    let mut problems = Vec::new();
    for child in owed.keys() {
        if !summed.contains(&child.as_str()) && !missing.contains(&child.as_str()) {
            problems
                .push(format!("{child} is certified under {org} for {period} but neither summed nor listed missing"));
        }
    }
    for (index, child) in missing.iter().enumerate() {
        if missing[..index].contains(child) {
            problems.push(format!("{child} is listed missing twice"));
        } else if summed.contains(child) {
            problems.push(format!("{child} is listed missing and summed"));
        } else if !owed.keys().any(|owed| owed.as_str() == *child) {
            problems.push(format!("{child} is listed missing but no certificate here makes it a child owing {period}"));
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(match missing.len() {
        0 => format!("all {} children certified for {period} are summed", owed.len()),
        absent => format!(
            "{} of the {} children certified for {period} are summed; {absent} sent nothing for it: {}",
            owed.len().saturating_sub(absent),
            owed.len(),
            missing.join(", ")
        ),
    })
}

fn short(id: RecordId) -> String {
    id.to_hex()[..12].to_owned()
}

fn subject_of(stated: &SignedAggregate) -> String {
    format!("aggregate {} (record {})", stated.org_id, stated.record_id.get(..12).unwrap_or(&stated.record_id))
}

/// Verifies each statement's signatures, then admits them into the trust
/// set until nothing more can be admitted (a chain may come in any order).
fn admit_statements(statements: &[String], trust: &mut TrustSet, checks: &mut Checks) {
    let mut verified = Vec::new();
    for (index, text) in statements.iter().enumerate() {
        let subject = format!("statement {index}");
        let outcome = BASE64
            .decode(text)
            .map_err(|error| format!("not base64: {error}"))
            .and_then(|bytes| VerifiedStatement::verify(&bytes).map_err(|error| error.to_string()));
        match outcome {
            Ok(statement) => {
                let what = describe_statement(&statement);
                checks.record(
                    &subject,
                    "signatures",
                    Ok(format!("{what}: {} signature(s) verify", statement.signers.len())),
                );
                verified.push((index, what, statement));
            }
            Err(reason) => {
                checks.record(&subject, "signatures", Err(reason));
            }
        }
    }
    let mut pending = verified;
    loop {
        let before = pending.len();
        let mut still = Vec::new();
        for (index, what, statement) in pending {
            match trust.admit(&statement) {
                Ok(_) => {
                    checks.record(
                        &format!("statement {index}"),
                        "issuer's authority",
                        Ok(format!("{what}: its issuer had the authority")),
                    );
                }
                Err(_) => still.push((index, what, statement)),
            }
        }
        pending = still;
        if pending.len() == before || pending.is_empty() {
            break;
        }
    }
    for (index, what, statement) in pending {
        let reason =
            trust.admit(&statement).err().map_or_else(|| "admitted late".to_owned(), |error| error.to_string());
        checks.record(&format!("statement {index}"), "issuer's authority", Err(format!("{what}: {reason}")));
    }
}

fn describe_statement(statement: &VerifiedStatement) -> String {
    use edusync_trust::Statement;
    match &statement.statement {
        Statement::Certificate(certificate) => format!(
            "certificate of {} as {} by {} (version {})",
            certificate.subject_org, certificate.role, certificate.issuer_org, certificate.version
        ),
        Statement::Revocation(revocation) => {
            format!("revocation of {}'s key by {}", revocation.subject_org, revocation.issuer_org)
        }
        Statement::Rotation(rotation) => format!("key rotation of {}", rotation.org),
        Statement::EnrolmentRequest(request) => format!("enrolment request of {}", request.subject_org),
    }
}

/// The checks of one signed aggregate; its id and content when they hold.
fn check_aggregate(stated: &SignedAggregate, trust: &TrustSet, checks: &mut Checks) -> Option<(RecordId, Aggregate)> {
    let subject = subject_of(stated);
    let opened = BASE64
        .decode(&stated.envelope)
        .map_err(|error| format!("the envelope is not base64: {error}"))
        .and_then(|bytes| open(&bytes));
    let (envelope, aggregate) = match opened {
        Ok(opened) => opened,
        Err(reason) => {
            checks.record(&subject, "signature", Err(reason));
            return None;
        }
    };
    let header = envelope.header();
    checks.record(
        &subject,
        "signature",
        Ok(format!("verify_strict holds under key {}", header.author_key.to_base64())),
    );
    let id_holds = checks.record(
        &subject,
        "record id",
        if envelope.id().to_hex() == stated.record_id {
            Ok("SHA-256 of the envelope".into())
        } else {
            Err(format!("the envelope's SHA-256 is {}, the bundle says {}", envelope.id().to_hex(), stated.record_id))
        },
    );
    let author_holds = checks.record(
        &subject,
        "author",
        if aggregate.org == header.author_org && aggregate.org.as_str() == stated.org_id {
            Ok(format!("signed by {} about itself", aggregate.org))
        } else {
            Err(format!("signed by {} about {}, listed as {}", header.author_org, aggregate.org, stated.org_id))
        },
    );
    let certified = checks.record(
        &subject,
        "signer certified",
        trust
            .standing(&header.author_org, &header.author_key, header.created_unix_ms)
            .map_err(|error| error.to_string())
            .and_then(|standing| match standing.role {
                // Only a node signs aggregates; a reader's key never speaks for its scope.
                edusync_trust::Role::Node(_) => {
                    let chain: Vec<String> = standing.chain.iter().map(ToString::to_string).collect();
                    Ok(format!(
                        "{} for {} when it signed, certified by {}",
                        standing.role,
                        standing.org,
                        chain.join(" ← ")
                    ))
                }
                role => Err(format!(
                    "the key is certified for {} as a {role}, which reads and never signs aggregates",
                    standing.org
                )),
            }),
    );
    let replacements = trust.unexplained_replacements(&header.author_org);
    checks.record(
        &subject,
        "key history",
        if replacements.is_empty() {
            Ok(format!("every change of {}'s key is a rotation or follows a revocation", header.author_org))
        } else {
            Err(replacements.join("; "))
        },
    );
    let figures = checks.record(&subject, "stated figures", stated_figures(stated, &envelope, &aggregate));
    let well_formed = checks.record(&subject, "well-formed", well_formed(&aggregate));
    (id_holds && author_holds && certified && figures && well_formed).then(|| (envelope.id(), aggregate))
}

/// The rules every aggregate keeps whatever its children: a known layout,
/// no total cell below the own count, and, with no children, a total that is
/// exactly the own count.
fn well_formed(aggregate: &Aggregate) -> Result<String, String> {
    Record::Aggregate(aggregate.clone())
        .check(&ValidationContext::without_clock())
        .map(|_| {
            let shape = match aggregate.children {
                0 => "no children, so total = own, cell by cell, and the root is the empty tree's".to_owned(),
                children => format!(
                    "layout {}, every total cell at least the own count, {children} children",
                    aggregate.layout_version
                ),
            };
            match &aggregate.reader_releases {
                None => shape,
                Some(ledger) => format!(
                    "{shape}; {} release(s) to readers, one per slot, {} of the cap of {} millionths of rho spent",
                    ledger.charges.len(),
                    ledger.spent_millionths(),
                    ledger.rho_cap_millionths
                ),
            }
        })
        .map_err(|error| error.to_string())
}

/// Every readable copy in the bundle equals the signed value.
fn stated_figures(
    stated: &SignedAggregate,
    envelope: &VerifiedEnvelope,
    aggregate: &Aggregate,
) -> Result<String, String> {
    let header = envelope.header();
    let differences: Vec<String> = [
        ("signer_key", stated.signer_key.clone(), header.author_key.to_base64()),
        ("signed_unix_ms", stated.signed_unix_ms.to_string(), header.created_unix_ms.to_string()),
        ("revision", stated.revision.to_string(), aggregate.revision.to_string()),
        ("incident_cases", stated.incident_cases.to_string(), aggregate.total.incident_cases().to_string()),
        (
            "contributing_schools",
            stated.contributing_schools.to_string(),
            aggregate.total.get(Cell::ContributingSchools).to_string(),
        ),
    ]
    .into_iter()
    .filter(|(_, stated, signed)| stated != signed)
    .map(|(field, stated, signed)| format!("{field} is {stated} in the bundle but {signed} as signed"))
    .chain(cell_differences("total", &stated.total, &named_cells(&aggregate.total)))
    .chain(cell_differences("own", &stated.own, &named_cells(&aggregate.own)))
    .collect();
    if differences.is_empty() {
        Ok(format!(
            "revision {}, {} incident cases, every cell as signed",
            aggregate.revision,
            aggregate.total.incident_cases()
        ))
    } else {
        Err(differences.join("; "))
    }
}

fn cell_differences(field: &str, stated: &BTreeMap<String, u64>, signed: &BTreeMap<String, u64>) -> Vec<String> {
    // The maps list non-zero cells by name, each once: a zero or an unknown name is not a copy.
    let known: BTreeMap<String, Cell> = Cell::all().into_iter().map(|cell| (cell.name(), cell)).collect();
    let strays = stated.iter().filter_map(|(name, value)| {
        if !known.contains_key(name) {
            Some(format!("{field}.{name} is not a cell of layout 1"))
        } else if *value == 0 {
            Some(format!("{field}.{name} is listed as 0; only non-zero cells are listed"))
        } else {
            None
        }
    });
    let strays: Vec<String> = strays.collect();
    let mut names: Vec<&String> = stated.keys().chain(signed.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let (bundle, signed) = (stated.get(name).copied().unwrap_or(0), signed.get(name).copied().unwrap_or(0));
            (bundle != signed).then(|| format!("{field}.{name} is {bundle} in the bundle but {signed} as signed"))
        })
        .chain(strays)
        .collect()
}

impl Bundle {
    /// The bundle as the file an auditor receives: pretty JSON, one field a line.
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
mod tests {
    //! `docs/audit-format.md` is the specification an independent verifier is
    //! written from: the parts of it that are generated from the code are
    //! checked against the code here, so that neither drifts from the other.

    use edusync_core::{
        Cell, Counts, IncidentCategory, IncidentStatus, RecordId, Severity, CELLS, EMPTY_CHILDREN_ROOT,
    };
    use edusync_rollup::{leaf, prove_inclusion, tree_root, SumNode};

    /// The specification, read from the repository at compile time.
    const SPEC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/audit-format.md"));
    const TABLE_BEGIN: &str = "<!-- BEGIN CELL TABLE";
    const TABLE_END: &str = "<!-- END CELL TABLE -->";

    /// The cell table as the document must hold it: one row per cell of
    /// `Cell::all()`, in layout order, with its index and name.
    fn expected_rows() -> Vec<String> {
        Cell::all().into_iter().enumerate().map(|(index, cell)| format!("| {index} | `{}` |", cell.name())).collect()
    }

    /// The rows between the markers, after the header and separator lines.
    fn documented_rows() -> Vec<String> {
        let begins = SPEC.lines().filter(|line| line.starts_with(TABLE_BEGIN)).count();
        let ends = SPEC.lines().filter(|line| line.trim() == TABLE_END).count();
        assert_eq!(
            (begins, ends),
            (1, 1),
            "docs/audit-format.md must hold one `{TABLE_BEGIN} …` and one `{TABLE_END}`"
        );
        let table: Vec<&str> = SPEC
            .lines()
            .skip_while(|line| !line.starts_with(TABLE_BEGIN))
            .skip(1)
            .take_while(|line| line.trim() != TABLE_END)
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect();
        assert!(
            table.len() >= 2 && table[0] == "| index | name |" && table[1] == "| ---: | --- |",
            "the cell table starts with `| index | name |` and `| ---: | --- |`, found {:?}",
            table.get(..2)
        );
        table[2..].iter().map(|line| (*line).to_owned()).collect()
    }

    #[test]
    fn the_format_lists_every_cell_of_the_layout_in_order_with_its_index_and_name() {
        let expected = expected_rows();
        assert_eq!(expected.len(), CELLS);
        let documented = documented_rows();
        if documented != expected {
            let first = documented.iter().zip(&expected).position(|(doc, code)| doc != code);
            panic!(
                "the cell table of docs/audit-format.md is not Cell::all() ({} rows documented, {} cells; first \
                 difference at row {first:?}). The table as it must read, between the markers:\n\n| index | name \
                 |\n| ---: | --- |\n{}\n",
                documented.len(),
                expected.len(),
                expected.join("\n")
            );
        }
    }

    fn counts(cells: &[(Cell, u64)]) -> Counts {
        let mut counts = Counts::zero();
        for (cell, value) in cells {
            counts.add_to(*cell, *value).expect("fits");
        }
        counts
    }

    fn hex_of(node: &SumNode) -> String {
        hex::encode(node.hash)
    }

    /// The worked examples of the document, recomputed: the empty root, three
    /// leaves, their tree and the proof of each leaf.
    fn vectors() -> Vec<(&'static str, String)> {
        let physical = Cell::Cases(IncidentCategory::Physical, Severity::Minor, IncidentStatus::Open);
        let a = leaf(RecordId([0x11; 32]), &counts(&[(Cell::FollowUps, 2), (Cell::ContributingSchools, 1)]));
        let b = leaf(RecordId([0x22; 32]), &counts(&[(Cell::ContributingSchools, 1)]));
        let c = leaf(RecordId([0x33; 32]), &counts(&[(physical, 1), (Cell::ContributingSchools, 1)]));
        let leaves = [a.clone(), b.clone(), c.clone()];
        let ab = tree_root(&leaves[..2]).expect("sums");
        let root = tree_root(&leaves).expect("sums");
        let first = prove_inclusion(&leaves, 0).expect("in range");
        let last = prove_inclusion(&leaves, 2).expect("in range");
        assert_eq!(first.path, [b.clone(), c.clone()]);
        assert_eq!(prove_inclusion(&leaves, 1).expect("in range").path, [a.clone(), c.clone()]);
        assert_eq!(last.path, std::slice::from_ref(&ab));
        assert_eq!(root.sum, counts(&[(Cell::FollowUps, 2), (physical, 1), (Cell::ContributingSchools, 3)]));
        vec![
            ("empty root", hex::encode(EMPTY_CHILDREN_ROOT)),
            ("counts C, first 10 bytes", hex::encode(&c.sum.to_bytes()[..10])),
            ("counts C, last 16 bytes", hex::encode(&c.sum.to_bytes()[1378 - 16..])),
            ("leaf A", hex_of(&a)),
            ("leaf B", hex_of(&b)),
            ("leaf C", hex_of(&c)),
            ("node AB", hex_of(&ab)),
            ("root ABC", hex_of(&root)),
        ]
    }

    #[test]
    fn the_formats_test_vectors_and_constants_are_the_codes() {
        let missing: Vec<String> = vectors()
            .into_iter()
            .map(|(name, value)| format!("| {name} | `{value}` |"))
            .filter(|row| !SPEC.contains(row.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/audit-format.md lacks these rows of its test vectors:\n{}",
            missing.join("\n")
        );
        assert_eq!(Counts::zero().to_bytes().len(), 1378);
        for constant in [
            format!("`{}`", super::FORMAT),
            format!("{CELLS} cells"),
            format!("`{}`", edusync_envelope::SIGNING_CONTEXT),
            format!("`{}`", edusync_trust::TRUST_CONTEXT),
        ] {
            assert!(SPEC.contains(&constant), "docs/audit-format.md does not mention {constant}");
        }
    }
}
