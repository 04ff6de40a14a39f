//! `plugbox bench`: call one export many times and report the latency
//! distribution and throughput, beside raw Wasmtime doing the same work
//! with its best-practice setup (core modules without imports).

mod raw;

use crate::flags::PluginFlags;
use anyhow::{Context, Result};
use clap::Parser;
use plugbox::Plugin;
use plugbox::text::printable;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Call one export many times; print min, median, p99 and calls/s
#[derive(Parser, Debug)]
#[command(
    after_help = "Arguments are parsed as for `plugbox call`. Each thread makes --iterations \
timed calls after a warm-up of a tenth as many; --mode stateless (the default) makes a fresh \
instance per call, --mode stateful keeps one instance per thread. For a core module without imports, the same \
calls are measured on raw Wasmtime in the same run (a pooling engine, InstancePre, the export \
resolved once), and the ratio of the medians is printed."
)]
pub struct BenchCommand {
    /// The plugin (.wasm, .wat, or .cwasm with --allow-precompiled)
    #[arg(value_name = "PLUGIN")]
    file: PathBuf,

    /// The exported function to call
    #[arg(value_name = "FUNC")]
    func: String,

    /// Arguments for the function
    #[arg(value_name = "ARGS", allow_negative_numbers = true)]
    args: Vec<String>,

    /// Timed calls per thread
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    iterations: u32,

    /// Threads calling at once
    #[arg(long, value_name = "T", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,

    /// Print the figures as one JSON object
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    flags: PluginFlags,
}

/// How each call gets its instance: the plugin's `--mode` (stateless, a
/// fresh instance per call; stateful, one kept instance per thread).
pub use plugbox::Mode;

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Stateless => "stateless",
        Mode::Stateful => "stateful",
    }
}

/// The shape of a run, shared by plugbox and the raw baseline.
#[derive(Clone, Copy)]
pub struct Shape {
    pub mode: Mode,
    pub threads: usize,
    pub iterations: usize,
}

impl Shape {
    fn warmup(self) -> usize {
        (self.iterations / 10).max(1)
    }

    /// Runs `call` on every thread (each with its own state from `setup`),
    /// warm-up first, and times each call.
    pub fn measure<S>(
        self,
        setup: impl Fn() -> Result<S> + Sync,
        call: impl Fn(&mut S) -> Result<()> + Sync,
    ) -> Result<Figures> {
        // Every thread warms up, then the timed part starts at once.
        let warm = std::sync::Barrier::new(self.threads + 1);
        let mut start = Instant::now();
        let mut rss_warm = None;
        let per_thread: Vec<Result<Vec<u64>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..self.threads)
                .map(|_| {
                    scope.spawn(|| -> Result<Vec<u64>> {
                        // Written before the warm-up so that its pages are
                        // resident in the first RSS reading: the figure
                        // after the calls then shows only what they added.
                        let mut samples = vec![u64::MAX; self.iterations];
                        let warmed = setup().and_then(|mut state| {
                            for _ in 0..self.warmup() {
                                call(&mut state)?;
                            }
                            Ok(state)
                        });
                        warm.wait();
                        let mut state = warmed?;
                        for sample in &mut samples {
                            let t = Instant::now();
                            call(&mut state)?;
                            *sample = t.elapsed().as_nanos() as u64;
                        }
                        Ok(samples)
                    })
                })
                .collect();
            warm.wait();
            rss_warm = rss_bytes();
            start = Instant::now();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a bench thread panicked")))
                })
                .collect()
        });
        let wall = start.elapsed();
        // Read before the samples are gathered into one more buffer.
        let rss = rss_warm.zip(rss_bytes());
        let mut samples = Vec::with_capacity(self.threads * self.iterations);
        for s in per_thread {
            samples.extend(s?);
        }
        Ok(Figures::new(samples, wall, rss))
    }
}

/// The process's resident set size (Linux), for a check that it stays flat.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Latency distribution and throughput of one run.
pub struct Figures {
    min: u64,
    median: u64,
    p99: u64,
    calls_per_sec: f64,
    /// Resident set size after the warm-up and at the end.
    rss: Option<(u64, u64)>,
}

