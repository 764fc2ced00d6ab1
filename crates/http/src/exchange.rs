//! One request/response exchange of the client, over any
//! `AsyncRead + AsyncWrite` byte stream.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::Stream;
use monocle_network::copy_error;

use crate::chunked::{chunk_header, CHUNK_END, LAST_CHUNK};
use crate::io::{fill, is_disconnect, with_deadline, write_all_vectored, Deadline, InBuf, ReadEnd};
use crate::limits::{BodyLimit, Limits};
use crate::parse::{parse_response_head, BodyFraming, ResponseHead};
use crate::request::HttpRequest;
use crate::response::HttpResponse;
use crate::response_body::{BodyError, BodyFailure, BodyReader};
use crate::write_request::{write_request, RequestFraming, TargetForm, Unsendable};

/// A body at most this long is copied after the head; a longer one goes out
/// from where it is, in the same vectored write.
const COPY_BODY_MAX: usize = 16 << 10;

/// How an exchange failed.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// The connection closed (or reset) before any byte of the response came:
    /// on a reused connection the server had probably closed it while idle, so
    /// the request may be retried on a new one.
    ClosedBeforeResponse(io::Error),
    /// The deadline passed.
    TimedOut,
    /// The request cannot be written (a method that is not a token, a
    /// target holding a space or a control byte, no host to name), as this
    /// says: nothing was sent, and the connection is as it was.
    Unsendable(Unsendable),
    /// Anything else.
    Other(io::Error),
}

impl From<io::Error> for ExchangeError {
    fn from(e: io::Error) -> Self {
        ExchangeError::Other(e)
    }
}

/// The body a request goes out with.
pub(crate) enum RequestBody<'a> {
    /// The request's own bytes, with `Content-Length`.
    Full,
    /// Pieces of unknown total length, with `Transfer-Encoding: chunked`;
    /// `polled` is set once the stream has been asked for a piece (the request
    /// can no longer be retried then).
    Stream {
        stream: Pin<&'a mut (dyn Stream<Item = io::Result<Vec<u8>>> + 'a)>,
        polled: &'a mut bool,
    },
}

/// How a request went out, and so where its answer is to be read.
#[derive(Debug)]
pub(crate) enum Sent {
    /// Whole: the answer comes from the connection, which may be reused.
    Whole,
    /// A write failed with this disconnect: the server went away before
    /// taking all of it, likely after answering early. The connection still
    /// gives what the server sent before (a
    /// [`Connection`](monocle_network::Connection) keeps reading after a
    /// failed write), then its end; a whole response there is the answer,
    /// and the connection is not reused.
    WriteFailed(io::Error),
    /// Sending stopped: the server's side ended while the request went
    /// out, as watching saw. Nothing more can be read, and the answer, if
    /// any, is in `inbuf`.
    Stopped(PeerEnd),
}

/// Where the rest of an answer (what follows its head) is read from, as
/// its request went out ([`Sent`]); none but the first leaves a connection
/// that can carry anything more.
#[derive(Debug)]
pub(crate) enum Rest {
    /// The connection, which may carry another request if the answer
    /// allows: the request went out whole.
    Connection,
    /// The connection, whose sending side failed with this error while the
    /// request went out: it still gives what the server sent, but carries
    /// nothing more.
    WriteFailed(
        // Named in the CONNECT tunnel's error.
        #[cfg_attr(not(feature = "tls"), allow(dead_code))] io::Error,
    ),
    /// What the input buffer holds, then this end of the server's side:
    /// sending stopped once it ended.
    Buffer(PeerEnd),
}

impl Rest {
    /// Whether the connection may carry more once the answer has been read:
    /// only after a request that went out whole.
    pub(crate) fn connection_reusable(&self) -> bool {
        matches!(self, Rest::Connection)
    }
}

