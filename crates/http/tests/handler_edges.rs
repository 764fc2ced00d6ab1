//! Handlers at the edges of the server's request loop: handlers that change
//! the routes, that panic before or after waiting, that wait while earlier
//! pipelined answers are ready, and slow but steady readers of big answers.

mod common;

/// The body of the slow downloads: 16 MiB.
const BIG: usize = 16 << 20;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{raw, read_response, start};
use monocle_http::{HttpRequest, HttpResponse, HttpServer};

fn get(s: &mut std::net::TcpStream, buf: &mut Vec<u8>, path: &str) -> String {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    read_response(s, buf)
}

/// The synchronous part of a closure handler runs with the router free: it
/// may add a route, which then answers.
#[test]
fn a_handler_may_add_routes() {
    let srv = start(|| {
        let mut s = HttpServer::with_router(0, Default::default());
        s.get("/add", |_req: HttpRequest| {
            common::server().get("/added", |_req: HttpRequest| async { "added" });
            async { "ok" }
        });
        s
    });
    let (mut s, mut buf) = (raw(srv.port), Vec::new());
    let first = get(&mut s, &mut buf, "/add");
    assert!(
        first.starts_with("HTTP/1.1 200") && first.ends_with("ok"),
        "{first}"
    );
    let added = get(&mut s, &mut buf, "/added");
    assert!(added.ends_with("added"), "{added}");
}

/// The same for the fallback handler replacing itself.
#[test]
fn the_fallback_may_replace_itself() {
    let srv = start(|| {
        HttpServer::new(0, |_req: HttpRequest| {
            common::server().set_default(|_req: HttpRequest| async { "second" });
            async { "first" }
        })
    });
    let (mut s, mut buf) = (raw(srv.port), Vec::new());
    assert!(get(&mut s, &mut buf, "/").ends_with("first"));
    assert!(get(&mut s, &mut buf, "/").ends_with("second"));
}

/// A closure handler that panics before it returns its future answers 500,
/// and the connection goes on.
#[test]
fn a_panic_before_the_future_is_a_500() {
    let srv = start(|| {
        let mut s = HttpServer::with_router(0, Default::default());
        s.get(
            "/sync-panic",
            |_req: HttpRequest| -> std::future::Ready<&'static str> { panic!("before the future") },
        );
        s.get("/fine", |_req: HttpRequest| async { "fine" });
        s
    });
    let (mut s, mut buf) = (raw(srv.port), Vec::new());
    let resp = get(&mut s, &mut buf, "/sync-panic");
    assert!(resp.starts_with("HTTP/1.1 500"), "{resp}");
    assert!(get(&mut s, &mut buf, "/fine").ends_with("fine"));
}

