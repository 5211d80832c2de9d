//! Seeding a client from a capture: the identity, HTTP profile, config, cookies,
//! registration and cache of one recorded client, rebuilt from its exchanges (reference
//! 5.1), so a replay carries on where the recording stopped (a differential sync).
//!
//! Pure: records in, [`Seeded`] out. The recorded responses go through the same
//! [`ClientState`] code the sync machine applies to live responses. The last recorded
//! request body of each operation is kept as a template ([`ClientState::templates`]), so
//! the replayed requests keep the recorded element order, prefixes and native-only elements.
//!
//! Which exchanges belong to which client: the ClientID of GetAuthorizationCookie
//! (`clientId`) or ReportEventBatch (`TargetID/Sid`); else the client the presented cookie
//! (authorization cookie, cookie, oldCookie) was issued to in an earlier answer; else (GetConfig,
//! a cookie issued before the capture started) the next client named from the same address,
//! or the last one. A capture that names one client only is all that client's.

use std::collections::{BTreeMap, BTreeSet};

use captures::wire::{ExchangeKind, classify, request_envelope, request_xml, response_envelope};
use captures::{Exchange, Record};
use wusp::{Body, Envelope, ErrorCode, Operation, Request, Response};

use super::state::template_key;
use super::{ClientState, ComputerDescription, Identity};

/// How to seed.
#[derive(Clone, Debug, Default)]
pub struct SeedOptions {
    /// The client to seed from (default: the last active one).
    pub client_id: Option<String>,
}

/// A client rebuilt from a capture.
#[derive(Clone, Debug)]
pub struct Seeded {
    /// The state to run a differential sync from.
    pub state: ClientState,
    /// SOAP exchanges of the chosen client that were used.
    pub exchanges: usize,
    /// Every client ID the capture holds, in order of last activity (the chosen one last
    /// unless one was asked for).
    pub clients: Vec<String>,
    /// Records skipped (undecodable), each naming its line and exchange id.
    pub warnings: Vec<String>,
    /// Facts worth telling the user (which client was chosen, what the capture lacked).
    pub notes: Vec<String>,
}

/// Why a capture cannot seed a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    /// No exchange is a WUSP SOAP call.
    #[error(
        "the capture holds no WUSP traffic (no SOAP call to a WSUS web service among {records} records); use --fresh to start a new client instead"
    )]
    NoWuspTraffic {
        /// Records read.
        records: usize,
    },
    /// No client ID anywhere (no GetAuthorizationCookie, no ReportEventBatch).
    #[error(
        "the capture names no client: no GetAuthorizationCookie or ReportEventBatch request carries a client ID; use --fresh to start a new client instead"
    )]
    NoClientId,
    /// The asked-for client is not in the capture.
    #[error("client {wanted} is not in the capture (clients: {})", known.join(", "))]
    UnknownClient {
        /// The client asked for.
        wanted: String,
        /// The clients found.
        known: Vec<String>,
    },
    /// No cookie to continue from.
    #[error(
        "client {client}: the capture holds no cookie to continue from (no GetCookie, SyncUpdates or GetFileLocations response with a cookie); use --fresh to start a new client instead"
    )]
    NoCookie {
        /// The client.
        client: String,
    },
}

/// One SOAP exchange of the capture, classified.
pub(crate) struct Call<'a> {
    /// Line of the record.
    pub(crate) line: u64,
    /// The exchange.
    pub(crate) ex: &'a Exchange,
    /// Its web method.
    pub(crate) op: Operation,
}

impl ClientState {
    /// Rebuilds a client from the exchanges of a capture (records as read by
    /// `captures::read_all`: line number and record).
    pub fn from_capture(
        records: &[(u64, Record)],
        options: &SeedOptions,
    ) -> Result<Seeded, SeedError> {
        let Selected {
            calls,
            clients,
            mut notes,
            mut warnings,
        } = select(records, options)?;
        let client = clients.last().cloned().unwrap_or_default();
        let client = options
            .client_id
            .as_deref()
            .map_or(client, str::to_ascii_lowercase);
        let mut b = Builder::new(&client);
        for c in &calls {
            b.call(c, &mut warnings);
        }
        b.finish_refresh();
        let state = b.finish(&mut notes)?;
        Ok(Seeded {
            state,
            exchanges: calls.len(),
            clients,
            warnings,
            notes,
        })
    }
}

