//! Writing request heads, for the client, into a reusable buffer.

use std::fmt;
use std::io::Write as _;

use crate::error::{Error, Result};
use crate::headers::is_token;
use crate::request::HttpRequest;
use crate::version::Version;
use crate::write::{write_header, SERVER};

/// The form of the request target a client sends (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetForm {
    /// `/path?query`, to an origin server.
    #[default]
    Origin,
    /// `http://host/path?query`, to a proxy.
    Absolute,
}

/// Appends the request line and headers of `req` to `buf`, ending with the
/// blank line; the body, if any, goes right after.
///
/// Writes `Host` first (the request's `Host` header, else the authority of an
/// absolute target), adds `User-Agent: monocle/VERSION` unless set, and `Content-Length` for a non-empty body or any
/// POST, PUT or PATCH. A `Content-Length` or `Transfer-Encoding` in the
/// request's headers is dropped: the body is always sent with its length.
///
/// # Errors
///
/// [`Error::BadRequestLine`] if the method is not a token or the target holds a
/// space, a control byte or non-ASCII (percent-encode it);
/// [`Error::MissingHost`] for an HTTP/1.1 request with no host to name, or an
/// absolute-form request without one. `buf` is unchanged then.
///
/// # Examples
///
/// ```
/// use monocle_http::{write_request_head, HttpRequest, TargetForm};
///
/// let req = HttpRequest::from_url("POST", "http://127.0.0.1:8088/form?x=1")?.with_body("a=b");
/// let mut buf = Vec::new();
/// write_request_head(&req, TargetForm::Origin, &mut buf)?;
/// assert_eq!(
///     String::from_utf8(buf).unwrap(),
///     format!(
///         "POST /form?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8088\r\nUser-Agent: {}\r\nContent-Length: 3\r\n\r\n",
///         monocle_http::SERVER
///     )
/// );
///
/// let mut buf = Vec::new();
/// write_request_head(&req, TargetForm::Absolute, &mut buf)?;
/// assert!(buf.starts_with(b"POST http://127.0.0.1:8088/form?x=1 HTTP/1.1\r\n"));
/// # Ok::<(), monocle_http::Error>(())
/// ```
pub fn write_request_head(req: &HttpRequest, form: TargetForm, buf: &mut Vec<u8>) -> Result<()> {
    write_request(req, form, RequestFraming::Length, buf).map_err(Error::from)
}

/// How a request head announces the body that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestFraming {
    /// The request's own body, with `Content-Length` (left out for an empty
    /// body but with POST, PUT and PATCH).
    Length,
    /// A body of unknown length that follows in chunks, with
    /// `Transfer-Encoding: chunked` (the request's own body is ignored);
    /// HTTP/1.1 only.
    Chunked,
}

/// Why a request head cannot be written, as [`write_request`] found it:
/// what [`write_request_head`] gives as an [`Error`], with what a message
/// needs to say so without looking at the request again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unsendable {
    /// The method, which is not a token (RFC 9110 §9.1).
    Method(String),
    /// The target, as it would be written, is empty.
    EmptyTarget,
    /// The target as it would be written, `target`, holds `byte` (a space,
    /// a control byte or non-ASCII) at byte `at`.
    TargetByte { target: String, at: usize, byte: u8 },
    /// Anything else: no host to name ([`Error::MissingHost`]), a chunked
    /// body in HTTP/1.0 ([`Error::TransferEncodingInHttp10`]).
    Other(Error),
}

impl From<Unsendable> for Error {
    fn from(e: Unsendable) -> Self {
        match e {
            Unsendable::Method(_) | Unsendable::EmptyTarget | Unsendable::TargetByte { .. } => {
                Error::BadRequestLine
            }
            Unsendable::Other(e) => e,
        }
    }
}

