//! Streaming handlers (`Handler::streaming`): request bodies read as they
//! arrive, over loopback sockets (monocle's client, raw std sockets, curl)
//! and, for backpressure, over an in-memory client that always has more.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use common::{
    assert_nothing_arrived, body_of, data, find, fnv, raw, read_response, read_until_close, start,
    FNV_START,
};
use futures_lite::io::{AsyncRead, AsyncWrite};
use monocle_http::{
    Handler, HttpClient, HttpError, HttpHeaders, HttpRequest, HttpServer, RequestBody,
};

/// How long a test waits for an event before failing.
const WAIT: Duration = Duration::from_secs(10);

/// The largest chunk a reader may get (`Content-Length` reads of 64 KiB).
const CHUNK_BOUND: usize = 64 << 10;

/// Reads a body to its end: "BYTES HASH LARGEST-CHUNK".
async fn summarize(body: &mut RequestBody) -> io::Result<String> {
    let (mut bytes, mut hash, mut largest) = (0u64, FNV_START, 0usize);
    while let Some(chunk) = body.next_chunk().await? {
        assert!(!chunk.is_empty(), "a chunk is never empty");
        bytes += chunk.len() as u64;
        hash = fnv(hash, &chunk);
        largest = largest.max(chunk.len());
    }
    Ok(format!("{bytes} {hash:016x} {largest}"))
}

/// The streaming handler most tests use: hashes the body as it arrives.
async fn upload(_req: HttpRequest, mut body: RequestBody) -> Result<String, HttpError> {
    Ok(summarize(&mut body).await?)
}

/// Parses what `upload` answers.
fn parse_summary(text: &str) -> (u64, String, usize) {
    let parts: Vec<&str> = text.split(' ').collect();
    assert_eq!(parts.len(), 3, "{text}");
    (
        parts[0].parse().unwrap(),
        parts[1].to_owned(),
        parts[2].parse().unwrap(),
    )
}

/// A streaming handler that reports how its body ended, to the test thread
/// and in its answer: "ok BYTES" or "err KIND after BYTES"; "started" is
/// sent once the first chunk is in.
fn reporter(tx: mpsc::Sender<String>) -> Handler {
    Handler::streaming(async move |_req: HttpRequest, mut body: RequestBody| {
        let mut n = 0u64;
        let outcome = loop {
            match body.next_chunk().await {
                Ok(Some(chunk)) => {
                    if n == 0 {
                        tx.send("started".into()).unwrap();
                    }
                    n += chunk.len() as u64;
                }
                Ok(None) => break format!("ok {n}"),
                Err(e) => break format!("err {:?} after {n}", e.kind()),
            }
        };
        tx.send(outcome.clone()).unwrap();
        outcome
    })
}

fn app() -> HttpServer {
    let mut server = HttpServer::new(0, |_req: HttpRequest| async { "Hello, World!" });
    server.post("/upload", Handler::streaming(upload));
    server.put("/upload", Handler::streaming(upload));
    server.post("/buffered", |req: HttpRequest| async move {
        format!("{}", req.body().len())
    });
    server.post(
        "/ignore",
        Handler::streaming(async |_req: HttpRequest, _body: RequestBody| "ignored"),
    );
    server.post(
        "/first",
        Handler::streaming(async |_req: HttpRequest, mut body: RequestBody| {
            let first = body.next_chunk().await.unwrap().unwrap_or_default();
            format!("first {}", first.len())
        }),
    );
    server
}

#[test]
fn a_64_mib_chunked_upload_is_hashed_as_it_arrives() {
    const PIECE: usize = 1 << 20;
    const PIECES: u64 = 64;
    let srv = start(app);
    let url = format!("http://127.0.0.1:{}/upload", srv.port);
    let expected = (0..PIECES).fold(FNV_START, |h, i| fnv(h, &data(PIECE, i)));
    let pieces = futures_lite::stream::iter((0..PIECES).map(|i| Ok(data(PIECE, i))));
    let resp = monocle_stack::block_on(async {
        let mut client = HttpClient::new();
        client.set_timeout(Some(Duration::from_secs(60)));
        client
            .request_streaming(&url, HttpHeaders::new(), "POST", pieces)
            .await
    })
    .unwrap();
    assert_eq!(resp.code(), 200, "{}", resp.text());
    let (bytes, hash, largest) = parse_summary(&resp.text());
    assert_eq!(bytes, PIECES * PIECE as u64);
    assert_eq!(hash, format!("{expected:016x}"));
    // 1 MiB pieces reach the handler in pieces of at most 64 KiB: the
    // server never holds a whole piece, let alone the body.
    assert!(largest <= CHUNK_BOUND, "a chunk of {largest} bytes");
}

