//! The plugins the soak serves and their manifest, written into the work
//! directory (`soak-serve setup DIR`), and the versions the reloader
//! writes over them.

use std::path::Path;

/// The manifest `plugbox serve --manifest` reads. The server's own limits
/// are lowered from their defaults so that the hostile cases end sooner
/// (a slowloris head after 2 s, a trickled body after 5 s) and a huge
/// body costs 1 MiB, not 16; the guests' limits are small for the same
/// reason. The instance pool keeps 8 warm slots instead of its default
/// 100, as the library's soak does (SECURITY.md, "Soak"): each reload
/// brings a new module that takes a fresh slot while fewer than
/// `pool-warm-slots` are warm, growth by design that would otherwise last
/// most of a ten-minute run.
pub const MANIFEST: &str = r#"# Written by `soak-serve setup` for scripts/soak-serve.sh.
[engine]
pool-warm-slots = 8

[server]
max-body = "1MiB"
header-read-timeout = "2s"
request-timeout = "5s"

[plugins.adder]
source = "adder.wat"

[plugins.counter]
source = "counter.wat"

[plugins.hostile]
source = "hostile.wat"

[plugins.hostile.limits]
timeout = "200ms"
max-memory = "1MiB"
max-table-elements = 10000
trap-on-grow-failure = true

[plugins.traps]
source = "traps.wat"

[plugins.flood]
source = "flood.wat"

[plugins.flood.limits]
timeout = "2s"
max-output = "256KiB"

[plugins.flood.sandbox]
stdout = "capture"

[plugins.echo]
source = "echo.wasm"
route = "/echo"
"#;

/// The plugins of [`MANIFEST`], for telling them from other label values.
pub const PLUGINS: [&str; 6] = ["adder", "counter", "hostile", "traps", "flood", "echo"];

/// `counter.wat` at `generation`: `version` returns it.
pub fn counter(generation: u64) -> String {
    format!("(module (func (export \"version\") (result i32) i32.const {generation}))\n")
}

/// A new `counter.wat` that does not compile: refused, the old one serves.
pub const BROKEN_COUNTER: &str = "(module (func (export \"version\") (result i32) oops))\n";

/// A new `echo.wasm` that is not WebAssembly: refused.
pub const GARBAGE: &[u8] = b"\0asm\x01\0\0\0this is not a section";

/// A new `echo.wasm` that is a valid core module but no wasi:http
/// component: start-up refuses it at a route, so a reload must too.
pub const WRONG_KIND: &[u8] = b"\0asm\x01\0\0\0";

/// Writes the plugins and the manifest into `dir`.
pub fn write(dir: &Path) -> Result<(), String> {
    let copy = |from: &Path, to: &str| {
        std::fs::copy(from, dir.join(to)).map(drop).map_err(|e| {
            format!(
                "cannot copy `{}` into `{}`: {e}",
                from.display(),
                dir.display()
            )
        })
    };
    let echo = plugbox_test_support::built_dir().join("wasm32-wasip2/release/http_echo.wasm");
    if !echo.is_file() {
        return Err(format!(
            "`{}` is not built: run `cargo run -p plugbox-test-support --bin build-guests`",
            echo.display()
        ));
    }
    copy(&echo, "echo.wasm")?;
    copy(&plugbox_test_support::wat("add.wat"), "adder.wat")?;
    copy(&plugbox_test_support::wat("hostile.wat"), "hostile.wat")?;
    copy(&plugbox_test_support::wat("traps.wat"), "traps.wat")?;
    // `flood_stdout` writes 64 KiB to stdout, forever.
    copy(&plugbox_test_support::wat("blocking.wat"), "flood.wat")?;
    replace(&dir.join("counter.wat"), counter(1).as_bytes())?;
    replace(&dir.join("plugbox.toml"), MANIFEST.as_bytes())
}

/// Replaces `path` atomically: written beside it, renamed over it.
pub fn replace(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot replace `{}`: {e}", path.display()))
}
