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
use captures::{
    Body, CaptureWriter, Exchange, Headers, Record, Request as CapRequest, Response as CapResponse,
    Timestamp, Timing, WriterOptions,
};
use replay::client::{ClientState, Identity, Step, Summary, Sync, SyncOptions};
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use wusp::http::{ContentEncoding, decode_content};
use wusp::{Envelope, Limits};

use crate::Outcome;
use crate::cli::ReplayArgs;

/// Time allowed for one request (connect, send, full response).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait honored from the machine's backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(3);
/// Largest response body accepted.
const MAX_BODY: usize = 256 << 20;

/// Runs `wutap replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<Outcome> {
    if let (Some(seed), true) = (&args.capture_seed, args.fresh) {
        eprintln!(
            "wutap: replay: note: {} is not used with --fresh (a new client)",
            seed.display()
        );
    }
    let server = ServerUrl::parse(&args.server)?;
    if args.verify {
        let seed = args
            .capture_seed
            .as_deref()
            .context("--verify needs a CAPTURE")?;
        let verifier = crate::replay_seed::verifier(seed, args.client_id.as_deref())?;
        return verify(verifier, &server, args.capture.as_deref());
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
    let (sync, end, stats) = runtime.block_on(drive(state, &server, capture.as_mut()));
    if let Some(w) = capture {
        w.finish().context("cannot finish the capture")?;
    }
    let summary = sync.summary().clone();
    if let Some(path) = &args.state {
        sync.into_state()
            .save(path)
            .context("cannot save the client state")?;
    }
    match end? {
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

/// Bytes and exchanges of a run.
#[derive(Debug, Default)]
struct Stats {
    exchanges: u64,
    bytes_sent: u64,
    bytes_received: u64,
}

fn print_summary(s: &Summary, stats: &Stats, elapsed: Duration, ok: bool) {
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

/// `http://host[:port][/prefix]`.
#[derive(Debug, Clone)]
struct ServerUrl {
    /// `host:port` to connect to.
    authority: String,
    /// The Host header value.
    host: String,
    /// Path prefix (no trailing slash).
    prefix: String,
}

impl ServerUrl {
    fn parse(url: &str) -> anyhow::Result<ServerUrl> {
        if url.starts_with("https://") {
            bail!("--server {url}: https is not supported by replay yet; use an http:// URL");
        }
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("--server {url:?} is not an http:// URL");
        };
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if hostport.is_empty() {
            bail!("--server {url:?} has no host");
        }
        let has_port = match hostport.rfind(':') {
            Some(i) => !hostport[i..].contains(']'),
            None => false,
        };
        let authority = if has_port {
            hostport.to_string()
        } else {
            format!("{hostport}:80")
        };
        Ok(ServerUrl {
            authority,
            host: hostport.to_string(),
            prefix: path.to_string(),
        })
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    id: u64,
    stream: BufReader<TcpStream>,
    local: Option<String>,
    peer: Option<String>,
}

/// A transport failure; `refused` before any answer stops the run (nobody listens).
#[derive(Debug)]
struct TransportError {
    message: String,
    refused: bool,
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

struct Http<'a> {
    server: &'a ServerUrl,
    conn: Option<Connection>,
    next_conn: u64,
    next_exchange: u64,
}

/// What came back for one request.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Status line and header bytes.
    head_len: usize,
    close: bool,
}

impl Http<'_> {
    async fn connect(&mut self) -> Result<Connection, TransportError> {
        let s = TcpStream::connect(&self.server.authority)
            .await
            .map_err(|e| TransportError {
                refused: e.kind() == std::io::ErrorKind::ConnectionRefused,
                message: format!("cannot connect to {}: {e}", self.server.authority),
            })?;
        let _ = s.set_nodelay(true);
        self.next_conn += 1;
        Ok(Connection {
            id: self.next_conn,
            local: s.local_addr().ok().map(|a| a.to_string()),
            peer: s.peer_addr().ok().map(|a| a.to_string()),
            stream: BufReader::new(s),
        })
    }

    /// Posts one SOAP request and records it; returns (status, decoded body).
    async fn post(
        &mut self,
        path: &str,
        header_lines: Vec<(String, String)>,
        body: &[u8],
        stats: &mut Stats,
        capture: Option<&mut CaptureWriter>,
    ) -> Result<(u16, Vec<u8>), TransportError> {
        let target = format!("{}{path}", self.server.prefix);
        let mut headers = Headers::new();
        for (k, v) in header_lines {
            headers.push(k, v);
        }
        let mut head = format!("POST {target} HTTP/1.1\r\n");
        for h in headers.iter() {
            head.push_str(&format!("{}: {}\r\n", h.name(), h.value()));
        }
        head.push_str("\r\n");

        // A kept-alive connection the server closed meanwhile is retried once on a new one.
        let reused = self.conn.is_some();
        let start = Timestamp::now();
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect().await?,
        };
        let mut result = exchange(&mut conn, head.as_bytes(), body).await;
        if reused && matches!(&result, Err((_, false))) {
            conn = self.connect().await?;
            result = exchange(&mut conn, head.as_bytes(), body).await;
        }
        let (answer, times) = match result {
            Ok(a) => a,
            Err((message, _)) => {
                return Err(TransportError {
                    message,
                    refused: false,
                });
            }
        };
        stats.exchanges += 1;
        stats.bytes_sent += (head.len() + body.len()) as u64;
        stats.bytes_received += (answer.head_len + answer.body.len()) as u64;
        self.next_exchange += 1;
        if let Some(w) = capture {
            let mut rh = Headers::new();
            for (k, v) in &answer.headers {
                rh.push(k.clone(), v.clone());
            }
            let ex = Exchange {
                id: self.next_exchange,
                conn: conn.id,
                client: conn.local.clone(),
                server: conn.peer.clone(),
                scheme: "http".into(),
                tls: None,
                upstream_tls: None,
                time: Timing {
                    start,
                    request_end: Some(times.0),
                    response_start: Some(times.1),
                    end: Some(times.2),
                },
                request: CapRequest {
                    method: "POST".into(),
                    target: target.clone(),
                    url: format!("http://{}{target}", self.server.host),
                    version: "HTTP/1.1".into(),
                    headers,
                    body_truncated: false,
                    body: Body::from_bytes(body.to_vec()),
                },
                response: CapResponse {
                    status: answer.status,
                    reason: times.3.clone(),
                    version: "HTTP/1.1".into(),
                    headers: rh,
                    body_truncated: false,
                    body: Body::from_bytes(answer.body.clone()),
                },
            };
            if let Err(e) = w.write(&Record::Exchange(ex)) {
                tracing::warn!(%e, "cannot write the capture record");
            }
        }
        if !answer.close {
            self.conn = Some(conn);
        }
        let encoding = ContentEncoding::from_header(
            answer
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("Content-Encoding"))
                .map(|(_, v)| v.as_str()),
        );
        let limits = Limits {
            max_body: MAX_BODY,
            ..Limits::default()
        };
        let decoded =
            decode_content(&encoding, &answer.body, &limits).map_err(|e| TransportError {
                message: format!("HTTP {}: body does not decode: {e}", answer.status),
                refused: false,
            })?;
        Ok((answer.status, decoded.into_owned()))
    }
}

