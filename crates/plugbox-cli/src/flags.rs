//! Flag groups shared by several subcommands, each filling the library's own
//! configuration structs.

use crate::exit::UsageError;
use anyhow::Result;
use clap::Args;
use plugbox::{
    DirGrant, Engine, EngineConfig, FuelRetry, Limits, Manifest, OptLevel, Plugin, PluginBuilder,
    Sandbox, Stdio, Strategy, Wasm, WasmFeature,
};
use std::path::PathBuf;
use std::time::Duration;

/// Engine flags: compiler, features, allocation, caching, trust.
#[derive(Args, Debug, Clone, Default)]
pub struct EngineFlags {
    /// Optimisation level: none, speed or speed-and-size [default: speed]
    #[arg(long, value_name = "LEVEL", value_parser = parse_opt_level)]
    pub opt_level: Option<OptLevel>,

    /// Compiler: cranelift or winch [default: cranelift]
    #[arg(long, value_name = "COMPILER", value_parser = parse_strategy)]
    pub compiler: Option<Strategy>,

    /// Enable a WebAssembly proposal (repeatable), e.g. `--enable wide-arithmetic`
    #[arg(long = "enable", value_name = "FEATURE")]
    pub enable: Vec<WasmFeature>,

    /// Disable a WebAssembly proposal (repeatable), e.g. `--disable simd`
    #[arg(long = "disable", value_name = "FEATURE")]
    pub disable: Vec<WasmFeature>,

    /// Use the pooling instance allocator
    #[arg(long)]
    pub pooling: bool,

    /// Compilation cache directory (also trusted for precompiled artifacts)
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Largest module accepted, e.g. `16MiB`, or `none` [default: 64MiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_optional_size)]
    pub max_module_size: Option<OrNone<u64>>,

    /// Maximum wasm stack, e.g. `256KiB` [default: 512KiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_stack: Option<u64>,
}

impl EngineFlags {
    /// The default engine configuration with these flags applied; `fuel`
    /// turns on fuel metering.
    pub fn config(&self, fuel: bool) -> EngineConfig {
        self.apply(EngineConfig::new(), fuel)
    }

    /// `base` (e.g. a manifest's engine) with the flags that were given
    /// applied on top.
    pub fn apply(&self, base: EngineConfig, fuel: bool) -> EngineConfig {
        let fuel = fuel || base.get_consume_fuel();
        let mut c = base.consume_fuel(fuel);
        if let Some(level) = self.opt_level {
            c = c.opt_level(level);
        }
        if let Some(s) = self.compiler {
            c = c.strategy(s);
        }
        for f in &self.enable {
            c = c.feature(*f, true);
        }
        for f in &self.disable {
            c = c.feature(*f, false);
        }
        if self.pooling {
            c = c.pooling(true);
        }
        if let Some(dir) = &self.cache_dir {
            c = c.cache_dir(dir);
        }
        if let Some(size) = self.max_module_size {
            c = c.max_module_size(size.0);
        }
        if let Some(stack) = self.max_stack {
            c = c.max_wasm_stack(stack);
        }
        c
    }

    pub fn engine(&self, fuel: bool) -> Result<Engine> {
        Ok(Engine::new(&self.config(fuel))?)
    }
}

/// Per-call limits, shared by `run` and `call`.
#[derive(Args, Debug, Clone, Default)]
pub struct LimitFlags {
    /// Instruction budget (fuel) per call; turns on fuel metering
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,

    /// Wall-clock timeout per call, e.g. `250ms`, `2s`, or `none` [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = parse_optional_duration)]
    pub timeout: Option<OrNone<Duration>>,

    /// Linear memory cap, e.g. `64MiB`, or `none` [default: 256MiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_optional_size)]
    pub max_memory: Option<OrNone<u64>>,

    /// Table element cap [default: 100000]
    #[arg(long, value_name = "N")]
    pub max_table_elements: Option<u64>,

    /// Cap on instances, memories and tables per store [default: 100]
    #[arg(long, value_name = "N")]
    pub max_instances: Option<u64>,

    /// Trap when memory or table growth is refused (instead of returning -1)
    #[arg(long)]
    pub trap_on_grow_failure: bool,

