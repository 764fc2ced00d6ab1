//! The event loop's behaviour, on the reactor chosen by `MONOCLE_REACTOR`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use monocle_core::{first_of2, named, Callback, Channel, Winner};
use monocle_stack::diagnostics::{task_dump, TaskState};
use monocle_stack::eventloop::{self, queue_local_task, queue_task};
use monocle_stack::util::{delayed, next_tick, sleep, timeout};
use monocle_stack::{block_on, launch, offload, Handle, JoinError, Loops};

mod common;
use common::{capture_logs, logs_matching, on_fresh_thread};

#[test]
fn block_on_returns_the_output() {
    on_fresh_thread(|| assert_eq!(block_on(async { 6 * 7 }), 42));
}

#[test]
fn launched_oroutines_run_and_join() {
    on_fresh_thread(|| {
        let sum = block_on(async {
            let handles: Vec<_> = (0..100u64).map(|i| launch(async move { i })).collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await;
            }
            sum
        });
        assert_eq!(sum, 4950);
    });
}

#[test]
fn dropping_the_handle_does_not_cancel() {
    on_fresh_thread(|| {
        let done = Rc::new(Cell::new(false));
        let flag = done.clone();
        block_on(async move {
            drop(launch(async move {
                sleep(Duration::from_millis(5)).await;
                flag.set(true);
            }));
            sleep(Duration::from_millis(30)).await;
        });
        assert!(done.get());
    });
}

#[test]
fn cancel_stops_an_oroutine() {
    on_fresh_thread(|| {
        let reached = Rc::new(Cell::new(false));
        let flag = reached.clone();
        block_on(async move {
            let h = launch(async move {
                sleep(Duration::from_millis(20)).await;
                flag.set(true);
            });
            next_tick().await;
            assert_eq!(h.cancel().await, None);
            sleep(Duration::from_millis(40)).await;
        });
        assert!(!reached.get());
    });
}

#[test]
fn non_send_oroutines_run() {
    on_fresh_thread(|| {
        let shared = Rc::new(RefCell::new(Vec::new()));
        block_on({
            let shared = shared.clone();
            async move {
                let a = launch({
                    let s = shared.clone();
                    async move { s.borrow_mut().push(1) }
                });
                let b = launch({
                    let s = shared.clone();
                    async move { s.borrow_mut().push(2) }
                });
                a.await;
                b.await;
            }
        });
        assert_eq!(*shared.borrow(), vec![1, 2]);
    });
}

#[test]
fn run_until_halt() {
    on_fresh_thread(|| {
        let count = Rc::new(Cell::new(0));
        let c = count.clone();
        launch(async move {
            for _ in 0..3 {
                next_tick().await;
                c.set(c.get() + 1);
            }
            eventloop::halt();
        });
        eventloop::run();
        assert_eq!(count.get(), 3);
    });
}

#[test]
fn halt_from_another_thread() {
    on_fresh_thread(|| {
        let handle = eventloop::handle();
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        launch(async move { s.store(true, Ordering::SeqCst) });
        let t = std::thread::spawn(move || {
            // Wait until the loop has demonstrably started running.
            while !started.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            handle.halt();
        });
        eventloop::run();
        t.join().unwrap();
    });
}

#[test]
fn cross_thread_wake() {
    on_fresh_thread(|| {
        let cb: Callback<u32> = Callback::new();
        let resolver = cb.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            resolver.resolve(7).unwrap();
        });
        let v = block_on(async move {
            let waiter = launch(cb);
            waiter.await
        });
        assert_eq!(v, 7);
        t.join().unwrap();
    });
}

