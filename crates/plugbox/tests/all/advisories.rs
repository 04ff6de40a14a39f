//! Wasmtime advisories fixed in 48.0.9, which plugbox cannot use yet (it
//! pins 48.0.8 for rustc 1.95): each test shows how plugbox stays out of
//! reach of one (SECURITY.md, "Pinned Wasmtime").

use crate::support::engine;
use plugbox::{
    Engine, EngineConfig, ErrorKind, HostFunctions, InvalidReason, Plugin, Sandbox, Stdio,
    WasmFeature,
};

/// A component whose `empty-writes(n)` makes `n` zero-length
/// `output-stream.write` calls on its stdout and returns how many
/// succeeded. The WASI interfaces are declared with only what it uses.
fn empty_writes_component() -> Vec<u8> {
    const WIT: &str = r#"
        package plugbox:advisory;

        world empty-writes {
            import wasi:cli/stdout@0.2.0;
            export empty-writes: func(n: u32) -> u32;
        }

        package wasi:io@0.2.0 {
            interface error {
                resource error;
            }
            interface streams {
                use error.{error};
                variant stream-error {
                    last-operation-failed(error),
                    closed,
                }
                resource output-stream {
                    write: func(contents: list<u8>) -> result<_, stream-error>;
                }
            }
        }

        package wasi:cli@0.2.0 {
            interface stdout {
                use wasi:io/streams@0.2.0.{output-stream};
                get-stdout: func() -> output-stream;
            }
        }
    "#;
    // The lowered `write` takes the stream handle, the list (pointer,
    // length) and where to put the result; its first byte is 1 on error.
    const CORE: &str = r#"(module
      (import "wasi:cli/stdout@0.2.0" "get-stdout" (func $get-stdout (result i32)))
      (import "wasi:io/streams@0.2.0" "[method]output-stream.write"
        (func $write (param i32 i32 i32 i32)))
      (import "wasi:io/streams@0.2.0" "[resource-drop]output-stream"
        (func $drop (param i32)))
      (memory (export "memory") 1)
      (func (export "empty-writes") (param $n i32) (result i32)
        (local $out i32) (local $ok i32)
        (local.set $out (call $get-stdout))
        (block $done
          (loop $next
            (br_if $done (i32.eqz (local.get $n)))
            (call $write (local.get $out) (i32.const 64) (i32.const 0) (i32.const 16))
            (br_if $done (i32.load8_u (i32.const 16)))
            (local.set $ok (i32.add (local.get $ok) (i32.const 1)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $next)))
        (call $drop (local.get $out))
        (local.get $ok)))"#;
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve
        .push_str("empty-writes.wit", WIT)
        .expect("the WIT parses");
    let world = resolve
        .select_world(&[pkg], Some("empty-writes"))
        .expect("the world exists");
    let mut module = plugbox::Wasm::from_bytes(&engine(), CORE)
        .expect("the core module parses")
        .bytes()
        .to_vec();
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("the WIT embeds");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|e| e.validate(true).encode())
        .expect("a valid component")
}

/// GHSA-5m8g-xhq4-4h93: Wasmtime's `AsyncWriteStream` queues every empty
/// write while its worker is busy, without bound. plugbox never gives a
/// guest one: captured output is a capped `MemoryOutputPipe`, inherited
/// output its own bounded stream (an empty write adds nothing; see the
/// unit test in `store/stdio.rs`), and no output a sink.
#[test]
fn empty_writes_to_stdout_add_nothing_in_every_output_mode() {
    let engine = engine();
    let bytes = empty_writes_component();
    let n: u32 = 100_000;
    for mode in [Stdio::Capture, Stdio::Inherit, Stdio::Null] {
        let plugin = Plugin::builder(&engine)
            .sandbox(Sandbox::new().stdout(mode))
            .from_bytes(&bytes)
            .unwrap();
        let mut inst = plugin.instantiate().unwrap();
        let (ok,): (u32,) = inst.call_wit("empty-writes", (n,)).unwrap();
        assert_eq!(ok, n, "{mode:?}: every empty write succeeds");
        assert!(inst.stdout().is_empty(), "{mode:?}");
    }
}

/// GHSA-hj27-mpw9-ff4c: `Caller::get_module_export` panics when a host
/// function is not called from WebAssembly. plugbox never calls it; a
/// host function sees a `HostCaller`, which finds the guest's memory by
/// name. A module can re-export an imported host function so that the
/// host calls it directly: the memory lookup then finds nothing, and the
/// call fails with the host function's error instead of a panic.
#[test]
fn a_host_function_called_from_the_host_fails_cleanly() {
    let host = HostFunctions::new().func("env", "peek", |c, (ptr,): (i32,)| {
        Ok(i32::from(c.read_memory(ptr as u32, 1)?[0]))
    });
    let plugin = Plugin::builder(&engine())
        .host(host)
        .from_bytes(
            r#"(module
                 (import "env" "peek" (func $peek (param i32) (result i32)))
                 (memory (export "memory") 1)
                 (data (i32.const 0) "\2a")
                 (export "peek" (func $peek))
                 (func (export "peek_from_wasm") (param i32) (result i32)
                   (call $peek (local.get 0))))"#,
        )
        .unwrap();
    assert_eq!(plugin.call::<i32, i32>("peek_from_wasm", 0).unwrap(), 42);
    let err = plugin.call::<i32, i32>("peek", 0).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::HostFunction { .. }),
        "{err:#}"
    );
    assert!(
        format!("{err:#}").contains("exports no memory named `memory`"),
        "{err:#}"
    );
    // The plugin still serves calls from wasm.
    assert_eq!(plugin.call::<i32, i32>("peek_from_wasm", 0).unwrap(), 42);
}

