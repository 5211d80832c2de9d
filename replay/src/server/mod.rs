//! The server role: reference WSUS behaviour (reference section 7).
//!
//! The protocol core (`logic::WsusServer`) is sans-I/O: it takes a SOAP call as bytes and
//! returns the reply bytes, answers content paths from its catalog (`catalog::Catalog`), and applies
//! approval changes. The HTTP layer ([`http`]) owns sockets, TLS, Xpress, Range, keep-alive
//! and the admin listener, and talks to the core only through [`Backend`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use wusp::Operation;

pub mod catalog;
pub mod cookie;
pub mod http;
pub mod inject;
pub mod logic;

/// A SOAP request as the HTTP layer hands it to the protocol core.
#[derive(Clone, Copy, Debug)]
pub struct SoapCall<'a> {
    /// Request path (origin-form), e.g. `/ClientWebService/client.asmx`.
    pub path: &'a str,
    /// The SOAPAction header, as sent (quotes included).
    pub soap_action: Option<&'a str>,
    /// The Host header (WSUS builds content URLs from it, reference 1.7).
    pub host: Option<&'a str>,
    /// `http` or `https`: the scheme the request came in on.
    pub scheme: &'a str,
    /// The request body, Content-Encoding already undone.
    pub body: &'a [u8],
    /// The client's address.
    pub peer: SocketAddr,
}

/// A fault of the transport, injected for tests (`--inject close@SyncUpdates`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportFault {
    /// Send the status line and headers and part of the body, then close the connection.
    CloseMidResponse,
    /// Wait this long before answering.
    Delay(Duration),
    /// Answer HTTP 503 with no SOAP body.
    Http503,
}

/// The protocol core's answer to a SOAP call.
#[derive(Clone, Debug)]
pub struct SoapReply {
    /// HTTP status: 200, or 500 for a SOAP fault.
    pub status: u16,
    /// The SOAP envelope (identity encoding; the HTTP layer applies Xpress if asked).
    pub body: Vec<u8>,
    /// The operation, when identified.
    pub operation: Option<Operation>,
    /// A transport fault the HTTP layer must carry out instead of (or before) answering.
    pub transport: Option<TransportFault>,
}

/// A file served under `/Content` (HEAD and Range supported by the HTTP layer).
#[derive(Clone, Debug)]
pub struct ContentFile {
    /// The bytes.
    pub bytes: Arc<[u8]>,
    /// SHA-1 of the bytes (the FileDigest).
    pub sha1: [u8; 20],
    /// Content-Type to send (WSUS: `application/octet-stream`).
    pub content_type: &'static str,
    /// Last-Modified to send.
    pub last_modified: time::OffsetDateTime,
}

/// What the HTTP layer needs from the protocol core.
pub trait Backend: Send + Sync + 'static {
    /// Answers a SOAP call (never panics; malformed input gives a SOAP fault).
    fn soap(&self, call: SoapCall<'_>) -> SoapReply;
    /// The file at a `/Content/...` path (case-insensitive), if the catalog has it.
    fn content(&self, path: &str) -> Option<ContentFile>;
    /// Handles an admin API request (`POST /admin/approvals`); returns status and JSON body.
    fn admin(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>);
}
