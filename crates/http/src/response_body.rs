//! A response body read by its framing (`Content-Length`, chunked, or until
//! the server closes), piece by piece over any byte source: the one framing
//! implementation of the client, behind [`ResponseReader`](crate::ResponseReader)
//! and the whole bodies of [`HttpClient::request`](crate::HttpClient::request).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_lite::io::AsyncRead;
use monocle_stack::util::Sleep;

use crate::chunked::ChunkedDecoder;
use crate::io::{is_disconnect, is_reset, poll_deadline, Deadline, InBuf};
use crate::limits::{BodyLimit, Limits};
use crate::parse::BodyFraming;

/// A read into a buffer at least this long goes straight into it, when the
/// client's input buffer is empty and the body is not chunked; a shorter one
/// fills the input buffer first, so that tiny reads do not each cost a
/// system call.
const DIRECT_READ_MIN: usize = 4 << 10;

/// A whole body read into memory grows by what it already holds, at least
/// this much (the size of the client's input buffer)...
const GROW_MIN: usize = 8 << 10;

/// ...and at most this much at a time, so that the room zeroed and never
/// filled stays small.
const GROW_MAX: usize = 64 << 10;

/// The most memory taken at once for a body of known length, before its
/// bytes arrive: a `Content-Length` is only the server's word.
const PREALLOC_MAX: usize = 1 << 20;

/// Why a body could not be read to its end.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// No byte came before the deadline.
    TimedOut,
    /// The source ended (EOF) before the body did.
    Cut,
    /// The chunked coding is malformed or past its extension or trailer
    /// limits.
    Chunked(crate::Error),
    /// The body is longer than its limit: as it grew (chunked, or read
    /// until the server closes), or as its `Content-Length` says (then
    /// from [`BodyReader::new`]).
    TooLarge(TooLarge),
    /// Reading failed.
    Io(io::Error),
}

/// A body that could not be read to its end: why, how it was framed and how
/// much of it came.
///
/// [`into_io`](Self::into_io) is the client's one wording of a body
/// failure: [`HttpClient::request`](crate::HttpClient::request), which
/// reads the body whole, and a [`ResponseReader`](crate::ResponseReader),
/// which hands it on piece by piece, fail alike for the same reply.
#[derive(Debug)]
pub(crate) struct BodyFailure {
    error: BodyError,
    framing: BodyFraming,
    /// Body bytes handed out before the failure.
    read: u64,
    /// Whether the timeout, if it ran out, bounds each wait for bytes (a
    /// [`ResponseReader`](crate::ResponseReader)'s) rather than the whole
    /// request ([`HttpClient::request`](crate::HttpClient::request)'s).
    idle: bool,
}

impl BodyFailure {
    /// A body framed as `framing` that failed with `error` once `read`
    /// bytes of it were handed out.
    pub(crate) fn new(error: BodyError, framing: BodyFraming, read: u64) -> Self {
        BodyFailure {
            error,
            framing,
            read,
            idle: false,
        }
    }

    /// The error of the request `what` (as
    /// `HttpClient::describe` names it) whose
    /// body failed so; `timeout` is the client's, named if it ran out.
    ///
    /// Its kind is what callers match on: `UnexpectedEof` for a body the
    /// server cut short by closing, `InvalidData` for a malformed chunked
    /// coding or a body past its limit, `TimedOut`, and a failed read's own
    /// kind (`ConnectionReset` for a reset...). The message names the
    /// framing (a chunked body or a body) and how much of it came, but for
    /// a body past its limit, which names the setter that raises it; a
    /// timeout's says what it bounded: each wait for more of the body (a
    /// reader's, idle) or the whole request (`request`'s).
    pub(crate) fn into_io(self, what: &str, timeout: Option<Duration>) -> io::Error {
        let body = match self.framing {
            BodyFraming::Chunked => "chunked body",
            _ => "body",
        };
        let read = self.read;
        let progress = match self.framing {
            BodyFraming::Length(total) => format!("{read} of {total} bytes"),
            _ => format!("{read} bytes read"),
        };
        let (kind, message) = match self.error {
            BodyError::TimedOut => {
                // What the timeout bounds: each wait for bytes, or the
                // whole request.
                let waiting = if self.idle {
                    "waiting for more of the"
                } else {
                    "before the end of the"
                };
                (
                    io::ErrorKind::TimedOut,
                    format!(
                        "{what} timed out after {:?} {waiting} {body} ({progress}); \
                         raise it with HttpClient::set_timeout",
                        timeout.unwrap_or_default()
                    ),
                )
            }
            BodyError::Cut => (
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{what}: the server closed the connection before the end of the {body} \
                     ({progress})"
                ),
            ),
            BodyError::Chunked(e) => (
                io::ErrorKind::InvalidData,
                format!("{what}: bad chunked body ({progress}): {e}"),
            ),
            BodyError::TooLarge(e) => (io::ErrorKind::InvalidData, format!("{what}: {e}")),
            // A reset is no close: the body was cut short, and what came of
            // it must not pass for all of it.
            BodyError::Io(e) if is_reset(&e) => (
                e.kind(),
                format!(
                    "{what}: the server reset the connection before the end of the {body} \
                     ({progress}): {e}"
                ),
            ),
            BodyError::Io(e) => (
                e.kind(),
                format!(
                    "{what}: the connection failed before the end of the {body} ({progress}): {e}"
                ),
            ),
        };
        io::Error::new(kind, message)
    }
}

