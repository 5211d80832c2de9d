//! `wutap replay` against `wutap serve` over real sockets: a first sync, approvals changed
//! through the admin API, a differential sync from the saved state; the run's captures.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use captures::Record;
use wusp::{Body, Operation, Request};

use crate::util::*;

/// A running `wutap serve`, killed on drop.
pub(crate) struct Serve {
    child: Child,
    /// `host:port` of the plain listener.
    pub(crate) http: String,
    /// `host:port` of the admin listener.
    pub(crate) admin: String,
    /// `host:port` of the HTTPS listener, when `--https-listen` was given.
    pub(crate) https: Option<String>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `wutap serve` (seed 7, 200 updates unless `extra` says otherwise, an admin
/// listener) and waits for its listening lines.
pub(crate) fn serve(extra: &[&str]) -> Serve {
    let seed: &[&str] = if extra.contains(&"--seed") {
        &[]
    } else {
        &["--seed", "7"]
    };
    let size: &[&str] = if extra.contains(&"--catalog-size") {
        &[]
    } else {
        &["--catalog-size", "200"]
    };
    let mut child = wutap()
        .args(["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(seed)
        .args(size)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wutap serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut http, mut admin, mut https) = (None, None, None);
    let want_https = extra.contains(&"--https-listen");
    while http.is_none() || admin.is_none() || (want_https && https.is_none()) {
        let line = lines
            .next()
            .expect("a listening line")
            .expect("read stdout");
        if let Some(a) = line.strip_prefix("listening admin http://") {
            admin = Some(a.to_string());
        } else if let Some(a) = line.strip_prefix("listening http://") {
            http = Some(a.to_string());
        } else if let Some(a) = line.strip_prefix("listening https://") {
            https = Some(a.to_string());
        }
    }
    Serve {
        child,
        http: http.expect("http"),
        admin: admin.expect("admin"),
        https,
    }
}

/// POST a JSON body on a fresh connection; returns the status.
fn post_json(addr: &str, path: &str, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body).expect("write body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status")
}

/// The exchanges of a plain .jsonl capture, in order.
pub(crate) fn exchanges(path: &std::path::Path) -> Vec<captures::Exchange> {
    std::fs::read_to_string(path)
        .expect("read capture")
        .lines()
        .filter_map(
            |l| match serde_json::from_str::<Record>(l).expect("record") {
                Record::Exchange(e) => Some(e),
                _ => None,
            },
        )
        .collect()
}

#[test]
fn fresh_sync_approvals_then_differential_sync_from_the_state() {
    let server = serve(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("client.json");
    let c1 = dir.path().join("c1.jsonl");
    let c2 = dir.path().join("c2.jsonl");
    let url = format!("http://{}", server.http);
    let s = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_string();

    let out = run(&[
        "replay",
        "--server",
        &url,
        "--fresh",
        "--state",
        &s(&state),
        "--capture",
        &s(&c1),
    ]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("first sync: done"),
        "{}",
        stdout(&out)
    );
    let cached = replay::client::ClientState::load(&state).expect("state saved");
    assert!(cached.identity.dns_name.starts_with("wutap-"));
    assert!(cached.identity.dns_name.ends_with(".invalid"));
    assert!(!cached.revisions.is_empty());
    let (installed, other, _drivers) = cached.lists();
    let software: BTreeSet<i32> = installed.iter().chain(&other).copied().collect();

    // `capture info` counts the first run's operations.
    let info = info_json(&s(&c1));
    let ops = &info["operations"];
    for op in [
        "GetConfig",
        "GetAuthorizationCookie",
        "GetCookie",
        "SyncUpdates",
        "GetExtendedUpdateInfo",
    ] {
        assert!(ops[op].as_u64().unwrap_or(0) >= 1, "{op} in {info}");
    }
    assert_eq!(
        info["exchanges"].as_u64(),
        Some(exchanges(&c1).len() as u64)
    );

    let status = post_json(
        &server.admin,
        "/admin/approvals",
        br#"{"approve":3,"decline":2,"change":1}"#,
    );
    assert_eq!(status, 200);

    let out = run(&[
        "replay",
        "--server",
        &url,
        "--state",
        &s(&state),
        "--capture",
        &s(&c2),
    ]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("differential sync: done"), "{text}");
    let figure = |label: &str| -> u64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|v| v.trim().split(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{label} in {text}"))
    };
    assert_eq!(figure("new updates:"), 3, "{text}");
    assert_eq!(figure("changed updates:"), 1, "{text}");
    assert_eq!(figure("out of scope:"), 2, "{text}");

    let ex = exchanges(&c2);
    let first = ex.first().expect("an exchange");
    let env = captures::wire::request_envelope(first).expect("request decodes");
    let Body::Request(Request::SyncUpdates(r)) = env.body else {
        panic!("first exchange of the differential run is not SyncUpdates");
    };
    let p = r.parameters.value().expect("parameters");
    let sent: BTreeSet<i32> = p
        .installed_non_leaf_update_ids
        .items()
        .iter()
        .chain(p.other_cached_update_ids.items())
        .copied()
        .collect();
    assert_eq!(sent, software, "the whole cache on the first request");
    for e in &ex {
        let op = captures::wire::request_envelope(e)
            .ok()
            .and_then(|env| match env.body {
                Body::Request(r) => Some(r.operation()),
                _ => None,
            });
        assert!(
            !matches!(
                op,
                Some(
                    Operation::GetConfig
                        | Operation::GetAuthorizationCookie
                        | Operation::GetCookie
                        | Operation::RegisterComputer
                )
            ),
            "{op:?} in the differential run"
        );
    }
}

#[test]
fn a_closed_port_is_a_clear_error() {
    // Bind then drop a listener: the port is (very likely) closed afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = run(&["replay", "--server", &url, "--fresh"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("cannot connect"),
        "stderr: {}",
        stderr(&out)
    );
}

#[test]
fn a_missing_seed_capture_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = dir.path().join("seed.jsonl");
    let out = run(&[
        "replay",
        seed.to_str().expect("utf-8 path"),
        "--server",
        "http://127.0.0.1:9",
    ]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("cannot read the capture"), "{err}");
    assert!(err.contains("seed.jsonl"), "{err}");
}

#[test]
fn a_server_url_that_is_not_http_is_refused_clearly() {
    let out = run(&["replay", "--server", "ftp://127.0.0.1:9", "--fresh"]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("ftp://127.0.0.1:9") && err.contains("https://"),
        "{err}"
    );
}

#[test]
fn a_failed_sync_exits_1_and_keeps_the_state() {
    let server = serve(&["--inject", "InvalidParameters@SyncUpdates"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("client.json");
    let url = format!("http://{}", server.http);
    let out = run(&[
        "replay",
        "--server",
        &url,
        "--fresh",
        "--state",
        state.to_str().expect("utf-8 path"),
    ]);
    assert_code(&out, 1);
    assert!(
        stdout(&out).contains("first sync: failed"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("sync failed"), "{}", stderr(&out));
    let saved = replay::client::ClientState::load(&state).expect("state saved");
    assert!(saved.config.is_some() && saved.cookie.is_some());
}

#[test]
fn a_missing_state_without_fresh_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("none.json");
    let out = run(&[
        "replay",
        "--server",
        "http://127.0.0.1:9",
        "--state",
        state.to_str().expect("utf-8 path"),
    ]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--fresh"), "{}", stderr(&out));
}

#[test]
fn a_cut_response_and_server_busy_are_retried() {
    let server = serve(&[
        "--inject",
        "close@SyncUpdates#2",
        "--inject",
        "ServerBusy@GetExtendedUpdateInfo#1",
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("c.jsonl");
    let url = format!("http://{}", server.http);
    let out = run(&[
        "replay",
        "--server",
        &url,
        "--fresh",
        "--capture",
        capture.to_str().expect("utf-8 path"),
    ]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("first sync: done"), "{text}");
    assert!(
        text.lines().any(|l| l.trim() == "retries:              2"),
        "{text}"
    );
    // The cut response is not an exchange; the ServerBusy fault is.
    assert!(!exchanges(&capture).is_empty());
}
