//! first_of and first_of2: the winner's index and value, losers dropped.

mod common;

use std::cell::Cell;
use std::future::{pending, ready, Future};
use std::rc::Rc;
use std::task::Poll;

use common::{poll_once, Executor};
use futures_lite::future::block_on;
use monocle_core::{defer, first_of, first_of2, Callback, Channel, Winner};

/// Sets its flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

fn never_with_flag(flag: &Rc<Cell<bool>>) -> impl Future<Output = u32> {
    let guard = DropFlag(flag.clone());
    async move {
        let _guard = guard;
        pending::<u32>().await
    }
}

#[test]
fn returns_the_index_and_value_of_the_first_to_complete() {
    let cbs: Vec<Callback<&str>> = (0..4).map(|_| Callback::new()).collect();
    let mut race = first_of(cbs.iter().cloned());
    assert!(poll_once(&mut race).is_pending());
    cbs[2].resolve("two").unwrap();
    assert_eq!(poll_once(&mut race), Poll::Ready((2, "two")));
}

#[test]
fn wakes_when_any_future_completes() {
    let ex = Executor::new();
    let cbs: Vec<Callback<u8>> = (0..3).map(|_| Callback::new()).collect();
    let race = ex.spawn(first_of(cbs.clone()));
    ex.run_until_idle();
    assert!(!race.is_finished());
    cbs[1].resolve(11).unwrap();
    ex.run_until_idle();
    assert_eq!(race.output(), (1, 11));
}

#[test]
fn the_losers_are_dropped_when_the_winner_completes() {
    let flags: Vec<Rc<Cell<bool>>> = (0..3).map(|_| Rc::new(Cell::new(false))).collect();
    let winner = Callback::new();
    let futures: Vec<std::pin::Pin<Box<dyn Future<Output = u32>>>> = vec![
        Box::pin(never_with_flag(&flags[0])),
        Box::pin(never_with_flag(&flags[1])),
        Box::pin(winner.clone()),
        Box::pin(never_with_flag(&flags[2])),
    ];
    let mut race = first_of(futures);
    assert!(poll_once(&mut race).is_pending());
    assert!(flags.iter().all(|f| !f.get()));
    winner.resolve(5).unwrap();
    assert_eq!(poll_once(&mut race), Poll::Ready((2, 5)));
    // Dropped by the winning poll, not later with `race`.
    assert!(flags.iter().all(|f| f.get()));
    drop(race);
}

#[test]
fn ties_go_to_the_lowest_index() {
    assert_eq!(block_on(first_of([defer(1), defer(2), defer(3)])), (0, 1));
    let mut race = first_of([Callback::new(), defer(20), defer(30)]);
    assert_eq!(poll_once(&mut race), Poll::Ready((1, 20)));
}

#[test]
fn async_blocks_that_are_not_unpin_work() {
    let ch = Channel::<u32>::new(1);
    ch.try_send(7).unwrap();
    let got = block_on(first_of([
        Box::pin(async { pending::<Option<u32>>().await })
            as std::pin::Pin<Box<dyn Future<Output = _>>>,
        Box::pin(async { ch.recv().await.ok() }),
    ]));
    assert_eq!(got, (1, Some(7)));
    let (i, v) = block_on(first_of((0..3).map(|i| async move { i * 10 })));
    assert_eq!((i, v), (0, 0));
}

#[test]
fn a_losing_recv_loses_no_value() {
    // first_of over two receives of the same channel: the loser's value stays.
    let ch = Channel::new(2);
    ch.try_send(1).unwrap();
    ch.try_send(2).unwrap();
    assert_eq!(block_on(first_of([ch.recv(), ch.recv()])), (0, Ok(1)));
    assert_eq!(ch.try_recv(), Ok(2));
}

#[test]
#[should_panic(expected = "first_of needs at least one future")]
fn empty_panics() {
    drop(first_of(Vec::<Callback<u8>>::new()));
}

#[test]
#[should_panic(expected = "polled after completion")]
fn polling_after_completion_panics() {
    let mut race = first_of([defer(1)]);
    assert!(poll_once(&mut race).is_ready());
    let _ = poll_once(&mut race);
}

#[test]
fn first_of2_tells_which_won() {
    let a: Callback<u8> = Callback::new();
    let b: Callback<&str> = Callback::new();
    let mut race = first_of2(a.clone(), b.clone());
    assert!(poll_once(&mut race).is_pending());
    b.resolve("b").unwrap();
    let w = match poll_once(&mut race) {
        Poll::Ready(w) => w,
        Poll::Pending => panic!("b was resolved"),
    };
    assert_eq!(w, Winner::Second("b"));
    assert_eq!(w.index(), 1);
    assert_eq!(w.first(), None);
    assert_eq!(block_on(first_of2(ready(1), ready(2))), Winner::First(1));
    assert_eq!(block_on(first_of2(ready(1), ready(2))).into_inner(), 1);
}

#[test]
fn first_of2_drops_the_loser() {
    let flag = Rc::new(Cell::new(false));
    let mut race = first_of2(never_with_flag(&flag), ready("now"));
    assert_eq!(poll_once(&mut race), Poll::Ready(Winner::Second("now")));
    assert!(flag.get());
}

#[test]
fn first_of2_with_a_stop_signal() {
    let ex = Executor::new();
    let ch = Channel::<u32>::new(0);
    let stop = Callback::new();
    let (c, s) = (ch.clone(), stop.clone());
    let worker = ex.spawn(async move {
        let mut got = Vec::new();
        loop {
            match first_of2(s.clone(), c.recv()).await {
                Winner::First(()) => return got,
                Winner::Second(v) => got.push(v.unwrap()),
            }
        }
    });
    let c = ch.clone();
    ex.spawn(async move {
        for i in 0..5 {
            c.send(i).await.unwrap();
        }
    });
    ex.run_until_idle();
    stop.resolve(()).unwrap();
    ex.run_until_idle();
    assert_eq!(worker.output(), [0, 1, 2, 3, 4]);
}
