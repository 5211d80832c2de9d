//! The async shell of the client: a hand-written HTTP/1.1 client over tokio sockets (plain
//! or rustls), and [`run_sync`], which drives a [`Sync`] to its end over it.
//!
//! The HTTP layer is hand-written for fidelity: request headers go on the wire exactly in
//! the order and case the caller gives (the client's [`HttpProfile`](super::HttpProfile)),
//! which general-purpose clients do not promise. Responses are parsed with `httparse`;
//! bodies framed by Content-Length, chunked encoding or the end of the connection are
//! read, then Content-Encoding (Xpress, gzip) is undone. Connections are kept alive; a
//! request that fails on a kept-alive connection before any answer byte is resent once on
//! a new one (the server closed it meanwhile). Every exchange comes back as a
//! [`captures::Exchange`] holding the bytes as sent and received (transfer coding undone);
//! a failed request carries a [`captures::ErrorRecord`] ([`TransportError::record`]).
//!
//! `https://` servers are verified against the system roots plus
//! [`TransportOptions::extra_roots`], with SNI = the URL's host. An explicit proxy
//! ([`TransportOptions::proxy`]) gets `CONNECT host:port` for https and absolute-form
//! request targets for http.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use captures::{
    Body, CaptureWriter, ErrorPhase, ErrorRecord, Exchange, Headers, Record, Request as CapRequest,
    Response as CapResponse, Timestamp, Timing, TlsInfo,
};
use rustls::pki_types::{CertificateDer, ServerName};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use wusp::http::{ContentEncoding, decode_content};
use wusp::{Envelope, Limits};

use super::{Step, Sync};

/// Largest response body accepted (before and after Content-Encoding).
const MAX_BODY: usize = 256 << 20;
/// Largest response head (status line and headers).
const MAX_HEAD: usize = 64 << 10;
/// Most response headers.
const MAX_HEADERS: usize = 128;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {kind}")]
pub struct TransportError {
    /// The request or URL concerned, e.g. `POST http://host/ClientWebService/client.asmx`.
    context: String,
    /// What went wrong.
    kind: TransportErrorKind,
    /// The failed exchange as far as it got, for the capture.
    record: Option<Box<ErrorRecord>>,
}

/// What went wrong with a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The URL is not usable.
    #[error("not a usable URL: {0}")]
    Url(String),
    /// The TCP connection could not be made.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port` dialled (the proxy's when there is one).
        addr: String,
        /// The socket error.
        source: io::Error,
    },
    /// The proxy refused or broke the tunnel.
    #[error("proxy {proxy}: {reason}")]
    Proxy {
        /// The proxy's `host:port`.
        proxy: String,
        /// What it did.
        reason: String,
    },
    /// The TLS handshake failed (untrusted certificate, wrong name, …).
    #[error("TLS handshake with {host} failed: {source}")]
    Tls {
        /// The server name verified.
        host: String,
        /// The handshake error.
        source: io::Error,
    },
    /// The TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// The connection closed before any byte of the answer.
    #[error("the server closed the connection without answering")]
    ClosedBeforeAnswer,
    /// A socket error while sending or before any answer byte.
    #[error("connection failed: {0}")]
    Io(io::Error),
    /// The connection closed or failed while the answer was arriving.
    #[error("the connection ended in the {phase}: {reason}")]
    Truncated {
        /// `status line`, `headers` or `body`.
        phase: &'static str,
        /// What happened.
        reason: String,
    },
    /// No complete answer within the timeout.
    #[error("no complete answer within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    /// A response without Content-Length or chunked encoding on a connection that stayed
    /// open: its end cannot be known.
    #[error(
        "HTTP {status} has no Content-Length (nor chunked encoding) and the server kept the \
         connection open: no end of body within {} s",
        timeout.as_secs_f64()
    )]
    MissingContentLength {
        /// The response status.
        status: u16,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The answer is not valid HTTP/1.x.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The body does not decode with its Content-Encoding.
    #[error("HTTP {status}: body does not decode: {reason}")]
    Decode {
        /// The response status.
        status: u16,
        /// The decoder's error.
        reason: String,
    },
}

impl TransportError {
    fn new(context: impl Into<String>, kind: TransportErrorKind) -> TransportError {
        TransportError {
            context: context.into(),
            kind,
            record: None,
        }
    }

    /// The failed exchange as an error record (phase, message, request as sent), when the
    /// failure happened on a request.
    pub fn record(&self) -> Option<&ErrorRecord> {
        self.record.as_deref()
    }

