//! Soak test: mixed good and hostile calls on one `PluginManager` from two
//! threads, with plugins reloaded every few seconds, for a while; every
//! call's outcome is checked against what that plugin and version must
//! give, and the process's RSS is sampled.
//!
//! Run with `cargo run -p plugbox --example soak -- [DURATION]` (default
//! `10m`; `scripts/soak.sh` builds the test guests first). It prints a
//! summary and exits non-zero on any unexpected outcome (a lost or
//! misattributed call included), a panic, or RSS growth after warm-up.
//! A call that never returns is a lost call too: a worker that begins no
//! call for 30 s, or has not finished 60 s after the end, fails the run.
//! RSS is sampled every second; it is flat when the last sample is at most
//! 16 MiB above the first sample after warm-up (a fifth of the run, at
//! least 10 s). The instance pool keeps 8 warm slots instead of its default
//! 100 (see `soak` for why).
//!
//! The plugins:
//! - `adder` (`guests/wat/add.wat`, stateless): `add` of random numbers.
//! - `counter` (stateless) and `tally` (stateful), rewritten with a new
//!   generation number every 2 s and reloaded: `version` returns the
//!   generation, `count` returns `generation * 1_000_000 + calls so far`
//!   on the kept instance. A result must come from a generation that was
//!   serving during the call, and no two calls of one generation may see
//!   the same count (a lost update), nor may counts skip (a lost call).
//! - `hostile` (stateless, reloaded every 5 s) and `kept-hostile`
//!   (stateful), `guests/wat/hostile.wat` under fuel, timeout, memory and
//!   table limits: spin, memory_bomb, deep, table_bomb, then `ok`. Any
//!   of them may end at the 100 ms deadline instead on a loaded machine
//!   (the limit working); those are counted apart.
//! - `traps` (`guests/wat/traps.wat`): each trap kind.
//! - `types` (the `types` test component, when built): JSON calls.

