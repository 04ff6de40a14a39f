//! The fuzz targets' code (`fuzz/src/`), run as a bounded property test:
//! a few hundred generated cases per target from a fixed-seed generator,
//! so every CI run goes down the same paths the fuzzers explore. A case
//! may fail with any `Err`; it must not panic, abort or hang.

#[path = "../../../../fuzz/src/api_args.rs"]
mod api_args;
#[path = "../../../../fuzz/src/args.rs"]
mod args;
#[path = "../../../../fuzz/src/call.rs"]
mod call;
#[path = "../../../../fuzz/src/load.rs"]
mod load;
#[path = "../../../../fuzz/src/manifest.rs"]
mod manifest;
#[path = "../../../../fuzz/src/settings.rs"]
mod settings;
#[path = "../../../../fuzz/src/wit.rs"]
mod wit;

use crate::support::{engine, rust_component};
use arbitrary::Unstructured;

/// SplitMix64: the fixed-seed bytes each case is generated from.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `len` pseudo-random bytes.
    fn fill(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// `seed` with a few bytes flipped, inserted, removed, or cut short:
    /// the mutations a fuzzer starts with.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut out = seed.to_vec();
        for _ in 0..=self.below(4) {
            let at = self.below(out.len() + 1);
            match self.below(4) {
                0 if at < out.len() => out[at] ^= 1 << self.below(8),
                1 => out.insert(at, self.next() as u8),
                2 if at < out.len() => {
                    out.remove(at);
                }
                _ => out.truncate(at),
            }
        }
        out
    }
}

/// Runs `case` on `n` inputs of up to `max_len` bytes. (A case that hangs
/// hangs the test: the calls run under the limits of `call::limits`.)
fn cases(n: usize, max_len: usize, mut case: impl FnMut(&[u8], &mut Bytes)) {
    let mut bytes = Bytes(0x0070_6c75_6762_6f78);
    for _ in 0..n {
        let len = bytes.below(max_len);
        let input = bytes.fill(len);
        case(&input, &mut bytes);
    }
}

#[test]
fn generated_and_mutated_modules_load_validate_and_inspect() {
    let engine = engine();
    let seeds: Vec<Vec<u8>> = ["add.wat", "hostile.wat", "traps.wat", "two_memories.wat"]
        .iter()
        .map(|name| std::fs::read(crate::support::wat(name)).unwrap())
        .map(|text| {
            plugbox::Wasm::from_bytes(&engine, text)
                .unwrap()
                .bytes()
                .to_vec()
        })
        .collect();
    cases(300, 2048, |input, bytes| {
        load::run(&engine, input);
        let seed = &seeds[bytes.below(seeds.len())];
        load::run(&engine, &bytes.mutate(seed));
        if let Ok(module) =
            wasm_smith::Module::new(wasm_smith::Config::default(), &mut Unstructured::new(input))
        {
            load::run(&engine, &module.to_bytes());
        }
    });
}

#[test]
fn generated_modules_are_called_with_generated_json_under_limits() {
    let engine = call::engine();
    let mut reached = call::Reached::default();
    cases(200, 4096, |input, _| {
        if let Ok(r) = call::module(&engine, &mut Unstructured::new(input)) {
            reached.add(r);
        }
    });
    eprintln!("{reached:?}");
    assert!(
        reached.compiled >= 50 && reached.returned >= 50,
        "{reached:?}"
    );
}

#[test]
fn the_types_component_is_called_with_generated_json_under_limits() {
    let engine = call::engine();
    let types = call::Components::load(&engine, &rust_component("types"));
    let mut reached = call::Reached::default();
    cases(200, 512, |input, _| {
        if let Ok(r) = types.call(&mut Unstructured::new(input)) {
            reached.add(r);
        }
    });
    eprintln!("{reached:?}");
    assert!(reached.returned >= 50, "{reached:?}");
}

#[test]
fn json_and_wit_values_round_trip_on_generated_types() {
    let engine = engine();
    let mut converted = 0;
    cases(300, 1024, |input, _| {
        converted += wit::run(&engine, &mut Unstructured::new(input)).unwrap_or(0);
    });
    eprintln!("converted {converted}");
    assert!(converted >= 100, "only {converted} values converted");
}

