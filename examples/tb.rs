//! An error raised four o-routines deep, printed with the chain of o-routines it
//! crossed (monocle printed such tracebacks with its internals elided).
//!
//! Run with `cargo run --example tb`; it prints the chain and exits with status 0.

use std::error::Error;
use std::fmt;

use monocle::launch;
use monocle::util::next_tick;

/// An error that says which o-routine it passed through, keeping its cause.
#[derive(Debug)]
struct Context {
    oroutine: &'static str,
    cause: Box<dyn Error + Send + Sync>,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "in {}", self.oroutine)
    }
}

impl Error for Context {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.cause)
    }
}

fn wrap(
    oroutine: &'static str,
) -> impl FnOnce(Box<dyn Error + Send + Sync>) -> Box<dyn Error + Send + Sync> {
    move |cause| Box::new(Context { oroutine, cause })
}

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

async fn level4() -> Result<u32> {
    next_tick().await;
    Err("the disk is full".into())
}

async fn level3() -> Result<u32> {
    launch(level4()).await.map_err(wrap("level3"))
}

async fn level2() -> Result<u32> {
    next_tick().await;
    level3().await.map_err(wrap("level2"))
}

async fn level1() -> Result<u32> {
    launch(level2()).await.map_err(wrap("level1"))
}

fn main() {
    let err = monocle::block_on(level1()).unwrap_err();
    println!("error: {err}");
    let mut cause = err.source();
    while let Some(e) = cause {
        println!("  caused by: {e}");
        cause = e.source();
    }
}
