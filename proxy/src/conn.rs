//! One client connection: CONNECT and TLS interception, the exchange loop, passthrough,
//! and the capture records of each.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use captures::{
    BodyRecorder, ConnectionMode, ConnectionRecord, ErrorPhase, ErrorRecord, Exchange, Record,
    Request, Response, Timestamp, Timing, TlsInfo,
};
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;

use crate::http1::{self, BodyLen, Head};
use crate::io::{Counted, Counters, HeadError, Io, RelayError, Rewind, Side};
use crate::{Shared, Target, tls};

/// Serves a connection on the HTTP listener (explicit proxy, or reverse HTTP).
pub(crate) async fn serve_http(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr) {
    let _ = tcp.set_nodelay(true);
    let counters = Arc::new(Counters::default());
    let io: Box<dyn Io> = Box::new(Counted::new(tcp, counters.clone()));
    let route = match &shared.reverse {
        Some(t) => Route::Fixed(t.clone()),
        None => Route::Absolute,
    };
    let mut s = Session::new(shared, peer, Side::new(io), route, counters);
    if let Some(connect) = s.run().await {
        s.connect(connect).await;
    }
    s.finish().await;
}

/// Serves a connection on the HTTPS listener (reverse mode): TLS with a leaf for the name
/// the client asked for (SNI, else the listener's address).
pub(crate) async fn serve_https(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr) {
    let _ = tcp.set_nodelay(true);
    let local = tcp.local_addr().ok();
    let counters = Arc::new(Counters::default());
    let io: Box<dyn Io> = Box::new(Counted::new(tcp, counters.clone()));
    let Some(target) = shared.reverse.clone() else {
        return;
    };
    let mut s = Session::new(
        shared,
        peer,
        Side::new(Box::new(tokio::io::empty())),
        Route::Fixed(target),
        counters,
    );
    s.scheme = "https";
    s.mode = ConnectionMode::Intercept;
    let fallback = local.map(|a| a.ip().to_string()).unwrap_or_default();
    if let Some((start, sni)) = s.start_tls(io).await {
        let name = sni.clone().unwrap_or(fallback);
        if s.finish_tls(start, &name, sni.as_deref(), &[]).await
            && let Some(head) = s.run().await
        {
            s.refuse(
                &head,
                400,
                "Bad Request",
                "CONNECT is not served on this listener",
            )
            .await;
        }
    }
    s.finish().await;
}

/// How a connection finds its upstream.
#[derive(Debug, Clone)]
enum Route {
    /// Explicit proxy, plain HTTP: each request names its server (absolute-form).
    Absolute,
    /// Reverse mode or inside a CONNECT tunnel: one server.
    Fixed(Target),
}

/// The upstream connection of a client connection.
struct Upstream {
    side: Side,
    target: Target,
    /// Exchanges completed on this connection.
    served: u32,
}

/// A failure that ends an exchange.
struct Failure {
    phase: ErrorPhase,
    /// What the proxy answers, when the client can still be answered.
    answer: Option<(u16, &'static str)>,
    message: String,
}

impl Failure {
    fn new(phase: ErrorPhase, answer: Option<(u16, &'static str)>, message: String) -> Self {
        Self {
            phase,
            answer,
            message,
        }
    }
}

const BAD_GATEWAY: Option<(u16, &str)> = Some((502, "Bad Gateway"));
const GATEWAY_TIMEOUT: Option<(u16, &str)> = Some((504, "Gateway Timeout"));

/// What the exchange loop does next.
enum Flow {
    Continue,
    Close,
}

/// The state of one exchange, for its record.
struct Ongoing {
    id: u64,
    time: Timing,
    request: Option<Request>,
    response: Option<Response>,
}

struct Session {
    shared: Arc<Shared>,
    conn: u64,
    peer: SocketAddr,
    opened: Timestamp,
    counters: Arc<Counters>,
    client: Side,
    scheme: &'static str,
    client_tls: Option<TlsInfo>,
    route: Route,
    upstream: Option<Upstream>,
    /// The upstream could not be set up at CONNECT (TLS): every request gets this answer.
    upstream_failure: Option<Failure>,
    server: Option<String>,
    upstream_tls: Option<TlsInfo>,
    mode: ConnectionMode,
}

impl Session {
    fn new(
        shared: Arc<Shared>,
        peer: SocketAddr,
        client: Side,
        route: Route,
        counters: Arc<Counters>,
    ) -> Self {
        let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
        Self {
            shared,
            conn,
            peer,
            opened: Timestamp::now(),
            counters,
            client,
            scheme: "http",
            client_tls: None,
            route,
            upstream: None,
            upstream_failure: None,
            server: None,
            upstream_tls: None,
            mode: ConnectionMode::Plain,
        }
    }

