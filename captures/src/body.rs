//! [`Body`]: the exact bytes of a request or response body, or their size and digests.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

/// A message body as recorded.
///
/// JSON: `{"text": "…"}` for UTF-8 bytes, `{"base64": "…"}` for other bytes (Xpress, CAB),
/// `{"omitted": {"size": N, "sha1": "hex", "sha256": "hex"}}` for bodies too large to keep.
/// An empty `Text` body is written as no `body` field at all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Body {
    /// The bytes, which are valid UTF-8.
    Text(String),
    /// The bytes, whatever they are (written as base64).
    Binary(Vec<u8>),
    /// The body was not kept; its size and digests were.
    Omitted(OmittedBody),
}

impl Default for Body {
    fn default() -> Self {
        Body::Text(String::new())
    }
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Keeps `bytes`, as `Text` when they are UTF-8 and `Binary` otherwise.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        match String::from_utf8(bytes) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    }

    /// Records only the size and digests of `bytes`.
    pub fn omitted_from(bytes: &[u8]) -> Self {
        let mut d = BodyDigest::new();
        d.update(bytes);
        Body::Omitted(d.finish())
    }

    /// The exact bytes, or `None` when the body was omitted.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Body::Text(t) => Some(t.as_bytes()),
            Body::Binary(b) => Some(b),
            Body::Omitted(_) => None,
        }
    }

    /// The body's size in bytes (also known for omitted bodies).
    pub fn len(&self) -> u64 {
        match self {
            Body::Text(t) => t.len() as u64,
            Body::Binary(b) => b.len() as u64,
            Body::Omitted(o) => o.size,
        }
    }

    /// True for a zero-length body.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when only the size and digests were kept.
    pub fn is_omitted(&self) -> bool {
        matches!(self, Body::Omitted(_))
    }

    /// Size and digests of the body, computed from the bytes when they were kept.
    pub fn digest(&self) -> OmittedBody {
        match self {
            Body::Omitted(o) => o.clone(),
            Body::Text(_) | Body::Binary(_) => {
                let mut d = BodyDigest::new();
                d.update(self.bytes().unwrap_or_default());
                d.finish()
            }
        }
    }

    /// True for the form that is written as no `body` field (an empty `Text`).
    pub(crate) fn is_absent_form(&self) -> bool {
        matches!(self, Body::Text(t) if t.is_empty())
    }
}

/// Size, SHA-1 and SHA-256 of a body that was not kept (large content downloads).
///
/// The digests let the analyzer match a download against the update metadata's file
/// digests, which MS-WUSP gives as SHA-1 and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OmittedBody {
    /// Length in bytes.
    pub size: u64,
    /// SHA-1 of the bytes.
    pub sha1: [u8; 20],
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
}

impl OmittedBody {
    /// SHA-1 as lowercase hex.
    pub fn sha1_hex(&self) -> String {
        hex::encode(self.sha1)
    }

    /// SHA-256 as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// Accumulates size, SHA-1 and SHA-256 of a body streamed through without buffering it.
#[derive(Clone, Default)]
pub struct BodyDigest {
    size: u64,
    sha1: Sha1,
    sha256: Sha256,
}

impl fmt::Debug for BodyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyDigest")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl BodyDigest {
    /// A digest of zero bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next chunk of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        self.sha1.update(chunk);
        self.sha256.update(chunk);
    }

    /// Bytes seen so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The size and digests of everything seen.
    pub fn finish(self) -> OmittedBody {
        let mut sha1 = [0u8; 20];
        sha1.copy_from_slice(&self.sha1.finalize());
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&self.sha256.finalize());
        OmittedBody {
            size: self.size,
            sha1,
            sha256,
        }
    }
}

/// Collects a streamed body: keeps the bytes up to `limit`, digests the bodies over it.
///
/// The proxy feeds each chunk as it forwards it; [`BodyRecorder::finish`] gives the bytes
/// when the body fit, and size and digests otherwise. Digests are computed only once the
/// body passes the limit (a kept body needs none), and a body announced larger than the
/// limit ([`BodyRecorder::expecting`]) is never buffered.
#[derive(Debug, Clone)]
pub struct BodyRecorder {
    limit: u64,
    size: u64,
    kept: Vec<u8>,
    digest: Option<BodyDigest>,
}

