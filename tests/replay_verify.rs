//! `wutap replay CAPTURE --verify` against `wutap serve`: the recorded requests of a fresh
//! sync sent again with cookies threaded; no difference from a server with the same catalog,
//! differences (exit 1) from one with another catalog.

use crate::replay_cmd::{exchanges, serve};
use crate::replay_seed::fresh_capture;
use crate::util::*;

#[test]
fn verify_against_the_same_and_another_catalog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |x: &std::path::Path| x.to_str().expect("utf-8 path").to_string();
    let server = serve(&[]);
    let url = format!("http://{}", server.http);
    let first = fresh_capture(&url, dir.path());
    let recorded = exchanges(&first).len();

    // The same server: every answer matches the recording once cookies and times are
    // left out. The run's own capture holds every request sent.
    let again = dir.path().join("again.jsonl");
    let out = run(&[
        "replay",
        &p(&first),
        "--server",
        &url,
        "--verify",
        "--capture",
        &p(&again),
    ]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "verify: {recorded} requests replayed, 0 differences"
        )),
        "{text}\n{}",
        stderr(&out)
    );
    assert_eq!(exchanges(&again).len(), recorded);

    // Another server with the same seed (its own cookie key and clock): still no difference.
    let twin = serve(&[]);
    let out = run(&[
        "replay",
        &p(&first),
        "--server",
        &format!("http://{}", twin.http),
        "--verify",
    ]);
    assert_code(&out, 0);

    // Another catalog: differences named by exchange, operation and element path; exit 1.
    let other = serve(&["--seed", "8"]);
    let out = run(&[
        "replay",
        &p(&first),
        "--server",
        &format!("http://{}", other.http),
        "--verify",
    ]);
    assert_code(&out, 1);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains(" SyncUpdates: /Envelope/Body/SyncUpdatesResponse/"))
        .unwrap_or_else(|| panic!("no SyncUpdates difference in\n{text}"));
    assert!(
        line.starts_with("exchange ") && line.contains("expected") && line.contains("observed"),
        "{line}"
    );
    let summary = text.lines().last().expect("a summary line");
    assert!(
        summary.starts_with(&format!("verify: {recorded} requests replayed, ")),
        "{summary}"
    );
    assert!(!summary.contains(" 0 differences"), "{summary}");
}

#[test]
fn verify_needs_a_capture() {
    let out = run(&["replay", "--server", "http://127.0.0.1:9", "--verify"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("CAPTURE"), "{}", stderr(&out));
}

#[test]
fn verify_of_a_capture_without_wusp_traffic_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.jsonl");
    write_capture(&path, &[]);
    let out = run(&[
        "replay",
        path.to_str().expect("utf-8 path"),
        "--server",
        "http://127.0.0.1:9",
        "--verify",
    ]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("nothing to verify"), "{err}");
    assert!(err.contains("empty.jsonl"), "{err}");
}
