//! Client-state rules over time: registration (C-10…C-12), cookies (C-08, C-16, C-40,
//! C-41), protocol versions (C-09), file locations (C-36), RefreshCache (C-38) and the
//! recovery order after a fault (C-39).

use std::collections::HashSet;

use wusp::messages::{GetCookie, GetFileLocations, RegisterComputer};
use wusp::ops::Service;
use wusp::types::ComputerInfo;
use wusp::{ErrorCode, Operation, Request};

use super::{CookieKey, Engine, cookie_key, request_cookie};
use crate::catalogue::{Level, known};
use crate::finding::{Finding, Profile, Status};
use crate::input::{Observed, Reply};

/// What the client did that later calls are judged against.
#[derive(Default)]
pub(super) struct ClientState {
    /// Requests of this client to this server seen so far.
    requests: u32,
    /// The first request seen was GetConfig: the analysis may have the client from first
    /// contact (or from a re-handshake; see `fresh_seen`).
    pub(super) first_contact: bool,
    /// The analysis saw this client's first sync with an empty cache: everything it was
    /// issued since is known.
    pub(super) fresh_seen: bool,
    registered: bool,
    c10_reported: bool,
    /// A digest of the last computerInfo registered (C-12 only compares them).
    last_computer_info: Option<u128>,
    registration_fault: bool,
    /// Cookies rejected with InvalidCookie or ServerChanged (C-40).
    rejected: HashSet<CookieKey>,
    /// The cookie rejected with CookieExpired, expected as the next oldCookie (C-41).
    expired: Option<(CookieKey, String)>,
    recovery: Option<Recovery>,
    /// InvalidCookie/ServerChanged seen: RefreshCache becomes legitimate after GetCookie.
    refresh_pending: bool,
    refresh_allowed: bool,
}

/// The recovery calls still expected after a fault (C-39).
struct Recovery {
    code: ErrorCode,
    steps: Vec<Operation>,
    next: usize,
    at: String,
}

/// A digest of a computerInfo's content: equal digests for structurally equal values (the
/// debug form of a value detached from its document names every field and nothing else).
fn info_digest(info: Option<&ComputerInfo>) -> Option<u128> {
    let mut info = info?.clone();
    info.source = wusp::xml::Source::default();
    Some(super::digest(4, &format!("{info:?}")))
}

