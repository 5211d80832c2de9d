//! `wutap replay --categories` against `wutap serve` over real sockets: a category-limited
//! scan (reference 5.7) as a first sync, then from a full cache, and its errors.

use std::path::Path;

use wusp::{Body, Operation, Request, Response};

use crate::replay_cmd::{exchanges, serve};
use crate::util::*;

/// The UpdateID of the first Product category of the catalog `wutap serve --seed 7
/// --catalog-size 200` generates.
fn product() -> String {
    product_category(200, 7)
}

fn calls(path: &Path) -> Vec<(Operation, Request, Body)> {
    exchanges(path)
        .iter()
        .map(|e| {
            let Body::Request(req) = captures::wire::request_envelope(e)
                .expect("request decodes")
                .body
            else {
                panic!("exchange {} is not a request", e.id)
            };
            let reply = captures::wire::response_envelope(e)
                .expect("response decodes")
                .body;
            (req.operation(), req, reply)
        })
        .collect()
}

/// `wutap replay --server URL --state STATE --capture CAPTURE EXTRA...`.
fn replay(url: &str, state: &Path, capture: &Path, extra: &[&str]) -> std::process::Output {
    let (state, capture) = (
        state.to_str().expect("utf-8 path"),
        capture.to_str().expect("utf-8 path"),
    );
    let mut args = vec![
        "replay",
        "--server",
        url,
        "--state",
        state,
        "--capture",
        capture,
    ];
    args.extend(extra);
    run(&args)
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(stdout(out).trim()).expect("one JSON document")
}

#[test]
fn category_scan_against_wutap_serve() {
    let server = serve(&[]);
    let url = format!("http://{}", server.http);
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("client.json");
    let c1 = dir.path().join("c1.jsonl");
    let product = product();

    let out = replay(
        &url,
        &state,
        &c1,
        &["--fresh", "--categories", &product, "--format", "json"],
    );
    assert_code(&out, 0);
    let j = json(&out);
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(j["deployed_out_of_scope"], 0, "{j}");

    let calls1 = calls(&c1);
    let ops: Vec<Operation> = calls1.iter().map(|c| c.0).collect();
    use Operation::*;
    assert_eq!(
        &ops[..6],
        &[
            GetConfig,
            GetAuthorizationCookie,
            GetCookie,
            RegisterComputer,
            StartCategoryScan,
            SyncUpdates
        ],
        "{ops:?}"
    );
    let (_, Request::StartCategoryScan(scan), Body::Response(Response::StartCategoryScan(answer))) =
        &calls1[4]
    else {
        panic!("StartCategoryScan exchange: {:?}", calls1[4].2)
    };
    let asked: Vec<String> = scan
        .requested_categories
        .items()
        .iter()
        .map(|r| r.category_id.value().expect("CategoryId").normalized())
        .collect();
    assert_eq!(asked, vec![product.clone()]);
    let preferred: Vec<String> = answer
        .preferred_category_ids
        .items()
        .iter()
        .map(|g| g.normalized())
        .collect();
    assert!(!preferred.is_empty());
    // C-31/C-32: every software page filtered by the preferred ids, with the two-group flag.
    let mut software = 0;
    for (_, req, _) in &calls1 {
        if let Request::SyncUpdates(r) = req {
            let p = r.parameters.value().expect("parameters");
            let filter: Vec<String> = p
                .filter_category_ids
                .items()
                .iter()
                .map(|c| c.id.value().expect("Id").normalized())
                .collect();
            if p.skip_software_sync.value() == Some(&false) {
                software += 1;
                assert_eq!(filter, preferred);
                assert_eq!(p.need_two_group_out_of_scope_updates.value(), Some(&true));
            } else {
                assert!(filter.is_empty(), "driver pass unfiltered");
            }
        }
    }
    assert!(software >= 2, "{ops:?}");
    let filtered = replay::client::ClientState::load(&state).expect("state");

    // A regular sync from that state: no StartCategoryScan, no filter, a larger cache.
    let c2 = dir.path().join("c2.jsonl");
    let out = replay(&url, &state, &c2, &[]);
    assert_code(&out, 0);
    let calls2 = calls(&c2);
    assert!(calls2.iter().all(|c| c.0 != StartCategoryScan));
    for (_, req, _) in &calls2 {
        if let Request::SyncUpdates(r) = req {
            let p = r.parameters.value().expect("parameters");
            assert!(p.filter_category_ids.items().is_empty());
            assert!(p.need_two_group_out_of_scope_updates.is_absent());
        }
    }
    let full = replay::client::ClientState::load(&state).expect("state");
    assert!(full.revisions.len() > filtered.revisions.len());

    // The category scan again, now from the full cache: what lies outside the filter is
    // reported as deployed out of scope and stays cached.
    let c3 = dir.path().join("c3.jsonl");
    let out = replay(&url, &state, &c3, &["--categories", &product]);
    assert_code(&out, 0);
    let text = stdout(&out);
    let deployed_oos: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("deployed out of scope:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(deployed_oos > 0, "{text}");
    let calls3 = calls(&c3);
    assert_eq!(calls3[0].0, StartCategoryScan);
    assert!(
        calls3.iter().all(|c| c.0 != GetConfig),
        "a valid cookie: no handshake"
    );
    let after = replay::client::ClientState::load(&state).expect("state");
    assert_eq!(after.revisions.len(), full.revisions.len());
}

#[test]
fn category_scan_errors_name_the_category() {
    // A malformed GUID is refused before anything is sent.
    let out = run(&[
        "replay",
        "--server",
        "http://127.0.0.1:9",
        "--fresh",
        "--categories",
        "not-a-guid",
    ]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("not-a-guid"), "{}", stderr(&out));

    // A category the server does not know: the run fails naming it.
    let server = serve(&[]);
    let url = format!("http://{}", server.http);
    let unknown = "dd78b8a1-0b20-45c1-add6-4da72e9364cf";
    let out = run(&[
        "replay",
        "--server",
        &url,
        "--fresh",
        "--categories",
        unknown,
    ]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains(unknown), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("StartCategoryScan"),
        "{}",
        stderr(&out)
    );
}
