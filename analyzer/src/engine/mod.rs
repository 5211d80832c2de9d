//! The rule engine: exchanges in time order → sessions per client and server, the
//! client-cache model `Known` (reference 6.2) carried across sessions and captures, and the
//! findings of every implemented rule.

use std::collections::{BTreeSet, HashMap, HashSet};

use captures::Timestamp;
use wusp::messages::{
    GetAuthorizationCookie, GetCookie, GetExtendedUpdateInfo, GetExtendedUpdateInfoResponse,
    SyncUpdates, SyncUpdatesResponse,
};
use wusp::ops::Service;
use wusp::types::{Config, Cookie, UpdateInfo};
use wusp::{ErrorCode, Field, Operation, Request, Response};

use crate::catalogue::{Level, known};
use crate::finding::{Finding, Profile, Status};
use crate::input::{Observed, Reply};
use crate::report::{CacheCounts, ExchangeEntry, Session, SessionKind};

mod content;
mod delivery;
mod order;
mod reporting;
mod server;
mod state;

/// A gap after which the next exchange of a client starts a new session.
const SESSION_GAP_SECS: i64 = 30 * 60;
/// At most this many IDs are quoted in one message.
const QUOTE: usize = 8;

/// One cached revision as the analyzer knows it (reference 6.2 `Known`).
#[derive(Clone, Debug, Default)]
struct KnownRev {
    /// Latest IsLeaf delivered (NewUpdates, ChangedUpdates, RefreshCache).
    is_leaf: Option<bool>,
    /// Core fragment says UpdateType=Driver.
    driver: bool,
    /// Extended fragments this server returned: (fragment type, locale or "").
    fragments: HashSet<(String, String)>,
}

/// A client as identified so far.
#[derive(Clone, Debug)]
struct Client {
    /// ClientID from GetAuthorizationCookie, once seen.
    client_id: Option<String>,
    /// First address seen.
    ip: Option<String>,
}

impl Client {
    fn label(&self) -> String {
        match (&self.client_id, &self.ip) {
            (Some(id), _) => id.clone(),
            (None, Some(ip)) => format!("client at {ip}"),
            (None, None) => "unknown client".into(),
        }
    }
}

/// What the analyzer knows about one client with one server, across sessions and captures.
#[derive(Default)]
struct Pair {
    known: HashMap<i32, KnownRev>,
    out_of_scope: HashSet<i32>,
    /// The client's cache has been enumerated (a fresh first sync, or its first SyncUpdates).
    enumerated: bool,
    /// Pages are missing from the capture (C-28): Known may lack what they delivered.
    known_incomplete: bool,
    /// The installed list of the client's latest software SyncUpdates.
    last_installed: HashSet<i32>,
    /// IDs delivered in NewUpdates of the latest software page, to be listed next (C-27).
    pending: Vec<(i32, String)>,
    /// Cookies this server issued to this client (EncryptedData) with their Expiration.
    issued: HashMap<String, Option<Timestamp>>,
    latest_cookie: Option<String>,
    /// Cookies sent that this analysis did not see issued (reported once, then accepted).
    adopted: HashSet<String>,
    config: Option<Config>,
    auth_cookie: Option<(String, String)>,
    dns_name: Option<String>,
    /// A fault since the last GetConfig / handshake (C-17, C-18).
    fault_since_handshake: Option<ErrorCode>,
    /// The cache as RefreshCache re-keys it (batches), replacing Known at the next other call.
    refreshing: Option<HashMap<i32, KnownRev>>,
    session: Option<usize>,
    last_time: Option<Timestamp>,
    last_file: usize,
    /// Client-state rules (C-08…C-41): faults, recovery, registration.
    state: state::ClientState,
    /// Server-side facts for the S rules.
    server: server::ServerFacts,
    /// File locations and sizes this server gave the client (content rules).
    files: content::Files,
    /// EventInstanceIDs reported so far (C-42).
    events: reporting::Seen,
    /// Call-order facts (C-01, C-05, C-29, C-32, C-37).
    order: order::Order,
}

/// Where the software loop stands in a session.
#[derive(Clone, Debug, Default)]
struct LoopState {
    /// The loop must go on: the response that requires it and why (C-28).
    must_continue: Option<(String, &'static str)>,
    /// Software pages answered.
    pages: u32,
    /// The loop ended (Truncated=false, no non-leaf).
    done: bool,
}

/// A session being built.
struct Building {
    pair: (usize, String),
    session: Session,
    sw_requests: u32,
    driver_passes: u32,
    loop_state: LoopState,
    new_updates: usize,
    resent: usize,
    refetched: usize,
    handshake: Vec<&'static str>,
    cache_known_from_history: bool,
}

/// The engine: feed it decoded exchanges in time order, then take the sessions.
pub(crate) struct Engine {
    profile: Profile,
    clients: Vec<Client>,
    by_client_id: HashMap<String, usize>,
    by_ip: HashMap<String, usize>,
    by_cookie: HashMap<String, usize>,
    /// Which server issued a cookie (C-15: a cookie from another server).
    cookie_server: HashMap<String, String>,
    pairs: HashMap<(usize, String), Pair>,
    sessions: Vec<Building>,
}

fn cookie_key(c: &Field<Cookie>) -> Option<String> {
    Some(c.value()?.encrypted_data.value()?.0.clone())
}

fn cookie_expiration(c: &Cookie) -> Option<Timestamp> {
    c.expiration
        .value()?
        .instant()
        .map(Timestamp::from_datetime)
}

/// The `cookie` a request carries, for operations that take one.
fn request_cookie(r: &Request) -> Option<&Field<Cookie>> {
    Some(match r {
        Request::RegisterComputer(m) => &m.cookie,
        Request::SyncUpdates(m) => &m.cookie,
        Request::SyncPrinterCatalog(m) => &m.cookie,
        Request::RefreshCache(m) => &m.cookie,
        Request::GetExtendedUpdateInfo(m) => &m.cookie,
        Request::GetExtendedUpdateInfo2(m) => &m.cookie,
        Request::GetFileLocations(m) => &m.cookie,
        Request::ReportEventBatch(m) => &m.cookie,
        Request::GetRequiredInventoryType(m) => &m.cookie,
        Request::ReportInventory(m) => &m.cookie,
        _ => return None,
    })
}

fn quote(ids: &[i32]) -> String {
    let mut s: Vec<String> = ids.iter().take(QUOTE).map(i32::to_string).collect();
    if ids.len() > QUOTE {
        s.push(format!("… ({} in all)", ids.len()));
    }
    s.join(", ")
}

fn is_driver_xml(u: &UpdateInfo) -> bool {
    u.xml
        .value()
        .and_then(|x| x.text().ok())
        .and_then(|t| wusp::fragment::CoreFragment::parse(&t).ok())
        .is_some_and(|c| c.is_driver())
}

/// The three cached lists of a SyncUpdates request.
struct Lists {
    installed: Vec<i32>,
    other: Vec<i32>,
    drivers: Vec<i32>,
    software: bool,
}

impl Lists {
    fn of(m: &SyncUpdates) -> Lists {
        let p = m.parameters.value();
        let items = |f: Option<&Field<Vec<i32>>>| f.map(|f| f.items().to_vec()).unwrap_or_default();
        Lists {
            installed: items(p.map(|p| &p.installed_non_leaf_update_ids)),
            other: items(p.map(|p| &p.other_cached_update_ids)),
            drivers: items(p.map(|p| &p.cached_driver_ids)),
            software: p.and_then(|p| p.skip_software_sync.value().copied()) != Some(true),
        }
    }
    fn all(&self) -> impl Iterator<Item = i32> + '_ {
        self.installed
            .iter()
            .chain(&self.other)
            .chain(&self.drivers)
            .copied()
    }
    fn set(&self) -> HashSet<i32> {
        self.all().collect()
    }
    fn is_empty(&self) -> bool {
        self.installed.is_empty() && self.other.is_empty() && self.drivers.is_empty()
    }
}

