//! The HTTP and TLS shell of the server role: sockets, HTTP/1.1 keep-alive, Xpress, content
//! downloads with Range, injected transport faults, and the admin listener.
//!
//! [`serve`] runs listeners until a shutdown future completes. Each listener is a bound
//! [`tokio::net::TcpListener`] plus, for HTTPS, a rustls configuration ([`BoundListener`]).
//! Every connection is its own task, with `TCP_NODELAY` set; a failure on one connection is a
//! `tracing` event and never stops the listener.
//!
//! Routing on the service listeners (paths case-insensitive, as IIS):
//! - `POST` to a web service path (reference 1.1, [`wusp::Service::from_path`]): the body's
//!   `Content-Encoding` is undone, the call goes to [`Backend::soap`], the reply's
//!   [`TransportFault`](super::TransportFault) is carried out, and the answer goes back with
//!   the headers WSUS sends (reference 1.2), Xpress-encoded when the request's
//!   `Accept-Encoding` lists `xpress` (reference 1.3);
//! - `GET` and `HEAD` under `/Content/`: [`Backend::content`], with single byte ranges
//!   (reference 1.7);
//! - anything else: 404.
//!
//! The admin listener (plain HTTP, meant for loopback) hands `/admin/...` requests to
//! [`Backend::admin`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::Backend;

mod conn;
mod range;
mod routes;
#[cfg(test)]
mod tests;

use conn::{ConnShared, Expiry, TrackedIo};
use routes::{ConnInfo, Ctx, Role};

