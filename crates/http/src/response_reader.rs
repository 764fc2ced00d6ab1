//! [`ResponseReader`]: a client's response whose body is read piece by piece.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_lite::io::AsyncRead;
use monocle_stack::util::Sleep;

use crate::chunked::ChunkedDecoder;
use crate::client::HttpClient;
use crate::exchange::{keeps_alive, reusable_after, Rest};
use crate::headers::HttpHeaders;
use crate::io::{is_disconnect, is_reset, poll_deadline, Deadline, InBuf};
use crate::limits::Limits;
use crate::parse::{BodyFraming, ResponseHead};
use crate::request::HttpRequest;
use crate::version::Version;

/// A read into a buffer at least this long goes straight into it, when the
/// client's input buffer is empty and the body is not chunked; a shorter one
/// fills the input buffer first, so that tiny reads do not each cost a
/// system call.
const DIRECT_READ_MIN: usize = 4 << 10;

/// A response whose body is read piece by piece as it arrives, made by
/// [`HttpClient::request_reader`] and [`HttpClient::get_reader`] once the
/// head is read.
///
/// The status, reason, version and headers are there at once. The body is
/// read through futures-io's [`AsyncRead`]: with
/// [`AsyncReadExt::read`](futures_lite::io::AsyncReadExt::read), into a
/// file with [`futures_lite::io::copy`], or whole with
/// [`read_to_end`](futures_lite::io::AsyncReadExt::read_to_end). A read
/// returns what has arrived, up to the size of its buffer, and waits only
/// when nothing has; `Ok(0)` is the end of the body.
///
/// # Memory
///
/// The body is never held whole: besides the caller's buffer, only the
/// client's input buffer holds what was received and not yet read, and
/// reads of 4 KiB or more of a body that is not chunked go straight into
/// the caller's buffer. The input buffer starts at 8 KiB and reading the
/// body never grows it; what had to be read before the body may have: a
/// response head longer than that (the buffer doubles as needed, so to at
/// most twice [`max_head`](Limits::max_head)), or what the server sent while
/// the request's body went out (an early answer, of which up to 64 KiB is
/// read then). It keeps that size until the client opens another
/// connection. While the body is not read the server is held back by TCP
/// flow control: reading slowly slows the download down, it does not fill
/// memory.
///
/// The body is therefore not bounded by [`Limits::max_body`] (deciding what
/// to keep is the caller's), and a `Content-Length` past it is not refused;
/// the other limits ([`max_head`](Limits::max_head),
/// [`max_headers`](Limits::max_headers), and for a chunked body
/// [`max_chunk_extensions`](Limits::max_chunk_extensions) and
/// [`max_trailers`](Limits::max_trailers)) apply as to
/// [`request`](HttpClient::request).
///
/// # The body's end
///
/// As for [`request`](HttpClient::request): the body is `Content-Length`
/// bytes, or chunked (chunk extensions and trailer fields are checked and
/// dropped, as the non-streaming path drops them), or runs until the server
/// closes the connection when neither is given. A response to `HEAD`, a
/// 1xx, 204 or 304 has none: the first read gives `Ok(0)`.
///
/// # Errors
///
/// A body cut short is an error, never a short body: the server closing the
/// connection before the announced length or the last chunk
/// (`UnexpectedEof`), or resetting it (`ConnectionReset`...), a chunked
/// coding that is malformed or past its limits (`InvalidData`), and the
/// timeout (`TimedOut`). For a body that runs until close, the server
/// closing is its end but a reset is still an error. Each message names the
/// request and how much of the body came. After an error the connection is
/// closed and every later read fails again.
///
/// # Timeout
///
/// The client's [timeout](HttpClient::set_timeout) bounds sending the
/// request and reading the head, as a whole, as for
/// [`request`](HttpClient::request). For the body it is an idle timeout: a
/// read that waits that long with no byte arriving fails with `TimedOut`.
/// Its clock starts when a read first finds nothing to return and starts
/// over whenever bytes arrive, so the time between reads (the caller busy
/// with a piece) does not count, and a body that keeps coming, however
/// slowly, does not time out; to bound the whole download, put
/// [`monocle_stack::util::timeout`] around it.
///
/// # The connection
///
/// The reader borrows the client mutably: no other request can be made
/// until it is dropped. Once the body has been read to its end (the read
/// that returns its last byte, or the `Ok(0)` after it for a chunked body,
/// whose end comes after its last byte), the connection is kept for the
/// next request, or closed, exactly as [`request`](HttpClient::request)
/// would decide. A reader dropped before the end closes the connection, so
/// that the rest of this body is never read as the answer to another
/// request; the next request opens a new one. To keep the connection
/// instead, read the rest, e.g. into [`futures_lite::io::sink`].
///
/// # Examples
///
/// ```
/// use futures_lite::{stream, AsyncReadExt};
/// use monocle_http::{HttpClient, HttpRequest, HttpResponse, HttpServer};
///
/// monocle_stack::block_on(async {
///     // A body of unknown length, sent chunked: 1 MiB in 64 KiB pieces.
///     let server = HttpServer::new(0, |_req: HttpRequest| async {
///         let pieces = stream::iter((0..16).map(|_| Ok(vec![b'x'; 64 << 10])));
///         HttpResponse::new(200).with_stream(pieces)
///     });
///     let svc = monocle_network::add_service(server.service().bind_addr([127, 0, 0, 1]))?;
///
///     let mut client = HttpClient::new();
///     let url = format!("http://127.0.0.1:{}/download", svc.port());
///     let mut reader = client.get_reader(&url).await?;
///     assert_eq!(reader.code(), 200);
///     let mut buf = [0u8; 16 << 10];
///     let mut total = 0;
///     loop {
///         let n = reader.read(&mut buf).await?;
///         if n == 0 {
///             break;
///         }
///         assert!(buf[..n].iter().all(|&b| b == b'x'));
///         total += n;
///     }
///     assert_eq!(total, 1 << 20);
///     drop(reader);
///     // Read to its end: the connection is kept for the next request.
///     assert!(client.is_connected());
///     svc.stop();
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct ResponseReader<'a> {
    client: &'a mut HttpClient,
    /// The request answered: named in messages, and its `Connection: close`
    /// decides whether the connection is kept.
    req: HttpRequest,
    head: ResponseHead,
    body: BodyReader,
    /// Where the body is read from, as the request went out: the
    /// connection, or, once the server's side ended while the request went
    /// out, what the client's input buffer holds.
    rest: Rest,
    /// Whether what becomes of the connection is decided: kept or closed at
    /// the end of the body, or closed after an error.
    settled: bool,
    /// The error the body failed with, given again by every later read.
    failure: Option<(io::ErrorKind, String)>,
}