    fn recording(&self) -> bool {
        self.shared.recorder.active()
    }

    /// The exchange loop. Returns a CONNECT head for the caller to handle (explicit mode).
    async fn run(&mut self) -> Option<Head> {
        let t = self.shared.timeouts;
        loop {
            if self.client.buffered().is_empty() && !self.wait_for_request().await {
                return None;
            }
            let (head, first) = match tokio::time::timeout(t.header, self.client.read_head(true))
                .await
            {
                Ok(Ok(x)) => x,
                Ok(Err(HeadError::Closed { partial: false })) => return None,
                Ok(Err(HeadError::Closed { partial: true })) => {
                    let msg = "the client closed the connection in the middle of a request head";
                    self.record_failure_alone(ErrorPhase::ClientAbort, msg)
                        .await;
                    return None;
                }
                Ok(Err(HeadError::Io(e))) => {
                    tracing::debug!(conn = self.conn, error = %e, "client read failed");
                    return None;
                }
                Ok(Err(HeadError::Framing(e))) => {
                    let _ = self
                        .answer(400, "Bad Request", &format!("wutap proxy: {e}\n"))
                        .await;
                    self.record_failure_alone(
                        ErrorPhase::Other,
                        &format!("bad request from the client: {e}"),
                    )
                    .await;
                    return None;
                }
                Err(_) => {
                    let msg = format!(
                        "the client did not send a complete request head within {} s",
                        t.header.as_secs_f64()
                    );
                    let _ = self
                        .answer(408, "Request Timeout", &format!("wutap proxy: {msg}\n"))
                        .await;
                    self.record_failure_alone(ErrorPhase::HeaderTimeout, &msg)
                        .await;
                    return None;
                }
            };
            if head.method().eq_ignore_ascii_case("CONNECT") {
                if matches!(self.route, Route::Absolute) {
                    return Some(head);
                }
                self.refuse(&head, 400, "Bad Request", "CONNECT inside a tunnel")
                    .await;
                return None;
            }
            match self.exchange(head, first).await {
                Flow::Continue => {}
                Flow::Close => return None,
            }
        }
    }

