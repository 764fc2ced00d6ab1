//! [`Service`], [`add_service`], [`add_service_on`] and [`ServiceHandle`].

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_lite::FutureExt;
use monocle_core::{named, Callback};
use monocle_stack::reactor::Source;
use monocle_stack::{launch, Handle, Loops};

use crate::connection::Connection;
use crate::error::{ConnectionLost, Reason};
use crate::stream::{Stream, Tcp};

/// How long the accept loop pauses after an error such as `EMFILE` (out of file
/// descriptors) before it tries again.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// What a connection handler may return: `()` or a `Result`, whose `Err` is logged.
pub trait HandlerOutput {
    /// A description of the failure, or `None` for success. Losing a connection
    /// because the peer closed or reset it is not a failure: peers do that
    /// (a client killed, a browser tab closed), and the server has nothing to
    /// mend.
    fn failure(self) -> Option<String>;
}

impl HandlerOutput for () {
    fn failure(self) -> Option<String> {
        None
    }
}

impl<T, E: fmt::Display + 'static> HandlerOutput for Result<T, E> {
    fn failure(self) -> Option<String> {
        let e = self.err()?;
        let any: &dyn std::any::Any = &e;
        let lost = any
            .downcast_ref::<ConnectionLost>()
            .or_else(|| {
                any.downcast_ref::<crate::Error>()
                    .and_then(|e| e.as_connection_lost())
            })
            .or_else(|| {
                any.downcast_ref::<io::Error>()
                    .and_then(|e| e.get_ref())
                    .and_then(|e| e.downcast_ref::<ConnectionLost>())
            });
        if lost.is_some_and(|l| matches!(l.reason(), Reason::ClosedByPeer | Reason::Reset)) {
            return None;
        }
        Some(e.to_string())
    }
}

/// A TCP service: a handler run for every accepted connection, and where to listen.
///
/// The handler gets the [`Connection`] by value and runs as its own o-routine, named
/// `conn <peer address>`; the connection is closed when the handler returns (when
/// the handler drops it). A handler that returns an `Err` or panics is logged
/// through `log` with the peer's address, and the service goes on. A handler that
/// ends because the peer closed or reset the connection (a [`ConnectionLost`]
/// with [`Reason::ClosedByPeer`] or [`Reason::Reset`]) is not an error.
///
/// Start it with [`add_service`] (this thread's loop) or [`add_service_on`] (every
/// loop of a [`Loops`]).
///
/// Its settings ([`bind_addr`](Self::bind_addr), [`backlog`](Self::backlog),
/// ...) take and return the service by value: it is a description used once,
/// which `add_service` takes whole, handler included, so one expression
/// builds and starts it. A setting chosen at run time reassigns it
/// (`service = service.backlog(n)`). An `HttpServer`, which lives on while it
/// serves and whose routes may change meanwhile, is set through `&mut self`
/// instead.
///
/// ```
/// use monocle_network::{add_service, Connection, Service};
///
/// monocle_stack::block_on(async {
///     let svc = Service::new(|mut conn: Connection| async move {
///         conn.write(b"hi\n").await
///     }, 0)
///     .bind_addr([127, 0, 0, 1])
///     .backlog(64);
///     let handle = add_service(svc)?;
///     assert_ne!(handle.port(), 0); // port 0 picks a free port
///     handle.stop();
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct Service<H> {
    handler: H,
    addr: SocketAddr,
    backlog: u32,
    config: ConnConfig,
}

/// Settings applied to every accepted connection.
#[derive(Clone)]
pub(crate) struct ConnConfig {
    pub(crate) timeout: Option<Duration>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

impl<H> Service<H> {
    /// A service running `handler` for each connection on `port` (0 picks a free
    /// port), listening on all IPv4 interfaces with a backlog of 1024.
    pub fn new(handler: H, port: u16) -> Service<H> {
        Service {
            handler,
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            backlog: 1024,
            config: ConnConfig {
                timeout: None,
                #[cfg(feature = "tls")]
                tls: None,
            },
        }
    }

    /// Listens on `ip` only (for instance `[127, 0, 0, 1]` or an `Ipv6Addr`).
    pub fn bind_addr(mut self, ip: impl Into<IpAddr>) -> Service<H> {
        self.addr.set_ip(ip.into());
        self
    }

    /// Sets the listen backlog: how many connections the kernel queues before
    /// they are accepted.
    pub fn backlog(mut self, backlog: u32) -> Service<H> {
        self.backlog = backlog;
        self
    }

    /// Sets the [timeout](Connection::set_timeout) of each accepted connection
    /// (and of its TLS handshake).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Service<H> {
        self.config.timeout = timeout;
        self
    }

