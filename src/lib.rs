//! monocle
