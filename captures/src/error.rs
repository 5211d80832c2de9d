//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong opening, writing or converting a capture.
///
/// Problems inside a capture that is being read (a cut or corrupt line, an unknown record
/// type) are not errors: the reader reports them as [`crate::Problem`]s and carries on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The capture file could not be opened or created.
    #[error("{}: cannot open capture: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// Another writer holds the capture file's lock.
    #[error("{}: capture is being written by another process", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// A record could not be written (or a compressed frame finished).
    #[error("{}: cannot write record {record}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// 1-based number of the record in this writer's session (0 for the frame end).
        record: u64,
        /// What the operating system or the compressor said.
        source: io::Error,
    },
    /// A record could not be turned into JSON (a timestamp outside years 0000-9999).
    #[error("{}: cannot encode record {record}: {source}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// 1-based number of the record in this writer's session.
        record: u64,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// The file's permissions could not be read or tightened.
    #[error("{}: cannot set permissions: {source}", path.display())]
    Permissions {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// A read failed before the first record (detecting compression or the HAR format).
    #[error("{}: cannot read capture: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system or the decompressor said.
        source: io::Error,
    },
    /// The operating system's random number generator failed (a fresh redaction key).
    #[error("cannot draw a random key: {source}")]
    Random {
        /// What the operating system said.
        source: io::Error,
    },
    /// A finished file could not be moved into place (redaction writes beside the output).
    #[error("{}: cannot move the finished file into place: {source}", path.display())]
    Replace {
        /// The file that was to be replaced or created.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// A HAR document is not JSON, or has no `log.entries` array.
    #[error("{}:{line}: not a HAR 1.2 document: {message}", path.display())]
    Har {
        /// The file (`<memory>` for documents that came from no file).
        path: PathBuf,
        /// 1-based line of the JSON syntax error, 0 when the structure is wrong.
        line: u64,
        /// What is wrong.
        message: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