/// Reads the head of the answer to `req`, which went out as `sent` says:
/// from `io`, starting with what `inbuf` holds, or from `inbuf` alone once
/// the server's side ended. Returns it, with where the rest is; the body,
/// if any, starts at the front of `inbuf`.
///
/// When a write failed and the connection ended without an answer, the
/// error is the write's, which says why better than the end does.
pub(crate) async fn read_answer_head<IO: AsyncRead + Unpin>(
    sent: Sent,
    io: &mut IO,
    inbuf: &mut InBuf,
    req: &HttpRequest,
    limits: &Limits,
    deadline: Deadline,
) -> Result<(ResponseHead, Rest), ExchangeError> {
    match sent {
        Sent::Whole => {
            let head = read_head(io, inbuf, req, limits, deadline).await?;
            Ok((head, Rest::Connection))
        }
        Sent::WriteFailed(failed) => match read_head(io, inbuf, req, limits, deadline).await {
            Ok(head) => Ok((head, Rest::WriteFailed(failed))),
            Err(ExchangeError::ClosedBeforeResponse(_)) if is_disconnect(&failed) => {
                Err(ExchangeError::ClosedBeforeResponse(failed))
            }
            Err(ExchangeError::ClosedBeforeResponse(_)) => Err(ExchangeError::Other(failed)),
            Err(e) => Err(e),
        },
        // Nothing more can come: the answer, if any, is in `inbuf`, and ends
        // as the server's side did.
        Sent::Stopped(mut end) => {
            let head = read_head(&mut end, inbuf, req, limits, Deadline::Never).await?;
            Ok((head, Rest::Buffer(end)))
        }
    }
}

/// Reads the whole body of the answer to `req` whose `head` was read, from
/// where `rest` says, bounded by [`Limits::max_body`], with the client's one
/// reading of a body by its framing ([`BodyReader`]). Returns the response
/// and whether the connection may carry another request: not after a
/// request that did not go out whole (see [`Rest`]), nor if the head or
/// leftover bytes say otherwise.
///
/// # Errors
///
/// The body could not be read to its end: the client words it as for a
/// [`ResponseReader`](crate::ResponseReader) ([`BodyFailure::into_io`]).
pub(crate) async fn read_answer_body<IO: AsyncRead + Unpin>(
    rest: Rest,
    io: &mut IO,
    inbuf: &mut InBuf,
    head: ResponseHead,
    req: &HttpRequest,
    limits: &Limits,
    deadline: Deadline,
) -> Result<(HttpResponse, bool), BodyFailure> {
    let framing = head.framing();
    // What the input buffer holds is all there is: no wait to bound.
    let deadline = match rest {
        Rest::Buffer(_) => Deadline::Never,
        Rest::Connection | Rest::WriteFailed(_) => deadline,
    };
    let sent_whole = rest.connection_reusable();
    let mut reader = BodyReader::new(framing, limits, BodyLimit::Whole, deadline)
        .map_err(|e| BodyFailure::new(BodyError::TooLarge(e), framing, 0))?;
    let read = match rest {
        Rest::Buffer(mut end) => reader.read_to_end(&mut end, inbuf).await,
        Rest::Connection | Rest::WriteFailed(_) => reader.read_to_end(io, inbuf).await,
    };
    let body = read.map_err(|e| reader.failure(e))?;
    let reusable = reusable(&head, sent_whole, inbuf, req);
    Ok((HttpResponse::from_head(head, body), reusable))
}

