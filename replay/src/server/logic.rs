//! The protocol core: a WSUS server as reference section 7 describes it.
//!
//! [`WsusServer`] answers every web method of section 2 from a [`Catalog`] and the current
//! [`Approvals`], keeps each client's state only in its sealed cookie ([`super::cookie`]),
//! and implements [`Backend`] for the HTTP layer. It is `Send + Sync`: deployments sit behind
//! a `RwLock`, the per-group deployed closure is cached per approvals generation, counters
//! are atomics. The only per-client data the server keeps is the set of registered client
//! ids (8 bytes each, the equivalent of WSUS's computer table) and, when a data directory
//! is set, the reported events appended to `events.jsonl`.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use time::OffsetDateTime;
use wusp::messages::*;
use wusp::types::{
    AuthPlugInInfo, Config, ConfigurationProperty, Cookie, Deployment, Device, ExtendedUpdateInfo,
    ExtendedUpdateInfo2, FileLocation, GetFileLocationsResults, RefreshCacheResult, SyncInfo,
    SyncUpdateParameters, UpdateData, UpdateEncryptionDetail, UpdateIdentity, UpdateInfo,
};
use wusp::values::XmlUpdateFragmentType as Frag;
use wusp::values::{Base64, Date as WireDate, DateTime, DeploymentAction, Guid, XmlText};
use wusp::{Body, Envelope, ErrorCode, Fault, Field, Operation, Request, Response};

use super::catalog::{
    ApprovalChange, ApprovalResult, Approvals, Catalog, CategoryType, DriverRow, Effective,
    Revision, RevisionKind, Scope, is_printer_class,
};
use super::cookie::{AuthorizationState, CookieError, CookieKeys, CookieState, wire_precision};
use super::inject::{FaultKind, FaultPlan};
use super::{Backend, ContentFile, SoapCall, SoapReply, TransportFault};

/// WS2025 rejects more `InstalledNonLeafUpdateIDs` than this (reference 7.3.5).
pub const MAX_INSTALLED_NON_LEAF: usize = 400;
/// WSUS 3.0 SP2 rejects 200 or more categories in StartCategoryScan (PB<52>).
pub const MAX_CATEGORIES: usize = 200;
/// The relative SimpleAuth URL advertised in GetConfig.
pub const SIMPLE_AUTH_URL: &str = "SimpleAuthWebService/SimpleAuth.asmx";
/// The server protocol version advertised (and the behaviour gated on it).
pub const SERVER_PROTOCOL_VERSION: &str = "3.2";

/// Why a server could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Reading or writing the data directory failed.
    #[error("data directory {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The cookie key could not be made.
    #[error(transparent)]
    Cookie(#[from] CookieError),
}

/// The server's clock: the system clock, or a manual one for tests.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock that stands at `start` until advanced.
    pub fn manual(start: OffsetDateTime) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(
                (start.unix_timestamp_nanos() / 1000) as i64,
            ))),
        }
    }

    /// Now.
    pub fn now(&self) -> OffsetDateTime {
        match &self.manual {
            Some(us) => OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(us.load(Ordering::Relaxed)) * 1000,
            )
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            None => OffsetDateTime::now_utc(),
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance(&self, by: Duration) {
        if let Some(us) = &self.manual {
            us.fetch_add(by.as_micros() as i64, Ordering::Relaxed);
        }
    }
}

/// How the server behaves (the `serve` flags).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// NewUpdates per SyncUpdates response (WS2025: 30).
    pub page_size: usize,
    /// Cookie lifetime (WS2025: one hour).
    pub cookie_lifetime: Duration,
    /// `MaxExtendedUpdatesPerRequest` (50 on every observed server).
    pub max_extended_updates_per_request: usize,
    /// `IsRegistrationRequired`; RegistrationRequired faults for unregistered clients.
    pub registration_required: bool,
    /// Injected faults.
    pub inject: FaultPlan,
    /// Where `events.jsonl` and `server.key` live (none: events are dropped, key random).
    pub data_dir: Option<PathBuf>,
    /// Seed (the catalog's; also makes fault IDs reproducible).
    pub seed: u64,
    /// The cookie secret; `None`: read or create `<data-dir>/server.key`, else random.
    pub secret: Option<[u8; 32]>,
    /// The clock.
    pub clock: Clock,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            page_size: 30,
            cookie_lifetime: Duration::from_secs(3600),
            max_extended_updates_per_request: 50,
            registration_required: true,
            inject: FaultPlan::default(),
            data_dir: None,
            seed: 0,
            secret: None,
            clock: Clock::system(),
        }
    }
}

type Reply = Result<Response, SoapReply>;

/// A WSUS server: the sans-I/O protocol core behind [`Backend`].
pub struct WsusServer {
    catalog: Arc<Catalog>,
    config: ServerConfig,
    keys: CookieKeys,
    approvals: RwLock<Approvals>,
    scopes: RwLock<HashMap<usize, Arc<Scope>>>,
    filters: RwLock<HashMap<Vec<u32>, Arc<Vec<bool>>>>,
    config_last_change: RwLock<OffsetDateTime>,
    registered: RwLock<HashSet<u64>>,
    events: Mutex<Option<std::io::BufWriter<std::fs::File>>>,
    fault_ids: AtomicU64,
}

impl std::fmt::Debug for WsusServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsusServer")
            .field("revisions", &self.catalog.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn v<T>(x: T) -> Field<T> {
    Field::Value(x)
}

fn s(x: impl Into<String>) -> Field<String> {
    Field::Value(x.into())
}

fn list<T>(items: Vec<T>) -> Field<Vec<T>> {
    Field::list_or_absent(items)
}

fn client_key(client_id: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    client_id.to_ascii_lowercase().hash(&mut h);
    h.finish()
}

fn guid_from(n: u64) -> Guid {
    let a = super::catalog::mix_u64(n);
    let b = super::catalog::mix_u64(a);
    let h = format!("{a:016x}{b:016x}");
    Guid(format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    ))
}

