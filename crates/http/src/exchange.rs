//! One request/response exchange of the client, over any
//! `AsyncRead + AsyncWrite` byte stream.

use std::io;
use std::time::Instant;

use std::pin::Pin;

use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{Stream, StreamExt};

use crate::chunked::{chunk_header, ChunkedDecoder, CHUNK_END, LAST_CHUNK};
use crate::io::{fill, is_disconnect, with_deadline, write_all_vectored, Deadline, InBuf, ReadEnd};
use crate::limits::Limits;
use crate::parse::{parse_response_head, BodyFraming};
use crate::request::HttpRequest;
use crate::response::HttpResponse;
use crate::write::{write_request_head, write_request_head_chunked, TargetForm};

/// A body at most this long is copied after the head; a longer one goes out
/// from where it is, in the same vectored write.
const COPY_BODY_MAX: usize = 16 << 10;

/// How an exchange failed.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// The connection closed (or reset) before any byte of the response came:
    /// on a reused connection the server had probably closed it while idle, so
    /// the request may be retried on a new one.
    ClosedBeforeResponse(io::Error),
    /// The deadline passed.
    TimedOut,
    /// Anything else.
    Other(io::Error),
}

impl From<io::Error> for ExchangeError {
    fn from(e: io::Error) -> Self {
        ExchangeError::Other(e)
    }
}

/// The body a request goes out with.
pub(crate) enum RequestBody<'a> {
    /// The request's own bytes, with `Content-Length`.
    Full,
    /// Pieces of unknown total length, with `Transfer-Encoding: chunked`;
    /// `polled` is set once the stream has been asked for a piece (the request
    /// can no longer be retried then).
    Stream {
        stream: Pin<&'a mut (dyn Stream<Item = io::Result<Vec<u8>>> + 'a)>,
        polled: &'a mut bool,
    },
}

