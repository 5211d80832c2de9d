//! Transport tests against small raw TCP servers on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// Reads one request head and its Content-Length body; `None` at end of stream.
pub(super) async fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.ok()?;
    buf.extend(body);
    Some(buf)
}

/// What a scripted server does after reading a request.
pub(crate) enum Act {
    /// Writes these bytes and waits for the next request.
    Send(Vec<u8>),
    /// Writes these bytes and closes the connection.
    SendClose(Vec<u8>),
    /// Says nothing and keeps the connection open.
    Hang,
    /// Closes the connection without answering.
    Close,
}

/// A server answering each connection with `script(connection index, request index)`;
/// returns its URL and the requests it saw, per connection.
pub(crate) async fn raw_server(
    script: impl Fn(usize, usize) -> Act + Send + std::marker::Sync + 'static,
) -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(usize, Vec<u8>)>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let script = Arc::new(script);
    tokio::spawn(async move {
        for c in 0.. {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let (tx, script) = (tx.clone(), script.clone());
            tokio::spawn(async move {
                for r in 0.. {
                    let Some(req) = read_request(&mut s).await else {
                        return;
                    };
                    let _ = tx.send((c, req));
                    match script(c, r) {
                        Act::Send(answer) => {
                            if s.write_all(&answer).await.is_err() {
                                return;
                            }
                        }
                        Act::SendClose(answer) => {
                            let _ = s.write_all(&answer).await;
                            return;
                        }
                        Act::Hang => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                        Act::Close => return,
                    }
                }
            });
        }
    });
    (url, rx)
}

pub(crate) fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/xml\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub(crate) fn transport(url: &str) -> Transport {
    with_timeout(url, Duration::from_secs(5))
}

fn with_timeout(url: &str, timeout: Duration) -> Transport {
    let options = TransportOptions {
        timeout,
        max_backoff: Duration::from_millis(10),
        ..TransportOptions::default()
    };
    Transport::new(ServerUrl::parse(url).unwrap(), options).unwrap()
}

#[test]
fn server_urls_parse() {
    let u = ServerUrl::parse("http://wsus.test:8530/prefix/").unwrap();
    assert_eq!(
        (u.host_header(), u.host(), u.port(), u.is_https()),
        ("wsus.test:8530", "wsus.test", 8530, false)
    );
    assert_eq!(
        u.url_for("/ClientWebService/client.asmx"),
        "http://wsus.test:8530/prefix/ClientWebService/client.asmx"
    );
    let u = ServerUrl::parse("https://[::1]").unwrap();
    assert_eq!((u.host(), u.port(), u.is_https()), ("[::1]", 443, true));
    assert_eq!(ServerUrl::parse("http://h").unwrap().port(), 80);
    for bad in [
        "ftp://x",
        "http://",
        "http://h:99999",
        "http://h/?q",
        "h:80",
        "http://a b/",
        "http://h/\r\nX: y",
    ] {
        let e = ServerUrl::parse(bad).unwrap_err();
        assert!(e.to_string().contains(bad), "{e}");
    }
}

#[tokio::test]
async fn headers_go_out_in_order_and_case_on_one_kept_alive_connection() {
    let (url, mut seen) = raw_server(|_, r| Act::Send(ok(&format!("answer {r}")))).await;
    let mut t = transport(&url);
    let headers = vec![
        (
            "Content-Type".to_string(),
            "text/xml; charset=utf-8".to_string(),
        ),
        ("SOAPAction".to_string(), "\"x\"".to_string()),
        (
            "User-Agent".to_string(),
            "Windows-Update-Agent/10.0".to_string(),
        ),
        ("MS-CV".to_string(), "abc.1".to_string()),
        ("Host".to_string(), t.server().host_header().to_string()),
        ("Content-Length".to_string(), "4".to_string()),
    ];
    let a = t.post("/svc", headers.clone(), b"ping").await.unwrap();
    let b = t.post("/svc", headers, b"pong").await.unwrap();
    assert_eq!((a.status, a.body.as_slice()), (200, &b"answer 0"[..]));
    assert_eq!(b.body, b"answer 1");
    let (c0, r0) = seen.recv().await.unwrap();
    let (c1, _) = seen.recv().await.unwrap();
    assert_eq!(c0, c1, "one kept-alive connection");
    let host = t.server().host_header();
    assert_eq!(
        String::from_utf8(r0).unwrap(),
        format!(
            "POST /svc HTTP/1.1\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"x\"\r\n\
             User-Agent: Windows-Update-Agent/10.0\r\nMS-CV: abc.1\r\nHost: {host}\r\n\
             Content-Length: 4\r\n\r\nping"
        )
    );
    assert_eq!(a.exchange.request.body.bytes(), Some(&b"ping"[..]));
    assert_eq!(a.exchange.response.body.bytes(), Some(&b"answer 0"[..]));
    assert_eq!(a.exchange.conn, b.exchange.conn);
    assert_ne!(a.exchange.id, b.exchange.id);
    assert_eq!(a.bytes_received, ok("answer 0").len() as u64);
}

