//! What a handler reads from a request: the target split into path and
//! query, percent-decoding, query arguments, cookies and Basic credentials.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monocle_http::{basic_auth, HttpRequest};

mod reference;
use reference::percent_decode;

/// The input is text: the first line is the target; each other line is a
/// header (`Name: value`), or `user:password` for Basic credentials after
/// a line `auth`.
#[derive(Debug, Default)]
struct Input {
    uri: String,
    headers: Vec<(String, String)>,
    user: String,
    password: String,
}

impl Input {
    fn read(text: &str) -> Input {
        let mut input = Input::default();
        let mut lines = text.split('\n');
        input.uri = lines.next().unwrap_or_default().to_owned();
        let mut auth = false;
        for line in lines {
            if auth {
                let (user, password) = line.split_once(':').unwrap_or((line, ""));
                // A user-id with a colon is refused: try one now and then.
                (input.user, input.password) = match password.strip_prefix(':') {
                    Some(p) => (format!("{user}:"), p.to_owned()),
                    None => (user.to_owned(), password.to_owned()),
                };
                auth = false;
            } else if line == "auth" {
                auth = true;
            } else {
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                input
                    .headers
                    .push((name.to_owned(), value.trim_start().to_owned()));
            }
        }
        input
    }
}

fuzz_target!(|data: &[u8]| {
    let input = Input::read(&String::from_utf8_lossy(data));
    let mut req = HttpRequest::new("GET", input.uri.as_str());
    for (name, value) in &input.headers {
        let _ = req.headers_mut().try_add(name, value.as_str());
    }

    let uri = req.uri();
    let (path, query) = (req.path(), req.query());
    let before_fragment = uri.split('#').next().unwrap_or_default();
    if uri.starts_with('/') {
        // Origin form: the path, then `?` and the query, then any fragment.
        let rebuilt = if before_fragment.contains('?') {
            format!("{path}?{query}")
        } else {
            path.to_owned()
        };
        assert_eq!(rebuilt, before_fragment, "{uri:?}");
        assert!(!path.contains('?'));
    }
    if !query.is_empty() {
        assert!(before_fragment.ends_with(query), "{uri:?}: query {query:?}");
    }
    assert_eq!(req.decoded_path(), percent_decode(path), "{path:?}");
    let _ = (req.host(), req.scheme());
    for (name, values) in req.query_args() {
        assert!(!values.is_empty());
        assert_eq!(req.query_arg(name), values.first().map(String::as_str));
    }

    let mut cookies = 0;
    for (name, value) in req.cookies() {
        cookies += 1;
        assert!(!name.is_empty() && !name.contains(';') && !value.contains(';'));
        assert_eq!(name, name.trim_matches([' ', '\t']));
        assert!(req.cookie(name).is_some());
    }
    let pairs: usize = req
        .headers()
        .get_all("cookie")
        .flat_map(|v| v.split(';'))
        .filter(|p| {
            p.split_once('=')
                .is_some_and(|(n, _)| !n.trim_matches([' ', '\t']).is_empty())
        })
        .count();
    assert_eq!(cookies, pairs);
    let _ = req.basic_auth();

    // Basic credentials go through encoding and decoding unchanged.
    match basic_auth(&input.user, &input.password) {
        Ok(value) => {
            assert!(!input.user.contains(':'));
            let req = HttpRequest::new("GET", "/").with_header("Authorization", value.as_str());
            assert_eq!(
                req.basic_auth(),
                Some((input.user.clone(), input.password.clone())),
                "{value:?}"
            );
        }
        Err(_) => assert!(
            input.user.contains(':')
                || input
                    .user
                    .bytes()
                    .chain(input.password.bytes())
                    .any(|b| b.is_ascii_control())
        ),
    }
});
