//! One request/response exchange of the client, over any
//! `AsyncRead + AsyncWrite` byte stream.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{Stream, StreamExt};

use crate::chunked::{chunk_header, ChunkedDecoder, CHUNK_END, LAST_CHUNK};
use crate::io::{
    fill, is_disconnect, is_reset, with_deadline, write_all_vectored, Deadline, InBuf, ReadEnd,
};
use crate::limits::Limits;
use crate::parse::{parse_response_head, BodyFraming, ResponseHead};
use crate::request::HttpRequest;
use crate::response::HttpResponse;
use crate::write::{write_request_head, write_request_head_chunked, TargetForm};

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
    /// target holding a space or a control byte, no host to name): nothing
    /// was sent, and the connection is as it was.
    Unsendable(crate::Error),
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

/// Sends `req` and reads its response. Returns the response and whether the
/// connection may carry another request: not if bytes came after the response,
/// nor if the request asked to close it.
///
/// The request goes out as [`send_request`] says; the answer is read from
/// the connection, or, when the server's side ended while the request went
/// out, from what it sent before that (the connection is not reused then).
#[allow(clippy::too_many_arguments)] // internal: the client's parts, split for borrowing
#[cfg_attr(not(feature = "tls"), allow(dead_code))] // the CONNECT tunnel's
pub(crate) async fn exchange<IO: AsyncRead + AsyncWrite + Unpin>(
    io: &mut IO,
    inbuf: &mut InBuf,
    out: &mut Vec<u8>,
    req: &HttpRequest,
    body: RequestBody<'_>,
    form: TargetForm,
    limits: &Limits,
    deadline: Option<Instant>,
) -> Result<(HttpResponse, bool), ExchangeError> {
    let end = send_request(io, inbuf, out, req, body, form, deadline).await?;
    let deadline = deadline.map_or(Deadline::Never, Deadline::At);
    match end {
        None => read_response(io, inbuf, req, limits, deadline).await,
        // Nothing more can come: the answer, if any, is in `inbuf`, and ends
        // as the server's side did.
        Some(end) => read_response(&mut Ended(end), inbuf, req, limits, Deadline::Never)
            .await
            .map(|(resp, _)| (resp, false)),
    }
}

/// Sends `req`. Returns how the server's side of the connection ended while
/// the request went out, if it did: nothing more can be read then, and the
/// answer is what `inbuf` holds.
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
    deadline: Option<Instant>,
) -> Result<Option<End>, ExchangeError> {
    out.clear();
    // The head first, before anything is written: a request that cannot be
    // sent leaves the connection as it was.
    match &body {
        RequestBody::Full => write_request_head(req, form, out),
        RequestBody::Stream { .. } => write_request_head_chunked(req, form, out),
    }
    .map_err(ExchangeError::Unsendable)?;
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
    // Without a deadline no timer is armed at all.
    let deadline = deadline.map_or(Deadline::Never, Deadline::At);
    let written = with_deadline(deadline, write)
        .await
        .ok_or(ExchangeError::TimedOut)?;
    out.clear();
    let Watched { end, stopped, .. } = watched;
    match written {
        Ok(()) => Ok(end),
        Err(_) if stopped => Ok(end),
        Err(e) if is_disconnect(&e) || e.kind() == io::ErrorKind::WriteZero => {
            Ok(Some(End::Failed(e)))
        }
        Err(e) => Err(ExchangeError::Other(e)),
    }
}

/// Reads the response to `req`, starting with what `inbuf` holds.
#[cfg_attr(not(feature = "tls"), allow(dead_code))] // the CONNECT tunnel's
async fn read_response<IO: AsyncRead + Unpin>(
    io: &mut IO,
    inbuf: &mut InBuf,
    req: &HttpRequest,
    limits: &Limits,
    deadline: Deadline,
) -> Result<(HttpResponse, bool), ExchangeError> {
    let head = read_head(io, inbuf, req, limits, deadline).await?;
    read_body(io, inbuf, head, req, limits, deadline).await
}