/// Sends `req`, and says how it went out (see [`Sent`]).
///
/// While the request goes out, what the server sends is read as well (see
/// [`Watched`]): a server may answer before the request is whole, a 413 to a
/// large upload say, and close (RFC 9112 §9.5). Once it has closed its side,
/// or the connection failed, nothing more is sent, and the answer is what it
/// sent before that: a whole response there is the answer (the connection is
/// not reused then), none is the connection closing without answering.
pub(crate) async fn send_request<IO: AsyncRead + AsyncWrite + Unpin>(
    io: &mut IO,
    inbuf: &mut InBuf,
    out: &mut Vec<u8>,
    req: &HttpRequest,
    body: RequestBody<'_>,
    form: TargetForm,
    deadline: Deadline,
) -> Result<Sent, ExchangeError> {
    out.clear();
    // The head first, before anything is written: a request that cannot be
    // sent leaves the connection as it was.
    let framing = match &body {
        RequestBody::Full => RequestFraming::Length,
        RequestBody::Stream { .. } => RequestFraming::Chunked,
    };
    write_request(req, form, framing, out).map_err(ExchangeError::Unsendable)?;
    let full_body = match body {
        RequestBody::Full if req.body().len() <= COPY_BODY_MAX => {
            out.extend_from_slice(req.body());
            None
        }
        RequestBody::Full => Some(req.body()),
        RequestBody::Stream { .. } => None,
    };
    let mut watched = Watched::new(&mut *io, &mut *inbuf);
    let write = async {
        let io = &mut watched;
        match (body, full_body) {
            (RequestBody::Full, None) => write_all_vectored(io, &[&out[..]]).await,
            (RequestBody::Full, Some(body)) => write_all_vectored(io, &[&out[..], body]).await,
            (RequestBody::Stream { stream, polled }, _) => {
                write_all_vectored(io, &[&out[..]]).await?;
                write_chunks(io, stream, polled).await
            }
        }
    };
    let written = with_deadline(deadline, write)
        .await
        .ok_or(ExchangeError::TimedOut)?;
    out.clear();
    let Watched { end, stopped, .. } = watched;
    let sent = |end: Option<PeerEnd>| end.map_or(Sent::Whole, Sent::Stopped);
    match written {
        Ok(()) => Ok(sent(end)),
        Err(_) if stopped => Ok(sent(end)),
        Err(e) if is_disconnect(&e) || e.kind() == io::ErrorKind::WriteZero => {
            Ok(Sent::WriteFailed(e))
        }
        Err(e) => Err(ExchangeError::Other(e)),
    }
}

/// Reads the head of the response to `req`, starting with what `inbuf`
/// holds, past any interim (1xx) responses but a 101; the body, if any,
/// starts at the front of `inbuf`.
///
/// The head is held to `limits` but for the body limit: which one bounds
/// the body depends on how it is read ([`BodyLimit`]), and [`BodyReader`]
/// holds it to that one, a `Content-Length` included.
async fn read_head<IO: AsyncRead + Unpin>(
    io: &mut IO,
    inbuf: &mut InBuf,
    req: &HttpRequest,
    limits: &Limits,
    deadline: Deadline,
) -> Result<ResponseHead, ExchangeError> {
    let method = req.method();
    let limits = Limits {
        max_body: u64::MAX,
        ..*limits
    };
    // Bytes read while the request went out count.
    let mut received_any = !inbuf.is_empty();
    let head = loop {
        if !inbuf.is_empty() {
            match parse_response_head(inbuf.data(), method, &limits).map_err(head_error)? {
                // After a 101 the connection speaks another protocol: the
                // 101 is the answer, and nothing after it is read as HTTP.
                Some(head) if head.is_interim() && head.code() != 101 => {
                    inbuf.consume(head.len());
                    continue;
                }
                Some(head) => {
                    inbuf.consume(head.len());
                    break head;
                }
                None => {}
            }
        }
        match fill(io, inbuf, deadline, None).await {
            Ok(ReadEnd::Data(_)) => received_any = true,
            Ok(ReadEnd::TimedOut) => return Err(ExchangeError::TimedOut),
            Ok(_) if !received_any => {
                return Err(ExchangeError::ClosedBeforeResponse(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection without answering",
                )))
            }
            Ok(_) => {
                return Err(ExchangeError::Other(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection in the middle of the response head",
                )))
            }
            Err(e) if !received_any && is_disconnect(&e) => {
                return Err(ExchangeError::ClosedBeforeResponse(e))
            }
            Err(e) => return Err(e.into()),
        }
    };
    Ok(head)
}

