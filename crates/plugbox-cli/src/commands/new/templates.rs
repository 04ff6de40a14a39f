//! The project templates of `plugbox new`, embedded in the binary, and the
//! language matrix `plugbox new --list` prints.
//!
//! The files live in `templates/<lang>/<world>/` at the repository root; a
//! generated project also gets the plugin world's WIT
//! (`crates/plugbox/wit/plugin.wit`), so it builds against exactly the world
//! this binary hosts. Rust projects get a copy of the SDK
//! (`guests/rust/plugbox-sdk`), written next to the plugin: a project outside
//! this repository cannot depend on it by path, and it is not published.

/// The plugin world this binary hosts.
const PLUGIN_WIT: &str = include_str!("../../../../plugbox/wit/plugin.wit");

/// The Rust SDK, as written into a Rust plugin project (`plugbox-sdk/`).
const SDK_CARGO_TOML: &str = include_str!("../../../../../guests/rust/plugbox-sdk/Cargo.toml");
const SDK_LIB_RS: &str = include_str!("../../../../../guests/rust/plugbox-sdk/src/lib.rs");
/// Where the SDK in the repository finds the WIT, and where its copy does.
const SDK_WIT_PATH_IN_REPO: &str = "path: \"../../../crates/plugbox/wit/plugin.wit\"";
const SDK_WIT_PATH_IN_PROJECT: &str = "path: \"wit/plugin.wit\"";

macro_rules! files {
    ($dir:literal: $($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../../../templates/", $dir, "/", $path)))),*]
    };
}

/// A language `plugbox new` can write a project in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Rust,
    C,
    Js,
    Python,
}

/// The world a project implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum World {
    /// The `plugbox:plugin` world: exports `handle`, imports log, config, kv.
    Plugin,
    /// A WASI command, run with `plugbox run`.
    Command,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::Rust, Lang::C, Lang::Js, Lang::Python];

    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::C => "c",
            Lang::Js => "js",
            Lang::Python => "python",
        }
    }

    /// The language named `s` (also `javascript`, `py`).
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "rust" | "rs" => Some(Lang::Rust),
            "c" => Some(Lang::C),
            "js" | "javascript" => Some(Lang::Js),
            "python" | "py" => Some(Lang::Python),
            _ => None,
        }
    }

    /// The template for `world`, or why there is none.
    pub fn template(self, world: World) -> Result<Template, &'static str> {
        let files: &'static [(&'static str, &'static str)] = match (self, world) {
            (Lang::Rust, World::Plugin) => files!("rust/plugin":
                "README.md", ".gitignore", "Cargo.toml", "Cargo.lock", "plugbox.toml",
                "src/lib.rs", "tests/plugin.rs"),
            (Lang::Rust, World::Command) => files!("rust/command":
                "README.md", ".gitignore", "Cargo.toml", "Cargo.lock", "src/main.rs",
                "tests/command.rs"),
            (Lang::C, World::Plugin) => files!("c/plugin":
                "README.md", ".gitignore", "Makefile", "plugbox.toml", "src/plugin.c"),
            (Lang::C, World::Command) => files!("c/command":
                "README.md", ".gitignore", "Makefile", "src/main.c"),
            (Lang::Js, World::Plugin) => files!("js/plugin":
                "README.md", ".gitignore", "package.json", "plugbox.toml", "src/plugin.js",
                "test/plugin.test.js"),
            (Lang::Python, World::Plugin) => files!("python/plugin":
                "README.md", ".gitignore", "pyproject.toml", "build.sh", "plugbox.toml",
                "app.py", "tests/__init__.py", "tests/test_plugin.py"),
            (Lang::Js, World::Command) => {
                return Err(
                    "componentize-js builds components of a custom world, and the template covers \
                 the plugbox:plugin world only (see `plugbox new --list`)",
                );
            }
            (Lang::Python, World::Command) => {
                return Err(
                    "componentize-py builds components of a custom world, and the template covers \
                 the plugbox:plugin world only (see `plugbox new --list`)",
                );
            }
        };
        Ok(Template {
            lang: self,
            world,
            files,
        })
    }
}

impl World {
    pub fn parse(s: &str) -> Option<World> {
        match s {
            "plugin" => Some(World::Plugin),
            "command" => Some(World::Command),
            _ => None,
        }
    }
}

/// The files of one language and world.
pub struct Template {
    lang: Lang,
    world: World,
    files: &'static [(&'static str, &'static str)],
}

/// A file to write: its path in the project and its contents.
pub struct File {
    pub path: &'static str,
    pub contents: String,
    pub executable: bool,
}

impl Template {
    /// The command that builds the project, from its directory.
    pub fn build_command(&self) -> &'static str {
        match self.lang {
            Lang::Rust => "cargo build --release --target wasm32-wasip2",
            Lang::C => "make",
            Lang::Js => "npm install && npm run build",
            Lang::Python => "./build.sh",
        }
    }

    /// The project's files with `name` filled in.
    pub fn render(&self, name: &str) -> Vec<File> {
        let snake = name.replace('-', "_");
        let fill = |text: &str| {
            text.replace("{{name_snake}}", &snake)
                .replace("{{name}}", name)
        };
        let mut out: Vec<File> = self
            .files
            .iter()
            .map(|(path, text)| File {
                path,
                contents: fill(text),
                executable: path.ends_with(".sh"),
            })
            .collect();
        let mut add = |path, contents: &str| {
            out.push(File {
                path,
                contents: contents.to_string(),
                executable: false,
            })
        };
        match (self.lang, self.world) {
            (Lang::Rust, World::Plugin) => {
                add("plugbox-sdk/Cargo.toml", SDK_CARGO_TOML);
                add("plugbox-sdk/src/lib.rs", &sdk_lib_rs());
                add("plugbox-sdk/wit/plugin.wit", PLUGIN_WIT);
            }
            (_, World::Plugin) => add("wit/plugin.wit", PLUGIN_WIT),
            (_, World::Command) => {}
        }
        out
    }
}

