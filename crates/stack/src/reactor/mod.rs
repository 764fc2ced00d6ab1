//! The loop's door to the operating system.
//!
//! One small interface — register an I/O object, await readable / writable, block
//! until an event, a wake-up or a deadline, and wake the loop from another thread —
//! with two backends:
//!
//! * **epoll** (Linux, the default there): edge-triggered, each socket registered once,
//!   an eventfd for cross-thread wake-ups, `epoll_wait` bounded by the next timer.
//! * **async-io** (portable): the smol ecosystem's reactor. The loop parks inside
//!   `async_io::block_on`, so async-io's own types keep working, and its background
//!   thread may wake o-routines from outside the loop's thread.
//!
//! The backend is chosen when a loop is created, from `MONOCLE_REACTOR`
//! (`epoll` or `async-io`); see [`ReactorKind::from_env`].

#[cfg(target_os = "linux")]
pub(crate) mod epoll;
mod portable;
mod source;

pub use source::Source;

use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Which reactor backend an event loop uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReactorKind {
    /// The native edge-triggered epoll reactor (Linux only).
    Epoll,
    /// The portable reactor of the async-io crate.
    AsyncIo,
}

impl ReactorKind {
    /// The default backend of this platform: epoll on Linux, async-io elsewhere.
    pub const fn platform_default() -> Self {
        if cfg!(target_os = "linux") {
            ReactorKind::Epoll
        } else {
            ReactorKind::AsyncIo
        }
    }

    /// The backend named by the `MONOCLE_REACTOR` environment variable (`epoll` or
    /// `async-io`), else [`platform_default`](Self::platform_default).
    ///
    /// The variable is read once per process. An unknown name is reported through
    /// `log` and the default is used.
    pub fn from_env() -> Self {
        static KIND: OnceLock<ReactorKind> = OnceLock::new();
        *KIND.get_or_init(|| match std::env::var("MONOCLE_REACTOR") {
            Ok(name) if !name.is_empty() => name.parse().unwrap_or_else(|e| {
                log::error!("{e}; using the {} reactor", Self::platform_default());
                Self::platform_default()
            }),
            _ => Self::platform_default(),
        })
    }
}

impl fmt::Display for ReactorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReactorKind::Epoll => "epoll",
            ReactorKind::AsyncIo => "async-io",
        })
    }
}

/// The error of parsing a [`ReactorKind`] from a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownReactor(String);

impl fmt::Display for UnknownReactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown reactor {:?}: MONOCLE_REACTOR takes \"epoll\" or \"async-io\"",
            self.0
        )
    }
}

impl std::error::Error for UnknownReactor {}

impl FromStr for ReactorKind {
    type Err = UnknownReactor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            #[cfg(target_os = "linux")]
            "epoll" => Ok(ReactorKind::Epoll),
            "async-io" | "asyncio" | "async_io" => Ok(ReactorKind::AsyncIo),
            _ => Err(UnknownReactor(s.to_owned())),
        }
    }
}

/// A loop's reactor; lives on the loop's thread.
pub(crate) enum Reactor {
    #[cfg(target_os = "linux")]
    Epoll(epoll::Reactor),
    AsyncIo(portable::Reactor),
}

