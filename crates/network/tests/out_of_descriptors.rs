//! The accept loop survives the process running out of file descriptors (`EMFILE`).
//!
//! Lowering `RLIMIT_NOFILE` and using up every descriptor would disturb the other
//! tests of this binary, so the parent test re-runs this test binary with only
//! [`emfile_child`] selected and [`CHILD_ENV`] set, and checks the child's exit
//! status and output. Run without the variable, `emfile_child` does nothing.

mod common;

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{echo_service, run};
use monocle_network::{connect, Connection};
use monocle_stack::util::sleep;
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Set in the child process: `emfile_child` runs only there.
const CHILD_ENV: &str = "MONOCLE_NETWORK_EMFILE_CHILD";
/// The accept loop's pause after a failed accept (`ACCEPT_RETRY` in the crate).
const RETRY: Duration = Duration::from_millis(50);
/// How long the child lets the accept loop fail.
const STARVED_FOR: Duration = Duration::from_millis(500);
const EMFILE: i32 = 24;

/// Records of this crate's log lines, as "LEVEL message".
static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("monocle_network")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}", record.level(), record.args());
            LOGS.lock().unwrap().push(line);
        }
    }

    fn flush(&self) {}
}

/// CPU time (user + system) of the whole process so far, from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The command name (field 2) may hold spaces; the fields after it don't.
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // utime and stime are fields 14 and 15, counted from 1 with the pid.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = rustix::param::clock_ticks_per_second();
    Duration::from_nanos(ticks * 1_000_000_000 / per_second)
}

/// One echo round trip over a new connection.
async fn round_trip(addr: SocketAddr, line: &[u8]) {
    let mut conn = connect("127.0.0.1", addr.port()).await.unwrap();
    conn.set_timeout(Some(Duration::from_secs(5)));
    conn.write(line).await.unwrap();
    assert_eq!(conn.readline().await.unwrap(), line);
}

#[test]
fn accept_loop_survives_running_out_of_descriptors() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "emfile_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!(
        "status: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(out.status.success(), "the child failed\n{report}");
    // The child ran the real test (not zero tests, not the no-op branch).
    assert!(stdout.contains("1 passed"), "{report}");
    assert!(stdout.contains("emfile child: ok"), "{report}");
    assert!(
        stdout.contains("log: ERROR service 127.0.0.1:")
            && stdout.contains("accept failed: ")
            && stdout.contains(&format!("os error {EMFILE}")),
        "{report}"
    );
}

/// Runs in the child process only (see the module docs).
#[test]
fn emfile_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
    let (errors, starved, cpu) = run(async {
        let svc = echo_service();
        let addr = svc.local_addr();
        // Warm up, so that the loop, its reactor and its timers hold whatever
        // descriptors they need before there are none left.
        round_trip(addr, b"warm up\n").await;
        sleep(Duration::from_millis(5)).await;
        assert_eq!(svc.accept_errors(), 0);

        let cpu_before = cpu_time();
        let limit = getrlimit(Resource::Nofile);
        let low = limit.current.map_or(256, |c| c.min(256));
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(low),
                maximum: limit.maximum,
            },
        )
        .unwrap();
        // Take every free descriptor.
        let mut held = Vec::new();
        let full = loop {
            match File::open("/dev/null") {
                Ok(file) => held.push(file),
                Err(e) => break e,
            }
            assert!(held.len() <= 256, "RLIMIT_NOFILE had no effect");
        };
        assert_eq!(full.raw_os_error(), Some(EMFILE), "{full}");
        // Give one back for a client socket. The kernel completes its handshake
        // and queues it on the listener; accepting it needs one more descriptor.
        drop(held.pop());
        let pending = TcpStream::connect(addr).unwrap();
        let none_left = File::open("/dev/null").unwrap_err();
        assert_eq!(none_left.raw_os_error(), Some(EMFILE));

        let start = Instant::now();
        sleep(STARVED_FOR).await;
        let starved = start.elapsed();
        let errors = svc.accept_errors();

        // Free the descriptors: the queued client is accepted and served.
        drop(held);
        let cpu = cpu_time().saturating_sub(cpu_before);
        let mut pending = Connection::from_std(pending).unwrap();
        pending.set_timeout(Some(Duration::from_secs(5)));
        pending.write(b"waited\n").await.unwrap();
        assert_eq!(pending.readline().await.unwrap(), b"waited\n");
        // And so is a new one; no accept fails any more.
        round_trip(addr, b"new client\n").await;
        let after = svc.accept_errors();
        sleep(RETRY * 2).await;
        assert_eq!(svc.accept_errors(), after);
        svc.stop();
        svc.stopped().await;
        (errors, starved, cpu)
    });

    let logs = LOGS.lock().unwrap().clone();
    for line in &logs {
        println!("log: {line}");
    }
    println!("accept errors: {errors} in {starved:?}; CPU time meanwhile: {cpu:?}");
    // (b) The loop retried, pausing between tries rather than spinning: at most one
    // try per pause (plus the first, and one for rounding).
    let most = (starved.as_millis() / RETRY.as_millis()) as u64 + 2;
    assert!(
        (2..=most).contains(&errors),
        "{errors} failed accepts in {starved:?}"
    );
    assert!(
        cpu < starved / 4,
        "{cpu:?} of CPU time in {starved:?}: the accept loop spins"
    );
    // (a) The failure is logged once as an error, its repeats at debug level, and
    // the recovery once.
    let failed: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("accept failed"))
        .collect();
    assert_eq!(failed.len() as u64, errors, "{logs:#?}");
    assert!(
        failed[0].starts_with("ERROR service 127.0.0.1:")
            && failed[0].contains(&format!("os error {EMFILE}"))
            && failed[0].ends_with("retrying every 50 ms"),
        "{logs:#?}"
    );
    assert!(
        failed[1..].iter().all(|l| l.starts_with("DEBUG ")),
        "{logs:#?}"
    );
    assert_eq!(
        logs.iter()
            .filter(|l| l.starts_with("WARN ")
                && l.ends_with(&format!("accepting again after {errors} failed attempts")))
            .count(),
        1,
        "{logs:#?}"
    );
    println!("emfile child: ok");
}
