//! The CLI's compile cache: per user by default, moved or turned off by
//! the environment and flags, and never a reason to fail.

use crate::support::{stderr, stdout, wat};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `plugbox call add.wat add 2 3` with `home` as the home directory and
/// `env` on top (a value of `None` removes the variable).
fn call(home: &Path, extra: &[&str], env: &[(&str, Option<&str>)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plugbox"));
    cmd.arg("call")
        .args(extra)
        .args([wat("add.wat").as_str(), "add", "2", "3"])
        .stdin(Stdio::null())
        .env("HOME", home)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("PLUGBOX_CACHE_DIR")
        .env_remove("PLUGBOX_LOG");
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let o = cmd.output().expect("plugbox runs");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "5\n");
    o
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("plugbox-cache-3")).map_or(0, |d| d.count())
}

#[test]
fn the_cache_is_per_user_by_default() {
    let home = tempfile::tempdir().unwrap();
    call(home.path(), &[], &[]);
    let default = home.path().join(".cache/plugbox");
    assert_eq!(entries(&default), 1);
    // A second run maps the entry rather than compiling a new one.
    call(home.path(), &[], &[]);
    assert_eq!(entries(&default), 1);
    let xdg = home.path().join("xdg");
    call(home.path(), &[], &[("XDG_CACHE_HOME", xdg.to_str())]);
    assert_eq!(entries(&xdg.join("plugbox")), 1);
}

#[test]
fn the_environment_and_flags_move_or_turn_off_the_cache() {
    let home = tempfile::tempdir().unwrap();
    let default = home.path().join(".cache/plugbox");
    let chosen = home.path().join("chosen");
    call(home.path(), &[], &[("PLUGBOX_CACHE_DIR", chosen.to_str())]);
    assert_eq!(entries(&chosen), 1);
    for off in ["", "none"] {
        call(home.path(), &[], &[("PLUGBOX_CACHE_DIR", Some(off))]);
    }
    call(home.path(), &["--no-cache"], &[]);
    assert!(!default.exists(), "nothing written when the cache is off");
    let flag = home.path().join("flag");
    call(
        home.path(),
        &["--cache-dir", flag.to_str().unwrap()],
        &[("PLUGBOX_CACHE_DIR", chosen.to_str())],
    );
    assert_eq!(entries(&flag), 1, "--cache-dir wins over the environment");
}

#[test]
fn an_unusable_default_cache_is_skipped() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    // `$HOME/.cache` cannot be created under a file.
    let o = call(&file, &[], &[]);
    assert_eq!(stderr(&o), "");
    // One chosen through the environment is worth a warning, no more.
    let o = call(
        home.path(),
        &[],
        &[("PLUGBOX_CACHE_DIR", file.join("x").to_str())],
    );
    assert!(stderr(&o).contains("no compile cache"), "{}", stderr(&o));
    assert!(stderr(&o).contains("not-a-dir/x"), "{}", stderr(&o));
    assert!(!stderr(&o).contains('\x1b'), "no colours into a pipe");
}
