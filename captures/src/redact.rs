//! Redaction: replaces the secrets and identities of a capture so that it can be shared.
//!
//! A capture holds cookies that let anyone talk to the WSUS server as the client, the
//! client's id, and the names and addresses of the machines. A [`Redactor`] replaces each
//! of them by a placeholder derived from a secret key, the kind of value and the value with
//! HMAC-SHA256. The same value always gets the same placeholder, in every record and in
//! every file redacted with the same key, so an analysis that follows a cookie or a client
//! through a capture works on the redacted one too; without the key, placeholders tell
//! nothing about the values.
//!
//! Placeholders keep the shape of what they replace, so the redacted capture still parses:
//!
//! | value | placeholder |
//! | --- | --- |
//! | cookie `EncryptedData`, authorization `CookieData` | base64 of as many pseudo-random bytes as the original decodes to |
//! | client id (`clientId`, `Sid`, `computerId`) | a lower-case version-4 GUID for a GUID, `client-<16 hex>` otherwise |
//! | DNS name | `host-<8 hex>.redacted.invalid` |
//! | IPv4 address | an address in 198.18.0.0/15 (the benchmarking range) |
//! | IPv6 address | an address in 2001:db8::/32 (the documentation range) |
//! | user account name | `user-<8 hex>` |
//! | cookie and credential values of HTTP headers, URL user info | the same length and character classes (hex stays hex, base64 stays base64 of the same decoded length) |
//!
//! Ports, URL paths and queries, header names, cookie names and everything else in a body
//! are kept byte for byte. Bodies are rewritten in their content encoding: an Xpress body
//! is decoded, redacted and encoded again with the block size of the original, a gzip or
//! deflate body is compressed again; a body that did not change keeps its exact bytes.
//!
//! Original values never reach a log, a [`Note`] or an error message.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit as _, Mac as _};
use quick_xml::events::Event;
use quick_xml::reader::Reader;
use sha2::Sha256;
use wusp::http::{ContentEncoding, decode_content};
use wusp::xml::{escape_text, unescape};

use crate::body::Body;
use crate::compression::Compression;
use crate::error::{Error, Result};
use crate::headers::{Header, Headers};
use crate::reader::{CaptureReader, Problem, ReadItem};
use crate::record::{ConnectionRecord, ErrorRecord, Exchange, Record, Request, Response, TlsInfo};
use crate::writer::{CaptureWriter, WriterOptions};

type HmacSha256 = Hmac<Sha256>;

/// Domain separation for the key derivation; a new placeholder scheme gets a new label.
const LABEL: &[u8] = b"wutap-redact-v1";

/// How many other placeholders a value may try when its first choice is already taken.
const MAX_PROBES: u32 = 64;

/// What kind of value a placeholder replaces.
///
/// The kind is part of the key derivation: equal strings of different kinds get unrelated
/// placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// `Cookie.EncryptedData`: the Client-service cookie (reference 3.2).
    CookieEncryptedData,
    /// `AuthorizationCookie.CookieData`: the SimpleAuth cookie (reference 3.3).
    AuthorizationCookieData,
    /// A client id: `clientId`, reporting `TargetID/Sid`, `computerId` (reference 2.1, 3.10).
    ClientId,
    /// A DNS name: of a client (`dnsName`, `DnsName`, `ComputerDnsName`) or of a server
    /// (URL hosts, `Host`, TLS SNI).
    DnsName,
    /// An IPv4 or IPv6 address.
    Address,
    /// A user account name (`UserAccountName`).
    UserName,
    /// The value of a cookie or credential in an HTTP header, or URL user info.
    Credential,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 7] = [
        Kind::CookieEncryptedData,
        Kind::AuthorizationCookieData,
        Kind::ClientId,
        Kind::DnsName,
        Kind::Address,
        Kind::UserName,
        Kind::Credential,
    ];

    /// A short name for reports, e.g. `dns_name`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::CookieEncryptedData => "cookie_encrypted_data",
            Kind::AuthorizationCookieData => "authorization_cookie_data",
            Kind::ClientId => "client_id",
            Kind::DnsName => "dns_name",
            Kind::Address => "address",
            Kind::UserName => "user_name",
            Kind::Credential => "credential",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which body of an exchange a [`Note`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BodyPart {
    /// The request body.
    Request,
    /// The response body.
    Response,
}

impl fmt::Display for BodyPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BodyPart::Request => "request",
            BodyPart::Response => "response",
        })
    }
}

/// Why a body could not be redacted, or not entirely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NoteReason {
    /// The content encoding is not one the redactor knows, or the bytes do not decode
    /// (a cut or damaged Xpress body): the body was kept as it was.
    Undecodable,
    /// The decoded body is not XML (binary content, text that does not start with `<`):
    /// the body was kept as it was.
    NotXml,
    /// The XML is malformed (often a body cut short): what could be read was redacted, the
    /// rest was kept as it was.
    MalformedXml,
    /// The XML is no SOAP envelope: its identity elements were redacted, but other text in
    /// it (an error page naming a server) was not looked at.
    NotSoap,
}

/// A body that was kept unchanged, or not fully redacted.
///
/// Notes carry no content of the body, only where it is and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The exchange id of the record.
    pub exchange: u64,
    /// Which body.
    pub part: BodyPart,
    /// What was wrong.
    pub reason: NoteReason,
    /// True when the body was kept byte for byte.
    pub kept: bool,
    /// What was wrong, in words.
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exchange {} {} body: {}{}",
            self.exchange,
            self.part,
            self.message,
            if self.kept { " (kept unchanged)" } else { "" }
        )
    }
}

/// What [`redact_file`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedactReport {
    /// Records read and written (header lines included).
    pub records: u64,
    /// Values replaced, by kind (each occurrence counts).
    pub replaced: BTreeMap<Kind, u64>,
    /// Bodies that were kept unchanged or redacted only in part.
    pub notes: Vec<Note>,
    /// Damage found reading the input; the damaged lines were not written.
    pub problems: Vec<Problem>,
}

impl RedactReport {
    /// The exchanges with a body kept byte for byte, and why.
    pub fn untouched(&self) -> Vec<(u64, String)> {
        self.notes
            .iter()
            .filter(|n| n.kept)
            .map(|n| (n.exchange, format!("{} body: {}", n.part, n.message)))
            .collect()
    }

    /// Total number of values replaced.
    pub fn total_replaced(&self) -> u64 {
        self.replaced.values().sum()
    }
}

/// Placeholders given so far for one kind, to keep small placeholder spaces collision-free.
#[derive(Default)]
struct Table {
    forward: HashMap<String, String>,
    taken: HashSet<String>,
}

/// Replaces secrets and identities by keyed, deterministic placeholders.
///
/// A placeholder depends only on the key, the [`Kind`] and the value, with one exception:
/// where the placeholder space is small (DNS names have 2^32 placeholders, IPv4 addresses
/// about 2^17), the redactor remembers what it gave out, and a value whose placeholder is
/// already taken by another value gets the next free one. Then the placeholder also depends
/// on which of the two values came first.
///
/// The key is the only secret: keep it to redact more captures consistently, throw it away
/// to make the mapping unrecoverable. `Debug` shows neither the key nor any value.
pub struct Redactor {
    mac: HmacSha256,
    tables: HashMap<Kind, Table>,
    replaced: BTreeMap<Kind, u64>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("replaced", &self.replaced)
            .finish_non_exhaustive()
    }
}

impl Redactor {
    /// A redactor with the given key.
    pub fn new(key: [u8; 32]) -> Self {
        // HMAC pads a key shorter than the block to the block size with zeros.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&key);
        Self {
            mac: HmacSha256::new(&block.into()),
            tables: HashMap::new(),
            replaced: BTreeMap::new(),
        }
    }

