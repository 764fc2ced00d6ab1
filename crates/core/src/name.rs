//! Naming o-routines.
//!
//! An o-routine is any future handed to an executor. Giving it a name makes the
//! executor's diagnostics (error logs, blocking warnings, task dumps) say *which*
//! o-routine misbehaved instead of pointing at an anonymous task.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

/// A future paired with the name it should carry once launched.
///
/// `Named` is not a future itself: it is a launch request. Executors that
/// understand names (monocle's event loop) accept anything that implements
/// [`IntoOroutine`], which both plain futures and `Named` do.
///
/// # Examples
///
/// ```
/// use monocle_core::{named, IntoOroutine};
///
/// let request = named("fetch-user", async { 42 });
/// let (name, fut) = request.into_oroutine();
/// assert_eq!(name.as_deref(), Some("fetch-user"));
/// # drop(fut);
/// ```
pub struct Named<F> {
    name: Cow<'static, str>,
    future: F,
}

impl<F> Named<F> {
    /// The name this o-routine will carry.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Splits the request into its name and its future.
    pub fn into_parts(self) -> (Cow<'static, str>, F) {
        (self.name, self.future)
    }
}

impl<F> fmt::Debug for Named<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Named")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Gives `future` a name that the executor's diagnostics will print.
///
/// # Examples
///
/// ```
/// use monocle_core::named;
///
/// let task = named(format!("connection {}", 7), async { /* ... */ });
/// assert_eq!(task.name(), "connection 7");
/// ```
pub fn named<F: Future>(name: impl Into<Cow<'static, str>>, future: F) -> Named<F> {
    Named {
        name: name.into(),
        future,
    }
}

/// Something that can be launched as an o-routine: a future, or a [`Named`] future.
///
/// Executors take `impl IntoOroutine` so that both `launch(fut)` and
/// `launch(named("name", fut))` work.
pub trait IntoOroutine {
    /// What the o-routine returns.
    type Output;
    /// The future that runs it.
    type Future: Future<Output = Self::Output>;

    /// The o-routine's name, if it has one, and its future.
    fn into_oroutine(self) -> (Option<Cow<'static, str>>, Self::Future);
}

impl<F: Future> IntoOroutine for F {
    type Output = F::Output;
    type Future = F;

    fn into_oroutine(self) -> (Option<Cow<'static, str>>, F) {
        (None, self)
    }
}

impl<F: Future> IntoOroutine for Named<F> {
    type Output = F::Output;
    type Future = F;

    fn into_oroutine(self) -> (Option<Cow<'static, str>>, F) {
        (Some(self.name), self.future)
    }
}

/// Adds [`named`](OroutineExt::named) to every future.
pub trait OroutineExt: Future + Sized {
    /// Gives this future a name for the executor's diagnostics.
    ///
    /// ```
    /// use monocle_core::OroutineExt;
    ///
    /// let task = async { 1 + 1 }.named("adder");
    /// assert_eq!(task.name(), "adder");
    /// ```
    fn named(self, name: impl Into<Cow<'static, str>>) -> Named<Self> {
        named(name, self)
    }
}

impl<F: Future> OroutineExt for F {}
