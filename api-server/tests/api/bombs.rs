//! Resource bombs through bulk import: small files that decode to huge sheets (a dimension or a
//! cell at XFD1048576, an entry that inflates a thousandfold, a lying shared-string count, a CSV
//! of millions of columns or rows). The server runs as its own process under an address-space
//! cap (`ulimit -v`, like a container's memory limit): each file is refused with a 4xx naming
//! the limit, quickly, and the process is still serving afterwards.
//!
//! Measured by `cargo run -p merchant-api --example sheet_bomb -- far|ratio` under `ulimit -v`.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::{StatusCode, multipart::Form};
use serde_json::Value;
use zip::{ZipWriter, write::SimpleFileOptions};

use crate::{
    helpers::{registration, testenv, unique},
    uploads::part,
};

/// Address space of the server process: 2 GiB, far above what a sane import needs and far
/// below what any of the bombs asks for.
const CAP_KIB: u64 = 2 * 1024 * 1024;
/// Set in the environment of the capped child (see [`serve_under_cap`]).
const CHILD: &str = "MERCHANT_BOMBS_CHILD";

/// The server of [`CappedServer`]: this test binary run again, under `ulimit -v`, for this one
/// test (the library code is the one under test, whatever else shares the target directory).
#[tokio::test]
#[ignore = "run by spreadsheet_and_csv_bombs… in a capped child process"]
async fn serve_under_cap() {
    if std::env::var(CHILD).is_err() {
        return;
    }
    let app = crate::helpers::spawn_app().await;
    println!("BOMBS-READY {} {}", app.address, app.store.db().name());
    tokio::time::sleep(Duration::from_secs(600)).await;
}

/// A test server in its own process under `ulimit -v`; killed on drop.
struct CappedServer {
    child: Child,
    address: String,
    db: String,
    client: reqwest::Client,
}

