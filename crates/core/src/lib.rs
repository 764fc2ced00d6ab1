//! The o-routine primitives of monocle, usable with any executor.
//!
//! An *o-routine* is an `async fn` (or any future) run by an event loop. This crate
//! holds what o-routines use to talk to each other and that needs no executor and
//! no reactor: [`Callback`], a one-shot result that any number of o-routines can
//! await; [`Channel`], a Go-style channel whose capacity may be zero (a rendezvous);
//! [`first_of`], which waits for the first of several futures; and [`named`], which
//! gives an o-routine a name for diagnostics.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

mod name;

pub use name::{named, IntoOroutine, Named, OroutineExt};
