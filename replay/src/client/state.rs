//! What a client keeps between runs (reference 5.1), serde-serializable for `--state`.
//!
//! Everything is stored as wire strings (cookie data, dates, GUIDs) so a state file
//! round-trips exactly. Writing the file atomically (temporary file, then rename) is
//! [`ClientState::save`], which `wutap replay --state FILE` uses after every run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use wusp::Field;
use wusp::fragment::{FragmentKind, classify, parse_core, parse_extended};
use wusp::types::{
    AuthorizationCookie, ComputerInfo, Config, Cookie, ExtendedUpdateInfo, ExtendedUpdateInfo2,
    FileLocation, GetFileLocationsResults, RefreshCacheResult, SyncInfo, UpdateInfo,
};
use wusp::values::{Base64, DateTime};

/// The client's identity (reference 5.1 Properties, 2.1, 2.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// ClientIdString: a lower-case GUID (rule C-04).
    pub client_id: String,
    /// DNS name, sent in GetAuthorizationCookie and ComputerInfo (rule C-13).
    pub dns_name: String,
    /// protocolVersion of GetConfig and GetCookie (Windows 11 25H2: "2.90").
    pub protocol_version: String,
    /// Target group claimed in GetAuthorizationCookie (none: omitted, as native WUA does).
    pub target_group: Option<String>,
    /// What RegisterComputer sends.
    pub computer: ComputerDescription,
}

impl Identity {
    /// An identity with Windows 11 defaults around the given client ID and DNS name.
    pub fn new(client_id: &str, dns_name: &str) -> Identity {
        Identity {
            client_id: client_id.to_ascii_lowercase(),
            dns_name: dns_name.to_string(),
            protocol_version: "2.90".into(),
            target_group: None,
            computer: ComputerDescription::default(),
        }
    }
}

/// The registration data of RegisterComputer (a serializable subset of ComputerInfo).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputerDescription {
    /// OS major version.
    pub os_major: i32,
    /// OS minor version.
    pub os_minor: i32,
    /// OS build number.
    pub os_build: i32,
    /// OS locale, e.g. `en-US`.
    pub os_locale: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// Free-text processor architecture (`AMD64`).
    pub processor_architecture: String,
    /// WUA version, four parts.
    pub client_version: [i16; 4],
}

impl Default for ComputerDescription {
    fn default() -> Self {
        ComputerDescription {
            os_major: 10,
            os_minor: 0,
            os_build: 26200,
            os_locale: "en-US".into(),
            manufacturer: "wutap".into(),
            model: "replay client".into(),
            processor_architecture: "AMD64".into(),
            client_version: [1386, 26100, 6899, 0],
        }
    }
}

impl ComputerDescription {
    /// The ComputerInfo sent in RegisterComputer.
    pub fn computer_info(&self, dns_name: &str, now: DateTime) -> ComputerInfo {
        let [a, b, c, d] = self.client_version;
        ComputerInfo {
            dns_name: Field::Value(dns_name.to_string()),
            os_major_version: Field::Value(self.os_major),
            os_minor_version: Field::Value(self.os_minor),
            os_build_number: Field::Value(self.os_build),
            os_service_pack_major_number: Field::Value(0),
            os_service_pack_minor_number: Field::Value(0),
            os_locale: Field::Value(self.os_locale.clone()),
            computer_manufacturer: Field::Value(self.manufacturer.clone()),
            computer_model: Field::Value(self.model.clone()),
            bios_release_date: Field::Value(now),
            processor_architecture: Field::Value(self.processor_architecture.clone()),
            suite_mask: Field::Value(256),
            old_product_type: Field::Value(1),
            new_product_type: Field::Value(48),
            system_metrics: Field::Value(0),
            client_version_major_number: Field::Value(a),
            client_version_minor_number: Field::Value(b),
            client_version_build_number: Field::Value(c),
            client_version_qfe_number: Field::Value(d),
            ..ComputerInfo::default()
        }
    }
}

