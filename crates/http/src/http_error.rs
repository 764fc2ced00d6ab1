//! [`HttpError`]: a handler error that answers with its own status.

use std::borrow::Cow;
use std::fmt::{self, Display, Write as _};

use crate::headers::{HttpHeaders, IntoHeaderValue};
use crate::into_response::{IntoBody, IntoResponse};
use crate::response::HttpResponse;

const INTERNAL: &str = "Internal Server Error";

/// An error a handler returns with `?`, answered with its own status code.
///
/// It holds what the client is sent — a status code, a plain-text message and
/// extra headers (`Allow`, `WWW-Authenticate`, `Retry-After`...) — and,
/// apart from that, an internal *cause* that the server logs and never sends.
/// A handler returning `Result<R, HttpError>` answers `Ok(r)` with `r` and
/// `Err(e)` with `e`.
///
/// Any [`std::error::Error`] converts into it, so `?` works on `io::Error`,
/// `ParseIntError` and the like: that gives a 500 whose body is only
/// "Internal Server Error", with the error's text kept as the cause, which
/// the server logs with the request, as it does for any handler's `Err`
/// (see [`HttpResponse::handler_error`]). An error meant for the client is
/// built instead with a status: [`bad_request`](Self::bad_request),
/// [`not_found`](Self::not_found), [`new`](Self::new)...
///
/// | built with | status | body | logged |
/// |---|---|---|---|
/// | `?` on a [`std::error::Error`], [`internal`](Self::internal) | 500 | "Internal Server Error" | the error's text |
/// | [`new`](Self::new), [`bad_request`](Self::bad_request), [`not_found`](Self::not_found)... | as named | the message, if any | nothing |
/// | any of them [`with_cause`](Self::with_cause) | unchanged | unchanged | the cause |
///
/// `?` cannot convert a `Box<dyn Error>` (which is not itself a
/// [`std::error::Error`]): `.map_err(HttpError::internal)` does.
///
/// `HttpError` implements neither [`std::error::Error`] nor [`Display`]:
/// the first keeps the blanket `From` apart from `From<T> for T`, the second
/// keeps `Result<R, HttpError>` apart from the `Result<R, E: Display>` that
/// [`IntoResponse`] also accepts. (`anyhow::Error` skips `Error` for the
/// same reason as the first.) `{:?}` shows every part, cause included.
///
/// # Examples
///
/// ```
/// use monocle_http::{HttpError, HttpRequest, IntoResponse};
///
/// async fn double(req: HttpRequest) -> Result<String, HttpError> {
///     let n: u32 = req
///         .query_arg("n")
///         .ok_or(HttpError::bad_request("n is missing"))?
///         .parse()
///         .map_err(|_| HttpError::bad_request("n must be a number"))?;
///     let data = std::fs::read("/no/such/file")?; // io::Error: a logged 500
///     Ok(format!("{}\n", u64::from(n) * 2 + data.len() as u64))
/// }
///
/// let answer = |uri| {
///     futures_lite::future::block_on(double(HttpRequest::new("GET", uri))).into_response()
/// };
/// let resp = answer("/double?n=x");
/// assert_eq!((resp.code(), &*resp.text()), (400, "n must be a number"));
/// assert_eq!(resp.handler_error(), None);
///
/// let resp = answer("/double?n=21");
/// assert_eq!((resp.code(), &*resp.text()), (500, "Internal Server Error"));
/// let not_found = std::fs::read("/no/such/file").unwrap_err().to_string();
/// assert_eq!(resp.handler_error(), Some(&*not_found)); // logged, not sent
/// ```
///
/// Extra headers and a cause for the log:
///
/// ```
/// use monocle_http::{HttpError, IntoResponse};
///
/// let resp = HttpError::new(503, "down for maintenance\n")
///     .with_header("Retry-After", 120)
///     .with_cause("database migration running")
///     .into_response();
/// assert_eq!(resp.code(), 503);
/// assert_eq!(resp.headers().get("retry-after"), Some("120"));
/// assert_eq!(resp.text(), "down for maintenance\n");
/// assert_eq!(resp.handler_error(), Some("database migration running"));
/// ```
pub struct HttpError {
    /// INVARIANT: 100..=999, as for [`HttpResponse`].
    code: u16,
    /// Sent as a text/plain body; empty sends an empty body.
    message: Cow<'static, str>,
    /// Boxed and absent until needed: the common errors (`not_found()`,
    /// `bad_request("static text")`) then allocate nothing, which matters as
    /// they are often built whether needed or not (`ok_or(..)`), and the type
    /// stays five words.
    extra: Option<Box<Extra>>,
}

