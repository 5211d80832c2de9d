//! The update catalog of the samples: categories, a detectoid, software updates, a bundle,
//! their metadata fragments in WSUS shape (reference 3.7) and their content files.
//!
//! ```text
//!  Company (root) ──► Product ──► Detectoid ──► U1..U9, B1, M1
//!  Classification (root) ─────────────────────► U1..U9, B1, M1
//!  B1 bundles M1 (M1: Action=Bundle)
//! ```
//!
//! Every software revision has the same three prerequisite clauses: the detectoid (a direct
//! `UpdateIdentity`), `AtLeastOne IsCategory="true"` with the product, and `AtLeastOne
//! IsCategory="true"` with the classification. So Company and Classification are roots,
//! Product arrives one level later, the detectoid one more, and the leaves last (7.3.2).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use wusp::fragment::{
    CoreFragmentBuilder, ExtendedFragmentBuilder, FileMetadata, LocalizedPropertiesBuilder,
    UpdateIdentityRef, UpdateType, rules,
};

use crate::seed;

/// Host (and port) the client uses; WSUS builds content URLs from it (reference 1.7).
pub const HOST: &str = "wsus.contoso.test:8530";

/// What a catalog entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The company category (root).
    Company,
    /// An update classification category (root).
    Classification,
    /// A product category (prerequisite: the company).
    Product,
    /// A detectoid (prerequisite: the product).
    Detectoid,
    /// An installable software update with one file.
    Software,
    /// A bundle parent: no file of its own, bundles a member.
    BundleParent,
    /// A bundle member: delivered with Action=Bundle, carries the file.
    BundleMember,
}

impl Kind {
    /// True for the three category kinds.
    pub fn is_category(self) -> bool {
        matches!(self, Kind::Company | Kind::Classification | Kind::Product)
    }
}

/// A content file of a revision: deterministic bytes and what the metadata says of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleFile {
    /// `File/@FileName`.
    pub file_name: String,
    /// The content.
    pub bytes: Vec<u8>,
    /// SHA-1 of the content (`File/@Digest`, `FileLocation/FileDigest`).
    pub sha1: [u8; 20],
    /// SHA-256 of the content (`AdditionalDigest Algorithm="SHA256"`).
    pub sha256: [u8; 32],
    /// `File/@Modified`.
    pub modified: String,
}

impl SampleFile {
    fn generate(label: &str, file_name: String) -> SampleFile {
        let size = seed::range(&format!("size/{label}"), 2_000, 5_000) as usize;
        let mut bytes = b"MZ".to_vec();
        bytes.extend(seed::bytes(&format!("file/{label}"), size - 2));
        let mut sha1 = [0u8; 20];
        sha1.copy_from_slice(&Sha1::digest(&bytes));
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&Sha256::digest(&bytes));
        let day = seed::range(&format!("modified-day/{label}"), 21, 29);
        let second = seed::range(&format!("modified-second/{label}"), 0, 86_399);
        let millis = seed::range(&format!("modified-ms/{label}"), 1, 999);
        let modified = format!(
            "2026-09-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            second / 3600,
            second / 60 % 60,
            second % 60
        );
        SampleFile {
            file_name,
            bytes,
            sha1,
            sha256,
            modified,
        }
    }

    /// `File/@Digest`: base64 of the SHA-1.
    pub fn digest_base64(&self) -> String {
        STANDARD.encode(self.sha1)
    }

    /// The WSUS content path: `/Content/<XX>/<SHA1HEX>.<ext>`, XX = last two hex digits.
    pub fn content_path(&self) -> String {
        let hex = seed::hex_upper(&self.sha1);
        let ext = self.file_name.rsplit('.').next().unwrap_or("bin");
        format!("/Content/{}/{hex}.{ext}", &hex[hex.len() - 2..])
    }

    /// The content URL as WSUS hands it out (host from the SOAP request's Host header).
    pub fn url(&self) -> String {
        format!("http://{HOST}{}", self.content_path())
    }
}

/// One revision of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// Short name used in the scenario and the tests: `Company`, `U3`, `B1`, `M1`…
    pub name: &'static str,
    /// What it is.
    pub kind: Kind,
    /// The server-local revision ID.
    pub revision_id: i32,
    /// The UpdateID, as written in the revision's own `UpdateIdentity` (categories in upper
    /// case like native WSUS; references to it are written in lower case).
    pub update_id: String,
    /// The RevisionNumber.
    pub revision_number: i32,
    /// English title.
    pub title: String,
    /// KB number of software revisions.
    pub kb: Option<u32>,
    /// The content file (software and bundle members).
    pub file: Option<SampleFile>,
}

