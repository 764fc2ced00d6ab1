//! [`Channel`], a Go-style channel whose buffer may be empty (a rendezvous).

mod error;
mod futures;
mod state;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

pub use self::error::{RecvError, SendError, TryRecvError, TrySendError};
pub use self::futures::{RecvFuture, RecvStream, SendFuture};
use self::state::{State, ToWake};

/// A Go-style channel between o-routines, with monocle's semantics.
///
/// `Channel::new(bufsize)` makes a channel that buffers up to `bufsize`
/// values:
///
/// - with `bufsize == 0` the channel is a *rendezvous*: [`send`](Channel::send)
///   completes only once a receiver has taken the value;
/// - with `bufsize > 0`, `send` completes at once while fewer than `bufsize`
///   values are buffered, and otherwise waits for room.
///
/// One `Channel` value is both ends. Cloning it gives another handle to the
/// same channel, and any number of o-routines, on any threads, may send and
/// receive through it. It is [`Send`] and [`Sync`] when `T` is `Send`.
///
/// # Order
///
/// Values are received in the order they were sent: the buffered ones first,
/// then those of the waiting senders in the order those started waiting.
/// Waiting senders and waiting receivers are each served first come, first
/// served. ([`try_recv`](Channel::try_recv) is the one exception: it takes
/// the next value even if receivers are waiting for it.)
///
/// # Closing
///
/// A channel stays open until [`close`](Channel::close) is called; dropping
/// handles does not close it. Once closed:
///
/// - sends fail with the value handed back ([`SendError`]), including the
///   sends that were waiting when it closed: their values are not delivered;
/// - receives still get the values that were buffered before the close, then
///   fail with [`RecvError`];
/// - every waiting o-routine is woken, so nothing waits forever.
///
/// # Cancellation
///
/// Both futures are cancellation safe, so they can be raced (in
/// [`first_of`](crate::first_of), under a timeout) without losing or doubling
/// a value. A value only moves in the poll of the future it completes:
///
/// - dropping a pending [`SendFuture`] takes its value back out: the value is
///   dropped and no receiver will get it. With a buffer, a sender moves its
///   value in itself, in the poll that returns `Ready`. On a rendezvous
///   channel the receiver takes the value, which completes the send; if the
///   send future is dropped after that but before it was polled again, the
///   value was delivered, once, before the drop;
/// - dropping a pending [`RecvFuture`] loses nothing: a value only leaves the
///   channel in the poll that returns it, and the next receiver in line gets
///   its turn.
///
/// Waiting senders and receivers keep their place in line while they are
/// pending; a future that is polled once and then kept without being polled
/// or dropped holds up the ones behind it.
///
/// # Examples
///
/// A rendezvous between two o-routines:
///
/// ```
/// use monocle_core::Channel;
/// use futures_lite::future::{block_on, zip};
///
/// let ch = Channel::new(0);
/// let producer = async {
///     for i in 0..3 {
///         ch.send(i).await.unwrap();
///     }
///     ch.close();
/// };
/// let consumer = async {
///     let mut got = Vec::new();
///     while let Ok(v) = ch.recv().await {
///         got.push(v);
///     }
///     got
/// };
/// let ((), got) = block_on(zip(producer, consumer));
/// assert_eq!(got, [0, 1, 2]);
/// ```
pub struct Channel<T> {
    shared: Arc<Mutex<State<T>>>,
}

impl<T> Channel<T> {
    /// Creates a channel that buffers up to `bufsize` values; `0` makes a
    /// rendezvous channel.
    ///
    /// ```
    /// use monocle_core::Channel;
    ///
    /// let ch = Channel::<String>::new(4);
    /// assert_eq!(ch.capacity(), 4);
    /// ```
    pub fn new(bufsize: usize) -> Self {
        Self {
            shared: Arc::new(Mutex::new(State::new(bufsize))),
        }
    }

