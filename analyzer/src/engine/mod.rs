//! The rule engine: exchanges in time order → sessions per client and server, the
//! client-cache model `Known` (reference 6.2) carried across sessions and captures, and the
//! findings of every implemented rule.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use captures::Timestamp;
use wusp::messages::{GetAuthorizationCookie, GetCookie, SyncUpdates};
use wusp::ops::Service;
use wusp::types::{Config, Cookie, UpdateInfo};
use wusp::xml::NonconformingKind;
use wusp::{ErrorCode, Field, Operation, Request, Response};

use crate::catalogue::{Level, known};
use crate::finding::{Finding, Profile, Status};
use crate::input::{Observed, Reply};
use crate::report::{CacheCounts, ExchangeEntry, Session, SessionKind};

mod content;
mod delivery;
mod extended;
mod fragcache;
mod order;
mod replies;
mod reporting;
mod server;
mod state;
mod sync;

/// A gap after which the next exchange of a client starts a new session.
const SESSION_GAP_SECS: i64 = 30 * 60;
/// A session whose pair has been silent this long, by the clock of the input, is closed
/// early: the next exchange of the pair would open a new session anyway (the gap above);
/// the margin covers inputs slightly out of time order.
const SWEEP_AFTER_SECS: i64 = 4 * SESSION_GAP_SECS;
/// Exchanges between two looks for sessions that can be closed early.
const SWEEP_EVERY: u32 = 1024;
/// At most this many IDs are quoted in one message.
const QUOTE: usize = 8;

/// One cached revision as the analyzer knows it (reference 6.2 `Known`).
#[derive(Clone, Debug, Default)]
struct KnownRev {
    /// Latest IsLeaf delivered (NewUpdates, ChangedUpdates, RefreshCache).
    is_leaf: Option<bool>,
    /// Core fragment says UpdateType=Driver.
    driver: bool,
    /// Extended fragments this server returned: ids of (fragment type, locale or "") in
    /// [`Engine::fragment_kinds`].
    fragments: Vec<u32>,
}

/// Small ids for the (fragment type, locale) pairs seen: every cached revision of every
/// client names its fragments by id instead of by two strings.
#[derive(Default)]
struct FragmentKinds {
    ids: HashMap<(String, String), u32>,
    names: Vec<(String, String)>,
}

impl FragmentKinds {
    /// The id of (fragment type, locale), new ones numbered in order.
    fn intern(&mut self, kind: &str, locale: &str) -> u32 {
        if let Some(&id) = self.ids.get(&(kind.to_string(), locale.to_string())) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push((kind.to_string(), locale.to_string()));
        self.ids.insert((kind.to_string(), locale.to_string()), id);
        id
    }

    /// The ids of the pairs `matches` accepts.
    fn matching(&self, matches: impl Fn(&str, &str) -> bool) -> Vec<u32> {
        self.ids
            .iter()
            .filter(|((k, l), _)| matches(k, l))
            .map(|(_, &id)| id)
            .collect()
    }
}