/// A handler that answers with a 1xx status gets a 500 sent instead: a 1xx is
/// interim, so a client would wait on for the final answer and take the next
/// pipelined request's answer for this one's.
#[test]
fn an_interim_status_is_no_answer() {
    let srv = start(|| {
        let mut s = HttpServer::with_router(0, Default::default());
        s.get("/hints", |_req: HttpRequest| async {
            HttpResponse::new(103).with_body("early")
        });
        s.get("/switch", |_req: HttpRequest| async { 101 });
        s.get("/fine", |_req: HttpRequest| async { "fine" });
        s
    });
    let (mut s, mut buf) = (raw(srv.port), Vec::new());
    s.write_all(
        b"GET /hints HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /switch HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
          GET /fine HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let hints = read_response(&mut s, &mut buf);
    assert!(hints.starts_with("HTTP/1.1 500"), "{hints}");
    assert!(!hints.contains("early"), "{hints}");
    let switch = read_response(&mut s, &mut buf);
    assert!(switch.starts_with("HTTP/1.1 500"), "{switch}");
    let fine = read_response(&mut s, &mut buf);
    assert!(
        fine.starts_with("HTTP/1.1 200") && fine.ends_with("fine"),
        "{fine}"
    );
}

/// The same for a streaming handler that would go on reading its body in
/// its answer (full duplex): the 500 is no full-duplex answer, and with the
/// body unread and its `100 Continue` not sent, the connection closes rather
/// than take the client's next request for body bytes.
#[test]
fn an_interim_status_with_the_body_streamed_back_is_no_answer() {
    let srv = start(|| {
        let mut s = HttpServer::with_router(0, Default::default());
        s.post(
            "/echo",
            monocle_http::Handler::streaming(|_req: HttpRequest, body| async move {
                HttpResponse::new(103).with_stream(body)
            }),
        );
        s
    });
    let (mut s, mut buf) = (raw(srv.port), Vec::new());
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\
          Expect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let answer = read_response(&mut s, &mut buf);
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    assert!(answer.contains("Connection: close"), "{answer}");
    // What the client sends next is not taken as the body: nothing comes
    // back but the end of the connection.
    let _ = s.write_all(b"GET /fine HTTP/1.1\r\nHost: x\r\n\r\n");
    let rest = common::read_until_close(&mut s);
    assert!(rest.is_empty(), "{rest}");
}

/// A handler that panics after it waited, pipelined between others: its 500
/// comes in order and the connection goes on.
#[test]
fn a_panic_after_waiting_is_a_500_in_order() {
    let srv = start(|| {
        let mut s = HttpServer::with_router(0, Default::default());
        s.get("/fast", |_req: HttpRequest| async { "fast" });
        s.get("/late-panic", |_req: HttpRequest| async {
            monocle_stack::util::next_tick().await;
            if true {
                panic!("after waiting");
            }
            "unreachable"
        });
        s
    });
    let (mut s, mut buf) = (raw(srv.port), Vec::new());
    s.write_all(
        b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /late-panic HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /fast HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let a = read_response(&mut s, &mut buf);
    let b = read_response(&mut s, &mut buf);
    let c = read_response(&mut s, &mut buf);
    assert!(a.starts_with("HTTP/1.1 200") && a.ends_with("fast"), "{a}");
    assert!(b.starts_with("HTTP/1.1 500"), "{b}");
    assert!(c.starts_with("HTTP/1.1 200") && c.ends_with("fast"), "{c}");
}

/// While a pipelined handler waits, the answers before it go out: the client
/// reads `/fast` before it lets `/held` finish (were it held back, the read
/// would time out and fail the test).
#[test]
fn earlier_answers_go_out_while_a_handler_waits() {
    static RELEASE: AtomicBool = AtomicBool::new(false);
    let srv = start(|| {
        let mut s = HttpServer::with_router(0, Default::default());
        s.get("/fast", |_req: HttpRequest| async { "fast" });
        s.get("/held", |_req: HttpRequest| async {
            while !RELEASE.load(Ordering::Acquire) {
                monocle_stack::util::sleep(Duration::from_millis(5)).await;
            }
            "held"
        });
        s
    });
    let (mut s, mut buf) = (raw(srv.port), Vec::new());
    s.write_all(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /held HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let a = read_response(&mut s, &mut buf);
    assert!(a.ends_with("fast"), "{a}");
    RELEASE.store(true, Ordering::Release);
    let b = read_response(&mut s, &mut buf);
    assert!(b.ends_with("held"), "{b}");
}

/// A client that reads a big answer slowly but steadily, never pausing for
/// as long as the server's write timeout, in all taking much longer than it:
/// it must get every byte (the timeout is for a write that makes no
/// progress, not for the whole answer).
///
/// The client's receive buffer is kept small, so that the server's writes
/// keep pace with the reads: with megabytes of socket buffers between them
/// the kernel would report the socket writable again only after the reader
/// had drained a large part of them, which at this pace is itself longer than
/// the timeout.
fn slow_steady_download(path: &str) -> usize {
    // Read at about 6 MB/s (at most 128 KiB every 20 ms), the answer takes
    // about 2.7 s against a 1 s timeout; had the timeout covered the whole
    // answer, the server would cut it off after roughly 4 MB buffered plus 6 MB.
    let srv = start(|| {
        let mut s = HttpServer::with_router(0, Default::default());
        s.get("/stream", |_req: HttpRequest| async {
            let piece = vec![b'x'; BIG];
            HttpResponse::new(200).with_stream(futures_lite::stream::iter(vec![Ok(piece)]))
        });
        s.get("/full", |_req: HttpRequest| async { vec![b'x'; BIG] });
        let mut config = s.config();
        config.read_timeout(Duration::from_secs(1));
        s.set_config(config);
        s
    });
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(64 << 10).unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], srv.port).into();
    socket.connect(&addr.into()).unwrap();
    let mut s = std::net::TcpStream::from(socket);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut total = 0;
    let mut chunk = vec![0u8; 128 << 10];
    loop {
        std::thread::sleep(Duration::from_millis(20));
        match s.read(&mut chunk).unwrap() {
            0 => return total,
            n => total += n,
        }
    }
}

#[test]
fn a_slow_steady_reader_gets_a_whole_stream() {
    let got = slow_steady_download("/stream");
    assert!(got > BIG, "got only {got} of {BIG} bytes and a head");
}

#[test]
fn a_slow_steady_reader_gets_a_whole_body() {
    let got = slow_steady_download("/full");
    assert!(got > BIG, "got only {got} of {BIG} bytes and a head");
}
