//! Writer and reader on real files: round trips, damage, compression, permissions.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use proptest::collection::vec;
use proptest::prelude::*;

use super::strategies::{record, sample_exchange};
use super::{read_clean, write_capture};
use crate::{
    Body, CaptureReader, CaptureWriter, Compression, Error, ProblemKind, ReadItem, Record, read_all,
};

fn tmp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    (dir, path)
}

fn samples(n: u64) -> Vec<Record> {
    (1..=n)
        .map(|i| sample_exchange(i, Body::Binary(vec![0x0f, 0xff, i as u8])))
        .collect()
}

fn lines_of(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_record_round_trips_through_every_compression(
        records in vec(record(), 0..6),
        ext in prop_oneof![Just("jsonl"), Just("jsonl.zst"), Just("jsonl.gz")],
    ) {
        let (_dir, path) = tmp(&format!("c.{ext}"));
        write_capture(&path, &records);
        let (read, problems) = read_all(&path).unwrap();
        prop_assert!(problems.is_empty(), "{:?}", problems);
        prop_assert!(matches!(read[0].1, Record::Header(_)));
        let read: Vec<Record> = read.into_iter().skip(1).map(|(_, r)| r).collect();
        prop_assert_eq!(read, records);
    }

    #[test]
    fn binary_bodies_keep_their_exact_bytes(bytes in vec(any::<u8>(), 0..4096)) {
        let (_dir, path) = tmp("b.jsonl");
        write_capture(&path, &[sample_exchange(1, Body::from_bytes(bytes.clone()))]);
        let read = read_clean(&path);
        let Record::Exchange(e) = &read[0] else { panic!("not an exchange") };
        prop_assert_eq!(e.response_body_bytes(), Some(bytes.as_slice()));
    }
}

#[test]
fn header_line_is_written_once_and_line_numbers_count_it() {
    let (_dir, path) = tmp("h.jsonl");
    write_capture(&path, &samples(1));
    write_capture(&path, &samples(1));
    let (records, problems) = read_all(&path).unwrap();
    assert!(problems.is_empty());
    let kinds: Vec<(u64, &str)> = records.iter().map(|(l, r)| (*l, r.type_name())).collect();
    assert_eq!(kinds, [(1, "capture"), (2, "exchange"), (3, "exchange")]);
    assert!(
        lines_of(&path)[0]
            .starts_with(r#"{"type":"capture","format":"wutap-capture","version":1,"#)
    );
}

#[test]
fn a_batch_is_whole_lines_in_order_counted_like_single_writes() {
    for ext in ["jsonl", "jsonl.zst", "jsonl.gz"] {
        let (_dir, path) = tmp(&format!("batch.{ext}"));
        let mut w = CaptureWriter::create_or_append(&path).unwrap();
        let before = fs::read(&path).unwrap();
        w.write_batch(&samples(3)).unwrap();
        w.write_batch(&[]).unwrap();
        assert_eq!(w.records_written(), 4, "{ext}: header and three exchanges");
        if ext == "jsonl" {
            let after = fs::read(&path).unwrap();
            assert!(after.ends_with(b"\n") && after.len() > before.len());
        }
        w.write(&samples(4)[3]).unwrap();
        drop(w);
        let ids: Vec<u64> = read_clean(&path)
            .iter()
            .filter_map(|r| match r {
                Record::Exchange(e) => Some(e.id),
                _ => None,
            })
            .collect();
        assert_eq!(ids, [1, 2, 3, 4], "{ext}");
    }
}

#[test]
fn a_cut_last_line_loses_only_that_record() {
    let (_dir, path) = tmp("cut.jsonl");
    write_capture(&path, &samples(3));
    let bytes = fs::read(&path).unwrap();
    // Cut the last record (line 4) in the middle.
    fs::write(&path, &bytes[..bytes.len() - 40]).unwrap();
    let (records, problems) = read_all(&path).unwrap();
    assert_eq!(records.len(), 3, "header and two exchanges");
    assert_eq!(
        records.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].line, 4);
    assert_eq!(problems[0].kind, ProblemKind::Truncated);
    assert_eq!(problems[0].path.as_deref(), Some(path.as_path()));
    assert!(
        problems[0]
            .to_string()
            .starts_with(&format!("{}:4: ", path.display()))
    );

    // A writer appending after the crash starts a fresh line: the new record survives.
    write_capture(&path, &samples(1));
    let (records, problems) = read_all(&path).unwrap();
    assert_eq!(
        records.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        [1, 2, 3, 5]
    );
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, 4);
}

