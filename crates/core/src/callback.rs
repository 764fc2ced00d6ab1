//! [`Callback`], monocle's one-shot promise, and [`defer`].

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use crate::wait_list::{store_waker, WaitList};

/// A handler added with [`Callback::add`].
type Handler<T> = Box<dyn FnOnce(&T) + Send + 'static>;

/// A one-shot result that any number of o-routines can await.
///
/// A `Callback` starts *pending*. [`resolve`](Callback::resolve) gives it its
/// value, once; a second `resolve` is an error that hands the value back.
/// Everyone interested then gets the value:
///
/// - o-routines that `.await` the callback (or a clone of it) each receive a
///   clone of the value;
/// - handlers added with [`add`](Callback::add) are called with a reference to it;
/// - [`get`](Callback::get) and [`result`](Callback::result) read it at any time.
///
/// A `Callback` is a cheap handle: cloning it gives another handle to the same
/// result. It is [`Send`] and [`Sync`] when `T` is `Send + Sync`, so it can be
/// resolved on one thread and awaited on others. (`Sync` is needed on `T`
/// because handlers and [`get`](Callback::get) share the value by reference
/// across threads.)
///
/// # Awaiting
///
/// `Callback<T>` is itself a [`Future`] with output `T` when `T: Clone`:
/// `cb.clone().await` waits for the result without consuming `cb`. Each
/// waiting task is woken exactly once, when the callback is resolved; a
/// waiting handle that is dropped gives its wait slot back.
///
/// # Examples
///
/// ```
/// use monocle_core::Callback;
/// use futures_lite::future::block_on;
///
/// let cb = Callback::new();
/// let waiter = cb.clone();
/// let worker = std::thread::spawn(move || cb.resolve(6 * 7).unwrap());
///
/// assert_eq!(block_on(waiter), 42);
/// worker.join().unwrap();
/// ```
pub struct Callback<T> {
    inner: Arc<Inner<T>>,
    /// This handle's slot in `Pending::waiters` while it is awaited.
    waiter: Option<usize>,
}

struct Inner<T> {
    /// The result. It is only ever set while `pending` is locked, so a task that
    /// finds it unset under the lock is sure to be woken when it is set.
    value: OnceLock<T>,
    pending: Mutex<Pending<T>>,
}

