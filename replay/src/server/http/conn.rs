//! Per-connection state shared by the socket wrapper, the request handler and the
//! connection task: activity times for the idle and header timeouts, and the armed
//! "close mid-response" fault.
//!
//! The timeouts are kept here rather than in hyper because hyper's header read timer also
//! runs while a keep-alive connection waits for its next request, which would make the idle
//! and header timeouts one and the same.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::HttpServerConfig;

/// State shared by one connection's parts.
#[derive(Debug)]
pub(super) struct ConnShared {
    inner: Mutex<Clock>,
}

#[derive(Debug)]
struct Clock {
    /// Requests being handled (from the head parsed to the response body handed over).
    busy: u32,
    /// Last byte read or written.
    last_activity: Instant,
    /// When the first byte of a request head arrived while no request was being handled.
    head_started: Option<Instant>,
    /// An armed close-mid-response fault.
    cut: Option<Cut>,
}

/// Why the connection task closes an inactive connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expiry {
    /// No request for the idle keep-alive timeout.
    Idle,
    /// A request head started but did not complete in time.
    HeaderRead,
}

impl ConnShared {
    pub(super) fn new() -> Self {
        ConnShared {
            inner: Mutex::new(Clock {
                busy: 0,
                last_activity: Instant::now(),
                head_started: None,
                cut: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Clock> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn on_read(&self) {
        let now = Instant::now();
        let mut c = self.lock();
        c.last_activity = now;
        if c.busy == 0 && c.head_started.is_none() {
            c.head_started = Some(now);
        }
    }

    fn on_write(&self) {
        self.lock().last_activity = Instant::now();
    }

    /// Marks a request as being handled until the returned guard drops.
    pub(super) fn begin_request(self: &Arc<Self>) -> BusyGuard {
        let mut c = self.lock();
        c.busy += 1;
        c.head_started = None;
        BusyGuard {
            shared: Arc::clone(self),
        }
    }

    /// Arms the close-mid-response fault: the next response head goes out whole, then
    /// `body_bytes` bytes of its body, then the connection fails.
    pub(super) fn arm_cut(&self, body_bytes: usize) {
        self.lock().cut = Some(Cut {
            matched: 0,
            head_done: false,
            budget: body_bytes,
        });
    }

    /// When the connection task should look at the clock next.
    pub(super) fn next_check(&self, cfg: &HttpServerConfig) -> Instant {
        let c = self.lock();
        if c.busy > 0 {
            // Looked at again later; a request in progress is bounded by its own timeouts.
            Instant::now() + cfg.idle_timeout
        } else if let Some(h) = c.head_started {
            h + cfg.header_read_timeout
        } else {
            c.last_activity + cfg.idle_timeout
        }
    }

    /// Whether the connection has been inactive too long, and why.
    pub(super) fn expired(&self, cfg: &HttpServerConfig) -> Option<Expiry> {
        let c = self.lock();
        let now = Instant::now();
        if c.busy > 0 {
            None
        } else if let Some(h) = c.head_started {
            (now >= h + cfg.header_read_timeout).then_some(Expiry::HeaderRead)
        } else {
            (now >= c.last_activity + cfg.idle_timeout).then_some(Expiry::Idle)
        }
    }
}

/// Keeps a request counted as in progress; dropped when the response body is handed over.
#[derive(Debug)]
pub(super) struct BusyGuard {
    shared: Arc<ConnShared>,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let mut c = self.shared.lock();
        c.busy = c.busy.saturating_sub(1);
        c.last_activity = Instant::now();
    }
}

/// The armed close-mid-response fault: counts the response head, then the body bytes let
/// through.
#[derive(Clone, Copy, Debug)]
struct Cut {
    /// Bytes of `\r\n\r\n` matched so far.
    matched: u8,
    /// The head has been written.
    head_done: bool,
    /// Body bytes still allowed.
    budget: usize,
}

const HEAD_END: &[u8; 4] = b"\r\n\r\n";

impl Cut {
    /// How many leading bytes of `buf` may be written now (0: the connection must fail).
    fn allowance(&self, buf: &[u8]) -> usize {
        if self.head_done {
            return buf.len().min(self.budget);
        }
        let mut matched = self.matched as usize;
        for (i, &b) in buf.iter().enumerate() {
            matched = next_match(matched, b);
            if matched == HEAD_END.len() {
                let head = i + 1;
                return head + (buf.len() - head).min(self.budget);
            }
        }
        buf.len()
    }

    /// Accounts for bytes actually written.
    fn consume(&mut self, written: &[u8]) {
        let mut rest = written;
        while !self.head_done {
            let Some((&b, tail)) = rest.split_first() else {
                return;
            };
            rest = tail;
            self.matched = next_match(self.matched as usize, b) as u8;
            if self.matched as usize == HEAD_END.len() {
                self.head_done = true;
            }
        }
        self.budget = self.budget.saturating_sub(rest.len());
    }
}

/// The KMP-style step of matching `\r\n\r\n` (its only self-overlap is `\r\n`).
fn next_match(matched: usize, b: u8) -> usize {
    if b == HEAD_END[matched] {
        matched + 1
    } else if b == b'\r' {
        1
    } else {
        0
    }
}

/// The connection's byte stream (TCP or TLS), recording activity and carrying out an armed
/// close-mid-response fault.
#[derive(Debug)]
pub(super) struct TrackedIo<I> {
    inner: I,
    shared: Arc<ConnShared>,
}

impl<I> TrackedIo<I> {
    pub(super) fn new(inner: I, shared: Arc<ConnShared>) -> Self {
        TrackedIo { inner, shared }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for TrackedIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.shared.on_read();
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for TrackedIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let allowance = self.shared.lock().cut.map(|c| c.allowance(buf));
        let this = &mut *self;
        let n = match allowance {
            None => ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?,
            Some(0) if !buf.is_empty() => {
                // Everything allowed is out: push it to the peer, then fail the connection.
                ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
                tracing::debug!("injected fault: closing the connection mid-response");
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "injected fault: connection closed mid-response",
                )));
            }
            Some(k) => {
                let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..k]))?;
                if let Some(cut) = this.shared.lock().cut.as_mut() {
                    cut.consume(&buf[..n]);
                }
                n
            }
        };
        if n > 0 {
            this.shared.on_write();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.shared.lock().cut.is_some() {
            // The fault path counts bytes one buffer at a time.
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &**b);
            return self.poll_write(cx, first);
        }
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
        if n > 0 {
            this.shared.on_write();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body: the bytes, and the guard that counts the request as in progress until
/// hyper has taken them.
#[derive(Debug)]
pub(super) struct ReplyBody {
    inner: Full<Bytes>,
    _guard: Option<BusyGuard>,
}

impl ReplyBody {
    pub(super) fn new(bytes: Bytes, guard: Option<BusyGuard>) -> Self {
        ReplyBody {
            inner: Full::new(bytes),
            _guard: guard,
        }
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cut: &mut Cut, stream: &[u8], chunk: usize) -> usize {
        let mut sent = 0;
        while sent < stream.len() {
            let end = (sent + chunk).min(stream.len());
            let k = cut.allowance(&stream[sent..end]);
            if k == 0 {
                break;
            }
            cut.consume(&stream[sent..sent + k]);
            sent += k;
        }
        sent
    }

    #[test]
    fn cut_lets_the_head_and_the_budget_through_in_any_chunking() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        let mut stream = head.to_vec();
        stream.extend_from_slice(b"0123456789");
        for chunk in 1..stream.len() + 1 {
            let mut cut = Cut {
                matched: 0,
                head_done: false,
                budget: 5,
            };
            assert_eq!(
                run(&mut cut, &stream, chunk),
                head.len() + 5,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn header_end_matching_handles_overlaps() {
        let mut m = 0;
        for &b in b"\r\r\n\r\r\n\r\n" {
            m = next_match(m, b);
        }
        assert_eq!(m, 4);
    }
}