#[test]
fn a_corrupt_middle_line_is_reported_and_skipped() {
    let (_dir, path) = tmp("mid.jsonl");
    write_capture(&path, &samples(3));
    let mut lines = lines_of(&path);
    lines[2] = "{\"type\":\"exchange\",\"id\":\u{1}garbage".to_owned();
    lines.insert(3, "   ".to_owned());
    lines.insert(4, "[1,2,3]".to_owned());
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    let (records, problems) = read_all(&path).unwrap();
    assert_eq!(
        records.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        [1, 2, 6]
    );
    let got: Vec<(u64, ProblemKind)> = problems.iter().map(|p| (p.line, p.kind)).collect();
    assert_eq!(got, [(3, ProblemKind::Corrupt), (5, ProblemKind::Corrupt)]);
}

#[test]
fn a_complete_last_line_without_newline_is_read() {
    let (_dir, path) = tmp("nonl.jsonl");
    write_capture(&path, &samples(2));
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    assert_eq!(read_clean(&path).len(), 2);
}

#[test]
fn unknown_types_newer_versions_and_unknown_fields() {
    let (_dir, path) = tmp("future.jsonl");
    let text = [
        r#"{"type":"capture","format":"wutap-capture","version":2,"created":"2026-11-25T10:00:00.000000Z","tool":"wutap 9"}"#,
        r#"{"type":"hologram","id":1}"#,
        r#"{"type":"connection","conn":4,"opened":"2026-11-25T10:00:00Z","mode":"plain","bytes_up":1,"bytes_down":2,"future_field":{"x":1}}"#,
        r#"{"id":1}"#,
        r#"{"type":"exchange","id":"seventeen"}"#,
    ]
    .join("\n");
    fs::write(&path, text).unwrap();
    let (records, problems) = read_all(&path).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].0, 3);
    let got: Vec<(u64, ProblemKind)> = problems.iter().map(|p| (p.line, p.kind)).collect();
    assert_eq!(
        got,
        [
            (1, ProblemKind::UnsupportedVersion),
            (2, ProblemKind::UnknownType),
            (4, ProblemKind::Corrupt),
            (5, ProblemKind::Truncated),
        ]
    );
    assert!(
        problems[1].message.contains("hologram"),
        "{}",
        problems[1].message
    );
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

fn appending_adds_a_frame(ext: &str, magic: &[u8]) {
    let (_dir, path) = tmp(&format!("a.{ext}"));
    write_capture(&path, &samples(2));
    write_capture(&path, &samples(3));
    let bytes = fs::read(&path).unwrap();
    assert_eq!(Compression::sniff(&bytes), Compression::from_path(&path));
    assert_eq!(count(&bytes, magic), 2, "one frame per writer session");
    let read = read_clean(&path);
    let mut expected = samples(2);
    expected.extend(samples(3));
    assert_eq!(read, expected);
}

#[test]
fn zstd_append_adds_a_frame() {
    appending_adds_a_frame("jsonl.zst", &[0x28, 0xb5, 0x2f, 0xfd]);
}

#[test]
fn gzip_append_adds_a_member() {
    appending_adds_a_frame("jsonl.gz", &[0x1f, 0x8b, 0x08]);
}

/// What is on disk after each of `n` records, the writer never finishing its frame.
fn on_disk_after_each(path: &Path, n: u64) -> Vec<Vec<u8>> {
    let mut w = CaptureWriter::create_or_append(path).unwrap();
    let mut snapshots = vec![fs::read(path).unwrap()];
    for r in samples(n) {
        w.write(&r).unwrap();
        snapshots.push(fs::read(path).unwrap());
    }
    drop(w);
    snapshots
}

