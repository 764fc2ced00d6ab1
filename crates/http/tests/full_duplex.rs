//! Full duplex: a streaming handler answers with a streamed response that
//! goes on reading the request body, over loopback sockets (raw std sockets
//! sending and reading at once, and curl).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{
    assert_nothing_arrived, body_of, data, find, fnv, raw, read_more, read_response,
    read_until_close, start, FNV_START,
};
use futures_lite::{stream, StreamExt};
use monocle_core::Channel;
use monocle_http::{
    ChunkedDecoder, Handler, HttpRequest, HttpResponse, HttpServer, Limits, RequestBody,
};
use monocle_stack::util::sleep;

/// How long a test waits for an event before failing.
const WAIT: Duration = Duration::from_secs(10);

/// Reads the body as it arrives until `take` bytes are in (whole chunks),
/// then stops reading and yields how many it read.
fn prefix(
    mut body: RequestBody,
    take: usize,
) -> impl futures_lite::Stream<Item = std::io::Result<Vec<u8>>> {
    stream::once_future(async move {
        let mut got = 0;
        while got < take {
            match body.next_chunk().await? {
                Some(chunk) => got += chunk.len(),
                None => break,
            }
        }
        Ok(got.to_string().into_bytes())
    })
}

fn app() -> HttpServer {
    let mut server = HttpServer::new(0, |_req: HttpRequest| async { "Hello, World!" });
    // The body, sent back as it arrives.
    server.post(
        "/echo",
        Handler::streaming(async |_req: HttpRequest, body: RequestBody| {
            HttpResponse::new(200).with_stream(body)
        }),
    );
    // The head at once, then what the body came to.
    server.post(
        "/count",
        Handler::streaming(async |_req: HttpRequest, mut body: RequestBody| {
            HttpResponse::new(200)
                .with_header("X-Early", "yes")
                .with_stream(stream::once_future(async move {
                    let mut n = 0;
                    while let Some(chunk) = body.next_chunk().await? {
                        n += chunk.len();
                    }
                    Ok(format!("{n} bytes").into_bytes())
                }))
        }),
    );
    // The body's pieces but not its error: a stream that ends as if all
    // went well when the body fails.
    server.post(
        "/echo-ok",
        Handler::streaming(async |_req: HttpRequest, body: RequestBody| {
            HttpResponse::new(200).with_stream(body.filter(|piece| piece.is_ok()))
        }),
    );
    // Holds the body without reading it, for a minute.
    server.post(
        "/hold",
        Handler::streaming(async |_req: HttpRequest, body: RequestBody| {
            HttpResponse::new(200).with_stream(stream::once_future(async move {
                let _kept = body;
                sleep(Duration::from_secs(60)).await;
                Ok(b"late".to_vec())
            }))
        }),
    );
    // Reads the first `?take=` bytes only.
    server.post(
        "/prefix",
        Handler::streaming(async |req: HttpRequest, body: RequestBody| {
            let take = req.query_arg("take").unwrap().parse().unwrap();
            HttpResponse::new(200).with_stream(prefix(body, take))
        }),
    );
    // Reads to the end, error or not, and ends its response as if all went
    // well: "ok N" or "failed after N".
    server.post(
        "/swallow",
        Handler::streaming(async |_req: HttpRequest, mut body: RequestBody| {
            HttpResponse::new(200).with_stream(stream::once_future(async move {
                let mut n = 0;
                let end = loop {
                    match body.next_chunk().await {
                        Ok(Some(chunk)) => n += chunk.len(),
                        Ok(None) => break format!("ok {n}"),
                        Err(_) => break format!("failed after {n}"),
                    }
                };
                Ok(end.into_bytes())
            }))
        }),
    );
    server
}

/// Reads a response head from `s`; what follows it stays in `buf`.
fn read_head(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            buf.drain(..end + 4);
            return head;
        }
        read_more(s, buf);
    }
}