/// A client as identified so far.
#[derive(Clone, Debug)]
struct Client {
    /// ClientID from GetAuthorizationCookie, once seen.
    client_id: Option<String>,
    /// First address seen.
    ip: Option<String>,
    /// Another client was seen at this address: address-only grouping is unsure.
    shared_address: bool,
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
    issued: HashMap<CookieKey, Option<Timestamp>>,
    latest_cookie: Option<CookieKey>,
    /// Cookies sent that this analysis did not see issued (reported once, then accepted).
    adopted: HashSet<CookieKey>,
    /// The latest configuration, shared by the pairs of a server that got the same one.
    config: Option<Rc<Config>>,
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
    /// Server-side facts for the S rules (what the server told this client).
    server: server::ServerFacts,
    /// File locations and sizes this server gave the client (content rules).
    files: content::Files,
    /// EventInstanceIDs reported so far (C-42).
    events: reporting::Seen,
    /// Call-order facts (C-01, C-05, C-29, C-32, C-37).
    order: order::Order,
    /// Configuration-change facts (S-08, S-37).
    config_facts: replies::ConfigFacts,
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

impl Building {
    /// Session `s{si + 1}` of `pair`, empty.
    fn new(si: usize, pair: (usize, String), client: String) -> Building {
        Building {
            session: Session {
                id: format!("s{}", si + 1),
                client,
                server: pair.1.clone(),
                kind: SessionKind::Unknown,
                verdict: String::new(),
                exchanges: Vec::new(),
                cache: CacheCounts::default(),
                findings: Vec::new(),
            },
            pair,
            sw_requests: 0,
            driver_passes: 0,
            loop_state: LoopState::default(),
            new_updates: 0,
            resent: 0,
            refetched: 0,
            handshake: Vec::new(),
            cache_known_from_history: false,
        }
    }
}

/// The open sessions by index (`s{index + 1}`): a session leaves when it closes, so memory
/// holds only the sessions in progress.
struct Sessions {
    open: HashMap<usize, Building>,
    /// Sessions opened so far.
    started: usize,
    /// Stands in for a session that has closed: what the rules write there is dropped.
    gone: Building,
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions {
            open: HashMap::new(),
            started: 0,
            gone: Building::new(usize::MAX - 1, (usize::MAX, String::new()), String::new()),
        }
    }
}

impl std::ops::Index<usize> for Sessions {
    type Output = Building;
    fn index(&self, si: usize) -> &Building {
        self.open.get(&si).unwrap_or(&self.gone)
    }
}

impl std::ops::IndexMut<usize> for Sessions {
    fn index_mut(&mut self, si: usize) -> &mut Building {
        match self.open.get_mut(&si) {
            Some(b) => b,
            None => {
                tracing::debug!(
                    session = si.saturating_add(1),
                    "a rule touched a closed session"
                );
                &mut self.gone
            }
        }
    }
}

/// The sizes of the state an engine keeps for the whole run (tests).
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct Footprint {
    /// Client-server pairs.
    pub(crate) pairs: usize,
    /// Revisions in the servers' catalogs.
    pub(crate) catalog_revisions: usize,
    /// Distinct (fragment type, locale) pairs.
    pub(crate) fragment_kinds: usize,
    /// Fragment ids held by the cached revisions of every pair.
    pub(crate) fragment_ids: usize,
}

/// What [`Engine::finish`] leaves; sessions are named by index (`s{index + 1}`).
pub(crate) struct Ending {
    /// The sessions closed since [`Engine::take_closed`] was last called, in closing order.
    pub(crate) sessions: Vec<Session>,
    /// Findings for sessions that had already closed.
    pub(crate) late: Vec<(usize, Finding)>,
    /// Sessions that closed under their client's address whose ClientID came later, with
    /// the client's name now.
    pub(crate) renamed: Vec<(usize, String)>,
}

