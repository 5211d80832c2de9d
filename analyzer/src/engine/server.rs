//! Server rules judged on a response against its request and what the server sent before:
//! configuration (S-02, S-04, S-05), SyncUpdates content (S-10, S-14, S-18, S-19, S-21,
//! S-26), RefreshCache (S-27), GetExtendedUpdateInfo (S-31), GetFileLocations (S-32, S-33).

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use wusp::fragment::{CoreFragment, normalize_guid};
use wusp::ops::Service;
use wusp::types::{Config, SyncInfo, UpdateInfo};
use wusp::values::DeploymentAction;
use wusp::xml::Source;
use wusp::{ErrorCode, Request, Response};

use super::{Engine, quote};
use crate::input::{Observed, Reply};

/// What a server says about its revisions, whichever client it says it to: one table per
/// server, not per client (a revision names the same UpdateID for every client).
#[derive(Default)]
pub(super) struct Catalog {
    /// The UpdateIDs (normalized) seen, by index.
    update_ids: Vec<String>,
    /// The index of each UpdateID in `update_ids`.
    index_of: HashMap<String, u32>,
    /// UpdateID index of each delivered revision.
    update_of: HashMap<i32, u32>,
    /// Delivered revisions of each UpdateID index.
    revisions_of: HashMap<u32, Vec<i32>>,
    /// The latest configuration the server gave, shared by every pair that got the same.
    config: Option<Rc<Config>>,
}

impl Catalog {
    /// The index of a normalized UpdateID, new ones numbered in order.
    fn intern(&mut self, update: String) -> u32 {
        if let Some(&i) = self.index_of.get(&update) {
            return i;
        }
        let i = u32::try_from(self.update_ids.len()).unwrap_or(u32::MAX);
        self.update_ids.push(update.clone());
        self.index_of.insert(update, i);
        i
    }

    /// Revisions whose UpdateID is known.
    #[cfg(test)]
    pub(super) fn revisions(&self) -> usize {
        self.update_of.len()
    }

    /// `cfg` as the pairs keep it: the server's latest configuration when equal (one copy
    /// per server, not per client), else a new one. Detached from the document it was
    /// decoded from, which it would otherwise keep in memory whole.
    pub(super) fn share_config(&mut self, cfg: &Config) -> Rc<Config> {
        if let Some(shared) = &self.config
            && **shared == *cfg
        {
            return Rc::clone(shared);
        }
        let mut own = cfg.clone();
        own.source = Source::default();
        if let Some(items) = own.auth_info.value_mut() {
            for a in items {
                a.source = Source::default();
            }
        }
        if let Some(items) = own.properties.value_mut() {
            for p in items {
                p.source = Source::default();
            }
        }
        let own = Rc::new(own);
        self.config = Some(Rc::clone(&own));
        own
    }

    /// The UpdateID (normalized) of a delivered revision.
    pub(super) fn update_id(&self, revision_id: i32) -> Option<String> {
        let i = *self.update_of.get(&revision_id)?;
        self.update_ids.get(usize::try_from(i).ok()?).cloned()
    }
}

/// What the server told this client, for rules that span responses.
#[derive(Default)]
pub(super) struct ServerFacts {
    /// Latest IsLeaf of each revision delivered to this client.
    leaf: HashMap<i32, bool>,
    /// UpdateIDs (indexes in the server's [`Catalog`]) some revision delivered to this
    /// client names as a prerequisite, with that revision.
    prerequisite_targets: HashMap<u32, i32>,
    /// Version of the client (last GetCookie protocolVersion).
    ver_c: Option<(u32, u32)>,
}

impl ServerFacts {
    /// The client's protocol version (its last GetCookie), if seen.
    pub(super) fn client_version(&self) -> Option<(u32, u32)> {
        self.ver_c
    }
}

/// `x.y` as a pair of numbers.
pub(super) fn version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn property<'a>(cfg: &'a Config, name: &str) -> Option<&'a str> {
    cfg.properties
        .items()
        .iter()
        .find(|p| p.name.value().is_some_and(|n| n == name))
        .and_then(|p| p.value.value())
        .map(String::as_str)
}

fn is_invalid_parameters(reply: &Reply) -> bool {
    matches!(reply, Reply::Fault(f) if f.error_code().map(ErrorCode::canonical) == Some(ErrorCode::InvalidParameters))
}

