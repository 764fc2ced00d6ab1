//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use monocle_network::{add_service, connect, Connection, ConnectionLost, Service, ServiceHandle};

/// Runs a test body on this thread's loop; fails the test if it takes over 30 s.
pub fn run<F: Future>(body: F) -> F::Output {
    monocle_stack::block_on(async {
        monocle_stack::util::timeout(Duration::from_secs(30), body)
            .await
            .expect("the test did not finish within 30 s")
    })
}

/// A connected pair on loopback: (client side, server side), both on this loop.
pub async fn pair() -> (Connection, Connection) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = connect("127.0.0.1", port).await.unwrap();
    // The kernel completed the handshake, so accept returns at once.
    let (server, _) = listener.accept().unwrap();
    (client, Connection::from_std(server).unwrap())
}

/// An echo handler: sends back whatever it reads until the peer leaves.
pub async fn echo(mut conn: Connection) -> Result<(), ConnectionLost> {
    loop {
        let data = conn.read_some().await?.to_vec();
        conn.write(&data).await?;
    }
}

/// Starts the echo service on 127.0.0.1, port 0.
pub fn echo_service() -> ServiceHandle {
    add_service(Service::new(echo, 0).bind_addr([127, 0, 0, 1])).unwrap()
}

/// A server config with a self-signed certificate for `localhost` made now,
/// and a client config that trusts exactly that certificate.
#[cfg(feature = "tls")]
pub fn tls_configs() -> (
    std::sync::Arc<monocle_network::tls::rustls::ServerConfig>,
    std::sync::Arc<monocle_network::tls::rustls::ClientConfig>,
) {
    use monocle_network::tls::rustls;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der());
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key.into())
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (std::sync::Arc::new(server), std::sync::Arc::new(client))
}
