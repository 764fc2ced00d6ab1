//! A small key-value service and a client that exercises it, in one process.
//!
//! The server keeps its store in an `Rc<RefCell<..>>` shared by the handlers
//! of one loop: each route's async closure owns a clone, and each request
//! borrows it. `PUT` and `DELETE` need Basic credentials and report what they
//! did on a channel to an audit o-routine, which resolves a `Callback` with
//! its tally when the channel closes. Handlers that can refuse a request
//! return `Result<_, HttpError>` and use `?`: a refusal answers with its own
//! status, any other error is a 500 whose text only the server's log sees.
//! The client o-routine calls every route, checks the answers, stops the
//! server gracefully and ends the program.
//!
//! ```sh
//! cargo run --example kv_store
//! ```
//!
//! One `ERROR ... handler failed, answered 500` line is expected: it is the
//! server logging the handler error that the client provokes on purpose.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monocle::experimental::Channel;
use monocle::stack::network::http::{
    basic_auth, HttpClient, HttpError, HttpHeaders, HttpRequest, HttpResponse, HttpServer, Regex,
    ServerConfig,
};
use monocle::util::{sleep, timeout};
use monocle::Callback;

/// The store, shared by every handler of the loop.
type Store = Rc<RefCell<BTreeMap<String, Vec<u8>>>>;

/// What the audit o-routine is told about each change.
#[derive(Debug)]
enum Change {
    Put(String),
    Delete(String),
}

/// What the audit o-routine hands back when the channel closes.
#[derive(Debug, Clone, Default, PartialEq)]
struct Tally {
    puts: usize,
    deletes: usize,
}

const USER: &str = "admin";
const PASSWORD: &str = "s3cret";

/// Lets a request with the right Basic credentials through; `?` turns the
/// refusal into a 401 answer with its challenge.
fn authorize(req: &HttpRequest) -> Result<(), HttpError> {
    match req.basic_auth() {
        Some((user, password)) if user == USER && password == PASSWORD => Ok(()),
        _ => {
            Err(HttpError::unauthorized("Basic realm=\"kv\"").with_message("credentials needed\n"))
        }
    }
}

/// The key of a `/kv/:key` route.
fn key_of(req: &HttpRequest) -> String {
    req.param("key").unwrap_or_default().to_owned()
}

