//! Spreadsheet files to rows of text and back. Reading keeps memory bounded
//! by constants whatever the file holds: every way a small file can ask for
//! a large amount of memory (inflation, far-apart cells, one long shared
//! string referenced by every cell, millions of empty fields) meets a limit
//! before that memory is taken. The command line reads files from disk and
//! the web app reads uploads; both go through `read`.

use std::io::Cursor;

use calamine::{Data, DataRef, DataType, Reader};

mod write;

pub use write::{xlsx, Cell, WriteError};

/// Why a file cannot be read as rows, and what to do about it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Unreadable(String);

impl From<String> for Unreadable {
    fn from(message: String) -> Unreadable {
        Unreadable(message)
    }
}

/// How a file's bytes are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    /// By the file name's extension: `.xlsx` is a workbook, anything else CSV.
    pub fn of_name(name: &str) -> Format {
        let xlsx =
            std::path::Path::new(name).extension().is_some_and(|extension| extension.eq_ignore_ascii_case("xlsx"));
        if xlsx {
            Format::Xlsx
        } else {
            Format::Csv
        }
    }
}

/// What a spreadsheet may hold. A school's commitments or reports are a
/// few thousand rows at most. Together these keep the cells of any file
/// under about 150 MiB (places × 24 bytes + text) before the rows are
/// checked; `spreadsheet_bombs_are_refused_by_their_limit_in_bounded_memory`
/// measures it.
pub mod limits {
    /// The file on disk.
    pub const FILE_BYTES: u64 = 32 << 20;
    /// Any one part of an XLSX once inflated, and all parts together.
    pub const PART_INFLATED_BYTES: u64 = 32 << 20;
    pub const TOTAL_INFLATED_BYTES: u64 = 64 << 20;
    /// The parts a reader keeps whole in memory besides the cells (the
    /// sheet list, styles, relationships, content types), each inflated:
    /// a workbook's are a few kilobytes.
    pub const STRUCTURE_PART_BYTES: u64 = 4 << 20;
    /// Entries of the shared-string table, each kept with its own overhead:
    /// more than a sheet of 100,000 rows can use.
    pub const SHARED_STRINGS: u64 = 1_000_000;
    /// Rows below the header.
    pub const ROWS: usize = 100_000;
    /// Characters in one cell.
    pub const CELL_CHARS: usize = 4_096;
    /// Columns a sheet may reach (the widest template has a dozen).
    pub const COLUMNS: usize = 256;
    /// Cell places kept, counting the blanks before a row's last cell:
    /// 100,000 rows of 20 columns.
    pub const PLACES: usize = 2_000_000;
    /// Bytes of text in all cells together, after shared strings are
    /// expanded: as much as the largest file may hold.
    pub const TEXT_BYTES: usize = 32 << 20;
}

/// Refuses a file larger than `limits::FILE_BYTES` before it is read.
pub fn check_file_size(size: u64) -> Result<(), Unreadable> {
    if size > limits::FILE_BYTES {
        return Err(Unreadable(format!(
            "the file is {size} bytes; a spreadsheet for import may be at most {} bytes ({} MiB): split it into several files",
            limits::FILE_BYTES,
            limits::FILE_BYTES >> 20
        )));
    }
    Ok(())
}

/// Every cell of the first sheet (XLSX) or of the file (CSV), as text,
/// within `limits`. The error says what was too large and what to do.
pub fn read(bytes: &[u8], format: Format) -> Result<Vec<Vec<String>>, Unreadable> {
    check_file_size(bytes.len() as u64)?;
    match format {
        Format::Xlsx => {
            check_inflated_size(bytes)?;
            Ok(read_xlsx(bytes)?)
        }
        Format::Csv => Ok(read_csv(bytes)?),
    }
}

/// Rows of text being filled, refusing any cell that would take the
/// whole past `limits`. Positions are zero-based.
#[derive(Default)]
struct Grid {
    rows: Vec<Vec<String>>,
    places: usize,
    text_bytes: usize,
}

