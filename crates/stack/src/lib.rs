//! The event loop of monocle: an executor, timers and a reactor in one, on one
//! thread, for o-routines that need not be `Send`.
//!
//! ```
//! use std::time::Duration;
//! use monocle_stack::{block_on, launch, util::sleep};
//!
//! let total = block_on(async {
//!     let slow = launch(async {
//!         sleep(Duration::from_millis(10)).await;
//!         2
//!     });
//!     let local = std::rc::Rc::new(40); // o-routines may hold !Send values
//!     *local + slow.await
//! });
//! assert_eq!(total, 42);
//! ```
//!
//! * [`launch`] starts an o-routine; [`block_on`] runs one to its end;
//!   [`eventloop::run`] runs the loop until [`eventloop::halt`].
//! * [`util`] has monocle's timers: `sleep`, `delayed`, `immediate`, `next_tick`,
//!   plus `timeout`; [`eventloop::queue_task`] runs a function later, from any
//!   thread ([`eventloop::queue_local_task`]: a `!Send` one, on this thread's
//!   loop).
//! * [`Handle`] reaches a loop from another thread; [`Loops`] runs one loop per
//!   core; [`offload`] runs blocking work on a thread pool.
//! * [`diagnostics`]: every o-routine has a launch site and optionally a name
//!   ([`monocle_core::named`]); panics and unobserved errors are logged with them,
//!   a poll that blocks the loop past a threshold (500 ms by default,
//!   `MONOCLE_BLOCKING_WARN_MS`) is reported, and [`diagnostics::task_dump`]
//!   lists live o-routines.
//! * [`reactor`]: the I/O interface the network layer is built on, with an
//!   edge-triggered epoll backend (default on Linux) and an async-io backend,
//!   chosen by `MONOCLE_REACTOR=epoll|async-io`.
//!
//! # Implementation
//!
//! Tasks are async-task allocations. A wake on the loop's thread pushes onto a
//! thread-local queue without atomics or locks; a wake from another thread goes
//! through a `ConcurrentQueue` and an eventfd (or async-io's waker). Timers live
//! in a hierarchical timing wheel with O(1) insert and cancel, so their cost does
//! not grow with their number. Blocking detection samples a per-loop "poll in
//! progress" stamp from a watchdog thread, so the fast path reads no clock.
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod diagnostics;
pub mod eventloop;
mod handle;
mod offload;
mod oneshot;
mod pool;
pub mod reactor;
mod runtime;
mod script;
mod task;
mod timer;
mod watchdog;
mod wheel;

pub use eventloop::block_on;
pub use handle::{Handle, JoinError, RemoteJoinHandle};
pub use offload::{offload, Offload};
pub use pool::Loops;
pub use script::run;
pub use task::{launch, Cancel, JoinHandle, Outcome};

#[doc(no_inline)]
pub use monocle_core::{named, IntoOroutine, Named, OroutineExt};

/// monocle's timer helpers (`monocle.util`).
pub mod util {
    pub use crate::timer::{
        delayed, immediate, next_tick, sleep, sleep_until, timeout, NextTick, Sleep, TimedOut,
        Timeout,
    };
}