/// The rarer parts of an [`HttpError`].
#[derive(Default)]
struct Extra {
    headers: HttpHeaders,
    /// Logged by the server, never sent.
    cause: Option<Box<str>>,
}

static NO_HEADERS: HttpHeaders = HttpHeaders::new();

impl HttpError {
    /// An error answered with this status code and `message` as its
    /// `text/plain; charset=utf-8` body; an empty message sends an empty body.
    ///
    /// A code outside 100–999 cannot be sent: as with [`HttpResponse::new`],
    /// it becomes a 500 whose [`cause`](Self::cause) says so.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::HttpError;
    ///
    /// let e = HttpError::new(429, "slow down\n");
    /// assert_eq!((e.code(), e.message()), (429, Some("slow down\n")));
    /// assert_eq!(HttpError::new(410, "").message(), None);
    ///
    /// let e = HttpError::new(1000, "");
    /// assert_eq!(e.code(), 500);
    /// assert_eq!(e.cause(), Some("invalid status code 1000; use 100 to 999"));
    /// ```
    pub fn new(code: u16, message: impl Into<Cow<'static, str>>) -> Self {
        let mut e = HttpError {
            code,
            message: message.into(),
            extra: None,
        };
        if !(100..=999).contains(&code) {
            e.code = 500;
            e.extra_mut().cause =
                Some(format!("invalid status code {code}; use 100 to 999").into());
        }
        e
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// 400 Bad Request, with a message telling the client what to fix.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::HttpError;
    ///
    /// let e = HttpError::bad_request("n must be a number");
    /// assert_eq!((e.code(), e.message()), (400, Some("n must be a number")));
    /// ```
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        HttpError::new(400, message)
    }

    /// 401 Unauthorized, with the `WWW-Authenticate` challenge that a 401
    /// must carry (RFC 9110 §15.5.2), such as `Basic realm="kv"`.
    ///
    /// # Panics
    ///
    /// If the challenge holds a control byte (CR, LF, NUL...).
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::HttpError;
    ///
    /// let e = HttpError::unauthorized("Basic realm=\"kv\"");
    /// assert_eq!(e.code(), 401);
    /// assert_eq!(e.headers().get("www-authenticate"), Some("Basic realm=\"kv\""));
    /// ```
    #[track_caller]
    pub fn unauthorized(challenge: impl IntoHeaderValue) -> Self {
        HttpError::new(401, "").with_header("WWW-Authenticate", challenge)
    }

    /// 403 Forbidden, with an empty body.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::HttpError;
    ///
    /// let e = HttpError::forbidden().with_message("read-only key\n");
    /// assert_eq!((e.code(), e.message()), (403, Some("read-only key\n")));
    /// ```
    pub fn forbidden() -> Self {
        HttpError::new(403, "")
    }

    /// 404 Not Found, with an empty body.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use monocle_http::HttpError;
    ///
    /// fn lookup(map: &HashMap<&str, u32>, key: &str) -> Result<u32, HttpError> {
    ///     let n = map.get(key).ok_or(HttpError::not_found())?;
    ///     Ok(*n)
    /// }
    /// assert_eq!(lookup(&HashMap::new(), "x").unwrap_err().code(), 404);
    /// ```
    pub fn not_found() -> Self {
        HttpError::new(404, "")
    }

