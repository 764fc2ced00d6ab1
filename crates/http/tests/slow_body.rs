//! `ServerConfig::min_body_rate`: a request body trickled slower than the
//! least rate is answered 408 and the connection closed, whoever reads it
//! (the server for a buffered handler, a streaming handler, a full-duplex
//! response, the discard of an unread rest); a handler slow to read is not
//! held against the client. Driven by raw sockets on loopback that trickle
//! a byte at a time.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{body_of, raw, read_response, read_until_close, start};
use monocle_http::{Error, Handler, HttpRequest, HttpResponse, HttpServer, RequestBody};

/// How long a test waits for an event before failing.
const WAIT: Duration = Duration::from_secs(10);

/// The pace the tests set: 1000 bytes/s after 200 ms. A trickle of a byte
/// every 20 ms (50 bytes/s) falls behind it after about 0.21 s; the read
/// timeout (10 s) never runs out, as a byte comes every 20 ms.
fn app(tx: mpsc::Sender<String>) -> HttpServer {
    let mut server = HttpServer::new(0, |_req: HttpRequest| async { "Hello, World!" });
    let mut config = server.config();
    config
        .min_body_rate(1000, Duration::from_millis(200))
        .read_timeout(WAIT);
    server.set_config(config);
    server.post("/buffered", |req: HttpRequest| async move {
        format!("{} bytes", req.body().len())
    });
    // Reports how its read ended, then answers.
    server.post(
        "/streaming",
        Handler::streaming(async move |_req: HttpRequest, mut body: RequestBody| {
            let mut n = 0;
            let outcome = loop {
                match body.next_chunk().await {
                    Ok(Some(chunk)) => n += chunk.len(),
                    Ok(None) => break format!("ok {n}"),
                    Err(e) => {
                        let inner = e.get_ref().and_then(|e| e.downcast_ref::<Error>());
                        let slow = matches!(inner, Some(Error::BodyTooSlow { .. }));
                        break format!("err {:?} slow={slow}", e.kind());
                    }
                }
            };
            tx.send(outcome.clone()).unwrap();
            outcome
        }),
    );
    server.post(
        "/echo",
        Handler::streaming(async |_req: HttpRequest, body: RequestBody| {
            HttpResponse::new(200).with_stream(body)
        }),
    );
    // Reads the first chunk, then answers with its length while still
    // holding the body; with `?unpaced`, the body has no least rate.
    server.post(
        "/first",
        Handler::streaming(async |req: HttpRequest, mut body: RequestBody| {
            if req.query_arg("unpaced").is_some() {
                body.set_min_rate(0, Duration::ZERO);
            }
            HttpResponse::new(200).with_stream(futures_lite::stream::once_future(async move {
                let n = body.next_chunk().await?.map_or(0, |c| c.len());
                Ok(n.to_string().into_bytes())
            }))
        }),
    );
    // Sets its own least rate, `?rate=` bytes/s after `?grace=` ms, then
    // reads to the end.
    server.post(
        "/paced",
        Handler::streaming(async |req: HttpRequest, mut body: RequestBody| {
            let arg = |name| req.query_arg(name).unwrap().parse::<u64>().unwrap();
            body.set_min_rate(arg("rate"), Duration::from_millis(arg("grace")));
            let mut n = 0;
            loop {
                match body.next_chunk().await {
                    Ok(Some(chunk)) => n += chunk.len(),
                    Ok(None) => break Ok(format!("ok {n}")),
                    Err(e) => break Err(e),
                }
            }
        }),
    );
    server.post(
        "/ignore",
        Handler::streaming(async |_req: HttpRequest, _body: RequestBody| "ignored"),
    );
    // Turns the least rate off for its body, then answers without reading.
    server.post(
        "/ignore-unpaced",
        Handler::streaming(async |_req: HttpRequest, mut body: RequestBody| {
            body.set_min_rate(0, Duration::ZERO);
            "ignored"
        }),
    );
    server
}

