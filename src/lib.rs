//! monocle: event-driven code that reads like blocking code.
//!
//! An *o-routine* is an `async fn` run by monocle's event loop; each `.await`
//! hands control back to the loop until the I/O (or timer, or channel) it waits
//! for is ready — what `yield` did in the Python original. This crate gathers the
//! layers under monocle's familiar paths:
//!
//! | path | what | crate |
//! |---|---|---|
//! | [`launch`], [`Callback`], [`defer`], [`named`], [`run`], [`block_on`] | o-routines and their results | `monocle-core`, `monocle-stack` |
//! | [`stack::eventloop`] | `run`, `halt`, `queue_task`, the loop builder | `monocle-stack` |
//! | [`util`] | `sleep`, `delayed`, `immediate`, `next_tick`, `timeout` | `monocle-stack` |
//! | [`experimental`] | `Channel`, `first_of` | `monocle-core` |
//! | `stack::network` | `Connection`, `Service`, `add_service`, `connect`, `ConnectionLost` | `monocle-network` |
//! | `stack::network::http` | `HttpServer`, `HttpClient`, `HttpHeaders`, the router | `monocle-http` |
//! | [`prelude`] | the extension traits behind `.read_to_end()`, `.write_all()`, `.next()`, `.race()` | `futures-lite` |
//!
//! ```
//! use std::time::Duration;
//! use monocle::stack::eventloop;
//! use monocle::util::sleep;
//!
//! async fn greet(who: &str) -> String {
//!     sleep(Duration::from_millis(5)).await;
//!     format!("hello, {who}")
//! }
//!
//! monocle::launch(async {
//!     let greeting = greet("monocle").await;
//!     assert_eq!(greeting, "hello, monocle");
//!     eventloop::halt();
//! });
//! eventloop::run();
//! ```
//!
//! # Features
//!
//! * `network` — TCP services and clients (`monocle::stack::network`).
//! * `http` (default) — the HTTP client, server and router
//!   (`monocle::stack::network::http`); implies `network`.
//! * `tls` — TLS for services, clients and HTTPS, on rustls.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use monocle_core::{defer, named, AlreadyResolved, Callback, IntoOroutine, Named, OroutineExt};
pub use monocle_stack::{block_on, launch, run, Cancel, JoinHandle, Outcome};

/// The underlying crates, for what this crate does not re-export by name.
pub mod crates {
    pub use monocle_core as core;
    #[cfg(feature = "http")]
    pub use monocle_http as http;
    #[cfg(feature = "network")]
    pub use monocle_network as network;
    pub use monocle_stack as stack;
}

/// The event loop and, with the `network` feature, the network layer
/// (monocle's `monocle.stack`).
pub mod stack {
    pub use monocle_stack::eventloop;
    pub use monocle_stack::{
        diagnostics, offload, reactor, Handle, JoinError, Loops, Offload, RemoteJoinHandle,
    };

    /// TCP services, clients and connections (monocle's `monocle.stack.network`);
    /// with the `http` feature, also [`http`](self::network::http).
    #[cfg(feature = "network")]
    pub mod network {
        pub use monocle_network::*;

        /// HTTP: headers, requests, responses, the client, the server and the
        /// router (monocle's `monocle.stack.network.http`).
        #[cfg(feature = "http")]
        pub mod http {
            pub use monocle_http::*;
        }
    }
}

/// The futures-lite crate monocle is built on, so that its streams, futures and
/// I/O helpers need no dependency of their own at a matching version.
pub use futures_lite;

/// The traits whose methods an o-routine calls on monocle's types: reading a
/// `ResponseReader` or a `Connection` through `AsyncReadExt`, taking
/// messages off a [`RecvStream`](experimental::RecvStream) with
/// `StreamExt::next`, racing futures with `FutureExt::race`.
///
/// ```
/// use monocle::experimental::Channel;
/// use monocle::prelude::*;
///
/// let feed = Channel::new(4);
/// feed.try_send(1).unwrap();
/// feed.try_send(2).unwrap();
/// feed.close();
/// let all: Vec<i32> = monocle::block_on(feed.stream().collect());
/// assert_eq!(all, [1, 2]);
/// ```
pub mod prelude {
    pub use futures_lite::prelude::*;
}

/// Timers (monocle's `monocle.util`).
pub mod util {
    pub use monocle_stack::util::*;
}

/// Channels and `first_of` (monocle's `monocle.experimental`), with the
/// futures and the stream that [`Channel`](experimental::Channel)'s methods
/// return, so that they can be named: in a struct field, say.
///
/// ```
/// use monocle::experimental::{Channel, RecvStream};
///
/// /// A subscriber's side of a feed.
/// struct Subscription {
///     events: RecvStream<String>,
/// }
///
/// let feed = Channel::new(8);
/// let sub = Subscription { events: feed.stream() };
/// feed.try_send("joined".to_owned()).unwrap();
/// assert_eq!(sub.events.channel().len(), 1);
/// ```
pub mod experimental {
    pub use monocle_core::{
        first_of, first_of2, Channel, FirstOf, FirstOf2, RecvError, RecvFuture, RecvStream,
        SendError, SendFuture, TryRecvError, TrySendError, Winner,
    };
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
