//! Stopping, connection limits and many loops.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{raw, read_response, start};
use monocle_http::{HttpClient, HttpRequest, HttpServer};
use monocle_stack::util::sleep;

#[test]
fn stop_lets_in_flight_requests_finish() {
    let srv = start(|| {
        HttpServer::new(0, |_req: HttpRequest| async {
            sleep(Duration::from_millis(200)).await;
            "finished"
        })
    });
    let mut busy = raw(srv.port);
    busy.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Wait until the server has the request in hand, then stop it.
    let handle = srv.handle().clone();
    let stopper = std::thread::spawn(move || {
        monocle_stack::block_on(handle.spawn(|| async {
            let server = common::server();
            while server.active_connections() == 0 {
                sleep(Duration::from_millis(1)).await;
            }
            server.stop().await;
        }))
        .unwrap();
    });
    let mut out = Vec::new();
    busy.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("Connection: close\r\n"), "{out}");
    assert!(out.ends_with("finished"), "{out}");
    stopper.join().unwrap();
}

#[test]
fn drain_deadline_closes_stuck_connections() {
    let srv = start(|| {
        let mut s = HttpServer::new(0, |_req: HttpRequest| async {
            sleep(Duration::from_secs(60)).await;
            "never"
        });
        let mut config = s.config();
        config.drain_timeout(Duration::from_millis(100));
        s.set_config(config);
        s
    });
    let mut stuck = raw(srv.port);
    stuck
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let started = std::time::Instant::now();
    monocle_stack::block_on(srv.handle().spawn(|| async {
        let server = common::server();
        while server.active_connections() == 0 {
            sleep(Duration::from_millis(1)).await;
        }
        server.stop().await;
        server.active_connections()
    }))
    .map(|active| assert_eq!(active, 0))
    .unwrap();
    let mut out = Vec::new();
    let _ = stuck.read_to_end(&mut out);
    assert!(out.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn connections_over_the_limit_get_503() {
    let srv = start(|| {
        let mut s = HttpServer::new(0, |_req: HttpRequest| async { "ok" });
        let mut config = s.config();
        config.max_connections(1);
        s.set_config(config);
        s
    });
    let mut first = raw(srv.port);
    let mut buf = Vec::new();
    first
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(read_response(&mut first, &mut buf).ends_with("ok"));
    let mut second = raw(srv.port);
    let mut out = Vec::new();
    second.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
}

#[test]
fn serves_on_several_loops() {
    let loops = monocle_stack::Loops::start(2).unwrap();
    let svc = HttpServer::start_on(&loops, 0, Some([127, 0, 0, 1].into()), || {
        HttpServer::new(0, |_req: HttpRequest| async {
            std::thread::current().name().unwrap_or("?").to_owned()
        })
    })
    .unwrap();
    let url = format!("http://127.0.0.1:{}/", svc.port());
    monocle_stack::block_on(async move {
        for _ in 0..8 {
            let resp = HttpClient::query(&url).await.unwrap();
            assert!(resp.text().starts_with("monocle-loop-"), "{}", resp.text());
        }
    });
    svc.stop();
}

#[test]
fn idle_keep_alive_connections_time_out() {
    let srv = start(|| {
        let mut s = HttpServer::new(0, |_req: HttpRequest| async { "ok" });
        let mut config = s.config();
        config.keep_alive_timeout(Duration::from_millis(100));
        s.set_config(config);
        s
    });
    let mut conn = raw(srv.port);
    let mut buf = Vec::new();
    let started = std::time::Instant::now();
    for _ in 0..3 {
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert!(read_response(&mut conn, &mut buf).ends_with("ok"));
    }
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}
