//! Deterministic "random" values: every byte is derived from a fixed seed and a label.
//!
//! Nothing here reads a clock or the operating system's random source, so the samples come
//! out byte-identical on every run and every machine.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

/// The seed every derived value starts from. Changing it changes every sample byte.
const SEED: &[u8] = b"wutap-samples/v1";

/// `len` bytes derived from the label: SHA-256 of seed, label and a block counter, concatenated.
pub(crate) fn bytes(label: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter: u32 = 0;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(SEED);
        h.update([0]);
        h.update(label.as_bytes());
        h.update([0]);
        h.update(counter.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// A number in `lo..=hi` derived from the label.
pub(crate) fn range(label: &str, lo: u64, hi: u64) -> u64 {
    let b = bytes(label, 8);
    let mut n = [0u8; 8];
    n.copy_from_slice(&b);
    lo + u64::from_be_bytes(n) % (hi - lo + 1)
}

/// A version-4 style GUID in lower case, derived from the label.
pub(crate) fn guid(label: &str) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&bytes(&format!("guid/{label}"), 16));
    wusp::values::Guid::v4_from_bytes(b).0
}

/// Standard base64 of `len` derived bytes.
pub(crate) fn base64(label: &str, len: usize) -> String {
    STANDARD.encode(bytes(label, len))
}

/// Upper-case hex of bytes.
pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_stable_and_distinct() {
        assert_eq!(bytes("a", 40), bytes("a", 40));
        assert_eq!(&bytes("a", 40)[..32], &bytes("a", 32)[..]);
        assert_ne!(bytes("a", 8), bytes("b", 8));
        let g = guid("x");
        assert!(wusp::values::is_guid(&g));
        assert_eq!(&g[14..15], "4");
        assert_eq!(g, g.to_ascii_lowercase());
        for i in 0..50 {
            let n = range(&format!("r{i}"), 3, 7);
            assert!((3..=7).contains(&n));
        }
        assert_eq!(hex_upper(&[0x0a, 0xff]), "0AFF");
    }
}
