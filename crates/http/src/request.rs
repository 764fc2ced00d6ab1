//! [`HttpRequest`]: a request as a handler sees it, or as a client sends it.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use crate::encoding::{base64_decode, percent_decode};
use crate::error::Result;
use crate::headers::{GetAll, HttpHeaders, IntoHeaderValue};
use crate::params::Params;
use crate::parse::RequestHead;
use crate::spare;
use crate::version::Version;

/// An HTTP request, with monocle's fields: method, uri, path, query,
/// query_args, proto, host, remote address, headers, body, cookies, Basic
/// credentials, plus the parameters the route captured.
///
/// A server builds it with [`from_head`](Self::from_head) after parsing; a
/// client or a test builds it with [`new`](Self::new) or
/// [`from_url`](Self::from_url) and the `with_` methods.
///
/// # Examples
///
/// ```
/// use monocle_http::HttpRequest;
///
/// let req = HttpRequest::new("GET", "/search?q=monocle+rust&page=2&q=more")
///     .with_header("Host", "example.com")
///     .with_header("Cookie", "session=abc; theme=dark");
/// assert_eq!(req.path(), "/search");
/// assert_eq!(req.query(), "q=monocle+rust&page=2&q=more");
/// assert_eq!(req.query_arg("q"), Some("monocle rust"));
/// assert_eq!(req.query_args()["q"], ["monocle rust", "more"]);
/// assert_eq!(req.host(), Some("example.com"));
/// assert_eq!(req.cookie("theme"), Some("dark"));
/// assert_eq!(req.proto(), "HTTP/1.1");
/// ```
#[derive(Clone)]
pub struct HttpRequest {
    method: Cow<'static, str>,
    uri: Uri,
    form: Form,
    /// The path within `uri`.
    path: Range<usize>,
    /// The query within `uri`, without the `?`.
    query: Range<usize>,
    version: Version,
    headers: HttpHeaders,
    body: Vec<u8>,
    remote_addr: Option<SocketAddr>,
    scheme: Option<String>,
    params: Params,
    /// Boxed: most requests never parse their query, and a small request is
    /// cheap to move (an empty `HashMap` is 48 bytes inline, the box 8).
    #[allow(clippy::box_collection)]
    query_args: OnceCell<Box<HashMap<String, Vec<String>>>>,
}

impl monocle_stack::Outcome for HttpRequest {}

/// A request target's text. Parsed ones are made in the memory of one
/// dropped before on the thread, if it kept some (see [`spare`]): a request
/// dropped by its handler lends its target's to the next request's.
#[derive(Clone)]
pub(crate) struct Uri(String);

impl Uri {
    /// A copy of `text`.
    pub(crate) fn copy_of(text: &str) -> Uri {
        let mut copy = spare::take_text().unwrap_or_default();
        copy.push_str(text);
        Uri(copy)
    }
}

impl Drop for Uri {
    fn drop(&mut self) {
        if self.0.capacity() != 0 {
            spare::keep_text(std::mem::take(&mut self.0));
        }
    }
}

impl std::ops::Deref for Uri {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The form of a request target (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `/path?query`
    Origin,
    /// `http://host/path?query`. Where the authority starts is found again
    /// when asked for ([`HttpRequest::scheme_end`]): kept here, it would
    /// make every request 16 bytes larger and dearer to move.
    Absolute,
    /// `host:port`, for CONNECT.
    Authority,
    /// `*`, for OPTIONS.
    Asterisk,
}

/// Splits a request target into its form, path and query ranges.
fn split_target(uri: &str) -> (Form, Range<usize>, Range<usize>) {
    // Byte searches: every request goes through here, and a `char` pattern
    // costs more to set up than a short target takes to scan.
    let find = |s: &str, b: u8| s.bytes().position(|c| c == b);
    let end = find(uri, b'#').unwrap_or(uri.len());
    let (form, path_start) = if uri.starts_with('/') {
        (Form::Origin, 0)
    } else if uri == "*" {
        return (Form::Asterisk, 0..1, 1..1);
    } else if let Some(sep) = uri.find("://").filter(|&i| is_scheme(&uri[..i])) {
        let authority_start = sep + 3;
        let path_start = uri[authority_start..end]
            .find(['/', '?'])
            .map_or(end, |i| authority_start + i);
        (Form::Absolute, path_start)
    } else {
        return (Form::Authority, 0..0, 0..0);
    };
    match find(&uri[path_start..end], b'?') {
        Some(q) => (form, path_start..path_start + q, path_start + q + 1..end),
        None => (form, path_start..end, end..end),
    }
}

/// Whether `s` is a URI scheme (RFC 3986 §3.1).
pub(crate) fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

impl HttpRequest {
    /// Creates a request for `uri` (origin-form `/path?query`, or an absolute URL
    /// whose authority then serves as the host), HTTP/1.1, no headers, no body.
    ///
    /// Nothing is validated here; [`write_request_head`](crate::write_request_head)
    /// refuses a method or target that could not go on the wire.
    pub fn new(method: impl Into<String>, uri: impl Into<String>) -> Self {
        let uri = uri.into();
        let (form, path, query) = split_target(&uri);
        HttpRequest {
            method: Cow::Owned(method.into()),
            uri: Uri(uri),
            form,
            path,
            query,
            version: Version::Http11,
            headers: HttpHeaders::new(),
            body: Vec::new(),
            remote_addr: None,
            scheme: None,
            params: Params::new(),
            query_args: OnceCell::new(),
        }
    }

