//! The two syncs, played by a small client (reference 5.3-5.9) against a small server
//! (reference 7.2-7.4), recorded exchange by exchange.
//!
//! Day 1 (first sync): the server deploys the categories, the detectoid and the unapproved
//! U2 and U4 as `Evaluate`, the approved U1, U3 and B1 as `Install`, and M1 (bundled by B1)
//! as `Bundle`. U5..U9 are not on the server yet.
//!
//! Day 2 (differential sync, one day later): U5..U9 were imported and approved, U2 was
//! declined, and U3's approval got a deadline (new deployment, new LastChangeTime).

use std::collections::{BTreeMap, BTreeSet};

use captures::Record;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use wusp::messages::{
    GetAuthorizationCookie, GetAuthorizationCookieResponse, GetConfig, GetConfigResponse,
    GetCookie, GetCookieResponse, GetExtendedUpdateInfo, GetExtendedUpdateInfoResponse,
    RegisterComputer, RegisterComputerResponse, ReportEventBatch, ReportEventBatchResponse,
    SyncUpdates, SyncUpdatesResponse,
};
use wusp::types::{
    AuthPlugInInfo, AuthorizationCookie, BasicData, ComputerHardwareSpecification, ComputerInfo,
    ComputerTargetIdentifier, Config, ConfigurationProperty, Cookie, Deployment, Device,
    ExtendedData, ExtendedUpdateInfo, FileLocation, InstalledDriver, PrivateData, ReportingEvent,
    ReportingOsVersion, SyncInfo, SyncUpdateParameters, UpdateData, UpdateInfo,
    UpdateRevisionIdentifier,
};
use wusp::values::{
    Base64, Date, DateTime, DeploymentAction, Guid, ProcessorArchitecture, XmlText,
    XmlUpdateFragmentType,
};
use wusp::{Field, fragment::pack_driver_version};

use crate::catalog::Catalog;
use crate::seed;
use crate::wire::{Conn, Wire};

/// When the first sync starts (the base of every time in the samples).
pub const BASE_TIME: OffsetDateTime = datetime!(2026-10-04 16:03:35 UTC);
/// When the differential sync starts: one day later.
pub const DIFFERENTIAL_TIME: OffsetDateTime = datetime!(2026-10-05 16:03:35 UTC);
/// NewUpdates per SyncUpdates response of the sample server (WS2025 uses 30; 4 makes the
/// leaf level of the small catalog arrive in two pages).
pub const PAGE_SIZE: usize = 4;
/// Lifetime of the sample server's cookies (WS2025: one hour; two days here, so the
/// differential sync a day later still holds a valid cookie).
pub const COOKIE_LIFETIME: Duration = Duration::days(2);
/// The client's DNS name.
pub const DNS_NAME: &str = "pc01.contoso.test";
/// The protocol version WUA sends (reference 2.2).
const CLIENT_PROTOCOL: &str = "2.90";
/// `Config.LastChange` of the sample server.
const CONFIG_LAST_CHANGE: &str = "2026-10-04T13:17:07.59Z";
/// The client's WUA version, as in the User-Agent.
const CLIENT_VERSION: &str = "1507.2601.30012.0";

/// The client's ID (its SusClientId): a lower-case GUID.
pub fn client_id() -> String {
    seed::guid("client-id")
}

fn v<T>(value: T) -> Field<T> {
    Field::Value(value)
}

fn s(text: &str) -> Field<String> {
    Field::Value(text.to_owned())
}

fn list<T>(items: Vec<T>) -> Field<Vec<T>> {
    Field::list(items)
}

/// A client-side time: the instant with a derived sub-microsecond tail (7 digits, as .NET writes).
fn client_time(t: OffsetDateTime, label: &str) -> DateTime {
    let ticks = seed::range(&format!("ticks/{label}"), 1, 9) as i64;
    DateTime::from_instant(t + Duration::nanoseconds(ticks * 100))
}

/// A deployment row of the server (reference 7.1), for the client's target group.
#[derive(Debug, Clone)]
struct Row {
    id: i32,
    action: DeploymentAction,
    last_change: &'static str,
    deadline: Option<&'static str>,
}

impl Row {
    fn new(id: i32, action: DeploymentAction, last_change: &'static str) -> Row {
        Row {
            id,
            action,
            last_change,
            deadline: None,
        }
    }

