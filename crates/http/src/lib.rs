//! monocle's HTTP/1.1 layer: [`HttpServer`] and [`HttpClient`] on the network
//! layer, over an I/O-free core of headers, requests, responses, a strict
//! incremental parser, the chunked coding, head writers and a router.
//!
//! ```no_run
//! use monocle_http::{HttpClient, HttpHeaders, HttpRequest, HttpServer};
//!
//! async fn hello_http(_req: HttpRequest) -> (u16, HttpHeaders, &'static str) {
//!     let mut headers = HttpHeaders::new();
//!     headers.set("Content-Type", "text/plain");
//!     (200, headers, "Hello, World!")
//! }
//!
//! monocle_stack::block_on(async {
//!     let server = HttpServer::new(8088, hello_http);
//!     server.start()?;
//!     let resp = HttpClient::query("http://127.0.0.1:8088/").await?;
//!     println!("{} {}", resp.code(), resp.text());
//!     server.stop().await;
//!     std::io::Result::Ok(())
//! })
//! .unwrap();
//! ```
//!
//! A handler made with [`Handler::streaming`] reads the request body as it
//! arrives, from a [`RequestBody`], so large uploads pass through in bounded
//! memory, and may answer with a streamed response that goes on reading it
//! ([full duplex](Handler::streaming): an echo is
//! `HttpResponse::new(200).with_stream(body)`); [`HttpClient::get_reader`] reads a response body the same way, as
//! a [`ResponseReader`]. A handler returning `Result<_, `[`HttpError`]`>` may
//! use `?`: a refusal answers with its own status, any other error is a
//! logged 500.
//!
//! The server's per-connection state machine and the client's exchange are
//! generic over futures-io byte streams ([`HttpServer::serve_connection`]);
//! the I/O-free pieces below work on byte buffers, so they are tested without
//! sockets and fed input split at every offset:
//!
//! ```
//! use monocle_http::{
//!     parse_request_head, write_response_head, BodyFraming, HttpRequest, HttpRouter,
//!     Limits, ResponseContext, RouteMatch,
//! };
//!
//! async fn hello(req: HttpRequest) -> String {
//!     format!("Hello, {}!", req.param("name").unwrap_or("World"))
//! }
//!
//! let mut router: HttpRouter = HttpRouter::new();
//! router.get("/hello/:name", hello);
//!
//! // What a server does with the bytes it read:
//! let buf = b"GET /hello/monocle HTTP/1.1\r\nHost: localhost\r\n\r\n";
//! let head = parse_request_head(buf, &Limits::default())?.expect("complete head");
//! assert_eq!(head.framing(), BodyFraming::Empty);
//! let ctx = ResponseContext::from_head(&head);
//! let mut req = HttpRequest::from_head(head, Vec::new(), None);
//! let RouteMatch::Found { handler, params } = router.find(req.method(), req.path()) else {
//!     unreachable!()
//! };
//! req.set_params(params);
//! let resp = futures_lite::future::block_on(handler.call(req));
//!
//! let mut out = Vec::new();
//! let written = write_response_head(&resp, &ctx, &mut out);
//! out.extend_from_slice(resp.body().as_bytes().unwrap());
//! assert!(written.keep_alive());
//! assert!(out.starts_with(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n"));
//! assert!(out.ends_with(b"\r\n\r\nHello, monocle!"));
//! # Ok::<(), monocle_http::Error>(())
//! ```
//!
//! # Strictness
//!
//! The request parser rejects each flaw class that HTTP/1 request smuggling
//! has relied on, with the status code to answer (see [`Error::status`]):
//! obfuscated or duplicate `Transfer-Encoding`, signed or conflicting
//! `Content-Length`, both together, chunk-size overflow, a lone LF or CR where
//! CRLF belongs, unbounded chunk extensions, whitespace before a header colon,
//! NUL and other control bytes, and anything over the [`Limits`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

mod body;
mod chunked;
mod client;
mod config;
mod conn;
mod date;
mod encoding;
mod error;
mod exchange;
mod handler;
mod headers;
mod http_error;
mod idle;
mod into_response;
mod io;
mod limits;
mod params;
mod parse;
mod request;
mod response;
mod response_body;
mod response_reader;
mod router;
mod server;
mod spare;
mod status;
mod version;
mod write;
mod write_request;

pub use body::RequestBody;
pub use chunked::{chunk_header, encode_chunk, ChunkHeader, ChunkedDecoder, CHUNK_END, LAST_CHUNK};
pub use client::HttpClient;
pub use config::ServerConfig;
pub use date::http_date;
pub use encoding::basic_auth;
pub use error::{Error, Result};
pub use handler::{Handler, LocalBoxFuture};
pub use headers::{GetAll, HttpHeaders, IntoHeaderValue, Iter};
pub use http_error::HttpError;
pub use into_response::{IntoBody, IntoResponse};
pub use limits::{BodyLimit, Limits};
pub use params::Params;
pub use parse::{parse_request_head, parse_response_head, BodyFraming, RequestHead, ResponseHead};
pub use request::{Cookies, HttpRequest};
pub use response::{Body, BodyStream, HttpResponse};
pub use response_reader::ResponseReader;
pub use router::{HttpRouter, IntoPattern, Pattern, RouteMatch};
pub use server::{HttpServer, LoopsServer};
pub use status::reason_phrase;
pub use version::Version;
pub use write::{write_response_head, ResponseContext, WrittenHead, CONTINUE, SERVER};
pub use write_request::{write_request_head, TargetForm};

#[doc(no_inline)]
pub use futures_lite::Stream;
#[doc(no_inline)]
pub use regex::Regex;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
