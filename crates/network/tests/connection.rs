//! Connection reads, writes, timeouts and failures over loopback.

mod common;

use std::time::Duration;

use common::{pair, run};
use futures_lite::future::poll_once;
use futures_lite::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use monocle_network::{connect, Client, Connection, ConnectionLost, Error, Reason};
use monocle_stack::util::sleep;
use monocle_stack::{launch, Handle};

#[test]
fn runs_on_the_reactor_named_by_the_environment() {
    let expected = match std::env::var("MONOCLE_REACTOR") {
        Ok(name) if !name.is_empty() => name,
        _ => "epoll".to_owned(),
    };
    assert_eq!(Handle::current().reactor().to_string(), expected);
}

#[test]
fn reads_with_data_already_buffered() {
    run(async {
        let (mut client, mut server) = pair().await;
        client
            .write(b"line one\nline two\r\nabcdefgh-rest")
            .await
            .unwrap();
        // Wait until everything is in the server's buffer, then read it in pieces.
        while server.buffered().len() < 32 {
            server.fill().await.unwrap();
        }
        assert_eq!(server.readline().await.unwrap(), b"line one\n");
        assert_eq!(server.read_until(b"\r\n").await.unwrap(), b"line two\r\n");
        assert_eq!(server.read(4).await.unwrap(), b"abcd");
        let mut four = [0u8; 4];
        server.read_exact_into(&mut four).await.unwrap();
        assert_eq!(&four, b"efgh");
        assert_eq!(server.read_some().await.unwrap(), b"-rest");
        assert!(server.buffered().is_empty());
    });
}

#[test]
fn reads_with_data_arriving_later() {
    run(async {
        let (mut client, mut server) = pair().await;
        let writer = launch(async move {
            for piece in [&b"hel"[..], b"lo\nwor", b"ld", b"!!", b"12345", b"x"] {
                sleep(Duration::from_millis(5)).await;
                client.write(piece).await.unwrap();
            }
            client
        });
        assert_eq!(server.readline().await.unwrap(), b"hello\n");
        assert_eq!(server.read_until(b"d!").await.unwrap(), b"world!");
        assert_eq!(server.read_some().await.unwrap(), b"!");
        assert_eq!(server.read(5).await.unwrap(), b"12345");
        let mut one = [0u8; 8];
        assert_eq!(server.read_into(&mut one).await.unwrap(), 1);
        assert_eq!(one[0], b'x');
        let _client = writer.await;
    });
}

#[test]
fn big_reads_grow_the_buffer() {
    run(async {
        let (mut client, mut server) = pair().await;
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let writer = launch(async move {
            client.write(&data).await.unwrap();
            client.write(b"\n--end--\n").await.unwrap();
            client
        });
        assert_eq!(server.read(150_000).await.unwrap(), &expected[..150_000]);
        let rest = server.read_until(b"--end--\n").await.unwrap();
        assert_eq!(&rest[..50_000], &expected[150_000..]);
        assert_eq!(&rest[50_000..], b"\n--end--\n");
        let _client = writer.await;
    });
}

#[test]
fn read_and_write_timeouts_are_set_apart() {
    run(async {
        // Reads may wait as long as they like; writes may not stall.
        let (_client, mut server) = pair().await;
        server
            .set_read_timeout(None)
            .set_write_timeout(Some(Duration::from_millis(50)));
        assert_eq!(server.read_timeout(), None);
        assert_eq!(server.write_timeout(), Some(Duration::from_millis(50)));
        // The client sends nothing: the read is still waiting when the outer
        // timeout gives up on it, and the connection is untouched.
        let waited = monocle_stack::util::timeout(Duration::from_millis(150), server.read(1)).await;
        assert!(waited.is_err(), "the read ended: {waited:?}");
        assert!(!server.is_closed());
        // The client reads nothing either: the write fills the socket buffers
        // and stalls, and its own timeout ends it.
        let big = vec![b'x'; 64 << 20];
        let lost = server.write(&big).await.unwrap_err();
        assert_eq!(lost.reason(), Reason::TimedOut(Duration::from_millis(50)));
        assert!(server.is_closed());

        // The other way round: a stalled write waits, a quiet peer times out.
        let (_client, mut server) = pair().await;
        server
            .set_read_timeout(Some(Duration::from_millis(50)))
            .set_write_timeout(None);
        let stalled =
            monocle_stack::util::timeout(Duration::from_millis(150), server.write(&big)).await;
        assert!(stalled.is_err(), "the write ended: {stalled:?}");
        assert!(!server.is_closed());
        let lost = server.read(1).await.unwrap_err();
        assert_eq!(lost.reason(), Reason::TimedOut(Duration::from_millis(50)));
    });
}

