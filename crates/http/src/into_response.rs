//! What a handler may return: [`IntoResponse`] and [`IntoBody`].

use std::borrow::Cow;
use std::fmt::Display;

use crate::headers::HttpHeaders;
use crate::response::{Body, HttpResponse};

/// A body a handler can return: strings, bytes, or a [`Body`].
///
/// Strings also give a default `Content-Type: text/plain; charset=utf-8`, used
/// when the response has a non-empty body and no `Content-Type` of its own.
pub trait IntoBody {
    /// The `Content-Type` to use when the handler set none.
    const CONTENT_TYPE: Option<&'static str> = None;

    /// Converts into a [`Body`].
    fn into_body(self) -> Body;
}

const TEXT: Option<&str> = Some("text/plain; charset=utf-8");

impl IntoBody for &'static str {
    const CONTENT_TYPE: Option<&'static str> = TEXT;
    fn into_body(self) -> Body {
        Body::from_static(self.as_bytes())
    }
}

impl IntoBody for String {
    const CONTENT_TYPE: Option<&'static str> = TEXT;
    fn into_body(self) -> Body {
        Body::from(self)
    }
}

impl IntoBody for Cow<'static, str> {
    const CONTENT_TYPE: Option<&'static str> = TEXT;
    fn into_body(self) -> Body {
        match self {
            Cow::Borrowed(s) => Body::from_static(s.as_bytes()),
            Cow::Owned(s) => Body::from(s),
        }
    }
}

impl IntoBody for Vec<u8> {
    fn into_body(self) -> Body {
        Body::from(self)
    }
}

impl IntoBody for &'static [u8] {
    fn into_body(self) -> Body {
        Body::from_static(self)
    }
}

impl<const N: usize> IntoBody for &'static [u8; N] {
    fn into_body(self) -> Body {
        Body::from_static(self)
    }
}

impl IntoBody for Body {
    fn into_body(self) -> Body {
        self
    }
}

/// What a handler can return, as monocle's handlers returned `"body"`, `404`,
/// `(code, body)` or `(code, headers, body)`.
///
/// | handler returns | response |
/// |---|---|
/// | a body: `&'static str`, `String`, `Vec<u8>`, `&'static [u8]`, [`Body`] | 200 with that body |
/// | `u16` | that status, empty body |
/// | `(u16, body)` | that status and body |
/// | `(u16, HttpHeaders, body)` | that status, headers and body |
/// | [`HttpResponse`] | itself |
/// | `Option<R>` | `None` is 404 |
/// | `Result<R, E>` with `E: Display` | `Err` is 500; the error's text (`{:#}`) is kept in [`HttpResponse::handler_error`] for the server to log, and not sent |
/// | [`HttpError`](crate::HttpError), `Result<R, HttpError>` | the error's status, message and headers; its cause (a `?`-converted error's text) is kept in [`HttpResponse::handler_error`] for the log, and not sent |
///
/// A string body with no `Content-Type` set gets `text/plain; charset=utf-8`.
/// `Result<R, HttpError>` is the one to use with `?` when some errors are the
/// client's (a 400, a 404) and others the server's (a 500).
///
/// # Examples
///
/// ```
/// use monocle_http::{HttpHeaders, IntoResponse};
///
/// assert_eq!("Hello".into_response().code(), 200);
/// assert_eq!(404.into_response().code(), 404);
/// let headers = HttpHeaders::from([("Content-Type", "text/html")]);
/// let resp = (201, headers, "<p>made</p>").into_response();
/// assert_eq!(resp.headers().get("content-type"), Some("text/html"));
///
/// let failed: Result<&str, std::io::Error> = Err(std::io::Error::other("disk full"));
/// let resp = failed.into_response();
/// assert_eq!(resp.code(), 500);
/// assert_eq!(resp.handler_error(), Some("disk full"));
/// ```
pub trait IntoResponse {
    /// Converts into an [`HttpResponse`].
    fn into_response(self) -> HttpResponse;
}

fn with_body<B: IntoBody>(mut resp: HttpResponse, body: B) -> HttpResponse {
    let body = body.into_body();
    if let Some(ct) = B::CONTENT_TYPE {
        if !body.is_empty() && !resp.headers().contains("content-type") {
            resp.headers_mut().push_unchecked("Content-Type", ct);
        }
    }
    resp.with_body(body)
}

