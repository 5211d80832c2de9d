//! The generated sample captures, correct per the reference; the committed ones (from
//! `wutap demo`) readable, small and WUSP.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

use base64::Engine as _;
use captures::wire::{self, ExchangeKind};
use captures::{Exchange, Record};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use wusp::fragment::{FragmentKind, MetadataIndex, UpdateType, classify, parse_extended};
use wusp::messages::{Request, Response};
use wusp::ops::{Operation, Service};
use wusp::soap::{Body, SoapVersion};
use wusp::types::{Cookie, SyncInfo, SyncUpdateParameters, UpdateInfo};
use wusp::values::{DeploymentAction, XmlUpdateFragmentType};
use wutap_samples::{
    Catalog, DIFFERENTIAL_SYNC_FILE, FIRST_SYNC_FILE, PAGE_SIZE, client_id, differential_sync,
    first_sync, write_samples,
};

fn committed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../captures/samples")
}

fn exchanges(records: Vec<Record>) -> Vec<Exchange> {
    records
        .into_iter()
        .map(|r| match r {
            Record::Exchange(e) => e,
            other => panic!("not an exchange: {other:?}"),
        })
        .collect()
}

fn first() -> Vec<Exchange> {
    exchanges(first_sync())
}

fn differential() -> Vec<Exchange> {
    exchanges(differential_sync())
}

fn request(ex: &Exchange) -> Request {
    let env = wire::request_envelope(ex)
        .unwrap_or_else(|e| panic!("exchange {}: request does not decode: {e}", ex.id));
    assert_eq!(env.version, SoapVersion::Soap11);
    assert!(!env.has_header, "exchange {}: SOAP Header (T-02)", ex.id);
    match env.body {
        Body::Request(r) => r,
        other => panic!("exchange {}: request body is {other:?}", ex.id),
    }
}

fn response(ex: &Exchange) -> Response {
    let env = wire::response_envelope(ex)
        .unwrap_or_else(|e| panic!("exchange {}: response does not decode: {e}", ex.id));
    assert_eq!(env.version, SoapVersion::Soap11);
    assert!(!env.has_header);
    match env.body {
        Body::Response(r) => r,
        other => panic!("exchange {}: response body is {other:?}", ex.id),
    }
}

fn op(ex: &Exchange) -> Option<Operation> {
    match wire::classify(ex) {
        ExchangeKind::Soap(id) => Some(id.operation),
        _ => None,
    }
}

/// A SyncUpdates exchange: its cookie, parameters and result.
struct Sync {
    id: u64,
    cookie: Cookie,
    params: SyncUpdateParameters,
    info: SyncInfo,
}

impl Sync {
    fn driver(&self) -> bool {
        self.params.skip_software_sync.value() == Some(&true)
    }
    fn installed(&self) -> Vec<i32> {
        self.params.installed_non_leaf_update_ids.items().to_vec()
    }
    fn other(&self) -> Vec<i32> {
        self.params.other_cached_update_ids.items().to_vec()
    }
    fn cached(&self) -> BTreeSet<i32> {
        self.installed().into_iter().chain(self.other()).collect()
    }
    fn new_ids(&self) -> Vec<i32> {
        ids(self.info.new_updates.items())
    }
    fn truncated(&self) -> bool {
        self.info.truncated.value() == Some(&true)
    }
}

fn ids(infos: &[UpdateInfo]) -> Vec<i32> {
    infos.iter().filter_map(|u| u.id.value().copied()).collect()
}

fn syncs(exs: &[Exchange]) -> Vec<Sync> {
    exs.iter()
        .filter(|ex| op(ex) == Some(Operation::SyncUpdates))
        .map(|ex| {
            let Request::SyncUpdates(r) = request(ex) else {
                panic!("not SyncUpdates")
            };
            let Response::SyncUpdates(s) = response(ex) else {
                panic!("not SyncUpdatesResponse")
            };
            Sync {
                id: ex.id,
                cookie: r.cookie.value().cloned().expect("cookie (C-14)"),
                params: r.parameters.value().cloned().expect("parameters (C-19)"),
                info: s.result.value().cloned().expect("SyncUpdatesResult"),
            }
        })
        .collect()
}

fn software(exs: &[Exchange]) -> Vec<Sync> {
    syncs(exs).into_iter().filter(|s| !s.driver()).collect()
}

fn rev(name: &str) -> i32 {
    Catalog::new().get(name).revision_id
}

fn names(ids: &[i32]) -> Vec<&'static str> {
    let c = Catalog::new();
    ids.iter()
        .map(|r| c.by_revision(*r).map_or("?", |e| e.name))
        .collect()
}

