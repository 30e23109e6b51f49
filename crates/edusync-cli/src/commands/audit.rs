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
        /// The bundle file.
        bundle: PathBuf,
        /// A root public key (base64 raw, as in ROOT.pub, or SPKI PEM); give
        /// each of the root's keys.
        #[arg(long = "anchor", required = true)]
        anchors: Vec<PathBuf>,
        /// Root keys that must have signed a certificate directly under the
        /// root (default: a majority of those given).
        #[arg(long)]
        threshold: Option<usize>,
        /// Clock-skew grace for certificate windows, in seconds.
        #[arg(long, default_value_t = 300)]
        clock_skew_seconds: u32,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::Export { org, period, out, target } => export(&org, &period, &out, &target).await,
        AuditCommand::Verify { bundle, anchors, threshold, clock_skew_seconds, json: as_json } => {
            verify(&bundle, &anchors, threshold, clock_skew_seconds, as_json)
        }
    }
}

async fn export(org: &str, period: &str, out: &Path, target: &NodeTarget) -> Result<(), Failure> {
    let period = super::period_arg(period)?;
    if out.exists() {
        return Err(Failure::input(format!("--out: {} exists; choose a new file name", out.display())));
    }
    let client = target.connect().await?;
    let bundle = super::ask_again_while_unavailable(|| {
        let mut client = client.clone();
        let request =
            wire::ExportAuditRequest { org_id: org.to_owned(), period: Some(edusync_proto::period_to_wire(period)) };
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
    Ok(())
}

fn verify(
    bundle: &Path,
    anchors: &[PathBuf],
    threshold: Option<usize>,
    clock_skew_seconds: u32,
    as_json: bool,
) -> Result<(), Failure> {
    let bytes = std::fs::read(bundle).map_err(|error| Failure::input(format!("{}: {error}", bundle.display())))?;
    let keys = anchors
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .map_err(|error| Failure::input(format!("--anchor {}: {error}", path.display())))?;
            PublicKey::from_text(text.trim())
                .map_err(|error| Failure::input(format!("--anchor {}: not a public key: {error}", path.display())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let threshold = threshold.unwrap_or(keys.len() / 2 + 1);
    if threshold == 0 || threshold > keys.len() {
        return Err(Failure::input(format!("--threshold: between 1 and the {} root keys given", keys.len())));
    }
    let verification = edusync_audit::verify(&bytes, &keys, threshold, i64::from(clock_skew_seconds) * 1000)
        .map_err(|error| Failure::input(format!("{}: {error}", bundle.display())))?;
    if as_json {
        println!("{}", json(&verification));
    } else {
        for check in &verification.checks {
            println!(
                "{}  {} — {}: {}",
                if check.passed { "ok  " } else { "FAIL" },
                check.subject,
                check.check,
                check.detail
            );
        }
    }
    let total = verification.checks.len();
    if verification.passed() {
        if !as_json {
            println!(
                "VERIFIED: all {total} checks passed for {} {} against {} root key(s), {threshold} required",
                verification.org_id,
                verification.period,
                keys.len()
            );
        }
        Ok(())
    } else {
        Err(Failure::other(anyhow::anyhow!(
            "NOT VERIFIED: {} of {total} checks failed for {} {}",
            verification.failures(),
            verification.org_id,
            verification.period
        )))
    }
}
