//! StartCategoryScan, SyncUpdates (software and driver pass), SyncPrinterCatalog and
//! RefreshCache (reference 2.6–2.9, 3.5, 3.7, section 8 #10 and #12–#14).

use time::macros::datetime;
use wusp::messages::*;
use wusp::types::*;
use wusp::values::*;
use wusp::{Envelope, Field, Operation};

use crate::support::*;

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

/// Section 8 #13: the 29 other cached revision IDs (101-108, 110-115, 378-392).
pub(crate) fn spec_other_ids_2() -> Vec<i32> {
    (101..=108).chain(110..=115).chain(378..=392).collect()
}

/// Section 8 #14: 58 other cached IDs. The reference abridges this list; it is the 29 of
/// request #2 plus 29 further revisions delivered in between (190 and 192-219).
pub(crate) fn spec_other_ids_3() -> Vec<i32> {
    let mut ids = spec_other_ids_2();
    ids.push(190);
    ids.extend(192..=219);
    ids
}

/// Core fragment of a category (reference 3.7, first example).
pub(crate) const CORE_CATEGORY_A: &str = r#"<UpdateIdentity UpdateID="56309036-4C77-4DD9-951A-99EE9C246A94" RevisionNumber="101" /><Properties UpdateType="Category" /><ApplicabilityRules><IsInstalled><True /></IsInstalled></ApplicabilityRules>"#;

/// Core fragment of a category with a category prerequisite (reference 3.7, second example).
pub(crate) const CORE_CATEGORY_B: &str = r#"<UpdateIdentity UpdateID="dd78b8a1-0b20-45c1-add6-4da72e9364cf" RevisionNumber="202" /><Properties UpdateType="Category" /><Relationships><Prerequisites><AtLeastOne IsCategory="true"><UpdateIdentity UpdateID="6964aab4-c5b5-43bd-a17d-ffb4346a8e1d" /></AtLeastOne></Prerequisites></Relationships><ApplicabilityRules><IsInstalled><b.WindowsVersion Comparison="GreaterThanOrEqualTo" MajorVersion="6" MinorVersion="3" ProductType="1" /></IsInstalled></ApplicabilityRules>"#;

/// Core fragment of an installable software update bundling a child (reference 3.7).
pub(crate) const CORE_SOFTWARE: &str = r#"<UpdateIdentity UpdateID="3f8a7c2e-91b4-4d6a-8e5f-2b1c9d0e7a63" RevisionNumber="200" /><Properties UpdateType="Software" ExplicitlyDeployable="true" AutoSelectOnWebSites="true" /><Relationships><Prerequisites><AtLeastOne IsCategory="true"><UpdateIdentity UpdateID="dd78b8a1-0b20-45c1-add6-4da72e9364cf" /></AtLeastOne></Prerequisites><BundledUpdates><UpdateIdentity UpdateID="9c4e2a71-5d3b-4f08-a6e1-7b2d8c0f1e94" RevisionNumber="200" /></BundledUpdates></Relationships><ApplicabilityRules><IsInstalled><False /></IsInstalled></ApplicabilityRules>"#;

/// Core fragment of the bundled child.
pub(crate) const CORE_BUNDLED: &str = r#"<UpdateIdentity UpdateID="9c4e2a71-5d3b-4f08-a6e1-7b2d8c0f1e94" RevisionNumber="200" /><Properties UpdateType="Software" /><ApplicabilityRules><IsInstalled><False /></IsInstalled><IsInstallable><True /></IsInstallable></ApplicabilityRules>"#;

/// Core fragment of a printer driver (d. prefix, reference 3.7).
pub(crate) const CORE_PRINTER_DRIVER: &str = r#"<UpdateIdentity UpdateID="b7e0c6d2-48a1-4f3e-9d5c-1a2b3c4d5e6f" RevisionNumber="201" /><Properties UpdateType="Driver" /><ApplicabilityRules><Metadata><d.WindowsDriverMetaData HardwareID="USBPRINT\HPLaserJet_4250F7D5" DriverVerDate="2016-06-21" DriverVerVersion="6.1.7601.17514" Class="Printer" Manufacturer="HP" Provider="Microsoft" Model="HP LaserJet 4250 PCL6" /></Metadata></ApplicabilityRules>"#;

/// The seven identities of section 8 #10.
pub(crate) const REFRESH_IDENTITIES: [(&str, i32); 7] = [
    (CATEGORY_A, 101),
    (CATEGORY_B, 202),
    (CATEGORY_B_PARENT, 201),
    ("0fa1201d-4330-4fa8-8ae9-b877473b6441", 205),
    ("e6cf1350-c01b-414d-a61f-263d14d133b4", 204),
    ("3f8a7c2e-91b4-4d6a-8e5f-2b1c9d0e7a63", 200),
    ("9c4e2a71-5d3b-4f08-a6e1-7b2d8c0f1e94", 200),
];

/// The six computer hardware IDs (CHIDs) of the native driver pass.
pub(crate) const CHIDS: [&str; 6] = [
    "2a5b6e5f-7c2d-5a8e-9b1f-3c4d5e6f7a8b",
    "8e1c0b3f-64d2-5f17-a9b0-c1d2e3f4a5b6",
    "f3c1a0e9-2b4d-5c6e-8f7a-9b0c1d2e3f4a",
    "5d7e9f1a-3b5c-5d7e-9f1a-3b5c7d9e1f2a",
    "c0ffee00-1234-5678-9abc-def012345678",
    "7a8b9c0d-1e2f-5a3b-8c4d-5e6f7a8b9c0d",
];

/// `DriverVerVersion` 23.60.1.2 packed into 64 bits.
pub(crate) const WIFI_DRIVER_VERSION: i64 = 6474182162448386;
/// 0x00FF2001: feature score 0xFF.
pub(crate) const WIFI_DRIVER_RANK: i32 = 16719873;

pub(crate) const DEVICE_ATTRIBUTES: &str = "E:IsContainerMgrInstalled=1;FlightRing=Retail;OSVersion=10.0.26200.6899;OSSkuId=48;App=WU_OS;AppVer=10.0.26200.6899;DefenderEngineVersion=1.1.25090.3001;UpdateServiceUrl=http://wsus01.corp.contoso.com:8530;";
pub(crate) const CALLER_ATTRIBUTES: &str =
    "Interactive=0;SheddingAware=1;Id=UpdateOrchestrator;IsSeeker=0;";

fn native_cookie() -> String {
    format!(
        "<cookie><Expiration>2026-10-04T17:03:35.9967236Z</Expiration><EncryptedData>{COOKIE_DATA_1}</EncryptedData></cookie>"
    )
}

fn products_parameters() -> String {
    format!(
        "<ProductsParameters><SyncCurrentVersionOnly>false</SyncCurrentVersionOnly><DeviceAttributes>{DEVICE_ATTRIBUTES}</DeviceAttributes><CallerAttributes>{CALLER_ATTRIBUTES}</CallerAttributes><Products/></ProductsParameters>"
    )
}

// ---------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------

