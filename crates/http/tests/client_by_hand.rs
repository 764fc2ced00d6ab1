//! What the client leaves to its caller, as `HttpClient`'s docs say: a
//! redirect is returned, not followed, and a URL's userinfo is not sent as
//! credentials. A raw server on loopback records what came.

mod common;

use std::io;
use std::time::Duration;

use common::replying_server;
use monocle_http::{basic_auth, HttpClient, HttpHeaders};
use monocle_stack::block_on;

const WAIT: Duration = Duration::from_secs(10);

/// The value of the field `name` in a request head, if any.
fn field<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn a_redirect_is_returned_and_userinfo_is_not_sent() {
    let (port, server) = replying_server(vec![
        b"HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 5\r\n\r\nmoved".to_vec(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
    ]);
    block_on(async move {
        let mut client = HttpClient::new();
        client.set_timeout(Some(WAIT));
        let resp = client
            .get(&format!("http://user:pw@127.0.0.1:{port}/old"))
            .await?;
        assert_eq!((resp.code(), &*resp.text()), (302, "moved"));
        let location = resp.headers().get("location").unwrap().to_owned();
        // Followed by hand, with the credentials sent as the docs say.
        let mut headers = HttpHeaders::new();
        headers.set("Authorization", basic_auth("user", "pw")?);
        let resp = client.request(&location, headers, "GET", "").await?;
        assert_eq!((resp.code(), &*resp.text()), (200, "ok"));
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
    let heads = server.join().unwrap();
    assert_eq!(heads.len(), 2, "{heads:?}");
    let (first, second) = (&heads[0], &heads[1]);
    assert!(first.starts_with("GET /old HTTP/1.1\r\n"), "{first}");
    assert_eq!(
        field(first, "host"),
        Some(&*format!("127.0.0.1:{port}")),
        "{first}"
    );
    assert_eq!(field(first, "authorization"), None, "{first}");
    assert!(!first.contains("pw"), "{first}");
    assert!(second.starts_with("GET /new HTTP/1.1\r\n"), "{second}");
    assert_eq!(
        field(second, "authorization"),
        Some("Basic dXNlcjpwdw=="),
        "{second}"
    );
}
