//! Call-order and parameter rules of the client: C-01, C-03, C-05 (handshake order),
//! C-25 (drivers in the software lists), C-29 (an extra call after the loop), C-31…C-33
//! (category scan gates), C-35 (GetExtendedUpdateInfo2), C-37 (FileLocationChanged),
//! C-48 (native WUA specifics, OBS).

use std::collections::HashSet;

use wusp::ops::Service;
use wusp::{ErrorCode, Operation, Request, Response};

use super::server::version;
use super::{Engine, Lists, quote};
use crate::catalogue::known;
use crate::finding::{Finding, Status};
use crate::input::{Observed, Reply};

/// Order facts per client and server.
#[derive(Default)]
pub(super) struct Order {
    /// The first request of this client to this server in the analysis.
    first_op: Option<Operation>,
    /// A handshake is running (GetConfig seen, GetCookie not yet).
    in_handshake: bool,
    /// A FileLocationChanged fault awaits a GetFileLocations (the fault's exchange).
    stale_locations: Option<String>,
    /// preferredCategoryIds of the session's StartCategoryScan.
    preferred: Option<(usize, HashSet<String>)>,
    /// The software loop ended in this session without a fault since.
    loop_done_in: Option<usize>,
    /// C-48 was reported for this session.
    c48_in: Option<usize>,
}

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = if url.contains("://") {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else {
        rest
    };
    let p = path.split(['?', '#']).next().unwrap_or(path);
    let p = p.trim_start_matches('/');
    format!("/{}", p.to_ascii_lowercase())
}

impl Engine {
    /// Order and parameter rules on a request.
    pub(super) fn order_rules(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        req: &Request,
    ) {
        let op = ex.op();
        let id = ex.id.as_str();
        let sw_done = self.sessions[si].loop_state.done;
        let first_sw_call = self.sessions[si].sw_requests == 0;
        let pair = self.pair(key);
        let first_contact = pair.state.first_contact;
        // ver_s: the configuration's ProtocolVersion, absent = 0 (reference 6.2).
        let ver_s = pair.config.as_ref().map(|c| {
            c.properties
                .items()
                .iter()
                .find(|p| p.name.value().is_some_and(|n| n == "ProtocolVersion"))
                .and_then(|p| p.value.value())
                .and_then(|v| version(v))
                .unwrap_or((0, 0))
        });
        let ver_c = pair.server.client_version();
        let service_url = pair.config.as_ref().and_then(|c| {
            c.auth_info
                .items()
                .first()
                .and_then(|a| a.service_url.value().cloned())
        });
        let have_config = pair.config.is_some();
        let have_auth = pair.auth_cookie.is_some();
        let drivers: HashSet<i32> = pair
            .known
            .iter()
            .filter(|(_, r)| r.driver)
            .map(|(i, _)| *i)
            .collect();
        let o = &mut pair.order;
        o.first_op.get_or_insert(op);
        let mut out: Vec<Finding> = Vec::new();
        let v = |rule: &'static str, msg: String, exp: &str, obs: String| {
            Finding::new(known(rule), Status::Violated, msg)
                .at([id.to_string()])
                .versus(exp, obs)
        };

