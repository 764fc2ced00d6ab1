//! The portable backend: park in async-io's reactor.
//!
//! The loop blocks inside `async_io::block_on` on a future that completes when the
//! loop is notified or its next timer is due. While parked there, the loop's thread
//! drives async-io's reactor itself, so wake-ups of sockets arrive on the loop's
//! thread; when the loop is busy, async-io's background thread drives it and wakes
//! o-routines from that thread (a cross-thread wake, which the loop accepts).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{Notifier, NotifyBackend};

pub(crate) struct Reactor {
    _private: (),
}

impl Reactor {
    pub(crate) fn new() -> (Reactor, Notifier) {
        let notifier = Notifier::new(NotifyBackend::AsyncIo(std::sync::Mutex::new(None)));
        (Reactor { _private: () }, notifier)
    }

    pub(crate) fn wait(&self, notifier: &Notifier, timeout: Option<Duration>) -> io::Result<()> {
        if timeout == Some(Duration::ZERO) {
            // async-io has no public "poll without blocking"; its background thread
            // delivers events while the loop is busy.
            return Ok(());
        }
        let timer = timeout
            .and_then(|t| Instant::now().checked_add(t))
            .map(async_io::Timer::at);
        async_io::block_on(Park { notifier, timer });
        Ok(())
    }
}

struct Park<'a> {
    notifier: &'a Notifier,
    timer: Option<async_io::Timer>,
}

impl Future for Park<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let NotifyBackend::AsyncIo(slot) = &self.notifier.0.backend else {
            unreachable!("the async-io reactor always has a waker slot");
        };
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        // Checked after storing the waker: a notify in between either sees the
        // waker or has already set the flag we read here.
        if self.notifier.is_pending() {
            return Poll::Ready(());
        }
        if let Some(timer) = self.timer.as_mut() {
            if Pin::new(timer).poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}
