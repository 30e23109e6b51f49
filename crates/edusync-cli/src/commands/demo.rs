//! `edusync demo`.

use std::path::PathBuf;

use edusync_core::SchoolYear;
use edusync_demo::{run_demo, DemoOptions, DemoReport};

use crate::failure::Failure;
use crate::output::{json, pad};

#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    #[arg(long, default_value_t = 1)]
    provinces: usize,
    #[arg(long, default_value_t = 2)]
    districts: usize,
    /// Schools in each district.
    #[arg(long, default_value_t = 3)]
    schools: usize,
    /// Keep every node's config, key and store here (an empty directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seed of the synthetic records; the same seed writes the same records.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// The school year to fill, e.g. 2024-2025; defaults to the last complete one.
    #[arg(long)]
    school_year: Option<String>,
    /// Print one JSON document instead of tables.
    #[arg(long)]
    json: bool,
    /// Keep the hierarchy running and serve the web app for the ministry's
    /// operator, one school's operator and a data officer of the province;
    /// prints one address for each. Stop with Ctrl-C.
    #[arg(long)]
    web: bool,
}

pub(crate) async fn run(args: DemoArgs, language: edusync_i18n::Language) -> Result<(), Failure> {
    let school_year = match &args.school_year {
        Some(text) => {
            text.parse::<SchoolYear>().map_err(|error| Failure::input(format!("--school-year: {}", error.reason)))?
        }
        None => last_complete_school_year()?,
    };
    let options = DemoOptions {
        provinces: args.provinces,
        districts_per_province: args.districts,
        schools_per_district: args.schools,
        dir: args.dir,
        seed: args.seed,
        school_year,
    };
    let failed = |error: edusync_demo::DemoError| match error {
        edusync_demo::DemoError::Options(_) | edusync_demo::DemoError::Directory { .. } => {
            Failure::input(error.to_string())
        }
        other => Failure::other(anyhow::Error::new(other)),
    };
    if !args.web {
        let report = run_demo(options).await.map_err(failed)?;
        if args.json {
            println!("{}", json(&report));
        } else {
            print_tables(&report);
        }
        return Ok(());
    }
    let (report, kept) = edusync_demo::run_demo_kept(options).await.map_err(failed)?;
    if args.json {
        println!("{}", json(&report));
    } else {
        print_tables(&report);
    }
    let served = serve_web(&kept, language).await;
    let stopped = kept.shutdown().await.map_err(failed);
    served.and(stopped)
}

