//! The server's request-head parser: no panic, an error always maps to a
//! 4xx or 5xx answer the server can send, an accepted head has the framing
//! its headers call for, and the answer does not depend on how the bytes
//! were split across reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monocle_http::{
    parse_request_head, BodyFraming, Error, HttpRequest, Limits, RequestHead, Version,
};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the limits: the defaults, or small ones that the
    // fuzzer can reach.
    let Some((&pick, buf)) = data.split_first() else {
        return;
    };
    let mut limits = Limits::default();
    if pick & 1 == 1 {
        limits
            .max_head(64 + usize::from(pick >> 1))
            .max_uri(8 + usize::from(pick >> 3))
            .max_headers(1 + usize::from(pick >> 5))
            .max_body(u64::from(pick));
    }
    let full = parse_request_head(buf, &limits);
    match &full {
        Ok(Some(head)) => check_head(buf, head, &limits),
        Ok(None) => assert!(
            buf.len() <= limits.head_limit(),
            "incomplete past the head limit"
        ),
        Err(e) => {
            let status = e.status();
            assert!(
                (400..600).contains(&status) && status != 500,
                "{e:?} answers {status}, not a client error"
            );
        }
    }
    // Every prefix is either still incomplete or gives the same answer.
    let want = summary(&full);
    let cuts: Vec<usize> = if buf.len() <= 300 {
        (0..buf.len()).collect()
    } else {
        buf.iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .chain([buf.len() / 2, limits.head_limit(), limits.head_limit() + 1])
            .filter(|&cut| cut < buf.len())
            .collect()
    };
    for cut in cuts {
        let got = parse_request_head(&buf[..cut], &limits);
        if !matches!(got, Ok(None)) {
            assert_eq!(summary(&got), want, "prefix of {cut} bytes");
        }
    }
});

fn summary(r: &Result<Option<RequestHead>, Error>) -> String {
    match r {
        Ok(Some(h)) => format!(
            "{} {} {} {:?} {:?} {:?} {} {}",
            h.len(),
            h.method(),
            h.uri(),
            h.version(),
            h.headers(),
            h.framing(),
            h.keep_alive(),
            h.expect_continue()
        ),
        Ok(None) => "incomplete".into(),
        Err(e) => format!("{e:?}"),
    }
}

fn check_head(buf: &[u8], head: &RequestHead, limits: &Limits) {
    let len = head.len();
    assert!(len > 0 && len <= buf.len() && len <= limits.head_limit());
    assert!(
        buf[..len].ends_with(b"\r\n\r\n"),
        "a head ends with CRLF CRLF"
    );
    assert!(head.uri().len() <= limits.uri_limit());
    assert!(!head.method().is_empty());
    let headers = head.headers();
    assert!(headers.len() <= limits.headers_limit());
    for (name, value) in headers {
        assert!(!name.is_empty() && !name.contains([':', ' ', '\t', '\r', '\n']));
        assert!(
            !value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f),
            "control byte in {value:?}"
        );
        assert_eq!(value, value.trim_matches([' ', '\t']), "untrimmed value");
    }
    // Exactly one Host in HTTP/1.1, at most one in HTTP/1.0.
    let hosts = headers.get_all("host").count();
    match head.version() {
        Version::Http11 => assert_eq!(hosts, 1),
        _ => assert!(hosts <= 1),
    }
    // The framing is the one the headers call for.
    let te: Vec<&str> = headers.get_all("transfer-encoding").collect();
    let cl: Vec<&str> = headers.get_all("content-length").collect();
    match head.framing() {
        BodyFraming::Chunked => {
            assert_eq!(head.version(), Version::Http11);
            assert!(cl.is_empty(), "chunked with Content-Length");
            assert_eq!(te.len(), 1);
            assert!(te[0]
                .trim_matches([' ', '\t'])
                .eq_ignore_ascii_case("chunked"));
        }
        BodyFraming::Length(n) => {
            assert!(te.is_empty());
            assert!(n > 0 && n <= limits.body_limit());
            for value in &cl {
                for part in value.split(',') {
                    let part = part.trim_matches([' ', '\t']);
                    assert!(part.bytes().all(|b| b.is_ascii_digit()), "{part:?}");
                    assert_eq!(part.parse::<u64>().ok(), Some(n), "{cl:?}");
                }
            }
        }
        BodyFraming::Empty => {
            assert!(te.is_empty());
            for value in &cl {
                for part in value.split(',') {
                    let part = part.trim_matches([' ', '\t']);
                    assert_eq!(part.parse::<u64>().ok(), Some(0), "{cl:?}");
                }
            }
        }
        BodyFraming::UntilClose => panic!("a request body never runs until close"),
    }
    if head.keep_alive() {
        assert!(!headers.has_token("connection", "close"));
    }
    if head.expect_continue() {
        assert_eq!(head.version(), Version::Http11);
    }
    // What a handler then reads of the request must not panic either.
    let req = HttpRequest::from_head(head.clone(), Vec::new(), None);
    let _ = (req.path(), req.query(), req.host(), req.scheme());
    let _ = req.decoded_path();
    let _ = req.query_args();
    let _ = req.cookies().count();
    let _ = req.basic_auth();
    assert!(req.uri().contains(req.path()) || req.path() == "/");
    // An absolute http(s) target names a host (RFC 9110 §4.2.1).
    if req
        .scheme()
        .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
    {
        let host = req.host().unwrap_or_default();
        assert!(
            !host.is_empty() && !host.starts_with(':'),
            "{:?}",
            req.uri()
        );
    }
}
