//! [`Handler`]: a type-erased request handler the server can store.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::body::RequestBody;
use crate::into_response::IntoResponse;
use crate::request::HttpRequest;
use crate::response::HttpResponse;

/// A boxed future that need not be `Send`, as o-routines on one loop need not be.
pub type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// A request handler: an `async fn(HttpRequest) -> R`, an async closure, or a
/// closure returning a future, whose result `R` converts into a response ([`IntoResponse`]), boxed
/// so that handlers of different types can share a router.
///
/// Cheap to clone (reference counted); not `Send`, like the o-routines of one
/// event loop. Any such function converts into a `Handler` with `From`, so
/// [`HttpRouter`](crate::HttpRouter) methods accept it directly.
///
/// # Examples
///
/// ```
/// use monocle_http::{Handler, HttpHeaders, HttpRequest};
///
/// async fn hello_http(_req: HttpRequest) -> (u16, HttpHeaders, &'static str) {
///     let content = "Hello, World!";
///     let mut headers = HttpHeaders::new();
///     headers.set("Content-Length", content.len());
///     headers.set("Content-Type", "text/plain");
///     (200, headers, content)
/// }
///
/// let handler = Handler::new(hello_http);
/// let resp = futures_lite::future::block_on(handler.call(HttpRequest::new("GET", "/")));
/// assert_eq!(resp.code(), 200);
/// assert_eq!(resp.text(), "Hello, World!");
/// ```
///
/// An async closure keeps its state across requests, each borrowing it:
///
/// ```
/// use std::cell::Cell;
/// use monocle_http::{Handler, HttpRequest};
///
/// let served = Cell::new(0u32);
/// let handler = Handler::new(async move |req: HttpRequest| {
///     served.set(served.get() + 1);
///     format!("{} is request {}", req.path(), served.get())
/// });
/// let call = |path| futures_lite::future::block_on(handler.call(HttpRequest::new("GET", path)));
/// assert_eq!(call("/a").text(), "/a is request 1");
/// assert_eq!(call("/b").text(), "/b is request 2");
/// ```
///
/// A handler made with [`streaming`](Self::streaming) is called as soon as
/// the request head is in, and reads the body itself as it arrives.
#[derive(Clone)]
pub struct Handler(Rc<dyn Call>);

/// The two kinds of handler behind one pointer, so that calling a buffered
/// handler stays one dynamic call.
trait Call {
    /// Starts handling a request whose body is in `req`.
    fn call(&self, req: HttpRequest) -> LocalBoxFuture<HttpResponse>;

    /// Starts handling a request whose body is read from `body`. The
    /// default, a buffered handler's, drops `body` and calls
    /// [`call`](Self::call): the server never calls one so (it reads the
    /// body first), but a streaming handler wrapping it may.
    fn call_streaming(&self, req: HttpRequest, body: RequestBody) -> LocalBoxFuture<HttpResponse> {
        drop(body);
        self.call(req)
    }

    fn is_streaming(&self) -> bool {
        false
    }
}

/// A handler called once the whole body is in `HttpRequest::body`.
struct Buffered<G>(G);

impl<G> Call for Buffered<G>
where
    G: Fn(HttpRequest) -> LocalBoxFuture<HttpResponse>,
{
    fn call(&self, req: HttpRequest) -> LocalBoxFuture<HttpResponse> {
        (self.0)(req)
    }
}

/// A handler called after the head, with the body to read.
struct Streaming<G>(G);

impl<G> Call for Streaming<G>
where
    G: Fn(HttpRequest, RequestBody) -> LocalBoxFuture<HttpResponse>,
{
    fn call(&self, mut req: HttpRequest) -> LocalBoxFuture<HttpResponse> {
        let body = RequestBody::from(std::mem::take(req.body_mut()));
        (self.0)(req, body)
    }

    fn call_streaming(&self, req: HttpRequest, body: RequestBody) -> LocalBoxFuture<HttpResponse> {
        (self.0)(req, body)
    }

    fn is_streaming(&self) -> bool {
        true
    }
}

