//! `HttpHeaders` against a plain list of pairs: after every operation the
//! map holds the same fields in the same order and answers every lookup
//! the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monocle_http::{Error, HttpHeaders};

/// One operation per line of the input: `a name=value` adds, `s name=value`
/// sets, `n name=123` adds a number, `r name` removes, `g name` looks up,
/// `t name=token` asks for a token, `c` clears, `k` clones and compares.
/// In values, `\r`, `\n` and `\0` stand for CR, LF and NUL.
#[derive(Debug)]
enum Op {
    Add(String, String),
    Set(String, String),
    AddNumber(String, i64),
    Remove(String),
    Get(String),
    HasToken(String, String),
    Clear,
    CloneAndCompare,
}

impl Op {
    fn read(line: &str) -> Option<Op> {
        let mut chars = line.chars();
        let code = chars.next()?;
        let rest = chars.as_str().strip_prefix(' ').unwrap_or(chars.as_str());
        let (name, value) = rest.split_once('=').unwrap_or((rest, ""));
        let (name, value) = (name.to_owned(), unescape(value));
        Some(match code {
            'a' => Op::Add(name, value),
            's' => Op::Set(name, value),
            'n' => Op::AddNumber(name, value.parse().unwrap_or(value.len() as i64)),
            'r' => Op::Remove(name),
            'g' => Op::Get(name),
            't' => Op::HasToken(name, value),
            'c' => Op::Clear,
            'k' => Op::CloneAndCompare,
            _ => return None,
        })
    }
}

fn unescape(s: &str) -> String {
    s.replace("\\r", "\r")
        .replace("\\n", "\n")
        .replace("\\0", "\0")
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn check(map: &HttpHeaders, model: &[(String, String)]) {
    assert_eq!(map.len(), model.len());
    assert_eq!(map.is_empty(), model.is_empty());
    assert!(map
        .iter()
        .eq(model.iter().map(|(n, v)| (n.as_str(), v.as_str()))));
    assert!(map
        .iter()
        .rev()
        .eq(model.iter().rev().map(|(n, v)| (n.as_str(), v.as_str()))));
}

fn lookups(map: &HttpHeaders, model: &[(String, String)], name: &str) {
    let same = |n: &String| n.eq_ignore_ascii_case(name);
    let first = model.iter().find(|(n, _)| same(n)).map(|(_, v)| v.as_str());
    assert_eq!(map.get(name), first, "get({name:?})");
    assert_eq!(map.contains(name), first.is_some());
    assert!(map.get_all(name).eq(model
        .iter()
        .filter(|(n, _)| same(n))
        .map(|(_, v)| v.as_str())));
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let ops = text.split('\n').filter_map(Op::read);
    let mut map = HttpHeaders::new();
    let mut model: Vec<(String, String)> = Vec::new();
    for op in ops {
        match op {
            Op::Add(name, value) => {
                let ok = is_token(&name) && is_value(&value);
                let got = map.try_add(&name, value.as_str());
                assert_eq!(got.is_ok(), ok, "try_add({name:?}, {value:?}) gave {got:?}");
                if !is_token(&name) {
                    assert_eq!(got, Err(Error::InvalidHeaderName));
                }
                if ok {
                    model.push((name, value));
                }
            }
            Op::Set(name, value) => {
                let ok = is_token(&name) && is_value(&value);
                let got = map.try_set(&name, value.as_str());
                assert_eq!(got.is_ok(), ok, "try_set({name:?}, {value:?}) gave {got:?}");
                if ok {
                    match model
                        .iter()
                        .position(|(n, _)| n.eq_ignore_ascii_case(&name))
                    {
                        Some(first) => {
                            model[first] = (name.clone(), value);
                            let mut i = 0;
                            model.retain(|(n, _)| {
                                i += 1;
                                i - 1 <= first || !n.eq_ignore_ascii_case(&name)
                            });
                        }
                        None => model.push((name, value)),
                    }
                }
            }
            Op::AddNumber(name, n) => {
                let got = map.try_add(&name, n);
                assert_eq!(got.is_ok(), is_token(&name));
                if got.is_ok() {
                    model.push((name, n.to_string()));
                }
            }
            Op::Remove(name) => {
                let had = model.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name));
                assert_eq!(map.remove(&name), had);
                model.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            }
            Op::Get(name) => lookups(&map, &model, &name),
            Op::HasToken(name, token) => {
                let want = model
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
                    .any(|(_, v)| {
                        v.split(',')
                            .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(&token))
                    });
                assert_eq!(map.has_token(&name, &token), want);
            }
            Op::Clear => {
                map.clear();
                model.clear();
            }
            Op::CloneAndCompare => {
                let copy = map.clone();
                assert_eq!(copy, map);
                check(&copy, &model);
            }
        }
        check(&map, &model);
    }
    for (name, _) in model.clone() {
        lookups(&map, &model, &name);
        lookups(&map, &model, &name.to_ascii_uppercase());
    }
});
