//! The chunked decoder fed the same bytes split at fuzzer-chosen points, one
//! byte at a time, and into a small output buffer: the decoded body, the
//! bytes consumed and the outcome are the same every way, and the body never
//! exceeds the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monocle_http::{ChunkedDecoder, Error, Limits};

/// The fuzzer's bytes: six bytes of settings (the body limit, two bytes
/// big-endian; the extensions and trailers limits; the output buffer size for
/// `decode_into`, less one; how many split points follow, up to 8), the split
/// points (two bytes each, taken modulo the input length), then the input.
#[derive(Debug)]
struct Input {
    max_body: u16,
    max_extensions: u8,
    max_trailers: u8,
    out_len: u8,
    cuts: Vec<u16>,
    bytes: Vec<u8>,
}

impl Input {
    fn read(data: &[u8]) -> Option<Input> {
        let (&[b0, b1, ext, trailers, out_len, n], rest) = data.split_first_chunk::<6>()?;
        let n = usize::from(n % 9);
        let cuts = rest.get(..2 * n)?;
        Some(Input {
            max_body: u16::from_be_bytes([b0, b1]),
            max_extensions: ext,
            max_trailers: trailers,
            out_len,
            cuts: cuts
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect(),
            bytes: rest[2 * n..].to_vec(),
        })
    }
}

/// The body decoded, the bytes of input consumed, and the outcome.
#[derive(Debug, PartialEq)]
struct Outcome {
    body: Vec<u8>,
    used: usize,
    result: Result<bool, Error>,
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::read(data) else {
        return;
    };
    let mut limits = Limits::default();
    limits
        .max_body(u64::from(input.max_body))
        .max_chunk_extensions(usize::from(input.max_extensions))
        .max_trailers(usize::from(input.max_trailers));
    let bytes = &input.bytes;

    let whole = feed(&limits, bytes, &[]);
    assert!(whole.body.len() as u64 <= limits.body_limit());
    if let Ok(true) = whole.result {
        assert!(whole.used <= bytes.len());
        let used = &bytes[..whole.used];
        assert!(used.ends_with(b"\r\n"), "a body ends with CRLF");
    }
    if whole.result.is_ok() && whole.result != Ok(true) {
        assert_eq!(
            whole.used,
            bytes.len(),
            "an unfinished body takes all it is given"
        );
    }

    let mut cuts: Vec<usize> = input
        .cuts
        .iter()
        .map(|&c| usize::from(c) % (bytes.len() + 1))
        .collect();
    cuts.sort_unstable();
    assert_eq!(feed(&limits, bytes, &cuts), whole, "split at {cuts:?}");

    let every: Vec<usize> = (0..=bytes.len()).collect();
    assert_eq!(feed(&limits, bytes, &every), whole, "byte by byte");

    let out_len = usize::from(input.out_len % 16) + 1;
    let small = feed_into(&limits, bytes, out_len);
    if whole.result.is_ok() {
        assert_eq!(small, whole, "through a buffer of {out_len}");
    } else {
        // What the failing call wrote to the buffer is not reported.
        assert_eq!(small.result, whole.result, "through a buffer of {out_len}");
        assert!(whole.body.starts_with(&small.body));
    }
});

/// Feeds `bytes` to a new decoder in pieces ending at `cuts` (sorted), as a
/// connection would: each call gets what is left of the previous piece and
/// the new one, and feeding stops once the body is done or failed.
fn feed(limits: &Limits, bytes: &[u8], cuts: &[usize]) -> Outcome {
    let mut decoder = ChunkedDecoder::new(limits);
    let mut body = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain([&bytes.len()]) {
        if end < start {
            continue;
        }
        match decoder.decode(&bytes[start..end], &mut body) {
            Ok(used) => {
                start += used;
                if decoder.is_done() {
                    break;
                }
                assert_eq!(start, end, "an unfinished body takes all it is given");
            }
            Err(e) => {
                // The decoder stays failed.
                assert_eq!(decoder.decode(b"0\r\n\r\n", &mut body), Err(e.clone()));
                // How much a failed call consumed is not reported.
                return Outcome {
                    body,
                    used: 0,
                    result: Err(e),
                };
            }
        }
    }
    if decoder.is_done() {
        assert_eq!(decoder.body_len(), body.len() as u64);
        assert_eq!(
            decoder.decode(b"more", &mut body),
            Ok(0),
            "done takes nothing"
        );
    }
    assert!(body.len() as u64 <= limits.body_limit());
    Outcome {
        body,
        used: start,
        result: Ok(decoder.is_done()),
    }
}

/// Feeds all of `bytes` through `decode_into` with an output buffer of
/// `out_len` bytes, emptied after each call.
fn feed_into(limits: &Limits, bytes: &[u8], out_len: usize) -> Outcome {
    let mut decoder = ChunkedDecoder::new(limits);
    let mut body = Vec::new();
    let mut out = vec![0u8; out_len];
    let mut start = 0;
    loop {
        match decoder.decode_into(&bytes[start..], &mut out) {
            Ok((used, written)) => {
                assert!(written <= out_len);
                body.extend_from_slice(&out[..written]);
                start += used;
                if decoder.is_done() || start == bytes.len() {
                    break;
                }
                assert!(used > 0 || written > 0, "no progress at {start}");
            }
            Err(e) => {
                return Outcome {
                    body,
                    used: 0,
                    result: Err(e),
                }
            }
        }
    }
    Outcome {
        body,
        used: start,
        result: Ok(decoder.is_done()),
    }
}
