//! The lossless XML layer under every typed message.
//!
//! Decoding is a recursive descent over `quick_xml` events with our own namespace scopes
//! (names are matched by namespace URI, never by prefix), limits against hostile input, and
//! errors that carry the element path and byte offset.
//!
//! Losslessness: every field is a [`Field`], which keeps *absent*, `xsi:nil`, *empty* and
//! *invalid* apart from a value. Every decoded structure remembers its [`Source`]: the
//! document it came from and where each child element sits. Encoding a structure that has a
//! source patches it: a child whose value is unchanged is copied byte for byte, elements the
//! model does not know (native Windows sends some) stay where they were, text and comments
//! between children are kept, and only changed fields are written anew. So decode → encode
//! reproduces any document byte for byte, and an edit changes only the edited element.
//! Values built in code (no source) are written in wutap's canonical form.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::error::{Error, Location, Result};

/// The XML Schema instance namespace (`xsi:nil`).
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The XML Schema namespace (`xsd`), declared on envelopes wutap writes.
pub const NS_XSD: &str = "http://www.w3.org/2001/XMLSchema";

/// Limits applied while decoding, against hostile or broken input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest document accepted, in bytes.
    pub max_body: usize,
    /// Deepest element nesting accepted.
    pub max_depth: u32,
    /// Most elements accepted in one document.
    pub max_elements: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 256 << 20,
            max_depth: 128,
            max_elements: 20_000_000,
        }
    }
}

/// One element's value in its four wire states plus the decoded value.
///
/// `Absent`, `Nil` (`xsi:nil="true"`) and `Empty` (`<Name/>`) are distinct on the wire
/// and stay distinct here; `Invalid` keeps text that does not parse as the schema type (an
/// analyzer reports it, rule T-10) instead of failing the whole message.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Field<T> {
    /// The element is not there.
    #[default]
    Absent,
    /// The element carries `xsi:nil="true"`.
    Nil,
    /// The element is there with no content.
    Empty,
    /// The element holds a value.
    Value(T),
    /// The element holds text that is not a valid value of its type (kept verbatim).
    Invalid(String),
}

impl<T> Field<T> {
    /// The value, if the element holds one.
    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
    /// Mutable access to the value, if any.
    pub fn value_mut(&mut self) -> Option<&mut T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
    /// Consumes the field and returns its value, if any.
    pub fn into_value(self) -> Option<T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
    /// True when the element is not in the document.
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
    /// True when the element is in the document (in any state).
    pub fn is_present(&self) -> bool {
        !self.is_absent()
    }
    /// True when the element is present but holds text that is not a valid value.
    pub fn is_invalid(&self) -> bool {
        matches!(self, Field::Invalid(_))
    }
}

impl<T> From<T> for Field<T> {
    fn from(v: T) -> Self {
        Field::Value(v)
    }
}

impl<T> Field<Vec<T>> {
    /// The items of an array field; absent, nil and empty arrays are all empty lists
    /// (reference 1.4: "treat the first three as empty list").
    pub fn items(&self) -> &[T] {
        match self {
            Field::Value(v) => v,
            _ => &[],
        }
    }
    /// An array field: the items, or `Empty` (`<Name />`) for an empty list.
    pub fn list(items: Vec<T>) -> Self {
        if items.is_empty() {
            Field::Empty
        } else {
            Field::Value(items)
        }
    }
    /// An array field: the items, or `Absent` for an empty list (native WUA omits empty arrays).
    pub fn list_or_absent(items: Vec<T>) -> Self {
        if items.is_empty() {
            Field::Absent
        } else {
            Field::Value(items)
        }
    }
    /// Sets the array, writing `Empty` for an empty list.
    pub fn set_items(&mut self, items: Vec<T>) {
        *self = if items.is_empty() {
            Field::Empty
        } else {
            Field::Value(items)
        };
    }
}

/// Where a decoded structure came from: the document and the layout of its children.
///
/// It compares equal to every other `Source`, so structural equality of messages ignores
/// where they were decoded from. `Source::default()` means "built in code".
#[derive(Clone, Default)]
pub struct Source(Option<Arc<SourceInner>>);

impl PartialEq for Source {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Source {}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Source(code)"),
            Some(s) => write!(f, "Source(bytes {}..{})", s.begin, s.end),
        }
    }
}

impl Source {
    /// True when the value was decoded from a document.
    pub fn is_decoded(&self) -> bool {
        self.0.is_some()
    }
    /// The byte range of the element in its document, when decoded.
    pub fn span(&self) -> Option<std::ops::Range<usize>> {
        self.0.as_ref().map(|s| s.begin as usize..s.end as usize)
    }
    /// The exact bytes of the element as decoded, when decoded.
    pub fn raw(&self) -> Option<&str> {
        self.0
            .as_ref()
            .map(|s| &s.doc[s.begin as usize..s.end as usize])
    }
}

/// Namespace bindings in scope: `(prefix, uri)`, `""` being the default namespace.
pub(crate) type Scope = Arc<[(Box<str>, Box<str>)]>;

pub(crate) struct SourceInner {
    doc: Arc<str>,
    /// Bindings in scope inside the element (its own declarations last).
    scope: Scope,
    /// How many of the last `scope` entries the element's own start tag declares.
    own_decls: u32,
    begin: u32,
    content: u32,
    end: u32,
    local: Box<str>,
    /// The element's own namespace URI (empty for none).
    ns: Box<str>,
    slots: Box<[Slot]>,
    /// The element is self-closing or nil: it can be copied whole but not patched.
    whole_only: bool,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    field: u16,
    begin: u32,
    end: u32,
}

const UNKNOWN_SLOT: u16 = u16::MAX;

/// One child element of a decoded structure's source, handed to [`XmlValue::patch_field`].
#[derive(Clone, Copy)]
pub struct SlotRef<'s> {
    src: &'s SourceInner,
    slot: &'s Slot,
}

/// An element start as the decoder hands it to typed decoding.
#[derive(Clone, Debug)]
pub struct Start<'a> {
    raw_name: &'a str,
    local: &'a str,
    ns: Option<u16>,
    begin: u64,
    content: u64,
    empty: bool,
    nil: bool,
    own_decls: u32,
}

impl<'a> Start<'a> {
    /// The element's local name.
    pub fn local(&self) -> &'a str {
        self.local
    }
    /// The element's qualified name as written.
    pub fn qname(&self) -> &'a str {
        self.raw_name
    }
    /// Byte offset of the `<` of the start tag.
    pub fn offset(&self) -> u64 {
        self.begin
    }
}

/// Streaming decoder over one document with namespace scopes, limits and location tracking.
pub struct Decoder<'a> {
    doc: &'a str,
    arc: Option<Arc<str>>,
    reader: Reader<&'a [u8]>,
    base: u64,
    uris: Vec<Cow<'a, str>>,
    bindings: Vec<(Cow<'a, str>, u16, u32)>,
    scope_cache: Option<Scope>,
    depth: u32,
    path: Vec<&'a str>,
    elements: u64,
    limits: Limits,
    saw_text: bool,
    last_end_begin: u64,
    /// Children met out of their schema order (rule T-13), the first [`MAX_OUT_OF_ORDER`].
    out_of_order: Vec<OutOfOrder>,
    /// Elements that do not conform to their WSDL type or occurrence (rule T-10), the
    /// first [`MAX_NONCONFORMING`].
    nonconforming: Vec<Nonconforming>,
    /// Above zero while decoding what is not judged against the WSDL types: fields the
    /// WSDL types more loosely than wusp, and SOAP Fault contents.
    unchecked: u32,
    /// Set by [`Decoder::watch_namespace`]: the first element outside a namespace.
    watch: Option<NsWatch<'a>>,
}

/// How many out-of-order children one decoder records (the rest are not kept).
pub const MAX_OUT_OF_ORDER: usize = 32;

/// A child element met after a sibling that its structure's schema sequence puts later
/// (rule T-13: XmlSerializer-based peers are order-sensitive).
///
/// Expected: `<expected_first>` before `<met_first>`; observed the other way round. Only
/// elements of the model count: unknown and foreign-namespace children have no place in the
/// sequence, and a repeated single-valued element is itself unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutOfOrder {
    /// The parent element's path of local names from the document root (`/`-separated).
    pub parent: String,
    /// The element the schema puts first, met second.
    pub expected_first: &'static str,
    /// The element the schema puts later, met first.
    pub met_first: &'static str,
    /// Byte offset of the misplaced element (`expected_first`) in the document.
    pub offset: u64,
}

/// How many WSDL nonconformities one decoder records (the rest are not kept).
pub const MAX_NONCONFORMING: usize = 32;

/// The longest element text a [`Nonconforming`] keeps, in characters.
pub const MAX_NONCONFORMING_TEXT: usize = 64;

/// An element that does not conform to the WSDL (rule T-10): text that is not a value of
/// its type, or a `minOccurs=1` element missing from its parent.
///
/// Only what wusp types exactly as the WSDL does is judged: fields the WSDL types more
/// loosely (`Deployment/Deadline` is a string there) and SOAP Fault contents are not, and
/// `xsi:nil` counts as present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nonconforming {
    /// The parent element's path of local names from the document root (`/`-separated).
    pub parent: String,
    /// The element's local name.
    pub element: String,
    /// What is wrong with it.
    pub kind: NonconformingKind,
    /// Byte offset of the element (invalid) or of the parent's end (missing).
    pub offset: u64,
}

/// What makes an element nonconforming (rule T-10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NonconformingKind {
    /// The text is not a value of the WSDL type (text truncated to
    /// [`MAX_NONCONFORMING_TEXT`] characters).
    Invalid {
        /// The text as written (unescaped, truncated).
        text: String,
        /// The WSDL type, e.g. `xs:int`.
        expected: &'static str,
    },
    /// A `minOccurs=1` element is not there.
    Missing,
}

impl fmt::Display for Nonconforming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parent = self
            .parent
            .split_once("/Body/")
            .map_or(self.parent.as_str(), |(_, p)| p);
        match &self.kind {
            NonconformingKind::Invalid { text, expected } => write!(
                f,
                "<{}> in <{parent}> holds {text:?}, not an {expected}",
                self.element
            ),
            NonconformingKind::Missing => {
                write!(f, "<{parent}> has no <{}> (minOccurs=1)", self.element)
            }
        }
    }
}

/// The namespace watched for, and the first element seen outside it (qname, namespace).
struct NsWatch<'a> {
    ns: Option<u16>,
    found: Option<(&'a str, Option<u16>)>,
    /// Inside an element being skipped (whose attributes a plain skip would not read).
    skipping: u32,
}

/// An element outside the namespace a [`Decoder`] watched for (rule T-04).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignElement {
    /// Its qualified name as written.
    pub qname: String,
    /// Its namespace URI (empty for none).
    pub namespace: String,
}