impl Handler {
    /// Wraps an async function, an async closure, or a closure returning a
    /// future.
    ///
    /// The future may borrow from the closure: an `async move |req| ..`
    /// closure owns its state (a store, a client, a counter) once, and each
    /// request's future uses it by reference, with no clone per request.
    pub fn new<F, R>(f: F) -> Self
    where
        F: AsyncFn(HttpRequest) -> R + 'static,
        R: IntoResponse,
    {
        let f = Rc::new(f);
        Handler(Rc::new(Buffered(move |req| {
            let f = Rc::clone(&f);
            // The future owns `f`, so the call may borrow it. Its memory is
            // allocated before it is built, so that it is built there: with
            // `Box::pin(async ..)` it would be built on the stack and copied,
            // whole, request and all.
            let fut = Box::new_uninit();
            let fut = Box::write(fut, async move { f(req).await.into_response() });
            Box::into_pin(fut) as LocalBoxFuture<_>
        })))
    }

    /// Wraps an async function or closure that reads the request body as it
    /// arrives, from the [`RequestBody`] it is given beside the request.
    ///
    /// The server calls it as soon as the request head is parsed and routed,
    /// before any of the body is read, so an upload of any size passes
    /// through in bounded memory: the server reads from the client only while
    /// the handler waits for the next chunk, at most one chunk (64 KiB) ahead.
    /// [`HttpRequest::body`] is empty. The handler may answer at any point:
    ///
    /// * Before reading (after checking the headers, say), a client that
    ///   sent `Expect: 100-continue` is never told to send its body: `100
    ///   Continue` goes out only when the handler first asks for a chunk
    ///   (RFC 9110 §10.1.1).
    /// * Before the end of the body, the server discards what is left of a
    ///   `Content-Length` body of at most 64 KiB more and keeps the
    ///   connection; otherwise (a longer or chunked rest, or a body the client
    ///   was never told to send) it answers with `Connection: close` and
    ///   closes (RFC 9112 §9.3).
    ///
    /// A body the client cuts short or stalls fails the handler's read
    /// ([`RequestBody`] lists the errors), and the connection closes after
    /// the handler's answer. A malformed chunked body, one past
    /// [`Limits::max_streamed_body`](crate::Limits::max_streamed_body)
    /// (unlimited unless set; [`Limits::max_body`](crate::Limits::max_body)
    /// does not apply), or one that arrives more slowly than
    /// [`ServerConfig::min_body_rate`](crate::ServerConfig::min_body_rate)
    /// (counted while the handler waits for a chunk, and while the server
    /// reads and drops a rest the handler left unread; the time the handler
    /// spends elsewhere is not counted) is answered 400,
    /// 413 or 408 by the server, in place of the handler's response, as it
    /// would be for a buffered handler.
    ///
    /// Why the body comes as a second argument and not inside the request:
    /// every streaming handler gets one, it cannot be taken twice or by a
    /// handler that does not stream, and [`HttpRequest`] stays `Send` and
    /// `Clone` (the body talks to the connection on its own loop).
    ///
    /// # Full duplex
    ///
    /// A handler may also answer *while* it reads: a response whose body is
    /// a stream ([`HttpResponse::with_stream`]) may hold the `RequestBody`
    /// and go on reading it as the response goes out. Its head is sent at
    /// once (but see `Expect: 100-continue` below); the server then feeds
    /// the body to its reader while it sends the stream's pieces, so an
    /// upload can be echoed, transformed or answered piece by piece as it
    /// arrives. `RequestBody` is itself a [`Stream`](futures_lite::Stream)
    /// of its chunks, so `HttpResponse::new(200).with_stream(body)` echoes
    /// it.
    ///
    /// * A client that sent `Expect: 100-continue` (and sent nothing yet)
    ///   gets `100 Continue` when the stream first reads the body, and the
    ///   response's head waits for it, as an interim response must come
    ///   first. If the stream yields a piece or ends before reading, the
    ///   head goes then: with a `100 Continue` in front while something
    ///   still holds the body (to read it later), else with none and with
    ///   `Connection: close` (the client was never asked for its body, and
    ///   curl, for one, then sends its next request instead).
    /// * The head goes out before anyone knows how much of the body the
    ///   stream will read, saying the connection stays open (unless the
    ///   client asked to close it). So once the whole response has been
    ///   sent, whatever the stream left of the body, of any size and either
    ///   framing, is read and dropped to its end, as nginx discards an
    ///   unread body: a client still sending gets no reset (curl would fail
    ///   its upload though it has the whole answer), and the connection
    ///   serves the next request. The discard is bounded as the body was
    ///   (`read_timeout`, `min_body_rate`, `max_streamed_body`, and
    ///   `drain_timeout` after [`stop`](crate::HttpServer::stop)); a client
    ///   that stalls, trickles, leaves or sends a malformed rest is closed.
    ///   The body can no longer be read then: a reader still holding it
    ///   fails.
    /// * `read_timeout`, `min_body_rate` and `max_streamed_body` still bound
    ///   the body. A body that turns out malformed, oversized or too slow
    ///   cannot be answered 400, 413 or 408 any more, and one the client
    ///   stalls or cuts off fails too: the reader gets the error, the
    ///   response is cut short (no last chunk, or fewer bytes than its
    ///   `Content-Length`, even if its stream ends as if all went well), and
    ///   the connection closes.
    /// * While the body may still be read, the server reads from the
    ///   client as the reader asks (the backpressure above), and at most
    ///   8 KiB further while the reader holds the body without asking, so
    ///   that a client that goes away (or shuts down its sending side, which
    ///   cannot be told apart) is noticed: the response ends there, its
    ///   stream and the body are dropped, and the connection closes.
    /// * HTTP/1.1 does not promise that a client reads the response before
    ///   it has sent its whole request: curl does, and so does a client
    ///   that reads and writes in two threads. One that does not stalls both
    ///   sides once the socket buffers fill, until `read_timeout` closes the
    ///   connection.
    ///
    /// A response whose body is in memory ends the reading: the body is
    /// settled as above as soon as the handler returns.
    ///
    /// ```
    /// use futures_lite::stream;
    /// use monocle_http::{Handler, HttpRequest, HttpResponse, HttpServer, RequestBody};
    ///
    /// let mut server = HttpServer::new(0, |_req: HttpRequest| async { 404 });
    /// // The upload, sent back as it arrives.
    /// server.post(
    ///     "/echo",
    ///     Handler::streaming(async |_req: HttpRequest, body: RequestBody| {
    ///         HttpResponse::new(200).with_stream(body)
    ///     }),
    /// );
    /// // The head at once (a client may act on it), the total once read.
    /// server.post(
    ///     "/count",
    ///     Handler::streaming(async |_req: HttpRequest, mut body: RequestBody| {
    ///         HttpResponse::new(202).with_stream(stream::once_future(async move {
    ///             let mut n = 0;
    ///             while let Some(chunk) = body.next_chunk().await? {
    ///                 n += chunk.len();
    ///             }
    ///             Ok(format!("{n} bytes\n").into_bytes())
    ///         }))
    ///     }),
    /// );
    /// ```
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::{Handler, HttpError, HttpRequest, HttpServer, RequestBody};
    ///
    /// async fn upload(req: HttpRequest, mut body: RequestBody) -> Result<String, HttpError> {
    ///     if req.headers().get("authorization").is_none() {
    ///         // Answered before reading: a client that sent
    ///         // `Expect: 100-continue` never sends the body.
    ///         return Err(HttpError::unauthorized("Basic"));
    ///     }
    ///     let (mut bytes, mut sum) = (0u64, 0u32);
    ///     while let Some(chunk) = body.next_chunk().await? {
    ///         bytes += chunk.len() as u64;
    ///         sum = chunk.iter().fold(sum, |s, &b| s.wrapping_mul(31).wrapping_add(b.into()));
    ///     }
    ///     Ok(format!("{bytes} bytes, sum {sum:08x}\n"))
    /// }
    ///
    /// let mut server = HttpServer::new(0, |_req: HttpRequest| async { 404 });
    /// server.post("/upload", Handler::streaming(upload));
    ///
    /// // Called directly, a streaming handler reads the request's body.
    /// let req = HttpRequest::new("POST", "/upload")
    ///     .with_header("Authorization", "Basic dTpw")
    ///     .with_body("hello");
    /// let resp = futures_lite::future::block_on(Handler::streaming(upload).call(req));
    /// assert_eq!(resp.text(), "5 bytes, sum 05e918d2\n");
    /// ```
    pub fn streaming<F, R>(f: F) -> Self
    where
        F: AsyncFn(HttpRequest, RequestBody) -> R + 'static,
        R: IntoResponse,
    {
        let f = Rc::new(f);
        Handler(Rc::new(Streaming(move |req, body| {
            let f = Rc::clone(&f);
            // Built where it is boxed, as in `new`.
            let fut = Box::new_uninit();
            let fut = Box::write(fut, async move { f(req, body).await.into_response() });
            Box::into_pin(fut) as LocalBoxFuture<_>
        })))
    }