/// `x.y` with decimal digits on both sides.
fn is_two_part(v: &str) -> bool {
    match v.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

impl Engine {
    /// Rules judged on a request against the client's earlier behaviour.
    pub(super) fn state_request_rules(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        req: &Request,
    ) {
        let op = ex.op();
        let id = ex.id.as_str();
        let profile = self.profile;
        let mut out: Vec<Finding> = Vec::new();
        let pair = self.pair(key);
        let reg_required = pair
            .config
            .as_ref()
            .and_then(|c| c.is_registration_required.value().copied());
        let sent = request_cookie(req).and_then(cookie_key);
        let sent_expiry = sent.and_then(|k| pair.issued.get(&k).copied().flatten());
        let known_cookie = |k: CookieKey| pair.issued.contains_key(&k) || pair.adopted.contains(&k);
        let old_cookie = match req {
            Request::GetCookie(GetCookie { old_cookie, .. }) => cookie_key(old_cookie),
            _ => None,
        };
        let old_known = old_cookie.map(known_cookie);
        // A first sync from an empty cache: a client that never synced (so never registered).
        let fresh_sync = matches!(req, Request::SyncUpdates(m) if super::Lists::of(m).is_empty())
            && pair.known.is_empty()
            && !pair.enumerated;
        let st = &mut pair.state;
        if st.requests == 0 {
            st.first_contact = op == Operation::GetConfig;
        }
        st.requests += 1;
        let v = |rule: &'static str, msg: String, exp: &str, obs: String| {
            Finding::new(known(rule), Status::Violated, msg)
                .at([id.to_string()])
                .versus(exp, obs)
        };

        // C-39: the calls after a fault follow the recovery order.
        if op.service() != Service::Reporting
            && let Some(rec) = st.recovery.as_mut()
        {
            let expected = rec.steps[rec.next];
            let optional_config =
                rec.code == ErrorCode::CookieExpired && rec.next == 0 && op == Operation::GetConfig;
            if op == expected {
                rec.next += 1;
                if rec.next == rec.steps.len() {
                    st.recovery = None;
                }
            } else if !optional_config {
                let steps: Vec<&str> = rec.steps.iter().map(|o| o.name()).collect();
                out.push(
                    Finding::new(
                        known("C-39"),
                        Status::Violated,
                        format!(
                            "after the {} fault the next call must be {expected}, not {op}",
                            rec.code
                        ),
                    )
                    .at([rec.at.clone(), id.to_string()])
                    .versus(steps.join(", "), format!("{op} as call {}", rec.next + 1)),
                );
                st.recovery = None;
            }
        }
        // C-40: a rejected cookie is not sent again.
        for c in sent.iter().chain(old_cookie.iter()) {
            if st.rejected.contains(c) {
                out.push(v(
                    "C-40",
                    format!("{op} sends a cookie the server rejected with InvalidCookie or ServerChanged"),
                    "the rejected cookie discarded",
                    "the rejected cookie again".into(),
                ));
            }
        }
        // C-41: after CookieExpired the next GetCookie passes the expired cookie.
        if op == Operation::GetCookie
            && let Some((expired, at)) = st.expired.take()
            && old_cookie != Some(expired)
        {
            out.push(
                Finding::new(
                    known("C-41"),
                    Status::Violated,
                    "GetCookie after CookieExpired does not pass the expired cookie as oldCookie",
                )
                .at([at, id.to_string()])
                .versus(
                    "oldCookie = the expired cookie",
                    if old_cookie.is_some() {
                        "another cookie"
                    } else {
                        "no oldCookie"
                    },
                ),
            );
        }
        // C-16: the cookie sent has not expired.
        if let Some(exp) = sent_expiry
            && exp <= ex.time
        {
            out.push(v(
                "C-16",
                format!("{op} sends a cookie that expired before the request"),
                "a cookie whose Expiration is later than the request time (renew first)",
                format!("Expiration {}", exp.to_rfc3339().unwrap_or_default()),
            ));
        }
        // C-10 / C-11 / C-12: registration.
        if op == Operation::SyncUpdates
            && reg_required == Some(true)
            && st.first_contact
            && (st.fresh_seen || fresh_sync)
            && !st.registered
            && !st.c10_reported
        {
            st.c10_reported = true;
            out.push(v(
                "C-10",
                "SyncUpdates before RegisterComputer although the configuration requires registration".into(),
                "RegisterComputer after GetCookie and before the first SyncUpdates",
                "no RegisterComputer".into(),
            ));
        }
        if let Request::RegisterComputer(RegisterComputer { computer_info, .. }) = req {
            if reg_required == Some(false) {
                out.push(v(
                    "C-11",
                    "RegisterComputer although IsRegistrationRequired=false".into(),
                    "no RegisterComputer",
                    "RegisterComputer".into(),
                ));
            }
            if st.last_computer_info.is_some()
                && st.last_computer_info == info_digest(computer_info.value())
                && !st.registration_fault
            {
                out.push(v(
                    "C-12",
                    "RegisterComputer repeated with unchanged computerInfo and no RegistrationRequired fault".into(),
                    "RegisterComputer only when computerInfo changed or after RegistrationRequired",
                    "the same computerInfo again".into(),
                ));
            }
        }
        // C-08: oldCookie was issued by this server.
        if old_known == Some(false) {
            let status = if st.fresh_seen {
                Status::Violated
            } else {
                Status::Unverifiable
            };
            out.push(
                Finding::new(
                    known("C-08"),
                    status,
                    "GetCookie oldCookie is not a cookie this server issued in this analysis",
                )
                .at([id.to_string()])
                .versus(
                    "a cookie from a GetCookie result or a NewCookie of this server",
                    "an unknown cookie",
                ),
            );
        }
        // C-09: protocolVersion is x.y (1.8 per spec; native 2.x is informational).
        let version = match req {
            Request::GetConfig(m) => m.protocol_version.value(),
            Request::GetCookie(m) => m.protocol_version.value(),
            _ => None,
        };
        if let Some(ver) = version {
            if !is_two_part(ver) {
                out.push(v(
                    "C-09",
                    format!("{op} protocolVersion is not a two-part x.y string"),
                    "x.y (1.8 per spec)",
                    ver.clone(),
                ));
            } else if ver != "1.8" && profile == Profile::Spec {
                let mut f = v(
                    "C-09",
                    format!(
                        "{op} protocolVersion {ver} is not the spec's 1.8 (native Windows sends 2.x)"
                    ),
                    "1.8",
                    ver.clone(),
                );
                f.level = Level::Obs;
                out.push(f);
            }
        }
        // C-36: GetFileLocations digests.
        if let Request::GetFileLocations(GetFileLocations { file_digests, .. }) = req {
            let bad = file_digests
                .items()
                .iter()
                .filter(|d| d.bytes().is_none_or(|b| b.len() != 20))
                .count();
            if file_digests.is_absent() || bad > 0 {
                out.push(v(
                    "C-36",
                    "GetFileLocations without fileDigests or with digests that are not 20 bytes"
                        .into(),
                    "fileDigests, each 20 bytes",
                    if file_digests.is_absent() {
                        "no fileDigests".into()
                    } else {
                        format!("{bad} bad digest(s)")
                    },
                ));
            }
        }
        // C-38: RefreshCache only after InvalidCookie/ServerChanged and the new handshake.
        if let Request::RefreshCache(m) = req {
            if !st.refresh_allowed {
                out.push(v(
                    "C-38",
                    "RefreshCache without a preceding InvalidCookie or ServerChanged fault and new handshake".into(),
                    "InvalidCookie/ServerChanged, GetConfig, GetAuthorizationCookie, GetCookie, then RefreshCache",
                    "RefreshCache".into(),
                ));
            }
            if m.global_ids.is_absent() {
                out.push(v(
                    "C-38",
                    "RefreshCache without globalIDs".into(),
                    "globalIDs present",
                    "absent".into(),
                ));
            }
        } else if op.service() != Service::Reporting {
            st.refresh_allowed = false;
        }
        for f in out {
            self.push(si, f);
        }
    }

    /// Updates the client state from the reply of a request.
    pub(super) fn state_reply(
        &mut self,
        _si: usize,
        key: &(usize, String),
        ex: &Observed,
        req: &Request,
    ) {
        let sent = request_cookie(req).and_then(cookie_key);
        let pair = self.pair(key);
        let empty_cache = pair.known.is_empty();
        let st = &mut pair.state;
        match &ex.reply {
            Reply::Fault(f) => {
                let Some(code) = f.error_code().map(ErrorCode::canonical) else {
                    return;
                };
                let mut steps: Vec<Operation> = match code {
                    ErrorCode::InvalidCookie
                    | ErrorCode::ServerChanged
                    | ErrorCode::ConfigChanged
                    | ErrorCode::CookieExpired
                    | ErrorCode::RegistrationRequired => code.recovery().steps.to_vec(),
                    _ => Vec::new(),
                };
                // With nothing cached there is nothing to re-key.
                if empty_cache {
                    steps.retain(|o| *o != Operation::RefreshCache);
                }
                // The server answers that this client needs no registration: C-10 is met
                // (reference 4.2: the client stops calling RegisterComputer).
                if code == ErrorCode::RegistrationNotRequired
                    && matches!(req, Request::RegisterComputer(_))
                {
                    st.registered = true;
                    st.registration_fault = false;
                }
                if code == ErrorCode::RegistrationRequired {
                    steps.push(Operation::SyncUpdates);
                    st.registration_fault = true;
                }
                if code.recovery().discard_cookie
                    && let Some(c) = &sent
                {
                    st.rejected.insert(*c);
                }
                if matches!(code, ErrorCode::InvalidCookie | ErrorCode::ServerChanged) {
                    st.refresh_pending = true;
                }
                if code == ErrorCode::CookieExpired
                    && let Some(c) = &sent
                {
                    st.expired = Some((*c, ex.id.clone()));
                }
                st.recovery = (!steps.is_empty()).then(|| Recovery {
                    code,
                    steps,
                    next: 0,
                    at: ex.id.clone(),
                });
            }
            Reply::Ok(_) => match req {
                Request::RegisterComputer(m) => {
                    st.registered = true;
                    st.registration_fault = false;
                    st.last_computer_info = info_digest(m.computer_info.value());
                }
                Request::GetCookie(_) if st.refresh_pending => {
                    st.refresh_pending = false;
                    st.refresh_allowed = true;
                }
                _ => {}
            },
            Reply::Undecodable(_) => {}
        }
    }
}
