//! Typed errors: every invalid input and every trap, classified exactly.

use crate::support::{engine, plugin, wat};
use plugbox::{
    Engine, EngineConfig, ErrorKind, InvalidReason, Plugin, TrapKind, Wasm, WasmFeature,
};

fn invalid(bytes: &[u8]) -> plugbox::Error {
    Wasm::from_bytes(&engine(), bytes.to_vec())
        .and_then(|w| w.validate(&engine()))
        .expect_err("input must be rejected")
}

#[test]
fn empty_input() {
    let err = invalid(b"");
    assert_eq!(err.kind(), &ErrorKind::InvalidModule(InvalidReason::Empty));
    assert!(format!("{err:#}").contains("empty"), "{err}");
}

#[test]
fn truncated_header_and_body() {
    let err = invalid(b"\0as");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::InvalidModule(InvalidReason::Truncated { offset: 3 })
        ),
        "{err:?}"
    );
    let err = invalid(b"\0asm\x01\0");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::InvalidModule(InvalidReason::Truncated { .. })
        ),
        "{err:?}"
    );
    // A full module cut in the middle of its code section.
    let full = Wasm::from_file(&engine(), wat("add.wat")).unwrap();
    let cut = &full.bytes()[..full.bytes().len() - 20];
    let err = invalid(cut);
    assert!(
        matches!(
            err.kind(),
            ErrorKind::InvalidModule(InvalidReason::Truncated { .. })
        ),
        "{err:?}"
    );
    assert!(format!("{err:#}").contains("offset 0x"), "{err}");
}

#[test]
fn wrong_magic_says_what_the_bytes_look_like() {
    let cases: &[(&[u8], &str, &str)] = &[
        (
            b"\x7fELF\x02\x01\x01\0\0\0\0\0",
            "7f454c46",
            "ELF executable",
        ),
        (b"MZ\x90\0\x03\0\0\0", "4d5a9000", "Windows PE"),
        (
            b"PK\x03\x04\x14\0\0\0",
            "504b0304",
            "zip archive (or a jar)",
        ),
        (b"\x1f\x8b\x08\0\0\0\0\0", "1f8b0800", "gzip"),
        (b"\xca\xfe\xba\xbe\0\0\0\x34", "cafebabe", "Java class file"),
        (b"[1, 2, 3]", "5b312c20", "JSON"),
        (b"#!/bin/sh\n", "23212f62", "a script"),
        (b"hello world", "68656c6c", "not WebAssembly text"),
    ];
    for (bytes, hex, what) in cases {
        let err = invalid(bytes);
        assert_eq!(
            err.kind(),
            &ErrorKind::InvalidModule(InvalidReason::BadMagic),
            "{err}"
        );
        let msg = format!("{err:#}");
        assert!(msg.contains(&format!("bad magic bytes {hex}")), "{msg}");
        assert!(msg.contains(what), "{msg}");
    }
}

#[test]
fn wat_syntax_error_has_line_and_column() {
    let err = invalid(b"(module\n  (func (export \"f\")\n    i32.bogus))");
    assert_eq!(
        err.kind(),
        &ErrorKind::InvalidModule(InvalidReason::Text {
            line: Some(3),
            column: Some(5)
        }),
        "{err}"
    );
    assert!(format!("{err:#}").contains("3:5"), "{err}");
}

#[test]
fn unsupported_version() {
    let err = invalid(b"\0asm\x02\0\0\0");
    assert_eq!(
        err.kind(),
        &ErrorKind::InvalidModule(InvalidReason::UnsupportedVersion(2))
    );
    assert!(format!("{err:#}").contains("0x00000002"), "{err}");
}

#[test]
fn type_error_reports_byte_offset() {
    // (func (result i32) i64.const 0): type mismatch at the end of the body.
    let err = invalid(b"(module (func (result i32) i64.const 0))");
    match err.kind() {
        ErrorKind::InvalidModule(InvalidReason::Malformed { offset: Some(off) }) => {
            assert!(*off > 8)
        }
        other => panic!("unexpected {other:?}: {err}"),
    }
    assert!(format!("{err:#}").contains("type mismatch"), "{err}");
}

