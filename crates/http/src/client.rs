//! [`HttpClient`]: a keep-alive HTTP/1.1 client on one connection.

use std::fmt::{self, Write as _};
use std::io;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_lite::Stream;
use monocle_network::{Client, Connection};

#[cfg(feature = "tls")]
use crate::exchange::PeerEnd;
use crate::exchange::{
    read_answer_body, read_answer_head, send_request, ExchangeError, RequestBody, Rest,
};
use crate::headers::HttpHeaders;
use crate::idle::check_idle;
#[cfg(feature = "tls")]
use crate::io::with_deadline;
use crate::io::{Deadline, InBuf};
use crate::limits::Limits;
use crate::parse::ResponseHead;
use crate::request::HttpRequest;
use crate::response::HttpResponse;
use crate::response_reader::ResponseReader;
use crate::write_request::{describe_byte, TargetForm, Unsendable};

/// Where the client's connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// Where a request made by [`HttpRequest::from_url`] goes, from its scheme
    /// and its `Host` (`host`, `host:port`, `[v6]` or `[v6]:port`; the port
    /// is there only when it is not the scheme's default), so that the URL is
    /// parsed once.
    fn of(req: &HttpRequest) -> io::Result<Origin> {
        let scheme = check_scheme(req.scheme().unwrap_or_default())?;
        let authority = req.headers().get("host").unwrap_or_default();
        let (host, port) = match authority.strip_prefix('[') {
            Some(rest) => match rest.split_once(']') {
                Some((host, after)) => (host, after.strip_prefix(':')),
                None => (rest, None),
            },
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = match port {
            Some(port) => port.parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("bad port in {authority:?}"),
                )
            })?,
            None => default_port(&scheme),
        };
        Ok(Origin {
            scheme,
            host: host.to_owned(),
            port,
        })
    }

    /// The `Host` value naming this origin (RFC 9110 §7.2): `host`,
    /// `host:port`, `[v6]` or `[v6]:port`, the port left out when it is the
    /// scheme's default.
    fn host_header(&self) -> String {
        authority(&self.host, self.port, Some(default_port(&self.scheme)))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let authority = authority(&self.host, self.port, None);
        write!(f, "{}://{authority}", self.scheme)
    }
}

/// An HTTP/1.1 client keeping one connection alive across requests
/// (monocle's `HttpClient`).
///
/// [`connect`](Self::connect) to a server, then [`request`](Self::request)
/// paths or URLs on it; the connection is reused while the server keeps it
/// open, and a new one is made transparently when the server has closed it
/// (or when a URL names another server). [`query`](Self::query) does a
/// one-shot request; [`request_streaming`](Self::request_streaming) sends a
/// body of unknown length in chunks; [`get_reader`](Self::get_reader) and
/// [`request_reader`](Self::request_reader) return once the response head
/// is read and give the body piece by piece, as it arrives, for downloads
/// too large to hold (a [`ResponseReader`]). `Host`, `User-Agent` and `Content-Length`
/// (or `Transfer-Encoding: chunked`) are set;
/// responses are read by `Content-Length`, chunked coding or until the server
/// closes; HEAD, 1xx, 204 and 304 responses have no body.
///
/// # Examples
///
/// ```no_run
/// use monocle_http::{HttpClient, HttpHeaders};
///
/// monocle_stack::block_on(async {
///     let resp = HttpClient::query("http://127.0.0.1:8088/").await?;
///     println!("{} {}", resp.code(), resp.text());
///
///     let mut client = HttpClient::new();
///     client.connect("127.0.0.1", 8088, "http").await?;
///     let resp = client.request("/form", HttpHeaders::new(), "POST", "a=b").await?;
///     assert_eq!(resp.code(), 200);
///     let again = client.get("/").await?; // same connection
///     assert_eq!(again.code(), 200);
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
///
/// # Redirects and credentials
///
/// Redirects are not followed: a 3xx response is returned as it is, body
/// and all. To follow one, request its `Location`:
/// [`request`](Self::request) and [`get`](Self::get) take the absolute
/// path (`/new`) or the full URL it usually holds; a relative reference
/// (`new`, `../new`) is to be resolved against the URL asked for first
/// (`url::Url::join`). A 303 asks for a `GET`, a 307 or 308 for the same
/// method and body.
///
/// The userinfo of a URL (`http://user:pw@host/`) is dropped, sent neither
/// as credentials nor in `Host`. For HTTP Basic authentication give an
/// `Authorization` header made by [`basic_auth`](crate::basic_auth).
///
/// ```
/// use monocle_http::{basic_auth, HttpClient, HttpHeaders, HttpRequest, HttpResponse, HttpServer};
///
/// monocle_stack::block_on(async {
///     let server = HttpServer::new(0, |req: HttpRequest| async move {
///         match req.path() {
///             "/old" => HttpResponse::new(302).with_header("Location", "/new"),
///             _ => HttpResponse::new(200).with_body(format!("{:?}", req.basic_auth())),
///         }
///     });
///     let svc = monocle_network::add_service(server.service().bind_addr([127, 0, 0, 1]))?;
///     let mut client = HttpClient::new();
///     let resp = client.get(&format!("http://user:pw@127.0.0.1:{}/old", svc.port())).await?;
///     assert_eq!(resp.code(), 302); // returned, not followed
///     let location = resp.headers().get("location").unwrap_or("/").to_owned();
///     let mut headers = HttpHeaders::new();
///     headers.set("Authorization", basic_auth("user", "pw")?);
///     let resp = client.request(&location, headers, "GET", "").await?;
///     assert_eq!(resp.text(), r#"Some(("user", "pw"))"#);
///     svc.stop();
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct HttpClient {
    conn: Option<Connection>,
    origin: Option<Origin>,
    proxy: Option<(String, u16)>,
    proxy_auth: Option<String>,
    timeout: Option<Duration>,
    limits: Limits,
    inbuf: InBuf,
    out: Vec<u8>,
    connects: u64,
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<monocle_network::tls::rustls::ClientConfig>>,
}

impl monocle_stack::Outcome for HttpClient {}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new()
    }
}

