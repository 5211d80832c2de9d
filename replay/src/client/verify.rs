//! The sans-I/O core of `wutap replay CAPTURE --verify`: the recorded requests of one client
//! are sent again in order, with the cookies threaded (each recorded cookie replaced by the
//! latest one the live server issued), and every live response is compared with the
//! recorded one, XML-aware.
//!
//! The comparison walks both documents element by element: namespace URI and local name,
//! attributes (namespace declarations and prefixes do not count), trimmed text. The k-th
//! child of a given name is compared with the k-th child of that name, so a missing or extra
//! element is reported once, not as a cascade. Ignored, because they differ between any two
//! runs without saying anything about the server ([`VOLATILE`]): the cookie's
//! `EncryptedData` and `Expiration`, the authorization cookie's `CookieData`, and the times a
//! server derives from its clock (`LastChange` of GetConfig, `currentTime` / `clientTime`,
//! `ServerTime`). URLs that point at the server itself (file locations, auth service) compare
//! with the live server's address in place of the recorded one. A fault answered where the recording has a response (or the reverse) is a
//! difference in the element path.
//!
//! [`masked_request`] is the request-side counterpart used by the fidelity checks: a
//! request body with its volatile fields (cookie, times, cache lists, revision-id / digest
//! lists, events) removed, the rest byte for byte.

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use wusp::types::{AuthorizationCookie, Cookie};
use wusp::{Body, Envelope, Field, Operation, Request, Response};

use super::seed::{SeedError, SeedOptions, select};
use captures::Record;

/// Local names whose content is not compared (see the module documentation).
pub const VOLATILE: [&str; 7] = [
    "EncryptedData",
    "Expiration",
    "CookieData",
    "LastChange",
    "currentTime",
    "clientTime",
    "ServerTime",
];

/// One difference between a recorded and a live response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The recorded exchange id.
    pub exchange: u64,
    /// Its operation.
    pub operation: Operation,
    /// Element path (`/Envelope/Body/…/Name[k]`, `@attr` for an attribute), or `HTTP status`.
    pub path: String,
    /// The recorded value.
    pub expected: String,
    /// The live value.
    pub observed: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exchange {} {}: {}: expected {}, observed {}",
            self.exchange,
            self.operation.name(),
            self.path,
            self.expected,
            self.observed
        )
    }
}

/// One recorded call to send again.
#[derive(Clone, Debug)]
pub struct VerifyRequest {
    /// The recorded exchange id.
    pub exchange: u64,
    /// The operation.
    pub operation: Operation,
    /// The recorded request target path (without the server prefix).
    pub path: String,
    /// The recorded header lines, in order and case, with Host and Content-Length set for
    /// this request.
    pub headers: Vec<(String, String)>,
    /// The request body (the recorded one, cookies threaded).
    pub body: String,
}

struct RecordedCall {
    exchange: u64,
    /// The recorded Host header (the server's own URLs are compared with it swapped in).
    host: Option<String>,
    operation: Operation,
    path: String,
    headers: Vec<(String, String)>,
    request: Envelope,
    status: u16,
    response: Result<Vec<u8>, String>,
}

/// Replays the recorded requests of one client and compares the answers.
pub struct Verifier {
    calls: Vec<RecordedCall>,
    next: usize,
    cookie: Option<Cookie>,
    auth: Option<AuthorizationCookie>,
    /// The live server's Host.
    live_host: String,
    /// Recorded exchanges that could not be used, with the reason.
    pub warnings: Vec<String>,
    /// Which client was chosen.
    pub notes: Vec<String>,
}