/// Reads a chunked body from `s` to its last chunk, handing `sink` the
/// bytes of each read that brought some. What follows the body stays in
/// `buf`.
fn read_chunked_with(s: &mut TcpStream, buf: &mut Vec<u8>, mut sink: impl FnMut(&[u8])) {
    let mut limits = Limits::new();
    limits.max_body(u64::MAX);
    let mut decoder = ChunkedDecoder::new(&limits);
    let mut out = Vec::new();
    loop {
        let used = decoder
            .decode(buf, &mut out)
            .expect("a well-formed chunked body");
        buf.drain(..used);
        if !out.is_empty() {
            sink(&out);
            out.clear();
        }
        if decoder.is_done() {
            return;
        }
        read_more(s, buf);
    }
}

/// Reads a chunked body as [`read_chunked_with`]; returns its length and
/// hash, and calls `arrived` after each read that brought body bytes.
fn read_chunked(s: &mut TcpStream, buf: &mut Vec<u8>, mut arrived: impl FnMut()) -> (u64, u64) {
    let (mut len, mut hash) = (0u64, FNV_START);
    read_chunked_with(s, buf, |bytes| {
        len += bytes.len() as u64;
        hash = fnv(hash, bytes);
        arrived();
    });
    (len, hash)
}

/// Reads a chunked body of text as [`read_chunked_with`].
fn read_chunked_text(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    let mut text = Vec::new();
    read_chunked_with(s, buf, |bytes| text.extend_from_slice(bytes));
    String::from_utf8(text).unwrap()
}

/// The chunked body of a whole response, decoded; `None` when it lacks its
/// last chunk (the response was cut short).
fn dechunk(response: &str) -> Option<String> {
    let mut limits = Limits::new();
    limits.max_body(u64::MAX);
    let mut decoder = ChunkedDecoder::new(&limits);
    let mut out = Vec::new();
    decoder
        .decode(body_of(response).as_bytes(), &mut out)
        .ok()?;
    decoder.is_done().then(|| String::from_utf8(out).unwrap())
}

#[test]
fn a_32_mib_chunked_upload_is_echoed_as_it_arrives_and_the_connection_kept() {
    const PIECE: usize = 1 << 20;
    const PIECES: u64 = 32;
    let srv = start(app);
    let expected = (0..PIECES).fold(FNV_START, |h, i| fnv(h, &data(PIECE, i)));
    let mut s = raw(srv.port);
    let mut writer = s.try_clone().unwrap();
    let (echoing, echo_seen) = mpsc::channel::<()>();
    let sending = std::thread::spawn(move || -> std::io::Result<()> {
        writer
            .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")?;
        for i in 0..PIECES {
            writer.write_all(format!("{PIECE:x}\r\n").as_bytes())?;
            writer.write_all(&data(PIECE, i))?;
            writer.write_all(b"\r\n")?;
            if i == 0 {
                // The rest goes only once the echo has begun: a server
                // that answered only after the whole body never would.
                echo_seen
                    .recv_timeout(WAIT)
                    .expect("the echo began while the upload went on");
            }
        }
        writer.write_all(b"0\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
    });
    let mut buf = Vec::new();
    let head = read_head(&mut s, &mut buf);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{head}"
    );
    assert!(!head.contains("Connection: close"), "{head}");
    let mut echoing = Some(echoing);
    let (len, hash) = read_chunked(&mut s, &mut buf, || {
        if let Some(tx) = echoing.take() {
            tx.send(()).unwrap();
        }
    });
    sending.join().unwrap().unwrap();
    assert_eq!(len, PIECES * PIECE as u64);
    assert_eq!(hash, expected, "the echo differs from the upload");
    // The body was read to its end: the connection serves the next request.
    let next = read_response(&mut s, &mut buf);
    assert!(next.starts_with("HTTP/1.1 200 OK\r\n"), "{next}");
    assert_eq!(body_of(&next), "Hello, World!");
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
}

