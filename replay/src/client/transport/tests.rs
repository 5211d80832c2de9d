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

/// A server answering each connection with `script(connection index, request index)`;
/// returns its URL and the requests it saw, per connection.
async fn raw_server(
    script: impl Fn(usize, usize) -> Option<Vec<u8>> + Send + std::marker::Sync + 'static,
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
                        Some(answer) => {
                            if s.write_all(&answer).await.is_err() {
                                return;
                            }
                        }
                        None => return,
                    }
                }
            });
        }
    });
    (url, rx)
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/xml\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn transport(url: &str) -> Transport {
    let options = TransportOptions {
        timeout: Duration::from_secs(5),
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
    ] {
        let e = ServerUrl::parse(bad).unwrap_err();
        assert!(e.to_string().contains(bad), "{e}");
    }
}

#[tokio::test]
async fn headers_go_out_in_order_and_case_on_one_kept_alive_connection() {
    let (url, mut seen) = raw_server(|_, r| Some(ok(&format!("answer {r}")))).await;
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
    let (url, mut seen) = raw_server(|c, r| (c > 0 || r == 0).then(|| ok("fine"))).await;
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
        Some(a)
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
