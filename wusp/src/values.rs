//! Simple value types of the protocol: GUIDs, times, base64, escaped XML fragments, enumerations.
//!
//! Each keeps its wire text, so a value decoded from a document is written back exactly as it
//! was; typed accessors parse on demand.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use time::OffsetDateTime;

use crate::error::Result;
use crate::xml::{
    Decoder, Encoder, Field, Scalar, Start, XmlValue, check_escapes, escape_text, unescape,
};

/// A GUID as written on the wire (`s2:guid`, no braces); compare with [`Guid::eq_ignore_case`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Guid(pub String);

impl Guid {
    /// A version-4 GUID in lower case from 16 random (or derived) bytes: the version and
    /// variant bits are set, the rest is kept.
    pub fn v4_from_bytes(bytes: [u8; 16]) -> Self {
        Guid(
            uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .hyphenated()
                .to_string(),
        )
    }
    /// The all-zero GUID (used by reporting events that are not about an update).
    pub fn zero() -> Self {
        Guid("00000000-0000-0000-0000-000000000000".into())
    }
    /// True when the text matches the GUID pattern of §2.2.4.1.
    pub fn is_well_formed(&self) -> bool {
        is_guid(&self.0)
    }
    /// The GUID in lower case (the form to use as a key).
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }
    /// Case-insensitive comparison (GUIDs appear in mixed case).
    pub fn eq_ignore_case(&self, other: &Guid) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Guid {
    fn from(s: &str) -> Self {
        Guid(s.to_string())
    }
}

/// True when `s` is `8-4-4-4-12` hex digits.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

impl Scalar for Guid {
    fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        is_guid(t).then(|| Guid(t.to_string()))
    }
    fn format(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.0)
    }
    const WSDL_TYPE: Option<&'static str> = Some("s2:guid");
}

/// An `xs:dateTime` as written (UTC with `Z` and 0–7 fractional digits on the wire).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct DateTime(pub String);

impl DateTime {
    /// The instant; accepts 0–9 fractional digits, `Z`, an offset, or no zone (read as UTC).
    pub fn instant(&self) -> Option<OffsetDateTime> {
        parse_datetime(&self.0)
    }
    /// Formats an instant as .NET does for UTC values: up to 7 fractional digits, trailing zeros dropped, `Z`.
    pub fn from_instant(t: OffsetDateTime) -> Self {
        let t = t.to_offset(time::UtcOffset::UTC);
        let frac = t.nanosecond() / 100;
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        if frac != 0 {
            let digits = format!("{frac:07}");
            s.push('.');
            s.push_str(digits.trim_end_matches('0'));
        }
        s.push('Z');
        DateTime(s)
    }
    /// Same instant (times written differently compare equal here).
    pub fn same_instant(&self, other: &DateTime) -> bool {
        match (self.instant(), other.instant()) {
            (Some(a), Some(b)) => a == b,
            _ => self.0 == other.0,
        }
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    let (date, rest) = s.split_once('T')?;
    let mut dp = date.splitn(3, '-');
    let year: i32 = dp.next()?.parse().ok()?;
    let month: u8 = dp.next()?.parse().ok()?;
    let day: u8 = dp.next()?.parse().ok()?;
    let (clock, offset) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0i32)
    } else if let Some(i) = rest.rfind(['+', '-']).filter(|i| *i >= 8) {
        let (c, off) = rest.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':')?;
        (
            c,
            sign * (h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60),
        )
    } else {
        (rest, 0)
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((a, f)) => (a, f),
        None => (clock, ""),
    };
    let mut hp = hms.splitn(3, ':');
    let hour: u8 = hp.next()?.parse().ok()?;
    let minute: u8 = hp.next()?.parse().ok()?;
    let second: u8 = hp.next()?.parse().ok()?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        // At most nine digits (checked above): the value times the missing powers of ten.
        frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32)
    };
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let clock = time::Time::from_hms_nano(hour, minute, second, nanos).ok()?;
    let off = time::UtcOffset::from_whole_seconds(offset).ok()?;
    Some(time::PrimitiveDateTime::new(date, clock).assume_offset(off))
}

