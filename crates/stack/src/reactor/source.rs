//! [`Source`]: an I/O object registered with the current loop's reactor.

use std::fmt;
use std::io;
use std::task::{Context, Poll};

#[cfg(unix)]
use std::os::fd::AsFd;

use crate::runtime;

/// An I/O object (a socket, a pipe) registered with the reactor of the event loop
/// that created it.
///
/// `Source` is the interface the network layer is built on: try the operation,
/// and when the kernel answers `WouldBlock`, call [`clear_readable`] (or
/// [`clear_writable`]) and await [`poll_readable`] (or [`poll_writable`]) before
/// trying again. With the epoll backend a short read also means the socket was
/// drained, so callers may clear readiness after one and save a system call.
///
/// Created on a thread without a monocle loop (for instance under another
/// executor), a `Source` uses async-io's reactor, so the types built on it work
/// anywhere. One registered with a loop also works when awaited while that loop
/// is not running (under another executor on the loop's thread): with the epoll
/// backend, async-io then watches the loop's epoll descriptor for it.
///
/// [`clear_readable`]: Source::clear_readable
/// [`clear_writable`]: Source::clear_writable
/// [`poll_readable`]: Source::poll_readable
/// [`poll_writable`]: Source::poll_writable
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use std::os::unix::net::UnixStream;
/// use monocle_stack::reactor::Source;
///
/// monocle_stack::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     let a = Source::new(a)?;
///     std::io::Write::write_all(&mut &b, b"hi")?;
///     let mut buf = [0u8; 2];
///     let n = a.read_with(|mut s| s.read(&mut buf)).await?;
///     assert_eq!(&buf[..n], b"hi");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct Source<T: AsFd> {
    inner: Inner<T>,
}

enum Inner<T: AsFd> {
    #[cfg(target_os = "linux")]
    Epoll(EpollIo<T>),
    AsyncIo(async_io::Async<T>),
}

/// An I/O object registered with the epoll reactor; deregisters before it closes.
#[cfg(target_os = "linux")]
struct EpollIo<T: AsFd> {
    reg: super::epoll::Registration,
    /// Present until `into_inner` or drop.
    io: Option<T>,
}

#[cfg(target_os = "linux")]
impl<T: AsFd> EpollIo<T> {
    fn io(&self) -> &T {
        self.io.as_ref().expect("io is present until drop")
    }
}

#[cfg(target_os = "linux")]
impl<T: AsFd> Drop for EpollIo<T> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            self.reg.deregister(io.as_fd());
        }
    }
}

impl<T: AsFd> Source<T> {
    /// Puts `io` in non-blocking mode and registers it with the current thread's
    /// event loop (or async-io's reactor when the thread has no monocle loop).
    ///
    /// # Errors
    ///
    /// Fails when the descriptor cannot be made non-blocking or registered.
    pub fn new(io: T) -> io::Result<Source<T>> {
        #[cfg(target_os = "linux")]
        if let Some(reactor) = runtime::current_epoll() {
            rustix::io::ioctl_fionbio(io.as_fd(), true)?;
            let reg = reactor.register(io.as_fd())?;
            return Ok(Source {
                inner: Inner::Epoll(EpollIo { reg, io: Some(io) }),
            });
        }
        Ok(Source {
            inner: Inner::AsyncIo(async_io::Async::new(io)?),
        })
    }

    /// The I/O object.
    pub fn get_ref(&self) -> &T {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Epoll(e) => e.io(),
            Inner::AsyncIo(a) => a.get_ref(),
        }
    }

    /// Deregisters the I/O object and gives it back (still non-blocking).
    ///
    /// # Errors
    ///
    /// Fails when the reactor refuses to deregister it.
    pub fn into_inner(self) -> io::Result<T> {
        match self.inner {
            #[cfg(target_os = "linux")]
            Inner::Epoll(mut e) => {
                let io = e.io.take().expect("io is present until drop");
                e.reg.deregister(io.as_fd());
                Ok(io)
            }
            Inner::AsyncIo(a) => a.into_inner(),
        }
    }

    /// Polls until the source is readable (or was never found not to be).
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Epoll(e) => e.reg.poll_ready(cx, false),
            Inner::AsyncIo(a) => a.poll_readable(cx),
        }
    }

    /// Polls until the source is writable.
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Epoll(e) => e.reg.poll_ready(cx, true),
            Inner::AsyncIo(a) => a.poll_writable(cx),
        }
    }

    /// Records that the source was found not readable (a read said `WouldBlock`,
    /// or came back short on a stream): the next [`poll_readable`](Self::poll_readable)
    /// waits for an event.
    pub fn clear_readable(&self) {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Epoll(e) => e.reg.clear(false),
            Inner::AsyncIo(_) => {}
        }
    }

    /// Records that the source was found not writable.
    pub fn clear_writable(&self) {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Epoll(e) => e.reg.clear(true),
            Inner::AsyncIo(_) => {}
        }
    }

    /// Whether a read may be tried without waiting first. Always true with the
    /// async-io backend, which learns readiness only by trying.
    pub fn is_readable(&self) -> bool {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Epoll(e) => e.reg.is_ready(false),
            Inner::AsyncIo(_) => true,
        }
    }

    /// Whether a write may be tried without waiting first.
    pub fn is_writable(&self) -> bool {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Epoll(e) => e.reg.is_ready(true),
            Inner::AsyncIo(_) => true,
        }
    }

    /// Runs `op` until it does not answer `WouldBlock`, waiting for readability
    /// between tries.
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if self.is_readable() {
                match op(self.get_ref()) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readable(),
                    res => return Poll::Ready(res),
                }
            }
            if let Err(e) = std::task::ready!(self.poll_readable(cx)) {
                return Poll::Ready(Err(e));
            }
        }
    }

    /// Runs `op` until it does not answer `WouldBlock`, waiting for writability
    /// between tries.
    pub fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if self.is_writable() {
                match op(self.get_ref()) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_writable(),
                    res => return Poll::Ready(res),
                }
            }
            if let Err(e) = std::task::ready!(self.poll_writable(cx)) {
                return Poll::Ready(Err(e));
            }
        }
    }

    /// Awaits `op` on the I/O object until it does not answer `WouldBlock`.
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        futures_lite::future::poll_fn(|cx| self.poll_read_with(cx, &mut op)).await
    }

    /// Awaits `op` on the I/O object until it does not answer `WouldBlock`.
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        futures_lite::future::poll_fn(|cx| self.poll_write_with(cx, &mut op)).await
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Source<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match self.inner {
            #[cfg(target_os = "linux")]
            Inner::Epoll(_) => "epoll",
            Inner::AsyncIo(_) => "async-io",
        };
        f.debug_struct("Source")
            .field("io", self.get_ref())
            .field("reactor", &backend)
            .finish()
    }
}