/// The error of a response head that [`parse_response_head`] refused, in
/// the client's words where the shared [`Error`](crate::Error) speaks for
/// a server: a head over the limit is the response's, raised on the
/// client's limits, and a `Content-Length` too large for a `u64` (which
/// [`read_head`] alone can see, holding the head to no body limit) is no
/// limit to raise but a length that cannot be read. `InvalidData` all.
fn head_error(e: crate::Error) -> io::Error {
    let msg = match e {
        crate::Error::HeadTooLarge { limit } => format!(
            "response head longer than {limit} bytes; \
             raise it with HttpClient::limits_mut().max_head"
        ),
        crate::Error::BodyTooLarge { limit } => {
            debug_assert_eq!(limit, u64::MAX, "read_head sets no body limit");
            format!(
                "invalid content-length: too large to read, more than {} bytes",
                u64::MAX
            )
        }
        e => return e.into(),
    };
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Whether the connection may carry another request once the body of the
/// response whose head this is was read to its end (by its framing).
///
/// Only after a request that went out whole (`sent_whole`, see
/// [`Rest::connection_reusable`]); not after a body read until close, nor
/// after a 101 (another protocol follows).
pub(crate) fn reusable(
    head: &ResponseHead,
    sent_whole: bool,
    inbuf: &InBuf,
    req: &HttpRequest,
) -> bool {
    sent_whole
        && head.keep_alive()
        && head.framing() != BodyFraming::UntilClose
        && head.code() != 101
        // Bytes after the end of the response answer no request of ours: the
        // server frames its messages differently than we read them (a body
        // after a 204 or a HEAD answer, say). Taking them for the next
        // response would hand a later request an answer to this one, or one
        // the body forged.
        && inbuf.is_empty()
        // RFC 9112 §9.6: after asking for `close`, send nothing more on it.
        && !req.headers().has_token("connection", "close")
}

/// At most this much of what the server sends while the request goes out is
/// read then (an early answer is short); beyond it, reading waits for the
/// request to be sent, as it would have without watching.
const WATCH_MAX: usize = 64 << 10;

/// Past this many bytes written without the event loop having had a turn,
/// it gets one before the next write (see [`Watched`]).
const TURN_EVERY: usize = 256 << 10;

/// How the server's side of the connection ended while the request went out.
///
/// As a byte source it is what is left of that side: reads give the end of
/// the stream, or the error it failed with, each time a copy as
/// [`copy_error`] makes it (its OS error code, or the `ConnectionLost` it
/// is, kept).
#[derive(Debug)]
pub(crate) enum PeerEnd {
    /// It closed its side (EOF): nothing more will come, and a request
    /// still going out cannot be answered any more.
    Closed,
    /// Reading failed (a reset...).
    Failed(io::Error),
}

impl AsyncRead for PeerEnd {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(match &*self {
            PeerEnd::Closed => Ok(0),
            PeerEnd::Failed(e) => Err(copy_error(e)),
        })
    }
}

/// The connection as the request goes out on it, watching what the server
/// sends: whenever a write has to wait, and before the next write once the
/// event loop had a turn (a write or the body's stream waited), what the
/// server has sent is read into `inbuf`. A
/// server that closes its side while the request goes out (having answered
/// early, say) stops it: writes fail at once, with `stopped` set. Without
/// that, a server that closed its side but reads on, to drop what comes,
/// would take the rest of a body that may never end.
///
/// Readiness is what the event loop last learnt, and writes that never wait
/// give it no turn to learn anything: past [`TURN_EVERY`] bytes so written,
/// it is given one (this returns `Pending` once, woken at once) before the
/// next write. A smaller request, in one write or several, costs no extra
/// turn.
///
/// Watching is not what keeps an early answer: a server that answers,
/// closes and resets the connection before it is seen fails a write, and
/// [`read_answer_head`] then reads the answer from the connection, whose
/// reads go on after a write failed.
struct Watched<'a, IO> {
    io: &'a mut IO,
    inbuf: &'a mut InBuf,
    /// Bytes written since the loop last had a turn.
    unseen: usize,
    /// Whether the next write watches first: the loop had a turn since
    /// the last watch, and may have learnt of readiness meanwhile.
    watch_due: bool,
    /// How the server's side ended, if it did.
    end: Option<PeerEnd>,
    /// Whether a write was refused because of `end`.
    stopped: bool,
}

impl<'a, IO: AsyncRead + AsyncWrite + Unpin> Watched<'a, IO> {
    fn new(io: &'a mut IO, inbuf: &'a mut InBuf) -> Self {
        Watched {
            io,
            inbuf,
            unseen: 0,
            watch_due: false,
            end: None,
            stopped: false,
        }
    }

