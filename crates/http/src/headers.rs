//! [`HttpHeaders`]: an ordered, case-insensitive multimap of header fields.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::hash::BuildHasher;
use std::ops::Index;

use crate::error::{Error, Result};
use crate::spare;

/// An ordered, case-insensitive multimap from header name to value, as in monocle.
///
/// Names compare without regard to ASCII case and keep the spelling they were
/// first given; iteration follows insertion order; a name may appear several
/// times ([`add`](Self::add) keeps duplicates, [`set`](Self::set) replaces them).
///
/// All names and values live in one string buffer, so a request's headers cost two
/// allocations however many there are, and a lookup allocates nothing. The
/// memory of the last map dropped on a thread (up to 4 KiB) is kept for the
/// next map that thread makes, so a server's maps rarely allocate at all.
///
/// Names must be tokens and values must not hold CR, LF, NUL or other control
/// bytes (a tab is fine), so a header can never split a response. The `try_`
/// methods return [`Error::InvalidHeaderName`] / [`Error::InvalidHeaderValue`];
/// the others panic, which in a handler turns into a 500 response.
///
/// # Examples
///
/// monocle's `headers['Content-Length'] = len(content)` becomes:
///
/// ```
/// use monocle_http::HttpHeaders;
///
/// let content = "Hello, World!";
/// let mut headers = HttpHeaders::new();
/// headers.set("Content-Length", content.len());
/// headers.set("Content-Type", "text/plain");
/// headers.add("Set-Cookie", "a=1");
/// headers.add("set-cookie", "b=2");
///
/// assert_eq!(headers.get("content-length"), Some("13"));
/// assert_eq!(headers["CONTENT-TYPE"], *"text/plain");
/// assert_eq!(headers.get_all("Set-Cookie").collect::<Vec<_>>(), ["a=1", "b=2"]);
/// assert_eq!(headers.len(), 4);
/// ```
#[derive(Clone, Default)]
pub struct HttpHeaders {
    /// Every name and value, back to back. Removed fields leave garbage here
    /// until [`compact`](Self::compact) runs.
    data: String,
    /// The fields in order. INVARIANT: each range lies within `data` on char
    /// boundaries, `name_start <= name_end <= value_end`.
    entries: Vec<Entry>,
    /// Bytes of `data` still referenced by `entries`.
    live: usize,
}

impl monocle_stack::Outcome for HttpHeaders {}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    name_start: usize,
    name_end: usize,
    value_end: usize,
}

impl Entry {
    fn name<'a>(&self, data: &'a str) -> &'a str {
        &data[self.name_start..self.name_end]
    }
    /// The name as bytes: no char-boundary checks, for lookups.
    fn name_bytes<'a>(&self, data: &'a str) -> &'a [u8] {
        &data.as_bytes()[self.name_start..self.name_end]
    }
    fn value<'a>(&self, data: &'a str) -> &'a str {
        &data[self.name_end..self.value_end]
    }
    fn size(&self) -> usize {
        self.value_end - self.name_start
    }
}

/// A value that can be stored in [`HttpHeaders`]: strings and integers.
///
/// The value writes itself into the headers' buffer, so `headers.set("Content-Length",
/// 13)` allocates nothing beyond that buffer.
///
/// # Examples
///
/// ```
/// use monocle_http::HttpHeaders;
///
/// let mut h = HttpHeaders::new();
/// h.set("Content-Length", 42u64);
/// h.set("X-Name", String::from("monocle"));
/// assert_eq!(h.get("content-length"), Some("42"));
/// ```
pub trait IntoHeaderValue {
    /// Appends the value's text to `out`.
    fn write_value(self, out: &mut String);

    /// About how many bytes [`write_value`](Self::write_value) appends, so
    /// that a field is stored with one allocation; 0 if unknown.
    fn len_hint(&self) -> usize {
        0
    }
}

impl IntoHeaderValue for &str {
    fn write_value(self, out: &mut String) {
        out.push_str(self);
    }
    fn len_hint(&self) -> usize {
        self.len()
    }
}

impl IntoHeaderValue for String {
    fn write_value(self, out: &mut String) {
        out.push_str(&self);
    }
    fn len_hint(&self) -> usize {
        self.len()
    }
}

