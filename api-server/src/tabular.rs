//! Tables rendered as CSV (`csv`) or XLSX (`rust_xlsxwriter`) bytes, for the cashback and audit
//! exports. Numbers stay numbers in XLSX; everything else is text.
//!
//! Text that a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or
//! a carriage return: CSV injection) is neutralised in every export: a CSV cell gets a leading
//! `'`, which spreadsheets show as text; an XLSX text cell gets the quote-prefix style, which
//! keeps the value unchanged. Imports take the CSV quote off again ([`unneutralise`]).

use std::borrow::Cow;

use rust_xlsxwriter::{Format, Workbook, XlsxError};

/// First characters that make a spreadsheet read a cell as a formula.
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether a spreadsheet would read `text` as a formula.
pub fn is_formula_like(text: &str) -> bool {
    text.starts_with(FORMULA_TRIGGERS)
}

/// `text` as a CSV cell that no spreadsheet runs: formula-like text gets a leading `'`.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if is_formula_like(text) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// The value behind a neutralised cell of our exports (`'=x` reads back as `=x`).
pub fn unneutralise(text: &str) -> &str {
    match text.strip_prefix('\'') {
        Some(rest) if is_formula_like(rest) => rest,
        _ => text,
    }
}

/// The style of formula-like text cells in XLSX exports: shown and kept as text.
pub fn quoted_text() -> Format {
    Format::new().set_quote_prefix()
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// Number.
    Num(f64),
}

impl Cell {
    /// Text of an optional string (empty when absent).
    pub fn opt(s: Option<impl Into<String>>) -> Self {
        Self::Text(s.map(Into::into).unwrap_or_default())
    }

    fn text(&self) -> String {
        match self {
            Self::Text(s) => neutralise(s).into_owned(),
            Self::Num(n) => n.to_string(),
        }
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Self::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<f64> for Cell {
    fn from(n: f64) -> Self {
        Self::Num(n)
    }
}

/// Rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// CSV writer failed.
    #[error("failed to write CSV")]
    Csv(#[from] csv::Error),
    /// CSV buffer could not be taken back.
    #[error("failed to finish CSV")]
    CsvBuffer,
    /// XLSX writer failed.
    #[error("failed to write XLSX")]
    Xlsx(#[from] XlsxError),
}

/// CSV bytes with a header row.
pub fn csv(headers: &[&str], rows: &[Vec<Cell>]) -> Result<Vec<u8>, TableError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(headers)?;
    for row in rows {
        w.write_record(row.iter().map(Cell::text))?;
    }
    w.into_inner().map_err(|_| TableError::CsvBuffer)
}

/// XLSX bytes: one sheet, bold header row.
pub fn xlsx(sheet: &str, headers: &[&str], rows: &[Vec<Cell>]) -> Result<Vec<u8>, TableError> {
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name(sheet)?;
    let bold = Format::new().set_bold();
    let quoted = quoted_text();
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            match cell {
                Cell::Text(s) if is_formula_like(s) => {
                    ws.write_string_with_format(r, c as u16, s, &quoted)?
                }
                Cell::Text(s) => ws.write_string(r, c as u16, s)?,
                Cell::Num(n) => ws.write_number(r, c as u16, *n)?,
            };
        }
    }
    Ok(book.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_fields_that_need_it() {
        let bytes = csv(&["a", "b"], &[vec!["x,y".into(), 2.5.into()]]).expect("csv");
        assert_eq!(
            String::from_utf8(bytes).expect("utf8"),
            "a,b\n\"x,y\",2.5\n"
        );
    }

    #[test]
    fn formula_like_text_is_neutralised_in_csv_and_read_back_unchanged() {
        let cells = ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"];
        let rows = vec![
            cells
                .iter()
                .map(|c| Cell::from(*c))
                .chain([(-2.5).into()])
                .collect(),
        ];
        let bytes = csv(&["a", "b", "c", "d", "e", "f", "g"], &rows).expect("csv");
        let text = String::from_utf8(bytes).expect("utf8");
        let record = text.lines().nth(1).expect("row");
        assert_eq!(record, "'=1+1,'+1,'-1,'@A1,'\t=1,\"'\r=1\",-2.5");
        for cell in cells {
            assert_eq!(unneutralise(&neutralise(cell)), cell);
        }
        assert_eq!(neutralise("plain"), "plain");
        assert_eq!(unneutralise("'plain"), "'plain");
    }

    #[test]
    fn xlsx_is_a_zip_container() {
        let bytes = xlsx("Data", &["a"], &[vec![1.0.into()]]).expect("xlsx");
        assert_eq!(&bytes[..2], b"PK");
    }
}
