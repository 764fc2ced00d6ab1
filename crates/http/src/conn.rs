//! The per-connection HTTP/1.1 server state machine, over any
//! `AsyncRead + AsyncWrite` byte stream.
//!
//! One loop per connection: parse a head in place from the input buffer,
//! route it, read the body by its framing, call the handler (catching panics),
//! write the response into the output buffer. A streaming handler is called
//! before the body is read, and the loop feeds it the body (see `body.rs`)
//! while it runs, and on while its streamed response goes out if that still
//! holds the body (full duplex); what is left of the body after the response
//! is read and dropped, or the connection closes. Responses to pipelined
//! requests pile up in that buffer and go out in one write once no complete
//! request is left buffered (or before anything would wait).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::future::poll_once;
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use monocle_stack::util::{sleep, Sleep};

use crate::body::{After, BodyFeed};
use crate::chunked::{encode_chunk, LAST_CHUNK};
use crate::config::ServerConfig;
use crate::error::Error;
use crate::handler::{Handler, LocalBoxFuture};
use crate::headers::HttpHeaders;
use crate::io::{
    fill, is_disconnect, read_guarded, with_deadline, write_all_vectored_idle, Deadline, IdleWrite,
    InBuf, ReadEnd,
};
use crate::limits::Limits;
use crate::parse::{parse_request_head_into, BodyFraming, RequestHead};
use crate::request::HttpRequest;
use crate::response::{Body, BodyStream, HttpResponse};
use crate::router::RouteMatch;
use crate::server::App;
use crate::write::{write_response_head, ResponseContext};

/// A body at most this long is copied into the output buffer; a longer one is
/// written from where it is, with the head, in one vectored write.
const COPY_BODY_MAX: usize = 16 << 10;

/// Flush the output buffer when it holds this much, even if more pipelined
/// requests are waiting.
const FLUSH_AT: usize = 64 << 10;

/// How far ahead of a full-duplex response's body reader the client is
/// read while the reader does not ask (see [`Conn::next_piece`]).
const READ_AHEAD: usize = 8 << 10;

mod request_body;

/// How a connection ends early.
enum Stop {
    /// Close quietly (peer gone, idle timeout, server stopping).
    Close,
    /// Answer this error, then close.
    Reject(Error),
    /// Answer 408, then close.
    HeadTimeout,
}

pub(crate) struct Conn<'a, IO> {
    app: &'a App,
    config: ServerConfig,
    /// The configured limits but the body's, which is checked once routing
    /// has chosen a handler: `max_body` for a buffered one, and
    /// `max_streamed_body` for a streaming one.
    head_limits: Limits,
    io: IO,
    inbuf: InBuf,
    out: Vec<u8>,
    /// The state of the write [`flush`](Self::flush) is doing.
    flushing: IdleWrite,
    /// Empty; the memory of the last response's headers, which the next
    /// request's headers are parsed into: an allocation and a free fewer
    /// for each of the two buffers of every request.
    spare_headers: HttpHeaders,
    peer: Option<SocketAddr>,
    /// The keep-alive timer, armed once and pushed back only when it fires
    /// (so a busy connection arms no timer per request): an idle connection
    /// closes between one and two keep-alive timeouts after its last request.
    idle_timer: Option<Sleep>,
    /// Requests served in all, and when the idle timer was last armed.
    served: u64,
    served_at_arm: u64,
    /// This connection's registration with the server's stop signal, kept for
    /// the connection's life.
    stop_key: Option<usize>,
    /// The body of the request being answered while the connection still
    /// reads it ([`After::Reading`]): for the response's stream, which may
    /// still read it (full duplex), or to drop what is left of it after the
    /// response.
    feed: Option<Box<BodyFeed>>,
}

impl<IO> Drop for Conn<'_, IO> {
    fn drop(&mut self) {
        if let Some(key) = self.stop_key.take() {
            self.app.state.stopping.forget(key);
        }
    }
}

