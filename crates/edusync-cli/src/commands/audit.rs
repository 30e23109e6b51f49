//! `edusync audit`: export a node's audit bundle, and verify one offline
//! against the root keys alone.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use edusync_envelope::PublicKey;
use edusync_proto::wire;

use super::NodeTarget;
use crate::failure::Failure;
use crate::output::json;

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Write the audit bundle of a node's aggregate for a period: the
    /// aggregate, the children's aggregates it summed with inclusion proofs,
    /// and every signer's certificate chain, rotations and revocations.
    Export {
        /// The org audited: the node's own (a node holds what it summed).
        #[arg(long)]
        org: String,
        /// e.g. 2024-2025, 2024-2025/S1 or 2024-2025/M10
        #[arg(long)]
        period: String,
        /// One revision, as a parent's bundle names it (default: the latest).
        #[arg(long)]
        revision: Option<u32>,
        /// Every level below too, down to the schools: one bundle proves the
        /// total to the bottom (from the roll-up evidence sent up by sync).
        #[arg(long)]
        tree: bool,
        /// The bundle file to write (refused if it exists).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        target: NodeTarget,
    },
    /// Check every signature, chain, revocation, sum and proof of a bundle,
    /// offline: one line per check and a verdict; exit status 0 only when
    /// every check passes.
    Verify {
        /// The bundle file; give several (a parent's and its children's) to
        /// check that each child record a parent summed is the one the
        /// child's bundle proves.
        #[arg(required = true)]
        bundles: Vec<PathBuf>,
        /// The signed root document (`keys root`): the root keys and their
        /// threshold, pinned as one file.
        #[arg(long, required_unless_present = "anchors", conflicts_with_all = ["anchors", "threshold"])]
        root: Option<PathBuf>,
        /// The SHA-256 the root document must have (as `keys root` prints it).
        #[arg(long, requires = "root")]
        root_sha256: Option<String>,
        /// Without a root document: a root public key (base64 raw, as in
        /// ROOT.pub, or SPKI PEM); give each of the root's keys.
        #[arg(long = "anchor")]
        anchors: Vec<PathBuf>,
        /// With --anchor: root keys that must have signed a certificate
        /// directly under the root (default: a majority of those given).
        #[arg(long)]
        threshold: Option<usize>,
        /// Clock-skew grace for certificate windows, in seconds.
        #[arg(long, default_value_t = 300)]
        clock_skew_seconds: u32,
        /// Print one JSON document (every check, and the links between
        /// bundles) instead of lines.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::Export { org, period, revision, tree, out, target } => {
            export(&org, &period, revision, tree, &out, &target).await
        }
        AuditCommand::Verify { bundles, root, root_sha256, anchors, threshold, clock_skew_seconds, json: as_json } => {
            let anchor = match root {
                Some(path) => Anchoring::root(&path, root_sha256.as_deref())?,
                None => Anchoring::keys(&anchors, threshold)?,
            };
            verify(&bundles, &anchor, clock_skew_seconds, as_json)
        }
    }
}

async fn export(
    org: &str,
    period: &str,
    revision: Option<u32>,
    tree: bool,
    out: &Path,
    target: &NodeTarget,
) -> Result<(), Failure> {
    let period = super::period_arg(period)?;
    if revision == Some(0) {
        return Err(Failure::input("--revision: revisions start at 1"));
    }
    if out.exists() {
        return Err(Failure::input(format!("--out: {} exists; choose a new file name", out.display())));
    }
    let client = target.connect().await?;
    let bundle = super::ask_again_while_unavailable(|| {
        let mut client = client.clone();
        let request = wire::ExportAuditRequest {
            org_id: org.to_owned(),
            period: Some(edusync_proto::period_to_wire(period)),
            revision: revision.unwrap_or(0),
            tree,
        };
        async move { client.export_audit(request).await }
    })
    .await
    .map_err(Failure::from_status)?;
    let summary: edusync_audit::Bundle = serde_json::from_slice(&bundle.json)
        .map_err(|error| Failure::other(anyhow::anyhow!("the node sent an unreadable bundle: {error}")))?;
    super::write_new(out, &bundle.json, 0o644)?;
    println!(
        "{}: {} {} revision {}, {} incident cases, {} children summed, {} trust statements",
        out.display(),
        summary.org_id,
        summary.period,
        summary.aggregate.revision,
        summary.aggregate.incident_cases,
        summary.children.len(),
        summary.statements.len()
    );
    if tree {
        let below: usize = summary.below.iter().map(|level| level.children.len()).sum();
        println!("  and {} levels below, {below} aggregates in them", summary.below.len());
    }
    Ok(())
}

/// The keys and threshold a bundle is checked against, and how to say so.
struct Anchoring {
    /// The anchor org a root document names; keys alone name none.
    org: Option<String>,
    keys: Vec<PublicKey>,
    threshold: usize,
    described: String,
}

