//! Update metadata fragments: parsing, indexing and building (reference 3.6, 3.7, 7.1, 7.3).
//!
//! A WSUS server stores the full update XML of every revision and hands clients reduced
//! *fragments* of it: the **Core** fragment in `SyncUpdates` (`UpdateInfo/Xml`), and the
//! **Extended**, **LocalizedProperties** and **Eula** fragments in `GetExtendedUpdateInfo`.
//! Once the SOAP layer has unescaped the `Xml` text, a fragment is *not* a well-formed
//! document: it has several top-level elements, its namespace declarations are stripped,
//! rule elements are renamed with dotted prefixes (`b.WindowsVersion`, `m.MsiProductInstalled`,
//! `d.WindowsDriverMetaData`) and GUIDs come in mixed case.
//!
//! This module reads such text leniently (several roots, any prefix, dots in names) but
//! safely: no DTD, no entity beyond the five predefined ones and character references,
//! and bounded size, depth and element count ([`ParseLimits`]). Every error names the
//! element path (`Relationships/Prerequisites/AtLeastOne/UpdateIdentity`) and a byte offset.
//!
//! - [`parse_core`], [`parse_extended`], [`parse_localized`], [`parse_eula`] give typed
//!   views ([`CoreFragment`], [`ExtendedFragment`], [`LocalizedPropertiesFragment`],
//!   [`EulaFragment`]); [`classify`] tells the kind of a fragment from its first element.
//! - [`MetadataIndex`] keeps fragments by revision ID and by UpdateID and answers the
//!   questions of the server computation of reference 7.3: IsLeaf (7.3.1), the
//!   prerequisite filter (step 2), bundle members, files.
//! - [`CoreFragmentBuilder`], [`ExtendedFragmentBuilder`] and [`LocalizedPropertiesBuilder`]
//!   emit fragments in the shapes WSUS sends (unescaped text; the SOAP layer escapes it).
//!   Parsing built text gives back the builder's fields.

mod build;
mod core_fragment;
mod dom;
mod extended;
mod index;
mod localized;
#[cfg(test)]
mod tests;

pub use self::build::{
    CoreFragmentBuilder, ExtendedFragmentBuilder, LocalizedPropertiesBuilder, rules,
};
pub use self::core_fragment::{
    ApplicabilityRules, CoreFragment, DriverMetadata, FeatureScore, PrerequisiteClause,
    UpdateIdentityRef, UpdateType, pack_driver_version, parse_core, parse_core_with,
};
pub use self::extended::{
    AdditionalDigest, ExtendedFragment, FileMetadata, HandlerSpecificData, parse_extended,
    parse_extended_with,
};
pub use self::index::{BundledMember, MetadataIndex};
pub use self::localized::{
    EulaFragment, LocalizedPropertiesFragment, parse_eula, parse_eula_with, parse_localized,
    parse_localized_with,
};

use std::fmt;

/// Bounds applied while reading fragment text, so hostile input costs bounded work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Largest accepted fragment, in bytes of unescaped text.
    pub max_input_bytes: usize,
    /// Deepest accepted element nesting (a top-level element is at depth 1).
    pub max_depth: usize,
    /// Most elements accepted in one fragment.
    pub max_elements: usize,
}