/// Builds the server: routes, fallback, configuration.
fn kv_server(store: Store, audit: Channel<Change>) -> HttpServer {
    // Unmatched paths get this default handler.
    let mut server = HttpServer::new(0, |req: HttpRequest| async move {
        (
            404,
            format!("no route for {} {}\n", req.method(), req.path()),
        )
    });
    server.bind_addr([127, 0, 0, 1]);
    let mut config = ServerConfig::new();
    config.drain_timeout(Duration::from_secs(2));
    server.set_config(config);

    // GET /kv?prefix=a: the keys, one a line.
    server.get("/kv", {
        let store = store.clone();
        async move |req: HttpRequest| {
            let prefix = req.query_arg("prefix").unwrap_or("");
            let keys: Vec<String> = store
                .borrow()
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            let mut headers = HttpHeaders::new();
            headers.set("X-Key-Count", keys.len());
            let body: String = keys.iter().map(|k| format!("{k}\n")).collect();
            (200, headers, body)
        }
    });

    // GET /kv/:key: the value, or 404 (`None`).
    server.get("/kv/:key", {
        let store = store.clone();
        async move |req: HttpRequest| {
            let value = store.borrow().get(&key_of(&req)).cloned()?;
            Some(
                HttpResponse::new(200)
                    .with_header("Content-Type", "application/octet-stream")
                    .with_header("X-Value-Length", value.len())
                    .with_body(value),
            )
        }
    });

    // PUT /kv/:key: stores the body; 201 when new, 204 when replaced.
    server.put("/kv/:key", {
        let (store, audit) = (store.clone(), audit.clone());
        async move |req: HttpRequest| {
            authorize(&req)?;
            let key = key_of(&req);
            let old = store.borrow_mut().insert(key.clone(), req.into_body());
            // Rendezvous: waits until the auditor has taken it.
            let _ = audit.send(Change::Put(key)).await;
            Ok::<_, HttpError>(if old.is_some() { 204 } else { 201 })
        }
    });

    // DELETE /kv/:key: 204, or 404 when absent.
    server.delete("/kv/:key", {
        let (store, audit) = (store.clone(), audit.clone());
        async move |req: HttpRequest| {
            authorize(&req)?;
            let key = key_of(&req);
            store
                .borrow_mut()
                .remove(&key)
                .ok_or(HttpError::not_found())?;
            let _ = audit.send(Change::Delete(key)).await;
            Ok::<_, HttpError>(204)
        }
    });

    // POST /kv/:key/incr?by=N: adds N (default 1) to a decimal value. A bad
    // `by` is the client's mistake: 400, saying so. A stored value that is not
    // a number is the handler's error: `?` makes it a 500, and the error goes
    // to the server's log, not to the client.
    server.post("/kv/:key/incr", {
        let store = store.clone();
        async move |req: HttpRequest| {
            let by: i64 = match req.query_arg("by") {
                None => 1,
                Some(by) => by
                    .parse()
                    .map_err(|_| HttpError::bad_request("by must be a whole number\n"))?,
            };
            let key = key_of(&req);
            let mut store = store.borrow_mut();
            let value = store.get_mut(&key).ok_or(HttpError::not_found())?;
            let n: i64 = std::str::from_utf8(value)?.trim().parse()?;
            let n = n.checked_add(by).ok_or(HttpError::conflict("overflow\n"))?;
            *value = n.to_string().into_bytes();
            Ok::<_, HttpError>(format!("{n}\n"))
        }
    });

    // A regex route: GET /len/12 lists the keys whose value is 12 bytes long.
    server.get(Regex::new(r"^/len/(?P<n>[0-9]{1,6})$").unwrap(), {
        let store = store.clone();
        async move |req: HttpRequest| {
            let n: usize = req.param("n").unwrap_or_default().parse().unwrap_or(0);
            let keys: Vec<String> = store
                .borrow()
                .iter()
                .filter(|(_, v)| v.len() == n)
                .map(|(k, _)| k.clone())
                .collect();
            keys.join(",")
        }
    });

    // GET /export: every pair as `key=value` lines, streamed (length not known
    // in advance) from an o-routine that feeds a channel, one line a tick.
    let s = store.clone();
    server.get("/export", move |_req: HttpRequest| {
        let snapshot: Vec<(String, Vec<u8>)> = s
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        async move {
            let lines: Channel<io::Result<Vec<u8>>> = Channel::new(1);
            let tx = lines.clone();
            monocle::launch(async move {
                for (k, v) in snapshot {
                    let mut line = format!("{k}=").into_bytes();
                    line.extend_from_slice(&v);
                    line.push(b'\n');
                    if tx.send(Ok(line)).await.is_err() {
                        return; // the client went away
                    }
                    sleep(Duration::from_millis(2)).await;
                }
                tx.close();
            });
            HttpResponse::new(200)
                .with_header("Content-Type", "text/plain")
                .with_stream(lines.stream())
        }
    });

    // GET /whoami: what the request says about its sender.
    server.get("/whoami", |req: HttpRequest| async move {
        let user = req.basic_auth().map(|(u, _)| u).unwrap_or("-".into());
        let session = req.cookie("session").unwrap_or("-");
        let theme = req.cookie("theme").unwrap_or("-");
        format!("user={user} session={session} theme={theme}\n")
    });

    // GET /slow: answers after 300 ms, for the client's timeout.
    server.get("/slow", |_req: HttpRequest| async {
        sleep(Duration::from_millis(300)).await;
        "finally\n"
    });

    server
}

