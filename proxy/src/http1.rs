//! A small HTTP/1.1 framing layer: message heads parsed with `httparse` but kept as the
//! exact bytes that came in, and the body length rules of RFC 9112 section 6.
//!
//! The proxy forwards a head byte for byte (header case, order, duplicates and obs-text
//! untouched) and needs only a few facts from it: method or status, target, version, and
//! the framing headers. Nothing here does I/O.

use std::ops::Range;

use captures::{Header, Headers};

/// Most header fields in one head.
const MAX_HEADERS: usize = 128;
/// Largest head accepted (request line or status line and all header fields).
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// A problem with a message head or its framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FramingError {
    /// The head is not valid HTTP/1.x.
    #[error("malformed message head: {0}")]
    Malformed(String),
    /// The head is larger than [`MAX_HEAD`].
    #[error("message head larger than {MAX_HEAD} bytes")]
    TooLarge,
    /// The Content-Length header is invalid or ambiguous.
    #[error("invalid Content-Length")]
    BadLength,
    /// A request's Transfer-Encoding does not end in `chunked`.
    #[error("request Transfer-Encoding does not end in chunked")]
    BadTransferEncoding,
    /// A chunk-size line is invalid.
    #[error("invalid chunk size line")]
    BadChunk,
}

/// The start line of a head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StartLine {
    /// A request line.
    Request {
        /// The method, e.g. `POST`.
        method: String,
        /// The request-target as sent.
        target: String,
    },
    /// A status line.
    Status {
        /// The status code.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
}

/// One message head: its exact bytes and what the proxy needs to know of them.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    /// The head's bytes, up to and including the empty line.
    pub(crate) bytes: Vec<u8>,
    /// Request line or status line.
    pub(crate) start: StartLine,
    /// The minor HTTP version (`HTTP/1.x`).
    pub(crate) minor: u8,
    /// (name, value) ranges in `bytes`, in wire order.
    fields: Vec<(Range<usize>, Range<usize>)>,
}

/// How the body of a message is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyLen {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

fn offset(base: &[u8], part: &[u8]) -> Range<usize> {
    let start = (part.as_ptr() as usize).saturating_sub(base.as_ptr() as usize);
    start..start + part.len()
}

fn parse_error(e: httparse::Error) -> FramingError {
    match e {
        httparse::Error::TooManyHeaders => FramingError::Malformed("too many header fields".into()),
        other => FramingError::Malformed(other.to_string()),
    }
}