impl IntoHeaderValue for &String {
    fn write_value(self, out: &mut String) {
        out.push_str(self);
    }
    fn len_hint(&self) -> usize {
        self.len()
    }
}

impl IntoHeaderValue for std::borrow::Cow<'_, str> {
    fn write_value(self, out: &mut String) {
        out.push_str(&self);
    }
    fn len_hint(&self) -> usize {
        self.len()
    }
}

macro_rules! int_header_value {
    ($($t:ty)*) => {$(
        impl IntoHeaderValue for $t {
            fn len_hint(&self) -> usize {
                20
            }
            fn write_value(self, out: &mut String) {
                // Writing to a String cannot fail.
                let _ = write!(out, "{self}");
            }
        }
    )*};
}
int_header_value!(u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize);

/// Whether `b` may appear in a token (RFC 9110 §5.6.2).
pub(crate) fn is_tchar(b: u8) -> bool {
    BYTE_CLASS[b as usize] & TCHAR != 0
}

/// Whether `s` is a non-empty token, as a header name must be.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && all_of_class(s, TCHAR)
}

/// Whether `s` can be a header value: no control byte but horizontal tab.
pub(crate) fn is_valid_value(s: &str) -> bool {
    all_of_class(s, VALUE)
}

/// Whether every byte of `s` has `class` in [`BYTE_CLASS`]. Without an
/// early exit: names and values are short and nearly always valid, and a
/// loop without a branch per byte costs less.
fn all_of_class(s: &str, class: u8) -> bool {
    s.bytes().fold(class, |all, b| all & BYTE_CLASS[b as usize]) != 0
}

/// A field whose name the request parser or the response writer acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KnownField {
    Host,
    Date,
    Expect,
    Server,
    Connection,
    ContentLength,
    TransferEncoding,
}

impl KnownField {
    /// Which one `name` is, ignoring ASCII case, if any. The length picks the
    /// candidates, so most names cost one comparison at most.
    pub(crate) fn of(name: &[u8]) -> Option<KnownField> {
        let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
        match name.len() {
            4 if is(b"host") => Some(KnownField::Host),
            4 if is(b"date") => Some(KnownField::Date),
            6 if is(b"expect") => Some(KnownField::Expect),
            6 if is(b"server") => Some(KnownField::Server),
            10 if is(b"connection") => Some(KnownField::Connection),
            14 if is(b"content-length") => Some(KnownField::ContentLength),
            17 if is(b"transfer-encoding") => Some(KnownField::TransferEncoding),
            _ => None,
        }
    }
}

/// [`BYTE_CLASS`] bit: a token character (RFC 9110 §5.6.2).
const TCHAR: u8 = 1;
/// [`BYTE_CLASS`] bit: allowed in a header value (not a control byte but tab).
const VALUE: u8 = 2;

/// What each byte may be, looked up rather than matched: names and values
/// are checked byte by byte for every field a handler sets.
static BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let tchar = matches!(c,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
            | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
        let value = c == b'\t' || (c >= 0x20 && c != 0x7f);
        table[b] = if tchar { TCHAR } else { 0 } | if value { VALUE } else { 0 };
        b += 1;
    }
    table
};

/// Whether two header names are equal ignoring ASCII case, eight bytes at a
/// time: every lookup compares names, and a name that matches is compared
/// to its end.
///
/// Folding sets bit 5 of the bytes `A`..=`Z` and of no other byte, so two
/// bytes fold equal exactly when they are equal after ASCII lowercasing: the
/// same answer as `eq_ignore_ascii_case`, for any bytes.
fn bytes_eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a.eq_ignore_ascii_case(b);
    }
    let word = |s: &[u8], at: usize| {
        let bytes: [u8; 8] = s[at..at + 8].try_into().expect("8 bytes");
        fold_case(u64::from_le_bytes(bytes))
    };
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    // The last eight bytes, overlapping the words above when `n` is not a
    // multiple of eight: comparing a byte twice does not change the answer.
    word(a, n - 8) == word(b, n - 8)
}

