//! Strict JSON reading: duplicate member names and excess nesting are errors.
//!
//! RFC 7515 section 4 and RFC 7519 section 4 let a parser reject duplicate
//! member names, and jwtguard always does, so two parsers can never disagree
//! about which `exp` or `alg` counts.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::de::{Read, SliceRead, StrRead};
use serde_json::{Map, Value};

/// Nesting limit for policy and key set documents.
pub(crate) const DOCUMENT_MAX_DEPTH: usize = 64;

/// Describes a parse error in at most about 100 characters, since serde's
/// messages quote the offending input, which may be a whole token part.
fn describe(err: &serde_json::Error) -> String {
    let message = err.to_string();
    if message.chars().count() <= 100 {
        return message;
    }
    let head: String = message.chars().take(60).collect();
    format!("{head}… at line {} column {}", err.line(), err.column())
}

/// Quotes untrusted text for a message: at most 64 characters, with
/// control characters escaped, so a log line cannot be forged or flooded.
pub(crate) fn printable(text: &str) -> String {
    let mut prefix: String = text.chars().take(64).collect();
    if prefix.len() < text.len() {
        prefix.push('…');
    }
    format!("{prefix:?}")
}

/// Parses `bytes` into a [`Value`], rejecting duplicate member names,
/// nesting deeper than `max_depth` and trailing characters.
pub(crate) fn parse_strict(bytes: &[u8], max_depth: usize) -> Result<Value, String> {
    let seed = StrictValue {
        depth_left: max_depth,
    };
    deserialize(SliceRead::new(bytes), seed)
}

/// A decoded token part: UTF-8 text, or bytes that failed the UTF-8 check.
#[derive(Clone, Copy)]
pub(crate) enum Part<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
}

/// Reads `part` with `seed`. serde_json checks the UTF-8 of each string
/// only when it reads bytes, because text is already known to be valid.
fn scan<'de, S: DeserializeSeed<'de>>(part: Part<'de>, seed: S) -> Result<S::Value, String> {
    match part {
        Part::Text(text) => deserialize(StrRead::new(text), seed),
        Part::Bytes(bytes) => deserialize(SliceRead::new(bytes), seed),
    }
}

/// Reads one JSON value with `seed` and rejects trailing characters.
fn deserialize<'de, R: Read<'de>, S: DeserializeSeed<'de>>(
    read: R,
    seed: S,
) -> Result<S::Value, String> {
    let mut deserializer = serde_json::Deserializer::new(read);
    let value = seed
        .deserialize(&mut deserializer)
        .map_err(|err| describe(&err))?;
    deserializer.end().map_err(|err| describe(&err))?;
    Ok(value)
}

/// The registered time claims of a payload, as found at its top level.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct TimeClaims {
    pub(crate) exp: Option<NumericDate>,
    pub(crate) nbf: Option<NumericDate>,
}

/// A NumericDate claim (RFC 7519 section 2), or a claim of the wrong type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum NumericDate {
    Seconds(f64),
    NotANumber,
}

/// Checks a JWT payload without building it: it must be one JSON object with
/// no duplicate member names at any depth and no nesting past `max_depth`.
/// Returns its `exp` and `nbf` claims.
pub(crate) fn scan_claims(part: Part<'_>, max_depth: usize) -> Result<TimeClaims, String> {
    let seed = ClaimsScan {
        depth_left: max_depth,
    };
    scan(part, seed)
}

/// Tracks member names seen in one object. The first names are kept in an
/// inline array, so small objects need no allocation. Larger objects move
/// to a hash set, so a crafted object cannot make the check quadratic.
struct SeenNames<'de> {
    small: [Cow<'de, str>; SMALL_OBJECT],
    small_len: usize,
    large: Option<HashSet<Cow<'de, str>>>,
}

const SMALL_OBJECT: usize = 16;

impl<'de> SeenNames<'de> {
    fn new() -> Self {
        SeenNames {
            small: [const { Cow::Borrowed("") }; SMALL_OBJECT],
            small_len: 0,
            large: None,
        }
    }

