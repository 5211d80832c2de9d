//! Import of HARs written by other tools: Chrome devtools, Fiddler, mitmproxy.

use crate::{Body, ErrorPhase, ProblemKind, Record, Timestamp, har};

const CHROME: &str = r#"{
  "log": {
    "version": "1.2",
    "creator": { "name": "WebInspector", "version": "537.36" },
    "pages": [],
    "entries": [
      {
        "_initiator": { "type": "other" },
        "_priority": "VeryHigh",
        "_resourceType": "fetch",
        "cache": {},
        "connection": "40432",
        "pageref": "page_1",
        "request": {
          "method": "POST",
          "url": "http://wsus.example:8530/ClientWebService/client.asmx",
          "httpVersion": "HTTP/1.1",
          "headers": [
            { "name": "Content-Type", "value": "text/xml; charset=utf-8" },
            { "name": "SOAPAction", "value": "\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetCookie\"" }
          ],
          "queryString": [],
          "cookies": [],
          "headersSize": 250,
          "bodySize": 26,
          "postData": { "mimeType": "text/xml; charset=utf-8", "text": "<s:Envelope>x</s:Envelope>" }
        },
        "response": {
          "status": 200,
          "statusText": "OK",
          "httpVersion": "HTTP/1.1",
          "headers": [ { "name": "Content-Type", "value": "text/xml" } ],
          "cookies": [],
          "content": { "size": 13, "mimeType": "text/xml", "text": "<r>cookie</r>" },
          "redirectURL": "",
          "headersSize": 180,
          "bodySize": 13,
          "_transferSize": 193,
          "_error": null
        },
        "serverIPAddress": "[::1]",
        "startedDateTime": "2026-11-25T10:00:00.123Z",
        "time": 35.5,
        "timings": { "blocked": 2.5, "dns": -1, "ssl": -1, "connect": -1, "send": 0.5, "wait": 30, "receive": 2.5, "_blocked_queueing": 1.2 }
      },
      {
        "cache": {},
        "connection": "40432",
        "request": {
          "method": "GET",
          "url": "http://wsus.example:8530/selfupdate/wuident.cab",
          "httpVersion": "http/2.0",
          "headers": [ { "name": ":authority", "value": "wsus.example:8530" } ],
          "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0
        },
        "response": {
          "status": 0, "statusText": "", "httpVersion": "", "headers": [], "cookies": [],
          "content": { "size": 0, "mimeType": "x-unknown" },
          "redirectURL": "", "headersSize": -1, "bodySize": -1, "_transferSize": 0,
          "_error": "net::ERR_CONNECTION_REFUSED"
        },
        "serverIPAddress": "",
        "startedDateTime": "2026-11-25T10:00:01.000Z",
        "time": 0.8,
        "timings": { "blocked": 0.8, "dns": -1, "ssl": -1, "connect": -1, "send": 0, "wait": 0, "receive": 0 }
      },
      {
        "connection": "51000",
        "request": {
          "method": "GET",
          "url": "http://wsus.example:8530/Content/01/big.cab",
          "headers": []
        },
        "response": {
          "status": 200, "statusText": "OK", "headers": [],
          "content": { "size": 1048576, "mimeType": "application/octet-stream" }
        },
        "startedDateTime": "2026-11-25T10:00:02.000Z",
        "time": 5,
        "timings": {}
      }
    ]
  }
}"#;

