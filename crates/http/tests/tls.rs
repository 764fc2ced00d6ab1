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
