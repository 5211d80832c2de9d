//! [`Timestamp`]: a UTC instant with microsecond precision, written as RFC 3339.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

/// A UTC instant with microsecond precision, written as `2026-11-25T10:00:00.000000Z`.
///
/// Construction truncates to whole microseconds and converts to UTC, so every value
/// survives a write and a read unchanged. Years outside 0000-9999 cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

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
        if !(0..=9999).contains(&self.0.year()) {
            return None;
        }
        self.0.format(FORMAT).ok()
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
        match self.to_rfc3339() {
            Some(text) => s.serialize_str(&text),
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
    fn unix_micros_round_trip() {
        let t = Timestamp::from_unix_micros(1_795_000_000_123_456).unwrap();
        assert_eq!(t.unix_micros(), 1_795_000_000_123_456);
        assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
    }
}