    /// Takes the error record out (to write it to a capture).
    pub fn take_record(&mut self) -> Option<ErrorRecord> {
        self.record.take().map(|r| *r)
    }

    /// Attaches the error record of a failed request.
    fn with_record(
        mut self,
        ids: &IdSource,
        conn: Option<&Connection>,
        origin: &Origin,
        start: Timestamp,
        request_end: Option<Timestamp>,
        request: &CapRequest,
    ) -> TransportError {
        self.record = Some(Box::new(ErrorRecord {
            id: ids.next_exchange(),
            conn: conn.map_or_else(|| ids.next_conn(), |c| c.id),
            client: conn.and_then(|c| c.local.clone()),
            server: conn.and_then(|c| c.peer.clone()),
            scheme: origin.scheme().into(),
            tls: conn.and_then(|c| c.tls.clone()),
            upstream_tls: None,
            time: Timing {
                start,
                request_end,
                response_start: None,
                end: Some(Timestamp::now()),
            },
            phase: self.phase(),
            message: self.to_string(),
            request: Some(request.clone()),
            response: None,
        }));
        self
    }

    /// Where the failure happened, in the capture format's terms.
    pub fn phase(&self) -> ErrorPhase {
        match &self.kind {
            TransportErrorKind::Connect { .. } | TransportErrorKind::Proxy { .. } => {
                ErrorPhase::UpstreamConnect
            }
            TransportErrorKind::Tls { .. } => ErrorPhase::UpstreamTls,
            TransportErrorKind::Timeout(_) | TransportErrorKind::MissingContentLength { .. } => {
                ErrorPhase::UpstreamTimeout
            }
            TransportErrorKind::ClosedBeforeAnswer
            | TransportErrorKind::Io(_)
            | TransportErrorKind::Truncated { .. } => ErrorPhase::UpstreamReset,
            _ => ErrorPhase::Other,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &TransportErrorKind {
        &self.kind
    }

    /// The request or URL concerned.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// True when retrying cannot help: the server's certificate is not trusted (or does
    /// not match its name), the TLS configuration or the URL is unusable.
    pub fn is_fatal(&self) -> bool {
        match &self.kind {
            TransportErrorKind::TlsConfig(_) | TransportErrorKind::Url(_) => true,
            TransportErrorKind::Tls { source, .. } => source
                .get_ref()
                .and_then(|e| e.downcast_ref::<rustls::Error>())
                .is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_))),
            _ => false,
        }
    }

    /// True when the connection was refused (nobody listens).
    pub fn is_refused(&self) -> bool {
        matches!(&self.kind, TransportErrorKind::Connect { source, .. }
            if source.kind() == io::ErrorKind::ConnectionRefused)
    }
}

/// Where to connect: scheme, host and port.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Origin {
    https: bool,
    /// Host as in the URL (IPv6 in brackets).
    host: String,
    port: u16,
    /// The Host header value: the URL's authority as written.
    host_header: String,
}

impl Origin {
    fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }
}

/// A server base URL: `http(s)://host[:port][/prefix]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    origin: Origin,
    /// Path prefix without trailing slash (may be empty).
    prefix: String,
}

