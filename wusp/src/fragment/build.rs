//! Builders that emit fragments in the shapes WSUS sends (reference 3.7).
//!
//! The output is the *unescaped* fragment text: the SOAP layer escapes it into `Xml`.
//! Attribute values and text are XML-escaped here; raw rule or handler XML is copied as
//! given. Names follow the WSUS renaming (`b.` rules, `d.WindowsDriverMetaData`), no
//! namespace declarations, top-level elements concatenated without separators.

use super::core_fragment::{DriverMetadata, PrerequisiteClause, UpdateIdentityRef, UpdateType};
use super::extended::FileMetadata;

/// Appends `value` escaped for a double-quoted attribute.
///
/// Tab, line feed and carriage return become character references so that attribute
/// normalization on the reading side gives them back.
fn push_attr_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Appends `value` escaped for element content (carriage return kept via a reference).
fn push_text(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Appends ` name="value"`.
fn push_attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    push_attr_value(out, value);
    out.push('"');
}

fn push_opt_attr(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        push_attr(out, name, value);
    }
}

fn bool_str(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// Appends `<name>text</name>` with escaped text.
fn push_text_element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_text(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Appends `<name>raw</name>` with the content copied as given.
fn push_raw_element(out: &mut String, name: &str, raw: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(raw);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Helpers that write applicability rule XML for [`CoreFragmentBuilder`].
pub mod rules {
    use super::push_attr;

    /// The rule that always holds, as WSUS writes it.
    pub const TRUE: &str = "<True />";
    /// The rule that never holds, as WSUS writes it.
    pub const FALSE: &str = "<False />";

    /// An empty rule element `<name a="v" ... />` with escaped values; `name` is written as is.
    pub fn element(name: &str, attributes: &[(&str, &str)]) -> String {
        let mut out = String::from("<");
        out.push_str(name);
        for (key, value) in attributes {
            push_attr(&mut out, key, value);
        }
        out.push_str(" />");
        out
    }

    /// `<b.WindowsVersion Comparison=".." MajorVersion=".." MinorVersion=".." [ProductType=".."] />`.
    pub fn windows_version(
        comparison: &str,
        major: u32,
        minor: u32,
        product_type: Option<u8>,
    ) -> String {
        let major = major.to_string();
        let minor = minor.to_string();
        let product = product_type.map(|p| p.to_string());
        let mut attributes = vec![
            ("Comparison", comparison),
            ("MajorVersion", major.as_str()),
            ("MinorVersion", minor.as_str()),
        ];
        if let Some(product) = &product {
            attributes.push(("ProductType", product.as_str()));
        }
        element("b.WindowsVersion", &attributes)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum BundleEntry {
    Bare(UpdateIdentityRef),
    AtLeastOne(Vec<UpdateIdentityRef>),
}

/// Builds Core fragment text: identity, properties, relationships, applicability rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreFragmentBuilder {
    update_id: String,
    revision_number: i32,
    update_type: UpdateType,
    explicitly_deployable: Option<bool>,
    auto_select_on_web_sites: Option<bool>,
    os_upgrade: Option<String>,
    eula_id: Option<String>,
    prerequisites: Vec<PrerequisiteClause>,
    bundled: Vec<BundleEntry>,
    superseded: Vec<UpdateIdentityRef>,
    is_installed: Option<String>,
    is_superseded: Option<String>,
    is_installable: Option<String>,
    drivers: Vec<DriverMetadata>,
}

impl CoreFragmentBuilder {
    /// Starts a fragment for the revision (UpdateID, RevisionNumber) of the given type.
    pub fn new(
        update_id: impl Into<String>,
        revision_number: i32,
        update_type: UpdateType,
    ) -> Self {
        CoreFragmentBuilder {
            update_id: update_id.into(),
            revision_number,
            update_type,
            explicitly_deployable: None,
            auto_select_on_web_sites: None,
            os_upgrade: None,
            eula_id: None,
            prerequisites: Vec::new(),
            bundled: Vec::new(),
            superseded: Vec::new(),
            is_installed: None,
            is_superseded: None,
            is_installable: None,
            drivers: Vec::new(),
        }
    }

    /// Sets `Properties/@ExplicitlyDeployable`.
    pub fn explicitly_deployable(mut self, value: bool) -> Self {
        self.explicitly_deployable = Some(value);
        self
    }

    /// Sets `Properties/@AutoSelectOnWebSites`.
    pub fn auto_select_on_web_sites(mut self, value: bool) -> Self {
        self.auto_select_on_web_sites = Some(value);
        self
    }

    /// Sets `Properties/@OSUpgrade`.
    pub fn os_upgrade(mut self, value: impl Into<String>) -> Self {
        self.os_upgrade = Some(value.into());
        self
    }

    /// Sets `Properties/@EulaID`.
    pub fn eula_id(mut self, value: impl Into<String>) -> Self {
        self.eula_id = Some(value.into());
        self
    }

    /// Adds a one-update clause, written as a direct `Prerequisites/UpdateIdentity`.
    pub fn prerequisite(mut self, update_id: impl Into<String>) -> Self {
        self.prerequisites
            .push(PrerequisiteClause::single(update_id));
        self
    }

    /// Adds an OR clause, written as `AtLeastOne` (with `IsCategory="true"` when set).
    pub fn prerequisite_at_least_one<I, S>(mut self, update_ids: I, is_category: bool) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.prerequisites
            .push(PrerequisiteClause::at_least_one(update_ids, is_category));
        self
    }

    /// Adds a clause; it is written as `AtLeastOne` unless it is a single plain update.
    pub fn prerequisite_clause(mut self, clause: PrerequisiteClause) -> Self {
        self.prerequisites.push(clause);
        self
    }

    /// Adds a bundled revision as a bare `BundledUpdates/UpdateIdentity`.
    pub fn bundled_update(mut self, update_id: impl Into<String>, revision_number: i32) -> Self {
        self.bundled.push(BundleEntry::Bare(UpdateIdentityRef::new(
            update_id,
            revision_number,
        )));
        self
    }

    /// Adds a `BundledUpdates/AtLeastOne` group of revisions (the spec's XPath form).
    pub fn bundled_at_least_one<I>(mut self, members: I) -> Self
    where
        I: IntoIterator<Item = UpdateIdentityRef>,
    {
        self.bundled
            .push(BundleEntry::AtLeastOne(members.into_iter().collect()));
        self
    }

    /// Adds a `SupersededUpdates/UpdateIdentity`.
    pub fn superseded(mut self, identity: UpdateIdentityRef) -> Self {
        self.superseded.push(identity);
        self
    }

    /// Sets the raw inner XML of `ApplicabilityRules/IsInstalled` (see [`rules`]).
    pub fn is_installed(mut self, rule_xml: impl Into<String>) -> Self {
        self.is_installed = Some(rule_xml.into());
        self
    }

    /// Sets the raw inner XML of `ApplicabilityRules/IsSuperseded`.
    pub fn is_superseded(mut self, rule_xml: impl Into<String>) -> Self {
        self.is_superseded = Some(rule_xml.into());
        self
    }

    /// Sets the raw inner XML of `ApplicabilityRules/IsInstallable` (see [`rules`]).
    pub fn is_installable(mut self, rule_xml: impl Into<String>) -> Self {
        self.is_installable = Some(rule_xml.into());
        self
    }

    /// Adds a `d.WindowsDriverMetaData` row under `ApplicabilityRules/Metadata`.
    pub fn driver(mut self, driver: DriverMetadata) -> Self {
        self.drivers.push(driver);
        self
    }

    /// Writes the fragment text.
    pub fn build(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<UpdateIdentity");
        push_attr(&mut out, "UpdateID", &self.update_id);
        push_attr(
            &mut out,
            "RevisionNumber",
            &self.revision_number.to_string(),
        );
        out.push_str(" />");

        out.push_str("<Properties");
        push_attr(&mut out, "UpdateType", self.update_type.as_str());
        push_opt_attr(
            &mut out,
            "ExplicitlyDeployable",
            self.explicitly_deployable.map(bool_str),
        );
        push_opt_attr(
            &mut out,
            "AutoSelectOnWebSites",
            self.auto_select_on_web_sites.map(bool_str),
        );
        push_opt_attr(&mut out, "OSUpgrade", self.os_upgrade.as_deref());
        push_opt_attr(&mut out, "EulaID", self.eula_id.as_deref());
        out.push_str(" />");

        if !self.prerequisites.is_empty() || !self.bundled.is_empty() || !self.superseded.is_empty()
        {
            out.push_str("<Relationships>");
            if !self.prerequisites.is_empty() {
                out.push_str("<Prerequisites>");
                for clause in &self.prerequisites {
                    push_clause(&mut out, clause);
                }
                out.push_str("</Prerequisites>");
            }
            if !self.bundled.is_empty() {
                out.push_str("<BundledUpdates>");
                for entry in &self.bundled {
                    match entry {
                        BundleEntry::Bare(identity) => push_identity(&mut out, identity),
                        BundleEntry::AtLeastOne(members) => {
                            out.push_str("<AtLeastOne>");
                            for identity in members {
                                push_identity(&mut out, identity);
                            }
                            out.push_str("</AtLeastOne>");
                        }
                    }
                }
                out.push_str("</BundledUpdates>");
            }
            if !self.superseded.is_empty() {
                out.push_str("<SupersededUpdates>");
                for identity in &self.superseded {
                    push_identity(&mut out, identity);
                }
                out.push_str("</SupersededUpdates>");
            }
            out.push_str("</Relationships>");
        }

        let has_rules = self.is_installed.is_some()
            || self.is_superseded.is_some()
            || self.is_installable.is_some()
            || !self.drivers.is_empty();
        if has_rules {
            out.push_str("<ApplicabilityRules>");
            let sections = [
                ("IsInstalled", &self.is_installed),
                ("IsSuperseded", &self.is_superseded),
                ("IsInstallable", &self.is_installable),
            ];
            for (name, raw) in sections {
                if let Some(raw) = raw {
                    push_raw_element(&mut out, name, raw);
                }
            }
            if !self.drivers.is_empty() {
                out.push_str("<Metadata>");
                for driver in &self.drivers {
                    push_driver(&mut out, driver);
                }
                out.push_str("</Metadata>");
            }
            out.push_str("</ApplicabilityRules>");
        }
        out
    }
}

fn push_identity(out: &mut String, identity: &UpdateIdentityRef) {
    out.push_str("<UpdateIdentity");
    push_attr(out, "UpdateID", &identity.update_id);
    if let Some(number) = identity.revision_number {
        push_attr(out, "RevisionNumber", &number.to_string());
    }
    out.push_str(" />");
}

fn push_clause(out: &mut String, clause: &PrerequisiteClause) {
    if !clause.at_least_one && !clause.is_category && clause.update_ids.len() == 1 {
        push_identity(
            out,
            &UpdateIdentityRef::update_only(clause.update_ids[0].clone()),
        );
        return;
    }
    out.push_str("<AtLeastOne");
    if clause.is_category {
        push_attr(out, "IsCategory", "true");
    }
    out.push('>');
    for update_id in &clause.update_ids {
        push_identity(out, &UpdateIdentityRef::update_only(update_id.clone()));
    }
    out.push_str("</AtLeastOne>");
}

fn push_driver(out: &mut String, driver: &DriverMetadata) {
    out.push_str("<d.WindowsDriverMetaData");
    let attributes = [
        ("HardwareID", &driver.hardware_id),
        ("WhqlDriverID", &driver.whql_driver_id),
        ("Manufacturer", &driver.manufacturer),
        ("Provider", &driver.provider),
        ("Model", &driver.model),
        ("Class", &driver.class),
        ("DriverVerDate", &driver.driver_ver_date),
        ("DriverVerVersion", &driver.driver_ver_version),
    ];
    for (name, value) in attributes {
        push_opt_attr(out, name, value.as_deref());
    }
    for (name, value) in &driver.other_attributes {
        push_attr(out, name, value);
    }
    let has_children = !driver.feature_scores.is_empty()
        || !driver.distribution_computer_hardware_ids.is_empty()
        || !driver.target_computer_hardware_ids.is_empty();
    if !has_children {
        out.push_str(" />");
        return;
    }
    out.push('>');
    for score in &driver.feature_scores {
        out.push_str("<d.FeatureScore");
        push_attr(out, "OperatingSystem", &score.operating_system);
        push_attr(out, "FeatureScore", &score.feature_score);
        out.push_str(" />");
    }
    for chid in &driver.distribution_computer_hardware_ids {
        push_text_element(out, "d.DistributionComputerHardwareId", chid);
    }
    for chid in &driver.target_computer_hardware_ids {
        push_text_element(out, "d.TargetComputerHardwareId", chid);
    }
    out.push_str("</d.WindowsDriverMetaData>");
}

/// Builds Extended fragment text: `ExtendedProperties`, `Files`, `HandlerSpecificData`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtendedFragmentBuilder {
    properties: Vec<(String, String)>,
    properties_inner_xml: String,
    files: Vec<FileMetadata>,
    handler_specific_data: Option<(String, String)>,
}

impl ExtendedFragmentBuilder {
    /// Starts an empty Extended fragment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets an `ExtendedProperties` attribute; a new name goes last, a known one keeps its place.
    ///
    /// `name` must be an XML name; it is written as is, the value is escaped.
    pub fn property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        let value = value.into();
        match self.properties.iter_mut().find(|(key, _)| *key == name) {
            Some(slot) => slot.1 = value,
            None => self.properties.push((name, value)),
        }
        self
    }

    /// Sets `@DefaultPropertiesLanguage`.
    pub fn default_properties_language(self, language: impl Into<String>) -> Self {
        self.property("DefaultPropertiesLanguage", language)
    }

    /// Sets `@Handler` (an update handler URI).
    pub fn handler(self, handler: impl Into<String>) -> Self {
        self.property("Handler", handler)
    }

    /// Sets `@MaxDownloadSize`.
    pub fn max_download_size(self, bytes: u64) -> Self {
        self.property("MaxDownloadSize", bytes.to_string())
    }

    /// Sets `@MinDownloadSize`.
    pub fn min_download_size(self, bytes: u64) -> Self {
        self.property("MinDownloadSize", bytes.to_string())
    }

    /// Sets the raw inner XML of `ExtendedProperties` (e.g. `<InstallationBehavior ... />`).
    pub fn properties_inner_xml(mut self, raw: impl Into<String>) -> Self {
        self.properties_inner_xml = raw.into();
        self
    }

    /// Adds a `Files/File` (see [`FileMetadata::from_sha1`]).
    pub fn file(mut self, file: FileMetadata) -> Self {
        self.files.push(file);
        self
    }

    /// Sets `HandlerSpecificData` with its `type` and raw inner XML.
    pub fn handler_specific_data(
        mut self,
        data_type: impl Into<String>,
        inner_xml: impl Into<String>,
    ) -> Self {
        self.handler_specific_data = Some((data_type.into(), inner_xml.into()));
        self
    }

    /// Sets `HandlerSpecificData type="cat:Category"` with `CategoryInformation CategoryType`.
    ///
    /// `category_type` is `Company`, `ProductFamily`, `Product` or `UpdateClassification`.
    pub fn category(self, category_type: &str) -> Self {
        let information = rules::element("CategoryInformation", &[("CategoryType", category_type)]);
        self.handler_specific_data("cat:Category", information)
    }

    /// Writes the fragment text.
    pub fn build(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<ExtendedProperties");
        for (name, value) in &self.properties {
            push_attr(&mut out, name, value);
        }
        if self.properties_inner_xml.is_empty() {
            out.push_str(" />");
        } else {
            out.push('>');
            out.push_str(&self.properties_inner_xml);
            out.push_str("</ExtendedProperties>");
        }
        if !self.files.is_empty() {
            out.push_str("<Files>");
            for file in &self.files {
                push_file(&mut out, file);
            }
            out.push_str("</Files>");
        }
        if let Some((data_type, inner)) = &self.handler_specific_data {
            out.push_str("<HandlerSpecificData");
            push_attr(&mut out, "type", data_type);
            out.push('>');
            out.push_str(inner);
            out.push_str("</HandlerSpecificData>");
        }
        out
    }
}

/// Writes a `File` element with its `AdditionalDigest` children.
fn push_file(out: &mut String, file: &FileMetadata) {
    out.push_str("<File");
    push_attr(out, "Digest", &file.digest);
    push_opt_attr(out, "DigestAlgorithm", file.digest_algorithm.as_deref());
    push_opt_attr(out, "FileName", file.file_name.as_deref());
    push_opt_attr(out, "Size", file.size.map(|s| s.to_string()).as_deref());
    push_opt_attr(out, "Modified", file.modified.as_deref());
    push_opt_attr(out, "PatchingType", file.patching_type.as_deref());
    if file.additional_digests.is_empty() {
        out.push_str(" />");
        return;
    }
    out.push('>');
    for digest in &file.additional_digests {
        out.push_str("<AdditionalDigest");
        push_attr(out, "Algorithm", &digest.algorithm);
        out.push('>');
        push_text(out, &digest.digest);
        out.push_str("</AdditionalDigest>");
    }
    out.push_str("</File>");
}

/// Builds LocalizedProperties fragment text for one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalizedPropertiesBuilder {
    language: String,
    title: Option<String>,
    description: Option<String>,
    uninstall_notes: Option<String>,
    more_info_url: Option<String>,
    support_url: Option<String>,
    others: Vec<(String, String)>,
}