/// Sets bit 5 (0x20) in each byte of `x` that is an ASCII `A`..=`Z`.
fn fold_case(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = x & !HIGH;
    // Bit 7 of a byte set when its low seven bits are >= 'A', resp. > 'Z';
    // adding to seven bits never carries into the next byte.
    let ge_a = low7 + ONES * (0x80 - b'A' as u64);
    let gt_z = low7 + ONES * (0x80 - b'Z' as u64 - 1);
    let upper = ge_a & !gt_z & !x & HIGH;
    x | (upper >> 2)
}

impl HttpHeaders {
    /// Creates an empty header map; allocates nothing until the first insert.
    pub const fn new() -> Self {
        HttpHeaders {
            data: String::new(),
            entries: Vec::new(),
            live: 0,
        }
    }

    /// Creates an empty map with room for `fields` fields of `bytes` bytes in all.
    pub fn with_capacity(fields: usize, bytes: usize) -> Self {
        HttpHeaders {
            data: String::with_capacity(bytes),
            entries: Vec::with_capacity(fields),
            live: 0,
        }
    }

    /// Makes room for `fields` more fields of `bytes` more bytes in all, as
    /// `Vec::reserve_exact` does.
    pub(crate) fn reserve_exact(&mut self, fields: usize, bytes: usize) {
        self.take_spare();
        self.data.reserve_exact(bytes);
        self.entries.reserve_exact(fields);
    }

    /// The bytes of memory the map holds, used or not.
    pub(crate) fn allocated(&self) -> usize {
        self.data.capacity() + self.entries.capacity() * std::mem::size_of::<Entry>()
    }

    /// Appends a field, keeping any fields of the same name.
    ///
    /// # Panics
    ///
    /// If `name` is not a token or `value` holds a control byte (CR, LF, NUL...);
    /// see [`try_add`](Self::try_add).
    #[track_caller]
    pub fn add(&mut self, name: impl AsRef<str>, value: impl IntoHeaderValue) {
        if let Err(e) = self.try_add(name.as_ref(), value) {
            panic!("HttpHeaders::add({:?}, ..): {e}", name.as_ref());
        }
    }

    /// Appends a field, keeping any fields of the same name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHeaderName`] if `name` is not a token,
    /// [`Error::InvalidHeaderValue`] if `value` holds CR, LF, NUL or another control
    /// byte but tab. The map is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::{Error, HttpHeaders};
    ///
    /// let mut h = HttpHeaders::new();
    /// assert_eq!(h.try_add("Location", "/a\r\nSet-Cookie: x=1"), Err(Error::InvalidHeaderValue));
    /// assert_eq!(h.try_add("Bad Name", "x"), Err(Error::InvalidHeaderName));
    /// assert!(h.is_empty());
    /// ```
    pub fn try_add(&mut self, name: impl AsRef<str>, value: impl IntoHeaderValue) -> Result<()> {
        let name = name.as_ref();
        if !is_token(name) {
            return Err(Error::InvalidHeaderName);
        }
        self.take_spare();
        let start = self.data.len();
        self.data.reserve(name.len() + value.len_hint());
        self.data.push_str(name);
        let name_end = self.data.len();
        value.write_value(&mut self.data);
        if !is_valid_value(&self.data[name_end..]) {
            self.data.truncate(start);
            return Err(Error::InvalidHeaderValue);
        }
        self.push_entry(start, name_end);
        Ok(())
    }

    /// Appends a field that is known to be valid (from the parser).
    pub(crate) fn push_unchecked(&mut self, name: &str, value: &str) {
        debug_assert!(is_token(name), "{name:?}");
        self.take_spare();
        let start = self.data.len();
        self.data.reserve(name.len() + value.len());
        self.data.push_str(name);
        let name_end = self.data.len();
        self.data.push_str(value);
        self.push_entry(start, name_end);
    }

    /// Before a map's first allocation: takes the memory of a map dropped
    /// on this thread, if one was kept (see [`spare`]).
    fn take_spare(&mut self) {
        if self.data.capacity() == 0 && self.entries.capacity() == 0 {
            if let Some((data, entries)) = spare::take_headers() {
                self.data = data;
                self.entries = entries;
            }
        }
    }

    fn push_entry(&mut self, name_start: usize, name_end: usize) {
        let entry = Entry {
            name_start,
            name_end,
            value_end: self.data.len(),
        };
        self.live += entry.size();
        self.entries.push(entry);
    }