/// The engine: feed it decoded exchanges in time order, then take the sessions.
pub(crate) struct Engine {
    profile: Profile,
    clients: Vec<Client>,
    by_client_id: HashMap<String, usize>,
    /// Latest client seen at an address, whatever the server (content downloads).
    by_ip: HashMap<String, usize>,
    /// Latest client seen at an address talking to a server.
    by_address: HashMap<(String, String), usize>,
    /// Who holds each cookie and which server issued it (C-15: a cookie from another server).
    by_cookie: HashMap<CookieKey, CookieOwner>,
    /// Server names by index (`CookieOwner::server`), and the index of each.
    servers: Vec<String>,
    server_index: HashMap<String, u32>,
    /// Boxed: a Pair is a few KB and the table keeps spare slots.
    pairs: HashMap<(usize, String), Box<Pair>>,
    /// The open sessions.
    sessions: Sessions,
    /// Sessions closed and not yet taken.
    closed: Vec<Session>,
    /// Findings for sessions that had already closed, with the session's index.
    late: Vec<(usize, Finding)>,
    /// Sessions closed before their client's ClientID was known: (session index, client).
    unnamed: Vec<(usize, usize)>,
    /// GetConfig exchanges waiting for the next call from their address and server.
    held: HashMap<(Option<String>, String), Observed>,
    /// The parsed core fragments of the latest SyncUpdates answer, by exchange id.
    cores: Option<(String, Cores)>,
    /// Parsed core fragments by the digest of their wire text (bounded).
    parsed_cores: fragcache::Parsed<Option<Rc<ParsedCore>>>,
    /// What GetExtendedUpdateInfo fragments say, by the digest of their wire text (bounded).
    parsed_fragments: fragcache::Parsed<Option<Rc<extended::FragmentFacts>>>,
    /// Ids of the (fragment type, locale) pairs in `KnownRev::fragments`.
    fragment_kinds: FragmentKinds,
    /// What each server says about its revisions, by server.
    catalogs: HashMap<String, server::Catalog>,
    /// Exchanges since the last sweep for sessions that can be closed.
    since_sweep: u32,
    /// Exchanges between two sweeps.
    sweep_period: u32,
    /// The input of the latest exchange.
    input_file: Option<usize>,
}

/// The identity of a cookie: a 128-bit digest of its data. Every client holds a dozen
/// cookies per session in several maps; the digest keeps that small (16 bytes, no heap,
/// instead of the few hundred of the base64 text) and keeps cookie data out of memory dumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct CookieKey(u128);

/// A 128-bit digest of `data` in the domain `salt` (kinds of data kept apart): one XXH3
/// pass over the text (fragment texts are hashed per exchange, on the hot path).
fn digest(salt: u8, data: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128_with_seed(data.as_bytes(), u64::from(salt))
}

impl CookieKey {
    /// The digest of `data`, in the domain `salt` (cookies and authorization cookies apart).
    fn of(salt: u8, data: &str) -> CookieKey {
        CookieKey(digest(salt, data))
    }

    /// An AuthorizationCookie's CookieData.
    fn auth(data: &str) -> CookieKey {
        CookieKey::of(1, data)
    }
}

/// Who holds a cookie, and which server issued it ([`NO_SERVER`] when not seen issued).
#[derive(Clone, Copy, Debug)]
struct CookieOwner {
    client: usize,
    server: u32,
}

/// `CookieOwner::server` of a cookie not seen issued.
const NO_SERVER: u32 = u32::MAX;

