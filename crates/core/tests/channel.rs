//! Channel: throughput in every buffer size, rendezvous, close, try_*,
//! cancellation and threads.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::task::Poll;
use std::thread;

use common::{counting_waker, poll_once, poll_with, Executor, Tracked};
use futures_lite::future::block_on;
use futures_lite::StreamExt;
use monocle_core::{Channel, RecvError, SendError, TryRecvError, TrySendError};

const N: usize = 10_000;

#[test]
fn one_way_every_bufsize() {
    for bufsize in 0..=9 {
        let ex = Executor::new();
        let ch = Channel::new(bufsize);
        let tx = ch.clone();
        let producer = ex.spawn(async move {
            for i in 0..N {
                tx.send(i).await.unwrap();
                assert!(tx.len() <= bufsize, "buffer over capacity");
            }
        });
        let rx = ch.clone();
        let consumer = ex.spawn(async move {
            for i in 0..N {
                assert_eq!(rx.recv().await, Ok(i), "bufsize {bufsize}");
            }
        });
        ex.run_until_idle();
        assert!(
            producer.is_finished() && consumer.is_finished(),
            "bufsize {bufsize}"
        );
        assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
    }
}

#[test]
fn two_ways_echo_every_bufsize() {
    for bufsize in 0..=9 {
        let ex = Executor::new();
        let (there, back) = (Channel::new(bufsize), Channel::new(bufsize));
        let (t, b) = (there.clone(), back.clone());
        let echo = ex.spawn(async move {
            while let Ok(v) = t.recv().await {
                b.send(v).await.unwrap();
            }
        });
        let (t, b) = (there.clone(), back.clone());
        let client = ex.spawn(async move {
            for i in 0..N {
                t.send(i).await.unwrap();
                assert_eq!(b.recv().await, Ok(i));
            }
            t.close();
        });
        ex.run_until_idle();
        assert!(
            client.is_finished() && echo.is_finished(),
            "bufsize {bufsize}"
        );
    }
}

#[test]
fn two_ways_at_once_every_bufsize() {
    // Each side sends N values to the other while receiving N from it.
    for bufsize in 0..=9 {
        let ex = Executor::new();
        let (ab, ba) = (Channel::new(bufsize), Channel::new(bufsize));
        let mut handles = Vec::new();
        for (tx, rx) in [(ab.clone(), ba.clone()), (ba.clone(), ab.clone())] {
            handles.push(ex.spawn(async move {
                for i in 0..N {
                    tx.send(i).await.unwrap();
                }
            }));
            handles.push(ex.spawn(async move {
                for i in 0..N {
                    assert_eq!(rx.recv().await, Ok(i));
                }
            }));
        }
        ex.run_until_idle();
        assert!(handles.iter().all(|h| h.is_finished()), "bufsize {bufsize}");
    }
}

#[test]
fn rendezvous_send_completes_only_when_a_receiver_took_the_value() {
    let ex = Executor::new();
    let ch = Channel::new(0);
    let sent = Rc::new(Cell::new(false));
    let (tx, flag) = (ch.clone(), sent.clone());
    ex.spawn(async move {
        tx.send("v").await.unwrap();
        flag.set(true);
    });
    ex.run_until_idle();
    assert!(
        !sent.get(),
        "a rendezvous send completed with nobody receiving"
    );
    assert_eq!(ch.len(), 0);
    let rx = ch.clone();
    let got = ex.spawn(async move { rx.recv().await });
    ex.run_until_idle();
    assert!(sent.get());
    assert_eq!(got.output(), Ok("v"));
}

#[test]
fn rendezvous_step_by_step() {
    let ch = Channel::new(0);
    let (waker, sender_wakes) = counting_waker();
    let mut send = ch.send(1);
    assert!(poll_with(&mut send, &waker).is_pending());
    assert!(
        poll_with(&mut send, &waker).is_pending(),
        "still nobody took it"
    );
    let mut recv = ch.recv();
    assert_eq!(poll_once(&mut recv), Poll::Ready(Ok(1)));
    assert_eq!(sender_wakes.count(), 1, "taking the value wakes its sender");
    assert_eq!(poll_with(&mut send, &waker), Poll::Ready(Ok(())));
}

