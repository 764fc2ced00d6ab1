//! Runs the same workloads on monocle's loop (both reactor backends), on
//! tokio's current-thread runtime and on async-executor's `LocalExecutor`, in
//! one process run, and prints a table of ns/op with ratios.
//!
//! ```text
//! cargo run --release -p monocle-benches --bin loop_bench [--quick] [--reps N] [FILTER...]
//! ```
//!
//! See `benches/README.md` for what each row measures.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::{pin, Pin};
use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::poll_once;
use monocle_benches::{rss_bytes, AsyncExecutor, Monocle, Rng, Rt, Tokio};
use monocle_stack::eventloop::Builder;
use monocle_stack::reactor::ReactorKind;

/// The executors compared, one column each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    MonocleEpoll,
    MonocleAsyncIo,
    Tokio,
    AsyncExecutor,
}

const PEERS: [Peer; 4] = [
    Peer::MonocleEpoll,
    Peer::MonocleAsyncIo,
    Peer::Tokio,
    Peer::AsyncExecutor,
];

impl Peer {
    fn label(self) -> &'static str {
        match self {
            Peer::MonocleEpoll => "monocle-epoll",
            Peer::MonocleAsyncIo => "monocle-async-io",
            Peer::Tokio => "tokio",
            Peer::AsyncExecutor => "async-executor",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Peer::MonocleEpoll => "monocle_epoll",
            Peer::MonocleAsyncIo => "monocle_async_io",
            Peer::Tokio => "tokio",
            Peer::AsyncExecutor => "async_executor",
        }
    }

    fn parse(s: &str) -> Option<Peer> {
        PEERS.into_iter().find(|p| p.key() == s)
    }
}

/// How a row sets its peers up.
#[derive(Clone, Copy, Debug, Default)]
struct Setup {
    /// Turn monocle's blocking-detection watchdog off.
    no_watchdog: bool,
    /// Spawn with `spawn_local` in a `LocalSet` on tokio.
    tokio_local: bool,
    /// Drive async-executor with `async_io::block_on` (which runs async-io's
    /// reactor on this thread, as `smol::block_on` does) instead of
    /// `futures_lite::future::block_on`; used by the timer rows.
    drive_io: bool,
}

/// A workload, written once against [`Rt`].
trait Workload: Sync {
    type Out: Send;
    fn run<R: Rt>(&self, rt: R) -> impl Future<Output = Self::Out>;
}

/// Runs `w` on a fresh thread with a fresh executor of `peer`.
fn run_on<W: Workload>(peer: Peer, setup: Setup, w: &W) -> W::Out {
    std::thread::scope(|s| {
        s.spawn(move || match peer {
            Peer::MonocleEpoll | Peer::MonocleAsyncIo => {
                let kind = if peer == Peer::MonocleEpoll {
                    ReactorKind::Epoll
                } else {
                    ReactorKind::AsyncIo
                };
                let mut b = Builder::new();
                b.reactor(kind).name("bench");
                if setup.no_watchdog {
                    b.blocking_threshold(None);
                }
                b.install().expect("cannot create the monocle loop");
                monocle_stack::block_on(w.run(Monocle))
            }
            Peer::Tokio => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("cannot build the tokio runtime");
                if setup.tokio_local {
                    let local = tokio::task::LocalSet::new();
                    rt.block_on(local.run_until(w.run(Tokio { local: true })))
                } else {
                    rt.block_on(w.run(Tokio { local: false }))
                }
            }
            Peer::AsyncExecutor => {
                let ex = Rc::new(async_executor::LocalExecutor::new());
                let fut = ex.run(w.run(AsyncExecutor(ex.clone())));
                if setup.drive_io {
                    async_io::block_on(fut)
                } else {
                    futures_lite::future::block_on(fut)
                }
            }
        })
        .join()
        .expect("benchmark thread panicked")
    })
}

