//! The chunked transfer coding (RFC 9112 §7.1): an incremental decoder and an
//! encoder that writes into the caller's buffer.

use crate::error::{Error, Result};
use crate::headers::is_tchar;
use crate::limits::{BodyLimit, Limits};

/// Decodes a chunked body incrementally, from bytes split anywhere.
///
/// Feed it bytes as they arrive with [`decode`](Self::decode); it appends body
/// bytes to the caller's `Vec` and consumes everything it is given until the
/// body ends, so nothing needs to be fed twice. Once [`is_done`](Self::is_done),
/// the bytes it did not consume belong to the next message.
/// [`decode_into`](Self::decode_into) writes the body into a buffer of the
/// caller's instead, as much as fits, for a body read piece by piece.
///
/// It rejects what request smuggling relies on: a size that is not hex or
/// overflows, a lone LF or CR where CRLF belongs, whitespace after a size that
/// is not followed by an extension, chunk extensions or trailers past their
/// limits, and a body past its limit (413): [`Limits::max_body`] for a decoder
/// made with [`new`](Self::new), the one chosen for a decoder made with
/// [`with_body_limit`](Self::with_body_limit). Extensions and trailers
/// are checked and dropped: an extension may hold no control byte but HTAB,
/// and each trailer line must be `name: value`, a token name right before the
/// colon and a value without control bytes but HTAB (a line without a colon,
/// a name with a space or separator in it, or a folded line is
/// [`Error::BadTrailer`]).
///
/// After an error the decoder keeps returning that error; the connection should
/// be closed, since the end of the body is unknown.
///
/// # Examples
///
/// ```
/// use monocle_http::{ChunkedDecoder, Limits};
///
/// let mut decoder = ChunkedDecoder::new(&Limits::default());
/// let mut body = Vec::new();
/// assert_eq!(decoder.decode(b"5\r\nHel", &mut body)?, 6);
/// assert!(!decoder.is_done());
/// let rest = b"lo\r\n8;ext=1\r\n, World!\r\n0\r\n\r\nGET /next";
/// let used = decoder.decode(rest, &mut body)?;
/// assert!(decoder.is_done());
/// assert_eq!(body, b"Hello, World!");
/// assert_eq!(&rest[used..], b"GET /next");
/// # Ok::<(), monocle_http::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// Body bytes announced so far (sizes of the chunks started).
    body_len: u64,
    extensions_len: usize,
    trailers_len: usize,
    /// The largest body, in bytes, and which of the [`Limits`] it is, for
    /// the error past it.
    max_body: u64,
    body_limit: BodyLimit,
    max_extensions: usize,
    max_trailers: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk size; `digits` counts them, leading
    /// zeros too (up to 255).
    Size { value: u64, digits: u8 },
    /// Whitespace after the size; only `;` may follow.
    SizeSpace { value: u64 },
    /// Inside chunk extensions, until CR.
    Extension { value: u64 },
    /// CR seen after the size line; LF must follow.
    SizeLf { value: u64 },
    /// Copying chunk data.
    Data { remaining: u64 },
    /// Chunk data done; CR must follow.
    DataCr,
    /// CR seen after chunk data; LF must follow.
    DataLf,
    /// At the start of a trailer line or of the final CRLF.
    TrailerStart,
    /// Inside a trailer field name, until the colon.
    TrailerName,
    /// Inside a trailer field value, until CR.
    TrailerValue,
    /// CR seen at the end of a trailer line; LF must follow.
    TrailerLf,
    /// CR of the final CRLF seen; LF must follow.
    EndLf,
    /// The body and its trailers are complete.
    Done,
    /// A previous call failed with this error.
    Failed(Error),
}

/// Digits of a chunk size, zero padding included, that cost nothing: a
/// 64-bit size has 16; leading zeros past them count against the extension
/// budget.
const MAX_SIZE_DIGITS: u8 = 16;

impl ChunkedDecoder {
    /// Creates a decoder enforcing the body, extension and trailer limits of
    /// `limits`: a body past [`Limits::max_body`] fails with
    /// [`Error::BodyTooLarge`]. The common case, a body held whole; it is
    /// `with_body_limit(limits, BodyLimit::Whole)`.
    pub fn new(limits: &Limits) -> Self {
        Self::with_body_limit(limits, BodyLimit::Whole)
    }