impl Anchoring {
    fn root(path: &Path, pinned: Option<&str>) -> Result<Self, Failure> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| Failure::input(format!("--root {}: {error}", path.display())))?;
        let verified = edusync_trust::RootDocument::verify(&text, chrono::Utc::now().timestamp_millis())
            .map_err(|error| Failure::input(format!("--root {}: {error}", path.display())))?;
        if let Some(pinned) = pinned {
            if !pinned.trim().eq_ignore_ascii_case(&verified.sha256) {
                return Err(Failure::input(format!(
                    "--root-sha256: {} has SHA-256 {}, not the pinned {pinned}",
                    path.display(),
                    verified.sha256
                )));
            }
        }
        let document = &verified.document;
        Ok(Anchoring {
            org: Some(document.org.to_string()),
            keys: document.keys.clone(),
            threshold: usize::from(document.threshold),
            described: format!(
                "root document version {} of {} (sha256 {}), {} of its {} keys required",
                document.version,
                document.org,
                &verified.sha256[..16],
                document.threshold,
                document.keys.len()
            ),
        })
    }

    fn keys(anchors: &[PathBuf], threshold: Option<usize>) -> Result<Self, Failure> {
        let keys = anchors
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| Failure::input(format!("--anchor {}: {error}", path.display())))?;
                PublicKey::from_text(text.trim())
                    .map_err(|error| Failure::input(format!("--anchor {}: not a public key: {error}", path.display())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // A key given twice is one key.
        let mut keys = keys;
        let mut seen = std::collections::BTreeSet::new();
        keys.retain(|key| seen.insert(*key));
        let threshold = threshold.unwrap_or(keys.len() / 2 + 1);
        if threshold == 0 || threshold > keys.len() {
            return Err(Failure::input(format!("--threshold: between 1 and the {} root keys given", keys.len())));
        }
        let described = format!(
            "{} root key(s) given on the command line, {threshold} required (not a signed root document: pin one with --root)",
            keys.len()
        );
        Ok(Anchoring { org: None, keys, threshold, described })
    }
}

fn verify(paths: &[PathBuf], anchor: &Anchoring, clock_skew_seconds: u32, as_json: bool) -> Result<(), Failure> {
    let (keys, threshold) = (&anchor.keys, anchor.threshold);
    let mut bundles = Vec::new();
    let mut verifications = Vec::new();
    for path in paths {
        let unreadable = |error: String| Failure::input(format!("{}: {error}", path.display()));
        let bytes = std::fs::read(path).map_err(|error| unreadable(error.to_string()))?;
        let verification = edusync_audit::verify(&bytes, keys, threshold, i64::from(clock_skew_seconds) * 1000)
            .map_err(|error| unreadable(error.to_string()))?;
        let bundle: edusync_audit::Bundle =
            serde_json::from_slice(&bytes).map_err(|error| unreadable(error.to_string()))?;
        if let Some(org) = anchor.org.as_ref().filter(|org| **org != bundle.anchor_org) {
            return Err(Failure::input(format!(
                "--root: the document is {org}'s root, but the chains of {} lead to {}",
                path.display(),
                bundle.anchor_org
            )));
        }
        bundles.push(bundle);
        verifications.push(verification);
    }
    let links = edusync_audit::link(&bundles, &mut verifications);
    let several = paths.len() > 1;
    if as_json {
        if several {
            let passed =
                verifications.iter().all(edusync_audit::Verification::passed) && links.iter().all(|check| check.passed);
            println!("{}", json(&serde_json::json!({ "bundles": verifications, "links": links, "passed": passed })));
        } else if let Some(verification) = verifications.first() {
            println!("{}", json(verification));
        }
    }
    let print = |checks: &[edusync_audit::Check]| {
        for check in checks {
            println!(
                "{}  {} — {}: {}",
                if check.passed { "ok  " } else { "FAIL" },
                check.subject,
                check.check,
                check.detail
            );
        }
    };
    let mut failed = Vec::new();
    for (index, (path, verification)) in paths.iter().zip(&verifications).enumerate() {
        let total = verification.checks.len();
        let what = format!(
            "{} {}{}",
            verification.org_id,
            verification.period,
            verification.revision.map(|revision| format!(" revision {revision}")).unwrap_or_default()
        );
        if !as_json {
            if several {
                println!("== bundle {}: {} ==", index + 1, path.display());
            }
            print(&verification.checks);
            match (&verification.superseded_by, verification.passed()) {
                (Some(newer), true) => println!(
                    "VERIFIED AS SUPERSEDED: all {total} checks passed for {what} against {}; {newer} replaces it, so this is not the current total",
                    anchor.described
                ),
                (None, true) => println!("VERIFIED: all {total} checks passed for {what} against {}", anchor.described),
                (_, false) => {}
            }
        }
        if !verification.passed() {
            failed.push(format!("{} of {total} checks failed for {what}", verification.failures()));
        }
    }
    if several && !as_json {
        println!("== links between the bundles ==");
        if links.is_empty() {
            println!("(no bundle is a child of another given here)");
        }
        print(&links);
    }
    let broken = links.iter().filter(|check| !check.passed).count();
    if broken > 0 {
        failed.push(format!("{broken} of {} links between the bundles failed", links.len()));
    }
    if failed.is_empty() {
        if several && !as_json {
            println!("VERIFIED: {} bundles and {} links", paths.len(), links.len());
        }
        Ok(())
    } else {
        Err(Failure::other(anyhow::anyhow!("NOT VERIFIED: {}", failed.join("; "))))
    }
}