impl<'a, IO: AsyncRead + AsyncWrite + Unpin> Conn<'a, IO> {
    pub(crate) fn new(app: &'a App, io: IO, peer: Option<SocketAddr>) -> Self {
        let config = app.config();
        let mut head_limits = config.limits;
        head_limits.max_body = u64::MAX;
        Conn {
            app,
            config,
            head_limits,
            io,
            inbuf: InBuf::new(),
            out: Vec::with_capacity(8 << 10),
            flushing: IdleWrite::default(),
            spare_headers: HttpHeaders::new(),
            peer,
            idle_timer: None,
            served: 0,
            served_at_arm: 0,
            stop_key: None,
            feed: None,
        }
    }

    /// Serves requests until the connection should close, then closes it.
    ///
    /// The per-request path awaits only small futures (a read, the handler's
    /// boxed future, a flush): a request, a response and a handler future are
    /// each built once and then used in place, not moved through layers of
    /// nested futures.
    pub(crate) async fn run(mut self) -> io::Result<()> {
        loop {
            let head = match self.next_head().await? {
                Ok(head) => head,
                Err(Stop::Close) => return self.finish().await,
                Err(Stop::Reject(e)) => return Box::pin(self.reject(&e)).await,
                Err(Stop::HeadTimeout) => return Box::pin(self.reject_timeout()).await,
            };
            self.inbuf.consume(head.len());
            // Methods are case-sensitive: only `HEAD`, and a 2xx to
            // `CONNECT`, get a body-less answer.
            let method = match head.method() {
                "HEAD" => "HEAD",
                "CONNECT" => "CONNECT",
                _ => "GET",
            };
            let (ctx_version, head_keep_alive) = (head.version(), head.keep_alive());
            let framing = head.framing();
            let log = log::log_enabled!(log::Level::Info).then(|| LogInfo::new(&head));
            self.served += 1;
            // A request with a body is routed before the body is read (a
            // streaming handler reads it itself), in a future of its own.
            let mut after = After::KeepAlive;
            let routed = if framing == BodyFraming::Empty {
                let req = HttpRequest::from_head(head, Vec::new(), self.peer);
                self.route_and_call(req)
            } else {
                match Box::pin(self.serve_body(head, framing)).await? {
                    Ok((routed, then)) => {
                        after = then;
                        routed
                    }
                    Err(Stop::Reject(e)) => return Box::pin(self.reject(&e)).await,
                    Err(_) => return self.finish().await,
                }
            };
            // The one place a handler's future runs (a streaming handler's
            // ran while its body was read): most answer at the first poll.
            let resp = match routed {
                Routed::Answer(resp) => resp,
                Routed::Handler(mut fut) => {
                    match poll_once(std::future::poll_fn(|cx| poll_handler(fut.as_mut(), cx))).await
                    {
                        Some(resp) => resp,
                        None => self.wait_handler(fut).await?,
                    }
                }
            };
            if let Some(err) = resp.handler_error() {
                log_handler_error(self.peer, log.as_ref(), resp.code(), err);
            }
            // Decided now: a stop() while the handler ran closes the connection.
            let keep_alive =
                head_keep_alive && after.keeps_alive() && !self.app.state.stopping.is_fired();
            let ctx = ResponseContext::new(ctx_version, method, keep_alive);
            let (keep_alive, bytes) = match self.write_response_now(&resp, &ctx) {
                Some(done) => {
                    self.keep_headers(resp);
                    done
                }
                None => Box::pin(self.write_response(resp, &ctx)).await?,
            };
            if let Some(log) = log {
                log.write(self.peer, bytes);
            }
            if after != After::KeepAlive {
                if !Box::pin(self.after_body(after, keep_alive)).await? {
                    return Ok(());
                }
            } else if !keep_alive || self.app.state.stopping.is_fired() {
                return self.finish().await;
            }
            if self.out.len() >= FLUSH_AT {
                self.flush().await?;
            }
        }
    }

