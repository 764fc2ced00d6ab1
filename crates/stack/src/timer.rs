//! Time: [`sleep`], [`timeout`], [`delayed`], [`next_tick`], [`queue_task`] and
//! [`queue_local_task`].

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::runtime::{self, LoopId, TimerEntry};
use crate::wheel::TimerKey;

/// A future that completes at a deadline.
///
/// Polled by a running monocle loop, the timer lives in the loop's timing wheel
/// (millisecond resolution, never early). Polled anywhere else (under another
/// executor, on a thread with no loop or with a loop that is not running right
/// now) it uses an async-io timer instead, which keeps working if a loop polls
/// it later. Dropping it cancels the timer.
pub struct Sleep {
    deadline: Instant,
    state: SleepState,
}

enum SleepState {
    Idle,
    /// Registered in the wheel of loop `owner`.
    Wheel {
        key: TimerKey,
        owner: LoopId,
    },
    Portable(async_io::Timer),
    Done,
}

/// Waits for `duration`.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// monocle_stack::block_on(async {
///     let start = Instant::now();
///     monocle_stack::util::sleep(Duration::from_millis(20)).await;
///     assert!(start.elapsed() >= Duration::from_millis(20));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(duration))
}

/// Now plus `duration`, saturating at a far-future instant instead of overflowing.
pub(crate) fn deadline_after(duration: Duration) -> Instant {
    Instant::now()
        .checked_add(duration)
        .unwrap_or_else(far_future)
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        state: SleepState::Idle,
    }
}

fn far_future() -> Instant {
    // About thirty years: "never" for any program, and safe from overflow.
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

impl Sleep {
    /// When this sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline; the timer is re-registered on the next poll.
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
        self.state = SleepState::Idle;
    }

    /// Takes the timer out of its loop's wheel, from any thread: a sleep
    /// dropped or moved off its loop's thread does not leave its entry (and
    /// the waker in it, which keeps its task alive) there until the deadline.
    fn cancel(&mut self) {
        if let SleepState::Wheel { key, owner } = self.state {
            runtime::cancel_timer(owner, key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                SleepState::Done => return Poll::Ready(()),
                SleepState::Idle => {
                    let deadline = this.deadline;
                    // Only a running loop fires its wheel. The loop's last clock
                    // reading decides (no clock read here); a deadline that
                    // passed since fires on the loop's next turn.
                    let registered = runtime::try_with_loop(|lp| {
                        lp.is_driving().then(|| {
                            if deadline <= lp.last_now() {
                                return None;
                            }
                            let waker = cx.waker().clone();
                            let key = lp.insert_timer(deadline, TimerEntry::Wake(waker));
                            Some((key, lp.id))
                        })
                    })
                    .flatten();
                    match registered {
                        Some(Some((key, owner))) => {
                            this.state = SleepState::Wheel { key, owner };
                            return Poll::Pending;
                        }
                        Some(None) => {
                            this.state = SleepState::Done;
                            return Poll::Ready(());
                        }
                        // Not polled by a running monocle loop: poll an async-io
                        // timer instead, which async-io's own thread fires.
                        None => this.state = SleepState::Portable(async_io::Timer::at(deadline)),
                    }
                }
                SleepState::Wheel { key, owner } => {
                    let (key, owner) = (*key, *owner);
                    let in_wheel = runtime::try_with_loop(|lp| {
                        if lp.id != owner {
                            return InWheel::Moved;
                        }
                        if lp.is_driving() {
                            if lp.refresh_timer(key, cx.waker()) {
                                InWheel::Waiting
                            } else {
                                InWheel::Fired
                            }
                        } else {
                            // Polled by another executor while the loop is idle:
                            // take the timer out of the wheel, wait elsewhere.
                            match lp.remove_timer(key) {
                                Some(_) => InWheel::Removed,
                                None => InWheel::Fired,
                            }
                        }
                    })
                    .unwrap_or(InWheel::Moved);
                    match in_wheel {
                        InWheel::Waiting => return Poll::Pending,
                        InWheel::Fired => {
                            this.state = SleepState::Done;
                            return Poll::Ready(());
                        }
                        // Taken away from the loop: start over.
                        InWheel::Removed => this.state = SleepState::Idle,
                        // Moved to another thread: have the owner drop its
                        // entry, then start over.
                        InWheel::Moved => {
                            this.cancel();
                            this.state = SleepState::Idle;
                        }
                    }
                }
                SleepState::Portable(timer) => {
                    return match Pin::new(timer).poll(cx) {
                        Poll::Ready(_) => {
                            this.state = SleepState::Done;
                            Poll::Ready(())
                        }
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }
}

/// Where a `Sleep` registered in a wheel stands when polled again.
enum InWheel {
    /// Still in the wheel of the running loop that polls it.
    Waiting,
    /// The wheel fired it.
    Fired,
    /// Polled while its loop is not running: taken out of the wheel.
    Removed,
    /// Polled on another thread: still in its loop's wheel.
    Moved,
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("done", &matches!(self.state, SleepState::Done))
            .finish()
    }
}

/// Waits for `duration`, then gives `value` (monocle's `util.delayed`).
///
/// ```
/// use std::time::Duration;
///
/// let v = monocle_stack::block_on(monocle_stack::util::delayed(Duration::from_millis(5), "late"));
/// assert_eq!(v, "late");
/// ```
pub async fn delayed<T>(duration: Duration, value: T) -> T {
    sleep(duration).await;
    value
}

/// An already-resolved value, monocle's `util.immediate`: `immediate(v).await == v`.
pub fn immediate<T>(value: T) -> std::future::Ready<T> {
    std::future::ready(value)
}

/// Yields to the event loop once, letting every other ready o-routine run
/// before this one continues (monocle's `util.next_tick`).
pub fn next_tick() -> NextTick {
    NextTick { yielded: false }
}

/// The future returned by [`next_tick`].
#[derive(Debug)]
pub struct NextTick {
    yielded: bool,
}

impl Future for NextTick {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The error of [`timeout`]: the future did not finish in time.
///
/// Its `Debug` form, which `main` prints for an error it returns, names the
/// [`timeout`] call that gave up, so that among several waits the one that
/// fired is plain.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TimedOut {
    after: Duration,
    at: &'static Location<'static>,
}

impl TimedOut {
    /// How long the future was given.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// Where the [`timeout`] call that gave up is in the source.
    pub fn location(&self) -> &'static Location<'static> {
        self.at
    }
}

impl fmt::Debug for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimedOut")
            .field("after", &self.after)
            .field("at", &format_args!("{}", self.at))
            .finish()
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {}",
            crate::diagnostics::format_duration(self.after)
        )
    }
}