    /// 409 Conflict, with a message saying what the request conflicts with.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::HttpError;
    ///
    /// assert_eq!(HttpError::conflict("key exists\n").code(), 409);
    /// ```
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        HttpError::new(409, message)
    }

    /// 413 Content Too Large (formerly Payload Too Large), with an empty body.
    ///
    /// The server already answers 413 to a body over its
    /// [`Limits`](crate::Limits); this is for a handler's own, smaller limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::HttpError;
    ///
    /// let e = HttpError::payload_too_large().with_message("values are at most 1 KiB\n");
    /// assert_eq!(e.code(), 413);
    /// ```
    pub fn payload_too_large() -> Self {
        HttpError::new(413, "")
    }

    /// 500 Internal Server Error, whose body is only "Internal Server Error"
    /// and whose `cause` (its `{:#}` text) is logged by the server.
    ///
    /// What `?` does with a [`std::error::Error`], for a cause that is only
    /// [`Display`] (a message, an `anyhow::Error`).
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::HttpError;
    ///
    /// let e = HttpError::internal("index out of step with the store");
    /// assert_eq!(e.code(), 500);
    /// assert_eq!(e.message(), Some("Internal Server Error"));
    /// assert_eq!(e.cause(), Some("index out of step with the store"));
    /// ```
    pub fn internal(cause: impl Display) -> Self {
        HttpError::new(500, INTERNAL).with_cause(cause)
    }

    /// Replaces the message sent as the body; an empty one sends an empty body.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::HttpError;
    ///
    /// let e = HttpError::not_found().with_message("no such key\n");
    /// assert_eq!(e.message(), Some("no such key\n"));
    /// ```
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// Adds a header to the answer (see [`HttpHeaders::add`]), such as `Allow`
    /// with a 405 or `Retry-After` with a 503. A `Content-Type` set here
    /// replaces the default `text/plain; charset=utf-8` of the message.
    ///
    /// # Panics
    ///
    /// If the name is not a token or the value holds a control byte.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::{HttpError, IntoResponse};
    ///
    /// let resp = HttpError::new(405, "")
    ///     .with_header("Allow", "GET, HEAD")
    ///     .into_response();
    /// assert_eq!(resp.headers().get("allow"), Some("GET, HEAD"));
    ///
    /// let resp = HttpError::bad_request(r#"{"error":"bad key"}"#)
    ///     .with_header("Content-Type", "application/json")
    ///     .into_response();
    /// assert_eq!(resp.headers().get("content-type"), Some("application/json"));
    /// ```
    #[track_caller]
    pub fn with_header(mut self, name: impl AsRef<str>, value: impl IntoHeaderValue) -> Self {
        self.extra_mut().headers.add(name, value);
        self
    }

    /// Adds an internal cause, for the server's log only: its `{:#}` text is
    /// never sent. A cause already there (from `?`, an invalid code or an
    /// earlier call) is kept after the new one, separated by `": "`, so the
    /// new text reads as context: `loading user 7: disk full`.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::{HttpError, IntoResponse};
    ///
    /// let parse = "x".parse::<u32>().unwrap_err();
    /// let e = HttpError::bad_request("bad id").with_cause(&parse);
    /// assert_eq!(e.cause(), Some("invalid digit found in string"));
    /// let resp = e.into_response();
    /// assert_eq!((resp.code(), &*resp.text()), (400, "bad id"));
    /// assert_eq!(resp.handler_error(), Some("invalid digit found in string"));
    ///
    /// let io = std::io::Error::other("disk full");
    /// let e = HttpError::from(io).with_cause("loading user 7");
    /// assert_eq!(e.cause(), Some("loading user 7: disk full"));
    /// ```
    pub fn with_cause(mut self, cause: impl Display) -> Self {
        let mut text = format!("{cause:#}");
        let extra = self.extra_mut();
        if let Some(old) = extra.cause.take() {
            text.push_str(": ");
            text.push_str(&old);
        }
        extra.cause = Some(text.into_boxed_str());
        self
    }

    /// The status code answered.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The message sent as the body; `None` when the body is empty.
    pub fn message(&self) -> Option<&str> {
        Some(&*self.message).filter(|m| !m.is_empty())
    }

    /// The extra headers sent with the answer.
    pub fn headers(&self) -> &HttpHeaders {
        self.extra.as_ref().map_or(&NO_HEADERS, |x| &x.headers)
    }

    /// The internal cause, which the server logs and never sends.
    pub fn cause(&self) -> Option<&str> {
        self.extra.as_ref()?.cause.as_deref()
    }
}