    /// A redactor with a fresh key from the operating system's random number generator.
    pub fn random() -> Result<Self> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| Error::Random {
            source: io::Error::other(e),
        })?;
        Ok(Self::new(key))
    }

    /// Values replaced so far by this redactor, by kind (each occurrence counts).
    pub fn replaced(&self) -> &BTreeMap<Kind, u64> {
        &self.replaced
    }

    /// The placeholder of `value` as a value of `kind`, without counting it as replaced.
    ///
    /// This is what the redactor writes for that value: with the key, one can find what a
    /// known machine or client became in a redacted capture. An [`Kind::Address`] may carry
    /// a port (`ip:port`, `[v6]:port`), which is kept; one that is no IP address is
    /// treated as a DNS name.
    pub fn placeholder(&mut self, kind: Kind, value: &str) -> String {
        let counted = self.replaced.clone();
        let p = match kind {
            Kind::CookieEncryptedData | Kind::AuthorizationCookieData => self.blob(kind, value),
            Kind::ClientId => self.client_id(value),
            Kind::DnsName => self.dns_name(value),
            Kind::Address => self.hostport(value),
            Kind::UserName => self.user_name(value),
            Kind::Credential => self.token(Kind::Credential, value),
        };
        self.replaced = counted;
        p
    }

    /// Redacts one record; returns it and notes about bodies it could not fully redact.
    ///
    /// The header record comes back unchanged.
    pub fn redact_record(&mut self, record: &Record) -> (Record, Vec<Note>) {
        let mut notes = Vec::new();
        let out = match record {
            Record::Header(h) => Record::Header(h.clone()),
            Record::Exchange(e) => Record::Exchange(self.exchange(e, &mut notes)),
            Record::Error(e) => Record::Error(self.error_record(e, &mut notes)),
            Record::Connection(c) => Record::Connection(self.connection(c)),
        };
        (out, notes)
    }

    fn count(&mut self, kind: Kind) {
        *self.replaced.entry(kind).or_insert(0) += 1;
    }

    // -------------------------------------------------------------------------------
    // Records.

    // Every field is named (no `..clone()`): a field added to a record must be looked at
    // here before it compiles.

    fn exchange(&mut self, e: &Exchange, notes: &mut Vec<Note>) -> Exchange {
        let Exchange {
            id,
            conn,
            client,
            server,
            scheme,
            tls,
            upstream_tls,
            time,
            request,
            response,
        } = e;
        Exchange {
            id: *id,
            conn: *conn,
            client: self.opt_hostport(client.as_deref()),
            server: self.opt_hostport(server.as_deref()),
            scheme: scheme.clone(),
            tls: self.tls(tls.as_ref()),
            upstream_tls: self.tls(upstream_tls.as_ref()),
            time: time.clone(),
            request: self.request(request, *id, notes),
            response: self.response(response, *id, notes),
        }
    }

    fn error_record(&mut self, e: &ErrorRecord, notes: &mut Vec<Note>) -> ErrorRecord {
        let ErrorRecord {
            id,
            conn,
            client,
            server,
            scheme,
            tls,
            upstream_tls,
            time,
            phase,
            message,
            request,
            response,
        } = e;
        let mut out = ErrorRecord {
            id: *id,
            conn: *conn,
            client: self.opt_hostport(client.as_deref()),
            server: self.opt_hostport(server.as_deref()),
            scheme: scheme.clone(),
            tls: self.tls(tls.as_ref()),
            upstream_tls: self.tls(upstream_tls.as_ref()),
            time: time.clone(),
            phase: *phase,
            message: String::new(),
            request: request.as_ref().map(|r| self.request(r, *id, notes)),
            response: response.as_ref().map(|r| self.response(r, *id, notes)),
        };
        // After the addresses above, so that the message's copies of them are known.
        out.message = self.scrub_text(message);
        out
    }

    fn connection(&mut self, c: &ConnectionRecord) -> ConnectionRecord {
        let ConnectionRecord {
            conn,
            client,
            server,
            tls,
            upstream_tls,
            opened,
            closed,
            mode,
            bytes_up,
            bytes_down,
        } = c;
        ConnectionRecord {
            conn: *conn,
            client: self.opt_hostport(client.as_deref()),
            server: self.opt_hostport(server.as_deref()),
            tls: self.tls(tls.as_ref()),
            upstream_tls: self.tls(upstream_tls.as_ref()),
            opened: *opened,
            closed: *closed,
            mode: *mode,
            bytes_up: *bytes_up,
            bytes_down: *bytes_down,
        }
    }

    fn opt_hostport(&mut self, v: Option<&str>) -> Option<String> {
        v.map(|v| self.hostport(v))
    }

    fn tls(&mut self, tls: Option<&TlsInfo>) -> Option<TlsInfo> {
        let TlsInfo {
            sni,
            version,
            alpn,
            cipher,
        } = tls?;
        Some(TlsInfo {
            sni: sni.as_deref().map(|s| self.host(s)),
            version: version.clone(),
            alpn: alpn.clone(),
            cipher: cipher.clone(),
        })
    }

    fn request(&mut self, r: &Request, id: u64, notes: &mut Vec<Note>) -> Request {
        let Request {
            method,
            target,
            url,
            version,
            headers,
            body_truncated,
            body,
        } = r;
        let new_target = if method.eq_ignore_ascii_case("CONNECT") {
            self.hostport(target)
        } else {
            self.url(target)
        };
        let mut new_headers = self.headers(headers);
        let new_body = match self.body(headers, body, id, BodyPart::Request, notes) {
            Some(b) => {
                new_headers = fix_content_length(&new_headers, body, &b);
                b
            }
            None => body.clone(),
        };
        Request {
            method: method.clone(),
            target: new_target,
            url: self.url(url),
            version: version.clone(),
            headers: new_headers,
            body_truncated: *body_truncated,
            body: new_body,
        }
    }

    fn response(&mut self, r: &Response, id: u64, notes: &mut Vec<Note>) -> Response {
        let Response {
            status,
            reason,
            version,
            headers,
            body_truncated,
            body,
        } = r;
        let mut new_headers = self.headers(headers);
        let new_body = match self.body(headers, body, id, BodyPart::Response, notes) {
            Some(b) => {
                new_headers = fix_content_length(&new_headers, body, &b);
                b
            }
            None => body.clone(),
        };
        Response {
            status: *status,
            reason: reason.clone(),
            version: version.clone(),
            headers: new_headers,
            body_truncated: *body_truncated,
            body: new_body,
        }
    }

    /// Replaces the DNS names and addresses already redacted elsewhere in free text.
    fn scrub_text(&mut self, text: &str) -> String {
        let mut known: Vec<(String, String)> = [Kind::DnsName, Kind::Address]
            .iter()
            .filter_map(|k| self.tables.get(k))
            .flat_map(|t| t.forward.iter())
            .map(|(orig, p)| (orig.to_ascii_lowercase(), p.clone()))
            .filter(|(orig, _)| !orig.is_empty())
            .collect();
        // Longest first, so that `wsus.corp.example` wins over `wsus`.
        known.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        let mut out = text.to_owned();
        for (orig, placeholder) in known {
            let mut from = 0;
            loop {
                let lower = out.to_ascii_lowercase();
                let Some(i) = lower[from..].find(&orig).map(|i| i + from) else {
                    break;
                };
                let end = i + orig.len();
                if is_boundary(lower.as_bytes(), i, end) {
                    out.replace_range(i..end, &placeholder);
                    from = i + placeholder.len();
                    let kind = if orig.parse::<IpAddr>().is_ok() {
                        Kind::Address
                    } else {
                        Kind::DnsName
                    };
                    self.count(kind);
                } else {
                    from = end;
                }
            }
        }
        out
    }

    // -------------------------------------------------------------------------------
    // Headers.

    fn headers(&mut self, headers: &Headers) -> Headers {
        headers
            .iter()
            .map(|h| {
                let v = h.value();
                let new = match h.name().to_ascii_lowercase().as_str() {
                    "host" | "x-forwarded-host" => self.hostport(v),
                    "referer" | "origin" | "location" | "content-location" => self.url(v),
                    "cookie" => self.params(v, ';'),
                    "set-cookie" => self.set_cookie(v),
                    "authorization" | "proxy-authorization" => self.authorization(v),
                    "www-authenticate" | "proxy-authenticate" => self.challenge(v),
                    "x-forwarded-for" | "x-real-ip" => v
                        .split(',')
                        .map(|part| {
                            let lead = &part[..part.len() - part.trim_start().len()];
                            format!("{lead}{}", self.hostport(part.trim()))
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => return h.clone(),
                };
                if new == v && !h.is_lossy() {
                    h.clone()
                } else {
                    Header::new(h.name(), new)
                }
            })
            .collect::<Vec<_>>()
            .into()
    }

    /// `a=1; b=2`: names kept, values replaced.
    fn params(&mut self, v: &str, sep: char) -> String {
        v.split(sep)
            .map(|part| {
                let core = part.trim();
                if core.is_empty() {
                    return part.to_owned();
                }
                let lead = &part[..part.len() - part.trim_start().len()];
                let trail = &part[part.trim_end().len()..];
                let new = match core.split_once('=') {
                    Some((name, value)) => format!("{name}={}", self.quoted_token(value)),
                    None => self.quoted_token(core),
                };
                format!("{lead}{new}{trail}")
            })
            .collect::<Vec<_>>()
            .join(&sep.to_string())
    }

    /// `name=value; Domain=.corp.example; Path=/`: the value and the domain replaced.
    fn set_cookie(&mut self, v: &str) -> String {
        let mut parts = v.split(';');
        let first = parts.next().unwrap_or("");
        let mut out = self.params(first, ';');
        for attr in parts {
            out.push(';');
            let lead = &attr[..attr.len() - attr.trim_start().len()];
            match attr.trim().split_once('=') {
                Some((name, domain)) if name.trim().eq_ignore_ascii_case("domain") => {
                    let dot = if domain.starts_with('.') { "." } else { "" };
                    let host = domain.trim_start_matches('.');
                    out.push_str(&format!("{lead}{name}={dot}{}", self.host(host)));
                }
                _ => out.push_str(attr),
            }
        }
        out
    }

    /// `Scheme credentials`: the scheme kept, the credentials replaced.
    fn authorization(&mut self, v: &str) -> String {
        let trimmed = v.trim_start();
        let lead = &v[..v.len() - trimmed.len()];
        match trimmed.split_once(' ') {
            Some((scheme, creds)) => {
                let creds_core = creds.trim_start();
                let gap = &creds[..creds.len() - creds_core.len()];
                let new = if is_token68(creds_core.trim_end()) {
                    let t = creds_core.trim_end();
                    format!(
                        "{}{}",
                        self.token(Kind::Credential, t),
                        &creds_core[t.len()..]
                    )
                } else {
                    self.params(creds_core, ',')
                };
                format!("{lead}{scheme} {gap}{new}")
            }
            None => format!("{lead}{}", self.token(Kind::Credential, trimmed)),
        }
    }

    /// `NTLM <token>`: a challenge token replaced; parameters (`realm=…`) kept.
    fn challenge(&mut self, v: &str) -> String {
        match v.trim().split_once(' ') {
            Some((scheme, token)) if is_token68(token.trim()) && !scheme.contains(',') => {
                format!("{scheme} {}", self.token(Kind::Credential, token.trim()))
            }
            _ => v.to_owned(),
        }
    }

    fn quoted_token(&mut self, v: &str) -> String {
        match v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            Some(inner) => format!("\"{}\"", self.token(Kind::Credential, inner)),
            None => self.token(Kind::Credential, v),
        }
    }

    // -------------------------------------------------------------------------------
    // Bodies.

    /// The redacted body, or `None` when it stays as it is.
    fn body(
        &mut self,
        headers: &Headers,
        body: &Body,
        exchange: u64,
        part: BodyPart,
        notes: &mut Vec<Note>,
    ) -> Option<Body> {
        let bytes = body.bytes()?;
        if bytes.is_empty() {
            return None;
        }
        let mut note = |reason, kept, message: String| {
            tracing::debug!(exchange, %part, ?reason, kept, %message, "body not fully redacted");
            notes.push(Note {
                exchange,
                part,
                reason,
                kept,
                message,
            });
        };
        let encoding = ContentEncoding::from_header(headers.get("Content-Encoding"));
        let decoded = match decode_content(&encoding, bytes, &wusp::Limits::default()) {
            Ok(d) => d,
            Err(e) => {
                note(
                    NoteReason::Undecodable,
                    true,
                    format!("does not decode: {e}"),
                );
                return None;
            }
        };
        let Ok(text) = std::str::from_utf8(&decoded) else {
            note(NoteReason::NotXml, true, "not UTF-8 text".to_owned());
            return None;
        };
        if !text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with('<')
        {
            note(NoteReason::NotXml, true, "not XML".to_owned());
            return None;
        }
        let outcome = self.rewrite_xml(text);
        let changed = outcome.text.is_some();
        if let Some(message) = outcome.error {
            note(NoteReason::MalformedXml, !changed, message);
        } else if outcome.root.as_deref() != Some("Envelope") {
            note(
                NoteReason::NotSoap,
                !changed,
                "XML that is no SOAP envelope: only identity elements were redacted".to_owned(),
            );
        }
        let new = outcome.text?;
        let encoded = match encoding {
            ContentEncoding::Identity => new.into_bytes(),
            ContentEncoding::Xpress => {
                wusp::xpress::encode_with_block_size(new.as_bytes(), xpress_block_size(bytes))
            }
            ContentEncoding::Gzip => {
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                // Writing to a Vec cannot fail.
                gz.write_all(new.as_bytes()).ok()?;
                gz.finish().ok()?
            }
            ContentEncoding::Deflate => {
                let mut z =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                z.write_all(new.as_bytes()).ok()?;
                z.finish().ok()?
            }
            // decode_content refused these above.
            ContentEncoding::Other(_) => return None,
        };
        Some(Body::from_bytes(encoded))
    }

    /// Copies `text` verbatim except the content of identity elements.
    fn rewrite_xml(&mut self, text: &str) -> XmlOutcome {
        // The reader skips a byte order mark without counting it in its positions.
        let doc = text.strip_prefix('\u{feff}').unwrap_or(text);
        let base = text.len() - doc.len();
        let pos = |reader: &Reader<&[u8]>| base + reader.buffer_position() as usize;
        let mut reader = Reader::from_str(doc);
        {
            let c = reader.config_mut();
            c.check_end_names = false;
            c.allow_unmatched_ends = true;
            c.allow_dangling_amp = true;
        }
        let mut out = Rewrite {
            text,
            out: String::new(),
            copied: 0,
        };
        let mut stack: Vec<Frame> = Vec::new();
        let mut root = None;
        let mut error = None;
        loop {
            let before = pos(&reader);
            match reader.read_event() {
                Ok(Event::Start(e)) => {
                    let local = e.local_name();
                    let local = local.as_ref();
                    if root.is_none() {
                        root = Some(local.to_owned());
                    }
                    let parent = stack.last_mut();
                    let in_property = parent.as_ref().is_some_and(|p| p.config_property);
                    if let Some(p) = parent {
                        p.leaf = false;
                    }
                    stack.push(Frame {
                        config_property: local == "ConfigurationProperty",
                        target: target_for(local, in_property),
                        inner: pos(&reader),
                        leaf: true,
                    });
                }
                Ok(Event::Empty(e)) => {
                    if root.is_none() {
                        root = Some(e.local_name().as_ref().to_owned());
                    }
                    if let Some(p) = stack.last_mut() {
                        p.leaf = false;
                    }
                }
                Ok(Event::End(_)) => {
                    if let Some(frame) = stack.pop() {
                        self.leaf(&mut out, &frame, before);
                    }
                }
                Ok(Event::Eof) => {
                    // A cut body: the innermost open element may hold a cut value.
                    if let Some(frame) = stack.pop() {
                        self.leaf(&mut out, &frame, text.len());
                    }
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    let at = (base + reader.error_position() as usize).min(text.len());
                    if error.is_none() {
                        error = Some(format!("XML error at byte {at}: {e}"));
                    }
                    if let Some(frame) = stack.last() {
                        self.leaf(&mut out, frame, at.max(frame.inner));
                    }
                    if pos(&reader) <= before {
                        break;
                    }
                }
            }
        }
        XmlOutcome {
            text: out.finish(),
            error,
            root,
        }
    }

    /// Replaces the content of an identity element that holds only text.
    fn leaf(&mut self, out: &mut Rewrite<'_>, frame: &Frame, end: usize) {
        let Some(target) = frame.target else { return };
        if !frame.leaf || end <= frame.inner || frame.inner < out.copied {
            return;
        }
        let Some(raw) = out.text.get(frame.inner..end) else {
            return;
        };
        let Some(value) = leaf_text(raw) else { return };
        let core = value.trim();
        if core.is_empty() {
            return;
        }
        let new = match target {
            Target::Blob(kind) => self.blob_counted(kind, core),
            Target::ClientId => {
                self.count(Kind::ClientId);
                self.client_id(core)
            }
            Target::Dns => self.hostport(core),
            Target::User => {
                self.count(Kind::UserName);
                self.user_name(core)
            }
            Target::Url => self.url(core),
            Target::DeviceAttributes => self.device_attributes(core),
        };
        if new == core {
            return;
        }
        let lead = &value[..value.len() - value.trim_start().len()];
        let trail = &value[value.trim_end().len()..];
        out.replace(
            frame.inner,
            end,
            &format!("{lead}{}{trail}", escape_text(&new)),
        );
    }

    /// `Key=Value;…`: URL-valued entries (`UpdateServiceUrl=`) get their host replaced.
    fn device_attributes(&mut self, v: &str) -> String {
        v.split(';')
            .map(|entry| match entry.split_once('=') {
                Some((key, value)) => {
                    let key_l = key.trim().to_ascii_lowercase();
                    let new = if value.contains("://") || value.starts_with("\\\\") {
                        self.url(value)
                    } else if key_l.ends_with("updateserviceurl")
                        || key_l.ends_with("updateserviceurlalternate")
                    {
                        let core = value.trim();
                        if core.is_empty() {
                            value.to_owned()
                        } else {
                            value.replacen(core, &self.hostport(core), 1)
                        }
                    } else {
                        return entry.to_owned();
                    };
                    format!("{key}={new}")
                }
                None => entry.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    // -------------------------------------------------------------------------------
    // Values.

    /// A URL (or UNC path) with its host and user info replaced; path and query kept.
    fn url(&mut self, s: &str) -> String {
        if let Some(rest) = s.strip_prefix("\\\\") {
            let end = rest.find(['\\', '/']).unwrap_or(rest.len());
            if end == 0 {
                return s.to_owned();
            }
            return format!("\\\\{}{}", self.hostport(&rest[..end]), &rest[end..]);
        }
        let Some(i) = s.find("://") else {
            return s.to_owned();
        };
        let scheme = &s[..i];
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return s.to_owned();
        }
        let after = &s[i + 3..];
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        let mut out = format!("{scheme}://");
        let hostport = match authority.rfind('@') {
            Some(j) => {
                out.push_str(&self.token(Kind::Credential, &authority[..j]));
                out.push('@');
                &authority[j + 1..]
            }
            None => authority,
        };
        out.push_str(&self.hostport(hostport));
        out.push_str(rest);
        out
    }

    /// `host`, `host:port`, `ip:port`, `[v6]:port`: the host replaced, the port kept.
    fn hostport(&mut self, s: &str) -> String {
        if s.is_empty() {
            return String::new();
        }
        if let Ok(sa) = s.parse::<SocketAddr>() {
            let ip = self.ip(sa.ip());
            return SocketAddr::new(ip, sa.port()).to_string();
        }
        if let Some(r) = s.strip_prefix('[')
            && let Some((inner, tail)) = r.split_once(']')
        {
            return format!("[{}]{tail}", self.host(inner));
        }
        if let Some((h, p)) = s.rsplit_once(':')
            && !h.contains(':')
            && p.bytes().all(|b| b.is_ascii_digit())
        {
            return format!("{}:{p}", self.host(h));
        }
        self.host(s)
    }

    /// A host: an IP address (bracketed or not) or a DNS name.
    fn host(&mut self, s: &str) -> String {
        if s.is_empty() {
            return String::new();
        }
        if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'))
            && let Ok(ip) = inner.parse::<IpAddr>()
        {
            return format!("[{}]", self.ip(ip));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return self.ip(ip).to_string();
        }
        self.count(Kind::DnsName);
        self.dns_name(s)
    }

    fn dns_name(&mut self, s: &str) -> String {
        let name = s.strip_suffix('.').unwrap_or(s);
        let dot = if name.len() < s.len() { "." } else { "" };
        let p = self.mapped(Kind::DnsName, &name.to_ascii_lowercase(), 4, |b| {
            format!("host-{}.redacted.invalid", hex::encode(b))
        });
        format!("{p}{dot}")
    }

    fn ip(&mut self, ip: IpAddr) -> IpAddr {
        self.count(Kind::Address);
        match ip {
            IpAddr::V4(v4) => IpAddr::V4(self.ipv4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                // The same client seen as ::ffff:a.b.c.d and as a.b.c.d stays one client.
                Some(v4) => IpAddr::V6(self.ipv4(v4).to_ipv6_mapped()),
                None => {
                    let p = self.mapped(Kind::Address, &v6.to_string(), 12, |b| {
                        let mut o = [0u8; 16];
                        o[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
                        o[4..].copy_from_slice(&b[..12]);
                        Ipv6Addr::from(o).to_string()
                    });
                    IpAddr::V6(p.parse().unwrap_or(Ipv6Addr::UNSPECIFIED))
                }
            },
        }
    }

    fn ipv4(&mut self, v4: Ipv4Addr) -> Ipv4Addr {
        let p = self.mapped(Kind::Address, &v4.to_string(), 3, |b| {
            // 198.18.0.0/15, never .0 or .255 in the last octet.
            Ipv4Addr::new(198, 18 | (b[0] & 1), b[1], 1 + b[2] % 254).to_string()
        });
        p.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    fn client_id(&mut self, v: &str) -> String {
        let (open, inner, close) = match v.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            Some(inner) => ("{", inner, "}"),
            None => ("", v, ""),
        };
        if is_guid(inner) {
            let p = self.mapped(Kind::ClientId, &inner.to_ascii_lowercase(), 16, guid);
            format!("{open}{p}{close}")
        } else {
            self.mapped(Kind::ClientId, v, 8, |b| {
                format!("client-{}", hex::encode(b))
            })
        }
    }

    fn user_name(&mut self, v: &str) -> String {
        self.mapped(Kind::UserName, &v.to_lowercase(), 4, |b| {
            format!("user-{}", hex::encode(b))
        })
    }

    fn blob_counted(&mut self, kind: Kind, v: &str) -> String {
        self.count(kind);
        self.blob(kind, v)
    }

    /// Base64 of as many bytes as `v` decodes to; other text as [`Self::token`].
    fn blob(&mut self, kind: Kind, v: &str) -> String {
        let compact: String = v.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        match BASE64.decode(compact.as_bytes()) {
            Ok(bytes) => BASE64.encode(derive(&self.mac, kind, &compact, 0, bytes.len())),
            Err(_) => self.token(kind, v),
        }
    }

    /// A string of the same length and character classes as `v`.
    fn token(&mut self, kind: Kind, v: &str) -> String {
        if v.is_empty() {
            return String::new();
        }
        if kind == Kind::Credential {
            self.count(kind);
        }
        let r = derive(&self.mac, kind, v, 0, v.len());
        if v.len() >= 2 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
            let upper = v.bytes().any(|b| b.is_ascii_uppercase())
                && !v.bytes().any(|b| b.is_ascii_lowercase());
            let s = hex::encode(&r)[..v.len()].to_owned();
            return if upper { s.to_ascii_uppercase() } else { s };
        }
        // Without padding, any base64 string keeps decoding under the substitution below;
        // with padding, the last character's unused bits must stay zero.
        if v.len() >= 4
            && v.len().is_multiple_of(4)
            && v.ends_with('=')
            && let Ok(bytes) = BASE64.decode(v.as_bytes())
            && BASE64.encode(&bytes) == v
        {
            return BASE64.encode(&r[..bytes.len()]);
        }
        v.chars()
            .zip(r.iter())
            .map(|(c, &b)| match c {
                'a'..='z' => char::from(b'a' + b % 26),
                'A'..='Z' => char::from(b'A' + b % 26),
                '0'..='9' => char::from(b'0' + b % 10),
                c => c,
            })
            .collect()
    }

    /// The placeholder of a value whose kind keeps a table (small placeholder spaces).
    fn mapped(
        &mut self,
        kind: Kind,
        norm: &str,
        len: usize,
        make: impl Fn(&[u8]) -> String,
    ) -> String {
        let table = self.tables.entry(kind).or_default();
        if let Some(p) = table.forward.get(norm) {
            return p.clone();
        }
        let mut attempt = 0;
        let p = loop {
            let p = make(&derive(&self.mac, kind, norm, attempt, len));
            if !table.taken.contains(&p) || attempt + 1 >= MAX_PROBES {
                break p;
            }
            attempt += 1;
        };
        table.taken.insert(p.clone());
        table.forward.insert(norm.to_owned(), p.clone());
        p
    }
}

/// `len` pseudo-random bytes from (key, kind, attempt, value): HMAC-SHA256 in counter mode.
fn derive(mac: &HmacSha256, kind: Kind, value: &str, attempt: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block: u32 = 0;
    while out.len() < len {
        let mut m = mac.clone();
        m.update(LABEL);
        m.update(&[0]);
        m.update(kind.name().as_bytes());
        m.update(&[0]);
        m.update(&attempt.to_be_bytes());
        m.update(&block.to_be_bytes());
        m.update(&(value.len() as u64).to_be_bytes());
        m.update(value.as_bytes());
        out.extend_from_slice(&m.finalize().into_bytes());
        block += 1;
    }
    out.truncate(len);
    out
}

/// A lower-case version-4 GUID from 16 bytes.
fn guid(b: &[u8]) -> String {
    let mut g = [0u8; 16];
    g.copy_from_slice(&b[..16]);
    wusp::values::Guid::v4_from_bytes(g).0
}

fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// RFC 7235 token68: `[A-Za-z0-9-._~+/]+=*`.
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// True when `text[start..end]` is a whole host name or address, not part of a longer one.
fn is_boundary(text: &[u8], start: usize, end: usize) -> bool {
    let name = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let before_ok = start == 0 || !(name(text[start - 1]) || text[start - 1] == b'.');
    let after_ok = match text.get(end) {
        None => true,
        Some(&b) if name(b) => false,
        Some(b'.') => !text.get(end + 1).is_some_and(|&b| name(b)),
        Some(_) => true,
    };
    before_ok && after_ok
}

/// The uncompressed size of the first block when an Xpress body has more than one block
/// (the encoder's block size), else the largest block size.
fn xpress_block_size(body: &[u8]) -> usize {
    let header = |at: usize| -> Option<(usize, usize)> {
        let h = body.get(at..at + 8)?;
        let u = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let c = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        Some((u, c))
    };
    match header(0) {
        Some((first, compressed)) if body.len() > 8 + compressed && first > 0 => first,
        _ => wusp::xpress::MAX_BLOCK,
    }
}

/// Sets `Content-Length` to the new body's length when it matched the old body's; when it
/// did not (a cut body), shifts it by the change in length.
fn fix_content_length(headers: &Headers, old: &Body, new: &Body) -> Headers {
    let (old_len, new_len) = (old.len(), new.len());
    headers
        .iter()
        .map(|h| {
            if !h.name().eq_ignore_ascii_case("content-length") {
                return h.clone();
            }
            match h.value().trim().parse::<u64>() {
                Ok(declared) if declared == old_len => Header::new(h.name(), new_len.to_string()),
                Ok(declared) => {
                    let shifted =
                        (i128::from(declared) + i128::from(new_len) - i128::from(old_len)).max(0);
                    Header::new(h.name(), shifted.to_string())
                }
                Err(_) => h.clone(),
            }
        })
        .collect::<Vec<_>>()
        .into()
}

/// The text of an element's content: character data, references resolved, CDATA
/// included, comments dropped; `None` if it holds markup.
fn leaf_text(raw: &str) -> Option<String> {
    let mut escaped = String::with_capacity(raw.len());
    let mut rest = raw;
    loop {
        let Some(i) = rest.find('<') else {
            escaped.push_str(rest);
            break;
        };
        escaped.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("<![CDATA[") {
            let end = r.find("]]>")?;
            escaped.push_str(&escape_text(&r[..end]));
            rest = &r[end + 3..];
        } else if let Some(r) = rest.strip_prefix("<!--") {
            let end = r.find("-->")?;
            rest = &r[end + 3..];
        } else if let Some(r) = rest.strip_prefix("<?") {
            let end = r.find("?>")?;
            rest = &r[end + 2..];
        } else {
            return None;
        }
    }
    // A stray `&` (allowed while reading) leaves the text as it is.
    Some(match unescape(&escaped) {
        Ok(v) => v.into_owned(),
        Err(_) => escaped,
    })
}

/// What to do with the content of an element.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Base64 secret of the kind.
    Blob(Kind),
    /// A client id.
    ClientId,
    /// A DNS name (or address).
    Dns,
    /// A user account name.
    User,
    /// A URL or UNC path: host replaced.
    Url,
    /// `Key=Value;` list with URL values.
    DeviceAttributes,
}

fn target_for(local: &str, in_config_property: bool) -> Option<Target> {
    Some(match local {
        "EncryptedData" => Target::Blob(Kind::CookieEncryptedData),
        "CookieData" => Target::Blob(Kind::AuthorizationCookieData),
        "clientId" | "Sid" | "computerId" => Target::ClientId,
        "dnsName" | "DnsName" | "ComputerDnsName" => Target::Dns,
        "UserAccountName" => Target::User,
        "Url" | "ServiceUrl" | "faultactor" | "PiecesHashUrl" | "BlockMapUrl" => Target::Url,
        "DeviceAttributes" => Target::DeviceAttributes,
        // GetConfig properties such as PackageServerShare (`\\server\share`).
        "Value" if in_config_property => Target::Url,
        _ => return None,
    })
}

struct Frame {
    /// The element is a `ConfigurationProperty` (its `Value` may name a server).
    config_property: bool,
    target: Option<Target>,
    /// Byte offset just after the start tag.
    inner: usize,
    /// No child element seen.
    leaf: bool,
}

struct XmlOutcome {
    /// The new text, `None` when nothing changed.
    text: Option<String>,
    /// The first XML error, in words (no content).
    error: Option<String>,
    /// The local name of the root element.
    root: Option<String>,
}

/// Builds the output: the input copied up to each replaced span.
struct Rewrite<'a> {
    text: &'a str,
    out: String,
    copied: usize,
}

