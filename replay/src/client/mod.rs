//! The client role: a sans-I/O Windows Update Agent state machine (reference 5.2).
//!
//! [`Sync`] owns a [`ClientState`] and, like rustls, does no I/O: [`Sync::next`] says what
//! to send ([`Step::Send`]) or that the run is over, and [`Sync::receive`] (or
//! [`Sync::receive_error`] for a transport failure) feeds the answer back. The caller
//! encodes the request with [`Sync::encode_request`], posts it to the path of
//! [`Sync::path_for`] and decodes the reply with `wusp::Envelope::decode`.
//!
//! A client seeded from a capture ([`ClientState::from_capture`], module `seed`) carries on
//! from the recorded state; its requests are the recorded ones ([`ClientState::templates`])
//! with only the volatile fields changed. [`verify`] replays a recorded request sequence and
//! compares the answers with the recording.
//!
//! Implemented: the handshake (GetConfig, GetAuthorizationCookie, GetCookie,
//! RegisterComputer when required and not yet registered, when the registration data
//! changed, and after InvalidCookie / ServerChanged: NEED_REFRESH -> NEED_REGISTER without
//! waiting for a RegistrationRequired fault), the category scan of reference 5.7
//! ([`SyncOptions::categories`]: StartCategoryScan without cookie, only with server
//! ProtocolVersion >= 3.2 and client protocolVersion >= 1.7 (C-31, C-33), then
//! FilterCategoryIds = preferredCategoryIds with NeedTwoGroupOutOfScopeUpdates=true;
//! DeployedOutOfScopeRevisionIds stay cached and listed but are neither fetched nor
//! reported; a recorded category scan is repeated), the software SyncUpdates loop
//! of reference 5.5 (first sync with empty lists; differential sync carrying the full cache
//! on its first request; NewUpdates / ChangedUpdates / OutOfScopeRevisionIDs applied; every
//! NewCookie taken; truncation and non-leaf continuation, C-28), exactly one driver pass
//! (C-30), GetExtendedUpdateInfo for revisions with Deployment Action `Install` lacking
//! Extended / LocalizedProperties fragments in batches within MaxExtendedUpdatesPerRequest
//! (never re-fetching, C-49), GetFileLocations for files without a location, one
//! ReportEventBatch (events 147 and 156 shaped per reference 3.10), the fault recoveries
//! of C-39 (cookie discarded after InvalidCookie / ServerChanged, C-40; expired cookie as
//! oldCookie, C-41; RefreshCache re-keys the cache and drops unmatched revisions), bounded
//! retries for ServerBusy / InternalServerError / transport errors, and proactive renewal
//! when the cookie's clear-text Expiration has passed (C-16). InstalledNonLeafUpdateIDs
//! never exceeds [`SyncOptions::max_installed_non_leaf`] (400, the WS2025 limit): see
//! [`ClientState::lists_capped`] for which revisions stay. SyncPrinterCatalog follows the
//! driver pass when [`SyncOptions::sync_printer_catalog`] is set (reference 2.8: the Add
//! Printer wizard's call), printer drivers cached apart in printerUpdateIDs.
//!
//! GetExtendedUpdateInfo2 (`FileUrl`, `FileDecryption`) is sent once per needed revision
//! whose metadata says decryption data is needed (a FileLocation with an
//! `EncryptedFileDigest`, or a `DecryptionInformation` without `KeyData`; or
//! `HasEncryptedFiles=true` from an earlier call; reference 2.11, 3.9), or for every
//! needed revision with files when [`SyncOptions::fetch_decryption`] forces it.
//!
//! Not done yet:
//! - No applicability evaluation: every cached non-leaf revision is treated as installed
//!   (as the server-side tests do) and every leaf goes into OtherCachedUpdateIDs; so the
//!   400 cap is reached by caches WUA would list far fewer of (87-94 natively, OBS-N).
//! - Encryption is only learned from FileLocations and UpdateEncryptionDetails: the
//!   reference names no marker in the Extended fragment, and a GetExtendedUpdateInfo2
//!   answer is not used to decrypt content (downloads check the plaintext digests).
//! - A StartCategoryScan whose preferredCategoryIds is empty fails the run rather than
//!   falling back to a regular scan; category scans are not offered in load mode.
//! - SyncPrinterCatalog sends no deviceAttributes; the driver pass sends the SystemSpec
//!   given in [`SyncOptions`] (no device enumeration).
//! - Downloads fetch ranges in order on one connection (Delivery Optimization shuffles them
//!   over several); load mode does not download.
//! - HTTP, Xpress and the backoff wait belong to the caller ([`transport::run_sync`]).
//! - Seeding: the cache a recorded client had before the capture started (IDs it listed
//!   but whose metadata is not in the capture) is not sent; a capture without GetConfig
//!   leaves no CachedConfig, so a new cookie starts with GetConfig. Templated requests keep
//!   the recorded SystemSpec, locales and computer description (the options' are ignored).
//! - `--verify` replays the requests as recorded: a server that pages differently gets the
//!   recorded next request anyway (reported as differences, not adapted to).
//! - After InvalidCookie / ServerChanged the client registers again whenever GetConfig
//!   requires it, even when the same server only lost its cookie key and still knows the
//!   client (an analyzer may count that as a repeated RegisterComputer, C-12).
//! - Reporting sends one batch at the end of the run (no random delay, no download or
//!   install events); MiscData carries only `A`, `G`, `Q`, `c` and `D` / `U`.
//!
//! The machine itself does no I/O; its async shell is here too: [`transport`] (the HTTP/1.1
//! client over TCP or rustls, explicit proxy, and [`transport::run_sync`], which drives a
//! [`Sync`] to its end), [`download`] (content by Range with digest checks) and [`load`]
//! (N concurrent simulated clients). `wutap replay` uses them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use time::OffsetDateTime;
use wusp::messages::*;
use wusp::types::{
    BasicData, CategoryIdentifier, CategoryRelationship, ComputerTargetIdentifier, Cookie, Device,
    ExtendedData, PrivateData, ReportingEvent, ReportingOsVersion, SyncUpdateParameters,
    UpdateIdentity, UpdateRevisionIdentifier,
};
use wusp::values::{
    Base64, DateTime, DeploymentAction, Guid, ProcessorArchitecture, XmlUpdateFragmentType,
};
use wusp::{Body, Envelope, ErrorCode, Field, Operation, Request, Response};

pub mod download;
pub mod load;
mod profile;
mod seed;
mod state;
#[cfg(test)]
mod tests;
pub mod transport;
pub mod verify;

pub use profile::{HttpProfile, NATIVE_USER_AGENT, PER_REQUEST_HEADERS};
pub use seed::{SeedError, SeedOptions, Seeded};
pub use state::{
    Applied, CachedConfig, CachedFile, CachedRevision, ClientState, ComputerDescription, Identity,
    StateError, StoredAuthorization, StoredCookie, template_key,
};

/// Digests per GetFileLocations call (WS2025 accepted 100, reference 2.12).
const FILE_LOCATION_BATCH: usize = 100;
/// WS2025 faults SyncUpdates with more InstalledNonLeafUpdateIDs than this (reference 7.3.5).
pub const MAX_INSTALLED_NON_LEAF: usize = 400;