#[test]
fn committed_samples_come_from_the_demo_and_classify() {
    // captures/samples/ is regenerated from `wutap demo` by scripts/make-samples.sh; the
    // generator's captures are the Windows-shaped fixtures of the tests (written on demand).
    for name in [FIRST_SYNC_FILE, DIFFERENTIAL_SYNC_FILE] {
        let path = committed_dir().join(name);
        let (records, problems) = captures::read_all(&path).unwrap();
        assert!(problems.is_empty(), "{name}: {problems:?}");
        let exs: Vec<&Exchange> = records
            .iter()
            .filter_map(|(_, r)| match r {
                Record::Exchange(e) => Some(e),
                _ => None,
            })
            .collect();
        assert!(!exs.is_empty(), "{name}");
        for e in exs {
            assert_eq!(
                e.scheme, "https",
                "{name}: recorded through the proxy over TLS"
            );
            assert!(
                matches!(wire::classify(e), ExchangeKind::Soap(_)),
                "{name}: exchange {} is not a WUSP call",
                e.id
            );
        }
    }
}

#[test]
fn generation_is_deterministic() {
    assert_eq!(first_sync(), first_sync());
    assert_eq!(differential_sync(), differential_sync());
    let a = tempfile::tempdir().unwrap();
    write_samples(a.path()).unwrap();
    // Writing again over existing files replaces them (the writer would append).
    let again = write_samples(a.path()).unwrap();
    let b = tempfile::tempdir().unwrap();
    write_samples(b.path()).unwrap();
    for p in again {
        let name = p.file_name().unwrap();
        assert_eq!(
            std::fs::read(&p).unwrap(),
            std::fs::read(b.path().join(name)).unwrap()
        );
    }
}

#[test]
fn written_samples_read_back_as_generated() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = write_samples(tmp.path()).unwrap();
    for (path, (name, expected)) in paths.iter().zip([
        (FIRST_SYNC_FILE, first_sync()),
        (DIFFERENTIAL_SYNC_FILE, differential_sync()),
    ]) {
        assert_eq!(path.file_name().and_then(|n| n.to_str()), Some(name));
        let (records, problems) = captures::read_all(path).unwrap();
        assert!(problems.is_empty(), "{name}: {problems:?}");
        let Record::Header(h) = &records[0].1 else {
            panic!("{name}: no header line")
        };
        assert_eq!(h.format, captures::FORMAT_NAME);
        let read: Vec<Record> = records[1..].iter().map(|(_, r)| r.clone()).collect();
        assert_eq!(read, expected, "{name}");
    }
}

#[test]
fn committed_samples_read_back_small_and_clean() {
    let mut total = 0;
    for name in [FIRST_SYNC_FILE, DIFFERENTIAL_SYNC_FILE] {
        let path = committed_dir().join(name);
        total += std::fs::metadata(&path).unwrap().len();
        let (records, problems) = captures::read_all(&path).unwrap();
        assert!(problems.is_empty(), "{name}: {problems:?}");
        let Record::Header(h) = &records[0].1 else {
            panic!("{name}: no header line")
        };
        assert_eq!(h.format, captures::FORMAT_NAME);
    }
    assert!(total < 1024 * 1024, "samples are {total} bytes");
}

#[test]
fn exchanges_classify_as_intended() {
    use Operation::*;
    let sync = Some(SyncUpdates);
    let expected_first = [
        Some(GetConfig),
        Some(GetAuthorizationCookie),
        Some(GetCookie),
        Some(RegisterComputer),
        sync,
        sync,
        sync,
        sync,
        sync,
        sync,
        Some(GetExtendedUpdateInfo),
        None,
        Some(ReportEventBatch),
    ];
    let expected_diff = [
        sync,
        sync,
        sync,
        Some(GetExtendedUpdateInfo),
        Some(ReportEventBatch),
    ];
    for (exs, expected) in [
        (first(), &expected_first[..]),
        (differential(), &expected_diff[..]),
    ] {
        assert_eq!(exs.len(), expected.len());
        for (i, (ex, want)) in exs.iter().zip(expected).enumerate() {
            assert_eq!(ex.id, i as u64 + 1);
            match (wire::classify(ex), want) {
                (ExchangeKind::Soap(id), Some(op)) => {
                    assert_eq!(id.operation, *op, "exchange {}", ex.id);
                    assert!(id.disagreements.is_empty(), "{:?}", id.disagreements);
                    assert!(!id.prose_printer_action);
                }
                (ExchangeKind::Content, None) => {}
                (kind, want) => panic!("exchange {}: {kind:?}, wanted {want:?}", ex.id),
            }
        }
    }
}

#[test]
fn soap_messages_decode_as_their_operation() {
    for ex in first().iter().chain(&differential()) {
        let Some(op) = op(ex) else { continue };
        assert_eq!(request(ex).operation(), op);
        assert_eq!(response(ex).operation(), op);
        assert_eq!(ex.response.status, 200);
    }
}