    /// The Deployment element in the shape WSUS sends to clients >= 1.8 (reference 3.5).
    fn deployment(&self) -> Deployment {
        Deployment {
            id: v(self.id),
            action: v(self.action.clone()),
            deadline: self
                .deadline
                .map_or(Field::Absent, |d| v(DateTime(d.to_owned()))),
            is_assigned: v(true),
            last_change_time: v(Date(self.last_change.to_owned())),
            auto_select: s("0"),
            auto_download: s("0"),
            supersedence_behavior: s("0"),
            ..Deployment::default()
        }
    }
}

/// The sample WSUS: deployments to the client's group, cookies, the SyncUpdates computation.
struct Server<'c> {
    catalog: &'c Catalog,
    deployments: BTreeMap<i32, Row>,
    expiration: Option<DateTime>,
    /// What each issued cookie "encrypts": the highest deployment LastChangeTime sent.
    anchors: BTreeMap<String, String>,
    issued: u32,
}

impl<'c> Server<'c> {
    fn new(catalog: &'c Catalog) -> Server<'c> {
        let mut deployments = BTreeMap::new();
        let mut add = |name: &str, id: i32, action: DeploymentAction, day: &'static str| {
            deployments.insert(catalog.get(name).revision_id, Row::new(id, action, day));
        };
        use DeploymentAction::{Bundle, Evaluate, Install};
        add("Company", 27_001, Evaluate, "2026-09-30");
        add("Classification", 27_002, Evaluate, "2026-09-30");
        add("Product", 27_003, Evaluate, "2026-09-30");
        add("Detectoid", 27_004, Evaluate, "2026-09-30");
        add("U1", 27_011, Install, "2026-10-04");
        add("U2", 27_012, Evaluate, "2026-10-01");
        add("U3", 27_013, Install, "2026-10-04");
        add("U4", 27_014, Evaluate, "2026-10-01");
        add("B1", 27_015, Install, "2026-10-04");
        add("M1", 27_016, Bundle, "2026-10-04");
        Server {
            catalog,
            deployments,
            expiration: None,
            anchors: BTreeMap::new(),
            issued: 0,
        }
    }

    /// What the administrator did between the two syncs.
    fn next_day(&mut self) {
        let rev = |name: &str| self.catalog.get(name).revision_id;
        let (u2, u3) = (rev("U2"), rev("U3"));
        let new: Vec<(i32, i32)> = (5..=9)
            .map(|n| (rev(&format!("U{n}")), 27_030 + n))
            .collect();
        self.deployments.remove(&u2);
        self.deployments.insert(
            u3,
            Row {
                deadline: Some("2026-10-12T15:00:00Z"),
                ..Row::new(27_041, DeploymentAction::Install, "2026-10-05")
            },
        );
        for (r, id) in new {
            self.deployments
                .insert(r, Row::new(id, DeploymentAction::Install, "2026-10-05"));
        }
    }

    fn config(&self) -> Config {
        let prop = |name: &str, value: &str| ConfigurationProperty {
            name: s(name),
            value: s(value),
            ..ConfigurationProperty::default()
        };
        Config {
            last_change: v(DateTime(CONFIG_LAST_CHANGE.to_owned())),
            is_registration_required: v(true),
            auth_info: list(vec![AuthPlugInInfo {
                plug_in_id: s("SimpleTargeting"),
                service_url: s("SimpleAuthWebService/SimpleAuth.asmx"),
                parameter: Field::Empty,
                ..AuthPlugInInfo::default()
            }]),
            properties: list(vec![
                prop("MaxExtendedUpdatesPerRequest", "50"),
                prop("PackageServerShare", r"\\WSUS\UpdateServicesPackages"),
                prop("ProtocolVersion", "3.2"),
                prop("IsInventoryRequired", "0"),
                prop("ClientReportingLevel", "2"),
            ]),
            ..Config::default()
        }
    }

    fn authorization_cookie() -> AuthorizationCookie {
        AuthorizationCookie {
            plug_in_id: s("SimpleTargeting"),
            cookie_data: v(Base64::encode(&seed::bytes("authorization-cookie", 496))),
            ..AuthorizationCookie::default()
        }
    }

