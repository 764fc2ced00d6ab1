//! [`ConnectionLost`], [`Reason`] and the crate's [`Error`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Why a connection was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// A connect, read or write ran past the connection's timeout (given here).
    TimedOut(Duration),
    /// The peer reset the connection (`ECONNRESET`, `EPIPE`, `ECONNABORTED`).
    /// Also the end of the stream that a read meets after a write failed
    /// because the peer reset the connection: the reset dropped what the
    /// peer had not sent yet, so that end is no close.
    Reset,
    /// The peer closed its side while we were reading (end of stream).
    ClosedByPeer,
    /// The connection was closed on our side before (by `close`, a timeout, or an
    /// earlier failed read). A write after a failed write gets that write's
    /// error again instead. A read on a closed connection still returns the
    /// bytes buffered before, and past them gets [`ClosedByPeer`](Self::ClosedByPeer)
    /// if the peer's end of stream had been read.
    Closed,
    /// [`read_until`](crate::Connection::read_until) or
    /// [`readline`](crate::Connection::readline) got this many bytes (the
    /// connection's [`max_buffer`](crate::Connection::max_buffer)) without the
    /// delimiter. Its `std::io::ErrorKind` is `InvalidData`.
    TooLong(usize),
    /// Any other socket error, by its kind; the error itself is the `source()`.
    Io(io::ErrorKind),
}

impl Reason {
    fn io_kind(self) -> io::ErrorKind {
        match self {
            Reason::TimedOut(_) => io::ErrorKind::TimedOut,
            Reason::Reset => io::ErrorKind::ConnectionReset,
            Reason::ClosedByPeer => io::ErrorKind::UnexpectedEof,
            Reason::Closed => io::ErrorKind::NotConnected,
            Reason::TooLong(_) => io::ErrorKind::InvalidData,
            Reason::Io(kind) => kind,
        }
    }
}

/// The error of a connection that went away: the peer left, reset it, or a timeout
/// fired. Once a read returns it, or a timeout, the connection is closed; once a
/// write returns it, the connection's sending side is dead but what the peer
/// sent before can still be read (see [`Connection`](crate::Connection)).
///
/// Its display names the peer and the reason; the alternate display (`{:#}`)
/// adds the causes, `connection to 127.0.0.1:80 was reset by the peer:
/// Connection reset by peer (os error 104)`, as do the log lines of an
/// o-routine that returns it.
///
/// Match on [`reason`](ConnectionLost::reason):
///
/// ```
/// use std::time::Duration;
/// use monocle_network::{add_service, connect, Reason, Service};
///
/// monocle_stack::block_on(async {
///     // A service that accepts and never answers.
///     let svc = add_service(Service::new(
///         |conn| async move {
///             monocle_stack::util::sleep(Duration::from_secs(60)).await;
///             drop(conn);
///         },
///         0,
///     ).bind_addr([127, 0, 0, 1]))?;
///     let mut conn = connect("127.0.0.1", svc.port()).await?;
///     conn.set_timeout(Some(Duration::from_millis(20)));
///     let lost = conn.read_some().await.unwrap_err();
///     assert!(matches!(lost.reason(), Reason::TimedOut(_)));
///     assert!(lost.to_string().ends_with("timed out after 20 ms"));
///     assert!(conn.is_closed());
///     svc.stop();
///     Ok::<_, monocle_network::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct ConnectionLost {
    reason: Reason,
    peer: String,
    source: Option<io::Error>,
}

impl ConnectionLost {
    /// A lost connection to `peer` (an address or `host:port`) for `reason`.
    pub fn new(reason: Reason, peer: impl fmt::Display) -> ConnectionLost {
        ConnectionLost {
            reason,
            peer: peer.to_string(),
            source: None,
        }
    }

