//! One capture line: `parse_line` never panics; a line that parses re-serializes to a line
//! that parses to the same record (the format is self-describing and lossless).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = captures::parse_line(data) {
        let again = serde_json::to_vec(&record).expect("a parsed record serializes");
        let back = captures::parse_line(&again).expect("a serialized record parses");
        assert_eq!(back, record, "record changed through serialize and parse");
        // Classifying and decoding what the record holds never panics either.
        if let captures::Record::Exchange(ex) = &record {
            let _ = captures::wire::classify(ex);
            let _ = captures::wire::request_envelope(ex);
            let _ = captures::wire::response_envelope(ex);
        }
    }
});