impl Engine {
    /// An engine measuring against `profile`.
    pub(crate) fn new(profile: Profile) -> Engine {
        Engine {
            profile,
            clients: Vec::new(),
            by_client_id: HashMap::new(),
            by_ip: HashMap::new(),
            by_cookie: HashMap::new(),
            cookie_server: HashMap::new(),
            pairs: HashMap::new(),
            sessions: Vec::new(),
        }
    }

    /// The sessions found, in the order they started.
    pub(crate) fn finish(mut self) -> Vec<Session> {
        for i in 0..self.sessions.len() {
            self.close(i);
        }
        self.sessions.into_iter().map(|b| b.session).collect()
    }

    fn new_client(&mut self, ip: Option<&String>) -> usize {
        self.clients.push(Client {
            client_id: None,
            ip: ip.cloned(),
        });
        self.clients.len() - 1
    }

    /// Which client sent this request: ClientID, then cookie lineage, then address.
    fn resolve_client(&mut self, ex: &Observed) -> usize {
        let ip = ex.client_ip.as_ref();
        let mut found = None;
        if let Ok(Request::GetAuthorizationCookie(GetAuthorizationCookie { client_id, .. })) =
            &ex.request
            && let Some(id) = client_id.value()
        {
            let id = id.to_ascii_lowercase();
            let c = match self.by_client_id.get(&id) {
                Some(&c) => c,
                None => {
                    let c = match ip.and_then(|ip| self.by_ip.get(ip)) {
                        Some(&c) if self.clients[c].client_id.is_none() => c,
                        _ => self.new_client(ip),
                    };
                    self.clients[c].client_id = Some(id.clone());
                    self.by_client_id.insert(id, c);
                    c
                }
            };
            found = Some(c);
        }
        if found.is_none()
            && let Ok(req) = &ex.request
        {
            let mut keys = Vec::new();
            if let Some(c) = request_cookie(req).and_then(cookie_key) {
                keys.push(c);
            }
            if let Request::GetCookie(GetCookie {
                old_cookie,
                auth_cookies,
                ..
            }) = req
            {
                keys.extend(cookie_key(old_cookie));
                for a in auth_cookies.items() {
                    if let Some(d) = a.cookie_data.value() {
                        keys.push(format!("auth:{}", d.0));
                    }
                }
            }
            found = keys.iter().find_map(|k| self.by_cookie.get(k).copied());
        }
        let c = match found {
            Some(c) => c,
            None => match ip.and_then(|ip| self.by_ip.get(ip)) {
                Some(&c) => c,
                None => self.new_client(ip),
            },
        };
        if let Some(ip) = ip {
            self.by_ip.insert(ip.clone(), c);
        }
        c
    }

    /// Judges one exchange.
    pub(crate) fn feed(&mut self, ex: &Observed) {
        let client = self.resolve_client(ex);
        let key = (client, ex.server.clone());
        let op = ex.op();
        let si = self.session_for(&key, ex);
        let page = {
            let b = &self.sessions[si];
            match (&ex.request, op) {
                (Ok(Request::SyncUpdates(m)), Operation::SyncUpdates) if Lists::of(m).software => {
                    Some(b.sw_requests + 1)
                }
                _ => None,
            }
        };
        self.sessions[si].session.exchanges.push(ExchangeEntry {
            id: ex.id.clone(),
            operation: op.name().to_string(),
            page,
        });
        self.transport_rules(si, ex);
        if op != Operation::RefreshCache {
            let pair = self.pair(&key);
            if let Some(fresh) = pair.refreshing.take() {
                pair.known = fresh;
                pair.out_of_scope.clear();
                pair.pending.clear();
            }
        }
        match &ex.request {
            Ok(req) => {
                self.state_request_rules(si, &key, ex, req);
                self.order_rules(si, &key, ex, req);
                self.request_rules(si, &key, ex, req);
                self.server_rules(si, &key, ex, req);
                self.reply_rules(si, &key, ex, Some(req));
                self.state_reply(si, &key, ex, req);
                self.order_reply(si, &key, ex);
            }
            Err(why) => {
                let f = Finding::new(
                    known("T-10"),
                    Status::Violated,
                    format!("{op} request does not decode: {why}"),
                )
                .at([ex.id.clone()])
                .versus(
                    "a well-formed SOAP 1.1 request conforming to the WSDL",
                    why.clone(),
                );
                self.push(si, f);
                // The call happened: a SyncUpdates continues the loop; its answer still
                // teaches the cache.
                if op == Operation::SyncUpdates {
                    self.sessions[si].loop_state.must_continue = None;
                }
                self.reply_rules(si, &key, ex, None);
            }
        }
        let pair = self.pair(&key);
        pair.last_time = Some(ex.time);
        pair.last_file = ex.file;
    }

    fn pair(&mut self, key: &(usize, String)) -> &mut Pair {
        self.pairs.entry(key.clone()).or_default()
    }

    /// Reports a violation of `rule` at one exchange.
    fn violated(
        &mut self,
        si: usize,
        rule: &'static str,
        at: &str,
        message: String,
        expected: impl Into<String>,
        observed: impl Into<String>,
    ) {
        let f = Finding::new(known(rule), Status::Violated, message)
            .at([at.to_string()])
            .versus(expected, observed);
        self.push(si, f);
    }

    fn push(&mut self, si: usize, mut f: Finding) {
        f.profile = self.profile;
        self.sessions[si].session.findings.push(f);
    }

    /// The session this exchange belongs to, opening a new one when needed.
    fn session_for(&mut self, key: &(usize, String), ex: &Observed) -> usize {
        let is_sw_sync =
            matches!(&ex.request, Ok(Request::SyncUpdates(m)) if Lists::of(m).software);
        self.session_at(key, ex.time, ex.file, Some(ex.op()), is_sw_sync)
    }

    /// The session of an exchange at `time` in input `file` (`op`: its web method, if any).
    fn session_at(
        &mut self,
        key: &(usize, String),
        time: Timestamp,
        file: usize,
        op: Option<Operation>,
        is_sw_sync: bool,
    ) -> usize {
        let pair = self.pair(key);
        let fault = pair.fault_since_handshake.is_some();
        let current = pair.session;
        let gap = pair
            .last_time
            .is_some_and(|t| time.since(t).whole_seconds() > SESSION_GAP_SECS);
        let other_file = current.is_some() && pair.last_file != file;
        let restart = current.is_some_and(|si| {
            let b = &self.sessions[si];
            (op == Some(Operation::GetConfig) && b.sw_requests > 0 && !fault)
                || (is_sw_sync && b.driver_passes > 0 && b.loop_state.must_continue.is_none())
        });
        if let Some(si) = current
            && !gap
            && !other_file
            && !restart
        {
            return si;
        }
        if let Some(si) = current {
            self.close(si);
        }
        let si = self.sessions.len();
        let label = self.clients[key.0].label();
        self.sessions.push(Building {
            pair: key.clone(),
            session: Session {
                id: format!("s{}", si + 1),
                client: label,
                server: key.1.clone(),
                kind: SessionKind::Unknown,
                verdict: String::new(),
                exchanges: Vec::new(),
                cache: CacheCounts::default(),
                findings: Vec::new(),
            },
            sw_requests: 0,
            driver_passes: 0,
            loop_state: LoopState::default(),
            new_updates: 0,
            resent: 0,
            refetched: 0,
            handshake: Vec::new(),
            cache_known_from_history: false,
        });
        self.pair(key).session = Some(si);
        si
    }