/// The cached GetConfig result (reference 5.1 CachedConfig), the parts the client uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedConfig {
    /// `LastChange`, as sent (GetCookie echoes it, rule C-07).
    pub last_change: String,
    /// `IsRegistrationRequired`.
    pub registration_required: bool,
    /// `AuthInfo/ServiceUrl` of the SimpleTargeting plug-in (rule C-03).
    pub auth_service_url: Option<String>,
    /// `MaxExtendedUpdatesPerRequest` (absent: 50 is assumed, the value of every observed server).
    pub max_extended_updates_per_request: Option<u32>,
    /// The server's `ProtocolVersion` property.
    pub protocol_version: Option<String>,
    /// `AllowedEventIds` (empty: all).
    pub allowed_event_ids: Vec<i32>,
}

impl CachedConfig {
    /// What the client keeps of a GetConfig result; `None` without a usable LastChange.
    pub fn from_config(c: &Config) -> Option<CachedConfig> {
        let auth = c
            .auth_info
            .items()
            .iter()
            .find(|a| a.plug_in_id.value().is_some_and(|p| p == "SimpleTargeting"))
            .or_else(|| c.auth_info.items().first());
        Some(CachedConfig {
            last_change: c.last_change.value()?.as_str().to_string(),
            registration_required: c.is_registration_required.value() == Some(&true),
            auth_service_url: auth.and_then(|a| a.service_url.value().cloned()),
            max_extended_updates_per_request: c.max_extended_updates_per_request(),
            protocol_version: c.property("ProtocolVersion").map(str::to_string),
            allowed_event_ids: c.allowed_event_ids.items().to_vec(),
        })
    }
}

/// A cookie as received (reference 3.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCookie {
    /// Clear-text `Expiration`.
    pub expiration: String,
    /// `EncryptedData` (base64), if any.
    pub encrypted_data: Option<String>,
}

impl StoredCookie {
    /// From a wire cookie.
    pub fn from_wire(c: &Cookie) -> Option<StoredCookie> {
        Some(StoredCookie {
            expiration: c.expiration.value()?.as_str().to_string(),
            encrypted_data: c.encrypted_data.value().map(|b| b.as_str().to_string()),
        })
    }

    /// The wire cookie.
    pub fn to_wire(&self) -> Cookie {
        Cookie {
            expiration: Field::Value(DateTime(self.expiration.clone())),
            encrypted_data: self
                .encrypted_data
                .clone()
                .map_or(Field::Absent, |d| Field::Value(Base64(d))),
            ..Cookie::default()
        }
    }

    /// True when the clear-text Expiration is at or before `now` (rule C-16); an
    /// unparsable Expiration counts as expired.
    pub fn is_expired(&self, now: time::OffsetDateTime) -> bool {
        DateTime(self.expiration.clone())
            .instant()
            .is_none_or(|e| e <= now)
    }
}

/// An AuthorizationCookie as received (reference 3.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAuthorization {
    /// `PlugInId`.
    pub plug_in_id: Option<String>,
    /// `CookieData` (base64).
    pub cookie_data: Option<String>,
}

impl StoredAuthorization {
    /// From the wire.
    pub fn from_wire(a: &AuthorizationCookie) -> StoredAuthorization {
        StoredAuthorization {
            plug_in_id: a.plug_in_id.value().cloned(),
            cookie_data: a.cookie_data.value().map(|b| b.as_str().to_string()),
        }
    }

    /// Back to the wire, byte-identical in content (rule C-06).
    pub fn to_wire(&self) -> AuthorizationCookie {
        AuthorizationCookie {
            plug_in_id: self.plug_in_id.clone().map_or(Field::Absent, Field::Value),
            cookie_data: self
                .cookie_data
                .clone()
                .map_or(Field::Absent, |d| Field::Value(Base64(d))),
            ..AuthorizationCookie::default()
        }
    }
}

