//! A kept-alive connection on which the server did anything while it was
//! idle (sent bytes, such as the 408 it may send before closing, RFC 9110
//! §15.5.9; closed it; reset it) is not reused: the next request, whatever
//! its method, goes out on a new connection, and what came is never taken
//! for its answer.

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use common::find;
use monocle_http::{HttpClient, HttpHeaders};
use monocle_stack::block_on;

/// What the server does on the connection once it is idle.
#[derive(Debug, Clone, Copy)]
enum Idle {
    /// Sends a 408 and closes it.
    Answer408,
    /// Sends a response no request asked for, and keeps it open.
    Stray,
    /// Closes it (FIN).
    Close,
    /// Resets it (RST).
    Reset,
}

/// Reads one request (its body by `Content-Length`); its method and target.
fn read_request(s: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            break end + 4;
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "the client closed before a whole request head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = buf[end..].to_vec();
    body.resize(length, 0);
    s.read_exact(&mut body[buf.len() - end..]).unwrap();
    let mut words = head.split(' ');
    let method = words.next().unwrap().to_owned();
    let target = words.next().unwrap().to_owned();
    (method, target)
}

/// The server: answers the first request on its first connection, then,
/// once the client has read that answer (`answered`), does `idle` on that
/// connection and tells the client over `signal`; then answers the next
/// request on a second connection. Returns the second request's method and
/// target.
fn server(
    idle: Idle,
    listener: TcpListener,
    signal: TcpListener,
    answered: mpsc::Receiver<()>,
) -> (String, String) {
    let (mut signal, _) = signal.accept().unwrap();
    let (mut first, _) = listener.accept().unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    read_request(&mut first);
    first
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
        .unwrap();
    answered.recv().unwrap();
    match idle {
        Idle::Answer408 => first
            .write_all(
                b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\
                  Content-Length: 7\r\n\r\ntimeout",
            )
            .unwrap(),
        Idle::Stray => first
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray")
            .unwrap(),
        Idle::Close => {}
        // Linger 0: closing sends RST.
        Idle::Reset => socket2::SockRef::from(&first)
            .set_linger(Some(Duration::ZERO))
            .unwrap(),
    }
    let kept = match idle {
        Idle::Stray => Some(first),
        _ => {
            drop(first);
            None
        }
    };
    // Loopback delivers what this thread sends in the order it sends it:
    // by the time the client has the signal, what was done on the idle
    // connection has reached its socket.
    signal.write_all(b"!").unwrap();
    let (mut second, _) = listener.accept().unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = read_request(&mut second);
    second
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo")
        .unwrap();
    drop(kept);
    request
}

/// The client makes a request, the server does `idle` on the connection,
/// and the client makes a second request with the same method: it is
/// answered on a new connection.
fn case(idle: Idle, method: &'static str) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let signal = TcpListener::bind("127.0.0.1:0").unwrap();
    let signal_port = signal.local_addr().unwrap().port();
    let (answered_tx, answered_rx) = mpsc::channel();
    let server = std::thread::spawn(move || server(idle, listener, signal, answered_rx));
    let (code, text, connects) = block_on(async move {
        let mut signal = monocle_network::connect("127.0.0.1", signal_port).await?;
        let mut client = HttpClient::new();
        client.set_timeout(Some(Duration::from_secs(10)));
        client.connect("127.0.0.1", port, "http").await?;
        let first = client
            .request("/one", HttpHeaders::new(), method, "1")
            .await?;
        assert_eq!(first.text(), "one");
        assert!(client.is_connected());
        answered_tx.send(()).unwrap();
        assert_eq!(signal.read_some().await?, b"!");
        // A turn of the loop, whose look for events learns what came on
        // the idle connection, as one always has on a connection that was
        // idle for any time.
        futures_lite::future::yield_now().await;
        let second = client
            .request("/two", HttpHeaders::new(), method, "2")
            .await?;
        io::Result::Ok((second.code(), second.text().into_owned(), client.connects()))
    })
    .unwrap();
    assert_eq!((code, text.as_str()), (200, "two"));
    assert_eq!(connects, 2);
    let second = server.join().unwrap();
    assert_eq!(second, (method.to_owned(), "/two".to_owned()));
}

#[test]
fn a_408_sent_while_idle_is_not_the_answer_to_a_get() {
    case(Idle::Answer408, "GET");
}

#[test]
fn a_408_sent_while_idle_is_not_the_answer_to_a_post() {
    case(Idle::Answer408, "POST");
}

#[test]
fn a_stray_response_sent_while_idle_is_not_the_answer_to_a_get() {
    case(Idle::Stray, "GET");
}

#[test]
fn a_stray_response_sent_while_idle_is_not_the_answer_to_a_post() {
    case(Idle::Stray, "POST");
}

#[test]
fn a_get_after_the_server_closed_the_idle_connection_goes_out_on_a_new_one() {
    case(Idle::Close, "GET");
}

#[test]
fn a_post_after_the_server_closed_the_idle_connection_goes_out_on_a_new_one() {
    case(Idle::Close, "POST");
}

#[test]
fn a_get_after_the_server_reset_the_idle_connection_goes_out_on_a_new_one() {
    case(Idle::Reset, "GET");
}

#[test]
fn a_post_after_the_server_reset_the_idle_connection_goes_out_on_a_new_one() {
    case(Idle::Reset, "POST");
}
