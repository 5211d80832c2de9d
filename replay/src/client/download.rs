//! Content download after a sync (reference 1.7): every file of the needed revisions
//! (Deployment Action `Install`) with a known URL, fetched the way Delivery Optimization
//! does: closed 1 MiB ranges `bytes=a-b` planned from the Extended fragment's `Size`,
//! `User-Agent: Microsoft-Delivery-Optimization/10.1`; then the SHA-1 (`FileDigest`) and,
//! where the fragment has it, the SHA-256 (`AdditionalDigest`) are checked.
//!
//! Ranges go in order on one kept-alive connection (native clients shuffle them over up to
//! seven). A file whose size is unknown is planned from the first answer's `Content-Range`.
//! Files are written under a directory as `<name>` (or `<SHA-1 hex>` when the name is not
//! a plain file name); a file that fails its digest check is removed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use captures::{Body, Record};
use sha1::{Digest as _, Sha1};
use sha2::Sha256;
use tokio::io::AsyncWriteExt as _;
use wusp::values::DeploymentAction;

use super::transport::{RunStats, Transport};
use super::{CachedFile, ClientState};

/// The Delivery Optimization User-Agent of Windows 10/11 (reference 1.7).
pub const DO_USER_AGENT: &str = "Microsoft-Delivery-Optimization/10.1";

/// How downloads behave.
#[derive(Clone, Debug)]
pub struct DownloadOptions {
    /// Directory the files go to (created if missing).
    pub dir: PathBuf,
    /// Bytes per Range request (native: 1 MiB).
    pub range_size: u64,
    /// Response bodies larger than this are recorded as size and digests only.
    pub keep_body: u64,
    /// Largest file accepted.
    pub max_file: u64,
}

impl DownloadOptions {
    /// 1 MiB ranges, bodies up to 64 KiB kept in the capture, files up to 8 GiB.
    pub fn new(dir: PathBuf) -> DownloadOptions {
        DownloadOptions {
            dir,
            range_size: 1 << 20,
            keep_body: 64 << 10,
            max_file: 8 << 30,
        }
    }
}

/// What a download pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownloadReport {
    /// Files downloaded whose digests matched.
    pub files: u64,
    /// Bytes of those files.
    pub bytes: u64,
    /// Range requests answered.
    pub ranges: u64,
    /// Files whose SHA-1 or SHA-256 did not match (removed).
    pub digest_failures: u64,
    /// Files that could not be downloaded (HTTP or transport error).
    pub failed: u64,
    /// Needed files without a known URL (not attempted).
    pub without_url: u64,
    /// One line per failure, naming the file.
    pub problems: Vec<String>,
}

/// The files to download: those of needed revisions, each digest once, in cache order.
pub fn needed_files(state: &ClientState) -> Vec<&CachedFile> {
    let mut seen = BTreeSet::new();
    state
        .revisions
        .values()
        .filter(|r| r.action == DeploymentAction::Install.as_str())
        .flat_map(|r| r.files.iter())
        .filter(|f| seen.insert(f.digest.as_str()))
        .collect()
}

/// Downloads every needed file with a URL into `options.dir`, handing each Range exchange
/// (or error record) to `record` and counting it in `stats`.
pub async fn download(
    state: &ClientState,
    transport: &mut Transport,
    options: &DownloadOptions,
    stats: &mut RunStats,
    mut record: impl FnMut(Record),
) -> DownloadReport {
    let mut report = DownloadReport::default();
    if let Err(e) = tokio::fs::create_dir_all(&options.dir).await {
        report.problems.push(format!(
            "cannot create the download directory {}: {e}",
            options.dir.display()
        ));
        report.failed = needed_files(state).len() as u64;
        return report;
    }
    let mut names = BTreeSet::new();
    for file in needed_files(state) {
        let Some(url) = file.url.as_deref() else {
            report.without_url += 1;
            continue;
        };
        let path = options.dir.join(file_name(file, &mut names));
        match fetch(file, url, &path, transport, options, stats, &mut record).await {
            Ok((size, ranges)) => {
                report.files += 1;
                report.bytes += size;
                report.ranges += ranges;
            }
            Err(Failure::Digest(m, ranges)) => {
                report.ranges += ranges;
                report.digest_failures += 1;
                report.problems.push(m);
                let _ = tokio::fs::remove_file(&path).await;
            }
            Err(Failure::Fetch(m, ranges)) => {
                report.ranges += ranges;
                report.failed += 1;
                report.problems.push(m);
                let _ = tokio::fs::remove_file(&path).await;
            }
        }
    }
    report
}

/// Why one file failed, with the ranges answered before.
enum Failure {
    Digest(String, u64),
    Fetch(String, u64),
}

