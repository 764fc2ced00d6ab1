//! A server that refuses a request body before it is whole answers at once
//! (413) and closes, reading and dropping a little more of the body first;
//! the client must return that answer every time (RFC 9112 §9.5), whether it
//! sees the close while the body goes out or only once a write of the body
//! fails because the server's socket reset the connection.
//!
//! Each case runs [`rounds`] times, on a new connection each; set
//! `MONOCLE_EARLY_ANSWER_ROUNDS` for a longer run (the answer used to be lost
//! in about one endless upload in a hundred).
//!
//! Raw servers on a thread of their own script the rest, each once: the
//! two ways the client learns that the server ended its side, each forced
//! (a write of the body fails; watching sees the server's side end while
//! it reads on); an answer read until the close that a reset cuts short is
//! no answer; and an early answer on a kept connection leaves nothing
//! behind that fails the next request.

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::task::Poll;
use std::time::Duration;

use futures_lite::{stream, AsyncReadExt};
use monocle_http::{HttpClient, HttpHeaders, HttpRequest, HttpResponse, HttpServer};
use monocle_stack::block_on;

/// How long one request may take; each is answered within milliseconds.
const WAIT: Duration = Duration::from_secs(10);

/// The server's body limit: far below what any of these uploads sends.
const MAX_BODY: u64 = 1024;

/// How many rounds each case runs: 20 unless `MONOCLE_EARLY_ANSWER_ROUNDS`
/// says otherwise.
fn rounds() -> usize {
    std::env::var("MONOCLE_EARLY_ANSWER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// A server whose every route takes any body up to [`MAX_BODY`].
fn app() -> HttpServer {
    let mut server = HttpServer::new(0, |req: HttpRequest| async move {
        format!("took {} bytes", req.body().len())
    });
    let mut config = server.config();
    config.limits_mut().max_body(MAX_BODY);
    server.set_config(config);
    server
}

/// The body of a request that never ends: 16 KiB pieces, forever.
fn endless() -> impl futures_lite::Stream<Item = io::Result<Vec<u8>>> + Unpin + 'static {
    stream::repeat_with(|| Ok(vec![b'x'; 16 << 10]))
}

/// Runs `request` on a new client `rounds()` times and fails, naming how
/// many rounds did not get the 413 and what they got instead, unless all did.
fn expect_413_every_time<F, Fut>(client: impl Fn() -> HttpClient, request: F)
where
    F: Fn(HttpClient) -> Fut,
    Fut: std::future::Future<Output = io::Result<HttpResponse>>,
{
    let rounds = rounds();
    let mut lost = Vec::new();
    for round in 0..rounds {
        let mut client = client();
        client.set_timeout(Some(WAIT));
        match block_on(request(client)) {
            Ok(resp) if resp.code() == 413 => {}
            Ok(resp) => lost.push(format!("round {round}: answered {}", resp.code())),
            Err(e) => lost.push(format!("round {round}: {e}")),
        }
    }
    assert!(
        lost.is_empty(),
        "the 413 was lost in {} of {rounds} rounds:\n{}",
        lost.len(),
        lost.join("\n")
    );
}

#[test]
fn an_endless_chunked_upload_gets_the_413() {
    let srv = common::start(app);
    let url = format!("http://127.0.0.1:{}/upload", srv.port);
    expect_413_every_time(HttpClient::new, |mut client| {
        let url = url.clone();
        async move {
            client
                .request_streaming(&url, HttpHeaders::new(), "POST", endless())
                .await
        }
    });
}

#[test]
fn a_large_upload_of_known_length_gets_the_413() {
    let srv = common::start(app);
    let url = format!("http://127.0.0.1:{}/upload", srv.port);
    expect_413_every_time(HttpClient::new, |mut client| {
        let url = url.clone();
        async move {
            client
                .request(&url, HttpHeaders::new(), "POST", vec![b'x'; 8 << 20])
                .await
        }
    });
}

/// The server of these tests over TLS, and a client config that trusts it.
#[cfg(feature = "tls")]
fn start_tls() -> (
    monocle_stack::Loops,
    u16,
    std::sync::Arc<monocle_network::tls::rustls::ClientConfig>,
) {
    let (server_config, client_config) = common::tls_configs();
    let loops = monocle_stack::Loops::start(1).unwrap();
    let port = block_on(loops.handle(0).spawn(move || async move {
        let mut server = app();
        server.bind_addr([127, 0, 0, 1]);
        let port = server.start_tls(server_config).unwrap().port();
        // Serves until the loop stops, with the test.
        std::mem::forget(server);
        port
    }))
    .unwrap();
    (loops, port, client_config)
}

#[cfg(feature = "tls")]
#[test]
fn an_endless_chunked_upload_over_tls_gets_the_413() {
    let (_loops, port, config) = start_tls();
    let url = format!("https://localhost:{port}/upload");
    let client = || {
        let mut client = HttpClient::new();
        client.set_tls_config(config.clone());
        client
    };
    expect_413_every_time(client, |mut client| {
        let url = url.clone();
        async move {
            client
                .request_streaming(&url, HttpHeaders::new(), "POST", endless())
                .await
        }
    });
}

#[cfg(feature = "tls")]
#[test]
fn a_large_upload_of_known_length_over_tls_gets_the_413() {
    let (_loops, port, config) = start_tls();
    let url = format!("https://localhost:{port}/upload");
    let client = || {
        let mut client = HttpClient::new();
        client.set_tls_config(config.clone());
        client
    };
    expect_413_every_time(client, |mut client| {
        let url = url.clone();
        async move {
            client
                .request(&url, HttpHeaders::new(), "POST", vec![b'x'; 8 << 20])
                .await
        }
    });
}

/// Reads one request head from `s` into `buf`, returning its length (what
/// follows it in `buf` is body).
fn read_head(s: &mut TcpStream, buf: &mut Vec<u8>) -> usize {
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return at + 4;
        }
        let mut piece = [0u8; 4096];
        let n = s.read(&mut piece).unwrap();
        assert!(n > 0, "the client closed before the end of the head");
        buf.extend_from_slice(&piece[..n]);
    }
}

