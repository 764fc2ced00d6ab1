//! HTTPS through an HTTP proxy: a CONNECT tunnel (RFC 9110 §9.3.6) to an
//! HTTPS origin, through a small proxy written here on monocle-network.
#![cfg(feature = "tls")]

mod common;

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use monocle_http::{HttpClient, HttpHeaders, HttpRequest, HttpServer};
use monocle_network::tls::rustls;
use monocle_network::{add_service, connect, Connection, Service, ServiceHandle};

/// Runs a test body on this thread's loop; fails the test after 30 s.
fn run<F: std::future::Future>(body: F) -> F::Output {
    monocle_stack::block_on(async {
        monocle_stack::util::timeout(Duration::from_secs(30), body)
            .await
            .expect("the test did not finish within 30 s")
    })
}

/// The HTTPS origin: answers with what it saw of the request, `Proxy-*`
/// fields included (it must never see any).
fn https_origin(config: Arc<rustls::ServerConfig>) -> ServiceHandle {
    let server = HttpServer::new(0, |req: HttpRequest| async move {
        let proxy_fields: Vec<String> = req
            .headers()
            .iter()
            .filter(|(name, _)| name.to_ascii_lowercase().starts_with("proxy-"))
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        format!(
            "origin saw {} {} host={} proxy-fields={:?}",
            req.method(),
            req.uri(),
            req.headers().get("host").unwrap_or("-"),
            proxy_fields
        )
    });
    add_service(server.service().bind_addr([127, 0, 0, 1]).tls(config)).unwrap()
}

/// How the test proxy answers a CONNECT.
#[derive(Clone, Copy)]
enum Answer {
    /// Opens the tunnel and copies bytes both ways.
    Tunnel,
    /// Refuses with this status line.
    Refuse(&'static str),
    /// Never answers.
    Silent,
    /// Tunnels with this `Proxy-Authorization`; answers 407 without it.
    Authorize(&'static str),
}

/// A tiny CONNECT proxy; `heads` collects each request head it reads.
fn proxy(answer: Answer, heads: Rc<RefCell<Vec<String>>>) -> ServiceHandle {
    let handler = move |mut conn: Connection| {
        let heads = heads.clone();
        async move {
            let head = String::from_utf8(conn.read_until(b"\r\n\r\n").await?.to_vec()).unwrap();
            heads.borrow_mut().push(head.clone());
            let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
            let answer = match answer {
                Answer::Authorize(want) => {
                    let given = head.split("\r\n").find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("proxy-authorization")
                            .then(|| value.trim())
                    });
                    if given == Some(want) {
                        Answer::Tunnel
                    } else {
                        let reply = "HTTP/1.1 407 Proxy Authentication Required\r\n\
                                     Proxy-Authenticate: Basic realm=\"test\"\r\n\
                                     Content-Length: 0\r\n\r\n";
                        conn.write(reply.as_bytes()).await?;
                        let _ = conn.read_some().await;
                        return Ok(());
                    }
                }
                answer => answer,
            };
            match answer {
                Answer::Refuse(status) => {
                    let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 9\r\n\r\nforbidden");
                    conn.write(reply.as_bytes()).await?;
                    // Wait for the client to hang up.
                    let _ = conn.read_some().await;
                    return io::Result::Ok(());
                }
                Answer::Silent => {
                    let _ = conn.read_some().await;
                    return Ok(());
                }
                Answer::Tunnel | Answer::Authorize(_) => {}
            }
            let (host, port) = target.rsplit_once(':').expect("host:port");
            let upstream = connect(host, port.parse().unwrap()).await?;
            conn.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                .await?;
            let (client_r, client_w) = futures_lite::io::split(conn);
            let (origin_r, origin_w) = futures_lite::io::split(upstream);
            // Until either side closes.
            let _ = futures_lite::future::race(
                futures_lite::io::copy(client_r, origin_w),
                futures_lite::io::copy(origin_r, client_w),
            )
            .await;
            Ok(())
        }
    };
    add_service(Service::new(handler, 0).bind_addr([127, 0, 0, 1])).unwrap()
}

