//! The event loop: one per thread, with its run queues, timers and reactor.
//!
//! # Threads and queues
//!
//! A loop lives in a thread-local and is created on first use. Its o-routines are
//! polled only on that thread, so they need not be `Send`. A waker that fires on the
//! loop's own thread pushes onto `local` (a plain `VecDeque`, no atomics); a waker
//! that fires elsewhere pushes onto `Shared::remote` (a `ConcurrentQueue`) and
//! notifies the reactor. Work sent from other threads (halt, queued tasks,
//! o-routines to start) travels through `Shared::commands` the same way.
//!
//! # One turn of the loop
//!
//! 1. poll the `block_on` future if it was woken;
//! 2. run up to `BUDGET` ready o-routines;
//! 3. move cross-thread wake-ups and commands in;
//! 4. fire due timers;
//! 5. if nothing is ready, block in the reactor until an event, a notification or
//!    the next timer; otherwise collect ready I/O events without blocking.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use concurrent_queue::ConcurrentQueue;
use slab::Slab;

use crate::reactor::{Notifier, Reactor, ReactorKind};
use crate::task::Meta;
use crate::wheel::{TimerKey, Wheel};
use crate::{diagnostics, watchdog};

pub(crate) type Runnable = async_task::Runnable<Meta>;
pub(crate) type Command = Box<dyn FnOnce() + Send>;

/// How many o-routines run before the loop looks at other threads, timers and I/O.
const BUDGET: usize = 128;
/// `current` when no o-routine is being polled.
const NO_TASK: usize = usize::MAX;

/// A loop's identity, unique over the process's life (unlike an address,
/// which a later loop may reuse): what a timer remembers of its loop.
pub(crate) type LoopId = u64;

/// The part of a loop that other threads see.
pub(crate) struct Shared {
    pub(crate) id: LoopId,
    pub(crate) name: String,
    pub(crate) reactor_kind: ReactorKind,
    remote: ConcurrentQueue<Runnable>,
    commands: ConcurrentQueue<Command>,
    pub(crate) notifier: Notifier,
    halt: AtomicBool,
    /// Watchdog protocol: `busy` is the sequence number of the poll in progress
    /// (0 when none), `site` the launch site of that o-routine. The watchdog sets
    /// `flagged` to a sequence number it saw running past the threshold.
    pub(crate) busy: AtomicU64,
    pub(crate) site: AtomicPtr<Location<'static>>,
    pub(crate) flagged: AtomicU64,
    /// Nanoseconds since `diagnostics::epoch()` when the flagged poll was first seen.
    pub(crate) flagged_seen: AtomicU64,
    /// Blocking-warning threshold in milliseconds; 0 disables the warning.
    pub(crate) threshold_ms: AtomicU64,
}

impl Shared {
    /// Hands a runnable from another thread to the loop. Returns it when the loop
    /// is gone.
    fn push_remote(&self, runnable: Runnable) -> Result<(), Runnable> {
        match self.remote.push(runnable) {
            Ok(()) => {
                self.notifier.notify();
                Ok(())
            }
            Err(e) => Err(e.into_inner()),
        }
    }

    /// Sends a closure to run on the loop's thread. Returns it when the loop is gone.
    pub(crate) fn send(&self, command: Command) -> Result<(), Command> {
        match self.commands.push(command) {
            Ok(()) => {
                self.notifier.notify();
                Ok(())
            }
            Err(e) => Err(e.into_inner()),
        }
    }

    pub(crate) fn request_halt(&self) {
        self.halt.store(true, Ordering::Release);
        self.notifier.notify();
    }

    pub(crate) fn is_alive(&self) -> bool {
        !self.commands.is_closed()
    }
}

/// Every live loop, so that a timer dropped or cancelled on another thread can
/// ask its own loop to take it out of the wheel. A loop is added when created
/// and removed when its thread ends; there are few, so a list does.
static LOOPS: Mutex<Vec<(LoopId, Weak<Shared>)>> = Mutex::new(Vec::new());

fn register_loop(shared: &Arc<Shared>) {
    let mut loops = LOOPS.lock().unwrap_or_else(|e| e.into_inner());
    loops.push((shared.id, Arc::downgrade(shared)));
}

fn unregister_loop(id: LoopId) {
    let mut loops = LOOPS.lock().unwrap_or_else(|e| e.into_inner());
    loops.retain(|(live, _)| *live != id);
}