/// How a run behaves.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Client clock at the start of the run (update it with [`Sync::set_now`]).
    pub now: OffsetDateTime,
    /// Resends of one request after ServerBusy, InternalServerError or a transport error.
    pub max_retries: u32,
    /// Fault recoveries allowed in one run before giving up.
    pub max_recoveries: u32,
    /// Locales of GetExtendedUpdateInfo (native: `en-US`, `en`).
    pub locales: Vec<String>,
    /// Devices of the driver pass.
    pub system_spec: Vec<Device>,
    /// Skip the ReportEventBatch at the end.
    pub skip_report: bool,
    /// Ask GetExtendedUpdateInfo2 for file URLs and decryption data of needed revisions
    /// (Windows 10 1803+ clients; reference 2.11).
    pub fetch_decryption: bool,
    /// Identities per RefreshCache call (WS2025 accepted 200, reference 2.9).
    pub refresh_batch: usize,
    /// Category-limited scan (reference 5.7, 2.6): the requested categories as AND-groups
    /// (each inner list one group; groups are ORed). Empty: a regular scan.
    pub categories: Vec<Vec<String>>,
    /// Most entries sent in InstalledNonLeafUpdateIDs (WS2025 faults above 400, reference
    /// 7.3.5); see [`ClientState::lists_capped`] for which stay.
    pub max_installed_non_leaf: usize,
    /// Call SyncPrinterCatalog after the driver pass (reference 2.8: the Add Printer
    /// wizard's call), with the cached printer drivers in printerUpdateIDs.
    pub sync_printer_catalog: bool,
}

impl SyncOptions {
    /// Defaults: 3 retries, 8 recoveries, locales `en-US`/`en`, no devices, report on.
    pub fn new(now: OffsetDateTime) -> SyncOptions {
        SyncOptions {
            now,
            max_retries: 3,
            max_recoveries: 8,
            locales: vec!["en-US".into(), "en".into()],
            system_spec: Vec::new(),
            skip_report: false,
            fetch_decryption: false,
            refresh_batch: 200,
            categories: Vec::new(),
            max_installed_non_leaf: MAX_INSTALLED_NON_LEAF,
            sync_printer_catalog: false,
        }
    }
}

/// The states of reference 5.2 (the ones a replay client goes through).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No usable CachedConfig: GetConfig.
    NeedConfig,
    /// No usable cookie: GetAuthorizationCookie.
    NeedAuth,
    /// GetCookie.
    NeedCookie,
    /// RefreshCache after InvalidCookie / ServerChanged.
    NeedRefresh,
    /// RegisterComputer.
    NeedRegister,
    /// StartCategoryScan before a category-limited scan (reference 5.7).
    CatScan,
    /// The software SyncUpdates loop.
    SwSync,
    /// The single driver SyncUpdates.
    DrvSync,
    /// SyncPrinterCatalog (reference 2.8; not in the 5.2 table, only when asked for).
    PrinterSync,
    /// GetExtendedUpdateInfo / GetFileLocations.
    ExtInfo,
    /// ReportEventBatch.
    Report,
    /// Finished (or failed).
    Done,
}

/// What the caller does next.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // one request at a time
pub enum Step {
    /// Send this request (to [`Sync::path_for`] the operation) and feed the answer to
    /// [`Sync::receive`]. After a retryable failure, wait [`Sync::backoff`] first.
    Send(Request, Operation),
    /// The run is complete.
    Done(Summary),
    /// The run stopped; the state keeps everything learned so far.
    Failed(SyncError),
}

/// Why a run stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// A fault that has no automatic recovery (InvalidParameters, unknown codes).
    #[error("{operation:?} failed with fault {code}")]
    Fault {
        /// The operation.
        operation: Operation,
        /// Its ErrorCode.
        code: String,
    },
    /// Retries exhausted after ServerBusy, InternalServerError or transport errors.
    #[error("{operation:?} still failing after {retries} retries: {last}")]
    RetriesExhausted {
        /// The operation.
        operation: Operation,
        /// Retries made.
        retries: u32,
        /// The last failure.
        last: String,
    },
    /// Too many fault recoveries in one run.
    #[error("too many fault recoveries ({0})")]
    TooManyRecoveries(u32),
    /// The server answered something the client cannot use.
    #[error("{operation:?}: {message}")]
    Protocol {
        /// The operation.
        operation: Operation,
        /// What was wrong.
        message: String,
    },
    /// `receive` without an outstanding request.
    #[error("no request outstanding")]
    NothingOutstanding,
    /// A category scan was asked for but the protocol versions forbid it (rules C-31,
    /// C-33: server ProtocolVersion >= 3.2 and client protocolVersion >= 1.7).
    #[error("category scan unavailable: {0}")]
    CategoryScanUnavailable(String),
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// True when the run started from a cached config and cookie (differential sync).
    pub differential: bool,
    /// Software SyncUpdates pages answered.
    pub pages: u32,
    /// Driver passes answered (0 or 1).
    pub driver_passes: u32,
    /// NewUpdates received (software and driver).
    pub new_updates: u32,
    /// ChangedUpdates received.
    pub changed_updates: u32,
    /// OutOfScopeRevisionIDs received (SyncUpdates and GetExtendedUpdateInfo).
    pub out_of_scope: u32,
    /// DeployedOutOfScopeRevisionIds received (category scan: kept cached, not reported).
    pub deployed_out_of_scope: u32,
    /// SyncPrinterCatalog calls answered.
    pub printer_passes: u32,
    /// GetExtendedUpdateInfo calls answered.
    pub extended_info_calls: u32,
    /// GetExtendedUpdateInfo2 calls answered.
    pub extended_info2_calls: u32,
    /// GetFileLocations calls answered.
    pub file_location_calls: u32,
    /// Events accepted by ReportEventBatch.
    pub events_reported: u32,
    /// Faults recovered, by ErrorCode.
    pub faults_recovered: BTreeMap<String, u32>,
    /// Resends after ServerBusy, InternalServerError or transport errors.
    pub retries: u32,
    /// Requests sent.
    pub requests: u32,
}

/// The main line of a run (recovery and handshake calls are queued in front of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    CatScan,
    SwSync,
    DrvSync,
    PrinterSync,
    ExtInfo,
    ExtInfo2,
    FileLocations,
    Report,
    Done,
}

/// One synchronisation run over a [`ClientState`].
#[derive(Debug)]
pub struct Sync {
    state: ClientState,
    options: SyncOptions,
    now: OffsetDateTime,
    /// Handshake / recovery calls to make before the main line goes on.
    pending: VecDeque<Operation>,
    phase: Phase,
    /// The request sent and not yet answered.
    outstanding: Option<(Request, Operation)>,
    /// Expired cookie to pass as oldCookie (C-41).
    expired_cookie: Option<StoredCookie>,
    /// Revisions asked for in this run (so one that gets no fragment is not asked again).
    ext_attempted: BTreeSet<i32>,
    /// Revisions asked for in GetExtendedUpdateInfo2 in this run.
    ext2_attempted: BTreeSet<i32>,
    /// Digests asked for in this run.
    files_attempted: BTreeSet<String>,
    retries: u32,
    recoveries: u32,
    backoff: std::time::Duration,
    summary: Summary,
    result: Option<Result<(), SyncError>>,
    event_counter: u64,
    /// Events in the ReportEventBatch being answered.
    reporting: u32,
    /// Cached identities already answered by RefreshCache in this recovery.
    refresh_sent: usize,
    /// RefreshCache results collected so far.
    refresh_results: Vec<wusp::types::RefreshCacheResult>,
    /// Decoded request templates (from [`ClientState::templates`]) by template key.
    templates: BTreeMap<String, Envelope>,
    /// The category scan's AND-groups (options, or the recorded StartCategoryScan).
    categories: Vec<Vec<String>>,
    /// preferredCategoryIds of this run's StartCategoryScan (the FilterCategoryIds).
    preferred: Option<Vec<Guid>>,
    /// DeployedOutOfScopeRevisionIds of this scan: cached, listed, but not needed now.
    scan_excluded: BTreeSet<i32>,
    /// The InstalledNonLeafUpdateIDs cap was logged (once per run).
    cap_warned: bool,
}

