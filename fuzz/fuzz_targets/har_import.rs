//! HAR import of arbitrary bytes never panics; imported records export and import again to
//! the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((records, _problems)) = captures::har::import(data) else {
        return;
    };
    let Ok(doc) = captures::har::export(records.iter()) else {
        return;
    };
    let bytes = serde_json::to_vec(&doc).expect("an exported HAR serializes");
    let (again, problems) = captures::har::import(&bytes[..]).expect("an exported HAR imports");
    assert!(problems.is_empty(), "our own HAR has problems: {problems:?}");
    assert_eq!(again, records, "records changed through HAR export and import");
});