/// The SOAP calls of the chosen client.
pub(crate) struct Selected<'a> {
    /// Its calls, in capture order.
    pub(crate) calls: Vec<Call<'a>>,
    /// Every client of the capture by last activity.
    pub(crate) clients: Vec<String>,
    /// Which client was chosen and why.
    pub(crate) notes: Vec<String>,
    /// Records skipped.
    pub(crate) warnings: Vec<String>,
}

/// Picks one client's SOAP calls out of a capture (see the module documentation).
pub(crate) fn select<'a>(
    records: &'a [(u64, Record)],
    options: &SeedOptions,
) -> Result<Selected<'a>, SeedError> {
    let mut warnings = Vec::new();
    let mut calls = Vec::new();
    for (line, rec) in records {
        let Record::Exchange(ex) = rec else { continue };
        match classify(ex) {
            ExchangeKind::Soap(id) => calls.push(Call {
                line: *line,
                ex,
                op: id.operation,
            }),
            ExchangeKind::UnknownSoap(why) => warnings.push(format!(
                "line {line}, exchange {}: skipped, not a recognisable SOAP call: {why}",
                ex.id
            )),
            _ => {}
        }
    }
    if calls.is_empty() {
        return Err(SeedError::NoWuspTraffic {
            records: records.len(),
        });
    }
    let owners = owners(&calls);
    // Clients by last activity.
    let mut last_seen: Vec<String> = Vec::new();
    for o in owners.iter().flatten() {
        last_seen.retain(|c| c != o);
        last_seen.push(o.clone());
    }
    let clients = last_seen;
    let mut notes = Vec::new();
    let chosen = match &options.client_id {
        Some(want) => {
            let want = want.to_ascii_lowercase();
            if !clients.contains(&want) {
                return Err(SeedError::UnknownClient {
                    wanted: want,
                    known: clients,
                });
            }
            want
        }
        None => {
            let last = clients.last().cloned().ok_or(SeedError::NoClientId)?;
            if clients.len() > 1 {
                notes.push(format!(
                    "the capture holds {} clients; using the last active one, {last} \
                     (choose another with --client-id)",
                    clients.len()
                ));
            }
            last
        }
    };
    let calls = calls
        .into_iter()
        .zip(owners)
        .filter(|(_, o)| o.as_deref() == Some(chosen.as_str()))
        .map(|(c, _)| c)
        .collect();
    Ok(Selected {
        calls,
        clients,
        notes,
        warnings,
    })
}

/// The client ID a request names, if any.
fn named_client(req: &Request) -> Option<String> {
    match req {
        Request::GetAuthorizationCookie(r) => r.client_id.value().map(|s| s.to_ascii_lowercase()),
        Request::ReportEventBatch(r) => r
            .event_batch
            .items()
            .iter()
            .find_map(|e| {
                e.basic_data
                    .value()?
                    .target_id
                    .value()?
                    .sid
                    .value()
                    .cloned()
            })
            .map(|s| s.to_ascii_lowercase()),
        _ => None,
    }
}

