//! Cookies sealed by the server (reference 3.2, 7.2): the per-client state of the server role.
//!
//! WSUS keeps each client's sync state in the opaque `EncryptedData` of its cookie; so does
//! this server. A cookie is sealed with ChaCha20-Poly1305 under a per-server secret key:
//!
//! ```text
//! "WTC1" | kind (1 byte) | server identity (16 bytes) | nonce (12 bytes) | ciphertext + tag
//! ```
//!
//! The header is authenticated as associated data, so a cookie that does not open is foreign
//! or corrupt ([`CookieError::Invalid`] → `InvalidCookie`), one that opens but names another
//! server identity was issued before the server's identity changed
//! ([`CookieError::ServerChanged`] → `ServerChanged`). The payload carries the client id,
//! its target group, issue time, expiry, the configuration `LastChange` it was issued under,
//! the deployment change counter the client is synchronized to, and the client's protocol
//! version; the clear-text `Expiration` must equal the sealed expiry.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use time::OffsetDateTime;
use wusp::ErrorCode;
use wusp::types::{AuthorizationCookie, Cookie};
use wusp::values::{Base64, DateTime};

const MAGIC: &[u8; 4] = b"WTC1";
const KIND_COOKIE: u8 = 1;
const KIND_AUTHORIZATION: u8 = 2;
const HEADER_LEN: usize = 4 + 1 + 16;
const NONCE_LEN: usize = 12;
const PAYLOAD_VERSION: u8 = 1;

/// The plug-in name of WSUS authorization cookies (reference 2.1).
pub const PLUG_IN_ID: &str = "SimpleTargeting";

/// Why a cookie (or authorization cookie) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    /// The request has no cookie data at all.
    #[error("the cookie has no EncryptedData")]
    Missing,
    /// The data does not open under this server's key: foreign or corrupt.
    #[error("the cookie was not issued by this server or is corrupt: {0}")]
    Invalid(&'static str),
    /// The cookie opens but was issued under another server identity.
    #[error("the cookie was issued by an earlier identity of this server")]
    ServerChanged,
    /// The sealed expiry has passed.
    #[error("the cookie expired at {0}")]
    Expired(String),
    /// The configuration changed since the cookie was issued.
    #[error("the server configuration changed since the cookie was issued")]
    ConfigChanged,
    /// The authorization cookie given to GetCookie does not open.
    #[error("the authorization cookie is invalid: {0}")]
    InvalidAuthorization(&'static str),
    /// The operating system's random source failed.
    #[error("no randomness for the cookie key or nonce: {0}")]
    Random(String),
}

impl CookieError {
    /// The WUSP ErrorCode the server answers with (reference 4.2, rule S-36).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            CookieError::Missing | CookieError::Invalid(_) => ErrorCode::InvalidCookie,
            CookieError::ServerChanged => ErrorCode::ServerChanged,
            CookieError::Expired(_) => ErrorCode::CookieExpired,
            CookieError::ConfigChanged => ErrorCode::ConfigChanged,
            CookieError::InvalidAuthorization(_) => ErrorCode::InvalidAuthorizationCookie,
            CookieError::Random(_) => ErrorCode::InternalServerError,
        }
    }
}

/// What a client cookie carries (sealed inside `EncryptedData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieState {
    /// The client id given to GetAuthorizationCookie.
    pub client_id: String,
    /// The target group the client asked for (empty: none).
    pub target_group: String,
    /// When the first cookie of this chain was issued (GetCookie).
    pub issued: OffsetDateTime,
    /// Expiry; the clear-text `Expiration` carries the same instant.
    pub expires: OffsetDateTime,
    /// `Config.LastChange` the cookie was issued under (ConfigChanged when it differs).
    pub config_last_change: OffsetDateTime,
    /// Deployment change counter the client is synchronized to (ChangedUpdates are newer).
    pub sync_mark: u64,
    /// Client protocol version from GetCookie, as (major, minor).
    pub protocol: (u16, u16),
}

impl CookieState {
    /// True when the client protocol version is at least `major.minor`.
    pub fn protocol_at_least(&self, major: u16, minor: u16) -> bool {
        self.protocol >= (major, minor)
    }
}