fn find_loop(id: LoopId) -> Option<Arc<Shared>> {
    let loops = LOOPS.lock().unwrap_or_else(|e| e.into_inner());
    loops
        .iter()
        .find(|(live, _)| *live == id)
        .and_then(|(_, shared)| shared.upgrade())
}

/// Takes timer `key` out of the wheel of loop `owner`, dropping its entry (a
/// waker, or a queued task's closure with its captures): at once on the
/// owner's thread, otherwise at the owner's next turn. Does nothing if the
/// timer already fired or the loop is gone (its wheel went with it).
#[inline]
pub(crate) fn cancel_timer(owner: LoopId, key: TimerKey) {
    let here = try_with_loop(|lp| (lp.id == owner).then(|| lp.remove_timer(key)));
    match here {
        // Dropped here, outside the wheel's borrow: a closure's captures may
        // run any code.
        Some(Some(entry)) => drop(entry),
        _ => cancel_timer_remote(owner, key),
    }
}

#[cold]
#[inline(never)]
fn cancel_timer_remote(owner: LoopId, key: TimerKey) {
    let Some(shared) = find_loop(owner) else {
        return;
    };
    // Fails only when the loop has just shut down, taking its wheel along.
    let _ = shared.send(Box::new(move || {
        let entry = try_with_loop(|lp| lp.remove_timer(key)).flatten();
        drop(entry);
    }));
}

/// The schedule function of every o-routine of the loop owning `shared`.
pub(crate) fn schedule(shared: &Arc<Shared>, runnable: Runnable) {
    let mut runnable = Some(runnable);
    // `try_with` fails only while the thread is being torn down; the runnable
    // then takes the cross-thread path, which refuses it once the loop is gone.
    let _ = CURRENT.try_with(|cell| {
        if let Some(lp) = cell.get() {
            if Arc::ptr_eq(&lp.shared, shared) {
                if let Some(r) = runnable.take() {
                    lp.local.borrow_mut().push_back(r);
                    if lp.parked.get() {
                        // Woken by the reactor the loop is parked in (async-io
                        // fires wakers on the thread that drives it): unpark.
                        shared.notifier.notify();
                    }
                }
            }
        }
    });
    if let Some(runnable) = runnable {
        if let Err(runnable) = shared.push_remote(runnable) {
            // The loop has shut down. The o-routine may not be `Send`, so it must
            // not be dropped on this thread: leak it instead.
            std::mem::forget(runnable);
        }
    }
}

pub(crate) enum TimerEntry {
    Wake(Waker),
    Call(Box<dyn FnOnce()>),
}

pub(crate) struct TaskEntry {
    pub(crate) id: u64,
    pub(crate) name: Option<Cow<'static, str>>,
    pub(crate) location: &'static Location<'static>,
    pub(crate) spawned: Instant,
}

/// One thread's event loop.
pub(crate) struct Loop {
    pub(crate) shared: Arc<Shared>,
    /// `shared.id`, kept here to save a pointer hop on the timer path.
    pub(crate) id: LoopId,
    pub(crate) local: RefCell<VecDeque<Runnable>>,
    pub(crate) reactor: Reactor,
    timers: RefCell<Wheel<TimerEntry>>,
    due: RefCell<Vec<TimerEntry>>,
    start: Instant,
    /// The clock as of the last time the loop read it.
    now: Cell<Instant>,
    pub(crate) registry: RefCell<Slab<TaskEntry>>,
    next_id: Cell<u64>,
    pub(crate) current: Cell<usize>,
    seq: Cell<u64>,
    /// The loop is blocked inside the reactor, which may wake o-routines on
    /// this thread (the async-io backend does); such a wake must unpark it.
    parked: Cell<bool>,
    /// The last poll whose blocking was already reported.
    reported: Cell<u64>,
    driving: Cell<bool>,
    /// The loop was driven at least once (`run` or `block_on`).
    driven: Cell<bool>,
}

thread_local! {
    static CURRENT: OnceCell<Rc<Loop>> = const { OnceCell::new() };
}

