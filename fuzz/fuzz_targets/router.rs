//! Route patterns against a backtracking matcher written from the pattern
//! syntax's documentation (`:name`, `*`, `?`, literals), regex routes, and
//! the router's choice between Found, MethodNotAllowed and NotFound.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use monocle_http::{HttpRouter, Pattern, RouteMatch};

mod reference;
use reference::percent_decode;

/// The input is text, one item a line: the request's method (a digit, an
/// index into `METHODS`) and path, as in `0 /items/7` (`\\n` in the path
/// stands for LF); then routes, a method
/// digit and a pattern each, as in `1 /items/:id`; a line `re REGEX` adds a
/// regex route tried on its own.
#[derive(Debug, Default)]
struct Input {
    routes: Vec<(u8, String)>,
    regex: Option<String>,
    method: u8,
    path: String,
}

impl Input {
    fn read(text: &str) -> Input {
        let mut input = Input::default();
        let split = |line: &str| {
            let (m, rest) = line.split_at(line.find(' ').unwrap_or(line.len()));
            let m = m.bytes().next().unwrap_or(b'0').wrapping_sub(b'0');
            (m, rest.strip_prefix(' ').unwrap_or(rest).to_owned())
        };
        let mut lines = text.split('\n');
        (input.method, input.path) = split(lines.next().unwrap_or_default());
        // A path cannot hold the line separator itself.
        input.path = input.path.replace("\\n", "\n");
        for line in lines {
            match line.strip_prefix("re ") {
                Some(re) => input.regex = Some(re.to_owned()),
                None => input.routes.push(split(line)),
            }
        }
        input
    }
}

const METHODS: [&str; 5] = ["GET", "POST", "HEAD", "*", "delete"];

fuzz_target!(|data: &[u8]| {
    let input = Input::read(&String::from_utf8_lossy(data));
    if input.path.len() > 256 || input.routes.len() > 8 {
        return;
    }
    let path = input.path.as_str();
    let mut router: HttpRouter<usize> = HttpRouter::new();
    // (handler, method, whether the pattern matches the path), in route order
    let mut table: Vec<(usize, String, bool)> = Vec::new();
    for (i, (m, source)) in input.routes.iter().enumerate() {
        if source.chars().count() > 64 {
            return;
        }
        let method = METHODS[usize::from(*m) % METHODS.len()];
        let Some(elems) = parse(source) else {
            assert!(
                Pattern::new(source).is_err(),
                "{source:?} has a `?` with nothing before it"
            );
            continue;
        };
        let pattern = Pattern::new(source).unwrap_or_else(|e| panic!("{source:?}: {e}"));
        assert_eq!(pattern.as_str(), source);
        let want = reference(&elems, path);
        let got = pattern.matches(path);
        assert_eq!(
            got.as_ref().map(|p| p
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect::<Vec<_>>()),
            want,
            "{source:?} against {path:?}"
        );
        assert_eq!(pattern.is_match(path), got.is_some());
        router.route(method, pattern, i);
        table.push((i, method.to_ascii_uppercase(), got.is_some()));
    }
    if let Some(re) = &input.regex {
        if let Ok(regex) = regex::RegexBuilder::new(re).size_limit(1 << 16).build() {
            let pattern = Pattern::from(regex.clone());
            let got = pattern.matches(path);
            assert_eq!(got.is_some(), regex.is_match(path));
            assert_eq!(pattern.is_match(path), regex.is_match(path));
            if let (Some(params), Some(caps)) = (&got, regex.captures(path)) {
                let names: HashSet<&str> = regex.capture_names().flatten().collect();
                for (name, _) in params.iter() {
                    assert!(names.contains(name));
                }
                let took_part = names.iter().filter(|n| caps.name(n).is_some()).count();
                assert_eq!(params.len(), took_part);
            }
        }
    }

    let method = METHODS[usize::from(input.method) % 3];
    let first = |ok: &dyn Fn(&str) -> bool| {
        table
            .iter()
            .find(|(_, rm, hit)| *hit && ok(rm))
            .map(|(i, _, _)| *i)
    };
    let found = first(&|rm| rm == method || rm == "*").or_else(|| {
        if method == "HEAD" {
            first(&|rm| rm == "GET")
        } else {
            None
        }
    });
    match router.find(method, path) {
        RouteMatch::Found { handler, .. } => {
            assert_eq!(
                Some(*handler),
                found,
                "{method} {path:?} found the wrong route"
            );
        }
        RouteMatch::MethodNotAllowed { allowed } => {
            assert!(found.is_none(), "405 though a route matches");
            assert!(!allowed.is_empty());
            for m in &allowed {
                assert_ne!(*m, method);
                assert!(
                    table.iter().any(|(_, rm, hit)| *hit && rm == m)
                        || (*m == "HEAD" && table.iter().any(|(_, rm, hit)| *hit && rm == "GET"))
                );
            }
        }
        RouteMatch::NotFound => {
            assert!(found.is_none());
            assert!(
                table.iter().all(|(_, _, hit)| !hit),
                "404 though a pattern matches"
            );
        }
    }
});