#[tokio::test]
async fn a_kept_alive_connection_closed_meanwhile_is_resent_once() {
    // Connection 0 answers once then closes without answering the second request.
    let (url, mut seen) = raw_server(|c, r| {
        if c > 0 || r == 0 {
            Act::Send(ok("fine"))
        } else {
            Act::Close
        }
    })
    .await;
    let mut t = transport(&url);
    t.post("/a", vec![], b"").await.unwrap();
    let second = t.post("/a", vec![], b"").await.unwrap();
    assert_eq!(second.body, b"fine");
    let conns: Vec<usize> = [
        seen.recv().await.unwrap().0,
        seen.recv().await.unwrap().0,
        seen.recv().await.unwrap().0,
    ]
    .into();
    assert_eq!(conns, [0, 0, 1]);
}

#[tokio::test]
async fn xpress_bodies_are_decoded_and_recorded_encoded() {
    let xml = b"<s:Envelope>hello hello hello hello</s:Envelope>";
    let enc = wusp::xpress::encode(xml);
    let (url, _seen) = raw_server(move |_, _| {
        let mut a = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: xpress\r\nContent-Length: {}\r\n\r\n",
            enc.len()
        )
        .into_bytes();
        a.extend_from_slice(&enc);
        Act::Send(a)
    })
    .await;
    let mut t = transport(&url);
    let r = t.post("/x", vec![], b"").await.unwrap();
    assert_eq!(r.body, xml);
    assert_eq!(
        r.exchange.response.body.bytes(),
        Some(wusp::xpress::encode(xml).as_slice())
    );
    assert_eq!(r.header("content-encoding"), Some("xpress"));
}

#[tokio::test]
async fn a_refused_connection_says_so() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut t = transport(&url);
    let e = t.post("/x", vec![], b"").await.unwrap_err();
    assert!(e.is_refused(), "{e}");
    assert!(e.to_string().contains("cannot connect"), "{e}");
    assert!(e.to_string().contains(&url), "{e}");
}

#[tokio::test]
async fn chunked_bodies_are_decoded_and_the_connection_kept() {
    let (url, mut seen) = raw_server(|_, _| {
        Act::Send(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n\
              6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
                .to_vec(),
        )
    })
    .await;
    let mut t = transport(&url);
    let a = t.post("/c", vec![], b"").await.unwrap();
    let b = t.post("/c", vec![], b"").await.unwrap();
    assert_eq!(a.body, b"hello world");
    assert_eq!(b.body, b"hello world");
    assert_eq!(a.exchange.response.body.bytes(), Some(&b"hello world"[..]));
    assert_eq!(seen.recv().await.unwrap().0, seen.recv().await.unwrap().0);
}

#[tokio::test]
async fn a_close_delimited_body_is_read_to_the_end() {
    let (url, mut seen) = raw_server(|_, _| {
        Act::SendClose(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n<all/>".to_vec())
    })
    .await;
    let mut t = transport(&url);
    assert_eq!(t.post("/c", vec![], b"").await.unwrap().body, b"<all/>");
    // The connection ended with the body: the next request opens a new one.
    assert_eq!(t.post("/c", vec![], b"").await.unwrap().body, b"<all/>");
    let (c0, c1) = (seen.recv().await.unwrap().0, seen.recv().await.unwrap().0);
    assert_ne!(c0, c1);
}

#[tokio::test]
async fn no_length_on_a_connection_left_open_names_content_length() {
    let (url, _seen) = raw_server(|_, _| {
        Act::Send(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n<part".to_vec())
    })
    .await;
    let mut t = with_timeout(&url, Duration::from_millis(300));
    let e = t.post("/svc", vec![], b"").await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            TransportErrorKind::MissingContentLength { status: 200, .. }
        ),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("no Content-Length") && text.contains("/svc"),
        "{text}"
    );
}