impl ServerUrl {
    /// Parses `http://host[:port][/prefix]` or `https://…` (default ports 80 and 443).
    pub fn parse(url: &str) -> Result<ServerUrl, TransportError> {
        let bad = |reason: &str| TransportError::new(url, TransportErrorKind::Url(reason.into()));
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("spaces and control characters do not belong in a URL"));
        }
        let (https, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(bad("expected an http:// or https:// URL"));
        };
        let (hostport, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if path.contains(['?', '#']) {
            return Err(bad("a server URL has no query or fragment"));
        }
        if hostport.is_empty() {
            return Err(bad("no host"));
        }
        if hostport.contains('@') {
            return Err(bad("user information in the URL is not supported"));
        }
        let (host, port) = match hostport.rfind(':') {
            Some(i) if !hostport[i..].contains(']') => {
                let port = hostport[i + 1..]
                    .parse::<u16>()
                    .map_err(|_| bad("the port is not a number from 0 to 65535"))?;
                (&hostport[..i], port)
            }
            _ => (hostport, if https { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(ServerUrl {
            origin: Origin {
                https,
                host: host.to_string(),
                port,
                host_header: hostport.to_string(),
            },
            prefix: path.trim_end_matches('/').to_string(),
        })
    }

    /// The Host header value (the URL's authority as written).
    pub fn host_header(&self) -> &str {
        &self.origin.host_header
    }

    /// True for `https://`.
    pub fn is_https(&self) -> bool {
        self.origin.https
    }

    /// The host without port (brackets of an IPv6 literal kept).
    pub fn host(&self) -> &str {
        &self.origin.host
    }

    /// The port (explicit or the scheme's default).
    pub fn port(&self) -> u16 {
        self.origin.port
    }

    /// The full URL of `path` (which starts with `/`) under this server.
    pub fn url_for(&self, path: &str) -> String {
        format!(
            "{}://{}{}{path}",
            self.origin.scheme(),
            self.origin.host_header,
            self.prefix
        )
    }
}

/// Connection and exchange numbers, shared by the transports writing to one capture.
#[derive(Clone, Debug, Default)]
pub struct IdSource {
    conns: Arc<AtomicU64>,
    exchanges: Arc<AtomicU64>,
}

impl IdSource {
    fn next_conn(&self) -> u64 {
        self.conns.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn next_exchange(&self) -> u64 {
        self.exchanges.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// How a [`Transport`] behaves.
#[derive(Clone, Debug)]
pub struct TransportOptions {
    /// Time allowed for one request: connect, send, complete answer.
    pub timeout: Duration,
    /// Explicit proxy, `http://host:port`.
    pub proxy: Option<String>,
    /// Roots trusted for https besides the system's (e.g. wutap's CA).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Do not load the system roots (tests, or a private PKI only).
    pub no_system_roots: bool,
    /// Longest wait honored from the machine's backoff in [`run_sync`].
    pub max_backoff: Duration,
    /// Connection and exchange numbering (share it between transports of one capture).
    pub ids: IdSource,
    /// A ready TLS configuration (built from the fields above when `None`); transports of
    /// a load run share one.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            timeout: Duration::from_secs(30),
            proxy: None,
            extra_roots: Vec::new(),
            no_system_roots: false,
            max_backoff: Duration::from_secs(3),
            ids: IdSource::default(),
            tls: None,
        }
    }
}

impl TransportOptions {
    /// Builds the TLS client configuration: system roots (unless `no_system_roots`) plus
    /// `extra_roots`, aws-lc-rs provider, TLS 1.2 and 1.3.
    pub fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, TransportError> {
        let err = |m: String| TransportError::new("https", TransportErrorKind::TlsConfig(m));
        let mut roots = rustls::RootCertStore::empty();
        if !self.no_system_roots {
            for c in system_roots() {
                // A system root rustls cannot use is skipped, as browsers do.
                let _ = roots.add(c.clone());
            }
        }
        for c in &self.extra_roots {
            roots
                .add(c.clone())
                .map_err(|e| err(format!("a given CA certificate is not usable: {e}")))?;
        }
        if roots.is_empty() {
            return Err(err("no trusted root certificates (system or given)".into()));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// Reads the certificates of a PEM file (e.g. `wutap ca export`), for
/// [`TransportOptions::extra_roots`]; an error names the file.
pub fn load_pem_certs(
    path: &std::path::Path,
) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    use rustls::pki_types::pem::PemObject as _;
    let context = format!("--ca {}", path.display());
    let fail = |m: String| TransportError::new(context.clone(), TransportErrorKind::TlsConfig(m));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(format!("cannot read it: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(fail("no CERTIFICATE block in it".into()));
    }
    Ok(certs)
}

/// The system's trusted roots, loaded once per process.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::debug!(%e, "a system root certificate could not be loaded");
        }
        found.certs
    })
}

/// Byte streams a connection runs over (TCP, TLS over TCP).
trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::marker::Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::marker::Sync> Io for T {}

/// One keep-alive HTTP/1.1 connection with its unread bytes.
struct Connection {
    id: u64,
    origin: Origin,
    io: Box<dyn Io>,
    buf: Vec<u8>,
    local: Option<String>,
    peer: Option<String>,
    tls: Option<TlsInfo>,
}

impl Connection {
    /// Reads more bytes into the buffer; 0 at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 << 10];
        let n = self.io.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads until `len` body bytes are buffered; `eof(bytes buffered)` says what was cut.
    async fn fill_to(
        &mut self,
        len: usize,
        eof: impl FnOnce(usize) -> String,
    ) -> Result<(), TransportErrorKind> {
        while self.buf.len() < len {
            let n = self
                .fill()
                .await
                .map_err(|e| truncated("body", e.to_string()))?;
            if n == 0 {
                return Err(truncated("body", eof(self.buf.len())));
            }
        }
        Ok(())
    }
}

/// A response as it came back.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers in order.
    pub headers: Vec<(String, String)>,
    /// The body after transfer coding and Content-Encoding are undone.
    pub body: Vec<u8>,
    /// The exchange as sent and received (body before Content-Encoding is undone), for the
    /// capture.
    pub exchange: Exchange,
    /// Bytes written (request line, headers, body).
    pub bytes_sent: u64,
    /// Bytes read (status line, headers, body as framed on the wire).
    pub bytes_received: u64,
    /// From the first byte sent to the last byte received.
    pub latency: Duration,
}

impl Reply {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A response read off the wire, before Content-Encoding.
struct RawAnswer {
    status: u16,
    reason: String,
    version: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    wire_len: u64,
    close: bool,
    response_start: Timestamp,
}

/// How far an exchange got (read after a timeout).
#[derive(Default)]
struct Progress {
    /// Some byte of the answer arrived.
    answered: bool,
    /// The body is delimited by the end of the connection; the status.
    close_delimited: Option<u16>,
    /// The last request byte was written.
    request_end: Option<Timestamp>,
}

/// An HTTP/1.1 client for one server (and the content URLs it hands out).
pub struct Transport {
    server: ServerUrl,
    options: TransportOptions,
    proxy: Option<Origin>,
    tls: OnceLock<Arc<rustls::ClientConfig>>,
    conn: Option<Connection>,
}

impl Transport {
    /// A transport for `server`; connects on the first request.
    pub fn new(server: ServerUrl, options: TransportOptions) -> Result<Transport, TransportError> {
        let proxy = match &options.proxy {
            None => None,
            Some(p) => {
                let u = ServerUrl::parse(p)
                    .map_err(|e| TransportError::new(format!("--proxy {p}"), e.kind))?;
                if u.is_https() {
                    return Err(TransportError::new(
                        format!("--proxy {p}"),
                        TransportErrorKind::Url("the proxy must be an http:// URL".into()),
                    ));
                }
                Some(u.origin)
            }
        };
        // An https server gets its TLS configuration now (errors show at once); an http one
        // only if it hands out https content URLs.
        let tls = OnceLock::new();
        if let Some(t) = &options.tls {
            let _ = tls.set(t.clone());
        } else if server.is_https() {
            let _ = tls.set(options.tls_config()?);
        }
        Ok(Transport {
            server,
            options,
            proxy,
            tls,
            conn: None,
        })
    }

    /// The server this transport talks to.
    pub fn server(&self) -> &ServerUrl {
        &self.server
    }

    /// The options in force.
    pub fn options(&self) -> &TransportOptions {
        &self.options
    }

    /// Closes the kept-alive connection, if any.
    pub fn close(&mut self) {
        self.conn = None;
    }

    /// POSTs one SOAP request to `path` under the server URL, with exactly `headers`
    /// (order and case kept); returns the exchange and the decoded body.
    pub async fn post(
        &mut self,
        path: &str,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Result<Reply, TransportError> {
        let origin = self.server.origin.clone();
        let target = format!("{}{path}", self.server.prefix);
        self.request("POST", origin, target, headers, body).await
    }

    /// GETs a URL (`http(s)://…`) or a path under the server URL, with `headers` (a Host
    /// header is put first when missing); for downloads (Range requests).
    pub async fn get(
        &mut self,
        url_or_path: &str,
        mut headers: Vec<(String, String)>,
    ) -> Result<Reply, TransportError> {
        let (origin, target) = if url_or_path.starts_with('/') {
            (
                self.server.origin.clone(),
                format!("{}{url_or_path}", self.server.prefix),
            )
        } else {
            let u = ServerUrl::parse(url_or_path)?;
            let target = if u.prefix.is_empty() {
                "/".to_string()
            } else {
                u.prefix.clone()
            };
            (u.origin, target)
        };
        if find_header(&headers, "Host").is_none() {
            headers.insert(0, ("Host".into(), origin.host_header.clone()));
        }
        self.request("GET", origin, target, headers, &[]).await
    }

    async fn request(
        &mut self,
        method: &str,
        origin: Origin,
        target: String,
        header_lines: Vec<(String, String)>,
        body: &[u8],
    ) -> Result<Reply, TransportError> {
        let url = format!("{}://{}{target}", origin.scheme(), origin.host_header);
        let context = format!("{method} {url}");
        // Plain http through a proxy: absolute-form target (RFC 9112 3.2.2).
        let wire_target = if self.proxy.is_some() && !origin.https {
            url.clone()
        } else {
            target.clone()
        };
        let mut headers = Headers::new();
        let mut head = format!("{method} {wire_target} HTTP/1.1\r\n");
        for (k, v) in header_lines {
            head.push_str(&k);
            head.push_str(": ");
            head.push_str(&v);
            head.push_str("\r\n");
            headers.push(k, v);
        }
        head.push_str("\r\n");

        if self.conn.as_ref().is_some_and(|c| c.origin != origin) {
            self.conn = None;
        }
        let timeout = self.options.timeout;
        let started = Instant::now();
        let start = Timestamp::now();
        // A kept-alive connection the server closed meanwhile gets the request again on a
        // new one, once.
        let mut reused = self.conn.is_some();
        let request = CapRequest {
            method: method.into(),
            target: wire_target,
            url,
            version: "HTTP/1.1".into(),
            headers,
            body_truncated: false,
            body: Body::from_bytes(body.to_vec()),
        };
        let failed = |e: TransportError, conn: Option<&Connection>, request_end| {
            e.with_record(
                &self.options.ids,
                conn,
                &origin,
                start,
                request_end,
                &request,
            )
        };
        let (conn, progress, result) = loop {
            let mut conn = match self.conn.take() {
                Some(c) => c,
                None => match self.connect(&origin, &context).await {
                    Ok(c) => c,
                    Err(e) => return Err(failed(e, None, None)),
                },
            };
            let mut progress = Progress::default();
            let result = exchange_within(
                timeout,
                &mut conn,
                head.as_bytes(),
                body,
                method,
                &mut progress,
            )
            .await;
            if reused && result.as_ref().is_err_and(is_stale) {
                tracing::debug!(%context, "kept-alive connection closed; resending on a new one");
                reused = false;
                continue;
            }
            break (conn, progress, result);
        };
        let answer = match result {
            Ok(a) => a,
            Err(k) => {
                let e = TransportError::new(context.clone(), k);
                return Err(failed(e, Some(&conn), progress.request_end));
            }
        };
        let latency = started.elapsed();
        let end = Timestamp::now();
        let encoding =
            ContentEncoding::from_header(find_header(&answer.headers, "Content-Encoding"));
        let limits = Limits {
            max_body: MAX_BODY,
            ..Limits::default()
        };
        let decoded = match decode_content(&encoding, &answer.body, &limits) {
            Ok(d) => d.into_owned(),
            Err(e) => {
                let kind = TransportErrorKind::Decode {
                    status: answer.status,
                    reason: e.to_string(),
                };
                let e = TransportError::new(context.clone(), kind);
                return Err(failed(e, Some(&conn), progress.request_end));
            }
        };
        let mut rh = Headers::new();
        for (k, v) in &answer.headers {
            rh.push(k.clone(), v.clone());
        }
        let exchange = Exchange {
            id: self.options.ids.next_exchange(),
            conn: conn.id,
            client: conn.local.clone(),
            server: conn.peer.clone(),
            scheme: origin.scheme().into(),
            tls: conn.tls.clone(),
            upstream_tls: None,
            time: Timing {
                start,
                request_end: progress.request_end,
                response_start: Some(answer.response_start),
                end: Some(end),
            },
            request,
            response: CapResponse {
                status: answer.status,
                reason: answer.reason,
                version: answer.version,
                headers: rh,
                body_truncated: false,
                body: Body::from_bytes(answer.body),
            },
        };
        if !answer.close {
            self.conn = Some(conn);
        }
        Ok(Reply {
            status: answer.status,
            headers: answer.headers,
            body: decoded,
            exchange,
            bytes_sent: (head.len() + body.len()) as u64,
            bytes_received: answer.wire_len,
            latency,
        })
    }

    /// Opens a connection to `origin` (through the proxy if any), TLS included.
    async fn connect(&self, origin: &Origin, context: &str) -> Result<Connection, TransportError> {
        let timeout = self.options.timeout;
        match tokio::time::timeout(timeout, self.connect_inner(origin, context)).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::new(
                context,
                TransportErrorKind::Timeout(timeout),
            )),
        }
    }

    async fn connect_inner(
        &self,
        origin: &Origin,
        context: &str,
    ) -> Result<Connection, TransportError> {
        let fail = |kind| TransportError::new(context, kind);
        let dial = self.proxy.as_ref().unwrap_or(origin).authority();
        let tcp = TcpStream::connect(&dial).await.map_err(|source| {
            fail(TransportErrorKind::Connect {
                addr: dial.clone(),
                source,
            })
        })?;
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr().ok().map(|a| a.to_string());
        let peer = tcp.peer_addr().ok().map(|a| a.to_string());
        let mut conn = Connection {
            id: self.options.ids.next_conn(),
            origin: origin.clone(),
            io: Box::new(tcp),
            buf: Vec::new(),
            local,
            peer,
            tls: None,
        };
        if !origin.https {
            return Ok(conn);
        }
        if let Some(proxy) = &self.proxy {
            tunnel(&mut conn, origin).await.map_err(|reason| {
                fail(TransportErrorKind::Proxy {
                    proxy: proxy.authority(),
                    reason,
                })
            })?;
        }
        let config = match self.tls.get() {
            Some(c) => c.clone(),
            None => {
                let c = self.options.tls_config()?;
                self.tls.get_or_init(|| c).clone()
            }
        };
        let sni = origin.host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(sni.to_string())
            .map_err(|e| fail(TransportErrorKind::Url(format!("bad TLS server name: {e}"))))?;
        let leftover = std::mem::take(&mut conn.buf);
        if !leftover.is_empty() {
            return Err(fail(TransportErrorKind::Proxy {
                proxy: self
                    .proxy
                    .as_ref()
                    .map(Origin::authority)
                    .unwrap_or_default(),
                reason: "sent bytes after its CONNECT answer before the TLS handshake".into(),
            }));
        }
        let connector = tokio_rustls::TlsConnector::from(config);
        let stream = connector.connect(name, conn.io).await.map_err(|source| {
            fail(TransportErrorKind::Tls {
                host: sni.to_string(),
                source,
            })
        })?;
        let (_, session) = stream.get_ref();
        conn.tls = Some(TlsInfo {
            sni: Some(sni.to_string()),
            version: session.protocol_version().map(tls_version_name),
            alpn: session
                .alpn_protocol()
                .map(|a| String::from_utf8_lossy(a).into_owned()),
            cipher: session
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite())),
        });
        conn.io = Box::new(stream);
        Ok(conn)
    }
}

