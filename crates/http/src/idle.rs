//! Looking at a kept-alive connection, without waiting, before it carries
//! another request.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_lite::io::AsyncRead;

use crate::io::InBuf;

/// At most this much of the first line of what a server sent on an idle
/// connection is kept, to name it in the log.
const SHOWN_MAX: usize = 60;

/// Why a kept-alive connection cannot carry another request, as
/// [`check_idle`] found.
#[derive(Debug)]
pub(crate) enum Stale {
    /// The server sent bytes that answer no request still to go out:
    /// while the connection was idle (a 408 before closing it, say), or
    /// left in the input buffer after the last response (which the client
    /// never keeps: a connection with bytes after its last response is
    /// closed then). The first line of what came is kept for the log.
    Sent { first_line: String },
    /// The server closed its side.
    Closed,
    /// Reading failed (a reset...).
    Failed(io::Error),
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stale::Sent { first_line } => {
                write!(f, "the server sent \"{first_line}\" while it was idle")
            }
            Stale::Closed => f.write_str("the server closed it while it was idle"),
            Stale::Failed(e) => write!(f, "it failed while idle: {e}"),
        }
    }
}

/// Whether a connection kept alive after its last response can carry
/// another request, found without waiting: not if `inbuf` holds anything,
/// nor if anything has come on `io` since (bytes, which answer no request
/// still to go out, its end, or an error). What is read is dropped: a
/// connection found stale is to be closed.
///
/// # What it sees, and what it costs
///
/// `io` is polled with a waker that does nothing, so nothing waits. It is
/// polled twice: on monocle-network's
/// [`Connection`](monocle_network::Connection), the first poll of a
/// drained socket asks the reactor, and a second poll after that tries the
/// read (`recv`) unless the reactor knows for sure that nothing came.
///
/// - With the epoll reactor (Linux's default), the reactor knows: both
///   polls look at the readiness flag that the loop's last wait for events
///   left and store the no-op waker, with no system call, allocation or
///   clock read. Only when the loop has seen the socket readable is there
///   a `recv`, which finds the connection stale. What arrives after the
///   loop's last wait for events is not seen: a server that closes just as
///   the request goes out is a race no look ahead can win, which the
///   client's retry of idempotent requests covers as before. Counted with
///   strace, 1000 GETs on one loopback connection make one `sendto`, one
///   `recvfrom` and one `epoll_pwait` each, with this look and without it.
/// - With the async-io reactor, which learns readiness only by trying,
///   the second poll makes one `recv` (`EAGAIN` on a sound connection),
///   after registering for readiness (`epoll_ctl`) as the first wait for
///   the response would have done; that first read then tries a `recv`
///   once more before it waits. Counted as above: 2.6 `recvfrom` per
///   request instead of 1; in all, though, 7 system calls per request
///   instead of about 10, as the early tries often find the answer there
///   and spare a wait (on loopback; not to be counted on elsewhere).
/// - Over TLS each poll tries the socket while the reactor says it may be
///   readable, which after a response read whole it does until a read has
///   found nothing: with epoll that one `recv` is one the response's first
///   read then does not make.
///
/// It reads through `AsyncRead` into the client's input buffer: its
/// `AsyncBufRead::poll_fill_buf` would have the connection allocate a read
/// buffer of its own (16 KiB), which the client never otherwise needs. A
/// [`Connection`](monocle_network::Connection) with a read timeout arms
/// its timer when a read finds nothing: the caller unsets it first.
pub(crate) fn check_idle<IO: AsyncRead + Unpin>(
    io: &mut IO,
    inbuf: &mut InBuf,
) -> Result<(), Stale> {
    if !inbuf.is_empty() {
        return Err(Stale::Sent {
            first_line: first_line(inbuf.data()),
        });
    }
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..2 {
        // Read into the buffer's spare room and left uncounted: nothing of
        // it is kept, and the buffer stays empty.
        let spare = inbuf.spare();
        match Pin::new(&mut *io).poll_read(&mut cx, spare) {
            Poll::Pending => {}
            Poll::Ready(Ok(0)) => return Err(Stale::Closed),
            Poll::Ready(Ok(n)) => {
                return Err(Stale::Sent {
                    first_line: first_line(&spare[..n]),
                })
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(e)) => return Err(Stale::Failed(e)),
        }
    }
    Ok(())
}

