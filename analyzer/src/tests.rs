//! Each implemented rule: a capture where it fires and one where it holds, built from
//! `wusp` types by [`crate::testkit`]. The tests assert the two cases with [`fires`] and
//! [`holds`]; `every_checked_rule_has_a_test_where_it_fires_and_one_where_it_holds` runs
//! them and fails for a checked rule of the catalogue that lacks either.

use std::collections::BTreeSet;

use captures::{Body, Record};
use wusp::messages::*;
use wusp::types::*;
use wusp::values::{Base64, DateTime};
use wusp::{ErrorCode, Field};

use crate::testkit::*;
use crate::{Analysis, Finding, Options, Profile, SessionKind, Status};

fn violated(a: &Analysis) -> BTreeSet<&'static str> {
    a.sessions
        .iter()
        .flat_map(|s| &s.findings)
        .filter(|f| f.status == Status::Violated)
        .map(|f| f.rule)
        .collect()
}

fn of<'a>(a: &'a Analysis, rule: &str) -> Vec<&'a Finding> {
    a.sessions
        .iter()
        .flat_map(|s| &s.findings)
        .filter(|f| f.rule == rule)
        .collect()
}

fn run(kits: &[&Kit]) -> Analysis {
    analyze(kits, &Options::default())
}

/// The exchange records of a kit, as mutable exchanges.
fn exchange_mut(k: &mut Kit, n: usize) -> &mut captures::Exchange {
    match &mut k.records_mut()[n] {
        Record::Exchange(e) => e,
        _ => panic!("record {n} is no exchange"),
    }
}

/// What a test showed about a rule, for the coverage check below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Shown {
    /// A capture where the rule is violated.
    Fires,
    /// A capture where the rule's situation occurs and the rule is kept.
    Holds,
}

thread_local! {
    /// The cases `fires` and `holds` asserted on this thread.
    static SHOWN: std::cell::RefCell<BTreeSet<(&'static str, Shown)>> =
        const { std::cell::RefCell::new(BTreeSet::new()) };
}

fn record(rule: &'static str, case: Shown) {
    SHOWN.with(|s| s.borrow_mut().insert((rule, case)));
}

/// Asserts that each rule has a finding with `status` in `a`, and records the fires case.
fn shows(a: &Analysis, rules: &[&'static str], status: Status) {
    for &rule in rules {
        assert!(
            of(a, rule).iter().any(|f| f.status == status),
            "{rule} has no {status:?} finding: {}",
            a.to_text()
        );
        record(rule, Shown::Fires);
    }
}

/// Asserts that each rule is violated in `a`, and records the fires case.
fn fires(a: &Analysis, rules: &[&'static str]) {
    shows(a, rules, Status::Violated);
}

/// C-02's check is itself a flag ("otherwise flag unknown cookie provenance"): the flag,
/// reported as unverifiable, is its firing.
fn flags(a: &Analysis, rules: &[&'static str]) {
    shows(a, rules, Status::Unverifiable);
}

/// Asserts that no rule of `rules` has any finding in `a` (decided and kept), and records
/// the holds case. Only for captures where each rule's situation occurs.
fn holds(a: &Analysis, rules: &[&'static str]) {
    for &rule in rules {
        let found = of(a, rule);
        assert!(found.is_empty(), "{rule} does not hold: {found:?}");
        record(rule, Shown::Holds);
    }
}

/// The rules whose situation the clean first and differential sync exercise: handshake,
/// registration, the software loop over pages (non-leaf, truncated), a driver pass,
/// extended info, an empty event batch, then a differential sync from the cached cookie
/// with a revision out of scope and one changed.
const CLEAN_HOLDS: &[&str] = &[
    "T-01", "T-02", "T-03", "T-04", "T-05", "T-07", "T-08", "T-09", "T-10", "T-11", "T-13", "T-16",
    "C-01", "C-02", "C-03", "C-04", "C-05", "C-06", "C-07", "C-09", "C-10", "C-12", "C-13", "C-14",
    "C-15", "C-16", "C-17", "C-18", "C-19", "C-20", "C-21", "C-22", "C-23", "C-24", "C-26", "C-27",
    "C-28", "C-29", "C-30", "C-34", "C-42", "C-48", "C-49", "S-01", "S-02", "S-03", "S-04", "S-05",
    "S-06", "S-07", "S-09", "S-11", "S-12", "S-13", "S-14", "S-15", "S-17", "S-19", "S-21", "S-22",
    "S-24", "S-26", "S-28", "S-29", "S-35",
];

#[test]
fn clean_first_and_differential_sync_hold_every_rule() {
    let first = first_sync();
    let diff = differential(&first);
    let a = run(&[&first, &diff]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    assert_eq!(a.summary.unverifiable, 0, "{}", a.to_text());
    assert_eq!(a.sessions.len(), 2);
    assert_eq!(a.sessions[0].kind, SessionKind::First);
    assert_eq!(a.sessions[0].client, CLIENT_ID);
    assert_eq!(a.sessions[1].kind, SessionKind::Differential);
    assert_eq!(
        a.sessions[1].client, CLIENT_ID,
        "cookie lineage links the captures"
    );
    assert_eq!(
        a.sessions[1].verdict,
        "differential sync OK: 2 pages, 2 new updates, cache sent 3/3 + 4/4"
    );
    assert_eq!(
        a.sessions[0].verdict,
        "first sync OK: 4 pages, 7 new updates"
    );
    let pages: Vec<Option<u32>> = a.sessions[1].exchanges.iter().map(|e| e.page).collect();
    assert_eq!(pages, [Some(1), Some(2), None, None, None]);
    assert!(!a.has_problems());
    holds(&a, CLEAN_HOLDS);
}

#[test]
fn inputs_are_ordered_in_time_whatever_the_argument_order() {
    let first = first_sync();
    let diff = differential(&first);
    let a = run(&[&diff, &first]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    assert_eq!(a.sessions[0].kind, SessionKind::First);
}

#[test]
fn differential_alone_is_unverifiable_not_passed() {
    let first = first_sync();
    let diff = differential(&first);
    let a = run(&[&diff]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    assert_eq!(a.sessions[0].kind, SessionKind::Differential);
    let c22 = of(&a, "C-22");
    assert_eq!(c22.len(), 1, "{}", a.to_text());
    assert_eq!(c22[0].status, Status::Unverifiable);
    assert_eq!(of(&a, "C-02")[0].status, Status::Unverifiable);
    flags(&a, &["C-02"]);
    assert!(
        a.sessions[0].verdict.contains("no earlier capture"),
        "{}",
        a.sessions[0].verdict
    );
}

#[test]
fn c27_fires_when_the_cached_lists_are_emptied() {
    let first = first_sync();
    let diff = differential_with(&first, |_, r| {
        if let Some(p) = r.parameters.value_mut() {
            p.installed_non_leaf_update_ids = Field::Absent;
            p.other_cached_update_ids = Field::Absent;
        }
    });
    let a = run(&[&first, &diff]);
    let c27 = of(&a, "C-27");
    assert!(!c27.is_empty(), "{}", a.to_text());
    assert_eq!(c27[0].status, Status::Violated);
    assert!(c27[0].message.contains("7 of 7"), "{}", c27[0].message);
    fires(&a, &["C-27"]);
    // The unmutated server answer names cached revisions the request no longer lists: the
    // client's error (C-27), so S-12 cannot be judged on that exchange.
    assert_eq!(violated(&a), BTreeSet::from(["C-27"]), "{}", a.to_text());
    assert!(
        of(&a, "S-12")
            .iter()
            .all(|f| f.status == Status::Unverifiable),
        "{}",
        a.to_text()
    );
    assert!(
        a.sessions[1].verdict.contains("cache sent 0/3 + 0/4"),
        "{}",
        a.sessions[1].verdict
    );
    // Under the spec profile the same gap is unverifiable (reference 10 #12).
    let spec = analyze(
        &[&first, &diff],
        &Options {
            profile: Profile::Spec,
            ..Default::default()
        },
    );
    assert!(
        of(&spec, "C-27")
            .iter()
            .all(|f| f.status == Status::Unverifiable)
    );
    assert!(of(&spec, "C-27").iter().all(|f| f.profile == Profile::Spec));
}

#[test]
fn c15_fires_for_a_superseded_cookie() {
    let first = first_sync();
    let mut diff = differential(&first);
    // Page 2 sends the cookie page 1 used instead of page 1's NewCookie.
    let page1 = exchange_mut(&mut diff, 0).request.body.clone();
    let e = exchange_mut(&mut diff, 1);
    let old = wusp::Envelope::decode(page1.bytes().unwrap_or_default()).unwrap();
    let mut new = wusp::Envelope::decode(e.request.body.bytes().unwrap_or_default()).unwrap();
    let (
        wusp::soap::Body::Request(wusp::Request::SyncUpdates(o)),
        wusp::soap::Body::Request(wusp::Request::SyncUpdates(n)),
    ) = (&old.body, &mut new.body)
    else {
        panic!("not SyncUpdates")
    };
    n.cookie = o.cookie.clone();
    e.request.body = Body::from_bytes(new.encode().into_bytes());
    let a = run(&[&first, &diff]);
    assert_eq!(violated(&a), BTreeSet::from(["C-15"]), "{}", a.to_text());
    assert!(of(&a, "C-15")[0].message.contains("superseded"));
    fires(&a, &["C-15"]);
}

#[test]
fn c28_fires_when_the_last_page_is_removed() {
    let first = first_sync();
    let mut diff = differential(&first);
    diff.records_mut().remove(1);
    let a = run(&[&first, &diff]);
    assert_eq!(violated(&a), BTreeSet::from(["C-28"]), "{}", a.to_text());
    let f = of(&a, "C-28");
    assert_eq!(f[0].exchanges, ["diff.jsonl#1", "diff.jsonl#3"]);
    assert!(a.sessions[1].verdict.contains("software loop incomplete"));
    assert!(a.has_problems(), "C-28 is a MUST");
    fires(&a, &["C-28"]);
}

#[test]
fn c28_is_unverifiable_when_the_capture_ends_inside_the_loop() {
    let first = first_sync();
    let mut diff = differential(&first);
    diff.records_mut().truncate(1);
    let a = run(&[&first, &diff]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    assert_eq!(of(&a, "C-28")[0].status, Status::Unverifiable);
}

#[test]
fn c28_fires_for_a_driver_pass_after_a_non_leaf_page() {
    let mut k = Kit::new("c.jsonl", 0);
    k.handshake();
    let r = k.sync_request(&[], &[]);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![update(1, false)]),
            ..Default::default()
        },
    );
    k.driver_pass(&[1]);
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["C-28"]), "{}", a.to_text());
    assert!(of(&a, "C-28")[0].message.contains("non-leaf"));
    fires(&a, &["C-28"]);
}

#[test]
fn c22_fires_for_extended_info_before_the_sync() {
    let first = first_sync();
    let mut diff = differential(&first);
    let start = exchange_mut(&mut diff, 0).time.start;
    let ext = exchange_mut(&mut diff, 3);
    let earlier = captures::Timestamp::from_unix_micros(start.unix_micros() - 1_000).unwrap();
    ext.time.start = earlier;
    let a = run(&[&first, &diff]);
    let c22 = of(&a, "C-22");
    assert_eq!(c22.len(), 1, "{}", a.to_text());
    assert_eq!(c22[0].status, Status::Violated);
    assert!(c22[0].observed.contains("20, 21"), "{}", c22[0].observed);
    fires(&a, &["C-22"]);
    // Revision 11 still has its fragments from the first sync at that time, but the request
    // is out of order (C-22): the re-fetch cannot be judged, it is not a second violation.
    assert_eq!(violated(&a), BTreeSet::from(["C-22"]), "{}", a.to_text());
    let c49 = of(&a, "C-49");
    assert_eq!(c49.len(), 1, "{}", a.to_text());
    assert_eq!(c49[0].status, Status::Unverifiable);
    assert!(c49[0].observed.contains("11"), "{}", c49[0].observed);
}

#[test]
fn c49_fires_for_extended_info_asked_again_and_holds_after_changed_updates() {
    let first = first_sync();
    let mut diff = differential(&first);
    diff.records_mut().truncate(3);
    diff.ext(&[10, 11, 20]);
    let a = run(&[&first, &diff]);
    assert_eq!(violated(&a), BTreeSet::from(["C-49"]), "{}", a.to_text());
    let f = &of(&a, "C-49")[0];
    assert_eq!(
        f.observed, "re-fetched: 10",
        "11 was reported changed: asking again is fine"
    );
    assert!(a.sessions[1].verdict.contains("1 extended-info re-fetches"));
    fires(&a, &["C-49"]);
}

#[test]
fn s11_fires_when_the_server_resends_a_cached_revision() {
    let first = first_sync();
    let mut diff = first.next_capture("diff.jsonl", 1);
    let r = diff.sync_request(&[1, 2, 3], &[10, 11, 12, 13]);
    diff.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![update(13, true), update(20, true)]),
            ..Default::default()
        },
    );
    diff.driver_pass(&[1, 2, 3]);
    let a = run(&[&first, &diff]);
    assert_eq!(violated(&a), BTreeSet::from(["S-11"]), "{}", a.to_text());
    assert_eq!(of(&a, "S-11")[0].observed, "re-sent: 13");
    assert!(a.sessions[1].verdict.contains("1 cached revisions re-sent"));
    fires(&a, &["S-11"]);
}

#[test]
fn t10_fires_for_a_request_body_cut_mid_xml() {
    let first = first_sync();
    let mut diff = differential(&first);
    let e = exchange_mut(&mut diff, 1);
    let text = String::from_utf8(e.request.body.bytes().unwrap_or_default().to_vec()).unwrap();
    e.request.body = Body::from_bytes(text.as_bytes()[..text.len() * 2 / 3].to_vec());
    let a = run(&[&first, &diff]);
    assert_eq!(violated(&a), BTreeSet::from(["T-10"]), "{}", a.to_text());
    assert!(
        of(&a, "T-10")[0]
            .message
            .contains("SyncUpdates request does not decode")
    );
    fires(&a, &["T-10"]);
}

#[test]
fn transport_rules_fire_on_bad_framing() {
    let mut k = Kit::new("t.jsonl", 0);
    k.accept = "gzip";
    k.handshake();
    // A fault sent with HTTP 200 and a response that is not SOAP.
    let req = GetConfig {
        protocol_version: Field::Value("2.90".into()),
        ..Default::default()
    };
    let q = wusp::Envelope::request(req).encode().into_bytes();
    let fault = wusp::Fault::wsus(
        ErrorCode::ServerBusy,
        "",
        wusp::values::Guid("6a1f4b2e-1d2c-4e5f-8a9b-0c1d2e3f4a5b".into()),
        None,
    );
    let r = wusp::Envelope::fault(fault).encode().into_bytes();
    k.raw(wusp::Operation::GetConfig, q.clone(), 200, r);
    let n = k.raw(
        wusp::Operation::GetConfig,
        q,
        200,
        b"<html>busy</html>".to_vec(),
    );
    // SOAPAction naming another operation.
    let last = k.records_mut().len() - 1;
    if let Record::Exchange(e) = &mut k.records_mut()[last] {
        e.request.headers = {
            let mut h = captures::Headers::new();
            h.push("Content-Type", "text/xml");
            h.push(
                "SOAPAction",
                format!("\"{}\"", wusp::Operation::GetCookie.soap_action()),
            );
            h
        };
    }
    let a = run(&[&k]);
    let v = violated(&a);
    for rule in ["T-03", "T-07", "T-09", "T-10", "T-16"] {
        assert!(v.contains(rule), "{rule} missing: {}", a.to_text());
    }
    assert!(of(&a, "T-10").iter().any(|f| f.exchanges == [n.clone()]));
    fires(&a, &["T-03", "T-07", "T-09", "T-10", "T-16"]);
    // With the native headers and xpress none of them fires (clean_first_and_… above).
}

#[test]
fn t08_fires_for_xpress_not_offered() {
    let mut k = first_sync();
    let last = k.records_mut().len() - 1;
    if let Record::Exchange(e) = &mut k.records_mut()[last] {
        e.request.headers = {
            let mut h = captures::Headers::new();
            h.push("Content-Type", "text/xml; charset=utf-8");
            h.push(
                "SOAPAction",
                format!("\"{}\"", wusp::Operation::ReportEventBatch.soap_action()),
            );
            h
        };
    }
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["T-08"]), "{}", a.to_text());
    fires(&a, &["T-08"]);
}

