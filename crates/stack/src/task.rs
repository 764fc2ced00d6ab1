//! Launching o-routines: [`launch`], [`JoinHandle`] and [`Outcome`].

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use monocle_core::IntoOroutine;

use crate::runtime::{self, Loop};

/// The payload of a panic, as `std::panic::catch_unwind` returns it.
pub(crate) type Panic = Box<dyn Any + Send + 'static>;

/// What a task's header carries besides the future.
pub(crate) struct Meta {
    /// The o-routine's entry in its loop's registry.
    pub(crate) slot: usize,
    pub(crate) location: &'static Location<'static>,
    pub(crate) name: Option<Cow<'static, str>>,
    /// Who reports a failed result: see `ATTACHED`, `DETACHED`, `COMPLETED`.
    state: AtomicU8,
}

/// A `JoinHandle` exists and may still take the result.
const ATTACHED: u8 = 0;
/// The handle is gone: the o-routine reports its own failure.
const DETACHED: u8 = 1;
/// The o-routine ended with a failure that its handle has to report if dropped
/// without looking at it.
const COMPLETED: u8 = 2;

impl Meta {
    pub(crate) fn describe(&self) -> String {
        describe(self.name.as_deref(), self.location)
    }
}

/// "o-routine 'name' (launched at file:line:col)".
pub(crate) fn describe(name: Option<&str>, location: &Location<'_>) -> String {
    match name {
        Some(name) => format!("o-routine '{name}' (launched at {location})"),
        None => format!("o-routine launched at {location}"),
    }
}

/// A value an o-routine can return, and whether it means failure.
///
/// The loop logs the failure of an o-routine nobody is waiting for (its
/// [`JoinHandle`] was dropped), so that an error is never lost, as in monocle.
/// `Result::Err` is a failure; every other implementation here is not. Implement
/// it for your own types with an empty body to launch o-routines returning them.
///
/// ```
/// struct Report(u32);
/// impl monocle_stack::Outcome for Report {}
///
/// let n = monocle_stack::block_on(async {
///     monocle_stack::launch(async { Report(7) }).await.0
/// });
/// assert_eq!(n, 7);
/// ```
///
/// # Errors in log lines
///
/// A failure is printed with the error's chain of causes (`top: cause: root
/// cause`, following `source()`) when the error type is `std::io::Error`,
/// `Box<dyn Error>`, `Box<dyn Error + Send>`, `Box<dyn Error + Send + Sync>` or
/// `Arc<dyn Error + Send + Sync>`. Without specialization these are the only
/// types whose `source()` the `Result` impl, which asks no more of the error
/// than `Display`, can reach. Any other error is printed with its alternate
/// display, `{:#}`: anyhow's and eyre's errors print their chain that way, and
/// so do monocle-network's `Error` and `ConnectionLost` (monocle-http's
/// `Error` puts its one possible cause, a URL's, in its message). Most other
/// types print only their own message. To have such an error's causes in the
/// log, box it: return `Result<T, Box<dyn Error + Send + Sync>>` (`?`
/// converts), or convert it into `std::io::Error`.
///
/// # Types of other crates
///
/// Only a type's own crate (or this one) may implement `Outcome` for it. It is
/// implemented for the standard library's common types, and for the public
/// types of monocle's crates that an o-routine may return: `Callback`,
/// `Channel`, `RecvStream`, `Winner`, [`Handle`](crate::Handle),
/// [`JoinHandle`], [`RemoteJoinHandle`](crate::RemoteJoinHandle),
/// [`QueuedTask`](crate::eventloop::QueuedTask), and in monocle-network and
/// monocle-http `Connection`, `Client`, `ServiceHandle`, `HttpRequest`,
/// `HttpResponse`, `HttpHeaders` and `HttpClient`. To return any other
/// crate's type, wrap it in a `Result` that cannot fail,
/// `Ok::<_, Infallible>(value)`, and unwrap it with an irrefutable `let Ok(..)`:
///
/// ```
/// use std::collections::BinaryHeap; // a type without an `Outcome` impl
/// use std::convert::Infallible;
///
/// let top = monocle_stack::block_on(async {
///     let handle = monocle_stack::launch(async {
///         let heap = BinaryHeap::from([3, 9, 4]);
///         Ok::<_, Infallible>(heap)
///     });
///     let Ok(heap) = handle.await;
///     heap.peek().copied()
/// });
/// assert_eq!(top, Some(9));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of a launched o-routine",
    note = "return `()` or a `Result`, or add `impl monocle_stack::Outcome for {Self} {{}}`; \
            for another crate's type, return `Ok::<_, std::convert::Infallible>(value)`"
)]
pub trait Outcome {
    /// A description of the failure, or `None` for success.
    fn failure(&self) -> Option<String> {
        None
    }
}