impl std::error::Error for TimedOut {}

impl From<TimedOut> for std::io::Error {
    fn from(e: TimedOut) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Runs `future` for at most `duration`; if it is not done by then it is dropped
/// and [`TimedOut`] returned.
///
/// ```
/// use std::time::Duration;
/// use monocle_stack::util::{sleep, timeout};
///
/// monocle_stack::block_on(async {
///     let slow = timeout(Duration::from_millis(10), sleep(Duration::from_secs(60))).await;
///     let err = slow.unwrap_err();
///     assert_eq!(err.to_string(), "timed out after 10 ms");
///     // `{err:?}` also names this `timeout` call: file, line and column.
///     assert_eq!(timeout(Duration::from_secs(1), async { 5 }).await, Ok(5));
/// });
/// ```
#[track_caller]
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
        after: duration,
        at: Location::caller(),
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`timeout`].
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
        after: Duration,
        at: &'static Location<'static>,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, TimedOut>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(TimedOut {
                after: *this.after,
                at: this.at,
            })),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A function queued with [`queue_task`]; [`cancel`](QueuedTask::cancel) stops it.
///
/// The handle is `Send + Sync + Clone`: any thread may cancel.
#[derive(Clone)]
pub struct QueuedTask {
    inner: Arc<TaskInner>,
}

struct TaskInner {
    state: AtomicU8,
    /// The loop whose wheel holds the task and its key there, once queued.
    /// Queuing and cancelling both take the lock, so a cancel that comes
    /// first makes the queuing drop the closure, and one that comes after
    /// finds the key.
    queued: Mutex<Option<(LoopId, TimerKey)>>,
}

impl crate::Outcome for QueuedTask {}

const QUEUED: u8 = 0;
const CANCELLED: u8 = 1;
const STARTED: u8 = 2;

impl QueuedTask {
    pub(crate) fn new() -> QueuedTask {
        QueuedTask {
            inner: Arc::new(TaskInner {
                state: AtomicU8::new(QUEUED),
                queued: Mutex::new(None),
            }),
        }
    }

    /// Stops the task from running. Returns `true` if it had not started yet
    /// (and now never will), `false` if it already ran or was cancelled.
    ///
    /// The function and what it captured are dropped on its loop's thread: at
    /// once when cancelled there, otherwise at the loop's next turn.
    pub fn cancel(&self) -> bool {
        if self
            .inner
            .state
            .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        let queued = self.lock().take();
        if let Some((owner, key)) = queued {
            runtime::cancel_timer(owner, key);
        }
        true
    }

