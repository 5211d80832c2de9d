//! HAR 1.2 export and import.
//!
//! Export writes one HAR entry per exchange or error record, with the wire bytes of every
//! body (base64 with `"encoding": "base64"` when not UTF-8, in `postData` too), and puts
//! what HAR cannot carry in `_wutap` custom fields: ids, addresses with ports, TLS facts,
//! the four exact timestamps, the request-target, error phase, omitted bodies, truncation,
//! non-UTF-8 header bytes; capture headers and connection records go in `log._wutap` with
//! their position. Import of such a file gives back the same records.
//!
//! Import also takes HARs saved by browser devtools, Fiddler and mitmproxy: every optional
//! field may be missing, sizes and timings may be -1, bodies may be base64. Such entries
//! get ids from their position (1, 2, …), connection ids from the `connection` field (or
//! 0, unknown), timestamps from `startedDateTime` and `timings`. An entry with status 0
//! (a request that got no response) becomes an error record. HAR 1.2 says `content.text`
//! is the decoded body: browsers undo gzip there, so an imported body may no longer match
//! its `Content-Encoding` header (Fiddler and mitmproxy keep bodies they cannot decode,
//! such as Xpress, as sent).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as BASE64};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::Duration;

use crate::body::Body;
use crate::error::{Error, Result};
use crate::headers::{Header, Headers};
use crate::reader::{Loaded, Problem, ProblemKind};
use crate::record::{
    ErrorPhase, ErrorRecord, Exchange, FORMAT_NAME, FORMAT_VERSION, Record, Request, Response,
    Timing, TlsInfo,
};
use crate::timestamp::Timestamp;
use crate::writer::{open_private, tighten_permissions};

/// Base64 as other tools write it: padding optional, whitespace removed before decoding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

// ---------------------------------------------------------------------------------------
// The `_wutap` extension.

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `entry._wutap`: what a HAR entry cannot carry about an exchange or error record.
#[derive(Debug, Serialize, Deserialize)]
struct EntryExt {
    #[serde(rename = "type")]
    kind: String,
    id: u64,
    conn: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server: Option<String>,
    scheme: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls: Option<TlsInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    upstream_tls: Option<TlsInfo>,
    time: Timing,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phase: Option<ErrorPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    has_request: bool,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    has_response: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_body: Option<Body>,
    #[serde(default, skip_serializing_if = "is_false")]
    request_body_truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_body: Option<Body>,
    #[serde(default, skip_serializing_if = "is_false")]
    response_body_truncated: bool,
}

/// `log._wutap`: the format, and the records that are not HAR entries.
#[derive(Debug, Serialize, Deserialize)]
struct LogExt {
    format: String,
    version: u32,
    #[serde(default)]
    records: Vec<Value>,
}

/// A record kept in `log._wutap.records`, with its position among all records.
#[derive(Debug, Serialize, Deserialize)]
struct Kept {
    at: u64,
    record: Record,
}

// ---------------------------------------------------------------------------------------
// Export.

#[derive(Serialize)]
struct HarDoc {
    log: HarLog,
}

#[derive(Serialize)]
struct HarLog {
    version: &'static str,
    creator: Creator,
    entries: Vec<Entry>,
    #[serde(rename = "_wutap")]
    wutap: LogExt,
}

