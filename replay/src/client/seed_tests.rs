//! Seeding from the generated sample captures and from captures of the machine's own runs
//! against the in-process server; fidelity against a server that answers like a recording.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, VecDeque};

use captures::wire::{request_envelope, request_xml, response_envelope, response_xml};
use captures::{
    Body as CapBody, Exchange, Headers, Record, Request as CapRequest, Response as CapResponse,
    Timestamp, Timing,
};
use time::macros::datetime;
use wusp::Operation::{self, *};
use wusp::{Body, Envelope, Request, Response};

use super::*;
use crate::client::verify::{self, masked_request, xml_diff};
use crate::client::{Step, StoredCookie, Sync, SyncOptions, template_key};
use crate::server::catalog::Catalog;
use crate::server::logic::{Clock, ServerConfig, WsusServer};
use crate::server::{Backend, SoapCall};

/// A capture of the generated, Windows-shaped samples (`wutap-samples`), written and read back.
fn sample(name: &str) -> Vec<(u64, Record)> {
    let dir = tempfile::tempdir().unwrap();
    wutap_samples::write_samples(dir.path()).unwrap();
    let (records, problems) = captures::read_all(dir.path().join(format!("{name}.jsonl"))).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    records
}

fn exchanges(records: &[(u64, Record)]) -> Vec<&Exchange> {
    records
        .iter()
        .filter_map(|(_, r)| match r {
            Record::Exchange(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn op_of(e: &Exchange) -> Option<Operation> {
    match captures::wire::classify(e) {
        captures::wire::ExchangeKind::Soap(id) => Some(id.operation),
        _ => None,
    }
}

/// Every cookie the recorded server issued, in order.
fn recorded_cookies(records: &[(u64, Record)]) -> Vec<wusp::types::Cookie> {
    let mut out = Vec::new();
    for e in exchanges(records) {
        let Ok(Envelope {
            body: Body::Response(r),
            ..
        }) = response_envelope(e)
        else {
            continue;
        };
        match r {
            Response::GetCookie(g) => out.extend(g.result.value().cloned()),
            Response::SyncUpdates(g) => {
                out.extend(g.result.value().and_then(|i| i.new_cookie.value()).cloned())
            }
            _ => {}
        }
    }
    out
}

#[test]
fn seeds_everything_from_the_sample_first_sync() {
    let records = sample("first-sync");
    let seeded = ClientState::from_capture(&records, &SeedOptions::default()).unwrap();
    assert!(seeded.warnings.is_empty(), "{:?}", seeded.warnings);
    let s = &seeded.state;
    // Identity from GetAuthorizationCookie / GetConfig / RegisterComputer.
    let exs = exchanges(&records);
    let auth_req = exs
        .iter()
        .find(|e| op_of(e) == Some(GetAuthorizationCookie))
        .unwrap();
    let Body::Request(Request::GetAuthorizationCookie(a)) =
        request_envelope(auth_req).unwrap().body
    else {
        panic!()
    };
    assert_eq!(&s.identity.client_id, a.client_id.value().unwrap());
    assert_eq!(s.identity.dns_name, "pc01.contoso.test");
    assert_eq!(s.identity.protocol_version, "2.90");
    assert_eq!(s.identity.target_group, None);
    let reg = exs
        .iter()
        .find(|e| op_of(e) == Some(RegisterComputer))
        .unwrap();
    let Body::Request(Request::RegisterComputer(r)) = request_envelope(reg).unwrap().body else {
        panic!()
    };
    let ci = r.computer_info.value().unwrap();
    assert_eq!(
        Some(&s.identity.computer.manufacturer),
        ci.computer_manufacturer.value()
    );
    assert_eq!(
        Some(&s.identity.computer.os_build),
        ci.os_build_number.value()
    );
    assert!(s.registered);
    assert_eq!(s.registered_info.as_ref(), Some(&s.identity.computer));
    // Config, authorization, the latest cookie.
    let config = s.config.as_ref().unwrap();
    assert!(config.registration_required);
    assert!(s.authorization.as_ref().unwrap().cookie_data.is_some());
    let last = recorded_cookies(&records).pop().unwrap();
    assert_eq!(s.cookie, StoredCookie::from_wire(&last));
    // The cache: every delivered revision, fragments of the extended-info ones.
    let mut delivered = 0;
    let mut asked = Vec::new();
    for e in &exs {
        match response_envelope(e).map(|env| env.body) {
            Ok(Body::Response(Response::SyncUpdates(g))) => {
                delivered += g.result.value().unwrap().new_updates.items().len();
            }
            Ok(Body::Response(Response::GetExtendedUpdateInfo(_))) => {
                let Body::Request(Request::GetExtendedUpdateInfo(q)) =
                    request_envelope(e).unwrap().body
                else {
                    panic!()
                };
                asked.extend(q.revision_ids.items().iter().copied());
            }
            _ => {}
        }
    }
    assert_eq!(s.revisions.len(), delivered);
    assert!(!asked.is_empty());
    for id in &asked {
        let r = &s.revisions[id];
        assert!(r.fetched.contains("Extended"), "revision {id}");
        assert!(
            r.fetched.contains("LocalizedProperties:en-US"),
            "revision {id}"
        );
    }
    assert!(s.revisions.values().any(|r| r.extended.is_some()));
    assert!(
        s.revisions
            .values()
            .flat_map(|r| &r.files)
            .any(|f| f.url.is_some())
    );
    // Installed vs other as the last software request listed them.
    assert!(s.revisions.values().any(|r| r.installed == Some(true)));
    // The header set of the last client-service post, MS-CV continuing its vector.
    let last_post = exs
        .iter()
        .rev()
        .find(|e| op_of(e).is_some_and(|o| o.service() == wusp::Service::Client))
        .unwrap();
    let names: Vec<&str> = last_post.request.headers.iter().map(|h| h.name()).collect();
    let mine: Vec<&str> = s.http.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(mine, names);
    assert_eq!(s.http.ms_cv_base.as_deref(), Some("53jnccSzv1aRT0pM"));
    assert_eq!(s.http.ms_cv_counter, 11);
    let mut http = s.http.clone();
    assert_eq!(http.next_ms_cv().as_deref(), Some("53jnccSzv1aRT0pM.12"));
    // Templates of every operation the client sent.
    for k in [
        "GetConfig",
        "GetAuthorizationCookie",
        "GetCookie",
        "RegisterComputer",
        "SyncUpdates",
        "SyncUpdates/driver",
        "GetExtendedUpdateInfo",
        "ReportEventBatch",
    ] {
        assert!(s.templates.contains_key(k), "template {k}");
    }
    // The seeded state round-trips through the state file.
    let json = serde_json::to_string(s).unwrap();
    assert_eq!(&serde_json::from_str::<ClientState>(&json).unwrap(), s);
}

#[test]
fn a_capture_without_wusp_traffic_or_cookie_is_refused_with_the_alternative() {
    let records = sample("first-sync");
    let content_only: Vec<(u64, Record)> = records
        .iter()
        .filter(|(_, r)| match r {
            Record::Exchange(e) => op_of(e).is_none(),
            _ => true,
        })
        .cloned()
        .collect();
    let e = ClientState::from_capture(&content_only, &SeedOptions::default()).unwrap_err();
    assert!(matches!(e, SeedError::NoWuspTraffic { .. }), "{e}");
    assert!(e.to_string().contains("no WUSP traffic"), "{e}");
    assert!(e.to_string().contains("--fresh"), "{e}");

    let handshake_only: Vec<(u64, Record)> = records
        .iter()
        .filter(|(_, r)| match r {
            Record::Exchange(e) => matches!(op_of(e), Some(GetConfig | GetAuthorizationCookie)),
            _ => true,
        })
        .cloned()
        .collect();
    let e = ClientState::from_capture(&handshake_only, &SeedOptions::default()).unwrap_err();
    assert!(matches!(e, SeedError::NoCookie { .. }), "{e}");
    assert!(e.to_string().contains("no cookie to continue from"), "{e}");
    assert!(e.to_string().contains("--fresh"), "{e}");
}

#[test]
fn undecodable_records_are_skipped_with_their_line_and_exchange() {
    let mut records = sample("first-sync");
    // Cut the body of the first SyncUpdates request: it no longer decodes.
    let (line, id) = records
        .iter_mut()
        .find_map(|(line, r)| match r {
            Record::Exchange(e) if op_of(e) == Some(SyncUpdates) => {
                let bytes = e.request.body.bytes().unwrap().to_vec();
                let cut = bytes.len() - 40;
                e.request.body = CapBody::from_bytes(bytes[..cut].to_vec());
                Some((*line, e.id))
            }
            _ => None,
        })
        .unwrap();
    let seeded = ClientState::from_capture(&records, &SeedOptions::default()).unwrap();
    assert_eq!(seeded.warnings.len(), 1, "{:?}", seeded.warnings);
    let w = &seeded.warnings[0];
    assert!(
        w.contains(&format!("line {line}")) && w.contains(&format!("exchange {id}")),
        "{w}"
    );
    // What was valid is kept: the cookie of the last page and the rest of the cache.
    let last = recorded_cookies(&records).pop().unwrap();
    assert_eq!(seeded.state.cookie, StoredCookie::from_wire(&last));
    assert!(!seeded.state.revisions.is_empty());
}

#[test]
fn a_differential_capture_without_handshake_seeds_a_cookie_only_client() {
    let records = sample("differential-sync");
    let seeded = ClientState::from_capture(&records, &SeedOptions::default()).unwrap();
    let s = &seeded.state;
    // The client id comes from the ReportEventBatch TargetID.
    assert_eq!(s.identity.client_id, {
        let first = sample("first-sync");
        let seeded = ClientState::from_capture(&first, &SeedOptions::default()).unwrap();
        seeded.state.identity.client_id
    });
    assert!(s.config.is_none() && s.cookie.is_some());
    assert!(
        seeded.notes.iter().any(|n| n.contains("DNS name")),
        "{:?}",
        seeded.notes
    );
    // The cache the recorded client had before the capture is not in it: said, not sent.
    assert!(
        seeded
            .notes
            .iter()
            .any(|n| n.contains("before the capture started")),
        "{:?}",
        seeded.notes
    );
    // With the cookie still valid the run starts with SyncUpdates; once expired, with
    // GetConfig (the LastChange GetCookie needs) and the expired cookie as oldCookie.
    let t = |e: &Exchange| {
        time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(e.time.start.unix_micros()) * 1000,
        )
        .unwrap()
    };
    let start = t(exchanges(&records)[0]);
    let mut sync = Sync::new(s.clone(), SyncOptions::new(start));
    let Step::Send(req, op) = sync.next() else {
        panic!()
    };
    assert_eq!(op, SyncUpdates);
    let (inst, other) = sync_lists(&req);
    assert_eq!(inst.len() + other.len(), s.revisions.len());
    assert!(!s.revisions.is_empty());
    let later = start + time::Duration::days(30);
    let mut sync = Sync::new(s.clone(), SyncOptions::new(later));
    let Step::Send(_, op) = sync.next() else {
        panic!()
    };
    assert_eq!(op, GetConfig);
}

fn sync_lists(r: &Request) -> (Vec<i32>, Vec<i32>) {
    let Request::SyncUpdates(s) = r else {
        panic!("{r:?}")
    };
    let p = s.parameters.value().unwrap();
    (
        p.installed_non_leaf_update_ids.items().to_vec(),
        p.other_cached_update_ids.items().to_vec(),
    )
}

/// Answers each request with the recorded response of the same template key, in order.
struct Recording {
    answers: BTreeMap<String, VecDeque<(u16, Vec<u8>)>>,
    requests: Vec<(String, Vec<u8>)>,
}

impl Recording {
    fn new(records: &[(u64, Record)]) -> Recording {
        let mut answers: BTreeMap<String, VecDeque<(u16, Vec<u8>)>> = BTreeMap::new();
        let mut requests = Vec::new();
        for e in exchanges(records) {
            if op_of(e).is_none() {
                continue;
            }
            let Body::Request(req) = request_envelope(e).unwrap().body else {
                panic!()
            };
            let key = template_key(&req);
            requests.push((key.clone(), request_xml(&e.request).unwrap().into_owned()));
            answers.entry(key).or_default().push_back((
                e.response.status,
                response_xml(&e.response).unwrap().into_owned(),
            ));
        }
        Recording { answers, requests }
    }
}

#[test]
fn fidelity_replayed_requests_match_the_recorded_ones_but_for_volatile_fields() {
    // Seeded from the first sync, the client replays the day-after differential sync against
    // a server answering like that recording: every request body equals the recorded one
    // once the cookie, times, cache lists, revision / digest lists and events are masked.
    let first = sample("first-sync");
    let second = sample("differential-sync");
    let seeded = ClientState::from_capture(&first, &SeedOptions::default()).unwrap();
    let mut rec = Recording::new(&second);
    let start = {
        let e = exchanges(&second)[0];
        time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(e.time.start.unix_micros()) * 1000,
        )
        .unwrap()
    };
    let mut sync = Sync::new(seeded.state, SyncOptions::new(start));
    // (template key, body, headers)
    let mut sent: Vec<(String, String, Headers)> = Vec::new();
    loop {
        assert!(sent.len() < 50);
        match sync.next() {
            Step::Send(req, op) => {
                let key = template_key(&req);
                let body = sync.encode_request(&req);
                let mut headers = Headers::new();
                for (k, v) in sync.request_headers(op, body.len(), "wsus.contoso.test:8530") {
                    headers.push(k, v);
                }
                sent.push((key.clone(), body, headers));
                let (status, reply) = rec
                    .answers
                    .get_mut(&key)
                    .and_then(VecDeque::pop_front)
                    .unwrap_or_else(|| panic!("the recording has no further {key}"));
                sync.receive(status, Envelope::decode(&reply));
            }
            Step::Done(_) => break,
            Step::Failed(e) => panic!("{e}"),
        }
    }
    let keys: Vec<&str> = sent.iter().map(|(k, ..)| k.as_str()).collect();
    let recorded: Vec<&str> = rec.requests.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, recorded, "the replay makes the recorded calls");
    let mut failures = String::new();
    for (i, ((key, body, _), (_, want))) in sent.iter().zip(&rec.requests).enumerate() {
        let a = masked_request(want).unwrap();
        let b = masked_request(body.as_bytes()).unwrap();
        if a != b {
            failures.push_str(&format!(
                "request {} ({key}) differs:\n{}",
                i + 1,
                xml_diff(&a, &b)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{failures}");
    // The volatile parts did change where they should: the cookie is the live one.
    assert!(
        sent.iter()
            .any(|(_, b, _)| !rec.requests.iter().any(|(_, w)| w == b.as_bytes()))
    );
    // Headers: the recorded set, order and case; MS-CV continues the first sync's vector.
    let cvs: Vec<&str> = sent.iter().filter_map(|(_, _, h)| h.get("MS-CV")).collect();
    assert_eq!(cvs.first(), Some(&"53jnccSzv1aRT0pM.12"));
    let recorded_names: Vec<String> = exchanges(&second)[0]
        .request
        .headers
        .iter()
        .map(|h| h.name().to_string())
        .collect();
    let names: Vec<String> = sent[0].2.iter().map(|h| h.name().to_string()).collect();
    assert_eq!(names, recorded_names);
}

fn server() -> WsusServer {
    let config = ServerConfig {
        secret: Some([3; 32]),
        clock: Clock::manual(datetime!(2026-10-04 16:03:35 UTC)),
        ..ServerConfig::default()
    };
    WsusServer::new(Catalog::generate(120, 7).unwrap(), config).unwrap()
}

/// Runs a sync against the in-process server and records it as a capture would.
fn record_run(s: &WsusServer, state: ClientState) -> (Vec<(u64, Record)>, Step) {
    let mut sync = Sync::new(state, SyncOptions::new(s.config().clock.now()));
    let mut records = Vec::new();
    loop {
        assert!(records.len() < 500);
        match sync.next() {
            Step::Send(req, op) => {
                let path = sync.path_for(op);
                let body = sync.encode_request(&req);
                let headers = sync.request_headers(op, body.len(), "wsus.contoso.test:8530");
                let action = format!("\"{}\"", op.soap_action());
                let reply = s.soap(SoapCall {
                    path: &path,
                    soap_action: Some(&action),
                    host: Some("wsus.contoso.test:8530"),
                    scheme: "http",
                    body: body.as_bytes(),
                    peer: "192.0.2.10:49731".parse().unwrap(),
                });
                let id = records.len() as u64 + 1;
                let mut h = Headers::new();
                for (k, v) in headers {
                    h.push(k, v);
                }
                let t = Timestamp::from_unix_micros(
                    (s.config().clock.now().unix_timestamp_nanos() / 1000) as i64,
                )
                .unwrap();
                records.push((
                    id + 1,
                    Record::Exchange(Exchange {
                        id,
                        conn: 1,
                        client: Some("192.0.2.10:49731".into()),
                        server: Some("192.0.2.1:8530".into()),
                        scheme: "http".into(),
                        tls: None,
                        upstream_tls: None,
                        time: Timing::starting(t),
                        request: CapRequest {
                            method: "POST".into(),
                            target: path.clone(),
                            url: format!("http://wsus.contoso.test:8530{path}"),
                            version: "HTTP/1.1".into(),
                            headers: h,
                            body_truncated: false,
                            body: CapBody::from_bytes(body.into_bytes()),
                        },
                        response: CapResponse {
                            status: reply.status,
                            reason: String::new(),
                            version: "HTTP/1.1".into(),
                            headers: Headers::new(),
                            body_truncated: false,
                            body: CapBody::from_bytes(reply.body.to_vec()),
                        },
                    }),
                ));
                sync.receive(reply.status, Envelope::decode(&reply.body));
            }
            end => return (records, end),
        }
    }
}

#[test]
fn seeded_from_its_own_fresh_capture_the_client_syncs_differentially() {
    let s = server();
    let fresh = ClientState::new(Identity::new(
        "5c7f4f80-3896-4d10-8a38-469286a0febc",
        "pc01.contoso.test",
    ));
    let (records, end) = record_run(&s, fresh);
    assert!(matches!(end, Step::Done(_)), "{end:?}");
    let seeded = ClientState::from_capture(&records, &SeedOptions::default()).unwrap();
    let (second, end) = record_run(&s, seeded.state.clone());
    let Step::Done(sum) = end else {
        panic!("{end:?}")
    };
    assert!(sum.differential);
    let ops: Vec<Operation> = exchanges(&second).iter().filter_map(|e| op_of(e)).collect();
    for op in [
        GetConfig,
        GetAuthorizationCookie,
        GetCookie,
        RegisterComputer,
    ] {
        assert!(!ops.contains(&op), "{op:?} in {ops:?}");
    }
    assert_eq!(ops[0], SyncUpdates);
    // Its first request carries the whole cache, as the recording classified it.
    let Body::Request(first) = request_envelope(exchanges(&second)[0]).unwrap().body else {
        panic!()
    };
    let (inst, other) = sync_lists(&first);
    assert_eq!(
        inst.len() + other.len(),
        seeded.state.lists().0.len() + seeded.state.lists().1.len()
    );
    assert!(!inst.is_empty() && !other.is_empty());
    // No metadata is fetched again (C-49): nothing changed on the server.
    assert!(!ops.contains(&GetExtendedUpdateInfo), "{ops:?}");
}

fn server_with(catalog_seed: u64, secret: u8) -> WsusServer {
    let config = ServerConfig {
        secret: Some([secret; 32]),
        clock: Clock::manual(datetime!(2026-10-04 16:03:35 UTC)),
        ..ServerConfig::default()
    };
    WsusServer::new(Catalog::generate(120, catalog_seed).unwrap(), config).unwrap()
}

/// Runs the verifier against an in-process server; returns the differences.
fn verify_against(records: &[(u64, Record)], s: &WsusServer) -> (usize, Vec<verify::Difference>) {
    let mut v = verify::Verifier::from_capture(records, &SeedOptions::default()).unwrap();
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    let mut diffs = Vec::new();
    let mut sent = 0;
    while let Some(req) = v.next_request("wsus.contoso.test:8530") {
        sent += 1;
        let action = req
            .headers
            .iter()
            .find(|(k, _)| k == "SOAPAction")
            .map(|(_, v)| v.clone());
        let len = req
            .headers
            .iter()
            .find(|(k, _)| k == "Content-Length")
            .map(|(_, v)| v.clone());
        assert_eq!(len, Some(req.body.len().to_string()));
        let reply = s.soap(SoapCall {
            path: &req.path,
            soap_action: action.as_deref(),
            host: Some("wsus.contoso.test:8530"),
            scheme: "http",
            body: req.body.as_bytes(),
            peer: "192.0.2.10:49731".parse().unwrap(),
        });
        diffs.extend(v.check(reply.status, &reply.body));
    }
    (sent, diffs)
}

#[test]
fn verify_finds_no_difference_on_the_same_catalog_and_reports_another_one() {
    let s = server_with(7, 3);
    let fresh = ClientState::new(Identity::new(
        "5c7f4f80-3896-4d10-8a38-469286a0febc",
        "pc01.contoso.test",
    ));
    let (records, end) = record_run(&s, fresh);
    assert!(matches!(end, Step::Done(_)), "{end:?}");
    let soap = exchanges(&records).len();

    // Same catalog, another cookie key: every recorded request is sent with the live
    // cookies threaded (or the server would answer InvalidCookie) and nothing differs.
    let same = server_with(7, 9);
    let (sent, diffs) = verify_against(&records, &same);
    assert_eq!(sent, soap);
    assert!(
        diffs.is_empty(),
        "{}",
        diffs.iter().map(|d| format!("{d}\n")).collect::<String>()
    );

    // Another catalog: the differences name exchange, operation and element path.
    let other = server_with(8, 3);
    let (_, diffs) = verify_against(&records, &other);
    assert!(!diffs.is_empty());
    let d = diffs
        .iter()
        .find(|d| d.operation == SyncUpdates)
        .unwrap_or_else(|| panic!("{diffs:?}"));
    assert!(
        d.path.starts_with("/Envelope/Body/SyncUpdatesResponse/"),
        "{d}"
    );
    assert!(d.exchange >= 1 && d.expected != d.observed, "{d}");
    assert!(d.to_string().contains("SyncUpdates"), "{d}");
}

#[test]
fn two_clients_in_one_capture_are_told_apart_by_id_and_cookie_chain() {
    // Two clients from the same address on connection 1 each (two `wutap replay` runs
    // appended to one capture): the cookies each presented tie their calls to them.
    let s = server();
    let a = ClientState::new(Identity::new(
        "5c7f4f80-3896-4d10-8a38-469286a0febc",
        "a.contoso.test",
    ));
    let b = ClientState::new(Identity::new(
        "0f0e7a52-8f6e-4c2b-9a0d-2f5a8a1c3b4d",
        "b.contoso.test",
    ));
    let (ra, _) = record_run(&s, a);
    let (rb, _) = record_run(&s, b);
    let both: Vec<(u64, Record)> = ra
        .iter()
        .chain(&rb)
        .enumerate()
        .map(|(i, (_, r))| (i as u64 + 2, r.clone()))
        .collect();
    let last = |records: &[(u64, Record)]| {
        StoredCookie::from_wire(&recorded_cookies(records).pop().unwrap())
    };

    let seeded = ClientState::from_capture(&both, &SeedOptions::default()).unwrap();
    assert_eq!(
        seeded.state.identity.client_id,
        "0f0e7a52-8f6e-4c2b-9a0d-2f5a8a1c3b4d"
    );
    assert_eq!(seeded.state.identity.dns_name, "b.contoso.test");
    assert_eq!(seeded.state.cookie, last(&rb));
    assert_eq!(seeded.exchanges, rb.len());
    assert_eq!(seeded.clients.len(), 2);
    assert!(
        seeded
            .notes
            .iter()
            .any(|n| n.contains("2 clients") && n.contains("--client-id")),
        "{:?}",
        seeded.notes
    );

    let options = SeedOptions {
        client_id: Some("5C7F4F80-3896-4D10-8A38-469286A0FEBC".into()),
    };
    let seeded = ClientState::from_capture(&both, &options).unwrap();
    assert_eq!(seeded.state.identity.dns_name, "a.contoso.test");
    assert_eq!(seeded.state.cookie, last(&ra));
    assert_eq!(seeded.exchanges, ra.len());
    let alone = ClientState::from_capture(&ra, &SeedOptions::default()).unwrap();
    assert_eq!(seeded.state, alone.state);

    let options = SeedOptions {
        client_id: Some("11111111-2222-3333-4444-555555555555".into()),
    };
    let e = ClientState::from_capture(&both, &options).unwrap_err();
    assert!(matches!(e, SeedError::UnknownClient { .. }), "{e}");
    assert!(
        e.to_string().contains("a.contoso") || e.to_string().contains("5c7f4f80"),
        "{e}"
    );
}

#[test]
fn native_only_elements_and_prefixes_of_the_recording_are_kept() {
    // A recording whose SyncUpdates requests look like Windows 11's: another envelope
    // prefix, AlsoPerformRegularSync, and an element the model does not know.
    let s = server();
    let fresh = ClientState::new(Identity::new(
        "5c7f4f80-3896-4d10-8a38-469286a0febc",
        "pc01.contoso.test",
    ));
    let (mut records, _) = record_run(&s, fresh);
    let native = |xml: &str| {
        xml.replace("<s:", "<soap:")
            .replace("</s:", "</soap:")
            .replace("xmlns:s=", "xmlns:soap=")
            .replace(
                "</parameters>",
                "<AlsoPerformRegularSync>true</AlsoPerformRegularSync><wu:Later xmlns:wu=\"urn:example:later\" wu:n=\"1\">x</wu:Later></parameters>",
            )
    };
    for (_, r) in &mut records {
        if let Record::Exchange(e) = r
            && op_of(e) == Some(SyncUpdates)
        {
            let xml = String::from_utf8(e.request.body.bytes().unwrap().to_vec()).unwrap();
            e.request.body = CapBody::from_bytes(native(&xml).into_bytes());
        }
    }
    let seeded = ClientState::from_capture(&records, &SeedOptions::default()).unwrap();
    assert!(seeded.warnings.is_empty(), "{:?}", seeded.warnings);
    let (second, end) = record_run(&s, seeded.state);
    assert!(matches!(end, Step::Done(_)), "{end:?}");
    let recorded: BTreeMap<String, Vec<u8>> = exchanges(&records)
        .iter()
        .filter(|e| op_of(e) == Some(SyncUpdates))
        .map(|e| {
            let Body::Request(r) = request_envelope(e).unwrap().body else {
                panic!()
            };
            (
                template_key(&r),
                request_xml(&e.request).unwrap().into_owned(),
            )
        })
        .collect();
    let mut checked = 0;
    for e in exchanges(&second) {
        if op_of(e) != Some(SyncUpdates) {
            continue;
        }
        let body = request_xml(&e.request).unwrap().into_owned();
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.starts_with("<soap:Envelope xmlns:soap="), "{text}");
        assert!(
            text.contains("<AlsoPerformRegularSync>true</AlsoPerformRegularSync><wu:Later xmlns:wu=\"urn:example:later\" wu:n=\"1\">x</wu:Later></parameters>"),
            "{text}"
        );
        let Body::Request(r) = request_envelope(e).unwrap().body else {
            panic!()
        };
        let want = &recorded[&template_key(&r)];
        let (a, b) = (
            masked_request(want).unwrap(),
            masked_request(&body).unwrap(),
        );
        assert!(a == b, "\n{}", xml_diff(&a, &b));
        checked += 1;
    }
    assert!(checked >= 2, "software and driver passes");
}
