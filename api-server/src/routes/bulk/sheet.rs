//! Product sheets as files: the column layout, reading an uploaded CSV/XLS/XLSX (format told
//! by the bytes, not the name) into numbered text rows, and writing CSV or XLSX downloads.

use std::{
    collections::BTreeMap,
    io::{Cursor, Read},
    time::{Duration, Instant},
};

use calamine::{Data, Reader, Xls, Xlsx};
use rust_xlsxwriter::{Format as CellFormat, Workbook};

use crate::{error::ApiError, tabular};

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
            Self::Text(s) => tabular::neutralise(s).into_owned(),
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
    let quoted = tabular::quoted_text();
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
                Cell::Text(s) if tabular::is_formula_like(s) => {
                    sheet.write_string_with_format(r, c, s, &quoted).map(drop)
                }
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

/// Columns a row may span (the template has 18).
pub const MAX_COLUMNS: usize = 64;
/// Last row number a sheet may use: every product row plus as many blank rows and the header.
pub const MAX_ROW_NUMBER: usize = 2 * MAX_ROWS + 1;
/// Most bytes a workbook may unpack to, all parts together.
pub const MAX_UNPACKED: u64 = 64 * 1024 * 1024;
/// Most a part larger than 1 MiB may grow when unpacked (spreadsheet XML packs 5-30×).
pub const MAX_RATIO: u64 = 200;
/// Most parts a workbook may hold.
pub const MAX_PARTS: usize = 512;
/// Longest time spent reading one file.
pub const READ_TIME: Duration = Duration::from_secs(10);

const MB: u64 = 1024 * 1024;

/// Why an uploaded file was not read. Each bound is checked before what it bounds is allocated.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    /// Neither CSV text nor an Excel container.
    #[error("Only CSV and Excel files (.csv, .xls, .xlsx) are allowed")]
    NotASheet,
    /// A workbook without sheets.
    #[error("The workbook has no sheet")]
    NoSheet,
    /// The first sheet is corrupt.
    #[error("The first sheet cannot be read")]
    Unreadable,
    /// No non-empty row.
    #[error("The file is empty")]
    Empty,
    /// Malformed CSV.
    #[error("Invalid CSV{0}")]
    Csv(String),
    /// More data rows than an import takes.
    #[error("Too many rows. Maximum is {MAX_ROWS} products per file.")]
    TooManyRows,
    /// A cell past the last accepted column.
    #[error(
        "Too many columns: row {row} reaches column {column}; the limit is {MAX_COLUMNS} columns"
    )]
    TooManyColumns {
        /// 1-based row number.
        row: usize,
        /// 1-based column number.
        column: usize,
    },
    /// A cell past the last accepted row.
    #[error(
        "The sheet is too long: it reaches row {row}; the limit is row {MAX_ROW_NUMBER} ({MAX_ROWS} products)"
    )]
    RowOutOfBounds {
        /// 1-based row number.
        row: usize,
    },
    /// The sheet's declared size is past the limits.
    #[error(
        "The sheet declares {rows} rows and {columns} columns; the limit is {MAX_ROW_NUMBER} rows and {MAX_COLUMNS} columns"
    )]
    Dimension {
        /// Declared last row (1-based).
        rows: u64,
        /// Declared last column (1-based).
        columns: u64,
    },
    /// The workbook unpacks to too much.
    #[error("The workbook unpacks to more than {} MB; the limit is {} MB", .0 / MB, MAX_UNPACKED / MB)]
    Unpacked(u64),
    /// One part grows too much when unpacked.
    #[error(
        "The workbook part {part} unpacks to {ratio} times its packed size; the limit is {MAX_RATIO} times"
    )]
    Ratio {
        /// Part name.
        part: String,
        /// Unpacked / packed.
        ratio: u64,
    },
    /// Too many parts.
    #[error("The workbook has more than {MAX_PARTS} parts")]
    TooManyParts,
    /// A shared-string table announcing more strings than its bytes can hold.
    #[error(
        "The shared-string table announces {count} strings, more than its {bytes} bytes can hold"
    )]
    SharedStrings {
        /// Announced count.
        count: u64,
        /// Unpacked size of the table.
        bytes: u64,
    },
    /// Reading took too long.
    #[error("The file took more than {} seconds to read", READ_TIME.as_secs())]
    TooSlow,
}