/// A raw server on a thread of its own: accepts one connection and runs
/// `script` on it (a blocking socket, without Nagle's delay, whose reads
/// give up after [`WAIT`]).
fn raw_server<T: Send + 'static>(
    script: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (u16, std::thread::JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        // What it writes goes out at once: a reset drops what is held back.
        s.set_nodelay(true).unwrap();
        script(s)
    });
    (port, thread)
}

const REFUSAL: &[u8] =
    b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!";

/// The server answers once the head is in, then resets the connection
/// (linger 0) before the client sends a byte of the body: the first write
/// of the body fails, and the answer is read after it.
///
/// The body stream holds its first piece back (blocking the loop, which has
/// nothing else to run) until the server has reset the connection. That
/// makes the failed write the path taken: the client watches the
/// connection only once a write or the stream had to wait, and nothing has
/// here, so the write is what meets the reset. (Were the upload blocked
/// when the reset came, the watch run on waking might see the answer and
/// the reset itself, as it does with the epoll reactor: the other path,
/// which the rounds above take too.)
#[test]
fn an_answer_then_a_reset_fails_the_upload_and_is_returned() {
    let (reset_tx, reset_rx) = mpsc::channel();
    let (port, server) = raw_server(move |mut s| {
        read_head(&mut s, &mut Vec::new());
        s.write_all(REFUSAL).unwrap();
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
        reset_tx.send(()).unwrap();
    });
    let mut held = Some(reset_rx);
    let body = stream::poll_fn(move |_| {
        if let Some(reset) = held.take() {
            reset.recv().unwrap();
        }
        Poll::Ready(Some(Ok(vec![b'x'; 16 << 10])))
    });
    let resp = block_on(async move {
        let mut client = HttpClient::new();
        client.set_timeout(Some(WAIT));
        let url = format!("http://127.0.0.1:{port}/upload");
        let resp = client
            .request_streaming(&url, HttpHeaders::new(), "POST", body)
            .await?;
        assert!(!client.is_connected());
        io::Result::Ok(resp)
    })
    .unwrap();
    server.join().unwrap();
    assert_eq!((resp.code(), &*resp.text()), (413, "too big!"));
}