impl ParseLimits {
    /// The default limits: 16 MiB, depth 256, 200 000 elements.
    ///
    /// Real core fragments reach a few hundred kilobytes (large applicability rules).
    pub const DEFAULT: ParseLimits = ParseLimits {
        max_input_bytes: 16 * 1024 * 1024,
        max_depth: 256,
        max_elements: 200_000,
    };
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Kind of a metadata fragment (the `XmlUpdateFragmentType` values that carry XML, 3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FragmentKind {
    /// `Core`: identity, properties, relationships, applicability rules.
    Core,
    /// `Extended`: `ExtendedProperties`, `Files`, `HandlerSpecificData`.
    Extended,
    /// `LocalizedProperties`: title, description and URLs in one language.
    LocalizedProperties,
    /// `Eula`: one `EulaFile`.
    Eula,
    /// Anything else, including text that does not parse.
    Unknown,
}

impl FragmentKind {
    /// The `XmlUpdateFragmentType` name of this kind (`Unknown` for [`FragmentKind::Unknown`]).
    pub fn as_str(self) -> &'static str {
        match self {
            FragmentKind::Core => "Core",
            FragmentKind::Extended => "Extended",
            FragmentKind::LocalizedProperties => "LocalizedProperties",
            FragmentKind::Eula => "Eula",
            FragmentKind::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for FragmentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tells the kind of a fragment from its first element; never fails.
///
/// `UpdateIdentity`, `Properties`, `Relationships`, `ApplicabilityRules` start a Core
/// fragment; `ExtendedProperties`, `Files`, `HandlerSpecificData` an Extended one;
/// `LocalizedProperties` and `EulaFile` the other two. Text that is not XML, or that opens
/// with a DTD, is [`FragmentKind::Unknown`].
pub fn classify(text: &str) -> FragmentKind {
    match dom::first_element_name(text) {
        Some(name) => match dom::base_name(&name) {
            "UpdateIdentity" | "Properties" | "Relationships" | "ApplicabilityRules" => {
                FragmentKind::Core
            }
            "ExtendedProperties" | "Files" | "HandlerSpecificData" => FragmentKind::Extended,
            "LocalizedProperties" => FragmentKind::LocalizedProperties,
            "EulaFile" => FragmentKind::Eula,
            _ => FragmentKind::Unknown,
        },
        None => FragmentKind::Unknown,
    }
}

/// Normalizes a GUID for comparison: trimmed, braces removed, ASCII lower case.
///
/// Fragments write GUIDs in mixed case (reference 1.4); the index keys on this form.
pub fn normalize_guid(guid: &str) -> String {
    let trimmed = guid.trim();
    let unbraced = trimmed
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(trimmed);
    unbraced.to_ascii_lowercase()
}

/// Why fragment text could not be read; paths are element names joined by `/`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FragmentError {
    /// The text is longer than [`ParseLimits::max_input_bytes`].
    #[error("fragment is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Length of the text, in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A document type declaration was found; fragments never carry one.
    #[error("document type declaration at byte {offset}: DTDs are not accepted in fragments")]
    Doctype {
        /// Byte offset of the `<!DOCTYPE`.
        offset: usize,
    },
    /// Elements nest deeper than [`ParseLimits::max_depth`].
    #[error("{}: nesting deeper than {limit} at byte {offset}", show_path(path))]
    TooDeep {
        /// Path of the element that went too deep.
        path: String,
        /// Byte offset of its start tag.
        offset: usize,
        /// The configured limit.
        limit: usize,
    },
    /// More elements than [`ParseLimits::max_elements`].
    #[error("more than {limit} elements (at byte {offset})")]
    TooManyElements {
        /// Byte offset of the first element over the limit.
        offset: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The text is not XML (bad syntax, mismatched or unclosed tags, bad attributes).
    #[error("{}: malformed XML at byte {offset}: {message}", show_path(path))]
    Malformed {
        /// Path of the innermost open element.
        path: String,
        /// Byte offset where the problem was seen.
        offset: usize,
        /// What the XML reader reported.
        message: String,
    },
    /// An entity reference other than the five predefined ones or a character reference.
    #[error("{}: undefined entity &{name}; at byte {offset}", show_path(path))]
    UndefinedEntity {
        /// Path of the element holding the reference.
        path: String,
        /// Byte offset of the element (attribute) or of the reference (text).
        offset: usize,
        /// The entity name.
        name: String,
    },
    /// A required element is absent.
    #[error(
        "{}: required element is missing (searched from byte {offset})",
        show_path(path)
    )]
    MissingElement {
        /// Path of the element that should be there.
        path: String,
        /// Byte offset of the parent element, 0 at top level.
        offset: usize,
    },
    /// A required attribute is absent.
    #[error(
        "{}: attribute {attribute} is missing (element at byte {offset})",
        show_path(path)
    )]
    MissingAttribute {
        /// Path of the element.
        path: String,
        /// Byte offset of the element's start tag.
        offset: usize,
        /// The attribute name.
        attribute: &'static str,
    },
    /// An attribute value does not have the expected form.
    #[error(
        "{}: attribute {attribute}={value:?} is not {expected} (element at byte {offset})",
        show_path(path)
    )]
    InvalidAttribute {
        /// Path of the element.
        path: String,
        /// Byte offset of the element's start tag.
        offset: usize,
        /// The attribute name.
        attribute: &'static str,
        /// The value as read.
        value: String,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// The first element does not start the requested kind of fragment.
    #[error("expected a {expected} fragment, found element {found} at byte {offset}")]
    UnexpectedRoot {
        /// The kind the caller asked for.
        expected: FragmentKind,
        /// Name of the first element, as written.
        found: String,
        /// Byte offset of that element.
        offset: usize,
    },
}

fn show_path(path: &str) -> &str {
    if path.is_empty() { "(top level)" } else { path }
}
