//! Reloads racing unloads: what only the manager's insides can stage.

use super::*;
use crate::config::EngineConfig;
use std::path::{Path, PathBuf};

/// Writes plugin `a`'s source: one export, `name`, returning `value`.
fn write_source(path: &Path, name: &str, value: i32) {
    let wat = format!("(module (func (export \"{name}\") (result i32) i32.const {value}))");
    std::fs::write(path, wat).unwrap();
}

/// A manager serving `a` (export `one`) from `a.wat` in a fresh
/// directory (kept while the returned guard lives), and that path.
fn serving_one() -> (tempfile::TempDir, PathBuf, PluginManager) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.wat");
    write_source(&path, "one", 1);
    let m = PluginManager::new(&Engine::new(&EngineConfig::new()).unwrap());
    m.load("a", PluginSpec::new(&path)).unwrap();
    (dir, path, m)
}

/// Unloads `a` and loads it again from other bytes (export `two`).
fn replace(m: &PluginManager, path: &Path) {
    m.unload("a").unwrap();
    write_source(path, "two", 2);
    m.load("a", PluginSpec::new(path)).unwrap();
}

fn assert_not_found(err: &Error) {
    assert_eq!(
        err.kind(),
        &ErrorKind::PluginNotFound("a".into()),
        "{err:#}"
    );
}

#[test]
fn a_reload_never_republishes_a_plugin_unloaded_meanwhile() {
    let (_dir, path, m) = serving_one();
    // A reload that built its version from this slot...
    let old = m.slot("a").unwrap();
    let built = m.build("a", &old.spec, 2).unwrap();
    // ...while the plugin was unloaded and loaded again.
    replace(&m, &path);
    assert_not_found(&m.publish(&old, built).unwrap_err());
    assert_eq!(m.call::<(), i32>("a", "two", ()).unwrap(), 2);
    assert_eq!(m.list()[0].version, 1, "the new load still serves");
    // Unloaded for good: nothing to publish to either.
    m.unload("a").unwrap();
    let slot = Arc::new(Slot::new("a", PluginSpec::new(&path)));
    let version = m.build("a", &slot.spec, 1).unwrap();
    assert_not_found(&m.publish(&slot, version).unwrap_err());
    assert!(m.list().is_empty());
}

#[test]
fn a_reload_that_loses_to_an_unload_changes_nothing_and_counts_nothing() {
    let (_dir, path, m) = serving_one();
    let first = m.slot("a").unwrap();
    let held = lock(&first.reloading);
    // A reload of the first load waits for its slot's reload lock...
    let reloading = std::thread::spawn({
        let m = m.clone();
        move || m.reload("a")
    });
    // (it holds the slot once it waits: the map, this test, and it)
    while Arc::strong_count(&first) < 3 {
        std::thread::yield_now();
    }
    // ...while `a` is unloaded and loaded again from other bytes.
    replace(&m, &path);
    drop(held);
    assert_not_found(&reloading.join().unwrap().unwrap_err());
    assert_eq!(m.call::<(), i32>("a", "two", ()).unwrap(), 2);
    let now = m.metrics("a").unwrap();
    assert_eq!((now.reloads, now.reload_failures), (0, 0));
    assert_eq!(m.last_reload_error("a").unwrap(), None);
    assert_eq!(m.list()[0].version, 1);
    let old = first.metrics.snapshot();
    assert_eq!(
        (old.reloads, old.reload_failures),
        (0, 0),
        "not a refused version"
    );
}

#[test]
fn names_with_control_characters_are_refused_and_quotes_are_not() {
    let (_dir, path, m) = serving_one();
    for name in ["a\nb", "tab\there", "nul\0"] {
        let err = m.load(name, PluginSpec::new(&path)).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config, "{err:#}");
        let shown = format!(
            "plugin name `{}` contains a control character",
            name.escape_debug()
        );
        assert!(format!("{err:#}").contains(&shown), "{err:#}");
    }
    m.load(r#"a"b\c"#, PluginSpec::new(&path)).unwrap();
    assert_eq!(m.list().len(), 2);
}