/// A plain, unused file name for `file`: its name, else (or when taken) its SHA-1 hex.
fn file_name(file: &CachedFile, taken: &mut BTreeSet<String>) -> String {
    let hex = BASE64
        .decode(file.digest.as_bytes())
        .map(hex::encode_upper)
        .unwrap_or_else(|_| {
            file.digest
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect()
        });
    let plain = file.name.as_deref().filter(|n| {
        !n.is_empty()
            && n.len() <= 200
            && !n.starts_with('.')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' '))
    });
    let name = match plain {
        Some(n) if !taken.contains(n) => n.to_string(),
        Some(n) => format!("{hex}-{n}"),
        None => hex,
    };
    taken.insert(name.clone());
    name
}

/// Downloads one file by ranges and checks it; (size, ranges).
async fn fetch(
    file: &CachedFile,
    url: &str,
    path: &Path,
    transport: &mut Transport,
    options: &DownloadOptions,
    stats: &mut RunStats,
    record: &mut impl FnMut(Record),
) -> Result<(u64, u64), Failure> {
    let what = format!(
        "{} ({url})",
        file.name.as_deref().unwrap_or(file.digest.as_str())
    );
    let mut ranges = 0u64;
    let mut out = tokio::fs::File::create(path)
        .await
        .map_err(|e| Failure::Fetch(format!("{what}: cannot create {}: {e}", path.display()), 0))?;
    let (mut sha1, mut sha256) = (Sha1::new(), Sha256::new());
    let mut total = file.size;
    let mut offset = 0u64;
    let step = options.range_size.max(1);
    // Bounded: one request per range of the largest file accepted, plus the first.
    let most = options.max_file / step + 2;
    let mut whole = false;
    for _ in 0..most {
        if total.is_some_and(|t| offset >= t) || whole {
            break;
        }
        let last = match total {
            Some(t) => (offset + step).min(t) - 1,
            None => offset + step - 1,
        };
        let headers = vec![
            ("Range".to_string(), format!("bytes={offset}-{last}")),
            ("User-Agent".to_string(), DO_USER_AGENT.to_string()),
        ];
        let mut reply = match transport.get(url, headers).await {
            Ok(r) => r,
            Err(mut e) => {
                if let Some(r) = e.take_record() {
                    record(Record::Error(r));
                }
                return Err(Failure::Fetch(format!("{what}: {e}"), ranges));
            }
        };
        stats.add(&reply);
        ranges += 1;
        let body = std::mem::take(&mut reply.body);
        if reply.exchange.response.body.len() > options.keep_body {
            let omitted = Body::omitted_from(&body);
            reply.exchange.response.body = omitted;
        }
        let status = reply.status;
        let content_range = reply.header("Content-Range").map(str::to_string);
        record(Record::Exchange(reply.exchange));
        match status {
            206 => {
                let Some((start, end, size)) = content_range.as_deref().and_then(parse_range)
                else {
                    return Err(Failure::Fetch(
                        format!("{what}: HTTP 206 without a usable Content-Range"),
                        ranges,
                    ));
                };
                if start != offset || end + 1 - start != body.len() as u64 {
                    return Err(Failure::Fetch(
                        format!(
                            "{what}: asked bytes {offset}-{last}, got {} bytes as {start}-{end}",
                            body.len()
                        ),
                        ranges,
                    ));
                }
                if size > options.max_file {
                    return Err(Failure::Fetch(
                        format!("{what}: {size} bytes is larger than accepted"),
                        ranges,
                    ));
                }
                if total.is_some_and(|t| t != size) {
                    return Err(Failure::Fetch(
                        format!(
                            "{what}: the server says {size} bytes, the metadata {}",
                            total.unwrap_or_default()
                        ),
                        ranges,
                    ));
                }
                total = Some(size);
            }
            // The server ignored the range: the whole file came.
            200 if offset == 0 => whole = true,
            // An empty file has no satisfiable range.
            416 if offset == 0 && total.unwrap_or(0) == 0 => break,
            other => {
                return Err(Failure::Fetch(
                    format!("{what}: HTTP {other} for bytes {offset}-{last}"),
                    ranges,
                ));
            }
        }
        sha1.update(&body);
        sha256.update(&body);
        out.write_all(&body).await.map_err(|e| {
            Failure::Fetch(
                format!("{what}: cannot write {}: {e}", path.display()),
                ranges,
            )
        })?;
        offset += body.len() as u64;
        if body.is_empty() && !whole {
            return Err(Failure::Fetch(
                format!("{what}: an empty range answer"),
                ranges,
            ));
        }
    }
    out.flush().await.map_err(|e| {
        Failure::Fetch(
            format!("{what}: cannot write {}: {e}", path.display()),
            ranges,
        )
    })?;
    let got1 = BASE64.encode(sha1.finalize());
    if got1 != file.digest.trim() {
        return Err(Failure::Digest(
            format!(
                "{what}: SHA-1 {got1} does not match the FileDigest {}",
                file.digest
            ),
            ranges,
        ));
    }
    if let Some(want) = &file.sha256 {
        let got = BASE64.encode(sha256.finalize());
        if got != want.trim() {
            return Err(Failure::Digest(
                format!("{what}: SHA-256 {got} does not match the AdditionalDigest {want}"),
                ranges,
            ));
        }
    }
    Ok((offset, ranges))
}