impl Sync {
    /// Starts a run: a first sync when the state has no cached config or cookie, else a
    /// differential one (renewing first if the cookie's Expiration has passed, C-16).
    pub fn new(state: ClientState, options: SyncOptions) -> Sync {
        let now = options.now;
        let mut pending = VecDeque::new();
        // A client seeded from a capture without GetConfig has a cookie but no config: it
        // syncs with the cookie while it is valid (GetConfig comes before a new cookie).
        let cookie_only =
            state.config.is_none() && state.cookie.as_ref().is_some_and(|c| !c.is_expired(now));
        let differential = (state.config.is_some() && state.cookie.is_some()) || cookie_only;
        let mut expired_cookie = None;
        if state.config.is_none() && !cookie_only {
            // An expired cookie (seeded without config) still goes as oldCookie (C-41).
            expired_cookie = state.cookie.clone();
            pending.extend([
                Operation::GetConfig,
                Operation::GetAuthorizationCookie,
                Operation::GetCookie,
            ]);
        } else if state.config.is_some() {
            match &state.cookie {
                None => pending.extend([Operation::GetAuthorizationCookie, Operation::GetCookie]),
                Some(c) if c.is_expired(now) => {
                    expired_cookie = Some(c.clone());
                    pending.extend([Operation::GetAuthorizationCookie, Operation::GetCookie]);
                }
                Some(_) => {}
            }
            if pending.is_empty() && needs_registration(&state) {
                pending.push_back(Operation::RegisterComputer);
            }
        }
        let templates: BTreeMap<String, Envelope> = state
            .templates
            .iter()
            .filter_map(|(k, xml)| match Envelope::decode(xml.as_bytes()) {
                Ok(env) if matches!(env.body, Body::Request(_)) => Some((k.clone(), env)),
                Ok(_) => {
                    tracing::warn!(template = %k, "request template is not a request; ignored");
                    None
                }
                Err(e) => {
                    tracing::warn!(template = %k, %e, "request template does not decode; ignored");
                    None
                }
            })
            .collect();
        // The recorded client's locales, so what is cached matches what is asked.
        let mut options = options;
        if let Some(Body::Request(Request::GetExtendedUpdateInfo(g))) = templates
            .get(Operation::GetExtendedUpdateInfo.name())
            .map(|e| &e.body)
            && !g.locales.items().is_empty()
        {
            options.locales = g.locales.items().to_vec();
        }
        // A recorded client that made a category scan repeats it (its SyncUpdates template
        // carries FilterCategoryIds) unless the options ask for other categories.
        let mut categories = options.categories.clone();
        if categories.is_empty()
            && let Some(Body::Request(Request::StartCategoryScan(t))) = templates
                .get(Operation::StartCategoryScan.name())
                .map(|e| &e.body)
            && templates
                .get(Operation::SyncUpdates.name())
                .is_some_and(|e| match &e.body {
                    Body::Request(Request::SyncUpdates(s)) => s
                        .parameters
                        .value()
                        .is_some_and(|p| !p.filter_category_ids.items().is_empty()),
                    _ => false,
                })
        {
            categories = category_groups(t);
        }
        categories.retain(|g| !g.is_empty());
        Sync {
            state,
            options,
            now,
            pending,
            phase: if categories.is_empty() {
                Phase::SwSync
            } else {
                Phase::CatScan
            },
            outstanding: None,
            expired_cookie,
            ext_attempted: BTreeSet::new(),
            ext2_attempted: BTreeSet::new(),
            files_attempted: BTreeSet::new(),
            retries: 0,
            recoveries: 0,
            backoff: std::time::Duration::ZERO,
            summary: Summary {
                differential,
                ..Summary::default()
            },
            result: None,
            event_counter: 0,
            reporting: 0,
            refresh_sent: 0,
            refresh_results: Vec::new(),
            templates,
            categories,
            preferred: None,
            scan_excluded: BTreeSet::new(),
            cap_warned: false,
        }
    }

    /// The request body to post: the request inside the recorded envelope of its template
    /// when there is one (same prefixes and declarations), else a native envelope.
    pub fn encode_request(&self, req: &Request) -> String {
        match self.templates.get(&template_key(req)) {
            Some(t) => {
                let mut env = t.clone();
                env.body = Body::Request(req.clone());
                env.encode()
            }
            None => Envelope::request(req.clone()).encode(),
        }
    }

    /// The client state (cache, cookie, config) as it stands.
    pub fn state(&self) -> &ClientState {
        &self.state
    }

    /// Ends the run and hands back the state (to save it, even after a failure).
    pub fn into_state(self) -> ClientState {
        self.state
    }

    /// Sets the client clock (GetCookie currentTime, expiry checks, event times).
    pub fn set_now(&mut self, now: OffsetDateTime) {
        self.now = now;
    }

    /// How long to wait before sending the next request (non-zero after a retryable failure).
    pub fn backoff(&self) -> std::time::Duration {
        self.backoff
    }

    /// The summary so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The reference 5.2 state the machine is in.
    pub fn current(&self) -> State {
        if self.result.is_some() {
            return State::Done;
        }
        match self.pending.front() {
            Some(Operation::GetConfig) => State::NeedConfig,
            Some(Operation::GetAuthorizationCookie) => State::NeedAuth,
            Some(Operation::GetCookie) => State::NeedCookie,
            Some(Operation::RefreshCache) => State::NeedRefresh,
            Some(Operation::RegisterComputer) => State::NeedRegister,
            _ => match self.phase {
                Phase::CatScan => State::CatScan,
                Phase::SwSync => State::SwSync,
                Phase::DrvSync => State::DrvSync,
                Phase::PrinterSync => State::PrinterSync,
                Phase::ExtInfo | Phase::ExtInfo2 | Phase::FileLocations => State::ExtInfo,
                Phase::Report => State::Report,
                Phase::Done => State::Done,
            },
        }
    }

    /// The HTTP headers of the request for `op` (`body_len` bytes, to `host`), in the
    /// client's header order and case; advances the MS-CV (none on Reporting posts).
    pub fn request_headers(
        &mut self,
        op: Operation,
        body_len: usize,
        host: &str,
    ) -> Vec<(String, String)> {
        let cv = if op.service() == wusp::Service::Reporting {
            None
        } else {
            self.state.http.next_ms_cv()
        };
        self.state
            .http
            .request_headers(&op.soap_action(), body_len, host, cv.as_deref())
    }

