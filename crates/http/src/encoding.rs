//! Small codecs: base64 (for Basic auth) and percent-decoding (for paths).

use std::borrow::Cow;
use std::io;

/// The `Authorization` value for HTTP Basic authentication (RFC 7617):
/// `Basic ` and the base64 of `user:password`, the inverse of
/// [`HttpRequest::basic_auth`](crate::HttpRequest::basic_auth).
///
/// Both are sent as UTF-8. Refused with `InvalidInput` (RFC 7617 §2): a
/// `user` with a colon in it, since the receiver splits at the first colon
/// and could not get that name back; and a control character (CTL: bytes
/// 0x00–0x1F and 0x7F, a line break or a NUL, say) in either. The error
/// names the user-id, never the password.
///
/// # Examples
///
/// ```
/// use monocle_http::{basic_auth, HttpHeaders, HttpRequest};
///
/// let value = basic_auth("Aladdin", "open sesame")?;
/// assert_eq!(value, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
///
/// let mut req = HttpRequest::new("GET", "/");
/// req.headers_mut().set("Authorization", &value);
/// assert_eq!(req.basic_auth(), Some(("Aladdin".into(), "open sesame".into())));
/// # std::io::Result::Ok(())
/// ```
pub fn basic_auth(user: &str, password: &str) -> io::Result<String> {
    if user.contains(':') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a Basic auth user-id may not contain a colon: {user:?}"),
        ));
    }
    if let Some(at) = find_control(user) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a Basic auth user-id may not contain a control character: {user:?} has {:#04x} \
                 at byte {at}",
                user.as_bytes()[at]
            ),
        ));
    }
    // The password is a secret: only where the character is.
    if let Some(at) = find_control(password) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a Basic auth password may not contain a control character: it has {:#04x} \
                 at byte {at}",
                password.as_bytes()[at]
            ),
        ));
    }
    let mut value = String::from("Basic ");
    base64_encode_into(
        &[user.as_bytes(), b":", password.as_bytes()].concat(),
        &mut value,
    );
    Ok(value)
}

/// Where the first control character (CTL, RFC 5234 Appendix B.1: 0x00–0x1F
/// and 0x7F) of `s` is.
fn find_control(s: &str) -> Option<usize> {
    s.bytes().position(|b| b.is_ascii_control())
}

/// Appends the standard base64 (RFC 4648 §4) of `input`, with `=` padding.
fn base64_encode_into(input: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sextet = |acc: u32, shift: u32| ALPHABET[(acc >> shift & 63) as usize] as char;
    out.reserve(input.len().div_ceil(3) * 4);
    for group in input.chunks(3) {
        let acc = group
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        out.push(sextet(acc, 18));
        out.push(sextet(acc, 12));
        out.push(if group.len() > 1 { sextet(acc, 6) } else { '=' });
        out.push(if group.len() > 2 { sextet(acc, 0) } else { '=' });
    }
}