impl HttpClient {
    /// A client with no connection yet, no timeout and the default [`Limits`].
    pub fn new() -> Self {
        HttpClient {
            conn: None,
            origin: None,
            proxy: None,
            proxy_auth: None,
            timeout: None,
            limits: Limits::new(),
            inbuf: InBuf::new(),
            out: Vec::new(),
            connects: 0,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// One request by URL on a fresh client, e.g.
    /// `HttpClient::query("http://127.0.0.1:8088/")`.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub async fn query(url: &str) -> io::Result<HttpResponse> {
        Self::query_with(url, HttpHeaders::new(), "GET", Vec::new()).await
    }

    /// One request with headers, method and body on a fresh client
    /// (monocle's `query(url, headers, method, body)`); the connection is
    /// closed once the response is read.
    ///
    /// ```
    /// use monocle_http::{HttpClient, HttpHeaders, HttpRequest, HttpServer};
    ///
    /// monocle_stack::block_on(async {
    ///     let server = HttpServer::new(0, |req: HttpRequest| async move {
    ///         format!("{} {}", req.method(), req.body().len())
    ///     });
    ///     let svc = monocle_network::add_service(server.service().bind_addr([127, 0, 0, 1]))?;
    ///     let url = format!("http://127.0.0.1:{}/", svc.port());
    ///     let resp = HttpClient::query_with(&url, HttpHeaders::new(), "PUT", "four").await?;
    ///     assert_eq!(resp.text(), "PUT 4");
    ///     svc.stop();
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub async fn query_with(
        url: &str,
        headers: HttpHeaders,
        method: &str,
        body: impl Into<Vec<u8>>,
    ) -> io::Result<HttpResponse> {
        let mut client = HttpClient::new();
        let resp = client.request(url, headers, method, body).await;
        client.close();
        resp
    }

    /// Sets the time limit of each request (connecting, sending and reading
    /// the whole response); `None` waits forever (the default).
    ///
    /// For a response read piece by piece ([`request_reader`](Self::request_reader))
    /// it bounds the request up to the response head; after that, each wait
    /// for body bytes (see [`ResponseReader`]).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// The time limit of each request.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Sends every request through the HTTP proxy at `host:port`; `None` turns
    /// proxying off.
    ///
    /// `http` requests go to the proxy with absolute-form targets
    /// (`GET http://host/path HTTP/1.1`). For `https` (feature `tls`) the
    /// client asks the proxy for a tunnel (RFC 9110 §9.3.6:
    /// `CONNECT host:port HTTP/1.1`); once the proxy answers 2xx it speaks TLS
    /// with the origin server through it, checking the origin's certificate,
    /// and sends origin-form targets (`GET /path HTTP/1.1`). A proxy that
    /// refuses the tunnel fails the request with an error naming the proxy and
    /// its status. A proxy that wants credentials gets them from
    /// [`set_proxy_authorization`](Self::set_proxy_authorization).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use monocle_http::HttpClient;
    ///
    /// monocle_stack::block_on(async {
    ///     let mut client = HttpClient::new();
    ///     client.set_proxy(Some(("127.0.0.1", 3128)));
    ///     let resp = client.get("http://example.com/").await?;
    ///     println!("{}", resp.code());
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub fn set_proxy(&mut self, proxy: Option<(&str, u16)>) -> &mut Self {
        self.proxy = proxy.map(|(h, p)| (h.to_owned(), p));
        self.close();
        self
    }

    /// Sets the credentials given to the [proxy](Self::set_proxy): the whole
    /// `Proxy-Authorization` value (RFC 9110 §11.7.2), such as
    /// `Basic <base64 of user:password>` as [`basic_auth`](crate::basic_auth)
    /// makes it; `None` (the default) sends none.
    ///
    /// It goes with each `CONNECT` (for `https`) and with each `http` request
    /// sent to the proxy in absolute form, unless that request has a
    /// `Proxy-Authorization` of its own. It never reaches an origin server:
    /// no request sent without a proxy carries it, and a request inside a
    /// tunnel loses every `Proxy-*` field it was given (those are for the
    /// proxy, which does not see it; the origin must not). A proxy that still
    /// answers `CONNECT` with 407 fails the request with an error saying so.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use monocle_http::{basic_auth, HttpClient};
    ///
    /// monocle_stack::block_on(async {
    ///     let mut client = HttpClient::new();
    ///     client
    ///         .set_proxy(Some(("127.0.0.1", 3128)))
    ///         .set_proxy_authorization(Some(&basic_auth("user", "secret")?));
    ///     let resp = client.get("http://example.com/").await?;
    ///     println!("{}", resp.code());
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    ///
    /// A value that cannot be a header value (a line break in it) fails each
    /// request that would send it, with `InvalidInput`.
    pub fn set_proxy_authorization(&mut self, value: Option<&str>) -> &mut Self {
        self.proxy_auth = value.map(str::to_owned);
        self
    }

    /// What to do with the `Proxy-*` fields of a request going to `origin`.
    fn proxy_fields(&self, origin: &Origin, headers: &HttpHeaders) -> ProxyFields<'_> {
        if self.proxy.is_none() {
            ProxyFields::Keep
        } else if origin.scheme == "https" {
            // Inside a tunnel: the origin reads them.
            if headers.iter().any(|(name, _)| is_proxy_field(name)) {
                ProxyFields::Strip
            } else {
                ProxyFields::Keep
            }
        } else {
            match &self.proxy_auth {
                Some(value) if !headers.contains("proxy-authorization") => {
                    ProxyFields::Authorize(value)
                }
                _ => ProxyFields::Keep,
            }
        }
    }

    /// The limits responses are held to (head size, body size...): a body
    /// read whole ([`request`](Self::request)) to
    /// [`max_body`](Limits::max_body), one read piece by piece
    /// ([`request_reader`](Self::request_reader)) to
    /// [`max_streamed_body`](Limits::max_streamed_body).
    pub fn limits_mut(&mut self) -> &mut Limits {
        &mut self.limits
    }

    /// Uses `config` for `https` connections (feature `tls`).
    #[cfg(feature = "tls")]
    pub fn set_tls_config(
        &mut self,
        config: std::sync::Arc<monocle_network::tls::rustls::ClientConfig>,
    ) -> &mut Self {
        self.tls = Some(config);
        self
    }

