//! `edusync backup` and `edusync restore`: snapshots that cannot fork a log.

use std::path::PathBuf;

use edusync_config::NodeConfig;
use edusync_proto::wire;

use super::{write_new, NodeTarget};
use crate::failure::Failure;
use edusync_i18n::{Language, Message};

#[derive(clap::Args)]
pub(crate) struct BackupArgs {
    /// The backup file to write (mode 0600: it holds the node's private key).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    pub(crate) target: NodeTarget,
}

#[derive(clap::Args)]
pub(crate) struct RestoreArgs {
    /// A file written by `edusync backup`.
    file: PathBuf,
    /// The config of the node to restore; its data directory must hold no store yet.
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// Restore without asking, after saying what the backup cannot bring back.
    #[arg(long)]
    yes: bool,
}

pub(crate) async fn backup(args: BackupArgs, language: Language) -> Result<(), Failure> {
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
    println!("{}", Message::BackupWritten { path: args.out.display().to_string(), bytes: bytes.len() }.text(language));
    Ok(())
}

pub(crate) fn restore(args: RestoreArgs, language: Language) -> Result<(), Failure> {
    let config = NodeConfig::load(&args.config)?;
    let bytes = std::fs::read(&args.file).map_err(|error| {
        Failure::input_message(Message::CannotRead { what: args.file.display().to_string(), error: error.to_string() })
    })?;
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
    // Local records never leave the school: say what a restore loses before it runs.
    let warning = match backup.taken_unix_ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(taken) => {
            let days = (chrono::Utc::now() - taken).num_days();
            Message::RestoreBackupTaken { taken: taken.format("%Y-%m-%d %H:%M UTC").to_string(), days }
        }
        None => Message::RestoreBackupTakenUnknown,
    };
    eprintln!("{}", warning.text(language));
    // Nobody at a terminal (a script, a cron job): only --yes restores.
    if !args.yes && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(Failure::input_message(Message::RestoreNeedsYes));
    }
    if !args.yes {
        eprint!("{}", Message::RestoreAskToContinue.text(language));
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes" | "c" | "có" | "co" | "是") {
            return Err(Failure::input_message(Message::RestoreNotConfirmed));
        }
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
    let data_dir = config.data_dir.display().to_string();
    println!("{}", Message::Restored { org: backup.org.to_string(), entries, data_dir }.text(language));
    println!("{}", Message::RestoredSignsNothingYet.text(language));
    Ok(())
}