#[test]
fn timings_and_connections_are_consistent() {
    for exs in [first(), differential()] {
        let mut last_end: BTreeMap<u64, captures::Timestamp> = BTreeMap::new();
        let mut previous_start = None;
        for ex in &exs {
            let t = &ex.time;
            let (rq, rs, end) = (
                t.request_end.unwrap(),
                t.response_start.unwrap(),
                t.end.unwrap(),
            );
            assert!(t.start <= rq && rq <= rs && rs <= end, "exchange {}", ex.id);
            if let Some(p) = previous_start {
                assert!(
                    t.start > p,
                    "exchange {} starts before the previous one",
                    ex.id
                );
            }
            previous_start = Some(t.start);
            if let Some(e) = last_end.get(&ex.conn) {
                assert!(
                    t.start >= *e,
                    "exchange {}: overlaps on conn {}",
                    ex.id,
                    ex.conn
                );
            }
            last_end.insert(ex.conn, end);
            assert_eq!(ex.server.as_deref(), Some("192.0.2.1:8530"));
            assert!(ex.client.as_deref().unwrap().starts_with("192.0.2.10:"));
            assert_eq!(ex.scheme, "http");
            // SOAP on one keep-alive connection, content on its own.
            let content = wire::classify(ex) == ExchangeKind::Content;
            assert_eq!(ex.conn == 1, !content, "exchange {}", ex.id);
        }
    }
}

#[test]
fn http_framing_is_native() {
    let request_names = [
        "Cache-Control",
        "Connection",
        "Pragma",
        "Content-Type",
        "Accept-Encoding",
        "User-Agent",
        "SOAPAction",
        "MS-CV",
        "Content-Length",
        "Host",
    ];
    for exs in [first(), differential()] {
        let mut cv_base: Option<String> = None;
        let mut cv_n = 0;
        for ex in &exs {
            let Some(op) = op(ex) else { continue };
            let reporting = op.service() == Service::Reporting;
            let names: Vec<&str> = ex.request.headers.iter().map(|h| h.name()).collect();
            let want: Vec<&str> = request_names
                .iter()
                .copied()
                .filter(|n| !(reporting && *n == "MS-CV"))
                .collect();
            assert_eq!(names, want, "exchange {}", ex.id);
            let h = |n: &str| ex.request.header(n).unwrap();
            assert_eq!(h("Cache-Control"), "no-cache");
            assert_eq!(h("Connection"), "Keep-Alive");
            assert_eq!(h("Pragma"), "no-cache");
            assert_eq!(h("Content-Type"), "text/xml; charset=utf-8");
            assert_eq!(h("Accept-Encoding"), "xpress");
            assert_eq!(
                h("User-Agent"),
                "Windows-Update-Agent/1507.2601.30012.0 Client-Protocol/2.90"
            );
            assert_eq!(h("SOAPAction"), format!("\"{}\"", op.soap_action()));
            assert_eq!(h("Host"), "wsus.contoso.test:8530");
            assert_eq!(
                h("Content-Length"),
                ex.request.body.len().to_string(),
                "exchange {}",
                ex.id
            );
            assert_eq!(ex.request.target, op.service().path());
            assert_eq!(
                ex.request.url,
                format!("http://wsus.contoso.test:8530{}", op.service().path())
            );
            if !reporting {
                let (base, n) = h("MS-CV").rsplit_once('.').unwrap();
                assert_eq!(base.len(), 16);
                assert!(
                    base64::engine::general_purpose::STANDARD
                        .decode(base)
                        .is_ok()
                );
                assert_eq!(cv_base.get_or_insert_with(|| base.to_owned()), base);
                cv_n += 1;
                assert_eq!(n, cv_n.to_string(), "exchange {}: MS-CV", ex.id);
            }

            let rn: Vec<&str> = ex.response.headers.iter().map(|h| h.name()).collect();
            assert_eq!(
                rn,
                [
                    "Cache-Control",
                    "Content-Type",
                    "Vary",
                    "Server",
                    "X-AspNet-Version",
                    "X-Powered-By",
                    "Date",
                    "Content-Encoding",
                    "Content-Length"
                ]
            );
            let r = |n: &str| ex.response.header(n).unwrap();
            let cache = if reporting {
                "private, max-age=0"
            } else {
                "private"
            };
            assert_eq!(r("Cache-Control"), cache);
            assert_eq!(r("Content-Type"), "text/xml; charset=utf-8");
            assert_eq!(r("Vary"), "Accept-Encoding");
            assert_eq!(r("Server"), "Microsoft-IIS/10.0");
            assert_eq!(r("X-AspNet-Version"), "4.0.30319");
            assert_eq!(r("X-Powered-By"), "ASP.NET");
            assert!(ex.is_xpress());
            let body = ex.response_body_bytes().unwrap();
            assert_eq!(
                r("Content-Length"),
                body.len().to_string(),
                "exchange {}",
                ex.id
            );
            // Xpress blocks of at most 16352 input bytes (WS2025, reference 1.3).
            let xml = wusp::xpress::decode(body).unwrap();
            let mut at = 0;
            let mut blocks = 0;
            while at < body.len() {
                let raw = u32::from_le_bytes(body[at..at + 4].try_into().unwrap()) as usize;
                let packed = u32::from_le_bytes(body[at + 4..at + 8].try_into().unwrap()) as usize;
                assert!(raw <= 16_352 && packed <= raw);
                at += 8 + packed;
                blocks += 1;
            }
            assert_eq!(at, body.len());
            assert_eq!(blocks, xml.len().div_ceil(16_352));
        }
    }
}