    /// How many connections this client has opened so far.
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// Whether a connection is open and can carry the next request: not
    /// after a write on it failed (the server went away while a request went
    /// out; its answer may still have been read). What the server did on it
    /// since the last request is not looked at here: the next request does
    /// that, and opens a new connection if the server has sent anything,
    /// closed it or reset it meanwhile (see [`request`](Self::request)).
    pub fn is_connected(&self) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|c| !c.is_closed() && !c.is_write_failed())
    }

    /// Connects to `host:port` with `scheme` (`"http"`, or `"https"` with the
    /// `tls` feature); later requests may give just a path. `host` is a name,
    /// an IPv4 address or an IPv6 address, bare (`::1`) or in brackets
    /// (`[::1]`); requests name it in `Host` as a URL would (`[::1]:8080`).
    ///
    /// # Errors
    ///
    /// An unsupported scheme, or the connection failing (refused, timed out,
    /// name not resolved), with a message naming the address.
    pub async fn connect(&mut self, host: &str, port: u16, scheme: &str) -> io::Result<()> {
        // Bare, as `Origin::of` keeps it, so a URL naming the same server
        // matches this origin.
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let origin = Origin {
            scheme: check_scheme(scheme)?,
            host: host.to_owned(),
            port,
        };
        self.open(origin).await
    }

    async fn open(&mut self, origin: Origin) -> io::Result<()> {
        self.close();
        self.inbuf = InBuf::new();
        let conn = match self.proxy.clone() {
            Some(proxy) if origin.scheme == "https" => self.tunnel(&proxy, &origin).await?,
            proxy => {
                let (host, port) = proxy.unwrap_or_else(|| (origin.host.clone(), origin.port));
                #[allow(unused_mut)]
                let mut client = Client::new().timeout(self.timeout);
                #[cfg(feature = "tls")]
                if origin.scheme == "https" {
                    client = client.tls(self.tls_config()?);
                }
                client.connect(&host, port).await.map_err(io::Error::from)?
            }
        };
        self.conn = Some(conn);
        self.origin = Some(origin);
        self.connects += 1;
        Ok(())
    }

    /// The TLS configuration for `https`, or a clear error when none was given.
    #[cfg(feature = "tls")]
    fn tls_config(&self) -> io::Result<std::sync::Arc<monocle_network::tls::rustls::ClientConfig>> {
        self.tls.clone().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "https needs a TLS client configuration; give one with HttpClient::set_tls_config",
            )
        })
    }

    /// Opens a CONNECT tunnel to `origin` through `proxy` (RFC 9110 §9.3.6)
    /// and starts TLS with the origin inside it; the whole of it is bounded by
    /// the timeout.
    #[cfg(feature = "tls")]
    async fn tunnel(&mut self, proxy: &(String, u16), origin: &Origin) -> io::Result<Connection> {
        let config = self.tls_config()?;
        let (proxy_host, proxy_port) = (proxy.0.as_str(), proxy.1);
        // Only in messages; the connection goes to `proxy_host` as given.
        let proxy_name = authority(proxy_host, proxy_port, None);
        // CONNECT's authority-form target always has the port (RFC 9112 §3.2.3).
        let authority = authority(&origin.host, origin.port, None);
        let what = format!("CONNECT {authority} through the proxy {proxy_name}");
        let timeout = self.timeout;
        let proxy_auth = self.proxy_auth.as_deref();
        let step = std::cell::Cell::new(TunnelStep::Connect);
        let (inbuf, out, limits) = (&mut self.inbuf, &mut self.out, &self.limits);
        let work = async {
            // No timeout of the connection's own while the tunnel is made: the
            // deadline below bounds the whole and names the step it cut short,
            // so a timed-out error from inside is the system's, passed on.
            let mut conn = Client::new()
                .connect(proxy_host, proxy_port)
                .await
                .map_err(|e| {
                    let e = io::Error::from(e);
                    io::Error::new(e.kind(), format!("{what}: {e}"))
                })?;
            step.set(TunnelStep::Answer);
            let mut req = HttpRequest::new("CONNECT", authority.as_str());
            req.headers_mut()
                .try_set("Host", authority.as_str())
                .map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("bad host {authority:?} for CONNECT: {e}"),
                    )
                })?;
            if let Some(value) = proxy_auth {
                add_proxy_authorization(req.headers_mut(), value)?;
            }
            // The head only: a 2xx answer to CONNECT has no body, and the
            // body of a refusal is not needed to report it.
            let answer = async {
                let body = RequestBody::Full;
                let sent = send_request(
                    &mut conn,
                    inbuf,
                    out,
                    &req,
                    body,
                    TargetForm::Origin,
                    Deadline::Never,
                )
                .await?;
                read_answer_head(sent, &mut conn, inbuf, &req, limits, Deadline::Never).await
            };
            let (head, rest) = answer.await.map_err(|e| {
                let e = match e {
                    ExchangeError::ClosedBeforeResponse(e) | ExchangeError::Other(e) => e,
                    ExchangeError::Unsendable(e) => {
                        io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
                    }
                    // Not without a deadline; kept total.
                    ExchangeError::TimedOut => io::ErrorKind::TimedOut.into(),
                };
                io::Error::new(e.kind(), format!("{what}: {e}"))
            })?;
            if !(200..300).contains(&head.code()) {
                let hint = match (head.code(), proxy_auth) {
                    (407, None) => {
                        "; it wants credentials: give them with \
                         HttpClient::set_proxy_authorization"
                    }
                    (407, Some(_)) => {
                        "; it refused the credentials given with \
                         HttpClient::set_proxy_authorization"
                    }
                    _ => "",
                };
                return Err(io::Error::other(format!(
                    "the proxy {proxy_name} refused CONNECT {authority}: {} {}{hint}",
                    head.code(),
                    head.reason()
                )));
            }
            // The proxy's yes is worth nothing on a connection that cannot
            // carry the tunnel: one whose request did not go out whole.
            let broken = match rest {
                Rest::Connection => None,
                Rest::WriteFailed(e) => Some((
                    e.kind(),
                    format!("the connection failed while the request went out: {e}"),
                )),
                Rest::Buffer(PeerEnd::Closed) => Some((
                    io::ErrorKind::UnexpectedEof,
                    "it closed the connection before the request was all sent".to_owned(),
                )),
                Rest::Buffer(PeerEnd::Failed(e)) => Some((
                    e.kind(),
                    format!("the connection failed before the request was all sent: {e}"),
                )),
            };
            if let Some((kind, why)) = broken {
                return Err(io::Error::new(
                    kind,
                    format!(
                        "the proxy {proxy_name} answered CONNECT {authority} with {} {}, but \
                         {why}; no tunnel can run over that connection",
                        head.code(),
                        head.reason()
                    ),
                ));
            }
            if !inbuf.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the proxy {proxy_name} sent {} bytes after its {} answer \
                         to CONNECT {authority}, before the TLS handshake",
                        inbuf.len(),
                        head.code()
                    ),
                ));
            }
            step.set(TunnelStep::Handshake);
            let mut conn = monocle_network::tls::upgrade_client(conn, config, &origin.host)
                .await
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("TLS with {authority} through the proxy {proxy_name}: {e}"),
                    )
                })?;
            conn.set_timeout(timeout);
            Ok(conn)
        };
        let result = with_deadline(timeout.map_or(Deadline::Never, Deadline::After), work).await;
        tunnel_outcome(result, &what, timeout, step.get())
    }

    /// Without TLS there is nothing to tunnel: `https` is refused earlier, by
    /// the scheme check; this keeps the refusal explicit.
    #[cfg(not(feature = "tls"))]
    async fn tunnel(&mut self, _proxy: &(String, u16), _origin: &Origin) -> io::Result<Connection> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "https through an HTTP proxy (a CONNECT tunnel) needs monocle-http's `tls` feature",
        ))
    }

    /// Closes the connection (the next request opens a new one).
    pub fn close(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.close();
        }
    }

    /// `GET url`: a path on the connected server, or a full URL.
    ///
    /// Dropping the future before it finishes closes the connection, as for
    /// [`request`](Self::request).
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub async fn get(&mut self, url: &str) -> io::Result<HttpResponse> {
        self.request(url, HttpHeaders::new(), "GET", Vec::new())
            .await
    }

    /// `POST url` with `body` (sent with its `Content-Length`, no
    /// `Content-Type`: add one with [`request`](Self::request)).
    ///
    /// Dropping the future before it finishes closes the connection, as for
    /// [`request`](Self::request).
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request); a `POST` is not sent again on a new
    /// connection if the kept-alive one turns out closed after it went out.
    pub async fn post(&mut self, url: &str, body: impl Into<Vec<u8>>) -> io::Result<HttpResponse> {
        self.request(url, HttpHeaders::new(), "POST", body).await
    }

    /// Sends a request (monocle's `request(url, headers, method, body)`) and
    /// reads the response. `url` is a path (`/x?y`) on the connected server or
    /// an absolute `http://` (`https://` with `tls`) URL, which connects there
    /// if needed. The body goes out with its `Content-Length`; for a body of
    /// unknown length use [`request_streaming`](Self::request_streaming).
    ///
    /// A path is percent-encoded as the url crate encodes the path and query
    /// of a full URL, so both name the same resource: `/kv/two words` goes
    /// out as `/kv/two%20words`, `/café` as `/caf%C3%A9`; as in a URL,
    /// `.` and `..` segments are resolved, a fragment is dropped and spaces
    /// at the end are trimmed. A path or URL holding a control byte (CR, LF,
    /// tab, NUL...) is refused instead, where the url crate would drop it (or
    /// encode it) and send another target than the one given.
    ///
    /// A server may answer before the body is all sent, refusing it (a 413,
    /// say) and closing (RFC 9112 §9.5): its answer is returned rather than
    /// the error of the write that its close made fail, and the request is
    /// not sent again (nor the connection reused). What it sends is also
    /// watched for while the body goes out, so that sending stops once it
    /// has closed its side, even if it reads on.
    ///
    /// A connection kept from an earlier request is looked at first, without
    /// waiting: if the server has sent anything on it since (the 408 a
    /// server may send before closing an idle connection, say, which is no
    /// answer to this request), or closed or reset it, as far as the event
    /// loop has learnt, the request goes out on a new connection instead,
    /// whatever its method. One the server closes just as the request goes
    /// out cannot be seen coming: a request of an idempotent method (`GET`,
    /// `PUT`, `DELETE`...) is then sent once more on a new connection, one
    /// of another (`POST`...) fails, since the server may have acted on it.
    ///
    /// # Cancelling
    ///
    /// Dropping the future before it finishes (a timeout around it, a
    /// `select` that takes another branch, a cancelled task) closes the
    /// connection once the exchange on it has begun: the exchange stopped
    /// part way, and what is left of it on the connection (the rest of the
    /// response, say) must not be read as the answer to a later request. The
    /// next request opens a new connection.
    ///
    /// # Errors
    ///
    /// A URL that does not parse, an unsupported scheme, a path with no
    /// connected server, a connection failure, the [timeout](Self::set_timeout),
    /// or a malformed or oversized response (a head or body past
    /// [`max_head`](Limits::max_head) or [`max_body`](Limits::max_body):
    /// `InvalidData`, naming the setter; a `Content-Length` too large for a
    /// `u64`: `InvalidData`, with no limit to raise). A
    /// body cut short by the server closing (`UnexpectedEof`) or resetting
    /// the connection (`ConnectionReset`), or a malformed chunked coding
    /// (`InvalidData`), fails with the kind and message a [`ResponseReader`]'s
    /// read gives for the same reply, which name the framing and how much of
    /// the body came. A request that cannot be sent
    /// (a path or URL with a control byte, a method that is not a token) fails with
    /// `InvalidInput` saying why, before anything is written: the connection
    /// is kept.
    pub async fn request(
        &mut self,
        url: &str,
        headers: HttpHeaders,
        method: &str,
        body: impl Into<Vec<u8>>,
    ) -> io::Result<HttpResponse> {
        let connects = self.connects;
        let req = self.prepare(url, headers, method, body.into()).await?;
        self.send_inner(&req, None, connects).await
    }

    /// Sends a request whose body is produced piece by piece, of a length not
    /// known in advance, with `Transfer-Encoding: chunked` (one chunk per
    /// non-empty piece, then the last chunk), and reads the response. `url`,
    /// `headers` and `method` are as for [`request`](Self::request); a
    /// `Content-Length` or `Transfer-Encoding` among `headers` is dropped.
    ///
    /// The body stream is polled only once the head has gone out; if the
    /// stream yields an error, the request fails with it and the connection
    /// is closed without the last chunk, so the server never takes the
    /// truncated body for a whole one. A kept-alive connection found closed
    /// is retried on a new one only while no piece has been taken from the
    /// stream. Dropping the future before it finishes closes the connection,
    /// as for [`request`](Self::request).
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request), and the body stream's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::{HttpClient, HttpHeaders, HttpRequest, HttpServer};
    ///
    /// monocle_stack::block_on(async {
    ///     let server = HttpServer::new(0, |req: HttpRequest| async move {
    ///         let framing = req.headers().get("transfer-encoding").unwrap_or("-").to_owned();
    ///         format!("{framing} {}", String::from_utf8_lossy(req.body()))
    ///     });
    ///     let svc = monocle_network::add_service(server.service().bind_addr([127, 0, 0, 1]))?;
    ///     let parts = ["Hello", ", ", "World!"].map(|p| Ok(p.as_bytes().to_vec()));
    ///     let mut client = HttpClient::new();
    ///     let url = format!("http://127.0.0.1:{}/upload", svc.port());
    ///     let resp = client
    ///         .request_streaming(&url, HttpHeaders::new(), "POST", futures_lite::stream::iter(parts))
    ///         .await?;
    ///     assert_eq!(resp.text(), "chunked Hello, World!");
    ///     svc.stop();
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub async fn request_streaming(
        &mut self,
        url: &str,
        headers: HttpHeaders,
        method: &str,
        body: impl Stream<Item = io::Result<Vec<u8>>>,
    ) -> io::Result<HttpResponse> {
        let connects = self.connects;
        let req = self.prepare(url, headers, method, Vec::new()).await?;
        let body = std::pin::pin!(body);
        self.send_inner(&req, Some(body), connects).await
    }

    /// `GET url`, returning once the head of the response is read: the body
    /// is read from the [`ResponseReader`] piece by piece, as it arrives,
    /// held to [`Limits::max_streamed_body`] (unlimited by default) rather
    /// than [`Limits::max_body`]. See [`request_reader`](Self::request_reader).
    ///
    /// # Errors
    ///
    /// As [`request_reader`](Self::request_reader).
    pub async fn get_reader(&mut self, url: &str) -> io::Result<ResponseReader<'_>> {
        self.request_reader(url, HttpHeaders::new(), "GET", Vec::new())
            .await
    }

    /// Sends a request as [`request`](Self::request) does, but returns once
    /// the head of the response is read, with a [`ResponseReader`] that
    /// gives the status and headers at once and the body piece by piece, as
    /// it arrives, through [`AsyncRead`](futures_lite::io::AsyncRead): for
    /// downloads too large to hold in memory, and bodies that never end.
    ///
    /// The reader borrows the client: no other request can go out until it
    /// is dropped. Read to its end, it leaves the connection for the next
    /// request as [`request`](Self::request) would; dropped before that, it
    /// closes it. The body is bounded by [`Limits::max_streamed_body`]
    /// (unlimited by default), not by [`Limits::max_body`]; the
    /// [timeout](Self::set_timeout) bounds sending the request and reading
    /// the head, then each wait for body bytes. [`ResponseReader`] says more.
    ///
    /// # Cancelling
    ///
    /// Dropping the future before it finishes closes the connection once the
    /// exchange has begun, as for [`request`](Self::request).
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request), for the request and the head, and
    /// `InvalidData` for a `Content-Length` past
    /// [`max_streamed_body`](Limits::max_streamed_body) (the connection is
    /// closed); errors reading the body come from the reader's reads.
    ///
    /// # Examples
    ///
    /// Saving a download as it comes, into anything that implements
    /// [`AsyncWrite`](futures_lite::io::AsyncWrite) (a `Vec` here, a file in
    /// practice):
    ///
    /// ```
    /// use monocle_http::{HttpClient, HttpHeaders, HttpRequest, HttpServer};
    ///
    /// monocle_stack::block_on(async {
    ///     let server = HttpServer::new(0, |req: HttpRequest| async move {
    ///         format!("the file at {}", req.path())
    ///     });
    ///     let svc = monocle_network::add_service(server.service().bind_addr([127, 0, 0, 1]))?;
    ///     let mut client = HttpClient::new();
    ///     client.connect("127.0.0.1", svc.port(), "http").await?;
    ///     let mut reader = client
    ///         .request_reader("/files/a.txt", HttpHeaders::new(), "GET", "")
    ///         .await?;
    ///     assert_eq!(reader.code(), 200);
    ///     assert_eq!(reader.headers().get("content-length"), Some("24"));
    ///     let mut saved = Vec::new();
    ///     let copied = futures_lite::io::copy(&mut reader, &mut saved).await?;
    ///     assert_eq!((copied, &saved[..]), (24, &b"the file at /files/a.txt"[..]));
    ///     drop(reader);
    ///     // The same connection serves the next request.
    ///     assert_eq!(client.get("/b").await?.text(), "the file at /b");
    ///     assert_eq!(client.connects(), 1);
    ///     svc.stop();
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub async fn request_reader(
        &mut self,
        url: &str,
        headers: HttpHeaders,
        method: &str,
        body: impl Into<Vec<u8>>,
    ) -> io::Result<ResponseReader<'_>> {
        let connects = self.connects;
        let req = self.prepare(url, headers, method, body.into()).await?;
        let deadline = self.deadline();
        let (head, rest) = self.send_head(&req, None, connects, deadline).await?;
        // The reader times each wait for the body itself, with a message
        // saying so; the connection's own timer would race it.
        if let Some(conn) = self.conn.as_mut() {
            conn.set_timeout(None);
        }
        let limits = self.limits;
        ResponseReader::new(self, req, head, rest, &limits)
    }

    /// The connection (if open) and the input buffer, which holds what was
    /// received of the response and not yet read.
    pub(crate) fn body_source(&mut self) -> (Option<&mut Connection>, &mut InBuf) {
        (self.conn.as_mut(), &mut self.inbuf)
    }

    /// When a request starting now must be done by: the client's timeout
    /// from now, or never.
    fn deadline(&self) -> Deadline {
        self.timeout
            .map_or(Deadline::Never, |t| Deadline::At(Instant::now() + t))
    }

    /// Builds the request for `url` with `body` (sent only if not empty),
    /// connecting if it names another server.
    async fn prepare(
        &mut self,
        url: &str,
        headers: HttpHeaders,
        method: &str,
        body: Vec<u8>,
    ) -> io::Result<HttpRequest> {
        let (mut req, target) = if url.starts_with('/') {
            let origin = self.origin.as_ref().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotConnected,
                    format!("no server to send {url} to; connect() first or give a full URL"),
                )
            })?;
            let target = path_target(&origin.scheme, method, url)?;
            let mut req = HttpRequest::new(method, target);
            req.headers_mut().set("Host", origin.host_header());
            (req, None)
        } else {
            refuse_control_bytes(method, url, "URL")?;
            // The URL's only parse: the request's scheme and Host say where it goes.
            let req = HttpRequest::from_url(method, url).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("bad URL {url:?}: {e}"))
            })?;
            let origin = Origin::of(&req)?;
            (req, Some(origin))
        };
        for (name, value) in &headers {
            if name.eq_ignore_ascii_case("host") {
                req.headers_mut().set(name, value);
            } else {
                req.headers_mut().add(name, value);
            }
        }
        // Here, on the request being built, so that `send_inner` finds
        // nothing to change and need not copy it.
        if let Some(origin) = target.as_ref().or(self.origin.as_ref()) {
            let fields = self.proxy_fields(origin, req.headers());
            fields.apply(req.headers_mut())?;
        }
        if let Some(origin) = target {
            if self.origin.as_ref() != Some(&origin) || !self.is_connected() {
                self.open(origin).await?;
            }
        }
        if !body.is_empty() {
            req = req.with_body(body);
        }
        Ok(req)
    }

    /// Sends a prepared request on the current connection (reconnecting if
    /// the server closed it) and reads the response.
    ///
    /// Dropping the future before it finishes closes the connection, as for
    /// [`request`](Self::request).
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request). The request's target is sent as it is,
    /// not encoded: one holding a space, a control byte or a non-ASCII
    /// character fails with `InvalidInput` before anything is written, and
    /// the connection is kept.
    pub async fn send(&mut self, req: &HttpRequest) -> io::Result<HttpResponse> {
        self.send_inner(req, None, self.connects).await
    }

    /// Sends `req` with its own body, or with `stream` chunked, and reads the
    /// whole response. `connects` is [`connects`](Self::connects) when the
    /// request was asked for: a connection opened since, for this request, is
    /// not retried.
    async fn send_inner(
        &mut self,
        req: &HttpRequest,
        stream: Option<Pin<&mut dyn Stream<Item = io::Result<Vec<u8>>>>>,
        connects: u64,
    ) -> io::Result<HttpResponse> {
        let deadline = self.deadline();
        let (head, rest) = self.send_head(req, stream, connects, deadline).await?;
        // As while the head was read: a body read half way is closed with
        // its connection.
        let in_flight = CloseOnDrop(&mut self.conn);
        let conn = in_flight.0.as_mut().expect("connected by send_head");
        let (inbuf, limits) = (&mut self.inbuf, &self.limits);
        let result = read_answer_body(rest, conn, inbuf, head, req, limits, deadline).await;
        in_flight.disarm();
        match result {
            Ok((resp, reusable)) => {
                if !reusable {
                    self.close();
                }
                Ok(resp)
            }
            Err(failure) => {
                self.close();
                Err(failure.into_io(&self.describe(req), self.timeout))
            }
        }
    }

    /// Sends `req` with its own body, or with `stream` chunked, on the current
    /// connection (reconnecting if the server closed it), and reads the head
    /// of the response; its body is next in `inbuf`, then where the [`Rest`]
    /// returned says. `connects` is as for
    /// [`send_inner`](Self::send_inner); `deadline` bounds the whole.
    ///
    /// Dropping the future before it finishes closes the connection, as for
    /// [`request`](Self::request).
    async fn send_head(
        &mut self,
        req: &HttpRequest,
        mut stream: Option<Pin<&mut dyn Stream<Item = io::Result<Vec<u8>>>>>,
        connects: u64,
        deadline: Deadline,
    ) -> io::Result<(ResponseHead, Rest)> {
        let origin = self.origin.clone().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotConnected,
                "no server to send to; connect() first or give a full URL",
            )
        })?;
        // A request made elsewhere (`send`) may need its `Proxy-*` fields put
        // right: a copy then, the caller's request left as it is.
        let fixed;
        let req = match self.proxy_fields(&origin, req.headers()) {
            ProxyFields::Keep => req,
            fields => {
                let mut copy = req.clone();
                fields.apply(copy.headers_mut())?;
                fixed = copy;
                &fixed
            }
        };
        let form = if self.proxy.is_some() && origin.scheme == "http" {
            TargetForm::Absolute
        } else {
            TargetForm::Origin
        };
        // A connection kept from an earlier request on which the server has
        // done anything since is not used for this one.
        if self.connects == connects {
            self.close_if_stale(&origin);
        }
        if !self.is_connected() {
            self.open(origin.clone()).await?;
        }
        // Only a connection that was open before this request may have been
        // closed by the server while idle, unseen; one opened for it was not,
        // and a request it did not answer (a GET with a body it refused and
        // reset, say) is not sent again.
        let mut retried = self.connects != connects;
        let mut polled = false;
        loop {
            // Armed while the exchange runs: if its future is dropped half
            // way, the connection goes with it.
            let in_flight = CloseOnDrop(&mut self.conn);
            let conn = in_flight.0.as_mut().expect("connected above");
            // The connection's own timer, armed from the first wait for the
            // server (which may come early, watching for an answer during a
            // long upload), must not cut the request short of the client's
            // timeout, which may have changed since it was opened.
            conn.set_timeout(self.timeout);
            let body = match stream.as_mut() {
                None => RequestBody::Full,
                Some(stream) => RequestBody::Stream {
                    stream: stream.as_mut(),
                    polled: &mut polled,
                },
            };
            let (inbuf, out, limits) = (&mut self.inbuf, &mut self.out, &self.limits);
            let result = async {
                let sent = send_request(conn, inbuf, out, req, body, form, deadline).await?;
                read_answer_head(sent, conn, inbuf, req, limits, deadline).await
            }
            .await;
            in_flight.disarm();
            match result {
                Ok(answer) => return Ok(answer),
                Err(ExchangeError::ClosedBeforeResponse(_))
                    if !retried && !polled && is_idempotent(req.method()) =>
                {
                    // A kept-alive connection the server had closed: retry once.
                    // Only idempotent methods: a POST the server may have acted
                    // on is never sent twice.
                    retried = true;
                    self.open(origin.clone()).await?;
                }
                Err(e) => return Err(self.failed(req, e)),
            }
        }
    }

    /// Closes the connection kept from an earlier request if the server
    /// has done anything on it since, as far as the event loop has learnt:
    /// sent bytes, which answer no request still to go out (the 408 a
    /// server may send before closing an idle connection, say), or closed
    /// or reset it. Looks without waiting, and with the epoll reactor
    /// without a system call unless the loop saw the socket readable
    /// ([`check_idle`] says what it costs).
    fn close_if_stale(&mut self, origin: &Origin) {
        let Some(conn) = self
            .conn
            .as_mut()
            .filter(|c| !c.is_closed() && !c.is_write_failed())
        else {
            return;
        };
        // A look that does not wait arms no timer (the exchange sets the
        // timeout again).
        conn.set_read_timeout(None);
        if let Err(stale) = check_idle(conn, &mut self.inbuf) {
            log::debug!("not reusing the connection to {origin}: {stale}; opening a new one");
            self.close();
        }
    }

    /// The error for `req`'s exchange failing with `e`, naming the request;
    /// the connection is closed, unless nothing was written.
    fn failed(&mut self, req: &HttpRequest, e: ExchangeError) -> io::Error {
        match e {
            ExchangeError::ClosedBeforeResponse(e) | ExchangeError::Other(e) => {
                self.close();
                io::Error::new(e.kind(), format!("{}: {e}", self.describe(req)))
            }
            // Nothing was written: the connection stays as it was.
            ExchangeError::Unsendable(e) => unsendable(req, &e),
            ExchangeError::TimedOut => {
                self.close();
                let after = self.timeout.unwrap_or_default();
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} timed out after {after:?}; raise it with HttpClient::set_timeout",
                        self.describe(req)
                    ),
                )
            }
        }
    }

    /// `req` as messages name it: `GET http://host:port/path`.
    pub(crate) fn describe(&self, req: &HttpRequest) -> String {
        match &self.origin {
            Some(origin) => format!("{} {origin}{}", req.method(), req.uri()),
            None => format!("{} {}", req.method(), req.uri()),
        }
    }
}

