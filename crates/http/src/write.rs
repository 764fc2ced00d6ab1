//! Writing response heads, for the server, into a reusable buffer; request
//! heads, for the client, are written by `write_request.rs`.

use std::cell::RefCell;

use crate::date;
use crate::headers::KnownField;
use crate::parse::{BodyFraming, RequestHead};
use crate::response::{Body, HttpResponse};
use crate::status::status_has_no_body;
use crate::version::Version;

/// The `Server` and `User-Agent` value: `monocle/` and this crate's version.
pub const SERVER: &str = concat!("monocle/", env!("CARGO_PKG_VERSION"));

/// The interim response a server sends to a request with `Expect: 100-continue`
/// before reading its body.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the request being answered decides about the response head.
///
/// # Examples
///
/// ```
/// use monocle_http::{parse_request_head, Limits, ResponseContext, Version};
///
/// let head = parse_request_head(b"HEAD / HTTP/1.0\r\n\r\n", &Limits::default())?.unwrap();
/// assert_eq!(
///     ResponseContext::from_head(&head),
///     ResponseContext::new(Version::Http10, "HEAD", false)
/// );
/// # Ok::<(), monocle_http::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseContext {
    version: Version,
    head: bool,
    connect: bool,
    keep_alive: bool,
}

impl ResponseContext {
    /// The context for a request of this version and method, on a connection the
    /// server would keep open (`keep_alive`) if the response allows. Methods are
    /// case-sensitive (RFC 9110 §9.1): `HEAD`, and a 2xx to `CONNECT` (which
    /// also closes), get a response without a body.
    pub fn new(version: Version, method: &str, keep_alive: bool) -> Self {
        ResponseContext {
            version,
            head: method == "HEAD",
            connect: method == "CONNECT",
            keep_alive,
        }
    }

    /// The context for a parsed request.
    pub fn from_head(head: &RequestHead) -> Self {
        ResponseContext::new(head.version(), head.method(), head.keep_alive())
    }

    /// The same context on a connection that closes after the response.
    pub(crate) fn to_closing(self) -> Self {
        ResponseContext {
            keep_alive: false,
            ..self
        }
    }

    /// The context for an answer that ends the connection, such as the 400 to a
    /// request that could not be parsed.
    pub fn closing() -> Self {
        ResponseContext {
            version: Version::Http11,
            head: false,
            connect: false,
            keep_alive: false,
        }
    }
}

/// What [`write_response_head`] decided: how to send the body and whether the
/// connection stays open afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenHead {
    framing: BodyFraming,
    keep_alive: bool,
}

impl WrittenHead {
    /// How to send the body after the head:
    ///
    /// * [`Empty`](BodyFraming::Empty): send nothing (HEAD, 1xx, 204, 304); drop a stream unread.
    /// * [`Length(n)`](BodyFraming::Length): send the bytes as they are; for a
    ///   stream, exactly `n` bytes (the handler's `Content-Length`), else close.
    /// * [`Chunked`](BodyFraming::Chunked): send each stream item with
    ///   [`encode_chunk`](crate::encode_chunk), then [`LAST_CHUNK`](crate::LAST_CHUNK).
    /// * [`UntilClose`](BodyFraming::UntilClose): send the stream as is, then close.
    pub fn framing(&self) -> BodyFraming {
        self.framing
    }

    /// Whether the connection may serve another request after this response.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }
}