#[test]
fn handshake_rules_fire_on_a_bad_handshake_and_hold_on_a_good_one() {
    let mut k = Kit::new("h.jsonl", 0);
    k.handshake();
    // A second GetCookie with a wrong lastChange and no authorization cookie, while the
    // cookie is valid (C-06, C-07, C-18).
    let c = k.issue();
    k.ok(
        GetCookie {
            auth_cookies: Field::Absent,
            last_change: Field::Value(DateTime("2020-01-01T00:00:00Z".into())),
            current_time: Field::Value(DateTime("2026-09-21T10:00:00Z".into())),
            protocol_version: Field::Value("2.90".into()),
            ..Default::default()
        },
        GetCookieResponse {
            result: Field::Value(c),
            ..Default::default()
        },
    );
    let a = run(&[&k]);
    assert_eq!(
        violated(&a),
        BTreeSet::from(["C-06", "C-07", "C-18"]),
        "{}",
        a.to_text()
    );
    fires(&a, &["C-06", "C-07", "C-18"]);
    let good = {
        let mut k = Kit::new("g.jsonl", 0);
        k.handshake();
        run(&[&k])
    };
    assert_eq!(violated(&good), BTreeSet::new(), "{}", good.to_text());
    holds(&good, &["C-06", "C-07", "C-18"]);
}

#[test]
fn client_id_dns_and_registration_rules() {
    let mut k = Kit::new("r.jsonl", 0);
    k.handshake();
    k.register("other.test");
    k.ok(
        GetAuthorizationCookie {
            client_id: Field::Value("Not A Guid!".into()),
            dns_name: Field::Empty,
            ..Default::default()
        },
        GetAuthorizationCookieResponse {
            result: Field::Absent,
            ..Default::default()
        },
    );
    let a = run(&[&k]);
    let v = violated(&a);
    for rule in ["C-04", "C-13", "S-06"] {
        assert!(v.contains(rule), "{rule} missing: {}", a.to_text());
    }
    fires(&a, &["C-04", "C-13", "S-06"]);
}

#[test]
fn sync_request_rules_fire() {
    let first = first_sync();
    let diff = differential_with(&first, |page, r| {
        let p = r.parameters.value_mut().unwrap();
        if page == 1 {
            p.express_query = Field::Value(true); // C-19
            p.system_spec = Field::list(vec![Device::default()]); // C-20
            p.installed_non_leaf_update_ids = Field::list(vec![1, 2, 3, 10]); // C-23 (10 is a leaf), C-24
        } else {
            p.other_cached_update_ids = Field::list(vec![10, 11, 12, 13, 20, 99]); // C-26 (12), C-22 (99)
        }
    });
    let a = run(&[&first, &diff]);
    let v = violated(&a);
    for rule in ["C-19", "C-20", "C-22", "C-23", "C-24", "C-26"] {
        assert!(v.contains(rule), "{rule} missing: {}", a.to_text());
    }
    assert!(of(&a, "C-22").iter().any(|f| f.observed.contains("99")));
    fires(&a, &["C-19", "C-20", "C-22", "C-23", "C-24", "C-26"]);
}

#[test]
fn c14_fires_and_c21_is_unverifiable() {
    let mut k = Kit::new("c.jsonl", 0);
    k.handshake();
    let mut r = k.sync_request(&[5], &[]);
    r.cookie = Field::Absent;
    k.sync(r, SyncInfo::default());
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["C-14"]), "{}", a.to_text());
    fires(&a, &["C-14"]);
    // An empty cache cannot be told from one built before the capture: unverifiable.
    let c21 = of(&a, "C-21");
    assert_eq!(c21.len(), 1, "{}", a.to_text());
    assert_eq!(c21[0].status, Status::Unverifiable);
    // Without installed IDs on the first call there is nothing to say.
    assert!(of(&run(&[&first_sync()]), "C-21").is_empty());
}

#[test]
fn c30_fires_for_a_second_driver_pass() {
    let mut k = first_sync();
    k.driver_pass(&[1, 2, 3]);
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["C-30"]), "{}", a.to_text());
    fires(&a, &["C-30"]);
}

#[test]
fn c34_fires_for_too_many_revisions_and_missing_locales() {
    let mut k = first_sync();
    let ids: Vec<i32> = (1..=51).collect();
    k.ok(
        GetExtendedUpdateInfo {
            cookie: Field::Value(k.cookie.clone()),
            revision_ids: Field::list(ids),
            info_types: Field::list(vec![wusp::values::XmlUpdateFragmentType::Eula]),
            ..Default::default()
        },
        GetExtendedUpdateInfoResponse::default(),
    );
    let a = run(&[&k]);
    let c34 = of(&a, "C-34");
    assert_eq!(c34.len(), 2, "{}", a.to_text());
    fires(&a, &["C-34"]);
}

