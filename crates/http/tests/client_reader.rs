//! Reading a response's body piece by piece (`HttpClient::get_reader`,
//! `request_reader`) over loopback: every framing, keep-alive after the end,
//! a reader dropped or cut off half way, and the timeout.

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{find, start};
use futures_lite::{stream, AsyncReadExt};
use monocle_http::{
    BodyFraming, HttpClient, HttpHeaders, HttpRequest, HttpResponse, HttpServer, Limits,
    ResponseReader,
};
use monocle_stack::block_on;

/// How long a raw server waits for bytes that should come at once, and the
/// client's timeout where none is under test.
const WAIT: Duration = Duration::from_secs(10);

/// The byte at `offset` of every body the servers here send.
fn pattern(offset: u64) -> u8 {
    (offset % 251) as u8
}

fn pattern_bytes(start: u64, len: usize) -> Vec<u8> {
    (start..start + len as u64).map(pattern).collect()
}

/// `/big`: 1 MiB with a Content-Length. `/stream/:pieces`: that many
/// pieces of 64 KiB, chunked. `/hello`, `/no-content` (204),
/// `/not-modified` (304).
fn app() -> HttpServer {
    let mut server = HttpServer::new(0, |req: HttpRequest| async move {
        format!("fallback {}", req.path())
    });
    server
        .get("/hello", |_req: HttpRequest| async { "Hello, World!" })
        .get("/big", |_req: HttpRequest| async {
            pattern_bytes(0, 1 << 20)
        })
        .get("/stream/:pieces", |req: HttpRequest| async move {
            let pieces: u64 = req.param("pieces").unwrap().parse().unwrap();
            let body = stream::iter((0..pieces).map(|i| Ok(pattern_bytes(i << 16, 1 << 16))));
            HttpResponse::new(200).with_stream(body)
        })
        .get("/no-content", |_req: HttpRequest| async {
            HttpResponse::new(204)
        })
        .get("/not-modified", |_req: HttpRequest| async {
            HttpResponse::new(304)
        });
    server
}

/// A client with a timeout that fails a stuck test, connected to `port`.
async fn client(port: u16) -> io::Result<HttpClient> {
    let mut client = HttpClient::new();
    client.set_timeout(Some(WAIT));
    client.connect("127.0.0.1", port, "http").await?;
    Ok(client)
}

/// Reads the body to its end in reads of `room` bytes, checking each byte
/// against [`pattern`]; returns how many there were.
async fn read_checked(reader: &mut ResponseReader<'_>, room: usize) -> io::Result<u64> {
    let mut buf = vec![0; room];
    let mut offset = 0u64;
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(offset);
        }
        assert!(n <= room);
        for (i, &b) in buf[..n].iter().enumerate() {
            let at = offset + i as u64;
            assert_eq!(b, pattern(at), "byte {at}");
        }
        offset += n as u64;
    }
}

