//! How a connection reads request bodies: in full before calling a handler,
//! or fed to a streaming handler while it runs (see `body.rs`), and what is
//! left of a body such a handler did not read.

use std::io;
use std::panic::AssertUnwindSafe;
use std::task::Poll;

use futures_lite::io::{AsyncRead, AsyncWrite};

use super::{call, handler_panicked, poll_handler, Conn, PeerIp, Route, Routed, Stop};
use crate::body::{After, BodyFeed, Continue, ReadClock};
use crate::chunked::ChunkedDecoder;
use crate::error::Error;
use crate::handler::Handler;
use crate::io::{fill, is_disconnect, read_guarded, ReadEnd};
use crate::parse::{BodyFraming, RequestHead};
use crate::request::HttpRequest;
use crate::response::HttpResponse;

/// How much a Content-Length body buffer grows at a time (doubling past it).
const BODY_GROWTH: usize = 64 << 10;

/// A streaming handler that answers with at most this much of a
/// `Content-Length` body unread keeps the connection: the rest is read and
/// dropped after the response ([`BodyFeed::poll_discard`]). With more left
/// (or a chunked rest), the connection closes.
const DRAIN_MAX: u64 = 64 << 10;

impl<IO: AsyncRead + AsyncWrite + Unpin> Conn<'_, IO> {
    /// Reads the request body by its framing, for a handler that is not
    /// streaming, or before answering without a handler (404, 405).
    async fn read_body(
        &mut self,
        framing: BodyFraming,
        mut cont: Continue,
    ) -> io::Result<Result<Vec<u8>, Stop>> {
        match framing {
            BodyFraming::Empty | BodyFraming::UntilClose => Ok(Ok(Vec::new())),
            BodyFraming::Length(n) => {
                let limit = self.config.limits.body_limit();
                let n = match usize::try_from(n) {
                    Ok(n) if n as u64 <= limit => n,
                    _ => return Ok(Err(Stop::Reject(Error::BodyTooLarge { limit }))),
                };
                cont.before_reading(&self.inbuf, &mut self.out);
                // Memory follows the bytes that arrive, not the Content-Length a
                // peer announces: a head alone must not reserve the body limit.
                let mut body = Vec::with_capacity(n.min(BODY_GROWTH));
                body.extend_from_slice(self.inbuf.consume_up_to(n as u64));
                let have = body.len();
                if have < n {
                    self.flush().await?;
                    let clock = ReadClock::start(&self.config);
                    let mut got = have;
                    while got < n {
                        if body.len() == got {
                            body.resize(n.min(got + BODY_GROWTH.max(got)), 0);
                        }
                        let (deadline, paced) = clock.next_read(got as u64);
                        let read =
                            read_guarded(&mut self.io, &mut body[got..], deadline, None).await;
                        match body_read(read, paced, &clock)? {
                            Ok(k) => got += k,
                            Err(stop) => return Ok(Err(stop)),
                        }
                    }
                }
                Ok(Ok(body))
            }
            BodyFraming::Chunked => {
                cont.before_reading(&self.inbuf, &mut self.out);
                let mut decoder = ChunkedDecoder::new(&self.config.limits);
                let mut body = Vec::new();
                let mut clock = None;
                loop {
                    match decoder.decode(self.inbuf.data(), &mut body) {
                        Ok(used) => self.inbuf.consume(used),
                        Err(e) => return Ok(Err(Stop::Reject(e))),
                    }
                    if decoder.is_done() {
                        return Ok(Ok(body));
                    }
                    self.flush().await?;
                    let clock = clock.get_or_insert_with(|| ReadClock::start(&self.config));
                    let (deadline, paced) = clock.next_read(body.len() as u64);
                    let read = fill(&mut self.io, &mut self.inbuf, deadline, None).await;
                    if let Err(stop) = body_read(read, paced, clock)? {
                        return Ok(Err(stop));
                    }
                }
            }
        }
    }

    /// Routes a request that has a body: reads the body, then calls the
    /// handler (whose future the caller runs), or hands the body to a
    /// streaming handler as it reads it and runs that to its answer.
    pub(super) async fn serve_body(
        &mut self,
        head: RequestHead,
        framing: BodyFraming,
    ) -> io::Result<Result<(Routed, After), Stop>> {
        let cont = Continue::new(head.expect_continue(), framing);
        let mut req = HttpRequest::from_head(head, Vec::new(), self.peer);
        match self.find(&mut req) {
            Route::Handler(handler) if handler.is_streaming() => {
                let streamed = self.serve_streaming(&handler, req, framing, cont).await?;
                Ok(streamed.map(|(resp, after)| (Routed::Answer(resp), after)))
            }
            route => {
                match self.read_body(framing, cont).await? {
                    Ok(body) => *req.body_mut() = body,
                    Err(stop) => return Ok(Err(stop)),
                }
                let routed = match route {
                    Route::Handler(handler) => call(&handler, req),
                    Route::Answer(answer) => Routed::Answer(answer),
                };
                Ok(Ok((routed, After::KeepAlive)))
            }
        }
    }

    /// Runs a streaming handler: calls it before the body is read, then
    /// feeds it the body while it runs. Returns its response and what the
    /// connection does next, by how far the body got.
    async fn serve_streaming(
        &mut self,
        handler: &Handler,
        req: HttpRequest,
        framing: BodyFraming,
        cont: Continue,
    ) -> io::Result<Result<(HttpResponse, After), Stop>> {
        let limits = &self.config.limits;
        if let BodyFraming::Length(n) = framing {
            if n > limits.max_streamed_body {
                let limit = limits.max_streamed_body;
                return Ok(Err(Stop::Reject(Error::StreamedBodyTooLarge { limit })));
            }
        }
        let (body, mut feed) = BodyFeed::new(framing, cont, &self.config);
        let called =
            std::panic::catch_unwind(AssertUnwindSafe(|| handler.call_streaming(req, body)));
        let resp = match called {
            Ok(mut fut) => {
                // Earlier pipelined responses go out first.
                self.flush().await?;
                std::future::poll_fn(|cx| loop {
                    if let Poll::Ready(resp) = poll_handler(fut.as_mut(), cx) {
                        return Poll::Ready(resp);
                    }
                    let Conn {
                        io,
                        inbuf,
                        out,
                        flushing,
                        ..
                    } = &mut *self;
                    if feed.poll(io, inbuf, out, flushing, cx).is_pending() {
                        return Poll::Pending;
                    }
                })
                .await
            }
            Err(panic) => handler_panicked(&*panic),
        };
        // A `100 Continue` the feed began to write goes out whole, through
        // the same write state, before anything else is written.
        if !self.out.is_empty() {
            self.flush().await?;
        }
        if resp.body().is_stream() && feed.is_read() {
            // Full duplex: the body is still to be read (by the response's
            // stream, say) while the response goes out.
            self.feed = Some(Box::new(feed));
            return Ok(Ok((resp, After::Reading)));
        }
        match feed.settle(&mut self.inbuf, DRAIN_MAX) {
            Ok(After::Reading) => {
                // A short rest, dropped after the response goes out.
                self.feed = Some(Box::new(feed));
                Ok(Ok((resp, After::Reading)))
            }
            Ok(after) => Ok(Ok((resp, after))),
            Err(e) => {
                log::info!(
                    "[{}] dropped the handler's {} answer to a bad request body",
                    PeerIp(self.peer),
                    resp.code()
                );
                Ok(Err(Stop::Reject(e)))
            }
        }
    }

    /// Ends a response to a streaming handler that did not read its whole
    /// body, or that went on reading it while the response went out
    /// ([`After::Reading`], decided now). `kept`: the response went out
    /// whole, saying the connection stays open.
    ///
    /// A body still being read, which a full-duplex response left or an
    /// early answer left short, is then read and dropped to its end if
    /// `kept` (see [`BodyFeed::poll_discard`]), so that a client still
    /// sending gets no reset, and the connection serves the next request if
    /// the body ended whole. Otherwise the connection closes (lingering if
    /// the client may still be sending) unless `kept` and the server is not
    /// stopping. Returns whether the connection serves another request.
    pub(super) async fn after_body(&mut self, mut after: After, kept: bool) -> io::Result<bool> {
        if let Some(mut feed) = self.feed.take() {
            debug_assert_eq!(after, After::Reading);
            if kept {
                self.flush().await?;
                let Conn {
                    io,
                    inbuf,
                    out,
                    flushing,
                    ..
                } = &mut *self;
                std::future::poll_fn(|cx| feed.poll_discard(io, inbuf, out, flushing, cx)).await;
            }
            after = match feed.settle(&mut self.inbuf, 0) {
                Ok(after) => after,
                Err(e) => {
                    // The response is out: it was cut short, or the rest
                    // of the body failed, and the connection closes.
                    log::info!(
                        "[{}] bad request body during or after its response, closing: {e}",
                        PeerIp(self.peer)
                    );
                    After::Close { linger: true }
                }
            };
        }
        let open = kept && !self.app.state.stopping.is_fired();
        if !open || !after.keeps_alive() {
            if after.lingers() {
                self.finish_lingering().await?;
            } else {
                self.finish().await?;
            }
            return Ok(false);
        }
        Ok(true)
    }
}

/// What a read of request body bytes came to: the bytes read, or why the
/// body ends here. A wait the pace cut short (`paced`) answers 408; any other
/// end of the wait, the client's close or reset among them, closes.
fn body_read(
    read: io::Result<ReadEnd>,
    paced: bool,
    clock: &ReadClock,
) -> io::Result<Result<usize, Stop>> {
    match read {
        Ok(ReadEnd::Data(k)) => Ok(Ok(k)),
        Ok(ReadEnd::TimedOut) if paced => Ok(Err(Stop::Reject(clock.error()))),
        Ok(_) => Ok(Err(Stop::Close)),
        Err(e) if is_disconnect(&e) => Ok(Err(Stop::Close)),
        Err(e) => Err(e),
    }
}
