//! A rendezvous channel between two o-routines: each send waits for its receive.
//!
//! Run with `cargo run --example simplechan`.

use monocle::experimental::Channel;
use monocle::launch;

fn main() {
    monocle::block_on(async {
        let ch = Channel::new(0);
        let producer = launch({
            let ch = ch.clone();
            async move {
                for word in ["one", "two", "three"] {
                    println!("sending {word}");
                    ch.send(word).await.unwrap();
                    println!("sent {word} (a receiver has it)");
                }
                ch.close();
            }
        });
        while let Ok(word) = ch.recv().await {
            println!("received {word}");
        }
        producer.await;
        println!("channel closed and drained");
    });
}
