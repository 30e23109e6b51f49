//! Spreadsheets in and out for the people who keep records in them: the
//! columns of the tabular record kinds (commitments, periodic reports) with
//! headers and value labels in Vietnamese, Chinese and English, a template
//! row, and rows turned into checked records with every problem named by row,
//! column, value and reason.
//!
//! This crate is not a file reader: callers pass cells as text (from CSV or
//! XLSX), so every rule here is tested without files.

use edusync_core::{Reason, Record, RecordKind, ValidationContext, ValidationError};
pub use edusync_i18n::Language;

mod columns;

pub use columns::{columns, Column, ValueKind};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SheetError {
    #[error("{0} records are not kept in spreadsheets here; use `edusync record add` with JSON")]
    NotTabular(RecordKind),
    #[error("the file is empty: the first row must hold the column headers")]
    Empty,
    #[error("column {column} (`{header}`) is not a column of a {kind}; expected one of: {expected}")]
    UnknownColumn { column: usize, header: String, kind: RecordKind, expected: String },
    #[error("no column for `{field}` (header `{header}`); every column of the template is needed")]
    MissingColumn { field: &'static str, header: String },
    #[error("{0}")]
    Write(String),
}

impl SheetError {
    /// What went wrong, in `language`; headers named as the template names
    /// them in that language (the English `Display` is for logs).
    pub fn text(&self, language: Language) -> String {
        let kind_name = |kind: &RecordKind| edusync_i18n::value_name(kind.as_str(), language);
        match self {
            SheetError::NotTabular(kind) => language.pick([
                format!("{kind} records are not kept in spreadsheets here; use `edusync record add` with JSON"),
                format!(
                    "hồ sơ {} không nhập từ bảng tính; hãy dùng `edusync record add` với tệp JSON",
                    kind_name(kind)
                ),
                format!("{}记录不使用电子表格；请用 `edusync record add` 和 JSON 文件", kind_name(kind)),
            ]),
            SheetError::Empty => language
                .pick([
                    "the file is empty: the first row must hold the column headers",
                    "tệp trống: dòng đầu tiên phải là tiêu đề cột",
                    "文件为空：第一行必须是列标题",
                ])
                .to_owned(),
            SheetError::UnknownColumn { column, header, kind, .. } => {
                let expected = columns(*kind)
                    .map(|columns| columns.iter().map(|column| language.pick(column.headers)).collect::<Vec<_>>())
                    .unwrap_or_default()
                    .join("; ");
                language.pick([
                    format!("column {column} (`{header}`) is not a column of a {kind}; expected one of: {expected}"),
                    format!(
                        "cột {column} (`{header}`) không phải là cột của {}; cần một trong các cột: {expected}",
                        kind_name(kind)
                    ),
                    format!("第 {column} 列（`{header}`）不是{}的列；应为以下之一：{expected}", kind_name(kind)),
                ])
            }
            SheetError::MissingColumn { field, header } => language.pick([
                format!("no column for `{field}` (header `{header}`); every column of the template is needed"),
                format!("thiếu cột `{header}`; bảng tính cần đủ các cột của mẫu"),
                format!("缺少“{header}”列；需要模板中的每一列"),
            ]),
            SheetError::Write(message) => message.clone(),
        }
    }
}

/// A checked record and the spreadsheet row it came from.
pub type SheetRecord = (usize, Record);

/// One bad cell or row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowProblem {
    /// As the spreadsheet numbers it: the header is row 1.
    pub row: usize,
    /// The header of the column, as the file wrote it.
    pub column: String,
    pub value: String,
    pub reason: Reason,
}

/// The headers and one example row of a kind, in a language.
pub fn template(kind: RecordKind, language: Language) -> Result<(Vec<String>, Vec<String>), SheetError> {
    let columns = columns(kind).ok_or(SheetError::NotTabular(kind))?;
    let mut example: Vec<String> = columns.iter().map(|column| column.example(language)).collect();
    // Marked, so that a template imported untouched stores nothing.
    if let Some(first) = example.first_mut() {
        first.insert_str(0, language.pick(EXAMPLE_MARKS));
    }
    Ok((columns.iter().map(|column| language.pick(column.headers).to_owned()).collect(), example))
}

/// The template as an XLSX workbook: headers in `language`, the marked
/// example row with counts stored as numbers (so they sum), and drop-down
/// lists on the columns of a closed set, for the first thousand rows.
pub fn template_xlsx(kind: RecordKind, language: Language) -> Result<Vec<u8>, SheetError> {
    let (header, example) = template(kind, language)?;
    let columns = columns(kind).ok_or(SheetError::NotTabular(kind))?;
    let example: Vec<edusync_cells::Cell> = example
        .iter()
        .zip(columns)
        .map(|(text, column)| match (column.kind, text.parse::<u64>()) {
            (ValueKind::Count, Ok(count)) => edusync_cells::Cell::from(count),
            _ => edusync_cells::Cell::from(text.as_str()),
        })
        .collect();
    edusync_cells::xlsx(kind.as_str(), &header, &[example], &choices(kind, language), 1000)
        .map_err(|error| SheetError::Write(error.to_string()))
}