    /// Notes that the event loop has a turn (the request's future returns
    /// `Pending`, waiting for something else): the next write watches first.
    fn note_turn(&mut self) {
        self.unseen = 0;
        self.watch_due = true;
    }

    /// Reads what the server has sent, without waiting.
    fn poll_watch(&mut self, cx: &mut Context<'_>) {
        self.watch_due = false;
        while self.end.is_none() && self.inbuf.len() < WATCH_MAX {
            match Pin::new(&mut *self.io).poll_read(cx, self.inbuf.spare()) {
                Poll::Ready(Ok(0)) => self.end = Some(PeerEnd::Closed),
                Poll::Ready(Ok(n)) => self.inbuf.filled(n),
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => self.end = Some(PeerEnd::Failed(e)),
                Poll::Pending => break,
            }
        }
    }

    /// A write: first a turn of the loop if [`TURN_EVERY`] bytes went out
    /// since the last, and a watch if the loop had one since the last watch.
    fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut IO>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if self.unseen >= TURN_EVERY {
            self.note_turn();
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.watch_due {
            self.poll_watch(cx);
        }
        let written = self.poll_op(cx, op);
        if let Poll::Ready(Ok(n)) = written {
            self.unseen += n;
        }
        written
    }

    /// Runs `op`, watching if it has to wait; refuses it once the server's
    /// side ended.
    fn poll_op<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut IO>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if self.end.is_none() {
            match op(Pin::new(&mut *self.io), cx) {
                Poll::Ready(result) => return Poll::Ready(result),
                // Also asks to be woken when the server sends something.
                Poll::Pending => self.poll_watch(cx),
            }
            if self.end.is_none() {
                self.note_turn();
                return Poll::Pending;
            }
        }
        self.stopped = true;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the server's side of the connection ended before the request was sent",
        )))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Watched<'_, IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_op(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_op(cx, |io, cx| io.poll_close(cx))
    }
}

