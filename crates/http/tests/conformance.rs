//! HTTP/1.1 conformance (RFC 9110, RFC 9112) of the server and the client,
//! driven by raw bytes: framing that request smuggling relies on, the request
//! line, header fields, chunked bodies, connection handling, and a client
//! against a scripted raw server.
//!
//! A malformed request is followed by a second, well-formed one on the same
//! connection: it must never be answered (the server cannot know where it
//! starts), and the connection must close after the error response.

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{find, read_response, start};
use futures_lite::stream;
use monocle_http::{HttpClient, HttpHeaders, HttpRequest, HttpResponse, HttpServer};
use monocle_stack::block_on;

/// How long a test waits for bytes that should come at once.
const WAIT: Duration = Duration::from_secs(2);

/// Every request the fallback answers with what the server made of it.
fn app() -> HttpServer {
    let mut server = HttpServer::new(0, |req: HttpRequest| async move {
        format!(
            "{} {} path={} host={} {} body={}",
            req.method(),
            req.uri(),
            req.path(),
            req.host().unwrap_or("-"),
            req.proto(),
            String::from_utf8_lossy(req.body()),
        )
    });
    server
        .post("/echo", |req: HttpRequest| async move { req.into_body() })
        .get("/stream", |_req: HttpRequest| async {
            let pieces = stream::iter(["ab", "cd"].map(|p| Ok(p.as_bytes().to_vec())));
            HttpResponse::new(200).with_stream(pieces)
        })
        .get("/nocontent", |_req: HttpRequest| async {
            HttpResponse::new(204).with_body("dropped")
        });
    server
}