/// The SDK's source, reading the WIT from its own `wit/` directory.
fn sdk_lib_rs() -> String {
    assert!(
        SDK_LIB_RS.contains(SDK_WIT_PATH_IN_REPO),
        "guests/rust/plugbox-sdk/src/lib.rs no longer reads the WIT from {SDK_WIT_PATH_IN_REPO}"
    );
    SDK_LIB_RS.replace(SDK_WIT_PATH_IN_REPO, SDK_WIT_PATH_IN_PROJECT)
}

/// What a language supports, and what its template's plugin costs.
pub struct MatrixRow {
    pub lang: Lang,
    /// The toolchain, with the versions the template pins.
    pub toolchain: &'static str,
    /// `handle`, `log`, `config`, `kv`, host functions.
    pub features: [&'static str; 5],
    /// `--world command`: supported, or why not.
    pub command: &'static str,
    /// The size of the template's `plugin` build.
    pub size: &'static str,
    /// A cold `plugbox call` of the template's plugin: process start, read,
    /// compile, instantiate, one `handle` call.
    pub call: &'static str,
    /// The same from its precompiled `.cwasm`: no compilation.
    pub precompiled_call: &'static str,
    /// `plugbox bench` (stateless): the median of a fresh instantiation of
    /// the compiled plugin plus one `handle` call, inside one process.
    pub instantiate_call: &'static str,
}

/// The language matrix. Sizes and times are measured by
/// `scripts/lang-matrix.sh`; update them when a template or toolchain changes.
pub const MATRIX: [MatrixRow; 4] = [
    MatrixRow {
        lang: Lang::Rust,
        toolchain: "cargo, wasm32-wasip2, plugbox-sdk (wit-bindgen 0.61.1)",
        features: [
            "yes",
            "yes",
            "yes",
            "yes²",
            "yes¹ (wit-bindgen, not the SDK)",
        ],
        command: "yes (wasm32-wasip2 binary)",
        size: "42.2 KiB",
        call: "31 ms",
        precompiled_call: "4 ms",
        instantiate_call: "19 µs",
    },
    MatrixRow {
        lang: Lang::C,
        toolchain: "clang + wasi-libc, wit-bindgen-cli 0.61.0, wasm-tools",
        features: ["yes", "yes", "yes", "yes²", "yes¹"],
        command: "yes (WASI preview 1 module)",
        size: "16.5 KiB",
        call: "13 ms",
        precompiled_call: "4 ms",
        instantiate_call: "14 µs",
    },
    MatrixRow {
        lang: Lang::Js,
        toolchain: "node, @bytecodealliance/componentize-js 0.23.0",
        features: ["yes", "yes", "yes", "yes²", "yes¹"],
        command: "no (plugin world only)",
        size: "11.6 MiB",
        call: "4.9 s",
        precompiled_call: "27 ms",
        instantiate_call: "550 µs",
    },
    MatrixRow {
        lang: Lang::Python,
        toolchain: "componentize-py 0.25.1",
        features: ["yes", "yes", "yes", "yes²", "yes¹"],
        command: "no (plugin world only)",
        size: "17.5 MiB",
        call: "4.2 s",
        precompiled_call: "33 ms",
        instantiate_call: "901 µs",
    },
];

/// The matrix as the Markdown table in the README.
pub fn matrix_table() -> String {
    let mut out = String::from(
        "| language | toolchain (pinned) | handle | log | config | kv | host functions \
         | `--world command` | plugin size | cold call | cold call, precompiled \
         | instantiate + call |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for row in &MATRIX {
        let [handle, log, config, kv, host] = row.features;
        out.push_str(&format!(
            "| {} | {} | {handle} | {log} | {config} | {kv} | {host} | {} | {} | {} | {} | {} |\n",
            row.lang.name(),
            row.toolchain,
            row.command,
            row.size,
            row.call,
            row.precompiled_call,
            row.instantiate_call,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_without_placeholders() {
        for lang in Lang::ALL {
            for world in [World::Plugin, World::Command] {
                let Ok(template) = lang.template(world) else {
                    continue;
                };
                for file in template.render("my-plugin") {
                    assert!(
                        !file.contents.contains("{{"),
                        "{}/{world:?}/{}: placeholder left",
                        lang.name(),
                        file.path
                    );
                }
            }
        }
    }

    #[test]
    fn the_sdk_copy_reads_its_own_wit() {
        let lib = sdk_lib_rs();
        assert!(lib.contains(SDK_WIT_PATH_IN_PROJECT));
        assert!(!lib.contains("../"));
    }

    #[test]
    fn the_readme_holds_the_matrix() {
        let readme = include_str!("../../../../../README.md");
        assert!(
            readme.contains(&matrix_table()),
            "README.md's language matrix differs from `plugbox new --list`:\n{}",
            matrix_table()
        );
    }
}