#[test]
fn a_content_length_upload_over_max_body_streams() {
    let srv = start(|| {
        let mut server = app();
        let mut config = server.config();
        config.limits_mut().max_body(1 << 20);
        server.set_config(config);
        server
    });
    let body = data(5 << 20, 7);
    let expected = fnv(FNV_START, &body);
    let base = format!("http://127.0.0.1:{}", srv.port);
    let (streamed, buffered) = monocle_stack::block_on(async {
        let mut client = HttpClient::new();
        let streamed = client
            .request(
                &format!("{base}/upload"),
                HttpHeaders::new(),
                "PUT",
                body.clone(),
            )
            .await
            .unwrap();
        let buffered = client
            .request(
                &format!("{base}/buffered"),
                HttpHeaders::new(),
                "POST",
                body,
            )
            .await
            .unwrap();
        (streamed, buffered)
    });
    assert_eq!(streamed.code(), 200, "{}", streamed.text());
    let (bytes, hash, largest) = parse_summary(&streamed.text());
    assert_eq!(bytes, 5 << 20);
    assert_eq!(hash, format!("{expected:016x}"));
    assert!(largest <= CHUNK_BOUND, "a chunk of {largest} bytes");
    // max_body still bounds the handlers that get the body in memory.
    assert_eq!(buffered.code(), 413);
}