fn killed_writer(ext: &str) {
    let (_dir, path) = tmp(&format!("k.{ext}"));
    let snapshots = on_disk_after_each(&path, 4);
    for pair in snapshots.windows(2) {
        assert!(pair[1].starts_with(&pair[0]), "flushed bytes never change");
        assert!(pair[1].len() > pair[0].len(), "every record is flushed");
    }

    // Killed between records: every record is there, the frame has no end.
    fs::write(&path, &snapshots[3]).unwrap();
    let (records, problems) = read_all(&path).unwrap();
    assert_eq!(
        records.len(),
        4,
        "header and three exchanges; problems: {problems:#?}"
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].line, 5);
    assert_eq!(problems[0].kind, ProblemKind::Compression);

    // Killed in the middle of writing the fourth record.
    let cut = (snapshots[3].len() + snapshots[4].len()) / 2;
    fs::write(&path, &snapshots[4][..cut]).unwrap();
    let (records, problems) = read_all(&path).unwrap();
    assert_eq!(records.len(), 4, "problems: {problems:#?}");
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].line, 5);

    // Restarted after the kill: the new session's frame follows the cut one, and is read.
    write_capture(&path, &samples(2));
    let (records, problems) = read_all(&path).unwrap();
    let exchanges = records
        .iter()
        .filter(|(_, r)| matches!(r, Record::Exchange(_)))
        .count();
    assert_eq!(exchanges, 5, "problems: {problems:#?}");
    assert!(!problems.is_empty());
    assert!(
        problems.iter().all(|p| p.kind != ProblemKind::Io),
        "{problems:#?}"
    );
}

#[test]
fn killed_zstd_writer_loses_nothing_flushed() {
    killed_writer("jsonl.zst");
}

#[test]
fn killed_gzip_writer_loses_nothing_flushed() {
    killed_writer("jsonl.gz");
}

#[test]
fn a_damaged_first_magic_number_loses_only_that_frame() {
    for ext in ["jsonl.zst", "jsonl.gz"] {
        let (_dir, path) = tmp(&format!("m.{ext}"));
        write_capture(&path, &samples(1));
        let mut bytes = fs::read(&path).unwrap();
        bytes[0] ^= 1;
        fs::write(&path, &bytes).unwrap();
        write_capture(&path, &samples(2));
        let (records, problems) = read_all(&path).unwrap();
        let got: Vec<Record> = records.into_iter().map(|(_, r)| r).collect();
        assert_eq!(got, samples(2), "{ext}: {problems:#?}");
        assert_eq!(problems.len(), 1, "{ext}: {problems:#?}");
    }
}

#[test]
fn garbage_between_frames_is_skipped() {
    let (_dir, path) = tmp("g.jsonl.zst");
    write_capture(&path, &samples(1));
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"\0\0garbage\xff")
        .unwrap();
    write_capture(&path, &samples(1));
    let (records, problems) = read_all(&path).unwrap();
    assert_eq!(records.len(), 3, "header and two exchanges: {records:#?}");
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].kind, ProblemKind::Compression);
    assert_eq!(problems[0].line, 3);
}

#[cfg(unix)]
#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let (_dir, path) = tmp("p.jsonl");
    write_capture(&path, &samples(1));
    assert_eq!(mode(&path), 0o600);

    let (_dir2, loose) = tmp("loose.jsonl.gz");
    fs::write(&loose, b"").unwrap();
    fs::set_permissions(&loose, fs::Permissions::from_mode(0o664)).unwrap();
    write_capture(&loose, &samples(1));
    assert_eq!(mode(&loose), 0o600);

    let (_dir3, tight) = tmp("tight.jsonl");
    fs::write(&tight, b"").unwrap();
    fs::set_permissions(&tight, fs::Permissions::from_mode(0o400)).unwrap();
    // Read-only: opening for append fails, and the mode is left alone.
    if CaptureWriter::create_or_append(&tight).is_err() {
        assert_eq!(mode(&tight), 0o400);
    }
}

