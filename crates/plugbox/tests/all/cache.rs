//! The compile cache: hits are used, damaged entries are recompiled, the
//! size bound holds, concurrent writers and crashed ones leave no torn
//! entry, and an engine's caps hold on a hit.

use plugbox::{Engine, EngineConfig, ErrorKind, Limit, Plugin};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const ANSWER: &str = r#"(module (func (export "answer") (result i32) i32.const 42))"#;
const OTHER: &str = r#"(module (func (export "other") (result i32) i32.const 7))"#;

fn engine(dir: &Path, config: EngineConfig) -> Engine {
    Engine::new(&config.cache_dir(dir)).expect("engine builds")
}

fn load(engine: &Engine, wat: &str) -> plugbox::Result<Plugin> {
    Plugin::from_bytes(engine, wat.as_bytes())
}

/// The cache's entries (not its temporary files).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("plugbox-cache-3"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| {
        !p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".tmp-")
    });
    v.sort();
    v
}

/// Marks the file at `entry` as last modified `ago`.
fn age(entry: &Path, ago: Duration) -> SystemTime {
    let then = SystemTime::now() - ago;
    std::fs::File::options()
        .write(true)
        .open(entry)
        .unwrap()
        .set_modified(then)
        .unwrap();
    then
}

fn only_entry(dir: &Path) -> PathBuf {
    let e = entries(dir);
    assert_eq!(e.len(), 1, "{e:?}");
    e[0].clone()
}

#[cfg(unix)]
#[test]
fn a_second_load_maps_the_cached_code() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), EngineConfig::new());
    load(&e, ANSWER).unwrap();
    let entry = only_entry(dir.path());
    let old = age(&entry, Duration::from_secs(3600));
    let before = std::fs::metadata(&entry).unwrap();
    let hit = load(&engine(dir.path(), EngineConfig::new()), ANSWER).unwrap();
    assert_eq!(hit.call::<(), i32>("answer", ()).unwrap(), 42);
    let after = std::fs::metadata(&entry).unwrap();
    // A hit uses the entry in place (a compile would rename a new file
    // over it) and marks it used.
    assert_eq!(after.ino(), before.ino(), "the entry was not rewritten");
    assert!(after.modified().unwrap() > old, "a hit refreshes the entry");
    assert_eq!(entries(dir.path()), vec![entry]);
}

/// Entries are named by a fast hash that a crafted source could collide
/// with: an intact entry compiled from another source is never used.
#[test]
fn an_entry_of_another_source_under_this_name_is_not_used() {
    // Small sources are hashed before the lookup, large ones (1 MiB on)
    // alongside it: both are checked.
    let big = |export: &str, value: i32| {
        format!(
            r#"(module (memory 20) (data (i32.const 0) "{}")
                 (func (export "{export}") (result i32) i32.const {value}))"#,
            "x".repeat(1_200_000)
        )
    };
    for (answer, other, other_export) in [
        (ANSWER.to_string(), OTHER.to_string(), "other"),
        (big("answer", 42), big("big_other", 7), "big_other"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path(), EngineConfig::new());
        load(&e, &other).unwrap();
        let theirs = std::fs::read(only_entry(dir.path())).unwrap();
        std::fs::remove_file(only_entry(dir.path())).unwrap();
        load(&e, &answer).unwrap();
        let entry = only_entry(dir.path());
        let own = std::fs::read(&entry).unwrap();
        // As if OTHER's XXH3 were ANSWER's: its intact code under ANSWER's name.
        std::fs::write(&entry, &theirs).unwrap();
        let p = load(&engine(dir.path(), EngineConfig::new()), &answer).unwrap();
        assert_eq!(p.call::<(), i32>("answer", ()).unwrap(), 42);
        assert_eq!(
            p.call::<(), i32>(other_export, ()).unwrap_err().kind(),
            &ErrorKind::ExportNotFound {
                name: other_export.into()
            }
        );
        assert_eq!(
            std::fs::read(&entry).unwrap(),
            own,
            "replaced by its own code"
        );
        // And the entry, now its own, is a hit that runs the same code.
        let p = load(&engine(dir.path(), EngineConfig::new()), &answer).unwrap();
        assert_eq!(p.call::<(), i32>("answer", ()).unwrap(), 42);
    }
}

