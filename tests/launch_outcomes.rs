//! `launch` takes o-routines that return the workspace's own public types
//! (`launch` needs its output to implement `Outcome`, which users cannot add
//! for types of another crate).

use monocle::experimental::{Channel, RecvStream, Winner};
use monocle::stack::eventloop::QueuedTask;
use monocle::stack::network::http::{HttpClient, HttpHeaders, HttpRequest, HttpResponse};
use monocle::stack::network::{Client, Connection, ServiceHandle};
use monocle::stack::{Handle, RemoteJoinHandle};
use monocle::{block_on, launch, Callback, JoinHandle, Outcome};

fn is_outcome<T: Outcome>() {}

#[test]
fn the_workspace_types_an_oroutine_may_return_are_outcomes() {
    // core
    is_outcome::<Callback<u8>>();
    is_outcome::<Channel<u8>>();
    is_outcome::<RecvStream<u8>>();
    is_outcome::<Winner<u8, String>>();
    // stack
    is_outcome::<Handle>();
    is_outcome::<JoinHandle<u8>>();
    is_outcome::<RemoteJoinHandle<u8>>();
    is_outcome::<QueuedTask>();
    // network
    is_outcome::<Connection>();
    is_outcome::<Client>();
    is_outcome::<ServiceHandle>();
    // http
    is_outcome::<HttpResponse>();
    is_outcome::<HttpRequest>();
    is_outcome::<HttpHeaders>();
    is_outcome::<HttpClient>();
}

#[test]
fn launched_oroutines_return_http_values_and_channels() {
    block_on(async {
        let response = launch(async { HttpResponse::new(404) }).await;
        assert_eq!(response.code(), 404);
        let request = launch(async { HttpRequest::new("GET", "/x?y=1") }).await;
        assert_eq!(request.path(), "/x");
        let mut headers = launch(async {
            let mut h = HttpHeaders::new();
            h.add("X-One", "1");
            h
        })
        .await;
        assert_eq!(headers.get("x-one"), Some("1"));
        headers.add("X-Two", "2");
        let client = launch(async { HttpClient::new() }).await;
        drop(client);

        let channel = launch(async {
            let ch = Channel::new(1);
            ch.send(7u8).await.unwrap();
            ch
        })
        .await;
        assert_eq!(channel.recv().await, Ok(7));
        // An o-routine that starts another and hands back its handle.
        #[allow(clippy::async_yields_async)] // the handle is the point
        let inner = launch(async { launch(async { 5u8 }) }).await;
        assert_eq!(inner.await, 5);
    });
}
