//! Time and peak memory of reading one spreadsheet bomb through bulk import's reader.
//!
//! `cargo run -p merchant-api --example sheet_bomb -- far|ratio` builds the file (two cells at
//! A1 and XFD1048576, or a shared string inflating to 2 GiB from ~2 MB), reads it with
//! `sheet::read` and prints the outcome, the time taken and the process's peak RSS. Run it
//! under an address-space cap (`bash -c 'ulimit -v 4194304; exec target/debug/examples/sheet_bomb far'`)
//! so that a reader without bounds fails fast instead of eating the machine.

use std::{io::Write, time::Instant};

use merchant_api::routes::bulk::sheet;

fn far_apart_cells() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "name").expect("A1");
    sheet
        .write_number(1_048_575, 16_383, 1.0)
        .expect("XFD1048576");
    book.save_to_buffer().expect("xlsx")
}

fn ratio_bomb() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    book.add_worksheet().write_string(0, 0, "x").expect("A1");
    let plain = book.save_to_buffer().expect("xlsx");
    // Same workbook, its shared-string table replaced by one 2 GiB string.
    let mut from = zip::ZipArchive::new(std::io::Cursor::new(plain)).expect("zip");
    let mut to = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for i in 0..from.len() {
        let mut part = from.by_index(i).expect("part");
        let name = String::from_utf8_lossy(part.name_raw()).to_string();
        to.start_file(name.as_str(), options).expect("start");
        if name.ends_with("sharedStrings.xml") {
            to.write_all(br#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>"#).expect("w");
            let block = vec![b'A'; 1 << 20];
            for _ in 0..2048 {
                to.write_all(&block).expect("w");
            }
            to.write_all(b"</t></si></sst>").expect("w");
        } else {
            std::io::copy(&mut part, &mut to).expect("copy");
        }
    }
    to.finish().expect("zip").into_inner()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let kind = std::env::args().nth(1).unwrap_or_else(|| "far".into());
    let bytes = match kind.as_str() {
        "ratio" => ratio_bomb(),
        _ => far_apart_cells(),
    };
    let before = peak_rss_kib();
    println!(
        "{kind}: {} bytes, peak RSS before reading {before} KiB",
        bytes.len()
    );
    let started = Instant::now();
    let outcome = match sheet::read(&bytes) {
        Ok(t) => format!("read {} rows", t.rows.len()),
        Err(e) => format!("refused: {e}"),
    };
    println!(
        "{kind}: {outcome} in {:?}; peak RSS {} KiB",
        started.elapsed(),
        peak_rss_kib()
    );
}
