//! TCP echo over loopback: monocle-network on monocle's loop (both reactor
//! backends) against tokio's current-thread runtime, in one process run.
//!
//! ```text
//! echo_bench [--quick] [--reps N] [--syscalls [--syscall-rounds N]]
//! echo_bench --peer PEER --conns C --rounds N     # one peer, one run (for strace/perf)
//! ```
//!
//! Shape (the same for every peer): client and server are in the same process,
//! on the same thread, on the same loop or runtime. Each client writes a
//! 16-byte message and waits until the 16 bytes come back, `rounds` times; the
//! server echoes whatever it reads. See `benches/README.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use monocle_network::{add_service, connect, Connection, ConnectionLost, Service};
use monocle_stack::eventloop::Builder;
use monocle_stack::reactor::ReactorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Size of one echoed message.
const MSG: usize = 16;
/// Size of the server's (and tokio client's) read buffer: bigger than a
/// message, so that a read is short and tells each runtime the socket is drained.
const BUF: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    MonocleEpoll,
    MonocleAsyncIo,
    Tokio,
}

const PEERS: [Peer; 3] = [Peer::MonocleEpoll, Peer::MonocleAsyncIo, Peer::Tokio];

impl Peer {
    fn key(self) -> &'static str {
        match self {
            Peer::MonocleEpoll => "monocle_epoll",
            Peer::MonocleAsyncIo => "monocle_async_io",
            Peer::Tokio => "tokio",
        }
    }

    fn parse(s: &str) -> Option<Peer> {
        PEERS.into_iter().find(|p| p.key() == s)
    }
}

// ---------------------------------------------------------------- monocle

async fn monocle_echo_server(mut conn: Connection) -> Result<(), ConnectionLost> {
    let mut buf = [0u8; BUF];
    loop {
        let n = conn.read_into(&mut buf).await?;
        conn.write(&buf[..n]).await?;
    }
}

async fn monocle_client(mut conn: Connection, rounds: usize) {
    let msg = [7u8; MSG];
    for _ in 0..rounds {
        conn.write(&msg).await.expect("client write");
        let reply = conn.read(MSG).await.expect("client read");
        debug_assert_eq!(reply, &msg);
    }
}

async fn monocle_run(conns: usize, rounds: usize) -> Duration {
    let svc = add_service(Service::new(monocle_echo_server, 0).bind_addr([127, 0, 0, 1]))
        .expect("cannot start the echo service");
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        clients.push(
            connect("127.0.0.1", svc.port())
                .await
                .expect("cannot connect"),
        );
    }
    let start = Instant::now();
    let handles: Vec<_> = clients
        .into_iter()
        .map(|c| monocle_stack::launch(monocle_client(c, rounds)))
        .collect();
    for h in handles {
        h.await;
    }
    let elapsed = start.elapsed();
    svc.stop();
    elapsed
}

// ---------------------------------------------------------------- tokio

async fn tokio_echo_server(mut s: tokio::net::TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; BUF];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n]).await?;
    }
}

async fn tokio_client(mut s: tokio::net::TcpStream, rounds: usize) {
    let msg = [7u8; MSG];
    let mut buf = [0u8; BUF];
    for _ in 0..rounds {
        s.write_all(&msg).await.expect("client write");
        let mut got = 0;
        while got < MSG {
            let n = s.read(&mut buf[got..]).await.expect("client read");
            assert!(n > 0, "server closed");
            got += n;
        }
        debug_assert_eq!(&buf[..MSG], &msg);
    }
}

async fn tokio_run(conns: usize, rounds: usize) -> Duration {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("cannot bind");
    let addr = listener.local_addr().expect("no local address");
    let acceptor = tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                continue;
            };
            s.set_nodelay(true).expect("nodelay");
            tokio::spawn(tokio_echo_server(s));
        }
    });
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        let s = tokio::net::TcpStream::connect(addr)
            .await
            .expect("cannot connect");
        s.set_nodelay(true).expect("nodelay");
        clients.push(s);
    }
    let start = Instant::now();
    let handles: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(tokio_client(c, rounds)))
        .collect();
    for h in handles {
        h.await.expect("client task failed");
    }
    let elapsed = start.elapsed();
    acceptor.abort();
    elapsed
}