    /// Serves TLS with `config` (feature `tls`): each connection's handshake
    /// completes before the handler runs; one that fails is logged at debug level.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Service<H> {
        self.config.tls = Some(config);
        self
    }

    /// The address the service will listen on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl<H> fmt::Debug for Service<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Service");
        d.field("addr", &self.addr)
            .field("backlog", &self.backlog)
            .field("timeout", &self.config.timeout);
        #[cfg(feature = "tls")]
        d.field("tls", &self.config.tls.is_some());
        d.finish()
    }
}

/// A running service: its address, and [`stop`](ServiceHandle::stop).
///
/// `Send + Sync + Clone`; dropping it does not stop the service.
#[derive(Clone)]
pub struct ServiceHandle {
    inner: Arc<HandleInner>,
}

impl monocle_stack::Outcome for ServiceHandle {}

struct HandleInner {
    addr: SocketAddr,
    stop: Callback<()>,
    /// Resolved when every accept loop has closed its listener.
    stopped: Callback<()>,
    listening: AtomicUsize,
    /// Accepts that failed with an error that pauses the accept loop.
    accept_errors: AtomicU64,
}

impl ServiceHandle {
    fn new(addr: SocketAddr, listeners: usize) -> ServiceHandle {
        ServiceHandle {
            inner: Arc::new(HandleInner {
                addr,
                stop: Callback::new(),
                stopped: Callback::new(),
                listening: AtomicUsize::new(listeners),
                accept_errors: AtomicU64::new(0),
            }),
        }
    }

    /// The bound address (with the real port when the service asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.inner.addr.port()
    }

    /// Stops accepting: each accept loop closes its listener when its loop next
    /// runs, after which new connections are refused. Connections already accepted
    /// are not touched: their handlers run on until they return. Callable from any
    /// thread; stopping twice does nothing. Await [`stopped`](Self::stopped) to know
    /// the listeners are closed.
    pub fn stop(&self) {
        let _ = self.inner.stop.resolve(());
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stop.is_resolved()
    }

    /// Completes once every listener of the service is closed (after
    /// [`stop`](Self::stop), or if every accept loop's event loop ended).
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        self.inner.stopped.clone()
    }

    /// How many times accepting a connection failed, counted over all the
    /// service's listeners: errors such as `EMFILE` (the process is out of file
    /// descriptors) or `ENOBUFS`. Each failure is logged (at error level when it
    /// starts a run of failures, at debug level while the run lasts) and pauses that
    /// accept loop for 50 ms before it tries again, so a lasting failure costs about
    /// 20 attempts a second rather than a spinning CPU; the service keeps running.
    /// A connection the peer aborted before it was accepted is not counted.
    pub fn accept_errors(&self) -> u64 {
        self.inner.accept_errors.load(Ordering::Relaxed)
    }

    fn listener_closed(&self) {
        if self.inner.listening.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _ = self.inner.stopped.resolve(());
        }
    }
}

impl fmt::Debug for ServiceHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceHandle")
            .field("addr", &self.inner.addr)
            .field("stopped", &self.is_stopped())
            .field("accept_errors", &self.accept_errors())
            .finish()
    }
}

/// Creates a listening socket with `SO_REUSEADDR` (and `SO_REUSEPORT` when shared
/// between loops) and the service's backlog.
fn bind(addr: SocketAddr, backlog: u32, reuse_port: bool) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(all(unix, not(any(target_os = "solaris", target_os = "illumos")))))]
    let _ = reuse_port;
    socket.bind(&addr.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(socket.into())
}

fn bind_error(addr: SocketAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))
}

/// Starts `service` on this thread's event loop and returns at once; the loop
/// accepts connections whenever it runs.
///
/// The handler may return a future that is not `Send`.
///
/// ```
/// use monocle_network::{add_service, connect, Service};
///
/// monocle_stack::block_on(async {
///     let svc = add_service(Service::new(|mut conn: monocle_network::Connection| async move {
///         let name = conn.readline().await?.to_vec();
///         conn.write(&[b"hello ", &name[..]].concat()).await
///     }, 0).bind_addr([127, 0, 0, 1]))?;
///     let mut conn = connect("127.0.0.1", svc.port()).await?;
///     conn.write(b"world\n").await?;
///     assert_eq!(conn.readline().await?, b"hello world\n");
///     svc.stop();
///     svc.stopped().await;
///     Ok::<_, monocle_network::Error>(())
/// })
/// .unwrap();
/// ```
///
/// # Errors
///
/// Fails if the address cannot be bound (in use, not permitted).
#[track_caller]
pub fn add_service<H, F>(service: Service<H>) -> io::Result<ServiceHandle>
where
    H: Fn(Connection) -> F + 'static,
    F: Future + 'static,
    F::Output: HandlerOutput,
{
    // Make sure this thread has its loop before the listener is registered.
    let _ = Handle::current();
    let std_listener =
        bind(service.addr, service.backlog, false).map_err(|e| bind_error(service.addr, e))?;
    let addr = std_listener.local_addr()?;
    let listener = Source::new(std_listener)?;
    let handle = ServiceHandle::new(addr, 1);
    let handler = Rc::new(service.handler);
    let accept = accept_loop(listener, addr, handler, service.config, handle.clone());
    launch(named(format!("service {addr}"), accept)).detach();
    Ok(handle)
}

