//! [`run`]: a program's `main` as an o-routine (monocle's `script_util.run`).

use std::future::Future;
use std::panic::AssertUnwindSafe;

use crate::diagnostics::panic_message;
use crate::task::Outcome;

/// Runs `main` on this thread's event loop until it ends. If it fails (returns
/// an `Err`), prints `error: ` and the error with its chain of causes (for the
/// error types listed in [`Outcome`]'s "Errors in log lines") to stderr and
/// exits the process with status 1. If it panics, prints
/// `error: main panicked: ` and the panic's message (after the panic hook's own
/// report) and exits with status 1 too.
///
/// Other o-routines run while `main` does; those still running when it ends are
/// dropped with the loop. Use [`block_on`](crate::block_on) to get `main`'s
/// value back instead.
///
/// ```no_run
/// use monocle_stack::util::sleep;
///
/// fn main() {
///     monocle_stack::run(async {
///         sleep(std::time::Duration::from_millis(10)).await;
///         std::io::Result::Ok(())
///     });
/// }
/// ```
pub fn run<F>(main: F)
where
    F: Future,
    F::Output: Outcome,
{
    // The process ends right after a panic, so nothing observes broken state.
    let out = match std::panic::catch_unwind(AssertUnwindSafe(|| crate::block_on(main))) {
        Ok(out) => out,
        Err(panic) => {
            eprintln!("error: main panicked: {}", panic_message(&*panic));
            std::process::exit(1);
        }
    };
    if let Some(failure) = out.failure() {
        eprintln!("error: {failure}");
        std::process::exit(1);
    }
}
