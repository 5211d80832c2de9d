//! `wutap proxy` end to end: the real binary between a scripted client (plain TCP or rustls)
//! and `wutap serve`, in explicit (CONNECT and absolute-form) and reverse modes; the
//! capture it writes; its certificates; its answers to every failure of issue [proxy] item 6.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use captures::{ConnectionMode, ErrorPhase, Record};
use sha2::Digest as _;
use wusp::messages::*;
use wusp::{Envelope, Operation};

use crate::serve_sync::{Answer, Client, Transport, find_content, header};
use crate::util::*;

/// A running `wutap` process, killed on drop.
struct Running {
    child: Child,
    lines: Vec<String>,
    stderr: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// The address of the `listening SCHEME://ADDR` line.
    fn addr(&self, scheme: &str) -> String {
        let prefix = format!("listening {scheme}://");
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {scheme} listener in {:?}", self.lines))
            .to_owned()
    }

    fn port(&self, scheme: &str) -> u16 {
        self.addr(scheme)
            .rsplit_once(':')
            .expect("test I/O")
            .1
            .parse()
            .expect("test I/O")
    }

    /// SIGTERM, then the exit code (the recorder drains its queue first).
    fn stop(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("test I/O");
        assert!(killed.success());
        let status = self.child.wait().expect("wait");
        if status.code() != Some(0) {
            eprintln!("--- {status}; stderr:\n{}", self.stderr());
        }
        status.code()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// Starts `cmd` and reads `lines` listening lines.
fn start(mut cmd: Command, lines: usize, dir: &Path) -> Running {
    let stderr = dir.join(format!("stderr-{}.txt", rand_suffix()));
    let mut child = cmd
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(File::create(&stderr).expect("test I/O")))
        .spawn()
        .expect("start wutap");
    let mut out = BufReader::new(child.stdout.take().expect("test I/O")).lines();
    let mut got = Vec::new();
    for _ in 0..lines {
        match out.next() {
            Some(Ok(l)) => got.push(l),
            _ => {
                let _ = child.wait();
                panic!(
                    "no listening line; stderr:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
        }
    }
    Running {
        child,
        lines: got,
        stderr,
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `wutap serve` with plain and HTTPS listeners, its CA in `dir/server-ca`.
fn serve(dir: &Path) -> Running {
    let mut c = wutap();
    c.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--https-listen",
        "127.0.0.1:0",
    ])
    .args(["--catalog-size", "30", "--seed", "3", "--ca-dir"])
    .arg(dir.join("server-ca"));
    start(c, 2, dir)
}

/// `wutap proxy ARGS… --ca-dir dir/proxy-ca`.
fn proxy(dir: &Path, args: &[&str], lines: usize) -> Running {
    let mut c = wutap();
    c.arg("proxy")
        .args(args)
        .arg("--ca-dir")
        .arg(dir.join("proxy-ca"));
    start(c, lines, dir)
}

fn server_ca(dir: &Path) -> PathBuf {
    dir.join("server-ca").join("wutap-ca.pem")
}

fn proxy_ca(dir: &Path) -> PathBuf {
    dir.join("proxy-ca").join("wutap-ca.pem")
}

/// A rustls client configuration trusting the CA certificate at `pem`.
fn client_config(pem: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pem).expect("CA PEM"))
        .expect("test I/O");
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("test I/O")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

fn tcp(addr: &str) -> TcpStream {
    let t = TcpStream::connect(addr).expect("connect");
    t.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("test I/O");
    t
}

/// TLS over `tcp` for `name`, the handshake done.
fn tls(tcp: TcpStream, name: &str, ca: &Path) -> Stream {
    let server_name = rustls::pki_types::ServerName::try_from(name.to_owned()).expect("test I/O");
    let conn = rustls::ClientConnection::new(client_config(ca), server_name).expect("test I/O");
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn
            .complete_io(&mut s.sock)
            .unwrap_or_else(|e| panic!("TLS handshake with {name}: {e}"));
    }
    Stream::Tls(Box::new(s))
}

/// Sends `CONNECT authority` to the proxy; returns the status and the stream.
fn connect(proxy: &str, authority: &str) -> (u16, BufReader<TcpStream>) {
    let mut t = tcp(proxy);
    write!(
        t,
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"
    )
    .expect("test I/O");
    let mut r = BufReader::new(t);
    let (status, _) = read_head(&mut r);
    (status, r)
}

fn read_head(r: &mut impl std::io::BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).expect("header line");
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    (status, headers)
}

/// A response body framed by Content-Length or chunked, else read to the end.
fn read_body(r: &mut impl std::io::BufRead, headers: &[(String, String)]) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(n) = header(headers, "Content-Length") {
        body.resize(n.parse().expect("test I/O"), 0);
        r.read_exact(&mut body).expect("body");
    } else if header(headers, "Transfer-Encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).expect("test I/O");
            let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
            let mut chunk = vec![0; n + 2];
            if n == 0 {
                let mut end = String::new();
                r.read_line(&mut end).expect("test I/O");
                break;
            }
            r.read_exact(&mut chunk).expect("test I/O");
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        r.read_to_end(&mut body).expect("test I/O");
    }
    body
}

/// What the client saw of one exchange.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    request: Vec<u8>,
    status: u16,
    response: Vec<u8>,
    xpress: bool,
}

/// A keep-alive HTTP/1.1 client connection (through the proxy), logging what it saw.
struct Http {
    conn: RefCell<BufReader<Stream>>,
    host: String,
    /// `http://host:port` for absolute-form requests (explicit proxy), else empty.
    prefix: String,
    seen: RefCell<Vec<Seen>>,
}

