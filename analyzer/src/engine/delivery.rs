//! What a SyncUpdates answer delivers, against the request and the client's versions:
//! S-15 (core fragment shape), S-16 (prerequisites satisfied by the installed list),
//! S-20 (Evaluate for categories and detectoids), S-22 (driver HardwareIds), S-23
//! (version-gated elements), T-11 (enumerations).

use wusp::fragment::{CoreFragment, FragmentKind, UpdateType, normalize_guid};
use wusp::messages::SyncUpdates;
use wusp::types::SyncInfo;
use wusp::values::DeploymentAction;

use super::server::version;
use super::{Engine, Lists, quote};
use crate::catalogue::known;
use crate::finding::{Finding, Status};

/// `Properties` attributes a core fragment may carry (reference 3.7, S-15).
const CORE_PROPERTIES: &[&str] = &[
    "UpdateType",
    "ExplicitlyDeployable",
    "AutoSelectOnWebSites",
    "OSUpgrade",
    "EulaID",
];

/// Why a core fragment breaks S-15, if it does.
pub(super) fn core_shape_problem(
    text: &str,
    core: &Result<CoreFragment, String>,
) -> Option<String> {
    let core = match core {
        Ok(c) => c,
        Err(e) => return Some(format!("does not parse: {e}")),
    };
    if wusp::fragment::classify(text) != FragmentKind::Core
        || !text.trim_start().starts_with("<UpdateIdentity")
    {
        return Some("does not start with UpdateIdentity".into());
    }
    if let Some((name, _)) = core
        .properties
        .iter()
        .find(|(n, _)| !CORE_PROPERTIES.contains(&n.as_str()))
    {
        return Some(format!("Properties attribute {name}"));
    }
    if text.contains("xmlns") {
        return Some("a namespace declaration".into());
    }
    if text.contains("<Files") || text.contains("<HandlerSpecificData") {
        return Some("Files or HandlerSpecificData".into());
    }
    None
}

