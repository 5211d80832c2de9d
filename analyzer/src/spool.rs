//! A spool for the streamed entries of a report: each session is written to an unnamed
//! temporary file (mode 0600, gone when closed) as it closes, and read back in start order,
//! one at a time, with its late findings merged; skipped exchanges and input problems go to
//! two more such files, one JSON line each, read back in order. A report of any number of
//! sessions and skipped exchanges keeps only one entry and 24 bytes per session in memory.

use std::fs::File;
use std::io::{BufRead as _, BufReader, BufWriter, Read as _, Seek as _, SeekFrom, Write as _};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Entry;
use crate::input::InputProblem;
use crate::report::{ReportSource, Session, Skipped, Tail, session_index};

/// Report entries written as they arrive (sessions in any order).
pub struct Spool {
    file: BufWriter<File>,
    /// (session index, offset, length) of each session written.
    index: Vec<(usize, u64, u64)>,
    /// Bytes written so far.
    end: u64,
    buf: Vec<u8>,
    skipped: Lines,
    problems: Lines,
}

/// A new unnamed temporary file, readable by its owner only.
fn private_tempfile() -> std::io::Result<File> {
    let file = tempfile::tempfile()?;
    // An unnamed file may still be opened through /proc: owner only, as captures are.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Entries of one kind, one JSON line each, in a private temporary file.
struct Lines {
    file: BufWriter<File>,
}

impl Lines {
    fn new() -> std::io::Result<Lines> {
        Ok(Lines {
            file: BufWriter::new(private_tempfile()?),
        })
    }

    fn push(&mut self, entry: &impl Serialize) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.file, entry)?;
        self.file.write_all(b"\n")
    }

    fn finish(self) -> std::io::Result<File> {
        self.file.into_inner().map_err(|e| e.into_error())
    }
}

/// Reads back the entries of a [`Lines`] file in the order they were written.
fn visit_lines<T: DeserializeOwned>(
    file: &File,
    f: &mut dyn FnMut(&T) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut file = file;
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let entry: T = serde_json::from_slice(&line)?;
        f(&entry)?;
    }
}

impl Spool {
    /// A spool in new unnamed temporary files (readable by their owner only).
    pub fn new() -> std::io::Result<Spool> {
        Ok(Spool {
            file: BufWriter::new(private_tempfile()?),
            index: Vec::new(),
            end: 0,
            buf: Vec::new(),
            skipped: Lines::new()?,
            problems: Lines::new()?,
        })
    }

    /// Writes one entry of [`crate::analyze_streaming`]'s sink.
    pub fn push_entry(&mut self, entry: &Entry) -> std::io::Result<()> {
        match entry {
            Entry::Session(s) => self.push(s),
            Entry::Skipped(s) => self.skipped.push(s),
            Entry::Problem(p) => self.problems.push(p),
        }
    }

    /// Writes one session.
    pub fn push(&mut self, session: &Session) -> std::io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, session)?;
        self.file.write_all(&self.buf)?;
        let len = self.buf.len() as u64;
        self.index.push((
            session_index(&session.id).unwrap_or(usize::MAX),
            self.end,
            len,
        ));
        self.end += len;
        Ok(())
    }

    /// The permissions of the spool files (sessions, skipped exchanges, input problems).
    #[cfg(test)]
    pub(crate) fn file_modes(&self) -> std::io::Result<[std::fs::Permissions; 3]> {
        Ok([
            self.file.get_ref().metadata()?.permissions(),
            self.skipped.file.get_ref().metadata()?.permissions(),
            self.problems.file.get_ref().metadata()?.permissions(),
        ])
    }

    /// Sessions written so far.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no session was written.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The sessions to read back in start order, completed with `tail`'s late findings.
    pub fn finish(self, tail: &Tail) -> std::io::Result<Spooled<'_>> {
        let mut index = self.index;
        index.sort_by_key(|(si, _, _)| *si);
        Ok(Spooled {
            file: self.file.into_inner().map_err(|e| e.into_error())?,
            index,
            tail,
            skipped: self.skipped.finish()?,
            problems: self.problems.finish()?,
        })
    }
}

/// The spooled entries, sessions read back in start order (see [`Spool::finish`]).
pub struct Spooled<'a> {
    file: File,
    index: Vec<(usize, u64, u64)>,
    tail: &'a Tail,
    skipped: File,
    problems: File,
}

impl ReportSource for Spooled<'_> {
    fn visit_skipped(
        &self,
        f: &mut dyn FnMut(&Skipped) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        visit_lines(&self.skipped, f)
    }

    fn visit_problems(
        &self,
        f: &mut dyn FnMut(&InputProblem) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        visit_lines(&self.problems, f)
    }

    fn visit(&self, f: &mut dyn FnMut(&Session) -> std::io::Result<()>) -> std::io::Result<()> {
        let mut file = &self.file;
        let mut buf = Vec::new();
        for &(_, at, len) in &self.index {
            let len = usize::try_from(len).map_err(std::io::Error::other)?;
            buf.resize(len, 0);
            file.seek(SeekFrom::Start(at))?;
            file.read_exact(&mut buf)?;
            let mut session: Session = serde_json::from_slice(&buf)?;
            self.tail.complete(&mut session);
            f(&session)?;
        }
        Ok(())
    }
}
