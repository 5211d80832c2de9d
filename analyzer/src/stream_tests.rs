//! Streaming: sessions leave the engine when they close, the streamed report equals the
//! full one, and the state kept for the whole run stays small.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use wusp::Field;
use wusp::types::SyncInfo;

use crate::engine::Engine;
use crate::input::{self, Classified};
use crate::testkit::*;
use crate::{Entry, Options, Profile, ReportSource, Session, Spool};

/// One capture of `clients` clients in turn (distinct ClientIDs, one address), each a first
/// sync of one page with extended info, three hours apart.
fn many_clients(clients: usize) -> Kit {
    let mut k = Kit::new("many.jsonl", 0);
    for c in 0..clients {
        k.client_id = format!("00000000-0000-4000-8000-{c:012x}");
        k.handshake();
        let r = k.sync_request(&[], &[]);
        k.sync(
            r,
            SyncInfo {
                new_updates: Field::list(vec![update(10, true), update(11, true)]),
                ..Default::default()
            },
        );
        k.ext(&[10, 11]);
        k.wait_hours(3);
    }
    k
}

/// Feeds the captures to an engine as `analyze_streaming` does, calling `after` after every
/// exchange; returns the sessions in the order they left the engine.
fn feed(paths: &[PathBuf], engine: &mut Engine, after: &mut dyn FnMut(&Engine)) -> Vec<Session> {
    let inputs = input::plan_inputs(paths).unwrap();
    let mut out = Vec::new();
    for inp in &inputs {
        let records = inp.records(Arc::new(AtomicU64::new(0))).unwrap();
        for item in records {
            let input::Read::Record(record) = item else {
                continue;
            };
            match input::classify_record(inp, &record) {
                Some(Classified::Wusp(ex)) => engine.feed(&ex),
                Some(Classified::Content(get)) => engine.feed_content(&get),
                _ => {}
            }
            out.extend(engine.take_closed());
            after(engine);
        }
    }
    out
}

#[test]
fn closed_sessions_leave_the_engine_and_per_client_state_stays_small() {
    let clients = 40;
    let kit = many_clients(clients);
    let dir = tempfile::tempdir().unwrap();
    let path = kit.write(dir.path());
    let mut engine = Engine::new(Profile::Native);
    engine.sweep_every(1);
    let mut most_open = 0;
    let streamed = feed(&[path], &mut engine, &mut |e| {
        most_open = most_open.max(e.open_sessions());
    });
    // Each client's session closed once the next client came three hours later: the engine
    // never held more than the session in progress.
    assert_eq!(most_open, 1);
    assert_eq!(streamed.len(), clients - 1);
    assert_eq!(engine.open_sessions(), 1);
    // What the server said about its revisions is kept once, not once per client; the
    // fragments each client received are small ids of two (type, locale) pairs.
    let footprint = engine.footprint();
    assert_eq!(footprint.pairs, clients);
    assert_eq!(footprint.catalog_revisions, 2);
    assert_eq!(footprint.fragment_kinds, 2);
    assert_eq!(footprint.fragment_ids, clients * 2 * 2);
    let ending = engine.finish();
    let rest = ending.sessions;
    assert_eq!(rest.len(), 1);
    assert!(ending.late.is_empty());
    assert!(ending.renamed.is_empty());
    let ids: BTreeSet<String> = streamed.iter().chain(&rest).map(|s| s.id.clone()).collect();
    assert_eq!(ids.len(), clients);
    assert!(
        streamed.iter().all(|s| s.exchanges.len() == 6),
        "{:?}",
        streamed[0].exchanges
    );
}

#[test]
fn sessions_of_an_earlier_input_close_when_the_next_input_starts() {
    let first = first_sync();
    let diff = differential(&first);
    let dir = tempfile::tempdir().unwrap();
    let paths = [first.write(dir.path()), diff.write(dir.path())];
    let mut engine = Engine::new(Profile::Native);
    let mut open = Vec::new();
    let streamed = feed(&paths, &mut engine, &mut |e| open.push(e.open_sessions()));
    assert_eq!(streamed.len(), 1, "the first sync left at the second input");
    assert_eq!(streamed[0].id, "s1");
    assert!(open.iter().all(|n| *n <= 1), "{open:?}");
}