impl Scalar for DateTime {
    fn parse(text: &str) -> Option<Self> {
        parse_datetime(text).map(|_| DateTime(text.trim().to_string()))
    }
    fn format(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.0)
    }
    const WSDL_TYPE: Option<&'static str> = Some("xs:dateTime");
    /// Lexical `xs:dateTime` forms wusp's instant parsing rejects: more than 9 fractional
    /// digits, negative or 5-digit years, `24:00:00`.
    fn wsdl_accepts(text: &str) -> bool {
        is_xsd_datetime(text.trim())
    }
}

/// True when `s` has the lexical form of `xs:dateTime`:
/// `-?YYYY-MM-DDThh:mm:ss(.s+)?(Z|(+|-)hh:mm)?` with fields in range (days up to 31
/// whatever the month; `24:00:00` allowed).
fn is_xsd_datetime(s: &str) -> bool {
    fn digits(s: &str, n: usize) -> Option<(u32, &str)> {
        let d = s.get(..n)?;
        d.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| (d.parse().ok(), &s[n..]))
            .and_then(|(v, rest)| v.map(|v| (v, rest)))
    }
    fn check(s: &str) -> Option<()> {
        let s = s.strip_prefix('-').unwrap_or(s);
        let year_len = s.bytes().take_while(u8::is_ascii_digit).count();
        if year_len < 4 || (year_len > 4 && s.starts_with('0')) {
            return None;
        }
        let s = s[year_len..].strip_prefix('-')?;
        let (month, s) = digits(s, 2)?;
        let (day, s) = digits(s.strip_prefix('-')?, 2)?;
        let (hour, s) = digits(s.strip_prefix('T')?, 2)?;
        let (minute, s) = digits(s.strip_prefix(':')?, 2)?;
        let (second, mut s) = digits(s.strip_prefix(':')?, 2)?;
        let mut fraction_zero = true;
        if let Some(f) = s.strip_prefix('.') {
            let n = f.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            fraction_zero = f[..n].bytes().all(|b| b == b'0');
            s = &f[n..];
        }
        match s {
            "" | "Z" => {}
            _ => {
                let z = s.strip_prefix(['+', '-'])?;
                let (zh, z) = digits(z, 2)?;
                let (zm, z) = digits(z.strip_prefix(':')?, 2)?;
                if !z.is_empty() || zm > 59 || zh > 14 || (zh == 14 && zm != 0) {
                    return None;
                }
            }
        }
        let midnight = hour == 24 && minute == 0 && second == 0 && fraction_zero;
        ((1..=12).contains(&month)
            && (1..=31).contains(&day)
            && (hour < 24 || midnight)
            && minute < 60
            && second < 60)
            .then_some(())
    }
    check(s).is_some()
}

/// A date (`Deployment/LastChangeTime`, `yyyy-mm-dd`), kept as text; the WSDL types it as string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Date(pub String);

impl Date {
    /// True when the text is `yyyy-mm-dd` (rule S-26).
    pub fn is_date(&self) -> bool {
        let b = self.0.as_bytes();
        b.len() == 10
            && b.iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                _ => c.is_ascii_digit(),
            })
    }
}

impl Scalar for Date {
    fn parse(text: &str) -> Option<Self> {
        Some(Date(text.to_string()))
    }
    fn format(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.0)
    }
}

/// `xs:base64Binary`, kept as written; [`Base64::bytes`] decodes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Base64(pub String);

impl Base64 {
    /// Encodes bytes (standard alphabet, padded, as .NET writes it).
    pub fn encode(bytes: &[u8]) -> Self {
        Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
    }
    /// The decoded bytes (whitespace inside the text is ignored), or `None` if not base64.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        let engine = base64::engine::general_purpose::STANDARD;
        if !self.0.bytes().any(|b| b.is_ascii_whitespace()) {
            return engine.decode(&self.0).ok();
        }
        let compact: Vec<u8> = self
            .0
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        engine.decode(compact).ok()
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Scalar for Base64 {
    fn parse(text: &str) -> Option<Self> {
        let b = Base64(text.to_string());
        b.bytes().map(|_| b)
    }
    fn format(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.0)
    }
    // Padding and zero trailing bits are required by both the engine and the schema's
    // lexical space (XML Schema 1.0, 3.2.16), so the two agree.
    const WSDL_TYPE: Option<&'static str> = Some("xs:base64Binary");
}

