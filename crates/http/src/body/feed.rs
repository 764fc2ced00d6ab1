//! [`BodyFeed`]: the connection's side of a streamed request body, which
//! reads from the socket while the [`RequestBody`] waits and hands it the
//! decoded chunks one at a time, and [`After`]: what the connection does
//! once the handler has answered.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncRead, AsyncWrite};
use monocle_stack::util::{sleep, sleep_until, Sleep};

use super::{End, Pace, RequestBody, Slot};
use crate::chunked::ChunkedDecoder;
use crate::config::ServerConfig;
use crate::error::Error;
use crate::io::{IdleWrite, InBuf};
use crate::parse::BodyFraming;
use crate::write::CONTINUE;

/// The most bytes one read of a `Content-Length` body asks the socket for:
/// the largest chunk a reader gets from such a body.
pub(super) const STREAM_READ: usize = 64 << 10;

/// A read that returns fewer bytes than this is copied into a chunk of its
/// size, and the read buffer kept for the next read; a larger one is handed
/// over as it is.
const SMALL_READ: usize = 4 << 10;

/// Whether a client that sent `Expect: 100-continue` is owed the interim
/// `100 Continue` (RFC 9110 §10.1.1): the one place that decides it, for a
/// body read in full before the handler runs and for a streamed one alike.
///
/// It is sent when the server first reads the body, at most once, and only
/// if none of the body has arrived by then (a client that did not wait
/// needs no go-ahead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Continue {
    /// None is due: the client did not ask, or there is no body.
    NotAsked,
    /// The client asked, and the server has not started reading.
    Owed,
    /// Sent (written into the output buffer).
    Sent,
    /// Not sent: body bytes were in when the server started reading (a
    /// client that did not wait needs no go-ahead), or the final response
    /// went out first (no interim response may follow it).
    Skipped,
}

impl Continue {
    /// What a request with this framing, whose client did or did not send
    /// `Expect: 100-continue`, is owed.
    pub(crate) fn new(expect_continue: bool, framing: BodyFraming) -> Continue {
        let has_body = match framing {
            BodyFraming::Length(n) => n > 0,
            BodyFraming::Chunked => true,
            BodyFraming::Empty | BodyFraming::UntilClose => false,
        };
        if expect_continue && has_body {
            Continue::Owed
        } else {
            Continue::NotAsked
        }
    }

    /// The server starts reading the body: writes `100 Continue` into `out`
    /// when it is owed and nothing of the body is in `inbuf` yet. Later
    /// calls write nothing.
    pub(crate) fn before_reading(&mut self, inbuf: &InBuf, out: &mut Vec<u8>) {
        if *self == Continue::Owed {
            *self = if inbuf.is_empty() {
                out.extend_from_slice(CONTINUE);
                Continue::Sent
            } else {
                Continue::Skipped
            };
        }
    }

    /// As [`before_reading`](Self::before_reading), but the `100 Continue`
    /// goes in front of what `out` holds: nothing, or the head of the final
    /// response, held back until the server first reads the body (full
    /// duplex), which an interim response must precede.
    fn before_held_head(&mut self, inbuf: &InBuf, out: &mut Vec<u8>) {
        let held = out.len();
        self.before_reading(inbuf, out);
        let written = out.len() - held;
        out.rotate_right(written);
    }

    /// Whether a `100 Continue` may still be sent: the client asked, the
    /// server has not started reading, and none of the body is in `inbuf`.
    fn owed(self, inbuf: &InBuf) -> bool {
        self == Continue::Owed && inbuf.is_empty()
    }

    /// The final response's head goes out before the server read the body,
    /// without a `100 Continue`: none may follow it.
    fn forgo(&mut self) {
        if *self == Continue::Owed {
            *self = Continue::Skipped;
        }
    }

    /// Whether the client asked to be told to send its body and never was:
    /// unless some of it arrived anyway, it may never send it.
    pub(crate) fn unanswered(self) -> bool {
        self == Continue::Owed
    }
}