impl<'a> Decoder<'a> {
    /// A decoder over `doc`. With `source` set, decoded structures remember it (lossless mode).
    pub fn new(doc: &'a str, source: Option<Arc<str>>, limits: Limits) -> Result<Self> {
        if doc.len() > limits.max_body {
            return Err(Error::Limit {
                what: "body size",
                limit: limits.max_body as u64,
                at: Location::default(),
            });
        }
        Ok(Self::with_base(doc, source, limits, 0))
    }

    fn reader_over(text: &'a str) -> Reader<&'a [u8]> {
        let mut reader = Reader::from_str(text);
        let cfg = reader.config_mut();
        // End names are checked by the decoder itself, which lets it jump over long text.
        cfg.check_end_names = false;
        cfg.allow_unmatched_ends = true;
        cfg.expand_empty_elements = false;
        cfg.trim_text_start = false;
        cfg.trim_text_end = false;
        reader
    }

    /// Moves the reader to absolute offset `at` (the caller has consumed everything before).
    ///
    /// `doc[at..]` must start with `<`: a fresh reader drops a leading U+FEFF as a byte order
    /// mark, which would lose a character and shift every later offset.
    fn jump(&mut self, at: usize) {
        debug_assert!(self.doc[at..].starts_with('<'));
        self.reader = Self::reader_over(&self.doc[at..]);
        self.base = at as u64;
    }

    fn check_end(&self, begin: u64, got: &str, expected: &str) -> Result<()> {
        if got == expected {
            return Ok(());
        }
        Err(Error::Xml {
            at: self.at(begin),
            message: format!("end tag </{got}> does not match <{expected}>"),
        })
    }

    fn with_base(doc: &'a str, arc: Option<Arc<str>>, limits: Limits, base: u64) -> Self {
        let reader = Self::reader_over(doc);
        // The reader skips a leading byte order mark without counting it in its positions.
        let bom = if doc.starts_with('\u{feff}') { 3 } else { 0 };
        Decoder {
            doc,
            arc,
            reader,
            base: base + bom,
            uris: Vec::new(),
            bindings: Vec::new(),
            scope_cache: None,
            depth: 0,
            path: Vec::new(),
            elements: 0,
            limits,
            saw_text: false,
            last_end_begin: 0,
            out_of_order: Vec::new(),
            nonconforming: Vec::new(),
            unchecked: 0,
            watch: None,
        }
    }

    /// A decoder over one element of a source, with that source's bindings in scope.
    fn for_slot(src: &'a SourceInner, slot: &Slot) -> Decoder<'a> {
        let doc = &src.doc[..slot.end as usize];
        let mut d = Decoder::with_base(doc, None, Limits::default(), 0);
        // Position the reader at the slot: quick-xml reads from a slice, so give it the tail.
        d.jump(slot.begin as usize);
        for (p, u) in src.scope.iter() {
            let id = d.intern(Cow::Borrowed(u));
            d.bindings.push((Cow::Borrowed(p), id, 0));
        }
        d
    }

    /// Current absolute byte offset.
    pub fn pos(&self) -> u64 {
        self.base + self.reader.buffer_position()
    }

    /// The namespace bindings in scope now, outermost first.
    pub fn bindings_in_scope(&self) -> Vec<(String, String)> {
        self.bindings
            .iter()
            .map(|(p, u, _)| (p.to_string(), self.uris[*u as usize].to_string()))
            .collect()
    }

    /// The document being decoded.
    pub fn doc(&self) -> &'a str {
        self.doc
    }

    fn at(&self, offset: u64) -> Location {
        Location {
            path: self.path.join("/"),
            offset,
        }
    }

    /// An error at the current position.
    pub fn error(&self, message: impl Into<String>) -> Error {
        Error::Soap {
            at: self.at(self.pos()),
            message: message.into(),
        }
    }

    /// An error at the start of `start`.
    pub fn error_at(&self, start: &Start<'_>, message: impl Into<String>) -> Error {
        Error::Soap {
            at: self.at(start.begin),
            message: message.into(),
        }
    }

    fn intern(&mut self, uri: Cow<'a, str>) -> u16 {
        if let Some(i) = self.uris.iter().position(|u| *u == uri) {
            return i as u16;
        }
        self.uris.push(uri);
        (self.uris.len() - 1) as u16
    }

    /// The namespace URI of an element, if it has one.
    pub fn ns_of(&self, start: &Start<'_>) -> Option<&str> {
        start.ns.map(|i| &*self.uris[i as usize])
    }

    /// True when two elements are in the same namespace.
    pub fn same_ns(&self, a: &Start<'_>, b: &Start<'_>) -> bool {
        a.ns == b.ns
    }

    fn resolve(&self, prefix: &str) -> Option<u16> {
        self.bindings
            .iter()
            .rev()
            .find(|(p, _, _)| p == prefix)
            .map(|(_, u, _)| *u)
    }

    fn read(&mut self) -> Result<(u64, Event<'a>)> {
        let before = self.pos();
        match self.reader.read_event() {
            Ok(ev) => Ok((before, ev)),
            Err(e) => {
                let offset = self.base + self.reader.error_position();
                Err(Error::Xml {
                    at: self.at(offset),
                    message: e.to_string(),
                })
            }
        }
    }

    fn open(&mut self, begin: u64, bs: &BytesStart<'a>, empty: bool) -> Result<Start<'a>> {
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(Error::Limit {
                what: "element count",
                limit: self.limits.max_elements,
                at: self.at(begin),
            });
        }
        if self.depth + 1 > self.limits.max_depth {
            return Err(Error::Limit {
                what: "nesting depth",
                limit: self.limits.max_depth as u64,
                at: self.at(begin),
            });
        }
        // Slice names out of the document itself so they live as long as it does.
        let name_len = bs.name().as_ref().len();
        let tag_from = begin as usize + 1;
        let tag_to = (self.pos() as usize)
            .saturating_sub(1)
            .max(tag_from + name_len);
        let raw_name: &'a str = &self.doc[tag_from..tag_from + name_len];
        let attrs_raw: &'a str = &self.doc[tag_from + name_len..tag_to];
        let (prefix, local) = split_qname(raw_name);
        let depth = self.depth + 1;
        let mut own_decls = 0;
        let mut nil = false;
        if !attrs_raw
            .trim_matches(|c: char| c.is_ascii_whitespace() || c == '/')
            .is_empty()
        {
            let mut nil_candidates: Vec<(&'a str, bool)> = Vec::new();
            for attr in parse_attrs(attrs_raw) {
                let attr = match attr {
                    Ok(attr) => attr,
                    // A plain skip does not read attributes: no error there either.
                    Err(_) if self.watch.as_ref().is_some_and(|w| w.skipping > 0) => break,
                    Err(e) => {
                        return Err(Error::Xml {
                            at: self.at(begin),
                            message: format!("bad attribute in <{raw_name}>: {e}"),
                        });
                    }
                };
                let key = attr.key;
                if key == "xmlns" || key.starts_with("xmlns:") {
                    let p = key
                        .strip_prefix("xmlns")
                        .unwrap_or("")
                        .trim_start_matches(':');
                    let id = self.intern(attr.value);
                    self.bindings.push((Cow::Borrowed(p), id, depth));
                    own_decls += 1;
                    self.scope_cache = None;
                } else if let Some((p, "nil")) = key.split_once(':') {
                    let v = attr.value.trim();
                    nil_candidates.push((p, v == "true" || v == "1"));
                }
            }
            for (p, is_true) in nil_candidates {
                if is_true && self.resolve(p).map(|i| &*self.uris[i as usize]) == Some(NS_XSI) {
                    nil = true;
                }
            }
        }
        // An undeclared prefix is tolerated: the element simply has no namespace.
        let ns = self.resolve(prefix.unwrap_or(""));
        let ns = if prefix.is_none() && ns.is_some_and(|i| self.uris[i as usize].is_empty()) {
            None
        } else {
            ns
        };
        if let Some(w) = &mut self.watch
            && w.found.is_none()
            && w.ns != ns
        {
            w.found = Some((raw_name, ns));
        }
        self.path.push(local);
        if empty {
            // An empty element closes at once; its declarations apply only to itself.
            self.path.pop();
            self.pop_bindings(depth);
        } else {
            self.depth = depth;
        }
        Ok(Start {
            raw_name,
            local,
            ns,
            begin,
            content: self.pos(),
            empty,
            nil,
            own_decls,
        })
    }

    fn pop_bindings(&mut self, depth: u32) {
        while self
            .bindings
            .last()
            .is_some_and(|b| b.2 >= depth && b.2 != 0)
        {
            self.bindings.pop();
            self.scope_cache = None;
        }
    }

    fn close(&mut self) {
        let depth = self.depth;
        self.pop_bindings(depth);
        self.depth = depth.saturating_sub(1);
        self.path.pop();
    }

    /// The bindings in scope now.
    fn scope(&mut self) -> Scope {
        if let Some(s) = &self.scope_cache {
            return s.clone();
        }
        let s: Scope = self
            .bindings
            .iter()
            .map(|(p, u, _)| (Box::from(&**p), Box::from(&*self.uris[*u as usize])))
            .collect();
        self.scope_cache = Some(s.clone());
        s
    }

    /// Reads the prolog up to and including the root start tag.
    pub fn root(&mut self) -> Result<Start<'a>> {
        loop {
            let (begin, ev) = self.read()?;
            match ev {
                Event::Start(bs) => return self.open(begin, &bs, false),
                Event::Empty(bs) => return self.open(begin, &bs, true),
                Event::DocType(_) => return Err(Error::Dtd { at: self.at(begin) }),
                Event::Eof => {
                    return Err(Error::Soap {
                        at: self.at(begin),
                        message: "document has no root element".into(),
                    });
                }
                Event::Text(t) if !is_blank(&t) => {
                    return Err(Error::Xml {
                        at: self.at(begin),
                        message: "text before the root element".into(),
                    });
                }
                _ => {}
            }
        }
    }

    /// Checks that nothing but whitespace, comments and PIs follow the root element.
    pub fn finish(&mut self) -> Result<()> {
        loop {
            let (begin, ev) = self.read()?;
            match ev {
                Event::Eof => return Ok(()),
                Event::Start(_) | Event::Empty(_) => {
                    return Err(Error::Xml {
                        at: self.at(begin),
                        message: "a second root element".into(),
                    });
                }
                Event::Text(t) if !is_blank(&t) => {
                    return Err(Error::Xml {
                        at: self.at(begin),
                        message: "text after the root element".into(),
                    });
                }
                Event::DocType(_) => return Err(Error::Dtd { at: self.at(begin) }),
                _ => {}
            }
        }
    }

    /// The next child element of `parent`, or `None` after `parent`'s end tag.
    pub fn next_child(&mut self, parent: &Start<'a>) -> Result<Option<Start<'a>>> {
        if parent.empty {
            return Ok(None);
        }
        loop {
            let (begin, ev) = self.read()?;
            match ev {
                Event::Start(bs) => return self.open(begin, &bs, false).map(Some),
                Event::Empty(bs) => return self.open(begin, &bs, true).map(Some),
                Event::End(end) => {
                    self.check_end(begin, end.name().as_ref(), parent.raw_name)?;
                    self.last_end_begin = begin;
                    self.close();
                    return Ok(None);
                }
                Event::Text(t) => {
                    if !is_blank(&t) {
                        self.saw_text = true;
                    }
                }
                Event::CData(_) => self.saw_text = true,
                Event::GeneralRef(r) => {
                    self.check_ref(begin, &r)?;
                    self.saw_text = true;
                }
                Event::DocType(_) => return Err(Error::Dtd { at: self.at(begin) }),
                Event::Eof => return Err(self.eof(begin)),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
            }
        }
    }

    fn eof(&self, begin: u64) -> Error {
        Error::Xml {
            at: self.at(begin),
            message: format!(
                "document ends inside <{}>",
                self.path.last().copied().unwrap_or("")
            ),
        }
    }

    fn check_ref(&self, begin: u64, r: &quick_xml::events::BytesRef<'_>) -> Result<Option<char>> {
        if r.is_char_ref() {
            return match r.resolve_char_ref() {
                Ok(Some(c)) => Ok(Some(c)),
                _ => Err(Error::Xml {
                    at: self.at(begin),
                    message: "bad character reference".into(),
                }),
            };
        }
        let name: &str = r;
        match predefined(name) {
            Some(c) => Ok(Some(c)),
            None => Err(Error::Entity {
                name: name.to_string(),
                at: self.at(begin),
            }),
        }
    }

    /// Starts watching the elements opened from now on (skipped ones included) for the
    /// first one outside `start`'s namespace; [`Decoder::end_watch`] tells which it was.
    pub fn watch_namespace(&mut self, start: &Start<'a>) {
        self.watch = Some(NsWatch {
            ns: start.ns,
            found: None,
            skipping: 0,
        });
    }

    /// Stops watching; the first element seen outside the watched namespace, if any.
    pub fn end_watch(&mut self) -> Option<ForeignElement> {
        let (qname, ns) = self.watch.take()?.found?;
        Some(ForeignElement {
            qname: qname.to_string(),
            namespace: ns.map_or("", |i| &*self.uris[i as usize]).to_string(),
        })
    }

    /// A watch is on and has not found its element: skipping must open every element.
    fn watch_skipping(&self) -> bool {
        self.watch.as_ref().is_some_and(|w| w.found.is_none())
    }

    fn skipping(&mut self, by: i32) {
        if let Some(w) = &mut self.watch {
            w.skipping = w.skipping.saturating_add_signed(by);
        }
    }

    fn skip_children(&mut self, start: &Start<'a>) -> Result<()> {
        while let Some(child) = self.next_child(start)? {
            self.skip(&child)?;
        }
        Ok(())
    }

    /// Skips the element `start` (whose start tag was just read) and everything in it.
    pub fn skip(&mut self, start: &Start<'a>) -> Result<()> {
        if start.empty {
            return Ok(());
        }
        if self.watch_skipping() {
            // Open the skipped elements so the watch sees their namespaces.
            let saw_text = self.saw_text;
            self.skipping(1);
            let result = self.skip_children(start);
            self.skipping(-1);
            self.saw_text = saw_text;
            return result;
        }
        let mut depth = 0u32;
        let mut open: Vec<&'a str> = Vec::new();
        loop {
            let (begin, ev) = self.read()?;
            match ev {
                Event::Start(bs) => {
                    let name_len = bs.name().as_ref().len();
                    open.push(&self.doc[begin as usize + 1..begin as usize + 1 + name_len]);
                    depth += 1;
                    self.elements += 1;
                    if self.depth + depth > self.limits.max_depth {
                        return Err(Error::Limit {
                            what: "nesting depth",
                            limit: self.limits.max_depth as u64,
                            at: self.at(begin),
                        });
                    }
                }
                Event::Empty(_) => self.elements += 1,
                Event::End(end) => {
                    let expected = open.pop().unwrap_or(start.raw_name);
                    self.check_end(begin, end.name().as_ref(), expected)?;
                    if depth == 0 {
                        self.last_end_begin = begin;
                        self.close();
                        return Ok(());
                    }
                    depth -= 1;
                }
                Event::GeneralRef(r) => {
                    self.check_ref(begin, &r)?;
                }
                Event::DocType(_) => return Err(Error::Dtd { at: self.at(begin) }),
                Event::Eof => return Err(self.eof(begin)),
                _ => {}
            }
            if self.elements > self.limits.max_elements {
                return Err(Error::Limit {
                    what: "element count",
                    limit: self.limits.max_elements,
                    at: self.at(begin),
                });
            }
        }
    }

    /// The text content of a simple element, unescaped; child elements are an error.
    pub fn text(&mut self, start: &Start<'a>) -> Result<Cow<'a, str>> {
        if start.empty {
            return Ok(Cow::Borrowed(""));
        }
        // Most values are plain text: take it from the document without the reader's events.
        if let Some(plain) = self.plain_text(start)? {
            return Ok(Cow::Borrowed(plain));
        }
        let mut out: Option<String> = None;
        let mut first: Cow<'a, str> = Cow::Borrowed("");
        loop {
            let (begin, ev) = self.read()?;
            let piece: Cow<'a, str> = match ev {
                Event::Text(t) => t.xml10_content(),
                Event::CData(c) => c.xml10_content(),
                Event::GeneralRef(r) => match self.check_ref(begin, &r)? {
                    Some(c) => Cow::Owned(c.to_string()),
                    None => Cow::Borrowed(""),
                },
                Event::End(end) => {
                    self.check_end(begin, end.name().as_ref(), start.raw_name)?;
                    self.last_end_begin = begin;
                    self.close();
                    return Ok(match out {
                        Some(s) => Cow::Owned(s),
                        None => first,
                    });
                }
                Event::Start(bs) | Event::Empty(bs) => {
                    let name = bs.name().as_ref().to_string();
                    return Err(Error::Soap {
                        at: self.at(begin),
                        message: format!("element <{name}> inside a simple value"),
                    });
                }
                Event::DocType(_) => return Err(Error::Dtd { at: self.at(begin) }),
                Event::Eof => return Err(self.eof(begin)),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) => continue,
            };
            match &mut out {
                Some(s) => s.push_str(&piece),
                None if first.is_empty() => first = piece,
                None => {
                    let mut s = first.clone().into_owned();
                    s.push_str(&piece);
                    out = Some(s);
                }
            }
        }
    }

    /// The raw (still escaped) content of a text-only element; `None` if it has markup.
    pub fn raw_text(&mut self, start: &Start<'a>) -> Result<Option<&'a str>> {
        if start.empty {
            return Ok(Some(""));
        }
        let from = start.content;
        let rest = &self.doc.as_bytes()[from as usize..];
        // Find the first `<`: if it starts our end tag, the content is plain escaped text.
        let Some(lt) = memchr::memchr(b'<', rest) else {
            return Err(self.eof(start.content));
        };
        if rest.get(lt + 1) != Some(&b'/') {
            return Ok(None);
        }
        let raw = &self.doc[from as usize..from as usize + lt];
        // Check the end tag ourselves and jump the reader to it: the reader would
        // otherwise walk every entity reference of the text a second time.
        let end_at = from + lt as u64;
        let tail = &rest[lt + 2..];
        let name = start.raw_name.as_bytes();
        if !closes(tail, name) {
            let got: String = String::from_utf8_lossy(&tail[..tail.len().min(name.len() + 8)])
                .chars()
                .take_while(|c| *c != '>')
                .collect();
            return Err(Error::Xml {
                at: self.at(end_at),
                message: format!("end tag </{got}> does not match <{}>", start.raw_name),
            });
        }
        self.close_at(end_at)?;
        Ok(Some(raw))
    }

    /// Reads the end tag at `end_at` (checked by the caller) and closes the element there.
    fn close_at(&mut self, end_at: u64) -> Result<()> {
        // Resume at the end tag itself rather than after it: what follows the tag may start
        // with U+FEFF, which a fresh reader would take for a byte order mark and drop.
        self.jump(end_at as usize);
        self.read()?;
        self.last_end_begin = end_at;
        self.close();
        Ok(())
    }

    /// The content of `start` when it is plain text (no markup, reference or CR) followed
    /// by `start`'s end tag, which is then consumed; `None` (nothing consumed) otherwise.
    fn plain_text(&mut self, start: &Start<'a>) -> Result<Option<&'a str>> {
        let from = start.content as usize;
        let Some(rest) = self.doc.as_bytes().get(from..) else {
            return Ok(None);
        };
        let Some(stop) = memchr::memchr3(b'<', b'&', b'\r', rest) else {
            return Ok(None);
        };
        if rest[stop] != b'<'
            || rest.get(stop + 1) != Some(&b'/')
            || !closes(&rest[stop + 2..], start.raw_name.as_bytes())
        {
            return Ok(None);
        }
        let Some(raw) = self.doc.get(from..from + stop) else {
            return Ok(None);
        };
        self.close_at((from + stop) as u64)?;
        Ok(Some(raw))
    }

    /// The children met out of their schema order so far (rule T-13), at most
    /// [`MAX_OUT_OF_ORDER`]; empty for a document in order.
    pub fn out_of_order(&self) -> &[OutOfOrder] {
        &self.out_of_order
    }

    /// Takes the out-of-order children recorded so far.
    pub fn take_out_of_order(&mut self) -> Vec<OutOfOrder> {
        std::mem::take(&mut self.out_of_order)
    }

    /// Records that `child` (schema name `expected_first`) came after a sibling the schema
    /// puts later (`met_first`). Called right after `child`'s start tag was read.
    fn note_out_of_order(
        &mut self,
        child: &Start<'a>,
        expected_first: &'static str,
        met_first: &'static str,
    ) {
        if self.out_of_order.len() >= MAX_OUT_OF_ORDER {
            return;
        }
        // The path ends with the child unless it was self-closing (already popped).
        let n = self.path.len() - usize::from(!child.empty && !self.path.is_empty());
        self.out_of_order.push(OutOfOrder {
            parent: self.path[..n].join("/"),
            expected_first,
            met_first,
            offset: child.begin,
        });
    }

    /// The elements found not conforming to the WSDL so far (rule T-10), at most
    /// [`MAX_NONCONFORMING`]; empty for a conforming document.
    pub fn nonconforming(&self) -> &[Nonconforming] {
        &self.nonconforming
    }

    /// Takes the nonconforming elements recorded so far.
    pub fn take_nonconforming(&mut self) -> Vec<Nonconforming> {
        std::mem::take(&mut self.nonconforming)
    }

    /// Records that the element `start` (just closed) holds `text`, which is not a value
    /// of the WSDL type `expected`.
    fn note_invalid(&mut self, start: &Start<'a>, text: &str, expected: &'static str) {
        if self.unchecked > 0 || self.nonconforming.len() >= MAX_NONCONFORMING {
            return;
        }
        let text = match text.char_indices().nth(MAX_NONCONFORMING_TEXT) {
            Some((at, _)) => format!("{}…", &text[..at]),
            None => text.to_string(),
        };
        self.nonconforming.push(Nonconforming {
            parent: self.path.join("/"),
            element: start.local.to_string(),
            kind: NonconformingKind::Invalid { text, expected },
            offset: start.begin,
        });
    }

    /// Records the required fields of `S` (bits of [`Struct::REQUIRED`]) that are not in
    /// `seen`, for the element `start` that has just been closed.
    fn note_missing<S: Struct>(&mut self, start: &Start<'a>, seen: u64) {
        let missing = S::REQUIRED & !seen;
        if missing == 0 || S::ANY_NS || self.unchecked > 0 {
            return;
        }
        let parent = if self.path.is_empty() {
            start.local.to_string()
        } else {
            format!("{}/{}", self.path.join("/"), start.local)
        };
        let offset = if start.empty {
            start.begin
        } else {
            self.last_end_begin
        };
        for (i, spec) in S::FIELDS.iter().enumerate().take(64) {
            if missing & (1 << i) == 0 {
                continue;
            }
            if self.nonconforming.len() >= MAX_NONCONFORMING {
                return;
            }
            self.nonconforming.push(Nonconforming {
                parent: parent.clone(),
                element: spec.name.to_string(),
                kind: NonconformingKind::Missing,
                offset,
            });
        }
    }

    /// Takes and resets the "non-whitespace text seen" flag.
    fn take_saw_text(&mut self) -> bool {
        std::mem::take(&mut self.saw_text)
    }
}

/// `tail` (what follows `</`) is the end tag of an element named `name`.
fn closes(tail: &[u8], name: &[u8]) -> bool {
    tail.strip_prefix(name)
        .map(|t| t.iter().take_while(|b| b.is_ascii_whitespace()).count() + name.len())
        .is_some_and(|n| tail.get(n) == Some(&b'>'))
}

fn split_qname(q: &str) -> (Option<&str>, &str) {
    match q.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, q),
    }
}

struct RawAttr<'a> {
    key: &'a str,
    value: Cow<'a, str>,
}

