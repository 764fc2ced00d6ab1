//! A buffered read dropped part way (the loser of a race against a channel,
//! say, or a timeout) loses nothing: the bytes it read stay buffered for the
//! next read. examples/chat.rs races `readline` against a member's outbox
//! and relies on this.

mod common;

use std::time::Duration;

use common::{pair, run};
use monocle_network::Connection;
use monocle_stack::util::timeout;

/// Runs `read_until(delim)` under a short timeout, dropping it while it
/// waits, until `want` is buffered: the dropped reads did the reading.
async fn read_partly(conn: &mut Connection, delim: &[u8], want: &[u8]) {
    while conn.buffered() != want {
        let raced = timeout(Duration::from_millis(20), conn.read_until(delim)).await;
        assert!(raced.is_err(), "no delimiter was sent yet");
    }
}

#[test]
fn a_dropped_readline_keeps_what_it_read() {
    run(async {
        let (mut client, mut server) = pair().await;
        client.write(b"hel").await.unwrap();
        read_partly(&mut server, b"\n", b"hel").await;
        client.write(b"lo\nnext\n").await.unwrap();
        assert_eq!(server.readline().await.unwrap(), b"hello\n");
        assert_eq!(server.readline().await.unwrap(), b"next\n");
    });
}

#[test]
fn a_dropped_read_until_finds_a_delimiter_split_across_reads() {
    run(async {
        let (mut client, mut server) = pair().await;
        client.write(b"one\r").await.unwrap();
        read_partly(&mut server, b"\r\n", b"one\r").await;
        client.write(b"\ntwo\r\n").await.unwrap();
        assert_eq!(server.read_until(b"\r\n").await.unwrap(), b"one\r\n");
        assert_eq!(server.read_until(b"\r\n").await.unwrap(), b"two\r\n");
    });
}

#[test]
fn a_read_until_after_a_dropped_one_searches_every_buffered_byte() {
    run(async {
        let (mut client, mut server) = pair().await;
        client.write(b"key=value").await.unwrap();
        read_partly(&mut server, b"\n", b"key=value").await;
        // `=` came before the dropped readline gave up; it must still be found.
        let found = timeout(Duration::from_secs(2), server.read_until(b"=")).await;
        assert_eq!(found.expect("`=` is buffered").unwrap(), b"key=");
    });
}
