//! HTTP framing of the samples: native WUA request headers, WSUS/IIS response headers,
//! Xpress bodies, Delivery Optimization range downloads, and a deterministic timeline.

use captures::{Body, Exchange, Headers, Record, Request, Response, Timestamp, Timing};
use time::macros::format_description;
use time::{Duration, OffsetDateTime};
use wusp::ops::Service;
use wusp::{Envelope, xpress};

use crate::catalog::{HOST, SampleFile};
use crate::seed;

/// The server's address.
pub(crate) const SERVER: &str = "192.0.2.1:8530";
/// The Windows Update Agent's User-Agent (reference 1.2, native Windows 11 25H2).
pub(crate) const USER_AGENT: &str = "Windows-Update-Agent/1507.2601.30012.0 Client-Protocol/2.90";
/// Delivery Optimization's User-Agent (reference 1.7).
pub(crate) const DO_USER_AGENT: &str = "Microsoft-Delivery-Optimization/10.1";
/// Xpress input block size observed on Windows Server 2025 (reference 1.3).
pub(crate) const XPRESS_BLOCK: usize = 16_352;

/// A client connection: its id in the capture and the client address.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    pub id: u64,
    pub client: String,
}

impl Conn {
    pub(crate) fn new(id: u64, port: u16) -> Conn {
        Conn {
            id,
            client: format!("192.0.2.10:{port}"),
        }
    }
}

/// Collects the exchanges of one capture on a deterministic clock.
pub(crate) struct Wire {
    records: Vec<Record>,
    next_id: u64,
    clock: OffsetDateTime,
    label: String,
    cv_base: String,
    cv_n: u32,
}

impl Wire {
    /// A capture whose first request starts at `start`; `label` keeps the seeds of two
    /// captures apart.
    pub(crate) fn new(label: &str, start: OffsetDateTime) -> Wire {
        Wire {
            records: Vec::new(),
            next_id: 1,
            clock: start,
            label: label.to_owned(),
            cv_base: seed::base64(&format!("{label}/ms-cv"), 12),
            cv_n: 0,
        }
    }

