//! Key-value latency: `get` and `set` of a 100-byte value through a plugin
//! call (a kept instance of the kvprobe guest, which calls
//! `plugbox:plugin/kv`) beside the same operation made directly on the
//! plugin's `Kv` from Rust, for each backend — memory, the embedded SQLite
//! file (in a temporary directory) and Redis (a `redis-server` this bench
//! starts on a loopback port and stops) — in one run; plus a plugin call
//! that touches no key, for scale.
//!
//! Criterion measures each operation (its medians are in its report and in
//! `target/criterion/kv-*`); then one loop times every operation of a
//! backend in turn, one sample per operation, so that the two sides of a
//! ratio share the machine's moments, and prints median, p99 and the
//! plugin ÷ direct ratios as a Markdown table.
//!
//! Run with `bash scripts/bench-kv.sh` (builds the guests, runs this in the
//! bench profile), or, guests built and `redis-server` installed:
//! `cargo bench -p plugbox --bench kv`.

use criterion::Criterion;
use plugbox::{Engine, EngineConfig, Instance, Kv, KvBackendKind, KvConfig, Plugin};
use plugbox_test_support::RedisServer;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The operations, in the order they are timed and shown.
const OPS: [&str; 5] = [
    "call-no-kv",
    "get-plugin",
    "get-direct",
    "set-plugin",
    "set-direct",
];

/// How long the timing loop samples each backend, and its least rounds.
const LOOP_TIME: Duration = Duration::from_secs(4);
const MIN_ROUNDS: usize = 2000;

/// One backend under test: a kept instance of kvprobe and the plugin's
/// own store.
struct Subject {
    backend: &'static str,
    instance: Instance,
    kv: Kv,
    set_input: String,
    value: Vec<u8>,
}

impl Subject {
    fn new(engine: &Engine, backend: &'static str, config: KvConfig) -> Self {
        let plugin = Plugin::builder(engine)
            .name("bench")
            .kv(config)
            .from_file(plugbox_test_support::rust_component("kvprobe"))
            .expect("kvprobe loads");
        let instance = plugin.instantiate().expect("kvprobe instantiates");
        let value = vec![b'v'; 100];
        let kv = plugin.kv().clone();
        kv.set("k", value.clone()).expect("the first set");
        Self {
            backend,
            instance,
            kv,
            set_input: format!("set k {}", String::from_utf8_lossy(&value)),
            value,
        }
    }

    /// Runs operation `op` (one of [`OPS`]) once.
    fn run(&mut self, op: &str) {
        match op {
            "call-no-kv" => call(&mut self.instance, "ping"),
            "get-plugin" => call(&mut self.instance, "get k"),
            "get-direct" => {
                black_box(self.kv.get("k").expect("get"));
            }
            "set-plugin" => call(&mut self.instance, &self.set_input),
            "set-direct" => self.kv.set("k", self.value.clone()).expect("set"),
            other => unreachable!("no operation `{other}`"),
        }
    }
}

/// One call of the plugin's `handle` export, which must succeed.
fn call(instance: &mut Instance, input: &str) {
    let reply = instance.handle(input).expect("the call");
    assert!(reply.is_ok(), "{input}: {reply:?}");
    black_box(reply.ok());
}

fn criterion(c: &mut Criterion, subject: &mut Subject) {
    let mut group = c.benchmark_group(format!("kv-{}", subject.backend));
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    for op in OPS {
        group.bench_function(op, |b| b.iter(|| subject.run(op)));
    }
    group.finish();
}

/// Median and p99 of each operation of `subject`, timed in turn; and how
/// many samples of each.
fn percentiles(subject: &mut Subject) -> (Vec<(Duration, Duration)>, usize) {
    for _ in 0..200 {
        OPS.iter().for_each(|op| subject.run(op));
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); OPS.len()];
    let start = Instant::now();
    while samples[0].len() < MIN_ROUNDS || start.elapsed() < LOOP_TIME {
        for (i, op) in OPS.iter().enumerate() {
            let t = Instant::now();
            subject.run(op);
            samples[i].push(t.elapsed());
        }
    }
    let rounds = samples[0].len();
    let figures = samples
        .into_iter()
        .map(|mut s| {
            s.sort_unstable();
            (s[s.len() / 2], s[s.len() * 99 / 100])
        })
        .collect();
    (figures, rounds)
}

/// Criterion's median estimate of `op` on `backend`, from its report.
fn criterion_median(backend: &str, op: &str) -> Option<Duration> {
    let file = output_dir()
        .join(format!("kv-{backend}"))
        .join(op)
        .join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    let nanos = json["median"]["point_estimate"].as_f64()?;
    Some(Duration::from_secs_f64(nanos / 1e9))
}

/// Criterion's usual directory, `target/criterion`.
fn output_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().map_or(tmp.clone(), |t| t.join("criterion"))
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64())
}

fn main() {
    let mut c = Criterion::default()
        .output_directory(&output_dir())
        .configure_from_args();
    let engine = Engine::new(&EngineConfig::default()).expect("engine");
    let dir = tempfile::tempdir().expect("temporary directory");
    let redis = RedisServer::start();
    let mut subjects = [
        Subject::new(&engine, "memory", KvConfig::new()),
        Subject::new(
            &engine,
            "embedded",
            KvConfig::new().path(dir.path().join("kv.sqlite3")),
        ),
        Subject::new(
            &engine,
            "redis",
            KvConfig::new().backend(KvBackendKind::Redis(redis.url())),
        ),
    ];
    for subject in &mut subjects {
        criterion(&mut c, subject);
    }
    c.final_summary();

    let (figures, rounds): (Vec<_>, Vec<_>) = subjects.iter_mut().map(percentiles).unzip();
    println!();
    for (subject, rounds) in subjects.iter().zip(&rounds) {
        println!(
            "{}: {rounds} samples of each operation, in turn",
            subject.backend
        );
    }
    println!();
    println!(
        "| backend | operation | median | p99 | criterion median | plugin ÷ direct (median, p99) |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (subject, figures) in subjects.iter().zip(&figures) {
        for (i, op) in OPS.iter().enumerate() {
            let (median, p99) = figures[i];
            let versus = match *op {
                "get-plugin" | "set-plugin" => {
                    let (dm, dp) = figures[i + 1];
                    format!("{}, {}", ratio(median, dm), ratio(p99, dp))
                }
                _ => String::new(),
            };
            let crit = criterion_median(subject.backend, op).map_or("—".into(), us);
            println!(
                "| {} | {op} | {} | {} | {crit} | {versus} |",
                subject.backend,
                us(median),
                us(p99)
            );
        }
    }
}