impl BodyRecorder {
    /// A recorder that keeps bodies of at most `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            size: 0,
            kept: Vec::new(),
            digest: None,
        }
    }

    /// A recorder for a body announced as `expected` bytes (e.g. by Content-Length):
    /// digests from the start when that is over `limit`, else keeps room for it.
    pub fn expecting(limit: u64, expected: u64) -> Self {
        let mut r = Self::new(limit);
        if expected > limit {
            r.digest = Some(BodyDigest::new());
        } else {
            r.kept.reserve_exact(expected as usize);
        }
        r
    }

    /// Adds the next chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        match &mut self.digest {
            Some(d) => d.update(chunk),
            None if self.size <= self.limit => self.kept.extend_from_slice(chunk),
            None => {
                let mut d = BodyDigest::new();
                d.update(&self.kept);
                d.update(chunk);
                self.kept = Vec::new();
                self.digest = Some(d);
            }
        }
    }

    /// Bytes seen so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The body: its bytes if at most `limit` were seen, else its size and digests.
    pub fn finish(self) -> Body {
        match self.digest {
            None => Body::from_bytes(self.kept),
            Some(d) => Body::Omitted(d.finish()),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct OmittedRepr {
    size: u64,
    sha1: String,
    sha256: String,
}

impl Serialize for OmittedBody {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        OmittedRepr {
            size: self.size,
            sha1: self.sha1_hex(),
            sha256: self.sha256_hex(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for OmittedBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let r = OmittedRepr::deserialize(d)?;
        let mut sha1 = [0u8; 20];
        hex::decode_to_slice(&r.sha1, &mut sha1)
            .map_err(|e| D::Error::custom(format!("omitted body sha1: {e}")))?;
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(&r.sha256, &mut sha256)
            .map_err(|e| D::Error::custom(format!("omitted body sha256: {e}")))?;
        Ok(OmittedBody {
            size: r.size,
            sha1,
            sha256,
        })
    }
}

#[derive(Serialize, Deserialize, Default)]
struct BodyRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    omitted: Option<OmittedBody>,
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let repr = match self {
            Body::Text(t) => BodyRepr {
                text: Some(t.clone()),
                ..Default::default()
            },
            Body::Binary(b) => BodyRepr {
                base64: Some(BASE64.encode(b)),
                ..Default::default()
            },
            Body::Omitted(o) => BodyRepr {
                omitted: Some(o.clone()),
                ..Default::default()
            },
        };
        repr.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let Some(r) = Option::<BodyRepr>::deserialize(d)? else {
            return Ok(Body::empty());
        };
        match (r.text, r.base64, r.omitted) {
            (None, None, None) => Ok(Body::empty()),
            (Some(t), None, None) => Ok(Body::Text(t)),
            (None, Some(b), None) => BASE64
                .decode(b.as_bytes())
                .map(Body::Binary)
                .map_err(|e| D::Error::custom(format!("body base64: {e}"))),
            (None, None, Some(o)) => Ok(Body::Omitted(o)),
            _ => Err(D::Error::custom(
                "body has more than one of \"text\", \"base64\" and \"omitted\"",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_bytes_picks_text_or_binary() {
        assert_eq!(
            Body::from_bytes(b"<s:Envelope/>".to_vec()),
            Body::Text("<s:Envelope/>".into())
        );
        assert_eq!(
            Body::from_bytes(vec![0x0f, 0xff, 0x00]),
            Body::Binary(vec![0x0f, 0xff, 0x00])
        );
        let json = serde_json::to_string(&Body::Binary(vec![0xff, 0xfe])).unwrap();
        assert_eq!(json, r#"{"base64":"//4="}"#);
    }

    #[test]
    fn digests_match_known_values() {
        let Body::Omitted(o) = Body::omitted_from(b"abc") else {
            panic!("not omitted")
        };
        assert_eq!(o.size, 3);
        assert_eq!(o.sha1_hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            o.sha256_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut streamed = BodyDigest::new();
        streamed.update(b"a");
        streamed.update(b"bc");
        assert_eq!(streamed.finish(), o);
    }

    #[test]
    fn recorder_switches_to_digest_past_limit() {
        let mut r = BodyRecorder::new(4);
        r.update(b"ab");
        r.update(b"cd");
        assert_eq!(r.clone().finish(), Body::Text("abcd".into()));
        r.update(b"e");
        r.update(b"fg");
        assert_eq!(r.size(), 7);
        assert_eq!(r.finish(), Body::omitted_from(b"abcdefg"));
        let mut announced = BodyRecorder::expecting(4, 6);
        announced.update(b"abc");
        announced.update(b"def");
        assert_eq!(announced.finish(), Body::omitted_from(b"abcdef"));
        let mut small = BodyRecorder::expecting(4, 3);
        small.update(b"xyz");
        assert_eq!(small.finish(), Body::Text("xyz".into()));
    }

    #[test]
    fn rejects_ambiguous_or_bad_bodies() {
        assert!(serde_json::from_str::<Body>(r#"{"text":"a","base64":"YQ=="}"#).is_err());
        assert!(serde_json::from_str::<Body>(r#"{"base64":"%%%"}"#).is_err());
        assert!(
            serde_json::from_str::<Body>(r#"{"omitted":{"size":1,"sha1":"00","sha256":"00"}}"#)
                .is_err()
        );
        assert_eq!(serde_json::from_str::<Body>("{}").unwrap(), Body::empty());
        assert_eq!(serde_json::from_str::<Body>("null").unwrap(), Body::empty());
    }
}
