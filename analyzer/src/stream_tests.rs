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
use crate::{Options, Profile, Session, SessionSource, Spool};

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
        for record in records {
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
    let tail = crate::analyze_streaming(&paths, &options, &mut |_| {}, &mut |s| {
        arrived.push((s.id.clone(), s.findings.iter().any(|f| f.rule == "S-30")));
        spool.push(&s).unwrap();
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
    let sessions = spool.finish(&tail).unwrap();
    let (mut text, mut json, mut junit) = (Vec::new(), Vec::new(), Vec::new());
    tail.write_text(&mut text, &sessions).unwrap();
    tail.write_json(&mut json, &sessions).unwrap();
    tail.write_junit(&mut junit, &sessions).unwrap();
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
        let mode = spool.file_mode().unwrap();
        assert_eq!(mode.mode() & 0o777, 0o600);
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
    let tail = crate::analyze_streaming(&paths, &Options::default(), &mut |_| {}, &mut |s| {
        streamed.push(s)
    })
    .unwrap();
    assert_eq!(
        streamed[0].client, "client at 192.0.2.10",
        "it left unnamed"
    );
    tail.complete(&mut streamed[0]);
    assert_eq!(streamed[0].client, CLIENT_ID);
}
