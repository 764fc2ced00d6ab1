//! [`HttpResponse`] and its [`Body`].

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::pin::Pin;

use futures_lite::Stream;

use crate::headers::{HttpHeaders, IntoHeaderValue};
use crate::parse::ResponseHead;
use crate::status::reason_phrase;
use crate::version::Version;

/// A stream of body pieces whose total length need not be known in advance.
///
/// A server sends it chunked to an HTTP/1.1 client (or as is, when the handler
/// set `Content-Length`), and until close to an HTTP/1.0 client. An `Err` item
/// ends the response abruptly: the connection is closed without the last chunk,
/// so the client sees the body as cut short rather than complete.
///
/// The stream may wait as long as it likes between pieces (a feed of events,
/// say): meanwhile the server watches the connection, and a client that goes
/// away (or shuts down its sending side) ends the response there and then.
/// The server drops the stream, so its producer learns that nobody listens
/// anymore from a failed send or a drop guard of its own.
///
/// The stream of a [streaming handler](crate::Handler::streaming)'s response
/// may read the request body as it goes out ([full
/// duplex](crate::Handler::streaming)): while that body is
/// unfinished and held, the server reads from the client only for it, and
/// notices a client that went away when the body is next read or the
/// response next written.
pub type BodyStream = Pin<Box<dyn Stream<Item = io::Result<Vec<u8>>>>>;

/// The body of a response: bytes in memory, or a stream.
///
/// # Examples
///
/// ```
/// use monocle_http::Body;
///
/// let body = Body::from("Hello");
/// assert_eq!(body.as_bytes(), Some(&b"Hello"[..]));
/// assert_eq!(body.len(), Some(5));
///
/// let stream = Body::from_stream(futures_lite::stream::iter(vec![Ok(b"a".to_vec())]));
/// assert_eq!(stream.len(), None);
/// ```
pub enum Body {
    /// The whole body, sent with a `Content-Length`: owned bytes, or static
    /// ones (a `&'static str` handler result is sent without being copied).
    Full(Cow<'static, [u8]>),
    /// A body produced piece by piece; see [`BodyStream`].
    Stream(BodyStream),
}

impl Body {
    /// An empty body.
    pub const fn empty() -> Body {
        Body::Full(Cow::Borrowed(&[]))
    }

    /// A body of static bytes, sent without being copied.
    pub const fn from_static(bytes: &'static [u8]) -> Body {
        Body::Full(Cow::Borrowed(bytes))
    }

    /// A streamed body.
    pub fn from_stream(stream: impl Stream<Item = io::Result<Vec<u8>>> + 'static) -> Body {
        Body::Stream(Box::pin(stream))
    }

    /// The bytes of a [`Body::Full`]; `None` for a stream.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Body::Full(b) => Some(b),
            Body::Stream(_) => None,
        }
    }

    /// The length of a [`Body::Full`]; `None` for a stream.
    pub fn len(&self) -> Option<usize> {
        self.as_bytes().map(<[u8]>::len)
    }

    /// Whether this is a [`Body::Full`] with no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Whether this is a [`Body::Stream`].
    pub fn is_stream(&self) -> bool {
        matches!(self, Body::Stream(_))
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Full(b) if b.len() <= 64 => {
                write!(f, "Body::Full({:?})", String::from_utf8_lossy(b))
            }
            Body::Full(b) => write!(f, "Body::Full({} bytes)", b.len()),
            Body::Stream(_) => f.write_str("Body::Stream(..)"),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        Body::Full(Cow::Owned(b))
    }
}

/// Copies the bytes; [`Body::from_static`] borrows static ones instead.
impl From<&[u8]> for Body {
    fn from(b: &[u8]) -> Self {
        Body::Full(Cow::Owned(b.to_vec()))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::Full(Cow::Owned(s.into_bytes()))
    }
}

/// Copies the text; [`Body::from_static`] borrows static bytes instead.
impl From<&str> for Body {
    fn from(s: &str) -> Self {
        Body::Full(Cow::Owned(s.as_bytes().to_vec()))
    }
}