impl fmt::Display for Unsendable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsendable::Method(method) => {
                write!(f, "the method {method:?} is not a token (RFC 9110 §9.1)")
            }
            Unsendable::EmptyTarget => f.write_str("the target is empty"),
            Unsendable::TargetByte { at, byte, .. } => write!(
                f,
                "the target holds {} at byte {at}, which no request line can carry; \
                 percent-encode it (%{byte:02X})",
                describe_byte(*byte)
            ),
            Unsendable::Other(e) => e.fmt(f),
        }
    }
}

/// A byte that no request line can carry, in words.
pub(crate) fn describe_byte(byte: u8) -> String {
    match byte {
        b' ' => "a space".to_owned(),
        b'\t' => "a tab".to_owned(),
        b'\r' => "a carriage return (CR)".to_owned(),
        b'\n' => "a line feed (LF)".to_owned(),
        0x80.. => format!("the non-ASCII byte {byte:#04x}"),
        _ => format!("the control byte {byte:#04x}"),
    }
}

/// Appends the head of `req` to `buf`, framed as `framing` says; as
/// [`write_request_head`] does for [`RequestFraming::Length`]. `buf` is
/// unchanged after an error.
pub(crate) fn write_request(
    req: &HttpRequest,
    form: TargetForm,
    framing: RequestFraming,
    buf: &mut Vec<u8>,
) -> std::result::Result<(), Unsendable> {
    let start = buf.len();
    let result = write_request_inner(req, form, framing, buf);
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

fn write_request_inner(
    req: &HttpRequest,
    form: TargetForm,
    framing: RequestFraming,
    buf: &mut Vec<u8>,
) -> std::result::Result<(), Unsendable> {
    if framing == RequestFraming::Chunked && req.version() != Version::Http11 {
        return Err(Unsendable::Other(Error::TransferEncodingInHttp10));
    }
    if !is_token(req.method()) {
        return Err(Unsendable::Method(req.method().to_owned()));
    }
    let uri = req.uri();
    let is_absolute = req.is_absolute_form();
    buf.extend_from_slice(req.method().as_bytes());
    buf.push(b' ');
    let target_start = buf.len();
    match form {
        TargetForm::Absolute if is_absolute => buf.extend_from_slice(uri.as_bytes()),
        TargetForm::Absolute => {
            let host = req.host().ok_or(Unsendable::Other(Error::MissingHost))?;
            buf.extend_from_slice(req.scheme().unwrap_or("http").as_bytes());
            buf.extend_from_slice(b"://");
            buf.extend_from_slice(host.as_bytes());
            buf.extend_from_slice(uri.as_bytes());
        }
        TargetForm::Origin if is_absolute => {
            buf.extend_from_slice(req.path().as_bytes());
            if !req.query().is_empty() {
                buf.push(b'?');
                buf.extend_from_slice(req.query().as_bytes());
            }
        }
        TargetForm::Origin => buf.extend_from_slice(uri.as_bytes()),
    }
    let target = &buf[target_start..];
    if target.is_empty() {
        return Err(Unsendable::EmptyTarget);
    }
    if let Some(at) = target.iter().position(|b| !(0x21..0x7f).contains(b)) {
        return Err(Unsendable::TargetByte {
            // Made of whole `str`s: UTF-8.
            target: String::from_utf8_lossy(target).into_owned(),
            at,
            byte: target[at],
        });
    }
    buf.push(b' ');
    buf.extend_from_slice(req.version().as_str().as_bytes());
    buf.extend_from_slice(b"\r\n");

    let headers = req.headers();
    // Host goes first (RFC 9112 §3.2); only one is ever sent.
    match headers.get("host").or_else(|| req.host()) {
        Some(host) => write_header(buf, "Host", host),
        None if req.version() == Version::Http11 => {
            return Err(Unsendable::Other(Error::MissingHost))
        }
        None => {}
    }
    if !headers.contains("user-agent") {
        write_header(buf, "User-Agent", SERVER);
    }
    let body_len = req.body().len();
    let method = req.method();
    if framing == RequestFraming::Chunked {
        buf.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    } else if body_len > 0
        || ["POST", "PUT", "PATCH"]
            .iter()
            .any(|m| method.eq_ignore_ascii_case(m))
    {
        let _ = write!(buf, "Content-Length: {body_len}\r\n");
    }
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("content-length")
            && !name.eq_ignore_ascii_case("transfer-encoding")
            && !name.eq_ignore_ascii_case("host")
        {
            write_header(buf, name, value);
        }
    }
    buf.extend_from_slice(b"\r\n");
    Ok(())
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // test tables
mod tests {
    use super::*;

    #[test]
    fn request_heads() {
        let ua = format!("User-Agent: {SERVER}\r\n");
        let table: Vec<(HttpRequest, TargetForm, String)> = vec![
            (
                HttpRequest::new("GET", "/").with_header("Host", "h"),
                TargetForm::Origin,
                format!("GET / HTTP/1.1\r\nHost: h\r\n{ua}\r\n"),
            ),
            (
                HttpRequest::new("POST", "/p")
                    .with_header("Host", "h")
                    .with_header("Content-Length", 9),
                TargetForm::Origin,
                format!("POST /p HTTP/1.1\r\nHost: h\r\n{ua}Content-Length: 0\r\n\r\n"),
            ),
            (
                HttpRequest::new("GET", "http://h:81/a?b").with_header("User-Agent", "me"),
                TargetForm::Origin,
                "GET /a?b HTTP/1.1\r\nHost: h:81\r\nUser-Agent: me\r\n\r\n".into(),
            ),
            (
                HttpRequest::new("GET", "http://h:81/a?b"),
                TargetForm::Absolute,
                format!("GET http://h:81/a?b HTTP/1.1\r\nHost: h:81\r\n{ua}\r\n"),
            ),
            (
                HttpRequest::from_url("GET", "https://h/x").unwrap(),
                TargetForm::Absolute,
                format!("GET https://h/x HTTP/1.1\r\nHost: h\r\n{ua}\r\n"),
            ),
            (
                HttpRequest::new("GET", "/old").with_version(Version::Http10),
                TargetForm::Origin,
                format!("GET /old HTTP/1.0\r\n{ua}\r\n"),
            ),
            (
                HttpRequest::new("PUT", "/f")
                    .with_header("Host", "h")
                    .with_body("data"),
                TargetForm::Origin,
                format!("PUT /f HTTP/1.1\r\nHost: h\r\n{ua}Content-Length: 4\r\n\r\n"),
            ),
        ];
        for (req, form, want) in table {
            let mut buf = Vec::new();
            write_request_head(&req, form, &mut buf).unwrap();
            assert_eq!(String::from_utf8(buf).unwrap(), want);
        }
    }

    #[test]
    fn request_head_errors_leave_buffer_alone() {
        let table = [
            (
                HttpRequest::new("G T", "/").with_header("Host", "h"),
                Error::BadRequestLine,
            ),
            (
                HttpRequest::new("GET", "/a b").with_header("Host", "h"),
                Error::BadRequestLine,
            ),
            (
                HttpRequest::new("GET", "/a\r\nX: y").with_header("Host", "h"),
                Error::BadRequestLine,
            ),
            (
                HttpRequest::new("GET", "/caf\u{e9}").with_header("Host", "h"),
                Error::BadRequestLine,
            ),
            (HttpRequest::new("GET", ""), Error::BadRequestLine),
            (HttpRequest::new("GET", "/"), Error::MissingHost),
        ];
        for (req, want) in table {
            let mut buf = b"kept".to_vec();
            assert_eq!(
                write_request_head(&req, TargetForm::Origin, &mut buf),
                Err(want.clone()),
                "{req:?}"
            );
            assert_eq!(buf, b"kept");
        }
        let mut buf = Vec::new();
        assert_eq!(
            write_request_head(
                &HttpRequest::new("GET", "/"),
                TargetForm::Absolute,
                &mut buf
            ),
            Err(Error::MissingHost)
        );
    }

    /// Each refusal says why, with the target as it would have been
    /// written; `write_request_head` gives the same as an [`Error`].
    #[test]
    fn refusals_say_why() {
        let host = |req: HttpRequest| req.with_header("Host", "h");
        let target = |target: &str, at: usize, byte: u8| Unsendable::TargetByte {
            target: target.to_owned(),
            at,
            byte,
        };
        let origin = TargetForm::Origin;
        let absolute = TargetForm::Absolute;
        let length = RequestFraming::Length;
        let chunked = RequestFraming::Chunked;
        let table: Vec<(HttpRequest, TargetForm, RequestFraming, Unsendable, Error)> = vec![
            (
                host(HttpRequest::new("G T", "/")),
                origin,
                length,
                Unsendable::Method("G T".to_owned()),
                Error::BadRequestLine,
            ),
            (
                host(HttpRequest::new("", "/")),
                origin,
                chunked,
                Unsendable::Method(String::new()),
                Error::BadRequestLine,
            ),
            (
                host(HttpRequest::new("GET", "")),
                origin,
                length,
                Unsendable::EmptyTarget,
                Error::BadRequestLine,
            ),
            (
                host(HttpRequest::new("GET", "/a b")),
                origin,
                length,
                target("/a b", 2, b' '),
                Error::BadRequestLine,
            ),
            (
                host(HttpRequest::new("GET", "/\u{e9}")),
                origin,
                length,
                target("/\u{e9}", 1, 0xc3),
                Error::BadRequestLine,
            ),
            (
                host(HttpRequest::new("GET", "/a\r\nX: y")),
                origin,
                chunked,
                target("/a\r\nX: y", 2, b'\r'),
                Error::BadRequestLine,
            ),
            // As written: in origin form, the path of an absolute target...
            (
                HttpRequest::new("GET", "http://h/p?a b"),
                origin,
                length,
                target("/p?a b", 4, b' '),
                Error::BadRequestLine,
            ),
            // ...in absolute form, with the scheme and host before it.
            (
                host(HttpRequest::new("GET", "/\x7f")),
                absolute,
                length,
                target("http://h/\x7f", 9, 0x7f),
                Error::BadRequestLine,
            ),
            (
                HttpRequest::new("GET", "/"),
                origin,
                length,
                Unsendable::Other(Error::MissingHost),
                Error::MissingHost,
            ),
            (
                HttpRequest::new("GET", "/"),
                absolute,
                length,
                Unsendable::Other(Error::MissingHost),
                Error::MissingHost,
            ),
            // Checked first.
            (
                HttpRequest::new("G T", "/").with_version(Version::Http10),
                origin,
                chunked,
                Unsendable::Other(Error::TransferEncodingInHttp10),
                Error::TransferEncodingInHttp10,
            ),
        ];
        for (req, form, framing, want, error) in table {
            let mut buf = b"kept".to_vec();
            let got = write_request(&req, form, framing, &mut buf);
            assert_eq!(got, Err(want.clone()), "{req:?} {form:?} {framing:?}");
            assert_eq!(buf, b"kept");
            assert_eq!(Error::from(want), error);
            if framing == RequestFraming::Length {
                assert_eq!(write_request_head(&req, form, &mut buf), Err(error));
                assert_eq!(buf, b"kept");
            }
        }
        // In words.
        assert_eq!(
            Unsendable::Method("G T".to_owned()).to_string(),
            "the method \"G T\" is not a token (RFC 9110 §9.1)"
        );
        assert_eq!(
            target("/a\tb", 2, b'\t').to_string(),
            "the target holds a tab at byte 2, which no request line can carry; \
             percent-encode it (%09)"
        );
        assert_eq!(
            Unsendable::Other(Error::MissingHost).to_string(),
            Error::MissingHost.to_string()
        );
    }
}