#[test]
fn a_damaged_entry_is_compiled_again() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), EngineConfig::new());
    load(&e, ANSWER).unwrap();
    let entry = only_entry(dir.path());
    let good = std::fs::read(&entry).unwrap();
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x40;
    for damaged in [
        flipped,
        good[..good.len() / 2].to_vec(),
        Vec::new(),
        b"PBXCACH3".to_vec(),
    ] {
        std::fs::write(&entry, &damaged).unwrap();
        let p = load(&e, ANSWER).unwrap();
        assert_eq!(p.call::<(), i32>("answer", ()).unwrap(), 42);
        assert_eq!(std::fs::read(&entry).unwrap(), good, "rewritten intact");
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A module of `size` bytes or more (a data segment fills it) exporting
/// `answer`.
fn binary_of(size: usize) -> Vec<u8> {
    let wat = format!(
        r#"(module (memory 20) (data (i32.const 0) "{}")
             (func (export "answer") (result i32) i32.const 42))"#,
        "x".repeat(size)
    );
    let engine = Engine::new(&EngineConfig::new().max_module_size(None)).unwrap();
    plugbox::Wasm::from_bytes(&engine, wat)
        .unwrap()
        .bytes()
        .to_vec()
}

/// A hit takes the source's SHA-256 from the entry instead of hashing
/// the source again: it must be the very digest a miss computed.
#[test]
fn a_hit_reports_the_sources_sha256() {
    for binary in [binary_of(10), binary_of(1_200_000)] {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path(), EngineConfig::new());
        let miss = Plugin::from_bytes(&e, &binary).unwrap();
        assert_eq!(miss.sha256(), sha256_hex(&binary));
        for hit in [
            Plugin::from_bytes(&e, &binary).unwrap(),
            Plugin::from_bytes(&engine(dir.path(), EngineConfig::new()), binary.clone()).unwrap(),
            Plugin::builder(&e).from_reader(&binary[..]).unwrap(),
        ] {
            assert_eq!(hit.sha256(), sha256_hex(&binary));
            assert_eq!(hit.call::<(), i32>("answer", ()).unwrap(), 42);
        }
        assert_eq!(entries(dir.path()).len(), 1);
    }
    // Text is pinned by the text's digest, not its binary's; its entry
    // records the binary's, which a hit of the binary then reports.
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), EngineConfig::new());
    load(&e, ANSWER).unwrap();
    assert_eq!(
        load(&e, ANSWER).unwrap().sha256(),
        sha256_hex(ANSWER.as_bytes())
    );
    let binary = plugbox::Wasm::from_bytes(&e, ANSWER)
        .unwrap()
        .bytes()
        .to_vec();
    let hit = Plugin::from_bytes(&e, &binary).unwrap();
    assert_eq!(hit.sha256(), sha256_hex(&binary));
    assert_eq!(entries(dir.path()).len(), 1, "the text's entry was the hit");
}

/// `entry` with the trailer bytes `range` zeroed and its checksum made
/// to match again. The trailer: BLAKE3 and SHA-256 of the source, the
/// XXH3-128 checksum, the length, the magic.
fn forge(entry: &[u8], range: std::ops::Range<usize>) -> Vec<u8> {
    let t = entry.len() - 96;
    let mut forged = entry.to_vec();
    forged[t + range.start..t + range.end].fill(0);
    let mut sum = xxhash_rust::xxh3::Xxh3Default::new();
    sum.update(&forged[..t]);
    sum.update(&forged[t..t + 64]);
    forged[t + 64..t + 80].copy_from_slice(&sum.digest128().to_le_bytes());
    forged
}

/// A binary module in a file, compiled once into a cache: its one entry
/// and the entry's intact bytes.
struct Cached {
    _dir: tempfile::TempDir,
    binary: Vec<u8>,
    path: PathBuf,
    engine: Engine,
    entry: PathBuf,
    good: Vec<u8>,
}

