//! SOAP 1.1 envelopes: decode any WUSP message, encode it back (reference 1.4).
//!
//! [`Envelope::decode`] accepts what the wire carries: `s:` or `soap:` or any prefix, with
//! or without XML declaration, literal or SOAP-encoded arrays, a `Header` (recorded, rule
//! T-02), SOAP 1.2 (FE3 variant, recorded). [`Envelope::encode`] writes a decoded envelope
//! back byte for byte, and writes only what changed when the message was edited.

use std::sync::Arc;

#[cfg(test)]
use crate::ErrorCode;
use crate::error::{Error, Location, Result};
use crate::fault::Fault;
use crate::messages::{Request, Response};
use crate::ops::{NS_SOAP, NS_SOAP12, Operation, Service};
use crate::types::RawElement;
use crate::xml::{
    Decoder, Encoder, ForeignElement, Limits, NS_XSD, NS_XSI, Nonconforming, OutOfOrder, XmlValue,
};

/// The SOAP version of an envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoapVersion {
    /// SOAP 1.1 (every WSUS message).
    Soap11,
    /// SOAP 1.2 (the FE3 / Microsoft Update variant, reference 1.9).
    Soap12,
}

/// What the body of an envelope holds.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per message; boxing would only add an indirection
#[non_exhaustive]
pub enum Body {
    /// A request.
    Request(Request),
    /// A successful response.
    Response(Response),
    /// A SOAP fault.
    Fault(Fault),
    /// A body element that is no WUSP message (kept verbatim).
    Other {
        /// Its namespace URI.
        namespace: Option<String>,
        /// Its local name.
        name: String,
        /// The element as written.
        raw: RawElement,
    },
}

/// How a freshly built envelope is written (decoded envelopes keep their own form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeStyle {
    /// `<s:Envelope>` without XML declaration, `xsi`/`xsd` on `s:Body`: native WUA requests
    /// and WSUS Client-service responses.
    Native,
    /// `<?xml …?><soap:Envelope xmlns:soap xmlns:xsi xmlns:xsd>`: WSUS SimpleAuth and
    /// Reporting responses.
    Declared,
}

/// A SOAP envelope holding one WUSP message (equality ignores where it was decoded from).
#[derive(Clone, Debug)]
pub struct Envelope {
    /// The message.
    pub body: Body,
    /// SOAP version.
    pub version: SoapVersion,
    /// True when the envelope has a `Header` element (forbidden by T-02 for WSUS).
    pub has_header: bool,
    /// Form used when the envelope was built in code.
    pub style: EnvelopeStyle,
    /// The first element inside the body's root outside the root's namespace (rule T-04).
    pub foreign_element: Option<ForeignElement>,
    /// Children of the message met out of their schema order (T-13).
    out_of_order: Vec<OutOfOrder>,
    /// Elements of the message not conforming to the WSDL types and occurrences (T-10).
    nonconforming: Vec<Nonconforming>,
    source: Option<Arc<EnvelopeSource>>,
}

#[derive(Debug)]
struct EnvelopeSource {
    doc: Arc<str>,
    root_begin: usize,
    root_end: usize,
    /// Bindings in scope at the body root (declared by Envelope and Body).
    scope: Vec<(String, String)>,
}

impl PartialEq for Envelope {
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body
            && self.version == other.version
            && self.has_header == other.has_header
            && self.style == other.style
    }
}

impl Envelope {
    /// An envelope for a request, in native WUA form.
    pub fn request(r: impl Into<Request>) -> Envelope {
        Envelope::new(Body::Request(r.into()), EnvelopeStyle::Native)
    }

    /// An envelope for a response, in the form WSUS uses for that service.
    pub fn response(r: impl Into<Response>) -> Envelope {
        let r = r.into();
        let style = match r.operation().service() {
            Service::Client => EnvelopeStyle::Native,
            _ => EnvelopeStyle::Declared,
        };
        Envelope::new(Body::Response(r), style)
    }

    /// An envelope for a fault, in WSUS form.
    pub fn fault(f: Fault) -> Envelope {
        Envelope::new(Body::Fault(f), EnvelopeStyle::Native)
    }

    fn new(body: Body, style: EnvelopeStyle) -> Envelope {
        Envelope {
            body,
            version: SoapVersion::Soap11,
            has_header: false,
            style,
            foreign_element: None,
            out_of_order: Vec::new(),
            nonconforming: Vec::new(),
            source: None,
        }
    }