    /// Records `name`; returns an error naming it when it was seen before.
    fn insert<E: de::Error>(&mut self, name: Cow<'de, str>) -> Result<(), E> {
        let duplicate = match &mut self.large {
            Some(set) => !set.insert(name.clone()),
            None if self.small_len < SMALL_OBJECT => {
                let seen = self.small[..self.small_len].contains(&name);
                self.small[self.small_len] = name.clone();
                self.small_len += 1;
                seen
            }
            None => {
                let mut set: HashSet<_> = self.small.iter_mut().map(std::mem::take).collect();
                let seen = !set.insert(name.clone());
                self.large = Some(set);
                seen
            }
        };
        if duplicate {
            return Err(E::custom(format_args!(
                "duplicate member name {}",
                printable(&name)
            )));
        }
        Ok(())
    }
}

/// Reads a member name, borrowing it from the input when it has no escapes.
struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text))
    }
}

fn too_deep<E: de::Error>() -> E {
    E::custom("JSON nesting is deeper than the limit")
}

/// Builds a [`Value`] with the strict rules.
struct StrictValue {
    depth_left: usize,
}

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth_left = self.depth_left.checked_sub(1).ok_or_else(too_deep)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue { depth_left })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let depth_left = self.depth_left.checked_sub(1).ok_or_else(too_deep)?;
        let mut members = Map::new();
        while let Some(name) = map.next_key_seed(NameSeed)? {
            if members.contains_key(name.as_ref()) {
                return Err(de::Error::custom(format_args!(
                    "duplicate member name {}",
                    printable(&name)
                )));
            }
            let value = map.next_value_seed(StrictValue { depth_left })?;
            members.insert(name.into_owned(), value);
        }
        Ok(Value::Object(members))
    }
}

/// Walks any value with the strict rules and keeps nothing.
struct Skip {
    depth_left: usize,
}

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth_left = self.depth_left.checked_sub(1).ok_or_else(too_deep)?;
        while seq.next_element_seed(Skip { depth_left })?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let depth_left = self.depth_left.checked_sub(1).ok_or_else(too_deep)?;
        let mut seen = SeenNames::new();
        while let Some(name) = map.next_key_seed(NameSeed)? {
            seen.insert(name)?;
            map.next_value_seed(Skip { depth_left })?;
        }
        Ok(())
    }
}

/// Walks a payload object and keeps its `exp` and `nbf`.
struct ClaimsScan {
    depth_left: usize,
}

impl<'de> DeserializeSeed<'de> for ClaimsScan {
    type Value = TimeClaims;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<TimeClaims, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ClaimsScan {
    type Value = TimeClaims;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TimeClaims, A::Error> {
        let depth_left = self.depth_left.checked_sub(1).ok_or_else(too_deep)?;
        let mut seen = SeenNames::new();
        let mut claims = TimeClaims::default();
        while let Some(name) = map.next_key_seed(NameSeed)? {
            let slot = match name.as_ref() {
                "exp" => Some(&mut claims.exp),
                "nbf" => Some(&mut claims.nbf),
                _ => None,
            };
            match slot {
                Some(slot) => *slot = Some(map.next_value_seed(NumericDateSeed { depth_left })?),
                None => map.next_value_seed(Skip { depth_left })?,
            }
            seen.insert(name)?;
        }
        Ok(claims)
    }
}

/// Reads a NumericDate, walking (and so still checking) any other value.
struct NumericDateSeed {
    depth_left: usize,
}

impl<'de> DeserializeSeed<'de> for NumericDateSeed {
    type Value = NumericDate;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<NumericDate, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NumericDateSeed {
    type Value = NumericDate;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a NumericDate")
    }

    fn visit_i64<E>(self, value: i64) -> Result<NumericDate, E> {
        Ok(NumericDate::Seconds(value as f64))
    }

    fn visit_u64<E>(self, value: u64) -> Result<NumericDate, E> {
        Ok(NumericDate::Seconds(value as f64))
    }

