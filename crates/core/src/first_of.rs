//! [`first_of`] and [`first_of2`]: wait for the first of several futures.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Waits for the first of `futures` to complete and returns its index (its
/// position in the iteration) and its output.
///
/// The other futures are dropped as soon as one completes, which cancels them.
/// Pair it with cancellation-safe futures such as [`Callback`](crate::Callback)
/// and [`Channel`](crate::Channel) operations.
///
/// Each future is boxed once, so futures that are not [`Unpin`] (like `async`
/// blocks) work too.
///
/// # Fairness
///
/// Every poll polls the futures in order, from the first, and stops at the
/// first one that is ready. So when several are ready at the same time, the
/// one with the lowest index wins: put the one that should win ties (a
/// shutdown signal, say) first. A future far down the list is still polled
/// on every wake-up as long as the ones before it are pending.
///
/// # Panics
///
/// `first_of` panics if `futures` is empty, since no future could ever
/// complete. The returned future panics if polled again after it completed.
///
/// # Examples
///
/// ```
/// use monocle_core::{first_of, Callback};
/// use futures_lite::future::block_on;
///
/// let callbacks: Vec<Callback<&str>> = (0..3).map(|_| Callback::new()).collect();
/// callbacks[2].resolve("third").unwrap();
/// let (index, value) = block_on(first_of(callbacks.iter().cloned()));
/// assert_eq!((index, value), (2, "third"));
/// ```
#[track_caller]
pub fn first_of<I>(futures: I) -> FirstOf<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let futures: Vec<Pin<Box<I::Item>>> = futures.into_iter().map(Box::pin).collect();
    assert!(!futures.is_empty(), "first_of needs at least one future");
    FirstOf { futures }
}

/// The future of [`first_of`]; its output is `(index, output)` of the first
/// future to complete.
#[must_use = "futures do nothing unless awaited"]
pub struct FirstOf<F> {
    /// Emptied (dropping the losers) once one completes.
    futures: Vec<Pin<Box<F>>>,
}

impl<F: Future> Future for FirstOf<F> {
    type Output = (usize, F::Output);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(
            !self.futures.is_empty(),
            "`FirstOf` polled after completion"
        );
        for (index, future) in self.futures.iter_mut().enumerate() {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                self.futures.clear();
                return Poll::Ready((index, output));
            }
        }
        Poll::Pending
    }
}

impl<F> fmt::Debug for FirstOf<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FirstOf")
            .field("pending", &self.futures.len())
            .finish()
    }
}

/// Which of the two futures of [`first_of2`] completed first, with its output.
///
/// ```
/// use monocle_core::Winner;
///
/// let w: Winner<u8, &str> = Winner::Second("late");
/// assert_eq!(w.index(), 1);
/// assert_eq!(w.second(), Some("late"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Winner<A, B> {
    /// The first future completed first.
    First(A),
    /// The second future completed first.
    Second(B),
}

impl<A, B> Winner<A, B> {
    /// `0` for [`First`](Winner::First), `1` for [`Second`](Winner::Second),
    /// as [`first_of`] would number them.
    pub fn index(&self) -> usize {
        match self {
            Self::First(_) => 0,
            Self::Second(_) => 1,
        }
    }

    /// The first future's output, if it won.
    pub fn first(self) -> Option<A> {
        match self {
            Self::First(a) => Some(a),
            Self::Second(_) => None,
        }
    }

    /// The second future's output, if it won.
    pub fn second(self) -> Option<B> {
        match self {
            Self::First(_) => None,
            Self::Second(b) => Some(b),
        }
    }
}

impl<T> Winner<T, T> {
    /// The output, whichever future won.
    pub fn into_inner(self) -> T {
        match self {
            Self::First(v) | Self::Second(v) => v,
        }
    }
}

/// Waits for the first of two futures of different types; the result says
/// which one won.
///
/// Like [`first_of`]: the first future is polled first and so wins ties, the
/// loser is dropped as soon as the winner completes, each future is boxed
/// once, and the returned future panics if polled after it completed.
///
/// # Examples
///
/// ```
/// use monocle_core::{first_of2, Callback, Channel, Winner};
/// use futures_lite::future::block_on;
///
/// let ch = Channel::<u32>::new(0);
/// let stop = Callback::new();
/// stop.resolve(()).unwrap();
/// // Nothing is sent, so the stop signal wins.
/// let winner = block_on(first_of2(ch.recv(), stop.clone()));
/// assert_eq!(winner, Winner::Second(()));
/// ```
pub fn first_of2<A, B>(first: A, second: B) -> FirstOf2<A, B>
where
    A: Future,
    B: Future,
{
    FirstOf2 {
        futures: Some(Pair {
            first: Box::pin(first),
            second: Box::pin(second),
        }),
    }
}

/// The future of [`first_of2`].
#[must_use = "futures do nothing unless awaited"]
pub struct FirstOf2<A, B> {
    /// Dropped (the loser with it) once one completes.
    futures: Option<Pair<A, B>>,
}

struct Pair<A, B> {
    first: Pin<Box<A>>,
    second: Pin<Box<B>>,
}

impl<A: Future, B: Future> Future for FirstOf2<A, B> {
    type Output = Winner<A::Output, B::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let pair = self
            .futures
            .as_mut()
            .expect("`FirstOf2` polled after completion");
        let winner = if let Poll::Ready(output) = pair.first.as_mut().poll(cx) {
            Winner::First(output)
        } else if let Poll::Ready(output) = pair.second.as_mut().poll(cx) {
            Winner::Second(output)
        } else {
            return Poll::Pending;
        };
        self.futures = None;
        Poll::Ready(winner)
    }
}

impl<A, B> fmt::Debug for FirstOf2<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FirstOf2")
            .field("done", &self.futures.is_none())
            .finish()
    }
}
