//! A request whose future is dropped part way (a timeout around it, a
//! `select`, a task cancelled) must not leave its answer on the connection
//! for the next request to read.

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use common::find;
use futures_lite::future;
use monocle_http::HttpClient;
use monocle_stack::block_on;

/// How long the raw server waits for bytes that should come at once.
const WAIT: Duration = Duration::from_secs(5);

/// The answer to `/slow`; the server sends its first `split` bytes at once
/// and the rest only when the next request comes on the same connection (a
/// slow answer, late by exactly as long as the client waits).
const SLOW: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nslow-body";

/// A raw server answering every request with its target as the body, `/slow`
/// as [`SLOW`] says. It stops after answering `/fast` and returns the
/// targets it read, each with the index of the connection it came on.
fn server(split: usize) -> (u16, JoinHandle<Vec<(usize, String)>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for conn in 0.. {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut buf = Vec::new();
            let mut late: &[u8] = &[];
            while let Some(target) = read_target(&mut s, &mut buf) {
                seen.push((conn, target.clone()));
                // What is left of the slow answer goes out first.
                let _ = s.write_all(std::mem::take(&mut late));
                if target == "/slow" {
                    s.write_all(&SLOW[..split]).unwrap();
                    late = &SLOW[split..];
                    continue;
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{target}",
                    target.len()
                );
                let _ = s.write_all(reply.as_bytes());
                if target == "/fast" {
                    return seen;
                }
            }
        }
        unreachable!()
    });
    (port, thread)
}

/// The target of the next request head (bodies are not expected); `None`
/// when the client closes.
fn read_target(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            return head.split(' ').nth(1).map(str::to_owned);
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// How the `/slow` request is given up on.
#[derive(Debug, Clone, Copy)]
enum Cancel {
    /// `monocle_stack::util::timeout` drops it after 50 ms.
    Timeout,
    /// Polled once (the request goes out), then dropped.
    PollOnce,
}

#[test]
fn a_cancelled_request_does_not_leave_its_answer_to_the_next_one() {
    // Nothing of the answer yet, its head, and its head and part of its body.
    let head_len = find(SLOW, b"\r\n\r\n").unwrap() + 4;
    for split in [0, head_len, head_len + 4] {
        for cancel in [Cancel::Timeout, Cancel::PollOnce] {
            let (port, server) = server(split);
            block_on(async move {
                let mut client = HttpClient::new();
                client.set_timeout(Some(WAIT));
                client.connect("127.0.0.1", port, "http").await?;
                match cancel {
                    Cancel::Timeout => {
                        let slow = monocle_stack::util::timeout(
                            Duration::from_millis(50),
                            client.get("/slow"),
                        )
                        .await;
                        assert!(slow.is_err(), "/slow was answered: {slow:?}");
                    }
                    Cancel::PollOnce => {
                        let mut slow = std::pin::pin!(client.get("/slow"));
                        let polled = future::poll_once(&mut slow).await;
                        assert!(polled.is_none(), "/slow was answered: {polled:?}");
                    }
                }
                assert!(!client.is_connected(), "{cancel:?} {split}");
                let resp = client.get("/fast").await?;
                assert_eq!(
                    (resp.code(), &*resp.text()),
                    (200, "/fast"),
                    "{cancel:?} {split}"
                );
                assert_eq!(client.connects(), 2, "{cancel:?} {split}");
                io::Result::Ok(())
            })
            .unwrap();
            let seen = server.join().unwrap();
            let want = [(0, "/slow".to_owned()), (1, "/fast".to_owned())];
            assert_eq!(seen, want, "{cancel:?} {split}");
        }
    }
}
