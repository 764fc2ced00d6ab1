//! The watchdog: a thread that notices an o-routine blocking its loop.
//!
//! Timing every poll with the clock would cost two clock reads per poll. Instead
//! each loop publishes, with plain relaxed stores, the sequence number of the poll
//! in progress and the launch site of its o-routine. The watchdog samples those a
//! few times per threshold; a poll it sees in progress for longer than the
//! threshold is reported at once (naming the launch site, while it still blocks)
//! and flagged, and the loop reports it again, with the o-routine's name, when the
//! poll returns.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::diagnostics::{epoch, format_duration};
use crate::runtime::Shared;

struct Watched {
    shared: Weak<Shared>,
    /// The poll sequence number last seen in progress, and when it was first seen.
    seen: u64,
    since: Instant,
    reported: bool,
}

struct State {
    loops: Vec<Watched>,
    running: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    loops: Vec::new(),
    running: false,
});

/// Starts watching a loop (once its threshold is non-zero).
pub(crate) fn watch(shared: &Arc<Shared>) {
    if shared.threshold_ms.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if state
        .loops
        .iter()
        .any(|w| std::ptr::eq(w.shared.as_ptr(), Arc::as_ptr(shared)))
    {
        return;
    }
    state.loops.push(Watched {
        shared: Arc::downgrade(shared),
        seen: 0,
        since: Instant::now(),
        reported: false,
    });
    if !state.running {
        let spawned = std::thread::Builder::new()
            .name("monocle-watchdog".into())
            .spawn(run);
        match spawned {
            Ok(_) => state.running = true,
            Err(e) => log::warn!("cannot start the blocking watchdog: {e}"),
        }
    }
}

fn run() {
    loop {
        let period = {
            let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
            state.loops.retain(|w| w.shared.strong_count() > 0);
            let now = Instant::now();
            let mut period = Duration::from_millis(100);
            for w in state.loops.iter_mut() {
                let Some(shared) = w.shared.upgrade() else {
                    continue;
                };
                let threshold = shared.threshold_ms.load(Ordering::Relaxed);
                if threshold == 0 {
                    continue;
                }
                period = period.min(Duration::from_millis((threshold / 8).max(1)));
                sample(w, &shared, now, Duration::from_millis(threshold));
            }
            period
        };
        std::thread::sleep(period);
    }
}

fn sample(w: &mut Watched, shared: &Shared, now: Instant, threshold: Duration) {
    let busy = shared.busy.load(Ordering::Relaxed);
    if busy == 0 || busy != w.seen {
        w.seen = busy;
        w.since = now;
        w.reported = false;
        return;
    }
    let blocked = now.saturating_duration_since(w.since);
    if blocked < threshold || w.reported {
        return;
    }
    w.reported = true;
    let seen_ns = w.since.saturating_duration_since(epoch()).as_nanos() as u64;
    shared.flagged_seen.store(seen_ns, Ordering::Relaxed);
    shared.flagged.store(busy, Ordering::Relaxed);
    let site = match crate::task::published_location(&shared.site) {
        Some(location) => location.to_string(),
        None => "an unknown site".to_owned(),
    };
    log::warn!(
        "event loop {}: the o-routine launched at {site} has blocked the loop for {} so far",
        shared.name,
        format_duration(blocked)
    );
}
