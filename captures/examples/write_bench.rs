//! Micro benchmark of the capture writer (the proxy's recorder thread does exactly this):
//! time per exchange record with a 204 KB response body, as text (XML) and as binary
//! (base64), and as text with long runs that need no escaping (bench/proxy's body), JSON
//! encoding and the file write; beside it, serde_json's escaping of the
//! text body alone (which the writer used to do: a byte at a time, about 12 instructions
//! per byte under callgrind).
//!
//!     cargo run --release --example write_bench -p captures [-- RECORDS]
//!
//! A benchmark, not a test: it prints figures and asserts nothing about time.

use std::time::Instant;

use captures::{Body, CaptureWriter, Exchange, Record, Request, Response, Timestamp, Timing};

fn exchange(body: Body) -> Record {
    Record::Exchange(Exchange {
        id: 1,
        conn: 1,
        client: Some("127.0.0.1:50000".into()),
        server: Some("127.0.0.1:8531".into()),
        scheme: "https".into(),
        tls: None,
        upstream_tls: None,
        time: Timing::starting(Timestamp::now()),
        request: Request {
            method: "POST".into(),
            target: "/ClientWebService/client.asmx".into(),
            url: "https://wsus:8531/ClientWebService/client.asmx".into(),
            version: "HTTP/1.1".into(),
            body: Body::Text("<soap:Envelope>".repeat(136)),
            ..Default::default()
        },
        response: Response {
            status: 200,
            reason: "OK".into(),
            version: "HTTP/1.1".into(),
            body,
            ..Default::default()
        },
    })
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(2000);
    let unit = br#"<UpdateInfo><ID>1</ID><Deployment Action="Install" IsAssigned="true"/><Xml>"#;
    let mut xml = Vec::with_capacity(204 * 1024 + unit.len());
    while xml.len() < 204 * 1024 {
        xml.extend_from_slice(unit);
    }
    xml.truncate(204 * 1024);
    let binary: Vec<u8> = (0..204 * 1024u32).map(|i| (i * 7919 % 251) as u8).collect();
    let dir = tempfile::tempdir()?;
    let text = String::from_utf8(xml.clone())?;
    let mut out = Vec::new();
    let t = Instant::now();
    for _ in 0..n {
        out.clear();
        serde_json::to_writer(&mut out, &text)?;
    }
    let took = t.elapsed() / n as u32;
    println!(
        "serde_json escaping of the text body alone: {:6.1} us ({:5.0} MB/s)",
        took.as_secs_f64() * 1e6,
        out.len() as f64 / 1e6 / took.as_secs_f64()
    );
    // bench/proxy's large.xml: long runs without anything to escape.
    let filler = format!(
        "<UpdateInfo><ID>1</ID><Deployment/><Xml>{}</Xml></UpdateInfo>",
        "x".repeat(200)
    );
    let plain = filler.repeat(204 * 1024 / filler.len() + 1)[..204 * 1024].to_owned();
    for (name, body) in [
        ("text 204 KB", Body::from_bytes(xml)),
        ("plain 204 KB", Body::Text(plain)),
        ("binary 204 KB", Body::Binary(binary)),
    ] {
        let record = exchange(body);
        let path = dir.path().join(format!("{}.jsonl", name.replace(' ', "-")));
        let mut w = CaptureWriter::create_or_append(&path)?;
        let t = Instant::now();
        for _ in 0..n {
            w.write(&record)?;
        }
        let write = t.elapsed() / n as u32;
        let line = std::fs::metadata(&path)?.len() / (n as u64 + 1);
        w.finish()?;
        std::fs::remove_file(&path)?;
        let mb = line as f64 / 1e6;
        println!(
            "{name:14} line {:7.1} KB  CaptureWriter::write {:6.1} us ({:5.0} MB/s)",
            line as f64 / 1e3,
            write.as_secs_f64() * 1e6,
            mb / write.as_secs_f64(),
        );
    }
    Ok(())
}
