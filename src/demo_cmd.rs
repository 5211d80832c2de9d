//! `wutap demo`: the whole toolkit on loopback in one command, and the generated shell
//! completions and man page (`wutap completions`, `wutap man`).
//!
//! Thin orchestration of the libraries on one tokio runtime, every listener on 127.0.0.1 with
//! an ephemeral port: a fresh demo CA in `DIR/ca`, the server role (`replay::server`) with a
//! generated catalog over https, the recording proxy in front of it (reverse HTTPS, or
//! explicit CONNECT with `--explicit`) writing one capture per sync (`DIR/first-sync.jsonl`,
//! `DIR/differential-sync.jsonl`), the replay client's first
//! sync through the proxy (its own capture in `DIR/client/`), an approval change made with
//! the server's admin logic, a differential sync from the saved client state, and the
//! analyzer's report on the proxy capture.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use captures::{CaptureWriter, Record};
use clap::CommandFactory as _;
use proxy::ca::CertificateAuthority;
use proxy::{Proxy, ProxyConfig, Timeouts};
use replay::client::transport::{
    RunStats, ServerUrl, Transport, TransportOptions, load_pem_certs, run_sync_with,
};
use replay::client::{ClientState, Step, Summary, Sync, SyncOptions};
use replay::server::catalog::{ApprovalChange, Catalog};
use replay::server::http::{BoundListener, HttpServerConfig, serve};
use replay::server::logic::{ServerConfig, WsusServer};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::Outcome;
use crate::cli::{Cli, CompletionsArgs, DemoArgs};

/// Seed of the demo catalog (same seed, same catalog, same sample captures).
const SEED: u64 = 1;

/// What the administrator does between the two syncs.
const CHANGE: ApprovalChange = ApprovalChange {
    approve: 3,
    decline: 2,
    change: 1,
};

/// The files of one demo run under `--dir`.
struct Paths {
    dir: PathBuf,
    ca: PathBuf,
    first_capture: PathBuf,
    differential_capture: PathBuf,
    client_capture: PathBuf,
    client_state: PathBuf,
}

impl Paths {
    fn new(dir: &Path) -> Paths {
        Paths {
            dir: dir.to_path_buf(),
            ca: dir.join("ca"),
            first_capture: dir.join("first-sync.jsonl"),
            differential_capture: dir.join("differential-sync.jsonl"),
            client_capture: dir.join("client").join("replay.jsonl"),
            client_state: dir.join("client").join("state.json"),
        }
    }

    /// Creates the directories and removes what a previous demo left (captures are opened
    /// for appending, and the CA is made fresh every run).
    fn prepare(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create the directory {}", self.dir.display()))?;
        // The client's state and capture hold its cookies: a private directory (the CA
        // makes its own directory private the same way).
        let client = self.client_dir();
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&client)
            .with_context(|| format!("cannot create the directory {}", client.display()))?;
        let old = [
            self.first_capture.clone(),
            self.differential_capture.clone(),
            self.client_capture.clone(),
            self.client_state.clone(),
            self.ca.join(proxy::ca::CERT_FILE),
            self.ca.join(proxy::ca::KEY_FILE),
        ];
        let mut removed = 0;
        for f in &old {
            match std::fs::remove_file(f) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove {}", f.display())),
            }
        }
        if removed > 0 {
            progress(format_args!(
                "overwriting the previous demo in {}",
                self.dir.display()
            ));
        }
        Ok(())
    }

    fn client_dir(&self) -> PathBuf {
        self.dir.join("client")
    }
}

/// One progress line on stderr.
fn progress(line: std::fmt::Arguments<'_>) {
    eprintln!("wutap demo: {line}");
}