#[derive(Debug)]
enum Kind {
    Literal(char),
    /// `:name`: one or more characters other than `/`.
    Segment(String),
    /// `*`: any characters, even none.
    Star,
}

#[derive(Debug)]
struct Elem {
    kind: Kind,
    optional: bool,
}

/// The pattern syntax as the documentation of `Pattern` gives it; `None`
/// for a `?` with nothing before it.
fn parse(source: &str) -> Option<Vec<Elem>> {
    let chars: Vec<char> = source.chars().collect();
    let mut elems: Vec<Elem> = Vec::new();
    let mut i = 0;
    let mut can_be_optional = false;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
        match c {
            ':' if chars
                .get(i)
                .is_some_and(|&c| c.is_ascii_alphabetic() || c == '_') =>
            {
                let start = i;
                while chars.get(i).is_some_and(|&c| name_char(c)) {
                    i += 1;
                }
                let name = chars[start..i].iter().collect();
                elems.push(Elem {
                    kind: Kind::Segment(name),
                    optional: false,
                });
                can_be_optional = true;
            }
            '*' => {
                elems.push(Elem {
                    kind: Kind::Star,
                    optional: false,
                });
                can_be_optional = true;
            }
            '?' if can_be_optional => {
                elems.last_mut()?.optional = true;
                can_be_optional = false;
            }
            '?' => return None,
            c => {
                elems.push(Elem {
                    kind: Kind::Literal(c),
                    optional: false,
                });
                can_be_optional = true;
            }
        }
    }
    Some(elems)
}

/// Matches the whole of `path`, trying the alternatives in the order a
/// regex's leftmost-first semantics prefers them (longest first, an optional
/// element taken before skipped); returns the captured parameters.
fn reference(elems: &[Elem], path: &str) -> Option<Vec<(String, String)>> {
    let chars: Vec<char> = path.chars().collect();
    let mut failed = HashSet::new();
    let mut caps = Vec::new();
    if go(elems, &chars, 0, 0, &mut caps, &mut failed) {
        Some(caps)
    } else {
        None
    }
}

fn go(
    elems: &[Elem],
    path: &[char],
    e: usize,
    p: usize,
    caps: &mut Vec<(String, String)>,
    failed: &mut HashSet<(usize, usize)>,
) -> bool {
    if e == elems.len() {
        return p == path.len();
    }
    if failed.contains(&(e, p)) {
        return false;
    }
    let elem = &elems[e];
    let ends: Vec<usize> = match &elem.kind {
        Kind::Literal(c) => {
            if path.get(p) == Some(c) {
                vec![p + 1]
            } else {
                vec![]
            }
        }
        Kind::Segment(_) => {
            let run = path[p..].iter().take_while(|&&c| c != '/').count();
            (p + 1..=p + run).rev().collect()
        }
        Kind::Star => (p..=path.len()).rev().collect(),
    };
    for end in ends {
        let before = caps.len();
        let name = match &elem.kind {
            Kind::Segment(name) => Some(name.clone()),
            Kind::Star => Some("*".to_owned()),
            Kind::Literal(_) => None,
        };
        if let Some(name) = name {
            let raw: String = path[p..end].iter().collect();
            caps.push((name, percent_decode(&raw)));
        }
        if go(elems, path, e + 1, end, caps, failed) {
            return true;
        }
        caps.truncate(before);
    }
    if elem.optional && go(elems, path, e + 1, p, caps, failed) {
        return true;
    }
    failed.insert((e, p));
    false
}
