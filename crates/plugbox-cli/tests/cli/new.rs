//! `plugbox new`: every template is generated into a temporary directory,
//! built with its real toolchain and its own build command, called through
//! plugbox, and tested with its own test. Then the inputs it refuses.
//!
//! The toolchains come from `scripts/toolchains.sh` (run by scripts/test.sh)
//! in `$PLUGBOX_TOOLCHAINS`; a missing one fails the test with its name.

use crate::support::{assert_error, plugbox, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Where scripts/toolchains.sh installs the template toolchains.
fn toolchains() -> PathBuf {
    if let Some(dir) = std::env::var_os("PLUGBOX_TOOLCHAINS") {
        return dir.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME is set");
    cache.join("plugbox/toolchains")
}

/// Fails the test, naming the missing tool, unless `path` exists.
#[track_caller]
fn require(path: &Path, what: &str) {
    assert!(
        path.exists(),
        "{what} is not installed (`{}` is missing): run scripts/toolchains.sh \
         (scripts/test.sh does), or set PLUGBOX_TOOLCHAINS",
        path.display()
    );
}

/// A command in `dir` with the toolchains first on `PATH`, `PLUGBOX` set to
/// the binary under test, and none of the outer cargo's settings (a
/// template builds in its own `target/`).
fn command(dir: &Path, program: &str) -> Command {
    let tools = toolchains();
    let mut path = vec![tools.join("bin"), tools.join("python/bin")];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .env("PATH", std::env::join_paths(path).expect("PATH joins"))
        .env("PLUGBOX", env!("CARGO_BIN_EXE_plugbox"))
        .env_remove("PLUGBOX_LOG")
        .stdin(Stdio::null());
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "VIRTUAL_ENV",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `program args` in `dir` and asserts it succeeds.
#[track_caller]
fn run_ok(dir: &Path, program: &str, args: &[&str]) -> Output {
    let out = command(dir, program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}`: {e}"));
    assert!(
        out.status.success(),
        "`{program} {}` in {} failed ({}):\n{}\n{}",
        args.join(" "),
        dir.display(),
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Runs the template's own test and asserts it ran `summary` (so a test
/// runner that found nothing to run cannot pass).
#[track_caller]
fn own_test(dir: &Path, program: &str, args: &[&str], summary: &str) {
    let out = run_ok(dir, program, args);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains(summary), "expected `{summary}` in:\n{text}");
}

/// `plugbox new NAME --lang LANG [--world WORLD]` in a new temporary
/// directory; returns it and the project directory.
fn generate(name: &str, lang: &str, world: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let dir = tmp.path().join(name);
    let d = dir.display().to_string();
    let o = plugbox(&["new", name, "--lang", lang, "--world", world, "--dir", &d]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(dir.join("README.md").is_file());
    (tmp, dir)
}

/// `plugbox call <plugin> handle '"world"'` from `dir`: asserts the answer,
/// and that the plugin's log reached the host.
#[track_caller]
fn assert_handles_world(dir: &Path, plugin: &str) {
    let out = command(dir, env!("CARGO_BIN_EXE_plugbox"))
        .args(["call", plugin, "handle", "\"world\""])
        .env("PLUGBOX_LOG", "info")
        .output()
        .expect("plugbox runs");
    assert_eq!(
        stdout(&out),
        "{\"ok\":\"hello, world\"}\n",
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("greeting world"),
        "no log line in: {}",
        stderr(&out)
    );
}

#[test]
fn rust_plugin_template_builds_and_handles_input() {
    let (_tmp, dir) = generate("rust-greeter", "rust", "plugin");
    run_ok(
        &dir,
        "cargo",
        &["build", "--release", "--target", "wasm32-wasip2"],
    );
    let wasm = "target/wasm32-wasip2/release/rust_greeter.wasm";
    assert_handles_world(&dir, wasm);
    own_test(
        &dir,
        "cargo",
        &["test", "--quiet"],
        "test result: ok. 3 passed",
    );
}

#[test]
fn rust_command_template_builds_and_runs() {
    let (_tmp, dir) = generate("rust-hello", "rust", "command");
    run_ok(
        &dir,
        "cargo",
        &["build", "--release", "--target", "wasm32-wasip2"],
    );
    let wasm = "target/wasm32-wasip2/release/rust-hello.wasm";
    let out = run_ok(&dir, env!("CARGO_BIN_EXE_plugbox"), &["run", wasm, "world"]);
    assert_eq!(stdout(&out), "hello, world\n");
    own_test(
        &dir,
        "cargo",
        &["test", "--quiet"],
        "test result: ok. 2 passed",
    );
}

#[test]
fn c_plugin_template_builds_and_handles_input() {
    require(&toolchains().join("bin/wit-bindgen"), "wit-bindgen");
    require(&toolchains().join("python/bin/wasm-tools"), "wasm-tools");
    let (_tmp, dir) = generate("c-greeter", "c", "plugin");
    run_ok(&dir, "make", &[]);
    assert_handles_world(&dir, "c-greeter.wasm");
    own_test(
        &dir,
        "make",
        &["test"],
        "ok: plugbox call --manifest plugbox.toml",
    );
}

#[test]
fn c_command_template_builds_and_runs() {
    let (_tmp, dir) = generate("c-hello", "c", "command");
    run_ok(&dir, "make", &[]);
    let out = run_ok(
        &dir,
        env!("CARGO_BIN_EXE_plugbox"),
        &["run", "c-hello.wasm", "world"],
    );
    assert_eq!(stdout(&out), "hello, world\n");
    own_test(&dir, "make", &["test"], "ok: plugbox run c-hello.wasm\n");
}

#[test]
#[cfg(unix)]
fn js_plugin_template_builds_and_handles_input() {
    let node_modules = toolchains().join("node/node_modules");
    require(
        &node_modules.join("@bytecodealliance/componentize-js"),
        "componentize-js",
    );
    let (_tmp, dir) = generate("js-greeter", "js", "plugin");
    // Instead of `npm install` (hundreds of MB per project): the packages
    // scripts/toolchains.sh installed at the version package.json pins.
    std::os::unix::fs::symlink(&node_modules, dir.join("node_modules")).expect("link node_modules");
    run_ok(&dir, "npm", &["run", "build", "--silent"]);
    assert_handles_world(&dir, "js-greeter.wasm");
    own_test(&dir, "npm", &["test", "--silent"], "# pass 3");
}

#[test]
fn python_plugin_template_builds_and_handles_input() {
    require(
        &toolchains().join("python/bin/componentize-py"),
        "componentize-py",
    );
    let (_tmp, dir) = generate("py-greeter", "python", "plugin");
    run_ok(&dir, "./build.sh", &[]);
    assert_handles_world(&dir, "py-greeter.wasm");
    own_test(&dir, "python3", &["-m", "unittest"], "Ran 3 tests");
}

#[test]
fn list_prints_the_language_matrix() {
    let o = plugbox(&["new", "--list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("| handle | log | config | kv | host functions |"),
        "{out}"
    );
    for lang in ["| rust |", "| c |", "| js |", "| python |"] {
        assert!(out.contains(lang), "{lang} missing from:\n{out}");
    }
    // The README shows the same table.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let table: String = out.lines().take(6).map(|l| format!("{l}\n")).collect();
    assert!(
        readme.contains(&table),
        "README.md's matrix differs from:\n{table}"
    );
}

#[test]
fn an_existing_directory_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("taken");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("Cargo.toml"), "mine").unwrap();
    let d = dir.display().to_string();
    let o = plugbox(&["new", "taken", "--lang", "rust", "--dir", &d]);
    assert_error(&o, 2, "already exists");
    assert!(stderr(&o).contains(&format!("`{d}`")), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(dir.join("Cargo.toml")).unwrap(),
        "mine"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);

    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let f = file.display().to_string();
    let o = plugbox(&["new", "file", "--lang", "c", "--dir", &f]);
    assert_error(&o, 2, "already exists");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

#[test]
fn invalid_names_are_refused_with_the_name() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["My-Plugin", "9lives", "a.b", "../escape", "test", "x-"] {
        let d = tmp.path().join("out").display().to_string();
        let o = plugbox(&["new", name, "--lang", "rust", "--dir", &d]);
        assert_error(&o, 2, &format!("invalid project name `{name}`"));
        assert!(!tmp.path().join("out").exists(), "{name}: wrote a project");
    }
}

#[test]
fn unknown_language_lists_the_known_ones() {
    let o = plugbox(&["new", "x", "--lang", "go"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown language `go` (known: rust, c, js, python)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn command_world_is_refused_where_the_language_has_no_template() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("x").display().to_string();
    for lang in ["js", "python"] {
        let o = plugbox(&[
            "new", "x", "--lang", lang, "--world", "command", "--dir", &d,
        ]);
        assert_error(
            &o,
            2,
            &format!("`--world command` is not available for `{lang}`"),
        );
        assert!(!tmp.path().join("x").exists());
    }
}