/// Runs `wutap demo`: exit 1 when the analysis finds MUST violations, 2 on I/O errors.
pub fn run(args: DemoArgs) -> Result<Outcome> {
    let started = Instant::now();
    let paths = Paths::new(&args.dir);
    paths.prepare()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(traffic(&args, &paths))?;
    drop(runtime);

    let captures = [
        paths.first_capture.clone(),
        paths.differential_capture.clone(),
    ];
    progress(format_args!(
        "analyzing {} and {}",
        captures[0].display(),
        captures[1].display()
    ));
    let options = analyzer::Options {
        profile: analyzer::Profile::Native,
        ..analyzer::Options::default()
    };
    let analysis = analyzer::analyze(&captures, &options).context("analyzing the demo captures")?;
    let mut out = std::io::stdout().lock();
    out.write_all(analysis.to_text().as_bytes())?;
    writeln!(out)?;
    writeln!(
        out,
        "captures (the proxy's, one per sync; the client's own):"
    )?;
    for c in captures.iter().chain([&paths.client_capture]) {
        writeln!(out, "  {}", c.display())?;
    }
    writeln!(out, "open them in the TUI:")?;
    writeln!(out, "  wutap tui {}", paths.dir.join("*.jsonl").display())?;
    out.flush()?;
    drop(out);
    progress(format_args!(
        "done in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(if analysis.has_problems() {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

/// The live part: server, proxy, two syncs and the approval change between them.
async fn traffic(args: &DemoArgs, paths: &Paths) -> Result<()> {
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let ca = CertificateAuthority::create(&paths.ca)
        .with_context(|| format!("creating the demo CA in {}", paths.ca.display()))?;
    let ca_pem = paths.ca.join(proxy::ca::CERT_FILE);
    progress(format_args!("demo CA: {}", ca_pem.display()));

    // The server role.
    let t = Instant::now();
    let catalog =
        Catalog::generate(args.catalog_size as usize, SEED).context("generating the catalog")?;
    let server = Arc::new(WsusServer::new(
        catalog,
        ServerConfig {
            seed: SEED,
            ..ServerConfig::default()
        },
    )?);
    let tls = ca.server_config(&["localhost", "127.0.0.1", "::1"])?;
    let listener = BoundListener::bind(loopback, Some(tls))
        .await
        .context("cannot bind the server's listener")?;
    let server_url = listener.url()?;
    progress(format_args!(
        "server: {} ({} updates generated in {:.1} s)",
        server_url,
        args.catalog_size,
        t.elapsed().as_secs_f64()
    ));
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let server_task = tokio::spawn(serve(
        server.clone(),
        vec![listener],
        None,
        HttpServerConfig::default(),
        async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        },
    ));

    let server_port = ServerUrl::parse(&server_url)?.port();
    let front = Front {
        explicit: args.explicit,
        upstream: format!("https://127.0.0.1:{server_port}"),
        ca: Arc::new(ca),
        ca_pem: ca_pem.clone(),
    };

    let result = async {
        let mut options = TransportOptions {
            extra_roots: load_pem_certs(&ca_pem)?,
            ..TransportOptions::default()
        };
        let mut capture = crate::replay_cmd::open_capture(&paths.client_capture)?;
        let state = ClientState::new(crate::replay_cmd::generated_identity()?);
        let state = front
            .sync(
                "first sync",
                state,
                &paths.first_capture,
                &mut options,
                &mut capture,
            )
            .await?;
        state
            .save(&paths.client_state)
            .context("cannot save the client state")?;
        progress(format_args!(
            "client state saved to {}",
            paths.client_state.display()
        ));

        let r = server.change_approvals(CHANGE);
        progress(format_args!(
            "approvals changed: {} approved, {} declined, {} changed",
            r.approve.len(),
            r.decline.len(),
            r.change.len()
        ));

        let state =
            ClientState::load(&paths.client_state).context("cannot load the client state")?;
        let state = front
            .sync(
                "differential sync",
                state,
                &paths.differential_capture,
                &mut options,
                &mut capture,
            )
            .await?;
        state
            .save(&paths.client_state)
            .context("cannot save the client state")?;
        capture
            .finish()
            .context("cannot finish the client's capture")?;
        anyhow::Ok(())
    }
    .await;

    let _ = stop_tx.send(true);
    let _ = server_task.await;
    result
}

/// The recording proxy in front of the server, started afresh for each sync so that each
/// sync has its own capture.
struct Front {
    explicit: bool,
    upstream: String,
    ca: Arc<CertificateAuthority>,
    ca_pem: PathBuf,
}

impl Front {
    /// Starts the proxy recording to `capture`, runs one sync through it, stops it.
    async fn sync(
        &self,
        label: &str,
        state: ClientState,
        capture: &Path,
        options: &mut TransportOptions,
        client_capture: &mut CaptureWriter,
    ) -> Result<ClientState> {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let proxy = Proxy::bind(ProxyConfig {
            listen: self.explicit.then_some(loopback),
            https_listen: (!self.explicit).then_some(loopback),
            reverse: (!self.explicit).then(|| self.upstream.clone()),
            capture: Some(capture.to_path_buf()),
            ca: self.ca.clone(),
            upstream_ca: Some(self.ca_pem.clone()),
            insecure_upstream: false,
            max_body: proxy::DEFAULT_MAX_BODY,
            passthrough: Vec::new(),
            allow_hosts: vec!["127.0.0.1".into()],
            timeouts: Timeouts::default(),
        })
        .await?;
        let server = match (proxy.https_addr(), proxy.http_addr()) {
            (Some(https), _) if !self.explicit => {
                progress(format_args!(
                    "proxy: reverse https://{https} -> {}, recording to {}",
                    self.upstream,
                    capture.display()
                ));
                options.proxy = None;
                format!("https://{https}")
            }
            (_, Some(http)) => {
                progress(format_args!(
                    "proxy: explicit http://{http} (CONNECT), recording to {}",
                    capture.display()
                ));
                options.proxy = Some(format!("http://{http}"));
                self.upstream.clone()
            }
            _ => bail!("the proxy has no listener"),
        };
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let task = tokio::spawn(proxy.run(async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        }));
        let result = sync_once(label, state, &server, options, client_capture).await;
        // Stopped whatever happened: the proxy writes what it has queued before returning.
        let _ = stop_tx.send(true);
        match task.await {
            Ok(r) => r.context("the proxy")?,
            Err(e) => bail!("the proxy stopped abnormally: {e}"),
        }
        result
    }
}

/// One sync of the replay client against `server`, recorded to `capture`.
async fn sync_once(
    label: &str,
    state: ClientState,
    server: &str,
    options: &TransportOptions,
    capture: &mut CaptureWriter,
) -> Result<ClientState> {
    let t = Instant::now();
    progress(format_args!(
        "{label}: client {} …",
        state.identity.client_id
    ));
    let mut transport = Transport::new(ServerUrl::parse(server)?, options.clone())?;
    let sync = Sync::new(state, SyncOptions::new(OffsetDateTime::now_utc()));
    let mut write_error = None;
    let record = |r: Record| {
        if write_error.is_none()
            && let Err(e) = capture.write(&r)
        {
            write_error = Some(e);
        }
    };
    let (sync, end, stats) = run_sync_with(sync, &mut transport, record).await;
    if let Some(e) = write_error {
        return Err(e).context("cannot write the client's capture");
    }
    match end.with_context(|| format!("{label} through the proxy"))? {
        Step::Done(summary) => report_sync(label, &summary, &stats, t.elapsed()),
        Step::Failed(e) => bail!("{label} failed: {e}"),
        Step::Send(..) => bail!("{label} stopped with a request outstanding"),
    }
    Ok(sync.into_state())
}

fn report_sync(label: &str, s: &Summary, stats: &RunStats, elapsed: Duration) {
    progress(format_args!(
        "{label}: done in {:.1} s: requests {}, pages {}, new {}, changed {}, out of scope {}, \
         bytes received {}",
        elapsed.as_secs_f64(),
        s.requests,
        s.pages,
        s.new_updates,
        s.changed_updates,
        s.out_of_scope,
        stats.bytes_received
    ));
}

/// Runs `wutap completions SHELL`.
pub fn completions(args: CompletionsArgs) -> Result<Outcome> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "wutap", &mut out);
    out.flush()?;
    Ok(Outcome::Clean)
}

/// Runs `wutap man`: the man page of `wutap` (options and the list of commands), in roff.
pub fn man() -> Result<Outcome> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&page)?;
    out.flush()?;
    Ok(Outcome::Clean)
}