/// What the connection does after a handler answered, by how far the body
/// got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// The body was read to its end: serve the next request.
    KeepAlive,
    /// The body is still being read: the connection keeps its feed, which
    /// goes on feeding the response's stream while the response goes out if
    /// that stream holds the body (full duplex), then discards what is left
    /// of it ([`BodyFeed::poll_discard`]) if the response went out whole, and
    /// decides with [`BodyFeed::settle`]. Counts as keeping the connection
    /// until then.
    Reading,
    /// Send the response with `Connection: close` and close; `linger` when
    /// the client may still be sending body bytes, which are read and
    /// dropped for a moment so the client gets the answer, not a reset.
    Close { linger: bool },
}

impl After {
    pub(crate) fn keeps_alive(self) -> bool {
        matches!(self, After::KeepAlive | After::Reading)
    }

    /// Whether the client may still be sending body bytes when the
    /// connection closes.
    pub(crate) fn lingers(self) -> bool {
        matches!(self, After::Close { linger: true })
    }
}

/// How a body is framed, and how far the feed got.
enum Framing {
    /// This many bytes are still to come.
    Length(u64),
    Chunked(Box<ChunkedDecoder>),
}

/// Where the feed stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Reading,
    Complete,
    /// A body the server refuses: malformed, oversized or too slow.
    Bad(Error),
    /// The connection failed or timed out.
    Broken,
}

/// The connection's side of a streamed body: reads from the socket when the
/// reader waits, decodes, delivers one chunk at a time.
pub(crate) struct BodyFeed {
    slot: Rc<RefCell<Slot>>,
    framing: Framing,
    state: State,
    /// The `100 Continue` owed at the first read.
    cont: Continue,
    /// Body bytes delivered so far, and the `Content-Length`, for messages.
    received: u64,
    length: Option<u64>,
    /// Reads of a `Content-Length` body go here, then to the reader.
    readbuf: Vec<u8>,
    clock: WaitClock,
}

/// The clock of a feed's waits for the client's bytes: each is bounded by
/// `idle` (the read timeout), or sooner by the [`Pace`] the whole body must
/// keep.
struct WaitClock {
    /// Armed when a read waits; fires after `idle` without a byte, or
    /// sooner when the body would fall below `pace` (then `paced`).
    timer: Option<Sleep>,
    idle: Duration,
    pace: Pace,
    paced: bool,
    /// The time spent waiting, but the wait in progress, which started at
    /// `wait_start`.
    waited: Duration,
    wait_start: Option<Instant>,
}

impl WaitClock {
    /// Polls the wait in progress (starting it if none is), `received` body
    /// bytes in: `Ready(paced)` when it ran out, `paced` when that was the
    /// pace's doing rather than the read timeout's.
    fn poll(&mut self, received: u64, cx: &mut Context<'_>) -> Poll<bool> {
        let timer = match &mut self.timer {
            Some(timer) => timer,
            None => {
                let (wait, paced) = self.pace.next_wait(self.idle, received, self.waited);
                let now = Instant::now();
                self.wait_start = Some(now);
                self.paced = paced;
                self.timer.insert(match now.checked_add(wait) {
                    Some(at) => sleep_until(at),
                    None => sleep(wait),
                })
            }
        };
        ready!(Pin::new(timer).poll(cx));
        Poll::Ready(self.paced)
    }

    /// Bounds the waits by `pace` from now on (the time waited so far
    /// counts against it, as against the one it replaces).
    fn repace(&mut self, pace: Pace) {
        self.end_wait();
        self.pace = pace;
    }

    /// The wait is over (bytes came, or the reader no longer asks): its
    /// time counts against the pace, and the next wait starts afresh.
    fn end_wait(&mut self) {
        self.timer = None;
        if let Some(start) = self.wait_start.take() {
            self.waited += start.elapsed();
        }
    }
}

