//! The client naming an IPv6 server: `Host`, the absolute-form target sent to
//! a proxy and the CONNECT target write an IPv6 literal in brackets
//! (RFC 9110 §7.2, RFC 3986 §3.2.2), leaving out the scheme's default port as
//! for names and IPv4 addresses.

use std::cell::RefCell;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::rc::Rc;
use std::time::Duration;

use monocle_http::{write_request_head, HttpClient, HttpRequest, HttpServer, TargetForm};
use monocle_network::{add_service, Connection, Service, ServiceHandle};

/// Runs a test body on this thread's loop; fails the test after 30 s.
fn run<F: std::future::Future>(body: F) -> F::Output {
    monocle_stack::block_on(async {
        monocle_stack::util::timeout(Duration::from_secs(30), body)
            .await
            .expect("the test did not finish within 30 s")
    })
}

/// Whether this machine has an IPv6 loopback; prints why a test is skipped
/// when it has none.
fn ipv6_loopback(test: &str) -> bool {
    match std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("{test}: skipped, no IPv6 loopback on this machine (binding [::1]:0: {e})");
            false
        }
    }
}

/// A server on `[::1]` answering with the request's `Host`.
fn host_echo_on_ipv6() -> io::Result<ServiceHandle> {
    let server = HttpServer::new(0, |req: HttpRequest| async move {
        req.headers().get("host").unwrap_or("-").to_owned()
    });
    add_service(server.service().bind_addr(Ipv6Addr::LOCALHOST))
}

#[test]
fn host_names_an_ipv6_server_in_brackets() {
    if !ipv6_loopback("host_names_an_ipv6_server_in_brackets") {
        return;
    }
    run(async {
        let svc = host_echo_on_ipv6()?;
        let port = svc.port();
        let want = format!("[::1]:{port}");

        // Connected by address, then a bare path.
        let mut client = HttpClient::new();
        client.set_timeout(Some(Duration::from_secs(10)));
        client.connect("::1", port, "http").await?;
        let resp = client.get("/x").await?;
        assert_eq!(resp.code(), 200);
        assert_eq!(resp.text(), want);
        let resp = client
            .request("/y", Default::default(), "POST", "body")
            .await?;
        assert_eq!(resp.text(), want);
        // A URL naming the same server keeps the connection.
        let resp = client.get(&format!("http://[::1]:{port}/z")).await?;
        assert_eq!(resp.text(), want);
        assert_eq!(client.connects(), 1);
        client.close();

        // Connected with the address already in brackets: not bracketed twice,
        // and still the same server as the URL's.
        let mut client = HttpClient::new();
        client.set_timeout(Some(Duration::from_secs(10)));
        client.connect("[::1]", port, "http").await?;
        assert_eq!(client.get("/x").await?.text(), want);
        assert_eq!(
            client.get(&format!("http://[::1]:{port}/z")).await?.text(),
            want
        );
        assert_eq!(client.connects(), 1);
        client.close();

        // By URL alone.
        let resp = HttpClient::query(&format!("http://[::1]:{port}/q")).await?;
        assert_eq!(resp.text(), want);

        svc.stop();
        io::Result::Ok(())
    })
    .unwrap();
}

/// A stand-in proxy on 127.0.0.1 that records each request head and answers
/// `200 ok`, keeping the connection open; nothing is forwarded, so the origin
/// named need not exist.
fn recording_proxy(heads: Rc<RefCell<Vec<String>>>) -> ServiceHandle {
    let handler = move |mut conn: Connection| {
        let heads = heads.clone();
        async move {
            while let Ok(head) = conn.read_until(b"\r\n\r\n").await {
                let head = String::from_utf8(head.to_vec()).unwrap();
                heads.borrow_mut().push(head);
                conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await?;
            }
            io::Result::Ok(())
        }
    };
    add_service(Service::new(handler, 0).bind_addr(Ipv4Addr::LOCALHOST)).unwrap()
}

/// The request line and `Host` line of a recorded head.
fn first_two_lines(head: &str) -> (String, String) {
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default().to_owned();
    let host = lines.next().unwrap_or_default().to_owned();
    (line, host)
}

