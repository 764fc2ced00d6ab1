//! The "Simple Example" of monocle's README: one o-routine serves HTTP, another
//! queries it, prints `200 Hello, World!`, and halts the loop.
//!
//! Run with `cargo run --example hello_http` (port 8088, or `PORT=...`).

use std::io;

use monocle::stack::eventloop;
use monocle::stack::network::add_service;
use monocle::stack::network::http::{HttpClient, HttpHeaders, HttpRequest, HttpServer};

async fn hello_http(_req: HttpRequest) -> (u16, HttpHeaders, &'static str) {
    let content = "Hello, World!";
    let mut headers = HttpHeaders::new();
    headers.set("Content-Length", content.len());
    headers.set("Content-Type", "text/plain");
    (200, headers, content)
}

async fn request(port: u16) -> io::Result<()> {
    let resp = HttpClient::query(&format!("http://127.0.0.1:{port}/")).await;
    eventloop::halt();
    let resp = resp?;
    println!("{} {}", resp.code(), resp.text());
    Ok(())
}

fn main() -> io::Result<()> {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8088);
    add_service(HttpServer::new(port, hello_http).service())?;
    monocle::launch(request(port));
    eventloop::run();
    Ok(())
}
