//! [`Handle`]: a loop seen from any thread.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::diagnostics::TaskInfo;
use crate::oneshot;
use crate::reactor::ReactorKind;
use crate::runtime::{self, Shared};
use crate::timer::QueuedTask;

/// A handle to an event loop, usable from any thread: halt it, queue work on it,
/// start o-routines on it, ask it for a task dump.
///
/// `Handle` is `Send + Sync + Clone`.
///
/// ```
/// use std::time::Duration;
/// use monocle_stack::{eventloop, Handle};
///
/// let handle = Handle::current();
/// std::thread::spawn(move || {
///     std::thread::sleep(Duration::from_millis(5));
///     handle.halt(); // from another thread
/// });
/// eventloop::run();
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl crate::Outcome for Handle {}

/// The error of work sent to a loop that has shut down, or of an o-routine that
/// ended without a result.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// The loop had stopped for good (its thread ended) before the work ran.
    LoopGone {
        /// The loop's name.
        name: String,
    },
    /// The o-routine panicked or was cancelled before it produced a result; the
    /// panic itself was logged by its loop.
    Lost,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::LoopGone { name } => write!(f, "event loop {name} has shut down"),
            JoinError::Lost => {
                f.write_str("the o-routine panicked or was cancelled before it finished")
            }
        }
    }
}

impl std::error::Error for JoinError {}

impl Handle {
    /// The handle of this thread's loop, creating the loop if needed.
    ///
    /// # Panics
    ///
    /// Panics if this thread's event loop cannot be created.
    pub fn current() -> Handle {
        runtime::with_loop(|lp| Handle {
            shared: lp.shared.clone(),
        })
    }

    /// The handle of this thread's loop, if it has one.
    pub fn try_current() -> Option<Handle> {
        runtime::try_with_loop(|lp| Handle {
            shared: lp.shared.clone(),
        })
    }

    /// The main loop: the first event loop created in this process, while its
    /// thread lives. Functions such as [`queue_task`](crate::eventloop::queue_task)
    /// and [`halt`](crate::eventloop::halt) called off any loop act on it.
    pub fn main() -> Option<Handle> {
        crate::diagnostics::main_loop().map(|shared| Handle { shared })
    }

    /// The loop's name (its thread's name, or the name given at creation).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The reactor backend this loop uses.
    pub fn reactor(&self) -> ReactorKind {
        self.shared.reactor_kind
    }

    /// Whether the loop still accepts work (its thread has not ended).
    pub fn is_alive(&self) -> bool {
        self.shared.is_alive()
    }

    /// Makes the loop's [`run`](crate::eventloop::run) return. If the loop is not
    /// running, its next `run` returns at once.
    pub fn halt(&self) {
        self.shared.request_halt();
    }

    /// Sets the threshold past which a poll that blocks the loop is logged;
    /// `None` turns the warning off. The default is 500 ms, or
    /// `MONOCLE_BLOCKING_WARN_MS` (0 turns it off).
    pub fn set_blocking_threshold(&self, threshold: Option<Duration>) {
        let ms = threshold.map_or(0, |d| (d.as_millis() as u64).max(1));
        self.shared
            .threshold_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
        if ms > 0 {
            crate::watchdog::watch(&self.shared);
        }
    }

    /// Runs `f` on the loop's thread after `delay`. See
    /// [`queue_task`](crate::eventloop::queue_task).
    pub fn queue_task<F>(&self, delay: Duration, f: F) -> QueuedTask
    where
        F: FnOnce() + Send + 'static,
    {
        let task = QueuedTask::new();
        let deadline = crate::timer::deadline_after(delay);
        self.queue_guarded(deadline, &task, f);
        task
    }

    pub(crate) fn queue_guarded<F>(&self, deadline: Instant, task: &QueuedTask, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let armed = task.clone();
        let command: runtime::Command = Box::new(move || {
            runtime::with_loop(|lp| armed.arm(lp, deadline, f));
        });
        if self.shared.send(command).is_err() {
            task.cancel();
        }
    }

    /// Runs `f` on the loop's thread as soon as the loop gets to it. Returns
    /// `false` if the loop has shut down (then `f` is dropped here).
    pub fn execute<F>(&self, f: F) -> bool
    where
        F: FnOnce() + Send + 'static,
    {
        self.shared.send(Box::new(f)).is_ok()
    }

    /// Starts an o-routine on this loop from any thread. `make` runs on the loop's
    /// thread and builds the future there, so the future need not be `Send`; only
    /// `make` and the result cross threads.
    ///
    /// ```
    /// use monocle_stack::{block_on, Handle, Loops};
    ///
    /// let loops = Loops::start(2).unwrap();
    /// let answer = block_on(loops.handle(1).spawn(|| async {
    ///     let local = std::rc::Rc::new(41); // !Send is fine on the loop
    ///     *local + 1
    /// }));
    /// assert_eq!(answer, Ok(42));
    /// ```
    #[track_caller]
    pub fn spawn<M, F>(&self, make: M) -> RemoteJoinHandle<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let location = std::panic::Location::caller();
        let (tx, rx) = oneshot::channel();
        let command: runtime::Command = Box::new(move || {
            runtime::with_loop(|lp| {
                lp.spawn(None, location, async move {
                    tx.send(make().await);
                })
                .detach();
            });
        });
        let gone = self.shared.send(command).is_err();
        RemoteJoinHandle {
            rx,
            loop_name: gone.then(|| self.shared.name.clone()),
        }
    }

    /// Lists the loop's live o-routines, from any thread.
    pub async fn task_dump(&self) -> Result<Vec<TaskInfo>, JoinError> {
        let (tx, rx) = oneshot::channel();
        let sent = self.execute(move || {
            tx.send(runtime::with_loop(|lp| crate::diagnostics::dump(lp)));
        });
        if !sent {
            return Err(JoinError::LoopGone {
                name: self.shared.name.clone(),
            });
        }
        rx.await.ok_or(JoinError::Lost)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.shared.name)
            .field("reactor", &self.shared.reactor_kind)
            .field("alive", &self.shared.is_alive())
            .finish()
    }
}

/// The result of an o-routine started with [`Handle::spawn`], awaitable from any
/// thread or executor.
pub struct RemoteJoinHandle<T> {
    rx: oneshot::Receiver<T>,
    /// Set when the loop refused the work.
    loop_name: Option<String>,
}

impl<T> crate::Outcome for RemoteJoinHandle<T> {}

impl<T> Future for RemoteJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        if let Some(name) = self.loop_name.take() {
            return std::task::Poll::Ready(Err(JoinError::LoopGone { name }));
        }
        std::pin::Pin::new(&mut self.rx)
            .poll(cx)
            .map(|v| v.ok_or(JoinError::Lost))
    }
}

impl<T> fmt::Debug for RemoteJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RemoteJoinHandle")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn handles_cross_threads() {
        fn is<T: Send + Sync>() {}
        is::<super::Handle>();
        is::<super::QueuedTask>();
        is::<super::JoinError>();
    }
}