/// Appends `n` in decimal (the head's numbers, without `fmt`'s machinery).
fn push_decimal(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Appends the status line and headers of `resp` to `buf`, ending with the
/// blank line, and says how to send the body.
///
/// The writer owns the framing headers: a handler's `Transfer-Encoding` and
/// `Connection` are dropped and written as decided here, and `Content-Length`
/// is always the length of an in-memory body (a handler's value is kept only for
/// a stream, or for an empty body answering HEAD). It adds `Server:
/// monocle/VERSION` and an IMF-fixdate `Date` unless the handler set them.
///
/// * 1xx, 204, 304: no body and no `Content-Length`.
/// * 2xx to CONNECT: no body, no `Content-Length` or `Transfer-Encoding`
///   (RFC 9110 §9.3.6), and the connection closes after the head, as the
///   server does not tunnel: the client takes what follows for tunnel data.
/// * In-memory body: `Content-Length`.
/// * Stream: its `Content-Length` if the handler gave a valid one, else
///   `Transfer-Encoding: chunked` to an HTTP/1.1 client, else (HTTP/1.0) a body
///   delimited by closing the connection.
/// * HEAD: the same headers as for GET, no body.
/// * `Connection: close` when the connection will close (the request asked,
///   the handler set `Connection: close`, or the body runs until close);
///   `Connection: keep-alive` when an HTTP/1.0 client's connection stays open.
///
/// Allocates only if `buf` must grow; keep `buf` per connection and `clear` it.
///
/// # Examples
///
/// ```
/// use monocle_http::{write_response_head, BodyFraming, HttpResponse, ResponseContext, Version};
///
/// let resp = HttpResponse::new(200).with_body("Hello, World!");
/// let mut buf = Vec::new();
/// let written = write_response_head(&resp, &ResponseContext::new(Version::Http11, "GET", true), &mut buf);
/// assert_eq!(written.framing(), BodyFraming::Length(13));
/// assert!(written.keep_alive());
/// let text = String::from_utf8(buf).unwrap();
/// assert!(text.starts_with("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"));
/// assert!(text.contains("\r\nServer: monocle/"));
/// assert!(text.ends_with(" GMT\r\n\r\n"));
/// ```
pub fn write_response_head(
    resp: &HttpResponse,
    ctx: &ResponseContext,
    buf: &mut Vec<u8>,
) -> WrittenHead {
    let code = resp.code();
    let headers = resp.headers();
    // One look at the handler's fields for those the writer owns or adds;
    // the lookups below run only for fields that are there.
    let (mut has_server, mut has_date, mut has_owned) = (false, false, false);
    for (name, _) in headers.iter_bytes() {
        match KnownField::of(name) {
            Some(KnownField::Server) => has_server = true,
            Some(KnownField::Date) => has_date = true,
            field => has_owned |= writer_owns(field),
        }
    }
    let handler_close = has_owned && headers.has_token("connection", "close");
    let handler_length = has_owned
        .then(|| headers.get("content-length"))
        .flatten()
        .and_then(|v| {
            v.parse::<u64>()
                .ok()
                .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
        });

    if code == 200 && resp.version() == Version::Http11 && resp.has_standard_reason() {
        // The usual status line, in one copy.
        buf.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        // The code is 100..=999 (HttpResponse's invariant): three digits.
        let digits = [
            b'0' + (code / 100 % 10) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
            b' ',
        ];
        buf.extend_from_slice(resp.version().as_str().as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(&digits);
        buf.extend_from_slice(resp.wire_reason().as_bytes());
        buf.extend_from_slice(b"\r\n");
    }

    let tunnel = ctx.connect && (200..300).contains(&code);
    let (framing, length_header) = if status_has_no_body(code) || tunnel {
        (BodyFraming::Empty, None)
    } else {
        match resp.body() {
            Body::Full(b) if ctx.head && b.is_empty() => {
                (BodyFraming::Empty, handler_length.or(Some(0)))
            }
            Body::Full(b) => (BodyFraming::Length(b.len() as u64), Some(b.len() as u64)),
            Body::Stream(_) => match handler_length {
                Some(n) => (BodyFraming::Length(n), Some(n)),
                None if ctx.version == Version::Http11 => (BodyFraming::Chunked, None),
                None => (BodyFraming::UntilClose, None),
            },
        }
    };
    match length_header {
        Some(n) => {
            buf.extend_from_slice(b"Content-Length: ");
            push_decimal(buf, n);
            buf.extend_from_slice(b"\r\n");
        }
        None if framing == BodyFraming::Chunked => {
            buf.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
        None => {}
    }
    let framing = if ctx.head {
        BodyFraming::Empty
    } else {
        framing
    };
    let keep_alive =
        ctx.keep_alive && !handler_close && !tunnel && framing != BodyFraming::UntilClose;

    for (name, value) in headers.iter_bytes() {
        if has_owned && writer_owns(KnownField::of(name)) {
            continue;
        }
        write_header(buf, name, value);
    }
    match (has_server, has_date) {
        (false, false) => write_server_and_date(buf),
        (has_server, has_date) => {
            if !has_server {
                write_header(buf, "Server", SERVER);
            }
            if !has_date {
                buf.extend_from_slice(b"Date: ");
                date::write_now(buf);
                buf.extend_from_slice(b"\r\n");
            }
        }
    }
    if !keep_alive {
        buf.extend_from_slice(b"Connection: close\r\n");
    } else if ctx.version == Version::Http10 {
        buf.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    buf.extend_from_slice(b"\r\n");
    WrittenHead {
        framing,
        keep_alive,
    }
}

/// Whether the writer decides this field itself (framing and connection),
/// dropping a handler's.
fn writer_owns(field: Option<KnownField>) -> bool {
    matches!(
        field,
        Some(KnownField::Connection | KnownField::ContentLength | KnownField::TransferEncoding)
    )
}

/// Appends `Server: monocle/VERSION` and `Date: now` in one copy of a line
/// pair formatted at most once per second per thread.
fn write_server_and_date(buf: &mut Vec<u8>) {
    const PREFIX: &[u8] =
        concat!("Server: monocle/", env!("CARGO_PKG_VERSION"), "\r\nDate: ").as_bytes();
    const LEN: usize = PREFIX.len() + date::LEN + 2;
    thread_local! {
        static LINES: RefCell<(u64, [u8; LEN])> = const { RefCell::new((u64::MAX, [0; LEN])) };
    }
    let now = date::now_secs();
    LINES.with_borrow_mut(|(secs, lines)| {
        if *secs != now {
            *secs = now;
            lines[..PREFIX.len()].copy_from_slice(PREFIX);
            lines[PREFIX.len()..LEN - 2].copy_from_slice(&date::format_secs(now));
            lines[LEN - 2..].copy_from_slice(b"\r\n");
        }
        buf.extend_from_slice(lines);
    });
}

pub(crate) fn write_header(buf: &mut Vec<u8>, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
    buf.extend_from_slice(name.as_ref());
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(value.as_ref());
    buf.extend_from_slice(b"\r\n");
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // test tables
mod tests {
    use super::*;
    use crate::headers::HttpHeaders;
    use crate::limits::Limits;
    use crate::parse::parse_response_head;

    /// Writes the head, then checks it parses back and returns its lines
    /// without `Date` (which changes).
    fn write(resp: &HttpResponse, ctx: ResponseContext) -> (Vec<String>, WrittenHead) {
        let mut buf = b"leftover".to_vec();
        buf.clear();
        let written = write_response_head(resp, &ctx, &mut buf);
        let method = match (ctx.head, ctx.connect) {
            (true, _) => "HEAD",
            (_, true) => "CONNECT",
            _ => "GET",
        };
        let head = parse_response_head(&buf, method, &Limits::default())
            .expect("our own head parses")
            .expect("complete");
        assert_eq!(head.len(), buf.len());
        let text = String::from_utf8(buf).unwrap();
        let lines = text
            .split("\r\n")
            .filter(|l| !l.starts_with("Date: ") && !l.is_empty())
            .map(str::to_owned)
            .collect();
        (lines, written)
    }

    fn ctx11() -> ResponseContext {
        ResponseContext::new(Version::Http11, "GET", true)
    }

    fn stream() -> Body {
        Body::from_stream(futures_lite::stream::iter(vec![Ok(b"x".to_vec())]))
    }

    #[test]
    fn decimals_are_written_exactly() {
        for n in [0u64, 7, 10, 99, 100, 404, 65_535, 1 << 32, u64::MAX] {
            let mut buf = Vec::new();
            push_decimal(&mut buf, n);
            assert_eq!(buf, n.to_string().into_bytes());
        }
    }

    #[test]
    fn hello_with_monocle_headers() {
        let content = "Hello, World!";
        let mut headers = HttpHeaders::new();
        headers.set("Content-Length", content.len());
        headers.set("Content-Type", "text/plain");
        let resp = HttpResponse::new(200)
            .with_headers(headers)
            .with_body(content);
        let (lines, written) = write(&resp, ctx11());
        assert_eq!(
            lines,
            [
                "HTTP/1.1 200 OK",
                "Content-Length: 13",
                "Content-Type: text/plain",
                &format!("Server: {SERVER}"),
            ]
        );
        assert_eq!(written.framing(), BodyFraming::Length(13));
        assert!(written.keep_alive());
    }

    #[test]
    fn status_lines() {
        let line = |resp: HttpResponse| write(&resp, ctx11()).0[0].clone();
        assert_eq!(line(HttpResponse::new(200)), "HTTP/1.1 200 OK");
        assert_eq!(line(HttpResponse::new(201)), "HTTP/1.1 201 Created");
        assert_eq!(line(HttpResponse::new(299)), "HTTP/1.1 299 ");
        let fine = HttpResponse::new(200).with_reason("Fine");
        assert_eq!(line(fine), "HTTP/1.1 200 Fine");
        let split = HttpResponse::new(200).with_reason("A\r\nX: y");
        assert_eq!(line(split), "HTTP/1.1 200 OK");
        let old = HttpResponse::new(200).with_version(Version::Http10);
        assert_eq!(line(old), "HTTP/1.0 200 OK");
    }

    #[test]
    fn framing_table() {
        let s = SERVER;
        let http10_ka = ResponseContext::new(Version::Http10, "GET", true);
        let http10 = ResponseContext::new(Version::Http10, "GET", false);
        let head = ResponseContext::new(Version::Http11, "HEAD", true);
        let connect = ResponseContext::new(Version::Http11, "CONNECT", true);
        let table: Vec<(
            &str,
            HttpResponse,
            ResponseContext,
            Vec<String>,
            BodyFraming,
            bool,
        )> = vec![
            (
                "wrong content-length is corrected",
                HttpResponse::new(200)
                    .with_header("Content-Length", 99)
                    .with_body("abc"),
                ctx11(),
                vec![
                    "HTTP/1.1 200 OK".into(),
                    "Content-Length: 3".into(),
                    format!("Server: {s}"),
                ],
                BodyFraming::Length(3),
                true,
            ),
            (
                "empty body",
                HttpResponse::new(200),
                ctx11(),
                vec![
                    "HTTP/1.1 200 OK".into(),
                    "Content-Length: 0".into(),
                    format!("Server: {s}"),
                ],
                BodyFraming::Length(0),
                true,
            ),
            (
                "a 2xx to CONNECT has no framing and closes",
                HttpResponse::new(200).with_body("not for a tunnel"),
                connect,
                vec![
                    "HTTP/1.1 200 OK".into(),
                    format!("Server: {s}"),
                    "Connection: close".into(),
                ],
                BodyFraming::Empty,
                false,
            ),
            (
                "a stream to CONNECT too",
                HttpResponse::new(200).with_body(stream()),
                connect,
                vec![
                    "HTTP/1.1 200 OK".into(),
                    format!("Server: {s}"),
                    "Connection: close".into(),
                ],
                BodyFraming::Empty,
                false,
            ),
            (
                "a refusal of CONNECT is framed",
                HttpResponse::new(407).with_body("no"),
                connect,
                vec![
                    "HTTP/1.1 407 Proxy Authentication Required".into(),
                    "Content-Length: 2".into(),
                    format!("Server: {s}"),
                ],
                BodyFraming::Length(2),
                true,
            ),
            (
                "connect is not CONNECT",
                HttpResponse::new(200).with_body("abc"),
                ResponseContext::new(Version::Http11, "connect", true),
                vec![
                    "HTTP/1.1 200 OK".into(),
                    "Content-Length: 3".into(),
                    format!("Server: {s}"),
                ],
                BodyFraming::Length(3),
                true,
            ),
            (
                "204 has no length",
                HttpResponse::new(204).with_body("ignored"),
                ctx11(),
                vec!["HTTP/1.1 204 No Content".into(), format!("Server: {s}")],
                BodyFraming::Empty,
                true,
            ),
            (
                "304 has no length",
                HttpResponse::new(304),
                ctx11(),
                vec!["HTTP/1.1 304 Not Modified".into(), format!("Server: {s}")],
                BodyFraming::Empty,
                true,
            ),
            (
                "stream is chunked for 1.1",
                HttpResponse::new(200)
                    .with_body(stream())
                    .with_header("Transfer-Encoding", "gzip"),
                ctx11(),
                vec![
                    "HTTP/1.1 200 OK".into(),
                    "Transfer-Encoding: chunked".into(),
                    format!("Server: {s}"),
                ],
                BodyFraming::Chunked,
                true,
            ),
            (
                "stream with a length",
                HttpResponse::new(200)
                    .with_header("Content-Length", 1)
                    .with_body(stream()),
                ctx11(),
                vec![
                    "HTTP/1.1 200 OK".into(),
                    "Content-Length: 1".into(),
                    format!("Server: {s}"),
                ],
                BodyFraming::Length(1),
                true,
            ),
            (
                "stream to 1.0 runs until close",
                HttpResponse::new(200).with_body(stream()),
                http10_ka,
                vec![
                    "HTTP/1.1 200 OK".into(),
                    format!("Server: {s}"),
                    "Connection: close".into(),
                ],
                BodyFraming::UntilClose,
                false,
            ),
            (
                "1.0 keep-alive is confirmed",
                HttpResponse::new(200).with_body("a"),
                http10_ka,
                vec![
                    "HTTP/1.1 200 OK".into(),
                    "Content-Length: 1".into(),
                    format!("Server: {s}"),
                    "Connection: keep-alive".into(),
                ],
                BodyFraming::Length(1),
                true,
            ),
            (
                "1.0 without keep-alive closes",
                HttpResponse::new(200).with_body("a"),
                http10,
                vec![
                    "HTTP/1.1 200 OK".into(),
                    "Content-Length: 1".into(),
                    format!("Server: {s}"),
                    "Connection: close".into(),
                ],
                BodyFraming::Length(1),
                false,
            ),
            (
                "handler asks to close",
                HttpResponse::new(200)
                    .with_header("Connection", "close")
                    .with_body("a"),
                ctx11(),
                vec![
                    "HTTP/1.1 200 OK".into(),
                    "Content-Length: 1".into(),
                    format!("Server: {s}"),
                    "Connection: close".into(),
                ],
                BodyFraming::Length(1),
                false,
            ),
            (
                "HEAD keeps the length of the body",
                HttpResponse::new(200).with_body("abcd"),
                head,
                vec![
                    "HTTP/1.1 200 OK".into(),
                    "Content-Length: 4".into(),
                    format!("Server: {s}"),
                ],
                BodyFraming::Empty,
                true,
            ),
            (
                "HEAD with the handler's length and no body",
                HttpResponse::new(200).with_header("Content-Length", 1234),
                head,
                vec![
                    "HTTP/1.1 200 OK".into(),
                    "Content-Length: 1234".into(),
                    format!("Server: {s}"),
                ],
                BodyFraming::Empty,
                true,
            ),
            (
                "HEAD with a stream",
                HttpResponse::new(200).with_body(stream()),
                head,
                vec![
                    "HTTP/1.1 200 OK".into(),
                    "Transfer-Encoding: chunked".into(),
                    format!("Server: {s}"),
                ],
                BodyFraming::Empty,
                true,
            ),
            (
                "handler's server and custom reason",
                HttpResponse::new(299)
                    .with_reason("Custom")
                    .with_header("Server", "me"),
                ctx11(),
                vec![
                    "HTTP/1.1 299 Custom".into(),
                    "Content-Length: 0".into(),
                    "Server: me".into(),
                ],
                BodyFraming::Length(0),
                true,
            ),
            (
                "unknown code, no reason",
                HttpResponse::new(599),
                ResponseContext::closing(),
                vec![
                    "HTTP/1.1 599 ".into(),
                    "Content-Length: 0".into(),
                    format!("Server: {s}"),
                    "Connection: close".into(),
                ],
                BodyFraming::Length(0),
                false,
            ),
        ];
        for (what, resp, ctx, lines, framing, ka) in table {
            let (got, written) = write(&resp, ctx);
            assert_eq!(got, lines, "{what}");
            assert_eq!(
                (written.framing(), written.keep_alive()),
                (framing, ka),
                "{what}"
            );
        }
    }

    #[test]
    fn date_is_written_unless_set() {
        let mut buf = Vec::new();
        write_response_head(&HttpResponse::new(200), &ctx11(), &mut buf);
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.matches("\r\nDate: ").count(), 1);
        let mut buf = Vec::new();
        let resp = HttpResponse::new(200).with_header("Date", "Thu, 01 Jan 1970 00:00:00 GMT");
        write_response_head(&resp, &ctx11(), &mut buf);
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.matches("Date: ").count(), 1);
        assert!(text.contains("Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"));
    }
}
