//! `edusync template` and `edusync import`: records kept in spreadsheets.
//! The whole file is checked before anything is stored.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use calamine::{DataType, Reader};
use edusync_core::{RecordKind, ValidationError};
use edusync_i18n::{Language, Message};
use edusync_proto::wire;
use edusync_sheet::RowProblem;

use super::NodeTarget;
use crate::failure::Failure;

#[derive(clap::Args)]
pub(crate) struct TemplateArgs {
    /// commitment or periodic_report
    kind: String,
    /// csv or xlsx
    #[arg(long, default_value = "xlsx")]
    format: String,
    /// Header language: vi, zh or en (default: the language of messages).
    #[arg(long)]
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

fn is_xlsx(path: &Path) -> bool {
    path.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("xlsx"))
}

pub(crate) fn template(args: TemplateArgs, language: Language) -> Result<(), Failure> {
    let kind = parse_kind(&args.kind)?;
    let lang = match &args.lang {
        Some(text) => Language::parse(text).ok_or_else(|| Failure::input("--lang: vi, zh or en"))?,
        None => language,
    };
    let (header, example) = edusync_sheet::template(kind, lang).map_err(|error| Failure::input(error.to_string()))?;
    if args.out.exists() {
        return Err(Failure::input(format!("--out: {} exists; it is not overwritten", args.out.display())));
    }
    match args.format.as_str() {
        "csv" => {
            let mut writer = csv::Writer::from_path(&args.out)
                .map_err(|error| Failure::input(format!("cannot write {}: {error}", args.out.display())))?;
            for row in [&header, &example] {
                writer.write_record(row).map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
            }
            writer.flush().map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
        }
        "xlsx" => {
            let mut workbook = rust_xlsxwriter::Workbook::new();
            let sheet = workbook.add_worksheet();
            let bold = rust_xlsxwriter::Format::new().set_bold();
            for (column, (title, value)) in header.iter().zip(&example).enumerate() {
                let column = u16::try_from(column).map_err(|_| Failure::input("too many columns"))?;
                let written = sheet
                    .write_string_with_format(0, column, title, &bold)
                    .and_then(|sheet| sheet.write_string(1, column, value))
                    .and_then(|sheet| sheet.set_column_width(column, (title.chars().count().max(12) + 2) as f64));
                written.map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
            }
            workbook
                .save(&args.out)
                .map_err(|error| Failure::input(format!("cannot write {}: {error}", args.out.display())))?;
        }
        other => return Err(Failure::input(format!("--format: `{other}` is not csv or xlsx"))),
    }
    let written = Message::TemplateWritten { path: args.out.display().to_string(), kind: kind.to_string() };
    println!("{}", written.text(language));
    Ok(())
}

/// What a spreadsheet may hold. A school's commitments or reports are a
/// few thousand rows at most; these bounds refuse decompression bombs before
/// they inflate and keep ordinary files small (100,000 bad rows: 145 MiB).
/// Not yet bounded: cells repeating one long shared string, and CSV rows of
/// millions of empty fields (an outside attack reached gigabytes).
mod limits {
    /// The file on disk.
    pub(super) const FILE_BYTES: u64 = 32 << 20;
    /// Any one part of an XLSX once inflated, and all parts together.
    pub(super) const PART_INFLATED_BYTES: u64 = 32 << 20;
    pub(super) const TOTAL_INFLATED_BYTES: u64 = 64 << 20;
    /// Rows below the header.
    pub(super) const ROWS: usize = 100_000;
    /// Characters in one cell.
    pub(super) const CELL_CHARS: usize = 4_096;
    /// Columns a sheet may reach (the widest template has a dozen).
    pub(super) const COLUMNS: u64 = 256;
}

/// Reads the cell references (`r="XFD1048576"`) of a worksheet's XML as it
/// inflates, keeping the furthest row and column: a reader that lays a sheet
/// out as rows × columns must not be handed two cells a million rows apart.
#[derive(Default)]
struct CellReach {
    /// How much of ` r="` the bytes just seen match.
    matched: usize,
    in_reference: bool,
    column: u64,
    row: u64,
    furthest_row: u64,
    furthest_column: u64,
}

