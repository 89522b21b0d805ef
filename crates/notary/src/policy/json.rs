//! Reading trust policy JSON the way notation's Go decoder does, minus its silences.
//!
//! Go's `encoding/json` ignores unknown members, matches member names
//! case-insensitively, treats `null` as "leave the zero value", and rejects a
//! value of the wrong JSON type. We do the same, with two deliberate
//! differences: a member given twice (Go keeps the last one silently) is
//! rejected, and so is anything after the document's closing brace (Go's
//! `Decoder.Decode` stops reading there).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::error::TrustPolicyError;

/// A JSON value whose objects keep their members in order, with no duplicates.
#[derive(Debug, Clone)]
pub(crate) enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Any number; trust policies have none, so only its presence matters.
    Number,
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, members in document order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses one JSON document from `bytes`, refusing duplicate members.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, TrustPolicyError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value = Json::deserialize(&mut de).map_err(|e| duplicate_or_malformed(&e))?;
        de.end().map_err(|e| TrustPolicyError::Malformed {
            detail: e.to_string(),
        })?;
        Ok(value)
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Number => "a number",
            Self::String(_) => "a string",
            Self::Array(_) => "an array",
            Self::Object(_) => "an object",
        }
    }
}

/// Marks duplicate-member errors raised inside the visitor so they can be told apart.
const DUPLICATE_MARK: &str = "\u{0}duplicate\u{0}";

fn duplicate_or_malformed(e: &serde_json::Error) -> TrustPolicyError {
    let text = e.to_string();
    match text
        .strip_prefix(DUPLICATE_MARK)
        .and_then(|rest| rest.split_once(DUPLICATE_MARK))
    {
        Some((key, _)) => TrustPolicyError::DuplicateKey {
            key: key.to_owned(),
            path: format!("the object ending at line {} column {}", e.line(), e.column()),
        },
        None => TrustPolicyError::Malformed { detail: text },
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Json, E> {
        Ok(Json::Number)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
        Ok(Json::Number)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
        Ok(Json::Number)
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if members.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format_args!(
                    "{DUPLICATE_MARK}{key}{DUPLICATE_MARK}"
                )));
            }
            let value = map.next_value()?;
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

/// Go's case folding for member names (close enough: lowercase, and the long s).
fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ſ' { 's' } else { c })
        .collect()
}

/// A view of a JSON object that looks members up as Go's decoder does.
pub(crate) struct Object<'a> {
    members: &'a [(String, Json)],
    path: String,
}

impl<'a> Object<'a> {
    /// Views `value` at `path` as an object; `null` is an empty object.
    pub(crate) fn new(value: &'a Json, path: String) -> Result<Self, TrustPolicyError> {
        match value {
            Json::Object(members) => Ok(Self { members, path }),
            Json::Null => Ok(Self { members: &[], path }),
            other => Err(type_error(&path, "an object", other)),
        }
    }