/// A module using a type of the GC proposal.
const GC_MODULE: &str = r#"(module
  (type $point (struct (field i32)))
  (func (export "make") (result i32)
    (struct.get $point 0 (struct.new $point (i32.const 7)))))"#;

/// GHSA-43j2-gcp4-m22g and GHSA-wvgq-g5hf-6gm6: a guest using the GC
/// heap can abort the host process. Wasmtime 48 enables the GC proposal by
/// default; plugbox does not, so such a module is refused before it is
/// compiled unless the operator enables `gc`.
#[test]
fn the_gc_proposal_is_off_unless_enabled() {
    assert_eq!(EngineConfig::default().get_feature(WasmFeature::Gc), None);
    let err = Plugin::from_bytes(&engine(), GC_MODULE).unwrap_err();
    assert_feature_disabled(&err, "gc");
    let gc = Engine::new(&EngineConfig::default().feature(WasmFeature::Gc, true)).unwrap();
    let p = Plugin::from_bytes(&gc, GC_MODULE).unwrap();
    assert_eq!(p.call::<(), i32>("make", ()).unwrap(), 7);
}

/// A guest throwing and catching exceptions: exception objects live in
/// Wasmtime's GC heap even with the GC proposal off.
const EXCEPTIONS_MODULE: &str = r#"(module
  (tag $t (param i32))
  (func $throw (param i32) (throw $t (local.get 0)))
  (func (export "run") (param $n i32) (result i32)
    (local $sum i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (block $caught (result i32)
          (try_table (catch $t $caught) (call $throw (local.get $n)))
          (i32.const 0))
        (local.set $sum (i32.add (local.get $sum)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $sum)))"#;

/// A component declaring a `stream<u8>` type: the async ABI.
const ASYNC_COMPONENT: &str = "(component (type (stream u8)))";

/// A `FeatureDisabled` error that names the feature to enable.
fn assert_feature_disabled(err: &plugbox::Error, feature: &str) {
    assert!(
        matches!(
            err.kind(),
            ErrorKind::InvalidModule(InvalidReason::FeatureDisabled { .. })
        ),
        "{err:#}"
    );
    assert!(
        format!("{err:#}").contains("feature disabled in this engine"),
        "{err:#}"
    );
    assert!(
        format!("{err:#}").contains(&format!("it needs `{feature}` (`--enable {feature}`")),
        "{err:#}"
    );
}

/// GHSA-43j2-gcp4-m22g and GHSA-wvgq-g5hf-6gm6 again: exception handling
/// allocates its exception objects in the GC heap, so it is off unless
/// enabled too. Enabled, a guest throws and catches 100 000 of them and
/// ends normally (pooled slots included).
#[test]
fn exceptions_are_off_unless_enabled() {
    assert_eq!(
        EngineConfig::default().get_feature(WasmFeature::Exceptions),
        None
    );
    let err = Plugin::from_bytes(&engine(), EXCEPTIONS_MODULE).unwrap_err();
    assert_feature_disabled(&err, "exceptions");
    let on = Engine::new(&EngineConfig::default().feature(WasmFeature::Exceptions, true)).unwrap();
    let p = Plugin::from_bytes(&on, EXCEPTIONS_MODULE).unwrap();
    let n: i32 = 100_000;
    let expected = (1..=n).fold(0i32, i32::wrapping_add);
    assert_eq!(p.call::<i32, i32>("run", n).unwrap(), expected);
}

/// GHSA-xrvr-8678-5wp8: cancelling a stream or future copy on the wrong
/// end panics in Wasmtime 48.0.8. The component model's async ABI, which
/// Wasmtime 48 enables, is off unless enabled, so a component using
/// streams, futures or async lifts is refused before anything runs; the
/// checks without compiling (`Wasm::validate`) agree with the engine.
#[test]
fn the_component_model_async_abi_is_off_unless_enabled() {
    let wasm = plugbox::Wasm::from_bytes(&engine(), ASYNC_COMPONENT).unwrap();
    assert_feature_disabled(
        &wasm.validate(&engine()).unwrap_err(),
        "component-model-async",
    );
    assert_feature_disabled(
        &Plugin::from_bytes(&engine(), ASYNC_COMPONENT).unwrap_err(),
        "component-model-async",
    );
    let on = Engine::new(&EngineConfig::default().feature(WasmFeature::ComponentModelAsync, true))
        .unwrap();
    plugbox::Wasm::from_bytes(&on, ASYNC_COMPONENT)
        .unwrap()
        .validate(&on)
        .unwrap();
    Plugin::from_bytes(&on, ASYNC_COMPONENT).unwrap();
}
