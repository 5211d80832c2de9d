//! `wutap analyze` and `wutap rules` on the generated (Windows-shaped) samples, mutated
//! copies, and the committed samples from `wutap demo`.

use crate::util::*;

const FIRST: &str = "first-sync.jsonl";
const DIFF: &str = "differential-sync.jsonl";

/// A generated sample (`wutap-samples`).
fn sample(name: &str) -> String {
    generated_samples().join(name).display().to_string()
}

/// A committed sample (`scripts/make-samples.sh`, from `wutap demo`).
fn committed(name: &str) -> String {
    format!("{}/captures/samples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_committed_demo_samples_are_a_clean_first_and_differential_sync() {
    let v = analyze_json(&[&committed(FIRST), &committed(DIFF)], 0);
    assert_eq!(v["summary"]["sessions"], 2, "{v:#}");
    assert_eq!(v["summary"]["must_violations"], 0, "{v:#}");
    // wutap's own client and server write every element in schema order (T-13), of its
    // WSDL type and every required one (T-10).
    assert!(
        rules_of(&v, "violated")
            .iter()
            .all(|r| r != "T-13" && r != "T-10"),
        "{v:#}"
    );
    assert_eq!(v["sessions"][0]["kind"], "first");
    assert_eq!(v["sessions"][1]["kind"], "differential");
    assert_eq!(v["sessions"][0]["client"], v["sessions"][1]["client"]);
    let verdict = v["sessions"][1]["verdict"].as_str().expect("verdict");
    assert!(
        verdict.starts_with("differential sync OK: ") && verdict.contains("cache sent"),
        "{verdict}"
    );
    // Redacted: no loopback address, no client DNS name of the demo.
    for name in [FIRST, DIFF] {
        let text = std::fs::read_to_string(committed(name)).expect("committed sample");
        assert!(!text.contains("127.0.0.1"), "{name}");
        assert!(
            !text.contains("Name>wutap-"),
            "{name}: the demo client's DNS name"
        );
    }
}

fn analyze_json(args: &[&str], code: i32) -> serde_json::Value {
    let mut all = vec!["analyze", "--format", "json"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert_code(&out, code);
    serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", stdout(&out)))
}

fn rules_of(v: &serde_json::Value, status: &str) -> Vec<String> {
    let mut r: Vec<String> = v["sessions"]
        .as_array()
        .expect("sessions array")
        .iter()
        .flat_map(|s| s["findings"].as_array().expect("findings array").iter())
        .filter(|f| f["status"] == status)
        .map(|f| f["rule"].as_str().expect("rule id").to_string())
        .collect();
    r.sort();
    r.dedup();
    r
}

#[test]
fn the_samples_together_have_no_must_violation() {
    let (first, diff) = (sample(FIRST), sample(DIFF));
    // Given in reverse order: the analyzer orders inputs in time.
    let out = run(&["analyze", &diff, &first]);
    assert_code(&out, 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[1], "s1 first sync OK: 5 pages, 10 new updates",
        "{text}"
    );
    assert_eq!(
        lines[2], "s2 differential sync OK: 2 pages, 5 new updates, cache sent 4/4 + 6/6",
        "{text}"
    );

    let v = analyze_json(&[&first, &diff], 0);
    assert_eq!(v["summary"]["sessions"], 2);
    assert_eq!(v["summary"]["must_violations"], 0);
    assert_eq!(v["summary"]["should_violations"], 0);
    // The Windows-shaped messages conform to the WSDL types and required elements (T-10).
    assert!(
        rules_of(&v, "violated").iter().all(|r| r != "T-10"),
        "{v:#}"
    );
    assert_eq!(v["sessions"][0]["kind"], "first");
    assert_eq!(v["sessions"][1]["kind"], "differential");
    assert_eq!(v["sessions"][0]["client"], v["sessions"][1]["client"]);
    assert_eq!(v["sessions"][1]["cache"]["installed_non_leaf_sent"], 4);
    assert_eq!(v["sessions"][1]["cache"]["other_cached_sent"], 6);
    assert_eq!(v["sessions"][1]["cache"]["known"], 10);
    assert_eq!(v["sessions"][1]["exchanges"][1]["operation"], "SyncUpdates");
    assert_eq!(v["sessions"][1]["exchanges"][1]["page"], 2);
    // The content download is judged in the session (T-15: its SHA-1 is its FileDigest).
    assert_eq!(v["skipped"].as_array().map(Vec::len), Some(0));
    let ops: Vec<&str> = v["sessions"][0]["exchanges"]
        .as_array()
        .expect("exchanges")
        .iter()
        .filter_map(|e| e["operation"].as_str())
        .collect();
    assert!(ops.contains(&"Content"), "{ops:?}");
    assert!(rules_of(&v, "violated").is_empty(), "{v:#}");

    let junit = run(&["analyze", "--format", "junit", &first, &diff]);
    assert_code(&junit, 0);
    assert!(stdout(&junit).contains("<testsuites name=\"wutap analyze\""));
}

#[test]
fn the_differential_sample_alone_is_unverifiable_where_history_is_missing() {
    let v = analyze_json(&[&sample(DIFF)], 0);
    assert_eq!(v["sessions"][0]["kind"], "differential");
    assert_eq!(rules_of(&v, "unverifiable"), ["C-02", "C-22", "S-16"]);
    assert!(rules_of(&v, "violated").is_empty());
}

/// The differential sample without its second (last) software page (line 3).
fn without_last_page(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(sample(DIFF)).expect("read the sample");
    let mutated: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| l)
        .collect();
    let path = dir.join("diff-mutated.jsonl");
    std::fs::write(&path, mutated.join("\n") + "\n").expect("write the mutated copy");
    path
}

#[test]
fn the_last_page_removed_is_a_c28_violation_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = without_last_page(dir.path());
    let first = sample(FIRST);
    let v = analyze_json(&[&first, path.to_str().unwrap()], 1);
    assert_eq!(rules_of(&v, "violated"), ["C-28"], "{v:#}");
    assert_eq!(v["summary"]["must_violations"], 1);
    let out = run(&["analyze", &first, path.to_str().unwrap()]);
    assert_code(&out, 1);
    let s = stdout(&out);
    assert!(
        s.lines()
            .nth(2)
            .unwrap()
            .starts_with("s2 differential sync PROBLEMS (C-28)"),
        "{s}"
    );
    assert!(s.contains("C-28 MUST violated"), "{s}");
    // Filtering the rule away leaves nothing to fail on.
    let out = run(&[
        "analyze",
        "--rules",
        "C-15,S-11",
        &first,
        path.to_str().unwrap(),
    ]);
    assert_code(&out, 0);
}

