//! [`CaptureWriter`]: appends records to a capture file, one flush per record.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::compression::Compression;
use crate::error::{Error, Result};
use crate::record::{CaptureHeader, Record};

/// Options for [`CaptureWriter::create_or_append_with`].
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Header line written when the file is new.
    pub header: CaptureHeader,
    /// Compression; `None` chooses by file extension.
    pub compression: Option<Compression>,
    /// zstd level (gzip uses its default level).
    pub zstd_level: i32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            header: CaptureHeader::new(concat!("wutap ", env!("CARGO_PKG_VERSION"))),
            compression: None,
            zstd_level: 3,
        }
    }
}

enum Sink {
    Plain(File),
    Zstd(zstd::stream::write::Encoder<'static, File>),
    Gzip(flate2::write::GzEncoder<File>),
}

impl Sink {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Plain(f) => f,
            Sink::Zstd(z) => z,
            Sink::Gzip(g) => g,
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Plain(mut f) => f.flush(),
            Sink::Zstd(z) => z.finish().and_then(|mut f| f.flush()),
            Sink::Gzip(g) => g.finish().and_then(|mut f| f.flush()),
        }
    }
}

/// Appends records to a capture file.
///
/// The file is created with mode 0600 (captures hold cookies and update metadata); an
/// existing file loses any group or other permission bits. The writer takes an exclusive
/// advisory lock, so two proxies cannot interleave records in one file. Every
/// [`write`](Self::write) ends with a flush: a record is on its way to disk, whole and
/// decodable, before `write` returns. A compressed file gets one new frame (zstd) or
/// member (gzip) per writer; [`finish`](Self::finish) or dropping the writer ends it.
pub struct CaptureWriter {
    path: PathBuf,
    sink: Option<Sink>,
    line: Vec<u8>,
    written: u64,
    /// A write failed part-way: start the next record on a new line.
    broken: bool,
}

impl std::fmt::Debug for CaptureWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureWriter")
            .field("path", &self.path)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl CaptureWriter {
    /// Opens `path` for appending, creating it (with a header line) if it does not exist.
    pub fn create_or_append(path: impl AsRef<Path>) -> Result<Self> {
        Self::create_or_append_with(path, WriterOptions::default())
    }

    /// Like [`create_or_append`](Self::create_or_append), with a chosen header and compression.
    pub fn create_or_append_with(path: impl AsRef<Path>, options: WriterOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let open_err = |source| Error::Open {
            path: path.clone(),
            source,
        };
        let mut file = open_private(&path, true).map_err(open_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Locked { path }),
            Err(std::fs::TryLockError::Error(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot lock capture file; writing without a lock");
            }
        }
        tighten_permissions(&file, &path)?;
        let len = file.metadata().map_err(open_err)?.len();
        let compression = options
            .compression
            .unwrap_or_else(|| Compression::from_path(&path));
        let needs_newline = compression == Compression::None
            && len > 0
            && !ends_with_newline(&mut file).map_err(open_err)?;
        let sink = match compression {
            Compression::None => Sink::Plain(file),
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(file, options.zstd_level)
                    .map_err(open_err)?;
                enc.include_checksum(true).map_err(open_err)?;
                Sink::Zstd(enc)
            }
            Compression::Gzip => Sink::Gzip(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::default(),
            )),
        };
        let mut w = Self {
            path,
            sink: Some(sink),
            line: Vec::with_capacity(4096),
            written: 0,
            broken: needs_newline,
        };
        if needs_newline {
            // The last line was cut (a killed writer): the first record starts a new line,
            // so the cut one stays one bad line.
            tracing::warn!(path = %w.path.display(), "capture ends in a cut line; starting a new line after it");
        }
        if len == 0 {
            w.write(&Record::Header(options.header))?;
            tracing::debug!(path = %w.path.display(), ?compression, "created capture");
        } else {
            tracing::debug!(path = %w.path.display(), ?compression, len, "appending to capture");
        }
        Ok(w)
    }

    /// Appends one record as one line and flushes it.
    pub fn write(&mut self, record: &Record) -> Result<()> {
        self.write_batch(std::slice::from_ref(record))
    }

    /// Appends records as lines with one write call and one flush: on disk, whole lines
    /// only, as with [`write`](Self::write) per record.
    ///
    /// A record that cannot be encoded fails the batch before anything is written.
    pub fn write_batch(&mut self, records: &[Record]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.line.clear();
        if self.broken {
            self.line.push(b'\n');
        }
        for (n, record) in (self.written + 1..).zip(records) {
            crate::json::write_record(&mut self.line, record).map_err(|source| Error::Encode {
                path: self.path.clone(),
                record: n,
                source,
            })?;
            self.line.push(b'\n');
        }
        let line = std::mem::take(&mut self.line);
        let result = self.write_raw(&line);
        self.line = line;
        self.broken = result.is_err();
        result?;
        self.written += records.len() as u64;
        tracing::trace!(path = %self.path.display(), records = records.len(), last = self.written, "records written");
        Ok(())
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let record = self.written + 1;
        let Some(sink) = self.sink.as_mut() else {
            return Err(Error::Write {
                path: self.path.clone(),
                record,
                source: io::Error::other("writer already finished"),
            });
        };
        let w = sink.writer();
        w.write_all(bytes)
            .and_then(|()| w.flush())
            .map_err(|source| Error::Write {
                path: self.path.clone(),
                record,
                source,
            })
    }

    /// Records written by this writer (the header line included).
    pub fn records_written(&self) -> u64 {
        self.written
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Ends the compressed frame (if any) and closes the file.
    pub fn finish(mut self) -> Result<()> {
        self.finish_inner()
    }

    fn finish_inner(&mut self) -> Result<()> {
        match self.sink.take() {
            Some(sink) => sink.finish().map_err(|source| Error::Write {
                path: self.path.clone(),
                record: 0,
                source,
            }),
            None => Ok(()),
        }
    }
}

impl Drop for CaptureWriter {
    fn drop(&mut self) {
        if let Err(e) = self.finish_inner() {
            tracing::warn!(error = %e, "capture not closed cleanly");
        }
    }
}

/// Opens (creating with mode 0600) for appending, or creates and truncates.
pub(crate) fn open_private(path: &Path, append: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).create(true);
    if append {
        o.append(true);
    } else {
        o.write(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    o.open(path)
}

/// Removes group and other permission bits from an existing file; never adds any.
pub(crate) fn tighten_permissions(file: &File, path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let err = |source| Error::Permissions {
            path: path.to_path_buf(),
            source,
        };
        let mode = file.metadata().map_err(err)?.permissions().mode();
        if mode & 0o077 != 0 {
            let tight = mode & 0o7700;
            file.set_permissions(std::fs::Permissions::from_mode(tight))
                .map_err(err)?;
            tracing::warn!(path = %path.display(), from = format!("{:o}", mode & 0o7777), to = format!("{tight:o}"), "tightened capture file permissions");
        }
    }
    #[cfg(not(unix))]
    let _ = (file, path);
    Ok(())
}

fn ends_with_newline(file: &mut File) -> io::Result<bool> {
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1))?;
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}
