//! A handler that fails (and one that panics): each failure is logged with the
//! peer's address and the service keeps serving.

use monocle::stack::network::{add_service, connect, Connection, Error, Service};

async fn moody(mut conn: Connection) -> Result<(), Error> {
    let line = conn.readline().await?.to_vec();
    match &line[..] {
        b"fail\n" => Err(std::io::Error::other("this handler fails on purpose").into()),
        b"panic\n" => panic!("this handler panics on purpose"),
        _ => Ok(conn.write(b"fine\n").await?),
    }
}

fn main() {
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .init();
    monocle::run(async {
        let svc = add_service(Service::new(moody, 0).bind_addr([127, 0, 0, 1]))?;
        for word in ["fail", "panic", "hello"] {
            let mut conn = connect("127.0.0.1", svc.port()).await?;
            conn.write(format!("{word}\n").as_bytes()).await?;
            match conn.readline().await {
                Ok(reply) => print!("{word}: {}", String::from_utf8_lossy(reply)),
                Err(lost) => println!("{word}: {lost}"),
            }
        }
        svc.stop();
        Ok::<_, Error>(())
    });
}