    /// Decodes a message with default limits.
    pub fn decode(bytes: &[u8]) -> Result<Envelope> {
        Envelope::decode_with(bytes, &Limits::default())
    }

    /// Decodes a message with the given limits.
    pub fn decode_with(bytes: &[u8], limits: &Limits) -> Result<Envelope> {
        let text = Envelope::text_of(bytes, limits)?;
        Envelope::decode_shared(Arc::from(text), limits)
    }

    /// Decodes a message's values only, with default limits, remembering no source: for
    /// readers that never re-encode it (the analyzer). The values are those
    /// [`Envelope::decode`] gives; [`Envelope::encode`] writes them in canonical form.
    pub fn decode_values(bytes: &[u8]) -> Result<Envelope> {
        let limits = Limits::default();
        Envelope::decode_doc(Envelope::text_of(bytes, &limits)?, None, &limits)
    }

    fn text_of<'a>(bytes: &'a [u8], limits: &Limits) -> Result<&'a str> {
        if bytes.len() > limits.max_body {
            return Err(Error::Limit {
                what: "body size",
                limit: limits.max_body as u64,
                at: Location::default(),
            });
        }
        std::str::from_utf8(bytes).map_err(|e| Error::Utf8 {
            at: Location {
                path: String::new(),
                offset: e.valid_up_to() as u64,
            },
        })
    }

    /// Decodes a message held in shared text (avoids a copy when the caller has one).
    pub fn decode_shared(doc: Arc<str>, limits: &Limits) -> Result<Envelope> {
        Envelope::decode_doc(&doc, Some(doc.clone()), limits)
    }

    /// Decodes `doc`; with `keep` (the same text, shared) every value remembers its source.
    fn decode_doc(doc: &str, keep: Option<Arc<str>>, limits: &Limits) -> Result<Envelope> {
        let mut d = Decoder::new(doc, keep.clone(), *limits)?;
        let root = d.root()?;
        let version = match d.ns_of(&root) {
            Some(NS_SOAP) if root.local() == "Envelope" => SoapVersion::Soap11,
            Some(NS_SOAP12) if root.local() == "Envelope" => SoapVersion::Soap12,
            ns => {
                return Err(d.error_at(
                    &root,
                    format!(
                        "root element <{}> in namespace {:?} is not a SOAP Envelope",
                        root.qname(),
                        ns.unwrap_or("")
                    ),
                ));
            }
        };
        let mut has_header = false;
        let mut foreign_element = None;
        type Found = (Body, usize, usize, Vec<(String, String)>);
        let mut found: Option<Found> = None;
        while let Some(child) = d.next_child(&root)? {
            let soap_ns = d.ns_of(&child) == d.ns_of(&root);
            match child.local() {
                "Header" if soap_ns => {
                    has_header = true;
                    d.skip(&child)?;
                }
                "Body" if soap_ns && found.is_none() => {
                    let scope = if keep.is_some() {
                        d_scope(&d)
                    } else {
                        Vec::new()
                    };
                    let mut body = None;
                    while let Some(el) = d.next_child(&child)? {
                        if body.is_some() {
                            return Err(d.error_at(
                                &el,
                                format!("a second element <{}> in the SOAP Body", el.qname()),
                            ));
                        }
                        let begin = el.offset() as usize;
                        d.watch_namespace(&el);
                        let b = decode_body(&mut d, &el)?;
                        foreign_element = d.end_watch();
                        body = Some((b, begin, d.pos() as usize));
                    }
                    let Some((b, begin, end)) = body else {
                        return Err(d.error_at(&child, "the SOAP Body is empty"));
                    };
                    found = Some((b, begin, end, scope));
                }
                _ => {
                    return Err(d.error_at(
                        &child,
                        format!("unexpected <{}> in the SOAP Envelope", child.qname()),
                    ));
                }
            }
        }
        d.finish()?;
        let out_of_order = d.take_out_of_order();
        let nonconforming = d.take_nonconforming();
        let Some((body, root_begin, root_end, scope)) = found else {
            return Err(d.error_at(&root, "the SOAP Envelope has no Body"));
        };
        // The style is what the document looks like, so a re-built envelope looks alike.
        let style = if doc[..root.offset() as usize].contains("<?xml") {
            EnvelopeStyle::Declared
        } else {
            EnvelopeStyle::Native
        };
        Ok(Envelope {
            body,
            version,
            has_header,
            style,
            foreign_element,
            out_of_order,
            nonconforming,
            source: keep.map(|doc| {
                Arc::new(EnvelopeSource {
                    doc,
                    root_begin,
                    root_end,
                    scope,
                })
            }),
        })
    }

    /// Elements of the decoded message that came after a sibling their structure's schema
    /// sequence puts later (rule T-13), at most [`crate::xml::MAX_OUT_OF_ORDER`]; empty for
    /// a message in order or built in code.
    pub fn out_of_order(&self) -> &[OutOfOrder] {
        &self.out_of_order
    }

    /// Elements of the decoded message whose text is not a value of their WSDL type, or
    /// `minOccurs=1` elements missing (rule T-10), at most [`crate::xml::MAX_NONCONFORMING`];
    /// empty for a conforming message or one built in code.
    pub fn nonconforming(&self) -> &[Nonconforming] {
        &self.nonconforming
    }

    /// The web method of the message, when it is a WUSP request or response.
    pub fn operation(&self) -> Option<Operation> {
        match &self.body {
            Body::Request(r) => Some(r.operation()),
            Body::Response(r) => Some(r.operation()),
            _ => None,
        }
    }

    /// The document the envelope was decoded from, if any.
    pub fn source_text(&self) -> Option<&str> {
        self.source.as_ref().map(|s| &*s.doc)
    }

    /// Writes the envelope. A decoded, unchanged envelope gives back its exact bytes.
    pub fn encode(&self) -> String {
        let mut e = Encoder::new();
        let ns = self.body_namespace();
        if let Some(src) = &self.source {
            e.raw(&src.doc[..src.root_begin]);
            for (p, u) in &src.scope {
                e.push_binding(p, u);
            }
            e.enter_ns(ns);
            self.encode_body(&mut e);
            e.raw(&src.doc[src.root_end..]);
            return e.into_string();
        }
        let (soap, close) = match self.style {
            EnvelopeStyle::Native => {
                e.raw("<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">");
                ("s", "</s:Body></s:Envelope>")
            }
            EnvelopeStyle::Declared => {
                e.raw("<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><soap:Body>");
                ("soap", "</soap:Body></soap:Envelope>")
            }
        };
        e.push_binding(soap, NS_SOAP);
        e.push_binding("xsi", NS_XSI);
        e.push_binding("xsd", NS_XSD);
        e.enter_ns(ns);
        self.encode_body(&mut e);
        e.raw(close);
        e.into_string()
    }

    fn body_namespace(&self) -> &'static str {
        match &self.body {
            Body::Request(r) => r.operation().service().namespace(),
            Body::Response(r) => r.operation().service().namespace(),
            Body::Fault(_) if self.version == SoapVersion::Soap12 => NS_SOAP12,
            Body::Fault(_) => NS_SOAP,
            Body::Other { .. } => "",
        }
    }

    fn encode_body(&self, e: &mut Encoder) {
        match &self.body {
            Body::Request(r) => r.encode(e),
            Body::Response(r) => r.encode(e),
            Body::Fault(f) => f.encode_value(e, "Fault", ""),
            Body::Other { raw, .. } => e.raw(raw.xml()),
        }
    }
}

fn d_scope(d: &Decoder<'_>) -> Vec<(String, String)> {
    d.bindings_in_scope()
}

fn decode_body<'a>(d: &mut Decoder<'a>, el: &crate::xml::Start<'a>) -> Result<Body> {
    let ns = d.ns_of(el).unwrap_or("").to_string();
    if (ns == NS_SOAP || ns == NS_SOAP12) && el.local() == "Fault" {
        return crate::xml::decode_root_struct::<Fault>(d, el).map(Body::Fault);
    }
    if let Some(op) = Operation::from_request_element(&ns, el.local()) {
        return Request::decode(op, d, el).map(Body::Request);
    }
    if let Some(op) = Operation::from_response_element(&ns, el.local()) {
        return Response::decode(op, d, el).map(Body::Response);
    }
    let name = el.local().to_string();
    let raw = match RawElement::decode_value(d, el, "")? {
        crate::Field::Value(r) => r,
        _ => RawElement::default(),
    };
    Ok(Body::Other {
        namespace: (!ns.is_empty()).then_some(ns),
        name,
        raw,
    })
}

#[cfg(test)]
#[path = "soap_tests.rs"]
mod tests;
