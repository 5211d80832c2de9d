//! `proxy`: the TLS-intercepting recording proxy (issue \[proxy\]) and wutap's certificate
//! authority, which `wutap serve` also uses for its HTTPS listener.
//!
//! For now this crate holds the certificate authority ([`ca`]); the proxy itself arrives
//! with its issue.
pub mod ca;