/// Runs `f` with this thread's loop, creating the loop on first use.
///
/// # Panics
///
/// Panics if the loop cannot be created (the reactor's file descriptors could not
/// be opened) or the thread is being torn down.
pub(crate) fn with_loop<R>(f: impl FnOnce(&Rc<Loop>) -> R) -> R {
    CURRENT.with(|cell| {
        let lp = cell.get_or_init(|| {
            Loop::new(ReactorKind::from_env(), None, true)
                .unwrap_or_else(|e| panic!("monocle: cannot create the event loop: {e}"))
        });
        f(lp)
    })
}

/// Runs `f` with this thread's loop if it has one; never creates it.
pub(crate) fn try_with_loop<R>(f: impl FnOnce(&Rc<Loop>) -> R) -> Option<R> {
    CURRENT.try_with(|cell| cell.get().map(f)).ok().flatten()
}

/// Creates this thread's loop with a chosen reactor. Fails if it already has one.
pub(crate) fn init_loop(
    kind: ReactorKind,
    name: Option<String>,
    may_be_main: bool,
) -> std::io::Result<()> {
    CURRENT.with(|cell| {
        if cell.get().is_some() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "this thread already has an event loop",
            ));
        }
        let lp = Loop::new(kind, name, may_be_main)?;
        let _ = cell.set(lp);
        Ok(())
    })
}

#[cfg(target_os = "linux")]
pub(crate) fn current_epoll() -> Option<crate::reactor::epoll::Reactor> {
    try_with_loop(|lp| lp.reactor.epoll()).flatten()
}