#[test]
fn many_cross_thread_wakes_are_not_lost() {
    on_fresh_thread(|| {
        let ch: Channel<usize> = Channel::new(16);
        let mut threads = Vec::new();
        for t in 0..4 {
            let ch = ch.clone();
            threads.push(std::thread::spawn(move || {
                for i in 0..5_000 {
                    futures_lite::future::block_on(ch.send(t * 5_000 + i)).unwrap();
                }
            }));
        }
        let total = block_on(async move {
            let mut seen = vec![false; 20_000];
            for _ in 0..20_000 {
                let v = ch.recv().await.unwrap();
                assert!(!seen[v], "value {v} received twice");
                seen[v] = true;
            }
            seen.iter().filter(|s| **s).count()
        });
        assert_eq!(total, 20_000);
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn wake_from_async_io_thread() {
    // An async-io timer is fired by async-io's reactor, which may run on its own
    // background thread; the o-routine must still be woken.
    on_fresh_thread(|| {
        let out = block_on(async {
            let h = launch(async {
                async_io::Timer::after(Duration::from_millis(10)).await;
                "woken"
            });
            h.await
        });
        assert_eq!(out, "woken");
    });
}

#[test]
fn sleep_and_delayed_never_fire_early() {
    on_fresh_thread(|| {
        block_on(async {
            let start = Instant::now();
            sleep(Duration::from_millis(30)).await;
            assert!(start.elapsed() >= Duration::from_millis(30));
            let start = Instant::now();
            assert_eq!(delayed(Duration::from_millis(15), 3).await, 3);
            assert!(start.elapsed() >= Duration::from_millis(15));
        });
    });
}

#[test]
fn timers_fire_in_deadline_order() {
    on_fresh_thread(|| {
        let order = Rc::new(RefCell::new(Vec::new()));
        block_on({
            let order = order.clone();
            async move {
                let hs: Vec<_> = [40u64, 10, 30, 20, 0]
                    .into_iter()
                    .map(|ms| {
                        let order = order.clone();
                        launch(async move {
                            sleep(Duration::from_millis(ms)).await;
                            order.borrow_mut().push(ms);
                        })
                    })
                    .collect();
                for h in hs {
                    h.await;
                }
            }
        });
        assert_eq!(*order.borrow(), vec![0, 10, 20, 30, 40]);
    });
}

#[test]
fn timeout_expires_and_passes() {
    on_fresh_thread(|| {
        block_on(async {
            let line = line!() + 1;
            let err = timeout(Duration::from_millis(10), sleep(Duration::from_secs(30)))
                .await
                .unwrap_err();
            assert_eq!(err.after(), Duration::from_millis(10));
            assert_eq!(err.to_string(), "timed out after 10 ms");
            // The `timeout` call that gave up, for `main`'s error report.
            assert_eq!(
                (err.location().file(), err.location().line()),
                (file!(), line)
            );
            let debug = format!("{:?}", std::io::Error::from(err));
            assert!(debug.contains(&format!("{}:{line}:", file!())), "{debug}");
            assert_eq!(timeout(Duration::from_secs(5), async { 1 }).await, Ok(1));
        });
    });
}

#[test]
fn queue_task_runs_and_cancels() {
    on_fresh_thread(|| {
        // Give this thread its loop first: with none, queue_task would hand the
        // work to the process's main loop (another test's, here).
        let _ = eventloop::handle();
        let ran = Arc::new(AtomicUsize::new(0));
        let r1 = ran.clone();
        let first = queue_task(Duration::from_millis(5), move || {
            r1.fetch_add(1, Ordering::SeqCst);
        });
        let r2 = ran.clone();
        let cancelled = queue_task(Duration::from_millis(10), move || {
            r2.fetch_add(100, Ordering::SeqCst);
        });
        assert!(cancelled.cancel());
        assert!(
            !cancelled.cancel(),
            "a second cancel reports nothing to cancel"
        );
        queue_task(Duration::from_millis(30), eventloop::halt);
        eventloop::run();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert!(first.has_run());
        assert!(cancelled.is_cancelled());
    });
}

#[test]
fn queue_local_task_runs_non_send_work_on_this_loop() {
    on_fresh_thread(|| {
        // Rc and RefCell: the work is not Send, which queue_task would refuse.
        let log = Rc::new(RefCell::new(Vec::new()));
        let l1 = log.clone();
        let first = queue_local_task(Duration::from_millis(5), move || {
            l1.borrow_mut().push("first");
        });
        let l2 = log.clone();
        let cancelled = queue_local_task(Duration::from_millis(1), move || {
            l2.borrow_mut().push("cancelled");
        });
        // The handle is Send: another thread may cancel.
        std::thread::spawn(move || assert!(cancelled.cancel()))
            .join()
            .unwrap();
        let l3 = log.clone();
        queue_local_task(Duration::from_millis(10), move || {
            l3.borrow_mut().push("last");
            eventloop::halt();
        });
        eventloop::run();
        assert_eq!(*log.borrow(), ["first", "last"]);
        assert!(first.has_run());
    });
}

#[test]
fn queue_task_from_another_thread() {
    on_fresh_thread(|| {
        let handle = eventloop::handle();
        let (tx, rx) = mpsc::channel();
        let t = std::thread::spawn(move || {
            handle.queue_task(Duration::from_millis(5), move || {
                tx.send(std::thread::current().name().map(str::to_owned))
                    .unwrap();
                eventloop::halt();
            });
        });
        eventloop::run();
        t.join().unwrap();
        assert_eq!(
            rx.recv().unwrap(),
            std::thread::current().name().map(str::to_owned)
        );
    });
}

#[test]
fn a_panicking_oroutine_does_not_stop_others() {
    let logs = capture_logs();
    on_fresh_thread(|| {
        let v = block_on(async {
            let bad = launch(named("doomed", async {
                next_tick().await;
                panic!("boom")
            }));
            let _: &monocle_stack::JoinHandle<()> = &bad;
            drop(bad);
            let good = launch(async {
                for _ in 0..10 {
                    next_tick().await;
                }
                5
            });
            good.await
        });
        assert_eq!(v, 5);
    });
    let lines = logs_matching(&logs, "'doomed'");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("panicked: boom"), "{}", lines[0]);
    assert!(
        lines[0].contains("eventloop.rs"),
        "names the launch site: {}",
        lines[0]
    );
}

#[test]
fn oroutines_on_a_loop_that_never_ran_are_reported_when_its_thread_ends() {
    let logs = capture_logs();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    on_fresh_thread(move || {
        drop(launch(named("forgotten-job", async move {
            flag.store(true, Ordering::SeqCst)
        })));
        drop(launch(async {}));
        // The thread ends here without running its loop.
    });
    assert!(!ran.load(Ordering::SeqCst));
    let lines = logs_matching(&logs, "`forgotten-job`");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("WARN "), "{}", lines[0]);
    assert!(lines[0].contains("2 o-routine(s)"), "{}", lines[0]);
    assert!(lines[0].contains("never ran"), "{}", lines[0]);
    assert!(lines[0].contains("eventloop.rs"), "{}", lines[0]);

    // A loop that ran, even with o-routines still queued at its end, is quiet.
    on_fresh_thread(|| {
        block_on(async {
            drop(launch(named("left-queued-job", async {})));
        });
    });
    assert_eq!(
        logs_matching(&logs, "`left-queued-job`"),
        Vec::<String>::new()
    );
}

#[test]
fn an_unobserved_error_is_logged_and_an_awaited_one_is_not() {
    let logs = capture_logs();
    on_fresh_thread(|| {
        block_on(async {
            launch(named("unobserved", async {
                Err::<(), _>(std::io::Error::other("disk on fire"))
            }));
            let seen = launch(named("observed", async { Err::<(), _>("handled") }));
            assert_eq!(seen.await, Err("handled"));
            for _ in 0..3 {
                next_tick().await;
            }
        });
    });
    let lines = logs_matching(&logs, "'unobserved'");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("failed: disk on fire"), "{}", lines[0]);
    assert!(logs_matching(&logs, "'observed'").is_empty());
}

