//! Module layout (issue 23): no import circles between the modules of any
//! crate, and no long file without a stated reason. The store's own,
//! stricter check (no `super::`, no imports through the crate root) is
//! crates/store/tests/it/tidy.rs.
//!
//! A module is a file: `src/a.rs` and `src/a/mod.rs` are `a`, `src/a/b.rs` is
//! `a::b`. Module `m` imports module `n` when `m`'s code names a path to `n`
//! from `crate::`, `super::` or `self::` (in a `use` or inline, `{…}` groups
//! read too), or a name the crate root re-exports from `n`. A folder's
//! `mod.rs` and its own files are one unit: edges between a module and its
//! submodules do not count. Comments and the `#[cfg(test)]` module at the end
//! of a file are not read.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use orch_tests::workspace_root;

use super::{members, rust_files};

/// The longest `.rs` file, in lines, that needs no stated reason.
const MAX_LINES: usize = 800;

/// Files over [`MAX_LINES`], each with why it is long. A file leaves this
/// list when it is split; a new long file needs a line here, which a review
/// reads.
const LONG_FILES: &[(&str, &str)] = &[
    (
        "crates/launcher/tests/sandboxed/worktree.rs",
        "the task-isolation scenarios, each a whole task on a real git repository; one harness = false binary with its trial list (split by concern: pending)",
    ),
    (
        "bins/orch/tests/it/e2e.rs",
        "the real binary end to end, one scenario per test through serve, the CLI and HTTP; to split by command (pending)",
    ),
    (
        "crates/launcher/tests/sandboxed/engine.rs",
        "the engine's numbered test cases (TC-nn) in one registry that other branches add to; to split by stage once they are merged",
    ),
    (
        "bins/orch/src/config.rs",
        "half of it is the settings' tests (the declarations are in config/defs.rs); the parsing alone is under 800 lines",
    ),
    (
        "crates/store/tests/it/records.rs",
        "every table's records written and read back, one test per rule",
    ),
    (
        "crates/launcher/tests/agents.rs",
        "the real agent CLIs against the scripted model server: one scenario list over three CLIs",
    ),
    (
        "tests/src/model_server.rs",
        "the scripted stand-in for three model APIs (Anthropic, OpenAI, Gemini), each a few handlers over one server",
    ),
    (
        "crates/launcher/tests/it/usage.rs",
        "the usage parsers of three CLIs against their recorded outputs, one test per field",
    ),
    (
        "bins/orch/tests/it/soak.rs",
        "one soak scenario and its violation report: the checks read one shared history",
    ),
    (
        "crates/store/tests/it/queue.rs",
        "the queue's state machine: claim, fencing, defer, rescue, one test per transition",
    ),
    (
        "bins/orch/src/http.rs",
        "the HTTP server with its bounds (request size, pipelining, slow clients) and their unit tests",
    ),
    (
        "bins/orch/tests/it/hostile_cli.rs",
        "one hostile input per test against the real binary's commands",
    ),
    (
        "bins/orch/src/cli.rs",
        "the whole command line's clap declarations and their help texts, the one table of exit codes",
    ),
    (
        "bins/orch/tests/it/dashboard.rs",
        "the dashboard's pages on one fixed store, its POST protections and the headless-browser run with its small DevTools client",
    ),
    (
        "crates/inventory/tests/it/drift.rs",
        "each drift check made to fire on a copied tree, one test per check",
    ),
];

/// Import circles tolerated, each with what to cut. Empty since issue 23
/// cut the seven there were: a circle not listed fails, and so does a listed
/// one that is gone or changed. Adding an entry is a reviewed decision, not
/// a way to get green.
const KNOWN_CIRCLES: &[(&str, &[&str], &str)] = &[];

/// Every crate's source folder (`src/bin` programs are crates of their own
/// and are skipped): `crates/*/src`, `bins/*/src`, `tests/src`.
fn source_folders() -> Vec<PathBuf> {
    members()
        .into_iter()
        .map(|member| member.join("src"))
        .filter(|src| workspace_root().join(src).is_dir())
        .collect()
}

/// A module's path below the crate root, e.g. `["engine", "plan"]`.
type ModulePath = Vec<String>;

/// Every module file below `src`, by module path (the crate root is `[]`).
fn module_files(src: &Path) -> BTreeMap<ModulePath, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<ModulePath, PathBuf>) {
        for entry in fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().into_string().unwrap();
            if path.is_dir() {
                if prefix.is_empty() && name == "bin" {
                    continue;
                }
                let mut inner = prefix.to_vec();
                inner.push(name);
                walk(&path, &inner, out);
            } else if let Some(stem) = name.strip_suffix(".rs") {
                let mut module = prefix.to_vec();
                let root = prefix.is_empty() && (stem == "lib" || stem == "main");
                if stem != "mod" && !root {
                    module.push(stem.to_owned());
                }
                out.insert(module, path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &[], &mut out);
    out
}

/// The code a module's imports are read from: no comment lines, nothing
/// from the first `#[cfg(test)]` on (a unit test may reach anywhere).
fn module_code(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if !trimmed.starts_with("//") {
            code.push_str(line);
            code.push('\n');
        }
    }
    code
}