        // C-03: GetAuthorizationCookie after a known GetConfig, at AuthInfo/ServiceUrl.
        if op == Operation::GetAuthorizationCookie {
            if !have_config && first_contact {
                out.push(v(
                    "C-03",
                    "GetAuthorizationCookie before any GetConfig result".into(),
                    "a GetConfig result first",
                    "no configuration".into(),
                ));
            }
            if let Some(url) = service_url
                && path_of(&url) != path_of(&ex.path)
            {
                out.push(v(
                    "C-03",
                    "GetAuthorizationCookie not sent to the configured ServiceUrl".into(),
                    &url,
                    ex.path.clone(),
                ));
            }
        }
        // C-05: the handshake order GetConfig, GetAuthorizationCookie, GetCookie.
        if op == Operation::GetConfig {
            o.in_handshake = true;
        } else if o.in_handshake && op == Operation::GetCookie {
            o.in_handshake = false;
            if !have_auth && first_contact {
                out.push(v(
                    "C-05",
                    "GetCookie without a preceding GetAuthorizationCookie in the handshake".into(),
                    "GetConfig, GetAuthorizationCookie, then GetCookie",
                    "GetCookie without an authorization cookie".into(),
                ));
            }
        } else if o.in_handshake
            && op.service() == Service::Client
            && first_contact
            && !have_auth
            && op != Operation::GetAuthorizationCookie
        {
            o.in_handshake = false;
            out.push(v(
                "C-05",
                format!("{op} before the first GetCookie of the handshake"),
                "no Client-service call but GetConfig before the first GetCookie",
                op.to_string(),
            ));
        }
        match req {
            Request::SyncUpdates(m) => {
                let lists = Lists::of(m);
                let p = m.parameters.value();
                // C-25: drivers belong in CachedDriverIDs.
                let mut misplaced: Vec<i32> = lists
                    .installed
                    .iter()
                    .chain(&lists.other)
                    .filter(|i| drivers.contains(i))
                    .copied()
                    .collect();
                misplaced.sort_unstable();
                if !misplaced.is_empty() {
                    out.push(v(
                        "C-25",
                        format!(
                            "{} driver revision(s) listed in the software lists",
                            misplaced.len()
                        ),
                        "drivers in CachedDriverIDs",
                        quote(&misplaced),
                    ));
                }
                // C-29: no extra software call once the loop ended.
                if lists.software && sw_done && o.loop_done_in == Some(si) {
                    out.push(v(
                        "C-29",
                        "another software SyncUpdates after the loop ended (Truncated=false, no non-leaf update)".into(),
                        "the driver pass or the end of the scan",
                        "one more software SyncUpdates".into(),
                    ));
                }
                // C-31 / C-32: category filter gates.
                let filter: Vec<String> = p
                    .map(|p| {
                        p.filter_category_ids
                            .items()
                            .iter()
                            .filter_map(|c| c.id.value().map(|g| g.normalized()))
                            .collect()
                    })
                    .unwrap_or_default();
                let gated = p.is_some_and(|p| {
                    p.filter_category_ids.is_present()
                        || p.need_two_group_out_of_scope_updates.is_present()
                });
                if gated
                    && let (Some(c), Some(s)) = (ver_c, ver_s)
                    && (c < (1, 7) || s < (3, 2))
                {
                    out.push(v(
                        "C-31",
                        "FilterCategoryIds or NeedTwoGroupOutOfScopeUpdates sent below protocol 1.7 / server 3.2".into(),
                        "client >= 1.7 and server >= 3.2",
                        format!("client {c:?}, server {s:?}"),
                    ));
                }
                if !filter.is_empty() {
                    match &o.preferred {
                        Some((s, preferred)) if *s == si => {
                            let extra: Vec<&String> =
                                filter.iter().filter(|f| !preferred.contains(*f)).collect();
                            if !extra.is_empty() {
                                out.push(v(
                                    "C-32",
                                    "FilterCategoryIds not among the preferredCategoryIds".into(),
                                    "a subset of StartCategoryScan's preferredCategoryIds",
                                    format!("{extra:?}"),
                                ));
                            }
                        }
                        _ => out.push(v(
                            "C-32",
                            "FilterCategoryIds without a StartCategoryScan in the session".into(),
                            "StartCategoryScan before a filtered SyncUpdates",
                            "no StartCategoryScan".into(),
                        )),
                    }
                }
                // C-48 (OBS): what native WUA never does.
                let empty_arrays = first_sw_call
                    && lists.software
                    && p.is_some_and(|p| {
                        matches!(
                            p.installed_non_leaf_update_ids,
                            wusp::Field::Empty | wusp::Field::Nil
                        ) || matches!(
                            p.other_cached_update_ids,
                            wusp::Field::Empty | wusp::Field::Nil
                        )
                    });
                let driver_ids = p.is_some_and(|p| p.cached_driver_ids.is_present());
                if (empty_arrays || driver_ids) && o.c48_in != Some(si) {
                    o.c48_in = Some(si);
                    out.push(v(
                        "C-48",
                        "the client differs from native Windows Update Agent".into(),
                        "empty ID arrays omitted on the first call, no CachedDriverIDs",
                        format!(
                            "{}{}",
                            if empty_arrays {
                                "empty ID arrays sent; "
                            } else {
                                ""
                            },
                            if driver_ids {
                                "CachedDriverIDs sent"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
            }
            Request::StartCategoryScan(m)
                if ver_s.is_some_and(|s| s < (3, 2)) || m.requested_categories.is_absent() =>
            {
                out.push(v(
                    "C-33",
                    "StartCategoryScan to a server below 3.2, or without requestedCategories"
                        .into(),
                    "server >= 3.2 and requestedCategories present",
                    format!(
                        "server {ver_s:?}, requestedCategories {}",
                        if m.requested_categories.is_absent() {
                            "absent"
                        } else {
                            "present"
                        }
                    ),
                ));
            }
            Request::GetExtendedUpdateInfo2(m) => {
                let bad_ids = m
                    .update_ids
                    .items()
                    .iter()
                    .filter(|u| {
                        !u.update_id.value().is_some_and(|g| g.is_well_formed())
                            || !u.revision_number.is_present()
                    })
                    .count();
                let bad_types: Vec<&str> = m
                    .info_types
                    .items()
                    .iter()
                    .filter(|t| !t.is_known())
                    .map(|t| t.as_str())
                    .collect();
                if bad_ids > 0 || !bad_types.is_empty() {
                    out.push(v(
                        "C-35",
                        "GetExtendedUpdateInfo2 with malformed identities or unknown infoTypes"
                            .into(),
                        "UpdateIdentity (GUID + RevisionNumber); XmlUpdateFragmentType values",
                        format!("{bad_ids} bad identities; infoTypes {bad_types:?}"),
                    ));
                }
            }
            Request::GetFileLocations(_) => o.stale_locations = None,
            _ => {}
        }
        for f in out {
            self.push(si, f);
        }
    }

    /// Order state after a reply.
    pub(super) fn order_reply(&mut self, si: usize, key: &(usize, String), ex: &Observed) {
        let done = self.sessions[si].loop_state.done;
        let o = &mut self.pair(key).order;
        match &ex.reply {
            Reply::Fault(f) => {
                o.loop_done_in = None;
                if f.error_code().map(ErrorCode::canonical) == Some(ErrorCode::FileLocationChanged)
                {
                    o.stale_locations = Some(ex.id.clone());
                }
            }
            Reply::Ok(Response::StartCategoryScan(r)) => {
                o.preferred = Some((
                    si,
                    r.preferred_category_ids
                        .items()
                        .iter()
                        .map(|g| g.normalized())
                        .collect(),
                ));
            }
            Reply::Ok(Response::SyncUpdates(_)) if done => o.loop_done_in = Some(si),
            _ => {}
        }
    }

    /// C-37: a download while a FileLocationChanged fault awaits GetFileLocations.
    pub(super) fn stale_download(&mut self, si: usize, key: &(usize, String), get_id: &str) {
        if let Some(at) = self.pair(key).order.stale_locations.take() {
            let f = Finding::new(
                known("C-37"),
                Status::Violated,
                "a download after FileLocationChanged without GetFileLocations first",
            )
            .at([at, get_id.to_string()])
            .versus("GetFileLocations before downloading again", "a content GET");
            self.push(si, f);
        }
    }

    /// C-01: a fresh first sync whose first call of the analysis was not GetConfig.
    pub(super) fn first_contact_rule(&mut self, si: usize, key: &(usize, String), id: &str) {
        let shared = self.clients[key.0].shared_address;
        let o = &self.pair(key).order;
        let first = o.first_op;
        if let Some(first) = first
            && first != Operation::GetConfig
        {
            // At a shared address the GetConfig may have been taken for another client's.
            let status = if !shared
                && matches!(
                    first,
                    Operation::GetAuthorizationCookie
                        | Operation::GetCookie
                        | Operation::StartCategoryScan
                ) {
                Status::Violated
            } else {
                Status::Unverifiable
            };
            let f = Finding::new(
                known("C-01"),
                status,
                format!(
                    "a first sync whose first Client/SimpleAuth call was {first}, not GetConfig"
                ),
            )
            .at([id.to_string()])
            .versus("GetConfig first on first contact", first.to_string());
            self.push(si, f);
        }
    }
}