impl<T, E: fmt::Display + 'static> Outcome for Result<T, E> {
    fn failure(&self) -> Option<String> {
        self.as_ref().err().map(|e| error_chain(e))
    }
}

/// Formats an error with the chain of its causes: `top: cause: root cause`.
///
/// Rust has no specialization, so the `source()` of an `E` that is only known
/// to be `Display` is reachable only for the types named here (see "Errors in
/// log lines" on [`Outcome`]); any other type prints `{e:#}`.
pub(crate) fn error_chain<E: fmt::Display + 'static>(e: &E) -> String {
    use std::error::Error;
    use std::sync::Arc;
    let any: &dyn Any = e;
    let source: Option<&(dyn Error + 'static)> =
        if let Some(e) = any.downcast_ref::<std::io::Error>() {
            e.source()
        } else if let Some(b) = any.downcast_ref::<Box<dyn Error + Send + Sync>>() {
            b.source()
        } else if let Some(b) = any.downcast_ref::<Box<dyn Error + Send>>() {
            b.source()
        } else if let Some(b) = any.downcast_ref::<Box<dyn Error>>() {
            b.source()
        } else if let Some(a) = any.downcast_ref::<Arc<dyn Error + Send + Sync>>() {
            a.source()
        } else {
            // Types such as anyhow's and eyre's print their chain with the
            // alternate flag; others print their own message.
            return format!("{e:#}");
        };
    let mut text = e.to_string();
    let mut next = source;
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

macro_rules! plain_outcome {
    ($($t:ty),* $(,)?) => { $(impl Outcome for $t {})* };
}
#[rustfmt::skip]
plain_outcome!(
    (), bool, char, u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64,
    String, &'static str, std::time::Duration, std::time::Instant, std::time::SystemTime,
    std::net::SocketAddr, std::net::IpAddr, std::net::TcpStream, std::net::TcpListener,
    std::net::UdpSocket, std::fs::File, std::path::PathBuf, std::ffi::OsString,
    std::process::ExitStatus, std::process::Output,
);
#[cfg(unix)]
plain_outcome!(
    std::os::unix::net::UnixStream,
    std::os::unix::net::UnixListener
);
impl<T: ?Sized + ToOwned> Outcome for std::borrow::Cow<'static, T> {}
impl<T> Outcome for Vec<T> {}
impl<T> Outcome for Option<T> {}
impl<T: ?Sized> Outcome for Box<T> {}
impl<T: ?Sized> Outcome for std::rc::Rc<T> {}
impl<T: ?Sized> Outcome for std::sync::Arc<T> {}
impl<T> Outcome for std::collections::VecDeque<T> {}
impl<K, V, S> Outcome for std::collections::HashMap<K, V, S> {}
impl<K, V> Outcome for std::collections::BTreeMap<K, V> {}
impl<T, S> Outcome for std::collections::HashSet<T, S> {}
impl<T> Outcome for std::collections::BTreeSet<T> {}
impl<T, const N: usize> Outcome for [T; N] {}
impl<T: Outcome> Outcome for monocle_core::Callback<T> {}
impl<T> Outcome for monocle_core::Channel<T> {}
impl<T> Outcome for monocle_core::RecvStream<T> {}
impl<A, B> Outcome for monocle_core::Winner<A, B> {}
macro_rules! tuple_outcome {
    ($($name:ident)+) => { impl<$($name),+> Outcome for ($($name,)+) {} };
}
tuple_outcome!(A B);
tuple_outcome!(A B C);
tuple_outcome!(A B C D);
tuple_outcome!(A B C D E);
tuple_outcome!(A B C D E F);

/// Wraps a launched future: catches its panics, reports its failures and keeps
/// the loop's registry up to date.
struct Guard<'a, F> {
    future: F,
    meta: &'a Meta,
}

impl<F: Future> Future for Guard<'_, F>
where
    F::Output: Outcome,
{
    type Output = Result<F::Output, Panic>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of the
        // guard, and the guard has no `Unpin` impl or `Drop` that moves it.
        let (future, meta) = unsafe {
            let this = self.get_unchecked_mut();
            (Pin::new_unchecked(&mut this.future), this.meta)
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => {
                if let Some(failure) = out.failure() {
                    // Report now if nobody holds the handle; otherwise the handle
                    // reports it if it is dropped without taking the result.
                    if meta.state.swap(COMPLETED, Ordering::AcqRel) == DETACHED {
                        log::error!("{} failed: {failure}", meta.describe());
                    }
                }
                Poll::Ready(Ok(out))
            }
            Err(panic) => {
                log::error!(
                    "{} panicked: {}",
                    meta.describe(),
                    crate::diagnostics::panic_message(&*panic)
                );
                Poll::Ready(Err(panic))
            }
        }
    }
}