impl fmt::Debug for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpError")
            .field("code", &self.code)
            .field("message", &self.message())
            .field("headers", self.headers())
            .field("cause", &self.cause())
            .finish()
    }
}

/// A 500 whose cause is the error's `{:#}` text followed by each
/// [`source`](std::error::Error::source) not already in it, after `": "`.
///
/// # Examples
///
/// ```
/// use monocle_http::HttpError;
///
/// fn read_config() -> Result<String, HttpError> {
///     Ok(std::fs::read_to_string("/no/such/config")?)
/// }
/// let e = read_config().unwrap_err();
/// assert_eq!((e.code(), e.message()), (500, Some("Internal Server Error")));
/// let io_error = std::fs::read("/no/such/config").unwrap_err();
/// assert_eq!(e.cause(), Some(&*io_error.to_string()));
/// ```
impl<E: std::error::Error> From<E> for HttpError {
    fn from(error: E) -> Self {
        let mut text = format!("{error:#}");
        let mut source = error.source();
        while let Some(e) = source {
            let part = e.to_string();
            if !text.contains(&part) {
                let _ = write!(text, ": {part}");
            }
            source = e.source();
        }
        let mut e = HttpError::new(500, INTERNAL);
        e.extra_mut().cause = Some(text.into_boxed_str());
        e
    }
}

/// The status, the extra headers and the message as a body (with
/// `Content-Type: text/plain; charset=utf-8` unless a `Content-Type` was
/// added); the cause goes to [`HttpResponse::handler_error`] for the log.
impl IntoResponse for HttpError {
    fn into_response(self) -> HttpResponse {
        let HttpError {
            code,
            message,
            extra,
        } = self;
        let (headers, cause) = extra.map_or_else(Default::default, |x| (x.headers, x.cause));
        let mut resp = HttpResponse::new(code).with_headers(headers);
        if !message.is_empty() {
            if !resp.headers().contains("content-type") {
                resp.headers_mut()
                    .push_unchecked("Content-Type", "text/plain; charset=utf-8");
            }
            resp = resp.with_body(message.into_body());
        }
        match cause {
            Some(cause) => resp.with_handler_error(cause),
            None => resp,
        }
    }
}