impl BodyFeed {
    /// The reader and the feed of a body framed as `framing`, owed `cont`,
    /// bounded by `config`'s `max_streamed_body`, `read_timeout` (each wait
    /// for the client's bytes) and `min_body_rate`.
    pub(crate) fn new(
        framing: BodyFraming,
        cont: Continue,
        config: &ServerConfig,
    ) -> (RequestBody, BodyFeed) {
        let limits = &config.limits;
        let slot = Rc::new(RefCell::new(Slot::default()));
        let (framing, state, length) = match framing {
            BodyFraming::Length(n) => (Framing::Length(n), State::Reading, Some(n)),
            BodyFraming::Chunked => {
                let streamed = crate::limits::BodyLimit::Streamed;
                let decoder = Box::new(ChunkedDecoder::with_body_limit(limits, streamed));
                (Framing::Chunked(decoder), State::Reading, None)
            }
            BodyFraming::Empty | BodyFraming::UntilClose => {
                slot.borrow_mut().end = End::Complete;
                (Framing::Length(0), State::Complete, Some(0))
            }
        };
        let body = RequestBody {
            buf: Vec::new(),
            pos: 0,
            slot: Some(Rc::clone(&slot)),
            stream_ended: false,
        };
        let feed = BodyFeed {
            slot,
            framing,
            cont,
            state,
            received: 0,
            length,
            readbuf: Vec::new(),
            clock: WaitClock {
                timer: None,
                idle: config.read_timeout,
                pace: Pace::of(config),
                paced: false,
                waited: Duration::ZERO,
                wait_start: None,
            },
        };
        (body, feed)
    }