    /// Waits for the next request's first byte; false when the connection should close
    /// (client gone or idle too long, or the upstream closed its side).
    async fn wait_for_request(&mut self) -> bool {
        let idle = self.shared.timeouts.idle;
        let mut stopping = self.shared.stopping.clone();
        if *stopping.borrow_and_update() {
            return false;
        }
        let client = &mut self.client;
        let upstream_closed = async {
            match &mut self.upstream {
                // The upstream closed (or spoke out of turn): mirror it to the client.
                Some(up) => drop(up.side.read_more().await),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = tokio::time::timeout(idle, client.read_more()) => matches!(r, Ok(Ok(n)) if n > 0),
            () = upstream_closed => false,
            _ = stopping.changed() => false,
        }
    }

    /// One request (its head in, its first byte seen at `start`) and its response.
    async fn exchange(&mut self, head: Head, start: Timestamp) -> Flow {
        let id = self.shared.next_exchange.fetch_add(1, Ordering::Relaxed) + 1;
        let mut ex = Ongoing {
            id,
            time: Timing::starting(start),
            request: None,
            response: None,
        };
        let t = self.shared.timeouts;

        // Where to, and the head to send there.
        let (target, forward_head, url) = match self.route_request(&head) {
            Ok(x) => x,
            Err(f) => {
                ex.request = self
                    .recording()
                    .then(|| capture_request(&head, head.target(), captures::Body::empty()));
                return self.fail(ex, f).await;
            }
        };
        let capture = self.recording();
        if capture {
            ex.request = Some(capture_request(&head, &url, captures::Body::empty()));
        }
        let req_len = match head.request_body() {
            Ok(l) => l,
            Err(e) => {
                let f = Failure::new(
                    ErrorPhase::Other,
                    Some((400, "Bad Request")),
                    format!("bad request from the client: {e}"),
                );
                return self.fail(ex, f).await;
            }
        };
        if let Some(f) = self.upstream_failure.take() {
            let again = Failure::new(f.phase, f.answer, f.message.clone());
            self.upstream_failure = Some(f);
            return self.fail(ex, again).await;
        }
        if let Err(f) = self.ensure_upstream(&target).await {
            return self.fail(ex, f).await;
        }
        let Some(up) = self.upstream.as_mut() else {
            let f = Failure::new(
                ErrorPhase::Other,
                BAD_GATEWAY,
                "no upstream connection".into(),
            );
            return self.fail(ex, f).await;
        };

        // The request.
        let mut req_rec = capture.then(|| recorder_for(req_len, self.shared.max_body));
        let sent = async {
            up.side
                .send(forward_head.as_deref().unwrap_or(&head.bytes))
                .await
                .map_err(RelayError::Dest)?;
            let expect = head.has_token("Expect", "100-continue") && req_len != BodyLen::Empty;
            if expect {
                up.side.flush().await.map_err(RelayError::Dest)?;
                return Ok(true);
            }
            forward_body(
                &mut self.client,
                &mut up.side,
                req_len,
                &mut req_rec,
                t.response,
            )
            .await?;
            Ok(false)
        }
        .await;
        let mut body_pending = match sent {
            Ok(pending) => pending,
            Err(e) => {
                set_request_body(&mut ex, req_rec.take(), true);
                return self.fail(ex, relay_failure(e, true)).await;
            }
        };
        if !body_pending {
            ex.time.request_end = Some(Timestamp::now());
            set_request_body(&mut ex, req_rec.take(), false);
        }

        // The response (1xx interim responses are forwarded as they come). A body held back
        // for `Expect: 100-continue` goes after a 100, or as soon as the client sends it
        // without waiting any longer.
        let (resp_head, resp_first) = loop {
            if body_pending && !self.client.buffered().is_empty() {
                body_pending = false;
                if let Err(f) = self.send_held_body(req_len, &mut req_rec, &mut ex).await {
                    return self.fail(ex, f).await;
                }
            }
            let Some(up) = self.upstream.as_mut() else {
                return Flow::Close;
            };
            let served = up.served;
            let head_read = tokio::time::timeout(t.response, up.side.read_head(false));
            let read = if body_pending {
                tokio::select! {
                    r = head_read => r,
                    r = self.client.read_more() => match r {
                        Ok(n) if n > 0 => continue,
                        _ => {
                            let msg = "the client went away before sending the request body";
                            let f = Failure::new(ErrorPhase::ClientAbort, None, msg.into());
                            return self.fail(ex, f).await;
                        }
                    },
                }
            } else {
                head_read.await
            };
            let (h, first) = match read {
                Ok(Ok(x)) => x,
                Ok(Err(e)) => {
                    let f = match e {
                        // A kept-alive connection the server closed as the request went
                        // out: the client sees its connection close too, as it would
                        // without the proxy, and retries.
                        HeadError::Closed { .. } => Failure::new(
                            ErrorPhase::UpstreamReset,
                            (served == 0).then_some((502, "Bad Gateway")),
                            format!(
                                "upstream {} closed the connection without a response",
                                self.server_text()
                            ),
                        ),
                        HeadError::Io(e) => Failure::new(
                            ErrorPhase::UpstreamReset,
                            BAD_GATEWAY,
                            format!("upstream {} connection failed: {e}", self.server_text()),
                        ),
                        HeadError::Framing(e) => self.invalid_response(e),
                    };
                    return self.fail(ex, f).await;
                }
                Err(_) => {
                    let f = Failure::new(
                        ErrorPhase::UpstreamTimeout,
                        GATEWAY_TIMEOUT,
                        format!(
                            "upstream {} did not answer within {} s",
                            self.server_text(),
                            t.response.as_secs_f64()
                        ),
                    );
                    return self.fail(ex, f).await;
                }
            };
            if (100..200).contains(&h.status()) && h.status() != 101 {
                let interim = async {
                    self.client.send(&h.bytes).await?;
                    self.client.flush().await
                }
                .await;
                if let Err(e) = interim {
                    let f = Failure::new(
                        ErrorPhase::ClientAbort,
                        None,
                        format!("the client went away: {e}"),
                    );
                    return self.fail(ex, f).await;
                }
                if body_pending && h.status() == 100 {
                    body_pending = false;
                    if let Err(f) = self.send_held_body(req_len, &mut req_rec, &mut ex).await {
                        return self.fail(ex, f).await;
                    }
                }
                continue;
            }
            break (h, first);
        };
        ex.time.response_start = Some(resp_first);
        if ex.time.request_end.is_none() {
            ex.time.request_end = Some(resp_first);
        }
        let resp_len = match resp_head.response_body(head.method()) {
            Ok(l) => l,
            Err(e) => {
                let f = self.invalid_response(e);
                return self.fail(ex, f).await;
            }
        };
        if capture {
            ex.response = Some(capture_response(&resp_head));
        }

        // The response body.
        let Some(up) = self.upstream.as_mut() else {
            return Flow::Close;
        };
        let mut resp_rec = capture.then(|| recorder_for(resp_len, self.shared.max_body));
        let relayed = async {
            self.client
                .send(&resp_head.bytes)
                .await
                .map_err(RelayError::Dest)?;
            forward_body(
                &mut up.side,
                &mut self.client,
                resp_len,
                &mut resp_rec,
                t.response,
            )
            .await
        }
        .await;
        if let (Some(r), Some(resp)) = (resp_rec, ex.response.as_mut()) {
            resp.body = r.finish();
            resp.body_truncated = relayed.is_err();
        }
        if let Err(e) = relayed {
            return self.fail(ex, relay_failure(e, false)).await;
        }
        ex.time.end = Some(Timestamp::now());
        tracing::debug!(
            conn = self.conn,
            id,
            method = head.method(),
            status = resp_head.status(),
            "exchange"
        );
        if let Some(up) = self.upstream.as_mut() {
            up.served += 1;
        }
        let keep = !body_pending
            && head.keep_alive()
            && resp_head.keep_alive()
            && resp_len != BodyLen::UntilClose
            && resp_head.status() != 101;
        if let (Some(request), Some(response)) = (ex.request.take(), ex.response.take()) {
            let record = Record::Exchange(Exchange {
                id,
                conn: self.conn,
                client: Some(self.peer.to_string()),
                server: self.server.clone(),
                scheme: self.scheme.to_owned(),
                tls: self.client_tls.clone(),
                upstream_tls: self.upstream_tls.clone(),
                time: ex.time,
                request,
                response,
            });
            self.shared.recorder.record(record).await;
        }
        if keep { Flow::Continue } else { Flow::Close }
    }

    /// Forwards a request body held back for `Expect: 100-continue`.
    async fn send_held_body(
        &mut self,
        len: BodyLen,
        rec: &mut Option<BodyRecorder>,
        ex: &mut Ongoing,
    ) -> Result<(), Failure> {
        let Some(up) = self.upstream.as_mut() else {
            return Err(Failure::new(
                ErrorPhase::Other,
                BAD_GATEWAY,
                "no upstream connection".into(),
            ));
        };
        let limit = self.shared.timeouts.response;
        let r = forward_body(&mut self.client, &mut up.side, len, rec, limit).await;
        ex.time.request_end = Some(Timestamp::now());
        set_request_body(ex, rec.take(), r.is_err());
        r.map_err(|e| relay_failure(e, true))
    }

    /// The upstream target of a request, the head to send there when it is not the head
    /// as received (absolute-form made origin-form), and the request's full URL.
    fn route_request(&self, head: &Head) -> Result<(Target, Option<Vec<u8>>, String), Failure> {
        match &self.route {
            Route::Fixed(target) => {
                let host = head
                    .value("Host")
                    .unwrap_or_else(|| http1::join_authority(&target.host, target.port));
                let url = if http1::absolute_target(head.target()).is_some() {
                    head.target().to_owned()
                } else {
                    format!("{}://{host}{}", self.scheme, head.target())
                };
                Ok((target.clone(), None, url))
            }
            Route::Absolute => {
                let Some(abs) = http1::absolute_target(head.target()) else {
                    return Err(Failure::new(
                        ErrorPhase::Other,
                        Some((400, "Bad Request")),
                        "not a proxy request: use an absolute-form http:// target or CONNECT"
                            .into(),
                    ));
                };
                if abs.scheme != "http" {
                    return Err(Failure::new(
                        ErrorPhase::Other,
                        Some((400, "Bad Request")),
                        format!("{}:// through a proxy needs CONNECT", abs.scheme),
                    ));
                }
                if !self.shared.allowed(&abs.host) {
                    return Err(not_allowed(&abs.host));
                }
                let forward = origin_form_head(head, &abs.origin);
                let target = Target {
                    host: abs.host,
                    port: abs.port,
                    tls_name: None,
                };
                Ok((target, Some(forward), head.target().to_owned()))
            }
        }
    }

    /// Connects to `target` unless the current upstream connection goes there.
    async fn ensure_upstream(&mut self, target: &Target) -> Result<(), Failure> {
        if self.upstream.as_ref().is_some_and(|u| &u.target == target) {
            return Ok(());
        }
        self.upstream = None;
        let tcp = self.connect_tcp(&target.host, target.port).await?;
        let io: Box<dyn Io> = match &target.tls_name {
            None => {
                self.upstream_tls = None;
                Box::new(tcp)
            }
            Some(name) => {
                let (stream, _) = self.connect_tls(name, tcp).await?;
                Box::new(stream)
            }
        };
        self.upstream = Some(Upstream {
            side: Side::new(io),
            target: target.clone(),
            served: 0,
        });
        Ok(())
    }

    /// Resolves and connects, with TCP_NODELAY; remembers the server address.
    async fn connect_tcp(&mut self, host: &str, port: u16) -> Result<TcpStream, Failure> {
        let limit = self.shared.timeouts.connect;
        let authority = http1::join_authority(host, port);
        let attempt = async {
            let addrs = tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| (BAD_GATEWAY, format!("cannot resolve {host}: {e}")))?;
            let mut last = format!("{host} has no address");
            for addr in addrs {
                if self.shared.is_own(addr) {
                    return Err((
                        Some((508, "Loop Detected")),
                        format!("{authority} ({addr}) is this proxy: the request would loop"),
                    ));
                }
                match TcpStream::connect(addr).await {
                    Ok(s) => return Ok((s, addr)),
                    Err(e) => last = format!("cannot connect to {authority} ({addr}): {e}"),
                }
            }
            Err((BAD_GATEWAY, last))
        };
        match tokio::time::timeout(limit, attempt).await {
            Ok(Ok((s, addr))) => {
                let _ = s.set_nodelay(true);
                self.server = Some(addr.to_string());
                Ok(s)
            }
            Ok(Err((answer, msg))) => Err(Failure::new(ErrorPhase::UpstreamConnect, answer, msg)),
            Err(_) => Err(Failure::new(
                ErrorPhase::UpstreamTimeout,
                GATEWAY_TIMEOUT,
                format!(
                    "connecting to {authority} took longer than {} s",
                    limit.as_secs_f64()
                ),
            )),
        }
    }