    /// Creates a decoder enforcing the extension and trailer limits of
    /// `limits`, and the body limit `body_limit` names: a body past it
    /// fails with that limit's error ([`BodyLimit::exceeded`]), naming it
    /// and the setter that raises it. `BodyLimit::Streamed` holds a body
    /// handed on piece by piece to [`Limits::max_streamed_body`], with
    /// [`Error::StreamedBodyTooLarge`].
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::{BodyLimit, ChunkedDecoder, Error, Limits};
    ///
    /// let mut limits = Limits::new();
    /// limits.max_body(4).max_streamed_body(10);
    /// let mut decoder = ChunkedDecoder::with_body_limit(&limits, BodyLimit::Streamed);
    /// let mut body = Vec::new();
    /// // 10 bytes pass max_body, not max_streamed_body...
    /// decoder.decode(b"a\r\n0123456789\r\n", &mut body)?;
    /// assert_eq!(body.len(), 10);
    /// // ...which one byte more passes.
    /// let err = decoder.decode(b"1\r\n", &mut body).unwrap_err();
    /// assert_eq!(err, Error::StreamedBodyTooLarge { limit: 10 });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn with_body_limit(limits: &Limits, body_limit: BodyLimit) -> Self {
        ChunkedDecoder {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            body_len: 0,
            extensions_len: 0,
            trailers_len: 0,
            max_body: body_limit.bytes(limits),
            body_limit,
            max_extensions: limits.max_chunk_extensions,
            max_trailers: limits.max_trailers,
        }
    }

    /// Whether the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The number of body bytes decoded or announced by the chunk being read.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Decodes as much of `input` as possible, appending body bytes to `body`.
    ///
    /// Returns how many bytes of `input` were consumed: all of them unless the
    /// body ended inside `input`. Once [`is_done`](Self::is_done), it consumes
    /// nothing more.
    ///
    /// # Errors
    ///
    /// [`Error::BadChunkSize`], [`Error::ChunkSizeOverflow`],
    /// [`Error::BadChunkLineEnding`], [`Error::BadChunkExtension`],
    /// [`Error::ChunkExtensionsTooLong`], [`Error::BadTrailer`],
    /// [`Error::TrailersTooLarge`] (431), and past the body limit
    /// [`Error::BodyTooLarge`] or [`Error::StreamedBodyTooLarge`] (413), as
    /// the decoder's [`BodyLimit`] says. Bytes decoded before the error may
    /// have been appended to `body`.
    pub fn decode(&mut self, input: &[u8], body: &mut Vec<u8>) -> Result<usize> {
        self.run(input, usize::MAX, |data| body.extend_from_slice(data))
    }

    /// Decodes as much of `input` as fits into `out`, for a reader that hands
    /// the body on in a buffer of its own rather than keeping it.
    ///
    /// Returns how many bytes of `input` were consumed and how many body
    /// bytes were written at the start of `out`. It stops when the body ends,
    /// at the end of `input`, or when `out` is full and the next byte of
    /// `input` is chunk data; the line ends, sizes, extensions and trailers
    /// after the last data byte written are consumed all the same, so that
    /// the end of the body is seen as soon as its bytes are there. Call it
    /// again with the rest of `input` (and more) once `out` is emptied.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode). Bytes decoded before the error may have
    /// been written to `out`.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::{ChunkedDecoder, Limits};
    ///
    /// let mut decoder = ChunkedDecoder::new(&Limits::default());
    /// let input = b"5\r\nHello\r\n0\r\n\r\n";
    /// let mut out = [0u8; 3];
    /// assert_eq!(decoder.decode_into(input, &mut out)?, (6, 3));
    /// assert_eq!(&out, b"Hel");
    /// assert_eq!(decoder.decode_into(&input[6..], &mut out)?, (9, 2));
    /// assert_eq!(&out[..2], b"lo");
    /// assert!(decoder.is_done());
    /// # Ok::<(), monocle_http::Error>(())
    /// ```
    pub fn decode_into(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize)> {
        let mut written = 0;
        let used = self.run(input, out.len(), |data| {
            out[written..written + data.len()].copy_from_slice(data);
            written += data.len();
        })?;
        Ok((used, written))
    }

    /// Decodes `input`, giving body bytes to `put`, at most `room` of them;
    /// returns how many bytes of `input` were consumed.
    fn run(&mut self, input: &[u8], mut room: usize, mut put: impl FnMut(&[u8])) -> Result<usize> {
        let mut i = 0;
        while i < input.len() {
            if let State::Data { remaining } = self.state {
                if room == 0 {
                    break;
                }
                let take = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - i)
                    .min(room);
                put(&input[i..i + take]);
                i += take;
                room -= take;
                let remaining = remaining - take as u64;
                self.state = if remaining == 0 {
                    State::DataCr
                } else {
                    State::Data { remaining }
                };
                continue;
            }
            if matches!(self.state, State::Done | State::Failed(_)) {
                break;
            }
            if let Err(e) = self.step(input[i]) {
                self.state = State::Failed(e.clone());
                return Err(e);
            }
            i += 1;
        }
        match &self.state {
            State::Failed(e) => Err(e.clone()),
            _ => Ok(i),
        }
    }

    /// Advances the state machine by one byte outside chunk data.
    fn step(&mut self, b: u8) -> Result<()> {
        self.state = match self.state {
            State::Size { value, digits } => match hex_value(b) {
                // Zero padding is valid and common (`00001F3E`): up to 16
                // digits in all cost nothing; zeros past that count against
                // the extension budget, so padding cannot make a size line
                // unbounded.
                Some(0) if value == 0 && digits >= MAX_SIZE_DIGITS => {
                    self.count_extension()?;
                    State::Size { value, digits }
                }
                // One more digit would shift a bit out of 64.
                Some(_) if value >> 60 != 0 => return Err(Error::ChunkSizeOverflow),
                Some(d) => State::Size {
                    value: value << 4 | u64::from(d),
                    digits: digits.saturating_add(1),
                },
                None if digits == 0 => return Err(Error::BadChunkSize),
                None => match b {
                    b'\r' => State::SizeLf { value },
                    b';' => {
                        self.count_extension()?;
                        State::Extension { value }
                    }
                    b' ' | b'\t' => {
                        self.count_extension()?;
                        State::SizeSpace { value }
                    }
                    b'\n' => return Err(Error::BadChunkLineEnding),
                    _ => return Err(Error::BadChunkSize),
                },
            },
            State::SizeSpace { value } => {
                self.count_extension()?;
                match b {
                    b' ' | b'\t' => State::SizeSpace { value },
                    b';' => State::Extension { value },
                    _ => return Err(Error::BadChunkSize),
                }
            }
            State::Extension { value } => match b {
                b'\r' => State::SizeLf { value },
                b'\n' => return Err(Error::BadChunkLineEnding),
                b'\t' => {
                    self.count_extension()?;
                    State::Extension { value }
                }
                0..=0x1f | 0x7f => return Err(Error::BadChunkExtension),
                _ => {
                    self.count_extension()?;
                    State::Extension { value }
                }
            },
            State::SizeLf { value } => {
                if b != b'\n' {
                    return Err(Error::BadChunkLineEnding);
                }
                if value == 0 {
                    State::TrailerStart
                } else {
                    self.body_len = self
                        .body_len
                        .checked_add(value)
                        .filter(|&n| n <= self.max_body)
                        .ok_or_else(|| self.body_limit.exceeded(self.max_body))?;
                    State::Data { remaining: value }
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size {
                value: 0,
                digits: 0,
            },
            State::DataCr | State::DataLf => return Err(Error::BadChunkLineEnding),
            State::TrailerStart => match b {
                b'\r' => State::EndLf,
                b'\n' => return Err(Error::BadChunkLineEnding),
                b if is_tchar(b) => {
                    self.count_trailer()?;
                    State::TrailerName
                }
                _ => return Err(Error::BadTrailer),
            },
            State::TrailerName => {
                self.count_trailer()?;
                match b {
                    b':' => State::TrailerValue,
                    b if is_tchar(b) => State::TrailerName,
                    // No colon on the line, whitespace before it, or a
                    // separator in the name.
                    _ => return Err(Error::BadTrailer),
                }
            }
            State::TrailerValue => match b {
                b'\r' => State::TrailerLf,
                b'\n' => return Err(Error::BadChunkLineEnding),
                b'\t' => {
                    self.count_trailer()?;
                    State::TrailerValue
                }
                0..=0x1f | 0x7f => return Err(Error::BadTrailer),
                _ => {
                    self.count_trailer()?;
                    State::TrailerValue
                }
            },
            State::TrailerLf if b == b'\n' => {
                self.count_trailer()?;
                State::TrailerStart
            }
            State::EndLf if b == b'\n' => State::Done,
            State::TrailerLf | State::EndLf => return Err(Error::BadChunkLineEnding),
            State::Data { .. } | State::Done | State::Failed(_) => {
                unreachable!("handled by decode")
            }
        };
        Ok(())
    }

    fn count_extension(&mut self) -> Result<()> {
        self.extensions_len += 1;
        if self.extensions_len > self.max_extensions {
            return Err(Error::ChunkExtensionsTooLong {
                limit: self.max_extensions,
            });
        }
        Ok(())
    }

    fn count_trailer(&mut self) -> Result<()> {
        self.trailers_len += 1;
        if self.trailers_len > self.max_trailers {
            return Err(Error::TrailersTooLarge {
                limit: self.max_trailers,
            });
        }
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The size line of one chunk, `{len:x}\r\n`, kept on the stack.
///
/// For vectored writes: write `chunk_header(data.len())`, then `data`, then
/// [`CHUNK_END`]. A chunk of length 0 would end the body, so never write one for
/// empty data; end the body with [`LAST_CHUNK`].
///
/// # Examples
///
/// ```
/// use monocle_http::chunk_header;
///
/// assert_eq!(chunk_header(255).as_ref(), b"ff\r\n");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    buf: [u8; 18],
    len: u8,
}

impl AsRef<[u8]> for ChunkHeader {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for ChunkHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ChunkHeader({:?})",
            String::from_utf8_lossy(self.as_ref())
        )
    }
}

