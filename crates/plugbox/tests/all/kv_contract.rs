//! One contract, three backends: every check here runs against the
//! in-memory store, the embedded SQLite file and a real Redis server —
//! directly through `Kv`, and from guests through `plugbox:plugin/kv` and
//! `wasi:keyvalue`.

use crate::support::{engine, rust_component};
use plugbox::kv::{KeyPage, Usage};
use plugbox::{ErrorKind, Kv, KvBackend, KvBackendKind, KvConfig, KvErrorKind, Plugin, PluginSpec};
use plugbox_test_support::RedisDb;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A backend under test, opened once, and what keeps it alive.
pub struct Backend {
    pub name: &'static str,
    pub config: KvConfig,
    pub backend: Arc<dyn KvBackend>,
    _dir: Option<tempfile::TempDir>,
    _redis: Option<RedisDb>,
}

fn opened(
    name: &'static str,
    config: KvConfig,
    dir: Option<tempfile::TempDir>,
    redis: Option<RedisDb>,
) -> Backend {
    Backend {
        name,
        backend: plugbox::kv::open_backend(&config).unwrap(),
        config,
        _dir: dir,
        _redis: redis,
    }
}

pub fn memory() -> Backend {
    opened("memory", KvConfig::new(), None, None)
}

pub fn embedded() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let config = KvConfig::new().path(dir.path().join("kv.sqlite3"));
    opened("embedded", config, Some(dir), None)
}

pub fn redis() -> Backend {
    let db = RedisDb::new();
    let config = KvConfig::new().backend(KvBackendKind::Redis(db.url()));
    opened("redis", config, None, Some(db))
}

impl Backend {
    /// A store of namespace `ns` in this backend, with `tweak`ed settings.
    pub fn kv(&self, ns: &str, tweak: impl FnOnce(KvConfig) -> KvConfig) -> Kv {
        Kv::new(self.backend.clone(), ns, &tweak(self.config.clone())).unwrap()
    }
}

#[track_caller]
fn kind<T: std::fmt::Debug>(r: plugbox::Result<T>) -> KvErrorKind {
    match r.unwrap_err().kind() {
        ErrorKind::Kv(kind) => *kind,
        other => panic!("not a kv error: {other:?}"),
    }
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| k.to_string()).collect()
}

