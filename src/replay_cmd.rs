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
    if let (Some(seed), true) = (&args.capture_seed, args.fresh) {
        eprintln!(
            "wutap: replay: note: {} is not used with --fresh (a new client)",
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
    if args.verify {
        let seed = args
            .capture_seed
            .as_deref()
            .context("--verify needs a CAPTURE")?;
        let verifier = crate::replay_seed::verifier(seed, args.client_id.as_deref())?;
        let (mut capture, runtime) = capture_and_runtime(args.capture.as_deref())?;
        let outcome = runtime.block_on(crate::replay_seed::verify(
            verifier,
            &mut transport,
            capture.as_mut(),
        ));
        if let Some(w) = capture {
            w.finish().context("cannot finish the capture")?;
        }
        return outcome;
    }
    let state = match (&args.capture_seed, &args.state, args.fresh) {
        (_, _, true) => ClientState::new(generated_identity()?),
        // Seeded from a capture: --state is where the resulting state goes.
        (Some(seed), _, false) => {
            crate::replay_seed::seeded_state(seed, args.client_id.as_deref())?
        }
        (None, Some(path), false) => ClientState::load(path)
            .context("cannot load the client state (use --fresh to start a new client)")?,
        (None, None, false) => bail!(
            "give CAPTURE (a client seeded from a capture), --fresh (a new client) or \
             --state FILE (a saved client)"
        ),
    };
    let (mut capture, runtime) = capture_and_runtime(args.capture.as_deref())?;
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

/// The run's own capture (if asked for) and the async runtime.
fn capture_and_runtime(
    capture: Option<&Path>,
) -> anyhow::Result<(Option<CaptureWriter>, tokio::runtime::Runtime)> {
    let capture = match capture {
        Some(p) => Some(open_capture(p)?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok((capture, runtime))
}

fn open_capture(path: &Path) -> anyhow::Result<CaptureWriter> {
    let mut options = WriterOptions::default();
    options.header.note = Some("wutap replay".into());
    CaptureWriter::create_or_append_with(path, options)
        .with_context(|| format!("cannot open the capture {}", path.display()))
}