    /// The request path for an operation: the AuthInfo ServiceUrl for
    /// GetAuthorizationCookie (C-03), else the service's path.
    pub fn path_for(&self, op: Operation) -> String {
        if op == Operation::GetAuthorizationCookie
            && let Some(url) = self
                .state
                .config
                .as_ref()
                .and_then(|c| c.auth_service_url.as_ref())
                .filter(|u| !u.is_empty())
        {
            return if url.starts_with('/') {
                url.clone()
            } else {
                format!("/{url}")
            };
        }
        op.service().path().to_string()
    }

    /// What to do next. Calling it again without [`Sync::receive`] repeats the same request.
    #[allow(clippy::should_implement_trait)] // not an iterator: it repeats until answered
    pub fn next(&mut self) -> Step {
        if let Some(r) = &self.result {
            return match r {
                Ok(()) => Step::Done(self.summary.clone()),
                Err(e) => Step::Failed(e.clone()),
            };
        }
        if let Some((req, op)) = &self.outstanding {
            return Step::Send(req.clone(), *op);
        }
        loop {
            // Proactive renewal before a cookie-bearing call (C-16).
            let cookie_bearing = match self.pending.front() {
                // StartCategoryScan has no cookie (reference 2.6).
                None => !matches!(self.phase, Phase::Done | Phase::CatScan),
                Some(op) => matches!(
                    op,
                    Operation::RegisterComputer
                        | Operation::RefreshCache
                        | Operation::GetFileLocations
                ),
            };
            if cookie_bearing
                && !self.pending.contains(&Operation::GetCookie)
                && let Some(c) = &self.state.cookie
                && c.is_expired(self.now)
            {
                tracing::debug!("cookie expired by its clear-text Expiration; renewing");
                self.expired_cookie = Some(c.clone());
                self.pending.push_front(Operation::GetCookie);
                self.pending.push_front(Operation::GetAuthorizationCookie);
            }
            // A cookie needs the config's LastChange (a client seeded without GetConfig).
            if matches!(
                self.pending.front(),
                Some(Operation::GetAuthorizationCookie | Operation::GetCookie)
            ) && self.state.config.is_none()
                && !self.pending.contains(&Operation::GetConfig)
            {
                self.pending.push_front(Operation::GetConfig);
            }
            let built = match self.pending.front().copied() {
                Some(op) => self.handshake_request(op),
                None => self.main_request(),
            };
            match built {
                Ok(Some(req)) => {
                    let req = self.templated(req);
                    let op = req.operation();
                    self.summary.requests += 1;
                    self.outstanding = Some((req.clone(), op));
                    return Step::Send(req, op);
                }
                Ok(None) => {
                    if self.result.is_some() {
                        return self.next();
                    }
                }
                Err(e) => {
                    self.result = Some(Err(e));
                    return self.next();
                }
            }
        }
    }

    /// Feeds the answer to the outstanding request: HTTP status and the decoded envelope
    /// (or the decoding error).
    pub fn receive(&mut self, status: u16, envelope: Result<Envelope, wusp::Error>) {
        let Some((req, op)) = self.outstanding.take() else {
            self.result
                .get_or_insert(Err(SyncError::NothingOutstanding));
            return;
        };
        let env = match envelope {
            Ok(e) => e,
            Err(e) => return self.transient(op, format!("HTTP {status}: undecodable: {e}")),
        };
        match env.body {
            Body::Response(r) if r.operation() == op => {
                self.retries = 0;
                self.backoff = std::time::Duration::ZERO;
                // Marked only once answered, so a faulted batch is resent unchanged.
                match &req {
                    Request::GetExtendedUpdateInfo(g) => {
                        self.ext_attempted
                            .extend(g.revision_ids.items().iter().copied());
                    }
                    Request::GetFileLocations(g) => self.files_attempted.extend(
                        g.file_digests
                            .items()
                            .iter()
                            .map(|d| d.as_str().to_string()),
                    ),
                    Request::GetExtendedUpdateInfo2(g) => {
                        let ids = self.state.mark_decryption_asked(g);
                        self.ext2_attempted.extend(ids);
                    }
                    Request::RefreshCache(g) => {
                        self.refresh_sent += g.global_ids.items().len();
                    }
                    Request::ReportEventBatch(g) => {
                        self.reporting = g.event_batch.items().len() as u32;
                    }
                    _ => {}
                }
                if let Err(e) = self.on_response(op, r) {
                    self.result = Some(Err(e));
                }
            }
            Body::Fault(f) => match f.error_code() {
                Some(code) => self.on_fault(op, code.canonical()),
                None => self.transient(op, format!("HTTP {status}: fault without ErrorCode")),
            },
            _ => self.transient(op, format!("HTTP {status}: not a {op:?} response")),
        }
    }

    /// Feeds a transport failure (connection refused or reset, timeout, HTTP 503 without
    /// a SOAP body) for the outstanding request; it is retried within `max_retries`.
    pub fn receive_error(&mut self, error: impl std::fmt::Display) {
        let Some((_, op)) = self.outstanding.take() else {
            self.result
                .get_or_insert(Err(SyncError::NothingOutstanding));
            return;
        };
        self.transient(op, error.to_string());
    }

    fn transient(&mut self, op: Operation, last: String) {
        if self.retries >= self.options.max_retries {
            tracing::warn!(?op, %last, "retries exhausted");
            self.result = Some(Err(SyncError::RetriesExhausted {
                operation: op,
                retries: self.retries,
                last,
            }));
            return;
        }
        self.retries += 1;
        self.summary.retries += 1;
        self.backoff = std::time::Duration::from_secs(1 << self.retries.min(6));
        tracing::debug!(?op, %last, retry = self.retries, "retrying");
    }

