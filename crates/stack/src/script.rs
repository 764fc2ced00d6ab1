//! [`run`]: a program's `main` as an o-routine (monocle's `script_util.run`).

use std::future::Future;

use crate::task::Outcome;

/// Runs `main` on this thread's event loop until it ends. If it fails (returns
/// an `Err`), prints `error: ` and the error with its chain of causes to stderr
/// and exits the process with status 1.
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
    let out = crate::block_on(main);
    if let Some(failure) = out.failure() {
        eprintln!("error: {failure}");
        std::process::exit(1);
    }
}
