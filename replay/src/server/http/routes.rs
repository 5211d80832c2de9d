//! Request handling: SOAP calls, content downloads, the admin API, and the HTTP layer's
//! own error answers.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use hyper::body::Incoming;
use time::OffsetDateTime;
use time::macros::format_description;
use wusp::http::{ContentEncoding, accepts_xpress, decode_content};
use wusp::{ErrorCode, Fault, Service, soap::Envelope, values::Guid, xpress};

use super::HttpServerConfig;
use super::conn::{ConnShared, ReplyBody};
use super::range::{self, RangeAnswer};
use crate::server::{Backend, SoapCall, TransportFault};

/// What every handler needs.
pub(super) struct Ctx {
    pub(super) backend: Arc<dyn Backend>,
    pub(super) config: HttpServerConfig,
    /// Bounds the CPU-bound SOAP work running at once to the number of cores: more
    /// blocking threads only add memory and tail latency (bench/serve measured both).
    pub(super) cpu: Arc<tokio::sync::Semaphore>,
}

/// Which routes a listener serves.
#[derive(Clone, Debug)]
pub(super) enum Role {
    /// Web services and content, over HTTP or (with a configuration) HTTPS.
    Service {
        /// The TLS configuration for HTTPS.
        tls: Option<Arc<rustls::ServerConfig>>,
    },
    /// The admin API.
    Admin,
}

/// The connection a request came in on.
#[derive(Clone, Debug)]
pub(super) struct ConnInfo {
    pub(super) peer: SocketAddr,
    pub(super) scheme: &'static str,
    pub(super) role: Role,
}

/// The WSUS response headers that do not depend on the body (reference 1.2).
const SERVER: &str = "Microsoft-IIS/10.0";
const ASPNET_VERSION: &str = "4.0.30319";
const POWERED_BY: &str = "ASP.NET";
const SOAP_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// The body of HTTP.sys's own 503, which a client meets when a WSUS app pool is down.
const BODY_503: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">\r\n<HTML><HEAD><TITLE>Service Unavailable</TITLE>\r\n<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=us-ascii\"></HEAD>\r\n<BODY><h2>Service Unavailable</h2>\r\n<hr><p>HTTP Error 503. The service is unavailable.</p>\r\n</BODY></HTML>\r\n";

/// Handles one request.
pub(super) async fn handle(
    ctx: Arc<Ctx>,
    conn: ConnInfo,
    shared: Arc<ConnShared>,
    req: Request<Incoming>,
) -> Response<ReplyBody> {
    let guard = shared.begin_request();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = match &conn.role {
        Role::Service { .. } => service(&ctx, &conn, &shared, req).await,
        Role::Admin => admin(&ctx, req).await,
    };
    tracing::debug!(
        peer = %conn.peer,
        %method,
        path,
        status = response.status().as_u16(),
        "request"
    );
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, ReplyBody::new(body, Some(guard)))
}

async fn service(
    ctx: &Ctx,
    conn: &ConnInfo,
    shared: &ConnShared,
    req: Request<Incoming>,
) -> Response<Bytes> {
    let path = req.uri().path();
    if let Some(service) = Service::from_path(path) {
        if req.method() != Method::POST {
            return not_allowed("POST");
        }
        return soap(ctx, conn, shared, service, req).await;
    }
    if is_content_path(path) {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return not_allowed("GET, HEAD");
        }
        return content(ctx, &req);
    }
    plain(StatusCode::NOT_FOUND, "Not Found")
}

/// `/Content/...`, any case.
fn is_content_path(path: &str) -> bool {
    path.get(..9)
        .is_some_and(|p| p.eq_ignore_ascii_case("/content/"))
}