#[test]
fn awaiting_a_panicked_oroutine_propagates() {
    on_fresh_thread(|| {
        let outer_panicked = block_on(async {
            let inner = launch(async {
                next_tick().await;
                panic!("inner")
            });
            let _: &monocle_stack::JoinHandle<()> = &inner;
            // The outer o-routine awaits the inner one and so panics too.
            let outer = launch(inner);
            futures_lite::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outer))
                .await
                .is_err()
        });
        assert!(outer_panicked);
    });
}

#[test]
fn blocking_poll_is_reported_with_the_name() {
    let logs = capture_logs();
    on_fresh_thread(|| {
        eventloop::set_blocking_threshold(Some(Duration::from_millis(40)));
        block_on(async {
            launch(named("sleepy", async {
                std::thread::sleep(Duration::from_millis(300));
            }))
            .await;
        });
    });
    let after = logs_matching(&logs, "'sleepy'");
    assert_eq!(after.len(), 1, "{after:?} {:?}", logs.lock().unwrap());
    assert!(
        after[0].contains("blocked the loop for at least"),
        "{}",
        after[0]
    );
    let during = logs_matching(&logs, "has blocked the loop for");
    assert!(
        during.iter().any(|l| l.contains("eventloop.rs")),
        "the watchdog names the launch site while it blocks: {during:?}"
    );
}