#[derive(Serialize)]
struct Creator {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    started_date_time: String,
    time: f64,
    request: HarRequest,
    response: HarResponse,
    cache: Map<String, Value>,
    timings: Timings,
    #[serde(rename = "serverIPAddress", skip_serializing_if = "Option::is_none")]
    server_ip_address: Option<String>,
    connection: String,
    #[serde(rename = "_error", skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(rename = "_wutap")]
    wutap: EntryExt,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HarRequest {
    method: String,
    url: String,
    http_version: String,
    cookies: Vec<Value>,
    headers: Vec<HarHeader>,
    query_string: Vec<NameValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_data: Option<PostData>,
    headers_size: i64,
    body_size: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HarResponse {
    status: u16,
    status_text: String,
    http_version: String,
    cookies: Vec<Value>,
    headers: Vec<HarHeader>,
    content: Content,
    #[serde(rename = "redirectURL")]
    redirect_url: String,
    headers_size: i64,
    body_size: i64,
}

#[derive(Serialize)]
struct HarHeader {
    name: String,
    value: String,
    #[serde(rename = "_wutap", skip_serializing_if = "Option::is_none")]
    wutap: Option<HeaderExt>,
}

#[derive(Serialize, Deserialize)]
struct HeaderExt {
    base64: String,
}

#[derive(Serialize)]
struct NameValue {
    name: String,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostData {
    mime_type: String,
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    size: i64,
    mime_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
}

#[derive(Serialize)]
struct Timings {
    blocked: f64,
    dns: f64,
    connect: f64,
    send: f64,
    wait: f64,
    receive: f64,
    ssl: f64,
}

fn size_i64(b: &Body) -> i64 {
    i64::try_from(b.len()).unwrap_or(i64::MAX)
}

fn millis(d: Duration) -> f64 {
    d.whole_microseconds() as f64 / 1000.0
}

fn har_headers(h: &Headers) -> Vec<HarHeader> {
    h.iter()
        .map(|h| HarHeader {
            name: h.name().to_owned(),
            value: h.value().to_owned(),
            wutap: h.is_lossy().then(|| HeaderExt {
                base64: BASE64.encode(h.value_bytes()),
            }),
        })
        .collect()
}

/// Body text for HAR, and `"base64"` when it had to be encoded; `None` if omitted.
fn har_text(body: &Body) -> Option<(String, Option<&'static str>)> {
    match body {
        Body::Text(t) => Some((t.clone(), None)),
        Body::Binary(b) => Some((BASE64.encode(b), Some("base64"))),
        Body::Omitted(_) => None,
    }
}

fn query_string(url: &str) -> Vec<NameValue> {
    let Some((_, q)) = url.split_once('?') else {
        return Vec::new();
    };
    let q = q.split('#').next().unwrap_or("");
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            NameValue {
                name: n.to_owned(),
                value: v.to_owned(),
            }
        })
        .collect()
}

fn export_request(r: &Request) -> HarRequest {
    let post_data = match har_text(&r.body) {
        Some((text, encoding)) if !r.body.is_absent_form() => Some(PostData {
            mime_type: r.header("Content-Type").unwrap_or("").to_owned(),
            text,
            encoding,
        }),
        _ => None,
    };
    HarRequest {
        method: r.method.clone(),
        url: r.url.clone(),
        http_version: r.version.clone(),
        cookies: Vec::new(),
        headers: har_headers(&r.headers),
        query_string: query_string(&r.url),
        post_data,
        headers_size: -1,
        body_size: size_i64(&r.body),
    }
}

fn export_response(r: &Response) -> HarResponse {
    let (text, encoding) = match har_text(&r.body) {
        Some((t, e)) => (Some(t), e),
        None => (None, None),
    };
    HarResponse {
        status: r.status,
        status_text: r.reason.clone(),
        http_version: r.version.clone(),
        cookies: Vec::new(),
        headers: har_headers(&r.headers),
        content: Content {
            size: size_i64(&r.body),
            mime_type: r.header("Content-Type").unwrap_or("").to_owned(),
            text,
            encoding,
        },
        redirect_url: r.header("Location").unwrap_or("").to_owned(),
        headers_size: -1,
        body_size: size_i64(&r.body),
    }
}

fn server_ip(server: &str) -> String {
    if let Some(rest) = server.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_owned();
    }
    match server.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            ip.to_owned()
        }
        _ => server.to_owned(),
    }
}

fn timings(t: &Timing) -> Timings {
    let span = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
        (Some(a), Some(b)) => millis(b.since(a)).max(0.0),
        _ => 0.0,
    };
    Timings {
        blocked: -1.0,
        dns: -1.0,
        connect: -1.0,
        send: span(Some(t.start), t.request_end),
        wait: span(t.request_end, t.response_start),
        receive: span(t.response_start, t.end),
        ssl: -1.0,
    }
}

