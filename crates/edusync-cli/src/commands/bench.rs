//! `edusync bench`: measurements that settings and claims rest on. Not part
//! of the test suite; run it in release mode (`cargo run --release`).

use clap::Subcommand;

use crate::failure::Failure;
use crate::output::json;

/// `edusync bench`: with no subcommand, every measurement in one run.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    command: Option<BenchCommand>,
    /// Children pushing to one parent at once.
    #[arg(long, default_value_t = 16)]
    children: u32,
    /// Backlog of each child, in records.
    #[arg(long, default_value_t = 5_000)]
    records_per_child: u32,
    /// Push batch size of the children in the ingest measurement.
    #[arg(long, default_value_t = 256)]
    ingest_batch_size: usize,
    /// Backlog of the school that catches up alone, in records.
    #[arg(long, default_value_t = 100_000)]
    catch_up_records: u32,
    /// Schools under the province in the re-derivation measurement ...
    #[arg(long, default_value_t = 1_000)]
    schools: u32,
    /// ... and the districts between them.
    #[arg(long, default_value_t = 15)]
    districts: u32,
    /// Seed of the synthetic school years.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// Envelopes signed and verified to measure the verification limit.
    #[arg(long, default_value_t = 20_000)]
    verification_sample: usize,
    /// Exit with status 1, naming each target that does not hold, after the
    /// report: for a machine that must keep the targets, not one that
    /// reports them.
    #[arg(long)]
    check: bool,
}

