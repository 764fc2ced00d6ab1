//! [`Limits`]: how much a peer may send before it is refused, and
//! [`BodyLimit`]: which of them bounds a body.

use crate::error::Error;

/// Size limits for parsing, with safe defaults; each is enforced with the status
/// code named below, and every error message names the setter that raises it.
///
/// A server holds requests to its [`ServerConfig`](crate::ServerConfig)'s
/// limits, a client responses to its own
/// ([`HttpClient::limits_mut`](crate::HttpClient::limits_mut)); the status
/// codes are the server's answers, a client fails the request instead.
/// `Limits` is plain data, and `Copy`.
///
/// | limit | default | status when exceeded |
/// |---|---|---|
/// | [`max_head`](Self::max_head): request line plus headers | 64 KiB | 431 |
/// | [`max_uri`](Self::max_uri): request target | 8 KiB | 414 |
/// | [`max_headers`](Self::max_headers): header lines | 100 | 431 |
/// | [`max_body`](Self::max_body): body, from `Content-Length` or chunked | 16 MiB | 413 |
/// | [`max_streamed_body`](Self::max_streamed_body): body read by a [streaming handler](crate::Handler::streaming), or by a client's [`ResponseReader`](crate::ResponseReader) | unlimited | 413 |
/// | [`max_chunk_extensions`](Self::max_chunk_extensions): chunk extensions of a body, in all | 16 KiB | 400 |
/// | [`max_trailers`](Self::max_trailers): trailer section of a chunked body | 16 KiB | 431 |
///
/// # Examples
///
/// ```
/// use monocle_http::Limits;
///
/// let mut limits = Limits::new();
/// limits.max_body(100 << 20).max_uri(2048);
/// assert_eq!(limits.body_limit(), 100 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub(crate) max_head: usize,
    pub(crate) max_uri: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_body: u64,
    pub(crate) max_streamed_body: u64,
    pub(crate) max_chunk_extensions: usize,
    pub(crate) max_trailers: usize,
}

impl Limits {
    /// The default limits (see the table above).
    pub const fn new() -> Self {
        Limits {
            max_head: 64 << 10,
            max_uri: 8 << 10,
            max_headers: 100,
            max_body: 16 << 20,
            max_streamed_body: u64::MAX,
            max_chunk_extensions: 16 << 10,
            max_trailers: 16 << 10,
        }
    }

    /// Sets the largest head (request or status line plus headers, with line
    /// ends), in bytes; at most 4 GiB - 1 (larger values mean that).
    pub fn max_head(&mut self, bytes: usize) -> &mut Self {
        self.max_head = bytes.min(u32::MAX as usize);
        self
    }

    /// Sets the longest request target, in bytes.
    pub fn max_uri(&mut self, bytes: usize) -> &mut Self {
        self.max_uri = bytes;
        self
    }

    /// Sets the largest number of header lines.
    pub fn max_headers(&mut self, count: usize) -> &mut Self {
        self.max_headers = count;
        self
    }

    /// Sets the largest body, in bytes.
    pub fn max_body(&mut self, bytes: u64) -> &mut Self {
        self.max_body = bytes;
        self
    }

    /// Sets the largest body a [streaming handler](crate::Handler::streaming)
    /// may be sent, or a client's [`ResponseReader`](crate::ResponseReader)
    /// may read, in bytes; unlimited by default.
    ///
    /// [`max_body`](Self::max_body) bounds the memory a buffered body takes;
    /// a streamed body takes a bounded amount of memory whatever its length,
    /// so the default sets no limit and leaves the decision to the handler
    /// or the reader's caller, which sees every byte and may stop at any
    /// point.
    ///
    /// On a server, a `Content-Length` over this limit is answered 413
    /// without calling the handler; a chunked body that grows past it fails
    /// the handler's read and is answered 413 by the server. On a client, a
    /// `Content-Length` over it fails
    /// [`request_reader`](crate::HttpClient::request_reader) before a reader
    /// is made; a chunked body, or one read until the server closes, that
    /// grows past it fails the reader's read (`InvalidData`), and the
    /// connection is closed.
    pub fn max_streamed_body(&mut self, bytes: u64) -> &mut Self {
        self.max_streamed_body = bytes;
        self
    }