impl Grid {
    /// Blank cells are not kept: a row ends at its last cell with text.
    fn put(&mut self, row: usize, column: usize, text: &str) -> Result<(), String> {
        if text.is_empty() {
            return Ok(());
        }
        if row > limits::ROWS {
            return Err(format!("more than {} rows; import at most that many at a time: split the file", limits::ROWS));
        }
        if column >= limits::COLUMNS {
            return Err(format!(
                "row {}: a cell in column {}; a sheet for import may reach column {}",
                row + 1,
                column + 1,
                limits::COLUMNS
            ));
        }
        // Bytes first: counting characters of a huge string costs time.
        if text.len() > limits::CELL_CHARS {
            let characters = text.chars().count();
            if characters > limits::CELL_CHARS {
                return Err(format!(
                    "row {}, column {}: a cell of {characters} characters; a cell may hold at most {}",
                    row + 1,
                    column + 1,
                    limits::CELL_CHARS
                ));
            }
        }
        self.text_bytes += text.len();
        if self.text_bytes > limits::TEXT_BYTES {
            return Err(format!(
                "the cells hold more than {} MiB of text (row {}); import fewer rows at a time: split the file",
                limits::TEXT_BYTES >> 20,
                row + 1
            ));
        }
        self.places += (row + 1).saturating_sub(self.rows.len()) + (column + 1).saturating_sub(self.width(row));
        if self.places > limits::PLACES {
            return Err(format!(
                "more than {} cells (row {}); import fewer rows or columns at a time: split the file",
                limits::PLACES,
                row + 1
            ));
        }
        if self.rows.len() <= row {
            self.rows.resize_with(row + 1, Vec::new);
        }
        let cells = &mut self.rows[row];
        if cells.len() <= column {
            cells.resize(column + 1, String::new());
        }
        cells[column] = text.to_owned();
        Ok(())
    }

    fn width(&self, row: usize) -> usize {
        self.rows.get(row).map_or(0, Vec::len)
    }

    /// The rows from the first row and column holding text, as a sheet's
    /// used range starts there.
    fn without_margins(mut self) -> Vec<Vec<String>> {
        let top = self.rows.iter().position(|cells| !cells.is_empty()).unwrap_or(self.rows.len());
        self.rows.drain(..top);
        let left =
            self.rows.iter().filter_map(|cells| cells.iter().position(|text| !text.is_empty())).min().unwrap_or(0);
        for cells in &mut self.rows {
            cells.drain(..left.min(cells.len()));
        }
        self.rows
    }
}

/// Fields are read one at a time, so a record of millions of empty fields
/// is refused at the first field past `limits::COLUMNS`, not held.
fn read_csv(bytes: &[u8]) -> Result<Vec<Vec<String>>, String> {
    use csv_core::ReadFieldResult;
    let mut reader = csv_core::Reader::new();
    // A UTF-8 character is at most 4 bytes: a field that fills this is too long.
    let mut field = vec![0u8; limits::CELL_CHARS * 4 + 1];
    let mut grid = Grid::default();
    let (mut input, mut row, mut column, mut written) = (bytes, 0usize, 0usize, 0usize);
    loop {
        let (result, read, wrote) = reader.read_field(input, &mut field[written..]);
        input = &input[read..];
        written += wrote;
        match result {
            // All of `input` is taken; the next call, with nothing, says the file ends.
            ReadFieldResult::InputEmpty => {}
            ReadFieldResult::OutputFull => return Err(too_long(row, column)),
            ReadFieldResult::Field { record_end } => {
                put_csv_field(&mut grid, row, column, &field[..written])?;
                written = 0;
                if record_end {
                    (row, column) = (row + 1, 0);
                } else {
                    column += 1;
                    if column >= limits::COLUMNS {
                        return Err(format!(
                            "row {}: more than {} fields; a sheet for import may reach column {}",
                            row + 1,
                            limits::COLUMNS,
                            limits::COLUMNS
                        ));
                    }
                }
            }
            ReadFieldResult::End => return Ok(grid.without_margins()),
        }
    }
}