/// Parses `name="value"` pairs of a start tag (values unescaped).
fn parse_attrs(raw: &str) -> impl Iterator<Item = Result<RawAttr<'_>, String>> {
    let mut rest = raw;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if rest.is_empty() {
            return None;
        }
        let Some(eq) = rest.find('=') else {
            rest = "";
            return Some(Err("attribute without value".to_string()));
        };
        let key = rest[..eq].trim();
        let after = rest[eq + 1..].trim_start();
        let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            rest = "";
            return Some(Err(format!("unquoted value for attribute {key}")));
        };
        let Some(close) = after[1..].find(q) else {
            rest = "";
            return Some(Err(format!("unterminated value for attribute {key}")));
        };
        let value = &after[1..1 + close];
        rest = &after[close + 2..];
        let value = match unescape(value) {
            Ok(v) => v,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(RawAttr { key, value }))
    })
}

fn is_blank(t: &str) -> bool {
    // A byte order mark before the root counts as blank; it stays in the document's bytes.
    t.trim_start_matches('\u{feff}')
        .bytes()
        .all(|b| b.is_ascii_whitespace())
}

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// Unescapes XML text: the five predefined entities and character references.
pub fn unescape(raw: &str) -> Result<Cow<'_, str>, String> {
    let bytes = raw.as_bytes();
    let Some(first) = memchr::memchr(b'&', bytes) else {
        return Ok(Cow::Borrowed(raw));
    };
    let mut out = String::with_capacity(raw.len());
    out.push_str(&raw[..first]);
    let mut i = first;
    while i < bytes.len() {
        // bytes[i] == b'&'
        let Some(semi) = memchr::memchr(b';', &bytes[i..]) else {
            return Err(format!("unterminated entity at byte {i}"));
        };
        let name = &raw[i + 1..i + semi];
        if let Some(c) = predefined(name) {
            out.push(c);
        } else if let Some(num) = name.strip_prefix('#') {
            let code = match num.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => num.parse::<u32>(),
            };
            match code.ok().and_then(char::from_u32) {
                Some(c) => out.push(c),
                None => return Err(format!("bad character reference &{name}; at byte {i}")),
            }
        } else {
            return Err(format!("undeclared entity &{name}; at byte {i}"));
        }
        i += semi + 1;
        match memchr::memchr(b'&', &bytes[i..]) {
            Some(n) => {
                out.push_str(&raw[i..i + n]);
                i += n;
            }
            None => {
                out.push_str(&raw[i..]);
                break;
            }
        }
    }
    Ok(Cow::Owned(out))
}

