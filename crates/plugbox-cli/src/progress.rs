//! Progress for long operations: a compile that takes more than a second
//! shows a spinner with the elapsed time on a terminal, and nothing
//! otherwise (pipes, CI logs and quick compiles stay silent).

use std::io::IsTerminal;
use std::sync::mpsc;
use std::time::Duration;

/// How long an operation runs before its spinner appears.
const QUIET_FOR: Duration = Duration::from_secs(1);

/// Runs `work`, showing `message` with a spinner on stderr if it takes
/// longer than a second and stderr is a terminal.
pub fn spin<T>(message: String, work: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work();
    }
    let (done, finished) = mpsc::channel::<()>();
    let spinner = std::thread::spawn(move || {
        if finished.recv_timeout(QUIET_FOR).is_ok() {
            return;
        }
        let bar = indicatif::ProgressBar::new_spinner().with_message(message);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(100));
        let _ = finished.recv();
        bar.finish_and_clear();
    });
    let out = work();
    drop(done);
    let _ = spinner.join();
    out
}
