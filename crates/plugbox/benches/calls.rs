//! plugbox's call paths beside raw Wasmtime doing the same work, measured
//! in the same run: `cargo bench -p plugbox --bench calls`. The raw side is
//! Wasmtime's best-practice setup: a pooling engine, the module linked
//! once into an `InstancePre`, exports resolved once, typed functions.
//! `scripts/bench.sh` runs this with and without `RUST_BACKTRACE=1` and
//! prints the ratios recorded in BENCHMARKS.md.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use plugbox::{Engine, EngineConfig, Mode, Plugin, PluginManager, PluginSpec};
use std::hint::black_box;
use std::time::{Duration, Instant};
use wasmtime::{InstancePre, Linker, Module, Store, TypedFunc};

const ADD: &str = r#"(module
  (func (export "add") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add)
  (func (export "work") (param i64) (result i64) (local i64)
    (loop $l
      (local.set 1 (i64.add (local.get 1) (local.get 0)))
      (local.set 0 (i64.sub (local.get 0) (i64.const 1)))
      (br_if $l (i64.ne (local.get 0) (i64.const 0))))
    local.get 1))"#;

/// Raw Wasmtime, set up for speed.
struct Raw {
    engine: wasmtime::Engine,
    pre: InstancePre<()>,
    add: wasmtime::ModuleExport,
}

impl Raw {
    fn new(wat: &str) -> Self {
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        pool.total_core_instances(64)
            .total_memories(64)
            .total_tables(64);
        let mut config = wasmtime::Config::new();
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        let engine = wasmtime::Engine::new(&config).unwrap();
        let module = Module::new(&engine, wat).unwrap();
        let add = module.get_export_index("add").unwrap();
        let pre = Linker::new(&engine).instantiate_pre(&module).unwrap();
        Self { engine, pre, add }
    }

    /// One stateless call: a fresh instance from the pool.
    fn stateless(&self) -> i32 {
        let mut store = Store::new(&self.engine, ());
        let instance = self.pre.instantiate(&mut store).unwrap();
        let f = instance
            .get_module_export(&mut store, &self.add)
            .and_then(wasmtime::Extern::into_func)
            .unwrap()
            .typed::<(i32, i32), i32>(&store)
            .unwrap();
        f.call(&mut store, (1, 2)).unwrap()
    }

    fn kept(&self) -> (Store<()>, wasmtime::Instance) {
        let mut store = Store::new(&self.engine, ());
        let instance = self.pre.instantiate(&mut store).unwrap();
        (store, instance)
    }
}

fn plugin(engine: &Engine) -> Plugin {
    Plugin::from_bytes(engine, ADD).unwrap()
}

fn stateless(c: &mut Criterion) {
    let raw = Raw::new(ADD);
    let engine = Engine::new(&EngineConfig::new()).unwrap();
    let p = plugin(&engine);
    let mut g = c.benchmark_group("stateless add");
    g.bench_function("raw pooling + InstancePre", |b| {
        b.iter(|| black_box(raw.stateless()))
    });
    g.bench_function("plugbox Plugin::call (default config)", |b| {
        b.iter(|| black_box(p.call::<(i32, i32), i32>("add", (1, 2)).unwrap()))
    });
    let m = PluginManager::new(&engine);
    m.load("add", PluginSpec::new(write_tmp())).unwrap();
    g.bench_function("plugbox PluginManager::call", |b| {
        b.iter(|| black_box(m.call::<(i32, i32), i32>("add", "add", (1, 2)).unwrap()))
    });
    g.finish();
}

/// ADD in a file, for the manager (which loads from a path).
fn write_tmp() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("plugbox-bench-{}.wat", std::process::id()));
    std::fs::write(&path, ADD).unwrap();
    path
}

fn stateful(c: &mut Criterion) {
    let raw = Raw::new(ADD);
    let engine = Engine::new(&EngineConfig::new()).unwrap();
    let p = plugin(&engine);
    let mut g = c.benchmark_group("stateful add");
    let (mut store, instance) = raw.kept();
    let typed: TypedFunc<(i32, i32), i32> = instance.get_typed_func(&mut store, "add").unwrap();
    g.bench_function("raw TypedFunc::call", |b| {
        b.iter(|| black_box(typed.call(&mut store, (1, 2)).unwrap()))
    });
    // Like for like with plugbox's limits: an engine with epoch
    // interruption, a deadline armed before every call.
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    let epoch_engine = wasmtime::Engine::new(&config).unwrap();
    let module = Module::new(&epoch_engine, ADD).unwrap();
    let mut epoch_store = Store::new(&epoch_engine, ());
    let epoch_instance = wasmtime::Instance::new(&mut epoch_store, &module, &[]).unwrap();
    let epoch_typed: TypedFunc<(i32, i32), i32> = epoch_instance
        .get_typed_func(&mut epoch_store, "add")
        .unwrap();
    g.bench_function("raw TypedFunc::call, epoch deadline armed", |b| {
        b.iter(|| {
            epoch_store.set_epoch_deadline(1);
            black_box(epoch_typed.call(&mut epoch_store, (1, 2)).unwrap())
        })
    });
    let func = instance.get_func(&mut store, "add").unwrap();
    let args = [wasmtime::Val::I32(1), wasmtime::Val::I32(2)];
    let mut out = [wasmtime::Val::I32(0)];
    g.bench_function("raw Func::call", |b| {
        b.iter(|| {
            func.call(&mut store, &args, &mut out).unwrap();
            black_box(out[0].unwrap_i32())
        })
    });
    let mut inst = p.instantiate().unwrap();
    let handle = inst.func::<(i32, i32), i32>("add").unwrap();
    g.bench_function("plugbox FuncHandle::call", |b| {
        b.iter(|| black_box(handle.call(&mut inst, (1, 2)).unwrap()))
    });
    g.bench_function("plugbox Instance::call by name", |b| {
        b.iter(|| black_box(inst.call::<(i32, i32), i32>("add", (1, 2)).unwrap()))
    });
    let json = [serde_json::json!(1), serde_json::json!(2)];
    g.bench_function("plugbox Instance::call_json", |b| {
        b.iter(|| black_box(inst.call_json("add", &json).unwrap()))
    });
    let m = PluginManager::new(&engine);
    m.load("add", PluginSpec::new(write_tmp()).mode(Mode::Stateful))
        .unwrap();
    g.bench_function("plugbox PluginManager::call (stateful)", |b| {
        b.iter(|| black_box(m.call::<(i32, i32), i32>("add", "add", (1, 2)).unwrap()))
    });
    g.finish();
}