/// A futures-io read that found nothing and was given up (a peek) leaves
/// its timer running; setting the timeout again starts the next read afresh,
/// however long the connection stayed idle meanwhile.
#[test]
fn setting_the_read_timeout_restarts_the_timer_of_a_read_given_up() {
    let limit = Duration::from_millis(100);
    let setters: [fn(&mut Connection, Option<Duration>); 2] = [
        |c, t| {
            c.set_read_timeout(t);
        },
        |c, t| {
            c.set_timeout(t);
        },
    ];
    for set in setters {
        run(async {
            let (mut client, mut server) = pair().await;
            set(&mut server, Some(limit));
            let mut buf = [0u8; 8];
            let peek = poll_once(AsyncReadExt::read(&mut server, &mut buf)).await;
            assert!(peek.is_none(), "the peek found {peek:?}");
            // Idle for longer than the timeout: the scenario, not a wait
            // for something to settle.
            sleep(limit + Duration::from_millis(50)).await;
            set(&mut server, Some(limit));
            let writer = launch(async move {
                sleep(Duration::from_millis(20)).await;
                client.write(b"late").await.unwrap();
                client
            });
            let n = AsyncReadExt::read(&mut server, &mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"late");
            let _client = writer.await;
        });
    }
}

/// A read of ours given up while it waited, with bytes it took still
/// buffered, leaves its timer running; a futures-io read that returns those
/// bytes ends it, so the next read gets a timer of its own.
#[test]
fn a_read_served_from_the_buffer_drops_the_timer_of_a_read_given_up() {
    let limit = Duration::from_millis(100);
    run(async {
        let (mut client, mut server) = pair().await;
        server.set_read_timeout(Some(limit));
        client.write(b"no end of line").await.unwrap();
        // It reads the bytes, then waits for the rest of the line.
        assert!(poll_once(server.readline()).await.is_none());
        assert_eq!(server.buffered(), b"no end of line");
        sleep(limit + Duration::from_millis(50)).await;
        let mut buf = [0u8; 64];
        let n = AsyncReadExt::read(&mut server, &mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"no end of line");
        let writer = launch(async move {
            sleep(Duration::from_millis(20)).await;
            client.write(b"late").await.unwrap();
            client
        });
        let n = AsyncReadExt::read(&mut server, &mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"late");
        let _client = writer.await;
    });
}

/// The same for a futures-io write that had to wait and was given up.
#[test]
fn setting_the_write_timeout_restarts_the_timer_of_a_write_given_up() {
    let limit = Duration::from_millis(100);
    let setters: [fn(&mut Connection, Option<Duration>); 2] = [
        |c, t| {
            c.set_write_timeout(t);
        },
        |c, t| {
            c.set_timeout(t);
        },
    ];
    for set in setters {
        run(async {
            let (mut client, mut server) = pair().await;
            set(&mut server, Some(limit));
            // The client reads nothing yet: the socket buffers fill, and a
            // write has to wait.
            let chunk = vec![b'x'; 256 << 10];
            let mut sent = 0;
            loop {
                match poll_once(AsyncWriteExt::write(&mut server, &chunk)).await {
                    Some(Ok(n)) => sent += n,
                    Some(Err(e)) => panic!("{e}"),
                    None => break,
                }
            }
            sleep(limit + Duration::from_millis(50)).await;
            set(&mut server, Some(limit));
            // Now the client reads all of it, and the write can go on.
            let total = sent + chunk.len();
            let reader = launch(async move {
                let mut got = 0;
                while got < total {
                    got += client.read_some().await.unwrap().len();
                }
                client
            });
            AsyncWriteExt::write_all(&mut server, &chunk).await.unwrap();
            let _client = reader.await;
        });
    }
}