#[test]
fn har_input_gives_the_same_findings_as_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    let mutated = without_last_page(dir.path());
    let har = dir.path().join("diff.har");
    assert_code(
        &run(&[
            "capture",
            "export-har",
            mutated.to_str().unwrap(),
            "--out",
            har.to_str().unwrap(),
        ]),
        0,
    );
    let first = sample(FIRST);
    let from_capture = analyze_json(&[&first, mutated.to_str().unwrap()], 1);
    let from_har = analyze_json(&[&first, har.to_str().unwrap()], 1);
    // The same findings, exchange ids aside (they name the file).
    let strip = |v: &serde_json::Value| {
        v.to_string()
            .replace("diff-mutated.jsonl#", "#")
            .replace("diff.har#", "#")
    };
    assert_eq!(rules_of(&from_har, "violated"), ["C-28"]);
    for i in 0..2 {
        assert_eq!(
            from_har["sessions"][i]["verdict"],
            from_capture["sessions"][i]["verdict"]
        );
        assert_eq!(
            strip(&from_har["sessions"][i]["findings"]),
            strip(&from_capture["sessions"][i]["findings"])
        );
    }
}

#[test]
fn rules_lists_every_rule_in_the_contract_shape() {
    let out = run(&["rules", "--format", "json"]);
    assert_code(&out, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rules = v.as_array().unwrap();
    assert_eq!(rules.len(), 104);
    for r in rules {
        for key in ["rule", "level", "checked", "statement", "cite"] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
        if r["checked"] == false {
            assert!(r["reason"].as_str().is_some_and(|s| !s.is_empty()), "{r}");
        }
    }
    assert_eq!(rules[43]["rule"], "C-28");
    assert_eq!(rules[43]["checked"], true);
    let text = run(&["rules"]);
    assert_code(&text, 0);
    assert!(stdout(&text).starts_with("104 rules, "));
}

#[test]
fn usage_and_io_errors_exit_2() {
    let out = run(&["analyze", "/nonexistent/capture.jsonl"]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("/nonexistent/capture.jsonl"),
        "{}",
        stderr(&out)
    );
    let out = run(&["analyze", "--rules", "Z-99", &sample(DIFF)]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("Z-99"));
    assert_code(&run(&["analyze", "--profile", "windows", &sample(DIFF)]), 2);
}

#[test]
fn a_request_body_cut_mid_xml_is_a_t10_violation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(sample(DIFF)).expect("read the sample");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Line 3: the second SyncUpdates; keep the first two thirds of its request body.
    let mut record: serde_json::Value = serde_json::from_str(&lines[2]).expect("a record");
    let body = record["request"]["body"]["text"]
        .as_str()
        .expect("a text body")
        .to_string();
    let cut: String = body.chars().take(body.chars().count() * 2 / 3).collect();
    record["request"]["body"]["text"] = serde_json::Value::String(cut);
    lines[2] = record.to_string();
    let path = dir.path().join("diff-cut.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write the mutated copy");
    let v = analyze_json(&[&sample(FIRST), path.to_str().expect("utf-8 path")], 1);
    assert_eq!(rules_of(&v, "violated"), ["T-10"], "{v:#}");
    let finding = &v["sessions"][1]["findings"][0];
    assert_eq!(finding["exchanges"][0], "diff-cut.jsonl#2");
    assert!(
        finding["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("SyncUpdates request does not decode")),
        "{finding}"
    );
}

/// Starts `wutap serve` on an ephemeral loopback port with `inject` faults; returns the
/// child (killed by the caller) and its base URL.
fn start_server(inject: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead as _;
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--seed",
        "11",
        "--catalog-size",
        "120",
        "--page-size",
        "25",
    ];
    for i in inject {
        args.extend(["--inject", i]);
    }
    let mut child = wutap()
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start wutap serve");
    let stdout = child.stdout.take().expect("stdout");
    let url = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("listening ").map(str::to_string))
        .expect("a listening line");
    (child, url)
}