/// The opaque cookie data a request presents (cookie, authorization cookies, oldCookie).
fn cookies_presented(req: &Request) -> Vec<String> {
    let enc = |c: &wusp::Field<wusp::types::Cookie>| {
        c.value()
            .and_then(|c| c.encrypted_data.value())
            .map(|d| d.as_str().to_string())
    };
    match req {
        Request::GetCookie(r) => r
            .auth_cookies
            .items()
            .iter()
            .filter_map(|a| a.cookie_data.value().map(|d| d.as_str().to_string()))
            .chain(enc(&r.old_cookie))
            .collect(),
        Request::RegisterComputer(r) => enc(&r.cookie).into_iter().collect(),
        Request::SyncUpdates(r) => enc(&r.cookie).into_iter().collect(),
        Request::RefreshCache(r) => enc(&r.cookie).into_iter().collect(),
        Request::GetExtendedUpdateInfo(r) => enc(&r.cookie).into_iter().collect(),
        Request::GetExtendedUpdateInfo2(r) => enc(&r.cookie).into_iter().collect(),
        Request::GetFileLocations(r) => enc(&r.cookie).into_iter().collect(),
        Request::ReportEventBatch(r) => enc(&r.cookie).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The opaque cookie data a response issues.
fn cookies_issued(ex: &Exchange, op: Operation) -> Vec<String> {
    if !matches!(
        op,
        Operation::GetAuthorizationCookie
            | Operation::GetCookie
            | Operation::SyncUpdates
            | Operation::GetFileLocations
    ) {
        return Vec::new();
    }
    let Ok(Envelope {
        body: Body::Response(r),
        ..
    }) = response_envelope(ex)
    else {
        return Vec::new();
    };
    let data = match &r {
        Response::GetAuthorizationCookie(g) => g
            .result
            .value()
            .and_then(|a| a.cookie_data.value())
            .map(|d| d.as_str().to_string()),
        Response::GetCookie(g) => g
            .result
            .value()
            .and_then(|c| c.encrypted_data.value())
            .map(|d| d.as_str().to_string()),
        Response::SyncUpdates(g) => g
            .result
            .value()
            .and_then(|i| i.new_cookie.value())
            .and_then(|c| c.encrypted_data.value())
            .map(|d| d.as_str().to_string()),
        Response::GetFileLocations(g) => g
            .result
            .value()
            .and_then(|i| i.new_cookie.value())
            .and_then(|c| c.encrypted_data.value())
            .map(|d| d.as_str().to_string()),
        _ => None,
    };
    data.into_iter().collect()
}

/// The client of each call (see the module documentation): the ClientID a request names,
/// else the client the presented cookie was issued to, else by address.
fn owners(calls: &[Call<'_>]) -> Vec<Option<String>> {
    let host = |c: &Call<'_>| {
        c.ex.client
            .as_deref()
            .map(|a| match a.rsplit_once(':') {
                Some((h, p)) if p.chars().all(|ch| ch.is_ascii_digit()) => h.to_string(),
                _ => a.to_string(),
            })
            .unwrap_or_default()
    };
    let decode = |c: &Call<'_>| match request_envelope(c.ex) {
        Ok(Envelope {
            body: Body::Request(r),
            ..
        }) => Some(r),
        _ => None,
    };
    // One client named in the whole capture (the usual case): every call is its own, and
    // no response needs decoding for its cookies.
    let mut names = BTreeSet::new();
    for c in calls {
        if matches!(
            c.op,
            Operation::GetAuthorizationCookie | Operation::ReportEventBatch
        ) && let Some(n) = decode(c).as_ref().and_then(named_client)
        {
            names.insert(n);
        }
    }
    if names.len() <= 1 {
        let only = names.into_iter().next();
        return vec![only; calls.len()];
    }
    // Pass 1: names and cookie chains.
    let mut by_cookie: BTreeMap<String, String> = BTreeMap::new();
    let mut who: Vec<Option<String>> = Vec::with_capacity(calls.len());
    for c in calls {
        let req = decode(c);
        let named = req.as_ref().and_then(named_client).or_else(|| {
            req.as_ref()
                .map(cookies_presented)
                .unwrap_or_default()
                .iter()
                .find_map(|d| by_cookie.get(d).cloned())
        });
        if let Some(n) = &named {
            for d in cookies_issued(c.ex, c.op) {
                by_cookie.insert(d, n.clone());
            }
        }
        who.push(named);
    }
    // Pass 2: the rest (GetConfig, cookies issued before the capture) by address: the next
    // client named from it, else the last one.
    let mut next_on_host: Vec<Option<String>> = vec![None; calls.len()];
    let mut upcoming: BTreeMap<String, String> = BTreeMap::new();
    for (i, c) in calls.iter().enumerate().rev() {
        if let Some(w) = &who[i] {
            upcoming.insert(host(c), w.clone());
        }
        next_on_host[i] = upcoming.get(&host(c)).cloned();
    }
    let mut last_on_host: BTreeMap<String, String> = BTreeMap::new();
    calls
        .iter()
        .zip(who)
        .zip(next_on_host)
        .map(|((c, w), next)| {
            let h = host(c);
            let w = w.or(next).or_else(|| last_on_host.get(&h).cloned());
            if let Some(w) = &w {
                last_on_host.insert(h, w.clone());
            }
            w
        })
        .collect()
}

/// Accumulates one client's state over its calls.
struct Builder {
    state: ClientState,
    /// The lists of the last software SyncUpdates request (installed, other).
    last_lists: Option<(BTreeSet<i32>, BTreeSet<i32>)>,
    refresh: Vec<wusp::types::RefreshCacheResult>,
    dns_known: bool,
    ms_cv: Option<String>,
    soap_headers: Option<Vec<(String, String)>>,
}

impl Builder {
    fn new(client: &str) -> Builder {
        Builder {
            state: ClientState::new(Identity::new(client, "")),
            last_lists: None,
            refresh: Vec::new(),
            dns_known: false,
            ms_cv: None,
            soap_headers: None,
        }
    }

    fn call(&mut self, c: &Call<'_>, warnings: &mut Vec<String>) {
        let at = format!("line {}, exchange {} ({:?})", c.line, c.ex.id, c.op);
        let request = match request_envelope(c.ex) {
            Ok(env) => env,
            Err(e) => {
                warnings.push(format!("{at}: skipped, the request does not decode: {e}"));
                return;
            }
        };
        let Body::Request(req) = &request.body else {
            warnings.push(format!(
                "{at}: skipped, the request body is not a WUSP request"
            ));
            return;
        };
        // The header set and MS-CV of the client's SOAP posts.
        let headers: Vec<(String, String)> =
            c.ex.request
                .headers
                .iter()
                .map(|h| (h.name().to_string(), h.value().to_string()))
                .collect();
        if let Some((_, cv)) = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("MS-CV"))
        {
            self.ms_cv = Some(cv.clone());
        }
        if c.op.service() != wusp::Service::Reporting {
            self.soap_headers = Some(headers);
        }
        if let Ok(xml) = request_xml(&c.ex.request)
            && let Ok(text) = std::str::from_utf8(&xml)
        {
            self.state
                .templates
                .insert(template_key(req), text.to_string());
        }
        if c.op != Operation::RefreshCache {
            self.finish_refresh();
        }
        self.learn_from_request(req);
        let response = match response_envelope(c.ex) {
            Ok(env) => env,
            Err(e) => {
                warnings.push(format!(
                    "{at}: response skipped, it does not decode (HTTP {}): {e}",
                    c.ex.response.status
                ));
                return;
            }
        };
        match response.body {
            Body::Response(r) => self.apply(req, &r),
            Body::Fault(f) => match f.error_code().map(|c| c.canonical()) {
                Some(ErrorCode::InvalidCookie | ErrorCode::ServerChanged) => {
                    self.state.cookie = None;
                }
                Some(ErrorCode::RegistrationNotRequired) if c.op == Operation::RegisterComputer => {
                    self.state.mark_registered();
                }
                Some(ErrorCode::RegistrationRequired) => self.state.registered = false,
                _ => {}
            },
            _ => warnings.push(format!(
                "{at}: response skipped, its body is not a {:?} response",
                c.op
            )),
        }
    }

    /// Identity and cache classification from what the client sent.
    fn learn_from_request(&mut self, req: &Request) {
        let id = &mut self.state.identity;
        match req {
            Request::GetConfig(r) => {
                if let Some(v) = r.protocol_version.value() {
                    id.protocol_version = v.clone();
                }
            }
            Request::GetCookie(r) => {
                if let Some(v) = r.protocol_version.value() {
                    id.protocol_version = v.clone();
                }
            }
            Request::GetAuthorizationCookie(r) => {
                if let Some(d) = r.dns_name.value() {
                    id.dns_name = d.clone();
                    self.dns_known = true;
                }
                id.target_group = r.target_group_name.value().cloned();
            }
            Request::RegisterComputer(r) => {
                if let Some(ci) = r.computer_info.value() {
                    id.computer = ComputerDescription::from_info(ci);
                    if let Some(d) = ci.dns_name.value().filter(|_| !self.dns_known) {
                        id.dns_name = d.clone();
                        self.dns_known = true;
                    }
                }
            }
            Request::SyncUpdates(r) => {
                if let Some(p) = r.parameters.value()
                    && p.skip_software_sync.value() != Some(&true)
                {
                    self.last_lists = Some((
                        p.installed_non_leaf_update_ids
                            .items()
                            .iter()
                            .copied()
                            .collect(),
                        p.other_cached_update_ids.items().iter().copied().collect(),
                    ));
                }
            }
            _ => {}
        }
    }

    /// What a recorded response changes, through the machine's own code.
    fn apply(&mut self, req: &Request, r: &Response) {
        let s = &mut self.state;
        match r {
            Response::GetConfig(r) => {
                if let Some(c) = r.result.value().and_then(super::CachedConfig::from_config) {
                    s.config = Some(c);
                }
            }
            Response::GetAuthorizationCookie(r) => {
                if let Some(a) = r.result.value() {
                    s.authorization = Some(super::StoredAuthorization::from_wire(a));
                }
            }
            Response::GetCookie(r) => s.take_cookie(&r.result),
            Response::RegisterComputer(_) => s.mark_registered(),
            Response::RefreshCache(r) => self.refresh.extend(r.result.items().iter().cloned()),
            Response::SyncUpdates(r) => {
                if let Some(info) = r.result.value() {
                    s.apply_sync(info);
                }
            }
            Response::GetExtendedUpdateInfo(r) => {
                if let (Some(info), Request::GetExtendedUpdateInfo(q)) = (r.result.value(), req) {
                    let mut wanted = Vec::new();
                    let types: Vec<&str> =
                        q.info_types.items().iter().map(|t| t.as_str()).collect();
                    if types.contains(&"Extended") {
                        wanted.push("Extended".to_string());
                    }
                    if types.contains(&"LocalizedProperties") {
                        wanted.extend(
                            q.locales
                                .items()
                                .iter()
                                .map(|l| format!("LocalizedProperties:{l}")),
                        );
                    }
                    s.apply_extended(info, &wanted);
                }
            }
            Response::GetExtendedUpdateInfo2(r) => {
                if let (Some(info), Request::GetExtendedUpdateInfo2(q)) = (r.result.value(), req) {
                    s.apply_extended2(info);
                    s.mark_decryption_asked(q);
                }
            }
            Response::GetFileLocations(r) => {
                if let Some(res) = r.result.value() {
                    s.apply_file_locations(res);
                }
            }
            _ => {}
        }
    }

    /// RefreshCache answers re-key the cache once the run of RefreshCache calls ends.
    fn finish_refresh(&mut self) {
        if !self.refresh.is_empty() {
            let results = std::mem::take(&mut self.refresh);
            self.state.apply_refresh(&results);
        }
    }

    fn finish(mut self, notes: &mut Vec<String>) -> Result<ClientState, SeedError> {
        let client = self.state.identity.client_id.clone();
        if self.state.cookie.is_none() {
            return Err(SeedError::NoCookie { client });
        }
        if let Some((inst, other)) = &self.last_lists {
            let unknown = inst
                .iter()
                .chain(other)
                .filter(|id| !self.state.revisions.contains_key(id))
                .count();
            if unknown > 0 {
                notes.push(format!(
                    "{unknown} revision IDs the recorded client listed were delivered before \
                     the capture started (no metadata in it); they are not sent"
                ));
            }
            for (id, r) in self.state.revisions.iter_mut() {
                if inst.contains(id) {
                    r.installed = Some(true);
                } else if other.contains(id) {
                    r.installed = Some(false);
                }
            }
        }
        if let Some(h) = self.soap_headers.take() {
            self.state.http.headers = h;
            if !self
                .state
                .http
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("MS-CV"))
            {
                self.ms_cv = None;
            }
        }
        if let Some(cv) = self.ms_cv.take() {
            let (base, n) = match cv.rsplit_once('.') {
                Some((b, n)) if !b.is_empty() && n.parse::<u64>().is_ok() => {
                    (b.to_string(), n.parse::<u64>().unwrap_or(0))
                }
                _ => (cv.clone(), 0),
            };
            self.state.http.ms_cv_base = Some(base);
            self.state.http.ms_cv_counter = n;
        }
        if !self.dns_known {
            self.state.identity.dns_name = format!("{client}.invalid");
            notes.push(format!(
                "the capture does not show the client's DNS name (no GetAuthorizationCookie or \
                 RegisterComputer); using {}",
                self.state.identity.dns_name
            ));
        }
        if self.state.config.is_none() {
            notes.push(
                "the capture holds no GetConfig answer: the configuration is fetched again \
                 when a new cookie is needed"
                    .into(),
            );
        }
        Ok(self.state)
    }
}

