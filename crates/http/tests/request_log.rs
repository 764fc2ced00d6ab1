//! The server's request log: one info line per request, captured through a
//! `log::Log` installed once for this test binary.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{capture, raw, start};
use monocle_http::{HttpRequest, HttpRouter, HttpServer, Regex};
use monocle_stack::util::sleep;

fn app() -> HttpServer {
    let mut router = HttpRouter::new();
    router
        .get("/logged/:name", |req: HttpRequest| async move {
            format!("hello {}", req.param("name").unwrap_or_default())
        })
        .post(
            "/logged/echo",
            |req: HttpRequest| async move { req.into_body() },
        )
        .get("/failing", |_req: HttpRequest| async {
            "x".parse::<u32>().map(|n| n.to_string())
        })
        .get("/slow", |_req: HttpRequest| async {
            sleep(Duration::from_millis(30)).await;
            "slow"
        });
    HttpServer::with_router(0, router)
}

#[test]
fn one_log_line_per_request() {
    let capture = capture();
    let srv = start(app);
    let ua = "log-test-agent/1.0 (one line per request)";
    let mut s = raw(srv.port);
    // Four requests on one kept-alive connection, the last one closing it;
    // the server logs each request before it closes, so at our EOF every
    // line is in.
    let requests = format!(
        "GET /logged/alice?x=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: {ua}\r\n\r\n\
         POST /logged/echo HTTP/1.1\r\nHost: x\r\nUser-Agent: {ua}\r\nContent-Length: 5\r\n\r\nabcde\
         GET /nowhere HTTP/1.1\r\nHost: x\r\nUser-Agent: {ua}\r\n\r\n\
         GET /slow HTTP/1.0\r\nUser-Agent: {ua}\r\n\r\n"
    );
    s.write_all(requests.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out).matches(" 200 OK\r\n").count(),
        3
    );

    let line = Regex::new(
        r"^INFO \[(?P<peer>[^\]]+)\] (?P<method>\S+) (?P<uri>\S+) (?P<proto>HTTP/1\.[01]) -> (?P<code>\d{3}) \((?P<bytes>\d+) bytes, (?P<ms>\d+\.\d\d) ms\); (?P<ua>.*)$",
    )
    .unwrap();
    let lines: Vec<String> = capture
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.ends_with(ua))
        .cloned()
        .collect();
    assert_eq!(lines.len(), 4, "one line per request: {lines:#?}");
    let expected = [
        ("GET", "/logged/alice?x=1", "HTTP/1.1", "200", "11"),
        ("POST", "/logged/echo", "HTTP/1.1", "200", "5"),
        ("GET", "/nowhere", "HTTP/1.1", "404", "10"),
        ("GET", "/slow", "HTTP/1.0", "200", "4"),
    ];
    for (text, (method, uri, proto, code, bytes)) in lines.iter().zip(expected) {
        let caps = line
            .captures(text)
            .unwrap_or_else(|| panic!("not a request line: {text}"));
        assert_eq!(&caps["peer"], "127.0.0.1", "{text}");
        assert_eq!(&caps["method"], method, "{text}");
        assert_eq!(&caps["uri"], uri, "{text}");
        assert_eq!(&caps["proto"], proto, "{text}");
        assert_eq!(&caps["code"], code, "{text}");
        assert_eq!(&caps["bytes"], bytes, "{text}");
        assert_eq!(&caps["ua"], ua, "{text}");
        let ms: f64 = caps["ms"].parse().unwrap();
        if uri == "/slow" {
            assert!(ms >= 30.0, "the slow handler took 30 ms: {text}");
        }
    }
}

#[test]
fn missing_user_agent_is_logged_as_a_dash() {
    let capture = capture();
    let srv = start(app);
    let mut s = raw(srv.port);
    s.write_all(b"GET /logged/no-agent HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let lines: Vec<String> = capture
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(" /logged/no-agent "))
        .cloned()
        .collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with("INFO [127.0.0.1] GET /logged/no-agent HTTP/1.1 -> 200 (14 bytes, "),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with(" ms); -"), "{}", lines[0]);
}

#[test]
fn a_failing_handler_is_logged_with_its_request() {
    let capture = capture();
    let srv = start(app);
    let mut s = raw(srv.port);
    s.write_all(b"GET /failing?id=7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert!(
        out.starts_with(b"HTTP/1.1 500 "),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let lines: Vec<String> = capture
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("ERROR ") && l.contains("/failing"))
        .cloned()
        .collect();
    assert_eq!(
        lines,
        [
            "ERROR [127.0.0.1] GET /failing?id=7: handler failed, answered 500: \
          invalid digit found in string"
        ]
    );
}