/// A body longer than the `which` limit, `limit` bytes. As a message it
/// names the setter that raises it; as an `io::Error` it is `InvalidData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLarge {
    pub(crate) which: BodyLimit,
    pub(crate) limit: u64,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "response body larger than {} bytes; raise it with HttpClient::limits_mut().{}",
            self.limit,
            self.which.setter()
        )
    }
}

impl From<TooLarge> for io::Error {
    fn from(e: TooLarge) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e.to_string())
    }
}

/// Where a body is, read piece by piece over any byte source: its framing,
/// what came of it, and the timer of a read waiting for bytes.
///
/// It is the client's one reading of a body by its framing: a
/// [`ResponseReader`](crate::ResponseReader) hands each piece on, and
/// [`read_to_end`](Self::read_to_end) keeps them all, for
/// [`HttpClient::request`](crate::HttpClient::request).
pub(crate) struct BodyReader {
    state: BodyState,
    /// How the body is framed, for messages.
    framing: BodyFraming,
    /// Body bytes handed out so far.
    read: u64,
    /// Which limit holds the body, and its bytes: a body read until the
    /// server closes is held to it here, a chunked body by its decoder, a
    /// `Content-Length` when the reader is made.
    which: BodyLimit,
    limit: u64,
    /// When a read waiting for bytes gives up: [`Deadline::After`] starts
    /// over whenever bytes come (an idle timeout), [`Deadline::At`] does not.
    deadline: Deadline,
    /// Armed when a read has to wait; disarmed whenever bytes come.
    timer: Option<Sleep>,
}

enum BodyState {
    /// This many bytes are still to come.
    Length(u64),
    Chunked(Box<ChunkedDecoder>),
    /// Until the source ends.
    UntilClose,
    Done,
}

impl BodyReader {
    /// The reader of a body framed as `framing`, held to the `which` limit
    /// of `limits` (a chunked body to their extension and trailer limits
    /// too); each wait for bytes ends at `deadline`.
    ///
    /// This is the one place a response body is held to a body limit: a
    /// client parses response heads without one.
    ///
    /// # Errors
    ///
    /// A `Content-Length` past the limit.
    pub(crate) fn new(
        framing: BodyFraming,
        limits: &Limits,
        which: BodyLimit,
        deadline: Deadline,
    ) -> Result<Self, TooLarge> {
        let limit = which.bytes(limits);
        let state = match framing {
            BodyFraming::Empty | BodyFraming::Length(0) => BodyState::Done,
            BodyFraming::Length(n) if n > limit => return Err(TooLarge { which, limit }),
            BodyFraming::Length(n) => BodyState::Length(n),
            BodyFraming::Chunked => {
                BodyState::Chunked(Box::new(ChunkedDecoder::with_body_limit(limits, which)))
            }
            BodyFraming::UntilClose => BodyState::UntilClose,
        };
        Ok(BodyReader {
            state,
            framing,
            read: 0,
            which,
            limit,
            deadline,
            timer: None,
        })
    }

