//! The error type of this crate and the HTTP status each error calls for.

use std::fmt;
use std::io;

/// A specialized [`Result`](std::result::Result) whose error is [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong while parsing, framing or building an HTTP message.
///
/// Every parse error maps to the status code a server answers with
/// ([`Error::status`]); the server then closes the connection, because after a
/// framing error it can no longer tell where the next request starts.
///
/// Converts into [`std::io::Error`] (kind [`InvalidData`](io::ErrorKind::InvalidData)) so
/// `?` works in code that returns `io::Result`.
///
/// # Examples
///
/// ```
/// use monocle_http::{parse_request_head, Limits};
///
/// let err = parse_request_head(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", &Limits::default())
///     .unwrap_err();
/// assert_eq!(err.status(), 400);
/// assert_eq!(err.to_string(), "invalid content-length: not a decimal number");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The request line is malformed (method, target or version).
    BadRequestLine,
    /// The status line of a response is malformed.
    BadStatusLine,
    /// The HTTP version is well formed but not HTTP/1.0 or HTTP/1.1.
    UnsupportedVersion,
    /// A header name holds a byte that is not allowed in a token.
    BadHeaderName,
    /// A header value holds a forbidden byte (a control character such as NUL).
    BadHeaderValue,
    /// Whitespace between a header name and its colon (RFC 9112 §5.1), or inside
    /// the name.
    SpaceBeforeColon,
    /// A CR not followed by LF, or an LF not preceded by CR, in the head.
    BadLineEnding,
    /// The request target is longer than the limit.
    UriTooLong {
        /// The limit in bytes ([`Limits::max_uri`](crate::Limits::max_uri)).
        limit: usize,
    },
    /// The head (request line and headers) is longer than the limit.
    HeadTooLarge {
        /// The limit in bytes ([`Limits::max_head`](crate::Limits::max_head)).
        limit: usize,
    },
    /// More header lines than the limit.
    TooManyHeaders {
        /// The limit ([`Limits::max_headers`](crate::Limits::max_headers)).
        limit: usize,
    },
    /// An HTTP/1.1 request has no `Host` header.
    MissingHost,
    /// A request has more than one `Host` header.
    DuplicateHost,
    /// A `Host` value that is not `host[:port]` (RFC 9112 §3.2).
    BadHost,
    /// Both `Content-Length` and `Transfer-Encoding` are present.
    ContentLengthWithTransferEncoding,
    /// A `Content-Length` value is not a plain decimal number (a sign, spaces, hex...).
    BadContentLength,
    /// Several `Content-Length` values that differ.
    ConflictingContentLength,
    /// A `Transfer-Encoding` value is malformed (empty element, not a token,
    /// parameters, `chunked` not last or repeated), or a request's does not
    /// end in `chunked` (such as `gzip`), which leaves the length of its body
    /// unknown (RFC 9112 §6.3).
    BadTransferEncoding,
    /// More than one `Transfer-Encoding` header line.
    DuplicateTransferEncoding,
    /// A `Transfer-Encoding` in an HTTP/1.0 request.
    TransferEncodingInHttp10,
    /// A request's `Transfer-Encoding` has codings the server does not
    /// implement before the final `chunked` (for instance `gzip, chunked`).
    UnsupportedTransferEncoding,
    /// The body is longer than the limit.
    BodyTooLarge {
        /// The limit in bytes ([`Limits::max_body`](crate::Limits::max_body)).
        limit: u64,
    },
    /// A body read by a [streaming handler](crate::Handler::streaming) is
    /// longer than the limit.
    StreamedBodyTooLarge {
        /// The limit in bytes ([`Limits::max_streamed_body`](crate::Limits::max_streamed_body)).
        limit: u64,
    },
    /// A request body that arrived more slowly than
    /// [`ServerConfig::min_body_rate`](crate::ServerConfig::min_body_rate),
    /// or the handler's
    /// [`RequestBody::set_min_rate`](crate::RequestBody::set_min_rate),
    /// allows.
    BodyTooSlow {
        /// The least rate, in bytes per second.
        bytes_per_second: u64,
    },
    /// A chunk size that is empty or holds a byte other than a hex digit.
    BadChunkSize,
    /// A chunk size too large to represent (more than 16 hex digits).
    ChunkSizeOverflow,
    /// A chunk line not ended by CRLF (a lone LF, a lone CR, or data after a chunk).
    BadChunkLineEnding,
    /// A malformed chunk extension (a control byte in it).
    BadChunkExtension,
    /// Chunk extensions of one body add up to more than the limit.
    ChunkExtensionsTooLong {
        /// The limit in bytes ([`Limits::max_chunk_extensions`](crate::Limits::max_chunk_extensions)).
        limit: usize,
    },
    /// A malformed trailer line.
    BadTrailer,
    /// The trailer section is longer than the limit.
    TrailersTooLarge {
        /// The limit in bytes ([`Limits::max_trailers`](crate::Limits::max_trailers)).
        limit: usize,
    },
    /// A header name given to [`HttpHeaders`](crate::HttpHeaders) is not a token.
    InvalidHeaderName,
    /// A header value given to [`HttpHeaders`](crate::HttpHeaders) holds CR, LF, NUL or
    /// another control byte.
    InvalidHeaderValue,
    /// A route pattern could not be compiled.
    InvalidPattern(String),
    /// A URL could not be parsed.
    InvalidUrl(url::ParseError),
}

