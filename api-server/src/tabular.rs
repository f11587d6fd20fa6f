//! Tables rendered as CSV (`csv`) or XLSX (`rust_xlsxwriter`) bytes, for the cashback and audit
//! exports. Numbers stay numbers in XLSX; everything else is text.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

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
            Self::Text(s) => s.clone(),
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
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            match cell {
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
    fn xlsx_is_a_zip_container() {
        let bytes = xlsx("Data", &["a"], &[vec![1.0.into()]]).expect("xlsx");
        assert_eq!(&bytes[..2], b"PK");
    }
}
