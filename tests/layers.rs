//! The plugin's layers point one way (docs/design.md §2.1): the modules under `src/` import each
//! other without cycles, and only the command-line layer knows clap. Both rules are read from
//! the source text, so a change that breaks them fails here rather than in a review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The modules that make up the command-line layer: the only ones that may use clap.
const CLI_LAYER: &[&str] = &["lib", "cli", "commands"];

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `src/kdd/rest.rs` is `kdd`, `src/cli.rs` is `cli`.
fn top_module(src: &Path, file: &Path) -> String {
    let first = file.strip_prefix(src).unwrap().components().next().unwrap();
    let name = first.as_os_str().to_string_lossy();
    name.strip_suffix(".rs").unwrap_or(&name).to_string()
}

/// The code of a file without its comments (doc links name modules without importing them).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(|line| match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    })
}

/// The names `crate::NAME` a line refers to.
fn crate_paths(line: &str) -> Vec<String> {
    line.match_indices("crate::")
        .filter(|(at, _)| {
            // A path that starts at this crate, not a longer name ending in `crate`.
            line[..*at]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric() && c != '_')
        })
        .map(|(at, _)| {
            line[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

struct Tree {
    /// Module -> the modules it imports, with one place each import is made.
    imports: BTreeMap<String, BTreeMap<String, String>>,
    /// Files outside the command-line layer that use clap.
    clap_users: Vec<String>,
}

fn read_tree() -> Tree {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files.sort();
    let modules: BTreeSet<String> = files.iter().map(|f| top_module(&src, f)).collect();
    let mut tree = Tree {
        imports: BTreeMap::new(),
        clap_users: Vec::new(),
    };
    for file in &files {
        let module = top_module(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let shown = file.strip_prefix(&src).unwrap().display().to_string();
        for (number, line) in code_lines(&text).enumerate() {
            if (line.contains("clap::") || line.contains("clap_complete::"))
                && !CLI_LAYER.contains(&module.as_str())
            {
                tree.clap_users.push(format!("src/{shown}:{}", number + 1));
            }
            for target in crate_paths(line) {
                if target != module && modules.contains(&target) && module != "main" {
                    tree.imports
                        .entry(module.clone())
                        .or_default()
                        .entry(target)
                        .or_insert_with(|| format!("src/{shown}:{}", number + 1));
                }
            }
        }
    }
    tree
}

/// A cycle through `start`, if there is one, as the modules along it.
fn cycle_from(
    imports: &BTreeMap<String, BTreeMap<String, String>>,
    start: &str,
) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((module, path)) = stack.pop() {
        for next in imports.get(&module).into_iter().flat_map(|m| m.keys()) {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn the_modules_import_each_other_without_cycles() {
    let tree = read_tree();
    assert!(
        tree.imports.len() > 10,
        "the source tree was not read: {:?}",
        tree.imports.keys()
    );
    let cycles: Vec<String> = tree
        .imports
        .keys()
        .filter_map(|module| cycle_from(&tree.imports, module))
        .map(|cycle| {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} -> {} ({})", w[0], w[1], tree.imports[&w[0]][&w[1]]))
                .collect();
            steps.join(", ")
        })
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn only_the_command_line_layer_uses_clap() {
    let tree = read_tree();
    assert!(
        tree.clap_users.is_empty(),
        "clap used below the command-line layer: {:?}",
        tree.clap_users
    );
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let mut imports: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        imports
            .entry(from.into())
            .or_default()
            .insert(to.into(), String::new());
    }
    assert_eq!(cycle_from(&imports, "a").unwrap(), ["a", "b", "c", "a"]);
    assert_eq!(cycle_from(&imports, "d"), None);
    assert_eq!(crate_paths("use crate::kdd::rest;"), ["kdd"]);
    assert!(crate_paths("use go_compat::json;").is_empty());
}
