//! Xpress: the `Content-Encoding: xpress` body compression of MS-WUSP (reference 1.3).
//!
//! A body is a sequence of blocks, each an 8-byte header (`u32` LE uncompressed size, `u32` LE
//! compressed size, both at most [`MAX_BLOCK`]) followed by that many compressed bytes; there is
//! no trailer. A block whose two sizes are equal is *stored*: its payload is the raw bytes.
//! Any other payload is the "Plain LZ77" of [MS-XCA] 2.3/2.4: 32-bit flag words read from the
//! most significant bit down, a clear bit for a literal byte, a set bit for a match whose length
//! may spill into a shared nibble, a byte, a `u16` or a `u32`.
//!
//! Each block is coded on its own, as Windows compresses each input block with a fresh
//! `RtlCompressBuffer` call: match offsets count back within the current block's output, and an
//! offset that reaches before the block's first byte is an error, even if earlier blocks have
//! produced output. Decoding a block stops when its compressed bytes run out or its declared
//! uncompressed size is reached (bytes after that point, such as the terminating flag word
//! the encoder writes, are ignored); the block must then have produced exactly its declared size.
//!
//! The decoder is meant for hostile input: every length and offset is checked before use,
//! [`Limits`] bound the output and block count, and errors name the block, the input offset and
//! what was wrong. [`decode_partial`] keeps what decoded before a fault, for a recording proxy
//! that must show as much of a damaged body as it can.
//!
//! The encoder is a greedy-with-one-step-lazy LZ77 matcher over hash chains of 3-byte prefixes,
//! with an 8192-byte window (the largest offset the format can express) inside the block.
//! A block that would not shrink is emitted stored.
//!
//! ```
//! use wusp::xpress;
//!
//! let xml = b"<UpdateInfo><ID>1</ID></UpdateInfo><UpdateInfo><ID>2</ID></UpdateInfo>";
//! let body = xpress::encode(xml);
//! assert!(body.len() < xml.len() + 8);
//! assert!(xpress::looks_like_xpress(&body));
//! assert_eq!(xpress::decode(&body)?, xml);
//! # Ok::<(), xpress::XpressError>(())
//! ```

/// The largest uncompressed or compressed size one block header may declare.
pub const MAX_BLOCK: usize = 65535;

/// Size of a block header: uncompressed size then compressed size, both `u32` little-endian.
const HEADER: usize = 8;
/// Shortest match the format can express.
const MIN_MATCH: usize = 3;
/// Farthest match offset the format can express: 13 bits of `offset - 1`.
const MAX_OFFSET: usize = 8192;
/// Smallest `u16`/`u32` long-length value a decoder accepts ([MS-XCA] 2.4: below it, the
/// length would have fitted a shorter form).
const MIN_LONG_LENGTH: u32 = 22;

/// Limits against hostile input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest total decoded size, in bytes, across all blocks.
    pub max_output: usize,
    /// Largest number of blocks (empty blocks included) a body may have.
    pub max_blocks: usize,
}

impl Limits {
    /// Limits for `max_output` decoded bytes, with a block budget derived from it generously.
    ///
    /// The budget allows blocks averaging 64 bytes, plus 1024 spare, far below any real encoder
    /// (Windows uses 65535-byte blocks, WS2025 16352-byte ones); it only stops a body made of
    /// millions of empty headers.
    #[must_use]
    pub const fn for_max_output(max_output: usize) -> Self {
        Self {
            max_output,
            max_blocks: max_output / 64 + 1024,
        }
    }
}

impl Default for Limits {
    /// 256 MiB of output, and the block budget [`Limits::for_max_output`] derives from it.
    fn default() -> Self {
        Self::for_max_output(256 << 20)
    }
}

/// Why an Xpress body failed to decode.
///
/// Every variant carries `block`, the zero-based index of the failing block, and `at`, a byte
/// offset in the whole input: the offending item for problems inside a payload, the block
/// header for problems with the block as a whole.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum XpressError {
    /// Fewer than 8 bytes remain where a block header should start.
    #[error("xpress block {block} at byte {at}: truncated block header ({available} of 8 bytes)")]
    TruncatedHeader {
        /// Index of the block.
        block: usize,
        /// Input offset of the partial header.
        at: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// A header declares a size over [`MAX_BLOCK`].
    #[error(
        "xpress block {block} at byte {at}: declared sizes exceed 65535 \
         (uncompressed {uncompressed}, compressed {compressed})"
    )]
    BlockTooLarge {
        /// Index of the block.
        block: usize,
        /// Input offset of the header.
        at: usize,
        /// Declared uncompressed size.
        uncompressed: u32,
        /// Declared compressed size.
        compressed: u32,
    },
    /// The input ends before the compressed bytes a header declares.
    #[error(
        "xpress block {block} at byte {at}: truncated payload \
         ({available} of {compressed} compressed bytes present)"
    )]
    TruncatedPayload {
        /// Index of the block.
        block: usize,
        /// Input offset of the header.
        at: usize,
        /// Declared compressed size.
        compressed: usize,
        /// Payload bytes actually present.
        available: usize,
    },
    /// A flag word is cut short by the end of the block's compressed bytes.
    #[error("xpress block {block} at byte {at}: flag word cut short by the end of the block")]
    TruncatedFlags {
        /// Index of the block.
        block: usize,
        /// Input offset of the partial flag word.
        at: usize,
    },
    /// A match item (its `u16`, nibble or length bytes) is cut short by the end of the block.
    #[error("xpress block {block} at byte {at}: match cut short by the end of the block")]
    TruncatedMatch {
        /// Index of the block.
        block: usize,
        /// Input offset of the match's `u16`.
        at: usize,
    },
    /// A match offset reaches before the first byte of the block's output.
    #[error(
        "xpress block {block} at byte {at}: match offset {offset} reaches before the block start \
         (block output position {position})"
    )]
    OffsetBeforeBlockStart {
        /// Index of the block.
        block: usize,
        /// Input offset of the match's `u16`.
        at: usize,
        /// Decoded match offset.
        offset: usize,
        /// Bytes the block had produced before the match.
        position: usize,
    },
    /// A `u16` or `u32` long match length is below 22, which [MS-XCA] forbids.
    #[error("xpress block {block} at byte {at}: long match length value {value} is below 22")]
    BadLongLength {
        /// Index of the block.
        block: usize,
        /// Input offset of the match's `u16`.
        at: usize,
        /// The offending length value (before the final `+ 3`).
        value: u32,
    },
    /// A match would write past the block's declared uncompressed size.
    #[error(
        "xpress block {block} at byte {at}: match of length {length} at block output position \
         {position} overruns the declared size {declared}"
    )]
    Overrun {
        /// Index of the block.
        block: usize,
        /// Input offset of the match's `u16`.
        at: usize,
        /// Decoded match length.
        length: usize,
        /// Bytes the block had produced before the match.
        position: usize,
        /// Declared uncompressed size.
        declared: usize,
    },
    /// The block's compressed bytes ran out before its declared uncompressed size.
    #[error(
        "xpress block {block} at byte {at}: produced {produced} bytes, \
         fewer than the declared size {declared}"
    )]
    Underrun {
        /// Index of the block.
        block: usize,
        /// Input offset of the header.
        at: usize,
        /// Bytes the block produced.
        produced: usize,
        /// Declared uncompressed size.
        declared: usize,
    },
    /// The block would take the total output over [`Limits::max_output`].
    #[error(
        "xpress block {block} at byte {at}: output limit of {limit} bytes exceeded \
         (the block would bring the output to {total})"
    )]
    OutputLimit {
        /// Index of the block.
        block: usize,
        /// Input offset of the header.
        at: usize,
        /// The configured limit.
        limit: usize,
        /// Output size the block would have reached.
        total: usize,
    },
    /// The body has more blocks than [`Limits::max_blocks`].
    #[error("xpress block {block} at byte {at}: block limit of {limit} blocks exceeded")]
    BlockLimit {
        /// Index of the first block over the limit.
        block: usize,
        /// Input offset of its header.
        at: usize,
        /// The configured limit.
        limit: usize,
    },
}

