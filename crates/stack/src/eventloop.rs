//! The event loop: [`run`], [`halt`], [`queue_task`] (and [`queue_local_task`]
//! for work that is not `Send`), and the loop [`Builder`].
//!
//! Every thread has its own loop, created the first time something needs it
//! ([`launch`](crate::launch), [`block_on`], [`run`]). monocle
//! programs launch their o-routines and then call [`run`], which returns when
//! some o-routine (or another thread) calls [`halt`]:
//!
//! ```
//! use monocle_stack::{eventloop, launch};
//!
//! launch(async {
//!     println!("hello from an o-routine");
//!     eventloop::halt();
//! });
//! eventloop::run();
//! ```

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use crate::reactor::ReactorKind;
use crate::runtime;
use crate::Handle;

pub use crate::timer::{queue_local_task, queue_task, QueuedTask};

/// Runs this thread's event loop until [`halt`] is called.
///
/// O-routines launched before `run` start now. When `run` returns, o-routines
/// that have not finished stay where they are and go on at the next `run` or
/// [`block_on`].
///
/// # Panics
///
/// Panics if called from inside an o-routine (the loop is already running on
/// this thread), or if the loop cannot be created.
pub fn run() {
    runtime::with_loop(|lp| {
        let mut forever = pin!(std::future::pending::<()>());
        lp.drive(forever.as_mut(), true);
    });
}

/// Makes [`run`] return.
///
/// Called on a loop's thread, it halts that loop; from any other thread it
/// halts the main loop (the first one created in the process). If that loop is
/// not inside `run` right now, its next `run` returns at once. Use
/// [`Handle::halt`] to halt a particular loop.
pub fn halt() {
    if runtime::try_with_loop(|lp| lp.shared.request_halt()).is_none() {
        if let Some(main) = Handle::main() {
            main.halt();
        }
    }
}

/// The handle of this thread's loop (created if needed), for use from other
/// threads.
pub fn handle() -> Handle {
    Handle::current()
}

/// Sets the blocking-warning threshold of this thread's loop; `None` turns the
/// warning off. See [`Handle::set_blocking_threshold`].
pub fn set_blocking_threshold(threshold: Option<Duration>) {
    Handle::current().set_blocking_threshold(threshold);
}

/// Runs `future` to completion on this thread's event loop, running every other
/// o-routine of the loop meanwhile, and returns its output.
///
/// The future need not be `Send` or `'static`. [`halt`] does not interrupt
/// `block_on`.
///
/// ```
/// let n = monocle_stack::block_on(async { 6 * 7 });
/// assert_eq!(n, 42);
/// ```
///
/// # Panics
///
/// Panics if called from inside an o-routine, or if the loop cannot be created.
/// A panic of `future` itself propagates to the caller.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    runtime::with_loop(|lp| lp.drive(future.as_mut(), false))
        .expect("block_on ignores halt, so its future always completes")
}

/// Configures the event loop of a thread before it is created.
///
/// ```
/// use monocle_stack::eventloop::Builder;
/// use monocle_stack::reactor::ReactorKind;
///
/// std::thread::spawn(|| {
///     let handle = Builder::new().reactor(ReactorKind::AsyncIo).name("worker").install().unwrap();
///     assert_eq!(handle.reactor(), ReactorKind::AsyncIo);
///     assert_eq!(monocle_stack::block_on(async { 1 }), 1);
/// })
/// .join()
/// .unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    reactor: Option<ReactorKind>,
    name: Option<String>,
    threshold: Option<Option<Duration>>,
    /// Set for the loops of a `Loops` pool, which never become the main loop.
    pub(crate) pooled: bool,
}

impl Builder {
    /// A builder with the defaults: the reactor from `MONOCLE_REACTOR`, the
    /// thread's name, and the blocking threshold from `MONOCLE_BLOCKING_WARN_MS`.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Chooses the reactor backend.
    pub fn reactor(&mut self, kind: ReactorKind) -> &mut Builder {
        self.reactor = Some(kind);
        self
    }

    /// Names the loop (for logs and task dumps).
    pub fn name(&mut self, name: impl Into<String>) -> &mut Builder {
        self.name = Some(name.into());
        self
    }

    /// Sets the blocking-warning threshold; `None` turns the warning off.
    pub fn blocking_threshold(&mut self, threshold: Option<Duration>) -> &mut Builder {
        self.threshold = Some(threshold);
        self
    }

    /// Creates the event loop of the calling thread.
    ///
    /// # Errors
    ///
    /// Fails if the thread already has a loop, or the reactor cannot be created
    /// (for instance the epoll backend off Linux).
    pub fn install(&self) -> io::Result<Handle> {
        runtime::init_loop(
            self.reactor.unwrap_or_else(ReactorKind::from_env),
            self.name.clone(),
            !self.pooled,
        )?;
        let handle = Handle::current();
        if let Some(threshold) = self.threshold {
            handle.set_blocking_threshold(threshold);
        }
        Ok(handle)
    }
}
