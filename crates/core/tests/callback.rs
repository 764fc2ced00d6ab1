//! Callback: resolve once, await from many tasks, handlers, results, threads.

mod common;

use std::sync::{Arc, Mutex};
use std::thread;

use common::{counting_waker, poll_once, poll_with, Executor};
use monocle_core::{defer, AlreadyResolved, Callback};

#[test]
fn several_tasks_await_the_same_callback() {
    let ex = Executor::new();
    let cb = Callback::new();
    let handles: Vec<_> = (0..5)
        .map(|i| {
            let cb = cb.clone();
            ex.spawn(async move { (i, cb.await) })
        })
        .collect();
    ex.run_until_idle();
    assert!(handles.iter().all(|h| !h.is_finished()));
    cb.resolve(String::from("hello")).unwrap();
    ex.run_until_idle();
    for (i, h) in handles.iter().enumerate() {
        assert_eq!(h.output(), (i, String::from("hello")));
    }
    // The original handle can still be awaited afterwards.
    assert_eq!(ex.run(cb), "hello");
}

#[test]
fn awaiting_by_mutable_reference_keeps_the_handle() {
    let cb = Callback::new();
    let mut waiter = cb.clone();
    assert!(poll_once(&mut waiter).is_pending());
    cb.resolve(3).unwrap();
    assert_eq!(poll_once(&mut waiter), std::task::Poll::Ready(3));
    assert_eq!(poll_once(&mut waiter), std::task::Poll::Ready(3));
}

#[test]
fn handlers_added_before_resolve_run_in_order_at_resolve() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let cb = Callback::new();
    for i in 0..4 {
        let log = log.clone();
        cb.add(move |v: &u32| log.lock().unwrap().push(v + i));
    }
    assert!(
        log.lock().unwrap().is_empty(),
        "handlers must wait for the result"
    );
    cb.resolve(10).unwrap();
    assert_eq!(*log.lock().unwrap(), [10, 11, 12, 13]);
}

#[test]
fn handlers_added_after_resolve_run_immediately() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let cb = defer(7);
    let l = log.clone();
    cb.add(move |v: &i32| l.lock().unwrap().push(*v));
    assert_eq!(*log.lock().unwrap(), [7]);
}

#[test]
fn handlers_run_on_the_resolving_thread() {
    let cb = Callback::new();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    cb.add(move |_: &()| *s.lock().unwrap() = Some(thread::current().id()));
    let resolver = {
        let cb = cb.clone();
        thread::spawn(move || {
            cb.resolve(()).unwrap();
            thread::current().id()
        })
    };
    let resolver_id = resolver.join().unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(resolver_id));
}

#[test]
fn a_handler_may_use_its_callback_without_deadlock() {
    let cb = Callback::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (inner_cb, l) = (cb.clone(), log.clone());
    cb.add(move |v: &u8| {
        l.lock().unwrap().push(format!("first {v}"));
        assert_eq!(inner_cb.result(), Some(*v));
        assert!(inner_cb.is_resolved());
        let l2 = l.clone();
        inner_cb.add(move |v: &u8| l2.lock().unwrap().push(format!("nested {v}")));
        assert!(inner_cb.resolve(99).is_err());
    });
    let l = log.clone();
    cb.add(move |v: &u8| l.lock().unwrap().push(format!("second {v}")));
    cb.resolve(1).unwrap();
    assert_eq!(*log.lock().unwrap(), ["first 1", "nested 1", "second 1"]);
}

#[test]
fn second_resolve_is_an_error_that_returns_the_value() {
    let cb = Callback::new();
    cb.resolve(vec![1]).unwrap();
    let err: AlreadyResolved<Vec<i32>> = cb.resolve(vec![2, 2]).unwrap_err();
    assert_eq!(err.to_string(), "callback already resolved");
    assert_eq!(format!("{err:?}"), "AlreadyResolved { .. }");
    assert_eq!(err.into_inner(), [2, 2]);
    assert_eq!(cb.result(), Some(vec![1]), "the first value stays");
    // Handlers do not run again.
    let runs = Arc::new(Mutex::new(0));
    let r = runs.clone();
    cb.add(move |_| *r.lock().unwrap() += 1);
    assert!(cb.resolve(vec![3]).is_err());
    assert_eq!(*runs.lock().unwrap(), 1);
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(AlreadyResolved(5u8));
    assert_eq!(boxed.to_string(), "callback already resolved");
}