impl Engine {
    /// Delivery rules of one SyncUpdates answer (before its revisions join the facts).
    pub(super) fn delivery_rules(
        &mut self,
        si: usize,
        key: &(usize, String),
        id: &str,
        q: &SyncUpdates,
        info: &SyncInfo,
    ) {
        let p = q.parameters.value();
        let installed: Vec<i32> = p
            .map(|p| p.installed_non_leaf_update_ids.items().to_vec())
            .unwrap_or_default();
        let need_two =
            p.and_then(|p| p.need_two_group_out_of_scope_updates.value().copied()) == Some(true);
        let catalog = self.catalogs.entry(key.1.clone()).or_default();
        let pair = self.pairs.entry(key.clone()).or_default();
        let ver_c = pair.server.client_version();
        let ver_s = pair.config.as_ref().map(|c| {
            c.properties
                .items()
                .iter()
                .find(|p| p.name.value().is_some_and(|n| n == "ProtocolVersion"))
                .and_then(|p| p.value.value())
                .and_then(|v| version(v))
                .unwrap_or((0, 0))
        });
        let installed_updates: Option<Vec<String>> =
            installed.iter().map(|i| catalog.update_id(*i)).collect();
        // UpdateIDs of every cached revision the request left out of all its lists: a
        // clause only they meet shows the client's list incomplete (C-27), not the server wrong.
        let listed = Lists::of(q).set();
        let unlisted_updates: Vec<String> = pair
            .known
            .keys()
            .filter(|r| !listed.contains(r))
            .filter_map(|r| catalog.update_id(*r))
            .collect();
        let mut unmet_by_list = Vec::new();
        let mut out = Vec::new();
        let v = |rule: &'static str, msg: String, exp: &str, obs: String| {
            Finding::new(known(rule), Status::Violated, msg)
                .at([id.to_string()])
                .versus(exp, obs)
        };
        let mut bad_shape = Vec::new();
        let mut unmet = Vec::new();
        let mut not_evaluate = Vec::new();
        let mut hw = Vec::new();
        let mut enums = Vec::new();
        let cores = self.cores(id, info.new_updates.items());
        for (n, u) in info.new_updates.items().iter().enumerate() {
            let rid = u.id.value().copied().unwrap_or_default();
            let dep = u.deployment.value();
            if let Some(a) = dep.and_then(|d| d.action.value())
                && !a.is_known()
            {
                enums.push(format!("{rid}: Action {}", a.as_str()));
            }
            for b in dep.map(|d| d.client_behaviors.items()).unwrap_or_default() {
                if let Some(t) = b.metadata_type.value()
                    && !t.is_known()
                {
                    enums.push(format!("{rid}: MetadataType {}", t.as_str()));
                }
            }
            let Some(parsed) = cores.get(n).and_then(Option::as_ref) else {
                continue;
            };
            let core = &parsed.core;
            if let Some(why) = &parsed.shape {
                bad_shape.push(format!("{rid}: {why}"));
            }
            let Ok(core) = core else { continue };
            // S-16: every AND-clause names an installed non-leaf revision's UpdateID.
            if let Some(inst) = &installed_updates {
                let ok = core.prerequisites.iter().all(|clause| {
                    clause
                        .update_ids
                        .iter()
                        .any(|u| inst.contains(&normalize_guid(u)))
                });
                let ok_with_cache = ok
                    || core.prerequisites.iter().all(|clause| {
                        clause.update_ids.iter().any(|u| {
                            let u = normalize_guid(u);
                            inst.contains(&u) || unlisted_updates.contains(&u)
                        })
                    });
                if !ok_with_cache {
                    unmet.push(rid);
                } else if !ok {
                    unmet_by_list.push(rid);
                }
            }
            // S-20: categories and detectoids are evaluated, not installed.
            if matches!(
                core.update_type,
                UpdateType::Category | UpdateType::Detectoid
            ) && dep
                .and_then(|d| d.action.value())
                .is_some_and(|a| *a != DeploymentAction::Evaluate)
            {
                not_evaluate.push(rid);
            }
            // S-22: HardwareIds on drivers only (clients >= 1.6).
            let has_hw = dep.is_some_and(|d| !d.hardware_ids.items().is_empty());
            if ver_c.is_some_and(|c| c >= (1, 6)) && core.is_driver() != has_hw {
                hw.push(rid);
            }
        }
        if !bad_shape.is_empty() {
            out.push(v("S-15", format!("{} core fragment(s) not in the SyncUpdates shape", bad_shape.len()), "UpdateIdentity first; Properties limited to UpdateType, ExplicitlyDeployable, AutoSelectOnWebSites, OSUpgrade, EulaID; no xmlns; no Files/HandlerSpecificData", bad_shape.join("; ")));
        }
        match installed_updates {
            None if !info.new_updates.items().is_empty() => out.push(
                Finding::new(known("S-16"), Status::Unverifiable, "some installed non-leaf IDs were delivered before this analysis: their UpdateIDs are unknown")
                    .at([id.to_string()])
                    .versus("each prerequisite clause met by an installed non-leaf revision", "UpdateIDs unknown"),
            ),
            _ if !unmet.is_empty() => out.push(v("S-16", format!("{} delivered revision(s) have a prerequisite clause no installed non-leaf revision meets", unmet.len()), "each AND-clause contains an UpdateID of Req.InstalledNonLeafUpdateIDs", quote(&unmet))),
            _ if !unmet_by_list.is_empty() => out.push(
                Finding::new(known("S-16"), Status::Unverifiable, format!("{} delivered revision(s) have a prerequisite clause met only by cached revisions the request left out of its lists (C-27): the server's answer cannot be judged from this request", unmet_by_list.len()))
                    .at([id.to_string()])
                    .versus("each AND-clause contains an UpdateID of Req.InstalledNonLeafUpdateIDs", quote(&unmet_by_list)),
            ),
            _ => {}
        }
        if !not_evaluate.is_empty() {
            out.push(v(
                "S-20",
                "category or detectoid revisions with an Action other than Evaluate".into(),
                "Action Evaluate",
                quote(&not_evaluate),
            ));
        }
        if !hw.is_empty() {
            out.push(v(
                "S-22",
                "HardwareIds missing on a driver or present on a software update".into(),
                "Deployment/HardwareIds on drivers only",
                quote(&hw),
            ));
        }
        if !enums.is_empty() {
            out.push(v(
                "T-11",
                "values outside their enumeration".into(),
                "DeploymentAction and MetadataType values of the schema",
                enums.join("; "),
            ));
        }
        // S-23: version-gated elements.
        let modern = ver_s.is_some_and(|s| s >= (3, 2)) && ver_c.is_some_and(|c| c >= (1, 7));
        let dos = info.deployed_out_of_scope_revision_ids.is_present();
        let dsnn = info.driver_sync_not_needed.is_present();
        let dsnn_value_ok = info
            .driver_sync_not_needed
            .value()
            .is_none_or(|v| matches!(v.trim(), "true" | "false"));
        let versions_known = ver_s.is_some() && ver_c.is_some();
        if versions_known && ((dos && !(modern && need_two)) || (dsnn && !modern)) || !dsnn_value_ok
        {
            out.push(v("S-23", "DeployedOutOfScopeRevisionIds or DriverSyncNotNeeded outside their version gates, or DriverSyncNotNeeded not true/false".into(), "server >= 3.2, client >= 1.7 (and NeedTwoGroupOutOfScopeUpdates=true for DeployedOutOfScopeRevisionIds)", format!("server {ver_s:?}, client {ver_c:?}, DriverSyncNotNeeded {:?}", info.driver_sync_not_needed.value())));
        }
        for f in out {
            self.push(si, f);
        }
    }
}
