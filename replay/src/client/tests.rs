//! The client machine driven against the in-process WSUS server of [`crate::server`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use time::macros::datetime;
use wusp::Operation::{self, *};
use wusp::{Envelope, Request};

use super::*;
use crate::server::catalog::ApprovalChange;
use crate::server::catalog::Catalog;
use crate::server::inject::FaultPlan;
use crate::server::logic::{Clock, ServerConfig, WsusServer};
use crate::server::{Backend, SoapCall};

const CLIENT: &str = "5c7f4f80-3896-4d10-8a38-469286a0febc";
const HOST: &str = "wsus.contoso.test:8530";

fn start() -> time::OffsetDateTime {
    datetime!(2026-10-04 16:03:35 UTC)
}

fn server_with(size: usize, inject: &[&str]) -> WsusServer {
    let config = ServerConfig {
        secret: Some([3; 32]),
        clock: Clock::manual(start()),
        inject: FaultPlan::parse(inject).unwrap(),
        ..ServerConfig::default()
    };
    WsusServer::new(Catalog::generate(size, 7).unwrap(), config).unwrap()
}

fn fresh_state() -> ClientState {
    ClientState::new(Identity::new(CLIENT, "pc01.contoso.test"))
}

/// Everything one run sent, with its outcome.
struct Run {
    sent: Vec<Request>,
    /// The reply to each request (None: a fault).
    replies: Vec<Option<wusp::Response>>,
    outcome: Step,
    state: ClientState,
}

impl Run {
    fn ops(&self) -> Vec<Operation> {
        self.sent.iter().map(Request::operation).collect()
    }
}

fn drive(s: &WsusServer, state: ClientState) -> Run {
    drive_with(s, state, SyncOptions::new(s.config().clock.now()))
}

fn drive_with(s: &WsusServer, state: ClientState, options: SyncOptions) -> Run {
    let initial = state.cookie.as_ref().map(StoredCookie::to_wire);
    let mut sync = Sync::new(state, options);
    let mut sent = Vec::new();
    let mut replies = Vec::new();
    loop {
        assert!(sent.len() < 500, "the run does not end");
        match sync.next() {
            Step::Send(req, op) => {
                let path = sync.path_for(op);
                let action = format!("\"{}\"", op.soap_action());
                let body = Envelope::request(req.clone()).encode();
                sent.push(req);
                let reply = s.soap(SoapCall {
                    path: &path,
                    soap_action: Some(&action),
                    host: Some(HOST),
                    scheme: "http",
                    body: body.as_bytes(),
                    peer: "192.0.2.10:49731".parse().unwrap(),
                });
                let env = Envelope::decode(&reply.body);
                replies.push(match &env {
                    Ok(Envelope {
                        body: wusp::Body::Response(r),
                        ..
                    }) => Some(r.clone()),
                    _ => None,
                });
                sync.receive(reply.status, env);
            }
            outcome @ (Step::Done(_) | Step::Failed(_)) => {
                check_client_rules(initial, &sent, &replies);
                return Run {
                    sent,
                    replies,
                    outcome,
                    state: sync.into_state(),
                };
            }
        }
    }
}