    /// The TLS handshake with the upstream, verified against `name`; returns the stream
    /// and the names in the upstream certificate.
    async fn connect_tls(
        &mut self,
        name: &str,
        tcp: TcpStream,
    ) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, Vec<String>), Failure> {
        let limit = self.shared.timeouts.connect;
        let server_name = tls::server_name(name)
            .map_err(|e| Failure::new(ErrorPhase::UpstreamTls, BAD_GATEWAY, e.to_string()))?;
        let sni = matches!(server_name, rustls::pki_types::ServerName::DnsName(_)).then_some(name);
        match tokio::time::timeout(limit, self.shared.upstream_tls.connect(server_name, tcp)).await
        {
            Ok(Ok(stream)) => {
                let conn = stream.get_ref().1;
                self.upstream_tls = Some(tls::info(conn, sni));
                let names = conn
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(tls::san_names)
                    .unwrap_or_default();
                Ok((stream, names))
            }
            Ok(Err(e)) => Err(Failure::new(
                ErrorPhase::UpstreamTls,
                BAD_GATEWAY,
                format!("TLS handshake with upstream {name} failed: {e}"),
            )),
            Err(_) => Err(Failure::new(
                ErrorPhase::UpstreamTimeout,
                GATEWAY_TIMEOUT,
                format!(
                    "TLS handshake with upstream {name} took longer than {} s",
                    limit.as_secs_f64()
                ),
            )),
        }
    }