    /// End-of-session checks and the verdict line.
    fn close(&mut self, si: usize) {
        if !self.sessions[si].session.verdict.is_empty() {
            return;
        }
        if let Some((at, why)) = self.sessions[si].loop_state.must_continue.take() {
            let f = Finding::new(
                known("C-28"),
                Status::Unverifiable,
                format!("the session ends after a software SyncUpdates whose response had {why}; the capture may have been cut"),
            )
            .at([at])
            .versus("another software SyncUpdates", "no further call in the session");
            self.push(si, f);
        }
        let label = self.clients[self.sessions[si].pair.0].label();
        let b = &mut self.sessions[si];
        b.session.client = label;
        b.session.verdict = verdict(b);
    }

    fn transport_rules(&mut self, si: usize, ex: &Observed) {
        let op = ex.op();
        let id = ex.id.clone();
        for (side, f) in [("request", ex.request_env), ("response", ex.reply_env)] {
            if f.soap12 {
                let finding = Finding::new(
                    known("T-01"),
                    Status::Violated,
                    format!("{op} {side} uses the SOAP 1.2 envelope"),
                )
                .at([id.clone()])
                .versus("SOAP 1.1 envelope namespace", "SOAP 1.2 envelope namespace");
                self.push(si, finding);
            }
            if f.has_header {
                let finding = Finding::new(
                    known("T-02"),
                    Status::Violated,
                    format!("{op} {side} envelope has a Header element"),
                )
                .at([id.clone()])
                .versus("no soap:Header", "a soap:Header element");
                self.push(si, finding);
            }
        }
        for d in &ex.ident.disagreements {
            let f = Finding::new(known("T-03"), Status::Violated, format!("{op}: {d}"))
                .at([id.clone()])
                .versus(
                    "path, SOAPAction and body root name the same operation",
                    d.clone(),
                );
            self.push(si, f);
        }
        if ex.response_xpress && !ex.accepts_xpress {
            let f = Finding::new(
                known("T-08"),
                Status::Violated,
                format!("{op} response is Xpress-encoded but the request did not offer xpress"),
            )
            .at([id.clone()])
            .versus(
                "Accept-Encoding listing xpress before an xpress response",
                "no xpress in Accept-Encoding",
            );
            self.push(si, f);
        }
        if ex.response_xpress
            && let Reply::Undecodable(why) = &ex.reply
            && why.to_ascii_lowercase().contains("xpress")
        {
            let f = Finding::new(
                known("T-08"),
                Status::Violated,
                format!("{op} response body is not valid Xpress: {why}"),
            )
            .at([id.clone()])
            .versus("Xpress blocks of reference 1.3", why.clone());
            self.push(si, f);
        }
        if matches!(op.service(), Service::Client | Service::SimpleAuth) && !ex.accepts_xpress {
            let f = Finding::new(
                known("T-09"),
                Status::Violated,
                format!("{op} request does not offer Accept-Encoding xpress"),
            )
            .at([id.clone()])
            .versus("Accept-Encoding including xpress", "xpress not offered");
            self.push(si, f);
        }
        let quoted = ex
            .soap_action
            .as_deref()
            .is_some_and(|a| a.trim().starts_with('"') && a.trim().ends_with('"'));
        let ct_ok = ex
            .content_type
            .as_deref()
            .is_some_and(|c| c.to_ascii_lowercase().replace(' ', "") == "text/xml;charset=utf-8");
        if !quoted || !ct_ok {
            let f = Finding::new(
                known("T-16"),
                Status::Violated,
                format!("{op} request headers differ from native WUA"),
            )
            .at([id.clone()])
            .versus(
                "SOAPAction double-quoted; Content-Type: text/xml; charset=utf-8",
                format!(
                    "SOAPAction {:?}; Content-Type {:?}",
                    ex.soap_action.as_deref().unwrap_or("(none)"),
                    ex.content_type.as_deref().unwrap_or("(none)")
                ),
            );
            self.push(si, f);
        }
        match &ex.reply {
            Reply::Fault(fault) => {
                if ex.status != 500 {
                    let f = Finding::new(
                        known("T-07"),
                        Status::Violated,
                        format!("{op} fault returned with HTTP {}", ex.status),
                    )
                    .at([id.clone()])
                    .versus("HTTP 500 for a SOAP fault", format!("HTTP {}", ex.status));
                    self.push(si, f);
                }
                let detail = fault.detail.value().or(fault.detail12.value());
                let code_ok = detail
                    .and_then(|d| d.error_code.value())
                    .is_some_and(ErrorCode::is_wusp);
                let id_ok = detail
                    .and_then(|d| d.id.value())
                    .is_some_and(wusp::values::Guid::is_well_formed);
                if !code_ok || !id_ok {
                    let observed = format!(
                        "ErrorCode {:?}, ID {:?}",
                        detail
                            .and_then(|d| d.error_code.value())
                            .map(|c| c.as_str().to_string()),
                        detail.and_then(|d| d.id.value()).map(|g| g.0.clone())
                    );
                    let f = Finding::new(
                        known("T-06"),
                        Status::Violated,
                        format!("{op} fault detail lacks a WUSP ErrorCode or an ID GUID"),
                    )
                    .at([id.clone()])
                    .versus(
                        "detail with an ErrorCode of table 4.2 and an ID GUID",
                        observed,
                    );
                    self.push(si, f);
                }
            }
            Reply::Ok(_) if ex.status != 200 => {
                let f = Finding::new(
                    known("T-07"),
                    Status::Violated,
                    format!("{op} success returned with HTTP {}", ex.status),
                )
                .at([id.clone()])
                .versus("HTTP 200 for a success", format!("HTTP {}", ex.status));
                self.push(si, f);
            }
            Reply::Undecodable(why) if ex.status == 200 || ex.status == 500 => {
                let f = Finding::new(
                    known("T-10"),
                    Status::Violated,
                    format!("{op} response does not decode: {why}"),
                )
                .at([id])
                .versus(
                    "a well-formed SOAP 1.1 response conforming to the WSDL",
                    why.clone(),
                );
                self.push(si, f);
            }
            _ => {}
        }
    }

    fn request_rules(&mut self, si: usize, key: &(usize, String), ex: &Observed, req: &Request) {
        let op = ex.op();
        let id = ex.id.clone();
        // C-14: cookie present.
        if op.takes_cookie()
            && let Some(c) = request_cookie(req)
            && cookie_key(c).is_none()
        {
            let f = Finding::new(
                known("C-14"),
                Status::Violated,
                format!("{op} request carries no cookie"),
            )
            .at([id.clone()])
            .versus("a cookie with EncryptedData", "no cookie");
            self.push(si, f);
        }
        // C-15: the cookie sent is the latest issued.
        if let Some(sent) = request_cookie(req).and_then(cookie_key) {
            self.check_cookie_sent(si, key, ex, &sent);
        }
        // C-28: the loop must go on before any other Client-service call.
        let continues = matches!(req, Request::SyncUpdates(m) if Lists::of(m).software);
        let recovery = matches!(
            op,
            Operation::GetConfig
                | Operation::GetCookie
                | Operation::GetAuthorizationCookie
                | Operation::RegisterComputer
                | Operation::RefreshCache
        );
        if continues {
            self.sessions[si].loop_state.must_continue = None;
        } else if op.service() == Service::Client
            && !recovery
            && let Some((at, why)) = self.sessions[si].loop_state.must_continue.take()
        {
            let f = Finding::new(
                known("C-28"),
                Status::Violated,
                format!(
                    "{op} sent while the software loop had to go on (the previous page had {why})"
                ),
            )
            .at([at, id.clone()])
            .versus("another software SyncUpdates", format!("{op}"));
            self.push(si, f);
            self.pair(key).known_incomplete = true;
        }
        if matches!(
            op,
            Operation::GetConfig | Operation::GetAuthorizationCookie | Operation::GetCookie
        ) {
            self.handshake_rules(si, key, ex, req);
        }
        match req {
            Request::SyncUpdates(m) => self.sync_request(si, key, ex, m),
            Request::GetExtendedUpdateInfo(m) => self.ext_request(si, key, ex, m),
            Request::ReportEventBatch(m) => self.reporting_rules(si, key, ex, m),
            Request::RegisterComputer(m) => {
                let pair = self.pair(key);
                if let (Some(dns), Some(ci)) = (
                    pair.dns_name.clone(),
                    m.computer_info.value().and_then(|c| c.dns_name.value()),
                ) && !dns.eq_ignore_ascii_case(ci)
                {
                    let f = Finding::new(
                        known("C-13"),
                        Status::Violated,
                        "RegisterComputer DnsName differs from the GetAuthorizationCookie dnsName",
                    )
                    .at([id])
                    .versus(dns, ci.clone());
                    self.push(si, f);
                }
            }
            _ => {}
        }
    }

