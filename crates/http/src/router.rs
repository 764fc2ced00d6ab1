//! [`HttpRouter`]: maps a method and a path to a handler and its parameters.

use std::fmt;

use regex::Regex;

use crate::encoding::percent_decode;
use crate::error::{Error, Result};
use crate::handler::Handler;
use crate::params::Params;

/// A compiled route pattern.
///
/// A pattern string matches the whole path; in it:
///
/// * `:name` matches one path segment (one or more characters other than `/`)
///   and captures it as parameter `name` (`name` is letters, digits and `_`,
///   not starting with a digit; a `:` not followed by a name is literal);
/// * `*` matches any run of characters, `/` included, even none, and captures it
///   as parameter `"*"`;
/// * `?` makes the character (or `:name`, or `*`) before it optional, as in
///   monocle's `/slashable/?`;
/// * every other character is literal.
///
/// A [`Regex`] is used as given: the route matches when the regex matches the
/// path (anchor it with `^…$` to match the whole path), and each named group that
/// took part becomes a parameter.
///
/// Paths are matched as sent, still percent-encoded (so an encoded `%2F` never
/// splits a segment); captured values are percent-decoded.
///
/// # Examples
///
/// ```
/// use monocle_http::Pattern;
///
/// let p = Pattern::new("/first/:first/second/:second_what")?;
/// let params = p.matches("/first/a%20b/second/c").unwrap();
/// assert_eq!(params.get("first"), Some("a b"));
/// assert_eq!(params.get("second_what"), Some("c"));
/// assert!(p.matches("/first/a/b/second/c").is_none());
///
/// let p = Pattern::new("/slashable/?")?;
/// assert!(p.matches("/slashable").is_some() && p.matches("/slashable/").is_some());
///
/// let p = Pattern::from(regex::Regex::new(r"^/user/(?P<id>\d+)$").unwrap());
/// assert_eq!(p.matches("/user/42").unwrap().get("id"), Some("42"));
/// # Ok::<(), monocle_http::Error>(())
/// ```
#[derive(Clone)]
pub struct Pattern {
    regex: Regex,
    /// For each parameter: the capture group index and the parameter name.
    slots: Vec<(usize, String)>,
    source: String,
}

impl Pattern {
    /// Compiles a pattern string (see the type's documentation).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPattern`] when a `?` has nothing before it to make optional.
    pub fn new(pattern: &str) -> Result<Pattern> {
        let mut re = String::with_capacity(pattern.len() * 2 + 6);
        // `s`: the `.` of a `*` matches a line feed too.
        re.push_str("(?s)^");
        let mut slots = Vec::new();
        let mut group = 0;
        let mut can_be_optional = false;
        let mut rest = pattern;
        while let Some(c) = rest.chars().next() {
            rest = &rest[c.len_utf8()..];
            match c {
                ':' if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') => {
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    group += 1;
                    slots.push((group, rest[..end].to_owned()));
                    rest = &rest[end..];
                    re.push_str("([^/]+)");
                    can_be_optional = true;
                }
                '*' => {
                    group += 1;
                    slots.push((group, "*".to_owned()));
                    re.push_str("(.*)");
                    can_be_optional = true;
                }
                '?' if can_be_optional => {
                    re.push('?');
                    can_be_optional = false;
                }
                '?' => {
                    return Err(Error::InvalidPattern(format!(
                    "{pattern:?}: `?` must follow a character, a :name or a * to make it optional"
                )))
                }
                c => {
                    let mut tmp = [0u8; 4];
                    re.push_str(&regex::escape(c.encode_utf8(&mut tmp)));
                    can_be_optional = true;
                }
            }
        }
        re.push('$');
        let regex =
            Regex::new(&re).map_err(|e| Error::InvalidPattern(format!("{pattern:?}: {e}")))?;
        Ok(Pattern {
            regex,
            slots,
            source: pattern.to_owned(),
        })
    }

    /// Uses a regular expression as given; its named groups become parameters.
    pub fn regex(regex: Regex) -> Pattern {
        let slots = regex
            .capture_names()
            .enumerate()
            .filter_map(|(i, name)| Some((i, name?.to_owned())))
            .collect();
        let source = regex.as_str().to_owned();
        Pattern {
            regex,
            slots,
            source,
        }
    }

    /// The parameters captured from `path` if the pattern matches it.
    pub fn matches(&self, path: &str) -> Option<Params> {
        if self.slots.is_empty() {
            return self.regex.is_match(path).then(Params::new);
        }
        let caps = self.regex.captures(path)?;
        Some(
            self.slots
                .iter()
                .filter_map(|(i, name)| {
                    let value = caps.get(*i)?.as_str();
                    Some((name.clone(), percent_decode(value).into_owned()))
                })
                .collect(),
        )
    }

    /// Whether the pattern matches `path`, without capturing.
    pub fn is_match(&self, path: &str) -> bool {
        self.regex.is_match(path)
    }

    /// The pattern as given (the regex's source for a regex).
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl From<Regex> for Pattern {
    fn from(regex: Regex) -> Self {
        Pattern::regex(regex)
    }
}

