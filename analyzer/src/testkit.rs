//! Test captures built from `wusp` types: a scripted client and server exchanging typed
//! messages, recorded as `captures::Record` values with Xpress responses.

use std::path::{Path, PathBuf};

use captures::{
    Body, CaptureWriter, Exchange, Headers, Record, Request as HttpRequest,
    Response as HttpResponse, Timestamp, Timing,
};
use wusp::fragment::{CoreFragmentBuilder, UpdateType};
use wusp::messages::*;
use wusp::types::*;
use wusp::values::{
    Base64, Date, DateTime, DeploymentAction, Guid, XmlText, XmlUpdateFragmentType,
};
use wusp::{Envelope, ErrorCode, Fault, Field, Operation};

use crate::{Analysis, Options};

/// The client id of the scripted client.
pub(crate) const CLIENT_ID: &str = "0d3c1c9e-7f39-4e62-9a53-2d3b1f0c0a11";

fn v<T>(x: T) -> Field<T> {
    Field::Value(x)
}

/// A core fragment for revision `id` (UpdateID derived from it).
pub(crate) fn core_xml(id: i32, driver: bool) -> String {
    let t = if driver {
        UpdateType::Driver
    } else {
        UpdateType::Software
    };
    CoreFragmentBuilder::new(format!("00000000-0000-0000-0000-{id:012}"), 200, t).build()
}

/// An UpdateInfo as WSUS sends it.
pub(crate) fn update(id: i32, leaf: bool) -> UpdateInfo {
    UpdateInfo {
        id: v(id),
        deployment: v(Deployment {
            id: v(id + 100_000),
            action: v(DeploymentAction::Install),
            is_assigned: v(true),
            last_change_time: v(Date("2026-10-01".into())),
            ..Deployment::default()
        }),
        is_leaf: v(leaf),
        xml: v(XmlText::from_text(&core_xml(id, false))),
        ..UpdateInfo::default()
    }
}

/// A driver UpdateInfo.
pub(crate) fn driver(id: i32) -> UpdateInfo {
    let mut u = UpdateInfo {
        xml: v(XmlText::from_text(&core_xml(id, true))),
        ..update(id, true)
    };
    if let Some(d) = u.deployment.value_mut() {
        d.hardware_ids = Field::list(vec!["PCI\\VEN_8086&DEV_1234".into()]);
    }
    u
}

/// The WSUS content URL of a file with this SHA-1 (reference 1.7).
pub(crate) fn content_url(sha1: &[u8]) -> String {
    let hex: String = sha1.iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "http://wsus.test:8530/Content/{}/{hex}.exe",
        &hex[hex.len() - 2..]
    )
}

/// The SHA-1 of some bytes (through the capture body's digest).
pub(crate) fn sha1_of(bytes: &[u8]) -> [u8; 20] {
    Body::from_bytes(bytes.to_vec()).digest().sha1
}

/// Records exchanges on a clock, from typed messages.
pub(crate) struct Kit {
    /// The file name the capture will get (exchange ids are `name#n`).
    pub(crate) name: String,
    records: Vec<Record>,
    next_id: u64,
    micros: i64,
    cookies: u32,
    /// The cookie the client holds.
    pub(crate) cookie: Cookie,
    /// Accept-Encoding of the requests.
    pub(crate) accept: &'static str,
    /// The configuration the server answers GetConfig with.
    pub(crate) config: Config,
    /// The ClientID sent in GetAuthorizationCookie.
    pub(crate) client_id: String,
}

/// The configuration WSUS on Windows Server 2025 sends (registration required).
pub(crate) fn wsus_config() -> Config {
    Config {
        last_change: v(DateTime("2026-09-01T10:00:00Z".into())),
        is_registration_required: v(true),
        auth_info: Field::list(vec![AuthPlugInInfo {
            plug_in_id: v("SimpleTargeting".into()),
            service_url: v("SimpleAuthWebService/SimpleAuth.asmx".into()),
            ..Default::default()
        }]),
        properties: Field::list(
            [
                ("MaxExtendedUpdatesPerRequest", "50"),
                ("PackageServerShare", "\\\\WSUS\\UpdateServicesPackages"),
                ("ProtocolVersion", "3.2"),
                ("IsInventoryRequired", "0"),
                ("ClientReportingLevel", "2"),
            ]
            .into_iter()
            .map(|(n, x)| ConfigurationProperty {
                name: v(n.into()),
                value: v(x.into()),
                ..Default::default()
            })
            .collect(),
        ),
        ..Config::default()
    }
}