impl Http {
    fn new(stream: Stream, host: &str, prefix: &str) -> Self {
        Self {
            conn: RefCell::new(BufReader::new(stream)),
            host: host.to_owned(),
            prefix: prefix.to_owned(),
            seen: RefCell::new(Vec::new()),
        }
    }

    /// A plain connection to the explicit proxy at `proxy`, absolute-form requests to `origin`.
    fn absolute(proxy: &str, origin: &str) -> Self {
        Self::new(
            Stream::Plain(tcp(proxy)),
            origin,
            &format!("http://{origin}"),
        )
    }

    fn get(&self, path: &str, headers: &[(&str, String)]) -> Answer {
        self.exchange("GET", path, headers, b"")
    }
}

impl Transport for Http {
    fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Answer {
        let mut conn = self.conn.borrow_mut();
        let mut req = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.50\r\n",
            self.prefix, self.host
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if method == "POST" {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let w = conn.get_mut();
        w.write_all(req.as_bytes()).expect("test I/O");
        w.write_all(body).expect("test I/O");
        w.flush().expect("test I/O");
        let (status, h) = read_head(&mut *conn);
        let got = read_body(&mut *conn, &h);
        self.seen.borrow_mut().push(Seen {
            path: path.to_owned(),
            request: body.to_vec(),
            status,
            response: got.clone(),
            xpress: header(&h, "Content-Encoding") == Some("xpress"),
        });
        (status, h, got)
    }
}

/// Header names in wire order, as recorded.
fn header_names(h: &captures::Headers) -> Vec<&str> {
    h.iter().map(|h| h.name()).collect()
}

fn sha256(b: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest(b).to_vec()
}

/// The records of a capture (no damaged line allowed).
fn records(path: &Path) -> Vec<Record> {
    let (records, problems) = captures::read_all(path).expect("capture readable");
    assert!(problems.is_empty(), "{problems:?}");
    records.into_iter().map(|(_, r)| r).collect()
}

fn exchanges(records: &[Record]) -> Vec<&captures::Exchange> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Exchange(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// The first connection record.
fn connection(records: &[Record]) -> &captures::ConnectionRecord {
    records
        .iter()
        .find_map(|r| match r {
            Record::Connection(c) => Some(c),
            _ => None,
        })
        .expect("a connection record")
}

fn errors(records: &[Record]) -> Vec<&captures::ErrorRecord> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Error(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// Every exchange the client saw is in the capture, in order, with the same body bytes
/// (SHA-256 of the request and response bodies, Xpress included).
fn assert_capture_matches(seen: &[Seen], captured: &[&captures::Exchange]) {
    assert_eq!(
        captured.len(),
        seen.len(),
        "one record per exchange: {:?}",
        captured.iter().map(|e| e.path()).collect::<Vec<_>>()
    );
    for (s, e) in seen.iter().zip(captured) {
        assert_eq!(e.path(), s.path.split('?').next().expect("test I/O"));
        assert_eq!(e.response.status, s.status);
        assert_eq!(
            sha256(e.request_body_bytes().expect("request body kept")),
            sha256(&s.request),
            "request body of {}",
            s.path
        );
        assert_eq!(
            sha256(e.response_body_bytes().expect("response body kept")),
            sha256(&s.response),
            "response body of {}",
            s.path
        );
        assert_eq!(e.is_xpress(), s.xpress, "{}", s.path);
        let t = &e.time;
        let order = [Some(t.start), t.request_end, t.response_start, t.end];
        assert!(order.iter().all(Option::is_some), "all four instants");
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "{t:?}");
    }
}

/// A loopback lab: `wutap serve`, and an explicit `wutap proxy` recording to `capture`.
struct Lab {
    tmp: tempfile::TempDir,
    server: Running,
    capture: PathBuf,
}

/// Starts a [`Lab`] (proxy flags `extra` added); returns it and the proxy.
fn lab(extra: &[&str]) -> (Lab, Running) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let server = serve(tmp.path());
    let capture = tmp.path().join("capture.jsonl");
    let mut args = vec!["--listen", "127.0.0.1:0", "--capture", s(&capture)];
    args.extend_from_slice(extra);
    let p = proxy(tmp.path(), &args, 1);
    (
        Lab {
            tmp,
            server,
            capture,
        },
        p,
    )
}

/// A keep-alive HTTPS client to localhost:`port` through a CONNECT tunnel, trusting `ca`.
fn via_connect(proxy: &str, port: u16, ca: &Path) -> Http {
    let (status, r) = connect(proxy, &format!("localhost:{port}"));
    assert_eq!(status, 200, "CONNECT answered");
    Http::new(
        tls(r.into_inner(), "localhost", ca),
        &format!("localhost:{port}"),
        "",
    )
}

/// POSTs a GetConfig request (asking for Xpress or not) on `t`.
fn post_get_config(t: &Http, xpress: bool) -> Answer {
    t.exchange(
        "POST",
        "/ClientWebService/client.asmx",
        &soap_headers(Operation::GetConfig, xpress),
        get_config_body().as_bytes(),
    )
}

fn get_config_body() -> String {
    Envelope::request(GetConfig {
        protocol_version: "2.90".to_string().into(),
        ..Default::default()
    })
    .encode()
}

fn soap_headers(op: Operation, xpress: bool) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("Content-Type", "text/xml; charset=utf-8".to_string()),
        ("SOAPAction", format!("\"{}\"", op.soap_action())),
    ];
    if xpress {
        h.push(("Accept-Encoding", "xpress".to_string()));
    }
    h
}

