//! Compression of capture files: choosing it, and reading concatenated frames robustly.
//!
//! Writers append one zstd frame or gzip member per writing session and flush after every
//! record, so a killed writer leaves every flushed record decodable. The readers here
//! decode frame after frame; when a frame is cut short or corrupt they report a *gap*
//! once, look for the next frame's magic number, and go on from there, so a frame
//! appended after a crash is still read.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use zstd::stream::raw::{InBuffer, Operation as _, OutBuffer};

/// How a capture file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Plain JSON Lines (`.jsonl`).
    None,
    /// Zstandard (`.jsonl.zst`).
    Zstd,
    /// Gzip (`.jsonl.gz`).
    Gzip,
}

impl Compression {
    /// Chooses by file extension: `.zst`/`.zstd` → zstd, `.gz` → gzip, anything else → none.
    pub fn from_path(path: &Path) -> Self {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext.eq_ignore_ascii_case("zst") || ext.eq_ignore_ascii_case("zstd") {
            Compression::Zstd
        } else if ext.eq_ignore_ascii_case("gz") {
            Compression::Gzip
        } else {
            Compression::None
        }
    }

    /// Recognizes a zstd or gzip magic number at the start of a file.
    pub fn sniff(start: &[u8]) -> Self {
        if start.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else if start.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else {
            Compression::None
        }
    }
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// A stretch of compressed input that could not be decoded and was skipped.
///
/// Returned once, wrapped in an [`io::Error`], by the frame readers; reading again goes on
/// after the gap.
#[derive(Debug)]
pub(crate) struct Gap {
    pub(crate) message: String,
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Gap {}

/// The gap carried by `e`, if it is one.
pub(crate) fn as_gap(e: &io::Error) -> Option<&Gap> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Gap>())
}

fn gap(message: String) -> io::Error {
    io::Error::other(Gap { message })
}

/// What one decoding step did.
pub(crate) enum Step {
    /// Input consumed, output produced, and whether the frame ended.
    Progress {
        consumed: usize,
        produced: usize,
        done: bool,
    },
    /// The frame is damaged; `produced` bytes of output before the damage are good.
    Failed { produced: usize, message: String },
}

/// A decoder of one kind of frame, driven by [`Frames`].
pub(crate) trait Codec {
    /// Magic number at the start of every frame.
    const MAGIC: &'static [u8];
    /// What a frame is called in messages, e.g. `zstd frame`.
    const FRAME: &'static str;
    /// Prepares for a new frame.
    fn begin(&mut self) -> io::Result<()>;
    /// Decodes from `input` into `out` (which is never empty).
    fn step(&mut self, input: &[u8], out: &mut [u8]) -> Step;
}

/// Reads consecutive frames, skipping to the next frame after a damaged one.
///
/// Output decoded before the damage is returned first; the gap is reported by the next
/// read, which has already moved to the next magic number.
pub(crate) struct Frames<R, C> {
    inner: R,
    codec: C,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File offset of `buf[0]`.
    buf_offset: u64,
    eof: bool,
    in_frame: bool,
    frame_start: u64,
    deferred: Option<io::Error>,
}

impl<R: Read + Seek, C: Codec> Frames<R, C> {
    pub(crate) fn new(inner: R, codec: C) -> Self {
        Self {
            inner,
            codec,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
            buf_offset: 0,
            eof: false,
            in_frame: false,
            frame_start: 0,
            deferred: None,
        }
    }

    /// Keeps unread bytes, reads more after them; sets `eof` when there are none.
    fn refill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.buf_offset += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Positions the input at the next magic number at or after `from`, if there is one.
    fn resync(&mut self, from: u64) -> io::Result<Option<u64>> {
        self.inner.seek(SeekFrom::Start(from))?;
        self.buf_offset = from;
        self.start = 0;
        self.end = 0;
        self.eof = false;
        let m = C::MAGIC.len();
        loop {
            let window = &self.buf[self.start..self.end];
            if let Some(i) = window.windows(m).position(|w| w == C::MAGIC) {
                self.start += i;
                return Ok(Some(self.buf_offset + self.start as u64));
            }
            if self.eof {
                self.start = self.end;
                return Ok(None);
            }
            // Keep the last bytes, which may be the start of a magic number.
            self.start = self.end.saturating_sub(m - 1).max(self.start);
            self.refill()?;
        }
    }

    /// Leaves the damaged frame for the next one; the gap to report.
    fn damaged(&mut self, what: &str) -> io::Error {
        let at = self.frame_start;
        self.in_frame = false;
        match self.resync(at + 1) {
            Ok(Some(next)) => gap(format!(
                "{} at byte {at} is {what}; skipped {} bytes to the next one",
                C::FRAME,
                next - at
            )),
            Ok(None) => gap(format!("{} at byte {at} is {what}", C::FRAME)),
            Err(e) => e,
        }
    }
}