#[test]
fn server_sync_rules_fire() {
    let mut k = Kit::new("s.jsonl", 0);
    k.handshake();
    let r = k.sync_request(&[], &[]);
    // S-24 (Truncated with nothing), S-12 (out of scope not listed), S-17 (driver in the
    // software pass), S-13 (no Deployment).
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![
                driver(7),
                UpdateInfo {
                    deployment: Field::Absent,
                    ..update(8, true)
                },
            ]),
            out_of_scope_revision_ids: Field::list(vec![99]),
            ..Default::default()
        },
    );
    let r = k.sync_request(&[], &[8]);
    let id = k.ok(
        r,
        SyncUpdatesResponse {
            result: Field::Value(SyncInfo {
                truncated: Field::Value(true),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let a = run(&[&k]);
    let v = violated(&a);
    for rule in ["S-09", "S-12", "S-13", "S-17", "S-24"] {
        assert!(v.contains(rule), "{rule} missing: {}", a.to_text());
    }
    assert!(of(&a, "S-09")[0].exchanges == [id]);
    fires(&a, &["S-09", "S-12", "S-13", "S-17", "S-24"]);
}

#[test]
fn server_handshake_and_extended_rules_fire() {
    let mut k = Kit::new("x.jsonl", 0);
    k.ok(
        GetConfig {
            protocol_version: Field::Value("2.90".into()),
            ..Default::default()
        },
        GetConfigResponse {
            result: Field::Value(Config::default()),
            ..Default::default()
        },
    );
    k.ok(
        GetCookie {
            current_time: Field::Value(DateTime("2030-01-01T00:00:00Z".into())),
            ..Default::default()
        },
        GetCookieResponse {
            result: Field::Value(Cookie {
                expiration: Field::Value(DateTime("2029-01-01T00:00:00Z".into())),
                encrypted_data: Field::Value(Base64::encode(b"c")),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    k.cookie = Cookie {
        encrypted_data: Field::Value(Base64::encode(b"c")),
        ..Default::default()
    };
    k.ok(
        GetExtendedUpdateInfo {
            cookie: Field::Value(k.cookie.clone()),
            revision_ids: Field::list(vec![1]),
            info_types: Field::list(vec![wusp::values::XmlUpdateFragmentType::Extended]),
            ..Default::default()
        },
        GetExtendedUpdateInfoResponse {
            result: Field::Value(ExtendedUpdateInfo {
                updates: Field::list(vec![UpdateData {
                    id: Field::Value(2),
                    ..Default::default()
                }]),
                file_locations: Field::list(vec![FileLocation {
                    file_digest: Field::Value(Base64::encode(&[0u8; 19])),
                    url: Field::Value("http://wsus.test/Content/00/00.exe".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    k.ok(
        ReportEventBatch {
            cookie: Field::Value(k.cookie.clone()),
            ..Default::default()
        },
        ReportEventBatchResponse::default(),
    );
    let a = run(&[&k]);
    let v = violated(&a);
    for rule in ["S-01", "S-07", "S-28", "T-12", "S-35"] {
        assert!(v.contains(rule), "{rule} missing: {}", a.to_text());
    }
    fires(&a, &["S-01", "S-07", "S-28", "T-12", "S-35"]);
}

#[test]
fn faults_answer_with_500_and_a_wusp_detail() {
    let mut k = first_sync();
    let r = k.sync_request(&[1, 2, 3], &[10, 11, 12, 13]);
    k.fault(r, ErrorCode::ServerBusy);
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    holds(&a, &["T-06", "T-07"]);
    let mut k = first_sync();
    let r = k.sync_request(&[1, 2, 3], &[10, 11, 12, 13]);
    k.fault(r, ErrorCode::Other("Oops".into()));
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["T-06"]), "{}", a.to_text());
    fires(&a, &["T-06"]);
}

#[test]
fn rule_and_level_filters_apply_to_findings_and_counts() {
    let first = first_sync();
    let mut diff = differential(&first);
    diff.records_mut().remove(1);
    let only = analyze(
        &[&first, &diff],
        &Options {
            rules: vec!["c-15".into()],
            ..Default::default()
        },
    );
    assert_eq!(violated(&only), BTreeSet::new());
    assert_eq!(only.summary.must_violations, 0);
    assert!(!only.has_problems());
    let should = analyze(
        &[&first, &diff],
        &Options {
            level: Some(crate::Level::Must),
            ..Default::default()
        },
    );
    assert_eq!(violated(&should), BTreeSet::from(["C-28"]));
    let err = crate::analyze(
        &[std::path::Path::new("x")],
        &Options {
            rules: vec!["Z-99".into()],
            ..Default::default()
        },
    );
    assert!(matches!(err, Err(crate::Error::UnknownRule(_))));
}

#[test]
fn damaged_and_foreign_input_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let first = first_sync();
    let path = first.write(dir.path());
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"type\":\"exchange\",\"id\":99,\"con\n");
    std::fs::write(&path, text).unwrap();
    let mut other = Kit::new("other.jsonl", 0);
    other.foreign("/favicon.ico");
    let p2 = other.write(dir.path());
    let a = crate::analyze(&[path, p2], &Options::default()).unwrap();
    assert_eq!(a.input_problems.len(), 1, "{:?}", a.input_problems);
    assert!(a.has_problems());
    assert!(
        a.skipped.iter().any(|s| s.reason.contains("not WUSP")),
        "{:?}",
        a.skipped
    );
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
}

#[test]
fn reports_render_in_all_three_formats() {
    let first = first_sync();
    let mut diff = differential(&first);
    diff.records_mut().remove(1);
    let a = run(&[&first, &diff]);
    let text = a.to_text();
    let first_lines: Vec<&str> = text.lines().take(3).collect();
    assert!(first_lines[1].starts_with("s1 first sync OK"), "{text}");
    assert!(
        first_lines[2].starts_with("s2 differential sync PROBLEMS (C-28)"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
    assert_eq!(json["summary"]["must_violations"], 1);
    assert_eq!(json["sessions"][1]["kind"], "differential");
    let findings = json["sessions"][1]["findings"].as_array().unwrap();
    let c28 = findings.iter().find(|f| f["rule"] == "C-28").unwrap();
    assert_eq!(c28["status"], "violated");
    assert_eq!(c28["level"], "must");
    assert_eq!(c28["cite"], "§3.1.5.7, §2.2.2.2.4");
    assert_eq!(c28["exchanges"][0], "diff.jsonl#1");
    assert_eq!(json["sessions"][1]["cache"]["known"], 7);
    assert!(json["skipped"].as_array().is_some());
    let junit = a.to_junit();
    assert!(junit.contains("<failure type=\"must\""), "{junit}");
    assert_eq!(junit.matches("<testsuite ").count(), 2);
}

#[test]
fn rules_listing_has_every_rule_with_reasons() {
    let v: serde_json::Value = serde_json::from_str(&crate::rules_json()).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 104);
    assert_eq!(arr[0]["rule"], "T-01");
    assert_eq!(arr[0]["level"], "must");
    assert_eq!(arr[0]["checked"], true);
    for r in arr {
        assert_eq!(
            r["checked"].as_bool().unwrap(),
            r.get("reason").is_none(),
            "{r}"
        );
    }
    assert!(crate::rules_text().contains("C-49 SHOULD"));
}

#[test]
fn recovery_after_invalid_cookie_rekeys_the_cache_without_findings() {
    let mut k = first_sync();
    // The next day's sync faults InvalidCookie; the client recovers (GetConfig,
    // GetAuthorizationCookie, GetCookie, RefreshCache) and retries. The server only
    // re-keys 1, 2, 3, 10, 11 (12 and 13 are dropped).
    let mut d = k.next_capture("diff.jsonl", 1);
    let r = d.sync_request(&[1, 2, 3], &[10, 11, 12, 13]);
    d.fault(r, ErrorCode::InvalidCookie);
    d.handshake_with(false);
    let results = [1, 2, 3, 10, 11]
        .iter()
        .map(|id| RefreshCacheResult {
            revision_id: Field::Value(*id),
            global_id: Field::Value(identity(*id)),
            is_leaf: Field::Value(*id >= 10),
            deployment: update(*id, true).deployment,
            ..Default::default()
        })
        .collect();
    d.ok(
        RefreshCache {
            cookie: Field::Value(d.cookie.clone()),
            global_ids: Field::list(
                [1, 2, 3, 10, 11, 12, 13]
                    .into_iter()
                    .map(identity)
                    .collect(),
            ),
            ..Default::default()
        },
        RefreshCacheResponse {
            result: Field::list(results),
            ..Default::default()
        },
    );
    let r = d.sync_request(&[1, 2, 3], &[10, 11]);
    d.sync(r, SyncInfo::default());
    // The driver pass faults once and is retried: one answered driver pass.
    let r = {
        let mut r = d.sync_request(&[1, 2, 3], &[]);
        let p = r.parameters.value_mut().unwrap();
        p.skip_software_sync = Field::Value(true);
        r
    };
    d.fault(r, ErrorCode::ServerBusy);
    d.driver_pass(&[1, 2, 3]);
    let a = run(&[&k, &d]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    holds(&a, &["C-27", "C-38", "C-39", "C-40", "S-27"]);
    // Without the RefreshCache the dropped revisions 12 and 13 would be missing (C-27).
    k = first_sync();
    let mut d = k.next_capture("diff.jsonl", 1);
    let r = d.sync_request(&[1, 2, 3], &[10, 11]);
    d.sync(r, SyncInfo::default());
    let a = run(&[&k, &d]);
    assert_eq!(violated(&a), BTreeSet::from(["C-27"]), "{}", a.to_text());
    assert_eq!(of(&a, "C-27")[0].observed, "missing: 12, 13");
    fires(&a, &["C-27"]);
}

#[test]
fn c17_and_c18_fire_for_a_needless_handshake_in_a_differential_sync() {
    let k = first_sync();
    let mut d = k.next_capture("diff.jsonl", 0);
    d.handshake_with(false);
    let r = d.sync_request(&[1, 2, 3], &[10, 11, 12, 13]);
    d.sync(r, SyncInfo::default());
    let a = run(&[&k, &d]);
    assert_eq!(
        violated(&a),
        BTreeSet::from(["C-17", "C-18"]),
        "{}",
        a.to_text()
    );
    assert!(
        a.sessions[1]
            .verdict
            .contains("handshake again: GetConfig, GetAuthorizationCookie, GetCookie"),
        "{}",
        a.sessions[1].verdict
    );
    fires(&a, &["C-17", "C-18"]);
}

/// The recovery from CookieExpired: GetAuthorizationCookie, then GetCookie with
/// `old_cookie`; the client takes the new cookie.
fn reauthorize(k: &mut Kit, old_cookie: Field<Cookie>) {
    let auth = AuthorizationCookie {
        plug_in_id: Field::Value("SimpleTargeting".into()),
        cookie_data: Field::Value(Base64::encode(b"auth-again")),
        ..Default::default()
    };
    k.ok(
        GetAuthorizationCookie {
            client_id: Field::Value(CLIENT_ID.into()),
            dns_name: Field::Value("pc01.test".into()),
            ..Default::default()
        },
        GetAuthorizationCookieResponse {
            result: Field::Value(auth.clone()),
            ..Default::default()
        },
    );
    get_cookie(k, Field::list(vec![auth]), old_cookie);
}

/// A GetCookie as native WUA sends it (with `auth_cookies` and `old_cookie`) answered with
/// a new cookie, which the client takes.
fn get_cookie(k: &mut Kit, auth_cookies: Field<Vec<AuthorizationCookie>>, old: Field<Cookie>) {
    let c = k.issue();
    k.ok(
        GetCookie {
            auth_cookies,
            old_cookie: old,
            last_change: Field::Value(DateTime("2026-09-01T10:00:00Z".into())),
            current_time: Field::Value(DateTime("2026-09-21T10:00:00Z".into())),
            protocol_version: Field::Value("2.90".into()),
            ..Default::default()
        },
        GetCookieResponse {
            result: Field::Value(c.clone()),
            ..Default::default()
        },
    );
    k.cookie = c;
}

/// A leaf revision `id` whose core fragment requires the UpdateID of revision `prerequisite`.
fn requiring(id: i32, prerequisite: i32) -> UpdateInfo {
    let xml = wusp::fragment::CoreFragmentBuilder::new(
        format!("00000000-0000-0000-0000-{id:012}"),
        200,
        wusp::fragment::UpdateType::Software,
    )
    .prerequisite(format!("00000000-0000-0000-0000-{prerequisite:012}"))
    .build();
    UpdateInfo {
        xml: Field::Value(wusp::values::XmlText::from_text(&xml)),
        ..update(id, true)
    }
}

/// A non-leaf category revision `id`.
fn category(id: i32) -> UpdateInfo {
    let xml = wusp::fragment::CoreFragmentBuilder::new(
        format!("00000000-0000-0000-0000-{id:012}"),
        200,
        wusp::fragment::UpdateType::Category,
    )
    .build();
    UpdateInfo {
        xml: Field::Value(wusp::values::XmlText::from_text(&xml)),
        ..update(id, false)
    }
}

/// The identity of revision `id` in the test catalogue (UpdateID derived from it).
fn identity(id: i32) -> UpdateIdentity {
    UpdateIdentity {
        update_id: Field::Value(wusp::values::Guid(format!(
            "00000000-0000-0000-0000-{id:012}"
        ))),
        revision_number: Field::Value(200),
        ..Default::default()
    }
}

/// The first sync with its first software page faulted by `code` and `after` run before
/// the retry; returns the kit and the retried request.
fn faulted(code: ErrorCode, after: impl FnOnce(&mut Kit)) -> Analysis {
    let mut k = Kit::new("f.jsonl", 0);
    k.handshake();
    let r = k.sync_request(&[], &[]);
    k.fault(r, code);
    after(&mut k);
    let r = k.sync_request(&[], &[]);
    k.sync(r, SyncInfo::default());
    k.driver_pass(&[]);
    run(&[&k])
}

#[test]
fn recovery_rules_c39_c40_c41() {
    // Correct recoveries hold.
    for code in [ErrorCode::InvalidCookie, ErrorCode::ConfigChanged] {
        let a = faulted(code, |k| k.handshake_with(false));
        assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
        holds(&a, &["C-39", "C-40"]);
    }
    // InvalidCookie, then straight to GetCookie (skipping GetConfig): C-39.
    let a = faulted(ErrorCode::InvalidCookie, |k| {
        let c = k.issue();
        k.ok(
            GetCookie::default(),
            GetCookieResponse {
                result: Field::Value(c.clone()),
                ..Default::default()
            },
        );
        k.cookie = c;
    });
    assert!(violated(&a).contains("C-39"), "{}", a.to_text());
    fires(&a, &["C-39"]);
    // InvalidCookie, then the rejected cookie again: C-40 (and C-39).
    let a = faulted(ErrorCode::InvalidCookie, |_| {});
    assert_eq!(
        violated(&a),
        BTreeSet::from(["C-39", "C-40"]),
        "{}",
        a.to_text()
    );
    fires(&a, &["C-39", "C-40"]);
    // CookieExpired, then a GetCookie without oldCookie: C-41.
    let a = faulted(ErrorCode::CookieExpired, |k| reauthorize(k, Field::Absent));
    assert!(violated(&a).contains("C-41"), "{}", a.to_text());
    assert!(!violated(&a).contains("C-39"), "{}", a.to_text());
    fires(&a, &["C-41"]);
    // The same passing the expired cookie (issued by this server) as oldCookie: C-41, C-08
    // and C-39 hold.
    let a = faulted(ErrorCode::CookieExpired, |k| {
        let expired = Field::Value(k.cookie.clone());
        reauthorize(k, expired);
    });
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    holds(&a, &["C-08", "C-39", "C-41"]);
}

#[test]
fn c16_fires_for_an_expired_cookie() {
    let first = first_sync();
    let mut late = first.next_capture("late.jsonl", 3);
    let r = late.sync_request(&[1, 2, 3], &[10, 11, 12, 13]);
    late.sync(r, SyncInfo::default());
    let a = run(&[&first, &late]);
    assert_eq!(violated(&a), BTreeSet::from(["C-16"]), "{}", a.to_text());
    fires(&a, &["C-16"]);
}

#[test]
fn registration_rules_c10_c11_c12() {
    let mut k = Kit::new("r.jsonl", 0);
    k.handshake_with(false);
    let r = k.sync_request(&[], &[]);
    k.sync(r, SyncInfo::default());
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["C-10"]), "{}", a.to_text());
    fires(&a, &["C-10"]);

    let mut k = Kit::new("r.jsonl", 0);
    k.config.is_registration_required = Field::Value(false);
    k.handshake();
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["C-11"]), "{}", a.to_text());
    fires(&a, &["C-11"]);
    // No registration where none is required: C-10 and C-11 hold.
    let mut k = Kit::new("r.jsonl", 0);
    k.config.is_registration_required = Field::Value(false);
    k.handshake_with(false);
    let r = k.sync_request(&[], &[]);
    k.sync(r, SyncInfo::default());
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    holds(&a, &["C-10", "C-11"]);

    let mut k = Kit::new("r.jsonl", 0);
    k.handshake();
    k.register("pc01.test");
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["C-12"]), "{}", a.to_text());
    fires(&a, &["C-12"]);
}

#[test]
fn cookie_and_version_rules_c08_c09() {
    // After a first sync seen from an empty cache, every cookie of this server is known.
    let mut k = first_sync();
    let c = k.issue();
    k.ok(
        GetCookie {
            old_cookie: Field::Value(Cookie {
                encrypted_data: Field::Value(Base64::encode(b"forged")),
                ..Default::default()
            }),
            protocol_version: Field::Value("2".into()),
            ..Default::default()
        },
        GetCookieResponse {
            result: Field::Value(c),
            ..Default::default()
        },
    );
    let a = run(&[&k]);
    let v = violated(&a);
    assert!(v.contains("C-08") && v.contains("C-09"), "{}", a.to_text());
    fires(&a, &["C-08", "C-09"]);
    // 2.90 is fine natively, informational under the spec profile.
    let k = first_sync();
    let spec = analyze(
        &[&k],
        &Options {
            profile: Profile::Spec,
            ..Default::default()
        },
    );
    let c09 = of(&spec, "C-09");
    assert_eq!(c09.len(), 2, "GetConfig and GetCookie: {}", spec.to_text());
    assert!(c09.iter().all(|f| f.level == crate::Level::Obs));
    holds(&run(&[&k]), &["C-09"]);
}

#[test]
fn file_location_rules_c36_s32_s33() {
    let mut k = first_sync();
    k.ok(
        GetFileLocations {
            cookie: Field::Value(k.cookie.clone()),
            file_digests: Field::list(vec![Base64::encode(&[1u8; 19])]),
            ..Default::default()
        },
        GetFileLocationsResponse {
            result: Field::Value(GetFileLocationsResults {
                file_locations: Field::list(vec![FileLocation {
                    file_digest: Field::Value(Base64::encode(&[2u8; 20])),
                    url: Field::Value(content_url(&[2u8; 20])),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let a = run(&[&k]);
    assert_eq!(
        violated(&a),
        BTreeSet::from(["C-36", "S-32", "S-33"]),
        "{}",
        a.to_text()
    );
    fires(&a, &["C-36", "S-32", "S-33"]);
    let mut k = first_sync();
    let c = k.issue();
    k.ok(
        GetFileLocations {
            cookie: Field::Value(k.cookie.clone()),
            file_digests: Field::list(vec![Base64::encode(&[2u8; 20])]),
            ..Default::default()
        },
        GetFileLocationsResponse {
            result: Field::Value(GetFileLocationsResults {
                file_locations: Field::list(vec![FileLocation {
                    file_digest: Field::Value(Base64::encode(&[2u8; 20])),
                    url: Field::Value(content_url(&[2u8; 20])),
                    ..Default::default()
                }]),
                new_cookie: Field::Value(c),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    holds(&a, &["C-36", "S-32", "S-33", "T-12"]);
}

#[test]
fn c38_fires_for_refresh_cache_out_of_the_blue() {
    let mut k = first_sync();
    k.ok(
        RefreshCache {
            cookie: Field::Value(k.cookie.clone()),
            ..Default::default()
        },
        RefreshCacheResponse::default(),
    );
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["C-38"]), "{}", a.to_text());
    assert_eq!(of(&a, "C-38").len(), 2, "no fault before, and no globalIDs");
    fires(&a, &["C-38"]);
}

#[test]
fn configuration_rules_s02_s04_s05() {
    let mut k = Kit::new("c.jsonl", 0);
    let mut cfg = wsus_config();
    cfg.auth_info = Field::list(vec![AuthPlugInInfo {
        plug_in_id: Field::Value("Anonymous".into()),
        service_url: Field::Value("/ClientWebService/client.asmx".into()),
        ..Default::default()
    }]);
    cfg.properties = Field::list(vec![ConfigurationProperty {
        name: Field::Value("IsInventoryRequired".into()),
        value: Field::Value("1".into()),
        ..Default::default()
    }]);
    k.config = cfg;
    k.handshake();
    let a = run(&[&k]);
    assert_eq!(
        violated(&a),
        BTreeSet::from(["C-03", "S-02", "S-04", "S-05"]),
        "{}",
        a.to_text()
    );
    fires(&a, &["C-03", "S-02", "S-04", "S-05"]);
    // A 3.2 configuration without PackageServerShare: S-05 (a 3.0+ property missing).
    let mut k = Kit::new("c.jsonl", 0);
    if let Some(p) = k.config.properties.value_mut() {
        p.retain(|p| p.name.value().is_none_or(|n| n != "PackageServerShare"));
    }
    k.handshake();
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["S-05"]), "{}", a.to_text());
    fires(&a, &["S-05"]);
    assert!(
        of(&a, "S-05")[0]
            .observed
            .ends_with("missing [PackageServerShare]"),
        "{}",
        a.to_text()
    );
}

#[test]
fn s10_fires_when_the_server_accepts_invalid_requests() {
    let first = first_sync();
    let diff = differential_with(&first, |page, r| {
        if page == 1 {
            r.parameters.value_mut().unwrap().system_spec = Field::list(vec![Device::default()]);
        }
    });
    let a = run(&[&first, &diff]);
    assert_eq!(
        violated(&a),
        BTreeSet::from(["C-20", "S-10"]),
        "{}",
        a.to_text()
    );
    fires(&a, &["S-10"]);
    // A refused request holds S-10.
    let mut k = first_sync();
    let mut r = k.sync_request(&[1, 2, 3], &[10, 11, 12, 13]);
    r.parameters.value_mut().unwrap().system_spec = Field::list(vec![Device::default()]);
    k.fault(r, ErrorCode::InvalidParameters);
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["C-20"]), "{}", a.to_text());
    holds(&a, &["S-10"]);
}

#[test]
fn sync_content_rules_s14_s18_s19_s21_s26() {
    let mut k = Kit::new("s.jsonl", 0);
    k.handshake();
    let r = k.sync_request(&[], &[]);
    let mut same = update(6, true);
    same.xml = update(5, true).xml; // another revision id, the same UpdateID: S-14
    let mut blocked = update(7, true);
    let dep = blocked.deployment.value_mut().unwrap();
    dep.action = Field::Value(wusp::values::DeploymentAction::Block); // S-19
    dep.last_change_time = Field::Value(wusp::values::Date("2026/10/01".into())); // S-26
    dep.auto_select = Field::Value("1".into()); // S-21
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![update(5, true), same, blocked]),
            ..Default::default()
        },
    );
    // A revision requiring revision 5's UpdateID, which was delivered as a leaf: S-18.
    let r = k.sync_request(&[], &[5, 6, 7]);
    let u8 = requiring(8, 5);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![u8]),
            ..Default::default()
        },
    );
    let a = run(&[&k]);
    let v = violated(&a);
    for rule in ["S-14", "S-18", "S-19", "S-21", "S-26"] {
        assert!(v.contains(rule), "{rule} missing: {}", a.to_text());
    }
    fires(&a, &["S-14", "S-18", "S-19", "S-21", "S-26"]);
    // Both delivered revisions of that UpdateID are wrong.
    assert_eq!(of(&a, "S-18")[0].observed, "5, 6");
}

#[test]
fn s27_fires_for_a_refresh_result_not_requested() {
    let mut k = Kit::new("s.jsonl", 0);
    k.handshake();
    let r = k.sync_request(&[], &[]);
    k.fault(r, ErrorCode::InvalidCookie);
    k.handshake_with(false);
    k.ok(
        RefreshCache {
            cookie: Field::Value(k.cookie.clone()),
            global_ids: Field::list(vec![identity(1)]),
            ..Default::default()
        },
        RefreshCacheResponse {
            result: Field::list(vec![RefreshCacheResult {
                revision_id: Field::Value(9),
                global_id: Field::Value(identity(9)),
                is_leaf: Field::Value(true),
                deployment: update(9, true).deployment,
                ..Default::default()
            }]),
            ..Default::default()
        },
    );
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["S-27"]), "{}", a.to_text());
    fires(&a, &["S-27"]);
}

/// A first sync whose GetExtendedUpdateInfo gives one file (`content`, listed with `size`)
/// at `url`.
fn with_file(content: &[u8], size: u64, url: &str) -> Kit {
    let mut k = first_sync();
    let sha1 = sha1_of(content);
    let fragment = wusp::fragment::ExtendedFragmentBuilder::new()
        .file(wusp::fragment::FileMetadata::from_sha1(
            &sha1, "x.exe", size,
        ))
        .build();
    k.ok(
        GetExtendedUpdateInfo {
            cookie: Field::Value(k.cookie.clone()),
            revision_ids: Field::list(vec![13]),
            info_types: Field::list(vec![wusp::values::XmlUpdateFragmentType::Extended]),
            ..Default::default()
        },
        GetExtendedUpdateInfoResponse {
            result: Field::Value(ExtendedUpdateInfo {
                updates: Field::list(vec![UpdateData {
                    id: Field::Value(13),
                    xml: Field::Value(wusp::values::XmlText::from_text(&fragment)),
                    ..Default::default()
                }]),
                file_locations: Field::list(vec![FileLocation {
                    file_digest: Field::Value(Base64::encode(&sha1)),
                    url: Field::Value(url.into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    k
}

#[test]
fn content_rules_hold_for_a_whole_file_and_fire_on_bad_downloads() {
    let body = b"MZ the update file".to_vec();
    let url = content_url(&sha1_of(&body));
    // Whole file in one 206: T-15 holds, sizes agree.
    let mut k = with_file(&body, body.len() as u64, &url);
    let n = body.len();
    k.content(
        &url,
        Some("bytes=0-"),
        206,
        body.clone(),
        Some(&format!("bytes 0-{}/{n}", n - 1)),
    );
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    assert_eq!(a.summary.unverifiable, 0, "{}", a.to_text());
    // Other bytes under that URL: T-15; a size unlike File/@Size: S-38.
    holds(
        &a,
        &["T-12", "T-14", "T-15", "S-30", "S-38", "S-39", "C-47"],
    );
    let mut k = with_file(&body, 999, &url);
    k.content(&url, None, 200, b"something else".to_vec(), None);
    let a = run(&[&k]);
    assert_eq!(
        violated(&a),
        BTreeSet::from(["S-38", "T-15"]),
        "{}",
        a.to_text()
    );
    fires(&a, &["S-38", "T-15"]);
    // A Range GET answered 200: T-14; a partial range: T-15 unverifiable once.
    let mut k = with_file(&body, n as u64, &url);
    k.content(&url, Some("bytes=0-3"), 200, body.clone(), None);
    k.content(
        &url,
        Some("bytes=0-3"),
        206,
        body[..4].to_vec(),
        Some(&format!("bytes 0-3/{n}")),
    );
    k.content(
        &url,
        Some("bytes=4-7"),
        206,
        body[4..8].to_vec(),
        Some(&format!("bytes 4-7/{n}")),
    );
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["T-14"]), "{}", a.to_text());
    let t15 = of(&a, "T-15");
    fires(&a, &["T-14"]);
    assert_eq!(t15.len(), 1, "{}", a.to_text());
    assert_eq!(t15[0].status, Status::Unverifiable);
}

#[test]
fn location_rules_t14_s39_c47() {
    let body = b"file".to_vec();
    let k = with_file(&body, 4, "ftp://wsus.test/Content/00/x.exe");
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["T-14"]), "{}", a.to_text());
    fires(&a, &["T-14"]);
    let mut k = with_file(&body, 4, "http://cdn.test/files/x.exe");
    k.content(
        "http://wsus.test:8530/Content/AA/other.exe",
        None,
        200,
        body,
        None,
    );
    let a = run(&[&k]);
    assert_eq!(
        violated(&a),
        BTreeSet::from(["C-47", "S-39"]),
        "{}",
        a.to_text()
    );
    fires(&a, &["C-47", "S-39"]);
    assert_eq!(of(&a, "S-39")[0].level, crate::Level::Obs);
}

fn event(
    event_id: i16,
    instance: &str,
    strings: usize,
    misc: &[&str],
    update: &str,
    device: Option<&str>,
) -> ReportingEvent {
    ReportingEvent {
        basic_data: Field::Value(BasicData {
            target_id: Field::Value(ComputerTargetIdentifier {
                sid: Field::Value(CLIENT_ID.into()),
                ..Default::default()
            }),
            sequence_number: Field::Value(0),
            time_at_target: Field::Value(DateTime("2026-09-21T10:00:00Z".into())),
            event_instance_id: Field::Value(wusp::values::Guid(instance.into())),
            namespace_id: Field::Value(1),
            event_id: Field::Value(event_id),
            source_id: Field::Value(101),
            update_id: Field::Value(UpdateRevisionIdentifier {
                update_id: Field::Value(wusp::values::Guid(update.into())),
                revision_number: Field::Value(200),
                ..Default::default()
            }),
            win32_hresult: Field::Value(0),
            ..Default::default()
        }),
        extended_data: Field::Value(ExtendedData {
            replacement_strings: Field::list((0..strings).map(|i| i.to_string()).collect()),
            misc_data: Field::list(misc.iter().map(|m| m.to_string()).collect()),
            processor_architecture: Field::Value(
                wusp::values::ProcessorArchitecture::Amd64Compatible,
            ),
            os_version: Field::Value(ReportingOsVersion {
                major: Field::Value(10),
                minor: Field::Value(0),
                build: Field::Value(26200),
                revision: Field::Value(65792),
                service_pack_major: Field::Value(0),
                service_pack_minor: Field::Value(0),
                ..Default::default()
            }),
            os_locale_id: Field::Value(1033),
            device_id: device.map_or(Field::Absent, |d| Field::Value(d.into())),
            ..Default::default()
        }),
        private_data: Field::Empty,
        ..Default::default()
    }
}

fn report_with(events: Vec<ReportingEvent>) -> Analysis {
    let mut k = first_sync();
    k.ok(
        ReportEventBatch {
            cookie: Field::Value(k.cookie.clone()),
            client_time: Field::Value(DateTime("2026-09-21T10:00:00Z".into())),
            event_batch: Field::list(events),
            ..Default::default()
        },
        ReportEventBatchResponse {
            result: Field::Value(true),
            ..Default::default()
        },
    );
    run(&[&k])
}

#[test]
fn reporting_rules_hold_for_native_events() {
    let u10 = "00000000-0000-0000-0000-000000000010";
    let zero = "00000000-0000-0000-0000-000000000000";
    let a = report_with(vec![
        event(
            147,
            "11111111-1111-1111-1111-111111111111",
            1,
            &["G=1507.2601.30012.0", "J=703"],
            zero,
            None,
        ),
        event(
            162,
            "22222222-2222-2222-2222-222222222222",
            0,
            &["B=2336"],
            u10,
            None,
        ),
        event(
            182,
            "33333333-3333-3333-3333-333333333333",
            2,
            &[],
            u10,
            Some(""),
        ),
    ]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    holds(&a, &["C-42", "C-43", "C-44", "C-45", "C-46", "S-35"]);
}

#[test]
fn reporting_rules_fire_c42_to_c46() {
    let u10 = "00000000-0000-0000-0000-000000000010";
    let same = "11111111-1111-1111-1111-111111111111";
    let mut bad = event(148, same, 0, &["no tag"], u10, Some("1")); // C-44, C-45, C-46
    if let Some(b) = bad.basic_data.value_mut() {
        b.namespace_id = Field::Value(2); // C-42
    }
    let a = report_with(vec![
        event(147, same, 1, &[], u10, None),
        bad,
        event(
            999,
            "44444444-4444-4444-4444-444444444444",
            0,
            &[],
            u10,
            None,
        ), // C-43
    ]);
    assert_eq!(
        violated(&a),
        BTreeSet::from(["C-42", "C-43", "C-44", "C-45", "C-46"]),
        "{}",
        a.to_text()
    );
    fires(&a, &["C-42", "C-43", "C-44", "C-45", "C-46"]);
    let c42 = &of(&a, "C-42")[0].observed;
    assert!(
        c42.contains("NamespaceID") && c42.contains("seen before"),
        "{c42}"
    );
}

#[test]
fn handshake_order_rules_c01_c05() {
    // A fresh first sync that starts with GetAuthorizationCookie: C-01.
    let mut k = Kit::new("o.jsonl", 0);
    k.ok(
        GetAuthorizationCookie {
            client_id: Field::Value(CLIENT_ID.into()),
            dns_name: Field::Value("pc01.test".into()),
            ..Default::default()
        },
        GetAuthorizationCookieResponse::default(),
    );
    let c = k.issue();
    k.ok(
        GetCookie::default(),
        GetCookieResponse {
            result: Field::Value(c.clone()),
            ..Default::default()
        },
    );
    k.cookie = c;
    let r = k.sync_request(&[], &[]);
    k.sync(r, SyncInfo::default());
    let a = run(&[&k]);
    assert!(violated(&a).contains("C-01"), "{}", a.to_text());
    fires(&a, &["C-01"]);
    // GetConfig, then a Client-service call before the authorization: C-05.
    let mut k = Kit::new("o.jsonl", 0);
    k.ok(
        GetConfig {
            protocol_version: Field::Value("2.90".into()),
            ..Default::default()
        },
        GetConfigResponse {
            result: Field::Value(wsus_config()),
            ..Default::default()
        },
    );
    k.register("pc01.test");
    let a = run(&[&k]);
    assert!(violated(&a).contains("C-05"), "{}", a.to_text());
    fires(&a, &["C-05"]);
    assert!(!violated(&a).contains("C-01"));
}

#[test]
fn loop_rules_c25_c29_c48() {
    // A driver delivered in the driver pass, then listed as "other" cached: C-25.
    let mut k = Kit::new("d.jsonl", 0);
    k.handshake();
    let r = k.sync_request(&[], &[]);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![update(10, true)]),
            ..Default::default()
        },
    );
    // One more software call after the loop ended: C-29.
    let r = k.sync_request(&[], &[10]);
    k.sync(r, SyncInfo::default());
    let mut r = k.sync_request(&[], &[]);
    r.parameters.value_mut().unwrap().skip_software_sync = Field::Value(true);
    r.parameters.value_mut().unwrap().system_spec = Field::list(vec![Device::default()]);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![driver(50)]),
            ..Default::default()
        },
    );
    let mut d = k.next_capture("d2.jsonl", 1);
    let mut r = d.sync_request(&[], &[10, 50]);
    r.parameters.value_mut().unwrap().cached_driver_ids = Field::Empty; // C-48 (OBS)
    d.sync(r, SyncInfo::default());
    let a = run(&[&k, &d]);
    assert_eq!(
        violated(&a),
        BTreeSet::from(["C-25", "C-29", "C-48"]),
        "{}",
        a.to_text()
    );
    fires(&a, &["C-25", "C-29", "C-48"]);
    // The driver listed in CachedDriverIDs instead: C-25 holds (C-48 notes the list); the
    // driver pass delivered only a driver, with its HardwareIds: S-17 and S-22 hold.
    let mut d = k.next_capture("d2.jsonl", 1);
    let mut r = d.sync_request(&[], &[10]);
    r.parameters.value_mut().unwrap().cached_driver_ids = Field::list(vec![50]);
    d.sync(r, SyncInfo::default());
    let a = run(&[&k, &d]);
    assert_eq!(
        violated(&a),
        BTreeSet::from(["C-29", "C-48"]),
        "{}",
        a.to_text()
    );
    holds(&a, &["C-25", "S-17", "S-22"]);
    assert_eq!(of(&a, "C-48")[0].level, crate::Level::Obs);
}

#[test]
fn category_scan_rules_c31_c32_c33() {
    let scan = |k: &mut Kit| {
        k.ok(
            StartCategoryScan {
                requested_categories: Field::list(vec![CategoryRelationship {
                    index_of_and_group: Field::Value(0),
                    category_id: Field::Value(wusp::values::Guid(
                        "aaaaaaaa-0000-0000-0000-000000000001".into(),
                    )),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            StartCategoryScanResponse {
                preferred_category_ids: Field::list(vec![wusp::values::Guid(
                    "aaaaaaaa-0000-0000-0000-000000000001".into(),
                )]),
                ..Default::default()
            },
        );
    };
    let filtered = |k: &Kit, id: &str| {
        let mut r = k.sync_request(&[], &[]);
        let p = r.parameters.value_mut().unwrap();
        p.filter_category_ids = Field::list(vec![CategoryIdentifier {
            id: Field::Value(wusp::values::Guid(id.into())),
            ..Default::default()
        }]);
        p.need_two_group_out_of_scope_updates = Field::Value(true);
        r
    };
    // Holds: scan, then a filter from the preferred IDs.
    let mut k = Kit::new("cs.jsonl", 0);
    k.handshake();
    scan(&mut k);
    let r = filtered(&k, "aaaaaaaa-0000-0000-0000-000000000001");
    k.sync(r, SyncInfo::default());
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    holds(&a, &["C-31", "C-32", "C-33", "S-34"]);
    // A filter not preferred: C-32.
    let mut k = Kit::new("cs.jsonl", 0);
    k.handshake();
    scan(&mut k);
    let r = filtered(&k, "bbbbbbbb-0000-0000-0000-000000000002");
    k.sync(r, SyncInfo::default());
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["C-32"]), "{}", a.to_text());
    fires(&a, &["C-32"]);
    // A 3.0 server: no category scan, no filter (C-31, C-33).
    let mut k = Kit::new("cs.jsonl", 0);
    if let Some(p) = k.config.properties.value_mut() {
        p.retain(|p| {
            p.name
                .value()
                .is_some_and(|n| n == "MaxExtendedUpdatesPerRequest")
        });
    }
    k.handshake();
    scan(&mut k);
    let r = filtered(&k, "aaaaaaaa-0000-0000-0000-000000000001");
    k.sync(r, SyncInfo::default());
    let a = run(&[&k]);
    let v = violated(&a);
    assert!(v.contains("C-31") && v.contains("C-33"), "{}", a.to_text());
    fires(&a, &["C-31", "C-33"]);
}

/// A first sync with a file at a location, then a GetExtendedUpdateInfo faulted
/// FileLocationChanged; returns the kit, the file and its (now stale) URL.
fn stale_location() -> (Kit, Vec<u8>, String) {
    let body = b"file".to_vec();
    let url = content_url(&sha1_of(&body));
    let mut k = with_file(&body, 4, &url);
    let req = GetExtendedUpdateInfo {
        cookie: Field::Value(k.cookie.clone()),
        revision_ids: Field::list(vec![13]),
        info_types: Field::list(vec![
            wusp::values::XmlUpdateFragmentType::LocalizedProperties,
        ]),
        locales: Field::list(vec!["en".into()]),
        ..Default::default()
    };
    k.fault(req, ErrorCode::FileLocationChanged);
    (k, body, url)
}

#[test]
fn c35_and_c37_fire() {
    let mut k = first_sync();
    k.ok(
        GetExtendedUpdateInfo2 {
            cookie: Field::Value(k.cookie.clone()),
            update_ids: Field::list(vec![UpdateIdentity {
                update_id: Field::Value(wusp::values::Guid("not-a-guid".into())),
                ..Default::default()
            }]),
            info_types: Field::list(vec![wusp::values::XmlUpdateFragmentType::FileUrl]),
            ..Default::default()
        },
        GetExtendedUpdateInfo2Response::default(),
    );
    let a = run(&[&k]);
    assert!(violated(&a).contains("C-35"), "{}", a.to_text());
    fires(&a, &["C-35"]);

    let (mut k, body, url) = stale_location();
    k.content(&url, None, 200, body, None);
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["C-37"]), "{}", a.to_text());
    fires(&a, &["C-37"]);
}

#[test]
fn c35_and_c37_hold_for_a_well_formed_request_and_fresh_locations() {
    // GetExtendedUpdateInfo2 with an UpdateIdentity and an enumerated infoType: C-35 holds.
    let mut k = first_sync();
    k.ok(
        GetExtendedUpdateInfo2 {
            cookie: Field::Value(k.cookie.clone()),
            update_ids: Field::list(vec![identity(13)]),
            info_types: Field::list(vec![wusp::values::XmlUpdateFragmentType::FileUrl]),
            ..Default::default()
        },
        GetExtendedUpdateInfo2Response {
            result: Field::Value(ExtendedUpdateInfo2::default()),
            ..Default::default()
        },
    );
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    holds(&a, &["C-35"]);
    // FileLocationChanged, then GetFileLocations for the file, then the download: C-37 holds.
    let (mut k, body, url) = stale_location();
    let sha1 = sha1_of(&body);
    let c = k.issue();
    k.ok(
        GetFileLocations {
            cookie: Field::Value(k.cookie.clone()),
            file_digests: Field::list(vec![Base64::encode(&sha1)]),
            ..Default::default()
        },
        GetFileLocationsResponse {
            result: Field::Value(GetFileLocationsResults {
                file_locations: Field::list(vec![FileLocation {
                    file_digest: Field::Value(Base64::encode(&sha1)),
                    url: Field::Value(url.clone()),
                    ..Default::default()
                }]),
                new_cookie: Field::Value(c.clone()),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    k.cookie = c;
    k.content(&url, None, 200, body, None);
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    holds(&a, &["C-37"]);
}

#[test]
fn delivery_rules_s15_s16_s20_s22_s23_t11() {
    let mut k = Kit::new("dl.jsonl", 0);
    k.handshake();
    let r = k.sync_request(&[], &[]);
    // S-15: a core fragment with Files; T-11: an Action outside the enumeration.
    let mut files = update(1, false);
    let text = format!("{}<Files><File Digest=\"x\" /></Files>", core_xml(1, false));
    files.xml = Field::Value(wusp::values::XmlText::from_text(&text));
    let mut odd = update(2, false);
    odd.deployment.value_mut().unwrap().action =
        Field::Value(wusp::values::DeploymentAction::Other("Sometimes".into()));
    // S-20: a category to install; S-22: HardwareIds on software.
    let category = category(3);
    let mut hw = update(4, true);
    hw.deployment.value_mut().unwrap().hardware_ids = Field::list(vec!["PCI\\X".into()]);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![files, odd, category, hw]),
            driver_sync_not_needed: Field::Value("maybe".into()), // S-23
            ..Default::default()
        },
    );
    // S-16: a revision requiring an UpdateID the request does not list as installed.
    let r = k.sync_request(&[1], &[2, 3, 4]);
    let u9 = requiring(9, 3);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![u9]),
            ..Default::default()
        },
    );
    let a = run(&[&k]);
    let v = violated(&a);
    for rule in ["S-15", "S-16", "S-20", "S-22", "S-23", "T-11"] {
        assert!(v.contains(rule), "{rule} missing: {}", a.to_text());
    }
    fires(&a, &["S-15", "S-16", "S-20", "S-22", "S-23", "T-11"]);
    assert_eq!(of(&a, "S-16")[0].observed, "9");
}

#[test]
fn delivery_rules_hold_for_prerequisites_categories_and_the_driver_flag() {
    let mut k = Kit::new("dh.jsonl", 0);
    k.handshake();
    // A category root with Action Evaluate (S-20), non-leaf since 9 requires it (S-18).
    let mut category = category(3);
    category.deployment.value_mut().unwrap().action =
        Field::Value(wusp::values::DeploymentAction::Evaluate);
    let r = k.sync_request(&[], &[]);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![category]),
            ..Default::default()
        },
    );
    // 9 requires 3's UpdateID, which the request lists as installed: S-16.
    let u9 = requiring(9, 3);
    let r = k.sync_request(&[3], &[]);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![u9]),
            ..Default::default()
        },
    );
    // The driver pass says no driver is needed, within the version gates: S-23.
    let mut r = k.sync_request(&[3], &[9]);
    let p = r.parameters.value_mut().unwrap();
    p.skip_software_sync = Field::Value(true);
    p.system_spec = Field::list(vec![Device::default()]);
    k.sync(
        r,
        SyncInfo {
            driver_sync_not_needed: Field::Value("true".into()),
            ..Default::default()
        },
    );
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    holds(&a, &["S-16", "S-18", "S-20", "S-23"]);
}