/// Every key of a listing in pages of `limit`.
fn all_pages(kv: &Kv, limit: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..10_000 {
        let KeyPage { keys, cursor: next } = kv.list_keys(cursor, limit).unwrap();
        out.extend(keys);
        match next {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
    panic!("the listing never ended");
}

fn contract(b: &Backend) {
    let kv = b.kv("plugin-a", |c| c);
    // get, set, overwrite, exists, delete.
    assert_eq!(kv.get("k").unwrap(), None, "{}", b.name);
    kv.set("k", "v1").unwrap();
    kv.set("k", "v2").unwrap();
    assert_eq!(kv.get("k").unwrap(), Some(b"v2".to_vec()));
    assert!(kv.exists("k").unwrap());
    kv.set("empty", Vec::new()).unwrap();
    assert_eq!(kv.get("empty").unwrap(), Some(Vec::new()));
    kv.set("bin", vec![0u8, 255, 10, 13]).unwrap();
    assert_eq!(kv.get("bin").unwrap(), Some(vec![0u8, 255, 10, 13]));
    assert!(kv.delete("k").unwrap());
    assert!(!kv.delete("k").unwrap());
    assert!(!kv.exists("k").unwrap());
    assert_eq!(
        kv.usage().unwrap(),
        Usage {
            keys: 2,
            bytes: 5 + 3 + 4
        }
    );

    // Atomic increments on decimal text.
    assert_eq!(kv.increment("n", 5).unwrap(), 5);
    assert_eq!(kv.increment("n", -7).unwrap(), -2);
    assert_eq!(kv.get("n").unwrap(), Some(b"-2".to_vec()));
    kv.set("word", "abc").unwrap();
    assert_eq!(kind(kv.increment("word", 1)), KvErrorKind::Invalid);
    kv.set("big", i64::MAX.to_string()).unwrap();
    assert_eq!(kind(kv.increment("big", 1)), KvErrorKind::Invalid);
    assert_eq!(
        kv.get("big").unwrap(),
        Some(i64::MAX.to_string().into_bytes())
    );

    // Compare-and-swap, on absence and on a value.
    assert!(kv.compare_and_swap("lock", None, "me").unwrap());
    assert!(!kv.compare_and_swap("lock", None, "you").unwrap());
    assert!(!kv.compare_and_swap("lock", Some(b"you"), "x").unwrap());
    assert!(kv.compare_and_swap("lock", Some(b"me"), "next").unwrap());
    assert_eq!(kv.get("lock").unwrap(), Some(b"next".to_vec()));

    // Batches: in order, with gaps and repeats; all or nothing.
    kv.set_many(vec![
        ("a".into(), b"1".to_vec()),
        ("b".into(), b"2".to_vec()),
        ("a".into(), b"3".to_vec()),
    ])
    .unwrap();
    assert_eq!(
        kv.get_many(&keys(&["a", "missing", "b", "a"])).unwrap(),
        [
            Some(b"3".to_vec()),
            None,
            Some(b"2".to_vec()),
            Some(b"3".to_vec())
        ]
    );
    assert_eq!(kv.delete_many(keys(&["a", "b", "missing"])).unwrap(), 2);
    let too_many: Vec<String> = (0..1001).map(|i| format!("k{i}")).collect();
    assert_eq!(kind(kv.get_many(&too_many)), KvErrorKind::Invalid);

    // Caps on keys and values.
    assert_eq!(kind(kv.set(&"k".repeat(257), "v")), KvErrorKind::Invalid);
    let kv_small = b.kv("plugin-a", |c| c.max_value_size(4));
    assert_eq!(kind(kv_small.set("k", "12345")), KvErrorKind::Invalid);

    // Namespaces never meet.
    let other = b.kv("plugin-b", |c| c);
    assert_eq!(other.get("lock").unwrap(), None);
    assert!(other.keys().unwrap().is_empty());
    assert_eq!(
        kv.keys().unwrap(),
        ["big", "bin", "empty", "lock", "n", "word"]
    );
}

fn listing(b: &Backend) {
    let kv = b.kv("lister", |c| c);
    let names: Vec<String> = (0..57).map(|i| format!("key{i:02}")).collect();
    for chunk in names.chunks(10) {
        kv.set_many(chunk.iter().map(|k| (k.clone(), b"v".to_vec())).collect())
            .unwrap();
    }
    let listed: BTreeSet<String> = all_pages(&kv, 10).into_iter().collect();
    assert_eq!(listed, names.iter().cloned().collect(), "{}", b.name);
    // Keys present for the whole listing come, whatever changes around
    // them: delete some, add some, between pages.
    let first = kv.list_keys(None, 5).unwrap();
    kv.delete_many(first.keys.clone()).unwrap();
    kv.set("late", "v").unwrap();
    let mut rest = Vec::new();
    let mut cursor = first.cursor;
    while let Some(c) = cursor {
        let page = kv.list_keys(Some(c), 5).unwrap();
        rest.extend(page.keys);
        cursor = page.cursor;
    }
    let seen: BTreeSet<String> = first.keys.iter().cloned().chain(rest).collect();
    for key in &names {
        assert!(
            seen.contains(key),
            "{}: `{key}` missing from the listing",
            b.name
        );
    }
}

fn quotas(b: &Backend) {
    let kv = b.kv("quota", |c| c.max_keys(3).max_total_size(40));
    kv.set_many(vec![
        ("a".into(), b"1".to_vec()),
        ("b".into(), b"2".to_vec()),
    ])
    .unwrap();
    // A batch that would pass the key quota writes nothing.
    let batch = vec![("c".into(), b"3".to_vec()), ("d".into(), b"4".to_vec())];
    assert_eq!(kind(kv.set_many(batch)), KvErrorKind::QuotaExceeded);
    assert_eq!(kv.get("c").unwrap(), None, "{}", b.name);
    kv.set("c", "3").unwrap();
    assert_eq!(kind(kv.set("d", "4")), KvErrorKind::QuotaExceeded);
    assert_eq!(kind(kv.increment("counter", 1)), KvErrorKind::QuotaExceeded);
    assert_eq!(
        kind(kv.compare_and_swap("d", None, "4")),
        KvErrorKind::QuotaExceeded
    );
    // Overwriting an existing key is no new key; bytes still count.
    kv.set("a", "x".repeat(30)).unwrap();
    assert_eq!(
        kind(kv.set("a", "x".repeat(40))),
        KvErrorKind::QuotaExceeded
    );
    assert_eq!(kv.get("a").unwrap().unwrap().len(), 30);
    // Freeing room makes room; shrinking is always allowed.
    kv.set("a", "x").unwrap();
    assert!(kv.delete("c").unwrap());
    kv.set("d", "4").unwrap();
    assert_eq!(kv.usage().unwrap(), Usage { keys: 3, bytes: 6 });
}

/// The same checks through guests: `plugbox:plugin/kv` (kvprobe) and
/// `wasi:keyvalue` (wasi-kv, a command written for no host in particular),
/// sharing one namespace.
fn through_guests(b: &Backend) {
    let config = b.config.clone().namespace("shared").max_keys(20);
    let probe = Plugin::builder(&engine())
        .kv(config.clone())
        .kv_backend(b.backend.clone())
        .from_file(rust_component("kvprobe"))
        .unwrap();
    let h = |input: &str| probe.handle(input).unwrap();
    assert_eq!(h("get k"), Ok("-".into()), "{}", b.name);
    assert_eq!(h("set k v"), Ok("ok".into()));
    assert_eq!(h("get k"), Ok("v".into()));
    assert_eq!(h("exists k"), Ok("true".into()));
    assert_eq!(h("incr n 40"), Ok("40".into()));
    assert_eq!(h("incr n 2"), Ok("42".into()));
    assert_eq!(h("cas k v w"), Ok("true".into()));
    assert_eq!(h("cas k v x"), Ok("false".into()));
    assert_eq!(h("set-many a=1 b=2"), Ok("ok".into()));
    assert_eq!(h("get-many a x b"), Ok("1,-,2".into()));
    assert_eq!(h("del-many a b x"), Ok("2".into()));
    assert_eq!(h("legacy-set old yes"), Ok("ok".into()));
    assert_eq!(h("legacy-get old"), Ok("yes".into()));
    assert_eq!(h("legacy-keys"), Ok("k,n,old".into()));
    assert_eq!(h("legacy-del old"), Ok("true".into()));
    assert_eq!(h("list - 1"), h("list - 1"));
    let err = h(&format!("set {} v", "k".repeat(300))).unwrap_err();
    assert!(err.starts_with("invalid: "), "{err}");
    assert_eq!(h("fill f 1"), Ok("18".into()), "20 keys, 2 taken");
    let err = h("set one-more v").unwrap_err();
    assert!(
        err.starts_with("quota-exceeded: kv quota of 20 keys"),
        "{err}"
    );
    let out = h("legacy-set one-more v").unwrap();
    assert!(out.starts_with("refused: kv quota of 20 keys"), "{out}");
    assert_eq!(h("del-many f0 f1 f2 f3 f4 f5 f6 f7 f8 f9"), Ok("10".into()));

    let wasi = Plugin::builder(&engine())
        .kv(config)
        .kv_backend(b.backend.clone())
        .sandbox(plugbox::Sandbox::new().stdout(plugbox::Stdio::Capture))
        .from_file(rust_component("wasi-kv"))
        .unwrap();
    let run = |args: &[&str]| {
        let out = wasi.run(args).unwrap();
        assert_eq!(
            out.exit_code,
            0,
            "{}: {args:?}: {}",
            b.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    };
    assert_eq!(run(&["get", "k"]), "w", "the plugin world's write");
    assert_eq!(run(&["incr", "n", "8"]), "50");
    assert_eq!(h("get n"), Ok("50".into()));
    assert_eq!(run(&["set", "s", "wasi"]), "ok");
    assert_eq!(run(&["exists", "s"]), "true");
    assert_eq!(run(&["set-many", "x=1", "y=2"]), "ok");
    assert_eq!(run(&["get-many", "x", "nope", "y"]), "x=1,-,y=2");
    assert_eq!(run(&["del-many", "x", "y"]), "ok");
    assert_eq!(run(&["del", "s"]), "ok");
    assert_eq!(run(&["list"]), "f10,f11,f12,f13,f14,f15,f16,f17,k,n");
    let refused = wasi.run(&["open", "elsewhere"]).unwrap();
    assert_eq!(refused.exit_code, 1);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no such store"));
}

#[test]
fn memory_backend_keeps_the_contract() {
    let b = memory();
    contract(&b);
    listing(&b);
    quotas(&b);
    through_guests(&b);
}

#[test]
fn embedded_backend_keeps_the_contract() {
    let b = embedded();
    contract(&b);
    listing(&b);
    quotas(&b);
    through_guests(&b);
}

#[test]
fn redis_backend_keeps_the_contract() {
    let b = redis();
    contract(&b);
    listing(&b);
    quotas(&b);
    through_guests(&b);
}

#[test]
fn a_manifest_kv_table_reaches_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "[kv]\npath = \"state/kv.sqlite3\"\ntenant = \"acme\"\n\
         [plugins.p]\nsource = \"{}\"\n[plugins.p.kv]\nmax-keys = 1\n",
        rust_component("kvprobe").display()
    );
    std::fs::write(dir.path().join("plugbox.toml"), manifest).unwrap();
    let m = plugbox::Manifest::from_file(dir.path().join("plugbox.toml")).unwrap();
    let spec: PluginSpec = m.plugin("p").unwrap();
    assert_eq!(spec.get_kv().get_backend(), KvBackendKind::Embedded);
    assert_eq!(spec.get_kv().get_max_keys(), Some(1));
    let manager = plugbox::PluginManager::from_manifest(&m).unwrap();
    assert_eq!(manager.handle("p", "set a 1").unwrap(), Ok("ok".into()));
    let err = manager.handle("p", "set b 1").unwrap().unwrap_err();
    assert!(err.starts_with("quota-exceeded"), "{err}");
    let kv = manager.plugin("p").unwrap().kv().clone();
    assert_eq!(kv.namespace(), "acme/p");
    assert!(dir.path().join("state/kv.sqlite3").is_file());
}