/// `bytes a-b/size` → (a, b, size).
fn parse_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (span, size) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let (a, b, size) = (
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        size.trim().parse().ok()?,
    );
    (a <= b && b < size).then_some((a, b, size))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::client::transport::tests::{Act, raw_server, transport};
    use crate::client::{CachedRevision, Identity};

    fn cached(name: &str, content: &[u8], url: String) -> CachedFile {
        CachedFile {
            digest: BASE64.encode(Sha1::digest(content)),
            name: Some(name.into()),
            url: Some(url),
            decryption_information: None,
            decryption_key: None,
            sha256: Some(BASE64.encode(Sha256::digest(content))),
            size: Some(content.len() as u64),
            encrypted: false,
        }
    }

    #[tokio::test]
    async fn digests_are_checked_and_a_bad_file_is_removed() {
        // The server ignores Range and sends whole bodies: right, wrong, right but for SHA-256.
        let (url, mut seen) = raw_server(|_, r| {
            let body = ["good content", "bad content!", "third content"][r];
            Act::Send(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes(),
            )
        })
        .await;
        let mut state = ClientState::new(Identity::new(
            "8d1e7f4c-3c55-4a4e-9b3a-0f0e0d0c0b0a",
            "d.invalid",
        ));
        let files = vec![
            cached(
                "good.cab",
                b"good content",
                format!("{url}/Content/1/a.cab"),
            ),
            cached("bad.cab", b"evil content", format!("{url}/Content/2/b.cab")),
            // The SHA-1 matches, the SHA-256 does not.
            CachedFile {
                sha256: Some(BASE64.encode(Sha256::digest(b"other"))),
                ..cached(
                    "bad256.cab",
                    b"third content",
                    format!("{url}/Content/3/c.cab"),
                )
            },
        ];
        state.revisions.insert(
            7,
            CachedRevision {
                update_id: "u".into(),
                revision_number: 1,
                update_type: "Software".into(),
                is_leaf: true,
                action: "Install".into(),
                core: String::new(),
                fetched: BTreeSet::new(),
                extended: None,
                files,
                installed: None,
                printer: false,
                has_encrypted_files: None,
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let mut t = transport(&url);
        let mut stats = RunStats::default();
        let mut recorded = Vec::new();
        let report = download(
            &state,
            &mut t,
            &DownloadOptions::new(dir.path().join("dl")),
            &mut stats,
            |e| recorded.push(e),
        )
        .await;
        assert_eq!(
            (report.files, report.bytes, report.digest_failures),
            (1, 12, 2),
            "{report:?}"
        );
        assert!(
            report.problems[1].contains("bad256.cab") && report.problems[1].contains("SHA-256"),
            "{report:?}"
        );
        assert!(!dir.path().join("dl/bad256.cab").exists());
        assert!(
            report.problems[0].contains("bad.cab") && report.problems[0].contains("SHA-1"),
            "{report:?}"
        );
        assert_eq!(
            std::fs::read(dir.path().join("dl/good.cab")).unwrap(),
            b"good content"
        );
        assert!(!dir.path().join("dl/bad.cab").exists());
        assert_eq!(recorded.len(), 3);
        assert_eq!(stats.exchanges, 3);
        let first = String::from_utf8(seen.recv().await.unwrap().1).unwrap();
        assert!(
            first.starts_with("GET /Content/1/a.cab HTTP/1.1\r\n"),
            "{first}"
        );
        assert!(first.contains("\r\nRange: bytes=0-11\r\n"), "{first}");
        assert!(first.contains(DO_USER_AGENT), "{first}");
    }

    #[test]
    fn content_ranges_parse() {
        assert_eq!(
            parse_range("bytes 0-1048575/3000000"),
            Some((0, 1048575, 3000000))
        );
        assert_eq!(parse_range("bytes 5-4/10"), None);
        assert_eq!(parse_range("bytes 0-10/10"), None);
        assert_eq!(parse_range("bytes */10"), None);
    }

    #[test]
    fn file_names_are_plain_and_unique() {
        let f = |name: Option<&str>| CachedFile {
            digest: "o3nVUm+zp6BCPaHNf8MYKo1EhEk=".into(),
            name: name.map(str::to_string),
            url: None,
            decryption_information: None,
            decryption_key: None,
            sha256: None,
            size: None,
            encrypted: false,
        };
        let mut taken = BTreeSet::new();
        assert_eq!(file_name(&f(Some("a.cab")), &mut taken), "a.cab");
        assert_eq!(
            file_name(&f(Some("a.cab")), &mut taken),
            "A379D5526FB3A7A0423DA1CD7FC3182A8D448449-a.cab"
        );
        assert_eq!(
            file_name(&f(Some("../x")), &mut taken),
            "A379D5526FB3A7A0423DA1CD7FC3182A8D448449"
        );
    }
}