/// The first line of `bytes`, at most [`SHOWN_MAX`] bytes of it, with
/// anything not printable escaped.
fn first_line(bytes: &[u8]) -> String {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let shown = &line[..line.len().min(SHOWN_MAX)];
    let more = if shown.len() < line.len() { "..." } else { "" };
    format!("{}{more}", shown.escape_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// One poll's answer: bytes (`b""`, the end), an error, or `Pending`.
    type Answer = Poll<io::Result<&'static [u8]>>;

    /// A source that answers its polls from a script, counting them.
    struct Script {
        polls: VecDeque<Answer>,
        polled: usize,
    }

    impl Script {
        fn new(polls: impl IntoIterator<Item = Answer>) -> Script {
            Script {
                polls: polls.into_iter().collect(),
                polled: 0,
            }
        }
    }

    impl AsyncRead for Script {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.polled += 1;
            let next = self.polls.pop_front().expect("polled past the script");
            next.map_ok(|bytes| {
                buf[..bytes.len()].copy_from_slice(bytes);
                bytes.len()
            })
        }
    }

    fn check(script: &mut Script) -> Result<(), Stale> {
        let mut inbuf = InBuf::new();
        let checked = check_idle(script, &mut inbuf);
        assert!(inbuf.is_empty(), "nothing is kept");
        checked
    }

    #[test]
    fn a_quiet_connection_is_sound_after_two_polls() {
        let mut quiet = Script::new([Poll::Pending, Poll::Pending]);
        assert!(check(&mut quiet).is_ok());
        assert_eq!(quiet.polled, 2);
    }

    #[test]
    fn anything_that_came_makes_the_connection_stale() {
        let answer: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";
        let sent = |line: &str| format!("the server sent \"{line}\" while it was idle");
        let cases: Vec<(Vec<Answer>, String)> = vec![
            (
                vec![Poll::Ready(Ok(answer))],
                sent("HTTP/1.1 408 Request Timeout"),
            ),
            (
                vec![Poll::Ready(Ok(b""))],
                "the server closed it while it was idle".to_owned(),
            ),
            (
                vec![Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))],
                "it failed while idle: connection reset".to_owned(),
            ),
            // Seen only by the second poll (a reactor that learns readiness
            // by trying).
            (
                vec![Poll::Pending, Poll::Ready(Ok(b""))],
                "the server closed it while it was idle".to_owned(),
            ),
            (
                vec![
                    Poll::Ready(Err(io::ErrorKind::Interrupted.into())),
                    Poll::Ready(Ok(b"x")),
                ],
                sent("x"),
            ),
            // Long and unprintable lines are cut and escaped.
            (
                vec![Poll::Ready(Ok(&[b'a'; 100]))],
                sent(&format!("{}...", "a".repeat(SHOWN_MAX))),
            ),
            (
                vec![Poll::Ready(Ok(b"\x00\x1b[2J\r\nrest"))],
                sent("\\x00\\x1b[2J"),
            ),
        ];
        for (polls, want) in cases {
            let mut source = Script::new(polls);
            let stale = check(&mut source).expect_err(&want);
            assert_eq!(stale.to_string(), want);
            assert!(source.polls.is_empty(), "{want}: polled past what came");
        }
    }

    /// Bytes in the input buffer came from the server and answer no
    /// request: as bytes that come while the connection is idle, without
    /// looking at the connection.
    #[test]
    fn bytes_left_in_the_input_buffer_make_it_stale_unread() {
        let mut inbuf = InBuf::new();
        let left = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        inbuf.spare()[..left.len()].copy_from_slice(left);
        inbuf.filled(left.len());
        let mut source = Script::new([]);
        let stale = check_idle(&mut source, &mut inbuf).unwrap_err();
        assert_eq!(
            stale.to_string(),
            "the server sent \"HTTP/1.1 200 OK\" while it was idle"
        );
        assert_eq!(source.polled, 0);
    }
}
