//! Byte plumbing: a buffered side of a connection, message heads, and body relays that
//! copy bytes exactly (framing included) while handing the payload to a recorder.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use captures::{BodyRecorder, Timestamp};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};

use crate::http1::{self, BodyLen, FramingError, Head, MAX_HEAD};

/// A byte stream of either leg (TCP, TLS over TCP, a rewound stream).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The read buffer of one side: big enough for the largest head.
const BUF: usize = MAX_HEAD + 8 * 1024;
/// Output is gathered up to this size before a write (one write for a small message).
const OUT: usize = 64 * 1024;
/// Data at least this large is written as it is, not copied into the gathered output
/// first (what is gathered goes before it): a 204 KB body is read in chunks of this size
/// and more, and the copy was one of the proxy's largest memory moves.
const DIRECT: usize = 16 * 1024;
/// Longest chunk-size or trailer line.
const MAX_LINE: usize = 8 * 1024;

/// Byte counts of a client connection, as seen on its TCP socket.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Bytes received from the client.
    pub(crate) up: AtomicU64,
    /// Bytes sent to the client.
    pub(crate) down: AtomicU64,
}

/// A stream that counts the bytes through it.
pub(crate) struct Counted<S> {
    inner: S,
    counters: Arc<Counters>,
}

impl<S> Counted<S> {
    /// Wraps `inner`, counting into `counters`.
    pub(crate) fn new(inner: S, counters: Arc<Counters>) -> Self {
        Self { inner, counters }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.counters.up.fetch_add(n as u64, Ordering::Relaxed);
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.counters.down.fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A stream that first yields bytes already read from it (after CONNECT).
pub(crate) struct Rewind {
    pre: Vec<u8>,
    pos: usize,
    inner: Box<dyn Io>,
}

impl Rewind {
    /// `pre` is read before `inner`.
    pub(crate) fn new(pre: Vec<u8>, inner: Box<dyn Io>) -> Self {
        Self { pre, pos: 0, inner }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.pre.len() {
            let n = buf.remaining().min(self.pre.len() - self.pos);
            let start = self.pos;
            buf.put_slice(&self.pre[start..start + n]);
            self.pos += n;
            if self.pos == self.pre.len() {
                self.pre = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Why reading a head failed.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The peer closed the connection; `partial` if some of a head had arrived.
    Closed {
        /// Bytes of an incomplete head were received.
        partial: bool,
    },
    /// A read failed.
    Io(io::Error),
    /// The bytes are not an HTTP/1.x head.
    Framing(FramingError),
}

/// Which side of a relay failed.
#[derive(Debug)]
pub(crate) enum RelayError {
    /// Reading from the sender failed (or it closed, or sent bad framing).
    Source(io::Error),
    /// Writing to the receiver failed.
    Dest(io::Error),
}

/// One side of a connection: the stream, unread bytes, and gathered output.
pub(crate) struct Side {
    pub(crate) io: Box<dyn Io>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    out: Vec<u8>,
}

impl Side {
    /// A side over `io`.
    pub(crate) fn new(io: Box<dyn Io>) -> Self {
        Self {
            io,
            buf: vec![0; BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            out: Vec::new(),
        }
    }

    /// Bytes read and not consumed yet.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Takes the stream and its unread bytes.
    pub(crate) fn into_parts(self) -> (Box<dyn Io>, Vec<u8>) {
        let rest = self.buffered().to_vec();
        (self.io, rest)
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream. Cancel-safe.
    pub(crate) async fn read_more(&mut self) -> io::Result<usize> {
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(io::Error::other("read buffer full"));
        }
        let n = self.io.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    async fn read_more_within(&mut self, limit: Duration) -> io::Result<usize> {
        match tokio::time::timeout(limit, self.read_more()).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no data for {} s", limit.as_secs_f64()),
            )),
        }
    }

    /// Reads one head (request or response). Returns it and when its first byte arrived.
    pub(crate) async fn read_head(
        &mut self,
        request: bool,
    ) -> Result<(Head, Timestamp), HeadError> {
        let mut first = (!self.buffered().is_empty()).then(Timestamp::now);
        loop {
            let parsed = if request {
                Head::parse_request(self.buffered())
            } else {
                Head::parse_response(self.buffered())
            };
            match parsed.map_err(HeadError::Framing)? {
                Some(head) => {
                    self.consume(head.bytes.len());
                    return Ok((head, first.unwrap_or_else(Timestamp::now)));
                }
                None => {
                    let partial = !self.buffered().is_empty();
                    match self.read_more().await {
                        Ok(0) => return Err(HeadError::Closed { partial }),
                        Ok(_) => {
                            first.get_or_insert_with(Timestamp::now);
                        }
                        Err(e) => return Err(HeadError::Io(e)),
                    }
                }
            }
        }
    }

    /// Queues `data` for writing (written at once when the queue is full).
    pub(crate) async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if data.len() < DIRECT && self.out.len() + data.len() <= OUT {
            self.out.extend_from_slice(data);
            return Ok(());
        }
        self.write_out().await?;
        if data.len() >= DIRECT {
            self.io.write_all(data).await
        } else {
            self.out.extend_from_slice(data);
            Ok(())
        }
    }

    async fn write_out(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            self.out.clear();
            if self.out.capacity() > OUT {
                self.out.shrink_to(OUT);
            }
        }
        Ok(())
    }

    /// Writes everything queued and flushes the stream.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        self.write_out().await?;
        self.io.flush().await
    }

    /// Reads up to one line (with its LF) from the buffer, reading more as needed.
    async fn line(&mut self, limit: Duration) -> Result<Vec<u8>, io::Error> {
        loop {
            if let Some(i) = self.buffered().iter().position(|&b| b == b'\n') {
                let line = self.buffered()[..=i].to_vec();
                self.consume(i + 1);
                return Ok(line);
            }
            if self.buffered().len() > MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "chunk line too long",
                ));
            }
            if self.read_more_within(limit).await? == 0 {
                return Err(closed());
            }
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-body")
}

