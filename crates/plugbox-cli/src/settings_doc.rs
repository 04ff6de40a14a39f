//! The README's table of settings is the schema's own description: these
//! tests render it from the clap definitions of the library's schema structs
//! and check the README holds exactly that, and that the manifest accepts
//! every setting under the same name.

use crate::Cli;
use clap::CommandFactory;

/// Where each help heading's settings live in a manifest.
const SECTIONS: [(&str, &str); 6] = [
    ("Engine", "`[engine]`"),
    ("Plugin", "`[plugins.NAME]`"),
    ("Limits", "`[plugins.NAME.limits]`"),
    ("Sandbox", "`[plugins.NAME.sandbox]`"),
    ("State", "`[kv]`, `[plugins.NAME.kv]`"),
    ("Server", "`[server]`"),
];

/// A setting's manifest key: its flag's name, but in the `[kv]` tables,
/// where `--kv` is `backend` and `--kv-X` is `X`.
fn manifest_key(heading: &str, flag: &str) -> String {
    if heading != "State" {
        return flag.to_string();
    }
    match flag {
        "kv" => "backend".into(),
        other => other.strip_prefix("kv-").unwrap_or(other).into(),
    }
}

/// One setting: (heading, key, value name, default, meaning).
fn settings() -> Vec<(String, String, String, String, String)> {
    let cli = Cli::command();
    let run = cli
        .find_subcommand("run")
        .expect("the run subcommand")
        .clone();
    let serve = cli
        .find_subcommand("serve")
        .expect("the serve subcommand")
        .clone();
    // The plugin settings from `run`, the server's from `serve`.
    let args = run.get_arguments().chain(
        serve
            .get_arguments()
            .filter(|a| a.get_help_heading() == Some("Server")),
    );
    let mut out = Vec::new();
    for arg in args {
        let Some(heading) = arg.get_help_heading() else {
            continue;
        };
        let (Some(key), Some(help)) = (arg.get_long(), arg.get_help()) else {
            continue;
        };
        let help = help.to_string();
        let (meaning, default) = match help.rsplit_once(" [default: ") {
            Some((m, d)) => (m.to_string(), d.trim_end_matches(']').to_string()),
            None => (help.clone(), String::new()),
        };
        let value = arg
            .get_value_names()
            .and_then(|v| v.first())
            .map(ToString::to_string)
            .unwrap_or_default();
        out.push((
            heading.to_string(),
            key.to_string(),
            value,
            default,
            meaning,
        ));
        // Rows carry the flag's name; `table` and the manifest check turn
        // it into the key.
    }
    out
}

/// The Markdown table of every setting.
fn table() -> String {
    let mut rows = vec![
        "| key | manifest table | flag | default | meaning |".to_string(),
        "| --- | --- | --- | --- | --- |".to_string(),
    ];
    for (heading, table) in SECTIONS {
        if heading == "Plugin" {
            rows.push(format!(
                "| `source` | {table} | the `PLUGIN` argument | — | The .wasm, .wat or .cwasm file, relative to the manifest |"
            ));
            rows.push(format!(
                "| `route` | {table} | — (`serve COMPONENT`: `/`) | `/NAME` | Where `plugbox serve` mounts a wasi:http component: a path prefix, matched on whole segments (set one when `/NAME` is no valid route) |"
            ));
        }
        for (h, long, value, default, meaning) in settings() {
            if h != heading {
                continue;
            }
            let key = manifest_key(&h, &long);
            let flag = if value == "BOOL" {
                format!("`--{long}[=BOOL]`")
            } else {
                format!("`--{long} {}`", value.replace('|', "\\|"))
            };
            let default = if default.is_empty() {
                "—".to_string()
            } else {
                format!("`{default}`")
            };
            let meaning = meaning.replace('|', "\\|");
            rows.push(format!(
                "| `{key}` | {table} | {flag} | {default} | {meaning} |"
            ));
        }
    }
    rows.join("\n") + "\n"
}

/// A sample value in TOML for a setting, by its value name.
fn sample(key: &str, value: &str) -> String {
    match value {
        // Keys are capped lower than other sizes.
        "SIZE" if key == "max-key-size" => "\"64B\"".into(),
        "BOOL" => "true".into(),
        "N" => "2".into(),
        "SIZE" => "\"1MiB\"".into(),
        "DURATION" => "\"1s\"".into(),
        "LEVEL" => "\"speed\"".into(),
        "COMPILER" => "\"cranelift\"".into(),
        "FEATURE" => "[\"simd\"]".into(),
        "MODE" => "\"stateful\"".into(),
        "capture|inherit|null" => "\"null\"".into(),
        "HEX" => format!("\"{}\"", "ab".repeat(32)),
        "DIR" => "\"cache\"".into(),
        "HOST[::GUEST]" => "[\"data::/data\"]".into(),
        "KEY=VALUE" => "{ K = \"V\" }".into(),
        "null|inherit|FILE" => "\"null\"".into(),
        "memory|embedded|URL" => "\"embedded\"".into(),
        "FILE" => "\"state/kv.sqlite3\"".into(),
        "NAME" => "\"acme\"".into(),
        "HOST" => "[\"example.org\", \"*.example.org:8443\"]".into(),
        "ADDR" => "\"0.0.0.0:8080\"".into(),
        other => panic!("no sample for `{key}` ({other}): add one"),
    }
}

#[test]
fn the_readme_lists_every_setting() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let begin = "<!-- settings:begin -->\n";
    let end = "<!-- settings:end -->";
    let (Some(a), Some(b)) = (readme.find(begin), readme.find(end)) else {
        panic!("README.md has no {begin:?} ... {end:?} section");
    };
    let written = &readme[a + begin.len()..b];
    let expected = table();
    if written != expected && std::env::var_os("PLUGBOX_BLESS").is_some() {
        let updated = format!("{}{expected}{}", &readme[..a + begin.len()], &readme[b..]);
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"),
            updated,
        )
        .expect("write README.md");
        return;
    }
    assert!(
        written == expected,
        "README.md's table of settings is out of date (PLUGBOX_BLESS=1 rewrites it); it should be:\n\n{expected}"
    );
}

#[test]
fn every_flag_is_a_manifest_key_of_the_same_name() {
    let mut text = String::from("[plugins.p]\nsource = \"p.wasm\"\n");
    let mut by_table: Vec<(&str, String)> = Vec::new();
    for (heading, long, value, _, _) in settings() {
        let key = manifest_key(&heading, &long);
        let line = format!("{key} = {}", sample(&key, &value));
        let table = match heading.as_str() {
            "Engine" => "engine",
            "Plugin" => "plugins.p",
            "Limits" => "plugins.p.limits",
            "Sandbox" => "plugins.p.sandbox",
            "State" => {
                // Both places take every state setting.
                by_table.push(("plugins.p.kv", line.clone()));
                "kv"
            }
            "Server" => "server",
            other => panic!("unexpected heading {other}"),
        };
        by_table.push((table, line));
    }
    // The plugin table's own keys first, then the other tables.
    for table in [
        "plugins.p",
        "engine",
        "plugins.p.limits",
        "plugins.p.sandbox",
        "plugins.p.kv",
        "kv",
        "server",
    ] {
        if table != "plugins.p" {
            text.push_str(&format!("[{table}]\n"));
        }
        for (t, line) in &by_table {
            if *t == table {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    let manifest = plugbox::Manifest::parse(&text, "every-key.toml", std::path::Path::new("/srv"));
    assert!(manifest.is_ok(), "{text}\n{:#}", manifest.unwrap_err());
    assert!(by_table.len() >= 60, "{} settings", by_table.len());
}
