//! The Core fragment of a revision (reference 3.7): identity, type, relationships, rules.

use std::fmt;

use super::dom::Dom;
use super::{FragmentError, ParseLimits, normalize_guid};

/// `Properties/@UpdateType` of a revision (reference 3.7, 7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UpdateType {
    /// `Software`: installable software (also the schema default when the attribute is absent).
    Software,
    /// `Driver`: a device driver, delivered in the driver pass.
    Driver,
    /// `Category`: a company, product family, product or classification.
    Category,
    /// `Detectoid`: a rule-only revision used as a prerequisite.
    Detectoid,
    /// Any other value, as written.
    Other(String),
}

impl UpdateType {
    /// Reads an `UpdateType` value; matching is exact (the wire is case-sensitive).
    pub fn parse(value: &str) -> UpdateType {
        match value {
            "Software" => UpdateType::Software,
            "Driver" => UpdateType::Driver,
            "Category" => UpdateType::Category,
            "Detectoid" => UpdateType::Detectoid,
            other => UpdateType::Other(other.to_owned()),
        }
    }

    /// The value as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            UpdateType::Software => "Software",
            UpdateType::Driver => "Driver",
            UpdateType::Category => "Category",
            UpdateType::Detectoid => "Detectoid",
            UpdateType::Other(other) => other,
        }
    }
}

impl fmt::Display for UpdateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `UpdateIdentity` element inside relationships: UpdateID and, when written, RevisionNumber.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpdateIdentityRef {
    /// `@UpdateID` as written (case preserved).
    pub update_id: String,
    /// `@RevisionNumber`, absent in prerequisites and often in superseded lists.
    pub revision_number: Option<i32>,
}

impl UpdateIdentityRef {
    /// A reference with both UpdateID and RevisionNumber.
    pub fn new(update_id: impl Into<String>, revision_number: i32) -> Self {
        UpdateIdentityRef {
            update_id: update_id.into(),
            revision_number: Some(revision_number),
        }
    }

    /// A reference naming only an UpdateID.
    pub fn update_only(update_id: impl Into<String>) -> Self {
        UpdateIdentityRef {
            update_id: update_id.into(),
            revision_number: None,
        }
    }

    /// The UpdateID in normalized lower case (see [`normalize_guid`]).
    pub fn normalized_update_id(&self) -> String {
        normalize_guid(&self.update_id)
    }
}

/// One AND-clause of the prerequisite CNF: satisfied when any listed update is installed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrerequisiteClause {
    /// UpdateIDs of the clause, as written (prerequisites name no revision).
    pub update_ids: Vec<String>,
    /// Whether the clause was written as an `AtLeastOne` group (else a direct `UpdateIdentity`).
    pub at_least_one: bool,
    /// `AtLeastOne/@IsCategory`: the clause names categories.
    pub is_category: bool,
}

impl PrerequisiteClause {
    /// A clause written as a direct `Prerequisites/UpdateIdentity`.
    pub fn single(update_id: impl Into<String>) -> Self {
        PrerequisiteClause {
            update_ids: vec![update_id.into()],
            at_least_one: false,
            is_category: false,
        }
    }

    /// A clause written as an `AtLeastOne` group.
    pub fn at_least_one<I, S>(update_ids: I, is_category: bool) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        PrerequisiteClause {
            update_ids: update_ids.into_iter().map(Into::into).collect(),
            at_least_one: true,
            is_category,
        }
    }
}

/// The rule sections of `ApplicabilityRules`, each kept as its raw inner XML.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ApplicabilityRules {
    /// Inner XML of `IsInstalled` (e.g. `<True />`, `<b.WindowsVersion ... />`).
    pub is_installed: Option<String>,
    /// Inner XML of `IsSuperseded`.
    pub is_superseded: Option<String>,
    /// Inner XML of `IsInstallable`.
    pub is_installable: Option<String>,
    /// Inner XML of `Metadata` (driver metadata is also parsed into [`CoreFragment::drivers`]).
    pub metadata: Option<String>,
}

/// `FeatureScore` child of driver metadata: score for one OS (reference 7.1, 7.3.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeatureScore {
    /// `@OperatingSystem`, `Arch.Major.Minor` such as `amd64.10.0` (PB<41>).
    pub operating_system: String,
    /// `@FeatureScore` as written.
    pub feature_score: String,
}

