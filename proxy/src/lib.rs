//! `proxy`: the TLS-intercepting recording proxy (issue \[proxy\]) and wutap's certificate
//! authority, which `wutap serve` also uses for its HTTPS listener.
//!
//! The proxy sits between a real Windows Update client and a real WSUS server and moves
//! bytes; it never parses SOAP to forward it. Three ways in:
//!
//! - **explicit** (default): an HTTP proxy, the one `netsh winhttp set proxy` points at.
//!   Absolute-form `http://` requests are forwarded (their request line in origin-form, the
//!   one change the proxy makes to a head); `CONNECT host:port` is answered once the
//!   upstream TCP connection is up, then the client's TLS is terminated with a leaf minted
//!   from wutap's CA for the SNI (or the CONNECT host), carrying the upstream certificate's
//!   names too, cached per host ([`ca`]).
//! - **reverse** (`--reverse URL`): listeners where the client's WUServer points, forwarding
//!   every request to URL. The client's `Host` header is forwarded unchanged: WSUS builds
//!   content URLs (reference 1.7, S-39) from it, so they keep pointing at the proxy.
//! - **passthrough** (`--passthrough HOST`): a CONNECT to HOST is tunnelled unread and
//!   recorded as a connection record only.
//!
//! Each client connection gets exactly one upstream connection (opened on its first
//! request, or at CONNECT), so keep-alive and connection ids mean the same on both legs.
//! Heads and bodies are forwarded byte for byte by a small HTTP/1.1 framing layer
//! (`http1`): header case, order and duplicates, chunk framing and Xpress bodies stay as
//! they were. Each exchange becomes one capture record when it completes, handed over a
//! channel to a writer thread (`recorder`); bodies over `max_body` are streamed and
//! recorded as size + SHA-1 + SHA-256.
//!
//! Failures never stop the proxy: an upstream that refuses, resets, fails TLS or times out
//! gets the client a 502 or 504 with a short text body naming the cause and an `error`
//! record; client aborts and slow request heads are recorded too; a capture write error
//! stops recording (one error event) while forwarding goes on.

pub mod ca;
mod conn;
mod http1;
mod io;
mod recorder;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::ca::CertificateAuthority;
use crate::recorder::{Recorder, WriterThread};

/// An error that keeps the proxy from starting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is inconsistent or unsafe.
    #[error("{0}")]
    Config(String),
    /// The certificate authority failed.
    #[error(transparent)]
    Ca(#[from] ca::Error),
    /// The capture file could not be opened.
    #[error(transparent)]
    Capture(#[from] captures::Error),
    /// A TLS configuration could not be built.
    #[error("TLS: {0}")]
    Tls(String),
}

/// How long exchanges in flight may take to finish when the proxy stops.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Default `--max-body`: bodies up to 16 MiB are recorded byte for byte.
pub const DEFAULT_MAX_BODY: u64 = 16 * 1024 * 1024;

/// The time limits of the proxy.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From a request's first byte to the end of its head (slow clients get 408).
    pub header: Duration,
    /// An idle keep-alive client connection is closed after this.
    pub idle: Duration,
    /// Resolving and connecting to the upstream, and its TLS handshake (then 504).
    pub connect: Duration,
    /// From the end of the request to the upstream's response head (then 504), and between
    /// reads of a body on either side.
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header: Duration::from_secs(30),
            idle: Duration::from_secs(300),
            connect: Duration::from_secs(15),
            response: Duration::from_secs(300),
        }
    }
}

/// Everything `wutap proxy` is told on its command line.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The HTTP listener (the proxy in explicit mode, the HTTP side in reverse mode).
    pub listen: Option<SocketAddr>,
    /// The HTTPS listener (reverse mode only).
    pub https_listen: Option<SocketAddr>,
    /// Reverse mode: the real server's base URL, `http://host:port` or `https://host:port`.
    pub reverse: Option<String>,
    /// Capture file (created or appended to); `None` forwards without recording.
    pub capture: Option<PathBuf>,
    /// The CA that mints the leaves shown to clients.
    pub ca: Arc<CertificateAuthority>,
    /// Extra trusted CA certificates (PEM) for upstream TLS, besides the system roots.
    pub upstream_ca: Option<PathBuf>,
    /// Do not verify upstream certificates.
    pub insecure_upstream: bool,
    /// Bodies larger than this are recorded as size and digests.
    pub max_body: u64,
    /// Hosts whose CONNECT tunnels are passed through unread.
    pub passthrough: Vec<String>,
    /// Upstream hosts allowed (empty: any); required when listening beyond loopback.
    pub allow_hosts: Vec<String>,
    /// Time limits.
    pub timeouts: Timeouts,
}