#[test]
fn explicit_https_intercepts_connect_and_records_exact_bodies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = serve(dir);
    let capture = dir.join("explicit.jsonl");
    let keylog = dir.join("keys.txt");
    let mut c = wutap();
    c.env("SSLKEYLOGFILE", &keylog)
        .args([
            "-vv",
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--capture",
            s(&capture),
        ])
        .args([
            "--upstream-ca",
            s(&server_ca(dir)),
            "--ca-dir",
            s(&dir.join("proxy-ca")),
        ]);
    let p = start(c, 1, dir);
    let port = server.port("https");

    // Directly from the server, for "what the server sent".
    let direct = Http::new(
        tls(tcp(&server.addr("https")), "localhost", &server_ca(dir)),
        &format!("localhost:{port}"),
        "",
    );
    let (_, _, direct_config) = post_get_config(&direct, true);

    let t = via_connect(&p.addr("http"), port, &proxy_ca(dir));
    let (status, h, via_proxy) = post_get_config(&t, true);
    assert_eq!(status, 200);
    assert_eq!(header(&h, "Content-Encoding"), Some("xpress"));
    assert_eq!(
        sha256(&via_proxy),
        sha256(&direct_config),
        "the client got what the server sends"
    );
    let mut client = Client::default();
    client.handshake(&t);
    let mut with_cookie = soap_headers(Operation::GetConfig, false);
    with_cookie.push(("Cookie", "wutap-secret-cookie=42".into()));
    let body = get_config_body();
    let (status, _, _) = t.exchange(
        "POST",
        "/ClientWebService/client.asmx",
        &with_cookie,
        body.as_bytes(),
    );
    assert_eq!(status, 200);
    let seen = t.seen.borrow().clone();
    assert!(seen.len() >= 5);
    drop(t);
    let log_file = p.stderr.clone();
    assert_eq!(p.stop(), Some(0));
    let logs = std::fs::read_to_string(log_file).unwrap();
    assert!(logs.contains("exchange"), "debug logs are on:\n{logs}");

    let recs = records(&capture);
    let ex = exchanges(&recs);
    assert_capture_matches(&seen, &ex);
    let first = ex[0];
    assert_eq!(first.scheme, "https");
    assert_eq!(first.response_body_bytes(), Some(direct_config.as_slice()));
    let tls_in = first.tls.as_ref().expect("client TLS facts");
    assert_eq!(tls_in.sni.as_deref(), Some("localhost"));
    assert!(tls_in.version.is_some() && tls_in.cipher.is_some());
    assert!(
        first
            .upstream_tls
            .as_ref()
            .is_some_and(|t| t.version.is_some())
    );
    assert_eq!(first.server.as_deref(), Some(server.addr("https").as_str()));
    assert!(ex.iter().all(|e| e.conn == first.conn), "one connection");
    // Header case and order as the client sent them.
    let names = header_names(&first.request.headers);
    assert_eq!(
        names,
        [
            "Host",
            "User-Agent",
            "Content-Type",
            "SOAPAction",
            "Accept-Encoding",
            "Content-Length"
        ]
    );
    let conn = connection(&recs);
    assert_eq!(conn.mode, ConnectionMode::Intercept);
    assert!(conn.bytes_up > 0 && conn.bytes_down > 0);
    // Cookies never in logs: neither the HTTP Cookie header nor the WUSP cookie.
    assert!(!logs.contains("wutap-secret-cookie"), "{logs}");
    let sealed: Vec<String> = ex
        .iter()
        .filter_map(|e| {
            let bytes = e.response_body_bytes()?;
            let xml = if e.is_xpress() {
                wusp::xpress::decode(bytes).ok()?
            } else {
                bytes.to_vec()
            };
            let xml = String::from_utf8(xml).ok()?;
            let start = xml.find("<EncryptedData>")? + "<EncryptedData>".len();
            let len = xml[start..].find('<')?;
            Some(xml[start..start + len].to_owned())
        })
        .collect();
    assert!(!sealed.is_empty(), "a GetCookie answer was recorded");
    assert!(
        sealed
            .iter()
            .all(|c| c.len() > 8 && !logs.contains(c.as_str()))
    );
    assert!(
        ex.iter()
            .any(|e| e.request.header("Cookie") == Some("wutap-secret-cookie=42")),
        "the capture keeps the cookie"
    );
    // SSLKEYLOGFILE: keys of both legs (two handshakes through the proxy).
    let keys = std::fs::read_to_string(&keylog).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&keylog).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key log is private");
    }
    let randoms: std::collections::BTreeSet<_> = keys
        .lines()
        .filter(|l| l.starts_with("CLIENT_TRAFFIC_SECRET_0"))
        .filter_map(|l| l.split(' ').nth(1))
        .collect();
    assert!(randoms.len() >= 2, "{keys}");
}

