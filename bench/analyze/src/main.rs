//! Benchmark: `wutap analyze` end to end on a generated capture of many clients, each with a
//! first sync and a differential sync one day later, beside a raw quick-xml pass over the
//! same bodies, and the analyzer's peak RSS.
//!
//! The capture is built from the committed samples' exchanges (`wutap-samples`: native
//! headers, Xpress responses, staged first sync, differential sync with the cache sent):
//! every client gets its own ClientID, cookies (EncryptedData), address and exchange ids, and
//! its Xpress responses are re-encoded. Both passes read the capture file (JSON lines,
//! base64) and decode Xpress; the raw pass then only walks the XML events of every body.
//!
//! Run: `cargo build --release -p wutap -p bench-analyze &&
//! target/release/bench-analyze [--clients N] [--out FILE] [--keep]`.
//! The ratio is printed twice: by wall time, and by CPU time (user + system of this process
//! for the raw pass, of the waited-for `wutap analyze` child for the analysis), which holds
//! on a machine busy with other work where wall time does not.
//!
//! Not a timed test: it prints figures and ratios, it asserts nothing about speed.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use captures::{
    Body, CaptureHeader, CaptureReader, CaptureWriter, Exchange, Headers, ReadItem, Record,
    WriterOptions,
};
use clap::Parser;

/// Xpress input block size the samples use (Windows Server 2025, reference 1.3).
const XPRESS_BLOCK: usize = 16352;

/// Command line.
#[derive(Parser)]
#[command(
    about = "wutap analyze on a generated capture: MB/s beside a raw quick-xml pass, peak RSS"
)]
struct Args {
    /// Clients; each one has a first sync and a differential sync (two sessions).
    #[arg(long, default_value_t = 13_000)]
    clients: u32,
    /// Where the capture is written (deleted at the end unless --keep).
    #[arg(long, default_value = "target-data/bench-analyze.jsonl")]
    out: PathBuf,
    /// The wutap binary (default: next to this one).
    #[arg(long)]
    wutap: Option<PathBuf>,
    /// Keep the generated capture.
    #[arg(long)]
    keep: bool,
    /// Reuse an existing capture at --out instead of generating it (and keep it).
    #[arg(long)]
    reuse: bool,
}

/// One sample exchange with its bodies as text, ready to be specialised per client.
struct Template {
    exchange: Exchange,
    request_xml: Option<String>,
    response_xml: Option<String>,
}

fn templates(records: Vec<Record>) -> Result<Vec<Template>> {
    let mut out = Vec::new();
    for r in records {
        let Record::Exchange(ex) = r else { continue };
        let request_xml = ex
            .request
            .body
            .bytes()
            .and_then(|b| String::from_utf8(b.to_vec()).ok());
        let response_xml = match ex.response.body.bytes() {
            Some(b) if ex.response.is_xpress() => Some(
                String::from_utf8(wusp::xpress::decode(b).context("sample Xpress body")?)
                    .context("sample body is not UTF-8")?,
            ),
            _ => None,
        };
        out.push(Template {
            exchange: ex,
            request_xml,
            response_xml,
        });
    }
    Ok(out)
}

/// Every `<EncryptedData>` and `<CookieData>` token in the bodies (the cookies and
/// authorization cookies the samples issue and send).
fn cookie_tokens(all: &[&Template]) -> Vec<String> {
    let mut tokens = Vec::new();
    for t in all {
        let bodies = [&t.request_xml, &t.response_xml];
        for (xml, element) in bodies.into_iter().flatten().flat_map(|x| {
            [
                ("<EncryptedData>", "</EncryptedData>"),
                ("<CookieData>", "</CookieData>"),
            ]
            .map(|e| (x, e))
        }) {
            let (open, close) = element;
            let mut rest = xml.as_str();
            while let Some(start) = rest.find(open) {
                rest = &rest[start + open.len()..];
                let Some(end) = rest.find(close) else {
                    break;
                };
                let token = rest[..end].to_string();
                if token.len() > 8 && !tokens.contains(&token) {
                    tokens.push(token);
                }
                rest = &rest[end..];
            }
        }
    }
    tokens
}

/// `n` in eight base64-alphabet characters (same length, still valid base64).
fn tag(n: u32) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut v = u64::from(n);
    (0..8)
        .map(|_| {
            let c = ALPHABET[(v % 62) as usize] as char;
            v /= 62;
            c
        })
        .collect()
}