/// The web app for each of the demo's people, until Ctrl-C.
async fn serve_web(kept: &edusync_demo::KeptDemo, language: edusync_i18n::Language) -> Result<(), Failure> {
    let utc_offset = chrono::FixedOffset::east_opt(7 * 3600).ok_or_else(|| Failure::input("no +07:00 offset"))?;
    let mut servers = Vec::new();
    println!();
    println!("The web app, one address per person (each signs one browser in, once):");
    for access in &kept.access {
        let (endpoint, org, key, chain) =
            (access.endpoint.clone(), access.org.clone(), std::sync::Arc::clone(&access.key), access.chain.clone());
        let connect: edusync_web::Connect = std::sync::Arc::new(move || {
            let (endpoint, org, key, chain) =
                (endpoint.clone(), org.clone(), std::sync::Arc::clone(&key), chain.clone());
            Box::pin(async move {
                let channel = tonic::transport::Endpoint::from_shared(endpoint.clone())
                    .map_err(|error| format!("{endpoint}: {error}"))?
                    .connect()
                    .await
                    .map_err(|error| format!("cannot reach {endpoint}: {error}"))?;
                let session = edusync_node::open_session(channel.clone(), &org, &key, chain)
                    .await
                    .map_err(|status| status.message().to_owned())?;
                Ok((channel, session.bearer, session.role))
            })
        });
        let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let running = edusync_web::start(edusync_web::WebOptions { listen, tls: None, language, utc_offset, connect })
            .await
            .map_err(|error| Failure::input(error.to_string()))?;
        println!("  {:<28} {}", access.label, running.sign_in_url);
        servers.push(running);
    }
    println!("Stop with Ctrl-C.");
    let waiting = futures_wait(servers);
    tokio::select! {
        served = waiting => served,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// Until the first web server stops on an error.
async fn futures_wait(servers: Vec<edusync_web::Running>) -> Result<(), Failure> {
    let (sender, mut receiver) = tokio::sync::mpsc::channel(servers.len().max(1));
    for server in servers {
        let sender = sender.clone();
        tokio::spawn(async move {
            let _ = sender.send(server.wait().await).await;
        });
    }
    drop(sender);
    match receiver.recv().await {
        Some(Err(error)) => Err(Failure::other(anyhow::anyhow!("{error}"))),
        _ => Ok(()),
    }
}

fn last_complete_school_year() -> Result<SchoolYear, Failure> {
    let today = chrono::Utc::now().date_naive();
    let current =
        SchoolYear::containing(today).ok_or_else(|| Failure::input("today is outside the supported school years"))?;
    let start = u32::from(current.start_year()).saturating_sub(1).max(2000);
    SchoolYear::new("school_year", start).map_err(|error| Failure::input(error.to_string()))
}

fn print_tables(report: &DemoReport) {
    println!(
        "edusync demo: school year {}, {} nodes on 127.0.0.1, {} records written in {:.1} s, synced in {:.1} s ({:.1} s in all)",
        report.school_year,
        report.nodes.len(),
        report.records_written,
        report.fill_seconds,
        report.sync_seconds,
        report.total_seconds
    );
    println!();
    println!(
        "What each node holds (own = written there; received = from its children, verified; AGGR = signed aggregates):"
    );
    println!(
        "{} {} {} {} {} {} {} {} {} {} PARENT HAS",
        pad("ORGANISATION", 20),
        pad("NAME", 32),
        pad("OWN", 4),
        pad("RECEIVED", 8),
        pad("PLANS", 5),
        pad("REPORTS", 7),
        pad("COMMIT", 6),
        pad("INCIDENTS", 9),
        pad("RISK", 4),
        pad("AGGR", 4),
    );
    for node in &report.nodes {
        let depth = node.org_id.matches('.').count();
        let indent = "  ".repeat(depth);
        let received: u64 = node.from_children.values().sum();
        let acknowledged = match node.acknowledged_by_parent {
            Some(acknowledged) => format!("{acknowledged}/{} shared", node.shared_log_head),
            None => "-".to_owned(),
        };
        println!(
            "{} {} {} {} {} {} {} {} {} {} {}",
            pad(&format!("{indent}{}", node.org_id), 20),
            pad(&node.display_name, 32),
            pad(&node.own.total().to_string(), 4),
            pad(&received.to_string(), 8),
            pad(&node.held.plan.to_string(), 5),
            pad(&node.held.periodic_report.to_string(), 7),
            pad(&node.held.commitment.to_string(), 6),
            pad(&node.held.incident.to_string(), 9),
            pad(&node.held.risk_register.to_string(), 4),
            pad(&node.held.aggregate.to_string(), 4),
            acknowledged
        );
    }
    println!();
    println!(
        "Incident cases in school year {}, from each node's latest signed aggregate (exact counts; each total is",
        report.school_year
    );
    println!("its own count plus the sum of its children's aggregates, committed to by a Merkle sum tree):");
    println!(
        "{} {} {} {} {} {} {} {} {} REVISION",
        pad("ORGANISATION", 20),
        pad("CASES", 6),
        pad("MINOR", 6),
        pad("SERIOUS", 8),
        pad("SEVERE", 7),
        pad("NOTIFIED<=12H", 14),
        pad("OVERDUE", 8),
        pad("SCHOOLS", 8),
        pad("CROSSES", 9),
    );
    for node in &report.nodes {
        let Some(totals) = &node.totals else { continue };
        let indent = "  ".repeat(node.org_id.matches('.').count());
        println!(
            "{} {} {} {} {} {} {} {} {} {}",
            pad(&format!("{indent}{}", node.org_id), 20),
            pad(&totals.incident_cases.to_string(), 6),
            pad(&totals.minor.to_string(), 6),
            pad(&totals.serious.to_string(), 8),
            pad(&totals.severe.to_string(), 7),
            pad(&totals.notified_within_12_hours.to_string(), 14),
            pad(&totals.investigations_overdue.to_string(), 8),
            pad(&totals.contributing_schools.to_string(), 8),
            pad(totals.crosses, 9),
            totals.revision
        );
    }
    println!();
    println!("The same, as a data officer is shown it: each unit's cases exact (its compliance table shows them);");
    println!("how they break down released by each office under differential privacy, every count with its 90%");
    println!("margin (12±3), from a release charged to the office's privacy ledger and the same for every reader");
    println!("until the next scheduled one:");
    println!("{} {} {} {} SEVERE", pad("ORGANISATION", 20), pad("CASES", 6), pad("MINOR", 8), pad("SERIOUS", 8));
    let cell = |value: Option<edusync_rollup::released::Noisy>| match value {
        Some(noisy) if noisy.margin > 0 => format!("{}±{}", noisy.value, noisy.margin),
        Some(noisy) => noisy.value.to_string(),
        None => "-".to_owned(),
    };
    for row in &report.reader_view {
        let label = row.org_id.clone().unwrap_or_else(|| "(office's own)".to_owned());
        println!(
            "{} {} {} {} {}",
            pad(&format!("{}{label}", "  ".repeat(row.depth)), 20),
            pad(&row.cases.to_string(), 6),
            pad(&cell(row.minor), 8),
            pad(&cell(row.serious), 8),
            cell(row.severe)
        );
    }
    let verification = &report.verification;
    println!(
        "CROSSES: victims and perpetrators by sex x grade band x at-risk group leave each school only with discrete"
    );
    println!("Laplace noise (epsilon 0.5 per release, 2.0 per school year by default), once the period has ended.");
    println!();
    if verification.verified {
        println!(
            "Verified from the ministry down: {} signatures and {} roll-ups (totals and Merkle roots) check; the ministry's {} cases",
            verification.signatures_checked, verification.roll_ups_checked, verification.ministry_incident_cases
        );
        println!("equal the {} counted directly from the schools' raw records.", verification.schools_incident_cases);
    } else {
        println!("VERIFICATION FAILED:");
        for problem in &verification.problems {
            println!("  {problem}");
        }
    }
    let school_incidents: u64 =
        report.nodes.iter().filter(|node| node.level == "school").map(|node| node.held.incident).sum();
    let school_registers: u64 =
        report.nodes.iter().filter(|node| node.level == "school").map(|node| node.held.risk_register).sum();
    let equivocations: usize = report.nodes.iter().map(|node| node.equivocations).sum();
    println!();
    println!(
        "Raw records stay local: {school_incidents} incidents and {school_registers} risk registers (with children's names), and the periodic reports, are held only by the schools that wrote them."
    );
    println!(
        "Every parent holds its children's whole shared logs, each record once; equivocations seen: {equivocations}."
    );
    if report.kept {
        println!("Configs, keys and stores kept in {}", report.directory);
    } else {
        println!("The temporary directory {} was removed; pass --dir to keep it.", report.directory);
    }
}
