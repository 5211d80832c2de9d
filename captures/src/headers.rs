//! [`Headers`]: header fields in wire order with their original case.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One header field as it was on the wire.
///
/// JSON: `["Name", "value"]`; a value whose bytes are not UTF-8 (obs-text) is written as
/// `["Name", "lossy UTF-8 value", "base64 of the exact bytes"]`, so readers that only look
/// at the first two elements still see a readable value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    name: String,
    value: String,
    raw: Option<Vec<u8>>,
}

impl Header {
    /// A header with a UTF-8 value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            raw: None,
        }
    }

    /// A header with its value's exact bytes (which need not be UTF-8).
    pub fn from_bytes(name: impl Into<String>, value: &[u8]) -> Self {
        match std::str::from_utf8(value) {
            Ok(v) => Self::new(name, v),
            Err(_) => Self {
                name: name.into(),
                value: String::from_utf8_lossy(value).into_owned(),
                raw: Some(value.to_vec()),
            },
        }
    }

    /// The name, in its original case.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value as text (invalid UTF-8 replaced by U+FFFD).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The value's exact bytes.
    pub fn value_bytes(&self) -> &[u8] {
        self.raw.as_deref().unwrap_or(self.value.as_bytes())
    }

    /// True when the value's bytes are not UTF-8 and `value()` is only an approximation.
    pub fn is_lossy(&self) -> bool {
        self.raw.is_some()
    }
}

/// Header fields in wire order, names in their original case, duplicates kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a header with a UTF-8 value.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push(Header::new(name, value));
    }

    /// Appends a header.
    pub fn push_header(&mut self, header: Header) {
        self.0.push(header);
    }

    /// The first value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every value of `name` in wire order, compared case-insensitively.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// True if any header is called `name` (case-insensitively).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The headers in wire order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.0.iter()
    }

    /// The headers in wire order, as a slice.
    pub fn as_slice(&self) -> &[Header] {
        &self.0
    }

    /// Number of header fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no header fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<Header>> for Headers {
    fn from(v: Vec<Header>) -> Self {
        Self(v)
    }
}

impl From<Headers> for Vec<Header> {
    fn from(h: Headers) -> Self {
        h.0
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(n, v)| Header::new(n, v)).collect())
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Serialize for Header {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(if self.raw.is_some() { 3 } else { 2 }))?;
        seq.serialize_element(&self.name)?;
        seq.serialize_element(&self.value)?;
        if let Some(raw) = &self.raw {
            seq.serialize_element(&BASE64.encode(raw))?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Header;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header [name, value] or [name, value, base64]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Header, A::Error> {
                let name: String = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let value: String = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let raw: Option<String> = seq.next_element()?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(4, &self));
                }
                match raw {
                    None => Ok(Header::new(name, value)),
                    Some(b64) => {
                        let bytes = BASE64.decode(b64.as_bytes()).map_err(|e| {
                            de::Error::custom(format!("header {name:?} base64: {e}"))
                        })?;
                        Ok(Header::from_bytes(name, &bytes))
                    }
                }
            }
        }
        d.deserialize_seq(V)
    }
}

impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(
            Option::<Vec<Header>>::deserialize(d)?.unwrap_or_default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_keeps_order() {
        let h: Headers = [
            ("Set-Cookie", "a=1"),
            ("content-type", "text/xml"),
            ("set-cookie", "b=2"),
        ]
        .into_iter()
        .collect();
        assert_eq!(h.get("Content-Type"), Some("text/xml"));
        assert_eq!(h.get_all("SET-COOKIE").collect::<Vec<_>>(), ["a=1", "b=2"]);
        assert_eq!(h.get("Host"), None);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(
            json,
            r#"[["Set-Cookie","a=1"],["content-type","text/xml"],["set-cookie","b=2"]]"#
        );
        assert_eq!(serde_json::from_str::<Headers>(&json).unwrap(), h);
    }

    #[test]
    fn non_utf8_values_keep_their_bytes() {
        let h = Header::from_bytes("X-Name", b"caf\xe9");
        assert!(h.is_lossy());
        assert_eq!(h.value(), "caf\u{fffd}");
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, r#"["X-Name","caf�","Y2Fm6Q=="]"#);
        let back: Header = serde_json::from_str(&json).unwrap();
        assert_eq!(back.value_bytes(), b"caf\xe9");
        assert_eq!(back, h);
        assert!(serde_json::from_str::<Header>(r#"["a"]"#).is_err());
        assert!(serde_json::from_str::<Header>(r#"["a","b","c","d"]"#).is_err());
    }
}