impl<R: Read + Seek, C: Codec> Read for Frames<R, C> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if self.start == self.end {
                    if self.eof {
                        return Ok(0);
                    }
                    self.refill()?;
                    continue;
                }
                self.codec.begin()?;
                self.in_frame = true;
                self.frame_start = self.buf_offset + self.start as u64;
            }
            match self.codec.step(&self.buf[self.start..self.end], out) {
                Step::Progress {
                    consumed,
                    produced,
                    done,
                } => {
                    self.start += consumed;
                    if done {
                        self.in_frame = false;
                    }
                    if produced > 0 {
                        return Ok(produced);
                    }
                    if done || consumed > 0 {
                        continue;
                    }
                    // No progress: the codec needs more input than there is. A damaged
                    // length may also have swallowed later frames: look for them.
                    if self.eof {
                        return Err(self.damaged("cut short (writer killed?)"));
                    }
                    if self.start == 0 && self.end == self.buf.len() {
                        return Err(self.damaged("not decodable with a 64 KiB window"));
                    }
                    self.refill()?;
                }
                Step::Failed { produced, message } => {
                    let e = self.damaged(&format!("damaged ({message})"));
                    if produced > 0 {
                        self.deferred = Some(e);
                        return Ok(produced);
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// zstd frames.
///
/// Input is fed no faster than the decoder's own hint, so one call decodes at most one
/// block, and pending output is drained before more input is given: when a block turns
/// out damaged, the output of every earlier block has already been returned (zstd drops
/// the output of a call that fails).
pub(crate) struct ZstdCodec {
    dec: zstd::stream::raw::Decoder<'static>,
    hint: usize,
    drain: bool,
}

impl ZstdCodec {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Self {
            dec: zstd::stream::raw::Decoder::new()?,
            hint: 5,
            drain: false,
        })
    }

    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Step {
        let mut inb = InBuffer::around(input);
        let mut outb = OutBuffer::around(out);
        let result = self.dec.run(&mut inb, &mut outb);
        let produced = outb.pos();
        self.drain = produced == out.len();
        match result {
            Ok(hint) => {
                self.hint = hint;
                Step::Progress {
                    consumed: inb.pos(),
                    produced,
                    done: hint == 0,
                }
            }
            Err(e) => Step::Failed {
                produced,
                message: e.to_string(),
            },
        }
    }
}

impl Codec for ZstdCodec {
    const MAGIC: &'static [u8] = &ZSTD_MAGIC;
    const FRAME: &'static str = "zstd frame";

    fn begin(&mut self) -> io::Result<()> {
        self.hint = 5;
        self.drain = false;
        self.dec.reinit()
    }

    fn step(&mut self, input: &[u8], out: &mut [u8]) -> Step {
        if self.drain {
            let step = self.run(&[], out);
            match step {
                Step::Progress {
                    produced: 0,
                    done: false,
                    ..
                } => {}
                other => return other,
            }
        }
        let n = input.len().min(self.hint.max(1));
        self.run(&input[..n], out)
    }
}

/// gzip members (RFC 1952), decoded here so that output before damage is not lost.
pub(crate) struct GzipCodec {
    state: GzPart,
    inflate: flate2::Decompress,
    crc: flate2::Crc,
}

enum GzPart {
    Header,
    Body,
    Trailer,
}

impl GzipCodec {
    pub(crate) fn new() -> Self {
        Self {
            state: GzPart::Header,
            inflate: flate2::Decompress::new(false),
            crc: flate2::Crc::new(),
        }
    }
}

/// Length of the gzip header at the start of `b`; `Ok(None)` if more bytes are needed.
fn gzip_header_len(b: &[u8]) -> Result<Option<usize>, String> {
    if b.len() < 10 {
        return Ok(None);
    }
    if b[..3] != GZIP_MAGIC {
        return Err("no gzip header".to_owned());
    }
    let flags = b[3];
    if flags & 0xe0 != 0 {
        return Err("reserved gzip header flags set".to_owned());
    }
    let mut pos = 10;
    if flags & 0x04 != 0 {
        let Some(xlen) = b.get(pos..pos + 2) else {
            return Ok(None);
        };
        pos += 2 + usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
    }
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            let Some(rest) = b.get(pos..) else {
                return Ok(None);
            };
            let Some(nul) = rest.iter().position(|&c| c == 0) else {
                return Ok(None);
            };
            pos += nul + 1;
        }
    }
    if flags & 0x02 != 0 {
        pos += 2;
    }
    Ok((b.len() >= pos).then_some(pos))
}

impl Codec for GzipCodec {
    const MAGIC: &'static [u8] = &GZIP_MAGIC;
    const FRAME: &'static str = "gzip member";

    fn begin(&mut self) -> io::Result<()> {
        self.state = GzPart::Header;
        self.inflate.reset(false);
        self.crc.reset();
        Ok(())
    }

    fn step(&mut self, input: &[u8], out: &mut [u8]) -> Step {
        let none = Step::Progress {
            consumed: 0,
            produced: 0,
            done: false,
        };
        match self.state {
            GzPart::Header => match gzip_header_len(input) {
                Ok(Some(n)) => {
                    self.state = GzPart::Body;
                    Step::Progress {
                        consumed: n,
                        produced: 0,
                        done: false,
                    }
                }
                Ok(None) => none,
                Err(message) => Step::Failed {
                    produced: 0,
                    message,
                },
            },
            GzPart::Body => {
                let (in0, out0) = (self.inflate.total_in(), self.inflate.total_out());
                let r = self
                    .inflate
                    .decompress(input, out, flate2::FlushDecompress::None);
                let consumed = (self.inflate.total_in() - in0) as usize;
                let produced = (self.inflate.total_out() - out0) as usize;
                self.crc.update(&out[..produced]);
                match r {
                    Ok(flate2::Status::StreamEnd) => {
                        self.state = GzPart::Trailer;
                        Step::Progress {
                            consumed,
                            produced,
                            done: false,
                        }
                    }
                    Ok(_) => Step::Progress {
                        consumed,
                        produced,
                        done: false,
                    },
                    Err(e) => Step::Failed {
                        produced,
                        message: e.to_string(),
                    },
                }
            }
            GzPart::Trailer => {
                let Some(t) = input.get(..8) else { return none };
                let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
                let size = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
                if crc != self.crc.sum() || size != self.crc.amount() {
                    return Step::Failed {
                        produced: 0,
                        message: "CRC or length mismatch".to_owned(),
                    };
                }
                Step::Progress {
                    consumed: 8,
                    produced: 0,
                    done: true,
                }
            }
        }
    }
}
