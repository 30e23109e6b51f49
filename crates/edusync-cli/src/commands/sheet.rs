//! `edusync template` and `edusync import`: records kept in spreadsheets.
//! The whole file is checked before anything is stored.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use edusync_core::{RecordKind, ValidationError};
use edusync_i18n::{Language, Message};
use edusync_proto::wire;
use edusync_sheet::RowProblem;

use super::NodeTarget;
use crate::failure::Failure;

#[derive(clap::Args)]
pub(crate) struct TemplateArgs {
    /// commitment or periodic_report (headers, labels and the example row in the --language given)
    kind: String,
    /// csv or xlsx
    #[arg(long, default_value = "xlsx")]
    format: String,
    /// The earlier name of the global --language, which sets the headers' language too.
    #[arg(long, hide = true)]
    lang: Option<String>,
    /// Where to write the template; never overwritten.
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
pub(crate) struct ImportArgs {
    /// A .csv or .xlsx file whose first row holds the headers (any language).
    file: PathBuf,
    /// commitment or periodic_report
    #[arg(long)]
    kind: String,
    /// Store the good rows and write the bad ones to --rejects, instead of
    /// storing nothing unless every row is good.
    #[arg(long, requires = "rejects")]
    skip_invalid: bool,
    /// Where --skip-invalid writes the bad rows (CSV, with a reason column).
    #[arg(long)]
    rejects: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) target: NodeTarget,
}

fn parse_kind(text: &str) -> Result<RecordKind, Failure> {
    text.parse::<RecordKind>()
        .map_err(|error| Failure::invalid(None, ValidationError { field: "--kind".into(), ..error }))
}

/// The file's rows, its size checked before it is read into memory.
fn read_file(path: &Path) -> Result<Vec<Vec<String>>, String> {
    let size = std::fs::metadata(path).map_err(|error| error.to_string())?.len();
    edusync_cells::check_file_size(size).map_err(|error| error.to_string())?;
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    let format = edusync_cells::Format::of_name(&path.to_string_lossy());
    edusync_cells::read(&bytes, format).map_err(|error| error.to_string())
}

pub(crate) fn template(args: TemplateArgs, language: Language) -> Result<(), Failure> {
    let kind = parse_kind(&args.kind)?;
    let lang = match &args.lang {
        Some(text) => Language::parse(text).ok_or_else(|| Failure::input("--lang: vi, zh or en"))?,
        None => language,
    };
    let (header, example) = edusync_sheet::template(kind, lang)
        .map_err(|error| Failure::input_message(Message::Said { text: error.text(language) }))?;
    if args.out.exists() {
        return Err(Failure::input(format!("--out: {} exists; it is not overwritten", args.out.display())));
    }
    match args.format.as_str() {
        "csv" => {
            let mut writer = csv::Writer::from_path(&args.out).map_err(|error| {
                Failure::input_message(Message::CannotWrite {
                    path: args.out.display().to_string(),
                    error: error.to_string(),
                })
            })?;
            for row in [&header, &example] {
                writer.write_record(row).map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
            }
            writer.flush().map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
        }
        "xlsx" => {
            let bytes =
                edusync_sheet::template_xlsx(kind, lang).map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
            std::fs::write(&args.out, bytes).map_err(|error| {
                Failure::input_message(Message::CannotWrite {
                    path: args.out.display().to_string(),
                    error: error.to_string(),
                })
            })?;
        }
        other => return Err(Failure::input(format!("--format: `{other}` is not csv or xlsx"))),
    }
    let written = Message::TemplateWritten { path: args.out.display().to_string(), kind: kind.to_string() };
    println!("{}", written.text(language));
    Ok(())
}

fn said(problem: &RowProblem, language: Language) -> String {
    let RowProblem { row, column, value, reason } = problem;
    let reason = edusync_i18n::reason(reason, language);
    Message::RowProblem { row: *row, column: column.clone(), value: value.clone(), reason }.text(language)
}

fn write_rejects(
    path: &Path,
    cells: &[Vec<String>],
    problems: &[RowProblem],
    language: Language,
) -> Result<(), Failure> {
    let mut writer = csv::Writer::from_path(path).map_err(|error| {
        Failure::input_message(Message::CannotWrite {
            path: format!("{} (--rejects)", path.display()),
            error: error.to_string(),
        })
    })?;
    let failed = |error: csv::Error| Failure::other(anyhow::anyhow!("{error}"));
    let mut header = cells.first().cloned().unwrap_or_default();
    header.push(Message::RejectsReasonHeader.text(language));
    writer.write_record(&header).map_err(failed)?;
    let mut rows: Vec<usize> = problems.iter().map(|problem| problem.row).collect();
    rows.dedup();
    for row in rows {
        let mut line = cells.get(row - 1).cloned().unwrap_or_default();
        // Rows end at their last cell with text: the reason goes under its header.
        if line.len() < header.len() - 1 {
            line.resize(header.len() - 1, String::new());
        }
        let reasons: Vec<String> = problems
            .iter()
            .filter(|problem| problem.row == row)
            .map(|problem| format!("{}: {}", problem.column, edusync_i18n::reason(&problem.reason, language)))
            .collect();
        line.push(reasons.join("; "));
        writer.write_record(&line).map_err(failed)?;
    }
    writer.flush().map_err(|error| Failure::other(anyhow::anyhow!("{error}")))
}

