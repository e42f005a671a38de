//! Tidy checks of the store's own layout (issue 23): no two modules of
//! `src/` import each other in a circle, and no file is over
//! [`MAX_LINES`] lines unless [`LONG_FILES`] says why.
//!
//! A module is a file: `src/a.rs` and `src/a/mod.rs` are `a`, `src/a/b.rs`
//! is `a::b`. Module `m` imports module `n` when `m`'s code names a path
//! `crate::n::…` (in a `use` or inline; `crate::{…}` groups are read too),
//! with `n` the longest module the path starts with. Comments and the
//! `#[cfg(test)]` module at the end of a file are not read: a unit test may
//! reach anywhere. Code must name a module, not the crate root's
//! re-exports (`crate::Store`), and not `super::`: either would hide an
//! import from this check.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is the failure report"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The longest file, in lines, that needs no stated reason.
const MAX_LINES: usize = 800;

/// Files of `src/` allowed over [`MAX_LINES`], each with its reason.
const LONG_FILES: &[(&str, &str)] = &[];

/// A module's path below the crate root, e.g. `["tables", "jobs"]`.
type Module = Vec<String>;

/// Every module file below `src`, by module path; the crate root is left out.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Module, PathBuf>) {
        for entry in fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().into_string().unwrap();
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(name);
                walk(&path, &inner, out);
            } else if let Some(stem) = name.strip_suffix(".rs") {
                let mut module = prefix.to_vec();
                if stem != "mod" && !(prefix.is_empty() && stem == "lib") {
                    module.push(stem.to_owned());
                }
                if !module.is_empty() {
                    out.insert(module, path);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &[], &mut out);
    out
}

/// The code a module's imports are read from: no comment lines, nothing
/// from the first `#[cfg(test)]` on.
fn code_of(text: &str) -> String {
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

/// One path segment or group at the start of `rest`: the paths it names
/// (after `prefix`) and the rest of the text.
fn parse_tree<'a>(prefix: &[String], rest: &'a str, out: &mut Vec<Module>) -> &'a str {
    let rest = rest.trim_start();
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            inner = parse_tree(prefix, inner, out).trim_start();
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
        // `*`, `as` aliases and the like: skip one character.
        return rest.get(1..).unwrap_or("");
    }
    let mut path = prefix.to_vec();
    path.push(segment.to_owned());
    if let Some(after) = after.strip_prefix("::") {
        return parse_tree(&path, after, out);
    }
    out.push(path);
    // Skip an alias (`as name`) up to the next separator.
    let stop = after.find([',', '}', ';', '(', ')']).unwrap_or(after.len());
    &after[stop..]
}

/// Every `crate::` path the code names.
fn crate_paths(code: &str) -> Vec<Module> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        parse_tree(&[], &code[at + "crate::".len()..], &mut out);
    }
    out
}

/// What is wrong with the layout below `src`, one line per finding.
fn findings(src: &Path) -> Vec<String> {
    let modules = modules(src);
    let mut problems = Vec::new();
    let mut imports: BTreeMap<&Module, BTreeSet<&Module>> = BTreeMap::new();
    for (module, path) in &modules {
        let text = fs::read_to_string(path).unwrap();
        let name = path.strip_prefix(src).unwrap().display().to_string();
        let lines = text.lines().count();
        if lines > MAX_LINES && !LONG_FILES.iter().any(|(file, _)| *file == name) {
            problems.push(format!(
                "src/{name} has {lines} lines, over {MAX_LINES}: split it by concern, \
                 or add it to LONG_FILES with the reason"
            ));
        }
        let code = code_of(&text);
        if code.contains("super::") {
            problems.push(format!(
                "src/{name} imports through `super::`: name the module with `crate::`"
            ));
        }
        let edges = imports.entry(module).or_default();
        for path in crate_paths(&code) {
            let target = (1..=path.len())
                .rev()
                .find_map(|len| modules.get_key_value(&path[..len]).map(|(k, _)| k));
            match target {
                Some(target) if target != module => {
                    edges.insert(target);
                }
                Some(_) => {}
                None => problems.push(format!(
                    "src/{name} names `crate::{}` through the crate root: import it from \
                     the module that defines it",
                    path.join("::")
                )),
            }
        }
    }
    if let Some(cycle) = find_cycle(&imports) {
        let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
        problems.push(format!(
            "modules import each other in a circle: {}; move what the circle shares \
             into a module below all of them",
            names.join(" -> ")
        ));
    }
    problems
}

/// A circle of imports, first module repeated at the end; `None` when the
/// graph has none.
fn find_cycle<'a>(imports: &BTreeMap<&'a Module, BTreeSet<&'a Module>>) -> Option<Vec<&'a Module>> {
    fn visit<'a>(
        node: &'a Module,
        imports: &BTreeMap<&'a Module, BTreeSet<&'a Module>>,
        done: &mut BTreeSet<&'a Module>,
        stack: &mut Vec<&'a Module>,
    ) -> Option<Vec<&'a Module>> {
        if let Some(at) = stack.iter().position(|m| *m == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node);
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        stack.push(node);
        for next in imports.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, imports, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in imports.keys() {
        if let Some(cycle) = visit(node, imports, &mut done, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

/// Writes a crate's `src` from `(path, text)` pairs.
fn fake_src(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn the_store_has_no_import_circle_and_no_unexplained_long_file() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert!(
        modules(&src).len() > 5,
        "no modules found in {}",
        src.display()
    );
    let problems = findings(&src);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_circle_through_a_folder_and_a_group_is_found() {
    let src = fake_src(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        ("a.rs", "use crate::b::{x::X, Y};\n"),
        ("b/mod.rs", "pub(crate) mod x;\npub(crate) struct Y;\n"),
        ("b/x.rs", "fn f() { crate::a::g(); }\n"),
    ]);
    let problems = findings(src.path());
    assert_eq!(
        problems,
        [
            "modules import each other in a circle: a -> b::x -> a; move what the circle \
          shares into a module below all of them"
        ]
    );
}

#[test]
fn imports_in_comments_and_unit_tests_do_not_count() {
    let src = fake_src(&[
        ("a.rs", "//! See crate::b::f.\nuse crate::b::f;\n"),
        (
            "b.rs",
            "/// Not crate::a.\npub fn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n",
        ),
    ]);
    assert_eq!(findings(src.path()), Vec::<String>::new());
}

#[test]
fn root_paths_super_paths_and_long_files_are_reported() {
    let long = "fn f() {}\n".repeat(MAX_LINES + 1);
    let src = fake_src(&[
        ("a.rs", "use crate::Store;\nuse super::b;\n"),
        ("b.rs", &long),
    ]);
    let problems = findings(src.path());
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].contains("through `super::`"), "{problems:#?}");
    assert!(
        problems[1].contains("`crate::Store` through the crate root"),
        "{problems:#?}"
    );
    assert!(
        problems[2].starts_with("src/b.rs has 801 lines"),
        "{problems:#?}"
    );
}