#[test]
fn handshake_follows_reference_5_3() {
    let exs = first();
    let Request::GetConfig(gc) = request(&exs[0]) else {
        panic!()
    };
    assert_eq!(
        gc.protocol_version.value().map(String::as_str),
        Some("2.90")
    );
    let Response::GetConfig(cfg) = response(&exs[0]) else {
        panic!()
    };
    let cfg = cfg.result.value().unwrap().clone();
    assert_eq!(cfg.is_registration_required.value(), Some(&true));
    let auth = cfg.auth_info.items();
    assert_eq!(auth.len(), 1);
    assert_eq!(auth[0].plug_in_id.value().unwrap(), "SimpleTargeting");
    assert_eq!(
        auth[0].service_url.value().unwrap(),
        "SimpleAuthWebService/SimpleAuth.asmx"
    );
    assert!(matches!(auth[0].parameter, wusp::Field::Empty));
    assert!(cfg.allowed_event_ids.is_absent());
    let props: Vec<(String, String)> = cfg
        .properties
        .items()
        .iter()
        .map(|p| {
            (
                p.name.value().unwrap().clone(),
                p.value.value().unwrap().clone(),
            )
        })
        .collect();
    let names: Vec<&str> = props.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "MaxExtendedUpdatesPerRequest",
            "PackageServerShare",
            "ProtocolVersion",
            "IsInventoryRequired",
            "ClientReportingLevel"
        ]
    );
    assert_eq!(cfg.max_extended_updates_per_request(), Some(50));
    assert_eq!(cfg.protocol_version(), (3, 2));
    assert_eq!(cfg.property("IsInventoryRequired"), Some("0"));
    assert_eq!(cfg.property("ClientReportingLevel"), Some("2"));

    // GetAuthorizationCookie at the ServiceUrl, no target group (C-03, C-04).
    assert_eq!(
        exs[1].request.target,
        "/SimpleAuthWebService/SimpleAuth.asmx"
    );
    let Request::GetAuthorizationCookie(ga) = request(&exs[1]) else {
        panic!()
    };
    let id = client_id();
    assert_eq!(ga.client_id.value(), Some(&id));
    assert!(wusp::values::is_guid(&id) && id == id.to_ascii_lowercase());
    assert!(ga.target_group_name.is_absent());
    let dns = ga.dns_name.value().unwrap().clone();
    assert_eq!(dns, "pc01.contoso.test");
    let Response::GetAuthorizationCookie(gar) = response(&exs[1]) else {
        panic!()
    };
    let auth_cookie = gar.result.value().unwrap().clone();
    assert!(
        !auth_cookie
            .cookie_data
            .value()
            .unwrap()
            .bytes()
            .unwrap()
            .is_empty()
    );

    // GetCookie: the authorization cookie unchanged, oldCookie with Expiration only equal
    // to currentTime, lastChange = Config.LastChange (C-06, C-07).
    let Request::GetCookie(gk) = request(&exs[2]) else {
        panic!()
    };
    assert_eq!(gk.auth_cookies.items(), [auth_cookie]);
    let old = gk.old_cookie.value().unwrap();
    assert!(old.encrypted_data.is_absent());
    assert_eq!(old.expiration, gk.current_time);
    assert!(
        gk.last_change
            .value()
            .unwrap()
            .same_instant(cfg.last_change.value().unwrap())
    );
    assert_eq!(
        gk.protocol_version.value().map(String::as_str),
        Some("2.90")
    );
    let Response::GetCookie(gkr) = response(&exs[2]) else {
        panic!()
    };
    let cookie = gkr.result.value().unwrap();
    let issued = gk.current_time.value().unwrap().instant().unwrap();
    let expires = cookie.expiration.value().unwrap().instant().unwrap();
    let lifetime = expires - issued;
    assert!(lifetime > time::Duration::days(2) - time::Duration::seconds(1));
    assert!(lifetime < time::Duration::days(2) + time::Duration::seconds(1));

    // RegisterComputer with the GetCookie cookie, DnsName = dnsName (C-10, C-13).
    let Request::RegisterComputer(rc) = request(&exs[3]) else {
        panic!()
    };
    assert_eq!(rc.cookie.value(), Some(cookie));
    let info = rc.computer_info.value().unwrap();
    assert_eq!(info.dns_name.value(), Some(&dns));
    assert_eq!(info.os_build_number.value(), Some(&26200));
    assert!(matches!(response(&exs[3]), Response::RegisterComputer(_)));
}