/// Rows per SubmitRecords call: small enough for a progress bar that moves,
/// and within the node's limit.
const CHUNK_ROWS: usize =
    if edusync_node::MAX_RECORDS_PER_SUBMISSION < 250 { edusync_node::MAX_RECORDS_PER_SUBMISSION } else { 250 };

/// The `i` of a node's `records[i]...` in an error message.
fn chunk_index(message: &str) -> Option<usize> {
    let rest = &message[message.find("records[")? + "records[".len()..];
    rest[..rest.find(']')?].parse().ok()
}

pub(crate) async fn import(args: ImportArgs, language: Language) -> Result<(), Failure> {
    let kind = parse_kind(&args.kind)?;
    let cells = read_file(&args.file).map_err(|error| {
        Failure::input_message(Message::CannotRead { what: args.file.display().to_string(), error: error.to_string() })
    })?;
    let (records, problems) = edusync_sheet::read_rows(kind, &cells, chrono::Utc::now()).map_err(|error| {
        Failure::input_message(Message::InFile { file: args.file.display().to_string(), said: error.text(language) })
    })?;
    if !problems.is_empty() {
        let rows = {
            let mut rows: Vec<usize> = problems.iter().map(|problem| problem.row).collect();
            rows.dedup();
            rows.len()
        };
        let file = args.file.display().to_string();
        eprintln!("{}", Message::BadRows { file, bad: rows, total: rows + records.len() }.text(language));
        for problem in &problems {
            eprintln!("  {}", said(problem, language));
        }
        match (&args.rejects, args.skip_invalid) {
            (Some(rejects), true) => {
                write_rejects(rejects, &cells, &problems, language)?;
                eprintln!("{}", Message::RejectsWritten { path: rejects.display().to_string() }.text(language));
            }
            _ => return Err(Failure::input_message(Message::NothingStoredFixRows { rows })),
        }
    }
    let mut client = args.target.connect().await?;
    let terminal = std::io::stderr().is_terminal();
    let (mut stored, mut already) = (0usize, 0usize);
    let total = records.len();
    // In chunks of whole calls: each is checked as a whole and flushed once,
    // so a large sheet costs a disk sync per chunk, not per row.
    let mut done = 0;
    for chunk in records.chunks(CHUNK_ROWS) {
        let request = wire::SubmitRecordsRequest { records: chunk.iter().map(|(_, record)| record.into()).collect() };
        let answer = client.submit_records(request).await.map_err(|status| {
            // The node names a bad record as records[i]: say which row of the file that is.
            let row = chunk_index(status.message()).and_then(|index| chunk.get(index)).map(|(row, _)| *row);
            let place = match row {
                Some(row) => format!("{}:{row}", args.file.display()),
                None => args.file.display().to_string(),
            };
            match status.code() {
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled => Failure::from_write_status(
                    status,
                    &format!(
                        "The first {done} rows were stored. Running the same import again is safe: rows already stored are answered \"already stored\"."
                    ),
                ),
                _ => Failure::from_status_at(Some(place), status),
            }
        })?;
        let results = answer.into_inner().results;
        already += results.iter().filter(|result| result.already_stored).count();
        stored += results.iter().filter(|result| !result.already_stored).count();
        done += chunk.len();
        if terminal {
            eprint!(
                "\r[{}{}] {}",
                "#".repeat(done * 30 / total.max(1)),
                " ".repeat(30 - done * 30 / total.max(1)),
                Message::RowsProgress { done, total }.text(language)
            );
            if done == total {
                eprintln!();
            }
        } else {
            eprintln!("{}", Message::RowsProgress { done, total }.text(language));
        }
    }
    let rejected = {
        let mut rows: Vec<usize> = problems.iter().map(|problem| problem.row).collect();
        rows.dedup();
        rows.len()
    };
    let file = args.file.display().to_string();
    println!("{}", Message::Imported { file, stored, already, rejected }.text(language));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::chunk_index;

    #[test]
    fn the_record_a_node_names_is_found_in_its_message() {
        assert_eq!(chunk_index("invalid input: records[12].signed_on: in the future"), Some(12));
        assert_eq!(chunk_index("records: 0 given"), None);
        assert_eq!(chunk_index("records[x]"), None);
    }
}