    /// Creates a request for a URL, as a client sends it: the target is its path
    /// and query, the `Host` header its host and port (the port only when it is
    /// not the scheme's default), and [`scheme`](Self::scheme) its scheme. A
    /// fragment is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`](crate::Error::InvalidUrl) when `url` does not parse
    /// or has no host.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::HttpRequest;
    ///
    /// let req = HttpRequest::from_url("GET", "http://127.0.0.1:8088/hello?x=1#top")?;
    /// assert_eq!(req.uri(), "/hello?x=1");
    /// assert_eq!(req.headers().get("host"), Some("127.0.0.1:8088"));
    /// assert_eq!(req.scheme(), Some("http"));
    /// # Ok::<(), monocle_http::Error>(())
    /// ```
    pub fn from_url(method: impl Into<String>, url: &str) -> Result<Self> {
        let url = url::Url::parse(url)?;
        let host = url.host_str().ok_or(url::ParseError::EmptyHost)?;
        let mut target = url.path().to_owned();
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        let mut req = HttpRequest::new(method, target);
        let mut authority = String::with_capacity(host.len() + 6);
        authority.push_str(host);
        if let Some(port) = url.port() {
            authority.push(':');
            authority.push_str(&port.to_string());
        }
        req.headers.push_unchecked("Host", &authority);
        req.scheme = Some(url.scheme().to_owned());
        Ok(req)
    }

    /// Builds the request a server hands to its handler, from a parsed head,
    /// the body read after it, and the peer's address.
    pub fn from_head(head: RequestHead, body: Vec<u8>, remote_addr: Option<SocketAddr>) -> Self {
        let (form, path, query) = split_target(&head.uri);
        HttpRequest {
            method: head.method,
            uri: head.uri,
            form,
            path,
            query,
            version: head.version,
            headers: head.headers,
            body,
            remote_addr,
            scheme: None,
            params: Params::new(),
            query_args: OnceCell::new(),
        }
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

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the protocol version.
    pub fn with_version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// Sets the peer's address.
    pub fn with_remote_addr(mut self, addr: SocketAddr) -> Self {
        self.remote_addr = Some(addr);
        self
    }

    /// Sets the route parameters; the server does this after routing.
    pub fn set_params(&mut self, params: Params) {
        self.params = params;
    }

    /// Whether the target is an absolute URL.
    pub(crate) fn is_absolute_form(&self) -> bool {
        self.form == Form::Absolute
    }

    /// The method, e.g. `"GET"`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target as sent (monocle's `uri`): `/path?query`, an absolute
    /// URL, `*`, or `host:port`.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The path of the target, still percent-encoded, e.g. `/a%20b`. `/` for an
    /// absolute URL without a path, `*` for `OPTIONS *`, empty for `CONNECT host:port`.
    /// Routes match against this.
    pub fn path(&self) -> &str {
        match (&self.form, self.path.is_empty()) {
            (Form::Absolute, true) => "/",
            _ => &self.uri[self.path.clone()],
        }
    }

    /// The path with `%XX` escapes decoded, e.g. `/a b`; bytes that do not form
    /// UTF-8 become U+FFFD. Borrows when there is nothing to decode.
    pub fn decoded_path(&self) -> Cow<'_, str> {
        percent_decode(self.path())
    }

