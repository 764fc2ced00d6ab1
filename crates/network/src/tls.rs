//! TLS on rustls (feature `tls`): give a [`Service`](crate::Service) a
//! `rustls::ServerConfig` with [`Service::tls`](crate::Service::tls), or a
//! [`Client`](crate::Client) a `rustls::ClientConfig` with
//! [`Client::tls`](crate::Client::tls); the connections they make are ordinary
//! [`Connection`]s. [`upgrade_client`] starts TLS on a
//! connection that is already open (a tunnel through an HTTP proxy, a
//! protocol's STARTTLS).
//!
//! rustls is re-exported as [`rustls`] (built with the *ring* crypto
//! provider, which needs no C toolchain beyond a compiler).
//!
//! ```
//! use std::sync::Arc;
//! use monocle_network::tls::rustls;
//! use monocle_network::{add_service, Client, Connection, Service};
//!
//! // A self-signed certificate for "localhost", made for the example.
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let cert_der = cert.cert.der().clone();
//! let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der());
//! let server = rustls::ServerConfig::builder()
//!     .with_no_client_auth()
//!     .with_single_cert(vec![cert_der.clone()], key.into())
//!     .unwrap();
//! let mut roots = rustls::RootCertStore::empty();
//! roots.add(cert_der).unwrap();
//! let client = rustls::ClientConfig::builder()
//!     .with_root_certificates(roots)
//!     .with_no_client_auth();
//!
//! monocle_stack::block_on(async {
//!     let svc = add_service(
//!         Service::new(|mut conn: Connection| async move {
//!             let line = conn.readline().await?.to_vec();
//!             conn.write(&line).await
//!         }, 0)
//!         .bind_addr([127, 0, 0, 1])
//!         .tls(Arc::new(server)),
//!     )?;
//!     let mut conn = Client::new().tls(Arc::new(client)).connect("localhost", svc.port()).await?;
//!     conn.write(b"secret\n").await?;
//!     assert_eq!(conn.readline().await?, b"secret\n");
//!     svc.stop();
//!     Ok::<_, monocle_network::Error>(())
//! })
//! .unwrap();
//! ```

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

#[doc(no_inline)]
pub use rustls;

use crate::connection::Connection;
use crate::error::{is_reset, ConnectionLost, Error, Reason};
use crate::stream::{cut_short, Stream, Tcp};

/// A TLS session over a registered TCP stream.
///
/// Its two directions fail apart, as a plain connection's do: once sending
/// to the socket failed (the peer reset the connection), reads go on, taking
/// the records the peer sent before out of the socket, without trying to
/// send the records of ours rustls may still hold; writes fail at once.
/// The failure is kept where a plain stream keeps it, in the [`Tcp`] (see
/// [`Stream::write_error`]): a failure while a read sends the session's own
/// records is found there by the connection's check before its next write.
/// Writes and flushes trust that check and do not look again.
pub(crate) struct TlsStream {
    pub(crate) tcp: Tcp,
    tls: rustls::Connection,
}

/// `Read`/`Write` on a shared `&TcpStream`, for rustls' `read_tls`/`write_tls`.
struct Io<'a>(&'a TcpStream);

/// Runs `op` again while a signal interrupts it.
fn uninterrupted<R>(mut op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            res => return res,
        }
    }
}

impl Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut s = self.0;
        uninterrupted(|| s.read(buf))
    }
}

