//! `edusync bundle export | import`: sneakernet, for links that are not there.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use edusync_proto::wire;

use super::NodeTarget;
use crate::failure::Failure;
use edusync_i18n::{Language, Message};

#[derive(Subcommand)]
pub(crate) enum BundleCommand {
    /// Write what this node owes ORG into signed files: to its parent, the
    /// shared records it has not acknowledged (a long backlog in parts of at
    /// most --max-megabytes, OUT.part-001, OUT.part-002, ...); to a child, an
    /// acknowledgement.
    Export {
        /// The org the bundle is for: this node's parent or one of its children.
        #[arg(long)]
        to: String,
        /// The file to write (parts get .part-NNN before the extension).
        #[arg(long)]
        out: PathBuf,
        /// Envelope bytes in one file at most.
        #[arg(long, default_value_t = 8)]
        max_megabytes: u64,
        #[command(flatten)]
        target: NodeTarget,
    },
    /// Take in bundles, with exactly the checks of online sync. Parts may be
    /// given in any order; importing one again stores nothing new.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        target: NodeTarget,
    },
}

pub(crate) async fn run(command: BundleCommand, language: Language) -> Result<(), Failure> {
    match command {
        BundleCommand::Export { to, out, max_megabytes, target } => {
            export(&to, &out, max_megabytes, &target, language).await
        }
        BundleCommand::Import { files, target } => import_all(&files, &target, language).await,
    }
}

async fn export(
    to: &str,
    out: &Path,
    max_megabytes: u64,
    target: &NodeTarget,
    language: Language,
) -> Result<(), Failure> {
    if max_megabytes == 0 {
        return Err(Failure::input("--max-megabytes: must be at least 1"));
    }
    let mut client = target.connect().await?;
    let mut parts = Vec::new();
    let mut from_seq = 0;
    loop {
        let file = client
            .export_bundle(wire::ExportBundleRequest {
                to_org: to.to_owned(),
                from_seq,
                max_bytes: max_megabytes << 20,
            })
            .await
            .map_err(Failure::from_status)?
            .into_inner();
        let next = file.next_seq;
        parts.push(file);
        if next == 0 {
            break;
        }
        from_seq = next;
    }
    let count = parts.len();
    for (index, file) in parts.into_iter().enumerate() {
        let path = if count == 1 { out.to_path_buf() } else { part_path(out, index + 1) };
        // Written beside the target and renamed, so a half-written bundle
        // never carries the final name; an existing file is never replaced.
        if path.exists() {
            return Err(Failure::input(format!("{} exists already; choose another --out", path.display())));
        }
        let partial = path.with_extension("partial");
        std::fs::write(&partial, &file.bundle).and_then(|()| std::fs::rename(&partial, &path)).map_err(|error| {
            Failure::input_message(Message::CannotWrite { path: path.display().to_string(), error: error.to_string() })
        })?;
        let written = Message::BundleWritten {
            path: path.display().to_string(),
            entries: u64::from(file.entries),
            bytes: file.bundle.len() as u64,
            to: to.to_owned(),
        };
        println!("{}", written.text(language));
        // Why a file holds no records: nothing new, or an acknowledgement going down.
        match edusync_envelope::VerifiedBundle::verify(&file.bundle).map(|bundle| bundle.entries) {
            Ok(edusync_envelope::BundleEntries::Envelopes(envelopes)) if envelopes.is_empty() => {
                println!("{}", Message::BundleNothingNew { to: to.to_owned() }.text(language));
            }
            Ok(edusync_envelope::BundleEntries::Downward { items, .. }) => {
                let items = items.len() as u64;
                println!("{}", Message::BundleOfAcknowledgement { to: to.to_owned(), items }.text(language));
            }
            _ => {}
        }
    }
    if count > 1 {
        println!("{}", Message::BundleParts { count: count as u64 }.text(language));
    }
    Ok(())
}

/// `bundle.es` → `bundle.part-003.es`.
fn part_path(out: &Path, number: usize) -> PathBuf {
    let stem = out.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match out.extension() {
        Some(extension) => format!("{stem}.part-{number:03}.{}", extension.to_string_lossy()),
        None => format!("{stem}.part-{number:03}"),
    };
    out.with_file_name(name)
}

/// Imports every file, envelopes in log order whatever order the files were
/// given in (parts of one export continue each other), then the rest.
async fn import_all(files: &[PathBuf], target: &NodeTarget, language: Language) -> Result<(), Failure> {
    let mut ordered: Vec<(u64, &PathBuf)> = Vec::new();
    for file in files {
        let bytes = std::fs::read(file).map_err(|error| {
            Failure::input_message(Message::CannotRead { what: file.display().to_string(), error: error.to_string() })
        })?;
        let first_seq = match edusync_envelope::VerifiedBundle::verify(&bytes).map(|bundle| bundle.entries) {
            Ok(edusync_envelope::BundleEntries::Envelopes(envelopes)) => envelopes
                .first()
                .and_then(|envelope| edusync_envelope::EnvelopeView::parse(envelope).ok())
                .map_or(u64::MAX, |view| view.header.seq.0),
            // Acknowledgements and feeds from above: after the envelopes; a
            // bundle that does not verify is left for the node to refuse by name.
            _ => u64::MAX,
        };
        ordered.push((first_seq, file));
    }
    ordered.sort_by_key(|(first_seq, _)| *first_seq);
    for (_, file) in ordered {
        import(file, target, language).await?;
    }
    Ok(())
}

async fn import(file: &Path, target: &NodeTarget, language: Language) -> Result<(), Failure> {
    let bundle = std::fs::read(file).map_err(|error| {
        Failure::input_message(Message::CannotRead { what: file.display().to_string(), error: error.to_string() })
    })?;
    let mut client = target.connect().await?;
    let response = client
        .import_bundle(wire::BundleFile { bundle, entries: 0, next_seq: 0 })
        .await
        .map_err(Failure::from_status)?
        .into_inner();
    match response.outcome {
        Some(wire::import_bundle_response::Outcome::Ingested(ack)) => {
            let imported = Message::BundleImported {
                path: file.display().to_string(),
                stored: u64::from(ack.stored),
                already: u64::from(ack.duplicates),
                refused: ack.refused.len() as u64,
            };
            println!("{}", imported.text(language));
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
            println!("{}", Message::BundleAcknowledged { path: file.display().to_string(), seq }.text(language));
        }
        None => return Err(Failure::other(anyhow::anyhow!("the node gave no outcome for the import"))),
    }
    Ok(())
}
