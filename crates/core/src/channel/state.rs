//! The state behind a [`Channel`](super::Channel) and the rules that move
//! values through it.
//!
//! # Where values are
//!
//! A value in the channel is in exactly one place: in `buf` (sent, waiting for
//! a receiver), or in the slot of a waiting sender (its send is still
//! pending). A value only moves in the poll of the future that completes by
//! moving it:
//!
//! - with a buffer (`cap > 0`), a waiting sender moves its own value into
//!   `buf` when its turn comes and there is room, and returns `Ready`; a
//!   receiver only takes from `buf`;
//! - with no buffer (`cap == 0`, the rendezvous), a receiver takes the value
//!   straight from the first waiting sender's slot and returns it; that send
//!   is complete, and its future returns `Ready(Ok)` at its next poll;
//! - nothing is ever pushed into a receiver, which may be gone by then.
//!
//! That is what makes both futures cancellation safe: a dropped send removes
//! its slot and the value with it (unless a receiver has already returned
//! the value), and a dropped receive held no value, so nothing is lost or
//! duplicated.
//!
//! Channel order is `buf` front to back, then the waiting senders in the order
//! they started.
//!
//! # Who is woken
//!
//! Receivers wait in a FIFO and are served in turn: only the first waiting
//! receiver may take a value. Invariant: whenever a value is available and a
//! receiver waits, the first waiting receiver has been woken (or is running).
//! So a send that makes a value available wakes the first receiver, and a
//! receiver that leaves the queue (served, failed or dropped) wakes the next
//! one if something is left for it.
//!
//! Buffered senders take turns the same way. Invariant: whenever `buf` has
//! room and a sender waits, the first waiting sender has been woken. So a
//! receive that frees room wakes the first sender, and a sender that leaves
//! the queue wakes the next one if room is left. A rendezvous sender is woken
//! when its value is taken. Closing wakes everyone.

use std::collections::VecDeque;
use std::task::{Poll, Waker};

use super::error::{RecvError, SendError, TryRecvError, TrySendError};
use crate::wait_list::{store_waker, WaitList};

/// Up to two wakers to wake once the lock is released.
#[derive(Default)]
pub(super) struct ToWake {
    first: Option<Waker>,
    second: Option<Waker>,
}

impl ToWake {
    fn push(&mut self, waker: Option<Waker>) {
        let Some(waker) = waker else { return };
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            debug_assert!(self.second.is_none(), "more than two wakers to wake");
            self.second = Some(waker);
        }
    }

    /// Wakes the collected tasks. Call it after unlocking the state.
    pub(super) fn wake(self) {
        if let Some(waker) = self.first {
            waker.wake();
        }
        if let Some(waker) = self.second {
            waker.wake();
        }
    }
}

/// How the first poll of a send went.
pub(super) enum SendStart<T> {
    /// Done at once: buffered, or failed because the channel is closed.
    Done(Result<(), SendError<T>>),
    /// Waiting in the senders' queue under this key.
    Waiting(usize),
}

/// Everything behind a channel's lock.
pub(super) struct State<T> {
    /// Sent values not yet received. At most `cap` long, except on a
    /// rendezvous channel, where it holds the values `try_send` gave to
    /// waiting receivers (see there).
    buf: VecDeque<T>,
    cap: usize,
    closed: bool,
    /// Waiting senders with their value, first come first served. A
    /// rendezvous sender whose value was taken is unlinked (its payload is
    /// `None`) and frees its slot when it next polls.
    senders: WaitList<Option<T>>,
    /// Waiting receivers, first come first served.
    receivers: WaitList<()>,
}