/// Client rules checked on every run: C-15 (the cookie sent is the latest issued),
/// C-24 (disjoint lists), C-26 (out-of-scope IDs not sent again unless re-delivered),
/// C-27 (every delivered ID is listed in the next software request), C-28 (continuation).
fn check_client_rules(
    initial: Option<wusp::types::Cookie>,
    sent: &[Request],
    replies: &[Option<wusp::Response>],
) {
    use wusp::Response as R;
    let mut latest = initial;
    let mut dropped: HashSet<i32> = HashSet::new();
    let mut must_list: HashSet<i32> = HashSet::new();
    let mut must_continue = false;
    for (req, reply) in sent.iter().zip(replies) {
        if let Some(c) = cookie_of(req) {
            assert_eq!(Some(&c), latest.as_ref(), "C-15: {:?}", req.operation());
        }
        if let Request::SyncUpdates(_) = req {
            let p = sync_params(req);
            let lists = [
                p.installed_non_leaf_update_ids.items(),
                p.other_cached_update_ids.items(),
                p.cached_driver_ids.items(),
            ];
            let all: Vec<i32> = lists.iter().flat_map(|l| l.iter().copied()).collect();
            let set: HashSet<i32> = all.iter().copied().collect();
            assert_eq!(set.len(), all.len(), "C-24");
            assert!(set.is_disjoint(&dropped), "C-26");
            let software = p.skip_software_sync.value() == Some(&false);
            if software {
                assert!(must_list.is_subset(&set), "C-27");
                must_list.clear();
            } else {
                assert!(
                    !must_continue,
                    "C-28: driver pass while the loop must go on"
                );
            }
        }
        match reply {
            Some(R::GetCookie(r)) => latest = r.result.value().cloned(),
            Some(R::SyncUpdates(r)) => {
                let info = r.result.value().unwrap();
                if let Some(c) = info.new_cookie.value() {
                    latest = Some(c.clone());
                }
                dropped.extend(info.out_of_scope_revision_ids.items().iter().copied());
                for u in info.new_updates.items() {
                    let id = *u.id.value().unwrap();
                    dropped.remove(&id);
                    must_list.insert(id);
                }
                let p = sync_params(req);
                if p.skip_software_sync.value() == Some(&false) {
                    must_continue = info.truncated.value() == Some(&true)
                        || info
                            .new_updates
                            .items()
                            .iter()
                            .any(|u| u.is_leaf.value() == Some(&false));
                }
            }
            Some(R::GetFileLocations(r)) => {
                if let Some(c) = r.result.value().and_then(|x| x.new_cookie.value()) {
                    latest = Some(c.clone());
                }
            }
            Some(R::RefreshCache(_)) => dropped.clear(),
            _ => {}
        }
        if let Request::GetExtendedUpdateInfo(_) = req {
            assert!(
                !must_continue,
                "C-28: extended info while the loop must go on"
            );
        }
    }
}

fn summary(run: &Run) -> &Summary {
    match &run.outcome {
        Step::Done(s) => s,
        other => panic!("run failed: {other:?}"),
    }
}

fn sync_params(r: &Request) -> &wusp::types::SyncUpdateParameters {
    let Request::SyncUpdates(s) = r else {
        panic!("not SyncUpdates: {r:?}")
    };
    s.parameters.value().unwrap()
}

fn cookie_of(r: &Request) -> Option<wusp::types::Cookie> {
    match r {
        Request::SyncUpdates(s) => s.cookie.value().cloned(),
        Request::RefreshCache(s) => s.cookie.value().cloned(),
        Request::RegisterComputer(s) => s.cookie.value().cloned(),
        Request::GetExtendedUpdateInfo(s) => s.cookie.value().cloned(),
        Request::GetFileLocations(s) => s.cookie.value().cloned(),
        Request::ReportEventBatch(s) => s.cookie.value().cloned(),
        _ => None,
    }
}

/// Checks the run's shape: handshake, software loop, one driver pass, extended info,
/// file locations, one report (C-28, C-30, C-34).
fn check_main_line(run: &Run, max_ext: usize) {
    let ops = run.ops();
    let drv: Vec<usize> = run
        .sent
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            matches!(r, Request::SyncUpdates(_))
                && sync_params(r).skip_software_sync.value() == Some(&true)
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(drv.len(), 1, "C-30 exactly one driver pass: {ops:?}");
    assert!(
        ops[drv[0] + 1..]
            .iter()
            .all(|o| *o != SyncUpdates && *o != GetConfig),
        "{ops:?}"
    );
    assert_eq!(ops.last(), Some(&ReportEventBatch));
    assert_eq!(ops.iter().filter(|o| **o == ReportEventBatch).count(), 1);
    for r in &run.sent {
        if let Request::GetExtendedUpdateInfo(g) = r {
            let n = g.revision_ids.items().len();
            assert!(n >= 1 && n <= max_ext, "C-34: {n}");
            assert!(g.locales.value().is_some(), "C-34 locales");
        }
        if let Request::SyncUpdates(_) = r {
            let p = sync_params(r);
            assert_eq!(p.express_query.value(), Some(&false), "C-19");
            assert_eq!(
                p.system_spec.is_present(),
                p.skip_software_sync.value() == Some(&true),
                "C-20"
            );
        }
    }
}

