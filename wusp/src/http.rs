//! The HTTP side of a WUSP exchange, without I/O: body content decoding and operation
//! identification from what a recorder keeps (method, path, headers, body bytes).

use std::borrow::Cow;
use std::io::Read as _;

use crate::error::{Error, Location, Result};
use crate::ops::{Identification, NS_SOAP, NS_SOAP12, identify};
use crate::xml::{Decoder, Limits};
use crate::xpress;

/// How a body is encoded on the wire (`Content-Encoding`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentEncoding {
    /// No encoding.
    Identity,
    /// Xpress (reference 1.3).
    Xpress,
    /// gzip (a client MAY ask for other encodings, reference 1.3).
    Gzip,
    /// deflate (zlib framing).
    Deflate,
    /// Something else, named as on the wire.
    Other(String),
}

impl ContentEncoding {
    /// Reads a `Content-Encoding` header value (absent = identity).
    pub fn from_header(value: Option<&str>) -> ContentEncoding {
        match value.map(|v| v.trim().to_ascii_lowercase()) {
            None => ContentEncoding::Identity,
            Some(v) => match v.as_str() {
                "" | "identity" => ContentEncoding::Identity,
                "xpress" => ContentEncoding::Xpress,
                "gzip" | "x-gzip" => ContentEncoding::Gzip,
                "deflate" => ContentEncoding::Deflate,
                _ => ContentEncoding::Other(v),
            },
        }
    }
}

/// True when an `Accept-Encoding` value lists `xpress` (rules T-08, T-09).
pub fn accepts_xpress(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|v| {
        v.split(',').any(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("xpress")
        })
    })
}

/// Decodes a body according to its `Content-Encoding`, bounded by `limits.max_body`.
pub fn decode_content<'b>(
    encoding: &ContentEncoding,
    body: &'b [u8],
    limits: &Limits,
) -> Result<Cow<'b, [u8]>> {
    let too_big = || Error::Limit {
        what: "decoded body size",
        limit: limits.max_body as u64,
        at: Location::default(),
    };
    match encoding {
        ContentEncoding::Identity => Ok(Cow::Borrowed(body)),
        ContentEncoding::Xpress => {
            let xl = xpress::Limits::for_max_output(limits.max_body);
            xpress::decode_with(body, &xl)
                .map(Cow::Owned)
                .map_err(Error::from)
        }
        ContentEncoding::Gzip | ContentEncoding::Deflate => {
            let mut out = Vec::new();
            let cap = limits.max_body as u64 + 1;
            let read = if *encoding == ContentEncoding::Gzip {
                flate2::read::MultiGzDecoder::new(body)
                    .take(cap)
                    .read_to_end(&mut out)
            } else {
                flate2::read::ZlibDecoder::new(body)
                    .take(cap)
                    .read_to_end(&mut out)
            };
            read.map_err(|e| Error::Encoding(format!("{encoding:?} body does not decode: {e}")))?;
            if out.len() > limits.max_body {
                return Err(too_big());
            }
            Ok(Cow::Owned(out))
        }
        ContentEncoding::Other(name) => Err(Error::Encoding(format!(
            "unsupported Content-Encoding {name:?}"
        ))),
    }
}

/// The namespace and local name of the first element in a SOAP Body, read without decoding
/// the message (fast; used to count and route exchanges).
pub fn peek_body_root(xml: &[u8]) -> Result<(String, String)> {
    let text = std::str::from_utf8(xml).map_err(|e| Error::Utf8 {
        at: Location {
            path: String::new(),
            offset: e.valid_up_to() as u64,
        },
    })?;
    let mut d = Decoder::new(text, None, Limits::default())?;
    let root = d.root()?;
    if !matches!(d.ns_of(&root), Some(NS_SOAP | NS_SOAP12)) || root.local() != "Envelope" {
        return Err(d.error_at(
            &root,
            format!("root element <{}> is not a SOAP Envelope", root.qname()),
        ));
    }
    while let Some(child) = d.next_child(&root)? {
        if child.local() == "Body" {
            return match d.next_child(&child)? {
                Some(el) => Ok((
                    d.ns_of(&el).unwrap_or("").to_string(),
                    el.local().to_string(),
                )),
                None => Err(d.error_at(&child, "the SOAP Body is empty")),
            };
        }
        d.skip(&child)?;
    }
    Err(d.error_at(&root, "the SOAP Envelope has no Body"))
}

/// Identifies the operation of a request from its path, SOAPAction header and body.
pub fn identify_request(
    path: &str,
    soap_action: Option<&str>,
    body: &[u8],
) -> Result<Identification> {
    let root = peek_body_root(body).ok();
    identify(
        Some(path),
        soap_action,
        root.as_ref().map(|(n, l)| (n.as_str(), l.as_str())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Operation;

    const REQ: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetConfig xmlns="http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService"><protocolVersion>2.90</protocolVersion></GetConfig></s:Body></s:Envelope>"#;

    #[test]
    fn content_encodings_decode_and_refuse_garbage() {
        let l = Limits::default();
        let x = xpress::encode(REQ.as_bytes());
        assert_eq!(
            decode_content(&ContentEncoding::Xpress, &x, &l).unwrap(),
            REQ.as_bytes()
        );
        assert!(decode_content(&ContentEncoding::Xpress, b"\x01\x02garbage", &l).is_err());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, REQ.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(
            decode_content(&ContentEncoding::Gzip, &gz, &l).unwrap(),
            REQ.as_bytes()
        );
        let small = Limits { max_body: 10, ..l };
        assert!(matches!(
            decode_content(&ContentEncoding::Gzip, &gz, &small),
            Err(Error::Limit { .. })
        ));
        assert!(decode_content(&ContentEncoding::Other("br".into()), b"", &l).is_err());
        assert_eq!(
            ContentEncoding::from_header(Some(" XPRESS ")),
            ContentEncoding::Xpress
        );
        assert!(accepts_xpress(Some("gzip, xpress")));
        assert!(!accepts_xpress(Some("gzip")));
    }

    #[test]
    fn identifies_from_body_without_decoding() {
        let id = identify_request(
            "/ClientWebService/client.asmx",
            Some("\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetConfig\""),
            REQ.as_bytes(),
        )
        .unwrap();
        assert_eq!(id.operation, Operation::GetConfig);
        assert!(id.disagreements.is_empty());
        assert!(peek_body_root(b"<x/>").is_err());
    }
}
