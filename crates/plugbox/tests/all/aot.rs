//! Ahead-of-time compilation: trust, integrity and compatibility checks.

use crate::support::{engine, wat};
use plugbox::{
    Engine, EngineConfig, ErrorKind, OptLevel, Plugin, PrecompiledReason, Wasm, WasmKind,
};
use std::path::Path;

fn compile_to(dir: &Path, engine: &Engine) -> std::path::PathBuf {
    let wasm = Wasm::from_file(engine, wat("add.wat")).unwrap();
    let bytes = plugbox::precompile(engine, &wasm).unwrap();
    let path = dir.join("add.cwasm");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn precompiled_loads_only_when_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine();
    let path = compile_to(dir.path(), &engine);
    assert_eq!(
        Wasm::from_file(&engine, &path).unwrap().kind(),
        WasmKind::PrecompiledModule
    );

    let err = Plugin::from_file(&engine, &path).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Precompiled(PrecompiledReason::NotTrusted)
    );
    assert!(format!("{err:#}").contains("native code"), "{err}");

    let p = Plugin::builder(&engine)
        .allow_precompiled(true)
        .from_file(&path)
        .unwrap();
    assert_eq!(p.call::<(i32, i32), i32>("add", (5, 3)).unwrap(), 8);
}

#[test]
fn precompiled_in_the_cache_dir_is_not_trusted_by_its_place() {
    // The compile cache is plugbox's own, found by content: a `.cwasm`
    // placed in its directory (or anywhere under `cache-dir`) gains
    // nothing.
    let cache = tempfile::tempdir().unwrap();
    let engine = Engine::new(&EngineConfig::new().cache_dir(cache.path())).unwrap();
    for dir in [cache.path(), engine.cache_dir().unwrap()] {
        let path = compile_to(dir, &engine);
        let err = Plugin::from_file(&engine, &path).unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::Precompiled(PrecompiledReason::NotTrusted)
        );
    }
}

#[test]
fn flipped_byte_anywhere_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine();
    let path = compile_to(dir.path(), &engine);
    let good = std::fs::read(&path).unwrap();
    for at in [
        0,
        100,
        good.len() / 2,
        good.len() - 70,
        good.len() - 40,
        good.len() - 12,
        good.len() - 1,
    ] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        let err = Wasm::from_bytes(&engine, bad)
            .and_then(|w| Plugin::builder(&engine).allow_precompiled(true).build(w))
            .unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Precompiled(_) | ErrorKind::InvalidModule(_)
            ),
            "byte {at}: {err:?}"
        );
    }
}

#[test]
fn artifact_from_other_engine_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = compile_to(dir.path(), &engine());
    let other = Engine::new(
        &EngineConfig::new()
            .opt_level(OptLevel::None)
            .consume_fuel(true),
    )
    .unwrap();
    let err = Plugin::builder(&other)
        .allow_precompiled(true)
        .from_file(&path)
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Precompiled(PrecompiledReason::Incompatible)
    );
    assert!(
        format!("{err:#}").contains("different engine configuration"),
        "{err}"
    );
}

#[test]
fn artifact_from_other_wasmtime_version_is_refused() {
    let engine = engine();
    let wasm = Wasm::from_file(&engine, wat("add.wat")).unwrap();
    let image = engine.wasmtime().precompile_module(wasm.bytes()).unwrap();
    let forged = plugbox::seal_precompiled(&engine, image, "47.0.0");
    let err = Wasm::from_bytes(&engine, forged)
        .and_then(|w| Plugin::builder(&engine).allow_precompiled(true).build(w))
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Precompiled(PrecompiledReason::Incompatible)
    );
    assert!(format!("{err:#}").contains("`47.0.0`"), "{err}");
}

#[test]
fn bare_wasmtime_artifact_without_checksum_is_refused() {
    let engine = engine();
    let wasm = Wasm::from_file(&engine, wat("add.wat")).unwrap();
    let image = engine.wasmtime().precompile_module(wasm.bytes()).unwrap();
    let err = Wasm::from_bytes(&engine, image)
        .and_then(|w| Plugin::builder(&engine).allow_precompiled(true).build(w))
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Precompiled(PrecompiledReason::Corrupt)
    );
    assert!(format!("{err:#}").contains("no plugbox checksum"), "{err}");
}

#[test]
fn compile_cache_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(&EngineConfig::new().cache_dir(dir.path())).unwrap();
    Plugin::from_file(&engine, wat("add.wat")).unwrap();
    let entries = walk(dir.path());
    assert!(entries > 0, "the cache directory has entries");
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