#[test]
fn curl_uploads_a_file_with_expect_100_continue() {
    if !std::path::Path::new("/usr/bin/curl").exists() {
        eprintln!("curl not installed; skipping");
        return;
    }
    let srv = start(app);
    let body = data(3 << 20, 11);
    let expected = format!("{} {:016x}", body.len(), fnv(FNV_START, &body));
    let path = std::env::temp_dir().join(format!("monocle-streaming-{}", std::process::id()));
    std::fs::write(&path, &body).unwrap();
    let url = format!("http://127.0.0.1:{}/upload", srv.port);
    let file = format!("@{}", path.display());
    let path_arg = path.display().to_string();
    let runs: [&[&str]; 2] = [
        // POST from a file; the Expect header is curl's default for large
        // bodies, and asked for here whatever the version.
        &["--data-binary", &file, "-H", "Expect: 100-continue", &url],
        // PUT of a file (-T), with a Content-Length.
        &["-T", &path_arg, &url],
    ];
    for args in runs {
        let out = std::process::Command::new("/usr/bin/curl")
            .args(["-sS", "--max-time", "20", "-w", " %{http_code}"])
            .args(args)
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (summary, code) = text.rsplit_once(' ').unwrap();
        assert_eq!(code, "200", "{text}");
        let (bytes, hash, largest) = parse_summary(summary);
        assert_eq!(format!("{bytes} {hash}"), expected, "{args:?}");
        assert!(largest <= CHUNK_BOUND, "a chunk of {largest} bytes");
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn the_reader_may_run_in_another_oroutine() {
    let srv = start(|| {
        let mut server = app();
        server.post(
            "/elsewhere",
            Handler::streaming(async |_req: HttpRequest, mut body: RequestBody| {
                let counted = monocle_stack::launch(async move { summarize(&mut body).await });
                counted.await.map_err(HttpError::from)
            }),
        );
        server
    });
    let body = data(300_000, 3);
    let expected = fnv(FNV_START, &body);
    let resp = monocle_stack::block_on(async {
        HttpClient::new()
            .request(
                &format!("http://127.0.0.1:{}/elsewhere", srv.port),
                HttpHeaders::new(),
                "POST",
                body,
            )
            .await
    })
    .unwrap();
    assert_eq!(resp.code(), 200, "{}", resp.text());
    let (bytes, hash, _) = parse_summary(&resp.text());
    assert_eq!((bytes, hash), (300_000, format!("{expected:016x}")));
}

#[test]
fn a_handler_that_answers_without_reading_never_gets_100_continue() {
    let srv = start(|| {
        let mut server = app();
        server.post(
            "/guarded",
            Handler::streaming(async |req: HttpRequest, mut body: RequestBody| {
                if req.headers().get("authorization").is_none() {
                    return Err(HttpError::forbidden());
                }
                Ok(summarize(&mut body).await?)
            }),
        );
        server
    });
    let mut s = raw(srv.port);
    s.write_all(
        b"POST /guarded HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n",
    )
    .unwrap();
    let out = read_until_close(&mut s);
    assert!(out.starts_with("HTTP/1.1 403 "), "{out}");
    assert!(!out.contains("100 Continue"), "{out}");
    // The client was never told to send its body: the server does not wait
    // for it, and closes.
    assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
}

#[test]
fn continue_is_sent_at_the_first_read_and_before_the_answer() {
    let (called_tx, called) = mpsc::channel::<()>();
    let (go, go_rx) = mpsc::channel::<()>();
    let go_rx = Arc::new(Mutex::new(go_rx));
    let srv = start(move || {
        let mut server = app();
        server.post(
            "/gated",
            Handler::streaming(async move |_req: HttpRequest, mut body: RequestBody| {
                called_tx.send(()).unwrap();
                // Wait, off the loop, until the test says go.
                let go = Arc::clone(&go_rx);
                monocle_stack::offload(move || go.lock().unwrap().recv())
                    .await
                    .unwrap();
                Ok::<_, HttpError>(summarize(&mut body).await?)
            }),
        );
        server
    });
    let mut s = raw(srv.port);
    s.write_all(
        b"POST /gated HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    called.recv_timeout(WAIT).expect("the handler was called");
    // The handler runs and has not asked for the body: no 100 yet.
    assert_nothing_arrived(&mut s);
    go.send(()).unwrap();
    let mut buf = Vec::new();
    let interim = read_response(&mut s, &mut buf);
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    let fin = read_response(&mut s, &mut buf);
    assert!(fin.starts_with("HTTP/1.1 200 OK\r\n"), "{fin}");
    assert_eq!(
        body_of(&fin),
        format!("5 {:016x} 5", fnv(FNV_START, b"hello"))
    );
    assert!(!fin.contains("Connection: close"), "{fin}");
}

#[test]
fn an_early_answer_with_a_small_rest_drains_it_and_keeps_the_connection() {
    let srv = start(app);
    let mut s = raw(srv.port);
    let mut request = b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n".to_vec();
    request.extend_from_slice(&data(50_000, 5));
    request.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(&request).unwrap();
    let mut buf = Vec::new();
    let first = read_response(&mut s, &mut buf);
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    assert_eq!(body_of(&first), "ignored");
    assert!(!first.contains("Connection: close"), "{first}");
    // The unread body was discarded, not parsed as a request.
    let second = read_response(&mut s, &mut buf);
    assert!(second.starts_with("HTTP/1.1 200 OK\r\n"), "{second}");
    assert_eq!(body_of(&second), "Hello, World!");
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
}

#[test]
fn an_early_answer_with_a_large_rest_closes_the_connection() {
    let srv = start(app);
    let mut s = raw(srv.port);
    let mut writer = s.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let mut request =
            b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n".to_vec();
        request.extend_from_slice(&data(4 << 20, 9));
        request.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
        // The server stops reading part way: the write may fail.
        let _ = writer.write_all(&request);
    });
    let out = read_until_close(&mut s);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nignored"), "only one answer: {out}");
    sending.join().unwrap();
}

#[test]
fn an_early_answer_drains_a_rest_of_64_kib_and_no_more() {
    let srv = start(app);
    // The answer comes before any of the body: the whole body is the rest.
    let mut s = raw(srv.port);
    s.write_all(b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let first = read_response(&mut s, &mut buf);
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    assert!(!first.contains("Connection: close"), "{first}");
    let mut rest = data(64 << 10, 3);
    rest.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(&rest).unwrap();
    let second = read_response(&mut s, &mut buf);
    assert_eq!(body_of(&second), "Hello, World!", "{second}");
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);

    // A byte more: the connection closes after the answer.
    let mut s = raw(srv.port);
    s.write_all(b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n")
        .unwrap();
    let out = read_until_close(&mut s);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nignored"), "{out}");
}

#[test]
fn an_early_answer_to_a_chunked_body_closes_the_connection() {
    let srv = start(app);
    let mut s = raw(srv.port);
    // Only the first chunk is sent: the handler answers after reading it.
    s.write_all(
        b"POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    )
    .unwrap();
    let out = read_until_close(&mut s);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nfirst 5"), "{out}");
}

#[test]
fn requests_pipelined_after_streamed_bodies_are_answered_in_order() {
    let srv = start(app);
    let mut s = raw(srv.port);
    s.write_all(
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n\
          POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
          GET /last HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    let a = read_response(&mut s, &mut buf);
    let b = read_response(&mut s, &mut buf);
    let c = read_response(&mut s, &mut buf);
    let hello = fnv(FNV_START, b"hello world");
    // The chunked body's bytes and hash; how it was cut into chunks
    // depends on how the reads fell.
    let (bytes, hash, _) = parse_summary(body_of(&a));
    assert_eq!((bytes, hash), (11, format!("{hello:016x}")), "{a}");
    assert_eq!(
        body_of(&b),
        format!("3 {:016x} 3", fnv(FNV_START, b"abc")),
        "{b}"
    );
    assert_eq!(body_of(&c), "Hello, World!", "{c}");
    for r in [&a, &b, &c] {
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(!r.contains("Connection: close"), "{r}");
    }
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
}

#[test]
fn a_reset_mid_body_is_an_error_to_the_reader() {
    let (tx, rx) = mpsc::channel();
    let srv = start(move || {
        let mut server = app();
        server.post("/report", reporter(tx));
        server
    });
    let mut s = raw(srv.port);
    s.write_all(b"POST /report HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        .unwrap();
    s.write_all(&data(10_000, 1)).unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "started");
    // Close with SO_LINGER 0: the kernel sends a reset.
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
    let outcome = rx.recv_timeout(WAIT).unwrap();
    assert!(
        outcome.starts_with("err ConnectionReset after "),
        "{outcome}"
    );
}

#[test]
fn a_close_mid_body_is_an_error_to_the_reader() {
    let (tx, rx) = mpsc::channel();
    let srv = start(move || {
        let mut server = app();
        server.post("/report", reporter(tx));
        server
    });
    let cases: [&[u8]; 2] = [
        b"POST /report HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
        b"POST /report HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n",
    ];
    for request in cases {
        let mut s = raw(srv.port);
        s.write_all(request).unwrap();
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), "started");
        // The client says it is done sending, ten bytes in: a short body.
        s.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), "err UnexpectedEof after 10");
        let out = read_until_close(&mut s);
        assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
    }
}