/// What is replaced for one client: (sample text, this client's text), equal lengths.
fn substitutions(client: u32, sample_id: &str, tokens: &[String]) -> Vec<(String, String)> {
    let mut subs = vec![(
        sample_id.to_string(),
        format!("{}{:012x}", &sample_id[..24], client),
    )];
    for t in tokens {
        subs.push((t.clone(), format!("{}{}", tag(client), &t[8..])));
    }
    subs
}

fn apply(xml: &str, subs: &[(String, String)]) -> Option<String> {
    let mut out: Option<String> = None;
    for (from, to) in subs {
        let cur = out.as_deref().unwrap_or(xml);
        if cur.contains(from.as_str()) {
            out = Some(cur.replace(from.as_str(), to));
        }
    }
    out
}

fn with_content_length(headers: &Headers, len: usize) -> Headers {
    let mut h = Headers::new();
    for x in headers.iter() {
        if x.name().eq_ignore_ascii_case("Content-Length") {
            h.push(x.name(), len.to_string());
        } else {
            h.push_header(x.clone());
        }
    }
    h
}

/// Writes the capture: `clients` clients, each a first then a differential sync.
fn generate(path: &Path, clients: u32) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    let first = templates(wutap_samples::first_sync())?;
    let diff = templates(wutap_samples::differential_sync())?;
    let all: Vec<&Template> = first.iter().chain(diff.iter()).collect();
    let tokens = cookie_tokens(&all);
    let sample_id = wutap_samples::client_id();
    let header = CaptureHeader::new("bench-analyze");
    let mut w = CaptureWriter::create_or_append_with(
        path,
        WriterOptions {
            header,
            compression: Some(captures::Compression::None),
            ..WriterOptions::default()
        },
    )
    .with_context(|| format!("create {}", path.display()))?;
    let per_client = all.len() as u64;
    for c in 0..clients {
        let subs = substitutions(c, &sample_id, &tokens);
        let addr = format!("198.18.{}.{}:49731", (c >> 8) & 0xff, c & 0xff);
        for (k, t) in all.iter().enumerate() {
            let mut ex = t.exchange.clone();
            ex.id = u64::from(c) * per_client + k as u64 + 1;
            ex.conn += u64::from(c) * per_client;
            ex.client = Some(addr.clone());
            if let Some(xml) = t.request_xml.as_deref().and_then(|x| apply(x, &subs)) {
                ex.request.body = Body::from_bytes(xml.into_bytes());
            }
            if let Some(xml) = t.response_xml.as_deref().and_then(|x| apply(x, &subs)) {
                let body = wusp::xpress::encode_with_block_size(xml.as_bytes(), XPRESS_BLOCK);
                ex.response.headers = with_content_length(&ex.response.headers, body.len());
                ex.response.body = Body::from_bytes(body);
            }
            w.write(&Record::Exchange(ex))
                .with_context(|| format!("write {}", path.display()))?;
        }
    }
    w.finish()
        .with_context(|| format!("finish {}", path.display()))?;
    Ok(())
}

/// Reads the capture, decodes every body (Xpress included) and walks its XML events.
/// Returns (XML bytes walked, events).
fn raw_pass(path: &Path) -> Result<(u64, u64)> {
    let reader = CaptureReader::open(path).with_context(|| format!("open {}", path.display()))?;
    let (mut bytes, mut events) = (0u64, 0u64);
    let mut walk = |xml: &[u8]| -> Result<()> {
        bytes += xml.len() as u64;
        let mut r = quick_xml::Reader::from_reader(xml);
        let mut buf = Vec::new();
        loop {
            match r.read_event_into(&mut buf)? {
                quick_xml::events::Event::Eof => break,
                _ => events += 1,
            }
            buf.clear();
        }
        Ok(())
    };
    for item in reader {
        let ReadItem::Record {
            record: Record::Exchange(ex),
            ..
        } = item
        else {
            continue;
        };
        if ex.request.method != "POST" {
            continue;
        }
        if let Some(b) = ex.request.body.bytes() {
            walk(b)?;
        }
        if let Some(b) = ex.response.body.bytes() {
            if ex.response.is_xpress() {
                walk(&wusp::xpress::decode(b)?)?;
            } else {
                walk(b)?;
            }
        }
    }
    Ok((bytes, events))
}