impl Kit {
    /// A capture named `name` starting `day` days after the base time.
    pub(crate) fn new(name: &str, day: i64) -> Kit {
        Kit {
            name: name.into(),
            records: Vec::new(),
            next_id: 1,
            micros: 1_790_000_000_000_000 + day * 86_400_000_000,
            cookies: 0,
            cookie: Cookie::default(),
            accept: "xpress",
            config: wsus_config(),
            client_id: CLIENT_ID.into(),
        }
    }

    /// Continues on another capture file (same client, later), keeping the cookie.
    pub(crate) fn next_capture(&self, name: &str, day: i64) -> Kit {
        let mut k = Kit::new(name, day);
        k.cookies = self.cookies + 1000 * (day as u32 + 1);
        k.cookie = self.cookie.clone();
        k
    }

    /// Lets `hours` pass before the next exchange.
    pub(crate) fn wait_hours(&mut self, hours: i64) {
        self.micros += hours * 3_600_000_000;
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_unix_micros(self.micros).unwrap_or_else(Timestamp::now)
    }

    /// A fresh cookie valid for two days (as the samples' server issues them).
    pub(crate) fn issue(&mut self) -> Cookie {
        self.cookies += 1;
        let exp = self.now().datetime() + time::Duration::days(2);
        Cookie {
            expiration: v(DateTime::from_instant(exp)),
            encrypted_data: v(Base64::encode(
                format!("cookie-{}", self.cookies).as_bytes(),
            )),
            ..Cookie::default()
        }
    }

    /// Records a request and a raw response body and status; returns the exchange id.
    pub(crate) fn raw(
        &mut self,
        op: Operation,
        request: Vec<u8>,
        status: u16,
        response: Vec<u8>,
    ) -> String {
        let t = self.now();
        self.micros += 50_000;
        let mut h = Headers::new();
        h.push("Content-Type", "text/xml; charset=utf-8");
        h.push("Accept-Encoding", self.accept);
        h.push("SOAPAction", format!("\"{}\"", op.soap_action()));
        h.push("Host", "wsus.test:8530");
        let mut rh = Headers::new();
        rh.push("Content-Type", "text/xml; charset=utf-8");
        let body = if self.accept.contains("xpress") {
            rh.push("Content-Encoding", "xpress");
            wusp::xpress::encode(&response)
        } else {
            response
        };
        let id = self.next_id;
        self.next_id += 1;
        self.records.push(Record::Exchange(Exchange {
            id,
            conn: 1,
            client: Some("192.0.2.10:50000".into()),
            server: Some("192.0.2.1:8530".into()),
            scheme: "http".into(),
            tls: None,
            upstream_tls: None,
            time: Timing {
                start: t,
                request_end: Some(t),
                response_start: Some(t),
                end: Some(t),
            },
            request: HttpRequest {
                method: "POST".into(),
                target: op.service().path().into(),
                url: format!("http://wsus.test:8530{}", op.service().path()),
                version: "HTTP/1.1".into(),
                headers: h,
                body_truncated: false,
                body: Body::from_bytes(request),
            },
            response: HttpResponse {
                status,
                reason: if status == 200 {
                    "OK"
                } else {
                    "Internal Server Error"
                }
                .into(),
                version: "HTTP/1.1".into(),
                headers: rh,
                body_truncated: false,
                body: Body::from_bytes(body),
            },
        }));
        format!("{}#{id}", self.name)
    }