/// `TLSv1.3` and `TLSv1.2` as the capture format writes them.
fn tls_version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        other => format!("{other:?}"),
    }
}

/// Asks the proxy for a tunnel to `origin` and reads its answer.
async fn tunnel(conn: &mut Connection, origin: &Origin) -> Result<(), String> {
    let authority = origin.authority();
    let req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    conn.io
        .write_all(req.as_bytes())
        .await
        .map_err(|e| format!("cannot send CONNECT: {e}"))?;
    conn.io
        .flush()
        .await
        .map_err(|e| format!("cannot send CONNECT: {e}"))?;
    let mut progress = Progress::default();
    let head = read_head(conn, &mut progress)
        .await
        .map_err(|k| format!("no answer to CONNECT {authority}: {k}"))?;
    if !(200..300).contains(&head.status) {
        return Err(format!(
            "CONNECT {authority} answered HTTP {} {}",
            head.status, head.reason
        ));
    }
    Ok(())
}

/// True when the request may be resent on a new connection without risk that the server
/// acted on it (nothing of an answer arrived: a kept-alive connection closed meanwhile).
fn is_stale(kind: &TransportErrorKind) -> bool {
    matches!(
        kind,
        TransportErrorKind::ClosedBeforeAnswer | TransportErrorKind::Io(_)
    )
}