    /// The member whose name matches `name` case-insensitively.
    fn get(&self, name: &str) -> Result<Option<&'a Json>, TrustPolicyError> {
        // Go assigns every member whose name folds to the field's, last one
        // winning; more than one such member is therefore a duplicate.
        let folded = fold(name);
        let mut found = self.members.iter().filter(|(k, _)| fold(k) == folded);
        let first = found.next();
        if found.next().is_some() {
            return Err(self.duplicate(name));
        }
        Ok(first.map(|(_, v)| v))
    }

    fn duplicate(&self, name: &str) -> TrustPolicyError {
        TrustPolicyError::DuplicateKey {
            key: name.to_owned(),
            path: self.path_or_root(),
        }
    }

    fn path_or_root(&self) -> String {
        if self.path.is_empty() {
            "the document".to_owned()
        } else {
            self.path.clone()
        }
    }

    fn child_path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// A string member; absent or `null` is `""`.
    pub(crate) fn string(&self, name: &str) -> Result<String, TrustPolicyError> {
        match self.get(name)? {
            None | Some(Json::Null) => Ok(String::new()),
            Some(Json::String(s)) => Ok(s.clone()),
            Some(other) => Err(type_error(&self.child_path(name), "a string", other)),
        }
    }

    /// A boolean member; absent or `null` is `false`.
    pub(crate) fn boolean(&self, name: &str) -> Result<bool, TrustPolicyError> {
        match self.get(name)? {
            None | Some(Json::Null) => Ok(false),
            Some(Json::Bool(b)) => Ok(*b),
            Some(other) => Err(type_error(&self.child_path(name), "a boolean", other)),
        }
    }

    /// An array-of-strings member; absent or `null` is empty, a `null` element is `""`.
    pub(crate) fn strings(&self, name: &str) -> Result<Vec<String>, TrustPolicyError> {
        let path = self.child_path(name);
        match self.get(name)? {
            None | Some(Json::Null) => Ok(Vec::new()),
            Some(Json::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Json::String(s) => Ok(s.clone()),
                    Json::Null => Ok(String::new()),
                    other => Err(type_error(&format!("{path}[{i}]"), "a string", other)),
                })
                .collect(),
            Some(other) => Err(type_error(&path, "an array of strings", other)),
        }
    }

    /// An array-of-objects member; absent or `null` is empty.
    pub(crate) fn objects(&self, name: &str) -> Result<Vec<Object<'a>>, TrustPolicyError> {
        let path = self.child_path(name);
        match self.get(name)? {
            None | Some(Json::Null) => Ok(Vec::new()),
            Some(Json::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| Object::new(item, format!("{path}[{i}]")))
                .collect(),
            Some(other) => Err(type_error(&path, "an array of objects", other)),
        }
    }

    /// An object member; absent or `null` is an empty object.
    pub(crate) fn object(&self, name: &str) -> Result<Object<'a>, TrustPolicyError> {
        let path = self.child_path(name);
        match self.get(name)? {
            None => Ok(Object { members: &[], path }),
            Some(v) => Object::new(v, path),
        }
    }

    /// A string-to-string map member (exact keys, document order); `null` values are `""`.
    pub(crate) fn string_map(&self, name: &str) -> Result<Vec<(String, String)>, TrustPolicyError> {
        let map = self.object(name)?;
        map.members
            .iter()
            .map(|(k, v)| match v {
                Json::String(s) => Ok((k.clone(), s.clone())),
                Json::Null => Ok((k.clone(), String::new())),
                other => Err(type_error(&map.child_path(k), "a string", other)),
            })
            .collect()
    }
}

fn type_error(path: &str, expected: &str, found: &Json) -> TrustPolicyError {
    let at = if path.is_empty() {
        "the document".to_owned()
    } else {
        format!("{path:?}")
    };
    TrustPolicyError::Malformed {
        detail: format!("{at} must be {expected}, not {}", found.kind()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_anywhere() {
        let err = Json::parse(br#"{"a": {"b": 1, "b": 2}}"#)
            .map(|_| ())
            .expect_err("duplicate");
        assert!(
            matches!(err, TrustPolicyError::DuplicateKey { ref key, .. } if key == "b"),
            "{err:?}"
        );
        let doc = Json::parse(br#"{"Version": "1.0", "version": "1.0"}"#).expect("json");
        let obj = Object::new(&doc, String::new()).expect("object");
        assert!(matches!(
            obj.string("version"),
            Err(TrustPolicyError::DuplicateKey { .. })
        ));
    }

    #[test]
    fn go_decoder_semantics() {
        let doc = Json::parse(br#"{"VERSION": "1.0", "x": [1], "trustStores": null}"#).expect("json");
        let obj = Object::new(&doc, String::new()).expect("object");
        assert_eq!(obj.string("version").expect("str"), "1.0");
        assert!(obj.strings("trustStores").expect("null").is_empty());
        assert!(obj.string("x").is_err());
        assert!(Json::parse(b"{} x").is_err());
    }
}