impl From<SheetError> for ApiError {
    fn from(e: SheetError) -> Self {
        match e {
            SheetError::Unpacked(_) | SheetError::Ratio { .. } => {
                ApiError::PayloadTooLarge(e.to_string())
            }
            e => ApiError::BadRequest(e.to_string()),
        }
    }
}

/// Read an uploaded file off the async runtime, within [`READ_TIME`].
pub async fn read_off_runtime(bytes: bytes::Bytes) -> Result<Table, ApiError> {
    let deadline = Instant::now() + READ_TIME;
    let task = tokio::task::spawn_blocking(move || read_until(&bytes, deadline));
    match tokio::time::timeout(READ_TIME + Duration::from_secs(1), task).await {
        Ok(Ok(table)) => Ok(table?),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "reading an uploaded sheet panicked");
            Err(SheetError::Unreadable.into())
        }
        Err(_) => Err(SheetError::TooSlow.into()),
    }
}

/// Read an uploaded file: Excel when the bytes are a ZIP (xlsx) or OLE (xls) container, CSV
/// when they are UTF-8 text; anything else is a 400.
pub fn read(bytes: &[u8]) -> Result<Table, SheetError> {
    read_until(bytes, Instant::now() + READ_TIME)
}

fn read_until(bytes: &[u8], deadline: Instant) -> Result<Table, SheetError> {
    let clock = Clock { deadline, ticks: 0 };
    let grid = if bytes.starts_with(b"PK\x03\x04") {
        read_xlsx(bytes, clock)?
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        read_xls(bytes, clock)?
    } else {
        let text = std::str::from_utf8(bytes)
            .ok()
            .filter(|t| !t.contains('\0'))
            .ok_or(SheetError::NotASheet)?;
        read_csv(text.trim_start_matches('\u{feff}'), clock)?
    };
    let mut rows = grid
        .into_iter()
        .filter(|(_, cells)| cells.iter().any(|c| !c.trim().is_empty()));
    let Some((_, header)) = rows.next() else {
        return Err(SheetError::Empty);
    };
    let rows: Vec<_> = rows.collect();
    if rows.len() > MAX_ROWS {
        return Err(SheetError::TooManyRows);
    }
    Ok(Table {
        header: header.iter().map(|h| h.trim().to_string()).collect(),
        rows,
    })
}

/// The deadline, looked at every 1024 steps.
struct Clock {
    deadline: Instant,
    ticks: u32,
}

impl Clock {
    fn tick(&mut self) -> Result<(), SheetError> {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(1024) && Instant::now() > self.deadline {
            return Err(SheetError::TooSlow);
        }
        Ok(())
    }
}

/// Check a cell position (0-based) against the bounds.
fn check_cell(row: usize, column: usize) -> Result<(), SheetError> {
    if column >= MAX_COLUMNS {
        return Err(SheetError::TooManyColumns {
            row: row + 1,
            column: column + 1,
        });
    }
    if row >= MAX_ROW_NUMBER {
        return Err(SheetError::RowOutOfBounds { row: row + 1 });
    }
    Ok(())
}

/// Advance `counted` (bytes) and `newlines` to the start of the record the reader reports at
/// `start`. The csv crate's positions do not account for the blank lines it skips (they point
/// at the blank line): step over them and count the newlines before the record.
fn skip_to_record(bytes: &[u8], start: Option<usize>, counted: &mut usize, newlines: &mut usize) {
    let mut at = start.map_or(*counted, |b| b.min(bytes.len()));
    while at < bytes.len() && matches!(bytes[at], b'\n' | b'\r') {
        at += 1;
    }
    if at > *counted {
        *newlines += bytes[*counted..at].iter().filter(|b| **b == b'\n').count();
        *counted = at;
    }
}