/// A client that trusts the test certificate and goes through the proxy on
/// 127.0.0.1 at `port`.
fn through_proxy(config: Arc<rustls::ClientConfig>, port: u16) -> HttpClient {
    let mut client = HttpClient::new();
    client
        .set_tls_config(config)
        .set_proxy(Some(("127.0.0.1", port)));
    client
}

#[test]
fn https_goes_through_a_connect_tunnel() {
    let (server_config, client_config) = common::tls_configs();
    run(async move {
        let origin = https_origin(server_config);
        let heads = Rc::new(RefCell::new(Vec::new()));
        let proxy = proxy(Answer::Tunnel, heads.clone());
        let mut client = through_proxy(client_config, proxy.port());
        client.set_timeout(Some(Duration::from_secs(10)));
        let authority = format!("localhost:{}", origin.port());

        let resp = client
            .get(&format!("https://{authority}/hello?x=1"))
            .await
            .unwrap();
        assert_eq!(resp.code(), 200);
        // Origin-form target inside the tunnel, Host naming the origin.
        assert_eq!(
            resp.text(),
            format!("origin saw GET /hello?x=1 host={authority} proxy-fields=[]")
        );
        // A second request reuses the tunnel.
        let resp = client
            .request(
                &format!("https://{authority}/again"),
                HttpHeaders::new(),
                "POST",
                "body",
            )
            .await
            .unwrap();
        assert_eq!(
            resp.text(),
            format!("origin saw POST /again host={authority} proxy-fields=[]")
        );
        assert_eq!(client.connects(), 1);

        let heads = heads.borrow();
        assert_eq!(heads.len(), 1, "{heads:?}");
        let lines: Vec<&str> = heads[0].split("\r\n").collect();
        assert_eq!(lines[0], format!("CONNECT {authority} HTTP/1.1"));
        assert_eq!(lines[1], format!("Host: {authority}"));
        client.close();
        proxy.stop();
        origin.stop();
    });
}

#[test]
fn a_proxy_refusing_connect_is_a_clear_error() {
    let (_, client_config) = common::tls_configs();
    run(async move {
        let heads = Rc::new(RefCell::new(Vec::new()));
        let proxy = proxy(Answer::Refuse("403 Forbidden"), heads.clone());
        let mut client = through_proxy(client_config, proxy.port());
        let err = client
            .get("https://localhost:8443/secret")
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("403 Forbidden"), "{msg}");
        assert!(
            msg.contains(&format!("127.0.0.1:{}", proxy.port())),
            "{msg}"
        );
        assert!(msg.contains("CONNECT localhost:8443"), "{msg}");
        assert!(!client.is_connected());
        assert!(heads.borrow()[0].starts_with("CONNECT localhost:8443 HTTP/1.1\r\n"));
        proxy.stop();
    });
}

#[test]
fn a_silent_proxy_times_out() {
    let (_, client_config) = common::tls_configs();
    run(async move {
        let heads = Rc::new(RefCell::new(Vec::new()));
        let proxy = proxy(Answer::Silent, heads);
        let mut client = through_proxy(client_config, proxy.port());
        client.set_timeout(Some(Duration::from_millis(200)));
        let err = client.get("https://localhost:8443/").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        let msg = err.to_string();
        assert!(msg.contains("CONNECT localhost:8443"), "{msg}");
        assert!(msg.contains("timed out after 200ms"), "{msg}");
        // The step the deadline cut short.
        assert!(msg.contains("waiting for the proxy's answer"), "{msg}");
        assert!(msg.contains("set_timeout"), "{msg}");
        proxy.stop();
    });
}