/// One exchange under the timeout; a timeout is reported according to `progress`.
async fn exchange_within(
    timeout: Duration,
    conn: &mut Connection,
    head: &[u8],
    body: &[u8],
    method: &str,
    progress: &mut Progress,
) -> Result<RawAnswer, TransportErrorKind> {
    let r = tokio::time::timeout(timeout, exchange(conn, head, body, method, progress)).await;
    match r {
        Ok(r) => r,
        Err(_) => Err(match progress.close_delimited {
            Some(status) => TransportErrorKind::MissingContentLength { status, timeout },
            None => TransportErrorKind::Timeout(timeout),
        }),
    }
}

/// Sends the request and reads one complete answer (skipping 1xx interim answers).
async fn exchange(
    conn: &mut Connection,
    head: &[u8],
    body: &[u8],
    method: &str,
    progress: &mut Progress,
) -> Result<RawAnswer, TransportErrorKind> {
    conn.io
        .write_all(head)
        .await
        .map_err(TransportErrorKind::Io)?;
    conn.io
        .write_all(body)
        .await
        .map_err(TransportErrorKind::Io)?;
    conn.io.flush().await.map_err(TransportErrorKind::Io)?;
    progress.request_end = Some(Timestamp::now());
    let mut wire_len = 0u64;
    let head = loop {
        let h = read_head(conn, progress).await?;
        wire_len += h.len as u64;
        if !(100..200).contains(&h.status) || h.status == 101 {
            break h;
        }
    };
    let get = |name: &str| find_header(&head.headers, name);
    let mut close = get("Connection")
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
        || head.version == "HTTP/1.0";
    let no_body = method == "HEAD" || head.status == 204 || head.status == 304;
    let chunked = get("Transfer-Encoding").is_some_and(|v| {
        v.rsplit(',')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"))
    });
    let body = if no_body {
        Vec::new()
    } else if chunked {
        read_chunked(conn, &mut wire_len).await?
    } else if let Some(v) = get("Content-Length") {
        let len: usize = v
            .trim()
            .parse()
            .map_err(|_| TransportErrorKind::Malformed(format!("bad Content-Length {v:?}")))?;
        if len > MAX_BODY {
            return Err(TransportErrorKind::Malformed(format!(
                "response body of {len} bytes is larger than the {MAX_BODY} accepted"
            )));
        }
        conn.fill_to(len, |got| {
            format!("closed after {got} of the {len} bytes of Content-Length")
        })
        .await?;
        wire_len += len as u64;
        conn.buf.drain(..len).collect()
    } else {
        // No framing: the body ends with the connection (RFC 9112 6.3).
        progress.close_delimited = Some(head.status);
        close = true;
        loop {
            if conn.buf.len() > MAX_BODY {
                return Err(TransportErrorKind::Malformed(format!(
                    "response body larger than the {MAX_BODY} bytes accepted"
                )));
            }
            let n = conn
                .fill()
                .await
                .map_err(|e| truncated("body", e.to_string()))?;
            if n == 0 {
                break;
            }
        }
        wire_len += conn.buf.len() as u64;
        std::mem::take(&mut conn.buf)
    };
    Ok(RawAnswer {
        status: head.status,
        reason: head.reason,
        version: head.version,
        headers: head.headers,
        body,
        wire_len,
        close,
        response_start: head.start,
    })
}

