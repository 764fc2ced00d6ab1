//! What the client says when a response cannot be read or a URL cannot be
//! sent: the words name the client's side (a response head, not a
//! request's), the kind and the advice are the ones to act on (no limit to
//! raise for a length that cannot be read), and a URL the url crate would
//! quietly change is refused before anything goes out. Each case runs against a raw server on loopback that sends
//! exact bytes.

mod common;

use std::io;
use std::time::Duration;

use common::{exchange_until_close, replying_server, start};
use monocle_http::{HttpClient, HttpRequest, HttpServer};
use monocle_stack::block_on;

/// How long the raw server waits for bytes that should come at once, and
/// the client's timeout.
const WAIT: Duration = Duration::from_secs(10);

/// The first line of each request head the raw server read.
fn request_lines(heads: Vec<String>) -> Vec<String> {
    heads
        .iter()
        .map(|head| head.lines().next().unwrap_or_default().to_owned())
        .collect()
}

fn client() -> HttpClient {
    let mut client = HttpClient::new();
    client.set_timeout(Some(WAIT));
    client
}

/// The error of a `GET /` that the raw server on `port` answers.
fn get_err(port: u16) -> io::Error {
    block_on(async move { client().get(&format!("http://127.0.0.1:{port}/")).await }).unwrap_err()
}

/// A response head of `len` bytes or a little more: a status line and one
/// long header field.
fn long_head(len: usize) -> Vec<u8> {
    let mut head = b"HTTP/1.1 200 OK\r\nX-Long: ".to_vec();
    head.resize(len, b'a');
    head.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
    head
}

#[test]
fn a_response_head_over_the_limit_is_called_a_response_head() {
    let (port, server) = replying_server(vec![long_head(70_000)]);
    let err = get_err(port);
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("response head longer than 65536 bytes"),
        "{msg}"
    );
    assert!(msg.contains("HttpClient::limits_mut().max_head"), "{msg}");
    assert!(!msg.contains("request head"), "{msg}");
    assert_eq!(request_lines(server.join().unwrap()), ["GET / HTTP/1.1"]);
}

#[test]
fn a_response_head_over_a_lowered_limit_names_that_limit_through_a_reader() {
    let (port, server) = replying_server(vec![long_head(2000)]);
    let err = block_on(async move {
        let mut client = client();
        client.limits_mut().max_head(1024);
        client
            .get_reader(&format!("http://127.0.0.1:{port}/"))
            .await
            .map(|reader| reader.code())
    })
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    assert!(
        err.to_string()
            .contains("response head longer than 1024 bytes"),
        "{err}"
    );
    server.join().unwrap();
}

/// The server side of the same error still speaks of the request's head, in
/// the body of its 431.
#[test]
fn the_server_still_calls_it_a_request_head() {
    let server = start(|| HttpServer::new(0, |_req: HttpRequest| async { "unreached" }));
    let mut request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: ".to_vec();
    request.resize(70_000, b'a');
    request.extend_from_slice(b"\r\n\r\n");
    let answer = exchange_until_close(server.port, &request);
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    assert!(
        answer.contains("request head longer than 65536 bytes"),
        "{answer}"
    );
}

/// A `Content-Length` too large for a `u64` is no body limit the caller
/// could raise: it is a length the client cannot read.
#[test]
fn a_content_length_past_u64_is_invalid_not_over_a_limit() {
    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nabc".to_vec();
    let (port, server) = replying_server(vec![reply]);
    let err = get_err(port);
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("content-length"), "{msg}");
    assert!(msg.contains("too large to read"), "{msg}");
    assert!(!msg.contains("max_body"), "{msg}");
    assert!(!msg.contains("raise it"), "{msg}");
    server.join().unwrap();
}

/// A reader is refused the same way, on a connection of its own.
#[test]
fn a_content_length_past_u64_fails_a_reader_the_same_way() {
    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n".to_vec();
    let (port, server) = replying_server(vec![reply]);
    let err = block_on(async move {
        let mut client = client();
        client
            .get_reader(&format!("http://127.0.0.1:{port}/"))
            .await
            .map(|reader| reader.code())
    })
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    assert!(err.to_string().contains("too large to read"), "{err}");
    assert!(!err.to_string().contains("max_"), "{err}");
    server.join().unwrap();
}

/// CR, LF and TAB in a full URL are refused as they are in a path, before
/// anything is sent, rather than dropped by the url crate (which would
/// send `/p\r\nX-Inj: 2` as `/pX-Inj:%202`); the connection stays usable.
#[test]
fn a_url_with_cr_lf_or_tab_is_refused_like_a_path() {
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let (port, server) = replying_server(vec![OK.to_vec(), OK.to_vec()]);
    block_on(async move {
        let mut client = client();
        let base = format!("http://127.0.0.1:{port}");
        assert_eq!(client.get(&format!("{base}/first")).await?.text(), "ok");
        for (path, byte, what) in [
            ("/p\r\nX-Inj: 2", 2, "carriage return (CR)"),
            ("/p\nX-Inj: 2", 2, "line feed (LF)"),
            ("/p\tq", 2, "tab"),
            ("/p?q=\r\n", 5, "carriage return (CR)"),
            ("/p\n", 2, "line feed (LF)"),
        ] {
            let url = format!("{base}{path}");
            let err = client.get(&url).await.expect_err(&url);
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{url:?}: {err}");
            let at = base.len() + byte;
            let msg = err.to_string();
            assert!(msg.contains(what), "{url:?}: {msg}");
            assert!(msg.contains(&format!("at byte {at}")), "{url:?}: {msg}");
            assert!(msg.contains("percent-encode"), "{url:?}: {msg}");
            assert!(client.is_connected(), "{url:?}");
            // The path-only form of the same target is refused alike.
            let err = client.get(path).await.expect_err(path);
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{path:?}: {err}");
            assert!(err.to_string().contains(what), "{path:?}: {err}");
        }
        // A control byte in the host is refused too, rather than dropped.
        let err = client
            .get(&format!("http://127.0.0.\t1:{port}/x"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert_eq!(client.get(&format!("{base}/last")).await?.text(), "ok");
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
    assert_eq!(
        request_lines(server.join().unwrap()),
        ["GET /first HTTP/1.1", "GET /last HTTP/1.1"]
    );
}
