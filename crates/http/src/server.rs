//! [`HttpServer`]: an HTTP/1.1 server with a router and a default handler.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use std::net::IpAddr;

use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::FutureExt;
use monocle_network::{add_service, add_service_on, Connection, Service, ServiceHandle};
use monocle_stack::{Handle, Loops};

use crate::config::ServerConfig;
use crate::conn::{refuse, Conn};
use crate::handler::{Handler, LocalBoxFuture};
use crate::io::{is_disconnect, with_deadline, Deadline, Signal};
use crate::router::{HttpRouter, IntoPattern};

/// What the connections of one server on one event loop share.
pub(crate) struct App {
    pub(crate) router: RefCell<HttpRouter>,
    pub(crate) fallback: RefCell<Option<Handler>>,
    config: RefCell<ServerConfig>,
    pub(crate) state: ServerState,
    bind: Cell<Option<IpAddr>>,
    service: RefCell<Option<ServiceHandle>>,
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
/// a path routed for other methods only gets 405 with `Allow`, default handler
/// or not (a default handler is often a custom 404 page, which would hide it).
///
/// Per connection it keeps the connection alive (HTTP/1.1, and HTTP/1.0 with
/// `Connection: keep-alive`), answers pipelined requests in order in as few
/// writes as it can, reads `Content-Length` and chunked bodies (sending `100
/// Continue` when asked), sets `Content-Length`, `Server` and `Date`, streams a
/// [`Body::Stream`](crate::Body) in chunks (until the stream ends or the
/// client goes away; see [`BodyStream`](crate::BodyStream)), answers
/// malformed or oversized requests with their 4xx status and closes, and
/// turns a handler's `Err` or panic into a 500 and a log line. Each request
/// is logged at info level: `[ip] METHOD uri proto -> code (bytes, ms);
/// user-agent`. Limits and timeouts are in [`ServerConfig`].
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
                bind: Cell::new(None),
                service: RefCell::new(None),
            }),
        }
    }

    /// The port: while [`start`](Self::start)ed, the one bound (the free port
    /// chosen when the server asked for 0); otherwise the one asked for.
    pub fn port(&self) -> u16 {
        match &*self.app.service.borrow() {
            Some(handle) => handle.port(),
            None => self.port,
        }
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
        let served = Conn::new(app, io, peer)
            .run()
            .or(async {
                state.killed.wait().await;
                Ok(())
            })
            .await;
        match served {
            Err(e) if is_disconnect(&e) => Ok(()),
            served => served,
        }
    }

    /// Listens only on `ip` (all IPv4 interfaces by default), e.g. `[127, 0, 0, 1]`.
    pub fn bind_addr(&mut self, ip: impl Into<IpAddr>) -> &mut Self {
        self.app.bind.set(Some(ip.into()));
        self
    }

    /// The network service serving this server on its port, for the network
    /// layer's `add_service` (monocle's `add_service(HttpServer(port, handler))`).
    /// Add `.tls(config)` to it for HTTPS (feature `tls`).
    ///
    /// Prefer [`start`](Self::start) when you want [`stop`](Self::stop) to also
    /// close the listener; with `add_service(server.service())` stop the
    /// returned handle yourself.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::{HttpClient, HttpRequest, HttpServer};
    /// use monocle_network::add_service;
    ///
    /// monocle_stack::block_on(async {
    ///     let server = HttpServer::new(0, |_req: HttpRequest| async { "Hello, World!" });
    ///     let svc = add_service(server.service().bind_addr([127, 0, 0, 1]))?;
    ///     let url = format!("http://127.0.0.1:{}/", svc.port());
    ///     let resp = HttpClient::query(&url).await?;
    ///     assert_eq!((resp.code(), &*resp.text()), (200, "Hello, World!"));
    ///     svc.stop();
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub fn service(&self) -> Service<impl Fn(Connection) -> LocalBoxFuture<io::Result<()>>> {
        let server = self.clone();
        let service = Service::new(
            move |conn: Connection| -> LocalBoxFuture<io::Result<()>> {
                let server = server.clone();
                Box::pin(async move {
                    let peer = Some(conn.peer_addr());
                    server.serve_connection(conn, peer).await
                })
            },
            self.port,
        );
        match self.app.bind.get() {
            Some(ip) => service.bind_addr(ip),
            None => service,
        }
    }

    /// Starts serving on this thread's event loop; [`stop`](Self::stop) also
    /// closes the listener. Returns the network handle (its
    /// [`port`](ServiceHandle::port) is the real one when the server asked for port 0).
    ///
    /// # Errors
    ///
    /// The port cannot be bound; the server is already started, or was
    /// stopped (a stopped server refuses connections: make a new one).
    pub fn start(&self) -> io::Result<ServiceHandle> {
        self.check_startable()?;
        let handle = add_service(self.service())?;
        *self.app.service.borrow_mut() = Some(handle.clone());
        Ok(handle)
    }

    fn check_startable(&self) -> io::Result<()> {
        if self.is_stopping() {
            return Err(io::Error::other(
                "this HttpServer was stopped and refuses connections; start a new one",
            ));
        }
        if let Some(handle) = &*self.app.service.borrow() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "this HttpServer is already serving on port {}; stop() it first",
                    handle.port()
                ),
            ));
        }
        Ok(())
    }

    /// Starts serving HTTPS with `config` on this thread's event loop
    /// (feature `tls`); otherwise as [`start`](Self::start).
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    #[cfg(feature = "tls")]
    pub fn start_tls(
        &self,
        config: std::sync::Arc<monocle_network::tls::rustls::ServerConfig>,
    ) -> io::Result<ServiceHandle> {
        self.check_startable()?;
        let handle = add_service(self.service().tls(config))?;
        *self.app.service.borrow_mut() = Some(handle.clone());
        Ok(handle)
    }

    /// Starts a server on every loop of `loops`, all sharing `port` through
    /// `SO_REUSEPORT`: `make` (which must be `Send + Sync`) builds each loop's
    /// own `HttpServer` on that loop's thread the first time it gets a
    /// connection, so handlers need not be `Send`. The port and bind address
    /// come from the arguments (TLS from [`start_tls_on`](Self::start_tls_on)'s);
    /// each built server supplies routes, handlers and [`ServerConfig`].
    ///
    /// [`LoopsServer::stop`] on the returned handle stops gracefully on every
    /// loop, as [`stop`](Self::stop) does on one.
    ///
    /// # Errors
    ///
    /// The port cannot be bound, or a loop has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::{HttpClient, HttpRequest, HttpServer};
    /// use monocle_stack::{Handle, Loops};
    ///
    /// let loops = Loops::start(2)?;
    /// let svc = HttpServer::start_on(&loops, 0, Some([127, 0, 0, 1].into()), || {
    ///     HttpServer::new(0, |_req: HttpRequest| async { "Hello, World!" })
    /// })?;
    /// let url = format!("http://127.0.0.1:{}/", svc.port());
    /// let resp = monocle_stack::block_on(HttpClient::query(&url))?;
    /// assert_eq!(resp.text(), "Hello, World!");
    /// monocle_stack::block_on(svc.stop());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn start_on(
        loops: &Loops,
        port: u16,
        bind: Option<IpAddr>,
        make: impl Fn() -> HttpServer + Send + Sync + 'static,
    ) -> io::Result<LoopsServer> {
        Self::start_on_with(
            loops,
            port,
            bind,
            Box::new(make),
            #[cfg(feature = "tls")]
            None,
        )
    }

    /// Starts serving HTTPS with `config` on every loop of `loops` (feature
    /// `tls`); otherwise as [`start_on`](Self::start_on).
    ///
    /// # Errors
    ///
    /// As [`start_on`](Self::start_on).
    #[cfg(feature = "tls")]
    pub fn start_tls_on(
        loops: &Loops,
        port: u16,
        bind: Option<IpAddr>,
        config: std::sync::Arc<monocle_network::tls::rustls::ServerConfig>,
        make: impl Fn() -> HttpServer + Send + Sync + 'static,
    ) -> io::Result<LoopsServer> {
        Self::start_on_with(loops, port, bind, Box::new(make), Some(config))
    }

    fn start_on_with(
        loops: &Loops,
        port: u16,
        bind: Option<IpAddr>,
        make: Box<dyn Fn() -> HttpServer + Send + Sync>,
        #[cfg(feature = "tls")] tls: Option<
            std::sync::Arc<monocle_network::tls::rustls::ServerConfig>,
        >,
    ) -> io::Result<LoopsServer> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            stopped: AtomicBool::new(false),
        });
        let per_loop = PerLoop {
            shared: shared.clone(),
            make,
        };
        let mut service = Service::new(move |conn: Connection| per_loop.serve(conn), port);
        if let Some(ip) = bind {
            service = service.bind_addr(ip);
        }
        #[cfg(feature = "tls")]
        if let Some(config) = tls {
            service = service.tls(config);
        }
        let service = add_service_on(loops, service)?;
        Ok(LoopsServer {
            shared,
            service,
            loops: loops.handles().to_vec(),
        })
    }

    /// Stops gracefully: idle connections close at once, connections busy with
    /// a request finish it and close, and any still open after
    /// [`ServerConfig::drain_timeout`] are closed. Resolves when all are closed.
    pub async fn stop(&self) {
        let state = &self.app.state;
        if let Some(handle) = self.app.service.borrow_mut().take() {
            handle.stop();
        }
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
        if state.active.get() > 0 {
            // Killed connections drop (and uncount) themselves when next polled.
            state.drained.wait().await;
        }
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

/// A server running on several event loops, from [`HttpServer::start_on`]:
/// its address, and a graceful [`stop`](Self::stop) across the loops.
///
/// `Send + Sync + Clone`; dropping it does not stop the server.
#[derive(Clone)]
pub struct LoopsServer {
    shared: Arc<Shared>,
    service: ServiceHandle,
    loops: Vec<Handle>,
}

impl LoopsServer {
    /// The bound address (with the real port when the server asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.service.local_addr()
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// The network service handle of the listeners. Stopping it only closes
    /// the listeners; [`stop`](Self::stop) also drains the connections.
    pub fn service(&self) -> &ServiceHandle {
        &self.service
    }

    /// Stops gracefully on every loop, as [`HttpServer::stop`] does on one:
    /// the listeners close (new connections are refused), idle kept-alive
    /// connections close at once, connections busy with a request finish it
    /// (answered with `Connection: close`) and close, and each loop closes
    /// what is still open after its server's [`ServerConfig::drain_timeout`].
    ///
    /// The stop starts when this is called, from any thread (a loop's own
    /// thread included); the returned future, which may be awaited on any
    /// executor, completes when every listener is closed and every loop is
    /// drained; by then no loop holds the servers that `make` built any more
    /// (nor their handlers and what those captured). A connection that the
    /// listener accepted before it closed but hands over after the stop
    /// started is closed at once, unanswered. Stopping twice is harmless.
    pub fn stop(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        // Set before any loop hears of the stop, so that no loop builds or
        // uses a server once its share of the stop has started (the spawns
        // below order this store before their closures run).
        self.shared.stopped.store(true, Ordering::Release);
        self.service.stop();
        let id = self.shared.id;
        let drains: Vec<_> = self
            .loops
            .iter()
            .map(|lp| lp.spawn(move || stop_on_this_loop(id)))
            .collect();
        let stopped = self.service.stopped();
        async move {
            for drain in drains {
                // A loop that has shut down has no connections left to drain.
                let _ = drain.await;
            }
            stopped.await;
        }
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopped.load(Ordering::Acquire)
    }
}

impl fmt::Debug for LoopsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopsServer")
            .field("addr", &self.local_addr())
            .field("loops", &self.loops.len())
            .field("stopping", &self.is_stopping())
            .finish()
    }
}

