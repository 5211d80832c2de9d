//! Per-operation tests of the `wusp` message model.
//!
//! Every web method of reference section 2 gets, for its request and its response:
//!
//! - an **outline test**: a document hand-written from the reference (the section 8 spec
//!   examples where they exist, the native shapes of sections 1.2–1.4, 2.x and 3.x
//!   otherwise), decoded with [`wusp::Envelope::decode`], every field value asserted;
//! - a **round-trip test**: `decode(doc).encode() == doc` byte for byte, and for a message
//!   built in code, `decode(encode(x)) == x` on the typed value with stable bytes.
//!
//! `faults` covers section 4, `foreign` the foreign-document guarantee (prefixes, encoded
//! arrays, pretty printing, local `nil` prefixes, minimal edits) and `fuzz` feeds arbitrary
//! and mutated documents to the decoder.
//!

#[macro_use]
mod support;

mod content;
mod faults;
mod foreign;
mod fuzz;
mod handshake;
mod reporting;
mod sync;

/// Every fixture document of this suite, named; used by the round-trip sweep and the fuzzers.
fn all_documents() -> Vec<(&'static str, String)> {
    let mut docs = Vec::new();
    docs.extend(handshake::documents());
    docs.extend(sync::documents());
    docs.extend(content::documents());
    docs.extend(reporting::documents());
    docs.extend(faults::documents());
    docs
}

#[test]
fn every_fixture_document_round_trips_byte_for_byte() {
    let docs = all_documents();
    assert!(docs.len() >= 40, "only {} fixtures", docs.len());
    for (name, doc) in &docs {
        let env = wusp::Envelope::decode(doc.as_bytes())
            .unwrap_or_else(|e| panic!("{name}: decode failed: {e}"));
        assert_eq!(
            &env.encode(),
            doc,
            "{name}: decode → encode changed the bytes"
        );
    }
}