#[test]
fn reverse_https_keeps_content_urls_on_the_proxy_and_records_each_range() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = serve(dir);
    let capture = dir.join("reverse.jsonl");
    let reverse = format!("https://localhost:{}", server.port("https"));
    let p = proxy(
        dir,
        &[
            "--reverse",
            &reverse,
            "--https-listen",
            "127.0.0.1:0",
            "--capture",
            s(&capture),
            "--upstream-ca",
            s(&server_ca(dir)),
        ],
        1,
    );
    let port = p.port("https");
    let t = Http::new(
        tls(tcp(&p.addr("https")), "localhost", &proxy_ca(dir)),
        &format!("localhost:{port}"),
        "",
    );
    let url = find_content(&t).0;
    assert!(
        url.starts_with(&format!("https://localhost:{port}/Content/")),
        "content URLs point at the proxy: {url}"
    );
    let path = &url[url.find("/Content/").unwrap()..];
    let (status, _, whole) = t.get(path, &[]);
    assert_eq!(status, 200);
    let (status, _, part) = t.get(path, &[("Range", "bytes=2-9".into())]);
    assert_eq!((status, part.as_slice()), (206, &whole[2..10]));
    let (status, _, tail) = t.get(path, &[("Range", "bytes=-3".into())]);
    assert_eq!((status, tail.as_slice()), (206, &whole[whole.len() - 3..]));
    let seen = t.seen.borrow().clone();
    drop(t);
    assert_eq!(p.stop(), Some(0));
    let recs = records(&capture);
    let ex = exchanges(&recs);
    assert_capture_matches(&seen, &ex);
    let content: Vec<_> = ex
        .iter()
        .filter(|e| e.path().starts_with("/Content/"))
        .collect();
    assert_eq!(content.len(), 3, "each Range request is its own record");
    assert_eq!(content[1].request.header("Range"), Some("bytes=2-9"));
    assert!(
        ex.iter().any(|e| e.is_xpress()),
        "Xpress answers recorded as sent"
    );
    // The Host header reached the server unchanged (the proxy's name).
    assert_eq!(
        ex[0].request.header("Host"),
        Some(format!("localhost:{port}").as_str())
    );
}

#[test]
fn plain_http_absolute_form_is_forwarded_and_recorded() {
    let (lab, p) = lab(&[]);
    let server = &lab.server;
    let capture = lab.capture.as_path();
    let origin = server.addr("http");
    let t = Http::absolute(&p.addr("http"), &origin);
    let url = find_content(&t).0;
    assert!(
        url.starts_with(&format!("http://{origin}/Content/")),
        "{url}"
    );
    let path = &url[url.find("/Content/").unwrap()..];
    let (status, _, part) = t.get(path, &[("Range", "bytes=0-4".into())]);
    assert_eq!((status, part.len()), (206, 5));
    let seen = t.seen.borrow().clone();
    drop(t);
    assert_eq!(p.stop(), Some(0));
    let recs = records(capture);
    let ex = exchanges(&recs);
    assert_capture_matches(&seen, &ex);
    assert!(
        ex[0].request.target.starts_with("http://"),
        "target as sent"
    );
    assert!(ex.iter().any(|e| e.is_xpress()));
    assert!(ex.iter().all(|e| e.scheme == "http" && e.tls.is_none()));
}

/// The leaf the proxy showed for a CONNECT to `authority`, as seen by a client asking `name`.
fn leaf_via_connect(proxy: &str, authority: &str, name: &str, ca: &Path) -> Vec<u8> {
    let (status, r) = connect(proxy, authority);
    assert_eq!(status, 200);
    let Stream::Tls(mut s) = tls(r.into_inner(), name, ca) else {
        unreachable!()
    };
    let leaf = s.conn.peer_certificates().expect("test I/O")[0].to_vec();
    write!(
        s,
        "GET /Content/none HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .expect("test I/O");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 404"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    leaf
}

#[test]
fn connect_to_a_name_and_to_an_ip_literal_with_schannel_shaped_leaves() {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = serve(dir);
    let p = proxy(
        dir,
        &[
            "--listen",
            "127.0.0.1:0",
            "--upstream-ca",
            s(&server_ca(dir)),
        ],
        1,
    );
    let port = server.port("https");
    let ca_der = std::fs::read(proxy_ca(dir)).unwrap();
    let ca_pem = x509_parser::pem::parse_x509_pem(&ca_der).unwrap().1;
    let ca = ca_pem.parse_x509().unwrap();
    let ca_ski = ca
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .expect("CA SKI");

    for (authority, name) in [
        (format!("localhost:{port}"), "localhost"),
        (format!("127.0.0.1:{port}"), "127.0.0.1"),
    ] {
        let der = leaf_via_connect(&p.addr("http"), &authority, name, &proxy_ca(dir));
        let (_, leaf) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(leaf.issuer(), ca.subject());
        let mut aki = None;
        let mut san = Vec::new();
        let mut server_auth = false;
        for e in leaf.extensions() {
            match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(_) => panic!("{name}: the leaf has an SKI"),
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    aki = a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                ParsedExtension::SubjectAlternativeName(s) => san = s.general_names.clone(),
                ParsedExtension::ExtendedKeyUsage(u) => server_auth = u.server_auth,
                _ => {}
            }
        }
        assert_eq!(
            aki.as_deref(),
            Some(ca_ski.as_slice()),
            "{name}: AKI = CA SKI"
        );
        assert!(server_auth, "{name}: EKU serverAuth");
        match san.first() {
            Some(GeneralName::DNSName(d)) if name == "localhost" => assert_eq!(*d, "localhost"),
            Some(GeneralName::IPAddress(ip)) if name == "127.0.0.1" => {
                assert_eq!(*ip, [127, 0, 0, 1])
            }
            other => panic!("{name}: first SAN {other:?}"),
        }
        // The upstream certificate's names are copied too (wutap serve's leaf has both).
        assert!(
            san.iter()
                .any(|n| matches!(n, GeneralName::IPAddress(ip) if *ip == [127, 0, 0, 1]))
        );
        assert!(
            san.iter()
                .any(|n| matches!(n, GeneralName::DNSName("localhost")))
        );
        let backdated = leaf.validity().not_before.timestamp();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!(backdated < now - 12 * 3600, "{name}: notBefore backdated");
        assert!(leaf.validity().not_after.timestamp() > now + 30 * 86400);
    }
}

