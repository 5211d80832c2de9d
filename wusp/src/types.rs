//! Data structures of reference section 3 (and the structures nested in section 2 messages).
//!
//! Field names are the element names in snake case; the element name itself is in each
//! declaration. Every field is a [`Field`], so absent, nil, empty and invalid
//! stay distinguishable; see [`crate::xml`] for how unknown elements are kept.

use crate::values::{
    Base64, Date, DateTime, DeploymentAction, Guid, MetadataType, ProcessorArchitecture, XmlText,
    XmlUpdateFragmentType,
};
use crate::xml::{Decoder, Encoder, Field, Start, XmlValue, wusp_struct};

/// An element kept as raw XML (attribute-only structures such as `Verification`, or
/// content the model treats as opaque). Written back verbatim.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RawElement {
    xml: String,
}

impl RawElement {
    /// Wraps the outer XML of one element.
    pub fn from_xml(xml: impl Into<String>) -> Self {
        RawElement { xml: xml.into() }
    }
    /// The outer XML.
    pub fn xml(&self) -> &str {
        &self.xml
    }
    /// The unescaped value of attribute `name` of the outer element.
    pub fn attribute(&self, name: &str) -> Option<String> {
        let tag_end = self.xml.find('>')?;
        let tag = &self.xml[..tag_end];
        let needle = format!(" {name}=");
        let at = tag.find(&needle)? + needle.len();
        let rest = &tag[at..];
        let q = rest.chars().next()?;
        let close = rest[1..].find(q)?;
        crate::xml::unescape(&rest[1..1 + close])
            .ok()
            .map(|c| c.into_owned())
    }
}

impl XmlValue for RawElement {
    fn decode_value<'a>(
        d: &mut Decoder<'a>,
        start: &Start<'a>,
        _: &'static str,
    ) -> crate::Result<Field<Self>> {
        let from = start.offset() as usize;
        d.skip(start)?;
        let to = d.pos() as usize;
        Ok(Field::Value(RawElement {
            xml: d.doc()[from..to].to_string(),
        }))
    }
    fn encode_value(&self, e: &mut Encoder, _name: &str, _: &'static str) {
        e.raw(&self.xml);
    }
    const DECODES_EMPTY: bool = true;
}

wusp_struct! {
    /// `Cookie` (reference 3.2): clear-text expiry plus opaque server state.
    pub struct Cookie {
        /// Clear-text copy of the expiry.
        expiration: DateTime = "Expiration" required,
        /// Opaque server state.
        encrypted_data: Base64 = "EncryptedData",
    }
}

wusp_struct! {
    /// `AuthorizationCookie` (reference 3.3).
    pub struct AuthorizationCookie {
        /// Issuing plug-in (`SimpleTargeting`).
        plug_in_id: String = "PlugInId",
        /// Opaque data.
        cookie_data: Base64 = "CookieData",
    }
}

wusp_struct! {
    /// `AuthPlugInInfo` of GetConfig (reference 2.2).
    pub struct AuthPlugInInfo {
        /// Plug-in name; MUST be `SimpleTargeting`.
        plug_in_id: String = "PlugInID",
        /// Relative URL of the SimpleAuth service.
        service_url: String = "ServiceUrl",
        /// MUST NOT be present (WSUS sends it empty).
        parameter: String = "Parameter",
    }
}

wusp_struct! {
    /// `ConfigurationProperty` (name/value pair of GetConfig).
    pub struct ConfigurationProperty {
        /// Property name.
        name: String = "Name",
        /// Property value.
        value: String = "Value",
    }
}

wusp_struct! {
    /// `Config`: the GetConfig / GetConfig2 result (reference 2.2).
    pub struct Config {
        /// Last configuration change on the server.
        last_change: DateTime = "LastChange" required,
        /// True when the client must call RegisterComputer.
        is_registration_required: bool = "IsRegistrationRequired" required,
        /// Authorization plug-ins (exactly one per the prose).
        auth_info: Vec<AuthPlugInInfo> = "AuthInfo" / "AuthPlugInInfo",
        /// Event IDs the reporting service wants.
        allowed_event_ids: Vec<i32> = "AllowedEventIds" / "int",
        /// Server properties.
        properties: Vec<ConfigurationProperty> = "Properties" / "ConfigurationProperty",
    }
}

