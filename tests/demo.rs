//! `wutap demo` end to end (server, proxy, two syncs, analysis on loopback), and the
//! generated completions and man page.

use std::path::Path;

use crate::replay_cmd::exchanges;
use crate::util::{assert_code, run, stderr, stdout};

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).expect("file").permissions().mode() & 0o777
}

/// The report of a demo run: one first sync, one differential sync, no MUST violation.
pub(crate) fn assert_clean_report(out: &str) {
    assert!(out.contains("2 session(s), 0 MUST violation(s)"), "{out}");
    let first = out.lines().find(|l| l.starts_with("s1 first sync OK: "));
    assert!(first.is_some(), "{out}");
    let diff = out
        .lines()
        .find(|l| l.starts_with("s2 differential sync OK: "))
        .unwrap_or_else(|| panic!("no differential verdict line:\n{out}"));
    // 3 approved between the syncs: exactly those are new in the differential sync.
    assert!(diff.contains("3 new updates"), "{diff}");
    assert!(diff.contains("cache sent"), "{diff}");
}

#[test]
fn demo_records_both_syncs_through_the_reverse_proxy_and_reruns_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let d = dir.to_str().unwrap();
    let out = run(&["demo", "--dir", d]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert_clean_report(&text);
    assert!(
        text.contains(&format!("wutap tui {d}/*.jsonl")),
        "the TUI command:\n{text}"
    );
    let err = stderr(&out);
    for needle in [
        "server: https://127.0.0.1:",
        "proxy: reverse https://127.0.0.1:",
        "approvals changed: 3 approved, 2 declined, 1 changed",
        "differential sync: done",
    ] {
        assert!(err.contains(needle), "{needle:?} in\n{err}");
    }
    assert!(!err.contains("overwriting"), "{err}");

    let first = exchanges(&dir.join("first-sync.jsonl"));
    let diff = exchanges(&dir.join("differential-sync.jsonl"));
    let client = exchanges(&dir.join("client/replay.jsonl"));
    assert!(first.len() > diff.len() && !diff.is_empty());
    let proxy: Vec<_> = first.iter().chain(&diff).collect();
    assert_eq!(proxy.len(), client.len(), "each exchange seen by both");
    assert!(proxy.iter().all(|e| e.scheme == "https"), "all over TLS");
    assert!(dir.join("client/state.json").is_file());
    #[cfg(unix)]
    for f in [
        "first-sync.jsonl",
        "differential-sync.jsonl",
        "client/replay.jsonl",
        "client/state.json",
        "ca/wutap-ca.key",
    ] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }

    // Again: the captures are replaced, not appended to.
    let again = run(&["demo", "--dir", d]);
    assert_code(&again, 0);
    assert_clean_report(&stdout(&again));
    assert!(stderr(&again).contains("overwriting the previous demo"));
    assert_eq!(exchanges(&dir.join("first-sync.jsonl")).len(), first.len());
    assert_eq!(
        exchanges(&dir.join("differential-sync.jsonl")).len(),
        diff.len()
    );
}

#[test]
fn demo_explicit_goes_through_connect() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&["demo", "--explicit", "--dir", tmp.path().to_str().unwrap()]);
    assert_code(&out, 0);
    assert_clean_report(&stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("(CONNECT)"), "{err}");
    let proxy = exchanges(&tmp.path().join("differential-sync.jsonl"));
    assert!(!proxy.is_empty());
    assert!(
        proxy.iter().all(|e| e.scheme == "https"),
        "CONNECT intercepted"
    );
}

#[test]
fn demo_into_an_unusable_directory_is_an_io_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = run(&["demo", "--dir", file.to_str().unwrap()]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("not-a-dir"), "{}", stderr(&out));
}

#[test]
fn completions_come_from_the_command_line_definition() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell]);
        assert_code(&out, 0);
        let text = stdout(&out);
        for word in ["demo", "analyze", "explicit", "completions"] {
            assert!(text.contains(word), "{shell}: {word}");
        }
    }
    assert_code(&run(&["completions", "tcsh"]), 2);
}

#[test]
fn man_page_lists_the_commands() {
    let out = run(&["man"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.starts_with(".ie") || text.contains(".TH wutap"),
        "{text}"
    );
    for cmd in ["serve", "proxy", "replay", "analyze", "demo", "completions"] {
        assert!(text.contains(cmd), "{cmd}");
    }
}
