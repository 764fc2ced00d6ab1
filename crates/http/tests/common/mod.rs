//! Shared test helpers: a server on a monocle loop in its own thread.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use monocle_http::HttpServer;
use monocle_stack::{Handle, Loops};

/// A server running on its own event loop thread.
pub struct TestServer {
    pub port: u16,
    pub loops: Loops,
}

impl TestServer {
    pub fn handle(&self) -> &Handle {
        self.loops.handle(0)
    }

    /// Runs `f` with the server on its loop and returns its result.
    pub fn with_server<T: Send + 'static>(
        &self,
        f: impl FnOnce(&HttpServer) -> T + Send + 'static,
    ) -> T {
        monocle_stack::block_on(
            self.handle()
                .spawn(move || async move { SERVER.with(|s| f(s.borrow().as_ref().unwrap())) }),
        )
        .unwrap()
    }
}

thread_local! {
    static SERVER: std::cell::RefCell<Option<HttpServer>> = const { std::cell::RefCell::new(None) };
}

/// Starts `make()` on a fresh loop, listening on 127.0.0.1 and a free port.
pub fn start(make: impl FnOnce() -> HttpServer + Send + 'static) -> TestServer {
    let loops = Loops::start(1).unwrap();
    let port = monocle_stack::block_on(loops.handle(0).spawn(move || async move {
        let mut server = make();
        server.bind_addr([127, 0, 0, 1]);
        SERVER.with(|s| *s.borrow_mut() = Some(server.clone()));
        server.start().unwrap().port()
    }))
    .unwrap();
    TestServer { port, loops }
}

/// A blocking raw connection with a read timeout that fails the test.
pub fn raw(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Sends `request` and reads until the server closes.
pub fn exchange_until_close(port: u16, request: &[u8]) -> String {
    let mut s = raw(port);
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one response (head + Content-Length body) from a raw stream.
pub fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            let len = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                read_more(s, buf);
            }
            let total = end + 4 + len;
            let text = String::from_utf8_lossy(&buf[..total]).into_owned();
            buf.drain(..total);
            return text;
        }
        read_more(s, buf);
    }
}

/// Reads what arrives next on `s` into `buf`; the peer closing fails the test.
pub fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 8192];
    let n = s.read(&mut chunk).unwrap();
    assert!(
        n > 0,
        "connection closed early; have {:?}",
        String::from_utf8_lossy(buf)
    );
    buf.extend_from_slice(&chunk[..n]);
}

/// Asserts that nothing has arrived on `s` yet.
pub fn assert_nothing_arrived(s: &mut TcpStream) {
    s.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    match s.read(&mut byte) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("expected nothing yet, got {other:?} {:?}", byte),
    }
    s.set_nonblocking(false).unwrap();
}

/// The start of an FNV-1a hash.
pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a (64 bits) over `bytes`, continuing from `hash`.
pub fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `len` pseudo-random bytes, different for each `seed`.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Reads until the peer closes (or resets after it closed); returns the text.
pub fn read_until_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !out.is_empty() => break,
            Err(e) => panic!("read failed: {e}; have {:?}", String::from_utf8_lossy(&out)),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The body of a whole response, after its head.
pub fn body_of(response: &str) -> &str {
    &response[response.find("\r\n\r\n").expect("a complete head") + 4..]
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The server of the current loop thread (call on the server's loop).
pub fn server() -> HttpServer {
    SERVER.with(|s| s.borrow().clone().unwrap())
}

/// A server config with a self-signed certificate for `localhost` made now,
/// and a client config that trusts exactly that certificate.
#[cfg(feature = "tls")]
pub fn tls_configs() -> (
    std::sync::Arc<monocle_network::tls::rustls::ServerConfig>,
    std::sync::Arc<monocle_network::tls::rustls::ClientConfig>,
) {
    use monocle_network::tls::rustls;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der());
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key.into())
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (std::sync::Arc::new(server), std::sync::Arc::new(client))
}

/// Keeps every info-or-worse record of monocle-http.
pub struct Capture {
    /// The captured records, `LEVEL message` each.
    pub lines: Mutex<Vec<String>>,
}

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) && record.target().starts_with("monocle_http") {
            self.lines
                .lock()
                .unwrap()
                .push(format!("{} {}", record.level(), record.args()));
        }
    }

    fn flush(&self) {}
}

/// The capturing logger, installed on first use.
pub fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture {
            lines: Mutex::new(Vec::new()),
        }));
        log::set_logger(capture).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Info);
        capture
    })
}

/// A raw server on loopback for one client connection: for each request head
/// it reads (the requests have no body) it writes the next reply, as given
/// (the client may stop reading part way); once all are written it reads
/// until the client closes. Returns the request heads it read, without their
/// final blank line.
pub fn replying_server(replies: Vec<Vec<u8>>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut heads = Vec::new();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        for reply in replies {
            let end = loop {
                if let Some(end) = find(&buf, b"\r\n\r\n") {
                    break end;
                }
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return heads,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            heads.push(String::from_utf8_lossy(&buf[..end]).into_owned());
            buf.drain(..end + 4);
            let _ = s.write_all(&reply);
        }
        while matches!(s.read(&mut chunk), Ok(n) if n > 0) {}
        heads
    });
    (port, server)
}