/// Decodes an Xpress body with the default [`Limits`].
///
/// # Errors
/// Any malformed block, or a body over the default limits.
pub fn decode(input: &[u8]) -> Result<Vec<u8>, XpressError> {
    decode_with(input, &Limits::default())
}

/// Decodes an Xpress body within `limits`.
///
/// # Errors
/// Any malformed block, or a body over `limits`.
pub fn decode_with(input: &[u8], limits: &Limits) -> Result<Vec<u8>, XpressError> {
    let mut out = Vec::new();
    match decode_into(input, limits, &mut out) {
        Some(err) => Err(err),
        None => Ok(out),
    }
}

/// Decodes as much of an Xpress body as possible: the output and the error that stopped it.
///
/// The output holds every block decoded before the error, followed by what the failing block
/// produced before the fault was found: for a truncated body (a cut connection, a killed
/// capture) that is every byte the present input determines. A block rejected from its header
/// alone (size over 65535, output or block limit) contributes nothing.
pub fn decode_partial(input: &[u8], limits: &Limits) -> (Vec<u8>, Option<XpressError>) {
    let mut out = Vec::new();
    let err = decode_into(input, limits, &mut out);
    (out, err)
}

/// Decodes `input` onto `out`, returning the error that stopped it, if any.
fn decode_into(input: &[u8], limits: &Limits, out: &mut Vec<u8>) -> Option<XpressError> {
    out.reserve(reserve_hint(input, limits.max_output));
    let mut pos = 0;
    let mut block = 0;
    while pos < input.len() {
        let at = pos;
        if block >= limits.max_blocks {
            return Some(XpressError::BlockLimit {
                block,
                at,
                limit: limits.max_blocks,
            });
        }
        let Some((uncompressed, compressed)) = read_header(input, pos) else {
            return Some(XpressError::TruncatedHeader {
                block,
                at,
                available: input.len() - pos,
            });
        };
        if uncompressed as usize > MAX_BLOCK || compressed as usize > MAX_BLOCK {
            return Some(XpressError::BlockTooLarge {
                block,
                at,
                uncompressed,
                compressed,
            });
        }
        let (declared, compressed) = (uncompressed as usize, compressed as usize);
        let total = out.len() + declared;
        if total > limits.max_output {
            return Some(XpressError::OutputLimit {
                block,
                at,
                limit: limits.max_output,
                total,
            });
        }
        let start = pos + HEADER;
        let end = start + compressed;
        let payload = &input[start..end.min(input.len())];
        let truncated = end > input.len();
        let out_start = out.len();
        let fault = if compressed == declared {
            out.extend_from_slice(payload);
            None
        } else {
            out.resize(out_start + declared, 0);
            let (produced, fault) = lz_block(payload, &mut out[out_start..]);
            out.truncate(out_start + produced);
            let fault = fault.map(|f| f.at_block(block, start, produced, declared));
            fault.or_else(|| {
                (produced != declared).then_some(XpressError::Underrun {
                    block,
                    at,
                    produced,
                    declared,
                })
            })
        };
        // A short payload is the root cause of whatever decoding the part present ran into.
        if truncated {
            return Some(XpressError::TruncatedPayload {
                block,
                at,
                compressed,
                available: payload.len(),
            });
        }
        if fault.is_some() {
            return fault;
        }
        pos = end;
        block += 1;
    }
    None
}

/// Reads the block header at `pos`: (uncompressed size, compressed size).
fn read_header(input: &[u8], pos: usize) -> Option<(u32, u32)> {
    match input.get(pos..pos + HEADER)? {
        &[a, b, c, d, e, f, g, h] => Some((
            u32::from_le_bytes([a, b, c, d]),
            u32::from_le_bytes([e, f, g, h]),
        )),
        _ => None,
    }
}

/// Output capacity to reserve before decoding, so that a well-formed body never reallocates.
///
/// The sum of the declared sizes of the leading blocks whose payload is present, capped at the
/// output limit and at 64 times the input, so that a small hostile body of headers cannot make
/// the decoder reserve much more than it will ever write; past that cap the output grows as
/// usual.
fn reserve_hint(input: &[u8], max_output: usize) -> usize {
    let cap = max_output.min(input.len().saturating_mul(64));
    let mut pos = 0;
    let mut total = 0usize;
    while let Some((uncompressed, compressed)) = read_header(input, pos) {
        let (u, c) = (uncompressed as usize, compressed as usize);
        if u > MAX_BLOCK || c > MAX_BLOCK || (c == 0 && u != 0) {
            break;
        }
        pos += HEADER + c;
        if pos > input.len() {
            break;
        }
        total += u;
        if total >= cap {
            return cap;
        }
    }
    total
}

/// What stopped an LZ payload; `at` is the offending item's offset in the payload.
enum Fault {
    /// A partial flag word.
    Flags { at: usize },
    /// A match item cut short.
    Match { at: usize },
    /// A `u16`/`u32` long length below 22.
    LongLength { at: usize, value: u32 },
    /// A match reaching before the block start.
    Offset { at: usize, offset: usize },
    /// A match running past the declared size.
    Overrun { at: usize, length: usize },
}

impl Fault {
    /// The error for this fault in block `block`, whose payload starts at input offset `base`,
    /// after `position` of `declared` bytes.
    #[cold]
    fn at_block(self, block: usize, base: usize, position: usize, declared: usize) -> XpressError {
        match self {
            Self::Flags { at } => XpressError::TruncatedFlags {
                block,
                at: base + at,
            },
            Self::Match { at } => XpressError::TruncatedMatch {
                block,
                at: base + at,
            },
            Self::LongLength { at, value } => XpressError::BadLongLength {
                block,
                at: base + at,
                value,
            },
            Self::Offset { at, offset } => XpressError::OffsetBeforeBlockStart {
                block,
                at: base + at,
                offset,
                position,
            },
            Self::Overrun { at, length } => XpressError::Overrun {
                block,
                at: base + at,
                length,
                position,
                declared,
            },
        }
    }
}

