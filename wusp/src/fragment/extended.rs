//! The Extended fragment (reference 3.7): extended properties, files, handler data.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::dom::Dom;
use super::{FragmentError, ParseLimits};

/// `AdditionalDigest` child of a file: another digest, base64, with its algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdditionalDigest {
    /// `@Algorithm` (`SHA256` on the wire, PB<26>).
    pub algorithm: String,
    /// The base64 text, trimmed.
    pub digest: String,
}

/// One `Files/File` (or the file attributes of an `EulaFile`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FileMetadata {
    /// `@Digest` as written: base64 of the SHA-1 of the file, the key of GetFileLocations.
    pub digest: String,
    /// `@DigestAlgorithm` (`SHA1`).
    pub digest_algorithm: Option<String>,
    /// `@FileName`.
    pub file_name: Option<String>,
    /// `@Size` in bytes.
    pub size: Option<u64>,
    /// `@Modified` as written (a dateTime).
    pub modified: Option<String>,
    /// `@PatchingType` (e.g. express, PSF).
    pub patching_type: Option<String>,
    /// `AdditionalDigest` children, in order.
    pub additional_digests: Vec<AdditionalDigest>,
}

impl FileMetadata {
    /// A file described by its SHA-1, name and size (`DigestAlgorithm="SHA1"`).
    pub fn from_sha1(sha1: &[u8; 20], file_name: impl Into<String>, size: u64) -> Self {
        FileMetadata {
            digest: STANDARD.encode(sha1),
            digest_algorithm: Some("SHA1".to_owned()),
            file_name: Some(file_name.into()),
            size: Some(size),
            ..FileMetadata::default()
        }
    }

    /// Adds an `AdditionalDigest Algorithm="SHA256"`.
    pub fn with_sha256(mut self, sha256: &[u8; 32]) -> Self {
        self.additional_digests.push(AdditionalDigest {
            algorithm: "SHA256".to_owned(),
            digest: STANDARD.encode(sha256),
        });
        self
    }

    /// Sets `@Modified`.
    pub fn with_modified(mut self, modified: impl Into<String>) -> Self {
        self.modified = Some(modified.into());
        self
    }

    /// The `Digest` bytes, if the base64 decodes.
    pub fn digest_bytes(&self) -> Option<Vec<u8>> {
        STANDARD.decode(self.digest.trim()).ok()
    }

    /// The SHA-1: the `Digest` when the algorithm is SHA1 (or unstated) and it is 20 bytes.
    pub fn sha1(&self) -> Option<[u8; 20]> {
        match &self.digest_algorithm {
            Some(algorithm) if !algorithm.trim().eq_ignore_ascii_case("SHA1") => None,
            _ => self.digest_bytes()?.try_into().ok(),
        }
    }

    /// Base64 text of the first `AdditionalDigest` with this algorithm (case ignored).
    pub fn additional_digest(&self, algorithm: &str) -> Option<&str> {
        self.additional_digests
            .iter()
            .find(|d| d.algorithm.trim().eq_ignore_ascii_case(algorithm))
            .map(|d| d.digest.as_str())
    }

    /// The SHA-256 from `AdditionalDigest Algorithm="SHA256"`, if present and 32 bytes.
    pub fn sha256(&self) -> Option<[u8; 32]> {
        let text = self.additional_digest("SHA256")?;
        STANDARD.decode(text).ok()?.try_into().ok()
    }
}

/// `HandlerSpecificData`: the handler's type and its content as raw XML.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HandlerSpecificData {
    /// `@type` (written `xsi:type` in the full update XML), e.g. `cmd:CommandLineInstallation`.
    pub data_type: Option<String>,
    /// Inner XML as written.
    pub inner_xml: String,
}

/// A parsed Extended fragment (GetExtendedUpdateInfo, `Extended`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtendedFragment {
    /// `ExtendedProperties` attributes in document order.
    pub properties: Vec<(String, String)>,
    /// Inner XML of `ExtendedProperties` (e.g. `<InstallationBehavior ... />`).
    pub properties_inner_xml: String,
    /// `Files/File` entries.
    pub files: Vec<FileMetadata>,
    /// `HandlerSpecificData`, if present.
    pub handler_specific_data: Option<HandlerSpecificData>,
    /// `CategoryInformation/@CategoryType` inside `HandlerSpecificData` (category revisions).
    pub category_type: Option<String>,
    /// Other top-level elements, raw XML as written.
    pub other_elements: Vec<String>,
}

impl ExtendedFragment {
    /// Parses Extended fragment text with the default limits.
    pub fn parse(text: &str) -> Result<ExtendedFragment, FragmentError> {
        parse_extended_with(text, &ParseLimits::DEFAULT)
    }