    fn check_cookie_sent(&mut self, si: usize, key: &(usize, String), ex: &Observed, sent: &str) {
        let op = ex.op();
        let pair = self.pair(key);
        let latest = pair.latest_cookie.clone();
        let issued_here = pair.issued.contains_key(sent);
        if latest.as_deref() == Some(sent) || pair.adopted.contains(sent) {
            return;
        }
        let f = if issued_here {
            Finding::new(
                known("C-15"),
                Status::Violated,
                format!("{op} sends a superseded cookie"),
            )
            .versus(
                "the cookie of the latest GetCookie result or NewCookie",
                "a cookie this server replaced since",
            )
        } else if let Some(other) = self
            .cookie_server
            .get(sent)
            .filter(|s| **s != key.1)
            .cloned()
        {
            Finding::new(
                known("C-15"),
                Status::Violated,
                format!("{op} sends a cookie issued by another server ({other})"),
            )
            .versus(
                "a cookie issued by this server",
                format!("a cookie from {other}"),
            )
        } else {
            // A cookie never seen issued: adopt it as the client's current one.
            self.by_cookie.insert(sent.to_string(), key.0);
            let pair = self.pair(key);
            let first_seen = pair.issued.is_empty() && pair.adopted.is_empty();
            pair.adopted.insert(sent.to_string());
            if first_seen {
                Finding::new(known("C-02"), Status::Unverifiable, format!("{op} sends a cookie this analysis did not see issued (unknown cookie provenance)"))
                    .versus("a cookie issued earlier by this server (an earlier capture)", "a cookie of unknown provenance")
            } else {
                Finding::new(known("C-15"), Status::Unverifiable, format!("{op} sends a cookie this analysis did not see issued: the exchange that issued it may be missing from the capture"))
                    .versus("the cookie of the latest GetCookie result or NewCookie", "a cookie of unknown provenance")
            }
        };
        let f = f.at([ex.id.clone()]);
        self.push(si, f);
    }

    fn handshake_rules(&mut self, si: usize, key: &(usize, String), ex: &Observed, req: &Request) {
        let op = ex.op();
        let id = ex.id.clone();
        let in_diff = self.sessions[si].session.kind == SessionKind::Differential
            || self.pair(key).enumerated;
        let pair = self.pair(key);
        let fault = pair.fault_since_handshake.clone();
        let cookie_valid = pair
            .latest_cookie
            .as_ref()
            .and_then(|c| pair.issued.get(c).copied().flatten())
            .is_some_and(|exp| exp > ex.time);
        let had_config = pair.config.is_some();
        self.sessions[si].handshake.push(match op {
            Operation::GetConfig => "GetConfig",
            Operation::GetAuthorizationCookie => "GetAuthorizationCookie",
            _ => "GetCookie",
        });
        if op == Operation::GetConfig && had_config && fault.is_none() && in_diff {
            let f = Finding::new(known("C-17"), Status::Violated, "GetConfig repeated for the same server without a ConfigChanged, InvalidCookie or ServerChanged fault")
                .at([id.clone()])
                .versus("the cached configuration reused", "GetConfig again");
            self.push(si, f);
        }
        if op != Operation::GetConfig && cookie_valid && fault.is_none() {
            let f = Finding::new(
                known("C-18"),
                Status::Violated,
                format!("{op} while the cached cookie was unexpired and no fault asked for it"),
            )
            .at([id.clone()])
            .versus("the cached cookie reused", format!("{op}"));
            self.push(si, f);
        }
        match req {
            Request::GetAuthorizationCookie(m) => {
                let cid = m.client_id.value().cloned().unwrap_or_default();
                let cid_ok = !cid.is_empty()
                    && cid.len() <= 255
                    && cid
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                let dns = m.dns_name.value().cloned().unwrap_or_default();
                if !cid_ok || dns.is_empty() {
                    let f = Finding::new(
                        known("C-04"),
                        Status::Violated,
                        "GetAuthorizationCookie clientId or dnsName is empty or malformed",
                    )
                    .at([id.clone()])
                    .versus(
                        "clientId of 1-255 [a-z0-9-] and a non-empty dnsName",
                        format!("clientId {cid:?}, dnsName {dns:?}"),
                    );
                    self.push(si, f);
                }
                if !dns.is_empty() {
                    self.pair(key).dns_name = Some(dns);
                }
            }
            Request::GetCookie(m) => {
                let pair = self.pair(key);
                let auth = pair.auth_cookie.clone();
                let cfg_change = pair
                    .config
                    .as_ref()
                    .and_then(|c| c.last_change.value().cloned());
                let sent: Vec<(String, String)> = m
                    .auth_cookies
                    .items()
                    .iter()
                    .map(|a| {
                        (
                            a.plug_in_id.value().cloned().unwrap_or_default(),
                            a.cookie_data
                                .value()
                                .map(|d| d.0.clone())
                                .unwrap_or_default(),
                        )
                    })
                    .collect();
                if let Some(auth) = auth
                    && (sent.len() != 1 || sent[0] != auth)
                {
                    let f = Finding::new(
                        known("C-06"),
                        Status::Violated,
                        "GetCookie authCookies is not exactly the latest AuthorizationCookie",
                    )
                    .at([id.clone()])
                    .versus(
                        "one AuthorizationCookie equal to the latest GetAuthorizationCookie result",
                        format!(
                            "{} authorization cookie(s), {}",
                            sent.len(),
                            if sent.is_empty() {
                                "none"
                            } else {
                                "not the latest"
                            }
                        ),
                    );
                    self.push(si, f);
                }
                if let Some(cfg) = cfg_change {
                    let same = m
                        .last_change
                        .value()
                        .is_some_and(|lc| lc.same_instant(&cfg));
                    if !same {
                        let f = Finding::new(
                            known("C-07"),
                            Status::Violated,
                            "GetCookie lastChange differs from the configuration's LastChange",
                        )
                        .at([id])
                        .versus(
                            cfg.0.clone(),
                            m.last_change
                                .value()
                                .map(|d| d.0.clone())
                                .unwrap_or_else(|| "(absent)".into()),
                        );
                        self.push(si, f);
                    }
                }
            }
            _ => {}
        }
    }