/// Decodes one Plain LZ77 payload into `dst`, whose length is the declared uncompressed size.
///
/// Returns how many bytes were produced and the fault that stopped decoding, if any. Running
/// out of `src` cleanly (at an item boundary) is not a fault here; the caller compares the
/// produced size with the declared one.
#[inline(never)]
fn lz_block(src: &[u8], dst: &mut [u8]) -> (usize, Option<Fault>) {
    let declared = dst.len();
    let mut ip = 0;
    let mut op = 0;
    // Unconsumed flag bits, next one in the most significant bit, and how many are left.
    let mut flags: u32 = 0;
    let mut bits: u32 = 0;
    // Input position of the shared-nibble byte whose high nibble is still unused.
    let mut nibble: Option<usize> = None;

    while op < declared {
        if bits == 0 {
            match src.get(ip..ip + 4) {
                Some(&[a, b, c, d]) => flags = u32::from_le_bytes([a, b, c, d]),
                _ if ip == src.len() => break,
                _ => return (op, Some(Fault::Flags { at: ip })),
            }
            ip += 4;
            bits = 32;
        }

        // A run of clear bits is a run of literals: copy them in one go.
        let run = flags.leading_zeros().min(bits);
        if run != 0 {
            let n = (run as usize).min(declared - op).min(src.len() - ip);
            if src.len() - ip >= 32 && declared - op >= 32 {
                // A fixed-size copy compiles to a few vector moves; the bytes past `n` are
                // overwritten by later items, or cut off if the block ends short.
                dst[op..op + 32].copy_from_slice(&src[ip..ip + 32]);
            } else {
                dst[op..op + n].copy_from_slice(&src[ip..ip + n]);
            }
            op += n;
            ip += n;
            flags = flags.checked_shl(n as u32).unwrap_or(0);
            bits -= n as u32;
            if ip == src.len() {
                break;
            }
            continue;
        }

        flags <<= 1;
        bits -= 1;
        if ip == src.len() {
            // A set flag bit with no input left: the encoder's end-of-stream padding.
            break;
        }
        let at = ip;
        let truncated = || (op, Some(Fault::Match { at }));
        let v = match src.get(ip..ip + 2) {
            Some(&[lo, hi]) => usize::from(u16::from_le_bytes([lo, hi])),
            _ => return truncated(),
        };
        ip += 2;
        let offset = (v >> 3) + 1;
        let mut length = v & 7;
        if length == 7 {
            let n = if let Some(p) = nibble.take() {
                src[p] >> 4
            } else {
                let Some(&byte) = src.get(ip) else {
                    return truncated();
                };
                nibble = Some(ip);
                ip += 1;
                byte & 0x0f
            };
            length = if n < 15 {
                usize::from(n) + 7
            } else {
                let Some(&byte) = src.get(ip) else {
                    return truncated();
                };
                ip += 1;
                if byte < 255 {
                    usize::from(byte) + 15 + 7
                } else {
                    let mut value = match src.get(ip..ip + 2) {
                        Some(&[lo, hi]) => u32::from(u16::from_le_bytes([lo, hi])),
                        _ => return truncated(),
                    };
                    ip += 2;
                    if value == 0 {
                        value = match src.get(ip..ip + 4) {
                            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
                            _ => return truncated(),
                        };
                        ip += 4;
                    }
                    if value < MIN_LONG_LENGTH {
                        return (op, Some(Fault::LongLength { at, value }));
                    }
                    // Saturating: an absurd u32 still fails the overrun check below.
                    usize::try_from(value).unwrap_or(usize::MAX)
                }
            };
        }
        let length = length.saturating_add(3);

        if offset > op {
            return (op, Some(Fault::Offset { at, offset }));
        }
        if length > declared - op {
            return (op, Some(Fault::Overrun { at, length }));
        }
        copy_match(dst, op, offset, length);
        op += length;
    }
    (op, None)
}

/// Copies `length` bytes from `op - offset` to `op` within `dst`, the LZ77 way: an offset
/// shorter than the length repeats the last `offset` bytes. The caller has checked bounds.
///
/// Bytes of `dst` past `op + length` may be overwritten with junk: like the literal copy,
/// later items overwrite them, or the caller cuts them off.
#[inline(always)]
fn copy_match(dst: &mut [u8], op: usize, offset: usize, length: usize) {
    let from = op - offset;
    if offset >= 16 && length <= 64 && dst.len() - op >= 64 {
        // 16-byte chunks: each reads only bytes already final, since the offset is at least
        // 16, and fixed-size copies compile to single vector moves.
        let mut k = 0;
        while k < length {
            dst.copy_within(from + k..from + k + 16, op + k);
            k += 16;
        }
    } else if offset >= length {
        if length <= 16 {
            let (head, tail) = dst.split_at_mut(op);
            for (d, s) in tail[..length].iter_mut().zip(&head[from..from + length]) {
                *d = *s;
            }
        } else {
            dst.copy_within(from..from + length, op);
        }
    } else if offset == 1 {
        let byte = dst[from];
        dst[op..op + length].fill(byte);
    } else {
        // dst[from..pos] is always a whole number of periods, so copying its start to `pos`
        // is non-overlapping and continues the pattern; each step doubles the copied span.
        let end = op + length;
        let mut pos = op;
        while pos < end {
            let n = (pos - from).min(end - pos);
            dst.copy_within(from..from + n, pos);
            pos += n;
        }
    }
}

/// Encodes `input` as an Xpress body in 65535-byte input blocks, as Windows does (PB<8>).
#[must_use]
pub fn encode(input: &[u8]) -> Vec<u8> {
    encode_with_block_size(input, MAX_BLOCK)
}

/// Encodes `input` as an Xpress body in input blocks of `block_size` bytes (clamped to
/// `1..=65535`); WS2025 was observed using 16352.
///
/// Empty input gives an empty body (no blocks). A block the matcher cannot shrink is stored.
#[must_use]
pub fn encode_with_block_size(input: &[u8], block_size: usize) -> Vec<u8> {
    let block_size = block_size.clamp(1, MAX_BLOCK);
    let mut out = Vec::with_capacity(input.len() / 3 + HEADER * (input.len() / block_size + 1));
    let mut matcher = Matcher::new(block_size);
    for chunk in input.chunks(block_size) {
        let header = out.len();
        out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        let payload = out.len();
        let compressed = if matcher.compress(chunk, &mut out) {
            out.len() - payload
        } else {
            usize::MAX
        };
        let compressed = if compressed < chunk.len() {
            compressed
        } else {
            out.truncate(payload);
            out.extend_from_slice(chunk);
            chunk.len()
        };
        out[header + 4..header + 8].copy_from_slice(&(compressed as u32).to_le_bytes());
    }
    out
}

/// Bits of the 3-byte-prefix hash.
const HASH_BITS: u32 = 15;
/// How many earlier positions with the same hash the matcher tries.
const MAX_CHAIN: usize = 16;
/// A match this long ends the search: looking for a longer one costs more than it saves.
const GOOD_MATCH: usize = 128;
/// A match this long is taken without trying the next position (lazy matching).
const LAZY_LIMIT: usize = 32;

/// Hash-chain LZ77 match finder, reused across the blocks of one body.
struct Matcher {
    /// Per hash, the most recent block position with that hash, plus one (0: none).
    head: Vec<u16>,
    /// Per block position, the previous position with the same hash, plus one (0: none).
    prev: Vec<u16>,
}

impl Matcher {
    /// A matcher for blocks of at most `block_size` bytes.
    fn new(block_size: usize) -> Self {
        Self {
            head: vec![0; 1 << HASH_BITS],
            prev: vec![0; block_size],
        }
    }

