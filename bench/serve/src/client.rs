//! The simulated Windows Update clients: identity (GetConfig, GetAuthorizationCookie,
//! GetCookie, RegisterComputer), the priming first sync, the differential software sync
//! (from a shared pre-encoded request) and the driver pass, all built and read with `wusp`.

use std::net::SocketAddr;
use std::sync::Arc;

use wusp::messages::{GetAuthorizationCookie, GetConfig, GetCookie, RegisterComputer, SyncUpdates};
use wusp::types::{
    AuthorizationCookie, ComputerHardwareSpecification, ComputerInfo, Cookie, Device, SyncInfo,
    SyncUpdateParameters,
};
use wusp::values::{Base64, DateTime};
use wusp::{Body, Envelope, Field, Operation, Request, Response};

use crate::http::{Conn, Reply};

/// The protocol version the clients announce.
pub(crate) const PROTOCOL: &str = "2.90";

/// Why a call failed, in the words of the error table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Failure {
    /// A SOAP fault, by ErrorCode.
    Fault(String),
    /// An HTTP status other than 200, or 500 without a SOAP fault.
    Http(u16),
    /// Connection or socket error.
    Io(String),
    /// An answer that does not decode, or not the expected response.
    Protocol(String),
}

impl Failure {
    /// The key the error tables count under.
    pub(crate) fn key(&self) -> String {
        match self {
            Failure::Fault(code) => format!("fault {code}"),
            Failure::Http(status) => format!("HTTP {status}"),
            Failure::Io(kind) => format!("I/O {kind}"),
            Failure::Protocol(what) => format!("bad answer: {what}"),
        }
    }
}

fn v<T>(x: T) -> Field<T> {
    Field::Value(x)
}

fn opt(ids: &[i32]) -> Field<Vec<i32>> {
    if ids.is_empty() {
        Field::Absent
    } else {
        v(ids.to_vec())
    }
}