#[test]
fn read_times_out_and_closes() {
    run(async {
        let (_client, mut server) = pair().await;
        server.set_timeout(Some(Duration::from_millis(50)));
        assert_eq!(server.timeout(), Some(Duration::from_millis(50)));
        let lost = server.read(10).await.unwrap_err();
        assert_eq!(lost.reason(), Reason::TimedOut(Duration::from_millis(50)));
        assert!(lost.is_timeout());
        let peer = server.peer_addr();
        assert_eq!(
            lost.to_string(),
            format!("connection to {peer} timed out after 50 ms")
        );
        assert!(server.is_closed());
        let again = server.read_some().await.unwrap_err();
        assert_eq!(again.reason(), Reason::Closed);
    });
}

/// A write that times out closes the whole connection, reads included: the
/// timeout is our verdict on the peer, unlike a write the kernel failed.
#[test]
fn write_times_out_and_closes() {
    run(async {
        let (mut client, _server) = pair().await;
        client.set_timeout(Some(Duration::from_millis(50)));
        // The peer reads nothing: the socket buffers fill, then a write waits.
        let chunk = vec![b'x'; 256 << 10];
        let lost = loop {
            if let Err(lost) = client.write(&chunk).await {
                break lost;
            }
        };
        assert_eq!(lost.reason(), Reason::TimedOut(Duration::from_millis(50)));
        assert!(client.is_closed());
        let read = client.read_some().await.unwrap_err();
        assert_eq!(read.reason(), Reason::Closed);
    });
}

#[test]
fn read_some_and_readline_time_out() {
    run(async {
        let (_client, mut server) = pair().await;
        server.set_timeout(Some(Duration::from_millis(30)));
        let lost = server.read_some().await.unwrap_err();
        assert!(matches!(lost.reason(), Reason::TimedOut(_)));

        let (mut client, _server) = pair().await;
        client.set_timeout(Some(Duration::from_millis(30)));
        client.write(b"no newline").await.unwrap();
        let lost = client.readline().await.unwrap_err();
        assert!(lost.is_timeout());
        // Converted into io::Error and back, it is still the same ConnectionLost.
        let io: std::io::Error = lost.into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        let back = ConnectionLost::try_from(io).unwrap();
        assert!(back.is_timeout());
    });
}

#[test]
fn timeout_leaves_prompt_reads_alone() {
    run(async {
        let (mut client, mut server) = pair().await;
        server.set_timeout(Some(Duration::from_millis(100)));
        for i in 0..20 {
            sleep(Duration::from_millis(10)).await;
            client.write(format!("{i}\n").as_bytes()).await.unwrap();
            let line = server.readline().await.unwrap();
            assert_eq!(line, format!("{i}\n").as_bytes());
        }
        // 200 ms in all, yet no single read waited 100 ms.
        assert!(!server.is_closed());
    });
}

#[test]
fn peer_closing_mid_read_is_connection_lost() {
    run(async {
        let (mut client, mut server) = pair().await;
        launch(async move {
            client.write(b"partial").await.unwrap();
            sleep(Duration::from_millis(5)).await;
            client.close();
        })
        .detach();
        let lost = server.read(100).await.unwrap_err();
        assert_eq!(lost.reason(), Reason::ClosedByPeer);
        assert!(
            lost.to_string().ends_with("was closed by the peer"),
            "{lost}"
        );
        assert_eq!(server.buffered(), b"partial");
        assert!(server.is_closed());
    });
}

#[test]
fn peer_resetting_is_connection_lost() {
    run(async {
        let (mut client, mut server) = pair().await;
        // Unread data in the closing socket makes the kernel send a reset.
        server.write(b"unread").await.unwrap();
        while client.buffered().is_empty() {
            client.fill().await.unwrap();
        }
        client.write(b"never read").await.unwrap();
        drop(server);
        let lost = client.read(100).await.unwrap_err();
        assert_eq!(lost.reason(), Reason::Reset, "{lost}");
        assert_eq!(lost.kind(), std::io::ErrorKind::ConnectionReset);
    });
}

