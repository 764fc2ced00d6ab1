//! `monocle::run(main)`: the exit status and message of a failing main.
//!
//! The test re-runs its own binary as a child process that calls `monocle::run`,
//! since a failing `run` exits the process.

use std::process::Command;

const CHILD: &str = "MONOCLE_RUN_MAIN_CHILD";

fn child_main(kind: &str) {
    match kind {
        "fails" => {
            monocle::run(async {
                let inner = std::io::Error::other("the database is down");
                Err::<(), _>(std::io::Error::new(std::io::ErrorKind::NotConnected, inner))
            });
        }
        "succeeds" => {
            monocle::run(async {
                monocle::util::next_tick().await;
                println!("main finished");
                Ok::<(), String>(())
            });
        }
        "panics" => {
            monocle::run(async {
                monocle::util::next_tick().await;
                if std::env::var_os(CHILD).is_some() {
                    panic!("the config file is missing");
                }
                Ok::<(), String>(())
            });
        }
        other => panic!("unknown child kind {other}"),
    }
}

fn run_child(kind: &str) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, kind)
        .output()
        .unwrap()
}

/// The entry point of the child process (does nothing in the parent).
#[test]
fn child() {
    if let Ok(kind) = std::env::var(CHILD) {
        child_main(&kind);
    }
}

#[test]
fn a_failing_main_prints_the_error_chain_and_exits_1() {
    let out = run_child("fails");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("error: the database is down"),
        "the error and its cause are printed: {stderr}"
    );
}

#[test]
fn a_panicking_main_prints_the_panic_and_exits_1() {
    let out = run_child("panics");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("error: main panicked: the config file is missing"),
        "the panic's message is printed as the error: {stderr}"
    );
}

#[test]
fn a_successful_main_returns_its_value() {
    let out = run_child("succeeds");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("main finished"));
}
