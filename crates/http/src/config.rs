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
