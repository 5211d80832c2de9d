//! Xpress decoding of arbitrary bytes: `decode_with` and `decode_partial` never panic, stay
//! within the limits, and agree with each other.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wusp::xpress::{self, Limits};

/// Small limits so that a hostile header cannot make one run allocate much.
const LIMITS: Limits = Limits {
    max_output: 1 << 20,
    max_blocks: 4096,
};

fuzz_target!(|data: &[u8]| {
    let full = xpress::decode_with(data, &LIMITS);
    let (partial, err) = xpress::decode_partial(data, &LIMITS);
    assert!(
        partial.len() <= LIMITS.max_output,
        "partial output over the limit"
    );
    match &full {
        Ok(out) => {
            assert!(out.len() <= LIMITS.max_output, "output over the limit");
            assert_eq!(
                err, None,
                "decode succeeded but decode_partial reports an error"
            );
            assert_eq!(&partial, out, "decode_partial output differs from decode");
            // A body that decodes is a body whose blocks all decode: encoding the output
            // again must round-trip too.
            assert_eq!(xpress::decode(&xpress::encode(out)).as_ref(), Ok(out));
            // Cut short (a killed capture), the body decodes partially to a prefix of the
            // whole output: every byte kept is a byte the full decode produces.
            for cut in [data.len() / 2, data.len().saturating_sub(1), data.len() / 3] {
                let (head, _) = xpress::decode_partial(&data[..cut], &LIMITS);
                assert!(
                    out.starts_with(&head),
                    "partial decode of a cut body is no prefix"
                );
            }
        }
        Err(e) => {
            assert_eq!(
                err.as_ref(),
                Some(e),
                "decode_partial reports another error"
            );
        }
    }
    // `looks_like_xpress` is a cheap check on the same hostile input: it must not panic.
    let _ = xpress::looks_like_xpress(data);
    // The default limits give the same answer whenever the small ones were not the cause.
    if let Ok(out) = &full {
        assert_eq!(xpress::decode(data).as_ref(), Ok(out));
    }
});