fn put_csv_field(grid: &mut Grid, row: usize, column: usize, bytes: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        format!("row {}, column {}: the text is not UTF-8; save the file as \"CSV UTF-8\"", row + 1, column + 1)
    })?;
    grid.put(row, column, text.trim_start_matches('\u{feff}'))
}

fn too_long(row: usize, column: usize) -> String {
    format!(
        "row {}, column {}: a cell of more than {} characters; a cell may hold at most {}",
        row + 1,
        column + 1,
        limits::CELL_CHARS,
        limits::CELL_CHARS
    )
}

/// Cells are streamed from the sheet's XML, and a shared string is counted
/// against the text limit before it is copied into a cell, so 500,000 cells
/// naming one long string are refused, not expanded.
fn read_xlsx(bytes: &[u8]) -> Result<Vec<Vec<String>>, String> {
    let opened = calamine::Xlsx::new(Cursor::new(bytes));
    let mut workbook = opened.map_err(|error: calamine::XlsxError| {
        format!("the workbook's parts (sheet list, styles or shared strings) are malformed: {error}")
    })?;
    let first = workbook.sheet_names().first().cloned().ok_or_else(|| "the workbook has no sheet".to_owned())?;
    let malformed = |error: calamine::XlsxError| format!("the XML of sheet `{first}` is malformed: {error}");
    let mut cells = workbook.worksheet_cells_reader(&first).map_err(malformed)?;
    let mut grid = Grid::default();
    while let Some(cell) = cells.next_cell().map_err(malformed)? {
        let (row, column) = cell.get_position();
        let (row, column) = (row as usize, column as usize);
        match cell.get_value() {
            DataRef::Empty => {}
            DataRef::SharedString(text) => grid.put(row, column, text)?,
            DataRef::String(text) | DataRef::DateTimeIso(text) | DataRef::DurationIso(text) => {
                grid.put(row, column, text.as_str())?
            }
            value => {
                let value = Data::from(value.clone());
                let text = match value.as_date() {
                    Some(date) if value.is_datetime() => date.to_string(),
                    _ => value.to_string(),
                };
                grid.put(row, column, &text)?
            }
        }
    }
    Ok(grid.without_margins())
}

/// Reads the cell references (`r="XFD1048576"`) of a worksheet's XML as it
/// inflates, keeping the furthest row and column, to refuse a sheet whose
/// cells lie far apart before it is opened.
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

/// Counts the entries of a shared-string table (`<si>`, `<si/>`, `<x:si>`)
/// as it inflates.
#[derive(Default)]
struct SharedStringCount {
    /// The last three bytes seen, oldest first.
    recent: [u8; 3],
    entries: u64,
}

