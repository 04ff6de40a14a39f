//! The `[server]` and `[kv]` tables: TOML written from their real keys
//! with values at and past every edge (or arbitrary text) → `Manifest::parse`
//! → every setting read back and checked, the server's configuration merged
//! over the defaults, each plugin's kv configuration merged over `[kv]`,
//! the backend opened where that needs no network (memory; the embedded
//! file, moved into a scratch directory; a Redis client, which connects
//! only on first use and is not used) and a few operations run on it. Any
//! `Err` is fine; a panic, an abort or a hang is a bug.

use arbitrary::{Result, Unstructured};
use plugbox::{Kv, KvBackendKind, KvConfig, Manifest, ServerConfig};
use std::path::Path;

/// The keys of `[server]`.
pub const SERVER_KEYS: &[&str] = &[
    "addr",
    "max-body",
    "max-header-size",
    "request-timeout",
    "max-concurrent-requests",
    "max-connections",
    "idle-timeout",
    "header-read-timeout",
    "shutdown-timeout",
    "access-log",
    "watch",
];

/// The keys of `[kv]` (and of a plugin's `[plugins.NAME.kv]`).
pub const KV_KEYS: &[&str] = &[
    "backend",
    "data-dir",
    "path",
    "tenant",
    "namespace",
    "max-key-size",
    "max-value-size",
    "max-total-size",
    "max-keys",
    "op-timeout",
];

/// A TOML value: numbers at the edges of every type, sizes and durations
/// with units, `none`, booleans, addresses, URLs, paths, a table or an
/// array (the wrong type), or arbitrary text.
fn value(u: &mut Unstructured<'_>) -> Result<String> {
    let quoted = |s: &str| format!("{s:?}");
    Ok(match u.int_in_range(0..=11)? {
        0 => u.int_in_range(-2i64..=70_000)?.to_string(),
        1 => u.arbitrary::<i64>()?.to_string(),
        2 => (*u.choose(&[
            "0",
            "1",
            "-1",
            "1e30",
            "1e3",
            "-1e3",
            "1.5",
            "-0.0",
            "inf",
            "-inf",
            "nan",
            "18446744073709551615",
            "9223372036854775807",
            "-9223372036854775808",
            "1152921504606846976",
            "1e19",
            "1.8446744073709552e19",
        ])?)
        .to_string(),
        3 => format!("{:e}", u.arbitrary::<f64>()?),
        4 => {
            let unit = u.choose(&[
                "", "B", "KiB", "MiB", "GiB", "TiB", "EiB", "KB", "ns", "us", "ms", "s", "m", "h",
                "d", "days", "x",
            ])?;
            let n = match u.int_in_range(0..=3)? {
                0 => u.int_in_range(0u64..=2000)?.to_string(),
                1 => u.arbitrary::<u64>()?.to_string(),
                2 => format!("{}", u.arbitrary::<f32>()?),
                _ => "1.5".to_string(),
            };
            quoted(&format!("{n}{unit}"))
        }
        5 => quoted("none"),
        6 => u.arbitrary::<bool>()?.to_string(),
        7 => quoted(u.choose(&[
            "127.0.0.1:0",
            "[::1]:8080",
            "0.0.0.0:65535",
            "127.0.0.1:65536",
            "localhost:80",
            "1.2.3.4",
        ])?),
        8 => quoted(u.choose(&[
            "memory",
            "embedded",
            "redis://127.0.0.1:1/0",
            "redis://:secret@127.0.0.1:1/15",
            "redis://",
            "rediss://host:6379/99999999999",
            "unix:///nonexistent.sock",
            "http://example.com",
        ])?),
        9 => quoted(u.choose(&[
            "state",
            "/",
            "..",
            "a/../../b",
            "kv.sqlite3",
            "",
            "{x}",
            "a\u{0}b",
        ])?),
        10 => (*u.choose(&["{}", "[]", "[1, 2]", "{ a = 1 }", "\"\"", "1979-05-27"])?).to_string(),
        _ => quoted(u.arbitrary::<&str>()?),
    })
}

