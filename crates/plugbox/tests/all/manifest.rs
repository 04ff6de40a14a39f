//! The plugbox.toml manifest: schema, errors naming plugin and field.

use crate::support::wat;
use plugbox::{ErrorKind, Manifest, Mode, PluginManager};
use std::path::Path;
use std::time::Duration;

fn parse(text: &str) -> plugbox::Result<Manifest> {
    Manifest::parse(text, "plugbox.toml", Path::new("/srv"))
}

#[test]
fn full_manifest_parses_with_cli_names() {
    let m = parse(
        r#"
[engine]
opt-level = "speed-and-size"

[plugins.greeter]
source = "greeter.wasm"
mode = "stateful"
max-concurrency = 4
queue-timeout = "250ms"
config = { greeting = "hi" }

[plugins.greeter.limits]
fuel = 1000
timeout = "2s"
max-memory = "64MiB"

[plugins.greeter.sandbox]
ro-dir = ["data::/data"]
env = { MODE = "fast" }
"#,
    )
    .unwrap();
    let spec = m.plugin("greeter").unwrap();
    assert_eq!(spec.get_source(), Path::new("/srv/greeter.wasm"));
    assert_eq!(spec.get_mode(), Mode::Stateful);
    assert_eq!(spec.get_limits().get_max_memory(), Some(64 << 20));
    assert_eq!(
        spec.get_limits().get_timeout(),
        Some(Duration::from_secs(2))
    );
    assert_eq!(spec.get_queue_timeout(), Duration::from_millis(250));
    assert!(
        m.engine_config().get_consume_fuel(),
        "a fuel limit turns metering on"
    );
    let sandbox = spec.get_sandbox();
    assert_eq!(sandbox.get_dirs()[0].host, Path::new("/srv/data"));
    assert!(sandbox.get_dirs()[0].read_only);
}

#[test]
fn unknown_field_names_line_plugin_and_field() {
    let err =
        parse("[plugins.a]\nsource = \"a.wasm\"\n\n[plugins.b]\nsorce = \"b.wasm\"\n").unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    let msg = format!("{err:#}");
    assert!(msg.contains("line 5"), "{msg}");
    assert!(msg.contains("plugin `b`"), "{msg}");
    assert!(msg.contains("unknown field `sorce`"), "{msg}");
    let err = parse("[plugins.a]\nsource = \"a.wasm\"\n[plugins.a.limits]\ntimeout = \"soon\"\n")
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("plugin `a`") && msg.contains("invalid duration `soon`"),
        "{msg}"
    );
    let err = parse("[plugins.a]\nsource = \"a.wasm\"\nsha256 = \"abc\"\n").unwrap_err();
    assert!(
        format!("{err:#}").contains("plugin `a`: invalid sha256 `abc`: must be 64 hex digits"),
        "{err:#}"
    );
    let err = parse("[plugins.a]\nsource = \"a.wasm\"\nmode = \"sometimes\"\n").unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown variant `sometimes`"),
        "{err:#}"
    );
    let err = parse("[engine]\npooling = \"yes\"\n").unwrap_err();
    assert!(format!("{err:#}").contains("line 2"), "{err:#}");
}

#[test]
fn manager_from_manifest_and_missing_plugin() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/wat");
    let text = format!("[plugins.add]\nsource = \"{}\"\n", wat("add.wat").display());
    let m = Manifest::parse(&text, "inline", &dir).unwrap();
    let manager = PluginManager::from_manifest(&m).unwrap();
    assert_eq!(
        manager
            .call::<(i32, i32), i32>("add", "add", (2, 2))
            .unwrap(),
        4
    );
    let err = m.plugin("nope").unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PluginNotFound("nope".into()));
    assert!(format!("{err:#}").contains("`add`"), "{err:#}");
    let err = Manifest::from_file("/nonexistent/plugbox.toml").unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Io);
}

#[test]
fn server_table_and_routes_parse() {
    let m = parse(
        r#"
[server]
addr = "0.0.0.0:9000"
max-body = "1MiB"
request-timeout = "none"
max-connections = 10

[plugins.site]
source = "site.wasm"
route = "/site/v1"
"#,
    )
    .unwrap();
    assert_eq!(m.server.get_addr(), "0.0.0.0:9000".parse().unwrap());
    assert_eq!(m.server.get_max_body(), Some(1 << 20));
    assert_eq!(m.server.get_request_timeout(), None);
    assert_eq!(m.server.get_max_connections(), 10);
    assert_eq!(
        m.server.get_max_concurrent_requests(),
        plugbox::DEFAULT_MAX_CONCURRENT_REQUESTS
    );
    assert_eq!(m.plugin("site").unwrap().get_route(), Some("/site/v1"));
}

