//! [`Connection`]: a buffered TCP (or TLS) connection with monocle's reads and writes.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_lite::io::{AsyncBufRead, AsyncRead, AsyncWrite};
use monocle_stack::util::{sleep, Sleep};

use crate::error::{copy_error, ConnectionLost, Reason};
use crate::stream::{Stream, Tcp};

/// The read buffer's starting size; it grows when `read(n)` or `read_until` need more.
const INITIAL_BUFFER: usize = 16 * 1024;
/// Below this much free space at the end of the read buffer, unread bytes are moved
/// to its front before the next read.
const MIN_READ: usize = 2 * 1024;
/// How far ahead of the bytes already buffered `read(n)` makes room.
const READ_GROWTH: usize = 256 * 1024;
/// The default [`Connection::max_buffer`]: the longest line `read_until` waits for.
pub(crate) const DEFAULT_MAX_BUFFER: usize = 1024 * 1024;

/// A TCP connection, plain or TLS, with monocle's buffered reads and flushed writes.
///
/// Reads are served from the connection's own buffer: [`read_some`], [`read`],
/// [`read_until`] and [`readline`] return a slice of it that stays valid until the
/// next call on the connection, so nothing is copied or allocated per call (call
/// `.to_vec()` to keep the bytes). [`read_into`] and [`read_exact_into`] fill a
/// buffer of the caller's instead. [`write`] returns once the bytes are handed to
/// the kernel; [`buffer`] queues bytes for the next [`flush`].
///
/// Every failure of a read or write is a [`ConnectionLost`] saying why (reset,
/// closed by the peer, timed out, ...). A failed read or a timeout closes the
/// connection. A failed write (the peer reset the connection, or closed it and
/// our bytes drew a reset) ends only the sending side: further writes fail at
/// once with the same error, while reads still return what the peer sent
/// before, then the end of the stream or the error. A peer may answer and
/// close before it has read all we send, an HTTP server refusing a large
/// upload say, and its answer is not lost with the write that failed. A
/// [`timeout`](Connection::set_timeout) bounds each read, write and flush.
///
/// After a write that failed because the peer reset a stream it had not
/// ended, the end of the stream is that reset ([`Reason::Reset`];
/// `ConnectionReset` through futures-io), not [`Reason::ClosedByPeer`]
/// (`Ok(0)`): the reset dropped what the peer had not sent yet, so what came
/// may be cut short, a body read until the close say. The kernel tells
/// only the write that met the reset (Linux gives the reads after it a plain
/// end of stream); the connection remembers. A peer that ended its stream
/// before the reset (its sending side closed first; a TLS close_notify) ended
/// it whole, and its end is a close.
///
/// Reads may be raced and dropped part way (against a channel with
/// [`first_of2`](monocle_core::first_of2), or under a timeout): a dropped
/// read loses nothing, and the bytes it took from the socket stay buffered
/// for the next read. A dropped [`write`] may have sent part of its bytes; to
/// race sending, [`buffer`] the bytes and race [`flush`], whose unsent rest
/// stays queued.
///
/// `Connection` also implements futures-io's [`AsyncRead`], [`AsyncBufRead`] and
/// [`AsyncWrite`], so codecs and other ecosystem adapters work on it; there, end of
/// stream is the usual `Ok(0)` rather than an error, and `poll_close` ends only our
/// sending side.
///
/// Each call of the connection's own starts its timeout afresh. A futures-io
/// poll cannot say whether it begins a read or write or goes on with one:
/// there the timer runs from the first poll that waits to the first that
/// returns, so a futures-io read given up while it waited (a peek) leaves
/// its timer running for the next futures-io read. Set the timeout again
/// (to the same value, if need be) to start the next one afresh, as the HTTP
/// client does before each request.
///
/// A connection belongs to the event loop (thread) that created it.
///
/// [`read_some`]: Connection::read_some
/// [`read`]: Connection::read
/// [`read_until`]: Connection::read_until
/// [`readline`]: Connection::readline
/// [`read_into`]: Connection::read_into
/// [`read_exact_into`]: Connection::read_exact_into
/// [`write`]: Connection::write
/// [`buffer`]: Connection::buffer
/// [`flush`]: Connection::flush
///
/// # Examples
///
/// ```
/// use monocle_network::{add_service, connect, Connection, Service};
///
/// async fn echo(mut conn: Connection) -> Result<(), monocle_network::ConnectionLost> {
///     loop {
///         let line = conn.readline().await?;
///         let reply = line.to_vec();
///         conn.write(&reply).await?;
///     }
/// }
///
/// monocle_stack::block_on(async {
///     let svc = add_service(Service::new(echo, 0).bind_addr([127, 0, 0, 1]))?;
///     let mut conn = connect("127.0.0.1", svc.port()).await?;
///     conn.write(b"hello\n").await?;
///     assert_eq!(conn.readline().await?, b"hello\n");
///     svc.stop();
///     Ok::<_, monocle_network::Error>(())
/// })
/// .unwrap();
/// ```
pub struct Connection {
    /// `None` once closed. Why our sending side failed, if it did, is kept
    /// in it ([`Stream::write_error`]): the error each later write, flush or
    /// close returns. Reads go on.
    stream: Option<Stream>,
    /// INVARIANT: `rstart <= rend <= rbuf.len()`; the unread bytes are
    /// `rbuf[rstart..rend]`.
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// The peer closed its sending side.
    eof: bool,
    /// Bytes queued by `buffer`; `wbuf[wpos..]` is still to be sent.
    wbuf: Vec<u8>,
    wpos: usize,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// The longest line `read_until` accepts.
    max_buffer: usize,
    read_timer: Option<Sleep>,
    write_timer: Option<Sleep>,
    peer: SocketAddr,
    local: SocketAddr,
}

