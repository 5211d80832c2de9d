//! A spool for streamed sessions: each session is written to an unnamed temporary file
//! (mode 0600, gone when closed) as it closes, and read back in start order, one at a time,
//! with its late findings merged — so a report of any number of sessions keeps only one
//! session and 24 bytes per session in memory.

use std::fs::File;
use std::io::{BufWriter, Read as _, Seek as _, SeekFrom, Write as _};

use crate::report::{Session, SessionSource, Tail, session_index};

/// Sessions written as they arrive (any order).
pub struct Spool {
    file: BufWriter<File>,
    /// (session index, offset, length) of each session written.
    index: Vec<(usize, u64, u64)>,
    /// Bytes written so far.
    end: u64,
    buf: Vec<u8>,
}

impl Spool {
    /// A spool in a new unnamed temporary file (readable by its owner only).
    pub fn new() -> std::io::Result<Spool> {
        let file = tempfile::tempfile()?;
        // An unnamed file may still be opened through /proc: owner only, as captures are.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(Spool {
            file: BufWriter::new(file),
            index: Vec::new(),
            end: 0,
            buf: Vec::new(),
        })
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

    /// The permissions of the spool file.
    #[cfg(test)]
    pub(crate) fn file_mode(&self) -> std::io::Result<std::fs::Permissions> {
        Ok(self.file.get_ref().metadata()?.permissions())
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
        })
    }
}

/// The spooled sessions, read back in start order (see [`Spool::finish`]).
pub struct Spooled<'a> {
    file: File,
    index: Vec<(usize, u64, u64)>,
    tail: &'a Tail,
}

impl SessionSource for Spooled<'_> {
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
