//! `--timeout` (and the default timeout) bound the whole call, host calls
//! included: sleeps, a stdin nobody writes to, a stdout nobody reads, atomic
//! waits — with WAT, Rust wasip1 and Rust wasip2 guests; exit code 6.

use crate::support::{rust_component, rust_guest, wat};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Generous: machines are shared. A stuck call would take seconds to hours.
const SLACK: Duration = Duration::from_millis(2500);

/// Runs plugbox with a stdin that stays open and empty and a stdout pipe
/// nobody reads (when `read_stdout` is false); returns the exit code,
/// stderr and how long it took. Kills it after 30 s.
fn run(args: &[&str], read_stdout: bool) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugbox"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(if read_stdout {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stderr(Stdio::piped())
        .env_remove("PLUGBOX_LOG")
        .spawn()
        .expect("plugbox starts");
    let stdin = child.stdin.take();
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).ok();
        text
    });
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = start.elapsed();
    drop(stdin);
    (code, err.join().unwrap_or_default(), took)
}

#[track_caller]
fn ends_by_timeout(args: &[&str], read_stdout: bool, timeout: Duration) {
    let (code, err, took) = run(args, read_stdout);
    assert_eq!(code, Some(6), "{args:?}: {err}");
    assert!(err.contains("deadline exceeded"), "{args:?}: {err}");
    assert!(took >= timeout, "{args:?} ended after {took:?}");
    assert!(took < timeout + SLACK, "{args:?} ended after {took:?}");
}

const T: &str = "300ms";
const TIMEOUT: Duration = Duration::from_millis(300);

#[test]
fn sleeps_end_at_the_timeout() {
    let blocking = wat("blocking.wat");
    ends_by_timeout(
        &["call", "--timeout", T, &blocking, "sleep", "10000000000"],
        true,
        TIMEOUT,
    );
    ends_by_timeout(&["run", "--timeout", T, &blocking], true, TIMEOUT);
    for probe in [rust_guest("probe"), rust_component("probe")] {
        ends_by_timeout(
            &["run", "--timeout", T, &probe, "sleep", "3600000"],
            true,
            TIMEOUT,
        );
    }
}

#[test]
fn the_default_timeout_is_the_engines() {
    // No --timeout: the engine's default applies (30 s unless set).
    let blocking = wat("blocking.wat");
    ends_by_timeout(&["run", "--default-timeout", T, &blocking], true, TIMEOUT);
    // A timeout of the plugin's own wins.
    ends_by_timeout(
        &["run", "--default-timeout", "1h", "--timeout", T, &blocking],
        true,
        TIMEOUT,
    );
}

#[test]
fn a_blocked_stdin_read_ends_at_the_timeout() {
    let blocking = wat("blocking.wat");
    ends_by_timeout(
        &["call", "--timeout", T, &blocking, "read_stdin"],
        true,
        TIMEOUT,
    );
    for probe in [rust_guest("probe"), rust_component("probe")] {
        ends_by_timeout(&["run", "--timeout", T, &probe, "stdin"], true, TIMEOUT);
    }
}

#[test]
fn a_write_to_a_full_stdout_pipe_ends_at_the_timeout() {
    let blocking = wat("blocking.wat");
    ends_by_timeout(
        &["call", "--timeout", T, &blocking, "flood_stdout"],
        false,
        TIMEOUT,
    );
    for probe in [rust_guest("probe"), rust_component("probe")] {
        ends_by_timeout(
            &["run", "--timeout", T, &probe, "flood", "1000000000"],
            false,
            TIMEOUT,
        );
    }
}

#[test]
fn an_atomic_wait_ends_at_the_timeout() {
    let waits = wat("atomic_wait.wat");
    for func in ["wait", "wait64"] {
        ends_by_timeout(
            &["call", "--enable", "threads", "--timeout", T, &waits, func],
            true,
            TIMEOUT,
        );
    }
}