/// The origin-form target (path and query) that a path given to
/// [`HttpClient::request`] is sent as: percent-encoded as the url crate (the
/// WHATWG URL Standard) encodes the path and query of a full URL, so that
/// `get("/kv/two words")` sends what `get("http://host/kv/two words")` does,
/// `/kv/two%20words`; as there, `.` and `..` segments are resolved, a
/// fragment is dropped, and so are spaces at the end. A control byte
/// (CR, LF, tab, NUL, DEL...), which the url crate would drop or encode
/// silently, is refused instead: `InvalidInput`, before anything is sent.
///
/// A path that needs none of that ([`sent_as_is`], as API paths such as
/// `/api/v1/items/42?sort=name&page=2` are) is taken as it is, without
/// parsing a URL.
fn path_target(scheme: &str, method: &str, path: &str) -> io::Result<String> {
    // Holds no control byte either.
    if sent_as_is(path) {
        return Ok(path.to_owned());
    }
    refuse_control_bytes(method, path, "target")?;
    parsed_target(scheme, method, path)
}

/// Refuses a path or URL (`what`, for the message) holding a control byte
/// (CR, LF, tab, NUL, DEL...): the url crate would drop it (CR, LF and tab
/// anywhere, as the URL Standard says, and any at either end) or encode it
/// silently, and send another request than the one asked for, with
/// `/p\r\nX-Inj: 2` going out as `/pX-Inj:%202`. `InvalidInput`, before
/// anything is sent.
fn refuse_control_bytes(method: &str, text: &str, what: &str) -> io::Result<()> {
    match text.bytes().enumerate().find(|(_, b)| b.is_ascii_control()) {
        Some((at, byte)) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot send {method} {text:?}: the {what} holds {} at byte {at}, which no \
                 request line can carry; percent-encode it (%{byte:02X}) if it is meant",
                describe_byte(byte)
            ),
        )),
        None => Ok(()),
    }
}

