//! Envelope-level tests: native shapes, spec shapes, patching.

use super::*;
use crate::Field;
use crate::messages::*;
use crate::types::*;
use crate::values::*;

const NATIVE_SYNC: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><SyncUpdates xmlns="http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService"><cookie><Expiration>2026-10-04T17:03:35.9967236Z</Expiration><EncryptedData>AAECAwQ=</EncryptedData></cookie><parameters><ExpressQuery>false</ExpressQuery><InstalledNonLeafUpdateIDs><int>108226</int><int>108231</int></InstalledNonLeafUpdateIDs><OtherCachedUpdateIDs><int>5</int></OtherCachedUpdateIDs><SkipSoftwareSync>false</SkipSoftwareSync><NeedTwoGroupOutOfScopeUpdates>true</NeedTwoGroupOutOfScopeUpdates><AlsoPerformRegularSync>true</AlsoPerformRegularSync><ComputerSpec/><FeatureScoreMatchingKey>AMD64.10.0</FeatureScoreMatchingKey><ProductsParameters><SyncCurrentVersionOnly>false</SyncCurrentVersionOnly><DeviceAttributes>E:App=WU;OSVersion=10.0.26200</DeviceAttributes><CallerAttributes>Interactive=0;</CallerAttributes><Products/></ProductsParameters><FutureNativeElement a="1"><x>y</x></FutureNativeElement></parameters></SyncUpdates></s:Body></s:Envelope>"#;

const DECLARED_AUTH: &str = r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body><GetAuthorizationCookieResponse xmlns="http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService"><GetAuthorizationCookieResult><PlugInId>SimpleTargeting</PlugInId><CookieData>q83vEjRWeJA=</CookieData></GetAuthorizationCookieResult></GetAuthorizationCookieResponse></soap:Body></soap:Envelope>"#;

const SPEC_SYNC: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <soap:Body>
    <SyncUpdates xmlns="http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService">
      <cookie>
        <Expiration>2006-05-17T16:16:38Z</Expiration>
        <EncryptedData>AAAA</EncryptedData>
      </cookie>
      <parameters>
        <ExpressQuery>false</ExpressQuery>
        <InstalledNonLeafUpdateIDs soapenc:arrayType="xsd:int[1]"><int>109</int></InstalledNonLeafUpdateIDs>
        <OtherCachedUpdateIDs xsi:nil="1" />
        <SystemSpec xsi:nil="true" />
        <CachedDriverIDs xsi:nil="1" />
        <SkipSoftwareSync>false</SkipSoftwareSync>
      </parameters>
    </SyncUpdates>
  </soap:Body>
</soap:Envelope>
"#;

fn sync(env: &Envelope) -> &SyncUpdates {
    match &env.body {
        Body::Request(Request::SyncUpdates(s)) => s,
        other => panic!("not SyncUpdates: {other:?}"),
    }
}