/// Starts `service` on every loop of `loops`: one listener per loop on the same
/// port through `SO_REUSEPORT`, so the kernel spreads connections across the loops
/// (by a hash of their addresses).
///
/// The handler (the factory of the o-routines) is shared by the loops and must be
/// `Send + Sync`; the futures it returns run on the loop that accepted and need not
/// be `Send`.
///
/// ```
/// use monocle_network::{add_service_on, Connection, Service};
/// use monocle_stack::Loops;
///
/// let loops = Loops::start(2).unwrap();
/// let svc = add_service_on(&loops, Service::new(|mut conn: Connection| async move {
///     let local = std::rc::Rc::new(()); // !Send state is fine in the o-routine
///     conn.write(b"hi").await.map(|_| drop(local))
/// }, 0).bind_addr([127, 0, 0, 1])).unwrap();
/// let mut s = std::net::TcpStream::connect(svc.local_addr()).unwrap();
/// let mut got = String::new();
/// std::io::Read::read_to_string(&mut s, &mut got).unwrap();
/// assert_eq!(got, "hi");
/// svc.stop();
/// ```
///
/// # Errors
///
/// Fails if the address cannot be bound, or a loop has shut down.
pub fn add_service_on<H, F>(loops: &Loops, service: Service<H>) -> io::Result<ServiceHandle>
where
    H: Fn(Connection) -> F + Send + Sync + 'static,
    F: Future + 'static,
    F::Output: HandlerOutput,
{
    let n = loops.len();
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "add_service_on needs at least one loop",
        ));
    }
    let first =
        bind(service.addr, service.backlog, true).map_err(|e| bind_error(service.addr, e))?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..n {
        listeners.push(bind(addr, service.backlog, true).map_err(|e| bind_error(addr, e))?);
    }
    let handle = ServiceHandle::new(addr, n);
    let handler = Arc::new(service.handler);
    for (listener, lp) in listeners.into_iter().zip(loops.handles()) {
        let handler = handler.clone();
        let config = service.config.clone();
        let service_handle = handle.clone();
        let started = lp.execute(move || {
            let name = format!("service {addr}");
            let accept = async move {
                match Source::new(listener) {
                    Ok(listener) => {
                        accept_loop(listener, addr, handler, config, service_handle).await
                    }
                    Err(e) => {
                        log::error!("service {addr}: cannot register the listener: {e}");
                        service_handle.listener_closed();
                    }
                }
            };
            launch(named(name, accept)).detach();
        });
        if !started {
            handle.stop();
            return Err(io::Error::other(format!(
                "cannot start service {addr}: event loop {} has shut down",
                lp.name()
            )));
        }
    }
    Ok(handle)
}

/// Something that can make handler futures; `Rc<H>` on one loop, `Arc<H>` on many.
trait Factory<F>: Clone + 'static {
    fn make(&self, conn: Connection) -> F;
}

impl<H: Fn(Connection) -> F + 'static, F> Factory<F> for Rc<H> {
    fn make(&self, conn: Connection) -> F {
        (**self)(conn)
    }
}

impl<H: Fn(Connection) -> F + 'static, F> Factory<F> for Arc<H> {
    fn make(&self, conn: Connection) -> F {
        (**self)(conn)
    }
}

