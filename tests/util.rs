//! Test harness: run the real binary, print expected/got blocks on failure.

use std::path::Path;
use std::process::{Command, Output};

use captures::{
    Body, CaptureWriter, Exchange, Headers, Record, Request, Response, Timestamp, Timing,
};

/// The generated, Windows-shaped sample captures (`wutap-samples`: first-sync.jsonl,
/// differential-sync.jsonl), written once per test run. The committed `captures/samples/`
/// come from `wutap demo` instead.
pub(crate) fn generated_samples() -> &'static Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("generated-samples");
        std::fs::create_dir_all(&dir).expect("create the samples directory");
        wutap_samples::write_samples(&dir).expect("write the generated samples");
        dir
    })
}

/// The `wutap` binary built for these tests.
pub(crate) fn wutap() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wutap"));
    c.env_remove("RUST_LOG");
    c
}

/// Runs `wutap args…` and returns its output.
pub(crate) fn run(args: &[&str]) -> Output {
    wutap().args(args).output().expect("failed to start wutap")
}

/// Asserts the exit code, printing stdout and stderr when it differs.
pub(crate) fn assert_code(out: &Output, code: i32) {
    if out.status.code() != Some(code) {
        panic!(
            "\n--- expected exit code {code}, got {:?}\n--- stdout\n{}\n--- stderr\n{}\n",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Stdout as text.
pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr as text.
pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A SOAP request body of operation `op` (element only, for classification).
pub(crate) fn soap_request(op: wusp::Operation) -> String {
    format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><{} xmlns=\"{}\" /></s:Body></s:Envelope>",
        op.name(),
        op.service().namespace()
    )
}

/// An exchange record for `op` with an Xpress response body.
pub(crate) fn exchange(id: u64, op: wusp::Operation, at: i64) -> Record {
    let t = Timestamp::from_unix_micros(1_790_000_000_000_000 + at * 1000).expect("time");
    let mut headers = Headers::new();
    headers.push("Content-Type", "text/xml; charset=utf-8");
    headers.push("Accept-Encoding", "xpress");
    headers.push("SOAPAction", format!("\"{}\"", op.soap_action()));
    headers.push("Host", "wsus.test:8530");
    let body = soap_request(op);
    let reply = format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><{} xmlns=\"{}\" /></s:Body></s:Envelope>",
        op.response_name(),
        op.service().namespace()
    );
    let mut rh = Headers::new();
    rh.push("Content-Encoding", "xpress");
    Record::Exchange(Exchange {
        id,
        conn: 1,
        client: Some("192.0.2.10:50000".into()),
        server: Some("192.0.2.1:8530".into()),
        scheme: "http".into(),
        tls: None,
        upstream_tls: None,
        time: Timing {
            start: t,
            request_end: Some(t),
            response_start: Some(t),
            end: Some(t),
        },
        request: Request {
            method: "POST".into(),
            target: op.service().path().into(),
            url: format!("http://wsus.test:8530{}", op.service().path()),
            version: "HTTP/1.1".into(),
            headers,
            body_truncated: false,
            body: Body::from_bytes(body.into_bytes()),
        },
        response: Response {
            status: 200,
            reason: "OK".into(),
            version: "HTTP/1.1".into(),
            headers: rh,
            body_truncated: false,
            body: Body::from_bytes(wusp::xpress::encode(reply.as_bytes())),
        },
    })
}

/// Writes records to a new capture file.
pub(crate) fn write_capture(path: &Path, records: &[Record]) {
    let mut w = CaptureWriter::create_or_append(path).expect("create capture");
    for r in records {
        w.write(r).expect("write record");
    }
    w.finish().expect("finish");
}

/// `wutap capture info --format json PATH`, parsed.
pub(crate) fn info_json(path: &str) -> serde_json::Value {
    let out = run(&["capture", "info", "--format", "json", path]);
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n--- stderr\n{}",
            stdout(&out),
            stderr(&out)
        )
    })
}

/// The UpdateID of the first product category in the catalog `wutap serve` generates with
/// `--catalog-size size --seed seed`.
pub(crate) fn product_category(size: usize, seed: u64) -> String {
    use replay::server::catalog::{Catalog, CategoryType, RevisionKind};
    let c = Catalog::generate(size, seed).expect("catalog");
    let r = c
        .revisions()
        .iter()
        .position(|r| r.kind == RevisionKind::Category(CategoryType::Product))
        .expect("a product category") as u32;
    c.update_id_of(r).to_string()
}
