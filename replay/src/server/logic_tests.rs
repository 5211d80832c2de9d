//! A scripted client built on `wusp` drives [`WsusServer::soap`] directly; every response
//! is checked against the server rules of reference 7.5.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use time::macros::datetime;
use wusp::fragment::{UpdateType, parse_core};
use wusp::messages::*;
use wusp::types::{
    AuthorizationCookie, CategoryIdentifier, CategoryRelationship, ComputerHardwareSpecification,
    ComputerInfo, Cookie, Device, InstalledDriver, ReportingEvent, SyncInfo, SyncUpdateParameters,
    UpdateIdentity, UpdateInfo,
};
use wusp::values::{Base64, DateTime, DeploymentAction, Guid, XmlUpdateFragmentType as Frag};
use wusp::{Body, Envelope, ErrorCode, Field, Operation, Request, Response};

use super::*;
use crate::server::catalog::{Catalog, RevisionKind};
use crate::server::inject::FaultPlan;
use crate::server::{Backend, SoapCall, SoapReply, TransportFault};

const CLIENT: &str = "5c7f4f80-3896-4d10-8a38-469286a0febc";
const HOST: &str = "wsus.contoso.test:8530";

fn v<T>(x: T) -> Field<T> {
    Field::Value(x)
}

fn test_config() -> ServerConfig {
    ServerConfig {
        secret: Some([3; 32]),
        clock: Clock::manual(datetime!(2026-10-04 16:03:35 UTC)),
        ..ServerConfig::default()
    }
}

fn server(size: usize, seed: u64) -> WsusServer {
    WsusServer::new(Catalog::generate(size, seed).unwrap(), test_config()).unwrap()
}

fn call_bytes(s: &WsusServer, op: Operation, body: &[u8]) -> SoapReply {
    let action = format!("\"{}\"", op.soap_action());
    s.soap(SoapCall {
        path: op.service().path(),
        soap_action: Some(&action),
        host: Some(HOST),
        scheme: "http",
        body,
        peer: "192.0.2.10:49731".parse().unwrap(),
    })
}

fn call(s: &WsusServer, req: impl Into<Request>) -> SoapReply {
    let req = req.into();
    let op = req.operation();
    call_bytes(s, op, Envelope::request(req).encode().as_bytes())
}

fn ok(reply: &SoapReply) -> Response {
    let env = Envelope::decode(&reply.body).unwrap();
    match env.body {
        Body::Response(r) if reply.status == 200 => r,
        other => panic!("expected a response, got {} {other:?}", reply.status),
    }
}

