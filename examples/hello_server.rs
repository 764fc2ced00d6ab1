//! The benchmark server: `200 Hello, World!` (text/plain) for every path and
//! method, until killed.
//!
//! `cargo run --release --example hello_server -- PORT [LOOPS]`: with LOOPS > 1
//! it serves on that many event loops sharing the port (`SO_REUSEPORT`).

use std::io;

use monocle::stack::network::http::{HttpHeaders, HttpRequest, HttpServer};
use monocle::stack::{eventloop, Loops};

async fn hello(_req: HttpRequest) -> (u16, HttpHeaders, &'static str) {
    let mut headers = HttpHeaders::new();
    headers.set("Content-Type", "text/plain");
    (200, headers, "Hello, World!")
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8088);
    let loops: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    if loops <= 1 {
        let svc = HttpServer::new(port, hello).start()?;
        eprintln!("hello_server: listening on port {} (1 loop)", svc.port());
        eventloop::run();
    } else {
        let pool = Loops::start(loops)?;
        let svc = HttpServer::start_on(&pool, port, None, || HttpServer::new(0, hello))?;
        eprintln!(
            "hello_server: listening on port {} ({loops} loops)",
            svc.port()
        );
        loop {
            std::thread::park();
        }
    }
    Ok(())
}
