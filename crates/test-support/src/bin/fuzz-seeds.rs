//! Writes the seed corpora of the fuzz targets in `fuzz/` from sources in
//! the repository, so no opaque binary is committed:
//!
//! - `load`: every WAT guest in `guests/wat/` and `fuzz/seeds/load/`, as
//!   text and as a binary; the built components and core modules in
//!   `target/guests` (if `build-guests` has run); a few bare headers.
//! - `manifest`: `guests/plugbox.toml` and `fuzz/seeds/manifest/*.toml`.
//! - `api_args`: a few request bodies, each after the byte that picks the
//!   function (`none`, `add`, `mixed`, then the `types` component's).
//! - `call` and `wit`: no seeds (their input drives a generator).
//!
//! `cargo run -p plugbox-test-support --bin fuzz-seeds [CORPUS_DIR]`
//! (default `fuzz/corpus`); existing files are kept.

use plugbox_test_support::{built_dir, guests_dir, repo_root};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let out = std::env::args_os()
        .nth(1)
        .map_or_else(|| repo_root().join("fuzz/corpus"), PathBuf::from);
    match write_all(&out) {
        Ok(counts) => {
            for (target, n) in counts {
                println!("{target}: {n} seeds in {}", out.join(target).display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fuzz-seeds: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_all(out: &Path) -> Result<Vec<(&'static str, usize)>, String> {
    let seeds = repo_root().join("fuzz/seeds");
    let mut counts = Vec::new();

    let load = out.join("load");
    let mut n = 0;
    for dir in [guests_dir().join("wat"), seeds.join("load")] {
        for path in files(&dir, "wat")? {
            let text = read(&path)?;
            let stem = stem(&path);
            write(&load, &format!("{stem}.wat"), &text)?;
            let binary = wat_to_binary(&path, &text)?;
            write(&load, &format!("{stem}.wasm"), &binary)?;
            n += 2;
        }
    }
    for (kind, dir) in [
        ("wasip1", "wasm32-wasip1/release"),
        ("wasip2", "wasm32-wasip2/release"),
        ("c", "c"),
    ] {
        let dir = built_dir().join(dir);
        if !dir.exists() {
            continue;
        }
        for path in files(&dir, "wasm")? {
            let bytes = read(&path)?;
            // The fuzzer's inputs are capped; skip the largest guests.
            if bytes.len() <= 1 << 20 {
                write(&load, &format!("built-{kind}-{}.wasm", stem(&path)), &bytes)?;
                n += 1;
            }
        }
    }
    for (name, bytes) in [
        ("magic-only.bin", &b"\0asm"[..]),
        ("module-header.wasm", b"\0asm\x01\0\0\0"),
        ("component-header.wasm", b"\0asm\x0d\0\x01\0"),
        ("elf.bin", b"\x7fELF\x02\x01\x01\0"),
    ] {
        write(&load, name, bytes)?;
        n += 1;
    }
    counts.push(("load", n));

    let manifest = out.join("manifest");
    let mut n = 0;
    let mut sources = vec![guests_dir().join("plugbox.toml")];
    sources.extend(files(&seeds.join("manifest"), "toml")?);
    for path in sources {
        write(&manifest, &format!("{}.toml", stem(&path)), &read(&path)?)?;
        n += 1;
    }
    counts.push(("manifest", n));

    let api_args = out.join("api_args");
    let bodies: [&[u8]; 8] = [
        b"\x00[]",
        b"\x01[1, 2]",
        b"\x01[\"0x10\", -1]",
        b"\x02[1, 2, 1.5, \"nan\"]",
        b"\x03[\"text\"]",
        b"\x04[[[\"a\"], []]]",
        b"\x05[{\"x\": 1, \"y\": 2, \"label\": \"a\"}, \"red\"]",
        b"\x06[{\"ok\": 1}, null, true]",
    ];
    for (i, body) in bodies.iter().enumerate() {
        write(&api_args, &format!("body-{i}.bin"), body)?;
    }
    counts.push(("api_args", bodies.len()));

    for target in ["call", "wit"] {
        std::fs::create_dir_all(out.join(target))
            .map_err(|e| format!("cannot create {}: {e}", out.join(target).display()))?;
        counts.push((target, 0));
    }
    Ok(counts)
}

/// Files in `dir` ending in `.ext`, sorted.
fn files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    paths.sort();
    Ok(paths)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "seed".into(), |s| s.to_string_lossy().into_owned())
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn wat_to_binary(path: &Path, text: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(text).map_err(|e| format!("{}: {e}", path.display()))?;
    let fail = |e: wast::Error| format!("{} does not parse: {e}", path.display());
    let buf = wast::parser::ParseBuffer::new(text).map_err(fail)?;
    let mut wat: wast::Wat<'_> = wast::parser::parse(&buf).map_err(fail)?;
    wat.encode().map_err(fail)
}