    /// An `ExtendedProperties` attribute by name.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// `@Handler`: the update handler URI.
    pub fn handler(&self) -> Option<&str> {
        self.property("Handler")
    }

    /// `@DefaultPropertiesLanguage`.
    pub fn default_properties_language(&self) -> Option<&str> {
        self.property("DefaultPropertiesLanguage")
    }

    /// `@MaxDownloadSize` in bytes (`None` if absent or not a number).
    pub fn max_download_size(&self) -> Option<u64> {
        self.property("MaxDownloadSize")?.trim().parse().ok()
    }

    /// `@MinDownloadSize` in bytes (`None` if absent or not a number).
    pub fn min_download_size(&self) -> Option<u64> {
        self.property("MinDownloadSize")?.trim().parse().ok()
    }

    /// The `HandlerSpecificData` type, e.g. `cat:Category`.
    pub fn handler_data_type(&self) -> Option<&str> {
        self.handler_specific_data.as_ref()?.data_type.as_deref()
    }
}

/// Parses Extended fragment text with the default limits.
pub fn parse_extended(text: &str) -> Result<ExtendedFragment, FragmentError> {
    parse_extended_with(text, &ParseLimits::DEFAULT)
}

/// Parses Extended fragment text with explicit limits; `ExtendedProperties` is required.
pub fn parse_extended_with(
    text: &str,
    limits: &ParseLimits,
) -> Result<ExtendedFragment, FragmentError> {
    let dom = Dom::parse(text, limits)?;
    let mut fragment = ExtendedFragment::default();
    let mut seen_properties = false;
    let mut seen_files = false;
    for &root in &dom.roots {
        match dom.base(root) {
            "ExtendedProperties" if !seen_properties => {
                seen_properties = true;
                fragment.properties = dom.owned_attrs(root);
                fragment.properties_inner_xml = dom.inner_xml(root).to_owned();
            }
            "Files" if !seen_files => {
                seen_files = true;
                for file in dom.children(root) {
                    if dom.is(file, "File") {
                        fragment.files.push(read_file(&dom, file)?);
                    }
                }
            }
            "HandlerSpecificData" if fragment.handler_specific_data.is_none() => {
                fragment.handler_specific_data = Some(HandlerSpecificData {
                    data_type: dom.attr_string(root, "type"),
                    inner_xml: dom.inner_xml(root).to_owned(),
                });
                fragment.category_type = dom
                    .descendants(root)
                    .find(|&d| dom.is(d, "CategoryInformation"))
                    .and_then(|d| dom.attr_string(d, "CategoryType"));
            }
            _ => fragment.other_elements.push(dom.outer_xml(root).to_owned()),
        }
    }
    if !seen_properties {
        return Err(dom.missing(None, "ExtendedProperties"));
    }
    Ok(fragment)
}