#[test]
fn passthrough_tunnels_unread_and_records_the_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = serve(dir);
    let capture = dir.join("pass.jsonl");
    let p = proxy(
        dir,
        &[
            "--listen",
            "127.0.0.1:0",
            "--passthrough",
            "localhost",
            "--capture",
            s(&capture),
        ],
        1,
    );
    let port = server.port("https");
    // The server's own certificate: the proxy did not intercept.
    let t = via_connect(&p.addr("http"), port, &server_ca(dir));
    let (status, _, _) = post_get_config(&t, false);
    assert_eq!(status, 200);
    drop(t);
    assert_eq!(p.stop(), Some(0));
    let recs = records(&capture);
    assert!(exchanges(&recs).is_empty());
    let conn = connection(&recs);
    assert_eq!(conn.mode, ConnectionMode::Passthrough);
    assert!(conn.bytes_up > 500 && conn.bytes_down > 500, "{conn:?}");
}

#[test]
fn bodies_over_max_body_are_recorded_as_size_and_digests() {
    let (lab, p) = lab(&["--max-body", "64"]);
    let origin = lab.server.addr("http");
    let t = Http::absolute(&p.addr("http"), &origin);
    let (status, _, answer) = post_get_config(&t, false);
    assert_eq!(status, 200);
    assert!(answer.len() > 64);
    drop(t);
    assert_eq!(p.stop(), Some(0));
    let recs = records(&lab.capture);
    let ex = exchanges(&recs);
    assert_eq!(ex.len(), 1);
    let captures::Body::Omitted(o) = &ex[0].response.body else {
        panic!("response kept: {:?}", ex[0].response.body)
    };
    assert_eq!(o.size, answer.len() as u64);
    assert_eq!(o.sha256.to_vec(), sha256(&answer));
    assert_eq!(o.sha1_hex().len(), 40);
    assert!(
        ex[0].request.body.is_omitted(),
        "the request is over 64 bytes too"
    );
}

#[test]
fn kill_9_mid_session_leaves_a_capture_whose_complete_records_load() {
    let (lab, mut p) = lab(&[]);
    let server = &lab.server;
    let capture = lab.capture.as_path();
    let origin = server.addr("http");
    let t = Http::absolute(&p.addr("http"), &origin);
    let mut client = Client::default();
    client.handshake(&t);
    let done = t.seen.borrow().len();
    // The writer has written them (bounded wait), then a request is in flight when the
    // proxy dies.
    for _ in 0..100 {
        let (loaded, _) = captures::read_all(capture).expect("readable");
        if loaded
            .iter()
            .filter(|(_, r)| matches!(r, Record::Exchange(_)))
            .count()
            == done
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut w = tcp(&p.addr("http"));
    write!(w, "POST http://{origin}/ClientWebService/client.asmx HTTP/1.1\r\nHost: {origin}\r\nContent-Length: 100\r\n\r\n<s:Env").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    p.child.kill().unwrap(); // SIGKILL
    p.child.wait().unwrap();
    let (loaded, problems) = captures::read_all(capture).expect("readable");
    assert!(
        problems.len() <= 1,
        "at most the cut last line: {problems:?}"
    );
    let ex = loaded
        .iter()
        .filter(|(_, r)| matches!(r, Record::Exchange(_)))
        .count();
    assert_eq!(ex, done, "every completed exchange is in the capture");
}

// ---- failures (issue [proxy] item 6) ----

/// A raw request through the explicit proxy on a fresh connection: (status, body).
fn raw_via(proxy: &str, request: &str) -> (u16, String) {
    let mut t = tcp(proxy);
    t.write_all(request.as_bytes()).expect("test I/O");
    let mut r = BufReader::new(t);
    let (status, h) = read_head(&mut r);
    (
        status,
        String::from_utf8_lossy(&read_body(&mut r, &h)).into_owned(),
    )
}

fn get_via(proxy: &str, origin: &str) -> (u16, String) {
    raw_via(
        proxy,
        &format!(
            "GET http://{origin}/Content/x HTTP/1.1\r\nHost: {origin}\r\nConnection: close\r\n\r\n"
        ),
    )
}

/// A recording reverse proxy to `http://origin`: (its temp dir, the capture, the proxy).
fn reverse_to(origin: &str) -> (tempfile::TempDir, PathBuf, Running) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let capture = tmp.path().join("capture.jsonl");
    let reverse = format!("http://{origin}");
    let args = [
        "--reverse",
        &reverse,
        "--listen",
        "127.0.0.1:0",
        "--capture",
        s(&capture),
    ];
    let p = proxy(tmp.path(), &args, 1);
    (tmp, capture, p)
}

/// A closed port on loopback.
fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("test I/O");
    let a = l.local_addr().expect("test I/O").to_string();
    drop(l);
    a
}

/// A one-shot origin on loopback: accepts, reads the request head (exact bytes), then
/// runs `then` with the connection and the head.
fn raw_origin(then: impl FnOnce(BufReader<TcpStream>, Vec<u8>) + Send + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("local address").to_string();
    std::thread::spawn(move || {
        if let Ok((s, _)) = l.accept() {
            let mut r = BufReader::new(s);
            let mut head = Vec::new();
            loop {
                let before = head.len();
                match r.read_until(b'\n', &mut head) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if &head[before..] == b"\r\n" => break,
                    Ok(_) => {}
                }
            }
            then(r, head);
        }
    });
    a
}

/// [`raw_origin`] for origins that only need the stream.
fn origin(then: impl FnOnce(TcpStream) + Send + 'static) -> String {
    raw_origin(move |r, _| then(r.into_inner()))
}

fn only_error(capture: &Path) -> captures::ErrorRecord {
    let recs = records(capture);
    let e = errors(&recs);
    assert_eq!(e.len(), 1, "{recs:?}");
    e[0].clone()
}

