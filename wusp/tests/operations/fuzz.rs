//! Arbitrary bytes and mutated fixtures fed to `Envelope::decode`: it never panics, a
//! truncated document is always an error with a location, and whatever decodes encodes back
//! to the same bytes.

use proptest::prelude::*;
use proptest::sample::Index;
use wusp::{Envelope, Error};

use crate::support::*;

fn fixtures() -> Vec<String> {
    crate::all_documents().into_iter().map(|(_, d)| d).collect()
}

fn fixture() -> impl Strategy<Value = String> {
    proptest::sample::select(fixtures())
}

/// Where the root element ends (fixtures may end with a newline after it).
fn root_end(doc: &str) -> usize {
    doc.trim_end().len()
}

/// Decoding must not panic; when it succeeds, the envelope must encode back to the input.
fn check_decode(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(env) = Envelope::decode(bytes) {
        let out = env.encode();
        prop_assert_eq!(
            out.as_bytes(),
            bytes,
            "an accepted document did not round-trip"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Envelope::decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_markup_soup(
        soup in "[<>/=\"' a-zA-Z:!?&;#x0-9\\[\\]\\-]{0,400}",
        wrap in any::<bool>(),
    ) {
        let doc = if wrap { native_request(&soup) } else { soup };
        check_decode(doc.as_bytes())?;
    }

    #[test]
    fn truncated_fixture_fails_with_a_location((doc, cut) in (fixture(), any::<Index>())) {
        prop_assume!(doc.is_ascii());
        let cut = cut.index(root_end(&doc));
        match Envelope::decode(&doc.as_bytes()[..cut]) {
            Ok(_) => prop_assert!(false, "a document cut at byte {} decoded", cut),
            Err(e) => prop_assert!(e.location().is_some(), "cut at {}: {:?} has no location", cut, e),
        }
    }

    #[test]
    fn byte_flips_never_panic_and_accepted_results_round_trip(
        (doc, flips) in (fixture(), proptest::collection::vec((any::<Index>(), any::<u8>()), 1..5)),
    ) {
        let mut bytes = doc.into_bytes();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        check_decode(&bytes)?;
    }

    #[test]
    fn ascii_flips_never_panic_and_accepted_results_round_trip(
        (doc, flips) in (fixture(), proptest::collection::vec((any::<Index>(), proptest::sample::select(b"<>/=\"' :&;#x0aZ\r\n\t".to_vec())), 1..4)),
    ) {
        let mut bytes = doc.into_bytes();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        check_decode(&bytes)?;
    }

    #[test]
    fn splices_never_panic_and_accepted_results_round_trip(
        (doc, at, cut, insert) in (
            fixture(),
            any::<Index>(),
            0usize..24,
            proptest::collection::vec(proptest::sample::select(b"<>/=\"' :&;#xa0".to_vec()), 0..8),
        ),
    ) {
        let mut bytes = doc.into_bytes();
        let i = at.index(bytes.len());
        let j = (i + cut).min(bytes.len());
        bytes.splice(i..j, insert);
        check_decode(&bytes)?;
    }
}

#[test]
fn every_truncation_of_the_short_fixtures_fails_with_a_location() {
    let mut checked = 0;
    for doc in fixtures().into_iter().filter(|d| d.len() < 1500) {
        assert!(doc.is_ascii());
        for cut in 0..root_end(&doc) {
            let err = Envelope::decode(&doc.as_bytes()[..cut])
                .err()
                .unwrap_or_else(|| panic!("cut at {cut} decoded: {doc}"));
            assert!(err.location().is_some(), "cut at {cut}: {err:?}");
            checked += 1;
        }
    }
    assert!(checked > 5000, "{checked}");
}

#[test]
fn truncation_inside_a_multibyte_character_has_a_location() {
    let doc = native_response(&format!(
        "<GetExtendedUpdateInfoResponse xmlns=\"{CWS}\"><GetExtendedUpdateInfoResult><Updates><Update><ID>108412</ID><Xml>&lt;LocalizedProperties&gt;&lt;Language&gt;en&lt;/Language&gt;&lt;Title&gt;Microsoft® Windows® 11 Feature Update&lt;/Title&gt;&lt;/LocalizedProperties&gt;</Xml></Update></Updates></GetExtendedUpdateInfoResult></GetExtendedUpdateInfoResponse>"
    ));
    decode_exact(&doc);
    let cut = doc.find('®').unwrap() + 1;
    let err = Envelope::decode(&doc.as_bytes()[..cut]).unwrap_err();
    assert!(matches!(err, Error::Utf8 { .. }), "{err:?}");
    assert!(err.location().is_some(), "{err:?}");
}