impl Rewrite<'_> {
    fn replace(&mut self, start: usize, end: usize, with: &str) {
        if start < self.copied
            || end < start
            || !self.text.is_char_boundary(start)
            || !self.text.is_char_boundary(end)
        {
            return;
        }
        self.out.push_str(&self.text[self.copied..start]);
        self.out.push_str(with);
        self.copied = end;
    }

    fn finish(mut self) -> Option<String> {
        if self.copied == 0 {
            return None;
        }
        self.out.push_str(&self.text[self.copied..]);
        Some(self.out)
    }
}

// ---------------------------------------------------------------------------------------
// Files.

/// Redacts a capture file (any format [`CaptureReader`] reads) into `output`.
///
/// Records are streamed through [`Redactor::redact_record`]. The output's compression
/// follows its extension (`.jsonl`, `.jsonl.zst`, `.jsonl.gz`; `.har` writes a HAR 1.2
/// document); it is written with mode 0600 to a temporary file beside `output` and moved
/// into place when complete, replacing any file there (`input` itself included). The
/// input's header line is kept as it is. Damaged input lines are reported in
/// [`RedactReport::problems`] and left out; bodies that could not be redacted are kept and
/// listed in [`RedactReport::notes`].
pub fn redact_file(input: &Path, output: &Path, redactor: &mut Redactor) -> Result<RedactReport> {
    let before = redactor.replaced.clone();
    let mut reader = CaptureReader::open(input)?;
    let mut report = RedactReport::default();
    let tmp = temp_path(output);
    let _ = fs::remove_file(&tmp);
    let is_har = output
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.to_ascii_lowercase().ends_with(".har"));
    let written = if is_har {
        write_har(&mut reader, &tmp, redactor, &mut report)
    } else {
        write_capture(&mut reader, &tmp, output, redactor, &mut report)
    };
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Err(source) = fs::rename(&tmp, output) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::Replace {
            path: output.to_path_buf(),
            source,
        });
    }
    for (kind, n) in &redactor.replaced {
        let delta = n - before.get(kind).copied().unwrap_or(0);
        if delta > 0 {
            report.replaced.insert(*kind, delta);
        }
    }
    tracing::info!(
        input = %input.display(),
        output = %output.display(),
        records = report.records,
        replaced = report.total_replaced(),
        notes = report.notes.len(),
        problems = report.problems.len(),
        "redacted capture"
    );
    Ok(report)
}

