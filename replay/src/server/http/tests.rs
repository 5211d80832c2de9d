//! Socket tests of the HTTP layer: a small test double of the protocol core behind real
//! listeners on 127.0.0.1:0, driven by a real hyper client or by raw bytes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use sha1::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::*;
use crate::server::{ContentFile, SoapCall, SoapReply, TransportFault};

const CLIENT_PATH: &str = "/ClientWebService/client.asmx";
const FILE_PATH: &str = "/Content/49/A379D5526FB3A7A0423DA1CD7FC3182A8D448449.exe";
const FILE_SIZE: usize = 3000;
/// Generous bound so that a broken test fails instead of hanging; never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(20);

/// What the test double saw of a SOAP call.
#[derive(Clone, Debug)]
struct SeenCall {
    path: String,
    soap_action: Option<String>,
    host: Option<String>,
    scheme: String,
    body: Vec<u8>,
    peer: SocketAddr,
}

/// A test double of the protocol core: answers every call with a large envelope, and takes
/// the transport fault to inject from the SOAPAction (`"close"`, `"delay"`, `"503"`, `"panic"`).
struct TestBackend {
    calls: Mutex<Vec<SeenCall>>,
    admin_calls: Mutex<Vec<(String, String, Vec<u8>)>>,
    file: Vec<u8>,
}

impl TestBackend {
    fn new() -> Arc<Self> {
        let file = (0..FILE_SIZE).map(|i| (i * 7 % 251) as u8).collect();
        Arc::new(TestBackend {
            calls: Mutex::new(Vec::new()),
            admin_calls: Mutex::new(Vec::new()),
            file,
        })
    }

    fn calls(&self) -> Vec<SeenCall> {
        self.calls.lock().unwrap().clone()
    }
}

/// The envelope the double answers with: ~100 KB, so Xpress makes several blocks.
fn reply_xml() -> Vec<u8> {
    let mut xml = String::from(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
         <SyncUpdatesResponse xmlns=\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService\">\
         <SyncUpdatesResult><NewUpdates>",
    );
    for i in 0..1500 {
        xml.push_str(&format!(
            "<UpdateInfo><ID>{i}</ID><Deployment><ID>{}</ID><Action>Install</Action></Deployment><IsLeaf>true</IsLeaf></UpdateInfo>",
            i * 31 % 9973
        ));
    }
    xml.push_str("</NewUpdates></SyncUpdatesResult></SyncUpdatesResponse></s:Body></s:Envelope>");
    xml.into_bytes()
}

impl Backend for TestBackend {
    fn soap(&self, call: SoapCall<'_>) -> SoapReply {
        self.calls.lock().unwrap().push(SeenCall {
            path: call.path.to_owned(),
            soap_action: call.soap_action.map(str::to_owned),
            host: call.host.map(str::to_owned),
            scheme: call.scheme.to_owned(),
            body: call.body.to_vec(),
            peer: call.peer,
        });
        let transport = match call.soap_action {
            Some("\"close\"") => Some(TransportFault::CloseMidResponse),
            Some("\"delay\"") => Some(TransportFault::Delay(Duration::from_millis(300))),
            Some("\"503\"") => Some(TransportFault::Http503),
            Some("\"panic\"") => panic!("test double asked to panic"),
            _ => None,
        };
        SoapReply {
            status: 200,
            body: reply_xml(),
            operation: Some(wusp::Operation::SyncUpdates),
            transport,
        }
    }

    fn content(&self, path: &str) -> Option<ContentFile> {
        if !path.eq_ignore_ascii_case(FILE_PATH) {
            return None;
        }
        Some(ContentFile {
            bytes: Arc::from(self.file.as_slice()),
            sha1: sha1::Sha1::digest(&self.file).into(),
            content_type: "application/octet-stream",
            last_modified: time::macros::datetime!(2026-10-04 16:03:35 UTC),
        })
    }

    fn admin(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        self.admin_calls
            .lock()
            .unwrap()
            .push((method.to_owned(), path.to_owned(), body.to_vec()));
        (
            200,
            br#"{"approve":["r1"],"decline":[],"change":[]}"#.to_vec(),
        )
    }
}