/// This loop's share of [`LoopsServer::stop`]: drains server `id` if one was
/// built on this thread, then drops this thread's entry for it.
async fn stop_on_this_loop(id: u64) {
    let Some(server) = loop_server(id) else {
        return;
    };
    server.stop().await;
    // Removed only now, so that a second stop also finds the server and
    // waits for its drain. Nothing adds it back: serve() sees the stopped flag.
    LOOP_SERVERS.with(|servers| servers.borrow_mut().retain(|(i, _)| *i != id));
}

/// This thread's server of [`LoopsServer`] `id`, if one was built here.
fn loop_server(id: u64) -> Option<HttpServer> {
    LOOP_SERVERS.with(|servers| {
        let servers = servers.borrow();
        let found = servers.iter().find(|(i, _)| *i == id);
        found.map(|(_, server)| server.clone())
    })
}

/// What a [`LoopsServer`] shares with its connection handler on every loop.
struct Shared {
    /// The key of its server in each loop thread's [`LOOP_SERVERS`].
    id: u64,
    /// Set by [`LoopsServer::stop`]: from then on no server is built or used
    /// for a new connection, on any loop.
    stopped: AtomicBool,
}

thread_local! {
    /// The servers [`PerLoop`] built on this thread and not yet stopped, by id.
    static LOOP_SERVERS: RefCell<Vec<(u64, HttpServer)>> = const { RefCell::new(Vec::new()) };
}

