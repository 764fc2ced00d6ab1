//! The native Linux backend: edge-triggered epoll.
//!
//! Every source is registered once, for reading and writing, edge-triggered. The
//! reactor keeps a readiness flag per direction: an event sets it and wakes the
//! waiting o-routine; the I/O code clears it when the kernel says `EAGAIN` (or a read
//! comes back short, which on a stream socket means the buffer was drained). A wait
//! therefore costs no `epoll_ctl`, unlike one-shot registration.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
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
        };
        Ok((Reactor(Rc::new(inner)), notifier))
    }

    pub(crate) fn has_sources(&self) -> bool {
        !self.0.sources.borrow().is_empty()
    }

    pub(crate) fn wait(&self, _notifier: &Notifier, timeout: Option<Duration>) -> io::Result<()> {
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
        let mut sources = self.reactor.0.sources.borrow_mut();
        let state = &mut sources[self.key];
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
        self.reactor.0.sources.borrow_mut().remove(self.key);
    }
}
