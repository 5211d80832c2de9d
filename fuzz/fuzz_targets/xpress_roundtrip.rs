//! Xpress encoding of arbitrary bytes decodes back to them, in default and odd block sizes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wusp::xpress;

fuzz_target!(|data: &[u8]| {
    let body = xpress::encode(data);
    assert_eq!(
        xpress::decode(&body).as_deref(),
        Ok(data),
        "default block size does not round-trip"
    );
    // Every block is at most its input plus a header, so the body never grows much.
    let blocks = data.len().div_ceil(xpress::MAX_BLOCK);
    assert!(body.len() <= data.len() + 8 * blocks, "encoded body grew");
    if !data.is_empty() {
        assert!(
            xpress::looks_like_xpress(&body),
            "own output not recognized"
        );
    }

    // A block size from the first byte: small sizes stress block boundaries and stored
    // blocks, the larger ones the matcher's window.
    let Some((&first, _)) = data.split_first() else {
        return;
    };
    let block_size = match first {
        0 => 0, // clamped to 1
        1..=127 => usize::from(first),
        128..=191 => usize::from(first) * 64,
        192..=254 => 16352,
        255 => usize::MAX, // clamped to 65535
    };
    let body = xpress::encode_with_block_size(data, block_size);
    assert_eq!(
        xpress::decode(&body).as_deref(),
        Ok(data),
        "block size {block_size} does not round-trip"
    );
    let (partial, err) = xpress::decode_partial(&body, &xpress::Limits::default());
    assert_eq!(err, None);
    assert_eq!(partial, data);
    // A cut body decodes partially to a prefix of the data (without error only when the cut
    // falls between blocks: a body has no trailer).
    let cut = body.len() * usize::from(data.get(1).copied().unwrap_or(0)) / 256;
    let (head, err) = xpress::decode_partial(&body[..cut], &xpress::Limits::default());
    assert!(
        data.starts_with(&head),
        "partial decode of a cut body is no prefix"
    );
    if err.is_none() {
        assert_eq!(xpress::decode(&body[..cut]).as_ref(), Ok(&head));
    }
});
