//! `wutap replay` over https (wutap's CA exported and given with `--ca`), through an
//! explicit proxy (a small CONNECT / absolute-form relay on loopback), and `--download`.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use sha1::{Digest as _, Sha1};

use crate::replay_cmd::{Serve, exchanges, serve};
use crate::util::*;

/// `wutap serve` with an https listener from a fresh CA in `dir`, and that CA exported as
/// PEM; returns the server and the PEM path.
pub(crate) fn serve_https(dir: &std::path::Path) -> (Serve, String) {
    let ca_dir = dir.join("ca");
    let ca_dir = ca_dir.to_str().expect("utf-8 path");
    let server = serve(&[
        "--https-listen",
        "127.0.0.1:0",
        "--ca-dir",
        ca_dir,
        "--catalog-size",
        "20",
    ]);
    let pem = dir.join("ca.pem").to_str().expect("utf-8 path").to_string();
    let out = run(&["ca", "export", "--ca-dir", ca_dir, "--out", &pem]);
    assert_code(&out, 0);
    (server, pem)
}

/// The number after `label` in a summary.
fn figure(text: &str, label: &str) -> u64 {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in\n{text}"))
}

#[test]
fn https_with_the_exported_ca_syncs_and_downloads_by_ranges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, pem) = serve_https(dir.path());
    let https = server.https.clone().expect("https listener");
    let capture = dir.path().join("run.jsonl");
    let downloads = dir.path().join("dl");
    let out = run(&[
        "replay",
        "--server",
        &format!("https://{https}"),
        "--fresh",
        "--ca",
        &pem,
        "--capture",
        capture.to_str().expect("utf-8"),
        "--download",
        "--download-dir",
        downloads.to_str().expect("utf-8"),
        "--range-size",
        "1000",
    ]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("first sync: done"), "{text}");
    let files = figure(&text, "files downloaded:");
    assert!(files > 0, "{text}");
    assert_eq!(figure(&text, "digest failures:"), 0, "{text}");

    // The files on disk are the ones the capture's Range answers add up to.
    let on_disk: Vec<_> = std::fs::read_dir(&downloads)
        .expect("download dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(on_disk.len() as u64, files, "{on_disk:?}");
    let all = exchanges(&capture);
    let gets: Vec<_> = all.iter().filter(|e| e.request.method == "GET").collect();
    let ranges = text
        .lines()
        .find(|l| l.contains("files downloaded:"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .expect("ranges figure");
    assert_eq!(gets.len(), ranges);
    assert!(
        ranges > on_disk.len(),
        "files above 1000 bytes take several ranges"
    );
    for g in &gets {
        assert_eq!(g.response.status, 206, "{:?}", g.request.target);
        let range = g.request.header("Range").expect("Range header");
        let (a, b) = range
            .strip_prefix("bytes=")
            .and_then(|r| r.split_once('-'))
            .expect("closed range");
        let (a, b): (u64, u64) = (a.parse().expect("a"), b.parse().expect("b"));
        assert!(b - a < 1000, "{range}");
        assert_eq!(g.response.body.len(), b - a + 1, "{range}");
    }
    // Every recorded exchange went over TLS to 127.0.0.1 (SNI = the URL's host).
    for e in &all {
        assert_eq!(e.scheme, "https");
        let tls = e.tls.as_ref().expect("tls facts");
        assert_eq!(tls.sni.as_deref(), Some("127.0.0.1"));
    }
    // SHA-1 of each file matches a content URL's name (WSUS layout: /Content/XX/SHA1.ext).
    for path in &on_disk {
        let sha1 = hex::encode_upper(Sha1::digest(std::fs::read(path).expect("file")));
        assert!(
            gets.iter().any(|g| g.request.target.contains(&sha1)),
            "{} ({sha1}) was not fetched from its content URL",
            path.display()
        );
    }
}

#[test]
fn an_untrusted_https_server_stops_at_once_and_says_how_to_trust_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _pem) = serve_https(dir.path());
    let https = server.https.clone().expect("https listener");
    let out = run(&["replay", "--server", &format!("https://{https}"), "--fresh"]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert!(err.contains("--ca FILE"), "{err}");
    assert!(!err.contains("retries"), "not retried: {err}");
}

/// An explicit proxy on loopback: CONNECT tunnels and absolute-form requests, relayed to
/// 127.0.0.1 only. Returns its URL and the first line of every connection.
fn relay() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().take(64) {
            let Ok(client) = client else { return };
            let log = log.clone();
            std::thread::spawn(move || relay_one(client, &log));
        }
    });
    (url, seen)
}