impl Loop {
    fn new(
        kind: ReactorKind,
        name: Option<String>,
        may_be_main: bool,
    ) -> std::io::Result<Rc<Loop>> {
        let (reactor, notifier) = Reactor::new(kind)?;
        let name = name.unwrap_or_else(|| {
            let thread = std::thread::current();
            thread
                .name()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{:?}", thread.id()))
        });
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            id,
            name,
            reactor_kind: reactor.kind(),
            remote: ConcurrentQueue::unbounded(),
            commands: ConcurrentQueue::unbounded(),
            notifier,
            halt: AtomicBool::new(false),
            busy: AtomicU64::new(0),
            site: AtomicPtr::new(std::ptr::null_mut()),
            flagged: AtomicU64::new(0),
            flagged_seen: AtomicU64::new(0),
            threshold_ms: AtomicU64::new(diagnostics::default_threshold_ms()),
        });
        watchdog::watch(&shared);
        register_loop(&shared);
        if may_be_main {
            diagnostics::register_main(&shared);
        }
        let now = Instant::now();
        Ok(Rc::new(Loop {
            shared,
            id,
            local: RefCell::new(VecDeque::with_capacity(256)),
            reactor,
            timers: RefCell::new(Wheel::new()),
            due: RefCell::new(Vec::new()),
            start: now,
            now: Cell::new(now),
            registry: RefCell::new(Slab::new()),
            next_id: Cell::new(1),
            current: Cell::new(NO_TASK),
            seq: Cell::new(0),
            reported: Cell::new(0),
            parked: Cell::new(false),
            driving: Cell::new(false),
            driven: Cell::new(false),
        }))
    }

    /// Whether the loop is running (`run` or `block_on`) on its thread right now.
    /// Only then will it fire timers and collect I/O events.
    pub(crate) fn is_driving(&self) -> bool {
        self.driving.get()
    }

    /// The clock as of the loop's last reading (once per turn).
    pub(crate) fn last_now(&self) -> Instant {
        self.now.get()
    }

    pub(crate) fn register_task(
        &self,
        name: Option<Cow<'static, str>>,
        location: &'static Location<'static>,
    ) -> usize {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.registry.borrow_mut().insert(TaskEntry {
            id,
            name,
            location,
            spawned: self.now.get(),
        })
    }

    pub(crate) fn unregister_task(&self, slot: usize) {
        // An o-routine that blocked the loop in the poll that finished it is
        // reported now, while its registry entry still names it.
        let seq = self.seq.get();
        if self.current.get() == slot && self.shared.flagged.load(Ordering::Relaxed) == seq {
            self.reported.set(seq);
            diagnostics::report_blocked(self, slot);
        }
        if let Ok(mut registry) = self.registry.try_borrow_mut() {
            registry.try_remove(slot);
        }
    }

    // ----- timers -----

    fn tick_of(&self, at: Instant) -> u64 {
        // Round up: a timer never fires before its deadline.
        let nanos = at.saturating_duration_since(self.start).as_nanos();
        nanos.div_ceil(1_000_000).min(u64::MAX as u128) as u64
    }

    fn now_tick(&self) -> u64 {
        let now = Instant::now();
        self.now.set(now);
        now.saturating_duration_since(self.start)
            .as_millis()
            .min(u64::MAX as u128) as u64
    }

    pub(crate) fn insert_timer(&self, deadline: Instant, entry: TimerEntry) -> TimerKey {
        let tick = self.tick_of(deadline);
        self.timers.borrow_mut().insert(tick, entry)
    }

    /// Number of timers in the wheel.
    #[cfg(test)]
    pub(crate) fn timer_count(&self) -> usize {
        self.timers.borrow().len()
    }

    pub(crate) fn remove_timer(&self, key: TimerKey) -> Option<TimerEntry> {
        self.timers.try_borrow_mut().ok()?.remove(key)
    }

    /// Whether the timer is still waiting; refreshes its waker if so.
    pub(crate) fn refresh_timer(&self, key: TimerKey, waker: &Waker) -> bool {
        let mut timers = self.timers.borrow_mut();
        match timers.get_mut(key) {
            Some(TimerEntry::Wake(w)) => {
                if !w.will_wake(waker) {
                    let old = std::mem::replace(w, waker.clone());
                    // Dropped after the borrow: the last waker of a task drops
                    // the task, whose timers then leave this wheel.
                    drop(timers);
                    drop(old);
                }
                true
            }
            Some(TimerEntry::Call(_)) => true,
            None => false,
        }
    }

    /// Runs the timers that are due; reads the clock only if there are any.
    fn fire_timers(&self) {
        if self.timers.borrow().is_empty() {
            return;
        }
        let now = self.now_tick();
        let mut due = self.due.borrow_mut();
        self.timers
            .borrow_mut()
            .advance(now, |entry| due.push(entry));
        if due.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut *due);
        drop(due);
        for entry in batch.drain(..) {
            match entry {
                TimerEntry::Wake(w) => w.wake(),
                TimerEntry::Call(f) => f(),
            }
        }
        // Give the (now empty) buffer back for the next turn.
        let mut due = self.due.borrow_mut();
        if due.is_empty() {
            *due = batch;
        }
    }

    /// After a wait: runs the timers now due, or, with none pending, just
    /// reads the clock (one reading per turn either way, the spawn time of the
    /// o-routines the next turn creates).
    fn tick_after_wait(&self) {
        if self.timers.borrow().is_empty() {
            self.now.set(Instant::now());
        } else {
            self.fire_timers();
        }
    }

    fn next_timeout(&self) -> Option<Duration> {
        let tick = self.timers.borrow().next_deadline()?;
        let deadline = self.start + Duration::from_millis(tick);
        Some(deadline.saturating_duration_since(Instant::now()))
    }

    // ----- running -----

    fn run_task(&self, runnable: Runnable) {
        let meta = runnable.metadata();
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        self.current.set(meta.slot);
        self.shared
            .site
            .store(meta.location as *const _ as *mut _, Ordering::Relaxed);
        self.shared.busy.store(seq, Ordering::Relaxed);
        let slot = meta.slot;
        runnable.run();
        self.shared.busy.store(0, Ordering::Relaxed);
        if self.shared.flagged.load(Ordering::Relaxed) == seq && self.reported.get() != seq {
            diagnostics::report_blocked(self, slot);
        }
        self.current.set(NO_TASK);
    }

    fn drain_remote(&self) {
        if !self.shared.remote.is_empty() {
            let mut local = self.local.borrow_mut();
            while let Ok(r) = self.shared.remote.pop() {
                local.push_back(r);
            }
        }
        while let Ok(command) = self.shared.commands.pop() {
            command();
        }
    }

    fn set_driving(&self, driving: bool) {
        self.driving.set(driving);
        self.reactor.set_running(driving);
        if !driving {
            // As for the reactor's waits: a sleep left in the wheel, polled by
            // another executor, would wait for a loop turn that no longer
            // comes; woken, it moves to async-io's timer.
            let wakers: Vec<Waker> = self
                .timers
                .borrow()
                .values()
                .filter_map(|entry| match entry {
                    TimerEntry::Wake(waker) => Some(waker.clone()),
                    TimerEntry::Call(_) => None,
                })
                .collect();
            for waker in wakers {
                waker.wake();
            }
        }
    }

    /// Runs the loop until `fut` completes, or, when `until_halt`, until `halt()`.
    /// Returns `None` when halted.
    pub(crate) fn drive<F: Future>(&self, fut: Pin<&mut F>, until_halt: bool) -> Option<F::Output> {
        assert!(
            !self.driving.get(),
            "monocle: the event loop is already running on this thread \
             (block_on or run called from inside an o-routine); await the future instead"
        );
        self.set_driving(true);
        self.driven.set(true);
        struct Reset<'a>(&'a Loop);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.set_driving(false);
            }
        }
        let _reset = Reset(self);

        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            shared: self.shared.clone(),
        });
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = fut;
        self.now.set(Instant::now());

        loop {
            if main.woken.load(Ordering::Acquire) {
                main.woken.store(false, Ordering::Release);
                if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                    return Some(out);
                }
            }
            if until_halt
                && self.shared.halt.load(Ordering::Relaxed)
                && self.shared.halt.swap(false, Ordering::AcqRel)
            {
                return None;
            }

            for _ in 0..BUDGET {
                let next = self.local.borrow_mut().pop_front();
                match next {
                    Some(r) => self.run_task(r),
                    None => break,
                }
            }

            self.drain_remote();
            self.fire_timers();

            let idle = self.local.borrow().is_empty() && !main.woken.load(Ordering::Acquire);
            if idle {
                self.shared.notifier.clear();
                // Look once more after clearing: a notification that came before
                // the clear is seen here, one that comes after wakes the reactor.
                if !self.shared.remote.is_empty()
                    || !self.shared.commands.is_empty()
                    || main.woken.load(Ordering::Acquire)
                    || (until_halt && self.shared.halt.load(Ordering::Acquire))
                {
                    continue;
                }
                let timeout = self.next_timeout();
                self.parked.set(self.reactor.wakes_while_waiting());
                let waited = self.reactor.wait(&self.shared.notifier, timeout);
                self.parked.set(false);
                if let Err(e) = waited {
                    log::error!("event loop {}: reactor wait failed: {e}", self.shared.name);
                }
                self.tick_after_wait();
            } else {
                if self.reactor.has_sources() {
                    if let Err(e) = self
                        .reactor
                        .wait(&self.shared.notifier, Some(Duration::ZERO))
                    {
                        log::error!("event loop {}: reactor poll failed: {e}", self.shared.name);
                    }
                }
                // `fire_timers` above read the clock if there are timers.
                if self.timers.borrow().is_empty() {
                    self.now.set(Instant::now());
                }
            }
        }
    }
}