#[test]
fn write_to_closed_peer_fails() {
    run(async {
        let (mut client, server) = pair().await;
        drop(server);
        let chunk = vec![7u8; 64 * 1024];
        let mut err = None;
        for _ in 0..1000 {
            if let Err(e) = client.write(&chunk).await {
                err = Some(e);
                break;
            }
            sleep(Duration::from_millis(1)).await;
        }
        let lost = err.expect("writes to a closed peer kept succeeding");
        assert_eq!(lost.reason(), Reason::Reset, "{lost}");
        // Only the sending side is gone; reading finds the peer's close (its
        // end of stream came before the reset our bytes drew).
        assert!(client.is_write_failed());
        assert!(!client.is_closed());
        let end = client.read_some().await.unwrap_err();
        assert_eq!(end.reason(), Reason::ClosedByPeer, "{end}");
        assert!(client.is_closed());
    });
}

/// A connected pair on loopback whose server side is a blocking std socket
/// (with a read timeout that fails the test), for a peer scripted byte by byte.
async fn pair_with_std_peer() -> (Connection, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = connect("127.0.0.1", port).await.unwrap();
    let (peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (client, peer)
}

/// The peer answers, then closes with our bytes unread: its kernel resets the
/// connection (at once, or at our next segment if it had closed its sending
/// side first). Our writes fail; what it sent before is still read, then the
/// end; and every later write fails at once with the same error.
///
/// The end differs. A peer that reset the connection sent no end of its
/// stream (the reset drops what it had not sent yet): the end is
/// [`Reason::Reset`], though the socket gives a plain end of stream once the
/// failed write took the reset error. A peer that closed its sending side
/// first ended its stream before it reset: its end is [`Reason::ClosedByPeer`].
fn peer_answers_then_resets(half_close_first: bool) {
    use std::io::Write as _;
    run(async {
        let (mut conn, mut peer) = pair_with_std_peer().await;
        conn.write(b"a request the peer never reads").await.unwrap();
        // Wait (blocking, bounded by the read timeout) until the bytes are
        // in the peer's socket, unread.
        let mut first = [0u8; 1];
        assert_eq!(peer.peek(&mut first).unwrap(), 1);
        peer.write_all(b"the answer\nand more").unwrap();
        if half_close_first {
            peer.shutdown(std::net::Shutdown::Write).unwrap();
        }
        drop(peer);

        // Nothing is read before a write fails.
        let chunk = vec![b'x'; 1024];
        let lost = loop {
            if let Err(lost) = conn.write(&chunk).await {
                break lost;
            }
        };
        assert_eq!(lost.reason(), Reason::Reset, "{lost}");
        assert!(conn.is_write_failed());
        assert!(!conn.is_closed());

        // Later writes fail at once, with the same reason and kind.
        let again = poll_once(conn.write(b"more"))
            .await
            .expect("a write after a failed one waited");
        let again = again.unwrap_err();
        assert_eq!(again.reason(), lost.reason());
        assert_eq!(again.kind(), lost.kind());
        conn.buffer(b"queued");
        let flushed = conn.flush().await.unwrap_err();
        assert_eq!(flushed.reason(), Reason::Reset);

        // What the peer sent is all there, then its end.
        assert_eq!(conn.readline().await.unwrap(), b"the answer\n");
        assert_eq!(conn.read(8).await.unwrap(), b"and more");
        let end = conn.read_some().await.unwrap_err();
        let expected = if half_close_first {
            Reason::ClosedByPeer
        } else {
            Reason::Reset
        };
        assert_eq!(end.reason(), expected, "{end}");
        assert!(conn.is_closed());
        let closed = conn.write(b"x").await.unwrap_err();
        assert_eq!(closed.reason(), Reason::Closed);
    });
}

#[test]
fn what_the_peer_sent_is_read_after_a_write_fails() {
    peer_answers_then_resets(false);
}

#[test]
fn what_the_peer_sent_before_closing_its_side_is_read_after_a_write_fails() {
    peer_answers_then_resets(true);
}

/// The same through futures-io's traits: the failed write is an `io::Error`,
/// and reading gives the answer, then the reset (`ConnectionReset`), not the
/// `Ok(0)` of a stream that ended; or `Ok(0)` if the peer had ended its
/// stream before it reset.
#[test]
fn async_read_after_a_failed_async_write_gets_what_the_peer_sent() {
    async_read_after_a_failed_async_write(false);
}

#[test]
fn async_read_after_a_failed_async_write_ends_as_the_half_closed_peer_did() {
    async_read_after_a_failed_async_write(true);
}

fn async_read_after_a_failed_async_write(half_close_first: bool) {
    use std::io::Write as _;
    run(async {
        let (mut conn, mut peer) = pair_with_std_peer().await;
        conn.write_all(b"unread").await.unwrap();
        let mut first = [0u8; 1];
        assert_eq!(peer.peek(&mut first).unwrap(), 1);
        peer.write_all(b"answer").unwrap();
        if half_close_first {
            peer.shutdown(std::net::Shutdown::Write).unwrap();
        }
        drop(peer);
        let chunk = vec![b'x'; 1024];
        let err = loop {
            if let Err(e) = conn.write_all(&chunk).await {
                break e;
            }
        };
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
        let again = AsyncWriteExt::write(&mut conn, b"x").await.unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::ConnectionReset);
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        let end = loop {
            match AsyncReadExt::read(&mut conn, &mut buf).await {
                Ok(0) => break None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break Some(e.kind()),
            }
        };
        assert_eq!(got, b"answer");
        let expected = (!half_close_first).then_some(std::io::ErrorKind::ConnectionReset);
        assert_eq!(end, expected);
    });
}

