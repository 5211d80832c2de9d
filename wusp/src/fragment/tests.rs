//! Cross-cutting fragment tests: classification, leniency, hostile input, round trips.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

fn parse_all(text: &str) {
    let _ = parse_core(text);
    let _ = parse_extended(text);
    let _ = parse_localized(text);
    let _ = parse_eula(text);
    let _ = classify(text);
}

#[test]
fn classify_by_first_element() {
    assert_eq!(
        classify(r#"<UpdateIdentity UpdateID="x" RevisionNumber="1" /><Properties />"#),
        FragmentKind::Core
    );
    assert_eq!(
        classify("\n  <!-- c --><?pi x?><ExtendedProperties />"),
        FragmentKind::Extended
    );
    assert_eq!(classify("<Files/>"), FragmentKind::Extended);
    assert_eq!(
        classify("<LocalizedProperties><Language>en</Language></LocalizedProperties>"),
        FragmentKind::LocalizedProperties
    );
    assert_eq!(
        classify(r#"<EulaFile Digest="AA==" />"#),
        FragmentKind::Eula
    );
    assert_eq!(classify("<Update />"), FragmentKind::Unknown);
    assert_eq!(classify(""), FragmentKind::Unknown);
    assert_eq!(classify("not xml at all"), FragmentKind::Unknown);
    assert_eq!(
        classify("<!DOCTYPE x><UpdateIdentity/>"),
        FragmentKind::Unknown
    );
    assert_eq!(classify("<<<"), FragmentKind::Unknown);
    assert_eq!(classify("<upd:UpdateIdentity/>"), FragmentKind::Core);
    assert_eq!(
        FragmentKind::LocalizedProperties.to_string(),
        "LocalizedProperties"
    );
}

#[test]
fn lenient_multi_root_prefixes_and_case() {
    let text = concat!(
        "<?xml version=\"1.0\"?>\n",
        "<!-- leading comment -->\n",
        "<foo:Bar baz:qux=\"1\"><x.Y /></foo:Bar>\n",
        "<upd:UpdateIdentity UpdateID=\"DD78B8A1-0b20-45C1-add6-4DA72E9364CF\" RevisionNumber=\" 7 \" />\n",
        "<Properties UpdateType=\"Detectoid\" />\n",
        "<Relationships><Prerequisites><x:AtLeastOne IsCategory=\"TRUE\"><UpdateIdentity UpdateID=\"{AAAAAAAA-0000-0000-0000-00000000000A}\" /></x:AtLeastOne></Prerequisites></Relationships>\n",
        "<ApplicabilityRules><IsInstalled><![CDATA[<b.X/>]]><b.RegDword Key=\"HKEY_LOCAL_MACHINE\" Subkey=\"A&amp;B\" Value=\"V\" Comparison=\"EqualTo\" Data=\"1\" /></IsInstalled></ApplicabilityRules>\n",
        "trailing text is ignored"
    );
    let core = parse_core(text).unwrap();
    assert_eq!(core.update_id, "DD78B8A1-0b20-45C1-add6-4DA72E9364CF");
    assert_eq!(
        core.normalized_update_id(),
        "dd78b8a1-0b20-45c1-add6-4da72e9364cf"
    );
    assert_eq!(core.revision_number, 7);
    assert_eq!(core.update_type, UpdateType::Detectoid);
    assert!(core.prerequisites[0].is_category);
    assert_eq!(
        normalize_guid(&core.prerequisites[0].update_ids[0]),
        "aaaaaaaa-0000-0000-0000-00000000000a"
    );
    // Raw rules are kept exactly as written, escapes included.
    assert_eq!(
        core.applicability_rules.unwrap().is_installed.as_deref(),
        Some(
            "<![CDATA[<b.X/>]]><b.RegDword Key=\"HKEY_LOCAL_MACHINE\" Subkey=\"A&amp;B\" Value=\"V\" Comparison=\"EqualTo\" Data=\"1\" />"
        )
    );
}

#[test]
fn entity_and_character_references() {
    let core = parse_core(
        "<UpdateIdentity UpdateID=\"&#x41;&#66;&lt;&gt;&amp;&apos;&quot;\" RevisionNumber=\"&#49;\" />",
    )
    .unwrap();
    assert_eq!(core.update_id, "AB<>&'\"");
    assert_eq!(core.revision_number, 1);
    let localized = parse_localized(
        "<LocalizedProperties><Language>fr</Language><Title>Mise &#224; jour &amp; co &#x1F600;</Title></LocalizedProperties>",
    )
    .unwrap();
    assert_eq!(
        localized.title.as_deref(),
        Some("Mise \u{e0} jour & co \u{1F600}")
    );
}

#[test]
fn doctype_is_rejected() {
    let laughs = r#"<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><UpdateIdentity UpdateID="&lol2;" RevisionNumber="1" />"#;
    assert_eq!(
        parse_core(laughs),
        Err(FragmentError::Doctype { offset: 0 })
    );
    let later = "<UpdateIdentity UpdateID=\"x\" RevisionNumber=\"1\" /> <!DOCTYPE x>";
    assert_eq!(
        parse_core(later),
        Err(FragmentError::Doctype { offset: 51 })
    );
    assert!(parse_extended(laughs).is_err());
    assert!(parse_localized(laughs).is_err());
    assert!(parse_eula(laughs).is_err());
}

#[test]
fn undefined_entities_are_not_expanded() {
    let error =
        parse_core(r#"<UpdateIdentity UpdateID="&xxe;" RevisionNumber="1" />"#).unwrap_err();
    assert_eq!(
        error,
        FragmentError::UndefinedEntity {
            path: "UpdateIdentity".to_owned(),
            offset: 0,
            name: "xxe".to_owned()
        }
    );
    let text = "<LocalizedProperties><Language>en</Language><Title>a &nbsp; b</Title></LocalizedProperties>";
    match parse_localized(text).unwrap_err() {
        FragmentError::UndefinedEntity { path, offset, name } => {
            assert_eq!(path, "LocalizedProperties/Title");
            assert_eq!(name, "nbsp");
            assert_eq!(offset, text.find("&nbsp;").unwrap());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        parse_localized("<LocalizedProperties><Language>&#0;</Language></LocalizedProperties>"),
        Err(FragmentError::Malformed { .. })
    ));
    assert!(matches!(
        parse_localized("<LocalizedProperties><Language>&#xD800;</Language></LocalizedProperties>"),
        Err(FragmentError::Malformed { .. })
    ));
}

#[test]
fn depth_bomb_is_bounded() {
    let bomb = "<a>".repeat(100_000);
    match parse_core(&bomb).unwrap_err() {
        FragmentError::TooDeep {
            path,
            offset,
            limit,
        } => {
            assert_eq!(limit, 256);
            assert_eq!(offset, 256 * 3);
            assert_eq!(path.split('/').count(), 257);
        }
        other => panic!("unexpected {other:?}"),
    }
    let limits = ParseLimits {
        max_depth: 3,
        ..ParseLimits::DEFAULT
    };
    let error = parse_core_with(
        "<Relationships><Prerequisites><AtLeastOne><UpdateIdentity/></AtLeastOne></Prerequisites></Relationships>",
        &limits,
    )
    .unwrap_err();
    assert_eq!(
        error,
        FragmentError::TooDeep {
            path: "Relationships/Prerequisites/AtLeastOne/UpdateIdentity".to_owned(),
            offset: 42,
            limit: 3
        }
    );
    assert!(
        error
            .to_string()
            .starts_with("Relationships/Prerequisites/AtLeastOne/UpdateIdentity: ")
    );
}

#[test]
fn element_count_and_size_limits() {
    let many = "<a/>".repeat(200_001);
    assert_eq!(
        parse_core(&many),
        Err(FragmentError::TooManyElements {
            offset: 800_000,
            limit: 200_000
        })
    );
    let limits = ParseLimits {
        max_input_bytes: 10,
        ..ParseLimits::DEFAULT
    };
    assert_eq!(
        parse_extended_with("<ExtendedProperties />", &limits),
        Err(FragmentError::TooLarge {
            size: 22,
            limit: 10
        })
    );
    let mut index = MetadataIndex::with_limits(limits);
    assert!(
        index
            .insert_core(1, "<UpdateIdentity UpdateID=\"x\" RevisionNumber=\"1\"/>")
            .is_err()
    );
    assert!(index.is_empty());
}

#[test]
fn malformed_input_is_reported_with_path() {
    let unclosed = "<Relationships><Prerequisites>";
    assert_eq!(
        parse_core(unclosed),
        Err(FragmentError::Malformed {
            path: "Relationships/Prerequisites".to_owned(),
            offset: 15,
            message: "element is not closed".to_owned(),
        })
    );
    match parse_core("<Relationships><Prerequisites></Relationships>").unwrap_err() {
        FragmentError::Malformed { path, .. } => assert_eq!(path, "Relationships/Prerequisites"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        parse_core("</Stray>"),
        Err(FragmentError::Malformed { .. })
    ));
    assert!(matches!(
        parse_core(r#"<UpdateIdentity UpdateID="a" UpdateID="b" RevisionNumber="1"/>"#),
        Err(FragmentError::Malformed { ref path, .. }) if path == "UpdateIdentity"
    ));
    assert!(matches!(
        parse_core("<UpdateIdentity UpdateID=\"a"),
        Err(FragmentError::Malformed { .. })
    ));
    assert!(parse_core("garbage").is_err());
    assert!(parse_core("").is_err());
    assert!(parse_core("\u{0}\u{ffff}<\u{0}>").is_err());
    let message = parse_core("<a>").unwrap_err().to_string();
    assert!(
        message.starts_with("a: malformed XML at byte 0"),
        "{message}"
    );
    let message = parse_core("</a>").unwrap_err().to_string();
    assert!(message.starts_with("(top level): "), "{message}");
}

#[test]
fn mixed_case_guids_in_the_index() {
    let mut index = MetadataIndex::new();
    let root = CoreFragmentBuilder::new(
        "ABCDEF00-0000-0000-0000-000000000001",
        1,
        UpdateType::Category,
    )
    .build();
    let child = CoreFragmentBuilder::new(
        "abcdef00-0000-0000-0000-000000000002",
        1,
        UpdateType::Software,
    )
    .prerequisite("AbCdEf00-0000-0000-0000-000000000001")
    .build();
    index.insert_core(1, &root).unwrap();
    index.insert_core(2, &child).unwrap();
    assert_eq!(index.is_leaf(1), Some(false));
    assert_eq!(index.is_leaf(2), Some(true));
    assert_eq!(
        index.revision_for_identity("abcdef00-0000-0000-0000-000000000001", 1),
        Some(1)
    );
    assert_eq!(
        index.highest_revision("ABCDEF00-0000-0000-0000-000000000002"),
        Some(2)
    );
    let installed: HashSet<String> = index.installed_update_ids([1]);
    assert_eq!(index.prerequisites_satisfied(2, &installed), Some(true));
    assert_eq!(normalize_guid(" {ABC} "), "abc");
}

fn xml_text() -> impl Strategy<Value = String> {
    "[\\PC\t\n\r]{0,16}"
}

fn xml_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_.-]{0,8}"
}

fn update_type() -> impl Strategy<Value = UpdateType> {
    prop_oneof![
        Just(UpdateType::Software),
        Just(UpdateType::Driver),
        Just(UpdateType::Category),
        Just(UpdateType::Detectoid),
        "[A-Za-z]{1,10}".prop_map(|s| UpdateType::parse(&s)),
    ]
}

fn identity() -> impl Strategy<Value = UpdateIdentityRef> {
    (xml_text(), proptest::option::of(any::<i32>())).prop_map(|(update_id, revision_number)| {
        UpdateIdentityRef {
            update_id,
            revision_number,
        }
    })
}

fn clause() -> impl Strategy<Value = PrerequisiteClause> {
    prop_oneof![
        xml_text().prop_map(PrerequisiteClause::single),
        (proptest::collection::vec(xml_text(), 0..4), any::<bool>())
            .prop_map(|(ids, is_category)| PrerequisiteClause::at_least_one(ids, is_category)),
    ]
}

fn trimmed() -> impl Strategy<Value = String> {
    "([A-Za-z0-9{}&<>\"-]([A-Za-z0-9{}&<> -]{0,10}[A-Za-z0-9{}&<>-])?)?"
}

fn driver() -> impl Strategy<Value = DriverMetadata> {
    let text = || proptest::option::of(xml_text());
    (
        (text(), text(), text(), text()),
        (text(), text(), text(), text()),
        proptest::collection::vec((xml_text(), xml_text()), 0..3),
        proptest::collection::vec(trimmed(), 0..3),
        proptest::collection::vec(trimmed(), 0..3),
        proptest::collection::btree_map("Extra[A-Za-z]{0,4}", xml_text(), 0..3),
    )
        .prop_map(
            |((a, b, c, d), (e, f, g, h), scores, dist, target, other)| DriverMetadata {
                hardware_id: a,
                driver_ver_date: b,
                driver_ver_version: c,
                class: d,
                manufacturer: e,
                provider: f,
                model: g,
                whql_driver_id: h,
                other_attributes: other.into_iter().collect(),
                feature_scores: scores
                    .into_iter()
                    .map(|(operating_system, feature_score)| FeatureScore {
                        operating_system,
                        feature_score,
                    })
                    .collect(),
                distribution_computer_hardware_ids: dist,
                target_computer_hardware_ids: target,
            },
        )
}

fn file() -> impl Strategy<Value = FileMetadata> {
    (
        trimmed(),
        proptest::option::of(xml_text()),
        proptest::option::of(xml_text()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(xml_text()),
        proptest::option::of(xml_text()),
        proptest::collection::vec((xml_text(), trimmed()), 0..3),
    )
        .prop_map(
            |(digest, digest_algorithm, file_name, size, modified, patching_type, extra)| {
                FileMetadata {
                    digest,
                    digest_algorithm,
                    file_name,
                    size,
                    modified,
                    patching_type,
                    additional_digests: extra
                        .into_iter()
                        .map(|(algorithm, digest)| AdditionalDigest { algorithm, digest })
                        .collect(),
                }
            },
        )
}

fn token_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("<"),
        Just(">"),
        Just("</"),
        Just("/>"),
        Just("\""),
        Just("="),
        Just(" "),
        Just("&amp;"),
        Just("&#"),
        Just("&#x1;"),
        Just("&bogus;"),
        Just("<!DOCTYPE"),
        Just("<![CDATA["),
        Just("]]>"),
        Just("<!--"),
        Just("-->"),
        Just("<?"),
        Just("?>"),
        Just("UpdateIdentity"),
        Just(" UpdateID=\"A\""),
        Just(" RevisionNumber=\"1\""),
        Just("Relationships"),
        Just("Prerequisites"),
        Just("AtLeastOne"),
        Just("BundledUpdates"),
        Just("ApplicabilityRules"),
        Just("Metadata"),
        Just("d.WindowsDriverMetaData"),
        Just("ExtendedProperties"),
        Just("Files"),
        Just("File"),
        Just(" Digest=\"AA==\""),
        Just(" Size=\"x\""),
        Just("LocalizedProperties"),
        Just("Language"),
        Just("EulaFile"),
        Just("foo:"),
    ];
    proptest::collection::vec(token, 0..48).prop_map(|tokens| tokens.concat())
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        parse_all(&text);
    }

    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        parse_all(&text);
        let mut index = MetadataIndex::new();
        let _ = index.insert_core(1, &text);
        let _ = index.insert_extended(1, &text);
        let _ = index.is_leaf(1);
        let _ = index.bundled_members(1);
    }

    #[test]
    fn core_builder_round_trips(
        update_id in xml_text(),
        revision_number in any::<i32>(),
        update_type in update_type(),
        explicitly_deployable in proptest::option::of(any::<bool>()),
        auto_select in proptest::option::of(any::<bool>()),
        os_upgrade in proptest::option::of(xml_text()),
        eula_id in proptest::option::of(xml_text()),
        clauses in proptest::collection::vec(clause(), 0..4),
        bare in proptest::collection::vec((xml_text(), any::<i32>()), 0..3),
        group in proptest::collection::vec(identity(), 0..3),
        superseded in proptest::collection::vec(identity(), 0..3),
        installed in proptest::option::of(prop_oneof![Just(rules::TRUE.to_owned()), Just(rules::FALSE.to_owned()), Just(String::new())]),
        installable in proptest::option::of(xml_text().prop_map(|v| rules::element("b.RegSz", &[("Data", &v)]))),
        drivers in proptest::collection::vec(driver(), 0..3),
    ) {
        let mut builder = CoreFragmentBuilder::new(update_id.clone(), revision_number, update_type.clone());
        if let Some(v) = explicitly_deployable { builder = builder.explicitly_deployable(v); }
        if let Some(v) = auto_select { builder = builder.auto_select_on_web_sites(v); }
        if let Some(v) = &os_upgrade { builder = builder.os_upgrade(v.clone()); }
        if let Some(v) = &eula_id { builder = builder.eula_id(v.clone()); }
        for clause in &clauses { builder = builder.prerequisite_clause(clause.clone()); }
        for (id, number) in &bare { builder = builder.bundled_update(id.clone(), *number); }
        if !group.is_empty() { builder = builder.bundled_at_least_one(group.clone()); }
        for identity in &superseded { builder = builder.superseded(identity.clone()); }
        if let Some(rule) = &installed { builder = builder.is_installed(rule.clone()); }
        if let Some(rule) = &installable { builder = builder.is_installable(rule.clone()); }
        for driver in &drivers { builder = builder.driver(driver.clone()); }
        let text = builder.build();
        prop_assert_eq!(classify(&text), FragmentKind::Core);
        let core = parse_core(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&core.update_id, &update_id);
        prop_assert_eq!(core.revision_number, revision_number);
        prop_assert_eq!(&core.update_type, &update_type);
        prop_assert_eq!(core.explicitly_deployable, explicitly_deployable);
        prop_assert_eq!(core.auto_select_on_web_sites, auto_select);
        prop_assert_eq!(&core.os_upgrade, &os_upgrade);
        prop_assert_eq!(&core.eula_id, &eula_id);
        let expected_clauses: Vec<PrerequisiteClause> = clauses
            .iter()
            .map(|c| {
                let mut c = c.clone();
                // A one-member category clause can only be written as AtLeastOne.
                if c.is_category || c.update_ids.len() != 1 { c.at_least_one = true; }
                c
            })
            .collect();
        prop_assert_eq!(&core.prerequisites, &expected_clauses);
        let expected_bundled: Vec<UpdateIdentityRef> = bare
            .iter()
            .map(|(id, n)| UpdateIdentityRef::new(id.clone(), *n))
            .chain(group.iter().cloned())
            .collect();
        prop_assert_eq!(&core.bundled, &expected_bundled);
        prop_assert_eq!(&core.superseded, &superseded);
        prop_assert_eq!(&core.drivers, &drivers);
        match core.applicability_rules {
            None => prop_assert!(installed.is_none() && installable.is_none() && drivers.is_empty()),
            Some(rules) => {
                prop_assert_eq!(rules.is_installed, installed);
                prop_assert_eq!(rules.is_installable, installable);
                prop_assert_eq!(rules.is_superseded, None);
            }
        }
    }

    #[test]
    fn extended_builder_round_trips(
        properties in proptest::collection::btree_map(xml_name(), xml_text(), 0..5),
        files in proptest::collection::vec(file(), 0..4),
        handler in proptest::option::of((xml_text(), "(<X a=\"1\" />)?")),
    ) {
        let mut builder = ExtendedFragmentBuilder::new();
        for (name, value) in &properties { builder = builder.property(name.clone(), value.clone()); }
        for file in &files { builder = builder.file(file.clone()); }
        if let Some((data_type, inner)) = &handler {
            builder = builder.handler_specific_data(data_type.clone(), inner.clone());
        }
        let text = builder.build();
        prop_assert_eq!(classify(&text), FragmentKind::Extended);
        let extended = parse_extended(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let expected: Vec<(String, String)> = properties.into_iter().collect();
        prop_assert_eq!(&extended.properties, &expected);
        prop_assert_eq!(&extended.files, &files);
        match handler {
            None => prop_assert!(extended.handler_specific_data.is_none()),
            Some((data_type, inner)) => {
                let data = extended.handler_specific_data.clone().unwrap_or(HandlerSpecificData { data_type: None, inner_xml: String::new() });
                prop_assert_eq!(data.data_type, Some(data_type));
                prop_assert_eq!(data.inner_xml, inner);
            }
        }
    }

    #[test]
    fn localized_builder_round_trips(
        language in "[a-z]{2}(-[A-Z]{2})?",
        title in proptest::option::of(xml_text()),
        description in proptest::option::of(xml_text()),
        uninstall_notes in proptest::option::of(xml_text()),
        more_info_url in proptest::option::of(xml_text()),
        support_url in proptest::option::of(xml_text()),
        others in proptest::collection::vec(("Other[A-Za-z]{0,4}", xml_text()), 0..3),
    ) {
        let mut builder = LocalizedPropertiesBuilder::new(language.clone());
        if let Some(v) = &title { builder = builder.title(v.clone()); }
        if let Some(v) = &description { builder = builder.description(v.clone()); }
        if let Some(v) = &uninstall_notes { builder = builder.uninstall_notes(v.clone()); }
        if let Some(v) = &more_info_url { builder = builder.more_info_url(v.clone()); }
        if let Some(v) = &support_url { builder = builder.support_url(v.clone()); }
        for (name, value) in &others { builder = builder.other(name.clone(), value.clone()); }
        let text = builder.build();
        prop_assert_eq!(classify(&text), FragmentKind::LocalizedProperties);
        let localized = parse_localized(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(localized.language, language);
        prop_assert_eq!(localized.title, title);
        prop_assert_eq!(localized.description, description);
        prop_assert_eq!(localized.uninstall_notes, uninstall_notes);
        prop_assert_eq!(localized.more_info_url, more_info_url);
        prop_assert_eq!(localized.support_url, support_url);
        prop_assert_eq!(localized.others, others);
    }
}