fn read_csv(text: &str, mut clock: Clock) -> Result<Vec<(usize, Vec<String>)>, SheetError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let bytes = text.as_bytes();
    // Newlines counted so far, up to byte `counted` (records come in order: linear overall).
    let (mut counted, mut newlines) = (0usize, 0usize);
    let mut out = Vec::new();
    let mut non_empty = 0usize;
    let mut record = csv::StringRecord::new();
    loop {
        clock.tick()?;
        let more = reader.read_record(&mut record).map_err(|e| {
            SheetError::Csv(
                e.position()
                    .map(|p| format!(" at line {}", p.line()))
                    .unwrap_or_default(),
            )
        })?;
        if !more {
            break;
        }
        let start = record.position().map(|p| p.byte() as usize);
        skip_to_record(bytes, start, &mut counted, &mut newlines);
        if record.len() > MAX_COLUMNS {
            return Err(SheetError::TooManyColumns {
                row: newlines + 1,
                column: record.len(),
            });
        }
        if record.iter().any(|c| !c.trim().is_empty()) {
            non_empty += 1;
            // The header and one row past the limit are enough to say there are too many.
            if non_empty > MAX_ROWS + 1 {
                return Err(SheetError::TooManyRows);
            }
        }
        out.push((
            newlines + 1,
            record
                .iter()
                .map(|c| tabular::unneutralise(c).to_string())
                .collect(),
        ));
    }
    Ok(out)
}

/// Check a workbook container before anything inside is unpacked: number of parts, declared
/// and real unpacked sizes (a lying header is caught while inflating), ratio, and the
/// shared-string count calamine reserves room for.
fn check_zip(bytes: &[u8], clock: &mut Clock) -> Result<(), SheetError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| SheetError::NotASheet)?;
    if zip.len() > MAX_PARTS {
        return Err(SheetError::TooManyParts);
    }
    let mut declared = 0u64;
    for i in 0..zip.len() {
        let part = zip.by_index_raw(i).map_err(|_| SheetError::NotASheet)?;
        declared = declared.saturating_add(part.size());
        if declared > MAX_UNPACKED {
            return Err(SheetError::Unpacked(declared));
        }
        let ratio = part.size() / part.compressed_size().max(1);
        if part.size() > MB && ratio > MAX_RATIO {
            return Err(SheetError::Ratio {
                part: String::from_utf8_lossy(part.name_raw()).to_string(),
                ratio,
            });
        }
    }
    let mut unpacked = 0u64;
    let mut chunk = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).map_err(|_| SheetError::NotASheet)?;
        let shared_strings = part.name_raw().ends_with(b"sharedStrings.xml");
        let mut size = 0u64;
        let mut announced = None;
        loop {
            clock.tick()?;
            let n = part.read(&mut chunk).map_err(|_| SheetError::Unreadable)?;
            if n == 0 {
                break;
            }
            if shared_strings && size == 0 {
                announced = unique_count(&chunk[..n]);
            }
            size += n as u64;
            unpacked += n as u64;
            if unpacked > MAX_UNPACKED {
                return Err(SheetError::Unpacked(unpacked));
            }
        }
        // Each `<si>` entry takes at least 9 bytes (`<si></si>`).
        if let Some(count) = announced.filter(|c| *c > size / 9) {
            return Err(SheetError::SharedStrings { count, bytes: size });
        }
    }
    Ok(())
}

/// The `uniqueCount` attribute of a shared-string table's root element.
fn unique_count(head: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    let at = text.find("uniqueCount=")? + "uniqueCount=".len();
    let digits: String = text[at..]
        .chars()
        .skip(1)
        .take_while(char::is_ascii_digit)
        .collect();
    // More digits than a u64 holds is a lie too.
    Some(digits.parse().unwrap_or(u64::MAX))
}

fn read_xlsx(bytes: &[u8], mut clock: Clock) -> Result<Vec<(usize, Vec<String>)>, SheetError> {
    check_zip(bytes, &mut clock)?;
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(|_| SheetError::NotASheet)?;
    let name = book
        .sheet_names()
        .first()
        .cloned()
        .ok_or(SheetError::NoSheet)?;
    let mut cells = book
        .worksheet_cells_reader(&name)
        .map_err(|_| SheetError::Unreadable)?;
    let declared = cells.dimensions();
    let (rows, columns) = (u64::from(declared.end.0) + 1, u64::from(declared.end.1) + 1);
    if rows > MAX_ROW_NUMBER as u64 || columns > MAX_COLUMNS as u64 {
        return Err(SheetError::Dimension { rows, columns });
    }
    let mut grid: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    while let Some(cell) = cells.next_cell().map_err(|_| SheetError::Unreadable)? {
        clock.tick()?;
        let (row, column) = cell.get_position();
        let (row, column) = (row as usize, column as usize);
        check_cell(row, column)?;
        let text = cell_text(&Data::from(cell.get_value().clone()));
        let cells = grid.entry(row).or_default();
        if cells.len() <= column {
            cells.resize(column + 1, String::new());
        }
        cells[column] = text;
    }
    Ok(grid.into_iter().map(|(r, cells)| (r + 1, cells)).collect())
}

