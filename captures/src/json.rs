//! Writing records as JSON lines, with large bodies escaped fast.
//!
//! serde_json escapes strings one byte at a time (about 12 instructions per byte): for a
//! 204 KB SyncUpdates page that was most of the proxy recorder's time per record. Here a
//! record is first serialized by serde_json with each large kept body stood in for by a
//! placeholder string, then the placeholders are replaced by the bodies' JSON string
//! literals, written by [`push_string_literal`], which skips runs without anything to
//! escape eight bytes at a time. The line is byte for byte the one serde_json writes.

use std::cell::Cell;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::body::Body;
use crate::record::Record;

/// Bodies at least this large are written through a placeholder.
const DEFER_AT: usize = 1024;

thread_local! {
    /// The placeholder nonce while [`write_record`] runs on this thread.
    static DEFERRING: Cell<Option<u128>> = const { Cell::new(None) };
}

/// A random nonce, so that no string a peer sent can look like a placeholder.
fn nonce() -> Option<u128> {
    static NONCE: OnceLock<Option<u128>> = OnceLock::new();
    *NONCE.get_or_init(|| {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b)
            .ok()
            .map(|()| u128::from_le_bytes(b))
    })
}

/// The placeholder for the kept bytes at `bytes`, when a [`write_record`] on this thread
/// writes such bodies itself; `None` when the body is to be serialized as usual.
pub(crate) fn placeholder(bytes: &[u8]) -> Option<String> {
    let nonce = DEFERRING.with(Cell::get)?;
    (bytes.len() >= DEFER_AT).then(|| placeholder_text(nonce, bytes))
}

fn placeholder_text(nonce: u128, bytes: &[u8]) -> String {
    format!(
        "\u{1}wutap-body:{nonce:032x}:{:x}:{}\u{1}",
        bytes.as_ptr() as usize,
        bytes.len()
    )
}

/// The placeholder for `bytes` as serde_json writes it (a JSON string, `\u0001` escaped).
fn quoted_placeholder(nonce: u128, bytes: &[u8]) -> String {
    format!(
        "\"\\u0001wutap-body:{nonce:032x}:{:x}:{}\\u0001\"",
        bytes.as_ptr() as usize,
        bytes.len()
    )
}

/// A searcher for the start every quoted placeholder shares, built once: building a
/// searcher per body was ~1.4 % of the recording proxy's CPU.
fn placeholder_start(nonce: u128) -> &'static memchr::memmem::Finder<'static> {
    static START: OnceLock<memchr::memmem::Finder<'static>> = OnceLock::new();
    START.get_or_init(|| {
        let start = format!("\"\\u0001wutap-body:{nonce:032x}:");
        memchr::memmem::Finder::new(start.as_bytes()).into_owned()
    })
}

/// Clears the thread's deferring state even when serialization fails or panics.
struct Deferring;

impl Drop for Deferring {
    fn drop(&mut self) {
        DEFERRING.with(|d| d.set(None));
    }
}

