//! `tls::upgrade_client`: TLS started on a connection that spoke plain text
//! first, against a blocking rustls server in a thread.
#![cfg(feature = "tls")]

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{echo, run};
use monocle_network::tls::{self, rustls};
use monocle_network::{add_service, connect, Client, Error, Reason, Service};

/// A STARTTLS-like server: reads a plain line, answers `reply` in plain text,
/// then (if `tls` is given) speaks TLS and echoes one line. Returns the plain
/// line it read and the line it got over TLS.
fn starttls_server(
    reply: &'static [u8],
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (u16, thread::JoinHandle<io::Result<(String, String)>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = thread::spawn(move || {
        let (stream, _) = listener.accept()?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut plain = BufReader::new(stream);
        let mut first = String::new();
        plain.read_line(&mut first)?;
        // The client sends nothing more before our reply, so nothing is lost
        // in the BufReader.
        assert!(plain.buffer().is_empty());
        let mut stream: TcpStream = plain.into_inner();
        stream.write_all(reply)?;
        let Some(config) = tls else {
            // Wait for the client to hang up.
            let _ = stream.read(&mut [0; 64]);
            return Ok((first, String::new()));
        };
        let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        let mut tls = BufReader::new(rustls::StreamOwned::new(conn, stream));
        let mut line = String::new();
        tls.read_line(&mut line)?;
        tls.get_mut().write_all(line.as_bytes())?;
        tls.get_mut().flush()?;
        Ok((first, line))
    });
    (port, thread)
}

#[test]
fn plain_then_tls_on_the_same_connection() {
    let (server, client) = common::tls_configs();
    let (port, thread) = starttls_server(b"GO AHEAD\n", Some(server));
    run(async move {
        let mut conn = Client::new()
            .timeout(Some(Duration::from_secs(10)))
            .connect("127.0.0.1", port)
            .await
            .unwrap();
        conn.set_max_buffer(4096);
        conn.write(b"STARTTLS\n").await.unwrap();
        assert_eq!(conn.readline().await.unwrap(), b"GO AHEAD\n");
        let mut conn = tls::upgrade_client(conn, client, "localhost")
            .await
            .unwrap();
        assert_eq!(conn.timeout(), Some(Duration::from_secs(10)));
        assert_eq!(conn.max_buffer(), 4096);
        conn.write(b"secret\n").await.unwrap();
        assert_eq!(conn.readline().await.unwrap(), b"secret\n");
    });
    let (first, over_tls) = thread.join().unwrap().unwrap();
    assert_eq!((&*first, &*over_tls), ("STARTTLS\n", "secret\n"));
}

#[test]
fn unread_bytes_before_the_handshake_are_refused() {
    let (_, client) = common::tls_configs();
    let (port, thread) = starttls_server(b"GO AHEAD\nEXTRA", None);
    run(async move {
        let mut conn = connect("127.0.0.1", port).await.unwrap();
        conn.write(b"STARTTLS\n").await.unwrap();
        // Wait until the extra bytes are buffered behind the line.
        while conn.buffered().len() < b"GO AHEAD\nEXTRA".len() {
            conn.fill().await.unwrap();
        }
        assert_eq!(conn.readline().await.unwrap(), b"GO AHEAD\n");
        let err = tls::upgrade_client(conn, client, "localhost")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert!(err.to_string().contains("5 bytes"), "{err}");
        // Refused before the handshake: the connection comes back as it was.
        let mut conn = err.into_connection().expect("the connection back");
        assert_eq!(conn.read(5).await.unwrap(), b"EXTRA");
    });
    thread.join().unwrap().unwrap();
}

#[test]
fn the_server_name_is_checked() {
    let (server, client) = common::tls_configs();
    let (port, thread) = starttls_server(b"GO AHEAD\n", Some(server));
    run(async move {
        let mut conn = connect("127.0.0.1", port).await.unwrap();
        conn.write(b"STARTTLS\n").await.unwrap();
        conn.readline().await.unwrap();
        // The certificate names "localhost" only.
        let err = tls::upgrade_client(conn, client, "example.invalid")
            .await
            .unwrap_err();
        let Error::ConnectionLost(lost) = err.error() else {
            panic!("unexpected: {err}")
        };
        assert!(lost.to_string().contains("certificate"), "{lost}");
        // The handshake had begun: the connection went with it.
        assert!(err.into_connection().is_none());
    });
    // The server sees the handshake fail.
    assert!(thread.join().unwrap().is_err());
}

#[test]
fn closed_and_tls_connections_are_refused() {
    let (server, client) = common::tls_configs();
    run(async move {
        let svc = add_service(Service::new(echo, 0).bind_addr([127, 0, 0, 1]).tls(server)).unwrap();
        let secure = Client::new()
            .tls(client.clone())
            .connect("localhost", svc.port())
            .await
            .unwrap();
        let err = tls::upgrade_client(secure, client.clone(), "localhost")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("already speaks TLS"), "{err}");
        // Refusing leaves the TLS session up: the connection comes back and
        // still speaks TLS with the echo server.
        let mut secure = err.into_connection().expect("the connection back");
        assert!(!secure.is_closed());
        secure.write(b"still secure\n").await.unwrap();
        assert_eq!(secure.readline().await.unwrap(), b"still secure\n");

        let mut closed = connect("127.0.0.1", svc.port()).await.unwrap();
        closed.close();
        let err = tls::upgrade_client(closed, client, "localhost")
            .await
            .unwrap_err();
        let lost = err.error().as_connection_lost().expect("a ConnectionLost");
        assert!(matches!(lost.reason(), Reason::Closed), "{lost}");
        svc.stop();
    });
}

