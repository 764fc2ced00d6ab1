//! Small decoders: base64 (for Basic auth) and percent-encoding (for paths).

use std::borrow::Cow;

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
