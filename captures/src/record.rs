//! The records of a capture: one JSON object per line, tagged by `"type"`.

use serde::{Deserialize, Serialize};

use crate::body::Body;
use crate::headers::Headers;
use crate::timestamp::Timestamp;

/// The `format` value of a capture header line.
pub const FORMAT_NAME: &str = "wutap-capture";
/// The capture format version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// One line of a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// `"type":"capture"`: the header line written when a file is created.
    #[serde(rename = "capture")]
    Header(CaptureHeader),
    /// `"type":"exchange"`: one complete HTTP request and response.
    Exchange(Exchange),
    /// `"type":"error"`: an exchange that did not complete.
    Error(ErrorRecord),
    /// `"type":"connection"`: a client connection, written when it closes.
    Connection(ConnectionRecord),
}

impl Record {
    /// The `"type"` tag of this record.
    pub fn type_name(&self) -> &'static str {
        match self {
            Record::Header(_) => "capture",
            Record::Exchange(_) => "exchange",
            Record::Error(_) => "error",
            Record::Connection(_) => "connection",
        }
    }

    /// The exchange id of an exchange or error record.
    pub fn exchange_id(&self) -> Option<u64> {
        match self {
            Record::Exchange(e) => Some(e.id),
            Record::Error(e) => Some(e.id),
            Record::Header(_) | Record::Connection(_) => None,
        }
    }

    /// The connection id of an exchange, error or connection record.
    pub fn conn(&self) -> Option<u64> {
        match self {
            Record::Exchange(e) => Some(e.conn),
            Record::Error(e) => Some(e.conn),
            Record::Connection(c) => Some(c.conn),
            Record::Header(_) => None,
        }
    }

    /// When the record's subject started (exchange start, connection open, file creation).
    pub fn start(&self) -> Timestamp {
        match self {
            Record::Header(h) => h.created,
            Record::Exchange(e) => e.time.start,
            Record::Error(e) => e.time.start,
            Record::Connection(c) => c.opened,
        }
    }
}

/// The header line of a capture file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureHeader {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// The format version the file was written with ([`FORMAT_VERSION`]).
    pub version: u32,
    /// When the file was created.
    pub created: Timestamp,
    /// The program that created it, e.g. `wutap 0.1.0`.
    pub tool: String,
    /// Free text (what was captured, where).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl CaptureHeader {
    /// A header for a file created now by `tool`.
    pub fn new(tool: impl Into<String>) -> Self {
        Self {
            format: FORMAT_NAME.to_owned(),
            version: FORMAT_VERSION,
            created: Timestamp::now(),
            tool: tool.into(),
            note: None,
        }
    }
}

/// TLS facts of one leg of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TlsInfo {
    /// Server name indication sent by the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// Protocol version, e.g. `TLSv1.3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Negotiated ALPN protocol, e.g. `http/1.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// Negotiated cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher: Option<String>,
}

/// The four instants of an exchange.
///
/// Exchange records from the proxy have all four; error records have those reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timing {
    /// First byte of the request received from the client.
    pub start: Timestamp,
    /// Last byte of the request received from the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_end: Option<Timestamp>,
    /// First byte of the response received from the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_start: Option<Timestamp>,
    /// Last byte of the response sent to the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
}

impl Timing {
    /// A timing with only its start known.
    pub fn starting(start: Timestamp) -> Self {
        Self {
            start,
            request_end: None,
            response_start: None,
            end: None,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An HTTP request as it was on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Request {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The request-target exactly as sent (origin-form `/x?y`, or absolute-form via a proxy).
    pub target: String,
    /// The full URL the request was for.
    pub url: String,
    /// The protocol version, e.g. `HTTP/1.1`.
    pub version: String,
    /// Header fields in wire order, original case.
    #[serde(default)]
    pub headers: Headers,
    /// True when the body was cut short (the client went away).
    #[serde(default, skip_serializing_if = "is_false")]
    pub body_truncated: bool,
    /// The body (after transfer decoding: chunked framing removed, content encoding kept).
    #[serde(default, skip_serializing_if = "Body::is_absent_form")]
    pub body: Body,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The target's path, without query or fragment (also for absolute-form targets).
    pub fn path(&self) -> &str {
        let t = if self.target.is_empty() {
            self.url.as_str()
        } else {
            self.target.as_str()
        };
        let rest = match t.find("://") {
            Some(i) => {
                let after = &t[i + 3..];
                match after.find(['/', '?', '#']) {
                    Some(j) => &after[j..],
                    None => "",
                }
            }
            None => t,
        };
        let end = rest.find(['?', '#']).unwrap_or(rest.len());
        let path = &rest[..end];
        if path.is_empty() && t.contains("://") {
            "/"
        } else {
            path
        }
    }

    /// The SOAPAction header without its surrounding quotes.
    pub fn soap_action(&self) -> Option<&str> {
        let v = self.header("SOAPAction")?.trim();
        Some(
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v),
        )
    }
}

/// An HTTP response as it was on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase, e.g. `OK`.
    #[serde(default)]
    pub reason: String,
    /// The protocol version, e.g. `HTTP/1.1`.
    pub version: String,
    /// Header fields in wire order, original case.
    #[serde(default)]
    pub headers: Headers,
    /// True when the body was cut short (server reset, client abort).
    #[serde(default, skip_serializing_if = "is_false")]
    pub body_truncated: bool,
    /// The body (after transfer decoding: chunked framing removed, content encoding kept).
    #[serde(default, skip_serializing_if = "Body::is_absent_form")]
    pub body: Body,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// True if a Content-Encoding header lists `xpress` (MS-WUSP's compressed responses).
    pub fn is_xpress(&self) -> bool {
        self.headers
            .get_all("Content-Encoding")
            .flat_map(|v| v.split(','))
            .any(|c| c.trim().eq_ignore_ascii_case("xpress"))
    }
}

/// One complete HTTP exchange.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Exchange {
    /// Exchange id, unique in the capture, from 1 (shared with error records).
    pub id: u64,
    /// Client connection id, unique in the capture, from 1 (0: unknown, e.g. HAR import).
    pub conn: u64,
    /// Client address, `ip:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Server address, `ip:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `http` or `https`: what the client spoke to the proxy.
    pub scheme: String,
    /// TLS between client and proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    /// TLS between proxy and server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_tls: Option<TlsInfo>,
    /// When things happened.
    pub time: Timing,
    /// The request.
    pub request: Request,
    /// The response.
    pub response: Response,
}