impl Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut s = self.0;
        uninterrupted(|| s.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut s = self.0;
        uninterrupted(|| s.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsStream {
    /// Reads TLS records from the socket into rustls (0 at end of stream).
    fn poll_read_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let tls = &mut self.tls;
        self.tcp.io.poll_read_with(cx, |s| tls.read_tls(&mut Io(s)))
    }

    /// Writes buffered TLS records to the socket; a failure is kept in the
    /// [`Tcp`], and no record is sent after it (every caller checks first).
    fn poll_write_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        debug_assert!(
            self.tcp.write_error().is_none(),
            "a write after sending failed"
        );
        let tls = &mut self.tls;
        let res = ready!(self
            .tcp
            .io
            .poll_write_with(cx, |s| tls.write_tls(&mut Io(s))));
        if let Err(e) = &res {
            self.tcp.write_failed(e);
        }
        Poll::Ready(res)
    }

    /// Sends what rustls has buffered, as far as the socket takes it now.
    fn push(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.poll_write_tls(cx) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => break,
            }
        }
        Ok(())
    }

    fn process(&mut self) -> io::Result<()> {
        if let Err(e) = self.tls.process_new_packets() {
            // Tell the peer why (rustls queued an alert), without waiting.
            if self.tcp.write_error().is_none() {
                let _ = self.tls.write_tls(&mut Io(self.tcp.io.get_ref()));
            }
            return Err(tls_error(e));
        }
        Ok(())
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            while self.tls.wants_write() {
                ready!(self.poll_write_tls(cx))?;
            }
            if !self.tls.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            if !self.tls.wants_read() {
                return Poll::Ready(Err(io::Error::other("TLS handshake stalled")));
            }
            if ready!(self.poll_read_tls(cx))? == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection during the TLS handshake",
                )));
            }
            self.process()?;
        }
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The socket ended without a close_notify, after a write
                // met the peer's reset: the reset cut the stream short (a
                // close_notify, `Ok(0)` above, is an end no reset can fake).
                Err(e)
                    if e.kind() == io::ErrorKind::UnexpectedEof
                        && self.tcp.write_error().is_some_and(is_reset) =>
                {
                    return Poll::Ready(Err(cut_short()))
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
            // Records of ours go out before we wait for the peer's. Failing
            // to send them fails the next write, not this read: what the
            // peer sent before is still there to read. The connection
            // finds it in the `Tcp` before its next write.
            if self.tcp.write_error().is_none() {
                let _ = self.push(cx);
            }
            ready!(self.poll_read_tls(cx))?;
            self.process()?;
        }
    }

    /// As [`Stream::poll_write`]: the caller checked that sending had not
    /// failed.
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            let n = self.tls.writer().write(buf)?;
            if n > 0 {
                self.push(cx)?;
                return Poll::Ready(Ok(n));
            }
            if !self.tls.wants_write() {
                return Poll::Ready(Ok(0));
            }
            // rustls' buffer is full: send some first.
            ready!(self.poll_write_tls(cx))?;
        }
    }

    /// As [`Stream::poll_flush`]: the caller checked that sending had not
    /// failed.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.tls.wants_write() {
            ready!(self.poll_write_tls(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Queues a close_notify and sends it if the socket takes it at once
    /// (nothing once sending failed).
    pub(crate) fn goodbye(&mut self) {
        if self.tcp.write_error().is_some() {
            return;
        }
        self.tls.send_close_notify();
        while self.tls.wants_write() {
            if self.tls.write_tls(&mut Io(self.tcp.io.get_ref())).is_err() {
                break;
            }
        }
    }

    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        self.goodbye();
        self.tcp.shutdown(Shutdown::Write)
    }
}

async fn handshake(tcp: Tcp, tls: rustls::Connection) -> io::Result<TlsStream> {
    let mut stream = TlsStream { tcp, tls };
    poll_fn(|cx| stream.poll_handshake(cx)).await?;
    Ok(stream)
}

/// The server side of a handshake, bounded by `timeout`.
pub(crate) async fn server_handshake(
    tcp: Tcp,
    config: Arc<rustls::ServerConfig>,
    peer: SocketAddr,
    timeout: Option<Duration>,
) -> Result<TlsStream, Error> {
    let tls = rustls::ServerConnection::new(config).map_err(tls_error)?;
    let work = handshake(tcp, tls.into());
    let res = match timeout {
        None => work.await,
        Some(after) => match monocle_stack::util::timeout(after, work).await {
            Ok(res) => res,
            Err(_) => return Err(ConnectionLost::new(Reason::TimedOut(after), peer).into()),
        },
    };
    res.map_err(|e| ConnectionLost::from_io(e, &peer).into())
}

/// `server_name` (a name or an IP address, without brackets) as rustls wants it.
fn parse_server_name(server_name: &str) -> Result<rustls::pki_types::ServerName<'static>, Error> {
    rustls::pki_types::ServerName::try_from(server_name.to_owned()).map_err(|e| {
        Error::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{server_name:?} is not a valid TLS server name: {e}"),
        ))
    })
}