/// A bitset over revision indices.
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: u32) {
        if let Some(w) = self.0.get_mut(i as usize / 64) {
            *w |= 1 << (i % 64);
        }
    }
    fn get(&self, i: u32) -> bool {
        self.0
            .get(i as usize / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// One driver candidate's rank for one device (reference 7.3.3); lower sorts better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverRank {
    /// Position of the matched computer hardware ID in ComputerSpec (`usize::MAX`: none).
    pub chid: usize,
    /// Feature score for FeatureScoreMatchingKey (0 best, 255 none).
    pub score: u8,
    /// Position of the matched ID in the device's HardwareIDs then CompatibleIDs.
    pub hwid: usize,
    /// DriverVerDate.
    pub date: Option<time::Date>,
    /// DriverVerVersion packed.
    pub version: u64,
}

impl DriverRank {
    /// Compares two ranks; `Less` means `self` is the better driver (rules 1 to 5 of 7.3.3).
    pub fn compare(&self, other: &DriverRank) -> std::cmp::Ordering {
        self.chid
            .cmp(&other.chid)
            .then(self.score.cmp(&other.score))
            .then(self.hwid.cmp(&other.hwid))
            .then(other.date.cmp(&self.date))
            .then(other.version.cmp(&self.version))
    }
}

/// The best driver among `candidates` (revision index, row) for one device, if it beats
/// the installed driver (reference 7.3.3; printers must also match Provider and
/// Manufacturer of the installed driver). Returns the winner and the ID it matched.
pub fn best_driver<'c>(
    candidates: impl IntoIterator<Item = (u32, &'c DriverRow)>,
    device: &Device,
    chids: &[String],
    key: &str,
) -> Option<(u32, &'c DriverRow)> {
    let ids: Vec<String> = device
        .hardware_ids
        .items()
        .iter()
        .chain(device.compatible_ids.items())
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let installed = device.installed_driver.value();
    let installed_rank = installed.map(|d| DriverRank {
        chid: d
            .matching_computer_hwid
            .value()
            .and_then(|g| chids.iter().position(|c| *c == g.normalized()))
            .unwrap_or(usize::MAX),
        score: d
            .driver_rank
            .value()
            .map_or(255, |r| ((*r as u32 >> 16) & 0xff) as u8),
        hwid: d
            .matching_id
            .value()
            .and_then(|m| ids.iter().position(|i| i.eq_ignore_ascii_case(m)))
            .unwrap_or(usize::MAX),
        date: d
            .driver_ver_date
            .value()
            .and_then(|t| t.instant())
            .map(|t| t.date()),
        version: d.driver_ver_version.value().map_or(0, |v| *v as u64),
    });
    let printer = installed.and_then(|d| {
        d.class
            .value()
            .filter(|c| is_printer_class(c))
            .map(|_| (d.provider.value(), d.manufacturer.value()))
    });
    let mut best: Option<(DriverRank, u32, &DriverRow)> = None;
    for (rev, row) in candidates {
        let Some(hwid) = ids.iter().position(|i| **i == *row.hardware_id) else {
            continue;
        };
        let chid = if row.chids.is_empty() {
            usize::MAX
        } else {
            match chids
                .iter()
                .position(|c| row.chids.iter().any(|r| **r == **c))
            {
                Some(p) => p,
                None => continue,
            }
        };
        if let Some((provider, manufacturer)) = printer {
            let same = |a: Option<&String>, b: &str| a.is_some_and(|a| a.eq_ignore_ascii_case(b));
            if !same(provider, &row.provider) || !same(manufacturer, &row.manufacturer) {
                continue;
            }
        }
        let rank = DriverRank {
            chid,
            score: row.feature_score(key),
            hwid,
            date: row.date,
            version: row.version,
        };
        if let Some(ir) = &installed_rank
            && rank.compare(ir) != std::cmp::Ordering::Less
        {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|(b, br, _)| rank.compare(b).then(rev.cmp(br)) == std::cmp::Ordering::Less)
        {
            best = Some((rank, rev, row));
        }
    }
    best.map(|(_, r, row)| (r, row))
}

fn parse_protocol(s: &str) -> Option<(u16, u16)> {
    let (a, b) = wusp::types::parse_version(s)?;
    Some((a.min(u16::MAX as u32) as u16, b.min(u16::MAX as u32) as u16))
}

fn is_client_id(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn locale_matches(language: &str, requested: &[String]) -> bool {
    let primary = |l: &str| l.split('-').next().unwrap_or("").to_ascii_lowercase();
    language.eq_ignore_ascii_case("en")
        || primary(language) == "en"
        || requested
            .iter()
            .any(|r| r.eq_ignore_ascii_case(language) || primary(r) == primary(language))
}

impl WsusServer {
    /// A server for `catalog` with `config`.
    pub fn new(catalog: Catalog, config: ServerConfig) -> Result<WsusServer, ServerError> {
        let secret = match (config.secret, &config.data_dir) {
            (Some(s), _) => s,
            (None, Some(dir)) => load_or_create_secret(dir)?,
            (None, None) => {
                let mut s = [0u8; 32];
                getrandom::fill(&mut s).map_err(|e| CookieError::Random(e.to_string()))?;
                s
            }
        };
        let server_id = {
            use sha2::Digest as _;
            let mut h = sha2::Sha256::new();
            h.update(b"wutap-server-identity\0");
            h.update(secret);
            h.update(catalog.fingerprint());
            let d = h.finalize();
            let mut id = [0u8; 16];
            id.copy_from_slice(&d[..16]);
            id
        };
        let events = match &config.data_dir {
            Some(dir) => {
                let path = dir.join("events.jsonl");
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|source| ServerError::Io { path, source })?;
                Some(std::io::BufWriter::new(file))
            }
            None => None,
        };
        let approvals = catalog.initial_approvals().clone();
        let last_change = wire_precision(catalog.config_last_change());
        Ok(WsusServer {
            catalog: Arc::new(catalog),
            keys: CookieKeys::new(&secret, server_id),
            config,
            approvals: RwLock::new(approvals),
            scopes: RwLock::new(HashMap::new()),
            filters: RwLock::new(HashMap::new()),
            config_last_change: RwLock::new(last_change),
            registered: RwLock::new(HashSet::new()),
            events: Mutex::new(events),
            fault_ids: AtomicU64::new(0),
        })
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The cookie keys (tests mint and inspect cookies with them).
    pub fn cookie_keys(&self) -> &CookieKeys {
        &self.keys
    }

    /// The current `Config.LastChange`.
    pub fn config_last_change(&self) -> OffsetDateTime {
        *self
            .config_last_change
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Records a configuration change: a new `LastChange`, so cookies issued before get
    /// ConfigChanged (reference 7.2).
    pub fn touch_config(&self) -> OffsetDateTime {
        let mut lc = self
            .config_last_change
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let now = wire_precision(self.config.clock.now());
        *lc = if now > *lc {
            now
        } else {
            *lc + time::Duration::milliseconds(1)
        };
        *lc
    }

    /// Applies an approval change (what `POST /admin/approvals` does).
    pub fn change_approvals(&self, change: ApprovalChange) -> ApprovalResult {
        let now = self.config.clock.now();
        let mut a = self.approvals.write().unwrap_or_else(|e| e.into_inner());
        let r = a.apply(&self.catalog, change, now);
        tracing::info!(?change, ?r, "approvals changed");
        r
    }

    /// A copy of the current approvals.
    pub fn approvals(&self) -> Approvals {
        self.approvals
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The deployed closure for a target group at the current approvals (cached).
    pub fn scope(&self, group: usize) -> Arc<Scope> {
        let approvals = self.approvals.read().unwrap_or_else(|e| e.into_inner());
        let gen_now = approvals.generation();
        if let Some(s) = self
            .scopes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&group)
            && s.generation == gen_now
        {
            return s.clone();
        }
        let s = Arc::new(self.catalog.scope(&approvals, group));
        self.scopes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(group, s.clone());
        s
    }

    fn group_of(&self, state: &CookieState) -> usize {
        self.approvals
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .group_index(&state.target_group)
    }

    fn fault(&self, code: ErrorCode, message: &str, op: Option<Operation>) -> SoapReply {
        let n = self.fault_ids.fetch_add(1, Ordering::Relaxed);
        let id = guid_from(self.config.seed ^ n.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xF00D);
        tracing::debug!(?code, message, ?op, "SOAP fault");
        SoapReply {
            status: 500,
            body: Envelope::fault(Fault::wsus(code, message, id, op))
                .encode()
                .into_bytes(),
            operation: op,
            transport: None,
        }
    }

    fn invalid(&self, message: &str, op: Operation) -> SoapReply {
        self.fault(ErrorCode::InvalidParameters, message, Some(op))
    }

    fn cookie_state(
        &self,
        cookie: &Field<Cookie>,
        op: Operation,
    ) -> Result<CookieState, SoapReply> {
        let Some(c) = cookie.value() else {
            return Err(self.invalid("cookie", op));
        };
        self.keys
            .validate(c, self.config.clock.now(), self.config_last_change())
            .map_err(|e| self.fault(e.error_code(), &e.to_string(), Some(op)))
    }

    fn reissue(&self, state: &CookieState, mark: u64) -> Result<Cookie, SoapReply> {
        let mut st = state.clone();
        st.sync_mark = mark;
        self.keys
            .seal(&st)
            .map_err(|e| self.fault(e.error_code(), &e.to_string(), None))
    }

    fn is_registered(&self, client_id: &str) -> bool {
        self.registered
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&client_key(client_id))
    }

    /// Number of registered clients.
    pub fn registered_clients(&self) -> usize {
        self.registered
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    fn config_result(&self) -> Config {
        let prop = |name: &str, value: &str| ConfigurationProperty {
            name: s(name),
            value: s(value),
            ..ConfigurationProperty::default()
        };
        Config {
            last_change: v(DateTime::from_instant(self.config_last_change())),
            is_registration_required: v(self.config.registration_required),
            auth_info: v(vec![AuthPlugInInfo {
                plug_in_id: s(super::cookie::PLUG_IN_ID),
                service_url: s(SIMPLE_AUTH_URL),
                parameter: Field::Empty,
                ..AuthPlugInInfo::default()
            }]),
            properties: v(vec![
                prop(
                    "MaxExtendedUpdatesPerRequest",
                    &self.config.max_extended_updates_per_request.to_string(),
                ),
                prop("PackageServerShare", r"\\WUTAP\UpdateServicesPackages"),
                prop("ProtocolVersion", SERVER_PROTOCOL_VERSION),
                prop("IsInventoryRequired", "0"),
                prop("ClientReportingLevel", "2"),
            ]),
            ..Config::default()
        }
    }

    fn deployment(
        &self,
        eff: &Effective,
        state: &CookieState,
        hardware_ids: Option<Vec<String>>,
    ) -> Deployment {
        let zero = |ok: bool| if ok { s("0") } else { Field::Absent };
        let ver18 = state.protocol_at_least(1, 8);
        Deployment {
            id: v(eff.id),
            action: v(eff.action.clone()),
            deadline: eff
                .deadline
                .map_or(Field::Absent, |d| v(DateTime::from_instant(d))),
            is_assigned: v(eff.is_assigned),
            last_change_time: v(WireDate(eff.last_change.to_string())),
            hardware_ids: match hardware_ids {
                Some(h) if state.protocol_at_least(1, 6) => list(h),
                _ => Field::Absent,
            },
            auto_select: zero(ver18),
            auto_download: zero(ver18),
            supersedence_behavior: zero(ver18),
            ..Deployment::default()
        }
    }

    fn update_info(
        &self,
        rev: u32,
        eff: &Effective,
        state: &CookieState,
        hardware_ids: Option<Vec<String>>,
    ) -> UpdateInfo {
        let r = &self.catalog.revisions()[rev as usize];
        UpdateInfo {
            id: v(r.revision_id),
            deployment: v(self.deployment(eff, state, hardware_ids)),
            is_leaf: v(r.is_leaf),
            xml: v(XmlText::from_text(&r.core_xml)),
            ..UpdateInfo::default()
        }
    }

    /// The revisions related to the filter categories (their descendants by prerequisite
    /// and the ancestors they need), cached per filter.
    fn filter_set(&self, filter: &[u32]) -> Arc<Vec<bool>> {
        let mut key = filter.to_vec();
        key.sort_unstable();
        key.dedup();
        if let Some(f) = self
            .filters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return f.clone();
        }
        let c = &self.catalog;
        let n = c.len();
        let fset: HashSet<u32> = key.iter().copied().collect();
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|r| c.revisions()[*r as usize].level);
        let mut down = vec![false; n];
        for &r in &order {
            let rev = &c.revisions()[r as usize];
            down[r as usize] = fset.contains(&rev.update)
                || rev.clauses.iter().any(|cl| {
                    cl.updates.iter().any(|u| {
                        c.update(*u)
                            .and_then(|x| x.highest())
                            .is_some_and(|h| down[h as usize])
                    })
                });
        }
        // Bundle members follow their bundles.
        for r in 0..n {
            if down[r] {
                for &m in &c.revisions()[r].bundled {
                    down[m as usize] = true;
                }
            }
        }
        let mut up = vec![false; n];
        let mut stack: Vec<u32> = key
            .iter()
            .filter_map(|u| c.update(*u).and_then(|x| x.highest()))
            .collect();
        while let Some(r) = stack.pop() {
            if up[r as usize] {
                continue;
            }
            up[r as usize] = true;
            for cl in &c.revisions()[r as usize].clauses {
                for u in cl.updates.iter() {
                    if let Some(h) = c.update(*u).and_then(|x| x.highest()) {
                        stack.push(h);
                    }
                }
            }
        }
        let set: Arc<Vec<bool>> = Arc::new(down.iter().zip(&up).map(|(a, b)| *a || *b).collect());
        let mut w = self.filters.write().unwrap_or_else(|e| e.into_inner());
        if w.len() >= 64 {
            w.clear();
        }
        w.insert(key, set.clone());
        set
    }

    fn installed_updates(&self, ids: &[i32]) -> HashSet<u32> {
        ids.iter()
            .filter_map(|id| self.catalog.index_of(*id))
            .map(|r| self.catalog.revisions()[r as usize].update)
            .collect()
    }

    fn sync_updates(&self, req: &SyncUpdates) -> Reply {
        let op = Operation::SyncUpdates;
        let Some(p) = req.parameters.value() else {
            return Err(self.invalid("parameters", op));
        };
        for (name, bad) in [
            (
                "InstalledNonLeafUpdateIDs",
                p.installed_non_leaf_update_ids.is_invalid(),
            ),
            (
                "OtherCachedUpdateIDs",
                p.other_cached_update_ids.is_invalid(),
            ),
            ("CachedDriverIDs", p.cached_driver_ids.is_invalid()),
            ("SkipSoftwareSync", p.skip_software_sync.is_invalid()),
            ("SystemSpec", p.system_spec.is_invalid()),
            ("FilterCategoryIds", p.filter_category_ids.is_invalid()),
        ] {
            if bad {
                return Err(self.invalid(&format!("parameters.{name}"), op));
            }
        }
        if p.installed_non_leaf_update_ids.items().len() > MAX_INSTALLED_NON_LEAF {
            return Err(self.invalid("parameters.InstalledNonLeafUpdateIDs", op));
        }
        let driver_pass = p.skip_software_sync.value().copied().unwrap_or(false);
        if !driver_pass && !p.system_spec.items().is_empty() {
            return Err(self.invalid("parameters.SystemSpec", op));
        }
        let state = self.cookie_state(&req.cookie, op)?;
        if self.config.registration_required && !self.is_registered(&state.client_id) {
            return Err(self.fault(
                ErrorCode::RegistrationRequired,
                "the computer is not registered",
                Some(op),
            ));
        }
        let scope = self.scope(self.group_of(&state));
        let info = if driver_pass {
            self.driver_pass(p, &state, &scope)?
        } else {
            self.software_pass(p, &state, &scope)?
        };
        Ok(SyncUpdatesResponse {
            result: v(info),
            ..Default::default()
        }
        .into())
    }

    fn version_gated(&self, state: &CookieState) -> bool {
        state.protocol_at_least(1, 7)
    }

    fn software_pass(
        &self,
        p: &SyncUpdateParameters,
        state: &CookieState,
        scope: &Scope,
    ) -> Result<SyncInfo, SoapReply> {
        let c = &self.catalog;
        let installed = self.installed_updates(p.installed_non_leaf_update_ids.items());
        let filter_ids: Vec<u32> = p
            .filter_category_ids
            .items()
            .iter()
            .filter_map(|f| f.id.value())
            .filter_map(|g| c.update_index(g.as_str()))
            .collect();
        let filtered = !p.filter_category_ids.items().is_empty();
        let filter = filtered.then(|| self.filter_set(&filter_ids));
        let in_filter = |r: u32| filter.as_ref().is_none_or(|f| f[r as usize]);
        let deployed = |r: u32| {
            scope.effective(r).is_some()
                && !c.revisions()[r as usize].is_driver()
                && c.prerequisites_satisfied(r, &|u| installed.contains(&u))
        };
        let needed = |r: u32| deployed(r) && in_filter(r);
        let two_group = filtered
            && self.version_gated(state)
            && p.need_two_group_out_of_scope_updates.value() == Some(&true);

        let mut cached = Bits::new(c.len());
        let mut seen_ids = HashSet::new();
        let mut out_of_scope = Vec::new();
        let mut deployed_oos = Vec::new();
        let mut changed = Vec::new();
        for &id in p
            .installed_non_leaf_update_ids
            .items()
            .iter()
            .chain(p.other_cached_update_ids.items())
        {
            if !seen_ids.insert(id) {
                continue;
            }
            let Some(r) = c.index_of(id) else {
                out_of_scope.push(id);
                continue;
            };
            cached.set(r);
            if needed(r) {
                if let Some(e) = scope.effective(r)
                    && e.counter > state.sync_mark
                {
                    changed.push(self.update_info(r, e, state, None));
                }
            } else if two_group && deployed(r) {
                deployed_oos.push(id);
            } else {
                out_of_scope.push(id);
            }
        }
        // NewUpdates, staged by prerequisite level (7.3.2): only the lowest level still
        // missing, a page at a time. Truncated means more of that stage remains; the next
        // level follows because the stage's last page carries its non-leaf revisions.
        let mut new = Vec::new();
        let mut stage: Option<u16> = None;
        let mut truncated = false;
        for &r in scope.software() {
            if cached.get(r) || !needed(r) {
                continue;
            }
            let level = c.revisions()[r as usize].level;
            match stage {
                None => stage = Some(level),
                Some(l) if l != level => break,
                _ => {}
            }
            if new.len() >= self.config.page_size {
                truncated = true;
                break;
            }
            if let Some(e) = scope.effective(r) {
                new.push(self.update_info(r, e, state, None));
            }
        }
        let gated = self.version_gated(state);
        Ok(SyncInfo {
            new_updates: list(new),
            out_of_scope_revision_ids: list(out_of_scope),
            changed_updates: list(changed),
            truncated: v(truncated),
            new_cookie: v(self.reissue(state, scope.counter)?),
            deployed_out_of_scope_revision_ids: if two_group {
                list(deployed_oos)
            } else {
                Field::Absent
            },
            driver_sync_not_needed: if gated {
                s(if scope.drivers().is_empty() {
                    "true"
                } else {
                    "false"
                })
            } else {
                Field::Absent
            },
            ..SyncInfo::default()
        })
    }

    /// Drivers in scope whose prerequisites hold, as (revision, row) pairs.
    fn driver_candidates<'a>(
        &'a self,
        scope: &'a Scope,
        installed: &'a HashSet<u32>,
        printers_only: bool,
    ) -> impl Iterator<Item = (u32, &'a DriverRow)> + 'a {
        let c = &self.catalog;
        scope
            .drivers()
            .iter()
            .copied()
            .filter(move |r| c.prerequisites_satisfied(*r, &|u| installed.contains(&u)))
            .flat_map(move |r| {
                c.revisions()[r as usize]
                    .drivers
                    .iter()
                    .filter(move |d| !printers_only || d.is_printer())
                    .map(move |d| (r, d))
            })
    }

    fn driver_pass(
        &self,
        p: &SyncUpdateParameters,
        state: &CookieState,
        scope: &Scope,
    ) -> Result<SyncInfo, SoapReply> {
        let installed = self.installed_updates(p.installed_non_leaf_update_ids.items());
        let chids: Vec<String> = p
            .computer_spec
            .value()
            .map(|cs| {
                cs.hardware_ids
                    .items()
                    .iter()
                    .map(Guid::normalized)
                    .collect()
            })
            .unwrap_or_default();
        let key = p
            .feature_score_matching_key
            .value()
            .map_or("", String::as_str);
        let candidates: Vec<(u32, &DriverRow)> =
            self.driver_candidates(scope, &installed, false).collect();
        let mut needed: std::collections::BTreeMap<i32, (u32, Vec<String>)> = Default::default();
        for device in p.system_spec.items() {
            if let Some((r, row)) = best_driver(candidates.iter().copied(), device, &chids, key) {
                let id = self.catalog.revisions()[r as usize].revision_id;
                let e = needed.entry(id).or_insert_with(|| (r, Vec::new()));
                if !e.1.iter().any(|h| h == &*row.hardware_id_display) {
                    e.1.push(row.hardware_id_display.to_string());
                }
            }
        }
        let cached = p.cached_driver_ids.items();
        let info = self.driver_answer(&needed, cached, state, scope)?;
        Ok(info)
    }

    fn driver_answer(
        &self,
        needed: &std::collections::BTreeMap<i32, (u32, Vec<String>)>,
        cached: &[i32],
        state: &CookieState,
        scope: &Scope,
    ) -> Result<SyncInfo, SoapReply> {
        let cached_set: HashSet<i32> = cached.iter().copied().collect();
        let mut out_of_scope = Vec::new();
        let mut changed = Vec::new();
        let mut seen = HashSet::new();
        for &id in cached {
            if !seen.insert(id) {
                continue;
            }
            match needed.get(&id) {
                Some((r, hw)) => {
                    if let Some(e) = scope.effective(*r)
                        && e.counter > state.sync_mark
                    {
                        changed.push(self.update_info(*r, e, state, Some(hw.clone())));
                    }
                }
                None => out_of_scope.push(id),
            }
        }
        let mut new = Vec::new();
        let mut truncated = false;
        for (id, (r, hw)) in needed {
            if cached_set.contains(id) {
                continue;
            }
            if new.len() >= self.config.page_size {
                truncated = true;
                break;
            }
            if let Some(e) = scope.effective(*r) {
                new.push(self.update_info(*r, e, state, Some(hw.clone())));
            }
        }
        Ok(SyncInfo {
            new_updates: list(new),
            out_of_scope_revision_ids: list(out_of_scope),
            changed_updates: list(changed),
            truncated: v(truncated),
            new_cookie: v(self.reissue(state, scope.counter)?),
            driver_sync_not_needed: if self.version_gated(state) {
                s(if scope.drivers().is_empty() {
                    "true"
                } else {
                    "false"
                })
            } else {
                Field::Absent
            },
            ..SyncInfo::default()
        })
    }

    fn sync_printer_catalog(&self, req: &SyncPrinterCatalog) -> Reply {
        let op = Operation::SyncPrinterCatalog;
        if req.installed_non_leaf_update_ids.is_invalid() {
            return Err(self.invalid("installedNonLeafUpdateIDs", op));
        }
        if req.printer_update_ids.is_invalid() {
            return Err(self.invalid("printerUpdateIDs", op));
        }
        if req.installed_non_leaf_update_ids.items().len() > MAX_INSTALLED_NON_LEAF {
            return Err(self.invalid("installedNonLeafUpdateIDs", op));
        }
        let state = self.cookie_state(&req.cookie, op)?;
        if self.config.registration_required && !self.is_registered(&state.client_id) {
            return Err(self.fault(
                ErrorCode::RegistrationRequired,
                "the computer is not registered",
                Some(op),
            ));
        }
        let scope = self.scope(self.group_of(&state));
        let installed = self.installed_updates(req.installed_non_leaf_update_ids.items());
        let mut needed: std::collections::BTreeMap<i32, (u32, Vec<String>)> = Default::default();
        for (r, row) in self.driver_candidates(&scope, &installed, true) {
            let id = self.catalog.revisions()[r as usize].revision_id;
            let e = needed.entry(id).or_insert_with(|| (r, Vec::new()));
            e.1.push(row.hardware_id_display.to_string());
        }
        let mut info =
            self.driver_answer(&needed, req.printer_update_ids.items(), &state, &scope)?;
        info.driver_sync_not_needed = Field::Absent;
        Ok(SyncPrinterCatalogResponse {
            result: v(info),
            ..Default::default()
        }
        .into())
    }

    fn get_authorization_cookie(&self, req: &GetAuthorizationCookie) -> Reply {
        let op = Operation::GetAuthorizationCookie;
        let client_id = req.client_id.value().map_or("", String::as_str);
        if !is_client_id(client_id) {
            return Err(self.invalid("clientId", op));
        }
        let dns = req.dns_name.value().map_or("", String::as_str);
        if dns.trim().is_empty() || dns.len() > 255 {
            return Err(self.invalid("dnsName", op));
        }
        let target = req
            .target_group_name
            .value()
            .map_or("", String::as_str)
            .to_string();
        let cookie = self
            .keys
            .seal_authorization(&AuthorizationState {
                client_id: client_id.to_string(),
                target_group: target,
                dns_name: dns.to_string(),
                issued: self.config.clock.now(),
            })
            .map_err(|e| self.fault(e.error_code(), &e.to_string(), Some(op)))?;
        Ok(GetAuthorizationCookieResponse {
            result: v(cookie),
            ..Default::default()
        }
        .into())
    }

    fn get_cookie(&self, req: &GetCookie) -> Reply {
        let op = Operation::GetCookie;
        let auth = match req.auth_cookies.items() {
            [one] => self
                .keys
                .open_authorization(one)
                .map_err(|e| self.fault(e.error_code(), &e.to_string(), Some(op)))?,
            other => {
                return Err(self.fault(
                    ErrorCode::InvalidAuthorizationCookie,
                    &format!(
                        "authCookies must hold exactly one AuthorizationCookie, not {}",
                        other.len()
                    ),
                    Some(op),
                ));
            }
        };
        let mut mark = 0;
        if let Some(old) = req.old_cookie.value()
            && (old.encrypted_data.value().is_some() || old.encrypted_data.is_invalid())
        {
            let st = self
                .keys
                .open(old)
                .map_err(|e| self.fault(e.error_code(), &e.to_string(), Some(op)))?;
            if st.client_id.eq_ignore_ascii_case(&auth.client_id) {
                mark = st.sync_mark;
            }
        }
        let Some(last_change) = req.last_change.value().and_then(DateTime::instant) else {
            return Err(self.invalid("lastChange", op));
        };
        let current = self.config_last_change();
        if wire_precision(last_change) != current {
            return Err(self.fault(
                ErrorCode::ConfigChanged,
                "lastChange is not the current configuration",
                Some(op),
            ));
        }
        let Some(protocol) = req.protocol_version.value().and_then(|p| parse_protocol(p)) else {
            return Err(self.invalid("protocolVersion", op));
        };
        let now = self.config.clock.now();
        let lifetime =
            time::Duration::try_from(self.config.cookie_lifetime).unwrap_or(time::Duration::HOUR);
        let state = CookieState {
            client_id: auth.client_id,
            target_group: auth.target_group,
            issued: now,
            expires: wire_precision(now + lifetime),
            config_last_change: current,
            sync_mark: mark,
            protocol,
        };
        let cookie = self
            .keys
            .seal(&state)
            .map_err(|e| self.fault(e.error_code(), &e.to_string(), Some(op)))?;
        Ok(GetCookieResponse {
            result: v(cookie),
            ..Default::default()
        }
        .into())
    }

    fn register_computer(&self, req: &RegisterComputer) -> Reply {
        let op = Operation::RegisterComputer;
        let state = self.cookie_state(&req.cookie, op)?;
        if !self.config.registration_required {
            return Err(self.fault(
                ErrorCode::RegistrationNotRequired,
                "registration is not required",
                Some(op),
            ));
        }
        let Some(info) = req.computer_info.value() else {
            return Err(self.invalid("computerInfo", op));
        };
        if info.dns_name.value().is_none_or(|d| d.trim().is_empty()) {
            return Err(self.invalid("computerInfo.DnsName", op));
        }
        self.registered
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(client_key(&state.client_id));
        Ok(RegisterComputerResponse::default().into())
    }

    fn start_category_scan(&self, req: &StartCategoryScan) -> Reply {
        let op = Operation::StartCategoryScan;
        if req.requested_categories.is_absent() || req.requested_categories.is_invalid() {
            return Err(self.invalid("requestedCategories", op));
        }
        let items = req.requested_categories.items();
        if items.len() >= MAX_CATEGORIES {
            return Err(self.invalid("requestedCategories", op));
        }
        let mut groups: std::collections::BTreeMap<i32, Vec<&Guid>> = Default::default();
        for it in items {
            let (Some(g), Some(id)) = (it.index_of_and_group.value(), it.category_id.value())
            else {
                return Err(self.invalid("requestedCategories.CategoryRelationship", op));
            };
            groups.entry(*g).or_default().push(id);
        }
        let category_type = |g: &Guid| -> Option<CategoryType> {
            let u = self.catalog.update_index(g.as_str())?;
            let h = self.catalog.update(u)?.highest()?;
            match self.catalog.revision(h)?.kind {
                RevisionKind::Category(t) => Some(t),
                _ => None,
            }
        };
        let mut preferred: Vec<Guid> = Vec::new();
        let mut in_error: Vec<Guid> = Vec::new();
        let mut stopped = false;
        for ids in groups.values() {
            let types: Vec<Option<CategoryType>> = ids.iter().map(|g| category_type(g)).collect();
            if types.iter().any(Option::is_none) {
                for (g, t) in ids.iter().zip(&types) {
                    if t.is_none() && !in_error.contains(g) {
                        in_error.push((*g).clone());
                    }
                }
                continue;
            }
            if stopped {
                continue;
            }
            let products: Vec<&Guid> = ids
                .iter()
                .zip(&types)
                .filter(|(_, t)| **t == Some(CategoryType::Product))
                .map(|(g, _)| *g)
                .collect();
            let classes = types
                .iter()
                .filter(|t| **t == Some(CategoryType::UpdateClassification))
                .count();
            let shape_ok =
                products.len() == 1 && (ids.len() == 1 || (ids.len() == 2 && classes == 1));
            if shape_ok {
                if !preferred.iter().any(|p| p.eq_ignore_case(products[0])) {
                    preferred.push(products[0].clone());
                }
            } else {
                preferred.clear();
                stopped = true;
            }
        }
        Ok(StartCategoryScanResponse {
            preferred_category_ids: if preferred.is_empty() {
                Field::Empty
            } else {
                v(preferred)
            },
            requested_category_ids_in_error: if in_error.is_empty() {
                Field::Empty
            } else {
                v(in_error)
            },
            ..Default::default()
        }
        .into())
    }

    fn refresh_cache(&self, req: &RefreshCache) -> Reply {
        let op = Operation::RefreshCache;
        if req.global_ids.is_absent() || req.global_ids.is_invalid() {
            return Err(self.invalid("globalIDs", op));
        }
        let state = self.cookie_state(&req.cookie, op)?;
        let scope = self.scope(self.group_of(&state));
        let mut results = Vec::new();
        for gid in req.global_ids.items() {
            let (Some(uid), Some(rn)) = (gid.update_id.value(), gid.revision_number.value()) else {
                continue;
            };
            let Some(r) = self.catalog.revision_for_identity(uid.as_str(), *rn) else {
                continue;
            };
            let Some(e) = scope.effective(r) else {
                continue;
            };
            if e.action == DeploymentAction::Bundle {
                continue;
            }
            let rev = &self.catalog.revisions()[r as usize];
            results.push(RefreshCacheResult {
                revision_id: v(rev.revision_id),
                global_id: v(UpdateIdentity {
                    update_id: v(uid.clone()),
                    revision_number: v(*rn),
                    ..UpdateIdentity::default()
                }),
                is_leaf: v(rev.is_leaf),
                deployment: v(self.deployment(e, &state, None)),
                ..RefreshCacheResult::default()
            });
        }
        Ok(RefreshCacheResponse {
            result: if results.is_empty() {
                Field::Empty
            } else {
                v(results)
            },
            ..Default::default()
        }
        .into())
    }

    fn location(&self, f: u32, host: &str, scheme: &str, extended: bool) -> Option<FileLocation> {
        let file = self.catalog.file(f)?;
        Some(FileLocation {
            file_digest: v(Base64::encode(&file.sha1)),
            url: s(format!("{scheme}://{host}{}", file.content_path())),
            file_digest_algorithm: if extended { s("SHA1") } else { Field::Absent },
            ..FileLocation::default()
        })
    }

    fn check_info_types(
        &self,
        types: &Field<Vec<Frag>>,
        locales: &Field<Vec<String>>,
        op: Operation,
    ) -> Result<(), SoapReply> {
        if types.is_invalid() || types.items().iter().any(|t| !t.is_known()) {
            return Err(self.invalid("infoTypes", op));
        }
        if types.items().is_empty() {
            return Err(self.invalid("infoTypes", op));
        }
        let needs_locales = types
            .items()
            .iter()
            .any(|t| matches!(t, Frag::LocalizedProperties | Frag::Eula));
        if locales.is_invalid() || (needs_locales && locales.items().is_empty()) {
            return Err(self.invalid("locales", op));
        }
        Ok(())
    }

    /// Fragments of one revision for the requested types; files of its Extended fragment.
    fn fragments_of(
        &self,
        r: u32,
        types: &[Frag],
        locales: &[String],
        out: &mut Vec<UpdateData>,
        files: &mut Vec<u32>,
        file_urls: bool,
    ) {
        let c = &self.catalog;
        let rev: &Revision = &c.revisions()[r as usize];
        let push = |out: &mut Vec<UpdateData>, xml: String| {
            out.push(UpdateData {
                id: v(rev.revision_id),
                xml: v(XmlText::from_text(&xml)),
                ..UpdateData::default()
            });
        };
        for t in types {
            match t {
                Frag::Core => push(out, rev.core_xml.to_string()),
                Frag::Extended => {
                    if let Some(x) = c.extended_xml(r) {
                        push(out, x);
                    }
                    if !file_urls {
                        files.extend(rev.files.iter().copied());
                    }
                }
                Frag::LocalizedProperties => {
                    for lang in c.languages(r) {
                        if locale_matches(&lang, locales)
                            && let Some(x) = c.localized_xml(r, &lang)
                        {
                            push(out, x);
                        }
                    }
                }
                Frag::Eula => {
                    for (lang, x) in c.eula_xml(r) {
                        if locale_matches(&lang, locales) {
                            push(out, x);
                        }
                    }
                }
                Frag::FileUrl if file_urls => files.extend(rev.files.iter().copied()),
                _ => {}
            }
        }
    }

    fn get_extended_update_info(&self, req: &GetExtendedUpdateInfo, call: &SoapCall<'_>) -> Reply {
        let op = Operation::GetExtendedUpdateInfo;
        if req.revision_ids.is_invalid() {
            return Err(self.invalid("revisionIDs", op));
        }
        if req.revision_ids.items().len() > self.config.max_extended_updates_per_request {
            return Err(self.invalid("revisionIDs", op));
        }
        self.check_info_types(&req.info_types, &req.locales, op)?;
        let state = self.cookie_state(&req.cookie, op)?;
        let scope = self.scope(self.group_of(&state));
        let mut updates = Vec::new();
        let mut files = Vec::new();
        let mut oos = Vec::new();
        for &id in req.revision_ids.items() {
            match self.catalog.index_of(id) {
                Some(r) if scope.effective(r).is_some() => self.fragments_of(
                    r,
                    req.info_types.items(),
                    req.locales.items(),
                    &mut updates,
                    &mut files,
                    false,
                ),
                _ => {
                    if !oos.contains(&id) {
                        oos.push(id);
                    }
                }
            }
        }
        let locations = self.locations(files, call, false);
        Ok(GetExtendedUpdateInfoResponse {
            result: v(ExtendedUpdateInfo {
                updates: list(updates),
                file_locations: list(locations),
                out_of_scope_revision_ids: list(oos),
                ..ExtendedUpdateInfo::default()
            }),
            ..Default::default()
        }
        .into())
    }

    /// One FileLocation per distinct file, with URLs built from the request's Host header.
    fn locations(&self, files: Vec<u32>, call: &SoapCall<'_>, extended: bool) -> Vec<FileLocation> {
        let host = call.host.unwrap_or("localhost");
        let mut seen = HashSet::new();
        files
            .into_iter()
            .filter(|f| seen.insert(*f))
            .filter_map(|f| self.location(f, host, call.scheme, extended))
            .collect()
    }

    fn get_extended_update_info2(
        &self,
        req: &GetExtendedUpdateInfo2,
        call: &SoapCall<'_>,
    ) -> Reply {
        let op = Operation::GetExtendedUpdateInfo2;
        if req.update_ids.is_invalid() {
            return Err(self.invalid("updateIDs", op));
        }
        if req.update_ids.items().len() > self.config.max_extended_updates_per_request {
            return Err(self.invalid("updateIDs", op));
        }
        self.check_info_types(&req.info_types, &req.locales, op)?;
        let state = self.cookie_state(&req.cookie, op)?;
        let scope = self.scope(self.group_of(&state));
        let mut updates = Vec::new();
        let mut files = Vec::new();
        let mut details = Vec::new();
        for gid in req.update_ids.items() {
            let (Some(uid), Some(rn)) = (gid.update_id.value(), gid.revision_number.value()) else {
                return Err(self.invalid("updateIDs.UpdateIdentity", op));
            };
            let Some(r) = self.catalog.revision_for_identity(uid.as_str(), *rn) else {
                continue;
            };
            if scope.effective(r).is_none() {
                continue;
            }
            self.fragments_of(
                r,
                req.info_types.items(),
                req.locales.items(),
                &mut updates,
                &mut files,
                true,
            );
            details.push(UpdateEncryptionDetail {
                update_identity: v(gid.clone()),
                has_encrypted_files: v(false),
                ..UpdateEncryptionDetail::default()
            });
        }
        let locations = self.locations(files, call, true);
        Ok(GetExtendedUpdateInfo2Response {
            result: v(ExtendedUpdateInfo2 {
                updates: list(updates),
                file_locations: list(locations),
                update_encryption_details: list(details),
                ..ExtendedUpdateInfo2::default()
            }),
            ..Default::default()
        }
        .into())
    }

    fn get_file_locations(&self, req: &GetFileLocations, call: &SoapCall<'_>) -> Reply {
        let op = Operation::GetFileLocations;
        if req.file_digests.is_absent() || req.file_digests.is_invalid() {
            return Err(self.invalid("fileDigests", op));
        }
        let mut digests = Vec::new();
        for d in req.file_digests.items() {
            match d
                .bytes()
                .and_then(|b| <[u8; 20]>::try_from(b.as_slice()).ok())
            {
                Some(x) => digests.push(x),
                None => return Err(self.invalid("fileDigests", op)),
            }
        }
        let state = self.cookie_state(&req.cookie, op)?;
        let scope = self.scope(self.group_of(&state));
        let host = call.host.unwrap_or("localhost");
        let locations: Vec<FileLocation> = digests
            .iter()
            .filter_map(|d| self.catalog.file_by_sha1(d))
            .filter_map(|f| self.location(f, host, call.scheme, false))
            .collect();
        Ok(GetFileLocationsResponse {
            result: v(GetFileLocationsResults {
                file_locations: if locations.is_empty() {
                    Field::Empty
                } else {
                    v(locations)
                },
                new_cookie: v(self.reissue(&state, state.sync_mark.min(scope.counter))?),
                ..GetFileLocationsResults::default()
            }),
            ..Default::default()
        }
        .into())
    }

    fn record_events(
        &self,
        client: &str,
        client_time: Option<&DateTime>,
        events: &[wusp::types::ReportingEvent],
        peer: &std::net::SocketAddr,
    ) {
        let mut guard = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let Some(w) = guard.as_mut() else {
            tracing::debug!(
                client,
                events = events.len(),
                "events received (no data dir)"
            );
            return;
        };
        let received = DateTime::from_instant(self.config.clock.now()).0;
        for e in events {
            let b = e.basic_data.value();
            let x = e.extended_data.value();
            let val =
                |f: Option<String>| f.map_or(serde_json::Value::Null, serde_json::Value::String);
            let line = serde_json::json!({
                "received": received,
                "peer": peer.to_string(),
                "client_id": client,
                "client_time": val(client_time.map(|t| t.0.clone())),
                "target_id": val(b.and_then(|b| b.target_id.value()).and_then(|t| t.sid.value().cloned())),
                "event_instance_id": val(b.and_then(|b| b.event_instance_id.value()).map(|g| g.0.clone())),
                "time_at_target": val(b.and_then(|b| b.time_at_target.value()).map(|t| t.0.clone())),
                "event_id": b.and_then(|b| b.event_id.value().copied()),
                "source_id": b.and_then(|b| b.source_id.value().copied()),
                "namespace_id": b.and_then(|b| b.namespace_id.value().copied()),
                "update_id": val(b.and_then(|b| b.update_id.value()).and_then(|u| u.update_id.value()).map(|g| g.0.clone())),
                "revision_number": b.and_then(|b| b.update_id.value()).and_then(|u| u.revision_number.value().copied()),
                "win32_hresult": b.and_then(|b| b.win32_hresult.value().copied()),
                "app_name": val(b.and_then(|b| b.app_name.value().cloned())),
                "replacement_strings": x.map(|x| x.replacement_strings.items().to_vec()).unwrap_or_default(),
                "misc_data": x.map(|x| x.misc_data.items().to_vec()).unwrap_or_default(),
            });
            if let Err(err) = writeln!(w, "{line}") {
                tracing::warn!(error = %err, "events.jsonl not written");
                return;
            }
        }
        if let Err(err) = w.flush() {
            tracing::warn!(error = %err, "events.jsonl not flushed");
        }
    }

    fn report_event_batch(&self, req: &ReportEventBatch, call: &SoapCall<'_>) -> Reply {
        let op = Operation::ReportEventBatch;
        let state = self.cookie_state(&req.cookie, op)?;
        if req.client_time.value().is_none() {
            return Err(self.invalid("clientTime", op));
        }
        if req.event_batch.is_absent() || req.event_batch.is_invalid() {
            return Err(self.invalid("eventBatch", op));
        }
        self.record_events(
            &state.client_id,
            req.client_time.value(),
            req.event_batch.items(),
            &call.peer,
        );
        Ok(ReportEventBatchResponse {
            result: v(true),
            ..Default::default()
        }
        .into())
    }

    fn dispatch(&self, req: &Request, call: &SoapCall<'_>) -> Reply {
        match req {
            Request::GetConfig(r) => {
                if let Some(p) = r.protocol_version.value()
                    && parse_protocol(p).is_none()
                {
                    return Err(self.invalid("protocolVersion", Operation::GetConfig));
                }
                Ok(GetConfigResponse {
                    result: v(self.config_result()),
                    ..Default::default()
                }
                .into())
            }
            Request::GetConfig2(_) => Ok(GetConfig2Response {
                result: v(self.config_result()),
                ..Default::default()
            }
            .into()),
            Request::GetAuthorizationCookie(r) => self.get_authorization_cookie(r),
            Request::GetCookie(r) => self.get_cookie(r),
            Request::RegisterComputer(r) => self.register_computer(r),
            Request::StartCategoryScan(r) => self.start_category_scan(r),
            Request::SyncUpdates(r) => self.sync_updates(r),
            Request::SyncPrinterCatalog(r) => self.sync_printer_catalog(r),
            Request::RefreshCache(r) => self.refresh_cache(r),
            Request::GetExtendedUpdateInfo(r) => self.get_extended_update_info(r, call),
            Request::GetExtendedUpdateInfo2(r) => self.get_extended_update_info2(r, call),
            Request::GetFileLocations(r) => self.get_file_locations(r, call),
            Request::GetTimestamps(_) => Ok(GetTimestampsResponse {
                result: Field::Empty,
                ..Default::default()
            }
            .into()),
            Request::ReportEventBatch(r) => self.report_event_batch(r, call),
            Request::ReportEventBatch2(r) => {
                let client = r.computer_id.value().map_or("", String::as_str);
                self.record_events(
                    client,
                    r.client_time.value(),
                    r.event_batch.items(),
                    &call.peer,
                );
                Ok(ReportEventBatch2Response {
                    result: v(true),
                    ..Default::default()
                }
                .into())
            }
            Request::GetRequiredInventoryType(r) => {
                self.cookie_state(&r.cookie, Operation::GetRequiredInventoryType)?;
                Ok(GetRequiredInventoryTypeResponse {
                    result: v(0),
                    ..Default::default()
                }
                .into())
            }
            Request::ReportInventory(r) => {
                self.cookie_state(&r.cookie, Operation::ReportInventory)?;
                Ok(ReportInventoryResponse {
                    result: v(true),
                    ..Default::default()
                }
                .into())
            }
            other => Err(self.invalid(
                &format!("{} is not served", other.operation()),
                other.operation(),
            )),
        }
    }

    fn answer(&self, call: &SoapCall<'_>, op: Option<Operation>) -> SoapReply {
        let env = match Envelope::decode(call.body) {
            Ok(e) => e,
            Err(e) => {
                let op = op.unwrap_or(Operation::GetConfig);
                return self.invalid(&e.to_string(), op);
            }
        };
        let req = match &env.body {
            Body::Request(r) => r,
            Body::Response(r) => {
                return self.invalid(
                    &format!(
                        "the SOAP Body holds a {} response, not a request",
                        r.operation()
                    ),
                    r.operation(),
                );
            }
            Body::Fault(_) => {
                return self.invalid(
                    "the SOAP Body holds a Fault, not a request",
                    op.unwrap_or(Operation::GetConfig),
                );
            }
            Body::Other {
                name, namespace, ..
            } => {
                return self.invalid(
                    &format!(
                        "the SOAP Body element <{name}> in namespace {:?} is no WUSP request",
                        namespace.as_deref().unwrap_or("")
                    ),
                    op.unwrap_or(Operation::GetConfig),
                );
            }
            _ => {
                return self.invalid("the SOAP Body holds no WUSP request", Operation::GetConfig);
            }
        };
        let operation = req.operation();
        match self.dispatch(req, call) {
            Ok(resp) => SoapReply {
                status: 200,
                body: Envelope::response(resp).encode().into_bytes(),
                operation: Some(operation),
                transport: None,
            },
            Err(mut fault) => {
                fault.operation = Some(operation);
                fault
            }
        }
    }
}

fn load_or_create_secret(dir: &std::path::Path) -> Result<[u8; 32], ServerError> {
    let path = dir.join("server.key");
    let io = |source| ServerError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(b) if b.len() == 32 => {
            let mut s = [0u8; 32];
            s.copy_from_slice(&b);
            return Ok(s);
        }
        Ok(_) => {
            tracing::warn!(path = %path.display(), "server.key has the wrong size; replacing it")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut s = [0u8; 32];
    getrandom::fill(&mut s).map_err(|e| CookieError::Random(e.to_string()))?;
    std::fs::write(&path, s).map_err(io)?;
    Ok(s)
}

fn json_reply(status: u16, value: &serde_json::Value) -> (u16, Vec<u8>) {
    (status, value.to_string().into_bytes())
}

impl Backend for WsusServer {
    fn soap(&self, call: SoapCall<'_>) -> SoapReply {
        let op = wusp::http::identify_request(call.path, call.soap_action, call.body)
            .ok()
            .map(|i| i.operation);
        let mut transport = None;
        if let Some(op) = op
            && let Some(f) = self.config.inject.on_call(op)
        {
            match f {
                FaultKind::Soap(code) => {
                    return self.fault(code, "injected fault", Some(op));
                }
                FaultKind::Transport(TransportFault::Http503) => {
                    return SoapReply {
                        status: 503,
                        body: Vec::new(),
                        operation: Some(op),
                        transport: Some(TransportFault::Http503),
                    };
                }
                FaultKind::Transport(t) => transport = Some(t),
            }
        }
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.answer(&call, op)));
        let mut reply = match result {
            Ok(r) => r,
            Err(_) => {
                tracing::error!(
                    ?op,
                    "the protocol core panicked; answering InternalServerError"
                );
                self.fault(ErrorCode::InternalServerError, "internal error", op)
            }
        };
        if reply.operation.is_none() {
            reply.operation = op;
        }
        reply.transport = transport;
        reply
    }

    fn content(&self, path: &str) -> Option<ContentFile> {
        let path = path.split(['?', '#']).next().unwrap_or("");
        let lower = path.to_ascii_lowercase();
        let rest = lower.strip_prefix("/content/")?;
        let name = rest.rsplit('/').next()?;
        let hexpart = name.split('.').next()?;
        let bytes = hex::decode(hexpart).ok()?;
        let sha1: [u8; 20] = bytes.as_slice().try_into().ok()?;
        let f = self.catalog.file_by_sha1(&sha1)?;
        let file = self.catalog.file(f)?;
        let data = self.catalog.file_bytes(f)?;
        Some(ContentFile {
            bytes: data,
            sha1: file.sha1,
            content_type: "application/octet-stream",
            last_modified: file.modified,
        })
    }

    fn admin(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let path = path.split('?').next().unwrap_or("").trim_end_matches('/');
        match (method.to_ascii_uppercase().as_str(), path) {
            ("POST", "/admin/approvals") => {
                let change: ApprovalChange = if body.iter().all(u8::is_ascii_whitespace) {
                    ApprovalChange::default()
                } else {
                    match serde_json::from_slice(body) {
                        Ok(c) => c,
                        Err(e) => {
                            return json_reply(
                                400,
                                &serde_json::json!({ "error": format!("bad JSON body: {e}") }),
                            );
                        }
                    }
                };
                let r = self.change_approvals(change);
                match serde_json::to_value(&r) {
                    Ok(v) => json_reply(200, &v),
                    Err(e) => json_reply(500, &serde_json::json!({ "error": e.to_string() })),
                }
            }
            ("POST", "/admin/config") => {
                let lc = self.touch_config();
                json_reply(
                    200,
                    &serde_json::json!({ "last_change": DateTime::from_instant(lc).0 }),
                )
            }
            ("GET", "/admin/status") => {
                let a = self.approvals();
                json_reply(
                    200,
                    &serde_json::json!({
                        "revisions": self.catalog.len(),
                        "files": self.catalog.files().len(),
                        "deployment_counter": a.counter(),
                        "registered_clients": self.registered_clients(),
                        "config_last_change": DateTime::from_instant(self.config_last_change()).0,
                    }),
                )
            }
            (_, "/admin/approvals" | "/admin/config" | "/admin/status") => json_reply(
                405,
                &serde_json::json!({ "error": format!("method {method} not allowed on {path}") }),
            ),
            _ => json_reply(
                404,
                &serde_json::json!({ "error": format!("no admin endpoint {path}") }),
            ),
        }
    }
}

#[cfg(test)]
#[path = "logic_tests.rs"]
mod tests;