/// Peak resident set (VmHWM, KiB) of a running process, if /proc shows it.
fn vm_hwm(pid: u32) -> Option<u64> {
    let mut s = String::new();
    std::fs::File::open(format!("/proc/{pid}/status"))
        .ok()?
        .read_to_string(&mut s)
        .ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system, in clock ticks) of this process and of its waited-for children,
/// from `/proc/self/stat` (fields 14–17); `None` where /proc does not show it.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing paren.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    (f.len() == 4).then(|| (f[0] + f[1], f[2] + f[3]))
}

/// Clock ticks per second of `/proc/*/stat` (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

/// Runs `wutap analyze --format json` on the capture; returns (wall time, peak RSS KiB,
/// summary line of the report).
fn run_analyze(wutap: &Path, capture: &Path) -> Result<(Duration, u64, String)> {
    let out = std::env::temp_dir().join(format!("bench-analyze-{}.json", std::process::id()));
    let file = std::fs::File::create(&out).with_context(|| format!("create {}", out.display()))?;
    let start = Instant::now();
    let mut child = Command::new(wutap)
        .arg("analyze")
        .arg("--format")
        .arg("json")
        .arg(capture)
        .stdout(file)
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("start {}", wutap.display()))?;
    let mut peak = 0;
    // Polls VmHWM (monotonic) until the child exits; bounded by the child's lifetime.
    let status = loop {
        if let Some(kb) = vm_hwm(child.id()) {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    if !matches!(status.code(), Some(0 | 1)) {
        bail!("wutap analyze failed: {status}");
    }
    let report = std::fs::read_to_string(&out).context("read the report")?;
    let _ = std::fs::remove_file(&out);
    let summary = report
        .rfind("\"summary\"")
        .map(|i| report[i..].chars().take(400).collect::<String>())
        .unwrap_or_default();
    Ok((elapsed, peak, summary))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let wutap = match args.wutap {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("no parent directory of this binary")?
            .join("wutap"),
    };
    if !args.reuse {
        let t = Instant::now();
        generate(&args.out, args.clients)?;
        println!(
            "generated {} clients ({} sessions) in {:.1} s",
            args.clients,
            u64::from(args.clients) * 2,
            t.elapsed().as_secs_f64()
        );
    }
    let size = std::fs::metadata(&args.out)
        .with_context(|| format!("stat {}", args.out.display()))?
        .len();
    let mb = size as f64 / 1e6;
    println!("capture: {} ({mb:.0} MB)", args.out.display());

    let cpu0 = cpu_ticks();
    let t = Instant::now();
    let (xml_bytes, events) = raw_pass(&args.out)?;
    let raw = t.elapsed().as_secs_f64();
    let cpu1 = cpu_ticks();
    println!(
        "raw pass (read + base64 + Xpress + quick-xml events): {raw:.2} s, {:.1} MB/s of capture ({:.0} MB XML, {events} events)",
        mb / raw,
        xml_bytes as f64 / 1e6
    );

    let (elapsed, peak_kb, summary) = run_analyze(&wutap, &args.out)?;
    let an = elapsed.as_secs_f64();
    let cpu2 = cpu_ticks();
    println!(
        "wutap analyze: {an:.2} s, {:.1} MB/s of capture, peak RSS {:.1} MB",
        mb / an,
        peak_kb as f64 / 1024.0
    );
    println!(
        "ratio analyze/raw: {:.2} (target >= 0.3), RSS target <= 256 MB",
        raw / an
    );
    // CPU time is what the two passes cost, whatever else the machine runs meanwhile.
    if let (Some(c0), Some(c1), Some(c2)) = (cpu0, cpu1, cpu2) {
        let raw_cpu = c1.0.saturating_sub(c0.0) as f64 / TICKS;
        let an_cpu = c2.1.saturating_sub(c1.1) as f64 / TICKS;
        if raw_cpu > 0.0 && an_cpu > 0.0 {
            println!(
                "CPU time (user + system): raw {raw_cpu:.2} s, analyze {an_cpu:.2} s; ratio analyze/raw by CPU time: {:.2}",
                raw_cpu / an_cpu
            );
        }
    }
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!("load average {}", load.join(" "));
    }
    println!("report {}", summary.replace('\n', " "));
    if !args.keep && !args.reuse {
        std::fs::remove_file(&args.out)
            .with_context(|| format!("remove {}", args.out.display()))?;
    }
    Ok(())
}