fn truncated(phase: &'static str, reason: String) -> TransportErrorKind {
    TransportErrorKind::Truncated { phase, reason }
}

/// A parsed response head.
struct Head {
    status: u16,
    reason: String,
    version: String,
    headers: Vec<(String, String)>,
    /// Bytes of the head.
    len: usize,
    start: Timestamp,
}

/// Reads and parses a response head, consuming it from the buffer.
async fn read_head(
    conn: &mut Connection,
    progress: &mut Progress,
) -> Result<Head, TransportErrorKind> {
    let mut start = None;
    loop {
        if !conn.buf.is_empty() {
            progress.answered = true;
            start.get_or_insert_with(Timestamp::now);
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut slots);
            match parsed.parse(&conn.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let head = Head {
                        status: parsed.code.unwrap_or_default(),
                        reason: parsed.reason.unwrap_or_default().to_string(),
                        version: format!("HTTP/1.{}", parsed.version.unwrap_or(1)),
                        headers: parsed
                            .headers
                            .iter()
                            .map(|h| {
                                (
                                    h.name.to_string(),
                                    String::from_utf8_lossy(h.value).trim().to_string(),
                                )
                            })
                            .collect(),
                        len,
                        start: start.unwrap_or_else(Timestamp::now),
                    };
                    conn.buf.drain(..len);
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) if conn.buf.len() > MAX_HEAD => {
                    return Err(TransportErrorKind::Malformed(format!(
                        "response head longer than {MAX_HEAD} bytes"
                    )));
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => {
                    let line = conn.buf.split(|&b| b == b'\n').next().unwrap_or_default();
                    return Err(TransportErrorKind::Malformed(format!(
                        "{e} (starting {:?})",
                        String::from_utf8_lossy(&line[..line.len().min(80)])
                    )));
                }
            }
        }
        let answered = progress.answered;
        let n = conn.fill().await.map_err(|e| {
            if answered {
                truncated("headers", e.to_string())
            } else {
                TransportErrorKind::Io(e)
            }
        })?;
        if n == 0 {
            return Err(if answered {
                truncated("headers", "closed before the end of the headers".into())
            } else {
                TransportErrorKind::ClosedBeforeAnswer
            });
        }
    }
}