/// Asserts a SOAP 1.1 fault with HTTP 500 and returns its code and message.
fn fault(reply: &SoapReply) -> (ErrorCode, String) {
    assert_eq!(reply.status, 500, "faults come with HTTP 500");
    let env = Envelope::decode(&reply.body).unwrap();
    assert_eq!(env.version, wusp::soap::SoapVersion::Soap11);
    match env.body {
        Body::Fault(f) => {
            let d = f.detail.value().expect("detail");
            assert!(d.id.value().is_some_and(Guid::is_well_formed), "fault ID");
            (
                f.error_code().cloned().expect("ErrorCode"),
                d.message.value().cloned().unwrap_or_default(),
            )
        }
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn sync_info(r: Response) -> SyncInfo {
    match r {
        Response::SyncUpdates(r) => r.result.into_value().unwrap(),
        Response::SyncPrinterCatalog(r) => r.result.into_value().unwrap(),
        other => panic!("not a sync response: {other:?}"),
    }
}

#[derive(Debug, Clone)]
struct Entry {
    update_id: String,
    update_type: UpdateType,
    leaf: bool,
    prereqs: Vec<Vec<String>>,
    deployment: wusp::types::Deployment,
}

/// A client as reference 5.3-5.6 describes it; every non-leaf revision evaluates installed.
struct Client {
    id: String,
    protocol: String,
    target_group: Option<String>,
    cookie: Option<Cookie>,
    cache: BTreeMap<i32, Entry>,
    last_change: Option<DateTime>,
    auth: Option<AuthorizationCookie>,
}

impl Client {
    fn new() -> Client {
        Client {
            id: CLIENT.into(),
            protocol: "2.90".into(),
            target_group: None,
            cookie: None,
            cache: BTreeMap::new(),
            last_change: None,
            auth: None,
        }
    }

    fn get_config(&mut self, s: &WsusServer) -> wusp::types::Config {
        let r = ok(&call(
            s,
            GetConfig {
                protocol_version: v(self.protocol.clone()),
                ..Default::default()
            },
        ));
        let Response::GetConfig(r) = r else { panic!() };
        let c = r.result.into_value().unwrap();
        self.last_change = c.last_change.value().cloned();
        c
    }

    fn authorize(&mut self, s: &WsusServer) {
        let r = ok(&call(
            s,
            GetAuthorizationCookie {
                client_id: v(self.id.clone()),
                target_group_name: self.target_group.clone().map_or(Field::Absent, v),
                dns_name: v("pc01.contoso.test".into()),
                ..Default::default()
            },
        ));
        let Response::GetAuthorizationCookie(r) = r else {
            panic!()
        };
        let a = r.result.into_value().unwrap();
        assert!(
            a.cookie_data.value().is_some_and(|d| !d.0.is_empty()),
            "S-06"
        );
        self.auth = Some(a);
    }

    fn get_cookie_request(&self, now: time::OffsetDateTime) -> GetCookie {
        GetCookie {
            auth_cookies: v(vec![self.auth.clone().unwrap()]),
            old_cookie: v(self.cookie.clone().unwrap_or(Cookie {
                expiration: v(DateTime::from_instant(now)),
                ..Cookie::default()
            })),
            last_change: v(self.last_change.clone().unwrap()),
            current_time: v(DateTime::from_instant(now)),
            protocol_version: v(self.protocol.clone()),
            ..Default::default()
        }
    }

    fn get_cookie(&mut self, s: &WsusServer) {
        let now = s.config().clock.now();
        let r = ok(&call(s, self.get_cookie_request(now)));
        let Response::GetCookie(r) = r else { panic!() };
        let c = r.result.into_value().unwrap();
        let exp = c.expiration.value().unwrap().instant().unwrap();
        assert!(exp > now, "S-07");
        assert!(c.encrypted_data.value().is_some(), "S-07");
        self.cookie = Some(c);
    }

    fn register(&mut self, s: &WsusServer) {
        let r = ok(&call(
            s,
            RegisterComputer {
                cookie: v(self.cookie.clone().unwrap()),
                computer_info: v(ComputerInfo {
                    dns_name: v("pc01.contoso.test".into()),
                    os_major_version: v(10),
                    os_minor_version: v(0),
                    os_build_number: v(26200),
                    ..ComputerInfo::default()
                }),
                ..Default::default()
            },
        ));
        assert!(matches!(r, Response::RegisterComputer(_)));
    }

    fn handshake(&mut self, s: &WsusServer) {
        let c = self.get_config(s);
        assert!(
            c.last_change.value().is_some() && c.is_registration_required.value().is_some(),
            "S-01"
        );
        let auth = c.auth_info.items();
        assert_eq!(auth.len(), 1, "S-02");
        assert_eq!(auth[0].plug_in_id.value().unwrap(), "SimpleTargeting");
        assert_eq!(c.max_extended_updates_per_request(), Some(50), "S-04");
        assert_eq!(c.property("ProtocolVersion"), Some("3.2"), "S-05");
        assert_eq!(c.property("IsInventoryRequired"), Some("0"));
        assert_eq!(c.property("ClientReportingLevel"), Some("2"));
        self.authorize(s);
        self.get_cookie(s);
        if c.is_registration_required.value() == Some(&true) {
            self.register(s);
        }
    }

    fn lists(&self) -> (Vec<i32>, Vec<i32>, Vec<i32>) {
        let (mut inst, mut other, mut drivers) = (Vec::new(), Vec::new(), Vec::new());
        for (id, e) in &self.cache {
            if e.update_type == UpdateType::Driver {
                drivers.push(*id);
            } else if !e.leaf {
                inst.push(*id);
            } else {
                other.push(*id);
            }
        }
        (inst, other, drivers)
    }

    fn software_request(&self) -> SyncUpdates {
        let (inst, other, _) = self.lists();
        let opt = |l: Vec<i32>| if l.is_empty() { Field::Absent } else { v(l) };
        SyncUpdates {
            cookie: v(self.cookie.clone().unwrap()),
            parameters: v(SyncUpdateParameters {
                express_query: v(false),
                installed_non_leaf_update_ids: opt(inst),
                other_cached_update_ids: opt(other),
                skip_software_sync: v(false),
                ..SyncUpdateParameters::default()
            }),
            ..Default::default()
        }
    }

    /// Applies a response to the cache; true when the loop must go on (reference 5.5).
    fn apply(&mut self, info: &SyncInfo) -> bool {
        if let Some(c) = info.new_cookie.value() {
            self.cookie = Some(c.clone());
        }
        for id in info.out_of_scope_revision_ids.items() {
            self.cache.remove(id);
        }
        for u in info.changed_updates.items() {
            let e = self.cache.get_mut(u.id.value().unwrap()).unwrap();
            e.deployment = u.deployment.value().unwrap().clone();
            e.leaf = *u.is_leaf.value().unwrap();
        }
        let mut non_leaf = false;
        for u in info.new_updates.items() {
            let core = parse_core(&u.xml.value().unwrap().text().unwrap()).unwrap();
            let leaf = *u.is_leaf.value().unwrap();
            non_leaf |= !leaf;
            self.cache.insert(
                *u.id.value().unwrap(),
                Entry {
                    update_id: core.normalized_update_id(),
                    update_type: core.update_type.clone(),
                    leaf,
                    prereqs: core
                        .prerequisites
                        .iter()
                        .map(|c| {
                            c.update_ids
                                .iter()
                                .map(|x| x.to_ascii_lowercase())
                                .collect()
                        })
                        .collect(),
                    deployment: u.deployment.value().unwrap().clone(),
                },
            );
        }
        info.truncated.value() == Some(&true) || non_leaf
    }

    /// The software loop; returns every (request, response) pair, each checked.
    fn software_loop(&mut self, s: &WsusServer) -> Vec<(SyncUpdates, SyncInfo)> {
        let mut rounds = Vec::new();
        loop {
            assert!(rounds.len() < 200, "the software loop does not end");
            let req = self.software_request();
            let info = sync_info(ok(&call(s, req.clone())));
            check_sync(self, &req, &info, false);
            let more = self.apply(&info);
            rounds.push((req, info));
            if !more {
                break;
            }
        }
        check_is_leaf(self);
        rounds
    }
}

/// Rules S-09, S-11..S-17, S-20, S-21, S-23 on one SyncUpdates exchange.
fn check_sync(client: &Client, req: &SyncUpdates, info: &SyncInfo, driver_pass: bool) {
    let p = req.parameters.value().unwrap();
    assert!(info.truncated.value().is_some(), "S-09 Truncated");
    assert!(info.new_cookie.value().is_some(), "S-09 NewCookie");
    let cached: HashSet<i32> = if driver_pass {
        p.cached_driver_ids.items().iter().copied().collect()
    } else {
        p.installed_non_leaf_update_ids
            .items()
            .iter()
            .chain(p.other_cached_update_ids.items())
            .copied()
            .collect()
    };
    let oos: HashSet<i32> = info
        .out_of_scope_revision_ids
        .items()
        .iter()
        .copied()
        .collect();
    let installed_uids: HashSet<&str> = p
        .installed_non_leaf_update_ids
        .items()
        .iter()
        .filter_map(|id| client.cache.get(id))
        .map(|e| e.update_id.as_str())
        .collect();
    let mut uids = HashSet::new();
    let ver18 = wusp::types::parse_version(&client.protocol).unwrap() >= (1, 8);
    for u in info.new_updates.items() {
        let id = *u.id.value().expect("S-13 ID");
        assert!(!cached.contains(&id), "S-11: {id} is cached");
        check_update_info(u, ver18);
        let text = u.xml.value().unwrap().text().unwrap().into_owned();
        let core = parse_core(&text).unwrap();
        assert!(
            uids.insert(core.normalized_update_id()),
            "S-14 one revision per UpdateID"
        );
        for clause in &core.prerequisites {
            assert!(
                clause
                    .update_ids
                    .iter()
                    .any(|x| installed_uids.contains(x.to_ascii_lowercase().as_str())),
                "S-16: {id} has an unsatisfied clause {clause:?}"
            );
        }
        assert_eq!(core.update_type == UpdateType::Driver, driver_pass, "S-17");
        let action = u
            .deployment
            .value()
            .unwrap()
            .action
            .value()
            .unwrap()
            .clone();
        match core.update_type {
            UpdateType::Category | UpdateType::Detectoid => {
                assert_eq!(action, DeploymentAction::Evaluate, "S-20")
            }
            _ => assert_ne!(action, DeploymentAction::Block, "S-19"),
        }
    }
    for id in &oos {
        assert!(cached.contains(id), "S-12 out of scope {id} not cached");
    }
    for u in info.changed_updates.items() {
        let id = u.id.value().unwrap();
        assert!(
            cached.contains(id) && !oos.contains(id),
            "S-12 changed {id}"
        );
        check_update_info(u, ver18);
    }
    let gated = wusp::types::parse_version(&client.protocol).unwrap() >= (1, 7);
    if !gated {
        assert!(info.driver_sync_not_needed.is_absent(), "S-23");
        assert!(info.deployed_out_of_scope_revision_ids.is_absent(), "S-23");
    } else if let Some(d) = info.driver_sync_not_needed.value() {
        assert!(d == "true" || d == "false", "S-23");
    }
    if p.need_two_group_out_of_scope_updates.value() != Some(&true) {
        assert!(info.deployed_out_of_scope_revision_ids.is_absent(), "S-23");
    }
}

/// S-13, S-15, S-21 on one UpdateInfo.
fn check_update_info(u: &UpdateInfo, ver18: bool) {
    assert!(u.is_leaf.value().is_some(), "S-13 IsLeaf");
    let d = u.deployment.value().expect("S-13 Deployment");
    assert!(d.id.value().is_some() && d.action.value().is_some(), "S-13");
    assert!(d.is_assigned.value().is_some(), "S-13 IsAssigned");
    assert!(
        d.last_change_time.value().is_some_and(|x| x.is_date()),
        "S-13/S-26"
    );
    for f in [
        &d.auto_select,
        &d.auto_download,
        &d.supersedence_behavior,
        &d.flag_bitmask,
    ] {
        if ver18 {
            assert!(f.value().is_none_or(|x| x == "0"), "S-21");
        } else {
            assert!(f.is_absent(), "S-21");
        }
    }
    let text = u
        .xml
        .value()
        .expect("S-13 Xml")
        .text()
        .unwrap()
        .into_owned();
    assert!(!text.trim().is_empty(), "S-13");
    assert!(
        text.starts_with("<UpdateIdentity "),
        "S-15 starts with UpdateIdentity"
    );
    assert!(!text.contains("xmlns"), "S-15 no namespace declarations");
    assert!(
        !text.contains("<Files") && !text.contains("<HandlerSpecificData"),
        "S-15"
    );
    let core = parse_core(&text).unwrap();
    for (name, _) in &core.properties {
        assert!(
            [
                "UpdateType",
                "ExplicitlyDeployable",
                "AutoSelectOnWebSites",
                "OSUpgrade",
                "EulaID"
            ]
            .contains(&name.as_str()),
            "S-15 property {name}"
        );
    }
}

/// S-18 over everything the client holds.
fn check_is_leaf(client: &Client) {
    let named: HashSet<&str> = client
        .cache
        .values()
        .flat_map(|e| e.prereqs.iter().flatten())
        .map(String::as_str)
        .collect();
    for (id, e) in &client.cache {
        if named.contains(e.update_id.as_str()) {
            assert!(!e.leaf, "S-18: {id} is a prerequisite but IsLeaf=true");
        }
    }
}

/// The prerequisite depth of the delivered revisions, computed from their core fragments
/// alone: number of levels, a root at level 0, a revision one above its deepest clause.
fn depth_of(client: &Client) -> usize {
    let by_uid: HashMap<&str, &Entry> = client
        .cache
        .values()
        .filter(|e| e.update_type != UpdateType::Driver)
        .map(|e| (e.update_id.as_str(), e))
        .collect();
    fn level(
        e: &Entry,
        by_uid: &HashMap<&str, &Entry>,
        memo: &mut HashMap<String, usize>,
    ) -> usize {
        if let Some(l) = memo.get(&e.update_id) {
            return *l;
        }
        let l = e
            .prereqs
            .iter()
            .map(|c| {
                c.iter()
                    .filter_map(|u| by_uid.get(u.as_str()))
                    .map(|p| level(p, by_uid, memo))
                    .min()
                    .unwrap_or(0)
                    + 1
            })
            .max()
            .unwrap_or(0);
        memo.insert(e.update_id.clone(), l);
        l
    }
    let mut memo = HashMap::new();
    by_uid
        .values()
        .map(|e| level(e, &by_uid, &mut memo))
        .max()
        .map_or(0, |m| m + 1)
}

fn admin(
    s: &WsusServer,
    approve: usize,
    decline: usize,
    change: usize,
) -> (Vec<i32>, Vec<i32>, Vec<i32>) {
    let body = format!(r#"{{"approve": {approve}, "decline": {decline}, "change": {change}}}"#);
    let (status, out) = s.admin("POST", "/admin/approvals", body.as_bytes());
    assert_eq!(status, 200);
    let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let ids = |k: &str| -> Vec<i32> {
        j[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap() as i32)
            .collect()
    };
    (ids("approve"), ids("decline"), ids("change"))
}

#[test]
fn acceptance_first_and_differential_sync() {
    let s = server(200, 7);
    let mut c = Client::new();
    c.handshake(&s);
    let rounds = c.software_loop(&s);
    let truncated = rounds
        .iter()
        .filter(|(_, i)| i.truncated.value() == Some(&true))
        .count();
    let depth = depth_of(&c);
    assert!(
        depth >= 5,
        "the generated catalog has prerequisite chains ({depth})"
    );
    assert!(
        truncated >= 1,
        "a 200-update catalog needs more than one page somewhere"
    );
    assert_eq!(
        rounds.len(),
        depth + truncated,
        "rounds = depth + truncation pages"
    );
    // Pages are at most 30 and the first call of a fresh cache brings roots only.
    assert!(
        rounds
            .iter()
            .all(|(_, i)| i.new_updates.items().len() <= 30)
    );
    let first = &rounds[0].1;
    assert!(first.new_updates.items().iter().all(|u| {
        parse_core(&u.xml.value().unwrap().text().unwrap())
            .unwrap()
            .prerequisites
            .is_empty()
    }));
    // Every deployed non-driver revision of the catalog reached the client.
    let scope = s.scope(0);
    assert_eq!(
        c.lists().0.len() + c.lists().1.len(),
        scope.software().len()
    );

    // The driver pass.
    let (inst, _, _) = c.lists();
    let req = SyncUpdates {
        cookie: v(c.cookie.clone().unwrap()),
        parameters: v(SyncUpdateParameters {
            express_query: v(false),
            installed_non_leaf_update_ids: v(inst),
            skip_software_sync: v(true),
            system_spec: v(vec![]),
            ..SyncUpdateParameters::default()
        }),
        ..Default::default()
    };
    let info = sync_info(ok(&call(&s, req.clone())));
    check_sync(&c, &req, &info, true);
    c.apply(&info);

    let before: HashSet<i32> = c.cache.keys().copied().collect();
    let (approved, declined, changed) = admin(&s, 3, 2, 1);
    assert_eq!((approved.len(), declined.len(), changed.len()), (3, 2, 1));
    assert!(
        declined
            .iter()
            .chain(&changed)
            .all(|id| before.contains(id))
    );
    assert!(approved.iter().all(|id| !before.contains(id)));

    let rounds = c.software_loop(&s);
    let new: Vec<i32> = rounds
        .iter()
        .flat_map(|(_, i)| i.new_updates.items().iter().map(|u| *u.id.value().unwrap()))
        .collect();
    let ch: Vec<i32> = rounds
        .iter()
        .flat_map(|(_, i)| {
            i.changed_updates
                .items()
                .iter()
                .map(|u| *u.id.value().unwrap())
        })
        .collect();
    let oos: Vec<i32> = rounds
        .iter()
        .flat_map(|(_, i)| i.out_of_scope_revision_ids.items().iter().copied())
        .collect();
    let sorted = |mut x: Vec<i32>| {
        x.sort_unstable();
        x
    };
    assert_eq!(
        sorted(new.clone()),
        sorted(approved.clone()),
        "exactly the 3 approved are new"
    );
    assert_eq!(ch, changed, "exactly the changed deployment");
    assert_eq!(
        sorted(oos),
        sorted(declined.clone()),
        "exactly the 2 declined are out of scope"
    );
    assert!(
        new.iter().all(|id| !before.contains(id)),
        "no cached revision re-sent"
    );
    let changed_dep = &c.cache[&changed[0]].deployment;
    assert_eq!(changed_dep.action.value(), Some(&DeploymentAction::Install));
    for id in &approved {
        assert_eq!(
            c.cache[id].deployment.action.value(),
            Some(&DeploymentAction::Install)
        );
    }
    // A third sync with nothing changed: one call, nothing new.
    let rounds = c.software_loop(&s);
    assert_eq!(rounds.len(), 1);
    let i = &rounds[0].1;
    assert!(i.new_updates.items().is_empty() && i.changed_updates.items().is_empty());
    assert!(i.out_of_scope_revision_ids.items().is_empty());
    assert_eq!(i.truncated.value(), Some(&false));
}

#[test]
fn page_size_and_staging_follow_the_config() {
    let cat = Catalog::generate(300, 11).unwrap();
    let s = WsusServer::new(
        cat,
        ServerConfig {
            page_size: 7,
            ..test_config()
        },
    )
    .unwrap();
    let mut c = Client::new();
    c.handshake(&s);
    let rounds = c.software_loop(&s);
    let truncated = rounds
        .iter()
        .filter(|(_, i)| i.truncated.value() == Some(&true))
        .count();
    assert!(rounds.iter().all(|(_, i)| i.new_updates.items().len() <= 7));
    assert!(
        rounds
            .iter()
            .filter(|(_, i)| i.truncated.value() == Some(&true))
            .all(|(_, i)| i.new_updates.items().len() == 7)
    );
    assert_eq!(rounds.len(), depth_of(&c) + truncated);
}

#[test]
fn old_clients_get_no_gated_fields() {
    let s = server(100, 3);
    let mut c = Client::new();
    c.protocol = "1.6".into();
    c.handshake(&s);
    let rounds = c.software_loop(&s);
    for (_, i) in &rounds {
        assert!(i.driver_sync_not_needed.is_absent());
        for u in i.new_updates.items() {
            assert!(
                u.deployment.value().unwrap().auto_select.is_absent(),
                "S-21"
            );
        }
    }
    let mut c = Client::new();
    c.protocol = "1.8".into();
    c.handshake(&s);
    let rounds = c.software_loop(&s);
    let u = &rounds[0].1.new_updates.items()[0];
    assert_eq!(
        u.deployment.value().unwrap().auto_select.value().unwrap(),
        "0"
    );
    assert!(rounds[0].1.driver_sync_not_needed.value().is_some());
}

#[test]
fn installed_non_leaf_cap_and_bad_parameters() {
    let s = server(50, 1);
    let mut c = Client::new();
    c.handshake(&s);
    let mut req = c.software_request();
    let p = req.parameters.value_mut().unwrap();
    p.installed_non_leaf_update_ids = v((1..=401).collect());
    let (code, msg) = fault(&call(&s, req.clone()));
    assert_eq!(code, ErrorCode::InvalidParameters);
    assert_eq!(msg, "parameters.InstalledNonLeafUpdateIDs");
    // 400 are accepted (unknown IDs simply go out of scope).
    req.parameters
        .value_mut()
        .unwrap()
        .installed_non_leaf_update_ids = v((1..=400).collect());
    let info = sync_info(ok(&call(&s, req.clone())));
    assert_eq!(info.out_of_scope_revision_ids.items().len(), 400);
    // SystemSpec in a software pass (S-10).
    let mut req = c.software_request();
    req.parameters.value_mut().unwrap().system_spec = v(vec![device(&["PCI\\VEN_1"], None)]);
    assert_eq!(fault(&call(&s, req)).1, "parameters.SystemSpec");
    // No parameters.
    let req = SyncUpdates {
        cookie: v(c.cookie.clone().unwrap()),
        ..Default::default()
    };
    assert_eq!(
        fault(&call(&s, req)),
        (ErrorCode::InvalidParameters, "parameters".into())
    );
}

#[test]
fn malformed_input_names_the_problem() {
    let s = server(20, 1);
    for (body, needle) in [
        (&b"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><GetConfig"[..], "XML"),
        (b"not xml at all", "XML"),
        (b"<x/>", "SOAP"),
        (b"\xff\xfe", "UTF-8"),
        (
            b"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body></s:Body></s:Envelope>",
            "empty",
        ),
        (
            b"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><Nope xmlns=\"urn:x\"/></s:Body></s:Envelope>",
            "Nope",
        ),
        (
            b"<!DOCTYPE x [<!ENTITY a \"b\">]><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"/>",
            "DTD",
        ),
    ] {
        let r = call_bytes(&s, Operation::SyncUpdates, body);
        let (code, msg) = fault(&r);
        assert_eq!(code, ErrorCode::InvalidParameters);
        assert!(msg.contains(needle), "{msg:?} should name {needle:?}");
    }
    // Invalid values inside a known request.
    let body = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><SyncUpdates xmlns="http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService"><cookie><Expiration>2026-10-04T17:00:00Z</Expiration><EncryptedData>AAAA</EncryptedData></cookie><parameters><ExpressQuery>false</ExpressQuery><InstalledNonLeafUpdateIDs><int>abc</int></InstalledNonLeafUpdateIDs><SkipSoftwareSync>false</SkipSoftwareSync></parameters></SyncUpdates></s:Body></s:Envelope>"#;
    let (code, msg) = fault(&call_bytes(&s, Operation::SyncUpdates, body));
    assert_eq!(code, ErrorCode::InvalidParameters);
    assert_eq!(msg, "parameters.InstalledNonLeafUpdateIDs");
    // Garbage of every length never panics.
    let mut seed = 1u64;
    for len in 0..300 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed = crate::server::catalog::mix_u64(seed);
                b"<>/=\"' sabcdEnvelopBody:xmln"[(seed % 28) as usize]
            })
            .collect();
        let r = call_bytes(&s, Operation::GetConfig, &bytes);
        assert!(r.status == 500 || r.status == 200);
    }
}

