//! `wutap proxy`: the recording proxy on real sockets.
//!
//! The CA is loaded (or created), the capture opened and every listener bound before the
//! `listening …` lines are printed and flushed, so a line on stdout means the port answers.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use proxy::ca::CertificateAuthority;
use proxy::{Proxy, ProxyConfig, Timeouts};

use crate::Outcome;
use crate::cli::ProxyArgs;
use crate::serve::{armed_shutdown, ca_dir};

/// Runs `wutap proxy` until Ctrl-C or SIGTERM.
pub fn run(args: ProxyArgs) -> Result<Outcome> {
    if args.tui {
        return run_with_tui(args);
    }
    let (config, runtime) = config_and_runtime(args)?;
    runtime.block_on(async {
        let proxy = Proxy::bind(config).await?;
        let Some(shutdown) = armed_shutdown().await else {
            return anyhow::Ok(());
        };
        let mut out = std::io::stdout().lock();
        if let Some(a) = proxy.http_addr() {
            writeln!(out, "listening http://{a}")?;
        }
        if let Some(a) = proxy.https_addr() {
            writeln!(out, "listening https://{a}")?;
        }
        out.flush()?;
        drop(out);
        proxy.run(shutdown).await?;
        anyhow::Ok(())
    })?;
    Ok(Outcome::Clean)
}

/// `wutap proxy --tui`: the proxy runs in a background thread and the TUI follows its
/// capture as records are written (a temporary one, deleted at exit, without --capture).
fn run_with_tui(mut args: ProxyArgs) -> Result<Outcome> {
    crate::tui::need_terminal()?;
    let mut temp = None;
    let capture = match args.capture.clone() {
        Some(p) => p,
        None => {
            let dir = tempfile::Builder::new()
                .prefix("wutap-live-")
                .tempdir()
                .context("cannot create a temporary directory for the live capture")?;
            let p = dir.path().join("live.jsonl");
            temp = Some(dir);
            p
        }
    };
    if !crate::tui::source::is_plain(&capture) {
        bail!(
            "--tui follows the capture as it is written: give a plain .jsonl --capture, not {}",
            capture.display()
        );
    }
    args.capture = Some(capture.clone());
    let (config, runtime) = config_and_runtime(args)?;
    let proxy = runtime.block_on(Proxy::bind(config))?;
    let mut banner: Vec<String> = Vec::new();
    if let Some(a) = proxy.http_addr() {
        banner.push(format!("listening http://{a}"));
    }
    if let Some(a) = proxy.https_addr() {
        banner.push(format!("listening https://{a}"));
    }
    for line in &banner {
        println!("{line}");
    }
    let note = if temp.is_some() {
        "temporary capture, deleted at exit (--capture keeps one)".to_string()
    } else {
        format!(
            "recording to {}",
            capture.file_name().map_or_else(
                || capture.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            )
        )
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = std::thread::spawn(move || {
        runtime.block_on(proxy.run(async {
            let _ = stop_rx.await;
        }))
    });
    let shown = format!("{}; {note}", banner.join(", "));
    let result = crate::tui::run_live(capture, shown);
    let _ = stop_tx.send(());
    let stopped = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the proxy thread panicked"))?;
    drop(temp);
    result?;
    stopped?;
    Ok(Outcome::Clean)
}

/// The proxy configuration (with wutap's CA from `--ca-dir`) and the runtime to run it on.
fn config_and_runtime(args: ProxyArgs) -> Result<(ProxyConfig, tokio::runtime::Runtime)> {
    let dir = ca_dir(args.ca_dir.clone())?;
    let ca = CertificateAuthority::load_or_create(&dir)
        .with_context(|| format!("wutap CA in {}", dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok((config(args, Arc::new(ca)), runtime))
}

/// The library configuration from the command line.
fn config(args: ProxyArgs, ca: Arc<CertificateAuthority>) -> ProxyConfig {
    let defaults = Timeouts::default();
    let secs = |v: Option<f64>, d: Duration| v.map_or(d, Duration::from_secs_f64);
    ProxyConfig {
        listen: args.listen,
        https_listen: args.https_listen,
        reverse: args.reverse,
        capture: args.capture,
        ca,
        upstream_ca: args.upstream_ca,
        insecure_upstream: args.insecure_upstream,
        max_body: args.max_body,
        passthrough: args.passthrough,
        allow_hosts: args.allow_host,
        timeouts: Timeouts {
            header: secs(args.header_timeout, defaults.header),
            idle: secs(args.idle_timeout, defaults.idle),
            connect: secs(args.connect_timeout, defaults.connect),
            response: secs(args.upstream_timeout, defaults.response),
        },
    }
}