impl Head {
    /// Parses a request head at the start of `buf`: `Ok(None)` when more bytes are needed.
    pub(crate) fn parse_request(buf: &[u8]) -> Result<Option<Head>, FramingError> {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut storage);
        match req.parse(buf).map_err(parse_error)? {
            httparse::Status::Partial => too_large_or_none(buf),
            httparse::Status::Complete(n) => {
                let start = StartLine::Request {
                    method: req.method.unwrap_or_default().to_owned(),
                    target: req.path.unwrap_or_default().to_owned(),
                };
                let minor = req.version.unwrap_or(1);
                Ok(Some(Head::build(buf, n, start, minor, req.headers)))
            }
        }
    }

    /// Parses a response head at the start of `buf`: `Ok(None)` when more bytes are needed.
    pub(crate) fn parse_response(buf: &[u8]) -> Result<Option<Head>, FramingError> {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut storage);
        match resp.parse(buf).map_err(parse_error)? {
            httparse::Status::Partial => too_large_or_none(buf),
            httparse::Status::Complete(n) => {
                let start = StartLine::Status {
                    code: resp.code.unwrap_or_default(),
                    reason: resp.reason.unwrap_or_default().to_owned(),
                };
                let minor = resp.version.unwrap_or(1);
                Ok(Some(Head::build(buf, n, start, minor, resp.headers)))
            }
        }
    }

    fn build(
        buf: &[u8],
        n: usize,
        start: StartLine,
        minor: u8,
        headers: &[httparse::Header<'_>],
    ) -> Head {
        let fields = headers
            .iter()
            .map(|h| (offset(buf, h.name.as_bytes()), offset(buf, h.value)))
            .collect();
        Head {
            bytes: buf[..n].to_vec(),
            start,
            minor,
            fields,
        }
    }

    /// The header fields as (name, value bytes), in wire order.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.fields.iter().map(|(n, v)| {
            (
                std::str::from_utf8(&self.bytes[n.clone()]).unwrap_or_default(),
                &self.bytes[v.clone()],
            )
        })
    }

    /// Values of header `name` (case-insensitive).
    pub(crate) fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of header `name` as text (lossy), if present.
    pub(crate) fn value(&self, name: &str) -> Option<String> {
        self.values(name)
            .next()
            .map(|v| String::from_utf8_lossy(v).trim().to_owned())
    }

    /// True if a comma-separated header `name` lists `token` (case-insensitive).
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name).any(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    }

    /// The header fields for a capture record: wire order, original case, exact bytes.
    pub(crate) fn capture_headers(&self) -> Headers {
        let mut h = Headers::new();
        for (name, value) in self.fields() {
            h.push_header(Header::from_bytes(name, value));
        }
        h
    }

    /// `HTTP/1.x`.
    pub(crate) fn version(&self) -> String {
        format!("HTTP/1.{}", self.minor)
    }

    /// The request method (empty for a response).
    pub(crate) fn method(&self) -> &str {
        match &self.start {
            StartLine::Request { method, .. } => method,
            StartLine::Status { .. } => "",
        }
    }

    /// The request-target (empty for a response).
    pub(crate) fn target(&self) -> &str {
        match &self.start {
            StartLine::Request { target, .. } => target,
            StartLine::Status { .. } => "",
        }
    }

    /// The status code (0 for a request).
    pub(crate) fn status(&self) -> u16 {
        match &self.start {
            StartLine::Status { code, .. } => *code,
            StartLine::Request { .. } => 0,
        }
    }

    /// The reason phrase (empty for a request).
    pub(crate) fn reason(&self) -> &str {
        match &self.start {
            StartLine::Status { reason, .. } => reason,
            StartLine::Request { .. } => "",
        }
    }

    /// Whether the sender keeps the connection open after this message.
    pub(crate) fn keep_alive(&self) -> bool {
        if self.has_token("Connection", "close") {
            return false;
        }
        self.minor >= 1 || self.has_token("Connection", "keep-alive")
    }

    /// The Content-Length, if the header is present and valid (all values equal).
    fn content_length(&self) -> Result<Option<u64>, FramingError> {
        let mut found: Option<u64> = None;
        for v in self.values("Content-Length") {
            for part in v.split(|&b| b == b',') {
                let text =
                    std::str::from_utf8(part.trim_ascii()).map_err(|_| FramingError::BadLength)?;
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(FramingError::BadLength);
                }
                let n: u64 = text.parse().map_err(|_| FramingError::BadLength)?;
                match found {
                    Some(m) if m != n => return Err(FramingError::BadLength),
                    _ => found = Some(n),
                }
            }
        }
        Ok(found)
    }

    /// The last transfer coding, lowercased, if Transfer-Encoding is present.
    fn last_transfer_coding(&self) -> Option<String> {
        let mut last = None;
        for v in self.values("Transfer-Encoding") {
            for t in v.split(|&b| b == b',') {
                let t = t.trim_ascii();
                if !t.is_empty() {
                    last = Some(String::from_utf8_lossy(t).to_ascii_lowercase());
                }
            }
        }
        last
    }

    /// How a request's body is delimited (RFC 9112 6.3).
    pub(crate) fn request_body(&self) -> Result<BodyLen, FramingError> {
        if let Some(coding) = self.last_transfer_coding() {
            return if coding == "chunked" {
                Ok(BodyLen::Chunked)
            } else {
                Err(FramingError::BadTransferEncoding)
            };
        }
        Ok(match self.content_length()? {
            Some(0) | None => BodyLen::Empty,
            Some(n) => BodyLen::Length(n),
        })
    }

    /// How a response's body is delimited, given the request method (RFC 9112 6.3).
    pub(crate) fn response_body(&self, request_method: &str) -> Result<BodyLen, FramingError> {
        let code = self.status();
        if request_method.eq_ignore_ascii_case("HEAD")
            || (100..200).contains(&code)
            || code == 204
            || code == 304
        {
            return Ok(BodyLen::Empty);
        }
        if let Some(coding) = self.last_transfer_coding() {
            return Ok(if coding == "chunked" {
                BodyLen::Chunked
            } else {
                BodyLen::UntilClose
            });
        }
        Ok(match self.content_length()? {
            Some(0) => BodyLen::Empty,
            Some(n) => BodyLen::Length(n),
            None => BodyLen::UntilClose,
        })
    }
}

fn too_large_or_none(buf: &[u8]) -> Result<Option<Head>, FramingError> {
    if buf.len() >= MAX_HEAD {
        Err(FramingError::TooLarge)
    } else {
        Ok(None)
    }
}

/// Parses a chunk-size line (without its CRLF): hex size, optional `;extensions`.
pub(crate) fn chunk_size(line: &[u8]) -> Result<u64, FramingError> {
    let end = line.iter().position(|&b| b == b';').unwrap_or(line.len());
    let hex = line[..end].trim_ascii();
    if hex.is_empty() || hex.len() > 15 {
        return Err(FramingError::BadChunk);
    }
    let text = std::str::from_utf8(hex).map_err(|_| FramingError::BadChunk)?;
    u64::from_str_radix(text, 16).map_err(|_| FramingError::BadChunk)
}

/// A request-target in absolute-form split into scheme, host, port and origin-form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AbsoluteTarget {
    /// `http` or `https`, lowercased.
    pub(crate) scheme: String,
    /// The host (IPv6 literals without brackets).
    pub(crate) host: String,
    /// The port (the scheme's default when absent).
    pub(crate) port: u16,
    /// The origin-form target (`/path?query`, `/` when empty).
    pub(crate) origin: String,
}

