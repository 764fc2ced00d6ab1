//! Buffers and small I/O helpers shared by the server and the client: a
//! reusable input buffer, reads raced against a lazily armed timer and a stop
//! signal, and a vectored `write_all`.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncRead, AsyncWrite};
use monocle_stack::util::{sleep_until, Sleep};

/// The size an input buffer starts with.
const INITIAL_INPUT: usize = 8 << 10;

/// A connection's input buffer: bytes `[start, end)` of `buf` are unread.
///
/// `buf` stays fully initialized, so reads go straight into its tail without
/// zeroing per read; it grows only when one message needs more room.
#[derive(Debug)]
pub(crate) struct InBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl InBuf {
    pub(crate) fn new() -> Self {
        InBuf {
            buf: vec![0; INITIAL_INPUT],
            start: 0,
            end: 0,
        }
    }

    /// The unread bytes.
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Counts `n` bytes read into [`spare`](Self::spare) as unread data.
    pub(crate) fn filled(&mut self, n: usize) {
        self.end += n;
    }

    /// Drops `n` unread bytes from the front.
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drops up to `n` unread bytes from the front, as many as there are,
    /// and returns them: their count is how many were dropped, and they stay
    /// readable until the buffer is next written to.
    pub(crate) fn consume_up_to(&mut self, n: u64) -> &[u8] {
        let k = usize::try_from(n).map_or(self.len(), |n| n.min(self.len()));
        let at = self.start;
        self.consume(k);
        &self.buf[at..at + k]
    }

    /// How many bytes it can hold without growing.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Makes room for at least some more bytes at the tail and returns it.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let len = self.buf.len();
                self.buf.resize(len * 2, 0);
            }
        }
        &mut self.buf[self.end..]
    }
}

/// Why a guarded read ended without data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadEnd {
    /// Some bytes arrived (how many).
    Data(usize),
    /// The peer closed its side.
    Eof,
    /// The deadline passed.
    TimedOut,
    /// The server is stopping.
    Stopped,
}

/// When a guarded read gives up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Deadline {
    /// This long after the read starts waiting (the timer is armed only when
    /// the first poll finds no data, so a read that is ready costs no clock read).
    After(Duration),
    /// At this instant.
    At(Instant),
    /// Never: no timer is armed at all (a client without a timeout).
    Never,
}

/// Reads once into `inbuf`, giving up at the deadline or when `stop` fires.
pub(crate) async fn fill<R: AsyncRead + Unpin>(
    io: &mut R,
    inbuf: &mut InBuf,
    deadline: Deadline,
    stop: Option<&Signal>,
) -> io::Result<ReadEnd> {
    let spare = inbuf.spare();
    let end = read_guarded(io, spare, deadline, stop).await?;
    if let ReadEnd::Data(n) = end {
        inbuf.end += n;
    }
    Ok(end)
}

/// Reads once into `buf`, giving up at the deadline or when `stop` fires.
pub(crate) async fn read_guarded<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut [u8],
    deadline: Deadline,
    stop: Option<&Signal>,
) -> io::Result<ReadEnd> {
    let mut timer: Option<Sleep> = None;
    let mut waiter = stop.map(Waiter::new);
    std::future::poll_fn(|cx| {
        match Pin::new(&mut *io).poll_read(cx, buf) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Ok(ReadEnd::Eof)),
            Poll::Ready(Ok(n)) => return Poll::Ready(Ok(ReadEnd::Data(n))),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
        if let Some(waiter) = &mut waiter {
            if waiter.poll(cx).is_ready() {
                return Poll::Ready(Ok(ReadEnd::Stopped));
            }
        }
        poll_deadline(&mut timer, deadline, cx).map(|()| Ok(ReadEnd::TimedOut))
    })
    .await
}

/// Arms `timer` on first use and polls it; [`Deadline::Never`] arms nothing
/// and stays pending.
pub(crate) fn poll_deadline(
    timer: &mut Option<Sleep>,
    deadline: Deadline,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if timer.is_none() {
        *timer = match deadline {
            Deadline::After(d) => Some(sleep_until(
                Instant::now().checked_add(d).unwrap_or_else(far_future),
            )),
            Deadline::At(at) => Some(sleep_until(at)),
            Deadline::Never => return Poll::Pending,
        };
    }
    match timer.as_mut() {
        Some(t) => Pin::new(t).poll(cx),
        None => Poll::Pending,
    }
}

/// Runs `fut` until it finishes (`Some`) or the deadline passes (`None`); the
/// timer is armed only if `fut` does not finish at its first poll, and never
/// for [`Deadline::Never`].
pub(crate) async fn with_deadline<F: Future>(deadline: Deadline, fut: F) -> Option<F::Output> {
    if let Deadline::Never = deadline {
        return Some(fut.await);
    }
    let mut fut = std::pin::pin!(fut);
    let mut timer: Option<Sleep> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        poll_deadline(&mut timer, deadline, cx).map(|()| None)
    })
    .await
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// How far a write of several buffers has got.
#[derive(Default)]
struct WriteCursor {
    /// The buffer being written, and the bytes of it already sent.
    index: usize,
    offset: usize,
}