#[test]
fn cookie_failures_map_to_their_codes() {
    let s = server(30, 2);
    let mut c = Client::new();
    c.handshake(&s);
    let req = c.software_request();
    // Foreign: another server's key.
    let other = WsusServer::new(
        Catalog::generate(30, 2).unwrap(),
        ServerConfig {
            secret: Some([4; 32]),
            ..test_config()
        },
    )
    .unwrap();
    assert_eq!(
        fault(&call(&other, req.clone())).0,
        ErrorCode::InvalidCookie
    );
    // Same key, another catalog: the server identity changed.
    let moved = WsusServer::new(Catalog::generate(31, 2).unwrap(), test_config()).unwrap();
    assert_eq!(
        fault(&call(&moved, req.clone())).0,
        ErrorCode::ServerChanged
    );
    // Same key and catalog (a restart with the same data dir): the cookie still works.
    let restarted = WsusServer::new(Catalog::generate(30, 2).unwrap(), test_config()).unwrap();
    let mut rc = Client::new();
    rc.handshake(&restarted);
    sync_info(ok(&call(&restarted, req.clone())));
    // Corrupt.
    let mut bad = req.clone();
    bad.cookie.value_mut().unwrap().encrypted_data =
        v(Base64::encode(b"garbage garbage garbage garbage garbage"));
    assert_eq!(fault(&call(&s, bad)).0, ErrorCode::InvalidCookie);
    let mut bad = req.clone();
    bad.cookie.value_mut().unwrap().encrypted_data = Field::Invalid("!!".into());
    assert_eq!(fault(&call(&s, bad)).0, ErrorCode::InvalidCookie);
    // Config changed.
    s.touch_config();
    assert_eq!(fault(&call(&s, req.clone())).0, ErrorCode::ConfigChanged);
    // GetCookie with the old lastChange: ConfigChanged; after GetConfig all is well.
    let now = s.config().clock.now();
    assert_eq!(
        fault(&call(&s, c.get_cookie_request(now))).0,
        ErrorCode::ConfigChanged
    );
    c.get_config(&s);
    c.get_cookie(&s);
    sync_info(ok(&call(&s, c.software_request())));
    // Expiry: the clock passes the lifetime.
    s.config().clock.advance(Duration::from_secs(3601));
    let (code, _) = fault(&call(&s, c.software_request()));
    assert_eq!(code, ErrorCode::CookieExpired);
    // Renewal with the expired cookie as oldCookie keeps the sync mark.
    c.authorize(&s);
    c.get_cookie(&s);
    let info = sync_info(ok(&call(&s, c.software_request())));
    assert!(info.new_updates.items().is_empty() || info.truncated.is_present());
    // A missing cookie is InvalidParameters naming it.
    let mut req = c.software_request();
    req.cookie = Field::Absent;
    assert_eq!(
        fault(&call(&s, req)),
        (ErrorCode::InvalidParameters, "cookie".into())
    );
    // GetCookie with a forged authorization cookie.
    let mut gc = c.get_cookie_request(s.config().clock.now());
    gc.auth_cookies = v(vec![AuthorizationCookie {
        plug_in_id: v("SimpleTargeting".into()),
        cookie_data: v(Base64::encode(&[1; 64])),
        ..AuthorizationCookie::default()
    }]);
    assert_eq!(
        fault(&call(&s, gc)).0,
        ErrorCode::InvalidAuthorizationCookie
    );
    // GetCookie with a foreign oldCookie.
    let mut foreign = Client::new();
    foreign.handshake(&other);
    let mut gc = c.get_cookie_request(s.config().clock.now());
    gc.old_cookie = v(foreign.cookie.clone().unwrap());
    assert_eq!(fault(&call(&s, gc)).0, ErrorCode::InvalidCookie);
}