/// Whether the url crate would give `path` back unchanged as the path and
/// query of a URL (so that [`path_target`] need not parse it): it starts
/// with `/`, holds only bytes that are never percent-encoded nor taken
/// apart (letters, digits, `-._~!$&()*+,;=:@/%`, and `?` to start the
/// query), and no path segment is a dot segment (`.`, `..`, or one spelt
/// with `%2e`). Any other path is parsed; `parsed_target` and the tests
/// check that both agree.
fn sent_as_is(path: &str) -> bool {
    let bytes = path.as_bytes();
    let before_query = bytes.iter().position(|&b| b == b'?').unwrap_or(bytes.len());
    bytes.first() == Some(&b'/')
        && bytes.iter().all(|&b| AS_IS[usize::from(b)])
        && !bytes[..before_query]
            .split(|&b| b == b'/')
            .any(is_dot_segment)
}

/// The bytes [`sent_as_is`] lets through: ASCII letters and digits, and
/// `-._~!$&()*+,;=:@/%?`.
const AS_IS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let others = b"-._~!$&()*+,;=:@/%?";
    let mut i = 0;
    while i < others.len() {
        table[others[i] as usize] = true;
        i += 1;
    }
    table
};

/// Whether a path segment is `.` or `..`, however spelt: the URL Standard
/// takes `%2e` (any case) for a dot.
fn is_dot_segment(segment: &[u8]) -> bool {
    matches!(segment.first(), Some(b'.' | b'%'))
        && segment.len() <= 6
        && [".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"]
            .iter()
            .any(|dots| segment.eq_ignore_ascii_case(dots.as_bytes()))
}