#[test]
fn native_request_decodes_with_values_and_round_trips() {
    let env = Envelope::decode(NATIVE_SYNC.as_bytes()).unwrap();
    assert_eq!(env.operation(), Some(Operation::SyncUpdates));
    let s = sync(&env);
    let p = s.parameters.value().unwrap();
    assert_eq!(p.installed_non_leaf_update_ids.items(), &[108226, 108231]);
    assert_eq!(p.other_cached_update_ids.items(), &[5]);
    assert_eq!(p.express_query, Field::Value(false));
    assert!(p.system_spec.is_absent());
    assert_eq!(p.computer_spec, Field::Empty);
    assert_eq!(
        p.feature_score_matching_key.value().map(String::as_str),
        Some("AMD64.10.0")
    );
    let cookie = s.cookie.value().unwrap();
    assert_eq!(
        cookie.encrypted_data.value().unwrap().bytes().unwrap(),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(env.encode(), NATIVE_SYNC);
}

#[test]
fn declared_soap_prefix_round_trips() {
    let env = Envelope::decode(DECLARED_AUTH.as_bytes()).unwrap();
    let Body::Response(Response::GetAuthorizationCookie(r)) = &env.body else {
        panic!()
    };
    let c = r.result.value().unwrap();
    assert_eq!(c.plug_in_id.value().unwrap(), "SimpleTargeting");
    assert_eq!(env.encode(), DECLARED_AUTH);
}

#[test]
fn spec_encoded_arrays_nil_and_whitespace_round_trip() {
    let env = Envelope::decode(SPEC_SYNC.as_bytes()).unwrap();
    let p = sync(&env).parameters.value().unwrap().clone();
    assert_eq!(p.installed_non_leaf_update_ids.items(), &[109]);
    assert_eq!(p.other_cached_update_ids, Field::Nil);
    assert_eq!(p.system_spec, Field::Nil);
    assert_eq!(env.encode(), SPEC_SYNC);
}

#[test]
fn editing_one_field_changes_only_that_element() {
    let mut env = Envelope::decode(NATIVE_SYNC.as_bytes()).unwrap();
    let Body::Request(Request::SyncUpdates(s)) = &mut env.body else {
        panic!()
    };
    let p = s.parameters.value_mut().unwrap();
    p.other_cached_update_ids.set_items(vec![5, 6, 7]);
    let out = env.encode();
    let expected = NATIVE_SYNC.replace(
        "<OtherCachedUpdateIDs><int>5</int></OtherCachedUpdateIDs>",
        "<OtherCachedUpdateIDs><int>5</int><int>6</int><int>7</int></OtherCachedUpdateIDs>",
    );
    assert_eq!(out, expected);

    // A field absent in the source is inserted at its schema position.
    let Body::Request(Request::SyncUpdates(s)) = &mut env.body else {
        panic!()
    };
    let p = s.parameters.value_mut().unwrap();
    p.cached_driver_ids.set_items(vec![9]);
    let out = env.encode();
    assert!(out.contains("<int>7</int></OtherCachedUpdateIDs><CachedDriverIDs><int>9</int></CachedDriverIDs><SkipSoftwareSync>"), "{out}");
    // The unknown native element is still there, in place.
    assert!(out.contains("<Products/></ProductsParameters><FutureNativeElement a=\"1\"><x>y</x></FutureNativeElement></parameters>"));
}

#[test]
fn cookie_moved_between_documents_is_written_fresh_or_verbatim_correctly() {
    let resp = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><GetCookieResponse xmlns="http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService"><GetCookieResult><Expiration>2026-10-04T18:03:35Z</Expiration><EncryptedData>BBBB</EncryptedData></GetCookieResult></GetCookieResponse></s:Body></s:Envelope>"#;
    let r = Envelope::decode(resp.as_bytes()).unwrap();
    let Body::Response(Response::GetCookie(gc)) = r.body else {
        panic!()
    };
    let mut env = Envelope::decode(NATIVE_SYNC.as_bytes()).unwrap();
    let Body::Request(Request::SyncUpdates(s)) = &mut env.body else {
        panic!()
    };
    s.cookie = gc.result.clone();
    let out = env.encode();
    assert!(out.contains("<cookie><Expiration>2026-10-04T18:03:35Z</Expiration><EncryptedData>BBBB</EncryptedData></cookie>"), "{out}");
    let back = Envelope::decode(out.as_bytes()).unwrap();
    assert_eq!(sync(&back).cookie, gc.result);
}

#[test]
fn built_messages_encode_canonically_and_decode_back_equal() {
    let req = SyncUpdates {
        cookie: Cookie {
            expiration: DateTime("2026-10-04T17:03:35Z".into()).into(),
            encrypted_data: Base64::encode(b"state").into(),
            ..Default::default()
        }
        .into(),
        parameters: SyncUpdateParameters {
            express_query: false.into(),
            installed_non_leaf_update_ids: Field::Value(vec![1, 2]),
            other_cached_update_ids: Field::Empty,
            skip_software_sync: false.into(),
            ..Default::default()
        }
        .into(),
        ..Default::default()
    };
    let env = Envelope::request(req.clone());
    let xml = env.encode();
    assert!(
        xml.starts_with(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body"
        )
    );
    assert!(xml.contains("<SyncUpdates xmlns=\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService\"><cookie><Expiration>"));
    let back = Envelope::decode(xml.as_bytes()).unwrap();
    assert_eq!(sync(&back), &req);
    // Emitted documents round-trip byte for byte.
    assert_eq!(back.encode(), xml);
}

#[test]
fn fault_built_and_decoded() {
    let f = Fault::wsus(
        ErrorCode::InvalidParameters,
        "parameters.InstalledNonLeafUpdateIDs",
        Guid("1b2c3d4e-0000-4000-8000-000000000001".into()),
        Some(Operation::SyncUpdates),
    );
    let xml = Envelope::fault(f.clone()).encode();
    assert!(xml.contains("<s:Fault><faultcode>s:Client</faultcode><faultstring>Fault occurred</faultstring><detail><ErrorCode>InvalidParameters</ErrorCode>"), "{xml}");
    let back = Envelope::decode(xml.as_bytes()).unwrap();
    let Body::Fault(g) = &back.body else { panic!() };
    assert_eq!(g, &f);
    assert_eq!(g.error_code(), Some(&ErrorCode::InvalidParameters));
}

#[test]
fn invalid_values_are_kept_not_fatal() {
    let doc = NATIVE_SYNC
        .replace("<int>5</int>", "<int>five</int>")
        .replace(
            "<ExpressQuery>false</ExpressQuery>",
            "<ExpressQuery>maybe</ExpressQuery>",
        );
    // An invalid array item makes the whole array Invalid (kept as written); the rest decodes.
    let env = Envelope::decode(doc.as_bytes()).unwrap();
    let p = sync(&env).parameters.value().unwrap();
    assert_eq!(
        p.other_cached_update_ids,
        Field::Invalid("<int>five</int>".into())
    );
    assert_eq!(p.installed_non_leaf_update_ids.items(), &[108226, 108231]);
    assert_eq!(env.encode(), doc);
    let doc = NATIVE_SYNC.replace(
        "<ExpressQuery>false</ExpressQuery>",
        "<ExpressQuery>maybe</ExpressQuery>",
    );
    let env = Envelope::decode(doc.as_bytes()).unwrap();
    let p = sync(&env).parameters.value().unwrap();
    assert_eq!(p.express_query, Field::Invalid("maybe".into()));
    assert_eq!(env.encode(), doc);
}

#[test]
fn hostile_input_is_refused_with_location() {
    let dtd = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&e;</s:Body></s:Envelope>"#;
    assert!(matches!(
        Envelope::decode(dtd.as_bytes()),
        Err(Error::Dtd { .. })
    ));
    let ent = NATIVE_SYNC.replace("AMD64.10.0", "&xxe;");
    match Envelope::decode(ent.as_bytes()) {
        Err(Error::Entity { name, at }) => {
            assert_eq!(name, "xxe");
            assert!(
                at.path.ends_with("parameters/FeatureScoreMatchingKey"),
                "{}",
                at.path
            );
        }
        other => panic!("{other:?}"),
    }
    let deep = format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{}{}</s:Body></s:Envelope>",
        "<a>".repeat(1000),
        "</a>".repeat(1000)
    );
    assert!(matches!(
        Envelope::decode(deep.as_bytes()),
        Err(Error::Limit {
            what: "nesting depth",
            ..
        })
    ));
    let cut = &NATIVE_SYNC[..NATIVE_SYNC.len() / 2];
    let err = Envelope::decode(cut.as_bytes()).unwrap_err();
    assert!(err.location().is_some(), "{err}");
    let limits = Limits {
        max_body: 100,
        ..Limits::default()
    };
    assert!(matches!(
        Envelope::decode_with(NATIVE_SYNC.as_bytes(), &limits),
        Err(Error::Limit {
            what: "body size",
            ..
        })
    ));
}