    /// A new cookie: same clear-text Expiration, new EncryptedData (reference 3.2).
    fn issue_cookie(&mut self, anchor: String) -> Cookie {
        self.issued += 1;
        let data = Base64::encode(&seed::bytes(&format!("cookie/{}", self.issued), 176));
        self.anchors.insert(data.0.clone(), anchor);
        Cookie {
            expiration: self.expiration.clone().map_or(Field::Absent, v),
            encrypted_data: v(data),
            ..Cookie::default()
        }
    }

    fn get_cookie(&mut self, now: OffsetDateTime) -> Cookie {
        let ticks = seed::range("ticks/expiration", 1, 9_999_999) as i64;
        self.expiration = Some(DateTime::from_instant(
            now + COOKIE_LIFETIME + Duration::nanoseconds(ticks * 100 % 1_000_000),
        ));
        self.issue_cookie(String::new())
    }

    fn anchor(&self, cookie: &Cookie) -> String {
        cookie
            .encrypted_data
            .value()
            .and_then(|d| self.anchors.get(&d.0))
            .cloned()
            .unwrap_or_default()
    }

    fn update_info(&self, revision_id: i32) -> UpdateInfo {
        let e = self
            .catalog
            .by_revision(revision_id)
            .unwrap_or_else(|| panic!("revision {revision_id} is not in the catalog"));
        UpdateInfo {
            id: v(revision_id),
            deployment: self
                .deployments
                .get(&revision_id)
                .map_or(Field::Absent, |r| v(r.deployment())),
            is_leaf: v(self.catalog.is_leaf(e.name)),
            xml: v(XmlText::from_text(&self.catalog.core_xml(e.name))),
            ..UpdateInfo::default()
        }
    }

    /// The software pass of reference 7.3: prerequisite filter on the installed non-leaf
    /// revisions, NewUpdates = eligible \ cached (paged), OutOfScope = cached \ eligible,
    /// ChangedUpdates = cached deployments changed since the cookie's anchor.
    fn sync_software(&mut self, cookie: &Cookie, installed: &[i32], other: &[i32]) -> SyncInfo {
        let name = |r: &i32| self.catalog.by_revision(*r).map(|e| e.name);
        let installed_names: BTreeSet<&str> = installed.iter().filter_map(name).collect();
        let eligible: Vec<i32> = self
            .deployments
            .keys()
            .copied()
            .filter(|r| {
                name(r).is_some_and(|n| {
                    self.catalog
                        .prerequisites(n)
                        .iter()
                        .all(|p| installed_names.contains(p))
                })
            })
            .collect();
        let cached: BTreeSet<i32> = installed.iter().chain(other).copied().collect();
        let missing: Vec<i32> = eligible
            .iter()
            .copied()
            .filter(|r| !cached.contains(r))
            .collect();
        let truncated = missing.len() > PAGE_SIZE;
        let new: Vec<i32> = missing.into_iter().take(PAGE_SIZE).collect();
        let out_of_scope: Vec<i32> = cached
            .iter()
            .copied()
            .filter(|r| !eligible.contains(r))
            .collect();
        let mut anchor = self.anchor(cookie);
        let changed: Vec<i32> = eligible
            .iter()
            .copied()
            .filter(|r| cached.contains(r) && self.deployments[r].last_change > anchor.as_str())
            .collect();
        for r in new.iter().chain(&changed) {
            let lc = self.deployments[r].last_change;
            if lc > anchor.as_str() {
                anchor = lc.to_owned();
            }
        }
        let mut info = SyncInfo {
            truncated: v(truncated),
            new_cookie: v(self.issue_cookie(anchor)),
            ..SyncInfo::default()
        };
        if !new.is_empty() {
            info.new_updates = v(new.iter().map(|&r| self.update_info(r)).collect());
        }
        if !out_of_scope.is_empty() {
            info.out_of_scope_revision_ids = v(out_of_scope);
        }
        if !changed.is_empty() {
            info.changed_updates = v(changed.iter().map(|&r| self.update_info(r)).collect());
        }
        info
    }

    /// The driver pass: no driver is deployed, so nothing new and DriverSyncNotNeeded.
    fn sync_drivers(&mut self, cookie: &Cookie) -> SyncInfo {
        let anchor = self.anchor(cookie);
        SyncInfo {
            truncated: v(false),
            new_cookie: v(self.issue_cookie(anchor)),
            driver_sync_not_needed: s("true"),
            ..SyncInfo::default()
        }
    }