    /// The query string without `?`, still encoded; empty if there is none.
    pub fn query(&self) -> &str {
        &self.uri[self.query.clone()]
    }

    /// The query parsed as `application/x-www-form-urlencoded`: each name with
    /// all its values in order (monocle's `query_args`). Parsed on first use.
    pub fn query_args(&self) -> &HashMap<String, Vec<String>> {
        self.query_args.get_or_init(|| {
            let mut args: HashMap<String, Vec<String>> = HashMap::new();
            for (k, v) in url::form_urlencoded::parse(self.query().as_bytes()) {
                args.entry(k.into_owned()).or_default().push(v.into_owned());
            }
            Box::new(args)
        })
    }

    /// The first value of query argument `name`, decoded.
    pub fn query_arg(&self, name: &str) -> Option<&str> {
        self.query_args()
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The protocol version as text, `"HTTP/1.1"` (monocle's `proto`).
    pub fn proto(&self) -> &'static str {
        self.version.as_str()
    }

    /// The host the request is for: the authority of an absolute-form target,
    /// else the `Host` header (with its port, if one was given).
    pub fn host(&self) -> Option<&str> {
        match self.form {
            Form::Absolute => {
                let authority = &self.uri[self.scheme_end() + 3..self.path.start];
                // Drop any userinfo.
                Some(authority.rsplit('@').next().unwrap_or(authority))
            }
            Form::Authority => Some(&self.uri),
            _ => self.headers.get("host"),
        }
    }

    /// The scheme of a request built by [`from_url`](Self::from_url), else of an
    /// absolute-form target; `None` for origin-form targets.
    pub fn scheme(&self) -> Option<&str> {
        match (&self.scheme, self.form) {
            (Some(s), _) => Some(s),
            (None, Form::Absolute) => Some(&self.uri[..self.scheme_end()]),
            _ => None,
        }
    }

    /// Where the scheme of an absolute-form target ends: at its first
    /// `://`, as [`split_target`] found it (the authority follows).
    fn scheme_end(&self) -> usize {
        debug_assert_eq!(self.form, Form::Absolute);
        self.uri.find("://").unwrap_or_default()
    }

    /// The peer's address, when the request came over a socket.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The peer's IP address (monocle's `remote_ip`).
    pub fn remote_ip(&self) -> Option<IpAddr> {
        self.remote_addr.map(|a| a.ip())
    }

    /// The header fields.
    pub fn headers(&self) -> &HttpHeaders {
        &self.headers
    }

    /// The header fields, to change.
    pub fn headers_mut(&mut self) -> &mut HttpHeaders {
        &mut self.headers
    }

    /// The body (empty if none was sent).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, to change.
    pub fn body_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }

    /// Takes the body out of the request.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The cookies of every `Cookie` header as `(name, value)`, in order;
    /// surrounding double quotes are removed from values.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::HttpRequest;
    ///
    /// let req = HttpRequest::new("GET", "/").with_header("Cookie", "a=1; b=\"two\"");
    /// assert_eq!(req.cookies().collect::<Vec<_>>(), [("a", "1"), ("b", "two")]);
    /// ```
    pub fn cookies(&self) -> Cookies<'_> {
        Cookies {
            headers: self.headers.get_all("cookie"),
            current: None,
        }
    }

    /// The value of the first cookie called `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The user name and password of an `Authorization: Basic` header
    /// (monocle's `get_basic_auth()`); `None` when absent or malformed.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::HttpRequest;
    ///
    /// let req = HttpRequest::new("GET", "/")
    ///     .with_header("Authorization", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    /// assert_eq!(req.basic_auth(), Some(("Aladdin".into(), "open sesame".into())));
    /// ```
    #[doc(alias = "get_basic_auth")]
    pub fn basic_auth(&self) -> Option<(String, String)> {
        let value = self.headers.get("authorization")?;
        let (scheme, credentials) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = String::from_utf8(base64_decode(credentials.trim())?).ok()?;
        let (user, password) = decoded.split_once(':')?;
        Some((user.to_owned(), password.to_owned()))
    }

    /// The parameter `name` that the route captured, percent-decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name)
    }

    /// Every parameter the route captured.
    pub fn params(&self) -> &Params {
        &self.params
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("version", &self.version)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("remote_addr", &self.remote_addr)
            .field("params", &self.params)
            .finish()
    }
}

