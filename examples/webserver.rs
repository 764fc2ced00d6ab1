//! monocle's `webserver` example: a router with plain, optional-slash,
//! named-parameter, regex and wildcard routes, and a default handler.
//!
//! `cargo run --example webserver` starts on a free port, checks each route
//! with the client, prints the answers and exits; `-- --serve [PORT]` serves
//! on PORT (default 8088) until killed.

use std::io;

use monocle::stack::eventloop;
use monocle::stack::network::http::{HttpClient, HttpRequest, HttpResponse, HttpServer, Regex};

async fn index(_req: HttpRequest) -> &'static str {
    "Welcome to monocle's webserver\n"
}

async fn slashable(_req: HttpRequest) -> &'static str {
    "slash or no slash, all the same\n"
}

async fn first_second(req: HttpRequest) -> String {
    format!(
        "first = {}, second_what = {}\n",
        req.param("first").unwrap_or_default(),
        req.param("second_what").unwrap_or_default()
    )
}

async fn year(req: HttpRequest) -> String {
    format!("archive of {}\n", req.param("year").unwrap_or_default())
}

async fn stars(req: HttpRequest) -> String {
    format!("stars matched {}\n", req.path())
}

async fn fallback(req: HttpRequest) -> HttpResponse {
    HttpResponse::new(404).with_body(format!("nothing at {}\n", req.path()))
}

fn build(port: u16) -> HttpServer {
    let mut server = HttpServer::new(port, fallback);
    server
        .get("/", index)
        .get("/slashable/?", slashable)
        .get("/first/:first/second/:second_what", first_second)
        .get(
            Regex::new(r"^/archive/(?P<year>\d{4})$").expect("valid regex"),
            year,
        )
        .get("/*/star/*", stars);
    server
}

async fn self_check(port: u16) -> io::Result<()> {
    let mut client = HttpClient::new();
    client.connect("127.0.0.1", port, "http").await?;
    let checks = [
        ("/", 200, "Welcome"),
        ("/slashable", 200, "slash"),
        ("/slashable/", 200, "slash"),
        (
            "/first/one/second/two",
            200,
            "first = one, second_what = two",
        ),
        ("/archive/1999", 200, "archive of 1999"),
        ("/archive/99", 404, "nothing at"),
        ("/a/b/star/c", 200, "stars matched /a/b/star/c"),
        ("/elsewhere", 404, "nothing at /elsewhere"),
    ];
    for (path, code, text) in checks {
        let resp = client.get(path).await?;
        print!("GET {path} -> {} {}", resp.code(), resp.text());
        if resp.code() != code || !resp.text().contains(text) {
            return Err(io::Error::other(format!(
                "{path}: expected {code} with {text:?}"
            )));
        }
    }
    let resp = client.request("/", Default::default(), "POST", "").await?;
    println!(
        "POST / -> {} (Allow: {})",
        resp.code(),
        resp.headers().get("allow").unwrap_or("")
    );
    println!("all routes answered as expected");
    Ok(())
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--serve") {
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
        let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(8088);
        let svc = build(port).start()?;
        println!("serving on port {}", svc.port());
        eventloop::run();
        return Ok(());
    }
    let mut server = build(0);
    server.bind_addr([127, 0, 0, 1]);
    let port = server.start()?.port();
    monocle::launch(async move {
        let result = self_check(port).await;
        server.stop().await;
        eventloop::halt();
        if let Err(e) = result {
            eprintln!("self-check failed: {e}");
            std::process::exit(1);
        }
    });
    eventloop::run();
    Ok(())
}