#[test]
fn answer_rules_t05_s03_s29_s30_s34() {
    let mut k = Kit::new("ans.jsonl", 0);
    let mut cfg = wsus_config();
    if let Some(a) = cfg.auth_info.value_mut() {
        a[0].parameter = Field::Empty; // S-03 (spec profile only, as OBS)
    }
    k.config = cfg;
    k.handshake();
    // StartCategoryScan answering a category that was not requested: S-34.
    k.ok(
        StartCategoryScan {
            requested_categories: Field::list(vec![]),
            ..Default::default()
        },
        StartCategoryScanResponse {
            preferred_category_ids: Field::list(vec![wusp::values::Guid(
                "aaaaaaaa-0000-0000-0000-000000000001".into(),
            )]),
            ..Default::default()
        },
    );
    let r = k.sync_request(&[], &[]);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![update(10, true)]),
            ..Default::default()
        },
    );
    // Extended info: a Eula fragment not requested (S-29), a file without location (S-30).
    k.ext_unlocated_file(
        10,
        vec![UpdateData {
            id: Field::Value(10),
            xml: Field::Value(wusp::values::XmlText::from_text(
                "<LocalizedProperties><Language>de</Language><Title>t</Title></LocalizedProperties>",
            )),
            ..Default::default()
        }],
    );
    // A ReportEventBatch answer without its result: T-05 (and S-35; T-10, the result is
    // required by the WSDL).
    k.ok(
        ReportEventBatch {
            cookie: Field::Value(k.cookie.clone()),
            client_time: Field::Value(DateTime("2026-09-21T10:00:00Z".into())),
            event_batch: Field::Empty,
            ..Default::default()
        },
        ReportEventBatchResponse::default(),
    );
    let a = run(&[&k]);
    assert_eq!(
        violated(&a),
        BTreeSet::from(["S-29", "S-30", "S-34", "S-35", "T-05", "T-10"]),
        "{}",
        a.to_text()
    );
    fires(&a, &["S-29", "S-30", "S-34", "S-35", "T-05"]);
    let spec = analyze(
        &[&k],
        &Options {
            profile: Profile::Spec,
            ..Default::default()
        },
    );
    assert_eq!(of(&spec, "S-03")[0].level, crate::Level::Obs);
    fires(&spec, &["S-03"]);
}