#[test]
fn fresh_sync_completes() {
    let s = server_with(200, &[]);
    let run = drive(&s, fresh_state());
    let sum = summary(&run).clone();
    let ops = run.ops();
    assert!(ops.contains(&GetExtendedUpdateInfo));
    // WSUS returns FileLocations with Extended, so no GetFileLocations is needed.
    assert_eq!(sum.file_location_calls, 0);
    assert!(
        run.state
            .revisions
            .values()
            .flat_map(|r| &r.files)
            .all(|f| f.url.is_some())
    );
    assert_eq!(
        &ops[..4],
        &[
            GetConfig,
            GetAuthorizationCookie,
            GetCookie,
            RegisterComputer
        ],
        "C-01, C-05, C-10"
    );
    assert!(!sum.differential);
    // C-21: the first software call of an empty cache has no installed IDs.
    let first = sync_params(&run.sent[4]);
    assert!(first.installed_non_leaf_update_ids.items().is_empty());
    assert!(sum.pages >= 2, "{sum:?}");
    assert_eq!(sum.driver_passes, 1);
    check_main_line(&run, 50);
    // Every deployed software revision reached the cache.
    let (inst, other, _) = run.state.lists();
    assert_eq!(inst.len() + other.len(), s.scope(0).software().len());
    // Every Install revision has its Extended fragment, fetched once (C-49).
    let mut asked = HashSet::new();
    for r in &run.sent {
        if let Request::GetExtendedUpdateInfo(g) = r {
            for id in g.revision_ids.items() {
                assert!(asked.insert(*id), "C-49 revision {id} asked twice");
            }
        }
    }
    assert_eq!(sum.extended_info_calls as usize, asked.len().div_ceil(50));
    // C-42: the report.
    let Some(Request::ReportEventBatch(rep)) = run.sent.last() else {
        panic!()
    };
    let events = rep.event_batch.items();
    assert_eq!(events.len(), 2);
    let mut ids = HashSet::new();
    for e in events {
        let b = e.basic_data.value().unwrap();
        assert_eq!(b.target_id.value().unwrap().sid.value().unwrap(), CLIENT);
        assert_eq!(b.namespace_id.value(), Some(&1));
        assert_eq!(b.sequence_number.value(), Some(&0));
        assert!(ids.insert(b.event_instance_id.value().unwrap().clone()));
        assert!(b.update_id.is_present());
        assert!(e.private_data.is_present());
    }
    assert_eq!(sum.events_reported, 2);
    assert!(matches!(
        run.replies.last(),
        Some(Some(wusp::Response::ReportEventBatch(r))) if r.result.value() == Some(&true)
    ));
    // Cookies: every cookie sent is the latest one issued (C-15).
    assert!(run.sent.iter().skip(3).all(|r| cookie_of(r).is_some()));
}