#[test]
fn upstream_refused_is_a_502_and_an_error_record_and_the_proxy_stays_up() {
    let (lab, p) = lab(&[]);
    let server = &lab.server;
    let capture = lab.capture.as_path();
    let (status, body) = get_via(&p.addr("http"), &closed_port());
    assert_eq!(status, 502);
    assert!(
        body.contains("cannot connect") && body.contains("refused"),
        "{body}"
    );
    let (status, _) = get_via(&p.addr("http"), &server.addr("http"));
    assert_eq!(status, 404, "still forwarding");
    assert_eq!(p.stop(), Some(0));
    let e = only_error(capture);
    assert_eq!(e.phase, ErrorPhase::UpstreamConnect);
    assert_eq!(e.request.unwrap().method, "GET");
}

#[test]
fn upstream_reset_is_a_502() {
    let (lab, p) = lab(&[]);
    let capture = lab.capture.as_path();
    let (status, body) = get_via(&p.addr("http"), &origin(drop));
    assert_eq!(status, 502);
    assert!(
        body.contains("closed the connection without a response"),
        "{body}"
    );
    // Cut in the middle of a body: the client gets what came, the record says truncated.
    let cut = origin(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    });
    let mut t = tcp(&p.addr("http"));
    write!(
        t,
        "GET http://{cut}/Content/y HTTP/1.1\r\nHost: {cut}\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let _ = t.read_to_end(&mut got);
    assert!(
        got.ends_with(b"partial"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(p.stop(), Some(0));
    let recs = records(capture);
    let e = errors(&recs);
    assert_eq!(e.len(), 2);
    assert!(e.iter().all(|e| e.phase == ErrorPhase::UpstreamReset));
    let truncated = e
        .iter()
        .find_map(|e| e.response.as_ref())
        .expect("a response");
    assert!(truncated.body_truncated);
    assert_eq!(truncated.body.bytes(), Some(&b"partial"[..]));
}

#[test]
fn upstream_tls_failure_is_a_502_inside_the_tunnel() {
    let (lab, p) = lab(&[]);
    let dir = lab.tmp.path();
    let server = &lab.server;
    let capture = lab.capture.as_path();
    let port = server.port("https");
    let t = via_connect(&p.addr("http"), port, &proxy_ca(dir));
    let (status, _, body) = t.get("/Content/x", &[]);
    assert_eq!(status, 502);
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("TLS handshake with upstream localhost failed"),
        "{body}"
    );
    drop(t);
    assert_eq!(p.stop(), Some(0));
    assert_eq!(only_error(capture).phase, ErrorPhase::UpstreamTls);
}

#[test]
fn upstream_timeout_is_a_504() {
    let (lab, p) = lab(&["--upstream-timeout", "0.5"]);
    let capture = lab.capture.as_path();
    let silent = origin(|s| {
        std::thread::sleep(Duration::from_secs(5));
        drop(s);
    });
    let (status, body) = get_via(&p.addr("http"), &silent);
    assert_eq!(status, 504);
    assert!(body.contains("did not answer within 0.5 s"), "{body}");
    assert_eq!(p.stop(), Some(0));
    assert_eq!(only_error(capture).phase, ErrorPhase::UpstreamTimeout);
}

#[test]
fn client_abort_is_recorded_with_the_truncated_request() {
    let (lab, p) = lab(&[]);
    let server = &lab.server;
    let capture = lab.capture.as_path();
    let origin = server.addr("http");
    let mut t = tcp(&p.addr("http"));
    write!(t, "POST http://{origin}/ClientWebService/client.asmx HTTP/1.1\r\nHost: {origin}\r\nContent-Length: 1000\r\n\r\n<s:Envelope").unwrap();
    t.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(t);
    std::thread::sleep(Duration::from_millis(300));
    let (status, _) = get_via(&p.addr("http"), &origin);
    assert_eq!(status, 404, "still forwarding");
    assert_eq!(p.stop(), Some(0));
    let e = only_error(capture);
    assert_eq!(e.phase, ErrorPhase::ClientAbort);
    let req = e.request.expect("the request as far as it got");
    assert!(req.body_truncated);
    assert_eq!(req.body.bytes(), Some(&b"<s:Envelope"[..]));
}

#[test]
fn slow_request_heads_get_408() {
    let (lab, p) = lab(&["--header-timeout", "0.5"]);
    let capture = lab.capture.as_path();
    let mut t = tcp(&p.addr("http"));
    t.write_all(b"GET http://127.0.0.1:1/ HTTP/1.1\r\nHo")
        .unwrap();
    let mut got = String::new();
    let _ = t.read_to_string(&mut got);
    assert!(got.starts_with("HTTP/1.1 408 "), "{got}");
    assert_eq!(p.stop(), Some(0));
    assert_eq!(only_error(capture).phase, ErrorPhase::HeaderTimeout);
}

#[test]
fn a_full_disk_stops_recording_loudly_but_forwarding_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = serve(dir);
    assert_code(
        &run(&["ca", "init", "--ca-dir", s(&dir.join("proxy-ca"))]),
        0,
    );
    let capture = dir.join("full.jsonl");
    // Files may not grow past 512 bytes: the header fits, the first exchange does not.
    // SIGXFSZ is ignored, so the write fails with EFBIG as on a full disk.
    let mut c = Command::new("sh");
    c.args(["-c", "trap '' XFSZ; ulimit -f 1; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_wutap"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--capture", s(&capture)])
        .args(["--ca-dir", s(&dir.join("proxy-ca"))]);
    let p = start(c, 1, dir);
    let origin = server.addr("http");
    let t = Http::absolute(&p.addr("http"), &origin);
    for _ in 0..5 {
        let (status, _, body) = post_get_config(&t, false);
        assert_eq!(status, 200);
        assert!(body.len() > 512);
    }
    drop(t);
    let log_file = p.stderr.clone();
    assert_eq!(p.stop(), Some(0));
    let stderr = std::fs::read_to_string(log_file).unwrap();
    let loud: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("recording stopped"))
        .collect();
    assert_eq!(loud.len(), 1, "one error on stderr:\n{stderr}");
    assert!(std::fs::metadata(&capture).unwrap().len() <= 512);
}

#[test]
fn beyond_loopback_needs_an_allowlist_and_the_allowlist_is_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = dir.join("proxy-ca");
    let out = run(&["proxy", "--listen", "0.0.0.0:0", "--ca-dir", s(&ca)]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--allow-host"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    // Without a terminal (stdout is a pipe here) --tui is refused before anything binds.
    let out = run(&["proxy", "--tui", "--ca-dir", s(&ca)]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("the TUI needs a terminal"),
        "{}",
        stderr(&out)
    );
    let out = run(&["proxy", "--https-listen", "127.0.0.1:0", "--ca-dir", s(&ca)]);
    assert_code(&out, 2);

    let server = serve(dir);
    let p = proxy(
        dir,
        &["--listen", "127.0.0.1:0", "--allow-host", "localhost"],
        1,
    );
    let port = server.port("http");
    let (status, body) = get_via(&p.addr("http"), &format!("127.0.0.1:{port}"));
    assert_eq!(status, 403);
    assert!(body.contains("not allowed"), "{body}");
    let (status, _) = get_via(&p.addr("http"), &format!("localhost:{port}"));
    assert_eq!(status, 404, "an allowed host is forwarded");
    let (status, _) = connect(
        &p.addr("http"),
        &format!("127.0.0.1:{}", server.port("https")),
    );
    assert_eq!(status, 403);
}

#[test]
fn heads_and_chunked_bodies_are_forwarded_byte_for_byte_both_ways() {
    const REQUEST: &[u8] = b"POST /ClientWebService/client.asmx HTTP/1.1\r\nhost: wsus.test\r\nX-Dup: a\r\nsoapaction: \"b\"\r\nx-dup: c\r\nContent-Length: 11\r\n\r\n<s:Body/>\r\n";
    const RESPONSE: &[u8] = b"HTTP/1.1 200 Fine Thanks\r\nx-dup: 1\r\nContent-TYPE: text/xml\r\nX-Dup: 2\r\nX-Obs: caf\xe9\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    let (tx, rx) = std::sync::mpsc::channel();
    let up = raw_origin(move |mut r, mut head| {
        let mut body = vec![0; 11];
        r.read_exact(&mut body).expect("request body");
        head.extend_from_slice(&body);
        tx.send(head).expect("send");
        r.get_mut().write_all(RESPONSE).expect("answer");
    });
    let (_tmp, capture, p) = reverse_to(&up);
    let mut t = tcp(&p.addr("http"));
    t.write_all(REQUEST).unwrap();
    let mut got = Vec::new();
    t.read_to_end(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(RESPONSE),
        "the client gets the server's bytes"
    );
    assert_eq!(got, RESPONSE);
    let received = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(received, REQUEST, "the server gets the client's bytes");
    assert_eq!(p.stop(), Some(0));
    let recs = records(&capture);
    let ex = exchanges(&recs);
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].response.reason, "Fine Thanks");
    assert_eq!(ex[0].response.body.bytes(), Some(&b"hello world"[..]));
    let names = header_names(&ex[0].response.headers);
    assert_eq!(
        names,
        [
            "x-dup",
            "Content-TYPE",
            "X-Dup",
            "X-Obs",
            "Transfer-Encoding",
            "Connection"
        ]
    );
    let obs = &ex[0].response.headers.as_slice()[3];
    assert_eq!(obs.value_bytes(), b"caf\xe9");
    assert_eq!(
        ex[0].request.url,
        "http://wsus.test/ClientWebService/client.asmx"
    );
}

