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
