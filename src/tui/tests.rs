//! Render and navigation tests of the TUI on the committed sample captures: the state fed
//! by the real indexer and analysis threads, keys mapped by the view, frames drawn into
//! ratatui's TestBackend and snapshotted with insta.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

use super::state::{Action, Screen, State};
use super::{draw_text, perform, start, view};

/// A committed sample capture (`captures/samples/`, regenerated from `wutap demo` by
/// scripts/make-samples.sh): the acceptance snapshots and the navigation test run on these.
fn committed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/samples")
        .join(name)
}

/// The Windows-shaped fixtures of `wutap-samples`, written once per test process: the
/// tests of filters, search, exports and follow need their fixed shape.
fn generated(name: &str) -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wutap-tui-samples-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the samples directory");
        wutap_samples::write_samples(&dir).expect("write the generated samples");
        dir
    })
    .join(name)
}

/// The two generated fixtures.
fn generated_inputs() -> Vec<PathBuf> {
    vec![
        generated("first-sync.jsonl"),
        generated("differential-sync.jsonl"),
    ]
}

/// The two committed samples; with `mutated`, the first sync without its software pages 11
/// to 13 (the 11th to 13th SyncUpdates), so page 10, the last one answered with
/// Truncated=true, is followed by the driver pass instead of page 11 (C-28).
fn inputs(dir: &Path, mutated: bool) -> Vec<PathBuf> {
    let diff = committed("differential-sync.jsonl");
    if !mutated {
        return vec![committed("first-sync.jsonl"), diff];
    }
    let text = std::fs::read_to_string(committed("first-sync.jsonl")).unwrap();
    let pages: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("ClientWebService/SyncUpdates"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(pages.len(), 14, "13 software pages and the driver pass");
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| !pages[10..13].contains(i))
        .map(|(_, l)| l)
        .collect();
    let path = dir.join("first-sync.jsonl");
    std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    vec![path, diff]
}

/// A state with everything indexed and analyzed.
fn loaded(paths: &[PathBuf]) -> State {
    let (mut state, rx, _tx, _stop) = start(paths, false);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(state.indexed() && state.analysis.is_some() && !state.analyzing) {
        let m = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("index and analysis finish");
        state.update(m);
    }
    state
}

/// Presses a key: maps it through the view, applies it, performs the effect.
fn press(state: &mut State, paths: &[PathBuf], code: KeyCode) {
    let ev = Event::Key(KeyEvent::new(code, KeyModifiers::NONE));
    let action = view::action_for(state, &ev).expect("the key means something");
    if let Some(effect) = state.apply(action) {
        let msg = perform(effect, paths, Path::new("/nonexistent"));
        state.update(msg);
    }
}

fn keys(state: &mut State, paths: &[PathBuf], keys: &str) {
    for c in keys.chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            '\t' => KeyCode::Tab,
            c => KeyCode::Char(c),
        };
        press(state, paths, code);
    }
}

fn frame(state: &State) -> String {
    draw_text(state, 120, 32).unwrap()
}

/// Snapshots a frame with what changes when scripts/make-samples.sh regenerates the
/// committed samples filtered out (times, dates, client ids, server ports, cookie data,
/// byte sizes): after a regeneration, `INSTA_UPDATE=always cargo test --bin wutap tui`
/// refreshes the .snap files, and only a change of the demo's shape shows in their diff.
fn snapshot(name: &str, text: &str) {
    const FILTERS: &[(&str, &str)] = &[
        (r"\d{2}:\d{2}:\d{2}(\.\d+)?Z?", "[time]"),
        (r"\d{4}-\d{2}-\d{2}T", "[date]T"),
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[client-id]",
        ),
        // The demo's server listens on an ephemeral port (possibly cut by a column).
        (r"(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}):\d*", "$1:[port]"),
        // Request/response sizes of the diff rows move with cookie and time lengths.
        (r"\b\d+k?/\d+k? +(\d{3}|[A-Z][A-Za-z]+) ", "[bytes] $1 "),
        // The detail header's byte counts and the cookie (its expiration's fraction
        // digits vary in number, so the whole element is replaced up to the pane border).
        (r"\b\d+ B\b", "[n] B"),
        (
            r"Expiration [^,│]*, EncryptedData \d+ chars",
            "Expiration [expiration], EncryptedData [n] chars",
        ),
        (r"<Expiration>[^│]*", "<Expiration>[expiration]"),
        (r"<EncryptedData>[^│]*", "<EncryptedData>[cookie]"),
        // What the filters shortened leaves its padding: a line ends with one space
        // before the right border, whatever the widths were.
        (r"(?m) +│$", " │"),
    ];
    let mut settings = insta::Settings::clone_current();
    for (re, to) in FILTERS {
        settings.add_filter(re, *to);
    }
    settings.bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn sessions_screen() {
    let paths = inputs(Path::new("."), false);
    let state = loaded(&paths);
    let f = frame(&state);
    assert!(
        f.contains("first sync OK: 13 pages, 254 new updates"),
        "{f}"
    );
    assert!(f.contains("24 exchanges | 2 sessions, 0 MUST"), "{f}");
    snapshot("sessions", &f);
}

