//! XML for the TUI: a foldable pretty-printed view of a SOAP body, and the facts the sequence
//! diff and the exchange detail need (fault code, driver pass, Truncated, cached-ID lists).
//!
//! Both read the text exactly as recorded (after Content-Encoding and Xpress): escaped
//! content such as core fragments is shown escaped, as on the wire.

use quick_xml::Reader;
use quick_xml::events::Event;

/// One line of pretty-printed XML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmlLine {
    /// Nesting depth.
    pub depth: usize,
    /// The text of the line.
    pub text: String,
    /// For an element with children: the index of its closing line (it can be folded).
    pub end: Option<usize>,
}

/// Pretty-prints a document, one element per line; an element holding only text stays on
/// one line. A document that stops parsing keeps the lines so far and a note why.
pub fn pretty(xml: &str) -> Vec<XmlLine> {
    enum Ev {
        Open(String, String),
        Close(String),
        Empty(String),
        Text(String),
    }
    let mut events = Vec::new();
    fn push_text(events: &mut Vec<Ev>, piece: &str) {
        match events.last_mut() {
            Some(Ev::Text(t)) => t.push_str(piece),
            _ => events.push(Ev::Text(piece.to_string())),
        }
    }
    let mut reader = Reader::from_str(xml);
    let mut problem = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => events.push(Ev::Open(lossy(&*e), lossy(e.name().into_inner()))),
            Ok(Event::End(e)) => events.push(Ev::Close(lossy(e.name().into_inner()))),
            Ok(Event::Empty(e)) => events.push(Ev::Empty(lossy(&*e))),
            // Text arrives in pieces split at entity references: joined back here.
            Ok(Event::Text(e)) => push_text(&mut events, &lossy(&*e)),
            Ok(Event::GeneralRef(e)) => push_text(&mut events, &format!("&{};", lossy(&*e))),
            Ok(Event::CData(e)) => events.push(Ev::Text(format!("<![CDATA[{}]]>", lossy(&*e)))),
            Ok(Event::Decl(e)) => events.push(Ev::Text(format!("<?{}?>", lossy(&*e)))),
            Ok(Event::Comment(e)) => events.push(Ev::Text(format!("<!--{}-->", lossy(&*e)))),
            Ok(Event::PI(e)) => events.push(Ev::Text(format!("<?{}?>", lossy(&*e)))),
            Ok(Event::DocType(e)) => events.push(Ev::Text(format!("<!DOCTYPE {}>", lossy(&*e)))),
            Ok(Event::Eof) => break,
            Err(e) => {
                problem = Some(format!(
                    "[XML stops parsing at byte {}: {e}]",
                    reader.buffer_position()
                ));
                break;
            }
        }
    }
    // Whitespace between elements is layout, not content.
    let events: Vec<Ev> = events
        .into_iter()
        .filter_map(|e| match e {
            Ev::Text(t) if t.trim().is_empty() => None,
            Ev::Text(t) => Some(Ev::Text(t.trim().to_string())),
            e => Some(e),
        })
        .collect();
    let mut lines: Vec<XmlLine> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let depth = open.len();
        match &events[i] {
            Ev::Open(tag, name) => match (events.get(i + 1), events.get(i + 2)) {
                (Some(Ev::Text(t)), Some(Ev::Close(_))) => {
                    match escaped_document(t) {
                        // XML carried as escaped text (the core fragment in <Xml>): shown
                        // unescaped and indented below its element, foldable like the rest.
                        Some(inner) => {
                            let open_at = lines.len();
                            lines.push(line(
                                depth,
                                format!("<{tag}> (escaped XML, shown unescaped)"),
                            ));
                            for mut l in inner {
                                l.depth += depth + 1;
                                l.end = l.end.map(|e| e + open_at + 1);
                                lines.push(l);
                            }
                            let end = lines.len();
                            lines[open_at].end = Some(end);
                            lines.push(line(depth, format!("</{name}>")));
                        }
                        None => lines.push(line(depth, format!("<{tag}>{t}</{name}>"))),
                    }
                    i += 2;
                }
                (Some(Ev::Close(_)), _) => {
                    lines.push(line(depth, format!("<{tag}></{name}>")));
                    i += 1;
                }
                _ => {
                    open.push(lines.len());
                    lines.push(line(depth, format!("<{tag}>")));
                }
            },
            Ev::Close(name) => {
                let depth = depth.saturating_sub(1);
                if let Some(o) = open.pop() {
                    let end = lines.len();
                    if let Some(l) = lines.get_mut(o) {
                        l.end = Some(end);
                    }
                }
                lines.push(line(depth, format!("</{name}>")));
            }
            Ev::Empty(tag) => lines.push(line(depth, format!("<{tag}/>"))),
            Ev::Text(t) => lines.push(line(depth, t.clone())),
        }
        i += 1;
    }
    if let Some(p) = problem {
        lines.push(line(0, p));
    }
    lines
}

