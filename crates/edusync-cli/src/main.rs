//! The `edusync` command. It parses arguments, reads the environment
//! (`EDUSYNC_LOG`, `EDUSYNC_LOG_FORMAT`, `EDUSYNC_NODE`), installs logging,
//! and calls into the library crates; no domain logic lives here.
//!
//! Exit status: 0 success, 1 failure, 2 bad input (arguments, config, record),
//! 3 the node could not be reached, 4 the node refused the caller
//! (unauthenticated, or not permitted).

mod commands;
mod failure;
mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use edusync_i18n::Language;

use crate::failure::Failure;

#[derive(Parser)]
#[command(
    name = "edusync",
    version,
    about = "Signed school-violence prevention records, synced up the education hierarchy"
)]
struct Cli {
    /// Log format on standard error: plain or json.
    #[arg(long, global = true, env = "EDUSYNC_LOG_FORMAT", default_value = "plain")]
    log_format: String,
    /// Language of messages: vi, zh or en (default: the config's
    /// node.language, else the locale from LC_ALL, LC_MESSAGES or LANG,
    /// else English).
    #[arg(long, global = true, env = "EDUSYNC_LANGUAGE")]
    language: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create this node's data directory and signing key.
    Init {
        /// The node's config file (node-config/ has one per level).
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a node.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Write and read records on a running node.
    Record {
        #[command(subcommand)]
        command: commands::record::RecordCommand,
    },
    /// Show what a running node holds and how its link to its parent is doing.
    Info {
        #[command(flatten)]
        target: commands::NodeTarget,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Sneakernet: carry records up, and acknowledgements, plans and policies down, as files.
    Bundle {
        #[command(subcommand)]
        command: commands::bundle::BundleCommand,
    },
    /// At a glance: the link to the parent (last contact, outbox, refusals), the children, notices and the policy in force.
    Status(commands::status::StatusArgs),
    /// Sync with the parent now rather than at the node's next interval.
    Sync {
        #[command(subcommand)]
        command: commands::sync::SyncCommand,
    },
    /// Open a session and print its `authorization` header, for grpcurl and other generic gRPC clients.
    Session(commands::session::SessionArgs),
    /// Fetch a node's aggregate for a period with what it summed, and verify it here.
    Rollup {
        /// e.g. 2024-2025, 2024-2025/S1 or 2024-2025/M10
        #[arg(long)]
        period: String,
        #[command(flatten)]
        target: commands::NodeTarget,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Each child's reports and staff pledges against the deadlines in force, incident timeliness, repeated incidents, and the alerts.
    Compliance(commands::compliance::ComplianceArgs),
    /// Children's totals for a period by one dimension, and the trend: exact for the operator, released with margins for readers.
    Query(commands::query::QueryArgs),
    /// The web app for this node's operator (--config) or a reader (--node --identity --certificate): prints an address to open.
    Web(commands::web::WebArgs),
    /// A report for people: totals, units' incidents by category, the trend by semester and the compliance table, as a table, CSV, JSON or one HTML file with charts.
    Report(commands::report::ReportArgs),
    /// Audit bundles: export a node's aggregate with everything needed to check it; verify one offline.
    Audit {
        #[command(subcommand)]
        command: commands::audit::AuditCommand,
    },
    /// Certificates: request one, sign a child's, install this node's, approve online requests.
    Enroll {
        #[command(subcommand)]
        command: commands::trust::EnrollCommand,
    },
    /// Keys: generate root and reader keys, certify a top node with root keys, rotate a node's key.
    Keys {
        #[command(subcommand)]
        command: commands::trust::KeysCommand,
    },
    /// Revoke a key this node (or one below it) certified.
    Revoke(commands::trust::RevokeArgs),
    /// An empty spreadsheet (CSV or XLSX) for a kind, headers in vi, zh or en, with an example row.
    Template(commands::sheet::TemplateArgs),
    /// Records from a CSV or XLSX file (headers in any language); checked whole before anything is stored.
    Import(commands::sheet::ImportArgs),
    /// A consistent snapshot of a running node (its store and key) in one file.
    Backup(commands::backup::BackupArgs),
    /// Restore a backup into an empty data directory; the node then signs nothing until its parent has answered.
    Restore(commands::backup::RestoreArgs),
    /// Measurements on this machine, each against a limit measured in the same run.
    Bench(commands::bench::BenchArgs),
    /// TLS files for a node's gRPC server.
    Tls {
        #[command(subcommand)]
        command: commands::tls::TlsCommand,
    },
    /// Run a whole hierarchy on this machine, fill it with a school year, sync it, and show each level.
    Demo(commands::demo::DemoArgs),
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Serve gRPC and sync with the parent until interrupted (SIGINT or SIGTERM).
    Run {
        /// The node's config file (node-config/ has one per level).
        #[arg(long)]
        config: PathBuf,
        /// Override server.listen.
        #[arg(long)]
        listen: Option<String>,
        /// Override parent.endpoint.
        #[arg(long)]
        parent_endpoint: Option<String>,
    },
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    let language = match language(cli.language.as_deref(), config_of(&cli.command)) {
        Ok(language) => language,
        Err(failure) => return failure.report(Language::English),
    };
    let default_level = match &cli.command {
        Command::Bench(args) => args.default_log_level(),
        Command::Demo(_) => "warn",
        _ => "info",
    };
    if let Err(failure) = install_logging(&cli.log_format, default_level) {
        return failure.report(language);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            return Failure::other(anyhow::anyhow!("cannot start the async runtime: {error}")).report(language)
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Init { config } => commands::init::run(&config, language),
            Command::Node { command: NodeCommand::Run { config, listen, parent_endpoint } } => {
                commands::node::run(&config, listen, parent_endpoint).await
            }
            Command::Record { command } => commands::record::run(command, language).await,
            Command::Info { target, json } => commands::info::run(&target, json, language).await,
            Command::Sync { command } => commands::sync::run(command, language).await,
            Command::Bundle { command } => commands::bundle::run(command, language).await,
            Command::Status(args) => commands::status::run(args, language).await,
            Command::Session(args) => commands::session::run(args).await,
            Command::Rollup { period, target, json } => commands::rollup::run(&period, &target, json, language).await,
            Command::Demo(args) => commands::demo::run(args, language).await,
            Command::Enroll { command } => commands::trust::enroll(command, language).await,
            Command::Keys { command } => commands::trust::keys(command),
            Command::Revoke(args) => commands::trust::revoke(args).await,
            Command::Tls { command } => commands::tls::run(command),
            Command::Bench(args) => commands::bench::run(args).await,
            Command::Audit { command } => commands::audit::run(command).await,
            Command::Compliance(args) => commands::compliance::run(args, language).await,
            Command::Report(args) => commands::report::run(args, language).await,
            Command::Query(args) => commands::query::run(args, language).await,
            Command::Web(args) => commands::web::run(args, language).await,
            Command::Backup(args) => commands::backup::backup(args, language).await,
            Command::Template(args) => commands::sheet::template(args, language),
            Command::Import(args) => commands::sheet::import(args, language).await,
            Command::Restore(args) => commands::backup::restore(args, language),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(language),
    }
}

/// `edusync record list | head`: once the reader has gone, printing fails,
/// and `println!` panics. A Unix tool stops quietly then, so this does, with
/// the status a shell gives a command ended by SIGPIPE (128 + 13); any other
/// panic is reported as before.
fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        report(info);
    }));
}