/// Escaped XML carried as text (`UpdateInfo/Xml`, `Update/Xml`): stored as on the wire and
/// unescaped on demand, so large SyncUpdates responses decode without copying fragments twice.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct XmlText {
    raw: String,
}

impl XmlText {
    /// Wraps fragment text, escaping it for the wire.
    pub fn from_text(text: &str) -> Self {
        XmlText {
            raw: escape_text(text).into_owned(),
        }
    }
    /// Wraps text that is already escaped as it appears on the wire.
    pub fn from_escaped(raw: impl Into<String>) -> Self {
        XmlText { raw: raw.into() }
    }
    /// The unescaped fragment, or a message naming the bad entity.
    pub fn text(&self) -> std::result::Result<Cow<'_, str>, String> {
        unescape(&self.raw)
    }
    /// The escaped wire text.
    pub fn escaped(&self) -> &str {
        &self.raw
    }
    /// True when there is no fragment text.
    pub fn is_empty(&self) -> bool {
        self.raw.trim().is_empty()
    }
}

impl XmlValue for XmlText {
    fn decode_value<'a>(
        d: &mut Decoder<'a>,
        start: &Start<'a>,
        _: &'static str,
    ) -> Result<Field<Self>> {
        let raw = match d.raw_text(start)? {
            Some(raw) => {
                if let Err(e) = check_escapes(raw) {
                    // Report bad entities now, with the element's location.
                    return Err(d.error_at(start, e));
                }
                Cow::Borrowed(raw)
            }
            // CDATA or markup inside: fall back to the exact text reading.
            None => Cow::Owned(escape_text(&d.text(start)?).into_owned()),
        };
        if raw.is_empty() {
            return Ok(Field::Empty);
        }
        Ok(Field::Value(XmlText {
            raw: raw.into_owned(),
        }))
    }
    fn encode_value(&self, e: &mut Encoder, name: &str, _: &'static str) {
        e.text_element(name, &self.raw);
    }
}

/// Declares a string enumeration of the schema; unknown values are kept as `Other`.
macro_rules! wusp_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value outside the enumeration, kept as written.
            Other(String),
        }
        impl $name {
            /// The wire text.
            pub fn as_str(&self) -> &str {
                match self { $($name::$variant => $wire,)* $name::Other(s) => s }
            }
            /// Every value of the enumeration.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// True for values of the enumeration (not `Other`).
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }
        }
        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
                Ok(match s { $($wire => $name::$variant,)* other => $name::Other(other.to_string()) })
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl $crate::xml::Scalar for $name {
            fn parse(text: &str) -> Option<Self> {
                text.trim().parse().ok()
            }
            fn format(&self) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed(self.as_str())
            }
        }
    };
}
pub(crate) use wusp_enum;

wusp_enum! {
    /// `DeploymentAction` (reference 3.5).
    pub enum DeploymentAction {
        /// Offered for explicit user approval.
        OptionalInstall = "OptionalInstall",
        /// Install.
        Install = "Install",
        /// Remove.
        Uninstall = "Uninstall",
        /// Evaluate and report only.
        PreDeploymentCheck = "PreDeploymentCheck",
        /// Must not be deployed (servers should not send it).
        Block = "Block",
        /// Evaluate only: categories, detectoids, dependencies.
        Evaluate = "Evaluate",
        /// Present because a deployed bundle contains it.
        Bundle = "Bundle",
    }
}