/// The pretty lines of text that is an escaped XML document (`&lt;a …`), if it is one.
fn escaped_document(text: &str) -> Option<Vec<XmlLine>> {
    if !text.starts_with("&lt;") {
        return None;
    }
    let doc = quick_xml::escape::unescape(text).ok()?;
    let inner = pretty(&doc);
    // Something that does not parse stays as it was recorded.
    if inner
        .iter()
        .any(|l| l.text.starts_with("[XML stops parsing"))
    {
        return None;
    }
    Some(inner)
}

fn line(depth: usize, text: String) -> XmlLine {
    XmlLine {
        depth,
        text,
        end: None,
    }
}

/// A cookie as the detail screen summarizes it (never its data: cookies stay out of views
/// and logs beyond their size).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieInfo {
    /// The clear-text Expiration.
    pub expiration: String,
    /// Length of EncryptedData (base64 characters).
    pub data_len: usize,
}

/// What the TUI reads from one exchange's request and response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// SyncUpdates with SkipSoftwareSync=true.
    pub driver: bool,
    /// The fault's ErrorCode (or the faultstring's first word when there is none).
    pub fault: Option<String>,
    /// The response's Truncated.
    pub truncated: Option<bool>,
    /// A NewUpdate with IsLeaf=false.
    pub nonleaf_new: bool,
    /// Request InstalledNonLeafUpdateIDs.
    pub installed: Vec<i64>,
    /// Request OtherCachedUpdateIDs.
    pub other: Vec<i64>,
    /// Request CachedDriverIDs.
    pub drivers: Vec<i64>,
    /// Response NewUpdates revision ids.
    pub new_updates: Vec<i64>,
    /// Response ChangedUpdates revision ids.
    pub changed: Vec<i64>,
    /// Response OutOfScopeRevisionIDs.
    pub out_of_scope: Vec<i64>,
    /// The cookie the request presented.
    pub cookie: Option<CookieInfo>,
    /// The NewCookie of the response.
    pub new_cookie: Option<CookieInfo>,
}

impl Facts {
    /// For a software SyncUpdates page: whether the response asks for another page.
    pub fn continues(&self) -> Option<bool> {
        self.truncated.map(|t| t || self.nonleaf_new)
    }
}

/// Reads the facts of a request and a response document (either may be empty).
pub fn facts(request: &str, response: &str) -> Facts {
    let mut f = Facts::default();
    scan(request, |path, text| {
        let last = path.last().map(String::as_str).unwrap_or("");
        let parent = path.iter().rev().nth(1).map(String::as_str).unwrap_or("");
        let in_cookie = path.iter().any(|p| p == "cookie");
        match (parent, last) {
            ("parameters", "SkipSoftwareSync") => f.driver = text == "true",
            (list, "int") => {
                if let Ok(n) = text.parse() {
                    match list {
                        "InstalledNonLeafUpdateIDs" | "installedNonLeafUpdateIDs" => {
                            f.installed.push(n)
                        }
                        "OtherCachedUpdateIDs" => f.other.push(n),
                        "CachedDriverIDs" => f.drivers.push(n),
                        _ => {}
                    }
                }
            }
            (_, "Expiration") if in_cookie => {
                f.cookie.get_or_insert_with(Default::default).expiration = text.to_string()
            }
            (_, "EncryptedData") if in_cookie => {
                f.cookie.get_or_insert_with(Default::default).data_len = text.len()
            }
            _ => {}
        }
    });
    let mut faultstring = None;
    scan(response, |path, text| {
        let last = path.last().map(String::as_str).unwrap_or("");
        let parent = path.iter().rev().nth(1).map(String::as_str).unwrap_or("");
        let grand = path.iter().rev().nth(2).map(String::as_str).unwrap_or("");
        match (grand, parent, last) {
            (_, _, "ErrorCode") => f.fault = Some(text.to_string()),
            (_, _, "faultstring") => faultstring = Some(text.to_string()),
            (_, _, "Truncated") => f.truncated = Some(text == "true"),
            ("NewUpdates", "UpdateInfo", "ID") => push_int(&mut f.new_updates, text),
            ("NewUpdates", "UpdateInfo", "IsLeaf") if text == "false" => f.nonleaf_new = true,
            ("ChangedUpdates", "UpdateInfo", "ID") => push_int(&mut f.changed, text),
            (_, "OutOfScopeRevisionIDs", "int") => push_int(&mut f.out_of_scope, text),
            (_, "NewCookie", "Expiration") => {
                f.new_cookie.get_or_insert_with(Default::default).expiration = text.to_string()
            }
            (_, "NewCookie", "EncryptedData") => {
                f.new_cookie.get_or_insert_with(Default::default).data_len = text.len()
            }
            _ => {}
        }
    });
    if f.fault.is_none() && path_has(response, "Fault") {
        f.fault = Some(faultstring.unwrap_or_else(|| "fault".to_string()));
    }
    f
}