/// The key of a cookie (its EncryptedData), if it has one.
fn cookie_key(c: &Field<Cookie>) -> Option<CookieKey> {
    Some(CookieKey::of(0, &c.value()?.encrypted_data.value()?.0))
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

/// A core fragment of a SyncUpdates answer: what parsing it gave and why it breaks S-15.
struct ParsedCore {
    core: Result<wusp::fragment::CoreFragment, String>,
    shape: Option<String>,
}

impl ParsedCore {
    /// Parses the unescaped fragment `text`.
    fn parse(text: &str) -> ParsedCore {
        let core = wusp::fragment::CoreFragment::parse(text).map_err(|e| e.to_string());
        let shape = delivery::core_shape_problem(text, &core);
        ParsedCore { core, shape }
    }

    fn is_driver(&self) -> bool {
        self.core.as_ref().is_ok_and(|c| c.is_driver())
    }
}

/// The core fragments of one answer's NewUpdates, parsed once for all the rules.
type Cores = Rc<Vec<Option<Rc<ParsedCore>>>>;

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
            by_address: HashMap::new(),
            by_cookie: HashMap::new(),
            servers: Vec::new(),
            server_index: HashMap::new(),
            pairs: HashMap::new(),
            sessions: Sessions::default(),
            closed: Vec::new(),
            late: Vec::new(),
            unnamed: Vec::new(),
            held: HashMap::new(),
            cores: None,
            parsed_cores: fragcache::Parsed::default(),
            parsed_fragments: fragcache::Parsed::default(),
            fragment_kinds: FragmentKinds::default(),
            catalogs: HashMap::new(),
            since_sweep: 0,
            sweep_period: SWEEP_EVERY,
            input_file: None,
        }
    }

    /// Ends the input: closes the open sessions and decides the rules that wait for the end
    /// of the input.
    pub(crate) fn finish(mut self) -> Ending {
        let mut held: Vec<Observed> = self.held.drain().map(|(_, ex)| ex).collect();
        held.sort_by_key(|ex| ex.time);
        for ex in &held {
            self.judge(ex, None);
        }
        let mut open: Vec<usize> = self.sessions.open.keys().copied().collect();
        open.sort_unstable();
        for si in open {
            self.close(si);
        }
        // S-30 is decided at the end: a location may come in any later GetFileLocations.
        let mut late: Vec<(usize, Finding)> = self
            .pairs
            .values_mut()
            .flat_map(|p| p.files.unlocated())
            .collect();
        late.sort_by_key(|(si, _)| *si);
        for (si, f) in late {
            self.push(si, f);
        }
        let renamed = self
            .unnamed
            .iter()
            .filter(|(_, c)| self.clients[*c].client_id.is_some())
            .map(|&(si, c)| (si, self.clients[c].label()))
            .collect();
        Ending {
            sessions: self.closed,
            late: self.late,
            renamed,
        }
    }

    fn new_client(&mut self, ip: Option<&String>) -> usize {
        self.clients.push(Client {
            client_id: None,
            ip: ip.cloned(),
            shared_address: false,
        });
        self.clients.len() - 1
    }

    /// Which client sent this request: ClientID, then cookie lineage, then address (per
    /// server: clients behind one address often talk to different servers).
    fn resolve_client(&mut self, ex: &Observed) -> usize {
        let ip = ex.client_ip.as_ref();
        let at = ip.map(|ip| (ip.clone(), ex.server.clone()));
        let mut found = None;
        if let Ok(Request::GetAuthorizationCookie(GetAuthorizationCookie { client_id, .. })) =
            &ex.request
            && let Some(id) = client_id.value()
        {
            let id = id.to_ascii_lowercase();
            let c = match self.by_client_id.get(&id) {
                Some(&c) => c,
                None => {
                    let c = match at.as_ref().and_then(|a| self.by_address.get(a)) {
                        Some(&c) if self.clients[c].client_id.is_none() => c,
                        Some(_) => {
                            // A second ClientID at this address: the address is shared.
                            let c = self.new_client(ip);
                            self.clients[c].shared_address = true;
                            c
                        }
                        None => self.new_client(ip),
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
                        keys.push(CookieKey::auth(&d.0));
                    }
                }
            }
            found = keys
                .iter()
                .find_map(|k| self.by_cookie.get(k).map(|o| o.client));
        }
        let c = match found {
            Some(c) => c,
            None => match at.as_ref().and_then(|a| self.by_address.get(a)) {
                Some(&c) => c,
                None => self.new_client(ip),
            },
        };
        if let Some(a) = at {
            self.by_address.insert(a, c);
        }
        if let Some(ip) = ip {
            self.by_ip.insert(ip.clone(), c);
        }
        c
    }

    /// Judges one exchange.
    pub(crate) fn feed(&mut self, ex: &Observed) {
        self.sweep(ex.time, ex.file);
        // A GetConfig says nothing about who sends it: it is held until the next call from
        // the same address and server tells (several clients may share an address).
        let at = (ex.client_ip.clone(), ex.server.clone());
        if ex.op() == Operation::GetConfig && ex.client_ip.is_some() {
            if let Some(earlier) = self.held.insert(at, ex.clone()) {
                self.judge(&earlier, None);
            }
            return;
        }
        match self.held.remove(&at) {
            Some(held) => {
                let client = self.resolve_client(ex);
                self.judge(&held, Some(client));
                self.judge(ex, Some(client));
            }
            None => self.judge(ex, None),
        }
    }

    /// Judges one exchange of `client` (resolved from the exchange when not given).
    fn judge(&mut self, ex: &Observed, client: Option<usize>) {
        let client = match client {
            Some(c) => c,
            None => self.resolve_client(ex),
        };
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
                self.reply_more_rules(si, &key, ex, req);
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

    /// The parsed core fragments of `updates`, the NewUpdates of exchange `id`.
    fn cores(&mut self, id: &str, updates: &[UpdateInfo]) -> Cores {
        if let Some((cid, cores)) = &self.cores
            && cid == id
        {
            return cores.clone();
        }
        let parsed = &mut self.parsed_cores;
        let cores: Cores = Rc::new(
            updates
                .iter()
                .map(|u| {
                    let xml = u.xml.value()?;
                    let key = digest(2, xml.escaped());
                    parsed.get_or_make(key, || {
                        let text = xml.text().ok()?;
                        Some(Rc::new(ParsedCore::parse(&text)))
                    })
                })
                .collect(),
        );
        self.cores = Some((id.to_string(), cores.clone()));
        cores
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

    /// Adds a finding to a session; an unverifiable finding that repeats one already there
    /// (same rule, message and expected/observed) only adds its exchanges to it.
    /// A finding for a session that has closed is kept apart (see [`Engine::finish`]).
    fn push(&mut self, si: usize, mut f: Finding) {
        f.profile = self.profile;
        let Some(b) = self.sessions.open.get_mut(&si) else {
            self.late.push((si, f));
            return;
        };
        let findings = &mut b.session.findings;
        if f.status == Status::Unverifiable
            && let Some(same) = findings.iter_mut().find(|g| {
                g.status == Status::Unverifiable
                    && g.rule == f.rule
                    && g.message == f.message
                    && g.expected == f.expected
                    && g.observed == f.observed
            })
        {
            for e in f.exchanges {
                if !same.exchanges.contains(&e) {
                    same.exchanges.push(e);
                }
            }
            return;
        }
        findings.push(f);
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
        let si = self.sessions.started;
        self.sessions.started += 1;
        let label = self.clients[key.0].label();
        self.sessions
            .open
            .insert(si, Building::new(si, key.clone(), label));
        self.pair(key).session = Some(si);
        tracing::debug!(session = si + 1, client = key.0, server = %key.1, "session opened");
        si
    }

    /// End-of-session checks and the verdict line; the session leaves the engine for
    /// [`Engine::take_closed`].
    fn close(&mut self, si: usize) {
        if !self.sessions.open.contains_key(&si) {
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
        let Some(mut b) = self.sessions.open.remove(&si) else {
            return;
        };
        b.session.client = self.clients[b.pair.0].label();
        if self.clients[b.pair.0].client_id.is_none() {
            self.unnamed.push((si, b.pair.0));
        }
        b.session.verdict = verdict(&b);
        tracing::debug!(session = si + 1, verdict = %b.session.verdict, "session closed");
        if let Some(pair) = self.pairs.get_mut(&b.pair)
            && pair.session == Some(si)
        {
            pair.session = None;
        }
        self.closed.push(b.session);
    }

    /// Closes the sessions that can get no further exchange, at each new input and every
    /// [`SWEEP_EVERY`] exchanges (`time` and `file`: the exchange about to be judged): those
    /// of an earlier input, and those silent for [`SWEEP_AFTER_SECS`] — unless a held
    /// GetConfig of their server and input may still join them.
    fn sweep(&mut self, time: Timestamp, file: usize) {
        self.since_sweep += 1;
        if self.input_file == Some(file) && self.since_sweep < self.sweep_period {
            return;
        }
        self.input_file = Some(file);
        self.since_sweep = 0;
        let mut held_from: HashMap<(&str, usize), Timestamp> = HashMap::new();
        for h in self.held.values() {
            let t = held_from
                .entry((h.server.as_str(), h.file))
                .or_insert(h.time);
            *t = (*t).min(h.time);
        }
        let mut done: Vec<usize> = self
            .sessions
            .open
            .iter()
            .filter(|(_, b)| {
                let Some(pair) = self.pairs.get(&b.pair) else {
                    return false;
                };
                let Some(last) = pair.last_time else {
                    return false;
                };
                let silent =
                    pair.last_file != file || time.since(last).whole_seconds() > SWEEP_AFTER_SECS;
                let may_join = held_from
                    .get(&(b.pair.1.as_str(), pair.last_file))
                    .is_some_and(|h| h.since(last).whole_seconds() <= SESSION_GAP_SECS);
                silent && !may_join
            })
            .map(|(si, _)| *si)
            .collect();
        done.sort_unstable();
        for si in done {
            self.close(si);
        }
    }

    /// The sessions closed since the last call, in the order they closed.
    pub(crate) fn take_closed(&mut self) -> Vec<Session> {
        std::mem::take(&mut self.closed)
    }

    /// Sessions still open (closed ones have left the engine).
    #[cfg(test)]
    pub(crate) fn open_sessions(&self) -> usize {
        self.sessions.open.len()
    }

    /// Sweeps every `n` exchanges instead of [`SWEEP_EVERY`].
    #[cfg(test)]
    pub(crate) fn sweep_every(&mut self, n: u32) {
        self.sweep_period = n.max(1);
    }

    /// The sizes of the state kept for the whole run.
    #[cfg(test)]
    pub(crate) fn footprint(&self) -> Footprint {
        Footprint {
            pairs: self.pairs.len(),
            catalog_revisions: self.catalogs.values().map(server::Catalog::revisions).sum(),
            fragment_kinds: self.fragment_kinds.names.len(),
            fragment_ids: self
                .pairs
                .values()
                .flat_map(|p| p.known.values())
                .map(|r| r.fragments.len())
                .sum(),
        }
    }

    fn transport_rules(&mut self, si: usize, ex: &Observed) {
        let op = ex.op();
        let id = ex.id.clone();
        for (side, f) in [("request", &ex.request_env), ("response", &ex.reply_env)] {
            if let Some(el) = &f.foreign_element {
                let finding = Finding::new(
                    known("T-04"),
                    Status::Violated,
                    format!(
                        "{op} {side} body has an element outside the {} namespace",
                        op.service()
                    ),
                )
                .at([id.clone()])
                .versus(op.service().namespace(), el.clone());
                self.push(si, finding);
            }
            if let Some(first) = f.out_of_order.first() {
                let parent = first
                    .parent
                    .split_once("/Body/")
                    .map_or(first.parent.as_str(), |(_, p)| p);
                let (a, b) = (first.expected_first, first.met_first);
                let more = and_more(f.out_of_order.len(), wusp::xml::MAX_OUT_OF_ORDER);
                let finding = Finding::new(
                    known("T-13"),
                    Status::Violated,
                    format!("{op} {side}: <{a}> comes after <{b}> in <{parent}>"),
                )
                .at([id.clone()])
                .versus(
                    format!("<{a}> before <{b}> (schema sequence of {parent})"),
                    format!("<{b}> before <{a}>{more}"),
                );
                self.push(si, finding);
            }
            if let Some(first) = f.nonconforming.first() {
                let more = and_more(f.nonconforming.len(), wusp::xml::MAX_NONCONFORMING);
                let el = &first.element;
                let (expected, observed) = match &first.kind {
                    NonconformingKind::Invalid { text, expected } => (
                        format!("<{el}> holding an {expected} value"),
                        format!("{text:?}{more}"),
                    ),
                    NonconformingKind::Missing => (
                        format!("<{el}> present (minOccurs=1)"),
                        format!("no <{el}>{more}"),
                    ),
                };
                let finding = Finding::new(
                    known("T-10"),
                    Status::Violated,
                    format!("{op} {side}: {first}"),
                )
                .at([id.clone()])
                .versus(
                    format!("{expected}, per the WSDL (both profiles)"),
                    observed,
                );
                self.push(si, finding);
            }
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
            self.check_cookie_sent(si, key, ex, sent);
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
                self.sessions[si].handshake.push("RegisterComputer");
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

    fn check_cookie_sent(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        sent: CookieKey,
    ) {
        let op = ex.op();
        let pair = self.pair(key);
        let latest = pair.latest_cookie;
        let issued_here = pair.issued.contains_key(&sent);
        if latest == Some(sent) || pair.adopted.contains(&sent) {
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
            .cookie_server(sent)
            .filter(|s| *s != key.1)
            .map(str::to_string)
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
            self.cookie_of(sent, key.0);
            let pair = self.pair(key);
            let first_seen = pair.issued.is_empty() && pair.adopted.is_empty();
            pair.adopted.insert(sent);
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

    fn issue_cookie(&mut self, key: &(usize, String), c: &Field<Cookie>) {
        let Some(k) = cookie_key(c) else { return };
        let exp = c.value().and_then(cookie_expiration);
        let server = match self.server_index.get(&key.1) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.servers.len()).unwrap_or(u32::MAX);
                self.servers.push(key.1.clone());
                self.server_index.insert(key.1.clone(), i);
                i
            }
        };
        self.by_cookie.insert(
            k,
            CookieOwner {
                client: key.0,
                server,
            },
        );
        let pair = self.pair(key);
        pair.issued.insert(k, exp);
        pair.latest_cookie = Some(k);
    }

    /// Records that `client` holds cookie `k` (the issuing server, if known, is kept).
    fn cookie_of(&mut self, k: CookieKey, client: usize) {
        self.by_cookie
            .entry(k)
            .and_modify(|o| o.client = client)
            .or_insert(CookieOwner {
                client,
                server: NO_SERVER,
            });
    }

    /// The server that issued cookie `k`, if this analysis saw it.
    fn cookie_server(&self, k: CookieKey) -> Option<&str> {
        let o = self.by_cookie.get(&k)?;
        self.servers
            .get(usize::try_from(o.server).ok()?)
            .map(String::as_str)
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
                let config = r.result.value().map(|cfg| {
                    let catalog = self.catalogs.entry(key.1.clone()).or_default();
                    catalog.share_config(cfg)
                });
                self.pair(key).config = config;
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
                        self.cookie_of(CookieKey::auth(&d), key.0);
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
}

/// `OK`, or `PROBLEMS (…)` listing the violated MUST and SHOULD rules of `findings`.
fn verdict_state(findings: &[Finding]) -> String {
    let mut problems: Vec<&str> = findings
        .iter()
        .filter(|f| f.status == Status::Violated && f.level != Level::Obs)
        .map(|f| f.rule)
        .collect();
    problems.sort_unstable();
    problems.dedup();
    if problems.is_empty() {
        "OK".to_string()
    } else {
        format!("PROBLEMS ({})", problems.join(", "))
    }
}

/// A verdict line of [`verdict`] with its `OK` / `PROBLEMS (…)` part recomputed from
/// `findings` (after findings decided at the end of the input joined the session).
pub(crate) fn restate(verdict: &str, findings: &[Finding]) -> String {
    let Some((head, rest)) = verdict.split_once(": ") else {
        return verdict.to_string();
    };
    let kind = head
        .strip_suffix(" OK")
        .or_else(|| head.find(" PROBLEMS (").map(|i| &head[..i]))
        .unwrap_or(head);
    format!("{kind} {}: {rest}", verdict_state(findings))
}

/// The one-line verdict of a session (issue item 2).
fn verdict(b: &Building) -> String {
    let s = &b.session;
    let state = verdict_state(&s.findings);
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

/// `" (and N more)"` after the first of `n` notes; `at least` when the decoder's cap was hit.
fn and_more(n: usize, cap: usize) -> String {
    match n {
        0 | 1 => String::new(),
        n if n >= cap => format!(" (and at least {} more)", n - 1),
        n => format!(" (and {} more)", n - 1),
    }
}