    /// Records a content GET of `url` (with an optional Range) answered with `status`,
    /// `body` and an optional Content-Range.
    pub(crate) fn content(
        &mut self,
        url: &str,
        range: Option<&str>,
        status: u16,
        body: Vec<u8>,
        content_range: Option<&str>,
    ) -> String {
        let t = self.now();
        self.micros += 50_000;
        let mut h = Headers::new();
        h.push("User-Agent", "Microsoft-Delivery-Optimization/10.1");
        if let Some(r) = range {
            h.push("Range", r);
        }
        h.push("Host", "wsus.test:8530");
        let mut rh = Headers::new();
        if let Some(c) = content_range {
            rh.push("Content-Range", c);
        }
        let id = self.next_id;
        self.next_id += 1;
        let path = url.split_once("8530").map_or(url, |(_, p)| p).to_string();
        self.records.push(Record::Exchange(Exchange {
            id,
            conn: 2,
            client: Some("192.0.2.10:50001".into()),
            server: Some("192.0.2.1:8530".into()),
            scheme: "http".into(),
            tls: None,
            upstream_tls: None,
            time: Timing {
                start: t,
                request_end: Some(t),
                response_start: Some(t),
                end: Some(t),
            },
            request: HttpRequest {
                method: "GET".into(),
                target: path,
                url: url.into(),
                version: "HTTP/1.1".into(),
                headers: h,
                body_truncated: false,
                body: Body::empty(),
            },
            response: HttpResponse {
                status,
                reason: String::new(),
                version: "HTTP/1.1".into(),
                headers: rh,
                body_truncated: false,
                body: Body::from_bytes(body),
            },
        }));
        format!("{}#{id}", self.name)
    }

    /// Records a typed request and its typed response.
    pub(crate) fn ok(
        &mut self,
        req: impl Into<wusp::Request>,
        resp: impl Into<wusp::Response>,
    ) -> String {
        let req = req.into();
        let op = req.operation();
        let q = Envelope::request(req).encode().into_bytes();
        let r = Envelope::response(resp).encode().into_bytes();
        self.raw(op, q, 200, r)
    }

    /// Records a typed request answered by a WSUS fault (HTTP 500).
    pub(crate) fn fault(&mut self, req: impl Into<wusp::Request>, code: ErrorCode) -> String {
        let req = req.into();
        let op = req.operation();
        let q = Envelope::request(req).encode().into_bytes();
        let f = Fault::wsus(
            code,
            "",
            Guid("6a1f4b2e-1d2c-4e5f-8a9b-0c1d2e3f4a5b".into()),
            Some(op),
        );
        let r = Envelope::fault(f).encode().into_bytes();
        self.raw(op, q, 500, r)
    }

    /// GetConfig, GetAuthorizationCookie, GetCookie, RegisterComputer.
    pub(crate) fn handshake(&mut self) {
        self.handshake_with(true);
    }

    /// GetConfig, GetAuthorizationCookie, GetCookie, and RegisterComputer when `register`.
    pub(crate) fn handshake_with(&mut self, register: bool) {
        let cfg = self.config.clone();
        self.ok(
            GetConfig {
                protocol_version: v("2.90".into()),
                ..Default::default()
            },
            GetConfigResponse {
                result: v(cfg),
                ..Default::default()
            },
        );
        let auth = AuthorizationCookie {
            plug_in_id: v("SimpleTargeting".into()),
            cookie_data: v(Base64::encode(b"auth")),
            ..Default::default()
        };
        self.ok(
            GetAuthorizationCookie {
                client_id: v(self.client_id.clone()),
                dns_name: v("pc01.test".into()),
                ..Default::default()
            },
            GetAuthorizationCookieResponse {
                result: v(auth.clone()),
                ..Default::default()
            },
        );
        let cookie = self.issue();
        self.ok(
            GetCookie {
                auth_cookies: Field::list(vec![auth]),
                last_change: v(DateTime("2026-09-01T10:00:00Z".into())),
                current_time: v(DateTime::from_instant(self.now().datetime())),
                protocol_version: v("2.90".into()),
                ..Default::default()
            },
            GetCookieResponse {
                result: v(cookie.clone()),
                ..Default::default()
            },
        );
        self.cookie = cookie;
        if register {
            self.register("pc01.test");
        }
    }

    /// RegisterComputer with this DNS name, answered.
    pub(crate) fn register(&mut self, dns_name: &str) -> String {
        self.ok(
            RegisterComputer {
                cookie: v(self.cookie.clone()),
                computer_info: v(ComputerInfo {
                    dns_name: v(dns_name.into()),
                    // Every element the WSDL requires (minOccurs=1, rule T-10).
                    os_major_version: v(10),
                    os_minor_version: v(0),
                    os_build_number: v(26200),
                    os_service_pack_major_number: v(0),
                    os_service_pack_minor_number: v(0),
                    bios_release_date: v(DateTime("2026-05-14T00:00:00Z".into())),
                    suite_mask: v(256),
                    old_product_type: v(1),
                    new_product_type: v(48),
                    system_metrics: v(0),
                    client_version_major_number: v(1507),
                    client_version_minor_number: v(2601),
                    client_version_build_number: v(30012),
                    client_version_qfe_number: v(0),
                    ..Default::default()
                }),
                ..Default::default()
            },
            RegisterComputerResponse::default(),
        )
    }

