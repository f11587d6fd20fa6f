//! The layering of ARCHITECTURE.md, checked on the source text: route files never name the
//! driver or build filters and updates (that is `store/`'s job), and neither `domain/` nor
//! `store/` imports from the HTTP layer. A failure names each offending file and line.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// Text that means "this code talks to MongoDB". Identifiers match as whole words.
const DRIVER_WORDS: &[&str] = &["Document", "Bson", "Collection", "ObjectIdExt"];
const DRIVER_TEXT: &[&str] = &["mongodb::", "bson::", "doc!", ".db()", ".client()"];

/// Imports from the HTTP layer that `domain/` and `store/` must not have.
const HTTP_TEXT: &[&str] = &[
    "crate::routes",
    "crate::extract",
    "crate::middleware",
    "crate::state",
    "axum::",
    "ApiError",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Code lines (comments dropped; a `#[cfg(test)]` module at the end of a file is skipped, since
/// tests may build documents to check what the code produced).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or_default().to_string()))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect()
}

/// The line with the contents of its string literals blanked out.
fn without_strings(line: &str) -> String {
    let mut inside = false;
    let mut escaped = false;
    line.chars()
        .map(|c| {
            let quote = c == '"' && !escaped;
            escaped = inside && c == '\\' && !escaped;
            if quote {
                inside = !inside;
                c
            } else if inside {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// `word` as a whole identifier in code, not a path segment like `Accept::Document` (paths
/// through the driver are caught by [`DRIVER_TEXT`]).
fn has_word(line: &str, word: &str) -> bool {
    let code = without_strings(line);
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        !before.is_some_and(|c| is_ident(c) || c == ':') && !after.is_some_and(is_ident)
    })
}

/// A `"$…"` string: a query operator (`"$set"`, `"$in"`) or a field path (`"$status"`).
fn has_operator(line: &str) -> bool {
    line.match_indices("\"$")
        .any(|(at, _)| line[at + 2..].starts_with(|c: char| c.is_ascii_alphabetic()))
}

fn violations(dir: &str, check: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&src().join(dir), &mut files);
    let mut found = Vec::new();
    for file in files {
        let shown = file
            .strip_prefix(src())
            .unwrap_or(&file)
            .display()
            .to_string();
        for (n, line) in code_lines(&file) {
            if let Some(what) = check(&line) {
                found.push(format!("src/{shown}:{n}: {what}: {}", line.trim()));
            }
        }
    }
    found
}

fn driver_use(line: &str) -> Option<String> {
    DRIVER_TEXT
        .iter()
        .find(|t| line.contains(*t))
        .map(|t| format!("names the driver ({t})"))
        .or_else(|| {
            DRIVER_WORDS
                .iter()
                .find(|w| has_word(line, w))
                .map(|w| format!("names a driver type ({w})"))
        })
        .or_else(|| has_operator(line).then(|| "builds a query or update (\"$…\")".into()))
}

fn http_use(line: &str) -> Option<String> {
    HTTP_TEXT
        .iter()
        .find(|t| line.contains(*t))
        .map(|t| format!("imports from the HTTP layer ({t})"))
}

fn assert_none(found: Vec<String>, rule: &str) {
    assert!(
        found.is_empty(),
        "{rule} (see api-server/ARCHITECTURE.md):\n{}",
        found.join("\n")
    );
}

#[test]
fn route_files_never_talk_to_the_driver_or_build_queries() {
    assert_none(
        violations("routes", driver_use),
        "routes/ must call store functions instead of using MongoDB types, filters or updates",
    );
}

/// A response body built as untyped JSON: it would leave its operation undocumented.
fn untyped_body(line: &str) -> Option<String> {
    let code = without_strings(line);
    if code.contains("json!") {
        return Some("builds a body with json! (return a typed response)".into());
    }
    let untyped_reply = [
        "Reply<Value>",
        "Reply<serde_json::Value>",
        "Reply<Vec<Value>>",
    ];
    untyped_reply
        .iter()
        .any(|r| code.replace(' ', "").contains(r))
        .then(|| "replies with untyped JSON (return a typed response)".into())
}

#[test]
fn route_files_reply_with_typed_responses() {
    assert_none(
        violations("routes", untyped_body),
        "routes/ return Reply<T> of a serde + utoipa response type, never json! or Value",
    );
}

#[test]
fn store_never_imports_from_the_http_layer() {
    assert_none(
        violations("store", http_use),
        "store/ must not depend on routes, extractors, app state or HTTP errors",
    );
}

#[test]
fn domain_imports_neither_the_http_layer_nor_the_store() {
    let check = |line: &str| {
        http_use(line)
            .or_else(|| {
                line.contains("crate::store")
                    .then(|| "imports the store".into())
            })
            // The one permitted driver import is the id/instant re-export in domain/mod.rs.
            .or_else(|| {
                let reexport = line.contains("pub use mongodb::bson::{DateTime, oid::ObjectId}");
                driver_use(line).filter(|_| !reexport)
            })
    };
    assert_none(
        violations("domain", check),
        "domain/ holds types and rules only: no HTTP, store or driver code",
    );
}

#[test]
fn the_checks_recognise_what_they_forbid() {
    assert!(driver_use(r#"let f = doc! { "a": 1 };"#).is_some());
    assert!(driver_use("fn f(d: &Document) {}").is_some());
    assert!(driver_use("struct DocumentInput;").is_none());
    assert!(driver_use(r#"ApiError::NotFound("Document not found".into())"#).is_none());
    assert!(driver_use("store_file(upload, Accept::Document)").is_none());
    assert!(driver_use(r#"m.insert("$set", set);"#).is_some());
    assert!(driver_use(r#"let price = "$5";"#).is_none());
    assert!(http_use("use crate::routes::Reply;").is_some());
    assert!(untyped_body(r#"Reply::data(json!({ "a": 1 }))"#).is_some());
    assert!(untyped_body("-> Result<Reply<serde_json::Value>, ApiError>").is_some());
    assert!(untyped_body("-> Result<Reply<ProductView>, ApiError>").is_none());
    assert!(untyped_body(r#"let s = "json!";"#).is_none());
}