impl BenchArgs {
    /// The simulation runs a thousand nodes whose ordinary warnings (a
    /// school's privacy budget spent, say) would bury its report.
    pub(crate) fn default_log_level(&self) -> &'static str {
        if matches!(self.command, Some(BenchCommand::Simulate(_))) {
            "error"
        } else {
            "warn"
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Which push batch size catches a school's backlog up fastest: real
    /// nodes on loopback, the same backlog once per size, against the
    /// Ed25519 batch-verification rate of this machine.
    Sync {
        /// Backlog of the school, in records.
        #[arg(long, default_value_t = 10_000)]
        records: u32,
        /// Batch sizes to try, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [16usize, 64, 256, 1024])]
        sizes: Vec<usize>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// A province on flaky links, simulated in one process from a seed:
    /// real nodes, simulated network and clock. Reports the days to
    /// convergence and fails (exit 1) unless every parent holds exactly its
    /// children's shared logs, nothing was stored twice, and the province's
    /// total is the sum of what the schools derived.
    Simulate(SimulateArgs),
    /// What disclosure control costs a reader's query as an office grows:
    /// the tables of N children for a school year and its two semesters, by
    /// every query dimension, as a node discloses them together on the year's
    /// first query, and how much they hide.
    /// What readers get under differential privacy, against what cell
    /// suppression hid: synthetic provinces of N schools (districts of 8),
    /// for each budget per release, level and dimension, the mean absolute
    /// error of the released school-year cells, the share within ±2 at 90%,
    /// and the share suppression hides of the same tables.
    Privacy {
        /// Schools per province, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [15usize, 70, 200, 400])]
        schools: Vec<usize>,
        /// Budgets to compare: rho per release, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [0.1f64, 0.25, 0.5, 1.0, 2.0])]
        rho: Vec<f64>,
        #[arg(long, default_value_t = 2024)]
        seed: u64,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// How fast an office's pages load in the web app: the synthetic
    /// province (by default one district of 1,000 schools, and the province
    /// above it) on real nodes on loopback, each dashboard page fetched
    /// twice over HTTP. The second fetch is reported against the 300 ms
    /// budget and against the node's own gRPC answer behind the page,
    /// measured in the same run.
    Web {
        #[arg(long, default_value_t = 1_000)]
        schools: u32,
        #[arg(long, default_value_t = 1)]
        districts: u32,
        #[arg(long, default_value_t = 2024)]
        seed: u64,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    Disclose {
        /// Numbers of children, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [15usize, 70, 200])]
        units: Vec<usize>,
        #[arg(long, default_value_t = 2024)]
        seed: u64,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
pub(crate) struct SimulateArgs {
    #[arg(long, default_value_t = 1_000)]
    schools: u32,
    #[arg(long, default_value_t = 15)]
    districts: u32,
    /// Seed of everything drawn: records, keys, links, cuts.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// Days over which the schools write their school year's records.
    #[arg(long, default_value_t = 28)]
    writing_days: u32,
    /// Long-run share of time each node is online.
    #[arg(long, default_value_t = 0.7)]
    online_probability: f64,
    /// Mean length of an outage, in days.
    #[arg(long, default_value_t = 2.0)]
    mean_outage_days: f64,
    /// Chance that a push batch is cut mid-way and its acknowledgement lost.
    #[arg(long, default_value_t = 0.1)]
    cut_probability: f64,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Days after the last record by which the province must hold everything.
    #[arg(long, default_value_t = 120)]
    patience_days: u32,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: BenchArgs) -> Result<(), Failure> {
    let Some(command) = args.command else { return suite(args).await };
    match command {
        BenchCommand::Simulate(args) => simulate(args).await,
        BenchCommand::Disclose { units, seed, json: as_json } => disclose(&units, seed, as_json),
        BenchCommand::Web { schools, districts, seed, json: as_json } => web(schools, districts, seed, as_json).await,
        BenchCommand::Privacy { schools, rho, seed, json: as_json } => privacy(&schools, &rho, seed, as_json),
        BenchCommand::Sync { records, sizes, json: as_json } => {
            if records == 0 || records > 1_000_000 {
                return Err(Failure::input("--records: between 1 and 1000000"));
            }
            if sizes.is_empty() || sizes.iter().any(|size| !(1..=100_000).contains(size)) {
                return Err(Failure::input("--sizes: each between 1 and 100000"));
            }
            if cfg!(debug_assertions) {
                eprintln!(
                    "note: a debug build; figures for docs/benchmarks.md come from `cargo run --release -- bench sync`"
                );
            }
            let report = edusync_bench::measure_batch_sizes(records, &sizes)
                .await
                .map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
            if as_json {
                println!("{}", json(&report));
                return Ok(());
            }
            println!(
                "limit: Ed25519 verification {:.0}/s one by one, {:.0}/s in strict batches, {:.0}/s one by one on {} threads ({} envelopes)",
                report.limit.single_per_second,
                report.limit.batch_per_second,
                report.limit.parallel_per_second,
                report.limit.threads,
                report.limit.envelopes
            );
            println!(
                "the limit: {} at {:.0}/s, the fastest of the three",
                report.limit.fastest().0,
                report.limit.fastest().1
            );
            println!("BATCH  RECORDS  SECONDS  RECORDS/S  OF THE LIMIT");
            for point in &report.points {
                println!(
                    "{:>5}  {:>7}  {:>7.2}  {:>9.0}  {:>12.2}",
                    point.batch_size,
                    point.records,
                    point.seconds,
                    point.records_per_second,
                    point.of_verification_limit
                );
            }
            println!(
                "recommended sync.batch_size: {} (the smallest within 5% of the best)",
                report.recommended_batch_size
            );
            Ok(())
        }
    }
}

async fn web(schools: u32, districts: u32, seed: u64, as_json: bool) -> Result<(), Failure> {
    if !(1..=5_000).contains(&schools) || districts == 0 || districts > schools {
        return Err(Failure::input("--schools: 1 to 5000; --districts: 1 to --schools"));
    }
    if cfg!(debug_assertions) {
        eprintln!("note: a debug build; figures for docs/benchmarks.md come from `cargo run --release -- bench web`");
    }
    eprintln!("building a province of {schools} schools in {districts} district(s), a school year each…");
    let report = edusync_bench::measure_dashboard(schools, districts, seed)
        .await
        .map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
    if as_json {
        println!("{}", json(&report));
        return Ok(());
    }
    println!(
        "{} schools in {} district(s), {} records; each page fetched twice, the second against the {:.0} ms budget \
         and against the node's own gRPC answer behind it (same run)",
        report.schools, report.districts, report.school_records, report.budget_ms
    );
    println!(
        "{:<12} {:>5}  {:<40} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9}",
        "OFFICE", "UNITS", "PAGE", "BYTES", "FIRST MS", "MS", "NODE MS", "OF NODE", "OF BUDGET"
    );
    for page in &report.pages {
        println!(
            "{:<12} {:>5}  {:<40} {:>9} {:>9.1} {:>9.1} {:>8.1} {:>8.1} {:>9.2}",
            page.office,
            page.children,
            page.page,
            page.bytes,
            page.first_ms,
            page.second_ms,
            page.node_ms,
            page.second_ms / page.node_ms.max(0.001),
            page.second_ms / report.budget_ms
        );
    }
    let over: Vec<&str> =
        report.pages.iter().filter(|page| page.second_ms > report.budget_ms).map(|page| page.page.as_str()).collect();
    if over.is_empty() {
        println!("every page loads within {:.0} ms at its second request", report.budget_ms);
    } else {
        println!("OVER the {:.0} ms budget at the second request: {}", report.budget_ms, over.join(", "));
    }
    Ok(())
}

async fn simulate(args: SimulateArgs) -> Result<(), Failure> {
    let options = edusync_bench::SimulationOptions {
        schools: args.schools,
        districts: args.districts,
        seed: args.seed,
        writing_days: args.writing_days,
        online_probability: args.online_probability,
        mean_outage_days: args.mean_outage_days,
        cut_probability: args.cut_probability,
        batch_size: args.batch_size,
        patience_days: args.patience_days,
    };
    let run = tokio::task::spawn_blocking(move || edusync_bench::simulate(options))
        .await
        .map_err(|error| Failure::other(anyhow::anyhow!("the simulation stopped: {error}")))?
        .map_err(|error| match error {
            edusync_bench::BenchError::Options(problem) => Failure::input(problem),
            other => Failure::other(anyhow::anyhow!("{other}")),
        })?;
    if args.json {
        println!("{}", json(&run));
        return Ok(());
    }
    let (options, traffic) = (&run.options, &run.traffic);
    println!(
        "province of {} schools in {} districts, seed {}: {} records written over {} days",
        options.schools, options.districts, options.seed, run.records_written, options.writing_days
    );
    println!(
        "links: online {:.0}% of the time (drawn: {:.0}% offline, longest outage {:.1} days), {:.0}% of batches cut",
        options.online_probability * 100.0,
        run.offline_share * 100.0,
        run.longest_outage_days,
        options.cut_probability * 100.0
    );
    println!(
        "traffic: {} sessions ({} resumed from the child's own cursor), {} batches cut, {} envelopes offered, {} stored, {} replays acknowledged without storing",
        traffic.sessions,
        traffic.resumed_from_own_cursor,
        traffic.batches_cut,
        traffic.envelopes_offered,
        traffic.envelopes_stored,
        traffic.replays_acknowledged
    );
    println!(
        "converged {:.2} simulated days after the last record was written ({:.1} s of wall time)",
        run.days_to_convergence, run.wall_seconds
    );
    println!(
        "checked: {} parents hold their child's shared log envelope for envelope ({} envelopes, each stored once); \
         the province counts {} incident cases, the schools were given {}",
        run.logs_identical_at_parents,
        run.shared_envelopes,
        run.incident_cases_in_province_total,
        run.incidents_given_to_schools
    );
    Ok(())
}

/// Every measurement, the JSON document on standard output and a table on
/// standard error: `edusync bench > bench.json` keeps both.
async fn suite(args: BenchArgs) -> Result<(), Failure> {
    if args.children == 0 || args.records_per_child == 0 || args.catch_up_records == 0 {
        return Err(Failure::input("--children, --records-per-child and --catch-up-records: at least 1"));
    }
    if args.districts == 0 || args.schools < args.districts {
        return Err(Failure::input("--schools: at least one per district (--districts at least 1)"));
    }
    if !(100..=1_000_000).contains(&args.verification_sample) {
        return Err(Failure::input("--verification-sample: between 100 and 1000000"));
    }
    if !(1..=100_000).contains(&args.ingest_batch_size) {
        return Err(Failure::input("--ingest-batch-size: between 1 and 100000"));
    }
    if cfg!(debug_assertions) {
        eprintln!("note: a debug build; figures for docs/benchmarks.md come from `cargo run --release --bin edusync -- bench`");
    }
    let binary = std::env::current_exe().map_err(|error| {
        Failure::other(anyhow::anyhow!("cannot find this executable to run a parent node: {error}"))
    })?;
    let options = edusync_bench::SuiteOptions {
        binary,
        children: args.children,
        records_per_child: args.records_per_child,
        ingest_batch_size: args.ingest_batch_size,
        catch_up_records: args.catch_up_records,
        catch_up_batch_size: edusync_config::DEFAULT_BATCH_SIZE,
        schools: args.schools,
        districts: args.districts,
        seed: args.seed,
        verification_sample: args.verification_sample,
    };
    let suite = edusync_bench::run_suite(options).await.map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
    eprint!("{}", suite_tables(&suite, chrono::Utc::now().date_naive()));
    println!("{}", json(&suite));
    let missed: Vec<&str> =
        suite.targets.iter().filter(|target| !target.holds).map(|target| target.name.as_str()).collect();
    if args.check && !missed.is_empty() {
        return Err(Failure::other(anyhow::anyhow!("targets not held on this machine: {}", missed.join("; "))));
    }
    Ok(())
}

/// The report as docs/benchmarks.md's two Markdown tables (measurements,
/// then targets), so its figures are pasted from this command's output
/// rather than retyped.
fn suite_tables(suite: &edusync_bench::Suite, today: chrono::NaiveDate) -> String {
    let (limit, ingest, catch_up, rederive) = (&suite.limit, &suite.ingest, &suite.catch_up, &suite.rederive);
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let build = if suite.machine.release_build { "release build" } else { "debug build: not for docs/benchmarks.md" };
    let mut rows = vec![
        format!("On this {}-core machine ({build}, {today}):", suite.machine.cores),
        String::new(),
        "| measurement | figure |".to_owned(),
        "|---|---|".to_owned(),
        format!("| Ed25519 `verify_strict`, one by one | {} /s |", grouped(limit.single_per_second)),
        format!("| Ed25519 strict batch verification (`verify_many`) | {} /s |", grouped(limit.batch_per_second)),
        format!(
            "| Ed25519 `verify_strict` over {} threads (`verify_parallel`) | {} /s |",
            limit.threads,
            grouped(limit.parallel_per_second)
        ),
        format!("| the limit ratios divide by: the fastest of these ({}) | {} /s |", limit.fastest().0, grouped(limit.fastest().1)),
        format!(
            "| durable ingest at a district, {} schools × {} records, batch {} | {} /s |",
            ingest.children,
            grouped(f64::from(ingest.records_per_child)),
            ingest.batch_size,
            grouped(ingest.records_per_second)
        ),
        format!(
            "| acknowledgement latency p50 / p99 ({} batches; {} schools with 2 batches in flight each) | {:.0} / {:.0} ms |",
            ingest.ack_latency_samples, ingest.children, ingest.ack_latency_p50_ms, ingest.ack_latency_p99_ms
        ),
        format!(
            "| catch-up of one school's {} records, batch {} | {:.2} s ({} /s) |",
            grouped(catch_up.records as f64),
            catch_up.batch_size,
            catch_up.seconds,
            grouped(catch_up.records_per_second)
        ),
        format!(
            "| province re-derivation, {} schools, after one school's new incident | {:.3} s (district {:.3}, province {:.3}) |",
            grouped(f64::from(rederive.schools)),
            rederive.seconds,
            rederive.district_seconds,
            rederive.province_seconds
        ),
        format!(
            "| district process memory, idle / at peak under ingest | {:.1} / {:.1} MiB |",
            mib(ingest.idle_rss_bytes),
            mib(ingest.peak_rss_bytes)
        ),
        String::new(),
        "| target | measured | bound | holds |".to_owned(),
        "|---|---|---|---|".to_owned(),
    ];
    for target in &suite.targets {
        let measured = match target.unit {
            "ratio" => format!("{:.2}", target.measured),
            "MiB" => format!("{:.1} MiB", target.measured),
            unit => format!("{:.3} {unit}", target.measured),
        };
        let bound = match target.unit {
            "ratio" => format!("{} {}", target.rule, target.bound),
            unit => format!("{} {} {unit}", target.rule, target.bound),
        };
        let holds = if target.holds { "yes" } else { "**no**" };
        rows.push(format!("| {} | {measured} | {bound} | {holds} |", target.name));
    }
    rows.iter().map(|row| format!("{row}\n")).collect()
}

/// A rate or count rounded to a whole number, its thousands separated by
/// commas as docs/benchmarks.md writes them.
fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn privacy(schools: &[usize], rho: &[f64], seed: u64, as_json: bool) -> Result<(), Failure> {
    if schools.is_empty() || schools.iter().any(|count| !(1..=2_000).contains(count)) {
        return Err(Failure::input("--schools: each between 1 and 2000"));
    }
    if rho.is_empty() || rho.iter().any(|value| !(value.is_finite() && *value > 0.0 && *value <= 50.0)) {
        return Err(Failure::input("--rho: each a number above 0 and at most 50"));
    }
    let micro: Vec<u64> = rho.iter().map(|value| (value * 1e6).round() as u64).collect();
    let report = edusync_bench::measure_privacy(schools, &micro, seed)
        .map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
    if as_json {
        println!("{}", json(&report));
        return Ok(());
    }
    println!(
        "School-year tables: mean absolute error / share of cells within ±2 (90%), per rho per release; \
         last column: share cell suppression hides"
    );
    let mut keys: Vec<(usize, &str)> = report.points.iter().map(|point| (point.schools, point.level)).collect();
    keys.dedup();
    for (schools, level) in keys {
        let here: Vec<&edusync_bench::PrivacyPoint> =
            report.points.iter().filter(|point| point.schools == schools && point.level == level).collect();
        let cases = here.first().map_or(0, |point| point.incident_cases);
        println!(
            "\n{schools} schools, {cases} cases: the {level}'s table{}",
            if level == "district" { "s (rows: schools)" } else { " (rows: districts)" }
        );
        let mut header = format!("{:<14}", "DIMENSION");
        for value in rho {
            header.push_str(&format!(" {:>15}", format!("rho {value}")));
        }
        println!("{header} {:>10}", "SUPPRESSED");
        for dimension in edusync_rollup::query::Dimension::ALL {
            let mut line = format!("{:<14}", dimension.name());
            let mut suppressed = 0.0;
            for point in here.iter().filter(|point| point.dimension == dimension.name()) {
                line.push_str(&format!(
                    " {:>15}",
                    format!("{:.2} / {:>3.0}%", point.mean_absolute_error, point.within_two * 100.0)
                ));
                suppressed = point.suppressed;
            }
            println!("{line} {:>9.0}%", suppressed * 100.0);
        }
        // All seven dimensions together, weighted by cells: what docs/benchmarks.md quotes.
        let mut all = format!("{:<14}", "all");
        let mut covered = format!("{:<14}", "exact in ±m");
        let mut all_suppressed = 0.0;
        for value in rho {
            let points: Vec<_> = here.iter().filter(|point| point.rho_per_release == *value).collect();
            let cells = points.iter().map(|point| point.cells).sum::<usize>().max(1) as f64;
            let weighted = |of: fn(&edusync_bench::PrivacyPoint) -> f64| {
                points.iter().map(|point| of(point) * point.cells as f64).sum::<f64>() / cells
            };
            all.push_str(&format!(
                " {:>15}",
                format!("{:.2} / {:>3.0}%", weighted(|p| p.mean_absolute_error), weighted(|p| p.within_two) * 100.0)
            ));
            covered.push_str(&format!(" {:>15}", format!("{:.0}%", weighted(|p| p.covered) * 100.0)));
            all_suppressed = weighted(|p| p.suppressed);
        }
        println!("{all} {:>9.0}%", all_suppressed * 100.0);
        println!("{covered}");
    }
    let sigma: Vec<String> = rho
        .iter()
        .zip(&micro)
        .filter_map(|(value, micro)| {
            let sigma = edusync_privacy::Sigma::for_cost(
                edusync_privacy::MicroRho(*micro),
                edusync_rollup::released::release_sensitivity(),
            )
            .ok()?;
            let per_case = edusync_privacy::MicroRho(micro * u64::from(report.releases_per_semester * report.levels));
            Some(format!(
                "rho {value}: sigma {:.2}, epsilon {:.1} per case from the tables",
                sigma.as_f64(),
                per_case.epsilon_at(1e-6)
            ))
        })
        .collect();
    println!(
        "\nOne case over {} releases a semester at each of {} levels (district, province, ministry), at delta 1e-6:\n  {}",
        report.releases_per_semester,
        report.levels,
        sigma.join("\n  ")
    );
    Ok(())
}

fn disclose(units: &[usize], seed: u64, as_json: bool) -> Result<(), Failure> {
    if units.is_empty() || units.iter().any(|count| !(1..=2_000).contains(count)) {
        return Err(Failure::input("--units: each between 1 and 2000"));
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "note: a debug build; figures for docs/benchmarks.md come from `cargo run --release -- bench disclose`"
        );
    }
    let report =
        edusync_bench::measure_disclosure(units, seed).map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
    if as_json {
        println!("{}", json(&report));
        return Ok(());
    }
    println!("UNITS  CASES  ROWS  HIDDEN OF VALUES  SECONDS (21 TABLES: A YEAR AND ITS SEMESTERS BY 7 DIMENSIONS)");
    for point in &report.points {
        println!(
            "{:>5}  {:>5}  {:>4}  {:>6} of {:>6} ({:>4.1}%)  {:>8.3}",
            point.units,
            point.incident_cases,
            point.rows,
            point.hidden,
            point.values,
            point.hidden_share * 100.0,
            point.seconds
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn figures_are_grouped_by_thousands_as_the_readme_writes_them() {
        assert_eq!(grouped(0.0), "0");
        assert_eq!(grouped(999.4), "999");
        assert_eq!(grouped(1_000.0), "1,000");
        assert_eq!(grouped(13_059.2), "13,059");
        assert_eq!(grouped(1_234_567.0), "1,234,567");
        assert_eq!(grouped(-3.0), "0");
    }
}