    /// Retry an out-of-fuel call up to N attempts, with 4x the fuel each time
    #[arg(long, value_name = "N", requires = "fuel")]
    pub retry_fuel: Option<u32>,

    /// Ceiling on one attempt's fuel when retrying [default: none; attempts bound it]
    #[arg(long, value_name = "N", requires = "retry_fuel")]
    pub max_fuel: Option<u64>,

    /// Print fuel consumed, duration and memory peak to stderr
    #[arg(long)]
    pub stats: bool,
}

impl LimitFlags {
    /// Whether the engine needs fuel metering.
    pub fn needs_fuel(&self) -> bool {
        self.fuel.is_some() || self.stats
    }

    /// `base` (a manifest's limits, or the defaults) with the flags that were
    /// given applied on top.
    pub fn apply(&self, base: Limits) -> Limits {
        let mut l = base;
        if let Some(fuel) = self.fuel {
            l = l.fuel(fuel);
        }
        if let Some(t) = self.timeout {
            l = l.timeout(t.0);
        }
        if let Some(m) = self.max_memory {
            l = l.max_memory(m.0);
        }
        if let Some(n) = self.max_table_elements {
            l = l.max_table_elements(n);
        }
        if let Some(n) = self.max_instances {
            l = l.max_instances(n);
        }
        if self.trap_on_grow_failure {
            l = l.trap_on_grow_failure(true);
        }
        if let (Some(attempts), Some(_)) = (self.retry_fuel, self.fuel) {
            let ceiling = self.max_fuel.unwrap_or(u64::MAX);
            l = l.retry(FuelRetry::new(attempts, ceiling));
        }
        l
    }

    /// Prints the stats of a call (with `--stats`), whether it succeeded
    /// or failed, and passes its value on.
    pub fn report<T>(
        &self,
        result: plugbox::Result<(T, plugbox::CallStats)>,
    ) -> plugbox::Result<T> {
        let stats = match &result {
            Ok((_, stats)) => Some(*stats),
            Err(e) => e.call_stats(),
        };
        if let Some(stats) = stats {
            self.print_stats(&stats);
        }
        result.map(|(value, _)| value)
    }

    fn print_stats(&self, stats: &plugbox::CallStats) {
        if !self.stats {
            return;
        }
        if let Some(fuel) = stats.fuel_consumed {
            eprintln!("fuel consumed: {fuel}");
        }
        eprintln!("duration: {:.3?}", stats.duration);
        eprintln!(
            "memory peak: {}",
            plugbox::units::format_bytes(stats.memory_peak)
        );
        if stats.attempts > 1 {
            eprintln!("attempts: {}", stats.attempts);
        }
    }
}

/// WASI grants, shared by `run` and `call`.
#[derive(Args, Debug, Clone, Default)]
pub struct WasiFlags {
    /// Grant a directory read-write: HOST[::GUEST] (append `:ro` for read-only)
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    pub dirs: Vec<String>,

    /// Grant a directory read-only: HOST[::GUEST]
    #[arg(long = "ro-dir", value_name = "HOST[::GUEST]")]
    pub ro_dirs: Vec<String>,

    /// Set an environment variable for the guest: KEY=VALUE (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,

    /// Pass the host's whole environment to the guest
    #[arg(long)]
    pub inherit_env: bool,

    /// Do not connect the guest's stdin to plugbox's
    #[arg(long)]
    pub no_stdin: bool,

    /// Allow TCP, UDP and name lookups (WASI preview 2 components only)
    #[arg(long)]
    pub allow_network: bool,
}

impl WasiFlags {
    /// `base` (a manifest's grants, or nothing) with these grants added;
    /// stdio is inherited.
    pub fn apply(&self, base: Sandbox) -> Result<Sandbox> {
        let mut s = base;
        if self.inherit_env {
            s = s.inherit_env(true);
        }
        if self.allow_network {
            s = s.network(true);
        }
        s = s
            .inherit_stdin(!self.no_stdin)
            .stdout(Stdio::Inherit)
            .stderr(Stdio::Inherit);
        for spec in &self.dirs {
            let (spec, ro) = match spec.strip_suffix(":ro") {
                Some(s) => (s, true),
                None => (spec.strip_suffix(":rw").unwrap_or(spec), false),
            };
            s = s.dir(DirGrant::parse(spec, ro).map_err(UsageError)?);
        }
        for spec in &self.ro_dirs {
            s = s.dir(DirGrant::parse(spec, true).map_err(UsageError)?);
        }
        for (k, v) in &self.env {
            s = s.env(k, v);
        }
        Ok(s)
    }
}