/// Where the proxy sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Host to connect to.
    pub(crate) host: String,
    /// Port to connect to.
    pub(crate) port: u16,
    /// TLS to the upstream, verified against this name (`None`: plain TCP).
    pub(crate) tls_name: Option<String>,
}

/// State shared by all connections.
pub(crate) struct Shared {
    pub(crate) reverse: Option<Target>,
    pub(crate) recorder: Recorder,
    pub(crate) leaves: tls::LeafCache,
    pub(crate) upstream_tls: tokio_rustls::TlsConnector,
    pub(crate) max_body: u64,
    pub(crate) passthrough: Vec<String>,
    pub(crate) allow_hosts: Vec<String>,
    pub(crate) timeouts: Timeouts,
    pub(crate) next_conn: AtomicU64,
    pub(crate) next_exchange: AtomicU64,
    /// Turns true when the proxy stops: idle connections close, busy ones finish first.
    pub(crate) stopping: tokio::sync::watch::Receiver<bool>,
    /// The proxy's own listening addresses (a request to them would loop).
    pub(crate) own: Vec<SocketAddr>,
}

impl Shared {
    /// True if `host` may be contacted (`--allow-host`; any host when none was given).
    pub(crate) fn allowed(&self, host: &str) -> bool {
        self.allow_hosts.is_empty()
            || self
                .allow_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host))
    }

    /// True if `addr` is one of the proxy's own listeners (a request there would loop).
    pub(crate) fn is_own(&self, addr: SocketAddr) -> bool {
        self.own.iter().any(|own| {
            own.port() == addr.port()
                && (own.ip() == addr.ip()
                    || (own.ip().is_unspecified()
                        && (addr.ip().is_loopback() || addr.ip().is_unspecified())))
        })
    }

    /// True if CONNECT tunnels to `host` are passed through unread.
    pub(crate) fn passthrough(&self, host: &str) -> bool {
        self.passthrough
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
    }
}

/// A bound proxy, ready to run.
pub struct Proxy {
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Sender<bool>,
    http: Option<TcpListener>,
    https: Option<TcpListener>,
    writer: Option<WriterThread>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("http", &self.http_addr())
            .field("https", &self.https_addr())
            .finish_non_exhaustive()
    }
}

/// Parses `--reverse URL` into the upstream target.
fn reverse_target(url: &str) -> Result<Target, Error> {
    let bad = || {
        Error::Config(format!(
            "--reverse {url}: expected http://HOST[:PORT] or https://HOST[:PORT]"
        ))
    };
    let t = http1::absolute_target(url).ok_or_else(bad)?;
    if t.origin != "/" {
        return Err(bad());
    }
    let tls_name = (t.scheme == "https").then(|| t.host.clone());
    Ok(Target {
        host: t.host,
        port: t.port,
        tls_name,
    })
}

