//! Rendering stored documents as the contract's JSON: ObjectIds as 24-hex strings and dates as
//! ISO-8601 with milliseconds and `Z`.

use chrono::{SecondsFormat, TimeZone, Utc};
use mongodb::bson::{Bson, DateTime, Document};
use serde::Serialize;
use serde_json::{Map, Value};

/// ISO-8601 text of a BSON date.
pub fn iso(dt: DateTime) -> String {
    Utc.timestamp_millis_opt(dt.timestamp_millis())
        .single()
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// JSON of any serialisable document, converting BSON-specific values.
pub fn to_json<T: Serialize>(value: &T) -> Result<Value, mongodb::bson::ser::Error> {
    mongodb::bson::to_bson(value).map(bson_to_json)
}

/// Convert one BSON value.
pub fn bson_to_json(value: Bson) -> Value {
    match value {
        Bson::ObjectId(id) => Value::String(id.to_hex()),
        Bson::DateTime(dt) => Value::String(iso(dt)),
        Bson::Document(d) => document_to_json(d),
        Bson::Array(items) => Value::Array(items.into_iter().map(bson_to_json).collect()),
        Bson::Double(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        Bson::Int32(i) => Value::from(i),
        Bson::Int64(i) => Value::from(i),
        Bson::String(s) => Value::String(s),
        Bson::Boolean(b) => Value::Bool(b),
        Bson::Null | Bson::Undefined => Value::Null,
        other => other.into_relaxed_extjson(),
    }
}

fn document_to_json(d: Document) -> Value {
    Value::Object(
        d.into_iter()
            .map(|(k, v)| (k, bson_to_json(v)))
            .collect::<Map<_, _>>(),
    )
}

/// Stored BSON serialised as the contract's JSON (ids as 24-hex strings, dates as ISO text,
/// everything else as [`bson_to_json`] renders it) without building a `serde_json::Value`: for
/// stored parts returned with every stored key (onboarding step data, a notification's entity
/// snapshot).
#[derive(Debug, Clone)]
pub enum StoredJson<'a> {
    /// A stored value.
    Value(&'a Bson),
    /// A stored document.
    Document(&'a Document),
    /// A stored array.
    Array(&'a [Bson]),
    /// A document derived from stored data (e.g. with fields removed).
    Owned(Document),
}

impl<'a> StoredJson<'a> {
    /// A stored document.
    pub fn document(d: &'a Document) -> Self {
        Self::Document(d)
    }
}

/// Serialises one stored value.
struct Stored<'a>(&'a Bson);

fn document<S: serde::Serializer>(d: &Document, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(d.iter().map(|(k, v)| (k, Stored(v))))
}

impl Serialize for Stored<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Bson::ObjectId(id) => s.collect_str(id),
            Bson::DateTime(dt) => s.serialize_str(&iso(*dt)),
            Bson::Document(d) => document(d, s),
            Bson::Array(items) => s.collect_seq(items.iter().map(Stored)),
            Bson::Double(f) if f.is_finite() => s.serialize_f64(*f),
            Bson::Double(_) | Bson::Null | Bson::Undefined => s.serialize_none(),
            Bson::Int32(i) => s.serialize_i32(*i),
            Bson::Int64(i) => s.serialize_i64(*i),
            Bson::String(text) => s.serialize_str(text),
            Bson::Boolean(b) => s.serialize_bool(*b),
            other => other.clone().into_relaxed_extjson().serialize(s),
        }
    }
}

impl Serialize for StoredJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Value(v) => Stored(v).serialize(s),
            Self::Document(d) => document(d, s),
            Self::Array(items) => s.collect_seq(items.iter().map(Stored)),
            Self::Owned(d) => document(d, s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::{doc, oid::ObjectId};

    #[test]
    fn ids_and_dates_render_as_strings() {
        let id = ObjectId::new();
        let v = bson_to_json(Bson::Document(
            doc! { "_id": id, "at": DateTime::from_millis(0), "n": [1_i64] },
        ));
        assert_eq!(v["_id"], Value::String(id.to_hex()));
        assert_eq!(v["at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["n"][0], 1);
    }

    #[test]
    fn stored_json_renders_like_bson_to_json() {
        let d = doc! {
            "_id": ObjectId::new(), "at": DateTime::from_millis(0), "n": [1_i64, 2.5, 3_i32],
            "none": Bson::Null, "nested": { "ok": true, "text": "x" }, "nan": f64::NAN,
        };
        let typed = serde_json::to_value(StoredJson::document(&d)).expect("serialises");
        assert_eq!(typed, bson_to_json(Bson::Document(d)));
    }
}