// ---------------------------------------------------------------- workloads

/// Spawn `batch` trivial tasks, await them all, repeat until `n`.
struct SpawnJoin {
    n: usize,
    batch: usize,
}

impl Workload for SpawnJoin {
    type Out = Duration;
    async fn run<R: Rt>(&self, rt: R) -> Duration {
        let mut handles = Vec::with_capacity(self.batch);
        let start = Instant::now();
        for _ in 0..self.n / self.batch {
            for _ in 0..self.batch {
                handles.push(rt.spawn(async {}));
            }
            for h in handles.drain(..) {
                h.await;
            }
        }
        start.elapsed()
    }
}

/// One spawned task yields `n` times.
struct Yield {
    n: usize,
}

impl Workload for Yield {
    type Out = Duration;
    async fn run<R: Rt>(&self, rt: R) -> Duration {
        let n = self.n;
        let start = Instant::now();
        rt.spawn(async move {
            for _ in 0..n {
                R::yield_now().await;
            }
        })
        .await;
        start.elapsed()
    }
}

/// Two tasks bounce a value `n` times over two channels of capacity 1.
struct PingPong {
    n: usize,
}

impl Workload for PingPong {
    type Out = Duration;
    async fn run<R: Rt>(&self, rt: R) -> Duration {
        let n = self.n as u64;
        let (tx1, mut rx1) = R::channel();
        let (tx2, mut rx2) = R::channel();
        let start = Instant::now();
        let echo = rt.spawn(async move {
            for _ in 0..n {
                let v = R::recv(&mut rx1).await;
                R::send(&tx2, v).await;
            }
        });
        let driver = rt.spawn(async move {
            for i in 0..n {
                R::send(&tx1, i).await;
                let v = R::recv(&mut rx2).await;
                assert_eq!(v, i);
            }
        });
        driver.await;
        echo.await;
        start.elapsed()
    }
}

/// `n` tasks each sleep a pseudo-random 1..=50 ms; wait for all.
struct Timers {
    n: usize,
}

impl Workload for Timers {
    type Out = Duration;
    async fn run<R: Rt>(&self, rt: R) -> Duration {
        let mut rng = Rng::new(0x5eed_1234);
        let start = Instant::now();
        let handles: Vec<_> = (0..self.n)
            .map(|_| {
                let d = Duration::from_millis(rng.range(1, 50));
                rt.spawn(R::sleep(d))
            })
            .collect();
        for h in handles {
            h.await;
        }
        start.elapsed()
    }
}

/// `n` tasks that are polled once and then parked forever; RSS growth per task.
struct Park {
    n: usize,
}

impl Workload for Park {
    type Out = f64;
    async fn run<R: Rt>(&self, rt: R) -> f64 {
        // Let the executor settle (first allocations of its queues etc.).
        for _ in 0..10 {
            R::yield_now().await;
        }
        let before = rss_bytes().expect("no /proc/self/status");
        let started = Arc::new(AtomicUsize::new(0));
        for _ in 0..self.n {
            let started = started.clone();
            rt.spawn_detached(async move {
                started.fetch_add(1, Ordering::Relaxed);
                std::future::pending::<()>().await;
            });
        }
        while started.load(Ordering::Relaxed) < self.n {
            R::yield_now().await;
        }
        let after = rss_bytes().expect("no /proc/self/status");
        after.saturating_sub(before) as f64 / self.n as f64
    }
}

#[derive(Clone, Copy, Debug)]
enum TimerOp {
    /// Create a 1 ms sleep, poll it once (registering it), drop it (cancel).
    Cancel,
    /// Create `n` 1 ms sleeps, poll each once, then await them all.
    Fire,
}

/// `live` one-hour sleeps stay registered while `n` short timers are measured.
struct TimerLive {
    live: usize,
    n: usize,
    op: TimerOp,
    reps: usize,
}