    /// Whether the body has ended.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, BodyState::Done)
    }

    /// Body bytes handed out so far.
    pub(crate) fn read(&self) -> u64 {
        self.read
    }

    /// The body failed with `error`: that, with how far it came.
    pub(crate) fn failure(&self, error: BodyError) -> BodyFailure {
        BodyFailure {
            idle: matches!(self.deadline, Deadline::After(_)),
            ..BodyFailure::new(error, self.framing, self.read)
        }
    }

    /// Reads body bytes into `buf`: first what `inbuf` holds, then from
    /// `io`. `Ok(0)` once the body has ended (or for an empty `buf`).
    pub(crate) fn poll_read<IO: AsyncRead + Unpin>(
        &mut self,
        io: &mut IO,
        inbuf: &mut InBuf,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<Result<usize, BodyError>> {
        // A body read until close takes at most one byte past its limit:
        // enough to know it is too large.
        let buf = match self.state {
            BodyState::UntilClose => {
                let room = clamp(self.limit.saturating_sub(self.read)).saturating_add(1);
                let len = buf.len().min(room);
                &mut buf[..len]
            }
            _ => buf,
        };
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            // What came already.
            let (used, written) = match &mut self.state {
                BodyState::Done => return Poll::Ready(Ok(0)),
                BodyState::Length(left) => {
                    let n = inbuf.len().min(buf.len()).min(clamp(*left));
                    buf[..n].copy_from_slice(&inbuf.data()[..n]);
                    *left -= n as u64;
                    if *left == 0 {
                        self.state = BodyState::Done;
                    }
                    (n, n)
                }
                BodyState::Chunked(decoder) => {
                    let which = self.which;
                    let decoded = decoder.decode_into(inbuf.data(), buf);
                    // The decoder holds the body to `which` and says so; the
                    // client words it with its own setter.
                    let (used, written) = decoded.map_err(|e| match e {
                        crate::Error::BodyTooLarge { limit }
                        | crate::Error::StreamedBodyTooLarge { limit } => {
                            debug_assert_eq!(e, which.exceeded(limit));
                            BodyError::TooLarge(TooLarge { which, limit })
                        }
                        e => BodyError::Chunked(e),
                    })?;
                    if decoder.is_done() {
                        self.state = BodyState::Done;
                    }
                    (used, written)
                }
                BodyState::UntilClose => {
                    let n = inbuf.len().min(buf.len());
                    buf[..n].copy_from_slice(&inbuf.data()[..n]);
                    (n, n)
                }
            };
            inbuf.consume(used);
            if written > 0 || self.is_done() {
                return Poll::Ready(self.handed_out(written));
            }
            // All that came is used (a chunked body's framing, say): more.
            debug_assert!(inbuf.is_empty());
            let direct = match self.state {
                BodyState::Length(left) if buf.len() >= DIRECT_READ_MIN => Some(clamp(left)),
                BodyState::UntilClose if buf.len() >= DIRECT_READ_MIN => Some(usize::MAX),
                _ => None,
            };
            let into = match direct {
                Some(max) => {
                    let len = buf.len().min(max);
                    &mut buf[..len]
                }
                None => inbuf.spare(),
            };
            match Pin::new(&mut *io).poll_read(cx, into) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(match self.state {
                        BodyState::UntilClose => {
                            self.state = BodyState::Done;
                            Ok(0)
                        }
                        _ => Err(BodyError::Cut),
                    })
                }
                Poll::Ready(Ok(n)) => {
                    self.timer = None;
                    if direct.is_none() {
                        inbuf.filled(n);
                        continue;
                    }
                    if let BodyState::Length(left) = &mut self.state {
                        *left -= n as u64;
                        if *left == 0 {
                            self.state = BodyState::Done;
                        }
                    }
                    return Poll::Ready(self.handed_out(n));
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                // A close that shows as an error ends a body read until
                // close; a reset never does: what came of it must not pass
                // for all of it.
                Poll::Ready(Err(e))
                    if matches!(self.state, BodyState::UntilClose)
                        && is_disconnect(&e)
                        && !is_reset(&e) =>
                {
                    self.state = BodyState::Done;
                    return Poll::Ready(Ok(0));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(BodyError::Io(e))),
                Poll::Pending => {
                    ready!(poll_deadline(&mut self.timer, self.deadline, cx));
                    return Poll::Ready(Err(BodyError::TimedOut));
                }
            }
        }
    }

    /// Counts `n` bytes handed out; a body read until close past its
    /// limit fails instead.
    fn handed_out(&mut self, n: usize) -> Result<usize, BodyError> {
        self.read += n as u64;
        if matches!(self.state, BodyState::UntilClose) && self.read > self.limit {
            return Err(self.too_large());
        }
        Ok(n)
    }

    /// The error of a body past its limit.
    fn too_large(&self) -> BodyError {
        BodyError::TooLarge(TooLarge {
            which: self.which,
            limit: self.limit,
        })
    }

    /// Reads the rest of the body into memory, as [`HttpClient::request`]
    /// keeps it.
    ///
    /// A body of known length goes into a buffer of its size (taken a MiB at
    /// first, then doubling as the bytes come: [`PREALLOC_MAX`]), straight
    /// from `io` once `inbuf` is drained; any other grows as it comes, by
    /// what it holds (at least [`GROW_MIN`], at most [`GROW_MAX`] at a time).
    ///
    /// [`HttpClient::request`]: crate::HttpClient::request
    pub(crate) async fn read_to_end<IO: AsyncRead + Unpin>(
        &mut self,
        io: &mut IO,
        inbuf: &mut InBuf,
    ) -> Result<Vec<u8>, BodyError> {
        let mut body = match self.state {
            // Only where memory is narrower than a `Content-Length` the
            // limit allows.
            BodyState::Length(left) => {
                let left = usize::try_from(left).map_err(|_| self.too_large())?;
                // What the server announced is not yet what it sent: memory
                // beyond the first MiB is taken as the bytes come.
                vec![0; left.min(PREALLOC_MAX)]
            }
            _ => Vec::new(),
        };
        let mut len = 0;
        std::future::poll_fn(|cx| loop {
            if len == body.len() {
                if self.is_done() {
                    return Poll::Ready(Ok(()));
                }
                match self.state {
                    // Doubling, up to what is left, and exact: the body
                    // ends in a buffer of its size.
                    BodyState::Length(left) => {
                        let grow =
                            usize::try_from(left).map_or(len, |left| left.min(len.max(GROW_MIN)));
                        body.reserve_exact(grow);
                        body.resize(len + grow, 0);
                    }
                    // The vector's own growth keeps this amortized.
                    _ => body.resize(len + len.clamp(GROW_MIN, GROW_MAX), 0),
                }
            }
            match ready!(self.poll_read(io, inbuf, cx, &mut body[len..])) {
                Ok(0) => return Poll::Ready(Ok(())),
                Ok(n) => len += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        })
        .await?;
        body.truncate(len);
        Ok(body)
    }
}

