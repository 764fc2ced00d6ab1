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
#[derive(Clone)]
pub struct Handler(Rc<dyn Fn(HttpRequest) -> LocalBoxFuture<HttpResponse>>);

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
        Handler(Rc::new(move |req| {
            let f = Rc::clone(&f);
            // The future owns `f`, so the call may borrow it.
            Box::pin(async move { f(req).await.into_response() })
        }))
    }

    /// Starts handling `req`; the future resolves to the response.
    pub fn call(&self, req: HttpRequest) -> LocalBoxFuture<HttpResponse> {
        (self.0)(req)
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
        f.write_str("Handler(..)")
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