#[test]
fn task_dump_lists_live_oroutines() {
    on_fresh_thread(|| {
        block_on(async {
            let parked = launch(named("parked", std::future::pending::<()>()));
            let ready = launch(named("ready", async {}));
            let dump = task_dump();
            let find = |n: &str| dump.iter().find(|t| t.name.as_deref() == Some(n)).cloned();
            assert_eq!(find("ready").unwrap().state, TaskState::Scheduled);
            next_tick().await;
            next_tick().await;
            let dump = task_dump();
            let parked_info = dump
                .iter()
                .find(|t| t.name.as_deref() == Some("parked"))
                .unwrap();
            assert_eq!(parked_info.state, TaskState::Waiting);
            assert!(parked_info.location.file().ends_with("eventloop.rs"));
            assert!(
                dump.iter().all(|t| t.name.as_deref() != Some("ready")),
                "finished ones leave"
            );
            drop(ready);
            parked.cancel().await;
            next_tick().await;
            assert!(task_dump()
                .iter()
                .all(|t| t.name.as_deref() != Some("parked")));
        });
    });
}

#[test]
fn task_dump_from_another_thread() {
    let loops = Loops::start(1).unwrap();
    let h = loops.handle(0).clone();
    block_on(h.spawn(|| async {
        launch(named("resident", std::future::pending::<()>()));
    }))
    .unwrap();
    let dump = futures_lite::future::block_on(h.task_dump()).unwrap();
    assert!(
        dump.iter().any(|t| t.name.as_deref() == Some("resident")),
        "{dump:?}"
    );
}

#[test]
fn a_million_oroutines() {
    on_fresh_thread(|| {
        let count = Rc::new(Cell::new(0u32));
        block_on({
            let count = count.clone();
            async move {
                let mut handles = Vec::with_capacity(1000);
                for _ in 0..1000 {
                    for _ in 0..1000 {
                        let c = count.clone();
                        handles.push(launch(async move { c.set(c.get() + 1) }));
                    }
                    for h in handles.drain(..) {
                        h.await;
                    }
                }
            }
        });
        assert_eq!(count.get(), 1_000_000);
        assert!(task_dump().is_empty(), "every o-routine left the registry");
    });
}

#[test]
fn loops_on_several_threads() {
    let loops = Loops::start(3).unwrap();
    assert_eq!(loops.len(), 3);
    let results: Vec<_> = loops
        .spawn_on_all(|| async {
            sleep(Duration::from_millis(5)).await;
            std::thread::current().name().unwrap().to_owned()
        })
        .into_iter()
        .map(|h| block_on(h).unwrap())
        .collect();
    assert_eq!(
        results,
        ["monocle-loop-0", "monocle-loop-1", "monocle-loop-2"]
    );
    let h = loops.handle(2).clone();
    loops.shutdown();
    let gone = block_on(h.spawn(|| async { 1 }));
    assert!(matches!(gone, Err(JoinError::LoopGone { .. })), "{gone:?}");
}

#[test]
fn loops_per_core_runs_one_loop_per_available_core() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let loops = Loops::per_core().unwrap();
    assert_eq!(loops.len(), cores);
    let names: Vec<_> = loops
        .spawn_on_all(|| async { std::thread::current().name().unwrap().to_owned() })
        .into_iter()
        .map(|h| block_on(h).unwrap())
        .collect();
    let expected: Vec<_> = (0..cores).map(|i| format!("monocle-loop-{i}")).collect();
    assert_eq!(names, expected, "each loop runs on its own thread");
    assert!(
        Handle::main().is_none_or(|main| !main.name().starts_with("monocle-loop-")),
        "a pool's loop never becomes the main loop"
    );
    let handles = loops.handles().to_vec();
    assert!(handles.iter().all(Handle::is_alive));
    loops.shutdown();
    assert!(
        handles.iter().all(|h| !h.is_alive()),
        "shutdown ends every loop"
    );
}