/// What an authorization cookie carries (GetAuthorizationCookie → GetCookie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationState {
    /// The client id.
    pub client_id: String,
    /// The requested target group (empty: none).
    pub target_group: String,
    /// The client's DNS name.
    pub dns_name: String,
    /// When it was issued.
    pub issued: OffsetDateTime,
}

/// The key and identity that seal and open this server's cookies.
pub struct CookieKeys {
    aead: ChaCha20Poly1305,
    server_id: [u8; 16],
}

impl std::fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieKeys")
            .field("server_id", &hex::encode(self.server_id))
            .finish_non_exhaustive()
    }
}

impl CookieKeys {
    /// Keys from a 32-byte secret and a server identity.
    pub fn new(secret: &[u8; 32], server_id: [u8; 16]) -> CookieKeys {
        CookieKeys {
            aead: ChaCha20Poly1305::new(secret.into()),
            server_id,
        }
    }

    /// Keys with a fresh random secret (cookies die with the process).
    pub fn random(server_id: [u8; 16]) -> Result<CookieKeys, CookieError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| CookieError::Random(e.to_string()))?;
        Ok(CookieKeys::new(&secret, server_id))
    }

    /// The server identity sealed into every cookie.
    pub fn server_id(&self) -> [u8; 16] {
        self.server_id
    }

    /// Seals a client cookie; `Expiration` is the sealed expiry.
    pub fn seal(&self, state: &CookieState) -> Result<Cookie, CookieError> {
        let mut p = Vec::with_capacity(96 + state.client_id.len() + state.target_group.len());
        p.push(PAYLOAD_VERSION);
        put_str(&mut p, &state.client_id);
        put_str(&mut p, &state.target_group);
        put_i64(&mut p, ticks(state.issued));
        put_i64(&mut p, ticks(state.expires));
        put_i64(&mut p, ticks(state.config_last_change));
        p.extend_from_slice(&state.sync_mark.to_le_bytes());
        p.extend_from_slice(&state.protocol.0.to_le_bytes());
        p.extend_from_slice(&state.protocol.1.to_le_bytes());
        let data = self.seal_bytes(KIND_COOKIE, &p)?;
        Ok(Cookie {
            expiration: DateTime::from_instant(from_ticks(ticks(state.expires))).into(),
            encrypted_data: Base64::encode(&data).into(),
            ..Cookie::default()
        })
    }

    /// Opens a client cookie: authenticity, server identity and the clear-text expiry.
    ///
    /// Expiry and configuration are checked by [`CookieKeys::check`], so an expired cookie
    /// can still hand its state to GetCookie (reference 2.4, `oldCookie`).
    pub fn open(&self, cookie: &Cookie) -> Result<CookieState, CookieError> {
        let data = match cookie.encrypted_data.value() {
            Some(d) => d
                .bytes()
                .ok_or(CookieError::Invalid("EncryptedData is not base64"))?,
            None if cookie.encrypted_data.is_invalid() => {
                return Err(CookieError::Invalid("EncryptedData is not base64"));
            }
            None => return Err(CookieError::Missing),
        };
        let p = self.open_bytes(KIND_COOKIE, &data, CookieError::Invalid)?;
        let mut r = Reader { b: &p, at: 0 };
        let version = r.u8().ok_or(CookieError::Invalid("truncated payload"))?;
        if version != PAYLOAD_VERSION {
            return Err(CookieError::Invalid("unknown payload version"));
        }
        let bad = CookieError::Invalid("truncated payload");
        let state = (|| {
            Some(CookieState {
                client_id: r.str()?,
                target_group: r.str()?,
                issued: from_ticks(r.i64()?),
                expires: from_ticks(r.i64()?),
                config_last_change: from_ticks(r.i64()?),
                sync_mark: r.u64()?,
                protocol: (r.u16()?, r.u16()?),
            })
        })()
        .ok_or(bad)?;
        let clear = cookie
            .expiration
            .value()
            .and_then(DateTime::instant)
            .ok_or(CookieError::Invalid(
                "Expiration is missing or not a dateTime",
            ))?;
        if ticks(clear) != ticks(state.expires) {
            return Err(CookieError::Invalid(
                "Expiration differs from the sealed expiry",
            ));
        }
        Ok(state)
    }

    /// Checks an opened cookie against the clock and the configuration.
    pub fn check(
        &self,
        state: &CookieState,
        now: OffsetDateTime,
        config_last_change: OffsetDateTime,
    ) -> Result<(), CookieError> {
        if now >= state.expires {
            return Err(CookieError::Expired(
                DateTime::from_instant(state.expires).0,
            ));
        }
        if ticks(state.config_last_change) != ticks(config_last_change) {
            return Err(CookieError::ConfigChanged);
        }
        Ok(())
    }

    /// Opens and checks a client cookie in one step (what every cookie-bearing call does).
    pub fn validate(
        &self,
        cookie: &Cookie,
        now: OffsetDateTime,
        config_last_change: OffsetDateTime,
    ) -> Result<CookieState, CookieError> {
        let state = self.open(cookie)?;
        self.check(&state, now, config_last_change)?;
        Ok(state)
    }

    /// Seals an authorization cookie (`PlugInId` SimpleTargeting).
    pub fn seal_authorization(
        &self,
        state: &AuthorizationState,
    ) -> Result<AuthorizationCookie, CookieError> {
        let mut p = Vec::with_capacity(64 + state.client_id.len() + state.dns_name.len());
        p.push(PAYLOAD_VERSION);
        put_str(&mut p, &state.client_id);
        put_str(&mut p, &state.target_group);
        put_str(&mut p, &state.dns_name);
        put_i64(&mut p, ticks(state.issued));
        let data = self.seal_bytes(KIND_AUTHORIZATION, &p)?;
        Ok(AuthorizationCookie {
            plug_in_id: PLUG_IN_ID.to_string().into(),
            cookie_data: Base64::encode(&data).into(),
            ..AuthorizationCookie::default()
        })
    }

    /// Opens an authorization cookie; any failure is `InvalidAuthorizationCookie`.
    pub fn open_authorization(
        &self,
        cookie: &AuthorizationCookie,
    ) -> Result<AuthorizationState, CookieError> {
        let data = cookie.cookie_data.value().and_then(Base64::bytes).ok_or(
            CookieError::InvalidAuthorization("CookieData is missing or not base64"),
        )?;
        let p = self.open_bytes(KIND_AUTHORIZATION, &data, CookieError::InvalidAuthorization)?;
        let mut r = Reader { b: &p, at: 0 };
        if r.u8() != Some(PAYLOAD_VERSION) {
            return Err(CookieError::InvalidAuthorization("unknown payload version"));
        }
        (|| {
            Some(AuthorizationState {
                client_id: r.str()?,
                target_group: r.str()?,
                dns_name: r.str()?,
                issued: from_ticks(r.i64()?),
            })
        })()
        .ok_or(CookieError::InvalidAuthorization("truncated payload"))
    }

    fn seal_bytes(&self, kind: u8, payload: &[u8]) -> Result<Vec<u8>, CookieError> {
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + payload.len() + 16);
        out.extend_from_slice(MAGIC);
        out.push(kind);
        out.extend_from_slice(&self.server_id);
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| CookieError::Random(e.to_string()))?;
        let sealed = self
            .aead
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: payload,
                    aad: &out[..HEADER_LEN],
                },
            )
            .map_err(|_| CookieError::Random("encryption failed".into()))?;
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open_bytes(
        &self,
        kind: u8,
        data: &[u8],
        invalid: fn(&'static str) -> CookieError,
    ) -> Result<Vec<u8>, CookieError> {
        if data.len() < HEADER_LEN + NONCE_LEN + 16 {
            return Err(invalid("too short"));
        }
        if &data[..4] != MAGIC || data[4] != kind {
            return Err(invalid("not a cookie of this server kind"));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&data[HEADER_LEN..HEADER_LEN + NONCE_LEN]);
        let plain = self
            .aead
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &data[HEADER_LEN + NONCE_LEN..],
                    aad: &data[..HEADER_LEN],
                },
            )
            .map_err(|_| invalid("authentication failed"))?;
        if data[5..HEADER_LEN] != self.server_id {
            return Err(CookieError::ServerChanged);
        }
        Ok(plain)
    }
}