#[test]
fn differential_sync_sends_the_cache_and_counts_changes() {
    let s = server_with(200, &[]);
    let first = drive(&s, fresh_state());
    summary(&first);
    let cached: HashSet<i32> = first.state.revisions.keys().copied().collect();
    let (inst, other, drivers) = first.state.lists();

    let change = s.change_approvals(ApprovalChange {
        approve: 3,
        decline: 2,
        change: 1,
    });
    let run = drive(&s, first.state.clone());
    let sum = summary(&run).clone();
    assert!(sum.differential);
    let ops = run.ops();
    assert_eq!(ops[0], SyncUpdates, "C-02 no handshake: {ops:?}");
    let p = sync_params(&run.sent[0]);
    assert_eq!(p.installed_non_leaf_update_ids.items(), &inst[..]);
    assert_eq!(p.other_cached_update_ids.items(), &other[..]);
    assert_eq!(p.cached_driver_ids.items(), &drivers[..]);
    assert_eq!(
        inst.len() + other.len() + drivers.len(),
        cached.len(),
        "the first request carries the full cache"
    );
    assert!(sum.out_of_scope as usize >= change.decline.len(), "{sum:?}");
    assert!(
        sum.changed_updates as usize >= change.change.len(),
        "{sum:?}"
    );
    assert!(sum.new_updates as usize >= change.approve.len(), "{sum:?}");
    for id in &change.decline {
        assert!(
            !run.state.revisions.contains_key(id),
            "declined {id} dropped"
        );
    }
    for id in &change.approve {
        assert!(run.state.revisions.contains_key(id), "approved {id} cached");
    }
    check_main_line(&run, 50);
    // Nothing cached is asked for again (C-49).
    for r in &run.sent {
        if let Request::GetExtendedUpdateInfo(g) = r {
            for id in g.revision_ids.items() {
                let before = first.state.revisions.get(id);
                assert!(
                    before.is_none_or(|b| !b.fetched.contains("Extended")),
                    "C-49 re-fetch of {id}"
                );
            }
        }
    }

    // A third run with nothing changed: one software page, the driver pass, the report.
    let again = drive(&s, run.state.clone());
    let sum = summary(&again);
    assert_eq!(sum.pages, 1);
    assert_eq!(sum.new_updates, 0);
    assert_eq!(sum.extended_info_calls, 0);
    assert_eq!(
        again.ops(),
        vec![SyncUpdates, SyncUpdates, ReportEventBatch]
    );
}

/// Runs a first sync against a server with `fault@SyncUpdates#1` and returns the
/// operations sent.
fn injected(code: &str) -> Run {
    let s = server_with(60, &[&format!("{code}@SyncUpdates#1")]);
    drive(&s, fresh_state())
}

fn injected_differential(code: &str) -> (Run, ClientState) {
    let s = server_with(60, &[]);
    let first = drive(&s, fresh_state());
    summary(&first);
    // The next SyncUpdates of this server is #N+1; inject through a fresh plan on a twin.
    let s2 = {
        let config = ServerConfig {
            secret: Some([3; 32]),
            clock: Clock::manual(start()),
            inject: FaultPlan::parse([format!("{code}@SyncUpdates#1")]).unwrap(),
            ..ServerConfig::default()
        };
        WsusServer::new(Catalog::generate(60, 7).unwrap(), config).unwrap()
    };
    let run = drive(&s2, first.state.clone());
    (run, first.state)
}

const HANDSHAKE: [Operation; 4] = [
    GetConfig,
    GetAuthorizationCookie,
    GetCookie,
    RegisterComputer,
];

#[test]
fn cookie_expired_recovery() {
    let run = injected("CookieExpired");
    let ops = run.ops();
    assert_eq!(&ops[..4], &HANDSHAKE);
    assert_eq!(
        &ops[4..8],
        &[SyncUpdates, GetAuthorizationCookie, GetCookie, SyncUpdates],
        "C-39"
    );
    // C-41: the expired cookie is the next oldCookie.
    let rejected = cookie_of(&run.sent[4]).unwrap();
    let Request::GetCookie(gc) = &run.sent[6] else {
        panic!()
    };
    assert_eq!(gc.old_cookie.value(), Some(&rejected));
    assert_eq!(
        summary(&run).faults_recovered.get("CookieExpired"),
        Some(&1)
    );
    check_main_line(&run, 50);
}