#[test]
fn buffered_send_waits_for_room() {
    let ch = Channel::new(2);
    assert_eq!(poll_once(&mut ch.send(1)), Poll::Ready(Ok(())));
    assert_eq!(poll_once(&mut ch.send(2)), Poll::Ready(Ok(())));
    let (waker, wakes) = counting_waker();
    let mut third = ch.send(3);
    assert!(poll_with(&mut third, &waker).is_pending());
    assert_eq!(ch.len(), 2);
    assert_eq!(ch.try_recv(), Ok(1));
    // Room: the waiting sender is woken and moves its value in when it runs.
    assert_eq!(wakes.count(), 1);
    assert_eq!(ch.len(), 1);
    assert_eq!(poll_with(&mut third, &waker), Poll::Ready(Ok(())));
    assert_eq!(ch.len(), 2);
    assert_eq!(ch.try_recv(), Ok(2));
    assert_eq!(ch.try_recv(), Ok(3));
}

#[test]
fn waiting_senders_are_served_in_order_and_not_overtaken() {
    let ch = Channel::new(1);
    ch.try_send(0).unwrap();
    let (wa, wakes_a) = counting_waker();
    let (wb, wakes_b) = counting_waker();
    let mut a = ch.send(1);
    let mut b = ch.send(2);
    assert!(poll_with(&mut a, &wa).is_pending());
    assert!(poll_with(&mut b, &wb).is_pending());
    assert_eq!(
        ch.try_send(9),
        Err(TrySendError::Full(9)),
        "try_send must not jump the queue"
    );
    assert_eq!(ch.try_recv(), Ok(0));
    assert_eq!(
        (wakes_a.count(), wakes_b.count()),
        (1, 0),
        "only the first sender is woken"
    );
    assert!(
        poll_with(&mut b, &wb).is_pending(),
        "b must not take a's room"
    );
    assert_eq!(
        ch.try_send(9),
        Err(TrySendError::Full(9)),
        "the room is a's"
    );
    assert_eq!(poll_with(&mut a, &wa), Poll::Ready(Ok(())));
    assert!(poll_with(&mut b, &wb).is_pending());
    assert_eq!(ch.try_recv(), Ok(1));
    assert_eq!(wakes_b.count(), 1);
    assert_eq!(poll_with(&mut b, &wb), Poll::Ready(Ok(())));
    assert_eq!(ch.try_recv(), Ok(2));
}

#[test]
fn a_dropped_woken_send_passes_its_turn_on() {
    let ch = Channel::new(1);
    ch.try_send(0).unwrap();
    let (wb, wakes_b) = counting_waker();
    let mut a = ch.send(1);
    let mut b = ch.send(2);
    assert!(poll_once(&mut a).is_pending());
    assert!(poll_with(&mut b, &wb).is_pending());
    assert_eq!(ch.try_recv(), Ok(0));
    drop(a);
    assert_eq!(wakes_b.count(), 1, "the next sender gets the room");
    assert_eq!(poll_with(&mut b, &wb), Poll::Ready(Ok(())));
    assert_eq!(ch.try_recv(), Ok(2));
    assert!(ch.try_recv().unwrap_err().is_empty());
}

#[test]
fn try_send_and_try_recv() {
    let ch = Channel::new(1);
    assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
    ch.try_send('a').unwrap();
    let err = ch.try_send('b').unwrap_err();
    assert!(err.is_full());
    assert_eq!(err.to_string(), "sending on a full channel");
    assert_eq!(err.into_inner(), 'b');
    assert_eq!(ch.try_recv(), Ok('a'));

    // Rendezvous: try_send needs a waiting receiver, try_recv a waiting sender.
    let rv = Channel::new(0);
    assert!(rv.try_send(1).unwrap_err().is_full());
    let mut waiting = rv.recv();
    assert!(poll_once(&mut waiting).is_pending());
    rv.try_send(2).unwrap();
    assert!(
        rv.try_send(3).unwrap_err().is_full(),
        "one waiting receiver takes one value"
    );
    assert_eq!(poll_once(&mut waiting), Poll::Ready(Ok(2)));
    let mut sender = rv.send(4);
    assert!(poll_once(&mut sender).is_pending());
    assert_eq!(rv.try_recv(), Ok(4));
    assert_eq!(poll_once(&mut sender), Poll::Ready(Ok(())));
}