/// Limits and timeouts of the HTTP layer.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpServerConfig {
    /// Largest request body accepted, before and after Content-Encoding is undone; larger
    /// bodies get 413 without being read.
    pub max_request_body: usize,
    /// Time allowed for a request head, from its first byte.
    pub header_read_timeout: Duration,
    /// Time allowed for reading a request body (408 after it).
    pub body_read_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed (IIS's
    /// `connectionTimeout` is 120 s).
    pub idle_timeout: Duration,
    /// Time allowed for a TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Xpress input block size: 65535 is the protocol's maximum, 16352 what WS2025 sends.
    pub xpress_block_size: usize,
    /// After shutdown is asked, how long connections may finish their current request.
    pub shutdown_grace: Duration,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            max_request_body: 16 << 20,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(120),
            tls_handshake_timeout: Duration::from_secs(10),
            xpress_block_size: 16352,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// A bound listener for the web services and content: plain HTTP, or HTTPS with `tls`.
#[derive(Debug)]
pub struct BoundListener {
    /// The bound socket.
    pub listener: TcpListener,
    /// The TLS configuration for HTTPS; `None` for plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl BoundListener {
    /// Binds `addr` (port 0 picks a free port) for plain HTTP, or HTTPS when `tls` is given.
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<BoundListener> {
        Ok(BoundListener {
            listener: TcpListener::bind(addr).await?,
            tls,
        })
    }

    /// The address actually bound (the port resolved when 0 was asked).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The listener's base URL, e.g. `http://127.0.0.1:8530`.
    pub fn url(&self) -> io::Result<String> {
        Ok(format!("{}://{}", self.scheme(), self.local_addr()?))
    }
}

/// Shutdown stages sent to the accept loops and connections.
const RUNNING: u8 = 0;
/// Stop accepting; connections finish their current request and close.
const DRAIN: u8 = 1;
/// Close every connection now.
const ABORT: u8 = 2;

/// Serves `listeners` (and the admin listener) with `backend` until `shutdown` completes,
/// then stops accepting, lets connections finish their current request for
/// [`HttpServerConfig::shutdown_grace`], closes the rest and returns.
pub async fn serve(
    backend: Arc<dyn Backend>,
    listeners: Vec<BoundListener>,
    admin: Option<TcpListener>,
    config: HttpServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let cpu = Arc::new(tokio::sync::Semaphore::new(cores));
    let ctx = Arc::new(Ctx {
        backend,
        config,
        cpu,
    });
    let (stage_tx, stage_rx) = watch::channel(RUNNING);
    // Every connection task holds a sender; `recv` returns `None` once all are gone.
    let (alive_tx, mut alive_rx) = mpsc::channel::<Infallible>(1);
    let mut accepts = tokio::task::JoinSet::new();
    for l in listeners {
        let role = Role::Service { tls: l.tls };
        accepts.spawn(accept_loop(
            Arc::clone(&ctx),
            l.listener,
            role,
            stage_rx.clone(),
            alive_tx.clone(),
        ));
    }
    if let Some(a) = admin {
        accepts.spawn(accept_loop(
            Arc::clone(&ctx),
            a,
            Role::Admin,
            stage_rx.clone(),
            alive_tx.clone(),
        ));
    }
    drop(alive_tx);
    drop(stage_rx);

    shutdown.await;
    tracing::info!("shutting down: draining connections");
    let _ = stage_tx.send(DRAIN);
    while accepts.join_next().await.is_some() {}
    if tokio::time::timeout(ctx.config.shutdown_grace, alive_rx.recv())
        .await
        .is_err()
    {
        tracing::info!("grace period over: closing the remaining connections");
        let _ = stage_tx.send(ABORT);
        let _ = alive_rx.recv().await;
    }
}

async fn accept_loop(
    ctx: Arc<Ctx>,
    listener: TcpListener,
    role: Role,
    mut stage: watch::Receiver<u8>,
    alive: mpsc::Sender<Infallible>,
) {
    let local = listener.local_addr().ok();
    let for_connections = stage.clone();
    loop {
        tokio::select! {
            () = stopping(&mut stage) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(connection(
                        Arc::clone(&ctx),
                        stream,
                        peer,
                        role.clone(),
                        for_connections.clone(),
                        alive.clone(),
                    ));
                }
                Err(e) => {
                    // Out of descriptors and the like: back off, keep listening.
                    tracing::warn!(listener = ?local, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// Completes once shutdown has started (or the server is gone).
async fn stopping(stage: &mut watch::Receiver<u8>) {
    // The guard `wait_for` returns is not `Send`: drop it here.
    let _ = stage.wait_for(|s| *s != RUNNING).await.map(|_| ());
}

async fn connection(
    ctx: Arc<Ctx>,
    stream: TcpStream,
    peer: SocketAddr,
    role: Role,
    stage: watch::Receiver<u8>,
    _alive: mpsc::Sender<Infallible>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "TCP_NODELAY");
    }
    let shared = Arc::new(ConnShared::new());
    let tls = match &role {
        Role::Service { tls } => tls.clone(),
        Role::Admin => None,
    };
    let Some(tls) = tls else {
        let info = ConnInfo {
            peer,
            scheme: "http",
            role,
        };
        drive(
            ctx,
            TrackedIo::new(stream, Arc::clone(&shared)),
            shared,
            info,
            stage,
        )
        .await;
        return;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    match tokio::time::timeout(ctx.config.tls_handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => {
            let info = ConnInfo {
                peer,
                scheme: "https",
                role,
            };
            drive(
                ctx,
                TrackedIo::new(stream, Arc::clone(&shared)),
                shared,
                info,
                stage,
            )
            .await;
        }
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// Runs hyper on one connection, closing it on the idle and header timeouts and on shutdown.
async fn drive<I>(
    ctx: Arc<Ctx>,
    io: TrackedIo<I>,
    shared: Arc<ConnShared>,
    info: ConnInfo,
    mut stage: watch::Receiver<u8>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = info.peer;
    let service = {
        let ctx = Arc::clone(&ctx);
        let shared = Arc::clone(&shared);
        service_fn(move |req| {
            let ctx = Arc::clone(&ctx);
            let shared = Arc::clone(&shared);
            let info = info.clone();
            async move { Ok::<_, Infallible>(routes::handle(ctx, info, shared, req).await) }
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Header and idle timeouts are ours (see `conn`); hyper's would count idle time.
        .header_read_timeout(None)
        .keep_alive(true)
        .half_close(false)
        .title_case_headers(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        let next_check = shared.next_check(&ctx.config);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            () = tokio::time::sleep_until(next_check) => {
                if let Some(why) = shared.expired(&ctx.config) {
                    match why {
                        Expiry::Idle => tracing::debug!(%peer, "idle keep-alive timeout"),
                        Expiry::HeaderRead => tracing::debug!(%peer, "request head timeout"),
                    }
                    break;
                }
            }
            changed = stage.changed() => {
                let now = if changed.is_err() { ABORT } else { *stage.borrow_and_update() };
                if now >= ABORT {
                    break;
                }
                if now >= DRAIN && !draining {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