impl WriteCursor {
    /// One vectored write of what is left of `bufs`: `Ready(Ok(true))` once
    /// everything is written, `Ready(Ok(false))` after a write that left more.
    fn poll_write<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        bufs: &[&[u8]],
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<bool>> {
        while self.index < bufs.len() && self.offset == bufs[self.index].len() {
            self.index += 1;
            self.offset = 0;
        }
        if self.index == bufs.len() {
            return Poll::Ready(Ok(true));
        }
        let mut slices = [IoSlice::new(&[]); 4];
        let mut count = 0;
        for (i, b) in bufs[self.index..].iter().enumerate().take(slices.len()) {
            slices[count] = IoSlice::new(if i == 0 { &b[self.offset..] } else { b });
            count += 1;
        }
        let mut left = match ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count])) {
            Ok(0) => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the peer stopped accepting data",
                )))
            }
            Ok(n) => n,
            Err(e) => return Poll::Ready(Err(e)),
        };
        while left > 0 {
            let room = bufs[self.index].len() - self.offset;
            if left < room {
                self.offset += left;
                left = 0;
            } else {
                left -= room;
                self.index += 1;
                self.offset = 0;
            }
        }
        Poll::Ready(Ok(false))
    }
}

/// Writes all of `bufs` (in order) to `io`, vectored where the writer supports it.
pub(crate) async fn write_all_vectored<W: AsyncWrite + Unpin>(
    io: &mut W,
    bufs: &[&[u8]],
) -> io::Result<()> {
    let mut cursor = WriteCursor::default();
    std::future::poll_fn(|cx| loop {
        if ready!(cursor.poll_write(io, bufs, cx))? {
            return Poll::Ready(io::Result::Ok(()));
        }
    })
    .await?;
    std::future::poll_fn(|cx| Pin::new(&mut *io).poll_flush(cx)).await
}

/// Writes all of `bufs` as [`write_all_vectored`] does, giving up (`Ok(None)`)
/// only when the writer takes no byte for `idle`: the timer, armed when a
/// write has to wait, starts over after every write that makes progress, so
/// a slow but steady reader gets everything.
pub(crate) async fn write_all_vectored_idle<W: AsyncWrite + Unpin>(
    io: &mut W,
    bufs: &[&[u8]],
    idle: Duration,
) -> io::Result<Option<()>> {
    let mut write = IdleWrite::default();
    std::future::poll_fn(|cx| write.poll(io, bufs, idle, cx)).await
}

/// The state of a [`write_all_vectored_idle`], kept by the caller so that a
/// long-lived struct can hold it (the server's connection does, keeping the
/// future of its per-response flush small).
#[derive(Default)]
pub(crate) struct IdleWrite {
    cursor: WriteCursor,
    timer: Option<Sleep>,
}

impl IdleWrite {
    /// Polls the write of `bufs` (the same buffers on every poll until it
    /// is done); `Ready(Ok(None))` when `idle` passed without progress.
    pub(crate) fn poll<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        bufs: &[&[u8]],
        idle: Duration,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<()>>> {
        loop {
            match self.cursor.poll_write(io, bufs, cx) {
                Poll::Ready(Ok(true)) => break,
                Poll::Ready(Ok(false)) => self.disarm(),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    return poll_deadline(&mut self.timer, Deadline::After(idle), cx)
                        .map(|()| Ok(None))
                }
            }
        }
        match Pin::new(&mut *io).poll_flush(cx) {
            Poll::Ready(result) => Poll::Ready(result.map(Some)),
            Poll::Pending => {
                poll_deadline(&mut self.timer, Deadline::After(idle), cx).map(|()| Ok(None))
            }
        }
    }

    /// Makes ready for the next write.
    pub(crate) fn reset(&mut self) {
        self.cursor = WriteCursor::default();
        self.disarm();
    }

    fn disarm(&mut self) {
        if self.timer.is_some() {
            self.timer = None;
        }
    }
}

/// A one-way, one-thread broadcast flag: once [`fire`](Signal::fire)d, every
/// waiter wakes and every later wait returns at once.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    fired: Cell<bool>,
    waiters: RefCell<slab::Slab<Waker>>,
}

impl Signal {
    pub(crate) fn is_fired(&self) -> bool {
        self.fired.get()
    }