/// Reads the head of the response to `req`, starting with what `inbuf`
/// holds, past any interim (1xx) responses but a 101; the body, if any,
/// starts at the front of `inbuf`.
pub(crate) async fn read_head<IO: AsyncRead + Unpin>(
    io: &mut IO,
    inbuf: &mut InBuf,
    req: &HttpRequest,
    limits: &Limits,
    deadline: Deadline,
) -> Result<ResponseHead, ExchangeError> {
    let method = req.method();
    // Bytes read while the request went out count.
    let mut received_any = !inbuf.is_empty();
    let head = loop {
        if !inbuf.is_empty() {
            match parse_response_head(inbuf.data(), method, limits).map_err(io::Error::from)? {
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

/// Reads the whole body of the response whose `head` was read, bounded by
/// the body limit. Returns the response and whether the connection may carry
/// another request.
pub(crate) async fn read_body<IO: AsyncRead + Unpin>(
    io: &mut IO,
    inbuf: &mut InBuf,
    head: ResponseHead,
    req: &HttpRequest,
    limits: &Limits,
    deadline: Deadline,
) -> Result<(HttpResponse, bool), ExchangeError> {
    let framing = head.framing();
    let mut reusable = keeps_alive(&head);
    let mut body = Vec::new();
    match framing {
        BodyFraming::Empty => {}
        BodyFraming::Length(n) => {
            let n = usize::try_from(n).map_err(|_| too_large(limits))?;
            body.reserve_exact(n);
            loop {
                let take = (n - body.len()).min(inbuf.len());
                body.extend_from_slice(&inbuf.data()[..take]);
                inbuf.consume(take);
                if body.len() == n {
                    break;
                }
                read_more(io, inbuf, deadline, "body").await?;
            }
        }
        BodyFraming::Chunked => {
            let mut decoder = ChunkedDecoder::new(limits);
            loop {
                let used = decoder
                    .decode(inbuf.data(), &mut body)
                    .map_err(io::Error::from)?;
                inbuf.consume(used);
                if decoder.is_done() {
                    break;
                }
                read_more(io, inbuf, deadline, "chunked body").await?;
            }
        }
        BodyFraming::UntilClose => {
            reusable = false;
            loop {
                let data = inbuf.data();
                if (body.len() + data.len()) as u64 > limits.body_limit() {
                    return Err(too_large(limits).into());
                }
                body.extend_from_slice(data);
                let n = data.len();
                inbuf.consume(n);
                match fill(io, inbuf, deadline, None).await {
                    Ok(ReadEnd::Data(_)) => {}
                    Ok(ReadEnd::TimedOut) => return Err(ExchangeError::TimedOut),
                    Ok(_) => break,
                    // A reset is no close: the body was cut short, and what
                    // came of it must not pass for all of it.
                    Err(e) if is_reset(&e) => {
                        return Err(ExchangeError::Other(io::Error::new(
                            e.kind(),
                            format!(
                                "the server reset the connection before the end of the body: {e}"
                            ),
                        )))
                    }
                    Err(e) if is_disconnect(&e) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    let reusable = reusable && reusable_after(inbuf, req);
    Ok((HttpResponse::from_head(head, body), reusable))
}

/// Whether the connection may carry another request once the body of the
/// response whose head this is has been read, as far as the head says: not
/// after a body read until close, nor after a 101 (another protocol follows).
pub(crate) fn keeps_alive(head: &ResponseHead) -> bool {
    head.keep_alive() && head.framing() != BodyFraming::UntilClose && head.code() != 101
}

/// Whether a connection whose response was read to its end (by its framing)
/// may carry another request, as far as what is left is concerned.
pub(crate) fn reusable_after(inbuf: &InBuf, req: &HttpRequest) -> bool {
    // Bytes after the end of the response answer no request of ours: the
    // server frames its messages differently than we read them (a body after
    // a 204 or a HEAD answer, say). Taking them for the next response would
    // hand a later request an answer to this one, or one the body forged.
    inbuf.is_empty()
        // RFC 9112 §9.6: after asking for `close`, send nothing more on it.
        && !req.headers().has_token("connection", "close")
}

/// At most this much of what the server sends while the request goes out is
/// read then (an early answer is short); beyond it, reading waits for the
/// request to be sent, as it would have without watching.
const WATCH_MAX: usize = 64 << 10;

/// How the server's side of the connection ended while the request went out.
#[derive(Debug)]
pub(crate) enum End {
    /// It closed its side (EOF): nothing more will come, and a request
    /// still going out cannot be answered any more.
    Closed,
    /// Reading or writing failed (a reset, a broken pipe...).
    Failed(io::Error),
}

/// The connection as the request goes out on it: before each write but the
/// first (a request sent in one write, most, costs nothing), and whenever a
/// write has to wait, what the server has sent is read into `inbuf`. An answer
/// given before the request is whole is so taken off the socket before a
/// reset that may follow it fails a write, which closes the connection with
/// the answer unread; and a server that closes while the request goes out
/// stops it: writes fail at once, with `stopped` set.
struct Watched<'a, IO> {
    io: &'a mut IO,
    inbuf: &'a mut InBuf,
    /// Whether a write went through yet.
    wrote: bool,
    /// Whether the event loop had a turn (this returned `Pending`) since the
    /// last write went through.
    turned: bool,
    /// How the server's side ended, if it did.
    end: Option<End>,
    /// Whether a write was refused because of `end`.
    stopped: bool,
}

impl<'a, IO: AsyncRead + AsyncWrite + Unpin> Watched<'a, IO> {
    fn new(io: &'a mut IO, inbuf: &'a mut InBuf) -> Self {
        Watched {
            io,
            inbuf,
            wrote: false,
            turned: false,
            end: None,
            stopped: false,
        }
    }

    /// Reads what the server has sent, without waiting.
    fn poll_watch(&mut self, cx: &mut Context<'_>) {
        while self.end.is_none() && self.inbuf.len() < WATCH_MAX {
            match Pin::new(&mut *self.io).poll_read(cx, self.inbuf.spare()) {
                Poll::Ready(Ok(0)) => self.end = Some(End::Closed),
                Poll::Ready(Ok(n)) => self.inbuf.filled(n),
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => self.end = Some(End::Failed(e)),
                Poll::Pending => break,
            }
        }
    }

    /// A write: watches first if it follows another.
    ///
    /// Readiness is what the event loop last learnt: while writes go through
    /// without waiting, it has not looked at the connection, so it is given
    /// a turn (this returns `Pending` once, woken at once) before a write
    /// that follows another, for what the server sent meanwhile to be seen.
    /// A server that answers, closes and resets within that turn still loses
    /// its answer: the failed write closes the connection unread.
    fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut IO>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if self.wrote {
            if !self.turned {
                self.turned = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.poll_watch(cx);
        }
        let written = self.poll_op(cx, op);
        if written.is_ready() {
            self.wrote = true;
            self.turned = false;
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
                Poll::Pending => {
                    self.turned = true;
                    self.poll_watch(cx);
                }
            }
            if self.end.is_none() {
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

/// A source that has ended as the server's side did: reads give the end of
/// the stream, or the error the connection failed with.
#[derive(Debug)]
pub(crate) struct Ended(pub(crate) End);

impl AsyncRead for Ended {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(match &self.0 {
            End::Closed => Ok(0),
            End::Failed(e) => Err(io::Error::new(e.kind(), e.to_string())),
        })
    }
}

/// Sends the pieces of `stream` as chunks, then the last chunk. A failing
/// stream fails the request before the last chunk goes out (the receiver sees
/// the body cut short, never a complete one).
async fn write_chunks<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    mut stream: Pin<&mut (dyn Stream<Item = io::Result<Vec<u8>>> + '_)>,
    polled: &mut bool,
) -> io::Result<()> {
    loop {
        *polled = true;
        match stream.next().await {
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

async fn read_more<IO: AsyncRead + Unpin>(
    io: &mut IO,
    inbuf: &mut InBuf,
    deadline: Deadline,
    what: &str,
) -> Result<(), ExchangeError> {
    match fill(io, inbuf, deadline, None).await? {
        ReadEnd::Data(_) => Ok(()),
        ReadEnd::TimedOut => Err(ExchangeError::TimedOut),
        _ => Err(ExchangeError::Other(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the server closed the connection before the end of the {what}"),
        ))),
    }
}

fn too_large(limits: &Limits) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "response body larger than {} bytes; raise it with HttpClient::limits_mut().max_body",
            limits.body_limit()
        ),
    )
}