impl Reactor {
    pub(crate) fn new(kind: ReactorKind) -> io::Result<(Reactor, Notifier)> {
        match kind {
            #[cfg(target_os = "linux")]
            ReactorKind::Epoll => {
                let (r, n) = epoll::Reactor::new()?;
                Ok((Reactor::Epoll(r), n))
            }
            #[cfg(not(target_os = "linux"))]
            ReactorKind::Epoll => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the epoll reactor exists only on Linux",
            )),
            ReactorKind::AsyncIo => {
                let (r, n) = portable::Reactor::new();
                Ok((Reactor::AsyncIo(r), n))
            }
        }
    }

    pub(crate) fn kind(&self) -> ReactorKind {
        match self {
            #[cfg(target_os = "linux")]
            Reactor::Epoll(_) => ReactorKind::Epoll,
            Reactor::AsyncIo(_) => ReactorKind::AsyncIo,
        }
    }

    /// The epoll reactor, for registering sources, if that is the backend.
    #[cfg(target_os = "linux")]
    pub(crate) fn epoll(&self) -> Option<epoll::Reactor> {
        match self {
            Reactor::Epoll(r) => Some(r.clone()),
            Reactor::AsyncIo(_) => None,
        }
    }

    /// Says whether the loop is running (calling `wait`) from now on: the epoll
    /// backend's sources wait differently while it is not.
    pub(crate) fn set_running(&self, running: bool) {
        match self {
            #[cfg(target_os = "linux")]
            Reactor::Epoll(r) => r.set_running(running),
            Reactor::AsyncIo(_) => {}
        }
    }

    /// Whether wakers may fire on the loop's thread while it waits (async-io
    /// drives its reactor inside the wait); the epoll backend wakes only after
    /// `epoll_wait` returns.
    pub(crate) fn wakes_while_waiting(&self) -> bool {
        matches!(self, Reactor::AsyncIo(_))
    }

    /// Whether a non-blocking poll could find anything: false when no I/O source
    /// is registered with this reactor, so the busy loop can skip the system call.
    pub(crate) fn has_sources(&self) -> bool {
        match self {
            #[cfg(target_os = "linux")]
            Reactor::Epoll(r) => r.has_sources(),
            Reactor::AsyncIo(_) => false,
        }
    }

    /// Blocks until an I/O event, a [`Notifier::notify`], or the timeout; `Some(ZERO)`
    /// only collects events that are already there. Wakers of ready sources are woken.
    pub(crate) fn wait(&self, notifier: &Notifier, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Reactor::Epoll(r) => r.wait(notifier, timeout),
            Reactor::AsyncIo(r) => r.wait(notifier, timeout),
        }
    }
}

/// Wakes a loop blocked in its reactor; shared with every thread.
#[derive(Clone)]
pub(crate) struct Notifier(Arc<NotifierInner>);

struct NotifierInner {
    /// Set by `notify`, cleared by the loop before it checks its queues and sleeps.
    /// Only the first `notify` after a clear pays for the system call.
    pending: AtomicBool,
    backend: NotifyBackend,
}

enum NotifyBackend {
    #[cfg(target_os = "linux")]
    EventFd(rustix::fd::OwnedFd),
    AsyncIo(std::sync::Mutex<Option<std::task::Waker>>),
}

impl Notifier {
    fn new(backend: NotifyBackend) -> Notifier {
        Notifier(Arc::new(NotifierInner {
            pending: AtomicBool::new(false),
            backend,
        }))
    }

    /// Wakes the loop if it is (or is about to be) blocked in the reactor.
    pub(crate) fn notify(&self) {
        if self.0.pending.swap(true, Ordering::AcqRel) {
            return;
        }
        match &self.0.backend {
            #[cfg(target_os = "linux")]
            NotifyBackend::EventFd(fd) => {
                // A full counter (EAGAIN) still leaves the eventfd readable: the loop
                // wakes either way, so the error carries no information.
                let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
            }
            NotifyBackend::AsyncIo(waker) => {
                let waker = waker.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
        }
    }

    /// Clears the pending flag. The loop calls this before it looks at its
    /// cross-thread queues for the last time and goes to sleep, so that a
    /// `notify` racing with it is never lost.
    ///
    /// Looks before it swaps: the flag is usually already clear, and a load
    /// costs less than a locked swap. Skipping the swap then is safe: a
    /// `notify` that sets the flag afterwards also signals the reactor. And
    /// a stale `false` (a `notify` that set the flag, not yet visible here)
    /// can only be seen while that notify's signal (the eventfd write, or
    /// the waker it takes under a mutex) is not yet consumed; consuming it
    /// goes through the kernel or that mutex, which makes the flag visible,
    /// so at worst the loop takes one more turn.
    pub(crate) fn clear(&self) -> bool {
        self.0.pending.load(Ordering::Acquire) && self.0.pending.swap(false, Ordering::AcqRel)
    }

    fn is_pending(&self) -> bool {
        self.0.pending.load(Ordering::Acquire)
    }
}
