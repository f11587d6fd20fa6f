//! Product sheets as files: the column layout, reading an uploaded CSV/XLS/XLSX (format told
//! by the bytes, not the name) into numbered text rows, and writing CSV or XLSX downloads.

use std::io::Cursor;

use calamine::{Data, Reader, open_workbook_auto_from_rs};
use rust_xlsxwriter::{Format as CellFormat, Workbook};

use crate::error::ApiError;

/// Columns of the import template (contract §2.6); the export has all but `imageUrl`.
pub const COLUMNS: [&str; 18] = [
    "name",
    "description",
    "shortDescription",
    "price",
    "compareAtPrice",
    "category",
    "subcategory",
    "brand",
    "sku",
    "barcode",
    "stock",
    "lowStockThreshold",
    "weight",
    "tags",
    "status",
    "visibility",
    "cashbackPercentage",
    "imageUrl",
];

/// Columns a file must have.
pub const REQUIRED_COLUMNS: [&str; 5] = ["name", "description", "price", "category", "stock"];

/// Most data rows one file may hold.
pub const MAX_ROWS: usize = 5000;

/// A download format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated text.
    Csv,
    /// Office Open XML workbook.
    Xlsx,
}

impl Format {
    /// `csv` (default), `xlsx` or `excel`.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match raw.unwrap_or("csv") {
            "csv" => Ok(Self::Csv),
            "xlsx" | "excel" => Ok(Self::Xlsx),
            _ => Err(ApiError::BadRequest(
                "Invalid format. Use \"csv\" or \"xlsx\"".into(),
            )),
        }
    }

    /// File extension.
    pub fn ext(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
        }
    }

    /// MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// A cell to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text (empty for none).
    Text(String),
    /// A number (written as a number in XLSX).
    Number(f64),
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Number(n) => number_text(*n),
        }
    }
}

/// `10` rather than `10.0` for integral values.
pub fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// Write a header and rows in `format`.
pub fn write(format: Format, header: &[&str], rows: &[Vec<Cell>]) -> Result<Vec<u8>, ApiError> {
    match format {
        Format::Csv => write_csv(header, rows),
        Format::Xlsx => write_xlsx(header, rows),
    }
}

fn write_failed<E: std::error::Error + Send + Sync + 'static>(e: E) -> ApiError {
    ApiError::Internal {
        message: "Failed to generate file",
        source: Box::new(e),
    }
}

fn write_csv(header: &[&str], rows: &[Vec<Cell>]) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(write_failed)?;
    for row in rows {
        w.write_record(row.iter().map(Cell::text))
            .map_err(write_failed)?;
    }
    w.into_inner().map_err(|e| write_failed(e.into_error()))
}

fn write_xlsx(header: &[&str], rows: &[Vec<Cell>]) -> Result<Vec<u8>, ApiError> {
    let mut book = Workbook::new();
    let bold = CellFormat::new().set_bold();
    let sheet = book.add_worksheet();
    sheet.set_name("Products").map_err(write_failed)?;
    for (c, name) in header.iter().enumerate() {
        sheet
            .write_string_with_format(0, c as u16, *name, &bold)
            .map_err(write_failed)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            let c = c as u16;
            match cell {
                Cell::Text(s) if s.is_empty() => continue,
                Cell::Text(s) => sheet.write_string(r, c, s).map(drop),
                Cell::Number(n) => sheet.write_number(r, c, *n).map(drop),
            }
            .map_err(write_failed)?;
        }
    }
    book.save_to_buffer().map_err(write_failed)
}

/// An uploaded sheet: its header and its non-empty data rows with their 1-based row numbers as
/// a spreadsheet shows them (the header is row 1 in a file that starts with it).
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Header cells, trimmed.
    pub header: Vec<String>,
    /// (row number, cells).
    pub rows: Vec<(usize, Vec<String>)>,
}

const BAD_FILE: &str = "Only CSV and Excel files (.csv, .xls, .xlsx) are allowed";