/// Something a route can be made from: a pattern string, a [`Regex`] or a [`Pattern`].
pub trait IntoPattern {
    /// Compiles into a [`Pattern`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPattern`] for a pattern string that does not compile.
    fn into_pattern(self) -> Result<Pattern>;
}

impl IntoPattern for &str {
    fn into_pattern(self) -> Result<Pattern> {
        Pattern::new(self)
    }
}

impl IntoPattern for String {
    fn into_pattern(self) -> Result<Pattern> {
        Pattern::new(&self)
    }
}

impl IntoPattern for &String {
    fn into_pattern(self) -> Result<Pattern> {
        Pattern::new(self)
    }
}

impl IntoPattern for Regex {
    fn into_pattern(self) -> Result<Pattern> {
        Ok(Pattern::regex(self))
    }
}

impl IntoPattern for Pattern {
    fn into_pattern(self) -> Result<Pattern> {
        Ok(self)
    }
}

/// The outcome of [`HttpRouter::find`].
#[derive(Debug)]
pub enum RouteMatch<'a, H> {
    /// A route matched: its handler and the parameters it captured.
    Found {
        /// The route's handler.
        handler: &'a H,
        /// The parameters captured from the path.
        params: Params,
    },
    /// Routes match the path, but none for this method: answer 405 with an
    /// `Allow` header listing `allowed` (see [`RouteMatch::allow_header`]).
    MethodNotAllowed {
        /// The methods the path has routes for, in route order, without
        /// duplicates; `HEAD` is included when `GET` is.
        allowed: Vec<&'a str>,
    },
    /// No route matches the path: use the server's default handler, or 404.
    NotFound,
}

impl<H> RouteMatch<'_, H> {
    /// The value of an `Allow` header for [`RouteMatch::MethodNotAllowed`], e.g.
    /// `"GET, HEAD, POST"`; `None` for the other outcomes.
    pub fn allow_header(&self) -> Option<String> {
        match self {
            RouteMatch::MethodNotAllowed { allowed } => Some(allowed.join(", ")),
            _ => None,
        }
    }
}

const ANY: &str = "*";

struct Route<H> {
    method: String,
    pattern: Pattern,
    handler: H,
}

