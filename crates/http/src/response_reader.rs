//! [`ResponseReader`]: a client's response whose body is read piece by piece.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_lite::io::AsyncRead;

use crate::client::HttpClient;
use crate::exchange::{reusable, Rest};
use crate::headers::HttpHeaders;
use crate::io::Deadline;
use crate::limits::{BodyLimit, Limits};
use crate::parse::ResponseHead;
use crate::request::HttpRequest;
use crate::response_body::{BodyError, BodyFailure, BodyReader};
use crate::version::Version;

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
/// The body is therefore not bounded by [`Limits::max_body`], which bounds
/// the bodies [`request`](HttpClient::request) holds in memory, but by
/// [`Limits::max_streamed_body`], unlimited by default (deciding what to
/// keep is the caller's): a `Content-Length` past it fails
/// [`request_reader`](HttpClient::request_reader) before a reader is made,
/// a chunked body or one read until the server closes that grows past it
/// fails the read that would pass it. The other limits ([`max_head`](Limits::max_head),
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
/// coding that is malformed or past its limits, a body past
/// [`max_streamed_body`](Limits::max_streamed_body) (`InvalidData`), and
/// the timeout (`TimedOut`). For a body that runs until close, the server
/// closing is its end but a reset is still an error. Each message names the
/// request and, but for the body limit's (which names its setter instead),
/// how much of the body came, in the same words as
/// [`request`](HttpClient::request)'s for the same reply. After an error the
/// connection is closed and every later read fails again.
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
    /// `client`'s connection or in its input buffer alone, as `rest` says;
    /// the body is held to `limits.max_streamed_body`.
    ///
    /// # Errors
    ///
    /// A `Content-Length` past that limit: the connection is closed.
    pub(crate) fn new(
        client: &'a mut HttpClient,
        req: HttpRequest,
        head: ResponseHead,
        rest: Rest,
        limits: &Limits,
    ) -> io::Result<Self> {
        let idle = client.timeout().map_or(Deadline::Never, Deadline::After);
        let body = match BodyReader::new(head.framing(), limits, BodyLimit::Streamed, idle) {
            Ok(body) => body,
            Err(e) => {
                client.close();
                let what = client.describe(&req);
                let failure = BodyFailure::new(BodyError::TooLarge(e), head.framing(), 0);
                return Err(failure.into_io(&what, client.timeout()));
            }
        };
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
        Ok(reader)
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
        if !reusable(
            &self.head,
            self.rest.connection_reusable(),
            inbuf,
            &self.req,
        ) {
            self.client.close();
        }
    }

    /// The body failed: the connection is closed, and the error, naming the
    /// request and worded as [`HttpClient::request`] words it, is kept for
    /// the reads to come.
    fn fail(&mut self, e: BodyError) -> io::Error {
        self.settled = true;
        self.client.close();
        let what = self.client.describe(&self.req);
        let e = self.body.failure(e).into_io(&what, self.client.timeout());
        self.failure = Some((e.kind(), e.to_string()));
        e
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
            .field("read", &self.body.read())
            .field("finished", &self.body.is_done())
            .field("failed", &self.failure.is_some())
            .finish()
    }
}
