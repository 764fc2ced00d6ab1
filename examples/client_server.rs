//! 10,000 echo round trips over one connection, and the time they took.

use std::time::Instant;

use monocle::stack::network::{add_service, connect, Connection, ConnectionLost, Error, Service};

const ROUND_TRIPS: usize = 10_000;

async fn echo(mut conn: Connection) -> Result<(), ConnectionLost> {
    loop {
        let data = conn.read_some().await?.to_vec();
        conn.write(&data).await?;
    }
}

fn main() {
    monocle::run(async {
        let svc = add_service(Service::new(echo, 0).bind_addr([127, 0, 0, 1]))?;
        let mut conn = connect("127.0.0.1", svc.port()).await?;
        let message = b"0123456789abcdef";
        let start = Instant::now();
        for _ in 0..ROUND_TRIPS {
            conn.write(message).await?;
            let back = conn.read(message.len()).await?;
            assert_eq!(back, message);
        }
        let took = start.elapsed();
        println!(
            "{ROUND_TRIPS} echoes of {} bytes in {:.1} ms ({:.1} µs per round trip)",
            message.len(),
            took.as_secs_f64() * 1e3,
            took.as_secs_f64() * 1e6 / ROUND_TRIPS as f64
        );
        svc.stop();
        Ok::<_, Error>(())
    });
}