    /// Sends `value`, waiting for room (or, with no buffer, for a receiver to
    /// take it).
    ///
    /// # Errors
    ///
    /// [`SendError`], holding `value`, if the channel is closed before the
    /// value is in it.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_core::Channel;
    /// use futures_lite::future::block_on;
    ///
    /// let ch = Channel::new(1);
    /// block_on(ch.send('a')).unwrap();
    /// assert_eq!(ch.len(), 1);
    /// ```
    pub fn send(&self, value: T) -> SendFuture<'_, T> {
        SendFuture::new(self, value)
    }

    /// Receives the next value, waiting for one if needed.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the channel is closed and no value is left in it.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_core::Channel;
    /// use futures_lite::future::block_on;
    ///
    /// let ch = Channel::new(2);
    /// ch.try_send(7).unwrap();
    /// ch.close();
    /// assert_eq!(block_on(ch.recv()), Ok(7));
    /// assert!(block_on(ch.recv()).is_err());
    /// ```
    pub fn recv(&self) -> RecvFuture<'_, T> {
        RecvFuture::new(self)
    }

    /// Sends `value` if that needs no waiting.
    ///
    /// This succeeds when the buffer has room and no sender is waiting. On a
    /// rendezvous channel it succeeds when a receiver is waiting with no value
    /// to take yet; the value is then held for the waiting receivers (if they
    /// all give up, the next receiver gets it).
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if the value would have to wait,
    /// [`TrySendError::Closed`] if the channel is closed; both hold `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_core::Channel;
    ///
    /// let ch = Channel::new(0);
    /// // Nobody is waiting to receive.
    /// assert!(ch.try_send(1).unwrap_err().is_full());
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut wake = ToWake::default();
        let result = self.lock().try_send(value, &mut wake);
        wake.wake();
        result
    }

    /// Receives a value if one is ready now.
    ///
    /// On a rendezvous channel a value is ready when a sender is waiting.
    /// `try_recv` does not queue behind receivers that are waiting: it takes
    /// the next value even if one of them was about to.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if no value is ready, [`TryRecvError::Closed`]
    /// if the channel is closed and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_core::{Channel, TryRecvError};
    ///
    /// let ch = Channel::new(1);
    /// ch.try_send("x").unwrap();
    /// assert_eq!(ch.try_recv(), Ok("x"));
    /// assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut wake = ToWake::default();
        let result = self.lock().try_recv(&mut wake);
        wake.wake();
        result
    }

    /// Closes the channel and wakes every waiting sender and receiver.
    ///
    /// Returns `true` if this call closed it, `false` if it was closed
    /// already. See [Closing](Channel#closing) for what happens next.
    ///
    /// ```
    /// use monocle_core::Channel;
    ///
    /// let ch = Channel::<()>::new(0);
    /// assert!(ch.close());
    /// assert!(!ch.close());
    /// assert!(ch.is_closed());
    /// ```
    pub fn close(&self) -> bool {
        let mut wakers = Vec::new();
        let closed = self.lock().close(&mut wakers);
        wakers.into_iter().for_each(std::task::Waker::wake);
        closed
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.lock().is_closed()
    }

    /// The number of values in the buffer.
    ///
    /// Values of senders that are still waiting are not counted (on a
    /// rendezvous channel this is normally 0).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the buffer holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer size given to [`new`](Channel::new).
    pub fn capacity(&self) -> usize {
        self.lock().capacity()
    }

    /// The channel's values as a [`Stream`](futures_lite::Stream), which ends
    /// when the channel is closed and drained.
    ///
    /// The stream holds a handle to the channel; see [`RecvStream`].
    pub fn stream(&self) -> RecvStream<T> {
        RecvStream::new(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // User code never runs under this lock (wakers are woken and values
        // dropped after unlocking), so even a poisoned state is consistent.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<T> Clone for Channel<T> {
    /// Another handle to the same channel.
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Channel")
            .field("capacity", &state.capacity())
            .field("len", &state.len())
            .field("closed", &state.is_closed())
            .field("waiting_senders", &state.waiting_senders())
            .field("waiting_receivers", &state.waiting_receivers())
            .finish()
    }
}