    /// GetExtendedUpdateInfo (reference 7.4): Extended and English LocalizedProperties of
    /// each requested revision, and the location of every file.
    fn extended_info(&self, revision_ids: &[i32]) -> ExtendedUpdateInfo {
        let mut updates = Vec::new();
        let mut locations = Vec::new();
        for &r in revision_ids {
            let Some(e) = self.catalog.by_revision(r) else {
                continue;
            };
            for xml in [
                self.catalog.extended_xml(e.name),
                self.catalog.localized_xml(e.name),
            ] {
                updates.push(UpdateData {
                    id: v(r),
                    xml: v(XmlText::from_text(&xml)),
                    ..UpdateData::default()
                });
            }
            if let Some(f) = &e.file {
                locations.push(FileLocation {
                    file_digest: v(Base64::encode(&f.sha1)),
                    url: v(f.url()),
                    ..FileLocation::default()
                });
            }
        }
        ExtendedUpdateInfo {
            updates: list(updates),
            file_locations: list(locations),
            ..ExtendedUpdateInfo::default()
        }
    }
}

/// What the client keeps of one cached revision.
#[derive(Debug, Clone)]
struct Cached {
    name: &'static str,
    is_leaf: bool,
    action: DeploymentAction,
}

/// The sample WUA: its cache, cookie and the revisions whose extended metadata it holds.
struct Client<'c> {
    catalog: &'c Catalog,
    cache: BTreeMap<i32, Cached>,
    cookie: Cookie,
    extended: BTreeSet<i32>,
}

impl<'c> Client<'c> {
    /// The two SyncUpdates lists (reference 5.5): cached non-leaf revisions evaluated as
    /// installed, and every other cached revision. On this machine (Windows 11, build 26200)
    /// every category and the detectoid evaluate as installed.
    fn lists(&self) -> (Vec<i32>, Vec<i32>) {
        let (installed, other): (Vec<_>, Vec<_>) = self.cache.iter().partition(|(_, c)| !c.is_leaf);
        (
            installed.into_iter().map(|(r, _)| *r).collect(),
            other.into_iter().map(|(r, _)| *r).collect(),
        )
    }

    /// Applies a SyncUpdates response; returns whether the loop goes on (reference 5.5).
    fn apply(&mut self, info: &SyncInfo) -> bool {
        if let Some(c) = info.new_cookie.value() {
            self.cookie = c.clone();
        }
        for r in info.out_of_scope_revision_ids.items() {
            self.cache.remove(r);
        }
        let mut non_leaf = false;
        for u in info
            .new_updates
            .items()
            .iter()
            .chain(info.changed_updates.items())
        {
            let (Some(&id), Some(&is_leaf)) = (u.id.value(), u.is_leaf.value()) else {
                continue;
            };
            let Some(e) = self.catalog.by_revision(id) else {
                continue;
            };
            let action = u
                .deployment
                .value()
                .and_then(|d| d.action.value().cloned())
                .unwrap_or(DeploymentAction::Evaluate);
            self.cache.insert(
                id,
                Cached {
                    name: e.name,
                    is_leaf,
                    action,
                },
            );
        }
        for u in info.new_updates.items() {
            non_leaf |= u.is_leaf.value() == Some(&false);
        }
        info.truncated.value() == Some(&true) || non_leaf
    }