#[test]
fn a_second_writer_is_refused() {
    let (_dir, path) = tmp("lock.jsonl");
    let first = CaptureWriter::create_or_append(&path).unwrap();
    match CaptureWriter::create_or_append(&path) {
        Err(Error::Locked { path: p }) => assert_eq!(p, path),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(first);
    CaptureWriter::create_or_append(&path).unwrap();
}

#[test]
fn writer_and_reader_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<CaptureWriter>();
    send::<CaptureReader>();
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let err = read_all("/nonexistent/dir/x.jsonl").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/dir/x.jsonl: cannot open capture"),
        "{err}"
    );
}

#[test]
fn compression_by_extension() {
    assert_eq!(
        Compression::from_path(Path::new("a.jsonl")),
        Compression::None
    );
    assert_eq!(
        Compression::from_path(Path::new("a.jsonl.zst")),
        Compression::Zstd
    );
    assert_eq!(
        Compression::from_path(Path::new("a.JSONL.GZ")),
        Compression::Gzip
    );
}

#[test]
fn compressed_content_is_recognized_whatever_the_name() {
    let (_dir, path) = tmp("c.jsonl.zst");
    write_capture(&path, &samples(2));
    let renamed = path.with_file_name("renamed.jsonl");
    fs::rename(&path, &renamed).unwrap();
    assert_eq!(read_clean(&renamed), samples(2));
}

#[test]
fn reader_streams_from_memory() {
    let (_dir, path) = tmp("m.jsonl.gz");
    write_capture(&path, &samples(2));
    let reader =
        CaptureReader::from_reader(std::io::Cursor::new(fs::read(&path).unwrap())).unwrap();
    let items: Vec<ReadItem> = reader.collect();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| matches!(i, ReadItem::Record { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Cut anywhere: every record flushed before the cut is read, plus at most one problem.
    #[test]
    fn a_cut_anywhere_keeps_every_flushed_record(
        ext in prop_oneof![Just("jsonl"), Just("jsonl.zst"), Just("jsonl.gz")],
        at in 0.0f64..1.0,
    ) {
        let (_dir, path) = tmp(&format!("cut.{ext}"));
        let snapshots = on_disk_after_each(&path, 5);
        let full = snapshots.last().unwrap();
        let cut = (full.len() as f64 * at) as usize;
        fs::write(&path, &full[..cut]).unwrap();
        let flushed = snapshots.iter().filter(|s| s.len() <= cut).count();
        let (records, problems) = read_all(&path).unwrap();
        // A record may also survive when only its flush marker was cut off.
        prop_assert!(records.len() >= flushed, "{} < {flushed}; problems: {:?}", records.len(), problems);
        prop_assert!(problems.len() <= 1, "{:?}", problems);
    }

    /// Damage anywhere: reading ends, nothing panics, and a later session is still read.
    #[test]
    fn damage_anywhere_is_survived(
        ext in prop_oneof![Just("jsonl"), Just("jsonl.zst"), Just("jsonl.gz")],
        at in 0.0f64..1.0,
        byte in any::<u8>(),
    ) {
        let (_dir, path) = tmp(&format!("dmg.{ext}"));
        write_capture(&path, &samples(3));
        let mut bytes = fs::read(&path).unwrap();
        let i = ((bytes.len() as f64 * at) as usize).min(bytes.len() - 1);
        bytes[i] ^= byte | 1;
        fs::write(&path, &bytes).unwrap();
        write_capture(&path, &samples(2));
        let (records, _problems) = read_all(&path).unwrap();
        let last_two: Vec<Record> = records.iter().rev().take(2).rev().map(|(_, r)| r.clone()).collect();
        prop_assert!(records.len() <= 6);
        prop_assert_eq!(last_two, samples(2), "the next session is intact");
    }
}