impl fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReader")
            .field("done", &self.is_done())
            .field("read", &self.read)
            .field("which", &self.which)
            .field("limit", &self.limit)
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// `n` as a length in memory, at most `usize::MAX`.
fn clamp(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunked::{encode_chunk, LAST_CHUNK};
    use std::time::{Duration, Instant};

    /// A byte source giving `data` at most `step` bytes per read, then
    /// ending with `end` (`None`: EOF; `Some(kind)`: that error).
    struct Source {
        data: Vec<u8>,
        at: usize,
        step: usize,
        end: Option<io::ErrorKind>,
        /// The longest read asked for, to check reads stay in bounds.
        largest_ask: usize,
    }

    impl Source {
        fn new(data: &[u8], step: usize, end: Option<io::ErrorKind>) -> Source {
            Source {
                data: data.to_vec(),
                at: 0,
                step,
                end,
                largest_ask: 0,
            }
        }
    }

    impl AsyncRead for Source {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.largest_ask = self.largest_ask.max(buf.len());
            let n = buf.len().min(self.step).min(self.data.len() - self.at);
            if n == 0 {
                return Poll::Ready(match self.end {
                    None => Ok(0),
                    Some(kind) => Err(kind.into()),
                });
            }
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Poll::Ready(Ok(n))
        }
    }

    /// A source that never has anything.
    struct Silent;

    impl AsyncRead for Silent {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Pending
        }
    }

    /// An input buffer holding `bytes`, as after the head was read.
    fn inbuf_with(bytes: &[u8]) -> InBuf {
        let mut inbuf = InBuf::new();
        let mut at = 0;
        while at < bytes.len() {
            let spare = inbuf.spare();
            let n = spare.len().min(bytes.len() - at);
            spare[..n].copy_from_slice(&bytes[at..at + n]);
            inbuf.filled(n);
            at += n;
        }
        inbuf
    }

    /// A `room` meaning the body is read whole, with
    /// [`BodyReader::read_to_end`].
    const WHOLE: usize = usize::MAX;

    /// Reads the body to its end (or error) with reads of `room` bytes, or
    /// whole; a whole read that fails gives nothing.
    fn read_all<IO: AsyncRead + Unpin>(
        body: &mut BodyReader,
        io: &mut IO,
        inbuf: &mut InBuf,
        room: usize,
    ) -> (Vec<u8>, Result<(), BodyError>) {
        if room == WHOLE {
            return match monocle_stack::block_on(body.read_to_end(io, inbuf)) {
                Ok(got) => (got, Ok(())),
                Err(e) => (Vec::new(), Err(e)),
            };
        }
        let mut got = Vec::new();
        let mut buf = vec![0; room];
        monocle_stack::block_on(async {
            loop {
                let read = std::future::poll_fn(|cx| body.poll_read(io, inbuf, cx, &mut buf));
                match read.await {
                    Ok(0) => return (got, Ok(())),
                    Ok(n) => {
                        assert!(n <= room);
                        got.extend_from_slice(&buf[..n]);
                    }
                    Err(e) => return (got, Err(e)),
                }
            }
        })
    }

    /// A reader of a body framed as `framing`, held to `limits`, waiting
    /// forever.
    fn body_reader(framing: BodyFraming, limits: &Limits) -> BodyReader {
        BodyReader::new(framing, limits, BodyLimit::Whole, Deadline::Never).unwrap()
    }

    fn chunked(pieces: &[&[u8]]) -> Vec<u8> {
        let mut wire = Vec::new();
        for p in pieces {
            encode_chunk(p, &mut wire);
        }
        wire.extend_from_slice(LAST_CHUNK);
        wire
    }

    #[test]
    fn bodies_split_anywhere_and_read_in_any_size() {
        let body: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut wire_chunked = chunked(&[&body[..1], &body[1..4100], &body[4100..]]);
        // A trailer, dropped.
        wire_chunked.truncate(wire_chunked.len() - 2);
        wire_chunked.extend_from_slice(b"X-Sum: 1\r\n\r\n");
        let next = b"HTTP/1.1 200 OK\r\n";
        let cases: [(BodyFraming, Vec<u8>); 3] = [
            (BodyFraming::Length(body.len() as u64), body.clone()),
            (BodyFraming::Chunked, wire_chunked),
            (BodyFraming::UntilClose, body.clone()),
        ];
        for (framing, wire) in cases {
            // What follows the body stays unread (there is none after a body
            // read until close).
            let after: &[u8] = if framing == BodyFraming::UntilClose {
                b""
            } else {
                next
            };
            let input = [&wire[..], after].concat();
            for (pre, step, room) in [
                (0, 1, 1),
                (0, 7, 3),
                (3, 1000, 1000),
                (10, 64 << 10, 4 << 10),
                (0, 64 << 10, 64 << 10),
                (wire.len(), 1, 5),
                (input.len(), 1, 64 << 10),
                (100, 13, 8 << 10),
                (0, 7, WHOLE),
                (10, 64 << 10, WHOLE),
                (wire.len(), 1, WHOLE),
                (input.len(), 1, WHOLE),
            ] {
                let what = format!("{framing:?}, {pre} buffered, steps of {step}, reads of {room}");
                let mut inbuf = inbuf_with(&input[..pre]);
                let mut io = Source::new(&input[pre..], step, None);
                let mut reader = body_reader(framing, &Limits::new());
                let (got, end) = read_all(&mut reader, &mut io, &mut inbuf, room);
                assert!(end.is_ok(), "{what}: {end:?}");
                assert!(reader.is_done(), "{what}");
                assert_eq!(got, body, "{what}");
                assert_eq!(reader.read(), body.len() as u64, "{what}");
                // Nothing of the next message was taken as body.
                let left = [inbuf.data(), &io.data[io.at..]].concat();
                assert_eq!(left, after, "{what}");
            }
        }
    }

    #[test]
    fn a_body_cut_short_is_an_error_not_a_short_body() {
        let body = vec![b'b'; 3000];
        let wire = chunked(&[&body]);
        let cases: [(BodyFraming, &[u8], usize); 4] = [
            (BodyFraming::Length(3000), &body, 2999),
            (BodyFraming::Chunked, &wire, wire.len() - 1),
            (BodyFraming::Chunked, &wire, 5 + 3000),
            (BodyFraming::Chunked, &wire, 2),
        ];
        for (framing, wire, cut) in cases {
            for room in [1, 100, 8 << 10, WHOLE] {
                let mut inbuf = InBuf::new();
                let mut io = Source::new(&wire[..cut], 500, None);
                let mut reader = body_reader(framing, &Limits::new());
                let (_, end) = read_all(&mut reader, &mut io, &mut inbuf, room);
                assert!(
                    matches!(end, Err(BodyError::Cut)),
                    "{framing:?} cut at {cut}, reads of {room}: {end:?}"
                );
                assert!(!reader.is_done());
            }
        }
        // Read until close: the server closing is the end, a reset is not.
        for (end, ok) in [
            (None, true),
            (Some(io::ErrorKind::BrokenPipe), true),
            (Some(io::ErrorKind::ConnectionReset), false),
            (Some(io::ErrorKind::ConnectionAborted), false),
            (Some(io::ErrorKind::PermissionDenied), false),
        ] {
            for room in [1000, WHOLE] {
                let mut inbuf = InBuf::new();
                let mut io = Source::new(&body, 700, end);
                let mut reader = body_reader(BodyFraming::UntilClose, &Limits::new());
                let (got, result) = read_all(&mut reader, &mut io, &mut inbuf, room);
                if room != WHOLE || ok {
                    assert_eq!(got, body, "{end:?}");
                }
                assert_eq!(result.is_ok(), ok, "{end:?}: {result:?}");
                if let (Some(kind), Err(BodyError::Io(e))) = (end, &result) {
                    assert_eq!(e.kind(), kind);
                }
                assert_eq!(reader.is_done(), ok, "{end:?}");
            }
        }
        // A chunked coding gone wrong.
        for room in [100, WHOLE] {
            let mut inbuf = InBuf::new();
            let mut io = Source::new(b"5\r\nhello\r\nzz\r\n", 100, None);
            let mut reader = body_reader(BodyFraming::Chunked, &Limits::new());
            let (got, end) = read_all(&mut reader, &mut io, &mut inbuf, room);
            // What was decoded in the read that failed is not handed out.
            assert!(b"hello".starts_with(&got), "{got:?}");
            assert!(
                matches!(end, Err(BodyError::Chunked(crate::Error::BadChunkSize))),
                "{end:?}"
            );
        }
    }

    /// The body limit bounds a body of every framing: a `Content-Length`
    /// past it is refused before a byte is read, a chunked body when a
    /// chunk's size would pass it, one read until close once a byte past
    /// it came (no more is taken); at the limit all pass. `max_body` bounds
    /// a body read whole, `max_streamed_body` one read piece by piece.
    #[test]
    fn the_body_limit_bounds_bodies_of_every_framing() {
        let body = vec![b'x'; 3000];
        let wire = chunked(&[&body[..1000], &body[1000..]]);
        let long = vec![b'x'; 20 << 10];
        for which in [BodyLimit::Whole, BodyLimit::Streamed] {
            for limit in [2999, 3000] {
                // The other limit, far lower, plays no part.
                let mut limits = Limits::new();
                limits.max_body(10).max_streamed_body(10);
                match which {
                    BodyLimit::Whole => limits.max_body(limit),
                    BodyLimit::Streamed => limits.max_streamed_body(limit),
                };
                let new = |framing| BodyReader::new(framing, &limits, which, Deadline::Never);
                let what = format!("{which:?} limit {limit}");
                let length = new(BodyFraming::Length(3000));
                assert_eq!(length.is_ok(), limit == 3000, "{what}");
                if let Err(e) = length {
                    assert_eq!(e, TooLarge { which, limit }, "{what}");
                }
                for room in [1, 1000, 8 << 10, WHOLE] {
                    let what = format!("{what}, reads of {room}");
                    let mut inbuf = InBuf::new();
                    let mut io = Source::new(&wire, 500, None);
                    let mut chunked = new(BodyFraming::Chunked).unwrap();
                    let (got, end) = read_all(&mut chunked, &mut io, &mut inbuf, room);
                    let until_close_input = if limit == 3000 { &body } else { &long };
                    let mut io = Source::new(until_close_input, 64 << 10, None);
                    let mut until_close = new(BodyFraming::UntilClose).unwrap();
                    let mut inbuf = InBuf::new();
                    let (got_uc, end_uc) = read_all(&mut until_close, &mut io, &mut inbuf, room);
                    if limit == 3000 {
                        assert!(end.is_ok() && got == body, "{what}: {end:?}");
                        assert!(end_uc.is_ok() && got_uc == body, "{what}: {end_uc:?}");
                        continue;
                    }
                    // Refused as the second chunk's size is read.
                    let too_large = |end: &Result<(), BodyError>| {
                        let want = TooLarge { which, limit };
                        matches!(end, Err(BodyError::TooLarge(e)) if *e == want)
                    };
                    assert!(too_large(&end), "{what}: {end:?}");
                    assert!(got.len() <= 1000, "{what}: {}", got.len());
                    assert!(too_large(&end_uc), "{what}: {end_uc:?}");
                    assert!(got_uc.len() <= 2999, "{what}: {}", got_uc.len());
                    assert!(until_close.read() <= 3000, "{what}: {}", until_close.read());
                }
            }
        }
        let which = BodyLimit::Whole;
        let e = io::Error::from(TooLarge { which, limit: 2999 });
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            e.to_string(),
            "response body larger than 2999 bytes; raise it with HttpClient::limits_mut().max_body"
        );
        assert_eq!(
            TooLarge {
                which: BodyLimit::Streamed,
                limit: 1 << 20
            }
            .to_string(),
            "response body larger than 1048576 bytes; \
             raise it with HttpClient::limits_mut().max_streamed_body"
        );
    }

    /// Each failure of a body has one wording, naming the request, the
    /// framing and how much came, with the kind callers match on.
    #[test]
    fn a_body_failure_is_worded_once() {
        let what = "GET http://a:1/x";
        let timeout = Some(Duration::from_millis(1500));
        let reset = || io::Error::new(io::ErrorKind::ConnectionReset, "reset by peer");
        let too_large = TooLarge {
            which: BodyLimit::Streamed,
            limit: 10,
        };
        let cases: [(BodyError, BodyFraming, u64, io::ErrorKind, &str); 7] = [
            (
                BodyError::Cut,
                BodyFraming::Length(10),
                4,
                io::ErrorKind::UnexpectedEof,
                "GET http://a:1/x: the server closed the connection before the end of the \
                 body (4 of 10 bytes)",
            ),
            (
                BodyError::Cut,
                BodyFraming::Chunked,
                4,
                io::ErrorKind::UnexpectedEof,
                "GET http://a:1/x: the server closed the connection before the end of the \
                 chunked body (4 bytes read)",
            ),
            (
                BodyError::Chunked(crate::Error::BadChunkSize),
                BodyFraming::Chunked,
                0,
                io::ErrorKind::InvalidData,
                "GET http://a:1/x: bad chunked body (0 bytes read): invalid chunk size",
            ),
            (
                BodyError::Io(reset()),
                BodyFraming::UntilClose,
                7,
                io::ErrorKind::ConnectionReset,
                "GET http://a:1/x: the server reset the connection before the end of the \
                 body (7 bytes read): reset by peer",
            ),
            (
                BodyError::Io(io::Error::new(io::ErrorKind::PermissionDenied, "denied")),
                BodyFraming::Length(10),
                0,
                io::ErrorKind::PermissionDenied,
                "GET http://a:1/x: the connection failed before the end of the body \
                 (0 of 10 bytes): denied",
            ),
            (
                BodyError::TimedOut,
                BodyFraming::Length(10),
                4,
                io::ErrorKind::TimedOut,
                "GET http://a:1/x timed out after 1.5s before the end of the body \
                 (4 of 10 bytes); raise it with HttpClient::set_timeout",
            ),
            (
                BodyError::TooLarge(too_large),
                BodyFraming::Chunked,
                10,
                io::ErrorKind::InvalidData,
                "GET http://a:1/x: response body larger than 10 bytes; \
                 raise it with HttpClient::limits_mut().max_streamed_body",
            ),
        ];
        for (error, framing, read, kind, message) in cases {
            let e = BodyFailure::new(error, framing, read).into_io(what, timeout);
            assert_eq!((e.kind(), e.to_string()), (kind, message.to_owned()));
        }
        // The timeout of a reader, for each wait: as from a reader's
        // failure.
        let mut reader = BodyReader::new(
            BodyFraming::Chunked,
            &Limits::new(),
            BodyLimit::Streamed,
            Deadline::After(Duration::from_millis(1500)),
        )
        .unwrap();
        reader.read = 4;
        let e = reader.failure(BodyError::TimedOut).into_io(what, timeout);
        assert_eq!(
            (e.kind(), e.to_string()),
            (
                io::ErrorKind::TimedOut,
                "GET http://a:1/x timed out after 1.5s waiting for more of the chunked body \
                 (4 bytes read); raise it with HttpClient::set_timeout"
                    .to_owned()
            )
        );
    }

    /// A body much larger than the input buffer goes through it without
    /// growing it, in large chunks and small reads alike; a large read of a
    /// body with a length goes straight into the caller's buffer.
    #[test]
    fn the_input_buffer_stays_bounded() {
        let piece: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8).collect();
        let pieces = [&piece[..]; 6];
        let wire = chunked(&pieces);
        let whole = pieces.concat();
        for (framing, input) in [
            (BodyFraming::Chunked, &wire),
            (BodyFraming::Length(whole.len() as u64), &whole),
            (BodyFraming::UntilClose, &whole),
        ] {
            let limits = Limits::new();
            for room in [100, 64 << 10, WHOLE] {
                let mut inbuf = InBuf::new();
                let capacity = inbuf.capacity();
                let mut io = Source::new(input, 256 << 10, None);
                // Unlimited by default.
                let streamed = BodyLimit::Streamed;
                let mut reader =
                    BodyReader::new(framing, &limits, streamed, Deadline::Never).unwrap();
                let (got, end) = read_all(&mut reader, &mut io, &mut inbuf, room);
                assert!(end.is_ok(), "{framing:?} {room}: {end:?}");
                assert!(got == whole, "{framing:?} {room}: the body differs");
                assert_eq!(inbuf.capacity(), capacity, "{framing:?} {room}");
                if room == WHOLE {
                    // Read whole, a body with a length takes a buffer of
                    // its size, and reads go straight into it.
                    if let BodyFraming::Length(_) = framing {
                        assert_eq!(got.capacity(), whole.len());
                        assert!(io.largest_ask > capacity, "{}", io.largest_ask);
                    }
                } else {
                    // No read asked for more than the larger of the two
                    // buffers.
                    assert!(io.largest_ask <= capacity.max(room), "{framing:?} {room}");
                }
            }
        }
    }

    /// A source giving one byte each `every`, `len` of them, then the end.
    struct Trickle {
        len: usize,
        every: Duration,
        due: Option<Instant>,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            if self.len == 0 {
                return Poll::Ready(Ok(0));
            }
            match self.due {
                Some(due) if Instant::now() >= due => {
                    self.due = None;
                    self.len -= 1;
                    buf[0] = b't';
                    Poll::Ready(Ok(1))
                }
                Some(_) => Poll::Pending,
                None => {
                    let every = self.every;
                    self.due = Some(Instant::now() + every);
                    let waker = cx.waker().clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(every);
                        waker.wake();
                    });
                    Poll::Pending
                }
            }
        }
    }

    /// A deadline at an instant bounds the whole body, however the bytes
    /// come; one after a wait starts over whenever bytes come.
    #[test]
    fn a_deadline_at_an_instant_bounds_the_whole_body_an_idle_one_each_wait() {
        let every = Duration::from_millis(30);
        let trickle = || Trickle {
            len: 10,
            every,
            due: None,
        };
        let limits = Limits::new();
        for room in [4, WHOLE] {
            let framing = BodyFraming::Length(10);
            let deadline = Deadline::At(Instant::now() + 4 * every);
            let mut reader = BodyReader::new(framing, &limits, BodyLimit::Whole, deadline).unwrap();
            let (got, end) = read_all(&mut reader, &mut trickle(), &mut InBuf::new(), room);
            assert!(matches!(end, Err(BodyError::TimedOut)), "{room}: {end:?}");
            assert!(reader.read() < 10 && got.len() < 10, "{room}");
            let idle = Deadline::After(4 * every);
            let mut reader = BodyReader::new(framing, &limits, BodyLimit::Whole, idle).unwrap();
            let (got, end) = read_all(&mut reader, &mut trickle(), &mut InBuf::new(), room);
            assert!(end.is_ok() && got == b"tttttttttt", "{room}: {end:?}");
        }
    }

    #[test]
    fn a_read_waiting_past_the_idle_timeout_fails_and_none_waits_forever() {
        let idle = Duration::from_millis(50);
        let limits = Limits::new();
        let framing = BodyFraming::Length(10);
        let streamed = BodyLimit::Streamed;
        let mut reader =
            BodyReader::new(framing, &limits, streamed, Deadline::After(idle)).unwrap();
        let mut inbuf = inbuf_with(b"0123");
        let start = Instant::now();
        let (got, end) = read_all(&mut reader, &mut Silent, &mut inbuf, 100);
        assert_eq!(got, b"0123");
        assert!(matches!(end, Err(BodyError::TimedOut)), "{end:?}");
        assert!(start.elapsed() >= idle, "{:?}", start.elapsed());
        // Without a timeout the read is still waiting when a longer one ends.
        let mut reader = body_reader(BodyFraming::Length(10), &limits);
        let mut inbuf = InBuf::new();
        let mut buf = [0u8; 10];
        let waited = monocle_stack::block_on(monocle_stack::util::timeout(
            Duration::from_millis(100),
            std::future::poll_fn(|cx| reader.poll_read(&mut Silent, &mut inbuf, cx, &mut buf)),
        ));
        assert!(waited.is_err(), "the read ended: {waited:?}");
    }
}
