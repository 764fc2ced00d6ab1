//! [`Client`] and [`connect`]: outgoing connections.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::task::Poll;
use std::time::Duration;

use monocle_stack::util::timeout;

use crate::connection::Connection;
use crate::error::{ConnectionLost, Error, Reason, Result};
use crate::stream::{Stream, Tcp};

/// Opens outgoing connections (monocle's `Client().connect(host, port)`).
///
/// The [timeout](Client::timeout) bounds name resolution, the connect and a TLS
/// handshake together, and is then given to the connection.
///
/// ```
/// use std::time::Duration;
/// use monocle_network::{add_service, Client, Service};
///
/// monocle_stack::block_on(async {
///     let svc = add_service(Service::new(|_conn| async {}, 0).bind_addr([127, 0, 0, 1]))?;
///     let conn = Client::new()
///         .timeout(Some(Duration::from_secs(2)))
///         .connect("localhost", svc.port())
///         .await?;
///     assert_eq!(conn.peer_addr().port(), svc.port());
///     assert_eq!(conn.timeout(), Some(Duration::from_secs(2)));
///     svc.stop();
///     Ok::<_, monocle_network::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Client {
    timeout: Option<Duration>,
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl monocle_stack::Outcome for Client {}

impl Client {
    /// A client without timeout, over plain TCP.
    pub fn new() -> Client {
        Client::default()
    }

    /// Sets the timeout of connecting and of the connections made.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Client {
        self.timeout = timeout;
        self
    }

    /// Connects over TLS with `config` (feature `tls`); the host given to
    /// [`connect`](Self::connect) is the server name checked against the
    /// certificate.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> Client {
        self.tls = Some(config);
        self
    }

    /// Connects to `host` (a name or an IP address) on `port`, trying each address
    /// the name resolves to in turn. Names are resolved on the offload pool, so the
    /// loop never blocks; IP literals are not resolved at all.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] naming every address tried and its error if none accepts
    /// the connection (refused, unreachable),
    /// [`Error::Resolve`] if the name does not resolve, [`Error::ConnectionLost`]
    /// with [`Reason::TimedOut`] if the timeout fires first.
    pub async fn connect(&self, host: &str, port: u16) -> Result<Connection> {
        let work = self.connect_inner(host, port);
        let mut conn = match self.timeout {
            None => work.await?,
            Some(after) => match timeout(after, work).await {
                Ok(res) => res?,
                Err(_) => {
                    let target = target(host, port);
                    return Err(ConnectionLost::new(Reason::TimedOut(after), target).into());
                }
            },
        };
        conn.set_timeout(self.timeout);
        Ok(conn)
    }

    async fn connect_inner(&self, host: &str, port: u16) -> Result<Connection> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                let name = bare.to_owned();
                let resolved = monocle_stack::offload(move || {
                    (name.as_str(), port)
                        .to_socket_addrs()
                        .map(|a| a.collect::<Vec<_>>())
                })
                .await;
                match resolved {
                    Ok(addrs) if !addrs.is_empty() => addrs,
                    Ok(_) => {
                        return Err(Error::Resolve {
                            host: host.to_owned(),
                            source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
                        })
                    }
                    Err(source) => {
                        return Err(Error::Resolve {
                            host: host.to_owned(),
                            source,
                        })
                    }
                }
            }
        };
        let mut failed = Vec::new();
        for addr in addrs {
            match connect_addr(addr).await {
                Ok(tcp) => return self.finish(tcp, host, addr).await,
                Err(e) => failed.push((addr, e)),
            }
        }
        let (addr, source) = failed.pop().expect("at least one address was tried");
        Err(Error::Connect {
            target: target(host, port),
            addr,
            source,
            earlier: failed,
        })
    }

    #[allow(unused_variables)]
    async fn finish(&self, tcp: Tcp, host: &str, peer: SocketAddr) -> Result<Connection> {
        let local = tcp.io.get_ref().local_addr()?;
        #[cfg(feature = "tls")]
        if let Some(config) = &self.tls {
            let name = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            let stream = crate::tls::client_handshake(tcp, config.clone(), name, peer).await?;
            return Ok(Connection::new(Stream::Tls(Box::new(stream)), peer, local));
        }
        Ok(Connection::new(Stream::Plain(tcp), peer, local))
    }
}

/// How errors name what was connected to: `host:port`, or the socket address
/// (`[::1]:80`) for an IP address.
fn target(host: &str, port: u16) -> String {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port).to_string(),
        Err(_) => format!("{host}:{port}"),
    }
}

/// Starts a non-blocking connect to `addr` and waits for it on the reactor.
async fn connect_addr(addr: SocketAddr) -> io::Result<Tcp> {
    use socket2::{Domain, Protocol, Socket, Type};
    // Non-blocking from the start: one system call fewer than setting it after.
    let kind = Type::STREAM.nonblocking();
    let socket = Socket::new(Domain::for_address(addr), kind, Some(Protocol::TCP))?;
    let in_progress = match socket.connect(&addr.into()) {
        Ok(()) => false,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => true,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
        Err(e) => return Err(e),
    };
    let stream: TcpStream = socket.into();
    stream.set_nodelay(true)?;
    let tcp = Tcp::new(stream)?;
    if in_progress {
        // The source starts out "writable"; wait for the kernel's word instead. A
        // wake-up is only a hint (async-io may deliver one it then calls stale), so
        // each one is checked against the socket.
        tcp.io.clear_writable();
        let mut waited = false;
        std::future::poll_fn(|cx| loop {
            if std::mem::take(&mut waited) && tcp.io.is_writable() {
                if let Some(e) = tcp.io.get_ref().take_error()? {
                    return Poll::Ready(Err(e));
                }
                match tcp.io.get_ref().peer_addr() {
                    Ok(_) => return Poll::Ready(Ok(())),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => tcp.io.clear_writable(),
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            match tcp.io.poll_writable(cx) {
                Poll::Ready(res) => {
                    res?;
                    waited = true;
                }
                Poll::Pending => {
                    waited = true;
                    return Poll::Pending;
                }
            }
        })
        .await?;
    }
    Ok(tcp)
}

/// Connects to `host:port` with the default [`Client`] (no timeout, plain TCP).
///
/// ```
/// use monocle_network::{add_service, connect, Service};
///
/// monocle_stack::block_on(async {
///     let svc = add_service(Service::new(|_conn| async {}, 0).bind_addr([127, 0, 0, 1]))?;
///     let conn = connect("127.0.0.1", svc.port()).await?;
///     assert!(!conn.is_closed());
///     svc.stop();
///     Ok::<_, monocle_network::Error>(())
/// })
/// .unwrap();
/// ```
///
/// # Errors
///
/// As [`Client::connect`].
pub async fn connect(host: &str, port: u16) -> Result<Connection> {
    Client::new().connect(host, port).await
}
