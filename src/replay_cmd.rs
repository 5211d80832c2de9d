//! `wutap replay`: drives the sans-I/O client state machine (`replay::client::Sync`) over
//! real HTTP(S) against a WSUS server (or `wutap serve`), and writes the run's own capture.
//!
//! One client: seeded from CAPTURE (its recorded identity, headers, cookies and cache), or
//! `--fresh` (a generated identity), or `--state FILE` (differential sync from a saved
//! state, saved again after the run, failed or not), then optionally `--download`.
//! `--verify` sends CAPTURE's recorded requests again and compares the responses.
//! Load mode (`--clients N`): N simulated clients from `--seed`, `--syncs` / `--duration`
//! bounds, one capture for all. The transport (keep-alive HTTP/1.1 with the client's exact
//! header order, https, `--proxy`) is `replay::client::transport`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use captures::{CaptureWriter, Record, WriterOptions};
use replay::client::download::{DownloadOptions, DownloadReport, download};
use replay::client::load::{LoadOptions, LoadReport, identity_from_bytes, run_load};
use replay::client::transport::{
    RunStats, ServerUrl, Transport, TransportErrorKind, TransportOptions, load_pem_certs,
    run_sync_with,
};
use replay::client::{ClientState, Identity, Step, Summary, Sync, SyncOptions};
use serde_json::json;
use time::OffsetDateTime;

use crate::Outcome;
use crate::cli::{ReplayArgs, SummaryFormat};

/// Runs `wutap replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<Outcome> {
    if let Some(seed) = &args.capture_seed
        && (args.fresh || args.clients.is_some())
    {
        eprintln!(
            "wutap: replay: note: {} is not used with --fresh or --clients (new clients)",
            seed.display()
        );
    }
    let server = ServerUrl::parse(&args.server).context("--server")?;
    let transport = transport_options(&args)?;
    if args.verify {
        return run_verify(&args, server, transport);
    }
    match args.clients {
        Some(n) => run_many(&args, server, transport, n),
        None => run_one(&args, server, transport),
    }
}

/// `--verify`: the recorded requests of CAPTURE again, responses compared.
fn run_verify(
    args: &ReplayArgs,
    server: ServerUrl,
    options: TransportOptions,
) -> anyhow::Result<Outcome> {
    let seed = args
        .capture_seed
        .as_deref()
        .context("--verify needs a CAPTURE")?;
    let mut transport = Transport::new(server, options)?;
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
    outcome
}

/// Transport settings from the flags.
fn transport_options(args: &ReplayArgs) -> anyhow::Result<TransportOptions> {
    let mut options = TransportOptions {
        timeout: Duration::from_secs_f64(args.timeout),
        proxy: args.proxy.clone(),
        ..TransportOptions::default()
    };
    if let Some(ca) = &args.ca {
        options.extra_roots = load_pem_certs(ca)?;
    }
    Ok(options)
}

