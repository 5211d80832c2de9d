//! `wutap capture …` on real files.

use wusp::Operation;

use crate::util::*;

fn three_ops(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("c.jsonl");
    write_capture(
        &path,
        &[
            exchange(1, Operation::GetConfig, 0),
            exchange(2, Operation::SyncUpdates, 10),
            exchange(3, Operation::SyncUpdates, 20),
            exchange(4, Operation::ReportEventBatch, 30),
        ],
    );
    path
}

#[test]
fn info_counts_operations_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = three_ops(dir.path());
    let v = info_json(path.to_str().unwrap());
    assert_eq!(v["exchanges"], 4);
    assert_eq!(v["records"], 5, "header + 4 exchanges");
    assert_eq!(v["parse_errors"], 0);
    assert_eq!(v["operations"]["SyncUpdates"], 2);
    assert_eq!(v["operations"]["GetConfig"], 1);
    assert_eq!(v["operations"]["ReportEventBatch"], 1);
    assert_eq!(v["clients"], 1);
    assert_eq!(v["servers"], 1);
    assert!(v["first"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn cut_last_line_keeps_earlier_records_reports_line_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = three_ops(dir.path());
    let text = std::fs::read_to_string(&path).unwrap();
    let cut = text.len() - text.lines().last().unwrap().len() / 2 - 1;
    std::fs::write(&path, &text[..cut]).unwrap();
    let out = run(&["capture", "info", path.to_str().unwrap()]);
    assert_code(&out, 1);
    let s = stdout(&out);
    assert!(s.contains("exchanges"), "{s}");
    assert!(s.contains(":5:"), "the cut record is line 5: {s}");
    let v = info_json(path.to_str().unwrap());
    assert_eq!(v["exchanges"], 3);
    assert_eq!(v["parse_errors"], 1);
}

#[test]
fn har_export_import_round_trip_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let path = three_ops(dir.path());
    let har = dir.path().join("c.har");
    let back = dir.path().join("back.jsonl.zst");
    assert_code(
        &run(&[
            "capture",
            "export-har",
            path.to_str().unwrap(),
            "--out",
            har.to_str().unwrap(),
        ]),
        0,
    );
    assert_code(
        &run(&[
            "capture",
            "import-har",
            har.to_str().unwrap(),
            "--out",
            back.to_str().unwrap(),
        ]),
        0,
    );
    let (a, pa) = captures::read_all(&path).unwrap();
    let (b, pb) = captures::read_all(&back).unwrap();
    assert!(pa.is_empty() && pb.is_empty());
    let strip = |v: Vec<(u64, captures::Record)>| {
        v.into_iter()
            .map(|(_, r)| r)
            .filter(|r| !matches!(r, captures::Record::Header(_)))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(a), strip(b));
    // Refuses to overwrite.
    let out = run(&[
        "capture",
        "export-har",
        path.to_str().unwrap(),
        "--out",
        har.to_str().unwrap(),
    ]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("exists"));
}

#[test]
fn missing_file_and_bad_usage_exit_2() {
    assert_code(&run(&["capture", "info", "/nonexistent/x.jsonl"]), 2);
    assert_code(&run(&["capture", "info"]), 2);
    assert_code(&run(&["no-such-command"]), 2);
}

/// A generated, Windows-shaped sample (`wutap-samples`).
fn sample(name: &str) -> std::path::PathBuf {
    generated_samples().join(name)
}

#[test]
fn sample_info_prints_per_operation_counts() {
    let first = sample("first-sync.jsonl");
    let out = run(&["capture", "info", first.to_str().unwrap()]);
    assert_code(&out, 0);
    let text = stdout(&out);
    for line in [
        "GetConfig",
        "GetCookie",
        "SyncUpdates",
        "GetExtendedUpdateInfo",
        "Content",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    let v = info_json(first.to_str().unwrap());
    // Staged first sync: 5 software pages + 1 driver pass (see tools/samples).
    assert_eq!(v["operations"]["SyncUpdates"], 6);
    assert_eq!(v["operations"]["Content"], 1);
    assert_eq!(
        v["operations"].get("other"),
        None,
        "every sample exchange is identified"
    );
}

#[test]
fn redact_with_a_key_is_consistent_and_removes_identities() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "11".repeat(32)).unwrap();
    let input = sample("first-sync.jsonl");
    let original = std::fs::read_to_string(&input).unwrap();
    assert!(original.contains("pc01.contoso.test"));
    let mut outputs = Vec::new();
    for name in ["a.jsonl", "b.jsonl"] {
        let out_path = dir.path().join(name);
        let out = run(&[
            "capture",
            "redact",
            input.to_str().unwrap(),
            "--out",
            out_path.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ]);
        assert_code(&out, 0);
        assert!(stderr(&out).contains("redacted"), "{}", stderr(&out));
        outputs.push(std::fs::read_to_string(&out_path).unwrap());
    }
    assert_eq!(outputs[0], outputs[1], "same key, same placeholders");
    for secret in ["pc01.contoso.test", "192.0.2.10", "wsus.contoso.test"] {
        assert!(
            !outputs[0].contains(secret),
            "{secret} left in the redacted capture"
        );
    }
    // The redacted capture still reads and classifies like the original.
    let v = info_json(dir.path().join("a.jsonl").to_str().unwrap());
    assert_eq!(v["operations"]["SyncUpdates"], 6);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("a.jsonl"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
