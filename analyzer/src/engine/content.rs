//! Content downloads against the file locations and sizes the server gave the client:
//! T-14 (http(s) URLs, Range answered with 206), T-15 (SHA-1 of what was downloaded),
//! S-38 (size served), S-39 (WSUS URL layout, OBS) and C-47 (URLs from FileLocation).

use std::collections::{HashMap, HashSet};

use wusp::types::FileLocation;

use super::Engine;
use crate::catalogue::known;
use crate::finding::{Finding, Status};
use crate::input::{ContentGet, Observed};
use crate::report::ExchangeEntry;

/// What the server said about files, per client and server.
#[derive(Default)]
pub(super) struct Files {
    /// Lower-case URL path → (SHA-1 FileDigest, the exchange that gave the location).
    by_path: HashMap<String, (Vec<u8>, String)>,
    /// SHA-1 → `File/@Size` of an Extended fragment.
    sizes: HashMap<Vec<u8>, u64>,
    /// Paths already reported as partially downloaded (T-15 unverifiable once per file).
    partial: HashSet<String>,
    /// Digests that have a FileLocation.
    located: HashSet<Vec<u8>>,
    /// Digests of Extended fragment files still without a location: (session, exchange).
    awaiting: HashMap<Vec<u8>, (usize, String)>,
}

impl Files {
    /// S-30 findings for the files that never got a location.
    pub(super) fn unlocated(&mut self) -> Vec<(usize, Finding)> {
        let mut by_exchange: HashMap<(usize, String), Vec<String>> = HashMap::new();
        for (digest, at) in self.awaiting.drain() {
            by_exchange.entry(at).or_default().push(hex(&digest));
        }
        let mut out: Vec<(usize, Finding)> = by_exchange
            .into_iter()
            .map(|((si, at), mut digests)| {
                digests.sort();
                let f = Finding::new(
                    known("S-30"),
                    Status::Violated,
                    format!("{} file(s) of returned Extended fragments never got a FileLocation", digests.len()),
                )
                .at([at])
                .versus("a FileLocation for every Files/File/@Digest (this or a later GetFileLocations)", digests.join(", "));
                (si, f)
            })
            .collect();
        out.sort_by(|a, b| a.1.exchanges.cmp(&b.1.exchanges));
        out
    }
}

/// The path of a URL (`http://h:p/a/b?q` → `/a/b`), lower case.
fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    let end = path.find(['?', '#']).unwrap_or(path.len());
    path[..end].to_ascii_lowercase()
}

/// The host of a URL, lower case and without port.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(host_only(authority))
}

fn host_only(authority: &str) -> String {
    let a = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let h = if a.starts_with('[') {
        a.split(']').next().map_or(a, |h| &h[1..])
    } else {
        a.split(':').next().unwrap_or(a)
    };
    h.to_ascii_lowercase()
}

/// `bytes a-b/n` → (a, b, n).
fn content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes")?.trim();
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    Some((
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        total.trim().parse().ok()?,
    ))
}