#[test]
fn a_stalled_body_times_out() {
    let (tx, rx) = mpsc::channel();
    let srv = start(move || {
        let mut server = app();
        server.post("/report", reporter(tx));
        let mut config = server.config();
        config.read_timeout(Duration::from_millis(300));
        server.set_config(config);
        server
    });
    let mut s = raw(srv.port);
    s.write_all(b"POST /report HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "started");
    // ...and nothing more, with the connection open.
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "err TimedOut after 10");
    let out = read_until_close(&mut s);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
    assert!(out.ends_with("err TimedOut after 10"), "{out}");
}

#[test]
fn a_malformed_chunked_body_is_answered_400_by_the_server() {
    let (tx, rx) = mpsc::channel();
    let srv = start(move || {
        let mut server = app();
        server.post("/report", reporter(tx));
        server
    });
    let mut s = raw(srv.port);
    s.write_all(
        b"POST /report HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n",
    )
    .unwrap();
    let out = read_until_close(&mut s);
    assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
    assert!(out.contains("invalid chunk size"), "{out}");
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "started");
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "err InvalidData after 5");
}

#[test]
fn max_streamed_body_is_answered_413() {
    let (tx, rx) = mpsc::channel();
    let srv = start(move || {
        let mut server = app();
        server.post("/report", reporter(tx));
        let mut config = server.config();
        config.limits_mut().max_streamed_body(1000);
        server.set_config(config);
        server
    });
    // A Content-Length over the limit: refused before the handler runs.
    let out = common::exchange_until_close(
        srv.port,
        b"POST /report HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 413 "), "{out}");
    assert!(out.contains("Limits::max_streamed_body"), "{out}");
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
    // A chunked body that grows past it: the read fails, the server answers.
    let mut request =
        b"POST /report HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n".to_vec();
    request.extend_from_slice(&[b'a'; 600]);
    request.extend_from_slice(b"\r\n258\r\n");
    request.extend_from_slice(&[b'b'; 600]);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    let out = common::exchange_until_close(srv.port, &request);
    assert!(out.starts_with("HTTP/1.1 413 "), "{out}");
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "started");
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "err InvalidData after 600");
}