    fn sync_request(&mut self, si: usize, key: &(usize, String), ex: &Observed, m: &SyncUpdates) {
        let id = ex.id.clone();
        let lists = Lists::of(m);
        let params = m.parameters.value();
        // C-19.
        let express = params.and_then(|p| p.express_query.value().copied());
        if params.is_none() || express != Some(false) {
            let f = Finding::new(
                known("C-19"),
                Status::Violated,
                "SyncUpdates without parameters or with ExpressQuery not false",
            )
            .at([id.clone()])
            .versus(
                "parameters with ExpressQuery=false",
                match (params.is_some(), express) {
                    (false, _) => "no parameters".to_string(),
                    (true, v) => format!("ExpressQuery {v:?}"),
                },
            );
            self.push(si, f);
        }
        // C-20.
        let has_spec = params
            .is_some_and(|p| p.system_spec.is_present() && !matches!(p.system_spec, Field::Nil));
        if has_spec && lists.software {
            let f = Finding::new(
                known("C-20"),
                Status::Violated,
                "SystemSpec sent in a software SyncUpdates",
            )
            .at([id.clone()])
            .versus(
                "SystemSpec only with SkipSoftwareSync=true",
                "SystemSpec with SkipSoftwareSync=false",
            );
            self.push(si, f);
        }
        // C-24: disjoint lists, no duplicates.
        let mut seen = HashSet::new();
        let dups: BTreeSet<i32> = lists.all().filter(|i| !seen.insert(*i)).collect();
        if !dups.is_empty() {
            let d: Vec<i32> = dups.into_iter().collect();
            let f = Finding::new(
                known("C-24"),
                Status::Violated,
                format!(
                    "{} revision ID(s) listed twice across the cached lists",
                    d.len()
                ),
            )
            .at([id.clone()])
            .versus("pairwise disjoint lists without duplicates", quote(&d));
            self.push(si, f);
        }
        if !lists.software {
            // Only answered driver passes count: a faulted one is retried (C-39).
            let b = &mut self.sessions[si];
            if b.driver_passes >= 1 {
                let f = Finding::new(
                    known("C-30"),
                    Status::Violated,
                    "a second driver pass in the session",
                )
                .at([id.clone()])
                .versus(
                    "at most one SyncUpdates with SkipSoftwareSync=true",
                    format!("driver pass #{}", b.driver_passes + 1),
                );
                self.push(si, f);
            }
        }
        let first_sw = lists.software && self.sessions[si].sw_requests == 0;
        let profile = self.profile;
        let pair = self.pair(key);
        let enumerated = pair.enumerated;
        let known_sw: HashSet<i32> = pair
            .known
            .iter()
            .filter(|(_, r)| !r.driver)
            .map(|(i, _)| *i)
            .collect();
        let sent = lists.set();
        let mut findings = Vec::new();
        // C-21 and the session kind.
        if first_sw {
            let kind = if pair.known.is_empty() && lists.is_empty() {
                SessionKind::First
            } else {
                SessionKind::Differential
            };
            let expected_inst = pair.last_installed.intersection(&known_sw).count();
            let cache = CacheCounts {
                installed_non_leaf_sent: lists
                    .installed
                    .iter()
                    .filter(|i| !enumerated || known_sw.contains(i))
                    .count(),
                other_cached_sent: lists
                    .other
                    .iter()
                    .filter(|i| !enumerated || known_sw.contains(i))
                    .count(),
                known: known_sw.len(),
                installed_non_leaf_expected: expected_inst,
                other_cached_expected: known_sw.len() - expected_inst,
            };
            // C-27 across sessions: every cached revision is listed (native profile).
            if enumerated {
                let mut missing: Vec<i32> = known_sw
                    .iter()
                    .filter(|i| !sent.contains(i))
                    .copied()
                    .collect();
                missing.sort_unstable();
                if !missing.is_empty() {
                    findings.push(
                        Finding::new(known("C-27"), if profile == Profile::Spec { Status::Unverifiable } else { Status::Violated },
                            format!("the first SyncUpdates of the session omits {} of {} cached revisions (cache not sent)", missing.len(), known_sw.len()))
                        .at([id.clone()])
                        .versus(format!("all {} revisions delivered earlier and not out of scope listed", known_sw.len()), format!("missing: {}", quote(&missing))),
                    );
                }
            }
            if kind == SessionKind::First {
                self.first_contact_rule(si, key, &id);
            }
            let b = &mut self.sessions[si];
            b.session.kind = kind;
            b.session.cache = cache;
            b.cache_known_from_history = enumerated;
        } else if lists.software {
            // C-27 within the session: IDs of the previous page are listed.
            let missing: Vec<(i32, String)> = pair
                .pending
                .iter()
                .filter(|(i, _)| !sent.contains(i))
                .cloned()
                .collect();
            if !missing.is_empty() {
                let ids: Vec<i32> = missing.iter().map(|(i, _)| *i).collect();
                let mut at: Vec<String> = missing.iter().map(|(_, e)| e.clone()).collect();
                at.dedup();
                at.push(id.clone());
                findings.push(
                    Finding::new(known("C-27"), if profile == Profile::Spec { Status::Unverifiable } else { Status::Violated },
                        format!("{} revision(s) delivered on the previous page are not listed on the next", ids.len()))
                    .at(at)
                    .versus("every NewUpdates ID of page n listed on page n+1", format!("missing: {}", quote(&ids))),
                );
            }
        }
        // C-21: a fresh cache sends no installed list on its first call.
        let pair = self.pair(key);
        if first_sw
            && !pair.enumerated
            && pair.known.is_empty()
            && !lists.installed.is_empty()
            && pair.config.is_some()
        {
            // The handshake is in this analysis and nothing was delivered: the cache is empty.
            findings.push(
                Finding::new(known("C-21"), Status::Violated, "the first SyncUpdates after a first-contact handshake lists installed non-leaf revisions")
                    .at([id.clone()])
                    .versus("no InstalledNonLeafUpdateIDs on the first call of an empty cache", format!("{} installed IDs", lists.installed.len())),
            );
        }
        // C-22: every listed ID is in Known; C-23: installed ones are non-leaf; C-26: not out of scope.
        let unknown: Vec<i32> = lists
            .all()
            .filter(|i| !pair.known.contains_key(i))
            .collect();
        let mut leaf: Vec<i32> = lists
            .installed
            .iter()
            .filter(|i| pair.known.get(i).and_then(|r| r.is_leaf) == Some(true))
            .copied()
            .collect();
        leaf.sort_unstable();
        let dropped: Vec<i32> = lists
            .all()
            .filter(|i| pair.out_of_scope.contains(i))
            .collect();
        if !unknown.is_empty() {
            let (status, msg) = if pair.known_incomplete {
                (
                    Status::Unverifiable,
                    format!(
                        "{} listed revision ID(s) are not in Known, which misses pages absent from the capture",
                        unknown.len()
                    ),
                )
            } else if pair.enumerated {
                (
                    Status::Violated,
                    format!(
                        "{} listed revision ID(s) were never delivered to this client by this server",
                        unknown.len()
                    ),
                )
            } else {
                (
                    Status::Unverifiable,
                    format!(
                        "{} listed revision ID(s) were learned before this analysis' first capture",
                        unknown.len()
                    ),
                )
            };
            let unknown_q: Vec<i32> = unknown
                .iter()
                .filter(|i| !dropped.contains(i))
                .copied()
                .collect();
            if !unknown_q.is_empty() {
                findings.push(
                    Finding::new(known("C-22"), status, msg)
                        .at([id.clone()])
                        .versus(
                            "IDs from NewUpdates, ChangedUpdates or RefreshCache of this server",
                            format!("not in Known: {}", quote(&unknown_q)),
                        ),
                );
            }
            if !pair.enumerated {
                for i in &unknown {
                    pair.known.entry(*i).or_default();
                }
            }
        }
        if !leaf.is_empty() {
            findings.push(
                Finding::new(known("C-23"), Status::Violated, format!("{} revision(s) delivered with IsLeaf=true are listed as installed non-leaf", leaf.len()))
                    .at([id.clone()])
                    .versus("only IsLeaf=false revisions in InstalledNonLeafUpdateIDs", quote(&leaf)),
            );
        }
        if !dropped.is_empty() {
            findings.push(
                Finding::new(
                    known("C-26"),
                    Status::Violated,
                    format!(
                        "{} revision(s) returned as out of scope are still listed",
                        dropped.len()
                    ),
                )
                .at([id.clone()])
                .versus("out-of-scope IDs dropped from the lists", quote(&dropped)),
            );
        }
        if lists.software {
            pair.enumerated = true;
            pair.pending.clear();
            pair.last_installed = lists.installed.iter().copied().collect();
            self.sessions[si].sw_requests += 1;
        }
        for f in findings {
            self.push(si, f);
        }
    }

