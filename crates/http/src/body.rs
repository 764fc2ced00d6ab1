//! [`RequestBody`]: a request body that a [streaming
//! handler](crate::Handler::streaming) reads as it arrives; its `feed`
//! module holds [`BodyFeed`], the connection's side of the hand-off that
//! fills it.
//!
//! The connection owns the socket; the handler owns the `RequestBody`. They
//! share one [`Slot`] holding at most one decoded chunk: the connection reads
//! from the socket only while the reader waits and the slot is empty, so a
//! slow handler holds the client back through TCP flow control, and the
//! server never reads more than one chunk (at most [`feed::STREAM_READ`] bytes, or
//! the connection's input buffer) ahead of it. (While a full-duplex response
//! goes out, the connection also reads a few KiB ahead into its input buffer
//! when the reader does not wait, to see the client leave; the feed takes
//! from that buffer first.)

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use futures_lite::io::AsyncRead;
use futures_lite::Stream;

mod feed;
mod pace;

pub(crate) use feed::{After, BodyFeed, Continue};
pub(crate) use pace::{Pace, ReadClock};

/// A request body read piece by piece as the client sends it: what a
/// [streaming handler](crate::Handler::streaming) is given.
///
/// Read it with [`next_chunk`](Self::next_chunk), or as an [`AsyncRead`]
/// (`futures_lite::io::copy(body, &mut file)`, `read_to_end`...). Chunks
/// arrive decoded (no chunked framing), each at most 64 KiB, in order; the
/// end of the body is `Ok(None)` (or a read of 0 bytes).
///
/// A body that does not arrive whole is an error, never a short body: the
/// client closing or resetting the connection part way
/// ([`UnexpectedEof`](io::ErrorKind::UnexpectedEof),
/// [`ConnectionReset`](io::ErrorKind::ConnectionReset)), no byte for
/// [`ServerConfig::read_timeout`](crate::ServerConfig::read_timeout) while
/// the handler waits ([`TimedOut`](io::ErrorKind::TimedOut)), a body that
/// arrives more slowly than
/// [`ServerConfig::min_body_rate`](crate::ServerConfig::min_body_rate)
/// (or [`set_min_rate`](Self::set_min_rate)) allows
/// ([`TimedOut`](io::ErrorKind::TimedOut), wrapping
/// [`Error::BodyTooSlow`](crate::Error::BodyTooSlow)), a malformed chunked
/// body or one over
/// [`Limits::max_streamed_body`](crate::Limits::max_streamed_body)
/// ([`InvalidData`](io::ErrorKind::InvalidData), wrapping the
/// [`Error`](crate::Error)). After an error every read fails again.
///
/// It is `'static`, so it can move into another o-routine of the same loop,
/// or into the handler's streamed response, which may read it as it goes
/// out ([full duplex](crate::Handler::streaming)); it is also a
/// [`Stream`] of its chunks. The server feeds it until the handler answers,
/// or, when the answer is a streamed response and the body is still held,
/// until that response has been sent; reading the rest after that fails
/// (the server has discarded it or closed the connection). It is not
/// `Send`: it talks to the connection's o-routine on the same loop without
/// locks.
///
/// `RequestBody::from(bytes)` makes one from a body in memory, which is what
/// [`Handler::call`](crate::Handler::call) gives a streaming handler: it
/// yields the bytes as one chunk.
///
/// # Examples
///
/// ```
/// use monocle_http::RequestBody;
///
/// futures_lite::future::block_on(async {
///     let mut body = RequestBody::from(b"hello".to_vec());
///     assert_eq!(body.next_chunk().await?, Some(b"hello".to_vec()));
///     assert_eq!(body.next_chunk().await?, None);
///
///     use futures_lite::io::AsyncReadExt;
///     let mut text = String::new();
///     RequestBody::from("as a reader").read_to_string(&mut text).await?;
///     assert_eq!(text, "as a reader");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct RequestBody {
    /// Bytes taken from the source and not yet returned: the body itself for
    /// one in memory, or the rest of a chunk an `AsyncRead` read in part.
    buf: Vec<u8>,
    /// How much of `buf` was returned.
    pos: usize,
    /// The connection feeding the body; `None` for a body in memory.
    slot: Option<Rc<RefCell<Slot>>>,
    /// As a [`Stream`], it ended (at the end of the body, or after yielding
    /// an error).
    stream_ended: bool,
}

/// The state the reader and the connection share.
#[derive(Default)]
struct Slot {
    /// A decoded piece the connection delivered and the reader has not
    /// taken; empty when there is none.
    chunk: Vec<u8>,
    /// The reader waits for a chunk. The connection reads from the socket
    /// only while this is set (and `chunk` is empty): that is the backpressure.
    wanted: bool,
    /// How the body ended, once it has.
    end: End,
    /// Woken when a chunk or the end is delivered.
    reader: Option<Waker>,
    /// Woken when the reader starts waiting (it may run in another o-routine).
    conn: Option<Waker>,
    /// The least rate the reader set for its body, until the feed takes it.
    pace: Option<Pace>,
}

