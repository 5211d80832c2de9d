//! [`CaptureReader`]: streams the records of a capture, reporting damaged lines and going on.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::compression::{Compression, Frames, GzipCodec, ZstdCodec, as_gap};
use crate::error::{Error, Result};
use crate::har;
use crate::record::{FORMAT_NAME, FORMAT_VERSION, Record};

/// What kind of damage a [`Problem`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A line that ends early: the last line of a killed writer.
    Truncated,
    /// A line that is not JSON, or not a valid record.
    Corrupt,
    /// A record whose `"type"` this version does not know (written by a newer version).
    UnknownType,
    /// A capture header announcing a newer format version or another format.
    UnsupportedVersion,
    /// Compressed data that could not be decoded and was skipped.
    Compression,
    /// A HAR entry that lacks something a record needs; imported as far as possible.
    Incomplete,
    /// Reading the file failed; nothing after this point was read.
    Io,
}

/// Damage found while reading: the place, what kind, and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, when reading one.
    pub path: Option<PathBuf>,
    /// 1-based line (of the decompressed text); for HAR, the 1-based entry index (0: the log).
    pub line: u64,
    /// What kind of damage.
    pub kind: ProblemKind,
    /// What is wrong, in words.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(line: u64, kind: ProblemKind, message: impl Into<String>) -> Self {
        Self {
            path: None,
            line,
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}:", p.display())?;
        }
        write!(f, "{}: {}", self.line, self.message)
    }
}

/// Records with their line numbers (HAR: entry indexes), and the problems met reading them.
pub type Loaded = (Vec<(u64, Record)>, Vec<Problem>);

/// One item from a [`CaptureReader`].
// Nearly every item is a record: boxing it would cost an allocation per record for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadItem {
    /// A record, and the line (HAR: entry index) it came from.
    Record {
        /// 1-based line; for HAR the 1-based entry index (0 for records kept in the log).
        line: u64,
        /// The record.
        record: Record,
    },
    /// A line or stretch that could not be read; reading goes on after it.
    Problem(Problem),
}

/// Decodes one line of a capture (without its newline) into a record.
///
/// The error's `line` is 0 and `path` is `None`; callers fill them in.
pub fn parse_line(line: &[u8]) -> Result<Record, Problem> {
    if let Some(record) = parse_tag_first(line) {
        return Ok(record);
    }
    match serde_json::from_slice::<Record>(line) {
        Ok(Record::Header(h)) if h.format != FORMAT_NAME || h.version > FORMAT_VERSION => {
            Err(Problem::new(
                0,
                ProblemKind::UnsupportedVersion,
                format!(
                    "capture header says format {:?} version {}; this reader knows {FORMAT_NAME:?} version {FORMAT_VERSION} (reading on)",
                    h.format, h.version
                ),
            ))
        }
        Ok(record) => Ok(record),
        Err(e) => Err(diagnose(line, e)),
    }
}

