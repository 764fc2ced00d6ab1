//! [`HttpServer`]: an HTTP/1.1 server with a router and a default handler.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::FutureExt;

use crate::config::ServerConfig;
use crate::conn::{refuse, Conn};
use crate::handler::Handler;
use crate::io::{with_deadline, Deadline, Signal};
use crate::router::{HttpRouter, IntoPattern};

/// What the connections of one server on one event loop share.
pub(crate) struct App {
    pub(crate) router: RefCell<HttpRouter>,
    pub(crate) fallback: RefCell<Option<Handler>>,
    config: RefCell<ServerConfig>,
    pub(crate) state: ServerState,
}

impl App {
    pub(crate) fn config(&self) -> ServerConfig {
        self.config.borrow().clone()
    }
}

/// Connection counts and the stop signals.
#[derive(Default)]
pub(crate) struct ServerState {
    /// Fired by `stop()`: finish in-flight requests, close idle connections.
    pub(crate) stopping: Signal,
    /// Fired when the drain deadline passes: close every connection now.
    pub(crate) killed: Signal,
    /// Fired when the last connection closes after `stop()`.
    drained: Signal,
    active: Cell<usize>,
    accepted: Cell<u64>,
}

/// Counts a connection as active while it lives.
struct ActiveGuard<'a>(&'a ServerState);

impl<'a> ActiveGuard<'a> {
    fn new(state: &'a ServerState) -> Self {
        state.active.set(state.active.get() + 1);
        ActiveGuard(state)
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        let n = self.0.active.get() - 1;
        self.0.active.set(n);
        if n == 0 && self.0.stopping.is_fired() {
            self.0.drained.fire();
        }
    }
}

/// An HTTP/1.1 server (monocle's `HttpServer(port, handler)`): routes requests
/// with an [`HttpRouter`], falls back to its default handler, else answers 404;
/// a path routed for other methods only gets 405 with `Allow`.
///
/// Per connection it keeps the connection alive (HTTP/1.1, and HTTP/1.0 with
/// `Connection: keep-alive`), answers pipelined requests in order in as few
/// writes as it can, reads `Content-Length` and chunked bodies (sending `100
/// Continue` when asked), sets `Content-Length`, `Server` and `Date`, streams a
/// [`Body::Stream`](crate::Body) in chunks, answers malformed or oversized
/// requests with their 4xx status and closes, and turns a handler's `Err` or
/// panic into a 500 and a log line. Each request is logged at info level:
/// `[ip] METHOD uri proto -> code (bytes, ms); user-agent`. Limits and
/// timeouts are in [`ServerConfig`].
///
/// The server is cheap to clone (clones share routes, configuration and
/// state); keep a clone to [`stop`](Self::stop) it. It serves any byte stream
/// with [`serve_connection`](Self::serve_connection); the network layer feeds
/// it accepted TCP (or TLS) connections.
///
/// # Examples
///
/// ```
/// use monocle_http::{HttpHeaders, HttpRequest, HttpServer};
///
/// async fn hello_http(_req: HttpRequest) -> (u16, HttpHeaders, &'static str) {
///     let content = "Hello, World!";
///     let mut headers = HttpHeaders::new();
///     headers.set("Content-Length", content.len());
///     headers.set("Content-Type", "text/plain");
///     (200, headers, content)
/// }
///
/// let mut server = HttpServer::new(8088, hello_http);
/// server.get("/items/:id", |req: HttpRequest| async move {
///     format!("item {}", req.param("id").unwrap_or_default())
/// });
/// assert_eq!(server.port(), 8088);
/// ```
#[derive(Clone)]
pub struct HttpServer {
    port: u16,
    pub(crate) app: Rc<App>,
}

impl HttpServer {
    /// A server for `port` whose every request goes to `handler`, unless a
    /// route added later matches.
    pub fn new(port: u16, handler: impl Into<Handler>) -> Self {
        let server = HttpServer::with_router(port, HttpRouter::new());
        *server.app.fallback.borrow_mut() = Some(handler.into());
        server
    }

    /// A server for `port` routing with `router`; unmatched paths get 404.
    pub fn with_router(port: u16, router: HttpRouter) -> Self {
        HttpServer {
            port,
            app: Rc::new(App {
                router: RefCell::new(router),
                fallback: RefCell::new(None),
                config: RefCell::new(ServerConfig::new()),
                state: ServerState::default(),
            }),
        }
    }

    /// The port to listen on (0: any free port, chosen when bound).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sets the default handler, used when no route matches the path.
    pub fn set_default(&mut self, handler: impl Into<Handler>) -> &mut Self {
        *self.app.fallback.borrow_mut() = Some(handler.into());
        self
    }

    /// Replaces the limits and timeouts (affects connections accepted afterwards).
    pub fn set_config(&mut self, config: ServerConfig) -> &mut Self {
        *self.app.config.borrow_mut() = config;
        self
    }