/// StartCategoryScan request: two AND-groups (DNF), no cookie.
pub(crate) fn start_category_scan_request() -> String {
    native_request(&format!(
        r#"<StartCategoryScan xmlns="{CWS}"><requestedCategories><CategoryRelationship><IndexOfAndGroup>0</IndexOfAndGroup><CategoryId>{CATEGORY_B}</CategoryId></CategoryRelationship><CategoryRelationship><IndexOfAndGroup>0</IndexOfAndGroup><CategoryId>0fa1201d-4330-4fa8-8ae9-b877473b6441</CategoryId></CategoryRelationship><CategoryRelationship><IndexOfAndGroup>1</IndexOfAndGroup><CategoryId>a1b2c3d4-0000-4000-8000-00000000dead</CategoryId></CategoryRelationship></requestedCategories></StartCategoryScan>"#
    ))
}

/// StartCategoryScan response: the two direct lists, no Result wrapper.
pub(crate) fn start_category_scan_response() -> String {
    native_response(&format!(
        r#"<StartCategoryScanResponse xmlns="{CWS}"><preferredCategoryIds><guid>{CATEGORY_B}</guid></preferredCategoryIds><requestedCategoryIdsInError><guid>a1b2c3d4-0000-4000-8000-00000000dead</guid></requestedCategoryIdsInError></StartCategoryScanResponse>"#
    ))
}

/// StartCategoryScan response of the native category scan (scan/000005): nothing in error.
pub(crate) fn start_category_scan_native_response() -> String {
    native_response(&format!(
        r#"<StartCategoryScanResponse xmlns="{CWS}"><preferredCategoryIds><guid>{CATEGORY_B}</guid></preferredCategoryIds><requestedCategoryIdsInError /></StartCategoryScanResponse>"#
    ))
}

fn spec_sync_request(installed: &str, other: &str) -> String {
    spec_example(&format!(
        r#"    <SyncUpdates xmlns="{CWS}">
      <cookie>
        <Expiration>2006-05-26T16:58:01.8749472Z</Expiration>
        <EncryptedData>{SPEC_COOKIE_DATA}</EncryptedData>
      </cookie>
      <parameters>
        <ExpressQuery>false</ExpressQuery>
        {installed}
        {other}
        <SystemSpec xsi:nil="1" />
        <CachedDriverIDs xsi:nil="1" />
        <SkipSoftwareSync>false</SkipSoftwareSync>
      </parameters>
    </SyncUpdates>"#
    ))
}

fn spec_int_array(name: &str, ids: &[i32]) -> String {
    format!(
        "<{name} soapenc:arrayType=\"xsd:int[{}]\">{}\n        </{name}>",
        ids.len(),
        int_items(ids, 10)
    )
}

/// Section 8 #12: the first SyncUpdates of the Windows XP client, every list nil.
pub(crate) fn sync_updates_spec_request_1() -> String {
    spec_sync_request(
        r#"<InstalledNonLeafUpdateIDs xsi:nil="1" />"#,
        r#"<OtherCachedUpdateIDs xsi:nil="1" />"#,
    )
}

/// Section 8 #13.
pub(crate) fn sync_updates_spec_request_2() -> String {
    spec_sync_request(
        &spec_int_array("InstalledNonLeafUpdateIDs", &[109]),
        &spec_int_array("OtherCachedUpdateIDs", &spec_other_ids_2()),
    )
}

/// Section 8 #14.
pub(crate) fn sync_updates_spec_request_3() -> String {
    spec_sync_request(
        &spec_int_array("InstalledNonLeafUpdateIDs", &[109, 191]),
        &spec_int_array("OtherCachedUpdateIDs", &spec_other_ids_3()),
    )
}

/// Native Windows 11 software pass of a category scan (scan/000007), in native order.
pub(crate) fn sync_updates_native_software_request() -> String {
    native_request(&format!(
        r#"<SyncUpdates xmlns="{CWS}">{}<parameters><ExpressQuery>false</ExpressQuery><InstalledNonLeafUpdateIDs><int>108226</int><int>108231</int></InstalledNonLeafUpdateIDs><OtherCachedUpdateIDs/><SkipSoftwareSync>false</SkipSoftwareSync><FilterCategoryIds><CategoryIdentifier><Id>{CATEGORY_B}</Id></CategoryIdentifier></FilterCategoryIds><NeedTwoGroupOutOfScopeUpdates>true</NeedTwoGroupOutOfScopeUpdates><AlsoPerformRegularSync>false</AlsoPerformRegularSync><ComputerSpec/><FeatureScoreMatchingKey>AMD64.10.0</FeatureScoreMatchingKey>{}</parameters></SyncUpdates>"#,
        native_cookie(),
        products_parameters()
    ))
}

/// Native Windows 11 driver pass (scan/000009): SystemSpec with an installed driver whose
/// MatchingComputerHWID is `a:nil`, extension drivers in both spellings, a printer queue,
/// ComputerSpec with six CHIDs, FeatureScoreMatchingKey, AlsoPerformRegularSync,
/// ProductsParameters.
pub(crate) fn sync_updates_native_driver_request() -> String {
    let chids: String = CHIDS.iter().map(|c| format!("<guid>{c}</guid>")).collect();
    native_request(&format!(
        concat!(
            r#"<SyncUpdates xmlns="{cws}">{cookie}<parameters><ExpressQuery>false</ExpressQuery>"#,
            r#"<InstalledNonLeafUpdateIDs><int>108226</int><int>108231</int></InstalledNonLeafUpdateIDs>"#,
            r#"<OtherCachedUpdateIDs><int>108412</int><int>108413</int></OtherCachedUpdateIDs>"#,
            r#"<SystemSpec>"#,
            // A PCI device with its installed driver and one extension driver (native spelling).
            r#"<Device><HardwareIDs><string>PCI\VEN_8086&amp;DEV_A0F0&amp;SUBSYS_00748086&amp;REV_20</string><string>PCI\VEN_8086&amp;DEV_A0F0&amp;SUBSYS_00748086</string></HardwareIDs>"#,
            r#"<CompatibleIDs><string>PCI\VEN_8086&amp;DEV_A0F0&amp;REV_20</string><string>PCI\VEN_8086&amp;DEV_A0F0</string><string>PCI\CC_028000</string></CompatibleIDs>"#,
            r#"<installedDriver><MatchingID>PCI\VEN_8086&amp;DEV_A0F0&amp;SUBSYS_00748086</MatchingID><DriverVerDate>2024-05-13T00:00:00Z</DriverVerDate><DriverVerVersion>6474182162448386</DriverVerVersion><Class>Net</Class><Manufacturer>Intel</Manufacturer><Provider>Intel</Provider><Model>Intel(R) Wi-Fi 6 AX201 160MHz</Model><MatchingComputerHWID xmlns:a="http://www.w3.org/2001/XMLSchema-instance" a:nil="true"/><DriverRank>16719873</DriverRank><SkipProviderFiltering>false</SkipProviderFiltering><IsGeneric>false</IsGeneric></installedDriver>"#,
            r#"<extensionDrivers><ExtensionDriver><ExtensionId>e2f84ce7-8efa-411c-aa69-97454b4b3d6c</ExtensionId><DriverVerDate>2024-03-01T00:00:00Z</DriverVerDate><DriverVerVersion>2814751477596161</DriverVerVersion><Class>Extension</Class><DriverRank>16719872</DriverRank><MatchingComputerHWID>{chid0}</MatchingComputerHWID></ExtensionDriver></extensionDrivers>"#,
            r#"<DriverRecoveryIDs><DriverRecoveryID>4f3c2b1a-0e9d-4c8b-b7a6-958473625140</DriverRecoveryID></DriverRecoveryIDs></Device>"#,
            // An audio device whose extension driver uses the spec spelling.
            r#"<Device><HardwareIDs><string>HDAUDIO\FUNC_01&amp;VEN_10EC&amp;DEV_0257&amp;SUBSYS_17AA22FA</string></HardwareIDs>"#,
            r#"<installedDriver><MatchingID>HDAUDIO\FUNC_01&amp;VEN_10EC&amp;DEV_0257</MatchingID><DriverVerDate>2023-11-20T00:00:00Z</DriverVerDate><DriverVerVersion>1688854653387882</DriverVerVersion><Class>MEDIA</Class><Manufacturer>Realtek</Manufacturer><Provider>Realtek Semiconductor Corp.</Provider><Model>Realtek(R) Audio</Model><MatchingComputerHWID>{chid1}</MatchingComputerHWID><DriverRank>16719873</DriverRank></installedDriver>"#,
            r#"<extensionDriver><extensionDriver><ExtensionId>1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d</ExtensionId><DriverVerDate>2023-11-20T00:00:00Z</DriverVerDate><DriverVerVersion>1688854653387882</DriverVerVersion><Class>Extension</Class><DriverRank>16719873</DriverRank><MatchingComputerHWID xmlns:a="http://www.w3.org/2001/XMLSchema-instance" a:nil="true"/></extensionDriver></extensionDriver></Device>"#,
            // A printer queue: not PnP-enumerated (DeviceFlags bit 0), no installed driver.
            r#"<Device><HardwareIDs><string>USBPRINT\HPLaserJet_4250F7D5</string></HardwareIDs><CompatibleIDs><string>USBPRINT\HPLaserJet_4250</string></CompatibleIDs><DeviceFlags>1</DeviceFlags></Device>"#,
            r#"</SystemSpec><SkipSoftwareSync>true</SkipSoftwareSync><NeedTwoGroupOutOfScopeUpdates>true</NeedTwoGroupOutOfScopeUpdates><AlsoPerformRegularSync>true</AlsoPerformRegularSync>"#,
            r#"<ComputerSpec><HardwareIDs>{chids}</HardwareIDs></ComputerSpec><FeatureScoreMatchingKey>AMD64.10.0</FeatureScoreMatchingKey>{products}</parameters></SyncUpdates>"#,
        ),
        cws = CWS,
        cookie = native_cookie(),
        chid0 = CHIDS[0],
        chid1 = CHIDS[1],
        chids = chids,
        products = products_parameters(),
    ))
}

