//! Flag groups shared by several subcommands. They are the library's own
//! configuration schema (`EngineConfig`, `PluginSpec` with its `Limits` and
//! `Sandbox`) parsed by clap: the same structs, names and defaults as the
//! manifest, and flags override the manifest by merging over it.

use anyhow::Result;
use clap::Args;
use plugbox::{
    Engine, EngineConfig, HostFunctions, KvConfig, Manifest, Plugin, PluginSpec, Sandbox, Stdin,
    Stdio,
};
use std::path::{Path, PathBuf};

/// The pool of `run` and `call`, unless `--pool-instances` says.
const ONE_SHOT_POOL_INSTANCES: u32 = 256;

/// Everything needed to load a plugin for `run` and `call`: where it comes
/// from (a file, or a manifest entry), the engine, and the plugin's
/// settings.
#[derive(Args, Debug, Clone, Default)]
pub struct PluginFlags {
    /// Take the plugin from this manifest: PLUGIN is then a plugin name, and
    /// the manifest's engine, limits and grants apply (flags override them)
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Print fuel consumed, duration, memory peak and attempts to stderr
    #[arg(long)]
    pub stats: bool,

    /// Compile without the compile cache (by default: --cache-dir, else
    /// $PLUGBOX_CACHE_DIR, else $XDG_CACHE_HOME/plugbox or ~/.cache/plugbox)
    #[arg(long)]
    pub no_cache: bool,

    #[command(flatten)]
    pub engine: EngineConfig,

    #[command(flatten)]
    pub spec: PluginSpec,
}

impl PluginFlags {
    /// Builds the engine and loads the plugin: the file `plugin`, or the
    /// manifest entry of that name. Layers, each over the previous: the
    /// CLI's own defaults (stdio inherited; a file's key-value namespace is
    /// its stem, so that it does not depend on the path it is called by),
    /// the manifest, the flags.
    pub fn load(&self, plugin: &Path) -> Result<Plugin> {
        self.load_pooled(plugin, Some(ONE_SHOT_POOL_INSTANCES))
    }

    /// As [`load`](Self::load), with the engine's own pool size (or
    /// `--pool-instances`): for `bench`, whose threads may hold hundreds of
    /// core instances at once (a component holds one per core module).
    pub fn load_for_bench(&self, plugin: &Path) -> Result<Plugin> {
        self.load_pooled(plugin, None)
    }

    fn load_pooled(&self, plugin: &Path, pool_instances: Option<u32>) -> Result<Plugin> {
        let cli_defaults = PluginSpec::new(plugin).sandbox(
            Sandbox::new()
                .stdin(Stdin::Inherit)
                .stdout(Stdio::Inherit)
                .stderr(Stdio::Inherit),
        );
        let (name, engine, spec) = match &self.manifest {
            None => {
                let stem = plugin
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    // A stem that is no valid namespace keeps the default.
                    .filter(|s| {
                        !s.is_empty()
                            && s.len() <= 128
                            && !s.chars().any(|c| c.is_control() || c == '{' || c == '}')
                    });
                let spec = match stem {
                    Some(stem) => cli_defaults.kv(KvConfig::new().namespace(stem)),
                    None => cli_defaults,
                };
                (plugin.display().to_string(), EngineConfig::new(), spec)
            }
            Some(path) => {
                let manifest = Manifest::from_file(path)?;
                let name = plugin.to_string_lossy().into_owned();
                let entry = manifest.plugin(&name)?;
                let spec = cli_defaults
                    .merge(&entry)
                    .source(entry.get_source().to_path_buf());
                (name, manifest.engine_config(), spec)
            }
        };
        let spec = spec.merge(&self.spec);
        let mut engine = engine.merge(&self.engine);
        if (spec.get_limits().get_fuel().is_some() || self.stats) && !engine.get_consume_fuel() {
            engine = engine.consume_fuel(true);
        }
        // One plugin, one call at a time: a pool of a thousand slots would
        // cost more to set up than a short run takes.
        let mut engine = engine.fit_pool(spec.get_limits());
        if let Some(n) = pool_instances {
            // ... and its one thread needs one shard.
            engine = engine.fit_pool_instances(n).fit_pool_shards(1);
        }
        let engine = cli_engine(engine, self.no_cache)?;
        let size = std::fs::metadata(spec.get_source()).map_or(0, |m| m.len());
        let message = format!(
            "compiling `{}` ({})",
            spec.get_source().display(),
            plugbox::units::format_bytes(size)
        );
        let plugin = crate::progress::spin(message, || {
            Plugin::from_spec(&engine, &name, &spec, HostFunctions::new())
        })?;
        if engine.is_pooling() && !plugin.is_pooled() {
            crate::output::note!(
                "note: `{name}` is too large for a pool slot (an instance's state over 1 MiB); its instances are allocated on demand"
            );
        }
        Ok(plugin)
    }