/// A server running on 127.0.0.1:0.
struct Running {
    addr: SocketAddr,
    admin: SocketAddr,
    backend: Arc<TestBackend>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap();
    }
}

async fn start_with(config: HttpServerConfig, tls: Option<Arc<rustls::ServerConfig>>) -> Running {
    let backend = TestBackend::new();
    let listener = BoundListener::bind("127.0.0.1:0".parse().unwrap(), tls)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = admin.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        Arc::clone(&backend) as Arc<dyn Backend>,
        vec![listener],
        Some(admin),
        config,
        async move {
            let _ = stopped.await;
        },
    ));
    Running {
        addr,
        admin: admin_addr,
        backend,
        stop: Some(stop),
        task,
    }
}

async fn start() -> Running {
    start_with(HttpServerConfig::default(), None).await
}

async fn client(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> (http::response::Parts, Bytes) {
    let response = tokio::time::timeout(PATIENCE, sender.send_request(req))
        .await
        .expect("answer in time")
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts, body)
}

fn soap_post(path: &str, action: &str, xpress: bool) -> Request<Full<Bytes>> {
    let mut b = Request::post(path)
        .header("Host", "wsus.test:8530")
        .header("Content-Type", "text/xml; charset=utf-8")
        .header("SOAPAction", format!("\"{action}\""));
    if xpress {
        b = b.header("Accept-Encoding", "xpress");
    }
    b.body(Full::new(Bytes::from_static(b"<s:Envelope/>")))
        .unwrap()
}

fn get(path: &str, range: Option<&str>) -> Request<Full<Bytes>> {
    let mut b = Request::get(path).header("Host", "wsus.test:8530");
    if let Some(r) = range {
        b = b.header("Range", r);
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

fn header<'a>(parts: &'a http::response::Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).map(|v| v.to_str().unwrap())
}

/// Sends raw bytes on a new connection and reads until the server closes it.
async fn raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_to_close(&mut stream).await
}

async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    out
}

/// Splits a raw response into its head (text) and body bytes.
fn split(raw: &[u8]) -> (String, &[u8]) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    (
        String::from_utf8_lossy(&raw[..end]).into_owned(),
        &raw[end + 4..],
    )
}

#[tokio::test]
async fn soap_answers_carry_wsus_headers_and_xpress_decodes_to_the_identity_xml() {
    let server = start().await;
    let mut c = client(server.addr).await;

    let (plain, plain_body) = send(&mut c, soap_post(CLIENT_PATH, "a", false)).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(header(&plain, "content-encoding"), None);
    assert_eq!(&plain_body[..], &reply_xml()[..]);

    let (xp, xp_body) = send(&mut c, soap_post(CLIENT_PATH, "a", true)).await;
    assert_eq!(xp.status, StatusCode::OK);
    assert_eq!(header(&xp, "content-encoding"), Some("xpress"));
    assert!(xp_body.len() < plain_body.len() / 2, "Xpress compresses");
    assert_eq!(wusp::xpress::decode(&xp_body).unwrap(), plain_body);

    for (parts, body) in [(&plain, &plain_body), (&xp, &xp_body)] {
        assert_eq!(header(parts, "cache-control"), Some("private"));
        assert_eq!(
            header(parts, "content-type"),
            Some("text/xml; charset=utf-8")
        );
        assert_eq!(header(parts, "vary"), Some("Accept-Encoding"));
        assert_eq!(header(parts, "server"), Some("Microsoft-IIS/10.0"));
        assert_eq!(header(parts, "x-aspnet-version"), Some("4.0.30319"));
        assert_eq!(header(parts, "x-powered-by"), Some("ASP.NET"));
        assert!(header(parts, "date").unwrap().ends_with(" GMT"));
        assert_eq!(
            header(parts, "content-length"),
            Some(&*body.len().to_string())
        );
        assert_eq!(header(parts, "transfer-encoding"), None, "no chunking");
    }

    let calls = server.backend.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].path, CLIENT_PATH);
    assert_eq!(calls[0].soap_action.as_deref(), Some("\"a\""));
    assert_eq!(calls[0].host.as_deref(), Some("wsus.test:8530"));
    assert_eq!(calls[0].scheme, "http");
    assert_eq!(calls[0].body, b"<s:Envelope/>");
    assert_eq!(calls[0].peer.ip(), server.addr.ip());
    server.stop().await;
}