#[test]
fn invalid_cookie_and_server_changed_recovery() {
    for code in ["InvalidCookie", "ServerChanged"] {
        let run = injected(code);
        let ops = run.ops();
        // An empty cache still sends RefreshCache (with an empty globalIDs list).
        assert_eq!(
            &ops[4..10],
            &[
                SyncUpdates,
                GetConfig,
                GetAuthorizationCookie,
                GetCookie,
                RefreshCache,
                SyncUpdates
            ],
            "{code}: {ops:?}"
        );
        check_rejected_cookie_never_sent(&run, 4);
        assert_eq!(summary(&run).faults_recovered.get(code), Some(&1));

        // With a cache: GetConfig, GetAuthorizationCookie, GetCookie, RefreshCache, retry.
        let (run, before) = injected_differential(code);
        let ops = run.ops();
        assert_eq!(
            &ops[..6],
            &[
                SyncUpdates,
                GetConfig,
                GetAuthorizationCookie,
                GetCookie,
                RefreshCache,
                SyncUpdates
            ],
            "{code} C-39: {ops:?}"
        );
        let Request::RefreshCache(rc) = &run.sent[4] else {
            panic!()
        };
        assert_eq!(rc.global_ids.items().len(), before.revisions.len());
        // The cache was re-keyed, not thrown away: the retry still carries most of it
        // (bundle-only revisions get no RefreshCache result and are re-synced).
        let retry = sync_params(&run.sent[5]);
        let carried = retry.installed_non_leaf_update_ids.items().len()
            + retry.other_cached_update_ids.items().len();
        assert!(
            carried > 0 && carried <= before.revisions.len(),
            "{carried}"
        );
        let (inst, other, _) = run.state.lists();
        assert_eq!(
            inst.len() + other.len(),
            server_with(60, &[]).scope(0).software().len()
        );
        check_rejected_cookie_never_sent(&run, 0);
        check_main_line(&run, 50);
        summary(&run);
    }
}

/// C-40: the cookie of request `i` (rejected) is never sent again.
fn check_rejected_cookie_never_sent(run: &Run, i: usize) {
    let rejected = cookie_of(&run.sent[i]).unwrap();
    for r in &run.sent[i + 1..] {
        assert_ne!(cookie_of(r).as_ref(), Some(&rejected), "C-40");
        if let Request::GetCookie(gc) = r {
            assert_ne!(gc.old_cookie.value(), Some(&rejected), "C-40 oldCookie");
        }
    }
}

#[test]
fn config_changed_recovery() {
    let run = injected("ConfigChanged");
    let ops = run.ops();
    assert_eq!(
        &ops[4..9],
        &[
            SyncUpdates,
            GetConfig,
            GetAuthorizationCookie,
            GetCookie,
            SyncUpdates
        ],
        "C-39: {ops:?}"
    );
    assert_eq!(
        summary(&run).faults_recovered.get("ConfigChanged"),
        Some(&1)
    );
    check_main_line(&run, 50);
}

#[test]
fn registration_required_recovery() {
    let run = injected("RegistrationRequired");
    let ops = run.ops();
    assert_eq!(
        &ops[4..7],
        &[SyncUpdates, RegisterComputer, SyncUpdates],
        "C-39: {ops:?}"
    );
    check_main_line(&run, 50);
    summary(&run);
}

#[test]
fn busy_server_is_retried_then_gives_up() {
    let run = injected("ServerBusy");
    assert_eq!(&run.ops()[4..6], &[SyncUpdates, SyncUpdates]);
    assert_eq!(summary(&run).retries, 1);

    let s = server_with(60, &["InternalServerError@SyncUpdates"]);
    let run = drive(&s, fresh_state());
    match &run.outcome {
        Step::Failed(SyncError::RetriesExhausted { retries: 3, .. }) => {}
        other => panic!("{other:?}"),
    }
    // The handshake results are kept in the state.
    assert!(run.state.cookie.is_some() && run.state.registered);
}

#[test]
fn expired_cookie_is_renewed_before_use() {
    let s = server_with(60, &[]);
    let first = drive(&s, fresh_state());
    summary(&first);
    s.config()
        .clock
        .advance(std::time::Duration::from_secs(2 * 3600));
    let run = drive(&s, first.state.clone());
    let ops = run.ops();
    assert_eq!(
        &ops[..3],
        &[GetAuthorizationCookie, GetCookie, SyncUpdates],
        "C-16"
    );
    let Request::GetCookie(gc) = &run.sent[1] else {
        panic!()
    };
    assert_eq!(
        gc.old_cookie.value(),
        Some(&first.state.cookie.clone().unwrap().to_wire())
    );
    summary(&run);
}

