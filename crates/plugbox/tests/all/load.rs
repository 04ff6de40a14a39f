//! Loading: sources, size caps, WAT, module/component detection.

use crate::support::{engine, wat};
use plugbox::{Engine, EngineConfig, ErrorKind, InvalidReason, Plugin, Wasm, WasmKind};
use std::io::Read;

const ADD: &str = r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;

#[test]
fn loads_from_path_bytes_and_reader() {
    let engine = engine();
    let from_path = Plugin::from_file(&engine, wat("add.wat")).unwrap();
    let binary = Wasm::from_bytes(&engine, ADD).unwrap();
    assert!(binary.is_text());
    let from_bytes = Plugin::from_bytes(&engine, binary.bytes()).unwrap();
    let from_reader = Plugin::builder(&engine)
        .from_reader(std::io::Cursor::new(binary.bytes().to_vec()))
        .unwrap();
    for p in [from_path, from_bytes, from_reader] {
        assert_eq!(p.call::<(i32, i32), i32>("add", (5, 3)).unwrap(), 8);
    }
}

#[test]
fn tells_modules_and_components_apart() {
    let engine = engine();
    assert_eq!(
        Wasm::from_file(&engine, wat("add.wat")).unwrap().kind(),
        WasmKind::Module
    );
    let component = Wasm::from_file(&engine, wat("multi_instance.wat")).unwrap();
    assert_eq!(component.kind(), WasmKind::Component);
    component.validate(&engine).unwrap();
    let info = component.inspect().unwrap();
    assert_eq!(info.kind, WasmKind::Component);
}

#[test]
fn components_load_and_count_their_core_instances() {
    let p = Plugin::from_file(&engine(), wat("multi_instance.wat")).unwrap();
    assert!(p.is_component());
    assert!(p.functions().is_empty());
    p.instantiate().unwrap();
    let err = p
        .with_limits(plugbox::Limits::new().max_instances(1))
        .unwrap()
        .instantiate()
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ResourceLimit(plugbox::Limit::Count {
                what: "instances",
                allowed: 1
            })
        ),
        "{err:?}"
    );
}

/// A reader that yields zeros forever and counts how much was read.
struct Endless {
    read: u64,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        buf.fill(0);
        self.read += buf.len() as u64;
        Ok(buf.len())
    }
}

#[test]
fn endless_stream_is_refused_at_the_cap_without_reading_it_all() {
    let engine = Engine::new(&EngineConfig::new().max_module_size(Some(1 << 20))).unwrap();
    let mut reader = Endless { read: 0 };
    let err = Wasm::from_reader(&engine, &mut reader).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::InvalidModule(InvalidReason::TooLarge { limit, .. }) if *limit == 1 << 20
    ));
    assert!(
        reader.read <= (1 << 20) + (64 << 10),
        "read {} bytes",
        reader.read
    );
    assert!(format!("{err:#}").contains("size cap of 1 MiB"), "{err}");
}

#[test]
fn default_size_cap_is_64_mib() {
    let engine = engine();
    let big = vec![0u8; (64 << 20) + 1];
    let err = Wasm::from_bytes(&engine, big).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::InvalidModule(InvalidReason::TooLarge { limit, .. }) if *limit == 64 << 20
    ));
}

#[test]
fn oversized_file_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.wasm");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(10 << 30).unwrap(); // sparse 10 GiB
    let err = Wasm::from_file(&engine(), &path).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidModule(InvalidReason::TooLarge { size, .. }) if *size == 10 << 30)
    );
}

#[test]
fn missing_file_and_directory_are_io_errors() {
    let engine = engine();
    let err = Wasm::from_file(&engine, "/nonexistent/x.wasm").unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Io);
    assert!(format!("{err:#}").contains("`/nonexistent/x.wasm`"));
    let err = Wasm::from_file(&engine, std::env::temp_dir()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Io);
    assert!(format!("{err:#}").contains("is a directory"), "{err}");
}

#[test]
fn wasm_name_is_used_in_errors() {
    let err = Wasm::from_bytes(&engine(), Vec::new()).unwrap_err();
    assert!(format!("{err:#}").contains("`<bytes>`"), "{err}");
    let wasm = Wasm::from_bytes(&engine(), ADD).unwrap().named("adder");
    assert_eq!(wasm.name(), "adder");
}

#[test]
fn pooling_allocator_serves_calls_and_checks_memory_caps() {
    let engine = Engine::new(
        &EngineConfig::new()
            .pooling(true)
            .pool_instances(4)
            .pool_max_memory(8 << 20),
    )
    .unwrap();
    let p = Plugin::builder(&engine)
        .limits(plugbox::Limits::new().max_memory(4 << 20))
        .from_file(wat("hostile.wat"))
        .unwrap();
    for _ in 0..20 {
        assert_eq!(
            p.call::<(), i32>("count", ()).unwrap(),
            1,
            "fresh pooled instance each call"
        );
    }
    assert_eq!(
        p.call::<(), i32>("memory_bomb", ()).unwrap(),
        64,
        "4 MiB cap in pages"
    );
    let err = Plugin::builder(&engine)
        .limits(plugbox::Limits::new().max_memory(64 << 20))
        .from_file(wat("hostile.wat"))
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(
        format!("{err:#}").contains("larger than the pool's slot size"),
        "{err:#}"
    );
}

#[test]
fn engine_config_round_trips_through_toml_and_rejects_unknown_fields() {
    let config = EngineConfig::new()
        .pooling(true)
        .feature(plugbox::WasmFeature::Simd, false);
    let text = toml::to_string(&config).unwrap();
    let back: EngineConfig = toml::from_str(&text).unwrap();
    assert_eq!(back, config);
    let err = toml::from_str::<EngineConfig>("opt-levle = \"none\"").unwrap_err();
    assert!(
        err.to_string().contains("unknown field `opt-levle`"),
        "{err}"
    );
    let bad_combo = EngineConfig::new()
        .feature(plugbox::WasmFeature::Simd, false)
        .feature(plugbox::WasmFeature::RelaxedSimd, true);
    assert_eq!(
        Engine::new(&bad_combo).unwrap_err().kind(),
        &ErrorKind::Config
    );
}