    /// Prints the stats of a call (with `--stats`), whether it succeeded
    /// or failed, and passes its value on.
    /// The file `plugin` stands for: itself, or its manifest entry's
    /// source.
    pub fn source(&self, plugin: &Path) -> Result<PathBuf> {
        match &self.manifest {
            None => Ok(plugin.to_path_buf()),
            Some(path) => {
                let manifest = Manifest::from_file(path)?;
                let entry = manifest.plugin(&plugin.to_string_lossy())?;
                Ok(entry.get_source().to_path_buf())
            }
        }
    }

    pub fn report<T>(
        &self,
        result: plugbox::Result<(T, plugbox::CallStats)>,
    ) -> plugbox::Result<T> {
        let stats = match &result {
            Ok((_, stats)) => Some(*stats),
            Err(e) => e.call_stats(),
        };
        if let (true, Some(stats)) = (self.stats, stats) {
            print_stats(&stats);
        }
        result.map(|(value, _)| value)
    }
}

fn print_stats(stats: &plugbox::CallStats) {
    // `--stats` turns fuel metering on, so no figure means an interrupted
    // call.
    match stats.fuel_consumed {
        Some(fuel) => crate::output::note!("fuel consumed: {fuel}"),
        None => crate::output::note!("fuel consumed: unknown (the call was interrupted)"),
    }
    crate::output::note!("duration: {:.3?}", stats.duration);
    crate::output::note!(
        "memory peak: {}",
        plugbox::units::format_bytes(stats.memory_peak)
    );
    if stats.attempts > 1 {
        crate::output::note!("attempts: {}", stats.attempts);
    }
}

/// The engine flags alone, for subcommands that load but do not call.
pub fn engine(config: &EngineConfig) -> Result<Engine> {
    let engine = Engine::new(&EngineConfig::new().merge(config))?;
    if let Some(notice) = engine.notice() {
        crate::output::note!("note: {notice}");
    }
    Ok(engine)
}

/// The engine of `run`, `call` and `serve`: `config`, with the per-user compile
/// cache unless a cache directory is set or `--no-cache` is given.
pub fn cli_engine(config: EngineConfig, no_cache: bool) -> Result<Engine> {
    let config = if no_cache {
        config.no_cache()
    } else if config.get_cache_dir().is_none() {
        match default_cache_dir() {
            Some(dir) => config.cache_dir(dir),
            None => config,
        }
    } else {
        config
    };
    engine(&config)
}

/// `$PLUGBOX_CACHE_DIR` (empty or `none`: no cache), else
/// `$XDG_CACHE_HOME/plugbox`, else `~/.cache/plugbox` — if it can be
/// created; the cache only saves time, so an unusable default is skipped.
/// A directory chosen through `$PLUGBOX_CACHE_DIR` that cannot be created
/// is warned about; the implicit per-user one quietly (a read-only home).
pub fn default_cache_dir() -> Option<PathBuf> {
    let (dir, chosen) = match std::env::var_os("PLUGBOX_CACHE_DIR") {
        Some(v) if v.is_empty() || v == "none" => return None,
        Some(v) => (PathBuf::from(v), true),
        None => (
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?
                .join("plugbox"),
            false,
        ),
    };
    match std::fs::create_dir_all(&dir) {
        Ok(()) => Some(dir),
        Err(e) if chosen => {
            tracing::warn!(dir = %dir.display(), error = %e, "no compile cache");
            None
        }
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "no compile cache");
            None
        }
    }
}