#[test]
fn registration_is_required_then_not() {
    let s = server(30, 2);
    let mut c = Client::new();
    c.get_config(&s);
    c.authorize(&s);
    c.get_cookie(&s);
    assert_eq!(
        fault(&call(&s, c.software_request())).0,
        ErrorCode::RegistrationRequired
    );
    c.register(&s);
    sync_info(ok(&call(&s, c.software_request())));
    let s = WsusServer::new(
        Catalog::generate(30, 2).unwrap(),
        ServerConfig {
            registration_required: false,
            ..test_config()
        },
    )
    .unwrap();
    let mut c = Client::new();
    let cfg = c.get_config(&s);
    assert_eq!(cfg.is_registration_required.value(), Some(&false));
    c.authorize(&s);
    c.get_cookie(&s);
    sync_info(ok(&call(&s, c.software_request())));
    let r = call(
        &s,
        RegisterComputer {
            cookie: v(c.cookie.clone().unwrap()),
            computer_info: v(ComputerInfo::default()),
            ..Default::default()
        },
    );
    assert_eq!(fault(&r).0, ErrorCode::RegistrationNotRequired);
}

#[test]
fn every_error_code_can_be_injected() {
    for code in ErrorCode::WUSP {
        let plan = FaultPlan::parse([format!("{code}@SyncUpdates#2")]).unwrap();
        let s = WsusServer::new(
            Catalog::generate(20, 1).unwrap(),
            ServerConfig {
                inject: plan,
                ..test_config()
            },
        )
        .unwrap();
        let mut c = Client::new();
        c.handshake(&s);
        sync_info(ok(&call(&s, c.software_request())));
        let r = call(&s, c.software_request());
        let (got, _) = fault(&r);
        assert_eq!(&got, code);
        assert_eq!(r.operation, Some(Operation::SyncUpdates));
        let env = Envelope::decode(&r.body).unwrap();
        let Body::Fault(f) = env.body else { panic!() };
        assert_eq!(
            f.detail.value().unwrap().method.value().unwrap(),
            &format!("\"{}\"", Operation::SyncUpdates.soap_action())
        );
        // The third call is answered normally.
        sync_info(ok(&call(&s, c.software_request())));
    }
    // Every call of an operation, and transport faults.
    let plan = FaultPlan::parse([
        "ServerBusy@GetConfig",
        "503@GetCookie#1",
        "close@SyncUpdates",
        "delay=120@RegisterComputer",
    ])
    .unwrap();
    let s = WsusServer::new(
        Catalog::generate(20, 1).unwrap(),
        ServerConfig {
            inject: plan,
            ..test_config()
        },
    )
    .unwrap();
    for _ in 0..3 {
        let r = call(&s, GetConfig::default());
        assert_eq!(fault(&r).0, ErrorCode::ServerBusy);
    }
    let mut c = Client::new();
    c.last_change = Some(DateTime::from_instant(s.config_last_change()));
    c.authorize(&s);
    let r = call(&s, c.get_cookie_request(s.config().clock.now()));
    assert_eq!(
        (r.status, r.transport.clone()),
        (503, Some(TransportFault::Http503))
    );
    assert!(r.body.is_empty());
    c.get_cookie(&s);
    let r = call(
        &s,
        RegisterComputer {
            cookie: v(c.cookie.clone().unwrap()),
            computer_info: v(ComputerInfo {
                dns_name: v("pc".into()),
                ..ComputerInfo::default()
            }),
            ..Default::default()
        },
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.transport,
        Some(TransportFault::Delay(Duration::from_millis(120)))
    );
    let r = call(&s, c.software_request());
    assert_eq!(r.status, 200);
    assert_eq!(r.transport, Some(TransportFault::CloseMidResponse));
    assert!(!r.body.is_empty(), "the HTTP layer cuts a real answer");
}

fn synced(size: usize, seed: u64) -> (WsusServer, Client) {
    let s = server(size, seed);
    let mut c = Client::new();
    c.handshake(&s);
    c.software_loop(&s);
    (s, c)
}