impl Exchange {
    /// The request body's bytes, `None` if omitted.
    pub fn request_body_bytes(&self) -> Option<&[u8]> {
        self.request.body.bytes()
    }

    /// The response body's bytes (as on the wire, Xpress included), `None` if omitted.
    pub fn response_body_bytes(&self) -> Option<&[u8]> {
        self.response.body.bytes()
    }

    /// True if the response body is Xpress-compressed.
    pub fn is_xpress(&self) -> bool {
        self.response.is_xpress()
    }

    /// The request's SOAPAction, unquoted.
    pub fn soap_action(&self) -> Option<&str> {
        self.request.soap_action()
    }

    /// The request path, without query.
    pub fn path(&self) -> &str {
        self.request.path()
    }
}

/// Where an exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorPhase {
    /// The proxy could not connect to the server.
    UpstreamConnect,
    /// The TLS handshake with the server failed.
    UpstreamTls,
    /// The server did not answer in time.
    UpstreamTimeout,
    /// The server closed or reset the connection mid-exchange.
    UpstreamReset,
    /// The client went away mid-exchange.
    ClientAbort,
    /// The client did not send a complete request head in time.
    HeaderTimeout,
    /// Anything else (also phases written by a newer version).
    #[serde(other)]
    Other,
}

/// An exchange that did not complete.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ErrorRecord {
    /// Exchange id (same sequence as exchange records).
    pub id: u64,
    /// Client connection id.
    pub conn: u64,
    /// Client address, `ip:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Server address, `ip:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `http` or `https`.
    pub scheme: String,
    /// TLS between client and proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    /// TLS between proxy and server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_tls: Option<TlsInfo>,
    /// The instants that were reached.
    pub time: Timing,
    /// Where it failed.
    pub phase: ErrorPhase,
    /// What failed, in words.
    pub message: String,
    /// The request, as far as it got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// The response, as far as it got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
}

/// How the proxy handled a client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionMode {
    /// Plain HTTP, recorded.
    Plain,
    /// TLS terminated by the proxy, recorded.
    Intercept,
    /// TLS tunnelled untouched (no exchange records).
    Passthrough,
    /// A mode written by a newer version.
    #[serde(other)]
    Other,
}

/// A client connection, written when it closes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConnectionRecord {
    /// Connection id, as in exchange records.
    pub conn: u64,
    /// Client address, `ip:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Server address, `ip:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// TLS between client and proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    /// TLS between proxy and server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_tls: Option<TlsInfo>,
    /// When the client connected.
    pub opened: Timestamp,
    /// When the connection closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<Timestamp>,
    /// How it was handled.
    pub mode: ConnectionMode,
    /// Bytes received from the client.
    pub bytes_up: u64,
    /// Bytes sent to the client.
    pub bytes_down: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str) -> Request {
        Request {
            target: target.into(),
            ..Default::default()
        }
    }

    #[test]
    fn path_handles_origin_and_absolute_forms() {
        assert_eq!(
            req("/ClientWebService/client.asmx?x=1").path(),
            "/ClientWebService/client.asmx"
        );
        assert_eq!(
            req("http://wsus:8530/Content/ab/cd.cab#f").path(),
            "/Content/ab/cd.cab"
        );
        assert_eq!(req("http://wsus:8530").path(), "/");
        assert_eq!(req("http://wsus:8530?q").path(), "/");
        let from_url = Request {
            url: "https://h/a/b?c".into(),
            ..Default::default()
        };
        assert_eq!(from_url.path(), "/a/b");
    }

    #[test]
    fn soap_action_is_unquoted() {
        let mut r = req("/");
        r.headers.push(
            "soapaction",
            " \"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/SyncUpdates\"",
        );
        assert_eq!(
            r.soap_action(),
            Some(
                "http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/SyncUpdates"
            )
        );
        assert_eq!(req("/").soap_action(), None);
    }

    #[test]
    fn xpress_is_a_content_coding_token() {
        let mut r = Response::default();
        assert!(!r.is_xpress());
        r.headers.push("Content-Encoding", "gzip, XPRESS");
        assert!(r.is_xpress());
        let mut not = Response::default();
        not.headers.push("Content-Encoding", "xpressish");
        assert!(!not.is_xpress());
    }

    #[test]
    fn unknown_phase_and_mode_become_other() {
        assert_eq!(
            serde_json::from_str::<ErrorPhase>("\"quantum\"").unwrap(),
            ErrorPhase::Other
        );
        assert_eq!(
            serde_json::from_str::<ErrorPhase>("\"client_abort\"").unwrap(),
            ErrorPhase::ClientAbort
        );
        assert_eq!(
            serde_json::from_str::<ConnectionMode>("\"h3\"").unwrap(),
            ConnectionMode::Other
        );
    }
}
