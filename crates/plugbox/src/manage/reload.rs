//! Hot reload: swapping a plugin's version atomically, by API or when its
//! file changes.

use super::manager::{ManagerInner, PluginManager, not_found};
use super::slot::lock;
use crate::error::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

impl PluginManager {
    /// Re-reads a plugin's source and swaps it in atomically: calls in
    /// flight finish on the old version, new calls use the new one. A new
    /// version that fails to validate, compile or link is refused and the
    /// old one keeps serving; so is one that is not a `wasi:http`
    /// component while a server mounts the plugin at a route. Returns
    /// whether anything changed (an unchanged file is not reloaded).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`], or why the new version was refused
    /// ([`ErrorKind::ExportNotFound`] for a mounted plugin's version that
    /// does not export `wasi:http/incoming-handler`).
    pub fn reload(&self, name: &str) -> Result<bool> {
        let slot = self.slot(name)?;
        let _serial = lock(&slot.reloading);
        let _span = tracing::info_span!("reload", plugin = name).entered();
        // Read under the reload lock, so no other reload replaces it
        // before this one is done; and from this slot: a plugin unloaded
        // (and perhaps loaded again) since is not this reload's to change.
        let old = self
            .entry(name)
            .ok()
            .filter(|e| Arc::ptr_eq(&e.slot, &slot))
            .ok_or_else(|| not_found(name))?
            .version;
        let unchanged = crate::input::read_file(slot.spec.get_source(), None)
            .is_ok_and(|bytes| crate::load::sha256_hex(&bytes) == old.plugin.sha256());
        if unchanged {
            return Ok(false);
        }
        // The checks of start-up: those of a load, and the mount's when a
        // server mounts the plugin.
        let route = lock(&slot.http_route).clone();
        let built = self
            .build(name, &slot.spec, old.number + 1)
            .and_then(|version| match &route {
                Some(route) => version.plugin.check_serves_http(route).map(|()| version),
                None => Ok(version),
            });
        let version = match built {
            Ok(version) => version,
            Err(e) => {
                slot.metrics.reloaded(false);
                *lock(&slot.last_reload_error) = Some(format!("{e:#}"));
                tracing::error!(plugin = name, error = %format!("{e:#}"), "reload refused; the old version keeps serving");
                return Err(e.context(format!(
                    "reload of `{name}` refused; version {} keeps serving",
                    old.number
                )));
            }
        };
        // Unloaded while building: nothing was refused, nothing to count.
        self.publish(&slot, version)?;
        slot.metrics.reloaded(true);
        *lock(&slot.last_reload_error) = None;
        tracing::info!(plugin = name, version = old.number + 1, "reloaded");
        Ok(true)
    }

    /// Why the last reload of `name` was refused, if it was.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`].
    pub fn last_reload_error(&self, name: &str) -> Result<Option<String>> {
        Ok(lock(&self.slot(name)?.last_reload_error).clone())
    }

    /// Watches every plugin's source file and reloads it when it changes.
    /// A refused reload is logged, counted and kept for
    /// [`last_reload_error`](Self::last_reload_error).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the platform watcher cannot start.
    pub fn watch(&self) -> Result<()> {
        let weak: Weak<ManagerInner> = Arc::downgrade(&self.inner);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if !(event.kind.is_modify() || event.kind.is_create()) {
                return;
            }
            let Some(inner) = weak.upgrade() else { return };
            let manager = PluginManager { inner };
            // Let the writer finish before reading.
            std::thread::sleep(Duration::from_millis(50));
            for info in manager.list() {
                let source = std::fs::canonicalize(&info.source).unwrap_or(info.source.clone());
                let hit = event
                    .paths
                    .iter()
                    .any(|p| std::fs::canonicalize(p).unwrap_or(p.clone()) == source);
                if hit {
                    let _ = manager.reload(&info.name);
                }
            }
        })
        .map_err(|e| Error::new(ErrorKind::Io, "cannot start the file watcher").with_source(e))?;
        *lock(&self.inner.watcher) = Some(watcher);
        self.rewatch();
        Ok(())
    }

    /// Points the watcher (if on) at the directories of the current plugins.
    pub(super) fn rewatch(&self) {
        use notify::Watcher;
        let dirs: std::collections::BTreeSet<PathBuf> = self
            .inner
            .slots
            .load()
            .values()
            .filter_map(|e| {
                let abs = std::path::absolute(e.slot.spec.get_source()).ok()?;
                abs.parent().map(Path::to_path_buf)
            })
            .collect();
        let mut guard = lock(&self.inner.watcher);
        if let Some(w) = guard.as_mut() {
            for dir in dirs {
                if let Err(e) = w.watch(&dir, notify::RecursiveMode::NonRecursive) {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot watch plugin directory");
                }
            }
        }
    }
}