/// Sends the pieces of `stream` as chunks, then the last chunk. A failing
/// stream fails the request before the last chunk goes out (the receiver sees
/// the body cut short, never a complete one). A stream that has to wait for
/// a piece gives the loop a turn: the write after it watches first.
async fn write_chunks<IO: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Watched<'_, IO>,
    mut stream: Pin<&mut (dyn Stream<Item = io::Result<Vec<u8>>> + '_)>,
    polled: &mut bool,
) -> io::Result<()> {
    loop {
        *polled = true;
        let next = std::future::poll_fn(|cx| {
            let next = stream.as_mut().poll_next(cx);
            if next.is_pending() {
                io.note_turn();
            }
            next
        });
        match next.await {
            None => break,
            Some(Ok(piece)) if piece.is_empty() => {}
            Some(Ok(piece)) => {
                let header = chunk_header(piece.len());
                write_all_vectored(io, &[header.as_ref(), &piece, CHUNK_END]).await?;
            }
            Some(Err(e)) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("the request body stream failed: {e}"),
                ))
            }
        }
    }
    write_all_vectored(io, &[LAST_CHUNK]).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::future::Future;
    use std::rc::Rc;
    use std::task::Waker;

    /// What a [`Mock`] did, and whether its reads give the end of the stream.
    #[derive(Default)]
    struct State {
        written: Cell<usize>,
        reads: Cell<usize>,
        eof: Cell<bool>,
    }

    /// A connection whose writes all go through at once, and whose reads
    /// wait, or give the end of the stream once `eof` is set.
    #[derive(Default)]
    struct Mock(Rc<State>);

    impl AsyncRead for Mock {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.0.reads.set(self.0.reads.get() + 1);
            if self.0.eof.get() {
                Poll::Ready(Ok(0))
            } else {
                Poll::Pending
            }
        }
    }

    impl AsyncWrite for Mock {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.0.written.set(self.0.written.get() + buf.len());
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    const HEAD: usize = 100;
    const PIECE: usize = 16 << 10;

    /// Writes a head of [`HEAD`] bytes, then `pieces` pieces of [`PIECE`]
    /// bytes, each in its own write, through `watched`, polling until done;
    /// `on_pending` runs each time the writing returns `Pending`.
    fn send(
        watched: &mut Watched<'_, Mock>,
        pieces: usize,
        mut on_pending: impl FnMut(),
    ) -> io::Result<()> {
        let head = [b'h'; HEAD];
        let piece = [b'x'; PIECE];
        let mut write = std::pin::pin!(async {
            write_all_vectored(&mut *watched, &[&head]).await?;
            for _ in 0..pieces {
                write_all_vectored(&mut *watched, &[&piece]).await?;
            }
            io::Result::Ok(())
        });
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            match write.as_mut().poll(&mut cx) {
                Poll::Ready(result) => return result,
                Poll::Pending => on_pending(),
            }
        }
    }

    /// A listener on loopback, and its port.
    fn loopback_listener() -> (std::net::TcpListener, u16) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    /// Accepts the next connection on `listener` and resets it (closed
    /// with a zero linger: RST).
    fn accept_and_reset(listener: &std::net::TcpListener) {
        let (server, _) = listener.accept().unwrap();
        socket2::SockRef::from(&server)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(server);
    }

    /// Watches `io` until the server's side ends, and returns how.
    async fn watch_until_the_end<IO: AsyncRead + AsyncWrite + Unpin>(io: &mut IO) -> PeerEnd {
        let mut inbuf = InBuf::new();
        let mut watched = Watched::new(io, &mut inbuf);
        std::future::poll_fn(|cx| {
            watched.poll_watch(cx);
            match watched.end.take() {
                Some(end) => Poll::Ready(end),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Checks that `code` is a reset's OS error code, on a platform that
    /// gives one.
    fn assert_reset_code(code: Option<i32>) {
        #[cfg(unix)]
        {
            let code = code.expect("an OS error code");
            assert_eq!(
                io::Error::from_raw_os_error(code).kind(),
                io::ErrorKind::ConnectionReset
            );
        }
        #[cfg(target_os = "linux")]
        assert_eq!(code, Some(104), "ECONNRESET");
        let _ = code;
    }

    /// A reset seen through [`PeerEnd`] keeps its OS error code, each time
    /// it is read, over a socket whose errors are the OS's...
    #[test]
    fn a_reset_seen_through_peer_end_keeps_its_os_error_code() {
        let (listener, port) = loopback_listener();
        async_io::block_on(async {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let mut io = async_io::Async::<std::net::TcpStream>::connect(addr)
                .await
                .unwrap();
            accept_and_reset(&listener);
            let mut end = watch_until_the_end(&mut io).await;
            let PeerEnd::Failed(seen) = &end else {
                panic!("a reset, not {end:?}");
            };
            assert_reset_code(seen.raw_os_error());
            let (code, message) = (seen.raw_os_error(), seen.to_string());
            for _ in 0..2 {
                let read = futures_lite::AsyncReadExt::read(&mut end, &mut [0; 10]).await;
                let e = read.expect_err("the reset, again");
                assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
                assert_eq!((e.raw_os_error(), e.to_string()), (code, message.clone()));
            }
        });
    }

    /// ...and over a monocle connection, whose errors are `ConnectionLost`:
    /// the copy is one too, with the reason, and the OS error code kept in
    /// its source.
    #[test]
    fn a_reset_seen_through_peer_end_on_a_connection_stays_a_connection_lost() {
        let (listener, port) = loopback_listener();
        let source_code = |e: &io::Error| {
            let lost = e
                .get_ref()
                .and_then(|r| r.downcast_ref::<monocle_network::ConnectionLost>())
                .expect("a ConnectionLost");
            assert_eq!(lost.reason(), monocle_network::Reason::Reset);
            std::error::Error::source(lost)
                .and_then(|s| s.downcast_ref::<io::Error>())
                .and_then(io::Error::raw_os_error)
        };
        monocle_stack::block_on(async {
            let mut conn = monocle_network::connect("127.0.0.1", port).await.unwrap();
            accept_and_reset(&listener);
            let mut end = watch_until_the_end(&mut conn).await;
            let PeerEnd::Failed(seen) = &end else {
                panic!("a reset, not {end:?}");
            };
            let code = source_code(seen);
            assert_reset_code(code);
            let message = seen.to_string();
            let read = futures_lite::AsyncReadExt::read(&mut end, &mut [0; 10]).await;
            let e = read.expect_err("the reset, again");
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
            assert_eq!((source_code(&e), e.to_string()), (code, message));
        });
    }

    #[test]
    fn a_request_in_several_writes_costs_no_turn_of_the_loop() {
        let (mut io, mut inbuf) = (Mock::default(), InBuf::new());
        let state = io.0.clone();
        let mut watched = Watched::new(&mut io, &mut inbuf);
        // Eleven writes, 160 KiB in all.
        let mut pendings = 0;
        send(&mut watched, 10, || pendings += 1).unwrap();
        assert_eq!(pendings, 0);
        assert!(!watched.stopped);
        assert_eq!(state.reads.get(), 0, "nothing new to see without a turn");
        assert_eq!(state.written.get(), HEAD + 10 * PIECE);
    }

    #[test]
    fn a_long_upload_that_never_waits_gives_the_loop_a_turn_now_and_then() {
        let (mut io, mut inbuf) = (Mock::default(), InBuf::new());
        let state = io.0.clone();
        let mut watched = Watched::new(&mut io, &mut inbuf);
        // How much went out between one turn and the next.
        let mut between = Vec::new();
        let mut before = 0;
        send(&mut watched, 4 * TURN_EVERY / PIECE, || {
            between.push(state.written.get() - before);
            before = state.written.get();
        })
        .unwrap();
        assert_eq!(state.written.get(), HEAD + 4 * TURN_EVERY);
        // A turn each time TURN_EVERY bytes more went out without one,
        // each followed by a look at what the server sent.
        assert_eq!(between.len(), 3, "{between:?}");
        for bytes in &between {
            assert!(
                (TURN_EVERY..TURN_EVERY + PIECE + HEAD).contains(bytes),
                "{between:?}"
            );
        }
        assert_eq!(state.reads.get(), between.len());
        assert!(!watched.stopped);
    }

    #[test]
    fn a_server_closing_its_side_stops_an_upload_that_never_waits() {
        let (mut io, mut inbuf) = (Mock::default(), InBuf::new());
        let state = io.0.clone();
        let mut watched = Watched::new(&mut io, &mut inbuf);
        // The server closes its side during the first turn.
        let mut pendings = 0;
        let err = send(&mut watched, usize::MAX, || {
            pendings += 1;
            state.eof.set(true);
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        assert_eq!(pendings, 1);
        assert!(watched.stopped);
        assert!(matches!(watched.end, Some(PeerEnd::Closed)));
        assert!(state.written.get() < TURN_EVERY + PIECE + HEAD);
    }

    #[test]
    fn a_body_stream_that_waits_makes_the_next_write_watch() {
        let (mut io, mut inbuf) = (Mock::default(), InBuf::new());
        let state = io.0.clone();
        let mut watched = Watched::new(&mut io, &mut inbuf);
        // A small piece, then a wait for the next one, during which the
        // server closes its side; then pieces without end.
        let mut waited = false;
        let pieces = futures_lite::stream::poll_fn(|cx| {
            if state.written.get() > 0 && !waited {
                waited = true;
                state.eof.set(true);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(Some(Ok(vec![b'x'; 10])))
        });
        let mut pieces = std::pin::pin!(pieces);
        let mut polled = false;
        let mut pendings = 0;
        let result = {
            let write = write_chunks(&mut watched, pieces.as_mut(), &mut polled);
            let mut write = std::pin::pin!(write);
            let mut cx = Context::from_waker(Waker::noop());
            loop {
                match write.as_mut().poll(&mut cx) {
                    Poll::Ready(result) => break result,
                    Poll::Pending => pendings += 1,
                }
            }
        };
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::ConnectionAborted);
        assert_eq!(pendings, 1);
        // One chunk went out ("a\r\n" + 10 bytes + CRLF), then nothing.
        assert_eq!(state.written.get(), 15);
        assert_eq!(state.reads.get(), 1);
        assert!(watched.stopped);
    }
}