/// The whole catalog, in revision-ID order.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The revisions.
    pub entries: Vec<CatalogEntry>,
}

const NAMES: [&str; 15] = [
    "Company",
    "Classification",
    "Product",
    "Detectoid",
    "U1",
    "U2",
    "U3",
    "U4",
    "B1",
    "M1",
    "U5",
    "U6",
    "U7",
    "U8",
    "U9",
];

impl Catalog {
    /// Builds the catalog (deterministic).
    pub fn new() -> Catalog {
        let entries = NAMES.iter().map(|&name| entry(name)).collect();
        Catalog { entries }
    }

    /// The entry called `name`.
    ///
    /// # Panics
    /// If there is no such entry (the names are fixed in this module).
    pub fn get(&self, name: &str) -> &CatalogEntry {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no catalog entry {name}"))
    }

    /// The entry with this revision ID.
    pub fn by_revision(&self, revision_id: i32) -> Option<&CatalogEntry> {
        self.entries.iter().find(|e| e.revision_id == revision_id)
    }

    /// The lower-case UpdateID of `name`, as prerequisites write it.
    fn reference(&self, name: &str) -> String {
        self.get(name).update_id.to_ascii_lowercase()
    }

    /// The prerequisite clauses of `name`, one entry name per AND-clause.
    pub fn prerequisites(&self, name: &str) -> &'static [&'static str] {
        Catalog::prerequisite_names(self.get(name).kind)
    }

    /// The entries `name` bundles (B1 bundles M1).
    pub fn bundled(&self, name: &str) -> &'static [&'static str] {
        match self.get(name).kind {
            Kind::BundleParent => &["M1"],
            _ => &[],
        }
    }

    fn prerequisite_names(kind: Kind) -> &'static [&'static str] {
        match kind {
            Kind::Company | Kind::Classification => &[],
            Kind::Product => &["Company"],
            Kind::Detectoid => &["Product"],
            Kind::Software | Kind::BundleParent | Kind::BundleMember => {
                &["Detectoid", "Product", "Classification"]
            }
        }
    }

    /// Names of every entry `name` needs, directly or transitively (its prerequisite closure).
    pub fn prerequisite_closure(&self, name: &str) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        let mut todo: Vec<&'static str> = Catalog::prerequisite_names(self.get(name).kind).to_vec();
        while let Some(n) = todo.pop() {
            if !out.contains(&n) {
                out.push(n);
                todo.extend_from_slice(Catalog::prerequisite_names(self.get(n).kind));
            }
        }
        out
    }

    /// IsLeaf (reference 7.3.1): no revision of the catalog names this UpdateID as a prerequisite.
    pub fn is_leaf(&self, name: &str) -> bool {
        !self
            .entries
            .iter()
            .any(|e| Catalog::prerequisite_names(e.kind).contains(&name))
    }

    /// The Core fragment (the `UpdateInfo/Xml` of SyncUpdates), unescaped.
    pub fn core_xml(&self, name: &str) -> String {
        let e = self.get(name);
        let (update_type, explicit) = match e.kind {
            Kind::Company | Kind::Classification | Kind::Product => (UpdateType::Category, None),
            Kind::Detectoid => (UpdateType::Detectoid, None),
            Kind::Software | Kind::BundleParent => (UpdateType::Software, Some(true)),
            Kind::BundleMember => (UpdateType::Software, Some(false)),
        };
        let mut b = CoreFragmentBuilder::new(e.update_id.clone(), e.revision_number, update_type);
        if let Some(explicit) = explicit {
            b = b
                .explicitly_deployable(explicit)
                .auto_select_on_web_sites(explicit);
        }
        match e.kind {
            Kind::Company | Kind::Classification => b = b.is_installed(rules::TRUE),
            Kind::Product => {
                b = b
                    .prerequisite_at_least_one([self.reference("Company")], true)
                    .is_installed(rules::windows_version(
                        "GreaterThanOrEqualTo",
                        10,
                        0,
                        Some(1),
                    ));
            }
            Kind::Detectoid => {
                b = b
                    .prerequisite(self.reference("Product"))
                    .is_installed(rules::element(
                        "b.WindowsVersion",
                        &[
                            ("Comparison", "GreaterThanOrEqualTo"),
                            ("MajorVersion", "10"),
                            ("MinorVersion", "0"),
                            ("BuildNumber", "22000"),
                        ],
                    ));
            }
            Kind::Software | Kind::BundleParent | Kind::BundleMember => {
                b = b
                    .prerequisite(self.reference("Detectoid"))
                    .prerequisite_at_least_one([self.reference("Product")], true)
                    .prerequisite_at_least_one([self.reference("Classification")], true);
                if e.kind == Kind::BundleParent {
                    let m = self.get("M1");
                    b = b.bundled_at_least_one([UpdateIdentityRef::new(
                        m.update_id.clone(),
                        m.revision_number,
                    )]);
                } else {
                    let kb = format!("KB{}", e.kb.unwrap_or_default());
                    b = b
                        .is_installed(rules::element(
                            "b.RegDword",
                            &[
                                ("Key", "HKEY_LOCAL_MACHINE"),
                                ("Subkey", r"SOFTWARE\Contoso\EndpointAgent\Updates"),
                                ("Value", kb.as_str()),
                                ("Comparison", "EqualTo"),
                                ("Data", "1"),
                            ],
                        ))
                        .is_installable(rules::element(
                            "b.RegKeyExists",
                            &[
                                ("Key", "HKEY_LOCAL_MACHINE"),
                                ("Subkey", r"SOFTWARE\Contoso\EndpointAgent"),
                            ],
                        ));
                }
            }
        }
        b.build()
    }

    /// The Extended fragment (GetExtendedUpdateInfo, `Extended`), unescaped.
    pub fn extended_xml(&self, name: &str) -> String {
        let e = self.get(name);
        let b = ExtendedFragmentBuilder::new().default_properties_language("en");
        match e.kind {
            Kind::Company => b.category("Company").build(),
            Kind::Classification => b.category("UpdateClassification").build(),
            Kind::Product => b.category("Product").build(),
            Kind::Detectoid => b.build(),
            Kind::BundleParent => {
                let size = self.get("M1").file.as_ref().map_or(0, |f| f.bytes.len());
                b.max_download_size(size as u64)
                    .min_download_size(0)
                    .properties_inner_xml(
                        r#"<InstallationBehavior RebootBehavior="CanRequestReboot" />"#,
                    )
                    .build()
            }
            Kind::Software | Kind::BundleMember => {
                let Some(f) = &e.file else {
                    return b.build();
                };
                let size = f.bytes.len() as u64;
                let command = format!(
                    r#"<InstallCommand Arguments="/quiet /norestart" Program="{}" RebootByDefault="false" DefaultResult="Failed"><ReturnCode Reboot="false" Result="Succeeded" Code="0" /><ReturnCode Reboot="true" Result="Succeeded" Code="3010" /></InstallCommand>"#,
                    f.file_name
                );
                b.handler("http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/CommandLineInstallation")
                    .max_download_size(size)
                    .min_download_size(size)
                    .properties_inner_xml(r#"<InstallationBehavior RebootBehavior="CanRequestReboot" />"#)
                    .file(
                        FileMetadata::from_sha1(&f.sha1, f.file_name.clone(), size)
                            .with_modified(f.modified.clone())
                            .with_sha256(&f.sha256),
                    )
                    .handler_specific_data("cmd:CommandLineInstallation", command)
                    .build()
            }
        }
    }

    /// The English LocalizedProperties fragment, unescaped.
    pub fn localized_xml(&self, name: &str) -> String {
        let e = self.get(name);
        let mut b = LocalizedPropertiesBuilder::new("en").title(e.title.clone());
        b = match (e.kind, e.kb) {
            (Kind::Software | Kind::BundleParent | Kind::BundleMember, Some(kb)) => b
                .description(format!(
                    "Install this update to resolve issues in Contoso Endpoint Agent. After you install this item, you may have to restart your computer. (KB{kb})"
                ))
                .more_info_url(format!("https://support.contoso.test/help/{kb}"))
                .support_url("https://support.contoso.test/"),
            (Kind::Classification, _) => b.description(
                "A widely released fix for a product-specific, security-related vulnerability.",
            ),
            _ => b.description(e.title.clone()),
        };
        b.build()
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::new()
    }
}

