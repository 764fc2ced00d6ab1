//! Shared pieces of the comparison harness: the runtime abstraction the
//! workloads are written against, one implementation per peer, and small
//! helpers (a deterministic PRNG, RSS reading).
//!
//! The workloads live in `src/bin/loop_bench.rs`; see `README.md` for what each
//! row measures and how to run it.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

/// What a workload needs from an executor. Every peer implements it with its
/// own native primitives, so the workloads are the same code for all of them.
pub trait Rt: Clone + 'static {
    /// Handle of a spawned task; awaiting it waits for the task's end.
    type Join: Future<Output = ()>;
    /// Sending half of a bounded channel of capacity 1.
    type Tx: Send + 'static;
    /// Receiving half of a bounded channel of capacity 1.
    type Rx: Send + 'static;

    /// Spawns a task (futures are `Send` so that tokio's `tokio::spawn` fast
    /// path can be used; the others do not need it).
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, f: F) -> Self::Join;
    /// Spawns a task and forgets it; it keeps running (or stays parked).
    fn spawn_detached<F: Future<Output = ()> + Send + 'static>(&self, f: F);
    /// Yields to the scheduler once.
    fn yield_now() -> impl Future<Output = ()> + Send;
    /// A timer that registers on its first poll and completes after `d`.
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send;
    /// A channel of capacity 1.
    fn channel() -> (Self::Tx, Self::Rx);
    /// Sends `v`, waiting for room.
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = ()> + Send + '_;
    /// Receives one value.
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = u64> + Send + '_;
}

/// monocle's event loop (`launch`, `next_tick`, `sleep`, `Channel`).
#[derive(Clone, Copy, Debug)]
pub struct Monocle;

impl Rt for Monocle {
    type Join = monocle_stack::JoinHandle<()>;
    type Tx = monocle_core::Channel<u64>;
    type Rx = monocle_core::Channel<u64>;

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, f: F) -> Self::Join {
        monocle_stack::launch(f)
    }
    fn spawn_detached<F: Future<Output = ()> + Send + 'static>(&self, f: F) {
        monocle_stack::launch(f).detach();
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        monocle_stack::util::next_tick()
    }
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        monocle_stack::util::sleep(d)
    }
    fn channel() -> (Self::Tx, Self::Rx) {
        let ch = monocle_core::Channel::new(1);
        (ch.clone(), ch)
    }
    async fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).await.expect("channel closed");
    }
    async fn recv(rx: &mut Self::Rx) -> u64 {
        rx.recv().await.expect("channel closed")
    }
}

/// Adapts a tokio `JoinHandle` to the `()` output the workloads expect.
#[derive(Debug)]
pub struct TokioJoin(tokio::task::JoinHandle<()>);

impl Future for TokioJoin {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.expect("task failed"))
    }
}

/// tokio's current-thread runtime, spawning with `tokio::spawn` (its fast
/// path), or with `tokio::task::spawn_local` inside a `LocalSet` when `local`.
#[derive(Clone, Copy, Debug)]
pub struct Tokio {
    /// Spawn with `spawn_local` (the caller runs inside a `LocalSet`).
    pub local: bool,
}

impl Rt for Tokio {
    type Join = TokioJoin;
    type Tx = tokio::sync::mpsc::Sender<u64>;
    type Rx = tokio::sync::mpsc::Receiver<u64>;

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, f: F) -> Self::Join {
        if self.local {
            TokioJoin(tokio::task::spawn_local(f))
        } else {
            TokioJoin(tokio::spawn(f))
        }
    }
    fn spawn_detached<F: Future<Output = ()> + Send + 'static>(&self, f: F) {
        drop(self.spawn(f));
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(d)
    }
    fn channel() -> (Self::Tx, Self::Rx) {
        tokio::sync::mpsc::channel(1)
    }
    async fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).await.expect("channel closed");
    }
    async fn recv(rx: &mut Self::Rx) -> u64 {
        rx.recv().await.expect("channel closed")
    }
}

/// async-executor's `LocalExecutor`, with async-channel and async-io's `Timer`
/// (async-executor has no timers of its own).
#[derive(Clone, Debug)]
pub struct AsyncExecutor(pub Rc<async_executor::LocalExecutor<'static>>);

impl Rt for AsyncExecutor {
    type Join = async_executor::Task<()>;
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, f: F) -> Self::Join {
        self.0.spawn(f)
    }
    fn spawn_detached<F: Future<Output = ()> + Send + 'static>(&self, f: F) {
        self.0.spawn(f).detach();
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        futures_lite::future::yield_now()
    }
    async fn sleep(d: Duration) {
        async_io::Timer::after(d).await;
    }
    fn channel() -> (Self::Tx, Self::Rx) {
        async_channel::bounded(1)
    }
    async fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).await.expect("channel closed");
    }
    async fn recv(rx: &mut Self::Rx) -> u64 {
        rx.recv().await.expect("channel closed")
    }
}

/// A small deterministic PRNG (xorshift64*), so every peer gets the same
/// sequence of timer durations.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        lo + (x >> 32) % (hi - lo + 1)
    }
}

/// The resident set size of this process in bytes (`VmRSS` of
/// `/proc/self/status`), or `None` where that file does not exist.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
