//! `wusp`: the sans-I/O model of MS-WUSP, the protocol between the Windows Update client
//! and a WSUS server.
//!
//! Everything in wutap that knows the protocol goes through this crate: the proxy records
//! bytes and hands them here beside its hot path, the analyzer judges decoded messages, the
//! replay client and server build and answer them. It does no I/O and pulls in no runtime.
//!
//! - [`soap::Envelope`] decodes and encodes a SOAP 1.1 message of any web method
//!   ([`messages`]), built from the structures of [`types`] and the faults of [`fault`];
//!   [`ops`] names services, operations and SOAPActions and identifies a request (T-03).
//! - [`http`] decodes bodies by Content-Encoding and identifies a request's operation from
//!   path, SOAPAction and body root without decoding the whole message.
//! - [`xml`] is the lossless layer under it: absent, nil, empty and invalid elements stay
//!   distinct, unknown elements stay in place, and an unchanged message encodes to its
//!   exact original bytes.
//! - [`fragment`] parses the update metadata fragments (core, extended, localized) leniently,
//!   indexes them (prerequisites as CNF, bundles, IsLeaf, files) and builds them in WSUS shape.
//! - [`xpress`] is the Xpress (Plain LZ77) codec of the response compression (reference 1.3).
pub mod error;
pub mod fault;
pub mod fragment;
pub mod http;
pub mod messages;
pub mod ops;
pub mod soap;
pub mod types;
pub mod values;
pub mod xml;
pub mod xpress;

pub use error::{Error, Location, Result};
pub use fault::{ErrorCode, Fault};
pub use messages::{Request, Response};
pub use ops::{Operation, Service};
pub use soap::{Body, Envelope};
pub use xml::{Field, Limits, Source};