/// The size line for a chunk of `len` bytes; see [`ChunkHeader`].
pub fn chunk_header(len: usize) -> ChunkHeader {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 18];
    let digits = ((usize::BITS - len.leading_zeros()).div_ceil(4)).max(1) as usize;
    for (i, slot) in buf[..digits].iter_mut().enumerate() {
        let shift = 4 * (digits - 1 - i);
        *slot = HEX[(len >> shift) & 0xf];
    }
    buf[digits] = b'\r';
    buf[digits + 1] = b'\n';
    ChunkHeader {
        buf,
        len: (digits + 2) as u8,
    }
}

/// What follows the data of each chunk.
pub const CHUNK_END: &[u8] = b"\r\n";

/// The last chunk and an empty trailer section: ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Appends `data` to `buf` as one chunk; appends nothing for empty `data`
/// (an empty chunk would end the body).
///
/// # Examples
///
/// ```
/// use monocle_http::{encode_chunk, LAST_CHUNK};
///
/// let mut buf = Vec::new();
/// encode_chunk(b"Hello, World!", &mut buf);
/// encode_chunk(b"", &mut buf);
/// buf.extend_from_slice(LAST_CHUNK);
/// assert_eq!(buf, b"d\r\nHello, World!\r\n0\r\n\r\n");
/// ```
pub fn encode_chunk(data: &[u8], buf: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    buf.reserve(data.len() + 20);
    buf.extend_from_slice(chunk_header(data.len()).as_ref());
    buf.extend_from_slice(data);
    buf.extend_from_slice(CHUNK_END);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        let mut l = Limits::default();
        l.max_body(64).max_chunk_extensions(32).max_trailers(32);
        l
    }

    /// Decodes `input` fed as `pieces`, returning (body, consumed, result).
    fn feed<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> (Vec<u8>, usize, Result<bool>) {
        let mut d = ChunkedDecoder::new(&limits());
        let mut body = Vec::new();
        let mut consumed = 0;
        for piece in pieces {
            match d.decode(piece, &mut body) {
                Ok(n) => {
                    consumed += n;
                    if n < piece.len() {
                        assert!(d.is_done(), "stopped early without being done");
                        break;
                    }
                }
                // How much was consumed before an error does not matter.
                Err(e) => return (body, 0, Err(e)),
            }
        }
        (body, consumed, Ok(d.is_done()))
    }

    #[test]
    fn padded_sizes_cost_nothing_in_a_long_body() {
        // Fixed-width sizes, as proxies write them, over a body far longer
        // than the extension budget.
        let mut wire = Vec::new();
        for _ in 0..6000 {
            wire.extend_from_slice(b"00000010\r\n0123456789abcdef\r\n");
        }
        wire.extend_from_slice(b"0000000000000000\r\n\r\n");
        let mut limits = Limits::default();
        limits.max_body(1 << 20).max_chunk_extensions(32);
        let mut d = ChunkedDecoder::new(&limits);
        let mut body = Vec::new();
        assert_eq!(d.decode(&wire, &mut body), Ok(wire.len()));
        assert_eq!(body.len(), 6000 * 16);
        assert!(d.is_done());
    }

    #[test]
    fn valid_bodies() {
        let table: &[(&[u8], &[u8], usize)] = &[
            (b"0\r\n\r\n", b"", 5),
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello", 15),
            (
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT",
                b"hello world",
                26,
            ),
            (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789", 20),
            (b"a\r\n0123456789\r\n0000\r\n\r\n", b"0123456789", 23),
            (b"3;name=value\r\nabc\r\n0;last\r\n\r\n", b"abc", 29),
            (b"3 ;x\r\nabc\r\n0\r\n\r\n", b"abc", 16),
            // Leading zeros are not digits of value (19 zeros and a 5);
            // those past 16 digits count against the extension budget.
            (
                b"00000000000000000005\r\nhello\r\n0000\r\n\r\n",
                b"hello",
                37,
            ),
            (
                b"0f\r\n0123456789abcde\r\n0\r\n\r\n",
                b"0123456789abcde",
                26,
            ),
            (
                b"3\r\nabc\r\n0\r\nExpires: never\r\nX: y\r\n\r\n",
                b"abc",
                35,
            ),
            (b"0\r\nX-Sum:abc\r\nEmpty:\r\n\r\n", b"", 24),
            (b"0\r\nx!#$%&'*+-.^_`|~9: a: b\t\"c\"\r\n\r\n", b"", 34),
            (b"0000000000000003\r\nabc\r\n0\r\n\r\n", b"abc", 28),
        ];
        for (input, body, used) in table {
            let (got, consumed, done) = feed([*input]);
            assert_eq!(
                (got.as_slice(), consumed, done),
                (*body, *used, Ok(true)),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn every_flaw_class_is_rejected() {
        let table: &[(&str, &[u8], Error, u16)] = &[
            ("non-hex size", b"g\r\n", Error::BadChunkSize, 400),
            ("empty size", b"\r\n", Error::BadChunkSize, 400),
            (
                "signed size",
                b"+5\r\nhello\r\n0\r\n\r\n",
                Error::BadChunkSize,
                400,
            ),
            (
                "0x prefix",
                b"0x5\r\nhello\r\n0\r\n\r\n",
                Error::BadChunkSize,
                400,
            ),
            (
                "size overflow",
                b"10000000000000000\r\n",
                Error::ChunkSizeOverflow,
                400,
            ),
            (
                "size overflow after a leading zero",
                b"010000000000000000\r\n",
                Error::ChunkSizeOverflow,
                400,
            ),
            (
                "lone LF after size",
                b"5\nhello\r\n0\r\n\r\n",
                Error::BadChunkLineEnding,
                400,
            ),
            (
                "lone CR after size",
                b"5\rhello\r\n0\r\n\r\n",
                Error::BadChunkLineEnding,
                400,
            ),
            (
                "lone LF after data",
                b"5\r\nhello\n0\r\n\r\n",
                Error::BadChunkLineEnding,
                400,
            ),
            (
                "data longer than size",
                b"5\r\nhelloX\r\n0\r\n\r\n",
                Error::BadChunkLineEnding,
                400,
            ),
            (
                "lone LF after last chunk",
                b"5\r\nhello\r\n0\n\r\n",
                Error::BadChunkLineEnding,
                400,
            ),
            (
                "lone LF ending the body",
                b"0\r\n\n",
                Error::BadChunkLineEnding,
                400,
            ),
            (
                "lone LF after extension",
                b"5;a=b\nhello\r\n0\r\n\r\n",
                Error::BadChunkLineEnding,
                400,
            ),
            (
                "space then garbage",
                b"5 x\r\nhello\r\n0\r\n\r\n",
                Error::BadChunkSize,
                400,
            ),
            (
                "control byte in extension",
                b"5;a\x01\r\nhello\r\n0\r\n\r\n",
                Error::BadChunkExtension,
                400,
            ),
            (
                "unbounded extension",
                b"1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
                Error::ChunkExtensionsTooLong { limit: 32 },
                400,
            ),
            (
                "extensions over many chunks",
                b"1;aaaaaaaaaaaa\r\nx\r\n1;aaaaaaaaaaaa\r\nx\r\n1;aaaaaaaaaaaa\r\nx\r\n0\r\n\r\n",
                Error::ChunkExtensionsTooLong { limit: 32 },
                400,
            ),
            (
                "unbounded leading zeros",
                b"0000000000000000000000000000000000000000000000000001\r\n",
                Error::ChunkExtensionsTooLong { limit: 32 },
                400,
            ),
            (
                "trailers over limit",
                b"0\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
                Error::TrailersTooLarge { limit: 32 },
                431,
            ),
            (
                "many trailer lines",
                b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\n\r\n",
                Error::TrailersTooLarge { limit: 32 },
                431,
            ),
            (
                "lone LF in trailer",
                b"0\r\nX: y\nZ: w\r\n\r\n",
                Error::BadChunkLineEnding,
                400,
            ),
            (
                "lone CR in trailer",
                b"0\r\nX: y\rZ: w\r\n\r\n",
                Error::BadChunkLineEnding,
                400,
            ),
            (
                "NUL in trailer",
                b"0\r\nX: \0\r\n\r\n",
                Error::BadTrailer,
                400,
            ),
            (
                "trailer line without a colon",
                b"0\r\nNoColonHere\r\n\r\n",
                Error::BadTrailer,
                400,
            ),
            (
                "colon-less trailer after a good one",
                b"0\r\nX: y\r\nZ\r\n\r\n",
                Error::BadTrailer,
                400,
            ),
            (
                "space in trailer name",
                b"0\r\nBad Name: v\r\n\r\n",
                Error::BadTrailer,
                400,
            ),
            (
                "whitespace before trailer colon",
                b"0\r\nX : v\r\n\r\n",
                Error::BadTrailer,
                400,
            ),
            (
                "separator in trailer name",
                b"0\r\nX@y: v\r\n\r\n",
                Error::BadTrailer,
                400,
            ),
            (
                "trailer starting with a colon",
                b"0\r\n: v\r\n\r\n",
                Error::BadTrailer,
                400,
            ),
            (
                "colon-less trailer name over the limit",
                b"0\r\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n\r\n",
                Error::TrailersTooLarge { limit: 32 },
                431,
            ),
            (
                "folded trailer",
                b"0\r\nX: y\r\n z\r\n\r\n",
                Error::BadTrailer,
                400,
            ),
            (
                "body over limit in one chunk",
                b"41\r\n",
                Error::BodyTooLarge { limit: 64 },
                413,
            ),
            (
                "body over limit across chunks",
                b"20\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n21\r\n",
                Error::BodyTooLarge { limit: 64 },
                413,
            ),
        ];
        for (what, input, want, status) in table {
            let (_, _, got) = feed([*input]);
            assert_eq!(got.as_ref().err(), Some(want), "{what}");
            assert_eq!(want.status(), *status, "{what}");
        }
    }

    #[test]
    fn errors_are_sticky() {
        let mut d = ChunkedDecoder::new(&limits());
        let mut body = Vec::new();
        assert_eq!(d.decode(b"z", &mut body), Err(Error::BadChunkSize));
        assert_eq!(d.decode(b"0\r\n\r\n", &mut body), Err(Error::BadChunkSize));
        assert!(!d.is_done());
    }

    #[test]
    fn done_consumes_nothing_more() {
        let mut d = ChunkedDecoder::new(&limits());
        let mut body = Vec::new();
        assert_eq!(d.decode(b"0\r\n\r\n", &mut body), Ok(5));
        assert_eq!(d.decode(b"more", &mut body), Ok(0));
        assert!(d.is_done());
    }

    #[test]
    fn split_at_every_offset_and_byte_by_byte() {
        let inputs: &[&[u8]] = &[
            b"5\r\nhello\r\n6;ext=\"q\"\r\n world\r\n0\r\nTrailer: t\r\n\r\nNEXT REQUEST",
            b"1\r\na\r\n1\r\nb\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\r\n0\r\nX: y\rZ\r\n\r\n",
            b"5\r\nhello\r\n0\r\nX: y\r\nNoColon\r\n\r\n",
            b"0\r\nBad Name: v\r\n\r\n",
            b"10000000000000000\r\n",
            b"1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            b"41\r\n",
            b"5\r\nhel",
        ];
        for input in inputs {
            let whole = feed([*input]);
            for cut in 0..=input.len() {
                let (a, b) = input.split_at(cut);
                assert_eq!(
                    feed([a, b]),
                    whole,
                    "split at {cut} of {:?}",
                    String::from_utf8_lossy(input)
                );
            }
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(
                feed(bytes),
                whole,
                "byte by byte: {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// Decodes `input` with [`ChunkedDecoder::decode_into`], fed `step`
    /// bytes at a time into an `out` of `room` bytes, as a reader does: the
    /// input not consumed is given again, with more, once `out` is emptied.
    /// Returns what [`feed`] does.
    fn feed_into(input: &[u8], step: usize, room: usize) -> (Vec<u8>, usize, Result<bool>) {
        let mut d = ChunkedDecoder::new(&limits());
        let mut body = Vec::new();
        let mut out = vec![0; room];
        let (mut start, mut end) = (0, 0);
        loop {
            match d.decode_into(&input[start..end], &mut out) {
                Ok((used, written)) => {
                    assert!(written <= room);
                    body.extend_from_slice(&out[..written]);
                    start += used;
                    if d.is_done() {
                        return (body, start, Ok(true));
                    }
                    // Short of the end of the input only when `out` is full.
                    if start < end {
                        assert_eq!(written, room, "stopped early with room left");
                        continue;
                    }
                }
                Err(e) => return (body, 0, Err(e)),
            }
            if end == input.len() {
                return (body, start, Ok(false));
            }
            end = (end + step).min(input.len());
        }
    }

    #[test]
    fn decode_into_a_small_buffer_decodes_as_decode_does() {
        let inputs: &[&[u8]] = &[
            b"5\r\nhello\r\n6;ext=\"q\"\r\n world\r\n0\r\nTrailer: t\r\n\r\nNEXT REQUEST",
            b"1\r\na\r\n1\r\nb\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\r\n0\r\nX: y\rZ\r\n\r\n",
            b"41\r\n",
            b"5\r\nhel",
        ];
        for input in inputs {
            let (body, used, done) = feed([*input]);
            for step in 1..=input.len() {
                for room in 1..=20 {
                    let (got, got_used, got_done) = feed_into(input, step, room);
                    let what = format!(
                        "step {step}, room {room}: {:?}",
                        String::from_utf8_lossy(input)
                    );
                    assert_eq!(got_done, done, "{what}");
                    if done.is_ok() {
                        assert_eq!((&got, got_used), (&body, used), "{what}");
                    } else {
                        // Body bytes before the error are a prefix of it.
                        assert!(body.starts_with(&got), "{what}");
                    }
                }
            }
        }
        // The end of the body is seen with the last data byte when it is there.
        let mut d = ChunkedDecoder::new(&limits());
        let mut out = [0u8; 5];
        assert_eq!(
            d.decode_into(b"5\r\nhello\r\n0\r\n\r\nX", &mut out),
            Ok((15, 5))
        );
        assert!(d.is_done());
        // Nothing to write into: only what precedes the data is consumed.
        let mut d = ChunkedDecoder::new(&limits());
        assert_eq!(d.decode_into(b"5\r\nhello", &mut []), Ok((3, 0)));
    }

    /// A decoder holds the body to the limit it was given, and past it
    /// fails with that limit's error: `limit` bytes pass, in one chunk or
    /// several, fed whole or a byte at a time; one more is refused as its
    /// chunk's size is read. The other limit, lower, plays no part.
    #[test]
    fn the_body_limit_given_holds_at_its_boundary() {
        const LIMIT: u64 = 1000;
        for body_limit in [BodyLimit::Whole, BodyLimit::Streamed] {
            let mut limits = Limits::new();
            match body_limit {
                BodyLimit::Whole => limits.max_body(LIMIT).max_streamed_body(10),
                BodyLimit::Streamed => limits.max_streamed_body(LIMIT).max_body(10),
            };
            for (len, split) in [(1000, 1000), (1000, 600), (1001, 1001), (1001, 600)] {
                let body = vec![b'x'; len];
                let mut wire = Vec::new();
                for piece in body.chunks(split) {
                    encode_chunk(piece, &mut wire);
                }
                wire.extend_from_slice(LAST_CHUNK);
                for step in [1, wire.len()] {
                    let what = format!(
                        "{body_limit:?}, {len} bytes in chunks of {split}, fed {step} at a time"
                    );
                    let mut d = ChunkedDecoder::with_body_limit(&limits, body_limit);
                    let mut got = Vec::new();
                    let result = wire
                        .chunks(step)
                        .try_for_each(|piece| d.decode(piece, &mut got).map(drop));
                    if len as u64 <= LIMIT {
                        assert_eq!(result, Ok(()), "{what}");
                        assert!(d.is_done() && got == body, "{what}");
                    } else {
                        assert_eq!(result, Err(body_limit.exceeded(LIMIT)), "{what}");
                        // Refused as the size of the chunk that passes the
                        // limit is read: none of its bytes came out.
                        let before = if split < len { split } else { 0 };
                        assert!(got.len() <= before, "{what}: {}", got.len());
                    }
                }
            }
        }
        // `new` is the limit of a body held whole.
        let mut limits = Limits::new();
        limits.max_body(4).max_streamed_body(100);
        let mut d = ChunkedDecoder::new(&limits);
        assert_eq!(
            d.decode(b"5\r\n", &mut Vec::new()),
            Err(Error::BodyTooLarge { limit: 4 })
        );
    }

    #[test]
    fn chunk_headers() {
        let table: &[(usize, &[u8])] = &[
            (0, b"0\r\n"),
            (1, b"1\r\n"),
            (15, b"f\r\n"),
            (16, b"10\r\n"),
            (0x1234, b"1234\r\n"),
            (usize::MAX, b"ffffffffffffffff\r\n"),
        ];
        for (len, want) in table {
            assert_eq!(chunk_header(*len).as_ref(), *want, "{len}");
        }
        assert_eq!(format!("{:?}", chunk_header(10)), r#"ChunkHeader("a\r\n")"#);
    }

    #[test]
    fn encoder_round_trips_through_decoder() {
        let pieces: [&[u8]; 4] = [b"Hello", b"", &[b'x'; 40], b", World!"];
        let mut wire = Vec::new();
        for p in pieces {
            encode_chunk(p, &mut wire);
        }
        wire.extend_from_slice(LAST_CHUNK);
        let mut d = ChunkedDecoder::new(&Limits::default());
        let mut body = Vec::new();
        assert_eq!(d.decode(&wire, &mut body), Ok(wire.len()));
        assert!(d.is_done());
        assert_eq!(body, pieces.concat());
    }
}