async fn soap(
    ctx: &Ctx,
    conn: &ConnInfo,
    shared: &ConnShared,
    service: Service,
    req: Request<Incoming>,
) -> Response<Bytes> {
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    let xpress = accepts_xpress(text(headers, &header::ACCEPT_ENCODING));
    let raw = match read_body(&ctx.config, headers, body).await {
        Ok(raw) => raw,
        Err(response) => return response,
    };

    let encoding = ContentEncoding::from_header(text(headers, &header::CONTENT_ENCODING));
    let limits = wusp::Limits {
        max_body: ctx.config.max_request_body,
        ..wusp::Limits::default()
    };
    let body = match decode_content(&encoding, &raw, &limits) {
        Ok(std::borrow::Cow::Borrowed(_)) => raw,
        Ok(std::borrow::Cow::Owned(decoded)) => Bytes::from(decoded),
        Err(wusp::Error::Limit { .. }) => return too_large(),
        Err(e) => {
            let message = format!("the request body does not decode ({encoding:?}): {e}");
            return soap_fault(ctx, service, xpress, &message);
        }
    };

    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let soap_action = text(headers, &HeaderName::from_static("soapaction")).map(str::to_owned);
    let host = text(headers, &header::HOST)
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()));
    let backend = Arc::clone(&ctx.backend);
    let (peer, scheme) = (conn.peer, conn.scheme);
    let block = ctx.config.xpress_block_size;
    // The core's work and the Xpress encoding are CPU-bound: off the I/O threads, and no
    // more of them at once than there are cores (requests beyond that wait their turn).
    let Ok(permit) = Arc::clone(&ctx.cpu).acquire_owned().await else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down\n",
        );
    };
    let job = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let reply = backend.soap(SoapCall {
            path: &target,
            soap_action: soap_action.as_deref(),
            host: host.as_deref(),
            scheme,
            body: &body,
            peer,
        });
        let wire = if xpress {
            Bytes::from(xpress::encode_with_block_size(&reply.body, block))
        } else {
            Bytes::from(reply.body)
        };
        (reply.status, reply.operation, reply.transport, wire)
    });
    let (status, operation, transport, wire) = match job.await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::error!(error = %e, "the protocol core failed on a SOAP call");
            return soap_fault(ctx, service, xpress, "internal error");
        }
    };
    tracing::debug!(
        operation = operation.map(|o| o.name()),
        status,
        bytes = wire.len(),
        ?transport,
        "SOAP call"
    );
    match transport {
        Some(TransportFault::Http503) => return service_unavailable(),
        Some(TransportFault::Delay(d)) => tokio::time::sleep(d).await,
        Some(TransportFault::CloseMidResponse) => shared.arm_cut(wire.len() / 2),
        None => {}
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    soap_response(status, service, xpress, wire)
}

/// Reads a request body within the configured size and time; the error is the answer.
async fn read_body(
    cfg: &HttpServerConfig,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<Bytes, Response<Bytes>> {
    let declared =
        text(headers, &header::CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > cfg.max_request_body as u64) {
        // Answered before a byte of the body is read; the connection closes after it.
        return Err(too_large());
    }
    let read = Limited::new(body, cfg.max_request_body).collect();
    match tokio::time::timeout(cfg.body_read_timeout, read).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "request body read failed");
            Err(closing(plain(StatusCode::BAD_REQUEST, "Bad Request")))
        }
        Err(_) => Err(closing(plain(
            StatusCode::REQUEST_TIMEOUT,
            "Request Timeout",
        ))),
    }
}

/// A SOAP answer with the headers of reference 1.2, in WSUS's order.
fn soap_response(
    status: StatusCode,
    service: Service,
    xpress: bool,
    body: Bytes,
) -> Response<Bytes> {
    let cache = if service == Service::Reporting {
        "private, max-age=0"
    } else {
        "private"
    };
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = status;
    let h = r.headers_mut();
    put(h, header::CACHE_CONTROL, cache);
    put(h, header::CONTENT_TYPE, SOAP_CONTENT_TYPE);
    put(h, header::VARY, "Accept-Encoding");
    put(h, header::SERVER, SERVER);
    put(
        h,
        HeaderName::from_static("x-aspnet-version"),
        ASPNET_VERSION,
    );
    put(h, HeaderName::from_static("x-powered-by"), POWERED_BY);
    put(h, header::DATE, &http_date(OffsetDateTime::now_utc()));
    if xpress {
        put(h, header::CONTENT_ENCODING, "xpress");
    }
    put(h, header::CONTENT_LENGTH, &body.len().to_string());
    *r.body_mut() = body;
    r
}

/// The HTTP layer's own SOAP fault (HTTP 500): `InvalidParameters` with `message`.
fn soap_fault(ctx: &Ctx, service: Service, xpress: bool, message: &str) -> Response<Bytes> {
    let xml = Envelope::fault(Fault::wsus(
        ErrorCode::InvalidParameters,
        message,
        fresh_guid(),
        None,
    ))
    .encode();
    let body = if xpress {
        Bytes::from(xpress::encode_with_block_size(
            xml.as_bytes(),
            ctx.config.xpress_block_size,
        ))
    } else {
        Bytes::from(xml)
    };
    soap_response(StatusCode::INTERNAL_SERVER_ERROR, service, xpress, body)
}