#[test]
fn receivers_are_served_in_order() {
    let ch = Channel::new(0);
    let mut r: Vec<_> = (0..3).map(|_| ch.recv()).collect();
    for f in &mut r {
        assert!(poll_once(f).is_pending());
    }
    let mut s: Vec<_> = (10..13).map(|v| ch.send(v)).collect();
    for f in &mut s {
        assert!(poll_once(f).is_pending());
    }
    // Even polled last-first, each receiver gets its turn's value.
    assert!(poll_once(&mut r[2]).is_pending());
    assert!(poll_once(&mut r[1]).is_pending());
    assert_eq!(poll_once(&mut r[0]), Poll::Ready(Ok(10)));
    assert!(poll_once(&mut r[2]).is_pending());
    assert_eq!(poll_once(&mut r[1]), Poll::Ready(Ok(11)));
    assert_eq!(poll_once(&mut r[2]), Poll::Ready(Ok(12)));
    for f in &mut s {
        assert_eq!(poll_once(f), Poll::Ready(Ok(())));
    }
}

#[test]
fn a_new_receiver_does_not_overtake_a_woken_one() {
    let ch = Channel::new(0);
    let (waker, wakes) = counting_waker();
    let mut first = ch.recv();
    assert!(poll_with(&mut first, &waker).is_pending());
    let mut send = ch.send(5);
    assert!(poll_once(&mut send).is_pending());
    assert_eq!(wakes.count(), 1, "the waiting receiver is woken");
    let mut late = ch.recv();
    assert!(
        poll_once(&mut late).is_pending(),
        "the late receiver waits its turn"
    );
    assert_eq!(poll_with(&mut first, &waker), Poll::Ready(Ok(5)));
}

// ---- close ----

#[test]
fn recv_on_a_closed_drained_channel_errors_at_once() {
    for bufsize in [0, 1, 5] {
        let ch = Channel::<u8>::new(bufsize);
        ch.close();
        assert_eq!(poll_once(&mut ch.recv()), Poll::Ready(Err(RecvError)));
        assert_eq!(ch.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(block_on(ch.recv()), Err(RecvError));
    }
}

#[test]
fn buffered_values_drain_before_the_error() {
    let ch = Channel::new(3);
    ch.try_send(1).unwrap();
    ch.try_send(2).unwrap();
    assert!(ch.close());
    assert!(!ch.close());
    assert!(ch.is_closed());
    assert_eq!(block_on(ch.recv()), Ok(1));
    assert_eq!(ch.try_recv(), Ok(2));
    assert_eq!(block_on(ch.recv()), Err(RecvError));
}

#[test]
fn send_after_close_fails_with_the_value() {
    for bufsize in [0, 1, 4] {
        let ch = Channel::new(bufsize);
        ch.close();
        assert_eq!(
            block_on(ch.send(String::from("x"))),
            Err(SendError(String::from("x")))
        );
        assert_eq!(
            ch.try_send(7.to_string()),
            Err(TrySendError::Closed(String::from("7")))
        );
        assert_eq!(ch.len(), 0);
    }
}

#[test]
fn close_wakes_blocked_receivers() {
    let ex = Executor::new();
    let ch = Channel::<u32>::new(2);
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let ch = ch.clone();
            ex.spawn(async move { ch.recv().await })
        })
        .collect();
    ex.run_until_idle();
    assert!(handles.iter().all(|h| !h.is_finished()));
    ch.close();
    ex.run_until_idle();
    for h in handles {
        assert_eq!(h.output(), Err(RecvError));
    }
}

#[test]
fn close_wakes_blocked_senders_and_gives_their_values_back() {
    for bufsize in [0, 1, 3] {
        let ex = Executor::new();
        let ch = Channel::new(bufsize);
        for i in 0..bufsize {
            ch.try_send(i).unwrap();
        }
        let handles: Vec<_> = (100..103)
            .map(|v| {
                let ch = ch.clone();
                ex.spawn(async move { ch.send(v).await })
            })
            .collect();
        ex.run_until_idle();
        assert!(
            handles.iter().all(|h| !h.is_finished()),
            "bufsize {bufsize}"
        );
        ch.close();
        ex.run_until_idle();
        for (h, v) in handles.into_iter().zip(100..) {
            assert_eq!(h.output(), Err(SendError(v)));
        }
        // Buffered values still drain; the waiting senders' values do not come.
        for i in 0..bufsize {
            assert_eq!(ch.try_recv(), Ok(i));
        }
        assert_eq!(ch.try_recv(), Err(TryRecvError::Closed));
    }
}