    /// Waits for the first bytes of the next request on an idle connection,
    /// giving up at the keep-alive timeout or when the server stops.
    async fn idle_read(&mut self) -> io::Result<ReadEnd> {
        let keep_alive = self.config.keep_alive_timeout;
        let stopping = &self.app.state.stopping;
        let Conn {
            io,
            inbuf,
            idle_timer,
            served,
            served_at_arm,
            stop_key,
            ..
        } = self;
        std::future::poll_fn(|cx| {
            let spare = inbuf.spare();
            match Pin::new(&mut *io).poll_read(cx, spare) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(ReadEnd::Eof)),
                Poll::Ready(Ok(n)) => {
                    inbuf.filled(n);
                    return Poll::Ready(Ok(ReadEnd::Data(n)));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
            if stopping.poll_wait(stop_key, cx).is_ready() {
                return Poll::Ready(Ok(ReadEnd::Stopped));
            }
            loop {
                let timer = idle_timer.get_or_insert_with(|| {
                    *served_at_arm = *served;
                    sleep(keep_alive)
                });
                if Pin::new(timer).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if *served == *served_at_arm {
                    return Poll::Ready(Ok(ReadEnd::TimedOut));
                }
                // Requests were served since it was armed: not idle that long.
                *idle_timer = None;
            }
        })
        .await
    }

    /// Reads until a complete request head is buffered and parses it.
    async fn next_head(&mut self) -> io::Result<Result<RequestHead, Stop>> {
        let reparse_past = self
            .config
            .limits
            .uri_limit()
            .min(self.config.limits.head_limit());
        // Bytes of the buffer already parsed without finding a complete head.
        let mut parsed: usize = 0;
        let mut head_deadline: Option<Instant> = None;
        loop {
            // Empty lines before a request line are ignored (RFC 9112 §2.2):
            // dropped here, a CRLF sent after a request body leaves the
            // connection idle instead of starting a head and its timeout.
            let blank = blank_lines(self.inbuf.data());
            if blank > 0 {
                self.inbuf.consume(blank);
                parsed = parsed.saturating_sub(blank);
                if self.inbuf.is_empty() {
                    head_deadline = None;
                }
            }
            if self.inbuf.len() > parsed {
                let data = self.inbuf.data();
                // Re-parse only when it can change the answer: new bytes hold a
                // line end, or the buffer just crossed a length limit. A peer
                // trickling bytes without newlines costs no re-scans.
                let crossed = |limit: usize| parsed <= limit && data.len() > limit;
                let worth = parsed == 0
                    || data[parsed..].contains(&b'\n')
                    || crossed(reparse_past)
                    || crossed(self.config.limits.head_limit());
                if worth {
                    let spare = &mut self.spare_headers;
                    match parse_request_head_into(data, &self.head_limits, spare) {
                        Ok(Some(head)) => return Ok(Ok(head)),
                        Ok(None) => parsed = data.len(),
                        // A length past any limit (past 64 bits): named
                        // against the configured one.
                        Err(Error::BodyTooLarge { .. }) => {
                            let limit = self.config.limits.body_limit();
                            return Ok(Err(Stop::Reject(Error::BodyTooLarge { limit })));
                        }
                        Err(e) => return Ok(Err(Stop::Reject(e))),
                    }
                }
            }
            // No complete request is buffered: send what is pending, then wait.
            if self.inbuf.is_empty() && self.app.state.stopping.is_fired() {
                return Ok(Err(Stop::Close));
            }
            self.flush().await?;
            let read = if self.inbuf.is_empty() {
                self.idle_read().await
            } else {
                let at = *head_deadline
                    .get_or_insert_with(|| Instant::now() + self.config.header_timeout);
                fill(&mut self.io, &mut self.inbuf, Deadline::At(at), None).await
            };
            match read {
                Ok(ReadEnd::Data(_)) => {}
                Ok(ReadEnd::TimedOut) if !self.inbuf.is_empty() => {
                    return Ok(Err(Stop::HeadTimeout))
                }
                Ok(_) => return Ok(Err(Stop::Close)),
                Err(e) if is_disconnect(&e) => return Ok(Err(Stop::Close)),
                Err(e) => return Err(e),
            }
        }
    }