    pub(crate) fn from_io(e: io::Error, peer: &SocketAddr) -> ConnectionLost {
        let e = match e.get_ref().and_then(|r| r.downcast_ref::<ConnectionLost>()) {
            Some(_) => {
                return *e
                    .into_inner()
                    .expect("checked above")
                    .downcast::<ConnectionLost>()
                    .expect("checked above")
            }
            None => e,
        };
        let reason = match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted => Reason::Reset,
            io::ErrorKind::UnexpectedEof => Reason::ClosedByPeer,
            io::ErrorKind::TimedOut => Reason::Io(io::ErrorKind::TimedOut),
            kind => Reason::Io(kind),
        };
        ConnectionLost {
            reason,
            peer: peer.to_string(),
            source: Some(e),
        }
    }

    /// This error again, its source copied by [`copy_error`].
    fn copy(&self) -> ConnectionLost {
        ConnectionLost {
            reason: self.reason,
            peer: self.peer.clone(),
            source: self.source.as_ref().map(copy_error),
        }
    }

    /// Why the connection was lost.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The peer, as an address or as the `host:port` that was being connected to.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Whether a timeout fired.
    pub fn is_timeout(&self) -> bool {
        matches!(self.reason, Reason::TimedOut(_))
    }

    /// The `std::io::ErrorKind` this error has once converted into an `io::Error`.
    pub fn kind(&self) -> io::ErrorKind {
        self.reason.io_kind()
    }
}

impl fmt::Display for ConnectionLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peer = &self.peer;
        match self.reason {
            Reason::TimedOut(after) => {
                write!(f, "connection to {peer} timed out after {}", human(after))
            }
            Reason::Reset => write!(f, "connection to {peer} was reset by the peer"),
            Reason::ClosedByPeer => write!(f, "connection to {peer} was closed by the peer"),
            Reason::Closed => write!(f, "connection to {peer} is closed"),
            Reason::TooLong(max) => write!(
                f,
                "connection to {peer}: line exceeded {max} bytes without its delimiter"
            ),
            Reason::Io(kind) => match &self.source {
                Some(e) => write!(f, "connection to {peer} failed: {e}"),
                None => write!(f, "connection to {peer} failed: {kind}"),
            },
        }?;
        if f.alternate() {
            let next = match self.reason {
                // The message holds the socket error: its causes follow.
                Reason::Io(_) => self.source.as_ref().and_then(|e| e.get_ref()?.source()),
                _ => std::error::Error::source(self),
            };
            write_causes(f, next)?;
        }
        Ok(())
    }
}

/// Writes `: cause` for each error of the chain that starts at `next`: the
/// alternate display (`{:#}`) of this crate's errors, which is how monocle's
/// log lines and anyhow-style reports show a chain.
fn write_causes(
    f: &mut fmt::Formatter<'_>,
    mut next: Option<&(dyn std::error::Error + 'static)>,
) -> fmt::Result {
    while let Some(cause) = next {
        write!(f, ": {cause}")?;
        next = cause.source();
    }
    Ok(())
}

impl std::error::Error for ConnectionLost {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.reason {
            // The message already is the source's.
            Reason::Io(_) => None,
            _ => self
                .source
                .as_ref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
        }
    }
}

impl From<ConnectionLost> for io::Error {
    /// Wraps the error, with the matching kind (`TimedOut`, `ConnectionReset`,
    /// `UnexpectedEof`, `NotConnected`, `InvalidData`, or the kind of the socket
    /// error); [`ConnectionLost::try_from`] takes it out again.
    fn from(e: ConnectionLost) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

impl TryFrom<io::Error> for ConnectionLost {
    type Error = io::Error;

    /// Takes a `ConnectionLost` back out of an `io::Error` made from one; any other
    /// error is given back unchanged.
    fn try_from(e: io::Error) -> Result<ConnectionLost, io::Error> {
        if e.get_ref().is_some_and(|r| r.is::<ConnectionLost>()) {
            let inner = e.into_inner().expect("checked above");
            return Ok(*inner.downcast::<ConnectionLost>().expect("checked above"));
        }
        Err(e)
    }
}

/// The error of this crate's operations that are not reads or writes on an open
/// connection: connecting, resolving names, binding services.
///
/// Converts into `std::io::Error` and back without wrapping twice, so `?` works in
/// functions returning `io::Result`. The alternate display (`{:#}`) adds the
/// chain of causes to the message.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The connection timed out or went away (for instance during the TLS
    /// handshake).
    ConnectionLost(ConnectionLost),
    /// Connecting failed (refused, unreachable, ...) at every address the host
    /// resolved to. The message names each attempt: `cannot connect to
    /// localhost:1 (tried [::1]:1: ...; 127.0.0.1:1: ...)`, or `cannot connect to
    /// 127.0.0.1:1: ...` for an IP address.
    Connect {
        /// What was connected to: `host:port` as given, or the socket address
        /// when the host was an IP address.
        target: String,
        /// The address that was tried last.
        addr: SocketAddr,
        /// Why it failed.
        source: io::Error,
        /// The addresses tried before `addr`, in order, each with its error;
        /// empty when the host had one address.
        earlier: Vec<(SocketAddr, io::Error)>,
    },
    /// The host name could not be resolved.
    Resolve {
        /// The name.
        host: String,
        /// Why it failed.
        source: io::Error,
    },
    /// Any other I/O error (binding a service, creating a socket).
    Io(io::Error),
}

