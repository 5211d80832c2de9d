//! The example in FORMAT.md is exactly what the writer produces.

use crate::{Record, parse_line};

const FORMAT_MD: &str = include_str!("../../FORMAT.md");

fn example_lines() -> Vec<&'static str> {
    let start = FORMAT_MD
        .find("<!-- example:begin -->")
        .expect("example start marker");
    let end = FORMAT_MD
        .find("<!-- example:end -->")
        .expect("example end marker");
    FORMAT_MD[start..end]
        .lines()
        .filter(|l| l.starts_with('{'))
        .collect()
}

#[test]
fn format_md_example_is_canonical() {
    let lines = example_lines();
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| {
            parse_line(l.as_bytes())
                .unwrap_or_else(|p| panic!("{p}: {l}"))
                .type_name()
        })
        .collect();
    assert_eq!(
        kinds,
        ["capture", "exchange", "exchange", "error", "connection"]
    );
    for line in lines {
        let record: Record = parse_line(line.as_bytes()).unwrap();
        assert_eq!(
            serde_json::to_string(&record).unwrap(),
            line,
            "not what the writer writes"
        );
    }
}

#[test]
fn format_md_example_accessors() {
    let lines = example_lines();
    let Record::Exchange(e) = parse_line(lines[1].as_bytes()).unwrap() else {
        panic!()
    };
    assert!(e.is_xpress());
    assert_eq!(
        e.soap_action(),
        Some("http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetConfig")
    );
    assert_eq!(
        e.response_body_bytes(),
        Some(&[0x0f, 0xff, 0, 0, b'<', b's', b':', b'E'][..])
    );
    let Record::Exchange(d) = parse_line(lines[2].as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(d.response_body_bytes(), None);
    assert_eq!(d.response.body.len(), 104_857_600);
}

/// The records read straight into their variant (tag first, as written) are the ones the
/// general path reads, and a record with its tag elsewhere still reads.
#[test]
fn tag_first_lines_read_as_the_general_path_reads_them() {
    for line in example_lines() {
        let general: Record = serde_json::from_slice(line.as_bytes()).unwrap();
        assert_eq!(parse_line(line.as_bytes()).unwrap(), general, "{line}");
        let mut fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).unwrap();
        let tag = fields.remove("type").unwrap();
        fields.insert("type".into(), tag);
        let moved = serde_json::to_string(&fields).unwrap();
        assert!(!moved.starts_with(r#"{"type""#), "{moved}");
        assert_eq!(parse_line(moved.as_bytes()).unwrap(), general, "{moved}");
    }
    let bad = r#"{"type":"exchange","id":"not a number"}"#;
    let p = parse_line(bad.as_bytes()).unwrap_err();
    assert!(
        p.message.contains("invalid \"exchange\" record"),
        "{}",
        p.message
    );
}
