//! monocle's channel interleaving tests.
//!
//! A script is a string of steps: `s` starts a send (spawns it and lets every
//! task run until all wait), `r` starts a receive, `S` waits for the earliest
//! unfinished send to complete, `R` waits for the earliest unfinished receive
//! and checks it got the right value. "Wait" means: the executor ran until
//! nothing could move, so the operation must be finished by now.
//!
//! After every step the test also checks the whole state against the model
//! of a channel with buffer size `c`, after `ns` sends and `nr` receives were
//! started: send `i` is complete iff `i < min(ns, nr + c)`, and receive `j`
//! is complete iff `j < min(nr, ns)`, having received value `j`.

mod common;

use common::{Executor, Handle};
use monocle_core::{Channel, RecvError, SendError};

fn run_script(script: &str, bufsize: usize) {
    let ex = Executor::new();
    let ch = Channel::<usize>::new(bufsize);
    let mut sends: Vec<Handle<Result<(), SendError<usize>>>> = Vec::new();
    let mut recvs: Vec<Handle<Result<usize, RecvError>>> = Vec::new();
    let mut sends_done = Vec::new();
    let mut recvs_done = Vec::new();
    let (mut next_s, mut next_r) = (0, 0);
    for (step, op) in script.chars().enumerate() {
        let ctx = format!("script {script:?}, bufsize {bufsize}, step {step} ({op})");
        match op {
            's' => {
                let (ch, value) = (ch.clone(), sends.len());
                sends.push(ex.spawn(async move { ch.send(value).await }));
                sends_done.push(false);
            }
            'r' => {
                let ch = ch.clone();
                recvs.push(ex.spawn(async move { ch.recv().await }));
                recvs_done.push(false);
            }
            'S' => {
                let h = sends
                    .get(next_s)
                    .unwrap_or_else(|| panic!("{ctx}: no send to wait for"));
                assert!(h.is_finished(), "{ctx}: send {next_s} is not complete");
                assert_eq!(h.output(), Ok(()), "{ctx}");
                sends_done[next_s] = true;
                next_s += 1;
            }
            'R' => {
                let h = recvs
                    .get(next_r)
                    .unwrap_or_else(|| panic!("{ctx}: no recv to wait for"));
                assert!(h.is_finished(), "{ctx}: recv {next_r} is not complete");
                assert_eq!(h.output(), Ok(next_r), "{ctx}: values out of order");
                recvs_done[next_r] = true;
                next_r += 1;
            }
            _ => panic!("bad script step {op:?}"),
        }
        ex.run_until_idle();
        let (ns, nr) = (sends.len(), recvs.len());
        for (i, h) in sends.iter().enumerate() {
            let done = sends_done[i] || h.is_finished();
            assert_eq!(
                done,
                i < ns.min(nr + bufsize),
                "{ctx}: send {i} of {ns} (with {nr} recvs)"
            );
        }
        for (j, h) in recvs.iter().enumerate() {
            let done = recvs_done[j] || h.is_finished();
            assert_eq!(
                done,
                j < nr.min(ns),
                "{ctx}: recv {j} of {nr} (with {ns} sends)"
            );
        }
    }
    assert_eq!(
        ex.pending_tasks(),
        0,
        "script {script:?} left tasks waiting"
    );
}

const BUFSIZES: [usize; 5] = [0, 1, 2, 3, 9];

#[test]
fn sr_s_r() {
    for bufsize in BUFSIZES {
        run_script("srSR", bufsize);
    }
}

#[test]
fn rs_r_s() {
    for bufsize in BUFSIZES {
        run_script("rsRS", bufsize);
    }
}

#[test]
fn n_sends_n_recvs_then_wait_sends_then_recvs() {
    for bufsize in BUFSIZES {
        for n in 1..=100 {
            let script = ["s", "r", "S", "R"].map(|op| op.repeat(n)).concat();
            run_script(&script, bufsize);
        }
    }
}

#[test]
fn n_recvs_n_sends_then_wait_recvs_then_sends() {
    for bufsize in BUFSIZES {
        for n in 1..=100 {
            let script = ["r", "s", "R", "S"].map(|op| op.repeat(n)).concat();
            run_script(&script, bufsize);
        }
    }
}

#[test]
fn mixed_scripts() {
    for bufsize in BUFSIZES {
        for script in [
            "ssrsrrSSRSRR",
            "ssrsrrRSRSRS",
            "rrsrssRRSRSS",
            "srsrsrSRSRSR",
            "rrrsssSSSRRR",
        ] {
            run_script(script, bufsize);
        }
    }
}

#[test]
fn sends_complete_without_receivers_only_within_the_buffer() {
    // With bufsize c and no receiver, exactly the first c sends complete (the
    // model check after each step proves the last two still wait); the
    // receives then let them finish.
    for bufsize in BUFSIZES {
        let n = bufsize + 2;
        let script = [
            "s".repeat(n),
            "S".repeat(bufsize),
            "r".repeat(n),
            "SS".into(),
            "R".repeat(n),
        ]
        .concat();
        run_script(&script, bufsize);
    }
}