/// Request end, response start, end, reason phrase.
type Times = (Timestamp, Timestamp, Timestamp, String);

/// One request/response on a connection; the error's flag is true when any response byte
/// arrived (so the request must not be silently resent).
async fn exchange(
    conn: &mut Connection,
    head: &[u8],
    body: &[u8],
) -> Result<(Answer, Times), (String, bool)> {
    match tokio::time::timeout(REQUEST_TIMEOUT, exchange_inner(conn, head, body)).await {
        Ok(r) => r,
        Err(_) => Err((
            format!("no complete answer within {} s", REQUEST_TIMEOUT.as_secs()),
            true,
        )),
    }
}

async fn exchange_inner(
    conn: &mut Connection,
    head: &[u8],
    body: &[u8],
) -> Result<(Answer, Times), (String, bool)> {
    let s = &mut conn.stream;
    let io = |e: std::io::Error| (format!("connection failed: {e}"), false);
    s.get_mut().write_all(head).await.map_err(io)?;
    s.get_mut().write_all(body).await.map_err(io)?;
    s.get_mut().flush().await.map_err(io)?;
    let request_end = Timestamp::now();
    let mut line = String::new();
    let n = s.read_line(&mut line).await.map_err(io)?;
    if n == 0 {
        return Err((
            "the server closed the connection without answering".into(),
            false,
        ));
    }
    let response_start = Timestamp::now();
    let mut head_len = n;
    let bad = |m: String| (m, true);
    let status_line = line.trim_end().to_string();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default().to_string();
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!("not an HTTP/1.x status line: {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad(format!("bad status line: {status_line:?}")))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        let n = s
            .read_line(&mut line)
            .await
            .map_err(|e| bad(e.to_string()))?;
        if n == 0 {
            return Err(bad("the server closed the connection in the headers".into()));
        }
        head_len += n;
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        if headers.len() > 200 {
            return Err(bad("too many response headers".into()));
        }
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let close =
        get("Connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) || version == "HTTP/1.0";
    if get("Transfer-Encoding").is_some() {
        return Err(bad(
            "chunked responses are not supported yet (no Content-Length)".into(),
        ));
    }
    let len: usize = match get("Content-Length") {
        Some(v) => v
            .parse()
            .map_err(|_| bad(format!("bad Content-Length {v:?}")))?,
        None if status == 204 || status == 304 => 0,
        None => return Err(bad(format!("HTTP {status} without Content-Length"))),
    };
    if len > MAX_BODY {
        return Err(bad(format!("response body of {len} bytes is too large")));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.map_err(|e| {
        bad(format!(
            "the server closed the connection in the body ({len} bytes announced): {e}"
        ))
    })?;
    let end = Timestamp::now();
    Ok((
        Answer {
            status,
            headers,
            body,
            head_len,
            close,
        },
        (request_end, response_start, end, reason),
    ))
}

/// Runs the machine to completion.
async fn drive(
    state: ClientState,
    server: &ServerUrl,
    mut capture: Option<&mut CaptureWriter>,
) -> (Sync, anyhow::Result<Step>, Stats) {
    let mut stats = Stats::default();
    let mut http = Http {
        server,
        conn: None,
        next_conn: 0,
        next_exchange: 0,
    };
    let mut sync = Sync::new(state, SyncOptions::new(OffsetDateTime::now_utc()));
    let mut answered = false;
    loop {
        sync.set_now(OffsetDateTime::now_utc());
        let (req, op) = match sync.next() {
            Step::Send(req, op) => (req, op),
            end @ (Step::Done(_) | Step::Failed(_)) => return (sync, Ok(end), stats),
        };
        let wait = sync.backoff().min(MAX_BACKOFF);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let body = sync.encode_request(&req);
        let path = sync.path_for(op);
        let header_lines = sync.request_headers(op, body.len(), &server.host);
        match http
            .post(
                &path,
                header_lines,
                body.as_bytes(),
                &mut stats,
                capture.as_deref_mut(),
            )
            .await
        {
            Ok((status, xml)) => {
                answered = true;
                let env = Envelope::decode(&xml);
                sync.receive(status, env);
            }
            Err(e) if e.refused && !answered => {
                let err = anyhow::anyhow!("{e} (is the server running?)");
                return (sync, Err(err), stats);
            }
            Err(e) => {
                tracing::warn!(?op, %e, "transport error");
                sync.receive_error(e);
            }
        }
    }
}

/// `--verify`: the recorded requests sent again in order; prints the differences.
fn verify(
    mut verifier: replay::client::verify::Verifier,
    server: &ServerUrl,
    capture: Option<&Path>,
) -> anyhow::Result<Outcome> {
    let (mut capture, runtime) = capture_and_runtime(capture)?;
    let mut stats = Stats::default();
    let mut http = Http {
        server,
        conn: None,
        next_conn: 0,
        next_exchange: 0,
    };
    let mut differences = Vec::new();
    let mut sent = 0;
    while let Some(req) = verifier.next_request(&server.host) {
        sent += 1;
        let reply = runtime.block_on(http.post(
            &req.path,
            req.headers,
            req.body.as_bytes(),
            &mut stats,
            capture.as_mut(),
        ));
        match reply {
            Ok((status, body)) => differences.extend(verifier.check(status, &body)),
            Err(e) if e.refused && sent == 1 => bail!("{e} (is the server running?)"),
            Err(e) => differences.push(verifier.check_error(&e.message)),
        }
    }
    if let Some(w) = capture {
        w.finish().context("cannot finish the capture")?;
    }
    crate::replay_seed::report(sent, &differences);
    Ok(if differences.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}