    /// A software SyncUpdates request with the client's cookie.
    pub(crate) fn sync_request(&self, installed: &[i32], other: &[i32]) -> SyncUpdates {
        SyncUpdates {
            cookie: v(self.cookie.clone()),
            parameters: v(SyncUpdateParameters {
                express_query: v(false),
                installed_non_leaf_update_ids: Field::list_or_absent(installed.to_vec()),
                other_cached_update_ids: Field::list_or_absent(other.to_vec()),
                skip_software_sync: v(false),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A software SyncUpdates page answered with `info` (NewCookie added and taken).
    pub(crate) fn sync(&mut self, req: SyncUpdates, mut info: SyncInfo) -> String {
        let c = self.issue();
        info.new_cookie = v(c.clone());
        if info.truncated.is_absent() {
            info.truncated = v(false);
        }
        let id = self.ok(
            req,
            SyncUpdatesResponse {
                result: v(info),
                ..Default::default()
            },
        );
        self.cookie = c;
        id
    }

    /// The driver pass with an empty answer.
    pub(crate) fn driver_pass(&mut self, installed: &[i32]) -> String {
        let mut req = self.sync_request(installed, &[]);
        if let Some(p) = req.parameters.value_mut() {
            p.skip_software_sync = v(true);
            p.system_spec = Field::list(vec![Device::default()]);
        }
        self.sync(req, SyncInfo::default())
    }

    /// GetExtendedUpdateInfo for `ids` (Extended + LocalizedProperties, en-US/en), answered
    /// with one Extended and one `en` LocalizedProperties fragment each.
    pub(crate) fn ext(&mut self, ids: &[i32]) -> String {
        let req = GetExtendedUpdateInfo {
            cookie: v(self.cookie.clone()),
            revision_ids: Field::list(ids.to_vec()),
            info_types: Field::list(vec![
                XmlUpdateFragmentType::Extended,
                XmlUpdateFragmentType::LocalizedProperties,
            ]),
            locales: Field::list(vec!["en-US".into(), "en".into()]),
            ..Default::default()
        };
        let mut updates = Vec::new();
        for id in ids {
            updates.push(UpdateData {
                id: v(*id),
                xml: v(XmlText::from_text("<ExtendedProperties DefaultPropertiesLanguage=\"en\" Handler=\"http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/CommandLineInstallation\" />")),
                ..Default::default()
            });
            updates.push(UpdateData {
                id: v(*id),
                xml: v(XmlText::from_text("<LocalizedProperties><Language>en</Language><Title>t</Title></LocalizedProperties>")),
                ..Default::default()
            });
        }
        self.ok(
            req,
            GetExtendedUpdateInfoResponse {
                result: v(ExtendedUpdateInfo {
                    updates: Field::list(updates),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
    }

    /// GetExtendedUpdateInfo of the Extended fragment of `rid`, answered with a fragment
    /// naming a file (SHA-1 of twenty 7s) that no FileLocation gives (S-30), and `more`.
    pub(crate) fn ext_unlocated_file(&mut self, rid: i32, more: Vec<UpdateData>) -> String {
        let fragment = wusp::fragment::ExtendedFragmentBuilder::new()
            .file(wusp::fragment::FileMetadata::from_sha1(
                &[7u8; 20], "x.exe", 10,
            ))
            .build();
        let mut updates = vec![UpdateData {
            id: v(rid),
            xml: v(XmlText::from_text(&fragment)),
            ..Default::default()
        }];
        updates.extend(more);
        self.ok(
            GetExtendedUpdateInfo {
                cookie: v(self.cookie.clone()),
                revision_ids: Field::list(vec![rid]),
                info_types: Field::list(vec![XmlUpdateFragmentType::Extended]),
                ..Default::default()
            },
            GetExtendedUpdateInfoResponse {
                result: v(ExtendedUpdateInfo {
                    updates: Field::list(updates),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
    }

    /// ReportEventBatch with no events.
    pub(crate) fn report(&mut self) -> String {
        self.ok(
            ReportEventBatch {
                cookie: v(self.cookie.clone()),
                client_time: v(DateTime::from_instant(self.now().datetime())),
                event_batch: Field::Empty,
                ..Default::default()
            },
            ReportEventBatchResponse {
                result: v(true),
                ..Default::default()
            },
        )
    }

    /// Records a non-WUSP exchange (`GET target`, as a browser behind the proxy sends);
    /// returns its id.
    pub(crate) fn foreign(&mut self, target: &str) -> String {
        let id = self.raw(
            Operation::GetConfig,
            b"not xml at all".to_vec(),
            200,
            Vec::new(),
        );
        if let Some(Record::Exchange(e)) = self.records.last_mut() {
            e.request.target = target.into();
            e.request.method = "GET".into();
        }
        id
    }

    /// Mutable access to the records (for mutations).
    pub(crate) fn records_mut(&mut self) -> &mut Vec<Record> {
        &mut self.records
    }

    /// Writes the capture into `dir` under its name.
    pub(crate) fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join(&self.name);
        let mut w = CaptureWriter::create_or_append(&path).unwrap_or_else(|e| panic!("{e}"));
        for r in &self.records {
            w.write(r).unwrap_or_else(|e| panic!("{e}"));
        }
        w.finish().unwrap_or_else(|e| panic!("{e}"));
        path
    }
}

/// The scripted world: a first sync (day 0) and a differential sync (day 1).
///
/// Catalog: 1 and 2 are non-leaf roots (categories), 3 a non-leaf product (delivered after
/// the roots), 10..=13 leaves; the differential sync brings 20 and 21 over two pages, 12
/// out of scope, 11 changed.
pub(crate) fn first_sync() -> Kit {
    let mut k = Kit::new("first.jsonl", 0);
    k.handshake();
    let r = k.sync_request(&[], &[]);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![update(1, false), update(2, false)]),
            ..Default::default()
        },
    );
    let r = k.sync_request(&[1, 2], &[]);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![update(3, false)]),
            ..Default::default()
        },
    );
    let r = k.sync_request(&[1, 2, 3], &[]);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![update(10, true), update(11, true)]),
            truncated: v(true),
            ..Default::default()
        },
    );
    let r = k.sync_request(&[1, 2, 3], &[10, 11]);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![update(12, true), update(13, true)]),
            ..Default::default()
        },
    );
    k.driver_pass(&[1, 2, 3]);
    k.ext(&[10, 11, 12]);
    k.report();
    k
}