#[test]
fn a_proxy_gets_the_origin_as_a_url_would_name_it() {
    // (connect host, port, target the proxy gets, Host)
    let table: &[(&str, u16, &str, &str)] = &[
        ("::1", 8080, "http://[::1]:8080/p?q=1", "[::1]:8080"),
        ("::1", 80, "http://[::1]/p?q=1", "[::1]"),
        ("[::1]", 8080, "http://[::1]:8080/p?q=1", "[::1]:8080"),
        (
            "2001:db8::7",
            81,
            "http://[2001:db8::7]:81/p?q=1",
            "[2001:db8::7]:81",
        ),
        ("127.0.0.1", 80, "http://127.0.0.1/p?q=1", "127.0.0.1"),
        (
            "127.0.0.1",
            8088,
            "http://127.0.0.1:8088/p?q=1",
            "127.0.0.1:8088",
        ),
        ("example.com", 80, "http://example.com/p?q=1", "example.com"),
        (
            "example.com",
            8080,
            "http://example.com:8080/p?q=1",
            "example.com:8080",
        ),
    ];
    run(async {
        let heads = Rc::new(RefCell::new(Vec::new()));
        let proxy = recording_proxy(heads.clone());
        for &(host, port, target, host_header) in table {
            let mut client = HttpClient::new();
            client
                .set_proxy(Some(("127.0.0.1", proxy.port())))
                .set_timeout(Some(Duration::from_secs(10)));
            client.connect(host, port, "http").await.unwrap();
            let resp = client.get("/p?q=1").await.unwrap();
            assert_eq!(resp.text(), "ok");
            let head = heads.borrow_mut().pop().expect("the proxy saw the request");
            assert_eq!(
                first_two_lines(&head),
                (
                    format!("GET {target} HTTP/1.1"),
                    format!("Host: {host_header}")
                ),
                "connect({host:?}, {port})"
            );
            client.close();
        }
        // The same through a URL.
        let mut client = HttpClient::new();
        client
            .set_proxy(Some(("127.0.0.1", proxy.port())))
            .set_timeout(Some(Duration::from_secs(10)));
        for (url, host_header) in [
            ("http://[::1]:8080/p?q=1", "[::1]:8080"),
            ("http://[::1]/p?q=1", "[::1]"),
        ] {
            client.get(url).await.unwrap();
            let head = heads.borrow_mut().pop().expect("the proxy saw the request");
            assert_eq!(
                first_two_lines(&head),
                (
                    format!("GET {url} HTTP/1.1"),
                    format!("Host: {host_header}")
                )
            );
        }
        client.close();
        proxy.stop();
    });
}

#[test]
fn write_request_head_keeps_a_url_s_ipv6_brackets() {
    let req = HttpRequest::from_url("GET", "http://[::1]:8080/a?b").unwrap();
    for (form, line) in [
        (TargetForm::Origin, "GET /a?b HTTP/1.1"),
        (TargetForm::Absolute, "GET http://[::1]:8080/a?b HTTP/1.1"),
    ] {
        let mut buf = Vec::new();
        write_request_head(&req, form, &mut buf).unwrap();
        let head = String::from_utf8(buf).unwrap();
        assert_eq!(
            first_two_lines(&head),
            (line.to_owned(), "Host: [::1]:8080".to_owned())
        );
    }
}

#[cfg(feature = "tls")]
mod connect {
    //! https through a proxy: the CONNECT target and its `Host` for an IPv6
    //! origin (always with the port: RFC 9112 §3.2.3).

    use super::*;
    use monocle_network::tls::rustls;
    use std::sync::Arc;

    /// A proxy that records the CONNECT head and refuses it.
    fn refusing_proxy(bind: std::net::IpAddr, heads: Rc<RefCell<Vec<String>>>) -> ServiceHandle {
        let handler = move |mut conn: Connection| {
            let heads = heads.clone();
            async move {
                let head = conn.read_until(b"\r\n\r\n").await?.to_vec();
                heads.borrow_mut().push(String::from_utf8(head).unwrap());
                conn.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                    .await?;
                let _ = conn.read_some().await;
                io::Result::Ok(())
            }
        };
        add_service(Service::new(handler, 0).bind_addr(bind)).unwrap()
    }

    fn client_config() -> Arc<rustls::ClientConfig> {
        Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )
    }

    #[test]
    fn connect_names_an_ipv6_origin_in_brackets() {
        run(async {
            let heads = Rc::new(RefCell::new(Vec::new()));
            let proxy = refusing_proxy(Ipv4Addr::LOCALHOST.into(), heads.clone());
            let mut client = HttpClient::new();
            client
                .set_tls_config(client_config())
                .set_proxy(Some(("127.0.0.1", proxy.port())))
                .set_timeout(Some(Duration::from_secs(10)));
            for (url, authority) in [
                ("https://[::1]:8443/s", "[::1]:8443"),
                ("https://[::1]/s", "[::1]:443"),
            ] {
                let err = client.get(url).await.unwrap_err().to_string();
                assert!(err.contains(&format!("CONNECT {authority}")), "{err}");
                assert!(err.contains("403 Forbidden"), "{err}");
                let head = heads.borrow_mut().pop().expect("the proxy saw CONNECT");
                assert_eq!(
                    first_two_lines(&head),
                    (
                        format!("CONNECT {authority} HTTP/1.1"),
                        format!("Host: {authority}")
                    )
                );
            }
            client.connect("::1", 8443, "https").await.unwrap_err();
            let head = heads.borrow_mut().pop().expect("the proxy saw CONNECT");
            assert!(
                head.starts_with("CONNECT [::1]:8443 HTTP/1.1\r\n"),
                "{head}"
            );
            proxy.stop();
        });
    }

    #[test]
    fn an_ipv6_proxy_is_named_in_brackets() {
        if !ipv6_loopback("an_ipv6_proxy_is_named_in_brackets") {
            return;
        }
        run(async {
            let heads = Rc::new(RefCell::new(Vec::new()));
            let proxy = refusing_proxy(Ipv6Addr::LOCALHOST.into(), heads.clone());
            let mut client = HttpClient::new();
            client
                .set_tls_config(client_config())
                .set_proxy(Some(("::1", proxy.port())))
                .set_timeout(Some(Duration::from_secs(10)));
            let err = client
                .get("https://[::1]:8443/s")
                .await
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("the proxy [::1]:{} refused", proxy.port())),
                "{err}"
            );
            assert_eq!(heads.borrow().len(), 1);
            proxy.stop();
        });
    }
}