use plugbox::{Engine, EngineConfig, ErrorKind, Limits, Mode, PluginManager, PluginSpec, TrapKind};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const THREADS: usize = 2;
const COUNTER_RELOAD: Duration = Duration::from_secs(2);
const HOSTILE_RELOAD: Duration = Duration::from_secs(5);
/// Allowed RSS growth between the end of warm-up and the end of the run.
const RSS_SLACK: u64 = 16 << 20;
/// Pool slots kept warm (the default is 100; see `soak`).
const WARM_SLOTS: u32 = 8;
/// A worker that completes no call for this long is stuck: a lost call.
const STALL: Duration = Duration::from_secs(30);
/// How long the workers get to finish their last call after the run.
const JOIN_GRACE: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let duration = match std::env::args().nth(1) {
        None => Duration::from_secs(600),
        Some(text) => match plugbox::units::parse_duration(&text) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("soak: invalid duration `{text}`: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match soak(duration) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Generations of a reloaded plugin: `pending` is raised before its file
/// is rewritten, `serving` once the reload has returned. A call that reads
/// `serving` before it starts and `pending` after it ends must have been
/// served by a generation between the two.
#[derive(Default)]
struct Generations {
    serving: AtomicU64,
    pending: AtomicU64,
}

impl Generations {
    fn window<T>(&self, call: impl FnOnce() -> T) -> (T, u64, u64) {
        let low = self.serving.load(Ordering::SeqCst);
        let out = call();
        (out, low, self.pending.load(Ordering::SeqCst))
    }
}

/// The counts seen in one generation of `tally`, as a bit set: a bit per
/// call, so the soak's own bookkeeping does not grow its RSS.
#[derive(Default)]
struct Seen {
    words: Vec<u64>,
    /// Distinct counts seen.
    n: u64,
    /// The highest count seen.
    max: u64,
}

impl Seen {
    /// Marks `count` seen; `false` if it was already.
    fn insert(&mut self, count: u64) -> bool {
        let (word, bit) = ((count / 64) as usize, count % 64);
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        let fresh = self.words[word] & (1 << bit) == 0;
        self.words[word] |= 1 << bit;
        if fresh {
            self.n += 1;
            self.max = self.max.max(count);
        }
        fresh
    }

    /// Whether the counts seen are exactly `1..=n`: distinct (each was
    /// fresh), none zero, and the highest is their number.
    fn gapless(&self) -> bool {
        self.words.first().is_none_or(|w| w & 1 == 0) && self.max == self.n
    }
}

/// Everything the workers share.
struct Shared {
    manager: PluginManager,
    stop: AtomicBool,
    counter: Generations,
    tally: Generations,
    /// The counts every `tally` call saw, by generation.
    tallies: Mutex<BTreeMap<u64, Seen>>,
    outcomes: Mutex<BTreeMap<&'static str, (u64, u64)>>,
    failures: Mutex<Vec<String>>,
    /// Calls each worker has begun: one that stops moving is stuck in a
    /// call that never returns.
    progress: [AtomicU64; THREADS],
    components: bool,
}

impl Shared {
    /// Records one call of `op`: whether its outcome was the expected one.
    fn record(&self, op: &'static str, ok: bool, what: impl FnOnce() -> String) {
        let mut outcomes = self.outcomes.lock().expect("outcomes lock");
        let entry = outcomes.entry(op).or_default();
        entry.0 += 1;
        if !ok {
            entry.1 += 1;
            let mut failures = self.failures.lock().expect("failures lock");
            if failures.len() < 20 {
                failures.push(format!("{op}: {}", what()));
            }
        }
    }
}

fn counter_wat(generation: u64) -> String {
    format!(
        r#";; generation {generation}
(module
  (global $calls (mut i64) (i64.const 0))
  (func (export "version") (result i64) i64.const {generation})
  (func (export "count") (result i64)
    (global.set $calls (i64.add (global.get $calls) (i64.const 1)))
    (i64.add (i64.const {base}) (global.get $calls))))"#,
        base = generation * 1_000_000
    )
}

fn soak(duration: Duration) -> Result<bool, Box<dyn std::error::Error>> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let wat = |name: &str| repo.join("guests/wat").join(name);
    let dir = tempfile::tempdir()?;
    // The pool keeps freed slots warm for the module that used them, each
    // with up to pool-keep-resident (1 MiB) of memory and of table still
    // resident: a bounded amount by design, which grows as reloads bring
    // new modules until pool-warm-slots (100) are warm — minutes at this
    // rate. With 8 it is full within seconds, so RSS after warm-up shows
    // anything else.
    let engine = Engine::new(
        &EngineConfig::default()
            .consume_fuel(true)
            .pool_warm_slots(WARM_SLOTS),
    )?;
    let manager = PluginManager::new(&engine);

    manager.load("adder", PluginSpec::new(wat("add.wat")))?;
    let counter = dir.path().join("counter.wat");
    let tally = dir.path().join("tally.wat");
    std::fs::write(&counter, counter_wat(1))?;
    std::fs::write(&tally, counter_wat(1))?;
    manager.load("counter", PluginSpec::new(&counter))?;
    manager.load("tally", PluginSpec::new(&tally).mode(Mode::Stateful))?;
    let hostile = dir.path().join("hostile.wat");
    std::fs::copy(wat("hostile.wat"), &hostile)?;
    let hostile_limits = Limits::new()
        .fuel(5_000_000)
        .timeout(Duration::from_millis(100))
        .max_memory(2 << 20)
        .max_table_elements(10_000);
    manager.load(
        "hostile",
        PluginSpec::new(&hostile).limits(hostile_limits.clone()),
    )?;
    manager.load(
        "kept-hostile",
        PluginSpec::new(wat("hostile.wat"))
            .mode(Mode::Stateful)
            .limits(hostile_limits),
    )?;
    manager.load("traps", PluginSpec::new(wat("traps.wat")))?;
    let types = repo.join("target/guests/wasm32-wasip2/release/types.wasm");
    let components = types.exists();
    if components {
        manager.load("types", PluginSpec::new(&types))?;
    } else {
        eprintln!(
            "soak: {} is not built (run build-guests); no component calls",
            types.display()
        );
    }

    let shared = Arc::new(Shared {
        manager: manager.clone(),
        stop: AtomicBool::new(false),
        counter: Generations::default(),
        tally: Generations::default(),
        tallies: Mutex::new(BTreeMap::new()),
        outcomes: Mutex::new(BTreeMap::new()),
        failures: Mutex::new(Vec::new()),
        progress: Default::default(),
        components,
    });
    for g in [&shared.counter, &shared.tally] {
        g.serving.store(1, Ordering::SeqCst);
        g.pending.store(1, Ordering::SeqCst);
    }

    println!(
        "soak: {} on {THREADS} threads, reloads every {COUNTER_RELOAD:?} (counter, tally) and {HOSTILE_RELOAD:?} (hostile)",
        plugbox::units::format_duration(duration)
    );
    let start = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("soak-{i}"))
                .spawn(move || worker(&shared, i))
                .expect("spawn a worker")
        })
        .collect();

    let mut rss = Vec::new();
    let mut reloads = 0u64;
    let mut reload_errors = Vec::new();
    let mut generation = 1;
    let mut next_counter = start + COUNTER_RELOAD;
    let mut next_hostile = start + HOSTILE_RELOAD;
    let mut next_sample = start;
    // Per worker: calls completed at the last check, and since when.
    let mut seen = [(0u64, start); THREADS];
    let mut stuck = Vec::new();
    while start.elapsed() < duration && stuck.is_empty() {
        let now = Instant::now();
        if now >= next_sample {
            rss.push((start.elapsed(), rss_bytes()));
            next_sample += Duration::from_secs(1);
            for (i, (count, since)) in seen.iter_mut().enumerate() {
                let done = shared.progress[i].load(Ordering::Relaxed);
                if done != *count {
                    *count = done;
                    *since = now;
                } else if now - *since > STALL {
                    stuck.push(format!(
                        "worker {i} completed no call for {}s (after {done} calls): a call never returned",
                        STALL.as_secs()
                    ));
                }
            }
        }
        if now >= next_counter {
            generation += 1;
            for (name, path, g) in [
                ("counter", &counter, &shared.counter),
                ("tally", &tally, &shared.tally),
            ] {
                g.pending.store(generation, Ordering::SeqCst);
                std::fs::write(path, counter_wat(generation))?;
                match manager.reload(name) {
                    Ok(true) => reloads += 1,
                    Ok(false) => reload_errors.push(format!("{name}: reload saw no change")),
                    Err(e) => reload_errors.push(format!("{name}: {e:#}")),
                }
                g.serving.store(generation, Ordering::SeqCst);
            }
            next_counter += COUNTER_RELOAD;
        }
        if now >= next_hostile {
            let mut text = std::fs::read_to_string(wat("hostile.wat"))?;
            text.push_str(&format!("\n;; reload {generation}\n"));
            std::fs::write(&hostile, text)?;
            match manager.reload("hostile") {
                Ok(true) => reloads += 1,
                Ok(false) => reload_errors.push("hostile: reload saw no change".into()),
                Err(e) => reload_errors.push(format!("hostile: {e:#}")),
            }
            next_hostile += HOSTILE_RELOAD;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    shared.stop.store(true, Ordering::SeqCst);
    let stopped = Instant::now();
    while workers.iter().any(|w| !w.is_finished()) && stopped.elapsed() < JOIN_GRACE {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut panics = 0;
    for (i, w) in workers.into_iter().enumerate() {
        if !w.is_finished() {
            stuck.push(format!(
                "worker {i} did not finish its last call within {}s of the end",
                JOIN_GRACE.as_secs()
            ));
        } else if w.join().is_err() {
            panics += 1;
        }
    }
    let elapsed = start.elapsed();
    rss.push((elapsed, rss_bytes()));

    // Lost calls of the stateful plugin: within each generation, counts
    // are 1..=n with none missing.
    let mut lost = Vec::new();
    let tallies = shared.tallies.lock().expect("tallies lock");
    for (g, seen) in tallies.iter() {
        if !seen.gapless() {
            lost.push(format!(
                "generation {g}: {} calls but counts up to {}",
                seen.n, seen.max
            ));
        }
    }
    let tally_calls: u64 = tallies.values().map(|s| s.n).sum();

    let outcomes = shared.outcomes.lock().expect("outcomes lock");
    let calls: u64 = outcomes.values().map(|o| o.0).sum();
    let mismatches: u64 = outcomes.values().map(|o| o.1).sum();
    println!(
        "calls: {calls} in {:.1}s ({:.0}/s), unexpected outcomes: {mismatches}",
        elapsed.as_secs_f64(),
        calls as f64 / elapsed.as_secs_f64()
    );
    for (op, (n, bad)) in outcomes.iter() {
        println!("  {op:<26} {n:>9} calls, {bad} unexpected");
    }
    println!(
        "reloads: {reloads} ({} generations of counter/tally), reload errors: {}",
        generation,
        reload_errors.len()
    );
    println!(
        "stateful tally: {} calls over {} generations, lost or duplicated: {}",
        tally_calls,
        tallies.len(),
        lost.len()
    );

    // RSS: after warm-up (the first fifth of the run, at least 10 s), the
    // last sample may exceed the first one after warm-up by at most
    // RSS_SLACK.
    let warm = (duration / 5)
        .max(Duration::from_secs(10))
        .min(duration / 2);
    let after_warmup = rss.iter().find(|s| s.0 >= warm).unwrap_or(&rss[0]).1;
    let last = rss.last().map_or(0, |s| s.1);
    let peak = rss.iter().map(|s| s.1).max().unwrap_or(0);
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    println!(
        "rss (MiB): start {:.1}, after warm-up ({}s) {:.1}, end {:.1}, peak {:.1} ({} samples, one a second)",
        mib(rss[0].1),
        warm.as_secs(),
        mib(after_warmup),
        mib(last),
        mib(peak),
        rss.len()
    );
    let tenth = rss.len() / 10;
    let samples: Vec<String> = rss
        .iter()
        .step_by(tenth.max(1))
        .map(|(t, b)| format!("{}s={:.1}", t.as_secs(), mib(*b)))
        .collect();
    println!("rss samples (MiB): {}", samples.join(" "));

    let rss_grew = last > after_warmup + RSS_SLACK;
    let failures = shared.failures.lock().expect("failures lock");
    for f in failures
        .iter()
        .chain(&reload_errors)
        .chain(&lost)
        .chain(&stuck)
    {
        println!("FAIL {f}");
    }
    if panics > 0 {
        println!("FAIL {panics} worker thread(s) panicked");
    }
    if rss_grew {
        println!(
            "FAIL rss grew by {:.1} MiB after warm-up (allowed {:.0} MiB)",
            mib(last - after_warmup),
            mib(RSS_SLACK)
        );
    }
    if !shared.components {
        println!("note: no component calls (types.wasm not built)");
    }
    let ok = mismatches == 0
        && reload_errors.is_empty()
        && lost.is_empty()
        && stuck.is_empty()
        && panics == 0
        && !rss_grew
        && calls > 0;
    println!("soak: {}", if ok { "ok" } else { "FAILED" });
    Ok(ok)
}

/// Resident set size from `/proc/self/statm` (0 where there is none).
fn rss_bytes() -> u64 {
    let page = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page)
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn is_trap(r: &plugbox::Result<impl Sized>, kind: TrapKind) -> bool {
    matches!(r, Err(e) if e.kind() == &ErrorKind::Trap(kind))
}

fn worker(shared: &Shared, index: usize) {
    let m = &shared.manager;
    let mut rng = Rng(0x5eed + index as u64);
    while !shared.stop.load(Ordering::Relaxed) {
        shared.progress[index].fetch_add(1, Ordering::Relaxed);
        let pick = rng.next() % 100;
        match pick {
            0..=24 => {
                let (a, b) = (rng.next() as i32, rng.next() as i32);
                let r = m.call::<(i32, i32), i32>("adder", "add", (a, b));
                let ok = matches!(r, Ok(v) if v == a.wrapping_add(b));
                shared.record("adder.add", ok, || format!("add({a}, {b}) gave {r:?}"));
            }
            25..=39 => {
                let (r, low, high) = shared
                    .counter
                    .window(|| m.call::<(), i64>("counter", "version", ()));
                let ok = matches!(r, Ok(v) if (low as i64..=high as i64).contains(&v));
                shared.record("counter.version", ok, || {
                    format!("gave {r:?}, generations {low}..={high} were serving")
                });
            }
            40..=54 => {
                let (r, low, high) = shared
                    .tally
                    .window(|| m.call::<(), i64>("tally", "count", ()));
                let ok = match r {
                    Ok(v) if v > 0 => {
                        let (g, c) = (v as u64 / 1_000_000, v as u64 % 1_000_000);
                        let fresh = shared
                            .tallies
                            .lock()
                            .expect("tallies lock")
                            .entry(g)
                            .or_default()
                            .insert(c);
                        fresh && (low..=high).contains(&g)
                    }
                    _ => false,
                };
                shared.record("tally.count (stateful)", ok, || {
                    format!(
                        "gave {r:?}, generations {low}..={high} were serving (or a repeated count)"
                    )
                });
            }
            55..=69 => hostile(
                shared,
                if rng.next().is_multiple_of(2) {
                    "hostile"
                } else {
                    "kept-hostile"
                },
                rng.next(),
            ),
            70..=84 => traps(shared, rng.next()),
            _ if shared.components => component(shared, rng.next()),
            _ => {}
        }
    }
}

fn hostile(shared: &Shared, name: &'static str, pick: u64) {
    let m = &shared.manager;
    // (operation, expected outcome, stopped by the deadline, what it gave)
    let (op, ok, deadline, got) = match pick % 5 {
        0 => {
            let r = m.call::<(), ()>(name, "spin", ());
            let ok = is_trap(&r, TrapKind::OutOfFuel) || is_trap(&r, TrapKind::Timeout);
            ("spin", ok, false, format!("{r:?}"))
        }
        1 => {
            // 2 MiB = 32 pages; the module starts with 1.
            let r = m.call::<(), i32>(name, "memory_bomb", ());
            let deadline = is_trap(&r, TrapKind::Timeout);
            (
                "memory_bomb",
                matches!(r, Ok(32)),
                deadline,
                format!("{r:?}"),
            )
        }
        2 => {
            let r = m.call::<i32, i32>(name, "deep", 0);
            let ok = is_trap(&r, TrapKind::StackOverflow) || is_trap(&r, TrapKind::OutOfFuel);
            let deadline = is_trap(&r, TrapKind::Timeout);
            ("deep", ok, deadline, format!("{r:?}"))
        }
        3 => {
            // 100 times the table cap. (A far larger request would run out
            // of fuel first: Wasmtime charges a grow's size in fuel.)
            let r = m.call::<i32, i32>(name, "table_bomb", 1_000_000);
            let deadline = is_trap(&r, TrapKind::Timeout);
            (
                "table_bomb",
                matches!(r, Ok(-1)),
                deadline,
                format!("{r:?}"),
            )
        }
        _ => {
            let r = m.call::<(), i32>(name, "ok", ());
            let deadline = is_trap(&r, TrapKind::Timeout);
            ("ok", matches!(r, Ok(7)), deadline, format!("{r:?}"))
        }
    };
    let key: &'static str = match (name, op) {
        ("hostile", "spin") => "hostile.spin",
        ("hostile", "memory_bomb") => "hostile.memory_bomb",
        ("hostile", "deep") => "hostile.deep",
        ("hostile", "table_bomb") => "hostile.table_bomb",
        ("hostile", _) => "hostile.ok",
        (_, "spin") => "kept-hostile.spin",
        (_, "memory_bomb") => "kept-hostile.memory_bomb",
        (_, "deep") => "kept-hostile.deep",
        (_, "table_bomb") => "kept-hostile.table_bomb",
        _ => "kept-hostile.ok",
    };
    // The hostile plugins run under a 100 ms deadline: on a loaded machine
    // any of their calls may reach it first, which is the limit working.
    if deadline {
        shared.record("hostile.*: ended by the deadline", true, String::new);
    }
    shared.record(key, ok || deadline, || got);
}

fn traps(shared: &Shared, pick: u64) {
    let m = &shared.manager;
    let cases: [(&'static str, TrapKind); 7] = [
        ("unreachable", TrapKind::Unreachable),
        ("overflow", TrapKind::IntegerOverflow),
        ("bad_conversion", TrapKind::BadConversionToInteger),
        ("oob_memory", TrapKind::MemoryOutOfBounds),
        ("null_call", TrapKind::IndirectCallToNull),
        ("bad_signature", TrapKind::BadSignature),
        ("oob_table", TrapKind::TableOutOfBounds),
    ];
    let (func, kind) = cases[(pick % cases.len() as u64) as usize];
    let r = m.call_json("traps", func, &[]);
    let ok = matches!(&r, Err(e) if e.kind() == &ErrorKind::Trap(kind));
    shared.record("traps.*", ok, || {
        format!("{func} gave {r:?}, expected {kind:?}")
    });
}

fn component(shared: &Shared, pick: u64) {
    let m = &shared.manager;
    let iface = "plugbox:test/types#";
    match pick % 4 {
        0 => {
            let s = format!("soak {pick}");
            let r = m.call_json("types", &format!("{iface}echo-string"), &[json!(s)]);
            let ok = matches!(&r, Ok(v) if v == &[json!(s)]);
            shared.record("types.echo-string", ok, || format!("{r:?}"));
        }
        1 => {
            let (a, b) = (pick as u32, (pick >> 32) as u32);
            let r = m.call_json("types", &format!("{iface}add"), &[json!(a), json!(b)]);
            let ok = matches!(&r, Ok(v) if v == &[json!(a.wrapping_add(b))]);
            shared.record("types.add", ok, || format!("add({a}, {b}) gave {r:?}"));
        }
        2 => {
            let r = m.call_json("types", &format!("{iface}fail"), &[json!("no")]);
            let ok = matches!(&r, Ok(v) if v == &[json!({"err": "no"})]);
            shared.record("types.fail", ok, || format!("{r:?}"));
        }
        _ => {
            // A bad argument is refused before the guest runs.
            let r = m.call_json("types", &format!("{iface}echo-u8"), &[json!(300)]);
            let ok = matches!(&r, Err(e) if e.kind() == &ErrorKind::InvalidArgument);
            shared.record("types.echo-u8 (bad arg)", ok, || format!("{r:?}"));
        }
    }
}