    /// Does the connection's share of the work while the handler is pending:
    /// `Ready` once something was delivered to the reader (a chunk, the end,
    /// an error), so the handler should be polled again; `Pending` while the
    /// reader does not wait or the client sends nothing.
    ///
    /// `out` is the connection's output buffer, empty but for the head of a
    /// full-duplex response held back for the `100 Continue` this may put
    /// in front of it, and sends with it; `flushing` its write state.
    pub(crate) fn poll<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut IO,
        inbuf: &mut InBuf,
        out: &mut Vec<u8>,
        flushing: &mut IdleWrite,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        if !self.reader_waits() {
            self.clock.end_wait();
            match &mut self.slot.borrow_mut().conn {
                Some(w) if w.will_wake(cx.waker()) => {}
                conn => *conn = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        self.cont.before_held_head(inbuf, out);
        if !out.is_empty() {
            let written = ready!(flushing.poll(io, &[out], self.clock.idle, cx));
            flushing.reset();
            out.clear();
            match written {
                Ok(Some(())) => {}
                Ok(None) => {
                    let e = io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "sending 100 Continue made no progress for {:?}",
                            self.clock.idle
                        ),
                    );
                    return self.fail(e, None, cx);
                }
                Err(e) => return self.fail(e, None, cx),
            }
        }
        match &mut self.framing {
            Framing::Length(remaining) => {
                let remaining = *remaining;
                if !inbuf.is_empty() {
                    let chunk = inbuf.consume_up_to(remaining.min(STREAM_READ as u64));
                    return self.deliver(chunk.to_vec(), cx);
                }
                let want = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(STREAM_READ);
                if self.readbuf.len() < want {
                    self.readbuf.resize(want, 0);
                }
                let n = match Pin::new(&mut *io).poll_read(cx, &mut self.readbuf[..want]) {
                    Poll::Ready(Ok(n)) => n,
                    Poll::Ready(Err(e)) => return self.fail(e, None, cx),
                    Poll::Pending => return self.poll_idle(cx),
                };
                if n == 0 {
                    return self.fail_eof(cx);
                }
                self.clock.end_wait();
                let chunk = if n < SMALL_READ {
                    self.readbuf[..n].to_vec()
                } else {
                    let mut chunk = std::mem::take(&mut self.readbuf);
                    chunk.truncate(n);
                    chunk
                };
                self.deliver(chunk, cx)
            }
            Framing::Chunked(decoder) => loop {
                if !inbuf.is_empty() {
                    // Empty but while a discard recycles its chunks.
                    let mut chunk = std::mem::take(&mut self.readbuf);
                    chunk.clear();
                    let input = &inbuf.data()[..inbuf.len().min(STREAM_READ)];
                    match decoder.decode(input, &mut chunk) {
                        Ok(used) => inbuf.consume(used),
                        Err(e) => {
                            // The bytes before the error come first, as they
                            // would had the error arrived in a later read.
                            self.received += chunk.len() as u64;
                            self.slot.borrow_mut().chunk = chunk;
                            return self.fail(e.clone().into(), Some(e), cx);
                        }
                    }
                    if !chunk.is_empty() || decoder.is_done() {
                        return self.deliver(chunk, cx);
                    }
                }
                let spare = inbuf.spare();
                let room = spare.len().min(STREAM_READ);
                match Pin::new(&mut *io).poll_read(cx, &mut spare[..room]) {
                    Poll::Ready(Ok(0)) => return self.fail_eof(cx),
                    Poll::Ready(Ok(n)) => {
                        inbuf.filled(n);
                        self.clock.end_wait();
                    }
                    Poll::Ready(Err(e)) => return self.fail(e, None, cx),
                    Poll::Pending => return self.poll_idle(cx),
                }
            },
        }
    }

    /// Hands `chunk` (possibly empty at the end) to the reader.
    fn deliver(&mut self, chunk: Vec<u8>, cx: &Context<'_>) -> Poll<()> {
        self.received += chunk.len() as u64;
        let complete = match &mut self.framing {
            Framing::Length(remaining) => {
                *remaining -= chunk.len() as u64;
                *remaining == 0
            }
            Framing::Chunked(decoder) => decoder.is_done(),
        };
        let mut s = self.slot.borrow_mut();
        s.chunk = chunk;
        s.wanted = false;
        if complete {
            self.state = State::Complete;
            s.end = End::Complete;
        }
        let reader = s.reader.take();
        drop(s);
        wake_other(reader, cx);
        Poll::Ready(())
    }

    /// Fails the body with `error` for the reader, after the chunk in the
    /// slot if there is one; `bad` when the client's body itself was at
    /// fault (the server then answers its status).
    fn fail(&mut self, error: io::Error, bad: Option<Error>, cx: &Context<'_>) -> Poll<()> {
        self.state = bad.map_or(State::Broken, State::Bad);
        self.clock.end_wait();
        let mut s = self.slot.borrow_mut();
        s.end = End::failed(error);
        s.wanted = false;
        let reader = s.reader.take();
        drop(s);
        wake_other(reader, cx);
        Poll::Ready(())
    }

    fn fail_eof(&mut self, cx: &Context<'_>) -> Poll<()> {
        let got = self.received;
        let text = match self.length {
            Some(n) => format!(
                "the client closed the connection after {got} of the {n} bytes of the request body"
            ),
            None => format!(
                "the client closed the connection after {got} bytes of a chunked request body, before its last chunk"
            ),
        };
        let e = io::Error::new(io::ErrorKind::UnexpectedEof, text);
        self.fail(e, None, cx)
    }

    /// The client sent nothing: wait, up to the read timeout, or less when
    /// the body would fall below its [`Pace`] first.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.take_pace();
        if ready!(self.clock.poll(self.received, cx)) {
            let e = self.clock.pace.error();
            let error = io::Error::new(io::ErrorKind::TimedOut, e.clone());
            return self.fail(error, Some(e), cx);
        }
        let e = io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the client sent no byte of the request body for {:?} (after {} bytes); raise ServerConfig::read_timeout",
                self.clock.idle, self.received
            ),
        );
        self.fail(e, None, cx)
    }

    /// Takes the least rate the reader set for its body
    /// ([`RequestBody::set_min_rate`]), if it set one since.
    fn take_pace(&mut self) {
        if let Some(pace) = self.slot.borrow_mut().pace.take() {
            self.clock.repace(pace);
        }
    }

    /// Whether the reader waits for a chunk that is not delivered yet: then
    /// (and only then) [`poll`](Self::poll) reads from the client.
    pub(crate) fn reader_waits(&self) -> bool {
        let s = self.slot.borrow();
        self.state == State::Reading && s.wanted && s.chunk.is_empty()
    }

    /// Whether the body may still be read: it is not finished and its
    /// reader is alive (held by the response's stream, say, or by another
    /// o-routine), so the connection goes on feeding it.
    pub(crate) fn is_read(&self) -> bool {
        self.state == State::Reading && Rc::strong_count(&self.slot) > 1
    }

    /// Whether the body failed: the client's body turned out malformed,
    /// oversized or too slow, or the connection failed, timed out or was
    /// closed before its end. (Before [`settle`](Self::settle), which ends
    /// every feed so.)
    pub(crate) fn failed(&self) -> bool {
        matches!(self.state, State::Bad(_) | State::Broken)
    }

    /// Whether the head of a full-duplex response is to be held back until
    /// its stream first reads the body, for the `100 Continue` still owed to
    /// go before it (see [`poll`](Self::poll)); else the head may go now.
    pub(crate) fn owes_continue(&self, inbuf: &InBuf) -> bool {
        self.cont.owed(inbuf)
    }

    /// Writes the `100 Continue` still owed in front of the held head of a
    /// full-duplex response in `out`, whose stream has not read the body
    /// yet but holds it (see [`poll`](Self::poll)).
    pub(crate) fn continue_before_head(&mut self, inbuf: &InBuf, out: &mut Vec<u8>) {
        self.cont.before_held_head(inbuf, out);
    }

    /// A full-duplex response's head goes out, its stream having let the
    /// body go unread: no `100 Continue` may follow.
    pub(crate) fn forgo_continue(&mut self) {
        self.cont.forgo();
    }

    /// Reads the rest of the body and drops it, once a response that said
    /// the connection stays open has gone out: a full-duplex response that
    /// stopped reading the body, or an early answer that left a short rest
    /// ([`After::Reading`] from [`settle`](Self::settle)). The client may
    /// still be sending, and closing on its unread bytes would reset the
    /// connection under it (curl then fails its upload, though it has the
    /// whole answer). `Ready` once the body has ended, whole ([`settle`](Self::settle)
    /// then keeps the connection) or not: the client sent nothing for the
    /// read timeout, fell below the body's least rate (`min_body_rate`, or
    /// the reader's [`RequestBody::set_min_rate`]), left, or sent a
    /// malformed body or one over `max_streamed_body`. No `100 Continue`
    /// goes out now, after the final response: a head that kept the
    /// connection went with one, or to a client sending its body anyway.
    ///
    /// A reader still alive fails at once, as at [`settle`](Self::settle):
    /// the rest is the connection's, read as a reader that drops every chunk
    /// would read it, under the same clock.
    pub(crate) fn poll_discard<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut IO,
        inbuf: &mut InBuf,
        out: &mut Vec<u8>,
        flushing: &mut IdleWrite,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        if self.state != State::Reading {
            return Poll::Ready(());
        }
        self.cont.forgo();
        if Rc::strong_count(&self.slot) > 1 {
            self.detach();
        }
        loop {
            self.slot.borrow_mut().wanted = true;
            ready!(self.poll(io, inbuf, out, flushing, cx));
            if self.state != State::Reading {
                return Poll::Ready(());
            }
            // A large read's buffer serves the next read.
            let chunk = std::mem::take(&mut self.slot.borrow_mut().chunk);
            if self.readbuf.is_empty() {
                self.readbuf = chunk;
            }
        }
    }

    /// Decides what follows the handler's answer, or the end of a response
    /// that went on reading the body, finishing the body from what is
    /// already buffered when it can; the reader's reads fail after this.
    /// `Err` when the client sent a malformed or oversized body: the server
    /// answers that error in place of the handler's response (or, that
    /// response being out, has cut it short), and closes.
    ///
    /// A `Content-Length` rest of at most `rest_max` bytes (0 once the
    /// response is out) is left to read: [`After::Reading`], and the
    /// connection [discards](Self::poll_discard) it after the response, at
    /// the body's least rate (the reader's, if it set one), then settles
    /// again.
    pub(crate) fn settle(&mut self, inbuf: &mut InBuf, rest_max: u64) -> Result<After, Error> {
        let after = match &self.state {
            State::Complete => Ok(After::KeepAlive),
            State::Bad(e) => Err(e.clone()),
            State::Broken => Ok(After::Close { linger: false }),
            State::Reading => Ok(match &mut self.framing {
                Framing::Length(remaining) => {
                    let k = inbuf.consume_up_to(*remaining).len() as u64;
                    *remaining -= k;
                    self.received += k;
                    if *remaining == 0 {
                        After::KeepAlive
                    } else if self.cont.unanswered() && self.received == 0 {
                        // RFC 9110 §10.1.1: the client may never send it.
                        After::Close { linger: true }
                    } else if *remaining <= rest_max {
                        // The response goes out with no 100 in front.
                        self.cont.forgo();
                        self.detach();
                        return Ok(After::Reading);
                    } else {
                        After::Close { linger: true }
                    }
                }
                Framing::Chunked(decoder) => {
                    let mut sink = Vec::new();
                    match decoder.decode(inbuf.data(), &mut sink) {
                        Ok(used) if decoder.is_done() => {
                            inbuf.consume(used);
                            After::KeepAlive
                        }
                        // Where the body ends is not known: close.
                        _ => After::Close { linger: true },
                    }
                }
            }),
        };
        self.let_go_of_reader();
        self.state = State::Broken;
        after
    }

    /// The rest of the body is the connection's: the reader's reads fail
    /// from now on, and the least rate it set (if any) holds for the rest.
    fn detach(&mut self) {
        self.take_pace();
        self.let_go_of_reader();
        self.slot = Rc::default();
    }

    /// The reader reads no more: unless its body ended, its reads fail from
    /// now on.
    fn let_go_of_reader(&mut self) {
        let mut s = self.slot.borrow_mut();
        if s.end.is_open() {
            s.chunk = Vec::new();
            s.end = End::failed(io::Error::other(
                "the request was answered before its body was read to the end; the rest is discarded",
            ));
        }
        let reader = s.reader.take();
        // The reader may outlive the connection: it must not keep the
        // connection task's waker (and so its allocation) alive.
        s.conn = None;
        drop(s);
        if let Some(w) = reader {
            w.wake();
        }
    }
}