impl Engine {
    /// Records the FileLocations of a GetExtendedUpdateInfo or GetFileLocations answer and
    /// judges their URLs (T-14, S-39).
    pub(super) fn learn_locations(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        locations: &[FileLocation],
    ) {
        let mut not_http = Vec::new();
        let mut not_wsus = Vec::new();
        for l in locations {
            let (Some(url), Some(digest)) = (l.url.value(), l.file_digest.value()) else {
                continue;
            };
            let sha1 = digest.bytes();
            if let Some(sha1) = &sha1 {
                let files = &mut self.pair(key).files;
                files.awaiting.remove(sha1);
                files.located.insert(sha1.clone());
            }
            let lower = url.trim().to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                not_http.push(url.clone());
                continue;
            }
            let Some(sha1) = sha1 else { continue };
            let hexd = hex(&sha1);
            let path = url_path(url);
            // WSUS: /Content/<last two hex digits>/<SHA-1 hex>.<ext>, host of the request.
            let layout_ok = path
                .strip_prefix("/content/")
                .and_then(|r| r.split_once('/'))
                .is_some_and(|(dir, name)| {
                    hexd.len() == 40
                        && dir == &hexd[38..]
                        && name.split('.').next() == Some(hexd.as_str())
                });
            let host_ok = match (url_host(url), &ex.host) {
                (Some(u), Some(h)) => u == host_only(h),
                _ => true,
            };
            if !layout_ok || !host_ok {
                not_wsus.push(url.clone());
            }
            self.pair(key)
                .files
                .by_path
                .insert(path, (sha1, ex.id.clone()));
        }
        if !not_http.is_empty() {
            self.violated(
                si,
                "T-14",
                &ex.id,
                format!("{} FileLocation URL(s) are not http(s)", not_http.len()),
                "http:// or https:// URLs",
                not_http.join(", "),
            );
        }
        if !not_wsus.is_empty() {
            self.violated(
                si,
                "S-39",
                &ex.id,
                format!(
                    "{} content URL(s) differ from the WSUS layout or host",
                    not_wsus.len()
                ),
                "…/Content/<last two hex digits of the SHA-1>/<SHA-1>.<ext> on the request's Host",
                not_wsus.join(", "),
            );
        }
    }

    /// Records the files of an Extended fragment (`found`: digest, size) returned at exchange `at` (sizes, and the
    /// digests that still need a location, S-30).
    pub(super) fn learn_fragment_files(
        &mut self,
        si: usize,
        key: &(usize, String),
        at: &str,
        found: &[(Vec<u8>, Option<u64>)],
    ) {
        let files = &mut self.pair(key).files;
        for (d, size) in found {
            if let Some(size) = size {
                files.sizes.insert(d.clone(), *size);
            }
            if !files.located.contains(d) {
                files
                    .awaiting
                    .entry(d.clone())
                    .or_insert_with(|| (si, at.to_string()));
            }
        }
    }

    /// Judges one content download.
    pub(crate) fn feed_content(&mut self, get: &ContentGet) {
        self.sweep(get.time, get.file);
        let client = match get.client_ip.as_ref().and_then(|ip| self.by_ip.get(ip)) {
            Some(&c) => c,
            None => self.new_client(get.client_ip.as_ref()),
        };
        let path = url_path(&get.path);
        // The location may have come from another server of this client (a content host).
        let own = (client, get.server.clone());
        let key = if self
            .pairs
            .get(&own)
            .is_some_and(|p| p.files.by_path.contains_key(&path))
        {
            own
        } else {
            self.pairs
                .iter()
                .find(|((c, _), p)| *c == client && p.files.by_path.contains_key(&path))
                .map(|(k, _)| k.clone())
                .unwrap_or(own)
        };
        let si = self.session_at(&key, get.time, get.file, None, false);
        self.sessions[si].session.exchanges.push(ExchangeEntry {
            id: get.id.clone(),
            operation: "Content".into(),
            page: None,
        });
        self.stale_download(si, &key, &get.id);
        let pair = self.pair(&key);
        pair.last_time = Some(get.time);
        pair.last_file = get.file;
        let from_start = pair.state.fresh_seen;
        let Some((digest, at)) = pair.files.by_path.get(&path).cloned() else {
            let status = if from_start {
                Status::Violated
            } else {
                Status::Unverifiable
            };
            let f = Finding::new(
                known("C-47"),
                status,
                format!(
                    "{} {} was not obtained from a FileLocation",
                    get.method, get.path
                ),
            )
            .at([get.id.clone()])
            .versus(
                "a URL from a FileLocation of this or an earlier session",
                "an unknown URL",
            );
            self.push(si, f);
            return;
        };
        let expected_size = pair.files.sizes.get(&digest).copied();
        if get.range.is_some() && get.method == "GET" && !matches!(get.status, 206 | 416) {
            self.violated(
                si,
                "T-14",
                &get.id,
                format!("a Range GET answered with HTTP {}", get.status),
                "206 Partial Content for a satisfiable range",
                format!("HTTP {}", get.status),
            );
        }
        if get.method != "GET" || get.truncated || !matches!(get.status, 200 | 206) {
            return;
        }
        let total = match (
            get.status,
            get.content_range.as_deref().and_then(content_range),
        ) {
            (200, _) => Some((true, get.size)),
            (206, Some((a, b, n))) => {
                Some((a == 0 && b.checked_add(1) == Some(n) && get.size == n, n))
            }
            _ => None,
        };
        if let (Some((_, n)), Some(size)) = (total, expected_size)
            && n != size
        {
            self.violated(
                si,
                "S-38",
                &get.id,
                "content served at a FileLocation URL has another size than File/@Size".into(),
                format!("{size} bytes"),
                format!("{n} bytes"),
            );
        }
        match total {
            Some((true, _)) => {
                if get.sha1[..] != digest[..] {
                    let f = Finding::new(
                        known("T-15"),
                        Status::Violated,
                        "downloaded content does not have the SHA-1 of its FileDigest",
                    )
                    .at([at, get.id.clone()])
                    .versus(hex(&digest), hex(&get.sha1));
                    self.push(si, f);
                }
            }
            _ => {
                let pair = self.pair(&key);
                if pair.files.partial.insert(path) {
                    let f = Finding::new(
                        known("T-15"),
                        Status::Unverifiable,
                        "only part of the file was downloaded in this exchange: its SHA-1 cannot be checked",
                    )
                    .at([get.id.clone()])
                    .versus(hex(&digest), "a partial body");
                    self.push(si, f);
                }
            }
        }
    }
}

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}
