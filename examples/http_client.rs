//! The HTTP client against a local server it starts (monocle's `http_client`
//! example queried google.com; this one stays on loopback): a one-shot query,
//! then several requests on one kept-alive connection.
//!
//! Run with `cargo run --example http_client`.

use std::io;

use monocle::stack::eventloop;
use monocle::stack::network::http::{HttpClient, HttpHeaders, HttpRequest, HttpServer};

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
