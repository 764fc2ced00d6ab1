//! [`Handler`]: a type-erased request handler the server can store.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::into_response::IntoResponse;
use crate::request::HttpRequest;
use crate::response::HttpResponse;

/// A boxed future that need not be `Send`, as o-routines on one loop need not be.
pub type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// A request handler: an `async fn(HttpRequest) -> R` (or a closure returning a
/// future) whose result `R` converts into a response ([`IntoResponse`]), boxed
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
#[derive(Clone)]
pub struct Handler(Rc<dyn Fn(HttpRequest) -> LocalBoxFuture<HttpResponse>>);

impl Handler {
    /// Wraps an async function or a closure returning a future.
    pub fn new<F, Fut, R>(f: F) -> Self
    where
        F: Fn(HttpRequest) -> Fut + 'static,
        Fut: Future<Output = R> + 'static,
        R: IntoResponse,
    {
        Handler(Rc::new(move |req| {
            let fut = f(req);
            Box::pin(async move { fut.await.into_response() })
        }))
    }

    /// Starts handling `req`; the future resolves to the response.
    pub fn call(&self, req: HttpRequest) -> LocalBoxFuture<HttpResponse> {
        (self.0)(req)
    }
}

impl<F, Fut, R> From<F> for Handler
where
    F: Fn(HttpRequest) -> Fut + 'static,
    Fut: Future<Output = R> + 'static,
    R: IntoResponse,
{
    fn from(f: F) -> Self {
        Handler::new(f)
    }
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Handler(..)")
    }
}