/// A handshake, then a GetConfig showing a newer LastChange (the cookie is older).
fn config_changed_later() -> Kit {
    let mut k = Kit::new("cc.jsonl", 0);
    k.handshake();
    let mut cfg = wsus_config();
    cfg.last_change = Field::Value(DateTime("2026-09-20T00:00:00Z".into()));
    k.ok(
        GetConfig {
            protocol_version: Field::Value("2.90".into()),
            ..Default::default()
        },
        GetConfigResponse {
            result: Field::Value(cfg),
            ..Default::default()
        },
    );
    k
}

#[test]
fn configuration_change_rules_s08_s37() {
    // GetCookie with an old lastChange answered normally, then a normal SyncUpdates: S-08.
    let mut k = Kit::new("cc.jsonl", 0);
    k.handshake();
    let c = k.issue();
    k.ok(
        GetCookie {
            auth_cookies: Field::Absent,
            last_change: Field::Value(DateTime("2020-01-01T00:00:00Z".into())),
            ..Default::default()
        },
        GetCookieResponse {
            result: Field::Value(c.clone()),
            ..Default::default()
        },
    );
    k.cookie = c;
    let r = k.sync_request(&[], &[]);
    k.sync(r, SyncInfo::default());
    let a = run(&[&k]);
    let v = violated(&a);
    assert!(v.contains("S-08") && v.contains("S-37"), "{}", a.to_text());
    fires(&a, &["S-08", "S-37"]);
    // A later GetConfig shows a new LastChange; the old cookie is still accepted: S-37.
    let mut k = config_changed_later();
    let r = k.sync_request(&[], &[]);
    k.sync(r, SyncInfo::default());
    let a = run(&[&k]);
    assert!(violated(&a).contains("S-37"), "{}", a.to_text());
    // Answered with ConfigChanged instead: both hold.
    let mut k = config_changed_later();
    let r = k.sync_request(&[], &[]);
    k.fault(r, ErrorCode::ConfigChanged);
    let a = run(&[&k]);
    let v = violated(&a);
    assert!(
        !v.contains("S-37") && !v.contains("S-08"),
        "{}",
        a.to_text()
    );
    holds(&a, &["S-08", "S-37"]);
}

