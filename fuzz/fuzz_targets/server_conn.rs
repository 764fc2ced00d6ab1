//! A whole server connection over an in-memory stream: the client's bytes
//! arrive in fuzzer-sized reads, then the client closes. The server must
//! end without error, and what it wrote must be a sequence of well-formed
//! responses, one for each request it read and at most one more (the
//! refusal of a bad one).
#![no_main]

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use libfuzzer_sys::fuzz_target;
use monocle_http::{
    parse_request_head, parse_response_head, BodyFraming, ChunkedDecoder, Handler, HttpRequest,
    HttpResponse, HttpServer, Limits, RequestBody,
};

/// The client: hands out `input` at most `piece` bytes a read, then EOF;
/// keeps what the server writes.
struct Client {
    input: Vec<u8>,
    at: usize,
    piece: usize,
    out: Rc<RefCell<Vec<u8>>>,
}

impl AsyncRead for Client {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = (this.input.len() - this.at).min(this.piece).min(buf.len());
        buf[..n].copy_from_slice(&this.input[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Client {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.out.borrow_mut().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, input)) = data.split_first() else {
        return;
    };
    let out = Rc::new(RefCell::new(Vec::new()));
    let client = Client {
        input: input.to_vec(),
        at: 0,
        piece: usize::from(piece % 64) + 1,
        out: Rc::clone(&out),
    };
    let served = monocle_stack::block_on(async move {
        let mut server = HttpServer::new(0, |req: HttpRequest| async move {
            format!("{} {} {}", req.method(), req.path(), req.body().len())
        });
        server.post(
            "/stream",
            Handler::streaming(async move |_req: HttpRequest, mut body: RequestBody| {
                let mut n = 0;
                while let Ok(Some(chunk)) = body.next_chunk().await {
                    n += chunk.len();
                }
                HttpResponse::new(200).with_body(n.to_string())
            }),
        );
        server.serve_connection(client, None).await
    });
    assert!(served.is_ok(), "{served:?}");
    check_output(input, &out.borrow());
});

/// The methods of the requests the server can have read whole, in order,
/// as its own parser sees them.
fn request_methods(mut input: &[u8]) -> Vec<String> {
    let limits = Limits::default();
    let mut methods = Vec::new();
    while let Ok(Some(head)) = parse_request_head(input, &limits) {
        // Counted once its body is all there: a client that leaves in the
        // middle of a body gets no answer.
        let method = head.method().to_owned();
        input = &input[head.len()..];
        match head.framing() {
            BodyFraming::Length(n) => {
                let Some(rest) = usize::try_from(n).ok().and_then(|n| input.get(n..)) else {
                    break;
                };
                input = rest;
            }
            BodyFraming::Chunked => {
                let mut decoder = ChunkedDecoder::new(&limits);
                match decoder.decode(input, &mut Vec::new()) {
                    Ok(used) if decoder.is_done() => input = &input[used..],
                    _ => break,
                }
            }
            _ => {}
        }
        methods.push(method);
    }
    methods
}

fn check_output(input: &[u8], out: &[u8]) {
    let methods = request_methods(input);
    let limits = Limits::default();
    let mut at = 0;
    let mut answered = 0;
    while at < out.len() {
        let method = methods.get(answered).map_or("GET", String::as_str);
        let head = match parse_response_head(&out[at..], method, &limits) {
            Ok(Some(head)) => head,
            other => panic!(
                "response {answered} at {at} of {:?}: {other:?}",
                String::from_utf8_lossy(out)
            ),
        };
        assert!((100..600).contains(&head.code()));
        at += head.len();
        if head.is_interim() {
            assert_eq!(head.code(), 100, "{:?}", String::from_utf8_lossy(out));
            continue;
        }
        match head.framing() {
            BodyFraming::Empty => {}
            BodyFraming::Length(n) => {
                assert!(
                    out.len() - at >= n as usize,
                    "short body: {:?}",
                    String::from_utf8_lossy(out)
                );
                at += n as usize;
            }
            BodyFraming::Chunked => {
                let mut decoder = ChunkedDecoder::new(&limits);
                let used = decoder
                    .decode(&out[at..], &mut Vec::new())
                    .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(out)));
                assert!(decoder.is_done(), "unfinished chunked body");
                at += used;
            }
            BodyFraming::UntilClose => at = out.len(),
        }
        answered += 1;
    }
    assert!(answered >= methods.len().min(1), "no answer to {methods:?}");
    assert!(
        answered <= methods.len() + 1,
        "{answered} responses to {} requests: {:?}",
        methods.len(),
        String::from_utf8_lossy(out)
    );
}
