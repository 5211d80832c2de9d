//! The `Range` request header for content downloads (reference 1.7, RFC 9110 section 14).
//!
//! One range is served as 206 with an exact `Content-Range`; several ranges (multipart
//! answers, which no Windows download agent asks for) and malformed values are ignored, as
//! the RFC allows, and the whole file is sent.

/// What a `Range` header asks of a file of a given size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RangeAnswer {
    /// Send the whole file (no header, a malformed one, or several ranges).
    Full,
    /// Send bytes `first..=last` (206).
    Partial {
        /// First byte offset.
        first: u64,
        /// Last byte offset, inclusive.
        last: u64,
    },
    /// No byte of the range is in the file (416, `Content-Range: bytes */size`).
    Unsatisfiable,
}

/// Reads a `Range` header value against a file of `size` bytes.
pub(super) fn answer(header: Option<&str>, size: u64) -> RangeAnswer {
    let Some(value) = header else {
        return RangeAnswer::Full;
    };
    let value = value.trim();
    let Some((unit, spec)) = value.split_once('=') else {
        return RangeAnswer::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeAnswer::Full;
    }
    let spec = spec.trim();
    if spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeAnswer::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    match (a.is_empty(), b.is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => match digits(b) {
            None => RangeAnswer::Full,
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(_) if size == 0 => RangeAnswer::Unsatisfiable,
            Some(n) => RangeAnswer::Partial {
                first: size.saturating_sub(n),
                last: size - 1,
            },
        },
        // bytes=a-: from a to the end.
        (false, true) => match digits(a) {
            Some(first) if first < size => RangeAnswer::Partial {
                first,
                last: size - 1,
            },
            Some(_) => RangeAnswer::Unsatisfiable,
            None => RangeAnswer::Full,
        },
        // bytes=a-b.
        (false, false) => match (digits(a), digits(b)) {
            (Some(first), Some(last)) if first <= last => {
                if first < size {
                    RangeAnswer::Partial {
                        first,
                        last: last.min(size - 1),
                    }
                } else {
                    RangeAnswer::Unsatisfiable
                }
            }
            _ => RangeAnswer::Full,
        },
        (true, true) => RangeAnswer::Full,
    }
}

/// A non-empty run of ASCII digits as a number (`None` on anything else or overflow).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::RangeAnswer::*;
    use super::*;

    #[test]
    fn single_ranges() {
        let p = |first, last| Partial { first, last };
        assert_eq!(answer(None, 10), Full);
        assert_eq!(answer(Some("bytes=0-0"), 10), p(0, 0));
        assert_eq!(answer(Some("bytes=9-9"), 10), p(9, 9));
        assert_eq!(answer(Some("bytes=2-5"), 10), p(2, 5));
        assert_eq!(answer(Some("bytes=2-500"), 10), p(2, 9), "last clamps");
        assert_eq!(answer(Some("bytes=4-"), 10), p(4, 9));
        assert_eq!(answer(Some("bytes=-3"), 10), p(7, 9));
        assert_eq!(
            answer(Some("bytes=-30"), 10),
            p(0, 9),
            "suffix longer than file"
        );
        assert_eq!(
            answer(Some("Bytes = 1-2"), 10),
            p(1, 2),
            "unit case, spaces"
        );
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(answer(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(answer(Some("bytes=10-20"), 10), Unsatisfiable);
        assert_eq!(answer(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(answer(Some("bytes=-5"), 0), Unsatisfiable);
        assert_eq!(answer(Some("bytes=0-"), 0), Unsatisfiable);
    }

    #[test]
    fn ignored_ranges_send_everything() {
        for v in [
            "bytes=5-2",
            "bytes=a-b",
            "bytes=-",
            "bytes=1-2,4-5",
            "items=1-2",
            "bytes",
            "bytes=1",
            "bytes=+1-2",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(answer(Some(v), 10), Full, "{v}");
        }
    }
}
