//! `wutap replay CAPTURE`: a client seeded from the capture of a fresh sync made by wutap
//! itself, against `wutap serve` over real sockets: a differential sync without handshake
//! while the cookie is valid, the C-39 sequences when it is not, fidelity of the replayed
//! requests, and captures that cannot seed a client.

use std::path::Path;

use captures::Record;
use replay::client::template_key;
use replay::client::verify::{masked_request, xml_diff};
use wusp::Operation::{self, *};
use wusp::{Body, Envelope, Request};

use crate::replay_cmd::{exchanges, serve};
use crate::util::*;

fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

/// One recorded call: the request, and the response envelope (or fault).
struct Call {
    op: Operation,
    request: Request,
    xml: Vec<u8>,
    reply: Envelope,
}

fn calls(path: &Path) -> Vec<Call> {
    exchanges(path)
        .iter()
        .map(|e| {
            let Body::Request(request) = captures::wire::request_envelope(e)
                .expect("request decodes")
                .body
            else {
                panic!("exchange {} is not a request", e.id)
            };
            Call {
                op: request.operation(),
                xml: captures::wire::request_xml(&e.request)
                    .expect("request body")
                    .into_owned(),
                request,
                reply: captures::wire::response_envelope(e).expect("response decodes"),
            }
        })
        .collect()
}

fn ops(calls: &[Call]) -> Vec<Operation> {
    calls.iter().map(|c| c.op).collect()
}

/// A fresh sync of a new client, recorded to `first.jsonl` in `dir`.
pub(crate) fn fresh_capture(url: &str, dir: &Path) -> std::path::PathBuf {
    let first = dir.join("first.jsonl");
    let out = run(&[
        "replay",
        "--server",
        url,
        "--fresh",
        "--capture",
        &s(&first),
    ]);
    assert_code(&out, 0);
    first
}

/// `wutap replay FIRST --server URL --capture second.jsonl` (exit 0): its calls.
fn seeded_run(first: &Path, url: &str, dir: &Path) -> Vec<Call> {
    let second = dir.join("second.jsonl");
    let out = run(&[
        "replay",
        &s(first),
        "--server",
        url,
        "--capture",
        &s(&second),
    ]);
    assert_code(&out, 0);
    calls(&second)
}

/// The last cookie the recorded server issued.
fn last_cookie(calls: &[Call]) -> wusp::types::Cookie {
    let mut last = None;
    for c in calls {
        if let Body::Response(r) = &c.reply.body {
            match r {
                wusp::Response::GetCookie(g) => last = g.result.value().cloned(),
                wusp::Response::SyncUpdates(g) => {
                    if let Some(n) = g.result.value().and_then(|i| i.new_cookie.value()) {
                        last = Some(n.clone());
                    }
                }
                _ => {}
            }
        }
    }
    last.expect("a cookie in the capture")
}

fn cookie_sent(r: &Request) -> Option<&wusp::types::Cookie> {
    match r {
        Request::SyncUpdates(s) => s.cookie.value(),
        Request::RefreshCache(s) => s.cookie.value(),
        Request::GetExtendedUpdateInfo(s) => s.cookie.value(),
        Request::ReportEventBatch(s) => s.cookie.value(),
        _ => None,
    }
}

fn fault_code(c: &Call) -> Option<String> {
    match &c.reply.body {
        Body::Fault(f) => f.error_code().map(|e| e.to_string()),
        _ => None,
    }
}