    /// Replaces every field named `name` with one field holding `value`.
    ///
    /// The new field takes the place of the first old one, so the order of the
    /// other fields is kept; if there was none it is appended.
    ///
    /// # Panics
    ///
    /// As [`add`](Self::add); see [`try_set`](Self::try_set).
    #[track_caller]
    pub fn set(&mut self, name: impl AsRef<str>, value: impl IntoHeaderValue) {
        if let Err(e) = self.try_set(name.as_ref(), value) {
            panic!("HttpHeaders::set({:?}, ..): {e}", name.as_ref());
        }
    }

    /// Replaces every field named `name` with one field holding `value`.
    ///
    /// # Errors
    ///
    /// As [`try_add`](Self::try_add); the map is unchanged then.
    pub fn try_set(&mut self, name: impl AsRef<str>, value: impl IntoHeaderValue) -> Result<()> {
        let name = name.as_ref();
        let first = self.position(name);
        self.try_add(name, value)?;
        if let Some(first) = first {
            let new = self.entries.pop().expect("just added");
            let old = std::mem::replace(&mut self.entries[first], new);
            self.live -= old.size();
            self.remove_from(name, first + 1);
        }
        Ok(())
    }

    /// The value of the first field named `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name)
            .map(|i| self.entries[i].value(&self.data))
    }

    /// The values of every field named `name`, in order.
    ///
    /// monocle called this `get_list`.
    #[doc(alias = "get_list")]
    pub fn get_all<'a>(&'a self, name: &'a str) -> GetAll<'a> {
        GetAll {
            data: &self.data,
            entries: self.entries.iter(),
            name,
        }
    }

    /// Whether a field named `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// Whether any field named `name` holds `token` in its comma-separated list,
    /// ignoring ASCII case and surrounding whitespace.
    ///
    /// # Examples
    ///
    /// ```
    /// use monocle_http::HttpHeaders;
    ///
    /// let h = HttpHeaders::from([("Connection", "Upgrade, Close")]);
    /// assert!(h.has_token("connection", "close"));
    /// assert!(!h.has_token("connection", "keep-alive"));
    /// ```
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).any(|v| {
            v.split(',')
                .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
        })
    }

    /// Removes every field named `name`; returns whether there was one.
    #[doc(alias = "delete")]
    pub fn remove(&mut self, name: &str) -> bool {
        match self.position(name) {
            Some(first) => {
                self.remove_from(name, first);
                true
            }
            None => false,
        }
    }

    /// Removes the fields named `name` at or after index `from`.
    fn remove_from(&mut self, name: &str, from: usize) {
        let data = &self.data;
        let mut removed = 0;
        let mut i = 0;
        self.entries.retain(|e| {
            let keep = i < from || !e.name(data).eq_ignore_ascii_case(name);
            if !keep {
                removed += e.size();
            }
            i += 1;
            keep
        });
        self.live -= removed;
        if self.data.len() > 2 * self.live + 1024 {
            self.compact();
        }
    }

    /// Drops the bytes of removed fields from the buffer.
    ///
    /// The fields need not be in buffer order ([`try_set`](Self::try_set)
    /// puts a new field in an old one's place), so each is placed afresh.
    fn compact(&mut self) {
        let mut data = String::with_capacity(self.live);
        for e in &mut self.entries {
            let start = data.len();
            let name_len = e.name_end - e.name_start;
            data.push_str(&self.data[e.name_start..e.value_end]);
            e.name_start = start;
            e.name_end = start + name_len;
            e.value_end = data.len();
        }
        self.data = data;
    }

    /// Removes every field, keeping the allocated memory.
    pub fn clear(&mut self) {
        self.data.clear();
        self.entries.clear();
        self.live = 0;
    }

    /// The number of fields, counting each duplicate.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The fields as `(name, value)` in insertion order, names spelled as given.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            data: &self.data,
            entries: self.entries.iter(),
        }
    }

    /// The fields as `(name, value)` byte strings, for the response writer:
    /// slicing bytes needs no char-boundary checks.
    pub(crate) fn iter_bytes(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let data = self.data.as_bytes();
        self.entries.iter().map(|e| {
            (
                &data[e.name_start..e.name_end],
                &data[e.name_end..e.value_end],
            )
        })
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| bytes_eq_ignore_case(e.name_bytes(&self.data), name.as_bytes()))
    }
}

