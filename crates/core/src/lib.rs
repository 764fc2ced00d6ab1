//! The o-routine primitives of monocle, usable with any executor.
//!
//! An *o-routine* is an `async fn` (or any future) run by an event loop. This crate
//! holds what o-routines use to talk to each other and that needs no executor and
//! no reactor: [`Callback`], a one-shot result that any number of o-routines can
//! await; [`Channel`], a Go-style channel whose capacity may be zero (a rendezvous);
//! [`first_of`], which waits for the first of several futures; and [`named`], which
//! gives an o-routine a name for diagnostics.
//!
//! Everything here is plain futures and wakers, so it runs under monocle's event
//! loop, under another executor, or under `block_on`.
//!
//! # Examples
//!
//! A worker thread answers through a [`Callback`] while an o-routine feeds it
//! through a rendezvous [`Channel`]:
//!
//! ```
//! use monocle_core::{Callback, Channel};
//! use futures_lite::future::block_on;
//!
//! let requests = Channel::new(0);
//! let answer = Callback::new();
//!
//! let worker = {
//!     let (requests, answer) = (requests.clone(), answer.clone());
//!     std::thread::spawn(move || {
//!         let mut sum = 0;
//!         while let Ok(n) = block_on(requests.recv()) {
//!             sum += n;
//!         }
//!         answer.resolve(sum).unwrap();
//!     })
//! };
//!
//! block_on(async {
//!     for n in 1..=10 {
//!         // Completes once the worker has taken `n`.
//!         requests.send(n).await.unwrap();
//!     }
//!     requests.close();
//!     assert_eq!(answer.clone().await, 55);
//! });
//! worker.join().unwrap();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

mod callback;
mod channel;
mod first_of;
mod name;
mod wait_list;

pub use callback::{defer, AlreadyResolved, Callback};
pub use channel::{
    Channel, RecvError, RecvFuture, RecvStream, SendError, SendFuture, TryRecvError, TrySendError,
};
pub use first_of::{first_of, first_of2, FirstOf, FirstOf2, Winner};
pub use name::{named, IntoOroutine, Named, OroutineExt};

/// Compile-time checks that the handles can cross threads.
#[allow(dead_code)]
fn _ensure_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Callback<String>>();
    send_sync::<Channel<String>>();
    send_sync::<Channel<std::cell::Cell<u8>>>();
    send_sync::<SendFuture<'static, String>>();
    send_sync::<RecvFuture<'static, String>>();
    send_sync::<RecvStream<String>>();
}