impl Figures {
    fn new(mut samples: Vec<u64>, wall: Duration, rss: Option<(u64, u64)>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Self {
            min: samples[0],
            median: at(0.5),
            p99: at(0.99),
            calls_per_sec: samples.len() as f64 / wall.as_secs_f64(),
            rss,
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "min_ns": self.min,
            "median_ns": self.median,
            "p99_ns": self.p99,
            "calls_per_sec": self.calls_per_sec.round(),
            "rss_after_warmup": self.rss.map(|r| r.0),
            "rss_at_end": self.rss.map(|r| r.1),
        })
    }

    fn row(&self, name: &str) -> String {
        let t = |ns: u64| format!("{:.2?}", Duration::from_nanos(ns));
        format!(
            "{name:<14} {:>10} {:>10} {:>10} {:>12.0}",
            t(self.min),
            t(self.median),
            t(self.p99),
            self.calls_per_sec
        )
    }
}

impl BenchCommand {
    pub fn execute(self) -> Result<()> {
        let plugin = self.flags.load_for_bench(&self.file)?;
        let shape = Shape {
            mode: self.flags.spec.get_mode(),
            threads: self.threads.into(),
            iterations: self.iterations as usize,
        };
        let ours = if plugin.is_component() {
            self.components(&plugin, shape)?
        } else {
            self.modules(&plugin, shape)?
        };
        let baseline = match (plugin.is_component(), self.flags.source(&self.file)?) {
            (false, source) => raw::baseline(&plugin, &source, &self.func, &self.args, shape)?,
            (true, _) => Err("a component (the baseline is for core modules)".to_string()),
        };
        self.print(&ours, &baseline, shape)
    }

    fn modules(&self, plugin: &Plugin, shape: Shape) -> Result<Figures> {
        let ty = plugin.func_type(&self.func)?;
        let args = plugbox::values::parse_args(&self.func, &ty, &self.args)?;
        match shape.mode {
            Mode::Stateless => shape.measure(
                || Ok(()),
                |()| Ok(plugin.call_values(&self.func, &args).map(drop)?),
            ),
            Mode::Stateful => shape.measure(
                || Ok(plugin.instantiate()?),
                |inst| Ok(inst.call_values(&self.func, &args).map(drop)?),
            ),
        }
    }

    fn components(&self, plugin: &Plugin, shape: Shape) -> Result<Figures> {
        let args = self
            .args
            .iter()
            .map(|w| {
                serde_json::from_str(w)
                    .with_context(|| format!("argument `{w}` is not a JSON value"))
            })
            .collect::<Result<Vec<serde_json::Value>>>()?;
        match shape.mode {
            Mode::Stateless => shape.measure(
                || Ok(()),
                |()| Ok(plugin.call_json(&self.func, &args).map(drop)?),
            ),
            Mode::Stateful => shape.measure(
                || Ok(plugin.instantiate()?),
                |inst| Ok(inst.call_json(&self.func, &args).map(drop)?),
            ),
        }
    }

    fn print(
        &self,
        ours: &Figures,
        baseline: &Result<Figures, String>,
        shape: Shape,
    ) -> Result<()> {
        let ratio = baseline
            .as_ref()
            .ok()
            .map(|raw| ours.median as f64 / raw.median.max(1) as f64);
        if self.json {
            let json = serde_json::json!({
                "plugin": self.file.display().to_string(),
                "func": self.func,
                "mode": mode_name(shape.mode),
                "threads": shape.threads,
                "iterations": shape.iterations,
                "plugbox": ours.json(),
                "raw": baseline.as_ref().ok().map(Figures::json),
                "raw_missing": baseline.as_ref().err(),
                "median_ratio": ratio,
            });
            crate::output::outln!("{json}")?;
            return Ok(());
        }
        crate::output::outln!(
            "`{}` of {}: {} calls x {} thread(s), {}",
            printable(&self.func),
            printable(&self.file.display().to_string()),
            shape.iterations,
            shape.threads,
            mode_name(shape.mode)
        )?;
        crate::output::outln!(
            "{:<14} {:>10} {:>10} {:>10} {:>12}",
            "",
            "min",
            "median",
            "p99",
            "calls/s"
        )?;
        crate::output::outln!("{}", ours.row("plugbox"))?;
        if let Some((warm, end)) = ours.rss {
            let mib = |b: u64| b as f64 / f64::from(1 << 20);
            crate::output::outln!(
                "{:<14} {:.1} MiB after the warm-up, {:.1} MiB at the end",
                "plugbox RSS",
                mib(warm),
                mib(end)
            )?;
        }
        match (baseline, ratio) {
            (Ok(raw), Some(ratio)) => {
                crate::output::outln!("{}", raw.row("raw wasmtime"))?;
                crate::output::outln!("median ratio plugbox/raw: {ratio:.2}x")?;
            }
            (Err(why), _) => crate::output::outln!("no raw baseline: {why}")?,
            (Ok(_), None) => {}
        }
        Ok(())
    }
}