/// What waits for the result; emptied when the callback is resolved.
struct Pending<T> {
    handlers: Vec<Handler<T>>,
    waiters: WaitList<()>,
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, Pending<T>> {
        // No code of ours can panic while the lock is held with the state
        // half-updated, so a poisoned lock still holds a consistent state.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<T> Callback<T> {
    /// Creates a pending callback.
    ///
    /// ```
    /// use monocle_core::Callback;
    ///
    /// let cb: Callback<String> = Callback::new();
    /// assert!(!cb.is_resolved());
    /// ```
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                value: OnceLock::new(),
                pending: Mutex::new(Pending {
                    handlers: Vec::new(),
                    waiters: WaitList::new(),
                }),
            }),
            waiter: None,
        }
    }

    /// Creates a callback that is already resolved with `value`.
    ///
    /// This is what [`defer`] returns.
    ///
    /// ```
    /// use monocle_core::Callback;
    ///
    /// let cb = Callback::resolved("ready");
    /// assert_eq!(cb.get(), Some(&"ready"));
    /// ```
    pub fn resolved(value: T) -> Self {
        let cb = Self::new();
        if cb.inner.value.set(value).is_err() {
            unreachable!("a new callback is pending");
        }
        cb
    }

    /// Resolves the callback with `value`.
    ///
    /// Every task awaiting the callback is woken, then every handler added so
    /// far is called, in the order they were added, on this thread. The lock
    /// inside the callback is not held while they run, so a handler may use
    /// the callback (add another handler, read the result) without deadlock.
    ///
    /// # Errors
    ///
    /// If the callback was already resolved it keeps its first value and
    /// `value` is handed back inside [`AlreadyResolved`].
    ///
    /// # Panics
    ///
    /// A panic in a handler propagates to the caller; the handlers after it
    /// are dropped without being called. The callback stays resolved and the
    /// waiting tasks have been woken already.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_core::Callback;
    ///
    /// let cb = Callback::new();
    /// assert!(cb.resolve(1).is_ok());
    /// let err = cb.resolve(2).unwrap_err();
    /// assert_eq!(err.into_inner(), 2);
    /// assert_eq!(cb.result(), Some(1));
    /// ```
    pub fn resolve(&self, value: T) -> Result<(), AlreadyResolved<T>> {
        let (handlers, waiters) = {
            let mut pending = self.inner.lock();
            self.inner.value.set(value).map_err(AlreadyResolved)?;
            (
                mem::take(&mut pending.handlers),
                mem::take(&mut pending.waiters),
            )
        };
        let mut wakers = Vec::with_capacity(waiters.len());
        let mut waiters = waiters;
        waiters.take_all_wakers(&mut wakers);
        drop(waiters);
        wakers.into_iter().for_each(Waker::wake);

        let value = self.inner.value.get().expect("the value was just set");
        for handler in handlers {
            handler(value);
        }
        Ok(())
    }

    /// Whether the callback has its value.
    pub fn is_resolved(&self) -> bool {
        self.inner.value.get().is_some()
    }

    /// A reference to the value, if the callback is resolved.
    ///
    /// This never blocks and takes no lock.
    ///
    /// ```
    /// use monocle_core::Callback;
    ///
    /// let cb = Callback::new();
    /// assert_eq!(cb.get(), None);
    /// cb.resolve(vec![1, 2]).unwrap();
    /// assert_eq!(cb.get().map(Vec::len), Some(2));
    /// ```
    pub fn get(&self) -> Option<&T> {
        self.inner.value.get()
    }

    /// A clone of the value, if the callback is resolved (monocle's `.result`).
    ///
    /// ```
    /// use monocle_core::defer;
    ///
    /// assert_eq!(defer(String::from("done")).result().as_deref(), Some("done"));
    /// ```
    pub fn result(&self) -> Option<T>
    where
        T: Clone,
    {
        self.get().cloned()
    }

    /// Adds a handler to be called with the value.
    ///
    /// A handler added before the callback is resolved is called by
    /// [`resolve`](Callback::resolve), on the resolving thread, after the
    /// handlers added before it. A handler added once the callback is resolved
    /// is called right away, on this thread.
    ///
    /// A handler cannot be removed: it stays, with what it captured, until the
    /// callback is resolved (then it is called and dropped) or every handle to
    /// the callback is dropped. For a wait that may be given up, such as one
    /// per request on a long-lived callback, await a clone under a timeout
    /// instead: a dropped wait gives its place back.
    ///
    /// ```
    /// use monocle_core::Callback;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let cb = Callback::new();
    /// let s = seen.clone();
    /// cb.add(move |v: &i32| s.lock().unwrap().push(*v));
    /// cb.resolve(5).unwrap();
    /// let s = seen.clone();
    /// cb.add(move |v: &i32| s.lock().unwrap().push(v * 10));
    /// assert_eq!(*seen.lock().unwrap(), [5, 50]);
    /// ```
    pub fn add<F>(&self, handler: F)
    where
        F: FnOnce(&T) + Send + 'static,
    {
        if let Some(value) = self.get() {
            handler(value);
            return;
        }
        let mut pending = self.inner.lock();
        match self.inner.value.get() {
            Some(value) => {
                drop(pending);
                handler(value);
            }
            None => pending.handlers.push(Box::new(handler)),
        }
    }

    /// Gives back this handle's wait slot, if it holds one.
    fn forget_waiter(&mut self) {
        if let Some(key) = self.waiter.take() {
            let mut pending = self.inner.lock();
            // Once resolved, the list the key pointed into is gone.
            if self.inner.value.get().is_none() {
                pending.waiters.remove(key);
            }
        }
    }
}

impl<T> Default for Callback<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for Callback<T> {
    /// Another handle to the same result. The clone does not share this
    /// handle's place among the waiting tasks.
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            waiter: None,
        }
    }
}

impl<T> Drop for Callback<T> {
    fn drop(&mut self) {
        self.forget_waiter();
    }
}

