//! The HTTP client against a local server it starts (monocle's `http_client`
//! example queried google.com; this one stays on loopback): a one-shot query,
//! then several requests on one kept-alive connection, and a download read
//! piece by piece as it arrives.
//!
//! Run with `cargo run --example http_client`.

use std::io;

use monocle::futures_lite::stream;
use monocle::prelude::*;
use monocle::stack::eventloop;
use monocle::stack::network::http::{
    HttpClient, HttpHeaders, HttpRequest, HttpResponse, HttpServer,
};

async fn client(port: u16) -> io::Result<()> {
    let base = format!("http://127.0.0.1:{port}");
    let resp = HttpClient::query(&format!("{base}/")).await?;
    println!(
        "query: {} {} ({} bytes)",
        resp.code(),
        resp.reason(),
        resp.body().len().unwrap_or(0)
    );

    let mut client = HttpClient::new();
    client.set_timeout(Some(std::time::Duration::from_secs(5)));
    client.connect("127.0.0.1", port, "http").await?;
    for path in ["/", "/items/7", "/nope"] {
        let resp = client.get(path).await?;
        println!("GET {path}: {} {}", resp.code(), resp.text().trim_end());
    }
    let mut headers = HttpHeaders::new();
    headers.set("Content-Type", "text/plain");
    let resp = client
        .request("/items", headers, "POST", "a new item")
        .await?;
    println!("POST /items: {} {}", resp.code(), resp.text().trim_end());

    // A body read as it arrives, never held whole: only `buf` and the
    // client's input buffer hold any of it.
    let mut reader = client.get_reader("/log").await?;
    let (mut bytes, mut lines) = (0, 0);
    let mut buf = [0u8; 4096];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        bytes += n;
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
    }
    println!("GET /log: {} {bytes} bytes, {lines} lines", reader.code());
    // Read to its end: the connection is kept.
    drop(reader);
    println!("connections opened: {}", client.connects());
    Ok(())
}

fn main() -> io::Result<()> {
    let mut server = HttpServer::with_router(0, Default::default());
    server
        .bind_addr([127, 0, 0, 1])
        .get("/", |_req: HttpRequest| async { "the index\n" })
        .get("/items/:id", |req: HttpRequest| async move {
            format!("item {}\n", req.param("id").unwrap_or_default())
        })
        .get("/log", |_req: HttpRequest| async {
            // Sent chunked, as it is made: 10,000 lines in pieces of 100.
            let pieces = stream::iter((0..100).map(|piece| {
                let lines: String = (piece * 100..piece * 100 + 100)
                    .map(|i| format!("line {i}\n"))
                    .collect();
                Ok(lines.into_bytes())
            }));
            HttpResponse::new(200).with_stream(pieces)
        })
        .post("/items", |req: HttpRequest| async move {
            (
                201,
                format!("created {:?}\n", String::from_utf8_lossy(req.body())),
            )
        });
    let port = server.start()?.port();
    monocle::launch(async move {
        let result = client(port).await;
        server.stop().await;
        eventloop::halt();
        result
    });
    eventloop::run();
    Ok(())
}