impl Connection {
    /// Wraps a connected std `TcpStream`, registering it with the current event
    /// loop (or with async-io's reactor off a monocle loop).
    ///
    /// # Errors
    ///
    /// Fails if the socket cannot be registered or has no addresses (not connected).
    pub fn from_std(stream: TcpStream) -> io::Result<Connection> {
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        Ok(Connection::new(
            Stream::Plain(Tcp::new(stream)?),
            peer,
            local,
        ))
    }

    pub(crate) fn new(stream: Stream, peer: SocketAddr, local: SocketAddr) -> Connection {
        Connection {
            stream: Some(stream),
            // Allocated on the first buffered read: a connection read only
            // through `read_into` or `AsyncRead` into the caller's buffer (as
            // the HTTP server does) never needs it.
            rbuf: Vec::new(),
            rstart: 0,
            rend: 0,
            eof: false,
            wbuf: Vec::new(),
            wpos: 0,
            read_timeout: None,
            write_timeout: None,
            max_buffer: DEFAULT_MAX_BUFFER,
            read_timer: None,
            write_timer: None,
            peer,
            local,
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Our end's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The timeout of each read, write and flush, as
    /// [`set_timeout`](Self::set_timeout) sets it; `None` (the default for
    /// connections of a service without one) waits forever. Where the read
    /// and write timeouts were set apart, this is the read one.
    pub fn timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    /// The timeout of each read ([`set_read_timeout`](Self::set_read_timeout)).
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    /// The timeout of each write and flush
    /// ([`set_write_timeout`](Self::set_write_timeout)).
    pub fn write_timeout(&self) -> Option<Duration> {
        self.write_timeout
    }

    /// Sets the timeout: a read, write or flush still pending after it fails with
    /// [`ConnectionLost`] ([`Reason::TimedOut`]) and closes the connection. It
    /// applies from the next operation on: a timer already running (that of
    /// a futures-io read given up while it waited, say) is dropped, and the
    /// next wait starts one afresh, however long the connection stayed idle.
    ///
    /// A write that times out closes the whole connection, reads included, as a
    /// read that times out does: the timeout is our verdict that the peer is
    /// stuck or gone, and closing is what frees the socket from it. A write
    /// that *fails* is the kernel's report that the peer's receiving side is
    /// gone, while what it sent before is sound; that one leaves reads open.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.set_read_timeout(timeout).set_write_timeout(timeout)
    }

    /// Sets the timeout of reads alone, as [`set_timeout`](Self::set_timeout)
    /// does for all (a running read timer is dropped): a connection that may
    /// stay quiet for long but must never stall a write, say, gets `None`
    /// here and a write timeout.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.read_timeout = timeout;
        disarm(&mut self.read_timer);
        self
    }

