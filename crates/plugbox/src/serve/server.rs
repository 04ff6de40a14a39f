//! The server: what every connection shares, binding, the accept loop and
//! graceful shutdown.

use super::conn::{self, Connections};
use super::metrics::HttpMetrics;
use super::routes::Mounts;
use crate::config::ServerConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::manage::PluginManager;
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// An HTTP server for the plugins of a [`PluginManager`] (see the
/// [module documentation](crate::serve)).
///
/// ```no_run
/// # async fn serve() -> plugbox::Result<()> {
/// use plugbox::serve::Server;
/// use plugbox::{Engine, EngineConfig, PluginManager, PluginSpec, ServerConfig};
/// let manager = PluginManager::new(&Engine::new(&EngineConfig::default())?);
/// manager.load("site", PluginSpec::new("site.wasm"))?;
/// let server = Server::new(manager, ServerConfig::new())?.mount("site", "/")?;
/// let listening = server.bind().await?;
/// eprintln!("serving on http://{}/", listening.local_addr());
/// listening.run(async { tokio::signal::ctrl_c().await.ok(); }).await
/// # }
/// ```
pub struct Server {
    manager: PluginManager,
    config: ServerConfig,
    explicit: BTreeMap<String, String>,
    mounts: Mounts,
}

/// What every connection and request of a running server shares.
pub(super) struct Shared {
    pub(super) manager: PluginManager,
    pub(super) config: ServerConfig,
    pub(super) local_addr: SocketAddr,
    pub(super) mounts: ArcSwap<Mounts>,
    explicit: BTreeMap<String, String>,
    /// Permits for requests in flight (`max-concurrent-requests`).
    pub(super) requests: Arc<Semaphore>,
    pub(super) connections: Arc<Connections>,
    pub(super) metrics: HttpMetrics,
    pub(super) http: hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    shutting_down: AtomicBool,
}

impl Shared {
    pub(super) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    pub(super) fn requests_in_flight(&self) -> usize {
        (self.config.get_max_concurrent_requests() as usize)
            .saturating_sub(self.requests.available_permits())
    }
}

impl Server {
    /// A server for `manager`'s plugins with the settings of `config`.
    /// Every `wasi:http` component among them is mounted at its spec's
    /// route, or at `/NAME`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for a bad setting, two plugins on one
    /// route, a route that shadows `/healthz`, `/metrics` or
    /// `/v1/plugins`, or a route derived from a plugin's name (`/NAME`)
    /// that is not a valid route (set an explicit one);
    /// [`ErrorKind::ExportNotFound`] for a route on a plugin that is not a
    /// `wasi:http` component.
    pub fn new(manager: PluginManager, config: ServerConfig) -> Result<Self> {
        config.check()?;
        let explicit = BTreeMap::new();
        let mounts = Mounts::of(&manager, &explicit)?;
        Ok(Self {
            manager,
            config,
            explicit,
            mounts,
        })
    }

    /// Mounts the `wasi:http` component `plugin` at `route` (a path
    /// prefix: `/` serves every path the server does not answer itself).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`], [`ErrorKind::Config`] for a bad
    /// route or one taken, and [`ErrorKind::ExportNotFound`] when the
    /// plugin is not a `wasi:http` component.
    pub fn mount(mut self, plugin: &str, route: &str) -> Result<Self> {
        self.manager.plugin(plugin)?;
        self.explicit.insert(plugin.to_string(), route.to_string());
        self.mounts = Mounts::of(&self.manager, &self.explicit)?;
        Ok(self)
    }