    /// Handles `CONNECT host:port`: refuse, pass through, or intercept.
    async fn connect(&mut self, head: Head) {
        let Some((host, port)) = http1::split_authority(head.target(), 443) else {
            self.refuse(&head, 400, "Bad Request", "CONNECT needs host:port")
                .await;
            return;
        };
        if !self.shared.allowed(&host) {
            let f = not_allowed(&host);
            self.refuse(&head, 403, "Forbidden", &f.message).await;
            return;
        }
        let tcp = match self.connect_tcp(&host, port).await {
            Ok(s) => s,
            Err(f) => {
                let mut ex = self.ongoing();
                ex.request = self
                    .recording()
                    .then(|| capture_request(&head, head.target(), captures::Body::empty()));
                let _ = self.fail(ex, f).await;
                return;
            }
        };
        if self
            .answer_raw(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        let client = std::mem::replace(&mut self.client, Side::new(Box::new(tokio::io::empty())));
        let (io, rest) = client.into_parts();
        let io: Box<dyn Io> = if rest.is_empty() {
            io
        } else {
            Box::new(Rewind::new(rest, io))
        };

        if self.shared.passthrough(&host) {
            self.mode = ConnectionMode::Passthrough;
            let mut io = io;
            let mut tcp = tcp;
            let mut stopping = self.shared.stopping.clone();
            tokio::select! {
                r = tokio::io::copy_bidirectional(&mut io, &mut tcp) => {
                    if let Err(e) = r {
                        tracing::debug!(conn = self.conn, error = %e, "passthrough tunnel ended");
                    }
                }
                _ = stopping.wait_for(|stop| *stop) => {}
            }
            return;
        }

        // TLS or not? Look at the first byte without consuming it.
        let mut side = Side::new(io);
        let first = tokio::time::timeout(self.shared.timeouts.header, side.read_more()).await;
        if !matches!(first, Ok(Ok(n)) if n > 0) {
            return;
        }
        let is_tls = side.buffered().first() == Some(&0x16);
        if !is_tls {
            // Plain HTTP inside the tunnel: forwarded to host:port as is.
            let target = Target {
                host,
                port,
                tls_name: None,
            };
            self.client = side;
            self.route = Route::Fixed(target.clone());
            self.upstream = Some(Upstream {
                side: Side::new(Box::new(tcp)),
                target,
                served: 0,
            });
            if let Some(h) = self.run().await {
                self.refuse(&h, 400, "Bad Request", "CONNECT inside a tunnel")
                    .await;
            }
            return;
        }
        let (io, rest) = side.into_parts();
        let io: Box<dyn Io> = Box::new(Rewind::new(rest, io));
        self.scheme = "https";
        self.mode = ConnectionMode::Intercept;
        let Some((start, sni)) = self.start_tls(io).await else {
            return;
        };
        let name = sni.clone().unwrap_or_else(|| host.clone());
        let target = Target {
            host: host.clone(),
            port,
            tls_name: Some(name.clone()),
        };
        let upstream_names = match self.connect_tls(&name, tcp).await {
            Ok((stream, names)) => {
                self.upstream = Some(Upstream {
                    side: Side::new(Box::new(stream)),
                    target: target.clone(),
                    served: 0,
                });
                names
            }
            Err(f) => {
                self.upstream_failure = Some(f);
                Vec::new()
            }
        };
        if !self
            .finish_tls(start, &name, sni.as_deref(), &upstream_names)
            .await
        {
            return;
        }
        self.route = Route::Fixed(target);
        if let Some(h) = self.run().await {
            self.refuse(&h, 400, "Bad Request", "CONNECT inside a tunnel")
                .await;
        }
    }

    /// Reads the client's ClientHello on `io`; `None` when it failed (recorded).
    async fn start_tls(
        &mut self,
        io: Box<dyn Io>,
    ) -> Option<(tokio_rustls::StartHandshake<Box<dyn Io>>, Option<String>)> {
        let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
        match tokio::time::timeout(self.shared.timeouts.header, acceptor).await {
            Ok(Ok(start)) => {
                let sni = start.client_hello().server_name().map(str::to_owned);
                Some((start, sni))
            }
            Ok(Err(e)) => {
                self.record_failure_alone(ErrorPhase::Other, &format!("client TLS: {e}"))
                    .await;
                None
            }
            Err(_) => {
                self.record_failure_alone(
                    ErrorPhase::HeaderTimeout,
                    "the client sent no TLS ClientHello in time",
                )
                .await;
                None
            }
        }
    }

    /// Completes the client's TLS handshake with a leaf for `name` (plus `extra` names);
    /// false when it failed (recorded).
    async fn finish_tls(
        &mut self,
        start: tokio_rustls::StartHandshake<Box<dyn Io>>,
        name: &str,
        sni: Option<&str>,
        extra: &[String],
    ) -> bool {
        let config = match self.shared.leaves.config_for(name, extra) {
            Ok(c) => c,
            Err(e) => {
                let msg = format!("cannot mint a leaf for {name}: {e}");
                self.record_failure_alone(ErrorPhase::Other, &msg).await;
                return false;
            }
        };
        match tokio::time::timeout(self.shared.timeouts.header, start.into_stream(config)).await {
            Ok(Ok(stream)) => {
                self.client_tls = Some(tls::info(stream.get_ref().1, sni));
                self.client = Side::new(Box::new(stream));
                true
            }
            Ok(Err(e)) => {
                let msg = format!(
                    "TLS handshake with the client failed (does it trust the wutap CA?): {e}"
                );
                self.record_failure_alone(ErrorPhase::Other, &msg).await;
                false
            }
            Err(_) => {
                let msg = "the client TLS handshake timed out";
                self.record_failure_alone(ErrorPhase::HeaderTimeout, msg)
                    .await;
                false
            }
        }
    }

    fn ongoing(&self) -> Ongoing {
        let id = self.shared.next_exchange.fetch_add(1, Ordering::Relaxed) + 1;
        Ongoing {
            id,
            time: Timing::starting(Timestamp::now()),
            request: None,
            response: None,
        }
    }

    fn invalid_response(&self, e: http1::FramingError) -> Failure {
        let server = self.server_text();
        let message = format!("upstream {server} sent an invalid response: {e}");
        Failure::new(ErrorPhase::Other, BAD_GATEWAY, message)
    }

    fn server_text(&self) -> String {
        self.server
            .clone()
            .unwrap_or_else(|| "(not connected)".into())
    }

    /// Answers `head` with an error of the proxy's own and records it.
    async fn refuse(&mut self, head: &Head, code: u16, reason: &'static str, message: &str) {
        let mut ex = self.ongoing();
        ex.request = self
            .recording()
            .then(|| capture_request(head, head.target(), captures::Body::empty()));
        let f = Failure::new(ErrorPhase::Other, Some((code, reason)), message.to_owned());
        let _ = self.fail(ex, f).await;
    }

    /// Ends an exchange that failed: answers the client if it can still be answered,
    /// records an error record, closes.
    async fn fail(&mut self, ex: Ongoing, f: Failure) -> Flow {
        tracing::info!(conn = self.conn, id = ex.id, phase = ?f.phase, "{}", f.message);
        if let Some((code, reason)) = f.answer {
            let _ = self
                .answer(code, reason, &format!("wutap proxy: {}\n", f.message))
                .await;
        }
        if self.recording() {
            let record = Record::Error(ErrorRecord {
                id: ex.id,
                conn: self.conn,
                client: Some(self.peer.to_string()),
                server: self.server.clone(),
                scheme: self.scheme.to_owned(),
                tls: self.client_tls.clone(),
                upstream_tls: self.upstream_tls.clone(),
                time: ex.time,
                phase: f.phase,
                message: f.message,
                request: ex.request,
                response: ex.response,
            });
            self.shared.recorder.record(record).await;
        }
        Flow::Close
    }

    /// Records an error with no request (the connection failed before one).
    async fn record_failure_alone(&mut self, phase: ErrorPhase, message: &str) {
        let ex = self.ongoing();
        let _ = self
            .fail(ex, Failure::new(phase, None, message.to_owned()))
            .await;
    }

    async fn answer(&mut self, code: u16, reason: &str, body: &str) -> std::io::Result<()> {
        self.answer_raw(&http1::simple_response(code, reason, body))
            .await
    }

    async fn answer_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.client.send(bytes).await?;
        self.client.flush().await
    }