impl Config {
    /// The value of property `name`, if present.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .items()
            .iter()
            .find(|p| p.name.value().is_some_and(|n| n == name))
            .and_then(|p| p.value.value().map(String::as_str))
    }
    /// `MaxExtendedUpdatesPerRequest`, when present and numeric.
    pub fn max_extended_updates_per_request(&self) -> Option<u32> {
        self.property("MaxExtendedUpdatesPerRequest")?
            .trim()
            .parse()
            .ok()
    }
    /// The server `ProtocolVersion` property as (major, minor); absent means (0, 0).
    pub fn protocol_version(&self) -> (u32, u32) {
        self.property("ProtocolVersion")
            .and_then(parse_version)
            .unwrap_or((0, 0))
    }
}

/// Parses a two-part `x.y` protocol version.
pub fn parse_version(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

wusp_struct! {
    /// `OSVersion` of `ClientConfiguration` (GetConfig2, MU-WSDL).
    pub struct OsVersionInfo {
        /// Major version.
        major_version: i32 = "MajorVersion",
        /// Minor version.
        minor_version: i32 = "MinorVersion",
        /// Build number.
        build_number: i32 = "BuildNumber",
        /// Service pack major.
        service_pack_major_number: i16 = "ServicePackMajorNumber",
        /// Service pack minor.
        service_pack_minor_number: i16 = "ServicePackMinorNumber",
    }
}

wusp_struct! {
    /// `ClientConfiguration` of GetConfig2 (MU-WSDL).
    pub struct ClientConfiguration {
        /// Processor architecture.
        processor_architecture: ProcessorArchitecture = "ProcessorArchitecture",
        /// Always-on always-connected device.
        always_on_always_connected: bool = "AlwaysOnAlwaysConnected",
        /// Client version.
        client_version: OsVersionInfo = "ClientVersion",
        /// OS version.
        os_version: OsVersionInfo = "OSVersion",
        /// Protocol version.
        protocol_version: String = "ProtocolVersion",
    }
}

wusp_struct! {
    /// `ComputerInfo` of RegisterComputer (reference 2.5).
    pub struct ComputerInfo {
        /// DNS name; equals GetAuthorizationCookie's dnsName.
        dns_name: String = "DnsName",
        /// OS major version.
        os_major_version: i32 = "OSMajorVersion" required,
        /// OS minor version.
        os_minor_version: i32 = "OSMinorVersion" required,
        /// OS build.
        os_build_number: i32 = "OSBuildNumber" required,
        /// Service pack major.
        os_service_pack_major_number: i16 = "OSServicePackMajorNumber" required,
        /// Service pack minor.
        os_service_pack_minor_number: i16 = "OSServicePackMinorNumber" required,
        /// Locale, e.g. en-US.
        os_locale: String = "OSLocale",
        /// Manufacturer.
        computer_manufacturer: String = "ComputerManufacturer",
        /// Model.
        computer_model: String = "ComputerModel",
        /// BIOS version.
        bios_version: String = "BiosVersion",
        /// BIOS name.
        bios_name: String = "BiosName",
        /// BIOS release date.
        bios_release_date: DateTime = "BiosReleaseDate" required,
        /// Free-text architecture ("x86", "AMD64").
        processor_architecture: String = "ProcessorArchitecture",
        /// Suite mask.
        suite_mask: i16 = "SuiteMask" required,
        /// Old product type.
        old_product_type: u8 = "OldProductType" required,
        /// New product type.
        new_product_type: i32 = "NewProductType" required,
        /// System metrics.
        system_metrics: i32 = "SystemMetrics" required,
        /// WUA version major.
        client_version_major_number: i16 = "ClientVersionMajorNumber" required,
        /// WUA version minor.
        client_version_minor_number: i16 = "ClientVersionMinorNumber" required,
        /// WUA version build.
        client_version_build_number: i16 = "ClientVersionBuildNumber" required,
        /// WUA version QFE.
        client_version_qfe_number: i16 = "ClientVersionQfeNumber" required,
        /// OS description.
        os_description: String = "OSDescription",
        /// OEM.
        oem: String = "OEM",
        /// Device type.
        device_type: String = "DeviceType",
        /// Firmware version.
        firmware_version: String = "FirmwareVersion",
        /// Mobile operator.
        mobile_operator: String = "MobileOperator",
    }
}

wusp_struct! {
    /// `CategoryRelationship` of StartCategoryScan: one member of an AND-group.
    pub struct CategoryRelationship {
        /// AND-group number (groups are ORed).
        index_of_and_group: i32 = "IndexOfAndGroup" required,
        /// The category.
        category_id: Guid = "CategoryId" required,
    }
}

wusp_struct! {
    /// `CategoryIdentifier` of FilterCategoryIds.
    pub struct CategoryIdentifier {
        /// The category.
        id: Guid = "Id",
    }
}

wusp_struct! {
    /// `InstalledDriver` of a SystemSpec device (reference 2.7).
    pub struct InstalledDriver {
        /// Hardware/compatible ID the driver matched.
        matching_id: String = "MatchingID",
        /// Driver date.
        driver_ver_date: DateTime = "DriverVerDate" required,
        /// Packed 4-part version.
        driver_ver_version: i64 = "DriverVerVersion" required,
        /// Class.
        class: String = "Class",
        /// Manufacturer.
        manufacturer: String = "Manufacturer",
        /// Provider.
        provider: String = "Provider",
        /// Model.
        model: String = "Model",
        /// Matching computer hardware ID (nillable).
        matching_computer_hwid: Guid = "MatchingComputerHWID",
        /// Driver rank.
        driver_rank: i32 = "DriverRank" required,
        /// MU-WSDL.
        skip_provider_filtering: bool = "SkipProviderFiltering",
        /// MU-WSDL.
        is_generic: bool = "IsGeneric",
    }
}

wusp_struct! {
    /// An extension driver of a device (Windows 10 1709+).
    pub struct ExtensionDriver {
        /// Extension ID.
        extension_id: String = "ExtensionId",
        /// Driver date.
        driver_ver_date: DateTime = "DriverVerDate",
        /// Packed version.
        driver_ver_version: i64 = "DriverVerVersion",
        /// Class.
        class: String = "Class",
        /// Rank.
        driver_rank: i32 = "DriverRank",
        /// Matching computer hardware ID (nillable).
        matching_computer_hwid: Guid = "MatchingComputerHWID",
    }
}

wusp_struct! {
    /// `Device` of SystemSpec (driver pass).
    pub struct Device {
        /// Hardware IDs, most specific first.
        hardware_ids: Vec<String> = "HardwareIDs" / "string",
        /// Compatible IDs.
        compatible_ids: Vec<String> = "CompatibleIDs" / "string",
        /// The installed driver.
        installed_driver: InstalledDriver = "installedDriver",
        /// Extension drivers, native / MU-WSDL spelling.
        extension_drivers: Vec<ExtensionDriver> = "extensionDrivers" / "ExtensionDriver",
        /// Extension drivers, spec spelling (reference 10 #7).
        extension_driver: Vec<ExtensionDriver> = "extensionDriver" / "extensionDriver",
        /// Update IDs of drivers WU installed.
        driver_recovery_ids: Vec<String> = "DriverRecoveryIDs" / "DriverRecoveryID",
        /// Bit 0: not PnP-enumerated.
        device_flags: u8 = "DeviceFlags",
    }
}

wusp_struct! {
    /// `ComputerHardwareSpecification` (computer hardware IDs).
    pub struct ComputerHardwareSpecification {
        /// CHIDs, most specific first.
        hardware_ids: Vec<Guid> = "HardwareIDs" / "guid",
    }
}

wusp_struct! {
    /// `ExtendedUpdateInfoParameters` of SyncUpdates (MU-WSDL).
    pub struct ExtendedUpdateInfoParameters {
        /// Fragment types.
        xml_update_fragment_types: Vec<XmlUpdateFragmentType> = "XmlUpdateFragmentTypes" / "XmlUpdateFragmentType",
        /// Locales.
        locales: Vec<String> = "Locales" / "string",
        /// Region.
        geo_id: String = "GeoId",
    }
}

wusp_struct! {
    /// `ExtendedUserInfoParameters` of SyncUpdates (MU-WSDL).
    pub struct ExtendedUserInfoParameters {
        /// Version.
        version: String = "Version",
        /// Items.
        extended_user_info: Vec<String> = "ExtendedUserInfo" / "string",
    }
}

wusp_struct! {
    /// `ProductsParameters` of SyncUpdates (MU-WSDL; sent by Windows 11).
    pub struct ProductsParameters {
        /// Only the current version.
        sync_current_version_only: bool = "SyncCurrentVersionOnly",
        /// `Key=Value;` device attributes.
        device_attributes: String = "DeviceAttributes",
        /// Caller attributes.
        caller_attributes: String = "CallerAttributes",
        /// Products.
        products: String = "Products",
    }
}

wusp_struct! {
    /// `UpdateDeploymentIdentifier` (item `Update`, MU-WSDL).
    pub struct UpdateDeploymentIdentifier {
        /// Revision ID.
        update_id: i32 = "UpdateId",
        /// Deployment ID.
        deployment_id: i32 = "DeploymentId",
    }
}

wusp_struct! {
    /// `SyncUpdateParameters` (reference 2.7), in native wire order.
    pub struct SyncUpdateParameters {
        /// MUST be false.
        express_query: bool = "ExpressQuery" required,
        /// Cached non-leaf revisions evaluated installed.
        installed_non_leaf_update_ids: Vec<i32> = "InstalledNonLeafUpdateIDs" / "int",
        /// Every other cached non-driver revision.
        other_cached_update_ids: Vec<i32> = "OtherCachedUpdateIDs" / "int",
        /// Devices (driver pass only).
        system_spec: Vec<Device> = "SystemSpec" / "Device",
        /// Cached driver revisions.
        cached_driver_ids: Vec<i32> = "CachedDriverIDs" / "int",
        /// false = software pass, true = driver pass.
        skip_software_sync: bool = "SkipSoftwareSync" required,
        /// Category scan filter.
        filter_category_ids: Vec<CategoryIdentifier> = "FilterCategoryIds" / "CategoryIdentifier",
        /// Ask for split out-of-scope lists.
        need_two_group_out_of_scope_updates: bool = "NeedTwoGroupOutOfScopeUpdates",
        /// MU-WSDL.
        filter_app_category_ids: Vec<CategoryIdentifier> = "FilterAppCategoryIds" / "CategoryIdentifier",
        /// MU-WSDL.
        treat_app_category_ids_as_installed: bool = "TreatAppCategoryIdsAsInstalled",
        /// MU-WSDL; sent by Windows 11.
        also_perform_regular_sync: bool = "AlsoPerformRegularSync",
        /// Computer hardware IDs.
        computer_spec: ComputerHardwareSpecification = "ComputerSpec",
        /// "Arch.Major.Minor".
        feature_score_matching_key: String = "FeatureScoreMatchingKey",
        /// MU-WSDL.
        extended_update_info_parameters: ExtendedUpdateInfoParameters = "ExtendedUpdateInfoParameters",
        /// MU-WSDL.
        extended_user_info_parameters: ExtendedUserInfoParameters = "ExtendedUserInfoParameters",
        /// MU-WSDL.
        client_preferred_languages: Vec<String> = "ClientPreferredLanguages" / "string",
        /// MU-WSDL.
        wu_bundle_id: Guid = "WuBundleId",
        /// MU-WSDL; sent by Windows 11.
        products_parameters: ProductsParameters = "ProductsParameters",
        /// MU-WSDL.
        pending_update_ids: Vec<i32> = "PendingUpdateIDs" / "int",
        /// MU-WSDL.
        other_cached_update_deployment_ids: Vec<UpdateDeploymentIdentifier> = "OtherCachedUpdateDeploymentIDs" / "Update",
        /// MU-WSDL.
        cached_driver_update_deployment_ids: Vec<UpdateDeploymentIdentifier> = "CachedDriverUpdateDeploymentIDs" / "Update",
    }
}

wusp_struct! {
    /// `DriverMetadata` of a Deployment (MU-WSDL).
    pub struct DriverMetadata {
        /// Model.
        model: String = "Model",
        /// Manufacturer.
        manufacturer: String = "Manufacturer",
    }
}

wusp_struct! {
    /// One `AdditionalDriverMetadata` entry of a Deployment (MU-WSDL).
    pub struct AdditionalDriverMetadata {
        /// Hardware IDs.
        hardware_ids: Vec<String> = "HardwareIds" / "string",
        /// Model.
        model: String = "Model",
        /// Manufacturer.
        manufacturer: String = "Manufacturer",
    }
}

wusp_struct! {
    /// `ClientMetadata` (Deployment ClientBehaviors).
    pub struct ClientMetadata {
        /// Audience, Update or Admin.
        metadata_type: MetadataType = "MetadataType",
        /// The metadata.
        metadata: String = "Metadata",
        /// Signature (attribute-only element).
        verification: RawElement = "Verification",
    }
}

wusp_struct! {
    /// `Deployment` (reference 3.5), spec fields then MU-WSDL extras in sequence order.
    pub struct Deployment {
        /// Deployment ID.
        id: i32 = "ID" required,
        /// Action.
        action: DeploymentAction = "Action" required,
        /// Deadline.
        deadline: DateTime = "Deadline" lenient,
        /// Install automatically.
        is_assigned: bool = "IsAssigned" required,
        /// Creation/change date (`yyyy-mm-dd`).
        last_change_time: Date = "LastChangeTime" required,
        /// Download priority.
        download_priority: String = "DownloadPriority",
        /// Matched hardware IDs (drivers).
        hardware_ids: Vec<String> = "HardwareIds" / "string",
        /// MU-WSDL.
        driver_metadata: DriverMetadata = "DriverMetadata",
        /// MU-WSDL.
        additional_driver_metadata: Vec<AdditionalDriverMetadata> = "AdditionalDriverMetadata" / "AdditionalDriverMetadata",
        /// MUST be 0 when sent (clients >= 1.8 only).
        auto_select: String = "AutoSelect",
        /// MUST be 0 when sent (clients >= 1.8 only).
        auto_download: String = "AutoDownload",
        /// MUST be 0 when sent (clients >= 1.8 only).
        supersedence_behavior: String = "SupersedenceBehavior",
        /// MUST be 0 when sent (clients >= 1.8 only).
        flag_bitmask: String = "FlagBitmask",
        /// MU-WSDL.
        priority: String = "Priority",
        /// MU-WSDL.
        handler_specific_action: String = "HandlerSpecificAction",
        /// MU-WSDL (nillable).
        target_group_id: Guid = "TargetGroupId",
        /// MU-WSDL.
        targeting_version: String = "TargetingVersion",
        /// MU-WSDL.
        flight_id: String = "FlightId",
        /// Publisher metadata for the client.
        client_behaviors: Vec<ClientMetadata> = "ClientBehaviors" / "ClientMetadata",
        /// MU-WSDL (nillable).
        cache_lifetime_minutes: u16 = "CacheLifetimeMinutes",
        /// MU-WSDL.
        flight_metadata: String = "FlightMetadata",
    }
}

wusp_struct! {
    /// `UpdateInfo` (reference 3.5): one revision delivered by SyncUpdates.
    pub struct UpdateInfo {
        /// Revision ID.
        id: i32 = "ID" required,
        /// Deployment.
        deployment: Deployment = "Deployment",
        /// True when no revision names this update as prerequisite.
        is_leaf: bool = "IsLeaf" required,
        /// MU-WSDL.
        is_shared: bool = "IsShared",
        /// Escaped core fragment.
        xml: XmlText = "Xml",
        /// MU-WSDL signature (attribute-only element).
        verification: RawElement = "Verification",
    }
}

wusp_struct! {
    /// `UpdateData` (item `Update`): one fragment of GetExtendedUpdateInfo.
    pub struct UpdateData {
        /// Revision ID.
        id: i32 = "ID" required,
        /// Escaped fragment.
        xml: XmlText = "Xml",
        /// MU-WSDL signature.
        verification: RawElement = "Verification",
    }
}

wusp_struct! {
    /// `FileLocation` (reference 3.8; extended fields of 2.11).
    pub struct FileLocation {
        /// SHA-1 of the file (20 bytes).
        file_digest: Base64 = "FileDigest",
        /// HTTP URI.
        url: String = "Url",
        /// Pieces hash URL.
        pieces_hash_url: String = "PiecesHashUrl",
        /// Block map URL.
        block_map_url: String = "BlockMapUrl",
        /// Decryption JSON (spec name).
        decryption_information: String = "DecryptionInformation",
        /// Decryption JSON (MU-WSDL name).
        esrp_decryption_information: String = "EsrpDecryptionInformation",
        /// Digest algorithm ("SHA1").
        file_digest_algorithm: String = "FileDigestAlgorithm",
        /// Digest of the encrypted file.
        encrypted_file_digest: Base64 = "EncryptedFileDigest",
        /// Its algorithm ("SHA256").
        encrypted_file_digest_algorithm: String = "EncryptedFileDigestAlgorithm",
    }
}

wusp_struct! {
    /// `ExtendedUpdateInfo`: the GetExtendedUpdateInfo result (reference 2.10).
    pub struct ExtendedUpdateInfo {
        /// One entry per (revision, fragment).
        updates: Vec<UpdateData> = "Updates" / "Update",
        /// Content locations.
        file_locations: Vec<FileLocation> = "FileLocations" / "FileLocation",
        /// Requested revisions no longer deployed.
        out_of_scope_revision_ids: Vec<i32> = "OutOfScopeRevisionIDs" / "int",
    }
}

wusp_struct! {
    /// `SyncInfo`: the SyncUpdates / SyncPrinterCatalog result (reference 2.7).
    pub struct SyncInfo {
        /// Revisions to add to the cache.
        new_updates: Vec<UpdateInfo> = "NewUpdates" / "UpdateInfo",
        /// Cached revisions to drop.
        out_of_scope_revision_ids: Vec<i32> = "OutOfScopeRevisionIDs" / "int",
        /// Cached revisions whose Deployment or IsLeaf changed.
        changed_updates: Vec<UpdateInfo> = "ChangedUpdates" / "UpdateInfo",
        /// True when only part of NewUpdates was returned.
        truncated: bool = "Truncated" required,
        /// Replacement cookie.
        new_cookie: Cookie = "NewCookie",
        /// Still deployed but outside the category scan.
        deployed_out_of_scope_revision_ids: Vec<i32> = "DeployedOutOfScopeRevisionIds" / "int",
        /// "true"/"false".
        driver_sync_not_needed: String = "DriverSyncNotNeeded",
        /// MU-WSDL piggy-backed fragments.
        extended_update_info: ExtendedUpdateInfo = "ExtendedUpdateInfo",
        /// MU-WSDL.
        country_code: String = "CountryCode",
    }
}

wusp_struct! {
    /// `UpdateIdentity` (reference 3.4).
    pub struct UpdateIdentity {
        /// Update GUID.
        update_id: Guid = "UpdateID" required,
        /// Revision number.
        revision_number: i32 = "RevisionNumber" required,
    }
}

wusp_struct! {
    /// `RefreshCacheResult` (reference 2.9).
    pub struct RefreshCacheResult {
        /// This server's revision ID.
        revision_id: i32 = "RevisionID" required,
        /// Echo of the requested identity.
        global_id: UpdateIdentity = "GlobalID",
        /// Leaf flag.
        is_leaf: bool = "IsLeaf" required,
        /// MU-WSDL.
        is_shared: bool = "IsShared",
        /// Deployment to the client's target group.
        deployment: Deployment = "Deployment",
    }
}

wusp_struct! {
    /// `FileDecryption` / `FileDecryption2` (reference 2.11).
    pub struct FileDecryption {
        /// SHA-1 of the plaintext.
        file_digest: Base64 = "FileDigest",
        /// Key.
        decryption_key: Base64 = "DecryptionKey",
        /// Exactly one element equal to the key (WSUS).
        security_data: Vec<Base64> = "SecurityData" / "base64Binary",
    }
}

wusp_struct! {
    /// `UpdateEncryptionDetail` (24H2+).
    pub struct UpdateEncryptionDetail {
        /// The update.
        update_identity: UpdateIdentity = "UpdateIdentity",
        /// Whether any file is encrypted.
        has_encrypted_files: bool = "HasEncryptedFiles",
    }
}

wusp_struct! {
    /// `UpdateReportingSamplingRate` (MU-WSDL only).
    pub struct UpdateReportingSamplingRate {
        /// Update GUID.
        update_id: Guid = "UpdateId",
        /// Install sampling.
        sampling_rate_for_install: i32 = "SamplingRateForInstall",
        /// Download sampling.
        sampling_rate_for_download: i32 = "SamplingRateForDownload",
    }
}

wusp_struct! {
    /// `ExtendedUpdateInfo2`: the GetExtendedUpdateInfo2 result (reference 2.11).
    pub struct ExtendedUpdateInfo2 {
        /// Fragments.
        updates: Vec<UpdateData> = "Updates" / "Update",
        /// Locations.
        file_locations: Vec<FileLocation> = "FileLocations" / "FileLocation",
        /// Decryption data.
        file_decryption_data: Vec<FileDecryption> = "FileDecryptionData" / "FileDecryption",
        /// Decryption data, second form.
        file_decryption_data2: Vec<FileDecryption> = "FileDecryptionData2" / "FileDecryption2",
        /// Encryption details.
        update_encryption_details: Vec<UpdateEncryptionDetail> = "UpdateEncryptionDetails" / "UpdateEncryptionDetail",
        /// MU-WSDL only.
        update_reporting_sampling_rates: Vec<UpdateReportingSamplingRate> = "UpdateReportingSamplingRates" / "UpdateReportingSamplingRate",
    }
}

wusp_struct! {
    /// `GetFileLocationsResults` (reference 2.12).
    pub struct GetFileLocationsResults {
        /// Locations for the requested digests.
        file_locations: Vec<FileLocation> = "FileLocations" / "FileLocation",
        /// Replacement cookie.
        new_cookie: Cookie = "NewCookie",
    }
}

wusp_struct! {
    /// `ComputerTargetIdentifier` of a reporting event.
    pub struct ComputerTargetIdentifier {
        /// The client ID.
        sid: String = "Sid",
    }
}

wusp_struct! {
    /// `UpdateRevisionIdentifier` of a reporting event.
    pub struct UpdateRevisionIdentifier {
        /// Update GUID (zero when not update-related).
        update_id: Guid = "UpdateID" required,
        /// Revision number.
        revision_number: i32 = "RevisionNumber" required,
    }
}

wusp_struct! {
    /// `BasicData` of a reporting event (reference 3.10).
    pub struct BasicData {
        /// The client.
        target_id: ComputerTargetIdentifier = "TargetID",
        /// MUST be 0.
        sequence_number: i32 = "SequenceNumber" required,
        /// When the event was recorded.
        time_at_target: DateTime = "TimeAtTarget" required,
        /// Unique per occurrence.
        event_instance_id: Guid = "EventInstanceID" required,
        /// MUST be 1.
        namespace_id: i32 = "NamespaceID" required,
        /// Event ID.
        event_id: i16 = "EventID" required,
        /// Client subcomponent.
        source_id: i16 = "SourceID" required,
        /// The update.
        update_id: UpdateRevisionIdentifier = "UpdateID",
        /// Signed HRESULT.
        win32_hresult: i32 = "Win32HResult" required,
        /// Application name.
        app_name: String = "AppName",
    }
}

wusp_struct! {
    /// `OSVersion` of a reporting event.
    pub struct ReportingOsVersion {
        /// Major.
        major: i32 = "Major",
        /// Minor.
        minor: i32 = "Minor",
        /// Build.
        build: i32 = "Build",
        /// Revision.
        revision: i32 = "Revision",
        /// Service pack major.
        service_pack_major: i32 = "ServicePackMajor",
        /// Service pack minor.
        service_pack_minor: i32 = "ServicePackMinor",
    }
}

wusp_struct! {
    /// `ExtendedData` of a reporting event (reference 3.10).
    pub struct ExtendedData {
        /// Fills %1, %2… of the template.
        replacement_strings: Vec<String> = "ReplacementStrings" / "string",
        /// `tag=value` items.
        misc_data: Vec<String> = "MiscData" / "string",
        /// Brand.
        computer_brand: String = "ComputerBrand",
        /// Model.
        computer_model: String = "ComputerModel",
        /// BIOS revision.
        bios_revision: String = "BiosRevision",
        /// Architecture enumeration.
        processor_architecture: ProcessorArchitecture = "ProcessorArchitecture" required,
        /// OS version.
        os_version: ReportingOsVersion = "OSVersion" required,
        /// LCID.
        os_locale_id: i32 = "OSLocaleID" required,
        /// Device ID.
        device_id: String = "DeviceID",
    }
}

wusp_struct! {
    /// `PrivateData` of a reporting event: present with zero-length children.
    pub struct PrivateData {
        /// Zero-length.
        computer_dns_name: String = "ComputerDnsName",
        /// Zero-length.
        user_account_name: String = "UserAccountName",
    }
}

wusp_struct! {
    /// `ReportingEvent` (reference 3.10).
    pub struct ReportingEvent {
        /// Basic data.
        basic_data: BasicData = "BasicData",
        /// Extended data.
        extended_data: ExtendedData = "ExtendedData",
        /// Private data.
        private_data: PrivateData = "PrivateData",
    }
}

wusp_struct! {
    /// `inventory` of ReportInventory (WSDL only).
    pub struct Inventory {
        /// Compressed flag.
        is_compressed: bool = "IsCompressed",
        /// Raw XML.
        raw_xml: String = "RawXml",
        /// Compressed XML.
        compressed_xml: Base64 = "CompressedXml",
    }
}