impl Error {
    /// The status code a server should answer with.
    ///
    /// 400 for malformed messages, 408 for a body that arrives too slowly, 413
    /// for a body over the limit, 414 for a long target, 431 for a large head
    /// or trailer, 501 for an unsupported transfer coding, 505 for an
    /// unsupported version. Errors that do not come from a peer
    /// (an invalid header given by the program, a bad route pattern) give 500.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(monocle_http::Error::UnsupportedVersion.status(), 505);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            Error::BodyTooSlow { .. } => 408,
            Error::UriTooLong { .. } => 414,
            Error::HeadTooLarge { .. }
            | Error::TooManyHeaders { .. }
            | Error::TrailersTooLarge { .. } => 431,
            Error::BodyTooLarge { .. } | Error::StreamedBodyTooLarge { .. } => 413,
            Error::UnsupportedTransferEncoding => 501,
            Error::UnsupportedVersion => 505,
            Error::InvalidHeaderName
            | Error::InvalidHeaderValue
            | Error::InvalidPattern(_)
            | Error::InvalidUrl(_) => 500,
            _ => 400,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadRequestLine => f.write_str("malformed request line"),
            Error::BadStatusLine => f.write_str("malformed status line"),
            Error::UnsupportedVersion => {
                f.write_str("unsupported http version; only HTTP/1.0 and HTTP/1.1 are served")
            }
            Error::BadHeaderName => f.write_str("invalid byte in header name"),
            Error::BadHeaderValue => f.write_str("invalid byte in header value"),
            Error::SpaceBeforeColon => f.write_str("whitespace between header name and colon"),
            Error::BadLineEnding => f.write_str("line not ended by CRLF (lone CR or LF)"),
            Error::UriTooLong { limit } => write!(
                f,
                "request target longer than {limit} bytes; raise it with Limits::max_uri"
            ),
            Error::HeadTooLarge { limit } => write!(
                f,
                "request head longer than {limit} bytes; raise it with Limits::max_head"
            ),
            Error::TooManyHeaders { limit } => write!(
                f,
                "more than {limit} header lines; raise it with Limits::max_headers"
            ),
            Error::MissingHost => f.write_str("HTTP/1.1 request without a host header"),
            Error::DuplicateHost => f.write_str("more than one host header"),
            Error::BadHost => f.write_str("invalid host header value"),
            Error::ContentLengthWithTransferEncoding => {
                f.write_str("both content-length and transfer-encoding present")
            }
            Error::BadContentLength => {
                f.write_str("invalid content-length: not a decimal number")
            }
            Error::ConflictingContentLength => f.write_str("conflicting content-length values"),
            Error::BadTransferEncoding => f.write_str("malformed transfer-encoding"),
            Error::DuplicateTransferEncoding => {
                f.write_str("more than one transfer-encoding header")
            }
            Error::TransferEncodingInHttp10 => {
                f.write_str("transfer-encoding in an HTTP/1.0 request")
            }
            Error::UnsupportedTransferEncoding => {
                f.write_str("unsupported transfer-encoding; only chunked is understood")
            }
            Error::BodyTooLarge { limit } => write!(
                f,
                "body longer than {limit} bytes; raise it with Limits::max_body"
            ),
            Error::StreamedBodyTooLarge { limit } => write!(
                f,
                "streamed body longer than {limit} bytes; raise it with Limits::max_streamed_body"
            ),
            Error::BodyTooSlow { bytes_per_second } => write!(
                f,
                "request body arrived slower than {bytes_per_second} bytes/s; lower or turn off ServerConfig::min_body_rate (or the handler's RequestBody::set_min_rate)"
            ),
            Error::BadChunkSize => f.write_str("invalid chunk size"),
            Error::ChunkSizeOverflow => f.write_str("chunk size too large"),
            Error::BadChunkLineEnding => f.write_str("chunk line not ended by CRLF"),
            Error::BadChunkExtension => f.write_str("invalid byte in chunk extension"),
            Error::ChunkExtensionsTooLong { limit } => write!(
                f,
                "chunk extensions longer than {limit} bytes; raise it with Limits::max_chunk_extensions"
            ),
            Error::BadTrailer => f.write_str("malformed trailer line"),
            Error::TrailersTooLarge { limit } => write!(
                f,
                "trailers longer than {limit} bytes; raise it with Limits::max_trailers"
            ),
            Error::InvalidHeaderName => f.write_str("header name is not a token"),
            Error::InvalidHeaderValue => {
                f.write_str("header value holds CR, LF, NUL or another control byte")
            }
            Error::InvalidPattern(msg) => write!(f, "invalid route pattern: {msg}"),
            Error::InvalidUrl(e) => write!(f, "invalid url: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::InvalidUrl(e) => Some(e),
            _ => None,
        }
    }
}