fn write_capture(
    reader: &mut CaptureReader,
    tmp: &Path,
    output: &Path,
    redactor: &mut Redactor,
    report: &mut RedactReport,
) -> Result<()> {
    // The input's first header becomes the output's header line.
    let mut first = None;
    for item in reader.by_ref() {
        match item {
            ReadItem::Problem(p) => report.problems.push(p),
            ReadItem::Record { record, .. } => {
                first = Some(record);
                break;
            }
        }
    }
    let mut options = WriterOptions {
        compression: Some(Compression::from_path(output)),
        ..WriterOptions::default()
    };
    let mut pending = None;
    match first {
        Some(Record::Header(h)) => {
            options.header = h;
            report.records += 1;
        }
        Some(other) => pending = Some(other),
        None => {}
    }
    let mut writer = CaptureWriter::create_or_append_with(tmp, options)?;
    let rest = reader.map(|item| match item {
        ReadItem::Record { record, .. } => Ok(record),
        ReadItem::Problem(p) => Err(p),
    });
    for item in pending.map(Ok).into_iter().chain(rest) {
        match item {
            Ok(record) => {
                let (redacted, notes) = redactor.redact_record(&record);
                writer.write(&redacted)?;
                report.records += 1;
                report.notes.extend(notes);
            }
            Err(p) => report.problems.push(p),
        }
    }
    writer.finish()
}

fn write_har(
    reader: &mut CaptureReader,
    tmp: &Path,
    redactor: &mut Redactor,
    report: &mut RedactReport,
) -> Result<()> {
    let mut records = Vec::new();
    for item in reader {
        match item {
            ReadItem::Record { record, .. } => {
                let (redacted, notes) = redactor.redact_record(&record);
                records.push(redacted);
                report.notes.extend(notes);
            }
            ReadItem::Problem(p) => report.problems.push(p),
        }
    }
    report.records = records.len() as u64;
    crate::har::write_file(tmp, &records)
}