struct Addressing<'a> {
    id: u64,
    conn: u64,
    client: &'a Option<String>,
    server: &'a Option<String>,
    scheme: &'a str,
    tls: &'a Option<TlsInfo>,
    upstream_tls: &'a Option<TlsInfo>,
    time: &'a Timing,
}

fn export_entry(
    a: Addressing<'_>,
    kind: &str,
    request: Option<&Request>,
    response: Option<&Response>,
    error: Option<(ErrorPhase, &str)>,
) -> Entry {
    let placeholder_req = Request::default();
    let placeholder_resp = Response::default();
    let req = request.unwrap_or(&placeholder_req);
    let resp = response.unwrap_or(&placeholder_resp);
    let timings = timings(a.time);
    let total = timings.send + timings.wait + timings.receive;
    let omitted = |b: &Body| b.is_omitted().then(|| b.clone());
    Entry {
        started_date_time: a.time.start.to_string(),
        time: total,
        request: export_request(req),
        response: export_response(resp),
        cache: Map::new(),
        timings,
        server_ip_address: a.server.as_deref().map(server_ip),
        connection: a.conn.to_string(),
        error: error.map(|(_, m)| m.to_owned()),
        wutap: EntryExt {
            kind: kind.to_owned(),
            id: a.id,
            conn: a.conn,
            client: a.client.clone(),
            server: a.server.clone(),
            scheme: a.scheme.to_owned(),
            tls: a.tls.clone(),
            upstream_tls: a.upstream_tls.clone(),
            time: a.time.clone(),
            target: request.map(|r| r.target.clone()),
            phase: error.map(|(p, _)| p),
            message: error.map(|(_, m)| m.to_owned()),
            has_request: request.is_some(),
            has_response: response.is_some(),
            request_body: request.and_then(|r| omitted(&r.body)),
            request_body_truncated: request.is_some_and(|r| r.body_truncated),
            response_body: response.and_then(|r| omitted(&r.body)),
            response_body_truncated: response.is_some_and(|r| r.body_truncated),
        },
    }
}

/// Builds a HAR 1.2 document from capture records, in their order.
pub fn export<'a>(records: impl IntoIterator<Item = &'a Record>) -> Result<Value> {
    let mut entries = Vec::new();
    let mut kept = Vec::new();
    for (at, record) in records.into_iter().enumerate() {
        let encode = |source| Error::Encode {
            path: PathBuf::from("<memory>"),
            record: at as u64 + 1,
            source,
        };
        match record {
            Record::Exchange(e) => entries.push(export_entry(
                Addressing {
                    id: e.id,
                    conn: e.conn,
                    client: &e.client,
                    server: &e.server,
                    scheme: &e.scheme,
                    tls: &e.tls,
                    upstream_tls: &e.upstream_tls,
                    time: &e.time,
                },
                "exchange",
                Some(&e.request),
                Some(&e.response),
                None,
            )),
            Record::Error(e) => entries.push(export_entry(
                Addressing {
                    id: e.id,
                    conn: e.conn,
                    client: &e.client,
                    server: &e.server,
                    scheme: &e.scheme,
                    tls: &e.tls,
                    upstream_tls: &e.upstream_tls,
                    time: &e.time,
                },
                "error",
                e.request.as_ref(),
                e.response.as_ref(),
                Some((e.phase, &e.message)),
            )),
            Record::Header(_) | Record::Connection(_) => kept.push(
                serde_json::to_value(Kept {
                    at: at as u64,
                    record: record.clone(),
                })
                .map_err(encode)?,
            ),
        }
    }
    let doc = HarDoc {
        log: HarLog {
            version: "1.2",
            creator: Creator {
                name: "wutap",
                version: env!("CARGO_PKG_VERSION"),
            },
            entries,
            wutap: LogExt {
                format: FORMAT_NAME.to_owned(),
                version: FORMAT_VERSION,
                records: kept,
            },
        },
    };
    serde_json::to_value(doc).map_err(|source| Error::Encode {
        path: PathBuf::from("<memory>"),
        record: 0,
        source,
    })
}