#[tokio::test]
async fn service_paths_are_case_insensitive_and_reporting_is_not_cached() {
    let server = start().await;
    let mut c = client(server.addr).await;
    for path in [
        "/clientwebservice/CLIENT.ASMX",
        "/SimpleAuthWebService/SimpleAuth.asmx",
        "/ReportingWebService/ReportingWebService.asmx",
        "/ReportingWebService/WebService.asmx",
    ] {
        let (parts, _) = send(&mut c, soap_post(path, "a", true)).await;
        assert_eq!(parts.status, StatusCode::OK, "{path}");
        let cache = if path.starts_with("/Reporting") {
            "private, max-age=0"
        } else {
            "private"
        };
        assert_eq!(header(&parts, "cache-control"), Some(cache), "{path}");
    }
    let (parts, _) = send(&mut c, get("/nothing/here", None)).await;
    assert_eq!(parts.status, StatusCode::NOT_FOUND);
    let (parts, _) = send(&mut c, get(CLIENT_PATH, None)).await;
    assert_eq!(parts.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&parts, "allow"), Some("POST"));
    let (parts, _) = send(&mut c, get("/admin/approvals", None)).await;
    assert_eq!(
        parts.status,
        StatusCode::NOT_FOUND,
        "no admin on the service port"
    );
    server.stop().await;
}

