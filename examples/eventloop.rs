//! `queue_task` with a plain function and with an o-routine, and a cancelled task.
//!
//! Run with `cargo run --example eventloop`.

use std::time::Duration;

use monocle::launch;
use monocle::stack::eventloop::{self, queue_task};
use monocle::util::sleep;

fn plain(msg: &'static str) {
    println!("plain function: {msg}");
}

async fn oroutine(msg: &'static str) {
    println!("o-routine starts: {msg}");
    sleep(Duration::from_millis(10)).await;
    println!("o-routine ends: {msg}");
    eventloop::halt();
}

fn main() {
    queue_task(Duration::from_millis(10), || plain("after 10 ms"));
    queue_task(Duration::from_millis(20), || {
        launch(oroutine("after 20 ms"));
    });
    let never = queue_task(Duration::from_millis(15), || println!("this never prints"));
    println!("cancelled before it ran: {}", never.cancel());
    // queue_task is safe from any thread: this one goes to the main loop.
    std::thread::spawn(|| {
        queue_task(Duration::from_millis(5), || {
            plain("queued from another thread")
        });
    })
    .join()
    .unwrap();
    eventloop::run();
}