    /// Whether this handler reads the body as it arrives (made with
    /// [`streaming`](Self::streaming)).
    pub fn is_streaming(&self) -> bool {
        self.0.is_streaming()
    }

    /// Starts handling `req`; the future resolves to the response.
    ///
    /// A [streaming](Self::streaming) handler reads the request's body from
    /// memory, as one chunk.
    pub fn call(&self, req: HttpRequest) -> LocalBoxFuture<HttpResponse> {
        self.0.call(req)
    }

    /// Starts handling `req` with its body to read from `body`: how the
    /// server calls a streaming handler. A buffered handler gets `req` as it
    /// is and `body` is dropped.
    ///
    /// A streaming handler that wraps another (to check credentials, or to
    /// log) passes the body on with this; wrapping it with [`new`](Self::new)
    /// and [`call`](Self::call) would make it a buffered handler, held to
    /// `max_body`.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::{Handler, HttpRequest, RequestBody};
    ///
    /// let count = Handler::streaming(async |_req: HttpRequest, mut body: RequestBody| {
    ///     let mut n = 0;
    ///     while let Some(chunk) = body.next_chunk().await? {
    ///         n += chunk.len();
    ///     }
    ///     std::io::Result::Ok(n.to_string())
    /// });
    /// let guarded = Handler::streaming(async move |req: HttpRequest, body: RequestBody| {
    ///     if req.headers().get("x-token") != Some("let-me-in") {
    ///         return monocle_http::HttpResponse::new(403);
    ///     }
    ///     count.call_streaming(req, body).await
    /// });
    ///
    /// let req = HttpRequest::new("POST", "/up").with_header("X-Token", "let-me-in");
    /// let resp = futures_lite::future::block_on(guarded.call_streaming(req, "hello".into()));
    /// assert_eq!(resp.text(), "5");
    /// ```
    pub fn call_streaming(
        &self,
        req: HttpRequest,
        body: RequestBody,
    ) -> LocalBoxFuture<HttpResponse> {
        self.0.call_streaming(req, body)
    }
}

