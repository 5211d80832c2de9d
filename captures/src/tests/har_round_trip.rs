//! Capture → HAR → capture gives the same records.

use std::fs;

use proptest::collection::vec;
use proptest::prelude::*;

use super::strategies::{record, sample_exchange};
use super::write_capture;
use crate::{
    Body, CaptureHeader, ConnectionMode, ConnectionRecord, ErrorPhase, ErrorRecord, Header,
    ReadItem, Record, Timestamp, Timing, har, read_all,
};

fn via_har(records: &[Record]) -> Vec<Record> {
    let doc = har::export(records).unwrap();
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let (back, problems) = har::import(text.as_bytes()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    back
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_records_survive_har(records in vec(record(), 0..8)) {
        prop_assert_eq!(via_har(&records), records);
    }
}

fn hand_made() -> Vec<Record> {
    let t = Timestamp::parse("2026-11-25T10:00:00.000042Z").unwrap();
    let mut header = CaptureHeader::new("wutap 0.1.0");
    header.created = t;
    header.note = Some("lab run".into());
    let mut omitted = sample_exchange(2, Body::omitted_from(&vec![7u8; 100_000]));
    if let Record::Exchange(e) = &mut omitted {
        e.request.method = "GET".into();
        e.request.body = Body::empty();
        e.request
            .headers
            .push_header(Header::from_bytes("X-Latin1", b"\xe9t\xe9"));
    }
    let aborted = Record::Error(ErrorRecord {
        id: 3,
        conn: 3,
        client: Some("127.0.0.1:50512".into()),
        server: None,
        scheme: "http".into(),
        tls: None,
        upstream_tls: None,
        time: Timing::starting(t),
        phase: ErrorPhase::ClientAbort,
        message: "client closed the connection".into(),
        request: None,
        response: None,
    });
    let mut reset = aborted.clone();
    if let (Record::Error(r), Record::Exchange(e)) = (&mut reset, sample_exchange(4, Body::empty()))
    {
        r.id = 4;
        r.phase = ErrorPhase::UpstreamReset;
        r.request = Some(e.request);
        let mut resp = e.response;
        resp.body = Body::Binary(vec![1, 2, 3]);
        resp.body_truncated = true;
        r.response = Some(resp);
    }
    let conn = Record::Connection(ConnectionRecord {
        conn: 3,
        client: Some("127.0.0.1:50512".into()),
        server: Some("10.0.0.5:8531".into()),
        tls: None,
        upstream_tls: None,
        opened: t,
        closed: Some(t),
        mode: ConnectionMode::Intercept,
        bytes_up: 1234,
        bytes_down: 5678,
    });
    vec![
        Record::Header(header),
        sample_exchange(1, Body::Binary(vec![0x0f, 0xff, 0x00, 0x10])),
        omitted,
        aborted,
        reset,
        conn,
    ]
}

#[test]
fn hand_made_records_survive_har_and_look_like_har() {
    let records = hand_made();
    assert_eq!(via_har(&records), records);

    let doc = har::export(&records).unwrap();
    let log = &doc["log"];
    assert_eq!(log["version"], "1.2");
    assert_eq!(log["creator"]["name"], "wutap");
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 4, "exchanges and errors are entries");
    assert_eq!(log["_wutap"]["records"].as_array().unwrap().len(), 2);
    let first = &entries[0];
    assert_eq!(first["startedDateTime"], "2026-11-25T10:00:00.000001Z");
    assert_eq!(
        first["request"]["postData"]["text"],
        "<s:Envelope>GetConfig</s:Envelope>"
    );
    assert_eq!(first["response"]["content"]["encoding"], "base64");
    assert_eq!(first["response"]["content"]["text"], "D/8AEA==");
    assert_eq!(first["serverIPAddress"], "10.0.0.5");
    assert_eq!(first["timings"]["send"], 1.5);
    assert_eq!(first["timings"]["wait"], 18.75);
    assert_eq!(first["time"], 21.0);
    assert_eq!(first["request"]["headers"][0]["name"], "Host");
    let omitted = &entries[1];
    assert!(omitted["response"]["content"].get("text").is_none());
    assert_eq!(omitted["response"]["content"]["size"], 100_000);
    assert!(omitted.get("request").unwrap().get("postData").is_none());
    assert_eq!(entries[2]["response"]["status"], 0);
    assert_eq!(entries[2]["_error"], "client closed the connection");
}

#[test]
fn reader_reads_har_files_by_extension_and_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("c.jsonl.zst");
    let records = hand_made();
    write_capture(&capture, &records[1..]);
    let har_path = dir.path().join("c.har");
    let problems = har::export_file(&capture, &har_path).unwrap();
    assert!(problems.is_empty());
    let (from_har, problems) = read_all(&har_path).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    let (from_capture, _) = read_all(&capture).unwrap();
    let strip = |v: &[(u64, Record)]| v.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>();
    assert_eq!(strip(&from_har), strip(&from_capture));
    // Entries are numbered from 1; kept records (header, connection) have line 0.
    let lines: Vec<u64> = from_har.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [0, 1, 2, 3, 4, 0]);

    let disguised = dir.path().join("export.json");
    fs::copy(&har_path, &disguised).unwrap();
    let items: Vec<ReadItem> = crate::CaptureReader::open(&disguised).unwrap().collect();
    assert_eq!(items.len(), 6);

    let (records_again, problems) = har::import_file(&har_path).unwrap();
    assert!(problems.is_empty());
    assert_eq!(records_again.len(), 6);
    assert_eq!(records_again[1..], records[1..]);
}
