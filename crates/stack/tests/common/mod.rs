//! Helpers shared by the stack's integration tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};

/// Runs `f` on a new thread, so that it gets a fresh event loop, and propagates
/// its panic.
pub fn on_fresh_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .name("test-loop".into())
        .spawn(f)
        .unwrap()
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

type Lines = Arc<Mutex<Vec<String>>>;

struct Capture(Lines);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

/// Installs (once per test binary) a logger that keeps every line.
pub fn capture_logs() -> Lines {
    static LINES: OnceLock<Lines> = OnceLock::new();
    LINES
        .get_or_init(|| {
            let lines: Lines = Arc::default();
            log::set_logger(Box::leak(Box::new(Capture(lines.clone())))).unwrap();
            log::set_max_level(log::LevelFilter::Trace);
            lines
        })
        .clone()
}

/// The captured lines containing `needle`.
pub fn logs_matching(lines: &Lines, needle: &str) -> Vec<String> {
    lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}
