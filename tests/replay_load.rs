//! `wutap replay --clients N`: simulated clients against `wutap serve`.

use crate::replay_cmd::{exchanges, serve};
use crate::util::*;

/// Runs a load and parses its JSON summary.
fn load(args: &[&str], code: i32) -> serde_json::Value {
    let mut all = vec!["replay", "--format", "json"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert_code(&out, code);
    serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", stdout(&out), stderr(&out)))
}

#[test]
fn two_hundred_clients_sync_twice_without_errors() {
    let server = serve(&["--catalog-size", "20"]);
    let url = format!("http://{}", server.http);
    let r = load(
        &[
            "--server",
            &url,
            "--clients",
            "200",
            "--syncs",
            "2",
            "--seed",
            "9",
        ],
        0,
    );
    assert_eq!(r["syncs_ok"], 400, "{r}");
    assert_eq!(r["syncs_failed"], 0, "{r}");
    assert_eq!(r["transport_errors"], 0, "{r}");
    assert_eq!(r["faults"], serde_json::json!({}), "{r}");
    // A first sync has more calls than the handshake; a differential one at least one.
    assert!(r["requests"].as_u64().expect("requests") > 400 * 2, "{r}");
    assert!(r["latency_ms"]["p50"].as_f64().expect("p50") > 0.0, "{r}");
    assert!(
        r["latency_ms"]["p99"].as_f64() <= r["latency_ms"]["max"].as_f64(),
        "{r}"
    );
    // Every client received the catalog on its first sync, and fetched extended info.
    assert!(r["new_updates"].as_u64().expect("new") >= 200, "{r}");
    assert!(
        r["extended_info_calls"].as_u64().expect("ext") >= 200,
        "{r}"
    );
    assert_eq!(r["out_of_scope"], 0, "{r}");
}

#[test]
fn a_load_capture_records_every_client_and_identities_follow_the_seed() {
    let server = serve(&["--catalog-size", "20"]);
    let url = format!("http://{}", server.http);
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("load.jsonl");
    let c = capture.to_str().expect("utf-8");
    let r = load(
        &[
            "--server",
            &url,
            "--clients",
            "5",
            "--syncs",
            "2",
            "--seed",
            "4",
            "--capture",
            c,
        ],
        0,
    );
    let all = exchanges(&capture);
    assert_eq!(all.len() as u64, r["requests"].as_u64().expect("requests"));
    let mut ids: Vec<u64> = all.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        all.len(),
        "exchange ids are unique across clients"
    );
    // Five clients, one GetConfig each (the second sync is differential).
    let client_ids = |all: &[captures::Exchange]| {
        let mut v: Vec<String> = all
            .iter()
            .filter_map(|e| {
                let body = std::str::from_utf8(e.request.body.bytes()?).ok()?;
                let (_, rest) = body.split_once("<clientId>")?;
                Some(rest.split('<').next()?.to_string())
            })
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let first = client_ids(&all);
    assert_eq!(first.len(), 5, "{first:?}");
    let configs = all
        .iter()
        .filter(|e| e.soap_action().is_some_and(|a| a.contains("GetConfig")))
        .count();
    assert_eq!(configs, 5);

    // The same seed gives the same clients.
    let again = dir.path().join("again.jsonl");
    load(
        &[
            "--server",
            &url,
            "--clients",
            "5",
            "--seed",
            "4",
            "--capture",
            again.to_str().expect("utf-8"),
        ],
        0,
    );
    assert_eq!(client_ids(&exchanges(&again)), first);
}

#[test]
fn failed_syncs_are_counted_by_fault_code_and_exit_1() {
    let server = serve(&[
        "--catalog-size",
        "20",
        "--inject",
        "InvalidParameters@SyncUpdates",
    ]);
    let url = format!("http://{}", server.http);
    let r = load(&["--server", &url, "--clients", "3", "--duration", "30"], 1);
    assert_eq!(r["syncs_ok"], 0, "{r}");
    assert_eq!(r["syncs_failed"], 3, "{r}");
    assert_eq!(r["faults"]["InvalidParameters"], 3, "{r}");
    assert_eq!(r["failures"].as_array().expect("failures").len(), 3, "{r}");
}

#[test]
fn load_mode_refuses_a_state_file() {
    let out = run(&[
        "replay",
        "--server",
        "http://127.0.0.1:9",
        "--clients",
        "2",
        "--state",
        "s.json",
    ]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--state"), "{}", stderr(&out));
}

#[test]
fn a_duration_alone_bounds_the_run() {
    let server = serve(&["--catalog-size", "20"]);
    let url = format!("http://{}", server.http);
    let r = load(&["--server", &url, "--clients", "2", "--duration", "1"], 0);
    // Each client starts its first sync at once, then syncs again until the deadline.
    assert!(r["syncs_ok"].as_u64().expect("syncs") >= 2, "{r}");
    assert_eq!(r["syncs_failed"], 0, "{r}");
}

#[test]
fn load_over_https_shares_the_trusted_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, pem) = crate::replay_net::serve_https(dir.path());
    let https = server.https.clone().expect("https listener");
    let r = load(
        &[
            "--server",
            &format!("https://{https}"),
            "--ca",
            &pem,
            "--clients",
            "4",
            "--syncs",
            "2",
        ],
        0,
    );
    assert_eq!(r["syncs_ok"], 8, "{r}");
    assert_eq!(r["transport_errors"], 0, "{r}");
}