fn relay_one(mut client: TcpStream, log: &Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    log.lock().expect("log").push(line.clone());
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let authority = if method == "CONNECT" {
        target.to_string()
    } else {
        let rest = target.strip_prefix("http://").unwrap_or("");
        rest.split('/').next().unwrap_or("").to_string()
    };
    if !authority.starts_with("127.0.0.1:") {
        let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(&authority) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    if method == "CONNECT" {
        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    } else {
        // The request goes on as received (absolute form, which the server accepts).
        let _ = upstream.write_all(&head);
    }
    let (mut c2, mut u2) = (
        client.try_clone().expect("clone"),
        upstream.try_clone().expect("clone"),
    );
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

#[test]
fn an_explicit_proxy_gets_absolute_form_for_http_and_connect_for_https() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, pem) = serve_https(dir.path());
    let (proxy, seen) = relay();

    let out = run(&[
        "replay",
        "--server",
        &format!("http://{}", server.http),
        "--fresh",
        "--proxy",
        &proxy,
    ]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("first sync: done"),
        "{}",
        stdout(&out)
    );
    let lines = seen.lock().expect("log").clone();
    assert!(
        lines.iter().any(|l| l
            == &format!(
                "POST http://{}/ClientWebService/client.asmx HTTP/1.1",
                server.http
            )),
        "{lines:?}"
    );

    let https = server.https.clone().expect("https listener");
    let out = run(&[
        "replay",
        "--server",
        &format!("https://{https}"),
        "--fresh",
        "--proxy",
        &proxy,
        "--ca",
        &pem,
    ]);
    assert_code(&out, 0);
    let lines = seen.lock().expect("log").clone();
    assert!(
        lines.contains(&format!("CONNECT {https} HTTP/1.1")),
        "{lines:?}"
    );
}

#[test]
fn a_failed_download_exits_1_with_the_file_named() {
    // A state whose needed file points at a content URL the server does not have.
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(&["--catalog-size", "20"]);
    let state = dir.path().join("state.json");
    let s = state.to_str().expect("utf-8");
    let url = format!("http://{}", server.http);
    let out = run(&["replay", "--server", &url, "--fresh", "--state", s]);
    assert_code(&out, 0);
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("state")).expect("json");
    let mut renamed = None;
    for r in json["revisions"]
        .as_object_mut()
        .expect("revisions")
        .values_mut()
    {
        for f in r["files"].as_array_mut().expect("files") {
            if renamed.is_none() && f["url"].is_string() {
                f["url"] = format!("{url}/Content/00/MISSING.exe").into();
                renamed = f["name"].as_str().map(str::to_string);
            }
        }
    }
    let name = renamed.expect("a file with a URL");
    std::fs::write(&state, serde_json::to_vec(&json).expect("json")).expect("write state");
    let out = run(&["replay", "--server", &url, "--state", s, "--download"]);
    assert_code(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("differential sync: done"), "{text}");
    assert_eq!(figure(&text, "download failures:"), 1, "{text}");
    let err = stderr(&out);
    assert!(err.contains(&name) && err.contains("HTTP 404"), "{err}");
}

#[test]
fn a_server_that_never_answers_fails_after_bounded_retries_and_keeps_the_state() {
    // Accepts connections and reads, but never answers (loopback, bounded accepts).
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().take(16) {
            let Ok(s) = s else { return };
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let capture = dir.path().join("run.jsonl");
    let out = run(&[
        "replay",
        "--server",
        &format!("http://{addr}"),
        "--fresh",
        "--state",
        state.to_str().expect("utf-8"),
        "--capture",
        capture.to_str().expect("utf-8"),
        "--timeout",
        "0.3",
        "--max-retries",
        "1",
        "--format",
        "json",
    ]);
    assert_code(&out, 1);
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json summary");
    assert_eq!(summary["ok"], false, "{summary}");
    assert_eq!(summary["retries"], 1, "{summary}");
    assert_eq!(summary["exchanges"], 0, "{summary}");
    let err = stderr(&out);
    assert!(
        err.contains("GetConfig still failing after 1 retries")
            && err.contains("no complete answer within 0.3 s"),
        "{err}"
    );
    // The capture holds the two failed attempts as error records.
    let errors: Vec<captures::ErrorRecord> = std::fs::read_to_string(&capture)
        .expect("capture")
        .lines()
        .filter_map(|l| match serde_json::from_str(l).expect("record") {
            captures::Record::Error(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| e.phase == captures::ErrorPhase::UpstreamTimeout)
    );
    // The state is saved after the failed run (nothing learned yet but the identity).
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("state saved")).expect("json");
    assert!(saved["identity"]["client_id"].is_string(), "{saved}");
    assert!(saved["config"].is_null(), "{saved}");
}

#[test]
fn a_download_dir_that_cannot_be_created_is_a_failure_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").expect("write");
    let server = serve(&["--catalog-size", "20"]);
    let target = blocker.join("dl");
    let out = run(&[
        "replay",
        "--server",
        &format!("http://{}", server.http),
        "--fresh",
        "--download",
        "--download-dir",
        target.to_str().expect("utf-8"),
    ]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("cannot create the download directory") && err.contains("file/dl"),
        "{err}"
    );
    assert!(
        figure(&stdout(&out), "download failures:") > 0,
        "{}",
        stdout(&out)
    );
}