/// The language of messages: `--language` (or `EDUSYNC_LANGUAGE`), else the
/// config's `node.language` when the command names a config, else the
/// locale, else English. A config that does not load is left for the
/// command itself to report.
fn language(explicit: Option<&str>, config: Option<&Path>) -> Result<Language, Failure> {
    if let Some(text) = explicit {
        return Language::parse(text)
            .ok_or_else(|| Failure::input(format!("--language: `{text}` is not vi, zh or en")));
    }
    let configured = config.and_then(|path| edusync_config::NodeConfig::load(path).ok()).and_then(|c| c.language);
    Ok(configured.or_else(|| Language::from_locale(|name| std::env::var(name).ok())).unwrap_or_default())
}

/// The config file a command acts on, if it names one.
fn config_of(command: &Command) -> Option<&Path> {
    match command {
        Command::Init { config } | Command::Node { command: NodeCommand::Run { config, .. } } => Some(config),
        Command::Info { target, .. } | Command::Rollup { target, .. } => target.config_path(),
        Command::Status(args) => args.target.config_path(),
        Command::Sync { command } => command.target().config_path(),
        Command::Session(args) => args.target.config_path(),
        Command::Report(args) => args.target.config_path(),
        Command::Compliance(args) => args.target.config_path(),
        Command::Record { command } => command.target().config_path(),
        Command::Import(args) => args.target.config_path(),
        Command::Backup(args) => args.target.config_path(),
        Command::Restore(args) => Some(args.config.as_path()),
        _ => None,
    }
}

fn install_logging(format: &str, default_level: &str) -> Result<(), Failure> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("EDUSYNC_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    match format {
        "plain" => builder.init(),
        "json" => builder.json().init(),
        other => return Err(Failure::input(format!("--log-format: `{other}` is not plain or json"))),
    }
    Ok(())
}
