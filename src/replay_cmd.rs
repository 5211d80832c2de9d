//! `wutap replay`: drives the sans-I/O client state machine (`replay::client::Sync`) over
//! real HTTP against a WSUS server (or `wutap serve`), and writes the run's own capture.
//!
//! This slice: `--fresh` (a generated identity) or `--state FILE` (differential sync from a
//! saved state), plain `http://` only, one client, one sync. The HTTP/1.1 client is
//! hand-rolled over a tokio `TcpStream`: keep-alive, native WUA header order, Xpress
//! responses, 30 s per request, bounded retries honoring the machine's backoff.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use captures::{CaptureWriter, WriterOptions};
use replay::client::transport::{RunStats, ServerUrl, Transport, TransportOptions, run_sync};
use replay::client::{ClientState, Identity, Step, Summary, Sync, SyncOptions};
use time::OffsetDateTime;

use crate::Outcome;
use crate::cli::ReplayArgs;

/// Runs `wutap replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<Outcome> {
    if args.capture_seed.is_some() && !args.fresh {
        bail!(
            "seeding a client from a capture is not implemented yet; use --fresh (a new \
             client) or --state FILE (a differential sync from a saved state)"
        );
    }
    if let Some(seed) = &args.capture_seed {
        eprintln!(
            "wutap: replay: note: {} is not used with --fresh (seeding from a capture comes later)",
            seed.display()
        );
    }
    let server = ServerUrl::parse(&args.server).context("--server")?;
    if server.is_https() {
        bail!(
            "--server {}: https is not supported by replay yet; use an http:// URL",
            args.server
        );
    }
    let mut transport = Transport::new(server, TransportOptions::default())?;
    let state = match (&args.state, args.fresh) {
        (Some(path), false) => ClientState::load(path)
            .context("cannot load the client state (use --fresh to start a new client)")?,
        (None, false) => bail!("give --fresh (a new client) or --state FILE (a saved client)"),
        (_, true) => ClientState::new(generated_identity()?),
    };
    let mut capture = match &args.capture {
        Some(p) => Some(open_capture(p)?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let started = Instant::now();
    let sync = Sync::new(state, SyncOptions::new(OffsetDateTime::now_utc()));
    let (sync, end, stats) = runtime.block_on(run_sync(sync, &mut transport, capture.as_mut()));
    if let Some(w) = capture {
        w.finish().context("cannot finish the capture")?;
    }
    let summary = sync.summary().clone();
    if let Some(path) = &args.state {
        sync.into_state()
            .save(path)
            .context("cannot save the client state")?;
    }
    let end = end.map_err(|e| anyhow::anyhow!("{e} (is the server running?)"))?;
    match end {
        Step::Failed(e) => {
            print_summary(&summary, &stats, started.elapsed(), false);
            eprintln!("wutap: replay: sync failed: {e}");
            Ok(Outcome::Problems)
        }
        Step::Done(summary) => {
            print_summary(&summary, &stats, started.elapsed(), true);
            Ok(Outcome::Clean)
        }
        Step::Send(..) => bail!("the sync stopped with a request outstanding"),
    }
}

fn print_summary(s: &Summary, stats: &RunStats, elapsed: Duration, ok: bool) {
    let kind = if s.differential {
        "differential sync"
    } else {
        "first sync"
    };
    println!("{kind}: {}", if ok { "done" } else { "failed" });
    println!("  pages:                {}", s.pages);
    println!("  driver passes:        {}", s.driver_passes);
    println!("  new updates:          {}", s.new_updates);
    println!("  changed updates:      {}", s.changed_updates);
    println!("  out of scope:         {}", s.out_of_scope);
    println!("  extended-info calls:  {}", s.extended_info_calls);
    println!("  file-location calls:  {}", s.file_location_calls);
    println!("  events reported:      {}", s.events_reported);
    let recovered: u32 = s.faults_recovered.values().sum();
    let detail: Vec<String> = s
        .faults_recovered
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if detail.is_empty() {
        println!("  faults recovered:     {recovered}");
    } else {
        println!(
            "  faults recovered:     {recovered} ({})",
            detail.join(", ")
        );
    }
    println!("  retries:              {}", s.retries);
    println!("  requests:             {}", s.requests);
    println!(
        "  bytes:                {} sent, {} received",
        stats.bytes_sent, stats.bytes_received
    );
    println!("  time:                 {:.3} s", elapsed.as_secs_f64());
}

/// A new client: a random lower-case GUID and `wutap-<8 hex>.invalid`.
fn generated_identity() -> anyhow::Result<Identity> {
    let mut b = [0u8; 20];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(&b[..16]);
    let guid = format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    );
    let dns = format!("wutap-{}.invalid", hex::encode(&b[16..20]));
    Ok(Identity::new(&guid, &dns))
}

fn open_capture(path: &Path) -> anyhow::Result<CaptureWriter> {
    let mut options = WriterOptions::default();
    options.header.note = Some("wutap replay".into());
    CaptureWriter::create_or_append_with(path, options)
        .with_context(|| format!("cannot open the capture {}", path.display()))
}
