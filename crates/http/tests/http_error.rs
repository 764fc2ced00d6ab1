//! `HttpError` from handlers, through the server and the client over loopback:
//! what the client is sent, and what the server logs (captured through a
//! `log::Log` installed once for this test binary).

mod common;

use std::collections::BTreeMap;
use std::io;

use common::{capture, start};
use monocle_http::{HttpClient, HttpError, HttpHeaders, HttpRequest, HttpServer};
use monocle_stack::block_on;

/// The captured lines above info level that mention `needle`.
fn problems(needle: &str) -> Vec<String> {
    capture()
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| !l.starts_with("INFO ") && l.contains(needle))
        .cloned()
        .collect()
}

/// Stands for a backend call that fails with a detail the client must not see.
fn load_from_database(_key: &str) -> io::Result<Vec<u8>> {
    Err(io::Error::other("db at 10.1.2.3 refused user kv_admin"))
}

async fn double(req: HttpRequest) -> Result<String, HttpError> {
    let n: u32 = req
        .param("n")
        .unwrap_or_default()
        .parse()
        .map_err(|_| HttpError::bad_request("n must be a number\n"))?;
    Ok(format!("{}\n", u64::from(n) * 2))
}

async fn lookup(req: HttpRequest) -> Result<&'static str, HttpError> {
    let store = BTreeMap::from([("apple", "red\n")]);
    let key = req.param("key").unwrap_or_default();
    let value = store.get(key).ok_or(HttpError::not_found())?;
    Ok(value)
}

async fn from_database(req: HttpRequest) -> Result<Vec<u8>, HttpError> {
    Ok(load_from_database(req.param("key").unwrap_or_default())?)
}

async fn locked(req: HttpRequest) -> Result<&'static str, HttpError> {
    if req.basic_auth().is_none() {
        return Err(HttpError::unauthorized("Basic realm=\"test\"")
            .with_message("credentials needed\n")
            .with_header("X-Hint", "try admin"));
    }
    Ok("in\n")
}

async fn busy(_req: HttpRequest) -> HttpError {
    HttpError::new(503, "down for maintenance\n").with_header("Retry-After", 120)
}

async fn rejected(req: HttpRequest) -> Result<&'static str, HttpError> {
    let id = req.query_arg("id").unwrap_or_default();
    let parsed = id.parse::<u64>();
    parsed.map_err(|e| {
        HttpError::bad_request("bad id\n").with_cause(format_args!("id {id:?} from a test: {e}"))
    })?;
    Ok("fine\n")
}

fn app() -> HttpServer {
    let mut server = HttpServer::new(0, |_req: HttpRequest| async { (404, "no route\n") });
    server
        .get("/double/:n", double)
        .get("/kv/:key", lookup)
        .get("/db/:key", from_database)
        .put("/locked", locked)
        .get("/busy", busy)
        .get("/rejected", rejected);
    server
}

#[test]
fn client_errors_answer_with_their_status_body_and_headers() {
    let _ = capture();
    let srv = start(app);
    let port = srv.port;
    block_on(async move {
        let mut client = HttpClient::new();
        client.connect("127.0.0.1", port, "http").await?;

        let resp = client.get("/double/21").await?;
        assert_eq!((resp.code(), &*resp.text()), (200, "42\n"));

        let resp = client.get("/double/many").await?;
        assert_eq!((resp.code(), &*resp.text()), (400, "n must be a number\n"));
        assert_eq!(
            resp.headers().get("content-type"),
            Some("text/plain; charset=utf-8")
        );

        assert_eq!(client.get("/kv/apple").await?.text(), "red\n");
        let resp = client.get("/kv/cherry").await?;
        assert_eq!((resp.code(), &*resp.text()), (404, ""));

        let resp = client
            .request("/locked", HttpHeaders::new(), "PUT", "x")
            .await?;
        assert_eq!((resp.code(), &*resp.text()), (401, "credentials needed\n"));
        assert_eq!(
            resp.headers().get("www-authenticate"),
            Some("Basic realm=\"test\"")
        );
        assert_eq!(resp.headers().get("x-hint"), Some("try admin"));

        let resp = client.get("/busy").await?;
        assert_eq!(
            (resp.code(), &*resp.text()),
            (503, "down for maintenance\n")
        );
        assert_eq!(resp.headers().get("retry-after"), Some("120"));

        // Every answer on the one connection: an HttpError does not close it.
        assert_eq!(client.connects(), 1);
        io::Result::Ok(())
    })
    .unwrap();
    for path in ["/double/many", "/kv/cherry", "/locked", "/busy"] {
        assert_eq!(problems(path), Vec::<String>::new(), "{path} is not logged");
    }
}

#[test]
fn a_question_marked_error_is_a_500_logged_and_not_sent() {
    let _ = capture();
    let srv = start(app);
    let port = srv.port;
    let resp = block_on(async move {
        HttpClient::query(&format!("http://127.0.0.1:{port}/db/apple?from=test")).await
    })
    .unwrap();
    assert_eq!(resp.code(), 500);
    assert_eq!(resp.text(), "Internal Server Error");
    let all = format!("{:?}{}", resp.headers(), resp.text());
    assert!(!all.contains("10.1.2.3"), "the cause leaked: {all}");
    assert_eq!(
        problems("/db/apple"),
        [
            "ERROR [127.0.0.1] GET /db/apple?from=test: handler failed, answered 500: \
          db at 10.1.2.3 refused user kv_admin"
        ]
    );
}

#[test]
fn a_client_error_with_a_cause_is_logged_as_a_warning() {
    let _ = capture();
    let srv = start(app);
    let port = srv.port;
    let resp = block_on(async move {
        HttpClient::query(&format!("http://127.0.0.1:{port}/rejected?id=x7")).await
    })
    .unwrap();
    assert_eq!((resp.code(), &*resp.text()), (400, "bad id\n"));
    assert_eq!(
        problems("/rejected"),
        [
            "WARN [127.0.0.1] GET /rejected?id=x7: handler answered 400: \
          id \"x7\" from a test: invalid digit found in string"
        ]
    );
}