#[test]
fn a_content_length_body_is_read_in_pieces_then_the_connection_serves_the_next_request() {
    let srv = start(app);
    let port = srv.port;
    block_on(async move {
        let mut client = client(port).await?;
        for room in [1000, 64 << 10] {
            let mut reader = client.get_reader("/big").await?;
            assert_eq!((reader.code(), reader.reason()), (200, "OK"));
            assert_eq!(reader.headers().get("content-length"), Some("1048576"));
            assert_eq!(reader.head().framing(), BodyFraming::Length(1 << 20));
            assert!(!reader.is_finished());
            assert_eq!(read_checked(&mut reader, room).await?, 1 << 20);
            assert!(reader.is_finished());
            // The end stays the end.
            assert_eq!(reader.read(&mut [0; 10]).await?, 0);
        }
        let resp = client.get("/hello").await?;
        assert_eq!(resp.text(), "Hello, World!");
        assert_eq!(client.connects(), 1);
        // The body limit bounds what `get` holds in memory, not what is
        // read piece by piece.
        client.limits_mut().max_body(1000);
        let mut reader = client.get_reader("/big").await?;
        assert_eq!(read_checked(&mut reader, 64 << 10).await?, 1 << 20);
        drop(reader);
        let err = client.get("/big").await.expect_err("past the body limit");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
}

/// 64 MiB of a chunked body stream through, byte for byte, in reads small
/// and large, and the connection is kept after it.
#[test]
fn sixty_four_mib_of_a_chunked_body_stream_through_and_the_connection_is_kept() {
    let srv = start(app);
    let port = srv.port;
    block_on(async move {
        let mut client = client(port).await?;
        // The body limit (16 MiB by default, 1 KiB here) does not apply.
        client.limits_mut().max_body(1 << 10);
        let mut reader = client.get_reader("/stream/1024").await?;
        assert_eq!(reader.code(), 200);
        assert_eq!(reader.head().framing(), BodyFraming::Chunked);
        // The first 100 KiB in reads of 100 bytes, the rest in 64 KiB.
        let mut small = [0u8; 100];
        let mut offset = 0u64;
        while offset < 100 << 10 {
            let n = reader.read(&mut small).await?;
            assert!(n > 0, "the body ended at {offset}");
            assert!(small[..n]
                .iter()
                .enumerate()
                .all(|(i, &b)| b == pattern(offset + i as u64)));
            offset += n as u64;
        }
        let from = offset;
        let mut buf = vec![0u8; 64 << 10];
        let mut sum = 0u64;
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            for (i, &b) in buf[..n].iter().enumerate() {
                assert_eq!(b, pattern(offset + i as u64), "byte {}", offset + i as u64);
                sum = sum.wrapping_mul(31).wrapping_add(u64::from(b));
            }
            offset += n as u64;
        }
        assert_eq!(offset, 64 << 20);
        let want = (from..64 << 20).fold(0u64, |sum, at| {
            sum.wrapping_mul(31).wrapping_add(u64::from(pattern(at)))
        });
        assert_eq!(sum, want);
        assert!(reader.is_finished());
        drop(reader);
        assert!(client.is_connected());
        assert_eq!(client.get("/hello").await?.text(), "Hello, World!");
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
}

#[test]
fn head_204_and_304_have_no_body_and_keep_the_connection() {
    let srv = start(app);
    let port = srv.port;
    block_on(async move {
        let mut client = client(port).await?;
        let mut reader = client
            .request_reader("/big", HttpHeaders::new(), "HEAD", "")
            .await?;
        assert_eq!(reader.code(), 200);
        assert_eq!(reader.headers().get("content-length"), Some("1048576"));
        assert!(reader.is_finished());
        assert_eq!(reader.read(&mut [0; 10]).await?, 0);
        drop(reader);
        for (path, code) in [("/no-content", 204), ("/not-modified", 304)] {
            let mut reader = client.get_reader(path).await?;
            assert_eq!(reader.code(), code);
            assert!(reader.is_finished(), "{path}");
            assert_eq!(reader.read(&mut [0; 10]).await?, 0, "{path}");
        }
        // Finished at once: even dropped unread, the connection is kept.
        drop(
            client
                .request_reader("/big", HttpHeaders::new(), "HEAD", "")
                .await?,
        );
        assert_eq!(client.get("/hello").await?.text(), "Hello, World!");
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
}

/// A reader dropped before the end of its body closes the connection; the
/// next request goes out on a new one and gets its own answer, not the rest
/// of the body. The same when the whole body had arrived but was not read.
#[test]
fn a_reader_dropped_half_way_closes_the_connection_and_the_next_request_gets_its_answer() {
    let srv = start(app);
    let port = srv.port;
    block_on(async move {
        let mut client = client(port).await?;
        let paths = ["/big", "/stream/64", "/hello"];
        for (i, path) in paths.into_iter().enumerate() {
            let mut reader = client.get_reader(path).await?;
            let mut first = [0u8; 10];
            reader.read_exact(&mut first).await?;
            assert!(!reader.is_finished(), "{path}");
            drop(reader);
            assert!(!client.is_connected(), "{path}");
            let resp = client.get("/hello").await?;
            assert_eq!(resp.text(), "Hello, World!", "after {path}");
            assert_eq!(client.connects(), i as u64 + 2, "{path}");
        }
        // Dropped before a byte of the body was asked for.
        drop(client.get_reader("/hello").await?);
        assert!(!client.is_connected());
        assert_eq!(client.get("/hello").await?.text(), "Hello, World!");
        assert_eq!(client.connects(), 5);
        io::Result::Ok(())
    })
    .unwrap();
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 5);
}

/// What a raw server does after writing an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Reads the next request on the same connection.
    Keep,
    /// Closes the connection.
    Close,
    /// Resets it (RST).
    Reset,
    /// Sends nothing more and waits until the client closes it.
    Stall,
}

/// One answer of a raw server: its bytes, sent in one write, or if paced,
/// its head (up to the blank line) in one write and the rest in pieces of
/// `pace.0` bytes, each `pace.1` after the one before (until the client
/// goes away); then what it does.
struct Reply {
    bytes: Vec<u8>,
    pace: Option<(usize, Duration)>,
    after: After,
}

fn reply(bytes: impl Into<Vec<u8>>, after: After) -> Reply {
    Reply {
        bytes: bytes.into(),
        pace: None,
        after,
    }
}

/// A raw server giving `replies` in order, one per request, across as many
/// connections as they close; it returns the target of each request with
/// the index of the connection it came on.
fn raw_server(replies: Vec<Reply>) -> (u16, JoinHandle<Vec<(usize, String)>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut replies = replies.into_iter().peekable();
        let mut conn = 0;
        while replies.peek().is_some() {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut buf = Vec::new();
            while let Some(target) = read_target(&mut s, &mut buf) {
                seen.push((conn, target));
                let Some(reply) = replies.next() else {
                    break;
                };
                match reply.pace {
                    None => s.write_all(&reply.bytes).unwrap(),
                    Some((size, gap)) => {
                        let head_end = find(&reply.bytes, b"\r\n\r\n").expect("a head") + 4;
                        let (head, body) = reply.bytes.split_at(head_end);
                        s.write_all(head).unwrap();
                        for piece in body.chunks(size) {
                            std::thread::sleep(gap);
                            // A client that refused the body has closed.
                            if s.write_all(piece).is_err() {
                                break;
                            }
                        }
                    }
                }
                match reply.after {
                    After::Keep => continue,
                    After::Close => {}
                    After::Reset => {
                        // Linger 0: closing sends RST.
                        socket2::SockRef::from(&s)
                            .set_linger(Some(Duration::ZERO))
                            .unwrap();
                    }
                    After::Stall => {
                        // Until the client closes (or the wait fails the test).
                        let mut rest = Vec::new();
                        let _ = s.read_to_end(&mut rest);
                    }
                }
                break;
            }
            conn += 1;
        }
        seen
    });
    (port, thread)
}

/// The target of the next request head (no bodies come); `None` when the
/// client closes.
fn read_target(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            return head.split(' ').nth(1).map(str::to_owned);
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn seen(targets: &[(usize, &str)]) -> Vec<(usize, String)> {
    targets.iter().map(|&(c, t)| (c, t.to_owned())).collect()
}

/// Neither `Content-Length` nor chunked: the body runs until the server
/// closes, and the connection is not kept after it.
#[test]
fn a_body_read_until_the_server_closes() {
    let body = pattern_bytes(0, 300 << 10);
    let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n";
    let (port, server) = raw_server(vec![
        reply([&head[..], &body].concat(), After::Close),
        reply(
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            After::Keep,
        ),
    ]);
    block_on(async move {
        let mut client = client(port).await?;
        let mut reader = client.get_reader("/until-close").await?;
        assert_eq!(reader.head().framing(), BodyFraming::UntilClose);
        assert_eq!(read_checked(&mut reader, 5000).await?, 300 << 10);
        assert!(reader.is_finished());
        drop(reader);
        assert!(!client.is_connected());
        assert_eq!(client.get("/next").await?.text(), "ok");
        assert_eq!(client.connects(), 2);
        io::Result::Ok(())
    })
    .unwrap();
    assert_eq!(
        server.join().unwrap(),
        seen(&[(0, "/until-close"), (1, "/next")])
    );
}

/// A chunked body's trailer fields are dropped, and the connection is kept
/// after it; one answered with `Connection: close`, or followed by bytes
/// nothing asked for, is not.
#[test]
fn keep_alive_after_the_end_is_decided_as_for_a_whole_response() {
    let (port, server) = raw_server(vec![
        reply(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
             5;ext=1\r\nHello\r\n8\r\n, World!\r\n0\r\nX-Checksum: 42\r\n\r\n",
            After::Keep,
        ),
        reply(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfirst",
            After::Stall,
        ),
        reply(
            "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecondHTTP/1.1 200 OK\r\n",
            After::Stall,
        ),
        reply(
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast",
            After::Keep,
        ),
    ]);
    block_on(async move {
        let mut client = client(port).await?;
        let mut text = String::new();
        let mut reader = client.get_reader("/trailers").await?;
        reader.read_to_string(&mut text).await?;
        assert_eq!(text, "Hello, World!");
        drop(reader);
        assert!(client.is_connected());
        for (path, want) in [("/close", "first"), ("/extra", "second")] {
            let mut reader = client.get_reader(path).await?;
            text.clear();
            reader.read_to_string(&mut text).await?;
            assert_eq!(text, want);
            assert!(reader.is_finished());
            drop(reader);
            assert!(!client.is_connected(), "{path}");
        }
        assert_eq!(client.get("/last").await?.text(), "last");
        assert_eq!(client.connects(), 3);
        io::Result::Ok(())
    })
    .unwrap();
    assert_eq!(
        server.join().unwrap(),
        seen(&[(0, "/trailers"), (0, "/close"), (1, "/extra"), (2, "/last")])
    );
}

/// The server closing or resetting the connection before the end of the
/// body, or a malformed chunked coding, is an error, never a short body, and
/// stays one; the connection is closed and the next request works on a new
/// one. The same reply fails `request` (the body read whole) and the reader
/// alike: one kind, one message, naming the framing and how much came.
#[test]
fn a_body_cut_short_is_the_same_error_to_request_and_to_the_reader() {
    let len_head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    let chunked_head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let until_close_head = b"HTTP/1.1 200 OK\r\n\r\n";
    let half = pattern_bytes(0, 500);
    let ok = || {
        reply(
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            After::Keep,
        )
    };
    let closed = "the server closed the connection before the end of the";
    let reset = "the server reset the connection before the end of the";
    // The reply, what the server does after it, the error's kind, and its
    // message after "GET http://127.0.0.1:{port}/cut: " (`{peer}`: the
    // server's address): whole, or for a reset, which may drop what came
    // before it, its start and end around the count of bytes read.
    type Case = (Vec<u8>, After, io::ErrorKind, String, &'static str);
    let cases: Vec<Case> = vec![
        (
            [&len_head[..], &half].concat(),
            After::Close,
            io::ErrorKind::UnexpectedEof,
            format!("{closed} body (500 of 1000 bytes)"),
            "",
        ),
        (
            [&chunked_head[..], b"3e8\r\n", &half].concat(),
            After::Close,
            io::ErrorKind::UnexpectedEof,
            format!("{closed} chunked body (500 bytes read)"),
            "",
        ),
        (
            [&chunked_head[..], b"1f4\r\n", &half, b"\r\n"].concat(),
            After::Close,
            io::ErrorKind::UnexpectedEof,
            format!("{closed} chunked body (500 bytes read)"),
            "",
        ),
        (
            [&chunked_head[..], b"5\r\nhello\r\nzz\r\n"].concat(),
            After::Keep,
            io::ErrorKind::InvalidData,
            "bad chunked body (0 bytes read): invalid chunk size".to_owned(),
            "",
        ),
        (
            [&chunked_head[..], b"5\r\nhello\n0\r\n\r\n"].concat(),
            After::Keep,
            io::ErrorKind::InvalidData,
            "bad chunked body (0 bytes read): chunk line not ended by CRLF".to_owned(),
            "",
        ),
        (
            [&len_head[..], &half].concat(),
            After::Reset,
            io::ErrorKind::ConnectionReset,
            format!("{reset} body ("),
            " of 1000 bytes): connection to {peer} was reset by the peer",
        ),
        (
            [&chunked_head[..], b"3e8\r\n", &half].concat(),
            After::Reset,
            io::ErrorKind::ConnectionReset,
            format!("{reset} chunked body ("),
            " bytes read): connection to {peer} was reset by the peer",
        ),
        (
            [&until_close_head[..], &half].concat(),
            After::Reset,
            io::ErrorKind::ConnectionReset,
            format!("{reset} body ("),
            " bytes read): connection to {peer} was reset by the peer",
        ),
    ];
    for (bytes, after, kind, message, reset_end) in cases {
        let what = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned();
        let (port, server) =
            raw_server(vec![reply(bytes.clone(), after), ok(), reply(bytes, after)]);
        let (streamed, whole) = block_on({
            let what = what.clone();
            async move {
                let mut client = client(port).await?;
                let mut reader = client.get_reader("/cut").await?;
                let mut body = Vec::new();
                let streamed = reader
                    .read_to_end(&mut body)
                    .await
                    .expect_err("the body was cut short");
                assert!(body.len() <= 500, "{what}");
                if after == After::Close {
                    assert_eq!(body.len(), 500, "{what}");
                }
                // Again on the next read.
                let again = reader.read(&mut [0; 10]).await.expect_err("failed before");
                assert_eq!(
                    (again.kind(), again.to_string()),
                    (streamed.kind(), streamed.to_string())
                );
                assert!(!reader.is_finished());
                drop(reader);
                assert!(!client.is_connected(), "{what}");
                assert_eq!(client.get("/next").await?.text(), "ok");
                assert_eq!(client.connects(), 2);
                let whole = client
                    .get("/cut")
                    .await
                    .expect_err("the body was cut short");
                assert!(!client.is_connected(), "{what}");
                io::Result::Ok((streamed, whole))
            }
        })
        .unwrap();
        // The second `/cut` on the connection kept after `/next`.
        assert_eq!(
            server.join().unwrap(),
            seen(&[(0, "/cut"), (1, "/next"), (1, "/cut")])
        );
        let start = format!("GET http://127.0.0.1:{port}/cut: {message}");
        for err in [&streamed, &whole] {
            assert_eq!(err.kind(), kind, "{what}: {err}");
            let err = err.to_string();
            if reset_end.is_empty() {
                assert_eq!(err, start, "{what}");
                continue;
            }
            let end = reset_end.replace("{peer}", &format!("127.0.0.1:{port}"));
            let count = err
                .strip_prefix(&start)
                .and_then(|rest| rest.strip_suffix(&end))
                .unwrap_or_else(|| panic!("{what}: {err}"));
            assert!(count.parse::<u16>().is_ok_and(|n| n <= 500), "{err}");
        }
        if reset_end.is_empty() {
            assert_eq!(streamed.to_string(), whole.to_string());
        }
    }
}

/// The timeout bounds each wait for the body: a server that stops sending
/// fails the read after it, one that keeps sending slowly does not, however
/// long the whole takes.
#[test]
fn the_timeout_bounds_each_wait_for_the_body_not_the_whole() {
    let timeout = Duration::from_millis(500);
    let body = pattern_bytes(0, 80);
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 80\r\n\r\n";
    let (port, server) = raw_server(vec![
        // The head at once, then the body in 8 pieces of 10 bytes, each
        // 150 ms after the one before: 1.2 s in all, more than twice the
        // timeout, while no wait is a third of it.
        Reply {
            bytes: [head.as_bytes(), &body].concat(),
            pace: Some((10, Duration::from_millis(150))),
            after: After::Keep,
        },
        // Half the body, then nothing.
        reply([head.as_bytes(), &body[..40]].concat(), After::Stall),
    ]);
    block_on(async move {
        let mut client = client(port).await?;
        client.set_timeout(Some(timeout));
        let started = Instant::now();
        let mut reader = client.get_reader("/slow").await?;
        assert_eq!(read_checked(&mut reader, 1000).await?, 80);
        assert!(started.elapsed() > 2 * timeout, "{:?}", started.elapsed());
        drop(reader);
        assert!(client.is_connected());

        let mut reader = client.get_reader("/stalled").await?;
        let mut buf = [0u8; 100];
        let mut got = 0;
        while got < 40 {
            got += reader.read(&mut buf).await?;
        }
        let waiting = Instant::now();
        let err = reader.read(&mut buf).await.expect_err("no more came");
        let waited = waiting.elapsed();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(waited >= timeout && waited < WAIT, "{waited:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "GET http://127.0.0.1:{port}/stalled timed out after 500ms waiting for more \
                 of the body (40 of 80 bytes); raise it with HttpClient::set_timeout"
            )
        );
        drop(reader);
        // Closed: the server sees the client go and stops.
        assert!(!client.is_connected());
        io::Result::Ok(())
    })
    .unwrap();
    assert_eq!(
        server.join().unwrap(),
        seen(&[(0, "/slow"), (0, "/stalled")])
    );
}

/// Until the head has come the timeout bounds the whole request, as for
/// `request`.
#[test]
fn the_timeout_bounds_the_wait_for_the_head() {
    let (port, server) = raw_server(vec![reply("HTTP/1.1 200 OK\r\n", After::Stall)]);
    block_on(async move {
        let mut client = client(port).await?;
        client.set_timeout(Some(Duration::from_millis(200)));
        let started = Instant::now();
        let err = client
            .get_reader("/no-head")
            .await
            .expect_err("no head came");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(started.elapsed() >= Duration::from_millis(200));
        // The client's deadline ("200ms") or the connection's own timer
        // ("200 ms"), whichever fires first, as for `request`.
        assert!(err.to_string().contains("timed out after 200"), "{err}");
        assert!(!client.is_connected());
        io::Result::Ok(())
    })
    .unwrap();
    assert_eq!(server.join().unwrap(), seen(&[(0, "/no-head")]));
}

/// A `get_reader` future dropped before the head has come (a timeout around
/// it) closes the connection, as a dropped `get` does: the late answer is
/// not read as the next request's.
#[test]
fn a_get_reader_dropped_before_the_head_closes_the_connection() {
    let (port, server) = raw_server(vec![
        reply("HTTP/1.1 200 OK\r\nContent-Le", After::Stall),
        reply(
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            After::Keep,
        ),
    ]);
    block_on(async move {
        let mut client = client(port).await?;
        let cut =
            monocle_stack::util::timeout(Duration::from_millis(50), client.get_reader("/slow"))
                .await
                .map(|reader| reader.map(drop));
        assert!(cut.is_err(), "the head came: {cut:?}");
        assert!(!client.is_connected());
        assert_eq!(client.get("/next").await?.text(), "ok");
        assert_eq!(client.connects(), 2);
        io::Result::Ok(())
    })
    .unwrap();
    assert_eq!(server.join().unwrap(), seen(&[(0, "/slow"), (1, "/next")]));
}

/// How one way of reading a body ended: the body, and whether the
/// connection was kept after it; or the kind of error and its message.
type Outcome = Result<(Vec<u8>, bool), (io::ErrorKind, String)>;

/// Sends `method /` to a raw server giving `reply` (with `pace`, then
/// `after`) twice: once read whole by `request`, once through a
/// `ResponseReader` read to its end, each on a client of its own held to
/// `limits`. Returns how each ended; after an error, each checks that the
/// connection was closed.
fn whole_and_read(
    method: &'static str,
    reply: &[u8],
    pace: Option<(usize, Duration)>,
    after: After,
    limits: Limits,
) -> (Outcome, Outcome) {
    let replies = (0..2)
        .map(|_| Reply {
            bytes: reply.to_vec(),
            pace,
            after,
        })
        .collect();
    let (port, server) = raw_server(replies);
    let outcomes = block_on(async move {
        let mut whole_client = client(port).await?;
        *whole_client.limits_mut() = limits;
        let whole = whole_client
            .request("/", HttpHeaders::new(), method, "")
            .await
            .map(|resp| resp.body().as_bytes().expect("a body in memory").to_vec());
        let whole = ended(whole, &whole_client);
        drop(whole_client);
        let mut reading_client = client(port).await?;
        *reading_client.limits_mut() = limits;
        let mut body = Vec::new();
        let read = match reading_client
            .request_reader("/", HttpHeaders::new(), method, "")
            .await
        {
            Ok(mut reader) => reader.read_to_end(&mut body).await.map(|_| drop(reader)),
            Err(e) => Err(e),
        };
        let read = ended(read.map(|()| body), &reading_client);
        io::Result::Ok((whole, read))
    })
    .unwrap();
    server.join().unwrap();
    outcomes
}

/// How reading a body with `client` ended; an error must have closed the
/// connection.
fn ended(read: io::Result<Vec<u8>>, client: &HttpClient) -> Outcome {
    match read {
        Ok(body) => Ok((body, client.is_connected())),
        Err(e) => {
            assert!(!client.is_connected(), "kept after {e}");
            Err((e.kind(), e.to_string()))
        }
    }
}
/// `request` reads a whole body as a `ResponseReader` does, framing by
/// framing, arriving in pieces or at once: the same bytes, the same
/// connection kept or not, the same errors for bodies cut short, reset or
/// malformed, and none after `HEAD`, 204 and 304.
#[test]
fn request_reads_every_body_as_the_reader_does() {
    let body = pattern_bytes(0, 5000);
    let len_head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n".to_vec();
    let chunked_head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let until_close_head = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    let mut chunked = chunked_head.clone();
    for piece in [&body[..1], &body[1..4100], &body[4100..]] {
        monocle_http::encode_chunk(piece, &mut chunked);
    }
    chunked.extend_from_slice(b"0\r\nX-Sum: 1\r\n\r\n");
    let paced = Some((700, Duration::from_millis(1)));
    let cut = |head: &[u8], rest: &[u8]| [head, rest].concat();
    // An outcome with the kind of error only.
    type Kinds = Result<(Vec<u8>, bool), io::ErrorKind>;
    use io::ErrorKind::{ConnectionReset, InvalidData, UnexpectedEof};
    #[allow(clippy::type_complexity)] // a test table
    let cases: Vec<(&str, &str, Vec<u8>, Option<(usize, Duration)>, After, Kinds)> = vec![
        (
            "length",
            "GET",
            cut(&len_head, &body),
            paced,
            After::Keep,
            Ok((body.clone(), true)),
        ),
        (
            "length at once",
            "GET",
            cut(&len_head, &body),
            None,
            After::Keep,
            Ok((body.clone(), true)),
        ),
        (
            "chunked",
            "GET",
            chunked.clone(),
            paced,
            After::Keep,
            Ok((body.clone(), true)),
        ),
        (
            "until close",
            "GET",
            cut(&until_close_head, &body),
            paced,
            After::Close,
            Ok((body.clone(), false)),
        ),
        (
            "HEAD",
            "GET",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n".to_vec(),
            None,
            After::Keep,
            Err(UnexpectedEof),
        ),
        (
            "HEAD",
            "HEAD",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n".to_vec(),
            None,
            After::Keep,
            Ok((Vec::new(), true)),
        ),
        (
            "204",
            "GET",
            b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
            None,
            After::Keep,
            Ok((Vec::new(), true)),
        ),
        (
            "304",
            "GET",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5000\r\n\r\n".to_vec(),
            None,
            After::Keep,
            Ok((Vec::new(), true)),
        ),
        (
            "length cut",
            "GET",
            cut(&len_head, &body[..4999]),
            paced,
            After::Close,
            Err(UnexpectedEof),
        ),
        (
            "chunked cut",
            "GET",
            chunked[..chunked.len() - 2].to_vec(),
            paced,
            After::Close,
            Err(UnexpectedEof),
        ),
        (
            "length reset",
            "GET",
            cut(&len_head, &body[..3000]),
            None,
            After::Reset,
            Err(ConnectionReset),
        ),
        (
            "until close reset",
            "GET",
            cut(&until_close_head, &body[..3000]),
            None,
            After::Reset,
            Err(ConnectionReset),
        ),
        (
            "chunked malformed",
            "GET",
            cut(&chunked_head, b"5\r\nhello\r\nzz\r\n"),
            None,
            After::Close,
            Err(InvalidData),
        ),
    ];
    for (name, method, reply, pace, after, want) in cases {
        // A 200 to GET whose body never comes: cut short.
        let after = if name == "HEAD" && method == "GET" {
            After::Close
        } else {
            after
        };
        let (whole, read) = whole_and_read(method, &reply, pace, after, Limits::new());
        let kind = |(kind, _)| match kind {
            // A reset may show as an abort.
            io::ErrorKind::ConnectionAborted => ConnectionReset,
            kind => kind,
        };
        let (whole, read) = (whole.map_err(kind), read.map_err(kind));
        assert_eq!(whole, want, "{name} {method}: request");
        assert_eq!(read, want, "{name} {method}: reader");
    }
}

/// A body is held to its limit whatever its framing: `max_body` read
/// whole, `max_streamed_body` read through a `ResponseReader`. At the limit
/// it is read; one byte past it is refused with `InvalidData` and a
/// message naming the setter (for a `Content-Length`, before the body is
/// read: `request_reader` fails), and the connection is closed.
#[test]
fn each_body_is_held_to_its_limit_whatever_its_framing() {
    let body = pattern_bytes(0, 3000);
    let length = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n",
        &body[..],
    ]
    .concat();
    let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(1000) {
        monocle_http::encode_chunk(piece, &mut chunked);
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let until_close = [&b"HTTP/1.1 200 OK\r\n\r\n"[..], &body].concat();
    for (name, reply, after) in [
        ("length", &length, After::Keep),
        ("chunked", &chunked, After::Keep),
        ("until close", &until_close, After::Close),
    ] {
        let kept = after == After::Keep;
        let pace = Some((500, Duration::from_millis(1)));
        for (max_body, max_streamed_body) in [(3000, 3000), (2999, 3000), (3000, 2999)] {
            let mut limits = Limits::new();
            limits
                .max_body(max_body)
                .max_streamed_body(max_streamed_body);
            let (whole, read) = whole_and_read("GET", reply, pace, after, limits);
            for (got, limit, setter) in [
                (whole, max_body, "max_body"),
                (read, max_streamed_body, "max_streamed_body"),
            ] {
                let what = format!("{name}, {setter} {limit}");
                if limit == 3000 {
                    assert_eq!(got, Ok((body.clone(), kept)), "{what}");
                    continue;
                }
                let (kind, message) = got.expect_err(&what);
                assert_eq!(kind, io::ErrorKind::InvalidData, "{what}: {message}");
                let want = format!(
                    "/: response body larger than 2999 bytes; \
                     raise it with HttpClient::limits_mut().{setter}"
                );
                assert!(message.ends_with(&want), "{what}: {message}");
            }
        }
    }
    // The message names the request, the limit and how to raise it.
    let (port, server) = raw_server(vec![reply(until_close, After::Close)]);
    block_on(async move {
        let mut client = client(port).await?;
        client.limits_mut().max_body(2999);
        let err = client.get("/big").await.expect_err("past the limit");
        let want = format!(
            "GET http://127.0.0.1:{port}/big: response body larger than 2999 bytes; \
             raise it with HttpClient::limits_mut().max_body"
        );
        assert_eq!(err.to_string(), want);
        assert!(!client.is_connected());
        io::Result::Ok(())
    })
    .unwrap();
    server.join().unwrap();
}

/// A `Content-Length` is only the server's word: a terabyte announced under
/// a limit raised that high takes memory only as bytes come, and a cut body
/// is an error, not an allocation that aborts the process.
#[test]
fn a_huge_announced_length_takes_memory_as_the_bytes_come() {
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n";
    let (port, server) = raw_server(vec![reply(
        [head.as_bytes(), &pattern_bytes(0, 3000)].concat(),
        After::Close,
    )]);
    let err = block_on(async move {
        let mut client = HttpClient::new();
        client.limits_mut().max_body(1 << 41);
        client.get(&format!("http://127.0.0.1:{port}/tera")).await
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("before the end of the body (3000 of 1099511627776 bytes)"),
        "{err}"
    );
    assert_eq!(server.join().unwrap(), seen(&[(0, "/tera")]));
}