    pub(crate) fn fire(&self) {
        self.fired.set(true);
        let wakers: Vec<Waker> = self.waiters.borrow_mut().drain().collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Polls for the signal; registers the waker under `key` while not fired.
    pub(crate) fn poll_wait(&self, key: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<()> {
        if self.fired.get() {
            return Poll::Ready(());
        }
        let mut waiters = self.waiters.borrow_mut();
        match key.and_then(|k| waiters.get_mut(k)) {
            Some(w) => {
                if !w.will_wake(cx.waker()) {
                    let old = std::mem::replace(w, cx.waker().clone());
                    // Dropped after the borrow: the last waker of a task drops
                    // the task, whose waits then leave this list.
                    drop(waiters);
                    drop(old);
                }
            }
            None => *key = Some(waiters.insert(cx.waker().clone())),
        }
        Poll::Pending
    }

    /// Unregisters a waiter (its key may already be gone after a wake).
    pub(crate) fn forget(&self, key: usize) {
        let mut waiters = self.waiters.borrow_mut();
        if waiters.contains(key) {
            waiters.remove(key);
        }
    }

    /// Waits until fired. A wait dropped before that (one that lost a race)
    /// leaves no waker behind.
    pub(crate) async fn wait(&self) {
        let mut waiter = Waiter::new(self);
        std::future::poll_fn(|cx| waiter.poll(cx)).await;
    }
}

/// A wait for a [`Signal`] that unregisters its waker when dropped, whether
/// or not the signal fired: a connection that ends while racing the server's
/// stop against its work must not leave its waker, and with it its task's
/// memory, in the signal's list until the server stops.
pub(crate) struct Waiter<'a> {
    signal: &'a Signal,
    key: Option<usize>,
}

impl<'a> Waiter<'a> {
    pub(crate) fn new(signal: &'a Signal) -> Self {
        Waiter { signal, key: None }
    }

    /// Polls for the signal, registering `cx`'s waker while it is not fired.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.signal.poll_wait(&mut self.key, cx)
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.signal.forget(key);
        }
    }
}

/// Whether `e` means the peer went away (reset, closed, or a broken pipe).
pub(crate) fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected
    )
}

/// Whether `e` is a reset, rather than the peer closing its side: the
/// disconnects after which what was read cannot be taken as complete (the
/// network layer's, for the client's readers).
pub(crate) use monocle_network::is_reset;

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls `fut` once with a no-op waker, expecting it to wait.
    fn poll_pending<F: Future>(fut: Pin<&mut F>) {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.poll(&mut cx).is_pending());
    }

    #[test]
    fn a_wait_given_up_leaves_no_waker() {
        let signal = Signal::default();
        for _ in 0..3 {
            let mut wait = std::pin::pin!(signal.wait());
            poll_pending(wait.as_mut());
            assert_eq!(signal.waiters.borrow().len(), 1);
        }
        assert_eq!(signal.waiters.borrow().len(), 0);

        // A read raced against the signal, dropped while both wait.
        struct Never;
        impl AsyncRead for Never {
            fn poll_read(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                _: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                Poll::Pending
            }
        }
        let mut io = Never;
        let mut buf = [0; 8];
        {
            let mut read = std::pin::pin!(read_guarded(
                &mut io,
                &mut buf,
                Deadline::Never,
                Some(&signal)
            ));
            poll_pending(read.as_mut());
            assert_eq!(signal.waiters.borrow().len(), 1);
        }
        assert_eq!(signal.waiters.borrow().len(), 0);

        // A wait that saw the signal fire ends with none either.
        let mut wait = std::pin::pin!(signal.wait());
        poll_pending(wait.as_mut());
        signal.fire();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(wait.as_mut().poll(&mut cx).is_ready());
        assert_eq!(signal.waiters.borrow().len(), 0);
    }

    /// Polls `poll_deadline` once with a no-op waker; returns whether it was
    /// ready and whether a timer was armed.
    fn poll_once(deadline: Deadline) -> (bool, bool) {
        let mut timer = None;
        let mut cx = Context::from_waker(Waker::noop());
        let ready = poll_deadline(&mut timer, deadline, &mut cx).is_ready();
        (ready, timer.is_some())
    }

    #[test]
    fn consume_up_to_takes_what_there_is() {
        let mut inbuf = InBuf::new();
        inbuf.spare()[..5].copy_from_slice(b"hello");
        inbuf.filled(5);
        assert_eq!(inbuf.consume_up_to(2), b"he");
        assert_eq!(inbuf.data(), b"llo");
        assert_eq!(inbuf.consume_up_to(0), b"");
        // More than there is, up to past any usize: what there is.
        assert_eq!(inbuf.consume_up_to(u64::MAX), b"llo");
        assert!(inbuf.is_empty());
        assert_eq!(inbuf.consume_up_to(10), b"");
    }

    #[test]
    fn never_arms_no_timer() {
        monocle_stack::block_on(async {
            assert_eq!(poll_once(Deadline::Never), (false, false));
            assert_eq!(
                poll_once(Deadline::After(Duration::from_secs(60))),
                (false, true)
            );
            assert_eq!(
                poll_once(Deadline::At(Instant::now() + Duration::from_secs(60))),
                (false, true)
            );
        });
    }

    #[test]
    fn with_deadline_never_waits_for_the_future() {
        monocle_stack::block_on(async {
            // A future that is pending at first, finishes after a short sleep.
            let slow = monocle_stack::util::sleep(Duration::from_millis(5));
            assert_eq!(with_deadline(Deadline::Never, slow).await, Some(()));
            let never = std::future::pending::<()>();
            let passed = with_deadline(Deadline::After(Duration::from_millis(5)), never);
            assert_eq!(passed.await, None);
        });
    }
}