impl LocalizedPropertiesBuilder {
    /// Starts the properties of one language (e.g. `en`).
    pub fn new(language: impl Into<String>) -> Self {
        LocalizedPropertiesBuilder {
            language: language.into(),
            title: None,
            description: None,
            uninstall_notes: None,
            more_info_url: None,
            support_url: None,
            others: Vec::new(),
        }
    }

    /// Sets `Title`.
    pub fn title(mut self, text: impl Into<String>) -> Self {
        self.title = Some(text.into());
        self
    }

    /// Sets `Description`.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Sets `UninstallNotes`.
    pub fn uninstall_notes(mut self, text: impl Into<String>) -> Self {
        self.uninstall_notes = Some(text.into());
        self
    }

    /// Sets `MoreInfoUrl`.
    pub fn more_info_url(mut self, url: impl Into<String>) -> Self {
        self.more_info_url = Some(url.into());
        self
    }

    /// Sets `SupportUrl`.
    pub fn support_url(mut self, url: impl Into<String>) -> Self {
        self.support_url = Some(url.into());
        self
    }

    /// Adds another child element; `name` must be an XML name and is written as is.
    pub fn other(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        self.others.push((name.into(), text.into()));
        self
    }

    /// Writes the fragment text.
    pub fn build(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<LocalizedProperties>");
        push_text_element(&mut out, "Language", &self.language);
        let fields = [
            ("Title", &self.title),
            ("Description", &self.description),
            ("UninstallNotes", &self.uninstall_notes),
            ("MoreInfoUrl", &self.more_info_url),
            ("SupportUrl", &self.support_url),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                push_text_element(&mut out, name, value);
            }
        }
        for (name, value) in &self.others {
            push_text_element(&mut out, name, value);
        }
        out.push_str("</LocalizedProperties>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::{FeatureScore, parse_core, parse_extended, parse_localized};

    #[test]
    fn core_builder_matches_native_shape() {
        let text = CoreFragmentBuilder::new(
            "dd78b8a1-0b20-45c1-add6-4da72e9364cf",
            202,
            UpdateType::Category,
        )
        .prerequisite_at_least_one(["6964aab4-c5b5-43bd-a17d-ffb4346a8e1d"], true)
        .is_installed(rules::windows_version(
            "GreaterThanOrEqualTo",
            6,
            3,
            Some(1),
        ))
        .build();
        assert_eq!(
            text,
            concat!(
                r#"<UpdateIdentity UpdateID="dd78b8a1-0b20-45c1-add6-4da72e9364cf" RevisionNumber="202" />"#,
                r#"<Properties UpdateType="Category" />"#,
                r#"<Relationships><Prerequisites><AtLeastOne IsCategory="true"><UpdateIdentity UpdateID="6964aab4-c5b5-43bd-a17d-ffb4346a8e1d" /></AtLeastOne></Prerequisites></Relationships>"#,
                r#"<ApplicabilityRules><IsInstalled><b.WindowsVersion Comparison="GreaterThanOrEqualTo" MajorVersion="6" MinorVersion="3" ProductType="1" /></IsInstalled></ApplicabilityRules>"#,
            )
        );
        let minimal = CoreFragmentBuilder::new(
            "56309036-4C77-4DD9-951A-99EE9C246A94",
            101,
            UpdateType::Category,
        )
        .is_installed(rules::TRUE)
        .build();
        assert_eq!(
            minimal,
            r#"<UpdateIdentity UpdateID="56309036-4C77-4DD9-951A-99EE9C246A94" RevisionNumber="101" /><Properties UpdateType="Category" /><ApplicabilityRules><IsInstalled><True /></IsInstalled></ApplicabilityRules>"#
        );
    }

    #[test]
    fn core_builder_round_trip() {
        let driver = DriverMetadata {
            hardware_id: Some("pci\\ven_8086&dev_1234 \"quoted\"".to_owned()),
            driver_ver_date: Some("2024-05-01".to_owned()),
            driver_ver_version: Some("1.2.3.4".to_owned()),
            class: Some("Printer".to_owned()),
            manufacturer: Some("M<&>".to_owned()),
            provider: Some("P\tQ".to_owned()),
            model: None,
            whql_driver_id: Some("W".to_owned()),
            other_attributes: vec![("Company".to_owned(), "C & co".to_owned())],
            feature_scores: vec![FeatureScore {
                operating_system: "amd64.10.0".to_owned(),
                feature_score: "255".to_owned(),
            }],
            distribution_computer_hardware_ids: vec!["{a}".to_owned()],
            target_computer_hardware_ids: vec!["{b}".to_owned(), "{c}".to_owned()],
        };
        let text = CoreFragmentBuilder::new("AbC", -5, UpdateType::Driver)
            .explicitly_deployable(false)
            .auto_select_on_web_sites(true)
            .os_upgrade("Up\ngrade")
            .eula_id("E&U")
            .prerequisite("p1")
            .prerequisite_at_least_one(["p2", "p3"], false)
            .prerequisite_clause(PrerequisiteClause::at_least_one(["p4"], true))
            .bundled_update("b1", 1)
            .bundled_at_least_one([
                UpdateIdentityRef::new("b2", 2),
                UpdateIdentityRef::update_only("b3"),
            ])
            .superseded(UpdateIdentityRef::update_only("s1"))
            .superseded(UpdateIdentityRef::new("s2", 9))
            .is_installed(rules::FALSE)
            .is_superseded("")
            .is_installable(rules::element(
                "m.MsiProductInstalled",
                &[("ProductCode", "{x}")],
            ))
            .driver(driver.clone())
            .build();
        let core = parse_core(&text).unwrap();
        assert_eq!(core.update_id, "AbC");
        assert_eq!(core.revision_number, -5);
        assert_eq!(core.update_type, UpdateType::Driver);
        assert_eq!(core.explicitly_deployable, Some(false));
        assert_eq!(core.auto_select_on_web_sites, Some(true));
        assert_eq!(core.os_upgrade.as_deref(), Some("Up\ngrade"));
        assert_eq!(core.eula_id.as_deref(), Some("E&U"));
        assert_eq!(
            core.prerequisites,
            vec![
                PrerequisiteClause::single("p1"),
                PrerequisiteClause::at_least_one(["p2", "p3"], false),
                PrerequisiteClause::at_least_one(["p4"], true),
            ]
        );
        assert_eq!(
            core.bundled,
            vec![
                UpdateIdentityRef::new("b1", 1),
                UpdateIdentityRef::new("b2", 2),
                UpdateIdentityRef::update_only("b3"),
            ]
        );
        assert_eq!(
            core.superseded,
            vec![
                UpdateIdentityRef::update_only("s1"),
                UpdateIdentityRef::new("s2", 9)
            ]
        );
        let rules = core.applicability_rules.unwrap();
        assert_eq!(rules.is_installed.as_deref(), Some("<False />"));
        assert_eq!(rules.is_superseded.as_deref(), Some(""));
        assert_eq!(
            rules.is_installable.as_deref(),
            Some(r#"<m.MsiProductInstalled ProductCode="{x}" />"#)
        );
        assert_eq!(core.drivers, vec![driver]);
    }

    #[test]
    fn extended_builder_round_trip() {
        let file = FileMetadata::from_sha1(&[0xab; 20], "a \"b\" & c.cab", 123)
            .with_sha256(&[0xcd; 32])
            .with_modified("2026-10-04T16:03:35.9967236Z");
        let mut patched = FileMetadata::from_sha1(&[1; 20], "p.psf", 9);
        patched.patching_type = Some("PSF".to_owned());
        let text = ExtendedFragmentBuilder::new()
            .default_properties_language("en")
            .handler(
                "http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/CommandLineInstallation",
            )
            .max_download_size(123)
            .min_download_size(9)
            .max_download_size(124)
            .properties_inner_xml(r#"<InstallationBehavior RebootBehavior="NeverReboots" />"#)
            .file(file.clone())
            .file(patched.clone())
            .handler_specific_data(
                "cmd:CommandLineInstallation",
                r#"<InstallCommand Program="x.exe" />"#,
            )
            .build();
        let extended = parse_extended(&text).unwrap();
        assert_eq!(extended.default_properties_language(), Some("en"));
        assert_eq!(extended.max_download_size(), Some(124));
        assert_eq!(extended.min_download_size(), Some(9));
        assert_eq!(extended.properties[2].0, "MaxDownloadSize");
        assert_eq!(
            extended.properties_inner_xml,
            r#"<InstallationBehavior RebootBehavior="NeverReboots" />"#
        );
        assert_eq!(extended.files, vec![file, patched]);
        assert_eq!(extended.files[0].sha1(), Some([0xab; 20]));
        assert_eq!(extended.files[0].sha256(), Some([0xcd; 32]));
        assert_eq!(
            extended.handler_data_type(),
            Some("cmd:CommandLineInstallation")
        );
        assert_eq!(extended.category_type, None);

        let category = ExtendedFragmentBuilder::new()
            .default_properties_language("en")
            .category("Company")
            .build();
        assert_eq!(
            category,
            r#"<ExtendedProperties DefaultPropertiesLanguage="en" /><HandlerSpecificData type="cat:Category"><CategoryInformation CategoryType="Company" /></HandlerSpecificData>"#
        );
        let parsed = parse_extended(&category).unwrap();
        assert_eq!(parsed.category_type.as_deref(), Some("Company"));
        assert_eq!(parsed.handler_data_type(), Some("cat:Category"));
    }

    #[test]
    fn localized_builder_round_trip() {
        let text = LocalizedPropertiesBuilder::new("en")
            .title("A & B <C> \"d\"")
            .description(" line one\r\nline two ")
            .uninstall_notes("u")
            .more_info_url("https://x.example/?a=1&b=2")
            .support_url("https://y.example")
            .other("KeyWords", "k")
            .build();
        let localized = parse_localized(&text).unwrap();
        assert_eq!(localized.language, "en");
        assert_eq!(localized.title.as_deref(), Some("A & B <C> \"d\""));
        assert_eq!(
            localized.description.as_deref(),
            Some(" line one\r\nline two ")
        );
        assert_eq!(localized.uninstall_notes.as_deref(), Some("u"));
        assert_eq!(
            localized.more_info_url.as_deref(),
            Some("https://x.example/?a=1&b=2")
        );
        assert_eq!(localized.support_url.as_deref(), Some("https://y.example"));
        assert_eq!(
            localized.others,
            vec![("KeyWords".to_owned(), "k".to_owned())]
        );
    }
}