/// Reads the file attributes and `AdditionalDigest` children of a `File` or `EulaFile`.
pub(crate) fn read_file(dom: &Dom<'_>, file: usize) -> Result<FileMetadata, FragmentError> {
    let mut metadata = FileMetadata {
        digest: dom.required_attr(file, "Digest")?.trim().to_owned(),
        digest_algorithm: dom.attr_string(file, "DigestAlgorithm"),
        file_name: dom.attr_string(file, "FileName"),
        size: dom.parsed_attr(file, "Size", "an unsigned 64-bit integer")?,
        modified: dom.attr_string(file, "Modified"),
        patching_type: dom.attr_string(file, "PatchingType"),
        additional_digests: Vec::new(),
    };
    for child in dom.children(file) {
        if dom.is(child, "AdditionalDigest") {
            metadata.additional_digests.push(AdditionalDigest {
                algorithm: dom.attr_string(child, "Algorithm").unwrap_or_default(),
                digest: dom.nodes[child].text.trim().to_owned(),
            });
        }
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Extended example of reference 3.7 with the elided values filled in.
    const EXAMPLE: &str = r#"<ExtendedProperties DefaultPropertiesLanguage="en" Handler="http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/CommandLineInstallation" MaxDownloadSize="1048576" MinDownloadSize="524288">
  <InstallationBehavior RebootBehavior="NeverReboots" /></ExtendedProperties>
<Files><File Digest="qZk+NkcGgWq6PiVxeFDCbJzQ2J0=" DigestAlgorithm="SHA1" FileName="x.exe" Size="1048576" Modified="2026-10-04T13:17:07.59Z"><AdditionalDigest Algorithm="SHA256">LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=</AdditionalDigest></File></Files>
<HandlerSpecificData type="cmd:CommandLineInstallation"><InstallCommand Arguments="/quiet" Program="x.exe" RebootByDefault="false" DefaultResult="Succeeded"><ReturnCode Reboot="false" Result="Succeeded" Code="0" /></InstallCommand></HandlerSpecificData>"#;

    #[test]
    fn reference_example() {
        let extended = parse_extended(EXAMPLE).unwrap();
        assert_eq!(
            extended.handler(),
            Some(
                "http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/CommandLineInstallation"
            )
        );
        assert_eq!(extended.default_properties_language(), Some("en"));
        assert_eq!(extended.max_download_size(), Some(1_048_576));
        assert_eq!(extended.min_download_size(), Some(524_288));
        assert_eq!(
            extended
                .properties
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>(),
            [
                "DefaultPropertiesLanguage",
                "Handler",
                "MaxDownloadSize",
                "MinDownloadSize"
            ]
        );
        assert_eq!(
            extended.properties_inner_xml.trim(),
            r#"<InstallationBehavior RebootBehavior="NeverReboots" />"#
        );
        assert_eq!(extended.files.len(), 1);
        let file = &extended.files[0];
        assert_eq!(file.digest, "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
        assert_eq!(file.digest_algorithm.as_deref(), Some("SHA1"));
        assert_eq!(file.file_name.as_deref(), Some("x.exe"));
        assert_eq!(file.size, Some(1_048_576));
        assert_eq!(file.modified.as_deref(), Some("2026-10-04T13:17:07.59Z"));
        assert_eq!(file.patching_type, None);
        // SHA-1 of "abc", SHA-256 of "hello".
        assert_eq!(
            file.sha1().unwrap(),
            [
                0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
                0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d
            ]
        );
        assert_eq!(file.sha256().unwrap()[..4], [0x2c, 0xf2, 0x4d, 0xba]);
        assert_eq!(
            file.additional_digest("sha256"),
            Some("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=")
        );
        assert_eq!(
            extended.handler_data_type(),
            Some("cmd:CommandLineInstallation")
        );
        assert!(
            extended
                .handler_specific_data
                .as_ref()
                .unwrap()
                .inner_xml
                .starts_with("<InstallCommand Arguments=\"/quiet\"")
        );
        assert_eq!(extended.category_type, None);
        assert!(extended.other_elements.is_empty());
    }

    #[test]
    fn category_extended() {
        let text = r#"<ExtendedProperties DefaultPropertiesLanguage="en" /><HandlerSpecificData xsi:type="cat:Category"><CategoryInformation CategoryType="Product" ProhibitsSubcategories="true" /></HandlerSpecificData><Unknown a="1"/>"#;
        let extended = parse_extended(text).unwrap();
        assert_eq!(extended.handler_data_type(), Some("cat:Category"));
        assert_eq!(extended.category_type.as_deref(), Some("Product"));
        assert!(extended.files.is_empty());
        assert_eq!(extended.max_download_size(), None);
        assert_eq!(
            extended.other_elements,
            vec![r#"<Unknown a="1"/>"#.to_owned()]
        );
    }

    #[test]
    fn missing_properties_and_bad_size() {
        assert_eq!(
            parse_extended("<Files />").unwrap_err(),
            FragmentError::MissingElement {
                path: "ExtendedProperties".to_owned(),
                offset: 0
            }
        );
        let error = parse_extended(
            r#"<ExtendedProperties /><Files><File Digest="AA==" Size="-1" /></Files>"#,
        )
        .unwrap_err();
        assert!(matches!(
            error,
            FragmentError::InvalidAttribute { ref path, attribute: "Size", offset: 29, .. }
                if path == "Files/File"
        ));
        let error = parse_extended(r#"<ExtendedProperties /><Files><File Size="1" /></Files>"#)
            .unwrap_err();
        assert!(matches!(
            error,
            FragmentError::MissingAttribute {
                attribute: "Digest",
                ..
            }
        ));
    }

    #[test]
    fn digest_accessors_reject_wrong_shapes() {
        let mut file = FileMetadata::from_sha1(&[7; 20], "a.cab", 10).with_sha256(&[9; 32]);
        assert_eq!(file.sha1(), Some([7; 20]));
        assert_eq!(file.sha256(), Some([9; 32]));
        file.digest_algorithm = Some("MD5".to_owned());
        assert_eq!(file.sha1(), None);
        file.digest_algorithm = None;
        file.digest = "not base64!".to_owned();
        assert_eq!(file.sha1(), None);
        file.digest = STANDARD.encode([1u8; 19]);
        assert_eq!(file.sha1(), None);
    }
}