/// Calls per second with one and two threads making stateless calls: the
/// time per iteration is the wall time of `threads` calls made at once.
fn threads(c: &mut Criterion) {
    let raw = Raw::new(ADD);
    let engine = Engine::new(&EngineConfig::new()).unwrap();
    let p = plugin(&engine);
    let mut g = c.benchmark_group("stateless add, threads");
    for threads in [1usize, 2] {
        g.bench_with_input(BenchmarkId::new("raw", threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                on_threads(t, iters, || {
                    black_box(raw.stateless());
                })
            })
        });
        g.bench_with_input(BenchmarkId::new("plugbox", threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                on_threads(t, iters, || {
                    black_box(p.call::<(i32, i32), i32>("add", (1, 2)).unwrap());
                })
            })
        });
    }
    g.finish();
}

fn on_threads(threads: usize, iters: u64, call: impl Fn() + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| (0..iters).for_each(|_| call()));
        }
    });
    start.elapsed()
}

/// A CPU-bound call under the default limits (epoch deadline armed).
fn cpu(c: &mut Criterion) {
    let raw = Raw::new(ADD);
    let engine = Engine::new(&EngineConfig::new()).unwrap();
    let p = plugin(&engine);
    let mut g = c.benchmark_group("stateful work(100000)");
    let (mut store, instance) = raw.kept();
    let work: TypedFunc<i64, i64> = instance.get_typed_func(&mut store, "work").unwrap();
    g.bench_function("raw TypedFunc::call", |b| {
        b.iter(|| black_box(work.call(&mut store, 100_000).unwrap()))
    });
    let mut inst = p.instantiate().unwrap();
    let handle = inst.func::<i64, i64>("work").unwrap();
    g.bench_function("plugbox FuncHandle::call", |b| {
        b.iter(|| black_box(handle.call(&mut inst, 100_000).unwrap()))
    });
    g.finish();
}

/// A generated module of a few MB: `count` functions of arithmetic.
fn big_module(count: usize) -> Vec<u8> {
    let mut wat = String::from("(module (memory 1)\n");
    for i in 0..count {
        wat.push_str(&format!(
            "(func (export \"f{i}\") (param i32) (result i32) (local i32)\n"
        ));
        for k in 0..40 {
            wat.push_str(&format!(
                "local.get 0 i32.const {k} i32.add i32.load offset={} local.set 1 local.get 1 local.get 0 i32.xor local.set 0\n",
                (k * 4) % 4096
            ));
        }
        wat.push_str("local.get 0)\n");
    }
    wat.push(')');
    let engine = Engine::new(&EngineConfig::new().max_module_size(None)).unwrap();
    plugbox::Wasm::from_bytes(&engine, wat)
        .unwrap()
        .bytes()
        .to_vec()
}

fn cache(c: &mut Criterion) {
    let bytes = big_module(4000);
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group(format!(
        "load a {:.1} MiB module",
        bytes.len() as f64 / (1 << 20) as f64
    ));
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let ours = Engine::new(&EngineConfig::new().cache_dir(dir.path().join("plugbox"))).unwrap();
    Plugin::from_bytes(&ours, &bytes).unwrap();
    g.bench_function("plugbox cache hit", |b| {
        b.iter(|| black_box(Plugin::from_bytes(&ours, &bytes).unwrap()))
    });
    // The table of exports by name is built at the first lookup: a hit
    // followed by one, for the whole cost.
    g.bench_function("plugbox cache hit + first lookup by name", |b| {
        b.iter(|| {
            let p = Plugin::from_bytes(&ours, &bytes).unwrap();
            black_box(p.func_type("f0").unwrap())
        })
    });
    let cache_config = dir.path().join("wasmtime-cache.toml");
    std::fs::write(
        &cache_config,
        format!(
            "[cache]\ndirectory = \"{}\"\n",
            dir.path().join("wasmtime").display()
        ),
    )
    .unwrap();
    let mut config = wasmtime::Config::new();
    config.cache(Some(
        wasmtime::Cache::from_file(Some(&cache_config)).unwrap(),
    ));
    let theirs = wasmtime::Engine::new(&config).unwrap();
    Module::new(&theirs, &bytes).unwrap();
    g.bench_function("wasmtime cache hit", |b| {
        b.iter(|| black_box(Module::new(&theirs, &bytes).unwrap()))
    });
    let cold = Engine::new(&EngineConfig::new()).unwrap();
    g.bench_function("cold compile (plugbox, no cache)", |b| {
        b.iter(|| black_box(Plugin::from_bytes(&cold, &bytes).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, stateless, stateful, threads, cpu, cache);
criterion_main!(benches);