impl ComputerDescription {
    /// The description a recorded ComputerInfo gives (defaults for missing fields).
    pub fn from_info(ci: &wusp::types::ComputerInfo) -> ComputerDescription {
        let d = ComputerDescription::default();
        let or = |f: &wusp::Field<i16>, v: i16| f.value().copied().unwrap_or(v);
        ComputerDescription {
            os_major: ci.os_major_version.value().copied().unwrap_or(d.os_major),
            os_minor: ci.os_minor_version.value().copied().unwrap_or(d.os_minor),
            os_build: ci.os_build_number.value().copied().unwrap_or(d.os_build),
            os_locale: ci.os_locale.value().cloned().unwrap_or(d.os_locale),
            manufacturer: ci
                .computer_manufacturer
                .value()
                .cloned()
                .unwrap_or(d.manufacturer),
            model: ci.computer_model.value().cloned().unwrap_or(d.model),
            processor_architecture: ci
                .processor_architecture
                .value()
                .cloned()
                .unwrap_or(d.processor_architecture),
            client_version: [
                or(&ci.client_version_major_number, d.client_version[0]),
                or(&ci.client_version_minor_number, d.client_version[1]),
                or(&ci.client_version_build_number, d.client_version[2]),
                or(&ci.client_version_qfe_number, d.client_version[3]),
            ],
        }
    }
}

#[cfg(test)]
#[path = "seed_tests.rs"]
mod tests;