/// How a streamed body ended.
#[derive(Default)]
enum End {
    #[default]
    Open,
    /// Every byte was delivered.
    Complete,
    /// The body failed; the error is handed out once, then rebuilt from its
    /// kind and text.
    Failed {
        error: Option<io::Error>,
        kind: io::ErrorKind,
        text: String,
    },
}

impl End {
    fn failed(error: io::Error) -> End {
        End::Failed {
            kind: error.kind(),
            text: error.to_string(),
            error: Some(error),
        }
    }

    fn is_open(&self) -> bool {
        matches!(self, End::Open)
    }
}

impl RequestBody {
    /// The next piece of the body, `Ok(None)` at its end.
    ///
    /// The first call on a request sent with `Expect: 100-continue` sends
    /// the client `100 Continue` (unless some of the body came anyway): a
    /// body never read, by the handler or by its response's stream ([full
    /// duplex](crate::Handler::streaming)), is never asked for.
    ///
    /// # Errors
    ///
    /// When the body does not arrive whole (see the [type's
    /// documentation](Self)); every later call fails too.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::RequestBody;
    ///
    /// async fn count(mut body: RequestBody) -> std::io::Result<u64> {
    ///     let mut n = 0;
    ///     while let Some(chunk) = body.next_chunk().await? {
    ///         n += chunk.len() as u64;
    ///     }
    ///     Ok(n)
    /// }
    /// let n = futures_lite::future::block_on(count(RequestBody::from(vec![7; 1000])));
    /// assert_eq!(n.unwrap(), 1000);
    /// ```
    pub async fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        struct Unwant<'a>(&'a Option<Rc<RefCell<Slot>>>);
        impl Drop for Unwant<'_> {
            fn drop(&mut self) {
                if let Some(Ok(mut s)) = self.0.as_ref().map(|s| s.try_borrow_mut()) {
                    s.wanted = false;
                }
            }
        }
        let slot = self.slot.clone();
        let _guard = Unwant(&slot);
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// Sets the least rate this body must arrive at, in place of
    /// [`ServerConfig::min_body_rate`](crate::ServerConfig::min_body_rate)
    /// (same rule: the server waits for the body up to `grace`, plus one
    /// second for every `bytes_per_second` bytes received; 0 turns it off),
    /// for a route that expects slow, long-lived uploads (log shipping, an
    /// interactive full-duplex exchange) or one that wants them brisker.
    ///
    /// It counts from the start of the body, as the server's does, from the
    /// next wait for the client's bytes on: set it before reading. It
    /// bounds the body while the server feeds it to its reader, and while
    /// the server drops what the handler leaves unread: the rest of up to
    /// 64 KiB after an early answer, or what a
    /// [full-duplex](crate::Handler::streaming) response leaves.
    /// [`read_timeout`](crate::ServerConfig::read_timeout) still bounds each
    /// wait. A body in memory has nothing to wait for: this does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use monocle_http::{Handler, HttpRequest, RequestBody};
    ///
    /// // Log lines as they come, however slowly: no least rate.
    /// let tail = Handler::streaming(async |_req: HttpRequest, mut body: RequestBody| {
    ///     body.set_min_rate(0, Duration::ZERO);
    ///     let mut lines = 0;
    ///     while let Some(chunk) = body.next_chunk().await? {
    ///         lines += chunk.iter().filter(|&&b| b == b'\n').count();
    ///     }
    ///     std::io::Result::Ok(format!("{lines} lines\n"))
    /// });
    /// # let _ = tail;
    /// ```
    pub fn set_min_rate(&mut self, bytes_per_second: u64, grace: Duration) -> &mut Self {
        if let Some(slot) = &self.slot {
            slot.borrow_mut().pace = Some(Pace::new(bytes_per_second, grace));
        }
        self
    }

    /// Polls for the next piece of the body (see [`next_chunk`](Self::next_chunk)).
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Vec<u8>>>> {
        if self.pos < self.buf.len() {
            let mut rest = std::mem::take(&mut self.buf);
            rest.drain(..self.pos);
            self.pos = 0;
            return Poll::Ready(Ok(Some(rest)));
        }
        self.poll_slot(cx)
    }

    /// Takes the chunk the connection delivered, or waits for one.
    fn poll_slot(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Vec<u8>>>> {
        let Some(slot) = &self.slot else {
            return Poll::Ready(Ok(None));
        };
        let mut s = slot.borrow_mut();
        if !s.chunk.is_empty() {
            return Poll::Ready(Ok(Some(std::mem::take(&mut s.chunk))));
        }
        match &mut s.end {
            End::Complete => return Poll::Ready(Ok(None)),
            End::Failed { error, kind, text } => {
                let e = error
                    .take()
                    .unwrap_or_else(|| io::Error::new(*kind, text.clone()));
                return Poll::Ready(Err(e));
            }
            End::Open => {}
        }
        s.wanted = true;
        match &mut s.reader {
            Some(w) if w.will_wake(cx.waker()) => {}
            reader => *reader = Some(cx.waker().clone()),
        }
        // The connection needs waking only when it runs in another task (the
        // handler's own future is polled by the connection's task, which
        // looks at the slot as soon as the handler is pending).
        let conn = s.conn.take().filter(|w| !w.will_wake(cx.waker()));
        drop(s);
        if let Some(w) = conn {
            w.wake();
        }
        Poll::Pending
    }
}

