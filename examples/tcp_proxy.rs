//! A TCP proxy: a service that forwards each connection to a backend (here a
//! local echo service) and copies bytes both ways. A client talks to the backend
//! through the proxy, then the program ends.

use monocle::futures_lite::io::{copy, split};
use monocle::prelude::*;
use monocle::stack::network::{add_service, connect, Connection, ConnectionLost, Error, Service};

async fn echo(mut conn: Connection) -> Result<(), ConnectionLost> {
    loop {
        let data = conn.read_some().await?.to_vec();
        conn.write(&data).await?;
    }
}

/// Copies `client` to the backend at `port` and back until either side closes.
async fn proxy(client: Connection, port: u16) -> Result<(), Error> {
    let backend = connect("127.0.0.1", port).await?;
    let (client_in, mut client_out) = split(client);
    let (backend_in, mut backend_out) = split(backend);
    let upstream = async {
        copy(client_in, &mut backend_out).await?;
        backend_out.close().await // pass the client's end of stream on
    };
    let downstream = async {
        copy(backend_in, &mut client_out).await?;
        client_out.close().await
    };
    let (up, down) = monocle::futures_lite::future::zip(upstream, downstream).await;
    up?;
    down?;
    Ok(())
}

fn main() {
    monocle::run(async {
        let backend = add_service(Service::new(echo, 0).bind_addr([127, 0, 0, 1]))?;
        let backend_port = backend.port();
        let proxy_svc = add_service(
            Service::new(move |conn| proxy(conn, backend_port), 0).bind_addr([127, 0, 0, 1]),
        )?;
        println!(
            "proxy {} -> backend {}",
            proxy_svc.local_addr(),
            backend.local_addr()
        );
        let mut conn = connect("127.0.0.1", proxy_svc.port()).await?;
        for line in ["through the proxy\n", "and back again\n"] {
            conn.write(line.as_bytes()).await?;
            print!("got: {}", String::from_utf8_lossy(conn.readline().await?));
        }
        proxy_svc.stop();
        backend.stop();
        Ok::<_, Error>(())
    });
}
