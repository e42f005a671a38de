//! The crate roots Cargo builds into a product, read from the workspace's
//! manifests: each member's library, binaries and build script.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::*;

/// A crate root: its key (the library's identifier, e.g. `orch_launcher`;
/// `binN:PACKAGE` for a binary, `build:PACKAGE` for a build script), its
/// package folder and its root file.
pub(super) struct Root {
    pub(super) key: String,
    pub(super) dir: String,
    pub(super) file: PathBuf,
}

impl Workspace {
    pub(super) fn roots(&mut self, root: &Path, test_support: &[String]) -> Vec<Root> {
        let manifest = root.join("Cargo.toml");
        let text = match fs::read_to_string(&manifest) {
            Ok(text) => text,
            Err(error) => {
                self.problems.push(Problem::Manifest {
                    file: "Cargo.toml".to_owned(),
                    error: error.to_string(),
                });
                return Vec::new();
            }
        };
        let value = match toml::Table::from_str(&text) {
            Ok(v) => v,
            Err(error) => {
                self.problems.push(Problem::Manifest {
                    file: "Cargo.toml".to_owned(),
                    error: error.to_string(),
                });
                return Vec::new();
            }
        };
        let members: Vec<String> = value
            .get("workspace")
            .and_then(|w| w.get("members"))
            .and_then(|m| m.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut dirs = Vec::new();
        for member in members {
            if let Some(parent) = member.strip_suffix("/*") {
                let Ok(entries) = fs::read_dir(root.join(parent)) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .flatten()
                    .filter(|e| e.path().join("Cargo.toml").is_file())
                    .map(|e| format!("{parent}/{}", e.file_name().to_string_lossy()))
                    .collect();
                names.sort();
                dirs.extend(names);
            } else {
                dirs.push(member);
            }
        }
        let mut out = Vec::new();
        for dir in dirs {
            let file = format!("{dir}/Cargo.toml");
            let table = match fs::read_to_string(root.join(&file))
                .map_err(|e| e.to_string())
                .and_then(|t| toml::Table::from_str(&t).map_err(|e| e.to_string()))
            {
                Ok(t) => t,
                Err(error) => {
                    self.problems.push(Problem::Manifest { file, error });
                    continue;
                }
            };
            let Some(package) = table
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
                .map(str::to_owned)
            else {
                continue;
            };
            let mut dependencies = Vec::new();
            for section in ["dependencies", "build-dependencies"] {
                if let Some(deps) = table.get(section).and_then(|d| d.as_table()) {
                    dependencies.extend(deps.keys().cloned());
                }
            }
            self.manifests.push(Manifest {
                package: package.clone(),
                dependencies,
            });
            if test_support.contains(&package) {
                continue;
            }
            let ident = package.replace('-', "_");
            let base = root.join(&dir);
            let lib = table
                .get("lib")
                .and_then(|l| l.get("path"))
                .and_then(|p| p.as_str())
                .map(|p| base.join(p))
                .or_else(|| Some(base.join("src/lib.rs")).filter(|p| p.is_file()));
            if let Some(file) = lib {
                out.push(Root {
                    key: ident.clone(),
                    dir: dir.clone(),
                    file,
                });
            }
            let mut bins: BTreeMap<String, PathBuf> = BTreeMap::new();
            if let Some(list) = table.get("bin").and_then(|b| b.as_array()) {
                for bin in list {
                    let name = bin.get("name").and_then(|n| n.as_str()).unwrap_or(&package);
                    let path = bin
                        .get("path")
                        .and_then(|p| p.as_str())
                        .map_or_else(|| base.join(format!("src/bin/{name}.rs")), |p| base.join(p));
                    bins.insert(path.to_string_lossy().into_owned(), path);
                }
            }
            let main = base.join("src/main.rs");
            if main.is_file() {
                bins.insert(main.to_string_lossy().into_owned(), main);
            }
            if let Ok(entries) = fs::read_dir(base.join("src/bin")) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    let file = if path.is_dir() {
                        path.join("main.rs")
                    } else {
                        path
                    };
                    if file.extension().is_some_and(|e| e == "rs") && file.is_file() {
                        bins.insert(file.to_string_lossy().into_owned(), file);
                    }
                }
            }
            for (i, file) in bins.into_values().enumerate() {
                out.push(Root {
                    key: format!("bin{i}:{ident}"),
                    dir: dir.clone(),
                    file,
                });
            }
            let build = match table.get("package").and_then(|p| p.get("build")) {
                Some(toml::Value::String(path)) => Some(base.join(path)),
                Some(toml::Value::Boolean(false)) => None,
                _ => Some(base.join("build.rs")).filter(|p| p.is_file()),
            };
            if let Some(file) = build {
                out.push(Root {
                    key: format!("build:{ident}"),
                    dir: dir.clone(),
                    file,
                });
            }
        }
        out
    }
}