#[test]
fn seeded_replay_syncs_differentially_with_the_recorded_requests() {
    let server = serve(&[]);
    let url = format!("http://{}", server.http);
    let dir = tempfile::tempdir().expect("tempdir");
    let first = fresh_capture(&url, dir.path());
    let second = dir.path().join("second.jsonl");
    let state = dir.path().join("state.json");
    let out = run(&[
        "replay",
        &s(&first),
        "--server",
        &url,
        "--capture",
        &s(&second),
        "--state",
        &s(&state),
    ]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("differential sync: done"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("seeded from"), "{}", stderr(&out));

    let recorded = calls(&first);
    let replayed = calls(&second);
    let seq = ops(&replayed);
    for op in [
        GetConfig,
        GetAuthorizationCookie,
        GetCookie,
        RegisterComputer,
        GetExtendedUpdateInfo,
    ] {
        assert!(!seq.contains(&op), "{op:?} in {seq:?}");
    }
    assert_eq!(seq.first(), Some(&SyncUpdates), "{seq:?}");
    assert_eq!(seq.last(), Some(&ReportEventBatch), "{seq:?}");
    // The first request carries the recorded cookie and the whole cache.
    assert_eq!(
        cookie_sent(&replayed[0].request),
        Some(&last_cookie(&recorded))
    );
    let saved = replay::client::ClientState::load(&state).expect("state saved");
    let (inst, other, _) = saved.lists();
    let Request::SyncUpdates(r) = &replayed[0].request else {
        panic!()
    };
    let p = r.parameters.value().expect("parameters");
    assert_eq!(p.installed_non_leaf_update_ids.items(), &inst[..]);
    assert_eq!(p.other_cached_update_ids.items(), &other[..]);
    assert!(!inst.is_empty() && !other.is_empty());

    // Fidelity: each replayed body is the last recorded body of its kind but for the
    // volatile fields (cookie, times, cache lists, events).
    let mut failures = String::new();
    for (i, c) in replayed.iter().enumerate() {
        let key = template_key(&c.request);
        let Some(want) = recorded
            .iter()
            .rev()
            .find(|r| template_key(&r.request) == key)
        else {
            failures.push_str(&format!("request {}: no recorded {key}\n", i + 1));
            continue;
        };
        let a = masked_request(&want.xml).expect("recorded body masks");
        let b = masked_request(&c.xml).expect("replayed body masks");
        if a != b {
            failures.push_str(&format!(
                "request {} ({key}) differs from the recording:\n{}",
                i + 1,
                xml_diff(&a, &b)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{failures}");
    // Headers: the recorded names, order and case.
    let names = |p: &Path, i: usize| -> Vec<String> {
        exchanges(p)[i]
            .request
            .headers
            .iter()
            .map(|h| h.name().to_string())
            .collect()
    };
    let last_sync = recorded
        .iter()
        .rposition(|c| c.op == SyncUpdates)
        .expect("a recorded SyncUpdates");
    assert_eq!(names(&second, 0), names(&first, last_sync));
}

#[test]
fn an_expired_cookie_is_renewed_with_the_recovery_sequence() {
    let server = serve(&["--cookie-lifetime", "1"]);
    let url = format!("http://{}", server.http);
    let dir = tempfile::tempdir().expect("tempdir");
    let first = fresh_capture(&url, dir.path());
    let recorded = calls(&first);
    let expired = last_cookie(&recorded);
    // Let the recorded cookie expire (its clear-text Expiration is one second ahead).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let replayed = seeded_run(&first, &url, dir.path());
    let seq = ops(&replayed);
    // C-16 / C-39 CookieExpired: GetAuthorizationCookie, GetCookie(oldCookie = the expired
    // cookie), then the sync goes on with the new cookie; no GetConfig, no RegisterComputer.
    assert_eq!(
        &seq[..3],
        &[GetAuthorizationCookie, GetCookie, SyncUpdates],
        "{seq:?}"
    );
    assert!(
        !seq.contains(&GetConfig) && !seq.contains(&RegisterComputer),
        "{seq:?}"
    );
    let Request::GetCookie(g) = &replayed[1].request else {
        panic!()
    };
    assert_eq!(g.old_cookie.value(), Some(&expired), "C-41 oldCookie");
    let Body::Response(wusp::Response::GetCookie(issued)) = &replayed[1].reply.body else {
        panic!("GetCookie answered {:?}", replayed[1].reply.body)
    };
    let issued = issued.result.value().expect("a new cookie");
    assert_ne!(issued, &expired);
    // Every later call sends the latest cookie (a one-second cookie may be renewed again).
    assert!(
        replayed[2..]
            .iter()
            .all(|c| cookie_sent(&c.request) != Some(&expired))
    );
}

#[test]
fn a_restarted_server_gets_the_invalid_cookie_recovery_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = {
        let server = serve(&[]);
        fresh_capture(&format!("http://{}", server.http), dir.path())
    };
    // Same catalog, a new cookie key: the recorded cookie no longer opens.
    let server = serve(&[]);
    let url = format!("http://{}", server.http);
    let replayed = seeded_run(&first, &url, dir.path());
    let seq = ops(&replayed);
    // The restarted server has not seen this client: NEED_REFRESH -> NEED_REGISTER
    // (reference 5.2) before the SyncUpdates is sent again.
    assert_eq!(
        &seq[..7],
        &[
            SyncUpdates,
            GetConfig,
            GetAuthorizationCookie,
            GetCookie,
            RefreshCache,
            RegisterComputer,
            SyncUpdates
        ],
        "{seq:?}"
    );
    assert!(
        fault_code(&replayed[6]).is_none(),
        "no RegistrationRequired fault"
    );
    let code = fault_code(&replayed[0]).expect("the first SyncUpdates is a fault");
    assert!(
        code == "InvalidCookie" || code == "ServerChanged",
        "fault {code}"
    );
    // C-40: the rejected cookie is never sent again, not even as oldCookie.
    let rejected = cookie_sent(&replayed[0].request).expect("cookie").clone();
    let Request::GetCookie(g) = &replayed[3].request else {
        panic!()
    };
    assert!(
        g.old_cookie
            .value()
            .is_none_or(|c| c.encrypted_data.is_absent()),
        "C-40"
    );
    assert!(
        replayed[1..]
            .iter()
            .all(|c| cookie_sent(&c.request) != Some(&rejected))
    );
    // RefreshCache carries every cached identity.
    let Request::RefreshCache(r) = &replayed[4].request else {
        panic!()
    };
    assert!(!r.global_ids.items().is_empty());
    // The new server never saw the client register: RegisterComputer with the recorded
    // description right after RefreshCache, and the sync goes on without a fault.
    assert!(
        replayed[5..].iter().all(|c| fault_code(c).is_none()),
        "{seq:?}"
    );
    let recorded = calls(&first);
    let reg = recorded
        .iter()
        .find(|c| c.op == RegisterComputer)
        .expect("a recorded RegisterComputer");
    assert_eq!(
        masked_request(&replayed[5].xml).expect("masks"),
        masked_request(&reg.xml).expect("masks"),
        "the recorded computer description"
    );
}

#[test]
fn captures_without_wusp_traffic_or_cookie_are_refused_with_the_alternative() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Only a content download.
    let no_wusp = dir.path().join("content.jsonl");
    let mut download = exchange(1, GetConfig, 0);
    if let Record::Exchange(e) = &mut download {
        e.request.method = "GET".into();
        e.request.target = "/Content/AB/0123456789ABCDEF0123456789ABCDEF01234567.cab".into();
        e.request.body = captures::Body::empty();
    }
    write_capture(&no_wusp, &[download]);
    let out = run(&["replay", &s(&no_wusp), "--server", "http://127.0.0.1:9"]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("no WUSP traffic"), "{err}");
    assert!(err.contains("--fresh"), "{err}");
    assert!(err.contains("content.jsonl"), "{err}");

    // WUSP traffic, but no cookie: the handshake of a real fresh capture, cut before GetCookie.
    let server = serve(&[]);
    let first = fresh_capture(&format!("http://{}", server.http), dir.path());
    let lines: Vec<String> = std::fs::read_to_string(&first)
        .expect("read")
        .lines()
        .map(str::to_string)
        .collect();
    let kept: Vec<String> = lines
        .into_iter()
        .filter(|l| {
            !l.contains("GetCookie")
                && !l.contains("SyncUpdates")
                && !l.contains("RegisterComputer")
                && !l.contains("GetExtendedUpdateInfo")
                && !l.contains("ReportEventBatch")
        })
        .collect();
    let no_cookie = dir.path().join("handshake.jsonl");
    std::fs::write(&no_cookie, kept.join("\n") + "\n").expect("write");
    let out = run(&["replay", &s(&no_cookie), "--server", "http://127.0.0.1:9"]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("no cookie to continue from"), "{err}");
    assert!(err.contains("--fresh"), "{err}");
}

#[test]
fn a_cookie_expired_fault_gets_the_c39_sequence_step_by_step() {
    // The same cookie key across a restart (--data-dir), the restarted server answering the
    // first SyncUpdates with CookieExpired.
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    let data_arg = s(&data);
    let first = {
        let server = serve(&["--data-dir", &data_arg]);
        fresh_capture(&format!("http://{}", server.http), dir.path())
    };
    let recorded = calls(&first);
    let cookie = last_cookie(&recorded);
    let server = serve(&[
        "--data-dir",
        &data_arg,
        "--inject",
        "CookieExpired@SyncUpdates#1",
    ]);
    let replayed = seeded_run(&first, &format!("http://{}", server.http), dir.path());
    let seq = ops(&replayed);
    assert_eq!(
        &seq[..4],
        &[SyncUpdates, GetAuthorizationCookie, GetCookie, SyncUpdates],
        "{seq:?}"
    );
    assert_eq!(cookie_sent(&replayed[0].request), Some(&cookie));
    assert_eq!(fault_code(&replayed[0]).as_deref(), Some("CookieExpired"));
    // C-41: the expired cookie goes as oldCookie; the retried SyncUpdates carries the new one.
    let Request::GetCookie(g) = &replayed[2].request else {
        panic!()
    };
    assert_eq!(g.old_cookie.value(), Some(&cookie));
    let Body::Response(wusp::Response::GetCookie(issued)) = &replayed[2].reply.body else {
        panic!("GetCookie answered {:?}", replayed[2].reply.body)
    };
    assert_eq!(cookie_sent(&replayed[3].request), issued.result.value());
    assert!(!seq.contains(&GetConfig), "{seq:?}");
    assert!(fault_code(&replayed[1]).is_none() && fault_code(&replayed[2]).is_none());
    // The restarted server kept its cookie key but not its registrations: the retried
    // SyncUpdates gets RegistrationRequired, then RegisterComputer and the sync goes on.
    assert_eq!(
        fault_code(&replayed[3]).as_deref(),
        Some("RegistrationRequired")
    );
    assert_eq!(&seq[4..6], &[RegisterComputer, SyncUpdates], "{seq:?}");
    assert!(
        replayed[4..].iter().all(|c| fault_code(c).is_none()),
        "{seq:?}"
    );
}
