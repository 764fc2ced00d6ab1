//! [`Version`]: the HTTP versions this crate speaks.

use std::fmt;

/// An HTTP/1 protocol version.
///
/// Only HTTP/1.0 and HTTP/1.1 exist on the wire for this crate; a request
/// naming another version is answered with 505 (see
/// [`Error::UnsupportedVersion`](crate::Error::UnsupportedVersion)).
///
/// # Examples
///
/// ```
/// use monocle_http::Version;
///
/// assert_eq!(Version::default(), Version::Http11);
/// assert_eq!(Version::Http10.as_str(), "HTTP/1.0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Version {
    /// HTTP/1.0: connections close after each response unless asked otherwise.
    Http10,
    /// HTTP/1.1: persistent connections and chunked bodies.
    #[default]
    Http11,
}

impl Version {
    /// The version as written on the wire: `"HTTP/1.0"` or `"HTTP/1.1"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }

    /// The version from httparse's minor version number.
    pub(crate) fn from_minor(minor: u8) -> Version {
        if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
