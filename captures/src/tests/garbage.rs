//! Garbage in never panics.

use std::io::Cursor;

use proptest::prelude::*;

use crate::{CaptureReader, har, parse_line};

proptest! {
    #[test]
    fn any_line_decodes_or_is_reported(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_line(&bytes);
    }

    #[test]
    fn json_shaped_lines_decode_or_are_reported(text in r#"\{"type":"(exchange|error|connection|capture)"[ -~]{0,200}"#) {
        let _ = parse_line(text.as_bytes());
    }

    #[test]
    fn any_har_imports_or_is_refused(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = har::import(bytes.as_slice());
        let _ = har::import(&[br#"{"log":{"entries":["#.as_slice(), &bytes, b"]}}"].concat()[..]);
    }

    #[test]
    fn any_file_reads_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..600), prefix in 0usize..3) {
        let magic: &[u8] = [&b""[..], &[0x28, 0xb5, 0x2f, 0xfd][..], &[0x1f, 0x8b, 0x08][..]][prefix];
        let data = [magic, &bytes].concat();
        if let Ok(reader) = CaptureReader::from_reader(Cursor::new(data)) {
            let n = reader.take(10_000).count();
            prop_assert!(n < 10_000);
        }
    }
}

#[test]
fn structured_har_garbage() {
    let docs = [
        r#"{"log":{"entries":[1,"x",null,{},{"request":7},{"request":{"method":"GET","url":"http://a/"},"response":{"status":-5,"content":{"text":"x","encoding":"base64"}},"timings":"no","startedDateTime":42}]}}"#,
        r#"{"log":{"entries":[{"request":{"method":"GET","url":"http://a/","headers":[1,{"name":null},{"name":"A","value":3}]},"response":{"status":1e300},"time":1e308,"timings":{"send":-1e308,"wait":"NaN"},"startedDateTime":"9999-12-31T23:59:59.999999Z"}]}}"#,
        r#"{"log":{"entries":[],"_wutap":{"format":"wutap-capture","version":1,"records":[{"at":18446744073709551615,"record":{"type":"x"}},5]}}}"#,
        r#"{"log":{"entries":[{"_wutap":{"type":"error","id":1}}]}}"#,
        r#"{"log":{"entries":{}}}"#,
        r#"{"log":[]}"#,
        "[]",
    ];
    for doc in docs {
        let _ = har::import(doc.as_bytes());
    }
}