/// Checks the entity and character references of escaped text without unescaping it.
pub fn check_escapes(raw: &str) -> Result<(), String> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while let Some(n) = memchr::memchr(b'&', &bytes[i..]) {
        i += n;
        let Some(semi) = memchr::memchr(b';', &bytes[i..]) else {
            return Err(format!("unterminated entity at byte {i}"));
        };
        let name = &raw[i + 1..i + semi];
        let ok = predefined(name).is_some()
            || name.strip_prefix('#').is_some_and(|num| {
                match num.strip_prefix('x') {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => num.parse::<u32>(),
                }
                .ok()
                .and_then(char::from_u32)
                .is_some()
            });
        if !ok {
            return Err(format!("undeclared entity &{name}; at byte {i}"));
        }
        i += semi + 1;
    }
    Ok(())
}

/// Escapes text content (`&`, `<`, `>`), as .NET's XmlSerializer does.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    escape_with(s, false)
}

/// Escapes an attribute value (`&`, `<`, `>`, `"`).
pub fn escape_attr(s: &str) -> Cow<'_, str> {
    escape_with(s, true)
}

fn escape_with(s: &str, quotes: bool) -> Cow<'_, str> {
    let needs = |b: u8| {
        b == b'&'
            || b == b'<'
            || b == b'>'
            || b == b'\r'
            || (quotes && matches!(b, b'"' | b'\t' | b'\n'))
    };
    if !s.bytes().any(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // A raw CR would be normalised away by the reader; in attributes so would TAB and LF.
            '\r' => out.push_str("&#xD;"),
            '"' if quotes => out.push_str("&quot;"),
            '\t' if quotes => out.push_str("&#x9;"),
            '\n' if quotes => out.push_str("&#xA;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Writes XML, tracking namespace bindings so that names get the right prefix.
pub struct Encoder {
    out: String,
    scope: Vec<(String, String)>,
    /// Namespace of the element being written (children are qualified in it).
    ns: Vec<String>,
}

impl Encoder {
    /// An encoder with nothing in scope.
    pub fn new() -> Self {
        Encoder {
            out: String::new(),
            scope: Vec::new(),
            ns: vec![String::new()],
        }
    }

    /// The output so far.
    pub fn into_string(self) -> String {
        self.out
    }

    /// Appends raw, already well-formed XML.
    pub fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// Declares a binding for the elements that follow (as written by the caller's start tag).
    pub fn push_binding(&mut self, prefix: &str, uri: &str) {
        self.scope.push((prefix.to_string(), uri.to_string()));
    }

    /// Removes the last `n` bindings.
    pub fn pop_bindings(&mut self, n: usize) {
        let keep = self.scope.len().saturating_sub(n);
        self.scope.truncate(keep);
    }

    fn resolve(&self, prefix: &str) -> Option<&str> {
        self.scope
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.as_str())
    }

    /// The namespace children are written in.
    pub fn current_ns(&self) -> &str {
        self.ns.last().map(String::as_str).unwrap_or("")
    }

    /// Enters an element in namespace `ns` (for its children).
    pub fn enter_ns(&mut self, ns: &str) {
        self.ns.push(ns.to_string());
    }

    /// Leaves the namespace entered last.
    pub fn leave_ns(&mut self) {
        self.ns.pop();
    }

    /// Writes `<name` with the prefix that binds the current namespace; returns the qname
    /// and how many bindings the tag declared.
    fn open_tag(&mut self, local: &str) -> (String, usize) {
        let ns = self.current_ns().to_string();
        let mut declared = 0;
        let prefix = self
            .scope
            .iter()
            .rev()
            .find(|(p, u)| *u == ns && self.resolve(p) == Some(u.as_str()))
            .map(|(p, _)| p.clone());
        let qname = match prefix {
            Some(p) if p.is_empty() => local.to_string(),
            Some(p) => format!("{p}:{local}"),
            None if ns.is_empty() && self.resolve("").is_none_or(str::is_empty) => {
                local.to_string()
            }
            None => {
                self.out.push('<');
                self.out.push_str(local);
                self.out.push_str(" xmlns=\"");
                self.out.push_str(&escape_attr(&ns));
                self.out.push('"');
                self.scope.push((String::new(), ns));
                declared = 1;
                return (local.to_string(), declared);
            }
        };
        self.out.push('<');
        self.out.push_str(&qname);
        (qname, declared)
    }

    /// Writes `<name>text</name>` with already escaped text.
    pub fn text_element(&mut self, local: &str, escaped: &str) {
        let (q, d) = self.open_tag(local);
        self.out.push('>');
        self.out.push_str(escaped);
        self.out.push_str("</");
        self.out.push_str(&q);
        self.out.push('>');
        self.pop_bindings(d);
    }

    /// Writes an empty element `<name />`.
    pub fn empty_element(&mut self, local: &str) {
        let (_, d) = self.open_tag(local);
        self.out.push_str(" />");
        self.pop_bindings(d);
    }

    /// Writes `<name xsi:nil="true" />`.
    pub fn nil_element(&mut self, local: &str) {
        let (_, d) = self.open_tag(local);
        let xsi = self
            .scope
            .iter()
            .rev()
            .find(|(p, u)| u == NS_XSI && !p.is_empty() && self.resolve(p) == Some(NS_XSI))
            .map(|(p, _)| p.clone());
        match xsi {
            Some(p) => {
                self.out.push(' ');
                self.out.push_str(&p);
                self.out.push_str(":nil=\"true\" />");
            }
            None => self.out.push_str(
                " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:nil=\"true\" />",
            ),
        }
        self.pop_bindings(d);
    }

    /// Opens `<name>` for children; returns a token for [`Encoder::end`].
    pub fn start(&mut self, local: &str) -> Open {
        let (q, d) = self.open_tag(local);
        self.out.push('>');
        Open {
            qname: q,
            declared: d,
        }
    }

    /// Opens `<name attrs>` with extra raw attribute text (e.g. namespace declarations).
    pub fn start_with(&mut self, local: &str, raw_attrs: &str) -> Open {
        let (q, d) = self.open_tag(local);
        self.out.push_str(raw_attrs);
        self.out.push('>');
        Open {
            qname: q,
            declared: d,
        }
    }

    /// Closes an element opened with [`Encoder::start`].
    pub fn end(&mut self, open: Open) {
        self.out.push_str("</");
        self.out.push_str(&open.qname);
        self.out.push('>');
        self.pop_bindings(open.declared);
    }

    /// True when a decoded element's bindings mean the same here, so its bytes can be copied.
    fn compatible(&self, src: &SourceInner) -> bool {
        let own_from = src.scope.len() - src.own_decls as usize;
        src.scope[..own_from].iter().enumerate().all(|(i, (p, u))| {
            // A binding shadowed later in the source does not matter: by the element's own
            // declarations, or by an inner ancestor rebinding the prefix.
            let shadowed = src.scope[i + 1..].iter().any(|(q, _)| q == p);
            shadowed || self.resolve(p) == Some(&**u)
        }) && *src.ns == *self.current_ns()
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

/// An open element in an [`Encoder`].
pub struct Open {
    qname: String,
    declared: usize,
}

/// A type that can be the content of an element.
pub trait XmlValue: Sized + Clone + PartialEq + fmt::Debug {
    /// Decodes the element `start` (start tag already read; nil already handled).
    fn decode_value<'a>(
        d: &mut Decoder<'a>,
        start: &Start<'a>,
        item: &'static str,
    ) -> Result<Field<Self>>;
    /// Writes the element `<name>…</name>` holding this value.
    fn encode_value(&self, e: &mut Encoder, name: &str, item: &'static str);
    /// The value an empty array item (`<string />`) stands for, if the type has one.
    fn empty() -> Option<Self> {
        None
    }
    /// True for types that decode empty elements themselves (they may carry attributes).
    const DECODES_EMPTY: bool = false;
    /// Called for an empty element of this type (`<Name />`, start tag already read): notes
    /// on the decoder what the WSDL says is wrong with it (rule T-10), by default nothing.
    fn note_empty<'a>(_d: &mut Decoder<'a>, _start: &Start<'a>) {}
    /// Writes a field in the `Invalid` state (its kept text).
    fn encode_invalid(raw: &str, e: &mut Encoder, name: &str) {
        e.text_element(name, &escape_text(raw));
    }
    /// Writes a changed field by patching the element it was decoded from; `false` when the
    /// type cannot, and the field is then written anew.
    fn patch_field(
        _field: &Field<Self>,
        _e: &mut Encoder,
        _name: &str,
        _item: &'static str,
        _at: SlotRef<'_>,
    ) -> bool {
        false
    }
}

/// Decodes one field element into its [`Field`] state.
pub fn decode_field<'a, T: XmlValue>(
    d: &mut Decoder<'a>,
    start: &Start<'a>,
    item: &'static str,
) -> Result<Field<T>> {
    if start.nil {
        d.skip(start)?;
        return Ok(Field::Nil);
    }
    if start.empty && !T::DECODES_EMPTY {
        T::note_empty(d, start);
        return Ok(Field::Empty);
    }
    T::decode_value(d, start, item)
}

/// Writes one field element (nothing when absent).
pub fn encode_field<T: XmlValue>(e: &mut Encoder, name: &str, f: &Field<T>, item: &'static str) {
    match f {
        Field::Absent => {}
        Field::Nil => e.nil_element(name),
        Field::Empty => e.empty_element(name),
        Field::Value(v) => v.encode_value(e, name, item),
        Field::Invalid(raw) => T::encode_invalid(raw, e, name),
    }
}

/// A scalar carried as element text.
pub trait Scalar: Sized + Clone + PartialEq + fmt::Debug {
    /// Parses the (unescaped) text; `None` when it is not a valid value.
    fn parse(text: &str) -> Option<Self>;
    /// The wire form (unescaped).
    fn format(&self) -> Cow<'_, str>;
    /// The WSDL type when wusp parses exactly it (rule T-10 judges text that does not
    /// parse); `None` for types judged elsewhere or not at all (strings, enumerations).
    const WSDL_TYPE: Option<&'static str> = None;
    /// True for text [`Scalar::parse`] rejects that the WSDL type still allows (where
    /// wusp's parsing is stricter than the schema); such text is not reported.
    fn wsdl_accepts(_text: &str) -> bool {
        false
    }
}

/// Notes `text` of the element `start` (just closed) when it is not a value of `T`'s WSDL
/// type (rule T-10).
fn check_scalar<'a, T: Scalar>(d: &mut Decoder<'a>, start: &Start<'a>, text: &str) {
    if let Some(expected) = T::WSDL_TYPE
        && !T::wsdl_accepts(text)
    {
        d.note_invalid(start, text, expected);
    }
}

impl<T: Scalar> XmlValue for T {
    fn decode_value<'a>(
        d: &mut Decoder<'a>,
        start: &Start<'a>,
        _item: &'static str,
    ) -> Result<Field<Self>> {
        let text = d.text(start)?;
        if text.is_empty() {
            // `<a></a>`: a string's empty value; for other types the element is just empty.
            return Ok(match T::parse("") {
                Some(v) => Field::Value(v),
                None => {
                    check_scalar::<T>(d, start, "");
                    Field::Empty
                }
            });
        }
        Ok(match T::parse(&text) {
            Some(v) => Field::Value(v),
            None => {
                check_scalar::<T>(d, start, &text);
                Field::Invalid(text.into_owned())
            }
        })
    }
    fn encode_value(&self, e: &mut Encoder, name: &str, _item: &'static str) {
        e.text_element(name, &escape_text(&self.format()));
    }
    fn empty() -> Option<Self> {
        T::parse("")
    }
    /// An empty element is not a value of the number, boolean, GUID and dateTime types.
    fn note_empty<'a>(d: &mut Decoder<'a>, start: &Start<'a>) {
        if T::WSDL_TYPE.is_some() && T::parse("").is_none() {
            check_scalar::<T>(d, start, "");
        }
    }
}