#[tokio::test]
async fn a_body_cut_short_is_a_clear_error() {
    let (url, _seen) = raw_server(|_, _| {
        Act::SendClose(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort".to_vec())
    })
    .await;
    let mut t = transport(&url);
    let e = t.post("/svc", vec![], b"").await.unwrap_err();
    assert!(
        e.to_string()
            .contains("closed after 5 of the 100 bytes of Content-Length"),
        "{e}"
    );
    let (url, _seen) = raw_server(|_, _| {
        Act::SendClose(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nab".to_vec())
    })
    .await;
    let e = transport(&url).post("/svc", vec![], b"").await.unwrap_err();
    assert!(e.to_string().contains("inside a chunk of 16 bytes"), "{e}");
    let (url, _seen) =
        raw_server(|_, _| Act::SendClose(b"HTTP/1.1 200 OK\r\nConte".to_vec())).await;
    let e = transport(&url).post("/svc", vec![], b"").await.unwrap_err();
    assert!(e.to_string().contains("in the headers"), "{e}");
    let (url, _seen) = raw_server(|_, _| Act::SendClose(b"SSH-2.0-x\r\n\r\n".to_vec())).await;
    let e = transport(&url).post("/svc", vec![], b"").await.unwrap_err();
    assert!(e.to_string().contains("malformed response"), "{e}");
}

#[tokio::test]
async fn a_server_that_never_answers_fails_the_sync_after_bounded_retries() {
    let (url, mut seen) = raw_server(|_, _| Act::Hang).await;
    let mut t = with_timeout(&url, Duration::from_millis(200));
    let mut options = super::super::SyncOptions::new(OffsetDateTime::now_utc());
    options.max_retries = 2;
    let sync = Sync::new(
        super::super::ClientState::new(super::super::Identity::new(
            "2f6c9b0e-0d3c-4a55-9e59-0c1f8f1c2b3a",
            "hang.invalid",
        )),
        options,
    );
    let mut records = Vec::new();
    let (sync, end, stats) = run_sync_with(sync, &mut t, |r| records.push(r)).await;
    match end {
        Ok(Step::Failed(super::super::SyncError::RetriesExhausted { retries, last, .. })) => {
            assert_eq!(retries, 2);
            assert!(last.contains("no complete answer"), "{last}");
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert_eq!(stats.transport_errors, 3);
    assert_eq!(stats.exchanges, 0);
    let mut requests = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(50), seen.recv()).await {
        requests += 1;
    }
    assert_eq!(requests, 3, "the first try and two retries");
    // Each failed request is an error record with the request as sent.
    assert_eq!(records.len(), 3);
    for r in &records {
        let Record::Error(e) = r else {
            panic!("expected an error record, got {r:?}")
        };
        assert_eq!(e.phase, ErrorPhase::UpstreamTimeout);
        assert!(e.message.contains("no complete answer"), "{}", e.message);
        let req = e.request.as_ref().expect("request");
        assert_eq!(req.path(), "/ClientWebService/client.asmx");
        assert!(req.body.bytes().is_some_and(|b| !b.is_empty()));
    }
    assert!(sync.state().config.is_none());
}

#[tokio::test]
async fn plain_http_through_a_proxy_uses_the_absolute_form() {
    let (proxy, mut seen) = raw_server(|_, _| Act::Send(ok("via proxy"))).await;
    let options = TransportOptions {
        proxy: Some(proxy),
        ..TransportOptions::default()
    };
    // The server's name is never resolved: only the proxy is dialled.
    let server = ServerUrl::parse("http://wsus.invalid:8530/base").unwrap();
    let mut t = Transport::new(server, options).unwrap();
    let headers = vec![("Host".to_string(), "wsus.invalid:8530".to_string())];
    let r = t.post("/svc", headers, b"").await.unwrap();
    assert_eq!(r.body, b"via proxy");
    let req = String::from_utf8(seen.recv().await.unwrap().1).unwrap();
    assert!(
        req.starts_with(
            "POST http://wsus.invalid:8530/base/svc HTTP/1.1\r\nHost: wsus.invalid:8530\r\n"
        ),
        "{req}"
    );
    assert_eq!(r.exchange.request.url, "http://wsus.invalid:8530/base/svc");
}

/// A CONNECT proxy that is also the TLS origin (a leaf for `name` from a fresh CA); returns
/// the proxy URL, the CA certificate and what it saw (CONNECT line, SNI, request).
async fn tls_behind_connect(
    name: &str,
) -> (
    String,
    CertificateDer<'static>,
    tokio::sync::mpsc::UnboundedReceiver<(String, Option<String>, Vec<u8>)>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let ca = proxy::ca::CertificateAuthority::create(&dir.path().join("ca")).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config(&[name]).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (tx, acceptor) = (tx.clone(), acceptor.clone());
            tokio::spawn(async move {
                let Some(connect) = read_request(&mut s).await else {
                    return;
                };
                let line = String::from_utf8_lossy(&connect)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let Ok(mut tls) = acceptor.accept(s).await else {
                    let _ = tx.send((line, None, Vec::new()));
                    return;
                };
                let sni = tls.get_ref().1.server_name().map(str::to_string);
                let mut buf = vec![0u8; 4096];
                let n = tls.read(&mut buf).await.unwrap_or(0);
                buf.truncate(n);
                let _ = tx.send((line, sni, buf));
                let _ = tls.write_all(&ok("secure")).await;
                let _ = tls.flush().await;
            });
        }
    });
    (url, ca.der().clone(), rx, dir)
}