    fn on_fault(&mut self, op: Operation, code: ErrorCode) {
        tracing::debug!(?op, %code, "fault");
        use Operation::*;
        let steps: &[Operation] = match code {
            ErrorCode::ServerBusy | ErrorCode::InternalServerError => {
                return self.transient(op, format!("fault {code}"));
            }
            ErrorCode::RegistrationNotRequired if op == RegisterComputer => {
                // INF: stop calling RegisterComputer.
                self.state.registered = true;
                self.state.registered_info = Some(self.state.identity.computer.clone());
                self.pending.retain(|o| *o != RegisterComputer);
                return;
            }
            ErrorCode::InvalidCookie | ErrorCode::ServerChanged => {
                // C-40: the rejected cookie is never sent again, not even as oldCookie.
                self.state.cookie = None;
                self.expired_cookie = None;
                // The server that rejects the cookie is taken as one that has not seen this
                // client: NEED_REFRESH -> NEED_REGISTER when its GetConfig requires
                // registration (reference 5.2), instead of waiting for RegistrationRequired.
                self.state.registered = false;
                // RefreshCache re-keys the cache: revision IDs of this scan no longer hold.
                self.scan_excluded.clear();
                // A new server may prefer other categories: StartCategoryScan again before
                // the software loop goes on (C-32 per server).
                if self.phase == Phase::SwSync && !self.categories.is_empty() {
                    self.phase = Phase::CatScan;
                    self.preferred = None;
                }
                &[GetConfig, GetAuthorizationCookie, GetCookie, RefreshCache]
            }
            ErrorCode::ConfigChanged => &[GetConfig, GetAuthorizationCookie, GetCookie],
            ErrorCode::CookieExpired => {
                self.expired_cookie = self.state.cookie.clone();
                &[GetAuthorizationCookie, GetCookie]
            }
            ErrorCode::InvalidAuthorizationCookie => &[GetAuthorizationCookie, GetCookie],
            ErrorCode::RegistrationRequired => {
                self.state.registered = false;
                &[RegisterComputer]
            }
            ErrorCode::FileLocationChanged => {
                for r in self.state.revisions.values_mut() {
                    for f in &mut r.files {
                        f.url = None;
                    }
                }
                self.files_attempted.clear();
                &[GetFileLocations]
            }
            other => {
                self.result = Some(Err(SyncError::Fault {
                    operation: op,
                    code: other.to_string(),
                }));
                return;
            }
        };
        // A recovery restarts any RefreshCache under way.
        self.refresh_sent = 0;
        self.refresh_results.clear();
        self.recoveries += 1;
        if self.recoveries > self.options.max_recoveries {
            self.result = Some(Err(SyncError::TooManyRecoveries(self.recoveries - 1)));
            return;
        }
        *self
            .summary
            .faults_recovered
            .entry(code.to_string())
            .or_default() += 1;
        // The recovery replaces whatever handshake was under way; the failed main-line
        // call is retried afterwards because the main line has not moved on.
        let mut steps: Vec<Operation> = steps.to_vec();
        if steps == [GetFileLocations] && self.phase == Phase::FileLocations {
            steps.clear();
        }
        // A recovery during the handshake keeps what the handshake still had to do.
        let rest: Vec<Operation> = self
            .pending
            .iter()
            .copied()
            .filter(|o| !steps.contains(o) && *o != op)
            .collect();
        let failed_was_pending = self.pending.front() == Some(&op);
        self.pending = steps.into_iter().collect();
        self.pending.extend(rest);
        if failed_was_pending && !self.pending.contains(&op) {
            self.pending.push_back(op);
        }
    }

    // ---- requests ----

    /// The request as the recorded client would send it: its template with the volatile
    /// fields (cookie, times, cache and revision lists, digests, events) taken from `built`;
    /// `built` itself when there is no template.
    fn templated(&self, built: Request) -> Request {
        let Some(Body::Request(t)) = self.templates.get(&template_key(&built)).map(|e| &e.body)
        else {
            return built;
        };
        let mut t = t.clone();
        match (&mut t, built) {
            (Request::GetConfig(_), Request::GetConfig(_))
            | (Request::GetAuthorizationCookie(_), Request::GetAuthorizationCookie(_)) => {}
            (Request::GetCookie(t), Request::GetCookie(b)) => {
                t.auth_cookies = b.auth_cookies;
                t.old_cookie = b.old_cookie;
                t.last_change = b.last_change;
                t.current_time = b.current_time;
            }
            (Request::RegisterComputer(t), Request::RegisterComputer(b)) => t.cookie = b.cookie,
            (Request::StartCategoryScan(t), Request::StartCategoryScan(b)) => {
                t.requested_categories = b.requested_categories;
            }
            (Request::SyncPrinterCatalog(t), Request::SyncPrinterCatalog(b)) => {
                t.cookie = b.cookie;
                t.installed_non_leaf_update_ids = b.installed_non_leaf_update_ids;
                t.printer_update_ids = b.printer_update_ids;
            }
            (Request::RefreshCache(t), Request::RefreshCache(b)) => {
                t.cookie = b.cookie;
                t.global_ids = b.global_ids;
            }
            (Request::SyncUpdates(t), Request::SyncUpdates(b)) => {
                t.cookie = b.cookie;
                match (t.parameters.value_mut(), b.parameters.value()) {
                    (Some(tp), Some(bp)) => {
                        tp.installed_non_leaf_update_ids = bp.installed_non_leaf_update_ids.clone();
                        tp.other_cached_update_ids = bp.other_cached_update_ids.clone();
                        tp.cached_driver_ids = bp.cached_driver_ids.clone();
                        // Only this run's StartCategoryScan may put ids here (C-31, C-32).
                        tp.filter_category_ids = bp.filter_category_ids.clone();
                        tp.need_two_group_out_of_scope_updates =
                            bp.need_two_group_out_of_scope_updates.clone();
                    }
                    _ => t.parameters = b.parameters,
                }
            }
            (Request::GetExtendedUpdateInfo(t), Request::GetExtendedUpdateInfo(b)) => {
                t.cookie = b.cookie;
                t.revision_ids = b.revision_ids;
            }
            (Request::GetExtendedUpdateInfo2(t), Request::GetExtendedUpdateInfo2(b)) => {
                t.cookie = b.cookie;
                t.update_ids = b.update_ids;
            }
            (Request::GetFileLocations(t), Request::GetFileLocations(b)) => {
                t.cookie = b.cookie;
                t.file_digests = b.file_digests;
            }
            (Request::ReportEventBatch(t), Request::ReportEventBatch(b)) => {
                t.cookie = b.cookie;
                t.client_time = b.client_time;
                t.event_batch = b.event_batch;
            }
            (_, b) => return b,
        }
        t
    }

    fn cookie(&self, op: Operation) -> Result<Cookie, SyncError> {
        self.state
            .cookie
            .as_ref()
            .map(StoredCookie::to_wire)
            .ok_or(SyncError::Protocol {
                operation: op,
                message: "no cookie".into(),
            })
    }

    fn handshake_request(&mut self, op: Operation) -> Result<Option<Request>, SyncError> {
        let id = &self.state.identity;
        Ok(Some(match op {
            Operation::GetConfig => GetConfig {
                protocol_version: Field::Value(id.protocol_version.clone()),
                ..Default::default()
            }
            .into(),
            Operation::GetAuthorizationCookie => GetAuthorizationCookie {
                client_id: Field::Value(id.client_id.clone()),
                target_group_name: id.target_group.clone().map_or(Field::Absent, Field::Value),
                dns_name: Field::Value(id.dns_name.clone()),
                ..Default::default()
            }
            .into(),
            Operation::GetCookie => {
                let auth = self
                    .state
                    .authorization
                    .as_ref()
                    .ok_or(SyncError::Protocol {
                        operation: op,
                        message: "no authorization cookie".into(),
                    })?;
                let config = self.state.config.as_ref().ok_or(SyncError::Protocol {
                    operation: op,
                    message: "no configuration".into(),
                })?;
                let now = DateTime::from_instant(self.now);
                // Native first GetCookie: an oldCookie with only Expiration = currentTime.
                let old = match &self.expired_cookie {
                    Some(c) => c.to_wire(),
                    None => Cookie {
                        expiration: Field::Value(now.clone()),
                        ..Cookie::default()
                    },
                };
                GetCookie {
                    auth_cookies: Field::Value(vec![auth.to_wire()]),
                    old_cookie: Field::Value(old),
                    last_change: Field::Value(DateTime(config.last_change.clone())),
                    current_time: Field::Value(now),
                    protocol_version: Field::Value(id.protocol_version.clone()),
                    ..Default::default()
                }
                .into()
            }
            Operation::RegisterComputer => RegisterComputer {
                cookie: Field::Value(self.cookie(op)?),
                computer_info: Field::Value(
                    id.computer
                        .computer_info(&id.dns_name, DateTime::from_instant(self.now)),
                ),
                ..Default::default()
            }
            .into(),
            Operation::RefreshCache => RefreshCache {
                cookie: Field::Value(self.cookie(op)?),
                // C-38: globalIDs always present (an empty cache sends an empty list, so the
                // C-39 order holds even then).
                global_ids: {
                    let mut ids = Field::Absent;
                    ids.set_items(
                        self.state
                            .revisions
                            .values()
                            .skip(self.refresh_sent)
                            .take(self.options.refresh_batch.max(1))
                            .map(|r| UpdateIdentity {
                                update_id: Field::Value(Guid(r.update_id.clone())),
                                revision_number: Field::Value(r.revision_number),
                                ..Default::default()
                            })
                            .collect(),
                    );
                    ids
                },
                ..Default::default()
            }
            .into(),
            Operation::GetFileLocations => {
                // FileLocationChanged: every digest without a location, then back to the main line.
                let digests = self.missing_locations();
                if digests.is_empty() {
                    self.pending.pop_front();
                    return Ok(None);
                }
                GetFileLocations {
                    cookie: Field::Value(self.cookie(op)?),
                    file_digests: Field::Value(digests.into_iter().map(Base64).collect()),
                    ..Default::default()
                }
                .into()
            }
            other => {
                return Err(SyncError::Protocol {
                    operation: other,
                    message: "not a handshake call".into(),
                });
            }
        }))
    }