impl Cached {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let binary = binary_of(10);
        let path = dir.path().join("answer.wasm");
        std::fs::write(&path, &binary).unwrap();
        let engine = engine(&dir.path().join("cache"), EngineConfig::new());
        Plugin::from_bytes(&engine, &binary).unwrap();
        let entry = only_entry(&dir.path().join("cache"));
        let good = std::fs::read(&entry).unwrap();
        Self {
            _dir: dir,
            binary,
            path,
            engine,
            entry,
            good,
        }
    }

    /// Replaces the entry with `bytes`.
    fn set_entry(&self, bytes: &[u8]) {
        std::fs::write(&self.entry, bytes).unwrap();
    }

    fn entry(&self) -> Vec<u8> {
        std::fs::read(&self.entry).unwrap()
    }

    /// Loads the file through a manifest-style spec pinned to its SHA-256.
    fn load_pinned(&self) -> Plugin {
        let spec = plugbox::PluginSpec::new(&self.path).sha256(sha256_hex(&self.binary));
        Plugin::from_spec(&self.engine, "answer", &spec, Default::default()).unwrap()
    }

    fn load_unpinned(&self) -> Plugin {
        Plugin::from_bytes(&self.engine, &self.binary).unwrap()
    }
}

/// A pinned source, already hashed with SHA-256 for its pin, is matched
/// to its entry by that digest (no BLAKE3 computed); an unpinned one by
/// its BLAKE3.
#[test]
fn a_pinned_source_is_matched_by_sha256_an_unpinned_one_by_blake3() {
    let c = Cached::new();
    let no_blake3 = forge(&c.good, 0..32);
    c.set_entry(&no_blake3);
    let p = c.load_pinned();
    assert_eq!(p.call::<(), i32>("answer", ()).unwrap(), 42);
    assert_eq!(c.entry(), no_blake3, "a hit by SHA-256");
    let p = c.load_unpinned();
    assert_eq!(p.call::<(), i32>("answer", ()).unwrap(), 42);
    assert_eq!(c.entry(), c.good, "no hit by BLAKE3: compiled again");
}

/// An entry with an intact checksum whose recorded SHA-256 is not the
/// one a manifest pin already computed is not plugbox's entry for this
/// source: it is compiled again and replaced. Without a pin, the entry's
/// record is what a hit reports.
#[test]
fn an_entry_recording_another_sha256_is_not_used_for_a_pinned_source() {
    let c = Cached::new();
    let forged = forge(&c.good, 32..64);
    c.set_entry(&forged);
    // Unpinned, the hit reports what the entry records: proof that a hit
    // does not hash the source, and why the cache is trusted like code.
    assert_eq!(c.load_unpinned().sha256(), "0".repeat(64));
    assert_eq!(c.entry(), forged, "a hit, not a compile");
    let p = c.load_pinned();
    assert_eq!(p.sha256(), sha256_hex(&c.binary));
    assert_eq!(p.call::<(), i32>("answer", ()).unwrap(), 42);
    assert_eq!(c.entry(), c.good, "replaced by its own entry");
}

/// Caches of older formats go once unused for 30 days; one an older
/// plugbox still uses stays, and so does anything else.
#[test]
fn unused_caches_of_older_formats_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let unused = dir.path().join("plugbox-cache-1");
    let in_use = dir.path().join("plugbox-cache-2");
    for old in [&unused, &in_use] {
        std::fs::create_dir(old).unwrap();
        std::fs::write(old.join("entry.m"), b"old code").unwrap();
    }
    let month = Duration::from_secs(31 * 24 * 3600);
    age(&unused.join("entry.m"), month);
    std::fs::File::open(&unused)
        .unwrap()
        .set_modified(SystemTime::now() - month)
        .unwrap();
    std::fs::File::open(&in_use)
        .unwrap()
        .set_modified(SystemTime::now() - month)
        .unwrap();
    let unrelated = dir.path().join("plugbox-cache-notes");
    std::fs::write(&unrelated, b"not ours").unwrap();
    load(&engine(dir.path(), EngineConfig::new()), ANSWER).unwrap();
    assert!(!unused.exists(), "unused for a month: removed");
    assert!(
        in_use.join("entry.m").exists(),
        "an entry used recently: kept"
    );
    assert!(unrelated.exists(), "only the older formats' directories go");
    assert_eq!(entries(dir.path()).len(), 1);
    // A symlink named like an old cache is not followed.
    #[cfg(unix)]
    {
        let target = tempfile::tempdir().unwrap();
        std::fs::write(target.path().join("keep"), b"x").unwrap();
        std::fs::remove_dir_all(&in_use).unwrap();
        std::os::unix::fs::symlink(target.path(), &in_use).unwrap();
        load(&engine(dir.path(), EngineConfig::new()), OTHER).unwrap();
        assert!(target.path().join("keep").exists());
    }
}