impl<'a> ResponseReader<'a> {
    /// The reader of the body after `head`, the answer to `req`, on
    /// `client`'s connection or in its input buffer alone, as `rest` says.
    pub(crate) fn new(
        client: &'a mut HttpClient,
        req: HttpRequest,
        head: ResponseHead,
        rest: Rest,
        limits: &Limits,
    ) -> Self {
        let body = BodyReader::new(head.framing(), client.timeout(), limits);
        let mut reader = ResponseReader {
            client,
            req,
            head,
            body,
            rest,
            settled: false,
            failure: None,
        };
        if reader.body.is_done() {
            reader.settle();
        }
        reader
    }

    /// The status code.
    pub fn code(&self) -> u16 {
        self.head.code()
    }

    /// The reason phrase as sent (may be empty).
    #[doc(alias = "msg")]
    pub fn reason(&self) -> &str {
        self.head.reason()
    }

    /// The protocol version of the response.
    pub fn version(&self) -> Version {
        self.head.version()
    }

    /// The header fields, in order.
    pub fn headers(&self) -> &HttpHeaders {
        self.head.headers()
    }

    /// The whole head, with how the body is delimited
    /// ([`framing`](ResponseHead::framing): its length, when it is known).
    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// Whether the body has been read to its end (the connection is then
    /// kept or closed, as [`HttpClient::request`] would decide).
    pub fn is_finished(&self) -> bool {
        self.body.is_done()
    }

    /// The body has ended: the connection is kept if the response, the
    /// request and what is left on it allow.
    fn settle(&mut self) {
        if self.settled {
            return;
        }
        self.settled = true;
        let (_, inbuf) = self.client.body_source();
        // A connection whose request did not go out whole is not reused.
        let reusable = keeps_alive(&self.head)
            && self.rest.connection_reusable()
            && reusable_after(inbuf, &self.req);
        if !reusable {
            self.client.close();
        }
    }

    /// The body failed: the connection is closed, and the error, naming the
    /// request, is kept for the reads to come.
    fn fail(&mut self, e: BodyError) -> io::Error {
        self.settled = true;
        self.client.close();
        let what = self.client.describe(&self.req);
        let progress = self.body.progress();
        let (kind, message) = match e {
            BodyError::TimedOut => (
                io::ErrorKind::TimedOut,
                format!(
                    "{what} timed out after {:?} waiting for more of the body ({progress}); \
                     raise it with HttpClient::set_timeout",
                    self.body.idle.unwrap_or_default()
                ),
            ),
            BodyError::Cut => (
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{what}: the server closed the connection before the end of the body \
                     ({progress})"
                ),
            ),
            BodyError::Chunked(e) => (
                io::ErrorKind::InvalidData,
                format!("{what}: bad chunked body ({progress}): {e}"),
            ),
            BodyError::Io(e) => (
                e.kind(),
                format!(
                    "{what}: the connection failed before the end of the body ({progress}): {e}"
                ),
            ),
        };
        self.failure = Some((kind, message.clone()));
        io::Error::new(kind, message)
    }
}