/// One client, one sync, then the downloads.
fn run_one(
    args: &ReplayArgs,
    server: ServerUrl,
    options: TransportOptions,
) -> anyhow::Result<Outcome> {
    let mut transport = Transport::new(server, options)?;
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
    // The download directory: the given one, or a temporary one removed after the run.
    let temp_dir;
    let download_dir: Option<PathBuf> = match (&args.download_dir, args.download) {
        (Some(d), _) => Some(d.clone()),
        (None, true) => {
            temp_dir = tempfile::tempdir().context("cannot create a temporary directory")?;
            Some(temp_dir.path().to_path_buf())
        }
        (None, false) => None,
    };
    let (mut capture, runtime) = capture_and_runtime(args.capture.as_deref())?;
    let started = Instant::now();
    let mut options = SyncOptions::new(OffsetDateTime::now_utc());
    options.max_retries = args.max_retries;
    options.categories = args.categories.iter().map(|g| g.0.clone()).collect();
    options.sync_printer_catalog = args.printer_catalog;
    let sync = Sync::new(state, options);
    let mut record = |r: Record| {
        if let Some(w) = capture.as_mut()
            && let Err(e) = w.write(&r)
        {
            tracing::warn!(%e, "cannot write the capture record");
        }
    };
    let (sync, end, stats, downloads) = runtime.block_on(async {
        let (sync, end, mut stats) = run_sync_with(sync, &mut transport, &mut record).await;
        let downloads = match (&end, &download_dir) {
            (Ok(Step::Done(_)), Some(dir)) => Some(
                download(
                    sync.state(),
                    &mut transport,
                    &DownloadOptions {
                        range_size: args.range_size,
                        ..DownloadOptions::new(dir.clone())
                    },
                    &mut stats,
                    &mut record,
                )
                .await,
            ),
            _ => None,
        };
        (sync, end, stats, downloads)
    });
    if let Some(w) = capture {
        w.finish().context("cannot finish the capture")?;
    }
    let summary = sync.summary().clone();
    if let Some(path) = &args.state {
        sync.into_state()
            .save(path)
            .context("cannot save the client state")?;
    }
    let end = end.map_err(|e| {
        if e.is_refused() {
            anyhow::anyhow!("{e} (is the server running?)")
        } else if matches!(e.kind(), TransportErrorKind::Tls { .. }) {
            anyhow::anyhow!("{e} (to trust wutap's CA: wutap ca export --out FILE, then --ca FILE)")
        } else {
            anyhow::anyhow!("{e}")
        }
    })?;
    let elapsed = started.elapsed();
    let (ok, outcome) = match &end {
        Step::Done(_) => {
            let clean = downloads
                .as_ref()
                .is_none_or(|d| d.digest_failures == 0 && d.failed == 0);
            (
                true,
                if clean {
                    Outcome::Clean
                } else {
                    Outcome::Problems
                },
            )
        }
        Step::Failed(_) => (false, Outcome::Problems),
        Step::Send(..) => bail!("the sync stopped with a request outstanding"),
    };
    let summary = match &end {
        Step::Done(s) => s,
        _ => &summary,
    };
    let run = OneRun {
        summary,
        stats: &stats,
        elapsed,
        ok,
        downloads: downloads.as_ref(),
    };
    match args.format {
        SummaryFormat::Text => run.print_text(),
        SummaryFormat::Json => println!("{}", run.json()),
    }
    if let Step::Failed(e) = &end {
        eprintln!("wutap: replay: sync failed: {e}");
    }
    if let Some(d) = &downloads {
        for p in &d.problems {
            eprintln!("wutap: replay: download: {p}");
        }
    }
    Ok(outcome)
}

/// What one client's run did.
struct OneRun<'a> {
    summary: &'a Summary,
    stats: &'a RunStats,
    elapsed: Duration,
    ok: bool,
    downloads: Option<&'a DownloadReport>,
}

impl OneRun<'_> {
    fn print_text(&self) {
        let s = self.summary;
        let kind = if s.differential {
            "differential sync"
        } else {
            "first sync"
        };
        println!("{kind}: {}", if self.ok { "done" } else { "failed" });
        println!("  pages:                {}", s.pages);
        println!("  driver passes:        {}", s.driver_passes);
        println!("  new updates:          {}", s.new_updates);
        println!("  changed updates:      {}", s.changed_updates);
        println!("  out of scope:         {}", s.out_of_scope);
        println!("  deployed out of scope: {}", s.deployed_out_of_scope);
        if s.printer_passes > 0 {
            println!("  printer passes:       {}", s.printer_passes);
        }
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
        match self.downloads {
            Some(d) => {
                println!(
                    "  files downloaded:     {} ({} bytes, {} ranges)",
                    d.files, d.bytes, d.ranges
                );
                println!("  digest failures:      {}", d.digest_failures);
                println!("  download failures:    {}", d.failed);
                if d.without_url > 0 {
                    println!("  files without URL:    {}", d.without_url);
                }
            }
            None => println!("  files downloaded:     0"),
        }
        println!(
            "  bytes:                {} sent, {} received",
            self.stats.bytes_sent, self.stats.bytes_received
        );
        println!(
            "  time:                 {:.3} s",
            self.elapsed.as_secs_f64()
        );
    }

    fn json(&self) -> serde_json::Value {
        let s = self.summary;
        let d = self.downloads.cloned().unwrap_or_default();
        json!({
            "sync": if s.differential { "differential" } else { "first" },
            "ok": self.ok,
            "pages": s.pages,
            "driver_passes": s.driver_passes,
            "new_updates": s.new_updates,
            "changed_updates": s.changed_updates,
            "out_of_scope": s.out_of_scope,
            "deployed_out_of_scope": s.deployed_out_of_scope,
            "printer_passes": s.printer_passes,
            "extended_info_calls": s.extended_info_calls,
            "extended_info2_calls": s.extended_info2_calls,
            "file_location_calls": s.file_location_calls,
            "events_reported": s.events_reported,
            "faults_recovered": s.faults_recovered,
            "retries": s.retries,
            "requests": s.requests,
            "files_downloaded": d.files,
            "bytes_downloaded": d.bytes,
            "ranges": d.ranges,
            "digest_failures": d.digest_failures,
            "download_failures": d.failed,
            "files_without_url": d.without_url,
            "exchanges": self.stats.exchanges,
            "bytes_sent": self.stats.bytes_sent,
            "bytes_received": self.stats.bytes_received,
            "seconds": self.elapsed.as_secs_f64(),
        })
    }
}