    /// Whether the task has started running.
    pub fn has_run(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == STARTED
    }

    /// Whether the task was cancelled before it ran.
    pub fn is_cancelled(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == CANCELLED
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(LoopId, TimerKey)>> {
        self.inner.queued.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `f` in the wheel of `lp` (this thread's loop) until `deadline`,
    /// unless the task was cancelled first; then `f` is dropped here.
    pub(crate) fn arm<F>(&self, lp: &runtime::Loop, deadline: Instant, f: F)
    where
        F: FnOnce() + 'static,
    {
        let mut queued = self.lock();
        if self.inner.state.load(Ordering::Acquire) != QUEUED {
            drop(queued);
            drop(f);
            return;
        }
        let inner = self.inner.clone();
        let guarded = move || {
            if inner
                .state
                .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                f();
            }
        };
        let key = lp.insert_timer(deadline, TimerEntry::Call(Box::new(guarded)));
        *queued = Some((lp.id, key));
    }
}

impl fmt::Debug for QueuedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.inner.state.load(Ordering::Acquire) {
            QUEUED => "queued",
            CANCELLED => "cancelled",
            _ => "started",
        };
        f.debug_tuple("QueuedTask").field(&state).finish()
    }
}

/// Runs `f` on an event loop after `delay` (monocle's `eventloop.queue_task`).
///
/// Called on a loop's thread, `f` runs on that loop; called from a thread
/// without a loop, it runs on the main loop (the first loop the process created
/// on a thread of its own, not one of [`Loops`](crate::Loops)), so `queue_task`
/// is safe to call from anywhere. With no main loop yet, the calling thread's
/// loop is created and becomes the main loop. To queue an o-routine, launch it
/// from `f`. Use [`Handle::queue_task`](crate::Handle::queue_task) to pick the
/// loop, and [`queue_local_task`] for an `f` that is not `Send`.
///
/// ```
/// use std::time::Duration;
/// use monocle_stack::eventloop::{halt, queue_task, run};
///
/// let task = queue_task(Duration::from_millis(5), || halt());
/// run(); // returns when the queued task halts the loop
/// assert!(task.has_run());
/// ```
///
/// # Panics
///
/// Panics if an event loop has to be created and cannot be.
pub fn queue_task<F>(delay: Duration, f: F) -> QueuedTask
where
    F: FnOnce() + Send + 'static,
{
    if runtime::try_with_loop(|_| ()).is_some() {
        return queue_local_task(delay, f);
    }
    let task = QueuedTask::new();
    let handle = crate::Handle::main().unwrap_or_else(crate::Handle::current);
    handle.queue_guarded(deadline_after(delay), &task, f);
    task
}

