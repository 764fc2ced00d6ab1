//! Memory a server drops for every request, kept per thread for the next
//! request: the buffers of a header map and a request target's text.
//!
//! Per request a server drops the request (in the handler), with its target
//! and headers, and makes the next request's and the handler's response
//! headers: each an allocation and a free (two for a header map). One slot
//! per kind suffices: what is dropped for one request is taken for the next
//! (the connection keeps the response's headers for the next request's
//! itself, see `conn.rs`), and more would only cost more to look through.

use std::cell::Cell;

use crate::headers::Entry;

/// The most memory kept in one slot, in bytes: a larger buffer is freed.
pub(crate) const MAX_BYTES: usize = 4 << 10;

thread_local! {
    static HEADERS: Cell<Option<(String, Vec<Entry>)>> = const { Cell::new(None) };
    static TEXT: Cell<Option<String>> = const { Cell::new(None) };
}

/// Keeps a dropped header map's buffers, unless large or some are kept.
pub(crate) fn keep_headers(mut data: String, mut entries: Vec<Entry>) {
    if data.capacity() + entries.capacity() * std::mem::size_of::<Entry>() > MAX_BYTES {
        return;
    }
    data.clear();
    entries.clear();
    keep(&HEADERS, (data, entries));
}

/// The buffers kept from a dropped header map, empty, if there are some.
pub(crate) fn take_headers() -> Option<(String, Vec<Entry>)> {
    HEADERS.try_with(Cell::take).ok().flatten()
}

/// Keeps a dropped string, unless large or one is kept.
pub(crate) fn keep_text(mut text: String) {
    if text.capacity() > MAX_BYTES {
        return;
    }
    text.clear();
    keep(&TEXT, text);
}

/// A string kept from a dropped one, empty, if there is one.
pub(crate) fn take_text() -> Option<String> {
    TEXT.try_with(Cell::take).ok().flatten()
}

/// Puts `value` in the empty slot; else (or while the thread ends, its slots
/// gone) drops it.
fn keep<T>(slot: &'static std::thread::LocalKey<Cell<Option<T>>>, value: T) {
    let _ = slot.try_with(|slot| match slot.take() {
        None => slot.set(Some(value)),
        kept => slot.set(kept),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_string_is_kept_emptied_and_not_a_large_one() {
        let mut text = String::with_capacity(100);
        text.push_str("/kept");
        keep_text(text);
        keep_text(String::with_capacity(50)); // one is kept already
        keep_text(String::with_capacity(MAX_BYTES + 1));
        let kept = take_text().expect("kept");
        assert_eq!((kept.as_str(), kept.capacity()), ("", 100));
        assert_eq!(take_text(), None);
        keep_text(String::with_capacity(MAX_BYTES + 1));
        assert_eq!(take_text(), None);
    }
}