/// Reads a line ending in CRLF (or LF) from the connection, without the line end.
async fn read_line(
    conn: &mut Connection,
    wire_len: &mut u64,
) -> Result<String, TransportErrorKind> {
    loop {
        if let Some(i) = conn.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = conn.buf.drain(..=i).collect();
            *wire_len += line.len() as u64;
            return Ok(String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_string());
        }
        if conn.buf.len() > MAX_HEAD {
            return Err(TransportErrorKind::Malformed(
                "chunk size line too long".into(),
            ));
        }
        let n = conn
            .fill()
            .await
            .map_err(|e| truncated("body", e.to_string()))?;
        if n == 0 {
            return Err(truncated("body", "closed inside a chunked body".into()));
        }
    }
}

/// Reads a chunked body (RFC 9112 7.1); trailers are read and dropped.
async fn read_chunked(
    conn: &mut Connection,
    wire_len: &mut u64,
) -> Result<Vec<u8>, TransportErrorKind> {
    let mut body = Vec::new();
    loop {
        let line = read_line(conn, wire_len).await?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| TransportErrorKind::Malformed(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            // Trailers up to the empty line.
            while !read_line(conn, wire_len).await?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(TransportErrorKind::Malformed(format!(
                "chunked body larger than the {MAX_BODY} bytes accepted"
            )));
        }
        conn.fill_to(size + 2, |_| {
            format!("closed inside a chunk of {size} bytes")
        })
        .await?;
        body.extend(conn.buf.drain(..size));
        if conn.buf.starts_with(b"\r\n") {
            conn.buf.drain(..2);
        } else {
            return Err(TransportErrorKind::Malformed(
                "chunk data not followed by CRLF".into(),
            ));
        }
        *wire_len += size as u64 + 2;
    }
}