    /// The limits and timeouts.
    pub fn config(&self) -> ServerConfig {
        self.app.config()
    }

    /// Adds a route for `method` (see [`HttpRouter::route`]).
    ///
    /// # Panics
    ///
    /// If `pattern` does not compile.
    #[track_caller]
    pub fn route(
        &mut self,
        method: &str,
        pattern: impl IntoPattern,
        handler: impl Into<Handler>,
    ) -> &mut Self {
        self.app.router.borrow_mut().route(method, pattern, handler);
        self
    }

    /// The routes, to change with [`HttpRouter`]'s methods.
    pub fn with_routes(&mut self, f: impl FnOnce(&mut HttpRouter)) -> &mut Self {
        f(&mut self.app.router.borrow_mut());
        self
    }

    /// Adds a `GET` route (which also answers `HEAD`).
    #[track_caller]
    pub fn get(&mut self, pattern: impl IntoPattern, handler: impl Into<Handler>) -> &mut Self {
        self.route("GET", pattern, handler)
    }

    /// Adds a `POST` route.
    #[track_caller]
    pub fn post(&mut self, pattern: impl IntoPattern, handler: impl Into<Handler>) -> &mut Self {
        self.route("POST", pattern, handler)
    }

    /// Adds a `PUT` route.
    #[track_caller]
    pub fn put(&mut self, pattern: impl IntoPattern, handler: impl Into<Handler>) -> &mut Self {
        self.route("PUT", pattern, handler)
    }

    /// Adds a `DELETE` route.
    #[track_caller]
    pub fn delete(&mut self, pattern: impl IntoPattern, handler: impl Into<Handler>) -> &mut Self {
        self.route("DELETE", pattern, handler)
    }

    /// Adds a `HEAD` route.
    #[track_caller]
    pub fn head(&mut self, pattern: impl IntoPattern, handler: impl Into<Handler>) -> &mut Self {
        self.route("HEAD", pattern, handler)
    }

    /// Adds an `OPTIONS` route.
    #[track_caller]
    pub fn options(&mut self, pattern: impl IntoPattern, handler: impl Into<Handler>) -> &mut Self {
        self.route("OPTIONS", pattern, handler)
    }

    /// Adds a `PATCH` route.
    #[track_caller]
    pub fn patch(&mut self, pattern: impl IntoPattern, handler: impl Into<Handler>) -> &mut Self {
        self.route("PATCH", pattern, handler)
    }

    /// Serves HTTP/1.1 on one connection until it closes. The network layer
    /// calls this for each accepted connection; call it yourself to serve
    /// another kind of byte stream.
    ///
    /// A connection past [`ServerConfig::max_connections`] is answered 503 and
    /// closed; after [`stop`](Self::stop) new connections are closed at once.
    ///
    /// # Errors
    ///
    /// An I/O error of the connection other than the peer going away.
    pub async fn serve_connection<IO>(&self, io: IO, peer: Option<SocketAddr>) -> io::Result<()>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let app = &*self.app;
        let state = &app.state;
        state.accepted.set(state.accepted.get() + 1);
        if state.stopping.is_fired() {
            return Ok(());
        }
        if state.active.get() >= app.config.borrow().max_connections {
            log::warn!(
                "refused a connection with 503: {} connections are open; raise ServerConfig::max_connections",
                state.active.get()
            );
            return refuse(io).await;
        }
        let _active = ActiveGuard::new(state);
        Conn::new(app, io, peer)
            .run()
            .or(async {
                state.killed.wait().await;
                Ok(())
            })
            .await
    }

    /// Stops gracefully: idle connections close at once, connections busy with
    /// a request finish it and close, and any still open after
    /// [`ServerConfig::drain_timeout`] are closed. Resolves when all are closed.
    pub async fn stop(&self) {
        let state = &self.app.state;
        state.stopping.fire();
        if state.active.get() > 0 {
            let drain = self.app.config.borrow().drain_timeout;
            if with_deadline(Deadline::After(drain), state.drained.wait())
                .await
                .is_none()
            {
                log::warn!(
                    "{} connections still busy {drain:?} after stop(); closing them",
                    state.active.get()
                );
            }
        }
        state.killed.fire();
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopping(&self) -> bool {
        self.app.state.stopping.is_fired()
    }

    /// How many connections this server has been handed (on this event loop).
    pub fn connections_accepted(&self) -> u64 {
        self.app.state.accepted.get()
    }

    /// How many connections are open now (on this event loop).
    pub fn active_connections(&self) -> usize {
        self.app.state.active.get()
    }
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("port", &self.port)
            .field("routes", &self.app.router.borrow().len())
            .field("active_connections", &self.active_connections())
            .finish()
    }
}