/// One path segment or `{…}` group at the start of `rest`: the paths it
/// names (after `prefix`) go to `out`; returns the rest of the text.
fn path_tree<'a>(prefix: &[String], rest: &'a str, out: &mut Vec<ModulePath>) -> &'a str {
    let rest = rest.trim_start();
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            inner = path_tree(prefix, inner, out).trim_start();
            if let Some(after) = inner.strip_prefix(',') {
                inner = after.trim_start();
            }
            if let Some(after) = inner.strip_prefix('}') {
                return after;
            }
            if inner.is_empty() {
                return inner;
            }
        }
    }
    let len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let (segment, after) = rest.split_at(len);
    if segment.is_empty() {
        return rest.get(1..).unwrap_or("");
    }
    let mut path = prefix.to_vec();
    path.push(segment.to_owned());
    if let Some(after) = after.strip_prefix("::") {
        return path_tree(&path, after, out);
    }
    out.push(path);
    let stop = after.find([',', '}', ';', '(', ')']).unwrap_or(after.len());
    &after[stop..]
}

/// Every path `code` (of module `here`) names from `crate::`, `super::` or
/// `self::`, made absolute (from the crate root).
fn absolute_paths(code: &str, here: &[String]) -> Vec<ModulePath> {
    let mut out = Vec::new();
    for anchor in ["crate::", "super::", "self::"] {
        for (at, _) in code.match_indices(anchor) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut paths = Vec::new();
            path_tree(&[], &code[at..], &mut paths);
            for path in paths {
                let mut base: Vec<String> = Vec::new();
                let mut rest = path.as_slice();
                match rest.first().map(String::as_str) {
                    Some("crate") => rest = &rest[1..],
                    Some("self") => {
                        base = here.to_vec();
                        rest = &rest[1..];
                    }
                    Some("super") => {
                        base = here.to_vec();
                        while rest.first().is_some_and(|s| s == "super") {
                            base.pop();
                            rest = &rest[1..];
                        }
                    }
                    _ => continue,
                }
                base.extend(rest.iter().cloned());
                out.push(base);
            }
        }
    }
    out
}

/// The module a path names: the longest module it starts with, or, for a
/// name the crate root re-exports (`crate::Store`), the module it comes from.
fn target_module<'a>(
    path: &[String],
    modules: &'a BTreeMap<ModulePath, PathBuf>,
    reexports: &'a BTreeMap<String, ModulePath>,
) -> Option<&'a ModulePath> {
    let found = (1..=path.len())
        .rev()
        .find_map(|len| modules.get_key_value(&path[..len]).map(|(k, _)| k));
    if found.is_some() {
        return found;
    }
    path.first().and_then(|name| reexports.get(name))
}

/// The import graph of a crate's modules: an edge `m → n` when `m`'s code
/// names `n`, leaving out a module and its own submodules (a folder's
/// `mod.rs` and its files are one unit).
fn import_graph(src: &Path) -> BTreeMap<ModulePath, BTreeSet<ModulePath>> {
    let modules = module_files(src);
    // What the crate root re-exports, by name: `pub use engine::Engine;`.
    let mut reexports = BTreeMap::new();
    if let Some(root) = modules.get(&Vec::new()) {
        let code = module_code(&fs::read_to_string(root).unwrap());
        for (at, _) in code.match_indices("pub use ") {
            let mut paths = Vec::new();
            path_tree(&[], &code[at + "pub use ".len()..], &mut paths);
            for path in paths {
                let from = (1..path.len())
                    .rev()
                    .find(|len| modules.contains_key(&path[..*len]));
                if let (Some(len), Some(name)) = (from, path.last()) {
                    reexports.insert(name.clone(), path[..len].to_vec());
                }
            }
        }
    }
    let mut graph: BTreeMap<ModulePath, BTreeSet<ModulePath>> = BTreeMap::new();
    for (module, file) in &modules {
        if module.is_empty() {
            continue;
        }
        let code = module_code(&fs::read_to_string(file).unwrap());
        let edges = graph.entry(module.clone()).or_default();
        for path in absolute_paths(&code, module) {
            let Some(target) = target_module(&path, &modules, &reexports) else {
                continue;
            };
            let related = target.starts_with(module) || module.starts_with(target);
            if !target.is_empty() && !related {
                edges.insert(target.clone());
            }
        }
    }
    graph
}

