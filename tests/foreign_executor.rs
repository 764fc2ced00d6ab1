//! monocle's connections and timers under another executor (futures-lite's
//! `block_on`) on a thread that has a monocle event loop which is not running,
//! on loopback. Run under both reactors (`MONOCLE_REACTOR=epoll|async-io`).

use std::future::Future;
use std::io::Write;
use std::net::TcpListener;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use futures_lite::future::{block_on as foreign_block_on, poll_once};
use monocle::stack::network::{connect, Connection};

/// Runs `f` on a new thread (with no loop yet); fails the test if it has not
/// finished within 20 s, which is how a future nobody wakes shows.
fn on_fresh_thread_within_20s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => resume_unwind(panic),
        Err(_) => panic!("the test hung: a future was never woken"),
    }
}

/// A loopback server that accepts one connection and writes `words` to it,
/// one each time it is told to go. Returns its port and the go signal.
fn word_server(words: &'static [&'static [u8]]) -> (u16, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (go, wait) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        for word in words {
            if wait.recv().is_err() {
                return;
            }
            stream.write_all(word).unwrap();
        }
        // Hold the connection open until the client is done.
        let _ = wait.recv();
    });
    (port, go)
}

/// A read of 4 bytes from the connection.
type Read<'a> = Pin<Box<dyn Future<Output = Vec<u8>> + 'a>>;

/// A read that found nothing yet (polled once by `first_poll`), after which
/// the server is told to send the bytes: finishing it needs a wake-up.
fn read_after_go<'a>(
    conn: &'a mut Connection,
    go: &mpsc::Sender<()>,
    first_poll: impl FnOnce(&mut Read<'a>),
) -> Read<'a> {
    let mut read: Read<'a> = Box::pin(async move { conn.read(4).await.unwrap().to_vec() });
    first_poll(&mut read);
    go.send(()).unwrap();
    read
}

fn connect_and_read_beside_an_idle_loop(make_idle_loop: fn()) {
    on_fresh_thread_within_20s(move || {
        make_idle_loop();
        let (port, go) = word_server(&[b"ping", b"pong", b"pang"]);
        let mut conn = foreign_block_on(connect("127.0.0.1", port)).unwrap();

        // Started and finished under another executor.
        let read = read_after_go(&mut conn, &go, |read| {
            assert!(foreign_block_on(poll_once(read)).is_none());
        });
        assert_eq!(foreign_block_on(read), b"ping");

        // Started under another executor, finished by the loop.
        let read = read_after_go(&mut conn, &go, |read| {
            assert!(foreign_block_on(poll_once(read)).is_none());
        });
        assert_eq!(monocle::block_on(read), b"pong");

        // Started by the loop, finished under another executor.
        let read = read_after_go(&mut conn, &go, |read| {
            assert!(monocle::block_on(poll_once(read)).is_none());
        });
        assert_eq!(foreign_block_on(read), b"pang");

        // The connection's timeout fires under another executor too.
        conn.set_timeout(Some(Duration::from_millis(20)));
        let lost = foreign_block_on(conn.read(1)).unwrap_err();
        assert!(lost.is_timeout(), "{lost}");
        drop(go);
    });
}

#[test]
fn connect_and_read_under_another_executor_after_block_on() {
    connect_and_read_beside_an_idle_loop(|| monocle::block_on(async {}));
}

#[test]
fn connect_and_read_under_another_executor_beside_a_loop_never_run() {
    connect_and_read_beside_an_idle_loop(|| drop(monocle::stack::eventloop::handle()));
}

/// The waker of an executor that polls its future only when woken, as most
/// do (unlike `block_on`, which polls at once when handed a future).
struct Woken {
    flag: AtomicBool,
    thread: Thread,
}

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.flag.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Polls `fut` once while monocle's loop runs, with the waker of such an
/// executor, then (once the loop stopped) runs `then` and polls `fut` only
/// when that waker is woken, until it is ready.
fn first_polled_under_the_loop<T>(
    mut fut: Pin<&mut dyn Future<Output = T>>,
    then: impl FnOnce(),
) -> T {
    let woken = Arc::new(Woken {
        flag: AtomicBool::new(false),
        thread: std::thread::current(),
    });
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);
    monocle::block_on(async { assert!(fut.as_mut().poll(&mut cx).is_pending()) });
    then();
    loop {
        if woken.flag.swap(false, Ordering::SeqCst) {
            if let Poll::Ready(value) = fut.as_mut().poll(&mut cx) {
                return value;
            }
        } else {
            std::thread::park();
        }
    }
}

/// A read that began waiting on the running loop, under another executor's
/// waker, ends once the loop stopped: the loop's stop hands its waits over.
#[test]
fn a_read_begun_on_the_running_loop_ends_under_an_executor_that_polls_when_woken() {
    on_fresh_thread_within_20s(|| {
        let (port, go) = word_server(&[b"ping"]);
        let mut conn = monocle::block_on(connect("127.0.0.1", port)).unwrap();
        let read = std::pin::pin!(async { conn.read(4).await.unwrap().to_vec() });
        let got = first_polled_under_the_loop(read, || go.send(()).unwrap());
        assert_eq!(got, b"ping");
    });
}

/// The same for a sleep left in the loop's timer wheel.
#[test]
fn a_sleep_begun_on_the_running_loop_ends_under_an_executor_that_polls_when_woken() {
    on_fresh_thread_within_20s(|| {
        let start = Instant::now();
        let nap = std::pin::pin!(monocle::util::sleep(Duration::from_millis(50)));
        first_polled_under_the_loop(nap, || {});
        assert!(start.elapsed() >= Duration::from_millis(50));
    });
}
