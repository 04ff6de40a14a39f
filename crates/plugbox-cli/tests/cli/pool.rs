//! A module too large for a pool slot: found out before compiling, run
//! with instances allocated on demand, and compiled (and cached) once.

use crate::support::{plugbox, stderr, stdout};
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Output;
use std::time::Instant;

/// `plugbox call` of `module` with the default pool and `cache` as the
/// compile cache.
fn call(module: &Path, cache: &Path, func: &str) -> Output {
    plugbox(&[
        OsStr::new("call"),
        "--opt-level".as_ref(),
        "none".as_ref(),
        "--cache-dir".as_ref(),
        cache.as_os_str(),
        module.as_os_str(),
        func.as_ref(),
    ])
}

#[test]
fn a_module_too_large_for_a_pool_slot_runs_on_demand_and_is_cached() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("many.wat");
    // 40 001 functions, under the 50 000 of max-functions: each exported,
    // 1.28 MB of instance state, more than a slot's 1 MiB.
    std::fs::write(&module, plugbox_test_support::many_functions_wat(40_000)).unwrap();
    let cache = dir.path().join("cache");
    let on_demand = format!(
        "note: `{}` is too large for a pool slot (an instance's state over 1 MiB); its instances are allocated on demand",
        module.display()
    );
    let started = Instant::now();
    let first = call(&module, &cache, "f39999");
    let compiled_in = started.elapsed();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(stdout(&first), "39999\n");
    assert!(stderr(&first).contains(&on_demand), "{}", stderr(&first));
    let entries = || -> Vec<_> {
        std::fs::read_dir(cache.join("plugbox-cache-3"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    };
    let [entry] = entries().try_into().expect("one cache entry");
    let before = std::fs::metadata(&entry).unwrap();
    // The second call maps the cached code: a compile would have renamed
    // a new entry into place.
    let started = Instant::now();
    let second = call(&module, &cache, "count");
    let hit_in = started.elapsed();
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(stdout(&second), "1\n");
    assert!(stderr(&second).contains(&on_demand), "{}", stderr(&second));
    assert_eq!(entries(), std::slice::from_ref(&entry));
    let after = std::fs::metadata(&entry).unwrap();
    assert_eq!(after.ino(), before.ino(), "a cache hit, not a compile");
    eprintln!("compile and call: {compiled_in:?}; cache hit and call: {hit_in:?}");
}

#[test]
fn a_precompiled_module_too_large_for_a_pool_slot_runs_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("many.wat");
    std::fs::write(&module, plugbox_test_support::many_functions_wat(40_000)).unwrap();
    let cwasm = dir.path().join("many.cwasm");
    let o = plugbox(&[
        "compile".as_ref(),
        "--opt-level".as_ref(),
        "none".as_ref(),
        module.as_os_str(),
        "-o".as_ref(),
        cwasm.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Its counts are not read from native code: the pool refuses it, and
    // it is loaded for on-demand allocation instead.
    let o = plugbox(&[
        "call".as_ref(),
        "--opt-level".as_ref(),
        "none".as_ref(),
        "--allow-precompiled".as_ref(),
        cwasm.as_os_str(),
        "f7".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "7\n");
    assert!(
        stderr(&o).contains("its instances are allocated on demand"),
        "{}",
        stderr(&o)
    );
}