fn app_with(configure: impl FnOnce(&mut monocle_http::ServerConfig)) -> HttpServer {
    let mut server = app();
    let mut config = server.config();
    configure(&mut config);
    server.set_config(config);
    server
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Sends `request`, then reads until the server closes; fails the test if it
/// does not close within [`WAIT`].
fn until_close(port: u16, request: &[u8]) -> String {
    let mut s = connect(port);
    s.write_all(request).unwrap();
    read_to_close(&mut s)
}

fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    if let Err(e) = s.read_to_end(&mut out) {
        panic!(
            "the connection did not close ({e}); got {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn status_line(response: &str) -> &str {
    response.split("\r\n").next().unwrap_or_default()
}

/// How many responses of the server are in `out` (each has one `Server`).
fn responses_in(out: &str) -> usize {
    out.matches("\r\nServer: monocle/").count()
}

/// Sends `request` followed by `GET /alive`, and returns the first response
/// after checking that the second one comes on the same connection.
fn answered_and_kept_open(port: u16, request: &[u8]) -> String {
    let mut s = connect(port);
    let mut all = request.to_vec();
    all.extend_from_slice(b"GET /alive HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(&all).unwrap();
    let mut buf = Vec::new();
    let first = read_response(&mut s, &mut buf);
    let second = read_response(&mut s, &mut buf);
    assert!(
        second.starts_with("HTTP/1.1 200 OK\r\n") && second.contains("GET /alive "),
        "after {first:?}: {second:?}"
    );
    first
}

/// The rejection cases: each is answered with `status` and the connection
/// closes; the request pipelined after it is never answered.
fn assert_rejected(port: u16, cases: &[(&str, &[u8], &str)]) {
    for (what, request, status) in cases {
        let mut all = request.to_vec();
        all.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
        let out = until_close(port, &all);
        assert_eq!(status_line(&out), *status, "{what}: {out:?}");
        assert!(out.contains("\r\nConnection: close\r\n"), "{what}: {out:?}");
        assert!(!out.contains("/smuggled"), "{what}: {out:?}");
        assert_eq!(
            out.matches("\r\n\r\n").count(),
            1,
            "{what}: one response only: {out:?}"
        );
    }
}

const BAD_REQUEST: &str = "HTTP/1.1 400 Bad Request";
const NOT_IMPLEMENTED: &str = "HTTP/1.1 501 Not Implemented";
const TOO_LARGE: &str = "HTTP/1.1 413 Content Too Large";

// ---------------------------------------------------------------------------
// Transfer-Encoding (RFC 9112 §6.1, §6.3)

#[test]
fn transfer_encoding_variants_are_rejected() {
    let srv = start(app);
    let body = "\r\n\r\n0\r\n\r\n";
    let te =
        |value: &str| format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {value}{body}");
    let cases: Vec<(&str, String, &str)> = vec![
        ("chunked twice in one field", te("chunked, chunked"), BAD_REQUEST),
        (
            "chunked in two fields",
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked{body}"),
            BAD_REQUEST,
        ),
        (
            "gzip and chunked in two fields",
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked{body}"),
            BAD_REQUEST,
        ),
        ("gzip, chunked", te("gzip, chunked"), NOT_IMPLEMENTED),
        ("chunked, gzip", te("chunked, gzip"), BAD_REQUEST),
        // RFC 9112 §6.3: chunked not final in a request: 400, not 501.
        ("gzip", te("gzip"), BAD_REQUEST),
        ("xchunked", te("xchunked"), BAD_REQUEST),
        ("chunked-false", te("chunked-false"), BAD_REQUEST),
        ("identity", te("identity"), BAD_REQUEST),
        ("trailing comma", te("chunked,"), BAD_REQUEST),
        ("empty value", te(""), BAD_REQUEST),
        ("quoted", te("\"chunked\""), BAD_REQUEST),
        ("vertical tab", te("\x0bchunked"), BAD_REQUEST),
        (
            "obs-fold",
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked{body}"),
            BAD_REQUEST,
        ),
        (
            "space before the colon",
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked{body}"),
            BAD_REQUEST,
        ),
        (
            "with Content-Length",
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked{body}"),
            BAD_REQUEST,
        ),
        (
            // RFC 9112 §6.1: faulty framing in HTTP/1.0; reject and close.
            "in HTTP/1.0",
            format!("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked{body}"),
            BAD_REQUEST,
        ),
        (
            "in HTTP/1.0 with Content-Length",
            format!("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5{body}"),
            BAD_REQUEST,
        ),
    ];
    let cases: Vec<(&str, &[u8], &str)> = cases
        .iter()
        .map(|(w, r, s)| (*w, r.as_bytes(), *s))
        .collect();
    assert_rejected(srv.port, &cases);
}

#[test]
fn chunked_is_case_insensitive_and_trimmed() {
    let srv = start(app);
    let first = answered_and_kept_open(
        srv.port,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \t CHUNKED \t\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    assert!(first.ends_with("\r\n\r\nabc"), "{first}");
}

// ---------------------------------------------------------------------------
// Content-Length (RFC 9110 §8.6, RFC 9112 §6.3)

#[test]
fn invalid_content_lengths_are_rejected() {
    let srv = start(app);
    let cl = |value: &str| {
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\nhello")
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("+5", cl("+5"), BAD_REQUEST),
        ("-1", cl("-1"), BAD_REQUEST),
        ("0x5", cl("0x5"), BAD_REQUEST),
        ("5.0", cl("5.0"), BAD_REQUEST),
        ("5 5", cl("5 5"), BAD_REQUEST),
        ("empty", cl(""), BAD_REQUEST),
        ("5,", cl("5,"), BAD_REQUEST),
        ("5, 6", cl("5, 6"), BAD_REQUEST),
        ("non-ASCII digit", cl("\u{665}"), BAD_REQUEST),
        (
            "two fields that disagree",
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"
                .to_owned(),
            BAD_REQUEST,
        ),
        // Past u64: no wrap-around to a small length.
        ("overflowing u64", cl("18446744073709551621"), TOO_LARGE),
        ("huge", cl("99999999999999999999999999999999"), TOO_LARGE),
    ];
    let cases: Vec<(&str, &[u8], &str)> = cases
        .iter()
        .map(|(w, r, s)| (*w, r.as_bytes(), *s))
        .collect();
    assert_rejected(srv.port, &cases);
}

#[test]
fn valid_content_length_forms_are_accepted() {
    let srv = start(app);
    for value in ["5", " 5 ", "\t5\t", "005", "5,5", "5, 5", "5 ,\t5"] {
        let req = format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length:{value}\r\n\r\nhello");
        let first = answered_and_kept_open(srv.port, req.as_bytes());
        assert!(first.ends_with("\r\n\r\nhello"), "{value:?}: {first}");
    }
    // Identical values in two fields (RFC 9110 §8.6 allows accepting them).
    let first = answered_and_kept_open(
        srv.port,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert!(first.ends_with("\r\n\r\nhello"), "{first}");
    // A GET may carry a body; it is read, not taken for the next request.
    let first = answered_and_kept_open(
        srv.port,
        b"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert!(first.ends_with("body=hello"), "{first}");
}

// ---------------------------------------------------------------------------
// Chunked bodies (RFC 9112 §7.1)

#[test]
fn malformed_chunked_bodies_are_rejected() {
    let srv = start(|| {
        app_with(|c| {
            c.limits_mut().max_body(1 << 20);
        })
    });
    let chunked = |rest: &str| {
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{rest}")
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "size of 17 hex digits",
            chunked("10000000000000000\r\nx\r\n0\r\n\r\n"),
            BAD_REQUEST,
        ),
        (
            "size of 16 hex digits",
            chunked("ffffffffffffffff\r\nx\r\n0\r\n\r\n"),
            TOO_LARGE,
        ),
        (
            "size with a leading space",
            chunked(" 5\r\nhello\r\n0\r\n\r\n"),
            BAD_REQUEST,
        ),
        (
            "size with a trailing space",
            chunked("5 \r\nhello\r\n0\r\n\r\n"),
            BAD_REQUEST,
        ),
        (
            "size 0x5",
            chunked("0x5\r\nhello\r\n0\r\n\r\n"),
            BAD_REQUEST,
        ),
        ("size +5", chunked("+5\r\nhello\r\n0\r\n\r\n"), BAD_REQUEST),
        ("size -5", chunked("-5\r\nhello\r\n0\r\n\r\n"), BAD_REQUEST),
        ("empty size", chunked("\r\nhello\r\n0\r\n\r\n"), BAD_REQUEST),
        (
            "size line ended by LF",
            chunked("5\nhello\r\n0\r\n\r\n"),
            BAD_REQUEST,
        ),
        (
            "extension ended by LF",
            chunked("5;a=b\nhello\r\n0\r\n\r\n"),
            BAD_REQUEST,
        ),
        (
            "CR inside an extension",
            chunked("5;a\rb\r\nhello\r\n0\r\n\r\n"),
            BAD_REQUEST,
        ),
        (
            "NUL inside an extension",
            chunked("5;a\0\r\nhello\r\n0\r\n\r\n"),
            BAD_REQUEST,
        ),
        (
            "no CRLF after the data",
            chunked("5\r\nhelloX\r\n0\r\n\r\n"),
            BAD_REQUEST,
        ),
        (
            "data ended by LF",
            chunked("5\r\nhello\n0\r\n\r\n"),
            BAD_REQUEST,
        ),
        (
            "more data than the size",
            chunked("3\r\nhello\r\n0\r\n\r\n"),
            BAD_REQUEST,
        ),
        (
            "trailer without a colon",
            chunked("0\r\nX\r\n\r\n"),
            BAD_REQUEST,
        ),
        (
            "trailer ended by LF",
            chunked("0\r\nX: 1\n\r\n"),
            BAD_REQUEST,
        ),
        (
            "folded trailer",
            chunked("0\r\nX: 1\r\n 2\r\n\r\n"),
            BAD_REQUEST,
        ),
        ("last chunk ended by LF", chunked("0\r\n\n"), BAD_REQUEST),
    ];
    let cases: Vec<(&str, &[u8], &str)> = cases
        .iter()
        .map(|(w, r, s)| (*w, r.as_bytes(), *s))
        .collect();
    assert_rejected(srv.port, &cases);
}

#[test]
fn chunk_extensions_and_trailers_are_dropped() {
    let srv = start(app);
    for rest in [
        "5;a=b\r\nhello\r\n0;last\r\n\r\n",
        "5;a=\"q;u\\\"o\"\r\nhello\r\n0\r\n\r\n",
        "5 ;a=b\r\nhello\r\n0\r\n\r\n",
        "5; a = b\r\nhello\r\n0\r\n\r\n",
        "0005\r\nhello\r\n0\r\n\r\n",
        "2\r\nhe\r\n3\r\nllo\r\n0\r\nX-Trailer: 1\r\nOther: two\r\n\r\n",
    ] {
        let req =
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{rest}");
        let first = answered_and_kept_open(srv.port, req.as_bytes());
        assert!(first.ends_with("\r\n\r\nhello"), "{rest:?}: {first}");
        assert!(!first.contains("X-Trailer"), "{first}");
    }
}

/// RFC 9112 §7.1: chunk-size is 1*HEXDIG; leading zeros do not make it
/// overflow.
#[test]
fn a_chunk_size_with_many_leading_zeros_is_accepted() {
    let srv = start(app);
    let first = answered_and_kept_open(
        srv.port,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000000005\r\nhello\r\n0\r\n\r\n",
    );
    assert!(first.ends_with("\r\n\r\nhello"), "{first}");
}

/// A body cut short by the client closing its side is not answered as if it
/// were whole: the server closes without a response.
#[test]
fn incomplete_bodies_are_never_answered() {
    let srv = start(app);
    for request in [
        &b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"[..],
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello",
        b"GET / HTTP/1.1\r\nHost: x\r\n",
    ] {
        let mut s = connect(srv.port);
        s.write_all(request).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let out = read_to_close(&mut s);
        assert_eq!(out, "", "{:?}", String::from_utf8_lossy(request));
    }
}

// ---------------------------------------------------------------------------
// The request line (RFC 9112 §2.2, §3)

#[test]
fn malformed_request_lines_are_rejected() {
    let srv = start(app);
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "two spaces",
            b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "two spaces before the version",
            b"GET /  HTTP/1.1\r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        ("tabs", b"GET\t/\tHTTP/1.1\r\nHost: x\r\n\r\n", BAD_REQUEST),
        (
            "lowercase version",
            b"GET / http/1.1\r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        ("no version", b"GET /\r\nHost: x\r\n\r\n", BAD_REQUEST),
        ("HTTP/0.9 style", b"GET /\r\n\r\n", BAD_REQUEST),
        (
            "two-digit minor",
            b"GET / HTTP/1.10\r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "space after the version",
            b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "empty target",
            b"GET  HTTP/1.1\r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "space in the target",
            b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "DEL in the target",
            b"GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "non-UTF-8 in the target",
            b"GET /caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "separator in the method",
            b"G/ET / HTTP/1.1\r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "line ended by CR",
            b"GET / HTTP/1.1\rHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "LF before the request line",
            b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "HTTP/2.0",
            b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
            "HTTP/1.1 505 HTTP Version Not Supported",
        ),
        (
            "HTTP/3",
            b"GET / HTTP/3\r\nHost: x\r\n\r\n",
            "HTTP/1.1 505 HTTP Version Not Supported",
        ),
        (
            "HTTP/0.9",
            b"GET / HTTP/0.9\r\n\r\n",
            "HTTP/1.1 505 HTTP Version Not Supported",
        ),
    ];
    assert_rejected(srv.port, cases);
}

/// RFC 9110 §2.5: a higher minor version of a major version the server
/// implements SHOULD be processed as the highest minor it conforms to.
#[test]
fn http_1_2_is_served_as_http_1_1() {
    let srv = start(app);
    let out = answered_and_kept_open(srv.port, b"GET /v HTTP/1.2\r\nHost: x\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(
        out.ends_with("GET /v path=/v host=x HTTP/1.1 body="),
        "{out}"
    );
}

#[test]
fn request_target_forms() {
    let srv = start(app);
    // Absolute form: the target's authority wins over Host (RFC 9112 §3.2.2).
    let out = answered_and_kept_open(
        srv.port,
        b"GET http://example.com:8080/abc?q=1 HTTP/1.1\r\nHost: other\r\n\r\n",
    );
    assert!(
        out.ends_with(
            "GET http://example.com:8080/abc?q=1 path=/abc host=example.com:8080 HTTP/1.1 body="
        ),
        "{out}"
    );
    let out = answered_and_kept_open(srv.port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        out.ends_with("OPTIONS * path=* host=x HTTP/1.1 body="),
        "{out}"
    );
    // Methods are case-sensitive and passed on as sent.
    let out = answered_and_kept_open(srv.port, b"get / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(out.ends_with("get / path=/ host=x HTTP/1.1 body="), "{out}");
}

/// RFC 9112 §3.2: `*` is for OPTIONS only, authority-form for CONNECT only,
/// and CONNECT takes nothing else.
#[test]
fn targets_that_do_not_fit_the_method_are_rejected() {
    let srv = start(app);
    let cases: &[(&str, &[u8], &str)] = &[
        ("GET *", b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", BAD_REQUEST),
        (
            "GET authority",
            b"GET example.com:80 HTTP/1.1\r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "GET no slash",
            b"GET index.html HTTP/1.1\r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "CONNECT origin",
            b"CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "CONNECT no port",
            b"CONNECT example.com HTTP/1.1\r\nHost: x\r\n\r\n",
            BAD_REQUEST,
        ),
    ];
    assert_rejected(srv.port, cases);
}

/// RFC 9112 §2.2: empty lines (CRLF) before a request line are ignored.
#[test]
fn empty_lines_before_the_request_line_are_ignored() {
    let srv = start(app);
    let out = answered_and_kept_open(srv.port, b"\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(out.contains("GET /a path=/a"), "{out}");
    let out = answered_and_kept_open(srv.port, b"\r\n\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(out.contains("GET /b path=/b"), "{out}");
    // Between pipelined requests, as old clients send after a POST body.
    let out = answered_and_kept_open(
        srv.port,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi\r\n",
    );
    assert!(out.ends_with("\r\n\r\nhi"), "{out}");
}

/// A CRLF after a request body (RFC 9112 §2.2) leaves the connection idle:
/// no 408 after the header timeout.
#[test]
fn a_crlf_after_a_body_does_not_start_the_header_timeout() {
    let srv = start(|| {
        app_with(|c| {
            c.header_timeout(Duration::from_millis(200));
        })
    });
    let mut s = connect(srv.port);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let out = read_response(&mut s, &mut buf);
    assert!(out.ends_with("\r\n\r\nhi"), "{out}");
    std::thread::sleep(Duration::from_millis(500));
    s.write_all(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let out = read_response(&mut s, &mut buf);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
}

// ---------------------------------------------------------------------------
// Header fields (RFC 9110 §5, RFC 9112 §5)

#[test]
fn malformed_header_fields_are_rejected() {
    let srv = start(app);
    let many: String = (0..101).map(|i| format!("A{i}: b\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "obs-fold with SP",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "obs-fold with HTAB",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "first field folded",
            b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "space before the colon",
            b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "tab before the colon",
            b"GET / HTTP/1.1\r\nHost\t: x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "empty name",
            b"GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "no colon",
            b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "NUL in a value",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "CR in a value",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "VT in a value",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x0bb\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "DEL in a value",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x7fb\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "LF ending a field",
            b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",
            BAD_REQUEST,
        ),
        // RFC 9112 §3.2: no Host in HTTP/1.1, or more than one.
        ("no Host", b"GET / HTTP/1.1\r\nX: y\r\n\r\n", BAD_REQUEST),
        (
            "two Hosts",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "two equal Hosts",
            b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "two Hosts in HTTP/1.0",
            b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "more fields than the limit",
            many.as_bytes(),
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
    ];
    assert_rejected(srv.port, cases);
}

#[test]
fn accepted_header_field_forms() {
    let srv = start(app);
    // HTTP/1.0 needs no Host.
    let out = until_close(srv.port, b"GET / HTTP/1.0\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    // An empty Host is valid for a target without an authority (RFC 9112 §3.2).
    let out = answered_and_kept_open(srv.port, b"GET / HTTP/1.1\r\nHost:\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    // obs-text in a value is kept (as U+FFFD), not rejected.
    let out = answered_and_kept_open(srv.port, b"GET / HTTP/1.1\r\nHost: x\r\nX: a\xffb\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    // Up to the limit of fields.
    let many: String = (0..99).map(|i| format!("A{i}: b\r\n")).collect();
    let req = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    let out = answered_and_kept_open(srv.port, req.as_bytes());
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
}

/// RFC 9112 §3.2: a Host field with an invalid value MUST get a 400.
#[test]
fn invalid_host_values_are_rejected() {
    let srv = start(app);
    let cases: &[(&str, &[u8], &str)] = &[
        ("space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", BAD_REQUEST),
        ("list", b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", BAD_REQUEST),
        ("slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", BAD_REQUEST),
        (
            "userinfo",
            b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "bad port",
            b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n",
            BAD_REQUEST,
        ),
        (
            "unclosed bracket",
            b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
            BAD_REQUEST,
        ),
    ];
    assert_rejected(srv.port, cases);
}

// ---------------------------------------------------------------------------
// Connection handling (RFC 9112 §9)

#[test]
fn nothing_is_answered_after_connection_close() {
    let srv = start(app);
    for connection in [
        "Connection: close\r\n",
        "Connection: foo, CLOSE\r\n",
        "Connection: foo\r\nConnection: close\r\n",
    ] {
        let req = format!(
            "GET /first HTTP/1.1\r\nHost: x\r\n{connection}\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        let out = until_close(srv.port, req.as_bytes());
        assert_eq!(responses_in(&out), 1, "{connection:?}: {out}");
        assert!(out.contains("GET /first "), "{out}");
        assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
    }
    // HTTP/1.0: close wins over keep-alive.
    let out = until_close(
        srv.port,
        b"GET /first HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\nGET /second HTTP/1.0\r\n\r\n",
    );
    assert_eq!(responses_in(&out), 1, "{out}");
    // `closed` is not `close`.
    let out = answered_and_kept_open(
        srv.port,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\n",
    );
    assert!(!out.contains("Connection: close"), "{out}");
}

#[test]
fn expect_100_continue_over_the_body_limit_is_413_without_reading_the_body() {
    let srv = start(|| {
        app_with(|c| {
            c.limits_mut().max_body(64);
        })
    });
    let mut s = connect(srv.port);
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    // No body sent: the answer comes anyway, without a 100 first.
    let out = read_to_close(&mut s);
    assert!(
        out.starts_with("HTTP/1.1 413 Content Too Large\r\n"),
        "{out}"
    );
    assert!(!out.contains("100 Continue"), "{out}");
}

#[test]
fn expect_forms() {
    let srv = start(app);
    // An unknown expectation may be ignored (RFC 9110 §10.1.1 allows 417).
    let out = answered_and_kept_open(
        srv.port,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: something-else\r\n\r\nhi",
    );
    assert!(
        out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("hi"),
        "{out}"
    );
    // No 100 for HTTP/1.0 (RFC 9110 §10.1.1), nor for an empty body, nor
    // when the body is already there.
    for req in [
        &b"POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi"[..],
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi",
    ] {
        let out = answered_and_kept_open(srv.port, req);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    }
    // A chunked body waits for the 100 too.
    let mut s = connect(srv.port);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    assert_eq!(
        read_response(&mut s, &mut buf),
        "HTTP/1.1 100 Continue\r\n\r\n"
    );
    s.write_all(b"2\r\nhi\r\n0\r\n\r\n").unwrap();
    let out = read_response(&mut s, &mut buf);
    assert!(out.ends_with("\r\n\r\nhi"), "{out}");
}

#[test]
fn head_responses_have_the_get_headers_and_no_body() {
    let srv = start(app);
    let mut s = connect(srv.port);
    // Two HEADs then a GET, pipelined: a body after a HEAD response would be
    // read as the start of the next response.
    s.write_all(
        b"HEAD /x HTTP/1.1\r\nHost: x\r\n\r\nHEAD /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let out = read_to_close(&mut s);
    let heads: Vec<&str> = out.split("\r\n\r\n").collect();
    assert_eq!(heads.len(), 5, "{out}");
    assert!(heads[0].starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    let get_body = "HEAD /x path=/x host=x HTTP/1.1 body=";
    assert!(
        heads[0].contains(&format!("\r\nContent-Length: {}\r\n", get_body.len())),
        "{out}"
    );
    assert!(heads[1].starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(heads[1].contains("\r\nTransfer-Encoding: chunked"), "{out}");
    assert!(heads[2].starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert_eq!(heads[3], "2\r\nab\r\n2\r\ncd\r\n0", "{out}");
}

#[test]
fn no_content_responses_have_no_body() {
    let srv = start(app);
    let out = answered_and_kept_open(srv.port, b"GET /nocontent HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 204 No Content\r\n"), "{out}");
    assert!(!out.contains("Content-Length"), "{out}");
    assert!(out.ends_with("\r\n\r\n"), "{out}");
}

/// The server cannot tunnel: a 2xx to CONNECT must not carry framing
/// (RFC 9110 §9.3.6) and the connection must not be read as HTTP after it.
#[test]
fn a_2xx_to_connect_has_no_length_and_closes() {
    let srv = start(app);
    let out = until_close(
        srv.port,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(!out.contains("Content-Length"), "{out}");
    assert!(
        out.ends_with("\r\nConnection: close\r\n\r\n"),
        "no body: {out}"
    );
    assert!(!out.contains("/after"), "{out}");
}

/// A head trickled in line by line is cut off at the header timeout, counted
/// from its first byte, not from the last line.
#[test]
fn a_head_trickled_line_by_line_times_out() {
    let srv = start(|| {
        app_with(|c| {
            c.header_timeout(Duration::from_millis(300));
        })
    });
    let mut s = connect(srv.port);
    let started = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    // A header line every 50 ms, until the server answers.
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut first = [0u8; 1];
    let mut i = 0;
    while matches!(s.read(&mut first), Err(ref e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut)
    {
        assert!(
            started.elapsed() < WAIT,
            "no answer after {:?}",
            started.elapsed()
        );
        let _ = s.write_all(format!("X-{i}: y\r\n").as_bytes());
        i += 1;
    }
    let answered = started.elapsed();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let out = String::from_utf8_lossy(&first).into_owned() + &read_to_close(&mut s);
    assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
    assert!(answered >= Duration::from_millis(300), "{answered:?}");
    assert!(i >= 3, "{i} lines sent");
}

// ---------------------------------------------------------------------------
// The client against a scripted raw server

/// What the scripted server does after writing a reply.
#[derive(Clone, Copy)]
enum Then {
    /// Waits for the next request on the same connection.
    KeepOpen,
    /// Closes the connection (FIN).
    Close,
}

/// A raw server on a thread: for each request head it reads (with any
/// Content-Length body), it writes the next reply in one write. Returns the
/// request heads it read, with the index of the connection each came on.
fn scripted(replies: Vec<(&'static [u8], Then)>) -> (u16, JoinHandle<Vec<(usize, String)>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut replies = replies.into_iter();
        let mut conn = 0;
        'accept: loop {
            let Ok((mut s, _)) = listener.accept() else {
                break;
            };
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut buf = Vec::new();
            while let Some(head) = read_head(&mut s, &mut buf) {
                seen.push((conn, head));
                let Some((reply, then)) = replies.next() else {
                    break 'accept;
                };
                s.write_all(reply).unwrap();
                if let Then::Close = then {
                    break;
                }
            }
            conn += 1;
            if replies.len() == 0 {
                break;
            }
        }
        seen
    });
    (port, server)
}

/// Reads one request head and its Content-Length body; `None` at EOF.
fn read_head(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let mut chunk = [0u8; 8192];
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            buf.drain(..end + 4 + len);
            return Some(head);
        }
        let mut chunk = [0u8; 8192];
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn client() -> HttpClient {
    let mut client = HttpClient::new();
    client.set_timeout(Some(WAIT));
    client
}

fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

#[test]
fn client_skips_interim_responses_and_keeps_the_connection() {
    let (port, server) = scripted(vec![
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst",
            Then::KeepOpen,
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond", Then::Close),
    ]);
    block_on(async move {
        let mut client = client();
        let resp = client.get(&url(port, "/1")).await?;
        assert_eq!((resp.code(), &*resp.text()), (200, "first"));
        let resp = client.get(&url(port, "/2")).await?;
        assert_eq!((resp.code(), &*resp.text()), (200, "second"));
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
    server.join().unwrap();
}

#[test]
fn client_framing_of_responses() {
    let (port, server) = scripted(vec![
        // Both lengths: chunked wins and the connection is not reused
        // (RFC 9112 §6.3 item 3).
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            Then::KeepOpen,
        ),
        // Trailers are read and dropped; the connection is reused.
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\ndef\r\n0\r\nX-Sum: 1\r\n\r\n",
            Then::KeepOpen,
        ),
        // Equal values in a list are one length.
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nghi", Then::KeepOpen),
        // Bare LF line ends are tolerated in responses.
        (b"HTTP/1.1 200 OK\nContent-Length: 3\n\njkl", Then::Close),
    ]);
    block_on(async move {
        let mut client = client();
        let resp = client.get(&url(port, "/1")).await?;
        assert_eq!(&*resp.text(), "abc");
        let resp = client.get(&url(port, "/2")).await?;
        assert_eq!(&*resp.text(), "def");
        assert_eq!(client.connects(), 2);
        let resp = client.get(&url(port, "/3")).await?;
        assert_eq!(&*resp.text(), "ghi");
        let resp = client.get(&url(port, "/4")).await?;
        assert_eq!(&*resp.text(), "jkl");
        assert_eq!(client.connects(), 2);
        io::Result::Ok(())
    })
    .unwrap();
    let seen = server.join().unwrap();
    let conns: Vec<usize> = seen.iter().map(|(c, _)| *c).collect();
    assert_eq!(conns, [0, 1, 1, 1]);
}

#[test]
fn client_rejects_conflicting_content_lengths() {
    let (port, server) = scripted(vec![(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        Then::Close,
    )]);
    let err = block_on(async move { client().get(&url(port, "/")).await }).unwrap_err();
    assert!(
        err.to_string().contains("conflicting content-length"),
        "{err}"
    );
    server.join().unwrap();
}

#[test]
fn client_reads_no_body_after_head_and_no_content() {
    let (port, server) = scripted(vec![
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            Then::KeepOpen,
        ),
        (
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
            Then::KeepOpen,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext",
            Then::Close,
        ),
    ]);
    block_on(async move {
        let mut client = client();
        let resp = client
            .request(&url(port, "/"), HttpHeaders::new(), "HEAD", "")
            .await?;
        assert_eq!(
            (resp.code(), resp.headers().get("content-length")),
            (200, Some("5"))
        );
        assert_eq!(resp.text(), "");
        let resp = client.get(&url(port, "/")).await?;
        assert_eq!((resp.code(), &*resp.text()), (304, ""));
        let resp = client.get(&url(port, "/")).await?;
        assert_eq!((resp.code(), &*resp.text()), (200, "next"));
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
    server.join().unwrap();
}

/// Bytes after a response that has no body (a broken server's body after
/// a 204 or a HEAD answer) are not a body (RFC 9112 §6.3 item 1), and must
/// not be taken for the start of the next response either: the connection
/// is not reused.
#[test]
fn client_does_not_take_bytes_after_a_response_for_the_next_one() {
    for (method, first) in [
        (
            "GET",
            &b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected"[..],
        ),
        (
            "HEAD",
            b"HTTP/1.1 200 OK\r\nContent-Length: 41\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected",
        ),
    ] {
        let (port, server) = scripted(vec![
            (first, Then::KeepOpen),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal", Then::Close),
        ]);
        block_on(async move {
            let mut client = client();
            let resp = client
                .request(&url(port, "/"), HttpHeaders::new(), method, "")
                .await?;
            assert_eq!(resp.text(), "");
            let resp = client.get(&url(port, "/")).await?;
            assert_eq!((resp.code(), &*resp.text()), (200, "real"), "after {method}");
            io::Result::Ok(())
        })
        .unwrap();
        let conns: Vec<usize> = server.join().unwrap().iter().map(|(c, _)| *c).collect();
        assert_eq!(conns, [0, 1], "after {method}");
    }
}

#[test]
fn client_reports_a_body_cut_short() {
    for reply in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n",
    ] {
        let (port, server) = scripted(vec![(reply, Then::Close)]);
        let got = block_on(async move { client().get(&url(port, "/")).await });
        let err = got.expect_err(&String::from_utf8_lossy(reply));
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
        server.join().unwrap();
    }
}

/// The client sends `head` as a method other than HEAD (methods are
/// case-sensitive, RFC 9110 §9.1), so the body of the answer is read.
#[test]
fn client_reads_the_body_of_a_lowercase_head() {
    let srv = start(app);
    let port = srv.port;
    block_on(async move {
        let mut client = client();
        let resp = client
            .request(&url(port, "/x"), HttpHeaders::new(), "head", "")
            .await?;
        let want = format!("head /x path=/x host=127.0.0.1:{port} HTTP/1.1 body=");
        assert_eq!(resp.text(), want);
        let resp = client.get(&url(port, "/y")).await?;
        assert!(resp.text().starts_with("GET /y "), "{}", resp.text());
        io::Result::Ok(())
    })
    .unwrap();
}

/// A server refusing a large upload answers early and closes; the client
/// reports that answer (RFC 9112 §9.5: a client sending a body SHOULD
/// watch for an error response meanwhile), not a broken pipe.
#[test]
fn client_gets_an_early_413_during_a_large_upload() {
    let srv = start(|| {
        app_with(|c| {
            c.limits_mut().max_body(1024);
        })
    });
    let port = srv.port;
    let got = block_on(async move {
        client()
            .request(
                &url(port, "/echo"),
                HttpHeaders::new(),
                "POST",
                vec![b'x'; 8 << 20],
            )
            .await
    });
    let resp = got.unwrap();
    assert_eq!(resp.code(), 413);
}

/// A GET with a large body refused the same way is answered once: the 413 is
/// the answer, not a reset to retry the GET after (it is idempotent) on a
/// new connection.
#[test]
fn client_sends_a_refused_large_get_once() {
    let srv = start(|| {
        app_with(|c| {
            c.limits_mut().max_body(1024);
        })
    });
    let port = srv.port;
    let (code, connects) = block_on(async move {
        let mut client = client();
        let resp = client
            .request(
                &url(port, "/"),
                HttpHeaders::new(),
                "GET",
                vec![b'x'; 64 << 20],
            )
            .await?;
        io::Result::Ok((resp.code(), client.connects()))
    })
    .unwrap();
    assert_eq!((code, connects), (413, 1));
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
}

/// A body streamed without end is stopped when the server refuses it and
/// closes its side (it reads on, to drop what comes, until the client
/// closes): its 413 is the answer, and no more of the body goes out.
#[test]
fn client_stops_an_endless_upload_when_the_server_answers_and_closes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = Vec::new();
        while find(&buf, b"\r\n\r\n").is_none() {
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).unwrap() {
                0 => panic!("no request head"),
                n => buf.extend_from_slice(&chunk[..n]),
            }
        }
        s.write_all(
            b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        // Until the client closes; a read timeout fails the test.
        let mut chunk = [0u8; 64 << 10];
        loop {
            match s.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.kind()),
            }
        }
    });
    let got = block_on(async move {
        let pieces = stream::repeat_with(|| Ok(vec![b'x'; 16 << 10]));
        client()
            .request_streaming(&url(port, "/"), HttpHeaders::new(), "POST", pieces)
            .await
    });
    assert_eq!(got.unwrap().code(), 413);
    assert_eq!(server.join().unwrap(), Ok(()));
}

/// A server that resets the connection during an upload without answering
/// fails the request at once (no wait for an answer that cannot come), and a
/// GET is not sent again on a new connection: the one it went out on was
/// opened for it, not found closed after idling.
#[test]
fn client_reports_a_reset_during_an_upload_without_an_answer() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut head = Vec::new();
        while find(&head, b"\r\n\r\n").is_none() {
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).unwrap() {
                0 => panic!("no request head"),
                n => head.extend_from_slice(&chunk[..n]),
            }
        }
        // Linger 0: closing sends RST.
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
        listener
    });
    let started = Instant::now();
    let got = block_on(async move {
        client()
            .request(
                &url(port, "/"),
                HttpHeaders::new(),
                "GET",
                vec![b'x'; 64 << 20],
            )
            .await
    });
    let err = got.expect_err("no answer was sent");
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        ),
        "{err}"
    );
    assert!(started.elapsed() < WAIT, "{:?}", started.elapsed());
    let listener = server.join().unwrap();
    listener.set_nonblocking(true).unwrap();
    let again = listener.accept().map(|_| ());
    assert_eq!(
        again.map_err(|e| e.kind()),
        Err(io::ErrorKind::WouldBlock),
        "the GET was sent again"
    );
}

/// An upload that outlasts the timeout the connection was opened with, to a
/// server reading it slowly but steadily, is bounded by the client's timeout
/// at the time of the request: watching for an early answer meanwhile must
/// not start the connection's own read timer on the old one.
#[test]
fn client_upload_is_bounded_by_the_current_timeout_not_the_one_at_connect() {
    const SIZE: usize = 16 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 64 << 10];
        let head_end = loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                break end + 4;
            }
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "no request head");
            buf.extend_from_slice(&chunk[..n]);
        };
        // 1 MiB every 25 ms: 400 ms in all, each step well within 200 ms.
        let mut got = buf.len() - head_end;
        while got < SIZE {
            std::thread::sleep(Duration::from_millis(25));
            let step = got + (1 << 20);
            while got < step.min(SIZE) {
                let want = chunk.len().min(SIZE - got);
                let n = s.read(&mut chunk[..want]).unwrap();
                assert!(n > 0, "the body was cut short");
                got += n;
            }
        }
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
    });
    let resp = block_on(async move {
        let mut client = HttpClient::new();
        client.set_timeout(Some(Duration::from_millis(200)));
        client.connect("127.0.0.1", port, "http").await?;
        client.set_timeout(Some(WAIT));
        client
            .request("/upload", HttpHeaders::new(), "POST", vec![b'x'; SIZE])
            .await
    })
    .unwrap();
    assert_eq!(resp.text(), "ok");
    server.join().unwrap();
}

/// A path given to `get` is percent-encoded as the same path in a full URL
/// is (the url crate's encoding), on a kept-alive connection; a target that
/// cannot be sent (a control byte in a path, a space in a prepared request)
/// is refused with `InvalidInput` before anything is written, and the
/// connection is kept.
#[test]
fn client_encodes_a_path_as_in_a_url_and_refuses_what_cannot_be_sent() {
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let (port, server) = scripted(
        [(OK, Then::KeepOpen); 5]
            .into_iter()
            .chain([(OK, Then::Close)])
            .collect(),
    );
    block_on(async move {
        let mut client = client();
        client.connect("127.0.0.1", port, "http").await?;
        for path in [
            "/kv/two words",
            "/kv/caf\u{e9}?q=a b&r=\"x\"",
            "/kv/<a>/./b/../c#fragment",
        ] {
            assert_eq!(client.get(path).await?.text(), "ok", "{path}");
        }
        // The same as a full URL.
        assert_eq!(client.get(&url(port, "/kv/two words")).await?.text(), "ok");
        let refused = [
            "/kv/a\r\nX-Injected: 1",
            "/kv/lf\nonly",
            "/kv/tab\there",
            "/kv/nul\0",
            "/kv/del\x7f",
        ];
        for path in refused {
            let err = client.get(path).await.expect_err(path);
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{path}: {err}");
            assert!(err.to_string().contains("percent-encode"), "{err}");
            assert!(client.is_connected(), "{path}");
        }
        let err = client.get("/kv/a\r\nb").await.unwrap_err();
        assert!(
            err.to_string().contains("carriage return (CR) at byte 5"),
            "{err}"
        );
        // A prepared request is sent as it is: a raw space is refused.
        let raw = HttpRequest::new("GET", "/kv/raw space").with_header("Host", "x");
        let err = client.send(&raw).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("a space at byte 7"), "{err}");
        let bad_method = HttpRequest::new("GE T", "/").with_header("Host", "x");
        let err = client.send(&bad_method).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("not a token"), "{err}");
        assert!(client.is_connected());
        // The connection carries on.
        let encoded = HttpRequest::new("GET", "/kv/raw%20space").with_header("Host", "x");
        assert_eq!(client.send(&encoded).await?.text(), "ok");
        assert_eq!(client.get("/kv/last").await?.text(), "ok");
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
    let lines: Vec<(usize, String)> = server
        .join()
        .unwrap()
        .into_iter()
        .map(|(conn, head)| (conn, head.lines().next().unwrap_or_default().to_owned()))
        .collect();
    let want = [
        "GET /kv/two%20words HTTP/1.1",
        "GET /kv/caf%C3%A9?q=a%20b&r=%22x%22 HTTP/1.1",
        "GET /kv/%3Ca%3E/c HTTP/1.1",
        "GET /kv/two%20words HTTP/1.1",
        "GET /kv/raw%20space HTTP/1.1",
        "GET /kv/last HTTP/1.1",
    ];
    assert_eq!(
        lines,
        want.map(|line| (0, line.to_owned())).to_vec(),
        "every request on the first connection"
    );
}

/// A body delimited by the close that ends in a reset (RST, not FIN) was
/// cut short; it must not be taken for a whole one.
#[test]
fn client_reports_a_reset_in_a_close_delimited_body() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        read_head(&mut s, &mut Vec::new()).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\n\r\npartial").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // Linger 0: closing sends RST.
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    });
    let got = block_on(async move { client().get(&url(port, "/")).await });
    server.join().unwrap();
    let err = got
        .map(|r| r.text().into_owned())
        .expect_err("a reset body");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
}

/// RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
/// framing; the connection closes after it, whatever keep-alive says.
#[test]
fn client_does_not_reuse_a_connection_after_a_chunked_http10_response() {
    let (port, server) = scripted(vec![
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            Then::KeepOpen,
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ndef", Then::Close),
    ]);
    block_on(async move {
        let mut client = client();
        assert_eq!(client.get(&url(port, "/")).await?.text(), "abc");
        assert_eq!(client.get(&url(port, "/")).await?.text(), "def");
        io::Result::Ok(())
    })
    .unwrap();
    let conns: Vec<usize> = server.join().unwrap().iter().map(|(c, _)| *c).collect();
    assert_eq!(conns, [0, 1]);
}

/// RFC 9112 §9.6: a client that sent `Connection: close` sends nothing more
/// on that connection, even if the server did not say close.
#[test]
fn client_does_not_reuse_a_connection_it_asked_to_close() {
    let (port, server) = scripted(vec![
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
            Then::KeepOpen,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ndef",
            Then::Close,
        ),
    ]);
    block_on(async move {
        let mut client = client();
        let mut headers = HttpHeaders::new();
        headers.set("Connection", "close");
        let resp = client
            .request(&url(port, "/"), headers, "POST", "x")
            .await?;
        assert_eq!(resp.text(), "abc");
        let resp = client
            .request(&url(port, "/"), HttpHeaders::new(), "POST", "y")
            .await?;
        assert_eq!(resp.text(), "def");
        io::Result::Ok(())
    })
    .unwrap();
    let conns: Vec<usize> = server.join().unwrap().iter().map(|(c, _)| *c).collect();
    assert_eq!(conns, [0, 1]);
}

