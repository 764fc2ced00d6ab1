//! HTTPS (monocle's `https` example): a server with a self-signed certificate
//! made at start-up, and a client trusting exactly that certificate.
//!
//! Run with `cargo run --example https --features tls`; it makes two requests
//! on one TLS connection, prints them and exits.

use std::io;
use std::sync::Arc;

use monocle::stack::eventloop;
use monocle::stack::network::http::{HttpClient, HttpHeaders, HttpRequest, HttpServer};
use monocle::stack::network::tls::rustls;

fn configs(
) -> Result<(Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>), Box<dyn std::error::Error>> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der());
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key.into())?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der)?;
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((Arc::new(server), Arc::new(client)))
}

async fn hello(req: HttpRequest) -> String {
    format!("Hello over TLS! ({} {})\n", req.method(), req.path())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (server_config, client_config) = configs()?;
    let mut server = HttpServer::new(0, hello);
    server.bind_addr([127, 0, 0, 1]);
    let port = server.start_tls(server_config)?.port();
    monocle::launch(async move {
        let result = async {
            let mut client = HttpClient::new();
            client.set_tls_config(client_config);
            let url = format!("https://localhost:{port}/secret");
            let resp = client.get(&url).await?;
            print!("GET {url} -> {} {}", resp.code(), resp.text());
            let resp = client
                .request(&url, HttpHeaders::new(), "POST", "data")
                .await?;
            print!("POST {url} -> {} {}", resp.code(), resp.text());
            println!("TLS connections opened: {}", client.connects());
            io::Result::Ok(())
        }
        .await;
        server.stop().await;
        eventloop::halt();
        if let Err(e) = result {
            eprintln!("https example failed: {e}");
            std::process::exit(1);
        }
    });
    eventloop::run();
    Ok(())
}