#[tokio::test]
async fn https_through_a_proxy_tunnels_with_connect_and_verifies_the_server() {
    let (proxy, root, mut seen, _dir) = tls_behind_connect("wsus.test").await;
    let options = TransportOptions {
        proxy: Some(proxy.clone()),
        extra_roots: vec![root],
        no_system_roots: true,
        ..TransportOptions::default()
    };
    let server = ServerUrl::parse("https://wsus.test:8531").unwrap();
    let mut t = Transport::new(server, options).unwrap();
    let r = t.post("/svc", vec![], b"x").await.unwrap();
    assert_eq!(r.body, b"secure");
    let (line, sni, req) = seen.recv().await.unwrap();
    assert_eq!(line, "CONNECT wsus.test:8531 HTTP/1.1");
    assert_eq!(sni.as_deref(), Some("wsus.test"));
    assert!(
        req.starts_with(b"POST /svc HTTP/1.1\r\n"),
        "{}",
        String::from_utf8_lossy(&req)
    );
    let tls = r.exchange.tls.clone().unwrap();
    assert_eq!(tls.sni.as_deref(), Some("wsus.test"));
    assert!(
        tls.version
            .as_deref()
            .is_some_and(|v| v.starts_with("TLSv1.")),
        "{tls:?}"
    );
    assert_eq!(r.exchange.scheme, "https");

    // Without the CA the server is not trusted.
    let options = TransportOptions {
        proxy: Some(proxy),
        ..TransportOptions::default()
    };
    let server = ServerUrl::parse("https://wsus.test:8531").unwrap();
    let e = Transport::new(server, options)
        .unwrap()
        .post("/svc", vec![], b"x")
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), TransportErrorKind::Tls { .. }), "{e}");
    assert!(e.to_string().contains("wsus.test"), "{e}");
}

#[test]
fn a_ca_file_that_is_not_pem_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, "not a certificate").unwrap();
    let e = load_pem_certs(&path).unwrap_err();
    assert!(
        e.to_string().contains("ca.pem") && e.to_string().contains("no CERTIFICATE"),
        "{e}"
    );
    let e = load_pem_certs(&dir.path().join("missing.pem")).unwrap_err();
    assert!(e.to_string().contains("missing.pem"), "{e}");
}
