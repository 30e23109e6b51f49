//! `edusync bench`: measurements that settings and claims rest on. Not part
//! of the test suite; run it in release mode (`cargo run --release`).

use clap::Subcommand;

use crate::failure::Failure;
use crate::output::json;

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
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: BenchCommand) -> Result<(), Failure> {
    match command {
        BenchCommand::Sync { records, sizes, json: as_json } => {
            if records == 0 || records > 1_000_000 {
                return Err(Failure::input("--records: between 1 and 1000000"));
            }
            if sizes.is_empty() || sizes.iter().any(|size| !(1..=100_000).contains(size)) {
                return Err(Failure::input("--sizes: each between 1 and 100000"));
            }
            if cfg!(debug_assertions) {
                eprintln!("note: a debug build; figures for the README come from `cargo run --release -- bench sync`");
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
            println!("BATCH  RECORDS  SECONDS  RECORDS/S  OF BATCH-VERIFY LIMIT");
            for point in &report.points {
                println!(
                    "{:>5}  {:>7}  {:>7.2}  {:>9.0}  {:>20.2}",
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