const FIDDLER: &str = "\u{feff}{\"log\":{\"version\":\"1.2\",\"creator\":{\"name\":\"Fiddler\",\"version\":\"5.0.20204.45441\"},\"entries\":[
 {\"startedDateTime\":\"2026-11-25T11:00:00.1234567+01:00\",\"time\":50,
  \"request\":{\"method\":\"POST\",\"url\":\"https://wsus.example:8531/ClientWebService/client.asmx\",\"httpVersion\":\"HTTP/1.1\",\"cookies\":[],
    \"headers\":[{\"name\":\"Host\",\"value\":\"wsus.example:8531\"},{\"name\":\"Content-Type\",\"value\":\"text/xml; charset=utf-8\"}],
    \"queryString\":[],\"postData\":{\"mimeType\":\"text/xml; charset=utf-8\",\"text\":\"<s:Envelope/>\"},\"headersSize\":300,\"bodySize\":13},
  \"response\":{\"status\":200,\"statusText\":\"OK\",\"httpVersion\":\"HTTP/1.1\",\"cookies\":[],
    \"headers\":[{\"name\":\"Content-Type\",\"value\":\"text/xml; charset=utf-8\"},{\"name\":\"Content-Encoding\",\"value\":\"xpress\"}],
    \"content\":{\"size\":6,\"compression\":0,\"mimeType\":\"text/xml; charset=utf-8\",\"text\":\"D/8A\\nAQID\",\"encoding\":\"base64\"},
    \"redirectURL\":\"\",\"headersSize\":200,\"bodySize\":6},
  \"cache\":{},\"timings\":{\"blocked\":0,\"dns\":0,\"connect\":0,\"send\":1,\"wait\":40,\"receive\":9,\"ssl\":-1},
  \"comment\":\"#12\"}
]}}";

const MITMPROXY: &str = r#"{"log":{"version":"1.2","creator":{"name":"mitmproxy","version":"10.1.0","comment":"mitmproxy version 10.1.0"},"pages":[],"entries":[
 {"startedDateTime":"2026-11-25T10:00:00.500000+00:00","time":12.3,
  "request":{"method":"GET","url":"http://wsus.example:8530/Content/AB/0123456789ABCDEF.cab?x=1","httpVersion":"HTTP/1.1","cookies":[],
    "headers":[{"name":"Host","value":"wsus.example:8530"},{"name":"Range","value":"bytes=0-3"}],
    "queryString":[{"name":"x","value":"1"}],"headersSize":120,"bodySize":0},
  "response":{"status":206,"statusText":"Partial Content","httpVersion":"HTTP/1.1","cookies":[],
    "headers":[{"name":"Content-Type","value":"application/octet-stream"}],
    "content":{"size":4,"compression":0,"mimeType":"application/octet-stream","text":"TVNDRg==","encoding":"base64"},
    "redirectURL":"","headersSize":-1,"bodySize":-1},
  "cache":{},"timings":{"connect":-1,"ssl":-1,"send":-1,"receive":-1,"wait":-1,"blocked":-1,"dns":-1},
  "serverIPAddress":"10.0.0.5"}
]}}"#;

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

#[test]
fn chrome_devtools_har() {
    let (records, problems) = har::import(CHROME.as_bytes()).unwrap();
    assert_eq!(records.len(), 3);

    let Record::Exchange(e) = &records[0] else {
        panic!("{:?}", records[0])
    };
    assert_eq!((e.id, e.conn), (1, 1));
    assert_eq!(e.server.as_deref(), Some("[::1]:8530"));
    assert_eq!(e.client, None);
    assert_eq!(e.scheme, "http");
    assert_eq!(e.request.target, "/ClientWebService/client.asmx");
    assert_eq!(e.path(), "/ClientWebService/client.asmx");
    assert_eq!(
        e.soap_action(),
        Some("http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetCookie")
    );
    assert_eq!(
        e.request_body_bytes(),
        Some(&b"<s:Envelope>x</s:Envelope>"[..])
    );
    assert_eq!(e.response.body, Body::Text("<r>cookie</r>".into()));
    assert_eq!(e.time.start, ts("2026-11-25T10:00:00.123Z"));
    assert_eq!(e.time.request_end, Some(ts("2026-11-25T10:00:00.126Z")));
    assert_eq!(e.time.response_start, Some(ts("2026-11-25T10:00:00.156Z")));
    assert_eq!(e.time.end, Some(ts("2026-11-25T10:00:00.1585Z")));

    let Record::Error(err) = &records[1] else {
        panic!("{:?}", records[1])
    };
    assert_eq!(err.phase, ErrorPhase::Other);
    assert_eq!(err.message, "net::ERR_CONNECTION_REFUSED");
    assert_eq!(err.conn, 1, "same connection string, same id");
    assert_eq!(err.server, None);
    assert!(err.response.is_none());
    assert_eq!(err.request.as_ref().unwrap().version, "http/2.0");
    assert_eq!(
        err.request.as_ref().unwrap().headers.get(":authority"),
        Some("wsus.example:8530")
    );

    let Record::Exchange(big) = &records[2] else {
        panic!("{:?}", records[2])
    };
    assert_eq!(big.conn, 2);
    assert_eq!(
        big.request.version, "HTTP/1.1",
        "missing httpVersion defaults"
    );
    assert!(big.response.body.is_empty());
    assert_eq!(big.time.request_end, None);
    assert_eq!(big.time.end, Some(ts("2026-11-25T10:00:02.005Z")));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(
        (problems[0].line, problems[0].kind),
        (3, ProblemKind::Incomplete)
    );
    assert!(
        problems[0].message.contains("1048576 bytes"),
        "{}",
        problems[0].message
    );
}