#[test]
fn s36_fires_for_an_expired_cookie_answered_with_another_fault() {
    let first = first_sync();
    let mut late = first.next_capture("late.jsonl", 3);
    let r = late.sync_request(&[1, 2, 3], &[10, 11, 12, 13]);
    late.fault(r, ErrorCode::InternalServerError);
    let a = run(&[&first, &late]);
    assert_eq!(
        violated(&a),
        BTreeSet::from(["C-16", "S-36"]),
        "{}",
        a.to_text()
    );
    fires(&a, &["S-36"]);
    let mut late = first.next_capture("late.jsonl", 3);
    let r = late.sync_request(&[1, 2, 3], &[10, 11, 12, 13]);
    late.fault(r, ErrorCode::CookieExpired);
    let a = run(&[&first, &late]);
    assert_eq!(violated(&a), BTreeSet::from(["C-16"]), "{}", a.to_text());
    holds(&a, &["S-36"]);
}

#[test]
fn t04_fires_for_an_element_outside_the_service_namespace() {
    let mut k = Kit::new("ns.jsonl", 0);
    k.handshake();
    let body = format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><GetConfig xmlns=\"{}\"><x:protocolVersion xmlns:x=\"urn:other\">2.90</x:protocolVersion></GetConfig></s:Body></s:Envelope>",
        wusp::Operation::GetConfig.service().namespace()
    );
    let reply = wusp::Envelope::response(GetConfigResponse {
        result: Field::Value(wsus_config()),
        ..Default::default()
    })
    .encode();
    k.raw(
        wusp::Operation::GetConfig,
        body.into_bytes(),
        200,
        reply.into_bytes(),
    );
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["T-04"]), "{}", a.to_text());
    assert!(of(&a, "T-04")[0].observed.contains("urn:other"));
    fires(&a, &["T-04"]);
}

