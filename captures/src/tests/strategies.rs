//! proptest strategies for every record type.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use crate::{
    Body, CaptureHeader, ConnectionMode, ConnectionRecord, ErrorPhase, ErrorRecord, Exchange,
    Header, Headers, OmittedBody, Record, Request, Response, Timestamp, Timing, TlsInfo,
};

pub(crate) fn timestamp() -> impl Strategy<Value = Timestamp> {
    // 1970 .. 2100, microsecond resolution.
    (0i64..4_102_444_800_000_000).prop_map(|us| Timestamp::from_unix_micros(us).unwrap())
}

pub(crate) fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        Just(Body::empty()),
        any::<String>().prop_map(Body::Text),
        vec(any::<u8>(), 0..200).prop_map(Body::Binary),
        vec(any::<u8>(), 0..200).prop_map(Body::from_bytes),
        (any::<u64>(), any::<[u8; 20]>(), any::<[u8; 32]>())
            .prop_map(|(size, sha1, sha256)| Body::Omitted(OmittedBody { size, sha1, sha256 })),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    prop_oneof![
        ("[A-Za-z][A-Za-z0-9-]{0,15}", any::<String>()).prop_map(|(n, v)| Header::new(n, v)),
        ("[A-Za-z][A-Za-z0-9-]{0,15}", vec(any::<u8>(), 0..20))
            .prop_map(|(n, v)| Header::from_bytes(n, &v)),
    ]
}

fn headers() -> impl Strategy<Value = Headers> {
    vec(header(), 0..6).prop_map(Headers::from)
}

fn tls() -> impl Strategy<Value = TlsInfo> {
    (
        option::of("[a-z.]{1,20}"),
        option::of(Just("TLSv1.3".to_owned())),
        option::of(Just("http/1.1".to_owned())),
        option::of(Just("TLS13_AES_256_GCM_SHA384".to_owned())),
    )
        .prop_map(|(sni, version, alpn, cipher)| TlsInfo {
            sni,
            version,
            alpn,
            cipher,
        })
}

fn timing() -> impl Strategy<Value = Timing> {
    (
        timestamp(),
        option::of(timestamp()),
        option::of(timestamp()),
        option::of(timestamp()),
    )
        .prop_map(|(start, request_end, response_start, end)| Timing {
            start,
            request_end,
            response_start,
            end,
        })
}

fn request() -> impl Strategy<Value = Request> {
    (
        "[A-Z]{1,7}",
        "/[a-zA-Z0-9/._?=&-]{0,30}",
        prop_oneof![Just("HTTP/1.1".to_owned()), Just("HTTP/1.0".to_owned())],
        headers(),
        any::<bool>(),
        body(),
    )
        .prop_map(
            |(method, target, version, headers, body_truncated, body)| Request {
                url: format!("https://wsus.example:8531{target}"),
                method,
                target,
                version,
                headers,
                body_truncated,
                body,
            },
        )
}

fn response() -> impl Strategy<Value = Response> {
    (
        100u16..600,
        "[A-Za-z ]{0,20}",
        headers(),
        any::<bool>(),
        body(),
    )
        .prop_map(|(status, reason, headers, body_truncated, body)| Response {
            status,
            reason,
            version: "HTTP/1.1".to_owned(),
            headers,
            body_truncated,
            body,
        })
}

fn addr() -> impl Strategy<Value = Option<String>> {
    option::of(prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, p)| format!("{}.{}.{}.{}:{p}", ip[0], ip[1], ip[2], ip[3])),
        any::<u16>().prop_map(|p| format!("[::1]:{p}")),
    ])
}

fn scheme() -> impl Strategy<Value = String> {
    prop_oneof![Just("http".to_owned()), Just("https".to_owned())]
}

fn exchange() -> impl Strategy<Value = Exchange> {
    (
        (1u64..1_000_000, 1u64..1000, addr(), addr(), scheme()),
        (option::of(tls()), option::of(tls()), timing()),
        (request(), response()),
    )
        .prop_map(
            |(
                (id, conn, client, server, scheme),
                (tls, upstream_tls, time),
                (request, response),
            )| {
                Exchange {
                    id,
                    conn,
                    client,
                    server,
                    scheme,
                    tls,
                    upstream_tls,
                    time,
                    request,
                    response,
                }
            },
        )
}

