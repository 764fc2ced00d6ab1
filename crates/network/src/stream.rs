//! The transports under a [`Connection`](crate::Connection): plain TCP on the
//! stack's reactor, or TLS over it.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::task::{ready, Context, Poll};

use monocle_stack::reactor::Source;
// The socket calls go through rustix: on Linux it makes them straight to the
// kernel, without libc's cancellation-point bookkeeping around every call.
use rustix::io::Errno;
use rustix::net::{recv, send, RecvFlags, SendFlags};

use crate::error::{copy_error, is_reset};

/// A closed peer must make a write fail with `EPIPE`, not raise `SIGPIPE`:
/// `MSG_NOSIGNAL` on every send where it exists. Apple systems lack it; there
/// the socket gets `SO_NOSIGPIPE` instead (in [`Tcp::new`]).
#[cfg(not(target_vendor = "apple"))]
const SEND_FLAGS: SendFlags = SendFlags::NOSIGNAL;
#[cfg(target_vendor = "apple")]
const SEND_FLAGS: SendFlags = SendFlags::empty();

/// The error a read gives for the end of a stream that a reset cut short,
/// once a write met that reset ([`is_reset`]).
///
/// Linux reports a reset once, to the first call that meets it, and says
/// which one it was. A reset that comes while the peer's stream is open (it
/// closed with our bytes unread, or with linger 0) is `ECONNRESET`
/// (`ECONNABORTED` on some systems): the peer sent no end of its stream,
/// and the reset dropped whatever it had not sent yet. When a write is the
/// call that meets it, the reads after it give the bytes that came before,
/// then a plain end of stream (0), as if the peer had closed: only the
/// failed write knows better, and the stream remembers it to give this
/// error instead. A reset that comes after the peer ended its stream (its
/// FIN first: it closed its sending side, then reset) is reported as
/// `EPIPE` instead, as is every write after the first that failed: that
/// peer's stream ended whole, and its end is genuine.
pub(crate) fn cut_short() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "the peer reset the connection (a write met the reset): \
         what it sent may have been cut short",
    )
}

/// A TCP stream registered with the loop's reactor.
pub(crate) struct Tcp {
    pub(crate) io: Source<TcpStream>,
    /// Why our sending side failed, once it did: a send of the connection's,
    /// a TLS session's own records sent during a read, or a write the
    /// connection saw fail above the socket. The first failure stays, and it
    /// is the one record of it, for plain TCP and TLS alike: the connection
    /// checks it once at the start of each write, flush or close (see
    /// [`Stream::write_error`]), and the layers below trust that check. If
    /// it is the peer's reset ([`is_reset`]), the end of the stream that
    /// reads meet after it is that reset ([`cut_short`]), not a close.
    write_error: Option<io::Error>,
    /// The last read came back short or with `WouldBlock`: the socket is drained,
    /// so the next read waits for readiness first instead of trying (and reading
    /// `EAGAIN`). With the epoll backend the source's own flag says the same; the
    /// async-io backend learns readiness only from this.
    drained: bool,
    /// A wait for readiness returned `Pending`: when polled again, the async-io
    /// backend (whose `poll_readable` may call a wake-up that raced with the
    /// registration stale) tries the read rather than asking again.
    waiting: bool,
}

impl Tcp {
    pub(crate) fn new(stream: TcpStream) -> io::Result<Tcp> {
        #[cfg(target_vendor = "apple")]
        socket2::SockRef::from(&stream).set_nosigpipe(true)?;
        Ok(Tcp {
            io: Source::new(stream)?,
            write_error: None,
            drained: false,
            waiting: false,
        })
    }