    /// Sets how many bytes of chunk extensions one chunked body may carry in all.
    ///
    /// Extensions are read and dropped; the cap stops a peer from making the
    /// server read without end while the body hardly grows. Leading zeros of a
    /// chunk size past its 16th digit count against it too: `00001F3E` is a
    /// valid size and costs nothing, but padding must not be unbounded.
    pub fn max_chunk_extensions(&mut self, bytes: usize) -> &mut Self {
        self.max_chunk_extensions = bytes;
        self
    }

    /// Sets the largest trailer section of a chunked body, in bytes.
    pub fn max_trailers(&mut self, bytes: usize) -> &mut Self {
        self.max_trailers = bytes;
        self
    }

    /// The largest head, in bytes.
    pub fn head_limit(&self) -> usize {
        self.max_head
    }

    /// The longest request target, in bytes.
    pub fn uri_limit(&self) -> usize {
        self.max_uri
    }

    /// The largest number of header lines.
    pub fn headers_limit(&self) -> usize {
        self.max_headers
    }

    /// The largest body, in bytes. A client reading a body until the connection
    /// closes must enforce it itself (a parsed head's `Content-Length` and
    /// a [`ChunkedDecoder`](crate::ChunkedDecoder) are held to it).
    pub fn body_limit(&self) -> u64 {
        self.max_body
    }

    /// The largest body a streaming handler may be sent, or a client's
    /// reader may read, in bytes.
    pub fn streamed_body_limit(&self) -> u64 {
        self.max_streamed_body
    }

    /// The most chunk-extension bytes in one body.
    pub fn chunk_extensions_limit(&self) -> usize {
        self.max_chunk_extensions
    }

    /// The largest trailer section, in bytes.
    pub fn trailers_limit(&self) -> usize {
        self.max_trailers
    }
}

/// Which of the two body limits of [`Limits`] bounds a body: the one for a
/// body held whole in memory, or the one for a body handed on piece by
/// piece. A [`ChunkedDecoder`](crate::ChunkedDecoder) is given one
/// ([`with_body_limit`](crate::ChunkedDecoder::with_body_limit)) and, past
/// it, fails with that limit's error.
///
/// # Examples
///
/// ```
/// use monocle_http::{BodyLimit, Limits};
///
/// let mut limits = Limits::new();
/// limits.max_body(1000).max_streamed_body(5000);
/// assert_eq!(BodyLimit::Whole.bytes(&limits), 1000);
/// assert_eq!(BodyLimit::Streamed.bytes(&limits), 5000);
/// assert_eq!(
///     BodyLimit::Streamed.exceeded(5000),
///     monocle_http::Error::StreamedBodyTooLarge { limit: 5000 }
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyLimit {
    /// [`Limits::max_body`]: a body held whole in memory (a server's
    /// buffered request body, a client's
    /// [`request`](crate::HttpClient::request)); past it,
    /// [`Error::BodyTooLarge`].
    Whole,
    /// [`Limits::max_streamed_body`]: a body handed on piece by piece (to a
    /// [streaming handler](crate::Handler::streaming), or by a client's
    /// [`ResponseReader`](crate::ResponseReader)); past it,
    /// [`Error::StreamedBodyTooLarge`].
    Streamed,
}

impl BodyLimit {
    /// This limit in `limits`, in bytes.
    pub fn bytes(self, limits: &Limits) -> u64 {
        match self {
            BodyLimit::Whole => limits.max_body,
            BodyLimit::Streamed => limits.max_streamed_body,
        }
    }

    /// The error of a body longer than this limit, `limit` bytes:
    /// [`Error::BodyTooLarge`] or [`Error::StreamedBodyTooLarge`], whose
    /// message names the setter that raises it.
    pub fn exceeded(self, limit: u64) -> Error {
        match self {
            BodyLimit::Whole => Error::BodyTooLarge { limit },
            BodyLimit::Streamed => Error::StreamedBodyTooLarge { limit },
        }
    }

    /// The setter of this limit on [`Limits`], for messages.
    pub(crate) fn setter(self) -> &'static str {
        match self {
            BodyLimit::Whole => "max_body",
            BodyLimit::Streamed => "max_streamed_body",
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parsed head's length is kept as a `u32`, so the head limit stays
    /// below 4 GiB whatever is asked for.
    #[test]
    fn max_head_is_capped_below_4_gib() {
        let mut limits = Limits::new();
        limits.max_head(usize::MAX);
        assert_eq!(limits.head_limit(), u32::MAX as usize);
        limits.max_head(1 << 20);
        assert_eq!(limits.head_limit(), 1 << 20);
    }
}
