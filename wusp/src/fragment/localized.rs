//! The LocalizedProperties and Eula fragments (reference 3.7).

use super::dom::Dom;
use super::extended::{FileMetadata, read_file};
use super::{FragmentError, FragmentKind, ParseLimits};

/// A parsed LocalizedProperties fragment: the texts of one revision in one language.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalizedPropertiesFragment {
    /// `Language` (the key of the fragment), e.g. `en`.
    pub language: String,
    /// `Title`.
    pub title: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `UninstallNotes`.
    pub uninstall_notes: Option<String>,
    /// `MoreInfoUrl`.
    pub more_info_url: Option<String>,
    /// `SupportUrl`.
    pub support_url: Option<String>,
    /// Every other child (and repeated ones) as (name as written, text), in order.
    pub others: Vec<(String, String)>,
}

impl LocalizedPropertiesFragment {
    /// Parses LocalizedProperties fragment text with the default limits.
    pub fn parse(text: &str) -> Result<LocalizedPropertiesFragment, FragmentError> {
        parse_localized_with(text, &ParseLimits::DEFAULT)
    }
}

/// Parses LocalizedProperties fragment text with the default limits.
pub fn parse_localized(text: &str) -> Result<LocalizedPropertiesFragment, FragmentError> {
    parse_localized_with(text, &ParseLimits::DEFAULT)
}

fn expect_root(dom: &Dom<'_>, name: &str, kind: FragmentKind) -> Result<usize, FragmentError> {
    match dom.roots.first() {
        Some(&root) if dom.is(root, name) => Ok(root),
        Some(&root) => Err(FragmentError::UnexpectedRoot {
            expected: kind,
            found: dom.nodes[root].name.to_string(),
            offset: dom.nodes[root].start,
        }),
        None => Err(dom.missing(None, name)),
    }
}

/// Parses LocalizedProperties fragment text with explicit limits.
///
/// The first element must be `LocalizedProperties` and hold a `Language` child.
pub fn parse_localized_with(
    text: &str,
    limits: &ParseLimits,
) -> Result<LocalizedPropertiesFragment, FragmentError> {
    let dom = Dom::parse(text, limits)?;
    let root = expect_root(
        &dom,
        "LocalizedProperties",
        FragmentKind::LocalizedProperties,
    )?;
    let mut language = None;
    let mut fragment = LocalizedPropertiesFragment::default();
    for child in dom.children(root) {
        let text = dom.nodes[child].text.to_string();
        let slot = match dom.base(child) {
            "Language" => &mut language,
            "Title" => &mut fragment.title,
            "Description" => &mut fragment.description,
            "UninstallNotes" => &mut fragment.uninstall_notes,
            "MoreInfoUrl" => &mut fragment.more_info_url,
            "SupportUrl" => &mut fragment.support_url,
            _ => {
                fragment
                    .others
                    .push((dom.nodes[child].name.to_string(), text));
                continue;
            }
        };
        if slot.is_none() {
            *slot = Some(text);
        } else {
            fragment
                .others
                .push((dom.nodes[child].name.to_string(), text));
        }
    }
    fragment.language = language
        .map(|l| l.trim().to_owned())
        .ok_or_else(|| dom.missing(Some(root), "Language"))?;
    Ok(fragment)
}

/// A parsed Eula fragment: one `EulaFile`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EulaFragment {
    /// `@Language`, the key of the fragment.
    pub language: Option<String>,
    /// `@GeoId`, when present.
    pub geo_id: Option<String>,
    /// `@Digest`, `@DigestAlgorithm`, `@FileName`, `@Size` and `AdditionalDigest`.
    pub file: FileMetadata,
}

impl EulaFragment {
    /// Parses Eula fragment text with the default limits.
    pub fn parse(text: &str) -> Result<EulaFragment, FragmentError> {
        parse_eula_with(text, &ParseLimits::DEFAULT)
    }
}

/// Parses Eula fragment text with the default limits.
pub fn parse_eula(text: &str) -> Result<EulaFragment, FragmentError> {
    parse_eula_with(text, &ParseLimits::DEFAULT)
}

/// Parses Eula fragment text with explicit limits; the first element must be `EulaFile`.
pub fn parse_eula_with(text: &str, limits: &ParseLimits) -> Result<EulaFragment, FragmentError> {
    let dom = Dom::parse(text, limits)?;
    let root = expect_root(&dom, "EulaFile", FragmentKind::Eula)?;
    Ok(EulaFragment {
        language: dom.attr_string(root, "Language"),
        geo_id: dom.attr_string(root, "GeoId"),
        file: read_file(&dom, root)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localized_properties() {
        let text = "<LocalizedProperties><Language>en</Language><Title>Update for Windows (KB1) &amp; more &#x2014; x64</Title><Description>Install this update.\r\nSecond line.</Description><UninstallNotes>n</UninstallNotes><MoreInfoUrl>https://support.example/?a=1&amp;b=2</MoreInfoUrl><SupportUrl>https://support.example</SupportUrl><KeyWords>kw</KeyWords></LocalizedProperties>";
        let localized = parse_localized(text).unwrap();
        assert_eq!(localized.language, "en");
        assert_eq!(
            localized.title.as_deref(),
            Some("Update for Windows (KB1) & more \u{2014} x64")
        );
        assert_eq!(
            localized.description.as_deref(),
            Some("Install this update.\nSecond line.")
        );
        assert_eq!(localized.uninstall_notes.as_deref(), Some("n"));
        assert_eq!(
            localized.more_info_url.as_deref(),
            Some("https://support.example/?a=1&b=2")
        );
        assert_eq!(
            localized.support_url.as_deref(),
            Some("https://support.example")
        );
        assert_eq!(
            localized.others,
            vec![("KeyWords".to_owned(), "kw".to_owned())]
        );
    }

    #[test]
    fn localized_requires_root_and_language() {
        assert!(matches!(
            parse_localized("<UpdateIdentity UpdateID=\"x\" RevisionNumber=\"1\"/>"),
            Err(FragmentError::UnexpectedRoot { expected: FragmentKind::LocalizedProperties, ref found, offset: 0 })
                if found == "UpdateIdentity"
        ));
        assert_eq!(
            parse_localized("  <LocalizedProperties><Title>t</Title></LocalizedProperties>"),
            Err(FragmentError::MissingElement {
                path: "LocalizedProperties/Language".to_owned(),
                offset: 2
            })
        );
        assert_eq!(
            parse_localized(""),
            Err(FragmentError::MissingElement {
                path: "LocalizedProperties".to_owned(),
                offset: 0
            })
        );
    }

    #[test]
    fn eula_file() {
        let text = r#"<EulaFile Digest="qZk+NkcGgWq6PiVxeFDCbJzQ2J0=" DigestAlgorithm="SHA1" FileName="eula.txt" Size="1234" Language="de" GeoId="94"><AdditionalDigest Algorithm="SHA256">LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=</AdditionalDigest></EulaFile>"#;
        let eula = parse_eula(text).unwrap();
        assert_eq!(eula.language.as_deref(), Some("de"));
        assert_eq!(eula.geo_id.as_deref(), Some("94"));
        assert_eq!(eula.file.file_name.as_deref(), Some("eula.txt"));
        assert_eq!(eula.file.size, Some(1234));
        assert!(eula.file.sha1().is_some());
        assert!(eula.file.sha256().is_some());
        assert!(matches!(
            parse_eula("<Files/>"),
            Err(FragmentError::UnexpectedRoot {
                expected: FragmentKind::Eula,
                ..
            })
        ));
    }
}