#[test]
fn receivers_waiting_behind_others_drain_then_fail() {
    // Closed with one buffered value and three waiting receivers: one value,
    // then two errors, and nobody hangs.
    let ex = Executor::new();
    let ch = Channel::new(1);
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let ch = ch.clone();
            ex.spawn(async move { ch.recv().await })
        })
        .collect();
    ex.run_until_idle();
    let mut blocked = ch.send(1);
    assert_eq!(poll_once(&mut blocked), Poll::Ready(Ok(())));
    ch.close();
    ex.run_until_idle();
    let results: Vec<_> = handles.iter().map(|h| h.output()).collect();
    assert_eq!(results, [Ok(1), Err(RecvError), Err(RecvError)]);
}

// ---- cancellation ----

#[test]
fn a_dropped_pending_send_is_never_delivered() {
    for bufsize in [0, 1, 3] {
        let drops = Rc::new(RefCell::new(Vec::new()));
        let ch = Channel::new(bufsize);
        for i in 0..bufsize {
            ch.try_send(Tracked::new(i, &drops)).unwrap();
        }
        let mut send = ch.send(Tracked::new(100, &drops));
        assert!(poll_once(&mut send).is_pending());
        drop(send);
        assert_eq!(
            *drops.borrow(),
            [100],
            "the cancelled value is dropped, once"
        );
        for i in 0..bufsize {
            assert_eq!(ch.try_recv().unwrap().value, i);
        }
        assert!(ch.try_recv().unwrap_err().is_empty());
        block_on(async {
            let (_, got) =
                futures_lite::future::zip(ch.send(Tracked::new(200, &drops)), ch.recv()).await;
            assert_eq!(got.unwrap().value, 200);
        });
    }
}

#[test]
fn a_dropped_send_whose_receiver_was_woken_is_not_delivered() {
    let ch = Channel::new(0);
    let (waker, wakes) = counting_waker();
    let mut recv = ch.recv();
    assert!(poll_with(&mut recv, &waker).is_pending());
    let mut send = ch.send(1);
    assert!(poll_once(&mut send).is_pending());
    assert_eq!(wakes.count(), 1);
    drop(send);
    assert!(
        poll_with(&mut recv, &waker).is_pending(),
        "the cancelled value is gone"
    );
    let mut next = ch.send(2);
    assert!(poll_once(&mut next).is_pending());
    assert_eq!(poll_with(&mut recv, &waker), Poll::Ready(Ok(2)));
    assert_eq!(poll_once(&mut next), Poll::Ready(Ok(())));
}