/// The result type of this crate's fallible operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The `ConnectionLost` inside, if that is what this is.
    pub fn as_connection_lost(&self) -> Option<&ConnectionLost> {
        match self {
            Error::ConnectionLost(lost) => Some(lost),
            _ => None,
        }
    }

    /// The `std::io::ErrorKind` of the error.
    ///
    /// A name that did not resolve is `NotFound` unless the system call itself
    /// failed (then the OS error's kind): the resolver's own failures have a
    /// kind that stable Rust cannot match on.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::ConnectionLost(lost) => lost.kind(),
            Error::Connect { source, .. } => source.kind(),
            Error::Resolve { source, .. } if source.raw_os_error().is_some() => source.kind(),
            Error::Resolve { .. } => io::ErrorKind::NotFound,
            Error::Io(e) => e.kind(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ConnectionLost(lost) => lost.fmt(f),
            Error::Connect {
                target,
                addr,
                source,
                earlier,
            } => {
                if earlier.is_empty() && *target == addr.to_string() {
                    write!(f, "cannot connect to {addr}: {source}")?;
                } else {
                    write!(f, "cannot connect to {target} (tried ")?;
                    for (addr, e) in earlier {
                        write!(f, "{addr}: {e}; ")?;
                    }
                    write!(f, "{addr}: {source})")?;
                }
                if f.alternate() {
                    write_causes(f, source.get_ref().and_then(|e| e.source()))?;
                }
                Ok(())
            }
            Error::Resolve { host, source } => {
                write!(f, "cannot resolve {host:?}: {source}")?;
                if f.alternate() {
                    write_causes(f, source.get_ref().and_then(|e| e.source()))?;
                }
                Ok(())
            }
            Error::Io(e) => {
                // Plain, so that an error inside that prints its own chain
                // under `{:#}` does not print it twice.
                write!(f, "{e}")?;
                if f.alternate() {
                    write_causes(f, std::error::Error::source(e))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::ConnectionLost(lost) => lost.source(),
            // Their messages already end with the source's (it stays reachable
            // as the `source` field): a report walking the chain would say it twice.
            Error::Connect { .. } | Error::Resolve { .. } => None,
            Error::Io(e) => e.source(),
        }
    }
}

impl From<ConnectionLost> for Error {
    fn from(e: ConnectionLost) -> Error {
        Error::ConnectionLost(e)
    }
}

impl From<io::Error> for Error {
    /// Unwraps an `io::Error` made from an [`Error`] or a [`ConnectionLost`];
    /// wraps any other.
    fn from(e: io::Error) -> Error {
        let e = match ConnectionLost::try_from(e) {
            Ok(lost) => return Error::ConnectionLost(lost),
            Err(e) => e,
        };
        if e.get_ref().is_some_and(|r| r.is::<Error>()) {
            let inner = e.into_inner().expect("checked above");
            return *inner.downcast::<Error>().expect("checked above");
        }
        Error::Io(e)
    }
}

impl From<Error> for io::Error {
    /// `Io` gives its error back; `ConnectionLost` converts as it does alone; the
    /// others are wrapped with their source's kind.
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(e) => e,
            Error::ConnectionLost(lost) => lost.into(),
            other => io::Error::new(other.kind(), other),
        }
    }
}