#[test]
fn offload_runs_blocking_work_off_the_loop() {
    on_fresh_thread(|| {
        let loop_thread = std::thread::current().id();
        let (ticks, other) = block_on(async move {
            let ticker = launch(async {
                let mut n = 0;
                for _ in 0..5 {
                    sleep(Duration::from_millis(2)).await;
                    n += 1;
                }
                n
            });
            let other = offload(move || {
                std::thread::sleep(Duration::from_millis(50));
                std::thread::current().id()
            })
            .await;
            (ticker.await, other)
        });
        assert_eq!(ticks, 5);
        assert_ne!(other, loop_thread);
    });
}

#[test]
fn handle_main_exists_while_a_loop_lives() {
    on_fresh_thread(|| {
        let _ = Handle::current();
        assert!(Handle::main().is_some());
    });
}

#[test]
fn the_loop_uses_the_reactor_chosen_by_the_environment() {
    let expected = match std::env::var("MONOCLE_REACTOR").as_deref() {
        Ok("async-io") => monocle_stack::reactor::ReactorKind::AsyncIo,
        _ => monocle_stack::reactor::ReactorKind::platform_default(),
    };
    on_fresh_thread(move || assert_eq!(Handle::current().reactor(), expected));
}

#[test]
fn run_returns_at_once_after_an_earlier_halt() {
    on_fresh_thread(|| {
        let handle = eventloop::handle();
        handle.halt();
        eventloop::run(); // must not hang
                          // The request was consumed: a later run waits for a new halt.
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        launch(async move {
            next_tick().await;
            r.set(true);
            eventloop::halt();
        });
        eventloop::run();
        assert!(ran.get());
    });
}

#[test]
fn block_on_inside_an_oroutine_is_refused_clearly() {
    on_fresh_thread(|| {
        let panic = std::panic::catch_unwind(|| block_on(async { block_on(async {}) }))
            .expect_err("nested block_on must panic");
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap();
        assert!(msg.contains("already running on this thread"), "{msg}");
        // The loop is still usable afterwards.
        assert_eq!(block_on(async { 3 }), 3);
    });
}

#[test]
fn timers_work_under_another_executor() {
    // No monocle loop on this thread: sleep falls back to async-io's timers.
    on_fresh_thread(|| {
        let start = Instant::now();
        futures_lite::future::block_on(sleep(Duration::from_millis(15)));
        assert!(start.elapsed() >= Duration::from_millis(15));
        assert!(Handle::try_current().is_none(), "no loop was created");
    });
}

#[test]
fn a_source_wakes_its_oroutine_when_data_arrives() {
    use monocle_stack::reactor::Source;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    on_fresh_thread(|| {
        let got = block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let reader = Source::new(a).unwrap();
            // The writer is another o-routine on the same loop: the reader's
            // wake comes from the reactor, on the loop's thread.
            let writer = launch(async move {
                sleep(Duration::from_millis(10)).await;
                (&b).write_all(b"ping").unwrap();
                b
            });
            let mut buf = [0u8; 4];
            // A lost wake-up would leave the loop parked until the next timer:
            // the guard timer is polled first, so it wins if that happens.
            let read = reader.read_with(|mut s| s.read(&mut buf));
            let n = match first_of2(sleep(Duration::from_secs(5)), read).await {
                Winner::Second(n) => n.unwrap(),
                Winner::First(()) => panic!("the reader was not woken by the reactor"),
            };
            let b = writer.await;
            // And a write from another thread.
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(10));
                (&b).write_all(b"pong").unwrap();
                b
            });
            let mut buf2 = [0u8; 4];
            let m = reader.read_with(|mut s| s.read(&mut buf2)).await.unwrap();
            t.join().unwrap();
            [buf[..n].to_vec(), buf2[..m].to_vec()].concat()
        });
        assert_eq!(got, b"pingpong");
    });
}

#[test]
fn eof_arriving_with_the_last_data_is_not_missed() {
    use monocle_stack::reactor::Source;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    // The writer sends its last bytes and closes at once, so data and EOF reach
    // the reader in one readiness edge. The reader treats a short read as
    // "drained" (clears readiness, as the network layer does): the EOF must
    // still be seen without another edge.
    on_fresh_thread(|| {
        let got = block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let reader = Source::new(a).unwrap();
            launch(async move {
                sleep(Duration::from_millis(10)).await;
                (&b).write_all(b"last words").unwrap();
                drop(b);
            });
            let read_all = async {
                let mut out = Vec::new();
                loop {
                    let mut buf = [0u8; 64];
                    let n = reader.read_with(|mut s| s.read(&mut buf)).await.unwrap();
                    if n == 0 {
                        return out;
                    }
                    if n < buf.len() {
                        reader.clear_readable();
                    }
                    out.extend_from_slice(&buf[..n]);
                }
            };
            match first_of2(sleep(Duration::from_secs(5)), read_all).await {
                Winner::Second(out) => out,
                Winner::First(()) => panic!("the reader never saw the end of the stream"),
            }
        });
        assert_eq!(got, b"last words");
    });
}