#[test]
fn extended_info_fragments_locations_and_limits() {
    let (s, c) = synced(200, 5);
    let software: Vec<i32> = c
        .cache
        .iter()
        .filter(|(_, e)| e.update_type == UpdateType::Software)
        .map(|(id, _)| *id)
        .take(10)
        .collect();
    let category = c
        .cache
        .iter()
        .find(|(_, e)| e.update_type == UpdateType::Category)
        .map(|(id, _)| *id)
        .unwrap();
    let mut ids = software.clone();
    ids.push(category);
    ids.push(123); // unknown: out of scope
    let req = GetExtendedUpdateInfo {
        cookie: v(c.cookie.clone().unwrap()),
        revision_ids: v(ids.clone()),
        info_types: v(vec![Frag::Extended, Frag::LocalizedProperties]),
        locales: v(vec!["en-US".into(), "en".into()]),
        ..Default::default()
    };
    let Response::GetExtendedUpdateInfo(r) = ok(&call(&s, req.clone())) else {
        panic!()
    };
    let info = r.result.into_value().unwrap();
    let mut kinds: HashMap<i32, Vec<wusp::fragment::FragmentKind>> = HashMap::new();
    for u in info.updates.items() {
        let id = *u.id.value().unwrap();
        assert!(ids.contains(&id), "S-28");
        let text = u
            .xml
            .value()
            .expect("S-28 Xml")
            .text()
            .unwrap()
            .into_owned();
        let k = wusp::fragment::classify(&text);
        if k == wusp::fragment::FragmentKind::LocalizedProperties {
            let l = wusp::fragment::parse_localized(&text).unwrap();
            assert_eq!(l.language, "en", "S-29: English only for en-US");
        }
        kinds.entry(id).or_default().push(k);
    }
    for id in software.iter().chain([&category]) {
        let k = &kinds[id];
        assert!(k.contains(&wusp::fragment::FragmentKind::Extended), "{id}");
        assert!(
            k.contains(&wusp::fragment::FragmentKind::LocalizedProperties),
            "{id}"
        );
    }
    assert_eq!(info.out_of_scope_revision_ids.items(), &[123], "S-28");
    // Every file of the returned Extended fragments has a location (S-30), and the bytes
    // at the location have the digests (S-38).
    let locations: HashMap<Vec<u8>, String> = info
        .file_locations
        .items()
        .iter()
        .map(|l| {
            let d = l.file_digest.value().unwrap().bytes().unwrap();
            assert_eq!(d.len(), 20, "S-28");
            (d, l.url.value().unwrap().clone())
        })
        .collect();
    assert!(!locations.is_empty());
    for u in info.updates.items() {
        let text = u.xml.value().unwrap().text().unwrap().into_owned();
        if wusp::fragment::classify(&text) != wusp::fragment::FragmentKind::Extended {
            continue;
        }
        for f in wusp::fragment::parse_extended(&text).unwrap().files {
            let sha1 = f.sha1().unwrap();
            let url = &locations[&sha1.to_vec()];
            let hex = hex::encode_upper(sha1);
            assert!(
                url.starts_with(&format!("http://{HOST}/Content/{}/{hex}.", &hex[38..])),
                "{url}"
            );
            let path = url.strip_prefix(&format!("http://{HOST}")).unwrap();
            let content = s.content(path).unwrap();
            assert_eq!(content.bytes.len() as u64, f.size.unwrap(), "S-38 size");
            assert_eq!(
                crate::server::catalog::sha1_of(&content.bytes),
                sha1,
                "S-38 SHA-1"
            );
            assert_eq!(
                crate::server::catalog::sha256_of(&content.bytes),
                f.sha256().unwrap(),
                "SHA-256"
            );
            assert!(
                s.content(&path.to_ascii_lowercase()).is_some(),
                "case-insensitive"
            );
        }
    }
    // Categories have no file locations; German comes when asked for.
    let req2 = GetExtendedUpdateInfo {
        revision_ids: v(vec![category]),
        locales: v(vec!["de-DE".into()]),
        info_types: v(vec![Frag::LocalizedProperties]),
        ..req.clone()
    };
    let Response::GetExtendedUpdateInfo(r) = ok(&call(&s, req2)) else {
        panic!()
    };
    let info = r.result.into_value().unwrap();
    assert!(info.file_locations.items().is_empty());
    let langs: HashSet<String> = info
        .updates
        .items()
        .iter()
        .map(|u| {
            wusp::fragment::parse_localized(&u.xml.value().unwrap().text().unwrap())
                .unwrap()
                .language
        })
        .collect();
    assert_eq!(
        langs,
        HashSet::from(["en".to_string(), "de".to_string()]),
        "English always"
    );
    // S-31: too many IDs, no infoTypes, no locales for LocalizedProperties.
    let too_many = GetExtendedUpdateInfo {
        revision_ids: v((0..51).collect()),
        ..req.clone()
    };
    assert_eq!(
        fault(&call(&s, too_many)),
        (ErrorCode::InvalidParameters, "revisionIDs".into())
    );
    let fifty = GetExtendedUpdateInfo {
        revision_ids: v((0..50).collect()),
        ..req.clone()
    };
    ok(&call(&s, fifty));
    let no_types = GetExtendedUpdateInfo {
        info_types: Field::Absent,
        ..req.clone()
    };
    assert_eq!(fault(&call(&s, no_types)).1, "infoTypes");
    let no_locales = GetExtendedUpdateInfo {
        locales: Field::Absent,
        ..req.clone()
    };
    assert_eq!(fault(&call(&s, no_locales)).1, "locales");
    // Extended alone needs no locales.
    let ext_only = GetExtendedUpdateInfo {
        locales: Field::Absent,
        info_types: v(vec![Frag::Extended]),
        ..req.clone()
    };
    ok(&call(&s, ext_only));
}

#[test]
fn extended_info2_and_file_locations() {
    let (s, c) = synced(200, 5);
    let cat = s.catalog();
    let (id, _) = c
        .cache
        .iter()
        .find(|(_, e)| {
            e.update_type == UpdateType::Software
                && cat.revision(cat.index_of(0).unwrap_or(0)).is_some()
        })
        .unwrap();
    let r = cat.revision(cat.index_of(*id).unwrap()).unwrap();
    let ident = UpdateIdentity {
        update_id: v(Guid(
            cat.update_id_of(cat.index_of(*id).unwrap()).to_string(),
        )),
        revision_number: v(r.revision_number),
        ..UpdateIdentity::default()
    };
    let req = GetExtendedUpdateInfo2 {
        cookie: v(c.cookie.clone().unwrap()),
        update_ids: v(vec![ident.clone()]),
        info_types: v(vec![Frag::Extended, Frag::FileUrl]),
        ..Default::default()
    };
    let Response::GetExtendedUpdateInfo2(resp) = ok(&call(&s, req)) else {
        panic!()
    };
    let info = resp.result.into_value().unwrap();
    assert_eq!(info.updates.items().len(), 1);
    let locs = info.file_locations.items();
    assert_eq!(locs.len(), r.files.len());
    assert!(
        locs.iter()
            .all(|l| l.file_digest_algorithm.value().map(String::as_str) == Some("SHA1"))
    );

    // GetFileLocations: one location per known digest, a NewCookie (S-32).
    let f = cat.file(r.files[0]).unwrap();
    let req = GetFileLocations {
        cookie: v(c.cookie.clone().unwrap()),
        file_digests: v(vec![Base64::encode(&f.sha1), Base64::encode(&[9; 20])]),
        ..Default::default()
    };
    let Response::GetFileLocations(resp) = ok(&call(&s, req.clone())) else {
        panic!()
    };
    let res = resp.result.into_value().unwrap();
    assert!(res.new_cookie.value().is_some(), "S-32 NewCookie");
    let locs = res.file_locations.items();
    assert_eq!(locs.len(), 1);
    assert_eq!(
        locs[0].file_digest.value().unwrap().bytes().unwrap(),
        f.sha1.to_vec()
    );
    // S-33.
    let short = GetFileLocations {
        file_digests: v(vec![Base64::encode(&[1; 19])]),
        ..req.clone()
    };
    assert_eq!(
        fault(&call(&s, short)),
        (ErrorCode::InvalidParameters, "fileDigests".into())
    );
    let none = GetFileLocations {
        file_digests: Field::Absent,
        ..req
    };
    assert_eq!(fault(&call(&s, none)).0, ErrorCode::InvalidParameters);
}

#[test]
fn refresh_cache_remaps_deployed_identities() {
    let (s, c) = synced(200, 9);
    let cat = s.catalog();
    let mut wanted = Vec::new();
    let mut expect = HashMap::new();
    for (id, _) in c.cache.iter().take(40) {
        let r = cat.index_of(*id).unwrap();
        let ident = UpdateIdentity {
            update_id: v(Guid(cat.update_id_of(r).to_uppercase())),
            revision_number: v(cat.revision(r).unwrap().revision_number),
            ..UpdateIdentity::default()
        };
        expect.insert(
            (
                ident.update_id.value().unwrap().0.clone(),
                *ident.revision_number.value().unwrap(),
            ),
            *id,
        );
        wanted.push(ident);
    }
    // A bundle member (Bundle-only deployment: no result) and an unknown identity.
    let member = cat
        .revisions()
        .iter()
        .position(|r| r.kind == RevisionKind::BundleMember)
        .unwrap() as u32;
    wanted.push(UpdateIdentity {
        update_id: v(Guid(cat.update_id_of(member).into())),
        revision_number: v(cat.revision(member).unwrap().revision_number),
        ..UpdateIdentity::default()
    });
    wanted.push(UpdateIdentity {
        update_id: v(Guid::zero()),
        revision_number: v(1),
        ..UpdateIdentity::default()
    });
    let req = RefreshCache {
        cookie: v(c.cookie.clone().unwrap()),
        global_ids: v(wanted),
        ..Default::default()
    };
    let Response::RefreshCache(r) = ok(&call(&s, req)) else {
        panic!()
    };
    let results = r.result.items();
    assert_eq!(results.len(), 40);
    for res in results {
        let g = res.global_id.value().expect("S-27 GlobalID");
        let key = (
            g.update_id.value().unwrap().0.clone(),
            *g.revision_number.value().unwrap(),
        );
        assert_eq!(res.revision_id.value(), expect.get(&key), "S-27");
        assert!(
            res.is_leaf.value().is_some() && res.deployment.value().is_some(),
            "S-27"
        );
        assert_ne!(
            res.deployment.value().unwrap().action.value(),
            Some(&DeploymentAction::Bundle)
        );
    }
    let req = RefreshCache {
        cookie: v(c.cookie.clone().unwrap()),
        ..Default::default()
    };
    assert_eq!(fault(&call(&s, req)).1, "globalIDs");
}

