//! `Envelope::decode` on arbitrary bytes: never panics, and what it accepts re-encodes to the
//! exact input text (minus one leading BOM) and decodes again to an equal envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wusp::Envelope;

fuzz_target!(|data: &[u8]| {
    let Ok(env) = Envelope::decode(data) else {
        return;
    };
    let text = std::str::from_utf8(data).expect("decode accepted text that is not UTF-8");
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    assert_eq!(
        env.source_text(),
        Some(text),
        "source text is not the input"
    );

    let out = env.encode();
    assert_eq!(
        out, text,
        "decoded envelope does not re-encode byte for byte"
    );

    let back = Envelope::decode(out.as_bytes()).expect("re-encoded envelope does not decode");
    assert_eq!(back, env, "re-decoded envelope differs");
    assert_eq!(back.operation(), env.operation());
    // Decoding strips one leading BOM again (`text` may start with a second one).
    let once_more = out.strip_prefix('\u{feff}').unwrap_or(&out);
    assert_eq!(back.encode(), once_more, "second re-encoding differs");
    let copy = env.clone();
    assert_eq!(copy.encode(), out, "a clone encodes differently");
});