async fn accept_loop<M, F>(
    listener: Source<TcpListener>,
    addr: SocketAddr,
    handler: M,
    config: ConnConfig,
    handle: ServiceHandle,
) where
    M: Factory<F>,
    F: Future + 'static,
    F::Output: HandlerOutput,
{
    /// Closes the listener's share of the handle even if the loop drops us.
    struct Closed(ServiceHandle);
    impl Drop for Closed {
        fn drop(&mut self) {
            self.0.listener_closed();
        }
    }
    let _closed = Closed(handle.clone());
    let mut stop = pin!(handle.inner.stop.clone());
    // Accepts failed in a row: the first is logged as an error, the rest at debug
    // level, and the recovery once.
    let mut failing = 0u64;
    loop {
        let accepted = poll_fn(|cx| {
            if stop.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            listener.poll_read_with(cx, |l| l.accept()).map(Some)
        })
        .await;
        match accepted {
            None => break,
            Some(Ok((stream, peer))) => {
                if failing > 0 {
                    log::warn!("service {addr}: accepting again after {failing} failed attempts");
                    failing = 0;
                }
                let handler = handler.clone();
                let config = config.clone();
                let name = format!("conn {peer}");
                launch(named(name, serve(stream, peer, handler, config, addr))).detach();
            }
            Some(Err(e)) => match e.kind() {
                io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted => {}
                _ => {
                    handle.inner.accept_errors.fetch_add(1, Ordering::Relaxed);
                    failing += 1;
                    let pause = ACCEPT_RETRY.as_millis();
                    if failing == 1 {
                        log::error!(
                            "service {addr}: accept failed: {e}; retrying every {pause} ms"
                        );
                    } else {
                        log::debug!(
                            "service {addr}: accept failed again ({failing} in a row): {e}"
                        );
                    }
                    let pause = monocle_stack::util::sleep(ACCEPT_RETRY);
                    if futures_lite::future::or(
                        async {
                            pause.await;
                            false
                        },
                        async {
                            stop.as_mut().await;
                            true
                        },
                    )
                    .await
                    {
                        break;
                    }
                }
            },
        }
    }
    drop(listener);
}

/// Runs the handler on one accepted connection, logging its failure or panic.
async fn serve<M, F>(
    stream: TcpStream,
    peer: SocketAddr,
    handler: M,
    config: ConnConfig,
    addr: SocketAddr,
) where
    M: Factory<F>,
    F: Future + 'static,
    F::Output: HandlerOutput,
{
    let conn = match accept_connection(stream, peer, addr, &config).await {
        Ok(conn) => conn,
        Err(e) => {
            log::debug!(
                "service {addr}: connection from {peer} failed before its handler ran: {e}"
            );
            return;
        }
    };
    let run = std::panic::AssertUnwindSafe(handler.make(conn));
    match run.catch_unwind().await {
        Ok(out) => {
            if let Some(failure) = out.failure() {
                log::error!("service {addr}: handler for connection from {peer} failed: {failure}");
            }
        }
        Err(panic) => {
            let msg = monocle_stack::diagnostics::panic_message(&*panic);
            log::error!("service {addr}: handler for connection from {peer} panicked: {msg}");
        }
    }
}

/// Sets up an accepted stream: `TCP_NODELAY`, registration, the TLS handshake.
/// `listening` is the listener's address, the stream's own unless it is a
/// wildcard address.
async fn accept_connection(
    stream: TcpStream,
    peer: SocketAddr,
    listening: SocketAddr,
    config: &ConnConfig,
) -> Result<Connection, crate::Error> {
    let _ = stream.set_nodelay(true);
    // Spare a getsockname per connection when the listener's address says it all.
    let local = if listening.ip().is_unspecified() {
        stream.local_addr()?
    } else {
        listening
    };
    let tcp = Tcp::new(stream)?;
    #[cfg(feature = "tls")]
    if let Some(tls) = &config.tls {
        let stream = crate::tls::server_handshake(tcp, tls.clone(), peer, config.timeout).await?;
        let mut conn = Connection::new(Stream::Tls(Box::new(stream)), peer, local);
        conn.set_timeout(config.timeout);
        return Ok(conn);
    }
    let mut conn = Connection::new(Stream::Plain(tcp), peer, local);
    conn.set_timeout(config.timeout);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::Duration;

    use super::*;

    fn lost(reason: Reason) -> ConnectionLost {
        ConnectionLost::new(reason, SocketAddr::from((Ipv4Addr::LOCALHOST, 9)))
    }

    #[test]
    fn a_peer_leaving_is_not_a_handler_failure() {
        for reason in [Reason::ClosedByPeer, Reason::Reset] {
            let direct: Result<(), _> = Err(lost(reason));
            assert_eq!(direct.failure(), None, "{reason:?}");
            let wrapped: Result<(), io::Error> = Err(lost(reason).into());
            assert_eq!(wrapped.failure(), None, "{reason:?} in an io::Error");
            let error: Result<(), crate::Error> = Err(lost(reason).into());
            assert_eq!(error.failure(), None, "{reason:?} in an Error");
        }
    }

    #[test]
    fn other_endings_are_failures() {
        let timed_out: Result<(), _> = Err(lost(Reason::TimedOut(Duration::from_secs(1))));
        let failure = timed_out.failure().expect("a timeout is a failure");
        assert!(failure.contains("timed out after 1 s"), "{failure}");
        let too_long: Result<(), _> = Err(lost(Reason::TooLong(10)));
        assert!(too_long.failure().is_some());
        let other: Result<(), io::Error> = Err(io::Error::other("bad greeting"));
        assert_eq!(other.failure().as_deref(), Some("bad greeting"));
        assert_eq!(().failure(), None);
    }
}