#[test]
fn category_scan_and_filtered_sync() {
    let s = server(400, 13);
    let cat = s.catalog();
    let guid_of = |kind: RevisionKind| {
        let r = cat.revisions().iter().position(|r| r.kind == kind).unwrap() as u32;
        Guid(cat.update_id_of(r).to_string())
    };
    let product = guid_of(RevisionKind::Category(
        crate::server::catalog::CategoryType::Product,
    ));
    let class = guid_of(RevisionKind::Category(
        crate::server::catalog::CategoryType::UpdateClassification,
    ));
    let company = guid_of(RevisionKind::Category(
        crate::server::catalog::CategoryType::Company,
    ));
    let unknown = Guid("dd78b8a1-0b20-45c1-add6-4da72e9364cf".into());
    let rel = |g: i32, id: &Guid| CategoryRelationship {
        index_of_and_group: v(g),
        category_id: v(id.clone()),
        ..CategoryRelationship::default()
    };
    let scan = |rels: Vec<CategoryRelationship>| {
        let Response::StartCategoryScan(r) = ok(&call(
            &s,
            StartCategoryScan {
                requested_categories: v(rels),
                ..Default::default()
            },
        )) else {
            panic!()
        };
        (
            r.preferred_category_ids.items().to_vec(),
            r.requested_category_ids_in_error.items().to_vec(),
        )
    };
    // Product alone, product + classification, unknown in its own group (S-34).
    let (pref, err) = scan(vec![
        rel(0, &product),
        rel(1, &product),
        rel(1, &class),
        rel(2, &unknown),
    ]);
    assert_eq!(pref, vec![product.clone()]);
    assert_eq!(err, vec![unknown.clone()]);
    // Any other shape empties the list.
    let (pref, _) = scan(vec![rel(0, &company)]);
    assert!(pref.is_empty());
    assert_eq!(
        fault(&call(&s, StartCategoryScan::default())).1,
        "requestedCategories"
    );
    let many: Vec<CategoryRelationship> = (0..200).map(|i| rel(i, &product)).collect();
    assert_eq!(
        fault(&call(
            &s,
            StartCategoryScan {
                requested_categories: v(many),
                ..Default::default()
            }
        ))
        .0,
        ErrorCode::InvalidParameters
    );

    // A filtered sync brings only what relates to the product.
    let mut c = Client::new();
    c.handshake(&s);
    let filter = vec![CategoryIdentifier {
        id: v(product.clone()),
        ..CategoryIdentifier::default()
    }];
    let product_uid = product.normalized();
    loop {
        let mut req = c.software_request();
        let p = req.parameters.value_mut().unwrap();
        p.filter_category_ids = v(filter.clone());
        p.need_two_group_out_of_scope_updates = v(true);
        let info = sync_info(ok(&call(&s, req.clone())));
        check_sync(&c, &req, &info, false);
        for u in info.new_updates.items() {
            let core = parse_core(&u.xml.value().unwrap().text().unwrap()).unwrap();
            // Related: the product, its ancestors, or something needing it (transitively).
            let _ = core;
        }
        if !c.apply(&info) {
            break;
        }
    }
    let full = s.scope(0).software().len();
    let got = c.cache.len();
    assert!(got > 0 && got < full, "filtered {got} of {full}");
    // Every delivered software update requires the product (directly or by its detectoid).
    let by_uid: HashMap<&str, &Entry> = c
        .cache
        .values()
        .map(|e| (e.update_id.as_str(), e))
        .collect();
    fn needs(e: &Entry, target: &str, by_uid: &HashMap<&str, &Entry>, depth: u32) -> bool {
        depth < 10
            && e.prereqs.iter().flatten().any(|u| {
                u == target
                    || by_uid
                        .get(u.as_str())
                        .is_some_and(|p| needs(p, target, by_uid, depth + 1))
            })
    }
    for e in c.cache.values() {
        if e.update_type == UpdateType::Software {
            assert!(needs(e, &product_uid, &by_uid, 0), "S-25 {}", e.update_id);
        }
    }
    // Without the filter, the cached filtered revisions stay and the rest arrives; with the
    // filter again and NeedTwoGroupOutOfScopeUpdates, revisions outside the filter that are
    // still deployed go to DeployedOutOfScopeRevisionIds.
    c.software_loop(&s);
    let mut req = c.software_request();
    let p = req.parameters.value_mut().unwrap();
    p.filter_category_ids = v(filter);
    p.need_two_group_out_of_scope_updates = v(true);
    let info = sync_info(ok(&call(&s, req.clone())));
    check_sync(&c, &req, &info, false);
    assert!(!info.deployed_out_of_scope_revision_ids.items().is_empty());
    assert!(info.out_of_scope_revision_ids.items().is_empty());
}

fn device(ids: &[&str], installed: Option<InstalledDriver>) -> Device {
    Device {
        hardware_ids: v(ids.iter().map(|s| s.to_string()).collect()),
        installed_driver: installed.map_or(Field::Absent, v),
        ..Device::default()
    }
}

fn row(
    hwid: &str,
    date: (i32, u8),
    version: u64,
    score: Option<u8>,
    chid: Option<&str>,
) -> crate::server::catalog::DriverRow {
    crate::server::catalog::DriverRow {
        hardware_id: hwid.to_ascii_lowercase().into(),
        hardware_id_display: hwid.into(),
        date: Some(
            time::Date::from_calendar_date(date.0, time::Month::try_from(date.1).unwrap(), 1)
                .unwrap(),
        ),
        version,
        class: "Net".into(),
        manufacturer: "Contoso".into(),
        provider: "Contoso".into(),
        model: "M".into(),
        feature_scores: score
            .map(|s| (Box::<str>::from("amd64.10.0"), s))
            .into_iter()
            .collect(),
        chids: chid.map(Box::<str>::from).into_iter().collect(),
    }
}

#[test]
fn driver_ranking_rules() {
    let chid_a = "11111111-1111-4111-8111-111111111111";
    let chid_b = "22222222-2222-4222-8222-222222222222";
    let chids = vec![chid_a.to_string(), chid_b.to_string()];
    let dev = device(&["PCI\\VEN_1&DEV_2&SUBSYS_3", "PCI\\VEN_1&DEV_2"], None);
    let key = "AMD64.10.0";
    let pick = |rows: &[crate::server::catalog::DriverRow], dev: &Device| {
        best_driver(
            rows.iter().enumerate().map(|(i, r)| (i as u32, r)),
            dev,
            &chids,
            key,
        )
        .map(|(i, _)| i)
    };
    // 1. More specific CHID wins over everything else.
    let rows = [
        row(
            "PCI\\VEN_1&DEV_2&SUBSYS_3",
            (2026, 9),
            9,
            Some(0),
            Some(chid_b),
        ),
        row("PCI\\VEN_1&DEV_2", (2020, 1), 1, Some(200), Some(chid_a)),
    ];
    assert_eq!(pick(&rows, &dev), Some(1));
    // A driver targeted at another computer is no candidate.
    let rows = [row(
        "PCI\\VEN_1&DEV_2",
        (2026, 1),
        1,
        None,
        Some("33333333-3333-4333-8333-333333333333"),
    )];
    assert_eq!(pick(&rows, &dev), None);
    // 2. Lower feature score.
    let rows = [
        row("PCI\\VEN_1&DEV_2&SUBSYS_3", (2026, 9), 9, Some(0x40), None),
        row("PCI\\VEN_1&DEV_2", (2020, 1), 1, Some(0x10), None),
    ];
    assert_eq!(pick(&rows, &dev), Some(1));
    // 3. Earlier hardware ID.
    let rows = [
        row("PCI\\VEN_1&DEV_2", (2026, 9), 9, None, None),
        row("pci\\ven_1&dev_2&subsys_3", (2020, 1), 1, None, None),
    ];
    assert_eq!(pick(&rows, &dev), Some(1));
    // 4. Newer date.
    let rows = [
        row("PCI\\VEN_1&DEV_2", (2025, 1), 9, None, None),
        row("PCI\\VEN_1&DEV_2", (2026, 1), 1, None, None),
    ];
    assert_eq!(pick(&rows, &dev), Some(1));
    // 5. Higher version.
    let rows = [
        row("PCI\\VEN_1&DEV_2", (2026, 1), 1, None, None),
        row("PCI\\VEN_1&DEV_2", (2026, 1), 2, None, None),
    ];
    assert_eq!(pick(&rows, &dev), Some(1));
    // No match at all.
    assert_eq!(pick(&rows, &device(&["USB\\X"], None)), None);
    // The installed driver must be beaten.
    let installed = InstalledDriver {
        matching_id: v("PCI\\VEN_1&DEV_2".into()),
        driver_ver_date: v(DateTime("2026-01-01T00:00:00Z".into())),
        driver_ver_version: v(2),
        driver_rank: v(0x00FF_0000),
        class: v("Net".into()),
        ..InstalledDriver::default()
    };
    let d = device(
        &["PCI\\VEN_1&DEV_2&SUBSYS_3", "PCI\\VEN_1&DEV_2"],
        Some(installed.clone()),
    );
    assert_eq!(pick(&rows, &d), None, "same date, version 2 installed");
    let newer = [row("PCI\\VEN_1&DEV_2", (2026, 2), 1, None, None)];
    assert_eq!(pick(&newer, &d), Some(0));
    // Printers must match Provider and Manufacturer of the installed driver.
    let printer = InstalledDriver {
        class: v("Printer".into()),
        provider: v("Fabrikam".into()),
        manufacturer: v("Contoso".into()),
        driver_rank: v(0x00FF_0000),
        ..installed
    };
    let d = device(&["PCI\\VEN_1&DEV_2"], Some(printer));
    assert_eq!(pick(&newer, &d), None, "provider differs");
    let mut fab = newer[0].clone();
    fab.provider = "Fabrikam".into();
    assert_eq!(pick(&[fab], &d), Some(0));
    // The comparison itself, rule by rule.
    let base = DriverRank {
        chid: 1,
        score: 5,
        hwid: 1,
        date: None,
        version: 1,
    };
    assert!(DriverRank { chid: 0, ..base }.compare(&base).is_lt());
    assert!(DriverRank { score: 4, ..base }.compare(&base).is_lt());
    assert!(DriverRank { hwid: 0, ..base }.compare(&base).is_lt());
    assert!(DriverRank { version: 2, ..base }.compare(&base).is_lt());
}

