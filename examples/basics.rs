//! The basics: o-routines that return results, errors that travel between
//! o-routines, and a launched o-routine whose failure is logged, not lost.
//!
//! Run with `cargo run --example basics`.

use std::time::Duration;

use monocle::stack::eventloop;
use monocle::util::sleep;
use monocle::{launch, named};

/// An o-routine with a result: it waits, then answers.
async fn square(n: u64) -> u64 {
    sleep(Duration::from_millis(10)).await;
    n * n
}

/// An o-routine that fails.
async fn fetch_config(path: &str) -> Result<String, String> {
    sleep(Duration::from_millis(5)).await;
    Err(format!("no config at {path}"))
}

/// Errors cross o-routines with `?`, as exceptions crossed yields in monocle.
async fn start_service() -> Result<String, String> {
    let config = fetch_config("/etc/service.toml").await?;
    Ok(format!("started with {config}"))
}

async fn main_oroutine() {
    // Run two o-routines concurrently and collect their results.
    let a = launch(square(3));
    let b = launch(square(4));
    println!("3² + 4² = {}", a.await + b.await);

    // An error comes back to whoever awaits it.
    match start_service().await {
        Ok(msg) => println!("{msg}"),
        Err(e) => println!("start_service failed: {e}"),
    }

    // A launched o-routine that nobody awaits: its error is logged with its
    // name and launch site, and the loop keeps going.
    launch(named("background-job", async {
        fetch_config("/missing").await.map(drop)
    }));
    sleep(Duration::from_millis(20)).await;
    println!("still running after the background job failed");

    eventloop::halt();
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    launch(main_oroutine());
    eventloop::run();
}
