//! `plugbox bench`: the figures it prints (not their values: the machine
//! is shared), the raw baseline beside them, and its errors.

use crate::support::{assert_error, plugbox, rust_component, stderr, stdout, wat};

fn json(args: &[&str]) -> serde_json::Value {
    let o = plugbox(args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)))
}

fn check_figures(f: &serde_json::Value) {
    let n = |k: &str| f[k].as_f64().unwrap_or_else(|| panic!("{k} in {f}"));
    assert!(n("min_ns") > 0.0);
    assert!(
        n("min_ns") <= n("median_ns") && n("median_ns") <= n("p99_ns"),
        "{f}"
    );
    assert!(n("calls_per_sec") > 0.0);
    assert!(n("rss_after_warmup") > 0.0 && n("rss_at_end") > 0.0, "{f}");
}

#[test]
fn a_core_module_is_measured_beside_raw_wasmtime() {
    let add = wat("add.wat");
    let o = plugbox(&["bench", &add, "add", "1", "2", "--iterations", "50"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("50 calls x 1 thread(s), stateless"), "{out}");
    assert!(
        out.contains("plugbox ") && out.contains("raw wasmtime "),
        "{out}"
    );
    assert!(out.contains("median ratio plugbox/raw: "), "{out}");
    assert!(out.contains("MiB after the warm-up"), "{out}");
    for mode in ["stateless", "stateful"] {
        let v = json(&[
            "bench",
            &add,
            "add",
            "1",
            "2",
            "--iterations",
            "40",
            "--threads",
            "2",
            "--mode",
            mode,
            "--json",
        ]);
        assert_eq!(v["mode"], mode);
        assert_eq!(v["threads"], 2);
        assert_eq!(v["iterations"], 40);
        check_figures(&v["plugbox"]);
        check_figures(&v["raw"]);
        assert!(v["median_ratio"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn without_a_baseline_it_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let wasi = dir.path().join("wasi.wat");
    std::fs::write(
        &wasi,
        r#"(module
            (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
            (memory (export "memory") 1)
            (func (export "yield") (result i32) call $yield))"#,
    )
    .unwrap();
    let v = json(&[
        "bench",
        wasi.to_str().unwrap(),
        "yield",
        "--iterations",
        "5",
        "--json",
    ]);
    check_figures(&v["plugbox"]);
    assert!(v["raw"].is_null());
    assert!(v["raw_missing"].as_str().unwrap().contains("import"), "{v}");
}

#[test]
fn a_component_is_measured_through_json() {
    let v = json(&[
        "bench",
        &rust_component("types"),
        "greet",
        "\"bench\"",
        "--iterations",
        "5",
        "--json",
    ]);
    check_figures(&v["plugbox"]);
    assert!(v["raw_missing"].as_str().unwrap().contains("component"));
}

#[test]
fn bad_benches_are_refused_naming_the_value() {
    let add = wat("add.wat");
    assert_error(
        &plugbox(&["bench", &add, "nope", "--iterations", "5"]),
        2,
        "no function `nope`",
    );
    assert_error(
        &plugbox(&["bench", &add, "add", "1", "--iterations", "5"]),
        2,
        "but 1 was given",
    );
    for (flag, value) in [
        ("--iterations", "0"),
        ("--threads", "0"),
        ("--threads", "257"),
    ] {
        let o = plugbox(&["bench", &add, "add", "1", "2", flag, value]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("invalid value '{value}'")),
            "{}",
            stderr(&o)
        );
    }
    // A call that fails stops the bench with the call's error and code.
    assert_error(
        &plugbox(&[
            "bench",
            &wat("hostile.wat"),
            "spin",
            "--timeout",
            "20ms",
            "--iterations",
            "3",
        ]),
        6,
        "deadline exceeded",
    );
}