    fn visit_f64<E>(self, value: f64) -> Result<NumericDate, E> {
        Ok(NumericDate::Seconds(value))
    }

    fn visit_bool<E>(self, _: bool) -> Result<NumericDate, E> {
        Ok(NumericDate::NotANumber)
    }

    fn visit_str<E>(self, _: &str) -> Result<NumericDate, E> {
        Ok(NumericDate::NotANumber)
    }

    fn visit_unit<E>(self) -> Result<NumericDate, E> {
        Ok(NumericDate::NotANumber)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<NumericDate, A::Error> {
        Skip {
            depth_left: self.depth_left,
        }
        .visit_seq(seq)?;
        Ok(NumericDate::NotANumber)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<NumericDate, A::Error> {
        Skip {
            depth_left: self.depth_left,
        }
        .visit_map(map)?;
        Ok(NumericDate::NotANumber)
    }
}

/// A header member that should be a string.
#[derive(Debug, PartialEq)]
pub(crate) enum StringMember<'a> {
    String(Cow<'a, str>),
    NotAString,
}

/// The protected header members that decide how a token is processed.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct HeaderFields<'a> {
    pub(crate) alg: Option<StringMember<'a>>,
    pub(crate) kid: Option<StringMember<'a>>,
    pub(crate) has_enc: bool,
    pub(crate) has_crit: bool,
    /// `Some(true)` only for a literal `"b64": true`.
    pub(crate) b64: Option<bool>,
}

/// Checks a JWS header with the strict rules, without building it, and
/// returns the members jwtguard acts on.
pub(crate) fn scan_header(part: Part<'_>, max_depth: usize) -> Result<HeaderFields<'_>, String> {
    let seed = HeaderScan {
        depth_left: max_depth,
    };
    scan(part, seed)
}

struct HeaderScan {
    depth_left: usize,
}

impl<'de> DeserializeSeed<'de> for HeaderScan {
    type Value = HeaderFields<'de>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HeaderScan {
    type Value = HeaderFields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let depth_left = self.depth_left.checked_sub(1).ok_or_else(too_deep)?;
        let mut seen = SeenNames::new();
        let mut fields = HeaderFields::default();
        while let Some(name) = map.next_key_seed(NameSeed)? {
            match name.as_ref() {
                "alg" => fields.alg = Some(map.next_value_seed(StringSeed { depth_left })?),
                "kid" => fields.kid = Some(map.next_value_seed(StringSeed { depth_left })?),
                "b64" => fields.b64 = Some(map.next_value_seed(IsTrue { depth_left })?),
                other => {
                    fields.has_enc |= other == "enc";
                    fields.has_crit |= other == "crit";
                    map.next_value_seed(Skip { depth_left })?;
                }
            }
            seen.insert(name)?;
        }
        Ok(fields)
    }
}

/// Reads a string, borrowing it when it has no escapes; walks any other
/// value with the strict rules.
struct StringSeed {
    depth_left: usize,
}

impl<'de> DeserializeSeed<'de> for StringSeed {
    type Value = StringMember<'de>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StringSeed {
    type Value = StringMember<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(StringMember::String(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(StringMember::String(Cow::Owned(text.to_owned())))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(StringMember::NotAString)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(StringMember::NotAString)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(StringMember::NotAString)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(StringMember::NotAString)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(StringMember::NotAString)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Skip {
            depth_left: self.depth_left,
        }
        .visit_seq(seq)?;
        Ok(StringMember::NotAString)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Skip {
            depth_left: self.depth_left,
        }
        .visit_map(map)?;
        Ok(StringMember::NotAString)
    }
}

/// Tells whether a value is the literal `true`, walking any other value
/// with the strict rules.
struct IsTrue {
    depth_left: usize,
}

impl<'de> DeserializeSeed<'de> for IsTrue {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for IsTrue {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<bool, E> {
        Ok(value)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        Skip {
            depth_left: self.depth_left,
        }
        .visit_seq(seq)?;
        Ok(false)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        Skip {
            depth_left: self.depth_left,
        }
        .visit_map(map)?;
        Ok(false)
    }
}