#[test]
fn two_clients_at_one_address_are_two_clients() {
    let a_kit = first_sync();
    let mut b = Kit::new("b.jsonl", 0);
    b.client_id = "5b1e6d0c-1111-4222-8333-944455556666".into();
    b.cookie = Cookie::default();
    b.handshake();
    let r = b.sync_request(&[], &[]);
    b.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![update(1, false)]),
            ..Default::default()
        },
    );
    let r = b.sync_request(&[1], &[]);
    b.sync(r, SyncInfo::default());
    b.driver_pass(&[1]);
    let a = run(&[&a_kit, &b]);
    let clients: BTreeSet<&str> = a.sessions.iter().map(|s| s.client.as_str()).collect();
    assert_eq!(clients.len(), 2, "{}", a.to_text());
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
}

#[test]
fn a_capture_starting_with_a_re_handshake_is_not_taken_for_first_contact() {
    // The client had synced and registered before this capture; it starts with GetConfig
    // (e.g. after ConfigChanged), passes its old cookie, and sends its cache.
    let first = first_sync();
    let mut d = first.next_capture("again.jsonl", 1);
    let old = d.cookie.clone();
    d.ok(
        GetConfig {
            protocol_version: Field::Value("2.90".into()),
            ..Default::default()
        },
        GetConfigResponse {
            result: Field::Value(wsus_config()),
            ..Default::default()
        },
    );
    get_cookie(&mut d, Field::Absent, Field::Value(old));
    let r = d.sync_request(&[1, 2, 3], &[10, 11, 12, 13]);
    d.sync(r, SyncInfo::default());
    let a = run(&[&d]);
    let v = violated(&a);
    assert!(
        !v.contains("C-10") && !v.contains("C-08") && !v.contains("C-21"),
        "{}",
        a.to_text()
    );
    assert_eq!(of(&a, "C-08")[0].status, Status::Unverifiable);
}

#[test]
fn progress_reaches_the_inputs_total_size() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../captures/samples/");
    let paths = [
        format!("{dir}first-sync.jsonl"),
        format!("{dir}differential-sync.jsonl"),
    ];
    let total: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let mut seen = Vec::new();
    let a = crate::analyze_with_progress(&paths, &crate::Options::default(), &mut |p| seen.push(p))
        .unwrap();
    assert_eq!(a.sessions.len(), 2);
    // One report at the end of each input; the last one has read everything.
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|p| p.total == total && p.read <= total));
    assert!(seen[0].read < total && seen[0].read > 0, "{seen:?}");
    assert_eq!(seen[1].read, total);
}

/// `kits` analyzed in `profile`.
fn run_in(profile: Profile, kits: &[&Kit]) -> Analysis {
    analyze(
        kits,
        &Options {
            profile,
            ..Options::default()
        },
    )
}

/// Asserts that `rule` holds on the clean first and differential sync in both profiles.
fn holds_on_clean_syncs_in_both_profiles(rule: &'static str) {
    let first = first_sync();
    let diff = differential(&first);
    for profile in [Profile::Native, Profile::Spec] {
        holds(&run_in(profile, &[&first, &diff]), &[rule]);
    }
}

/// `text` with `moved` taken out and put back right before `before`.
fn move_before(text: &str, moved: &str, before: &str) -> String {
    assert!(text.contains(moved) && text.contains(before), "{text}");
    let out = text.replacen(moved, "", 1);
    out.replacen(before, &format!("{moved}{before}"), 1)
}

#[test]
fn t13_fires_for_swapped_elements_and_holds_in_schema_order() {
    // Holds: every message built from wusp types is in schema order, in both profiles.
    holds_on_clean_syncs_in_both_profiles("T-13");
    // Fires: the request's ExpressQuery after SkipSoftwareSync, the response's Truncated
    // ahead of NewUpdates; the messages are otherwise the same.
    let mut k = Kit::new("order.jsonl", 0);
    k.handshake();
    let req = wusp::Envelope::request(k.sync_request(&[], &[])).encode();
    let req = move_before(&req, "<ExpressQuery>false</ExpressQuery>", "</parameters>");
    let cookie = k.issue();
    let resp = wusp::Envelope::response(SyncUpdatesResponse {
        result: Field::Value(SyncInfo {
            new_updates: Field::list(vec![update(10, true)]),
            truncated: Field::Value(false),
            new_cookie: Field::Value(cookie.clone()),
            ..Default::default()
        }),
        ..Default::default()
    })
    .encode();
    let resp = move_before(&resp, "<Truncated>false</Truncated>", "<NewUpdates>");
    let id = k.raw(
        wusp::Operation::SyncUpdates,
        req.into_bytes(),
        200,
        resp.into_bytes(),
    );
    k.cookie = cookie;
    for profile in [Profile::Native, Profile::Spec] {
        let a = analyze(
            &[&k],
            &Options {
                profile,
                ..Options::default()
            },
        );
        // The spec profile adds C-09 (protocolVersion 2.90, not 1.8); nothing else fires.
        let mut expected = BTreeSet::from(["T-13"]);
        if profile == Profile::Spec {
            expected.insert("C-09");
        }
        assert_eq!(violated(&a), expected, "{}", a.to_text());
        fires(&a, &["T-13"]);
        let t13 = of(&a, "T-13");
        assert_eq!(t13.len(), 2, "{}", a.to_text());
        assert_eq!(t13[0].exchanges, std::slice::from_ref(&id));
        assert_eq!(
            t13[0].message,
            "SyncUpdates request: <ExpressQuery> comes after <SkipSoftwareSync> in <SyncUpdates/parameters>"
        );
        assert_eq!(
            t13[0].expected,
            "<ExpressQuery> before <SkipSoftwareSync> (schema sequence of SyncUpdates/parameters)"
        );
        assert_eq!(t13[0].observed, "<SkipSoftwareSync> before <ExpressQuery>");
        assert_eq!(
            t13[1].message,
            "SyncUpdates response: <NewUpdates> comes after <Truncated> in <SyncUpdatesResponse/SyncUpdatesResult>"
        );
    }
}

/// A handshake, then what `edit` records, analyzed in `profile`.
fn t10_case(profile: Profile, edit: impl FnOnce(&mut Kit)) -> Analysis {
    let mut k = Kit::new("t10.jsonl", 0);
    k.handshake();
    edit(&mut k);
    run_in(profile, &[&k])
}

