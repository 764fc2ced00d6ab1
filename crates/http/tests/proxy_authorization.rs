//! `HttpClient::set_proxy_authorization` for plain `http` through a proxy:
//! the credentials go with each absolute-form request to the proxy, and to
//! no server reached without one. (CONNECT tunnels: tests/connect_proxy.rs.)

use std::io;
use std::time::Duration;

use monocle_http::{HttpClient, HttpHeaders, HttpRequest, HttpServer};
use monocle_network::{add_service, ServiceHandle};

/// "proxyuser:pw" in base64.
const CREDENTIALS: &str = "Basic cHJveHl1c2VyOnB3";

/// Runs a test body on this thread's loop; fails the test after 30 s.
fn run<F: std::future::Future>(body: F) -> F::Output {
    monocle_stack::block_on(async {
        monocle_stack::util::timeout(Duration::from_secs(30), body)
            .await
            .expect("the test did not finish within 30 s")
    })
}

/// A stand-in proxy (or server): answers with the target it got and every
/// `Proxy-Authorization` value.
fn recorder() -> ServiceHandle {
    let server = HttpServer::new(0, |req: HttpRequest| async move {
        let auth: Vec<&str> = req.headers().get_all("proxy-authorization").collect();
        format!("{} auth={auth:?}", req.uri())
    });
    add_service(server.service().bind_addr([127, 0, 0, 1])).unwrap()
}

#[test]
fn absolute_form_requests_carry_the_proxy_credentials() {
    run(async {
        let proxy = recorder();
        let mut client = HttpClient::new();
        client
            .set_proxy(Some(("127.0.0.1", proxy.port())))
            .set_proxy_authorization(Some(CREDENTIALS));
        let resp = client.get("http://example.invalid/a?b=1").await.unwrap();
        assert_eq!(
            resp.text(),
            format!("http://example.invalid/a?b=1 auth=[{CREDENTIALS:?}]")
        );
        // A path on the same origin: the same.
        let resp = client.get("/c").await.unwrap();
        assert_eq!(
            resp.text(),
            format!("http://example.invalid/c auth=[{CREDENTIALS:?}]")
        );
        // A request built by the caller and sent as it is.
        let req = HttpRequest::from_url("GET", "http://example.invalid/d").unwrap();
        let resp = client.send(&req).await.unwrap();
        assert_eq!(
            resp.text(),
            format!("http://example.invalid/d auth=[{CREDENTIALS:?}]")
        );
        assert!(!req.headers().contains("proxy-authorization"));
        // A request with its own keeps it, and only it.
        let mut headers = HttpHeaders::new();
        headers.add("Proxy-Authorization", "Basic b3duOnB3");
        let resp = client
            .request("http://example.invalid/e", headers, "GET", "")
            .await
            .unwrap();
        assert_eq!(
            resp.text(),
            "http://example.invalid/e auth=[\"Basic b3duOnB3\"]"
        );
        // Credentials are not printed.
        assert!(!format!("{client:?}").contains(CREDENTIALS));
        client.close();
        proxy.stop();
    });
}

#[test]
fn without_a_proxy_the_credentials_are_not_sent() {
    run(async {
        let server = recorder();
        let mut client = HttpClient::new();
        client.set_proxy_authorization(Some(CREDENTIALS));
        let url = format!("http://127.0.0.1:{}/x", server.port());
        let resp = client.get(&url).await.unwrap();
        assert_eq!(resp.text(), "/x auth=[]");
        client.close();
        server.stop();
    });
}

#[test]
fn credentials_that_cannot_be_a_header_value_fail_the_request() {
    run(async {
        let proxy = recorder();
        let mut client = HttpClient::new();
        client
            .set_proxy(Some(("127.0.0.1", proxy.port())))
            .set_proxy_authorization(Some("Basic x\r\nX-Injected: 1"));
        let err = client.get("http://example.invalid/").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        let msg = err.to_string();
        assert!(msg.contains("set_proxy_authorization"), "{msg}");
        assert!(!msg.contains("Injected"), "{msg}");
        proxy.stop();
    });
}