/// After a 101 the connection speaks another protocol: the 101 is the
/// answer (not an interim one to skip), and the connection is not reused.
#[test]
fn client_returns_a_101_and_does_not_read_on_in_http() {
    let (port, server) = scripted(vec![
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello",
            Then::KeepOpen,
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ndef", Then::Close),
    ]);
    block_on(async move {
        let mut client = client();
        let mut headers = HttpHeaders::new();
        headers.set("Upgrade", "websocket");
        headers.set("Connection", "Upgrade");
        let resp = client.request(&url(port, "/"), headers, "GET", "").await?;
        assert_eq!(resp.code(), 101);
        assert_eq!(client.get(&url(port, "/")).await?.text(), "def");
        io::Result::Ok(())
    })
    .unwrap();
    let conns: Vec<usize> = server.join().unwrap().iter().map(|(c, _)| *c).collect();
    assert_eq!(conns, [0, 1]);
}

/// RFC 9112 §5.2: a user agent MUST replace obs-fold in a response with SP.
#[test]
fn client_unfolds_obs_fold_in_responses() {
    let (port, server) = scripted(vec![(
        b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n  b\r\n\tc\r\nContent-Length: 3\r\n\r\nabc",
        Then::Close,
    )]);
    block_on(async move {
        let resp = client().get(&url(port, "/")).await?;
        assert_eq!(resp.text(), "abc");
        let folded = resp.headers().get("x-folded").unwrap_or_default();
        assert_eq!(
            folded.split_whitespace().collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert!(
            folded.bytes().all(|b| b != b'\r' && b != b'\n'),
            "{folded:?}"
        );
        io::Result::Ok(())
    })
    .unwrap();
    server.join().unwrap();
}

/// A status code below 100 is no status code (RFC 9110 §15): the response
/// is malformed, not a response of code 99.
#[test]
fn client_rejects_a_status_code_below_100() {
    let (port, server) = scripted(vec![(
        b"HTTP/1.1 099 Low\r\nContent-Length: 2\r\n\r\nok",
        Then::Close,
    )]);
    let err = block_on(async move { client().get(&url(port, "/")).await }).unwrap_err();
    assert!(err.to_string().contains("malformed status line"), "{err}");
    server.join().unwrap();
}