impl<F> Drop for Guard<'_, F> {
    fn drop(&mut self) {
        let slot = self.meta.slot;
        runtime::try_with_loop(|lp| lp.unregister_task(slot));
    }
}

/// Reads a launch site published by a loop for the watchdog.
pub(crate) fn published_location(
    site: &std::sync::atomic::AtomicPtr<Location<'static>>,
) -> Option<&'static Location<'static>> {
    let ptr = site.load(Ordering::Relaxed);
    // SAFETY: loops store into `site` only pointers made from a
    // `&'static Location<'static>` (`Loop::run_task`), or leave it null; such a
    // pointer stays valid and immutable for the whole program.
    unsafe { ptr.as_ref() }
}

impl Loop {
    /// Creates an o-routine on this loop and queues it to run.
    pub(crate) fn spawn<F>(
        &self,
        name: Option<Cow<'static, str>>,
        location: &'static Location<'static>,
        future: F,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: Outcome + 'static,
    {
        let slot = self.register_task(name.clone(), location);
        let meta = Meta {
            slot,
            location,
            name,
            state: AtomicU8::new(ATTACHED),
        };
        let shared = self.shared.clone();
        let schedule = move |runnable| runtime::schedule(&shared, runnable);
        // SAFETY: `spawn_unchecked` lifts three requirements, each upheld here:
        // - The future need not be `Send`: its runnable is only ever run or dropped
        //   on this loop's thread. Wakers on other threads push it onto the loop's
        //   cross-thread queue, which only this thread pops; once the loop is gone
        //   that queue refuses it and `schedule` leaks it rather than drop it
        //   elsewhere. The loop drops what is left queued on its own thread.
        // - The future is `'static`; it borrows only the task's own metadata,
        //   which async-task keeps alive as long as the future.
        // - The schedule function is `Send + Sync + 'static` (an `Arc<Shared>`).
        let (runnable, task) = unsafe {
            async_task::Builder::new()
                .metadata(meta)
                .spawn_unchecked(move |meta| Guard { future, meta }, schedule)
        };
        self.local.borrow_mut().push_back(runnable);
        JoinHandle {
            task: Some(task),
            taken: false,
        }
    }
}

/// Starts an o-routine on this thread's event loop and returns at once.
///
/// `launch` takes any future, or a [`named`](monocle_core::named) one. The
/// o-routine runs when the loop runs ([`run`](crate::eventloop::run) or
/// [`block_on`](crate::block_on)); it need not be `Send`. A thread that ends
/// without ever running its loop drops what was launched on it unrun, with a
/// warning through `log` naming the first one. It runs to completion
/// even if the returned handle is dropped, as monocle's `launch` did. If it panics
/// the panic is logged with its name and launch site and the loop goes on; if it
/// returns an `Err` that nobody awaits, that is logged too.
///
/// # Examples
///
/// ```
/// use monocle_stack::{block_on, launch};
/// use monocle_core::named;
///
/// let sum = block_on(async {
///     let a = launch(async { 20 });
///     let b = launch(named("adder", async { 22 }));
///     a.await + b.await
/// });
/// assert_eq!(sum, 42);
/// ```
///
/// # Panics
///
/// Panics if this thread's event loop cannot be created.
#[track_caller]
pub fn launch<O>(oroutine: O) -> JoinHandle<O::Output>
where
    O: IntoOroutine,
    O::Future: 'static,
    O::Output: Outcome + 'static,
{
    let location = Location::caller();
    let (name, future) = oroutine.into_oroutine();
    runtime::with_loop(|lp| lp.spawn(name, location, future))
}

/// A handle to a launched o-routine: await it for the result, or cancel it.
///
/// Dropping the handle does not stop the o-routine (monocle's `launch` was
/// fire-and-forget); use [`cancel`](JoinHandle::cancel) for that.
///
/// Awaiting the handle of an o-routine that panicked resumes the panic in the
/// awaiting o-routine.
pub struct JoinHandle<T: Outcome> {
    task: Option<async_task::Task<Result<T, Panic>, Meta>>,
    /// The result was handed out, so there is nothing left to report.
    taken: bool,
}

impl<T: Outcome> Outcome for JoinHandle<T> {}

impl<T: Outcome> JoinHandle<T> {
    fn task(&self) -> &async_task::Task<Result<T, Panic>, Meta> {
        self.task
            .as_ref()
            .expect("the task is present until the handle is consumed")
    }