/// Everything needed to load a plugin for `run` and `call`: where it comes
/// from (a file, or a manifest entry), trust, engine, limits and grants.
#[derive(Args, Debug, Clone, Default)]
pub struct PluginFlags {
    /// Take the plugin from this manifest: PLUGIN is then a plugin name, and
    /// the manifest's engine, limits and grants apply (flags override them)
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Accept a precompiled .cwasm (native code: only if you trust it)
    #[arg(long)]
    pub allow_precompiled: bool,

    #[command(flatten)]
    pub engine: EngineFlags,

    #[command(flatten)]
    pub limits: LimitFlags,

    #[command(flatten)]
    pub wasi: WasiFlags,
}

impl PluginFlags {
    /// Builds the engine and loads the plugin: the file `plugin`, or the
    /// manifest entry of that name.
    pub fn load(&self, plugin: &std::path::Path) -> Result<Plugin> {
        let Some(manifest_path) = &self.manifest else {
            let engine = self.engine.engine(self.limits.needs_fuel())?;
            let builder: PluginBuilder = Plugin::builder(&engine)
                .limits(self.limits.apply(Limits::new()))
                .sandbox(self.wasi.apply(Sandbox::new())?)
                .allow_precompiled(self.allow_precompiled);
            return Ok(builder.from_file(plugin)?);
        };
        let manifest = Manifest::from_file(manifest_path)?;
        let name = plugin.to_string_lossy();
        let spec = manifest.plugin(&name)?;
        let limits = self.limits.apply(spec.limits.clone());
        let fuel = limits.get_fuel().is_some() || self.limits.stats;
        let engine = Engine::new(&self.engine.apply(manifest.engine_config(), fuel))?;
        let wasm = Wasm::from_file(&engine, &spec.source)?;
        spec.check_pin(&name, &wasm)?;
        let sandbox = spec.sandbox.to_sandbox(&manifest.base_dir)?;
        let plugin = Plugin::builder(&engine)
            .name(name.as_ref())
            .limits(limits)
            .sandbox(self.wasi.apply(sandbox)?)
            .config(spec.config.clone())
            .allow_precompiled(self.allow_precompiled || spec.allow_precompiled)
            .build(wasm)?;
        Ok(plugin)
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    plugbox::units::parse_size(s)
}

/// A limit value, or `none` to disable the limit.
#[derive(Debug, Clone, Copy)]
pub struct OrNone<T>(pub Option<T>);

fn parse_optional_size(s: &str) -> Result<OrNone<u64>, String> {
    if s == "none" {
        Ok(OrNone(None))
    } else {
        parse_size(s).map(|v| OrNone(Some(v)))
    }
}

fn parse_optional_duration(s: &str) -> Result<OrNone<Duration>, String> {
    if s == "none" {
        Ok(OrNone(None))
    } else {
        plugbox::units::parse_duration(s).map(|v| OrNone(Some(v)))
    }
}

fn parse_opt_level(s: &str) -> Result<OptLevel, String> {
    match s {
        "none" | "0" => Ok(OptLevel::None),
        "speed" | "2" => Ok(OptLevel::Speed),
        "speed-and-size" | "s" => Ok(OptLevel::SpeedAndSize),
        _ => Err(format!(
            "unknown optimisation level `{s}` (use none, speed or speed-and-size)"
        )),
    }
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    match s {
        "cranelift" => Ok(Strategy::Cranelift),
        "winch" => Ok(Strategy::Winch),
        _ => Err(format!("unknown compiler `{s}` (use cranelift or winch)")),
    }
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!(
            "invalid environment variable `{s}`: expected KEY=VALUE"
        )),
    }
}
