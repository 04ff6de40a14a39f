//! Components from the command line: `run` for wasi:cli commands, network
//! denial, `inspect` with WIT.

use crate::support::{assert_error, plugbox, rust_component, stderr, stdout};

#[test]
fn run_preview2_command_component() {
    let probe = rust_component("probe");
    let o = plugbox(&["run", &probe, "args", "x", "--y"]);
    assert_eq!(stdout(&o), "x --y\n", "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0));
    // `--version` after the program is the program's (plugbox's is
    // `plugbox --version`); other plugbox flags there are still plugbox's.
    let o = plugbox(&["run", &probe, "--version"]);
    assert!(
        stderr(&o).contains(r#"unknown command ["--version"]"#),
        "{}",
        stderr(&o)
    );
    assert!(!stdout(&o).contains("plugbox"), "{}", stdout(&o));
    let o = plugbox(&["run", "--env", "K=v", &probe, "env", "K"]);
    assert_eq!(stdout(&o), "v\n");
    let o = plugbox(&["run", &probe, "read", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(1));
    let o = plugbox(&["run", "--timeout", "50ms", &probe, "spin"]);
    assert_error(&o, 6, "deadline exceeded");
}

#[test]
fn network_needs_allow_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let probe = rust_component("probe");
    let o = plugbox(&["run", &probe, "tcp", &addr]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("denied: PermissionDenied"),
        "{}",
        stderr(&o)
    );
    let o = plugbox(&["run", "--allow-network", &probe, "tcp", &addr]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn inspect_prints_the_wit_of_a_component() {
    let o = plugbox(&["inspect", &rust_component("probe")]);
    let out = stdout(&o);
    assert!(out.contains(": component,"), "{out}");
    assert!(
        out.contains("wit:") && out.contains("export wasi:cli/run@0.2"),
        "{out}"
    );
    assert!(out.contains("import wasi:filesystem/preopens@0.2"), "{out}");
    let o = plugbox(&["inspect", "--json", &rust_component("probe")]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(json["wit"].as_str().unwrap().contains("world"));
    assert!(
        json["wasi"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("wasi:cli/"))
    );
}

#[test]
fn call_component_functions_with_json() {
    let types = rust_component("types");
    let o = plugbox(&["call", &types, "greet", "\"world\""]);
    assert_eq!(stdout(&o), "\"hello, world\"\n", "{}", stderr(&o));
    let o = plugbox(&[
        "call",
        &types,
        "plugbox:test/types#echo-record",
        r#"{"x": 1, "y": -2, "label": "a"}"#,
    ]);
    assert_eq!(
        stdout(&o),
        "{\"x\":1,\"y\":-2,\"label\":\"a\"}\n",
        "{}",
        stderr(&o)
    );
    let o = plugbox(&[
        "call",
        "--json",
        &types,
        "plugbox:test/types#add",
        "2",
        "40",
    ]);
    assert_eq!(stdout(&o), "[42]\n");
    let o = plugbox(&[
        "call",
        &types,
        "plugbox:test/types#echo-variant",
        r#"{"circle": 1.5}"#,
    ]);
    assert_eq!(stdout(&o), "{\"circle\":1.5}\n");
    let o = plugbox(&["call", &types, "greet", "world"]);
    assert_error(&o, 2, "argument `name` of `greet` is not valid JSON");
    let o = plugbox(&["call", &types, "plugbox:test/types#echo-u8", "300"]);
    assert_error(&o, 2, "300 is out of range for u8");
    let o = plugbox(&["call", &types, "nope"]);
    assert_error(&o, 2, "no function `nope`");
    let o = plugbox(&[
        "call",
        "--timeout",
        "50ms",
        &types,
        "plugbox:test/types#spin",
    ]);
    assert_error(&o, 6, "deadline exceeded");
    let o = plugbox(&["inspect", &types]);
    assert!(
        stdout(&o).contains("export plugbox:test/types;") || stdout(&o).contains("export types"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn sdk_plugins_from_a_manifest_with_config() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("plugbox.toml");
    let text = format!(
        "[plugins.greeter]\nsource = \"{}\"\nconfig = {{ greeting = \"hey\" }}\n",
        rust_component("greeter")
    );
    std::fs::write(&manifest, text).unwrap();
    let m = manifest.display().to_string();
    let o = plugbox(&["call", "--manifest", &m, "greeter", "handle", "\"you\""]);
    assert_eq!(stdout(&o), "{\"ok\":\"hey, you\"}\n", "{}", stderr(&o));
    let o = plugbox(&[
        "call",
        "--timeout",
        "50ms",
        &rust_component("misbehave"),
        "handle",
        "\"spin\"",
    ]);
    assert_error(&o, 6, "deadline exceeded");
}

#[test]
fn every_wit_type_round_trips_through_plugbox_call() {
    let types = rust_component("types");
    let cases = [
        ("echo-bool", "true"),
        ("echo-u8", "255"),
        ("echo-s8", "-128"),
        ("echo-u16", "65535"),
        ("echo-s16", "-32768"),
        ("echo-u32", "4294967295"),
        ("echo-s32", "-2147483648"),
        ("echo-u64", "18446744073709551615"),
        ("echo-s64", "-9223372036854775808"),
        ("echo-f32", "1.5"),
        ("echo-f64", "-0.125"),
        ("echo-char", "\"λ\""),
        ("echo-string", "\"hi\""),
        ("echo-list", "[1,2,3]"),
        ("echo-nested", "[[\"a\"],[]]"),
        ("echo-record", "{\"x\":1,\"y\":2,\"label\":\"p\"}"),
        ("echo-tuple", "[\"t\",7]"),
        ("echo-enum", "\"blue\""),
        (
            "echo-variant",
            "{\"rect\":{\"x\":0,\"y\":1,\"label\":\"r\"}}",
        ),
        ("echo-variant", "\"empty\""),
        ("echo-option", "null"),
        ("echo-option", "\"some\""),
        ("echo-result", "{\"ok\":3}"),
        ("echo-result", "{\"err\":\"bad\"}"),
        ("echo-flags", "[\"read\",\"exec\"]"),
    ];
    for (func, value) in cases {
        let o = plugbox(&["call", &types, &format!("plugbox:test/types#{func}"), value]);
        assert_eq!(stdout(&o).trim_end(), value, "{func}: {}", stderr(&o));
    }
}