/// Writes records as a HAR 1.2 file (mode 0600, like captures).
pub fn write_file<'a>(
    path: impl AsRef<Path>,
    records: impl IntoIterator<Item = &'a Record>,
) -> Result<()> {
    let path = path.as_ref();
    let doc = export(records)?;
    let file = open_private(path, false).map_err(|source| Error::Open {
        path: path.into(),
        source,
    })?;
    tighten_permissions(&file, path)?;
    let write_err = |source| Error::Write {
        path: path.into(),
        record: 0,
        source,
    };
    let mut out = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut out, &doc)
        .map_err(|e| write_err(std::io::Error::other(e)))?;
    out.write_all(b"\n")
        .and_then(|()| out.flush())
        .map_err(write_err)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Import.

/// Reads a HAR document: its records, and what could not be imported.
pub fn import(mut reader: impl Read) -> Result<(Vec<Record>, Vec<Problem>)> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Read {
            path: PathBuf::from("<memory>"),
            source,
        })?;
    let (records, problems) = import_bytes(&bytes, Path::new("<memory>"))?;
    Ok((records.into_iter().map(|(_, r)| r).collect(), problems))
}

/// Imports a HAR document's bytes; records come with their 1-based entry index.
pub(crate) fn import_bytes(bytes: &[u8], path: &Path) -> Result<Loaded> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| Error::Har {
        path: path.into(),
        line: e.line() as u64,
        message: e.to_string(),
    })?;
    let har_err = |message: &str| Error::Har {
        path: path.into(),
        line: 0,
        message: message.to_owned(),
    };
    let log = doc.get("log").ok_or_else(|| har_err("no \"log\" object"))?;
    let entries = log
        .get("entries")
        .and_then(Value::as_array)
        .ok_or_else(|| har_err("no \"log.entries\" array"))?;

    let mut problems = Vec::new();
    let mut kept: Vec<Kept> = Vec::new();
    if let Some(ext) = log.get("_wutap") {
        match LogExt::deserialize(ext) {
            Ok(ext) => {
                if ext.format != FORMAT_NAME || ext.version > FORMAT_VERSION {
                    problems.push(Problem::new(
                        0,
                        ProblemKind::UnsupportedVersion,
                        format!(
                            "HAR log._wutap says format {:?} version {}; this reader knows {FORMAT_NAME:?} version {FORMAT_VERSION} (reading on)",
                            ext.format, ext.version
                        ),
                    ));
                }
                for (i, v) in ext.records.iter().enumerate() {
                    match Kept::deserialize(v) {
                        Ok(k) => kept.push(k),
                        Err(e) => problems.push(Problem::new(
                            0,
                            ProblemKind::Corrupt,
                            format!("HAR log._wutap.records[{i}] skipped: {e}"),
                        )),
                    }
                }
            }
            Err(e) => problems.push(Problem::new(
                0,
                ProblemKind::Corrupt,
                format!("HAR log._wutap ignored: {e}"),
            )),
        }
    }
    kept.sort_by_key(|k| k.at);

    let mut conns = HashMap::new();
    let mut imported = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let n = i as u64 + 1;
        let mut ctx = EntryCtx {
            n,
            problems: &mut problems,
        };
        imported.push(ctx.import_entry(entry, &mut conns).map(|r| (n, r)));
    }

    // Put the kept records back at their positions among the entries.
    let mut out = Vec::with_capacity(imported.len() + kept.len());
    let mut kept = kept.into_iter().peekable();
    let mut pos = 0u64;
    for rec in imported {
        while let Some(k) = kept.next_if(|k| k.at <= pos) {
            out.push((0, k.record));
            pos += 1;
        }
        out.extend(rec);
        pos += 1;
    }
    out.extend(kept.map(|k| (0, k.record)));
    Ok((out, problems))
}

