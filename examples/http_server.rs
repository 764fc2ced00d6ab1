//! An HTTP server with a few routes and a request log (monocle's
//! `http_server` example).
//!
//! `cargo run --example http_server [PORT]` serves until killed;
//! `cargo run --example http_server -- --self-test` starts on a free port,
//! queries each route, and exits.

use std::io;

use monocle::stack::eventloop;
use monocle::stack::network::http::{
    HttpClient, HttpHeaders, HttpRequest, HttpResponse, HttpServer,
};

async fn index(req: HttpRequest) -> String {
    format!(
        "Hello from monocle! You asked for {} with {}\n",
        req.path(),
        req.headers().get("user-agent").unwrap_or("no user agent")
    )
}

async fn echo(req: HttpRequest) -> HttpResponse {
    HttpResponse::new(200)
        .with_header("Content-Type", "application/octet-stream")
        .with_body(req.into_body())
}

async fn greet(req: HttpRequest) -> String {
    format!("Hello, {}!\n", req.query_arg("name").unwrap_or("stranger"))
}

fn main() -> io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let self_test = std::env::args().any(|a| a == "--self-test");
    let port = if self_test {
        0
    } else {
        std::env::args()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(8088)
    };
    let mut server = HttpServer::new(port, index);
    server
        .bind_addr([127, 0, 0, 1])
        .get("/greet", greet)
        .post("/echo", echo);
    let svc = server.start()?;
    println!("serving on http://127.0.0.1:{}/", svc.port());
    if self_test {
        let port = svc.port();
        monocle::launch(async move {
            let result = async {
                let mut client = HttpClient::new();
                client.connect("127.0.0.1", port, "http").await?;
                let resp = client.get("/").await?;
                print!("GET / -> {} {}", resp.code(), resp.text());
                let resp = client.get("/greet?name=monocle").await?;
                print!("GET /greet -> {} {}", resp.code(), resp.text());
                let resp = client
                    .request("/echo", HttpHeaders::new(), "POST", "ping")
                    .await?;
                println!("POST /echo -> {} {}", resp.code(), resp.text());
                let resp = client
                    .request("/greet", HttpHeaders::new(), "DELETE", "")
                    .await?;
                println!(
                    "DELETE /greet -> {} (Allow: {})",
                    resp.code(),
                    resp.headers().get("allow").unwrap_or("")
                );
                io::Result::Ok(())
            }
            .await;
            server.stop().await;
            eventloop::halt();
            result
        });
    }
    eventloop::run();
    Ok(())
}
