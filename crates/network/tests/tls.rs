//! TLS services and clients with a certificate made at test time.
#![cfg(feature = "tls")]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use common::{echo, run};
use monocle_network::tls::rustls;
use monocle_network::{add_service, Client, Error, Reason, Service, ServiceHandle};

fn tls_echo(server: Arc<rustls::ServerConfig>) -> ServiceHandle {
    add_service(
        Service::new(echo, 0)
            .bind_addr([127, 0, 0, 1])
            .tls(server)
            .timeout(Some(Duration::from_secs(10))),
    )
    .unwrap()
}

#[test]
fn tls_round_trip() {
    run(async {
        let (server, client) = common::tls_configs();
        let svc = tls_echo(server);
        let mut conn = Client::new()
            .tls(client)
            .timeout(Some(Duration::from_secs(10)))
            .connect("localhost", svc.port())
            .await
            .unwrap();
        for i in 0..1000 {
            let msg = format!("secret {i}\n");
            conn.write(msg.as_bytes()).await.unwrap();
            assert_eq!(conn.readline().await.unwrap(), msg.as_bytes());
        }
        // A big message crosses many TLS records (small enough for the socket
        // buffers to hold the echo while we are still writing).
        let big: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        conn.buffer(&big);
        conn.buffer(b"\n");
        conn.flush().await.unwrap();
        let back = conn.read_until(b"\n").await.unwrap();
        assert_eq!(&back[..big.len()], &big[..]);
        conn.close();
        svc.stop();
    });
}

#[test]
fn tls_client_checks_the_server_name() {
    run(async {
        let (server, client) = common::tls_configs();
        let svc = tls_echo(server);
        // The certificate names "localhost", not 127.0.0.1.
        let err = Client::new()
            .tls(client)
            .connect("127.0.0.1", svc.port())
            .await
            .unwrap_err();
        let Error::ConnectionLost(lost) = &err else {
            panic!("unexpected: {err}")
        };
        assert!(lost.to_string().contains("certificate"), "{lost}");
        svc.stop();
    });
}

#[test]
fn tls_connection_speaks_futures_io() {
    use futures_lite::io::{AsyncBufReadExt, AsyncWriteExt};
    run(async {
        let (server, client) = common::tls_configs();
        let svc = tls_echo(server);
        let mut conn = Client::new()
            .tls(client)
            .connect("localhost", svc.port())
            .await
            .unwrap();
        conn.write_all(b"over futures-io\n").await.unwrap();
        AsyncWriteExt::flush(&mut conn).await.unwrap();
        let mut line = String::new();
        conn.read_line(&mut line).await.unwrap();
        assert_eq!(line, "over futures-io\n");
        svc.stop();
    });
}

/// Over TLS as over plain TCP, a failed write leaves what the peer sent
/// before readable: a server answers one line, then closes with the rest of
/// what we send unread; our writes fail, and the answer is still read, then
/// the end (its close_notify) or the reset.
#[test]
fn tls_answer_is_read_after_a_write_fails() {
    run(async {
        let (server, client) = common::tls_configs();
        let svc = add_service(
            Service::new(
                |mut conn: monocle_network::Connection| async move {
                    conn.readline().await?;
                    conn.write(b"the answer\n").await
                    // Dropped here, with what came after the line unread.
                },
                0,
            )
            .bind_addr([127, 0, 0, 1])
            .tls(server),
        )
        .unwrap();
        let mut conn = Client::new()
            .tls(client)
            .timeout(Some(Duration::from_secs(10)))
            .connect("localhost", svc.port())
            .await
            .unwrap();
        conn.write(b"hello\n").await.unwrap();
        // Nothing is read before a write fails.
        let chunk = vec![b'x'; 16 << 10];
        let lost = loop {
            if let Err(lost) = conn.write(&chunk).await {
                break lost;
            }
        };
        assert_eq!(lost.reason(), Reason::Reset, "{lost}");
        assert!(conn.is_write_failed());
        assert!(!conn.is_closed());
        let again = conn.write(b"more").await.unwrap_err();
        assert_eq!(again.reason(), Reason::Reset);
        assert_eq!(conn.readline().await.unwrap(), b"the answer\n");
        // Its close_notify went out before the reset: its stream ended
        // whole, and the end is its close.
        let end = conn.read_some().await.unwrap_err();
        assert_eq!(end.reason(), Reason::ClosedByPeer, "{end}");
        assert!(conn.is_closed());
        svc.stop();
    });
}

