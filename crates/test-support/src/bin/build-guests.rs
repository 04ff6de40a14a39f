//! Builds every test guest once, before the test binaries run: the Rust
//! guests in `guests/rust` for wasm32-wasip1 (core modules) and
//! wasm32-wasip2 (components), and the C guests in `guests/c` as
//! `plugbox:plugin` components (clang for wasm32, then the world's WIT
//! embedded and the module turned into a component, as
//! `wasm-tools component embed` + `component new` do).
//!
//! `cargo run -p plugbox-test-support --bin build-guests`

use plugbox_test_support::{built_dir, guests_dir, repo_root};
use std::path::Path;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    match build_all() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("build-guests: {e}");
            ExitCode::FAILURE
        }
    }
}

fn build_all() -> Result<(), String> {
    for target in ["wasm32-wasip1", "wasm32-wasip2"] {
        build_rust(target)?;
    }
    let c_dir = guests_dir().join("c");
    let entries =
        std::fs::read_dir(&c_dir).map_err(|e| format!("cannot list `{}`: {e}", c_dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "c") {
            build_c(&path)?;
        }
    }
    Ok(())
}

fn build_rust(target: &str) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--target", target])
        .arg("--manifest-path")
        .arg(guests_dir().join("rust/Cargo.toml"))
        .arg("--target-dir")
        .arg(built_dir())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .status()
        .map_err(|e| format!("cannot run cargo to build the Rust guests: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the Rust guests for {target} failed ({status}); is the target installed? \
             run `rustup target add {target}` (scripts/test.sh does)"
        ));
    }
    Ok(())
}

fn build_c(source: &Path) -> Result<(), String> {
    let name = source
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| format!("bad C guest name `{}`", source.display()))?;
    let out_dir = built_dir().join("c");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("cannot create {out_dir:?}: {e}"))?;
    let core = out_dir.join(format!("{name}.core.wasm"));
    let clang = ["clang-19", "clang"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok())
        .ok_or("clang is not installed (scripts/test.sh installs clang-19 and lld-19)")?;
    let status = Command::new(clang)
        .args([
            "--target=wasm32",
            "-nostdlib",
            "-O2",
            "-Wl,--no-entry",
            "-o",
        ])
        .arg(&core)
        .arg(source)
        .status()
        .map_err(|e| format!("cannot run {clang}: {e}"))?;
    if !status.success() {
        return Err(format!(
            "compiling `{}` failed ({status})",
            source.display()
        ));
    }
    let mut module = std::fs::read(&core).map_err(|e| format!("cannot read {core:?}: {e}"))?;
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve
        .push_file(repo_root().join("crates/plugbox/wit/plugin.wit"))
        .map_err(|e| format!("the plugin WIT does not parse: {e:#}"))?;
    let world = resolve
        .select_world(&[pkg], Some("plugin"))
        .map_err(|e| format!("no plugin world: {e:#}"))?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .map_err(|e| format!("cannot embed the WIT: {e:#}"))?;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|e| e.validate(true).encode())
        .map_err(|e| format!("`{name}` is not a valid plugbox:plugin component: {e:#}"))?;
    let out = out_dir.join(format!("{name}.wasm"));
    std::fs::write(&out, component).map_err(|e| format!("cannot write {out:?}: {e}"))
}