/// `Ok(r)` answers with `r`, `Err(e)` with `e` (see [`HttpError`]).
impl<R: IntoResponse> IntoResponse for Result<R, HttpError> {
    fn into_response(self) -> HttpResponse {
        match self {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // test tables
mod tests {
    use std::io;

    use super::*;
    use crate::handler::Handler;
    use crate::request::HttpRequest;

    /// Code, content type, body, logged cause.
    fn summary(r: HttpResponse) -> (u16, Option<String>, String, Option<String>) {
        let ct = r.headers().get("content-type").map(str::to_owned);
        let err = r.handler_error().map(str::to_owned);
        (r.code(), ct, r.text().into_owned(), err)
    }

    fn text() -> Option<String> {
        Some("text/plain; charset=utf-8".into())
    }

    #[test]
    fn question_mark_on_io_error_is_a_logged_500() {
        fn handler() -> Result<&'static str, HttpError> {
            let _data = std::fs::read("/nonexistent/monocle/http_error")?;
            Ok("unreachable")
        }
        let e = handler().unwrap_err();
        assert_eq!(e.code(), 500);
        let cause = std::fs::read("/nonexistent/monocle/http_error")
            .unwrap_err()
            .to_string();
        assert_eq!(e.cause(), Some(&*cause));
        let (code, ct, body, logged) = summary(e.into_response());
        assert_eq!((code, ct, &*body), (500, text(), "Internal Server Error"));
        assert_eq!(logged.as_deref(), Some(&*cause), "logged, not sent");
    }

    #[test]
    fn question_mark_on_a_parse_error_in_an_async_handler() {
        async fn handler(req: HttpRequest) -> Result<String, HttpError> {
            let n: u32 = req.query_arg("n").unwrap_or_default().parse()?;
            Ok(n.to_string())
        }
        let call = |uri| {
            futures_lite::future::block_on(Handler::new(handler).call(HttpRequest::new("GET", uri)))
        };
        assert_eq!(summary(call("/?n=7")), (200, text(), "7".into(), None));
        assert_eq!(
            summary(call("/?n=x")),
            (
                500,
                text(),
                "Internal Server Error".into(),
                Some("invalid digit found in string".into())
            )
        );
    }

    #[test]
    fn client_errors_send_their_message_and_log_nothing() {
        let table: Vec<(HttpError, (u16, Option<String>, String, Option<String>))> = vec![
            (
                HttpError::bad_request("n must be a number"),
                (400, text(), "n must be a number".into(), None),
            ),
            (HttpError::not_found(), (404, None, String::new(), None)),
            (HttpError::forbidden(), (403, None, String::new(), None)),
            (
                HttpError::conflict(String::from("key exists\n")),
                (409, text(), "key exists\n".into(), None),
            ),
            (
                HttpError::payload_too_large().with_message("at most 1 KiB"),
                (413, text(), "at most 1 KiB".into(), None),
            ),
            (
                HttpError::new(418, "short and stout"),
                (418, text(), "short and stout".into(), None),
            ),
            (
                HttpError::not_found().with_message(""),
                (404, None, String::new(), None),
            ),
        ];
        for (i, (e, want)) in table.into_iter().enumerate() {
            assert_eq!(summary(e.into_response()), want, "row {i}");
        }
    }

    #[test]
    fn headers_are_kept() {
        let resp = HttpError::unauthorized("Basic realm=\"kv\"")
            .with_message("credentials needed\n")
            .with_header("X-Request-Id", 42)
            .into_response();
        assert_eq!(resp.code(), 401);
        assert_eq!(
            resp.headers().get("www-authenticate"),
            Some("Basic realm=\"kv\"")
        );
        assert_eq!(resp.headers().get("x-request-id"), Some("42"));
        assert_eq!(resp.text(), "credentials needed\n");

        let resp = HttpError::new(405, "")
            .with_header("Allow", "GET")
            .with_header("Allow", "HEAD")
            .into_response();
        let allow: Vec<&str> = resp.headers().get_all("allow").collect();
        assert_eq!(allow, ["GET", "HEAD"]);
        assert!(!resp.headers().contains("content-type"), "no body, no type");

        let resp = HttpError::bad_request("{}")
            .with_header("Content-Type", "application/json")
            .into_response();
        let types: Vec<&str> = resp.headers().get_all("content-type").collect();
        assert_eq!(types, ["application/json"]);
    }

    #[test]
    #[should_panic(expected = "Bad Name")]
    fn an_invalid_header_name_panics_as_for_a_response() {
        let _ = HttpError::not_found().with_header("Bad Name", "x");
    }

    #[test]
    fn a_cause_is_logged_whatever_the_status() {
        let resp = HttpError::bad_request("bad id")
            .with_cause("id \"x\" from 10.0.0.1")
            .into_response();
        assert_eq!(
            summary(resp),
            (
                400,
                text(),
                "bad id".into(),
                Some("id \"x\" from 10.0.0.1".into())
            )
        );
    }

    #[test]
    fn causes_nest_as_context() {
        let e = HttpError::from(io::Error::other("disk full"))
            .with_cause("saving key k")
            .with_cause("PUT /kv/k");
        assert_eq!(e.cause(), Some("PUT /kv/k: saving key k: disk full"));
        let e = HttpError::internal(format_args!("{} of {}", 3, 4));
        assert_eq!(
            (e.code(), e.message(), e.cause()),
            (500, Some("Internal Server Error"), Some("3 of 4"))
        );
        fn boxed() -> Result<(), Box<dyn std::error::Error>> {
            Err("plain".into())
        }
        let e = boxed().map_err(HttpError::internal).unwrap_err();
        assert_eq!(e.cause(), Some("plain"));
    }

    #[test]
    fn the_source_chain_is_in_the_cause_once() {
        #[derive(Debug)]
        struct Outer(io::Error, bool);
        impl Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("loading config")?;
                if self.1 {
                    write!(f, ": {}", self.0)?;
                }
                Ok(())
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let inner = || io::Error::new(io::ErrorKind::NotFound, "no config.toml");
        let e = HttpError::from(Outer(inner(), false));
        assert_eq!(e.cause(), Some("loading config: no config.toml"));
        // A source the error already prints is not repeated.
        let e = HttpError::from(Outer(inner(), true));
        assert_eq!(e.cause(), Some("loading config: no config.toml"));
    }

    #[test]
    fn invalid_codes_become_500_as_for_a_response() {
        for code in [0, 99, 1000, u16::MAX] {
            let e = HttpError::new(code, "meant for the client");
            let want = format!("invalid status code {code}; use 100 to 999");
            assert_eq!((e.code(), e.cause()), (500, Some(&*want)));
            let resp = e.with_cause("while refusing").into_response();
            assert_eq!(resp.code(), 500);
            assert_eq!(
                resp.handler_error(),
                Some(&*format!("while refusing: {want}"))
            );
        }
        assert_eq!(HttpError::new(100, "").code(), 100);
        assert_eq!(HttpError::new(999, "").code(), 999);
    }

    #[test]
    fn returned_directly_or_in_a_result() {
        async fn direct(_req: HttpRequest) -> HttpError {
            HttpError::new(503, "later\n").with_header("Retry-After", 5)
        }
        async fn ok(_req: HttpRequest) -> Result<(u16, &'static str), HttpError> {
            Ok((201, "made"))
        }
        let call =
            |h: Handler| futures_lite::future::block_on(h.call(HttpRequest::new("GET", "/")));
        let resp = call(Handler::new(direct));
        assert_eq!(resp.headers().get("retry-after"), Some("5"));
        assert_eq!(summary(resp), (503, text(), "later\n".into(), None));
        assert_eq!(
            summary(call(Handler::new(ok))),
            (201, text(), "made".into(), None)
        );
        // A closure's async block names its error type once.
        let closure = Handler::new(|req: HttpRequest| async move {
            let key = req.query_arg("k").ok_or(HttpError::not_found())?;
            Ok::<_, HttpError>(key.to_owned())
        });
        assert_eq!(call(closure).code(), 404);
    }

    #[test]
    fn stays_small_and_debuggable() {
        assert!(std::mem::size_of::<HttpError>() <= 5 * std::mem::size_of::<usize>());
        assert!(HttpError::not_found().extra.is_none(), "nothing allocated");
        assert!(HttpError::bad_request("no").extra.is_none());
        let e = HttpError::bad_request("no").with_cause("why");
        assert_eq!(
            format!("{e:?}"),
            r#"HttpError { code: 400, message: Some("no"), headers: {}, cause: Some("why") }"#
        );
    }
}