#[test]
fn a_dropped_send_that_was_already_taken_was_delivered_once() {
    let ch = Channel::new(0);
    let mut send = ch.send(1);
    assert!(poll_once(&mut send).is_pending());
    assert_eq!(ch.try_recv(), Ok(1));
    drop(send);
    assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn a_dropped_woken_recv_passes_its_turn_on() {
    for bufsize in [0, 1, 3] {
        let ch = Channel::new(bufsize);
        let (w1, wakes1) = counting_waker();
        let (w2, wakes2) = counting_waker();
        let mut r1 = ch.recv();
        let mut r2 = ch.recv();
        assert!(poll_with(&mut r1, &w1).is_pending());
        assert!(poll_with(&mut r2, &w2).is_pending());
        let mut send = ch.send(7);
        let sent_at_once = poll_once(&mut send).is_ready();
        assert_eq!(sent_at_once, bufsize > 0);
        assert_eq!(
            (wakes1.count(), wakes2.count()),
            (1, 0),
            "only the first receiver is woken"
        );
        drop(r1);
        assert_eq!(wakes2.count(), 1, "the next receiver gets the turn");
        assert_eq!(poll_with(&mut r2, &w2), Poll::Ready(Ok(7)));
        if !sent_at_once {
            assert_eq!(poll_once(&mut send), Poll::Ready(Ok(())));
        }
    }
}

#[test]
fn a_dropped_recv_after_try_send_leaves_the_value_for_the_next() {
    let ch = Channel::new(0);
    let mut r = ch.recv();
    assert!(poll_once(&mut r).is_pending());
    ch.try_send(1).unwrap();
    drop(r);
    assert_eq!(ch.try_recv(), Ok(1));
}

/// A small deterministic PRNG (xorshift), so the stress test is repeatable.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn random_cancellations_never_lose_or_duplicate_a_value() {
    let mut totals = [0usize; 3];
    for seed in 1..=40u64 {
        let bufsize = (seed % 4) as usize;
        let ch = Channel::new(bufsize);
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut sends = Vec::new();
        let mut recvs = Vec::new();
        let mut received: Vec<usize> = Vec::new();
        let mut completed_ok = HashSet::new();
        let mut returned = HashSet::new();
        let mut cancelled = HashSet::new();
        let mut next = 0;
        let got = |v: usize, received: &mut Vec<usize>, cancelled: &HashSet<usize>| {
            assert!(
                !cancelled.contains(&v),
                "seed {seed}: value {v} arrived after its send was dropped"
            );
            received.push(v);
        };
        for _ in 0..400 {
            match rng.below(6) {
                0 => {
                    let mut f = ch.send(next);
                    match poll_once(&mut f) {
                        Poll::Ready(r) => {
                            r.unwrap();
                            completed_ok.insert(next);
                        }
                        Poll::Pending => sends.push((next, f)),
                    }
                    next += 1;
                }
                1 => {
                    let mut f = ch.recv();
                    match poll_once(&mut f) {
                        Poll::Ready(r) => got(r.unwrap(), &mut received, &cancelled),
                        Poll::Pending => recvs.push(f),
                    }
                }
                2 if !sends.is_empty() => {
                    let i = rng.below(sends.len());
                    let (v, mut f) = sends.swap_remove(i);
                    match poll_once(&mut f) {
                        Poll::Ready(r) => {
                            r.unwrap();
                            completed_ok.insert(v);
                        }
                        Poll::Pending => sends.push((v, f)),
                    }
                }
                3 if !recvs.is_empty() => {
                    let i = rng.below(recvs.len());
                    let mut f = recvs.swap_remove(i);
                    match poll_once(&mut f) {
                        Poll::Ready(r) => got(r.unwrap(), &mut received, &cancelled),
                        Poll::Pending => recvs.push(f),
                    }
                }
                4 if !sends.is_empty() => {
                    let (v, f) = sends.swap_remove(rng.below(sends.len()));
                    if !received.contains(&v) {
                        cancelled.insert(v);
                    }
                    drop(f);
                }
                5 if !recvs.is_empty() => drop(recvs.swap_remove(rng.below(recvs.len()))),
                _ => {}
            }
        }
        ch.close();
        for (v, mut f) in sends {
            match poll_once(&mut f) {
                Poll::Ready(Ok(())) => {
                    completed_ok.insert(v);
                }
                Poll::Ready(Err(SendError(back))) => {
                    assert_eq!(back, v);
                    returned.insert(v);
                }
                Poll::Pending => panic!("seed {seed}: a send still pending after close"),
            }
        }
        // Receivers waiting behind others get their turn one after the other.
        for _ in 0..=recvs.len() {
            recvs.retain_mut(|f| match poll_once(f) {
                Poll::Ready(Ok(v)) => {
                    got(v, &mut received, &cancelled);
                    false
                }
                Poll::Ready(Err(RecvError)) => false,
                Poll::Pending => true,
            });
        }
        assert!(
            recvs.is_empty(),
            "seed {seed}: a recv still pending after close"
        );
        while let Ok(v) = ch.try_recv() {
            got(v, &mut received, &cancelled);
        }
        // Channel order is send order, cancelled values skipped.
        assert!(
            received.windows(2).all(|w| w[0] < w[1]),
            "seed {seed}: out of order {received:?}"
        );
        let received_set: HashSet<usize> = received.iter().copied().collect();
        for v in 0..next {
            let places = [
                received_set.contains(&v),
                returned.contains(&v),
                cancelled.contains(&v),
            ];
            assert_eq!(
                places.iter().filter(|p| **p).count(),
                1,
                "seed {seed}: value {v} in {places:?}"
            );
            if completed_ok.contains(&v) {
                assert!(
                    received_set.contains(&v),
                    "seed {seed}: sent value {v} was lost"
                );
            }
        }
        totals[0] += received.len();
        totals[1] += returned.len();
        totals[2] += cancelled.len();
    }
    // The run went through every outcome.
    assert!(totals.iter().all(|&n| n > 0), "{totals:?}");
}