    /// The client's clock: when the next request starts.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock
    }

    /// A derived duration in `lo..=hi` microseconds, distinct per exchange and purpose.
    fn micros(&self, what: &str, lo: u64, hi: u64) -> Duration {
        let n = seed::range(&format!("{}/{}/{what}", self.label, self.next_id), lo, hi);
        Duration::microseconds(n as i64)
    }

    /// Lets the client think for `lo_ms..=hi_ms` milliseconds before the next request.
    pub(crate) fn pause(&mut self, lo_ms: u64, hi_ms: u64) {
        self.clock += self.micros("pause", lo_ms * 1000, hi_ms * 1000);
    }

    /// The records so far.
    pub(crate) fn into_records(self) -> Vec<Record> {
        self.records
    }

    /// Records a SOAP call: the request as native WUA frames it, the response as WSUS does
    /// (Xpress, 16352-byte blocks). `server_ms` is how long the server takes to answer.
    pub(crate) fn soap(
        &mut self,
        conn: &Conn,
        request: wusp::Request,
        response: impl FnOnce(OffsetDateTime) -> wusp::Response,
        server_ms: (u64, u64),
    ) {
        let op = request.operation();
        let service = op.service();
        let body = Envelope::request(request).encode().into_bytes();
        let mut headers = Headers::new();
        headers.push("Cache-Control", "no-cache");
        headers.push("Connection", "Keep-Alive");
        headers.push("Pragma", "no-cache");
        headers.push("Content-Type", "text/xml; charset=utf-8");
        headers.push("Accept-Encoding", "xpress");
        headers.push("User-Agent", USER_AGENT);
        headers.push("SOAPAction", format!("\"{}\"", op.soap_action()));
        if service != Service::Reporting {
            self.cv_n += 1;
            headers.push("MS-CV", format!("{}.{}", self.cv_base, self.cv_n));
        }
        headers.push("Content-Length", body.len().to_string());
        headers.push("Host", HOST);

        let start = self.clock;
        let request_end = start + self.micros("upload", 80, 200) + upload_time(body.len());
        let server = request_end + self.micros("server-in", 200, 900);
        let response_start =
            request_end + self.micros("server", server_ms.0 * 1000, server_ms.1 * 1000);

        let xml = Envelope::response(response(server)).encode();
        let wire_body = xpress::encode_with_block_size(xml.as_bytes(), XPRESS_BLOCK);
        let mut rh = Headers::new();
        rh.push(
            "Cache-Control",
            if service == Service::Reporting {
                "private, max-age=0"
            } else {
                "private"
            },
        );
        rh.push("Content-Type", "text/xml; charset=utf-8");
        rh.push("Vary", "Accept-Encoding");
        rh.push("Server", "Microsoft-IIS/10.0");
        rh.push("X-AspNet-Version", "4.0.30319");
        rh.push("X-Powered-By", "ASP.NET");
        rh.push("Date", http_date(response_start));
        rh.push("Content-Encoding", "xpress");
        rh.push("Content-Length", wire_body.len().to_string());
        let end = response_start + self.micros("download", 40, 160) + upload_time(wire_body.len());

        let path = service.path();
        self.push(
            conn,
            Timing {
                start: ts(start),
                request_end: Some(ts(request_end)),
                response_start: Some(ts(response_start)),
                end: Some(ts(end)),
            },
            Request {
                method: "POST".into(),
                target: path.into(),
                url: format!("http://{HOST}{path}"),
                version: "HTTP/1.1".into(),
                headers,
                body_truncated: false,
                body: Body::from_bytes(body),
            },
            Response {
                status: 200,
                reason: "OK".into(),
                version: "HTTP/1.1".into(),
                headers: rh,
                body_truncated: false,
                body: Body::from_bytes(wire_body),
            },
        );
        self.clock = end;
    }

    /// Records a Delivery Optimization download of a whole (small) file as one closed range,
    /// answered `206 Partial Content` by IIS (reference 1.7).
    pub(crate) fn content(&mut self, conn: &Conn, file: &SampleFile) {
        let size = file.bytes.len();
        let path = file.content_path();
        let mut headers = Headers::new();
        headers.push("Connection", "Keep-Alive");
        headers.push("Accept", "*/*");
        headers.push("Range", format!("bytes=0-{}", size - 1));
        headers.push("User-Agent", DO_USER_AGENT);
        headers.push("Host", HOST);

        let start = self.clock;
        let request_end = start + self.micros("upload", 30, 90);
        let response_start = request_end + self.micros("server", 900, 2_500);
        let end = response_start + self.micros("download", 60, 200) + upload_time(size);
        let modified = parse_rfc3339(&file.modified).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let mut rh = Headers::new();
        rh.push("Content-Type", "application/octet-stream");
        rh.push("Last-Modified", http_date(modified));
        rh.push("Accept-Ranges", "bytes");
        rh.push(
            "ETag",
            format!(
                "\"{}:0\"",
                seed::hex_upper(&file.sha1[..7]).to_ascii_lowercase()
            ),
        );
        rh.push("Server", "Microsoft-IIS/10.0");
        rh.push("X-Powered-By", "ASP.NET");
        rh.push("Date", http_date(response_start));
        rh.push("Content-Range", format!("bytes 0-{}/{size}", size - 1));
        rh.push("Content-Length", size.to_string());
        self.push(
            conn,
            Timing {
                start: ts(start),
                request_end: Some(ts(request_end)),
                response_start: Some(ts(response_start)),
                end: Some(ts(end)),
            },
            Request {
                method: "GET".into(),
                target: path.clone(),
                url: file.url(),
                version: "HTTP/1.1".into(),
                headers,
                body_truncated: false,
                body: Body::empty(),
            },
            Response {
                status: 206,
                reason: "Partial Content".into(),
                version: "HTTP/1.1".into(),
                headers: rh,
                body_truncated: false,
                body: Body::from_bytes(file.bytes.clone()),
            },
        );
        self.clock = end;
    }

    fn push(&mut self, conn: &Conn, time: Timing, request: Request, response: Response) {
        self.records.push(Record::Exchange(Exchange {
            id: self.next_id,
            conn: conn.id,
            client: Some(conn.client.clone()),
            server: Some(SERVER.to_owned()),
            scheme: "http".into(),
            tls: None,
            upstream_tls: None,
            time,
            request,
            response,
        }));
        self.next_id += 1;
    }
}

/// Time to move `len` bytes over a gigabit LAN, roughly.
fn upload_time(len: usize) -> Duration {
    Duration::microseconds((len / 100) as i64)
}

fn ts(t: OffsetDateTime) -> Timestamp {
    Timestamp::from_datetime(t)
}

/// An IMF-fixdate (`Sun, 04 Oct 2026 16:03:35 GMT`).
fn http_date(t: OffsetDateTime) -> String {
    let f = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(f).unwrap_or_default()
}

/// Parses an RFC 3339 time (the `Modified` value of a sample file).
fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn http_dates_are_imf_fixdate() {
        assert_eq!(
            http_date(datetime!(2026-10-04 16:03:35.5 UTC)),
            "Sun, 04 Oct 2026 16:03:35 GMT"
        );
    }
}