    fn ext_request(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        m: &GetExtendedUpdateInfo,
    ) {
        let id = ex.id.clone();
        let ids = m.revision_ids.items();
        let types: Vec<String> = m
            .info_types
            .items()
            .iter()
            .map(|t| t.as_str().to_string())
            .collect();
        let locales: Vec<String> = m.locales.items().to_vec();
        let pair = self.pair(key);
        let max = pair.config.as_ref().and_then(|c| {
            c.properties
                .items()
                .iter()
                .find(|p| {
                    p.name
                        .value()
                        .is_some_and(|n| n == "MaxExtendedUpdatesPerRequest")
                })
                .and_then(|p| p.value.value())
                .and_then(|v| v.trim().parse::<usize>().ok())
        });
        let mut findings = Vec::new();
        // C-34.
        let needs_locales = types
            .iter()
            .any(|t| t == "Eula" || t == "LocalizedProperties");
        if types.is_empty() || (needs_locales && locales.is_empty()) {
            findings.push(
                Finding::new(known("C-34"), Status::Violated, "GetExtendedUpdateInfo without infoTypes, or without locales for localized types")
                    .at([id.clone()])
                    .versus("infoTypes present; locales when Eula or LocalizedProperties is asked", format!("infoTypes [{}], locales [{}]", types.join(", "), locales.join(", "))),
            );
        }
        match max {
            Some(max) if ids.len() > max => findings.push(
                Finding::new(known("C-34"), Status::Violated, format!("GetExtendedUpdateInfo asks for {} revisions, above MaxExtendedUpdatesPerRequest {max}", ids.len()))
                    .at([id.clone()])
                    .versus(format!("at most {max} revisionIDs"), format!("{} revisionIDs", ids.len())),
            ),
            Some(max) if ids.len() == max => findings.push(
                Finding::new(known("C-34"), Status::Unverifiable, format!("GetExtendedUpdateInfo asks for exactly MaxExtendedUpdatesPerRequest ({max}) revisions: the spec's \"smaller than\" and the property's \"maximum\" disagree"))
                    .at([id.clone()])
                    .versus(format!("fewer than {max} (spec) or at most {max} (property)"), format!("{} revisionIDs", ids.len())),
            ),
            _ => {}
        }
        // C-22: the revisions asked for are cached (Known, or delivered so far).
        let unknown: Vec<i32> = ids
            .iter()
            .filter(|i| !pair.known.contains_key(i))
            .copied()
            .collect();
        if !unknown.is_empty() {
            let status = if pair.enumerated && !pair.known_incomplete {
                Status::Violated
            } else {
                Status::Unverifiable
            };
            let msg = if pair.known_incomplete {
                format!(
                    "GetExtendedUpdateInfo asks for {} revision ID(s) not in Known, which misses pages absent from the capture",
                    unknown.len()
                )
            } else if pair.enumerated {
                format!(
                    "GetExtendedUpdateInfo asks for {} revision ID(s) this server has not delivered to the client (yet)",
                    unknown.len()
                )
            } else {
                format!(
                    "GetExtendedUpdateInfo asks for {} revision ID(s) before the client's cache was seen",
                    unknown.len()
                )
            };
            findings.push(
                Finding::new(known("C-22"), status, msg)
                    .at([id.clone()])
                    .versus("revision IDs in Known (delivered by SyncUpdates or RefreshCache before the request)", format!("not in Known: {}", quote(&unknown))),
            );
        }
        // C-49: no re-fetch of fragments already returned.
        let mut refetch: Vec<i32> = Vec::new();
        for rid in ids {
            let Some(rev) = pair.known.get(rid) else {
                continue;
            };
            let again = types.iter().any(|t| {
                if t == "LocalizedProperties" || t == "Eula" {
                    locales.iter().any(|l| {
                        rev.fragments
                            .iter()
                            .any(|(ft, fl)| ft == t && fl.eq_ignore_ascii_case(l))
                    })
                } else {
                    rev.fragments.contains(&(t.clone(), String::new()))
                }
            });
            if again {
                refetch.push(*rid);
            }
        }
        if !refetch.is_empty() {
            self.sessions[si].refetched += refetch.len();
            findings.push(
                Finding::new(known("C-49"), Status::Violated, format!("GetExtendedUpdateInfo asks again for fragments of {} revision(s) it already received", refetch.len()))
                    .at([id])
                    .versus("no re-fetch without ChangedUpdates, RefreshCache or cache loss", format!("re-fetched: {}", quote(&refetch))),
            );
        }
        for f in findings {
            self.push(si, f);
        }
    }

    fn issue_cookie(&mut self, key: &(usize, String), c: &Field<Cookie>) {
        let Some(k) = cookie_key(c) else { return };
        let exp = c.value().and_then(cookie_expiration);
        self.by_cookie.insert(k.clone(), key.0);
        self.cookie_server.insert(k.clone(), key.1.clone());
        let pair = self.pair(key);
        pair.issued.insert(k.clone(), exp);
        pair.latest_cookie = Some(k);
    }