/// An HTTP response, with monocle's fields: code, msg (reason), headers, body,
/// proto (version).
///
/// Handlers usually return something that converts into one (see
/// [`IntoResponse`](crate::IntoResponse)); build one directly for full control.
/// `Content-Length`, `Transfer-Encoding`, `Connection`, `Date` and `Server` are
/// filled in when the head is written (see
/// [`write_response_head`](crate::write_response_head)).
///
/// # Examples
///
/// ```
/// use monocle_http::HttpResponse;
///
/// let resp = HttpResponse::new(404)
///     .with_header("Content-Type", "text/plain")
///     .with_body("no such page");
/// assert_eq!(resp.code(), 404);
/// assert_eq!(resp.reason(), "Not Found");
/// assert_eq!(resp.text(), "no such page");
/// ```
#[derive(Debug)]
pub struct HttpResponse {
    /// INVARIANT: 100..=999, so the status line always has three digits.
    code: u16,
    reason: Option<Cow<'static, str>>,
    headers: HttpHeaders,
    body: Body,
    version: Version,
    handler_error: Option<Box<str>>,
}

impl monocle_stack::Outcome for HttpResponse {}

impl HttpResponse {
    /// A response with this status code, no headers and an empty body.
    ///
    /// A code outside 100–999 cannot be sent; it becomes a 500 whose
    /// [`handler_error`](Self::handler_error) says so. A handler's answer
    /// with a 1xx code is no answer either (1xx responses are interim): the
    /// server sends a 500 instead and logs why.
    pub fn new(code: u16) -> Self {
        let mut resp = HttpResponse {
            code,
            reason: None,
            headers: HttpHeaders::new(),
            body: Body::empty(),
            version: Version::Http11,
            handler_error: None,
        };
        if !(100..=999).contains(&code) {
            resp.code = 500;
            resp.handler_error = Some(format!("invalid status code {code}; use 100 to 999").into());
        }
        resp
    }

    /// A 500 response carrying the text of a handler's error, which the server
    /// logs; the client sees only "Internal Server Error".
    pub fn internal_error(error: impl Into<String>) -> Self {
        let mut resp = HttpResponse::new(500).with_body("Internal Server Error");
        resp.headers
            .push_unchecked("Content-Type", "text/plain; charset=utf-8");
        resp.handler_error = Some(error.into().into_boxed_str());
        resp
    }

    /// The answer to a request that could not be parsed or framed: the error's
    /// [`status`](crate::Error::status) with its message as a plain-text body.
    /// Write it with [`ResponseContext::closing`](crate::ResponseContext::closing),
    /// then close the connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::{Error, HttpResponse};
    ///
    /// let resp = HttpResponse::from_error(&Error::BadContentLength);
    /// assert_eq!(resp.code(), 400);
    /// assert_eq!(resp.text(), "invalid content-length: not a decimal number\n");
    /// ```
    pub fn from_error(error: &crate::Error) -> Self {
        let mut resp = HttpResponse::new(error.status()).with_body(format!("{error}\n"));
        resp.headers
            .push_unchecked("Content-Type", "text/plain; charset=utf-8");
        resp
    }

    /// The response a client read: a parsed head and the body after it.
    pub fn from_head(head: ResponseHead, body: Vec<u8>) -> Self {
        HttpResponse {
            code: head.code,
            reason: Some(Cow::Owned(head.reason)),
            headers: head.headers,
            body: Body::from(body),
            version: head.version,
            handler_error: None,
        }
    }

    /// Sets a custom reason phrase. One holding CR, LF or another control byte
    /// is replaced by the canonical phrase when written.
    pub fn with_reason(mut self, reason: impl Into<Cow<'static, str>>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Adds a header (see [`HttpHeaders::add`]).
    ///
    /// # Panics
    ///
    /// If the name is not a token or the value holds a control byte.
    #[track_caller]
    pub fn with_header(mut self, name: impl AsRef<str>, value: impl IntoHeaderValue) -> Self {
        self.headers.add(name, value);
        self
    }

    /// Replaces the headers.
    pub fn with_headers(mut self, headers: HttpHeaders) -> Self {
        self.headers = headers;
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// Replaces the body with a stream of pieces of unknown total length.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::HttpResponse;
    /// use futures_lite::stream;
    ///
    /// let pieces = stream::iter((1..=3).map(|i| Ok(format!("line {i}\n").into_bytes())));
    /// let resp = HttpResponse::new(200).with_stream(pieces);
    /// assert!(resp.body().is_stream());
    /// ```
    pub fn with_stream(
        mut self,
        stream: impl Stream<Item = io::Result<Vec<u8>>> + 'static,
    ) -> Self {
        self.body = Body::from_stream(stream);
        self
    }

    /// Sets the protocol version written in the status line (HTTP/1.1 by default).
    pub fn with_version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// The status code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The reason phrase: the custom one if set, else the canonical phrase of
    /// the code, else empty (monocle's `msg`).
    #[doc(alias = "msg")]
    pub fn reason(&self) -> &str {
        match &self.reason {
            Some(r) => r,
            None => reason_phrase(self.code).unwrap_or(""),
        }
    }

    /// Whether the reason phrase is the standard one for the code (none was
    /// set).
    pub(crate) fn has_standard_reason(&self) -> bool {
        self.reason.is_none()
    }

    /// The reason phrase to put on the wire: never one that could split the line.
    pub(crate) fn wire_reason(&self) -> &str {
        match &self.reason {
            Some(r) if r.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f)) => r,
            _ => reason_phrase(self.code).unwrap_or(""),
        }
    }

