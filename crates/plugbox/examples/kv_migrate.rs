//! Copies plugins' key-value state from one backend to another — the step
//! of moving from the embedded store to Redis (see the README).
//!
//! Run with `cargo run -p plugbox --example kv_migrate -- --from FILE|URL
//! --to FILE|URL NAMESPACE…`, where a backend is an embedded database file
//! or a `redis://` URL, and a namespace a plugin's (`NAME`, or
//! `TENANT/NAME`). Without arguments it shows itself on two temporary
//! files.

use plugbox::{Kv, KvBackendKind, KvConfig};

fn config(place: &str) -> KvConfig {
    match place.parse::<KvBackendKind>() {
        Ok(redis @ KvBackendKind::Redis(_)) => KvConfig::new().backend(redis),
        _ => KvConfig::new().path(place),
    }
}

/// Copies every key of `namespace`; how many.
fn copy(from: &KvConfig, to: &KvConfig, namespace: &str) -> plugbox::Result<u64> {
    // No caps for the copy: what is there is copied as it is.
    let open = |c: &KvConfig| {
        let c = c
            .clone()
            .max_total_size(None)
            .max_keys(None)
            .max_key_size(64 << 10)
            .max_value_size(512 << 20);
        Kv::new(plugbox::kv::open_backend(&c)?, namespace, &c)
    };
    open(from)?.copy_to(&open(to)?)
}

fn main() -> plugbox::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut demo: Option<std::path::PathBuf> = None;
    let (from, to, namespaces) = match args.as_slice() {
        [f, from, t, to, namespaces @ ..] if f == "--from" && t == "--to" => {
            let from = config(from);
            // Opening a file that is not there would create it, empty.
            if let Some(path) = from
                .get_path()
                .filter(|p| from.get_backend() == KvBackendKind::Embedded && !p.is_file())
            {
                eprintln!("kv_migrate: no database file at `{}`", path.display());
                std::process::exit(2);
            }
            (from, config(to), namespaces.to_vec())
        }
        [] => {
            let dir = std::env::temp_dir().join(format!("plugbox-migrate-{}", std::process::id()));
            let from = config(&dir.join("old.sqlite3").display().to_string());
            let kv = Kv::new(plugbox::kv::open_backend(&from)?, "counter", &from)?;
            kv.increment("visits", 42)?;
            let to = config(&dir.join("new.sqlite3").display().to_string());
            demo = Some(dir);
            (from, to, vec!["counter".into()])
        }
        _ => {
            eprintln!("usage: kv_migrate --from FILE|URL --to FILE|URL NAMESPACE...");
            std::process::exit(2);
        }
    };
    for namespace in &namespaces {
        let n = copy(&from, &to, namespace)?;
        println!("{namespace}: {n} keys copied");
    }
    if let Some(dir) = demo {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}
