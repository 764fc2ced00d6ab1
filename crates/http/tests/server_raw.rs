//! The server driven by raw bytes over std TcpStreams.

mod common;

use std::io::{Read, Write};

use common::{exchange_until_close, raw, read_response, start};
use monocle_http::{HttpRequest, HttpServer};

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
fn bad_request_is_answered_and_closed() {
    let srv = start(hello);
    let out = exchange_until_close(srv.port, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
}

