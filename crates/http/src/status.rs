//! Canonical reason phrases of HTTP status codes.

/// The canonical reason phrase of a status code, if the code is registered.
///
/// Covers every code defined by RFC 9110 and the other codes in the IANA HTTP
/// Status Code Registry (102, 103, 207, 208, 226, 421–429, 431, 451, 506–511).
///
/// # Examples
///
/// ```
/// use monocle_http::reason_phrase;
///
/// assert_eq!(reason_phrase(200), Some("OK"));
/// assert_eq!(reason_phrase(404), Some("Not Found"));
/// assert_eq!(reason_phrase(599), None);
/// ```
pub fn reason_phrase(code: u16) -> Option<&'static str> {
    Some(match code {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => return None,
    })
}

/// Whether a response with this status never has a body (1xx, 204, 304).
pub(crate) fn status_has_no_body(code: u16) -> bool {
    (100..200).contains(&code) || code == 204 || code == 304
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9110_codes_have_phrases() {
        let codes = [
            100, 101, 200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 305, 307, 308,
            400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416,
            417, 421, 422, 426, 500, 501, 502, 503, 504, 505,
        ];
        for code in codes {
            let phrase = reason_phrase(code).unwrap_or_else(|| panic!("{code} has no phrase"));
            assert!(!phrase.is_empty());
        }
        assert_eq!(reason_phrase(306), None);
        assert_eq!(reason_phrase(0), None);
    }

    #[test]
    fn bodiless_statuses() {
        for (code, none) in [
            (100, true),
            (101, true),
            (199, true),
            (200, false),
            (204, true),
            (304, true),
            (404, false),
        ] {
            assert_eq!(status_has_no_body(code), none, "{code}");
        }
    }
}