    /// The lists of reference 5.5 with InstalledNonLeafUpdateIDs capped (warned once).
    fn lists(&mut self) -> (Vec<i32>, Vec<i32>, Vec<i32>) {
        let max = self.options.max_installed_non_leaf;
        let (inst, other, drivers, moved) = self.state.lists_capped(max);
        if moved > 0 && !self.cap_warned {
            self.cap_warned = true;
            tracing::warn!(
                kept = inst.len(),
                moved,
                "InstalledNonLeafUpdateIDs capped at {max} (WS2025 rejects more); the \
                 non-leaf revisions fewest cached revisions depend on go in OtherCachedUpdateIDs"
            );
        }
        (inst, other, drivers)
    }

    fn main_request(&mut self) -> Result<Option<Request>, SyncError> {
        match self.phase {
            Phase::CatScan => {
                // C-33: only with a known server ProtocolVersion >= 3.2 (NEED_CONFIG first
                // when the config is not cached); C-31: client protocolVersion >= 1.7.
                let Some(config) = &self.state.config else {
                    if !self.pending.contains(&Operation::GetConfig) {
                        self.pending.push_back(Operation::GetConfig);
                    }
                    return Ok(None);
                };
                let server = config.protocol_version.as_deref();
                let client = self.state.identity.protocol_version.as_str();
                if !version_at_least(server, (3, 2)) || !version_at_least(Some(client), (1, 7)) {
                    return Err(SyncError::CategoryScanUnavailable(format!(
                        "StartCategoryScan needs server ProtocolVersion >= 3.2 (GetConfig said {}) \
                         and client protocolVersion >= 1.7 (this client sends {client})",
                        server.unwrap_or("none")
                    )));
                }
                let mut rels = Vec::new();
                for (i, group) in self.categories.iter().enumerate() {
                    for id in group {
                        rels.push(CategoryRelationship {
                            index_of_and_group: Field::Value(i as i32),
                            category_id: Field::Value(Guid(id.clone())),
                            ..Default::default()
                        });
                    }
                }
                Ok(Some(
                    StartCategoryScan {
                        requested_categories: Field::Value(rels),
                        ..Default::default()
                    }
                    .into(),
                ))
            }
            Phase::SwSync => {
                let (inst, other, drivers) = self.lists();
                // Category scan (reference 5.7): FilterCategoryIds = preferredCategoryIds.
                let (filter, two_group) = match &self.preferred {
                    Some(p) => (
                        Field::Value(
                            p.iter()
                                .map(|g| CategoryIdentifier {
                                    id: Field::Value(g.clone()),
                                    ..Default::default()
                                })
                                .collect(),
                        ),
                        Field::Value(true),
                    ),
                    None => (Field::Absent, Field::Absent),
                };
                Ok(Some(
                    SyncUpdates {
                        cookie: Field::Value(self.cookie(Operation::SyncUpdates)?),
                        parameters: Field::Value(SyncUpdateParameters {
                            express_query: Field::Value(false),
                            installed_non_leaf_update_ids: Field::list_or_absent(inst),
                            other_cached_update_ids: Field::list_or_absent(other),
                            cached_driver_ids: Field::list_or_absent(drivers),
                            skip_software_sync: Field::Value(false),
                            filter_category_ids: filter,
                            need_two_group_out_of_scope_updates: two_group,
                            ..SyncUpdateParameters::default()
                        }),
                        ..Default::default()
                    }
                    .into(),
                ))
            }
            Phase::DrvSync => {
                let (inst, _, drivers) = self.lists();
                Ok(Some(
                    SyncUpdates {
                        cookie: Field::Value(self.cookie(Operation::SyncUpdates)?),
                        parameters: Field::Value(SyncUpdateParameters {
                            express_query: Field::Value(false),
                            installed_non_leaf_update_ids: Field::list_or_absent(inst),
                            system_spec: Field::Value(self.options.system_spec.clone()),
                            cached_driver_ids: Field::list_or_absent(drivers),
                            skip_software_sync: Field::Value(true),
                            ..SyncUpdateParameters::default()
                        }),
                        ..Default::default()
                    }
                    .into(),
                ))
            }
            Phase::PrinterSync => {
                let (inst, _, _) = self.lists();
                Ok(Some(
                    SyncPrinterCatalog {
                        cookie: Field::Value(self.cookie(Operation::SyncPrinterCatalog)?),
                        installed_non_leaf_update_ids: Field::list_or_absent(inst),
                        printer_update_ids: Field::list_or_absent(self.state.printer_ids()),
                        ..Default::default()
                    }
                    .into(),
                ))
            }
            Phase::ExtInfo => {
                let batch = self.extended_batch();
                if batch.is_empty() {
                    self.phase = Phase::ExtInfo2;
                    return Ok(None);
                }
                Ok(Some(
                    GetExtendedUpdateInfo {
                        cookie: Field::Value(self.cookie(Operation::GetExtendedUpdateInfo)?),
                        revision_ids: Field::Value(batch),
                        info_types: Field::Value(vec![
                            XmlUpdateFragmentType::Extended,
                            XmlUpdateFragmentType::LocalizedProperties,
                        ]),
                        locales: Field::Value(self.options.locales.clone()),
                        ..Default::default()
                    }
                    .into(),
                ))
            }
            Phase::ExtInfo2 => {
                let batch = self.decryption_batch();
                if batch.is_empty() {
                    self.phase = Phase::FileLocations;
                    return Ok(None);
                }
                Ok(Some(
                    GetExtendedUpdateInfo2 {
                        cookie: Field::Value(self.cookie(Operation::GetExtendedUpdateInfo2)?),
                        update_ids: Field::Value(
                            batch
                                .iter()
                                .filter_map(|id| self.state.revisions.get(id))
                                .map(|r| UpdateIdentity {
                                    update_id: Field::Value(Guid(r.update_id.clone())),
                                    revision_number: Field::Value(r.revision_number),
                                    ..Default::default()
                                })
                                .collect(),
                        ),
                        info_types: Field::Value(vec![
                            XmlUpdateFragmentType::FileUrl,
                            XmlUpdateFragmentType::FileDecryption,
                        ]),
                        ..Default::default()
                    }
                    .into(),
                ))
            }
            Phase::FileLocations => {
                let digests: Vec<String> = self
                    .missing_locations()
                    .into_iter()
                    .filter(|d| !self.files_attempted.contains(d))
                    .take(FILE_LOCATION_BATCH)
                    .collect();
                if digests.is_empty() {
                    self.phase = if self.options.skip_report {
                        Phase::Done
                    } else {
                        Phase::Report
                    };
                    return Ok(None);
                }
                Ok(Some(
                    GetFileLocations {
                        cookie: Field::Value(self.cookie(Operation::GetFileLocations)?),
                        file_digests: Field::Value(digests.into_iter().map(Base64).collect()),
                        ..Default::default()
                    }
                    .into(),
                ))
            }
            Phase::Report => Ok(Some(
                ReportEventBatch {
                    cookie: Field::Value(self.cookie(Operation::ReportEventBatch)?),
                    client_time: Field::Value(DateTime::from_instant(self.now)),
                    event_batch: Field::Value(self.events()),
                    ..Default::default()
                }
                .into(),
            )),
            Phase::Done => {
                self.result = Some(Ok(()));
                Ok(None)
            }
        }
    }