impl FeatureScore {
    /// The score as a number 0-255 (lower is better); decimal or `0x` hexadecimal.
    pub fn score(&self) -> Option<u8> {
        let value = self.feature_score.trim();
        match value
            .strip_prefix("0x")
            .or_else(|| value.strip_prefix("0X"))
        {
            Some(hex) => u8::from_str_radix(hex, 16).ok(),
            None => value.parse().ok(),
        }
    }
}

/// One `WindowsDriverMetaData` row of `ApplicabilityRules/Metadata` (reference 3.7, 7.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DriverMetadata {
    /// `@HardwareID`: the device hardware or compatible ID the driver matches.
    pub hardware_id: Option<String>,
    /// `@DriverVerDate` as written.
    pub driver_ver_date: Option<String>,
    /// `@DriverVerVersion`, four-part `a.b.c.d`.
    pub driver_ver_version: Option<String>,
    /// `@Class` (e.g. `Printer`).
    pub class: Option<String>,
    /// `@Manufacturer`.
    pub manufacturer: Option<String>,
    /// `@Provider`.
    pub provider: Option<String>,
    /// `@Model`.
    pub model: Option<String>,
    /// `@WhqlDriverID`.
    pub whql_driver_id: Option<String>,
    /// Attributes other than the eight above (e.g. `Company`), in document order.
    pub other_attributes: Vec<(String, String)>,
    /// `FeatureScore` children.
    pub feature_scores: Vec<FeatureScore>,
    /// Text of the `DistributionComputerHardwareId` children (CHIDs).
    pub distribution_computer_hardware_ids: Vec<String>,
    /// Text of the `TargetComputerHardwareId` children (CHIDs).
    pub target_computer_hardware_ids: Vec<String>,
}

impl DriverMetadata {
    /// `DriverVerVersion` packed into 64 bits for comparison (reference 7.3.3 rule 5).
    pub fn driver_version_packed(&self) -> Option<u64> {
        self.driver_ver_version
            .as_deref()
            .and_then(pack_driver_version)
    }
}

/// Packs a driver version `a.b.c.d` (each 0-65535) as `a<<48 | b<<32 | c<<16 | d`.
///
/// One to four parts are accepted; missing trailing parts count as 0, as in INF `DriverVer`.
pub fn pack_driver_version(version: &str) -> Option<u64> {
    let mut packed: u64 = 0;
    let mut count = 0;
    for part in version.trim().split('.') {
        if count == 4 || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: u16 = part.parse().ok()?;
        packed = (packed << 16) | u64::from(value);
        count += 1;
    }
    Some(packed << (16 * (4 - count)))
}

/// A parsed Core fragment (the `UpdateInfo/Xml` of SyncUpdates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreFragment {
    /// `UpdateIdentity/@UpdateID` as written.
    pub update_id: String,
    /// `UpdateIdentity/@RevisionNumber`.
    pub revision_number: i32,
    /// `Properties/@UpdateType` ([`UpdateType::Software`] when absent, the schema default).
    pub update_type: UpdateType,
    /// `Properties/@ExplicitlyDeployable`.
    pub explicitly_deployable: Option<bool>,
    /// `Properties/@AutoSelectOnWebSites`.
    pub auto_select_on_web_sites: Option<bool>,
    /// `Properties/@OSUpgrade` as written.
    pub os_upgrade: Option<String>,
    /// `Properties/@EulaID` as written.
    pub eula_id: Option<String>,
    /// Every `Properties` attribute in document order, including the typed ones above.
    pub properties: Vec<(String, String)>,
    /// Prerequisite CNF: all clauses must hold (empty: no prerequisites).
    pub prerequisites: Vec<PrerequisiteClause>,
    /// Bundled revisions (`BundledUpdates/AtLeastOne/UpdateIdentity` and bare `UpdateIdentity`).
    pub bundled: Vec<UpdateIdentityRef>,
    /// `SupersededUpdates/UpdateIdentity`.
    pub superseded: Vec<UpdateIdentityRef>,
    /// `ApplicabilityRules` sections, `None` when the element is absent.
    pub applicability_rules: Option<ApplicabilityRules>,
    /// Driver metadata rows from `ApplicabilityRules/Metadata/WindowsDriverMetaData`.
    pub drivers: Vec<DriverMetadata>,
}

