//! `wutap serve` driven over real sockets by a scripted client built on `wusp`: a first
//! sync, approvals changed through the admin API, a differential sync (issue [server]
//! acceptance), injected faults on the wire, Xpress vs identity, content Range GETs.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use wusp::messages::*;
use wusp::types::*;
use wusp::values::*;
use wusp::{Body, Envelope, ErrorCode, Field, Operation, Request, Response};

use crate::util::*;

/// A running `wutap serve`, killed on drop.
struct Serve {
    child: Child,
    http: String,
    admin: Option<String>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(extra: &[&str]) -> Serve {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--seed", "7"];
    args.extend_from_slice(extra);
    let mut child = wutap()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wutap serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut http = None;
    let mut admin = None;
    let wants_admin = extra.contains(&"--admin");
    while http.is_none() || (wants_admin && admin.is_none()) {
        let line = lines
            .next()
            .expect("a listening line")
            .expect("read stdout");
        if let Some(a) = line.strip_prefix("listening admin http://") {
            admin = Some(a.to_string());
        } else if let Some(a) = line.strip_prefix("listening http://") {
            http = Some(a.to_string());
        }
    }
    Serve {
        child,
        http: http.expect("http"),
        admin,
    }
}

/// A raw HTTP/1.1 exchange on a fresh connection: (status, headers, body).
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).expect("write");
    s.write_all(body).expect("write body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .expect("status line")
        .split(' ')
        .nth(1)
        .expect("code")
        .parse()
        .expect("number");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// An HTTP answer: status, headers, body.
pub(crate) type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// How the scripted client reaches a server: one HTTP/1.1 exchange at a time.
pub(crate) trait Transport {
    /// Sends a request; returns (status, headers, body).
    fn exchange(&self, method: &str, path: &str, headers: &[(&str, String)], body: &[u8])
    -> Answer;
}

/// An address: a fresh plain connection per exchange.
impl Transport for str {
    fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Answer {
        http(self, method, path, headers, body)
    }
}

impl Transport for String {
    fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Answer {
        self.as_str().exchange(method, path, headers, body)
    }
}

/// Posts a request envelope; returns the HTTP status and the decoded envelope.
pub(crate) fn call<T: Transport + ?Sized>(
    addr: &T,
    req: impl Into<Request>,
    xpress: bool,
) -> (u16, Envelope) {
    let req = req.into();
    let op = req.operation();
    let body = Envelope::request(req).encode();
    let mut headers = vec![
        ("Content-Type", "text/xml; charset=utf-8".to_string()),
        ("SOAPAction", format!("\"{}\"", op.soap_action())),
    ];
    if xpress {
        headers.push(("Accept-Encoding", "xpress".to_string()));
    }
    let (status, h, bytes) = addr.exchange("POST", op.service().path(), &headers, body.as_bytes());
    let xml = match header(&h, "Content-Encoding") {
        Some("xpress") => wusp::xpress::decode(&bytes).expect("xpress body decodes"),
        _ => bytes,
    };
    (
        status,
        Envelope::decode(&xml).unwrap_or_else(|e| panic!("{op} answer does not decode: {e}")),
    )
}

pub(crate) fn ok<T>(env: &Envelope, pick: impl Fn(&Response) -> Option<&T>) -> T
where
    T: Clone,
{
    match &env.body {
        Body::Response(r) => pick(r).cloned().expect("the expected response"),
        other => panic!("expected a response, got {other:?}"),
    }
}

/// Client state of the scripted client.
#[derive(Default)]
pub(crate) struct Client {
    pub(crate) cookie: Field<Cookie>,
    installed: Vec<i32>,
    pub(crate) other: Vec<i32>,
    drivers: Vec<i32>,
    /// IDs delivered as non-leaf (the scripted client treats every non-leaf as installed).
    non_leaf: BTreeSet<i32>,
}

impl Client {
    pub(crate) fn handshake<T: Transport + ?Sized>(&mut self, addr: &T) {
        let (_, env) = call(
            addr,
            GetConfig {
                protocol_version: "2.90".to_string().into(),
                ..Default::default()
            },
            true,
        );
        let config = ok(&env, |r| match r {
            Response::GetConfig(c) => c.result.value(),
            _ => None,
        });
        assert_eq!(config.max_extended_updates_per_request(), Some(50), "S-04");
        let (_, env) = call(
            addr,
            GetAuthorizationCookie {
                client_id: "5c7f4f80-3896-4d10-8a38-469286a0febc".to_string().into(),
                dns_name: "pc01.contoso.test".to_string().into(),
                ..Default::default()
            },
            true,
        );
        let auth = ok(&env, |r| match r {
            Response::GetAuthorizationCookie(c) => c.result.value(),
            _ => None,
        });
        let (_, env) = call(
            addr,
            GetCookie {
                auth_cookies: Field::Value(vec![auth]),
                last_change: config.last_change.clone(),
                current_time: DateTime::from_instant(time::OffsetDateTime::now_utc()).into(),
                protocol_version: "2.90".to_string().into(),
                ..Default::default()
            },
            true,
        );
        let cookie = ok(&env, |r| match r {
            Response::GetCookie(c) => c.result.value(),
            _ => None,
        });
        self.cookie = cookie.into();
        let (status, env) = call(
            addr,
            RegisterComputer {
                cookie: self.cookie.clone(),
                computer_info: ComputerInfo {
                    dns_name: "pc01.contoso.test".to_string().into(),
                    ..Default::default()
                }
                .into(),
                ..Default::default()
            },
            true,
        );
        assert_eq!(status, 200, "{env:?}");
    }

    fn sync_request(&self, driver: bool) -> SyncUpdates {
        let mut p = SyncUpdateParameters {
            express_query: false.into(),
            skip_software_sync: driver.into(),
            ..Default::default()
        };
        p.installed_non_leaf_update_ids
            .set_items(self.installed.clone());
        if !driver {
            p.other_cached_update_ids.set_items(self.other.clone());
        }
        p.cached_driver_ids.set_items(self.drivers.clone());
        if driver {
            p.system_spec = Field::Value(vec![Device {
                hardware_ids: Field::Value(vec!["PCI\\VEN_8086&DEV_1234".to_string()]),
                ..Default::default()
            }]);
        }
        SyncUpdates {
            cookie: self.cookie.clone(),
            parameters: p.into(),
            ..Default::default()
        }
    }

    /// Runs the software loop; returns (rounds, new, changed, out-of-scope) of the whole loop.
    pub(crate) fn software_loop<T: Transport + ?Sized>(
        &mut self,
        addr: &T,
    ) -> (usize, Vec<i32>, Vec<i32>, Vec<i32>) {
        let (mut rounds, mut new, mut changed, mut oos) = (0, Vec::new(), Vec::new(), Vec::new());
        loop {
            rounds += 1;
            assert!(rounds < 200, "the software loop does not end");
            let req = self.sync_request(false);
            let cached: BTreeSet<i32> = self.installed.iter().chain(&self.other).copied().collect();
            let (status, env) = call(addr, req, rounds % 2 == 0);
            assert_eq!(status, 200, "{env:?}");
            let info = ok(&env, |r| match r {
                Response::SyncUpdates(s) => s.result.value(),
                _ => None,
            });
            assert!(info.new_cookie.is_present(), "S-09: NewCookie");
            self.cookie = info.new_cookie.clone();
            for id in info.out_of_scope_revision_ids.items() {
                assert!(
                    cached.contains(id),
                    "S-12: out-of-scope {id} was not cached"
                );
                self.installed.retain(|x| x != id);
                self.other.retain(|x| x != id);
                oos.push(*id);
            }
            for u in info.changed_updates.items() {
                changed.push(*u.id.value().expect("ID"));
            }
            let mut any_non_leaf = false;
            for u in info.new_updates.items() {
                let id = *u.id.value().expect("ID");
                assert!(!cached.contains(&id), "S-11: cached revision {id} re-sent");
                assert!(u.deployment.is_present(), "S-13: Deployment");
                new.push(id);
                if u.is_leaf == Field::Value(false) {
                    any_non_leaf = true;
                    self.non_leaf.insert(id);
                    self.installed.push(id);
                } else {
                    self.other.push(id);
                }
            }
            if info.truncated != Field::Value(true) && !any_non_leaf {
                return (rounds, new, changed, oos);
            }
        }
    }
}

#[test]
fn first_sync_approvals_then_differential_sync_over_http() {
    let server = serve(&["--catalog-size", "200", "--admin", "127.0.0.1:0"]);
    let addr = server.http.clone();
    let mut client = Client::default();
    client.handshake(&addr);
    let (rounds, delivered, _, _) = client.software_loop(&addr);
    assert!(rounds >= 2, "staged delivery needs more than one round");
    assert!(!delivered.is_empty());
    let unique: BTreeSet<_> = delivered.iter().collect();
    assert_eq!(unique.len(), delivered.len(), "no revision delivered twice");
    // The driver pass.
    let (status, env) = call(&addr, client.sync_request(true), true);
    assert_eq!(status, 200, "{env:?}");

    // Approve 3, decline 2, change 1 through the admin API.
    let admin = server.admin.clone().expect("admin listener");
    let (status, _, body) = http(
        &admin,
        "POST",
        "/admin/approvals",
        &[("Content-Type", "application/json".to_string())],
        br#"{"approve":3,"decline":2,"change":1}"#,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let picked: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let ids = |k: &str| -> BTreeSet<i32> {
        picked[k]
            .as_array()
            .expect(k)
            .iter()
            .map(|v| v.as_i64().expect("id") as i32)
            .collect()
    };
    let (approved, declined, changed) = (ids("approve"), ids("decline"), ids("change"));
    assert_eq!(
        (approved.len(), declined.len(), changed.len()),
        (3, 2, 1),
        "{picked}"
    );

    // The differential sync: the first request already carries the full cache.
    let before: BTreeSet<i32> = client
        .installed
        .iter()
        .chain(&client.other)
        .copied()
        .collect();
    let first = client.sync_request(false);
    let sent = first.parameters.value().expect("parameters");
    let listed: BTreeSet<i32> = sent
        .installed_non_leaf_update_ids
        .items()
        .iter()
        .chain(sent.other_cached_update_ids.items())
        .copied()
        .collect();
    assert_eq!(
        listed, before,
        "the differential sync sends the whole cache"
    );
    let (_, new, changed_seen, oos) = client.software_loop(&addr);
    assert_eq!(
        new.iter().copied().collect::<BTreeSet<_>>(),
        approved,
        "exactly the 3 approved are new"
    );
    assert_eq!(
        changed_seen.iter().copied().collect::<BTreeSet<_>>(),
        changed,
        "exactly the 1 changed"
    );
    assert_eq!(
        oos.iter().copied().collect::<BTreeSet<_>>(),
        declined,
        "exactly the 2 declined are out of scope"
    );
}

#[test]
fn injected_faults_arrive_as_http_500_soap_faults() {
    for code in [
        ErrorCode::CookieExpired,
        ErrorCode::InvalidCookie,
        ErrorCode::ServerChanged,
        ErrorCode::ConfigChanged,
        ErrorCode::RegistrationRequired,
        ErrorCode::ServerBusy,
        ErrorCode::InternalServerError,
        ErrorCode::InvalidParameters,
        ErrorCode::FileLocationChanged,
    ] {
        let spec = format!("{}@GetConfig", code.as_str());
        let server = serve(&["--catalog-size", "10", "--inject", &spec]);
        let (status, env) = call(
            &server.http,
            GetConfig {
                protocol_version: "2.90".to_string().into(),
                ..Default::default()
            },
            true,
        );
        assert_eq!(status, 500, "{spec}");
        let Body::Fault(f) = &env.body else {
            panic!("{spec}: not a fault: {env:?}")
        };
        assert_eq!(f.error_code(), Some(&code), "{spec}");
        assert_eq!(env.version, wusp::soap::SoapVersion::Soap11);
    }
    // A transport fault: 503 with no SOAP body.
    let server = serve(&["--catalog-size", "10", "--inject", "503@GetConfig#1"]);
    let body = Envelope::request(GetConfig::default()).encode();
    let (status, _, _) = http(
        &server.http,
        "POST",
        Operation::GetConfig.service().path(),
        &[(
            "SOAPAction",
            format!("\"{}\"", Operation::GetConfig.soap_action()),
        )],
        body.as_bytes(),
    );
    assert_eq!(status, 503);
    // #1 only: the second call is answered.
    let (status, _) = call(
        &server.http,
        GetConfig {
            protocol_version: "2.90".to_string().into(),
            ..Default::default()
        },
        false,
    );
    assert_eq!(status, 200);
}

/// A first sync through `t`, then GetExtendedUpdateInfo (reference 1.7 FileLocations):
/// one content URL and its SHA-1 FileDigest.
pub(crate) fn find_content<T: Transport + ?Sized>(t: &T) -> (String, Vec<u8>) {
    let mut client = Client::default();
    client.handshake(t);
    client.software_loop(t);
    let ids: Vec<i32> = client.other.iter().copied().take(50).collect();
    let (status, env) = call(
        t,
        GetExtendedUpdateInfo {
            cookie: client.cookie.clone(),
            revision_ids: Field::Value(ids),
            info_types: Field::Value(vec![XmlUpdateFragmentType::Extended]),
            ..Default::default()
        },
        true,
    );
    assert_eq!(status, 200, "{env:?}");
    let info = ok(&env, |r| match r {
        Response::GetExtendedUpdateInfo(x) => x.result.value(),
        _ => None,
    });
    let loc = info
        .file_locations
        .items()
        .first()
        .expect("a file location")
        .clone();
    let url = loc.url.value().expect("Url").clone();
    let digest = loc
        .file_digest
        .value()
        .expect("FileDigest")
        .bytes()
        .expect("base64");
    (url, digest)
}

#[test]
fn xpress_and_identity_answers_carry_the_same_xml_and_content_ranges_are_exact() {
    let server = serve(&["--catalog-size", "50"]);
    let req = Envelope::request(GetConfig {
        protocol_version: "2.90".to_string().into(),
        ..Default::default()
    })
    .encode();
    let post = |xpress: bool| {
        let mut h = vec![(
            "SOAPAction",
            format!("\"{}\"", Operation::GetConfig.soap_action()),
        )];
        if xpress {
            h.push(("Accept-Encoding", "xpress".to_string()));
        }
        http(
            &server.http,
            "POST",
            "/ClientWebService/Client.asmx",
            &h,
            req.as_bytes(),
        )
    };
    let (s1, h1, plain) = post(false);
    let (s2, h2, packed) = post(true);
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(header(&h1, "Content-Encoding"), None);
    assert_eq!(header(&h2, "Content-Encoding"), Some("xpress"));
    assert_eq!(wusp::xpress::decode(&packed).expect("xpress"), plain);

    let (url, digest) = find_content(&server.http);
    let path = &url[url.find("/Content/").expect("content path")..];
    let (status, h, whole) = http(&server.http, "GET", path, &[], b"");
    assert_eq!(status, 200);
    use sha1::Digest as _;
    assert_eq!(
        sha1::Sha1::digest(&whole).to_vec(),
        digest,
        "S-38: content matches FileDigest"
    );
    let n = whole.len();
    assert!(n > 10);
    let (status, h2, part) = http(
        &server.http,
        "GET",
        path,
        &[("Range", "bytes=3-9".to_string())],
        b"",
    );
    assert_eq!(status, 206);
    assert_eq!(part, &whole[3..10]);
    assert_eq!(
        header(&h2, "Content-Range"),
        Some(format!("bytes 3-9/{n}").as_str())
    );
    let (status, _, tail) = http(
        &server.http,
        "GET",
        path,
        &[("Range", "bytes=-4".to_string())],
        b"",
    );
    assert_eq!((status, tail.as_slice()), (206, &whole[n - 4..]));
    let (status, _, _) = http(
        &server.http,
        "GET",
        path,
        &[("Range", format!("bytes={n}-"))],
        b"",
    );
    assert_eq!(status, 416);
    assert_eq!(header(&h, "Accept-Ranges"), Some("bytes"));
}