wusp_enum! {
    /// `XmlUpdateFragmentType` (reference 3.6); the last four are MU-WSDL extensions.
    pub enum XmlUpdateFragmentType {
        /// Published.
        Published = "Published",
        /// The SyncUpdates fragment.
        Core = "Core",
        /// Properties, files, handler data.
        Extended = "Extended",
        /// Verification rule.
        VerificationRule = "VerificationRule",
        /// Localized properties (needs locales).
        LocalizedProperties = "LocalizedProperties",
        /// EULA (needs locales).
        Eula = "Eula",
        /// File URLs (GetExtendedUpdateInfo2).
        FileUrl = "FileUrl",
        /// Decryption keys (GetExtendedUpdateInfo2).
        FileDecryption = "FileDecryption",
        /// MU-WSDL.
        SamplingRate = "SamplingRate",
        /// MU-WSDL.
        PiecesHashUrl = "PiecesHashUrl",
        /// MU-WSDL.
        BlockMapUrl = "BlockMapUrl",
        /// MU-WSDL.
        EsrpDecryptionInformation = "EsrpDecryptionInformation",
    }
}

impl XmlUpdateFragmentType {
    /// True for the values the spec itself defines (the rest are MU-WSDL extensions, T-11).
    pub fn is_spec(&self) -> bool {
        matches!(
            self,
            Self::Published
                | Self::Core
                | Self::Extended
                | Self::VerificationRule
                | Self::LocalizedProperties
                | Self::Eula
                | Self::FileUrl
                | Self::FileDecryption
        )
    }
}

wusp_enum! {
    /// Processor architecture enumeration of reporting events and ClientConfiguration.
    pub enum ProcessorArchitecture {
        /// Unknown.
        Unknown = "Unknown",
        /// x86.
        X86Compatible = "X86Compatible",
        /// Itanium.
        IA64Compatible = "IA64Compatible",
        /// x64.
        Amd64Compatible = "Amd64Compatible",
        /// ARM (ClientConfiguration only).
        ArmCompatible = "ArmCompatible",
        /// LPIA (ClientConfiguration only).
        LpiaCompatible = "LpiaCompatible",
    }
}

wusp_enum! {
    /// `ClientMetadata/MetadataType`.
    pub enum MetadataType {
        /// Audience metadata.
        Audience = "Audience",
        /// Update metadata.
        Update = "Update",
        /// Admin metadata.
        Admin = "Admin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_guids_set_version_and_variant_and_keep_the_rest() {
        let g = Guid::v4_from_bytes([0xff; 16]);
        assert_eq!(g.as_str(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(g.is_well_formed());
        let g = Guid::v4_from_bytes(std::array::from_fn(|i| i as u8));
        assert_eq!(g.as_str(), "00010203-0405-4607-8809-0a0b0c0d0e0f");
    }

    #[test]
    fn base64_bytes_with_and_without_whitespace() {
        assert_eq!(Base64("AQID".into()).bytes(), Some(vec![1, 2, 3]));
        assert_eq!(Base64(" AQ\r\nID\t".into()).bytes(), Some(vec![1, 2, 3]));
        assert_eq!(Base64("AQI".into()).bytes(), None, "unpadded");
        assert_eq!(Base64("AQ\u{e9}D".into()).bytes(), None, "not the alphabet");
        assert!(<Base64 as Scalar>::parse("AQ ID").is_some());
        assert!(<Base64 as Scalar>::parse("A*ID").is_none());
    }

    #[test]
    fn datetime_fractions_scale_to_nanoseconds() {
        let nanos = |s: &str| parse_datetime(s).map(|d| d.nanosecond());
        assert_eq!(nanos("2024-01-02T03:04:05Z"), Some(0));
        assert_eq!(nanos("2024-01-02T03:04:05.5Z"), Some(500_000_000));
        assert_eq!(nanos("2024-01-02T03:04:05.000000007Z"), Some(7));
        assert_eq!(
            nanos("2024-01-02T03:04:05.123456789+02:00"),
            Some(123_456_789)
        );
        assert_eq!(nanos("2024-01-02T03:04:05.1234567891Z"), None, "ten digits");
        assert_eq!(nanos("2024-01-02T03:04:05.1a"), None);
    }
}