fn phase() -> impl Strategy<Value = ErrorPhase> {
    prop_oneof![
        Just(ErrorPhase::UpstreamConnect),
        Just(ErrorPhase::UpstreamTls),
        Just(ErrorPhase::UpstreamTimeout),
        Just(ErrorPhase::UpstreamReset),
        Just(ErrorPhase::ClientAbort),
        Just(ErrorPhase::HeaderTimeout),
        Just(ErrorPhase::Other),
    ]
}

fn error_record() -> impl Strategy<Value = ErrorRecord> {
    (
        (1u64..1_000_000, 1u64..1000, addr(), addr(), scheme()),
        (option::of(tls()), option::of(tls()), timing()),
        (
            phase(),
            any::<String>(),
            option::of(request()),
            option::of(response()),
        ),
    )
        .prop_map(
            |(
                (id, conn, client, server, scheme),
                (tls, upstream_tls, time),
                (phase, message, request, response),
            )| ErrorRecord {
                id,
                conn,
                client,
                server,
                scheme,
                tls,
                upstream_tls,
                time,
                phase,
                message,
                request,
                response,
            },
        )
}

fn connection() -> impl Strategy<Value = ConnectionRecord> {
    (
        (
            1u64..1000,
            addr(),
            addr(),
            option::of(tls()),
            option::of(tls()),
        ),
        (timestamp(), option::of(timestamp())),
        prop_oneof![
            Just(ConnectionMode::Plain),
            Just(ConnectionMode::Intercept),
            Just(ConnectionMode::Passthrough),
        ],
        (any::<u64>(), any::<u64>()),
    )
        .prop_map(
            |((conn, client, server, tls, upstream_tls), (opened, closed), mode, (up, down))| {
                ConnectionRecord {
                    conn,
                    client,
                    server,
                    tls,
                    upstream_tls,
                    opened,
                    closed,
                    mode,
                    bytes_up: up,
                    bytes_down: down,
                }
            },
        )
}

fn header_record() -> impl Strategy<Value = CaptureHeader> {
    (timestamp(), "[a-z0-9 .]{0,20}", option::of(any::<String>())).prop_map(
        |(created, tool, note)| {
            let mut h = CaptureHeader::new(tool);
            h.created = created;
            h.note = note;
            h
        },
    )
}

/// Any record.
pub(crate) fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        4 => exchange().prop_map(Record::Exchange),
        2 => error_record().prop_map(Record::Error),
        1 => connection().prop_map(Record::Connection),
        1 => header_record().prop_map(Record::Header),
    ]
}

/// A sample exchange for hand-written tests.
pub(crate) fn sample_exchange(id: u64, body: Body) -> Record {
    let mut request = Request {
        method: "POST".into(),
        target: "/ClientWebService/client.asmx".into(),
        url: "https://wsus.example:8531/ClientWebService/client.asmx".into(),
        version: "HTTP/1.1".into(),
        ..Default::default()
    };
    request.headers.push("Host", "wsus.example:8531");
    request
        .headers
        .push("Content-Type", "text/xml; charset=utf-8");
    request.headers.push(
        "SOAPAction",
        "\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetConfig\"",
    );
    request.body = Body::Text("<s:Envelope>GetConfig</s:Envelope>".into());
    let mut response = Response {
        status: 200,
        reason: "OK".into(),
        version: "HTTP/1.1".into(),
        ..Default::default()
    };
    response
        .headers
        .push("Content-Type", "text/xml; charset=utf-8");
    response.headers.push("Content-Encoding", "xpress");
    response.body = body;
    let t0 = Timestamp::parse("2026-11-25T10:00:00.000001Z").unwrap();
    let at = |us: i64| Some(Timestamp::from_unix_micros(t0.unix_micros() + us).unwrap());
    Record::Exchange(Exchange {
        id,
        conn: 3,
        client: Some("127.0.0.1:50512".into()),
        server: Some("10.0.0.5:8531".into()),
        scheme: "https".into(),
        tls: Some(TlsInfo {
            sni: Some("wsus.example".into()),
            version: Some("TLSv1.3".into()),
            alpn: Some("http/1.1".into()),
            cipher: Some("TLS13_AES_256_GCM_SHA384".into()),
        }),
        upstream_tls: None,
        time: Timing {
            start: t0,
            request_end: at(1_500),
            response_start: at(20_250),
            end: at(21_000),
        },
        request,
        response,
    })
}
