//! Tidy checks: the codebase checking itself (STYLE.md, "a self-checking
//! codebase"). Each test names what it found and where, so a failure says
//! what to fix.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a panic is the failure report"
)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use orch_tests::workspace_root;

// In a folder of its own, so that cargo does not take it for a test binary.
#[path = "tidy/layout.rs"]
mod layout;

/// Every workspace member's folder, relative to the root.
fn members() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut out = vec![PathBuf::from("tests")];
    for group in ["crates", "bins"] {
        let Ok(entries) = fs::read_dir(root.join(group)) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().join("Cargo.toml").is_file() {
                out.push(PathBuf::from(group).join(entry.file_name()));
            }
        }
    }
    out.sort();
    out
}

fn manifest(member: &Path) -> toml::Table {
    let path = workspace_root().join(member).join("Cargo.toml");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn package_name(manifest: &toml::Table) -> String {
    manifest["package"]["name"].as_str().unwrap().to_owned()
}

/// Every `.rs` file below the given folders.
fn rust_files(dirs: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        walk(&workspace_root().join(dir), &mut out);
    }
    out.sort();
    out
}

#[test]
fn there_are_members_to_check() {
    let names: Vec<String> = members()
        .iter()
        .map(|m| package_name(&manifest(m)))
        .collect();
    for expected in [
        "orch-self-deploy",
        "orch-pipeline",
        "orch-store",
        "orch-tests",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[test]
fn every_member_inherits_the_workspace_lints_and_package_fields() {
    for member in members() {
        let manifest = manifest(&member);
        let name = package_name(&manifest);
        assert!(
            name == "orch" || name.starts_with("orch-"),
            "{}: package name {name:?} must carry the orch- prefix",
            member.display()
        );
        assert_eq!(
            manifest
                .get("lints")
                .and_then(|l| l.get("workspace"))
                .and_then(toml::Value::as_bool),
            Some(true),
            "{}: add `[lints] workspace = true` (lints are not inherited otherwise)",
            member.display()
        );
        for field in ["edition", "rust-version", "license", "publish"] {
            assert_eq!(
                manifest["package"]
                    .get(field)
                    .and_then(|f| f.get("workspace"))
                    .and_then(toml::Value::as_bool),
                Some(true),
                "{}: set `{field}.workspace = true`",
                member.display()
            );
        }
    }
}

#[test]
fn every_crate_root_opens_with_a_doc_comment() {
    for member in members() {
        for root in ["src/lib.rs", "src/main.rs"] {
            let path = workspace_root().join(&member).join(root);
            let Ok(text) = fs::read_to_string(&path) else {
                continue;
            };
            assert!(
                text.trim_start().starts_with("//!"),
                "{}: a crate root opens with `//!` docs: purpose, main types, an example, and what it never does",
                path.display()
            );
        }
    }
}

#[test]
fn no_leftover_debugging_or_unfinished_code() {
    // Built from pieces so that this file does not match itself.
    let banned = [
        format!("{}!(", "todo"),
        format!("{}!(", "dbg"),
        format!("{}!(", "unimplemented"),
        format!("#[{}]", "ignore"),
    ];
    let mut found = Vec::new();
    for path in rust_files(&["crates", "bins", "tests"]) {
        let text = fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            for needle in &banned {
                if line.contains(needle.as_str()) {
                    found.push(format!(
                        "{}:{}: {}",
                        path.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "finish or remove these:\n{}",
        found.join("\n")
    );
}

/// DESIGN §2: an arrow means "may depend on"; nothing else may.
#[test]
fn workspace_dependencies_follow_the_design() {
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("orch-self-deploy", &[][..]),
        ("orch-pipeline", &[][..]),
        ("orch-store", &["orch-pipeline"][..]),
        ("orch-process", &["orch-self-deploy"][..]),
        (
            "orch-staging-runner",
            &["orch-self-deploy", "orch-pipeline", "orch-process"][..],
        ),
        (
            "orch-launcher",
            &[
                "orch-pipeline",
                "orch-store",
                "orch-process",
                "orch-staging-runner",
                "orch-self-deploy",
            ][..],
        ),
        ("orch-inventory", &["orch-pipeline"][..]),
    ]);
    for member in members() {
        let manifest = manifest(&member);
        let name = package_name(&manifest);
        for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(deps) = manifest.get(table).and_then(toml::Value::as_table) else {
                continue;
            };
            for dep in deps.keys().filter(|d| d.starts_with("orch")) {
                assert_ne!(dep, "orch", "{name}: nothing depends on the binary");
                // The shared test support is every crate's dev-dependency and
                // nobody's dependency.
                if dep == "orch-tests" {
                    assert_eq!(
                        table, "dev-dependencies",
                        "{name}: orch-tests is test support; use it only in [dev-dependencies]"
                    );
                    continue;
                }
                if name == "orch" || name == "orch-tests" {
                    continue;
                }
                let Some(may) = allowed.get(name.as_str()) else {
                    panic!("{name}: not in DESIGN §2's dependency graph; add it there and here");
                };
                assert!(
                    may.contains(&dep.as_str()),
                    "{name} [{table}] depends on {dep}, which DESIGN §2 does not allow (allowed: {may:?})"
                );
            }
        }
    }
}

#[test]
fn every_golden_file_is_named_in_the_contracts_doc() {
    let doc = fs::read_to_string(workspace_root().join("docs/contracts.md")).unwrap();
    let mut goldens = Vec::new();
    for member in members() {
        let dir = workspace_root().join(&member).join("tests/golden");
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let relative = member.join("tests/golden").join(entry.file_name());
            goldens.push(relative.to_string_lossy().into_owned());
        }
    }
    assert!(!goldens.is_empty(), "no golden files found");
    let unnamed: Vec<_> = goldens
        .iter()
        .filter(|g| !doc.contains(g.as_str()))
        .collect();
    assert!(
        unnamed.is_empty(),
        "docs/contracts.md must name every golden file; missing: {unnamed:?}"
    );
}

#[test]
fn the_code_map_names_every_crate() {
    let doc = fs::read_to_string(workspace_root().join("docs/architecture/README.md")).unwrap();
    for member in members() {
        let name = package_name(&manifest(&member));
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/architecture/README.md has no paragraph for `{name}` ({})",
            member.display()
        );
    }
}

/// The paths `include_str!`/`include_bytes!` name in `text`.
fn included_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for macro_name in ["include_str!(\"", "include_bytes!(\""] {
        let mut rest = text;
        while let Some(at) = rest.find(macro_name) {
            rest = &rest[at + macro_name.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_owned());
            }
        }
    }
    out
}