impl Workload for TimerLive {
    type Out = Duration;
    async fn run<R: Rt>(&self, _rt: R) -> Duration {
        let mut parked = Vec::with_capacity(self.live);
        for _ in 0..self.live {
            let mut s = Box::pin(R::sleep(Duration::from_secs(3600)));
            assert!(poll_once(s.as_mut()).await.is_none());
            parked.push(s);
        }
        let short = Duration::from_millis(1);
        let mut best = Duration::MAX;
        for _ in 0..self.reps {
            let start = Instant::now();
            match self.op {
                TimerOp::Cancel => {
                    for _ in 0..self.n {
                        let mut s = pin!(R::sleep(short));
                        let _ = poll_once(s.as_mut()).await;
                    }
                }
                TimerOp::Fire => {
                    let mut all: Vec<Pin<Box<_>>> =
                        (0..self.n).map(|_| Box::pin(R::sleep(short))).collect();
                    for s in all.iter_mut() {
                        let _ = poll_once(s.as_mut()).await;
                    }
                    for s in all {
                        s.await;
                    }
                }
            }
            best = best.min(start.elapsed());
        }
        drop(parked);
        best
    }
}

// ---------------------------------------------------------------- rows

#[derive(Clone, Copy)]
enum Kind {
    SpawnJoin,
    Yield,
    PingPong,
    Timers,
    Park,
    TimerLive(TimerOp, usize),
}

struct Row {
    name: &'static str,
    kind: Kind,
    n: usize,
    setup: Setup,
}

/// One peer's result for one row.
#[derive(Clone, Copy, Debug)]
struct Cell {
    /// ns/op, or bytes per task for the memory rows.
    value: f64,
    /// Total wall time of the best run (timing rows only).
    total: Option<Duration>,
}

struct Opts {
    scale: usize,
    reps: usize,
    filters: Vec<String>,
    /// Only these peers (all when empty); for profiling one of them.
    peers: Vec<Peer>,
}

fn rows(o: &Opts) -> Vec<Row> {
    let s = o.scale;
    let plain = Setup::default();
    let local = Setup {
        tokio_local: true,
        ..plain
    };
    let timer = Setup {
        drive_io: true,
        ..plain
    };
    vec![
        Row {
            name: "spawn-join",
            kind: Kind::SpawnJoin,
            n: 1_000_000 / s,
            setup: plain,
        },
        Row {
            name: "spawn-join-localset",
            kind: Kind::SpawnJoin,
            n: 1_000_000 / s,
            setup: local,
        },
        Row {
            name: "yield",
            kind: Kind::Yield,
            n: 10_000_000 / s,
            setup: plain,
        },
        Row {
            name: "yield-no-watchdog",
            kind: Kind::Yield,
            n: 10_000_000 / s,
            setup: Setup {
                no_watchdog: true,
                ..plain
            },
        },
        Row {
            name: "ping-pong",
            kind: Kind::PingPong,
            n: 1_000_000 / s,
            setup: plain,
        },
        Row {
            name: "timers-1-50ms",
            kind: Kind::Timers,
            n: 100_000 / s,
            setup: timer,
        },
        Row {
            name: "park-memory",
            kind: Kind::Park,
            n: 1_000_000 / s,
            setup: plain,
        },
        Row {
            name: "park-memory-localset",
            kind: Kind::Park,
            n: 1_000_000 / s,
            setup: local,
        },
        Row {
            name: "timer-cancel-1k-live",
            kind: Kind::TimerLive(TimerOp::Cancel, 1_000 / s),
            n: 100_000 / s,
            setup: timer,
        },
        Row {
            name: "timer-cancel-1M-live",
            kind: Kind::TimerLive(TimerOp::Cancel, 1_000_000 / s),
            n: 100_000 / s,
            setup: timer,
        },
        Row {
            name: "timer-fire-1k-live",
            kind: Kind::TimerLive(TimerOp::Fire, 1_000 / s),
            n: 100_000 / s,
            setup: timer,
        },
        Row {
            name: "timer-fire-1M-live",
            kind: Kind::TimerLive(TimerOp::Fire, 1_000_000 / s),
            n: 100_000 / s,
            setup: timer,
        },
    ]
}