    /// Revisions needing fragments: Deployment Action Install, some fragment not cached.
    fn extended_batch(&self) -> Vec<i32> {
        let max = self
            .state
            .config
            .as_ref()
            .and_then(|c| c.max_extended_updates_per_request)
            .unwrap_or(50)
            .max(1) as usize;
        let wanted = self.wanted_fragments();
        self.state
            .revisions
            .iter()
            .filter(|(id, r)| {
                r.action == DeploymentAction::Install.as_str()
                    && !self.scan_excluded.contains(id)
                    && !self.ext_attempted.contains(id)
                    && wanted.iter().any(|k| !r.fetched.contains(k))
            })
            .map(|(id, _)| *id)
            .take(max)
            .collect()
    }

    /// Needed revisions whose decryption data was not asked for yet and that need it: the
    /// metadata says a file is encrypted with no key known ([`CachedRevision::needs_decryption`]),
    /// or [`SyncOptions::fetch_decryption`] forces it for every needed revision with files.
    fn decryption_batch(&self) -> Vec<i32> {
        let max = self
            .state
            .config
            .as_ref()
            .and_then(|c| c.max_extended_updates_per_request)
            .unwrap_or(50)
            .max(1) as usize;
        self.state
            .revisions
            .iter()
            .filter(|(id, r)| {
                r.action == DeploymentAction::Install.as_str()
                    && !self.scan_excluded.contains(id)
                    && !r.files.is_empty()
                    && (self.options.fetch_decryption || r.needs_decryption())
                    && !r.fetched.contains("FileDecryption")
                    && !self.ext2_attempted.contains(id)
            })
            .map(|(id, _)| *id)
            .take(max)
            .collect()
    }

    fn wanted_fragments(&self) -> Vec<String> {
        let mut keys = vec!["Extended".to_string()];
        keys.extend(
            self.options
                .locales
                .iter()
                .map(|l| format!("LocalizedProperties:{l}")),
        );
        keys
    }

    /// Digests (base64) of files of needed revisions with no known location.
    fn missing_locations(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        for (id, r) in &self.state.revisions {
            if r.action != DeploymentAction::Install.as_str() || self.scan_excluded.contains(id) {
                continue;
            }
            for f in &r.files {
                if f.url.is_none() {
                    out.insert(f.digest.clone());
                }
            }
        }
        out.into_iter().collect()
    }

    fn event_guid(&mut self) -> Guid {
        let mut b = [0u8; 16];
        if getrandom::fill(&mut b).is_err() {
            self.event_counter += 1;
            let t = self.now.unix_timestamp_nanos() as u64;
            b[..8].copy_from_slice(&t.to_be_bytes());
            b[8..].copy_from_slice(&self.event_counter.to_be_bytes());
        }
        Guid::v4_from_bytes(b)
    }