    /// Finds the request's handler and sets the route's parameters, or
    /// answers at once (404, 405).
    ///
    /// Inlined: in [`route_and_call`](Self::route_and_call), on the path of
    /// every request without a body, it then costs what it did before
    /// requests with a body were routed apart (measured with
    /// `benches/http_instructions.sh`).
    #[inline(always)]
    fn find(&self, req: &mut HttpRequest) -> Route {
        // Pick the handler with the router borrowed, then call it with the
        // borrow released: a handler may add routes or set the default.
        let router = self.app.router.borrow();
        match router.find(req.method(), req.path()) {
            RouteMatch::Found { handler, params } => {
                req.set_params(params);
                Route::Handler(handler.clone())
            }
            found @ RouteMatch::MethodNotAllowed { .. } => {
                let allow = found.allow_header().unwrap_or_default();
                Route::Answer(
                    HttpResponse::new(405)
                        .with_header("Allow", allow)
                        .with_header("Content-Type", "text/plain; charset=utf-8")
                        .with_body("Method Not Allowed\n"),
                )
            }
            RouteMatch::NotFound => match self.app.fallback.borrow().as_ref() {
                Some(h) => Route::Handler(h.clone()),
                None => Route::Answer(
                    HttpResponse::new(404)
                        .with_header("Content-Type", "text/plain; charset=utf-8")
                        .with_body("Not Found\n"),
                ),
            },
        }
    }

    /// Routes a request without a body and calls its handler (a streaming
    /// one reads an empty body), or answers at once (404, 405).
    fn route_and_call(&self, mut req: HttpRequest) -> Routed {
        match self.find(&mut req) {
            Route::Handler(handler) => call(&handler, req),
            Route::Answer(answer) => Routed::Answer(answer),
        }
    }

    /// Waits for a handler that did not finish at its first poll, sending
    /// earlier pipelined responses meanwhile.
    async fn wait_handler(
        &mut self,
        mut fut: LocalBoxFuture<HttpResponse>,
    ) -> io::Result<HttpResponse> {
        self.flush().await?;
        Ok(std::future::poll_fn(|cx| poll_handler(fut.as_mut(), cx)).await)
    }

    /// Writes a response whose body is in memory and small into the output
    /// buffer, without waiting; `None` when the body is large or a stream (see
    /// [`write_response`](Self::write_response)). Returns what that returns.
    fn write_response_now(
        &mut self,
        resp: &HttpResponse,
        ctx: &ResponseContext,
    ) -> Option<(bool, (u64, u16))> {
        let body = match resp.body() {
            Body::Full(body) if body.len() <= COPY_BODY_MAX => body,
            _ => return None,
        };
        let written = write_response_head(resp, ctx, &mut self.out);
        let sent = match written.framing() {
            BodyFraming::Empty => 0,
            _ => {
                self.out.extend_from_slice(body);
                body.len() as u64
            }
        };
        Some((written.keep_alive(), (sent, resp.code())))
    }

    /// Keeps the memory of a written response's headers, unless large, for
    /// the next request's.
    fn keep_headers(&mut self, mut resp: HttpResponse) {
        let headers = resp.headers_mut();
        // A larger one is freed, so that an idle connection does not hold it.
        if headers.allocated() <= crate::spare::MAX_BYTES {
            headers.clear();
            self.spare_headers = std::mem::take(headers);
        }
    }