/// A connection whose write failed because the peer reset it after sending
/// `b"answer"`, which is still unread.
async fn answered_then_reset() -> Connection {
    use std::io::Write as _;
    let (mut conn, mut peer) = pair_with_std_peer().await;
    conn.write(b"unread").await.unwrap();
    let mut first = [0u8; 1];
    assert_eq!(peer.peek(&mut first).unwrap(), 1);
    peer.write_all(b"answer").unwrap();
    drop(peer);
    let lost = loop {
        if let Err(lost) = conn.write(b"more").await {
            break lost;
        }
    };
    assert_eq!(lost.reason(), Reason::Reset, "{lost}");
    conn
}

/// Every kind of read gives what the peer sent before it reset, then
/// [`Reason::Reset`] (`ConnectionReset` through futures-io), never the end
/// of a stream the peer closed.
#[test]
fn every_read_ends_with_the_reset_after_a_failed_write() {
    run(async {
        let mut conn = answered_then_reset().await;
        let short = conn.read(100).await.unwrap_err();
        assert_eq!(short.reason(), Reason::Reset, "{short}");
        assert_eq!(conn.buffered(), b"answer");

        let mut conn = answered_then_reset().await;
        let line = conn.readline().await.unwrap_err();
        assert_eq!(line.reason(), Reason::Reset, "{line}");

        let mut conn = answered_then_reset().await;
        assert_eq!(conn.fill().await.unwrap(), b"answer");
        let filled = conn.fill().await.unwrap_err();
        assert_eq!(filled.reason(), Reason::Reset, "{filled}");

        let mut conn = answered_then_reset().await;
        let mut buf = [0u8; 100];
        assert_eq!(conn.read_into(&mut buf).await.unwrap(), 6);
        let into = conn.read_into(&mut buf).await.unwrap_err();
        assert_eq!(into.reason(), Reason::Reset, "{into}");

        let mut conn = answered_then_reset().await;
        let exact = conn.read_exact_into(&mut buf).await.unwrap_err();
        assert_eq!(exact.reason(), Reason::Reset, "{exact}");

        let mut conn = answered_then_reset().await;
        assert_eq!(conn.fill_buf().await.unwrap(), b"answer");
        futures_lite::io::AsyncBufRead::consume(std::pin::Pin::new(&mut conn), 6);
        let buffered = conn.fill_buf().await.unwrap_err();
        assert_eq!(buffered.kind(), std::io::ErrorKind::ConnectionReset);
        assert!(conn.is_closed());
    });
}

