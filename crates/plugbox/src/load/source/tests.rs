//! Reading, classifying and hashing sources.

use super::*;
use crate::load::sniff::line_col;

#[test]
fn text_detection() {
    assert!(looks_like_text(b"  ;; hi\n(module)"));
    assert!(looks_like_text(b"(; block ;) (module)"));
    assert!(!looks_like_text(b"hello"));
    assert!(!looks_like_text(b"\x7fELF"));
}

/// The cache's key is computed as the source is copied or read, in parts:
/// it must be the XXH3-128 of the whole binary whichever way it came in,
/// for a source of one part and of many, and none without a cache.
#[test]
fn the_cache_key_is_the_binarys_hash_however_it_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let cached = Engine::new(&crate::config::EngineConfig::new().cache_dir(dir.path())).unwrap();
    let plain = Engine::new(&crate::config::EngineConfig::new()).unwrap();
    let text = r#"(module (func (export "f")))"#;
    let small = Wasm::from_bytes(&plain, text).unwrap().bytes().to_vec();
    let big_text = format!(
        r#"(module (memory 20) (data (i32.const 0) "{}"))"#,
        "x".repeat(700_000)
    );
    let big = Wasm::from_bytes(&plain, big_text).unwrap().bytes().to_vec();
    for engine in [&cached, &plain] {
        for (file, binary) in [("small.wasm", &small), ("big.wasm", &big)] {
            let key = xxhash_rust::xxh3::xxh3_128(binary);
            let path = dir.path().join(file);
            std::fs::write(&path, binary).unwrap();
            for wasm in [
                Wasm::from_slice(engine, binary).unwrap(),
                Wasm::from_file(engine, &path).unwrap(),
                Wasm::from_reader(engine, &binary[..]).unwrap(),
            ] {
                assert_eq!(wasm.bytes(), &binary[..], "{file}");
                assert_eq!(wasm.xxh3, engine.cache().map(|_| key), "{file}");
                assert_eq!(wasm.xxh3(), key, "{file}");
            }
            assert_eq!(
                Wasm::from_bytes(engine, binary.clone()).unwrap().xxh3(),
                key
            );
        }
        // Text is hashed as the binary it becomes, not as read.
        let from_text = Wasm::from_slice(engine, text.as_bytes()).unwrap();
        assert_eq!(from_text.xxh3, None);
        assert_eq!(from_text.xxh3(), xxhash_rust::xxh3::xxh3_128(&small));
    }
}

#[test]
fn a_known_sha256_reads_back_as_the_digest() {
    use sha2::Digest;
    let bytes = b"\0asm\x01\0\0\0".to_vec();
    let wasm = Wasm::decode("m".into(), bytes.clone(), None).unwrap();
    assert_eq!(wasm.known_sha256(), None, "not computed yet");
    let digest: [u8; 32] = sha2::Sha256::digest(&bytes).into();
    assert_eq!(wasm.sha256(), sha256_hex(&bytes));
    assert_eq!(wasm.known_sha256(), Some(digest));
}

#[test]
fn line_columns() {
    assert_eq!(line_col("ab\ncd", 4), (2, 2));
    assert_eq!(line_col("x", 0), (1, 1));
}