    /// Sets the timeout of writes and flushes alone, as
    /// [`set_timeout`](Self::set_timeout) does for all (a running write timer
    /// is dropped): it bounds how long a peer that does not read can hold a
    /// write up (a slow client of a chat room, say) without cutting off a
    /// peer that is only quiet.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.write_timeout = timeout;
        disarm(&mut self.write_timer);
        self
    }

    /// The longest line, delimiter included, that [`read_until`](Self::read_until)
    /// and [`readline`](Self::readline) wait for: 1 MiB unless
    /// [set](Self::set_max_buffer).
    pub fn max_buffer(&self) -> usize {
        self.max_buffer
    }

    /// Sets the longest line, delimiter included, that
    /// [`read_until`](Self::read_until) and [`readline`](Self::readline) accept
    /// (at least 1 byte). A peer that sends more without the delimiter makes the
    /// read fail with [`Reason::TooLong`] instead of growing the buffer without
    /// bound. [`read(n)`](Self::read) is not limited: the caller chose `n`.
    pub fn set_max_buffer(&mut self, max: usize) -> &mut Self {
        self.max_buffer = max.max(1);
        self
    }

    /// Whether the connection is closed: by [`close`](Self::close), a timeout,
    /// or a read that failed (the end of the stream included, when a read
    /// wanted more). Every write on it then fails with [`Reason::Closed`].
    /// Reads still return the bytes already [`buffered`](Self::buffered),
    /// those a failed read left there included, when these are enough for
    /// them; past those, a read fails with [`Reason::ClosedByPeer`] if the
    /// peer's end of stream had been read (a futures-io read gives `Ok(0)`
    /// then), and with [`Reason::Closed`] otherwise.
    ///
    /// A write that failed does not close it: the sending side is dead (see
    /// [`is_write_failed`](Self::is_write_failed)) but reads still return what
    /// the peer sent before. A peer that has closed its side is noticed only by
    /// the next read.
    pub fn is_closed(&self) -> bool {
        self.stream.is_none()
    }

    /// Whether writes fail at once: a write, flush or close of our sending
    /// side failed (the peer reset the connection, say), and each later write
    /// fails with the error the first one failed with; or the connection is
    /// closed, and writes fail with [`Reason::Closed`]. That includes a
    /// connection we closed ourselves with [`close`](Self::close): this is
    /// true for it too. Reads go on until [`is_closed`](Self::is_closed).
    ///
    /// Over TLS, a read sends the session's own records first (those a write
    /// left, a key update): if that failed, this says so too.
    pub fn is_write_failed(&self) -> bool {
        self.stream.is_none() || self.sending_failed()
    }

    /// Whether our sending side failed, as a write or the transport saw.
    fn sending_failed(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(|stream| stream.write_error().is_some())
    }

    /// Closes the connection at once: bytes queued with [`buffer`](Self::buffer)
    /// and not flushed are dropped; a TLS connection sends its close_notify if the
    /// socket takes it without waiting (and its sending side has not failed).
    /// Closing twice does nothing.
    pub fn close(&mut self) {
        if let Some(mut stream) = self.stream.take() {
            // Nothing is sent once sending failed: the goodbye looks.
            stream.goodbye();
        }
        disarm(&mut self.read_timer);
        disarm(&mut self.write_timer);
        self.wbuf = Vec::new();
        self.wpos = 0;
    }

    /// Takes the transport out, leaving the connection closed without a
    /// goodbye: for [`tls::upgrade_client`](crate::tls::upgrade_client), which
    /// runs TLS over it in a new connection.
    #[cfg(feature = "tls")]
    pub(crate) fn take_stream(&mut self) -> Option<Stream> {
        self.read_timer = None;
        self.write_timer = None;
        self.stream.take()
    }

    /// The bytes received and not read yet, without waiting for more.
    pub fn buffered(&self) -> &[u8] {
        &self.rbuf[self.rstart..self.rend]
    }

    /// Reads once more from the socket into the buffer, without consuming
    /// anything, and returns all unread bytes: for parsers that work in place on
    /// [`buffered`](Self::buffered) and then [`consume`](Self::consume) what they
    /// used.
    ///
    /// # Errors
    ///
    /// As [`read_some`](Self::read_some); the end of the stream is
    /// [`Reason::ClosedByPeer`] (the unread bytes stay in
    /// [`buffered`](Self::buffered)).
    pub async fn fill(&mut self) -> Result<&[u8], ConnectionLost> {
        disarm(&mut self.read_timer);
        let have = self.rend - self.rstart;
        self.fill_or_fail(have + 1).await?;
        disarm(&mut self.read_timer);
        Ok(&self.rbuf[self.rstart..self.rend])
    }

    /// Marks the first `n` unread bytes (at most all of them) as read.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.rend - self.rstart);
        self.take(n);
    }

    /// Waits for data and returns what is there: everything buffered, or the
    /// result of one read from the socket.
    ///
    /// # Errors
    ///
    /// [`ConnectionLost`] if the peer closed the connection ([`Reason::ClosedByPeer`])
    /// or reset it, on a timeout, or if the connection is closed.
    pub async fn read_some(&mut self) -> Result<&[u8], ConnectionLost> {
        disarm(&mut self.read_timer);
        if self.rstart == self.rend {
            self.fill_or_fail(1).await?;
        }
        disarm(&mut self.read_timer);
        let start = self.take(self.rend - self.rstart);
        Ok(&self.rbuf[start..self.rend])
    }

    /// Waits until `n` bytes are there and returns them.
    ///
    /// # Errors
    ///
    /// As [`read_some`](Self::read_some); a peer that closes before `n` bytes came
    /// gives [`Reason::ClosedByPeer`] (the partial bytes stay in
    /// [`buffered`](Self::buffered)).
    pub async fn read(&mut self, n: usize) -> Result<&[u8], ConnectionLost> {
        disarm(&mut self.read_timer);
        while self.rend - self.rstart < n {
            // Grow with the bytes that arrive rather than reserving `n` at once.
            let want = n.min(self.rend - self.rstart + READ_GROWTH);
            self.fill_or_fail(want).await?;
        }
        disarm(&mut self.read_timer);
        let start = self.take(n);
        Ok(&self.rbuf[start..start + n])
    }

    /// Waits until `delim` arrives and returns everything up to and including it.
    /// An empty `delim` returns an empty slice at once.
    ///
    /// The buffer grows as needed to hold the whole line, up to
    /// [`max_buffer`](Self::max_buffer) bytes.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read); and [`Reason::TooLong`] if `max_buffer` bytes came
    /// without the delimiter (the connection is then closed, the bytes stay in
    /// [`buffered`](Self::buffered)).
    pub async fn read_until(&mut self, delim: &[u8]) -> Result<&[u8], ConnectionLost> {
        disarm(&mut self.read_timer);
        if delim.is_empty() {
            return Ok(&[]);
        }
        // How many buffered bytes this call has searched. A call dropped part
        // way keeps what it read, but not where it got to: the next may look
        // for another delimiter.
        let mut scanned = 0;
        loop {
            let have = self.rend - self.rstart;
            // Only a line of at most `max_buffer` bytes may match.
            let limit = have.min(self.max_buffer);
            let from = scanned.min(limit).saturating_sub(delim.len() - 1);
            let hay = &self.rbuf[self.rstart + from..self.rstart + limit];
            if let Some(i) = find(hay, delim) {
                let len = from + i + delim.len();
                disarm(&mut self.read_timer);
                let start = self.take(len);
                return Ok(&self.rbuf[start..start + len]);
            }
            if have >= self.max_buffer {
                return Err(self.lost(Reason::TooLong(self.max_buffer)));
            }
            scanned = have;
            self.fill_or_fail(have + 1).await?;
        }
    }

    /// Reads a line, up to and including `\n`.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub async fn readline(&mut self) -> Result<&[u8], ConnectionLost> {
        self.read_until(b"\n").await
    }

    /// Like [`read_some`](Self::read_some), into `buf`: copies buffered bytes, or
    /// reads from the socket straight into `buf` when nothing is buffered. Returns
    /// how many bytes were placed (0 only if `buf` is empty).
    ///
    /// # Errors
    ///
    /// As [`read_some`](Self::read_some).
    pub async fn read_into(&mut self, buf: &mut [u8]) -> Result<usize, ConnectionLost> {
        if buf.is_empty() {
            return Ok(0);
        }
        disarm(&mut self.read_timer);
        let n = poll_fn(|cx| self.poll_read_into(cx, buf)).await?;
        if n == 0 {
            return Err(self.lost(Reason::ClosedByPeer));
        }
        Ok(n)
    }

    /// Fills all of `buf`.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub async fn read_exact_into(&mut self, buf: &mut [u8]) -> Result<(), ConnectionLost> {
        disarm(&mut self.read_timer);
        let mut done = 0;
        while done < buf.len() {
            let n = poll_fn(|cx| self.poll_read_into(cx, &mut buf[done..])).await?;
            if n == 0 {
                return Err(self.lost(Reason::ClosedByPeer));
            }
            done += n;
        }
        disarm(&mut self.read_timer);
        Ok(())
    }

    /// Writes all of `data` and waits until it is flushed to the kernel (bytes
    /// queued with [`buffer`](Self::buffer) go first). Plain TCP writes straight
    /// from `data`, without copying.
    ///
    /// # Errors
    ///
    /// [`ConnectionLost`] if the peer is gone ([`Reason::Reset`]), on a timeout, or
    /// if the connection is closed. Once a write failed (not timed out), every
    /// later one fails at once with the same error, while reads go on: what the
    /// peer sent before it went is still read (see [`Connection`]).
    pub async fn write(&mut self, data: &[u8]) -> Result<(), ConnectionLost> {
        if self.wpos < self.wbuf.len() {
            self.wbuf.extend_from_slice(data);
            return self.flush().await;
        }
        self.check_writable()?;
        disarm(&mut self.write_timer);
        let mut done = 0;
        poll_fn(|cx| {
            while done < data.len() {
                done += ready!(self.poll_send(cx, &data[done..]))?;
            }
            self.poll_flush_queued(cx)
        })
        .await?;
        disarm(&mut self.write_timer);
        Ok(())
    }

    /// Queues `data` to be sent by the next [`flush`](Self::flush) or
    /// [`write`](Self::write), without a system call: gather small pieces (a
    /// header and a body) into one send.
    pub fn buffer(&mut self, data: &[u8]) {
        if !self.is_write_failed() {
            self.wbuf.extend_from_slice(data);
        }
    }

    /// Sends everything queued with [`buffer`](Self::buffer) and waits until the
    /// kernel has it.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    pub async fn flush(&mut self) -> Result<(), ConnectionLost> {
        self.check_writable()?;
        disarm(&mut self.write_timer);
        poll_fn(|cx| self.poll_flush_queued(cx)).await?;
        disarm(&mut self.write_timer);
        Ok(())
    }

    /// Marks `n` unread bytes as read and returns where they start.
    fn take(&mut self, n: usize) -> usize {
        debug_assert!(self.rstart + n <= self.rend);
        let start = self.rstart;
        self.rstart += n;
        start
    }

    /// The error for an operation on a closed connection.
    fn closed(&self) -> ConnectionLost {
        ConnectionLost::new(Reason::Closed, self.peer)
    }

    /// The one check of a write, flush or close of our sending side, made
    /// once as it starts (each futures-io call is one): the error it fails
    /// with at once if the connection is closed ([`closed`](Self::closed)),
    /// or if sending failed before, by a write or in the transport (a TLS
    /// session sending its own records during a read). What it calls below
    /// ([`poll_send`](Self::poll_send), [`poll_flush_queued`](Self::poll_flush_queued),
    /// the transport's writes) checks nothing again: a failure there is
    /// returned by the call that met it and recorded for the next check.
    ///
    /// Inlined, with the error made out of line: every futures-io write and
    /// flush of the HTTP server passes here.
    #[inline]
    fn check_writable(&mut self) -> Result<(), ConnectionLost> {
        match &self.stream {
            Some(stream) if stream.write_error().is_none() => Ok(()),
            _ => Err(self.refuse_write()),
        }
    }

    /// The error of a write [`check_writable`](Self::check_writable) refuses.
    #[cold]
    #[inline(never)]
    fn refuse_write(&mut self) -> ConnectionLost {
        let Some(failed) = self.stream.as_ref().and_then(Stream::write_error) else {
            return self.closed();
        };
        let failed = copy_error(failed);
        // Queued before the failure (one in the transport during a read, say),
        // never to be sent.
        self.drop_queue();
        ConnectionLost::from_io(failed, &self.peer)
    }

    /// Closes the connection and says why.
    fn lost(&mut self, reason: Reason) -> ConnectionLost {
        self.close();
        ConnectionLost::new(reason, self.peer)
    }

    /// A read failed: closes the connection.
    fn fail(&mut self, e: io::Error) -> ConnectionLost {
        self.close();
        ConnectionLost::from_io(e, &self.peer)
    }

    /// A write, flush or shutdown of the sending side failed: ends that side
    /// only (queued bytes are dropped, later writes fail with this error), so
    /// what the peer sent before is still read.
    fn fail_write(&mut self, e: io::Error) -> ConnectionLost {
        if let Some(stream) = self.stream.as_mut() {
            stream.write_failed(&e);
        }
        self.drop_queue();
        ConnectionLost::from_io(e, &self.peer)
    }

    /// Drops the bytes queued to be sent, and the write timer, once sending
    /// failed.
    fn drop_queue(&mut self) {
        disarm(&mut self.write_timer);
        self.wbuf = Vec::new();
        self.wpos = 0;
    }

    /// Makes room so that `want` unread bytes fit (and at least one more byte).
    fn make_room(&mut self, want: usize) {
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        }
        let have = self.rend - self.rstart;
        let target = want.max(have + 1);
        let spare = self.rbuf.len() - self.rend;
        if self.rbuf.len() - self.rstart >= target && spare >= MIN_READ.min(target - have) {
            return;
        }
        if self.rstart > 0 {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rstart = 0;
            self.rend = have;
        }
        if self.rbuf.len() < target {
            let len = target.max(self.rbuf.len() * 2).max(INITIAL_BUFFER);
            self.rbuf.resize(len, 0);
        }
    }

    /// Reads once into the buffer, making room for `want` unread bytes first.
    /// `Ok(0)` is the end of the stream.
    fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        want: usize,
    ) -> Poll<Result<usize, ConnectionLost>> {
        if self.eof {
            return Poll::Ready(Ok(0));
        }
        if self.stream.is_none() {
            return Poll::Ready(Err(self.closed()));
        }
        self.make_room(want);
        let stream = self.stream.as_mut().expect("checked above");
        match stream.poll_read(cx, &mut self.rbuf[self.rend..]) {
            Poll::Ready(Ok(n)) => {
                self.rend += n;
                self.eof = n == 0;
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.fail(e))),
            Poll::Pending => self.poll_read_timeout(cx).map(Err),
        }
    }

    /// Reads once into the buffer; the end of the stream is an error.
    async fn fill_or_fail(&mut self, want: usize) -> Result<(), ConnectionLost> {
        match poll_fn(|cx| self.poll_fill(cx, want)).await? {
            0 => Err(self.lost(Reason::ClosedByPeer)),
            _ => Ok(()),
        }
    }

    /// Copies buffered bytes into `buf`, or reads into it from the socket.
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<Result<usize, ConnectionLost>> {
        if self.rstart < self.rend {
            let n = buf.len().min(self.rend - self.rstart);
            buf[..n].copy_from_slice(&self.rbuf[self.rstart..self.rstart + n]);
            self.take(n);
            // Done without waiting: a timer that a read given up left
            // behind (one that buffered these bytes, say) goes.
            disarm(&mut self.read_timer);
            return Poll::Ready(Ok(n));
        }
        if self.eof || buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let Some(stream) = self.stream.as_mut() else {
            return Poll::Ready(Err(self.closed()));
        };
        match stream.poll_read(cx, buf) {
            Poll::Ready(Ok(n)) => {
                disarm(&mut self.read_timer);
                self.eof = n == 0;
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.fail(e))),
            Poll::Pending => self.poll_read_timeout(cx).map(Err),
        }
    }

    /// One write of a prefix of `data` (not empty) to the transport, in a
    /// write that passed [`check_writable`](Self::check_writable).
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<Result<usize, ConnectionLost>> {
        let stream = self.stream.as_mut().expect("checked by the caller");
        match stream.poll_write(cx, data) {
            Poll::Ready(Ok(0)) if !data.is_empty() => {
                Poll::Ready(Err(self.fail_write(io::ErrorKind::WriteZero.into())))
            }
            Poll::Ready(Ok(n)) => Poll::Ready(Ok(n)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.fail_write(e))),
            Poll::Pending => self.poll_write_timeout(cx).map(Err),
        }
    }

    /// Sends the queued bytes, then whatever the transport buffered, in a
    /// write that passed [`check_writable`](Self::check_writable).
    fn poll_flush_queued(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectionLost>> {
        while self.wpos < self.wbuf.len() {
            let wbuf = std::mem::take(&mut self.wbuf);
            let res = self.poll_send(cx, &wbuf[self.wpos..]);
            // A failed write dropped the queue (and a timeout closed it all).
            if !matches!(res, Poll::Ready(Err(_))) {
                self.wbuf = wbuf;
            }
            self.wpos += ready!(res)?;
        }
        self.wbuf.clear();
        self.wpos = 0;
        let stream = self.stream.as_mut().expect("checked by the caller");
        match stream.poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                disarm(&mut self.write_timer);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.fail_write(e))),
            Poll::Pending => self.poll_write_timeout(cx).map(Err),
        }
    }

    fn poll_read_timeout(&mut self, cx: &mut Context<'_>) -> Poll<ConnectionLost> {
        self.poll_timeout(cx, false)
    }

    fn poll_write_timeout(&mut self, cx: &mut Context<'_>) -> Poll<ConnectionLost> {
        self.poll_timeout(cx, true)
    }

    /// Arms the read (or write) timer on the first wait; fails the connection
    /// when it fires.
    fn poll_timeout(&mut self, cx: &mut Context<'_>, write: bool) -> Poll<ConnectionLost> {
        let Some(after) = (if write {
            self.write_timeout
        } else {
            self.read_timeout
        }) else {
            return Poll::Pending;
        };
        let slot = if write {
            &mut self.write_timer
        } else {
            &mut self.read_timer
        };
        ready!(Pin::new(slot.get_or_insert_with(|| sleep(after))).poll(cx));
        Poll::Ready(self.lost(Reason::TimedOut(after)))
    }
}

