//! Rendering stored documents as the contract's JSON: ObjectIds as 24-hex strings and dates as
//! ISO-8601 with milliseconds and `Z`.

use chrono::{SecondsFormat, TimeZone, Utc};
use mongodb::bson::{Bson, DateTime, Document, oid::ObjectId};
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

/// A stored BSON value serialised as the contract's JSON, exactly as [`bson_to_json`] renders it
/// (ids as 24-hex, dates as [`iso`]), without building a `Value`: for the free-form parts of
/// stored documents (an order's address, tracking data, refund records) inside typed responses.
#[derive(Debug, Clone, Copy)]
pub struct Plain<'a>(pub &'a Bson);

impl Serialize for Plain<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Bson::ObjectId(id) => s.collect_str(&id.to_hex()),
            Bson::DateTime(dt) => s.serialize_str(&iso(*dt)),
            Bson::Document(d) => PlainDoc::all(d).serialize(s),
            Bson::Array(items) => s.collect_seq(items.iter().map(Plain)),
            Bson::Double(f) => s.serialize_f64(*f),
            Bson::Int32(i) => s.serialize_i32(*i),
            Bson::Int64(i) => s.serialize_i64(*i),
            Bson::String(text) => s.serialize_str(text),
            Bson::Boolean(b) => s.serialize_bool(*b),
            Bson::Null | Bson::Undefined => s.serialize_unit(),
            other => other.clone().into_relaxed_extjson().serialize(s),
        }
    }
}

/// A stored document serialised like [`Plain`], leaving out the keys in `except` (which a
/// typed view renders itself).
#[derive(Debug, Clone, Copy)]
pub struct PlainDoc<'a> {
    doc: &'a Document,
    except: &'a [&'a str],
}

impl<'a> PlainDoc<'a> {
    /// Every key of `doc`.
    pub fn all(doc: &'a Document) -> Self {
        Self { doc, except: &[] }
    }

    /// Every key of `doc` except those in `except`.
    pub fn except(doc: &'a Document, except: &'a [&'a str]) -> Self {
        Self { doc, except }
    }

    /// The same document without the keys in `except`.
    pub fn without(self, except: &'a [&'a str]) -> Self {
        Self { except, ..self }
    }

    /// The text stored at `key`, if it is text.
    pub fn text(&self, key: &str) -> Option<&'a str> {
        self.doc.get_str(key).ok()
    }

    /// The value stored at `key`.
    pub fn get(&self, key: &str) -> Option<Plain<'a>> {
        self.doc.get(key).map(Plain)
    }
}

impl Serialize for PlainDoc<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kept = self
            .doc
            .iter()
            .filter(|(k, _)| !self.except.contains(&k.as_str()));
        s.collect_map(kept.map(|(k, v)| (k, Plain(v))))
    }
}

/// Stored BSON returned with every stored key (onboarding step data, a notification's entity
/// snapshot), serialised through [`Plain`].
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

impl Serialize for StoredJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Value(v) => Plain(v).serialize(s),
            Self::Document(d) => PlainDoc::all(d).serialize(s),
            Self::Array(items) => s.collect_seq(items.iter().map(Plain)),
            Self::Owned(d) => PlainDoc::all(d).serialize(s),
        }
    }
}

/// `serialize_with` of an id: its 24-hex text.
pub fn hex<S: serde::Serializer>(id: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&id.to_hex())
}

/// `serialize_with` of an optional id (`None` as `null`, or skipped by the field's own rule).
pub fn opt_hex<S: serde::Serializer>(id: &Option<ObjectId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => hex(id, s),
        None => s.serialize_none(),
    }
}

/// `serialize_with` of an instant: [`iso`] text.
pub fn iso_text<S: serde::Serializer>(dt: &DateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&iso(*dt))
}

/// `serialize_with` of an optional instant (`None` as `null`, or skipped by the field's rule).
pub fn opt_iso_text<S: serde::Serializer>(dt: &Option<DateTime>, s: S) -> Result<S::Ok, S::Error> {
    match dt {
        Some(dt) => iso_text(dt, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

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

    #[test]
    fn plain_serialises_like_bson_to_json() {
        let stored = doc! {
            "_id": ObjectId::new(), "at": DateTime::from_millis(1_234), "f": 1.5, "whole": 2.0,
            "i": 3_i32, "l": 4_i64, "s": "x", "b": true, "n": Bson::Null, "nan": f64::NAN,
            "list": [1_i32, { "inner": ObjectId::new() }], "dec": Bson::Decimal128("1.5".parse().expect("decimal")),
        };
        let direct = serde_json::to_value(PlainDoc::all(&stored)).expect("serialises");
        assert_eq!(direct, bson_to_json(Bson::Document(stored.clone())));
        let without =
            serde_json::to_value(PlainDoc::except(&stored, &["s", "b"])).expect("serialises");
        let mut expected = bson_to_json(Bson::Document(stored));
        let map = expected.as_object_mut().expect("object");
        map.remove("s");
        map.remove("b");
        assert_eq!(without, expected);
    }
}