#[test]
fn mutated_manifests_parse_or_fail_cleanly() {
    let dir = plugbox_test_support::repo_root().join("fuzz/seeds/manifest");
    let mut seeds =
        vec![std::fs::read(plugbox_test_support::guests_dir().join("plugbox.toml")).unwrap()];
    for entry in std::fs::read_dir(dir).unwrap() {
        seeds.push(std::fs::read(entry.unwrap().path()).unwrap());
    }
    cases(400, 256, |input, bytes| {
        if let Ok(text) = std::str::from_utf8(input) {
            manifest::run(text, false);
        }
        let seed = &seeds[bytes.below(seeds.len())];
        if let Ok(text) = String::from_utf8(bytes.mutate(seed)) {
            // Building an engine is the slow part: one case in twenty.
            manifest::run(&text, bytes.below(20) == 0);
        }
    });
}

#[test]
fn request_bodies_are_parsed_against_signatures_or_refused() {
    let types = rust_component("types");
    let signatures = api_args::Signatures::load(&engine(), Some(std::path::Path::new(&types)));
    let seeds: Vec<Vec<u8>> = [
        ("add", "[1, 2]"),
        ("add", r#"["0x10", -1]"#),
        ("mixed", r#"[1, 2, 1.5, "nan"]"#),
        ("none", "[]"),
        (
            "plugbox:test/types#echo-record",
            r#"[{"x": 1, "y": 2, "label": "a"}]"#,
        ),
        ("plugbox:test/types#echo-nested", r#"[[["a", "b"], []]]"#),
        (
            "plugbox:test/types#describe",
            r#"[{"x": 1, "y": 2, "label": "a"}, "red"]"#,
        ),
        ("plugbox:test/types#echo-result", r#"[{"err": "no"}]"#),
    ]
    .iter()
    .map(|(func, body)| signatures.case(func, body.as_bytes()))
    .collect();
    let mut accepted = 0;
    cases(600, 256, |input, bytes| {
        accepted += usize::from(signatures.run(input).is_some());
        let seed = &seeds[bytes.below(seeds.len())];
        accepted += usize::from(signatures.run(&bytes.mutate(seed)).is_some());
    });
    eprintln!("accepted {accepted}");
    assert!(accepted >= 50, "only {accepted} bodies accepted");
    // The bounds hold whatever the input: a body of a million arguments
    // stops at the third, deep nesting at the bound.
    let many = format!("[{}1]", "1,".repeat(1 << 20));
    assert!(
        signatures
            .run(&signatures.case("add", many.as_bytes()))
            .is_none()
    );
    let deep = format!("[{}]", "[".repeat(100_000));
    let echo = "plugbox:test/types#echo-nested";
    assert!(
        signatures
            .run(&signatures.case(echo, deep.as_bytes()))
            .is_none()
    );
}

#[test]
fn generated_server_and_kv_tables_parse_check_and_open_or_fail_cleanly() {
    let scratch = tempfile::tempdir().unwrap();
    let (mut parsed, mut stores) = (0, 0);
    cases(400, 512, |input, _| {
        if let Ok(text) = settings::text(&mut Unstructured::new(input)) {
            let reached = settings::run(&text, Some(scratch.path()));
            parsed += reached.parsed;
            stores += reached.stores;
        }
    });
    eprintln!("parsed {parsed}, stores written {stores}");
    assert!(
        parsed >= 40 && stores >= 20,
        "parsed {parsed}, stores {stores}"
    );
    // The values that were refused with the wrong reason are refused with
    // the right one.
    for (text, why) in [
        ("[kv]\nmax-keys = 1e30", "too large"),
        ("[kv]\nmax-keys = nan", "not a number"),
        ("[kv]\nmax-total-size = inf", "too large (at most 1 EiB)"),
    ] {
        let err = plugbox::Manifest::parse(text, "fuzz.toml", scratch.path()).unwrap_err();
        assert!(err.to_string().contains(why), "{text}: {err}");
    }
}