#[test]
fn a_body_without_a_streaming_route_is_still_refused_over_max_body() {
    let srv = start(|| {
        let mut server = app();
        let mut config = server.config();
        config.limits_mut().max_body(1024);
        server.set_config(config);
        server
    });
    for path in ["/buffered", "/nowhere"] {
        let out = common::exchange_until_close(
            srv.port,
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n").as_bytes(),
        );
        assert!(out.starts_with("HTTP/1.1 413 "), "{path}: {out}");
        assert!(out.contains("Limits::max_body"), "{path}: {out}");
    }
}

/// An in-memory client with an endless chunked body always ready, counting
/// the bytes the server has taken.
struct Endless {
    head: &'static [u8],
    at: usize,
    frame: Vec<u8>,
    frame_at: usize,
    taken: Rc<Cell<u64>>,
    out: Rc<RefCell<Vec<u8>>>,
}

/// Bytes after which a server that does not hold back would see the end.
const RUNAWAY: u64 = 64 << 20;

impl AsyncRead for Endless {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.at < this.head.len() {
            let n = buf.len().min(this.head.len() - this.at);
            buf[..n].copy_from_slice(&this.head[this.at..this.at + n]);
            this.at += n;
            return Poll::Ready(Ok(n));
        }
        if this.taken.get() >= RUNAWAY {
            return Poll::Ready(Ok(0));
        }
        for b in buf.iter_mut() {
            *b = this.frame[this.frame_at];
            this.frame_at = (this.frame_at + 1) % this.frame.len();
        }
        this.taken.set(this.taken.get() + buf.len() as u64);
        Poll::Ready(Ok(buf.len()))
    }
}

impl AsyncWrite for Endless {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.out.borrow_mut().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[test]
fn the_server_reads_no_further_ahead_than_the_handler_asks() {
    let taken = Rc::new(Cell::new(0u64));
    let out = Rc::new(RefCell::new(Vec::new()));
    let mut frame = b"2000\r\n".to_vec();
    frame.extend_from_slice(&[b'x'; 0x2000]);
    frame.extend_from_slice(b"\r\n");
    let client = Endless {
        head: b"POST /slow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        at: 0,
        frame,
        frame_at: 0,
        taken: Rc::clone(&taken),
        out: Rc::clone(&out),
    };
    let seen = Rc::clone(&taken);
    monocle_stack::block_on(async move {
        let mut server = HttpServer::new(0, |_req: HttpRequest| async { 404 });
        server.post(
            "/slow",
            Handler::streaming(async move |_req: HttpRequest, mut body: RequestBody| {
                let first = body.next_chunk().await.unwrap().unwrap().len();
                let before = seen.get();
                // A slow handler: the connection's task runs (it polls this
                // handler) a hundred times while the client has more ready.
                for _ in 0..100 {
                    futures_lite::future::yield_now().await;
                }
                let after = seen.get();
                for _ in 0..10 {
                    body.next_chunk().await.unwrap().unwrap();
                }
                format!("{first} {before} {after} {}", seen.get())
            }),
        );
        server.serve_connection(client, None).await.unwrap();
    });
    let out = String::from_utf8(out.borrow().clone()).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    let numbers: Vec<u64> = body_of(&out)
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    let [first, before, after, resumed] = numbers[..] else {
        panic!("{out}")
    };
    assert!(first as usize <= CHUNK_BOUND, "{out}");
    assert!(
        before <= CHUNK_BOUND as u64,
        "read {before} bytes ahead: {out}"
    );
    assert_eq!(before, after, "read while the handler did not ask: {out}");
    assert!(resumed > after, "{out}");
    assert!(resumed < RUNAWAY, "{out}");
    // Answered early, with a chunked rest: the connection closes.
    assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
    assert!(find(out.as_bytes(), b"\r\n\r\n").is_some());
}

/// A client whose head is read at once and then sends nothing; its socket
/// takes 10 bytes of the first write, none of the second (pending, and never
/// woken), then everything.
struct StuckWriter {
    head: &'static [u8],
    at: usize,
    writes: usize,
    out: Rc<RefCell<Vec<u8>>>,
}

impl AsyncRead for StuckWriter {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.at < this.head.len() {
            let n = buf.len().min(this.head.len() - this.at);
            buf[..n].copy_from_slice(&this.head[this.at..this.at + n]);
            this.at += n;
            return Poll::Ready(Ok(n));
        }
        Poll::Pending
    }
}

impl AsyncWrite for StuckWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.writes += 1;
        let n = match this.writes {
            1 => buf.len().min(10),
            2 => return Poll::Pending,
            _ => buf.len(),
        };
        this.out.borrow_mut().extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A `100 Continue` cut short by a slow socket is finished before the