impl std::io::Write for CellReach {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        const OPENING: &[u8] = b" r=\"";
        for &byte in bytes {
            if self.in_reference {
                match byte {
                    b'A'..=b'Z' => {
                        self.column = self.column.saturating_mul(26).saturating_add(u64::from(byte - b'A' + 1))
                    }
                    b'0'..=b'9' => self.row = self.row.saturating_mul(10).saturating_add(u64::from(byte - b'0')),
                    _ => {
                        self.furthest_row = self.furthest_row.max(self.row);
                        self.furthest_column = self.furthest_column.max(self.column);
                        self.in_reference = false;
                    }
                }
                continue;
            }
            self.matched = if byte == OPENING[self.matched] {
                self.matched + 1
            } else if byte == OPENING[0] {
                1
            } else {
                0
            };
            if self.matched == OPENING.len() {
                (self.matched, self.in_reference, self.column, self.row) = (0, true, 0, 0);
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every cell of the first sheet (XLSX) or of the file (CSV), as text,
/// within `limits`.
fn read_cells(path: &Path) -> Result<Vec<Vec<String>>, Failure> {
    let unreadable = |error: String| Failure::input(format!("cannot read {}: {error}", path.display()));
    let size = std::fs::metadata(path).map_err(|error| unreadable(error.to_string()))?.len();
    if size > limits::FILE_BYTES {
        return Err(unreadable(format!(
            "the file is {} MiB; a spreadsheet for import may be at most {} MiB: split it into several files",
            size >> 20,
            limits::FILE_BYTES >> 20
        )));
    }
    let rows = if is_xlsx(path) {
        check_inflated_size(path).map_err(unreadable)?;
        let mut workbook = calamine::open_workbook_auto(path).map_err(|error| unreadable(error.to_string()))?;
        let range = workbook
            .worksheet_range_at(0)
            .ok_or_else(|| unreadable("the workbook has no sheet".into()))?
            .map_err(|error| unreadable(error.to_string()))?;
        let mut rows = Vec::new();
        for row in range.rows() {
            check_row_count(rows.len()).map_err(unreadable)?;
            rows.push(
                row.iter()
                    .map(|cell| match cell.as_date() {
                        Some(date) if cell.is_datetime() => date.to_string(),
                        _ => cell.to_string(),
                    })
                    .collect::<Vec<String>>(),
            );
        }
        rows
    } else {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(path)
            .map_err(|error| unreadable(error.to_string()))?;
        let mut rows = Vec::new();
        for record in reader.records() {
            check_row_count(rows.len()).map_err(unreadable)?;
            let record = record.map_err(|error| unreadable(error.to_string()))?;
            rows.push(
                record.iter().map(|cell| cell.trim_start_matches('\u{feff}').to_owned()).collect::<Vec<String>>(),
            );
        }
        rows
    };
    for (index, row) in rows.iter().enumerate() {
        if let Some((column, cell)) = row.iter().enumerate().find(|(_, cell)| cell.chars().count() > limits::CELL_CHARS)
        {
            return Err(unreadable(format!(
                "row {}, column {}: a cell of {} characters; a cell may hold at most {}",
                index + 1,
                column + 1,
                cell.chars().count(),
                limits::CELL_CHARS
            )));
        }
    }
    Ok(rows)
}

fn check_row_count(rows_so_far: usize) -> Result<(), String> {
    // The header row is not counted.
    if rows_so_far > limits::ROWS {
        return Err(format!("more than {} rows; import at most that many at a time: split the file", limits::ROWS));
    }
    Ok(())
}

/// Inflates every part of an XLSX (a zip archive) into nothing, counting,
/// and refuses it past the limits before anything keeps what it inflates.
/// What the archive declares is not trusted: the bytes are counted.
fn check_inflated_size(path: &Path) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|error| error.to_string())?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|error| format!("not an XLSX workbook: {error}"))?;
    let mut total = 0u64;
    for index in 0..archive.len() {
        let part = archive.by_index(index).map_err(|error| format!("not an XLSX workbook: {error}"))?;
        let name = part.name().to_owned();
        // One byte past the limit is enough to know.
        let mut limited = std::io::Read::take(part, limits::PART_INFLATED_BYTES + 1);
        let mut reach = CellReach::default();
        let inflated = if name.starts_with("xl/worksheets/") {
            std::io::copy(&mut limited, &mut reach)
        } else {
            std::io::copy(&mut limited, &mut std::io::sink())
        }
        .map_err(|error| format!("part {name} does not inflate: {error}"))?;
        if reach.furthest_row > limits::ROWS as u64 + 1 || reach.furthest_column > limits::COLUMNS {
            return Err(format!(
                "sheet {name} places a cell at row {}, column {}; a sheet for import may reach row {} and column {}",
                reach.furthest_row,
                reach.furthest_column,
                limits::ROWS + 1,
                limits::COLUMNS
            ));
        }
        if inflated > limits::PART_INFLATED_BYTES {
            return Err(format!(
                "part {name} inflates to more than {} MiB; a workbook for import holds a few thousand rows: this one is refused as a decompression bomb",
                limits::PART_INFLATED_BYTES >> 20
            ));
        }
        total += inflated;
        if total > limits::TOTAL_INFLATED_BYTES {
            return Err(format!(
                "the workbook inflates to more than {} MiB; a workbook for import holds a few thousand rows: this one is refused as a decompression bomb",
                limits::TOTAL_INFLATED_BYTES >> 20
            ));
        }
    }
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
    let mut writer = csv::Writer::from_path(path)
        .map_err(|error| Failure::input(format!("--rejects: cannot write {}: {error}", path.display())))?;
    let failed = |error: csv::Error| Failure::other(anyhow::anyhow!("{error}"));
    let mut header = cells.first().cloned().unwrap_or_default();
    header.push(Message::RejectsReasonHeader.text(language));
    writer.write_record(&header).map_err(failed)?;
    let mut rows: Vec<usize> = problems.iter().map(|problem| problem.row).collect();
    rows.dedup();
    for row in rows {
        let mut line = cells.get(row - 1).cloned().unwrap_or_default();
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
    let cells = read_cells(&args.file)?;
    let (records, problems) = edusync_sheet::read_rows(kind, &cells, chrono::Utc::now())
        .map_err(|error| Failure::input(format!("{}: {error}", args.file.display())))?;
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