/// A file name beside `output` for writing before the move into place.
fn temp_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "capture".to_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    output.with_file_name(format!(".{name}.redact-{}-{nanos}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::OmittedBody;
    use crate::record::{ConnectionMode, ErrorPhase, Timing};
    use crate::tests::write_capture;
    use crate::timestamp::Timestamp;
    use crate::{CaptureHeader, read_all};

    const CLIENT_ID: &str = "8c2a1c4e-5b7d-4f0a-9e3b-1d2c3b4a5f60";
    const DNS: &str = "desktop-7q.corp.example";
    const SERVER: &str = "wsus01.corp.example";
    const CLIENT_IP: &str = "10.20.30.40";
    const SERVER_IP: &str = "10.20.0.5";
    const USER: &str = "jdoe-admin";
    const HTTP_COOKIE: &str = "qk3vdl1tyx0pmkaxg2eofk55";
    const NTLM: &str = "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==";
    const NS_CWS: &str = "http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService";
    const NS_SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";

    fn blob(n: usize, seed: u8) -> String {
        BASE64.encode(
            (0..n)
                .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed))
                .collect::<Vec<_>>(),
        )
    }

    /// The authorization cookie, the GetCookie cookie, the SyncUpdates NewCookie.
    fn secrets() -> (String, String, String) {
        (blob(96, 11), blob(160, 23), blob(160, 41))
    }

    fn env(body: &str) -> String {
        format!(
            r#"<s:Envelope xmlns:s="{NS_SOAP}"><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">{body}</s:Body></s:Envelope>"#
        )
    }

    fn declared(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{NS_SOAP}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>{body}</soap:Body></soap:Envelope>"#
        )
    }

    fn auth_request() -> String {
        env(&format!(
            r#"<GetAuthorizationCookie xmlns="http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService"><clientId>{CLIENT_ID}</clientId><dnsName>{DNS}</dnsName></GetAuthorizationCookie>"#
        ))
    }

    fn auth_response() -> String {
        let (auth, _, _) = secrets();
        declared(&format!(
            r#"<GetAuthorizationCookieResponse xmlns="http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService"><GetAuthorizationCookieResult><PlugInId>SimpleTargeting</PlugInId><CookieData>{auth}</CookieData></GetAuthorizationCookieResult></GetAuthorizationCookieResponse>"#
        ))
    }

    fn get_cookie_request() -> String {
        let (auth, _, _) = secrets();
        env(&format!(
            r#"<GetCookie xmlns="{NS_CWS}"><authCookies><AuthorizationCookie><PlugInId>SimpleTargeting</PlugInId><CookieData>{auth}</CookieData></AuthorizationCookie></authCookies><oldCookie><Expiration>2026-10-04T16:03:35Z</Expiration></oldCookie><lastChange>2026-10-01T10:00:00Z</lastChange><currentTime>2026-10-04T16:03:35Z</currentTime><protocolVersion>2.90</protocolVersion></GetCookie>"#
        ))
    }

    fn get_cookie_response() -> String {
        let (_, c1, _) = secrets();
        env(&format!(
            r#"<GetCookieResponse xmlns="{NS_CWS}"><GetCookieResult><Expiration>2026-10-04T17:03:35Z</Expiration><EncryptedData>{c1}</EncryptedData></GetCookieResult></GetCookieResponse>"#
        ))
    }

    fn sync_request() -> String {
        let (_, c1, _) = secrets();
        env(&format!(
            r#"<SyncUpdates xmlns="{NS_CWS}"><cookie><Expiration>2026-10-04T17:03:35Z</Expiration><EncryptedData>{c1}</EncryptedData></cookie><parameters><ExpressQuery>false</ExpressQuery><InstalledNonLeafUpdateIDs><int>108226</int></InstalledNonLeafUpdateIDs><OtherCachedUpdateIDs/><SkipSoftwareSync>false</SkipSoftwareSync><NeedTwoGroupOutOfScopeUpdates>true</NeedTwoGroupOutOfScopeUpdates><ProductsParameters><SyncCurrentVersionOnly>false</SyncCurrentVersionOnly><DeviceAttributes>E:App=WU;OSVersion=10.0.26200;UpdateServiceUrl=https://{SERVER}:8531;IsDeviceRetailDemo=0</DeviceAttributes><CallerAttributes>Interactive=0;</CallerAttributes><Products/></ProductsParameters></parameters></SyncUpdates>"#
        ))
    }

    fn sync_response() -> String {
        let (_, _, c2) = secrets();
        let mut updates = String::new();
        for n in 0..40 {
            updates.push_str(&format!(
                r#"<UpdateInfo><ID>{}</ID><Deployment><ID>{}</ID><Action>Install</Action><IsAssigned>true</IsAssigned><LastChangeTime>2026-10-04</LastChangeTime><AutoSelect>0</AutoSelect><AutoDownload>0</AutoDownload><SupersedenceBehavior>0</SupersedenceBehavior></Deployment><IsLeaf>true</IsLeaf><Xml>&lt;UpdateIdentity UpdateID="0b1f{n:04x}-2c3d-4e5f-8a9b-0c1d2e3f4a5b" RevisionNumber="201" /&gt;&lt;Properties UpdateType="Software" /&gt;</Xml></UpdateInfo>"#,
                300_000 + n,
                20_000 + n
            ));
        }
        env(&format!(
            r#"<SyncUpdatesResponse xmlns="{NS_CWS}"><SyncUpdatesResult><NewUpdates>{updates}</NewUpdates><Truncated>false</Truncated><NewCookie><Expiration>2026-10-04T17:03:35Z</Expiration><EncryptedData>{c2}</EncryptedData></NewCookie><DriverSyncNotNeeded>false</DriverSyncNotNeeded></SyncUpdatesResult></SyncUpdatesResponse>"#
        ))
    }

    fn report_request() -> String {
        let (_, _, c2) = secrets();
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{NS_SOAP}"><soap:Body><ReportEventBatch xmlns="http://www.microsoft.com/SoftwareDistribution"><cookie><Expiration>2026-10-04T17:03:35Z</Expiration><EncryptedData>{c2}</EncryptedData></cookie><clientTime>2026-10-04T16:10:00Z</clientTime><eventBatch><ReportingEvent><BasicData><TargetID><Sid>{CLIENT_ID}</Sid></TargetID><SequenceNumber>0</SequenceNumber><TimeAtTarget>2026-10-04T16:09:00Z</TimeAtTarget><EventInstanceID>5e0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b</EventInstanceID><NamespaceID>1</NamespaceID><EventID>147</EventID><SourceID>101</SourceID><UpdateID><UpdateID>00000000-0000-0000-0000-000000000000</UpdateID><RevisionNumber>0</RevisionNumber></UpdateID><Win32HResult>0</Win32HResult><AppName>AutomaticUpdates</AppName></BasicData><ExtendedData><ReplacementStrings><string>3</string></ReplacementStrings><MiscData><string>A=0</string></MiscData><ComputerBrand>Contoso</ComputerBrand><ComputerModel>Model 7</ComputerModel><BiosRevision>1.2.3</BiosRevision><ProcessorArchitecture>Amd64Compatible</ProcessorArchitecture><OSVersion><Major>10</Major><Minor>0</Minor><Build>26200</Build><Revision>65792</Revision><ServicePackMajor>0</ServicePackMajor><ServicePackMinor>0</ServicePackMinor></OSVersion><OSLocaleID>1033</OSLocaleID></ExtendedData><PrivateData><ComputerDnsName> {DNS} </ComputerDnsName><UserAccountName>{USER}</UserAccountName></PrivateData></ReportingEvent></eventBatch></ReportEventBatch></soap:Body></soap:Envelope>"#
        )
    }

    fn extended_response() -> String {
        env(&format!(
            r#"<GetExtendedUpdateInfoResponse xmlns="{NS_CWS}"><GetExtendedUpdateInfoResult><FileLocations><FileLocation><FileDigest>o3nVUm+zp6BCPaHNf8MYKo1EhEk=</FileDigest><Url>http://{SERVER}:8530/Content/49/A379D5526FB3A7A0423DA1CD7FC3182A8D448449.exe</Url></FileLocation></FileLocations></GetExtendedUpdateInfoResult></GetExtendedUpdateInfoResponse>"#
        ))
    }

    fn fault_response() -> String {
        env(&format!(
            r#"<s:Fault><faultcode>s:Client</faultcode><faultstring>Fault occurred</faultstring><faultactor>http://{SERVER}:8530/ClientWebService/client.asmx</faultactor><detail><ErrorCode>ConfigChanged</ErrorCode><Message/><ID>a1b2c3d4-0000-4000-8000-000000000001</ID></detail></s:Fault>"#
        ))
    }

    fn at(micros: i64) -> Timestamp {
        Timestamp::from_unix_micros(1_790_000_000_000_000 + micros).unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    /// An exchange with Host, Content-Length and the given extra headers.
    fn exchange(
        id: u64,
        path: &str,
        req_headers: &[(&str, &str)],
        req_body: Body,
        status: u16,
        resp_headers: &[(&str, &str)],
        resp_body: Body,
    ) -> Record {
        let mut rh: Headers = [("Content-Type", "text/xml; charset=utf-8")]
            .into_iter()
            .chain(req_headers.iter().copied())
            .collect();
        rh.push("Content-Length", req_body.len().to_string());
        rh.push("Host", format!("{SERVER}:8531"));
        let mut sh: Headers = resp_headers.iter().copied().collect();
        sh.push("Content-Length", resp_body.len().to_string());
        Record::Exchange(Exchange {
            id,
            conn: 1,
            client: Some(format!("{CLIENT_IP}:50512")),
            server: Some(format!("{SERVER_IP}:8531")),
            scheme: "https".into(),
            tls: Some(TlsInfo {
                sni: Some(SERVER.into()),
                version: Some("TLSv1.3".into()),
                ..Default::default()
            }),
            upstream_tls: None,
            time: Timing::starting(at(id as i64 * 1000)),
            request: Request {
                method: "POST".into(),
                target: path.into(),
                url: format!("https://{SERVER}:8531{path}"),
                version: "HTTP/1.1".into(),
                headers: rh,
                body_truncated: false,
                body: req_body,
            },
            response: Response {
                status,
                reason: "OK".into(),
                version: "HTTP/1.1".into(),
                headers: sh,
                body_truncated: false,
                body: resp_body,
            },
        })
    }

    const XPRESS: (&str, &str) = ("Content-Encoding", "xpress");

    fn session() -> Vec<Record> {
        let text = |s: String| Body::Text(s);
        let cws = "/ClientWebService/client.asmx";
        let mut records = vec![
            exchange(
                1,
                "/SimpleAuthWebService/SimpleAuth.asmx",
                &[],
                text(auth_request()),
                200,
                &[],
                text(auth_response()),
            ),
            exchange(
                2,
                cws,
                &[],
                text(get_cookie_request()),
                200,
                &[
                    XPRESS,
                    (
                        "Set-Cookie",
                        &format!(
                            "ASP.NET_SessionId={HTTP_COOKIE}; path=/; domain=.corp.example; HttpOnly"
                        ),
                    ),
                ],
                Body::from_bytes(wusp::xpress::encode(get_cookie_response().as_bytes())),
            ),
            exchange(
                3,
                cws,
                &[("Cookie", &format!("ASP.NET_SessionId={HTTP_COOKIE}"))],
                text(sync_request()),
                200,
                &[XPRESS],
                Body::from_bytes(wusp::xpress::encode_with_block_size(
                    sync_response().as_bytes(),
                    4096,
                )),
            ),
            exchange(
                4,
                "/ReportingWebService/ReportingWebService.asmx",
                &[("Authorization", &format!("NTLM {NTLM}"))],
                text(report_request()),
                200,
                &[],
                text(declared(
                    r#"<ReportEventBatchResponse xmlns="http://www.microsoft.com/SoftwareDistribution"><ReportEventBatchResult>true</ReportEventBatchResult></ReportEventBatchResponse>"#,
                )),
            ),
            exchange(
                5,
                cws,
                &[],
                text(env("<GetExtendedUpdateInfo/>")),
                200,
                &[("Content-Encoding", "gzip")],
                Body::from_bytes(gzip(extended_response().as_bytes())),
            ),
            exchange(
                6,
                cws,
                &[],
                text(env("<GetFileLocations/>")),
                200,
                &[XPRESS],
                Body::Binary(b"\x10\x00\x00\x00\x30\x00\x00\x00garbage, not xpress".to_vec()),
            ),
            exchange(
                7,
                cws,
                &[],
                text(sync_request()),
                500,
                &[],
                text(fault_response()),
            ),
        ];
        // A content download whose body was not kept.
        let mut download = exchange(
            8,
            "/Content/49/A379D5526FB3A7A0423DA1CD7FC3182A8D448449.exe",
            &[],
            Body::empty(),
            200,
            &[],
            Body::Omitted(OmittedBody {
                size: 1 << 20,
                sha1: [0x2f; 20],
                sha256: [0xa1; 32],
            }),
        );
        if let Record::Exchange(e) = &mut download {
            e.request.method = "GET".into();
            e.request.url = format!(
                "http://{SERVER}:8530/Content/49/A379D5526FB3A7A0423DA1CD7FC3182A8D448449.exe"
            );
        }
        records.push(download);
        records.push(Record::Error(ErrorRecord {
            id: 9,
            conn: 2,
            client: Some(format!("{CLIENT_IP}:50513")),
            server: Some(format!("{SERVER_IP}:8531")),
            scheme: "https".into(),
            tls: None,
            upstream_tls: None,
            time: Timing::starting(at(9000)),
            phase: ErrorPhase::UpstreamConnect,
            message: format!("cannot connect to {SERVER} ({SERVER_IP}:8531): connection refused"),
            request: None,
            response: None,
        }));
        records.push(Record::Connection(ConnectionRecord {
            conn: 1,
            client: Some(format!("{CLIENT_IP}:50512")),
            server: Some(format!("{SERVER_IP}:8531")),
            tls: Some(TlsInfo {
                sni: Some(SERVER.into()),
                ..Default::default()
            }),
            upstream_tls: None,
            opened: at(0),
            closed: Some(at(10_000)),
            mode: ConnectionMode::Intercept,
            bytes_up: 1000,
            bytes_down: 2000,
        }));
        records
    }

    /// Every secret and identity of [`session`], as it could appear in a file.
    fn originals() -> Vec<String> {
        let (a, c1, c2) = secrets();
        vec![
            a,
            c1,
            c2,
            CLIENT_ID.into(),
            CLIENT_ID.to_uppercase(),
            DNS.into(),
            "desktop-7q".into(),
            SERVER.into(),
            "wsus01".into(),
            "corp.example".into(),
            CLIENT_IP.into(),
            SERVER_IP.into(),
            USER.into(),
            HTTP_COOKIE.into(),
            NTLM.into(),
        ]
    }

    fn assert_clean(what: &str, bytes: &[u8]) {
        for secret in originals() {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{what} still holds {secret:?}"
            );
        }
    }

    fn decoded(headers: &Headers, body: &Body) -> String {
        let enc = ContentEncoding::from_header(headers.get("Content-Encoding"));
        let bytes = decode_content(&enc, body.bytes().unwrap(), &wusp::Limits::default())
            .expect("redacted body decodes");
        String::from_utf8(bytes.into_owned()).unwrap()
    }

    fn exchanges(path: &Path) -> Vec<Exchange> {
        let (records, problems) = read_all(path).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        records
            .into_iter()
            .filter_map(|(_, r)| match r {
                Record::Exchange(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    /// The text of the first `<name>` element.
    fn element<'a>(xml: &'a str, name: &str) -> &'a str {
        let open = format!("<{name}>");
        let start = xml
            .find(&open)
            .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
            + open.len();
        let end = xml[start..].find('<').unwrap() + start;
        &xml[start..end]
    }

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    fn redact_session(dir: &Path, key_byte: u8, out: &str) -> (PathBuf, RedactReport, Redactor) {
        let input = dir.join("in.jsonl");
        if !input.exists() {
            write_capture(&input, &session());
        }
        let output = dir.join(out);
        let mut r = Redactor::new(key(key_byte));
        let report = redact_file(&input, &output, &mut r).unwrap();
        (output, report, r)
    }

    #[test]
    fn a_session_is_redacted_consistently_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let (out, report, mut r) = redact_session(dir.path(), 7, "out.jsonl");
        let (auth, c1, c2) = secrets();

        // Nowhere in the file, nor in any decoded body.
        let bytes = fs::read(&out).unwrap();
        assert_clean("output file", &bytes);
        let ex = exchanges(&out);
        assert_eq!(ex.len(), 8);
        for e in &ex {
            if e.id == 6 || e.id == 8 {
                continue;
            }
            assert_clean(
                "request body",
                decoded(&e.request.headers, &e.request.body).as_bytes(),
            );
            assert_clean(
                "response body",
                decoded(&e.response.headers, &e.response.body).as_bytes(),
            );
        }

        // Placeholders have the shape of what they replace.
        let p_auth = r.placeholder(Kind::AuthorizationCookieData, &auth);
        let p_c1 = r.placeholder(Kind::CookieEncryptedData, &c1);
        let p_c2 = r.placeholder(Kind::CookieEncryptedData, &c2);
        let p_id = r.placeholder(Kind::ClientId, CLIENT_ID);
        let p_dns = r.placeholder(Kind::DnsName, DNS);
        let p_server = r.placeholder(Kind::DnsName, SERVER);
        let p_user = r.placeholder(Kind::UserName, USER);
        assert_eq!(BASE64.decode(&p_auth).unwrap().len(), 96);
        assert_eq!(BASE64.decode(&p_c1).unwrap().len(), 160);
        assert_ne!(p_c1, p_c2);
        assert!(
            is_guid(&p_id) && p_id == p_id.to_lowercase() && &p_id[14..15] == "4",
            "{p_id}"
        );
        assert!(
            p_dns.starts_with("host-") && p_dns.ends_with(".redacted.invalid"),
            "{p_dns}"
        );
        assert_eq!(p_dns.len(), "host-".len() + 8 + ".redacted.invalid".len());
        assert_ne!(p_dns, p_server);
        assert!(p_user.starts_with("user-"));

        // Every byte that is not an identity is unchanged: the redacted bodies are the
        // originals with each value replaced by its placeholder.
        let subst = |s: String| {
            s.replace(&auth, &p_auth)
                .replace(&c1, &p_c1)
                .replace(&c2, &p_c2)
                .replace(CLIENT_ID, &p_id)
                .replace(DNS, &p_dns)
                .replace(SERVER, &p_server)
                .replace(USER, &p_user)
        };
        let body = |i: usize, req: bool| {
            let e = &ex[i];
            if req {
                decoded(&e.request.headers, &e.request.body)
            } else {
                decoded(&e.response.headers, &e.response.body)
            }
        };
        assert_eq!(body(0, true), subst(auth_request()));
        assert_eq!(body(0, false), subst(auth_response()));
        assert_eq!(body(1, true), subst(get_cookie_request()));
        assert_eq!(body(1, false), subst(get_cookie_response()));
        assert_eq!(body(2, true), subst(sync_request()));
        assert_eq!(body(2, false), subst(sync_response()));
        assert_eq!(body(3, true), subst(report_request()));
        assert_eq!(body(4, false), subst(extended_response()));
        assert_eq!(body(6, false), subst(fault_response()));
        assert!(body(3, true).contains(&format!("<ComputerDnsName> {p_dns} </ComputerDnsName>")));

        // Threading: the cookie is the same placeholder wherever the original was the same.
        assert_eq!(element(&body(0, false), "CookieData"), p_auth);
        assert_eq!(element(&body(1, true), "CookieData"), p_auth);
        assert_eq!(element(&body(1, false), "EncryptedData"), p_c1);
        assert_eq!(element(&body(2, true), "EncryptedData"), p_c1);
        assert_eq!(element(&body(2, false), "EncryptedData"), p_c2);
        assert_eq!(element(&body(3, true), "EncryptedData"), p_c2);
        assert_eq!(
            element(&body(0, true), "clientId"),
            element(&body(3, true), "Sid")
        );

        // The Xpress response still decodes, parses as SOAP and keeps its framing.
        let sync = &ex[2].response;
        let wire = sync.body.bytes().unwrap();
        assert_eq!(&wire[..4], &4096u32.to_le_bytes(), "first block size kept");
        assert!(wire.len() > 8 + u32::from_le_bytes(wire[4..8].try_into().unwrap()) as usize);
        let envelope = wusp::Envelope::decode(body(2, false).as_bytes()).unwrap();
        let wusp::Body::Response(wusp::Response::SyncUpdates(res)) = &envelope.body else {
            panic!("not a SyncUpdates response: {:?}", envelope.body)
        };
        let info = res.result.value().unwrap();
        assert_eq!(info.new_updates.items().len(), 40);
        let cookie = info.new_cookie.value().unwrap();
        assert_eq!(cookie.encrypted_data.value().unwrap().0, p_c2);
        for (i, e) in ex.iter().enumerate() {
            if !e.request.body.is_empty() {
                wusp::Envelope::decode(body(i, true).as_bytes()).unwrap();
            }
            if e.id != 6 && e.id != 8 {
                wusp::Envelope::decode(body(i, false).as_bytes()).unwrap();
            }
        }

        // Content-Length follows every body.
        for e in &ex {
            for (headers, b) in [
                (&e.request.headers, &e.request.body),
                (&e.response.headers, &e.response.body),
            ] {
                assert_eq!(
                    headers.get("Content-Length"),
                    Some(b.len().to_string().as_str())
                );
            }
        }

        // Addresses, hosts and ports.
        let e = &ex[0];
        let client = e.client.as_deref().unwrap();
        let (client_ip, client_port) = client.rsplit_once(':').unwrap();
        assert_eq!(client_port, "50512");
        let client_ip: Ipv4Addr = client_ip.parse().unwrap();
        assert_eq!(client_ip.octets()[0], 198);
        assert!(matches!(client_ip.octets()[1], 18 | 19), "{client_ip}");
        let server = e.server.as_deref().unwrap();
        assert!(server.ends_with(":8531"));
        assert_eq!(
            e.request.header("Host"),
            Some(format!("{p_server}:8531").as_str())
        );
        assert_eq!(
            e.request.url,
            format!("https://{p_server}:8531/SimpleAuthWebService/SimpleAuth.asmx")
        );
        assert_eq!(e.request.target, "/SimpleAuthWebService/SimpleAuth.asmx");
        assert_eq!(
            e.tls.as_ref().unwrap().sni.as_deref(),
            Some(p_server.as_str())
        );
        assert_eq!(
            ex[7].request.url,
            format!(
                "http://{p_server}:8530/Content/49/A379D5526FB3A7A0423DA1CD7FC3182A8D448449.exe"
            )
        );
        assert!(body(2, true).contains(&format!(
            "UpdateServiceUrl=https://{p_server}:8531;IsDeviceRetailDemo=0"
        )));
        assert!(body(4, false).contains(&format!("<Url>http://{p_server}:8530/Content/49/")));
        let (records, _) = read_all(&out).unwrap();
        let (input_records, _) = read_all(dir.path().join("in.jsonl")).unwrap();
        let input_header = input_records.iter().find_map(|(_, r)| match r {
            Record::Header(h) => Some(h.clone()),
            _ => None,
        });
        assert!(input_header.is_some());
        let mut error_seen = false;
        for (_, rec) in &records {
            match rec {
                Record::Connection(c) => {
                    assert_eq!(c.client.as_deref(), Some(client));
                    assert_eq!(c.server.as_deref(), Some(server));
                }
                Record::Error(er) => {
                    error_seen = true;
                    assert_eq!(
                        er.client.as_deref(),
                        Some(format!("{client_ip}:50513").as_str())
                    );
                    assert_eq!(
                        er.message,
                        format!("cannot connect to {p_server} ({server}): connection refused")
                    );
                }
                Record::Header(h) => assert_eq!(Some(h), input_header.as_ref()),
                Record::Exchange(_) => {}
            }
        }
        assert!(error_seen);

        // Header secrets: names and attributes kept, values replaced.
        let set_cookie = ex[1].response.header("Set-Cookie").unwrap();
        let sc_value = set_cookie.strip_prefix("ASP.NET_SessionId=").unwrap();
        let (sc_value, attrs) = sc_value.split_once(';').unwrap();
        assert_eq!(sc_value.len(), HTTP_COOKIE.len());
        assert!(
            sc_value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        let p_domain = r.placeholder(Kind::DnsName, "corp.example");
        assert_eq!(attrs, format!(" path=/; domain=.{p_domain}; HttpOnly"));
        assert_eq!(
            ex[2].request.header("Cookie"),
            Some(format!("ASP.NET_SessionId={sc_value}").as_str())
        );
        let auth_header = ex[3].request.header("Authorization").unwrap();
        let token = auth_header.strip_prefix("NTLM ").unwrap();
        assert_eq!(
            BASE64.decode(token).unwrap().len(),
            BASE64.decode(NTLM).unwrap().len()
        );

        // The garbage Xpress body is kept as it was, and noted.
        assert_eq!(
            ex[5].response.body,
            Body::Binary(b"\x10\x00\x00\x00\x30\x00\x00\x00garbage, not xpress".to_vec())
        );
        assert_eq!(report.untouched().len(), 1, "{:?}", report.notes);
        let note = &report.notes[0];
        assert_eq!(
            (note.exchange, note.part, note.reason, note.kept),
            (6, BodyPart::Response, NoteReason::Undecodable, true)
        );
        assert!(
            note.message.starts_with("does not decode: xpress"),
            "{}",
            note.message
        );

        // The omitted body stays as it was; unchanged bodies keep their bytes.
        assert!(ex[7].response.body.is_omitted());
        let original = session();
        let Record::Exchange(orig4) = &original[3] else {
            unreachable!()
        };
        assert_eq!(ex[3].response.body, orig4.response.body);
        assert_eq!(ex[3].response.headers, orig4.response.headers);

        // Counts: every occurrence.
        assert_eq!(report.replaced.get(&Kind::CookieEncryptedData), Some(&5));
        assert_eq!(
            report.replaced.get(&Kind::AuthorizationCookieData),
            Some(&2)
        );
        assert_eq!(report.replaced.get(&Kind::ClientId), Some(&2));
        assert_eq!(report.replaced.get(&Kind::UserName), Some(&1));
        assert_eq!(report.records, 11);
        assert!(report.problems.is_empty());

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                fs::metadata(&out).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn same_key_same_output_other_key_other_placeholders() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _, _) = redact_session(dir.path(), 1, "a.jsonl");
        let (b, _, _) = redact_session(dir.path(), 1, "b.jsonl");
        let (c, _, _) = redact_session(dir.path(), 2, "c.jsonl");
        let (a, b, c) = (
            fs::read(a).unwrap(),
            fs::read(b).unwrap(),
            fs::read(c).unwrap(),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        let (_, c1, _) = secrets();
        let p1 = Redactor::new(key(1)).placeholder(Kind::CookieEncryptedData, &c1);
        let p2 = Redactor::new(key(2)).placeholder(Kind::CookieEncryptedData, &c1);
        assert_ne!(p1, p2);
        assert!(a.windows(p1.len()).any(|w| w == p1.as_bytes()));
        assert!(c.windows(p2.len()).any(|w| w == p2.as_bytes()));
        assert!(!c.windows(p1.len()).any(|w| w == p1.as_bytes()));
        for kind in [Kind::DnsName, Kind::ClientId, Kind::Address] {
            let v = if kind == Kind::Address {
                CLIENT_IP
            } else {
                CLIENT_ID
            };
            assert_ne!(
                Redactor::new(key(1)).placeholder(kind, v),
                Redactor::new(key(2)).placeholder(kind, v)
            );
        }
    }

    #[test]
    fn damaged_lines_are_reported_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.jsonl");
        write_capture(&input, &session());
        let mut text = fs::read_to_string(&input).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.insert(3, "{\"type\":\"exchange\",\"id\":");
        text = lines.join("\n") + "\n";
        fs::write(&input, text).unwrap();
        let output = dir.path().join("out.jsonl.zst");
        let report = redact_file(&input, &output, &mut Redactor::new(key(3))).unwrap();
        assert_eq!(report.problems.len(), 1);
        assert_eq!(report.problems[0].line, 4);
        assert_eq!(fs::read(&output).unwrap()[..4], [0x28, 0xb5, 0x2f, 0xfd]);
        let ex = exchanges(&output);
        assert_eq!(ex.len(), 8);
        let (records, _) = read_all(&output).unwrap();
        assert_eq!(records.len() as u64, report.records);
        let mut plain = Vec::new();
        zstd::stream::copy_decode(fs::File::open(&output).unwrap(), &mut plain).unwrap();
        assert_clean("zstd output", &plain);
    }

    #[test]
    fn redacts_in_place_and_to_har() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl.gz");
        write_capture(&path, &session());
        let report = redact_file(&path, &path, &mut Redactor::new(key(4))).unwrap();
        assert!(report.total_replaced() > 20);
        assert_eq!(exchanges(&path).len(), 8);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
        let mut plain = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(fs::File::open(&path).unwrap()),
            &mut plain,
        )
        .unwrap();
        assert_clean("gzip output", &plain);

        let har = dir.path().join("c.har");
        let mut r = Redactor::new(key(4));
        redact_file(&path, &har, &mut r).unwrap();
        // Redacting redacted data maps placeholders again; the originals stay gone.
        assert_clean("har", &fs::read(&har).unwrap());
        assert_eq!(exchanges(&har).len(), 8);
    }

    #[test]
    fn placeholder_shapes() {
        let mut r = Redactor::new(key(9));
        let v4 = r.placeholder(Kind::Address, "192.0.2.10:443");
        let (ip, port) = v4.rsplit_once(':').unwrap();
        assert_eq!(port, "443");
        let ip: Ipv4Addr = ip.parse().unwrap();
        assert!(ip.octets()[0] == 198 && ip.octets()[1] & 0xfe == 18 && ip.octets()[3] != 0);
        assert_eq!(r.placeholder(Kind::Address, "192.0.2.10"), ip.to_string());
        let v6 = r.placeholder(Kind::Address, "[2a01:4f8::1]:8531");
        let sa: SocketAddr = v6.parse().unwrap();
        assert_eq!(sa.port(), 8531);
        let IpAddr::V6(v6) = sa.ip() else { panic!() };
        assert_eq!(v6.segments()[..2], [0x2001, 0x0db8]);
        assert_eq!(
            r.placeholder(Kind::Address, "::ffff:192.0.2.10"),
            ip.to_ipv6_mapped().to_string()
        );
        // DNS names are case-insensitive; a trailing dot stays.
        let h = r.placeholder(Kind::DnsName, "WSUS.Corp.Example");
        assert_eq!(h, r.placeholder(Kind::DnsName, "wsus.corp.example"));
        assert_eq!(
            format!("{h}."),
            r.placeholder(Kind::DnsName, "wsus.corp.example.")
        );
        assert_eq!(
            r.placeholder(Kind::Address, "wsus.corp.example:8530"),
            format!("{h}:8530")
        );
        // Client ids.
        let g = r.placeholder(Kind::ClientId, CLIENT_ID);
        assert_eq!(g, r.placeholder(Kind::ClientId, &CLIENT_ID.to_uppercase()));
        assert_eq!(
            format!("{{{g}}}"),
            r.placeholder(Kind::ClientId, &format!("{{{CLIENT_ID}}}"))
        );
        let other = r.placeholder(Kind::ClientId, "lab-client-7");
        assert!(other.starts_with("client-") && other.len() == 23, "{other}");
        // Tokens keep length and character classes.
        let t = r.placeholder(Kind::Credential, "AB12cd-ef");
        assert_eq!(t.len(), 9);
        assert_eq!(&t[6..7], "-");
        assert!(
            t[..2].bytes().all(|b| b.is_ascii_uppercase())
                && t[2..4].bytes().all(|b| b.is_ascii_digit())
        );
        let hx = r.placeholder(Kind::Credential, "DEADBEEF0042");
        assert!(
            hx.len() == 12
                && hx
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
            "{hx}"
        );
        // Not base64: a cookie blob keeps its length and classes.
        let odd = r.placeholder(Kind::CookieEncryptedData, "not base64!");
        assert_eq!(odd.len(), 11);
        assert!(odd.ends_with('!'));
        // Nothing counted by placeholder().
        assert!(r.replaced().is_empty());
        // Distinct values never share a placeholder, even in the small IPv4 space.
        let mut seen = HashSet::new();
        for i in 0..3000u32 {
            let ip = Ipv4Addr::from(0x0a00_0000 + i).to_string();
            assert!(
                seen.insert(r.placeholder(Kind::Address, &ip)),
                "collision at {ip}"
            );
        }
    }

    #[test]
    fn urls_and_headers() {
        let mut r = Redactor::new(key(5));
        let h = r.placeholder(Kind::DnsName, "wsus");
        assert_eq!(
            r.url("http://wsus:8530/a/b?c=wsus#f"),
            format!("http://{h}:8530/a/b?c=wsus#f")
        );
        assert_eq!(r.url("http://wsus"), format!("http://{h}"));
        assert_eq!(
            r.url("SimpleAuthWebService/SimpleAuth.asmx"),
            "SimpleAuthWebService/SimpleAuth.asmx"
        );
        assert_eq!(
            r.url("\\\\wsus\\WsusContent"),
            format!("\\\\{h}\\WsusContent")
        );
        let with_user = r.url("http://admin:hunter2@wsus/x");
        assert!(
            with_user.ends_with(&format!("@{h}/x")) && !with_user.contains("hunter2"),
            "{with_user}"
        );
        let ip = r.placeholder(Kind::Address, "2001:db9::5");
        assert_eq!(
            r.url("https://[2001:db9::5]:8531/"),
            format!("https://[{ip}]:8531/")
        );

        let headers: Headers = [
            ("Host", "wsus:8530"),
            ("Referer", "http://wsus:8530/x"),
            ("Cookie", "a=1234; b=\"xyz\""),
            ("Authorization", "Basic YWRtaW46aHVudGVyMg=="),
            (
                "Proxy-Authorization",
                "Digest username=\"admin\", nc=00000001",
            ),
            ("WWW-Authenticate", "Negotiate"),
            ("X-Forwarded-For", "192.0.2.1, 192.0.2.2"),
            (
                "User-Agent",
                "Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.90",
            ),
        ]
        .into_iter()
        .collect();
        let out = r.headers(&headers);
        assert_eq!(out.get("Host"), Some(format!("{h}:8530").as_str()));
        assert_eq!(
            out.get("Referer"),
            Some(format!("http://{h}:8530/x").as_str())
        );
        let cookie = out.get("Cookie").unwrap();
        assert!(
            cookie.starts_with("a=")
                && cookie.contains("; b=\"")
                && !cookie.contains("1234")
                && !cookie.contains("xyz"),
            "{cookie}"
        );
        let basic = out
            .get("Authorization")
            .unwrap()
            .strip_prefix("Basic ")
            .unwrap();
        assert_eq!(BASE64.decode(basic).unwrap().len(), 13);
        assert_ne!(basic, "YWRtaW46aHVudGVyMg==");
        let digest = out.get("Proxy-Authorization").unwrap();
        assert!(
            digest.starts_with("Digest username=\"")
                && digest.contains(", nc=")
                && !digest.contains("admin"),
            "{digest}"
        );
        assert_eq!(out.get("WWW-Authenticate"), Some("Negotiate"));
        let xff = out.get("X-Forwarded-For").unwrap();
        assert_eq!(
            xff,
            format!(
                "{}, {}",
                r.placeholder(Kind::Address, "192.0.2.1"),
                r.placeholder(Kind::Address, "192.0.2.2")
            )
        );
        assert_eq!(out.get("User-Agent"), headers.get("User-Agent"));
        assert_eq!(out.as_slice()[7], headers.as_slice()[7]);
    }

    #[test]
    fn xml_edge_cases() {
        let mut r = Redactor::new(key(6));
        let p = r.placeholder(Kind::CookieEncryptedData, "AAAA");
        // Whitespace kept, CDATA and references read, comments dropped.
        let out = r.rewrite_xml("<a><EncryptedData>\n  AAAA\n</EncryptedData><EncryptedData><![CDATA[AA]]>&#65;A<!-- c --></EncryptedData></a>");
        assert_eq!(
            out.text.unwrap(),
            format!(
                "<a><EncryptedData>\n  {p}\n</EncryptedData><EncryptedData>{p}</EncryptedData></a>"
            )
        );
        assert!(out.error.is_none());
        assert_eq!(out.root.as_deref(), Some("a"));
        // Empty, nil and non-leaf elements are left alone.
        let same = "<s:Envelope xmlns:s=\"x\"><EncryptedData/><EncryptedData xsi:nil=\"1\"></EncryptedData><Url><x>http://h/</x></Url></s:Envelope>";
        let out = r.rewrite_xml(same);
        assert!(out.text.is_none() && out.error.is_none());
        assert_eq!(out.root.as_deref(), Some("Envelope"));
        // A body cut inside a value: the cut value is replaced as well.
        let out =
            r.rewrite_xml("<a><EncryptedData>AAAA</EncryptedData><b>x</b><EncryptedData>AAAA");
        let text = out.text.unwrap();
        assert!(!text.contains("AAAA"), "{text}");
        assert!(text.starts_with(&format!(
            "<a><EncryptedData>{p}</EncryptedData><b>x</b><EncryptedData>"
        )));
        // Cut in the end tag: what was read is redacted, and the damage reported.
        let out = r.rewrite_xml("<a><EncryptedData>AAAA</Encr");
        assert!(out.error.is_some());
        let text = out.text.unwrap();
        assert!(!text.contains("AAAA"), "{text}");
        assert!(text.ends_with("</Encr"));
        // A byte order mark before the root.
        let h = r.placeholder(Kind::DnsName, "pc1.example");
        let out = r.rewrite_xml("\u{feff}<a>\n<dnsName>pc1.example</dnsName></a>");
        assert_eq!(
            out.text.unwrap(),
            format!("\u{feff}<a>\n<dnsName>{h}</dnsName></a>")
        );
        // A configuration property holding a UNC path.
        let h = r.placeholder(Kind::DnsName, "wsus");
        let out = r.rewrite_xml("<Properties><ConfigurationProperty><Name>PackageServerShare</Name><Value>\\\\wsus\\UpdateServicesPackages</Value></ConfigurationProperty></Properties>");
        assert_eq!(
            out.text.unwrap(),
            format!(
                "<Properties><ConfigurationProperty><Name>PackageServerShare</Name><Value>\\\\{h}\\UpdateServicesPackages</Value></ConfigurationProperty></Properties>"
            )
        );
    }

    #[test]
    fn bodies_that_are_not_soap_are_noted() {
        let mut r = Redactor::new(key(8));
        let Record::Exchange(base) = session().remove(0) else {
            unreachable!()
        };
        let run = |r: &mut Redactor, e: &Exchange| {
            let (out, notes) = r.redact_record(&Record::Exchange(e.clone()));
            let Record::Exchange(o) = out else {
                unreachable!()
            };
            (o, notes)
        };
        let mut e = base.clone();
        e.request.body = Body::Binary(vec![0xff, 0x00, 0x01]);
        e.response.body = Body::Text("HTTP error: not found".into());
        e.response.headers = Headers::new();
        let (o, notes) = run(&mut r, &e);
        assert_eq!(o.request.body, e.request.body);
        assert_eq!(o.response.body, e.response.body);
        assert_eq!(notes.len(), 2);
        assert!(
            notes
                .iter()
                .all(|n| n.kept && n.reason == NoteReason::NotXml && n.exchange == 1)
        );
        // A gzip body that does not decode, and an unknown encoding.
        let mut e = base.clone();
        e.request.headers.push("Content-Encoding", "br");
        e.response.headers.push("Content-Encoding", "gzip");
        e.response.body = Body::Binary(vec![0x1f, 0x8b, 0x08, 0x00, 0x01]);
        let (o, notes) = run(&mut r, &e);
        assert_eq!(notes.len(), 2);
        assert!(
            notes
                .iter()
                .all(|n| n.kept && n.reason == NoteReason::Undecodable)
        );
        assert_eq!(notes[0].part, BodyPart::Request);
        assert_eq!(o.request.body, e.request.body);
        // XML that is no SOAP envelope is redacted and noted.
        let mut e = base.clone();
        e.request.body = Body::Text(format!("<html><dnsName>{DNS}</dnsName></html>"));
        let (o, notes) = run(&mut r, &e);
        assert!(!String::from_utf8_lossy(o.request.body.bytes().unwrap()).contains(DNS));
        assert_eq!(
            (notes[0].reason, notes[0].kept),
            (NoteReason::NotSoap, false)
        );
        // The header record is untouched.
        let header = Record::Header(CaptureHeader::new("wutap test"));
        assert_eq!(r.redact_record(&header), (header.clone(), vec![]));
    }

    proptest::proptest! {
        /// Any text: no panic; without identity elements nothing changes; with them, the
        /// text outside their content is kept.
        #[test]
        fn rewriting_never_panics(parts in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just("<a>".to_owned()),
                proptest::strategy::Just("</a>".to_owned()),
                proptest::strategy::Just("<EncryptedData>".to_owned()),
                proptest::strategy::Just("</EncryptedData>".to_owned()),
                proptest::strategy::Just("<Url>".to_owned()),
                proptest::strategy::Just("</Url>".to_owned()),
                proptest::strategy::Just("<![CDATA[".to_owned()),
                proptest::strategy::Just("]]>".to_owned()),
                proptest::strategy::Just("&amp;".to_owned()),
                proptest::strategy::Just("<!--".to_owned()),
                "[a-zA-Z0-9:/=&<>é€ ]{0,6}",
            ],
            0..24,
        )) {
            let text: String = parts.concat();
            let mut r = Redactor::new(key(10));
            let out = r.rewrite_xml(&text);
            if !text.contains("<EncryptedData") && !text.contains("<Url") {
                proptest::prop_assert!(out.text.is_none());
            }
        }
    }

    #[test]
    fn debug_shows_no_key() {
        let r = Redactor::new([0xab; 32]);
        let d = format!("{r:?}");
        assert!(
            !d.contains("171") && !d.to_lowercase().contains("abab"),
            "{d}"
        );
        assert!(Redactor::random().is_ok());
    }
}
