//! A small blocking HTTP/1.1 client over one keep-alive TCP connection: just what the
//! benchmark sends (POST of a SOAP body, GET of the admin status), `Accept-Encoding: xpress`
//! and Xpress decoding of the answer with `wusp`.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Read and write timeout of the sockets: nothing waits forever.
const IO_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest answer body accepted (a priming page of 5,000 updates is well below).
const MAX_BODY: usize = 512 << 20;
/// Most header lines accepted in an answer.
const MAX_HEADERS: usize = 100;

/// One answer.
#[derive(Debug)]
pub(crate) struct Reply {
    /// HTTP status.
    pub(crate) status: u16,
    /// The body, Content-Encoding undone.
    pub(crate) body: Vec<u8>,
    /// Bytes of the body as received.
    pub(crate) wire_bytes: usize,
}

/// A keep-alive connection to one server, opened on first use and again after a close.
pub(crate) struct Conn {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
    out: Vec<u8>,
    /// Connections opened so far.
    pub(crate) connects: u64,
}

/// An error before any byte of the answer arrived on a reused connection: the server may
/// have closed it while idle, so the request is sent again once on a new connection.
fn stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}

impl Conn {
    /// A connection to `addr` (not opened yet).
    pub(crate) fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            stream: None,
            out: Vec::new(),
            connects: 0,
        }
    }

    /// Sends `method path` with the body made of `parts` (concatenated) and reads the answer.
    pub(crate) fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        parts: &[&[u8]],
    ) -> io::Result<Reply> {
        let reused = self.stream.is_some();
        match self.exchange(method, path, headers, parts) {
            Ok(r) => Ok(r),
            Err((e, before_answer)) if reused && before_answer && stale(&e) => {
                self.stream = None;
                self.exchange(method, path, headers, parts)
                    .map_err(|(e, _)| e)
            }
            Err((e, _)) => Err(e),
        }
    }

    fn open(&mut self) -> io::Result<&mut BufReader<TcpStream>> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(IO_TIMEOUT))?;
            s.set_write_timeout(Some(IO_TIMEOUT))?;
            self.connects += 1;
            self.stream = Some(BufReader::with_capacity(64 << 10, s));
        }
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::other("no connection"))
    }

    /// One request and answer; the flag says whether the error came before any answer byte.
    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        parts: &[&[u8]],
    ) -> Result<Reply, (io::Error, bool)> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.out.clear();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.90\r\nAccept-Encoding: xpress\r\nContent-Length: {len}\r\n",
            self.addr
        );
        self.out.extend_from_slice(head.as_bytes());
        for (name, value) in headers {
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b": ");
            self.out.extend_from_slice(value.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        for p in parts {
            self.out.extend_from_slice(p);
        }
        let out = std::mem::take(&mut self.out);
        let result = self.send_and_read(&out);
        self.out = out;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn send_and_read(&mut self, out: &[u8]) -> Result<Reply, (io::Error, bool)> {
        let stream = self.open().map_err(|e| (e, false))?;
        stream.get_mut().write_all(out).map_err(|e| (e, true))?;
        let mut line = String::new();
        let n = stream.read_line(&mut line).map_err(|e| (e, true))?;
        if n == 0 {
            return Err((
                io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"),
                true,
            ));
        }
        let bad = |what: String| (io::Error::new(io::ErrorKind::InvalidData, what), false);
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
        let (mut length, mut chunked, mut xpress, mut close) = (None, false, false, false);
        for i in 0.. {
            if i > MAX_HEADERS {
                return Err(bad("too many header lines".into()));
            }
            line.clear();
            if stream.read_line(&mut line).map_err(|e| (e, false))? == 0 {
                return Err(bad("connection closed in the headers".into()));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let Some((name, value)) = l.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => {
                    length = Some(
                        value
                            .parse::<usize>()
                            .map_err(|_| bad(format!("bad Content-Length {value:?}")))?,
                    )
                }
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                "content-encoding" => xpress = value.eq_ignore_ascii_case("xpress"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                stream.read_line(&mut line).map_err(|e| (e, false))?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| bad(format!("bad chunk size {line:?}")))?;
                if size == 0 {
                    // Trailers, then the empty line.
                    loop {
                        line.clear();
                        if stream.read_line(&mut line).map_err(|e| (e, false))? == 0
                            || line.trim_end().is_empty()
                        {
                            break;
                        }
                    }
                    break;
                }
                if body.len() + size > MAX_BODY {
                    return Err(bad("answer too large".into()));
                }
                let at = body.len();
                body.resize(at + size, 0);
                stream.read_exact(&mut body[at..]).map_err(|e| (e, false))?;
                line.clear();
                stream.read_line(&mut line).map_err(|e| (e, false))?;
            }
        } else if let Some(n) = length {
            if n > MAX_BODY {
                return Err(bad("answer too large".into()));
            }
            body.resize(n, 0);
            stream.read_exact(&mut body).map_err(|e| (e, false))?;
        } else {
            stream
                .take(MAX_BODY as u64)
                .read_to_end(&mut body)
                .map_err(|e| (e, false))?;
            close = true;
        }
        if close {
            self.stream = None;
        }
        let wire_bytes = body.len();
        if xpress {
            body = wusp::xpress::decode(&body).map_err(|e| bad(format!("Xpress: {e}")))?;
        }
        Ok(Reply {
            status,
            body,
            wire_bytes,
        })
    }
}
