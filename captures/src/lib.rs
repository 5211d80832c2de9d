//! `captures`: the wutap capture file format.
//!
//! # Where it sits
//!
//! ```text
//!  proxy ──► CaptureWriter ──► capture.jsonl[.zst|.gz] ──► CaptureReader ──► analyzer, replay, TUI
//!                                                      └──► har::export ──► browser devtools, Fiddler
//!  HAR from devtools / Fiddler / mitmproxy ──► CaptureReader (or har::import) ──► the same records
//! ```
//!
//! The recording proxy appends one [`Record`] per HTTP exchange as it completes; every
//! command that reads traffic reads it back through [`CaptureReader`], which also accepts
//! HAR files; [`redact`] writes a copy fit to share, with cookies, client ids, names and
//! addresses replaced by consistent placeholders. The format is JSON Lines: one
//! self-describing object per line, tagged by `"type"`, documented with examples in
//! `captures/FORMAT.md` so jq and DuckDB read it too.
//!
//! # Principles
//!
//! - Bodies are kept byte for byte as they were on the wire (Xpress and gzip included), as
//!   text when they are UTF-8 and base64 otherwise; large ones as size, SHA-1 and SHA-256.
//! - Headers keep wire order and the case of their names.
//! - Appending is cheap and crash-safe: one flush per record, and a reader that meets a cut
//!   or corrupt line (or compressed frame) reports it with its line number and goes on.
//! - The crate does no network I/O. Interpreting bodies is the `wusp` crate's job; [`wire`]
//!   hands recorded bytes to it so every consumer classifies and decodes exchanges alike. It never prints; it returns values and emits `tracing` events.

mod body;
mod compression;
mod error;
pub mod har;
mod headers;
mod json;
mod reader;
mod record;
pub mod redact;
mod timestamp;
pub mod wire;
mod writer;

#[cfg(test)]
mod tests;

pub use body::{Body, BodyDigest, BodyRecorder, OmittedBody};
pub use compression::Compression;
pub use error::{Error, Result};
pub use headers::{Header, Headers};
pub use reader::{CaptureReader, Loaded, Problem, ProblemKind, ReadItem, parse_line, read_all};
pub use record::{
    CaptureHeader, ConnectionMode, ConnectionRecord, ErrorPhase, ErrorRecord, Exchange,
    FORMAT_NAME, FORMAT_VERSION, Record, Request, Response, Timing, TlsInfo,
};
pub use redact::{
    BodyPart, Kind as RedactKind, Note as RedactNote, NoteReason, RedactReport, Redactor,
    redact_file,
};
pub use timestamp::Timestamp;
pub use writer::{CaptureWriter, WriterOptions};