    fn reply_rules(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        req: Option<&Request>,
    ) {
        let id = ex.id.clone();
        let resp = match &ex.reply {
            Reply::Ok(r) => r,
            Reply::Fault(f) => {
                if let Some(code) = f.error_code() {
                    let code = code.canonical();
                    if matches!(
                        code,
                        ErrorCode::InvalidCookie
                            | ErrorCode::ServerChanged
                            | ErrorCode::ConfigChanged
                            | ErrorCode::CookieExpired
                    ) {
                        self.pair(key).fault_since_handshake = Some(code);
                    }
                }
                return;
            }
            Reply::Undecodable(_) => return,
        };
        match (req, resp) {
            (_, Response::GetConfig(r)) => {
                match r.result.value() {
                    Some(cfg)
                        if cfg.last_change.is_present()
                            && cfg.is_registration_required.is_present() => {}
                    _ => {
                        let f = Finding::new(
                            known("S-01"),
                            Status::Violated,
                            "GetConfig result lacks LastChange or IsRegistrationRequired",
                        )
                        .at([id.clone()])
                        .versus(
                            "GetConfigResult with LastChange and IsRegistrationRequired",
                            "missing",
                        );
                        self.push(si, f);
                    }
                }
                let pair = self.pair(key);
                pair.config = r.result.value().cloned();
            }
            (_, Response::GetAuthorizationCookie(r)) => {
                let data = r.result.value().and_then(|a| {
                    Some((
                        a.plug_in_id.value().cloned().unwrap_or_default(),
                        a.cookie_data.value()?.0.clone(),
                    ))
                });
                match data {
                    Some((plug, d)) if !d.is_empty() => {
                        self.by_cookie.insert(format!("auth:{d}"), key.0);
                        self.pair(key).auth_cookie = Some((plug, d));
                    }
                    _ => {
                        let f = Finding::new(
                            known("S-06"),
                            Status::Violated,
                            "GetAuthorizationCookie result without CookieData",
                        )
                        .at([id.clone()])
                        .versus("a non-empty CookieData", "none");
                        self.push(si, f);
                    }
                }
            }
            (q, Response::GetCookie(r)) => {
                let q = match q {
                    Some(Request::GetCookie(q)) => Some(q),
                    _ => None,
                };
                let ok = r.result.value().is_some_and(|c| {
                    c.encrypted_data.value().is_some_and(|d| !d.0.is_empty())
                        && c.expiration.is_present()
                });
                let exp = r.result.value().and_then(cookie_expiration);
                let now = q
                    .and_then(|q| q.current_time.value())
                    .and_then(|t| t.instant())
                    .map(Timestamp::from_datetime);
                if !ok || matches!((exp, now), (Some(e), Some(n)) if e <= n) {
                    let f = Finding::new(known("S-07"), Status::Violated, "GetCookie result lacks Expiration or EncryptedData, or expires before the request's currentTime")
                        .at([id.clone()])
                        .versus("Expiration later than currentTime and non-empty EncryptedData", format!("Expiration {:?}", exp.and_then(|e| e.to_rfc3339())));
                    self.push(si, f);
                }
                self.issue_cookie(key, &r.result);
                self.pair(key).fault_since_handshake = None;
            }
            (q, Response::SyncUpdates(r)) => {
                let q = match q {
                    Some(Request::SyncUpdates(q)) => Some(q),
                    _ => None,
                };
                self.sync_reply(si, key, ex, q, r)
            }
            (Some(Request::GetExtendedUpdateInfo(q)), Response::GetExtendedUpdateInfo(r)) => {
                self.ext_reply(si, key, ex, q, r)
            }
            (_, Response::SyncPrinterCatalog(r)) => {
                if let Some(info) = r.result.value() {
                    self.issue_cookie(key, &info.new_cookie);
                }
            }
            (_, Response::GetFileLocations(r)) => {
                if let Some(res) = r.result.value() {
                    self.issue_cookie(key, &res.new_cookie);
                    self.learn_locations(si, key, ex, res.file_locations.items());
                }
            }
            (_, Response::RefreshCache(r)) => {
                // Re-keyed revisions form the new cache; unmatched ones are dropped
                // (reference 5.2 NEED_REFRESH). Batches accumulate until another call.
                let pair = self.pair(key);
                let fresh = pair.refreshing.get_or_insert_with(HashMap::new);
                for item in r.result.items() {
                    if let Some(rid) = item.revision_id.value() {
                        let e = fresh.entry(*rid).or_default();
                        e.is_leaf = item.is_leaf.value().copied();
                    }
                }
            }
            (_, Response::ReportEventBatch(r)) if r.result.value().is_none() => {
                let f = Finding::new(
                    known("S-35"),
                    Status::Violated,
                    "ReportEventBatchResult missing or not a boolean",
                )
                .at([id])
                .versus("ReportEventBatchResult true or false", "missing or invalid");
                self.push(si, f);
            }
            _ => {}
        }
    }

    fn sync_reply(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        q: Option<&SyncUpdates>,
        r: &SyncUpdatesResponse,
    ) {
        let id = ex.id.clone();
        // Without a decodable request, the pass is guessed from the session and the
        // request-relative checks (S-11, S-12, S-17) are skipped.
        let lists = match q {
            Some(q) => Lists::of(q),
            None => Lists {
                installed: Vec::new(),
                other: Vec::new(),
                drivers: Vec::new(),
                software: self.sessions[si].driver_passes == 0,
            },
        };
        let have_request = q.is_some();
        let Some(info) = r.result.value() else {
            let f = Finding::new(
                known("S-09"),
                Status::Violated,
                "SyncUpdates response without SyncUpdatesResult",
            )
            .at([id])
            .versus(
                "SyncUpdatesResult with Truncated and NewCookie",
                "no result",
            );
            self.push(si, f);
            return;
        };
        let mut findings = Vec::new();
        // S-09.
        if !matches!(info.truncated, Field::Value(_)) || cookie_key(&info.new_cookie).is_none() {
            findings.push(
                Finding::new(
                    known("S-09"),
                    Status::Violated,
                    "SyncUpdates result lacks Truncated or NewCookie",
                )
                .at([id.clone()])
                .versus(
                    "Truncated and NewCookie present",
                    format!(
                        "Truncated {}, NewCookie {}",
                        if info.truncated.is_present() {
                            "present"
                        } else {
                            "absent"
                        },
                        if info.new_cookie.is_present() {
                            "present"
                        } else {
                            "absent"
                        }
                    ),
                ),
            );
        }
        let sent = lists.set();
        let new: Vec<&UpdateInfo> = info.new_updates.items().iter().collect();
        let new_ids: Vec<i32> = new.iter().filter_map(|u| u.id.value().copied()).collect();
        // S-11: nothing the client listed comes back as new.
        let mut resent: Vec<i32> = new_ids
            .iter()
            .filter(|i| sent.contains(i))
            .copied()
            .collect();
        resent.sort_unstable();
        if !resent.is_empty() {
            self.sessions[si].resent += resent.len();
            findings.push(
                Finding::new(
                    known("S-11"),
                    Status::Violated,
                    format!(
                        "the server re-sends {} revision(s) the client listed as cached",
                        resent.len()
                    ),
                )
                .at([id.clone()])
                .versus(
                    "NewUpdates disjoint from the request's cached lists",
                    format!("re-sent: {}", quote(&resent)),
                ),
            );
        }
        // S-12.
        let oos: Vec<i32> = info.out_of_scope_revision_ids.items().to_vec();
        let bad_oos: Vec<i32> = oos.iter().filter(|i| !sent.contains(i)).copied().collect();
        let changed_ids: Vec<i32> = info
            .changed_updates
            .items()
            .iter()
            .filter_map(|u| u.id.value().copied())
            .collect();
        let bad_changed: Vec<i32> = changed_ids
            .iter()
            .filter(|i| !sent.contains(i) || oos.contains(i))
            .copied()
            .collect();
        if have_request && (!bad_oos.is_empty() || !bad_changed.is_empty()) {
            findings.push(
                Finding::new(known("S-12"), Status::Violated, "OutOfScopeRevisionIDs or ChangedUpdates name revisions the request did not list")
                    .at([id.clone()])
                    .versus("OutOfScope ⊆ cached lists; ChangedUpdates ⊆ cached lists \\ OutOfScope", format!("out of scope not listed: [{}]; changed not listed: [{}]", quote(&bad_oos), quote(&bad_changed))),
            );
        }
        // S-13 (ChangedUpdates items need no Xml: reference 11 leaves it open).
        let complete = |u: &UpdateInfo, need_xml: bool| {
            let dep_ok = u.deployment.value().is_some_and(|d| {
                d.id.is_present()
                    && d.action.is_present()
                    && d.is_assigned.is_present()
                    && d.last_change_time.is_present()
            });
            let xml_ok = !need_xml || u.xml.value().is_some_and(|x| !x.is_empty());
            u.id.is_present() && u.is_leaf.is_present() && dep_ok && xml_ok
        };
        let incomplete: Vec<String> = new
            .iter()
            .copied()
            .filter(|u| !complete(u, true))
            .chain(
                info.changed_updates
                    .items()
                    .iter()
                    .filter(|u| !complete(u, false)),
            )
            .map(|u| u.id.value().map_or("(no ID)".to_string(), i32::to_string))
            .collect();
        if !incomplete.is_empty() {
            findings.push(
                Finding::new(
                    known("S-13"),
                    Status::Violated,
                    format!(
                        "{} UpdateInfo item(s) lack ID, IsLeaf, Xml or a complete Deployment",
                        incomplete.len()
                    ),
                )
                .at([id.clone()])
                .versus(
                    "ID, IsLeaf, core Xml, Deployment with ID, Action, IsAssigned, LastChangeTime",
                    incomplete.join(", "),
                ),
            );
        }
        // S-17: pass content.
        let drivers: Vec<bool> = new.iter().map(|u| is_driver_xml(u)).collect();
        let wrong: Vec<i32> = new
            .iter()
            .zip(&drivers)
            .filter(|(_, d)| **d == lists.software)
            .filter_map(|(u, _)| u.id.value().copied())
            .collect();
        if have_request && !wrong.is_empty() {
            let pass = if lists.software {
                "software pass delivers drivers"
            } else {
                "driver pass delivers non-drivers"
            };
            findings.push(
                Finding::new(known("S-17"), Status::Violated, format!("the {pass}"))
                    .at([id.clone()])
                    .versus(
                        "no drivers in the software pass, only drivers in the driver pass",
                        quote(&wrong),
                    ),
            );
        }
        // S-24.
        let truncated = info.truncated.value().copied() == Some(true);
        if truncated && new.is_empty() {
            findings.push(
                Finding::new(
                    known("S-24"),
                    Status::Violated,
                    "Truncated=true with no NewUpdates",
                )
                .at([id.clone()])
                .versus("Truncated=true only with NewUpdates", "empty NewUpdates"),
            );
        }
        // State: Known, pending listings, loop.
        let pair = self.pair(key);
        for (u, driver) in new.iter().zip(&drivers) {
            let Some(rid) = u.id.value().copied() else {
                continue;
            };
            let e = pair.known.entry(rid).or_default();
            e.is_leaf = u.is_leaf.value().copied();
            e.driver = *driver;
            pair.out_of_scope.remove(&rid);
            if lists.software && !*driver {
                pair.pending.push((rid, id.clone()));
            }
        }
        for u in info.changed_updates.items() {
            if let Some(rid) = u.id.value()
                && let Some(e) = pair.known.get_mut(rid)
            {
                if let Some(l) = u.is_leaf.value() {
                    e.is_leaf = Some(*l);
                }
                e.fragments.clear();
            }
        }
        for rid in &oos {
            pair.known.remove(rid);
            pair.out_of_scope.insert(*rid);
        }
        pair.pending.retain(|(i, _)| !oos.contains(i));
        let b = &mut self.sessions[si];
        b.new_updates += new.len();
        if !lists.software {
            b.driver_passes += 1;
        }
        if lists.software {
            b.loop_state.pages += 1;
            if truncated {
                b.loop_state.must_continue = Some((id.clone(), "Truncated=true"));
            } else if new.iter().any(|u| u.is_leaf.value() == Some(&false)) {
                b.loop_state.must_continue = Some((id.clone(), "a non-leaf NewUpdates item"));
            } else {
                b.loop_state.must_continue = None;
                b.loop_state.done = true;
            }
        }
        self.issue_cookie(key, &info.new_cookie);
        for f in findings {
            self.push(si, f);
        }
    }

