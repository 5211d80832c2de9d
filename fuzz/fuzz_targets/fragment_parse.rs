//! The lenient fragment readers and the metadata index on arbitrary UTF-8: no panic, and
//! the classification and the index agree with the parsers.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use wusp::fragment::{
    FragmentKind, MetadataIndex, classify, normalize_guid, pack_driver_version, parse_core,
    parse_eula, parse_extended, parse_localized,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let kind = classify(text);
    assert_eq!(kind.as_str(), kind.to_string());

    // The two readers whose first element fixes the kind must agree with `classify`.
    if parse_localized(text).is_ok() {
        assert_eq!(kind, FragmentKind::LocalizedProperties);
    }
    if parse_eula(text).is_ok() {
        assert_eq!(kind, FragmentKind::Eula);
    }
    if let Ok(ext) = parse_extended(text) {
        for file in &ext.files {
            let _ = (&file.digest, file.size, file.additional_digests.len());
        }
    }

    let core = parse_core(text);
    let mut index = MetadataIndex::new();
    match (&core, index.insert_core(7, text)) {
        (Err(a), Err(b)) => {
            assert_eq!(a, &b, "insert_core fails otherwise than parse_core");
            assert!(index.is_empty(), "a failed insert changed the index");
            return;
        }
        (Ok(_), Ok(())) => {}
        (a, b) => panic!("parse_core {a:?} but insert_core {b:?}"),
    }
    let Ok(core) = core else { unreachable!() };

    // Typed helpers on what was parsed.
    for driver in &core.drivers {
        let packed = driver.driver_version_packed();
        if let Some(v) = driver.driver_ver_version.as_deref() {
            assert_eq!(packed, pack_driver_version(v));
        }
        for score in &driver.feature_scores {
            let _ = score.score();
        }
    }
    let _ = core.prerequisite_update_ids().count();
    let _ = core.identity().normalized_update_id();

    assert_eq!(index.len(), 1);
    assert_eq!(index.core(7), Some(&core));
    assert_eq!(index.core_xml(7), Some(text));
    assert_eq!(index.update_type(7), Some(&core.update_type));
    assert!(index.revisions_of(&core.update_id).contains(&7));
    assert_eq!(index.highest_revision(&core.update_id), Some(7));
    assert_eq!(
        index.revision_for_identity(&core.update_id, core.revision_number),
        Some(7)
    );
    let self_prereq = core
        .prerequisite_update_ids()
        .any(|id| normalize_guid(id) == core.normalized_update_id());
    assert_eq!(index.is_leaf(7), Some(!self_prereq));
    let installed = index.installed_update_ids([7, 8]);
    assert_eq!(installed.len(), 1);
    assert!(index.prerequisites_satisfied(7, &installed).is_some());
    let none_installed = index.prerequisites_satisfied(7, &HashSet::new());
    assert_eq!(none_installed, Some(core.prerequisites.is_empty()));
    assert_eq!(index.bundled_members(7).len(), core.bundled.len());
    assert!(index.files(7).is_empty());

    // A second revision of the same text, then replacing and removing, keep the maps consistent.
    index.insert_core(8, text).expect("same text inserts twice");
    assert_eq!(index.len(), 2);
    assert_eq!(index.revisions_of(&core.update_id).len(), 2);
    index.insert_core(8, text).expect("replacing inserts");
    assert_eq!(index.len(), 2);
    assert!(index.remove(7));
    assert!(!index.remove(7));
    assert_eq!(index.revisions_of(&core.update_id), &[8]);
    assert_eq!(
        index.revision_for_identity(&core.update_id, core.revision_number),
        Some(8)
    );
    assert_eq!(index.is_leaf(8), Some(!self_prereq));
    assert!(index.remove(8));
    assert!(index.is_empty());
    assert!(index.revisions_of(&core.update_id).is_empty());
    assert!(!index.is_prerequisite_target(&core.update_id));
    let _ = index.insert_extended(8, text);
    let _ = index.files(8);
});