/// A file of an update, from its Extended fragment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedFile {
    /// SHA-1 digest, base64 (the FileDigest).
    pub digest: String,
    /// File name.
    pub name: Option<String>,
    /// Known download URL (none: GetFileLocations needed).
    pub url: Option<String>,
    /// `DecryptionInformation` JSON (reference 3.9) from GetExtendedUpdateInfo2, if any.
    #[serde(default)]
    pub decryption_information: Option<String>,
    /// `FileDecryptionData/DecryptionKey` (base64) from GetExtendedUpdateInfo2, if any.
    #[serde(default)]
    pub decryption_key: Option<String>,
    /// SHA-256 (`AdditionalDigest Algorithm="SHA256"`, base64), when the fragment has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// `@Size` from the Extended fragment (plans the download ranges), when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// A FileLocation said the content is encrypted: an `EncryptedFileDigest` ("null if not
    /// encrypted", reference 2.11) or a `DecryptionInformation` (reference 3.9).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
}

impl CachedFile {
    /// True when the file is encrypted and no key is known: neither a FileDecryption key
    /// nor `KeyData` inside its DecryptionInformation JSON (reference 3.9).
    pub fn needs_key(&self) -> bool {
        if !self.encrypted || self.decryption_key.is_some() {
            return false;
        }
        let key_in_json = self
            .decryption_information
            .as_deref()
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
            .is_some_and(|v| {
                v.get("KeyData")
                    .and_then(|k| k.as_str())
                    .is_some_and(|k| !k.is_empty())
            });
        !key_in_json
    }
}

/// One cached revision (reference 5.1 Revision, Metadata, Deployment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedRevision {
    /// UpdateID, lower case.
    pub update_id: String,
    /// RevisionNumber.
    pub revision_number: i32,
    /// `Software`, `Driver`, `Category`, `Detectoid` (core Properties/@UpdateType).
    pub update_type: String,
    /// IsLeaf (latest value, ChangedUpdates included).
    pub is_leaf: bool,
    /// Deployment Action.
    pub action: String,
    /// The core fragment text.
    pub core: String,
    /// Fragments already fetched, as `Type` or `Type:locale` (rule C-49).
    pub fetched: BTreeSet<String>,
    /// Extended fragment text, once fetched.
    pub extended: Option<String>,
    /// Files of the Extended fragment, with known locations.
    pub files: Vec<CachedFile>,
    /// How the client classified the revision in its last SyncUpdates: `Some(true)` listed
    /// in InstalledNonLeafUpdateIDs, `Some(false)` in OtherCachedUpdateIDs, `None` not
    /// listed yet (then non-leaf counts as installed). Seeding from a capture sets it.
    #[serde(default)]
    pub installed: Option<bool>,
    /// Delivered by SyncPrinterCatalog: listed in printerUpdateIDs, not in CachedDriverIDs
    /// (the driver pass would call it out of scope: it matches no device of SystemSpec).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub printer: bool,
    /// `UpdateEncryptionDetails/HasEncryptedFiles` of GetExtendedUpdateInfo2, when received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_encrypted_files: Option<bool>,
}

impl CachedRevision {
    /// True for driver revisions (they go into CachedDriverIDs, rule C-25).
    pub fn is_driver(&self) -> bool {
        self.update_type.eq_ignore_ascii_case("Driver")
    }

    /// True when the metadata says decryption data is needed (reference 2.11, 3.9): a file
    /// whose location marks it encrypted has no key, or the server said
    /// `HasEncryptedFiles=true` and some file still has no key.
    pub fn needs_decryption(&self) -> bool {
        self.files.iter().any(CachedFile::needs_key)
            || (self.has_encrypted_files == Some(true)
                && self.files.iter().any(|f| f.decryption_key.is_none()))
    }
}