impl Drop for BodyFeed {
    /// The connection is gone (closed, or the server was killed): a reader
    /// that outlives it fails.
    fn drop(&mut self) {
        let Ok(mut s) = self.slot.try_borrow_mut() else {
            return;
        };
        s.conn = None;
        if s.end.is_open() {
            s.end = End::failed(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the connection closed before the request body was read",
            ));
            if let Some(w) = s.reader.take() {
                drop(s);
                w.wake();
            }
        }
    }
}

/// Wakes `waker` unless it is the task of `cx`, which polls again anyway.
fn wake_other(waker: Option<Waker>, cx: &Context<'_>) {
    if let Some(w) = waker {
        if !w.will_wake(cx.waker()) {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future::block_on;

    use super::*;

    /// The reader and feed of a body framed as `framing`, with default
    /// limits; `expect` when the client sent `Expect: 100-continue`.
    fn feed(framing: BodyFraming, expect: bool) -> (RequestBody, BodyFeed) {
        let cont = Continue::new(expect, framing);
        BodyFeed::new(framing, cont, &ServerConfig::new())
    }

    fn inbuf(data: &[u8]) -> InBuf {
        let mut inbuf = InBuf::new();
        inbuf.spare()[..data.len()].copy_from_slice(data);
        inbuf.filled(data.len());
        inbuf
    }

    #[test]
    fn continue_is_owed_only_for_a_body_asked_for() {
        use BodyFraming::{Chunked, Empty, Length, UntilClose};
        let table = [
            // expect, framing, body bytes already in, what is written
            (true, Length(5), false, Continue::Sent),
            (true, Chunked, false, Continue::Sent),
            (true, Length(5), true, Continue::Skipped),
            (true, Chunked, true, Continue::Skipped),
            (true, Length(0), false, Continue::NotAsked),
            (true, Empty, false, Continue::NotAsked),
            (true, UntilClose, false, Continue::NotAsked),
            (false, Length(5), false, Continue::NotAsked),
            (false, Chunked, false, Continue::NotAsked),
        ];
        for (expect, framing, arrived, want) in table {
            let mut cont = Continue::new(expect, framing);
            assert_eq!(cont.unanswered(), want != Continue::NotAsked);
            let buffered = inbuf(if arrived { b"hel" } else { b"" });
            let mut out = Vec::new();
            cont.before_reading(&buffered, &mut out);
            assert_eq!(cont, want, "{expect} {framing:?} {arrived}");
            let sent = want == Continue::Sent;
            assert_eq!(out, if sent { CONTINUE } else { b"" }, "{framing:?}");
            assert!(!cont.unanswered());
            // At most once.
            cont.before_reading(&InBuf::new(), &mut out);
            assert_eq!(
                (cont, out.len()),
                (want, if sent { CONTINUE.len() } else { 0 })
            );
        }
    }

    #[test]
    fn continue_goes_in_front_of_a_held_head_or_is_forgone() {
        let mut cont = Continue::new(true, BodyFraming::Length(5));
        assert!(cont.owed(&InBuf::new()));
        assert!(!cont.owed(&inbuf(b"hel")), "body bytes came: none is owed");
        let mut out = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        cont.before_held_head(&InBuf::new(), &mut out);
        assert_eq!(out, [CONTINUE, b"HTTP/1.1 200 OK\r\n\r\n"].concat());
        assert!(!cont.owed(&InBuf::new()));
        // The head went out first: no 100 follows it.
        let mut cont = Continue::new(true, BodyFraming::Chunked);
        cont.forgo();
        let mut out = Vec::new();
        cont.before_held_head(&InBuf::new(), &mut out);
        assert_eq!((cont, out.len()), (Continue::Skipped, 0));
    }

    #[test]
    fn an_empty_framing_is_complete_at_once() {
        let (mut body, mut feed) = feed(BodyFraming::Empty, true);
        assert_eq!(feed.cont, Continue::NotAsked);
        assert_eq!(block_on(body.next_chunk()).unwrap(), None);
        assert_eq!(feed.settle(&mut InBuf::new(), 0), Ok(After::KeepAlive));
    }

    #[test]
    fn a_reader_that_outlives_the_connection_fails() {
        let (mut body, feed) = feed(BodyFraming::Length(10), false);
        drop(feed);
        let e = block_on(body.next_chunk()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
        // And again, rebuilt from its kind and text.
        let again = block_on(body.next_chunk()).unwrap_err();
        assert_eq!((again.kind(), again.to_string()), (e.kind(), e.to_string()));
    }

    #[test]
    fn settle_finishes_a_body_already_buffered() {
        let mut inbuf = inbuf(b"5\r\nhello\r\n0\r\n\r\nGET /");
        let (_body, mut chunked) = feed(BodyFraming::Chunked, false);
        assert_eq!(chunked.settle(&mut inbuf, 0), Ok(After::KeepAlive));
        assert_eq!(inbuf.data(), b"GET /");

        // A rest within the bound is left to discard, and the reader, let
        // go of, fails.
        let (mut body, mut length) = feed(BodyFraming::Length(100), false);
        assert_eq!(length.settle(&mut inbuf, 1000), Ok(After::Reading));
        assert!(block_on(body.next_chunk()).is_err());
        assert_eq!(
            length.settle(&mut inbuf, 0),
            Ok(After::Close { linger: true })
        );
        let (_body, mut length) = feed(BodyFraming::Length(100), false);
        assert_eq!(
            length.settle(&mut inbuf, 10),
            Ok(After::Close { linger: true })
        );
        // Owed a 100 Continue it never got, the client may never send.
        let (_body, mut length) = feed(BodyFraming::Length(100), true);
        assert_eq!(
            length.settle(&mut inbuf, 1000),
            Ok(After::Close { linger: true })
        );
    }
}