#[test]
fn t10_fires_for_values_outside_their_wsdl_type_and_missing_required_elements() {
    // Holds: every message built from wusp types conforms, in both profiles.
    holds_on_clean_syncs_in_both_profiles("T-10");
    let bad_int = |k: &mut Kit| {
        let mut u = update(10, true);
        if let Some(d) = u.deployment.value_mut() {
            d.id = Field::Invalid("1e5".into());
        }
        let r = k.sync_request(&[], &[]);
        k.sync(
            r,
            SyncInfo {
                new_updates: Field::list(vec![u]),
                ..Default::default()
            },
        );
    };
    let bad_bool = |k: &mut Kit| {
        let mut r = k.sync_request(&[], &[]);
        if let Some(p) = r.parameters.value_mut() {
            p.express_query = Field::Invalid("no".into());
        }
        k.sync(r, SyncInfo::default());
    };
    let bad_guid = |k: &mut Kit| {
        let e = event(
            147,
            "{11111111-1111-1111-1111-111111111111}",
            1,
            &[],
            "00000000-0000-0000-0000-000000000000",
            None,
        );
        k.ok(
            ReportEventBatch {
                cookie: Field::Value(k.cookie.clone()),
                client_time: Field::Value(DateTime("2026-09-21T10:00:00Z".into())),
                event_batch: Field::list(vec![e]),
                ..Default::default()
            },
            ReportEventBatchResponse {
                result: Field::Value(true),
                ..Default::default()
            },
        );
    };
    let bad_base64 = |k: &mut Kit| {
        let r = k.sync_request(&[], &[]);
        let mut cookie = k.issue();
        // Unpadded: not in the xs:base64Binary lexical space.
        cookie.encrypted_data = Field::Value(Base64("Y29va2llLTE".into()));
        k.ok(
            r,
            SyncUpdatesResponse {
                result: Field::Value(SyncInfo {
                    truncated: Field::Value(false),
                    new_cookie: Field::Value(cookie),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
    };
    let missing = |k: &mut Kit| {
        let mut u = update(10, true);
        if let Some(d) = u.deployment.value_mut() {
            d.is_assigned = Field::Absent;
        }
        u.is_leaf = Field::Absent;
        let r = k.sync_request(&[], &[]);
        k.sync(
            r,
            SyncInfo {
                new_updates: Field::list(vec![u]),
                ..Default::default()
            },
        );
    };
    // Each case with the rule the same defect also breaks, where there is one: ExpressQuery
    // MUST be false (C-19), EventInstanceID MUST be a GUID (C-42), NewCookie MUST be a
    // cookie (S-09), a Deployment MUST be complete (S-13).
    type Case<'a> = (&'a dyn Fn(&mut Kit), &'a [&'static str], &'a str, &'a str);
    let cases: [Case; 5] = [
        (
            &bad_int,
            &[],
            "SyncUpdates response: <ID> in <SyncUpdatesResponse/SyncUpdatesResult/NewUpdates/UpdateInfo/Deployment> holds \"1e5\", not an xs:int",
            "\"1e5\"",
        ),
        (
            &bad_bool,
            &["C-19"],
            "SyncUpdates request: <ExpressQuery> in <SyncUpdates/parameters> holds \"no\", not an xs:boolean",
            "\"no\"",
        ),
        (
            &bad_guid,
            &["C-42"],
            "ReportEventBatch request: <EventInstanceID> in <ReportEventBatch/eventBatch/ReportingEvent/BasicData> holds \"{11111111-1111-1111-1111-111111111111}\", not an s2:guid",
            "\"{11111111-1111-1111-1111-111111111111}\"",
        ),
        (
            &bad_base64,
            &["S-09"],
            "SyncUpdates response: <EncryptedData> in <SyncUpdatesResponse/SyncUpdatesResult/NewCookie> holds \"Y29va2llLTE\", not an xs:base64Binary",
            "\"Y29va2llLTE\"",
        ),
        (
            &missing,
            &["S-13"],
            "SyncUpdates response: <SyncUpdatesResponse/SyncUpdatesResult/NewUpdates/UpdateInfo/Deployment> has no <IsAssigned> (minOccurs=1)",
            "no <IsAssigned> (and 1 more)",
        ),
    ];
    for (case, also, message, observed) in cases {
        for profile in [Profile::Native, Profile::Spec] {
            let a = t10_case(profile, case);
            // The spec profile adds C-09 (protocolVersion 2.90, not 1.8).
            let mut expected = BTreeSet::from(["T-10"]);
            expected.extend(also);
            if profile == Profile::Spec {
                expected.insert("C-09");
            }
            assert_eq!(violated(&a), expected, "{}", a.to_text());
            fires(&a, &["T-10"]);
            let t10 = of(&a, "T-10");
            assert_eq!(
                t10.len(),
                1,
                "one finding per message side: {}",
                a.to_text()
            );
            assert_eq!(t10[0].message, message);
            assert_eq!(t10[0].observed, observed);
            assert!(t10[0].expected.ends_with("per the WSDL (both profiles)"));
            assert_eq!(t10[0].exchanges.len(), 1);
        }
    }
    let a = t10_case(Profile::Native, missing);
    assert_eq!(
        of(&a, "T-10")[0].expected,
        "<IsAssigned> present (minOccurs=1), per the WSDL (both profiles)"
    );
}

#[test]
fn c21_fires_when_a_cache_followed_from_its_start_is_empty_and_holds_otherwise() {
    // A first sync that brings nothing: the cache, followed from its first call, is empty.
    let mut k = Kit::new("empty.jsonl", 0);
    k.handshake();
    let r = k.sync_request(&[], &[]);
    k.sync(r, SyncInfo::default());
    // Holds: the next session's first call lists nothing either.
    let mut quiet = k.next_capture("quiet.jsonl", 1);
    let r = quiet.sync_request(&[], &[]);
    quiet.sync(r, SyncInfo::default());
    let a = run(&[&k, &quiet]);
    assert_eq!(violated(&a), BTreeSet::new(), "{}", a.to_text());
    holds(&a, &["C-21"]);
    // Fires: it lists installed non-leaf revisions out of an empty cache (C-22 agrees).
    let mut later = k.next_capture("later.jsonl", 1);
    let r = later.sync_request(&[7, 8], &[]);
    let id = later.sync(r, SyncInfo::default());
    let a = run(&[&k, &later]);
    assert_eq!(
        violated(&a),
        BTreeSet::from(["C-21", "C-22"]),
        "{}",
        a.to_text()
    );
    fires(&a, &["C-21"]);
    let c21 = of(&a, "C-21");
    assert_eq!(c21.len(), 1, "{}", a.to_text());
    assert_eq!(c21[0].exchanges, [id]);
    assert_eq!(c21[0].observed, "installed: 7, 8");
    // Holds: a real differential sync lists a cache Known is not empty for.
    let first = first_sync();
    holds(&run(&[&first, &differential(&first)]), &["C-21"]);
}

#[test]
fn t01_and_t02_fire_for_a_soap12_envelope_and_a_header() {
    let mut k = Kit::new("env.jsonl", 0);
    k.handshake();
    let reply = wusp::Envelope::response(GetConfigResponse {
        result: Field::Value(wsus_config()),
        ..Default::default()
    })
    .encode();
    let get_config = wusp::Envelope::request(GetConfig {
        protocol_version: Field::Value("2.90".into()),
        ..Default::default()
    })
    .encode();
    assert!(get_config.contains("<s:Body"), "{get_config}");
    let header = get_config.replacen("<s:Body", "<s:Header /><s:Body", 1);
    let soap12 = get_config.replacen(
        "http://schemas.xmlsoap.org/soap/envelope/",
        "http://www.w3.org/2003/05/soap-envelope",
        1,
    );
    let op = wusp::Operation::GetConfig;
    let with_header = k.raw(op, header.into_bytes(), 200, reply.clone().into_bytes());
    let with_soap12 = k.raw(op, soap12.into_bytes(), 200, reply.into_bytes());
    let a = run(&[&k]);
    fires(&a, &["T-01", "T-02"]);
    let t01 = of(&a, "T-01");
    assert_eq!(t01.len(), 1, "{}", a.to_text());
    assert_eq!(t01[0].exchanges, [with_soap12]);
    let t02 = of(&a, "T-02");
    assert_eq!(t02.len(), 1, "{}", a.to_text());
    assert_eq!(t02[0].exchanges, [with_header]);
    // Holds: SOAP 1.1 without a Header everywhere in a clean capture.
    let first = first_sync();
    let a = run(&[&first, &differential(&first)]);
    holds(&a, &["T-01", "T-02"]);
}

#[test]
fn s31_fires_when_extended_info_without_info_types_is_answered_and_holds_when_refused() {
    let request = |k: &Kit| GetExtendedUpdateInfo {
        cookie: Field::Value(k.cookie.clone()),
        revision_ids: Field::list(vec![10]),
        ..Default::default()
    };
    let mut k = first_sync();
    let req = request(&k);
    let answer = GetExtendedUpdateInfoResponse {
        result: Field::Value(ExtendedUpdateInfo::default()),
        ..Default::default()
    };
    let id = k.ok(req, answer);
    let a = run(&[&k]);
    assert_eq!(
        violated(&a),
        BTreeSet::from(["C-34", "S-31"]),
        "{}",
        a.to_text()
    );
    fires(&a, &["S-31"]);
    let s31 = of(&a, "S-31");
    assert_eq!(s31.len(), 1, "{}", a.to_text());
    assert_eq!(s31[0].exchanges, [id]);
    assert_eq!(s31[0].observed, "a normal answer");
    // Holds: the server refuses it with InvalidParameters (the client is still wrong).
    let mut k = first_sync();
    let req = request(&k);
    k.fault(req, ErrorCode::InvalidParameters);
    let a = run(&[&k]);
    assert_eq!(violated(&a), BTreeSet::from(["C-34"]), "{}", a.to_text());
    holds(&a, &["S-31"]);
}

/// The tests that show rules firing and holding through [`fires`], [`flags`] and [`holds`]
/// (each also runs on its own).
const RULE_TESTS: &[fn()] = &[
    clean_first_and_differential_sync_hold_every_rule,
    differential_alone_is_unverifiable_not_passed,
    c27_fires_when_the_cached_lists_are_emptied,
    c15_fires_for_a_superseded_cookie,
    c28_fires_when_the_last_page_is_removed,
    c28_fires_for_a_driver_pass_after_a_non_leaf_page,
    c22_fires_for_extended_info_before_the_sync,
    c49_fires_for_extended_info_asked_again_and_holds_after_changed_updates,
    s11_fires_when_the_server_resends_a_cached_revision,
    t10_fires_for_a_request_body_cut_mid_xml,
    transport_rules_fire_on_bad_framing,
    t08_fires_for_xpress_not_offered,
    handshake_rules_fire_on_a_bad_handshake_and_hold_on_a_good_one,
    client_id_dns_and_registration_rules,
    sync_request_rules_fire,
    c14_fires_and_c21_is_unverifiable,
    c30_fires_for_a_second_driver_pass,
    c34_fires_for_too_many_revisions_and_missing_locales,
    server_sync_rules_fire,
    server_handshake_and_extended_rules_fire,
    faults_answer_with_500_and_a_wusp_detail,
    recovery_after_invalid_cookie_rekeys_the_cache_without_findings,
    c17_and_c18_fire_for_a_needless_handshake_in_a_differential_sync,
    recovery_rules_c39_c40_c41,
    c16_fires_for_an_expired_cookie,
    registration_rules_c10_c11_c12,
    cookie_and_version_rules_c08_c09,
    file_location_rules_c36_s32_s33,
    c38_fires_for_refresh_cache_out_of_the_blue,
    configuration_rules_s02_s04_s05,
    s10_fires_when_the_server_accepts_invalid_requests,
    sync_content_rules_s14_s18_s19_s21_s26,
    s27_fires_for_a_refresh_result_not_requested,
    content_rules_hold_for_a_whole_file_and_fire_on_bad_downloads,
    location_rules_t14_s39_c47,
    reporting_rules_hold_for_native_events,
    reporting_rules_fire_c42_to_c46,
    handshake_order_rules_c01_c05,
    loop_rules_c25_c29_c48,
    category_scan_rules_c31_c32_c33,
    c35_and_c37_fire,
    c35_and_c37_hold_for_a_well_formed_request_and_fresh_locations,
    delivery_rules_s15_s16_s20_s22_s23_t11,
    delivery_rules_hold_for_prerequisites_categories_and_the_driver_flag,
    answer_rules_t05_s03_s29_s30_s34,
    configuration_change_rules_s08_s37,
    s36_fires_for_an_expired_cookie_answered_with_another_fault,
    t04_fires_for_an_element_outside_the_service_namespace,
    t13_fires_for_swapped_elements_and_holds_in_schema_order,
    t10_fires_for_values_outside_their_wsdl_type_and_missing_required_elements,
    c21_fires_when_a_cache_followed_from_its_start_is_empty_and_holds_otherwise,
    t01_and_t02_fire_for_a_soap12_envelope_and_a_header,
    s31_fires_when_extended_info_without_info_types_is_answered_and_holds_when_refused,
];

/// The acceptance "each rule has a test where it fires and one where it holds", checked:
/// runs [`RULE_TESTS`] on this thread and asks each checked rule of the catalogue for a
/// fires case and a holds case among the assertions they made.
#[test]
fn every_checked_rule_has_a_test_where_it_fires_and_one_where_it_holds() {
    SHOWN.with(|s| s.borrow_mut().clear());
    for test in RULE_TESTS {
        test();
    }
    let shown = SHOWN.with(|s| s.borrow().clone());
    let mut missing = Vec::new();
    for rule in crate::catalogue::RULES {
        for case in [Shown::Fires, Shown::Holds] {
            let has = shown.contains(&(rule.id, case));
            if rule.check.is_checked() && !has {
                missing.push(format!("{} {case:?}", rule.id));
            }
            assert!(
                rule.check.is_checked() || !has,
                "{} is not checked but a test shows it {case:?}",
                rule.id
            );
        }
    }
    assert!(
        missing.is_empty(),
        "checked rules without a test case: {missing:?}"
    );
}