fn ws2025_deployment(id: i32, action: &str) -> String {
    format!(
        "<Deployment><ID>{id}</ID><Action>{action}</Action><IsAssigned>true</IsAssigned><LastChangeTime>2026-10-04</LastChangeTime><AutoSelect>0</AutoSelect><AutoDownload>0</AutoDownload><SupersedenceBehavior>0</SupersedenceBehavior></Deployment>"
    )
}

/// WS2025 software-pass page (flow/000012): two categories, the approved update as Install,
/// a changed bundle member, an out-of-scope revision, Truncated, NewCookie.
pub(crate) fn sync_updates_ws2025_response() -> String {
    native_response(&format!(
        concat!(
            r#"<SyncUpdatesResponse xmlns="{cws}"><SyncUpdatesResult><NewUpdates>"#,
            // Hand-escaped core fragment, exactly as the wire carries it.
            r#"<UpdateInfo><ID>108226</ID>{d1}<IsLeaf>false</IsLeaf><Xml>&lt;UpdateIdentity UpdateID="56309036-4C77-4DD9-951A-99EE9C246A94" RevisionNumber="101" /&gt;&lt;Properties UpdateType="Category" /&gt;&lt;ApplicabilityRules&gt;&lt;IsInstalled&gt;&lt;True /&gt;&lt;/IsInstalled&gt;&lt;/ApplicabilityRules&gt;</Xml></UpdateInfo>"#,
            r#"<UpdateInfo><ID>108231</ID>{d2}<IsLeaf>false</IsLeaf><Xml>{x2}</Xml></UpdateInfo>"#,
            r#"<UpdateInfo><ID>108412</ID>{d3}<IsLeaf>true</IsLeaf><Xml>{x3}</Xml></UpdateInfo>"#,
            r#"</NewUpdates><OutOfScopeRevisionIDs><int>107990</int></OutOfScopeRevisionIDs>"#,
            r#"<ChangedUpdates><UpdateInfo><ID>108413</ID>{d4}<IsLeaf>true</IsLeaf><Xml>{x4}</Xml></UpdateInfo></ChangedUpdates>"#,
            r#"<Truncated>true</Truncated><NewCookie><Expiration>2026-10-04T17:03:35.9967236Z</Expiration><EncryptedData>{c2}</EncryptedData></NewCookie>"#,
            r#"<DeployedOutOfScopeRevisionIds><int>108001</int><int>108002</int></DeployedOutOfScopeRevisionIds><DriverSyncNotNeeded>false</DriverSyncNotNeeded></SyncUpdatesResult></SyncUpdatesResponse>"#,
        ),
        cws = CWS,
        d1 = ws2025_deployment(20041, "Evaluate"),
        d2 = ws2025_deployment(20042, "Evaluate"),
        x2 = escape(CORE_CATEGORY_B),
        d3 = ws2025_deployment(20117, "Install"),
        x3 = escape(CORE_SOFTWARE),
        d4 = ws2025_deployment(20118, "Bundle"),
        x4 = escape(CORE_BUNDLED),
        c2 = COOKIE_DATA_2,
    ))
}

/// WS2025 driver-pass answer (scan/000009): nothing new, DriverSyncNotNeeded=true.
pub(crate) fn sync_updates_driver_pass_response() -> String {
    native_response(&format!(
        r#"<SyncUpdatesResponse xmlns="{CWS}"><SyncUpdatesResult><NewUpdates /><OutOfScopeRevisionIDs /><ChangedUpdates /><Truncated>false</Truncated><NewCookie><Expiration>2026-10-04T17:03:35.9967236Z</Expiration><EncryptedData>{COOKIE_DATA_3}</EncryptedData></NewCookie><DriverSyncNotNeeded>true</DriverSyncNotNeeded></SyncUpdatesResult></SyncUpdatesResponse>"#
    ))
}

/// SyncPrinterCatalog request (lower-case `installedNonLeafUpdateIDs`).
pub(crate) fn sync_printer_catalog_request() -> String {
    native_request(&format!(
        r#"<SyncPrinterCatalog xmlns="{CWS}">{}<installedNonLeafUpdateIDs><int>108226</int><int>108231</int></installedNonLeafUpdateIDs><printerUpdateIDs><int>109001</int></printerUpdateIDs><deviceAttributes>{DEVICE_ATTRIBUTES}</deviceAttributes></SyncPrinterCatalog>"#,
        native_cookie()
    ))
}