/// Where `needle` (not empty) first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if let [byte] = needle {
        return hay.iter().position(|b| b == byte);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .field("local", &self.local)
            .field("closed", &self.is_closed())
            .field("write_failed", &self.sending_failed())
            .field("buffered", &(self.rend - self.rstart))
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .finish()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_read_into(cx, buf)
            .map_err(io::Error::from)
    }
}

impl AsyncBufRead for Connection {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.rstart == this.rend {
            if let Err(e) = ready!(this.poll_fill(cx, 1)) {
                return Poll::Ready(Err(e.into()));
            }
        }
        // Done, waiting or not: as in `poll_read_into`.
        disarm(&mut this.read_timer);
        Poll::Ready(Ok(&this.rbuf[this.rstart..this.rend]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        let n = amt.min(this.rend - this.rstart);
        this.take(n);
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let queued = this.wpos < this.wbuf.len();
        if queued || !buf.is_empty() {
            this.check_writable()?;
        }
        if queued {
            ready!(this.poll_flush_queued(cx))?;
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let res = ready!(this.poll_send(cx, buf));
        disarm(&mut this.write_timer);
        Poll::Ready(res.map_err(io::Error::from))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_writable()?;
        this.poll_flush_queued(cx).map_err(io::Error::from)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_writable()?;
        ready!(this.poll_flush_queued(cx))?;
        match this.stream.as_mut() {
            Some(stream) => match stream.shutdown_write() {
                // Already shut down, or the peer left: nothing more to close.
                Err(e) if e.kind() != io::ErrorKind::NotConnected => {
                    Poll::Ready(Err(this.fail_write(e).into()))
                }
                _ => Poll::Ready(Ok(())),
            },
            None => Poll::Ready(Ok(())),
        }
    }
}

/// A connection can be the result of a launched o-routine (one that opens it).
impl monocle_stack::Outcome for Connection {}

/// Drops an armed timer. Checked inline first: reads and writes call this on
/// every completion, and most have no timer.
#[inline]
fn disarm(timer: &mut Option<Sleep>) {
    if timer.is_some() {
        *timer = None;
    }
}
