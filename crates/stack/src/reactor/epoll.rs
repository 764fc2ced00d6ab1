//! The native Linux backend: edge-triggered epoll.
//!
//! Every source is registered once, for reading and writing, edge-triggered. The
//! reactor keeps a readiness flag per direction: an event sets it and wakes the
//! waiting o-routine; the I/O code clears it when the kernel says `EAGAIN` (or a read
//! comes back short, which on a stream socket means the buffer was drained). A wait
//! therefore costs no `epoll_ctl`, unlike one-shot registration.
//!
//! Only a running loop calls `epoll_wait`. A source polled while its loop is not
//! running (a future awaited under another executor on the loop's thread) asks
//! async-io to watch the epoll descriptor itself, which is readable when the set
//! has events; woken, the future collects the events without blocking, as the
//! loop would have (see `Reactor::poll_ready_idle`).

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::io;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::{epoll, eventfd, EventfdFlags};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use slab::Slab;

use super::{Notifier, NotifyBackend};

/// The token of the notifier's eventfd; sources use `index + 1`.
const NOTIFY_TOKEN: u64 = 0;
const EVENTS_CAPACITY: usize = 1024;

/// The epoll reactor of one loop. Cheap to clone: sources keep a clone.
#[derive(Clone)]
pub(crate) struct Reactor(Rc<Inner>);

struct Inner {
    epoll: OwnedFd,
    /// The notifier's eventfd, registered under `NOTIFY_TOKEN`.
    eventfd: BorrowedFdHolder,
    sources: RefCell<Slab<SourceState>>,
    events: RefCell<Vec<epoll::Event>>,
    /// Wakers collected during one wait, reused so a wait does not allocate.
    wakers: RefCell<Vec<Waker>>,
    /// A loop is running on this reactor (it calls `wait` until it stops).
    running: Cell<bool>,
    /// Made the first time a source waits while no loop runs.
    idle_watch: OnceCell<IdleWatch>,
}

/// async-io's watch over the epoll descriptor, for sources that wait while no
/// loop runs their reactor.
struct IdleWatch {
    /// A duplicate of the epoll descriptor, registered with async-io's reactor.
    epoll: async_io::Async<OwnedFd>,
    /// The one waker async-io keeps for the descriptor: it wakes every waiter.
    /// (async-io wakes the previous waker when given another, so two waiters
    /// handing it their own would wake each other without end.)
    waker: Waker,
    waiters: Arc<Waiters>,
}

/// The wakers of the futures waiting for the epoll descriptor to be readable:
/// at most one per source and direction, keyed by the source's slab key and
/// `write`. A new poll replaces the waker; a wake-up or the source's
/// deregistration removes it, so futures dropped while waiting leave at most
/// one waker per source behind, for no longer than the source lives.
#[derive(Default)]
struct Waiters(Mutex<HashMap<(usize, bool), Waker>>);

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(usize, bool), Waker>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, key: usize, write: bool, waker: &Waker) {
        let mut wakers = self.lock();
        match wakers.get_mut(&(key, write)) {
            Some(w) if w.will_wake(waker) => {}
            Some(w) => w.clone_from(waker),
            None => {
                wakers.insert((key, write), waker.clone());
            }
        }
    }

    fn remove(&self, key: usize, write: bool) -> Option<Waker> {
        self.lock().remove(&(key, write))
    }

    /// Forgets the wakers of a source that is going away.
    fn remove_source(&self, key: usize) -> [Option<Waker>; 2] {
        let mut wakers = self.lock();
        [wakers.remove(&(key, false)), wakers.remove(&(key, true))]
    }
}

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *self.lock());
        for w in wakers.into_values() {
            w.wake();
        }
    }
}

/// Keeps the eventfd alive by holding the notifier (which owns it).
struct BorrowedFdHolder(Notifier);

impl BorrowedFdHolder {
    fn fd(&self) -> BorrowedFd<'_> {
        match &self.0 .0.backend {
            NotifyBackend::EventFd(fd) => fd.as_fd(),
            NotifyBackend::AsyncIo(_) => unreachable!("the epoll reactor always has an eventfd"),
        }
    }
}