/// The connection handler of [`HttpServer::start_on`]: `Send + Sync`, it
/// builds (once per loop thread) and then uses that loop's own server.
struct PerLoop {
    shared: Arc<Shared>,
    make: Box<dyn Fn() -> HttpServer + Send + Sync>,
}

impl PerLoop {
    /// Serves one connection with this loop's server, building it if needed;
    /// once the server is stopping, closes the connection at once.
    fn serve(&self, conn: Connection) -> LocalBoxFuture<io::Result<()>> {
        if self.shared.stopped.load(Ordering::Acquire) {
            // Dropped unanswered, which closes it.
            drop(conn);
            return Box::pin(async { Ok(()) });
        }
        let id = self.shared.id;
        let server = loop_server(id).unwrap_or_else(|| {
            let server = (self.make)();
            LOOP_SERVERS.with(|servers| servers.borrow_mut().push((id, server.clone())));
            server
        });
        Box::pin(async move {
            let peer = Some(conn.peer_addr());
            server.serve_connection(conn, peer).await
        })
    }
}
impl fmt::Debug for PerLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerLoop")
            .field("id", &self.shared.id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use super::*;
    use crate::HttpRequest;

    /// How many [`LOOP_SERVERS`] entries each loop of `loops` holds.
    fn entries(loops: &Loops) -> Vec<usize> {
        let count = |lp: &Handle| {
            let count = lp.spawn(|| async { LOOP_SERVERS.with(|s| s.borrow().len()) });
            monocle_stack::block_on(count).unwrap()
        };
        loops.handles().iter().map(count).collect()
    }

    #[test]
    fn stopped_loops_servers_leave_no_entry_on_their_loops() {
        let loops = Loops::start(2).unwrap();
        for cycle in 0..4 {
            let svc = HttpServer::start_on(&loops, 0, Some([127, 0, 0, 1].into()), || {
                HttpServer::new(0, |_req: HttpRequest| async { "hi" })
            })
            .unwrap();
            // Every other cycle serves a request and keeps its connection
            // open through the stop; the others never see a connection.
            let kept = (cycle % 2 == 0).then(|| {
                let mut conn = TcpStream::connect(svc.local_addr()).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let mut got = Vec::new();
                while !got.ends_with(b"\r\n\r\nhi") {
                    let mut chunk = [0; 1024];
                    let n = conn.read(&mut chunk).unwrap();
                    assert!(n > 0, "{}", String::from_utf8_lossy(&got));
                    got.extend_from_slice(&chunk[..n]);
                }
                assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
                // The probe sees the server built on the loop that served.
                assert_eq!(entries(&loops).iter().sum::<usize>(), 1);
                conn
            });
            monocle_stack::block_on(svc.stop());
            assert_eq!(entries(&loops), [0, 0], "after cycle {cycle}");
            if let Some(mut conn) = kept {
                let mut rest = Vec::new();
                conn.read_to_end(&mut rest).unwrap();
                assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
            }
        }
    }
}
