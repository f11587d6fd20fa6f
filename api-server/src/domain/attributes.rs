//! Free-form attributes and specifications of products and variants, each with one stored
//! shape and read from either shape clients send (on the wire and in documents the older
//! deployment wrote). Attributes are stored as an object of strings and also read from the
//! older list of `{name, value}` pairs (`[]` is none); specifications are stored as the
//! contract's list of `{key, value, group}` and also read from an object `{key: value}`.

use std::{collections::BTreeMap, fmt};

use serde::{
    Deserialize, Deserializer, Serialize,
    de::{self, MapAccess, SeqAccess, Visitor},
};

/// Attributes by name (names trimmed, non-empty; numbers and booleans kept as their text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = ProductAttributes)]
#[serde(transparent)]
pub struct Attributes(pub BTreeMap<String, String>);

impl Attributes {
    /// The attributes by name.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<BTreeMap<String, String>> for Attributes {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self(map)
    }
}

/// An attribute value as sent: text, a number or a boolean.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    Number(f64),
    Flag(bool),
}

impl Scalar {
    fn into_text(self) -> String {
        match self {
            Self::Text(s) => s,
            Self::Int(i) => i.to_string(),
            Self::Number(n) => n.to_string(),
            Self::Flag(b) => b.to_string(),
        }
    }
}

/// One element of the list form (`key` is accepted for `name`).
#[derive(Deserialize)]
struct Pair {
    #[serde(alias = "key")]
    name: Option<String>,
    value: Option<Scalar>,
}

struct AttributesVisitor;

const EXPECTED: &str = "an object or a list of {name, value} pairs";

impl<'de> Visitor<'de> for AttributesVisitor {
    type Value = Attributes;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
        let mut out = BTreeMap::new();
        while let Some((name, value)) = map.next_entry::<String, Scalar>()? {
            insert(&mut out, &name, value).map_err(de::Error::custom)?;
        }
        Ok(Attributes(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Attributes, A::Error> {
        let mut out = BTreeMap::new();
        let mut index = 0;
        while let Some(Pair { name, value }) = seq.next_element::<Pair>()? {
            let (Some(name), Some(value)) = (name, value) else {
                return Err(de::Error::custom(format!(
                    "item {index} must be a {{name, value}} pair with both keys"
                )));
            };
            insert(&mut out, &name, value).map_err(de::Error::custom)?;
            index += 1;
        }
        Ok(Attributes(out))
    }
}

fn insert(out: &mut BTreeMap<String, String>, name: &str, value: Scalar) -> Result<(), String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err("names must have 1 to 100 characters".into());
    }
    out.insert(name.to_string(), value.into_text());
    Ok(())
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AttributesVisitor)
    }
}

/// One product specification (`specifications[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ProductSpecification)]
pub struct Specification {
    /// What is specified.
    pub key: String,
    /// Its value.
    pub value: String,
    /// Section heading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// Product specifications, in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = ProductSpecifications)]
#[serde(transparent)]
pub struct Specifications(pub Vec<Specification>);

impl Specifications {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One element of the list form (`name` is accepted for `key`).
#[derive(Deserialize)]
struct SpecInput {
    #[serde(alias = "name")]
    key: Option<String>,
    value: Option<Scalar>,
    group: Option<String>,
}

struct SpecificationsVisitor;

impl<'de> Visitor<'de> for SpecificationsVisitor {
    type Value = Specifications;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of {key, value} specifications or an object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Specifications, A::Error> {
        let mut out = Vec::new();
        while let Some(SpecInput { key, value, group }) = seq.next_element::<SpecInput>()? {
            let (Some(key), Some(value)) = (key, value) else {
                return Err(de::Error::custom(format!(
                    "item {} must be a {{key, value}} pair with both keys",
                    out.len()
                )));
            };
            out.push(spec(&key, value, group).map_err(de::Error::custom)?);
        }
        Ok(Specifications(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Specifications, A::Error> {
        let mut out = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Scalar>()? {
            out.push(spec(&key, value, None).map_err(de::Error::custom)?);
        }
        Ok(Specifications(out))
    }
}

fn spec(key: &str, value: Scalar, group: Option<String>) -> Result<Specification, String> {
    let key = key.trim();
    if key.is_empty() || key.len() > 100 {
        return Err("keys must have 1 to 100 characters".into());
    }
    Ok(Specification {
        key: key.to_string(),
        value: value.into_text(),
        group: group.filter(|g| !g.trim().is_empty()),
    })
}

impl<'de> Deserialize<'de> for Specifications {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SpecificationsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: serde_json::Value) -> Result<Attributes, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn the_object_and_the_pair_list_read_as_the_same_attributes() {
        let object = parse(json!({ "size": "L", "pack": 2 })).expect("object");
        let pairs = parse(json!([{ "name": "size", "value": "L" }, { "key": "pack", "value": 2 }]))
            .expect("pairs");
        assert_eq!(object, pairs);
        assert_eq!(object.as_map().get("pack").map(String::as_str), Some("2"));
        assert!(parse(json!([])).expect("empty list").is_empty());
    }

    #[test]
    fn specifications_read_from_the_list_or_an_object() {
        let list: Specifications = serde_json::from_value(
            json!([{ "key": "Material", "value": "Cotton", "group": "Fabric" }]),
        )
        .expect("list");
        assert_eq!(list.0[0].group.as_deref(), Some("Fabric"));
        let object: Specifications =
            serde_json::from_value(json!({ "Material": "Cotton" })).expect("object");
        assert_eq!(
            (object.0[0].key.as_str(), object.0[0].value.as_str()),
            ("Material", "Cotton")
        );
        assert!(serde_json::from_value::<Specifications>(json!([{ "key": "x" }])).is_err());
    }

    #[test]
    fn malformed_attributes_are_refused() {
        assert!(parse(json!([{ "value": "L" }])).is_err());
        assert!(parse(json!([{ "name": " ", "value": "L" }])).is_err());
        assert!(parse(json!("size=L")).is_err());
        assert!(parse(json!({ "size": { "nested": true } })).is_err());
    }
}