    /// The header fields.
    pub fn headers(&self) -> &HttpHeaders {
        &self.headers
    }

    /// The header fields, to change.
    pub fn headers_mut(&mut self) -> &mut HttpHeaders {
        &mut self.headers
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The body, to change.
    pub fn body_mut(&mut self) -> &mut Body {
        &mut self.body
    }

    /// Takes the body out of the response.
    pub fn into_body(self) -> Body {
        self.body
    }

    /// The body as text (invalid UTF-8 replaced by U+FFFD); empty for a stream.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.body.as_bytes().unwrap_or_default())
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The protocol version as text, `"HTTP/1.1"` (monocle's `proto`).
    pub fn proto(&self) -> &'static str {
        self.version.as_str()
    }

    /// The error behind this response, which the server logs with the request
    /// and never sends: a handler's `Err` answered with a 500 (see
    /// [`IntoResponse`](crate::IntoResponse) for `Result`), the
    /// [`cause`](crate::HttpError::cause) of an [`HttpError`](crate::HttpError),
    /// or an invalid status code.
    pub fn handler_error(&self) -> Option<&str> {
        self.handler_error.as_deref()
    }

    /// Sets the text [`handler_error`](Self::handler_error) returns.
    pub(crate) fn with_handler_error(mut self, error: Box<str>) -> Self {
        self.handler_error = Some(error);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::parse::parse_response_head;

    #[test]
    fn reasons() {
        assert_eq!(HttpResponse::new(200).reason(), "OK");
        assert_eq!(HttpResponse::new(299).reason(), "");
        let r = HttpResponse::new(200).with_reason("Fine");
        assert_eq!((r.reason(), r.wire_reason()), ("Fine", "Fine"));
        let r = HttpResponse::new(200).with_reason("A\r\nSet-Cookie: x");
        assert_eq!(r.wire_reason(), "OK");
    }

    #[test]
    fn invalid_code_becomes_500() {
        for code in [0, 99, 1000, u16::MAX] {
            let r = HttpResponse::new(code);
            assert_eq!(r.code(), 500);
            assert!(r.handler_error().unwrap().contains(&code.to_string()));
        }
        assert_eq!(HttpResponse::new(100).code(), 100);
        assert_eq!(HttpResponse::new(999).code(), 999);
    }

    #[test]
    fn client_side_response() {
        let buf = b"HTTP/1.0 201 Made It\r\nX: y\r\nContent-Length: 2\r\n\r\nok";
        let head = parse_response_head(buf, "POST", &Limits::default())
            .unwrap()
            .unwrap();
        let body = buf[head.len()..].to_vec();
        let r = HttpResponse::from_head(head, body);
        assert_eq!(
            (r.code(), r.reason(), r.proto()),
            (201, "Made It", "HTTP/1.0")
        );
        assert_eq!(r.headers().get("x"), Some("y"));
        assert_eq!(r.text(), "ok");
        assert_eq!(r.version(), Version::Http10);
    }

    #[test]
    fn body_debug() {
        assert_eq!(format!("{:?}", Body::from("hi")), r#"Body::Full("hi")"#);
        assert_eq!(
            format!("{:?}", Body::from(vec![0; 100])),
            "Body::Full(100 bytes)"
        );
        let s = Body::from_stream(futures_lite::stream::empty());
        assert_eq!(format!("{s:?}"), "Body::Stream(..)");
        assert!(s.is_stream() && !s.is_empty());
        assert!(Body::default().is_empty());
    }
}