#[test]
fn client_against_server_captures_have_no_must_violation_even_with_faults() {
    for inject in [
        None,
        Some("CookieExpired@SyncUpdates#2"),
        Some("InvalidCookie@SyncUpdates#2"),
        Some("ConfigChanged@SyncUpdates#3"),
        Some("RegistrationRequired@SyncUpdates#2"),
        Some("ServerChanged@GetExtendedUpdateInfo#1"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut server, url) = start_server(inject.as_slice());
        let state = dir.path().join("state.json");
        let first = dir.path().join("first.jsonl");
        let second = dir.path().join("second.jsonl");
        let (s, f, d) = (
            state.to_str().expect("utf-8"),
            first.to_str().expect("utf-8"),
            second.to_str().expect("utf-8"),
        );
        let fresh = run(&[
            "replay",
            "--server",
            &url,
            "--fresh",
            "--state",
            s,
            "--capture",
            f,
        ]);
        let again = run(&["replay", "--server", &url, "--state", s, "--capture", d]);
        let _ = server.kill();
        let _ = server.wait();
        assert_code(&fresh, 0);
        assert_code(&again, 0);
        let v = analyze_json(&[f, d], 0);
        assert_eq!(v["summary"]["must_violations"], 0, "{inject:?}: {v:#}");
        assert_eq!(v["sessions"][0]["kind"], "first", "{inject:?}");
        assert_eq!(v["sessions"][1]["kind"], "differential", "{inject:?}");
        assert!(
            rules_of(&v, "violated").is_empty(),
            "{inject:?}: {:?}",
            rules_of(&v, "violated")
        );
        let verdict = v["sessions"][1]["verdict"].as_str().expect("verdict");
        assert!(
            verdict.starts_with("differential sync OK"),
            "{inject:?}: {verdict}"
        );
    }
}