#[test]
fn result_get_and_is_resolved() {
    let cb: Callback<String> = Callback::default();
    assert!(!cb.is_resolved());
    assert_eq!(cb.result(), None);
    assert_eq!(cb.get(), None);
    cb.resolve("v".into()).unwrap();
    assert!(cb.is_resolved());
    assert_eq!(cb.result().as_deref(), Some("v"));
    assert_eq!(cb.get().map(String::as_str), Some("v"));
    // Every clone sees the same result.
    assert_eq!(cb.clone().result().as_deref(), Some("v"));
}

#[test]
fn defer_is_already_resolved() {
    let cb = defer((1, "a"));
    assert!(cb.is_resolved());
    assert_eq!(cb.result(), Some((1, "a")));
    assert_eq!(poll_once(&mut cb.clone()), std::task::Poll::Ready((1, "a")));
    assert!(cb.resolve((2, "b")).is_err());
}

#[test]
fn debug_shows_the_state() {
    let cb = Callback::<u8>::new();
    cb.add(|_| {});
    assert_eq!(
        format!("{cb:?}"),
        "Callback { state: pending, handlers: 1, waiters: 0 }"
    );
    cb.resolve(1).unwrap();
    assert_eq!(format!("{cb:?}"), "Callback { state: resolved }");
}

#[test]
fn resolve_from_another_thread_wakes_a_blocked_task() {
    for _ in 0..20 {
        let cb = Callback::new();
        let resolver = {
            let cb = cb.clone();
            thread::spawn(move || cb.resolve(String::from("from afar")).unwrap())
        };
        let got = futures_lite::future::block_on(cb.clone());
        assert_eq!(got, "from afar");
        resolver.join().unwrap();
    }
}

#[test]
fn many_threads_wait_one_resolves() {
    let cb = Callback::new();
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let cb = cb.clone();
            thread::spawn(move || futures_lite::future::block_on(cb))
        })
        .collect();
    cb.resolve(42u64).unwrap();
    for w in waiters {
        assert_eq!(w.join().unwrap(), 42);
    }
}

#[test]
fn waiters_are_woken_once_and_dropped_waiters_are_not() {
    let cb = Callback::new();
    let (waker_a, count_a) = counting_waker();
    let (waker_b, count_b) = counting_waker();
    let mut a = cb.clone();
    let mut b = cb.clone();
    assert!(poll_with(&mut a, &waker_a).is_pending());
    assert!(poll_with(&mut a, &waker_a).is_pending());
    assert!(poll_with(&mut b, &waker_b).is_pending());
    drop(b);
    cb.resolve(1u8).unwrap();
    assert_eq!(count_a.count(), 1);
    assert_eq!(count_b.count(), 0);
    assert_eq!(poll_with(&mut a, &waker_a), std::task::Poll::Ready(1));
}

#[test]
fn a_panicking_handler_still_leaves_the_callback_resolved() {
    let cb = Callback::new();
    let (waker, count) = counting_waker();
    let mut waiter = cb.clone();
    assert!(poll_with(&mut waiter, &waker).is_pending());
    cb.add(|_: &u8| panic!("handler failed"));
    let resolver = cb.clone();
    let outcome = thread::spawn(move || resolver.resolve(3)).join();
    assert!(outcome.is_err(), "the panic reaches the resolver");
    assert_eq!(count.count(), 1);
    assert_eq!(cb.result(), Some(3));
    assert_eq!(poll_with(&mut waiter, &waker), std::task::Poll::Ready(3));
}