#[test]
fn no_library_crate_includes_a_file_from_outside_its_package() {
    // A packaged or vendored crate holds only its own folder: a file
    // included from beside it (the role prompts once were, from the
    // repository's `agents/`) makes it fail to build there. Test code may
    // read the repository; the library code may not.
    // Known exception, with its reason: the inventory's drift check reads
    // the pipeline's own sources (`tables.rs`) to compare them with the
    // inventory document.
    let allowed = ["crates/inventory/src/tables.rs"];
    let root = workspace_root();
    let mut outside = Vec::new();
    for member in members()
        .into_iter()
        .filter(|member| member.starts_with("crates"))
    {
        let package = root.join(&member);
        for file in rust_files(&[&member.join("src").to_string_lossy()]) {
            let relative = file
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if allowed.contains(&relative.as_str()) {
                continue;
            }
            let text = fs::read_to_string(&file).unwrap();
            for included in included_paths(&text) {
                let target = file.parent().unwrap().join(&included);
                let target = std::path::absolute(&target).unwrap();
                // Resolve `..` by the components, without touching the disk.
                let mut clean = PathBuf::new();
                for part in target.components() {
                    if part == std::path::Component::ParentDir {
                        clean.pop();
                    } else {
                        clean.push(part);
                    }
                }
                if !clean.starts_with(&package) {
                    outside.push(format!("{relative}: include of {included:?}"));
                }
            }
        }
    }
    assert!(
        outside.is_empty(),
        "library code includes files from outside its package (move them into the crate):\n{}",
        outside.join("\n")
    );
}

#[test]
fn the_store_s_public_api_names_no_sqlite_binding_type() {
    // An embedder may use another rusqlite (or a system SQLite) beside
    // orch-store: no rusqlite type in a public item, error sources included
    // (they are wrapped in `orch_store::SqliteError`).
    let mut found = Vec::new();
    for file in rust_files(&["crates/store/src"]) {
        let text = fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            let public = code.starts_with("pub ") || code.starts_with("pub use");
            let error_field = file.ends_with("error.rs") && code.starts_with("source: rusqlite");
            if (public && code.contains("rusqlite")) || error_field {
                found.push(format!("{}:{}: {code}", file.display(), number + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "rusqlite in orch-store's public API:\n{}",
        found.join("\n")
    );
}

/// `1.89.0` or `1.89` as comparable numbers (a missing part is 0).
fn version_numbers(text: &str) -> [u64; 3] {
    let mut parts = text.split('.').map(|n| n.parse().unwrap_or(0));
    [(); 3].map(|()| parts.next().unwrap_or(0))
}

#[test]
fn the_declared_msrv_is_at_least_every_dependency_s() {
    // The workspace's `rust-version` must be true: no dependency in the lock
    // file may declare a higher one (rusqlite 0.41 needs 1.89). Read from
    // the sources cargo already downloaded, so it runs offline; a package
    // whose source is not there (never built here) is skipped.
    let root = workspace_root();
    let workspace = manifest(Path::new("."));
    let declared = workspace["workspace"]["package"]["rust-version"]
        .as_str()
        .unwrap()
        .to_owned();
    let lock: toml::Table = fs::read_to_string(root.join("Cargo.lock"))
        .unwrap()
        .parse()
        .unwrap();
    let cargo_home = std::env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"),
        PathBuf::from,
    );
    let registries: Vec<PathBuf> = fs::read_dir(cargo_home.join("registry/src"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let mut checked = 0;
    let mut higher = Vec::new();
    for package in lock["package"].as_array().unwrap() {
        let (Some(name), Some(version)) = (package["name"].as_str(), package["version"].as_str())
        else {
            continue;
        };
        if package.get("source").is_none() {
            continue;
        }
        let Some(source) = registries
            .iter()
            .map(|registry| registry.join(format!("{name}-{version}/Cargo.toml")))
            .find(|path| path.is_file())
        else {
            continue;
        };
        let Ok(theirs) = fs::read_to_string(&source).unwrap().parse::<toml::Table>() else {
            continue;
        };
        checked += 1;
        if let Some(needed) = theirs
            .get("package")
            .and_then(|p| p.get("rust-version"))
            .and_then(toml::Value::as_str)
            && version_numbers(needed) > version_numbers(&declared)
        {
            higher.push(format!("{name} {version} needs Rust {needed}"));
        }
    }
    assert!(
        higher.is_empty(),
        "Cargo.toml declares rust-version {declared}, but:\n{}\nraise [workspace.package] rust-version",
        higher.join("\n")
    );
    // The check read something (a machine that built the workspace has the
    // sources); without them it proves nothing, and says so.
    if checked == 0 {
        eprintln!(
            "no dependency sources under {}; the MSRV was not checked",
            cargo_home.display()
        );
    }
}
