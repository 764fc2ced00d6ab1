//! The free functions `eventloop::halt` and `eventloop::queue_task` called from
//! a thread without a loop act on the main loop (the first loop of the process
//! whose thread still lives).
//!
//! Which loop is the main one is process-wide state, so this binary holds a
//! single test that creates every loop itself, in order.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use monocle_stack::eventloop::{self, queue_local_task, queue_task};
use monocle_stack::Handle;

/// Runs this thread's loop until halted; fails if that takes 10 s, which means
/// the halt went elsewhere.
fn run_until_halted() {
    let guard = queue_local_task(Duration::from_secs(10), || {
        panic!("the loop was not halted within 10 s");
    });
    eventloop::run();
    assert!(guard.cancel(), "halted by the test, not by the guard");
}

#[test]
fn work_from_threads_without_a_loop_goes_to_the_main_loop() {
    assert!(Handle::main().is_none(), "no loop exists yet");

    // With no main loop, queue_task creates the calling thread's loop, which
    // becomes the main loop, and queues the work there.
    thread::Builder::new()
        .name("first".into())
        .spawn(|| {
            let (tx, rx) = mpsc::channel();
            queue_task(Duration::from_millis(1), move || {
                tx.send(thread::current().name().map(str::to_owned))
                    .unwrap();
                eventloop::halt();
            });
            assert_eq!(Handle::main().unwrap().name(), "first");
            run_until_halted();
            assert_eq!(rx.recv().unwrap().as_deref(), Some("first"));
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(
        Handle::main().is_none(),
        "the main loop ended with its thread"
    );

    // This thread's loop is the main loop now.
    let here = eventloop::handle();
    assert_eq!(Handle::main().unwrap().name(), here.name());

    // queue_task from a thread without a loop: runs on the main loop, and
    // creates no loop on the calling thread.
    let (tx, rx) = mpsc::channel();
    let caller = thread::spawn(move || {
        queue_task(Duration::from_millis(1), move || {
            tx.send(thread::current().id()).unwrap();
            eventloop::halt();
        });
        assert!(Handle::try_current().is_none());
    });
    run_until_halted();
    caller.join().unwrap();
    assert_eq!(rx.recv().unwrap(), thread::current().id());

    // halt from a thread without a loop halts the main loop, whether it comes
    // before `run` (which then returns at once) or while the loop runs.
    let (started, wait) = mpsc::channel::<()>();
    let halter = thread::spawn(move || {
        wait.recv().unwrap();
        eventloop::halt();
        assert!(Handle::try_current().is_none());
    });
    queue_local_task(Duration::ZERO, move || started.send(()).unwrap());
    run_until_halted();
    halter.join().unwrap();
}
