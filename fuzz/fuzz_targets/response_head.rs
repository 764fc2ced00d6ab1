//! The client's response-head parser: no panic, the framing follows the
//! request method and status, a body that runs until close never keeps the
//! connection, and the answer does not depend on how the bytes were split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monocle_http::{parse_response_head, BodyFraming, Error, HttpResponse, Limits, ResponseHead};

const METHODS: [&str; 6] = ["GET", "HEAD", "CONNECT", "POST", "head", "OPTIONS"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, buf)) = data.split_first() else {
        return;
    };
    let method = METHODS[usize::from(pick) % METHODS.len()];
    let mut limits = Limits::default();
    if pick & 0x80 != 0 {
        limits
            .max_head(48 + usize::from(pick & 0x3f))
            .max_headers(4)
            .max_body(100);
    }
    let full = parse_response_head(buf, method, &limits);
    if let Ok(Some(head)) = &full {
        check_head(buf, head, method, &limits);
    }
    if let Ok(None) = &full {
        assert!(
            buf.len() <= limits.head_limit(),
            "incomplete past the head limit"
        );
    }
    let want = summary(&full);
    let cuts: Vec<usize> = if buf.len() <= 300 {
        (0..buf.len()).collect()
    } else {
        buf.iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .filter(|&cut| cut < buf.len())
            .collect()
    };
    for cut in cuts {
        let got = parse_response_head(&buf[..cut], method, &limits);
        if !matches!(got, Ok(None)) {
            assert_eq!(summary(&got), want, "prefix of {cut} bytes");
        }
    }
});

fn summary(r: &Result<Option<ResponseHead>, Error>) -> String {
    match r {
        Ok(Some(h)) => format!(
            "{} {:?} {} {:?} {:?} {:?} {}",
            h.len(),
            h.version(),
            h.code(),
            h.reason(),
            h.headers(),
            h.framing(),
            h.keep_alive()
        ),
        Ok(None) => "incomplete".into(),
        Err(e) => format!("{e:?}"),
    }
}

fn check_head(buf: &[u8], head: &ResponseHead, method: &str, limits: &Limits) {
    assert!(head.len() > 0 && head.len() <= buf.len() && head.len() <= limits.head_limit());
    assert!(buf[..head.len()].ends_with(b"\n"));
    assert!((100..=999).contains(&head.code()));
    for (name, value) in head.headers() {
        assert!(!name.is_empty() && !name.contains([':', ' ', '\t', '\r', '\n']));
        assert!(!value.contains(['\r', '\n', '\0']), "{value:?}");
    }
    let code = head.code();
    let no_body = method == "HEAD"
        || (100..200).contains(&code)
        || code == 204
        || code == 304
        || (method == "CONNECT" && (200..300).contains(&code));
    match head.framing() {
        BodyFraming::Empty => {}
        _ if no_body => panic!("{method} {code} has no body, not {:?}", head.framing()),
        BodyFraming::Length(n) => assert!(n > 0 && n <= limits.body_limit()),
        BodyFraming::Chunked => assert!(head.headers().contains("transfer-encoding")),
        BodyFraming::UntilClose => assert!(!head.keep_alive(), "until close, yet kept alive"),
    }
    if head.keep_alive() {
        assert!(!head.headers().has_token("connection", "close"));
    }
    let resp = HttpResponse::from_head(head.clone(), Vec::new());
    assert_eq!(resp.code(), code);
}