impl Verifier {
    /// The recorded SOAP calls of one client (chosen as for seeding).
    pub fn from_capture(
        records: &[(u64, Record)],
        options: &SeedOptions,
    ) -> Result<Verifier, SeedError> {
        let sel = select(records, options)?;
        let mut warnings = sel.warnings;
        let mut calls = Vec::new();
        for c in &sel.calls {
            let request = match captures::wire::request_envelope(c.ex) {
                Ok(env) if matches!(env.body, Body::Request(_)) => env,
                Ok(_) => {
                    warnings.push(format!(
                        "line {}, exchange {}: skipped, the request is not a WUSP request",
                        c.line, c.ex.id
                    ));
                    continue;
                }
                Err(e) => {
                    warnings.push(format!(
                        "line {}, exchange {}: skipped, the request does not decode: {e}",
                        c.line, c.ex.id
                    ));
                    continue;
                }
            };
            calls.push(RecordedCall {
                exchange: c.ex.id,
                host: c.ex.request.header("Host").map(str::to_string),
                operation: c.op,
                path: c.ex.request.path().to_string(),
                headers: c
                    .ex
                    .request
                    .headers
                    .iter()
                    .map(|h| (h.name().to_string(), h.value().to_string()))
                    .collect(),
                request,
                status: c.ex.response.status,
                response: captures::wire::response_xml(&c.ex.response)
                    .map(|b| b.into_owned())
                    .map_err(|e| e.to_string()),
            });
        }
        Ok(Verifier {
            calls,
            next: 0,
            cookie: None,
            auth: None,
            live_host: String::new(),
            warnings,
            notes: sel.notes,
        })
    }