/// The differential sync following [`first_sync`], with `edit` applied to each software
/// request (page number from 1) before it is sent.
pub(crate) fn differential_with(first: &Kit, edit: impl Fn(u32, &mut SyncUpdates)) -> Kit {
    let mut k = first.next_capture("diff.jsonl", 1);
    let mut r = k.sync_request(&[1, 2, 3], &[10, 11, 12, 13]);
    edit(1, &mut r);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![update(20, true)]),
            out_of_scope_revision_ids: Field::list(vec![12]),
            changed_updates: Field::list(vec![UpdateInfo {
                xml: Field::Absent,
                ..update(11, true)
            }]),
            truncated: v(true),
            ..Default::default()
        },
    );
    let mut r = k.sync_request(&[1, 2, 3], &[10, 11, 13, 20]);
    edit(2, &mut r);
    k.sync(
        r,
        SyncInfo {
            new_updates: Field::list(vec![update(21, true)]),
            ..Default::default()
        },
    );
    k.driver_pass(&[1, 2, 3]);
    k.ext(&[11, 20, 21]);
    k.report();
    k
}

/// [`differential_with`] without edits.
pub(crate) fn differential(first: &Kit) -> Kit {
    differential_with(first, |_, _| {})
}

/// Analyzes captures written into a temporary directory, in the given order.
pub(crate) fn analyze(kits: &[&Kit], options: &Options) -> Analysis {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let paths: Vec<PathBuf> = kits.iter().map(|k| k.write(dir.path())).collect();
    crate::analyze(&paths, options).unwrap_or_else(|e| panic!("{e}"))
}