/// Bytes, exchanges and latencies of a run.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    /// Exchanges completed (an HTTP answer came back).
    pub exchanges: u64,
    /// Bytes written.
    pub bytes_sent: u64,
    /// Bytes read.
    pub bytes_received: u64,
    /// Requests that failed at the transport level (retried or not).
    pub transport_errors: u64,
    /// Latency of each completed exchange, in order.
    pub latencies: Vec<Duration>,
}

impl RunStats {
    /// Counts one completed exchange.
    pub fn add(&mut self, reply: &Reply) {
        self.exchanges += 1;
        self.bytes_sent += reply.bytes_sent;
        self.bytes_received += reply.bytes_received;
        self.latencies.push(reply.latency);
    }
}

/// Drives the machine to the end over `transport`, writing every exchange to `capture`.
///
/// The error is for a server nobody answers at (connection refused before any answer) or
/// one retrying cannot help with ([`TransportError::is_fatal`]: an untrusted certificate);
/// other transport failures go to the machine, which retries or fails the run
/// ([`Step::Failed`]). The machine comes back either way, to save its state.
pub async fn run_sync(
    sync: Sync,
    transport: &mut Transport,
    capture: Option<&mut CaptureWriter>,
) -> (Sync, Result<Step, TransportError>, RunStats) {
    match capture {
        Some(w) => {
            run_sync_with(sync, transport, |r| {
                if let Err(e) = w.write(&r) {
                    tracing::warn!(%e, "cannot write the capture record");
                }
            })
            .await
        }
        None => run_sync_with(sync, transport, |_| {}).await,
    }
}

/// [`run_sync`] handing every record (exchanges, and error records of failed requests) to
/// `record` (e.g. a channel to one capture writer).
pub async fn run_sync_with(
    mut sync: Sync,
    transport: &mut Transport,
    mut record: impl FnMut(Record),
) -> (Sync, Result<Step, TransportError>, RunStats) {
    let mut stats = RunStats::default();
    let mut answered = false;
    loop {
        sync.set_now(OffsetDateTime::now_utc());
        let op = match sync.next() {
            Step::Send(req, op) => {
                let wait = sync.backoff().min(transport.options.max_backoff);
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                // The recorded envelope when seeded from a capture (fidelity).
                (sync.encode_request(&req), op)
            }
            end @ (Step::Done(_) | Step::Failed(_)) => return (sync, Ok(end), stats),
        };
        let (body, op) = op;
        let path = sync.path_for(op);
        let host = transport.server.host_header().to_string();
        let headers = sync.request_headers(op, body.len(), &host);
        match transport.post(&path, headers, body.as_bytes()).await {
            Ok(reply) => {
                answered = true;
                stats.add(&reply);
                let status = reply.status;
                let env = Envelope::decode(&reply.body);
                record(Record::Exchange(reply.exchange));
                sync.receive(status, env);
            }
            Err(mut e) => {
                if let Some(r) = e.take_record() {
                    record(Record::Error(r));
                }
                if (e.is_refused() && !answered) || e.is_fatal() {
                    return (sync, Err(e), stats);
                }
                stats.transport_errors += 1;
                tracing::warn!(?op, %e, "transport error");
                sync.receive_error(e);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