/// answer, not written again with it.
#[test]
fn an_answer_after_a_stalled_100_continue_follows_it_whole() {
    let out = Rc::new(RefCell::new(Vec::new()));
    let client = StuckWriter {
        head: b"POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n",
        at: 0,
        writes: 0,
        out: Rc::clone(&out),
    };
    monocle_stack::block_on(async move {
        let mut server = HttpServer::new(0, |_req: HttpRequest| async { 404 });
        let mut config = server.config();
        config.read_timeout(Duration::from_secs(2));
        server.set_config(config);
        server.post(
            "/up",
            Handler::streaming(async |_req: HttpRequest, mut body: RequestBody| {
                // Asks for the body (so `100 Continue` starts out), then gives
                // up on it and answers with more than one write's worth.
                let gave_up = futures_lite::future::or(
                    async {
                        let _ = body.next_chunk().await;
                        false
                    },
                    async {
                        monocle_stack::util::sleep(Duration::from_millis(20)).await;
                        true
                    },
                )
                .await;
                assert!(gave_up);
                "z".repeat(20 << 10)
            }),
        );
        let _ = server.serve_connection(client, None).await;
    });
    let out = out.borrow();
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{:?}",
        &text[..text.len().min(80)]
    );
    assert!(text.ends_with(&"z".repeat(20 << 10)));
}

/// The body's clock runs only while the handler waits for a chunk: a wait
/// given up, then work longer than `read_timeout`, is not a timeout.
#[test]
fn the_body_clock_stops_when_the_handler_stops_waiting() {
    let (worked, done_working) = mpsc::channel();
    let srv = start(move || {
        let mut server = HttpServer::new(0, |_req: HttpRequest| async { 404 });
        let mut config = server.config();
        config.read_timeout(Duration::from_millis(200));
        server.set_config(config);
        server.post(
            "/p",
            Handler::streaming(async move |_req: HttpRequest, mut body: RequestBody| {
                let first = body.next_chunk().await.unwrap().unwrap();
                // A wait raced and given up...
                let _ = futures_lite::future::or(async { Some(body.next_chunk().await) }, async {
                    monocle_stack::util::sleep(Duration::from_millis(10)).await;
                    None
                })
                .await;
                // ...then other work, twice the body's timeout.
                monocle_stack::util::sleep(Duration::from_millis(400)).await;
                worked.send(()).unwrap();
                match body.next_chunk().await {
                    Ok(Some(rest)) => format!("ok {} {}", first.len(), rest.len()),
                    Ok(None) => "none".to_owned(),
                    Err(e) => format!("err {:?}", e.kind()),
                }
            }),
        );
        server
    });
    let mut s = raw(srv.port);
    s.write_all(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc")
        .unwrap();
    done_working.recv_timeout(WAIT).unwrap();
    let _ = s.write_all(b"def");
    let resp = read_response(&mut s, &mut Vec::new());
    assert!(resp.ends_with("ok 3 3"), "{resp}");
}

/// A long head leaves a large input buffer; chunks handed over stay within
/// the bound all the same.
#[test]
fn chunks_stay_within_the_bound_after_a_long_head() {
    let srv = start(|| {
        let mut server = HttpServer::new(0, |_req: HttpRequest| async { 404 });
        let mut config = server.config();
        config.limits_mut().max_head(1 << 20);
        server.set_config(config);
        server.post(
            "/p",
            Handler::streaming(async |_req: HttpRequest, mut body: RequestBody| {
                let (mut n, mut largest) = (0usize, 0usize);
                while let Some(c) = body.next_chunk().await.unwrap() {
                    n += c.len();
                    largest = largest.max(c.len());
                }
                format!("{n} {largest}")
            }),
        );
        server
    });
    let mut req = b"POST /p HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    req.resize(req.len() + (300 << 10), b'a');
    req.extend_from_slice(b"\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n");
    req.resize(req.len() + (1 << 20), b'b');
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    let mut s = raw(srv.port);
    s.write_all(&req).unwrap();
    let resp = read_response(&mut s, &mut Vec::new());
    let body = &resp[find(resp.as_bytes(), b"\r\n\r\n").unwrap() + 4..];
    let (n, largest) = body.split_once(' ').unwrap();
    assert_eq!(n, (1 << 20).to_string());
    let largest: usize = largest.parse().unwrap();
    assert!(largest <= CHUNK_BOUND, "a chunk of {largest} bytes");
}