impl std::io::Write for SharedStringCount {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for &byte in bytes {
            let [before, s, i] = self.recent;
            if matches!(byte, b'>' | b'/' | b' ' | b'\t' | b'\r' | b'\n')
                && s == b's'
                && i == b'i'
                && matches!(before, b'<' | b':')
            {
                self.entries += 1;
            }
            self.recent = [s, i, byte];
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a part of an XLSX may inflate to, by its role (`name` as stored).
fn part_limit(name: &str) -> u64 {
    let normalized = name.replace('\\', "/").to_ascii_lowercase();
    match normalized.as_str() {
        "xl/workbook.xml" | "xl/styles.xml" | "xl/_rels/workbook.xml.rels" | "[content_types].xml" | "_rels/.rels" => {
            limits::STRUCTURE_PART_BYTES
        }
        _ => limits::PART_INFLATED_BYTES,
    }
}

/// Inflates every part of an XLSX (a zip archive) into nothing, counting,
/// and refuses it past the limits before anything keeps what it inflates.
/// What the archive declares is not trusted: the bytes are counted.
fn check_inflated_size(bytes: &[u8]) -> Result<(), String> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|error| format!("not an XLSX workbook: {error}"))?;
    let mut total = 0u64;
    for index in 0..archive.len() {
        let part = archive.by_index(index).map_err(|error| format!("not an XLSX workbook: {error}"))?;
        let name = part.name().to_owned();
        // One byte past the limit is enough to know.
        let limit = part_limit(&name);
        let mut limited = std::io::Read::take(part, limit + 1);
        let mut reach = CellReach::default();
        let mut shared = SharedStringCount::default();
        let inflated = if name.starts_with("xl/worksheets/") {
            std::io::copy(&mut limited, &mut reach)
        } else if name.replace('\\', "/").eq_ignore_ascii_case("xl/sharedStrings.xml") {
            std::io::copy(&mut limited, &mut shared)
        } else {
            std::io::copy(&mut limited, &mut std::io::sink())
        }
        .map_err(|error| format!("part {name} does not inflate: {error}"))?;
        if shared.entries > limits::SHARED_STRINGS {
            return Err(format!(
                "part {name} holds more than {} shared strings; a workbook for import holds a few thousand rows: this one is refused",
                limits::SHARED_STRINGS
            ));
        }
        if reach.furthest_row == u64::MAX || reach.furthest_column == u64::MAX {
            return Err(format!("sheet {name} holds a cell reference that is not a cell (r=\"…\" too long)"));
        }
        if reach.furthest_row > limits::ROWS as u64 + 1 || reach.furthest_column > limits::COLUMNS as u64 {
            return Err(format!(
                "sheet {name} places a cell at row {}, column {}; a sheet for import may reach row {} and column {}",
                reach.furthest_row,
                reach.furthest_column,
                limits::ROWS + 1,
                limits::COLUMNS
            ));
        }
        if inflated > limit {
            return Err(format!(
                "part {name} inflates to more than {} MiB; a workbook for import holds a few thousand rows: this one is refused as a decompression bomb",
                limit >> 20
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_keep_quotes_skip_blank_lines_and_drop_the_byte_order_mark() {
        let rows = read_csv("\u{feff}a,\"b, c\"\r\n\n\"say \"\"hi\"\"\",,x\n".as_bytes()).expect("reads");
        assert_eq!(rows, vec![vec!["a", "b, c"], vec!["say \"hi\"", "", "x"]]);
    }

    #[test]
    fn a_csv_file_without_a_final_newline_keeps_its_last_field() {
        assert_eq!(read_csv(b"a,b\nc,d").expect("reads"), vec![vec!["a", "b"], vec!["c", "d"]]);
    }

    #[test]
    fn a_csv_record_of_a_million_empty_fields_is_refused_at_the_column_limit() {
        let error = read_csv(&vec![b','; 1_000_000]).expect_err("refused");
        assert!(error.contains("more than 256 fields"), "{error}");
    }

    #[test]
    fn a_csv_cell_past_the_limit_is_refused_whatever_its_bytes() {
        let error = read_csv("é".repeat(4_097).as_bytes()).expect_err("refused");
        assert!(error.contains("at most 4096"), "{error}");
        assert_eq!(read_csv("é".repeat(4_096).as_bytes()).expect("4,096 characters fit")[0][0].chars().count(), 4_096);
    }

    #[test]
    fn invalid_utf8_names_its_cell() {
        let error = read_csv(b"a,b\nc,\xff\n").expect_err("refused");
        assert!(error.starts_with("row 2, column 2"), "{error}");
    }

    #[test]
    fn a_grid_counts_blank_places_and_text_against_the_limits() {
        let mut grid = Grid::default();
        let long = "x".repeat(4_000);
        let error = (0..limits::ROWS)
            .try_for_each(|row| (0..3).try_for_each(|column| grid.put(row, column, &long)))
            .expect_err("refused");
        assert!(error.contains("MiB of text"), "{error}");

        let mut grid = Grid::default();
        let error = (0..=limits::ROWS).try_for_each(|row| grid.put(row, 25, "x")).expect_err("refused");
        assert!(error.contains("more than 2000000 cells"), "{error}");
    }

    #[test]
    fn the_used_range_starts_at_the_first_row_and_column_with_text() {
        let mut grid = Grid::default();
        grid.put(2, 1, "header").expect("fits");
        grid.put(3, 2, "value").expect("fits");
        assert_eq!(grid.without_margins(), vec![vec!["header".to_owned()], vec![String::new(), "value".to_owned()]]);
    }
}