#[test]
fn cookies_are_the_latest_issued_and_keep_their_expiration() {
    let mut latest: Option<Cookie> = None;
    let mut expiration = None;
    for (day, exs) in [first(), differential()].into_iter().enumerate() {
        for ex in &exs {
            let Some(op) = op(ex) else { continue };
            let sent = match request(ex) {
                Request::RegisterComputer(r) => r.cookie.value().cloned(),
                Request::SyncUpdates(r) => r.cookie.value().cloned(),
                Request::GetExtendedUpdateInfo(r) => r.cookie.value().cloned(),
                Request::ReportEventBatch(r) => r.cookie.value().cloned(),
                _ => None,
            };
            if op.takes_cookie() {
                let sent = sent.unwrap_or_else(|| panic!("exchange {}: no cookie (C-14)", ex.id));
                assert_eq!(
                    Some(&sent),
                    latest.as_ref(),
                    "day {day} exchange {} (C-15)",
                    ex.id
                );
                let exp = sent.expiration.value().unwrap().instant().unwrap();
                assert!(
                    exp > ex.time.start.datetime(),
                    "exchange {}: expired cookie (C-16)",
                    ex.id
                );
            }
            let issued = match response(ex) {
                Response::GetCookie(r) => r.result.value().cloned(),
                Response::SyncUpdates(r) => {
                    r.result.value().and_then(|i| i.new_cookie.value().cloned())
                }
                _ => None,
            };
            if let Some(c) = issued {
                if op == Operation::SyncUpdates {
                    // Same Expiration, new EncryptedData (reference 3.2, S-09).
                    assert_eq!(c.expiration, *expiration.as_ref().unwrap());
                    assert_ne!(Some(&c), latest.as_ref());
                } else {
                    expiration = Some(c.expiration.clone());
                }
                assert!(
                    !c.encrypted_data
                        .value()
                        .unwrap()
                        .bytes()
                        .unwrap()
                        .is_empty()
                );
                latest = Some(c);
            }
        }
    }
}

#[test]
fn staged_delivery_and_server_rules_hold() {
    // One index across both captures: the differential sync builds on the first one's cache.
    let mut index = MetadataIndex::new();
    let mut leaf: BTreeMap<i32, bool> = BTreeMap::new();
    for (day, exs) in [first(), differential()].into_iter().enumerate() {
        let all = syncs(&exs);
        for (n, s) in all.iter().enumerate() {
            let installed = s.installed();
            let cached = s.cached();
            if s.driver() {
                // Driver pass (5.6): devices, CHIDs, key; no software lists; nothing new.
                assert_eq!(s.params.system_spec.items().len(), 2);
                for d in s.params.system_spec.items() {
                    assert!(d.installed_driver.is_present());
                    assert!(!d.hardware_ids.items().is_empty());
                }
                assert!(
                    !s.params
                        .computer_spec
                        .value()
                        .unwrap()
                        .hardware_ids
                        .items()
                        .is_empty()
                );
                assert_eq!(
                    s.params
                        .feature_score_matching_key
                        .value()
                        .map(String::as_str),
                    Some("AMD64.10.0")
                );
                assert!(s.params.other_cached_update_ids.is_absent());
                assert!(s.info.new_updates.items().is_empty());
                assert_eq!(
                    s.info.driver_sync_not_needed.value().map(String::as_str),
                    Some("true")
                );
                assert!(!s.truncated());
                assert_eq!(n, all.len() - 1, "the driver pass comes last (C-30)");
                continue;
            }
            assert!(s.params.system_spec.is_absent(), "C-20");
            assert_eq!(s.params.express_query.value(), Some(&false));
            // Every installed non-leaf revision was delivered with IsLeaf=false (C-23).
            for r in &installed {
                assert_eq!(
                    leaf.get(r),
                    Some(&false),
                    "exchange {}: installed {r}",
                    s.id
                );
            }
            let inst_u = index.installed_update_ids(installed.iter().copied());
            assert_eq!(inst_u.len(), installed.len());
            let new = s.new_ids();
            assert!(new.len() <= PAGE_SIZE);
            for u in s.info.new_updates.items() {
                let id = *u.id.value().unwrap();
                // S-11: nothing the client already holds.
                assert!(!cached.contains(&id), "exchange {}: {id} is cached", s.id);
                let xml = u.xml.value().unwrap().text().unwrap();
                index.insert_core(id, &xml).unwrap();
                // S-16 / 7.3 step 2: every AND-clause has an installed UpdateID.
                assert_eq!(
                    index.prerequisites_satisfied(id, &inst_u),
                    Some(true),
                    "exchange {}: {id} delivered before its prerequisites",
                    s.id
                );
                // S-17: no drivers in the software pass.
                assert_ne!(index.update_type(id), Some(&UpdateType::Driver));
                // S-13: full deployment.
                let d = u.deployment.value().unwrap();
                assert!(d.id.is_present() && d.action.is_present() && d.is_assigned.is_present());
                assert!(d.last_change_time.value().unwrap().is_date());
                leaf.insert(id, *u.is_leaf.value().unwrap());
            }
            // S-12.
            let oos: BTreeSet<i32> = s
                .info
                .out_of_scope_revision_ids
                .items()
                .iter()
                .copied()
                .collect();
            assert!(oos.is_subset(&cached));
            for c in ids(s.info.changed_updates.items()) {
                assert!(cached.contains(&c) && !oos.contains(&c));
            }
            if s.truncated() {
                assert!(!new.is_empty(), "S-24");
            }
            // C-28 / C-29: go on while truncated or a non-leaf arrived; stop otherwise.
            let go_on = s.truncated()
                || s.info
                    .new_updates
                    .items()
                    .iter()
                    .any(|u| u.is_leaf.value() == Some(&false));
            let next = all.get(n + 1).unwrap();
            assert_eq!(!next.driver(), go_on, "exchange {}", s.id);
            if go_on {
                // C-27: what page n delivered is listed on page n+1.
                let next_cached = next.cached();
                for id in &new {
                    assert!(next_cached.contains(id), "{id} not listed after delivery");
                }
            }
            if day == 0 && n == 0 {
                // C-21 and native shape: the first call of a fresh cache has no ID arrays.
                assert!(s.params.installed_non_leaf_update_ids.is_absent());
                assert!(s.params.other_cached_update_ids.is_absent());
            }
        }
    }
    // IsLeaf as delivered equals 7.3.1 computed over everything delivered (S-18).
    for (id, is_leaf) in &leaf {
        assert_eq!(index.is_leaf(*id), Some(*is_leaf), "revision {id}");
    }
}