impl Drop for HttpHeaders {
    fn drop(&mut self) {
        if self.data.capacity() != 0 || self.entries.capacity() != 0 {
            spare::keep_headers(
                std::mem::take(&mut self.data),
                std::mem::take(&mut self.entries),
            );
        }
    }
}

/// Iterator over the values of one header name; see [`HttpHeaders::get_all`].
#[derive(Debug, Clone)]
pub struct GetAll<'a> {
    data: &'a str,
    entries: std::slice::Iter<'a, Entry>,
    name: &'a str,
}

impl<'a> Iterator for GetAll<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let (data, name) = (self.data, self.name);
        self.entries
            .find(|e| bytes_eq_ignore_case(e.name_bytes(data), name.as_bytes()))
            .map(|e| e.value(data))
    }
}

/// Iterator over the fields of [`HttpHeaders`] as `(name, value)`.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    data: &'a str,
    entries: std::slice::Iter<'a, Entry>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let data = self.data;
        self.entries.next().map(|e| (e.name(data), e.value(data)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let data = self.data;
        self.entries
            .next_back()
            .map(|e| (e.name(data), e.value(data)))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a HttpHeaders {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl fmt::Debug for HttpHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Equal when both hold the same fields in the same order; names compare
/// without regard to case, values exactly.
impl PartialEq for HttpHeaders {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|((n1, v1), (n2, v2))| n1.eq_ignore_ascii_case(n2) && v1 == v2)
    }
}

impl Eq for HttpHeaders {}

/// `headers["content-type"]` is the first value of that name.
///
/// # Panics
///
/// If there is no field of that name; use [`HttpHeaders::get`] when it may be absent.
impl Index<&str> for HttpHeaders {
    type Output = str;

    #[track_caller]
    fn index(&self, name: &str) -> &str {
        match self.get(name) {
            Some(v) => v,
            None => panic!("no header named {name:?} (use HttpHeaders::get when it may be absent)"),
        }
    }
}

/// Appends each pair as with [`HttpHeaders::add`].
///
/// # Panics
///
/// As [`HttpHeaders::add`], on an invalid name or value.
impl<K: AsRef<str>, V: IntoHeaderValue> Extend<(K, V)> for HttpHeaders {
    #[track_caller]
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.add(k, v);
        }
    }
}

/// Builds headers from pairs, as with [`HttpHeaders::add`].
///
/// # Panics
///
/// As [`HttpHeaders::add`], on an invalid name or value.
impl<K: AsRef<str>, V: IntoHeaderValue> FromIterator<(K, V)> for HttpHeaders {
    #[track_caller]
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut h = HttpHeaders::new();
        h.extend(iter);
        h
    }
}

/// `HttpHeaders::from([("Content-Type", "text/plain")])`.
///
/// # Panics
///
/// As [`HttpHeaders::add`], on an invalid name or value.
impl<K: AsRef<str>, V: IntoHeaderValue, const N: usize> From<[(K, V); N]> for HttpHeaders {
    #[track_caller]
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

/// Builds headers from a map, in the map's iteration order.
///
/// # Panics
///
/// As [`HttpHeaders::add`], on an invalid name or value.
impl<K: AsRef<str>, V: IntoHeaderValue, S: BuildHasher> From<HashMap<K, V, S>> for HttpHeaders {
    #[track_caller]
    fn from(map: HashMap<K, V, S>) -> Self {
        map.into_iter().collect()
    }
}

/// Builds headers from a map, in key order.
///
/// # Panics
///
/// As [`HttpHeaders::add`], on an invalid name or value.
impl<K: AsRef<str>, V: IntoHeaderValue> From<BTreeMap<K, V>> for HttpHeaders {
    #[track_caller]
    fn from(map: BTreeMap<K, V>) -> Self {
        map.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `headers` fuzz target: `set` puts the new field where
    /// the old one was in order but at the end of the buffer, so the
    /// fields are no longer in buffer order, and compacting (after enough
    /// bytes were dropped) subtracted past zero: a panic where overflow is
    /// checked (debug builds), and right only by wrapping elsewhere.
    #[test]
    fn compacting_after_set_keeps_every_field() {
        let mut h = HttpHeaders::new();
        h.add("A", "1");
        h.add("B", "2");
        // A is first in order but last in the buffer.
        h.set("A", "x".repeat(2000));
        // Drops 2,000 bytes: the buffer is compacted.
        h.set("A", "long enough");
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("A", "long enough"), ("B", "2")]
        );
        assert!(h.data.len() < 100, "compacted: {}", h.data.len());
        h.add("C", "3");
        assert_eq!(h.get("b"), Some("2"));
        assert_eq!(h.get("c"), Some("3"));
    }