    /// Whether the o-routine has finished.
    pub fn is_finished(&self) -> bool {
        self.task().is_finished()
    }

    /// The o-routine's name, if it was launched with one.
    pub fn name(&self) -> Option<&str> {
        self.task().metadata().name.as_deref()
    }

    /// Where the o-routine was launched.
    pub fn location(&self) -> &'static Location<'static> {
        self.task().metadata().location
    }

    /// Cancels the o-routine: it is dropped at its next await point and never
    /// resumed. Await the returned future to learn whether it finished first
    /// (`Some(result)`) or was cancelled (`None`); dropping that future cancels
    /// all the same. Can be called from any thread.
    pub fn cancel(mut self) -> Cancel<T>
    where
        T: 'static,
    {
        let task = self
            .task
            .take()
            .expect("the task is present until the handle is consumed");
        self.taken = true;
        Cancel {
            inner: Box::pin(task.cancel()),
        }
    }

    /// Lets the o-routine run on without this handle (the same as dropping it).
    pub fn detach(self) {}
}

impl<T: Outcome> Future for JoinHandle<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let task = self
            .task
            .as_mut()
            .expect("JoinHandle polled after completion");
        match Pin::new(task).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(out)) => {
                self.taken = true;
                Poll::Ready(out)
            }
            Poll::Ready(Err(panic)) => {
                self.taken = true;
                std::panic::resume_unwind(panic)
            }
        }
    }
}

impl<T: Outcome> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let Some(mut task) = self.task.take() else {
            return;
        };
        if !self.taken && task.metadata().state.swap(DETACHED, Ordering::AcqRel) == COMPLETED {
            // It failed, and the failure would go unseen: report it.
            let mut cx = Context::from_waker(std::task::Waker::noop());
            if let Poll::Ready(Ok(out)) = Pin::new(&mut task).poll(&mut cx) {
                if let Some(failure) = out.failure() {
                    log::error!("{} failed: {failure}", task.metadata().describe());
                }
            }
        }
        task.detach();
    }
}

impl<T: Outcome> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.task {
            Some(task) => f
                .debug_struct("JoinHandle")
                .field("name", &task.metadata().name)
                .field("location", &format_args!("{}", task.metadata().location))
                .field("finished", &task.is_finished())
                .finish(),
            None => f.write_str("JoinHandle(consumed)"),
        }
    }
}

/// The future returned by [`JoinHandle::cancel`].
pub struct Cancel<T> {
    #[allow(clippy::type_complexity)]
    inner: Pin<Box<dyn Future<Output = Option<Result<T, Panic>>>>>,
}

impl<T> Future for Cancel<T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self.inner.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(v))) => Poll::Ready(Some(v)),
            Poll::Ready(Some(Err(panic))) => std::panic::resume_unwind(panic),
            Poll::Ready(None) => Poll::Ready(None),
        }
    }
}

impl<T> fmt::Debug for Cancel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cancel")
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;
    use std::fmt;
    use std::sync::Arc;

    use super::Outcome;

    /// "outer", caused by "inner", caused by "root".
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    fn layers() -> Layer {
        let root = Layer("root", None);
        let inner = Layer("inner", Some(Box::new(root)));
        Layer("outer", Some(Box::new(inner)))
    }

    fn failure<E: fmt::Display + 'static>(e: E) -> String {
        Err::<(), E>(e).failure().unwrap()
    }

    #[test]
    fn boxed_errors_and_io_errors_print_their_chain() {
        let chain = "outer: inner: root";
        assert_eq!(
            failure(Box::<dyn Error + Send + Sync>::from(layers())),
            chain
        );
        assert_eq!(
            failure(Box::<dyn Error + Send>::from(Box::new(layers()))),
            chain
        );
        assert_eq!(failure(Box::<dyn Error>::from(layers())), chain);
        let shared: Arc<dyn Error + Send + Sync> = Arc::new(layers());
        assert_eq!(failure(shared), chain);
        assert_eq!(failure(std::io::Error::other(layers())), chain);
    }

    #[test]
    fn other_errors_print_their_alternate_display() {
        // Without specialization a bare error type's `source()` is out of reach:
        // only its display is printed (`{:#}`, which anyhow and eyre make the
        // chain). Boxing it gives the chain, as the docs of `Outcome` say.
        assert_eq!(failure(layers()), "outer");
        assert_eq!(failure("plain text"), "plain text");
        assert!(Ok::<(), Layer>(()).failure().is_none());
    }
}
