//! `edusync bundle export | import`: sneakernet, for links that are not there.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use edusync_proto::wire;

use super::NodeTarget;
use crate::failure::Failure;

#[derive(Subcommand)]
pub(crate) enum BundleCommand {
    /// Write what this node owes ORG into one signed file: to its parent, the
    /// shared records it has not acknowledged; to a child, an acknowledgement.
    Export {
        #[arg(long)]
        to: String,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        target: NodeTarget,
    },
    /// Take in a bundle, with exactly the checks of online sync.
    Import {
        file: PathBuf,
        #[command(flatten)]
        target: NodeTarget,
    },
}

pub(crate) async fn run(command: BundleCommand) -> Result<(), Failure> {
    match command {
        BundleCommand::Export { to, out, target } => export(&to, &out, &target).await,
        BundleCommand::Import { file, target } => import(&file, &target).await,
    }
}

async fn export(to: &str, out: &Path, target: &NodeTarget) -> Result<(), Failure> {
    let mut client = target.connect().await?;
    let file = client
        .export_bundle(wire::ExportBundleRequest { to_org: to.to_owned() })
        .await
        .map_err(Failure::from_status)?
        .into_inner();
    // Written beside the target and renamed, so a half-written bundle never
    // carries the final name.
    let partial = out.with_extension("partial");
    std::fs::write(&partial, &file.bundle)
        .and_then(|()| std::fs::rename(&partial, out))
        .map_err(|error| Failure::other(anyhow::anyhow!("cannot write {}: {error}", out.display())))?;
    println!("wrote {} ({} entries, {} bytes) for {to}", out.display(), file.entries, file.bundle.len());
    Ok(())
}

async fn import(file: &Path, target: &NodeTarget) -> Result<(), Failure> {
    let bundle =
        std::fs::read(file).map_err(|error| Failure::input(format!("cannot read {}: {error}", file.display())))?;
    let mut client = target.connect().await?;
    let response =
        client.import_bundle(wire::BundleFile { bundle, entries: 0 }).await.map_err(Failure::from_status)?.into_inner();
    match response.outcome {
        Some(wire::import_bundle_response::Outcome::Ingested(ack)) => {
            println!(
                "imported {}: {} stored, {} already held, {} refused",
                file.display(),
                ack.stored,
                ack.duplicates,
                ack.refused.len()
            );
            for refusal in &ack.refused {
                println!("  refused seq {}: {}", refusal.seq, refusal.reason);
            }
            for checkpoint in &ack.checkpoints {
                println!("  now holding {} up to seq {}", checkpoint.author_org, checkpoint.highest_contiguous_seq);
            }
            if !ack.refused.is_empty() {
                return Err(Failure::input(format!("{} records in the bundle were refused", ack.refused.len())));
            }
        }
        Some(wire::import_bundle_response::Outcome::AcknowledgedSeq(seq)) => {
            println!("imported {}: the parent acknowledges this node's shared log up to seq {seq}", file.display());
        }
        None => return Err(Failure::other(anyhow::anyhow!("the node gave no outcome for the import"))),
    }
    Ok(())
}