fn per_op(d: Duration, n: usize) -> Cell {
    Cell {
        value: d.as_nanos() as f64 / n as f64,
        total: Some(d),
    }
}

/// Best (smallest) of `reps` timed runs.
fn best_of(reps: usize, n: usize, mut f: impl FnMut() -> Duration) -> Cell {
    let best = (0..reps.max(1)).map(|_| f()).min().expect("reps >= 1");
    per_op(best, n)
}

fn measure(row: &Row, peer: Peer, o: &Opts) -> Cell {
    let (n, setup) = (row.n, row.setup);
    match row.kind {
        Kind::SpawnJoin => best_of(o.reps, n, || {
            run_on(peer, setup, &SpawnJoin { n, batch: 1000 })
        }),
        Kind::Yield => best_of(o.reps, n, || run_on(peer, setup, &Yield { n })),
        Kind::PingPong => best_of(o.reps, n, || run_on(peer, setup, &PingPong { n })),
        Kind::Timers => best_of(o.reps, n, || run_on(peer, setup, &Timers { n })),
        Kind::Park => Cell {
            value: park_in_child(peer, n, setup),
            total: None,
        },
        Kind::TimerLive(op, live) => per_op(
            run_on(
                peer,
                setup,
                &TimerLive {
                    live,
                    n,
                    op,
                    reps: o.reps,
                },
            ),
            n,
        ),
    }
}

/// Runs the memory workload in a fresh process so that one peer's
/// allocations do not pollute another's numbers.
fn park_in_child(peer: Peer, n: usize, setup: Setup) -> f64 {
    let exe = std::env::current_exe().expect("cannot find own executable");
    let mut cmd = Command::new(exe);
    cmd.args(["--child-park", peer.key(), &n.to_string()]);
    if setup.tokio_local {
        cmd.arg("--local");
    }
    let out = cmd.output().expect("cannot run the child process");
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("bytes_per_task="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("bad child output: {text}"))
}

fn child_park(args: &[String]) {
    let peer = Peer::parse(&args[0]).expect("unknown peer");
    let n: usize = args[1].parse().expect("bad count");
    let setup = Setup {
        tokio_local: args.iter().any(|a| a == "--local"),
        ..Setup::default()
    };
    let bytes = run_on(peer, setup, &Park { n });
    println!("bytes_per_task={bytes:.1}");
    // The parked tasks never end: leave without tearing the executor down.
    std::process::exit(0);
}

// ---------------------------------------------------------------- output

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

fn unit(row: &Row) -> &'static str {
    match row.kind {
        Kind::Park => "B/task",
        _ => "ns/op",
    }
}