macro_rules! int_scalar {
    ($($t:ty => $xsd:literal),*) => {$(
        impl Scalar for $t {
            fn parse(text: &str) -> Option<Self> {
                let t = text.trim();
                t.strip_prefix('+').unwrap_or(t).parse().ok()
            }
            fn format(&self) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }
            const WSDL_TYPE: Option<&'static str> = Some($xsd);
        }
    )*};
}
int_scalar!(
    i16 => "xs:short",
    i32 => "xs:int",
    i64 => "xs:long",
    u8 => "xs:unsignedByte",
    u16 => "xs:unsignedShort",
    u32 => "xs:unsignedInt",
    u64 => "xs:unsignedLong"
);

impl Scalar for bool {
    fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        }
    }
    fn format(&self) -> Cow<'_, str> {
        Cow::Borrowed(if *self { "true" } else { "false" })
    }
    const WSDL_TYPE: Option<&'static str> = Some("xs:boolean");
}

impl Scalar for String {
    fn parse(text: &str) -> Option<Self> {
        Some(text.to_string())
    }
    fn format(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl<T: XmlValue> XmlValue for Vec<T> {
    fn decode_value<'a>(
        d: &mut Decoder<'a>,
        start: &Start<'a>,
        item: &'static str,
    ) -> Result<Field<Self>> {
        let mut items = Vec::new();
        let mut invalid = false;
        while let Some(child) = d.next_child(start)? {
            if child.local == item && d.same_ns(&child, start) {
                match decode_field::<T>(d, &child, "")? {
                    Field::Value(v) => items.push(v),
                    // Nil and empty items of types without an empty value are dropped.
                    Field::Empty | Field::Nil => items.extend(T::empty()),
                    Field::Invalid(_) => invalid = true,
                    Field::Absent => {}
                }
            } else {
                d.skip(&child)?;
            }
        }
        d.take_saw_text();
        if invalid {
            // Keep the whole array as written: one bad item must not cost the message.
            let raw = &d.doc[start.content as usize..d.last_end_begin as usize];
            return Ok(Field::Invalid(raw.to_string()));
        }
        Ok(if items.is_empty() {
            Field::Empty
        } else {
            Field::Value(items)
        })
    }
    fn encode_value(&self, e: &mut Encoder, name: &str, item: &'static str) {
        if self.is_empty() {
            e.empty_element(name);
            return;
        }
        let open = e.start(name);
        for v in self {
            v.encode_value(e, item, "");
        }
        e.end(open);
    }
    /// An invalid array keeps its raw content (markup included).
    fn encode_invalid(raw: &str, e: &mut Encoder, name: &str) {
        let open = e.start(name);
        e.raw(raw);
        e.end(open);
    }
    /// Patches an array with the same number of items: the container tag, the text between
    /// items and every unchanged item are kept; changed items are written (or patched) anew.
    fn patch_field(
        field: &Field<Self>,
        e: &mut Encoder,
        name: &str,
        item: &'static str,
        at: SlotRef<'_>,
    ) -> bool {
        let Field::Value(items) = field else {
            return false;
        };
        let src = at.src;
        let mut d = Decoder::for_slot(src, at.slot);
        let Ok(root) = d.root() else { return false };
        if root.local != name || root.empty || root.nil {
            return false;
        }
        let own = d.bindings_in_scope();
        let own = &own[own.len() - root.own_decls as usize..];
        let mut spans: Vec<(usize, usize, bool)> = Vec::new();
        loop {
            let child = match d.next_child(&root) {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(_) => return false,
            };
            if child.local != item || !d.same_ns(&child, &root) {
                return false;
            }
            let begin = child.begin as usize;
            let i = spans.len();
            let original = match decode_field::<T>(&mut d, &child, "") {
                Ok(f) => f,
                Err(_) => return false,
            };
            let same = matches!(&original, Field::Value(v) if items.get(i) == Some(v));
            spans.push((begin, d.pos() as usize, same));
        }
        if spans.len() != items.len() {
            return false;
        }
        let doc = &*src.doc;
        e.raw(&doc[at.slot.begin as usize..root.content as usize]);
        for (p, u) in own {
            e.push_binding(p, u);
        }
        let mut cursor = root.content as usize;
        for ((begin, end, same), v) in spans.iter().zip(items) {
            e.raw(&doc[cursor..*begin]);
            if *same {
                e.raw(&doc[*begin..*end]);
            } else {
                v.encode_value(e, item, "");
            }
            cursor = *end;
        }
        e.raw(&doc[cursor..at.slot.end as usize]);
        e.pop_bindings(own.len());
        true
    }
}

/// One field of a structure, for the generic decode and patching encode.
pub struct FieldSpec<S> {
    /// Element local name.
    pub name: &'static str,
    /// Decodes the element into the field.
    pub decode: for<'a, 'b> fn(&mut S, &mut Decoder<'a>, &Start<'a>) -> Result<()>,
    /// Writes the field (nothing when absent).
    pub encode: fn(&S, &mut Encoder),
    /// True when the field is present.
    pub present: fn(&S) -> bool,
    /// Decodes the element and tells whether it equals the field's current value.
    pub same: for<'a> fn(&S, &mut Decoder<'a>, &Start<'a>) -> Result<bool>,
    /// Writes a changed field by patching its source element, if the type can (arrays).
    pub patch: for<'s> fn(&S, &mut Encoder, SlotRef<'s>) -> bool,
    /// The WSDL requires the element (`minOccurs=1`; rule T-10).
    pub required: bool,
    /// The WSDL types the element more loosely than wusp: its text is not judged (T-10).
    pub lenient: bool,
}

