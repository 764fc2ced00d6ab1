//! Two o-routines ticking at different periods on one loop.
//!
//! Run with `cargo run --example sleep`.

use std::time::{Duration, Instant};

use monocle::stack::eventloop;
use monocle::util::sleep;
use monocle::{launch, named};

async fn ticker(name: &'static str, period: Duration, ticks: u32, start: Instant) {
    for i in 1..=ticks {
        sleep(period).await;
        println!("{name} tick {i} at {:>4} ms", start.elapsed().as_millis());
    }
}

fn main() {
    let start = Instant::now();
    let fast = launch(named(
        "fast",
        ticker("fast", Duration::from_millis(30), 6, start),
    ));
    let slow = launch(named(
        "slow",
        ticker("slow", Duration::from_millis(70), 3, start),
    ));
    launch(async move {
        fast.await;
        slow.await;
        eventloop::halt();
    });
    eventloop::run();
}
