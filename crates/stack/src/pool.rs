//! [`Loops`]: one event loop per thread, for using more than one core.

use std::fmt;
use std::future::Future;
use std::io;
use std::thread::JoinHandle as ThreadHandle;

use crate::eventloop::{self, Builder};
use crate::handle::{Handle, RemoteJoinHandle};

/// A set of event loops, each on its own thread (thread-per-core).
///
/// Launch work onto a chosen loop with [`handle`](Loops::handle) and
/// [`Handle::spawn`], or onto every loop with [`spawn_on_all`](Loops::spawn_on_all).
/// A network service added on all loops shares its port through `SO_REUSEPORT`.
/// Dropping `Loops` halts the loops and joins their threads.
///
/// ```
/// use monocle_stack::{block_on, Loops};
///
/// let loops = Loops::start(2).unwrap();
/// let names = loops.spawn_on_all(|| async { std::thread::current().name().unwrap().to_owned() });
/// let names: Vec<_> = names.into_iter().map(|h| block_on(h).unwrap()).collect();
/// assert_eq!(names, ["monocle-loop-0", "monocle-loop-1"]);
/// ```
pub struct Loops {
    handles: Vec<Handle>,
    threads: Vec<ThreadHandle<()>>,
}

impl Loops {
    /// Starts `n` loops with the default settings.
    ///
    /// # Errors
    ///
    /// Fails if a thread or a reactor cannot be created.
    pub fn start(n: usize) -> io::Result<Loops> {
        Loops::start_with(n, &Builder::new())
    }

    /// Starts one loop per available core.
    ///
    /// # Errors
    ///
    /// Fails if a thread or a reactor cannot be created.
    pub fn per_core() -> io::Result<Loops> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        Loops::start(n)
    }

    /// Starts `n` loops configured by `builder`; loop `i` is named
    /// `monocle-loop-i` unless the builder names them.
    ///
    /// # Errors
    ///
    /// Fails if a thread or a reactor cannot be created.
    pub fn start_with(n: usize, builder: &Builder) -> io::Result<Loops> {
        let mut loops = Loops {
            handles: Vec::with_capacity(n),
            threads: Vec::with_capacity(n),
        };
        for i in 0..n {
            let mut builder = builder.clone();
            builder.pooled = true;
            let thread_name = format!("monocle-loop-{i}");
            let (tx, rx) = std::sync::mpsc::channel();
            let thread =
                std::thread::Builder::new()
                    .name(thread_name)
                    .spawn(move || match builder.install() {
                        Ok(handle) => {
                            let _ = tx.send(Ok(handle));
                            eventloop::run();
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    })?;
            loops.threads.push(thread);
            let handle = rx.recv().map_err(|_| {
                io::Error::other("an event loop thread ended before it started its loop")
            })??;
            loops.handles.push(handle);
        }
        Ok(loops)
    }

    /// How many loops there are.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// The handle of loop `i`.
    ///
    /// # Panics
    ///
    /// Panics if `i >= self.len()`.
    pub fn handle(&self, i: usize) -> &Handle {
        &self.handles[i]
    }

    /// The handles of all loops.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Starts one o-routine on every loop, built there by `make`.
    pub fn spawn_on_all<M, F>(&self, make: M) -> Vec<RemoteJoinHandle<F::Output>>
    where
        M: Fn() -> F + Send + Sync + Clone + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        self.handles
            .iter()
            .map(|h| {
                let make = make.clone();
                h.spawn(make)
            })
            .collect()
    }

    /// Halts every loop and waits for their threads to end.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for h in &self.handles {
            h.halt();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Loops {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for Loops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loops")
            .field("loops", &self.handles)
            .finish()
    }
}