/// The next value of a splitmix64 sequence.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A client id in the SusClientId shape (lowercase GUID), distinct per (seed, space, index).
pub(crate) fn client_id(seed: u64, space: u64, index: u64) -> String {
    let a = mix(seed ^ mix(mix(space ^ 0x5EED_C11E_47AB) ^ index));
    let b = mix(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

/// Posts one SOAP body to the service of `op`.
pub(crate) fn post(conn: &mut Conn, op: Operation, parts: &[&[u8]]) -> Result<Reply, Failure> {
    let action = format!("\"{}\"", op.soap_action());
    conn.request(
        "POST",
        op.service().path(),
        &[
            ("Content-Type", "text/xml; charset=utf-8"),
            ("SOAPAction", &action),
        ],
        parts,
    )
    .map_err(|e| Failure::Io(format!("{:?}", e.kind())))
}

/// Reads an answer: the response, or the fault or HTTP error.
pub(crate) fn read_reply(reply: &Reply) -> Result<Response, Failure> {
    if reply.status != 200 && reply.status != 500 {
        return Err(Failure::Http(reply.status));
    }
    let env = Envelope::decode(&reply.body);
    match env {
        Ok(Envelope {
            body: Body::Response(r),
            ..
        }) if reply.status == 200 => Ok(r),
        Ok(Envelope {
            body: Body::Fault(f),
            ..
        }) => Err(Failure::Fault(
            f.error_code()
                .map_or_else(|| "(none)".into(), |c| c.as_str().to_owned()),
        )),
        _ if reply.status == 500 => Err(Failure::Http(500)),
        Ok(_) => Err(Failure::Protocol("not a response".into())),
        Err(e) => Err(Failure::Protocol(format!("does not decode: {e}"))),
    }
}

/// Sends a request and reads the answer.
pub(crate) fn call(conn: &mut Conn, req: impl Into<Request>) -> Result<Response, Failure> {
    let req = req.into();
    let op = req.operation();
    let body = Envelope::request(req).encode();
    read_reply(&post(conn, op, &[body.as_bytes()])?)
}

/// The SyncInfo of a SyncUpdates answer.
pub(crate) fn sync_info(r: Response) -> Result<SyncInfo, Failure> {
    match r {
        Response::SyncUpdates(r) => r
            .result
            .into_value()
            .ok_or_else(|| Failure::Protocol("SyncUpdatesResult missing".into())),
        other => Err(Failure::Protocol(format!(
            "{} instead of SyncUpdates",
            other.operation()
        ))),
    }
}

/// The differential software sync request of every client: the primed cache's lists,
/// encoded once; only the cookie differs between clients and calls.
pub(crate) struct Template {
    /// The body around the cookie's Expiration and EncryptedData texts.
    parts: [Arc<[u8]>; 3],
}

const MARK_EXPIRATION: &str = "BENCHMARKEXPIRATIONMARK";
const MARK_DATA: &str = "BENCHMARKENCRYPTEDDATAMARK";

impl Template {
    /// The request of a software pass with these cached lists.
    pub(crate) fn software(cookie: Cookie, installed: &[i32], other: &[i32]) -> SyncUpdates {
        SyncUpdates {
            cookie: v(cookie),
            parameters: v(SyncUpdateParameters {
                express_query: v(false),
                installed_non_leaf_update_ids: opt(installed),
                other_cached_update_ids: opt(other),
                skip_software_sync: v(false),
                ..SyncUpdateParameters::default()
            }),
            ..Default::default()
        }
    }

    /// Encodes the request once with marker texts in the cookie and cuts it around them.
    pub(crate) fn new(installed: &[i32], other: &[i32]) -> Result<Template, String> {
        let marker = Cookie {
            expiration: v(DateTime(MARK_EXPIRATION.into())),
            encrypted_data: v(Base64(MARK_DATA.into())),
            ..Cookie::default()
        };
        let text = Envelope::request(Template::software(marker, installed, other)).encode();
        let (a, rest) = text
            .split_once(MARK_EXPIRATION)
            .ok_or("the Expiration marker is not in the encoded request")?;
        let (b, c) = rest
            .split_once(MARK_DATA)
            .ok_or("the EncryptedData marker is not in the encoded request")?;
        if c.contains(MARK_EXPIRATION) || c.contains(MARK_DATA) {
            return Err("a marker occurs twice in the encoded request".into());
        }
        Ok(Template {
            parts: [
                a.as_bytes().into(),
                b.as_bytes().into(),
                c.as_bytes().into(),
            ],
        })
    }

    /// Size of the body without the cookie's texts.
    pub(crate) fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }

    /// Sends the differential sync with `cookie`.
    pub(crate) fn post(&self, conn: &mut Conn, cookie: &Cookie) -> Result<Reply, Failure> {
        let exp = cookie.expiration.value().map_or("", |d| d.0.as_str());
        let data = cookie.encrypted_data.value().map_or("", |d| d.0.as_str());
        post(
            conn,
            Operation::SyncUpdates,
            &[
                &self.parts[0],
                exp.as_bytes(),
                &self.parts[1],
                data.as_bytes(),
                &self.parts[2],
            ],
        )
    }

    /// The body [`Template::post`] sends, for checking against a plain encode.
    pub(crate) fn assemble(&self, cookie: &Cookie) -> Vec<u8> {
        let exp = cookie.expiration.value().map_or("", |d| d.0.as_str());
        let data = cookie.encrypted_data.value().map_or("", |d| d.0.as_str());
        [
            &self.parts[0][..],
            exp.as_bytes(),
            &self.parts[1],
            data.as_bytes(),
            &self.parts[2],
        ]
        .concat()
    }
}

/// One simulated computer: its identity, cookie and driver cache.
pub(crate) struct Client {
    /// The connection.
    pub(crate) conn: Conn,
    /// SusClientId.
    pub(crate) id: String,
    dns: String,
    auth: Option<AuthorizationCookie>,
    last_change: Option<DateTime>,
    /// The current cookie.
    pub(crate) cookie: Option<Cookie>,
    devices: Vec<Device>,
    /// Cached driver revisions.
    pub(crate) drivers: Vec<i32>,
}

impl Client {
    /// A computer with id `id` and a few devices picked by `index` among the generated
    /// catalog's (`devices` = the catalog's number of driver device IDs).
    pub(crate) fn new(addr: SocketAddr, id: String, index: u64, devices: u64) -> Client {
        let devices = devices.max(1);
        let mut pick = mix(index ^ 0xD1CE);
        let mut list = Vec::new();
        // Three network devices and one printer, as the generator names them.
        for k in 0..4 {
            pick = mix(pick);
            let mut d = pick % devices;
            let printer = k == 3;
            while (d % 4 == 3) != printer {
                d = (d + 1) % devices.max(4);
            }
            let ids = if printer {
                vec![
                    format!("USBPRINT\\CONTOSOLASER{d:03}A1B2"),
                    format!("USBPRINT\\CONTOSOLASER{d:03}"),
                ]
            } else {
                vec![
                    format!("PCI\\VEN_1A2B&DEV_{d:04X}&SUBSYS_0001{d:04X}"),
                    format!("PCI\\VEN_1A2B&DEV_{d:04X}"),
                ]
            };
            list.push(Device {
                hardware_ids: v(ids),
                ..Device::default()
            });
        }
        Client {
            conn: Conn::new(addr),
            dns: format!("pc-{}.bench.test", &id[..8]),
            id,
            auth: None,
            last_change: None,
            cookie: None,
            devices: list,
            drivers: Vec::new(),
        }
    }

    /// GetConfig: the configuration's LastChange.
    pub(crate) fn get_config(&mut self) -> Result<(), Failure> {
        let r = call(
            &mut self.conn,
            GetConfig {
                protocol_version: v(PROTOCOL.into()),
                ..Default::default()
            },
        )?;
        let Response::GetConfig(r) = r else {
            return Err(Failure::Protocol("not a GetConfig response".into()));
        };
        self.last_change = r
            .result
            .value()
            .and_then(|c| c.last_change.value())
            .cloned();
        if self.last_change.is_none() {
            return Err(Failure::Protocol("GetConfig without LastChange".into()));
        }
        Ok(())
    }

    /// GetAuthorizationCookie and GetCookie (keeping the sync mark of the current cookie).
    pub(crate) fn get_cookie(&mut self) -> Result<(), Failure> {
        let r = call(
            &mut self.conn,
            GetAuthorizationCookie {
                client_id: v(self.id.clone()),
                dns_name: v(self.dns.clone()),
                ..Default::default()
            },
        )?;
        let Response::GetAuthorizationCookie(r) = r else {
            return Err(Failure::Protocol(
                "not a GetAuthorizationCookie response".into(),
            ));
        };
        self.auth = r.result.into_value();
        let auth = self
            .auth
            .clone()
            .ok_or_else(|| Failure::Protocol("no AuthorizationCookie".into()))?;
        let now = DateTime::from_instant(time::OffsetDateTime::now_utc());
        let old = self.cookie.clone().unwrap_or(Cookie {
            expiration: v(now.clone()),
            ..Cookie::default()
        });
        let r = call(
            &mut self.conn,
            GetCookie {
                auth_cookies: v(vec![auth]),
                old_cookie: v(old),
                last_change: self.last_change.clone().map_or(Field::Absent, v),
                current_time: v(now),
                protocol_version: v(PROTOCOL.into()),
                ..Default::default()
            },
        )?;
        let Response::GetCookie(r) = r else {
            return Err(Failure::Protocol("not a GetCookie response".into()));
        };
        self.cookie = Some(
            r.result
                .into_value()
                .ok_or_else(|| Failure::Protocol("no cookie".into()))?,
        );
        Ok(())
    }

    /// RegisterComputer.
    pub(crate) fn register(&mut self) -> Result<(), Failure> {
        let r = call(
            &mut self.conn,
            RegisterComputer {
                cookie: self.cookie.clone().map_or(Field::Absent, v),
                computer_info: v(ComputerInfo {
                    dns_name: v(self.dns.clone()),
                    os_major_version: v(10),
                    os_minor_version: v(0),
                    os_build_number: v(26100),
                    ..ComputerInfo::default()
                }),
                ..Default::default()
            },
        )?;
        match r {
            Response::RegisterComputer(_) => Ok(()),
            _ => Err(Failure::Protocol("not a RegisterComputer response".into())),
        }
    }

    /// The whole identity: GetConfig, GetAuthorizationCookie, GetCookie, RegisterComputer.
    pub(crate) fn handshake(&mut self) -> Result<(), Failure> {
        self.get_config()?;
        self.get_cookie()?;
        self.register()
    }

    /// After a fault: a new configuration and cookie (the old cookie goes along, so the
    /// sync mark stays), registering again after RegistrationRequired.
    pub(crate) fn recover(&mut self, failure: &Failure) -> Result<(), Failure> {
        if let Failure::Fault(code) = failure {
            if code == "InvalidCookie" || code == "ServerChanged" {
                self.cookie = None;
            }
            self.get_config()?;
            self.get_cookie()?;
            if code == "RegistrationRequired" {
                self.register()?;
            }
        }
        Ok(())
    }

    /// Takes the new cookie of a SyncUpdates answer.
    pub(crate) fn take_cookie(&mut self, info: &SyncInfo) {
        if let Some(c) = info.new_cookie.value() {
            self.cookie = Some(c.clone());
        }
    }

    /// The driver pass (SkipSoftwareSync) with the client's devices and driver cache;
    /// the answer updates the driver cache. Returns the answer.
    pub(crate) fn driver_pass(&mut self, installed: &[i32]) -> Result<SyncInfo, Failure> {
        let req = SyncUpdates {
            cookie: self.cookie.clone().map_or(Field::Absent, v),
            parameters: v(SyncUpdateParameters {
                express_query: v(false),
                installed_non_leaf_update_ids: opt(installed),
                system_spec: v(self.devices.clone()),
                cached_driver_ids: opt(&self.drivers),
                skip_software_sync: v(true),
                computer_spec: v(ComputerHardwareSpecification::default()),
                feature_score_matching_key: v("amd64.10.0".into()),
                ..SyncUpdateParameters::default()
            }),
            ..Default::default()
        };
        let info = sync_info(call(&mut self.conn, req)?)?;
        self.take_cookie(&info);
        let gone = info.out_of_scope_revision_ids.items();
        self.drivers.retain(|id| !gone.contains(id));
        for u in info.new_updates.items() {
            if let Some(id) = u.id.value()
                && !self.drivers.contains(id)
            {
                self.drivers.push(*id);
            }
        }
        Ok(info)
    }
}