/// A first sync whose extended info names a file that never gets a location (S-30, decided
/// at the end of the input), then the differential sync in a later capture.
fn with_late_finding() -> (Kit, Kit) {
    let mut first = first_sync();
    first.ext_unlocated_file(13, Vec::new());
    let diff = differential(&first);
    (first, diff)
}

#[test]
fn streamed_reports_equal_the_full_ones_late_findings_included() {
    let (first, diff) = with_late_finding();
    let dir = tempfile::tempdir().unwrap();
    let paths = [first.write(dir.path()), diff.write(dir.path())];
    let options = Options::default();
    let full = crate::analyze(&paths, &options).unwrap();
    let s30: Vec<&str> = full.sessions[0]
        .findings
        .iter()
        .map(|f| f.rule)
        .filter(|r| *r == "S-30")
        .collect();
    assert_eq!(s30, ["S-30"], "{}", full.to_text());
    assert!(
        full.sessions[0].verdict.contains("PROBLEMS (S-30)"),
        "{}",
        full.sessions[0].verdict
    );

    let mut spool = Spool::new().unwrap();
    let mut arrived = Vec::new();
    let tail = crate::analyze_streaming(&paths, &options, &mut |_| {}, &mut |e| {
        if let Entry::Session(s) = &e {
            arrived.push((s.id.clone(), s.findings.iter().any(|f| f.rule == "S-30")));
        }
        spool.push_entry(&e).unwrap();
    })
    .unwrap();
    // s1 left before the end of the input, without its S-30: that came in the tail.
    assert_eq!(
        arrived,
        [("s1".to_string(), false), ("s2".to_string(), false)]
    );
    let late: Vec<(String, &str)> = tail.late_findings().map(|(s, f)| (s, f.rule)).collect();
    assert_eq!(late, [("s1".to_string(), "S-30")]);
    assert_eq!(tail.summary, full.summary);
    assert_eq!(tail.has_problems(), full.has_problems());
    assert_eq!(spool.len(), 2);
    assert_spooled_reports_equal(spool, &tail, &full);
}

/// The text, JSON and JUnit reports written from `spool` and `tail` are those of `full`.
fn assert_spooled_reports_equal(spool: Spool, tail: &crate::Tail, full: &crate::Analysis) {
    let spooled = spool.finish(tail).unwrap();
    let (mut text, mut json, mut junit) = (Vec::new(), Vec::new(), Vec::new());
    tail.write_text(&mut text, &spooled).unwrap();
    tail.write_json(&mut json, &spooled).unwrap();
    tail.write_junit(&mut junit, &spooled).unwrap();
    assert_eq!(String::from_utf8(text).unwrap(), full.to_text());
    assert_eq!(String::from_utf8(json).unwrap(), full.to_json());
    assert_eq!(String::from_utf8(junit).unwrap(), full.to_junit());
}

#[test]
fn the_spool_file_is_private_and_sessions_read_back_in_start_order() {
    let (first, diff) = with_late_finding();
    let full = analyze(&[&first, &diff], &Options::default());
    let mut spool = Spool::new().unwrap();
    for s in full.sessions.iter().rev() {
        spool.push(s).unwrap();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for mode in spool.file_modes().unwrap() {
            assert_eq!(mode.mode() & 0o777, 0o600);
        }
    }
    let tail = crate::Tail::new(Profile::Native);
    let sessions = spool.finish(&tail).unwrap();
    let mut ids = Vec::new();
    sessions
        .visit(&mut |s| {
            ids.push(s.id.clone());
            Ok(())
        })
        .unwrap();
    assert_eq!(ids, ["s1", "s2"]);
}

#[test]
fn a_session_that_left_before_its_client_was_named_gets_the_clientid_learned_later() {
    let first = first_sync();
    let diff = differential(&first);
    let mut later = diff.next_capture("later.jsonl", 3);
    later.handshake();
    let dir = tempfile::tempdir().unwrap();
    let paths = [diff.write(dir.path()), later.write(dir.path())];
    let full = crate::analyze(&paths, &Options::default()).unwrap();
    let clients: Vec<&str> = full.sessions.iter().map(|s| s.client.as_str()).collect();
    assert_eq!(clients, [CLIENT_ID, CLIENT_ID], "{}", full.to_text());
    let mut streamed = Vec::new();
    let tail = crate::analyze_streaming(&paths, &Options::default(), &mut |_| {}, &mut |e| {
        if let Entry::Session(s) = e {
            streamed.push(s);
        }
    })
    .unwrap();
    assert_eq!(
        streamed[0].client, "client at 192.0.2.10",
        "it left unnamed"
    );
    tail.complete(&mut streamed[0]);
    assert_eq!(streamed[0].client, CLIENT_ID);
}

