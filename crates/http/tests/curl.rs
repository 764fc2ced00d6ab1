//! The server driven by curl (skipped when /usr/bin/curl is missing).

mod common;

use std::process::Command;

use common::start;
use monocle_http::{HttpRequest, HttpServer};

fn app() -> HttpServer {
    let mut server = HttpServer::new(0, |_req: HttpRequest| async { "Hello, World!" });
    server.post("/echo", |req: HttpRequest| async move { req.into_body() });
    server
}

fn curl(args: &[&str]) -> Option<String> {
    if !std::path::Path::new("/usr/bin/curl").exists() {
        eprintln!("curl not installed; skipping");
        return None;
    }
    let out = Command::new("/usr/bin/curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn curl_get_and_post() {
    let srv = start(app);
    let url = format!("http://127.0.0.1:{}/", srv.port);
    let Some(out) = curl(&["-i", &url]) else {
        return;
    };
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("Server: monocle/"), "{out}");
    assert!(out.ends_with("Hello, World!"), "{out}");

    let echo = format!("http://127.0.0.1:{}/echo", srv.port);
    let out = curl(&["--data-binary", "posted body", &echo]).unwrap();
    assert_eq!(out, "posted body");
}

#[test]
fn curl_reuses_the_connection() {
    let srv = start(app);
    let url = format!("http://127.0.0.1:{}/", srv.port);
    let Some(out) = curl(&["-w", "[%{num_connects}]", &url, &url]) else {
        return;
    };
    assert_eq!(out, "Hello, World![1]Hello, World![0]");
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
}

#[test]
fn curl_http10() {
    let srv = start(app);
    let url = format!("http://127.0.0.1:{}/", srv.port);
    let Some(out) = curl(&["--http1.0", "-i", &url]) else {
        return;
    };
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.ends_with("Hello, World!"), "{out}");
}