#[test]
fn first_sync_arrives_one_prerequisite_level_per_call() {
    let s = software(&first());
    let got: Vec<(Vec<&str>, bool)> = s
        .iter()
        .map(|s| (names(&s.new_ids()), s.truncated()))
        .collect();
    assert_eq!(
        got,
        [
            (vec!["Company", "Classification"], false),
            (vec!["Product"], false),
            (vec!["Detectoid"], false),
            (vec!["U1", "U2", "U3", "U4"], true),
            (vec!["B1", "M1"], false),
        ]
    );
    let action = |s: &Sync, name: &str| {
        s.info
            .new_updates
            .items()
            .iter()
            .find(|u| u.id.value() == Some(&rev(name)))
            .and_then(|u| u.deployment.value()?.action.value().cloned())
    };
    assert_eq!(action(&s[0], "Company"), Some(DeploymentAction::Evaluate));
    assert_eq!(action(&s[2], "Detectoid"), Some(DeploymentAction::Evaluate));
    assert_eq!(action(&s[3], "U1"), Some(DeploymentAction::Install));
    assert_eq!(action(&s[3], "U2"), Some(DeploymentAction::Evaluate));
    assert_eq!(action(&s[4], "B1"), Some(DeploymentAction::Install));
    assert_eq!(action(&s[4], "M1"), Some(DeploymentAction::Bundle));
    // The leaf pages list the installed non-leaf revisions and the other cached ones.
    assert_eq!(
        names(&s[4].installed()),
        ["Company", "Classification", "Product", "Detectoid"]
    );
    assert_eq!(names(&s[4].other()), ["U1", "U2", "U3", "U4"]);
}

#[test]
fn differential_sync_follows_reference_9() {
    let first = first();
    let diff = differential();
    let delivered: Vec<(i32, bool)> = software(&first)
        .iter()
        .flat_map(|s| {
            s.info
                .new_updates
                .items()
                .iter()
                .map(|u| (*u.id.value().unwrap(), *u.is_leaf.value().unwrap()))
                .collect::<Vec<_>>()
        })
        .collect();
    let pages = software(&diff);
    assert_eq!(pages.len(), 2);

    // No handshake: the session starts with SyncUpdates carrying the full cache and the
    // cookie of the first sync's last SyncUpdates (C-02).
    assert_eq!(op(&diff[0]), Some(Operation::SyncUpdates));
    let p1 = &pages[0];
    let all: BTreeSet<i32> = delivered.iter().map(|(r, _)| *r).collect();
    assert_eq!(p1.cached(), all);
    let non_leaf: Vec<i32> = delivered
        .iter()
        .filter(|(_, l)| !l)
        .map(|(r, _)| *r)
        .collect();
    assert_eq!(p1.installed(), non_leaf);
    let last_first = syncs(&first).pop().unwrap();
    assert_eq!(Some(&p1.cookie), last_first.info.new_cookie.value());

    // Page 1: four of the five approved updates, U2 out of scope, U3 changed, truncated.
    assert_eq!(names(&p1.new_ids()), ["U5", "U6", "U7", "U8"]);
    assert_eq!(p1.info.out_of_scope_revision_ids.items(), [rev("U2")]);
    assert_eq!(ids(p1.info.changed_updates.items()), [rev("U3")]);
    assert!(p1.truncated());
    let changed = p1.info.changed_updates.items()[0]
        .deployment
        .value()
        .unwrap()
        .clone();
    let before = software(&first)
        .iter()
        .flat_map(|s| s.info.new_updates.items().to_vec())
        .find(|u| u.id.value() == Some(&rev("U3")))
        .and_then(|u| u.deployment.value().cloned())
        .unwrap();
    assert!(changed.deadline.value().unwrap().instant().is_some());
    assert!(before.deadline.is_absent());
    assert!(changed.last_change_time.value().unwrap() > before.last_change_time.value().unwrap());
    assert_ne!(changed.id, before.id);

    // Page 2: the fifth, not truncated, nothing repeated; U2 is no longer listed (C-26).
    let p2 = &pages[1];
    assert_eq!(names(&p2.new_ids()), ["U9"]);
    assert!(!p2.truncated());
    assert!(p2.info.out_of_scope_revision_ids.items().is_empty());
    assert!(p2.info.changed_updates.items().is_empty());
    assert!(!p2.cached().contains(&rev("U2")));
    for u in p1
        .info
        .new_updates
        .items()
        .iter()
        .chain(p2.info.new_updates.items())
    {
        let d = u.deployment.value().unwrap();
        assert_eq!(d.action.value(), Some(&DeploymentAction::Install));
    }
}