    /// Writes the response; returns whether the connection stays open, and
    /// (body bytes, status code) for the log.
    async fn write_response(
        &mut self,
        resp: HttpResponse,
        ctx: &ResponseContext,
    ) -> io::Result<(bool, (u64, u16))> {
        let code = resp.code();
        let head_at = self.out.len();
        let written = write_response_head(&resp, ctx, &mut self.out);
        let mut keep_alive = written.keep_alive();
        // Full duplex, to a client that waits for `100 Continue` and has
        // sent nothing: the head waits in the output buffer, for the feed to
        // send the 100 in front of it when the stream first reads the body,
        // or for the stream to yield or end first (see `release_head`), with
        // the same head saying `Connection: close` (unless it does already)
        // for when it must go without a 100.
        let held = match &self.feed {
            Some(feed) if feed.owes_continue(&self.inbuf) => {
                debug_assert_eq!(head_at, 0, "the output buffer holds only the head");
                Some(keep_alive.then(|| {
                    let mut closing = Vec::new();
                    write_response_head(&resp, &ctx.to_closing(), &mut closing);
                    closing
                }))
            }
            _ => None,
        };
        match (written.framing(), resp.into_body()) {
            (BodyFraming::Empty, body) => {
                // The stream will not run: its body goes unread.
                drop(body);
                if let Some(closing) = held {
                    keep_alive &= self.release_head(closing);
                }
                Ok((keep_alive, (0, code)))
            }
            (_, Body::Full(body)) => {
                if body.len() <= COPY_BODY_MAX {
                    self.out.extend_from_slice(&body);
                } else {
                    self.write_out(&[&body]).await?;
                }
                Ok((keep_alive, (body.len() as u64, code)))
            }
            (framing, Body::Stream(mut stream)) => {
                let mut sent: u64 = 0;
                let mut complete = true;
                let mut held = held;
                loop {
                    if held.is_none() {
                        self.flush().await?;
                    }
                    let item = match self.next_piece(&mut stream).await? {
                        Piece::Gone => {
                            log::debug!(
                                "[{}] client went away during a streamed response",
                                PeerIp(self.peer)
                            );
                            return Ok((false, (sent, code)));
                        }
                        Piece::Next(item) => item,
                    };
                    if let Some(closing) = held.take() {
                        keep_alive &= self.release_head(closing);
                        // Whole before anything is added to it: the feed
                        // may have begun to write it (with a 100) through
                        // the same write state.
                        self.flush().await?;
                    }
                    let item = match item {
                        None => break,
                        Some(Ok(item)) => item,
                        Some(Err(e)) => {
                            log::warn!(
                                "[{}] response body stream failed, closing: {e}",
                                PeerIp(self.peer)
                            );
                            complete = false;
                            break;
                        }
                    };
                    match framing {
                        BodyFraming::Length(n) => {
                            let room = (n - sent).min(item.len() as u64) as usize;
                            self.out.extend_from_slice(&item[..room]);
                            sent += room as u64;
                            if sent == n {
                                break;
                            }
                        }
                        BodyFraming::Chunked => {
                            if !item.is_empty() {
                                encode_chunk(&item, &mut self.out);
                                sent += item.len() as u64;
                            }
                        }
                        _ => {
                            self.out.extend_from_slice(&item);
                            sent += item.len() as u64;
                        }
                    }
                }
                // A request body that failed while the stream read it
                // (malformed, oversized, too slow, stalled, cut off): the
                // exchange failed, and the response must not look complete,
                // whether or not the stream passed the error on.
                if self.feed.as_ref().is_some_and(|feed| feed.failed()) {
                    complete = false;
                }
                match framing {
                    BodyFraming::Length(n) if sent < n => complete = false,
                    BodyFraming::Chunked if complete => self.out.extend_from_slice(LAST_CHUNK),
                    _ => {}
                }
                Ok((keep_alive && complete, (sent, code)))
            }
        }
    }

    /// Lets the held head of a full-duplex response go (see
    /// [`write_response`](Self::write_response)) when its stream yields or
    /// ends before reading the body, or will not run: returns whether the
    /// connection may still stay open. A stream that still holds the body
    /// means to read it: the client is told to send it, with a
    /// `100 Continue` in front of the head. A body let go unread is never
    /// asked for, and the client, never told to send it, may never (curl
    /// takes the final answer as the end of the exchange, and sends its next
    /// request): `closing`, the same head saying `Connection: close`, goes
    /// in its place (`None` when the head says so already).
    fn release_head(&mut self, closing: Option<Vec<u8>>) -> bool {
        let Some(feed) = self.feed.as_mut() else {
            return true;
        };
        if feed.is_read() || !feed.owes_continue(&self.inbuf) {
            // Unless told already, or sending anyway.
            feed.continue_before_head(&self.inbuf, &mut self.out);
            return true;
        }
        feed.forgo_continue();
        if let Some(closing) = closing {
            // Nothing of the head was written: only a 100 would have begun
            // its write.
            self.out.clear();
            self.out.extend_from_slice(&closing);
        }
        false
    }

