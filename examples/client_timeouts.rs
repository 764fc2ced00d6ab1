//! A read that times out against a local server that never answers.

use std::time::{Duration, Instant};

use monocle::stack::network::{add_service, Client, Connection, Error, Reason, Service};

/// Accepts, reads, and never answers.
async fn silent(mut conn: Connection) {
    while conn.read_some().await.is_ok() {}
}

fn main() {
    monocle::run(async {
        let svc = add_service(Service::new(silent, 0).bind_addr([127, 0, 0, 1]))?;
        let mut conn = Client::new()
            .timeout(Some(Duration::from_millis(500)))
            .connect("127.0.0.1", svc.port())
            .await?;
        conn.write(b"anybody there?\n").await?;
        let start = Instant::now();
        match conn.readline().await {
            Ok(line) => println!("unexpected answer: {line:?}"),
            Err(lost) => {
                assert!(matches!(lost.reason(), Reason::TimedOut(_)));
                println!("{lost} (after {:.2} s)", start.elapsed().as_secs_f64());
            }
        }
        assert!(conn.is_closed());
        svc.stop();
        Ok::<_, Error>(())
    });
}
