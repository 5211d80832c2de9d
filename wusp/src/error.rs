//! The crate's error type.

use std::fmt;

/// Where in a document a problem was found: the element path and the byte offset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// Slash-separated local names from the root to the element, e.g. `Envelope/Body/SyncUpdates/cookie`.
    pub path: String,
    /// Byte offset in the document where the problem was detected.
    pub offset: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "at byte {}", self.offset)
        } else {
            write!(f, "at {} (byte {})", self.path, self.offset)
        }
    }
}

/// Every error `wusp` returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The XML is not well-formed.
    #[error("malformed XML {at}: {message}")]
    Xml {
        /// Where.
        at: Location,
        /// What the tokenizer reported.
        message: String,
    },
    /// A document type declaration was found; DTDs and external entities are refused.
    #[error("DTD refused {at}: documents with <!DOCTYPE> are not accepted")]
    Dtd {
        /// Where.
        at: Location,
    },
    /// An entity reference other than the five predefined ones and character references.
    #[error("undeclared entity &{name}; {at}")]
    Entity {
        /// The entity name.
        name: String,
        /// Where.
        at: Location,
    },
    /// A configured limit was exceeded (body size, depth, element count).
    #[error("limit exceeded {at}: {what} over {limit}")]
    Limit {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u64,
        /// Where.
        at: Location,
    },
    /// The document is well-formed but is not the SOAP shape expected.
    #[error("not a SOAP 1.1 message {at}: {message}")]
    Soap {
        /// Where.
        at: Location,
        /// What is wrong.
        message: String,
    },
    /// Path, SOAPAction and body root disagree, or name no known operation (reference 1.6a, T-03).
    #[error("cannot identify the operation: {0}")]
    Identify(String),
    /// An update metadata fragment could not be parsed.
    #[error(transparent)]
    Fragment(#[from] crate::fragment::FragmentError),
    /// An Xpress body does not decode.
    #[error(transparent)]
    Xpress(#[from] crate::xpress::XpressError),
    /// A body's Content-Encoding is unsupported or its bytes do not decode.
    #[error("{0}")]
    Encoding(String),
    /// The body is not UTF-8.
    #[error("body is not UTF-8 {at}")]
    Utf8 {
        /// Where the first invalid byte is.
        at: Location,
    },
}

impl Error {
    /// The location of the problem in the document, when it has one.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::Xml { at, .. }
            | Error::Dtd { at }
            | Error::Entity { at, .. }
            | Error::Limit { at, .. }
            | Error::Soap { at, .. }
            | Error::Utf8 { at } => Some(at),
            Error::Identify(_) | Error::Fragment(_) | Error::Xpress(_) | Error::Encoding(_) => None,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