impl Engine {
    /// Server rules for one exchange.
    pub(super) fn server_rules(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        req: &Request,
    ) {
        let id = ex.id.as_str();
        if let Request::GetCookie(m) = req
            && let Some(v) = m.protocol_version.value().and_then(|v| version(v))
        {
            self.pair(key).server.ver_c = Some(v);
        }
        // Requests the server must refuse (S-10, S-31, S-33).
        let must_refuse = match req {
            Request::SyncUpdates(m) => m.parameters.value().and_then(|p| {
                let spec = p.system_spec.is_present() && !matches!(p.system_spec, wusp::Field::Nil);
                let software = p.skip_software_sync.value().copied() != Some(true);
                (spec && software).then_some(("S-10", "SystemSpec with SkipSoftwareSync=false"))
            }),
            Request::GetExtendedUpdateInfo(m) => {
                let max = self.pair(key).config.as_ref().and_then(|c| {
                    property(c, "MaxExtendedUpdatesPerRequest")?
                        .trim()
                        .parse::<usize>()
                        .ok()
                });
                let types = m.info_types.items();
                let localized = types.iter().any(|t| {
                    matches!(
                        t,
                        wusp::values::XmlUpdateFragmentType::Eula
                            | wusp::values::XmlUpdateFragmentType::LocalizedProperties
                    )
                });
                if m.info_types.is_absent() {
                    Some(("S-31", "GetExtendedUpdateInfo without infoTypes"))
                } else if localized && m.locales.is_absent() {
                    Some((
                        "S-31",
                        "GetExtendedUpdateInfo without locales for a localized type",
                    ))
                } else if max.is_some_and(|max| m.revision_ids.items().len() > max) {
                    Some((
                        "S-31",
                        "GetExtendedUpdateInfo with more revisionIDs than MaxExtendedUpdatesPerRequest",
                    ))
                } else {
                    None
                }
            }
            Request::GetFileLocations(m) => {
                let bad = m
                    .file_digests
                    .items()
                    .iter()
                    .any(|d| d.bytes().is_none_or(|b| b.len() != 20));
                (m.file_digests.is_absent() || bad).then_some((
                    "S-33",
                    "GetFileLocations without fileDigests or with a digest not 20 bytes long",
                ))
            }
            _ => None,
        };
        if let Some((rule, what)) = must_refuse
            && !is_invalid_parameters(&ex.reply)
        {
            self.violated(
                si,
                rule,
                id,
                format!("{what} is not answered with InvalidParameters"),
                "an InvalidParameters fault",
                match &ex.reply {
                    Reply::Ok(_) => "a normal answer".to_string(),
                    Reply::Fault(f) => format!(
                        "fault {}",
                        f.error_code().map_or("(no ErrorCode)", |c| c.as_str())
                    ),
                    Reply::Undecodable(why) => why.clone(),
                },
            );
        }
        let Reply::Ok(resp) = &ex.reply else { return };
        match (req, resp) {
            (_, Response::GetConfig(r)) => {
                if let Some(cfg) = r.result.value() {
                    self.config_rules(si, id, cfg);
                }
            }
            (Request::SyncUpdates(q), Response::SyncUpdates(r)) => {
                if let Some(info) = r.result.value() {
                    self.delivery_rules(si, key, id, q, info);
                    self.sync_content_rules(si, key, id, info);
                }
            }
            (Request::RefreshCache(q), Response::RefreshCache(r)) => {
                let asked: HashSet<(String, Option<i32>)> = q
                    .global_ids
                    .items()
                    .iter()
                    .map(|g| {
                        (
                            g.update_id
                                .value()
                                .map(|u| normalize_guid(&u.0))
                                .unwrap_or_default(),
                            g.revision_number.value().copied(),
                        )
                    })
                    .collect();
                let mut bad = Vec::new();
                for item in r.result.items() {
                    let gid = item.global_id.value().map(|g| {
                        (
                            g.update_id
                                .value()
                                .map(|u| normalize_guid(&u.0))
                                .unwrap_or_default(),
                            g.revision_number.value().copied(),
                        )
                    });
                    let complete = item.revision_id.is_present()
                        && item.is_leaf.is_present()
                        && item.deployment.is_present();
                    if !complete || gid.as_ref().is_none_or(|g| !asked.contains(g)) {
                        bad.push(
                            item.revision_id
                                .value()
                                .map_or("(no RevisionID)".into(), i32::to_string),
                        );
                    }
                }
                if !bad.is_empty() {
                    self.violated(
                        si,
                        "S-27",
                        id,
                        format!("{} RefreshCache result(s) incomplete or for an identity not requested", bad.len()),
                        "RevisionID, IsLeaf, GlobalID (a requested identity), Deployment in every result",
                        bad.join(", "),
                    );
                }
            }
            (Request::GetFileLocations(q), Response::GetFileLocations(r)) => {
                let asked: HashSet<Vec<u8>> = q
                    .file_digests
                    .items()
                    .iter()
                    .filter_map(|d| d.bytes())
                    .collect();
                let res = r.result.value();
                let stray = res.map_or(0, |res| {
                    res.file_locations
                        .items()
                        .iter()
                        .filter(|l| {
                            l.file_digest
                                .value()
                                .and_then(|d| d.bytes())
                                .is_none_or(|b| !asked.contains(&b))
                        })
                        .count()
                });
                let no_cookie = res.is_none_or(|r| !r.new_cookie.is_present());
                if stray > 0 || no_cookie {
                    self.violated(
                        si,
                        "S-32",
                        id,
                        "GetFileLocations result without NewCookie or with locations for digests not requested".into(),
                        "a NewCookie; every FileDigest one of the requested digests",
                        format!(
                            "NewCookie {}; {stray} location(s) for digests not requested",
                            if no_cookie { "absent" } else { "present" }
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    fn config_rules(&mut self, si: usize, id: &str, cfg: &Config) {
        let auth = cfg.auth_info.items();
        let simple = auth.first().filter(|_| auth.len() == 1);
        let ok = simple.is_some_and(|a| {
            a.plug_in_id.value().is_some_and(|p| p == "SimpleTargeting")
                && a.service_url.value().is_some_and(|u| {
                    // WSUS sends a path relative to the server (`SimpleAuthWebService/…`).
                    let u = u.trim();
                    let path = if u.contains("://") || u.starts_with('/') {
                        u.to_string()
                    } else {
                        format!("/{u}")
                    };
                    Service::from_path(&path) == Some(Service::SimpleAuth)
                })
        });
        if !ok {
            self.violated(
                si,
                "S-02",
                id,
                "AuthInfo is not exactly one SimpleTargeting plug-in with a SimpleAuth ServiceUrl".into(),
                "one AuthPlugInInfo, PlugInID=SimpleTargeting, ServiceUrl of the SimpleAuth service",
                format!(
                    "{} AuthPlugInInfo; first: {:?} at {:?}",
                    auth.len(),
                    auth.first().and_then(|a| a.plug_in_id.value()),
                    auth.first().and_then(|a| a.service_url.value())
                ),
            );
        }
        let max = property(cfg, "MaxExtendedUpdatesPerRequest");
        let inventory = property(cfg, "IsInventoryRequired");
        let proto = property(cfg, "ProtocolVersion").and_then(version);
        let old = proto.is_none_or(|v| v < (3, 0));
        let extra: Vec<&str> = cfg
            .properties
            .items()
            .iter()
            .filter_map(|p| p.name.value().map(String::as_str))
            .filter(|n| *n != "MaxExtendedUpdatesPerRequest")
            .collect();
        let max_ok = max
            .and_then(|m| m.trim().parse::<i64>().ok())
            .is_some_and(|m| m > 0);
        if !max_ok || inventory.is_some_and(|v| v.trim() != "0") || (old && !extra.is_empty()) {
            self.violated(
                si,
                "S-04",
                id,
                "configuration properties break the ProtocolVersion rules".into(),
                "MaxExtendedUpdatesPerRequest > 0; IsInventoryRequired 0 if present; below 3.0 no other property",
                format!(
                    "MaxExtendedUpdatesPerRequest {max:?}, IsInventoryRequired {inventory:?}, ProtocolVersion {proto:?}, others [{}]",
                    extra.join(", ")
                ),
            );
        }
        let level = property(cfg, "ClientReportingLevel");
        // The 3.0+ properties other than the two checked by value (reference 2.2).
        let missing: Vec<&str> = ["PackageServerShare", "IsInventoryRequired"]
            .into_iter()
            .filter(|n| {
                !cfg.properties
                    .items()
                    .iter()
                    .any(|p| p.name.value().is_some_and(|m| m == n))
            })
            .collect();
        if proto != Some((3, 2)) || level.map(str::trim) != Some("2") || !missing.is_empty() {
            self.violated(
                si,
                "S-05",
                id,
                "configuration is not ProtocolVersion 3.2 with ClientReportingLevel 2 and every 3.0+ property".into(),
                "ProtocolVersion 3.2, ClientReportingLevel 2, PackageServerShare and IsInventoryRequired present",
                format!(
                    "ProtocolVersion {proto:?}, ClientReportingLevel {level:?}, missing [{}]",
                    missing.join(", ")
                ),
            );
        }
    }

    fn sync_content_rules(&mut self, si: usize, key: &(usize, String), id: &str, info: &SyncInfo) {
        let new = info.new_updates.items();
        let changed = info.changed_updates.items();
        let parsed = self.cores(id, new);
        let cores: Vec<Option<&CoreFragment>> = parsed
            .iter()
            .map(|p| p.as_ref().and_then(|p| p.core.as_ref().ok()))
            .collect();
        // S-14: one revision per UpdateID.
        let mut per_update: HashMap<String, Vec<i32>> = HashMap::new();
        for (u, c) in new.iter().zip(&cores) {
            if let (Some(c), Some(rid)) = (c, u.id.value()) {
                per_update
                    .entry(c.normalized_update_id())
                    .or_default()
                    .push(*rid);
            }
        }
        let mut twice: Vec<i32> = per_update
            .values()
            .filter(|v| v.len() > 1)
            .flatten()
            .copied()
            .collect();
        twice.sort_unstable();
        if !twice.is_empty() {
            self.violated(
                si,
                "S-14",
                id,
                "NewUpdates holds more than one revision of the same UpdateID".into(),
                "at most one revision per UpdateID",
                quote(&twice),
            );
        }
        // S-19 / S-26 / S-21 on every Deployment.
        let ver_c = self.pair(key).server.ver_c;
        let all: Vec<&UpdateInfo> = new.iter().chain(changed).collect();
        let mut blocked = Vec::new();
        let mut bad_dates = Vec::new();
        let mut bad_flags = Vec::new();
        for u in &all {
            let Some(d) = u.deployment.value() else {
                continue;
            };
            let rid = u.id.value().copied().unwrap_or_default();
            if d.action.value() == Some(&DeploymentAction::Block) {
                blocked.push(rid);
            }
            let date_ok = d.last_change_time.value().is_none_or(|t| t.is_date());
            let deadline_ok = d.deadline.value().is_none_or(|t| t.instant().is_some());
            if !date_ok || !deadline_ok {
                bad_dates.push(rid);
            }
            for f in [
                &d.auto_select,
                &d.auto_download,
                &d.supersedence_behavior,
                &d.flag_bitmask,
            ] {
                let present = f.is_present();
                let zero = f.value().is_some_and(|v| v.trim() == "0");
                if present && (ver_c.is_some_and(|v| v < (1, 8)) || !zero) {
                    bad_flags.push(rid);
                    break;
                }
            }
        }
        if !blocked.is_empty() {
            self.violated(
                si,
                "S-19",
                id,
                "Deployment Action Block sent".into(),
                "PreDeploymentCheck, or the revision omitted",
                quote(&blocked),
            );
        }
        if !bad_dates.is_empty() {
            self.violated(
                si,
                "S-26",
                id,
                "Deployment LastChangeTime not a yyyy-mm-dd date or Deadline not a dateTime".into(),
                "LastChangeTime yyyy-mm-dd; Deadline a dateTime",
                quote(&bad_dates),
            );
        }
        if !bad_flags.is_empty() {
            self.violated(si, "S-21", id, "AutoSelect/AutoDownload/SupersedenceBehavior/FlagBitmask present for a client below 1.8, or not 0".into(), "absent below protocol 1.8, \"0\" when present", quote(&bad_flags));
        }
        // S-18: IsLeaf consistency with the prerequisites delivered so far. Only what this
        // answer touches is checked: its revisions, and the revisions of UpdateIDs that
        // became prerequisites with it.
        let catalog = self.catalogs.entry(key.1.clone()).or_default();
        let facts = &mut self.pairs.entry(key.clone()).or_default().server;
        let mut touched: Vec<i32> = Vec::new();
        for (u, c) in new.iter().zip(&cores) {
            let Some(rid) = u.id.value().copied() else {
                continue;
            };
            if let Some(c) = c {
                let update = catalog.intern(c.normalized_update_id());
                let revisions = catalog.revisions_of.entry(update).or_default();
                if !revisions.contains(&rid) {
                    revisions.push(rid);
                }
                catalog.update_of.insert(rid, update);
                for target in c.prerequisite_update_ids() {
                    let target = catalog.intern(normalize_guid(target));
                    if let Some(revs) = catalog.revisions_of.get(&target)
                        && !facts.prerequisite_targets.contains_key(&target)
                    {
                        touched.extend(revs);
                    }
                    facts.prerequisite_targets.entry(target).or_insert(rid);
                }
            }
            if let Some(l) = u.is_leaf.value() {
                facts.leaf.insert(rid, *l);
            }
            touched.push(rid);
        }
        for u in changed {
            if let (Some(rid), Some(l)) = (u.id.value(), u.is_leaf.value()) {
                facts.leaf.insert(*rid, *l);
                touched.push(*rid);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let mut wrong: Vec<i32> = touched
            .into_iter()
            .filter(|rid| facts.leaf.get(rid) == Some(&true))
            .filter(|rid| {
                catalog
                    .update_of
                    .get(rid)
                    .is_some_and(|u| facts.prerequisite_targets.contains_key(u))
            })
            .collect();
        wrong.sort_unstable();
        // Report each revision once: drop it from the leaf table after reporting.
        for rid in &wrong {
            facts.leaf.remove(rid);
        }
        if !wrong.is_empty() {
            self.violated(
                si,
                "S-18",
                id,
                format!("{} revision(s) delivered with IsLeaf=true are prerequisites of other delivered revisions", wrong.len()),
                "IsLeaf=false for every revision whose UpdateID another revision requires",
                quote(&wrong),
            );
        }
    }
}