/// Whether `e` says the peer reset the connection (`ConnectionReset`, or
/// `ConnectionAborted` on some systems) rather than closing it in order: after
/// a reset, what was read before may have been cut short (the reset dropped
/// whatever the peer had not sent yet), where after a close (`Ok(0)`,
/// `UnexpectedEof`) it is whole. A raw broken pipe (`BrokenPipe`, the error
/// of a socket write after the peer's stream ended) is not a reset here.
///
/// A [`ConnectionLost`] with [`Reason::Reset`] converts into an `io::Error`
/// this says yes to; so does the end of the stream that a read meets after a
/// write failed with a reset (see [`Connection`](crate::Connection)). A
/// [`Connection`](crate::Connection) reports a broken pipe as
/// [`Reason::Reset`] too, so its write errors that were a raw `BrokenPipe`
/// count as resets here.
///
/// ```
/// use std::io;
/// use monocle_network::{is_reset, ConnectionLost, Reason};
///
/// assert!(is_reset(&io::ErrorKind::ConnectionReset.into()));
/// assert!(!is_reset(&io::ErrorKind::UnexpectedEof.into()));
/// assert!(!is_reset(&io::ErrorKind::BrokenPipe.into()));
/// let lost = ConnectionLost::new(Reason::Reset, "127.0.0.1:8088");
/// assert!(is_reset(&io::Error::from(lost)));
/// ```
pub fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}

pub(crate) use monocle_stack::diagnostics::format_duration as human;