impl<B: IntoBody> IntoResponse for B {
    fn into_response(self) -> HttpResponse {
        with_body(HttpResponse::new(200), self)
    }
}

impl IntoResponse for HttpResponse {
    fn into_response(self) -> HttpResponse {
        self
    }
}

impl IntoResponse for u16 {
    fn into_response(self) -> HttpResponse {
        HttpResponse::new(self)
    }
}

impl<B: IntoBody> IntoResponse for (u16, B) {
    fn into_response(self) -> HttpResponse {
        with_body(HttpResponse::new(self.0), self.1)
    }
}

impl<B: IntoBody> IntoResponse for (u16, HttpHeaders, B) {
    fn into_response(self) -> HttpResponse {
        with_body(HttpResponse::new(self.0).with_headers(self.1), self.2)
    }
}

impl<R: IntoResponse> IntoResponse for Option<R> {
    fn into_response(self) -> HttpResponse {
        match self {
            Some(r) => r.into_response(),
            None => HttpResponse::new(404),
        }
    }
}

impl<R: IntoResponse, E: Display> IntoResponse for Result<R, E> {
    fn into_response(self) -> HttpResponse {
        match self {
            Ok(r) => r.into_response(),
            Err(e) => HttpResponse::internal_error(format!("{e:#}")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // test tables
mod tests {
    use super::*;

    fn summary(r: HttpResponse) -> (u16, Option<String>, Vec<u8>, Option<String>) {
        let ct = r.headers().get("content-type").map(str::to_owned);
        let err = r.handler_error().map(str::to_owned);
        let body = r.body().as_bytes().unwrap_or_default().to_vec();
        (r.code(), ct, body, err)
    }

    const TEXT: Option<String> = None;

    #[test]
    fn conversions_table() {
        let text = || Some("text/plain; charset=utf-8".to_string());
        let table: Vec<(HttpResponse, (u16, Option<String>, Vec<u8>, Option<String>))> = vec![
            ("hi".into_response(), (200, text(), b"hi".to_vec(), None)),
            (
                String::from("hi").into_response(),
                (200, text(), b"hi".to_vec(), None),
            ),
            ("".into_response(), (200, TEXT, vec![], None)),
            (vec![1u8, 2].into_response(), (200, None, vec![1, 2], None)),
            (
                (&b"ab"[..]).into_response(),
                (200, None, b"ab".to_vec(), None),
            ),
            (b"ab".into_response(), (200, None, b"ab".to_vec(), None)),
            (
                Cow::Borrowed("c").into_response(),
                (200, text(), b"c".to_vec(), None),
            ),
            (204.into_response(), (204, None, vec![], None)),
            (
                (404, "gone").into_response(),
                (404, text(), b"gone".to_vec(), None),
            ),
            (
                (
                    200,
                    HttpHeaders::from([("Content-Type", "text/html")]),
                    "<b>",
                )
                    .into_response(),
                (200, Some("text/html".into()), b"<b>".to_vec(), None),
            ),
            (
                (201, HttpHeaders::new(), vec![7u8]).into_response(),
                (201, None, vec![7], None),
            ),
            (
                HttpResponse::new(302).into_response(),
                (302, None, vec![], None),
            ),
            (
                Some("x").into_response(),
                (200, text(), b"x".to_vec(), None),
            ),
            (None::<&str>.into_response(), (404, None, vec![], None)),
            (
                Ok::<_, String>((202, "ok")).into_response(),
                (202, text(), b"ok".to_vec(), None),
            ),
            (
                Err::<&str, _>("boom").into_response(),
                (
                    500,
                    text(),
                    b"Internal Server Error".to_vec(),
                    Some("boom".into()),
                ),
            ),
        ];
        for (i, (resp, want)) in table.into_iter().enumerate() {
            assert_eq!(summary(resp), want, "row {i}");
        }
    }

    #[test]
    fn async_fn_results_convert() {
        #[derive(Debug)]
        struct MyError;
        impl Display for MyError {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("my error")
            }
        }
        fn handler(fail: bool) -> Result<(u16, String), MyError> {
            if fail {
                Err(MyError)
            } else {
                Ok((200, "fine".into()))
            }
        }
        assert_eq!(handler(false).into_response().code(), 200);
        let r = handler(true).into_response();
        assert_eq!((r.code(), r.handler_error()), (500, Some("my error")));
    }
}