#[test]
fn curl_gets_its_upload_echoed() {
    if !std::path::Path::new("/usr/bin/curl").exists() {
        eprintln!("curl not installed; skipping");
        return;
    }
    let srv = start(app);
    let body = data(16 << 20, 21);
    let dir = std::env::temp_dir();
    let sent = dir.join(format!("monocle-duplex-up-{}", std::process::id()));
    let got = dir.join(format!("monocle-duplex-down-{}", std::process::id()));
    std::fs::write(&sent, &body).unwrap();
    let url = format!("http://127.0.0.1:{}/echo", srv.port);
    let file = format!("@{}", sent.display());
    let runs: [&[&str]; 2] = [
        // Chunked, after `100 Continue`.
        &[
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "Expect: 100-continue",
        ],
        // With a Content-Length, not waiting.
        &["-H", "Expect:"],
    ];
    for extra in runs {
        let out = std::process::Command::new("/usr/bin/curl")
            .args([
                "-sS",
                "--max-time",
                "60",
                "-w",
                "%{http_code} %{num_connects}",
            ])
            .args(extra)
            .args(["--data-binary", &file, "-o"])
            .arg(&got)
            .arg(&url)
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200 1", "{extra:?}");
        let echoed = std::fs::read(&got).unwrap();
        assert_eq!(echoed.len(), body.len(), "{extra:?}");
        assert_eq!(fnv(FNV_START, &echoed), fnv(FNV_START, &body), "{extra:?}");
    }
    let _ = std::fs::remove_file(&sent);
    let _ = std::fs::remove_file(&got);
}

#[test]
fn continue_goes_out_once_before_the_head_of_a_duplex_response() {
    let srv = start(app);
    let mut s = raw(srv.port);
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    // The handler kept the body to read: the client is told to send it,
    // before the final response's head.
    assert_eq!(read_head(&mut s, &mut buf), "HTTP/1.1 100 Continue\r\n\r\n");
    let head = read_head(&mut s, &mut buf);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    s.write_all(b"hello world").unwrap();
    let (len, hash) = read_chunked(&mut s, &mut buf, || {});
    assert_eq!((len, hash), (11, fnv(FNV_START, b"hello world")));
    // Once only, and the body was read whole: the connection is kept.
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let next = read_response(&mut s, &mut buf);
    assert!(next.starts_with("HTTP/1.1 200 OK\r\n"), "{next}");
    assert!(!next.contains("100 Continue"), "{next}");
}

#[test]
fn continue_waits_for_the_stream_s_first_read() {
    let (polled_tx, polled) = mpsc::channel::<()>();
    let (go, go_rx) = mpsc::channel::<()>();
    let go_rx = Arc::new(Mutex::new(go_rx));
    let srv = start(move || {
        let mut server = app();
        // The response's stream holds the body, and reads it only once the
        // test says go.
        server.post(
            "/gated",
            Handler::streaming(async move |_req: HttpRequest, mut body: RequestBody| {
                let (polled_tx, go) = (polled_tx.clone(), Arc::clone(&go_rx));
                HttpResponse::new(200).with_stream(stream::once_future(async move {
                    polled_tx.send(()).unwrap();
                    monocle_stack::offload(move || go.lock().unwrap().recv())
                        .await
                        .unwrap();
                    let n = body.next_chunk().await?.map_or(0, |c| c.len());
                    Ok(format!("{n} bytes").into_bytes())
                }))
            }),
        );
        server
    });
    let mut s = raw(srv.port);
    s.write_all(
        b"POST /gated HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    polled.recv_timeout(WAIT).expect("the stream was polled");
    // The stream runs and has not read: no 100, and so no head yet (an
    // interim response cannot follow the final one's head).
    assert_nothing_arrived(&mut s);
    go.send(()).unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_head(&mut s, &mut buf), "HTTP/1.1 100 Continue\r\n\r\n");
    let head = read_head(&mut s, &mut buf);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    s.write_all(b"hello").unwrap();
    assert_eq!(read_chunked_text(&mut s, &mut buf), "5 bytes");
}