// ---------------------------------------------------------------- running

/// Runs one measurement on a fresh thread with a fresh loop or runtime.
fn run_once(peer: Peer, conns: usize, rounds: usize) -> Duration {
    std::thread::spawn(move || match peer {
        Peer::MonocleEpoll | Peer::MonocleAsyncIo => {
            let kind = if peer == Peer::MonocleEpoll {
                ReactorKind::Epoll
            } else {
                ReactorKind::AsyncIo
            };
            Builder::new()
                .reactor(kind)
                .name("echo")
                .install()
                .expect("cannot create the monocle loop");
            monocle_stack::block_on(monocle_run(conns, rounds))
        }
        Peer::Tokio => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("cannot build the tokio runtime")
            .block_on(tokio_run(conns, rounds)),
    })
    .join()
    .expect("benchmark thread panicked")
}

struct Row {
    name: &'static str,
    conns: usize,
    /// Round trips per connection.
    rounds: usize,
}

impl Row {
    fn total(&self) -> usize {
        self.conns * self.rounds
    }
}

/// How long one child run may take before it is declared hung and killed.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// One run of `peer` in a fresh child process (`--peer` mode); `None` if it
/// hung (was killed after [`CHILD_DEADLINE`]) or failed. A child per run keeps
/// the peers apart, and a peer that hangs cannot stall the whole table.
fn run_child(peer: Peer, conns: usize, rounds: usize) -> Option<Duration> {
    let exe = std::env::current_exe().expect("cannot find own executable");
    let mut child = Command::new(exe)
        .args(["--peer", peer.key()])
        .args(["--conns", &conns.to_string()])
        .args(["--rounds", &rounds.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cannot run the child process");
    let deadline = Instant::now() + CHILD_DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("cannot wait for the child") {
            if !status.success() {
                eprintln!("  {} failed: {status}", peer.key());
                return None;
            }
            break;
        }
        if Instant::now() > deadline {
            eprintln!(
                "  {} hung: no result after {} s, killed",
                peer.key(),
                CHILD_DEADLINE.as_secs()
            );
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut text).ok()?;
    text.split_whitespace()
        .find_map(|f| f.strip_prefix("total_ns="))
        .and_then(|v| v.parse().ok())
        .map(Duration::from_nanos)
}

/// What one row measured: ns per round trip of each selected peer, best of
/// the reps (NaN for the others, or if a peer hung), and the ratio
/// monocle-epoll / tokio of each rep that ran both.
struct RowResult {
    best: [f64; 3],
    /// epoll/tokio within each rep: the two ran back to back, so a change in
    /// background load shifts both. Their spread shows the noise.
    paired: Vec<f64>,
}

impl RowResult {
    /// The median of the paired ratios, and how many are below 1.
    fn paired_summary(&self) -> Option<(f64, usize)> {
        if self.paired.is_empty() {
            return None;
        }
        let mut v = self.paired.clone();
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Some((median, v.iter().filter(|&&r| r < 1.0).count()))
    }
}

/// Runs a row `reps` times. The repetitions are interleaved (every peer once,
/// then every peer again), so that a change in background load hits all peers
/// alike instead of one.
fn measure_row(row: &Row, reps: usize, only: &[Peer]) -> RowResult {
    let mut best: [Option<Duration>; 3] = [None; 3];
    let mut hung = [false; 3];
    let mut paired = Vec::new();
    for rep in 0..reps.max(1) {
        let mut this_rep: [Option<Duration>; 3] = [None; 3];
        for (i, &p) in PEERS.iter().enumerate() {
            if hung[i] || (!only.is_empty() && !only.contains(&p)) {
                continue;
            }
            // A hung peer is marked NaN below and not run again.
            match run_child(p, row.conns, row.rounds) {
                Some(d) => {
                    best[i] = Some(best[i].map_or(d, |b| b.min(d)));
                    this_rep[i] = Some(d);
                    eprintln!(
                        "  {:<14} {:<18} rep {} {:.0} ns/rt",
                        row.name,
                        p.key(),
                        rep + 1,
                        d.as_nanos() as f64 / row.total() as f64
                    );
                }
                None => hung[i] = true,
            }
        }
        if let (Some(epoll), Some(tokio)) = (this_rep[0], this_rep[2]) {
            paired.push(epoll.as_secs_f64() / tokio.as_secs_f64());
        }
    }
    RowResult {
        best: best.map(|b| match b {
            Some(b) => b.as_nanos() as f64 / row.total() as f64,
            None => f64::NAN,
        }),
        paired,
    }
}

// ---------------------------------------------------------------- syscalls

/// Per-syscall call counts of one strace'd child run.
fn strace_counts(peer: Peer, conns: usize, rounds: usize) -> Option<BTreeMap<String, u64>> {
    let exe = std::env::current_exe().expect("cannot find own executable");
    let out = std::env::temp_dir().join(format!(
        "echo_bench_strace_{}_{}_{}.txt",
        std::process::id(),
        peer.key(),
        rounds
    ));
    let status = Command::new("strace")
        .arg("-c")
        .arg("-f")
        .arg("-o")
        .arg(&out)
        .arg(&exe)
        .args(["--peer", peer.key()])
        .args(["--conns", &conns.to_string()])
        .args(["--rounds", &rounds.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("cannot run strace (is it installed? apt-get install strace)");
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    if !status.success() {
        eprintln!("  strace'd {} failed or hung: {status}", peer.key());
        return None;
    }
    Some(parse_strace(&text))
}

/// Parses `strace -c` output: `% time seconds usecs/call calls [errors] syscall`.
fn parse_strace(text: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || f[0].parse::<f64>().is_err() {
            continue;
        }
        let (Some(name), Ok(calls)) = (f.last(), f[3].parse::<u64>()) else {
            continue;
        };
        m.insert((*name).to_string(), calls);
    }
    m
}

/// Syscalls per round trip: a run of `rounds` minus a run of 0 rounds (same
/// setup: loop, listener, connections), divided by the round trips.
fn syscalls_per_rt(peer: Peer, conns: usize, rounds: usize) -> (f64, String) {
    let (Some(full), Some(base)) = (
        strace_counts(peer, conns, rounds),
        strace_counts(peer, conns, 0),
    ) else {
        return (f64::NAN, " hung or failed".to_string());
    };
    let total_rt = (conns * rounds) as f64;
    let mut per: Vec<(String, f64)> = full
        .iter()
        .filter(|(name, _)| name.as_str() != "total")
        .map(|(name, &c)| {
            let b = base.get(name).copied().unwrap_or(0);
            (name.clone(), (c as f64 - b as f64) / total_rt)
        })
        .filter(|(_, v)| *v >= 0.005)
        .collect();
    per.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = per.iter().map(|(_, v)| v).sum();
    let mut detail = String::new();
    for (name, v) in &per {
        let _ = write!(detail, " {name}={v:.2}");
    }
    (total, detail)
}

// ---------------------------------------------------------------- main

fn usage() -> ! {
    eprintln!(
        "usage: echo_bench [--quick] [--reps N] [--only PEER]... [--syscalls] [--syscall-rounds N]\n       \
         echo_bench --peer PEER --conns C --rounds N\n\
         PEER: monocle_epoll, monocle_async_io, tokio"
    );
    std::process::exit(2);
}

fn num(v: Option<String>) -> usize {
    v.and_then(|v| v.parse().ok()).unwrap_or_else(|| usage())
}

fn main() {
    let mut scale = 1;
    let mut reps = 3;
    let mut syscalls = false;
    let mut syscall_rounds = 20_000;
    let mut single: Option<Peer> = None;
    let mut conns = 1;
    let mut rounds = 0;
    let mut only: Vec<Peer> = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => scale = 10,
            "--reps" => reps = num(it.next()),
            "--syscalls" => syscalls = true,
            "--syscall-rounds" => syscall_rounds = num(it.next()),
            "--peer" => {
                single = Some(
                    it.next()
                        .and_then(|v| Peer::parse(&v))
                        .unwrap_or_else(|| usage()),
                )
            }
            "--conns" => conns = num(it.next()),
            "--rounds" => rounds = num(it.next()),
            "--only" => only.push(
                it.next()
                    .and_then(|v| Peer::parse(&v))
                    .unwrap_or_else(|| usage()),
            ),
            _ => usage(),
        }
    }

    if let Some(peer) = single {
        // One peer, one run: for `strace -c -f` and `perf record`. A peer that
        // hangs ends the process (even under strace, which a kill would miss).
        std::thread::spawn(|| {
            std::thread::sleep(CHILD_DEADLINE);
            eprintln!(
                "echo_bench: no result after {} s, giving up",
                CHILD_DEADLINE.as_secs()
            );
            std::process::exit(124);
        });
        let d = run_once(peer, conns, rounds);
        let total = conns * rounds;
        println!(
            "peer={} conns={conns} rounds={rounds} total_ns={} ns_per_rt={:.1}",
            peer.key(),
            d.as_nanos(),
            if total > 0 {
                d.as_nanos() as f64 / total as f64
            } else {
                0.0
            }
        );
        return;
    }

    let rows = [
        Row {
            name: "echo-1conn",
            conns: 1,
            rounds: 200_000 / scale,
        },
        Row {
            name: "echo-100conn",
            conns: 100,
            rounds: 4_000 / scale,
        },
    ];

    println!(
        "\nTCP echo over loopback, 16-byte messages, client and server on one thread \
         ({reps} reps, best kept{})\n",
        if scale > 1 { ", --quick" } else { "" }
    );
    println!(
        "{:<14} {:>9} {:>7} {:>14} {:>16} {:>10} {:>11} {:>9}",
        "workload",
        "round trips",
        "unit",
        "monocle-epoll",
        "monocle-async-io",
        "tokio",
        "epoll/tokio",
        "aio/tokio"
    );
    let mut machine = Vec::new();
    for row in &rows {
        let result = measure_row(row, reps, &only);
        let ns = result.best;
        println!(
            "{:<14} {:>11} {:>7} {:>14.0} {:>16.0} {:>10.0} {:>11.3} {:>9.3}",
            row.name,
            row.total(),
            "ns/rt",
            ns[0],
            ns[1],
            ns[2],
            ns[0] / ns[2],
            ns[1] / ns[2]
        );
        println!(
            "{:<14} {:>11} {:>7} {:>14.0} {:>16.0} {:>10.0}",
            "",
            "",
            "rt/s",
            1e9 / ns[0],
            1e9 / ns[1],
            1e9 / ns[2]
        );
        let mut s = format!(
            "RESULT row={} conns={} round_trips={} unit=ns/rt",
            row.name,
            row.conns,
            row.total()
        );
        for (p, v) in PEERS.iter().zip(&ns) {
            let _ = write!(s, " {}={v:.1}", p.key());
        }
        let _ = write!(
            s,
            " epoll_vs_tokio={:.3} async_io_vs_tokio={:.3}",
            ns[0] / ns[2],
            ns[1] / ns[2]
        );
        if let Some((median, below)) = result.paired_summary() {
            let n = result.paired.len();
            println!(
                "{:<14} {:>11} {:>7} epoll/tokio within each rep: median {median:.3}, {below} of {n} below 1",
                "", "", "paired"
            );
            let _ = write!(
                s,
                " epoll_vs_tokio_paired_median={median:.3} paired_below_1={below}/{n}"
            );
        }
        machine.push(s);
    }
    println!(
        "\nratios: time per round trip, monocle / tokio (best runs; `paired`: within each rep); \
         < 1.000 means monocle is faster."
    );

    if syscalls {
        println!(
            "\nsyscalls per round trip (strace -c -f of a child running one peer; \
             a run of {syscall_rounds} round trips minus a run of 0, per round trip; \
             client and server together)\n"
        );
        for (name, c) in [("echo-1conn", 1), ("echo-100conn", 100)] {
            let r = (syscall_rounds / c).max(1);
            for p in PEERS {
                if !only.is_empty() && !only.contains(&p) {
                    continue;
                }
                let (total, detail) = syscalls_per_rt(p, c, r);
                println!(
                    "{name:<14} {:<18} {total:>6.2} /rt  ({})",
                    p.key(),
                    detail.trim()
                );
                machine.push(format!(
                    "SYSCALLS row={name} peer={} round_trips={} per_rt={total:.3}{detail}",
                    p.key(),
                    c * r
                ));
            }
        }
    }
    println!();
    for line in &machine {
        println!("{line}");
    }
}