#[test]
fn sequence_diff_screen_of_a_first_sync() {
    let paths = inputs(Path::new("."), false);
    let mut state = loaded(&paths);
    keys(&mut state, &paths, "\n");
    let f = frame(&state);
    assert!(f.contains("SyncUpdates p13"), "{f}");
    assert!(f.contains("SyncUpdates (driver)"), "{f}");
    assert!(!f.contains("missing") && !f.contains("unexpected"), "{f}");
    snapshot("diff_first_sync", &f);
}

#[test]
fn sequence_diff_marks_the_missing_page_and_its_finding() {
    let dir = tempfile::tempdir().unwrap();
    let paths = inputs(dir.path(), true);
    let mut state = loaded(&paths);
    keys(&mut state, &paths, "\n");
    let f = frame(&state);
    assert!(f.contains("missing: SyncUpdates — software page 11"), "{f}");
    assert!(f.contains("SyncUpdates p10          T"), "{f}");
    // The page whose Truncated=true was not followed carries the MUST finding badge.
    assert!(f.contains("!!1"), "{f}");
    snapshot("diff_missing_page", &f);
}

#[test]
fn exchange_detail_shows_the_cache_delta_and_folds() {
    let paths = inputs(Path::new("."), false);
    let mut state = loaded(&paths);
    // s1 (first sync), SyncUpdates page 2: its cache delta vs page 1 is non-empty.
    keys(&mut state, &paths, "\njjjjj\n");
    let f = frame(&state);
    assert!(f.contains("Exchange first-sync.jsonl#6 SyncUpdates"), "{f}");
    assert!(
        f.contains("InstalledNonLeafUpdateIDs: 9; vs previous page +9"),
        "{f}"
    );
    assert!(f.contains("previous page delivered 9 new update(s)"), "{f}");
    snapshot("detail", &f);
    // Tab to the response, fold its root element's body.
    keys(&mut state, &paths, "\tjj ");
    let f = frame(&state);
    assert!(f.contains("response *"), "{f}");
    assert!(f.contains("+    <SyncUpdatesResponse"), "{f}");
    let Screen::Detail { folded, .. } = state.screen() else {
        panic!("not on the detail screen")
    };
    assert_eq!(folded[1].len(), 1);
}

#[test]
fn findings_screen_and_enter_jumps_to_the_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let paths = inputs(dir.path(), true);
    let mut state = loaded(&paths);
    keys(&mut state, &paths, "F");
    let f = frame(&state);
    assert!(f.contains("C-28"), "{f}");
    assert!(f.contains("cite:"), "{f}");
    assert!(f.contains("expected:"), "{f}");
    snapshot("findings", &f);
    keys(&mut state, &paths, "\n");
    assert!(matches!(state.screen(), Screen::Diff { session: 0, .. }));
    let e = state.selected_entry().expect("an exchange is selected");
    let (si, fi) = state.visible_findings(None)[0];
    let finding = &state.sessions()[si].findings[fi];
    assert_eq!(finding.rule, "C-28");
    assert!(finding.exchanges.contains(&state.entries[e].key));
}

#[test]
fn help_overlay_lists_every_key() {
    let paths = inputs(Path::new("."), false);
    let mut state = loaded(&paths);
    keys(&mut state, &paths, "?");
    let f = frame(&state);
    for (k, _) in view::KEYS {
        assert!(f.contains(k), "{k} missing in\n{f}");
    }
    snapshot("help", &f);
    keys(&mut state, &paths, "j");
    assert!(!state.help);
}

#[test]
fn navigation_sessions_diff_detail_findings_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let paths = inputs(dir.path(), true);
    let mut state = loaded(&paths);
    keys(&mut state, &paths, "\n");
    assert!(matches!(state.screen(), Screen::Diff { session: 0, .. }));
    keys(&mut state, &paths, "\n");
    assert!(matches!(state.screen(), Screen::Detail { .. }));
    assert!(state.detail.is_some());
    keys(&mut state, &paths, "q");
    assert!(matches!(state.screen(), Screen::Diff { .. }));
    keys(&mut state, &paths, "F");
    assert!(matches!(
        state.screen(),
        Screen::Findings {
            session: Some(0),
            ..
        }
    ));
    keys(&mut state, &paths, "\n");
    assert!(matches!(state.screen(), Screen::Diff { session: 0, .. }));
    keys(&mut state, &paths, "\n");
    assert!(matches!(state.screen(), Screen::Detail { .. }));
    keys(&mut state, &paths, "qqqq");
    assert!(matches!(state.screen(), Screen::Sessions { .. }));
    assert!(!state.quit);
    keys(&mut state, &paths, "q");
    assert!(state.quit);
}