    /// Revisions the client needs: approved (`Install`) ones and the cached members of
    /// approved bundles.
    fn needed(&self) -> Vec<i32> {
        let mut out: Vec<i32> = Vec::new();
        for (r, c) in &self.cache {
            if c.action != DeploymentAction::Install {
                continue;
            }
            out.push(*r);
            for m in self.catalog.bundled(c.name) {
                let m = self.catalog.get(m).revision_id;
                if self.cache.contains_key(&m) {
                    out.push(m);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn sync_request(&self, fresh: bool) -> SyncUpdates {
        let mut parameters = SyncUpdateParameters {
            express_query: v(false),
            skip_software_sync: v(false),
            ..SyncUpdateParameters::default()
        };
        if !fresh {
            let (installed, other) = self.lists();
            parameters.installed_non_leaf_update_ids = list(installed);
            parameters.other_cached_update_ids = list(other);
        }
        SyncUpdates {
            cookie: v(self.cookie.clone()),
            parameters: v(parameters),
            ..SyncUpdates::default()
        }
    }

    fn driver_request(&self) -> SyncUpdates {
        let (installed, _) = self.lists();
        let parameters = SyncUpdateParameters {
            express_query: v(false),
            installed_non_leaf_update_ids: list(installed),
            system_spec: list(devices()),
            skip_software_sync: v(true),
            computer_spec: v(ComputerHardwareSpecification {
                hardware_ids: list(
                    (1..=4)
                        .map(|n| Guid(seed::guid(&format!("chid/{n}"))))
                        .collect(),
                ),
                ..ComputerHardwareSpecification::default()
            }),
            feature_score_matching_key: s("AMD64.10.0"),
            ..SyncUpdateParameters::default()
        };
        SyncUpdates {
            cookie: v(self.cookie.clone()),
            parameters: v(parameters),
            ..SyncUpdates::default()
        }
    }
}

/// The two devices of the driver pass, each with its installed driver.
fn devices() -> Vec<Device> {
    let device = |ids: &[&str],
                  compatible: &[&str],
                  matching: &str,
                  date: &str,
                  version: &str,
                  class: &str,
                  (manufacturer, provider, model): (&str, &str, &str),
                  rank: i32| Device {
        hardware_ids: list(ids.iter().map(|x| (*x).to_owned()).collect()),
        compatible_ids: list(compatible.iter().map(|x| (*x).to_owned()).collect()),
        installed_driver: v(InstalledDriver {
            matching_id: s(matching),
            driver_ver_date: v(DateTime(date.to_owned())),
            driver_ver_version: v(pack_driver_version(version).unwrap_or(0) as i64),
            class: s(class),
            manufacturer: s(manufacturer),
            provider: s(provider),
            model: s(model),
            matching_computer_hwid: Field::Nil,
            driver_rank: v(rank),
            skip_provider_filtering: v(false),
            is_generic: v(false),
            ..InstalledDriver::default()
        }),
        ..Device::default()
    };
    vec![
        device(
            &[
                r"PCI\VEN_8086&DEV_15F3&SUBSYS_00008086&REV_03",
                r"PCI\VEN_8086&DEV_15F3&SUBSYS_00008086",
                r"PCI\VEN_8086&DEV_15F3&CC_020000",
                r"PCI\VEN_8086&DEV_15F3&CC_0200",
            ],
            &[
                r"PCI\VEN_8086&DEV_15F3&REV_03",
                r"PCI\VEN_8086&DEV_15F3",
                r"PCI\VEN_8086&CC_020000",
                r"PCI\VEN_8086&CC_0200",
                r"PCI\VEN_8086",
                r"PCI\CC_020000",
                r"PCI\CC_0200",
            ],
            r"PCI\VEN_8086&DEV_15F3&SUBSYS_00008086",
            "2025-03-12T00:00:00Z",
            "2.1.5.3",
            "{4d36e972-e325-11ce-bfc1-08002be10318}",
            ("Intel", "Intel", "Intel(R) Ethernet Controller I225-V"),
            0x00ff_2001,
        ),
        device(
            &[
                r"HDAUDIO\FUNC_01&VEN_10EC&DEV_0257&SUBSYS_17AA22C0&REV_1000",
                r"HDAUDIO\FUNC_01&VEN_10EC&DEV_0257&SUBSYS_17AA22C0",
            ],
            &[
                r"HDAUDIO\FUNC_01&VEN_10EC&DEV_0257&REV_1000",
                r"HDAUDIO\FUNC_01&VEN_10EC&DEV_0257",
                r"HDAUDIO\FUNC_01&VEN_10EC",
                r"HDAUDIO\FUNC_01",
            ],
            r"HDAUDIO\FUNC_01&VEN_10EC&DEV_0257",
            "2024-11-20T00:00:00Z",
            "6.0.9706.1",
            "{4d36e96c-e325-11ce-bfc1-08002be10318}",
            (
                "Realtek",
                "Realtek Semiconductor Corp.",
                "Realtek High Definition Audio",
            ),
            0x00ff_0003,
        ),
    ]
}

fn computer_info() -> ComputerInfo {
    ComputerInfo {
        dns_name: s(DNS_NAME),
        os_major_version: v(10),
        os_minor_version: v(0),
        os_build_number: v(26200),
        os_service_pack_major_number: v(0),
        os_service_pack_minor_number: v(0),
        os_locale: s("en-US"),
        computer_manufacturer: s("Contoso Ltd."),
        computer_model: s("Contoso Book 14"),
        bios_version: s("CNTS - 1230"),
        bios_name: s("Contoso UEFI 1.23.0"),
        bios_release_date: v(DateTime("2026-05-14T00:00:00Z".to_owned())),
        processor_architecture: s("AMD64"),
        suite_mask: v(256),
        old_product_type: v(1),
        new_product_type: v(48),
        system_metrics: v(0),
        client_version_major_number: v(1507),
        client_version_minor_number: v(2601),
        client_version_build_number: v(30012),
        client_version_qfe_number: v(0),
        os_description: s("Windows 11 Pro"),
        oem: s("Contoso Ltd."),
        device_type: s("Notebook"),
        firmware_version: s("1.23.0"),
        mobile_operator: s("Not Present"),
        ..ComputerInfo::default()
    }
}

/// A reporting event shaped as reference 3.10 (SourceID 101, zero UpdateID, HRESULT 0).
fn event(
    label: &str,
    event_id: i16,
    at: OffsetDateTime,
    replacement: Vec<String>,
    extra_misc: Vec<String>,
) -> ReportingEvent {
    let mut misc = vec![
        "A=6899".to_owned(),
        format!("G={CLIENT_VERSION}"),
        format!("J={}", seed::range("client-sampling", 0, 999)),
        "K=Contoso UEFI 1.23.0".to_owned(),
        "L=2026-05-14T00:00:00".to_owned(),
        "Q=1".to_owned(),
    ];
    misc.extend(extra_misc);
    misc.sort_by_key(|m| m.split('=').next().map(str::to_owned));
    ReportingEvent {
        basic_data: v(BasicData {
            target_id: v(ComputerTargetIdentifier {
                sid: s(&client_id()),
                ..ComputerTargetIdentifier::default()
            }),
            sequence_number: v(0),
            time_at_target: v(client_time(at, label)),
            event_instance_id: v(Guid(seed::guid(&format!("event/{label}")))),
            namespace_id: v(1),
            event_id: v(event_id),
            source_id: v(101),
            update_id: v(UpdateRevisionIdentifier {
                update_id: v(Guid::zero()),
                revision_number: v(0),
                ..UpdateRevisionIdentifier::default()
            }),
            win32_hresult: v(0),
            app_name: s("UpdateOrchestrator"),
            ..BasicData::default()
        }),
        extended_data: v(ExtendedData {
            replacement_strings: list(replacement),
            misc_data: list(misc),
            computer_brand: s("Contoso Ltd."),
            computer_model: s("Contoso Book 14"),
            bios_revision: s("1.23.0"),
            processor_architecture: v(ProcessorArchitecture::Amd64Compatible),
            os_version: v(ReportingOsVersion {
                major: v(10),
                minor: v(0),
                build: v(26200),
                revision: v(65792),
                service_pack_major: v(0),
                service_pack_minor: v(0),
                ..ReportingOsVersion::default()
            }),
            os_locale_id: v(1033),
            device_id: s(""),
            ..ExtendedData::default()
        }),
        private_data: v(PrivateData {
            computer_dns_name: s(""),
            user_account_name: s(""),
            ..PrivateData::default()
        }),
        ..ReportingEvent::default()
    }
}

/// Runs the software loop, the driver pass, GetExtendedUpdateInfo and reporting of one
/// scan; returns the time detection finished.
fn scan(
    wire: &mut Wire,
    conn: &Conn,
    server: &mut Server<'_>,
    client: &mut Client<'_>,
    fresh: bool,
) -> OffsetDateTime {
    let mut changed: BTreeSet<i32> = BTreeSet::new();
    let mut first = fresh;
    loop {
        let request = client.sync_request(first);
        first = false;
        let params = request.parameters.value().cloned().unwrap_or_default();
        let cookie = client.cookie.clone();
        let mut info = SyncInfo::default();
        wire.soap(
            conn,
            request.into(),
            |_| {
                info = server.sync_software(
                    &cookie,
                    params.installed_non_leaf_update_ids.items(),
                    params.other_cached_update_ids.items(),
                );
                SyncUpdatesResponse {
                    result: v(info.clone()),
                    ..SyncUpdatesResponse::default()
                }
                .into()
            },
            if fresh { (18, 45) } else { (25, 70) },
        );
        changed.extend(
            info.changed_updates
                .items()
                .iter()
                .filter_map(|u| u.id.value()),
        );
        let more = client.apply(&info);
        if !more {
            break;
        }
        wire.pause(2, 9);
    }

    wire.pause(15, 40);
    let request = client.driver_request();
    let cookie = client.cookie.clone();
    let mut info = SyncInfo::default();
    wire.soap(
        conn,
        request.into(),
        |_| {
            info = server.sync_drivers(&cookie);
            SyncUpdatesResponse {
                result: v(info.clone()),
                ..SyncUpdatesResponse::default()
            }
            .into()
        },
        (9, 22),
    );
    client.apply(&info);
    let detected = wire.now();

    // Extended metadata (reference 5.8) for the needed revisions and their categories that
    // the client does not hold yet, and again for revisions ChangedUpdates named (rule C-49).
    let mut wanted: BTreeSet<i32> = BTreeSet::new();
    for r in client.needed() {
        if changed.contains(&r) || !client.extended.contains(&r) {
            wanted.insert(r);
        }
        let Some(e) = client.catalog.by_revision(r) else {
            continue;
        };
        for p in client.catalog.prerequisite_closure(e.name) {
            let c = client.catalog.get(p);
            if c.kind.is_category() && !client.extended.contains(&c.revision_id) {
                wanted.insert(c.revision_id);
            }
        }
    }
    if !wanted.is_empty() {
        wire.pause(30, 80);
        let ids: Vec<i32> = wanted.iter().copied().collect();
        let request = GetExtendedUpdateInfo {
            cookie: v(client.cookie.clone()),
            revision_ids: list(ids.clone()),
            info_types: list(vec![
                XmlUpdateFragmentType::Extended,
                XmlUpdateFragmentType::LocalizedProperties,
            ]),
            locales: list(vec!["en-US".to_owned(), "en".to_owned()]),
            geo_id: s("USA"),
            ..GetExtendedUpdateInfo::default()
        };
        let server_ref = &*server;
        wire.soap(
            conn,
            request.into(),
            |_| {
                GetExtendedUpdateInfoResponse {
                    result: v(server_ref.extended_info(&ids)),
                    ..GetExtendedUpdateInfoResponse::default()
                }
                .into()
            },
            (10, 28),
        );
        client.extended.extend(ids);
    }
    detected
}

/// The ReportEventBatch after a scan: 147 (detection finished, %1 = number of updates) and
/// 156 (status, `U=` the installable updates).
fn report(
    wire: &mut Wire,
    conn: &Conn,
    client: &Client<'_>,
    label: &str,
    detected: OffsetDateTime,
) {
    let installable: Vec<String> = client
        .needed()
        .iter()
        .filter_map(|r| client.cache.get(r))
        .filter(|c| c.action == DeploymentAction::Install)
        .map(|c| client.catalog.get(c.name).update_id.clone())
        .collect();
    let count = installable.len();
    let events = vec![
        event(
            &format!("{label}/147"),
            147,
            detected,
            vec![count.to_string()],
            vec![format!("D={count}")],
        ),
        event(
            &format!("{label}/156"),
            156,
            detected + Duration::milliseconds(3),
            Vec::new(),
            vec![format!("U={}", installable.join(";"))],
        ),
    ];
    let request = ReportEventBatch {
        cookie: v(client.cookie.clone()),
        client_time: v(client_time(wire.now(), &format!("{label}/report"))),
        event_batch: list(events),
        ..ReportEventBatch::default()
    };
    wire.soap(
        conn,
        request.into(),
        |_| {
            ReportEventBatchResponse {
                result: v(true),
                ..ReportEventBatchResponse::default()
            }
            .into()
        },
        (4, 9),
    );
}

/// Both captures: the first sync and the differential sync one day later.
pub(crate) fn run() -> (Vec<Record>, Vec<Record>) {
    let catalog = Catalog::new();
    let mut server = Server::new(&catalog);

    // Day 1: the full handshake and first sync (reference 5.3).
    let mut wire = Wire::new("first", BASE_TIME + Duration::milliseconds(212));
    let soap = Conn::new(1, 49_731);
    let content = Conn::new(2, 49_733);

    let config = server.config();
    wire.soap(
        &soap,
        GetConfig {
            protocol_version: s(CLIENT_PROTOCOL),
            ..GetConfig::default()
        }
        .into(),
        |_| {
            GetConfigResponse {
                result: v(config.clone()),
                ..GetConfigResponse::default()
            }
            .into()
        },
        (4, 9),
    );

    wire.pause(3, 8);
    let auth = Server::authorization_cookie();
    wire.soap(
        &soap,
        GetAuthorizationCookie {
            client_id: s(&client_id()),
            dns_name: s(DNS_NAME),
            ..GetAuthorizationCookie::default()
        }
        .into(),
        |_| {
            GetAuthorizationCookieResponse {
                result: v(auth.clone()),
                ..GetAuthorizationCookieResponse::default()
            }
            .into()
        },
        (12, 30),
    );

    wire.pause(2, 6);
    let current_time = client_time(wire.now(), "get-cookie");
    let mut cookie = Cookie::default();
    wire.soap(
        &soap,
        GetCookie {
            auth_cookies: list(vec![auth.clone()]),
            old_cookie: v(Cookie {
                expiration: v(current_time.clone()),
                ..Cookie::default()
            }),
            last_change: config.last_change.clone(),
            current_time: v(current_time),
            protocol_version: s(CLIENT_PROTOCOL),
            ..GetCookie::default()
        }
        .into(),
        |t| {
            cookie = server.get_cookie(t);
            GetCookieResponse {
                result: v(cookie.clone()),
                ..GetCookieResponse::default()
            }
            .into()
        },
        (6, 14),
    );

    let mut client = Client {
        catalog: &catalog,
        cache: BTreeMap::new(),
        cookie,
        extended: BTreeSet::new(),
    };

    wire.pause(2, 6);
    wire.soap(
        &soap,
        RegisterComputer {
            cookie: v(client.cookie.clone()),
            computer_info: v(computer_info()),
            ..RegisterComputer::default()
        }
        .into(),
        |_| RegisterComputerResponse::default().into(),
        (8, 20),
    );

    wire.pause(4, 12);
    let detected = scan(&mut wire, &soap, &mut server, &mut client, true);

    // Delivery Optimization fetches one file of an approved update on its own connection.
    wire.pause(600, 900);
    if let Some(f) = &catalog.get("U1").file {
        wire.content(&content, f);
    }

    wire.pause(2_000, 4_000);
    report(&mut wire, &soap, &client, "first", detected);
    let first = wire.into_records();

    // Day 2: the cached cookie is still valid, so no handshake (reference 5.4, 9).
    server.next_day();
    let mut wire = Wire::new(
        "differential",
        DIFFERENTIAL_TIME + Duration::milliseconds(87),
    );
    let soap = Conn::new(1, 52_114);
    let detected = scan(&mut wire, &soap, &mut server, &mut client, false);
    wire.pause(1_500, 3_500);
    report(&mut wire, &soap, &client, "differential", detected);
    (first, wire.into_records())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Kind;

    #[test]
    fn client_needs_approved_updates_and_the_bundle_member() {
        let catalog = Catalog::new();
        let mut client = Client {
            catalog: &catalog,
            cache: BTreeMap::new(),
            cookie: Cookie::default(),
            extended: BTreeSet::new(),
        };
        for (name, action) in [
            ("U1", DeploymentAction::Install),
            ("U2", DeploymentAction::Evaluate),
            ("B1", DeploymentAction::Install),
            ("M1", DeploymentAction::Bundle),
        ] {
            client.cache.insert(
                catalog.get(name).revision_id,
                Cached {
                    name: catalog.get(name).name,
                    is_leaf: true,
                    action,
                },
            );
        }
        let needed: Vec<&str> = client
            .needed()
            .iter()
            .map(|r| catalog.by_revision(*r).map_or("?", |e| e.name))
            .collect();
        assert_eq!(needed, ["U1", "B1", "M1"]);
        assert_eq!(
            catalog.get("M1").kind,
            Kind::BundleMember,
            "M1 is the member B1 bundles"
        );
    }
}