/// A TLS server on a thread of its own, scripted step by step: it reads a
/// line, answers `the answer\n` and says so on `answered`; told to on
/// `reset`, it closes without a close_notify, resetting the connection
/// (linger 0), and says so on `done`.
struct ResettingPeer {
    port: u16,
    answered: mpsc::Receiver<()>,
    reset: mpsc::Sender<()>,
    done: mpsc::Receiver<()>,
}

impl ResettingPeer {
    fn start(config: Arc<rustls::ServerConfig>) -> ResettingPeer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (answered_tx, answered) = mpsc::channel();
        let (reset, reset_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            // The answer goes out at once, not held back (Nagle) until
            // the session ticket before it is acknowledged: the reset
            // would drop it.
            stream.set_nodelay(true).unwrap();
            let conn = rustls::ServerConnection::new(config).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut byte = [0u8; 1];
            while byte != *b"\n" {
                tls.read_exact(&mut byte).unwrap();
            }
            tls.write_all(b"the answer\n").unwrap();
            tls.flush().unwrap();
            answered_tx.send(()).unwrap();
            reset_rx.recv().unwrap();
            socket2::SockRef::from(&tls.sock)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(tls);
            done_tx.send(()).unwrap();
        });
        ResettingPeer {
            port,
            answered,
            reset,
            done,
        }
    }

    /// Has the peer reset the connection, and waits (blocking the loop,
    /// which has nothing else to do) until it has.
    fn reset(&self) {
        self.reset.send(()).unwrap();
        self.done.recv().unwrap();
    }
}

/// Connects to `peer`, sends it a line and waits (blocking) for its answer.
async fn answered_by(
    peer: &ResettingPeer,
    client: Arc<rustls::ClientConfig>,
) -> monocle_network::Connection {
    let mut conn = Client::new()
        .tls(client)
        .timeout(Some(Duration::from_secs(10)))
        .connect("localhost", peer.port)
        .await
        .unwrap();
    conn.write(b"hello\n").await.unwrap();
    peer.answered.recv().unwrap();
    conn
}

/// A peer that resets the connection without a close_notify after
/// answering: our write fails, its answer is still read, and then the end
/// is the reset, not a close (the reset may have cut its stream short).
#[test]
fn tls_end_after_a_reset_without_close_notify_is_the_reset() {
    run(async {
        let (server, client) = common::tls_configs();
        let peer = ResettingPeer::start(server);
        let mut conn = answered_by(&peer, client).await;
        peer.reset();
        let lost = conn.write(b"more\n").await.unwrap_err();
        assert_eq!(lost.reason(), Reason::Reset, "{lost}");
        assert_eq!(conn.readline().await.unwrap(), b"the answer\n");
        let end = conn.read_some().await.unwrap_err();
        assert_eq!(end.reason(), Reason::Reset, "{end}");
        assert!(conn.is_closed());
    });
}

/// A read sends the records of ours that a write left in the session; if
/// that fails, the read goes on, but the sending side is dead from then on,
/// and the connection says so (as `HttpClient::is_connected` asks it).
#[test]
fn tls_write_that_fails_during_a_read_is_noticed() {
    use futures_lite::future::{poll_once, yield_now};
    use futures_lite::io::AsyncWriteExt;
    run(async {
        let (server, client) = common::tls_configs();
        let peer = ResettingPeer::start(server);
        let mut conn = answered_by(&peer, client).await;
        // The peer reads nothing: writes fill the socket buffers until one
        // has to wait, and the session holds records it could not send.
        let chunk = vec![b'x'; 16 << 10];
        loop {
            match poll_once(AsyncWriteExt::write(&mut conn, &chunk)).await {
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("{e}"),
                None => break,
            }
        }
        peer.reset();
        // A turn of the loop, for it to learn that the socket changed.
        yield_now().await;
        assert!(!conn.is_write_failed());
        // The read tries to send those records first, which fails.
        assert_eq!(conn.readline().await.unwrap(), b"the answer\n");
        assert!(conn.is_write_failed());
        assert!(!conn.is_closed());
        let again = poll_once(conn.write(b"more"))
            .await
            .expect("a write after a failed one waited")
            .unwrap_err();
        assert_eq!(again.reason(), Reason::Reset, "{again}");
        let end = conn.read_some().await.unwrap_err();
        assert_eq!(end.reason(), Reason::Reset, "{end}");
    });
}
