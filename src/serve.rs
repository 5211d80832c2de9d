//! `wutap serve`: the WSUS server role on real sockets.
//!
//! The order matters to scripts: the backend is built (catalog generated or loaded) and the
//! TLS material prepared first, then every listener is bound, and only then the
//! `listening …` lines are printed and flushed, so a line on stdout means the port answers.

use std::collections::BTreeSet;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use replay::server::Backend;
use replay::server::http::{BoundListener, HttpServerConfig, serve};

use crate::Outcome;
use crate::cli::ServeArgs;

/// The plain HTTP listener when neither `--listen` nor `--https-listen` is given.
const DEFAULT_LISTEN: &str = "127.0.0.1:8530";

/// Runs `wutap serve` until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs) -> Result<Outcome> {
    check_args(&args)?;
    let backend = build_backend(&args)?;
    let tls = tls_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let Some(shutdown) = armed_shutdown().await else {
            return Ok(());
        };
        serve_until(backend, &args, tls, std::io::stdout(), shutdown).await
    })?;
    Ok(Outcome::Clean)
}

/// Checks what clap cannot: the admin API stays on loopback.
fn check_args(args: &ServeArgs) -> Result<()> {
    if let Some(admin) = args.admin
        && !admin.ip().is_loopback()
    {
        bail!("--admin {admin}: the admin API listens on a loopback address only");
    }
    Ok(())
}

/// Catalog size when neither `--catalog-size` nor `--catalog` is given.
const DEFAULT_CATALOG_SIZE: usize = 1000;

/// Builds the protocol core from the command line: the catalog (generated from
/// `--catalog-size`/`--seed`, or rebuilt from `--catalog CAPTURE`) and the server settings.
fn build_backend(args: &ServeArgs) -> Result<Arc<dyn Backend>> {
    use replay::server::catalog::Catalog;
    use replay::server::inject::FaultPlan;
    use replay::server::logic::{ServerConfig, WsusServer};

    let seed = args.seed.unwrap_or(1);
    let catalog = match &args.catalog {
        Some(path) => {
            let (records, problems) = captures::read_all(path)?;
            for p in &problems {
                tracing::warn!("{p} (skipped)");
            }
            Catalog::from_capture(records.iter().map(|(_, r)| r))
                .with_context(|| format!("rebuilding the catalog from {}", path.display()))?
        }
        None => {
            let size = args
                .catalog_size
                .map_or(DEFAULT_CATALOG_SIZE, |n| n as usize);
            Catalog::generate(size, seed).context("generating the catalog")?
        }
    };
    let mut config = ServerConfig {
        inject: FaultPlan::parse(&args.inject).context("--inject")?,
        data_dir: args.data_dir.clone(),
        seed,
        ..ServerConfig::default()
    };
    if let Some(n) = args.page_size {
        anyhow::ensure!(n > 0, "--page-size must be at least 1");
        config.page_size = n as usize;
    }
    if let Some(secs) = args.cookie_lifetime {
        config.cookie_lifetime = std::time::Duration::from_secs(secs);
    }
    if let Some(dir) = &args.data_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the data directory {}", dir.display()))?;
    }
    Ok(Arc::new(WsusServer::new(catalog, config)?))
}

/// The TLS configuration of the HTTPS listeners: `--cert`/`--key`, or a leaf from wutap's CA
/// for localhost, the listen addresses and `--tls-name`s. `None` without HTTPS listeners.
fn tls_config(args: &ServeArgs) -> Result<Option<Arc<rustls::ServerConfig>>> {
    if args.https_listen.is_empty() {
        return Ok(None);
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        let (chain, key) = proxy::ca::load_pem_pair(cert, key)?;
        return Ok(Some(proxy::ca::server_config(chain, key)?));
    }
    let dir = ca_dir(args.ca_dir.clone())?;
    let ca = proxy::ca::CertificateAuthority::load_or_create(&dir)
        .with_context(|| format!("wutap CA in {}", dir.display()))?;
    let names = leaf_names(&args.tls_names, &args.https_listen);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    Ok(Some(ca.server_config(&names)?))
}

/// The names of the leaf: `--tls-name`s first (the first is the common name), then
/// localhost, the loopback addresses and the specific listen addresses, without repeats.
fn leaf_names(extra: &[String], listen: &[SocketAddr]) -> Vec<String> {
    let mut names: Vec<String> = extra.to_vec();
    names.extend(["localhost".into(), "127.0.0.1".into(), "::1".into()]);
    names.extend(
        listen
            .iter()
            .filter(|a| !a.ip().is_unspecified())
            .map(|a| a.ip().to_string()),
    );
    let mut seen = BTreeSet::new();
    names.retain(|n| seen.insert(n.to_ascii_lowercase()));
    names
}

/// `--ca-dir`, or the per-user default.
pub fn ca_dir(flag: Option<PathBuf>) -> Result<PathBuf> {
    flag.or_else(proxy::ca::default_dir).context(
        "no per-user data directory (neither XDG_DATA_HOME nor HOME is set): give --ca-dir",
    )
}

/// Binds every listener, prints the `listening …` lines on `out`, then serves until
/// `shutdown` completes.
async fn serve_until(
    backend: Arc<dyn Backend>,
    args: &ServeArgs,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut out: impl Write,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let mut plain = args.listen.clone();
    if plain.is_empty() && args.https_listen.is_empty() {
        plain.push(DEFAULT_LISTEN.parse()?);
    }
    let mut listeners = Vec::new();
    for addr in plain {
        let l = BoundListener::bind(addr, None)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        listeners.push(l);
    }
    for &addr in &args.https_listen {
        let l = BoundListener::bind(addr, tls.clone())
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        listeners.push(l);
    }
    let admin = match args.admin {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (admin)"))?,
        ),
        None => None,
    };

    for l in &listeners {
        writeln!(out, "listening {}", l.url()?)?;
    }
    if let Some(a) = &admin {
        writeln!(out, "listening admin http://{}", a.local_addr()?)?;
    }
    out.flush()?;

    serve(
        backend,
        listeners,
        admin,
        HttpServerConfig::default(),
        shutdown,
    )
    .await;
    Ok(())
}