#[derive(Default)]
struct SourceState {
    readable: bool,
    writable: bool,
    /// The peer closed its side (or the socket failed): reads never block again,
    /// so readiness is never cleared. Data and FIN can arrive in one edge; after
    /// a short read drains the data, only this flag says the EOF is still there.
    read_closed: bool,
    /// The socket hung up or failed: writes never block again.
    write_closed: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<(Reactor, Notifier)> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(
            &epoll,
            &fd,
            epoll::EventData::new_u64(NOTIFY_TOKEN),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )?;
        let notifier = Notifier::new(NotifyBackend::EventFd(fd));
        let inner = Inner {
            epoll,
            eventfd: BorrowedFdHolder(notifier.clone()),
            sources: RefCell::new(Slab::new()),
            events: RefCell::new(Vec::with_capacity(EVENTS_CAPACITY)),
            wakers: RefCell::new(Vec::with_capacity(64)),
            running: Cell::new(false),
            idle_watch: OnceCell::new(),
        };
        Ok((Reactor(Rc::new(inner)), notifier))
    }

    pub(crate) fn has_sources(&self) -> bool {
        !self.0.sources.borrow().is_empty()
    }

    /// Says whether a loop is running on this reactor from now on.
    ///
    /// When the loop stops, the waits it was to end are woken: a future whose
    /// waker belongs to another executor waits on the loop's `epoll_wait`,
    /// which no longer comes; polled again, it takes the idle path. An
    /// o-routine of the loop's own is polled once more when the loop next runs.
    pub(crate) fn set_running(&self, running: bool) {
        self.0.running.set(running);
        if running {
            return;
        }
        let mut wakers = std::mem::take(&mut *self.0.wakers.borrow_mut());
        for (_, state) in self.0.sources.borrow_mut().iter_mut() {
            wakers.extend(state.reader.take());
            wakers.extend(state.writer.take());
        }
        // No borrow held while wakers run: one may poll its future at once.
        for waker in wakers.drain(..) {
            waker.wake();
        }
        *self.0.wakers.borrow_mut() = wakers;
    }

    pub(crate) fn wait(&self, _notifier: &Notifier, timeout: Option<Duration>) -> io::Result<()> {
        self.collect(timeout)
    }

    /// Waits for events (up to `timeout`), records them and wakes their sources.
    fn collect(&self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = timeout.map(|d| rustix::time::Timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: d.subsec_nanos().into(),
        });
        let mut events = self.0.events.borrow_mut();
        events.clear();
        match epoll::wait(
            &self.0.epoll,
            spare_capacity(&mut *events),
            timeout.as_ref(),
        ) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let mut wakers = std::mem::take(&mut *self.0.wakers.borrow_mut());
        {
            let mut sources = self.0.sources.borrow_mut();
            for event in events.iter() {
                let token = event.data.u64();
                if token == NOTIFY_TOKEN {
                    let mut buf = [0u8; 8];
                    let _ = rustix::io::read(self.0.eventfd.fd(), &mut buf);
                    continue;
                }
                let Some(state) = sources.get_mut((token - 1) as usize) else {
                    continue;
                };
                let flags = event.flags;
                use epoll::EventFlags as E;
                if flags.intersects(E::HUP | E::ERR | E::RDHUP) {
                    state.read_closed = true;
                }
                if flags.intersects(E::HUP | E::ERR) {
                    state.write_closed = true;
                }
                if flags.intersects(E::IN | E::HUP | E::ERR | E::RDHUP | E::PRI) {
                    state.readable = true;
                    if let Some(w) = state.reader.take() {
                        wakers.push(w);
                    }
                }
                if flags.intersects(E::OUT | E::HUP | E::ERR) {
                    state.writable = true;
                    if let Some(w) = state.writer.take() {
                        wakers.push(w);
                    }
                }
            }
        }
        drop(events);
        // Wake outside the borrows: a waker may run arbitrary code.
        for w in wakers.drain(..) {
            w.wake();
        }
        *self.0.wakers.borrow_mut() = wakers;
        Ok(())
    }

    /// Whether source `key` is ready in one direction; if not, keeps `cx`'s waker
    /// for the event that makes it so.
    #[inline(always)]
    fn poll_flag(&self, key: usize, cx: &mut Context<'_>, write: bool) -> Poll<io::Result<()>> {
        let mut sources = self.0.sources.borrow_mut();
        let state = &mut sources[key];
        let (ready, slot) = if write {
            (state.writable, &mut state.writer)
        } else {
            (state.readable, &mut state.reader)
        };
        if ready {
            return Poll::Ready(Ok(()));
        }
        match slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// `poll_flag` for a source polled while no loop runs this reactor: nothing
    /// else will call `epoll_wait`, so collect the events here (without
    /// blocking), and have async-io wake the future when the epoll descriptor
    /// has more. A loop that starts running later collects them as usual; an
    /// async-io wake that comes after is only a spurious poll.
    #[cold]
    #[inline(never)]
    fn poll_ready_idle(
        &self,
        key: usize,
        cx: &mut Context<'_>,
        write: bool,
    ) -> Poll<io::Result<()>> {
        let watch = self.idle_watch()?;
        loop {
            self.collect(Some(Duration::ZERO))?;
            if let Poll::Ready(res) = self.poll_flag(key, cx, write) {
                // Dropped outside the lock: a waker may run any code.
                drop(watch.waiters.remove(key, write));
                return Poll::Ready(res);
            }
            watch.waiters.add(key, write, cx.waker());
            match watch
                .epoll
                .poll_readable(&mut Context::from_waker(&watch.waker))
            {
                Poll::Pending => return Poll::Pending,
                // Events came in since the last collect: collect them.
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn idle_watch(&self) -> io::Result<&IdleWatch> {
        if let Some(watch) = self.0.idle_watch.get() {
            return Ok(watch);
        }
        let epoll = async_io::Async::new(self.0.epoll.try_clone()?)?;
        let waiters = Arc::new(Waiters::default());
        let watch = IdleWatch {
            epoll,
            waker: Waker::from(waiters.clone()),
            waiters,
        };
        Ok(self.0.idle_watch.get_or_init(|| watch))
    }

    /// Registers `fd` for edge-triggered reads and writes.
    pub(crate) fn register(&self, fd: BorrowedFd<'_>) -> io::Result<Registration> {
        let key = self.0.sources.borrow_mut().insert(SourceState {
            // Optimistic: the first read or write is tried before any wait.
            readable: true,
            writable: true,
            read_closed: false,
            write_closed: false,
            reader: None,
            writer: None,
        });
        let flags = epoll::EventFlags::IN
            | epoll::EventFlags::OUT
            | epoll::EventFlags::RDHUP
            | epoll::EventFlags::ET;
        if let Err(e) = epoll::add(
            &self.0.epoll,
            fd,
            epoll::EventData::new_u64(key as u64 + 1),
            flags,
        ) {
            self.0.sources.borrow_mut().remove(key);
            return Err(e.into());
        }
        Ok(Registration {
            reactor: self.clone(),
            key,
            deregistered: Cell::new(false),
        })
    }
}

/// One registered file descriptor.
pub(crate) struct Registration {
    reactor: Reactor,
    key: usize,
    deregistered: Cell<bool>,
}

impl Registration {
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, write: bool) -> Poll<io::Result<()>> {
        if self.reactor.0.running.get() {
            self.reactor.poll_flag(self.key, cx, write)
        } else {
            self.reactor.poll_ready_idle(self.key, cx, write)
        }
    }

    pub(crate) fn is_ready(&self, write: bool) -> bool {
        let sources = self.reactor.0.sources.borrow();
        let state = &sources[self.key];
        if write {
            state.writable
        } else {
            state.readable
        }
    }

    pub(crate) fn clear(&self, write: bool) {
        let mut sources = self.reactor.0.sources.borrow_mut();
        let state = &mut sources[self.key];
        if write {
            state.writable = state.write_closed;
        } else {
            state.readable = state.read_closed;
        }
    }

    /// Removes `fd` from the epoll set; called before the descriptor is closed.
    pub(crate) fn deregister(&self, fd: BorrowedFd<'_>) {
        if !self.deregistered.replace(true) {
            let _ = epoll::delete(&self.reactor.0.epoll, fd);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Nobody can be waiting: a waiter holds the `Source` that owns `self`.
        // A future dropped while waiting may have left its waker, though.
        let state = self.reactor.0.sources.borrow_mut().remove(self.key);
        let idle = self
            .reactor
            .0
            .idle_watch
            .get()
            .map(|watch| watch.waiters.remove_source(self.key));
        // Dropped outside the borrow and the lock: a waker may run any code.
        drop((state, idle));
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};

    use crate::reactor::{ReactorKind, Source};
    use crate::runtime;

    /// A waker that does nothing; its strong count says who holds it.
    struct Counted;

    impl Wake for Counted {
        fn wake(self: Arc<Self>) {}
    }

    #[test]
    fn reads_dropped_while_waiting_idle_leave_no_wakers_behind() {
        // An epoll loop that is not running: reads take the idle path.
        runtime::init_loop(ReactorKind::Epoll, None, false).unwrap();
        let (a, _b) = UnixStream::pair().unwrap();
        let a = Source::new(a).unwrap();
        let wakers: Vec<Arc<Counted>> = (0..50).map(|_| Arc::new(Counted)).collect();
        for counted in &wakers {
            let waker = Waker::from(counted.clone());
            let mut buf = [0u8; 4];
            let mut read = Box::pin(a.read_with(|mut s| s.read(&mut buf)));
            assert!(read
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
        }
        let held = || wakers.iter().filter(|w| Arc::strong_count(w) > 1).count();
        // The last read's waker may stay until the source goes, no other.
        assert!(held() <= 1, "{} wakers held", held());
        drop(a);
        assert_eq!(held(), 0);
    }
}