fn read_xls(bytes: &[u8], mut clock: Clock) -> Result<Vec<(usize, Vec<String>)>, SheetError> {
    check_biff(bytes, &mut clock)?;
    let mut book: Xls<_> = Xls::new(Cursor::new(bytes)).map_err(|_| SheetError::NotASheet)?;
    let range = book
        .worksheet_range_at(0)
        .ok_or(SheetError::NoSheet)?
        .map_err(|_| SheetError::Unreadable)?;
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

/// Check the records of a legacy workbook before calamine, which sizes every sheet of it from
/// its DIMENSIONS record and its farthest cell when opening it: both are bounded here.
/// The workbook stream of an XLS compound file, read up to the unpacked limit.
fn workbook_stream(bytes: &[u8]) -> Result<Vec<u8>, SheetError> {
    let mut file =
        cfb::CompoundFile::open(Cursor::new(bytes)).map_err(|_| SheetError::NotASheet)?;
    let mut stream = file
        .open_stream("/Workbook")
        .or_else(|_| file.open_stream("/Book"))
        .map_err(|_| SheetError::NotASheet)?;
    let mut data = Vec::new();
    (&mut stream)
        .take(MAX_UNPACKED + 1)
        .read_to_end(&mut data)
        .map_err(|_| SheetError::Unreadable)?;
    if data.len() as u64 > MAX_UNPACKED {
        return Err(SheetError::Unpacked(data.len() as u64));
    }
    Ok(data)
}

/// The little-endian `u16` at `i` of a record (0 past its end).
fn u16_at(r: &[u8], i: usize) -> u64 {
    r.get(i..i + 2)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as u64)
}

/// The little-endian `u32` at `i` of a record (0 past its end).
fn u32_at(r: &[u8], i: usize) -> u64 {
    r.get(i..i + 4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64)
}

fn check_biff(bytes: &[u8], clock: &mut Clock) -> Result<(), SheetError> {
    let data = workbook_stream(bytes)?;
    let mut at = 0usize;
    while at + 4 <= data.len() {
        clock.tick()?;
        let id = u16_at(&data, at);
        let len = u16_at(&data, at + 2) as usize;
        let record = data.get(at + 4..at + 4 + len).unwrap_or_default();
        at += 4 + len;
        match id {
            // DIMENSIONS: BIFF8 (row u32 first, last+1; col u16 first, last+1), older u16s.
            0x0200 => {
                let (rows, columns) = if len >= 14 {
                    (u32_at(record, 4), u16_at(record, 10))
                } else {
                    (u16_at(record, 2), u16_at(record, 6))
                };
                if rows > MAX_ROW_NUMBER as u64 || columns > MAX_COLUMNS as u64 {
                    return Err(SheetError::Dimension { rows, columns });
                }
            }
            // Cell records: row u16, column u16 (MULRK/MULBLANK end with their last column).
            0x0006 | 0x00FD | 0x0201 | 0x0203 | 0x0204 | 0x0205 | 0x027E | 0x00BD | 0x00BE => {
                let row = u16_at(record, 0) as usize;
                let mut column = u16_at(record, 2) as usize;
                if matches!(id, 0x00BD | 0x00BE) && len >= 2 {
                    column = column.max(u16_at(record, len - 2) as usize);
                }
                check_cell(row, column)?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => tabular::unneutralise(s).to_string(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
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
        assert!(matches!(read(&png), Err(SheetError::NotASheet)));
        assert!(matches!(
            read(b"PK\x03\x04garbage"),
            Err(SheetError::NotASheet)
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