    /// Hash of the 3 bytes at `pos`; the caller guarantees `pos + 3 <= data.len()`.
    #[inline(always)]
    fn hash(data: &[u8], pos: usize) -> usize {
        let v = u32::from(data[pos])
            | (u32::from(data[pos + 1]) << 8)
            | (u32::from(data[pos + 2]) << 16);
        (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
    }

    /// Records `pos` (with at least 3 bytes after it) in the hash chains.
    #[inline(always)]
    fn insert(&mut self, data: &[u8], pos: usize) {
        let h = Self::hash(data, pos);
        self.prev[pos] = self.head[h];
        self.head[h] = pos as u16 + 1;
    }

    /// Inserts `pos` and returns the longest earlier match for it as (length, offset); a length
    /// below [`MIN_MATCH`] means none.
    #[inline]
    fn find_and_insert(&mut self, data: &[u8], pos: usize) -> (usize, usize) {
        let h = Self::hash(data, pos);
        let mut cand = self.head[h] as usize;
        self.prev[pos] = self.head[h];
        self.head[h] = pos as u16 + 1;

        let max = data.len() - pos;
        let mut best_len = MIN_MATCH - 1;
        let mut best_off = 0;
        let mut chain = MAX_CHAIN;
        while cand != 0 && chain != 0 {
            let c = cand - 1;
            let offset = pos - c;
            if offset > MAX_OFFSET {
                break;
            }
            // Cheap reject: a longer match must agree at the byte just past the current best.
            if data[c + best_len] == data[pos + best_len] {
                let len = common_prefix(data, c, pos, max);
                if len > best_len {
                    best_len = len;
                    best_off = offset;
                    if len >= GOOD_MATCH || len == max {
                        break;
                    }
                }
            }
            cand = self.prev[c] as usize;
            chain -= 1;
        }
        (best_len, best_off)
    }

    /// Appends the Plain LZ77 payload of `data` to `out`; returns false, leaving `out` with a
    /// partial payload, as soon as that payload is sure to be no shorter than `data`.
    fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) -> bool {
        self.head.fill(0);
        let budget = out.len() + data.len();
        let mut w = LzWriter::new(out);
        let n = data.len();
        let mut i = 0;
        while i < n {
            if w.out.len() >= budget {
                return false;
            }
            if i + MIN_MATCH > n {
                w.literal(data[i]);
                i += 1;
                continue;
            }
            let (mut len, mut off) = self.find_and_insert(data, i);
            // Positions below `next_insert` are in the hash chains.
            let mut next_insert = i + 1;
            if len < MIN_MATCH {
                w.literal(data[i]);
                i += 1;
                continue;
            }
            // Lazy step: if the next position starts a longer match, emit a literal instead.
            while len < LAZY_LIMIT && i + 1 + MIN_MATCH <= n {
                let (len2, off2) = self.find_and_insert(data, i + 1);
                next_insert = i + 2;
                if len2 <= len {
                    break;
                }
                w.literal(data[i]);
                i += 1;
                len = len2;
                off = off2;
            }
            w.matched(off, len);
            let end = i + len;
            for p in next_insert..end.min(n + 1 - MIN_MATCH) {
                self.insert(data, p);
            }
            i = end;
        }
        w.finish() < budget
    }
}

/// Length of the common prefix of `data[a..]` and `data[b..]`, at most `max`; `a < b` and
/// `b + max <= data.len()`.
#[inline(always)]
fn common_prefix(data: &[u8], a: usize, b: usize, max: usize) -> usize {
    let mut len = 0;
    while len + 8 <= max {
        let x = load_u64(data, a + len) ^ load_u64(data, b + len);
        if x != 0 {
            return len + (x.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    while len < max && data[a + len] == data[b + len] {
        len += 1;
    }
    len
}

/// The 8 bytes at `pos` as a little-endian `u64`.
#[inline(always)]
fn load_u64(data: &[u8], pos: usize) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&data[pos..pos + 8]);
    u64::from_le_bytes(bytes)
}

/// Writes Plain LZ77 items: flag words, literals, matches with the shared-nibble rule.
struct LzWriter<'a> {
    /// The output the payload is appended to.
    out: &'a mut Vec<u8>,
    /// Where the pending flag word goes.
    flag_pos: usize,
    /// Flag bits of the items since the pending flag word, the latest in bit 0.
    flags: u32,
    /// How many items the pending flag word covers so far.
    count: u32,
    /// Output position of the nibble byte whose high nibble is still free.
    nibble: Option<usize>,
}

impl<'a> LzWriter<'a> {
    /// Starts a payload at the end of `out`, reserving its first flag word.
    fn new(out: &'a mut Vec<u8>) -> Self {
        let flag_pos = out.len();
        out.extend_from_slice(&[0; 4]);
        Self {
            out,
            flag_pos,
            flags: 0,
            count: 0,
            nibble: None,
        }
    }

    /// Records the flag bit of an item whose bytes are already written.
    #[inline(always)]
    fn flag(&mut self, bit: u32) {
        self.flags = (self.flags << 1) | bit;
        self.count += 1;
        if self.count == 32 {
            self.out[self.flag_pos..self.flag_pos + 4].copy_from_slice(&self.flags.to_le_bytes());
            self.flag_pos = self.out.len();
            self.out.extend_from_slice(&[0; 4]);
            self.count = 0;
            self.flags = 0;
        }
    }

    /// Writes one literal byte.
    #[inline(always)]
    fn literal(&mut self, byte: u8) {
        self.out.push(byte);
        self.flag(0);
    }

    /// Writes a match of `length >= 3` bytes at `offset` in `1..=8192`.
    fn matched(&mut self, offset: usize, length: usize) {
        debug_assert!((1..=MAX_OFFSET).contains(&offset) && length >= MIN_MATCH);
        let value = length - MIN_MATCH;
        let code = ((offset - 1) << 3) as u16;
        if value < 7 {
            self.out
                .extend_from_slice(&(code | value as u16).to_le_bytes());
        } else {
            self.out.extend_from_slice(&(code | 7).to_le_bytes());
            let rest = value - 7;
            let n = rest.min(15) as u8;
            match self.nibble.take() {
                Some(p) => self.out[p] |= n << 4,
                None => {
                    self.nibble = Some(self.out.len());
                    self.out.push(n);
                }
            }
            if rest >= 15 {
                let rest = rest - 15;
                if rest < 255 {
                    self.out.push(rest as u8);
                } else {
                    self.out.push(255);
                    if let Ok(short) = u16::try_from(value) {
                        self.out.extend_from_slice(&short.to_le_bytes());
                    } else {
                        self.out.extend_from_slice(&[0, 0]);
                        self.out.extend_from_slice(&(value as u32).to_le_bytes());
                    }
                }
            }
        }
        self.flag(1);
    }

    /// Writes the pending flag word, its unused bits set as [MS-XCA] 2.3 does; returns the
    /// output length.
    fn finish(self) -> usize {
        let free = 32 - self.count;
        let flags = self.flags.checked_shl(free).unwrap_or(0)
            | u32::MAX.checked_shr(self.count).unwrap_or(0);
        self.out[self.flag_pos..self.flag_pos + 4].copy_from_slice(&flags.to_le_bytes());
        self.out.len()
    }
}