impl<T: Clone> Future for Callback<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        if let Some(value) = this.inner.value.get() {
            // A slot held before the resolve went away with the old list.
            this.waiter = None;
            return Poll::Ready(value.clone());
        }
        let mut pending = this.inner.lock();
        if let Some(value) = this.inner.value.get() {
            drop(pending);
            this.waiter = None;
            return Poll::Ready(value.clone());
        }
        match this.waiter {
            Some(key) => store_waker(&mut pending.waiters.node_mut(key).waker, cx.waker()),
            None => this.waiter = Some(pending.waiters.push_back((), cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for Callback<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Callback");
        if self.is_resolved() {
            s.field("state", &format_args!("resolved"));
        } else {
            let pending = self.inner.lock();
            s.field("state", &format_args!("pending"))
                .field("handlers", &pending.handlers.len())
                .field("waiters", &pending.waiters.len());
        }
        s.finish()
    }
}

/// A callback that is already resolved with `value` (monocle's `defer` and
/// `util.immediate`).
///
/// Useful to return a `Callback` from code that has the answer at hand, and in
/// tests to stand in for a slow operation.
///
/// ```
/// use monocle_core::defer;
/// use futures_lite::future::block_on;
///
/// let cb = defer(3);
/// assert!(cb.is_resolved());
/// assert_eq!(block_on(cb), 3);
/// ```
pub fn defer<T>(value: T) -> Callback<T> {
    Callback::resolved(value)
}

/// The error of resolving a [`Callback`] twice; holds the rejected value.
///
/// ```
/// use monocle_core::defer;
///
/// let err = defer(1).resolve(2).unwrap_err();
/// assert_eq!(err.to_string(), "callback already resolved");
/// assert_eq!(err.0, 2);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlreadyResolved<T>(pub T);

impl<T> AlreadyResolved<T> {
    /// The value that was not stored.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for AlreadyResolved<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlreadyResolved").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for AlreadyResolved<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("callback already resolved")
    }
}

impl<T> Error for AlreadyResolved<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Waker, Arc<Count>) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (Waker::from(count.clone()), count)
    }

    fn poll(cb: &mut Callback<u32>, waker: &Waker) -> Poll<u32> {
        Pin::new(cb).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn repolling_with_new_wakers_keeps_one_slot() {
        let cb = Callback::new();
        let mut waiter = cb.clone();
        let mut counts = Vec::new();
        for _ in 0..100 {
            let (waker, count) = counting_waker();
            assert!(poll(&mut waiter, &waker).is_pending());
            counts.push(count);
        }
        assert_eq!(cb.inner.lock().waiters.slot_count(), 1);
        cb.resolve(9).unwrap();
        // Only the last waker is woken, once.
        let woken: Vec<usize> = counts.iter().map(|c| c.0.load(Ordering::SeqCst)).collect();
        assert_eq!(woken[..99].iter().sum::<usize>(), 0);
        assert_eq!(woken[99], 1);
        let (waker, _) = counting_waker();
        assert_eq!(poll(&mut waiter, &waker), Poll::Ready(9));
    }

    #[test]
    fn dropped_waiters_give_their_slot_back() {
        let cb: Callback<u32> = Callback::new();
        let (waker, count) = counting_waker();
        for _ in 0..50 {
            let mut waiter = cb.clone();
            assert!(poll(&mut waiter, &waker).is_pending());
            assert_eq!(cb.inner.lock().waiters.len(), 1);
        }
        let pending = cb.inner.lock();
        assert_eq!(pending.waiters.len(), 0);
        assert_eq!(pending.waiters.slot_count(), 1);
        drop(pending);
        cb.resolve(1).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn each_waiter_is_woken_exactly_once() {
        let cb: Callback<u32> = Callback::new();
        let mut waiters: Vec<(Callback<u32>, Arc<Count>)> = (0..10)
            .map(|_| {
                let (waker, count) = counting_waker();
                let mut w = cb.clone();
                assert!(poll(&mut w, &waker).is_pending());
                assert!(poll(&mut w, &waker).is_pending());
                (w, count)
            })
            .collect();
        cb.resolve(4).unwrap();
        assert!(cb.resolve(5).is_err());
        for (w, count) in &mut waiters {
            assert_eq!(count.0.load(Ordering::SeqCst), 1);
            let (waker, _) = counting_waker();
            assert_eq!(poll(w, &waker), Poll::Ready(4));
        }
    }
}