/// [`shutdown_signal`] polled once, so its handlers are installed before the listening
/// lines invite anyone to connect (and to send SIGTERM, which would otherwise kill the
/// process with the default action). `None` when a signal already arrived.
pub async fn armed_shutdown() -> Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> {
    let mut shutdown: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> =
        Box::pin(shutdown_signal());
    let stopped =
        std::future::poll_fn(|cx| std::task::Poll::Ready(shutdown.as_mut().poll(cx).is_ready()))
            .await;
    (!stopped).then_some(shutdown)
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: stopping"),
        () = term => tracing::info!("SIGTERM: stopping"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use clap::Parser as _;
    use replay::server::{ContentFile, SoapCall, SoapReply};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::cli::{Cli, Command};

    /// A stand-in for the protocol core: every call gets the same small envelope.
    struct Stub;

    impl Backend for Stub {
        fn soap(&self, _call: SoapCall<'_>) -> SoapReply {
            SoapReply {
                status: 200,
                body: b"<s:Envelope/>".to_vec(),
                operation: None,
                transport: None,
            }
        }
        fn content(&self, _path: &str) -> Option<ContentFile> {
            None
        }
        fn admin(&self, _method: &str, _path: &str, _body: &[u8]) -> (u16, Vec<u8>) {
            (200, b"{}".to_vec())
        }
    }

    /// Sends what is written, line by line, to the test.
    struct Lines(mpsc::Sender<String>, Vec<u8>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.1.extend_from_slice(buf);
            while let Some(i) = self.1.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.1.drain(..=i).collect();
                let _ = self
                    .0
                    .send(String::from_utf8_lossy(&line).trim_end().to_owned());
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn serve_args(line: &[&str]) -> ServeArgs {
        let mut argv = vec!["wutap", "serve"];
        argv.extend_from_slice(line);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(a) => *a,
            other => panic!("{other:?}"),
        }
    }

    async fn post(addr: &str, tls: bool) -> String {
        let addr = addr.rsplit_once("//").unwrap().1;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = "POST /ClientWebService/client.asmx HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        let text = String::from_utf8_lossy(&out).into_owned();
        if tls {
            // Plain HTTP on a TLS port: no HTTP answer, but the port is open.
            assert!(!text.starts_with("HTTP/1.1 200"), "{text}");
        }
        text
    }

    // Multi-thread: the test blocks on a std channel while the server runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn binds_prints_listening_lines_serves_and_stops() {
        let ca = tempfile::tempdir().unwrap();
        let args = serve_args(&[
            "--listen",
            "127.0.0.1:0",
            "--listen",
            "0",
            "--https-listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--ca-dir",
            ca.path().to_str().unwrap(),
        ]);
        check_args(&args).unwrap();
        let tls = tls_config(&args).unwrap();
        assert!(tls.is_some());
        assert!(ca.path().join(proxy::ca::CERT_FILE).exists());
        let (tx, rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve_until(Arc::new(Stub), &args, tls, Lines(tx, Vec::new()), async {
                let _ = stop_rx.await;
            })
            .await
        });
        let lines: Vec<String> = (0..4)
            .map(|_| rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap())
            .collect();
        let re = |l: &str, prefix: &str| {
            l.strip_prefix(prefix)
                .and_then(|p| p.parse::<u16>().ok())
                .is_some_and(|p| p != 0)
        };
        assert!(re(&lines[0], "listening http://127.0.0.1:"), "{lines:?}");
        assert!(re(&lines[1], "listening http://127.0.0.1:"), "{lines:?}");
        assert!(re(&lines[2], "listening https://127.0.0.1:"), "{lines:?}");
        assert!(
            re(&lines[3], "listening admin http://127.0.0.1:"),
            "{lines:?}"
        );

        let answer = post(&lines[0], false).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("<s:Envelope/>"), "{answer}");
        post(&lines[2], true).await;

        stop_tx.send(()).unwrap();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn bind_errors_name_the_address() {
        // Occupy a port, then ask serve for it: an error naming the address.
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let args = serve_args(&["--listen", &format!("127.0.0.1:{port}")]);
        let err = serve_until(Arc::new(Stub), &args, None, Vec::new(), async {})
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains(&format!("127.0.0.1:{port}")),
            "{err:#}"
        );
    }

    #[test]
    fn admin_must_be_loopback() {
        assert!(check_args(&serve_args(&["--admin", "0.0.0.0:9000"])).is_err());
        assert!(check_args(&serve_args(&["--admin", "[::1]:9000"])).is_ok());
    }

    #[test]
    fn leaf_names_put_tls_names_first_without_repeats() {
        let listen = [
            "127.0.0.1:8531".parse().unwrap(),
            "192.0.2.7:8531".parse().unwrap(),
        ];
        let names = leaf_names(&["wsus.lab".into(), "LOCALHOST".into()], &listen);
        assert_eq!(
            names,
            ["wsus.lab", "LOCALHOST", "127.0.0.1", "::1", "192.0.2.7"]
        );
        let any = ["0.0.0.0:8531".parse().unwrap()];
        assert_eq!(leaf_names(&[], &any), ["localhost", "127.0.0.1", "::1"]);
    }
}