#[test]
fn expect_100_continue_is_relayed() {
    let up = origin(|mut s| {
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .expect("interim");
        let mut body = [0; 5];
        s.read_exact(&mut body).expect("body after 100");
        assert_eq!(&body, b"hello");
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            .expect("answer");
    });
    let tmp = tempfile::tempdir().unwrap();
    let capture = tmp.path().join("expect.jsonl");
    let p = proxy(
        tmp.path(),
        &["--listen", "127.0.0.1:0", "--capture", s(&capture)],
        1,
    );
    let mut t = tcp(&p.addr("http"));
    write!(t, "POST http://{up}/x HTTP/1.1\r\nHost: {up}\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").unwrap();
    let mut r = BufReader::new(t);
    let (status, _) = read_head(&mut r);
    assert_eq!(
        status, 100,
        "the interim answer comes before the body is sent"
    );
    r.get_mut().write_all(b"hello").unwrap();
    let (status, h) = read_head(&mut r);
    assert_eq!(status, 200);
    assert_eq!(read_body(&mut r, &h), b"ok");
    assert_eq!(p.stop(), Some(0));
    let recs = records(&capture);
    let ex = exchanges(&recs);
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].request.body.bytes(), Some(&b"hello"[..]));
    assert_eq!(ex[0].response.body.bytes(), Some(&b"ok"[..]));
}

#[test]
fn a_body_held_for_100_continue_goes_when_the_client_stops_waiting() {
    // An origin that ignores Expect and waits for the body.
    let up = origin(|mut s| {
        let mut body = [0; 5];
        s.read_exact(&mut body).expect("body without a 100");
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .expect("answer");
    });
    let tmp = tempfile::tempdir().unwrap();
    let p = proxy(tmp.path(), &["--listen", "127.0.0.1:0"], 1);
    let mut t = tcp(&p.addr("http"));
    write!(t, "POST http://{up}/x HTTP/1.1\r\nHost: {up}\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").unwrap();
    // No 100 comes; like curl after its wait, the client sends the body anyway.
    std::thread::sleep(Duration::from_millis(300));
    t.write_all(b"hello").unwrap();
    let mut r = BufReader::new(t);
    let (status, h) = read_head(&mut r);
    assert_eq!(status, 200);
    assert_eq!(read_body(&mut r, &h), b"ok");
}

