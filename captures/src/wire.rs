//! Reading recorded exchanges as WUSP: what an exchange is and its decoded messages.
//!
//! The record keeps wire bytes; this module hands them to `wusp` (Content-Encoding, Xpress,
//! SOAP) so every consumer — `capture info`, the analyzer, the TUI — classifies and decodes
//! an exchange the same way.

use std::borrow::Cow;

use wusp::http::{ContentEncoding, decode_content, identify_request};
use wusp::ops::{Identification, Service};
use wusp::{Envelope, Limits};

use crate::record::{Exchange, Request, Response};

/// What an exchange is, from the protocol's point of view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExchangeKind {
    /// A SOAP call to a WUSP service.
    Soap(Identification),
    /// A GET or HEAD under `/Content` (update content download, reference 1.7).
    Content,
    /// A GET under `/SelfUpdate` (reference 1.8).
    SelfUpdate,
    /// A POST to a WUSP service path whose operation cannot be told (the reason).
    UnknownSoap(String),
    /// Anything else (not WUSP traffic).
    Other,
}

impl ExchangeKind {
    /// The label used to count exchanges: the web-method name, `Content`, or `other`.
    pub fn label(&self) -> &str {
        match self {
            ExchangeKind::Soap(id) => id.operation.name(),
            ExchangeKind::Content => "Content",
            _ => "other",
        }
    }
}

/// Classifies an exchange by method, path, SOAPAction and body root.
pub fn classify(ex: &Exchange) -> ExchangeKind {
    classify_request(&ex.request)
}

/// Classifies a request (also usable for error records that kept their request).
pub fn classify_request(req: &Request) -> ExchangeKind {
    let path = req.path();
    let lower = path.to_ascii_lowercase();
    let method = req.method.to_ascii_uppercase();
    if (method == "GET" || method == "HEAD") && lower.starts_with("/content/") {
        return ExchangeKind::Content;
    }
    if (method == "GET" || method == "HEAD") && lower.starts_with("/selfupdate") {
        return ExchangeKind::SelfUpdate;
    }
    let service = Service::from_path(path);
    let soap_action = req.soap_action();
    if method != "POST" || (service.is_none() && soap_action.is_none()) {
        return ExchangeKind::Other;
    }
    let body = req.body.bytes().unwrap_or_default();
    let body = match decode_content(
        &ContentEncoding::from_header(req.header("Content-Encoding")),
        body,
        &Limits::default(),
    ) {
        Ok(b) => b,
        Err(e) => return ExchangeKind::UnknownSoap(format!("request body: {e}")),
    };
    match identify_request(path, soap_action, &body) {
        Ok(id) => ExchangeKind::Soap(id),
        Err(e) => ExchangeKind::UnknownSoap(e.to_string()),
    }
}

/// The request body as the SOAP layer sees it (Content-Encoding undone).
pub fn request_xml(req: &Request) -> Result<Cow<'_, [u8]>, wusp::Error> {
    let body = req.body.bytes().ok_or_else(omitted)?;
    decode_content(
        &ContentEncoding::from_header(req.header("Content-Encoding")),
        body,
        &Limits::default(),
    )
}

/// The response body as the SOAP layer sees it (Xpress or gzip undone).
pub fn response_xml(resp: &Response) -> Result<Cow<'_, [u8]>, wusp::Error> {
    let body = resp.body.bytes().ok_or_else(omitted)?;
    decode_content(
        &ContentEncoding::from_header(resp.header("Content-Encoding")),
        body,
        &Limits::default(),
    )
}

fn omitted() -> wusp::Error {
    wusp::Error::Encoding("the body was recorded as size and digests only".into())
}

/// Decodes the request's SOAP envelope.
pub fn request_envelope(ex: &Exchange) -> Result<Envelope, wusp::Error> {
    Envelope::decode(&request_xml(&ex.request)?)
}

/// Decodes the response's SOAP envelope.
pub fn response_envelope(ex: &Exchange) -> Result<Envelope, wusp::Error> {
    Envelope::decode(&response_xml(&ex.response)?)
}