/// Fuzz crash (soap_decode): "decoded envelope does not re-encode byte for byte" for a
/// message element with only whitespace inside. A message root or Fault without child
/// elements decodes to the default value, which has no source to patch, so it was written in
/// canonical form: even WSUS's own `<RegisterComputerResponse .../>` came back as a start and
/// end tag. The envelope now copies such a body element as written while it is unchanged.
#[test]
fn message_without_children_round_trips_byte_for_byte() {
    let head = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#;
    let cws = crate::ops::NS_CLIENT;
    for body in [
        format!(r#"<RegisterComputerResponse xmlns="{cws}"/>"#),
        format!("<SyncUpdates xmlns=\"{cws}\">\n     </SyncUpdates>"),
        format!(r#"<SyncUpdates xmlns="{cws}" xsi:nil="true"><cookie/></SyncUpdates>"#),
        format!(r#"<SyncUpdates xmlns="{cws}"><!-- nothing --></SyncUpdates>"#),
        "<s:Fault />".to_string(),
        "<s:Fault>text</s:Fault>".to_string(),
    ] {
        let doc = format!("{head}{body}</s:Body></s:Envelope>");
        let env = Envelope::decode(doc.as_bytes()).unwrap();
        assert_eq!(env.encode(), doc);
        assert_eq!(Envelope::decode(env.encode().as_bytes()).unwrap(), env);
    }
    // Once edited, the new field is inserted and the existing whitespace kept.
    let doc = format!("{head}<SyncUpdates xmlns=\"{cws}\"> </SyncUpdates></s:Body></s:Envelope>");
    let mut env = Envelope::decode(doc.as_bytes()).unwrap();
    let Body::Request(Request::SyncUpdates(s)) = &mut env.body else {
        panic!()
    };
    s.parameters = Field::Empty;
    assert!(env.encode().contains("<SyncUpdates xmlns=\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService\"><parameters /> </SyncUpdates>"), "{}", env.encode());
}

fn foreign(xml: &str) -> Option<(String, String)> {
    let env = Envelope::decode(xml.as_bytes()).expect("decodes");
    env.foreign_element.map(|f| (f.qname, f.namespace))
}

#[test]
fn foreign_element_is_none_when_the_body_stays_in_its_namespace() {
    // FutureNativeElement is skipped by the typed decoding, in the service's namespace.
    assert_eq!(foreign(NATIVE_SYNC), None);
    assert_eq!(foreign(DECLARED_AUTH), None);
    assert_eq!(foreign(SPEC_SYNC), None);
}

#[test]
fn foreign_element_is_found_in_typed_and_skipped_elements() {
    let typed = NATIVE_SYNC.replace("<ExpressQuery>", "<o:ExpressQuery xmlns:o=\"urn:other\">");
    let typed = typed.replace("false</ExpressQuery>", "false</o:ExpressQuery>");
    assert_eq!(
        foreign(&typed),
        Some(("o:ExpressQuery".into(), "urn:other".into()))
    );
    // Inside an element the model skips: found all the same, the first one in document order.
    let skipped = NATIVE_SYNC.replace(
        "<x>y</x>",
        "<x xmlns=\"urn:deep\">y</x><z xmlns=\"urn:later\" />",
    );
    assert_eq!(foreign(&skipped), Some(("x".into(), "urn:deep".into())));
    // An unqualified element (xmlns="") has no namespace.
    let unqualified = NATIVE_SYNC.replace("<x>y</x>", "<x xmlns=\"\">y</x>");
    assert_eq!(foreign(&unqualified), Some(("x".into(), String::new())));
}

#[test]
fn watching_for_foreign_elements_changes_no_decoding() {
    // A plain skip does not read attributes, so a bad one in a skipped element is no error.
    let bad_attr = NATIVE_SYNC.replace("<x>y</x>", "<x b=1>y</x>");
    let env = Envelope::decode(bad_attr.as_bytes()).expect("decodes");
    assert_eq!(env.foreign_element, None);
    assert_eq!(env.encode(), bad_attr);
    // A bad attribute on an element the model reads stays an error.
    let bad_typed = NATIVE_SYNC.replace("<ExpressQuery>", "<ExpressQuery a=1>");
    assert!(Envelope::decode(bad_typed.as_bytes()).is_err());
}

#[test]
fn decode_values_gives_the_values_of_decode_without_a_source() {
    for doc in [NATIVE_SYNC, DECLARED_AUTH, SPEC_SYNC] {
        let full = Envelope::decode(doc.as_bytes()).expect("decodes");
        let values = Envelope::decode_values(doc.as_bytes()).expect("decodes");
        assert_eq!(values, full);
        assert_eq!(values.foreign_element, full.foreign_element);
        assert!(full.source_text().is_some());
        assert_eq!(values.source_text(), None);
        // Without a source it is written anew, in canonical form, with the same values.
        assert_eq!(
            Envelope::decode(values.encode().as_bytes()).expect("re-decodes"),
            full
        );
    }
    let cut = &NATIVE_SYNC[..NATIVE_SYNC.len() / 2];
    assert!(Envelope::decode_values(cut.as_bytes()).is_err());
}
