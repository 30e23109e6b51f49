//! Workbooks written for people: a bold header row, numbers stored as
//! numbers (so sums and filters work in a spreadsheet program), and
//! drop-down lists where a column takes one of a closed set of values.

use rust_xlsxwriter::{DataValidation, Format, Workbook, XlsxError};

/// One cell of a row to write.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
    Empty,
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::Text(text.to_owned())
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell::Text(text)
    }
}

impl From<u64> for Cell {
    fn from(number: u64) -> Cell {
        // Counts of cases stay far below 2^53, where f64 is exact.
        Cell::Number(number as f64)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write the workbook: {0}")]
pub struct WriteError(#[from] XlsxError);

/// A workbook of one sheet: `header` in bold, then `rows`. Each of
/// `choices` is a column (zero-based) whose cells below the header offer a
/// drop-down of the given values, for as many rows as `choice_rows`.
pub fn xlsx(
    sheet_name: &str,
    header: &[String],
    rows: &[Vec<Cell>],
    choices: &[(u16, Vec<String>)],
    choice_rows: u32,
) -> Result<Vec<u8>, WriteError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name(sheet_name)?;
    let bold = Format::new().set_bold();
    for (column, title) in (0u16..).zip(header) {
        sheet.write_string_with_format(0, column, title, &bold)?;
        sheet.set_column_width(column, (title.chars().count().max(12) + 2) as f64)?;
    }
    for (row, cells) in (1u32..).zip(rows) {
        for (column, cell) in (0u16..).zip(cells) {
            match cell {
                Cell::Text(text) => sheet.write_string(row, column, text)?,
                Cell::Number(number) => sheet.write_number(row, column, *number)?,
                Cell::Empty => sheet,
            };
        }
    }
    for (column, values) in choices {
        let validation = DataValidation::new().allow_list_strings(values)?;
        sheet.add_data_validation(1, *column, choice_rows.max(1), *column, &validation)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(workbook.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read, Format as FileFormat};

    #[test]
    fn a_written_workbook_reads_back_with_numbers_as_numbers() {
        let header = vec!["Unit".to_owned(), "Cases".to_owned()];
        let rows = vec![vec![Cell::from("D01-S001"), Cell::from(12u64)], vec![Cell::from("Tổng"), Cell::Empty]];
        let choices = vec![(0u16, vec!["D01-S001".to_owned(), "Tổng".to_owned()])];
        let bytes = xlsx("tables", &header, &rows, &choices, 100).expect("writes");
        let read = read(&bytes, FileFormat::Xlsx).expect("reads back");
        assert_eq!(read[0], header);
        assert_eq!(read[1], vec!["D01-S001".to_owned(), "12".to_owned()]);
        assert_eq!(read[2], vec!["Tổng".to_owned()]);
    }
}