#[test]
fn fiddler_har() {
    let (records, problems) = har::import(FIDDLER.as_bytes()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    let [Record::Exchange(e)] = records.as_slice() else {
        panic!("{records:?}")
    };
    assert_eq!(e.time.start, ts("2026-11-25T10:00:00.123456Z"));
    assert_eq!(e.time.request_end, Some(ts("2026-11-25T10:00:00.124456Z")));
    assert_eq!(e.time.end, Some(ts("2026-11-25T10:00:00.173456Z")));
    assert!(e.is_xpress());
    assert_eq!(
        e.response_body_bytes(),
        Some(&[0x0f, 0xff, 0x00, 0x01, 0x02, 0x03][..])
    );
    assert_eq!(e.scheme, "https");
    assert_eq!((e.id, e.conn), (1, 0));
    assert_eq!(e.server, None);
    assert_eq!(e.request.headers.get("host"), Some("wsus.example:8531"));
}

#[test]
fn mitmproxy_har() {
    let (records, problems) = har::import(MITMPROXY.as_bytes()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    let [Record::Exchange(e)] = records.as_slice() else {
        panic!("{records:?}")
    };
    assert_eq!(e.server.as_deref(), Some("10.0.0.5:8530"));
    assert_eq!(e.request.target, "/Content/AB/0123456789ABCDEF.cab?x=1");
    assert_eq!(e.path(), "/Content/AB/0123456789ABCDEF.cab");
    assert_eq!(e.request.body, Body::empty(), "no postData");
    assert_eq!(e.response.status, 206);
    assert_eq!(e.response.reason, "Partial Content");
    assert_eq!(e.response_body_bytes(), Some(&b"MSCF"[..]));
    assert_eq!(e.time.start, ts("2026-11-25T10:00:00.5Z"));
    assert_eq!((e.time.request_end, e.time.response_start), (None, None));
    assert_eq!(e.time.end, Some(ts("2026-11-25T10:00:00.5123Z")));
}

#[test]
fn refuses_what_is_not_a_har() {
    for doc in ["", "not json", "[]", r#"{"log":{}}"#, r#"{"entries":[]}"#] {
        let err = har::import(doc.as_bytes()).unwrap_err();
        assert!(err.to_string().starts_with("<memory>:"), "{err}");
    }
}

#[test]
fn bad_entries_are_reported_and_the_rest_imported() {
    let doc = r#"{"log":{"entries":[
        {"request":{"url":"http://a/"}},
        {"request":{"method":"GET","url":"http://a/x"},"response":{"status":200,"content":{"text":"%%","encoding":"base64"}},"startedDateTime":"yesterday"}
    ]}}"#;
    let (records, problems) = har::import(doc.as_bytes()).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].exchange_id(), Some(2));
    let got: Vec<(u64, ProblemKind)> = problems.iter().map(|p| (p.line, p.kind)).collect();
    assert_eq!(
        got,
        [
            (1, ProblemKind::Corrupt),
            (2, ProblemKind::Incomplete),
            (2, ProblemKind::Incomplete)
        ]
    );
}