/// A record laid out as the writer lays it out, its `"type"` first, read straight into its
/// variant (serde's internally tagged `Record` buffers the whole record first). None for a
/// header, any other layout or a record that does not parse so: the general path reads
/// those, with its checks and messages.
fn parse_tag_first(line: &[u8]) -> Option<Record> {
    let rest = line.strip_prefix(br#"{"type":""#)?;
    let tag = &rest[..rest.iter().position(|&b| b == b'"')?];
    // The variant structs ignore unknown fields: the "type" key among them.
    match tag {
        b"exchange" => serde_json::from_slice(line).ok().map(Record::Exchange),
        b"error" => serde_json::from_slice(line).ok().map(Record::Error),
        b"connection" => serde_json::from_slice(line).ok().map(Record::Connection),
        _ => None,
    }
}

fn diagnose(line: &[u8], e: serde_json::Error) -> Problem {
    if e.is_eof() {
        return Problem::new(0, ProblemKind::Truncated, format!("record cut off: {e}"));
    }
    let Ok(value) = serde_json::from_slice::<Value>(line) else {
        return Problem::new(0, ProblemKind::Corrupt, format!("not JSON: {e}"));
    };
    match value.get("type").and_then(Value::as_str) {
        Some(t @ ("capture" | "exchange" | "error" | "connection")) => Problem::new(
            0,
            ProblemKind::Corrupt,
            format!("invalid {t:?} record: {e}"),
        ),
        Some(t) => Problem::new(
            0,
            ProblemKind::UnknownType,
            format!("record type {t:?} is unknown to this version; skipped"),
        ),
        None => Problem::new(
            0,
            ProblemKind::Corrupt,
            "object has no \"type\" field".to_owned(),
        ),
    }
}

/// Streams the records of a capture file (`.jsonl`, `.jsonl.zst`, `.jsonl.gz`, or HAR).
///
/// Compression is recognized by magic number (by file name when the first frame is
/// damaged); HAR by the `.har` extension, or by content starting with `{` and `"log"`.
/// A damaged line is reported as a [`ReadItem::Problem`]
/// with its line number and skipped; reading goes on with the next line, and after damaged
/// compressed data with the next frame. Blank lines are skipped.
pub struct CaptureReader {
    path: Option<PathBuf>,
    source: Source,
}

enum Source {
    Lines(Lines),
    Items(VecDeque<ReadItem>),
}

struct Lines {
    input: BufReader<Box<dyn Read + Send>>,
    buf: Vec<u8>,
    /// Lines read so far.
    line: u64,
    /// A read error met while sniffing the format, reported first.
    pending: Option<io::Error>,
    done: bool,
}

impl fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The file name says HAR (`.har`, `.har.gz`, `.har.zst`).
fn is_har_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    [".har", ".har.gz", ".har.zst"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// A source that adds the bytes read through it to a shared counter.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl CaptureReader {
    /// Opens a capture file (or HAR file) for reading.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_wrapped(path.as_ref(), |file| file)
    }

    /// Opens a capture file like [`CaptureReader::open`], adding every byte read from the
    /// file (compressed bytes for a compressed capture) to `read`: progress against the
    /// file's size.
    pub fn open_counting(path: impl AsRef<Path>, read: Arc<AtomicU64>) -> Result<Self> {
        Self::open_wrapped(path.as_ref(), |inner| Counting { inner, read })
    }

    fn open_wrapped<R: Read + Seek + Send + 'static>(
        path: &Path,
        wrap: impl FnOnce(File) -> R,
    ) -> Result<Self> {
        let file = File::open(path).map_err(|source| Error::Open {
            path: path.into(),
            source,
        })?;
        Self::build(
            wrap(file),
            Some(path.to_path_buf()),
            is_har_name(path),
            Compression::from_path(path),
        )
    }

    /// Reads a capture (or HAR document) from any seekable source, e.g. an in-memory cursor.
    pub fn from_reader<R: Read + Seek + Send + 'static>(source: R) -> Result<Self> {
        Self::build(source, None, false, Compression::None)
    }

    fn build<R: Read + Seek + Send + 'static>(
        mut source: R,
        path: Option<PathBuf>,
        force_har: bool,
        by_name: Compression,
    ) -> Result<Self> {
        let shown = path.clone().unwrap_or_else(|| PathBuf::from("<memory>"));
        let read_err = |source| Error::Read {
            path: shown.clone(),
            source,
        };
        let mut magic = [0u8; 4];
        let n = read_up_to(&mut source, &mut magic).map_err(read_err)?;
        source.rewind().map_err(read_err)?;
        // The magic number decides; the name still counts when the first frame is damaged.
        let compression = match Compression::sniff(&magic[..n]) {
            Compression::None => by_name,
            sniffed => sniffed,
        };
        let decoded: Box<dyn Read + Send> = match compression {
            Compression::None => Box::new(source),
            Compression::Zstd => Box::new(Frames::new(source, ZstdCodec::new().map_err(read_err)?)),
            Compression::Gzip => Box::new(Frames::new(source, GzipCodec::new())),
        };
        let mut input = BufReader::with_capacity(64 * 1024, decoded);
        let (sniffed, pending) = match looks_like_har(&mut input) {
            Ok(h) => (h, None),
            Err(e) => (false, Some(e)),
        };
        let is_har = force_har || sniffed;
        tracing::debug!(path = %shown.display(), ?compression, is_har, "reading capture");
        let source = if is_har {
            let mut text = Vec::new();
            input.read_to_end(&mut text).map_err(read_err)?;
            let (records, problems) = har::import_bytes(&text, &shown)?;
            let mut items: VecDeque<ReadItem> = records
                .into_iter()
                .map(|(line, record)| ReadItem::Record { line, record })
                .collect();
            items.extend(problems.into_iter().map(ReadItem::Problem));
            Source::Items(items)
        } else {
            Source::Lines(Lines {
                input,
                buf: Vec::new(),
                line: 0,
                pending,
                done: false,
            })
        };
        Ok(Self { path, source })
    }

    /// The file being read, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn problem(&self, mut p: Problem) -> ReadItem {
        p.path = self.path.clone();
        tracing::debug!(problem = %p, "capture problem");
        ReadItem::Problem(p)
    }
}