/// SyncPrinterCatalog response: one printer driver with Deployment HardwareIds.
pub(crate) fn sync_printer_catalog_response() -> String {
    native_response(&format!(
        r#"<SyncPrinterCatalogResponse xmlns="{CWS}"><SyncPrinterCatalogResult><NewUpdates><UpdateInfo><ID>109002</ID><Deployment><ID>20301</ID><Action>Install</Action><IsAssigned>false</IsAssigned><LastChangeTime>2026-09-30</LastChangeTime><HardwareIds><string>USBPRINT\HPLaserJet_4250F7D5</string></HardwareIds><AutoSelect>0</AutoSelect><AutoDownload>0</AutoDownload><SupersedenceBehavior>0</SupersedenceBehavior></Deployment><IsLeaf>true</IsLeaf><Xml>{}</Xml></UpdateInfo></NewUpdates><OutOfScopeRevisionIDs><int>109001</int></OutOfScopeRevisionIDs><Truncated>false</Truncated><NewCookie><Expiration>2026-10-04T17:03:35.9967236Z</Expiration><EncryptedData>{COOKIE_DATA_2}</EncryptedData></NewCookie></SyncPrinterCatalogResult></SyncPrinterCatalogResponse>"#,
        escape(CORE_PRINTER_DRIVER)
    ))
}

/// Section 8 #10: RefreshCache with seven identities (SOAP-encoded array).
pub(crate) fn refresh_cache_spec_request() -> String {
    let ids: String = REFRESH_IDENTITIES
        .iter()
        .map(|(g, r)| {
            format!(
                "\n        <UpdateIdentity>\n          <UpdateID>{g}</UpdateID>\n          <RevisionNumber>{r}</RevisionNumber>\n        </UpdateIdentity>"
            )
        })
        .collect();
    spec_example(&format!(
        r#"    <RefreshCache xmlns="{CWS}">
      <cookie>
        <Expiration>2006-05-26T16:58:01.8749472Z</Expiration>
        <EncryptedData>{SPEC_COOKIE_DATA}</EncryptedData>
      </cookie>
      <globalIDs soapenc:arrayType="UpdateIdentity[7]">{ids}
      </globalIDs>
    </RefreshCache>"#
    ))
}

/// WS2025 RefreshCache answer: no result for the bundle member (reference 2.9).
pub(crate) fn refresh_cache_response() -> String {
    let results: String = REFRESH_IDENTITIES[..6]
        .iter()
        .enumerate()
        .map(|(i, (g, r))| {
            let leaf = i == 5;
            let action = if leaf { "Install" } else { "Evaluate" };
            format!(
                "<RefreshCacheResult><RevisionID>{}</RevisionID><GlobalID><UpdateID>{g}</UpdateID><RevisionNumber>{r}</RevisionNumber></GlobalID><IsLeaf>{leaf}</IsLeaf>{}</RefreshCacheResult>",
                208226 + i as i32,
                ws2025_deployment(30000 + i as i32, action)
            )
        })
        .collect();
    native_response(&format!(
        r#"<RefreshCacheResponse xmlns="{CWS}"><RefreshCacheResult>{results}</RefreshCacheResult></RefreshCacheResponse>"#
    ))
}

pub(crate) fn documents() -> Vec<(&'static str, String)> {
    vec![
        ("StartCategoryScan request", start_category_scan_request()),
        ("StartCategoryScan response", start_category_scan_response()),
        (
            "StartCategoryScan native response",
            start_category_scan_native_response(),
        ),
        ("SyncUpdates spec request #1", sync_updates_spec_request_1()),
        ("SyncUpdates spec request #2", sync_updates_spec_request_2()),
        ("SyncUpdates spec request #3", sync_updates_spec_request_3()),
        (
            "SyncUpdates native software pass",
            sync_updates_native_software_request(),
        ),
        (
            "SyncUpdates native driver pass",
            sync_updates_native_driver_request(),
        ),
        (
            "SyncUpdates WS2025 response",
            sync_updates_ws2025_response(),
        ),
        (
            "SyncUpdates driver pass response",
            sync_updates_driver_pass_response(),
        ),
        ("SyncPrinterCatalog request", sync_printer_catalog_request()),
        (
            "SyncPrinterCatalog response",
            sync_printer_catalog_response(),
        ),
        ("RefreshCache spec request", refresh_cache_spec_request()),
        ("RefreshCache response", refresh_cache_response()),
    ]
}

// ---------------------------------------------------------------------------------------
// StartCategoryScan
// ---------------------------------------------------------------------------------------