/// [`path_target`] the long way, parsing the path as part of a URL.
fn parsed_target(scheme: &str, method: &str, path: &str) -> io::Result<String> {
    // Only the path and query are taken: the host stands in for the
    // connected one, which plays no part in how they are encoded (and one
    // the url crate would not take, with an IPv6 zone say, must not fail a
    // request that has a path only).
    let url = url::Url::parse(&format!("{scheme}://host{path}")).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot send {method} {path:?}: bad path: {e}"),
        )
    })?;
    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    Ok(target)
}

/// The error for a request whose head cannot be written, saying why (`e`)
/// and quoting the target as it would have gone out.
fn unsendable(req: &HttpRequest, e: &Unsendable) -> io::Error {
    let target = match e {
        Unsendable::TargetByte { target, .. } => target,
        _ => req.uri(),
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "cannot send {} {target:?}: {e}; nothing was sent",
            req.method()
        ),
    )
}

/// Closes the client's connection when dropped, unless
/// [`disarm`](Self::disarm)ed first: an exchange whose future is dropped (a
/// timeout, a `select`, a task cancelled) stops anywhere, with the request
/// half sent or its response half read, and the next request on that
/// connection would read the rest of this one's answer as its own.
struct CloseOnDrop<'a>(&'a mut Option<Connection>);