#[test]
fn a_cut_last_line_is_an_input_problem_with_exit_1_and_the_rest_is_judged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(sample(DIFF)).expect("read the sample");
    let last = text.lines().last().expect("a last line");
    let cut = &text[..text.len() - last.len() / 2 - 1];
    let path = dir.path().join("diff-cut-line.jsonl");
    std::fs::write(&path, cut).expect("write");
    let out = run(&["analyze", &sample(FIRST), path.to_str().expect("utf-8")]);
    assert_code(&out, 1);
    let s = stdout(&out);
    assert!(s.contains("input problems (1):"), "{s}");
    assert!(
        s.contains("diff-cut-line.jsonl:6:"),
        "the cut record is line 6: {s}"
    );
    assert!(s.contains("s2 differential sync OK"), "{s}");
}

#[test]
fn rules_json_has_exactly_the_contract_keys() {
    let out = run(&["rules", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    for r in v.as_array().expect("array") {
        let keys: Vec<&str> = r
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let expected: &[&str] = if r["checked"] == true {
            &["checked", "cite", "level", "rule", "statement"]
        } else {
            &["checked", "cite", "level", "reason", "rule", "statement"]
        };
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expected, "{r}");
    }
}

/// The differential sample with `f` applied to its exchanges (header line kept), written to
/// `dir/name`.
fn mutated_diff(
    dir: &std::path::Path,
    name: &str,
    f: impl FnOnce(&mut Vec<captures::Exchange>),
) -> String {
    let text = std::fs::read_to_string(sample(DIFF)).expect("read the sample");
    let mut lines = text.lines();
    let header = lines.next().expect("a header line").to_string();
    let mut exchanges: Vec<captures::Exchange> = lines
        .map(
            |l| match captures::parse_line(l.as_bytes()).expect("a record") {
                captures::Record::Exchange(e) => e,
                other => panic!("not an exchange: {other:?}"),
            },
        )
        .collect();
    f(&mut exchanges);
    let mut out = vec![header];
    for e in exchanges {
        out.push(serde_json::to_string(&captures::Record::Exchange(e)).expect("serialize"));
    }
    let path = dir.join(name);
    std::fs::write(&path, out.join("\n") + "\n").expect("write the mutated copy");
    path.to_str().expect("utf-8 path").to_string()
}

/// Rewrites the text of exchange `i`'s request body.
fn edit_request(exchanges: &mut [captures::Exchange], i: usize, f: impl FnOnce(&str) -> String) {
    let body = exchanges[i].request.body.bytes().expect("a request body");
    let text = f(std::str::from_utf8(body).expect("UTF-8 body"));
    exchanges[i].request.body = captures::Body::from_bytes(text.into_bytes());
}

/// Removes every `<element>…</element>` from `xml`.
fn without_element(xml: &str, element: &str) -> String {
    let (open, close) = (format!("<{element}>"), format!("</{element}>"));
    let mut out = xml.to_string();
    while let (Some(a), Some(b)) = (out.find(&open), out.find(&close)) {
        out.replace_range(a..b + close.len(), "");
    }
    out
}

/// The XML of an Xpress response body.
fn response_text(r: &captures::Response) -> String {
    let wire = r.body.bytes().expect("a response body");
    String::from_utf8(wusp::xpress::decode(wire).expect("Xpress")).expect("UTF-8")
}

/// The `<UpdateInfo>` element containing `needle` in the first sample's answers.
fn update_info_of_first_sync(needle: &str) -> String {
    let text = std::fs::read_to_string(sample(FIRST)).expect("read the sample");
    for line in text.lines().skip(1) {
        let captures::Record::Exchange(e) = captures::parse_line(line.as_bytes()).expect("record")
        else {
            continue;
        };
        if !e.response.is_xpress() {
            continue;
        }
        let xml = response_text(&e.response);
        if let Some(at) = xml.find(needle) {
            let a = xml[..at].rfind("<UpdateInfo>").expect("its UpdateInfo");
            let b = at + xml[at..].find("</UpdateInfo>").expect("its end") + "</UpdateInfo>".len();
            return xml[a..b].to_string();
        }
    }
    panic!("{needle} not in the first sample")
}

/// The one `<EncryptedData>` value of a request body.
fn encrypted_data(xml: &str) -> String {
    let a = xml.find("<EncryptedData>").expect("a cookie") + "<EncryptedData>".len();
    let b = xml.find("</EncryptedData>").expect("a cookie end");
    xml[a..b].to_string()
}

#[test]
fn mutation_cached_id_lists_emptied_gives_exactly_c27() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = mutated_diff(dir.path(), "diff-emptied.jsonl", |ex| {
        for i in 0..3 {
            edit_request(ex, i, |x| {
                without_element(
                    &without_element(x, "InstalledNonLeafUpdateIDs"),
                    "OtherCachedUpdateIDs",
                )
            });
        }
    });
    let v = analyze_json(&[&sample(FIRST), &path], 0);
    assert_eq!(rules_of(&v, "violated"), ["C-27"], "{v:#}");
}