#[test]
fn bad_server_settings_and_routes_are_named() {
    for (text, expected) in [
        ("[server]\nmax-connections = 0\n", "max-connections `0`"),
        (
            "[server]\nmax-concurrent-requests = 0\n",
            "max-concurrent-requests `0`",
        ),
        ("[server]\nmax-header-size = 10\n", "max-header-size `10`"),
        ("[server]\nidle-timeout = \"0s\"\n", "idle-timeout `0s`"),
        ("[server]\naddr = \"localhost\"\n", "addr"),
        ("[server]\nport = 1\n", "port"),
        (
            "[plugins.a]\nsource = \"a.wasm\"\nroute = \"api\"\n",
            "route `api`",
        ),
        (
            "[plugins.a]\nsource = \"a.wasm\"\nroute = \"/api/\"\n",
            "route `/api/`",
        ),
        (
            "[plugins.a]\nsource = \"a.wasm\"\nroute = \"/a/../b\"\n",
            "route `/a/../b`",
        ),
        (
            "[plugins.a]\nsource = \"a.wasm\"\nroute = \"/a?b\"\n",
            "route `/a?b`",
        ),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config, "{text}");
        let msg = format!("{err:#}");
        assert!(msg.contains(expected), "{text}: {msg}");
    }
}

#[test]
fn the_deploy_example_manifest_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/plugbox.toml");
    let m = Manifest::from_file(&path).unwrap();
    assert_eq!(m.server.get_addr(), "0.0.0.0:8080".parse().unwrap());
    assert!(!m.server.get_watch());
    assert_eq!(m.plugin("site").unwrap().get_route(), Some("/site"));
    assert_eq!(
        m.plugin("adder").unwrap().get_source(),
        Path::new("/plugins/add.wat")
    );
}

#[test]
fn every_table_written_as_an_array_of_tables_is_named() {
    for (text, key) in [
        ("[[engine]]\nopt-level = \"speed\"\n", "engine"),
        ("[[kv]]\nbackend = \"memory\"\n", "kv"),
        ("[[server]]\naddr = \"127.0.0.1:0\"\n", "server"),
        ("[[plugins]]\nsource = \"a.wasm\"\n", "plugins"),
        ("[[plugins.a]]\nsource = \"a.wasm\"\n", "plugins.a"),
        (
            "[plugins.a]\nsource = \"a.wasm\"\n[[plugins.a.limits]]\nfuel = 1\n",
            "plugins.a.limits",
        ),
        (
            "[plugins.a]\nsource = \"a.wasm\"\n[[plugins.a.sandbox]]\nenv = {}\n",
            "plugins.a.sandbox",
        ),
        (
            "[plugins.a]\nsource = \"a.wasm\"\n[[plugins.a.kv]]\nmax-keys = 1\n",
            "plugins.a.kv",
        ),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config, "{text}");
        let msg = format!("{err:#}");
        assert!(
            msg.contains(&format!(
                "key `{key}`: must be a table (one `[...]` header), not an array of tables (`[[...]]`)"
            )),
            "{text}: {msg}"
        );
    }
    // A table of the wrong type says what it wanted.
    let msg = format!("{:#}", parse("server = 5\n").unwrap_err());
    assert!(
        msg.contains("key `server`: invalid type: integer `5`, expected a table"),
        "{msg}"
    );
    // Tables still parse, inline ones too.
    let m = parse("server = { addr = \"127.0.0.1:1\" }\n[plugins.a]\nsource = \"a.wasm\"\nlimits = { fuel = 7 }\n").unwrap();
    assert_eq!(m.server.get_addr(), "127.0.0.1:1".parse().unwrap());
    assert_eq!(m.plugin("a").unwrap().get_limits().get_fuel(), Some(7));
}

#[test]
fn server_timeouts_have_lower_bounds() {
    for (text, expected) in [
        (
            "[server]\nidle-timeout = \"1ns\"\n",
            "[server]: invalid idle-timeout `1ns`: must be at least 1s",
        ),
        (
            "[server]\nidle-timeout = \"999ms\"\n",
            "invalid idle-timeout `999ms`: must be at least 1s",
        ),
        (
            "[server]\nheader-read-timeout = \"1ns\"\n",
            "invalid header-read-timeout `1ns`: must be at least 100ms",
        ),
        (
            "[server]\nrequest-timeout = \"99ms\"\n",
            "invalid request-timeout `99ms`: must be at least 100ms",
        ),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config, "{text}");
        assert!(format!("{err:#}").contains(expected), "{text}: {err:#}");
    }
    // The bounds themselves, `none` and a zero shutdown-timeout are fine.
    let m = parse(
        "[server]\nidle-timeout = \"1s\"\nheader-read-timeout = \"100ms\"\nrequest-timeout = \"100ms\"\nshutdown-timeout = \"0s\"\n",
    )
    .unwrap();
    assert_eq!(m.server.get_idle_timeout(), plugbox::MIN_IDLE_TIMEOUT);
    assert_eq!(
        m.server.get_header_read_timeout(),
        plugbox::MIN_HEADER_READ_TIMEOUT
    );
    assert_eq!(
        m.server.get_request_timeout(),
        Some(plugbox::MIN_REQUEST_TIMEOUT)
    );
    assert_eq!(m.server.get_shutdown_timeout(), Duration::ZERO);
    assert!(parse("[server]\nrequest-timeout = \"none\"\n").is_ok());
}
