//! monocle's TCP layer: connections, services and clients on the monocle event loop.
//!
//! ```
//! use monocle_network::{add_service, connect, Connection, ConnectionLost, Service};
//!
//! async fn echo(mut conn: Connection) -> Result<(), ConnectionLost> {
//!     loop {
//!         let data = conn.read_some().await?.to_vec();
//!         conn.write(&data).await?;
//!     }
//! }
//!
//! monocle_stack::block_on(async {
//!     let svc = add_service(Service::new(echo, 0).bind_addr([127, 0, 0, 1]))?;
//!     let mut conn = connect("127.0.0.1", svc.port()).await?;
//!     conn.write(b"ping").await?;
//!     assert_eq!(conn.read(4).await?, b"ping");
//!     svc.stop();
//!     Ok::<_, monocle_network::Error>(())
//! })
//! .unwrap();
//! ```
//!
//! * [`Connection`]: buffered reads served from the connection's own buffer
//!   ([`read_some`](Connection::read_some), [`read`](Connection::read),
//!   [`read_until`](Connection::read_until), [`readline`](Connection::readline),
//!   whose lines are bounded by [`set_max_buffer`](Connection::set_max_buffer)),
//!   writes that wait until flushed, a per-connection timeout, and futures-io's
//!   `AsyncRead`, `AsyncBufRead` and `AsyncWrite`.
//! * [`Service`] with [`add_service`] (this loop) or [`add_service_on`] (every loop
//!   of a [`Loops`](monocle_stack::Loops), sharing the port through `SO_REUSEPORT`);
//!   [`ServiceHandle::stop`] stops accepting. An accept that fails (out of file
//!   descriptors, say) is logged and retried after a pause, counted by
//!   [`ServiceHandle::accept_errors`].
//! * [`Client`] and [`connect`]: outgoing connections by name or address.
//! * [`ConnectionLost`]: the matchable error of a connection that went away, with
//!   its [`Reason`]; [`Error`] for connecting and binding. Both convert to and from
//!   `std::io::Error`. A failed write ends only the sending side: what the peer
//!   sent before is still read (see [`Connection`]). [`is_reset`] tells a
//!   reset, after which what was read may be cut short, from a close;
//!   [`copy_error`] gives an error kept to be given again, OS error code and
//!   `ConnectionLost` included.
//! * `tls` feature: TLS services and clients on rustls, with the same `Connection`.
//!
//! # Implementation
//!
//! Sockets are registered with the current loop's reactor through
//! [`monocle_stack::reactor::Source`], so both reactor backends (edge-triggered epoll
//! and async-io) work. A read that comes back shorter than the space offered means
//! the socket is drained: the next read waits for readiness instead of trying, so
//! an echo round trip costs one `recvfrom` and one `sendto`, plus the `epoll_wait`
//! the loop makes anyway.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

mod client;
mod connection;
mod error;
mod service;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;

pub use client::{connect, Client};
pub use connection::Connection;
pub use error::{copy_error, is_reset, ConnectionLost, Error, Reason, Result};
pub use service::{add_service, add_service_on, HandlerOutput, Service, ServiceHandle};