/// A closed connection refuses writes, while reads still return what was
/// buffered; past it, a read fails as closed, or as closed by the peer if
/// its end of stream had been read (futures-io's `Ok(0)` then).
#[test]
fn a_closed_connection_still_gives_what_it_buffered() {
    run(async {
        let (mut client, mut server) = pair().await;
        client.write(b"one\ntwo\n").await.unwrap();
        while server.buffered().len() < 8 {
            server.fill().await.unwrap();
        }
        server.close();
        assert!(server.is_closed());
        // Closed on our side: writes fail at once, and this says so.
        assert!(server.is_write_failed());
        let write = server.write(b"x").await.unwrap_err();
        assert_eq!(write.reason(), Reason::Closed);
        assert_eq!(server.readline().await.unwrap(), b"one\n");
        assert_eq!(server.read_some().await.unwrap(), b"two\n");
        let past = server.read_some().await.unwrap_err();
        assert_eq!(past.reason(), Reason::Closed);
        let mut buf = [0u8; 8];
        let io = AsyncReadExt::read(&mut server, &mut buf).await.unwrap_err();
        assert_eq!(io.kind(), std::io::ErrorKind::NotConnected);

        let (mut client, mut server) = pair().await;
        client.write(b"last").await.unwrap();
        client.close();
        let short = server.read(5).await.unwrap_err();
        assert_eq!(short.reason(), Reason::ClosedByPeer);
        assert!(server.is_closed());
        assert_eq!(server.read(4).await.unwrap(), b"last");
        let past = server.read_some().await.unwrap_err();
        assert_eq!(past.reason(), Reason::ClosedByPeer);
        assert_eq!(AsyncReadExt::read(&mut server, &mut buf).await.unwrap(), 0);
    });
}

/// A read that fails still closes everything, as before.
#[test]
fn a_failed_read_closes_both_sides() {
    run(async {
        let (mut conn, peer) = pair_with_std_peer().await;
        conn.write(b"unread").await.unwrap();
        let mut first = [0u8; 1];
        assert_eq!(peer.peek(&mut first).unwrap(), 1);
        // Linger 0: closing sends a reset.
        socket2::SockRef::from(&peer)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(peer);
        let lost = conn.read_some().await.unwrap_err();
        assert_eq!(lost.reason(), Reason::Reset, "{lost}");
        assert!(conn.is_closed());
        assert!(conn.is_write_failed());
        let write = conn.write(b"x").await.unwrap_err();
        assert_eq!(write.reason(), Reason::Closed);
    });
}

#[test]
fn connection_refused_names_the_address() {
    run(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = connect("127.0.0.1", addr.port()).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(
            matches!(&err, Error::Connect { addr: a, earlier, .. } if *a == addr && earlier.is_empty())
        );
        assert!(
            err.to_string()
                .starts_with(&format!("cannot connect to {addr}: ")),
            "{err}"
        );
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn connects_by_name() {
    run(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let conn = Client::new()
            .timeout(Some(Duration::from_secs(5)))
            .connect("localhost", port)
            .await
            .unwrap();
        assert_eq!(conn.peer_addr().port(), port);
        assert!(conn.peer_addr().ip().is_loopback());
        let err = connect("no-such-host.invalid", port).await.unwrap_err();
        assert!(matches!(err, Error::Resolve { .. }), "{err}");
    });
}

#[test]
fn connect_times_out() {
    run(async {
        // A listener whose accept queue is full drops further SYNs, so a connect
        // to it hangs until the timeout.
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
        socket.listen(0).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        let client = Client::new().timeout(Some(Duration::from_millis(100)));
        let mut kept = Vec::new();
        let lost = loop {
            match client.connect("127.0.0.1", addr.port()).await {
                Ok(conn) => kept.push(conn),
                Err(Error::ConnectionLost(lost)) => break lost,
                Err(e) => panic!("unexpected: {e}"),
            }
            assert!(kept.len() < 50, "the accept queue never filled");
        };
        assert!(lost.is_timeout());
        assert_eq!(
            lost.to_string(),
            format!("connection to {addr} timed out after 100 ms")
        );
    });
}

#[test]
fn buffered_writes_go_out_on_flush() {
    run(async {
        let (mut client, mut server) = pair().await;
        client.buffer(b"HTTP/1.1 200 OK\r\n");
        client.buffer(b"\r\n");
        client.write(b"body").await.unwrap();
        assert_eq!(
            server.read(23).await.unwrap(),
            b"HTTP/1.1 200 OK\r\n\r\nbody"
        );
        client.buffer(b"more");
        client.flush().await.unwrap();
        assert_eq!(server.read(4).await.unwrap(), b"more");
    });
}

#[test]
fn futures_io_traits() {
    run(async {
        let (mut client, mut server) = pair().await;
        client.write_all(b"first line\nsecond").await.unwrap();
        client.flush().await.unwrap();
        AsyncWriteExt::close(&mut client).await.unwrap();
        let mut line = String::new();
        server.read_line(&mut line).await.unwrap();
        assert_eq!(line, "first line\n");
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"second");
        // Half-closed: the server can still answer.
        server.write_all(b"bye").await.unwrap();
        let mut got = [0u8; 3];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"bye");
    });
}