#[test]
fn driver_pass_and_printer_catalog() {
    let (s, c) = synced(400, 21);
    let cat = s.catalog();
    // Devices matching the generated drivers' hardware IDs.
    let mut devices = Vec::new();
    let mut ids_seen = HashSet::new();
    for r in cat.revisions() {
        for d in &r.drivers {
            if !d.is_printer() && ids_seen.insert(d.hardware_id_display.to_string()) {
                devices.push(device(&[&d.hardware_id_display], None));
            }
        }
    }
    assert!(!devices.is_empty());
    let (inst, _, _) = c.lists();
    let req = SyncUpdates {
        cookie: v(c.cookie.clone().unwrap()),
        parameters: v(SyncUpdateParameters {
            express_query: v(false),
            installed_non_leaf_update_ids: v(inst.clone()),
            system_spec: v(devices.clone()),
            skip_software_sync: v(true),
            computer_spec: v(ComputerHardwareSpecification::default()),
            feature_score_matching_key: v("AMD64.10.0".into()),
            ..SyncUpdateParameters::default()
        }),
        ..Default::default()
    };
    let info = sync_info(ok(&call(&s, req.clone())));
    check_sync(&c, &req, &info, true);
    assert!(!info.new_updates.items().is_empty());
    assert_eq!(
        info.driver_sync_not_needed.value().map(String::as_str),
        Some("false")
    );
    for u in info.new_updates.items() {
        let hw = u.deployment.value().unwrap().hardware_ids.items();
        assert!(!hw.is_empty(), "S-22 HardwareIds for drivers");
    }
    // With the drivers cached: nothing new; one unknown cached driver goes out of scope.
    let mut cached: Vec<i32> = info
        .new_updates
        .items()
        .iter()
        .map(|u| *u.id.value().unwrap())
        .collect();
    cached.push(7);
    let mut req2 = req.clone();
    req2.cookie = info.new_cookie.clone();
    req2.parameters.value_mut().unwrap().cached_driver_ids = v(cached);
    let info2 = sync_info(ok(&call(&s, req2.clone())));
    check_sync(&c, &req2, &info2, true);
    assert!(info2.new_updates.items().is_empty());
    assert_eq!(info2.out_of_scope_revision_ids.items(), &[7]);

    // SyncPrinterCatalog: printer drivers only.
    let req = SyncPrinterCatalog {
        cookie: v(c.cookie.clone().unwrap()),
        installed_non_leaf_update_ids: v(inst),
        ..Default::default()
    };
    let Response::SyncPrinterCatalog(r) = ok(&call(&s, req)) else {
        panic!()
    };
    let info = r.result.into_value().unwrap();
    assert!(
        info.new_cookie.value().is_some() && info.truncated.value().is_some(),
        "S-09"
    );
    assert!(!info.new_updates.items().is_empty());
    for u in info.new_updates.items() {
        let r = cat
            .revision(cat.index_of(*u.id.value().unwrap()).unwrap())
            .unwrap();
        assert!(r.drivers.iter().any(|d| d.is_printer()));
    }
}

#[test]
fn reports_append_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::generate(20, 1).unwrap();
    let s = WsusServer::new(
        cat,
        ServerConfig {
            data_dir: Some(dir.path().to_path_buf()),
            secret: None,
            ..test_config()
        },
    )
    .unwrap();
    assert!(dir.path().join("server.key").exists());
    let mut c = Client::new();
    c.handshake(&s);
    let event = |id: i16| ReportingEvent {
        basic_data: v(wusp::types::BasicData {
            target_id: v(wusp::types::ComputerTargetIdentifier {
                sid: v(CLIENT.into()),
                ..Default::default()
            }),
            sequence_number: v(0),
            time_at_target: v(DateTime("2026-10-04T16:05:00Z".into())),
            event_instance_id: v(Guid("8a8a8a8a-1111-4222-8333-444444444444".into())),
            namespace_id: v(1),
            event_id: v(id),
            source_id: v(101),
            update_id: v(wusp::types::UpdateRevisionIdentifier {
                update_id: v(Guid::zero()),
                revision_number: v(0),
                ..Default::default()
            }),
            win32_hresult: v(0),
            ..Default::default()
        }),
        ..ReportingEvent::default()
    };
    let req = ReportEventBatch {
        cookie: v(c.cookie.clone().unwrap()),
        client_time: v(DateTime("2026-10-04T16:05:01Z".into())),
        event_batch: v(vec![event(147), event(156)]),
        ..Default::default()
    };
    let Response::ReportEventBatch(r) = ok(&call(&s, req.clone())) else {
        panic!()
    };
    assert_eq!(r.result.value(), Some(&true), "S-35");
    let text = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["event_id"], 147);
    assert_eq!(lines[1]["client_id"], CLIENT);
    // The same key is read back by a restarted server: the cookie stays valid.
    let s2 = WsusServer::new(
        Catalog::generate(20, 1).unwrap(),
        ServerConfig {
            data_dir: Some(dir.path().to_path_buf()),
            secret: None,
            ..test_config()
        },
    )
    .unwrap();
    ok(&call(&s2, req.clone()));
    let bad = ReportEventBatch {
        event_batch: Field::Absent,
        ..req
    };
    assert_eq!(fault(&call(&s, bad)).1, "eventBatch");
}

