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
}
