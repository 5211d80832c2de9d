//! Time to the first frame of `wutap tui` on a large capture.
//!
//! Generates a capture of about `--size-mb` MB by repeating the committed sample sessions
//! (first sync, then differential sync) for distinct clients — each copy gets its own
//! ClientID and exchange ids — then runs `wutap tui --first-frame-exit` on it `--runs`
//! times and prints, per run, the time from spawn to exit and the time the binary reports
//! for its first frame (drawn headless, 120x40). Build first:
//!
//! ```sh
//! cargo build --release && cargo run --release -p bench-tui -- --size-mb 1024
//! ```

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::Parser;

/// Command line.
#[derive(Parser)]
struct Args {
    /// Size of the generated capture in MB.
    #[arg(long, default_value_t = 1024)]
    size_mb: u64,
    /// The wutap binary.
    #[arg(long, default_value = "target/release/wutap")]
    wutap: PathBuf,
    /// Timed runs.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Keep the capture here instead of a temporary directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The ClientID of the sample client, replaced in every copy.
const SAMPLE_CLIENT: &str = "ea8e4915-8000-41ba-a03c-31f88d0a3727";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut lines = Vec::new();
    for name in ["first-sync.jsonl", "differential-sync.jsonl"] {
        let text = std::fs::read_to_string(root.join("captures/samples").join(name))?;
        // Exchange lines only (the header is written once).
        lines.extend(
            text.lines()
                .filter(|l| l.starts_with("{\"type\":\"exchange\""))
                .map(str::to_string),
        );
    }
    let dir = tempfile::tempdir()?;
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| dir.path().join("large.jsonl"));
    let t = Instant::now();
    let (bytes, exchanges, clients) = generate(&path, &lines, args.size_mb * 1_000_000)?;
    println!(
        "generated {} ({:.0} MB, {exchanges} exchanges, {clients} clients) in {:.1} s",
        path.display(),
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    for run in 1..=args.runs {
        let t = Instant::now();
        let out = Command::new(&args.wutap)
            .args(["tui", "--first-frame-exit"])
            .arg(&path)
            .output()?;
        let wall = t.elapsed().as_secs_f64() * 1000.0;
        let text = String::from_utf8_lossy(&out.stdout);
        let reported = text
            .lines()
            .find(|l| l.starts_with("first frame after"))
            .unwrap_or("(no first-frame line: did the binary fail?)");
        println!("run {run}: spawn to exit {wall:.1} ms; {reported}");
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    Ok(())
}

/// Writes copies of the sample exchanges, each copy with its own ClientID and ids, until
/// `target` bytes; returns (bytes, exchanges, clients).
fn generate(
    path: &Path,
    lines: &[String],
    target: u64,
) -> Result<(u64, u64, u64), Box<dyn std::error::Error>> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let header = "{\"type\":\"capture\",\"format\":\"wutap-capture\",\"version\":1,\"created\":\"2026-10-04T16:03:35.000000Z\",\"tool\":\"bench-tui\"}\n";
    w.write_all(header.as_bytes())?;
    let (mut bytes, mut id, mut copy) = (header.len() as u64, 0u64, 0u64);
    while bytes < target {
        copy += 1;
        let client = format!("{:08x}-8000-41ba-a03c-{:012x}", copy as u32, copy);
        for line in lines {
            id += 1;
            // Every sample line starts `{"type":"exchange","id":N,` with N its own id.
            let old_id = line
                .split("\"id\":")
                .nth(1)
                .and_then(|r| r.split(',').next())
                .unwrap_or("0");
            let line = line
                .replacen(&format!("\"id\":{old_id},"), &format!("\"id\":{id},"), 1)
                .replace(SAMPLE_CLIENT, &client);
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
            bytes += line.len() as u64 + 1;
        }
    }
    w.flush()?;
    Ok((bytes, id, copy))
}