impl CoreFragment {
    /// Parses Core fragment text with the default limits.
    pub fn parse(text: &str) -> Result<CoreFragment, FragmentError> {
        parse_core_with(text, &ParseLimits::DEFAULT)
    }

    /// The UpdateID in normalized lower case (see [`normalize_guid`]).
    pub fn normalized_update_id(&self) -> String {
        normalize_guid(&self.update_id)
    }

    /// The revision's identity, (UpdateID, RevisionNumber).
    pub fn identity(&self) -> UpdateIdentityRef {
        UpdateIdentityRef::new(self.update_id.clone(), self.revision_number)
    }

    /// Whether the revision is a driver (delivered in the driver pass, reference 7.3 step 3).
    pub fn is_driver(&self) -> bool {
        self.update_type == UpdateType::Driver
    }

    /// Every UpdateID named by a prerequisite clause, as written.
    pub fn prerequisite_update_ids(&self) -> impl Iterator<Item = &str> {
        self.prerequisites
            .iter()
            .flat_map(|clause| clause.update_ids.iter().map(String::as_str))
    }
}

/// Parses Core fragment text with the default limits.
pub fn parse_core(text: &str) -> Result<CoreFragment, FragmentError> {
    parse_core_with(text, &ParseLimits::DEFAULT)
}

/// Parses Core fragment text with explicit limits.
pub fn parse_core_with(text: &str, limits: &ParseLimits) -> Result<CoreFragment, FragmentError> {
    let dom = Dom::parse(text, limits)?;
    let identity = dom
        .root("UpdateIdentity")
        .ok_or_else(|| dom.missing(None, "UpdateIdentity"))?;
    let update_id = dom.required_attr(identity, "UpdateID")?.to_owned();
    let revision_number = dom
        .parsed_attr(identity, "RevisionNumber", "a 32-bit integer")?
        .ok_or_else(|| FragmentError::MissingAttribute {
            path: dom.path(identity),
            offset: dom.nodes[identity].start,
            attribute: "RevisionNumber",
        })?;

    let mut fragment = CoreFragment {
        update_id,
        revision_number,
        update_type: UpdateType::Software,
        explicitly_deployable: None,
        auto_select_on_web_sites: None,
        os_upgrade: None,
        eula_id: None,
        properties: Vec::new(),
        prerequisites: Vec::new(),
        bundled: Vec::new(),
        superseded: Vec::new(),
        applicability_rules: None,
        drivers: Vec::new(),
    };

    if let Some(properties) = dom.root("Properties") {
        if let Some(value) = dom.attr(properties, "UpdateType") {
            fragment.update_type = UpdateType::parse(value.trim());
        }
        fragment.explicitly_deployable = dom.bool_attr(properties, "ExplicitlyDeployable")?;
        fragment.auto_select_on_web_sites = dom.bool_attr(properties, "AutoSelectOnWebSites")?;
        fragment.os_upgrade = dom.attr_string(properties, "OSUpgrade");
        fragment.eula_id = dom.attr_string(properties, "EulaID");
        fragment.properties = dom.owned_attrs(properties);
    }

    if let Some(relationships) = dom.root("Relationships") {
        read_relationships(&dom, relationships, &mut fragment)?;
    }

    if let Some(rules) = dom.root("ApplicabilityRules") {
        let mut sections = ApplicabilityRules::default();
        for child in dom.children(rules) {
            let slot = match dom.base(child) {
                "IsInstalled" => &mut sections.is_installed,
                "IsSuperseded" => &mut sections.is_superseded,
                "IsInstallable" => &mut sections.is_installable,
                "Metadata" => {
                    for row in dom.children(child) {
                        if dom.is(row, "WindowsDriverMetaData") {
                            fragment.drivers.push(read_driver(&dom, row));
                        }
                    }
                    &mut sections.metadata
                }
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(dom.inner_xml(child).to_owned());
            }
        }
        fragment.applicability_rules = Some(sections);
    }
    Ok(fragment)
}

fn read_identity(dom: &Dom<'_>, index: usize) -> Result<UpdateIdentityRef, FragmentError> {
    Ok(UpdateIdentityRef {
        update_id: dom.required_attr(index, "UpdateID")?.to_owned(),
        revision_number: dom.parsed_attr(index, "RevisionNumber", "a 32-bit integer")?,
    })
}