/// Everything the client persists (reference 5.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientState {
    /// Who the client is.
    pub identity: Identity,
    /// CachedConfig.
    pub config: Option<CachedConfig>,
    /// CachedCookie (replaced by every NewCookie).
    pub cookie: Option<StoredCookie>,
    /// The latest AuthorizationCookie.
    pub authorization: Option<StoredAuthorization>,
    /// True once RegisterComputer succeeded (or the server said it is not needed).
    pub registered: bool,
    /// CachedRegistrationInfo: the ComputerDescription last registered.
    pub registered_info: Option<ComputerDescription>,
    /// Revision cache keyed by server-local revision ID.
    pub revisions: BTreeMap<i32, CachedRevision>,
    /// The HTTP header set of SOAP posts (native by default; recorded when seeded).
    #[serde(default)]
    pub http: crate::client::HttpProfile,
    /// Recorded request bodies (SOAP XML) by template key (see [`template_key`]): when
    /// one exists the client edits it instead of building the request (fidelity).
    #[serde(default)]
    pub templates: BTreeMap<String, String>,
}

/// The template key of a request: the operation name, `SyncUpdates/driver` for the
/// driver pass.
pub fn template_key(req: &wusp::Request) -> String {
    match req {
        wusp::Request::SyncUpdates(s)
            if s.parameters
                .value()
                .and_then(|p| p.skip_software_sync.value())
                == Some(&true) =>
        {
            "SyncUpdates/driver".into()
        }
        other => other.operation().name().to_string(),
    }
}

/// What applying a response changed in the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// NewUpdates received.
    pub new_updates: u32,
    /// ChangedUpdates received.
    pub changed_updates: u32,
    /// OutOfScopeRevisionIDs received.
    pub out_of_scope: u32,
    /// SyncUpdates only: true when the software loop must go on (Truncated or a non-leaf
    /// NewUpdate, rule C-28).
    pub more: bool,
}

/// Errors of loading or saving a state file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// File system error.
    #[error("state file {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Malformed JSON.
    #[error("state file {path}: {source}")]
    Json {
        /// The path.
        path: String,
        /// The cause.
        source: serde_json::Error,
    },
}

impl ClientState {
    /// A state with no cache: the next sync is a first (full) sync.
    pub fn new(identity: Identity) -> ClientState {
        ClientState {
            identity,
            config: None,
            cookie: None,
            authorization: None,
            registered: false,
            registered_info: None,
            revisions: BTreeMap::new(),
            http: crate::client::HttpProfile::native(),
            templates: BTreeMap::new(),
        }
    }