#[test]
fn read_until_stops_at_max_buffer() {
    run(async {
        let (mut client, mut server) = pair().await;
        assert_eq!(server.max_buffer(), 1024 * 1024);
        server.set_max_buffer(64);
        // A line of exactly the limit, delimiter included, is fine; so is one whose
        // delimiter arrives in a later read.
        let exact = [&[b'a'; 63][..], b"\n"].concat();
        client.write(&exact).await.unwrap();
        assert_eq!(server.readline().await.unwrap(), &exact[..]);
        client.write(&[b'b'; 40]).await.unwrap();
        let writer = launch(async move {
            sleep(Duration::from_millis(10)).await;
            client
                .write(&[&[b'b'; 10][..], b"\r\n"].concat())
                .await
                .unwrap();
            client
        });
        assert_eq!(server.read_until(b"\r\n").await.unwrap().len(), 52);
        let mut client = writer.await;

        // One byte more fails, whether the delimiter is already buffered or not.
        let long = [&[b'c'; 64][..], b"\n"].concat();
        client.write(&long).await.unwrap();
        while server.buffered().len() < long.len() {
            server.fill().await.unwrap();
        }
        let lost = server.readline().await.unwrap_err();
        assert_eq!(lost.reason(), Reason::TooLong(64));
        assert_eq!(lost.kind(), std::io::ErrorKind::InvalidData);
        assert!(
            lost.to_string()
                .ends_with(": line exceeded 64 bytes without its delimiter"),
            "{lost}"
        );
        assert!(server.is_closed());
        assert_eq!(server.buffered(), &long[..]);
    });
}

#[test]
fn endless_line_fails_instead_of_growing() {
    run(async {
        let (mut client, mut server) = pair().await;
        server.set_max_buffer(100_000);
        // The peer streams bytes and never the delimiter.
        let writer = launch(async move {
            let chunk = [b'x'; 4096];
            while client.write(&chunk).await.is_ok() {}
        });
        let lost = server.read_until(b"\r\n\r\n").await.unwrap_err();
        assert_eq!(lost.reason(), Reason::TooLong(100_000));
        let io: std::io::Error = lost.into();
        assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);
        // Closing the server side ends the writer with a reset.
        let buffered = server.buffered().len();
        assert!((100_000..=300_000).contains(&buffered), "{buffered}");
        drop(server);
        writer.await;
    });
}

#[test]
fn refused_connect_by_name_lists_every_attempt() {
    run(async {
        use std::net::ToSocketAddrs;
        // Nothing listens on port 1 (privileged, unassigned).
        let resolved: Vec<std::net::SocketAddr> =
            ("localhost", 1).to_socket_addrs().unwrap().collect();
        assert!(!resolved.is_empty());
        let err = connect("localhost", 1).await.unwrap_err();
        let msg = err.to_string();
        let Error::Connect {
            target,
            addr,
            earlier,
            ..
        } = &err
        else {
            panic!("not a connect error: {err}")
        };
        assert_eq!(target, "localhost:1");
        // Every address was tried, in the order the resolver gave them.
        let tried: Vec<_> = earlier.iter().map(|(a, _)| *a).chain([*addr]).collect();
        assert_eq!(tried, resolved, "{msg}");
        assert!(
            msg.starts_with("cannot connect to localhost:1 (tried "),
            "{msg}"
        );
        assert!(msg.ends_with(')'), "{msg}");
        let mut rest = &msg["cannot connect to localhost:1 (tried ".len()..];
        for a in &resolved {
            let at = rest
                .find(&format!("{a}: "))
                .unwrap_or_else(|| panic!("{a} missing: {msg}"));
            rest = &rest[at..];
        }
        assert_eq!(msg.matches("; ").count(), resolved.len() - 1, "{msg}");
        if resolved.iter().any(|a| a.is_ipv4()) {
            assert!(msg.contains("127.0.0.1:1: "), "{msg}");
        }
    });
}