/// Tallies the changes until the channel closes, then resolves `done`.
async fn auditor(changes: Channel<Change>, done: Callback<Tally>) {
    let mut tally = Tally::default();
    while let Ok(change) = changes.recv().await {
        match change {
            Change::Put(key) => {
                log::info!("audit: put {key}");
                tally.puts += 1;
            }
            Change::Delete(key) => {
                log::info!("audit: delete {key}");
                tally.deletes += 1;
            }
        }
    }
    done.resolve(tally).expect("resolved once");
}

fn auth_headers() -> HttpHeaders {
    let auth = basic_auth(USER, PASSWORD).expect("the user-id has no colon");
    HttpHeaders::from([("Authorization", auth)])
}

/// Calls every route over one kept-alive connection and checks the answers.
async fn exercise(port: u16) -> io::Result<()> {
    let mut client = HttpClient::new();
    client.set_timeout(Some(Duration::from_secs(5)));
    client.connect("127.0.0.1", port, "http").await?;

    // PUT: without credentials, then with them; new and replaced keys.
    let resp = client
        .request("/kv/apple", HttpHeaders::new(), "PUT", "red")
        .await?;
    assert_eq!(resp.code(), 401);
    assert_eq!(
        resp.headers().get("www-authenticate"),
        Some("Basic realm=\"kv\"")
    );
    for (key, value) in [
        ("apple", "red"),
        ("avocado", "green"),
        ("banana", "yellow"),
        ("count", "41"),
    ] {
        let resp = client
            .request(&format!("/kv/{key}"), auth_headers(), "PUT", value)
            .await?;
        assert_eq!(resp.code(), 201, "PUT {key}");
    }
    let resp = client
        .request("/kv/apple", auth_headers(), "PUT", "green")
        .await?;
    assert_eq!(resp.code(), 204);

    // GET one key, a missing key, a key with an encoded space.
    let resp = client.get("/kv/apple").await?;
    assert_eq!((resp.code(), &*resp.text()), (200, "green"));
    assert_eq!(resp.headers().get("x-value-length"), Some("5"));
    assert_eq!(
        resp.headers().get("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(client.get("/kv/cherry").await?.code(), 404);
    let resp = client
        .request("/kv/two%20words", auth_headers(), "PUT", "x")
        .await?;
    assert_eq!(resp.code(), 201);
    assert_eq!(client.get("/kv/two%20words").await?.text(), "x");

    // The listing, whole and by prefix.
    let resp = client.get("/kv").await?;
    assert_eq!(resp.text(), "apple\navocado\nbanana\ncount\ntwo words\n");
    assert_eq!(resp.headers().get("x-key-count"), Some("5"));
    let resp = client.get("/kv?prefix=a").await?;
    assert_eq!(resp.text(), "apple\navocado\n");
    assert_eq!(
        resp.headers().get("content-type"),
        Some("text/plain; charset=utf-8")
    );

    // The regex route.
    assert_eq!(client.get("/len/5").await?.text(), "apple,avocado");
    assert_eq!(client.get("/len/x").await?.code(), 404); // fallback

    // An `HttpError` answers with its status and message; any other error
    // `?` meets is a 500 whose text stays in the server's log.
    let resp = client
        .request("/kv/count/incr", HttpHeaders::new(), "POST", "")
        .await?;
    assert_eq!((resp.code(), &*resp.text()), (200, "42\n"));
    let resp = client
        .request("/kv/count/incr?by=lots", HttpHeaders::new(), "POST", "")
        .await?;
    assert_eq!(
        (resp.code(), &*resp.text()),
        (400, "by must be a whole number\n")
    );
    let resp = client
        .request("/kv/cherry/incr", HttpHeaders::new(), "POST", "")
        .await?;
    assert_eq!(resp.code(), 404);
    let resp = client
        .request("/kv/banana/incr", HttpHeaders::new(), "POST", "")
        .await?;
    assert_eq!((resp.code(), &*resp.text()), (500, "Internal Server Error"));
    assert!(!resp.text().contains("invalid digit"), "error text leaked");

    // Wrong method on a routed path, and the fallback.
    let resp = client
        .request("/kv", HttpHeaders::new(), "DELETE", "")
        .await?;
    assert_eq!(resp.code(), 405);
    assert_eq!(resp.headers().get("allow"), Some("GET, HEAD"));
    let resp = client.get("/nowhere").await?;
    assert_eq!(
        (resp.code(), &*resp.text()),
        (404, "no route for GET /nowhere\n")
    );

    // Cookies and Basic credentials, read by the handler.
    let mut headers = auth_headers();
    headers.add("Cookie", "session=abc123; theme=\"dark\"");
    let resp = client.request("/whoami", headers, "GET", "").await?;
    assert_eq!(resp.text(), "user=admin session=abc123 theme=dark\n");

    // The streamed export: chunked, no Content-Length.
    let resp = client.get("/export").await?;
    assert_eq!(resp.code(), 200);
    assert_eq!(resp.headers().get("transfer-encoding"), Some("chunked"));
    assert!(resp.headers().get("content-length").is_none());
    assert_eq!(
        resp.text(),
        "apple=green\navocado=green\nbanana=yellow\ncount=42\ntwo words=x\n"
    );

    // DELETE, then the key is gone; deleting it again is 404.
    let resp = client
        .request("/kv/avocado", auth_headers(), "DELETE", "")
        .await?;
    assert_eq!(resp.code(), 204);
    assert_eq!(client.get("/kv/avocado").await?.code(), 404);
    let resp = client
        .request("/kv/avocado", auth_headers(), "DELETE", "")
        .await?;
    assert_eq!(resp.code(), 404);

    // All of that on one connection.
    assert_eq!(client.connects(), 1, "keep-alive");

    // A one-shot query on a connection of its own.
    let url = format!("http://127.0.0.1:{port}/kv?prefix=b");
    let resp = HttpClient::query(&url).await?;
    assert_eq!(resp.text(), "banana\n");

    // The client's own timeout, and the loop's `timeout` around a request.
    let mut impatient = HttpClient::new();
    impatient.set_timeout(Some(Duration::from_millis(50)));
    let started = Instant::now();
    let err = impatient
        .get(&format!("http://127.0.0.1:{port}/slow"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(started.elapsed() < Duration::from_millis(250));
    let late = timeout(Duration::from_millis(50), client.get("/slow")).await;
    assert!(late.is_err(), "the loop's timeout fires first");
    // Dropping the request part way closed its connection: the next request
    // opens a new one and gets its own answer, not the late one.
    assert!(!client.is_connected());
    let resp = timeout(Duration::from_secs(2), client.get("/kv/apple"))
        .await
        .expect("in time")?;
    assert_eq!(resp.text(), "green");

    Ok(())
}

fn main() -> io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();

    monocle::block_on(async {
        let store: Store = Rc::default();
        let audit = Channel::new(0);
        let tally = Callback::new();
        let auditing = monocle::launch(auditor(audit.clone(), tally.clone()));

        let server = kv_server(store.clone(), audit.clone());
        let handle = server.start()?;
        println!("serving on 127.0.0.1:{}", handle.port());

        // The client runs as its own o-routine; awaiting its handle brings
        // back its result (and its panic, should an assertion fail).
        let port = handle.port();
        let outcome = monocle::launch(exercise(port)).await;

        // Stop gracefully, then close the audit channel and read the tally.
        server.stop().await;
        assert_eq!(server.active_connections(), 0);
        audit.close();
        let tally = tally.await;
        auditing.await;
        outcome?;
        assert_eq!(
            tally,
            Tally {
                puts: 6,
                deletes: 1
            }
        );
        assert_eq!(store.borrow().len(), 4);
        println!("all checks passed: {tally:?}");
        Ok(())
    })
}
