//! HTTPS: the client against the server over TLS, with a certificate made at test time.
#![cfg(feature = "tls")]

mod common;

use std::io;

use monocle_http::{HttpClient, HttpHeaders, HttpRequest, HttpServer};

#[test]
fn https_round_trips_on_one_connection() {
    let (server_config, client_config) = common::tls_configs();
    let loops = monocle_stack::Loops::start(1).unwrap();
    let port = monocle_stack::block_on(loops.handle(0).spawn(move || async move {
        let mut server = HttpServer::new(0, |req: HttpRequest| async move {
            format!("secure {} {}", req.method(), req.body().len())
        });
        server.bind_addr([127, 0, 0, 1]);
        let port = server.start_tls(server_config).unwrap().port();
        std::mem::forget(server);
        port
    }))
    .unwrap();
    monocle_stack::block_on(async move {
        let mut client = HttpClient::new();
        client.set_tls_config(client_config);
        let url = format!("https://localhost:{port}/");
        let resp = client.get(&url).await?;
        assert_eq!((resp.code(), &*resp.text()), (200, "secure GET 0"));
        let body = vec![7u8; 1 << 20];
        let resp = client
            .request(&url, HttpHeaders::new(), "POST", body)
            .await?;
        assert_eq!(resp.text(), format!("secure POST {}", 1 << 20));
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn https_without_a_client_config_is_a_clear_error() {
    monocle_stack::block_on(async {
        let err = HttpClient::query("https://localhost:1/").await.unwrap_err();
        assert!(err.to_string().contains("set_tls_config"), "{err}");
    });
}

#[test]
fn https_on_every_loop() {
    let (server_config, client_config) = common::tls_configs();
    let loops = monocle_stack::Loops::start(2).unwrap();
    let svc = HttpServer::start_tls_on(
        &loops,
        0,
        Some([127, 0, 0, 1].into()),
        server_config,
        || {
            HttpServer::new(0, |_req: HttpRequest| async {
                format!("secure on {:?}", std::thread::current().id())
            })
        },
    )
    .unwrap();
    let port = svc.port();
    let threads = monocle_stack::block_on(async move {
        // Separate clients, separate connections: SO_REUSEPORT spreads them
        // over the loops by hash, so ask until both loops have answered.
        let mut threads = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut client = HttpClient::new();
            client.set_tls_config(client_config.clone());
            let resp = client.get(&format!("https://localhost:{port}/")).await?;
            assert_eq!(resp.code(), 200);
            threads.insert(resp.text().into_owned());
            if threads.len() == 2 {
                break;
            }
        }
        io::Result::Ok(threads)
    })
    .unwrap();
    assert_eq!(threads.len(), 2, "{threads:?}");
    monocle_stack::block_on(svc.stop());
}

#[test]
fn plain_http_to_a_tls_port_is_refused() {
    let (server_config, _) = common::tls_configs();
    let loops = monocle_stack::Loops::start(1).unwrap();
    let svc = HttpServer::start_tls_on(
        &loops,
        0,
        Some([127, 0, 0, 1].into()),
        server_config,
        || HttpServer::new(0, |_req: HttpRequest| async { "secret" }),
    )
    .unwrap();
    let url = format!("http://127.0.0.1:{}/", svc.port());
    let result = monocle_stack::block_on(HttpClient::query(&url));
    assert!(
        result.is_err(),
        "{:?}",
        result.map(|r| r.text().into_owned())
    );
    monocle_stack::block_on(svc.stop());
}

#[test]
fn a_connection_handed_over_during_stop_on_loops_is_closed_unanswered() {
    use monocle_core::Callback;
    use monocle_network::tls::rustls;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let (server_config, client_config) = common::tls_configs();
    let loops = monocle_stack::Loops::start(1).unwrap();
    let built = Arc::new(AtomicUsize::new(0));
    let (in_hand, release) = (Callback::<()>::new(), Callback::<()>::new());
    let svc = {
        let (built, in_hand, release) = (built.clone(), in_hand.clone(), release.clone());
        HttpServer::start_tls_on(
            &loops,
            0,
            Some([127, 0, 0, 1].into()),
            server_config,
            move || {
                built.fetch_add(1, Ordering::SeqCst);
                let mut server = HttpServer::new(0, |_req: HttpRequest| async { "answered" });
                let (in_hand, release) = (in_hand.clone(), release.clone());
                server.get("/busy", move |_req: HttpRequest| {
                    let _ = in_hand.resolve(());
                    let release = release.clone();
                    async move {
                        release.await;
                        "busy done"
                    }
                });
                server
            },
        )
        .unwrap()
    };
    let connect = || {
        let tcp = std::net::TcpStream::connect(svc.local_addr()).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let name = "localhost".try_into().unwrap();
        let tls = rustls::ClientConnection::new(client_config.clone(), name).unwrap();
        (tls, tcp)
    };

    // A request in flight, so the stop below is still draining.
    let (tls, tcp) = connect();
    let mut busy = rustls::StreamOwned::new(tls, tcp);
    busy.write_all(b"GET /busy HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    monocle_stack::block_on(in_hand);

    // A connection the listener has accepted but not yet handed over: its
    // handshake lacks only the client's last flight.
    let (mut late, mut tcp) = connect();
    while late.is_handshaking() {
        while late.wants_write() {
            late.write_tls(&mut tcp).unwrap();
        }
        assert_ne!(late.read_tls(&mut tcp).unwrap(), 0, "server closed");
        late.process_new_packets().unwrap();
    }

    let stopped = svc.stop();
    // Now finish the handshake, which hands the connection to the server.
    late.writer()
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    while late.wants_write() {
        late.write_tls(&mut tcp).unwrap();
    }
    let mut answer = Vec::new();
    loop {
        match late.read_tls(&mut tcp) {
            Ok(0) => break,
            Ok(_) => {
                if late.process_new_packets().is_err() {
                    break;
                }
                let _ = late.reader().read_to_end(&mut answer);
            }
            // Closed with our request unread: a reset.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));

    // The request in flight is answered and its connection closed (with
    // `Connection: close` or, if the loop had not heard of the stop yet, as
    // an idle one once it does), then the stop completes.
    release.resolve(()).unwrap();
    let mut out = Vec::new();
    match busy.read_to_end(&mut out) {
        Err(e) if e.kind() != io::ErrorKind::UnexpectedEof => panic!("{e}"),
        _ => {}
    }
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.ends_with("busy done"), "{out}");
    monocle_stack::block_on(stopped);
    assert_eq!(built.load(Ordering::SeqCst), 1, "a server built after stop");
}