    fn ext_reply(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        q: &GetExtendedUpdateInfo,
        r: &GetExtendedUpdateInfoResponse,
    ) {
        let id = ex.id.clone();
        let Some(info) = r.result.value() else { return };
        let asked: HashSet<i32> = q.revision_ids.items().iter().copied().collect();
        let mut stray: Vec<i32> = info
            .updates
            .items()
            .iter()
            .filter_map(|u| u.id.value().copied())
            .chain(info.out_of_scope_revision_ids.items().iter().copied())
            .filter(|i| !asked.contains(i))
            .collect();
        stray.sort_unstable();
        stray.dedup();
        let no_xml = info
            .updates
            .items()
            .iter()
            .filter(|u| u.xml.value().is_none_or(|x| x.is_empty()))
            .count();
        let bad_loc = info
            .file_locations
            .items()
            .iter()
            .filter(|l| {
                l.file_digest
                    .value()
                    .and_then(|d| d.bytes())
                    .is_none_or(|b| b.len() != 20)
                    || l.url.value().is_none_or(|u| u.is_empty())
            })
            .count();
        if !stray.is_empty() || no_xml > 0 || bad_loc > 0 {
            let f = Finding::new(known("S-28"), Status::Violated, "GetExtendedUpdateInfo result names revisions not asked for, or has an Update without Xml or a FileLocation without a 20-byte digest and Url")
                .at([id.clone()])
                .versus("Update IDs and OutOfScope ⊆ revisionIDs; Xml in every Update; 20-byte FileDigest and Url", format!("not asked: [{}]; Updates without Xml: {no_xml}; bad FileLocations: {bad_loc}", quote(&stray)));
            self.push(si, f);
        }
        if bad_loc > 0 {
            let f = Finding::new(
                known("T-12"),
                Status::Violated,
                format!("{bad_loc} FileDigest(s) do not decode to 20 bytes (or lack a Url)"),
            )
            .at([id])
            .versus("20-byte FileDigest", format!("{bad_loc} bad"));
            self.push(si, f);
        }
        self.learn_locations(si, key, ex, info.file_locations.items());
        for u in info.updates.items() {
            let (Some(rid), Some(text)) = (u.id.value(), u.xml.value().and_then(|x| x.text().ok()))
            else {
                continue;
            };
            let kind = wusp::fragment::classify(&text);
            if kind == wusp::fragment::FragmentKind::Extended {
                self.learn_fragment_files(key, &text);
            }
            let pair = self.pair(key);
            let locale = match kind {
                wusp::fragment::FragmentKind::LocalizedProperties => {
                    wusp::fragment::LocalizedPropertiesFragment::parse(&text)
                        .map(|l| l.language)
                        .unwrap_or_default()
                }
                wusp::fragment::FragmentKind::Eula => wusp::fragment::EulaFragment::parse(&text)
                    .ok()
                    .and_then(|e| e.language)
                    .unwrap_or_default(),
                _ => String::new(),
            };
            if let Some(rev) = pair.known.get_mut(rid) {
                rev.fragments.insert((kind.as_str().to_string(), locale));
            }
        }
    }
}

/// The one-line verdict of a session (issue item 2).
fn verdict(b: &Building) -> String {
    let s = &b.session;
    let mut problems: Vec<&str> = s
        .findings
        .iter()
        .filter(|f| f.status == Status::Violated && f.level != Level::Obs)
        .map(|f| f.rule)
        .collect();
    problems.sort_unstable();
    problems.dedup();
    let state = if problems.is_empty() {
        "OK".to_string()
    } else {
        format!("PROBLEMS ({})", problems.join(", "))
    };
    let pages = b.loop_state.pages;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = vec![
        plural(pages as usize, "page", "pages"),
        plural(b.new_updates, "new update", "new updates"),
    ];
    match s.kind {
        SessionKind::Differential => {
            let c = &s.cache;
            if b.cache_known_from_history {
                parts.push(format!(
                    "cache sent {}/{} + {}/{}",
                    c.installed_non_leaf_sent,
                    c.installed_non_leaf_expected,
                    c.other_cached_sent,
                    c.other_cached_expected
                ));
            } else {
                parts.push(format!(
                    "cache sent {} + {} (no earlier capture: not checked against Known)",
                    c.installed_non_leaf_sent, c.other_cached_sent
                ));
            }
            if !b.handshake.is_empty() {
                parts.push(format!("handshake again: {}", b.handshake.join(", ")));
            }
            if b.resent > 0 {
                parts.push(format!("{} cached revisions re-sent", b.resent));
            }
            if b.refetched > 0 {
                parts.push(format!("{} extended-info re-fetches", b.refetched));
            }
        }
        SessionKind::First | SessionKind::Unknown => {}
    }
    if b.loop_state.must_continue.is_some() || s.findings.iter().any(|f| f.rule == "C-28") {
        parts.push("software loop incomplete".into());
    }
    match s.kind {
        SessionKind::Differential => format!("differential sync {state}: {}", parts.join(", ")),
        SessionKind::First => format!("first sync {state}: {}", parts.join(", ")),
        SessionKind::Unknown => format!(
            "no software sync {state}: {} exchange(s)",
            s.exchanges.len()
        ),
    }
}
