//! Lenient reader: fragment text to a small arena of elements.
//!
//! Several top-level elements, undeclared prefixes and dotted names are accepted; DTDs,
//! undefined entities, and input over the [`ParseLimits`] are not. Nodes remember byte
//! ranges so callers can take the raw inner XML of an element as written.

use std::borrow::Cow;
use std::ops::Range;
use std::str::FromStr;

use quick_xml::XmlVersion;
use quick_xml::escape::EscapeError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::{FragmentError, ParseLimits};

/// One element of a fragment; names and text borrow the input where they can.
#[derive(Debug)]
pub(crate) struct Node<'a> {
    /// Element name as written (`b.WindowsVersion`, `foo:Bar`).
    pub(crate) name: Cow<'a, str>,
    /// Attributes in document order: name as written, value unescaped and normalized.
    pub(crate) attrs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// Concatenated direct text content (unescaped, CDATA included).
    pub(crate) text: Cow<'a, str>,
    /// Index of the parent node.
    pub(crate) parent: Option<usize>,
    /// Indices of the child elements, in order.
    pub(crate) children: Vec<usize>,
    /// Byte offset of the `<` of the start tag.
    pub(crate) start: usize,
    /// Byte range of the content between start and end tag (empty for `<a/>`).
    pub(crate) inner: Range<usize>,
    /// Byte offset just after the end tag (or the empty-element tag).
    pub(crate) end: usize,
}

/// A parsed fragment: its elements in document order and the top-level ones.
#[derive(Debug)]
pub(crate) struct Dom<'a> {
    pub(crate) input: &'a str,
    pub(crate) nodes: Vec<Node<'a>>,
    pub(crate) roots: Vec<usize>,
}

/// Strips a namespace prefix (`foo:`) and a renaming prefix (`b.`, `m.`, `d.`) from a name.
pub(crate) fn base_name(name: &str) -> &str {
    let local = match name.rfind(':') {
        Some(i) => &name[i + 1..],
        None => name,
    };
    let bytes = local.as_bytes();
    if bytes.len() > 2 && bytes[1] == b'.' && bytes[0].is_ascii_alphabetic() {
        &local[2..]
    } else {
        local
    }
}

fn local_attr_name(name: &str) -> &str {
    match name.rfind(':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// Name of the first element of `text`, or `None` if there is none before an error or DTD.
pub(crate) fn first_element_name(text: &str) -> Option<String> {
    let mut reader = Reader::from_str(text);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                return Some(e.name().as_ref().to_owned());
            }
            Ok(Event::Eof | Event::DocType(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

fn predefined_entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

/// `part` as a slice of `input` when it lies inside it (no copy), else an owned copy.
fn borrowed<'a>(input: &'a str, part: &str) -> Cow<'a, str> {
    let at = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize);
    match at.and_then(|at| input.get(at..at + part.len())) {
        Some(slice) if slice.as_ptr() == part.as_ptr() => Cow::Borrowed(slice),
        _ => Cow::Owned(part.to_owned()),
    }
}

/// `piece` (borrowed from the reader's view of `input`) as a slice of `input` if it is one.
fn in_input<'a>(input: &'a str, piece: Cow<'_, str>) -> Cow<'a, str> {
    match piece {
        Cow::Borrowed(b) => borrowed(input, b),
        Cow::Owned(o) => Cow::Owned(o),
    }
}

/// Appends a piece of direct text to a node's text, borrowing when it is the first piece.
fn push_text<'a>(text: &mut Cow<'a, str>, piece: Cow<'a, str>) {
    if text.is_empty() {
        *text = piece;
    } else {
        text.to_mut().push_str(&piece);
    }
}

fn offset(position: u64) -> usize {
    usize::try_from(position).unwrap_or(usize::MAX)
}