impl AsyncRead for ResponseReader<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some((kind, message)) = &this.failure {
            return Poll::Ready(Err(io::Error::new(*kind, message.clone())));
        }
        let (conn, inbuf) = this.client.body_source();
        let polled = match (&mut this.rest, conn) {
            (Rest::Buffer(end), _) => this.body.poll_read(end, inbuf, cx, buf),
            (_, Some(conn)) => this.body.poll_read(conn, inbuf, cx, buf),
            // Not while the reader holds the client, but kept total.
            (_, None) if !this.body.is_done() => Poll::Ready(Err(BodyError::Io(io::Error::new(
                io::ErrorKind::NotConnected,
                "the connection is closed",
            )))),
            (_, None) => Poll::Ready(Ok(0)),
        };
        match ready!(polled) {
            Ok(n) => {
                if this.body.is_done() {
                    this.settle();
                }
                Poll::Ready(Ok(n))
            }
            Err(e) => Poll::Ready(Err(this.fail(e))),
        }
    }
}

impl Drop for ResponseReader<'_> {
    fn drop(&mut self) {
        // Dropped before the end of the body: the rest of it is on the
        // connection, which can carry no other answer.
        if !self.settled {
            self.client.close();
        }
    }
}

impl fmt::Debug for ResponseReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseReader")
            .field("code", &self.head.code())
            .field("reason", &self.head.reason())
            .field("framing", &self.head.framing())
            .field("read", &self.body.read)
            .field("finished", &self.body.is_done())
            .field("failed", &self.failure.is_some())
            .finish()
    }
}

/// Why a body could not be read to its end.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// No byte came for the idle timeout.
    TimedOut,
    /// The source ended (EOF) before the body did.
    Cut,
    /// The chunked coding is malformed or past its limits.
    Chunked(crate::Error),
    /// Reading failed.
    Io(io::Error),
}

/// Where a body read piece by piece is, over any byte source: its framing
/// and the idle timer of the read waiting for bytes.
pub(crate) struct BodyReader {
    state: BodyState,
    /// The length announced by `Content-Length`, for messages.
    total: Option<u64>,
    /// Body bytes handed out so far.
    read: u64,
    /// The longest wait for bytes; `None`, forever.
    idle: Option<Duration>,
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
    /// The reader of a body framed as `framing`; a chunked body is held to
    /// the extension and trailer limits of `limits`, never to its body limit.
    pub(crate) fn new(framing: BodyFraming, idle: Option<Duration>, limits: &Limits) -> Self {
        let state = match framing {
            BodyFraming::Empty | BodyFraming::Length(0) => BodyState::Done,
            BodyFraming::Length(n) => BodyState::Length(n),
            BodyFraming::Chunked => {
                let mut limits = limits.clone();
                limits.max_body(u64::MAX);
                BodyState::Chunked(Box::new(ChunkedDecoder::new(&limits)))
            }
            BodyFraming::UntilClose => BodyState::UntilClose,
        };
        let total = match framing {
            BodyFraming::Length(n) => Some(n),
            _ => None,
        };
        BodyReader {
            state,
            total,
            read: 0,
            idle,
            timer: None,
        }
    }

    /// Whether the body has ended.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, BodyState::Done)
    }

    /// How much of the body came, for messages.
    fn progress(&self) -> String {
        match self.total {
            Some(total) => format!("{} of {total} bytes", self.read),
            None => format!("{} bytes read", self.read),
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
                    let (used, written) = decoder
                        .decode_into(inbuf.data(), buf)
                        .map_err(BodyError::Chunked)?;
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
            self.read += written as u64;
            if written > 0 || self.is_done() {
                return Poll::Ready(Ok(written));
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
                    self.read += n as u64;
                    return Poll::Ready(Ok(n));
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                // A close that shows as an error ends a body read until
                // close; a reset never does: what came of it must not pass
                // for all of it (as when the whole body is read).
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
                    let Some(idle) = self.idle else {
                        return Poll::Pending;
                    };
                    ready!(poll_deadline(&mut self.timer, Deadline::After(idle), cx));
                    return Poll::Ready(Err(BodyError::TimedOut));
                }
            }
        }
    }
}

