//! Response-shape snapshots: the set of JSON key paths of a response with the type at each path
//! (ids, timestamps and tokens reduced to their kind), compared with a committed file under
//! `tests/api/snapshots/`. Values never matter, only the keys and types clients parse.
//! `UPDATE_SNAPSHOTS=1` re-records the files instead of comparing.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::helpers::Resp;

/// Key path (`$.data.items[].id`) → JSON type(s) seen there (`string<objectid>`, `number|null`).
pub type Shape = BTreeMap<String, String>;

/// The shape of a JSON document (array elements are merged under `[]`).
pub fn shape(value: &Value) -> Shape {
    let mut seen: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    walk(value, "$".into(), &mut seen);
    seen.into_iter()
        .map(|(path, kinds)| (path, kinds.into_iter().collect::<Vec<_>>().join("|")))
        .collect()
}

fn walk(value: &Value, path: String, seen: &mut BTreeMap<String, BTreeSet<&'static str>>) {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(s) => string_kind(s),
        Value::Array(items) => {
            for item in items {
                walk(item, format!("{path}[]"), seen);
            }
            "array"
        }
        Value::Object(map) => {
            for (key, item) in map {
                walk(item, format!("{path}.{}", key_kind(key)), seen);
            }
            "object"
        }
    };
    seen.entry(path).or_default().insert(kind);
}

/// Strings whose content varies per run are named by kind, so the snapshot stays stable while a
/// changed format (an id becoming a number, a date becoming epoch text) still shows.
fn string_kind(s: &str) -> &'static str {
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        "string<objectid>"
    } else if s.len() >= 20 && s.as_bytes().get(10) == Some(&b'T') && s.ends_with('Z') {
        "string<datetime>"
    } else if s.len() == 10 && s.split('-').map(digits).filter(|d| *d).count() == 3 {
        "string<date>"
    } else if s.starts_with("eyJ") && s.split('.').count() == 3 {
        "string<jwt>"
    } else if uuid::Uuid::parse_str(s).is_ok() {
        "string<uuid>"
    } else {
        "string"
    }
}

/// Object keys that are data (ids, dates, numbers) rather than field names.
fn key_kind(key: &str) -> &str {
    match string_kind(key) {
        "string<objectid>" => "<objectid>",
        "string<date>" => "<date>",
        _ if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) => "<n>",
        _ => key,
    }
}

/// One recorded response.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Snapshot {
    request: String,
    status: u16,
    shape: Shape,
    /// Error responses only: their plain texts (`message`, `code`, field errors), which the
    /// contract fixes word for word.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    texts: BTreeMap<String, String>,
}

/// Plain-text values by key path (arrays indexed), ids and timestamps left out.
fn texts(value: &Value, path: String, out: &mut BTreeMap<String, String>) {
    match value {
        Value::String(s) if string_kind(s) == "string" => {
            out.insert(path, s.clone());
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                texts(item, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                texts(item, format!("{path}.{key}"), out);
            }
        }
        _ => {}
    }
}

/// Compares (or with `UPDATE_SNAPSHOTS=1` records) snapshots and collects every difference.
pub struct Recorder {
    dir: PathBuf,
    update: bool,
    names: BTreeSet<String>,
    failures: Vec<String>,
}

impl Recorder {
    /// A recorder over `tests/api/snapshots/`.
    pub fn new() -> Self {
        Self {
            dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/snapshots"),
            update: std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1"),
            names: BTreeSet::new(),
            failures: Vec::new(),
        }
    }

    /// Check the response of `request` (e.g. `GET /api/merchant/products/{id}`) against the
    /// snapshot `name`.
    pub fn check(&mut self, name: &str, request: &str, resp: &Resp) {
        assert!(self.names.insert(name.into()), "snapshot {name} used twice");
        let mut actual = Snapshot {
            request: request.into(),
            status: resp.status.as_u16(),
            shape: shape(&resp.body),
            texts: BTreeMap::new(),
        };
        if !resp.status.is_success() {
            texts(&resp.body, "$".into(), &mut actual.texts);
        }
        let file = self.dir.join(format!("{name}.json"));
        if self.update {
            let text = serde_json::to_string_pretty(&actual).expect("snapshot serialises");
            std::fs::create_dir_all(&self.dir).expect("snapshot dir");
            std::fs::write(&file, text + "\n").expect("snapshot written");
            return;
        }
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let expected: Snapshot = serde_json::from_str(&text).expect("snapshot parses");
                self.compare(name, &expected, &actual);
            }
            Err(_) => self.failures.push(format!(
                "{name} ({request}): no snapshot {}",
                file.display()
            )),
        }
    }

    fn compare(&mut self, name: &str, expected: &Snapshot, actual: &Snapshot) {
        let at = format!("{name} ({})", actual.request);
        if expected.status != actual.status {
            let (e, a) = (expected.status, actual.status);
            self.failures
                .push(format!("{at}: status {a}, snapshot has {e}"));
        }
        let paths: BTreeSet<&String> = expected.shape.keys().chain(actual.shape.keys()).collect();
        for path in paths {
            match (expected.shape.get(path), actual.shape.get(path)) {
                (Some(e), Some(a)) if e != a => self
                    .failures
                    .push(format!("{at}: {path} is {a}, snapshot has {e}")),
                (Some(e), None) => self
                    .failures
                    .push(format!("{at}: {path} ({e}) is missing from the response")),
                (None, Some(a)) => self
                    .failures
                    .push(format!("{at}: {path} ({a}) is not in the snapshot")),
                _ => {}
            }
        }
        if expected.texts != actual.texts {
            let (e, a) = (&expected.texts, &actual.texts);
            self.failures
                .push(format!("{at}: error texts {a:?}, snapshot has {e:?}"));
        }
    }

    /// Fail with every difference, including snapshot files no check used.
    pub fn finish(mut self) {
        let files = std::fs::read_dir(&self.dir).expect("snapshot dir");
        for entry in files.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = file.strip_suffix(".json") else {
                continue;
            };
            if !self.names.contains(name) && !self.update {
                self.failures
                    .push(format!("{file}: snapshot no request checked (stale?)"));
            }
        }
        assert!(
            self.failures.is_empty(),
            "response shapes differ from tests/api/snapshots (re-record with UPDATE_SNAPSHOTS=1 \
             only if the change is intended):\n{}",
            self.failures.join("\n")
        );
    }
}

#[test]
fn a_shape_names_every_key_path_with_its_normalised_type() {
    let body = serde_json::json!({
        "success": true,
        "data": {
            "id": "0123456789abcdef01234567",
            "createdAt": "2026-01-02T03:04:05.678Z",
            "token": "eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2ln",
            "items": [{ "n": 1 }, { "n": null, "extra": "x" }],
            "byDay": { "2026-01-02": 3 },
        }
    });
    let expected: Shape = [
        ("$", "object"),
        ("$.success", "boolean"),
        ("$.data", "object"),
        ("$.data.id", "string<objectid>"),
        ("$.data.createdAt", "string<datetime>"),
        ("$.data.token", "string<jwt>"),
        ("$.data.items", "array"),
        ("$.data.items[]", "object"),
        ("$.data.items[].n", "null|number"),
        ("$.data.items[].extra", "string"),
        ("$.data.byDay", "object"),
        ("$.data.byDay.<date>", "number"),
    ]
    .into_iter()
    .map(|(p, k)| (p.to_string(), k.to_string()))
    .collect();
    assert_eq!(shape(&body), expected);
}