#[test]
fn a_silent_origin_times_out_in_the_tls_handshake() {
    let (_, client_config) = common::tls_configs();
    run(async move {
        // Accepts and never speaks TLS.
        let origin = add_service(
            Service::new(
                |mut conn: Connection| async move {
                    let _ = conn.read_some().await;
                    let _ = conn.read_some().await;
                },
                0,
            )
            .bind_addr([127, 0, 0, 1]),
        )
        .unwrap();
        let heads = Rc::new(RefCell::new(Vec::new()));
        let proxy = proxy(Answer::Tunnel, heads.clone());
        let mut client = through_proxy(client_config, proxy.port());
        client.set_timeout(Some(Duration::from_millis(300)));
        let err = client
            .get(&format!("https://localhost:{}/", origin.port()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        let msg = err.to_string();
        assert!(msg.contains("in the TLS handshake"), "{msg}");
        assert!(msg.contains("timed out after 300ms"), "{msg}");
        assert_eq!(heads.borrow().len(), 1);
        proxy.stop();
        origin.stop();
    });
}

/// A failure of a step is reported as itself, naming the proxy, and never as
/// the client's timeout (there is none here).
#[test]
fn a_proxy_that_cannot_be_reached_is_named_without_a_timeout() {
    let (_, client_config) = common::tls_configs();
    run(async move {
        // A port nothing listens on any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut client = through_proxy(client_config, port);
        let err = client.get("https://localhost:8443/").await.unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{msg}");
        assert!(
            msg.starts_with(&format!(
                "CONNECT localhost:8443 through the proxy 127.0.0.1:{port}: "
            )),
            "{msg}"
        );
        assert!(!msg.contains("timed out"), "{msg}");
        assert!(!msg.contains("set_timeout"), "{msg}");
    });
}

#[test]
fn the_origin_certificate_is_checked_through_the_tunnel() {
    let (server_config, client_config) = common::tls_configs();
    run(async move {
        let origin = https_origin(server_config);
        let heads = Rc::new(RefCell::new(Vec::new()));
        let proxy = proxy(Answer::Tunnel, heads.clone());
        let mut client = through_proxy(client_config, proxy.port());
        // The certificate names "localhost", not 127.0.0.1.
        let err = client
            .get(&format!("https://127.0.0.1:{}/", origin.port()))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("certificate"), "{err}");
        assert_eq!(heads.borrow().len(), 1);
        proxy.stop();
        origin.stop();
    });
}

/// "proxyuser:pw" in base64.
const CREDENTIALS: &str = "Basic cHJveHl1c2VyOnB3";

#[test]
fn proxy_credentials_go_with_connect_and_never_to_the_origin() {
    let (server_config, client_config) = common::tls_configs();
    run(async move {
        let origin = https_origin(server_config);
        let heads = Rc::new(RefCell::new(Vec::new()));
        let proxy = proxy(Answer::Authorize(CREDENTIALS), heads.clone());
        let mut client = through_proxy(client_config, proxy.port());
        client.set_timeout(Some(Duration::from_secs(10)));
        let authority = format!("localhost:{}", origin.port());
        let url = format!("https://{authority}/private");

        // Without credentials the proxy wants them, and the error says how.
        let err = client.get(&url).await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("407 Proxy Authentication Required"), "{msg}");
        assert!(msg.contains("set_proxy_authorization"), "{msg}");
        assert!(!client.is_connected());

        // With them, the tunnel opens. Proxy-* fields given with the request
        // (once the way to authenticate to a proxy) stay out of the tunnel.
        client.set_proxy_authorization(Some(CREDENTIALS));
        let mut headers = HttpHeaders::new();
        headers.add("Proxy-Authorization", "Basic bGVhaw==");
        headers.add("proxy-connection", "keep-alive");
        headers.add("X-Kept", "1");
        let resp = client.request(&url, headers, "GET", "").await.unwrap();
        assert_eq!(resp.code(), 200);
        assert_eq!(
            resp.text(),
            format!("origin saw GET /private host={authority} proxy-fields=[]")
        );
        // A request built by the caller and sent as it is: the same, and the
        // caller's request is left untouched.
        let req = HttpRequest::from_url("GET", &format!("https://{authority}/sent"))
            .unwrap()
            .with_header("Proxy-Authorization", CREDENTIALS);
        let resp = client.send(&req).await.unwrap();
        assert_eq!(
            resp.text(),
            format!("origin saw GET /sent host={authority} proxy-fields=[]")
        );
        assert_eq!(req.headers().get("proxy-authorization"), Some(CREDENTIALS));
        assert_eq!(client.connects(), 1);

        // The proxy got the credentials on the second CONNECT only, and
        // never the request's own.
        let heads = heads.borrow();
        assert_eq!(heads.len(), 2, "{heads:?}");
        assert!(!heads[0]
            .to_ascii_lowercase()
            .contains("proxy-authorization"));
        let lines: Vec<&str> = heads[1].split("\r\n").collect();
        assert_eq!(lines[0], format!("CONNECT {authority} HTTP/1.1"));
        assert!(
            lines.contains(&format!("Proxy-Authorization: {CREDENTIALS}").as_str()),
            "{lines:?}"
        );
        assert!(!heads[1].contains("bGVhaw=="), "{lines:?}");
        client.close();
        proxy.stop();
        origin.stop();
    });
}