#[test]
fn one_upstream_connection_per_client_connection_and_its_close_is_mirrored() {
    // The origin accepts one connection only and answers three requests on it.
    let up = raw_origin(|mut r, _| {
        for n in 0..3 {
            if n > 0 {
                let mut line = Vec::new();
                while r.read_until(b'\n', &mut line).is_ok_and(|k| k > 0)
                    && !line.ends_with(b"\r\n\r\n")
                {}
            }
            let body = format!("answer {n}");
            write!(
                r.get_mut(),
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .expect("answer");
        }
        // Then the origin closes its side.
    });
    let tmp = tempfile::tempdir().unwrap();
    let reverse = format!("http://{up}");
    let p = proxy(
        tmp.path(),
        &["--reverse", &reverse, "--listen", "127.0.0.1:0"],
        1,
    );
    let t = Http::new(Stream::Plain(tcp(&p.addr("http"))), "wsus.test", "");
    for n in 0..3 {
        let (status, _, body) = t.get("/x", &[]);
        assert_eq!((status, body), (200, format!("answer {n}").into_bytes()));
    }
    // The upstream closed: so does the client connection (nothing more arrives).
    let mut rest = Vec::new();
    let n = t.conn.borrow_mut().read_to_end(&mut rest).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn a_stop_lets_the_exchange_in_flight_finish_and_records_it() {
    let (arrived, wait_arrival) = std::sync::mpsc::channel();
    let slow = origin(move |mut s| {
        arrived.send(()).expect("signal");
        std::thread::sleep(Duration::from_millis(800));
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate")
            .expect("answer");
        std::thread::sleep(Duration::from_secs(2));
    });
    let tmp = tempfile::tempdir().unwrap();
    let capture = tmp.path().join("stop.jsonl");
    let p = proxy(
        tmp.path(),
        &["--listen", "127.0.0.1:0", "--capture", s(&capture)],
        1,
    );
    // An idle keep-alive connection does not hold the stop up.
    let _idle = tcp(&p.addr("http"));
    let t = Http::absolute(&p.addr("http"), &slow);
    // The stop comes while the request is at the origin.
    let stopper = std::thread::spawn(move || {
        wait_arrival
            .recv_timeout(Duration::from_secs(20))
            .expect("the request reached the origin");
        p.stop()
    });
    let (status, _, body) = t.get("/x", &[]);
    assert_eq!((status, body.as_slice()), (200, &b"late"[..]));
    assert_eq!(stopper.join().unwrap(), Some(0));
    let recs = records(&capture);
    assert_eq!(
        exchanges(&recs).len(),
        1,
        "the exchange in flight is recorded"
    );
}

#[test]
fn plain_http_inside_a_connect_tunnel_is_forwarded_and_recorded() {
    let (lab, p) = lab(&[]);
    let origin = lab.server.addr("http");
    let (status, mut r) = connect(&p.addr("http"), &origin);
    assert_eq!(status, 200);
    write!(
        r.get_mut(),
        "GET /Content/none HTTP/1.1\r\nHost: {origin}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let (status, h) = read_head(&mut r);
    assert_eq!(status, 404);
    let body = read_body(&mut r, &h);
    assert_eq!(p.stop(), Some(0));
    let recs = records(&lab.capture);
    let ex = exchanges(&recs);
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].response.body.bytes(), Some(body.as_slice()));
    assert_eq!(ex[0].request.url, format!("http://{origin}/Content/none"));
    assert_eq!(connection(&recs).mode, ConnectionMode::Plain);
}

#[test]
fn a_kept_alive_upstream_that_closes_on_the_next_request_closes_the_client_too() {
    let up = raw_origin(|mut r, _| {
        r.get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .expect("answer");
        let mut next = Vec::new();
        while r.read_until(b'\n', &mut next).is_ok_and(|k| k > 0) && !next.ends_with(b"\r\n\r\n") {}
        // Then close without answering the second request.
    });
    let (_tmp, capture, p) = reverse_to(&up);
    let mut t = tcp(&p.addr("http"));
    t.write_all(b"GET /a HTTP/1.1\r\nHost: wsus.test\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(t);
    let (status, h) = read_head(&mut r);
    assert_eq!((status, read_body(&mut r, &h)), (200, b"ok".to_vec()));
    r.get_mut()
        .write_all(b"GET /b HTTP/1.1\r\nHost: wsus.test\r\n\r\n")
        .unwrap();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "no 502: the connection closes as the server's did: {rest:?}"
    );
    assert_eq!(p.stop(), Some(0));
    let e = only_error(&capture);
    assert_eq!(e.phase, ErrorPhase::UpstreamReset);
    assert_eq!(e.request.unwrap().target, "/b");
}

#[test]
fn a_request_to_the_proxy_itself_is_refused_not_looped() {
    let tmp = tempfile::tempdir().unwrap();
    let p = proxy(tmp.path(), &["--listen", "127.0.0.1:0"], 1);
    let me = p.addr("http");
    let (status, body) = get_via(&me, &me);
    assert_eq!(status, 508);
    assert!(body.contains("would loop"), "{body}");
    let (status, _) = connect(&me, &format!("localhost:{}", p.port("http")));
    assert_eq!(status, 508);
    assert_eq!(p.stop(), Some(0));
}