    /// The mounted `wasi:http` components: (route, plugin), longest route
    /// first.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.mounts.list().to_vec()
    }

    /// Binds the configured address (`addr`; port 0 picks a free port)
    /// and, with `watch` on (the default), starts reloading plugins whose
    /// files change ([`PluginManager::watch`]). From now on a reload of a
    /// mounted plugin refuses a version that is not a `wasi:http`
    /// component, as start-up does: the old version keeps serving.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] naming the address when it cannot be bound, or
    /// when the file watcher cannot start.
    pub async fn bind(self) -> Result<Listening> {
        self.mounts.pin(&self.manager);
        if self.config.get_watch() {
            self.manager.watch()?;
        }
        let addr = self.config.get_addr();
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot listen on `{addr}`")).with_source(e)
        })?;
        let local_addr = listener.local_addr().map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot listen on `{addr}`")).with_source(e)
        })?;
        let mut http =
            hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        let head = usize::try_from(self.config.get_max_header_size()).unwrap_or(usize::MAX);
        http.http1()
            .keep_alive(true)
            // The watchdog times request heads (see `conn`).
            .header_read_timeout(None)
            // hyper's smallest buffer; smaller caps are checked per request.
            .max_buf_size(head.max(8192));
        http.http2()
            .max_header_list_size(h2_header_list_size(head))
            .max_concurrent_streams(self.config.get_max_concurrent_requests().min(1024));
        let shared = Arc::new(Shared {
            metrics: HttpMetrics::new(&self.manager),
            requests: Arc::new(Semaphore::new(
                self.config.get_max_concurrent_requests() as usize
            )),
            connections: Connections::new(self.config.get_max_connections()),
            mounts: ArcSwap::from_pointee(self.mounts),
            explicit: self.explicit,
            manager: self.manager,
            config: self.config,
            local_addr,
            http,
            shutting_down: AtomicBool::new(false),
        });
        Ok(Listening { shared, listener })
    }
}

/// HTTP/2's own cap on a request's header list, for a `max-header-size`
/// of `head` bytes: twice it, so that a head over `max-header-size` (by
/// up to as much again) reaches plugbox's own check (`handle`), which
/// answers a complete 431. Past HTTP/2's cap the h2 library answers 431
/// and resets the stream, and a header block too large for its
/// CONTINUATION frames (1.25 times the cap) ends the whole connection,
/// which clients retry (curl five times) and report as an error. plugbox
/// counts an HTTP/2 head as HTTP/2 does (RFC 7541), plus the request
/// line, so every head it accepts is within this cap; twice the cap keeps
/// the memory a connection may hold while its head is decoded bounded.
fn h2_header_list_size(head: usize) -> u32 {
    u32::try_from(head.saturating_mul(2)).unwrap_or(u32::MAX)
}

/// A server bound to its address, ready to [`run`](Self::run).
pub struct Listening {
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
}

impl Listening {
    /// The address it listens on (with the port picked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// A handle to re-read which plugins are `wasi:http` components and
    /// where they are mounted (after a reload), while the server runs.
    pub fn remounter(&self) -> Remounter {
        Remounter(self.shared.clone())
    }

    /// Serves until `shutdown` completes, then shuts down gracefully:
    /// stops accepting, lets requests in flight finish (new requests on
    /// open connections get `503`), and after `shutdown-timeout` closes
    /// what is left. Returns once every connection is closed.
    ///
    /// # Errors
    ///
    /// Failed accepts (out of file descriptors, say) are logged and
    /// retried, not returned: this returns `Ok` once shut down.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let Self { shared, listener } = self;
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            // Reap finished connections so the set stays small.
            while tasks.try_join_next().is_some() {}
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, or a connection reset
                        // before it was accepted: wait a moment, go on.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
            };
            let admitted = tokio::select! {
                () = &mut shutdown => break,
                admitted = shared.connections.admit() => admitted,
            };
            tasks.spawn(conn::serve(
                shared.clone(),
                stream,
                peer,
                admitted,
                stopped.clone(),
            ));
        }
        drop(listener);
        shared.shutting_down.store(true, Ordering::Relaxed);
        let _ = stop.send(true);
        let grace = shared.config.get_shutdown_timeout();
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                connections = tasks.len(),
                "shutdown-timeout passed: closing connections with requests in flight"
            );
            tasks.shutdown().await;
        }
        Ok(())
    }
}

/// Re-reads the mounts of a running server (see
/// [`Listening::remounter`]).
#[derive(Clone)]
pub struct Remounter(Arc<Shared>);

impl Remounter {
    /// Mounts the `wasi:http` components as the manager has them now; the
    /// old mounts stay when the new ones conflict.
    ///
    /// # Errors
    ///
    /// As [`Server::new`].
    pub fn remount(&self) -> Result<()> {
        let mounts = Mounts::of(&self.0.manager, &self.0.explicit)?;
        mounts.pin(&self.0.manager);
        self.0.mounts.store(Arc::new(mounts));
        Ok(())
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("routes", &self.mounts.list())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening")
            .field("addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Remounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remounter").finish_non_exhaustive()
    }
}