#[test]
fn start_category_scan_request_from_outline() {
    let env = decode(&start_category_scan_request());
    assert_eq!(env.operation(), Some(Operation::StartCategoryScan));
    let groups: Vec<(i32, &str)> = request!(env, StartCategoryScan)
        .requested_categories
        .items()
        .iter()
        .map(|c| {
            (
                *c.index_of_and_group.value().unwrap(),
                c.category_id.value().unwrap().as_str(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            (0, CATEGORY_B),
            (0, "0fa1201d-4330-4fa8-8ae9-b877473b6441"),
            (1, "a1b2c3d4-0000-4000-8000-00000000dead")
        ]
    );
}

#[test]
fn start_category_scan_request_round_trips() {
    decode_exact(&start_category_scan_request());
    let msg = StartCategoryScan {
        requested_categories: Field::Value(vec![CategoryRelationship {
            index_of_and_group: Field::Value(0),
            category_id: guid(CATEGORY_B),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::request(msg.clone()));
    assert_eq!(request!(back, StartCategoryScan), &msg);
    assert!(!xml.contains("cookie"), "StartCategoryScan has no cookie");
}

#[test]
fn start_category_scan_response_has_two_direct_lists() {
    let env = decode(&start_category_scan_response());
    assert_eq!(env.operation(), Some(Operation::StartCategoryScan));
    let m = response!(env, StartCategoryScan);
    assert_eq!(m.preferred_category_ids.items(), &[Guid(CATEGORY_B.into())]);
    assert_eq!(
        m.requested_category_ids_in_error.items(),
        &[Guid("a1b2c3d4-0000-4000-8000-00000000dead".into())]
    );

    let env = decode(&start_category_scan_native_response());
    let m = response!(env, StartCategoryScan);
    assert!(m.preferred_category_ids.items()[0].eq_ignore_case(&Guid(CATEGORY_B.to_uppercase())));
    assert_eq!(m.requested_category_ids_in_error, Field::Empty);
}

#[test]
fn start_category_scan_response_round_trips() {
    decode_exact(&start_category_scan_response());
    decode_exact(&start_category_scan_native_response());
    let msg = StartCategoryScanResponse {
        preferred_category_ids: Field::Value(vec![Guid(CATEGORY_B.into())]),
        requested_category_ids_in_error: Field::Empty,
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::response(msg.clone()));
    assert_eq!(response!(back, StartCategoryScan), &msg);
    assert!(
        xml.contains("<StartCategoryScanResponse xmlns=\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService\"><preferredCategoryIds><guid>"),
        "no Result wrapper: {xml}"
    );
}

// ---------------------------------------------------------------------------------------
// SyncUpdates requests
// ---------------------------------------------------------------------------------------

#[test]
fn sync_updates_request_1_from_spec_example_has_nil_lists() {
    let env = decode(&sync_updates_spec_request_1());
    assert_eq!(env.operation(), Some(Operation::SyncUpdates));
    let m = request!(env, SyncUpdates);
    let c = m.cookie.value().unwrap();
    assert_eq!(c.expiration, dt("2006-05-26T16:58:01.8749472Z"));
    assert_eq!(c.encrypted_data, b64(SPEC_COOKIE_DATA));
    let p = m.parameters.value().unwrap();
    assert_eq!(p.express_query, Field::Value(false));
    assert_eq!(p.installed_non_leaf_update_ids, Field::Nil);
    assert_eq!(p.other_cached_update_ids, Field::Nil);
    assert_eq!(p.system_spec, Field::Nil);
    assert_eq!(p.cached_driver_ids, Field::Nil);
    assert!(p.installed_non_leaf_update_ids.items().is_empty());
    assert_eq!(p.skip_software_sync, Field::Value(false));
    assert!(p.filter_category_ids.is_absent());
    assert!(p.computer_spec.is_absent());
}

#[test]
fn sync_updates_request_2_from_spec_example_has_exact_id_lists() {
    let env = decode(&sync_updates_spec_request_2());
    let p = request!(env, SyncUpdates).parameters.value().unwrap();
    assert_eq!(p.installed_non_leaf_update_ids.items(), &[109]);
    let other = p.other_cached_update_ids.items();
    assert_eq!(other.len(), 29);
    assert_eq!(
        other,
        &[
            101, 102, 103, 104, 105, 106, 107, 108, 110, 111, 112, 113, 114, 115, 378, 379, 380,
            381, 382, 383, 384, 385, 386, 387, 388, 389, 390, 391, 392
        ]
    );
    assert_eq!(p.system_spec, Field::Nil);
    assert_eq!(p.cached_driver_ids, Field::Nil);
    assert_eq!(p.skip_software_sync, Field::Value(false));
}

#[test]
fn sync_updates_request_3_from_spec_example_has_exact_id_lists() {
    let env = decode(&sync_updates_spec_request_3());
    let p = request!(env, SyncUpdates).parameters.value().unwrap();
    assert_eq!(p.installed_non_leaf_update_ids.items(), &[109, 191]);
    assert_eq!(p.other_cached_update_ids.items().len(), 58);
    assert_eq!(
        p.other_cached_update_ids.items(),
        spec_other_ids_3().as_slice()
    );
    assert!(!p.other_cached_update_ids.items().contains(&191));
}

#[test]
fn sync_updates_software_pass_native_values() {
    let env = decode(&sync_updates_native_software_request());
    let m = request!(env, SyncUpdates);
    assert_eq!(
        m.cookie
            .value()
            .unwrap()
            .expiration
            .value()
            .unwrap()
            .instant(),
        Some(datetime!(2026-10-04 17:03:35.9967236 UTC))
    );
    let p = m.parameters.value().unwrap();
    assert_eq!(p.express_query, Field::Value(false));
    assert_eq!(p.installed_non_leaf_update_ids.items(), &[108226, 108231]);
    assert_eq!(
        p.other_cached_update_ids,
        Field::Empty,
        "<OtherCachedUpdateIDs/>"
    );
    assert!(p.system_spec.is_absent());
    assert!(p.cached_driver_ids.is_absent());
    assert_eq!(p.skip_software_sync, Field::Value(false));
    let filter = p.filter_category_ids.items();
    assert_eq!(filter.len(), 1);
    assert_eq!(filter[0].id, guid(CATEGORY_B));
    assert_eq!(p.need_two_group_out_of_scope_updates, Field::Value(true));
    assert_eq!(p.also_perform_regular_sync, Field::Value(false));
    assert_eq!(p.computer_spec, Field::Empty);
    assert_eq!(p.feature_score_matching_key, s("AMD64.10.0"));
    let pp = p.products_parameters.value().unwrap();
    assert_eq!(pp.sync_current_version_only, Field::Value(false));
    assert_eq!(pp.device_attributes, s(DEVICE_ATTRIBUTES));
    assert_eq!(pp.caller_attributes, s(CALLER_ATTRIBUTES));
    assert_eq!(pp.products, Field::Empty);
    // MU-WSDL elements that Windows 11 does not send stay absent.
    assert!(p.filter_app_category_ids.is_absent());
    assert!(p.treat_app_category_ids_as_installed.is_absent());
    assert!(p.extended_update_info_parameters.is_absent());
    assert!(p.client_preferred_languages.is_absent());
    assert!(p.wu_bundle_id.is_absent());
    assert!(p.pending_update_ids.is_absent());
}

#[test]
fn sync_updates_driver_pass_native_values() {
    let env = decode(&sync_updates_native_driver_request());
    let p = request!(env, SyncUpdates).parameters.value().unwrap();
    assert_eq!(p.skip_software_sync, Field::Value(true));
    assert_eq!(p.also_perform_regular_sync, Field::Value(true));
    assert_eq!(p.other_cached_update_ids.items(), &[108412, 108413]);
    let devices = p.system_spec.items();
    assert_eq!(devices.len(), 3);

    // Device 1: PCI Wi-Fi; `&amp;` in the IDs unescaped.
    let wifi = &devices[0];
    assert_eq!(
        wifi.hardware_ids.items(),
        &[
            r"PCI\VEN_8086&DEV_A0F0&SUBSYS_00748086&REV_20".to_string(),
            r"PCI\VEN_8086&DEV_A0F0&SUBSYS_00748086".to_string()
        ]
    );
    assert_eq!(wifi.compatible_ids.items().len(), 3);
    assert_eq!(wifi.compatible_ids.items()[2], r"PCI\CC_028000");
    let drv = wifi.installed_driver.value().unwrap();
    assert_eq!(drv.matching_id, s(r"PCI\VEN_8086&DEV_A0F0&SUBSYS_00748086"));
    assert_eq!(drv.driver_ver_date, dt("2024-05-13T00:00:00Z"));
    assert_eq!(drv.driver_ver_version, Field::Value(WIFI_DRIVER_VERSION));
    assert_eq!(
        WIFI_DRIVER_VERSION,
        (23i64 << 48) | (60 << 32) | (1 << 16) | 2,
        "23.60.1.2"
    );
    assert_eq!(drv.class, s("Net"));
    assert_eq!(drv.manufacturer, s("Intel"));
    assert_eq!(drv.provider, s("Intel"));
    assert_eq!(drv.model, s("Intel(R) Wi-Fi 6 AX201 160MHz"));
    assert_eq!(
        drv.matching_computer_hwid,
        Field::Nil,
        "a:nil with a locally declared prefix"
    );
    assert_eq!(drv.driver_rank, Field::Value(WIFI_DRIVER_RANK));
    assert_eq!((WIFI_DRIVER_RANK >> 16) & 0xFF, 0xFF, "feature score");
    assert_eq!(drv.skip_provider_filtering, Field::Value(false));
    assert_eq!(drv.is_generic, Field::Value(false));
    let ext = wifi.extension_drivers.items();
    assert_eq!(ext.len(), 1);
    assert!(wifi.extension_driver.is_absent());
    assert_eq!(
        ext[0].extension_id,
        s("e2f84ce7-8efa-411c-aa69-97454b4b3d6c")
    );
    assert_eq!(
        ext[0].driver_ver_version,
        Field::Value((10i64 << 48) | (26100 << 16) | 1)
    );
    assert_eq!(ext[0].class, s("Extension"));
    assert_eq!(ext[0].driver_rank, Field::Value(16719872));
    assert_eq!(ext[0].matching_computer_hwid, guid(CHIDS[0]));
    assert_eq!(
        wifi.driver_recovery_ids.items(),
        &["4f3c2b1a-0e9d-4c8b-b7a6-958473625140".to_string()]
    );
    assert!(wifi.device_flags.is_absent());

    // Device 2: extension driver in the spec spelling extensionDriver/extensionDriver.
    let audio = &devices[1];
    assert!(audio.extension_drivers.is_absent());
    let ext = audio.extension_driver.items();
    assert_eq!(ext.len(), 1);
    assert_eq!(
        ext[0].extension_id,
        s("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
    );
    assert_eq!(ext[0].driver_ver_date, dt("2023-11-20T00:00:00Z"));
    assert_eq!(
        ext[0].driver_ver_version,
        Field::Value((6i64 << 48) | (1 << 32) | (7601 << 16) | 17514)
    );
    assert_eq!(ext[0].matching_computer_hwid, Field::Nil);
    let drv = audio.installed_driver.value().unwrap();
    assert_eq!(drv.matching_computer_hwid, guid(CHIDS[1]));
    assert_eq!(drv.provider, s("Realtek Semiconductor Corp."));
    assert!(drv.skip_provider_filtering.is_absent());
    assert!(audio.compatible_ids.is_absent());

    // Device 3: a printer queue.
    let printer = &devices[2];
    assert_eq!(printer.device_flags, Field::Value(1u8));
    assert!(printer.installed_driver.is_absent());
    assert_eq!(
        printer.hardware_ids.items(),
        &[r"USBPRINT\HPLaserJet_4250F7D5".to_string()]
    );

    // ComputerSpec, FeatureScoreMatchingKey and ProductsParameters.
    let chids: Vec<&str> = p
        .computer_spec
        .value()
        .unwrap()
        .hardware_ids
        .items()
        .iter()
        .map(Guid::as_str)
        .collect();
    assert_eq!(chids, CHIDS);
    assert_eq!(p.feature_score_matching_key, s("AMD64.10.0"));
    assert_eq!(
        p.products_parameters.value().unwrap().caller_attributes,
        s(CALLER_ATTRIBUTES)
    );
}

#[test]
fn sync_updates_request_round_trips() {
    for doc in [
        sync_updates_spec_request_1(),
        sync_updates_spec_request_2(),
        sync_updates_spec_request_3(),
        sync_updates_native_software_request(),
        sync_updates_native_driver_request(),
    ] {
        decode_exact(&doc);
    }
}

fn built_driver_pass() -> SyncUpdates {
    let device = Device {
        hardware_ids: Field::Value(vec![r"PCI\VEN_8086&DEV_A0F0&SUBSYS_00748086&REV_20".into()]),
        compatible_ids: Field::Value(vec![r"PCI\CC_028000".into()]),
        installed_driver: Field::Value(InstalledDriver {
            matching_id: s(r"PCI\VEN_8086&DEV_A0F0&SUBSYS_00748086"),
            driver_ver_date: dt("2024-05-13T00:00:00Z"),
            driver_ver_version: Field::Value(WIFI_DRIVER_VERSION),
            class: s("Net"),
            manufacturer: s("Intel"),
            provider: s("Intel"),
            model: s("Intel(R) Wi-Fi 6 AX201 160MHz"),
            matching_computer_hwid: Field::Nil,
            driver_rank: Field::Value(WIFI_DRIVER_RANK),
            skip_provider_filtering: Field::Value(false),
            is_generic: Field::Value(false),
            ..Default::default()
        }),
        extension_drivers: Field::Value(vec![ExtensionDriver {
            extension_id: s("e2f84ce7-8efa-411c-aa69-97454b4b3d6c"),
            driver_ver_date: dt("2024-03-01T00:00:00Z"),
            driver_ver_version: Field::Value(2814751477596161),
            class: s("Extension"),
            driver_rank: Field::Value(16719872),
            matching_computer_hwid: guid(CHIDS[0]),
            ..Default::default()
        }]),
        extension_driver: Field::Value(vec![ExtensionDriver {
            extension_id: s("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"),
            matching_computer_hwid: Field::Nil,
            ..Default::default()
        }]),
        driver_recovery_ids: Field::Value(vec!["4f3c2b1a-0e9d-4c8b-b7a6-958473625140".into()]),
        device_flags: Field::Value(0),
        ..Default::default()
    };
    SyncUpdates {
        cookie: Field::Value(cookie("2026-10-04T17:03:35.9967236Z", COOKIE_DATA_1)),
        parameters: Field::Value(SyncUpdateParameters {
            express_query: Field::Value(false),
            installed_non_leaf_update_ids: Field::Value(vec![108226, 108231]),
            other_cached_update_ids: Field::Value(vec![108412]),
            system_spec: Field::Value(vec![device]),
            cached_driver_ids: Field::Empty,
            skip_software_sync: Field::Value(true),
            need_two_group_out_of_scope_updates: Field::Value(true),
            also_perform_regular_sync: Field::Value(true),
            computer_spec: Field::Value(ComputerHardwareSpecification {
                hardware_ids: Field::Value(CHIDS.iter().map(|c| Guid((*c).into())).collect()),
                ..Default::default()
            }),
            feature_score_matching_key: s("AMD64.10.0"),
            products_parameters: Field::Value(ProductsParameters {
                sync_current_version_only: Field::Value(false),
                device_attributes: s(DEVICE_ATTRIBUTES),
                caller_attributes: s(CALLER_ATTRIBUTES),
                products: Field::Empty,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn sync_updates_built_driver_pass_round_trips() {
    let msg = built_driver_pass();
    let (back, xml) = rebuild(&Envelope::request(msg.clone()));
    assert_eq!(request!(back, SyncUpdates), &msg);
    assert!(
        xml.contains("<MatchingComputerHWID xsi:nil=\"true\" />"),
        "nil written with the xsi prefix in scope: {xml}"
    );
    assert!(xml.contains("<extensionDrivers><ExtensionDriver><ExtensionId>"));
    assert!(xml.contains("<extensionDriver><extensionDriver><ExtensionId>"));
    assert!(
        xml.contains(r"<string>PCI\VEN_8086&amp;DEV_A0F0&amp;SUBSYS_00748086&amp;REV_20</string>")
    );
}

#[test]
fn sync_updates_built_software_pass_round_trips() {
    let msg = SyncUpdates {
        cookie: Field::Value(cookie("2026-10-04T17:03:35.9967236Z", COOKIE_DATA_1)),
        parameters: Field::Value(SyncUpdateParameters {
            express_query: Field::Value(false),
            installed_non_leaf_update_ids: Field::Value(vec![109, 191]),
            other_cached_update_ids: Field::Value(spec_other_ids_3()),
            system_spec: Field::Nil,
            cached_driver_ids: Field::Nil,
            skip_software_sync: Field::Value(false),
            filter_category_ids: Field::Value(vec![CategoryIdentifier {
                id: guid(CATEGORY_B),
                ..Default::default()
            }]),
            need_two_group_out_of_scope_updates: Field::Value(true),
            also_perform_regular_sync: Field::Value(false),
            computer_spec: Field::Empty,
            feature_score_matching_key: s("AMD64.10.0"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (back, _) = rebuild(&Envelope::request(msg.clone()));
    assert_eq!(request!(back, SyncUpdates), &msg);
}

// ---------------------------------------------------------------------------------------
// SyncUpdates responses
// ---------------------------------------------------------------------------------------

fn assert_ws2025_deployment(d: &Deployment, id: i32, action: DeploymentAction) {
    assert_eq!(d.id, Field::Value(id));
    assert_eq!(d.action, Field::Value(action));
    assert_eq!(d.is_assigned, Field::Value(true));
    assert_eq!(d.last_change_time, Field::Value(Date("2026-10-04".into())));
    assert!(d.last_change_time.value().is_some_and(Date::is_date));
    assert_eq!(d.auto_select, s("0"));
    assert_eq!(d.auto_download, s("0"));
    assert_eq!(d.supersedence_behavior, s("0"));
    assert!(d.deadline.is_absent());
    assert!(
        d.flag_bitmask.is_absent(),
        "WS2025 does not send FlagBitmask"
    );
    assert!(d.hardware_ids.is_absent());
}

#[test]
fn sync_updates_response_ws2025_values() {
    let env = decode(&sync_updates_ws2025_response());
    assert_eq!(env.operation(), Some(Operation::SyncUpdates));
    let r = response!(env, SyncUpdates).result.value().unwrap();
    let new = r.new_updates.items();
    assert_eq!(new.len(), 3);

    assert_eq!(new[0].id, Field::Value(108226));
    assert_ws2025_deployment(
        new[0].deployment.value().unwrap(),
        20041,
        DeploymentAction::Evaluate,
    );
    assert_eq!(new[0].is_leaf, Field::Value(false));
    assert!(new[0].is_shared.is_absent());
    let xml = new[0].xml.value().unwrap();
    assert!(xml.escaped().starts_with("&lt;UpdateIdentity UpdateID="));
    assert_eq!(xml.text().unwrap(), CORE_CATEGORY_A);

    assert_eq!(new[1].id, Field::Value(108231));
    assert_eq!(new[1].xml.value().unwrap().text().unwrap(), CORE_CATEGORY_B);

    assert_eq!(new[2].id, Field::Value(108412));
    assert_ws2025_deployment(
        new[2].deployment.value().unwrap(),
        20117,
        DeploymentAction::Install,
    );
    assert_eq!(new[2].is_leaf, Field::Value(true));
    assert_eq!(new[2].xml.value().unwrap().text().unwrap(), CORE_SOFTWARE);

    assert_eq!(r.out_of_scope_revision_ids.items(), &[107990]);
    let changed = r.changed_updates.items();
    assert_eq!(changed.len(), 1);
    assert_ws2025_deployment(
        changed[0].deployment.value().unwrap(),
        20118,
        DeploymentAction::Bundle,
    );
    assert_eq!(
        changed[0].xml.value().unwrap().text().unwrap(),
        CORE_BUNDLED
    );
    assert_eq!(r.truncated, Field::Value(true));
    let nc = r.new_cookie.value().unwrap();
    assert_eq!(nc.expiration, dt("2026-10-04T17:03:35.9967236Z"));
    assert_eq!(nc.encrypted_data, b64(COOKIE_DATA_2));
    assert_eq!(
        r.deployed_out_of_scope_revision_ids.items(),
        &[108001, 108002]
    );
    assert_eq!(r.driver_sync_not_needed, s("false"));
    assert!(r.extended_update_info.is_absent());
    assert!(r.country_code.is_absent());
}

#[test]
fn sync_updates_response_driver_pass_values() {
    let env = decode(&sync_updates_driver_pass_response());
    let r = response!(env, SyncUpdates).result.value().unwrap();
    assert_eq!(r.new_updates, Field::Empty);
    assert_eq!(r.out_of_scope_revision_ids, Field::Empty);
    assert_eq!(r.changed_updates, Field::Empty);
    assert_eq!(r.truncated, Field::Value(false));
    assert_eq!(
        r.new_cookie.value().unwrap().encrypted_data,
        b64(COOKIE_DATA_3)
    );
    assert!(r.deployed_out_of_scope_revision_ids.is_absent());
    assert_eq!(r.driver_sync_not_needed, s("true"));
}

#[test]
fn sync_updates_response_round_trips() {
    decode_exact(&sync_updates_ws2025_response());
    decode_exact(&sync_updates_driver_pass_response());

    let deployment = |id, action| Deployment {
        id: Field::Value(id),
        action: Field::Value(action),
        is_assigned: Field::Value(true),
        last_change_time: Field::Value(Date("2026-10-04".into())),
        auto_select: s("0"),
        auto_download: s("0"),
        supersedence_behavior: s("0"),
        ..Default::default()
    };
    let info = |id, deployment_id, action, leaf, fragment: &str| UpdateInfo {
        id: Field::Value(id),
        deployment: Field::Value(deployment(deployment_id, action)),
        is_leaf: Field::Value(leaf),
        xml: Field::Value(XmlText::from_text(fragment)),
        ..Default::default()
    };
    let msg = SyncUpdatesResponse {
        result: Field::Value(SyncInfo {
            new_updates: Field::Value(vec![
                info(
                    108226,
                    20041,
                    DeploymentAction::Evaluate,
                    false,
                    CORE_CATEGORY_A,
                ),
                info(
                    108231,
                    20042,
                    DeploymentAction::Evaluate,
                    false,
                    CORE_CATEGORY_B,
                ),
                info(
                    108412,
                    20117,
                    DeploymentAction::Install,
                    true,
                    CORE_SOFTWARE,
                ),
            ]),
            out_of_scope_revision_ids: Field::Value(vec![107990]),
            changed_updates: Field::Value(vec![info(
                108413,
                20118,
                DeploymentAction::Bundle,
                true,
                CORE_BUNDLED,
            )]),
            truncated: Field::Value(true),
            new_cookie: Field::Value(cookie("2026-10-04T17:03:35.9967236Z", COOKIE_DATA_2)),
            deployed_out_of_scope_revision_ids: Field::Value(vec![108001, 108002]),
            driver_sync_not_needed: s("false"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::response(msg.clone()));
    assert_eq!(response!(back, SyncUpdates), &msg);
    // The fragment is escaped exactly as WSUS escapes it.
    assert!(xml.contains("<Xml>&lt;UpdateIdentity UpdateID=\"56309036-4C77-4DD9-951A-99EE9C246A94\" RevisionNumber=\"101\" /&gt;&lt;Properties UpdateType=\"Category\" /&gt;"), "{xml}");
    // Built with the fixture's deployment IDs it is byte for byte the WS2025 fixture.
    assert_eq!(xml, sync_updates_ws2025_response());
}

// ---------------------------------------------------------------------------------------
// SyncPrinterCatalog
// ---------------------------------------------------------------------------------------

#[test]
fn sync_printer_catalog_request_from_outline() {
    let env = decode(&sync_printer_catalog_request());
    assert_eq!(env.operation(), Some(Operation::SyncPrinterCatalog));
    let m = request!(env, SyncPrinterCatalog);
    assert_eq!(m.cookie.value().unwrap().encrypted_data, b64(COOKIE_DATA_1));
    assert_eq!(m.installed_non_leaf_update_ids.items(), &[108226, 108231]);
    assert_eq!(m.printer_update_ids.items(), &[109001]);
    assert_eq!(m.device_attributes, s(DEVICE_ATTRIBUTES));
}

#[test]
fn sync_printer_catalog_request_round_trips() {
    decode_exact(&sync_printer_catalog_request());
    let msg = SyncPrinterCatalog {
        cookie: Field::Value(cookie("2026-10-04T17:03:35.9967236Z", COOKIE_DATA_1)),
        installed_non_leaf_update_ids: Field::Value(vec![108226]),
        printer_update_ids: Field::Empty,
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::request(msg.clone()));
    assert_eq!(request!(back, SyncPrinterCatalog), &msg);
    assert!(xml.contains("<installedNonLeafUpdateIDs><int>108226</int></installedNonLeafUpdateIDs><printerUpdateIDs />"), "{xml}");
}

#[test]
fn sync_printer_catalog_response_from_outline() {
    let env = decode(&sync_printer_catalog_response());
    assert_eq!(env.operation(), Some(Operation::SyncPrinterCatalog));
    let r = response!(env, SyncPrinterCatalog).result.value().unwrap();
    let new = r.new_updates.items();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].id, Field::Value(109002));
    let d = new[0].deployment.value().unwrap();
    assert_eq!(d.action, Field::Value(DeploymentAction::Install));
    assert_eq!(d.is_assigned, Field::Value(false));
    assert_eq!(d.last_change_time, Field::Value(Date("2026-09-30".into())));
    assert_eq!(
        d.hardware_ids.items(),
        &[r"USBPRINT\HPLaserJet_4250F7D5".to_string()]
    );
    assert_eq!(
        new[0].xml.value().unwrap().text().unwrap(),
        CORE_PRINTER_DRIVER
    );
    assert_eq!(r.out_of_scope_revision_ids.items(), &[109001]);
    assert_eq!(r.truncated, Field::Value(false));
    assert!(r.driver_sync_not_needed.is_absent());
}

#[test]
fn sync_printer_catalog_response_round_trips() {
    decode_exact(&sync_printer_catalog_response());
    let msg = SyncPrinterCatalogResponse {
        result: Field::Value(SyncInfo {
            new_updates: Field::Value(vec![UpdateInfo {
                id: Field::Value(109002),
                deployment: Field::Value(Deployment {
                    id: Field::Value(20301),
                    action: Field::Value(DeploymentAction::Install),
                    is_assigned: Field::Value(false),
                    last_change_time: Field::Value(Date("2026-09-30".into())),
                    hardware_ids: Field::Value(vec![r"USBPRINT\HPLaserJet_4250F7D5".into()]),
                    auto_select: s("0"),
                    auto_download: s("0"),
                    supersedence_behavior: s("0"),
                    ..Default::default()
                }),
                is_leaf: Field::Value(true),
                xml: Field::Value(XmlText::from_text(CORE_PRINTER_DRIVER)),
                ..Default::default()
            }]),
            out_of_scope_revision_ids: Field::Value(vec![109001]),
            truncated: Field::Value(false),
            new_cookie: Field::Value(cookie("2026-10-04T17:03:35.9967236Z", COOKIE_DATA_2)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::response(msg.clone()));
    assert_eq!(response!(back, SyncPrinterCatalog), &msg);
    assert_eq!(xml, sync_printer_catalog_response());
}

// ---------------------------------------------------------------------------------------
// RefreshCache
// ---------------------------------------------------------------------------------------

#[test]
fn refresh_cache_request_from_spec_example_has_seven_identities() {
    let env = decode(&refresh_cache_spec_request());
    assert_eq!(env.operation(), Some(Operation::RefreshCache));
    let m = request!(env, RefreshCache);
    assert_eq!(
        m.cookie.value().unwrap().encrypted_data,
        b64(SPEC_COOKIE_DATA)
    );
    let ids: Vec<(&str, i32)> = m
        .global_ids
        .items()
        .iter()
        .map(|u| {
            (
                u.update_id.value().unwrap().as_str(),
                *u.revision_number.value().unwrap(),
            )
        })
        .collect();
    assert_eq!(ids, REFRESH_IDENTITIES);
    assert!(m.device_attributes.is_absent());
}

#[test]
fn refresh_cache_request_round_trips() {
    decode_exact(&refresh_cache_spec_request());
    let msg = RefreshCache {
        cookie: Field::Value(cookie("2026-10-04T17:03:35.9967236Z", COOKIE_DATA_1)),
        global_ids: Field::Value(
            REFRESH_IDENTITIES
                .iter()
                .map(|(g, r)| UpdateIdentity {
                    update_id: guid(g),
                    revision_number: Field::Value(*r),
                    ..Default::default()
                })
                .collect(),
        ),
        device_attributes: s(DEVICE_ATTRIBUTES),
        ..Default::default()
    };
    let (back, _) = rebuild(&Envelope::request(msg.clone()));
    assert_eq!(request!(back, RefreshCache), &msg);
}

#[test]
fn refresh_cache_response_from_outline() {
    let env = decode(&refresh_cache_response());
    assert_eq!(env.operation(), Some(Operation::RefreshCache));
    let results = response!(env, RefreshCache).result.items();
    assert_eq!(results.len(), 6, "no result for the bundle member");
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.revision_id, Field::Value(208226 + i as i32));
        let g = r.global_id.value().unwrap();
        assert_eq!(g.update_id, guid(REFRESH_IDENTITIES[i].0));
        assert_eq!(g.revision_number, Field::Value(REFRESH_IDENTITIES[i].1));
        assert_eq!(r.is_leaf, Field::Value(i == 5));
        let d = r.deployment.value().unwrap();
        assert_eq!(d.id, Field::Value(30000 + i as i32));
        assert_eq!(
            d.action,
            Field::Value(if i == 5 {
                DeploymentAction::Install
            } else {
                DeploymentAction::Evaluate
            })
        );
        assert!(r.is_shared.is_absent());
    }
}

#[test]
fn refresh_cache_response_round_trips() {
    decode_exact(&refresh_cache_response());
    let msg = RefreshCacheResponse {
        result: Field::Value(vec![RefreshCacheResult {
            revision_id: Field::Value(208226),
            global_id: Field::Value(UpdateIdentity {
                update_id: guid(CATEGORY_A),
                revision_number: Field::Value(101),
                ..Default::default()
            }),
            is_leaf: Field::Value(false),
            deployment: Field::Value(Deployment {
                id: Field::Value(30000),
                action: Field::Value(DeploymentAction::Evaluate),
                is_assigned: Field::Value(true),
                last_change_time: Field::Value(Date("2026-10-04".into())),
                auto_select: s("0"),
                auto_download: s("0"),
                supersedence_behavior: s("0"),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::response(msg.clone()));
    assert_eq!(response!(back, RefreshCache), &msg);
    assert!(xml.contains("<RefreshCacheResponse xmlns=\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService\"><RefreshCacheResult><RefreshCacheResult><RevisionID>208226</RevisionID>"), "{xml}");
}