/// The bits of the required fields among the first 64 of `fields` (see [`Struct::REQUIRED`]).
pub const fn required_mask<S>(fields: &[FieldSpec<S>]) -> u64 {
    let mut mask = 0u64;
    let mut i = 0;
    while i < fields.len() && i < 64 {
        if fields[i].required {
            mask |= 1 << i;
        }
        i += 1;
    }
    mask
}

/// A structure (complex type) of the protocol, declared with `wusp_struct!`.
pub trait Struct: XmlValue + Default + 'static {
    /// The fields in schema order.
    const FIELDS: &'static [FieldSpec<Self>];
    /// Children are matched by local name only (unqualified children, e.g. SOAP Fault).
    const ANY_NS: bool = false;
    /// Bit `i` set when field `i` is required by the WSDL (rule T-10).
    const REQUIRED: u64 = required_mask(Self::FIELDS);
    /// Where the value was decoded from.
    fn source(&self) -> &Source;
    /// Sets where the value was decoded from.
    fn set_source(&mut self, s: Source);
}

/// Generic decode of a structure's children.
pub fn decode_struct<'a, S: Struct>(d: &mut Decoder<'a>, start: &Start<'a>) -> Result<Field<S>> {
    let (v, any, text) = decode_struct_content::<S>(d, start, false)?;
    if !any {
        if text {
            let raw = d.doc[start.content as usize..d.last_end_begin as usize].to_string();
            return Ok(Field::Invalid(
                unescape(&raw).map(Cow::into_owned).unwrap_or(raw),
            ));
        }
        return Ok(Field::Empty);
    }
    Ok(Field::Value(v))
}

/// Decodes a message root: always a value (empty and nil roots are the default value) and,
/// in lossless mode, always with a source, so `<RegisterComputerResponse />` stays as written.
pub fn decode_root_struct<'a, S: Struct>(d: &mut Decoder<'a>, start: &Start<'a>) -> Result<S> {
    if start.nil || start.empty {
        let scope = d.arc.is_some().then(|| d.scope());
        d.skip(start)?;
        if start.empty {
            d.note_missing::<S>(start, 0);
        }
        let mut v = S::default();
        if let (Some(arc), Some(scope)) = (d.arc.clone(), scope) {
            v.set_source(Source(Some(Arc::new(SourceInner {
                doc: arc,
                scope,
                // An empty element's own declarations are already out of scope.
                own_decls: if start.empty { 0 } else { start.own_decls },
                begin: start.begin as u32,
                content: start.content as u32,
                end: d.pos() as u32,
                local: start.local.into(),
                ns: d.ns_of(start).unwrap_or("").into(),
                slots: Box::new([]),
                whole_only: true,
            }))));
        }
        return Ok(v);
    }
    // Text where elements belong leaves the message empty (rules about missing elements
    // report it); the source keeps the text.
    let (v, _, _) = decode_struct_content::<S>(d, start, true)?;
    Ok(v)
}

fn decode_struct_content<'a, S: Struct>(
    d: &mut Decoder<'a>,
    start: &Start<'a>,
    always_source: bool,
) -> Result<(S, bool, bool)> {
    let mut v = S::default();
    let keep = d.arc.is_some();
    let scope = if keep { Some(d.scope()) } else { None };
    let mut slots: Vec<Slot> = Vec::new();
    let mut any = false;
    let mut seen: u64 = 0;
    // The latest field in schema order met so far (T-13). Structures with unqualified
    // children (SOAP Fault and its detail) are not WSDL sequences and are not checked.
    let mut furthest: Option<usize> = None;
    d.take_saw_text();
    while let Some(child) = d.next_child(start)? {
        any = true;
        let mut idx = if S::ANY_NS || d.same_ns(&child, start) {
            S::FIELDS.iter().position(|f| f.name == child.local)
        } else {
            None
        };
        // A repeated single-valued element is not in the model: the first one counts.
        if let Some(i) = idx.filter(|i| *i < 64) {
            if seen & (1 << i) != 0 {
                idx = None;
            }
            seen |= 1 << i;
        }
        if let Some(i) = idx
            && !S::ANY_NS
        {
            match furthest {
                Some(f) if i < f => {
                    d.note_out_of_order(&child, S::FIELDS[i].name, S::FIELDS[f].name)
                }
                _ => furthest = Some(i),
            }
        }
        match idx {
            Some(i) => {
                // Fault contents are not a WSDL type; lenient fields are typed loosely there.
                let unchecked = S::ANY_NS || S::FIELDS[i].lenient;
                d.unchecked += u32::from(unchecked);
                (S::FIELDS[i].decode)(&mut v, d, &child)?;
                d.unchecked -= u32::from(unchecked);
            }
            None => d.skip(&child)?,
        }
        if keep {
            slots.push(Slot {
                field: idx.map_or(UNKNOWN_SLOT, |i| i as u16),
                begin: child.begin as u32,
                end: d.pos() as u32,
            });
        }
    }
    d.note_missing::<S>(start, seen);
    let text = d.take_saw_text();
    if (any || always_source)
        && let (Some(arc), Some(scope)) = (d.arc.clone(), scope)
    {
        v.set_source(Source(Some(Arc::new(SourceInner {
            doc: arc,
            scope,
            own_decls: start.own_decls,
            begin: start.begin as u32,
            content: start.content as u32,
            end: d.pos() as u32,
            local: start.local.into(),
            ns: d.ns_of(start).unwrap_or("").into(),
            slots: slots.into_boxed_slice(),
            whole_only: false,
        }))));
    }
    Ok((v, any, text))
}

/// Generic encode of a structure: patches its source when it has one, else writes it anew.
pub fn encode_struct<S: Struct>(v: &S, e: &mut Encoder, name: &str) {
    if let Some(src) = v.source().0.as_deref()
        && &*src.local == name
        && e.compatible(src)
    {
        if !src.whole_only {
            patch_struct(v, src, e);
            return;
        }
        if !S::FIELDS.iter().any(|f| (f.present)(v)) {
            e.raw(&src.doc[src.begin as usize..src.end as usize]);
            return;
        }
    }
    let open = e.start(name);
    if S::ANY_NS {
        // Unqualified children (SOAP Fault and its detail).
        e.enter_ns("");
    }
    for f in S::FIELDS {
        (f.encode)(v, e);
    }
    if S::ANY_NS {
        e.leave_ns();
    }
    e.end(open);
}

fn patch_struct<S: Struct>(v: &S, src: &SourceInner, e: &mut Encoder) {
    let doc = &*src.doc;
    e.raw(&doc[src.begin as usize..src.content as usize]);
    let own_from = src.scope.len() - src.own_decls as usize;
    for (p, u) in &src.scope[own_from..] {
        e.push_binding(p, u);
    }
    if S::ANY_NS {
        e.enter_ns("");
    }
    let n = S::FIELDS.len();
    let mut in_src = vec![false; n];
    for s in src.slots.iter() {
        if s.field != UNKNOWN_SLOT {
            in_src[s.field as usize] = true;
        }
    }
    let mut written = vec![false; n];
    let mut cursor = src.content as usize;
    let insert_before = |limit: usize, e: &mut Encoder, written: &mut Vec<bool>| {
        for i in 0..limit {
            if !in_src[i] && !written[i] && (S::FIELDS[i].present)(v) {
                (S::FIELDS[i].encode)(v, e);
                written[i] = true;
            }
        }
    };
    for slot in src.slots.iter() {
        e.raw(&doc[cursor..slot.begin as usize]);
        cursor = slot.end as usize;
        let raw = &doc[slot.begin as usize..slot.end as usize];
        if slot.field == UNKNOWN_SLOT {
            e.raw(raw);
            continue;
        }
        let i = slot.field as usize;
        insert_before(i, e, &mut written);
        if written[i] {
            // A repeated element for a single-valued field: not in the model, keep it.
            e.raw(raw);
            continue;
        }
        written[i] = true;
        let spec = &S::FIELDS[i];
        if !(spec.present)(v) {
            continue;
        }
        let mut sub = Decoder::for_slot(src, slot);
        let same = sub
            .root()
            .and_then(|st| (spec.same)(v, &mut sub, &st))
            .unwrap_or(false);
        if same {
            e.raw(raw);
        } else if !(spec.patch)(v, e, SlotRef { src, slot }) {
            (spec.encode)(v, e);
        }
    }
    insert_before(n, e, &mut written);
    if S::ANY_NS {
        e.leave_ns();
    }
    e.raw(&doc[cursor..src.end as usize]);
    e.pop_bindings(src.own_decls as usize);
}

/// Notes the required children of an empty structure element `<Name />` as missing (T-10).
pub fn note_empty_struct<'a, S: Struct>(d: &mut Decoder<'a>, start: &Start<'a>) {
    d.note_missing::<S>(start, 0);
}