/// Splits an absolute-form target (`http://host:port/path`); `None` if it is not one.
pub(crate) fn absolute_target(target: &str) -> Option<AbsoluteTarget> {
    let (scheme, rest) = target.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let (host, port) = split_authority(authority, default_port)?;
    let origin = if path.is_empty() {
        "/".to_owned()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Some(AbsoluteTarget {
        scheme,
        host,
        port,
        origin,
    })
}

/// Splits `host[:port]` (`[v6]:port` for IPv6); userinfo is refused.
pub(crate) fn split_authority(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (authority.to_owned(), default_port),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some((host, port))
}

/// `host:port`, bracketing IPv6 literals.
pub(crate) fn join_authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A response head of the proxy's own (errors), with a short text body.
pub(crate) fn simple_response(code: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head_keeps_case_order_and_duplicates() {
        let raw = b"POST /ClientWebService/client.asmx HTTP/1.1\r\nX-b: 1\r\nHost: h\r\nx-B: 2\r\nContent-Length: 3\r\n\r\nabc";
        let head = Head::parse_request(raw).unwrap().unwrap();
        assert_eq!(head.bytes.len(), raw.len() - 3);
        assert_eq!(head.method(), "POST");
        assert_eq!(head.target(), "/ClientWebService/client.asmx");
        let names: Vec<_> = head
            .fields()
            .map(|(n, v)| (n.to_owned(), v.to_vec()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("X-b".into(), b"1".to_vec()),
                ("Host".into(), b"h".to_vec()),
                ("x-B".into(), b"2".to_vec()),
                ("Content-Length".into(), b"3".to_vec())
            ]
        );
        assert_eq!(head.request_body().unwrap(), BodyLen::Length(3));
        assert!(head.keep_alive());
        let h = head.capture_headers();
        assert_eq!(h.len(), 4);
        assert_eq!(h.as_slice()[2].name(), "x-B");
    }

    #[test]
    fn partial_and_oversized_heads() {
        assert!(
            Head::parse_request(b"GET / HTTP/1.1\r\nHo")
                .unwrap()
                .is_none()
        );
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 10, b'a');
        assert_eq!(
            Head::parse_request(&big).unwrap_err(),
            FramingError::TooLarge
        );
        assert!(Head::parse_request(b"GET\x01 / HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn body_length_rules() {
        let resp = |raw: &[u8]| Head::parse_response(raw).unwrap().unwrap();
        let r = resp(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n",
        );
        assert_eq!(r.response_body("GET").unwrap(), BodyLen::Chunked);
        assert_eq!(r.response_body("HEAD").unwrap(), BodyLen::Empty);
        let r = resp(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(r.response_body("GET").unwrap(), BodyLen::Empty);
        let r = resp(b"HTTP/1.0 200 OK\r\n\r\n");
        assert_eq!(r.response_body("GET").unwrap(), BodyLen::UntilClose);
        assert!(!r.keep_alive());
        let r = resp(b"HTTP/1.1 200 Fine\r\nContent-Length: 7, 7\r\n\r\n");
        assert_eq!(r.response_body("GET").unwrap(), BodyLen::Length(7));
        assert_eq!(r.reason(), "Fine");
        let r = resp(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n");
        assert_eq!(r.response_body("GET").unwrap_err(), FramingError::BadLength);
        let q = Head::parse_request(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            q.request_body().unwrap_err(),
            FramingError::BadTransferEncoding
        );
        let q = Head::parse_request(b"GET / HTTP/1.1\r\nConnection: Keep-Alive, close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(q.request_body().unwrap(), BodyLen::Empty);
        assert!(!q.keep_alive());
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"1a").unwrap(), 26);
        assert_eq!(chunk_size(b"0;ext=1").unwrap(), 0);
        assert_eq!(chunk_size(b"FFFF ").unwrap(), 0xffff);
        assert!(chunk_size(b"").is_err());
        assert!(chunk_size(b"xyz").is_err());
        assert!(chunk_size(b"1234567890abcdef0").is_err());
    }

    #[test]
    fn absolute_targets() {
        let t = absolute_target("http://wsus.example:8530/Content/a.cab?x=1").unwrap();
        assert_eq!(
            t,
            AbsoluteTarget {
                scheme: "http".into(),
                host: "wsus.example".into(),
                port: 8530,
                origin: "/Content/a.cab?x=1".into()
            }
        );
        let t = absolute_target("HTTP://[::1]?q").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.origin.as_str()),
            ("::1", 80, "/?q")
        );
        assert!(absolute_target("/relative").is_none());
        assert!(absolute_target("ftp://h/").is_none());
        assert!(absolute_target("http://user@h/").is_none());
        assert_eq!(split_authority("h:443", 1), Some(("h".into(), 443)));
        assert_eq!(split_authority("h", 443), Some(("h".into(), 443)));
        assert_eq!(split_authority("h:x", 443), None);
        assert_eq!(join_authority("::1", 8), "[::1]:8");
        assert_eq!(join_authority("h", 8), "h:8");
    }
}
