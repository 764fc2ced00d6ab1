//! The client against the server over loopback.

mod common;

use std::io;

use common::start;
use futures_lite::stream;
use monocle_http::{HttpClient, HttpHeaders, HttpRequest, HttpResponse, HttpServer};
use monocle_stack::block_on;

fn app() -> HttpServer {
    let mut server = HttpServer::new(0, |req: HttpRequest| async move {
        format!("fallback {}", req.path())
    });
    server
        .get("/hello", |_req: HttpRequest| async { "Hello, World!" })
        .post("/echo", |req: HttpRequest| async move { req.into_body() })
        .get("/stream", |_req: HttpRequest| async {
            let pieces = stream::iter((0..5).map(|i| Ok(format!("piece {i}\n").into_bytes())));
            HttpResponse::new(200).with_stream(pieces)
        })
        .get("/fail", |_req: HttpRequest| async {
            Err::<&str, _>(io::Error::other("the database is on fire"))
        })
        .get("/panic", |_req: HttpRequest| async {
            if true {
                panic!("handler blew up");
            }
            "unreachable"
        })
        .post("/only-post", |_req: HttpRequest| async { "posted" });
    server
}

fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

#[test]
fn keep_alive_reuses_one_connection() {
    let srv = start(app);
    let port = srv.port;
    block_on(async move {
        let mut client = HttpClient::new();
        client.connect("127.0.0.1", port, "http").await?;
        for _ in 0..5 {
            let resp = client.get("/hello").await?;
            assert_eq!(resp.code(), 200);
            assert_eq!(resp.text(), "Hello, World!");
        }
        let resp = client.get(&url(port, "/hello")).await?;
        assert_eq!(resp.text(), "Hello, World!");
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
}

#[test]
fn ten_mib_post_is_echoed_intact() {
    let srv = start(|| {
        let mut s = app();
        let mut config = s.config();
        config.limits_mut().max_body(64 << 20);
        s.set_config(config);
        s
    });
    let port = srv.port;
    block_on(async move {
        let body: Vec<u8> = (0..10 << 20).map(|i: u32| (i % 251) as u8).collect();
        let mut client = HttpClient::new();
        client.limits_mut().max_body(64 << 20);
        let resp = client
            .request(
                &url(port, "/echo"),
                HttpHeaders::new(),
                "POST",
                body.clone(),
            )
            .await?;
        assert_eq!(resp.code(), 200);
        assert_eq!(resp.body().as_bytes().unwrap().len(), body.len());
        assert!(resp.body().as_bytes().unwrap() == &body[..]);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn chunked_response_and_head_and_errors() {
    let srv = start(app);
    let port = srv.port;
    block_on(async move {
        let mut client = HttpClient::new();
        client.connect("127.0.0.1", port, "http").await?;
        let resp = client.get("/stream").await?;
        assert_eq!(resp.headers().get("transfer-encoding"), Some("chunked"));
        assert_eq!(
            resp.text(),
            (0..5).map(|i| format!("piece {i}\n")).collect::<String>()
        );

        let resp = client
            .request("/hello", HttpHeaders::new(), "HEAD", "")
            .await?;
        assert_eq!(resp.code(), 200);
        assert_eq!(resp.headers().get("content-length"), Some("13"));
        assert!(resp.body().as_bytes().unwrap().is_empty());

        let resp = client.get("/nowhere").await?;
        assert_eq!((resp.code(), &*resp.text()), (200, "fallback /nowhere"));

        let resp = client.get("/only-post").await?;
        assert_eq!(resp.code(), 405);
        assert_eq!(resp.headers().get("allow"), Some("POST"));

        let resp = client.get("/fail").await?;
        assert_eq!(resp.code(), 500);
        assert!(!resp.text().contains("fire"));

        let resp = client.get("/panic").await?;
        assert_eq!(resp.code(), 500);

        // The server keeps serving, on the same connection.
        let resp = client.get("/hello").await?;
        assert_eq!(resp.text(), "Hello, World!");
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn not_found_without_default_handler() {
    let srv = start(|| {
        let mut s = HttpServer::with_router(0, Default::default());
        s.get("/", |_req: HttpRequest| async { "root" });
        s
    });
    let port = srv.port;
    block_on(async move {
        let resp = HttpClient::query(&url(port, "/missing")).await?;
        assert_eq!(resp.code(), 404);
        let resp = HttpClient::query(&url(port, "/")).await?;
        assert_eq!(resp.text(), "root");
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn reconnects_when_the_server_closed_the_connection() {
    let srv = start(|| {
        let mut s = app();
        s.get("/bye", |_req: HttpRequest| async {
            HttpResponse::new(200)
                .with_header("Connection", "close")
                .with_body("bye")
        });
        s
    });
    let port = srv.port;
    block_on(async move {
        let mut client = HttpClient::new();
        client.connect("127.0.0.1", port, "http").await?;
        assert_eq!(client.get("/bye").await?.text(), "bye");
        assert_eq!(client.get("/hello").await?.text(), "Hello, World!");
        assert_eq!(client.connects(), 2);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn bad_urls_are_clear_errors() {
    block_on(async {
        let err = HttpClient::query("ftp://example.com/").await.unwrap_err();
        assert!(err.to_string().contains("unsupported URL scheme"), "{err}");
        let err = HttpClient::query("not a url").await.unwrap_err();
        assert!(err.to_string().contains("bad URL"), "{err}");
        let err = HttpClient::new().get("/relative").await.unwrap_err();
        assert!(err.to_string().contains("connect() first"), "{err}");
    });
}

#[test]
fn client_timeout_fires() {
    let srv = start(|| {
        HttpServer::new(0, |_req: HttpRequest| async {
            monocle_stack::util::sleep(std::time::Duration::from_secs(30)).await;
            "late"
        })
    });
    let port = srv.port;
    block_on(async move {
        let mut client = HttpClient::new();
        client.set_timeout(Some(std::time::Duration::from_millis(200)));
        let err = client.get(&url(port, "/")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(err.to_string().contains("timed out"), "{err}");
    });
}

#[test]
fn proxy_mode_sends_absolute_form_targets() {
    let srv = start(|| {
        HttpServer::new(0, |req: HttpRequest| async move {
            format!(
                "{} host={}",
                req.uri(),
                req.headers().get("host").unwrap_or("-")
            )
        })
    });
    let port = srv.port;
    block_on(async move {
        let mut client = HttpClient::new();
        client.set_proxy(Some(("127.0.0.1", port)));
        let resp = client.get("http://example.invalid:8080/path?q=1").await?;
        assert_eq!(
            resp.text(),
            "http://example.invalid:8080/path?q=1 host=example.invalid:8080"
        );
        io::Result::Ok(())
    })
    .unwrap();
}

/// With `tls`, https through a proxy is a CONNECT tunnel (tests/connect_proxy.rs).
#[cfg(not(feature = "tls"))]
#[test]
fn https_through_a_proxy_without_tls_is_refused_clearly() {
    block_on(async {
        let mut client = HttpClient::new();
        client.set_proxy(Some(("127.0.0.1", 9)));
        let err = client.get("https://example.invalid/").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains("`tls` feature"), "{err}");
    });
}

#[test]
fn client_reads_bodies_delimited_by_close_and_skips_interim_responses() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).unwrap();
        s.write_all(
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n\r\nuntil the end",
        )
        .unwrap();
    });
    block_on(async move {
        let resp = HttpClient::query(&url(port, "/")).await?;
        assert_eq!((resp.code(), &*resp.text()), (200, "until the end"));
        io::Result::Ok(())
    })
    .unwrap();
    server.join().unwrap();
}

/// Set if the handler ever got the body of the failing upload.
static PARTIAL_UPLOAD_SEEN: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Answers the request body back, 400 unless it came chunked with no length.
fn chunked_echo() -> HttpServer {
    let mut server = app();
    server.post("/upload", |req: HttpRequest| async move {
        if req.body().starts_with(b"first part") {
            PARTIAL_UPLOAD_SEEN.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let te = req.headers().get("transfer-encoding").map(str::to_owned);
        if te.as_deref() != Some("chunked") || req.headers().contains("content-length") {
            return HttpResponse::new(400).with_body(format!("framing: {te:?}"));
        }
        HttpResponse::new(200).with_body(req.into_body())
    });
    server
}

#[test]
fn client_streams_a_chunked_upload() {
    let srv = start(chunked_echo);
    let port = srv.port;
    // A bit over 1 MiB in uneven pieces (some empty, one large).
    let sizes = [
        1usize, 0, 7, 4093, 65_537, 0, 300_000, 3, 131_071, 548_000, 1,
    ];
    let total: usize = sizes.iter().sum();
    assert!(total > 1 << 20);
    let data: Vec<u8> = (0..total).map(|i| (i * 31 % 251) as u8).collect();
    let mut pieces = Vec::new();
    let mut at = 0;
    for n in sizes {
        pieces.push(Ok(data[at..at + n].to_vec()));
        at += n;
    }
    block_on(async move {
        let mut client = HttpClient::new();
        let resp = client
            .request_streaming(
                &url(port, "/upload"),
                HttpHeaders::new(),
                "POST",
                stream::iter(pieces),
            )
            .await?;
        assert_eq!(resp.code(), 200, "{}", resp.text());
        assert_eq!(resp.body().len(), Some(data.len()));
        assert!(
            resp.body().as_bytes() == Some(&data[..]),
            "the echoed body differs"
        );
        // The chunked body ended where it should: the connection is reused.
        assert_eq!(client.get("/hello").await?.text(), "Hello, World!");
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn failing_upload_stream_fails_the_request_and_is_not_taken_as_whole() {
    let srv = start(chunked_echo);
    let port = srv.port;
    let pieces = vec![
        Ok(b"first part".to_vec()),
        Err(io::Error::other("the disk went away")),
        Ok(b"never sent".to_vec()),
    ];
    let err = block_on(async move {
        let mut client = HttpClient::new();
        client
            .request_streaming(
                &url(port, "/upload"),
                HttpHeaders::new(),
                "POST",
                stream::iter(pieces),
            )
            .await
    })
    .unwrap_err();
    assert!(err.to_string().contains("the disk went away"), "{err}");
    // Once the server has closed the connection, the cut-short body has
    // reached no handler.
    let started = std::time::Instant::now();
    while srv.with_server(|s| s.active_connections()) > 0 {
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
    assert!(!PARTIAL_UPLOAD_SEEN.load(std::sync::atomic::Ordering::SeqCst));
}

/// A request whose head cannot be written is refused before anything goes
/// out, with `InvalidInput` saying why and quoting the target as it would
/// have gone out (in origin form for an absolute one, or to a proxy in
/// absolute form); the connection is kept and serves the next request.
#[test]
fn a_request_that_cannot_be_sent_says_why_and_keeps_the_connection() {
    let srv = start(app);
    let port = srv.port;
    let why = |target: &str, at: usize, what: &str, hex: &str| -> String {
        format!(
            "cannot send GET {target:?}: the target holds {what} at byte {at}, which no request \
             line can carry; percent-encode it (%{hex}); nothing was sent"
        )
    };
    block_on(async move {
        let with_host =
            |method: &str, target: &str| HttpRequest::new(method, target).with_header("Host", "x");
        let cases = [
            (
                with_host("GE T", "/"),
                "cannot send GE T \"/\": the method \"GE T\" is not a token (RFC 9110 §9.1); \
                 nothing was sent"
                    .to_owned(),
            ),
            (
                with_host("GET", ""),
                "cannot send GET \"\": the target is empty; nothing was sent".to_owned(),
            ),
            (with_host("GET", "/a b"), why("/a b", 2, "a space", "20")),
            (
                with_host("GET", "/caf\u{e9}"),
                why("/caf\u{e9}", 4, "the non-ASCII byte 0xc3", "C3"),
            ),
            (
                with_host("GET", "/x\x7f"),
                why("/x\x7f", 2, "the control byte 0x7f", "7F"),
            ),
            (
                with_host("GET", "/x\r\ny"),
                why("/x\r\ny", 2, "a carriage return (CR)", "0D"),
            ),
            // Sent in origin form: the path is what would have gone out.
            (
                HttpRequest::new("GET", "http://x/a\tb"),
                why("/a\tb", 2, "a tab", "09"),
            ),
            (
                HttpRequest::new("GET", "/"),
                "cannot send GET \"/\": HTTP/1.1 request without a host header; \
                 nothing was sent"
                    .to_owned(),
            ),
        ];
        let mut client = HttpClient::new();
        client.connect("127.0.0.1", port, "http").await?;
        assert_eq!(client.get("/hello").await?.text(), "Hello, World!");
        for (req, want) in cases {
            let err = client.send(&req).await.expect_err(&want);
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            assert_eq!(err.to_string(), want);
            assert!(client.is_connected(), "{want}");
        }
        assert_eq!(client.get("/hello").await?.text(), "Hello, World!");
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 1);
    block_on(async move {
        let with_host = |target: &str| HttpRequest::new("GET", target).with_header("Host", "x");
        // To a proxy the target goes out in absolute form (nothing reaches
        // this one, the test server).
        let mut client = HttpClient::new();
        client.set_proxy(Some(("127.0.0.1", port)));
        client.connect("x", 80, "http").await?;
        let err = client.send(&with_host("/a b")).await.unwrap_err();
        assert_eq!(err.to_string(), why("http://x/a b", 10, "a space", "20"));
        assert!(client.is_connected());
        io::Result::Ok(())
    })
    .unwrap();
}

/// A path given to a connected client goes out as the same path in a full
/// URL does, whether it is taken as it is (API paths, %-escapes) or has to
/// be encoded and resolved (spaces, non-ASCII, dot segments, a fragment).
#[test]
fn a_path_goes_out_as_in_a_full_url() {
    let srv = start(|| HttpServer::new(0, |req: HttpRequest| async move { req.uri().to_owned() }));
    let port = srv.port;
    block_on(async move {
        let mut client = HttpClient::new();
        client.connect("127.0.0.1", port, "http").await?;
        // The path, and the target it goes out as.
        let table = [
            (
                "/api/v1/items/42?sort=name&page=2",
                "/api/v1/items/42?sort=name&page=2",
            ),
            ("/a%20b/%2F?q=%C3%A9&r=%zz", "/a%20b/%2F?q=%C3%A9&r=%zz"),
            ("/.well-known/a.b?x=../y", "/.well-known/a.b?x=../y"),
            ("/x?", "/x?"),
            ("/kv/two words?q=a b", "/kv/two%20words?q=a%20b"),
            ("/caf\u{e9}", "/caf%C3%A9"),
            ("/a/./b/../c/%2e%2E/d", "/a/d"),
            ("/a?b#fragment", "/a?b"),
            ("/<x>?'y'", "/%3Cx%3E?%27y%27"),
        ];
        for (path, want) in table {
            assert_eq!(client.get(path).await?.text(), want, "{path:?}");
            let url = format!("http://127.0.0.1:{port}{path}");
            assert_eq!(client.get(&url).await?.text(), want, "{url:?}");
        }
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn post_and_query_with_send_method_headers_and_body() {
    let srv = start(|| {
        HttpServer::new(0, |req: HttpRequest| async move {
            format!(
                "{} {} {} {}",
                req.method(),
                req.path(),
                req.headers().get("x-note").unwrap_or("-"),
                String::from_utf8_lossy(req.body())
            )
        })
    });
    let port = srv.port;
    block_on(async move {
        let mut client = HttpClient::new();
        client.connect("127.0.0.1", port, "http").await?;
        let resp = client.post("/items", "first").await?;
        assert_eq!(resp.text(), "POST /items - first");
        let resp = client.post(&url(port, "/items"), Vec::new()).await?;
        assert_eq!(resp.text(), "POST /items - ");
        assert_eq!(client.connects(), 1);

        let mut headers = HttpHeaders::new();
        headers.add("X-Note", "once");
        let resp = HttpClient::query_with(&url(port, "/one"), headers, "PUT", "shot").await?;
        assert_eq!(resp.text(), "PUT /one once shot");
        io::Result::Ok(())
    })
    .unwrap();
    // The client's connection, then query_with's own.
    assert_eq!(srv.with_server(|s| s.connections_accepted()), 2);
}