impl CloseOnDrop<'_> {
    /// The exchange ran to its end (an error included): the caller decides.
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(mut conn) = self.0.take() {
            conn.close();
        }
    }
}

/// `host` and `port` as a URI authority (RFC 3986 §3.2.2), for `Host`, the
/// CONNECT target and messages: an IPv6 address goes in brackets (`[::1]:8080`;
/// one already bracketed is kept as it is), and the port is left out when it
/// is `default_port` (`None`: always written).
fn authority(host: &str, port: u16, default_port: Option<u16>) -> String {
    let bracket = host.contains(':') && !host.starts_with('[');
    let mut out = String::with_capacity(host.len() + 8);
    if bracket {
        out.push('[');
    }
    out.push_str(host);
    if bracket {
        out.push(']');
    }
    if default_port != Some(port) {
        let _ = write!(out, ":{port}");
    }
    out
}

/// Where making a CONNECT tunnel was when its deadline passed.
#[cfg(feature = "tls")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TunnelStep {
    Connect,
    Answer,
    Handshake,
}

#[cfg(feature = "tls")]
impl fmt::Display for TunnelStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TunnelStep::Connect => "connecting to the proxy",
            TunnelStep::Answer => "waiting for the proxy's answer",
            TunnelStep::Handshake => "in the TLS handshake with the origin",
        })
    }
}

/// The result of making a tunnel (`what`): its own when it finished, errors
/// included (a timed-out one then is the system's, not the client's
/// timeout); `None`, the client's deadline passed during `step`.
#[cfg(feature = "tls")]
fn tunnel_outcome<T>(
    result: Option<io::Result<T>>,
    what: &str,
    timeout: Option<Duration>,
    step: TunnelStep,
) -> io::Result<T> {
    result.unwrap_or_else(|| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "{what} timed out after {:?} {step}; raise it with HttpClient::set_timeout",
                timeout.unwrap_or_default()
            ),
        ))
    })
}

/// The port a scheme's URLs mean when they name none.
fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

fn check_scheme(scheme: &str) -> io::Result<String> {
    match scheme {
        "http" => Ok("http".to_owned()),
        "https" if cfg!(feature = "tls") => Ok("https".to_owned()),
        "https" => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "https needs monocle-http's `tls` feature",
        )),
        other => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("unsupported URL scheme {other:?}; use http or https"),
        )),
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("origin", &self.origin.as_ref().map(ToString::to_string))
            .field("connected", &self.is_connected())
            .field("proxy", &self.proxy)
            // Credentials are not printed.
            .field(
                "proxy_authorization",
                &self.proxy_auth.as_ref().map(|_| "…"),
            )
            .field("timeout", &self.timeout)
            .field("connects", &self.connects)
            .finish()
    }
}

/// What a request's `Proxy-*` fields need before it goes out.
enum ProxyFields<'a> {
    /// Nothing.
    Keep,
    /// Inside a tunnel: dropping every one.
    Strip,
    /// To a proxy in absolute form: the client's credentials added.
    Authorize(&'a str),
}

impl ProxyFields<'_> {
    fn apply(self, headers: &mut HttpHeaders) -> io::Result<()> {
        match self {
            ProxyFields::Keep => Ok(()),
            ProxyFields::Strip => {
                let names: Vec<String> = headers
                    .iter()
                    .filter(|(name, _)| is_proxy_field(name))
                    .map(|(name, _)| name.to_owned())
                    .collect();
                for name in names {
                    headers.remove(&name);
                }
                Ok(())
            }
            ProxyFields::Authorize(value) => add_proxy_authorization(headers, value),
        }
    }
}

/// Whether a field is meant for a proxy (`Proxy-Authorization`,
/// `Proxy-Connection`...), which an origin must never be sent.
fn is_proxy_field(name: &str) -> bool {
    name.len() >= 6 && name.as_bytes()[..6].eq_ignore_ascii_case(b"proxy-")
}

/// Adds the client's proxy credentials; the value is not repeated in the
/// error (it is a secret).
fn add_proxy_authorization(headers: &mut HttpHeaders, value: &str) -> io::Result<()> {
    headers.try_set("Proxy-Authorization", value).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the value given with HttpClient::set_proxy_authorization \
                     cannot be sent: {e}"
            ),
        )
    })
}

