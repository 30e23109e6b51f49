//! `edusync backup` and `edusync restore`: snapshots that cannot fork a log.

use std::path::PathBuf;

use edusync_config::NodeConfig;
use edusync_proto::wire;

use super::{write_new, NodeTarget};
use crate::failure::Failure;

#[derive(clap::Args)]
pub(crate) struct BackupArgs {
    /// The backup file to write (mode 0600: it holds the node's private key).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    target: NodeTarget,
}

#[derive(clap::Args)]
pub(crate) struct RestoreArgs {
    /// A file written by `edusync backup`.
    file: PathBuf,
    /// The config of the node to restore; its data directory must hold no store yet.
    #[arg(long)]
    config: PathBuf,
}

pub(crate) async fn backup(args: BackupArgs) -> Result<(), Failure> {
    if args.out.exists() {
        return Err(Failure::input(format!("--out: {} exists; a backup is never overwritten", args.out.display())));
    }
    let mut client = args.target.connect().await?;
    let mut stream = client.backup(wire::BackupRequest {}).await.map_err(Failure::from_status)?.into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await.map_err(Failure::from_status)? {
        bytes.extend_from_slice(&chunk.data);
    }
    edusync_node::Backup::parse(&bytes).map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
    write_new(&args.out, &bytes, 0o600)?;
    println!(
        "wrote {} ({} bytes): the store and the node key; keep it as safe as the key",
        args.out.display(),
        bytes.len()
    );
    Ok(())
}

pub(crate) fn restore(args: RestoreArgs) -> Result<(), Failure> {
    let config = NodeConfig::load(&args.config)?;
    let bytes = std::fs::read(&args.file)
        .map_err(|error| Failure::input(format!("cannot read {}: {error}", args.file.display())))?;
    let backup = edusync_node::Backup::parse(&bytes).map_err(|error| Failure::input(error.to_string()))?;
    if backup.org != config.organisation.id {
        return Err(Failure::input(format!(
            "the backup is of {}, but {} configures {}",
            backup.org,
            args.config.display(),
            config.organisation.id
        )));
    }
    let store = config.store_path();
    if store.exists() && std::fs::read_dir(&store).map(|mut entries| entries.next().is_some()).unwrap_or(true) {
        return Err(Failure::input(format!(
            "{} already holds a store; restore into an empty data directory (move the old one aside first)",
            store.display()
        )));
    }
    let key = config.data_dir.join("node.key");
    match std::fs::read_to_string(&key) {
        Ok(existing) if existing.trim() != backup.key_pem.trim() => {
            return Err(Failure::input(format!("{} holds another key than the backup's", key.display())))
        }
        Ok(_) => {}
        Err(_) => {
            std::fs::create_dir_all(&config.data_dir)
                .map_err(|error| Failure::input(format!("cannot create {}: {error}", config.data_dir.display())))?;
            write_new(&key, backup.key_pem.as_bytes(), 0o600)?;
            let public = edusync_node::load_key(&config.data_dir)
                .map_err(|error| Failure::input(error.to_string()))?
                .public_key();
            std::fs::write(config.data_dir.join("node.pub"), format!("{}\n", public.to_base64()))
                .map_err(|error| Failure::input(format!("cannot write node.pub: {error}")))?;
        }
    }
    let entries = backup.restore_store(&store).map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
    println!("restored {} ({entries} store entries) into {}", backup.org, config.data_dir.display());
    println!(
        "it signs nothing until it has learned from its parent how much of its log the parent holds; start it with its parent reachable"
    );
    Ok(())
}