/// Cheap plausibility check that `input` starts like an Xpress body.
///
/// The first header must declare sizes in `1..=65535` with the compressed size no larger than
/// the uncompressed one (an encoder stores a block that does not shrink), its payload must be
/// present, and what follows must be empty or at least a header long. An LZ payload must hold a
/// flag word and a byte and start with a literal (a first-item match would have nothing to copy
/// from). Text bodies fail at once: their first four bytes read as a size far over 65535.
#[must_use]
pub fn looks_like_xpress(input: &[u8]) -> bool {
    let Some((uncompressed, compressed)) = read_header(input, 0) else {
        return false;
    };
    let (u, c) = (uncompressed as usize, compressed as usize);
    if !(1..=MAX_BLOCK).contains(&u) || c == 0 || c > u {
        return false;
    }
    let rest = input.len() - HEADER;
    if c > rest || (rest > c && rest - c < HEADER) {
        return false;
    }
    if c < u {
        match input.get(HEADER..HEADER + 4) {
            Some(&[b0, b1, b2, b3]) => {
                let flags = u32::from_le_bytes([b0, b1, b2, b3]);
                c >= 5 && flags & 0x8000_0000 == 0
            }
            _ => false,
        }
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A block: header for `uncompressed` bytes, then `payload`.
    fn block(uncompressed: usize, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(uncompressed as u32).to_le_bytes());
        b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        b.extend_from_slice(payload);
        b
    }

    /// A flag word from item kinds, first item first ('0' literal, '1' match), the unused bits
    /// set as the encoder leaves them.
    fn flag_word(items: &str) -> [u8; 4] {
        assert!(items.len() <= 32);
        let mut word = 0u32;
        for (i, c) in items.chars().enumerate() {
            if c == '1' {
                word |= 1 << (31 - i);
            }
        }
        if items.len() < 32 {
            word |= u32::MAX >> items.len();
        }
        word.to_le_bytes()
    }

    /// Concatenates byte pieces.
    fn cat(pieces: &[&[u8]]) -> Vec<u8> {
        pieces.concat()
    }

    /// `seed` followed by bytes repeating it with period `offset`, `len` more of them.
    fn lz_repeat(seed: &[u8], offset: usize, len: usize) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..len {
            v.push(v[v.len() - offset]);
        }
        v
    }

    #[test]
    fn flag_word_helper_matches_hand_values() {
        assert_eq!(flag_word("0001"), 0x1FFF_FFFFu32.to_le_bytes());
        assert_eq!(flag_word(&"0".repeat(32)), [0, 0, 0, 0]);
        assert_eq!(flag_word("01"), [0xFF, 0xFF, 0xFF, 0x7F]);
    }

    /// Appends an LZ77 match to `out`, byte by byte.
    fn apply(out: &mut Vec<u8>, offset: usize, length: usize) {
        for _ in 0..length {
            out.push(out[out.len() - offset]);
        }
    }

    #[test]
    fn short_length_codes_3_to_9() {
        // Three matches of the same code, at offsets 3, 1 and 2, after "abc": a payload of
        // 13 bytes never equals the declared 3 + 3 * length, so the block is never stored.
        for len in 3..=9 {
            let code = |offset: usize| (((offset - 1) << 3) | (len - 3)) as u16;
            let payload = cat(&[
                &flag_word("000111"),
                b"abc",
                &code(3).to_le_bytes(),
                &code(1).to_le_bytes(),
                &code(2).to_le_bytes(),
            ]);
            let mut expected = b"abc".to_vec();
            for offset in [3, 1, 2] {
                apply(&mut expected, offset, len);
            }
            assert_eq!(
                decode(&block(3 + 3 * len, &payload)).unwrap(),
                expected,
                "length {len}"
            );
        }
    }

    #[test]
    fn equal_sizes_mean_stored_even_for_a_valid_lz_stream() {
        // "abc" and a length-6 match is 9 payload bytes for 9 output bytes: the framing says
        // stored, so the raw payload comes out. An encoder must never emit such an LZ block.
        let payload = cat(&[&flag_word("0001"), b"abc", &[0x13, 0x00]]);
        assert_eq!(decode(&block(9, &payload)).unwrap(), payload);
    }

    #[test]
    fn shared_nibble_low_then_high_then_a_new_byte() {
        // Match 1 (offset 8) reads nibble byte 0x52 and uses its low nibble: length 2 + 10.
        // Match 2 (offset 5) uses the high nibble of the same byte and reads nothing: 5 + 10.
        // Match 3 (offset 1) reads a new byte 0xF3 and uses its low nibble: 3 + 10.
        let payload = cat(&[
            &flag_word("000000001011"),
            b"abcdefgh",
            &[0x3F, 0x00, 0x52],
            b"X",
            &[0x27, 0x00],
            &[0x07, 0x00, 0xF3],
        ]);
        let mut expected = b"abcdefghabcdefghabcdX".to_vec();
        expected.extend_from_slice(b"abcdXabcdXabcdX");
        expected.extend_from_slice(&[b'X'; 13]);
        assert_eq!(expected.len(), 49);
        assert_eq!(decode(&block(49, &payload)).unwrap(), expected);
    }

    #[test]
    fn length_24_is_code_7_with_nibble_14() {
        let payload = cat(&[&flag_word("01"), b"a", &[0x07, 0x00, 0x0E]]);
        assert_eq!(decode(&block(25, &payload)).unwrap(), vec![b'a'; 25]);
    }

    #[test]
    fn byte_form_lengths_25_and_279() {
        // Nibble byte 0xFF serves both matches: 15 then 15, each followed by its own byte.
        let payload = cat(&[
            &flag_word("01011"),
            b"a",
            &[0x07, 0x00, 0xFF, 0x00], // offset 1, nibble 15, byte 0: length 25
            b"b",
            &[0x0F, 0x00, 0xFE], // offset 2, high nibble 15, byte 254: length 279
        ]);
        let mut expected = vec![b'a'; 26];
        expected.push(b'b');
        let expected = lz_repeat(&expected, 2, 279);
        assert_eq!(expected.len(), 306);
        assert_eq!(decode(&block(306, &payload)).unwrap(), expected);
    }

    #[test]
    fn u16_form_length_280() {
        let payload = cat(&[
            &flag_word("01"),
            b"a",
            &[0x07, 0x00, 0x0F, 0xFF, 0x15, 0x01],
        ]);
        assert_eq!(decode(&block(281, &payload)).unwrap(), vec![b'a'; 281]);
    }

    #[test]
    fn u32_form_after_a_zero_u16() {
        let payload = cat(&[
            &flag_word("01"),
            b"a",
            &[0x07, 0x00, 0x0F, 0xFF, 0x00, 0x00],
            &297u32.to_le_bytes(),
        ]);
        assert_eq!(decode(&block(301, &payload)).unwrap(), vec![b'a'; 301]);
    }

    #[test]
    fn long_length_below_22_is_rejected_and_22_accepted() {
        let with = |long: &[u8]| {
            let payload = cat(&[&flag_word("01"), b"a", &[0x07, 0x00, 0x0F, 0xFF], long]);
            block(26, &payload)
        };
        assert_eq!(decode(&with(&22u16.to_le_bytes())).unwrap(), vec![b'a'; 26]);
        let err = XpressError::BadLongLength {
            block: 0,
            at: 13,
            value: 21,
        };
        assert_eq!(decode(&with(&21u16.to_le_bytes())), Err(err.clone()));
        assert_eq!(
            decode(&with(&cat(&[&[0, 0], &21u32.to_le_bytes()]))),
            Err(err)
        );
    }

    #[test]
    fn overlapping_copies() {
        // Offset 1: a run of one byte.
        let payload = cat(&[&flag_word("01"), b"z", &[0x07, 0x00, 0x05]]);
        assert_eq!(decode(&block(16, &payload)).unwrap(), vec![b'z'; 16]);
        // Offset 2, length 5: short overlap.
        let payload = cat(&[&flag_word("001"), b"xy", &[0x0A, 0x00]]);
        assert_eq!(decode(&block(7, &payload)).unwrap(), b"xyxyxyx");
        // Offset 3, length 20: the pattern repeats across several periods.
        let payload = cat(&[&flag_word("0001"), b"abc", &[0x17, 0x00, 0x0A]]);
        assert_eq!(
            decode(&block(23, &payload)).unwrap(),
            lz_repeat(b"abc", 3, 20)
        );
        // Offset 7, length 300: the period-doubling copy, with an uneven last step.
        let payload = cat(&[
            &flag_word("00000001"),
            b"1234567",
            &[0x37, 0x00, 0x0F, 0xFF, 0x29, 0x01],
        ]);
        assert_eq!(
            decode(&block(307, &payload)).unwrap(),
            lz_repeat(b"1234567", 7, 300)
        );
    }

    #[test]
    fn every_short_offset_and_length_copies_like_the_byte_loop() {
        // Offsets around the copy strategies' thresholds, with and without room after the
        // match (the chunked copies need it), against a byte-by-byte copy.
        let seed: Vec<u8> = (0..48u8).map(|i| i.wrapping_mul(71) ^ 0x5A).collect();
        for offset in 1..=48 {
            for length in (3..=80).chain([130, 300]) {
                for tail in [0, 70] {
                    let mut payload = written(|w| {
                        seed.iter().for_each(|&b| w.literal(b));
                        w.matched(offset, length);
                        seed.iter().cycle().take(tail).for_each(|&b| w.literal(b));
                    });
                    let mut expected = seed.clone();
                    apply(&mut expected, offset, length);
                    expected.extend(seed.iter().cycle().take(tail));
                    if payload.len() == expected.len() {
                        // Equal sizes would mean stored; a byte past the end is ignored.
                        payload.push(0);
                    }
                    let body = block(expected.len(), &payload);
                    assert_eq!(
                        decode(&body).unwrap(),
                        expected,
                        "offset {offset} length {length}"
                    );
                }
            }
        }
    }

    #[test]
    fn literals_spanning_several_flag_words() {
        let data: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
        let payload = cat(&[&[0; 4], &data[..32], &flag_word("00000000"), &data[32..]]);
        assert_eq!(decode(&block(40, &payload)).unwrap(), data);
        // Exactly 32 literals, with and without the all-ones terminating flag word.
        let payload = cat(&[&[0; 4], &data[..32], &[0xFF; 4]]);
        assert_eq!(decode(&block(32, &payload)).unwrap(), &data[..32]);
        let payload = cat(&[&[0; 4], &data[..32]]);
        assert_eq!(decode(&block(32, &payload)).unwrap(), &data[..32]);
    }

    #[test]
    fn stored_blocks_are_raw_bytes() {
        assert_eq!(decode(&block(5, b"hello")).unwrap(), b"hello");
        // Bytes that would be a valid (and different) LZ stream are still taken raw.
        let lz_looking = cat(&[&flag_word("01"), b"a", &[0x07, 0x00]]);
        assert_eq!(
            decode(&block(lz_looking.len(), &lz_looking)).unwrap(),
            lz_looking
        );
        assert_eq!(decode(&block(0, b"")).unwrap(), b"");
    }

    #[test]
    fn multi_block_body_with_a_stored_last_block() {
        let lz = cat(&[&flag_word("0001"), b"abc", &[0x17, 0x00, 0x0A]]);
        let body = cat(&[&block(23, &lz), &block(23, &lz), &block(4, b"tail")]);
        let mut expected = lz_repeat(b"abc", 3, 20);
        expected.extend(lz_repeat(b"abc", 3, 20));
        expected.extend_from_slice(b"tail");
        assert_eq!(decode(&body).unwrap(), expected);
    }

    #[test]
    fn offsets_do_not_reach_into_the_previous_block() {
        let first = block(5, b"hello");
        let second = block(3, &cat(&[&flag_word("1"), &[0x10, 0x00]]));
        let err = decode(&cat(&[&first, &second])).unwrap_err();
        assert_eq!(
            err,
            XpressError::OffsetBeforeBlockStart {
                block: 1,
                at: 13 + 8 + 4,
                offset: 3,
                position: 0,
            }
        );
    }

    #[test]
    fn error_display_names_block_offset_and_problem() {
        let filler = block(3, b"abc");
        let mut body = Vec::new();
        for _ in 0..3 {
            body.extend_from_slice(&filler);
        }
        let v = ((4000 - 1) << 3) as u16;
        let at = body.len() + HEADER + 4 + 1;
        body.extend(block(9, &cat(&[&flag_word("01"), b"a", &v.to_le_bytes()])));
        let err = decode(&body).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "xpress block 3 at byte {at}: match offset 4000 reaches before the block start \
                 (block output position 1)"
            )
        );
    }

    #[test]
    fn header_and_payload_errors() {
        let good = block(5, b"hello");
        assert_eq!(
            decode(&cat(&[&good, &[1, 2, 3]])),
            Err(XpressError::TruncatedHeader {
                block: 1,
                at: 13,
                available: 3
            })
        );
        let mut big = block(5, b"hello");
        big[..4].copy_from_slice(&65536u32.to_le_bytes());
        assert_eq!(
            decode(&big),
            Err(XpressError::BlockTooLarge {
                block: 0,
                at: 0,
                uncompressed: 65536,
                compressed: 5
            })
        );
        let mut cut = block(10, b"0123456789");
        cut.truncate(12);
        assert_eq!(
            decode_partial(&cut, &Limits::default()),
            (
                b"0123".to_vec(),
                Some(XpressError::TruncatedPayload {
                    block: 0,
                    at: 0,
                    compressed: 10,
                    available: 4
                })
            )
        );
    }

    #[test]
    fn stream_errors() {
        assert_eq!(
            decode(&block(5, &[0, 0])),
            Err(XpressError::TruncatedFlags { block: 0, at: 8 })
        );
        let cut_match = cat(&[&flag_word("01"), b"a", &[0x07]]);
        assert_eq!(
            decode(&block(9, &cut_match)),
            Err(XpressError::TruncatedMatch { block: 0, at: 13 })
        );
        let cut_long = cat(&[
            &flag_word("01"),
            b"a",
            &[0x07, 0x00, 0x0F, 0xFF, 0x00, 0x00, 1],
        ]);
        assert_eq!(
            decode(&block(400, &cut_long)),
            Err(XpressError::TruncatedMatch { block: 0, at: 13 })
        );
        let overrun = cat(&[&flag_word("0001"), b"abc", &[0x16, 0x00]]);
        assert_eq!(
            decode(&block(5, &overrun)),
            Err(XpressError::Overrun {
                block: 0,
                at: 15,
                length: 9,
                position: 3,
                declared: 5
            })
        );
        let short = cat(&[&flag_word("000"), b"abc"]);
        assert_eq!(
            decode(&block(10, &short)),
            Err(XpressError::Underrun {
                block: 0,
                at: 0,
                produced: 3,
                declared: 10
            })
        );
        assert_eq!(
            decode(&block(10, &[])),
            Err(XpressError::Underrun {
                block: 0,
                at: 0,
                produced: 0,
                declared: 10
            })
        );
    }

    #[test]
    fn bytes_after_the_declared_size_are_ignored() {
        let payload = cat(&[&flag_word("000"), b"abc", b"junk"]);
        assert_eq!(decode(&block(3, &payload)).unwrap(), b"abc");
        assert_eq!(decode(&block(0, &[1, 2, 3, 4])).unwrap(), b"");
    }

    /// One block of 65535 bytes in 19 input bytes: a literal and a 65534-byte match.
    fn bomb_block() -> Vec<u8> {
        let long = (65534u16 - 3).to_le_bytes();
        block(
            MAX_BLOCK,
            &cat(&[&flag_word("01"), b"a", &[0x07, 0x00, 0x0F, 0xFF], &long]),
        )
    }

    #[test]
    fn tiny_input_declaring_huge_output_hits_the_limit() {
        let bomb = bomb_block();
        assert_eq!(bomb.len(), 19);
        assert_eq!(decode(&bomb).unwrap(), vec![b'a'; MAX_BLOCK]);
        let body = bomb.repeat(20);
        let limits = Limits::for_max_output(1 << 20);
        let err = decode_with(&body, &limits).unwrap_err();
        assert_eq!(
            err,
            XpressError::OutputLimit {
                block: 16,
                at: 16 * 19,
                limit: 1 << 20,
                total: 17 * MAX_BLOCK
            }
        );
        let (partial, err2) = decode_partial(&body, &limits);
        assert_eq!(err2, Some(err));
        assert_eq!(partial.len(), 16 * MAX_BLOCK);
        // Headers alone are checked before anything is allocated.
        let header_only = block(MAX_BLOCK, &[])[..8].to_vec();
        let small = Limits {
            max_output: 100,
            max_blocks: 10,
        };
        assert!(matches!(
            decode_with(&header_only, &small),
            Err(XpressError::OutputLimit { block: 0, .. })
        ));
    }

    #[test]
    fn reservation_follows_present_blocks_and_stays_near_the_input_size() {
        let body = encode_with_block_size(&xml_like(50_000)[..50_000], 16352);
        assert_eq!(reserve_hint(&body, usize::MAX), 50_000);
        assert_eq!(reserve_hint(&body, 1000), 1000);
        // Headers without payloads claim 64 KiB each but reserve nothing.
        assert_eq!(
            reserve_hint(&block(MAX_BLOCK, b"")[..8].repeat(4096), usize::MAX),
            0
        );
        // A run of bombs reserves at most 64 times its size.
        let bombs = bomb_block().repeat(100);
        assert_eq!(reserve_hint(&bombs, usize::MAX), bombs.len() * 64);
        assert_eq!(decode(&bombs).unwrap().len(), 100 * MAX_BLOCK);
    }

    #[test]
    fn block_limit() {
        let body = block(0, b"").repeat(5);
        let limits = Limits {
            max_output: 1000,
            max_blocks: 4,
        };
        assert_eq!(
            decode_with(&body, &limits),
            Err(XpressError::BlockLimit {
                block: 4,
                at: 32,
                limit: 4
            })
        );
        assert_eq!(decode_with(&body[..32], &limits).unwrap(), b"");
        assert!(Limits::default().max_blocks >= (256 << 20) / MAX_BLOCK * 64);
    }

    #[test]
    fn decode_partial_keeps_earlier_blocks_and_the_failing_blocks_prefix() {
        let bad = cat(&[&flag_word("0001"), b"xyz", &[0xF8, 0xFF]]); // offset 8192
        let body = cat(&[&block(5, b"hello"), &block(6, b" world"), &block(10, &bad)]);
        let (out, err) = decode_partial(&body, &Limits::default());
        assert_eq!(out, b"hello worldxyz");
        assert!(matches!(
            err,
            Some(XpressError::OffsetBeforeBlockStart {
                block: 2,
                offset: 8192,
                ..
            })
        ));
        assert!(decode(&body).is_err());
        // A clean body: everything, no error.
        assert_eq!(
            decode_partial(&body[..27], &Limits::default()),
            (b"hello world".to_vec(), None)
        );
    }

    /// Runs the encoder's item writer on a fresh buffer.
    fn written(items: impl FnOnce(&mut LzWriter<'_>)) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = LzWriter::new(&mut out);
        items(&mut w);
        w.finish();
        out
    }

    #[test]
    fn writer_emits_every_length_form() {
        let one =
            |offset: usize, length: usize| written(|w| w.matched(offset, length))[4..].to_vec();
        assert_eq!(one(1, 3), [0x00, 0x00]);
        assert_eq!(one(2, 9), [0x0E, 0x00]);
        assert_eq!(one(8192, 9), [0xFE, 0xFF]);
        assert_eq!(one(1, 10), [0x07, 0x00, 0x00]);
        assert_eq!(one(1, 24), [0x07, 0x00, 0x0E]);
        assert_eq!(one(1, 25), [0x07, 0x00, 0x0F, 0x00]);
        assert_eq!(one(1, 279), [0x07, 0x00, 0x0F, 0xFE]);
        assert_eq!(one(1, 280), [0x07, 0x00, 0x0F, 0xFF, 0x15, 0x01]);
        assert_eq!(one(1, 65538), [0x07, 0x00, 0x0F, 0xFF, 0xFF, 0xFF]);
        // Past a u16: zero, then the u32 (only reachable with matches longer than a block).
        assert_eq!(
            one(1, 70000),
            [0x07, 0x00, 0x0F, 0xFF, 0x00, 0x00, 0x6D, 0x11, 0x01, 0x00]
        );
        // The nibble byte is shared: low nibble for the first, high for the second.
        let two = written(|w| {
            w.matched(1, 12);
            w.matched(1, 15);
            w.matched(1, 13);
        });
        assert_eq!(two, [0xFF, 0xFF, 0xFF, 0xFF, 7, 0, 0x52, 7, 0, 7, 0, 0x03]);
    }

    #[test]
    fn writer_flag_words_and_terminator() {
        assert_eq!(written(|_| {}), [0xFF; 4]);
        let lits = written(|w| (0..32).for_each(|i| w.literal(i)));
        assert_eq!(&lits[..4], [0; 4]);
        assert_eq!(&lits[36..], [0xFF; 4]);
        let mixed = written(|w| {
            w.literal(b'a');
            w.matched(1, 3);
        });
        assert_eq!(mixed, cat(&[&flag_word("01"), b"a", &[0, 0]]));
    }

    /// Pseudo-random bytes (xorshift), deterministic.
    fn noise(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect()
    }

    /// XML-like text resembling a SyncUpdates response, at least `len` bytes.
    fn xml_like(len: usize) -> Vec<u8> {
        let ids = noise(len / 8 + 64, 7);
        let mut s = String::from(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope \
             xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>\
             <SyncUpdatesResponse xmlns=\"http://www.microsoft.com/SoftwareDistribution/Server/\
             ClientWebService\"><SyncUpdatesResult><NewUpdates>",
        );
        let mut i = 0;
        while s.len() < len {
            let id: String = ids[i % (ids.len() - 16)..][..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            s.push_str(&format!(
                "<UpdateInfo><ID>{}</ID><Deployment><ID>{}</ID><Action>Install</Action>\
                 <IsAssigned>true</IsAssigned><LastChangeTime>2024-0{}-1{}</LastChangeTime>\
                 </Deployment><IsLeaf>{}</IsLeaf><Xml>&lt;UpdateIdentity UpdateID=\"{id}\" \
                 RevisionNumber=\"{}\" /&gt;</Xml></UpdateInfo>",
                300_000 + i * 7,
                20_000 + i,
                i % 9 + 1,
                i % 10,
                i % 3 == 0,
                i % 250 + 1
            ));
            i += 1;
        }
        s.push_str(
            "</NewUpdates></SyncUpdatesResult></SyncUpdatesResponse></soap:Body></soap:Envelope>",
        );
        s.into_bytes()
    }

    /// Headers of `body` as (uncompressed, compressed) pairs.
    fn headers(body: &[u8]) -> Vec<(usize, usize)> {
        let mut pos = 0;
        let mut v = Vec::new();
        while let Some((u, c)) = read_header(body, pos) {
            v.push((u as usize, c as usize));
            pos += HEADER + c as usize;
        }
        assert_eq!(pos, body.len(), "headers must tile the body");
        v
    }

    fn round_trip(data: &[u8], block_size: usize) -> Vec<u8> {
        let body = encode_with_block_size(data, block_size);
        assert_eq!(decode(&body).unwrap(), data, "block size {block_size}");
        let bs = block_size.clamp(1, MAX_BLOCK);
        let hs = headers(&body);
        assert_eq!(hs.len(), data.len().div_ceil(bs));
        for (i, &(u, c)) in hs.iter().enumerate() {
            assert_eq!(u, bs.min(data.len() - i * bs));
            assert!(c <= u, "a block never grows");
        }
        body
    }

    #[test]
    fn round_trips_of_edge_sizes() {
        for bs in [MAX_BLOCK, 16352] {
            assert!(round_trip(b"", bs).is_empty());
            assert_eq!(round_trip(b"x", bs), block(1, b"x"));
            for len in [MAX_BLOCK, MAX_BLOCK + 1, 16352, 16353] {
                round_trip(&xml_like(len)[..len], bs);
                round_trip(&vec![0; len], bs);
            }
        }
        assert_eq!(encode(b"abc"), encode_with_block_size(b"abc", MAX_BLOCK));
        // Block sizes outside 1..=65535 are clamped.
        round_trip(&xml_like(1000), 0);
        round_trip(&xml_like(70_000), 1 << 20);
        round_trip(&xml_like(300), 1);
    }

    #[test]
    fn xml_round_trips_and_compresses() {
        let xml = xml_like(200_000);
        for bs in [MAX_BLOCK, 16352] {
            let body = round_trip(&xml, bs);
            assert!(
                body.len() * 4 < xml.len(),
                "{} bytes of XML became {}",
                xml.len(),
                body.len()
            );
            assert!(headers(&body).iter().all(|&(u, c)| c < u));
            assert!(looks_like_xpress(&body));
        }
    }

    #[test]
    fn long_runs_use_long_matches() {
        let run = vec![b'q'; MAX_BLOCK];
        let body = round_trip(&run, MAX_BLOCK);
        // A literal and one 65534-byte match in the u16 form.
        assert_eq!(
            body,
            bomb_block()
                .iter()
                .map(|&b| if b == b'a' { b'q' } else { b })
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn random_bytes_become_stored_blocks() {
        let data = noise(200_000, 99);
        for bs in [MAX_BLOCK, 16352] {
            let body = round_trip(&data, bs);
            assert!(headers(&body).iter().all(|&(u, c)| u == c));
            assert_eq!(body.len(), data.len() + HEADER * data.len().div_ceil(bs));
        }
    }

    #[test]
    fn plausibility_check() {
        let xml = xml_like(5000);
        assert!(!looks_like_xpress(&xml));
        assert!(!looks_like_xpress(b""));
        assert!(!looks_like_xpress(b"{\"json\": true}"));
        assert!(looks_like_xpress(&encode(&xml)));
        assert!(looks_like_xpress(&encode(b"x")));
        assert!(looks_like_xpress(&encode_with_block_size(
            &noise(40_000, 1),
            16352
        )));
        // Payload missing, a partial second header, a first-item match, a growing block.
        let body = encode(&xml);
        assert!(!looks_like_xpress(&body[..body.len() - 1]));
        assert!(!looks_like_xpress(&cat(&[&encode(b"x"), &[0; 3]])));
        assert!(!looks_like_xpress(&block(
            9,
            &cat(&[&flag_word("1"), &[0, 0, 0]])
        )));
        assert!(!looks_like_xpress(&block(2, b"abc")));
        assert!(!looks_like_xpress(&block(0, b"")));
    }

    /// A literal reading of the [MS-XCA] 2.4 decoder, one flag bit at a time, for one block.
    /// `None` on any error.
    fn reference_block(src: &[u8], declared: usize) -> Option<Vec<u8>> {
        if src.len() == declared {
            return Some(src.to_vec());
        }
        let mut out = Vec::new();
        let (mut ip, mut flags, mut count) = (0, 0u32, 0);
        let mut half: Option<usize> = None;
        while out.len() < declared {
            if count == 0 {
                if ip == src.len() {
                    break;
                }
                flags = u32::from_le_bytes(src.get(ip..ip + 4)?.try_into().ok()?);
                ip += 4;
                count = 32;
            }
            count -= 1;
            if flags & (1 << count) == 0 {
                if ip == src.len() {
                    break;
                }
                out.push(src[ip]);
                ip += 1;
                continue;
            }
            if ip == src.len() {
                break;
            }
            let v = u16::from_le_bytes(src.get(ip..ip + 2)?.try_into().ok()?) as usize;
            ip += 2;
            let offset = v / 8 + 1;
            let mut length = v % 8;
            if length == 7 {
                length = match half {
                    None => {
                        half = Some(ip);
                        ip += 1;
                        (*src.get(ip - 1)? % 16) as usize
                    }
                    Some(p) => {
                        half = None;
                        (src[p] / 16) as usize
                    }
                };
                if length == 15 {
                    length = *src.get(ip)? as usize;
                    ip += 1;
                    if length == 255 {
                        length = u16::from_le_bytes(src.get(ip..ip + 2)?.try_into().ok()?) as usize;
                        ip += 2;
                        if length == 0 {
                            length =
                                u32::from_le_bytes(src.get(ip..ip + 4)?.try_into().ok()?) as usize;
                            ip += 4;
                        }
                        if length < 22 {
                            return None;
                        }
                        length -= 22;
                    }
                    length += 15;
                }
                length += 7;
            }
            length += 3;
            if offset > out.len() || out.len() + length > declared {
                return None;
            }
            for _ in 0..length {
                out.push(out[out.len() - offset]);
            }
        }
        (out.len() == declared).then_some(out)
    }

    /// One generated LZ item: a literal, or a match whose offset is drawn from `seed`.
    #[derive(Clone, Debug)]
    enum Item {
        Literal(u8),
        Match { seed: u16, length: usize },
    }

    fn item() -> impl Strategy<Value = Item> {
        prop_oneof![
            3 => any::<u8>().prop_map(Item::Literal),
            2 => (any::<u16>(), 3usize..12).prop_map(|(seed, length)| Item::Match { seed, length }),
            1 => (any::<u16>(), 12usize..700).prop_map(|(seed, length)| Item::Match { seed, length }),
            2 => (0u16..40, 3usize..80).prop_map(|(seed, length)| Item::Match { seed, length }),
        ]
    }

    /// An LZ payload from `items` and the size it should decode to; offsets are mostly valid,
    /// sometimes one too far.
    fn payload(items: &[Item]) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let mut produced = 0usize;
        let mut w = LzWriter::new(&mut out);
        for it in items {
            match *it {
                Item::Literal(b) => {
                    w.literal(b);
                    produced += 1;
                }
                Item::Match { seed, length } => {
                    // Small seeds are near offsets as they are; larger ones spread over the
                    // output so far, one past its start now and then.
                    let offset = if seed < 40 {
                        usize::from(seed) + 1
                    } else {
                        (usize::from(seed) % (produced + 2)).clamp(1, MAX_OFFSET)
                    };
                    w.matched(offset, length);
                    produced += length;
                }
            }
        }
        w.finish();
        (out, produced)
    }

    proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let full = decode(&data);
            let (partial, err) = decode_partial(&data, &Limits::default());
            match full {
                Ok(v) => { prop_assert_eq!(v, partial); prop_assert_eq!(err, None); }
                Err(e) => prop_assert_eq!(err, Some(e)),
            }
            let _ = looks_like_xpress(&data);
        }

        #[test]
        fn decode_matches_the_reference_decoder(
            blocks in proptest::collection::vec(
                (proptest::collection::vec(item(), 0..80), -3isize..3, any::<bool>()), 1..4),
        ) {
            let mut body = Vec::new();
            let mut expected = Some(Vec::new());
            for (items, delta, cut) in &blocks {
                let (mut p, size) = payload(items);
                if *cut && p.len() > 5 {
                    p.truncate(p.len() - 3);
                }
                let declared = size.saturating_add_signed(*delta).min(MAX_BLOCK);
                body.extend(block(declared, &p));
                let one = reference_block(&p, declared);
                expected = match (expected, one) {
                    (Some(mut all), Some(one)) => { all.extend(one); Some(all) }
                    _ => None,
                };
            }
            let got = decode(&body);
            prop_assert_eq!(got.as_ref().ok(), expected.as_ref(), "{:?}", got.as_ref().err());
            let (partial, _) = decode_partial(&body, &Limits::default());
            if let Ok(v) = got { prop_assert_eq!(partial, v); }
        }

        #[test]
        fn round_trip_arbitrary(
            data in proptest::collection::vec(any::<u8>(), 0..5000),
            bs in prop_oneof![Just(MAX_BLOCK), Just(16352), 1usize..3000],
        ) {
            let body = encode_with_block_size(&data, bs);
            prop_assert_eq!(decode(&body).unwrap(), data);
        }

        #[test]
        fn round_trip_repetitive(
            pieces in proptest::collection::vec(
                (proptest::collection::vec(0u8..4, 1..24), 1usize..300), 1..12),
            bs in prop_oneof![Just(MAX_BLOCK), Just(16352), 1usize..3000],
        ) {
            let data: Vec<u8> = pieces.iter().flat_map(|(p, n)| p.repeat(*n)).collect();
            let body = encode_with_block_size(&data, bs);
            prop_assert_eq!(&decode(&body).unwrap(), &data);
            if data.len() >= 4096 && bs >= 1024 {
                prop_assert!(body.len() < data.len());
            }
        }
    }
}