impl<'a> Dom<'a> {
    /// Reads `input` as a sequence of top-level elements.
    pub(crate) fn parse(input: &'a str, limits: &ParseLimits) -> Result<Dom<'a>, FragmentError> {
        if input.len() > limits.max_input_bytes {
            return Err(FragmentError::TooLarge {
                size: input.len(),
                limit: limits.max_input_bytes,
            });
        }
        let mut dom = Dom {
            input,
            nodes: Vec::new(),
            roots: Vec::new(),
        };
        let mut reader = Reader::from_str(input);
        {
            let config = reader.config_mut();
            config.trim_text(false);
            config.expand_empty_elements = false;
            config.check_end_names = true;
            config.allow_unmatched_ends = false;
            config.allow_dangling_amp = false;
        }
        let mut stack: Vec<usize> = Vec::new();
        loop {
            let before = offset(reader.buffer_position());
            let event = match reader.read_event() {
                Ok(event) => event,
                Err(error) => {
                    return Err(FragmentError::Malformed {
                        path: dom.stack_path(&stack),
                        offset: offset(reader.error_position()),
                        message: error.to_string(),
                    });
                }
            };
            let after = offset(reader.buffer_position());
            match event {
                Event::Start(start) => {
                    let index = dom.open(&stack, &start, before, after, limits)?;
                    stack.push(index);
                }
                Event::Empty(start) => {
                    let index = dom.open(&stack, &start, before, after, limits)?;
                    dom.nodes[index].end = after;
                }
                Event::End(_) => {
                    let Some(index) = stack.pop() else {
                        return Err(FragmentError::Malformed {
                            path: String::new(),
                            offset: before,
                            message: "end tag without start tag".to_owned(),
                        });
                    };
                    let node = &mut dom.nodes[index];
                    node.inner.end = before;
                    node.end = after;
                }
                Event::Text(text) => {
                    if let Some(&index) = stack.last() {
                        let piece = in_input(input, text.xml10_content());
                        push_text(&mut dom.nodes[index].text, piece);
                    }
                }
                Event::CData(data) => {
                    if let Some(&index) = stack.last() {
                        let piece = in_input(input, data.into_inner());
                        push_text(&mut dom.nodes[index].text, piece);
                    }
                }
                Event::GeneralRef(reference) => {
                    let resolved = if reference.is_char_ref() {
                        match reference.resolve_char_ref() {
                            Ok(Some(c)) => c,
                            Ok(None) | Err(_) => {
                                return Err(FragmentError::Malformed {
                                    path: dom.stack_path(&stack),
                                    offset: before,
                                    message: format!(
                                        "invalid character reference &{};",
                                        &*reference
                                    ),
                                });
                            }
                        }
                    } else {
                        match predefined_entity(&reference) {
                            Some(c) => c,
                            None => {
                                return Err(FragmentError::UndefinedEntity {
                                    path: dom.stack_path(&stack),
                                    offset: before,
                                    name: reference.to_string(),
                                });
                            }
                        }
                    };
                    if let Some(&index) = stack.last() {
                        dom.nodes[index].text.to_mut().push(resolved);
                    }
                }
                Event::DocType(_) => return Err(FragmentError::Doctype { offset: before }),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => {
                    if let Some(&index) = stack.last() {
                        return Err(FragmentError::Malformed {
                            path: dom.stack_path(&stack),
                            offset: dom.nodes[index].start,
                            message: "element is not closed".to_owned(),
                        });
                    }
                    return Ok(dom);
                }
            }
        }
    }

    fn open(
        &mut self,
        stack: &[usize],
        start: &BytesStart<'_>,
        before: usize,
        after: usize,
        limits: &ParseLimits,
    ) -> Result<usize, FragmentError> {
        let name = borrowed(self.input, start.name().as_ref());
        if stack.len() >= limits.max_depth {
            let mut path = self.stack_path(stack);
            path.push('/');
            path.push_str(&name);
            return Err(FragmentError::TooDeep {
                path,
                offset: before,
                limit: limits.max_depth,
            });
        }
        if self.nodes.len() >= limits.max_elements {
            return Err(FragmentError::TooManyElements {
                offset: before,
                limit: limits.max_elements,
            });
        }
        let element_path = || {
            let mut path = self.stack_path(stack);
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(&name);
            path
        };
        let mut attrs = Vec::new();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|error| FragmentError::Malformed {
                path: element_path(),
                offset: before,
                message: error.to_string(),
            })?;
            let value = match attribute.normalized_value(XmlVersion::Implicit1_0) {
                Ok(value) => in_input(self.input, value),
                Err(quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(_, entity))) => {
                    return Err(FragmentError::UndefinedEntity {
                        path: element_path(),
                        offset: before,
                        name: entity,
                    });
                }
                Err(error) => {
                    return Err(FragmentError::Malformed {
                        path: element_path(),
                        offset: before,
                        message: error.to_string(),
                    });
                }
            };
            attrs.push((borrowed(self.input, attribute.key.as_ref()), value));
        }
        let index = self.nodes.len();
        let parent = stack.last().copied();
        self.nodes.push(Node {
            name,
            attrs,
            text: Cow::Borrowed(""),
            parent,
            children: Vec::new(),
            start: before,
            inner: after..after,
            end: after,
        });
        match parent {
            Some(parent) => self.nodes[parent].children.push(index),
            None => self.roots.push(index),
        }
        Ok(index)
    }

    fn stack_path(&self, stack: &[usize]) -> String {
        let mut path = String::new();
        for (i, &index) in stack.iter().enumerate() {
            if i > 0 {
                path.push('/');
            }
            path.push_str(&self.nodes[index].name);
        }
        path
    }

    /// Path of a node: element names from the top level down, joined by `/`.
    pub(crate) fn path(&self, index: usize) -> String {
        let mut chain = Vec::new();
        let mut cursor = Some(index);
        while let Some(i) = cursor {
            chain.push(&*self.nodes[i].name);
            cursor = self.nodes[i].parent;
        }
        chain.reverse();
        chain.join("/")
    }

    /// Path of a child that should exist under `parent` (or at top level).
    pub(crate) fn child_path(&self, parent: Option<usize>, name: &str) -> String {
        match parent {
            Some(parent) => format!("{}/{name}", self.path(parent)),
            None => name.to_owned(),
        }
    }

    /// Base name of a node (see [`base_name`]).
    pub(crate) fn base(&self, index: usize) -> &str {
        base_name(&self.nodes[index].name)
    }

    /// Whether the node's base name is `name`.
    pub(crate) fn is(&self, index: usize, name: &str) -> bool {
        self.base(index) == name
    }

    /// First top-level element with the given base name.
    pub(crate) fn root(&self, name: &str) -> Option<usize> {
        self.roots.iter().copied().find(|&i| self.is(i, name))
    }

    /// Child elements of a node.
    pub(crate) fn children(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        self.nodes[index].children.iter().copied()
    }

    /// First child with the given base name.
    #[cfg(test)]
    pub(crate) fn child(&self, index: usize, name: &str) -> Option<usize> {
        self.children(index).find(|&c| self.is(c, name))
    }

    /// Raw inner XML of a node, exactly as written.
    pub(crate) fn inner_xml(&self, index: usize) -> &'a str {
        let range = self.nodes[index].inner.clone();
        self.input.get(range).unwrap_or("")
    }

    /// Raw XML of a node including its tags, exactly as written.
    pub(crate) fn outer_xml(&self, index: usize) -> &'a str {
        let node = &self.nodes[index];
        self.input.get(node.start..node.end).unwrap_or("")
    }

    /// Attribute value by name; an exact match wins, else a match on the local part.
    pub(crate) fn attr(&self, index: usize, name: &str) -> Option<&str> {
        let attrs = &self.nodes[index].attrs;
        attrs
            .iter()
            .find(|(key, _)| key == name)
            .or_else(|| {
                attrs
                    .iter()
                    .find(|(key, _)| !key.starts_with("xmlns") && local_attr_name(key) == name)
            })
            .map(|(_, value)| &**value)
    }

    /// The attributes of a node, owned.
    pub(crate) fn owned_attrs(&self, index: usize) -> Vec<(String, String)> {
        self.nodes[index]
            .attrs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    /// Optional attribute, owned.
    pub(crate) fn attr_string(&self, index: usize, name: &str) -> Option<String> {
        self.attr(index, name).map(str::to_owned)
    }

    /// Required attribute.
    pub(crate) fn required_attr(
        &self,
        index: usize,
        name: &'static str,
    ) -> Result<&str, FragmentError> {
        self.attr(index, name)
            .ok_or_else(|| FragmentError::MissingAttribute {
                path: self.path(index),
                offset: self.nodes[index].start,
                attribute: name,
            })
    }

    /// Optional attribute parsed with `FromStr` (surrounding whitespace ignored).
    pub(crate) fn parsed_attr<T: FromStr>(
        &self,
        index: usize,
        name: &'static str,
        expected: &'static str,
    ) -> Result<Option<T>, FragmentError> {
        match self.attr(index, name) {
            None => Ok(None),
            Some(value) => value
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.invalid(index, name, value, expected)),
        }
    }

    /// Optional `xs:boolean` attribute (`true`, `false`, `1`, `0`; case ignored).
    pub(crate) fn bool_attr(
        &self,
        index: usize,
        name: &'static str,
    ) -> Result<Option<bool>, FragmentError> {
        match self.attr(index, name) {
            None => Ok(None),
            Some(value) => match value.trim() {
                v if v.eq_ignore_ascii_case("true") || v == "1" => Ok(Some(true)),
                v if v.eq_ignore_ascii_case("false") || v == "0" => Ok(Some(false)),
                _ => Err(self.invalid(index, name, value, "a boolean")),
            },
        }
    }

    fn invalid(
        &self,
        index: usize,
        name: &'static str,
        value: &str,
        expected: &'static str,
    ) -> FragmentError {
        FragmentError::InvalidAttribute {
            path: self.path(index),
            offset: self.nodes[index].start,
            attribute: name,
            value: value.to_owned(),
            expected,
        }
    }

    /// Error for a required child (or top-level element when `parent` is `None`).
    pub(crate) fn missing(&self, parent: Option<usize>, name: &str) -> FragmentError {
        FragmentError::MissingElement {
            path: self.child_path(parent, name),
            offset: parent.map_or(0, |p| self.nodes[p].start),
        }
    }

    /// Descendants of a node in document order (bounded by the depth limit already applied).
    pub(crate) fn descendants(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        let mut stack: Vec<usize> = self.nodes[index].children.iter().rev().copied().collect();
        std::iter::from_fn(move || {
            let next = stack.pop()?;
            stack.extend(self.nodes[next].children.iter().rev().copied());
            Some(next)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names() {
        assert_eq!(base_name("b.WindowsVersion"), "WindowsVersion");
        assert_eq!(
            base_name("d.WindowsDriverMetaData"),
            "WindowsDriverMetaData"
        );
        assert_eq!(base_name("foo:Bar"), "Bar");
        assert_eq!(base_name("upd:b.X"), "X");
        assert_eq!(base_name("UpdateIdentity"), "UpdateIdentity");
        assert_eq!(base_name("a."), "a.");
        assert_eq!(base_name(""), "");
    }

    #[test]
    fn offsets_and_raw_xml() {
        let text = "<A x=\"1\"><B>t&amp;u</B><C/></A>\n<D />";
        let dom = Dom::parse(text, &ParseLimits::DEFAULT).unwrap();
        assert_eq!(dom.roots.len(), 2);
        let a = dom.roots[0];
        assert_eq!(dom.nodes[a].start, 0);
        assert_eq!(dom.inner_xml(a), "<B>t&amp;u</B><C/>");
        assert_eq!(dom.outer_xml(a), "<A x=\"1\"><B>t&amp;u</B><C/></A>");
        let b = dom.child(a, "B").unwrap();
        assert_eq!(dom.nodes[b].text, "t&u");
        assert_eq!(dom.nodes[b].start, 9);
        let c = dom.child(a, "C").unwrap();
        assert_eq!(dom.inner_xml(c), "");
        assert_eq!(dom.outer_xml(c), "<C/>");
        let d = dom.roots[1];
        assert_eq!(dom.outer_xml(d), "<D />");
        assert_eq!(dom.path(b), "A/B");
        assert_eq!(dom.descendants(a).count(), 2);
    }

    #[test]
    fn attribute_lookup_prefers_exact_then_local() {
        let dom = Dom::parse(
            "<H xmlns:xsi=\"u\" xsi:type=\"cmd:X\" a:b=\"1\" b=\"2\"/>",
            &ParseLimits::DEFAULT,
        )
        .unwrap();
        let h = dom.roots[0];
        assert_eq!(dom.attr(h, "type"), Some("cmd:X"));
        assert_eq!(dom.attr(h, "b"), Some("2"));
        assert_eq!(dom.attr(h, "xsi"), None);
    }
}