/// Routes requests by method and path, as monocle's `HttpRouter` did with
/// `@router.get(pattern)`.
///
/// Routes are tried in the order they were added; the first whose method and
/// pattern match wins. A `GET` route also answers `HEAD`, unless a `HEAD` route
/// for the path exists (explicit `HEAD` routes are tried first). Methods are
/// compared exactly, after upper-casing the route's. See [`Pattern`] for the
/// pattern syntax.
///
/// The handler type `H` is [`Handler`] by default, into which any `async
/// fn(HttpRequest) -> impl IntoResponse` converts; matching works with any `H`.
///
/// # Panics
///
/// The route-adding methods panic on a pattern that does not compile (a
/// programming error, like an invalid literal regex); [`try_route`](Self::try_route)
/// returns the error instead.
///
/// # Examples
///
/// ```
/// use monocle_http::{HttpRequest, HttpRouter, RouteMatch};
///
/// async fn hello(_req: HttpRequest) -> &'static str {
///     "hello"
/// }
/// async fn item(req: HttpRequest) -> String {
///     format!("item {}", req.param("id").unwrap_or("?"))
/// }
///
/// let mut router: HttpRouter = HttpRouter::new();
/// router.get("/", hello).get("/items/:id", item).post("/items/:id", item);
///
/// match router.find("GET", "/items/7") {
///     RouteMatch::Found { params, .. } => assert_eq!(params.get("id"), Some("7")),
///     other => panic!("{other:?}"),
/// }
/// let m = router.find("DELETE", "/items/7");
/// assert_eq!(m.allow_header().as_deref(), Some("GET, HEAD, POST"));
/// assert!(matches!(router.find("GET", "/nope"), RouteMatch::NotFound));
/// ```
pub struct HttpRouter<H = Handler> {
    routes: Vec<Route<H>>,
}

impl<H> HttpRouter<H> {
    /// Creates a router with no routes.
    pub const fn new() -> Self {
        HttpRouter { routes: Vec::new() }
    }

    /// Adds a route for `method`.
    ///
    /// # Panics
    ///
    /// If the pattern does not compile; see [`try_route`](Self::try_route).
    #[track_caller]
    pub fn route(
        &mut self,
        method: &str,
        pattern: impl IntoPattern,
        handler: impl Into<H>,
    ) -> &mut Self {
        if let Err(e) = self.try_route(method, pattern, handler) {
            panic!("HttpRouter: {e}");
        }
        self
    }

    /// Adds a route for `method`, or returns why its pattern does not compile.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPattern`].
    pub fn try_route(
        &mut self,
        method: &str,
        pattern: impl IntoPattern,
        handler: impl Into<H>,
    ) -> Result<&mut Self> {
        self.routes.push(Route {
            method: method.to_ascii_uppercase(),
            pattern: pattern.into_pattern()?,
            handler: handler.into(),
        });
        Ok(self)
    }

    /// Adds a route answering every method.
    #[track_caller]
    pub fn any(&mut self, pattern: impl IntoPattern, handler: impl Into<H>) -> &mut Self {
        self.route(ANY, pattern, handler)
    }

    /// Adds a `GET` route, which also answers `HEAD`.
    #[track_caller]
    pub fn get(&mut self, pattern: impl IntoPattern, handler: impl Into<H>) -> &mut Self {
        self.route("GET", pattern, handler)
    }

    /// Adds a `POST` route.
    #[track_caller]
    pub fn post(&mut self, pattern: impl IntoPattern, handler: impl Into<H>) -> &mut Self {
        self.route("POST", pattern, handler)
    }

    /// Adds a `PUT` route.
    #[track_caller]
    pub fn put(&mut self, pattern: impl IntoPattern, handler: impl Into<H>) -> &mut Self {
        self.route("PUT", pattern, handler)
    }

    /// Adds a `DELETE` route.
    #[track_caller]
    pub fn delete(&mut self, pattern: impl IntoPattern, handler: impl Into<H>) -> &mut Self {
        self.route("DELETE", pattern, handler)
    }

    /// Adds a `HEAD` route.
    #[track_caller]
    pub fn head(&mut self, pattern: impl IntoPattern, handler: impl Into<H>) -> &mut Self {
        self.route("HEAD", pattern, handler)
    }

    /// Adds an `OPTIONS` route.
    #[track_caller]
    pub fn options(&mut self, pattern: impl IntoPattern, handler: impl Into<H>) -> &mut Self {
        self.route("OPTIONS", pattern, handler)
    }