#[test]
fn mutation_superseded_cookie_gives_exactly_c15() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = mutated_diff(dir.path(), "diff-old-cookie.jsonl", |ex| {
        let body = ex[0].request.body.bytes().expect("page 1 body");
        let old = encrypted_data(std::str::from_utf8(body).expect("UTF-8"));
        edit_request(ex, 1, |x| x.replace(&encrypted_data(x), &old));
    });
    let v = analyze_json(&[&sample(FIRST), &path], 0);
    assert_eq!(rules_of(&v, "violated"), ["C-15"], "{v:#}");
}

#[test]
fn mutation_extended_info_before_the_sync_gives_exactly_c22() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = mutated_diff(dir.path(), "diff-ext-first.jsonl", |ex| {
        let start = ex[0].time.start.unix_micros();
        let shift = ex[3].time.start.unix_micros() - (start - 1_000);
        let moved = |ts: captures::Timestamp| {
            captures::Timestamp::from_unix_micros(ts.unix_micros() - shift).expect("a time")
        };
        let t = &mut ex[3].time;
        t.start = moved(t.start);
        for ts in [&mut t.request_end, &mut t.response_start, &mut t.end] {
            *ts = ts.map(moved);
        }
    });
    let v = analyze_json(&[&sample(FIRST), &path], 1);
    assert_eq!(rules_of(&v, "violated"), ["C-22"], "{v:#}");
}

#[test]
fn mutation_extended_info_for_cached_revisions_gives_exactly_c49() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = mutated_diff(dir.path(), "diff-refetch.jsonl", |ex| {
        // 38110 is cached since the first sync, its fragments with it.
        edit_request(ex, 3, |x| {
            x.replacen("<revisionIDs>", "<revisionIDs><int>38110</int>", 1)
        });
    });
    let v = analyze_json(&[&sample(FIRST), &path], 0);
    assert_eq!(rules_of(&v, "violated"), ["C-49"], "{v:#}");
}

#[test]
fn mutation_server_resending_a_cached_revision_gives_exactly_s11() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = mutated_diff(dir.path(), "diff-resent.jsonl", |ex| {
        // Page 1's answer gets revision 38110 again, exactly as the first sync delivered it,
        // though the request lists it as cached: the server re-sends it.
        let again = update_info_of_first_sync("<ID>38110</ID>");
        let r = &mut ex[0].response;
        let xml = response_text(r);
        let b = xml.find("</UpdateInfo>").expect("a new update") + "</UpdateInfo>".len();
        let mutated = format!("{}{again}{}", &xml[..b], &xml[b..]);
        r.body = captures::Body::from_bytes(wusp::xpress::encode(mutated.as_bytes()));
    });
    let v = analyze_json(&[&sample(FIRST), &path], 1);
    assert_eq!(rules_of(&v, "violated"), ["S-11"], "{v:#}");
}

