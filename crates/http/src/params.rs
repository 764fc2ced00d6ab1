//! [`Params`]: the values a route pattern captured from a path.

/// The named parameters a route captured from the request path, in pattern order.
///
/// `:name` segments and named regex groups are stored under their names; each
/// `*` wildcard is stored under the name `"*"`. Values are percent-decoded.
///
/// # Examples
///
/// ```
/// use monocle_http::Params;
///
/// let mut params = Params::new();
/// params.push("first", "a");
/// params.push("*", "x/y");
/// assert_eq!(params.get("first"), Some("a"));
/// assert_eq!(params.get("*"), Some("x/y"));
/// assert_eq!(params.get("second"), None);
/// assert_eq!(params.iter().count(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Creates an empty set of parameters; allocates nothing.
    pub const fn new() -> Self {
        Params { pairs: Vec::new() }
    }

    /// Appends a parameter.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((name.into(), value.into()));
    }

    /// The value of the first parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameters as `(name, value)`, in pattern order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Params {
            pairs: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}