/// Appends `record` as JSON (no newline) to `out`, exactly as `serde_json::to_writer`.
pub(crate) fn write_record(out: &mut Vec<u8>, record: &Record) -> serde_json::Result<()> {
    let large: Vec<&Body> = kept_bodies(record)
        .into_iter()
        .filter(|b| b.bytes().is_some_and(|x| x.len() >= DEFER_AT))
        .collect();
    let Some(nonce) = nonce().filter(|_| !large.is_empty()) else {
        return serde_json::to_writer(out, record);
    };
    let mut skeleton = Vec::with_capacity(2048);
    {
        DEFERRING.with(|d| d.set(Some(nonce)));
        let _reset = Deferring;
        serde_json::to_writer(&mut skeleton, record)?;
    }
    // Where each body's placeholder (a JSON string) landed in the skeleton.
    let mut spots = Vec::with_capacity(large.len());
    let start = placeholder_start(nonce);
    for body in &large {
        let bytes = body.bytes().unwrap_or_default();
        let quoted = quoted_placeholder(nonce, bytes);
        let found = start
            .find_iter(&skeleton)
            .find(|&at| skeleton[at..].starts_with(quoted.as_bytes()));
        match found {
            Some(at) => spots.push((at, quoted.len(), *body)),
            // Not where expected (cannot happen): serde_json writes it all.
            None => return serde_json::to_writer(out, record),
        }
    }
    spots.sort_by_key(|s| s.0);
    let total: usize = large.iter().map(|b| b.len() as usize * 4 / 3 + 8).sum();
    out.reserve(skeleton.len() + total);
    let mut done = 0;
    for (at, len, body) in spots {
        out.extend_from_slice(&skeleton[done..at]);
        match body {
            Body::Text(t) => push_string_literal(out, t.as_bytes()),
            Body::Binary(b) => {
                out.push(b'"');
                let start = out.len();
                out.resize(start + base64::encoded_len(b.len(), true).unwrap_or(0), 0);
                let n = BASE64
                    .encode_slice(b, &mut out[start..])
                    .map_err(serde::ser::Error::custom)?;
                out.truncate(start + n);
                out.push(b'"');
            }
            Body::Omitted(_) => {}
        }
        done = at + len;
    }
    out.extend_from_slice(&skeleton[done..]);
    Ok(())
}

/// The kept bodies of a record, in no particular order.
fn kept_bodies(record: &Record) -> Vec<&Body> {
    match record {
        Record::Exchange(e) => vec![&e.request.body, &e.response.body],
        Record::Error(e) => e
            .request
            .iter()
            .map(|r| &r.body)
            .chain(e.response.iter().map(|r| &r.body))
            .collect(),
        Record::Connection(_) | Record::Header(_) => Vec::new(),
    }
}

const ONES: u64 = u64::MAX / 255;
const HIGHS: u64 = ONES * 0x80;