/// Methods that may be sent again without changing the outcome (RFC 9110 9.2.2).
fn is_idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "TRACE"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "tls")]
    #[test]
    fn only_the_tunnel_deadline_is_reported_as_the_client_timeout() {
        let what = "CONNECT example.com:443 through the proxy 127.0.0.1:3128";
        // A timed-out error of a step (the system's ETIMEDOUT connecting to
        // the proxy, with or without a client timeout) is passed on as it is.
        for timeout in [None, Some(Duration::from_secs(5))] {
            let os = io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{what}: cannot connect to 127.0.0.1:3128: Connection timed out"),
            );
            let want = os.to_string();
            let err = tunnel_outcome::<()>(Some(Err(os)), what, timeout, TunnelStep::Connect)
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            assert_eq!(err.to_string(), want);
        }
        assert!(tunnel_outcome(Some(Ok(7)), what, None, TunnelStep::Handshake).is_ok());
        // The deadline itself: the client's timeout, and the step it cut short.
        let err = tunnel_outcome::<()>(
            None,
            what,
            Some(Duration::from_millis(200)),
            TunnelStep::Answer,
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            err.to_string(),
            format!(
                "{what} timed out after 200ms waiting for the proxy's answer; \
                 raise it with HttpClient::set_timeout"
            )
        );
    }

    #[test]
    fn authority_brackets_ipv6_and_leaves_out_the_default_port() {
        let table: &[(&str, u16, Option<u16>, &str)] = &[
            // Names and IPv4 as they are.
            ("example.com", 80, Some(80), "example.com"),
            ("example.com", 8080, Some(80), "example.com:8080"),
            ("example.com", 443, Some(443), "example.com"),
            ("example.com", 80, Some(443), "example.com:80"),
            ("127.0.0.1", 80, Some(80), "127.0.0.1"),
            ("127.0.0.1", 8088, Some(80), "127.0.0.1:8088"),
            // IPv6 in brackets (RFC 3986 §3.2.2), with or without the port.
            ("::1", 80, Some(80), "[::1]"),
            ("::1", 8080, Some(80), "[::1]:8080"),
            ("::1", 443, Some(443), "[::1]"),
            ("2001:db8::7", 8443, Some(443), "[2001:db8::7]:8443"),
            ("::ffff:127.0.0.1", 81, Some(80), "[::ffff:127.0.0.1]:81"),
            // Already bracketed: not bracketed twice.
            ("[::1]", 8080, Some(80), "[::1]:8080"),
            ("[::1]", 80, Some(80), "[::1]"),
            // No default: the port always (CONNECT's target).
            ("example.com", 443, None, "example.com:443"),
            ("127.0.0.1", 80, None, "127.0.0.1:80"),
            ("::1", 443, None, "[::1]:443"),
        ];
        for &(host, port, default_port, want) in table {
            assert_eq!(
                authority(host, port, default_port),
                want,
                "{host} {port} {default_port:?}"
            );
        }
    }

    #[test]
    fn an_origin_names_itself_as_a_url_would() {
        let table: &[(&str, &str, u16, &str, &str)] = &[
            (
                "http",
                "example.com",
                80,
                "example.com",
                "http://example.com:80",
            ),
            ("http", "::1", 80, "[::1]", "http://[::1]:80"),
            ("http", "::1", 8080, "[::1]:8080", "http://[::1]:8080"),
            ("https", "::1", 443, "[::1]", "https://[::1]:443"),
            ("https", "::1", 80, "[::1]:80", "https://[::1]:80"),
            (
                "https",
                "10.0.0.1",
                8443,
                "10.0.0.1:8443",
                "https://10.0.0.1:8443",
            ),
        ];
        for &(scheme, host, port, host_header, display) in table {
            let origin = Origin {
                scheme: scheme.to_owned(),
                host: host.to_owned(),
                port,
            };
            assert_eq!(origin.host_header(), host_header, "{origin}");
            assert_eq!(origin.to_string(), display);
        }
        // A URL's Host (as `HttpRequest::from_url` writes it) goes back to the
        // origin it was made from.
        for url in [
            "http://[::1]/",
            "http://[::1]:8080/x",
            "http://example.com:81/",
        ] {
            let req = HttpRequest::from_url("GET", url).unwrap();
            let origin = Origin::of(&req).unwrap();
            assert_eq!(
                Some(origin.host_header().as_str()),
                req.headers().get("host")
            );
        }
    }

    #[test]
    #[allow(clippy::type_complexity)] // a test table
    fn origin_of_a_url_request() {
        let table: &[(&str, Option<(&str, &str, u16)>)] = &[
            ("http://example.com/x", Some(("http", "example.com", 80))),
            ("http://example.com:80/x", Some(("http", "example.com", 80))),
            ("http://127.0.0.1:8088/", Some(("http", "127.0.0.1", 8088))),
            ("HTTP://Example.COM:81", Some(("http", "example.com", 81))),
            ("http://[::1]/", Some(("http", "::1", 80))),
            ("http://[::1]:8080/x?y", Some(("http", "::1", 8080))),
            ("http://user:pw@h:9/", Some(("http", "h", 9))),
            ("ftp://example.com/", None),
        ];
        #[cfg(feature = "tls")]
        let table = [
            table,
            &[
                ("https://example.com/", Some(("https", "example.com", 443))),
                (
                    "https://example.com:80/",
                    Some(("https", "example.com", 80)),
                ),
                ("https://[::1]:8443/", Some(("https", "::1", 8443))),
            ],
        ]
        .concat();
        for (url, want) in table.iter() {
            let req = HttpRequest::from_url("GET", url).unwrap();
            let got = Origin::of(&req).ok();
            let want = want.map(|(scheme, host, port)| Origin {
                scheme: scheme.to_owned(),
                host: host.to_owned(),
                port,
            });
            assert_eq!(got, want, "{url}");
        }
    }

    /// A path taken as it is, without parsing, is exactly what parsing it
    /// gives; any other is parsed (percent-encoded, dot segments resolved,
    /// fragment dropped...), and `path_target` gives what parsing gives.
    #[test]
    fn a_path_taken_as_it_is_is_what_parsing_it_gives() {
        // The path, and whether it is taken as it is.
        let table: &[(&str, bool)] = &[
            ("/", true),
            ("/api/v1/items/42", true),
            ("/api/v1/items/42?sort=name&page=2", true),
            ("/a/b/", true),
            ("//x//y", true),
            ("/x?", true),
            ("/x??a?b=/c", true),
            ("/~user/x-y_z.json", true),
            ("/a:b@c!$&()*+,;=/x", true),
            ("/a?x=1;y=a:b@c!$&()*+,/", true),
            // %-escapes are kept as they are, valid or not.
            ("/a%20b/%2F?q=%C3%A9", true),
            ("/a%zz/%/b%", true),
            // Dots that make no dot segment, and dot segments in a query.
            ("/.well-known/x", true),
            ("/a.b/..c/c../.../%2e%2e%2e", true),
            ("/a?../b/./c", true),
            // Percent-encoded, parsed.
            ("/a b", false),
            ("/a b   ", false),
            ("/a?b c", false),
            ("/caf\u{e9}?q=\u{e9}", false),
            ("/\u{1f600}", false),
            ("/<a>", false),
            ("/\"q\"", false),
            ("/{x}", false),
            ("/`x`", false),
            // Not taken as they are, whether the url crate (of whichever
            // version) encodes them or not.
            ("/a|b", false),
            ("/a^b", false),
            ("/[x]", false),
            ("/a?'x'", false),
            ("/a\\b", false),
            // Dot segments, however spelt.
            ("/a/../b", false),
            ("/a/./b", false),
            ("/a/..", false),
            ("/a/.", false),
            ("/..", false),
            ("/a/%2e%2E/b", false),
            ("/a/.%2e", false),
            ("/a/%2e.", false),
            ("/%2E", false),
            ("/a/..?x", false),
            // A fragment, dropped.
            ("/a#frag", false),
            ("/a?b#frag", false),
            ("/a#", false),
        ];
        for &(path, as_is) in table {
            assert_eq!(sent_as_is(path), as_is, "{path:?}");
            for scheme in ["http", "https"] {
                let parsed = parsed_target(scheme, "GET", path).unwrap();
                assert_eq!(
                    path_target(scheme, "GET", path).unwrap(),
                    parsed,
                    "{path:?}"
                );
                if as_is {
                    assert_eq!(parsed, path);
                }
            }
        }
        // Each printable ASCII byte, in a path and in a query, alone and
        // doubled: whatever is taken as it is parses to itself.
        let mut taken = 0;
        for c in (0x20u8..0x7f).map(char::from) {
            for path in [
                format!("/a{c}b"),
                format!("/{c}"),
                format!("/{c}{c}/x"),
                format!("/x/{c}{c}"),
                format!("/a?{c}"),
                format!("/a?b{c}{c}c"),
            ] {
                let parsed = parsed_target("http", "GET", &path).unwrap();
                assert_eq!(
                    path_target("http", "GET", &path).unwrap(),
                    parsed,
                    "{path:?}"
                );
                if sent_as_is(&path) {
                    taken += 1;
                    assert_eq!(parsed, path);
                }
            }
        }
        // Letters, digits and the 19 others, bar `..`-like segments.
        assert!(taken > 400, "{taken}");
    }
}