    /// Closes the client side and writes the connection record.
    async fn finish(mut self) {
        use tokio::io::AsyncWriteExt as _;
        let _ = self.client.flush().await;
        let _ = self.client.io.shutdown().await;
        if self.recording() {
            let record = Record::Connection(ConnectionRecord {
                conn: self.conn,
                client: Some(self.peer.to_string()),
                server: self.server.clone(),
                tls: self.client_tls.clone(),
                upstream_tls: self.upstream_tls.clone(),
                opened: self.opened,
                closed: Some(Timestamp::now()),
                mode: self.mode,
                bytes_up: self.counters.up.load(Ordering::Relaxed),
                bytes_down: self.counters.down.load(Ordering::Relaxed),
            });
            self.shared.recorder.record(record).await;
        }
    }
}

/// Relays one body (see [`crate::io::relay_body`]) and flushes the receiving side.
async fn forward_body(
    src: &mut Side,
    dst: &mut Side,
    len: BodyLen,
    rec: &mut Option<BodyRecorder>,
    limit: std::time::Duration,
) -> Result<(), RelayError> {
    crate::io::relay_body(src, dst, len, rec, limit).await?;
    dst.flush().await.map_err(RelayError::Dest)
}

/// A body recorder for a body of length `len`.
fn recorder_for(len: BodyLen, max_body: u64) -> BodyRecorder {
    match len {
        BodyLen::Length(n) => BodyRecorder::expecting(max_body, n),
        _ => BodyRecorder::new(max_body),
    }
}

fn set_request_body(ex: &mut Ongoing, rec: Option<BodyRecorder>, truncated: bool) {
    if let (Some(r), Some(req)) = (rec, ex.request.as_mut()) {
        req.body = r.finish();
        req.body_truncated = truncated;
    }
}

/// The failure of a body relay: `request` tells which way the body went.
fn relay_failure(e: RelayError, request: bool) -> Failure {
    match (e, request) {
        (RelayError::Source(e), true) => Failure::new(
            ErrorPhase::ClientAbort,
            None,
            format!("the client went away while sending the request body: {e}"),
        ),
        (RelayError::Dest(e), true) => Failure::new(
            ErrorPhase::UpstreamReset,
            BAD_GATEWAY,
            format!("the upstream connection failed while sending the request: {e}"),
        ),
        (RelayError::Source(e), false) => Failure::new(
            ErrorPhase::UpstreamReset,
            None,
            format!("the upstream connection failed in the middle of the response: {e}"),
        ),
        (RelayError::Dest(e), false) => Failure::new(
            ErrorPhase::ClientAbort,
            None,
            format!("the client went away during the response: {e}"),
        ),
    }
}

fn not_allowed(host: &str) -> Failure {
    Failure::new(
        ErrorPhase::Other,
        Some((403, "Forbidden")),
        format!("upstream host {host} is not allowed (--allow-host)"),
    )
}

/// The head with its absolute-form target replaced by `origin` (the rest byte for byte).
fn origin_form_head(head: &Head, origin: &str) -> Vec<u8> {
    let line_end = head
        .bytes
        .iter()
        .position(|&b| b == b'\n')
        .map_or(head.bytes.len(), |i| i + 1);
    let mut out = Vec::with_capacity(head.bytes.len());
    out.extend_from_slice(head.method().as_bytes());
    out.push(b' ');
    out.extend_from_slice(origin.as_bytes());
    out.extend_from_slice(format!(" HTTP/1.{}\r\n", head.minor).as_bytes());
    out.extend_from_slice(&head.bytes[line_end..]);
    out
}

fn capture_request(head: &Head, url: &str, body: captures::Body) -> Request {
    Request {
        method: head.method().to_owned(),
        target: head.target().to_owned(),
        url: url.to_owned(),
        version: head.version(),
        headers: head.capture_headers(),
        body_truncated: false,
        body,
    }
}

fn capture_response(head: &Head) -> Response {
    Response {
        status: head.status(),
        reason: head.reason().to_owned(),
        version: head.version(),
        headers: head.capture_headers(),
        body_truncated: false,
        body: captures::Body::empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_form_becomes_origin_form_and_the_rest_is_untouched() {
        let head = Head::parse_request(
            b"GET http://wsus:8530/Content/a.cab HTTP/1.1\r\nhOST: wsus:8530\r\nX: 1\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            origin_form_head(&head, "/Content/a.cab"),
            b"GET /Content/a.cab HTTP/1.1\r\nhOST: wsus:8530\r\nX: 1\r\n\r\n"
        );
    }
}