/// GetExtendedUpdateInfo exchanges: requested IDs and response.
fn extended(exs: &[Exchange]) -> Vec<(Vec<i32>, wusp::types::ExtendedUpdateInfo)> {
    exs.iter()
        .filter(|ex| op(ex) == Some(Operation::GetExtendedUpdateInfo))
        .map(|ex| {
            let Request::GetExtendedUpdateInfo(r) = request(ex) else {
                panic!()
            };
            assert_eq!(
                r.info_types.items(),
                [
                    XmlUpdateFragmentType::Extended,
                    XmlUpdateFragmentType::LocalizedProperties
                ]
            );
            assert_eq!(r.locales.items(), ["en-US", "en"]);
            assert!(r.revision_ids.items().len() <= 50, "C-34");
            let Response::GetExtendedUpdateInfo(s) = response(ex) else {
                panic!()
            };
            (
                r.revision_ids.items().to_vec(),
                s.result
                    .value()
                    .cloned()
                    .expect("GetExtendedUpdateInfoResult"),
            )
        })
        .collect()
}

#[test]
fn extended_info_is_fetched_for_needed_revisions_once() {
    let first_x = extended(&first());
    let diff_x = extended(&differential());
    assert_eq!(first_x.len(), 1);
    assert_eq!(diff_x.len(), 1);
    assert_eq!(
        names(&first_x[0].0),
        [
            "Company",
            "Classification",
            "Product",
            "U1",
            "U3",
            "B1",
            "M1"
        ]
    );
    // Only the new and the changed needed revisions; nothing fetched before is asked for
    // again unless ChangedUpdates named it (C-49).
    assert_eq!(names(&diff_x[0].0), ["U3", "U5", "U6", "U7", "U8", "U9"]);
    let changed: HashSet<i32> = software(&differential())
        .iter()
        .flat_map(|s| ids(s.info.changed_updates.items()))
        .collect();
    for r in &diff_x[0].0 {
        assert!(
            !first_x[0].0.contains(r) || changed.contains(r),
            "re-fetch of {r}"
        );
    }

    for (requested, info) in first_x.iter().chain(&diff_x) {
        let mut kinds: BTreeMap<i32, Vec<FragmentKind>> = BTreeMap::new();
        let mut digests: BTreeSet<String> = BTreeSet::new();
        for u in info.updates.items() {
            let id = *u.id.value().unwrap();
            assert!(requested.contains(&id), "S-28");
            let text = u.xml.value().unwrap().text().unwrap().into_owned();
            let kind = classify(&text);
            if kind == FragmentKind::Extended {
                for f in parse_extended(&text).unwrap().files {
                    assert!(f.sha256().is_some(), "AdditionalDigest SHA256 (PB<26>)");
                    digests.insert(f.digest.clone());
                }
            }
            kinds.entry(id).or_default().push(kind);
        }
        for r in requested {
            assert_eq!(
                kinds.get(r).map(Vec::as_slice),
                Some(&[FragmentKind::Extended, FragmentKind::LocalizedProperties][..])
            );
        }
        // S-30: every file has a location; T-12: 20-byte digests; reference 1.7 layout.
        let located: BTreeSet<String> = info
            .file_locations
            .items()
            .iter()
            .map(|l| {
                let d = l.file_digest.value().unwrap();
                let sha1 = d.bytes().unwrap();
                assert_eq!(sha1.len(), 20);
                let hex: String = sha1.iter().map(|b| format!("{b:02X}")).collect();
                assert_eq!(
                    l.url.value().unwrap(),
                    &format!(
                        "http://wsus.contoso.test:8530/Content/{}/{hex}.exe",
                        &hex[38..]
                    )
                );
                d.0.clone()
            })
            .collect();
        assert_eq!(located, digests);
    }
}