impl From<url::ParseError> for Error {
    fn from(e: url::ParseError) -> Self {
        Error::InvalidUrl(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Result<_, Error>` stays small: no variant is larger than the
    /// `String` of `InvalidPattern`, whose niche holds the tag. (A variant
    /// of a `u64` and a `Duration` made it 32 bytes instead of 24, and cost
    /// the body-less GET 8 instructions in `benches/http_instructions.sh`.)
    #[test]
    fn error_is_no_larger_than_a_string() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<String>());
    }

    #[test]
    fn statuses() {
        let table: &[(Error, u16)] = &[
            (Error::BadRequestLine, 400),
            (Error::UriTooLong { limit: 1 }, 414),
            (Error::HeadTooLarge { limit: 1 }, 431),
            (Error::TooManyHeaders { limit: 1 }, 431),
            (Error::TrailersTooLarge { limit: 1 }, 431),
            (Error::BodyTooLarge { limit: 1 }, 413),
            (Error::StreamedBodyTooLarge { limit: 1 }, 413),
            (
                Error::BodyTooSlow {
                    bytes_per_second: 1,
                },
                408,
            ),
            (Error::UnsupportedTransferEncoding, 501),
            (Error::UnsupportedVersion, 505),
            (Error::InvalidHeaderValue, 500),
        ];
        for (e, code) in table {
            assert_eq!(e.status(), *code, "{e}");
        }
    }

    #[test]
    fn into_io_error() {
        let e: io::Error = Error::BadChunkSize.into();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(e.to_string(), "invalid chunk size");
    }

    #[test]
    fn send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