/// Runs `f` on this thread's event loop after `delay`, like [`queue_task`],
/// but `f` need not be `Send`: it may hold `Rc` and `RefCell`, as o-routines
/// launched here may. The loop is created if this thread has none yet.
///
/// The returned [`QueuedTask`] is `Send` all the same: any thread may cancel.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use monocle_stack::eventloop::{halt, queue_local_task, run};
///
/// let count = Rc::new(Cell::new(0)); // not Send
/// let c = count.clone();
/// queue_local_task(Duration::from_millis(5), move || {
///     c.set(c.get() + 1);
///     halt();
/// });
/// run();
/// assert_eq!(count.get(), 1);
/// ```
///
/// # Panics
///
/// Panics if this thread's event loop has to be created and cannot be.
pub fn queue_local_task<F>(delay: Duration, f: F) -> QueuedTask
where
    F: FnOnce() + 'static,
{
    let task = QueuedTask::new();
    let deadline = deadline_after(delay);
    runtime::with_loop(|lp| task.arm(lp, deadline, f));
    task
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::future::Future;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};
    use std::thread;
    use std::time::Duration;

    use super::{next_tick, queue_local_task, sleep};
    use crate::{block_on, runtime, Handle};

    const LONG: Duration = Duration::from_secs(60);

    fn timers() -> usize {
        runtime::with_loop(|lp| lp.timer_count())
    }

    /// One loop turn: the loop runs the commands other threads sent it.
    fn turn() {
        block_on(next_tick());
    }

    /// A waker that does nothing; its strong count says who holds it.
    struct Counted;

    impl Wake for Counted {
        fn wake(self: Arc<Self>) {}
    }

    #[test]
    fn cancelling_a_queued_task_on_its_loop_drops_it_at_once() {
        let capture = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let c = capture.clone();
                queue_local_task(LONG, move || c.set(c.get() + 1))
            })
            .collect();
        assert_eq!(timers(), 100);
        assert_eq!(Rc::strong_count(&capture), 101);
        for task in &tasks {
            assert!(task.cancel());
        }
        assert_eq!(timers(), 0);
        assert_eq!(Rc::strong_count(&capture), 1);
        assert!(!tasks[0].cancel());
        assert!(tasks[0].is_cancelled());
        assert_eq!(capture.get(), 0);
    }

    #[test]
    fn cancelling_a_queued_task_from_another_thread_drops_it_at_the_next_turn() {
        let capture = Arc::new(());
        let c = capture.clone();
        let task = queue_local_task(LONG, move || drop(c));
        assert_eq!(timers(), 1);
        thread::spawn(move || assert!(task.cancel()))
            .join()
            .unwrap();
        // The closure is not `Send`: only its loop may drop it, on its turn.
        assert_eq!(Arc::strong_count(&capture), 2);
        turn();
        assert_eq!(timers(), 0);
        assert_eq!(Arc::strong_count(&capture), 1);
    }

    #[test]
    fn a_task_queued_through_a_handle_is_dropped_when_cancelled() {
        let handle = Handle::current();
        // Cancelled from another thread after the loop queued it.
        let capture = Arc::new(());
        let c = capture.clone();
        let h = handle.clone();
        let task = thread::spawn(move || h.queue_task(LONG, move || drop(c)))
            .join()
            .unwrap();
        turn();
        assert_eq!(timers(), 1);
        thread::spawn(move || assert!(task.cancel()))
            .join()
            .unwrap();
        turn();
        assert_eq!(timers(), 0);
        assert_eq!(Arc::strong_count(&capture), 1);

        // Cancelled before the loop got to queue it: never enters the wheel.
        let c = capture.clone();
        let task = handle.queue_task(LONG, move || drop(c));
        assert!(task.cancel());
        turn();
        assert_eq!(timers(), 0);
        assert_eq!(Arc::strong_count(&capture), 1);
        assert!(!task.has_run());
    }

    /// A waker holding a sleep: dropping its last handle drops the sleep.
    struct Holding {
        _sleep: std::sync::Mutex<super::Sleep>,
    }

    impl Wake for Holding {
        fn wake(self: Arc<Self>) {}
    }

    #[test]
    fn a_waker_replaced_in_the_wheel_may_drop_a_sleep_of_the_same_loop() {
        block_on(async {
            let mut held = sleep(LONG);
            let _ = Pin::new(&mut held).poll(&mut Context::from_waker(Waker::noop()));
            let holding = Waker::from(Arc::new(Holding {
                _sleep: std::sync::Mutex::new(held),
            }));
            let mut s = sleep(LONG);
            assert!(Pin::new(&mut s)
                .poll(&mut Context::from_waker(&holding))
                .is_pending());
            drop(holding);
            assert_eq!(timers(), 2);
            // The wheel held the last handle of the waker: replacing it drops
            // the held sleep, which leaves the wheel at once.
            assert!(Pin::new(&mut s)
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending());
            assert_eq!(timers(), 1);
        });
    }

    #[test]
    fn a_sleep_dropped_on_another_thread_leaves_its_loop_at_the_next_turn() {
        let counted = Arc::new(Counted);
        let waker = Waker::from(counted.clone());
        // A sleep polled once by the running loop, so in its wheel.
        let pending = |waker: &Waker| {
            let mut s = sleep(LONG);
            block_on(async {
                let polled = Pin::new(&mut s).poll(&mut Context::from_waker(waker));
                assert!(polled.is_pending());
            });
            s
        };
        let s = pending(&waker);
        assert_eq!(timers(), 1);
        assert_eq!(Arc::strong_count(&counted), 3);
        thread::spawn(move || drop(s)).join().unwrap();
        turn();
        assert_eq!(timers(), 0);
        assert_eq!(Arc::strong_count(&counted), 2);

        // Moved to another thread's loop and polled there: it leaves the first.
        let s = pending(&waker);
        let w = waker.clone();
        thread::spawn(move || {
            block_on(async move {
                let mut s = s;
                let polled = Pin::new(&mut s).poll(&mut Context::from_waker(&w));
                assert!(polled.is_pending());
                assert_eq!(timers(), 1);
            })
        })
        .join()
        .unwrap();
        turn();
        assert_eq!(timers(), 0);
        assert_eq!(Arc::strong_count(&counted), 2);
    }
}