    /// Adds a `PATCH` route.
    #[track_caller]
    pub fn patch(&mut self, pattern: impl IntoPattern, handler: impl Into<H>) -> &mut Self {
        self.route("PATCH", pattern, handler)
    }

    /// Finds the route for a request's method and (still encoded) path.
    pub fn find(&self, method: &str, path: &str) -> RouteMatch<'_, H> {
        let found = self.first(path, |m| m == method || m == ANY).or_else(|| {
            (method == "HEAD")
                .then(|| self.first(path, |m| m == "GET"))
                .flatten()
        });
        if let Some((handler, params)) = found {
            return RouteMatch::Found { handler, params };
        }
        let mut allowed: Vec<&str> = Vec::new();
        for route in &self.routes {
            if route.method != ANY
                && !allowed.contains(&route.method.as_str())
                && route.pattern.is_match(path)
            {
                allowed.push(&route.method);
                if route.method == "GET" && !allowed.contains(&"HEAD") {
                    allowed.push("HEAD");
                }
            }
        }
        if allowed.is_empty() {
            RouteMatch::NotFound
        } else {
            RouteMatch::MethodNotAllowed { allowed }
        }
    }

    fn first(&self, path: &str, method_ok: impl Fn(&str) -> bool) -> Option<(&H, Params)> {
        self.routes
            .iter()
            .filter(|r| method_ok(&r.method))
            .find_map(|r| Some((&r.handler, r.pattern.matches(path)?)))
    }

    /// The number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

impl<H> Default for HttpRouter<H> {
    fn default() -> Self {
        HttpRouter::new()
    }
}

impl<H> fmt::Debug for HttpRouter<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.routes.iter().map(|r| (&r.method, &r.pattern)))
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // test tables
mod tests {
    use super::*;

