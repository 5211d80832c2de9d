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
    drive_hooked(s, state, options, &mut |_, _| {})
}

/// Like [`drive_with`], with `hook` editing each decoded answer before the client sees it
/// (to test the client against shapes of the reference that our server does not send).
fn drive_hooked(
    s: &WsusServer,
    state: ClientState,
    options: SyncOptions,
    hook: &mut dyn FnMut(&Request, &mut Envelope),
) -> Run {
    let initial = state.cookie.as_ref().map(StoredCookie::to_wire);
    let max_installed = options.max_installed_non_leaf;
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
                let mut env = Envelope::decode(&reply.body);
                if let (Ok(e), Some(r)) = (&mut env, sent.last()) {
                    hook(r, e);
                }
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
                check_client_rules(max_installed, initial, &sent, &replies);
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
/// C-27 (every delivered ID is listed in the next software request), C-28 (continuation),
/// C-32 (a filter only after StartCategoryScan, within its preferred ids), and the
/// InstalledNonLeafUpdateIDs cap (`max_installed`: 400 by default, reference 7.3.5).
fn check_client_rules(
    max_installed: usize,
    initial: Option<wusp::types::Cookie>,
    sent: &[Request],
    replies: &[Option<wusp::Response>],
) {
    use wusp::Response as R;
    let mut latest = initial;
    let mut dropped: HashSet<i32> = HashSet::new();
    let mut must_list: HashSet<i32> = HashSet::new();
    let mut must_continue = false;
    let mut preferred: Option<HashSet<String>> = None;
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
            assert!(p.installed_non_leaf_update_ids.items().len() <= max_installed);
            let filter: HashSet<String> = p
                .filter_category_ids
                .items()
                .iter()
                .filter_map(|c| c.id.value().map(Guid::normalized))
                .collect();
            if !filter.is_empty() {
                let preferred = preferred.as_ref().expect("C-32: StartCategoryScan first");
                assert!(filter.is_subset(preferred), "C-32");
            }
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
            Some(R::StartCategoryScan(r)) => {
                preferred = Some(
                    r.preferred_category_ids
                        .items()
                        .iter()
                        .map(Guid::normalized)
                        .collect(),
                );
            }
            Some(R::SyncPrinterCatalog(r)) => {
                if let Some(c) = r.result.value().and_then(|x| x.new_cookie.value()) {
                    latest = Some(c.clone());
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
        Request::SyncPrinterCatalog(s) => s.cookie.value().cloned(),
        Request::GetExtendedUpdateInfo2(s) => s.cookie.value().cloned(),
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
        // An empty cache still sends RefreshCache (with an empty globalIDs list); the server
        // that rejected the cookie requires registration: NEED_REFRESH -> NEED_REGISTER.
        assert_eq!(
            &ops[4..11],
            &[
                SyncUpdates,
                GetConfig,
                GetAuthorizationCookie,
                GetCookie,
                RefreshCache,
                RegisterComputer,
                SyncUpdates
            ],
            "{code}: {ops:?}"
        );
        check_rejected_cookie_never_sent(&run, 4);
        assert_eq!(summary(&run).faults_recovered.get(code), Some(&1));

        // With a cache: GetConfig, GetAuthorizationCookie, GetCookie, RefreshCache, then
        // RegisterComputer before the retry (a new server has not seen this client; no
        // RegistrationRequired fault is waited for).
        let (run, before) = injected_differential(code);
        let ops = run.ops();
        assert_eq!(
            &ops[..7],
            &[
                SyncUpdates,
                GetConfig,
                GetAuthorizationCookie,
                GetCookie,
                RefreshCache,
                RegisterComputer,
                SyncUpdates
            ],
            "{code} C-39: {ops:?}"
        );
        assert!(
            !summary(&run)
                .faults_recovered
                .contains_key("RegistrationRequired")
        );
        let Request::RefreshCache(rc) = &run.sent[4] else {
            panic!()
        };
        assert_eq!(rc.global_ids.items().len(), before.revisions.len());
        // The cache was re-keyed, not thrown away: the retry still carries most of it
        // (bundle-only revisions get no RefreshCache result and are re-synced).
        let retry = sync_params(&run.sent[6]);
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

/// The index of the first GetExtendedUpdateInfo2, checked to come after every
/// GetExtendedUpdateInfo.
fn ext2_after_ext(run: &Run) -> usize {
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
    ext2
}

#[test]
fn decryption_data_is_fetched_once_with_get_extended_update_info2() {
    let s = server_with(200, &[]);
    let mut options = SyncOptions::new(start());
    options.fetch_decryption = true;
    let run = drive_with(&s, fresh_state(), options.clone());
    ext2_after_ext(&run);
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
    assert_eq!(ops[4 + calls], RegisterComputer, "{ops:?}");
    assert_eq!(ops[5 + calls], SyncUpdates, "{ops:?}");
    let sent: usize = run.sent[4..4 + calls]
        .iter()
        .map(|r| match r {
            Request::RefreshCache(rc) => rc.global_ids.items().len(),
            _ => 0,
        })
        .sum();
    assert_eq!(sent, n);
    let retry = sync_params(&run.sent[5 + calls]);
    assert!(!retry.installed_non_leaf_update_ids.items().is_empty());
    summary(&run);
}

fn server_configured(size: usize, inject: &[&str], registration_required: bool) -> WsusServer {
    let config = ServerConfig {
        secret: Some([3; 32]),
        clock: Clock::manual(start()),
        inject: FaultPlan::parse(inject).unwrap(),
        registration_required,
        ..ServerConfig::default()
    };
    WsusServer::new(Catalog::generate(size, 7).unwrap(), config).unwrap()
}

#[test]
fn changed_registration_data_registers_again_before_the_sync() {
    let s = server_with(60, &[]);
    let first = drive(&s, fresh_state());
    summary(&first);
    // Same description: no RegisterComputer (C-12).
    let same = drive(&s, first.state.clone());
    assert_eq!(same.ops()[0], SyncUpdates, "{:?}", same.ops());
    assert!(!same.ops().contains(&RegisterComputer));
    // IDLE -> NEED_REGISTER (registration data changed) -> SW_SYNC.
    let mut state = first.state.clone();
    state.identity.computer.model = "replacement board".into();
    let run = drive(&s, state.clone());
    assert_eq!(&run.ops()[..2], &[RegisterComputer, SyncUpdates]);
    let Request::RegisterComputer(rc) = &run.sent[0] else {
        panic!()
    };
    assert_eq!(
        rc.computer_info
            .value()
            .unwrap()
            .computer_model
            .value()
            .map(String::as_str),
        Some("replacement board")
    );
    assert_eq!(
        run.state.registered_info.as_ref(),
        Some(&run.state.identity.computer)
    );
    summary(&run);
    // Changed while the cookie expired: renewal, then registration, then the sync.
    s.config()
        .clock
        .advance(std::time::Duration::from_secs(2 * 3600));
    let run = drive(&s, state);
    assert_eq!(
        &run.ops()[..4],
        &[
            GetAuthorizationCookie,
            GetCookie,
            RegisterComputer,
            SyncUpdates
        ]
    );
    summary(&run);
}

#[test]
fn server_changed_without_required_registration_does_not_register() {
    for code in ["ServerChanged", "InvalidCookie"] {
        let s = server_configured(60, &[&format!("{code}@SyncUpdates#1")], false);
        let run = drive(&s, fresh_state());
        let ops = run.ops();
        assert_eq!(
            &ops[..9],
            &[
                GetConfig,
                GetAuthorizationCookie,
                GetCookie,
                SyncUpdates,
                GetConfig,
                GetAuthorizationCookie,
                GetCookie,
                RefreshCache,
                SyncUpdates
            ],
            "{code}: {ops:?}"
        );
        assert!(!ops.contains(&RegisterComputer), "C-11: {ops:?}");
        summary(&run);
    }
}

/// A cached revision with a core fragment naming `prereqs` (UpdateIDs) as AND-clauses.
fn synthetic(n: i32, is_leaf: bool, prereqs: &[i32]) -> CachedRevision {
    use wusp::fragment::{CoreFragmentBuilder, UpdateType};
    let uid = |n: i32| format!("00000000-0000-4000-8000-{n:012}");
    let mut b = CoreFragmentBuilder::new(
        uid(n),
        1,
        if is_leaf {
            UpdateType::Software
        } else {
            UpdateType::Category
        },
    );
    for p in prereqs {
        b = b.prerequisite(uid(*p));
    }
    CachedRevision {
        update_id: uid(n),
        revision_number: 1,
        update_type: if is_leaf { "Software" } else { "Category" }.into(),
        is_leaf,
        action: "Evaluate".into(),
        core: b.build(),
        fetched: Default::default(),
        extended: None,
        files: Vec::new(),
        installed: None,
        printer: false,
        has_encrypted_files: None,
    }
}

#[test]
fn installed_non_leaf_list_is_capped_at_400_keeping_prerequisite_chains() {
    // 450 non-leaf revisions: a root, 49 families requiring it, 400 products each
    // requiring one family; 600 leaves requiring products (200 products have two).
    let mut state = fresh_state();
    state.revisions.insert(1, synthetic(1, false, &[]));
    for f in 2..=50 {
        state.revisions.insert(f, synthetic(f, false, &[1]));
    }
    for p in 51..=450 {
        state
            .revisions
            .insert(p, synthetic(p, false, &[2 + (p % 49)]));
    }
    for l in 1001..=1600 {
        state
            .revisions
            .insert(l, synthetic(l, true, &[51 + (l % 400)]));
    }
    let (inst, other, drivers, moved) = state.lists_capped(MAX_INSTALLED_NON_LEAF);
    assert_eq!(inst.len(), 400);
    assert_eq!(moved, 50);
    assert!(drivers.is_empty());
    assert_eq!(other.len(), 600 + 50, "the rest stays listed as cached");
    let inst_set: HashSet<i32> = inst.iter().copied().collect();
    let other_set: HashSet<i32> = other.iter().copied().collect();
    assert!(inst_set.is_disjoint(&other_set), "C-24");
    assert_eq!(inst_set.len() + other_set.len(), state.revisions.len());
    // The root and every family stay; every kept product's family is kept (closed chains).
    assert!((1..=50).all(|id| inst_set.contains(&id)));
    for p in 51..=450 {
        if inst_set.contains(&p) {
            assert!(inst_set.contains(&(2 + (p % 49))), "{p}");
        }
    }
    // Products with two dependent leaves rank above products with one.
    let two: Vec<i32> = (51..=450)
        .filter(|p| (1001..=1600).filter(|l| 51 + (l % 400) == *p).count() == 2)
        .collect();
    assert_eq!(two.len(), 200);
    assert!(two.iter().all(|p| inst_set.contains(p)));
    // Deterministic, sorted, and nothing moves while under the cap.
    assert_eq!(state.lists_capped(400).0, inst);
    assert!(inst.windows(2).all(|w| w[0] < w[1]));
    let (i2, o2, _, m2) = state.lists_capped(1000);
    assert_eq!((i2.len(), o2.len(), m2), (450, 600, 0));
}

#[test]
fn a_sync_with_a_small_cap_never_exceeds_it_and_completes() {
    let s = server_with(200, &[]);
    let mut options = SyncOptions::new(start());
    options.max_installed_non_leaf = 4;
    let run = drive_with(&s, fresh_state(), options.clone());
    let sum = summary(&run).clone();
    let mut capped = false;
    for r in &run.sent {
        if let Request::SyncUpdates(_) = r {
            let n = sync_params(r).installed_non_leaf_update_ids.items().len();
            assert!(n <= 4, "{n}");
            capped |= n == 4;
        }
    }
    assert!(capped);
    // Without the cap more non-leaf revisions would be listed.
    let full = drive(&s, fresh_state());
    assert!(full.state.lists().0.len() > 4);
    assert!(sum.pages >= 2);
}
#[test]
fn the_cap_keeps_a_large_cache_within_the_servers_limit() {
    // Our server, like WS2025, faults more than 400 InstalledNonLeafUpdateIDs.
    let s = server_with(60, &[]);
    let first = drive(&s, fresh_state());
    summary(&first);
    let mut state = first.state.clone();
    state.revisions.clear();
    for n in 1..=450 {
        let prereqs: Vec<i32> = if n == 1 { vec![] } else { vec![1] };
        state
            .revisions
            .insert(900_000 + n, synthetic(n, false, &prereqs));
    }
    let mut options = SyncOptions::new(start());
    options.max_installed_non_leaf = 1000;
    let uncapped = drive_with(&s, state.clone(), options);
    match &uncapped.outcome {
        Step::Failed(SyncError::Fault { code, .. }) => assert_eq!(code, "InvalidParameters"),
        other => panic!("{other:?}"),
    }
    let run = drive(&s, state);
    let p = sync_params(&run.sent[0]);
    assert_eq!(p.installed_non_leaf_update_ids.items().len(), 400);
    assert_eq!(p.other_cached_update_ids.items().len(), 50);
    // The root every other revision requires is kept.
    assert!(p.installed_non_leaf_update_ids.items().contains(&900_001));
    summary(&run);
}

/// The UpdateID of the first category revision of the given type in the server's catalog.
fn category_of(s: &WsusServer, t: crate::server::catalog::CategoryType) -> String {
    use crate::server::catalog::RevisionKind;
    let cat = s.catalog();
    let r = cat
        .revisions()
        .iter()
        .position(|r| r.kind == RevisionKind::Category(t))
        .unwrap() as u32;
    cat.update_id_of(r).to_string()
}

fn filter_of(r: &Request) -> Vec<String> {
    sync_params(r)
        .filter_category_ids
        .items()
        .iter()
        .map(|c| c.id.value().unwrap().normalized())
        .collect()
}

fn software_requests(run: &Run) -> Vec<&Request> {
    run.sent
        .iter()
        .filter(|r| {
            matches!(r, Request::SyncUpdates(_))
                && sync_params(r).skip_software_sync.value() == Some(&false)
        })
        .collect()
}

#[test]
fn category_scan_starts_with_start_category_scan_and_filters_every_page() {
    use crate::server::catalog::CategoryType;
    let s = server_with(400, &[]);
    let product = category_of(&s, CategoryType::Product);
    let mut options = SyncOptions::new(start());
    options.categories = vec![vec![product.clone()]];
    let run = drive_with(&s, fresh_state(), options);
    let sum = summary(&run).clone();
    let ops = run.ops();
    // Reference 5.3 steps 2-7 (and the native order OBS-N).
    assert_eq!(
        &ops[..6],
        &[
            GetConfig,
            GetAuthorizationCookie,
            GetCookie,
            RegisterComputer,
            StartCategoryScan,
            SyncUpdates
        ],
        "{ops:?}"
    );
    assert_eq!(ops.iter().filter(|o| **o == StartCategoryScan).count(), 1);
    let Request::StartCategoryScan(scan) = &run.sent[4] else {
        panic!()
    };
    let rels = scan.requested_categories.items();
    assert_eq!(rels.len(), 1, "C-33 requestedCategories present");
    assert_eq!(rels[0].index_of_and_group.value(), Some(&0));
    assert_eq!(rels[0].category_id.value().unwrap().normalized(), product);
    let Some(Some(wusp::Response::StartCategoryScan(answer))) = run.replies.get(4) else {
        panic!()
    };
    let preferred: Vec<String> = answer
        .preferred_category_ids
        .items()
        .iter()
        .map(Guid::normalized)
        .collect();
    assert!(!preferred.is_empty());
    // C-31/C-32: every software page carries FilterCategoryIds = preferredCategoryIds and
    // NeedTwoGroupOutOfScopeUpdates=true; the driver pass carries no filter.
    let software = software_requests(&run);
    assert!(software.len() >= 2, "{ops:?}");
    for r in &software {
        assert_eq!(filter_of(r), preferred);
        assert_eq!(
            sync_params(r).need_two_group_out_of_scope_updates.value(),
            Some(&true)
        );
    }
    for r in &run.sent {
        if let Request::SyncUpdates(_) = r
            && sync_params(r).skip_software_sync.value() == Some(&true)
        {
            assert!(sync_params(r).filter_category_ids.items().is_empty());
        }
    }
    check_main_line(&run, 50);
    // A filtered scan caches fewer revisions than a regular one, the product among them.
    let full = drive(&s, fresh_state());
    assert!(run.state.revisions.len() < full.state.revisions.len());
    assert!(run.state.revisions.values().any(|r| r.update_id == product));
    assert_eq!(sum.deployed_out_of_scope, 0, "nothing cached before");
}

#[test]
fn category_scan_after_a_full_sync_keeps_deployed_out_of_scope_revisions() {
    use crate::server::catalog::CategoryType;
    let s = server_with(400, &[]);
    let full = drive(&s, fresh_state());
    summary(&full);
    let before = full.state.revisions.len();
    let mut options = SyncOptions::new(start());
    options.categories = vec![vec![category_of(&s, CategoryType::Product)]];
    // Approve more so that the category scan has something to fetch.
    s.change_approvals(ApprovalChange {
        approve: 40,
        decline: 0,
        change: 0,
    });
    let run = drive_with(&s, full.state.clone(), options);
    let sum = summary(&run).clone();
    assert_eq!(&run.ops()[..2], &[StartCategoryScan, SyncUpdates]);
    // Deployed but outside the filter: reported in DeployedOutOfScopeRevisionIds, not in
    // OutOfScopeRevisionIDs, so the cache keeps them (reference 5.5, 5.7).
    let mut deployed_oos = HashSet::new();
    for reply in run.replies.iter().flatten() {
        if let wusp::Response::SyncUpdates(r) = reply {
            let info = r.result.value().unwrap();
            deployed_oos.extend(
                info.deployed_out_of_scope_revision_ids
                    .items()
                    .iter()
                    .copied(),
            );
            assert!(info.out_of_scope_revision_ids.items().is_empty());
        }
    }
    assert!(!deployed_oos.is_empty());
    assert!(sum.deployed_out_of_scope as usize >= deployed_oos.len());
    assert!(run.state.revisions.len() >= before);
    for id in &deployed_oos {
        assert!(run.state.revisions.contains_key(id), "{id} kept cached");
    }
    // ... still listed in every later software page (the server would resend them) ...
    for r in software_requests(&run) {
        let p = sync_params(r);
        let listed: HashSet<i32> = p
            .installed_non_leaf_update_ids
            .items()
            .iter()
            .chain(p.other_cached_update_ids.items())
            .copied()
            .collect();
        assert!(deployed_oos.is_subset(&listed));
    }
    // ... but not needed by this scan: no extended info asked, not reported as installable.
    for r in &run.sent {
        if let Request::GetExtendedUpdateInfo(g) = r {
            assert!(
                g.revision_ids
                    .items()
                    .iter()
                    .all(|id| !deployed_oos.contains(id))
            );
        }
    }
    let excluded_uids: HashSet<&str> = deployed_oos
        .iter()
        .filter_map(|id| run.state.revisions.get(id))
        .map(|r| r.update_id.as_str())
        .collect();
    let Some(Request::ReportEventBatch(rep)) = run.sent.last() else {
        panic!()
    };
    for e in rep.event_batch.items() {
        let misc = e.extended_data.value().unwrap().misc_data.items();
        for m in misc.iter().filter_map(|m| m.strip_prefix("U=")) {
            assert!(m.split(';').all(|u| !excluded_uids.contains(u)));
        }
    }
}

#[test]
fn category_scan_is_refused_below_server_protocol_3_2_or_client_1_7() {
    use crate::server::catalog::CategoryType;
    let s = server_with(60, &[]);
    let mut options = SyncOptions::new(start());
    options.categories = vec![vec![category_of(&s, CategoryType::Product)]];
    // A server announcing ProtocolVersion 3.0 (WSUS 3.0): C-33 forbids StartCategoryScan.
    let mut downgrade = |_: &Request, e: &mut Envelope| {
        if let wusp::Body::Response(wusp::Response::GetConfig(r)) = &mut e.body {
            for p in r
                .result
                .value_mut()
                .unwrap()
                .properties
                .value_mut()
                .unwrap()
            {
                if p.name.value().map(String::as_str) == Some("ProtocolVersion") {
                    p.value = Field::Value("3.0".into());
                }
            }
        }
    };
    let run = drive_hooked(&s, fresh_state(), options.clone(), &mut downgrade);
    assert!(!run.ops().contains(&StartCategoryScan), "{:?}", run.ops());
    assert!(!run.ops().contains(&SyncUpdates));
    match &run.outcome {
        Step::Failed(SyncError::CategoryScanUnavailable(m)) => {
            assert!(m.contains("3.0") && m.contains("3.2"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    // A client sending protocolVersion 1.6 (WSUS 3.0 SP1 client): C-31.
    let mut old = fresh_state();
    old.identity.protocol_version = "1.6".into();
    let run = drive_with(&s, old, options);
    assert!(!run.ops().contains(&StartCategoryScan));
    assert!(matches!(
        run.outcome,
        Step::Failed(SyncError::CategoryScanUnavailable(_))
    ));
}

#[test]
fn unknown_categories_are_named() {
    use crate::server::catalog::CategoryType;
    let s = server_with(60, &[]);
    let unknown = "dd78b8a1-0b20-45c1-add6-4da72e9364cf".to_string();
    let mut options = SyncOptions::new(start());
    options.categories = vec![vec![unknown.clone()]];
    let run = drive_with(&s, fresh_state(), options.clone());
    match &run.outcome {
        Step::Failed(SyncError::Protocol {
            operation: StartCategoryScan,
            message,
        }) => assert!(message.contains(&unknown), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(!run.ops().contains(&SyncUpdates));
    // One known group is enough: the unknown one is warned about, the scan goes on.
    options.categories = vec![vec![unknown], vec![category_of(&s, CategoryType::Product)]];
    let run = drive_with(&s, fresh_state(), options);
    summary(&run);
    assert!(
        software_requests(&run)
            .iter()
            .all(|r| filter_of(r).len() == 1)
    );
}

#[test]
fn category_scan_is_started_again_after_server_changed() {
    use crate::server::catalog::CategoryType;
    let s = server_with(200, &["ServerChanged@SyncUpdates#2"]);
    let mut options = SyncOptions::new(start());
    options.categories = vec![vec![category_of(&s, CategoryType::Product)]];
    let run = drive_with(&s, fresh_state(), options);
    let ops = run.ops();
    let i = ops.iter().position(|o| *o == RefreshCache).unwrap();
    assert_eq!(
        &ops[i - 4..i + 4],
        &[
            SyncUpdates,
            GetConfig,
            GetAuthorizationCookie,
            GetCookie,
            RefreshCache,
            RegisterComputer,
            StartCategoryScan,
            SyncUpdates
        ],
        "{ops:?}"
    );
    summary(&run);
}

/// The revision IDs a run asked GetExtendedUpdateInfo2 for.
fn asked_ext2(run: &Run, state: &ClientState) -> HashSet<i32> {
    let mut out = HashSet::new();
    for r in &run.sent {
        if let Request::GetExtendedUpdateInfo2(g) = r {
            for u in g.update_ids.items() {
                let uid = u.update_id.value().unwrap().normalized();
                let rn = *u.revision_number.value().unwrap();
                out.extend(
                    state
                        .revisions
                        .iter()
                        .filter(|(_, r)| r.update_id == uid && r.revision_number == rn)
                        .map(|(id, _)| *id),
                );
            }
        }
    }
    out
}

#[test]
fn decryption_data_is_asked_only_where_the_metadata_marks_encryption() {
    let s = server_with(200, &[]);
    // Our server (like WSUS) marks nothing encrypted: no GetExtendedUpdateInfo2 at all.
    let plain = drive(&s, fresh_state());
    assert!(!plain.ops().contains(&GetExtendedUpdateInfo2));
    assert_eq!(summary(&plain).extended_info2_calls, 0);

    // A FileLocation with an EncryptedFileDigest ("null if not encrypted", reference 2.11).
    let mut marked: Option<String> = None;
    let mut mark = |_: &Request, e: &mut Envelope| {
        if let wusp::Body::Response(wusp::Response::GetExtendedUpdateInfo(r)) = &mut e.body
            && marked.is_none()
            && let Some(l) = r
                .result
                .value_mut()
                .and_then(|i| i.file_locations.value_mut())
                .and_then(|l| l.first_mut())
        {
            l.encrypted_file_digest = Field::Value(wusp::values::Base64(
                "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=".into(),
            ));
            marked = Some(l.file_digest.value().unwrap().as_str().to_string());
        }
    };
    let run = drive_hooked(&s, fresh_state(), SyncOptions::new(start()), &mut mark);
    let digest = marked.unwrap();
    let owners: HashSet<i32> = run
        .state
        .revisions
        .iter()
        .filter(|(_, r)| r.files.iter().any(|f| f.digest == digest))
        .map(|(id, _)| *id)
        .collect();
    assert!(!owners.is_empty());
    let ext2 = ext2_after_ext(&run);
    let asked = asked_ext2(&run, &run.state);
    assert_eq!(asked, owners, "only the revisions with the encrypted file");
    let Request::GetExtendedUpdateInfo2(g) = &run.sent[ext2] else {
        panic!()
    };
    assert!(
        g.info_types
            .items()
            .contains(&XmlUpdateFragmentType::FileDecryption)
    );
    for id in &owners {
        assert!(run.state.revisions[id].fetched.contains("FileDecryption"));
    }
    // Asked once: the next run does not ask again.
    let again = drive(&s, run.state.clone());
    assert!(!again.ops().contains(&GetExtendedUpdateInfo2));

    // A DecryptionInformation that carries KeyData (reference 3.9) needs no further call.
    let mut with_key = |_: &Request, e: &mut Envelope| {
        if let wusp::Body::Response(wusp::Response::GetExtendedUpdateInfo(r)) = &mut e.body {
            for l in r
                .result
                .value_mut()
                .and_then(|i| i.file_locations.value_mut())
                .into_iter()
                .flatten()
            {
                l.decryption_information = Field::Value(
                    r#"{"KeyData":"AAECAwQFBgcICQoLDA0ODw==","EncryptionBufferSize":65536}"#.into(),
                );
            }
        }
    };
    let run = drive_hooked(&s, fresh_state(), SyncOptions::new(start()), &mut with_key);
    assert!(!run.ops().contains(&GetExtendedUpdateInfo2));
    assert!(
        run.state
            .revisions
            .values()
            .flat_map(|r| &r.files)
            .any(|f| f.encrypted && !f.needs_key())
    );
}

#[test]
fn has_encrypted_files_marks_a_revision_as_needing_keys() {
    let mut r = synthetic(1, true, &[]);
    r.files.push(CachedFile {
        digest: "o3nVUm+zp6BCPaHNf8MYKo1EhEk=".into(),
        name: None,
        url: None,
        decryption_information: None,
        decryption_key: None,
        sha256: None,
        size: None,
        encrypted: false,
    });
    assert!(!r.needs_decryption());
    r.has_encrypted_files = Some(true);
    assert!(r.needs_decryption());
    r.files[0].decryption_key = Some("AAEC".into());
    assert!(!r.needs_decryption());
}

#[test]
fn printer_catalog_is_synced_when_asked_and_kept_apart_from_drivers() {
    let s = server_with(400, &[]);
    // Not asked: never called.
    let plain = drive(&s, fresh_state());
    assert!(!plain.ops().contains(&SyncPrinterCatalog));

    let mut options = SyncOptions::new(start());
    options.sync_printer_catalog = true;
    let run = drive_with(&s, fresh_state(), options.clone());
    let sum = summary(&run).clone();
    let ops = run.ops();
    let drv = run
        .sent
        .iter()
        .position(|r| {
            matches!(r, Request::SyncUpdates(_))
                && sync_params(r).skip_software_sync.value() == Some(&true)
        })
        .unwrap();
    assert_eq!(ops[drv + 1], SyncPrinterCatalog, "{ops:?}");
    let Request::SyncPrinterCatalog(first) = &run.sent[drv + 1] else {
        panic!()
    };
    assert!(first.printer_update_ids.items().is_empty());
    assert!(first.cookie.is_present(), "C-14");
    // The same installed list as the driver pass (prerequisites of printer drivers).
    assert_eq!(
        first.installed_non_leaf_update_ids.items(),
        sync_params(&run.sent[drv])
            .installed_non_leaf_update_ids
            .items()
    );
    assert!(sum.printer_passes >= 1);
    let printers = run.state.printer_ids();
    assert!(
        !printers.is_empty(),
        "the generated catalog has printer drivers"
    );
    assert!(
        printers
            .iter()
            .all(|id| run.state.revisions[id].is_driver())
    );
    let (_, _, drivers) = run.state.lists();
    assert!(printers.iter().all(|id| !drivers.contains(id)));

    // Next run: printerUpdateIDs lists them, CachedDriverIDs does not, nothing dropped.
    let again = drive_with(&s, run.state.clone(), options);
    summary(&again);
    let p = again
        .sent
        .iter()
        .find_map(|r| match r {
            Request::SyncPrinterCatalog(p) => Some(p),
            _ => None,
        })
        .unwrap();
    assert_eq!(p.printer_update_ids.items(), &printers[..]);
    for r in &again.sent {
        if let Request::SyncUpdates(_) = r {
            let cached = sync_params(r).cached_driver_ids.items();
            assert!(printers.iter().all(|id| !cached.contains(id)));
        }
    }
    assert_eq!(again.state.printer_ids(), printers);
}

#[test]
fn a_recorded_category_scan_is_repeated_and_a_stray_filter_is_not_sent() {
    use crate::server::catalog::CategoryType;
    let s = server_with(200, &[]);
    let product = category_of(&s, CategoryType::Product);
    let mut options = SyncOptions::new(start());
    options.categories = vec![vec![product.clone()]];
    let recorded = drive_with(&s, fresh_state(), options);
    summary(&recorded);
    let scan = recorded
        .sent
        .iter()
        .find(|r| matches!(r, Request::StartCategoryScan(_)))
        .unwrap()
        .clone();
    let page = software_requests(&recorded)[0].clone();
    let template = |r: &Request| Envelope::request(r.clone()).encode();

    // Seeded with both templates: the run repeats the recorded category scan.
    let mut state = recorded.state.clone();
    state
        .templates
        .insert("StartCategoryScan".into(), template(&scan));
    state
        .templates
        .insert("SyncUpdates".into(), template(&page));
    let run = drive(&s, state.clone());
    assert_eq!(&run.ops()[..2], &[StartCategoryScan, SyncUpdates]);
    let Request::StartCategoryScan(again) = &run.sent[0] else {
        panic!()
    };
    assert_eq!(
        again.requested_categories.items()[0]
            .category_id
            .value()
            .unwrap()
            .normalized(),
        product
    );
    assert!(!filter_of(&run.sent[1]).is_empty());
    summary(&run);

    // Only the filtered SyncUpdates template: no StartCategoryScan in this run, so the
    // recorded FilterCategoryIds must not be sent (C-32) nor the two-group flag.
    state.templates.remove("StartCategoryScan");
    let run = drive(&s, state);
    assert!(!run.ops().contains(&StartCategoryScan));
    for r in software_requests(&run) {
        assert!(filter_of(r).is_empty());
        assert!(
            sync_params(r)
                .need_two_group_out_of_scope_updates
                .is_absent()
        );
    }
    summary(&run);
}