/// The server answers, closes its sending side and reads on, dropping what
/// comes: no write fails, and only watching the connection stops the
/// endless upload, whose answer is then returned.
#[test]
fn an_answer_then_a_half_close_stops_an_endless_upload() {
    let (port, server) = raw_server(|mut s| {
        read_head(&mut s, &mut Vec::new());
        s.write_all(REFUSAL).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        // Read until the client hangs up: it must stop sending for that.
        let mut piece = vec![0u8; 64 << 10];
        while matches!(s.read(&mut piece), Ok(1..)) {}
    });
    let resp = block_on(async move {
        let mut client = HttpClient::new();
        client.set_timeout(Some(WAIT));
        let url = format!("http://127.0.0.1:{port}/upload");
        client
            .request_streaming(&url, HttpHeaders::new(), "POST", endless())
            .await
    })
    .unwrap();
    assert_eq!((resp.code(), &*resp.text()), (413, "too big!"));
    server.join().unwrap();
}

/// A body read until close that a reset cuts short is an error, never an
/// answer: the server queues the start of a large answer (what its socket
/// takes now), then closes with the upload unread, which resets the
/// connection and drops the rest. On Linux the client's next write is what
/// meets the reset; the reads after it give what had arrived, then a plain
/// end of stream, which must not pass for the end of the body.
fn cut_by_a_reset(reader: bool) {
    let (port, server) = raw_server(|mut s| {
        read_head(&mut s, &mut Vec::new());
        let mut out = b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n\r\n".to_vec();
        out.resize(out.len() + (32 << 20), b'z');
        s.set_nonblocking(true).unwrap();
        let mut sent = 0;
        loop {
            match s.write(&out[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        sent
    });
    let got = block_on(async move {
        let mut client = HttpClient::new();
        client.set_timeout(Some(WAIT));
        client.limits_mut().max_body(64 << 20);
        let url = format!("http://127.0.0.1:{port}/upload");
        let upload = vec![b'x'; 32 << 20];
        if reader {
            let mut r = client
                .request_reader(&url, HttpHeaders::new(), "POST", upload)
                .await?;
            let mut body = Vec::new();
            r.read_to_end(&mut body).await?;
            return io::Result::Ok((r.code(), body.len()));
        }
        let resp = client
            .request(&url, HttpHeaders::new(), "POST", upload)
            .await?;
        Ok((resp.code(), resp.body().as_bytes().map_or(0, |b| b.len())))
    });
    let queued = server.join().unwrap();
    match got {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
        Ok((code, len)) => panic!(
            "returned {code} with {len} bytes as if whole; the server queued {queued} of {}",
            32 << 20
        ),
    }
}

#[test]
fn an_answer_read_until_close_cut_by_a_reset_is_an_error() {
    cut_by_a_reset(false);
}

#[test]
fn an_answer_read_until_close_cut_by_a_reset_fails_the_reader() {
    cut_by_a_reset(true);
}

/// The client watches the connection while a body goes out, and a watch
/// that finds nothing must leave no timer behind: the next request on the
/// kept connection, made after it stayed idle for longer than the timeout,
/// waits for its answer as long as the timeout says.
#[test]
fn an_early_answer_on_a_kept_connection_leaves_no_timer_behind() {
    const BODY: usize = 8 << 20;
    let (port, server) = raw_server(|mut s| {
        let mut buf = Vec::new();
        // The first request is answered at once, its body drained after.
        let head = read_head(&mut s, &mut buf);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        let mut left = BODY - (buf.len() - head);
        buf.clear();
        let mut piece = vec![0u8; 64 << 10];
        while left > 0 {
            let n = s.read(&mut piece[..left.min(64 << 10)]).unwrap();
            assert!(n > 0, "the client closed");
            left -= n;
        }
        // The second is answered a little later, well within the timeout:
        // the client's read has to wait for it.
        read_head(&mut s, &mut buf);
        std::thread::sleep(Duration::from_millis(100));
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo")
            .unwrap();
        // Until the client hangs up.
        let _ = s.read(&mut piece);
    });
    let timeout = Duration::from_secs(1);
    let result = block_on(async move {
        let mut client = HttpClient::new();
        client.set_timeout(Some(timeout));
        client.connect("127.0.0.1", port, "http").await?;
        let resp = client
            .request("/upload", HttpHeaders::new(), "POST", vec![b'x'; BODY])
            .await?;
        assert_eq!(resp.text(), "ok");
        assert!(client.is_connected(), "not kept alive");
        // Idle for longer than the timeout: the scenario itself.
        monocle_stack::util::sleep(timeout + Duration::from_millis(300)).await;
        let resp = client.get("/two").await?;
        io::Result::Ok((resp.text().into_owned(), client.connects()))
    });
    assert_eq!(result.unwrap(), ("two".to_owned(), 1));
    server.join().unwrap();
}