/// A table's lines: keys drawn from `keys` (sometimes misspelled, sometimes
/// twice) with generated values.
fn table(u: &mut Unstructured<'_>, header: &str, keys: &[&str]) -> Result<String> {
    let mut out = format!("{header}\n");
    for _ in 0..u.int_in_range(0..=keys.len())? {
        let key = *u.choose(keys)?;
        let key = match u.int_in_range(0..=15)? {
            0 => key.replace('-', "_"),
            1 => format!("{key}x"),
            _ => key.to_string(),
        };
        out.push_str(&format!("{key} = {}\n", value(u)?));
    }
    Ok(out)
}

/// One case's manifest text: a `[server]` and a `[kv]` table, sometimes a
/// plugin with a `kv` table of its own, or arbitrary text.
pub fn text(u: &mut Unstructured<'_>) -> Result<String> {
    if u.ratio(1, 8)? {
        return Ok(u.arbitrary::<&str>()?.to_string());
    }
    let mut out = String::new();
    if u.arbitrary()? {
        out.push_str(&table(u, "[server]", SERVER_KEYS)?);
    }
    if u.arbitrary()? {
        out.push_str(&table(u, "[kv]", KV_KEYS)?);
    }
    if u.arbitrary()? {
        out.push_str("[plugins.p]\nsource = \"p.wasm\"\n");
        out.push_str(&table(u, "[plugins.p.kv]", KV_KEYS)?);
    }
    Ok(out)
}

/// How far a case went: for the property test, which checks that the
/// generator gets past the parser.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reached {
    /// Manifests that parsed.
    pub parsed: usize,
    /// Stores opened and written to.
    pub stores: usize,
}

/// Runs one case. `scratch` is a directory the embedded backend may use
/// (its file is moved there whatever the settings say); without one,
/// embedded stores are not opened.
pub fn run(text: &str, scratch: Option<&Path>) -> Reached {
    let mut reached = Reached::default();
    let base = Path::new("/nonexistent/plugbox-fuzz");
    let Ok(manifest) = Manifest::parse(text, "fuzz.toml", base) else {
        return reached;
    };
    reached.parsed += 1;
    let server = ServerConfig::new().merge(&manifest.server);
    let _ = server.check();
    let _ = (
        server.get_addr(),
        server.get_max_body(),
        server.get_max_header_size(),
        server.get_request_timeout(),
        server.get_max_concurrent_requests(),
        server.get_max_connections(),
        server.get_idle_timeout(),
        server.get_header_read_timeout(),
        server.get_shutdown_timeout(),
        server.get_access_log(),
        server.get_watch(),
    );
    reached.stores += usize::from(kv(&manifest.kv, "fuzz", scratch));
    for name in manifest.plugins.keys() {
        if let Ok(spec) = manifest.plugin(name) {
            reached.stores += usize::from(kv(spec.get_kv(), name, scratch));
        }
    }
    reached
}

/// Checks `config`, opens its backend where that needs no network, and
/// runs a few operations on plugin `plugin`'s namespace; whether it got
/// to write.
fn kv(config: &KvConfig, plugin: &str, scratch: Option<&Path>) -> bool {
    let _ = format!("{config:?}");
    if config.check().is_err() {
        return false;
    }
    let namespace = config.namespace_of(plugin);
    let config = match config.get_backend() {
        KvBackendKind::Memory => config.clone(),
        KvBackendKind::Embedded => match scratch {
            Some(dir) => config.clone().path(dir.join("kv.sqlite3")),
            None => return false,
        },
        KvBackendKind::Redis(_) => {
            // Parses the URL; connecting would wait on the network.
            let _ = plugbox::kv::open_backend(config);
            return false;
        }
    };
    let Ok(backend) = plugbox::kv::open_backend(&config) else {
        return false;
    };
    let Ok(kv) = Kv::new(backend, &namespace, &config) else {
        return false;
    };
    let _ = kv.set("k", "v");
    let _ = kv.increment("n", 1);
    let _ = kv.compare_and_swap("k", Some(b"v"), "w");
    let _ = kv.get_many(&["k".into(), "n".into()]);
    let _ = kv.list_keys(None, 10);
    let _ = kv.usage();
    let _ = kv.delete("k");
    true
}
