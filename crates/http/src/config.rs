//! [`ServerConfig`]: the limits and timeouts of an [`HttpServer`](crate::HttpServer).

use std::time::Duration;

use crate::limits::Limits;

/// Limits and timeouts of a server, with safe defaults; every one works with no
/// further wiring.
///
/// | setting | default | what happens |
/// |---|---|---|
/// | [`limits`](Self::limits) | [`Limits::default`] | the status [`Error::status`](crate::Error::status) gives (400, 413, 414, 431, 501, 505) and close |
/// | [`header_timeout`](Self::header_timeout) | 10 s | a request head not complete this long after its first byte: 408 and close |
/// | [`keep_alive_timeout`](Self::keep_alive_timeout) | 60 s | an idle kept-alive connection is closed (between one and two timeouts after its last request: the timer is not re-armed per request) |
/// | [`read_timeout`](Self::read_timeout) | 30 s | a body read or a response write that makes no progress this long: close (a [streaming handler](crate::Handler::streaming)'s read fails with `TimedOut`, and the connection closes after its answer) |
/// | [`min_body_rate`](Self::min_body_rate) | 500 bytes/s after 20 s | a request body that arrives more slowly: 408 and close (a streaming handler's read fails with `TimedOut`, and the server answers 408 in its place) |
/// | [`max_connections`](Self::max_connections) | 10,000 (per event loop) | connections past it get 503 and are closed |
/// | [`drain_timeout`](Self::drain_timeout) | 10 s | after `stop()`, connections still busy this long are closed |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use monocle_http::ServerConfig;
///
/// let mut config = ServerConfig::new();
/// config.header_timeout(Duration::from_secs(5)).max_connections(512);
/// config.limits_mut().max_body(64 << 20);
/// assert_eq!(config.header_timeout_value(), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub(crate) limits: Limits,
    pub(crate) header_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) read_timeout: Duration,
    /// Bytes per second; 0 for none.
    pub(crate) min_body_rate: u64,
    pub(crate) body_grace: Duration,
    pub(crate) max_connections: usize,
    pub(crate) drain_timeout: Duration,
}

impl ServerConfig {
    /// The defaults (see the table above).
    pub const fn new() -> Self {
        ServerConfig {
            limits: Limits::new(),
            header_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(30),
            min_body_rate: 500,
            body_grace: Duration::from_secs(20),
            max_connections: 10_000,
            drain_timeout: Duration::from_secs(10),
        }
    }

    /// Replaces the parsing limits.
    pub fn limits(&mut self, limits: Limits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// The parsing limits, to change in place.
    pub fn limits_mut(&mut self) -> &mut Limits {
        &mut self.limits
    }

    /// Sets how long a client may take to send a request head, counted from
    /// its first byte; a client that trickles its head is answered 408 and cut off.
    pub fn header_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.header_timeout = timeout;
        self
    }

    /// Sets how long a kept-alive connection may stay idle between requests.
    pub fn keep_alive_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.keep_alive_timeout = timeout;
        self
    }

    /// Sets how long one read of a request body, or one write of a response,
    /// may wait for progress.
    ///
    /// For a [streaming handler](crate::Handler::streaming) the clock runs
    /// only while the handler waits for the next chunk: a handler that is
    /// busy elsewhere holds the client back without timing it out.
    pub fn read_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.read_timeout = timeout;
        self
    }

    /// Sets the least rate a request body must arrive at: the server waits
    /// for a body up to `grace`, plus one second for every
    /// `bytes_per_second` bytes received (the rule of Apache's
    /// `mod_reqtimeout`, `body=20,MinRate=500`, whose numbers are the
    /// default). A body that falls behind is answered
    /// `408 Request Timeout`, and the connection closes. `bytes_per_second`
    /// 0 turns it off, leaving only [`read_timeout`](Self::read_timeout)
    /// and the body limits.
    ///
    /// [`read_timeout`](Self::read_timeout) bounds each wait for a byte,
    /// but a client that sends one byte just before each would hold the
    /// connection for as long as it likes; this bounds the whole body by
    /// its size, so a large upload at any usable speed passes (500 bytes/s
    /// is 4 kbit/s) while a trickle is cut off.
    ///
    /// Only the time the server waits for body bytes counts: all of it for
    /// a body read before the handler runs, and for a [streaming
    /// handler](crate::Handler::streaming) only the waits while it asks for
    /// the next chunk (or while the server drops what it left unread after
    /// its answer), so a handler that is slow to read holds the client back
    /// without counting against it. Its read then fails with
    /// [`TimedOut`](std::io::ErrorKind::TimedOut), wrapping
    /// [`Error::BodyTooSlow`](crate::Error::BodyTooSlow), and the server
    /// answers 408 in place of its response (or, the response being
    /// already out, cuts it short). A streaming handler may set another
    /// rate for its own body, or none, with
    /// [`RequestBody::set_min_rate`](crate::RequestBody::set_min_rate): it
    /// holds for the rest the server drops after the handler's answer too.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use monocle_http::ServerConfig;
    ///
    /// let mut config = ServerConfig::new();
    /// // At least 10 KiB/s after 5 s (a 1 MiB body then has 107 s).
    /// config.min_body_rate(10 << 10, Duration::from_secs(5));
    /// assert_eq!(config.min_body_rate_value(), (10 << 10, Duration::from_secs(5)));
    /// ```
    pub fn min_body_rate(&mut self, bytes_per_second: u64, grace: Duration) -> &mut Self {
        self.min_body_rate = bytes_per_second;
        self.body_grace = grace;
        self
    }

    /// Sets the most connections served at once on each event loop; a
    /// connection past it is answered `503 Service Unavailable` and closed
    /// (it does not wait).
    pub fn max_connections(&mut self, max: usize) -> &mut Self {
        self.max_connections = max;
        self
    }

    /// Sets how long `stop()` lets busy connections finish before closing them.
    pub fn drain_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.drain_timeout = timeout;
        self
    }

    /// The parsing limits.
    pub fn limits_value(&self) -> &Limits {
        &self.limits
    }

    /// The header-read timeout.
    pub fn header_timeout_value(&self) -> Duration {
        self.header_timeout
    }

    /// The keep-alive idle timeout.
    pub fn keep_alive_timeout_value(&self) -> Duration {
        self.keep_alive_timeout
    }

    /// The body-read and write timeout.
    pub fn read_timeout_value(&self) -> Duration {
        self.read_timeout
    }

    /// The least rate of a request body, in bytes per second (0: none), and
    /// the grace before it applies.
    pub fn min_body_rate_value(&self) -> (u64, Duration) {
        (self.min_body_rate, self.body_grace)
    }

    /// The connection limit per event loop.
    pub fn max_connections_value(&self) -> usize {
        self.max_connections
    }

    /// The drain deadline of `stop()`.
    pub fn drain_timeout_value(&self) -> Duration {
        self.drain_timeout
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::new()
    }
}
