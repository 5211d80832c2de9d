//! [`Timestamp`]: a UTC instant with microsecond precision, written as RFC 3339.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

/// A UTC instant with microsecond precision, written as `2026-11-25T10:00:00.000000Z`.
///
/// Construction truncates to whole microseconds and converts to UTC, so every value
/// survives a write and a read unchanged. Years outside 0000-9999 cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// Converts to UTC and truncates to whole microseconds.
    pub fn from_datetime(t: OffsetDateTime) -> Self {
        let t = t.to_offset(UtcOffset::UTC);
        let micros_ns = t.nanosecond() / 1_000 * 1_000;
        // replace_nanosecond only fails for values >= 1e9, which micros_ns never is.
        Self(t.replace_nanosecond(micros_ns).unwrap_or(t))
    }

    /// Microseconds since the Unix epoch, or `None` outside the supported range.
    pub fn from_unix_micros(micros: i64) -> Option<Self> {
        let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()?;
        Some(Self(t))
    }

    /// Microseconds since the Unix epoch.
    pub fn unix_micros(self) -> i64 {
        (self.0.unix_timestamp_nanos() / 1_000) as i64
    }

    /// The instant as a `time` value (always UTC).
    pub fn datetime(self) -> OffsetDateTime {
        self.0
    }

    /// Parses any RFC 3339 time (any offset, any number of fraction digits).
    pub fn parse(text: &str) -> Option<Self> {
        OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .map(Self::from_datetime)
    }

    /// This instant plus a signed duration, or `None` if that leaves the supported range.
    pub fn checked_add(self, d: Duration) -> Option<Self> {
        self.0.checked_add(d).map(Self::from_datetime)
    }

    /// `self - earlier`, as a duration (negative if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> Duration {
        self.0 - earlier.0
    }

    /// The RFC 3339 text, or `None` for years outside 0000-9999.
    pub fn to_rfc3339(self) -> Option<String> {
        let text = self.rfc3339_bytes()?;
        std::str::from_utf8(&text).ok().map(str::to_owned)
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` as bytes, digits written by hand: `time`'s formatter
    /// was a few percent of the proxy's CPU with four timestamps in each record.
    fn rfc3339_bytes(self) -> Option<[u8; 27]> {
        let (year, month, day) = self.0.to_calendar_date();
        let year = u32::try_from(year).ok().filter(|y| *y <= 9999)?;
        let (hour, minute, second, micro) = self.0.to_hms_micro();
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        digits(&mut b[0..4], year);
        digits(&mut b[5..7], u32::from(u8::from(month)));
        digits(&mut b[8..10], u32::from(day));
        digits(&mut b[11..13], u32::from(hour));
        digits(&mut b[14..16], u32::from(minute));
        digits(&mut b[17..19], u32::from(second));
        digits(&mut b[20..26], micro);
        Some(b)
    }
}

/// Writes `v` in decimal into all of `out`, zero-padded (the digits above fall away).
fn digits(out: &mut [u8], mut v: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        Self::from_datetime(t)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_rfc3339() {
            Some(s) => f.write_str(&s),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.rfc3339_bytes() {
            Some(text) => {
                s.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?)
            }
            None => Err(serde::ser::Error::custom(format!(
                "timestamp {} is outside years 0000-9999",
                self.0
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 timestamp: {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_six_digits_utc_and_reads_offsets() {
        let t = Timestamp::parse("2026-11-25T11:00:00.1234567+01:00").unwrap();
        assert_eq!(t.to_rfc3339().unwrap(), "2026-11-25T10:00:00.123456Z");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-11-25T10:00:00.123456Z\"");
        let back: Timestamp = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }

    #[test]
    fn hand_written_digits_are_what_the_time_formatter_writes() {
        let format = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        let mut micros: i64 = -62_167_219_200_000_000; // 0000-01-01T00:00:00Z
        let end: i64 = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z
        let step = (end - micros) / 20_011;
        while micros <= end {
            let t = Timestamp::from_unix_micros(micros).unwrap();
            assert_eq!(t.to_rfc3339().unwrap(), t.0.format(format).unwrap());
            micros += step;
        }
        for text in ["1970-01-01T00:00:00.000001Z", "2024-02-29T23:59:59.999999Z"] {
            assert_eq!(Timestamp::parse(text).unwrap().to_rfc3339().unwrap(), text);
        }
        // Beyond year 9999 `time` itself has no value (no large-dates feature).
        assert!(Timestamp::from_unix_micros(end + 1).is_none());
    }

    #[test]
    fn unix_micros_round_trip() {
        let t = Timestamp::from_unix_micros(1_795_000_000_123_456).unwrap();
        assert_eq!(t.unix_micros(), 1_795_000_000_123_456);
        assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
    }
}
