//! The server driven by raw bytes over std TcpStreams.

mod common;

use std::io::{Read, Write};

use common::{exchange_until_close, raw, read_response, start};
use monocle_http::{HttpHeaders, HttpRequest, HttpServer};

fn hello() -> HttpServer {
    let mut server = HttpServer::new(0, |_req: HttpRequest| async { "Hello, World!" });
    server.post("/echo", |req: HttpRequest| async move { req.into_body() });
    server
}

#[test]
fn keep_alive_and_pipelining() {
    let srv = start(hello);
    let mut s = raw(srv.port);
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let a = read_response(&mut s, &mut buf);
    let b = read_response(&mut s, &mut buf);
    let c = read_response(&mut s, &mut buf);
    assert!(a.starts_with("HTTP/1.1 200 OK\r\n"), "{a}");
    assert!(a.ends_with("\r\n\r\nHello, World!"), "{a}");
    assert!(b.ends_with("\r\n\r\nabc"), "{b}");
    assert!(c.ends_with("\r\n\r\nHello, World!"), "{c}");
    assert!(a.contains("\r\nServer: monocle/"));
    assert!(a.contains("\r\nDate: "));
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
}

#[test]
fn each_request_on_a_connection_sees_only_its_own_headers() {
    // The server parses a request's headers into the memory of the last
    // response's: nothing of that response, or of an earlier request, shows.
    let srv = start(|| {
        HttpServer::new(0, |req: HttpRequest| async move {
            let seen: Vec<String> = req
                .headers()
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            let mut headers = HttpHeaders::new();
            for i in 0..20 {
                headers.add(format!("X-Resp-{i}"), "r".repeat(i));
            }
            (200, headers, seen.join(";"))
        })
    });
    let mut s = raw(srv.port);
    let mut buf = Vec::new();
    let requests: [(&str, &str); 3] = [
        ("Host: x\r\nA: 1\r\nB: 22\r\n", "Host=x;A=1;B=22"),
        ("Host: y\r\n", "Host=y"),
        ("Host: z\r\nLong: ", "Host=z;Long="),
    ];
    for (fields, seen) in requests {
        let long = "l".repeat(if fields.ends_with(": ") { 6000 } else { 0 });
        let tail = if long.is_empty() { "" } else { "\r\n" };
        write!(s, "GET / HTTP/1.1\r\n{fields}{long}{tail}\r\n").unwrap();
        let resp = read_response(&mut s, &mut buf);
        assert!(resp.contains("\r\nX-Resp-19: rrrr"), "{resp}");
        assert!(resp.ends_with(&format!("\r\n\r\n{seen}{long}")), "{resp}");
    }
}

#[test]
fn bad_request_is_answered_and_closed() {
    let srv = start(hello);
    let out = exchange_until_close(
        srv.port,
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
}

fn status_and_closed(port: u16, request: &[u8]) -> String {
    let out = exchange_until_close(port, request);
    out.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn every_rejection_gets_its_status_and_a_close() {
    let srv = start(|| {
        let mut s = hello();
        let mut config = s.config();
        config
            .limits_mut()
            .max_body(1024)
            .max_uri(256)
            .max_head(4096);
        s.set_config(config);
        s
    });
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(300));
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(5000)
    );
    let cases: Vec<(&[u8], &str)> = vec![
        (b"GARBAGE\r\n\r\n", "HTTP/1.1 400 "),
        (b"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "), // no Host
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "HTTP/1.1 400 "),
        (b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", "HTTP/1.1 400 "),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "HTTP/1.1 400 ",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            "HTTP/1.1 400 ",
        ),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", "HTTP/1.1 400 "),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 400 ",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            "HTTP/1.1 400 ",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "HTTP/1.1 501 ",
        ),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "HTTP/1.1 505 "),
        (long_uri.as_bytes(), "HTTP/1.1 414 "),
        (big_head.as_bytes(), "HTTP/1.1 431 "),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
            "HTTP/1.1 413 ",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n",
            "HTTP/1.1 413 ",
        ),
    ];
    for (request, expected) in cases {
        let line = status_and_closed(srv.port, request);
        assert!(
            line.starts_with(expected),
            "{:?} got {line:?}, expected {expected:?}",
            String::from_utf8_lossy(request)
        );
    }
}

#[test]
fn trickling_client_is_cut_off() {
    let srv = start(|| {
        let mut s = hello();
        let mut config = s.config();
        config.header_timeout(std::time::Duration::from_millis(200));
        s.set_config(config);
        s
    });
    let mut s = raw(srv.port);
    let start = std::time::Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    let mut out = Vec::new();
    // The server answers 408 and closes; read_to_end returns at the close.
    s.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 408 "), "{out}");
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn http10_with_and_without_keep_alive() {
    let srv = start(hello);
    let out = exchange_until_close(srv.port, b"GET / HTTP/1.0\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
    assert!(out.ends_with("Hello, World!"));

    let mut s = raw(srv.port);
    let mut buf = Vec::new();
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let resp = read_response(&mut s, &mut buf);
        assert!(resp.contains("\r\nConnection: keep-alive\r\n"), "{resp}");
        assert!(resp.ends_with("Hello, World!"));
    }
}

#[test]
fn expect_100_continue() {
    let srv = start(hello);
    let mut s = raw(srv.port);
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    let interim = read_response(&mut s, &mut buf);
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    let resp = read_response(&mut s, &mut buf);
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.ends_with("\r\n\r\nhello"), "{resp}");
}

#[test]
fn chunked_request_body() {
    let srv = start(hello);
    let mut s = raw(srv.port);
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n",
    )
    .unwrap();
    s.write_all(b"8;ext=1\r\n, World!\r\n0\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let resp = read_response(&mut s, &mut buf);
    assert!(resp.ends_with("\r\n\r\nHello, World!"), "{resp}");
}

#[test]
fn pipelined_responses_come_in_order() {
    let srv = start(hello);
    let mut s = raw(srv.port);
    s.write_all(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out);
    assert_eq!(out.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{out}");
    assert!(
        out.ends_with("Connection: close\r\n\r\nHello, World!"),
        "{out}"
    );
}

#[test]
fn idle_connections_close_promptly_on_stop() {
    let srv = start(hello);
    let mut s = raw(srv.port);
    let mut buf = Vec::new();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    read_response(&mut s, &mut buf);
    monocle_stack::block_on(srv.handle().spawn(|| async {
        let server = common::server();
        server.stop().await;
    }))
    .unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert!(std::net::TcpStream::connect(("127.0.0.1", srv.port)).is_err());
}