fn push_int(v: &mut Vec<i64>, text: &str) {
    if let Ok(n) = text.parse() {
        v.push(n);
    }
}

fn path_has(xml: &str, name: &str) -> bool {
    let mut found = false;
    scan_elements(xml, |n| found |= n == name);
    found
}

/// Calls `on_text(path of local names, text)` for every text node.
fn scan(xml: &str, mut on_text: impl FnMut(&[String], &str)) {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                text.clear();
                path.push(lossy(e.local_name().into_inner()))
            }
            Ok(Event::End(_)) => {
                let t = text.trim();
                if !t.is_empty() {
                    on_text(&path, t);
                }
                text.clear();
                path.pop();
            }
            Ok(Event::Text(t)) => text.push_str(&lossy(&*t)),
            Ok(Event::GeneralRef(r)) => {
                text.push('&');
                text.push_str(&lossy(&*r));
                text.push(';');
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

fn scan_elements(xml: &str, mut on: impl FnMut(&str)) {
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => on(&lossy(e.local_name().into_inner())),
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// Text of a quick-xml event body, lossy for bytes that are not UTF-8.
fn lossy(b: impl AsRef<[u8]>) -> String {
    String::from_utf8_lossy(b.as_ref()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_prints_nested_elements_with_fold_ranges() {
        let l = pretty("<a x=\"1\"><b>t</b><c><d/></c></a>");
        let texts: Vec<&str> = l.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            ["<a x=\"1\">", "<b>t</b>", "<c>", "<d/>", "</c>", "</a>"]
        );
        assert_eq!(l[0].end, Some(5));
        assert_eq!(l[2].end, Some(4));
        assert_eq!(l[3].depth, 2);
    }

    #[test]
    fn escaped_xml_text_is_shown_unescaped_and_foldable() {
        let l = pretty(
            "<r><Xml>&lt;a x=\"1\"&gt;&lt;b&gt;t&lt;/b&gt;&lt;/a&gt;</Xml><c>1 &lt; 2</c></r>",
        );
        let texts: Vec<&str> = l.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "<r>",
                "<Xml> (escaped XML, shown unescaped)",
                "<a x=\"1\">",
                "<b>t</b>",
                "</a>",
                "</Xml>",
                "<c>1 &lt; 2</c>",
                "</r>"
            ]
        );
        assert_eq!(l[1].end, Some(5));
        assert_eq!(l[2].end, Some(4));
        assert_eq!(l[3].depth, 3);
    }

    #[test]
    fn broken_xml_keeps_what_parsed_and_says_where() {
        let l = pretty("<a><b>t</b><c></a>");
        assert!(l.iter().any(|l| l.text == "<b>t</b>"));
        assert!(l.last().is_some_and(|l| l.text.contains("stops parsing")));
    }

    #[test]
    fn facts_of_a_sync_page_and_a_fault() {
        let req = "<s:Envelope xmlns:s=\"x\"><s:Body><SyncUpdates><cookie><Expiration>E</Expiration><EncryptedData>QUJD</EncryptedData></cookie><parameters><SkipSoftwareSync>false</SkipSoftwareSync><InstalledNonLeafUpdateIDs><int>1</int><int>2</int></InstalledNonLeafUpdateIDs><OtherCachedUpdateIDs><int>7</int></OtherCachedUpdateIDs></parameters></SyncUpdates></s:Body></s:Envelope>";
        let resp = "<Envelope><Body><R><SyncUpdatesResult><NewUpdates><UpdateInfo><ID>9</ID><IsLeaf>false</IsLeaf></UpdateInfo></NewUpdates><OutOfScopeRevisionIDs><int>7</int></OutOfScopeRevisionIDs><Truncated>false</Truncated></SyncUpdatesResult></R></Body></Envelope>";
        let f = facts(req, resp);
        assert!(!f.driver);
        assert_eq!(f.installed, [1, 2]);
        assert_eq!(f.other, [7]);
        assert_eq!(f.new_updates, [9]);
        assert_eq!(f.out_of_scope, [7]);
        assert_eq!(f.continues(), Some(true));
        assert_eq!(f.cookie.map(|c| c.data_len), Some(4));
        let fault = "<s:Envelope xmlns:s=\"x\"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>x</faultstring><detail><ErrorCode>CookieExpired</ErrorCode></detail></s:Fault></s:Body></s:Envelope>";
        assert_eq!(facts("", fault).fault.as_deref(), Some("CookieExpired"));
    }
}