/// Sends `head` on `s`, then one byte every 20 ms until the test is over
/// (`stop`), the server stops reading (a failed write), or 1000 bytes are
/// out (20 s: past any bound a test waits).
fn trickle(s: &TcpStream, head: &[u8], stop: &Arc<AtomicBool>) -> JoinHandle<()> {
    let mut writer = s.try_clone().unwrap();
    writer.write_all(head).unwrap();
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        for _ in 0..1000 {
            if stop.load(Ordering::Relaxed) || writer.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// Trickles a body after `head` and returns all the server sent until it
/// closed.
fn trickled(port: u16, head: &str) -> String {
    let mut s = raw(port);
    let stop = Arc::new(AtomicBool::new(false));
    let sending = trickle(&s, head.as_bytes(), &stop);
    let out = read_until_close(&mut s);
    stop.store(true, Ordering::Relaxed);
    sending.join().unwrap();
    out
}

#[test]
fn a_trickled_body_is_answered_408() {
    let (tx, rx) = mpsc::channel();
    let srv = start(move || app(tx));
    let heads = [
        "POST /buffered HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
        // One chunk of 100,000 bytes, whose bytes are decoded as they come.
        "POST /buffered HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n186a0\r\n",
        "POST /streaming HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
        "POST /streaming HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n186a0\r\n",
    ];
    for head in heads {
        let out = trickled(srv.port, head);
        assert!(
            out.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{head}: {out}"
        );
        assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
        assert!(
            body_of(&out).starts_with("request body arrived slower than 1000 bytes/s"),
            "{out}"
        );
        assert!(out.contains("ServerConfig::min_body_rate"), "{out}");
        if head.contains("/streaming") {
            // The handler's read failed so, and its answer was replaced.
            let outcome = rx.recv_timeout(WAIT).unwrap();
            assert_eq!(outcome, "err TimedOut slow=true");
        }
    }
}

#[test]
fn a_trickled_body_cuts_a_duplex_response_short() {
    let (tx, _rx) = mpsc::channel();
    let srv = start(move || app(tx));
    let out = trickled(
        srv.port,
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
    );
    // The head was out: the response has no last chunk.
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(!out.ends_with("\r\n0\r\n\r\n"), "{out}");
    // Cut by the pace after some 10 bytes, not by the end of the trickle
    // (1000 bytes) or the read timeout after it.
    let echoed = body_of(&out).matches('x').count();
    assert!(echoed < 500, "{echoed} bytes echoed: {out}");
}

#[test]
fn a_trickled_rest_is_not_drained_for_ever() {
    let (tx, _rx) = mpsc::channel();
    let srv = start(move || app(tx));
    // The handler answers without reading; the rest (under 64 KiB) would be
    // drained, but comes too slowly: the connection closes after the answer.
    let out = trickled(
        srv.port,
        "POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nignored"), "{out}");
    // A full-duplex response stops reading and ends; the rest, whatever its
    // size, would be discarded, but comes too slowly: the connection closes
    // after the whole response (before the trickle ends, 20 s on, or the
    // test's read times out).
    let out = trickled(
        srv.port,
        "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.ends_with("\r\n0\r\n\r\n"), "{out}");
}

#[test]
fn a_handler_may_set_its_own_body_rate() {
    let (tx, _rx) = mpsc::channel();
    let srv = start(move || app(tx));
    // Off for this route: 20 bytes trickled over some 0.4 s, past the
    // server's pace (1000 bytes/s after 200 ms), are read whole.
    let mut s = raw(srv.port);
    let stop = Arc::new(AtomicBool::new(false));
    let head = b"POST /paced?rate=0&grace=0 HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n";
    let sending = trickle(&s, head, &stop);
    let resp = read_response(&mut s, &mut Vec::new());
    stop.store(true, Ordering::Relaxed);
    sending.join().unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert_eq!(body_of(&resp), "ok 20");
    // Stricter for this route, 1 MB/s after 50 ms: the trickle falls
    // behind at once, and the server answers 408 in the handler's place.
    let out = trickled(
        srv.port,
        "POST /paced?rate=1000000&grace=50 HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
    assert!(
        body_of(&out).starts_with("request body arrived slower than 1000000 bytes/s"),
        "{out}"
    );

    // The rate set holds for the discard of what a full-duplex response
    // left: 19 bytes trickled after it over some 0.4 s are waited for, and
    // the connection serves the next request.
    let mut s = raw(srv.port);
    s.write_all(b"POST /first?unpaced HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\nx")
        .unwrap();
    let mut buf = Vec::new();
    let resp = read_until_seen(&mut s, &mut buf, b"\r\n0\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    for _ in 0..19 {
        std::thread::sleep(Duration::from_millis(20));
        s.write_all(b"x").unwrap();
    }
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let next = read_response(&mut s, &mut buf);
    assert_eq!(body_of(&next), "Hello, World!", "{next}");
}

#[test]
fn a_handler_s_rate_holds_for_the_drain_after_its_early_answer() {
    let (tx, _rx) = mpsc::channel();
    let srv = start(move || app(tx));
    // The handler turns the least rate off and answers before the body
    // comes: the 20 bytes trickled after the answer over some 0.4 s, past
    // the server's pace (1000 bytes/s after 200 ms) but not the handler's,
    // are read and dropped, and the connection serves the next request.
    let mut s = raw(srv.port);
    s.write_all(b"POST /ignore-unpaced HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let resp = read_response(&mut s, &mut buf);
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(!resp.contains("Connection: close"), "{resp}");
    assert_eq!(body_of(&resp), "ignored");
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(20));
        s.write_all(b"x").unwrap();
    }
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let next = read_response(&mut s, &mut buf);
    assert_eq!(body_of(&next), "Hello, World!", "{next}");
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
}

/// Reads from `s` into `buf` until it holds `end`; returns what came up to
/// it, which leaves `buf`.
fn read_until_seen(s: &mut TcpStream, buf: &mut Vec<u8>, end: &[u8]) -> String {
    loop {
        if let Some(at) = common::find(buf, end) {
            let text = String::from_utf8_lossy(&buf[..at + end.len()]).into_owned();
            buf.drain(..at + end.len());
            return text;
        }
        common::read_more(s, buf);
    }
}

#[test]
fn a_handler_slow_to_read_is_not_held_against_the_client() {
    let (called_tx, called) = mpsc::channel::<()>();
    let (again_tx, again) = mpsc::channel::<()>();
    let srv = start(move || {
        let mut server = HttpServer::new(0, |_req: HttpRequest| async { 404 });
        let mut config = server.config();
        config
            .min_body_rate(1000, Duration::from_millis(300))
            .read_timeout(WAIT);
        server.set_config(config);
        server.post(
            "/busy",
            Handler::streaming(async move |_req: HttpRequest, mut body: RequestBody| {
                called_tx.send(()).unwrap();
                let mut n = body.next_chunk().await.unwrap().unwrap().len();
                // Busy elsewhere for four times the pace's allowance (0.31 s
                // for the 10 bytes in): the client is held back, not timed...
                monocle_stack::util::sleep(Duration::from_millis(1200)).await;
                // ...so the wait for the rest has most of it left.
                again_tx.send(()).unwrap();
                loop {
                    match body.next_chunk().await {
                        Ok(Some(chunk)) => n += chunk.len(),
                        Ok(None) => break format!("ok {n}"),
                        Err(e) => break format!("err {e}"),
                    }
                }
            }),
        );
        server
    });
    let mut s = raw(srv.port);
    s.write_all(b"POST /busy HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        .unwrap();
    called.recv_timeout(WAIT).unwrap();
    s.write_all(b"0123456789").unwrap();
    again.recv_timeout(WAIT).unwrap();
    // Held back a little, so that the server does wait for it (a clock that
    // had run while the handler was busy would run out at once); well
    // within the 0.3 s the server has left.
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(&[b'y'; 90]).unwrap();
    let resp = read_response(&mut s, &mut Vec::new());
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert_eq!(body_of(&resp), "ok 100");
}

#[test]
fn a_body_at_full_speed_passes_a_demanding_pace() {
    let srv = start(|| {
        let mut server = HttpServer::new(0, |_req: HttpRequest| async { 404 });
        let mut config = server.config();
        // 1 MB/s after 100 ms: loopback is far faster.
        config.min_body_rate(1_000_000, Duration::from_millis(100));
        config.limits_mut().max_body(8 << 20);
        server.set_config(config);
        server.post("/buffered", |req: HttpRequest| async move {
            format!("{} bytes", req.body().len())
        });
        server
    });
    let mut s = raw(srv.port);
    let mut writer = s.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let mut request =
            b"POST /buffered HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n".to_vec();
        request.resize(request.len() + (4 << 20), b'z');
        writer.write_all(&request).unwrap();
    });
    let resp = read_response(&mut s, &mut Vec::new());
    sending.join().unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert_eq!(body_of(&resp), "4194304 bytes");
}