impl Iterator for CaptureReader {
    type Item = ReadItem;

    fn next(&mut self) -> Option<ReadItem> {
        let lines = match &mut self.source {
            Source::Items(items) => {
                let item = items.pop_front()?;
                return Some(match item {
                    ReadItem::Problem(p) => self.problem(p),
                    record => record,
                });
            }
            Source::Lines(lines) => lines,
        };
        let item = lines.next_item()?;
        Some(match item {
            ReadItem::Problem(p) => self.problem(p),
            record => record,
        })
    }
}

impl Lines {
    fn next_item(&mut self) -> Option<ReadItem> {
        if let Some(e) = self.pending.take() {
            return Some(self.read_failed(&e));
        }
        loop {
            if self.done {
                return None;
            }
            self.buf.clear();
            match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {
                    self.line += 1;
                    let complete = self.buf.last() == Some(&b'\n');
                    let text = self.buf.trim_ascii();
                    if text.is_empty() {
                        continue;
                    }
                    return Some(match parse_line(text) {
                        Ok(record) => ReadItem::Record {
                            line: self.line,
                            record,
                        },
                        Err(mut p) => {
                            p.line = self.line;
                            if !complete && p.kind == ProblemKind::Corrupt {
                                p.kind = ProblemKind::Truncated;
                                p.message = format!("last line cut off: {}", p.message);
                            }
                            ReadItem::Problem(p)
                        }
                    });
                }
                // read_until leaves the bytes it read before the error in `buf`.
                Err(e) => return Some(self.read_failed(&e)),
            }
        }
    }

    /// Reports a gap in compressed data (and the line it cut), or a fatal read error.
    fn read_failed(&mut self, e: &io::Error) -> ReadItem {
        let partial = !self.buf.trim_ascii().is_empty();
        self.buf.clear();
        let p = match as_gap(e) {
            Some(gap) if partial => {
                self.line += 1;
                Problem::new(
                    self.line,
                    ProblemKind::Truncated,
                    format!("record cut off: {gap}"),
                )
            }
            // Nothing of the next line was read: the gap sits before line `line + 1`.
            Some(gap) => Problem::new(self.line + 1, ProblemKind::Compression, gap.to_string()),
            None => {
                self.done = true;
                self.line += 1;
                Problem::new(
                    self.line,
                    ProblemKind::Io,
                    format!("read failed, stopped reading: {e}"),
                )
            }
        };
        ReadItem::Problem(p)
    }
}

/// Reads a whole capture: its records with their line numbers, and its problems.
pub fn read_all(path: impl AsRef<Path>) -> Result<Loaded> {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for item in CaptureReader::open(path)? {
        match item {
            ReadItem::Record { line, record } => records.push((line, record)),
            ReadItem::Problem(p) => problems.push(p),
        }
    }
    Ok((records, problems))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// True if the text starts (after a BOM and whitespace) with `{` and then the key `"log"`.
fn looks_like_har<R: Read>(input: &mut BufReader<R>) -> io::Result<bool> {
    let start = input.fill_buf()?;
    let start = start.strip_prefix(b"\xef\xbb\xbf").unwrap_or(start);
    let Some(rest) = start.trim_ascii_start().strip_prefix(b"{") else {
        return Ok(false);
    };
    Ok(rest.trim_ascii_start().starts_with(b"\"log\""))
}