/// The columns of a kind that take one of a closed set of values, with the
/// values as `language` writes them: a spreadsheet offers them as drop-downs.
pub fn choices(kind: RecordKind, language: Language) -> Vec<(u16, Vec<String>)> {
    let Some(columns) = columns(kind) else { return Vec::new() };
    (0u16..)
        .zip(columns)
        .filter_map(|(index, column)| match column.kind {
            ValueKind::Choice(choices) => {
                Some((index, choices.iter().map(|(_, labels)| language.pick(*labels).to_owned()).collect()))
            }
            ValueKind::YesNo => Some((index, ["yes", "no"].iter().map(|word| yes_no(word, language)).collect())),
            _ => None,
        })
        .collect()
}

fn yes_no(word: &str, language: Language) -> String {
    match word {
        "yes" => language.pick(["yes", "có", "是"]).to_owned(),
        _ => language.pick(["no", "không", "否"]).to_owned(),
    }
}

/// How a template's example row begins, in English, Vietnamese and Chinese:
/// a row whose first cell begins so is refused, whatever the language.
pub const EXAMPLE_MARKS: [&str; 3] = ["EXAMPLE: ", "VÍ DỤ: ", "示例："];

/// Rows (the first is the header, in any of the languages) turned into
/// checked records. Every bad row is reported, not only the first; a record
/// is returned with its spreadsheet row number.
pub fn read_rows(
    kind: RecordKind,
    rows: &[Vec<String>],
    now: edusync_core::Timestamp,
) -> Result<(Vec<SheetRecord>, Vec<RowProblem>), SheetError> {
    let columns = columns(kind).ok_or(SheetError::NotTabular(kind))?;
    let (header, body) = rows.split_first().ok_or(SheetError::Empty)?;
    let mut positions = vec![None; columns.len()];
    for (index, cell) in header.iter().enumerate() {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        let found = columns.iter().position(|column| column.matches_header(cell));
        match found {
            Some(field) => positions[field] = Some(index),
            None => {
                return Err(SheetError::UnknownColumn {
                    column: index + 1,
                    header: cell.to_owned(),
                    kind,
                    expected: columns.iter().map(|column| column.headers[0]).collect::<Vec<_>>().join(", "),
                })
            }
        }
    }
    let mut at = Vec::with_capacity(columns.len());
    for (column, position) in columns.iter().zip(&positions) {
        let index = position
            .ok_or_else(|| SheetError::MissingColumn { field: column.field, header: column.headers[0].to_owned() })?;
        at.push(index);
    }
    let context = ValidationContext::at(now);
    let (mut records, mut problems) = (Vec::new(), Vec::new());
    for (offset, row) in body.iter().enumerate() {
        let row_number = offset + 2;
        if row.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        let cell = |index: usize| row.get(index).map(|text| text.trim()).unwrap_or_default();
        let first = row.iter().position(|text| !text.trim().is_empty()).unwrap_or(0);
        let marks = EXAMPLE_MARKS.iter().map(|mark| mark.trim());
        if marks.into_iter().any(|mark| cell(first).to_uppercase().starts_with(&mark.to_uppercase())) {
            problems.push(RowProblem {
                row: row_number,
                column: header.get(first).map_or_else(String::new, |text| text.trim().to_owned()),
                value: cell(first).to_owned(),
                reason: Reason::TemplateExample,
            });
            continue;
        }
        let mut object = serde_json::Map::new();
        let mut row_ok = true;
        for (column, &index) in columns.iter().zip(&at) {
            match column.value(cell(index)) {
                Ok(value) => {
                    object.insert(column.field.to_owned(), value);
                }
                Err(reason) => {
                    row_ok = false;
                    problems.push(RowProblem {
                        row: row_number,
                        column: header[index].trim().to_owned(),
                        value: cell(index).to_owned(),
                        reason,
                    });
                }
            }
        }
        if !row_ok {
            continue;
        }
        let json = serde_json::json!({ "kind": kind.as_str(), "record": object });
        let checked = serde_json::from_value::<Record>(json)
            .map_err(|error| ValidationError::new("", Reason::malformed(error.to_string())))
            .and_then(|record| record.check(&context));
        match checked {
            Ok(checked) => records.push((row_number, checked.into_record())),
            Err(ValidationError { field, reason }) => {
                let place = columns.iter().zip(&at).find(|(column, _)| column.field == field);
                problems.push(RowProblem {
                    row: row_number,
                    column: place.map_or_else(|| field.clone(), |(_, &index)| header[index].trim().to_owned()),
                    value: place.map_or_else(String::new, |(_, &index)| cell(index).to_owned()),
                    reason: *reason,
                });
            }
        }
    }
    Ok((records, problems))
}

#[cfg(test)]
mod tests;