impl Drop for CappedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl CappedServer {
    fn start() -> Self {
        let exe = std::env::current_exe().expect("test binary");
        let script = format!(
            "ulimit -v {CAP_KIB} && exec \"$0\" bombs::serve_under_cap --exact --ignored --nocapture"
        );
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .arg(exe)
            .env(CHILD, "1")
            .env("MALLOC_ARENA_MAX", "2")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("child starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel::<(String, String)>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(ready) = line.strip_prefix("BOMBS-READY ") {
                    let (address, db) = ready.split_once(' ').expect("address and db");
                    let _ = tx.send((address.to_string(), db.to_string()));
                }
                eprintln!("server: {line}");
            }
        });
        let (address, db) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server ready");
        Self {
            child,
            address,
            db,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("client"),
        }
    }

    async fn token(&self) -> String {
        let email = format!("{}@example.com", unique("bomb").to_lowercase());
        let r = self
            .client
            .post(format!("{}/api/merchant/auth/register", self.address))
            .json(&registration(&email))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.expect("json");
        body["data"]["token"].as_str().expect("token").to_string()
    }

    /// Validate `file`: status, body and how long the answer took. A dead server is an `Err`.
    async fn validate(
        &self,
        token: &str,
        name: &str,
        file: Vec<u8>,
    ) -> Result<(StatusCode, Value, Duration), String> {
        let started = Instant::now();
        let res = self
            .client
            .post(format!(
                "{}/api/merchant/bulk/products/validate",
                self.address
            ))
            .bearer_auth(token)
            .multipart(Form::new().part("file", part(file, name, "application/octet-stream")))
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = res.status();
        let body = res.json().await.map_err(|e| format!("{e:?}"))?;
        Ok((status, body, started.elapsed()))
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#;
const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Products" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;
const SHEET_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#;

/// A workbook of hand-written parts: `sheet` is the worksheet body after its root element,
/// `strings` writes the shared-string part.
fn workbook(sheet: &str, strings: impl FnOnce(&mut dyn Write)) -> Vec<u8> {
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflate = SimpleFileOptions::default();
    for (name, text) in [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", RELS),
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
    ] {
        zip.start_file(name, deflate).expect("entry");
        zip.write_all(text.as_bytes()).expect("write");
    }
    zip.start_file("xl/worksheets/sheet1.xml", deflate)
        .expect("entry");
    zip.write_all(format!("{SHEET_HEAD}{sheet}</worksheet>").as_bytes())
        .expect("write");
    zip.start_file("xl/sharedStrings.xml", deflate)
        .expect("entry");
    strings(&mut zip);
    zip.finish().expect("zip").into_inner()
}

fn header_row() -> String {
    let cells: String = ["name", "description", "price", "category", "stock"]
        .iter()
        .enumerate()
        .map(|(i, h)| {
            format!(
                r#"<c r="{}1" t="inlineStr"><is><t>{h}</t></is></c>"#,
                (b'A' + i as u8) as char
            )
        })
        .collect();
    format!(r#"<row r="1">{cells}</row>"#)
}

fn no_strings(w: &mut dyn Write) {
    w.write_all(br#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="0" uniqueCount="0"></sst>"#)
        .expect("write");
}

/// Two cells, A1 and XFD1048576, under a matching dimension.
fn far_apart_cells() -> Vec<u8> {
    let sheet = format!(
        r#"<dimension ref="A1:XFD1048576"/><sheetData>{}<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>"#,
        header_row()
    );
    workbook(&sheet, no_strings)
}

/// Only a dimension of A1:XFD1048576 over an ordinary header.
fn huge_dimension() -> Vec<u8> {
    let sheet = format!(
        r#"<dimension ref="A1:XFD1048576"/><sheetData>{}</sheetData>"#,
        header_row()
    );
    workbook(&sheet, no_strings)
}

/// A shared string that inflates to 1 GiB from about a megabyte.
fn ratio_bomb() -> Vec<u8> {
    let sheet = format!(
        r#"<sheetData>{}<row r="2"><c r="A2" t="s"><v>0</v></c></row></sheetData>"#,
        header_row()
    );
    workbook(&sheet, |w| {
        w.write_all(br#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>"#)
            .expect("write");
        let block = vec![b'A'; 1024 * 1024];
        for _ in 0..1024 {
            w.write_all(&block).expect("write");
        }
        w.write_all(b"</t></si></sst>").expect("write");
    })
}

/// A shared-string table announcing a trillion strings.
fn lying_string_count() -> Vec<u8> {
    let sheet = format!(r#"<sheetData>{}</sheetData>"#, header_row());
    workbook(&sheet, |w| {
        w.write_all(br#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1000000000000" uniqueCount="1000000000000"><si><t>a</t></si></sst>"#)
            .expect("write");
    })
}

/// 9 MiB of commas: one header row of millions of columns.
fn csv_columns() -> Vec<u8> {
    let mut csv = b"name,description,price,category,stock".to_vec();
    csv.resize(9 * 1024 * 1024, b',');
    csv.push(b'\n');
    csv
}

/// 9 MiB of two-byte rows: millions of records.
fn csv_rows() -> Vec<u8> {
    let mut csv = b"name,description,price,category,stock\n".to_vec();
    while csv.len() < 9 * 1024 * 1024 {
        csv.extend_from_slice(b"a\n");
    }
    csv
}

#[tokio::test]
async fn spreadsheet_and_csv_bombs_are_refused_naming_the_limit_and_the_server_stays_up() {
    let mut server = CappedServer::start();
    let token = server.token().await;
    let bombs: [(&str, &str, Vec<u8>, &str); 6] = [
        (
            "A1 and XFD1048576",
            "bomb.xlsx",
            far_apart_cells(),
            "column",
        ),
        (
            "dimension A1:XFD1048576",
            "bomb.xlsx",
            huge_dimension(),
            "column",
        ),
        ("1 GiB shared string", "bomb.xlsx", ratio_bomb(), "MB"),
        (
            "a trillion shared strings",
            "bomb.xlsx",
            lying_string_count(),
            "strings",
        ),
        ("millions of columns", "bomb.csv", csv_columns(), "column"),
        ("millions of rows", "bomb.csv", csv_rows(), "5000"),
    ];
    for (what, name, file, names) in bombs {
        let size = file.len();
        let answer = server.validate(&token, name, file).await;
        assert!(server.alive(), "{what}: the server died ({answer:?})");
        let (status, body, took) = answer.unwrap_or_else(|e| panic!("{what}: {e}"));
        eprintln!("{what} ({size} bytes): {status} in {took:?}: {body}");
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::PAYLOAD_TOO_LARGE,
            "{what}: {status} {body}"
        );
        assert_eq!(body["success"], false, "{what}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{what}: {message}");
        assert!(took < Duration::from_secs(20), "{what}: took {took:?}");
    }
    // Still serving, and an ordinary file still validates.
    let ok = server
        .validate(
            &token,
            "ok.csv",
            b"name,description,price,category,stock\nMug,A sturdy mug,9.5,General,3\n".to_vec(),
        )
        .await
        .expect("answer");
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    assert_eq!(ok.1["data"]["validRows"], 1);
    let db = server.db.clone();
    drop(server);
    let client = mongodb::Client::with_uri_str(testenv("MONGODB_URI"))
        .await
        .expect("mongodb");
    let _ = client.database(&db).drop().await;
    let _ = std::fs::remove_dir_all(crate::helpers::uploads_dir(&db));
}