/// Declares a protocol structure: the struct, its [`Struct`] field table and [`XmlValue`].
///
/// Each field is `name: Type = "ElementName"` and becomes `pub name: Field<Type>`; arrays
/// are `name: Vec<Item> = "ElementName" / "itemElement"`. A trailing `required` marks an
/// element the WSDL requires (`minOccurs=1`), `lenient` one the WSDL types more loosely
/// than `Type` (its text is not judged); both feed rule T-10's [`Nonconforming`] notes.
macro_rules! wusp_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident $([$any:ident])? {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty = $xml:literal $(/ $item:literal)? $($flag:ident)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $crate::xml::Field<$ty>,
            )*
            /// Where this value was decoded from (keeps unknown elements and original bytes).
            pub source: $crate::xml::Source,
        }

        impl $crate::xml::Struct for $name {
            const FIELDS: &'static [$crate::xml::FieldSpec<Self>] = &[
                $(
                    $crate::xml::FieldSpec {
                        name: $xml,
                        decode: |s, d, st| {
                            s.$field = $crate::xml::decode_field::<$ty>(d, st, wusp_struct!(@item $($item)?))?;
                            Ok(())
                        },
                        encode: |s, e| $crate::xml::encode_field(e, $xml, &s.$field, wusp_struct!(@item $($item)?)),
                        present: |s| s.$field.is_present(),
                        same: |s, d, st| Ok($crate::xml::decode_field::<$ty>(d, st, wusp_struct!(@item $($item)?))? == s.$field),
                        patch: |s, e, at| <$ty as $crate::xml::XmlValue>::patch_field(&s.$field, e, $xml, wusp_struct!(@item $($item)?), at),
                        required: wusp_struct!(@required $($flag)?),
                        lenient: wusp_struct!(@lenient $($flag)?),
                    },
                )*
            ];
            $(const ANY_NS: bool = wusp_struct!(@any $any);)?
            fn source(&self) -> &$crate::xml::Source {
                &self.source
            }
            fn set_source(&mut self, s: $crate::xml::Source) {
                self.source = s;
            }
        }

        impl $crate::xml::XmlValue for $name {
            fn decode_value<'a>(
                d: &mut $crate::xml::Decoder<'a>,
                start: &$crate::xml::Start<'a>,
                _item: &'static str,
            ) -> $crate::error::Result<$crate::xml::Field<Self>> {
                $crate::xml::decode_struct::<Self>(d, start)
            }
            fn encode_value(&self, e: &mut $crate::xml::Encoder, name: &str, _item: &'static str) {
                $crate::xml::encode_struct(self, e, name)
            }
            fn note_empty<'a>(d: &mut $crate::xml::Decoder<'a>, start: &$crate::xml::Start<'a>) {
                $crate::xml::note_empty_struct::<Self>(d, start)
            }
        }
    };
    (@item) => { "" };
    (@item $item:literal) => { $item };
    (@required) => { false };
    (@required required) => { true };
    (@required lenient) => { false };
    (@lenient) => { false };
    (@lenient required) => { false };
    (@lenient lenient) => { true };
    (@any any_ns) => { true };
}
pub(crate) use wusp_struct;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::Envelope;

    const SYNC_RESPONSE: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><SyncUpdatesResponse xmlns="http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService"><SyncUpdatesResult><NewUpdates><UpdateInfo><ID>100001</ID><IsLeaf>true</IsLeaf><Xml>&lt;UpdateIdentity UpdateID="a1b2c3d4-0000-4000-8000-000000000001" RevisionNumber="201" /&gt;</Xml></UpdateInfo></NewUpdates><OutOfScopeRevisionIDs><int>99</int></OutOfScopeRevisionIDs><Truncated>false</Truncated></SyncUpdatesResult></SyncUpdatesResponse></s:Body></s:Envelope>"#;

    /// T-13: a document in schema order records nothing; swapped siblings are recorded
    /// with the parent's path, both names and the misplaced element's offset, at any depth.
    #[test]
    fn out_of_order_children_are_recorded_where_they_are() {
        let env = Envelope::decode(SYNC_RESPONSE.as_bytes()).unwrap();
        assert_eq!(env.out_of_order(), &[]);
        // Truncated before OutOfScopeRevisionIDs in the result; IsLeaf before ID in an item.
        let doc = SYNC_RESPONSE
            .replacen(
                "<OutOfScopeRevisionIDs><int>99</int></OutOfScopeRevisionIDs><Truncated>false</Truncated>",
                "<Truncated>false</Truncated><OutOfScopeRevisionIDs><int>99</int></OutOfScopeRevisionIDs>",
                1,
            )
            .replacen(
                "<ID>100001</ID><IsLeaf>true</IsLeaf>",
                "<IsLeaf>true</IsLeaf><ID>100001</ID>",
                1,
            );
        let env = Envelope::decode(doc.as_bytes()).unwrap();
        let got = env.out_of_order();
        assert_eq!(got.len(), 2, "{got:?}");
        let body = "Envelope/Body/SyncUpdatesResponse/SyncUpdatesResult";
        assert_eq!(got[0].parent, format!("{body}/NewUpdates/UpdateInfo"));
        assert_eq!((got[0].expected_first, got[0].met_first), ("ID", "IsLeaf"));
        assert_eq!(&doc[got[0].offset as usize..][..4], "<ID>");
        assert_eq!(got[1].parent, body);
        assert_eq!(
            (got[1].expected_first, got[1].met_first),
            ("OutOfScopeRevisionIDs", "Truncated")
        );
        // The message is the same and still re-encodes to its bytes.
        assert_eq!(env, Envelope::decode(SYNC_RESPONSE.as_bytes()).unwrap());
        assert_eq!(env.encode(), doc);
    }

    /// T-13 compares against the furthest field met so far, so one early element after many
    /// later ones is one note; unknown, foreign and repeated elements have no place in the
    /// sequence; a self-closing misplaced element names its parent too.
    #[test]
    fn out_of_order_ignores_what_the_schema_does_not_place() {
        let unknown = SYNC_RESPONSE.replacen(
            "<Truncated>",
            "<CountryCode>US</CountryCode><Unknown /><x:ID xmlns:x=\"urn:x\" /><Truncated>",
            1,
        );
        let got = Envelope::decode(unknown.as_bytes())
            .unwrap()
            .out_of_order()
            .to_vec();
        // CountryCode is the last field: Truncated after it is the one note.
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            (got[0].expected_first, got[0].met_first),
            ("Truncated", "CountryCode")
        );
        let repeated = SYNC_RESPONSE.replacen(
            "<Truncated>false</Truncated>",
            "<Truncated>false</Truncated><NewUpdates />",
            1,
        );
        assert_eq!(
            Envelope::decode(repeated.as_bytes())
                .unwrap()
                .out_of_order(),
            &[]
        );
        let empty = SYNC_RESPONSE.replacen(
            "<Truncated>false</Truncated>",
            "<NewCookie /><Truncated>false</Truncated><ChangedUpdates />",
            1,
        );
        let got = Envelope::decode(empty.as_bytes())
            .unwrap()
            .out_of_order()
            .to_vec();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got.iter().all(|o| o.parent.ends_with("/SyncUpdatesResult")),
            "{got:?}"
        );
        assert_eq!(
            (got[1].expected_first, got[1].met_first),
            ("ChangedUpdates", "NewCookie")
        );
    }

    /// A request built from `wusp` types is in order; reordering its elements is seen, and
    /// SOAP Fault details (not a WSDL sequence) are not judged.
    #[test]
    fn out_of_order_in_requests_and_not_in_faults() {
        use crate::messages::SyncUpdates;
        use crate::types::{Cookie, SyncUpdateParameters};
        use crate::values::Base64;
        let req = SyncUpdates {
            cookie: super::Field::Value(Cookie {
                encrypted_data: super::Field::Value(Base64::encode(b"c")),
                ..Cookie::default()
            }),
            parameters: super::Field::Value(SyncUpdateParameters {
                express_query: super::Field::Value(false),
                installed_non_leaf_update_ids: super::Field::list(vec![1, 2]),
                skip_software_sync: super::Field::Value(false),
                ..SyncUpdateParameters::default()
            }),
            ..SyncUpdates::default()
        };
        let doc = Envelope::request(req).encode();
        assert_eq!(
            Envelope::decode(doc.as_bytes()).unwrap().out_of_order(),
            &[]
        );
        let swapped = doc
            .replacen("<ExpressQuery>false</ExpressQuery>", "", 1)
            .replacen(
                "<SkipSoftwareSync>false</SkipSoftwareSync>",
                "<SkipSoftwareSync>false</SkipSoftwareSync><ExpressQuery>false</ExpressQuery>",
                1,
            );
        let got = Envelope::decode(swapped.as_bytes())
            .unwrap()
            .out_of_order()
            .to_vec();
        assert_eq!(got.len(), 1, "{swapped}");
        assert_eq!(got[0].parent, "Envelope/Body/SyncUpdates/parameters");
        assert_eq!(
            (got[0].expected_first, got[0].met_first),
            ("ExpressQuery", "SkipSoftwareSync")
        );
        let fault = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultstring>x</faultstring><faultcode>s:Client</faultcode><detail><ID>6a1f4b2e-1d2c-4e5f-8a9b-0c1d2e3f4a5b</ID><ErrorCode>InvalidCookie</ErrorCode></detail></s:Fault></s:Body></s:Envelope>"#;
        assert_eq!(
            Envelope::decode(fault.as_bytes()).unwrap().out_of_order(),
            &[]
        );
    }

    /// T-10: a conforming document records nothing; text outside the WSDL type of an int,
    /// a boolean, a GUID, a base64 and a dateTime element, and in an array item, is noted
    /// with the parent's path, the element, the text and the type; the message still decodes
    /// and re-encodes to its bytes.
    #[test]
    fn nonconforming_values_are_recorded_with_their_type() {
        use super::NonconformingKind::Invalid;
        let env = Envelope::decode(SYNC_RESPONSE.as_bytes()).unwrap();
        assert_eq!(env.nonconforming(), &[]);
        let doc = SYNC_RESPONSE
            .replacen("<ID>100001</ID>", "<ID>10x</ID>", 1)
            .replacen("<IsLeaf>true</IsLeaf>", "<IsLeaf>yes</IsLeaf>", 1)
            .replacen("<int>99</int>", "<int>99999999999</int>", 1)
            .replacen(
                "<Truncated>false</Truncated>",
                "<Truncated>false</Truncated><NewCookie><Expiration>soon</Expiration><EncryptedData>a=b</EncryptedData></NewCookie>",
                1,
            );
        let env = Envelope::decode(doc.as_bytes()).unwrap();
        let got: Vec<_> = env
            .nonconforming()
            .iter()
            .map(|n| {
                let Invalid { text, expected } = &n.kind else {
                    panic!("{n:?}")
                };
                (n.element.as_str(), text.as_str(), *expected)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("ID", "10x", "xs:int"),
                ("IsLeaf", "yes", "xs:boolean"),
                ("int", "99999999999", "xs:int"),
                ("Expiration", "soon", "xs:dateTime"),
                ("EncryptedData", "a=b", "xs:base64Binary"),
            ]
        );
        let n = env.nonconforming();
        let result = "Envelope/Body/SyncUpdatesResponse/SyncUpdatesResult";
        assert_eq!(n[0].parent, format!("{result}/NewUpdates/UpdateInfo"));
        assert_eq!(&doc[n[0].offset as usize..][..4], "<ID>");
        assert_eq!(n[2].parent, format!("{result}/OutOfScopeRevisionIDs"));
        assert_eq!(n[3].parent, format!("{result}/NewCookie"));
        assert_eq!(
            n[0].to_string(),
            "<ID> in <SyncUpdatesResponse/SyncUpdatesResult/NewUpdates/UpdateInfo> holds \"10x\", not an xs:int"
        );
        assert_eq!(env.encode(), doc);
        // A bad GUID in an array and an empty int element.
        let scan = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><StartCategoryScan xmlns="http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService"><requestedCategories><CategoryRelationship><IndexOfAndGroup /><CategoryId>{dd78b8a1-0b20-45c1-add6-4da72e9364cf}</CategoryId></CategoryRelationship></requestedCategories></StartCategoryScan></s:Body></s:Envelope>"#;
        let env = Envelope::decode(scan.as_bytes()).unwrap();
        let n = env.nonconforming();
        assert_eq!(n.len(), 2, "{n:?}");
        assert_eq!(n[0].element, "IndexOfAndGroup");
        assert_eq!(
            n[0].kind,
            Invalid {
                text: String::new(),
                expected: "xs:int"
            }
        );
        assert_eq!(n[1].element, "CategoryId");
        assert_eq!(
            n[1].parent,
            "Envelope/Body/StartCategoryScan/requestedCategories/CategoryRelationship"
        );
    }

    /// T-10: required elements missing at the end of their parent are noted (also in an
    /// empty `<Name />` structure and an empty message root); nil counts as present.
    #[test]
    fn missing_required_elements_are_recorded_in_their_parent() {
        use super::NonconformingKind::Missing;
        let doc = SYNC_RESPONSE
            .replacen("<IsLeaf>true</IsLeaf>", "", 1)
            .replacen("<Truncated>false</Truncated>", "<NewCookie />", 1);
        let env = Envelope::decode(doc.as_bytes()).unwrap();
        let n = env.nonconforming();
        let result = "Envelope/Body/SyncUpdatesResponse/SyncUpdatesResult";
        let got: Vec<_> = n
            .iter()
            .map(|n| (n.parent.as_str(), n.element.as_str(), &n.kind))
            .collect();
        assert_eq!(
            got,
            [
                (
                    format!("{result}/NewUpdates/UpdateInfo").as_str(),
                    "IsLeaf",
                    &Missing
                ),
                (
                    format!("{result}/NewCookie").as_str(),
                    "Expiration",
                    &Missing
                ),
                (result, "Truncated", &Missing),
            ]
        );
        assert_eq!(&doc[n[0].offset as usize..][..13], "</UpdateInfo>");
        assert_eq!(
            n[2].to_string(),
            "<SyncUpdatesResponse/SyncUpdatesResult> has no <Truncated> (minOccurs=1)"
        );
        let nil = SYNC_RESPONSE.replacen(
            "<Truncated>false</Truncated>",
            "<Truncated xsi:nil=\"true\" />",
            1,
        );
        assert_eq!(
            Envelope::decode(nil.as_bytes()).unwrap().nonconforming(),
            &[]
        );
        let report = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><ReportEventBatchResponse xmlns="http://www.microsoft.com/SoftwareDistribution" /></soap:Body></soap:Envelope>"#;
        let env = Envelope::decode(report.as_bytes()).unwrap();
        let n = env.nonconforming();
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(
            (n[0].parent.as_str(), n[0].element.as_str()),
            (
                "Envelope/Body/ReportEventBatchResponse",
                "ReportEventBatchResult"
            )
        );
        assert_eq!(env.encode(), report);
    }

    /// T-10 judges only what wusp types as the WSDL does: `Deployment/Deadline` is a string
    /// there, lexical `xs:dateTime` forms wusp cannot hold are valid, SOAP Fault contents are
    /// not a WSDL type; and the notes stop at [`super::MAX_NONCONFORMING`], text truncated.
    #[test]
    fn nonconforming_leaves_out_what_the_wsdl_allows() {
        let doc = SYNC_RESPONSE.replacen(
            "<IsLeaf>",
            "<Deployment><ID>1</ID><Action>Install</Action><Deadline>next week</Deadline><IsAssigned>true</IsAssigned><LastChangeTime>someday</LastChangeTime></Deployment><IsLeaf>",
            1,
        );
        let env = Envelope::decode(doc.as_bytes()).unwrap();
        assert_eq!(env.nonconforming(), &[]);
        let notes_for_expiration = |dt: &str| {
            let doc = SYNC_RESPONSE.replacen(
                "<Truncated>false</Truncated>",
                &format!("<Truncated>false</Truncated><NewCookie><Expiration>{dt}</Expiration></NewCookie>"),
                1,
            );
            Envelope::decode(doc.as_bytes())
                .unwrap()
                .nonconforming()
                .len()
        };
        for dt in [
            "2026-10-04T16:03:35.99672361234Z",
            "-0044-03-15T12:00:00",
            "2026-10-04T24:00:00Z",
            "12026-10-04T00:00:00+14:00",
        ] {
            assert_eq!(notes_for_expiration(dt), 0, "{dt}");
        }
        for dt in [
            "2026-13-04T00:00:00Z",
            "2026-10-04 00:00:00",
            "2026-10-04T00:00",
        ] {
            assert_eq!(notes_for_expiration(dt), 1, "{dt}");
        }
        let fault = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>x</faultstring><detail><ErrorCode>InvalidCookie</ErrorCode><ID>not-a-guid</ID></detail></s:Fault></s:Body></s:Envelope>"#;
        assert_eq!(
            Envelope::decode(fault.as_bytes()).unwrap().nonconforming(),
            &[]
        );
        let long = "9".repeat(100);
        let ids: String = (0..40).map(|_| format!("<int>{long}</int>")).collect();
        let doc = SYNC_RESPONSE.replacen("<int>99</int>", &ids, 1);
        let env = Envelope::decode(doc.as_bytes()).unwrap();
        let n = env.nonconforming();
        assert_eq!(n.len(), super::MAX_NONCONFORMING);
        let super::NonconformingKind::Invalid { text, .. } = &n[0].kind else {
            panic!("{:?}", n[0])
        };
        assert_eq!(text.chars().count(), super::MAX_NONCONFORMING_TEXT + 1);
        assert!(text.ends_with('…'));
    }

    /// Fuzz crash (soap_decode): a document starting with two BOMs. `Envelope::decode` strips
    /// one, the XML reader silently skipped the second without counting it, and every offset
    /// was 3 bytes short: slicing the root name panicked inside the U+FEFF.
    #[test]
    fn second_leading_bom_keeps_offsets_right() {
        let doc = format!("\u{feff}\u{feff}{SYNC_RESPONSE}");
        let env = Envelope::decode(doc.as_bytes()).unwrap();
        assert_eq!(env.encode(), doc, "both marks are kept");
        // `decode_shared` strips nothing: its one BOM is skipped by the reader and kept.
        let shared: Arc<str> = Arc::from(format!("\u{feff}{SYNC_RESPONSE}"));
        let env = Envelope::decode_shared(shared.clone(), &super::Limits::default()).unwrap();
        assert_eq!(env.encode(), &*shared);
    }

    /// Same root cause after `raw_text` restarted the reader past `</Xml>`: a U+FEFF right
    /// after the end tag was dropped as a BOM and the later element names came out garbled.
    #[test]
    fn bom_character_after_jumped_end_tag_is_text() {
        for doc in [
            SYNC_RESPONSE.replacen("</Xml>", "</Xml>\u{feff}", 1),
            SYNC_RESPONSE.replacen("</Xml></UpdateInfo>", "</Xml>\u{feff}</UpdateInfo>", 1),
        ] {
            let env = Envelope::decode(doc.as_bytes()).unwrap();
            assert_eq!(env.encode(), doc);
            assert_eq!(Envelope::decode(env.encode().as_bytes()).unwrap(), env);
        }
    }

    /// Fuzz crash (soap_decode): "decoded envelope does not re-encode byte for byte" when a
    /// prefix bound on `Envelope` is bound again on `Body` (the fuzzer's input declared
    /// `xmlns:xsi` twice). `Encoder::compatible` held the outer, shadowed binding against the
    /// encoder's scope, judged the body incompatible and rewrote it in canonical form,
    /// dropping its unknown element and whitespace.
    #[test]
    fn prefix_rebound_on_body_still_reencodes_exactly() {
        let doc = SYNC_RESPONSE
            .replacen(
                "<s:Envelope ",
                "<s:Envelope xmlns:xsi=\"urn:one\" xmlns:a=\"urn:a\" ",
                1,
            )
            .replacen("<s:Body ", "<s:Body xmlns:a=\"urn:b\" ", 1)
            .replacen("<IsLeaf>", "<Unknown a:x=\"1\" />\n  <IsLeaf>", 1);
        let env = Envelope::decode(doc.as_bytes()).unwrap();
        assert_eq!(env.encode(), doc);
        let dup = SYNC_RESPONSE.replacen("xmlns:xsi=", "xmlns:xsi=\"urn:one\" xmlns:xsi=", 1);
        let env = Envelope::decode(dup.as_bytes()).unwrap();
        assert_eq!(env.encode(), dup);
    }

    /// Fuzz crash (soap_decode): "decoded envelope does not re-encode byte for byte" with a
    /// single-valued element given twice (two `cookie`s). Decoding kept the last one,
    /// patching took the first slot for the field, so the second cookie was written twice.
    /// The first occurrence is now the field and later ones are unknown elements.
    #[test]
    fn repeated_single_valued_element_keeps_the_first() {
        let doc = SYNC_RESPONSE.replacen(
            "<Truncated>false</Truncated>",
            "<Truncated>false</Truncated>\n<Truncated>true</Truncated>",
            1,
        );
        let env = Envelope::decode(doc.as_bytes()).unwrap();
        assert_eq!(env.encode(), doc);
        let crate::soap::Body::Response(crate::Response::SyncUpdates(r)) = &env.body else {
            panic!("{:?}", env.body)
        };
        assert_eq!(
            r.result.value().unwrap().truncated,
            super::Field::Value(false)
        );
        assert_eq!(Envelope::decode(env.encode().as_bytes()).unwrap(), env);
    }

    /// `text` takes plain values straight from the document and everything else through
    /// the reader's events: both give the unescaped, CR-normalised text and leave the
    /// decoder after the element.
    #[test]
    fn text_values_plain_and_otherwise() {
        let doc = "<r><a>plain</a><b>x &amp; y</b><c>one\r\ntwo</c><d><![CDATA[<z>]]></d><e></e><f>p</f ><g>last</g></r>";
        let mut d = super::Decoder::new(doc, None, super::Limits::default()).unwrap();
        let root = d.root().unwrap();
        let mut got = Vec::new();
        while let Some(child) = d.next_child(&root).unwrap() {
            got.push((
                child.local().to_string(),
                d.text(&child).unwrap().into_owned(),
            ));
        }
        let want = [
            ("a", "plain"),
            ("b", "x & y"),
            ("c", "one\ntwo"),
            ("d", "<z>"),
            ("e", ""),
            ("f", "p"),
            ("g", "last"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        assert_eq!(got, want);
        d.finish().unwrap();
        // A wrong end tag is still an error naming both tags.
        let bad = "<r><a>plain</b></r>";
        let mut d = super::Decoder::new(bad, None, super::Limits::default()).unwrap();
        let root = d.root().unwrap();
        let a = d.next_child(&root).unwrap().unwrap();
        let err = d.text(&a).unwrap_err().to_string();
        assert!(err.contains("</b>") && err.contains("<a>"), "{err}");
    }
}