/// Decodes standard base64 (RFC 4648 §4, `+` and `/`), with or without `=` padding.
///
/// Returns `None` on a byte outside the alphabet, misplaced padding or a length
/// that no encoding produces.
pub(crate) fn base64_decode(input: &str) -> Option<Vec<u8>> {
    fn sextet(b: u8) -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }

    let bytes = input.as_bytes();
    let unpadded = match bytes.len() % 4 {
        0 if bytes.ends_with(b"==") => &bytes[..bytes.len() - 2],
        0 if bytes.ends_with(b"=") => &bytes[..bytes.len() - 1],
        _ => bytes,
    };
    if unpadded.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(unpadded.len() / 4 * 3 + 2);
    for group in unpadded.chunks(4) {
        let mut acc = 0u32;
        for &b in group {
            acc = (acc << 6) | sextet(b)?;
        }
        match group.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
            2 => out.push((acc >> 4) as u8),
            _ => unreachable!("length checked above"),
        }
    }
    Some(out)
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays as it is.
///
/// Borrows when there is nothing to decode. Bytes that do not form UTF-8 after
/// decoding are replaced with U+FFFD.
pub(crate) fn percent_decode(input: &str) -> Cow<'_, str> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }

    if !input.contains('%') {
        return Cow::Borrowed(input);
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_table() {
        let table: &[(&str, Option<&[u8]>)] = &[
            ("", Some(b"")),
            ("Zg==", Some(b"f")),
            ("Zg", Some(b"f")),
            ("Zm8=", Some(b"fo")),
            ("Zm8", Some(b"fo")),
            ("Zm9v", Some(b"foo")),
            ("Zm9vYg==", Some(b"foob")),
            ("Zm9vYmE=", Some(b"fooba")),
            ("Zm9vYmFy", Some(b"foobar")),
            ("QWxhZGRpbjpvcGVuIHNlc2FtZQ==", Some(b"Aladdin:open sesame")),
            ("+/+/", Some(&[0xfb, 0xff, 0xbf])),
            ("Z", None),
            ("Zm9vY", None),
            ("Zm9v!", None),
            ("Zg=a", None),
            ("=Zg=", None),
            ("Zg===", None),
            ("-_", None),
        ];
        for (input, want) in table {
            assert_eq!(base64_decode(input).as_deref(), *want, "{input:?}");
        }
    }

    #[test]
    fn base64_encoding_matches_rfc_4648_and_round_trips() {
        let table: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
            (&[0xfb, 0xff, 0xbf], "+/+/"),
        ];
        for (input, want) in table {
            let mut out = String::new();
            base64_encode_into(input, &mut out);
            assert_eq!(out, *want, "{input:?}");
        }
        let all: Vec<u8> = (0..=255).collect();
        for len in 0..all.len() {
            let mut out = String::new();
            base64_encode_into(&all[..len], &mut out);
            assert_eq!(base64_decode(&out).as_deref(), Some(&all[..len]));
        }
    }

    #[test]
    fn basic_auth_values() {
        assert_eq!(
            basic_auth("Aladdin", "open sesame").unwrap(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        // RFC 7617 §2.1's UTF-8 example.
        assert_eq!(
            basic_auth("test", "123£").unwrap(),
            "Basic dGVzdDoxMjPCow=="
        );
        assert_eq!(basic_auth("", "").unwrap(), "Basic Og==");
        // A colon is fine in the password, not in the user-id.
        assert_eq!(basic_auth("u", "a:b").unwrap(), "Basic dTphOmI=");
        let err = basic_auth("a:b", "pw").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn basic_auth_refuses_control_characters() {
        // Every CTL (RFC 5234: 0x00-0x1F, 0x7F), at the start, in the middle
        // and at the end, in the user-id and in the password.
        let controls = (0u8..0x20).chain([0x7f]).map(char::from);
        for c in controls {
            for (before, after) in [("", "x"), ("a", "b"), ("ab", "")] {
                let bad = format!("{before}{c}{after}");
                let at = before.len();
                let err = basic_auth(&bad, "pw").unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
                assert_eq!(
                    err.to_string(),
                    format!(
                        "a Basic auth user-id may not contain a control character: {bad:?} \
                         has {:#04x} at byte {at}",
                        c as u32
                    )
                );
                let err = basic_auth("user", &bad).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
                let msg = err.to_string();
                assert_eq!(
                    msg,
                    format!(
                        "a Basic auth password may not contain a control character: it has \
                         {:#04x} at byte {at}",
                        c as u32
                    )
                );
            }
        }
        // The password is never in the message.
        let err = basic_auth("user", "s3cr3t\r\n").unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        // Printable ASCII and non-ASCII (a C1 control included: CTL is ASCII
        // only) are fine.
        let printable: String = (0x20u8..0x7f)
            .map(char::from)
            .filter(|&c| c != ':')
            .collect();
        assert!(basic_auth(&printable, &printable).is_ok());
        assert!(basic_auth("\u{e9}\u{85}", "\u{a3}\u{9f}").is_ok());
    }

    #[test]
    fn percent_table() {
        let table = [
            ("/plain", "/plain"),
            ("/a%20b", "/a b"),
            ("/%2Fx", "//x"),
            ("/%e2%82%ac", "/\u{20ac}"),
            ("/100%", "/100%"),
            ("/%4", "/%4"),
            ("/%zz", "/%zz"),
            ("/%ff", "/\u{fffd}"),
            ("a+b", "a+b"),
        ];
        for (input, want) in table {
            assert_eq!(percent_decode(input), want, "{input:?}");
        }
        assert!(matches!(percent_decode("/x"), Cow::Borrowed(_)));
    }
}