// ---- stream ----

#[test]
fn stream_yields_values_until_closed() {
    let ex = Executor::new();
    let ch = Channel::new(0);
    let stream = ch.stream();
    assert_eq!(stream.channel().capacity(), 0);
    let consumer = ex.spawn(stream.collect::<Vec<u32>>());
    let tx = ch.clone();
    ex.spawn(async move {
        for i in 0..100 {
            tx.send(i).await.unwrap();
        }
        tx.close();
    });
    ex.run_until_idle();
    assert_eq!(consumer.output(), (0..100).collect::<Vec<_>>());
}

// ---- threads ----

#[test]
fn four_threads_send_one_receiver_gets_all_exactly_once() {
    const PER_THREAD: usize = 10_000;
    for bufsize in [0, 1, 16] {
        let ch = Channel::new(bufsize);
        let senders: Vec<_> = (0..4)
            .map(|t| {
                let ch = ch.clone();
                thread::spawn(move || {
                    block_on(async {
                        for i in 0..PER_THREAD {
                            ch.send((t, i)).await.unwrap();
                        }
                    })
                })
            })
            .collect();
        let mut next = [0; 4];
        block_on(async {
            for _ in 0..4 * PER_THREAD {
                let (t, i) = ch.recv().await.unwrap();
                assert_eq!(
                    i, next[t],
                    "thread {t}'s values out of order (bufsize {bufsize})"
                );
                next[t] += 1;
            }
        });
        for s in senders {
            s.join().unwrap();
        }
        assert_eq!(next, [PER_THREAD; 4]);
        assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
    }
}

#[test]
fn many_threads_send_and_receive() {
    const PER_THREAD: usize = 5_000;
    for bufsize in [0, 4] {
        let ch = Channel::new(bufsize);
        let senders: Vec<_> = (0..3)
            .map(|t| {
                let ch = ch.clone();
                thread::spawn(move || {
                    block_on(async {
                        for i in 0..PER_THREAD {
                            ch.send(t * PER_THREAD + i).await.unwrap();
                        }
                    })
                })
            })
            .collect();
        let receivers: Vec<_> = (0..3)
            .map(|_| {
                let ch = ch.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Ok(v) = block_on(ch.recv()) {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        ch.close();
        let mut all: Vec<usize> = receivers
            .into_iter()
            .flat_map(|r| r.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..3 * PER_THREAD).collect::<Vec<_>>(),
            "bufsize {bufsize}"
        );
    }
}

#[test]
fn debug_shows_the_state() {
    let ch = Channel::new(2);
    ch.try_send(1).unwrap();
    let mut r = ch.recv();
    assert_eq!(poll_once(&mut r), Poll::Ready(Ok(1)));
    let mut r = ch.recv();
    assert!(poll_once(&mut r).is_pending());
    assert_eq!(
        format!("{ch:?}"),
        "Channel { capacity: 2, len: 0, closed: false, waiting_senders: 0, waiting_receivers: 1 }"
    );
}

#[test]
fn receivers_that_keep_giving_up_across_threads_lose_nothing() {
    // Receivers poll a receive once and drop it if it is not ready, over and
    // over, while senders on other threads wait: no value lost or doubled.
    const PER_THREAD: usize = 1_000;
    for bufsize in [0, 2] {
        let ch = Channel::new(bufsize);
        let senders: Vec<_> = (0..2)
            .map(|t| {
                let ch = ch.clone();
                thread::spawn(move || {
                    for i in 0..PER_THREAD {
                        block_on(ch.send(t * PER_THREAD + i)).unwrap();
                    }
                })
            })
            .collect();
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let ch = ch.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        match poll_once(&mut ch.recv()) {
                            Poll::Ready(Ok(v)) => got.push(v),
                            Poll::Ready(Err(RecvError)) => return got,
                            Poll::Pending => thread::yield_now(),
                        }
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        ch.close();
        let mut all: Vec<usize> = receivers
            .into_iter()
            .flat_map(|r| r.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..2 * PER_THREAD).collect::<Vec<_>>(),
            "bufsize {bufsize}"
        );
    }
}
