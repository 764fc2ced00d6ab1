//! The concurrent prime sieve: the first 100 primes through a chain of channels,
//! one filtering o-routine per prime found (after Go's classic example).
//!
//! Run with `cargo run --example sieve`.

use monocle::experimental::Channel;
use monocle::launch;

/// Sends 2, 3, 4, ... into `out`.
async fn generate(out: Channel<u64>) {
    let mut n = 2;
    while out.send(n).await.is_ok() {
        n += 1;
    }
}

/// Copies values from `input` to `out`, dropping multiples of `prime`.
async fn filter(input: Channel<u64>, out: Channel<u64>, prime: u64) {
    while let Ok(n) = input.recv().await {
        if n % prime != 0 && out.send(n).await.is_err() {
            break;
        }
    }
    input.close();
}

fn main() {
    let primes = monocle::block_on(async {
        let mut ch = Channel::new(0);
        launch(generate(ch.clone()));
        let mut primes = Vec::with_capacity(100);
        for _ in 0..100 {
            let prime = ch.recv().await.expect("the chain never closes first");
            primes.push(prime);
            let next = Channel::new(0);
            launch(filter(ch, next.clone(), prime));
            ch = next;
        }
        // Closing the last channel unwinds the chain of filters.
        ch.close();
        primes
    });
    for row in primes.chunks(10) {
        let row: Vec<String> = row.iter().map(|p| format!("{p:>3}")).collect();
        println!("{}", row.join(" "));
    }
    assert_eq!(primes[99], 541);
}