#[tokio::test]
async fn request_content_encoding_is_undone_before_the_core() {
    let server = start().await;
    let mut c = client(server.addr).await;
    let xml = b"<s:Envelope><s:Body><GetConfig/></s:Body></s:Envelope>".repeat(50);
    let req = Request::post(CLIENT_PATH)
        .header("Content-Encoding", "xpress")
        .body(Full::new(Bytes::from(wusp::xpress::encode(&xml))))
        .unwrap();
    let (parts, _) = send(&mut c, req).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(server.backend.calls()[0].body, xml);

    // A body that does not decode: the layer's own SOAP fault, Xpress as asked.
    let req = Request::post(CLIENT_PATH)
        .header("Content-Encoding", "xpress")
        .header("Accept-Encoding", "xpress")
        .body(Full::new(Bytes::from_static(b"\xff\xff\xff\xff garbage")))
        .unwrap();
    let (parts, body) = send(&mut c, req).await;
    assert_eq!(parts.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(header(&parts, "content-encoding"), Some("xpress"));
    let xml = wusp::xpress::decode(&body).unwrap();
    let envelope = wusp::Envelope::decode(&xml).unwrap();
    let wusp::Body::Fault(fault) = &envelope.body else {
        panic!("not a fault: {}", String::from_utf8_lossy(&xml));
    };
    assert_eq!(
        fault.error_code(),
        Some(&wusp::ErrorCode::InvalidParameters)
    );
    assert_eq!(server.backend.calls().len(), 1, "the core never saw it");
    server.stop().await;
}

#[tokio::test]
async fn content_ranges_are_exact() {
    let server = start().await;
    let mut c = client(server.addr).await;
    let file = server.backend.file.clone();
    let etag = format!("\"{}\"", hex::encode(sha1::Sha1::digest(&file)));

    let (full, body) = send(&mut c, get(FILE_PATH, None)).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(&body[..], &file[..]);
    assert_eq!(
        header(&full, "content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(header(&full, "accept-ranges"), Some("bytes"));
    assert_eq!(header(&full, "etag"), Some(&*etag));
    assert_eq!(
        header(&full, "last-modified"),
        Some("Sun, 04 Oct 2026 16:03:35 GMT")
    );
    assert_eq!(header(&full, "content-length"), Some("3000"));
    assert_eq!(header(&full, "content-encoding"), None);

    for (range, first, last) in [
        ("bytes=0-0", 0, 0),
        ("bytes=2999-2999", 2999, 2999),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=-100", 2900, 2999),
        ("bytes=1000-", 1000, 2999),
        ("bytes=2500-9999", 2500, 2999),
    ] {
        let (parts, body) = send(&mut c, get(FILE_PATH, Some(range))).await;
        assert_eq!(parts.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            header(&parts, "content-range"),
            Some(&*format!("bytes {first}-{last}/3000")),
            "{range}"
        );
        assert_eq!(&body[..], &file[first..=last], "{range}");
        assert_eq!(
            header(&parts, "content-length"),
            Some(&*(last - first + 1).to_string())
        );
        assert_eq!(header(&parts, "etag"), Some(&*etag));
        assert_eq!(header(&parts, "accept-ranges"), Some("bytes"));
    }

    let (parts, body) = send(&mut c, get(FILE_PATH, Some("bytes=3000-"))).await;
    assert_eq!(parts.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&parts, "content-range"), Some("bytes */3000"));
    assert!(body.is_empty());

    // A stale If-Range: the whole file.
    let mut req = get(FILE_PATH, Some("bytes=0-9"));
    req.headers_mut()
        .insert("If-Range", "\"0000\"".parse().unwrap());
    let (parts, body) = send(&mut c, req).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(body.len(), FILE_SIZE);

    // Path case does not matter.
    let (parts, _) = send(
        &mut c,
        get(&FILE_PATH.to_ascii_lowercase(), Some("bytes=0-1")),
    )
    .await;
    assert_eq!(parts.status, StatusCode::PARTIAL_CONTENT);
    let (parts, _) = send(&mut c, get("/Content/00/0000.cab", None)).await;
    assert_eq!(parts.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn head_sends_the_headers_of_get_without_a_body() {
    let server = start().await;
    // Raw, so that nothing in a client could hide a body sent after the head.
    let raw = raw(
        server.addr,
        format!("HEAD {FILE_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    let (head, body) = split(&raw);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\nContent-Length: 3000"), "{head}");
    assert!(head.contains("\r\nAccept-Ranges: bytes"), "{head}");
    assert!(
        head.contains("\r\nEtag: \"") || head.contains("\r\nETag: \""),
        "{head}"
    );
    assert!(body.is_empty(), "HEAD has no body");
    server.stop().await;
}

#[tokio::test]
async fn oversized_body_gets_413_without_being_read() {
    let server = start().await;
    // The head announces 100 MiB and no body byte follows: the answer comes anyway.
    let raw = raw(
        server.addr,
        format!(
            "POST {CLIENT_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            100 << 20
        )
        .as_bytes(),
    )
    .await;
    let (head, _) = split(&raw);
    assert!(head.starts_with("HTTP/1.1 413 "), "{head}");
    assert!(server.backend.calls().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn oversized_chunked_body_gets_413() {
    let config = HttpServerConfig {
        max_request_body: 1024,
        ..HttpServerConfig::default()
    };
    let server = start_with(config, None).await;
    let mut request =
        format!("POST {CLIENT_PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    request.extend_from_slice(b"800\r\n");
    request.extend_from_slice(&[b'a'; 0x800]);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    let raw = raw(server.addr, &request).await;
    assert!(
        raw.starts_with(b"HTTP/1.1 413 "),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    assert!(server.backend.calls().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn malformed_http_gets_400_and_the_listener_keeps_serving() {
    let server = start().await;
    let raw = raw(server.addr, b"THIS IS NOT HTTP\r\n\x01\x02\r\n\r\n").await;
    assert!(
        raw.starts_with(b"HTTP/1.1 400 "),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let mut c = client(server.addr).await;
    let (parts, _) = send(&mut c, soap_post(CLIENT_PATH, "a", true)).await;
    assert_eq!(parts.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn keep_alive_serves_two_requests_on_one_connection() {
    let server = start().await;
    let mut c = client(server.addr).await;
    let (a, _) = send(&mut c, soap_post(CLIENT_PATH, "a", true)).await;
    let (b, _) = send(&mut c, soap_post(CLIENT_PATH, "b", true)).await;
    let (f, _) = send(&mut c, get(FILE_PATH, Some("bytes=0-9"))).await;
    assert_eq!(
        (a.status, b.status, f.status),
        (StatusCode::OK, StatusCode::OK, StatusCode::PARTIAL_CONTENT)
    );
    let calls = server.backend.calls();
    assert_eq!(
        calls[0].peer, calls[1].peer,
        "one client port: one connection"
    );
    server.stop().await;
}

#[tokio::test]
async fn close_mid_response_sends_the_head_and_half_the_body() {
    let server = start().await;
    let request = format!(
        "POST {CLIENT_PATH} HTTP/1.1\r\nHost: x\r\nSOAPAction: \"close\"\r\nContent-Length: 2\r\n\r\nhi"
    );
    let raw = raw(server.addr, request.as_bytes()).await;
    let (head, body) = split(&raw);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let full = reply_xml().len();
    assert!(
        head.contains(&format!("\r\nContent-Length: {full}")),
        "{head}"
    );
    assert_eq!(body.len(), full / 2, "truncated at half the body");
    assert_eq!(body, &reply_xml()[..full / 2]);

    // The listener carries on.
    let mut c = client(server.addr).await;
    let (parts, body) = send(&mut c, soap_post(CLIENT_PATH, "a", false)).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(body.len(), full);
    server.stop().await;
}

#[tokio::test]
async fn close_mid_response_truncates_for_a_hyper_client_too() {
    let server = start().await;
    let mut c = client(server.addr).await;
    let response = c
        .send_request(soap_post(CLIENT_PATH, "close", true))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let announced: usize = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut body = response.into_body();
    let mut got = 0;
    let mut error = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => got += f.into_data().map_or(0, |d| d.len()),
            Err(_) => {
                error = true;
                break;
            }
        }
    }
    assert!(error, "the body ends in an error");
    assert_eq!(got, announced / 2);
    server.stop().await;
}

#[tokio::test]
async fn delay_answers_after_the_delay() {
    let server = start().await;
    let mut c = client(server.addr).await;
    let t = Instant::now();
    let (parts, body) = send(&mut c, soap_post(CLIENT_PATH, "delay", false)).await;
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(&body[..], &reply_xml()[..]);
    server.stop().await;
}

#[tokio::test]
async fn http503_answers_503_without_soap() {
    let server = start().await;
    let mut c = client(server.addr).await;
    let (parts, body) = send(&mut c, soap_post(CLIENT_PATH, "503", true)).await;
    assert_eq!(parts.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&parts, "content-encoding"), None);
    assert!(String::from_utf8_lossy(&body).contains("Service Unavailable"));
    // The same connection still works.
    let (parts, _) = send(&mut c, soap_post(CLIENT_PATH, "a", true)).await;
    assert_eq!(parts.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_core_gives_a_fault_and_the_listener_survives() {
    let server = start().await;
    let mut c = client(server.addr).await;
    let (parts, body) = send(&mut c, soap_post(CLIENT_PATH, "panic", false)).await;
    assert_eq!(parts.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(String::from_utf8_lossy(&body).contains("InvalidParameters"));
    let mut c = client(server.addr).await;
    let (parts, _) = send(&mut c, soap_post(CLIENT_PATH, "a", false)).await;
    assert_eq!(parts.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn admin_route_reaches_the_core() {
    let server = start().await;
    let mut c = client(server.admin).await;
    let req = Request::post("/admin/approvals")
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"approve":1}"#)))
        .unwrap();
    let (parts, body) = send(&mut c, req).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(
        header(&parts, "content-type"),
        Some("application/json; charset=utf-8")
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["approve"][0], "r1");
    let seen = server.backend.admin_calls.lock().unwrap().clone();
    assert_eq!(
        seen,
        [(
            "POST".to_owned(),
            "/admin/approvals".to_owned(),
            br#"{"approve":1}"#.to_vec()
        )]
    );
    let (parts, _) = send(&mut c, soap_post(CLIENT_PATH, "a", false)).await;
    assert_eq!(
        parts.status,
        StatusCode::NOT_FOUND,
        "no SOAP on the admin port"
    );
    server.stop().await;
}

#[tokio::test]
async fn idle_and_slow_head_connections_are_closed() {
    let config = HttpServerConfig {
        idle_timeout: Duration::from_millis(200),
        header_read_timeout: Duration::from_millis(200),
        ..HttpServerConfig::default()
    };
    let server = start_with(config, None).await;

    // Idle after one request.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(
        format!("GET {FILE_PATH} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let got = read_to_close(&mut s).await;
    assert!(
        got.starts_with(b"HTTP/1.1 206 "),
        "{}",
        String::from_utf8_lossy(&got)
    );

    // A head that never completes.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST /ClientWebService/client.asmx HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let got = read_to_close(&mut s).await;
    assert!(got.is_empty() || got.starts_with(b"HTTP/1.1 4"));
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_a_request_in_progress_finish() {
    let server = start().await;
    let mut c = client(server.addr).await;
    let pending =
        tokio::spawn(async move { send(&mut c, soap_post(CLIENT_PATH, "delay", false)).await });
    // Let the request reach the server, then stop it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = server.addr;
    server.stop().await;
    let (parts, body) = pending.await.unwrap();
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(body.len(), reply_xml().len());
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

/// An HTTPS server with a leaf from a fresh wutap CA, and a connector trusting that CA.
async fn start_https() -> (Running, tokio_rustls::TlsConnector, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ca = proxy::ca::CertificateAuthority::load_or_create(dir.path()).unwrap();
    let tls = ca.server_config(&["localhost", "127.0.0.1"]).unwrap();
    let server = start_with(HttpServerConfig::default(), Some(tls)).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    (server, connector, dir)
}

#[tokio::test]
async fn https_close_mid_response_still_delivers_half_the_body() {
    let (server, connector, _dir) = start_https().await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let request = format!(
        "POST {CLIENT_PATH} HTTP/1.1\r\nHost: x\r\nSOAPAction: \"close\"\r\nAccept-Encoding: xpress\r\nContent-Length: 0\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(PATIENCE, async {
        // Ends in an error: the peer closed without close_notify, as a cut connection does.
        while let Ok(n @ 1..) = tls.read(&mut buf).await {
            raw.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap();
    let (head, body) = split(&raw);
    let announced: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body.len(), announced / 2, "{head}");
    server.stop().await;
}

#[tokio::test]
async fn https_with_a_leaf_from_the_wutap_ca() {
    let (server, connector, _dir) = start_https().await;
    for name in ["localhost", "127.0.0.1"] {
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let server_name = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
        let tls = connector.connect(server_name, tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let (parts, body) = send(&mut sender, soap_post(CLIENT_PATH, "a", true)).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(wusp::xpress::decode(&body).unwrap(), reply_xml());
    }
    assert!(server.backend.calls().iter().all(|c| c.scheme == "https"));

    // Plain HTTP on the HTTPS port is no TLS handshake; the listener survives it.
    let _ = raw(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let server_name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(server_name, tcp).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn bound_listener_reports_its_url() {
    let l = BoundListener::bind("127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let port = l.local_addr().unwrap().port();
    assert_ne!(port, 0);
    assert_eq!(l.url().unwrap(), format!("http://127.0.0.1:{port}"));
    assert_eq!(l.scheme(), "http");
}

#[tokio::test]
async fn soap_head_on_the_wire_is_in_wsus_order() {
    let server = start().await;
    let request = format!(
        "POST {CLIENT_PATH} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: xpress\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"
    );
    let raw = raw(server.addr, request.as_bytes()).await;
    let (head, body) = split(&raw);
    let names: Vec<&str> = head
        .lines()
        .skip(1)
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Cache-Control",
            "Content-Type",
            "Vary",
            "Server",
            "X-Aspnet-Version",
            "X-Powered-By",
            "Date",
            "Content-Encoding",
            "Content-Length",
            "Connection",
        ]
    );
    assert_eq!(wusp::xpress::decode(body).unwrap(), reply_xml());
    server.stop().await;
}