#[test]
fn filter_and_search() {
    let paths = generated_inputs();
    let mut state = loaded(&paths);
    keys(&mut state, &paths, "\n");
    // Filter the diff by operation.
    keys(&mut state, &paths, "fGetCookie\n");
    assert_eq!(state.visible_rows().len(), 1);
    let f = frame(&state);
    assert!(f.contains("[filter: GetCookie]"), "{f}");
    state.apply(Action::Cancel);
    assert!(state.filter.is_none());
    // Search moves the selection to the matching row.
    keys(&mut state, &paths, "/driver\n");
    let Screen::Diff { sel, .. } = state.screen() else {
        panic!("not on the diff")
    };
    assert_eq!(*sel, 9);
    assert!(state.status.contains("row 10"), "{}", state.status);
}

#[test]
fn exports_xml_and_curl_owner_only() {
    let paths = generated_inputs();
    let mut state = loaded(&paths);
    keys(&mut state, &paths, "\njjjj");
    let dir = tempfile::tempdir().unwrap();
    for action in [Action::ExportXml, Action::ExportCurl] {
        let effect = state.apply(action).expect("an export");
        state.update(perform(effect, &paths, dir.path()));
        assert!(
            state.status.contains(&dir.path().display().to_string()),
            "{}",
            state.status
        );
    }
    let req = dir.path().join("first-sync.jsonl-5.request.xml");
    let xml = std::fs::read_to_string(&req).unwrap();
    assert!(xml.contains("<SyncUpdates"), "{xml}");
    let resp = std::fs::read_to_string(dir.path().join("first-sync.jsonl-5.response.xml")).unwrap();
    // Decoded from Xpress.
    assert!(resp.contains("SyncUpdatesResult"), "{resp}");
    let curl = std::fs::read_to_string(dir.path().join("first-sync.jsonl-5.curl.sh")).unwrap();
    assert!(
        curl.contains(
            "curl -sS -X POST 'http://wsus.contoso.test:8530/ClientWebService/client.asmx'"
        ),
        "{curl}"
    );
    assert!(curl.contains("-H 'SOAPAction: "), "{curl}");
    assert!(curl.contains("--data-binary @"), "{curl}");
    assert!(!curl.contains("Content-Length"), "{curl}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&req).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn follow_picks_up_records_appended_later() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.jsonl");
    let text = std::fs::read_to_string(generated("differential-sync.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The header and one exchange, then the rest with the last line written in two parts.
    std::fs::write(&path, format!("{}\n{}\n", lines[0], lines[1])).unwrap();
    let (mut state, rx, _tx, stop) = start(std::slice::from_ref(&path), true);
    let wait_for = |state: &mut State, n: usize| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while state.entries.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            state.update(rx.recv_timeout(left).expect("more records"));
        }
    };
    wait_for(&mut state, 1);
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    for l in &lines[2..lines.len() - 1] {
        writeln!(f, "{l}").unwrap();
    }
    let last = lines[lines.len() - 1];
    f.write_all(&last.as_bytes()[..20]).unwrap();
    f.flush().unwrap();
    wait_for(&mut state, lines.len() - 2);
    f.write_all(&last.as_bytes()[20..]).unwrap();
    f.write_all(b"\n").unwrap();
    f.flush().unwrap();
    wait_for(&mut state, lines.len() - 1);
    assert!(state.problems.is_empty(), "{:?}", state.problems);
    assert_eq!(state.entries.last().unwrap().operation, "ReportEventBatch");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[test]
fn a_har_file_is_held_in_memory_and_browses_like_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("first.har");
    captures::har::export_file(generated("first-sync.jsonl"), &har).unwrap();
    let paths = vec![har];
    let mut state = loaded(&paths);
    assert_eq!(state.sessions().len(), 1);
    assert!(
        state
            .entries
            .iter()
            .all(|e| matches!(e.loc, super::source::Loc::Memory(_)))
    );
    keys(&mut state, &paths, "\njjjj\n");
    let d = state.detail.as_ref().expect("the exchange is loaded");
    assert!(d.request.iter().any(|l| l.text.starts_with("<SyncUpdates")));
    assert!(state.entries[d.entry].key.starts_with("first.har#"));
}

#[test]
fn status_bar_shows_the_analysis_progress() {
    let paths = inputs(Path::new("."), false);
    let (mut state, _rx, _tx, _stop) = start(&paths, false);
    state.update(super::state::Msg::AnalysisStarted);
    let f = frame(&state);
    assert!(f.contains("analyzing… "), "{f}");
    state.update(super::state::Msg::AnalysisProgress(analyzer::Progress {
        read: 150,
        total: 200,
    }));
    let f = frame(&state);
    assert!(f.contains("analyzing 75% ("), "{f}");
}
