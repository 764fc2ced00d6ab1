//! An echo service: a client sends a few lines and reads each one back, then the
//! program ends. `cargo run --example echo_server -- --serve` keeps serving on
//! port 8088 until killed.

use monocle::stack::network::{add_service, connect, Connection, ConnectionLost, Service};

/// Sends back every line it reads, until the client leaves.
async fn echo(mut conn: Connection) -> Result<(), ConnectionLost> {
    loop {
        let line = conn.readline().await?.to_vec();
        conn.write(&line).await?;
    }
}

async fn client(port: u16) -> Result<(), monocle::stack::network::Error> {
    let mut conn = connect("127.0.0.1", port).await?;
    for word in ["hello", "monocle", "goodbye"] {
        conn.write(format!("{word}\n").as_bytes()).await?;
        let back = conn.readline().await?;
        print!("echoed: {}", String::from_utf8_lossy(back));
    }
    Ok(())
}

fn main() {
    let serve = std::env::args().any(|a| a == "--serve");
    monocle::run(async move {
        let port = if serve { 8088 } else { 0 };
        let svc = add_service(Service::new(echo, port).bind_addr([127, 0, 0, 1]))?;
        println!("echo service on {}", svc.local_addr());
        if serve {
            std::future::pending::<()>().await;
        }
        client(svc.port()).await?;
        svc.stop();
        Ok::<_, monocle::stack::network::Error>(())
    });
}
