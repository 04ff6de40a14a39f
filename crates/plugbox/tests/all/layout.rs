//! The source tree shows the architecture: imports point one way through
//! the layers (manage → plugin → call → code/store → load/engine/config →
//! error → units), and no file grows past ~500 lines.

use std::path::{Path, PathBuf};

/// Each top-level module and its layer; a file may use `crate::x` only for
/// an `x` of a lower layer (or its own module).
const LAYERS: &[(&str, u32)] = &[
    ("units", 0),
    ("clock", 0),
    ("text", 0),
    ("stats", 0),
    ("error", 1),
    ("wit_values", 1),
    ("input", 2),
    ("values", 2),
    ("config", 3),
    ("engine", 4),
    ("load", 5),
    ("kv", 5),
    ("store", 6),
    ("code", 7),
    ("call", 8),
    ("plugin", 9),
    ("manage", 10),
    ("serve", 11),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

#[test]
fn imports_point_down_the_layers_and_files_stay_small() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut problems = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text.lines().count();
        if lines > 520 {
            problems.push(format!("{} has {lines} lines", rel.display()));
        }
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(own) = layer(&top) else {
            continue; // lib.rs re-exports everything
        };
        // Code only: not doc comments, not unit tests.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + "crate::".len()..];
                let target: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if target == top {
                    continue;
                }
                match layer(&target) {
                    Some(l) if l < own => {}
                    Some(_) => problems.push(format!(
                        "{} (layer `{top}`) uses `crate::{target}`",
                        rel.display()
                    )),
                    // Items re-exported at the root must not be used
                    // inside the crate: it hides the layer they come from.
                    None => problems.push(format!(
                        "{} uses `crate::{target}`: name the module instead",
                        rel.display()
                    )),
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