    /// Routes named after monocle's webserver example.
    fn webserver() -> HttpRouter<&'static str> {
        let mut r = HttpRouter::new();
        r.get("/", "index")
            .get("/slashable/?", "slashable")
            .get("/first/:first/second/:second_what", "params")
            .get(
                Regex::new(r"^/regex/(?P<num>\d+)/(?P<word>[a-z]+)$").unwrap(),
                "regex",
            )
            .get("/*/star/*", "stars")
            .post("/form", "form_post")
            .get("/form", "form_get")
            .put("/form", "form_put")
            .head("/headonly", "head_route")
            .get("/headonly", "get_route");
        r
    }

    fn found(
        r: &HttpRouter<&'static str>,
        method: &str,
        path: &str,
    ) -> Option<(&'static str, Vec<(String, String)>)> {
        match r.find(method, path) {
            RouteMatch::Found { handler, params } => Some((
                *handler,
                params
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            )),
            _ => None,
        }
    }

    #[test]
    fn webserver_routes() {
        let r = webserver();
        let p = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let table: Vec<(&str, &str, Option<(&str, Vec<(String, String)>)>)> = vec![
            ("GET", "/", Some(("index", vec![]))),
            ("GET", "/slashable", Some(("slashable", vec![]))),
            ("GET", "/slashable/", Some(("slashable", vec![]))),
            ("GET", "/slashable//", None),
            (
                "GET",
                "/first/a/second/b",
                Some(("params", p(&[("first", "a"), ("second_what", "b")]))),
            ),
            (
                "GET",
                "/first/a%2Fb/second/%20",
                Some(("params", p(&[("first", "a/b"), ("second_what", " ")]))),
            ),
            ("GET", "/first/a/x/second/b", None),
            ("GET", "/first//second/b", None),
            (
                "GET",
                "/regex/12/abc",
                Some(("regex", p(&[("num", "12"), ("word", "abc")]))),
            ),
            ("GET", "/regex/12/ABC", None),
            (
                "GET",
                "/x/star/y",
                Some(("stars", p(&[("*", "x"), ("*", "y")]))),
            ),
            (
                "GET",
                "/a/b/star/c/d",
                Some(("stars", p(&[("*", "a/b"), ("*", "c/d")]))),
            ),
            (
                "GET",
                "//star/",
                Some(("stars", p(&[("*", ""), ("*", "")]))),
            ),
            ("GET", "/star/", None),
            ("POST", "/form", Some(("form_post", vec![]))),
            ("GET", "/form", Some(("form_get", vec![]))),
            ("PUT", "/form", Some(("form_put", vec![]))),
            ("GET", "/nothing", None),
        ];
        for (method, path, want) in table {
            assert_eq!(found(&r, method, path), want, "{method} {path}");
        }
    }

    #[test]
    fn head_is_answered_by_get() {
        let r = webserver();
        assert_eq!(found(&r, "HEAD", "/").map(|f| f.0), Some("index"));
        assert_eq!(found(&r, "HEAD", "/form").map(|f| f.0), Some("form_get"));
        // An explicit HEAD route wins even though a GET route for the path exists.
        assert_eq!(
            found(&r, "HEAD", "/headonly").map(|f| f.0),
            Some("head_route")
        );
        assert_eq!(
            found(&r, "GET", "/headonly").map(|f| f.0),
            Some("get_route")
        );
    }

    #[test]
    fn method_not_allowed_lists_methods() {
        let r = webserver();
        match r.find("DELETE", "/form") {
            RouteMatch::MethodNotAllowed { ref allowed } => {
                assert_eq!(allowed, &["POST", "GET", "HEAD", "PUT"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            r.find("POST", "/").allow_header().as_deref(),
            Some("GET, HEAD")
        );
        assert_eq!(
            r.find("get", "/").allow_header().as_deref(),
            Some("GET, HEAD")
        );
        assert!(matches!(r.find("POST", "/nothing"), RouteMatch::NotFound));
        assert_eq!(r.find("GET", "/").allow_header(), None);
    }

    #[test]
    fn insertion_order_decides() {
        let mut r = HttpRouter::new();
        r.get("/a/:x", "param")
            .get("/a/b", "literal")
            .any("/*", "fallback");
        assert_eq!(found(&r, "GET", "/a/b").map(|f| f.0), Some("param"));
        assert_eq!(found(&r, "DELETE", "/a/b").map(|f| f.0), Some("fallback"));
        assert_eq!(r.len(), 3);
        assert!(!r.is_empty());
        assert_eq!(
            format!("{r:?}"),
            r#"[("GET", Pattern("/a/:x")), ("GET", Pattern("/a/b")), ("*", Pattern("/*"))]"#
        );
    }

    #[test]
    fn pattern_syntax() {
        // (pattern, path, matches)
        let table = [
            ("/a.b", "/a.b", true),
            ("/a.b", "/axb", false),
            ("/a+(b)", "/a+(b)", true),
            ("/x:", "/x:", true),
            ("/x:1", "/x:1", true),
            ("/u/:_id", "/u/7", true),
            ("/u/:id?", "/u/", true),
            ("/u/:id?", "/u/7", true),
            ("/colou?r", "/color", true),
            ("/colou?r", "/colour", true),
            ("/f/*?", "/f/", true),
            ("/caf\u{e9}", "/caf\u{e9}", true),
            ("/a", "/a/", false),
            ("/a", "/ab", false),
            ("/a", "x/a", false),
        ];
        for (pattern, path, want) in table {
            let p = Pattern::new(pattern).unwrap();
            assert_eq!(p.matches(path).is_some(), want, "{pattern} vs {path}");
            assert_eq!(p.is_match(path), want, "{pattern} vs {path}");
            assert_eq!(p.as_str(), pattern);
        }
    }

    /// Found by the `router` fuzz target: `*` matched any character but a
    /// line feed (a regex `.`), though it is documented to match any run of
    /// characters; a path decoded from `%0A` holds one.
    #[test]
    fn star_matches_a_line_feed_too() {
        let p = Pattern::new("/files/*").unwrap();
        let params = p.matches("/files/a\nb").expect("`*` matches across LF");
        assert_eq!(params.get("*"), Some("a\nb"));
        assert!(p.is_match("/files/\r\n"));
        // `:name` already did, being "anything but `/`".
        let p = Pattern::new("/u/:name").unwrap();
        assert_eq!(p.matches("/u/a\nb").unwrap().get("name"), Some("a\nb"));
    }

    #[test]
    fn bad_patterns() {
        for bad in ["?", "/a??", "??"] {
            assert!(
                matches!(Pattern::new(bad), Err(Error::InvalidPattern(_))),
                "{bad}"
            );
        }
        let mut r: HttpRouter<u8> = HttpRouter::new();
        assert!(r.try_route("GET", "?x", 1).is_err());
        assert!(r.is_empty());
    }

    #[test]
    #[should_panic(expected = "HttpRouter: invalid route pattern")]
    fn bad_pattern_panics_in_get() {
        HttpRouter::<u8>::new().get("?", 1);
    }

    #[test]
    fn regex_unnamed_groups_and_unanchored() {
        let p = Pattern::from(Regex::new(r"/(\d+)/(?P<n>x)?").unwrap());
        let params = p.matches("/prefix/12/").unwrap();
        assert!(params.is_empty());
        assert_eq!(p.matches("/12/x").unwrap().get("n"), Some("x"));
    }

    #[test]
    fn handlers_from_async_fns() {
        use crate::request::HttpRequest;
        async fn hello(req: HttpRequest) -> String {
            format!("hello {}", req.param("name").unwrap_or("nobody"))
        }
        async fn failing(_req: HttpRequest) -> std::io::Result<&'static str> {
            Err(std::io::Error::other("no database"))
        }
        let mut r: HttpRouter = HttpRouter::new();
        r.get("/hello/:name", hello)
            .get("/fail", failing)
            .get("/closure", |_req: HttpRequest| async { 204 });
        let call = |method: &str, path: &str| {
            let RouteMatch::Found { handler, params } = r.find(method, path) else {
                panic!("no route for {path}");
            };
            let mut req = HttpRequest::new(method, path);
            req.set_params(params);
            futures_lite::future::block_on(handler.call(req))
        };
        let resp = call("GET", "/hello/monocle");
        assert_eq!(
            (resp.code(), resp.text().into_owned()),
            (200, "hello monocle".to_owned())
        );
        let resp = call("GET", "/fail");
        assert_eq!(
            (resp.code(), resp.handler_error()),
            (500, Some("no database"))
        );
        assert_eq!(call("HEAD", "/closure").code(), 204);
    }

    mod model {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// A `:name` route captures exactly the segment it stands for,
            /// whatever (encoded) text that segment holds.
            #[test]
            fn params_round_trip(a in "[a-zA-Z0-9._~-]{1,12}", b in "[^/?#]{1,12}") {
                let mut r: HttpRouter<u8> = HttpRouter::new();
                r.get("/first/:first/second/:second_what", 1).get("/*/star/*", 2);
                let enc: String = b.bytes().map(|c| format!("%{c:02X}")).collect();
                let path = format!("/first/{a}/second/{enc}");
                match r.find("GET", &path) {
                    RouteMatch::Found { handler, params } => {
                        prop_assert_eq!(*handler, 1);
                        prop_assert_eq!(params.get("first"), Some(a.as_str()));
                        prop_assert_eq!(params.get("second_what"), Some(b.as_str()));
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
                let path = format!("/{a}/{enc}/star/{a}");
                let found = matches!(r.find("GET", &path), RouteMatch::Found { handler: 2, .. });
                prop_assert!(found);
            }

            /// A literal pattern matches exactly its own text.
            #[test]
            fn literals_match_only_themselves(lit in "/[ -~]{0,16}", other in "/[ -~]{0,16}") {
                prop_assume!(!lit.contains([':', '*', '?']));
                let p = Pattern::new(&lit).unwrap();
                prop_assert!(p.is_match(&lit));
                prop_assert_eq!(p.is_match(&other), other == lit);
            }
        }
    }
}