fn invalid(e: FramingError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Copies one message body from `src` to `dst` exactly as framed, feeding the payload (chunk
/// framing removed) to `rec`. `limit` bounds the wait for each read.
pub(crate) async fn relay_body(
    src: &mut Side,
    dst: &mut Side,
    len: BodyLen,
    rec: &mut Option<BodyRecorder>,
    limit: Duration,
) -> Result<(), RelayError> {
    match len {
        BodyLen::Empty => Ok(()),
        BodyLen::Length(n) => relay_exact(src, dst, n, rec, limit).await,
        BodyLen::UntilClose => loop {
            if src.buffered().is_empty() {
                match src.read_more_within(limit).await {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(RelayError::Source(e)),
                }
            }
            let n = src.buffered().len();
            pass(src, dst, n, rec).await?;
        },
        BodyLen::Chunked => loop {
            let line = src.line(limit).await.map_err(RelayError::Source)?;
            dst.send(&line).await.map_err(RelayError::Dest)?;
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            let size = http1::chunk_size(text).map_err(|e| RelayError::Source(invalid(e)))?;
            if size == 0 {
                // Trailer fields up to the empty line.
                loop {
                    let t = src.line(limit).await.map_err(RelayError::Source)?;
                    dst.send(&t).await.map_err(RelayError::Dest)?;
                    if t == b"\r\n" || t == b"\n" {
                        return Ok(());
                    }
                }
            }
            relay_exact(src, dst, size, rec, limit).await?;
            let end = src.line(limit).await.map_err(RelayError::Source)?;
            if end != b"\r\n" && end != b"\n" {
                return Err(RelayError::Source(invalid(FramingError::BadChunk)));
            }
            dst.send(&end).await.map_err(RelayError::Dest)?;
        },
    }
}

/// Moves `n` buffered bytes of `src` to `dst`, recording them.
async fn pass(
    src: &mut Side,
    dst: &mut Side,
    n: usize,
    rec: &mut Option<BodyRecorder>,
) -> Result<(), RelayError> {
    let data = &src.buf[src.start..src.start + n];
    if let Some(r) = rec {
        r.update(data);
    }
    dst.send(data).await.map_err(RelayError::Dest)?;
    src.consume(n);
    Ok(())
}

async fn relay_exact(
    src: &mut Side,
    dst: &mut Side,
    mut n: u64,
    rec: &mut Option<BodyRecorder>,
    limit: Duration,
) -> Result<(), RelayError> {
    while n > 0 {
        if src.buffered().is_empty() {
            match src.read_more_within(limit).await {
                Ok(0) => return Err(RelayError::Source(closed())),
                Ok(_) => {}
                Err(e) => return Err(RelayError::Source(e)),
            }
        }
        let take = (src.buffered().len() as u64).min(n) as usize;
        pass(src, dst, take, rec).await?;
        n -= take as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn relay(
        input: &[u8],
        len: BodyLen,
    ) -> (Result<(), RelayError>, Vec<u8>, Option<captures::Body>) {
        let (mut feed, a) = tokio::io::duplex(1 << 20);
        let (b, mut sink) = tokio::io::duplex(1 << 20);
        feed.write_all(input).await.unwrap();
        drop(feed);
        let mut src = Side::new(Box::new(a));
        let mut dst = Side::new(Box::new(b));
        let mut rec = Some(BodyRecorder::new(1 << 20));
        let r = relay_body(&mut src, &mut dst, len, &mut rec, Duration::from_secs(5)).await;
        dst.flush().await.unwrap();
        drop(dst);
        let mut out = Vec::new();
        sink.read_to_end(&mut out).await.unwrap();
        (r, out, rec.map(BodyRecorder::finish))
    }

    #[tokio::test]
    async fn chunked_bodies_are_copied_exactly_and_recorded_unframed() {
        let wire = b"5;x=1\r\nhello\r\n1\r\n \r\n0\r\nTrailer: t\r\n\r\nNEXT";
        let (r, out, body) = relay(wire, BodyLen::Chunked).await;
        assert!(r.is_ok());
        assert_eq!(out, &wire[..wire.len() - 4]);
        assert_eq!(body.unwrap(), captures::Body::Text("hello ".into()));
    }

    #[tokio::test]
    async fn lengths_until_close_and_truncation() {
        let (r, out, body) = relay(b"abcdef", BodyLen::Length(4)).await;
        assert!(r.is_ok());
        assert_eq!(out, b"abcd");
        assert_eq!(body.unwrap().len(), 4);
        let (r, out, _) = relay(b"abcdef", BodyLen::UntilClose).await;
        assert!(r.is_ok());
        assert_eq!(out, b"abcdef");
        let (r, out, body) = relay(b"abc", BodyLen::Length(10)).await;
        assert!(matches!(r, Err(RelayError::Source(_))));
        assert_eq!(out, b"abc");
        assert_eq!(body.unwrap().len(), 3);
        let (r, _, _) = relay(b"zz\r\n", BodyLen::Chunked).await;
        assert!(matches!(r, Err(RelayError::Source(_))));
    }

    #[tokio::test]
    async fn rewind_yields_the_prefix_first() {
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(b" world").await.unwrap();
        drop(a);
        let mut r = Rewind::new(b"hello".to_vec(), Box::new(b));
        let mut s = String::new();
        r.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "hello world");
    }
}