#[test]
fn the_least_recently_used_entries_go_past_the_size_bound() {
    let dir = tempfile::tempdir().unwrap();
    load(&engine(dir.path(), EngineConfig::new()), ANSWER).unwrap();
    let size = std::fs::metadata(only_entry(dir.path())).unwrap().len();
    // Room for one entry (both are about the same size).
    let bounded = engine(
        dir.path(),
        EngineConfig::new().cache_max_size(size + size / 2),
    );
    let first = only_entry(dir.path());
    age(&first, Duration::from_secs(60));
    load(&bounded, OTHER).unwrap();
    let left = entries(dir.path());
    assert_eq!(left.len(), 1, "{left:?}");
    assert_ne!(left[0], first, "the older entry went");
    // A hit makes an entry the most recently used.
    load(&bounded, OTHER).unwrap();
    assert_eq!(entries(dir.path()), left);
}

#[test]
fn concurrent_writers_leave_one_intact_entry() {
    let dir = tempfile::tempdir().unwrap();
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let p = load(&engine(&dir, EngineConfig::new()), ANSWER).unwrap();
                p.call::<(), i32>("answer", ()).unwrap()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 42);
    }
    let entry = only_entry(dir.path());
    let p = load(&engine(dir.path(), EngineConfig::new()), ANSWER).unwrap();
    assert_eq!(p.call::<(), i32>("answer", ()).unwrap(), 42);
    assert_eq!(only_entry(dir.path()), entry);
}

#[test]
fn temporary_files_of_a_crashed_writer_are_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    load(&engine(dir.path(), EngineConfig::new()), ANSWER).unwrap();
    let cache = dir.path().join("plugbox-cache-3");
    let stale = cache.join(".tmp-stale");
    let fresh = cache.join(".tmp-fresh");
    std::fs::write(&stale, b"half an entry").unwrap();
    std::fs::write(&fresh, b"being written").unwrap();
    age(&stale, Duration::from_secs(2 * 3600));
    load(&engine(dir.path(), EngineConfig::new()), OTHER).unwrap();
    assert!(!stale.exists(), "an hour-old temporary file is removed");
    assert!(fresh.exists(), "a writer's file in progress is left alone");
}

#[test]
fn engines_that_generate_different_code_do_not_share_entries() {
    let dir = tempfile::tempdir().unwrap();
    load(&engine(dir.path(), EngineConfig::new()), ANSWER).unwrap();
    let fuel = engine(dir.path(), EngineConfig::new().consume_fuel(true));
    load(&fuel, ANSWER).unwrap();
    assert_eq!(entries(dir.path()).len(), 2);
    let none = Engine::new(&EngineConfig::new().cache_dir(dir.path()).no_cache()).unwrap();
    load(&none, OTHER).unwrap();
    assert_eq!(entries(dir.path()).len(), 2, "no_cache writes nothing");
}

#[test]
fn an_engine_caps_hold_on_a_cache_hit() {
    let dir = tempfile::tempdir().unwrap();
    load(&engine(dir.path(), EngineConfig::new()), ANSWER).unwrap();
    let strict = engine(dir.path(), EngineConfig::new().max_functions(Some(0)));
    let err = load(&strict, ANSWER).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ResourceLimit(Limit::Declared {
                what: "functions",
                ..
            })
        ),
        "{err:#}"
    );
}

#[test]
fn an_unusable_cache_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let err = Engine::new(&EngineConfig::new().cache_dir(&file)).unwrap_err();
    assert!(format!("{err:#}").contains("a-file"), "{err:#}");
}