/// Read an uploaded file: Excel when the bytes are a ZIP (xlsx) or OLE (xls) container, CSV
/// when they are UTF-8 text; anything else is a 400.
pub fn read(bytes: &[u8]) -> Result<Table, ApiError> {
    let grid = if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        read_workbook(bytes)?
    } else {
        let text = std::str::from_utf8(bytes)
            .ok()
            .filter(|t| !t.contains('\0'))
            .ok_or_else(|| ApiError::BadRequest(BAD_FILE.into()))?;
        read_csv(text.trim_start_matches('\u{feff}'))?
    };
    let mut rows = grid
        .into_iter()
        .filter(|(_, cells)| cells.iter().any(|c| !c.trim().is_empty()));
    let Some((_, header)) = rows.next() else {
        return Err(ApiError::BadRequest("The file is empty".into()));
    };
    let rows: Vec<_> = rows.collect();
    if rows.len() > MAX_ROWS {
        return Err(ApiError::BadRequest(format!(
            "Too many rows. Maximum is {MAX_ROWS} products per file."
        )));
    }
    Ok(Table {
        header: header.iter().map(|h| h.trim().to_string()).collect(),
        rows,
    })
}

fn read_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let bytes = text.as_bytes();
    // Newlines counted so far, up to byte `counted` (records come in order: linear overall).
    let (mut counted, mut newlines) = (0usize, 0usize);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            ApiError::BadRequest(format!(
                "Invalid CSV{}",
                e.position()
                    .map(|p| format!(" at line {}", p.line()))
                    .unwrap_or_default()
            ))
        })?;
        // The csv crate's positions do not account for the blank lines it skips (they point at
        // the blank line); step over them and count the newlines before the record.
        let mut at = record
            .position()
            .map_or(counted, |p| (p.byte() as usize).min(bytes.len()));
        while at < bytes.len() && matches!(bytes[at], b'\n' | b'\r') {
            at += 1;
        }
        if at > counted {
            newlines += bytes[counted..at].iter().filter(|b| **b == b'\n').count();
            counted = at;
        }
        out.push((newlines + 1, record.iter().map(str::to_string).collect()));
    }
    Ok(out)
}

fn read_workbook(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, ApiError> {
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|_| ApiError::BadRequest(BAD_FILE.into()))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| ApiError::BadRequest("The workbook has no sheet".into()))?
        .map_err(|_| ApiError::BadRequest("The first sheet cannot be read".into()))?;
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let pad = first_col as usize;
    Ok(range
        .rows()
        .enumerate()
        .map(|(i, row)| {
            let cells = std::iter::repeat_n(String::new(), pad)
                .chain(row.iter().map(cell_text))
                .collect();
            (first_row as usize + i + 1, cells)
        })
        .collect())
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Float(f) => number_text(*f),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => number_text(d.as_f64()),
        Data::Error(e) => format!("#{e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Vec<Cell>> {
        vec![vec![
            Cell::Text("Mug, large".into()),
            Cell::Number(12.5),
            Cell::Number(3.0),
        ]]
    }

    #[test]
    fn csv_and_xlsx_downloads_read_back_the_same() {
        for format in [Format::Csv, Format::Xlsx] {
            let bytes = write(format, &["name", "price", "stock"], &sample()).expect("written");
            let table = read(&bytes).expect("read back");
            assert_eq!(table.header, ["name", "price", "stock"], "{format:?}");
            assert_eq!(
                table.rows,
                vec![(2, vec!["Mug, large".to_string(), "12.5".into(), "3".into()])],
                "{format:?}"
            );
        }
    }

    #[test]
    fn binary_that_is_not_a_workbook_is_refused() {
        let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0];
        assert!(matches!(read(&png), Err(ApiError::BadRequest(_))));
        assert!(matches!(
            read(b"PK\x03\x04garbage"),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn numbers_are_written_without_a_trailing_zero() {
        assert_eq!(number_text(10.0), "10");
        assert_eq!(number_text(19.99), "19.99");
    }

    #[test]
    fn blank_lines_are_skipped_and_rows_keep_their_numbers() {
        let t = read(b"name,price\n\nA,1\n,\nB,2\n").expect("csv");
        let numbers: Vec<usize> = t.rows.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [3, 5]);
        assert_eq!(
            Format::parse(Some("pdf")).err().map(|e| e.to_string()),
            Some("Invalid format. Use \"csv\" or \"xlsx\"".into())
        );
    }
}