#[test]
fn state_round_trips() {
    let s = server_with(60, &[]);
    let run = drive(&s, fresh_state());
    summary(&run);
    let json = serde_json::to_string(&run.state).unwrap();
    let back: ClientState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, run.state);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("client.json");
    run.state.save(&path).unwrap();
    assert_eq!(ClientState::load(&path).unwrap(), run.state);
    assert!(!dir.path().join("client.json.tmp").exists());
    #[cfg(unix)]
    {
        // It holds cookies: owner only, even over a looser leftover temporary file.
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&path) & 0o777, 0o600);
        let tmp = dir.path().join("client.json.tmp");
        std::fs::write(&tmp, b"{}").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
        run.state.save(&path).unwrap();
        assert_eq!(mode(&path) & 0o777, 0o600);
    }
}

#[test]
fn file_location_changed_asks_for_locations_then_retries() {
    let s = server_with(60, &["FileLocationChanged@ReportEventBatch#1"]);
    let run = drive(&s, fresh_state());
    let ops = run.ops();
    let n = ops.len();
    assert_eq!(
        &ops[n - 3..],
        &[ReportEventBatch, GetFileLocations, ReportEventBatch],
        "C-37: {ops:?}"
    );
    let Request::GetFileLocations(g) = &run.sent[n - 2] else {
        panic!()
    };
    assert!(!g.file_digests.items().is_empty());
    assert!(
        g.file_digests
            .items()
            .iter()
            .all(|d| d.bytes().unwrap().len() == 20),
        "C-36"
    );
    let sum = summary(&run);
    assert_eq!(sum.file_location_calls, 1);
    assert!(
        run.state
            .revisions
            .values()
            .flat_map(|r| &r.files)
            .all(|f| f.url.is_some())
    );
}

#[test]
fn faulted_extended_batch_is_resent_unchanged() {
    let s = server_with(200, &["CookieExpired@GetExtendedUpdateInfo#1"]);
    let run = drive(&s, fresh_state());
    let i = run
        .ops()
        .iter()
        .position(|o| *o == GetExtendedUpdateInfo)
        .unwrap();
    assert_eq!(
        &run.ops()[i..i + 4],
        &[
            GetExtendedUpdateInfo,
            GetAuthorizationCookie,
            GetCookie,
            GetExtendedUpdateInfo
        ]
    );
    let (Request::GetExtendedUpdateInfo(a), Request::GetExtendedUpdateInfo(b)) =
        (&run.sent[i], &run.sent[i + 3])
    else {
        panic!()
    };
    assert_eq!(a.revision_ids, b.revision_ids);
    assert_ne!(a.cookie, b.cookie);
    summary(&run);
}