    #[test]
    fn case_insensitive_get_keeps_spelling() {
        let mut h = HttpHeaders::new();
        h.add("Content-Type", "text/html");
        assert_eq!(h.get("content-type"), Some("text/html"));
        assert_eq!(h.get("CONTENT-TYPE"), Some("text/html"));
        assert_eq!(h.get("Content-Length"), None);
        assert_eq!(h.iter().next(), Some(("Content-Type", "text/html")));
        assert!(h.contains("content-TYPE"));
    }

    #[test]
    fn add_keeps_duplicates_set_replaces_in_place() {
        let mut h = HttpHeaders::from([("A", "1"), ("B", "2"), ("a", "3"), ("C", "4")]);
        assert_eq!(h.get_all("a").collect::<Vec<_>>(), ["1", "3"]);
        assert_eq!(h.get("A"), Some("1"));
        h.set("A", "9");
        let all: Vec<_> = h.iter().collect();
        assert_eq!(all, [("A", "9"), ("B", "2"), ("C", "4")]);
        h.set("D", 5);
        assert_eq!(h.get("d"), Some("5"));
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn remove_all_of_a_name() {
        let mut h = HttpHeaders::from([("X", "1"), ("Y", "2"), ("x", "3")]);
        assert!(h.remove("X"));
        assert!(!h.remove("X"));
        assert_eq!(h.iter().collect::<Vec<_>>(), [("Y", "2")]);
        assert_eq!(h.len(), 1);
        h.clear();
        assert!(h.is_empty());
    }

    #[test]
    fn numbers_and_strings_as_values() {
        let mut h = HttpHeaders::new();
        h.set("Content-Length", 13usize);
        h.set("I", -3i32);
        h.set("S", String::from("s"));
        let r = String::from("r");
        h.set("R", &r);
        assert_eq!(h["content-length"], *"13");
        assert_eq!(h["i"], *"-3");
        assert_eq!(h["s"], *"s");
        assert_eq!(h["r"], *r);
    }

    #[test]
    #[should_panic(expected = "no header named \"missing\"")]
    fn index_panics_when_absent() {
        let h = HttpHeaders::new();
        let _ = &h["missing"];
    }

    #[test]
    fn rejects_splitting_values_and_bad_names() {
        let table: &[(&str, &str, Option<Error>)] = &[
            ("Ok", "fine\tvalue", None),
            ("Ok", "caf\u{e9}", None),
            ("X", "a\r\nInjected: 1", Some(Error::InvalidHeaderValue)),
            ("X", "a\nb", Some(Error::InvalidHeaderValue)),
            ("X", "a\rb", Some(Error::InvalidHeaderValue)),
            ("X", "a\0b", Some(Error::InvalidHeaderValue)),
            ("X", "a\x7fb", Some(Error::InvalidHeaderValue)),
            ("", "v", Some(Error::InvalidHeaderName)),
            ("Bad Name", "v", Some(Error::InvalidHeaderName)),
            ("Bad:Name", "v", Some(Error::InvalidHeaderName)),
            ("X\r\n", "v", Some(Error::InvalidHeaderName)),
        ];
        for (name, value, want) in table {
            let mut h = HttpHeaders::from([("Keep", "me")]);
            let got = h.try_add(name, *value).err();
            assert_eq!(&got, want, "{name:?}: {value:?}");
            let got = h.try_set(name, *value).err();
            assert_eq!(&got, want, "{name:?}: {value:?}");
            if want.is_some() {
                assert_eq!(h.iter().collect::<Vec<_>>(), [("Keep", "me")]);
            }
        }
    }

    #[test]
    #[should_panic(expected = "header value holds CR")]
    fn add_panics_on_crlf() {
        HttpHeaders::new().add("X", "a\r\nb");
    }

    #[test]
    fn word_compare_is_eq_ignore_ascii_case() {
        // Every pair of bytes, at the ends and in the middle, for names
        // shorter than a word, of whole words, and with a partial last word.
        for name in [
            "age",
            "if-match",
            "content-type",
            "content-encoding",
            "www-authenticate",
        ] {
            let upper = name.to_ascii_uppercase();
            let n = name.len();
            for at in [0, n / 2, n - 1] {
                for x in 0..=255u8 {
                    for y in 0..=255u8 {
                        let mut a = name.as_bytes().to_vec();
                        let mut b = upper.as_bytes().to_vec();
                        a[at] = x;
                        b[at] = y;
                        assert_eq!(
                            bytes_eq_ignore_case(&a, &b),
                            a.eq_ignore_ascii_case(&b),
                            "{name}: {x:#04x} {y:#04x} at {at}"
                        );
                    }
                }
            }
        }
        let eq = |a: &str, b: &str| bytes_eq_ignore_case(a.as_bytes(), b.as_bytes());
        assert!(eq("Transfer-Encoding", "transfer-encoding"));
        assert!(!eq("Transfer-Encoding", "transfer-encodinG2"));
        assert!(!eq("a^b", "a~b"));
    }

    #[test]
    fn known_fields() {
        use KnownField::*;
        let table = [
            ("Host", Some(Host)),
            ("DATE", Some(Date)),
            ("expect", Some(Expect)),
            ("Server", Some(Server)),
            ("connection", Some(Connection)),
            ("Content-Length", Some(ContentLength)),
            ("transfer-encoding", Some(TransferEncoding)),
            ("Hos", None),
            ("Hosts", None),
            ("Content-Type", None),
            ("Transfer-Encodinq", None),
        ];
        for (name, field) in table {
            assert_eq!(KnownField::of(name.as_bytes()), field, "{name}");
        }
    }

    #[test]
    fn byte_classes() {
        for b in 0..=255u8 {
            let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), tchar, "{b:#04x}");
        }
        for b in 0..=127u8 {
            let value = b == b'\t' || (b >= 0x20 && b != 0x7f);
            let s = [b];
            let s = std::str::from_utf8(&s).unwrap();
            assert_eq!(is_valid_value(s), value, "{b:#04x}");
        }
        assert!(is_valid_value("caf\u{e9} \u{1f600}"));
        // A bad byte anywhere in a longer string, as the first or the last.
        let (names, values) = ("Content-Type-Extra", "text/plain; q=1\t");
        assert!(is_token(names) && is_valid_value(values) && is_valid_value(""));
        assert!(!is_token(""));
        for at in 0..names.len() {
            let mut name = names.to_owned();
            name.replace_range(at..=at, " ");
            assert!(!is_token(&name), "{name:?}");
        }
        for at in 0..values.len() {
            let mut value = values.to_owned();
            value.replace_range(at..=at, "\n");
            assert!(!is_valid_value(&value), "{value:?}");
        }
    }

    #[test]
    fn a_dropped_map_s_memory_serves_the_next_one_made() {
        let mut first = HttpHeaders::new();
        first.add("X-Long", "v".repeat(100));
        let allocated = first.allocated();
        drop(first);
        let mut next = HttpHeaders::new();
        next.add("A", "b");
        assert_eq!(next.allocated(), allocated);
        assert_eq!(next.iter().collect::<Vec<_>>(), [("A", "b")]);
        // Only one map's memory is kept, and not a large one's.
        let mut large = HttpHeaders::new();
        large.add("X-Large", "v".repeat(spare::MAX_BYTES));
        drop(large);
        drop(next);
        let mut after = HttpHeaders::new();
        after.add("C", "d");
        assert_eq!(after.allocated(), allocated);
        let mut fresh = HttpHeaders::new();
        fresh.add("E", "f");
        assert!(fresh.allocated() < allocated);
        assert_eq!(after, HttpHeaders::from([("C", "d")]));
    }

    #[test]
    fn has_token_lists() {
        let h = HttpHeaders::from([
            ("Connection", "keep-alive"),
            ("connection", " Upgrade ,close"),
        ]);
        assert!(h.has_token("Connection", "CLOSE"));
        assert!(h.has_token("Connection", "upgrade"));
        assert!(!h.has_token("Connection", "clos"));
    }

    #[test]
    fn from_maps() {
        let mut m = HashMap::new();
        m.insert("A", "1");
        let h = HttpHeaders::from(m);
        assert_eq!(h.get("a"), Some("1"));
        let mut b = BTreeMap::new();
        b.insert("B".to_string(), 2u32);
        b.insert("A".to_string(), 1u32);
        let h = HttpHeaders::from(b);
        assert_eq!(h.iter().collect::<Vec<_>>(), [("A", "1"), ("B", "2")]);
    }

    #[test]
    fn equality_ignores_name_case() {
        let a = HttpHeaders::from([("A", "1")]);
        let b = HttpHeaders::from([("a", "1")]);
        let c = HttpHeaders::from([("a", "2")]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(format!("{a:?}"), r#"{"A": "1"}"#);
    }

    #[test]
    fn compaction_keeps_content() {
        let mut h = HttpHeaders::new();
        for i in 0..2000 {
            h.set("Counter", i);
            h.add("Other", i);
            if i % 3 == 0 {
                h.remove("Other");
            }
        }
        assert_eq!(h.get("counter"), Some("1999"));
        assert!(h.data.len() < 4096, "buffer kept growing: {}", h.data.len());
        assert_eq!(h.get_all("other").collect::<Vec<_>>(), ["1999"]);
    }

    mod model {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Add(String, String),
            Set(String, String),
            Remove(String),
        }

        fn name() -> impl Strategy<Value = String> {
            prop::sample::select(vec![
                "a",
                "A",
                "b",
                "B",
                "Content-Length",
                "content-length",
                "x-y",
            ])
            .prop_map(str::to_string)
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (name(), "[ -~]{0,8}").prop_map(|(n, v)| Op::Add(n, v)),
                (name(), "[ -~]{0,8}").prop_map(|(n, v)| Op::Set(n, v)),
                name().prop_map(Op::Remove),
            ]
        }

        proptest! {
            /// HttpHeaders behaves like a plain list of pairs searched without case.
            #[test]
            fn matches_a_list_model(ops in prop::collection::vec(op(), 0..60)) {
                let mut h = HttpHeaders::new();
                let mut model: Vec<(String, String)> = Vec::new();
                for op in ops {
                    match op {
                        Op::Add(n, v) => {
                            h.add(&n, v.as_str());
                            model.push((n, v));
                        }
                        Op::Set(n, v) => {
                            h.set(&n, v.as_str());
                            match model.iter().position(|(m, _)| m.eq_ignore_ascii_case(&n)) {
                                Some(i) => {
                                    model[i] = (n.clone(), v);
                                    let mut j = 0;
                                    model.retain(|(m, _)| {
                                        j += 1;
                                        j <= i + 1 || !m.eq_ignore_ascii_case(&n)
                                    });
                                }
                                None => model.push((n, v)),
                            }
                        }
                        Op::Remove(n) => {
                            let had = model.iter().any(|(m, _)| m.eq_ignore_ascii_case(&n));
                            prop_assert_eq!(h.remove(&n), had);
                            model.retain(|(m, _)| !m.eq_ignore_ascii_case(&n));
                        }
                    }
                    let got: Vec<(&str, &str)> = h.iter().collect();
                    let want: Vec<(&str, &str)> =
                        model.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                    prop_assert_eq!(got, want);
                    for n in ["a", "B", "CONTENT-LENGTH", "x-Y", "zz"] {
                        let want: Vec<&str> = model
                            .iter()
                            .filter(|(m, _)| m.eq_ignore_ascii_case(n))
                            .map(|(_, v)| v.as_str())
                            .collect();
                        prop_assert_eq!(h.get_all(n).collect::<Vec<_>>(), want.clone());
                        prop_assert_eq!(h.get(n), want.first().copied());
                    }
                }
            }
        }
    }
}