#[test]
fn an_invalid_server_name_gives_the_plain_connection_back() {
    let (server, client) = common::tls_configs();
    let (port, thread) = starttls_server(b"GO AHEAD\n", Some(server));
    run(async move {
        let mut conn = connect("127.0.0.1", port).await.unwrap();
        conn.write(b"STARTTLS\n").await.unwrap();
        conn.readline().await.unwrap();
        let err = tls::upgrade_client(conn, client.clone(), "not a name")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(
            err.to_string().contains("not a valid TLS server name"),
            "{err}"
        );
        // Nothing was sent: the same connection upgrades with the right name.
        let conn = err.into_connection().expect("the connection back");
        let mut conn = tls::upgrade_client(conn, client, "localhost")
            .await
            .unwrap();
        conn.write(b"secret\n").await.unwrap();
        assert_eq!(conn.readline().await.unwrap(), b"secret\n");
    });
    let (_, over_tls) = thread.join().unwrap().unwrap();
    assert_eq!(over_tls, "secret\n");
}

/// A TLS connection refused by `upgrade_client` and then dropped ends its
/// session with a close_notify: the peer sees a clean end of stream, not a
/// truncation.
#[test]
fn a_refused_tls_connection_says_goodbye_when_dropped() {
    let (server, client) = common::tls_configs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = thread::spawn(move || -> io::Result<usize> {
        let (stream, _) = listener.accept()?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let conn = rustls::ServerConnection::new(server).map_err(io::Error::other)?;
        let mut tls = BufReader::new(rustls::StreamOwned::new(conn, stream));
        let mut line = String::new();
        tls.read_line(&mut line)?;
        tls.get_mut().write_all(line.as_bytes())?;
        tls.get_mut().flush()?;
        // Ok(0) after a close_notify; an UnexpectedEof error without one.
        tls.read(&mut [0; 64])
    });
    run(async move {
        let mut conn = Client::new()
            .tls(client.clone())
            .connect("localhost", port)
            .await
            .unwrap();
        conn.write(b"hello\n").await.unwrap();
        assert_eq!(conn.readline().await.unwrap(), b"hello\n");
        let err = tls::upgrade_client(conn, client, "localhost")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("already speaks TLS"), "{err}");
        drop(err);
    });
    assert_eq!(thread.join().unwrap().unwrap(), 0);
}