/// Iterator over the cookies of a request; see [`HttpRequest::cookies`].
#[derive(Debug, Clone)]
pub struct Cookies<'a> {
    headers: GetAll<'a>,
    current: Option<std::str::Split<'a, char>>,
}

impl<'a> Iterator for Cookies<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(pair) = self.current.as_mut().and_then(Iterator::next) {
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                let name = name.trim_matches([' ', '\t']);
                if name.is_empty() {
                    continue;
                }
                let value = value.trim_matches([' ', '\t']);
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                return Some((name, value));
            }
            self.current = Some(self.headers.next()?.split(';'));
        }
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // test tables
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::parse::parse_request_head;

    #[test]
    fn target_forms() {
        // (target, path, query, host header, host)
        let table = [
            ("/", "/", "", None, None),
            ("/a/b?c=d&e", "/a/b", "c=d&e", Some("h"), Some("h")),
            ("/a?", "/a", "", None, None),
            ("/a#frag", "/a", "", None, None),
            ("/a?b#frag", "/a", "b", None, None),
            ("/a%20b/c", "/a%20b/c", "", None, None),
            (
                "http://example.com",
                "/",
                "",
                Some("ignored"),
                Some("example.com"),
            ),
            (
                "http://example.com:8080/x?y=1",
                "/x",
                "y=1",
                None,
                Some("example.com:8080"),
            ),
            (
                "https://user:pw@example.com?q",
                "/",
                "q",
                None,
                Some("example.com"),
            ),
            ("*", "*", "", Some("h"), Some("h")),
            ("example.com:443", "", "", None, Some("example.com:443")),
        ];
        for (target, path, query, host_header, host) in table {
            let mut req = HttpRequest::new("GET", target);
            if let Some(h) = host_header {
                req = req.with_header("Host", h);
            }
            assert_eq!(
                (req.path(), req.query(), req.host()),
                (path, query, host),
                "{target}"
            );
        }
    }

    #[test]
    fn decoded_path() {
        let req = HttpRequest::new("GET", "/caf%C3%A9/a%2Fb?x=%20");
        assert_eq!(req.path(), "/caf%C3%A9/a%2Fb");
        assert_eq!(req.decoded_path(), "/caf\u{e9}/a/b");
    }

    #[test]
    fn query_args_table() {
        let table: &[(&str, &[(&str, &[&str])])] = &[
            ("/", &[]),
            ("/?a=1", &[("a", &["1"])]),
            ("/?a=1&a=2&b=", &[("a", &["1", "2"]), ("b", &[""])]),
            ("/?flag", &[("flag", &[""])]),
            (
                "/?x=a+b%20c&y=%E2%82%AC",
                &[("x", &["a b c"]), ("y", &["\u{20ac}"])],
            ),
            ("/?k%3D=v%26", &[("k=", &["v&"])]),
        ];
        for (target, want) in table {
            let req = HttpRequest::new("GET", *target);
            let args = req.query_args();
            assert_eq!(args.len(), want.len(), "{target}");
            for (k, vs) in *want {
                assert_eq!(args[*k], *vs, "{target} {k}");
            }
        }
        let req = HttpRequest::new("GET", "/?a=1&a=2");
        assert_eq!(req.query_arg("a"), Some("1"));
        assert_eq!(req.query_arg("b"), None);
    }

    #[test]
    fn cookies_table() {
        let table: &[(&[&str], &[(&str, &str)])] = &[
            (&[], &[]),
            (&["a=1"], &[("a", "1")]),
            (&["a=1; b=2", "c=3"], &[("a", "1"), ("b", "2"), ("c", "3")]),
            (&["a=1;b=2;"], &[("a", "1"), ("b", "2")]),
            (
                &[" a = x=y ; junk; =novalue; q=\"quoted\""],
                &[("a", "x=y"), ("q", "quoted")],
            ),
            (&["e="], &[("e", "")]),
        ];
        for (headers, want) in table {
            let mut req = HttpRequest::new("GET", "/");
            for h in *headers {
                req.headers_mut().add("Cookie", *h);
            }
            assert_eq!(req.cookies().collect::<Vec<_>>(), *want, "{headers:?}");
        }
        let req = HttpRequest::new("GET", "/").with_header("Cookie", "a=1; a=2");
        assert_eq!(req.cookie("a"), Some("1"));
        assert_eq!(req.cookie("b"), None);
    }

    #[test]
    fn basic_auth_table() {
        let table: &[(Option<&str>, Option<(&str, &str)>)] = &[
            (None, None),
            (Some("Basic dXNlcjpwYXNz"), Some(("user", "pass"))),
            (Some("basic dXNlcjpwYXNz"), Some(("user", "pass"))),
            (Some("BASIC  dXNlcjpwYXNz "), Some(("user", "pass"))),
            (Some("Basic dXNlcjo="), Some(("user", ""))),
            (Some("Basic OnB3"), Some(("", "pw"))),
            (Some("Basic dTpwOnE="), Some(("u", "p:q"))),
            (Some("Basic dXNlcg=="), None),
            (Some("Basic !!!"), None),
            (Some("Bearer dXNlcjpwYXNz"), None),
            (Some("Basic"), None),
            (Some("Basic /w=="), None),
        ];
        for (header, want) in table {
            let mut req = HttpRequest::new("GET", "/");
            if let Some(h) = header {
                req.headers_mut().add("Authorization", *h);
            }
            let got = req.basic_auth();
            let want = want.map(|(u, p)| (u.to_string(), p.to_string()));
            assert_eq!(got, want, "{header:?}");
        }
    }

    #[test]
    fn from_head_and_remote() {
        let buf = b"POST /f/x?y=1 HTTP/1.0\r\nHost: h:1\r\nContent-Length: 2\r\n\r\nhi";
        let head = parse_request_head(buf, &Limits::default())
            .unwrap()
            .unwrap();
        let body = buf[head.len()..].to_vec();
        let addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut req = HttpRequest::from_head(head, body, Some(addr));
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri(), "/f/x?y=1");
        assert_eq!(req.path(), "/f/x");
        assert_eq!(req.query_arg("y"), Some("1"));
        assert_eq!(req.version(), Version::Http10);
        assert_eq!(req.proto(), "HTTP/1.0");
        assert_eq!(req.host(), Some("h:1"));
        assert_eq!(req.remote_ip(), Some(addr.ip()));
        assert_eq!(req.body(), b"hi");
        assert_eq!(req.scheme(), None);
        req.set_params([("x", "1")].into_iter().collect());
        assert_eq!(req.param("x"), Some("1"));
        assert_eq!(req.params().len(), 1);
        assert_eq!(req.into_body(), b"hi");
    }

    #[test]
    fn from_url_table() {
        let table = [
            ("http://127.0.0.1:8088/", "/", "127.0.0.1:8088", "http"),
            ("http://example.com", "/", "example.com", "http"),
            (
                "http://example.com:80/a b?c=d",
                "/a%20b?c=d",
                "example.com",
                "http",
            ),
            ("https://[::1]:8443/x", "/x", "[::1]:8443", "https"),
        ];
        for (url, uri, host, scheme) in table {
            let req = HttpRequest::from_url("GET", url).unwrap();
            assert_eq!(
                (req.uri(), req.host(), req.scheme()),
                (uri, Some(host), Some(scheme)),
                "{url}"
            );
        }
        assert!(HttpRequest::from_url("GET", "not a url").is_err());
        assert!(HttpRequest::from_url("GET", "unix:/tmp/sock").is_err());
        let abs = HttpRequest::new("GET", "https://h/x");
        assert_eq!(abs.scheme(), Some("https"));
        // The first `://` ends the scheme, not a later one in the path.
        let abs = HttpRequest::new("GET", "ftp://u@h:21/a://b?c://d");
        assert_eq!((abs.scheme(), abs.host()), (Some("ftp"), Some("h:21")));
        assert_eq!((abs.path(), abs.query()), ("/a://b", "c://d"));
    }

    #[test]
    fn a_parsed_target_is_made_in_a_dropped_one_s_memory() {
        let limits = Limits::default();
        let head = |buf: &[u8]| parse_request_head(buf, &limits).unwrap().unwrap();
        let first = head(b"GET /a/long/target?with=a&query HTTP/1.1\r\nHost: x\r\n\r\n");
        let capacity = first.uri.0.capacity();
        drop(first);
        let next = head(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((next.uri(), next.uri.0.capacity()), ("/b", capacity));
        assert!(crate::spare::take_text().is_none());
    }

    #[test]
    fn a_request_moves_in_one_short_copy() {
        // A request is moved a few times on its way into a handler's future;
        // on x86-64, glibc's memcpy takes a longer path past 256 bytes.
        #[cfg(target_pointer_width = "64")]
        assert!(std::mem::size_of::<HttpRequest>() <= 256);
    }
}