/// `e` again, for an error kept to be given more than once (`io::Error` is
/// not `Clone`), losing as little as it can: an OS error from its code, so
/// that [`raw_os_error`](io::Error::raw_os_error) and the message are the
/// same; a [`ConnectionLost`] as a `ConnectionLost` (same reason, peer and
/// message, its source copied so), so that [`ConnectionLost::try_from`]
/// still takes it out; any other error by its kind and message.
///
/// # Examples
///
/// ```
/// use std::io;
/// use monocle_network::{copy_error, ConnectionLost, Reason};
///
/// // An error from the OS, with its code.
/// let os = std::fs::File::open("/no/such/dir/file").unwrap_err();
/// assert!(os.raw_os_error().is_some());
/// let lost = io::Error::from(ConnectionLost::new(Reason::Reset, "127.0.0.1:8088"));
/// let other = io::Error::other("the backend went away");
/// for e in [os, lost, other] {
///     let copy = copy_error(&e);
///     assert_eq!((copy.kind(), copy.to_string()), (e.kind(), e.to_string()));
///     assert_eq!(copy.raw_os_error(), e.raw_os_error());
/// }
/// let lost = io::Error::from(ConnectionLost::new(Reason::Reset, "127.0.0.1:8088"));
/// let copy = ConnectionLost::try_from(copy_error(&lost)).unwrap();
/// assert_eq!((copy.reason(), copy.peer()), (Reason::Reset, "127.0.0.1:8088"));
/// ```
pub fn copy_error(e: &io::Error) -> io::Error {
    if let Some(code) = e.raw_os_error() {
        return io::Error::from_raw_os_error(code);
    }
    match e.get_ref().and_then(|r| r.downcast_ref::<ConnectionLost>()) {
        Some(lost) => lost.copy().into(),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_display_adds_the_causes() {
        #[derive(Debug)]
        struct Root;
        impl fmt::Display for Root {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("root")
            }
        }
        impl std::error::Error for Root {}
        let peer: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let reset = || io::Error::new(io::ErrorKind::ConnectionReset, Root);
        let lost = ConnectionLost::from_io(reset(), &peer);
        assert_eq!(
            lost.to_string(),
            "connection to 127.0.0.1:80 was reset by the peer"
        );
        assert_eq!(
            format!("{lost:#}"),
            "connection to 127.0.0.1:80 was reset by the peer: root"
        );
        let err = Error::from(lost);
        assert_eq!(
            format!("{err:#}"),
            "connection to 127.0.0.1:80 was reset by the peer: root"
        );
        // What an o-routine's failure log line says when it returns the error.
        assert_eq!(
            monocle_stack::Outcome::failure(&Err::<(), _>(err)).as_deref(),
            Some("connection to 127.0.0.1:80 was reset by the peer: root")
        );
        // A socket error's text is the message already: no cause repeats it.
        let failed = ConnectionLost::from_io(io::Error::other(Root), &peer);
        assert_eq!(
            format!("{failed:#}"),
            "connection to 127.0.0.1:80 failed: root"
        );
        // An `Io` error shows what its io::Error wraps, and that one's causes.
        #[derive(Debug)]
        struct Outer(Root);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("outer")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let io = Error::Io(io::Error::new(io::ErrorKind::AddrInUse, Outer(Root)));
        assert_eq!(io.to_string(), "outer");
        assert_eq!(format!("{io:#}"), "outer: root");
        // So do the socket errors inside a failed connection, a failed
        // connect and a failed lookup.
        let failed = ConnectionLost::from_io(io::Error::other(Outer(Root)), &peer);
        assert_eq!(
            failed.to_string(),
            "connection to 127.0.0.1:80 failed: outer"
        );
        assert_eq!(
            format!("{failed:#}"),
            "connection to 127.0.0.1:80 failed: outer: root"
        );
        let resolve = Error::Resolve {
            host: "x".into(),
            source: io::Error::other(Outer(Root)),
        };
        assert_eq!(format!("{resolve:#}"), "cannot resolve \"x\": outer: root");
        let connect = Error::Connect {
            target: "127.0.0.1:1".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            source: io::Error::other(Outer(Root)),
            earlier: Vec::new(),
        };
        assert_eq!(connect.to_string(), "cannot connect to 127.0.0.1:1: outer");
        assert_eq!(
            format!("{connect:#}"),
            "cannot connect to 127.0.0.1:1: outer: root"
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human(Duration::from_secs(2)), "2 s");
        assert_eq!(human(Duration::from_millis(20)), "20 ms");
    }

    #[test]
    fn connect_error_names_every_attempt() {
        let refused = || io::Error::from(io::ErrorKind::ConnectionRefused);
        let err = Error::Connect {
            target: "localhost:1".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            source: refused(),
            earlier: vec![("[::1]:1".parse().unwrap(), refused())],
        };
        assert_eq!(
            err.to_string(),
            "cannot connect to localhost:1 (tried [::1]:1: connection refused; \
             127.0.0.1:1: connection refused)"
        );
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let one = Error::Connect {
            target: "127.0.0.1:1".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            source: refused(),
            earlier: Vec::new(),
        };
        assert_eq!(
            one.to_string(),
            "cannot connect to 127.0.0.1:1: connection refused"
        );
    }

    #[test]
    fn connect_and_resolve_errors_say_their_cause_once() {
        use std::error::Error as _;
        let refused = Error::Connect {
            target: "127.0.0.1:1".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            source: io::Error::from(io::ErrorKind::ConnectionRefused),
            earlier: Vec::new(),
        };
        assert!(refused.source().is_none());
        // The resolver's failures carry an unmatchable kind: reported as NotFound.
        let unresolved = Error::Resolve {
            host: "nowhere.invalid".into(),
            source: io::Error::other("Name or service not known"),
        };
        assert!(unresolved.source().is_none());
        assert_eq!(unresolved.kind(), io::ErrorKind::NotFound);
        let io: io::Error = unresolved.into();
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
        assert!(io.to_string().contains("nowhere.invalid"), "{io}");
        let system = Error::Resolve {
            host: "x".into(),
            source: io::Error::from_raw_os_error(24),
        };
        assert_eq!(system.kind(), io::Error::from_raw_os_error(24).kind());
    }

    #[test]
    fn round_trips_through_io_error() {
        let lost = ConnectionLost::new(
            Reason::TimedOut(Duration::from_millis(1500)),
            "127.0.0.1:8088",
        );
        assert_eq!(
            lost.to_string(),
            "connection to 127.0.0.1:8088 timed out after 1.5 s"
        );
        let io: io::Error = lost.into();
        assert_eq!(io.kind(), io::ErrorKind::TimedOut);
        let back = Error::from(io);
        let Error::ConnectionLost(lost) = back else {
            panic!("wrapped twice")
        };
        assert_eq!(lost.reason(), Reason::TimedOut(Duration::from_millis(1500)));
        let io: io::Error = Error::ConnectionLost(lost).into();
        assert!(ConnectionLost::try_from(io).is_ok());
        let plain = io::Error::other("x");
        assert!(ConnectionLost::try_from(plain).is_err());
    }
}