impl Proxy {
    /// Checks the configuration, opens the capture and binds the listeners.
    ///
    /// Refuses a listener beyond loopback without an upstream allowlist (never an open
    /// proxy by accident), `--https-listen` without `--reverse`, and a reverse upstream the
    /// allowlist does not name.
    pub async fn bind(config: ProxyConfig) -> Result<Proxy, Error> {
        let reverse = config.reverse.as_deref().map(reverse_target).transpose()?;
        if reverse.is_none() && config.https_listen.is_some() {
            return Err(Error::Config(
                "--https-listen needs --reverse (in explicit mode clients reach HTTPS servers with CONNECT)".into(),
            ));
        }
        let listen = match (config.listen, config.https_listen) {
            (Some(a), _) => Some(a),
            (None, Some(_)) => None,
            (None, None) => Some(SocketAddr::from((
                [127, 0, 0, 1],
                if reverse.is_some() { 8530 } else { 8080 },
            ))),
        };
        let allow_hosts: Vec<String> = config
            .allow_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        for addr in listen.iter().chain(config.https_listen.iter()) {
            if !addr.ip().is_loopback() && allow_hosts.is_empty() {
                return Err(Error::Config(format!(
                    "--listen {addr} is beyond loopback: give the upstream hosts allowed with --allow-host HOST (the proxy is never open by accident)"
                )));
            }
        }
        if let Some(t) = &reverse
            && !allow_hosts.is_empty()
            && !allow_hosts.iter().any(|h| h.eq_ignore_ascii_case(&t.host))
        {
            return Err(Error::Config(format!(
                "--reverse host {} is not among the --allow-host hosts",
                t.host
            )));
        }
        let key_log = tls::key_log();
        let client_config = tls::upstream_config(
            config.upstream_ca.as_deref(),
            config.insecure_upstream,
            key_log.clone(),
        )?;
        let (recorder, writer) = match &config.capture {
            Some(path) => {
                let (r, w) = Recorder::open(path)?;
                (r, Some(w))
            }
            None => (Recorder::disabled(), None),
        };
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })
        };
        let http = match listen {
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        let https = match config.https_listen {
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let own = http
            .iter()
            .chain(https.iter())
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let shared = Arc::new(Shared {
            own,
            reverse,
            recorder,
            leaves: tls::LeafCache::new(config.ca.clone(), key_log),
            upstream_tls: tokio_rustls::TlsConnector::from(client_config),
            max_body: config.max_body,
            passthrough: config
                .passthrough
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            allow_hosts,
            timeouts: config.timeouts,
            next_conn: AtomicU64::new(0),
            next_exchange: AtomicU64::new(0),
            stopping,
        });
        Ok(Proxy {
            shared,
            stop,
            http,
            https,
            writer,
        })
    }

    /// The HTTP listener's address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The HTTPS listener's address (reverse mode).
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Accepts and serves connections until `shutdown` completes; then closes idle
    /// connections, gives exchanges in flight a few seconds to finish, and lets the
    /// recorder write what is queued.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let Proxy {
            shared,
            stop,
            http,
            https,
            writer,
        } = self;
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = accept(http.as_ref()) => {
                    if let Some((stream, peer)) = accepted {
                        tasks.spawn(conn::serve_http(shared.clone(), stream, peer));
                    }
                }
                accepted = accept(https.as_ref()) => {
                    if let Some((stream, peer)) = accepted {
                        tasks.spawn(conn::serve_https(shared.clone(), stream, peer));
                    }
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        // Stop accepting; idle connections close now, exchanges in flight may finish (and
        // be recorded) within the grace period.
        drop((http, https));
        let _ = stop.send(true);
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(STOP_GRACE, drain).await.is_err() {
            tracing::info!(
                left = tasks.len(),
                "stopping: connections still busy are cut"
            );
        }
        tasks.shutdown().await;
        drop(shared);
        if let Some(w) = writer {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
        Ok(())
    }
}

/// Accepts one connection (pending forever without a listener); errors are logged.
async fn accept(listener: Option<&TcpListener>) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    let Some(l) = listener else {
        return std::future::pending().await;
    };
    match l.accept().await {
        Ok(pair) => Some(pair),
        Err(e) => {
            tracing::warn!(error = %e, "accept failed");
            // Out of descriptors and the like: do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_urls() {
        let t = reverse_target("https://wsus.example:8531").unwrap();
        assert_eq!(t.host, "wsus.example");
        assert_eq!(t.port, 8531);
        assert_eq!(t.tls_name.as_deref(), Some("wsus.example"));
        let t = reverse_target("http://10.0.0.1/").unwrap();
        assert_eq!((t.port, t.tls_name), (80, None));
        assert!(reverse_target("http://h/ClientWebService").is_err());
        assert!(reverse_target("wsus:8530").is_err());
    }
}