    /// Recorded calls to send.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True when the capture gave no call to send.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The next recorded request (cookies threaded), for a server reached as `host`; `None`
    /// once every call was sent. Feed the answer to [`Verifier::check`].
    pub fn next_request(&mut self, host: &str) -> Option<VerifyRequest> {
        let call = self.calls.get(self.next)?;
        self.next += 1;
        self.live_host = host.to_string();
        let mut env = call.request.clone();
        if let Body::Request(r) = &mut env.body {
            self.thread(r);
        }
        let body = env.encode();
        let headers = call
            .headers
            .iter()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("Host") {
                    host.to_string()
                } else if k.eq_ignore_ascii_case("Content-Length") {
                    body.len().to_string()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect();
        Some(VerifyRequest {
            exchange: call.exchange,
            operation: call.operation,
            path: call.path.clone(),
            headers,
            body,
        })
    }

    /// Replaces recorded cookies by the live ones.
    fn thread(&self, r: &mut Request) {
        let live = |f: &mut Field<Cookie>, c: &Option<Cookie>| {
            if let (Some(c), true) = (c, f.is_present()) {
                *f = Field::Value(c.clone());
            }
        };
        match r {
            Request::GetCookie(g) => {
                if let Some(a) = &self.auth {
                    g.auth_cookies = Field::Value(vec![a.clone()]);
                }
                // An oldCookie the recorded server issued is replaced by the live one.
                if g.old_cookie
                    .value()
                    .is_some_and(|c| c.encrypted_data.is_present())
                {
                    live(&mut g.old_cookie, &self.cookie);
                }
            }
            Request::RegisterComputer(g) => live(&mut g.cookie, &self.cookie),
            Request::SyncUpdates(g) => live(&mut g.cookie, &self.cookie),
            Request::RefreshCache(g) => live(&mut g.cookie, &self.cookie),
            Request::GetExtendedUpdateInfo(g) => live(&mut g.cookie, &self.cookie),
            Request::GetExtendedUpdateInfo2(g) => live(&mut g.cookie, &self.cookie),
            Request::GetFileLocations(g) => live(&mut g.cookie, &self.cookie),
            Request::ReportEventBatch(g) => live(&mut g.cookie, &self.cookie),
            _ => {}
        }
    }

    /// Compares the live answer to the last request handed out with the recording; takes
    /// the cookies it carries. Returns the differences (empty: same answer).
    pub fn check(&mut self, status: u16, body: &[u8]) -> Vec<Difference> {
        let Some(call) = self.next.checked_sub(1).and_then(|i| self.calls.get(i)) else {
            return Vec::new();
        };
        let diff = |path: &str, expected: String, observed: String| Difference {
            exchange: call.exchange,
            operation: call.operation,
            path: path.to_string(),
            expected,
            observed,
        };
        let mut out = Vec::new();
        if status != call.status {
            out.push(diff(
                "HTTP status",
                call.status.to_string(),
                status.to_string(),
            ));
        }
        if let Ok(env) = Envelope::decode(body)
            && let Body::Response(r) = &env.body
        {
            match r {
                Response::GetAuthorizationCookie(g) => {
                    self.auth = g.result.value().cloned().or(self.auth.take());
                }
                Response::GetCookie(g) => {
                    self.cookie = g.result.value().cloned().or(self.cookie.take());
                }
                Response::SyncUpdates(g) => {
                    if let Some(c) = g.result.value().and_then(|i| i.new_cookie.value()) {
                        self.cookie = Some(c.clone());
                    }
                }
                Response::GetFileLocations(g) => {
                    if let Some(c) = g.result.value().and_then(|i| i.new_cookie.value()) {
                        self.cookie = Some(c.clone());
                    }
                }
                _ => {}
            }
        }
        let recorded = match &call.response {
            Ok(b) => b,
            Err(e) => {
                out.push(diff(
                    "body",
                    format!("(recorded body unusable: {e})"),
                    format!("{} bytes", body.len()),
                ));
                return out;
            }
        };
        let parse = |b: &[u8]| {
            std::str::from_utf8(b)
                .map_err(|e| e.to_string())
                .and_then(tree)
        };
        match (parse(recorded), parse(body)) {
            (Ok(a), Ok(mut b)) => {
                if let Some(h) = call.host.as_deref().filter(|h| *h != self.live_host) {
                    same_server(
                        &mut b,
                        &format!("//{}/", self.live_host),
                        &format!("//{h}/"),
                    );
                }
                let mut d = Vec::new();
                compare(&a, &b, &format!("/{}", a.local), &mut d);
                out.extend(d.into_iter().map(|(p, e, o)| diff(&p, e, o)));
            }
            (Err(e), _) => out.push(diff(
                "body",
                format!("(recorded body is not XML: {e})"),
                String::new(),
            )),
            (Ok(_), Err(e)) => out.push(diff(
                "body",
                "an XML document".into(),
                format!("not XML: {e}"),
            )),
        }
        out
    }

    /// Reports a transport failure for the last request handed out.
    pub fn check_error(&self, error: &str) -> Difference {
        let call = self.next.checked_sub(1).and_then(|i| self.calls.get(i));
        Difference {
            exchange: call.map_or(0, |c| c.exchange),
            operation: call.map_or(Operation::GetConfig, |c| c.operation),
            path: "transport".into(),
            expected: call.map_or_else(String::new, |c| format!("HTTP {}", c.status)),
            observed: error.to_string(),
        }
    }
}

/// A parsed element: namespace URI, local name, attributes, text, children.
#[derive(Debug, Default)]
struct Node {
    ns: String,
    local: String,
    /// (namespace URI, local name) → value; namespace declarations left out.
    attrs: BTreeMap<(String, String), String>,
    text: String,
    children: Vec<Node>,
}

/// Parses a document into a tree with namespaces resolved.
fn tree(doc: &str) -> Result<Node, String> {
    let mut r = Reader::from_str(doc);
    let mut stack: Vec<(Node, Vec<(String, String)>)> = Vec::new();
    let mut scopes: Vec<(String, String)> = vec![("xml".into(), wusp_xml_ns())];
    let mut root = None;
    let mut raw_text = String::new();
    loop {
        let ev = r
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", r.buffer_position()))?;
        match ev {
            Event::Start(s) | Event::Empty(s) if root.is_some() => {
                return Err(format!(
                    "element <{}> after the root element",
                    s.name().as_ref()
                ));
            }
            Event::Start(ref s) | Event::Empty(ref s) => {
                flush_text(&mut raw_text, stack.last_mut().map(|(n, _)| n))?;
                let (node, decls) = start_node(s, &mut scopes)?;
                if matches!(ev, Event::Empty(_)) {
                    scopes.truncate(scopes.len() - decls.len());
                    match stack.last_mut() {
                        Some((p, _)) => p.children.push(node),
                        None => root = Some(node),
                    }
                } else {
                    stack.push((node, decls));
                }
            }
            Event::End(_) => {
                let Some((mut node, decls)) = stack.pop() else {
                    return Err("unbalanced end tag".into());
                };
                flush_text(&mut raw_text, Some(&mut node))?;
                node.text = node.text.trim().to_string();
                scopes.truncate(scopes.len() - decls.len());
                match stack.last_mut() {
                    Some((p, _)) => p.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => raw_text.push_str(&t),
            Event::GeneralRef(g) => {
                raw_text.push('&');
                raw_text.push_str(&g);
                raw_text.push(';');
            }
            Event::CData(c) => {
                flush_text(&mut raw_text, stack.last_mut().map(|(n, _)| n))?;
                if let Some((n, _)) = stack.last_mut() {
                    n.text.push_str(&c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("the document ends inside an element".into());
    }
    root.ok_or_else(|| "no root element".to_string())
}

/// URLs of the live server itself are written as the recorded server's.
fn same_server(n: &mut Node, live: &str, recorded: &str) {
    if n.text.contains(live) {
        n.text = n.text.replace(live, recorded);
    }
    for v in n.attrs.values_mut() {
        if v.contains(live) {
            *v = v.replace(live, recorded);
        }
    }
    for c in &mut n.children {
        same_server(c, live, recorded);
    }
}

fn wusp_xml_ns() -> String {
    "http://www.w3.org/XML/1998/namespace".into()
}

fn flush_text(raw: &mut String, node: Option<&mut Node>) -> Result<(), String> {
    if raw.is_empty() {
        return Ok(());
    }
    let text = wusp::xml::unescape(raw).map_err(|e| format!("text: {e}"))?;
    if let Some(n) = node {
        n.text.push_str(&text);
    }
    raw.clear();
    Ok(())
}

fn resolve(scopes: &[(String, String)], prefix: &str) -> String {
    scopes
        .iter()
        .rev()
        .find(|(p, _)| p == prefix)
        .map(|(_, u)| u.clone())
        .unwrap_or_default()
}

/// The node of a start tag; its namespace declarations are pushed on `scopes` (and
/// returned, so the caller pops them at the end tag).
fn start_node(
    s: &BytesStart<'_>,
    scopes: &mut Vec<(String, String)>,
) -> Result<(Node, Vec<(String, String)>), String> {
    let mut decls = Vec::new();
    let mut plain = Vec::new();
    for a in s.attributes() {
        let a = a.map_err(|e| format!("attribute: {e}"))?;
        let key = a.key.as_ref().to_string();
        let raw = a.value.to_string();
        let value = wusp::xml::unescape(&raw)
            .map_err(|e| format!("attribute {key}: {e}"))?
            .into_owned();
        if key == "xmlns" {
            decls.push((String::new(), value));
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            decls.push((p.to_string(), value));
        } else {
            plain.push((key, value));
        }
    }
    scopes.extend(decls.iter().cloned());
    let qname = s.name().as_ref().to_string();
    let (prefix, local) = qname.split_once(':').unwrap_or(("", &qname));
    let mut node = Node {
        ns: resolve(scopes, prefix),
        local: local.to_string(),
        ..Node::default()
    };
    for (k, v) in plain {
        let key = match k.split_once(':') {
            Some((p, l)) => (resolve(scopes, p), l.to_string()),
            None => (String::new(), k),
        };
        node.attrs.insert(key, v);
    }
    Ok((node, decls))
}

fn show(s: &str) -> String {
    const MAX: usize = 120;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}… ({} bytes)", s.len())
    } else {
        format!("{s:?}")
    }
}

fn name_of(n: &Node) -> String {
    if n.ns.is_empty() {
        n.local.clone()
    } else {
        format!("{{{}}}{}", n.ns, n.local)
    }
}

/// The children of `n` with this name.
fn named<'n>(n: &'n Node, ns: &str, local: &str) -> Vec<&'n Node> {
    n.children
        .iter()
        .filter(|c| c.ns == ns && c.local == local)
        .collect()
}

/// Compares two elements of the same name; pushes (path, expected, observed).
fn compare(a: &Node, b: &Node, path: &str, out: &mut Vec<(String, String, String)>) {
    if VOLATILE.contains(&a.local.as_str()) {
        return;
    }
    for (k, v) in &a.attrs {
        let at = format!("{path}/@{}", k.1);
        match b.attrs.get(k) {
            Some(w) if w == v => {}
            Some(w) => out.push((at, show(v), show(w))),
            None => out.push((at, show(v), "(absent)".into())),
        }
    }
    for (k, w) in &b.attrs {
        if !a.attrs.contains_key(k) {
            out.push((format!("{path}/@{}", k.1), "(absent)".into(), show(w)));
        }
    }
    if a.text != b.text {
        out.push((format!("{path}/text()"), show(&a.text), show(&b.text)));
    }
    // The k-th child of each name against the k-th of that name.
    let mut names: Vec<(&str, &str)> = Vec::new();
    for c in a.children.iter().chain(&b.children) {
        if !names.contains(&(c.ns.as_str(), c.local.as_str())) {
            names.push((c.ns.as_str(), c.local.as_str()));
        }
    }
    for (ns, local) in names {
        let (xa, xb) = (named(a, ns, local), named(b, ns, local));
        let many = xa.len().max(xb.len()) > 1;
        for i in 0..xa.len().max(xb.len()) {
            let p = if many {
                format!("{path}/{local}[{}]", i + 1)
            } else {
                format!("{path}/{local}")
            };
            match (xa.get(i), xb.get(i)) {
                (Some(x), Some(y)) => compare(x, y, &p, out),
                (Some(x), None) => out.push((p, format!("<{}>", name_of(x)), "(absent)".into())),
                (None, Some(y)) => out.push((p, "(absent)".into(), format!("<{}>", name_of(y)))),
                (None, None) => {}
            }
        }
    }
}

/// A request body with its volatile fields removed (cookie, authorization cookie, times,
/// cache lists, revision-id / identity / digest lists, event batch); everything else keeps
/// its recorded bytes. Two requests that differ only in volatile fields mask to the same
/// string.
pub fn masked_request(xml: &[u8]) -> Result<String, wusp::Error> {
    let mut env = Envelope::decode(xml)?;
    if let Body::Request(r) = &mut env.body {
        match r {
            Request::GetCookie(g) => {
                g.auth_cookies = Field::Absent;
                g.old_cookie = Field::Absent;
                g.last_change = Field::Absent;
                g.current_time = Field::Absent;
            }
            Request::RegisterComputer(g) => g.cookie = Field::Absent,
            Request::RefreshCache(g) => {
                g.cookie = Field::Absent;
                g.global_ids = Field::Absent;
            }
            Request::SyncUpdates(g) => {
                g.cookie = Field::Absent;
                if let Some(p) = g.parameters.value_mut() {
                    p.installed_non_leaf_update_ids = Field::Absent;
                    p.other_cached_update_ids = Field::Absent;
                    p.cached_driver_ids = Field::Absent;
                }
            }
            Request::GetExtendedUpdateInfo(g) => {
                g.cookie = Field::Absent;
                g.revision_ids = Field::Absent;
            }
            Request::GetExtendedUpdateInfo2(g) => {
                g.cookie = Field::Absent;
                g.update_ids = Field::Absent;
            }
            Request::GetFileLocations(g) => {
                g.cookie = Field::Absent;
                g.file_digests = Field::Absent;
            }
            Request::ReportEventBatch(g) => {
                g.cookie = Field::Absent;
                g.client_time = Field::Absent;
                g.event_batch = Field::Absent;
            }
            _ => {}
        }
    }
    Ok(env.encode())
}

/// A line diff of two XML bodies split at tag boundaries (for test failures and reports).
pub fn xml_diff(expected: &str, observed: &str) -> String {
    let split = |s: &str| -> Vec<String> {
        s.replace("><", ">\n<")
            .lines()
            .map(str::to_string)
            .collect()
    };
    let (a, b) = (split(expected), split(observed));
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            _ => {
                // Resynchronise on the next common line (bounded look-ahead).
                let found = (0..40).find_map(|d| {
                    (0..=d).find_map(|k| {
                        let (ii, jj) = (i + k, j + d - k);
                        (ii < a.len() && jj < b.len() && a[ii] == b[jj]).then_some((ii, jj))
                    })
                });
                let (ni, nj) = found.unwrap_or((a.len(), b.len()));
                for x in &a[i..ni] {
                    out.push_str(&format!("- {x}\n"));
                }
                for y in &b[j..nj] {
                    out.push_str(&format!("+ {y}\n"));
                }
                i = ni;
                j = nj;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn diffs(a: &str, b: &str) -> Vec<(String, String, String)> {
        let (x, y) = (tree(a).unwrap(), tree(b).unwrap());
        let mut out = Vec::new();
        compare(&x, &y, &format!("/{}", x.local), &mut out);
        out
    }

    #[test]
    fn prefixes_and_declarations_do_not_count_namespaces_do() {
        let a = r#"<s:Envelope xmlns:s="urn:soap"><s:Body><R xmlns="urn:w"><A x="1">t</A></R></s:Body></s:Envelope>"#;
        let b = r#"<soap:Envelope xmlns:soap="urn:soap" xmlns:w="urn:w"><soap:Body><w:R><w:A x="1"> t </w:A></w:R></soap:Body></soap:Envelope>"#;
        assert!(diffs(a, b).is_empty(), "{:?}", diffs(a, b));
        let c = r#"<s:Envelope xmlns:s="urn:soap"><s:Body><R xmlns="urn:other"><A x="1">t</A></R></s:Body></s:Envelope>"#;
        let d = diffs(a, c);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d.iter().all(|(p, ..)| p == "/Envelope/Body/R"), "{d:?}");
    }

    #[test]
    fn differences_are_reported_by_path_volatile_fields_ignored() {
        let a = "<R><NewCookie><Expiration>2026-10-04T16:03:35Z</Expiration><EncryptedData>AAA=</EncryptedData></NewCookie><U><ID>1</ID></U><U><ID>2</ID></U><T a=\"x\">yes</T></R>";
        let b = "<R><NewCookie><Expiration>2027-01-01T00:00:00Z</Expiration><EncryptedData>BBB=</EncryptedData></NewCookie><U><ID>1</ID></U><U><ID>3</ID></U><T a=\"y\">yes</T><Extra/></R>";
        let d = diffs(a, b);
        assert_eq!(
            d,
            vec![
                ("/R/U[2]/ID/text()".into(), "\"2\"".into(), "\"3\"".into()),
                ("/R/T/@a".into(), "\"x\"".into(), "\"y\"".into()),
                ("/R/Extra".into(), "(absent)".into(), "<Extra>".into()),
            ]
        );
    }

    #[test]
    fn escaped_text_compares_by_value() {
        assert!(diffs("<R>a&amp;b&#x41;</R>", "<R><![CDATA[a&bA]]></R>").is_empty());
        assert!(tree("<R><A></R>").is_err());
    }

    #[test]
    fn masking_keeps_everything_but_the_volatile_fields() {
        let a = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><SyncUpdates xmlns="http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService"><cookie><Expiration>2026-10-04T16:03:35Z</Expiration><EncryptedData>AAA=</EncryptedData></cookie><parameters><ExpressQuery>false</ExpressQuery><InstalledNonLeafUpdateIDs><int>1</int></InstalledNonLeafUpdateIDs><SkipSoftwareSync>false</SkipSoftwareSync><AlsoPerformRegularSync>true</AlsoPerformRegularSync></parameters></SyncUpdates></s:Body></s:Envelope>"#;
        let b = a
            .replace("AAA=", "BBB=")
            .replace("<int>1</int>", "<int>1</int><int>2</int>");
        assert_eq!(
            masked_request(a.as_bytes()).unwrap(),
            masked_request(b.as_bytes()).unwrap()
        );
        let m = masked_request(a.as_bytes()).unwrap();
        assert!(
            m.contains("<AlsoPerformRegularSync>true</AlsoPerformRegularSync>"),
            "{m}"
        );
        assert!(!m.contains("cookie"), "{m}");
        let c = a.replace(">true<", ">false<");
        assert_ne!(m, masked_request(c.as_bytes()).unwrap());
        let diff = xml_diff(&m, &masked_request(c.as_bytes()).unwrap());
        assert!(diff.contains("- <AlsoPerformRegularSync>true"), "{diff}");
        assert!(diff.contains("+ <AlsoPerformRegularSync>false"), "{diff}");
    }
}
