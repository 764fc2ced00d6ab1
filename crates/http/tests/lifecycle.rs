//! Stopping, connection limits and many loops.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{exchange_until_close, raw, read_response, start};
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
    monocle_stack::block_on(svc.stop());
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

thread_local! {
    /// This loop thread's server of `stop_on_several_loops_drains_every_loop`.
    static LOOP_SERVER: std::cell::RefCell<Option<HttpServer>> =
        const { std::cell::RefCell::new(None) };
}

#[test]
fn stop_on_several_loops_drains_every_loop() {
    use std::sync::mpsc;
    use std::sync::Mutex;

    let (in_hand_tx, in_hand) = mpsc::channel::<()>();
    let in_hand_tx = Mutex::new(in_hand_tx);
    let loops = monocle_stack::Loops::start(2).unwrap();
    let svc = HttpServer::start_on(&loops, 0, Some([127, 0, 0, 1].into()), move || {
        let tx = in_hand_tx.lock().unwrap().clone();
        let mut server = HttpServer::new(0, |_req: HttpRequest| async { "quick" });
        server.get("/slow", move |_req: HttpRequest| {
            let tx = tx.clone();
            async move {
                tx.send(()).unwrap();
                // Hold the request until this loop's server is stopping.
                while !LOOP_SERVER.with(|s| s.borrow().as_ref().unwrap().is_stopping()) {
                    sleep(Duration::from_millis(1)).await;
                }
                "slow done"
            }
        });
        // Drain deadline and keep-alive far beyond the test's bound below, so
        // closing promptly can only come from the stop itself.
        let mut config = server.config();
        config
            .drain_timeout(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(60));
        server.set_config(config);
        LOOP_SERVER.with(|s| *s.borrow_mut() = Some(server.clone()));
        server
    })
    .unwrap();
    let port = svc.port();

    // Several kept-alive idle connections (the kernel spreads them over the loops).
    let mut idle: Vec<_> = (0..6)
        .map(|_| {
            let mut s = raw(port);
            let mut buf = Vec::new();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let resp = read_response(&mut s, &mut buf);
            assert!(!resp.contains("Connection: close"), "{resp}");
            assert!(resp.ends_with("quick"), "{resp}");
            s
        })
        .collect();
    // A kept-alive connection with a slow request in flight.
    let mut busy = raw(port);
    let mut buf = Vec::new();
    busy.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(read_response(&mut busy, &mut buf).ends_with("quick"));
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    in_hand.recv_timeout(Duration::from_secs(10)).unwrap();

    let started = std::time::Instant::now();
    let stopper = {
        let svc = svc.clone();
        std::thread::spawn(move || monocle_stack::block_on(svc.stop()))
    };
    let mut out = Vec::new();
    busy.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("Connection: close\r\n"), "{out}");
    assert!(out.ends_with("slow done"), "{out}");
    for s in &mut idle {
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    }
    stopper.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let refused = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // Stopping again is harmless.
    monocle_stack::block_on(svc.stop());
}

#[test]
fn a_server_starts_once_and_not_after_stop() {
    monocle_stack::block_on(async {
        let mut server = HttpServer::new(0, |_req: HttpRequest| async { "up" });
        server.bind_addr([127, 0, 0, 1]);
        let handle = server.start().unwrap();
        // port() is the bound port once started, not the 0 asked for.
        assert_ne!(handle.port(), 0);
        assert_eq!(server.port(), handle.port());
        let url = format!("http://127.0.0.1:{}/", server.port());
        assert_eq!(HttpClient::query(&url).await.unwrap().text(), "up");

        let again = server.start().unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists, "{again}");
        assert!(again.to_string().contains("already serving"), "{again}");

        server.stop().await;
        assert_eq!(server.port(), 0);
        let after = server.start().unwrap_err();
        assert!(after.to_string().contains("was stopped"), "{after}");
    });
}

/// What a handler captures: its answer, and a count bumped when it is dropped.
struct Captured {
    answer: String,
    drops: Arc<AtomicUsize>,
}

impl Drop for Captured {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn stop_on_loops_drops_its_servers_and_the_port_serves_again() {
    let loops = monocle_stack::Loops::start(1).unwrap();
    let built = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let mut port = 0;
    for cycle in 0..4 {
        let (built_here, drops_here) = (built.clone(), drops.clone());
        let svc = HttpServer::start_on(&loops, port, Some([127, 0, 0, 1].into()), move || {
            built_here.fetch_add(1, Ordering::SeqCst);
            let captured = Captured {
                answer: format!("cycle {cycle}"),
                drops: drops_here.clone(),
            };
            HttpServer::new(0, move |_req: HttpRequest| {
                let answer = captured.answer.clone();
                async move { answer }
            })
        })
        .unwrap();
        // Every cycle after the first restarts on the first one's port.
        port = svc.port();
        // Every other cycle serves a request; the others never see a connection.
        if cycle % 2 == 0 {
            let out = exchange_until_close(
                port,
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
            assert!(out.ends_with(&format!("\r\n\r\ncycle {cycle}")), "{out}");
            let running = built.load(Ordering::SeqCst) - 1;
            assert_eq!(drops.load(Ordering::SeqCst), running, "cycle {cycle}");
        }
        monocle_stack::block_on(svc.stop());
        assert_eq!(built.load(Ordering::SeqCst), cycle / 2 + 1);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            built.load(Ordering::SeqCst),
            "a server built in cycle {cycle} or before outlived its stop"
        );
    }
}