    /// Events 147 (detection finished, %1 = number of updates) and 156 (status, `U=` the
    /// installable update IDs), shaped per reference 3.10.
    fn events(&mut self) -> Vec<ReportingEvent> {
        let installable: Vec<String> = self
            .state
            .revisions
            .iter()
            .filter(|(id, r)| {
                r.is_leaf
                    && r.action == DeploymentAction::Install.as_str()
                    && !self.scan_excluded.contains(id)
            })
            .map(|(_, r)| r.update_id.clone())
            .collect();
        let allowed = self
            .state
            .config
            .as_ref()
            .map(|c| c.allowed_event_ids.clone())
            .unwrap_or_default();
        let c = self.state.identity.computer.clone();
        let client_version = c
            .client_version
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(".");
        let mut out = Vec::new();
        for (event_id, replacement, misc) in [
            (
                147i16,
                vec![installable.len().to_string()],
                vec![format!("D={}", installable.len())],
            ),
            (156, vec![], vec![format!("U={}", installable.join(";"))]),
        ] {
            if !allowed.is_empty() && !allowed.contains(&i32::from(event_id)) {
                continue;
            }
            let mut misc_data = vec![
                "A=0".to_string(),
                format!("G={client_version}"),
                "Q=1".to_string(),
                "c=1".to_string(),
            ];
            misc_data.extend(misc);
            let instance = self.event_guid();
            out.push(ReportingEvent {
                basic_data: Field::Value(BasicData {
                    target_id: Field::Value(ComputerTargetIdentifier {
                        sid: Field::Value(self.state.identity.client_id.clone()),
                        ..Default::default()
                    }),
                    sequence_number: Field::Value(0),
                    time_at_target: Field::Value(DateTime::from_instant(self.now)),
                    event_instance_id: Field::Value(instance),
                    namespace_id: Field::Value(1),
                    event_id: Field::Value(event_id),
                    source_id: Field::Value(101),
                    update_id: Field::Value(UpdateRevisionIdentifier {
                        update_id: Field::Value(Guid::zero()),
                        revision_number: Field::Value(0),
                        ..Default::default()
                    }),
                    win32_hresult: Field::Value(0),
                    ..Default::default()
                }),
                extended_data: Field::Value(ExtendedData {
                    replacement_strings: if replacement.is_empty() {
                        Field::Absent
                    } else {
                        Field::Value(replacement)
                    },
                    misc_data: Field::Value(misc_data),
                    computer_brand: Field::Value(c.manufacturer.clone()),
                    computer_model: Field::Value(c.model.clone()),
                    processor_architecture: Field::Value(ProcessorArchitecture::Amd64Compatible),
                    os_version: Field::Value(ReportingOsVersion {
                        major: Field::Value(c.os_major),
                        minor: Field::Value(c.os_minor),
                        build: Field::Value(c.os_build),
                        revision: Field::Value(0),
                        service_pack_major: Field::Value(0),
                        service_pack_minor: Field::Value(0),
                        ..Default::default()
                    }),
                    os_locale_id: Field::Value(1033),
                    device_id: Field::Value(String::new()),
                    ..Default::default()
                }),
                private_data: Field::Value(PrivateData {
                    computer_dns_name: Field::Value(String::new()),
                    user_account_name: Field::Value(String::new()),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        out
    }

    // ---- responses ----

    fn on_response(&mut self, op: Operation, r: Response) -> Result<(), SyncError> {
        let proto = |message: &str| SyncError::Protocol {
            operation: op,
            message: message.into(),
        };
        let from_pending = self.pending.front() == Some(&op);
        match r {
            Response::GetConfig(r) => {
                let c = r
                    .result
                    .value()
                    .ok_or_else(|| proto("no GetConfigResult"))?;
                self.state.config =
                    Some(CachedConfig::from_config(c).ok_or_else(|| proto("no LastChange"))?);
            }
            Response::GetAuthorizationCookie(r) => {
                let a = r
                    .result
                    .value()
                    .ok_or_else(|| proto("no GetAuthorizationCookieResult"))?;
                self.state.authorization = Some(StoredAuthorization::from_wire(a));
            }
            Response::GetCookie(r) => {
                let c = r
                    .result
                    .value()
                    .and_then(StoredCookie::from_wire)
                    .ok_or_else(|| proto("no GetCookieResult"))?;
                self.state.cookie = Some(c);
                self.expired_cookie = None;
                // NEED_COOKIE -> (NEED_REFRESH ->) NEED_REGISTER if required.
                if needs_registration(&self.state)
                    && !self.pending.contains(&Operation::RegisterComputer)
                {
                    self.pending.push_back(Operation::RegisterComputer);
                }
            }
            Response::RegisterComputer(_) => self.state.mark_registered(),
            Response::RefreshCache(r) => {
                // The cache is re-keyed once every batch is answered.
                self.refresh_results
                    .extend(r.result.items().iter().cloned());
                if self.refresh_sent < self.state.revisions.len() {
                    return Ok(());
                }
                let results = std::mem::take(&mut self.refresh_results);
                self.refresh_sent = 0;
                self.state.apply_refresh(&results);
            }
            Response::StartCategoryScan(r) => {
                let preferred = r.preferred_category_ids.items().to_vec();
                let in_error = r.requested_category_ids_in_error.items();
                if !in_error.is_empty() {
                    tracing::warn!(
                        categories = %in_error.iter().map(|g| g.0.as_str()).collect::<Vec<_>>().join(","),
                        "StartCategoryScan: categories the server does not recognise"
                    );
                }
                if preferred.is_empty() {
                    // An empty filter would be a regular scan: not what was asked for.
                    return Err(proto(&format!(
                        "no preferredCategoryIds for the requested categories{}",
                        if in_error.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " (not recognised: {})",
                                in_error
                                    .iter()
                                    .map(|g| g.0.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    )));
                }
                self.preferred = Some(preferred);
                self.phase = Phase::SwSync;
            }
            Response::SyncPrinterCatalog(r) => {
                let info = r
                    .result
                    .value()
                    .ok_or_else(|| proto("no SyncPrinterCatalogResult"))?;
                let applied = self.state.apply_sync(info);
                self.state.mark_printer(info);
                self.count(&applied);
                self.summary.printer_passes += 1;
                // Same loop rule as SyncUpdates (reference 2.8: "same rules").
                if !applied.more {
                    self.phase = Phase::ExtInfo;
                }
            }
            Response::SyncUpdates(r) => {
                let info = r
                    .result
                    .value()
                    .ok_or_else(|| proto("no SyncUpdatesResult"))?;
                let applied = self.state.apply_sync(info);
                self.count(&applied);
                // Category scan: still deployed but outside the filter. Kept cached and
                // listed (so the server does not resend them), but not needed by this scan:
                // no extended info, no locations, not reported (reference 5.5, INF).
                for id in info.deployed_out_of_scope_revision_ids.items() {
                    self.summary.deployed_out_of_scope += 1;
                    if self.state.revisions.contains_key(id) {
                        self.scan_excluded.insert(*id);
                    }
                }
                for u in info.new_updates.items() {
                    if let Some(id) = u.id.value() {
                        self.scan_excluded.remove(id);
                    }
                }
                match self.phase {
                    Phase::SwSync => {
                        self.summary.pages += 1;
                        if !applied.more {
                            self.phase = Phase::DrvSync;
                        }
                    }
                    _ => {
                        self.summary.driver_passes += 1;
                        self.phase = if self.options.sync_printer_catalog {
                            Phase::PrinterSync
                        } else {
                            Phase::ExtInfo
                        };
                    }
                }
            }
            Response::GetExtendedUpdateInfo(r) => {
                self.summary.extended_info_calls += 1;
                if let Some(info) = r.result.value() {
                    let applied = self.state.apply_extended(info, &self.wanted_fragments());
                    self.count(&applied);
                }
            }
            Response::GetExtendedUpdateInfo2(r) => {
                self.summary.extended_info2_calls += 1;
                if let Some(info) = r.result.value() {
                    self.state.apply_extended2(info);
                }
            }
            Response::GetFileLocations(r) => {
                self.summary.file_location_calls += 1;
                if let Some(res) = r.result.value() {
                    self.state.apply_file_locations(res);
                }
            }
            Response::ReportEventBatch(r) => {
                if r.result.value() == Some(&true) {
                    self.summary.events_reported += self.reporting;
                }
                self.phase = Phase::Done;
            }
            _ => return Err(proto("unexpected response")),
        }
        if from_pending {
            self.pending.pop_front();
        }
        Ok(())
    }

    /// Adds what a response changed in the cache to the summary.
    fn count(&mut self, applied: &Applied) {
        self.summary.new_updates += applied.new_updates;
        self.summary.changed_updates += applied.changed_updates;
        self.summary.out_of_scope += applied.out_of_scope;
    }
}

/// The AND-groups of a StartCategoryScan request, in IndexOfAndGroup order.
fn category_groups(req: &StartCategoryScan) -> Vec<Vec<String>> {
    let mut groups: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for rel in req.requested_categories.items() {
        if let (Some(g), Some(id)) = (rel.index_of_and_group.value(), rel.category_id.value()) {
            groups.entry(*g).or_default().push(id.0.clone());
        }
    }
    groups.into_values().collect()
}

/// True when a two-part `x.y` version is at least `min` (absent or malformed: false, as
/// the reference reads an absent ProtocolVersion as 0).
fn version_at_least(v: Option<&str>, min: (u32, u32)) -> bool {
    let Some((a, b)) = v.and_then(|v| v.trim().split_once('.')) else {
        return false;
    };
    match (a.parse::<u32>(), b.parse::<u32>()) {
        (Ok(a), Ok(b)) => (a, b) >= min,
        _ => false,
    }
}

fn needs_registration(state: &ClientState) -> bool {
    state
        .config
        .as_ref()
        .is_some_and(|c| c.registration_required)
        && (!state.registered || state.registered_info.as_ref() != Some(&state.identity.computer))
}