#[test]
fn transport_errors_are_retried_within_the_bound() {
    let s = server_with(60, &[]);
    let mut sync = Sync::new(fresh_state(), SyncOptions::new(start()));
    let Step::Send(_, GetConfig) = sync.next() else {
        panic!()
    };
    sync.receive_error("connection reset");
    assert!(sync.backoff() > std::time::Duration::ZERO);
    let Step::Send(_, GetConfig) = sync.next() else {
        panic!()
    };
    sync.receive(503, Envelope::decode(b"Service Unavailable"));
    let Step::Send(req, GetConfig) = sync.next() else {
        panic!()
    };
    let body = Envelope::request(req).encode();
    let action = format!("\"{}\"", GetConfig.soap_action());
    let reply = s.soap(SoapCall {
        path: "/ClientWebService/client.asmx",
        soap_action: Some(&action),
        host: Some(HOST),
        scheme: "http",
        body: body.as_bytes(),
        peer: "192.0.2.10:49731".parse().unwrap(),
    });
    sync.receive(reply.status, Envelope::decode(&reply.body));
    assert_eq!(sync.backoff(), std::time::Duration::ZERO);
    assert_eq!(sync.current(), State::NeedAuth);
    for _ in 0..4 {
        let Step::Send(_, GetAuthorizationCookie) = sync.next() else {
            panic!()
        };
        sync.receive_error("timeout");
    }
    match sync.next() {
        Step::Failed(SyncError::RetriesExhausted { retries: 3, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(sync.summary().retries, 5);
    assert!(sync.state().config.is_some(), "what was learned is kept");
}

#[test]
fn endless_faults_stop_after_the_recovery_bound() {
    let s = server_with(60, &["CookieExpired@SyncUpdates"]);
    let run = drive(&s, fresh_state());
    match &run.outcome {
        Step::Failed(SyncError::TooManyRecoveries(8)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_parameters_is_not_resent() {
    let s = server_with(60, &["InvalidParameters@SyncUpdates#1"]);
    let run = drive(&s, fresh_state());
    assert_eq!(run.ops().last(), Some(&SyncUpdates));
    assert_eq!(run.ops().iter().filter(|o| **o == SyncUpdates).count(), 1);
    match &run.outcome {
        Step::Failed(SyncError::Fault { code, .. }) => assert_eq!(code, "InvalidParameters"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fault_during_recovery_keeps_the_order() {
    // ConfigChanged on SyncUpdates#1, then InvalidAuthorizationCookie on the second GetCookie.
    let s = server_with(
        60,
        &[
            "ConfigChanged@SyncUpdates#1",
            "InvalidAuthorizationCookie@GetCookie#2",
        ],
    );
    let run = drive(&s, fresh_state());
    let ops = run.ops();
    assert_eq!(
        &ops[4..11],
        &[
            SyncUpdates,
            GetConfig,
            GetAuthorizationCookie,
            GetCookie,
            GetAuthorizationCookie,
            GetCookie,
            SyncUpdates
        ],
        "{ops:?}"
    );
    summary(&run);
}

#[test]
fn decryption_data_is_fetched_once_with_get_extended_update_info2() {
    let s = server_with(200, &[]);
    let mut options = SyncOptions::new(start());
    options.fetch_decryption = true;
    let run = drive_with(&s, fresh_state(), options.clone());
    let ops = run.ops();
    let ext = ops
        .iter()
        .rposition(|o| *o == GetExtendedUpdateInfo)
        .unwrap();
    let ext2 = ops
        .iter()
        .position(|o| *o == GetExtendedUpdateInfo2)
        .unwrap();
    assert!(ext < ext2, "{ops:?}");
    for r in &run.sent {
        if let Request::GetExtendedUpdateInfo2(g) = r {
            let ids = g.update_ids.items();
            assert!(!ids.is_empty() && ids.len() <= 50, "C-34/C-35");
            assert!(
                ids.iter()
                    .all(|u| u.update_id.value().is_some_and(Guid::is_well_formed))
            );
        }
    }
    assert!(summary(&run).extended_info2_calls >= 1);
    // Asked once: a second run does not ask again.
    let again = drive_with(&s, run.state.clone(), options);
    assert!(
        !again.ops().contains(&GetExtendedUpdateInfo2),
        "{:?}",
        again.ops()
    );
}

#[test]
fn refresh_cache_goes_in_batches() {
    let s = server_with(60, &[]);
    let first = drive(&s, fresh_state());
    summary(&first);
    let n = first.state.revisions.len();
    let config = ServerConfig {
        secret: Some([3; 32]),
        clock: Clock::manual(start()),
        inject: FaultPlan::parse(["ServerChanged@SyncUpdates#1"]).unwrap(),
        ..ServerConfig::default()
    };
    let s2 = WsusServer::new(Catalog::generate(60, 7).unwrap(), config).unwrap();
    let mut options = SyncOptions::new(start());
    options.refresh_batch = 10;
    let run = drive_with(&s2, first.state.clone(), options);
    let ops = run.ops();
    let calls = n.div_ceil(10);
    assert_eq!(
        &ops[..4],
        &[SyncUpdates, GetConfig, GetAuthorizationCookie, GetCookie]
    );
    assert!(
        ops[4..4 + calls].iter().all(|o| *o == RefreshCache),
        "{ops:?}"
    );
    assert_eq!(ops[4 + calls], SyncUpdates, "{ops:?}");
    let sent: usize = run.sent[4..4 + calls]
        .iter()
        .map(|r| match r {
            Request::RefreshCache(rc) => rc.global_ids.items().len(),
            _ => 0,
        })
        .sum();
    assert_eq!(sent, n);
    let retry = sync_params(&run.sent[4 + calls]);
    assert!(!retry.installed_non_leaf_update_ids.items().is_empty());
    summary(&run);
}
