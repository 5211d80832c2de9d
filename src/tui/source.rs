//! Where the TUI's records come from: an index of the capture files built in a background
//! thread (one small entry per exchange, bodies left on disk), lazy loading of one record,
//! and following a capture that is still being written.
//!
//! The index arrives as a stream of [`Msg`]s, so a live source (the proxy's recorder, or a
//! tailed capture file) feeds the same state as an offline one.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use captures::wire::classify_request;
use captures::{CaptureReader, ReadItem, Record, parse_line};

use super::state::Msg;

/// Where a record lives.
#[derive(Clone, Debug)]
pub enum Loc {
    /// A line of a plain JSON Lines file, at a byte offset.
    Line {
        /// Index of the file.
        file: usize,
        /// Byte offset of the line.
        offset: u64,
    },
    /// Held in memory (compressed captures and HAR, read through the capture reader).
    Memory(Arc<Record>),
}

/// The index entry of one exchange (or error record).
#[derive(Clone, Debug)]
pub struct Entry {
    /// `file#id`, as the analyzer names exchanges.
    pub key: String,
    /// The start time, RFC 3339.
    pub time: String,
    /// The web method, `Content`, or `other`.
    pub operation: String,
    /// HTTP status (None for an error record).
    pub status: Option<u16>,
    /// Request body size.
    pub request_size: u64,
    /// Response body size.
    pub response_size: u64,
    /// The error of an error record.
    pub error: Option<String>,
    /// Where the full record is.
    pub loc: Loc,
}

/// The label the analyzer gives a file: its name, `(n)` added to repeated names.
pub fn labels(paths: &[PathBuf]) -> Vec<String> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    paths
        .iter()
        .map(|p| {
            let label = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string());
            let n = seen.entry(label.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                format!("{label}({n})")
            } else {
                label
            }
        })
        .collect()
}

/// Builds the entry of one record (None for header and connection records).
pub fn entry_of(label: &str, record: &Record, loc: Loc) -> Option<Entry> {
    let time = record.start().to_rfc3339().unwrap_or_default();
    match record {
        Record::Exchange(ex) => Some(Entry {
            key: format!("{label}#{}", ex.id),
            time,
            operation: classify_request(&ex.request).label().to_string(),
            status: Some(ex.response.status),
            request_size: ex.request.body.len(),
            response_size: ex.response.body.len(),
            error: None,
            loc,
        }),
        Record::Error(er) => Some(Entry {
            key: format!("{label}#{}", er.id),
            time,
            operation: er.request.as_ref().map_or("other".to_string(), |r| {
                classify_request(r).label().to_string()
            }),
            status: er.response.as_ref().map(|r| r.status),
            request_size: er.request.as_ref().map_or(0, |r| r.body.len()),
            response_size: er.response.as_ref().map_or(0, |r| r.body.len()),
            error: Some(er.message.clone()),
            loc,
        }),
        _ => None,
    }
}

/// A plain JSON Lines capture (indexed by byte offset and followable), not compressed or HAR.
pub fn is_plain(path: &Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    !(name.ends_with(".zst") || name.ends_with(".gz") || name.ends_with(".har"))
}

/// How many entries go in one message.
const BATCH: usize = 2048;
/// How many entries go in the first message.
const FIRST_BATCH: usize = 64;

/// Indexes file `file` and sends [`Msg::Indexed`] batches; with `follow`, keeps reading the
/// lines appended to it until `stop` is set.
pub fn index_file(
    file: usize,
    path: &Path,
    label: &str,
    follow: bool,
    stop: &AtomicBool,
    tx: &Sender<Msg>,
) {
    let result = if is_plain(path) {
        index_plain(file, path, label, follow, stop, tx)
    } else {
        index_with_reader(file, path, label, tx)
    };
    let _ = tx.send(match result {
        Ok(()) => Msg::IndexDone { file },
        Err(e) => Msg::IndexFailed {
            file,
            error: format!("{e:#}"),
        },
    });
}

fn index_plain(
    file: usize,
    path: &Path,
    label: &str,
    follow: bool,
    stop: &AtomicBool,
    tx: &Sender<Msg>,
) -> Result<()> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut offset = 0u64;
    let mut line_no = 0u64;
    let mut line = Vec::new();
    let mut batch = Vec::new();
    let mut problems = Vec::new();
    let mut last_send = Instant::now();
    let mut sent_any = false;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        line.clear();
        let n = r
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let complete = line.last() == Some(&b'\n');
        if n == 0 || (!complete && follow) {
            // End of what is written so far.
            flush(file, offset, &mut batch, &mut problems, tx);
            if !follow {
                return Ok(());
            }
            // A line still being written is read again whole.
            r.seek(SeekFrom::Start(offset))?;
            std::thread::sleep(Duration::from_millis(150));
            continue;
        }
        line_no += 1;
        let start = offset;
        offset += n as u64;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_line(&line) {
            Ok(record) => {
                if let Some(e) = entry_of(
                    label,
                    &record,
                    Loc::Line {
                        file,
                        offset: start,
                    },
                ) {
                    batch.push(e);
                }
            }
            Err(p) => problems.push(format!("{label}:{line_no}: {}", p.message)),
        }
        // A small first batch: the first frame shows records as soon as possible.
        let limit = if sent_any { BATCH } else { FIRST_BATCH };
        if batch.len() >= limit || last_send.elapsed() > Duration::from_millis(100) {
            sent_any = true;
            flush(file, offset, &mut batch, &mut problems, tx);
            last_send = Instant::now();
        }
    }
}

fn flush(
    file: usize,
    bytes: u64,
    batch: &mut Vec<Entry>,
    problems: &mut Vec<String>,
    tx: &Sender<Msg>,
) {
    let _ = tx.send(Msg::Indexed {
        file,
        bytes,
        entries: std::mem::take(batch),
        problems: std::mem::take(problems),
    });
}

fn index_with_reader(file: usize, path: &Path, label: &str, tx: &Sender<Msg>) -> Result<()> {
    let reader =
        CaptureReader::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut batch = Vec::new();
    let mut problems = Vec::new();
    for item in reader {
        match item {
            ReadItem::Record { record, .. } => {
                let record = Arc::new(record);
                if let Some(e) = entry_of(label, &record, Loc::Memory(record.clone())) {
                    batch.push(e);
                }
            }
            ReadItem::Problem(p) => problems.push(format!("{label}:{}: {}", p.line, p.message)),
        }
        if batch.len() >= BATCH {
            flush(file, 0, &mut batch, &mut problems, tx);
        }
    }
    flush(file, 0, &mut batch, &mut problems, tx);
    Ok(())
}

/// Reads the full record an entry points to.
pub fn load(paths: &[PathBuf], loc: &Loc) -> Result<Arc<Record>> {
    match loc {
        Loc::Memory(r) => Ok(r.clone()),
        Loc::Line { file, offset } => {
            let Some(path) = paths.get(*file) else {
                bail!("no input file {file}");
            };
            let mut f =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            f.seek(SeekFrom::Start(*offset))?;
            let mut line = Vec::new();
            BufReader::new(f.take(u64::MAX))
                .read_until(b'\n', &mut line)
                .with_context(|| format!("cannot read {}", path.display()))?;
            parse_line(&line)
                .map(Arc::new)
                .map_err(|p| anyhow::anyhow!("{} at byte {offset}: {}", path.display(), p.message))
        }
    }
}
