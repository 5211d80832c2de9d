//! How the client's HTTP requests look on the wire: header names, order, case and fixed
//! values (reference 1.2), and the MS-CV correlation vector.
//!
//! The default is the native Windows 11 25H2 header set; a client seeded from a capture
//! takes the recorded one so that replayed requests carry the same headers in the same
//! order and case (fidelity).

use serde::{Deserialize, Serialize};

/// The User-Agent of Windows 11 25H2's WUA (reference 1.2).
pub const NATIVE_USER_AGENT: &str = "Windows-Update-Agent/1507.2601.30012.0 Client-Protocol/2.90";

/// Header names whose value is computed per request (the recorded value is ignored).
pub const PER_REQUEST_HEADERS: [&str; 4] = ["SOAPAction", "Content-Length", "Host", "MS-CV"];

/// The client's HTTP header set for SOAP posts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpProfile {
    /// Header lines in wire order and case. Values of [`PER_REQUEST_HEADERS`] are
    /// replaced per request; every other value is sent as is.
    pub headers: Vec<(String, String)>,
    /// Correlation vector base (`<base64 id>` or `<base64 id>.<n>` …): `None` sends no
    /// MS-CV header.
    pub ms_cv_base: Option<String>,
    /// The last MS-CV increment used (the next request sends `ms_cv_base.(n+1)`).
    pub ms_cv_counter: u64,
}

impl Default for HttpProfile {
    fn default() -> Self {
        HttpProfile::native()
    }
}

impl HttpProfile {
    /// The native WUA header set of reference 1.2, without MS-CV.
    pub fn native() -> HttpProfile {
        let h = |k: &str, v: &str| (k.to_string(), v.to_string());
        HttpProfile {
            headers: vec![
                h("Cache-Control", "no-cache"),
                h("Connection", "Keep-Alive"),
                h("Pragma", "no-cache"),
                h("Content-Type", "text/xml; charset=utf-8"),
                h("Accept-Encoding", "xpress"),
                h("User-Agent", NATIVE_USER_AGENT),
                h("SOAPAction", ""),
                h("Content-Length", ""),
                h("Host", ""),
            ],
            ms_cv_base: None,
            ms_cv_counter: 0,
        }
    }

    /// The headers of one SOAP post, in profile order: `action` quoted in SOAPAction,
    /// `len` in Content-Length, `host` in Host, `ms_cv` in MS-CV (omitted when `None`).
    pub fn request_headers(
        &self,
        action: &str,
        len: usize,
        host: &str,
        ms_cv: Option<&str>,
    ) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let v = if name.eq_ignore_ascii_case("SOAPAction") {
                format!("\"{action}\"")
            } else if name.eq_ignore_ascii_case("Content-Length") {
                len.to_string()
            } else if name.eq_ignore_ascii_case("Host") {
                host.to_string()
            } else if name.eq_ignore_ascii_case("MS-CV") {
                match ms_cv {
                    Some(cv) => cv.to_string(),
                    None => continue,
                }
            } else {
                value.clone()
            };
            out.push((name.clone(), v));
        }
        out
    }

    /// The next correlation vector, if the profile has one (increments the counter).
    pub fn next_ms_cv(&mut self) -> Option<String> {
        let base = self.ms_cv_base.as_ref()?;
        self.ms_cv_counter += 1;
        Some(format!("{base}.{}", self.ms_cv_counter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_order_matches_reference_1_2() {
        let p = HttpProfile::native();
        let h = p.request_headers("http://x/GetConfig", 12, "wsus:8530", None);
        let names: Vec<&str> = h.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "Cache-Control",
                "Connection",
                "Pragma",
                "Content-Type",
                "Accept-Encoding",
                "User-Agent",
                "SOAPAction",
                "Content-Length",
                "Host"
            ]
        );
        assert_eq!(h[6].1, "\"http://x/GetConfig\"");
        assert_eq!(h[7].1, "12");
        assert_eq!(h[8].1, "wsus:8530");
    }

    #[test]
    fn ms_cv_increments_and_is_omitted_without_base() {
        let mut p = HttpProfile::native();
        assert_eq!(p.next_ms_cv(), None);
        p.ms_cv_base = Some("AbCd.1".into());
        p.headers.insert(7, ("MS-CV".into(), String::new()));
        assert_eq!(p.next_ms_cv().as_deref(), Some("AbCd.1.1"));
        let cv = p.next_ms_cv();
        assert_eq!(cv.as_deref(), Some("AbCd.1.2"));
        let h = p.request_headers("a", 1, "h", cv.as_deref());
        assert!(h.iter().any(|(k, v)| k == "MS-CV" && v == "AbCd.1.2"));
        let h = p.request_headers("a", 1, "h", None);
        assert!(!h.iter().any(|(k, _)| k == "MS-CV"));
    }
}