impl From<Vec<u8>> for RequestBody {
    fn from(body: Vec<u8>) -> Self {
        RequestBody {
            buf: body,
            pos: 0,
            slot: None,
            stream_ended: false,
        }
    }
}

impl From<&[u8]> for RequestBody {
    fn from(body: &[u8]) -> Self {
        RequestBody::from(body.to_vec())
    }
}

impl From<&str> for RequestBody {
    fn from(body: &str) -> Self {
        RequestBody::from(body.as_bytes().to_vec())
    }
}

impl Default for RequestBody {
    /// An empty body.
    fn default() -> Self {
        RequestBody::from(Vec::new())
    }
}

impl AsyncRead for RequestBody {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.pos == this.buf.len() {
            match ready!(this.poll_slot(cx))? {
                Some(chunk) => {
                    this.buf = chunk;
                    this.pos = 0;
                }
                None => return Poll::Ready(Ok(0)),
            }
        }
        let n = out.len().min(this.buf.len() - this.pos);
        out[..n].copy_from_slice(&this.buf[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(n))
    }
}

/// The body's chunks, as [`next_chunk`](RequestBody::next_chunk) gives them,
/// so that a handler's response can stream them back out (see [full
/// duplex](crate::Handler::streaming)). An error is the last
/// item: the stream ends after it.
///
/// # Examples
///
/// ```
/// use futures_lite::StreamExt;
/// use monocle_http::{Handler, HttpRequest, HttpResponse, RequestBody};
///
/// // Echoes the body, upper-cased, as it arrives.
/// let shout = Handler::streaming(async |_req: HttpRequest, body: RequestBody| {
///     HttpResponse::new(200).with_stream(body.map(|chunk| {
///         chunk.map(|c| c.to_ascii_uppercase())
///     }))
/// });
/// # let _ = shout;
///
/// let pieces: Vec<_> = futures_lite::future::block_on(RequestBody::from("hi").collect());
/// assert_eq!(pieces.len(), 1);
/// assert_eq!(pieces[0].as_ref().unwrap(), b"hi");
/// ```
impl Stream for RequestBody {
    type Item = io::Result<Vec<u8>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.stream_ended {
            return Poll::Ready(None);
        }
        let item = ready!(this.poll_chunk(cx)).transpose();
        this.stream_ended = !matches!(item, Some(Ok(_)));
        Poll::Ready(item)
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            // Nobody waits any more: the connection stops reading for the
            // body, and is told (a response still going out then watches
            // the connection itself).
            if let Ok(mut s) = slot.try_borrow_mut() {
                s.wanted = false;
                s.reader = None;
                let conn = s.conn.take();
                drop(s);
                if let Some(w) = conn {
                    w.wake();
                }
            }
        }
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = if self.slot.is_some() {
            "connection"
        } else {
            "memory"
        };
        f.debug_struct("RequestBody")
            .field("source", &source)
            .field("buffered", &(self.buf.len() - self.pos))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future::block_on;
    use futures_lite::io::AsyncReadExt;

    use super::*;

    #[test]
    fn a_body_in_memory_is_one_chunk() {
        block_on(async {
            let mut body = RequestBody::from(vec![1, 2, 3]);
            assert_eq!(body.next_chunk().await.unwrap(), Some(vec![1, 2, 3]));
            assert_eq!(body.next_chunk().await.unwrap(), None);
            assert_eq!(body.next_chunk().await.unwrap(), None);
            let mut empty = RequestBody::default();
            assert_eq!(empty.next_chunk().await.unwrap(), None);
        });
    }

    #[test]
    fn as_a_stream_it_ends_after_the_body_or_an_error() {
        use futures_lite::StreamExt;
        block_on(async {
            let mut body = RequestBody::from("ab");
            assert_eq!(body.next().await.unwrap().unwrap(), b"ab");
            assert!(body.next().await.is_none());
            assert!(body.next().await.is_none());
            // A body whose connection is gone fails once, then ends; its
            // reads go on failing.
            let slot = Rc::new(RefCell::new(Slot {
                end: End::failed(io::Error::other("gone")),
                ..Slot::default()
            }));
            let mut failed = RequestBody {
                buf: Vec::new(),
                pos: 0,
                slot: Some(slot),
                stream_ended: false,
            };
            assert_eq!(
                failed.next().await.unwrap().unwrap_err().to_string(),
                "gone"
            );
            assert!(failed.next().await.is_none());
            assert!(failed.next_chunk().await.is_err());
        });
    }

    #[test]
    fn async_read_in_small_pieces_then_the_rest_as_a_chunk() {
        block_on(async {
            let mut body = RequestBody::from("abcdefgh");
            let mut two = [0u8; 2];
            body.read_exact(&mut two).await.unwrap();
            assert_eq!(&two, b"ab");
            assert_eq!(body.next_chunk().await.unwrap(), Some(b"cdefgh".to_vec()));
            assert_eq!(body.read(&mut two).await.unwrap(), 0);
        });
    }
}
