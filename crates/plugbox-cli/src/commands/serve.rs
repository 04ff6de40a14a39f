//! `plugbox serve`: serve a `wasi:http/proxy` component, or the plugins of
//! a manifest (their `wasi:http` components at their routes, every plugin
//! through the JSON API), until SIGINT or SIGTERM; SIGHUP reloads.

use crate::exit::UsageError;
use anyhow::{Context, Result};
use clap::Parser;
use plugbox::serve::{Remounter, Server};
use plugbox::{
    EngineConfig, HostFunctions, Limits, Manifest, PluginManager, PluginSpec, Sandbox,
    ServerConfig, Stdin, Stdio,
};
use std::path::PathBuf;

/// Serve wasi:http components and a JSON API for plugins over HTTP
#[derive(Parser, Debug)]
#[command(after_help = "\
Paths: GET /healthz; GET /metrics (Prometheus); GET /v1/plugins; \
POST /v1/plugins/NAME/FUNC with a JSON array of arguments; anything else goes to the \
wasi:http component mounted at the longest matching route (COMPONENT: `/`; manifest \
entries: their `route`, else `/NAME`). Prints `Serving HTTP on http://ADDR/` on stderr \
once listening. SIGINT or SIGTERM: stop accepting, finish requests in flight (up to \
--shutdown-timeout), exit 0. SIGHUP: reload every plugin whose file changed.")]
pub struct ServeCommand {
    /// A wasi:http/proxy component to serve at `/`
    #[arg(value_name = "COMPONENT", required_unless_present = "manifest")]
    file: Option<PathBuf>,

    /// Serve the plugins of this manifest (its [server] table sets the
    /// server; flags override it and every plugin's settings)
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,

    /// Compile without the compile cache (by default: --cache-dir, else
    /// $PLUGBOX_CACHE_DIR, else $XDG_CACHE_HOME/plugbox or ~/.cache/plugbox)
    #[arg(long)]
    no_cache: bool,

    #[command(flatten)]
    server: ServerConfig,

    #[command(flatten)]
    engine: EngineConfig,

    #[command(flatten)]
    spec: PluginSpec,
}

impl ServeCommand {
    pub fn execute(self) -> Result<()> {
        let manifest = self
            .manifest
            .as_ref()
            .map(Manifest::from_file)
            .transpose()?;
        let server = match &manifest {
            Some(m) => m.server.clone().merge(&self.server),
            None => ServerConfig::new().merge(&self.server),
        };
        server.check()?;
        // What every plugin gets, each layer over the previous: the
        // server's defaults (no stdin; guests' output goes to plugbox's),
        // the manifest entry, the flags.
        let defaults = Sandbox::new()
            .stdin(Stdin::Null)
            .stdout(Stdio::Inherit)
            .stderr(Stdio::Inherit);
        let mut specs: Vec<(String, PluginSpec)> = Vec::new();
        if let Some(m) = &manifest {
            for name in m.plugins.keys() {
                let entry = m.plugin(name)?;
                let spec = PluginSpec::new(entry.get_source())
                    .sandbox(defaults.clone())
                    .merge(&entry)
                    .merge(&self.spec);
                specs.push((name.clone(), spec));
            }
        }
        let component = match &self.file {
            Some(file) => {
                let name = file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "component".into());
                if specs.iter().any(|(n, _)| *n == name) {
                    return Err(UsageError(format!(
                        "cannot serve `{}` beside the manifest: it declares a plugin named `{name}` too",
                        file.display()
                    ))
                    .into());
                }
                let spec = PluginSpec::new(file)
                    .sandbox(defaults.clone())
                    .merge(&self.spec)
                    .source(file.clone());
                specs.push((name.clone(), spec));
                Some(name)
            }
            None => None,
        };
        let engine = self.engine_config(manifest.as_ref(), &specs);
        let engine = crate::flags::cli_engine(engine, self.no_cache)?;
        let manager = PluginManager::new(&engine).with_host(HostFunctions::new());
        for (name, spec) in specs {
            let message = format!("compiling `{}`", spec.get_source().display());
            crate::progress::spin(message, || manager.load(&name, spec))
                .with_context(|| format!("cannot serve plugin `{name}`"))?;
        }
        let mut server_builder = Server::new(manager.clone(), server.clone())?;
        if let Some(name) = &component {
            server_builder = server_builder.mount(name, "/")?;
        }
        let routes = server_builder.routes();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("plugbox-serve")
            .build()
            .context("cannot start the server's runtime")?;
        runtime.block_on(async move {
            let listening = server_builder.bind().await?;
            crate::output::note!("Serving HTTP on http://{}/", listening.local_addr());
            for (route, plugin) in &routes {
                crate::output::note!("  {route} -> `{plugin}` (wasi:http)");
            }
            let plugins = manager.list().len();
            crate::output::note!("  /v1/plugins -> JSON API ({plugins} plugins)");
            let remounter = listening.remounter();
            let shutdown = signals(manager.clone(), remounter)?;
            listening.run(shutdown).await?;
            crate::output::note!("server stopped");
            anyhow::Ok(())
        })
    }

    /// The engine: the manifest's, the flags over it; fuel metering when a
    /// plugin has a fuel limit; the pool's memory slots as large as the
    /// largest memory limit.
    fn engine_config(
        &self,
        manifest: Option<&Manifest>,
        specs: &[(String, PluginSpec)],
    ) -> EngineConfig {
        let base = manifest.map_or_else(EngineConfig::new, Manifest::engine_config);
        let mut engine = base.merge(&self.engine);
        let limits: Vec<&Limits> = specs.iter().map(|(_, s)| s.get_limits()).collect();
        if limits.iter().any(|l| l.get_fuel().is_some()) && !engine.get_consume_fuel() {
            engine = engine.consume_fuel(true);
        }
        if let Some(largest) = limits.iter().filter_map(|l| l.get_max_memory()).max() {
            engine = engine.fit_pool(&Limits::new().max_memory(largest));
        }
        engine
    }
}

/// Completes on SIGINT or SIGTERM; on SIGHUP reloads every plugin whose
/// file changed (a broken new version is refused and the old keeps
/// serving) and re-reads where `wasi:http` components are mounted.
fn signals(
    manager: PluginManager,
    remounter: Remounter,
) -> Result<impl Future<Output = ()> + use<>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    Ok(async move {
        loop {
            tokio::select! {
                _ = interrupt.recv() => break,
                _ = terminate.recv() => break,
                _ = hangup.recv() => {
                    let manager = manager.clone();
                    let remounter = remounter.clone();
                    // Reloading compiles: off the server's threads.
                    let _ = tokio::task::spawn_blocking(move || reload_all(&manager, &remounter)).await;
                }
            }
        }
        crate::output::note!("shutting down: finishing requests in flight");
    })
}

fn reload_all(manager: &PluginManager, remounter: &Remounter) {
    for info in manager.list() {
        match manager.reload(&info.name) {
            Ok(true) => crate::output::note!("reloaded `{}`", info.name),
            Ok(false) => {}
            Err(e) => crate::output::note!("error: {}", crate::exit::one_line(&e.into())),
        }
    }
    if let Err(e) = remounter.remount() {
        crate::output::note!("error: {}", crate::exit::one_line(&e.into()));
    }
}