fn fmt_val(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn header() -> String {
    format!(
        "{:<22} {:>9} {:>7} {:>14} {:>16} {:>10} {:>14} {:>11} {:>9} {:>8} {:>6}",
        "workload",
        "n",
        "unit",
        "monocle-epoll",
        "monocle-async-io",
        "tokio",
        "async-executor",
        "epoll/tokio",
        "aio/tokio",
        "epoll/ae",
        "aio/ae"
    )
}

fn table_line(name: &str, n: usize, unit: &str, c: &[Cell; 4]) -> String {
    format!(
        "{:<22} {:>9} {:>7} {:>14} {:>16} {:>10} {:>14} {:>11.2} {:>9.2} {:>8.2} {:>6.2}",
        name,
        n,
        unit,
        fmt_val(c[0].value),
        fmt_val(c[1].value),
        fmt_val(c[2].value),
        fmt_val(c[3].value),
        ratio(c[0].value, c[2].value),
        ratio(c[1].value, c[2].value),
        ratio(c[0].value, c[3].value),
        ratio(c[1].value, c[3].value),
    )
}

fn machine_line(row: &Row, c: &[Cell; 4]) -> String {
    let mut s = format!("RESULT row={} n={} unit={}", row.name, row.n, unit(row));
    for (peer, cell) in PEERS.iter().zip(c) {
        let _ = write!(s, " {}={:.2}", peer.key(), cell.value);
    }
    for (peer, cell) in PEERS.iter().zip(c) {
        if let Some(t) = cell.total {
            let _ = write!(s, " {}_total_ms={:.3}", peer.key(), t.as_secs_f64() * 1e3);
        }
    }
    let _ = write!(
        s,
        " epoll_vs_tokio={:.3} async_io_vs_tokio={:.3} epoll_vs_async_executor={:.3} async_io_vs_async_executor={:.3}",
        ratio(c[0].value, c[2].value),
        ratio(c[1].value, c[2].value),
        ratio(c[0].value, c[3].value),
        ratio(c[1].value, c[3].value),
    );
    s
}

fn usage() -> ! {
    eprintln!(
        "usage: loop_bench [--quick] [--reps N] [--peer PEER]... [FILTER...]\n\
         Runs every row whose name contains one of the FILTERs (all rows without one),\n\
         on every peer or only on the --peer ones (monocle_epoll, monocle_async_io,\n\
         tokio, async_executor)."
    );
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child-park") {
        child_park(&args[1..]);
        return;
    }
    let mut o = Opts {
        scale: 1,
        reps: 3,
        filters: Vec::new(),
        peers: Vec::new(),
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => o.scale = 10,
            "--reps" => {
                o.reps = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--peer" => o.peers.push(
                it.next()
                    .and_then(|v| Peer::parse(&v))
                    .unwrap_or_else(|| usage()),
            ),
            "-h" | "--help" => usage(),
            f if f.starts_with('-') => usage(),
            f => o.filters.push(f.to_string()),
        }
    }

    let rows: Vec<Row> = rows(&o)
        .into_iter()
        .filter(|r| o.filters.is_empty() || o.filters.iter().any(|f| r.name.contains(f.as_str())))
        .collect();
    if rows.is_empty() {
        eprintln!("no row matches the filter");
        std::process::exit(2);
    }

    let mut table = vec![header()];
    let mut machine = Vec::new();
    for row in &rows {
        let mut cells = [Cell {
            value: f64::NAN,
            total: None,
        }; 4];
        for (i, peer) in PEERS.into_iter().enumerate() {
            if !o.peers.is_empty() && !o.peers.contains(&peer) {
                continue;
            }
            cells[i] = measure(row, peer, &o);
            eprintln!(
                "  {:<22} {:<16} {} {}",
                row.name,
                peer.label(),
                fmt_val(cells[i].value),
                unit(row)
            );
        }
        table.push(table_line(row.name, row.n, unit(row), &cells));
        if matches!(row.kind, Kind::Timers) {
            let ms = cells.map(|c| Cell {
                value: c.total.map_or(f64::NAN, |t| t.as_secs_f64() * 1e3),
                total: None,
            });
            table.push(table_line("  (total wall time)", row.n, "ms", &ms));
        }
        machine.push(machine_line(row, &cells));
    }

    println!(
        "\nmonocle loop vs tokio current-thread vs async-executor LocalExecutor \
         ({} reps, best kept{})\n",
        o.reps,
        if o.scale > 1 { ", --quick" } else { "" }
    );
    for line in &table {
        println!("{line}");
    }
    println!(
        "\nratios: < 1.00 means monocle is faster (or, for B/task, smaller). \
         tokio column of *-localset rows: spawn_local in a LocalSet; \
         async-executor timers: async-io Timer driven by async_io::block_on."
    );
    println!();
    for line in &machine {
        println!("{line}");
    }
}