fn read_relationships(
    dom: &Dom<'_>,
    relationships: usize,
    fragment: &mut CoreFragment,
) -> Result<(), FragmentError> {
    for section in dom.children(relationships) {
        match dom.base(section) {
            "Prerequisites" => {
                for item in dom.children(section) {
                    match dom.base(item) {
                        "UpdateIdentity" => {
                            let id = dom.required_attr(item, "UpdateID")?;
                            fragment.prerequisites.push(PrerequisiteClause::single(id));
                        }
                        "AtLeastOne" => {
                            let is_category = dom.bool_attr(item, "IsCategory")?.unwrap_or(false);
                            let mut update_ids = Vec::new();
                            for member in dom.children(item) {
                                if dom.is(member, "UpdateIdentity") {
                                    update_ids
                                        .push(dom.required_attr(member, "UpdateID")?.to_owned());
                                }
                            }
                            fragment.prerequisites.push(PrerequisiteClause {
                                update_ids,
                                at_least_one: true,
                                is_category,
                            });
                        }
                        _ => {}
                    }
                }
            }
            "BundledUpdates" => {
                for item in dom.children(section) {
                    match dom.base(item) {
                        "UpdateIdentity" => fragment.bundled.push(read_identity(dom, item)?),
                        "AtLeastOne" => {
                            for member in dom.children(item) {
                                if dom.is(member, "UpdateIdentity") {
                                    fragment.bundled.push(read_identity(dom, member)?);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            "SupersededUpdates" => {
                for item in dom.children(section) {
                    if dom.is(item, "UpdateIdentity") {
                        fragment.superseded.push(read_identity(dom, item)?);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The `WindowsDriverMetaData` attributes with a typed field in [`DriverMetadata`].
const DRIVER_ATTRIBUTES: [&str; 8] = [
    "HardwareID",
    "WhqlDriverID",
    "Manufacturer",
    "Provider",
    "Model",
    "Class",
    "DriverVerDate",
    "DriverVerVersion",
];

fn read_driver(dom: &Dom<'_>, row: usize) -> DriverMetadata {
    let mut driver = DriverMetadata {
        hardware_id: dom.attr_string(row, "HardwareID"),
        driver_ver_date: dom.attr_string(row, "DriverVerDate"),
        driver_ver_version: dom.attr_string(row, "DriverVerVersion"),
        class: dom.attr_string(row, "Class"),
        manufacturer: dom.attr_string(row, "Manufacturer"),
        provider: dom.attr_string(row, "Provider"),
        model: dom.attr_string(row, "Model"),
        whql_driver_id: dom.attr_string(row, "WhqlDriverID"),
        other_attributes: dom.nodes[row]
            .attrs
            .iter()
            .filter(|(key, _)| !DRIVER_ATTRIBUTES.contains(&&**key))
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
        ..DriverMetadata::default()
    };
    for child in dom.children(row) {
        match dom.base(child) {
            "FeatureScore" => driver.feature_scores.push(FeatureScore {
                operating_system: dom
                    .attr_string(child, "OperatingSystem")
                    .unwrap_or_default(),
                feature_score: dom.attr_string(child, "FeatureScore").unwrap_or_default(),
            }),
            "DistributionComputerHardwareId" => driver
                .distribution_computer_hardware_ids
                .push(dom.nodes[child].text.trim().to_owned()),
            "TargetComputerHardwareId" => driver
                .target_computer_hardware_ids
                .push(dom.nodes[child].text.trim().to_owned()),
            _ => {}
        }
    }
    driver
}

#[cfg(test)]
mod tests {
    use super::*;

    /// First native core fragment of reference 3.7 (`OBS-N`), verbatim.
    const NATIVE_CATEGORY: &str = r#"<UpdateIdentity UpdateID="56309036-4C77-4DD9-951A-99EE9C246A94" RevisionNumber="101" />
<Properties UpdateType="Category" />
<ApplicabilityRules><IsInstalled><True /></IsInstalled></ApplicabilityRules>"#;

    /// Second native core fragment of reference 3.7 (`OBS-N`), verbatim.
    const NATIVE_WINDOWS_VERSION: &str = r#"<UpdateIdentity UpdateID="dd78b8a1-0b20-45c1-add6-4da72e9364cf" RevisionNumber="202" />
<Properties UpdateType="Category" />
<Relationships><Prerequisites><AtLeastOne IsCategory="true"><UpdateIdentity UpdateID="6964aab4-c5b5-43bd-a17d-ffb4346a8e1d" /></AtLeastOne></Prerequisites></Relationships>
<ApplicabilityRules><IsInstalled><b.WindowsVersion Comparison="GreaterThanOrEqualTo" MajorVersion="6" MinorVersion="3" ProductType="1" /></IsInstalled></ApplicabilityRules>"#;

    #[test]
    fn native_category_root() {
        let core = parse_core(NATIVE_CATEGORY).unwrap();
        assert_eq!(core.update_id, "56309036-4C77-4DD9-951A-99EE9C246A94");
        assert_eq!(
            core.normalized_update_id(),
            "56309036-4c77-4dd9-951a-99ee9c246a94"
        );
        assert_eq!(core.revision_number, 101);
        assert_eq!(core.update_type, UpdateType::Category);
        assert_eq!(
            core.properties,
            vec![("UpdateType".to_owned(), "Category".to_owned())]
        );
        assert_eq!(core.explicitly_deployable, None);
        assert!(core.prerequisites.is_empty());
        assert!(core.bundled.is_empty());
        assert!(core.superseded.is_empty());
        assert!(core.drivers.is_empty());
        let rules = core.applicability_rules.unwrap();
        assert_eq!(rules.is_installed.as_deref(), Some("<True />"));
        assert_eq!(rules.is_installable, None);
        assert_eq!(rules.metadata, None);
    }

    #[test]
    fn native_category_with_windows_version() {
        let core = parse_core(NATIVE_WINDOWS_VERSION).unwrap();
        assert_eq!(core.update_id, "dd78b8a1-0b20-45c1-add6-4da72e9364cf");
        assert_eq!(core.revision_number, 202);
        assert_eq!(core.update_type, UpdateType::Category);
        assert_eq!(
            core.prerequisites,
            vec![PrerequisiteClause {
                update_ids: vec!["6964aab4-c5b5-43bd-a17d-ffb4346a8e1d".to_owned()],
                at_least_one: true,
                is_category: true,
            }]
        );
        assert_eq!(
            core.applicability_rules.unwrap().is_installed.as_deref(),
            Some(
                r#"<b.WindowsVersion Comparison="GreaterThanOrEqualTo" MajorVersion="6" MinorVersion="3" ProductType="1" />"#
            )
        );
    }

    #[test]
    fn software_bundle_parent_and_child() {
        let parent = r#"<UpdateIdentity UpdateID="A1B2C3D4-0000-4000-8000-000000000001" RevisionNumber="200" /><Properties UpdateType="Software" ExplicitlyDeployable="true" AutoSelectOnWebSites="true" /><Relationships><Prerequisites><UpdateIdentity UpdateID="59653007-e2e9-4f71-8525-2ff588527978" /><AtLeastOne IsCategory="true"><UpdateIdentity UpdateID="0fa1201d-4330-4fa8-8ae9-b877473b6441" /></AtLeastOne></Prerequisites><BundledUpdates><UpdateIdentity UpdateID="A1B2C3D4-0000-4000-8000-000000000002" RevisionNumber="201" /></BundledUpdates></Relationships><ApplicabilityRules><IsInstalled><False /></IsInstalled></ApplicabilityRules>"#;
        let child = r#"<UpdateIdentity UpdateID="a1b2c3d4-0000-4000-8000-000000000002" RevisionNumber="201" /><Properties UpdateType="Software" /><ApplicabilityRules><IsInstalled><False /></IsInstalled><IsInstallable><True /></IsInstallable></ApplicabilityRules>"#;
        let parent = parse_core(parent).unwrap();
        assert_eq!(parent.update_type, UpdateType::Software);
        assert_eq!(parent.explicitly_deployable, Some(true));
        assert_eq!(parent.auto_select_on_web_sites, Some(true));
        assert_eq!(
            parent.prerequisites,
            vec![
                PrerequisiteClause::single("59653007-e2e9-4f71-8525-2ff588527978"),
                PrerequisiteClause::at_least_one(["0fa1201d-4330-4fa8-8ae9-b877473b6441"], true),
            ]
        );
        assert_eq!(
            parent.bundled,
            vec![UpdateIdentityRef::new(
                "A1B2C3D4-0000-4000-8000-000000000002",
                201
            )]
        );
        let child = parse_core(child).unwrap();
        assert_eq!(child.revision_number, 201);
        let rules = child.applicability_rules.clone().unwrap();
        assert_eq!(rules.is_installed.as_deref(), Some("<False />"));
        assert_eq!(rules.is_installable.as_deref(), Some("<True />"));
        assert_eq!(
            parent.bundled[0].normalized_update_id(),
            child.normalized_update_id()
        );
    }

    #[test]
    fn bundle_at_least_one_and_superseded() {
        let text = r#"<UpdateIdentity UpdateID="11111111-1111-1111-1111-111111111111" RevisionNumber="3" /><Properties UpdateType="Software" /><Relationships><BundledUpdates><AtLeastOne><UpdateIdentity UpdateID="22222222-2222-2222-2222-222222222222" RevisionNumber="7" /><UpdateIdentity UpdateID="33333333-3333-3333-3333-333333333333" RevisionNumber="8" /></AtLeastOne></BundledUpdates><SupersededUpdates><UpdateIdentity UpdateID="44444444-4444-4444-4444-444444444444" /></SupersededUpdates></Relationships>"#;
        let core = parse_core(text).unwrap();
        assert_eq!(
            core.bundled,
            vec![
                UpdateIdentityRef::new("22222222-2222-2222-2222-222222222222", 7),
                UpdateIdentityRef::new("33333333-3333-3333-3333-333333333333", 8),
            ]
        );
        assert_eq!(
            core.superseded,
            vec![UpdateIdentityRef::update_only(
                "44444444-4444-4444-4444-444444444444"
            )]
        );
        assert_eq!(core.applicability_rules, None);
    }

    #[test]
    fn driver_with_feature_score() {
        let text = r#"<UpdateIdentity UpdateID="5D3A1F7B-6C2E-4F0A-9B8C-1E2D3F4A5B6C" RevisionNumber="1" /><Properties UpdateType="Driver" /><ApplicabilityRules><Metadata><d.WindowsDriverMetaData HardwareID="pci\ven_8086&amp;dev_1234" WhqlDriverID="WHQL-1" Manufacturer="Contoso" Company="Contoso" Provider="Contoso Ltd" DriverVerDate="2024-05-01" DriverVerVersion="31.0.101.5382" Class="Display" Model="Contoso GPU"><d.FeatureScore OperatingSystem="amd64.10.0" FeatureScore="254" /><d.DistributionComputerHardwareId>{6b2d1e5f-0000-0000-0000-000000000001}</d.DistributionComputerHardwareId><d.TargetComputerHardwareId> {6b2d1e5f-0000-0000-0000-000000000002} </d.TargetComputerHardwareId></d.WindowsDriverMetaData></Metadata></ApplicabilityRules>"#;
        let core = parse_core(text).unwrap();
        assert!(core.is_driver());
        assert_eq!(core.drivers.len(), 1);
        let driver = &core.drivers[0];
        assert_eq!(
            driver.hardware_id.as_deref(),
            Some("pci\\ven_8086&dev_1234")
        );
        assert_eq!(driver.whql_driver_id.as_deref(), Some("WHQL-1"));
        assert_eq!(driver.manufacturer.as_deref(), Some("Contoso"));
        assert_eq!(driver.provider.as_deref(), Some("Contoso Ltd"));
        assert_eq!(driver.driver_ver_date.as_deref(), Some("2024-05-01"));
        assert_eq!(driver.class.as_deref(), Some("Display"));
        assert_eq!(driver.model.as_deref(), Some("Contoso GPU"));
        assert_eq!(
            driver.other_attributes,
            vec![("Company".to_owned(), "Contoso".to_owned())]
        );
        assert_eq!(
            driver.driver_version_packed(),
            Some((31 << 48) | (101 << 16) | 5382)
        );
        assert_eq!(
            driver.feature_scores,
            vec![FeatureScore {
                operating_system: "amd64.10.0".to_owned(),
                feature_score: "254".to_owned(),
            }]
        );
        assert_eq!(driver.feature_scores[0].score(), Some(254));
        assert_eq!(
            driver.distribution_computer_hardware_ids,
            vec!["{6b2d1e5f-0000-0000-0000-000000000001}"]
        );
        assert_eq!(
            driver.target_computer_hardware_ids,
            vec!["{6b2d1e5f-0000-0000-0000-000000000002}"]
        );
        assert!(
            core.applicability_rules
                .unwrap()
                .metadata
                .unwrap()
                .starts_with("<d.WindowsDriverMetaData ")
        );
    }

    #[test]
    fn driver_version_packing() {
        assert_eq!(pack_driver_version("1.2.3.4"), Some(0x0001_0002_0003_0004));
        assert_eq!(pack_driver_version("10.0"), Some(0x000a_0000_0000_0000));
        assert_eq!(
            pack_driver_version("65535.65535.65535.65535"),
            Some(u64::MAX)
        );
        assert_eq!(pack_driver_version("65536.0.0.0"), None);
        assert_eq!(pack_driver_version("1.2.3.4.5"), None);
        assert_eq!(pack_driver_version("1..3"), None);
        assert_eq!(pack_driver_version("+1.2"), None);
        assert_eq!(pack_driver_version(""), None);
        assert!(pack_driver_version("1.2.3.10") > pack_driver_version("1.2.3.9"));
    }

    #[test]
    fn feature_score_forms() {
        let score = |s: &str| FeatureScore {
            operating_system: String::new(),
            feature_score: s.to_owned(),
        };
        assert_eq!(score("0").score(), Some(0));
        assert_eq!(score("0xFE").score(), Some(254));
        assert_eq!(score("256").score(), None);
        assert_eq!(score("").score(), None);
    }

    #[test]
    fn errors_name_path_and_offset() {
        let text = r#"<UpdateIdentity UpdateID="dd78b8a1-0b20-45c1-add6-4da72e9364cf" RevisionNumber="1" /><Relationships><Prerequisites><AtLeastOne><UpdateIdentity RevisionNumber="1" /></AtLeastOne></Prerequisites></Relationships>"#;
        let error = parse_core(text).unwrap_err();
        let offset = text.find("<UpdateIdentity RevisionNumber").unwrap();
        assert_eq!(
            error,
            FragmentError::MissingAttribute {
                path: "Relationships/Prerequisites/AtLeastOne/UpdateIdentity".to_owned(),
                offset,
                attribute: "UpdateID",
            }
        );
        assert!(error.to_string().contains(&format!("byte {offset}")));

        let error =
            parse_core(r#"<UpdateIdentity UpdateID="x" RevisionNumber="12a" />"#).unwrap_err();
        assert!(matches!(
            error,
            FragmentError::InvalidAttribute { ref path, attribute: "RevisionNumber", .. }
                if path == "UpdateIdentity"
        ));

        let error = parse_core(r#"<Properties UpdateType="Category" />"#).unwrap_err();
        assert_eq!(
            error,
            FragmentError::MissingElement {
                path: "UpdateIdentity".to_owned(),
                offset: 0
            }
        );

        let error = parse_core(r#"<UpdateIdentity UpdateID="x" RevisionNumber="1" /><Properties ExplicitlyDeployable="yes" />"#).unwrap_err();
        assert!(matches!(
            error,
            FragmentError::InvalidAttribute {
                attribute: "ExplicitlyDeployable",
                ..
            }
        ));
    }

    #[test]
    fn absent_update_type_defaults_to_software() {
        let core = parse_core(r#"<UpdateIdentity UpdateID="x" RevisionNumber="1" />"#).unwrap();
        assert_eq!(core.update_type, UpdateType::Software);
        assert!(core.properties.is_empty());
        let core = parse_core(
            r#"<UpdateIdentity UpdateID="x" RevisionNumber="1" /><Properties UpdateType="FutureKind" OSUpgrade="Upgrade" EulaID="E" PerUser="false" />"#,
        )
        .unwrap();
        assert_eq!(core.update_type, UpdateType::Other("FutureKind".to_owned()));
        assert_eq!(core.os_upgrade.as_deref(), Some("Upgrade"));
        assert_eq!(core.eula_id.as_deref(), Some("E"));
        assert_eq!(core.properties.len(), 4);
    }
}
