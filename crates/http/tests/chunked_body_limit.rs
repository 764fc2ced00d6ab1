//! A chunked body held to the body limit its reader is given, at exactly
//! the boundary, over loopback: a server's streaming handler to
//! `max_streamed_body`, a client's `ResponseReader` to `max_streamed_body`
//! and its `request` to `max_body`. `limit` bytes pass; one more is refused
//! with the error naming that limit, while the other limit, set far lower,
//! plays no part.

mod common;

use std::io;

use common::{exchange_until_close, start};
use futures_lite::{stream, AsyncReadExt};
use monocle_http::{Handler, HttpClient, HttpRequest, HttpResponse, HttpServer, RequestBody};
use monocle_stack::block_on;

/// The body limit under test.
const LIMIT: usize = 1000;

/// The other body limit, far lower: were it the one applied, every body
/// here would be refused.
const OTHER: u64 = 10;

/// A request (or response) body of `len` bytes, as two chunks: 600 bytes,
/// then the rest.
fn pieces(len: usize) -> [Vec<u8>; 2] {
    [vec![b'a'; 600], vec![b'b'; len - 600]]
}

/// A request with a chunked body of `len` bytes in two chunks to a
/// streaming handler: a body of `LIMIT` bytes is read whole, one of
/// `LIMIT + 1` fails the handler's read as the second chunk's size comes,
/// and the server answers 413 naming `max_streamed_body`.
#[test]
fn a_streaming_handler_reads_a_chunked_body_of_the_limit_and_not_one_byte_more() {
    let srv = start(|| {
        let mut server = HttpServer::new(0, |_req: HttpRequest| async { 404 });
        server.post(
            "/count",
            Handler::streaming(async |_req: HttpRequest, mut body: RequestBody| {
                let mut n = 0;
                loop {
                    match body.next_chunk().await {
                        Ok(Some(chunk)) => n += chunk.len(),
                        Ok(None) => return format!("read {n}"),
                        Err(e) => return format!("failed after {n}: {:?}", e.kind()),
                    }
                }
            }),
        );
        let mut config = server.config();
        config
            .limits_mut()
            .max_streamed_body(LIMIT as u64)
            .max_body(OTHER);
        server.set_config(config);
        server
    });
    for len in [LIMIT, LIMIT + 1] {
        let mut request = b"POST /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
            Transfer-Encoding: chunked\r\n\r\n"
            .to_vec();
        for piece in pieces(len) {
            monocle_http::encode_chunk(&piece, &mut request);
        }
        request.extend_from_slice(monocle_http::LAST_CHUNK);
        let out = exchange_until_close(srv.port, &request);
        if len == LIMIT {
            assert!(out.starts_with("HTTP/1.1 200 "), "{len}: {out}");
            assert!(out.ends_with("read 1000"), "{len}: {out}");
        } else {
            assert!(out.starts_with("HTTP/1.1 413 "), "{len}: {out}");
            assert!(
                out.contains(
                    "streamed body longer than 1000 bytes; raise it with \
                     Limits::max_streamed_body"
                ),
                "{len}: {out}"
            );
        }
    }
}

/// A server whose `/body/:len` answers a chunked body of `len` bytes, in
/// two chunks.
fn chunked_answers() -> HttpServer {
    let mut server = HttpServer::new(0, |_req: HttpRequest| async { 404 });
    server.get("/body/:len", |req: HttpRequest| async move {
        let len = req.param("len").unwrap().parse().unwrap();
        HttpResponse::new(200).with_stream(stream::iter(pieces(len).map(Ok)))
    });
    server
}

/// A client's reader holds a chunked body to `max_streamed_body`, its
/// `request` to `max_body`: at the limit the body is read, one byte past
/// it the read fails with `InvalidData` naming the setter.
#[test]
fn a_client_reads_a_chunked_body_of_the_limit_and_not_one_byte_more() {
    let srv = start(chunked_answers);
    let port = srv.port;
    block_on(async move {
        for len in [LIMIT, LIMIT + 1] {
            let url = format!("http://127.0.0.1:{port}/body/{len}");
            // Read piece by piece.
            let mut client = HttpClient::new();
            client
                .limits_mut()
                .max_streamed_body(LIMIT as u64)
                .max_body(OTHER);
            let mut reader = client.get_reader(&url).await?;
            let mut body = Vec::new();
            let streamed = reader.read_to_end(&mut body).await;
            drop(reader);
            // Read whole.
            client
                .limits_mut()
                .max_body(LIMIT as u64)
                .max_streamed_body(OTHER);
            let whole = client.get(&url).await;
            if len == LIMIT {
                assert_eq!(streamed?, LIMIT);
                assert_eq!(body, pieces(LIMIT).concat());
                assert_eq!(whole?.body().as_bytes(), Some(&pieces(LIMIT).concat()[..]));
                continue;
            }
            assert!(body.len() <= 600, "{}", body.len());
            for (result, setter) in [
                (streamed.map(drop), "max_streamed_body"),
                (whole.map(drop), "max_body"),
            ] {
                let err = result.expect_err(setter);
                assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
                let want = format!(
                    "GET http://127.0.0.1:{port}/body/1001: response body larger than 1000 \
                     bytes; raise it with HttpClient::limits_mut().{setter}"
                );
                assert_eq!(err.to_string(), want);
            }
        }
        io::Result::Ok(())
    })
    .unwrap();
}
