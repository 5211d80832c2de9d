//! Envelope wrappers in the shapes of reference 1.4 and section 8, typed accessors and the
//! two round-trip checks every operation uses.

use wusp::types::Cookie;
use wusp::values::{Base64, DateTime, Guid};
use wusp::{Envelope, Field};

/// Client web service namespace.
pub(crate) const CWS: &str =
    "http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService";
/// SimpleAuth web service namespace.
pub(crate) const SA: &str =
    "http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService";
/// Reporting web service namespace.
pub(crate) const RPT: &str = "http://www.microsoft.com/SoftwareDistribution";

/// Realistic opaque values (base64 of fixed bytes).
pub(crate) const AUTH_COOKIE_DATA: &str =
    "vfScPDiCEC/AF/+2YRCMY6g20GWIikCTmUOYzFXC6i+99Jw8OIIQL8AX/7ZhEIxj";
pub(crate) const COOKIE_DATA_1: &str =
    "P9a5BBFEnscYsfqSnBunLFLYnyVAyLOlbKnLlftj0A0/1rkEEUSexxix+pKcG6csUtifJUDIs6VsqcuV+2PQDQ==";
pub(crate) const COOKIE_DATA_2: &str =
    "3qN3ysD7LGv+h5OuKCvwCLZbOu9mh9MVIAdA/6CEe0/eo3fKwPssa/6Hk64oK/AItls672aH0xUgB0D/oIR7Tw==";
pub(crate) const COOKIE_DATA_3: &str =
    "6j1eWlxid4h3m6kuL5UmDqJ+VlOAHOrS582RNRuztSbqPV5aXGJ3iHebqS4vlSYOon5WU4Ac6tLnzZE1G7O1Jg==";
pub(crate) const SPEC_COOKIE_DATA: &str =
    "1PAuqv0anp3n0Qlyyo5H+nqYWCXDycHiSccmg8s+TxnU8C6q/RqenQ==";

/// The client ID of the spec examples (section 8 #3).
pub(crate) const SPEC_CLIENT_ID: &str = "5c7f4f80-3896-4d10-8a38-469286a0febc";
/// A native client ID (SusClientId).
pub(crate) const NATIVE_CLIENT_ID: &str = "0f8e6f3a-5b2c-4d71-9e0a-3c6b1d2e4f57";
/// Category revisions of the native core fragments (reference 3.7).
pub(crate) const CATEGORY_A: &str = "56309036-4C77-4DD9-951A-99EE9C246A94";
pub(crate) const CATEGORY_B: &str = "dd78b8a1-0b20-45c1-add6-4da72e9364cf";
pub(crate) const CATEGORY_B_PARENT: &str = "6964aab4-c5b5-43bd-a17d-ffb4346a8e1d";

/// A native WUA request: `s:` prefix, no XML declaration, nothing else declared (the
/// native client declares `xsi` locally where it needs it, reference 1.4).
pub(crate) fn native_request(body: &str) -> String {
    format!(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>{body}</s:Body></s:Envelope>"#
    )
}

/// A WSUS Client-service response: `s:`, no XML declaration, `xsi`/`xsd` on `s:Body`.
pub(crate) fn native_response(body: &str) -> String {
    format!(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">{body}</s:Body></s:Envelope>"#
    )
}

/// A WSUS SimpleAuth or Reporting response: XML declaration and the `soap:` prefix.
pub(crate) fn declared(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
}

/// A section 4 spec example: XML declaration, `soap:`, `soapenc` declared, pretty printed.
/// `body` is the operation element, indented by four spaces.
pub(crate) fn spec_example(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:soapenc=\"http://schemas.xmlsoap.org/soap/encoding/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">\n  <soap:Body>\n{body}\n  </soap:Body>\n</soap:Envelope>\n"
    )
}

/// `<int>` items, one per line at `indent` spaces (spec examples) or inline (`indent` 0).
pub(crate) fn int_items(ids: &[i32], indent: usize) -> String {
    ids.iter()
        .map(|i| {
            if indent == 0 {
                format!("<int>{i}</int>")
            } else {
                format!("\n{:indent$}<int>{i}</int>", "")
            }
        })
        .collect()
}