    /// Waits for the stream's next piece while watching the connection: a
    /// client that goes away (end of stream, reset) while the stream has
    /// nothing to send ends the response at once, dropping the stream, rather
    /// than when a next piece, which may never come, fails to be written.
    /// Bytes that arrive meanwhile (a pipelined request) are kept in the input
    /// buffer for later, up to the head limit; past it the connection is no
    /// longer read, so a client leaving is then noticed only by the next write.
    ///
    /// A client that only shut down its sending side cannot be told from one
    /// that left: its streamed response ends too.
    ///
    /// While the request body may still be read (full duplex), the client is
    /// read for it as its reader asks, and otherwise only [`READ_AHEAD`]
    /// bytes ahead, into the input buffer (where the reader's next chunks
    /// come from first): the body keeps its backpressure, and a client that
    /// leaves is noticed even while the reader holds the body without asking.
    async fn next_piece(&mut self, stream: &mut BodyStream) -> io::Result<Piece> {
        let head_limit = self.config.limits.head_limit();
        let Conn {
            io,
            inbuf,
            out,
            flushing,
            feed,
            ..
        } = self;
        std::future::poll_fn(|cx| loop {
            if let Poll::Ready(piece) = stream.as_mut().poll_next(cx) {
                return Poll::Ready(Ok(Piece::Next(piece)));
            }
            let mut keep = head_limit;
            if let Some(feed) = feed.as_mut().filter(|feed| feed.is_read()) {
                if feed.poll(io, inbuf, out, flushing, cx).is_ready() {
                    // Something was delivered to the reader: the stream may
                    // have a piece now.
                    continue;
                }
                if feed.reader_waits() {
                    // The feed reads the client, and sees it leave.
                    return Poll::Pending;
                }
                keep = READ_AHEAD;
            }
            while inbuf.len() < keep {
                let room = keep - inbuf.len();
                let spare = inbuf.spare();
                let room = room.min(spare.len());
                match Pin::new(&mut *io).poll_read(cx, &mut spare[..room]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Ok(Piece::Gone)),
                    Poll::Ready(Ok(n)) => inbuf.filled(n),
                    Poll::Ready(Err(e)) if is_disconnect(&e) => {
                        return Poll::Ready(Ok(Piece::Gone))
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => break,
                }
            }
            return Poll::Pending;
        })
        .await
    }

    /// Writes the output buffer and then `more`, in one vectored write.
    async fn write_out(&mut self, more: &[&[u8]]) -> io::Result<()> {
        let mut bufs: [&[u8]; 3] = [&self.out, &[], &[]];
        let n = 1 + more.len().min(2);
        bufs[1..n].copy_from_slice(&more[..n - 1]);
        let idle = self.config.read_timeout;
        let result = write_all_vectored_idle(&mut self.io, &bufs[..n], idle).await;
        self.out.clear();
        result?.ok_or_else(|| self.write_timed_out())
    }