/// The circles of `graph`: every set of two or more modules that reach each
/// other, sorted.
fn circles(graph: &BTreeMap<ModulePath, BTreeSet<ModulePath>>) -> Vec<Vec<String>> {
    let reach = |from: &ModulePath| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(node) = todo.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&ModulePath, BTreeSet<ModulePath>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    let mut out: BTreeSet<Vec<String>> = BTreeSet::new();
    for (module, from_here) in &reached {
        if !from_here.contains(*module) {
            continue;
        }
        let circle: Vec<String> = from_here
            .iter()
            .filter(|other| reached.get(other).is_some_and(|r| r.contains(*module)))
            .map(|m| m.join("::"))
            .collect();
        if circle.len() > 1 {
            out.insert(circle);
        }
    }
    out.into_iter().collect()
}

#[test]
fn no_crate_has_an_import_circle_between_its_modules() {
    let mut found = Vec::new();
    let mut seen: Vec<(String, Vec<String>)> = Vec::new();
    let folders = source_folders();
    assert!(folders.len() > 5, "no source folders found: {folders:?}");
    for src in folders {
        let graph = import_graph(&workspace_root().join(&src));
        for circle in circles(&graph) {
            let crate_src = src.to_string_lossy().into_owned();
            let names: Vec<&str> = circle.iter().map(String::as_str).collect();
            if KNOWN_CIRCLES
                .iter()
                .any(|(folder, known, _)| *folder == crate_src && *known == names.as_slice())
            {
                seen.push((crate_src, circle));
                continue;
            }
            // The edges inside the circle, so the message says what to cut.
            let mut edges = Vec::new();
            for (from, to) in &graph {
                for target in to {
                    let (from, target) = (from.join("::"), target.join("::"));
                    if circle.contains(&from) && circle.contains(&target) {
                        edges.push(format!("{from} -> {target}"));
                    }
                }
            }
            found.push(format!(
                "{}: {} ({})",
                src.display(),
                circle.join(", "),
                edges.join(", ")
            ));
        }
    }
    assert!(
        found.is_empty(),
        "modules that import each other in a circle (move what they share into a module below them):\n{}",
        found.join("\n")
    );
    let gone: Vec<_> = KNOWN_CIRCLES
        .iter()
        .filter(|(folder, known, _)| {
            !seen.iter().any(|(src, circle)| {
                src == folder && circle.iter().map(String::as_str).eq(known.iter().copied())
            })
        })
        .map(|(folder, known, _)| format!("{folder}: {}", known.join(", ")))
        .collect();
    assert!(
        gone.is_empty(),
        "KNOWN_CIRCLES lists circles that are cut (or changed); remove or update them:\n{}",
        gone.join("\n")
    );
}

#[test]
fn no_source_file_is_over_800_lines_without_a_stated_reason() {
    let root = workspace_root();
    let mut long = Vec::new();
    let mut listed_but_short = Vec::new();
    for file in rust_files(&["crates", "bins", "tests", "examples"]) {
        let relative = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if relative.contains("node_modules") {
            continue;
        }
        let lines = fs::read_to_string(&file).unwrap().lines().count();
        let listed = LONG_FILES.iter().any(|(name, _)| *name == relative);
        if lines > MAX_LINES && !listed {
            long.push(format!("{relative}: {lines} lines"));
        }
        if lines <= MAX_LINES && listed {
            listed_but_short.push(relative);
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines: split them by concern, or add each to LONG_FILES in tests/tests/tidy.rs with the reason:\n{}",
        long.join("\n")
    );
    assert!(
        listed_but_short.is_empty(),
        "LONG_FILES names files that are no longer long (or gone); remove them: {listed_but_short:?}"
    );
    for (name, reason) in LONG_FILES {
        assert!(!reason.trim().is_empty(), "{name}: state the reason");
    }
}

/// Writes a crate's `src` from `(path, text)` pairs.
fn fake_crate(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn a_circle_through_super_a_group_and_a_root_reexport_is_found() {
    let src = fake_crate(&[
        ("lib.rs", "mod a;\nmod b;\nmod c;\npub use c::Thing;\n"),
        ("a.rs", "use super::b::{x::X, Y};\n"),
        (
            "b/mod.rs",
            "pub(crate) mod x;\npub(crate) struct Y;\nuse x::Z;\n",
        ),
        ("b/x.rs", "use super::Y;\nfn f() { crate::Thing::new(); }\n"),
        (
            "c.rs",
            "// crate::b is only named in a comment\npub struct Thing;\nfn g() { crate::a::h(); }\n#[cfg(test)]\nmod tests { use crate::b::Y; }\n",
        ),
    ]);
    let graph = import_graph(src.path());
    assert_eq!(circles(&graph), [vec!["a", "b::x", "c"]], "{graph:?}");
}

#[test]
fn a_folder_and_its_own_files_are_no_circle() {
    let src = fake_crate(&[
        ("lib.rs", "mod engine;\n"),
        (
            "engine/mod.rs",
            "mod plan;\nuse plan::decide;\npub struct Engine;\n",
        ),
        ("engine/plan.rs", "use super::Engine;\npub fn decide() {}\n"),
    ]);
    assert!(circles(&import_graph(src.path())).is_empty());
}