/// Sends `req` and reads its response. Returns the response and whether the
/// connection may carry another request: not if bytes came after the response,
/// nor if the request asked to close it.
#[allow(clippy::too_many_arguments)] // internal: the client's parts, split for borrowing
pub(crate) async fn exchange<IO: AsyncRead + AsyncWrite + Unpin>(
    io: &mut IO,
    inbuf: &mut InBuf,
    out: &mut Vec<u8>,
    req: &HttpRequest,
    body: RequestBody<'_>,
    form: TargetForm,
    limits: &Limits,
    deadline: Option<Instant>,
) -> Result<(HttpResponse, bool), ExchangeError> {
    out.clear();
    let write = async {
        match body {
            RequestBody::Full => {
                write_request_head(req, form, &mut *out).map_err(io::Error::from)?;
                let body = req.body();
                if body.len() <= COPY_BODY_MAX {
                    out.extend_from_slice(body);
                    write_all_vectored(io, &[&out[..]]).await
                } else {
                    write_all_vectored(io, &[&out[..], body]).await
                }
            }
            RequestBody::Stream { stream, polled } => {
                write_request_head_chunked(req, form, &mut *out).map_err(io::Error::from)?;
                write_all_vectored(io, &[&out[..]]).await?;
                write_chunks(io, stream, polled).await
            }
        }
    };
    // Without a deadline no timer is armed at all.
    let deadline = deadline.map_or(Deadline::Never, Deadline::At);
    let written = with_deadline(deadline, write)
        .await
        .ok_or(ExchangeError::TimedOut)?;
    if let Err(e) = written {
        return Err(if is_disconnect(&e) {
            ExchangeError::ClosedBeforeResponse(e)
        } else {
            ExchangeError::Other(e)
        });
    }
    out.clear();

    let method = req.method();
    let mut received_any = false;
    let head = loop {
        if !inbuf.is_empty() {
            match parse_response_head(inbuf.data(), method, limits).map_err(io::Error::from)? {
                // After a 101 the connection speaks another protocol: the
                // 101 is the answer, and nothing after it is read as HTTP.
                Some(head) if head.is_interim() && head.code() != 101 => {
                    inbuf.consume(head.len());
                    continue;
                }
                Some(head) => {
                    inbuf.consume(head.len());
                    break head;
                }
                None => {}
            }
        }
        match fill(io, inbuf, deadline, None).await {
            Ok(ReadEnd::Data(_)) => received_any = true,
            Ok(ReadEnd::TimedOut) => return Err(ExchangeError::TimedOut),
            Ok(_) if !received_any => {
                return Err(ExchangeError::ClosedBeforeResponse(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection without answering",
                )))
            }
            Ok(_) => {
                return Err(ExchangeError::Other(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection in the middle of the response head",
                )))
            }
            Err(e) if !received_any && is_disconnect(&e) => {
                return Err(ExchangeError::ClosedBeforeResponse(e))
            }
            Err(e) => return Err(e.into()),
        }
    };

    let framing = head.framing();
    let mut reusable =
        head.keep_alive() && framing != BodyFraming::UntilClose && head.code() != 101;
    let mut body = Vec::new();
    match framing {
        BodyFraming::Empty => {}
        BodyFraming::Length(n) => {
            let n = usize::try_from(n).map_err(|_| too_large(limits))?;
            body.reserve_exact(n);
            loop {
                let take = (n - body.len()).min(inbuf.len());
                body.extend_from_slice(&inbuf.data()[..take]);
                inbuf.consume(take);
                if body.len() == n {
                    break;
                }
                read_more(io, inbuf, deadline, "body").await?;
            }
        }
        BodyFraming::Chunked => {
            let mut decoder = ChunkedDecoder::new(limits);
            loop {
                let used = decoder
                    .decode(inbuf.data(), &mut body)
                    .map_err(io::Error::from)?;
                inbuf.consume(used);
                if decoder.is_done() {
                    break;
                }
                read_more(io, inbuf, deadline, "chunked body").await?;
            }
        }
        BodyFraming::UntilClose => {
            reusable = false;
            loop {
                let data = inbuf.data();
                if (body.len() + data.len()) as u64 > limits.body_limit() {
                    return Err(too_large(limits).into());
                }
                body.extend_from_slice(data);
                let n = data.len();
                inbuf.consume(n);
                match fill(io, inbuf, deadline, None).await {
                    Ok(ReadEnd::Data(_)) => {}
                    Ok(ReadEnd::TimedOut) => return Err(ExchangeError::TimedOut),
                    Ok(_) => break,
                    // A reset is no close: the body was cut short, and what
                    // came of it must not pass for all of it.
                    Err(e) if is_reset(&e) => {
                        return Err(ExchangeError::Other(io::Error::new(
                            e.kind(),
                            format!(
                                "the server reset the connection before the end of the body: {e}"
                            ),
                        )))
                    }
                    Err(e) if is_disconnect(&e) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    // Bytes after the end of the response answer no request of ours: the
    // server frames its messages differently than we read them (a body after
    // a 204 or a HEAD answer, say). Taking them for the next response would
    // hand a later request an answer to this one, or one the body forged.
    let reusable = reusable && inbuf.is_empty();
    // RFC 9112 §9.6: after asking for `close`, send nothing more on it.
    let reusable = reusable && !req.headers().has_token("connection", "close");
    Ok((HttpResponse::from_head(head, body), reusable))
}

/// Sends the pieces of `stream` as chunks, then the last chunk. A failing
/// stream fails the request before the last chunk goes out (the receiver sees
/// the body cut short, never a complete one).
async fn write_chunks<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    mut stream: Pin<&mut (dyn Stream<Item = io::Result<Vec<u8>>> + '_)>,
    polled: &mut bool,
) -> io::Result<()> {
    loop {
        *polled = true;
        match stream.next().await {
            None => break,
            Some(Ok(piece)) if piece.is_empty() => {}
            Some(Ok(piece)) => {
                let header = chunk_header(piece.len());
                write_all_vectored(io, &[header.as_ref(), &piece, CHUNK_END]).await?;
            }
            Some(Err(e)) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("the request body stream failed: {e}"),
                ))
            }
        }
    }
    write_all_vectored(io, &[LAST_CHUNK]).await
}

async fn read_more<IO: AsyncRead + Unpin>(
    io: &mut IO,
    inbuf: &mut InBuf,
    deadline: Deadline,
    what: &str,
) -> Result<(), ExchangeError> {
    match fill(io, inbuf, deadline, None).await? {
        ReadEnd::Data(_) => Ok(()),
        ReadEnd::TimedOut => Err(ExchangeError::TimedOut),
        _ => Err(ExchangeError::Other(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the server closed the connection before the end of the {what}"),
        ))),
    }
}

/// Whether `e` is a reset, rather than the peer closing its side.
fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}

fn too_large(limits: &Limits) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "response body larger than {} bytes; raise it with HttpClient::limits_mut().max_body",
            limits.body_limit()
        ),
    )
}