/// Escapes a fragment as .NET writes element text (`&`, `<`, `>`).
pub(crate) fn escape(fragment: &str) -> String {
    fragment
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Decodes a document, failing the test with the error and the document. The documents
/// here are in native, WSUS and spec-example shapes: each must be in the schema order the
/// model declares (rule T-13) and conform to the WSDL types and required elements as wusp
/// judges them (rule T-10), or the analyzer would flag real traffic.
pub(crate) fn decode(doc: &str) -> Envelope {
    let env = decode_any(doc);
    assert_eq!(
        env.nonconforming(),
        &[],
        "not conforming to the WSDL:\n{doc}"
    );
    env
}

/// Decodes a document that may hold values outside their WSDL types (tests of `Invalid`).
pub(crate) fn decode_any(doc: &str) -> Envelope {
    let env =
        Envelope::decode(doc.as_bytes()).unwrap_or_else(|e| panic!("decode failed: {e}\n{doc}"));
    assert_eq!(env.out_of_order(), &[], "out of schema order:\n{doc}");
    env
}

/// Decodes a document and checks that it encodes back to exactly the same bytes.
pub(crate) fn decode_exact(doc: &str) -> Envelope {
    let env = decode(doc);
    assert_eq!(env.encode(), doc, "decode → encode changed the document");
    env
}

/// Encodes an envelope built in code, decodes the output, checks that the decoded message
/// equals the built one and that re-encoding it gives the same bytes; returns both.
pub(crate) fn rebuild(env: &Envelope) -> (Envelope, String) {
    let xml = env.encode();
    let back = decode(&xml);
    assert_eq!(back.body, env.body, "decode(encode(x)) differs from x");
    assert_eq!(
        back.encode(),
        xml,
        "re-encoding the decoded envelope changed the bytes"
    );
    (back, xml)
}

/// A string field holding `v`.
pub(crate) fn s(v: &str) -> Field<String> {
    Field::Value(v.to_string())
}

/// A dateTime field holding `v`.
pub(crate) fn dt(v: &str) -> Field<DateTime> {
    Field::Value(DateTime(v.to_string()))
}

/// A GUID field holding `v`.
pub(crate) fn guid(v: &str) -> Field<Guid> {
    Field::Value(Guid(v.to_string()))
}

/// A base64 field holding `v` as written.
pub(crate) fn b64(v: &str) -> Field<Base64> {
    Field::Value(Base64(v.to_string()))
}

/// A cookie built in code.
pub(crate) fn cookie(expiration: &str, data: &str) -> Cookie {
    Cookie {
        expiration: dt(expiration),
        encrypted_data: b64(data),
        ..Default::default()
    }
}

/// The text of a string field, failing the test when it holds no value.
pub(crate) fn text(f: &Field<String>) -> &str {
    match f {
        Field::Value(v) => v,
        other => panic!("expected a string value, got {other:?}"),
    }
}

/// Upper-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The typed request of an envelope (`request!(env, SyncUpdates)`).
macro_rules! request {
    ($env:expr, $op:ident) => {
        match &$env.body {
            wusp::Body::Request(wusp::Request::$op(m)) => m,
            other => panic!("expected a {} request, got {other:?}", stringify!($op)),
        }
    };
}

/// Mutable access to the typed request of an envelope.
macro_rules! request_mut {
    ($env:expr, $op:ident) => {
        match &mut $env.body {
            wusp::Body::Request(wusp::Request::$op(m)) => m,
            other => panic!("expected a {} request, got {other:?}", stringify!($op)),
        }
    };
}

/// The typed response of an envelope (`response!(env, SyncUpdates)`).
macro_rules! response {
    ($env:expr, $op:ident) => {
        match &$env.body {
            wusp::Body::Response(wusp::Response::$op(m)) => m,
            other => panic!("expected a {} response, got {other:?}", stringify!($op)),
        }
    };
}

/// Mutable access to the typed response of an envelope.
macro_rules! response_mut {
    ($env:expr, $op:ident) => {
        match &mut $env.body {
            wusp::Body::Response(wusp::Response::$op(m)) => m,
            other => panic!("expected a {} response, got {other:?}", stringify!($op)),
        }
    };
}