    /// One read into `buf`, waiting for readiness only when the socket is known to
    /// be drained. A read shorter than `buf` marks it drained. The end of the
    /// stream is `Ok(0)`, or the reset that cut it short once a write met one.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if self.drained {
                match self.io.poll_readable(cx) {
                    Poll::Ready(res) => res?,
                    Poll::Pending => {
                        // Polled again after a wait: async-io may have called the
                        // wake-up that brought us here stale (it raced with the
                        // registration), so try the read. `is_readable` is exact
                        // with epoll and always true with async-io.
                        let retry = std::mem::take(&mut self.waiting) && self.io.is_readable();
                        if !retry {
                            self.waiting = true;
                            return Poll::Pending;
                        }
                    }
                }
                self.waiting = false;
                self.drained = false;
            }
            match recv(self.io.get_ref(), &mut *buf, RecvFlags::empty()) {
                Ok((_, 0))
                    if !buf.is_empty() && self.write_error.as_ref().is_some_and(is_reset) =>
                {
                    return Poll::Ready(Err(cut_short()))
                }
                Ok((_, n)) => {
                    if n > 0 && n < buf.len() {
                        self.io.clear_readable();
                        self.drained = true;
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(Errno::AGAIN) => {
                    self.io.clear_readable();
                    self.drained = true;
                }
                Err(Errno::INTR) => {}
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
    }

    /// One write of (a prefix of) `buf`. Sending must not have failed
    /// (the connection checked).
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        debug_assert!(self.write_error.is_none(), "a write after sending failed");
        loop {
            if self.io.is_writable() {
                match send(self.io.get_ref(), buf, SEND_FLAGS) {
                    Ok(n) => {
                        if n < buf.len() {
                            // The send buffer is full: the next write would say EAGAIN.
                            self.io.clear_writable();
                        }
                        return Poll::Ready(Ok(n));
                    }
                    Err(Errno::AGAIN) => self.io.clear_writable(),
                    Err(Errno::INTR) => continue,
                    Err(e) => return Poll::Ready(Err(e.into())),
                }
            }
            ready!(self.io.poll_writable(cx))?;
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Why sending failed, if it did (see the field).
    pub(crate) fn write_error(&self) -> Option<&io::Error> {
        self.write_error.as_ref()
    }

    /// Sending failed with `e`: nothing more is sent (the first failure is
    /// the one kept).
    pub(crate) fn write_failed(&mut self, e: &io::Error) {
        if self.write_error.is_none() {
            self.write_error = Some(copy_error(e));
        }
    }
}

/// The byte stream of a connection.
pub(crate) enum Stream {
    Plain(Tcp),
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::TlsStream>),
}

impl Stream {
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self {
            Stream::Plain(t) => t.poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.poll_read(cx, buf),
        }
    }

    /// One write of (a prefix of) `buf`. The caller checked that sending
    /// had not failed ([`write_error`](Self::write_error)), once for the
    /// whole write: nothing below looks again.
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self {
            Stream::Plain(t) => t.poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.poll_write(cx, buf),
        }
    }

    /// Sends what the transport itself buffered (TLS records); nothing for
    /// plain TCP. Checked by the caller, as [`poll_write`](Self::poll_write) is.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Plain(_) => {
                let _ = cx;
                Poll::Ready(Ok(()))
            }
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.poll_flush(cx),
        }
    }

    /// Ends our sending side (after a TLS close_notify, sent without waiting).
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(t) => t.shutdown(Shutdown::Write),
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.shutdown_write(),
        }
    }

    /// The TCP stream under the transport.
    fn tcp(&self) -> &Tcp {
        match self {
            Stream::Plain(t) => t,
            #[cfg(feature = "tls")]
            Stream::Tls(t) => &t.tcp,
        }
    }

    /// Our sending side failed with `e`: nothing more is sent, while reads
    /// go on (a TLS session stops trying to send its own records before each
    /// read). If it failed with the peer's reset, the end of the stream that
    /// reads meet later is that reset ([`is_reset`]).
    pub(crate) fn write_failed(&mut self, e: &io::Error) {
        match self {
            Stream::Plain(t) => t.write_failed(e),
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.tcp.write_failed(e),
        }
    }

    /// Why our sending side failed, if it did: the one record of it, which
    /// a write of the connection's or a TLS session sending its own records
    /// during a read left in the TCP stream under either transport.
    /// [`poll_write`](Self::poll_write) and [`poll_flush`](Self::poll_flush)
    /// do not look: the connection checks this once before each write.
    pub(crate) fn write_error(&self) -> Option<&io::Error> {
        self.tcp().write_error()
    }

    /// Says goodbye before the socket is closed: a TLS close_notify, sent without
    /// waiting.
    pub(crate) fn goodbye(&mut self) {
        match self {
            Stream::Plain(_) => {}
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.goodbye(),
        }
    }
}