#[test]
fn refused_proxy_credentials_are_a_clear_error() {
    let (_, client_config) = common::tls_configs();
    run(async move {
        let heads = Rc::new(RefCell::new(Vec::new()));
        let proxy = proxy(Answer::Authorize(CREDENTIALS), heads.clone());
        let mut client = through_proxy(client_config, proxy.port());
        client.set_proxy_authorization(Some("Basic d3Jvbmc6cHc="));
        let err = client.get("https://localhost:8443/").await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("407"), "{msg}");
        assert!(msg.contains("refused the credentials"), "{msg}");
        // The secret is not in the message.
        assert!(!msg.contains("d3Jvbmc6cHc="), "{msg}");
        assert!(heads.borrow()[0].contains("Proxy-Authorization: Basic d3Jvbmc6cHc=\r\n"));
        proxy.stop();
    });
}

/// A proxy that says yes to CONNECT at once and resets the connection
/// before it has taken the request: its 200 is read (a connection keeps
/// reading after a failed write), but no tunnel can run over a connection
/// whose request did not go out whole, and the error says so rather than
/// failing later in a TLS handshake with the origin.
#[test]
fn a_yes_to_connect_on_a_connection_that_failed_is_a_clear_error() {
    use std::io::{Read, Write};

    let (_, client_config) = common::tls_configs();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let proxy = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        // Once the request has begun to come (the client is connected).
        let mut start = [0u8; 8];
        s.read_exact(&mut start).unwrap();
        assert_eq!(&start, b"CONNECT ");
        s.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .unwrap();
        // Closed with linger 0 (and with the rest of the request unread): a
        // reset.
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    });
    // Credentials far longer than the socket buffers hold while the proxy
    // reads nothing (the client's send buffer grows to at most tcp_wmem's
    // last figure), so the CONNECT cannot have gone out whole before the
    // reset, however the threads are scheduled.
    let wmem_max = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().last()?.parse::<usize>().ok())
        .unwrap_or(4 << 20);
    let credentials = "a".repeat((4 * wmem_max).max(16 << 20));
    run(async move {
        let mut client = through_proxy(client_config, port);
        client.set_timeout(Some(Duration::from_secs(10)));
        client.set_proxy_authorization(Some(&credentials));
        let err = client.get("https://localhost:8443/").await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "the proxy 127.0.0.1:{port} answered CONNECT localhost:8443 with 200 \
                 Connection Established, but "
            )),
            "{msg}"
        );
        assert!(
            msg.ends_with("; no tunnel can run over that connection"),
            "{msg}"
        );
        assert!(!msg.contains("TLS"), "{msg}");
        assert!(
            !msg.contains("aaaa"),
            "the credentials are not in the message"
        );
        assert!(!client.is_connected());
    });
    proxy.join().unwrap();
}