    /// Sends the output buffer, if it holds anything.
    ///
    /// As [`write_out`](Self::write_out) without more buffers, with the
    /// write's state in `self` (this runs for every response: a small future
    /// touches less memory per request).
    async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let idle = self.config.read_timeout;
        let result = std::future::poll_fn(|cx| {
            let Conn {
                io, out, flushing, ..
            } = &mut *self;
            flushing.poll(io, &[out], idle, cx)
        })
        .await;
        self.flushing.reset();
        self.out.clear();
        result?.ok_or_else(|| self.write_timed_out())
    }

    fn write_timed_out(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "writing a response to {} made no progress for {:?}; raise ServerConfig::read_timeout",
                PeerIp(self.peer),
                self.config.read_timeout
            ),
        )
    }

    /// Answers a request that could not be parsed or framed, then closes.
    async fn reject(&mut self, error: &Error) -> io::Result<()> {
        let resp = HttpResponse::from_error(error);
        log::info!(
            "[{}] bad request, answered {}: {error}",
            PeerIp(self.peer),
            resp.code()
        );
        self.send_closing(resp).await
    }

    async fn reject_timeout(&mut self) -> io::Result<()> {
        log::info!(
            "[{}] request head not complete after {:?}, answered 408",
            PeerIp(self.peer),
            self.config.header_timeout
        );
        let resp = HttpResponse::new(408)
            .with_header("Content-Type", "text/plain; charset=utf-8")
            .with_body(format!(
                "request head not complete after {:?}\n",
                self.config.header_timeout
            ));
        self.send_closing(resp).await
    }

    async fn send_closing(&mut self, resp: HttpResponse) -> io::Result<()> {
        write_response_head(&resp, &ResponseContext::closing(), &mut self.out);
        if let Some(body) = resp.body().as_bytes() {
            self.out.extend_from_slice(body);
        }
        self.finish_lingering().await
    }

    /// Sends what is pending, shuts down the write side, then reads (and
    /// drops) what the client still sends for a moment, so that closing with
    /// unread data does not reset the connection before the client has read
    /// the answer.
    async fn finish_lingering(&mut self) -> io::Result<()> {
        self.finish().await?;
        let mut scratch = [0u8; 4096];
        let until = Instant::now() + std::time::Duration::from_millis(500);
        let mut budget = 256usize << 10;
        while budget > 0 {
            match read_guarded(&mut self.io, &mut scratch, Deadline::At(until), None).await {
                Ok(ReadEnd::Data(n)) => budget = budget.saturating_sub(n),
                _ => break,
            }
        }
        Ok(())
    }

    /// Sends what is pending and shuts down the write side.
    async fn finish(&mut self) -> io::Result<()> {
        match self.flush().await {
            Err(e) if is_disconnect(&e) => return Ok(()),
            other => other?,
        }
        let _ = with_deadline(Deadline::After(self.config.read_timeout), self.io.close()).await;
        Ok(())
    }
}

/// The length of the empty lines (CRLF pairs) at the start of `data`.
fn blank_lines(data: &[u8]) -> usize {
    2 * data
        .chunks_exact(2)
        .take_while(|pair| *pair == b"\r\n")
        .count()
}

/// Answers a connection over the limit with 503 and closes it.
pub(crate) async fn refuse<IO: AsyncRead + AsyncWrite + Unpin>(mut io: IO) -> io::Result<()> {
    let resp = HttpResponse::new(503)
        .with_header("Content-Type", "text/plain; charset=utf-8")
        .with_header("Retry-After", "1")
        .with_body("too many connections; try again\n");
    let mut out = Vec::new();
    write_response_head(&resp, &ResponseContext::closing(), &mut out);
    out.extend_from_slice(resp.body().as_bytes().unwrap_or_default());
    io.write_all(&out).await?;
    io.close().await?;
    let mut scratch = [0u8; 1024];
    let _ = with_deadline(
        Deadline::After(std::time::Duration::from_millis(100)),
        io.read(&mut scratch),
    )
    .await;
    Ok(())
}

/// What [`Conn::next_piece`] found.
enum Piece {
    /// The stream's next item (`None`: it ended).
    Next(Option<io::Result<Vec<u8>>>),
    /// The client went away first.
    Gone,
}

/// Starts `handler` on `req`. A closure handler runs its synchronous part
/// here: a panic there is a 500 too, like one while its future is polled.
#[inline]
fn call(handler: &Handler, req: HttpRequest) -> Routed {
    match std::panic::catch_unwind(AssertUnwindSafe(|| handler.call(req))) {
        Ok(fut) => Routed::Handler(fut),
        Err(panic) => Routed::Answer(handler_panicked(&*panic)),
    }
}