/// The client side of a handshake with `server_name` (the client's timeout
/// bounds it from outside).
pub(crate) async fn client_handshake(
    tcp: Tcp,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
    peer: SocketAddr,
) -> Result<TlsStream, Error> {
    let name = parse_server_name(server_name)?;
    client_handshake_with(tcp, config, name, peer).await
}

async fn client_handshake_with(
    tcp: Tcp,
    config: Arc<rustls::ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
    peer: SocketAddr,
) -> Result<TlsStream, Error> {
    let tls = rustls::ClientConnection::new(config, name).map_err(tls_error)?;
    handshake(tcp, tls.into())
        .await
        .map_err(|e| ConnectionLost::from_io(e, &peer).into())
}

/// Starts TLS as the client on an open plain connection, checking the
/// server's certificate against `server_name` (a name, or an IP address with
/// or without brackets), and returns the TLS connection: for a tunnel through
/// an HTTP proxy once it has answered `CONNECT`, or a protocol's STARTTLS.
///
/// Bytes queued with [`buffer`](Connection::buffer) are flushed first, in
/// plain text. The handshake is bounded by the connection's
/// [read timeout](Connection::read_timeout); the new connection keeps its
/// read and write timeouts and the [`max_buffer`](Connection::max_buffer).
///
/// # Errors
///
/// An [`UpgradeError`]. Refused before the handshake begins, it gives the
/// connection back as it was ([`UpgradeError::into_connection`]):
/// [`Error::Io`] with `InvalidInput` if `server_name` is not a valid TLS
/// server name or the connection already speaks TLS (its session is left up),
/// and with `InvalidData` if bytes it received are still unread (a server
/// sends nothing before the client's hello, so they cannot belong to the
/// handshake; read them first); [`Error::ConnectionLost`] if the connection is
/// closed or flushing it fails. Once the handshake has begun the connection is
/// gone with it: [`Error::ConnectionLost`] if the handshake fails (certificate
/// refused, peer gone) or times out.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use monocle_network::tls::{self, rustls};
/// use monocle_network::{add_service, connect, Connection, Service};
///
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let cert_der = cert.cert.der().clone();
/// let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der());
/// let server = rustls::ServerConfig::builder()
///     .with_no_client_auth()
///     .with_single_cert(vec![cert_der.clone()], key.into())
///     .unwrap();
/// let mut roots = rustls::RootCertStore::empty();
/// roots.add(cert_der).unwrap();
/// let client = rustls::ClientConfig::builder()
///     .with_root_certificates(roots)
///     .with_no_client_auth();
///
/// monocle_stack::block_on(async {
///     let svc = add_service(
///         Service::new(|mut conn: Connection| async move {
///             let line = conn.readline().await?.to_vec();
///             conn.write(&line).await
///         }, 0)
///         .bind_addr([127, 0, 0, 1])
///         .tls(Arc::new(server)),
///     )?;
///     // A plain TCP connection first (as to a proxy), then TLS over it.
///     let plain = connect("127.0.0.1", svc.port()).await?;
///     let mut conn = tls::upgrade_client(plain, Arc::new(client), "localhost").await?;
///     conn.write(b"secret\n").await?;
///     assert_eq!(conn.readline().await?, b"secret\n");
///     svc.stop();
///     Ok::<_, monocle_network::Error>(())
/// })
/// .unwrap();
/// ```
pub async fn upgrade_client(
    mut conn: Connection,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> Result<Connection, UpgradeError> {
    let peer = conn.peer_addr();
    let local = conn.local_addr();
    let timeout = conn.read_timeout();
    let write_timeout = conn.write_timeout();
    let max_buffer = conn.max_buffer();
    if conn.is_closed() {
        let error = ConnectionLost::new(Reason::Closed, peer).into();
        return Err(UpgradeError::refused(error, conn));
    }
    let name = server_name
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(server_name);
    let name = match parse_server_name(name) {
        Ok(name) => name,
        Err(error) => return Err(UpgradeError::refused(error, conn)),
    };
    let unread = conn.buffered().len();
    if unread > 0 {
        let error = Error::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{unread} bytes from {peer} are unread before the TLS handshake; \
                 a server sends nothing before the client's hello"
            ),
        ));
        return Err(UpgradeError::refused(error, conn));
    }
    if let Err(lost) = conn.flush().await {
        return Err(UpgradeError::refused(lost.into(), conn));
    }
    let tcp = match conn.take_stream() {
        Some(Stream::Plain(tcp)) => tcp,
        Some(Stream::Tls(tls)) => {
            // Put the session back in a connection like the one given, so
            // refusing neither ends it nor drops it without a goodbye. Nothing
            // else needs carrying over: no byte is unread (checked above) and
            // none is queued (flushed); an end of stream already seen is seen
            // again by the next read.
            let mut conn = Connection::new(Stream::Tls(tls), peer, local);
            conn.set_read_timeout(timeout)
                .set_write_timeout(write_timeout)
                .set_max_buffer(max_buffer);
            let error = Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the connection to {peer} already speaks TLS"),
            ));
            return Err(UpgradeError::refused(error, conn));
        }
        None => {
            let error = ConnectionLost::new(Reason::Closed, peer).into();
            return Err(UpgradeError::refused(error, conn));
        }
    };
    let work = client_handshake_with(tcp, config, name, peer);
    let stream = match timeout {
        None => work.await.map_err(UpgradeError::failed)?,
        Some(after) => match monocle_stack::util::timeout(after, work).await {
            Ok(res) => res.map_err(UpgradeError::failed)?,
            Err(_) => {
                let error = ConnectionLost::new(Reason::TimedOut(after), peer).into();
                return Err(UpgradeError::failed(error));
            }
        },
    };
    let mut conn = Connection::new(Stream::Tls(Box::new(stream)), peer, local);
    conn.set_read_timeout(timeout)
        .set_write_timeout(write_timeout)
        .set_max_buffer(max_buffer);
    Ok(conn)
}