/// Load mode: `n` clients on a multi-thread runtime, one capture writer thread.
fn run_many(
    args: &ReplayArgs,
    server: ServerUrl,
    transport: TransportOptions,
    n: u32,
) -> anyhow::Result<Outcome> {
    if args.state.is_some() || args.download {
        bail!("--clients keeps every client's state in memory: drop --state and --download");
    }
    let options = LoadOptions {
        clients: n,
        syncs: match (args.syncs, args.duration) {
            (None, None) => Some(1),
            (s, _) => s,
        },
        duration: args.duration.map(Duration::from_secs_f64),
        seed: args.seed,
        max_retries: args.max_retries,
        transport,
    };
    let (tx, writer) = match &args.capture {
        Some(p) => {
            let mut w = open_capture(p)?;
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Record>();
            let path = p.clone();
            let writer = std::thread::spawn(move || -> anyhow::Result<()> {
                while let Some(r) = rx.blocking_recv() {
                    w.write(&r)
                        .with_context(|| format!("cannot write the capture {}", path.display()))?;
                }
                w.finish().context("cannot finish the capture")?;
                Ok(())
            });
            (Some(tx), Some(writer))
        }
        None => (None, None),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(run_load(server, options, tx));
    drop(runtime);
    if let Some(w) = writer {
        match w.join() {
            Ok(r) => r?,
            Err(_) => bail!("the capture writer stopped abnormally"),
        }
    }
    match args.format {
        SummaryFormat::Text => print_load(&report),
        SummaryFormat::Json => println!("{}", load_json(&report)),
    }
    for f in &report.failures {
        eprintln!("wutap: replay: {f}");
    }
    Ok(if report.syncs_failed == 0 {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print_load(r: &LoadReport) {
    println!(
        "load: {} clients, {} syncs done, {} failed",
        r.clients, r.syncs_ok, r.syncs_failed
    );
    println!("  time:                 {:.3} s", r.elapsed.as_secs_f64());
    println!("  syncs/s:              {:.1}", r.syncs_per_second());
    println!(
        "  requests:             {} ({:.1}/s)",
        r.requests,
        r.requests_per_second()
    );
    println!(
        "  latency ms:           p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}",
        ms(r.latency(0.5)),
        ms(r.latency(0.9)),
        ms(r.latency(0.99)),
        ms(r.latency(1.0))
    );
    let faults: u64 = r.faults.values().sum();
    let detail: Vec<String> = r.faults.iter().map(|(k, v)| format!("{k} {v}")).collect();
    if detail.is_empty() {
        println!("  faults:               0");
    } else {
        println!("  faults:               {faults} ({})", detail.join(", "));
    }
    println!("  transport errors:     {}", r.transport_errors);
    println!("  pages:                {}", r.pages);
    println!("  new updates:          {}", r.new_updates);
    println!("  changed updates:      {}", r.changed_updates);
    println!("  out of scope:         {}", r.out_of_scope);
    println!("  extended-info calls:  {}", r.extended_info_calls);
    println!(
        "  bytes:                {} sent, {} received",
        r.bytes_sent, r.bytes_received
    );
}

fn load_json(r: &LoadReport) -> serde_json::Value {
    json!({
        "clients": r.clients,
        "syncs_ok": r.syncs_ok,
        "syncs_failed": r.syncs_failed,
        "requests": r.requests,
        "seconds": r.elapsed.as_secs_f64(),
        "syncs_per_second": r.syncs_per_second(),
        "requests_per_second": r.requests_per_second(),
        "latency_ms": {
            "p50": ms(r.latency(0.5)),
            "p90": ms(r.latency(0.9)),
            "p99": ms(r.latency(0.99)),
            "max": ms(r.latency(1.0)),
        },
        "faults": r.faults,
        "transport_errors": r.transport_errors,
        "pages": r.pages,
        "new_updates": r.new_updates,
        "changed_updates": r.changed_updates,
        "out_of_scope": r.out_of_scope,
        "extended_info_calls": r.extended_info_calls,
        "bytes_sent": r.bytes_sent,
        "bytes_received": r.bytes_received,
        "failures": r.failures,
    })
}

/// A new client: a random lower-case GUID and `wutap-<8 hex>.invalid`.
pub fn generated_identity() -> anyhow::Result<Identity> {
    let mut b = [0u8; 20];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(identity_from_bytes(&b))
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

pub fn open_capture(path: &Path) -> anyhow::Result<CaptureWriter> {
    let mut options = WriterOptions::default();
    options.header.note = Some("wutap replay".into());
    CaptureWriter::create_or_append_with(path, options)
        .with_context(|| format!("cannot open the capture {}", path.display()))
}