fn entry(name: &'static str) -> CatalogEntry {
    let (kind, revision_id, revision_number) = match name {
        "Company" => (Kind::Company, 38_101, 101),
        "Classification" => (Kind::Classification, 38_102, 103),
        "Product" => (Kind::Product, 38_103, 202),
        "Detectoid" => (Kind::Detectoid, 38_104, 104),
        "B1" => (Kind::BundleParent, 38_114, 200),
        "M1" => (Kind::BundleMember, 38_115, 201),
        u => {
            let n: i32 = u[1..].parse().unwrap_or(0);
            // U1..U4 were imported with the catalog; U5..U9 arrived the day after.
            let id = if n <= 4 { 38_109 + n } else { 38_115 + n };
            (Kind::Software, id, 200 + n)
        }
    };
    let raw_id = seed::guid(&format!("update/{name}"));
    let update_id = if kind.is_category() {
        raw_id.to_ascii_uppercase()
    } else {
        raw_id
    };
    let kb = match kind {
        Kind::Software => Some(5_069_100 + name[1..].parse::<u32>().unwrap_or(0) * 10),
        Kind::BundleParent | Kind::BundleMember => Some(5_069_200),
        _ => None,
    };
    let title = match (kind, kb) {
        (Kind::Company, _) => "Contoso Ltd.".to_owned(),
        (Kind::Classification, _) => "Security Updates".to_owned(),
        (Kind::Product, _) => "Contoso Endpoint Agent".to_owned(),
        (Kind::Detectoid, _) => "Windows 11 or later (detectoid)".to_owned(),
        (Kind::BundleParent, Some(kb)) => {
            format!("2026-10 Feature Pack for Contoso Endpoint Agent (KB{kb})")
        }
        (Kind::BundleMember, Some(kb)) => {
            format!("2026-10 Feature Pack for Contoso Endpoint Agent, x64 package (KB{kb})")
        }
        (_, kb) => format!(
            "2026-10 Security Update for Contoso Endpoint Agent (KB{})",
            kb.unwrap_or_default()
        ),
    };
    let file = match (kind, kb) {
        (Kind::Software | Kind::BundleMember, Some(kb)) => Some(SampleFile::generate(
            name,
            format!("contoso-agent-kb{kb}-x64.exe"),
        )),
        _ => None,
    };
    CatalogEntry {
        name,
        kind,
        revision_id,
        update_id,
        revision_number,
        title,
        kb,
        file,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wusp::fragment::{MetadataIndex, parse_extended, parse_localized};

    #[test]
    fn leaves_and_levels() {
        let c = Catalog::new();
        for n in ["Company", "Classification", "Product", "Detectoid"] {
            assert!(!c.is_leaf(n), "{n}");
        }
        for n in ["U1", "U9", "B1", "M1"] {
            assert!(c.is_leaf(n), "{n}");
        }
        let mut closure = c.prerequisite_closure("U1");
        closure.sort_unstable();
        assert_eq!(
            closure,
            ["Classification", "Company", "Detectoid", "Product"]
        );
    }

    #[test]
    fn fragments_parse_and_index_agrees() {
        let c = Catalog::new();
        let mut index = MetadataIndex::new();
        for e in &c.entries {
            index
                .insert_core(e.revision_id, &c.core_xml(e.name))
                .unwrap();
            index
                .insert_extended(e.revision_id, &c.extended_xml(e.name))
                .unwrap();
            parse_localized(&c.localized_xml(e.name)).unwrap();
        }
        for e in &c.entries {
            assert_eq!(
                index.is_leaf(e.revision_id),
                Some(c.is_leaf(e.name)),
                "{}",
                e.name
            );
        }
        let b1 = c.get("B1").revision_id;
        assert_eq!(
            index.bundled_members(b1)[0].revision_id,
            Some(c.get("M1").revision_id)
        );
        let u1 = c.get("U1");
        let f = u1.file.as_ref().unwrap();
        let files = index.files(u1.revision_id);
        assert_eq!(files[0].sha1(), Some(f.sha1));
        assert_eq!(files[0].sha256(), Some(f.sha256));
        assert_eq!(files[0].size, Some(f.bytes.len() as u64));
        let cat = parse_extended(&c.extended_xml("Product")).unwrap();
        assert_eq!(cat.category_type.as_deref(), Some("Product"));
        assert!(
            f.url()
                .starts_with("http://wsus.contoso.test:8530/Content/")
        );
        let hex = seed::hex_upper(&f.sha1);
        assert!(f.content_path().ends_with(&format!("/{hex}.exe")));
        assert_eq!(&f.content_path()[9..11], &hex[38..]);
    }
}
