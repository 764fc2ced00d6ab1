//! Services: echo, stop, many clients, failing handlers, several loops.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::time::Duration;

use common::{echo, echo_service, run};
use monocle_network::{add_service, add_service_on, connect, Connection, Error, Service};
use monocle_stack::{launch, Loops};

#[test]
fn echo_service_answers_10000_messages() {
    run(async {
        let svc = echo_service();
        let mut conn = connect("127.0.0.1", svc.port()).await.unwrap();
        for i in 0..10_000 {
            let msg = format!("message {i}\n");
            conn.write(msg.as_bytes()).await.unwrap();
            assert_eq!(conn.readline().await.unwrap(), msg.as_bytes());
        }
        svc.stop();
    });
}

#[test]
fn port_zero_reports_the_bound_address() {
    run(async {
        let svc = echo_service();
        assert_ne!(svc.port(), 0);
        assert_eq!(svc.local_addr().ip(), std::net::Ipv4Addr::LOCALHOST);
        let conn = connect("127.0.0.1", svc.port()).await.unwrap();
        assert_eq!(conn.peer_addr(), svc.local_addr());
        svc.stop();
    });
}

#[test]
fn stop_refuses_new_connections_and_keeps_live_ones() {
    run(async {
        let svc = echo_service();
        let mut live = connect("127.0.0.1", svc.port()).await.unwrap();
        live.write(b"before\n").await.unwrap();
        assert_eq!(live.readline().await.unwrap(), b"before\n");
        svc.stop();
        assert!(svc.is_stopped());
        svc.stopped().await;
        let err = connect("127.0.0.1", svc.port()).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        // The connection accepted before stop() is still served.
        live.write(b"after\n").await.unwrap();
        assert_eq!(live.readline().await.unwrap(), b"after\n");
    });
}

#[test]
fn two_hundred_concurrent_clients() {
    run(async {
        let svc = echo_service();
        let port = svc.port();
        let clients: Vec<_> = (0..200)
            .map(|c| {
                launch(async move {
                    let mut conn = connect("127.0.0.1", port).await?;
                    for i in 0..10 {
                        let msg = format!("client {c} message {i}\n");
                        conn.write(msg.as_bytes()).await?;
                        assert_eq!(conn.readline().await?, msg.as_bytes());
                    }
                    Ok::<_, Error>(())
                })
            })
            .collect();
        for client in clients {
            client.await.unwrap();
        }
        svc.stop();
    });
}

#[test]
fn failing_and_panicking_handlers_do_not_stop_the_service() {
    run(async {
        async fn picky(mut conn: Connection) -> Result<(), Error> {
            let line = conn.readline().await?.to_vec();
            match &line[..] {
                b"fail\n" => Err(std::io::Error::other("asked to fail").into()),
                b"panic\n" => panic!("asked to panic"),
                _ => Ok(conn.write(&line).await?),
            }
        }
        let svc = add_service(Service::new(picky, 0).bind_addr([127, 0, 0, 1])).unwrap();
        for word in ["fail\n", "panic\n", "fail\n"] {
            let mut conn = connect("127.0.0.1", svc.port()).await.unwrap();
            conn.write(word.as_bytes()).await.unwrap();
            // The handler ended, so the connection is closed by the service.
            let lost = conn.read_some().await.unwrap_err();
            assert!(!lost.is_timeout(), "{lost}");
        }
        let mut conn = connect("127.0.0.1", svc.port()).await.unwrap();
        conn.write(b"hello\n").await.unwrap();
        assert_eq!(conn.readline().await.unwrap(), b"hello\n");
        svc.stop();
    });
}

#[test]
fn service_timeout_applies_to_accepted_connections() {
    run(async {
        let svc = add_service(
            Service::new(echo, 0)
                .bind_addr([127, 0, 0, 1])
                .timeout(Some(Duration::from_millis(50))),
        )
        .unwrap();
        let mut conn = connect("127.0.0.1", svc.port()).await.unwrap();
        // The idle server side times out and closes the connection.
        let lost = conn.read_some().await.unwrap_err();
        assert_eq!(lost.reason(), monocle_network::Reason::ClosedByPeer);
        svc.stop();
    });
}

#[test]
fn service_on_several_loops_spreads_connections() {
    let loops = Loops::start(2).unwrap();
    let svc = add_service_on(
        &loops,
        Service::new(
            |mut conn: Connection| async move {
                // An Rc shows the o-routine need not be Send.
                let name = std::rc::Rc::new(std::thread::current().name().unwrap().to_owned());
                conn.write(name.as_bytes()).await
            },
            0,
        )
        .bind_addr([127, 0, 0, 1]),
    )
    .unwrap();
    let mut seen = HashSet::new();
    for _ in 0..500 {
        let mut s = std::net::TcpStream::connect(svc.local_addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut name = String::new();
        s.read_to_string(&mut name).unwrap();
        seen.insert(name);
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(
        seen,
        HashSet::from(["monocle-loop-0".to_owned(), "monocle-loop-1".to_owned()])
    );
    svc.stop();
    futures_lite::future::block_on(svc.stopped());
    let refused = std::net::TcpStream::connect(svc.local_addr()).map(|mut s| s.write(b"x"));
    assert!(refused.is_err());
}

#[test]
fn accepted_connections_know_their_local_address() {
    run(async {
        async fn tell(mut conn: Connection) -> Result<(), Error> {
            let addrs = format!("{} {}\n", conn.local_addr(), conn.peer_addr());
            Ok(conn.write(addrs.as_bytes()).await?)
        }
        // A listener on one address, and one on the wildcard address.
        for ip in [
            std::net::IpAddr::from([127, 0, 0, 1]),
            std::net::IpAddr::from([0, 0, 0, 0]),
        ] {
            let svc = add_service(Service::new(tell, 0).bind_addr(ip)).unwrap();
            let mut conn = connect("127.0.0.1", svc.port()).await.unwrap();
            let expected = format!("{} {}\n", conn.peer_addr(), conn.local_addr());
            assert_eq!(conn.readline().await.unwrap(), expected.as_bytes());
            assert_eq!(conn.peer_addr().port(), svc.port());
            svc.stop();
        }
    });
}