/// 100-nanosecond ticks since the Unix epoch (the precision of .NET `DateTime` on the wire).
fn ticks(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 100) as i64
}

fn from_ticks(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t) * 100)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Rounds an instant down to the 100-ns precision cookies and dateTimes carry.
pub fn wire_precision(t: OffsetDateTime) -> OffsetDateTime {
    from_ticks(ticks(t))
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(b.len() as u16).to_le_bytes());
    out.extend_from_slice(b);
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
    fn i64(&mut self) -> Option<i64> {
        self.u64().map(|v| v as i64)
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u16()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    fn state() -> CookieState {
        let now = datetime!(2026-10-04 16:03:35.1234567 UTC);
        CookieState {
            client_id: "5c7f4f80-3896-4d10-8a38-469286a0febc".into(),
            target_group: "Servers".into(),
            issued: now,
            expires: now + Duration::hours(1),
            config_last_change: datetime!(2026-10-04 13:17:07.59 UTC),
            sync_mark: 42,
            protocol: (2, 90),
        }
    }

    #[test]
    fn round_trip_and_clear_expiration() {
        let k = CookieKeys::new(&[7; 32], [1; 16]);
        let s = state();
        let c = k.seal(&s).unwrap();
        assert_eq!(
            c.expiration.value().unwrap().instant().unwrap(),
            wire_precision(s.expires)
        );
        let back = k.open(&c).unwrap();
        assert_eq!(back.client_id, s.client_id);
        assert_eq!(back.sync_mark, 42);
        assert_eq!(back.protocol, (2, 90));
        assert!(back.protocol_at_least(1, 8));
        assert!(!back.protocol_at_least(2, 91));
        // Two seals of one state differ (fresh nonce) but open alike.
        assert_ne!(k.seal(&s).unwrap().encrypted_data, c.encrypted_data);
        k.check(&back, s.issued, s.config_last_change).unwrap();
    }

    #[test]
    fn refusals_map_to_error_codes() {
        let k = CookieKeys::new(&[7; 32], [1; 16]);
        let s = state();
        let c = k.seal(&s).unwrap();
        // Foreign: another secret.
        let other = CookieKeys::new(&[8; 32], [1; 16]);
        assert_eq!(
            other.open(&c).unwrap_err().error_code(),
            ErrorCode::InvalidCookie
        );
        // Same secret, another identity.
        let moved = CookieKeys::new(&[7; 32], [2; 16]);
        assert_eq!(moved.open(&c).unwrap_err(), CookieError::ServerChanged);
        // Corrupt bytes.
        let mut bad = c.clone();
        let mut bytes = c.encrypted_data.value().unwrap().bytes().unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        bad.encrypted_data = Base64::encode(&bytes).into();
        assert!(matches!(k.open(&bad), Err(CookieError::Invalid(_))));
        // Tampered clear-text expiry.
        let mut late = c.clone();
        late.expiration = DateTime::from_instant(s.expires + Duration::days(9)).into();
        assert!(matches!(k.open(&late), Err(CookieError::Invalid(_))));
        // No data.
        let empty = Cookie::default();
        assert_eq!(k.open(&empty).unwrap_err(), CookieError::Missing);
        // Expired and config changed.
        let st = k.open(&c).unwrap();
        assert_eq!(
            k.check(&st, s.expires, s.config_last_change)
                .unwrap_err()
                .error_code(),
            ErrorCode::CookieExpired
        );
        assert_eq!(
            k.check(&st, s.issued, s.config_last_change + Duration::seconds(1))
                .unwrap_err(),
            CookieError::ConfigChanged
        );
    }

    #[test]
    fn authorization_cookies() {
        let k = CookieKeys::new(&[7; 32], [1; 16]);
        let a = AuthorizationState {
            client_id: "abc".into(),
            target_group: String::new(),
            dns_name: "pc01.contoso.test".into(),
            issued: datetime!(2026-10-04 16:03:35 UTC),
        };
        let c = k.seal_authorization(&a).unwrap();
        assert_eq!(c.plug_in_id.value().map(String::as_str), Some(PLUG_IN_ID));
        assert_eq!(k.open_authorization(&c).unwrap(), a);
        // A client cookie is no authorization cookie.
        let as_cookie = Cookie {
            encrypted_data: c.cookie_data.clone(),
            expiration: DateTime::from_instant(a.issued).into(),
            ..Cookie::default()
        };
        assert!(k.open(&as_cookie).is_err());
        let other = CookieKeys::new(&[9; 32], [1; 16]);
        assert_eq!(
            other.open_authorization(&c).unwrap_err().error_code(),
            ErrorCode::InvalidAuthorizationCookie
        );
    }
}