impl<T> State<T> {
    pub(super) fn new(cap: usize) -> Self {
        Self {
            // Room for the steady state up front, within reason; more is
            // allocated once if a big buffer really fills up.
            buf: VecDeque::with_capacity(cap.min(64)),
            cap,
            closed: false,
            senders: WaitList::new(),
            receivers: WaitList::new(),
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.cap
    }

    pub(super) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(super) fn waiting_senders(&self) -> usize {
        self.senders.len()
    }

    pub(super) fn waiting_receivers(&self) -> usize {
        self.receivers.len()
    }

    /// Whether a receiver could take a value now.
    fn available(&self) -> bool {
        !self.buf.is_empty() || (self.cap == 0 && !self.closed && !self.senders.is_empty())
    }

    /// Takes the next value in channel order.
    fn take(&mut self, wake: &mut ToWake) -> Option<T> {
        if let Some(value) = self.buf.pop_front() {
            if self.buf.len() < self.cap {
                // Room: the first waiting sender may move its value in.
                wake.push(self.senders.take_front_waker());
            }
            return Some(value);
        }
        if self.cap > 0 || self.closed {
            // A buffered sender's value is not sent until it moves it in, and
            // senders still waiting at close get their value back instead.
            return None;
        }
        // Rendezvous: take the value of the first waiting sender and wake it,
        // its send is complete.
        let key = self.senders.pop_front()?;
        let node = self.senders.node_mut(key);
        let value = node
            .payload
            .take()
            .expect("a queued sender holds its value");
        wake.push(node.waker.take());
        Some(value)
    }

    pub(super) fn try_send(&mut self, value: T, wake: &mut ToWake) -> Result<(), TrySendError<T>> {
        if self.closed {
            return Err(TrySendError::Closed(value));
        }
        // Never jump the queue of waiting senders. A rendezvous channel has no
        // room, but holds a value for each receiver that is waiting with
        // nothing to take: that is how it accepts `try_send`.
        let room =
            self.buf.len() < self.cap || (self.cap == 0 && self.buf.len() < self.receivers.len());
        if self.senders.is_empty() && room {
            self.buf.push_back(value);
            wake.push(self.receivers.take_front_waker());
            Ok(())
        } else {
            Err(TrySendError::Full(value))
        }
    }

    /// The first poll of a send.
    pub(super) fn start_send(
        &mut self,
        value: T,
        waker: &Waker,
        wake: &mut ToWake,
    ) -> SendStart<T> {
        if self.closed {
            return SendStart::Done(Err(SendError(value)));
        }
        if self.senders.is_empty() && self.buf.len() < self.cap {
            self.buf.push_back(value);
            wake.push(self.receivers.take_front_waker());
            return SendStart::Done(Ok(()));
        }
        let key = self.senders.push_back(Some(value), waker.clone());
        if self.cap == 0 {
            // The value is available to a receiver now.
            wake.push(self.receivers.take_front_waker());
        }
        SendStart::Waiting(key)
    }

    /// A later poll of a send waiting under `key`. When it returns `Ready`,
    /// the key is freed.
    pub(super) fn poll_send(
        &mut self,
        key: usize,
        waker: &Waker,
        wake: &mut ToWake,
    ) -> Poll<Result<(), SendError<T>>> {
        let node = self.senders.node_mut(key);
        if node.payload.is_none() {
            // A receiver took the value (rendezvous).
            self.senders.remove(key);
            return Poll::Ready(Ok(()));
        }
        if self.closed {
            let value = self.senders.remove(key).expect("checked above");
            return Poll::Ready(Err(SendError(value)));
        }
        if self.cap > 0 && self.senders.front() == Some(key) && self.buf.len() < self.cap {
            let value = self.senders.remove(key).expect("checked above");
            self.buf.push_back(value);
            wake.push(self.receivers.take_front_waker());
            if self.buf.len() < self.cap {
                wake.push(self.senders.take_front_waker());
            }
            return Poll::Ready(Ok(()));
        }
        store_waker(&mut self.senders.node_mut(key).waker, waker);
        Poll::Pending
    }

    /// A waiting send is dropped: frees `key` and returns its value unless a
    /// receiver took it. The caller drops it outside the lock.
    pub(super) fn cancel_send(&mut self, key: usize, wake: &mut ToWake) -> Option<T> {
        let was_first = self.senders.front() == Some(key);
        let value = self.senders.remove(key);
        if was_first && self.buf.len() < self.cap {
            // It may have been woken for this room: pass the turn on.
            wake.push(self.senders.take_front_waker());
        }
        value
    }

    pub(super) fn try_recv(&mut self, wake: &mut ToWake) -> Result<T, TryRecvError> {
        // A waiting receiver may have been woken for this value; it will find
        // nothing and wait again, keeping its place.
        match self.take(wake) {
            Some(value) => Ok(value),
            None if self.closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// A poll of a receive; `key` is its place in the receivers' queue, if it
    /// has one. On `Ready` the place is given up.
    pub(super) fn poll_recv(
        &mut self,
        key: &mut Option<usize>,
        waker: &Waker,
        wake: &mut ToWake,
    ) -> Poll<Result<T, RecvError>> {
        let my_turn = match *key {
            None => self.receivers.is_empty(),
            Some(k) => self.receivers.front() == Some(k),
        };
        if my_turn {
            if let Some(value) = self.take(wake) {
                self.leave(key, wake);
                return Poll::Ready(Ok(value));
            }
        }
        if self.closed && self.buf.is_empty() {
            self.leave(key, wake);
            return Poll::Ready(Err(RecvError));
        }
        match *key {
            Some(k) => store_waker(&mut self.receivers.node_mut(k).waker, waker),
            None => *key = Some(self.receivers.push_back((), waker.clone())),
        }
        Poll::Pending
    }

    /// A receiver gives up its place (served, failed, or dropped). If it was
    /// first in line, the next receiver is woken when there is something for
    /// it: a value, or the news that the channel is closed.
    pub(super) fn leave(&mut self, key: &mut Option<usize>, wake: &mut ToWake) {
        let Some(k) = key.take() else { return };
        let was_first = self.receivers.front() == Some(k);
        self.receivers.remove(k);
        if was_first && (self.closed || self.available()) {
            wake.push(self.receivers.take_front_waker());
        }
    }

    /// Closes the channel and collects every waiting task's waker. Returns
    /// whether this call closed it.
    pub(super) fn close(&mut self, wakers: &mut Vec<Waker>) -> bool {
        if self.closed {
            return false;
        }
        self.closed = true;
        self.receivers.take_all_wakers(wakers);
        self.senders.take_all_wakers(wakers);
        true
    }
}