#[test]
fn admin_api_errors_and_status() {
    let s = server(50, 1);
    assert_eq!(s.admin("GET", "/admin/nope", b"").0, 404);
    assert_eq!(s.admin("GET", "/admin/approvals", b"").0, 405);
    assert_eq!(s.admin("POST", "/admin/approvals", b"{bad").0, 400);
    assert_eq!(
        s.admin("POST", "/admin/approvals", br#"{"approve": 1, "zap": 2}"#)
            .0,
        400
    );
    let (code, body) = s.admin("POST", "/admin/approvals", br#"{"decline": 1}"#);
    assert_eq!(code, 200);
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(j["decline"].as_array().unwrap().len(), 1);
    assert_eq!(j["approve"].as_array().unwrap().len(), 0);
    let (code, body) = s.admin("GET", "/admin/status", b"");
    assert_eq!(code, 200);
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(j["revisions"], 50);
    let before = s.config_last_change();
    assert_eq!(s.admin("POST", "/admin/config", b"").0, 200);
    assert!(s.config_last_change() > before);
    // Picks are deterministic: two servers from one seed pick alike.
    let a = server(300, 77);
    let b = server(300, 77);
    assert_eq!(admin(&a, 3, 2, 1), admin(&b, 3, 2, 1));
}

#[test]
fn generated_catalogs_are_deterministic_and_well_formed() {
    let a = Catalog::generate(1000, 42).unwrap();
    let b = Catalog::generate(1000, 42).unwrap();
    assert_eq!(a.len(), 1000);
    assert_eq!(a.revisions(), b.revisions());
    assert_ne!(
        Catalog::generate(1000, 43).unwrap().revisions(),
        a.revisions()
    );
    assert!(Catalog::generate(9, 1).is_err());
    assert!(Catalog::generate(100_001, 1).is_err());
    for size in [10, 11, 29, 40, 100] {
        assert_eq!(Catalog::generate(size, 1).unwrap().len(), size);
    }
    // Every fragment parses; the wusp index agrees on IsLeaf (7.3.1).
    let mut index = wusp::fragment::MetadataIndex::new();
    for (i, r) in a.revisions().iter().enumerate() {
        index.insert_core(r.revision_id, &r.core_xml).unwrap();
        let ext = a.extended_xml(i as u32).unwrap();
        index.insert_extended(r.revision_id, &ext).unwrap();
        for l in a.languages(i as u32) {
            wusp::fragment::parse_localized(&a.localized_xml(i as u32, &l).unwrap()).unwrap();
        }
    }
    for r in a.revisions() {
        assert_eq!(
            index.is_leaf(r.revision_id),
            Some(r.is_leaf),
            "{}",
            r.revision_id
        );
    }
    let kinds: HashSet<String> = a
        .revisions()
        .iter()
        .map(|r| format!("{:?}", r.kind))
        .collect();
    for k in [
        "Detectoid",
        "Software",
        "Bundle",
        "BundleMember",
        "Driver",
        "Category(Company)",
        "Category(ProductFamily)",
        "Category(Product)",
        "Category(UpdateClassification)",
    ] {
        assert!(kinds.contains(k), "{k}");
    }
    assert!(
        a.revisions()
            .iter()
            .any(|r| r.drivers.iter().any(|d| d.is_printer()))
    );
    assert!(
        a.revisions()
            .iter()
            .any(|r| r.core_xml.contains("<SupersededUpdates>"))
    );
    // Older revisions exist and are not in scope; one revision per update in scope.
    let scope = a.scope(a.initial_approvals(), 0);
    let mut seen = HashSet::new();
    for &r in scope.software().iter().chain(scope.drivers()) {
        assert!(seen.insert(a.revision(r).unwrap().update));
    }
    assert!(a.revisions().iter().enumerate().any(|(i, r)| {
        a.update(r.update).unwrap().revisions.len() > 1 && scope.effective(i as u32).is_none()
    }));
    // Deployment distribution: categories Evaluate, members Bundle, some Install.
    let mut actions: HashMap<String, usize> = HashMap::new();
    for &r in scope.software() {
        let e = scope.effective(r).unwrap();
        let rev = a.revision(r).unwrap();
        match rev.kind {
            RevisionKind::Category(_) | RevisionKind::Detectoid => {
                assert_eq!(e.action, DeploymentAction::Evaluate)
            }
            RevisionKind::BundleMember => assert_eq!(e.action, DeploymentAction::Bundle),
            _ => {}
        }
        *actions.entry(e.action.to_string()).or_default() += 1;
    }
    assert!(actions["Install"] > 0 && actions["Evaluate"] > actions["Install"]);
    // Files: distinct digests, bytes derived on demand match them.
    let f = a.file(7).unwrap();
    let bytes = a.file_bytes(7).unwrap();
    assert_eq!(crate::server::catalog::sha1_of(&bytes), f.sha1);
    assert_eq!(a.file_by_sha1(&f.sha1), Some(7));
}

/// A capture of the generated, Windows-shaped samples (`wutap-samples`), written and read back.
fn load(name: &str) -> Vec<captures::Record> {
    let dir = tempfile::tempdir().unwrap();
    wutap_samples::write_samples(dir.path()).unwrap();
    captures::read_all(dir.path().join(name))
        .unwrap()
        .0
        .into_iter()
        .map(|(_, r)| r)
        .collect()
}

/// The recorded client's SyncUpdates requests and the recorded responses.
fn recorded_syncs(records: &[captures::Record]) -> Vec<(SyncUpdates, SyncInfo)> {
    records
        .iter()
        .filter_map(|r| match r {
            captures::Record::Exchange(ex) => Some(ex),
            _ => None,
        })
        .filter_map(|ex| {
            let req = captures::wire::request_envelope(ex).ok()?;
            let resp = captures::wire::response_envelope(ex).ok()?;
            match (req.body, resp.body) {
                (
                    Body::Request(Request::SyncUpdates(q)),
                    Body::Response(Response::SyncUpdates(a)),
                ) => Some((q, a.result.into_value()?)),
                _ => None,
            }
        })
        .collect()
}

fn ids(u: &[UpdateInfo]) -> Vec<i32> {
    u.iter().map(|x| *x.id.value().unwrap()).collect()
}

#[test]
fn catalog_from_captures_answers_the_recorded_client() {
    let first = load("first-sync.jsonl");
    let diff = load("differential-sync.jsonl");
    let config = || ServerConfig {
        page_size: 4,
        ..test_config()
    };
    // Day 1: the server as the first capture shows it.
    let day1 = WsusServer::new(Catalog::from_capture(&first).unwrap(), config()).unwrap();
    assert!(Catalog::from_capture(&[]).is_err());
    let mut c = Client::new();
    c.handshake(&day1);
    let mut cookie = c.cookie.clone().unwrap();
    let recorded = recorded_syncs(&first);
    assert!(recorded.len() >= 4);
    for (req, want) in &recorded {
        let mut req = req.clone();
        req.cookie = v(cookie.clone());
        let got = sync_info(ok(&call(&day1, req.clone())));
        assert_eq!(ids(got.new_updates.items()), ids(want.new_updates.items()));
        assert_eq!(got.truncated.value(), want.truncated.value());
        assert_eq!(
            got.out_of_scope_revision_ids.items(),
            want.out_of_scope_revision_ids.items()
        );
        for (g, w) in got.new_updates.items().iter().zip(want.new_updates.items()) {
            assert_eq!(g.is_leaf.value(), w.is_leaf.value());
            assert_eq!(
                g.xml.value().unwrap().text().unwrap(),
                w.xml.value().unwrap().text().unwrap()
            );
            let (gd, wd) = (g.deployment.value().unwrap(), w.deployment.value().unwrap());
            assert_eq!(
                (gd.id.value(), gd.action.value()),
                (wd.id.value(), wd.action.value())
            );
        }
        cookie = got.new_cookie.into_value().unwrap();
    }
    // Day 2: the same server identity (same key, same recorded server) with both captures.
    let both: Vec<captures::Record> = first.iter().chain(&diff).cloned().collect();
    let day2 = WsusServer::new(Catalog::from_capture(&both).unwrap(), config()).unwrap();
    day2.registered.write().unwrap().insert(client_key(CLIENT));
    for (req, want) in recorded_syncs(&diff) {
        let mut req = req.clone();
        req.cookie = v(cookie.clone());
        let got = sync_info(ok(&call(&day2, req.clone())));
        assert_eq!(ids(got.new_updates.items()), ids(want.new_updates.items()));
        assert_eq!(
            ids(got.changed_updates.items()),
            ids(want.changed_updates.items())
        );
        assert_eq!(
            got.out_of_scope_revision_ids.items(),
            want.out_of_scope_revision_ids.items()
        );
        assert_eq!(got.truncated.value(), want.truncated.value());
        cookie = got.new_cookie.into_value().unwrap();
    }
    // Extended fragments and file locations come back as recorded.
    let cat = day2.catalog();
    let with_files = cat
        .revisions()
        .iter()
        .position(|r| !r.files.is_empty())
        .unwrap() as u32;
    assert!(cat.extended_xml(with_files).is_some());
    assert!(!cat.languages(with_files).is_empty());
}

#[test]
fn many_clients_keep_no_state_on_the_server() {
    let s = server(300, 5);
    let mut last = None;
    for i in 0..40 {
        let mut c = Client::new();
        c.id = format!("00000000-0000-4000-8000-{i:012}");
        c.target_group = (i % 2 == 0).then(|| "Servers".to_string());
        c.handshake(&s);
        let rounds = c.software_loop(&s);
        if let Some(n) = last {
            assert_eq!(rounds.len(), n, "every client sees the same catalog");
        }
        last = Some(rounds.len());
    }
    assert_eq!(s.registered_clients(), 40);
    assert_eq!(
        s.scopes.read().unwrap().len(),
        1,
        "unknown groups share All Computers"
    );
}

#[test]
fn get_config_validation_and_other_methods() {
    let s = server(20, 1);
    let r = call(
        &s,
        GetConfig {
            protocol_version: v("banana".into()),
            ..Default::default()
        },
    );
    assert_eq!(fault(&r).1, "protocolVersion");
    let Response::GetConfig2(r) = ok(&call(&s, GetConfig2::default())) else {
        panic!()
    };
    assert!(
        r.result
            .value()
            .unwrap()
            .max_extended_updates_per_request()
            .is_some()
    );
    ok(&call(&s, GetTimestamps::default()));
    // GetAuthorizationCookie validation.
    let r = call(
        &s,
        GetAuthorizationCookie {
            client_id: v("NOT VALID".into()),
            dns_name: v("pc".into()),
            ..Default::default()
        },
    );
    assert_eq!(fault(&r).1, "clientId");
    let r = call(
        &s,
        GetAuthorizationCookie {
            client_id: v(CLIENT.into()),
            ..Default::default()
        },
    );
    assert_eq!(fault(&r).1, "dnsName");
    // Content outside the catalog.
    assert!(
        s.content("/Content/00/0000000000000000000000000000000000000000.exe")
            .is_none()
    );
    assert!(s.content("/other").is_none());
    // A response sent as a request.
    let body = Envelope::response(GetConfigResponse::default()).encode();
    let (code, msg) = fault(&call_bytes(&s, Operation::GetConfig, body.as_bytes()));
    assert_eq!(code, ErrorCode::InvalidParameters);
    assert!(msg.contains("response"));
}