impl Loop {
    /// Says that `count` o-routines were launched on this loop but the loop
    /// never ran one: its thread ended without `run` or `block_on`, a mistake
    /// that would otherwise pass in silence.
    #[cold]
    fn warn_never_ran(&self, count: usize) {
        let registry = self.registry.borrow();
        let first = registry.iter().map(|(_, e)| e).min_by_key(|e| e.id);
        let what = match first {
            Some(TaskEntry {
                name: Some(name),
                location,
                ..
            }) => format!(", the first `{name}` launched at {location}"),
            Some(TaskEntry { location, .. }) => format!(", the first launched at {location}"),
            None => String::new(),
        };
        log::warn!(
            "event loop {}: {count} o-routine(s) launched on it never ran{what}: \
             its thread ended without running the loop (monocle::run or block_on)",
            self.shared.name
        );
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        // Refuse work from other threads from now on, then drop what is queued on
        // this thread (o-routines may be !Send, so here is the only place to drop
        // them).
        self.shared.remote.close();
        self.shared.commands.close();
        unregister_loop(self.id);
        diagnostics::unregister_main(&self.shared);
        while self.shared.remote.pop().is_ok() {}
        while self.shared.commands.pop().is_ok() {}
        let local = std::mem::take(&mut *self.local.borrow_mut());
        if !self.driven.get() && !local.is_empty() {
            self.warn_never_ran(local.len());
        }
        drop(local);
        let timers = std::mem::take(&mut *self.timers.borrow_mut());
        drop(timers);
    }
}

/// The waker of the future given to `block_on`.
struct MainWaker {
    woken: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let on_running_loop =
            try_with_loop(|lp| Arc::ptr_eq(&lp.shared, &self.shared) && !lp.parked.get())
                .unwrap_or(false);
        if !on_running_loop {
            self.shared.notifier.notify();
        }
    }
}
