//! Limit flags shared by `run` and `call`.

use crate::support::{assert_error, plugbox, rust_guest, stderr, stdout, wat};

#[test]
fn timeout_flag_stops_a_spinning_guest() {
    let o = plugbox(&["call", "--timeout", "100ms", &wat("hostile.wat"), "spin"]);
    assert_error(&o, 6, "deadline exceeded");
    let o = plugbox(&["run", "--timeout", "100ms", &rust_guest("probe"), "spin"]);
    assert_error(&o, 6, "deadline exceeded");
    // Wasmtime does not record the fuel of code stopped at an epoch check:
    // no figure rather than a wrong one.
    let o = plugbox(&[
        "call",
        "--stats",
        "--timeout",
        "100ms",
        &wat("hostile.wat"),
        "spin",
    ]);
    assert_error(&o, 6, "deadline exceeded");
    assert!(
        stderr(&o).contains("fuel consumed: unknown (the call was interrupted)\n"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn fuel_flag_and_stats() {
    let o = plugbox(&[
        "call",
        "--fuel",
        "100000",
        "--stats",
        &wat("hostile.wat"),
        "spin",
    ]);
    assert_error(&o, 6, "all fuel consumed");
    assert!(
        stderr(&o).contains("fuel consumed: 100000\n"),
        "stats of a failed call: {}",
        stderr(&o)
    );
    let o = plugbox(&[
        "call",
        "--fuel",
        "100000",
        "--stats",
        &wat("hostile.wat"),
        "work",
        "100",
    ]);
    assert_eq!(stdout(&o), "100\n", "{}", stderr(&o));
    let err = stderr(&o);
    let fuel: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("fuel consumed: "))
        .expect("stats print fuel")
        .parse()
        .unwrap();
    assert!(fuel > 100 && fuel < 100_000, "{fuel}");
    assert!(err.contains("memory peak: 64 KiB"), "{err}");
}

#[test]
fn retry_flag_escalates_fuel() {
    let o = plugbox(&[
        "call",
        "--fuel",
        "1000",
        "--retry-attempts",
        "8",
        "--stats",
        &wat("hostile.wat"),
        "work",
        "100000",
    ]);
    assert_eq!(stdout(&o), "100000\n", "{}", stderr(&o));
    assert!(stderr(&o).contains("attempts: "), "{}", stderr(&o));
    let o = plugbox(&[
        "call",
        "--fuel",
        "1000",
        "--retry-attempts",
        "2",
        &wat("hostile.wat"),
        "spin",
    ]);
    assert_error(&o, 6, "after 2 attempts");
}

#[test]
fn memory_flags() {
    let o = plugbox(&[
        "call",
        "--max-memory",
        "1MiB",
        &wat("hostile.wat"),
        "grow",
        "100",
    ]);
    assert_eq!(stdout(&o), "-1\n", "{}", stderr(&o));
    let o = plugbox(&[
        "call",
        "--max-memory",
        "1MiB",
        "--trap-on-grow-failure",
        &wat("hostile.wat"),
        "grow",
        "100",
    ]);
    assert_error(&o, 6, "requested 6.3 MiB but at most 1 MiB is allowed");
    let o = plugbox(&[
        "run",
        "--max-memory",
        "16MiB",
        &rust_guest("probe"),
        "alloc-bomb",
    ]);
    assert_error(&o, 6, "memory limit exceeded");
    let o = plugbox(&["call", &wat("huge_data.wat"), "ok"]);
    assert_error(&o, 6, "requested 512 MiB but at most 256 MiB");
    let o = plugbox(&["call", "--max-memory", "none", &wat("huge_data.wat"), "ok"]);
    assert_eq!(stdout(&o), "1\n", "{}", stderr(&o));
}

#[test]
fn no_memory_limit_is_refused_by_a_pool_whose_slots_cap_it() {
    // A pooled memory stops growing at its slot's end, so `none` would be
    // a cap of 1 MiB in disguise: refused like any limit above the slot.
    let refused = "memory limit `none` (max-memory) is larger than the pool's slot size `1 MiB` (pool-max-memory)";
    let hostile = wat("hostile.wat");
    let flags = ["--pool-max-memory", "1MiB", "--max-memory", "none"];
    let o = plugbox(&[&["call"], &flags[..], &[&hostile, "grow", "100"]].concat());
    assert_error(&o, 2, refused);
    let o = plugbox(&[&["run"], &flags[..], &[&rust_guest("probe"), "alloc-bomb"]].concat());
    assert_error(&o, 2, refused);
    let o = plugbox(&[
        "call",
        "--pool-max-memory",
        "1MiB",
        "--max-memory",
        "2MiB",
        &hostile,
        "ok",
    ]);
    assert_error(
        &o,
        2,
        "memory limit `2 MiB` (max-memory) is larger than the pool's slot size `1 MiB` (pool-max-memory)",
    );
    // The same from a manifest.
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("plugbox.toml");
    std::fs::write(
        &manifest,
        format!(
            "[engine]\npool-max-memory = \"1MiB\"\n[plugins.h]\nsource = {hostile:?}\n[plugins.h.limits]\nmax-memory = \"none\"\n"
        ),
    )
    .unwrap();
    let manifest = manifest.to_str().unwrap();
    let o = plugbox(&["call", "--manifest", manifest, "h", "grow", "100"]);
    assert_error(&o, 2, refused);
    // Without the pool, `none` is no cap: 100 pages more than the slot.
    let o = plugbox(&[
        "call",
        "--manifest",
        manifest,
        "--pooling=false",
        "h",
        "grow",
        "100",
    ]);
    assert_eq!(stdout(&o), "1\n", "{}", stderr(&o));
}

#[test]
fn table_instance_and_stack_flags() {
    let o = plugbox(&[
        "call",
        "--max-table-elements",
        "10",
        &wat("hostile.wat"),
        "table_bomb",
        "100",
    ]);
    assert_eq!(stdout(&o), "-1\n");
    let o = plugbox(&["call", "--max-instances", "0", &wat("hostile.wat"), "ok"]);
    assert_error(&o, 6, "too many instances");
    let o = plugbox(&[
        "call",
        "--max-stack",
        "64KiB",
        &wat("hostile.wat"),
        "deep",
        "0",
    ]);
    assert_error(&o, 6, "stack overflow");
}

#[test]
fn bad_limit_values_are_usage_errors() {
    for (flag, value, needle) in [
        ("--timeout", "5", "missing unit"),
        ("--timeout", "soon", "invalid duration `soon`"),
        ("--max-memory", "5parsecs", "unknown unit `parsecs`"),
        ("--fuel", "-1", "'-1'"),
        ("--max-stack", "1TiB", "invalid max-stack `1TiB`"),
    ] {
        let o = plugbox(&["call", flag, value, &wat("hostile.wat"), "ok"]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(needle),
            "{flag} {value}: {}",
            stderr(&o)
        );
    }
}

/// Under a small address-space limit the pool cannot be reserved: the
/// engine says so once and allocates on demand.
#[test]
fn the_pool_falls_back_to_on_demand_allocation() {
    let o = std::process::Command::new("prlimit")
        .arg(format!("--as={}", 8u64 << 30))
        .arg(env!("CARGO_BIN_EXE_plugbox"))
        .args(["call", "--no-cache", &wat("add.wat"), "add", "1", "2"])
        .stdin(std::process::Stdio::null())
        .env_remove("PLUGBOX_LOG")
        .output()
        .expect("prlimit (util-linux) runs");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "3\n");
    let err = stderr(&o);
    assert!(
        err.starts_with("note: the pooling allocator could not reserve its address space"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "said once: {err}");
}