/// What routing found.
enum Route {
    /// The handler to call.
    Handler(Handler),
    /// Answer this without a handler (404, 405).
    Answer(HttpResponse),
}

/// How a request is answered.
enum Routed {
    /// Answer this: no handler's (404, 405), or a streaming handler's, which
    /// ran as its body was read.
    Answer(HttpResponse),
    /// Run this handler's future.
    Handler(LocalBoxFuture<HttpResponse>),
}

/// Polls a handler's future; a panic becomes a 500 naming it.
fn poll_handler(
    fut: Pin<&mut dyn Future<Output = HttpResponse>>,
    cx: &mut Context<'_>,
) -> Poll<HttpResponse> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
        // Replaced here, before anything is decided by the answer (a
        // streamed body read on in full duplex, a 100 Continue still owed).
        Ok(Poll::Ready(resp)) if resp.code() < 200 => Poll::Ready(interim_answer(resp.code())),
        Ok(polled) => polled,
        Err(panic) => Poll::Ready(handler_panicked(&*panic)),
    }
}

/// The 500 answering a handler that panicked.
fn handler_panicked(panic: &(dyn std::any::Any + Send)) -> HttpResponse {
    HttpResponse::internal_error(format!(
        "handler panicked: {}",
        monocle_stack::diagnostics::panic_message(panic)
    ))
}

/// The 500 that stands for a handler's answer with a 1xx status: a 1xx is
/// interim (RFC 9110, section 15.2), so a client would go on waiting for
/// the final answer, and pair the next request's with this one. The server
/// sends its own `100 Continue`, and switches no protocol (101).
#[cold]
fn interim_answer(code: u16) -> HttpResponse {
    HttpResponse::internal_error(format!(
        "status {code} is interim, not an answer: a handler answers with 200 to 999"
    ))
}

/// Logs the error behind a response ([`HttpResponse::handler_error`]): as a
/// failure at error level when the answer is a 5xx, else (an `HttpError`'s
/// cause behind a 4xx, say) at warn level.
///
/// The request is named when the access log kept its method and target:
/// copying them for every request only for this line would cost every request
/// an allocation.
fn log_handler_error(peer: Option<SocketAddr>, log: Option<&LogInfo>, code: u16, err: &str) {
    let (level, what) = if code >= 500 {
        (log::Level::Error, "handler failed, answered")
    } else {
        (log::Level::Warn, "handler answered")
    };
    match log {
        Some(log) => log::log!(
            level,
            "[{}] {} {}: {what} {code}: {err}",
            PeerIp(peer),
            log.method,
            log.uri
        ),
        None => log::log!(level, "[{}] {what} {code}: {err}", PeerIp(peer)),
    }
}

/// What the request log line needs, captured only when info logging is on.
struct LogInfo {
    method: String,
    uri: String,
    proto: &'static str,
    user_agent: String,
    start: Instant,
}

impl LogInfo {
    fn new(head: &RequestHead) -> Self {
        LogInfo {
            method: head.method().to_owned(),
            uri: head.uri().to_owned(),
            proto: head.version().as_str(),
            user_agent: head.headers().get("user-agent").unwrap_or("-").to_owned(),
            start: Instant::now(),
        }
    }

    /// Logs the line for a response of `bytes.1` with `bytes.0` body bytes.
    fn write(self, peer: Option<SocketAddr>, (bytes, code): (u64, u16)) {
        log::info!(
            "[{}] {} {} {} -> {code} ({bytes} bytes, {:.2} ms); {}",
            PeerIp(peer),
            self.method,
            self.uri,
            self.proto,
            self.start.elapsed().as_secs_f64() * 1000.0,
            self.user_agent
        );
    }
}

/// Formats the peer's IP for log lines, `-` when unknown.
struct PeerIp(Option<SocketAddr>);

impl std::fmt::Display for PeerIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{}", addr.ip()),
            None => f.write_str("-"),
        }
    }
}
