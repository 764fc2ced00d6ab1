//! monocle's channel tests, run on the real event loop through the umbrella crate.

use monocle::experimental::Channel;
use monocle::util::next_tick;
use monocle::{block_on, launch, JoinHandle};

const N: u32 = 10_000;

fn on_fresh_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f)
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

#[test]
fn every_bufsize_one_way() {
    on_fresh_thread(|| {
        for bufsize in 0..=9 {
            let got = block_on(async move {
                let ch = Channel::new(bufsize);
                let tx = ch.clone();
                launch(async move {
                    for i in 0..N {
                        tx.send(i).await.unwrap();
                    }
                });
                let mut got = Vec::with_capacity(N as usize);
                for _ in 0..N {
                    got.push(ch.recv().await.unwrap());
                }
                got
            });
            assert!(
                got.iter().copied().eq(0..N),
                "bufsize {bufsize}: values out of order"
            );
        }
    });
}

#[test]
fn every_bufsize_two_ways() {
    on_fresh_thread(|| {
        for bufsize in 0..=9 {
            let sum = block_on(async move {
                let (there, back) = (Channel::new(bufsize), Channel::new(bufsize));
                let echo = launch({
                    let (there, back) = (there.clone(), back.clone());
                    async move {
                        while let Ok(v) = there.recv().await {
                            back.send(v * 2).await.unwrap();
                        }
                    }
                });
                let mut sum = 0u64;
                for i in 0..N {
                    there.send(i).await.unwrap();
                    let v = back.recv().await.unwrap();
                    assert_eq!(v, i * 2);
                    sum += u64::from(v);
                }
                there.close();
                echo.await;
                sum
            });
            assert_eq!(sum, u64::from(N) * u64::from(N - 1), "bufsize {bufsize}");
        }
    });
}

/// Runs a monocle interleaving script on the loop: `s`/`r` start a send/recv as
/// an o-routine and let it run until it blocks; `S`/`R` wait for the earliest
/// unfinished send/recv (receives must get the values in send order).
fn interleave(script: &str, bufsize: usize) {
    let script = script.to_owned();
    on_fresh_thread(move || {
        block_on(async move {
            let ch = Channel::new(bufsize);
            let mut sends: std::collections::VecDeque<JoinHandle<()>> = Default::default();
            let mut recvs: std::collections::VecDeque<JoinHandle<u32>> = Default::default();
            let (mut next_value, mut next_expected) = (0u32, 0u32);
            for op in script.chars() {
                match op {
                    's' => {
                        let (ch, v) = (ch.clone(), next_value);
                        next_value += 1;
                        sends.push_back(launch(async move { ch.send(v).await.unwrap() }));
                    }
                    'r' => {
                        let ch = ch.clone();
                        recvs.push_back(launch(async move { ch.recv().await.unwrap() }));
                    }
                    'S' => {
                        sends
                            .pop_front()
                            .expect("script waits for a send it never started")
                            .await
                    }
                    'R' => {
                        let v = recvs
                            .pop_front()
                            .expect("script waits for a recv it never started")
                            .await;
                        assert_eq!(v, next_expected, "script {script}, bufsize {bufsize}");
                        next_expected += 1;
                    }
                    _ => unreachable!(),
                }
                // Let every started operation run until it blocks.
                for _ in 0..3 {
                    next_tick().await;
                }
            }
        });
    });
}

#[test]
fn interleavings() {
    let mut scripts = vec![
        "srSR".to_owned(),
        "rsRS".to_owned(),
        "ssrsrrSSRSRR".to_owned(),
        "ssrsrrRSRSRS".to_owned(),
        "rrsrssRRSRSS".to_owned(),
    ];
    for n in [1, 2, 10, 100] {
        scripts.push(format!(
            "{}{}{}{}",
            "s".repeat(n),
            "r".repeat(n),
            "S".repeat(n),
            "R".repeat(n)
        ));
        scripts.push(format!(
            "{}{}{}{}",
            "r".repeat(n),
            "s".repeat(n),
            "R".repeat(n),
            "S".repeat(n)
        ));
    }
    for script in &scripts {
        for bufsize in [0, 1, 3] {
            interleave(script, bufsize);
        }
    }
}