fn content(ctx: &Ctx, req: &Request<Incoming>) -> Response<Bytes> {
    let Some(file) = ctx.backend.content(req.uri().path()) else {
        return plain(StatusCode::NOT_FOUND, "Not Found");
    };
    let size = file.bytes.len() as u64;
    let etag = format!("\"{}\"", hex::encode(file.sha1));
    let last_modified = http_date(file.last_modified);
    let head = req.method() == Method::HEAD;
    // Range applies to GET only (RFC 9110 14.2); If-Range that does not match means "all".
    let if_range_ok = text(req.headers(), &header::IF_RANGE)
        .is_none_or(|v| v.trim() == etag || v.trim() == last_modified);
    let answer = if head || !if_range_ok {
        RangeAnswer::Full
    } else {
        range::answer(text(req.headers(), &header::RANGE), size)
    };
    let (status, content_range, body) = match answer {
        RangeAnswer::Full => (StatusCode::OK, None, Bytes::from_owner(file.bytes)),
        RangeAnswer::Partial { first, last } => (
            StatusCode::PARTIAL_CONTENT,
            Some(format!("bytes {first}-{last}/{size}")),
            Bytes::from_owner(file.bytes).slice(first as usize..=last as usize),
        ),
        RangeAnswer::Unsatisfiable => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            Some(format!("bytes */{size}")),
            Bytes::new(),
        ),
    };
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = status;
    let h = r.headers_mut();
    if status != StatusCode::RANGE_NOT_SATISFIABLE {
        put(h, header::CONTENT_TYPE, file.content_type);
    }
    if let Some(cr) = &content_range {
        put(h, header::CONTENT_RANGE, cr);
    }
    put(h, header::LAST_MODIFIED, &last_modified);
    put(h, header::ACCEPT_RANGES, "bytes");
    put(h, header::ETAG, &etag);
    put(h, header::SERVER, SERVER);
    put(h, HeaderName::from_static("x-powered-by"), POWERED_BY);
    put(h, header::DATE, &http_date(OffsetDateTime::now_utc()));
    put(h, header::CONTENT_LENGTH, &body.len().to_string());
    if !head {
        *r.body_mut() = body;
    }
    r
}

async fn admin(ctx: &Ctx, req: Request<Incoming>) -> Response<Bytes> {
    let path = req.uri().path().to_owned();
    if !path.starts_with("/admin/") {
        return plain(StatusCode::NOT_FOUND, "Not Found");
    }
    let method = req.method().as_str().to_owned();
    let (parts, body) = req.into_parts();
    let body = match read_body(&ctx.config, &parts.headers, body).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let backend = Arc::clone(&ctx.backend);
    let job = tokio::task::spawn_blocking(move || backend.admin(&method, &path, &body));
    let (status, json) = match job.await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::error!(error = %e, "the protocol core failed on an admin request");
            (500, br#"{"error":"internal error"}"#.to_vec())
        }
    };
    let mut r = Response::new(Bytes::from(json));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let len = r.body().len().to_string();
    let h = r.headers_mut();
    put(h, header::CONTENT_TYPE, "application/json; charset=utf-8");
    put(h, header::CACHE_CONTROL, "no-store");
    put(h, header::CONTENT_LENGTH, &len);
    r
}

/// HTTP.sys's 503 (an injected `Http503`).
fn service_unavailable() -> Response<Bytes> {
    let mut r = Response::new(Bytes::from_static(BODY_503.as_bytes()));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let h = r.headers_mut();
    put(h, header::CONTENT_TYPE, "text/html; charset=us-ascii");
    put(h, header::SERVER, "Microsoft-HTTPAPI/2.0");
    put(h, header::DATE, &http_date(OffsetDateTime::now_utc()));
    put(h, header::CONTENT_LENGTH, &BODY_503.len().to_string());
    r
}

fn too_large() -> Response<Bytes> {
    closing(plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Request Entity Too Large",
    ))
}

fn not_allowed(allow: &'static str) -> Response<Bytes> {
    let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// A short text answer.
fn plain(status: StatusCode, text: &'static str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from_static(text.as_bytes()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    put(h, header::CONTENT_TYPE, "text/plain; charset=utf-8");
    put(h, header::SERVER, SERVER);
    put(h, header::DATE, &http_date(OffsetDateTime::now_utc()));
    put(h, header::CONTENT_LENGTH, &text.len().to_string());
    r
}

/// Marks an answer as the last on its connection.
fn closing(mut r: Response<Bytes>) -> Response<Bytes> {
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn put(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(v) => {
            headers.insert(name, v);
        }
        Err(_) => tracing::warn!(header = %name, value, "header value not sendable, dropped"),
    }
}

fn text<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An IMF-fixdate (`Sun, 04 Oct 2026 16:03:35 GMT`).
pub(super) fn http_date(t: OffsetDateTime) -> String {
    let f = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(f)
        .unwrap_or_default()
}

/// A random (version 4) GUID for a fault's `ID`.
fn fresh_guid() -> Guid {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // Uniqueness is all the ID needs; the clock is a fallback good enough for that.
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        b = nanos.to_le_bytes();
    }
    Guid::v4_from_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn http_dates_are_imf_fixdate() {
        assert_eq!(
            http_date(datetime!(2026-10-04 18:03:35.5 +02:00)),
            "Sun, 04 Oct 2026 16:03:35 GMT"
        );
    }

    #[test]
    fn fault_ids_are_well_formed_guids() {
        let g = fresh_guid();
        assert!(g.is_well_formed(), "{g}");
        assert_ne!(g, fresh_guid());
    }

    #[test]
    fn content_paths_are_case_insensitive() {
        assert!(is_content_path("/Content/49/A379.exe"));
        assert!(is_content_path("/content/49/a379.exe"));
        assert!(is_content_path("/CONTENT/x"));
        assert!(!is_content_path("/Contents/x"));
        assert!(!is_content_path("/Content"));
    }
}