/// Inserts a damaged line after every `every` lines of the capture at `path` (the header
/// line kept first); returns how many were inserted.
fn damage_every(path: &std::path::Path, every: usize) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    let mut damaged = 0;
    for (i, line) in text.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        if i > 0 && i % every == 0 {
            out.push_str("{\"type\":\"exchange\",\"id\":\n");
            damaged += 1;
        }
    }
    std::fs::write(path, out).unwrap();
    damaged
}

#[test]
fn skipped_exchanges_and_input_problems_leave_as_they_are_met() {
    // A proxy capture of a Windows machine: mostly browser traffic, some damaged lines.
    let exchanges = 3000;
    let mut k = Kit::new("browser.jsonl", 0);
    for i in 0..exchanges {
        k.foreign(&format!("/page/{i}"));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = k.write(dir.path());
    let damaged = damage_every(&path, 500);
    assert_eq!(damaged, exchanges / 500);

    let reports = std::cell::Cell::new(0usize);
    // (reports made when the entry arrived, is it a skipped exchange)
    let mut arrivals = Vec::new();
    let tail = crate::analyze_streaming(
        &[&path],
        &Options::default(),
        &mut |_| reports.set(reports.get() + 1),
        &mut |e| match e {
            Entry::Skipped(_) => arrivals.push((reports.get(), true)),
            Entry::Problem(_) => arrivals.push((reports.get(), false)),
            Entry::Session(s) => panic!("no WUSP here, yet session {}", s.id),
        },
    )
    .unwrap();
    let total = reports.get();
    assert!(total >= exchanges / 256, "{total} progress reports");
    let skipped: Vec<usize> = arrivals.iter().filter(|a| a.1).map(|a| a.0).collect();
    let problems: Vec<usize> = arrivals.iter().filter(|a| !a.1).map(|a| a.0).collect();
    assert_eq!(skipped.len(), exchanges);
    assert_eq!(problems.len(), damaged);
    // Each left while the input was being read, not held to its end: the first skipped
    // exchange and the first damaged line arrived before the first progress report.
    assert_eq!(skipped[0], 0, "{skipped:?}");
    assert_eq!(problems[0], 0, "{problems:?}");
    assert!(problems[damaged - 1] < total, "{problems:?} of {total}");
    assert!(
        skipped[exchanges / 2] <= total / 2,
        "{} of {total}",
        skipped[exchanges / 2]
    );
    // The tail keeps their counts only.
    assert_eq!(tail.skipped, exchanges);
    assert_eq!(tail.summary.input_problems, damaged);
    assert_eq!(tail.summary.sessions, 0);
    assert!(tail.has_problems());
}

#[test]
fn streamed_reports_equal_the_full_ones_with_skipped_exchanges_and_input_problems() {
    let (mut first, mut diff) = with_late_finding();
    first.foreign("/favicon.ico");
    diff.foreign("/msdownload/update/v3/static/trustedr/en/authrootstl.cab");
    diff.foreign("/telemetry?x=1&y=\"2\"");
    let dir = tempfile::tempdir().unwrap();
    let paths = [first.write(dir.path()), diff.write(dir.path())];
    let damaged = damage_every(&paths[0], 7) + damage_every(&paths[1], 3);
    let options = Options::default();
    let full = crate::analyze(&paths, &options).unwrap();
    assert_eq!(full.skipped.len(), 3, "{:?}", full.skipped);
    assert_eq!(full.input_problems.len(), damaged);
    assert!(damaged >= 2, "{damaged}");
    let text = full.to_text();
    assert!(text.contains("\nskipped (3):\n"), "{text}");
    assert!(
        text.contains(&format!("\ninput problems ({damaged}):\n")),
        "{text}"
    );

    let mut spool = Spool::new().unwrap();
    let tail = crate::analyze_streaming(&paths, &options, &mut |_| {}, &mut |e| {
        spool.push_entry(&e).unwrap();
    })
    .unwrap();
    assert_eq!(tail.summary, full.summary);
    assert_eq!(tail.skipped, 3);
    assert_spooled_reports_equal(spool, &tail, &full);
}
