//! The offload pool: blocking closures run on helper threads.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

/// Most threads the pool will run at once.
const MAX_THREADS: usize = 256;
/// How long an idle thread waits for work before it exits.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

struct Pool {
    state: Mutex<PoolState>,
    ready: Condvar,
}

struct PoolState {
    queue: VecDeque<async_task::Runnable>,
    threads: usize,
    idle: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState {
            queue: VecDeque::new(),
            threads: 0,
            idle: 0,
        }),
        ready: Condvar::new(),
    })
}

impl Pool {
    fn push(&'static self, runnable: async_task::Runnable) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.queue.push_back(runnable);
        if state.idle > 0 {
            self.ready.notify_one();
        } else if state.threads < MAX_THREADS {
            let spawned = std::thread::Builder::new()
                .name("monocle-offload".into())
                .spawn(move || self.work());
            match spawned {
                Ok(_) => state.threads += 1,
                Err(e) if state.threads == 0 => {
                    // Nothing could ever run the job: run it here rather than hang.
                    log::error!("cannot start an offload thread ({e}); running the job inline");
                    let runnable = state.queue.pop_back().expect("just pushed");
                    drop(state);
                    runnable.run();
                }
                Err(e) => log::warn!("cannot start another offload thread: {e}"),
            }
        }
    }

    fn work(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(runnable) = state.queue.pop_front() {
                drop(state);
                runnable.run();
                state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            state.idle += 1;
            let (next, timeout) = self
                .ready
                .wait_timeout(state, IDLE_TIMEOUT)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

/// Runs the blocking closure `f` on the offload pool and returns its result as
/// something to await, keeping the event loop free.
///
/// Use it for a synchronous database driver, file system calls, or heavy CPU
/// work. Threads are started on demand (up to 256) and exit after 10 s idle. A
/// panic in `f` resumes in the o-routine that awaits the result. Dropping the
/// future before the job has started cancels it; once started, it runs to the end.
///
/// ```
/// use monocle_stack::{block_on, offload};
///
/// let n = block_on(offload(|| {
///     std::thread::sleep(std::time::Duration::from_millis(5)); // blocking is fine here
///     21 * 2
/// }));
/// assert_eq!(n, 42);
/// ```
#[doc(alias = "spawn_blocking")]
#[doc(alias = "unblock")]
pub fn offload<T, F>(f: F) -> Offload<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (runnable, task) = async_task::Builder::new()
        .propagate_panic(true)
        .spawn(move |()| async move { f() }, |r| pool().push(r));
    runnable.schedule();
    Offload { task }
}

/// The result of a job on the offload pool; see [`offload`].
pub struct Offload<T> {
    task: async_task::Task<T>,
}

impl<T> Future for Offload<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.task).poll(cx)
    }
}

impl<T> fmt::Debug for Offload<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Offload")
            .field("finished", &self.task.is_finished())
            .finish()
    }
}
