//! The hyper peer of `benches/http.sh`: hyper 1.x, HTTP/1.1 only, keep-alive,
//! on tokio's current-thread runtime (one thread, like monocle's loop), serving
//! `200 OK`, `Content-Type: text/plain`, `Hello, World!` to every request.
//!
//! Like monocle's `hello_server` it names itself in a `Server` field (hyper adds
//! `Date` and `Content-Length` itself), so both send the same fields and nearly
//! the same bytes (137 here, 138 from monocle): wrk, which parses every byte,
//! then does the same work against either.
//!
//! ```text
//! hyper_hello PORT
//! ```
//!
//! Runs until killed.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const BODY: &[u8] = b"Hello, World!";

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(Bytes::from_static(BODY)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp.headers_mut()
        .insert(SERVER, HeaderValue::from_static("hyper/1.12.0"));
    Ok(resp)
}

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("usage: hyper_hello PORT");
            std::process::exit(2);
        });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime");
    rt.block_on(async move {
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
        eprintln!("hyper_hello listening on {addr}");
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                // Errors here are clients going away mid-request (wrk stopping).
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    });
}