impl<F, R> From<F> for Handler
where
    F: AsyncFn(HttpRequest) -> R + 'static,
    R: IntoResponse,
{
    fn from(f: F) -> Self {
        Handler::new(f)
    }
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_streaming() {
            f.write_str("Handler(streaming)")
        } else {
            f.write_str("Handler(..)")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    use futures_lite::future::block_on;

    use super::*;

    fn get(handler: &Handler, path: &str) -> HttpResponse {
        block_on(handler.call(HttpRequest::new("GET", path)))
    }

    #[test]
    fn async_closure_state_outlives_each_request() {
        // Not `Clone`: the closure can only lend it to each request's future.
        let log = RefCell::new(Vec::new());
        let handler = Handler::new(async move |req: HttpRequest| {
            log.borrow_mut().push(req.path().to_owned());
            log.borrow().join(",")
        });
        assert_eq!(get(&handler, "/a").text(), "/a");
        assert_eq!(get(&handler.clone(), "/b").text(), "/a,/b");
    }

    #[test]
    fn a_future_may_outlive_the_handler_it_came_from() {
        let calls = Rc::new(Cell::new(0));
        let seen = Rc::clone(&calls);
        let handler = Handler::new(async move |_req: HttpRequest| {
            seen.set(seen.get() + 1);
            format!("call {}", seen.get())
        });
        let fut = handler.call(HttpRequest::new("GET", "/"));
        drop(handler);
        assert_eq!(block_on(fut).text(), "call 1");
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn closures_returning_futures_still_convert() {
        let handler: Handler =
            (|req: HttpRequest| async move { format!("at {}", req.path()) }).into();
        assert_eq!(get(&handler, "/x").text(), "at /x");
    }
}