struct EntryCtx<'p> {
    n: u64,
    problems: &'p mut Vec<Problem>,
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A duration in HAR milliseconds, `None` for -1, missing or absurd values.
fn duration_ms(v: Option<&Value>) -> Option<Duration> {
    let ms = number(v)?;
    (ms.is_finite() && (0.0..1e12).contains(&ms))
        .then(|| Duration::microseconds((ms * 1000.0).round() as i64))
}

fn scheme_of(url: &str) -> Option<&str> {
    let (s, _) = url.split_once("://")?;
    (!s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)))
    .then_some(s)
}

/// The request-target in origin form (`/path?query`) for a URL.
fn origin_form(url: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let rest = rest.split('#').next().unwrap_or("");
    match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => rest[i..].to_owned(),
        Some(i) => format!("/{}", &rest[i..]),
        None => "/".to_owned(),
    }
}

fn url_port(url: &str) -> Option<u16> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let port = match host_port.rsplit_once(':') {
        Some((host, p)) if !p.contains(']') && (!host.contains(':') || host.ends_with(']')) => {
            p.parse().ok()
        }
        _ => None,
    };
    port.or(match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    })
}

impl EntryCtx<'_> {
    fn problem(&mut self, kind: ProblemKind, message: String) {
        self.problems.push(Problem::new(
            self.n,
            kind,
            format!("HAR entry {}: {message}", self.n),
        ));
    }

    fn headers(&mut self, v: Option<&Value>, what: &str) -> Headers {
        let mut out = Headers::new();
        let Some(list) = v.and_then(Value::as_array) else {
            return out;
        };
        for (i, h) in list.iter().enumerate() {
            let (Some(name), value) = (text_of(h.get("name")), text_of(h.get("value"))) else {
                self.problem(
                    ProblemKind::Incomplete,
                    format!("{what} header {i} has no name; ignored"),
                );
                continue;
            };
            let raw = h
                .get("_wutap")
                .and_then(|x| HeaderExt::deserialize(x).ok())
                .and_then(|x| BASE64.decode(x.base64.as_bytes()).ok());
            out.push_header(match raw {
                Some(bytes) => Header::from_bytes(name, &bytes),
                None => Header::new(name, value.unwrap_or_default()),
            });
        }
        out
    }

    /// A body from HAR `text` + `encoding`; exact variant when `exact`, else canonical.
    fn body(&mut self, holder: Option<&Value>, what: &str, exact: bool) -> Option<Body> {
        let holder = holder?;
        let text = holder.get("text").and_then(Value::as_str)?;
        let base64 = holder
            .get("encoding")
            .and_then(Value::as_str)
            .is_some_and(|e| e.eq_ignore_ascii_case("base64"));
        if !base64 {
            return Some(Body::Text(text.to_owned()));
        }
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        match LENIENT.decode(&compact) {
            Ok(bytes) if exact => Some(Body::Binary(bytes)),
            Ok(bytes) => Some(Body::from_bytes(bytes)),
            Err(e) => {
                self.problem(
                    ProblemKind::Incomplete,
                    format!("{what} body says base64 but is not ({e}); kept as text"),
                );
                Some(Body::Text(text.to_owned()))
            }
        }
    }

    fn import_entry(&mut self, e: &Value, conns: &mut HashMap<String, u64>) -> Option<Record> {
        if !e.is_object() {
            self.problem(ProblemKind::Corrupt, "not an object; skipped".to_owned());
            return None;
        }
        let ext = match e.get("_wutap").map(EntryExt::deserialize) {
            Some(Ok(x)) => Some(x),
            Some(Err(err)) => {
                self.problem(ProblemKind::Corrupt, format!("_wutap ignored: {err}"));
                None
            }
            None => None,
        };
        let exact = ext.is_some();
        let req_v = e.get("request");
        let method = text_of(req_v.and_then(|r| r.get("method"))).unwrap_or_default();
        let url = text_of(req_v.and_then(|r| r.get("url"))).unwrap_or_default();
        if !exact && (method.is_empty() || url.is_empty()) {
            self.problem(
                ProblemKind::Corrupt,
                "request has no method or url; skipped".to_owned(),
            );
            return None;
        }
        let default_version = |v: Option<String>| match v {
            Some(v) if exact || !v.is_empty() => v,
            _ => "HTTP/1.1".to_owned(),
        };

        let req_headers = self.headers(req_v.and_then(|r| r.get("headers")), "request");
        let post = req_v.and_then(|r| r.get("postData"));
        let mut req_body = self.body(post, "request", exact);
        if let Some(b) = ext.as_ref().and_then(|x| x.request_body.clone()) {
            req_body = Some(b);
        }
        let req_body = req_body.unwrap_or_else(|| {
            let size = number(req_v.and_then(|r| r.get("bodySize")))
                .or_else(|| number(post.and_then(|p| p.get("size"))))
                .unwrap_or(0.0);
            let has_params = post
                .and_then(|p| p.get("params"))
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            if size > 0.0 || has_params {
                self.problem(
                    ProblemKind::Incomplete,
                    "request body is not in the HAR (no postData.text); recorded as empty"
                        .to_owned(),
                );
            }
            Body::empty()
        });
        let request = Request {
            method,
            target: ext
                .as_ref()
                .and_then(|x| x.target.clone())
                .unwrap_or_else(|| origin_form(&url)),
            version: default_version(text_of(req_v.and_then(|r| r.get("httpVersion")))),
            headers: req_headers,
            body_truncated: ext.as_ref().is_some_and(|x| x.request_body_truncated),
            body: req_body,
            url,
        };

        let resp_v = e.get("response");
        let status_num = number(resp_v.and_then(|r| r.get("status"))).unwrap_or(0.0);
        let status = if (0.0..=65535.0).contains(&status_num) {
            status_num as u16
        } else {
            0
        };
        let content = resp_v.and_then(|r| r.get("content"));
        let mut resp_body = self.body(content, "response", exact);
        if let Some(b) = ext.as_ref().and_then(|x| x.response_body.clone()) {
            resp_body = Some(b);
        }
        let resp_body = resp_body.unwrap_or_else(|| {
            let size = number(content.and_then(|c| c.get("size")))
                .or_else(|| number(resp_v.and_then(|r| r.get("bodySize"))))
                .unwrap_or(0.0);
            if size > 0.0 && status != 0 {
                self.problem(
                    ProblemKind::Incomplete,
                    format!("response body of {size} bytes is not in the HAR (no content.text); recorded as empty"),
                );
            }
            Body::empty()
        });
        let response = Response {
            status,
            reason: text_of(resp_v.and_then(|r| r.get("statusText"))).unwrap_or_default(),
            version: default_version(text_of(resp_v.and_then(|r| r.get("httpVersion")))),
            headers: self.headers(resp_v.and_then(|r| r.get("headers")), "response"),
            body_truncated: ext.as_ref().is_some_and(|x| x.response_body_truncated),
            body: resp_body,
        };

        let har_error =
            text_of(e.get("_error")).or_else(|| text_of(resp_v.and_then(|r| r.get("_error"))));
        if let Some(x) = ext {
            let make_error = x.kind == "error";
            if !make_error && x.kind != "exchange" {
                self.problem(
                    ProblemKind::UnknownType,
                    format!("_wutap type {:?} unknown; imported as exchange", x.kind),
                );
            }
            return Some(if make_error {
                Record::Error(ErrorRecord {
                    id: x.id,
                    conn: x.conn,
                    client: x.client,
                    server: x.server,
                    scheme: x.scheme,
                    tls: x.tls,
                    upstream_tls: x.upstream_tls,
                    time: x.time,
                    phase: x.phase.unwrap_or(ErrorPhase::Other),
                    message: x.message.or(har_error).unwrap_or_default(),
                    request: x.has_request.then_some(request),
                    response: x.has_response.then_some(response),
                })
            } else {
                Record::Exchange(Exchange {
                    id: x.id,
                    conn: x.conn,
                    client: x.client,
                    server: x.server,
                    scheme: x.scheme,
                    tls: x.tls,
                    upstream_tls: x.upstream_tls,
                    time: x.time,
                    request,
                    response,
                })
            });
        }

        // A HAR from another tool.
        let time = self.timing(e);
        let conn = match text_of(e.get("connection")) {
            Some(c) if !c.is_empty() => {
                let next = conns.len() as u64 + 1;
                *conns.entry(c).or_insert(next)
            }
            _ => 0,
        };
        let server = text_of(e.get("serverIPAddress"))
            .filter(|s| !s.is_empty())
            .map(|ip| {
                let ip = ip.trim_start_matches('[').trim_end_matches(']');
                let ip = if ip.contains(':') {
                    format!("[{ip}]")
                } else {
                    ip.to_owned()
                };
                match url_port(&request.url) {
                    Some(p) => format!("{ip}:{p}"),
                    None => ip,
                }
            });
        let scheme = scheme_of(&request.url)
            .unwrap_or("http")
            .to_ascii_lowercase();
        Some(if status == 0 {
            Record::Error(ErrorRecord {
                id: self.n,
                conn,
                client: None,
                server,
                scheme,
                tls: None,
                upstream_tls: None,
                time,
                phase: ErrorPhase::Other,
                message: har_error
                    .unwrap_or_else(|| "no response recorded (HAR status 0)".to_owned()),
                request: Some(request),
                response: None,
            })
        } else {
            Record::Exchange(Exchange {
                id: self.n,
                conn,
                client: None,
                server,
                scheme,
                tls: None,
                upstream_tls: None,
                time,
                request,
                response,
            })
        })
    }

    /// The four instants from `startedDateTime`, `timings` and `time`.
    fn timing(&mut self, e: &Value) -> Timing {
        let started = text_of(e.get("startedDateTime"));
        let start = match started.as_deref().and_then(Timestamp::parse) {
            Some(t) => t,
            None => {
                self.problem(
                    ProblemKind::Incomplete,
                    format!(
                        "startedDateTime {started:?} is not an RFC 3339 time; using 1970-01-01"
                    ),
                );
                Timestamp::from_unix_micros(0).unwrap_or_else(Timestamp::now)
            }
        };
        let t = e.get("timings");
        let get = |k: &str| duration_ms(t.and_then(|t| t.get(k)));
        let request_end = get("send").map(|send| {
            let before = ["blocked", "dns", "connect"]
                .iter()
                .filter_map(|k| get(k))
                .fold(Duration::ZERO, |a, b| a + b);
            before + send
        });
        let request_end = request_end.and_then(|d| start.checked_add(d));
        let response_start = match (request_end, get("wait")) {
            (Some(r), Some(w)) => r.checked_add(w),
            _ => None,
        };
        let end = match duration_ms(e.get("time")) {
            Some(total) => start.checked_add(total),
            None => match (response_start, get("receive")) {
                (Some(r), Some(d)) => r.checked_add(d),
                _ => None,
            },
        };
        Timing {
            start,
            request_end,
            response_start,
            end,
        }
    }
}

/// Writes a HAR file from a capture file (any format the reader accepts).
pub fn export_file(capture: impl AsRef<Path>, har: impl AsRef<Path>) -> Result<Vec<Problem>> {
    let (records, problems) = crate::reader::read_all(capture)?;
    write_file(har, records.iter().map(|(_, r)| r))?;
    Ok(problems)
}

/// Reads a HAR file into records.
pub fn import_file(path: impl AsRef<Path>) -> Result<(Vec<Record>, Vec<Problem>)> {
    let path = path.as_ref();
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|source| Error::Open {
            path: path.into(),
            source,
        })?;
    let (records, mut problems) = import_bytes(&bytes, path)?;
    for p in &mut problems {
        p.path = Some(path.to_path_buf());
    }
    Ok((records.into_iter().map(|(_, r)| r).collect(), problems))
}