#[test]
fn downloaded_content_matches_its_metadata() {
    let exs = first();
    let (_, info) = extended(&exs).pop().unwrap();
    let content: Vec<&Exchange> = exs
        .iter()
        .filter(|ex| wire::classify(ex) == ExchangeKind::Content)
        .collect();
    assert_eq!(content.len(), 1);
    let ex = content[0];
    let body = ex.response_body_bytes().unwrap();
    let n = body.len();
    assert!((2_000..=5_000).contains(&n));
    assert_eq!(ex.request.method, "GET");
    let names: Vec<&str> = ex.request.headers.iter().map(|h| h.name()).collect();
    assert_eq!(
        names,
        ["Connection", "Accept", "Range", "User-Agent", "Host"]
    );
    assert_eq!(
        ex.request.header("Range"),
        Some(format!("bytes=0-{}", n - 1).as_str())
    );
    assert_eq!(
        ex.request.header("User-Agent"),
        Some("Microsoft-Delivery-Optimization/10.1")
    );
    assert!(ex.request.body.is_empty());
    assert_eq!(ex.response.status, 206);
    assert_eq!(ex.response.reason, "Partial Content");
    assert_eq!(
        ex.response.header("Content-Type"),
        Some("application/octet-stream")
    );
    assert_eq!(ex.response.header("Accept-Ranges"), Some("bytes"));
    assert_eq!(
        ex.response.header("Content-Range"),
        Some(format!("bytes 0-{}/{n}", n - 1).as_str())
    );
    assert_eq!(
        ex.response.header("Content-Length"),
        Some(n.to_string().as_str())
    );
    assert!(ex.response.header("Content-Encoding").is_none());

    // The URL is a FileLocation of this session; its digest is the SHA-1 of the bytes (T-15).
    let location = info
        .file_locations
        .items()
        .iter()
        .find(|l| l.url.value() == Some(&ex.request.url))
        .expect("download URL from a FileLocation (C-47)");
    let sha1 = Sha1::digest(body);
    assert_eq!(
        location.file_digest.value().unwrap().bytes().unwrap(),
        sha1.as_slice()
    );
    // And the Extended fragment's File agrees on SHA-256 and Size (S-38).
    let digest = location.file_digest.value().unwrap().0.clone();
    let file = info
        .updates
        .items()
        .iter()
        .filter_map(|u| parse_extended(&u.xml.value()?.text().ok()?).ok())
        .flat_map(|e| e.files)
        .find(|f| f.digest == digest)
        .unwrap();
    assert_eq!(
        file.sha256().unwrap().as_slice(),
        Sha256::digest(body).as_slice()
    );
    assert_eq!(file.size, Some(n as u64));
    // WSUS keeps the original extension (reference 1.7).
    let ext = file
        .file_name
        .as_deref()
        .unwrap()
        .rsplit('.')
        .next()
        .unwrap();
    assert!(ex.request.url.ends_with(&format!(".{ext}")));
    assert_eq!(ex.request.target, ex.request.path());
}

#[test]
fn reports_are_shaped_as_reference_3_10() {
    let mut instance_ids = HashSet::new();
    for exs in [first(), differential()] {
        let ex = exs.last().unwrap();
        assert_eq!(op(ex), Some(Operation::ReportEventBatch));
        assert_eq!(
            ex.request.target,
            "/ReportingWebService/ReportingWebService.asmx"
        );
        let Request::ReportEventBatch(r) = request(ex) else {
            panic!()
        };
        assert!(r.client_time.value().unwrap().instant().is_some());
        let events = r.event_batch.items();
        let ids: Vec<i16> = events
            .iter()
            .map(|e| *e.basic_data.value().unwrap().event_id.value().unwrap())
            .collect();
        assert_eq!(ids, [147, 156]);
        let mut count_147 = None;
        let mut installable = None;
        for e in events {
            let b = e.basic_data.value().unwrap();
            assert_eq!(b.target_id.value().unwrap().sid.value(), Some(&client_id()));
            assert_eq!(b.sequence_number.value(), Some(&0));
            assert_eq!(b.namespace_id.value(), Some(&1));
            assert_eq!(b.source_id.value(), Some(&101));
            assert!(instance_ids.insert(b.event_instance_id.value().unwrap().normalized()));
            let u = b.update_id.value().unwrap();
            assert_eq!(u.update_id.value(), Some(&wusp::values::Guid::zero()));
            assert!(b.time_at_target.value().unwrap().instant().is_some());
            let x = e.extended_data.value().unwrap();
            assert_eq!(
                x.processor_architecture.value(),
                Some(&wusp::values::ProcessorArchitecture::Amd64Compatible)
            );
            assert!(x.os_version.is_present() && x.os_locale_id.is_present());
            for m in x.misc_data.items() {
                assert!(
                    m.split_once('=').is_some_and(|(t, _)| !t.is_empty()),
                    "C-45 {m}"
                );
            }
            assert!(e.private_data.is_present());
            match b.event_id.value() {
                Some(147) => {
                    assert_eq!(x.replacement_strings.items().len(), 1, "C-44");
                    count_147 = Some(x.replacement_strings.items()[0].clone());
                }
                _ => {
                    installable = x
                        .misc_data
                        .items()
                        .iter()
                        .find_map(|m| m.strip_prefix("U=").map(|l| l.split(';').count()));
                }
            }
        }
        assert_eq!(count_147, installable.map(|n| n.to_string()));
        let Response::ReportEventBatch(resp) = response(ex) else {
            panic!()
        };
        assert_eq!(resp.result.value(), Some(&true));
    }
}
