//! Benchmark: decode throughput of a large SyncUpdates response into the typed `wusp` model,
//! beside a raw quick-xml event pass over the same bytes (the floor any XML consumer pays),
//! and Xpress decode throughput.
//!
//! Run: `cargo run --release -p bench-decode [-- --updates N --seed S --rounds R]`.
//! Not a timed test: it prints figures and ratios, it asserts nothing about speed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use wusp::soap::Body;
use wusp::{Envelope, Response};

/// Small deterministic generator (xorshift64*), so every run measures the same document.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn guid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
}

/// A core fragment in the WSUS shape (reference 3.7), about 2.5 KB unescaped.
fn core_fragment(rng: &mut Rng, update: &str, prereqs: &[String]) -> String {
    let mut s = format!(
        "<UpdateIdentity UpdateID=\"{update}\" RevisionNumber=\"{}\" /><Properties UpdateType=\"Software\" ExplicitlyDeployable=\"true\" AutoSelectOnWebSites=\"true\" />",
        100 + rng.below(200)
    );
    s.push_str("<Relationships><Prerequisites>");
    for p in prereqs {
        s.push_str(&format!("<UpdateIdentity UpdateID=\"{p}\" />"));
    }
    s.push_str("<AtLeastOne IsCategory=\"true\">");
    for _ in 0..2 {
        s.push_str(&format!("<UpdateIdentity UpdateID=\"{}\" />", rng.guid()));
    }
    s.push_str("</AtLeastOne></Prerequisites><SupersededUpdates>");
    for _ in 0..3 {
        s.push_str(&format!("<UpdateIdentity UpdateID=\"{}\" />", rng.guid()));
    }
    s.push_str("</SupersededUpdates></Relationships><ApplicabilityRules><IsInstalled><Or>");
    while s.len() < 2300 {
        s.push_str(&format!(
            "<b.RegSz Key=\"HKEY_LOCAL_MACHINE\" Subkey=\"SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Hotfix\\KB{}\" Value=\"Installed\" Comparison=\"EqualTo\" Data=\"1\" />",
            rng.below(9_999_999)
        ));
    }
    s.push_str("</Or></IsInstalled><IsInstallable><b.WindowsVersion Comparison=\"GreaterThanOrEqualTo\" MajorVersion=\"10\" MinorVersion=\"0\" BuildNumber=\"26100\" ProductType=\"1\" /></IsInstallable></ApplicabilityRules>");
    s
}

/// A SyncUpdates response as WS2025 writes it, with `n` UpdateInfo.
fn sync_response(n: usize, seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let mut out = String::with_capacity(n * 2800 + 1024);
    out.push_str("<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><SyncUpdatesResponse xmlns=\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService\"><SyncUpdatesResult><NewUpdates>");
    let roots: Vec<String> = (0..8).map(|_| rng.guid()).collect();
    for i in 0..n {
        let update = rng.guid();
        let prereqs = [roots[i % roots.len()].clone()];
        let core = core_fragment(&mut rng, &update, &prereqs);
        let escaped = wusp::xml::escape_text(&core);
        out.push_str(&format!(
            "<UpdateInfo><ID>{}</ID><Deployment><ID>{}</ID><Action>{}</Action><IsAssigned>true</IsAssigned><LastChangeTime>2026-10-04</LastChangeTime><AutoSelect>0</AutoSelect><AutoDownload>0</AutoDownload><SupersedenceBehavior>0</SupersedenceBehavior></Deployment><IsLeaf>true</IsLeaf><Xml>{escaped}</Xml></UpdateInfo>",
            100_000 + i,
            20_000 + i,
            if i % 7 == 0 { "Install" } else { "Evaluate" }
        ));
    }
    out.push_str("</NewUpdates><Truncated>false</Truncated><NewCookie><Expiration>2026-10-04T17:03:35Z</Expiration><EncryptedData>AAECAwQFBgcICQ==</EncryptedData></NewCookie><DriverSyncNotNeeded>false</DriverSyncNotNeeded></SyncUpdatesResult></SyncUpdatesResponse></s:Body></s:Envelope>");
    out
}

fn raw_pass(doc: &str) -> usize {
    let mut reader = quick_xml::Reader::from_str(doc);
    let mut events = 0usize;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(e) => {
                black_box(&e);
                events += 1;
            }
            Err(e) => panic!("raw pass failed: {e}"),
        }
    }
    events
}

fn typed_decode(doc: &str) -> usize {
    let env = Envelope::decode(doc.as_bytes()).expect("typed decode failed");
    match &env.body {
        Body::Response(Response::SyncUpdates(r)) => {
            r.result.value().map_or(0, |s| s.new_updates.items().len())
        }
        other => panic!("unexpected body {other:?}"),
    }
}

/// Best-of-`rounds` time of `f`.
fn best<F: FnMut() -> usize>(rounds: u32, mut f: F) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut out = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        out = black_box(f());
        best = best.min(t.elapsed());
    }
    (best, out)
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    let mut updates = 20_000usize;
    let mut seed = 0x5eed_u64;
    let mut rounds = 5u32;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().and_then(|v| v.parse::<u64>().ok());
        match (a.as_str(), v) {
            ("--updates", Some(v)) => updates = v as usize,
            ("--seed", Some(v)) => seed = v,
            ("--rounds", Some(v)) => rounds = v.max(1) as u32,
            _ => {
                eprintln!("usage: bench-decode [--updates N] [--seed S] [--rounds R]");
                std::process::exit(2);
            }
        }
    }

    let doc = sync_response(updates, seed);
    let size = doc.len();
    println!(
        "document: SyncUpdates response, {updates} UpdateInfo, {:.1} MB (seed {seed:#x}), best of {rounds}",
        size as f64 / 1e6
    );

    let (t_raw, events) = best(rounds, || raw_pass(&doc));
    let (t_typed, n) = best(rounds, || typed_decode(&doc));
    assert_eq!(n, updates, "typed decode lost updates");
    let raw = mbps(size, t_raw);
    let typed = mbps(size, t_typed);
    println!("raw quick-xml event pass : {raw:8.1} MB/s ({events} events)");
    println!("typed wusp decode        : {typed:8.1} MB/s ({n} UpdateInfo)");
    println!(
        "ratio typed/raw          : {:8.2}  (target >= 0.5)",
        typed / raw
    );

    let compressed = wusp::xpress::encode(doc.as_bytes());
    let (t_x, out) = best(rounds, || {
        wusp::xpress::decode(&compressed).expect("xpress").len()
    });
    assert_eq!(out, size);
    let (t_xe, _) = best(rounds.min(3), || wusp::xpress::encode(doc.as_bytes()).len());
    println!(
        "xpress decode            : {:8.1} MB/s of output ({:.1} MB -> {:.1} MB, {:.0}%)",
        mbps(size, t_x),
        compressed.len() as f64 / 1e6,
        size as f64 / 1e6,
        100.0 * compressed.len() as f64 / size as f64
    );
    println!(
        "xpress encode            : {:8.1} MB/s of input",
        mbps(size, t_xe)
    );
}