impl fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReader")
            .field("done", &self.is_done())
            .field("read", &self.read)
            .field("idle", &self.idle)
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
    use std::time::Instant;

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

    /// Reads the body to its end (or error) with reads of `room` bytes.
    fn read_all<IO: AsyncRead + Unpin>(
        body: &mut BodyReader,
        io: &mut IO,
        inbuf: &mut InBuf,
        room: usize,
    ) -> (Vec<u8>, Result<(), BodyError>) {
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
            ] {
                let what = format!("{framing:?}, {pre} buffered, steps of {step}, reads of {room}");
                let mut inbuf = inbuf_with(&input[..pre]);
                let mut io = Source::new(&input[pre..], step, None);
                let mut reader = BodyReader::new(framing, None, &Limits::new());
                let (got, end) = read_all(&mut reader, &mut io, &mut inbuf, room);
                assert!(end.is_ok(), "{what}: {end:?}");
                assert!(reader.is_done(), "{what}");
                assert_eq!(got, body, "{what}");
                assert_eq!(reader.read, body.len() as u64, "{what}");
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
            for room in [1, 100, 8 << 10] {
                let mut inbuf = InBuf::new();
                let mut io = Source::new(&wire[..cut], 500, None);
                let mut reader = BodyReader::new(framing, None, &Limits::new());
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
            let mut inbuf = InBuf::new();
            let mut io = Source::new(&body, 700, end);
            let mut reader = BodyReader::new(BodyFraming::UntilClose, None, &Limits::new());
            let (got, result) = read_all(&mut reader, &mut io, &mut inbuf, 1000);
            assert_eq!(got, body, "{end:?}");
            assert_eq!(result.is_ok(), ok, "{end:?}: {result:?}");
            assert_eq!(reader.is_done(), ok, "{end:?}");
        }
        // A chunked coding gone wrong.
        let mut inbuf = InBuf::new();
        let mut io = Source::new(b"5\r\nhello\r\nzz\r\n", 100, None);
        let mut reader = BodyReader::new(BodyFraming::Chunked, None, &Limits::new());
        let (got, end) = read_all(&mut reader, &mut io, &mut inbuf, 100);
        // What was decoded in the read that failed is not handed out.
        assert!(b"hello".starts_with(&got), "{got:?}");
        assert!(
            matches!(end, Err(BodyError::Chunked(crate::Error::BadChunkSize))),
            "{end:?}"
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
            for room in [100, 64 << 10] {
                let mut inbuf = InBuf::new();
                let capacity = inbuf.capacity();
                let mut io = Source::new(input, 256 << 10, None);
                let mut reader = BodyReader::new(framing, None, &Limits::new());
                let (got, end) = read_all(&mut reader, &mut io, &mut inbuf, room);
                assert!(end.is_ok(), "{framing:?} {room}: {end:?}");
                assert!(got == whole, "{framing:?} {room}: the body differs");
                assert_eq!(inbuf.capacity(), capacity, "{framing:?} {room}");
                // No read asked for more than the larger of the two buffers.
                assert!(io.largest_ask <= capacity.max(room), "{framing:?} {room}");
            }
        }
        // The body limit does not apply to a chunked body read piece by piece.
        let mut limits = Limits::new();
        limits.max_body(1000);
        let mut inbuf = InBuf::new();
        let mut io = Source::new(&wire, 64 << 10, None);
        let mut reader = BodyReader::new(BodyFraming::Chunked, None, &limits);
        let (got, end) = read_all(&mut reader, &mut io, &mut inbuf, 64 << 10);
        assert!(end.is_ok() && got.len() == whole.len(), "{end:?}");
    }

    #[test]
    fn a_read_waiting_past_the_idle_timeout_fails_and_none_waits_forever() {
        let idle = Duration::from_millis(50);
        let mut reader = BodyReader::new(BodyFraming::Length(10), Some(idle), &Limits::new());
        let mut inbuf = inbuf_with(b"0123");
        let start = Instant::now();
        let (got, end) = read_all(&mut reader, &mut Silent, &mut inbuf, 100);
        assert_eq!(got, b"0123");
        assert!(matches!(end, Err(BodyError::TimedOut)), "{end:?}");
        assert!(start.elapsed() >= idle, "{:?}", start.elapsed());
        // Without a timeout the read is still waiting when a longer one ends.
        let mut reader = BodyReader::new(BodyFraming::Length(10), None, &Limits::new());
        let mut inbuf = InBuf::new();
        let mut buf = [0u8; 10];
        let waited = monocle_stack::block_on(monocle_stack::util::timeout(
            Duration::from_millis(100),
            std::future::poll_fn(|cx| reader.poll_read(&mut Silent, &mut inbuf, cx, &mut buf)),
        ));
        assert!(waited.is_err(), "the read ended: {waited:?}");
    }
}
