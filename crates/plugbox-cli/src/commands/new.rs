//! `plugbox new`: write a small, buildable plugin project.

use crate::exit::UsageError;
use anyhow::{Context, Result};
use clap::Parser;
use std::path::{Path, PathBuf};

mod templates;

use templates::{Lang, World};

/// Create a plugin project: source, build command, README and a test
#[derive(Parser, Debug)]
#[command(after_help = "Examples:
  plugbox new greeter --lang rust     # a plugbox:plugin component in Rust
  plugbox new hello --lang c --world command
  plugbox new --list                  # what each language supports
The project's README.md says how to build, call and test it.")]
pub struct NewCommand {
    /// The project's name: lowercase letters, digits, `-` and `_`, starting with a letter
    #[arg(value_name = "NAME", required_unless_present = "list")]
    name: Option<String>,

    /// The language: rust, c, js or python
    #[arg(long, value_name = "LANG", value_parser = parse_lang, required_unless_present = "list")]
    lang: Option<Lang>,

    /// The world: `plugin` (plugbox:plugin, called with `plugbox call`) or `command` (WASI
    /// command, run with `plugbox run`)
    #[arg(long, value_name = "WORLD", value_parser = parse_world, default_value = "plugin")]
    world: World,

    /// The directory to create [default: ./NAME]; it must not exist
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Print the language matrix: what each language supports, plugin sizes and call times
    #[arg(long, exclusive = true)]
    list: bool,
}

impl NewCommand {
    pub fn execute(self) -> Result<()> {
        if self.list {
            crate::output::out!("{}", templates::matrix_table())?;
            crate::output::outln!(
                "\n¹ host functions: add an import to the project's WIT; an embedding host \
                 provides it (`HostFunctions::component_func`), `plugbox call` does not.\n\
                 ² kv: in every language's bindings; the templates do not use it.\n\
                 sizes and times: each template's plugin, built as its README says, measured \
                 by scripts/lang-matrix.sh (hyperfine, mean of 10 runs of a release plugbox): \
                 `cold call` is one `plugbox call --no-cache` process (read, compile, \
                 instantiate, call `handle`), `precompiled` the same from the `.cwasm` of \
                 `plugbox compile`; `instantiate + call` is `plugbox bench`'s median of 200 \
                 stateless calls (a fresh instance and one `handle` call) in one process."
            )?;
            return Ok(());
        }
        let (Some(name), Some(lang)) = (self.name, self.lang) else {
            return Err(UsageError("NAME and --lang are required (or --list)".into()).into());
        };
        validate_name(&name)?;
        let template = lang.template(self.world).map_err(|why| {
            UsageError(format!(
                "`--world command` is not available for `{}`: {why}",
                lang.name()
            ))
        })?;
        let dir = self.dir.unwrap_or_else(|| PathBuf::from(&name));
        create_project_dir(&dir)?;
        let written = template
            .render(&name)
            .iter()
            .try_for_each(|file| write_file(&dir, file));
        if let Err(e) = written {
            // Only what this command created goes: the directory was new.
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let what = match self.world {
            World::Plugin => "plugin",
            World::Command => "command",
        };
        crate::output::outln!(
            "created {} {what} `{name}` in {}\nbuild it: cd {} && {}\nits README.md says how \
             to call and test it",
            lang.name(),
            dir.display(),
            dir.display(),
            template.build_command()
        )?;
        Ok(())
    }
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    Lang::parse(s).ok_or_else(|| {
        let known: Vec<_> = Lang::ALL.iter().map(|l| l.name()).collect();
        format!("unknown language `{s}` (known: {})", known.join(", "))
    })
}

fn parse_world(s: &str) -> Result<World, String> {
    World::parse(s).ok_or_else(|| format!("unknown world `{s}` (use plugin or command)"))
}

/// Names that would break one of the toolchains: Rust keywords and crates
/// every Rust crate sees, and the SDK that Rust projects carry.
const RESERVED: &[&str] = &[
    "test",
    "std",
    "core",
    "alloc",
    "proc_macro",
    "proc-macro",
    "self",
    "super",
    "crate",
    "fn",
    "mod",
    "use",
    "type",
    "struct",
    "enum",
    "impl",
    "trait",
    "let",
    "match",
    "loop",
    "while",
    "for",
    "if",
    "else",
    "return",
    "async",
    "await",
    "dyn",
    "const",
    "static",
    "pub",
    "ref",
    "mut",
    "move",
    "in",
    "as",
    "where",
    "unsafe",
    "extern",
    "true",
    "false",
    "break",
    "continue",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "try",
    "gen",
    "abstract",
    "become",
    "plugbox-sdk",
    "plugbox_sdk",
];

/// A name every template can use as a package, module and file name.
fn validate_name(name: &str) -> Result<(), UsageError> {
    let invalid = |why: &str| Err(UsageError(format!("invalid project name `{name}`: {why}")));
    let Some(first) = name.chars().next() else {
        return invalid("it is empty");
    };
    if !first.is_ascii_lowercase() {
        return invalid("it must start with a lowercase letter");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        return invalid(&format!(
            "`{c}` is not allowed (use lowercase letters, digits, `-` and `_`)"
        ));
    }
    if name.ends_with(['-', '_']) {
        return invalid("it must end with a letter or digit");
    }
    if name.len() > 64 {
        return invalid("it is longer than 64 characters");
    }
    if RESERVED.contains(&name) {
        return invalid("it is reserved by Rust or plugbox");
    }
    Ok(())
}

/// Creates `dir`, which must not exist: an existing file or directory is
/// never overwritten.
fn create_project_dir(dir: &Path) -> Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(UsageError(format!(
            "`{}` already exists; plugbox new never writes into an existing path \
             (choose another name or --dir)",
            dir.display()
        ))
        .into()),
        Err(e) => Err(e).with_context(|| format!("cannot create `{}`", dir.display())),
    }
}

fn write_file(dir: &Path, file: &templates::File) -> Result<()> {
    let path = dir.join(file.path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(&path, &file.contents)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    #[cfg(unix)]
    if file.executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make `{}` executable", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_toolchain_accepts() {
        for ok in ["a", "greeter", "my-plugin", "my_plugin2", "x1-y"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("My", "start with a lowercase letter"),
            ("1x", "start with a lowercase letter"),
            ("a.b", "`.` is not allowed"),
            ("a/b", "`/` is not allowed"),
            ("a b", "` ` is not allowed"),
            ("a-", "end with a letter or digit"),
            ("test", "reserved"),
            ("plugbox-sdk", "reserved"),
        ] {
            let err = validate_name(bad).unwrap_err().0;
            assert!(err.contains(&format!("`{bad}`")), "{err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(validate_name(&"a".repeat(65)).is_err());
    }
}