/// Why [`upgrade_client`] failed, with the connection given back when it was
/// refused before the handshake began.
///
/// It converts into [`Error`] and `std::io::Error`, so `?` works in functions
/// returning either; the connection inside, if any, is dropped then (closed as
/// by [`Connection::close`], a TLS one saying goodbye).
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use monocle_network::tls::{self, rustls};
/// use monocle_network::Connection;
///
/// pub async fn starttls(
///     conn: Connection,
///     config: Arc<rustls::ClientConfig>,
/// ) -> monocle_network::Result<Connection> {
///     match tls::upgrade_client(conn, config, "mail.example.com").await {
///         Ok(conn) => Ok(conn),
///         Err(e) => {
///             let (error, conn) = e.into_parts();
///             if let Some(conn) = conn {
///                 // Refused before the handshake: the connection is as it
///                 // was, the bytes the server sent too early still readable.
///                 eprintln!("{error}; unread: {:?}", conn.buffered());
///             }
///             Err(error)
///         }
///     }
/// }
/// # fn main() {}
/// ```
#[derive(Debug)]
pub struct UpgradeError {
    error: Error,
    conn: Option<Connection>,
}

impl UpgradeError {
    fn refused(error: Error, conn: Connection) -> UpgradeError {
        UpgradeError {
            error,
            conn: Some(conn),
        }
    }

    fn failed(error: Error) -> UpgradeError {
        UpgradeError { error, conn: None }
    }

    /// What went wrong.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The `std::io::ErrorKind` of the error.
    pub fn kind(&self) -> io::ErrorKind {
        self.error.kind()
    }

    /// The connection as it was given, when the upgrade was refused before
    /// the handshake began; `None` once the handshake had begun (the
    /// connection went with it).
    pub fn into_connection(self) -> Option<Connection> {
        self.conn
    }

    /// The error and the connection (see [`into_connection`](Self::into_connection)).
    pub fn into_parts(self) -> (Error, Option<Connection>) {
        (self.error, self.conn)
    }
}

impl std::fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for UpgradeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl From<UpgradeError> for Error {
    fn from(e: UpgradeError) -> Error {
        e.error
    }
}

impl From<UpgradeError> for io::Error {
    fn from(e: UpgradeError) -> io::Error {
        e.error.into()
    }
}