    /// Reads a state file written by [`ClientState::save`].
    pub fn load(path: &Path) -> Result<ClientState, StateError> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| StateError::Io {
            path: p.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| StateError::Json { path: p, source })
    }

    /// Writes the state atomically: a temporary file beside `path`, then a rename. The file
    /// holds cookies: it is created readable by its owner only (0600 on Unix).
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let p = path.display().to_string();
        let json = serde_json::to_vec_pretty(self).map_err(|source| StateError::Json {
            path: p.clone(),
            source,
        })?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let io = |source| StateError::Io {
            path: p.clone(),
            source,
        };
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            o.mode(0o600);
        }
        let mut f = o.open(&tmp).map_err(io)?;
        #[cfg(unix)]
        {
            // A leftover temporary file keeps its old mode: tighten it.
            use std::os::unix::fs::PermissionsExt as _;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(io)?;
        }
        std::io::Write::write_all(&mut f, &json).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The software and driver lists of reference 5.5 from the cache: (installed non-leaf,
    /// other cached non-driver, drivers). A revision keeps the list it was recorded in
    /// ([`CachedRevision::installed`]); any other non-leaf revision is treated as evaluated
    /// installed (no applicability evaluation yet).
    pub fn lists(&self) -> (Vec<i32>, Vec<i32>, Vec<i32>) {
        let (mut inst, mut other, mut drivers) = (Vec::new(), Vec::new(), Vec::new());
        for (id, r) in &self.revisions {
            if r.printer {
                continue;
            } else if r.is_driver() {
                drivers.push(*id);
            } else if r.installed.unwrap_or(!r.is_leaf) {
                inst.push(*id);
            } else {
                other.push(*id);
            }
        }
        (inst, other, drivers)
    }

    /// [`ClientState::lists`] with at most `max` InstalledNonLeafUpdateIDs (WS2025 faults
    /// above 400, reference 7.3.5), plus how many were moved to OtherCachedUpdateIDs.
    ///
    /// Only InstalledNonLeafUpdateIDs satisfies prerequisites on the server (reference 5.5):
    /// a cached revision whose prerequisite is dropped from that list comes back out of
    /// scope. So the non-leaf revisions that most cached revisions depend on, transitively,
    /// stay; a prerequisite always has more dependents than what requires it, so the kept
    /// set stays closed under prerequisite chains. Ties: lower revision ID first. The rest
    /// are still cached, so they go into OtherCachedUpdateIDs (every cached revision is
    /// listed, reference 5.5, C-27) and are not sent again as NewUpdates.
    pub fn lists_capped(&self, max: usize) -> (Vec<i32>, Vec<i32>, Vec<i32>, usize) {
        let (inst, mut other, drivers) = self.lists();
        if inst.len() <= max {
            return (inst, other, drivers, 0);
        }
        // Edges: prerequisite UpdateID -> the cached revisions that name it.
        let mut requirers: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (id, r) in &self.revisions {
            if let Ok(core) = parse_core(&r.core) {
                let named: BTreeSet<String> = core
                    .prerequisite_update_ids()
                    .map(wusp::fragment::normalize_guid)
                    .collect();
                for u in named {
                    requirers.entry(u).or_default().push(*id);
                }
            }
        }
        let dependents = |start: i32| -> usize {
            let mut seen: BTreeSet<i32> = BTreeSet::new();
            let mut stack = vec![start];
            while let Some(id) = stack.pop() {
                let Some(r) = self.revisions.get(&id) else {
                    continue;
                };
                for d in requirers.get(&r.update_id).into_iter().flatten() {
                    if seen.insert(*d) {
                        stack.push(*d);
                    }
                }
            }
            seen.remove(&start);
            seen.len()
        };
        let mut ranked: Vec<(usize, i32)> = inst.iter().map(|id| (dependents(*id), *id)).collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let moved: Vec<i32> = ranked[max..].iter().map(|(_, id)| *id).collect();
        let mut kept: Vec<i32> = ranked[..max].iter().map(|(_, id)| *id).collect();
        kept.sort_unstable();
        other.extend(&moved);
        other.sort_unstable();
        (kept, other, drivers, moved.len())
    }

    /// Cached printer drivers (printerUpdateIDs of SyncPrinterCatalog, reference 2.8).
    pub fn printer_ids(&self) -> Vec<i32> {
        self.revisions
            .iter()
            .filter(|(_, r)| r.printer)
            .map(|(id, _)| *id)
            .collect()
    }

    // ---- what responses change (shared by the sync machine and seeding) ----

    /// Marks the NewUpdates of a SyncPrinterCatalog answer as printer-catalog revisions.
    pub(crate) fn mark_printer(&mut self, info: &SyncInfo) {
        for u in info.new_updates.items() {
            if let Some(r) = u.id.value().and_then(|id| self.revisions.get_mut(id)) {
                r.printer = true;
            }
        }
    }

    /// Takes a NewCookie, if the field holds one.
    pub(crate) fn take_cookie(&mut self, c: &Field<Cookie>) {
        if let Some(c) = c.value().and_then(StoredCookie::from_wire) {
            self.cookie = Some(c);
        }
    }

    /// RegisterComputer succeeded (or was not required): the current description is
    /// the registered one.
    pub(crate) fn mark_registered(&mut self) {
        self.registered = true;
        self.registered_info = Some(self.identity.computer.clone());
    }

    /// Applies a SyncUpdates response (reference 5.5); true when the loop must go on.
    pub(crate) fn apply_sync(&mut self, info: &SyncInfo) -> Applied {
        let mut applied = Applied::default();
        self.take_cookie(&info.new_cookie);
        for id in info.out_of_scope_revision_ids.items() {
            applied.out_of_scope += 1;
            self.revisions.remove(id);
        }
        for u in info.changed_updates.items() {
            applied.changed_updates += 1;
            let Some(id) = u.id.value() else { continue };
            if let Some(r) = self.revisions.get_mut(id) {
                if let Some(l) = u.is_leaf.value() {
                    r.is_leaf = *l;
                }
                if let Some(a) = u.deployment.value().and_then(|d| d.action.value()) {
                    r.action = a.as_str().to_string();
                }
                // Fragments already cached stay cached: a deployment change does not
                // change them (C-49 would allow a re-fetch; the client does not need one).
            }
        }
        let mut non_leaf = false;
        for u in info.new_updates.items() {
            applied.new_updates += 1;
            if let Some((id, r)) = revision_from(u) {
                non_leaf |= !r.is_leaf;
                self.revisions.insert(id, r);
            } else {
                tracing::warn!("NewUpdates item without ID or core fragment ignored");
            }
        }
        applied.more = info.truncated.value() == Some(&true) || non_leaf;
        applied
    }

    pub(crate) fn apply_refresh(&mut self, results: &[RefreshCacheResult]) {
        let old = std::mem::take(&mut self.revisions);
        let mut by_identity: BTreeMap<(String, i32), CachedRevision> = old
            .into_values()
            .map(|r| ((r.update_id.clone(), r.revision_number), r))
            .collect();
        for res in results {
            let (Some(id), Some(g)) = (res.revision_id.value(), res.global_id.value()) else {
                continue;
            };
            let (Some(uid), Some(rn)) = (g.update_id.value(), g.revision_number.value()) else {
                continue;
            };
            let key = (wusp::fragment::normalize_guid(uid.as_str()), *rn);
            if let Some(mut r) = by_identity.remove(&key) {
                if let Some(l) = res.is_leaf.value() {
                    r.is_leaf = *l;
                }
                if let Some(a) = res.deployment.value().and_then(|d| d.action.value()) {
                    r.action = a.as_str().to_string();
                }
                self.revisions.insert(*id, r);
            }
        }
        tracing::debug!(
            kept = self.revisions.len(),
            dropped = by_identity.len(),
            "cache re-keyed by RefreshCache"
        );
    }

    /// Applies a GetExtendedUpdateInfo result; `wanted` are the fragment keys the request
    /// asked for (`Extended`, `LocalizedProperties:<locale>`), cached once answered.
    pub(crate) fn apply_extended(
        &mut self,
        info: &ExtendedUpdateInfo,
        wanted: &[String],
    ) -> Applied {
        let mut applied = Applied::default();
        for id in info.out_of_scope_revision_ids.items() {
            applied.out_of_scope += 1;
            self.revisions.remove(id);
        }
        for u in info.updates.items() {
            let (Some(id), Some(xml)) = (u.id.value(), u.xml.value()) else {
                continue;
            };
            let Some(r) = self.revisions.get_mut(id) else {
                continue;
            };
            let Ok(text) = xml.text() else { continue };
            match classify(&text) {
                FragmentKind::Extended => {
                    if let Ok(ext) = parse_extended(&text) {
                        r.files = ext
                            .files
                            .iter()
                            .map(|f| CachedFile {
                                digest: f.digest.trim().to_string(),
                                name: f.file_name.clone(),
                                url: None,
                                decryption_information: None,
                                decryption_key: None,
                                sha256: f.additional_digest("SHA256").map(|d| d.trim().to_string()),
                                size: f.size,
                                encrypted: false,
                            })
                            .collect();
                    }
                    r.extended = Some(text.into_owned());
                    // The request asked for Extended and LocalizedProperties in every
                    // locale; what the server had is now cached.
                    r.fetched.extend(wanted.iter().cloned());
                }
                FragmentKind::LocalizedProperties => {
                    r.fetched.insert("LocalizedProperties".into());
                }
                _ => {}
            }
        }
        self.apply_locations(info.file_locations.items());
        applied
    }

    /// Applies a GetExtendedUpdateInfo2 result: file locations and decryption keys.
    pub(crate) fn apply_extended2(&mut self, info: &ExtendedUpdateInfo2) {
        self.apply_locations(info.file_locations.items());
        let keys: BTreeMap<String, String> = info
            .file_decryption_data
            .items()
            .iter()
            .filter_map(|d| {
                Some((
                    d.file_digest.value()?.as_str().trim().to_string(),
                    d.decryption_key.value()?.as_str().to_string(),
                ))
            })
            .collect();
        for f in self.revisions.values_mut().flat_map(|r| r.files.iter_mut()) {
            if let Some(k) = keys.get(&f.digest) {
                f.decryption_key = Some(k.clone());
            }
        }
        for d in info.update_encryption_details.items() {
            let (Some(g), Some(has)) = (d.update_identity.value(), d.has_encrypted_files.value())
            else {
                continue;
            };
            let (Some(uid), Some(rn)) = (g.update_id.value(), g.revision_number.value()) else {
                continue;
            };
            let uid = wusp::fragment::normalize_guid(uid.as_str());
            for r in self.revisions.values_mut() {
                if r.update_id == uid && r.revision_number == *rn {
                    r.has_encrypted_files = Some(*has);
                }
            }
        }
    }

    /// Marks the revisions a GetExtendedUpdateInfo2 request asked decryption data for
    /// (`FileDecryption` fetched); returns their revision IDs.
    pub(crate) fn mark_decryption_asked(
        &mut self,
        q: &wusp::messages::GetExtendedUpdateInfo2,
    ) -> Vec<i32> {
        let asked: BTreeSet<(String, i32)> = q
            .update_ids
            .items()
            .iter()
            .filter_map(|u| {
                Some((
                    wusp::fragment::normalize_guid(u.update_id.value()?.as_str()),
                    *u.revision_number.value()?,
                ))
            })
            .collect();
        let mut ids = Vec::new();
        for (id, r) in self.revisions.iter_mut() {
            if asked.contains(&(r.update_id.clone(), r.revision_number)) {
                r.fetched.insert("FileDecryption".into());
                ids.push(*id);
            }
        }
        ids
    }

    /// Applies a GetFileLocations result: its NewCookie and the locations.
    pub(crate) fn apply_file_locations(&mut self, res: &GetFileLocationsResults) {
        self.take_cookie(&res.new_cookie);
        self.apply_locations(res.file_locations.items());
    }

    fn apply_locations(&mut self, locations: &[FileLocation]) {
        let by_digest: BTreeMap<String, &FileLocation> = locations
            .iter()
            .filter_map(|l| Some((l.file_digest.value()?.as_str().trim().to_string(), l)))
            .collect();
        for r in self.revisions.values_mut() {
            for f in &mut r.files {
                if let Some(l) = by_digest.get(&f.digest) {
                    if let Some(u) = l.url.value() {
                        f.url = Some(u.clone());
                    }
                    if let Some(d) = l
                        .decryption_information
                        .value()
                        .or(l.esrp_decryption_information.value())
                    {
                        f.decryption_information = Some(d.clone());
                        f.encrypted = true;
                    }
                    if l.encrypted_file_digest
                        .value()
                        .is_some_and(|d| !d.as_str().trim().is_empty())
                    {
                        f.encrypted = true;
                    }
                }
            }
        }
    }
}

/// A cache entry from a NewUpdates item (core fragment parsed for identity and type).
fn revision_from(u: &UpdateInfo) -> Option<(i32, CachedRevision)> {
    let id = *u.id.value()?;
    let text = u.xml.value()?.text().ok()?.into_owned();
    let core = parse_core(&text).ok()?;
    Some((
        id,
        CachedRevision {
            update_id: core.normalized_update_id(),
            revision_number: core.revision_number,
            update_type: core.update_type.as_str().to_string(),
            is_leaf: u.is_leaf.value() == Some(&true),
            action: u
                .deployment
                .value()
                .and_then(|d| d.action.value())
                .map_or_else(String::new, |a| a.as_str().to_string()),
            core: text,
            fetched: BTreeSet::new(),
            extended: None,
            files: Vec::new(),
            installed: None,
            printer: false,
            has_encrypted_files: None,
        },
    ))
}