/// Runs curl: one POST of `body` to `path` with `Expect: 100-continue`,
/// then a GET of `/` (after `--next`), on the same connection if it can.
/// Returns stdout: per transfer, the body then ` code connects exit
/// connection-header`.
fn curl_expect_then_get(port: u16, path: &str, body: &[u8]) -> Vec<u8> {
    let sent = std::env::temp_dir().join(format!(
        "monocle-duplex-expect-{}-{}",
        std::process::id(),
        path.trim_start_matches('/')
    ));
    std::fs::write(&sent, body).unwrap();
    let w = " %{http_code} %{num_connects} %{exitcode} %header{connection}\n";
    let out = std::process::Command::new("/usr/bin/curl")
        .args(["-sS", "--max-time", "60", "-w", w])
        .args(["-H", "Expect: 100-continue", "--data-binary"])
        .arg(format!("@{}", sent.display()))
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .args(["--next", "-sS", "-w", w])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .expect("run curl");
    let _ = std::fs::remove_file(&sent);
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn a_duplex_stream_that_lets_the_body_go_unread_asks_for_none_and_closes() {
    let srv = start(|| {
        let mut server = app();
        // Answers without reading: the body goes when the future ends.
        server.post(
            "/unread",
            Handler::streaming(async |_req: HttpRequest, body: RequestBody| {
                HttpResponse::new(200).with_stream(stream::once_future(async move {
                    drop(body);
                    Ok(b"not read".to_vec())
                }))
            }),
        );
        server
    });
    let mut s = raw(srv.port);
    s.write_all(
        b"POST /unread HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    // No 100: the body was never asked for. The client may never send it,
    // so the connection cannot be kept, and the head says so.
    let out = read_until_close(&mut s);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
    assert_eq!(dechunk(&out).as_deref(), Some("not read"), "{out}");

    // curl takes such an answer as the end of the exchange, and would send
    // its next request where the server waits for the body.
    if std::path::Path::new("/usr/bin/curl").exists() {
        let out = curl_expect_then_get(srv.port, "/unread", &data(1 << 20, 23));
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out, "not read 200 1 0 close\nHello, World! 200 1 0 \n",
            "{out}"
        );
    }
}

#[test]
fn a_duplex_stream_that_yields_before_reading_asks_for_the_body_with_its_head() {
    let srv = start(|| {
        let mut server = app();
        // A first line, then the body echoed.
        server.post(
            "/prelude",
            Handler::streaming(async |_req: HttpRequest, body: RequestBody| {
                HttpResponse::new(200).with_stream(stream::once(Ok(b"echo:".to_vec())).chain(body))
            }),
        );
        server
    });
    let mut s = raw(srv.port);
    s.write_all(
        b"POST /prelude HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_head(&mut s, &mut buf), "HTTP/1.1 100 Continue\r\n\r\n");
    let head = read_head(&mut s, &mut buf);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(!head.contains("Connection: close"), "{head}");
    s.write_all(b"hello").unwrap();
    assert_eq!(read_chunked_text(&mut s, &mut buf), "echo:hello");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let next = read_response(&mut s, &mut buf);
    assert_eq!(body_of(&next), "Hello, World!", "{next}");

    if std::path::Path::new("/usr/bin/curl").exists() {
        let body = data(1 << 20, 24);
        let out = curl_expect_then_get(srv.port, "/prelude", &body);
        let mut want = b"echo:".to_vec();
        want.extend_from_slice(&body);
        want.extend_from_slice(b" 200 1 0 \nHello, World! 200 0 0 \n");
        assert_eq!(out.len(), want.len());
        assert!(
            out == want,
            "{}",
            String::from_utf8_lossy(&out[out.len() - 40..])
        );
    }
}

#[test]
fn the_head_goes_out_before_the_body_is_in() {
    let srv = start(app);
    let mut s = raw(srv.port);
    s.write_all(b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        .unwrap();
    let mut buf = Vec::new();
    let head = read_head(&mut s, &mut buf);
    assert!(head.contains("\r\nX-Early: yes\r\n"), "{head}");
    // Half the body is still to come.
    s.write_all(b"world").unwrap();
    assert_eq!(read_chunked_text(&mut s, &mut buf), "10 bytes");
}

#[test]
fn a_response_that_stops_reading_leaves_a_small_rest_drained() {
    let srv = start(app);
    let mut s = raw(srv.port);
    let mut request =
        b"POST /prefix?take=40000 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".to_vec();
    request.extend_from_slice(&data(100_000, 3));
    request.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(&request).unwrap();
    let mut buf = Vec::new();
    let head = read_head(&mut s, &mut buf);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    read_chunked(&mut s, &mut buf, || {});
    // At most 60,000 bytes were left: read and dropped, not taken for a
    // request, and the connection kept.
    let next = read_response(&mut s, &mut buf);
    assert!(next.starts_with("HTTP/1.1 200 OK\r\n"), "{next}");
    assert_eq!(body_of(&next), "Hello, World!");
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
}

#[test]
fn a_response_that_stops_reading_a_large_or_chunked_rest_has_it_discarded() {
    let srv = start(app);
    // 4 MiB of Content-Length body, of which a thousand bytes are read.
    // The response's head said the connection stays open (the client may
    // be sending still, and must not be reset): the rest is read and
    // dropped, and the next request answered.
    let mut s = raw(srv.port);
    let mut writer = s.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let mut request =
            b"POST /prefix?take=1000 HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n"
                .to_vec();
        request.extend_from_slice(&data(4 << 20, 5));
        request.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
        writer.write_all(&request)
    });
    let mut buf = Vec::new();
    let head = read_head(&mut s, &mut buf);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(!head.contains("Connection: close"), "{head}");
    let read: usize = read_chunked_text(&mut s, &mut buf).parse().unwrap();
    assert!((1000..4 << 20).contains(&read), "{read}");
    let next = read_response(&mut s, &mut buf);
    assert!(next.starts_with("HTTP/1.1 200 OK\r\n"), "{next}");
    assert_eq!(body_of(&next), "Hello, World!");
    sending.join().unwrap().expect("the whole upload was taken");

    // A chunked body: its rest, sent only once the response is complete,
    // is decoded to its last chunk and dropped.
    let mut request =
        b"POST /prefix?take=1000 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n"
            .to_vec();
    request.extend_from_slice(&data(2000, 6));
    request.extend_from_slice(b"\r\n");
    s.write_all(&request).unwrap();
    let head = read_head(&mut s, &mut buf);
    assert!(!head.contains("Connection: close"), "{head}");
    assert_eq!(read_chunked_text(&mut s, &mut buf), "2000");
    let mut rest = Vec::new();
    for i in 0..100 {
        rest.extend_from_slice(b"2710\r\n");
        rest.extend_from_slice(&data(10_000, i));
        rest.extend_from_slice(b"\r\n");
    }
    rest.extend_from_slice(b"0\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(&rest).unwrap();
    let next = read_response(&mut s, &mut buf);
    assert_eq!(body_of(&next), "Hello, World!", "{next}");
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
}

#[test]
fn a_reader_elsewhere_gets_no_byte_of_a_discarded_rest() {
    let go = Channel::<()>::new(1);
    let (report_tx, report) = mpsc::channel::<String>();
    let srv = start({
        let go = go.clone();
        move || {
            let mut server = app();
            // The body is read by an o-routine of its own: one chunk, then
            // (once the test says so) one more. The response, only the
            // first chunk's length, ends while that o-routine holds the body.
            server.post(
                "/aside",
                Handler::streaming(async move |_req: HttpRequest, mut body: RequestBody| {
                    let first = Channel::<usize>::new(1);
                    let (go, report_tx, told) = (go.clone(), report_tx.clone(), first.clone());
                    monocle_stack::launch(async move {
                        let n = body.next_chunk().await.unwrap().unwrap().len();
                        told.try_send(n).unwrap();
                        go.recv().await.unwrap();
                        let next = match body.next_chunk().await {
                            Ok(Some(chunk)) => format!("got {} bytes", chunk.len()),
                            Ok(None) => "end".to_owned(),
                            Err(e) => format!("err {e}"),
                        };
                        report_tx.send(next).unwrap();
                    });
                    HttpResponse::new(200).with_stream(stream::once_future(async move {
                        Ok(first.recv().await.unwrap().to_string().into_bytes())
                    }))
                }),
            );
            server
        }
    });
    let mut s = raw(srv.port);
    s.write_all(b"POST /aside HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
        .unwrap();
    let mut buf = Vec::new();
    let head = read_head(&mut s, &mut buf);
    assert!(!head.contains("Connection: close"), "{head}");
    assert_eq!(read_chunked_text(&mut s, &mut buf), "10");
    // The rest is being discarded (the server waits for it): the reader
    // that held on fails, and gets none of it.
    go.try_send(()).unwrap();
    let next = report.recv_timeout(WAIT).expect("the reader was answered");
    assert!(
        next.starts_with("err the request was answered before its body was read to the end"),
        "{next}"
    );
    s.write_all(&[b'r'; 990]).unwrap();
    s.write_all(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let after = read_response(&mut s, &mut buf);
    assert_eq!(body_of(&after), "Hello, World!", "{after}");
}

#[test]
fn a_rest_that_stalls_or_is_malformed_closes_after_the_response() {
    let srv = start(|| {
        let mut server = app();
        let mut config = server.config();
        config.read_timeout(Duration::from_millis(300));
        server.set_config(config);
        server
    });
    let length = "Content-Length: 100000\r\n\r\n0123456789";
    let chunked = "Transfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n";
    // What the client sends once the response is in: nothing (the read
    // timeout ends the discard), or a malformed chunk size.
    for (body, then) in [(length, ""), (chunked, ""), (chunked, "zz\r\n")] {
        let mut s = raw(srv.port);
        let request = format!("POST /prefix?take=10 HTTP/1.1\r\nHost: x\r\n{body}");
        s.write_all(request.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let head = read_head(&mut s, &mut buf);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(read_chunked_text(&mut s, &mut buf), "10");
        s.write_all(then.as_bytes()).unwrap();
        // The discard fails, and the connection closes with nothing more.
        assert_eq!(read_until_close(&mut s), "", "{body:?} {then:?}");
        assert!(buf.is_empty());
    }
}

#[test]
fn curl_uploads_whole_to_a_response_that_stops_reading() {
    if !std::path::Path::new("/usr/bin/curl").exists() {
        eprintln!("curl not installed; skipping");
        return;
    }
    let srv = start(app);
    let sent = std::env::temp_dir().join(format!("monocle-duplex-rest-{}", std::process::id()));
    std::fs::write(&sent, data(8 << 20, 22)).unwrap();
    let file = format!("@{}", sent.display());
    let prefix = format!("http://127.0.0.1:{}/prefix?take=1000", srv.port);
    let after = format!("http://127.0.0.1:{}/", srv.port);
    let runs: [&[&str]; 2] = [
        &["-H", "Expect:"],
        &[
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "Expect: 100-continue",
        ],
    ];
    for extra in runs {
        // The upload, then a GET on the same connection.
        let out = std::process::Command::new("/usr/bin/curl")
            .args([
                "-sS",
                "--max-time",
                "60",
                "-w",
                " %{http_code} %{num_connects} %{exitcode}\n",
            ])
            .args(extra)
            .args(["--data-binary", &file, &prefix, "--next", "-sS"])
            .args(["-w", " %{http_code} %{num_connects} %{exitcode}\n", &after])
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "curl failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        let [first, second] = lines[..] else {
            panic!("{extra:?}: {stdout}")
        };
        let (read, status) = first.split_once(' ').unwrap();
        assert!(
            (1000..8 << 20).contains(&read.parse::<usize>().unwrap()),
            "{stdout}"
        );
        // Before, curl got the whole 200 but failed its upload (exit 55,
        // broken pipe) as the server closed with the rest unread.
        assert_eq!(status, "200 1 0", "{extra:?}: {stdout}");
        assert_eq!(second, "Hello, World! 200 0 0", "{extra:?}: {stdout}");
    }
    let _ = std::fs::remove_file(&sent);
}

#[test]
fn a_body_over_max_streamed_body_cuts_the_response_short() {
    let srv = start(|| {
        let mut server = app();
        let mut config = server.config();
        config.limits_mut().max_streamed_body(100_000);
        server.set_config(config);
        server
    });
    for path in ["/echo", "/swallow"] {
        let mut s = raw(srv.port);
        let mut writer = s.try_clone().unwrap();
        let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        let sending = std::thread::spawn(move || {
            let mut request = head.into_bytes();
            for i in 0..20 {
                request.extend_from_slice(b"2710\r\n");
                request.extend_from_slice(&data(10_000, i));
                request.extend_from_slice(b"\r\n");
            }
            request.extend_from_slice(b"0\r\n\r\n");
            let _ = writer.write_all(&request);
        });
        let out = read_until_close(&mut s);
        sending.join().unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {out}");
        // The head was out when the body went over: the response has no
        // last chunk (whether the stream failed or ended), and the
        // connection closed.
        assert_eq!(dechunk(&out), None, "{path}: {out}");
        if path == "/swallow" {
            assert!(out.contains("failed after 100000"), "{out}");
        }
    }
}

#[test]
fn a_stalled_or_cut_body_fails_the_duplex_response() {
    let srv = start(|| {
        let mut server = app();
        let mut config = server.config();
        config.read_timeout(Duration::from_millis(300));
        server.set_config(config);
        server
    });
    let head = "HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789";
    // 10 bytes and nothing more, with the connection open: the reader
    // times out, and the response is cut short (no last chunk, then the
    // connection closes), whether its stream passes the error on (and
    // fails) or leaves it out (and ends as if all went well).
    for path in ["/echo", "/echo-ok"] {
        let mut s = raw(srv.port);
        s.write_all(format!("POST {path} {head}").as_bytes())
            .unwrap();
        let out = read_until_close(&mut s);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("\r\na\r\n0123456789\r\n"), "{out}");
    }
    // Cut off: the client shuts down its sending side after 10 bytes.
    let mut s = raw(srv.port);
    s.write_all(format!("POST /echo-ok {head}").as_bytes())
        .unwrap();
    let mut buf = Vec::new();
    let response_head = read_head(&mut s, &mut buf);
    assert!(
        response_head.starts_with("HTTP/1.1 200 OK\r\n"),
        "{response_head}"
    );
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let rest = read_until_close(&mut s);
    let out = format!("{response_head}{}{rest}", String::from_utf8_lossy(&buf));
    assert_eq!(dechunk(&out), None, "{out}");
}

/// Waits until the server has no connection left, failing after [`WAIT`].
fn wait_no_connection(srv: &common::TestServer) {
    let deadline = std::time::Instant::now() + WAIT;
    while srv.with_server(|s| s.active_connections()) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the connection of a client that left is still open"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_client_that_leaves_is_noticed_while_the_body_is_held_unread() {
    let srv = start(app);
    let cases = [
        ("close", "Content-Length: 100\r\n\r\n"),
        ("reset", "Content-Length: 100\r\n\r\n0123456789"),
        (
            "close",
            "Transfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n",
        ),
    ];
    for (how, rest) in cases {
        let mut s = raw(srv.port);
        let request = format!("POST /hold HTTP/1.1\r\nHost: x\r\n{rest}");
        s.write_all(request.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let head = read_head(&mut s, &mut buf);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(srv.with_server(|s| s.active_connections()), 1);
        if how == "reset" {
            // SO_LINGER 0: the kernel sends a reset.
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
        drop(s);
        // The response's stream sleeps for a minute holding the body: only
        // the client leaving can end the connection before.
        wait_no_connection(&srv);
    }
}

#[test]
fn a_body_read_in_another_oroutine_is_fed_while_the_response_streams() {
    let srv = start(|| {
        let mut server = app();
        server.post(
            "/elsewhere",
            Handler::streaming(async |_req: HttpRequest, mut body: RequestBody| {
                // The body is read by an o-routine of its own, which the
                // response's stream waits for.
                let counted = monocle_stack::launch(async move {
                    let mut hash = FNV_START;
                    while let Some(chunk) = body.next_chunk().await? {
                        hash = fnv(hash, &chunk);
                    }
                    std::io::Result::Ok(format!("{hash:016x}").into_bytes())
                });
                HttpResponse::new(200).with_stream(stream::once_future(counted))
            }),
        );
        server
    });
    let body = data(1 << 20, 8);
    let mut s = raw(srv.port);
    let mut request =
        b"POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n".to_vec();
    request.extend_from_slice(&body);
    s.write_all(&request).unwrap();
    let mut buf = Vec::new();
    let head = read_head(&mut s, &mut buf);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let expected = format!("{:016x}", fnv(FNV_START, &body));
    assert_eq!(read_chunked_text(&mut s, &mut buf), expected);
}
