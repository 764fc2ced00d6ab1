//! Diagnostics: the task dump, blocking warnings and the main loop's registry.

use std::fmt;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::runtime::{Loop, Shared};
use crate::task::describe;

/// What a live o-routine is doing, as seen by a task dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskState {
    /// Being polled right now (it asked for the dump, or the dump was taken from
    /// inside it).
    Running,
    /// Woken and waiting in the run queue.
    Scheduled,
    /// Waiting for an event: I/O, a timer, a channel, another o-routine.
    Waiting,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Running => "running",
            TaskState::Scheduled => "scheduled",
            TaskState::Waiting => "waiting",
        })
    }
}

/// One live o-routine in a task dump.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskInfo {
    /// A number unique within its loop, in launch order.
    pub id: u64,
    /// The name given at launch, if any.
    pub name: Option<String>,
    /// Where it was launched.
    pub location: &'static Location<'static>,
    /// How long ago it was launched.
    pub age: Duration,
    /// What it is doing.
    pub state: TaskState,
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {}, age {}, {}",
            self.id,
            describe(self.name.as_deref(), self.location),
            format_duration(self.age),
            self.state
        )
    }
}

/// Lists the live o-routines of this thread's event loop, oldest first.
///
/// ```
/// use monocle_stack::{block_on, launch, diagnostics::task_dump};
/// use monocle_core::named;
///
/// block_on(async {
///     let _idle = launch(named("idle", std::future::pending::<()>()));
///     monocle_stack::util::next_tick().await;
///     let dump = task_dump();
///     assert!(dump.iter().any(|t| t.name.as_deref() == Some("idle")));
///     for task in &dump {
///         println!("{task}");
///     }
/// });
/// ```
pub fn task_dump() -> Vec<TaskInfo> {
    crate::runtime::with_loop(|lp| dump(lp))
}

pub(crate) fn dump(lp: &Loop) -> Vec<TaskInfo> {
    let now = Instant::now();
    let current = lp.current.get();
    let scheduled: std::collections::HashSet<usize> = lp
        .local
        .borrow()
        .iter()
        .map(|r| r.metadata().slot)
        .collect();
    let registry = lp.registry.borrow();
    let mut tasks: Vec<TaskInfo> = registry
        .iter()
        .map(|(slot, entry)| TaskInfo {
            id: entry.id,
            name: entry.name.as_deref().map(str::to_owned),
            location: entry.location,
            age: now.saturating_duration_since(entry.spawned),
            state: if slot == current {
                TaskState::Running
            } else if scheduled.contains(&slot) {
                TaskState::Scheduled
            } else {
                TaskState::Waiting
            },
        })
        .collect();
    tasks.sort_by_key(|t| t.id);
    tasks
}

/// A duration for people, as monocle's messages print it: `1.5 s`, `2 s`,
/// `20 ms`, `300 µs` (seconds to a tenth).
///
/// ```
/// use std::time::Duration;
/// use monocle_stack::diagnostics::format_duration;
///
/// assert_eq!(format_duration(Duration::from_millis(1500)), "1.5 s");
/// assert_eq!(format_duration(Duration::from_secs(2)), "2 s");
/// assert_eq!(format_duration(Duration::from_millis(20)), "20 ms");
/// assert_eq!(format_duration(Duration::from_micros(300)), "300 µs");
/// ```
pub fn format_duration(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        let tenths = (d.as_millis() + 50) / 100;
        if tenths.is_multiple_of(10) {
            format!("{} s", tenths / 10)
        } else {
            format!("{}.{} s", tenths / 10, tenths % 10)
        }
    } else if d >= Duration::from_millis(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} µs", d.as_micros())
    }
}

/// A fixed point in time for timestamps kept in atomics.
pub(crate) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The blocking-warning threshold for new loops: `MONOCLE_BLOCKING_WARN_MS`, else
/// 500 ms. 0 turns the warning off.
pub(crate) fn default_threshold_ms() -> u64 {
    static MS: OnceLock<u64> = OnceLock::new();
    *MS.get_or_init(|| match std::env::var("MONOCLE_BLOCKING_WARN_MS") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| {
            log::error!(
                "MONOCLE_BLOCKING_WARN_MS={v:?} is not a number of milliseconds; using 500"
            );
            500
        }),
        _ => 500,
    })
}

/// Logs, after the fact, a poll the watchdog caught running past the threshold.
pub(crate) fn report_blocked(lp: &Loop, slot: usize) {
    let shared = &lp.shared;
    let seen = shared.flagged_seen.load(Ordering::Relaxed);
    let since = epoch() + Duration::from_nanos(seen);
    let at_least = Instant::now().saturating_duration_since(since);
    let registry = lp.registry.borrow();
    let who = match registry.get(slot) {
        Some(entry) => describe(entry.name.as_deref(), entry.location),
        None => "an o-routine that has since finished".to_owned(),
    };
    log::warn!(
        "event loop {}: {who} blocked the loop for at least {}; \
         move blocking work to monocle's offload pool",
        shared.name,
        format_duration(at_least)
    );
}

static MAIN: Mutex<Option<Weak<Shared>>> = Mutex::new(None);

pub(crate) fn register_main(shared: &Arc<Shared>) {
    let mut main = MAIN.lock().unwrap_or_else(|e| e.into_inner());
    if main
        .as_ref()
        .and_then(Weak::upgrade)
        .is_none_or(|s| !s.is_alive())
    {
        *main = Some(Arc::downgrade(shared));
    }
}

pub(crate) fn unregister_main(shared: &Arc<Shared>) {
    let mut main = MAIN.lock().unwrap_or_else(|e| e.into_inner());
    if main
        .as_ref()
        .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(shared)))
    {
        *main = None;
    }
}

pub(crate) fn main_loop() -> Option<Arc<Shared>> {
    let main = MAIN.lock().unwrap_or_else(|e| e.into_inner());
    main.as_ref()
        .and_then(Weak::upgrade)
        .filter(|s| s.is_alive())
}

/// The text of a panic payload, as `panic!` makes them (`&str` or `String`),
/// for messages about a caught panic.
///
/// # Examples
///
/// ```
/// use monocle_stack::diagnostics::panic_message;
///
/// let panic = std::panic::catch_unwind(|| panic!("disk {} full", 1)).unwrap_err();
/// assert_eq!(panic_message(&*panic), "disk 1 full");
/// let panic = std::panic::catch_unwind(|| std::panic::panic_any(7)).unwrap_err();
/// assert_eq!(panic_message(&*panic), "(a non-string panic payload)");
/// ```
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "(a non-string panic payload)"
    }
}
