//! The futures and the stream returned by [`Channel`]'s methods.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;

use super::error::{RecvError, SendError};
use super::state::{SendStart, ToWake};
use super::Channel;

/// The future of [`Channel::send`]: completes when the value is in the channel
/// (buffered, or, on a rendezvous channel, taken by a receiver).
///
/// Dropping it before it completes takes the value back out of the channel:
/// the value is dropped and no receiver will get it. (On a rendezvous
/// channel a receiver may have taken the value already, completing the send,
/// just before the drop; then that receiver has it and nobody else will.)
#[must_use = "a send does nothing unless awaited"]
pub struct SendFuture<'a, T> {
    channel: &'a Channel<T>,
    state: SendState<T>,
}

enum SendState<T> {
    /// Not polled yet.
    Start(T),
    /// Waiting in the senders' queue.
    Waiting(usize),
    Done,
}

impl<'a, T> SendFuture<'a, T> {
    pub(super) fn new(channel: &'a Channel<T>, value: T) -> Self {
        Self {
            channel,
            state: SendState::Start(value),
        }
    }
}

// The value is never pinned: it is moved into the channel or handed back.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut wake = ToWake::default();
        let mut state = this.channel.lock();
        let poll = match mem::replace(&mut this.state, SendState::Done) {
            SendState::Start(value) => match state.start_send(value, cx.waker(), &mut wake) {
                SendStart::Done(result) => Poll::Ready(result),
                SendStart::Waiting(key) => {
                    this.state = SendState::Waiting(key);
                    Poll::Pending
                }
            },
            SendState::Waiting(key) => {
                let poll = state.poll_send(key, cx.waker(), &mut wake);
                if poll.is_pending() {
                    this.state = SendState::Waiting(key);
                }
                poll
            }
            SendState::Done => {
                drop(state);
                panic!("`SendFuture` polled after completion");
            }
        };
        drop(state);
        wake.wake();
        poll
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if let SendState::Waiting(key) = self.state {
            let mut wake = ToWake::default();
            let value = self.channel.lock().cancel_send(key, &mut wake);
            wake.wake();
            // Dropped here, outside the lock.
            drop(value);
        }
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            SendState::Start(_) => "start",
            SendState::Waiting(_) => "waiting",
            SendState::Done => "done",
        };
        f.debug_struct("SendFuture")
            .field("state", &format_args!("{state}"))
            .finish()
    }
}

/// The future of [`Channel::recv`]: the next value in the channel, or
/// [`RecvError`] once the channel is closed and drained.
///
/// Waiting receivers are served in the order they started waiting. Dropping
/// this future loses no value: a value is only taken out of the channel by the
/// poll that returns it.
#[must_use = "a receive does nothing unless awaited"]
pub struct RecvFuture<'a, T> {
    channel: &'a Channel<T>,
    /// Place in the receivers' queue.
    key: Option<usize>,
    done: bool,
}

impl<'a, T> RecvFuture<'a, T> {
    pub(super) fn new(channel: &'a Channel<T>) -> Self {
        Self {
            channel,
            key: None,
            done: false,
        }
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "`RecvFuture` polled after completion");
        let poll = this.channel.poll_recv(&mut this.key, cx);
        this.done = poll.is_ready();
        poll
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        self.channel.leave(&mut self.key);
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture")
            .field("waiting", &self.key.is_some())
            .field("done", &self.done)
            .finish()
    }
}

/// The values of a [`Channel`] as a [`Stream`]; made by [`Channel::stream`].
///
/// The stream ends when the channel is closed and drained. It owns a handle to
/// the channel, so it can be moved into an o-routine of its own. It takes its
/// turn among the channel's receivers like a [`RecvFuture`] and is just as
/// cancellation safe.
///
/// ```
/// use monocle_core::Channel;
/// use futures_lite::{future::block_on, StreamExt};
///
/// let ch = Channel::new(3);
/// for i in 1..=3 {
///     ch.try_send(i).unwrap();
/// }
/// ch.close();
/// let all: Vec<i32> = block_on(ch.stream().collect());
/// assert_eq!(all, [1, 2, 3]);
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct RecvStream<T> {
    channel: Channel<T>,
    key: Option<usize>,
    ended: bool,
}

impl<T> RecvStream<T> {
    pub(super) fn new(channel: Channel<T>) -> Self {
        Self {
            channel,
            key: None,
            ended: false,
        }
    }

    /// The channel this stream receives from.
    pub fn channel(&self) -> &Channel<T> {
        &self.channel
    }
}

impl<T> Stream for RecvStream<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match this.channel.poll_recv(&mut this.key, cx) {
            Poll::Ready(Ok(value)) => Poll::Ready(Some(value)),
            Poll::Ready(Err(RecvError)) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for RecvStream<T> {
    fn drop(&mut self) {
        self.channel.leave(&mut self.key);
    }
}

impl<T> fmt::Debug for RecvStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvStream")
            .field("channel", &self.channel)
            .field("ended", &self.ended)
            .finish()
    }
}

impl<T> Channel<T> {
    /// Polls a receive holding place `key` in the receivers' queue.
    fn poll_recv(&self, key: &mut Option<usize>, cx: &Context<'_>) -> Poll<Result<T, RecvError>> {
        let mut wake = ToWake::default();
        let poll = self.lock().poll_recv(key, cx.waker(), &mut wake);
        wake.wake();
        poll
    }

    /// Gives up place `key` in the receivers' queue, if held.
    fn leave(&self, key: &mut Option<usize>) {
        if key.is_some() {
            let mut wake = ToWake::default();
            self.lock().leave(key, &mut wake);
            wake.wake();
        }
    }
}