/// High bit set in each byte of `w` that JSON escapes (below 0x20, `"`, `\`); the lowest
/// set bit is exact (borrows only travel upwards).
#[inline]
fn escape_mask(w: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    (below_space | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))) & HIGHS
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the escape of `b`, as serde_json writes it.
#[inline]
fn push_escape(out: &mut Vec<u8>, b: u8) {
    let short = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        0x08 => b'b',
        0x0c => b'f',
        _ => {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

/// True for a byte JSON escapes.
#[inline]
fn is_escaped(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Bytes looked at together: a block with nothing to escape is copied whole.
const BLOCK: usize = 32;

/// True if any byte of `block` is one JSON escapes; written without branches, so that
/// the compiler checks the whole block with vector instructions.
#[inline]
fn block_needs_escape(block: &[u8; BLOCK]) -> bool {
    block.iter().fold(false, |acc, &b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

/// Appends the UTF-8 `s` as a JSON string literal, quotes included.
///
/// A clean 32-byte block is copied at once; within a block with something to escape the
/// bytes go eight at a time up to the first one to escape ([`escape_mask`]).
pub(crate) fn push_string_literal(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + s.len() / 8 + 2);
    out.push(b'"');
    let mut i = 0;
    // Up to here the bytes are known to hold something to escape: no block check.
    let mut dirty_until = 0;
    loop {
        if i >= dirty_until
            && let Some(block) = s
                .get(i..i + BLOCK)
                .and_then(|b| <&[u8; BLOCK]>::try_from(b).ok())
        {
            if !block_needs_escape(block) {
                out.extend_from_slice(block);
                i += BLOCK;
                continue;
            }
            dirty_until = i + BLOCK;
        }
        let Some(word) = s.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) else {
            break;
        };
        // Copying all eight bytes and cutting back is cheaper than a copy of variable size.
        out.extend_from_slice(&word);
        let m = escape_mask(u64::from_le_bytes(word));
        if m == 0 {
            i += 8;
            continue;
        }
        let k = (m.trailing_zeros() / 8) as usize;
        out.truncate(out.len() - 8 + k);
        push_escape(out, word[k]);
        i += k + 1;
    }
    for &b in &s[i..] {
        if is_escaped(b) {
            push_escape(out, b);
        } else {
            out.push(b);
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(s: &str) -> String {
        let mut out = Vec::new();
        push_string_literal(&mut out, s.as_bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn literals_are_what_serde_json_writes() {
        let samples = [
            "",
            "a",
            "plain ascii text that is longer than a word",
            "\"quoted\" \\ back\\slash",
            "<a x=\"1\">\r\n\t\u{8}\u{c}\u{0}\u{1f}\u{7f}</a>",
            "héllo wörld ✓ 𝄞 — über",
            "12345678\"12345678\n1234567",
        ];
        for s in samples {
            assert_eq!(literal(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
        for b in 0u8..128 {
            for at in 0..10 {
                let s = format!("{}{}hijklmnopq", &"abcdefghij"[..at], b as char);
                assert_eq!(
                    literal(&s),
                    serde_json::to_string(&s).unwrap(),
                    "{b} at {at}"
                );
            }
        }
    }

    #[test]
    fn placeholders_are_searched_for_as_serde_json_quotes_them() {
        let nonce = nonce().unwrap();
        let body = vec![b'x'; 5000];
        let quoted = quoted_placeholder(nonce, &body);
        assert_eq!(
            quoted,
            serde_json::to_string(&placeholder_text(nonce, &body)).unwrap()
        );
        assert_eq!(placeholder_start(nonce).find(quoted.as_bytes()), Some(0));
    }

    #[test]
    fn escapes_anywhere_around_the_blocks_are_found() {
        for len in [31, 32, 33, 64, 100] {
            for at in 0..len {
                for c in ['"', '\\', '\n', '\u{1}'] {
                    let mut s: Vec<char> = "abcdefgh".chars().cycle().take(len).collect();
                    s[at] = c;
                    s[len - 1 - at] = c;
                    let s: String = s.into_iter().collect();
                    assert_eq!(literal(&s), serde_json::to_string(&s).unwrap(), "{s:?}");
                }
            }
        }
    }

    fn exchange(request: Body, response: Body) -> Record {
        Record::Exchange(crate::Exchange {
            id: 7,
            conn: 3,
            client: Some("127.0.0.1:1".into()),
            server: None,
            scheme: "https".into(),
            tls: None,
            upstream_tls: None,
            time: crate::Timing::starting(crate::Timestamp::now()),
            request: crate::Request {
                method: "POST".into(),
                body: request,
                ..Default::default()
            },
            response: crate::Response {
                status: 200,
                body: response,
                ..Default::default()
            },
        })
    }

    #[test]
    fn records_with_large_bodies_are_written_as_serde_json_writes_them() {
        let text = "<UpdateInfo a=\"1\">\r\n\tx\u{1}é</UpdateInfo>".repeat(200);
        let binary: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
        let same_text = Body::Text(text.clone());
        for record in [
            exchange(Body::Text(text.clone()), Body::Binary(binary.clone())),
            exchange(Body::Text("small".into()), Body::Text(text.clone())),
            exchange(same_text.clone(), same_text),
            exchange(Body::Binary(binary.clone()), Body::omitted_from(&binary)),
            exchange(Body::empty(), Body::empty()),
        ] {
            let mut out = Vec::new();
            write_record(&mut out, &record).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&record).unwrap()
            );
        }
        // A peer's string that looks like a placeholder (without the nonce) stays as sent.
        let fake = format!("\u{1}wutap-body:{:032x}:0:5000\u{1}", 0);
        let record = exchange(Body::Text(fake.clone()), Body::Text(text));
        let mut out = Vec::new();
        write_record(&mut out, &record).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&record).unwrap()
        );
        assert!(DEFERRING.with(Cell::get).is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(s in "(?s).{0,64}") {
            proptest::prop_assert_eq!(literal(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn any_ascii_is_written_as_serde_json_writes_it(
            bytes in proptest::collection::vec(0u8..128, 0..80)
        ) {
            let s = String::from_utf8(bytes).unwrap();
            proptest::prop_assert_eq!(literal(&s), serde_json::to_string(&s).unwrap());
        }
    }
}