#[test]
fn every_fault_the_server_injects_gives_no_must_violation() {
    // Every ErrorCode (reference section 4) and every transport fault `wutap serve --inject`
    // knows, each on an operation where the client meets it; the plain and category scans.
    let faults = [
        "",
        "CookieExpired@SyncUpdates#2",
        "InvalidCookie@GetExtendedUpdateInfo#1",
        "ConfigChanged@SyncUpdates#3",
        "RegistrationRequired@SyncUpdates#2",
        "ServerChanged@SyncUpdates#2",
        "InternalServerError@SyncUpdates#2",
        "ServerBusy@SyncUpdates#2",
        "InvalidParameters@SyncUpdates#2",
        "InvalidParameter@GetExtendedUpdateInfo#1",
        "InvalidAuthorizationCookie@GetCookie#1",
        "RegistrationNotRequired@RegisterComputer#1",
        "FileLocationChanged@GetExtendedUpdateInfo#1",
        "FileLocationsChanged@GetExtendedUpdateInfo#1",
        "close@SyncUpdates#2",
        "delay=200@SyncUpdates#2",
        "503@GetConfig#1",
    ];
    // ErrorCodes outside the WUSP table (reference 4.2: MS-WSUSSS only): the server is wrong
    // to send them (T-06), the client is not (no other violation).
    let foreign = [
        "IncompatibleProtocolVersion@GetConfig#1",
        "FileDigestsMissing@GetExtendedUpdateInfo#1",
        "TooManyIds@GetExtendedUpdateInfo#1",
    ];
    let product = product_category(120, 11);
    let mut ran = 0;
    for categories in [None, Some(product.as_str())] {
        for fault in faults.into_iter().chain(foreign) {
            // The category scan may not reach the faulted call (no extended info to fetch).
            let expected: &[&str] = if foreign.contains(&fault) && categories.is_none() {
                &["T-06"]
            } else {
                &[]
            };
            let inject: Vec<&str> = [fault].into_iter().filter(|f| !f.is_empty()).collect();
            let dir = tempfile::tempdir().expect("tempdir");
            let (mut server, url) = start_server(&inject);
            let state = dir.path().join("state.json");
            let s = state.to_str().expect("utf-8");
            let mut files = Vec::new();
            for (i, fresh) in [true, false].into_iter().enumerate() {
                let path = dir.path().join(format!("run{i}.jsonl"));
                let p = path.to_str().expect("utf-8").to_string();
                let mut args = vec!["replay", "--server", &url, "--state", s, "--capture", &p];
                if fresh {
                    args.push("--fresh");
                }
                if let Some(c) = categories {
                    args.extend(["--categories", c]);
                }
                let out = run(&args);
                // A fault the client cannot recover from may end its run; what it sent
                // up to then is still judged.
                assert!(
                    matches!(out.status.code(), Some(0 | 1)),
                    "{fault} {categories:?}: {}",
                    stderr(&out)
                );
                if path.exists() {
                    files.push(p);
                }
            }
            let _ = server.kill();
            let _ = server.wait();
            assert!(!files.is_empty(), "{fault}: no capture written");
            let args: Vec<&str> = files.iter().map(String::as_str).collect();
            let mut all = vec!["analyze", "--format", "json", "--level", "must"];
            all.extend_from_slice(&args);
            let out = run(&all);
            let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
            let violated = rules_of(&v, "violated");
            if foreign.contains(&fault) && categories.is_some() {
                assert!(
                    violated.is_empty() || violated == ["T-06"],
                    "{fault} {categories:?}: {v:#}"
                );
            } else {
                assert_eq!(violated, expected, "{fault} {categories:?}: {v:#}");
            }
            ran += 1;
        }
    }
    assert_eq!(ran, (faults.len() + foreign.len()) * 2);
}
