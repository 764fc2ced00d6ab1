//! The errors of [`Channel`](super::Channel) operations.

use std::error::Error;
use std::fmt;

/// The error of [`Channel::send`](super::Channel::send): the channel was closed
/// before a receiver took the value. The value is handed back.
///
/// ```
/// use monocle_core::Channel;
/// use futures_lite::future::block_on;
///
/// let ch = Channel::new(1);
/// ch.close();
/// let err = block_on(ch.send("hello")).unwrap_err();
/// assert_eq!(err.to_string(), "sending on a closed channel");
/// assert_eq!(err.into_inner(), "hello");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a closed channel")
    }
}

impl<T> Error for SendError<T> {}

/// The error of [`Channel::recv`](super::Channel::recv): the channel is closed
/// and no value is left in it.
///
/// ```
/// use monocle_core::{Channel, RecvError};
/// use futures_lite::future::block_on;
///
/// let ch = Channel::<u8>::new(0);
/// ch.close();
/// assert_eq!(block_on(ch.recv()), Err(RecvError));
/// assert_eq!(RecvError.to_string(), "receiving on a closed and empty channel");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on a closed and empty channel")
    }
}

impl Error for RecvError {}

/// The error of [`Channel::try_send`](super::Channel::try_send); the value is
/// handed back.
///
/// ```
/// use monocle_core::{Channel, TrySendError};
///
/// let ch = Channel::new(1);
/// ch.try_send(1).unwrap();
/// assert_eq!(ch.try_send(2), Err(TrySendError::Full(2)));
/// ch.close();
/// assert_eq!(ch.try_send(3), Err(TrySendError::Closed(3)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrySendError<T> {
    /// The value would have to wait: the buffer is full (or, for a rendezvous
    /// channel, no receiver is waiting), or other senders are waiting already.
    Full(T),
    /// The channel is closed.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(value) | Self::Closed(value) => value,
        }
    }

    /// Whether the value would have had to wait.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }
}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(err: SendError<T>) -> Self {
        Self::Closed(err.0)
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("sending on a full channel"),
            Self::Closed(_) => f.write_str("sending on a closed channel"),
        }
    }
}

impl<T> Error for TrySendError<T> {}

/// The error of [`Channel::try_recv`](super::Channel::try_recv).
///
/// ```
/// use monocle_core::{Channel, TryRecvError};
///
/// let ch = Channel::<u8>::new(1);
/// assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
/// ch.close();
/// assert_eq!(ch.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryRecvError {
    /// No value is ready now.
    Empty,
    /// The channel is closed and no value is left in it.
    Closed,
}

impl TryRecvError {
    /// Whether no value was ready.
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }

    /// Whether the channel is closed and drained.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed)
    }
}

impl From<RecvError> for TryRecvError {
    fn from(_: RecvError) -> Self {
        Self::Closed
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("receiving on an empty channel"),
            Self::Closed => f.write_str("receiving on a closed and empty channel"),
        }
    }
}

impl Error for TryRecvError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_without_period() {
        let messages = [
            SendError(()).to_string(),
            RecvError.to_string(),
            TrySendError::Full(()).to_string(),
            TrySendError::Closed(()).to_string(),
            TryRecvError::Empty.to_string(),
            TryRecvError::Closed.to_string(),
        ];
        for m in messages {
            assert!(m.chars().next().unwrap().is_lowercase(), "{m}");
            assert!(!m.ends_with('.'), "{m}");
        }
    }

    #[test]
    fn debug_does_not_need_debug_values() {
        struct Opaque;
        assert_eq!(format!("{:?}", SendError(Opaque)), "SendError { .. }");
        assert_eq!(format!("{:?}", TrySendError::Full(Opaque)), "Full(..)");
    }

    #[test]
    fn errors_are_send_sync_static() {
        fn check<E: Error + Send + Sync + 'static>() {}
        check::<SendError<String>>();
        check::<RecvError>();
        check::<TrySendError<String>>();
        check::<TryRecvError>();
    }
}
