//! The load of `scripts/soak-serve.sh`: a running `plugbox serve` driven
//! by normal clients, hostile clients, calls of misbehaving guests and
//! reloads at once, for a set time; then one line per check, and exit 0
//! only when every check holds.
//!
//! ```text
//! soak-serve setup DIR                       the plugins and plugbox.toml
//! soak-serve run ADDR PID DIR SECONDS LOG    the load and the checks
//! ```
//!
//! The script starts the server (`plugbox serve --manifest
//! DIR/plugbox.toml`, its stderr in LOG) and stops it; this program only
//! talks to it over loopback, rewrites its plugin files and reads its
//! RSS from `/proc/PID/status`. What each client sends and expects is in
//! `normal`, `guests` and `hostile`; the reloads in `reload`; the
//! samples and what "flat" means in `sample`.

mod guests;
mod hostile;
mod net;
mod normal;
mod reload;
mod report;
mod sample;
mod setup;
mod tally;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tally::Tally;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["setup", dir] => setup::write(std::path::Path::new(dir)).map(|()| true),
        ["run", addr, pid, dir, seconds, log] => Soak::new(addr, pid, dir, seconds, log).map(run),
        _ => Err("usage: soak-serve setup DIR | soak-serve run ADDR PID DIR SECONDS LOG".into()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak-serve: {e}");
            ExitCode::from(2)
        }
    }
}

/// Everything the clients share.
pub struct Soak {
    pub addr: SocketAddr,
    pub pid: u32,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub start: Instant,
    pub duration: Duration,
    pub tally: Tally,
    /// Generations of `counter.wat`: `pending` is raised before a new one
    /// is written, `serving` once it has answered. A call that reads
    /// `serving` before it is sent and `pending` after its answer must be
    /// answered by a generation between the two.
    pub serving: AtomicU64,
    pub pending: AtomicU64,
    /// Set while a version of `echo.wasm` that must be refused is on disk.
    pub echo_swapped: AtomicBool,
    /// What the reloader did: versions served and refused, by plugin.
    pub reloads: Mutex<Vec<(&'static str, &'static str)>>,
}

impl Soak {
    fn new(addr: &str, pid: &str, dir: &str, seconds: &str, log: &str) -> Result<Self, String> {
        let addr = addr
            .parse()
            .map_err(|e| format!("invalid address `{addr}`: {e}"))?;
        let pid = pid
            .parse()
            .map_err(|e| format!("invalid pid `{pid}`: {e}"))?;
        let seconds: u64 = match seconds.parse() {
            Ok(s) if s >= 10 => s,
            _ => {
                return Err(format!(
                    "invalid duration `{seconds}`: whole seconds, at least 10"
                ));
            }
        };
        Ok(Self {
            addr,
            pid,
            dir: dir.into(),
            log: log.into(),
            start: Instant::now(),
            duration: Duration::from_secs(seconds),
            tally: Tally::default(),
            serving: AtomicU64::new(1),
            pending: AtomicU64::new(1),
            echo_swapped: AtomicBool::new(false),
            reloads: Mutex::new(Vec::new()),
        })
    }

    /// Whether the run is still on: every client loop checks it.
    pub fn running(&self) -> bool {
        self.start.elapsed() < self.duration
    }

    /// Seconds since the start.
    pub fn at(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    pub fn reloaded(&self, plugin: &'static str, outcome: &'static str) {
        self.reloads
            .lock()
            .expect("reloads lock")
            .push((plugin, outcome));
    }
}

/// How long the clients get to finish their last request after the run.
const GRACE: Duration = Duration::from_secs(90);

fn run(soak: Soak) -> bool {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let soak = Arc::new(soak);
    let samples = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..2 {
            tasks.spawn(normal::keep_alive(soak.clone(), i));
        }
        tasks.spawn(normal::fresh(soak.clone()));
        tasks.spawn(normal::h2(soak.clone()));
        tasks.spawn(guests::run(soak.clone()));
        tasks.spawn(hostile::run(soak.clone()));
        tasks.spawn(hostile::slowloris_head(soak.clone()));
        tasks.spawn(hostile::slowloris_body(soak.clone()));
        tasks.spawn(reload::run(soak.clone()));
        let samples = sample::run(soak.clone()).await;
        let deadline = tokio::time::Instant::now() + GRACE;
        while !tasks.is_empty() {
            match tokio::time::timeout_at(deadline, tasks.join_next()).await {
                Ok(Some(Ok(()))) | Ok(None) => {}
                Ok(Some(Err(e))) => soak.tally.fail(
                    tally::Class::Normal,
                    "client",
                    format!("a client task failed: {e}"),
                ),
                Err(_) => {
                    soak.tally.fail(
                        tally::Class::Normal,
                        "client",
                        format!(
                            "{} client task(s) still waiting {GRACE:?} after the end",
                            tasks.len()
                        ),
                    );
                    tasks.abort_all();
                    break;
                }
            }
        }
        samples
    });
    let ok = runtime.block_on(report::print(&soak, &samples));
    runtime.shutdown_timeout(Duration::from_secs(1));
    ok
}

/// A small pseudo-random generator (xorshift), seeded from the clock: the
/// soak needs variety, not quality.
pub struct Rng(u64);

impl Rng {
    pub fn new(salt: u64) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Self((nanos ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1)
    }

    pub fn draw(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.draw() % n
    }

    /// `len` letters and digits.
    pub fn word(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| CHARS[self.below(CHARS.len() as u64) as usize] as char)
            .collect()
    }
}

/// Records `outcome` of one request of `case`.
pub fn record(
    soak: &Soak,
    class: tally::Class,
    case: &'static str,
    answer: &Result<net::Reply, String>,
    outcome: Result<(), String>,
) {
    let status = match answer {
        Ok(reply) => reply.status.to_string(),
        Err(_) => tally::status_key(None, false),
    };
    soak.tally.record(class, case, status, outcome);
}

/// Whether `answer` has `status` and, for an error, `kind`
/// (`{"error":{"kind":…}}`); `Err` says what came instead.
pub fn expect_error(
    answer: &Result<net::Reply, String>,
    status: u16,
    kind: &str,
) -> Result<(), String> {
    match answer {
        Ok(r) if r.status == status && r.kind() == kind => Ok(()),
        Ok(r) => Err(format!(
            "expected {status} `{kind}`, got {} {}",
            r.status,
            clip(&r.text())
        )),
        Err(e) => Err(format!("expected {status} `{kind}`, got no answer: {e}")),
    }
}

/// At most 200 characters of `text`, for a failure message.
pub fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(200).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out.escape_debug().to_string()
}

/// Sleeps `d`, or less when the run ends sooner.
pub async fn pause(soak: &Soak, d: Duration) {
    let left = soak.duration.saturating_sub(soak.start.elapsed());
    tokio::time::sleep(d.min(left)).await;
}

/// `Ordering` for the generation counters.
pub const SEQ: Ordering = Ordering::SeqCst;
