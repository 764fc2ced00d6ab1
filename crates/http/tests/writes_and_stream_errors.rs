//! How the server writes: pipelined responses batched into one write (counted
//! on the transport), a response stream failing part-way, and a response
//! stream whose client goes away while it waits for its next piece.

mod common;

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use common::{raw, read_response, start};
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{stream, StreamExt};
use monocle_core::{Callback, Channel};
use monocle_http::{HttpClient, HttpRequest, HttpResponse, HttpServer};
use monocle_network::{add_service, Connection, Service};
use monocle_stack::util::timeout;
use monocle_stack::Loops;

/// A transport that records the size of every write the server makes.
struct CountingWrites {
    inner: Connection,
    writes: Arc<Mutex<Vec<usize>>>,
}

impl CountingWrites {
    fn record(&self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = polled {
            if n > 0 {
                self.writes.lock().unwrap().push(n);
            }
        }
        polled
    }
}

impl AsyncRead for CountingWrites {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingWrites {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.record(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.record(polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[test]
fn pipelined_responses_go_out_in_one_write() {
    let writes = Arc::new(Mutex::new(Vec::new()));
    let loops = Loops::start(1).unwrap();
    let port = {
        let writes = writes.clone();
        monocle_stack::block_on(loops.handle(0).spawn(move || async move {
            let server = HttpServer::new(0, |req: HttpRequest| async move {
                format!("answer to {}", req.path())
            });
            let service = Service::new(
                move |conn: Connection| {
                    let server = server.clone();
                    let writes = writes.clone();
                    async move {
                        let peer = Some(conn.peer_addr());
                        let io = CountingWrites {
                            inner: conn,
                            writes,
                        };
                        server.serve_connection(io, peer).await
                    }
                },
                0,
            );
            add_service(service.bind_addr([127, 0, 0, 1]))
                .unwrap()
                .port()
        }))
        .unwrap()
    };

    let mut s = raw(port);
    // Three requests in one write: they arrive together, so the server reads
    // them in one read and has all three answers before it writes any.
    s.write_all(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut total = 0;
    for path in ["/a", "/b", "/c"] {
        let resp = read_response(&mut s, &mut buf);
        assert!(resp.ends_with(&format!("answer to {path}")), "{resp}");
        total += resp.len();
    }
    // A lone last request, then the server closes: its close comes after
    // every write has been recorded, so the count is complete at our EOF.
    s.write_all(b"GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    s.read_to_end(&mut buf).unwrap();
    let last = String::from_utf8_lossy(&buf);
    assert!(last.ends_with("answer to /d"), "{last}");
    assert_eq!(
        *writes.lock().unwrap(),
        vec![total, buf.len()],
        "one write of the three pipelined responses, then one for the lone request"
    );
}

/// A server whose `/broken` streams two pieces, then fails.
fn broken_stream() -> HttpServer {
    HttpServer::new(0, |_req: HttpRequest| async {
        let pieces = stream::iter(vec![
            Ok(b"first piece\n".to_vec()),
            Ok(b"second piece\n".to_vec()),
            Err(io::Error::other("the backend went away")),
            Ok(b"never sent\n".to_vec()),
        ]);
        HttpResponse::new(200).with_stream(pieces)
    })
}

#[test]
fn failing_response_stream_closes_without_the_last_chunk() {
    let srv = start(broken_stream);
    let mut s = raw(srv.port);
    s.write_all(b"GET /broken HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("Transfer-Encoding: chunked\r\n"), "{out}");
    assert!(
        out.ends_with("c\r\nfirst piece\n\r\nd\r\nsecond piece\n\r\n"),
        "the body must stop after the last good chunk, with no last chunk: {out:?}"
    );
    assert!(!out.contains("never sent"), "{out}");
    // The pipelined second request was not answered: the connection closed.
    assert_eq!(out.matches("HTTP/1.1").count(), 1, "{out}");
}

#[test]
fn client_sees_a_failed_response_stream_as_an_error() {
    let srv = start(broken_stream);
    let url = format!("http://127.0.0.1:{}/broken", srv.port);
    let result = monocle_stack::block_on(async move {
        let mut client = HttpClient::new();
        client.get(&url).await
    });
    let err = match result {
        Ok(resp) => panic!("a truncated body was taken as whole: {:?}", resp.text()),
        Err(e) => e,
    };
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    // The two pieces came: the message says so, as a reader's would.
    assert!(
        err.to_string().ends_with(
            "/broken: the server closed the connection before the end of the chunked body \
             (25 bytes read)"
        ),
        "{err}"
    );
}

/// Resolves its callback when dropped.
struct DropSignal(Callback<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.resolve(());
    }
}

/// A server whose `/feed` streams the pieces sent on `feed` until it is
/// closed, and resolves `dropped` when the server lets go of that stream;
/// other paths answer at once.
fn feed_server(feed: Channel<io::Result<Vec<u8>>>, dropped: Callback<()>) -> HttpServer {
    HttpServer::new(0, move |req: HttpRequest| {
        let signal = DropSignal(dropped.clone());
        let pieces = feed.stream().map(move |piece| {
            let _held = &signal;
            piece
        });
        async move {
            match req.path() {
                "/feed" => HttpResponse::new(200).with_stream(pieces),
                path => HttpResponse::new(200).with_body(format!("answer to {path}")),
            }
        }
    })
}

/// Reads from `s` until `buf` holds `want`.
fn read_until_seen(s: &mut std::net::TcpStream, buf: &mut Vec<u8>, want: &[u8]) {
    while common::find(buf, want).is_none() {
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A client that leaves while the stream has nothing to send ends the
/// response: the server drops the stream (whose producer can then see that
/// nobody listens) and closes the connection, rather than holding both until
/// a next piece that may never come.
#[test]
fn a_streamed_response_ends_when_its_client_goes_away() {
    let feed = Channel::new(4);
    let dropped = Callback::new();
    let srv = start({
        let (feed, dropped) = (feed.clone(), dropped.clone());
        move || feed_server(feed, dropped)
    });
    let mut s = raw(srv.port);
    s.write_all(b"GET /feed HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    feed.try_send(Ok(b"first\n".to_vec())).unwrap();
    let mut buf = Vec::new();
    read_until_seen(&mut s, &mut buf, b"6\r\nfirst\n\r\n");
    drop(s);
    // Nothing more is fed: only the client leaving can end the response.
    let let_go = monocle_stack::block_on(timeout(Duration::from_secs(10), dropped.clone()));
    assert!(
        let_go.is_ok(),
        "the server still holds the stream of a client that left"
    );
    assert_eq!(srv.with_server(|s| s.active_connections()), 0);
}

/// A request pipelined behind a streamed response is not mistaken for the
/// client leaving: the stream runs to its end, then the request is answered.
#[test]
fn a_request_pipelined_behind_a_stream_waits_for_it() {
    let feed = Channel::new(4);
    let dropped = Callback::new();
    let srv = start({
        let (feed, dropped) = (feed.clone(), dropped.clone());
        move || feed_server(feed, dropped)
    });
    let mut s = raw(srv.port);
    s.write_all(b"GET /feed HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    feed.try_send(Ok(b"first\n".to_vec())).unwrap();
    let mut buf = Vec::new();
    read_until_seen(&mut s, &mut buf, b"6\r\nfirst\n\r\n");
    s.write_all(b"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    feed.try_send(Ok(b"second\n".to_vec())).unwrap();
    feed.close();
    s.read_to_end(&mut buf).unwrap();
    let out = String::from_utf8_lossy(&buf);
    assert!(
        out.contains("6\r\nfirst\n\r\n7\r\nsecond\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{out:?}"
    );
    assert!(out.ends_with("answer to /next"), "{out:?}");
    assert!(dropped.is_resolved());
}

/// A client that sends one request and whose transport then fails every
/// write with `kind`.
struct FailingWrites {
    request: &'static [u8],
    at: usize,
    kind: io::ErrorKind,
}

impl AsyncRead for FailingWrites {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(self.request.len() - self.at);
        buf[..n].copy_from_slice(&self.request[self.at..self.at + n]);
        self.at += n;
        // Then the client waits for its answer, sending nothing more.
        if n == 0 {
            return Poll::Pending;
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for FailingWrites {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::Error::new(self.kind, "the transport failed")))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// `serve_connection` is an error only when the transport fails, not when
/// the peer goes away (a reset or a broken pipe while answering).
#[test]
fn serve_connection_fails_only_for_errors_other_than_the_peer_leaving() {
    let served = |kind| {
        monocle_stack::block_on(async move {
            let server = HttpServer::new(0, |_req: HttpRequest| async { "hello" });
            let io = FailingWrites {
                request: b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                at: 0,
                kind,
            };
            server.serve_connection(io, None).await
        })
    };
    for gone in [
        io::ErrorKind::ConnectionReset,
        io::ErrorKind::BrokenPipe,
        io::ErrorKind::ConnectionAborted,
    ] {
        assert!(served(gone).is_ok(), "{gone:?}");
    }
    let err = served(io::ErrorKind::PermissionDenied).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
}