/// Runs `fut` under futures-lite's executor; fails the test if it has not
/// finished within 10 s (async-io's timer, which needs no monocle loop).
fn foreign_block_on<F: std::future::Future>(fut: F) -> F::Output {
    futures_lite::future::block_on(futures_lite::future::or(fut, async {
        async_io::Timer::after(Duration::from_secs(10)).await;
        panic!("the future did not finish under another executor within 10 s");
    }))
}

#[test]
fn timers_work_under_another_executor_beside_an_idle_loop() {
    // The thread has a loop (it ran once, or was only created), but the loop
    // is not running: nothing would fire a timer put in its wheel.
    for make_loop in [
        (|| block_on(async {})) as fn(),
        || drop(eventloop::handle()),
    ] {
        on_fresh_thread(move || {
            make_loop();
            let start = Instant::now();
            foreign_block_on(sleep(Duration::from_millis(20)));
            assert!(start.elapsed() >= Duration::from_millis(20));
            let late = foreign_block_on(timeout(
                Duration::from_millis(10),
                std::future::pending::<()>(),
            ));
            assert!(late.is_err());
        });
    }
}

#[test]
fn a_timer_moves_between_the_loop_and_another_executor() {
    use futures_lite::future::poll_once;
    on_fresh_thread(|| {
        // First polled on the loop (into its wheel), finished under another
        // executor while the loop is idle.
        let mut first = Box::pin(sleep(Duration::from_millis(20)));
        assert!(block_on(poll_once(&mut first)).is_none());
        foreign_block_on(first);
        // First polled under another executor, finished on the loop.
        let mut second = Box::pin(sleep(Duration::from_millis(20)));
        assert!(futures_lite::future::block_on(poll_once(&mut second)).is_none());
        block_on(async {
            let guard = sleep(Duration::from_secs(10));
            match first_of2(second, guard).await {
                Winner::First(()) => {}
                Winner::Second(()) => panic!("the timer never fired on the loop"),
            }
        });
    });
}

#[test]
fn a_source_works_under_another_executor_beside_an_idle_loop() {
    use futures_lite::future::poll_once;
    use monocle_stack::reactor::Source;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    on_fresh_thread(|| {
        block_on(async {}); // the thread has a loop, which is not running below
        let (a, b) = UnixStream::pair().unwrap();
        let reader = Source::new(a).unwrap();
        let (go, wait) = mpsc::channel::<()>();
        let writer = std::thread::spawn(move || {
            for word in [&b"ping"[..], b"pong", b"pang"] {
                wait.recv().unwrap();
                (&b).write_all(word).unwrap();
            }
        });
        // Each read waits for readiness: it finds nothing before `go`.
        let read_after_go = || {
            let mut read = Box::pin(async {
                let mut buf = [0u8; 4];
                reader.read_with(|mut s| s.read(&mut buf)).await
            });
            assert!(futures_lite::future::block_on(poll_once(&mut read)).is_none());
            go.send(()).unwrap();
            read
        };
        // Under another executor.
        let n = foreign_block_on(read_after_go()).unwrap();
        assert_eq!(n, 4);
        // Started under another executor, finished by the loop.
        let read = read_after_go();
        let n = block_on(async {
            match first_of2(sleep(Duration::from_secs(10)), read).await {
                Winner::Second(n) => n.unwrap(),
                Winner::First(()) => panic!("the loop never saw the data"),
            }
        });
        assert_eq!(n, 4);
        // Started by the loop, finished under another executor.
        let mut read = Box::pin(async {
            let mut buf = [0u8; 4];
            reader.read_with(|mut s| s.read(&mut buf)).await
        });
        assert!(block_on(poll_once(&mut read)).is_none());
        go.send(()).unwrap();
        assert_eq!(foreign_block_on(read).unwrap(), 4);
        writer.join().unwrap();
    });
}