#[test]
fn disabled_feature_is_named_as_such() {
    let engine = Engine::new(&EngineConfig::new().feature(WasmFeature::Simd, false)).unwrap();
    let wasm = Wasm::from_file(&engine, wat("simd.wat")).unwrap();
    let err = wasm.validate(&engine).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::InvalidModule(InvalidReason::FeatureDisabled { .. })
        ),
        "{err:?}"
    );
    assert!(format!("{err:#}").contains("disabled"), "{err}");
    // Loading fails the same way, and the default engine accepts it.
    let err = Plugin::from_file(&engine, wat("simd.wat")).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::InvalidModule(InvalidReason::FeatureDisabled { .. })
        ),
        "{err:?}"
    );
    assert_eq!(plugin("simd.wat").call::<i32, i32>("splat", 9).unwrap(), 9);
}

#[test]
fn every_trap_is_classified() {
    let p = plugin("traps.wat");
    let cases: &[(&str, &[i32], TrapKind)] = &[
        ("unreachable", &[], TrapKind::Unreachable),
        ("div_by_zero", &[0], TrapKind::IntegerDivisionByZero),
        ("overflow", &[], TrapKind::IntegerOverflow),
        ("bad_conversion", &[], TrapKind::BadConversionToInteger),
        ("oob_memory", &[], TrapKind::MemoryOutOfBounds),
        ("null_call", &[], TrapKind::IndirectCallToNull),
        ("bad_signature", &[], TrapKind::BadSignature),
        ("oob_table", &[], TrapKind::TableOutOfBounds),
        ("recurse", &[0], TrapKind::StackOverflow),
    ];
    for (func, args, kind) in cases {
        let args: Vec<_> = args.iter().map(|a| serde_json::json!(a)).collect();
        let err = p.call_json(func, &args).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Trap(*kind), "{func}: {err:?}");
        assert!(format!("{err:#}").contains(func), "{err}");
        // The host keeps serving.
        assert_eq!(p.call::<(), i32>("ok", ()).unwrap(), 1);
    }
}

#[test]
fn trap_keeps_the_guest_backtrace() {
    let err = plugin("traps.wat")
        .call::<i32, i32>("div_by_zero", 0)
        .unwrap_err();
    let bt = err.guest_backtrace().expect("a trap has a backtrace");
    assert!(bt.contains("func"), "{bt}");
}

#[test]
fn missing_import_is_named() {
    let err = Plugin::from_file(&engine(), wat("needs_import.wat")).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Link {
            module: "env".into(),
            name: "host_log".into()
        }
    );
    let msg = format!("{err:#}");
    assert!(msg.contains("missing import `env::host_log`"), "{msg}");
    assert!(msg.contains("(i32, i32) -> ()"), "{msg}");
}

#[test]
fn mismatched_wasi_import_says_expected_and_found() {
    let err = Plugin::from_file(&engine(), wat("bad_wasi_sig.wat")).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Link {
            module: "wasi_snapshot_preview1".into(),
            name: "proc_exit".into()
        }
    );
    let msg = format!("{err:#}");
    assert!(
        msg.contains("expects (i64) -> ()") && msg.contains("provides (i32) -> ()"),
        "{msg}"
    );
}

#[test]
fn export_not_found_lists_what_exists() {
    let err = plugin("add.wat").call::<(), ()>("nope", ()).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ExportNotFound {
            name: "nope".into()
        }
    );
    assert!(format!("{err:#}").contains("`add`"), "{err}");
    let err = plugin("add.wat").call::<(), ()>("memory", ()).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ExportNotFound {
            name: "memory".into()
        }
    );
    assert!(format!("{err:#}").contains("is a memory"), "{err}");
}

#[test]
fn typed_signature_mismatch_says_expected_and_found() {
    let err = plugin("add.wat")
        .call::<(i64, i64), i64>("add", (1, 2))
        .unwrap_err();
    match err.kind() {
        ErrorKind::SignatureMismatch { expected, found } => {
            assert_eq!(found, "(i32, i32) -> i32");
            assert!(expected.contains("i64"), "{expected}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn trap_in_start_function_is_a_trap() {
    let p = plugin("start_trap.wat");
    let err = p.call::<(), i32>("ok", ()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::Unreachable));
    assert!(format!("{err:#}").contains("start function"), "{err}");
}

#[test]
fn errors_are_send_sync_and_display_their_chain() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<plugbox::Error>();
    let err = plugin("traps.wat")
        .call::<(), ()>("unreachable", ())
        .unwrap_err();
    let full = format!("{err:#}");
    assert!(
        full.contains("call to") && full.contains("unreachable"),
        "{full}"
    );
}
