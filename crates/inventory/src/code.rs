//! The workspace's code as the compiler sees it, for the drift checks.
//!
//! The walk starts at the crate roots Cargo builds into a product — each
//! workspace member's library (`[lib] path` or `src/lib.rs`), its binaries
//! (`[[bin]] path`, `src/main.rs`, `src/bin/*.rs`) and its build script
//! (`package.build` or `build.rs`) — and follows what the compiler follows:
//! `mod x;` (to `x.rs` or `x/mod.rs`, or to a `#[path = "…"]`), inline
//! modules, and `include!("…")` (a string, or `concat!` of strings and
//! `env!("CARGO_MANIFEST_DIR")`), at item level and inside a body. No
//! folder is skipped by its name: a file under `tests/` that a `#[path]` or
//! an `include!` pulls into a product is scanned like any other, and a file
//! no `mod` reaches is not compiled, so it is not scanned. Integration
//! tests, benches and examples are other roots (test code, never shipped);
//! so is code under `#[test]` or `#[cfg(test)]`, and a crate the inventory
//! names as test support (checked to be only a dev-dependency).
//!
//! Every function, method, `static`, `const`, `macro_rules!` definition and
//! item-level macro invocation is a *unit*: its tokens (a macro body is
//! tokens too, so code in a macro is code) give
//!
//! - **primitives**: direct process starts — any `Command::new` (through a
//!   `use` or `type` alias or as `<Command>::new`; not `clap`'s), the `libc`
//!   and `nix` exec family, `fork`, `vfork`, `clone`, `posix_spawn(p)`,
//!   `system` and `popen`;
//! - **reads**: the agent-command setting — `agent.command`, `AgentConfig`,
//!   the binary's `agent_cmd`, or a string (a literal or a `concat!` of
//!   literals) that contains `ORCH_AGENT_CMD`;
//! - **refs**: every path it names, resolved to other units across modules
//!   and crates (`crate::`, `self::`, `super::`, `use` aliases and `pub use`
//!   re-exports; a macro by its name).
//!
//! *Limits*: resolution is by path, not by type: a method call
//! (`x.run()`) is not followed, nor a function reached through a trait
//! object or a closure stored elsewhere; a glob import (`use m::*`) names
//! nothing, except that a bare `system` or `clone` under a `libc` or `nix`
//! glob is that crate's. A process crate the workspace does not contain
//! (`duct`, `subprocess`) is seen only where it reaches `Command::new` in
//! code the scan reads, which is never: a new dependency is for review. The
//! process-start allow-list does not depend on resolution (a primitive is
//! seen where it is written), and clippy's `disallowed-methods` backs it at
//! build time.

#![allow(
    clippy::wildcard_enum_match_arm,
    reason = "syntax and token kinds, not contracts: only a few kinds matter to the scan"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use quote::ToTokens;
use syn::{Attribute, ImplItem, Item, Stmt, TraitItem, Type, UseTree};

/// The environment key the binary reads the agent command from.
const AGENT_CMD_ENV: &str = "ORCH_AGENT_CMD";

/// Function names that start a process whatever crate they come from (the
/// `libc`/`nix` exec family, fork and spawn).
const EXEC_FAMILY: &[&str] = &[
    "execv",
    "execve",
    "execvp",
    "execvpe",
    "execl",
    "execle",
    "execlp",
    "execveat",
    "fexecve",
    "posix_spawn",
    "posix_spawnp",
    "fork",
    "vfork",
    "popen",
];

/// Names that start a process only from `libc` or `nix` (too common
/// elsewhere: `Arc::clone`).
const LIBC_ONLY: &[&str] = &["system", "clone", "clone3"];

/// Crates whose `Command::new` builds something other than a process.
const NOT_PROCESSES: &[&str] = &["clap"];

/// How deep `include!` and re-export chains are followed.
const MAX_DEPTH: usize = 16;

/// What kind of item a unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnitKind {
    /// A function or a method.
    Fn,
    /// A `static` or a `const`.
    Static,
    /// A `macro_rules!` definition.
    Macro,
    /// A macro invoked at item level (its tokens may define items).
    Invocation,
}

/// One unit of code.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    /// The crate it belongs to (a key of [`Workspace::crates`]).
    pub(crate) krate: String,
    /// The file it is written in, relative to the root.
    pub(crate) file: String,
    /// Inline modules of the file, the impl's type, the name: what a code
    /// location names after `file.rs::`.
    pub(crate) qualified: Vec<String>,
    /// Its absolute path: the crate, its modules, the impl's type, its name
    /// (`name!` for a macro).
    pub(crate) path: Vec<String>,
    /// What it is.
    pub(crate) kind: UnitKind,
    /// Test code.
    pub(crate) test: bool,
    /// Direct process starts, as written (`Command::new`, `libc::system`).
    pub(crate) primitives: Vec<String>,
    /// Evidence that it reads the agent-command setting.
    pub(crate) reads: Vec<String>,
    /// The paths it names, each absolute where the module tree allows, and
    /// each with the path as written (alias-expanded) for messages.
    pub(crate) refs: Vec<(Vec<String>, String)>,
    /// The tokens, flattened (for the registry check).
    pub(crate) text: String,
}

impl Unit {
    /// `file.rs::Type::name`, the location format of the inventory.
    pub(crate) fn location(&self) -> String {
        format!("{}::{}", self.file, self.qualified.join("::"))
    }

    /// `Type::name`.
    pub(crate) fn name(&self) -> String {
        self.qualified.join("::")
    }
}

/// Something the walk could not follow; each becomes a drift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A manifest that cannot be read.
    Manifest { file: String, error: String },
    /// A Rust file that does not parse.
    Unparsable { file: String, error: String },
    /// A `mod x;` whose file is missing.
    MissingModule { file: String, module: String },
    /// An `include!` whose path cannot be computed or read.
    Include { file: String, what: String },
}

/// The walked workspace.
#[derive(Debug, Default)]
pub(crate) struct Workspace {
    /// Every unit, in walk order.
    pub(crate) units: Vec<Unit>,
    /// Every module path.
    modules: BTreeSet<Vec<String>>,
    /// Per module: name → the path a `use`, `type` or `extern crate` makes
    /// it stand for (absolute where known).
    aliases: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
    /// What could not be followed.
    pub(crate) problems: Vec<Problem>,
    /// Units by absolute path.
    by_path: BTreeMap<Vec<String>, Vec<usize>>,
    /// Each package's manifest: its dependencies by kind.
    pub(crate) manifests: Vec<Manifest>,
    /// Per unit, while walking: its module and impl type.
    pending_scope: Vec<(Vec<String>, Option<String>)>,
}

/// A workspace member's dependencies, for the test-support rule.
#[derive(Debug, Clone, Default)]
pub(crate) struct Manifest {
    /// The package.
    pub(crate) package: String,
    /// Its `[dependencies]` and `[build-dependencies]`.
    pub(crate) dependencies: Vec<String>,
}

/// A crate root: its key (the library's identifier, e.g. `orch_launcher`;
/// `binN:PACKAGE` for a binary, `build:PACKAGE` for a build script), its
/// package folder and its root file.
struct Root {
    key: String,
    dir: String,
    file: PathBuf,
}

impl Workspace {
    /// Walks the workspace under `root`, skipping the packages named in
    /// `test_support` (they are checked separately).
    pub(crate) fn load(root: &Path, test_support: &[String]) -> Workspace {
        let mut ws = Workspace::default();
        let roots = ws.roots(root, test_support);
        for r in roots {
            let module = vec![r.key.clone()];
            let child_dir = r.file.parent().map(Path::to_path_buf).unwrap_or_default();
            let cx = FileCx {
                root: root.to_owned(),
                krate: r.key.clone(),
                crate_dir: root.join(&r.dir),
            };
            ws.walk_file(&cx, &r.file, module, &child_dir, false, 0);
        }
        ws.index();
        ws
    }

    fn roots(&mut self, root: &Path, test_support: &[String]) -> Vec<Root> {
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

    fn relative(cx: &FileCx, path: &Path) -> String {
        let rel = path.strip_prefix(&cx.root).unwrap_or(path);
        let mut parts: Vec<String> = Vec::new();
        for c in rel.components() {
            match c {
                std::path::Component::ParentDir => {
                    parts.pop();
                }
                std::path::Component::CurDir => {}
                other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
            }
        }
        parts.join("/")
    }

    /// Parses `file` as module `module`, whose `mod x;` files live in
    /// `child_dir`.
    fn walk_file(
        &mut self,
        cx: &FileCx,
        file: &Path,
        module: Vec<String>,
        child_dir: &Path,
        test: bool,
        depth: usize,
    ) {
        let rel = Self::relative(cx, file);
        let Ok(text) = fs::read_to_string(file) else {
            self.problems.push(Problem::MissingModule {
                file: rel,
                module: module.join("::"),
            });
            return;
        };
        let parsed = match syn::parse_file(&text) {
            Ok(parsed) => parsed,
            Err(error) => {
                self.problems.push(Problem::Unparsable {
                    file: rel,
                    error: error.to_string(),
                });
                return;
            }
        };
        self.modules.insert(module.clone());
        let here = FileHere {
            rel,
            dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let mut scope = Scope {
            module,
            qualifiers: Vec::new(),
            type_qualifier: None,
            child_dir: child_dir.to_owned(),
            test,
        };
        self.walk_items(cx, &here, &parsed.items, &mut scope, depth);
    }

    fn walk_items(
        &mut self,
        cx: &FileCx,
        here: &FileHere,
        items: &[Item],
        scope: &mut Scope,
        depth: usize,
    ) {
        self.modules.insert(scope.module.clone());
        for item in items {
            match item {
                Item::Use(u) => {
                    let mut found = BTreeMap::new();
                    use_tree(&u.tree, &mut Vec::new(), &mut found);
                    self.aliases
                        .entry(scope.module.clone())
                        .or_default()
                        .extend(found);
                }
                Item::Type(t) => {
                    if let Type::Path(p) = &*t.ty {
                        let segs = p
                            .path
                            .segments
                            .iter()
                            .map(|s| s.ident.to_string())
                            .collect();
                        self.aliases
                            .entry(scope.module.clone())
                            .or_default()
                            .insert(t.ident.to_string(), segs);
                    }
                }
                Item::ExternCrate(e) => {
                    let name = e
                        .rename
                        .as_ref()
                        .map_or_else(|| e.ident.to_string(), |(_, r)| r.to_string());
                    self.aliases
                        .entry(scope.module.clone())
                        .or_default()
                        .insert(name, vec![e.ident.to_string()]);
                }
                Item::Fn(f) => {
                    let mut tokens = f.sig.to_token_stream();
                    tokens.extend(f.block.to_token_stream());
                    let local = local_uses(&f.block.stmts);
                    self.unit(
                        cx,
                        here,
                        scope,
                        f.sig.ident.to_string(),
                        UnitKind::Fn,
                        is_test(&f.attrs),
                        tokens,
                        &local,
                    );
                }
                Item::Impl(imp) => {
                    let owner = type_name(&imp.self_ty);
                    let test = scope.test || is_test(&imp.attrs);
                    for member in &imp.items {
                        match member {
                            ImplItem::Fn(f) => {
                                let mut tokens = f.sig.to_token_stream();
                                tokens.extend(f.block.to_token_stream());
                                let local = local_uses(&f.block.stmts);
                                let mut inner = scope.nested_type(&owner, test);
                                self.unit(
                                    cx,
                                    here,
                                    &mut inner,
                                    f.sig.ident.to_string(),
                                    UnitKind::Fn,
                                    is_test(&f.attrs),
                                    tokens,
                                    &local,
                                );
                            }
                            ImplItem::Const(c) => {
                                let mut inner = scope.nested_type(&owner, test);
                                self.unit(
                                    cx,
                                    here,
                                    &mut inner,
                                    c.ident.to_string(),
                                    UnitKind::Static,
                                    is_test(&c.attrs),
                                    c.expr.to_token_stream(),
                                    &BTreeMap::new(),
                                );
                            }
                            ImplItem::Macro(m) => {
                                let mut inner = scope.nested_type(&owner, test);
                                self.unit(
                                    cx,
                                    here,
                                    &mut inner,
                                    format!("{}!{{}}", path_text(&m.mac.path)),
                                    UnitKind::Invocation,
                                    is_test(&m.attrs),
                                    m.mac.tokens.clone(),
                                    &BTreeMap::new(),
                                );
                            }
                            _ => {}
                        }
                    }
                }
                Item::Trait(tr) => {
                    let name = tr.ident.to_string();
                    let test = scope.test || is_test(&tr.attrs);
                    for member in &tr.items {
                        if let TraitItem::Fn(f) = member
                            && let Some(block) = &f.default
                        {
                            let mut tokens = f.sig.to_token_stream();
                            tokens.extend(block.to_token_stream());
                            let local = local_uses(&block.stmts);
                            let mut inner = scope.nested_type(&name, test);
                            self.unit(
                                cx,
                                here,
                                &mut inner,
                                f.sig.ident.to_string(),
                                UnitKind::Fn,
                                is_test(&f.attrs),
                                tokens,
                                &local,
                            );
                        }
                    }
                }
                Item::Static(syn::ItemStatic {
                    attrs,
                    ident,
                    ty,
                    expr,
                    ..
                })
                | Item::Const(syn::ItemConst {
                    attrs,
                    ident,
                    ty,
                    expr,
                    ..
                }) => {
                    let mut tokens = ty.to_token_stream();
                    tokens.extend(expr.to_token_stream());
                    self.unit(
                        cx,
                        here,
                        scope,
                        ident.to_string(),
                        UnitKind::Static,
                        is_test(attrs),
                        tokens,
                        &BTreeMap::new(),
                    );
                }
                Item::Macro(m) => {
                    let test = is_test(&m.attrs);
                    if m.mac.path.is_ident("include") {
                        if scope.test || test {
                            continue;
                        }
                        match include_path(&m.mac.tokens, &here.dir, &cx.crate_dir) {
                            Some(path) if depth < MAX_DEPTH => {
                                let child = scope.child_dir.clone();
                                let module = scope.module.clone();
                                let before = scope.qualifiers.len();
                                self.walk_included(cx, &path, module, &child, scope, depth + 1);
                                scope.qualifiers.truncate(before);
                            }
                            _ => self.problems.push(Problem::Include {
                                file: here.rel.clone(),
                                what: m.mac.tokens.to_string(),
                            }),
                        }
                    } else if let Some(ident) = &m.ident {
                        self.unit(
                            cx,
                            here,
                            scope,
                            format!("{ident}!"),
                            UnitKind::Macro,
                            test,
                            m.mac.tokens.clone(),
                            &BTreeMap::new(),
                        );
                    } else {
                        self.unit(
                            cx,
                            here,
                            scope,
                            format!("{}!{{}}", path_text(&m.mac.path)),
                            UnitKind::Invocation,
                            test,
                            m.mac.tokens.clone(),
                            &BTreeMap::new(),
                        );
                    }
                }
                Item::Mod(m) => {
                    let test = scope.test || is_test(&m.attrs);
                    let name = m.ident.to_string();
                    let mut module = scope.module.clone();
                    module.push(name.clone());
                    let path_attr = path_attr(&m.attrs);
                    if let Some((_, items)) = &m.content {
                        let child_dir = match &path_attr {
                            Some(p) => scope.child_dir.join(p),
                            None => scope.child_dir.join(&name),
                        };
                        let mut inner = Scope {
                            module,
                            qualifiers: {
                                let mut q = scope.qualifiers.clone();
                                q.push(name);
                                q
                            },
                            type_qualifier: None,
                            child_dir,
                            test,
                        };
                        self.walk_items(cx, here, items, &mut inner, depth);
                    } else {
                        if test {
                            // Compiled only for tests: not product code.
                            continue;
                        }
                        let (file, child_dir) = match &path_attr {
                            Some(p) => {
                                let file = if scope.qualifiers.is_empty() {
                                    here.dir.join(p)
                                } else {
                                    scope.child_dir.join(p)
                                };
                                let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
                                (file, dir)
                            }
                            None => {
                                let flat = scope.child_dir.join(format!("{name}.rs"));
                                if flat.is_file() {
                                    (flat, scope.child_dir.join(&name))
                                } else {
                                    let nested = scope.child_dir.join(&name).join("mod.rs");
                                    (nested, scope.child_dir.join(&name))
                                }
                            }
                        };
                        if depth < MAX_DEPTH {
                            self.walk_file(cx, &file, module, &child_dir, false, depth + 1);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn walk_included(
        &mut self,
        cx: &FileCx,
        path: &Path,
        module: Vec<String>,
        child_dir: &Path,
        scope: &Scope,
        depth: usize,
    ) {
        let rel = Self::relative(cx, path);
        let Ok(text) = fs::read_to_string(path) else {
            self.problems.push(Problem::Include {
                file: rel,
                what: "the file cannot be read".to_owned(),
            });
            return;
        };
        match syn::parse_file(&text) {
            Ok(parsed) => {
                let here = FileHere {
                    rel,
                    dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                };
                let mut inner = Scope {
                    module,
                    qualifiers: scope.qualifiers.clone(),
                    type_qualifier: None,
                    child_dir: child_dir.to_owned(),
                    test: scope.test,
                };
                self.walk_items(cx, &here, &parsed.items, &mut inner, depth);
            }
            Err(error) => self.problems.push(Problem::Unparsable {
                file: rel,
                error: error.to_string(),
            }),
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call shape for every item kind"
    )]
    fn unit(
        &mut self,
        cx: &FileCx,
        here: &FileHere,
        scope: &mut Scope,
        name: String,
        kind: UnitKind,
        test: bool,
        tokens: TokenStream,
        local: &BTreeMap<String, Vec<String>>,
    ) {
        let mut toks = Vec::new();
        flatten(tokens, &mut toks);
        let mut toks = self.expand_includes(cx, here, toks, 0);
        toks.shrink_to_fit();
        let mut reads = Vec::new();
        let mut refs = Vec::new();
        describe(&toks, &mut reads, &mut refs);
        let text = toks.iter().map(Tok::text).collect::<Vec<_>>().join(" ");
        let mut qualified = scope.qualifiers.clone();
        qualified.push(name.clone());
        let mut path = scope.module.clone();
        path.extend(scope.type_qualifier.iter().cloned());
        path.push(name);
        // Resolve `use` aliases of the body and the module now; the module
        // tree resolves the rest once it is complete.
        let refs = refs
            .into_iter()
            .map(|segs: Vec<String>| {
                let written = if let Some(alias) = segs.first().and_then(|f| local.get(f)) {
                    alias.iter().chain(&segs[1..]).cloned().collect()
                } else if let Some(glob) = libc_glob(&segs, local) {
                    glob
                } else {
                    segs
                };
                let shown = written.join("::");
                (written, shown)
            })
            .collect();
        self.pending_scope
            .push((scope.module.clone(), scope.type_qualifier.clone()));
        self.units.push(Unit {
            krate: cx.krate.clone(),
            file: here.rel.clone(),
            qualified,
            path,
            kind,
            test: scope.test || test,
            primitives: Vec::new(),
            reads,
            refs,
            text,
        });
    }

    /// Replaces `include!(…)` in a body by the tokens of the file it names.
    fn expand_includes(
        &mut self,
        cx: &FileCx,
        here: &FileHere,
        toks: Vec<Tok>,
        depth: usize,
    ) -> Vec<Tok> {
        let mut out = Vec::with_capacity(toks.len());
        let mut i = 0;
        while i < toks.len() {
            if matches!(&toks[i], Tok::Ident(n) if n == "include")
                && matches!(toks.get(i + 1), Some(Tok::Punct('!', _)))
                && matches!(toks.get(i + 2), Some(Tok::Open(_)))
            {
                let end = matching_close(&toks, i + 2);
                let inner = &toks[i + 3..end];
                match eval_str(inner, &cx.crate_dir)
                    .map(|p| here.dir.join(p))
                    .filter(|_| depth < MAX_DEPTH)
                {
                    Some(path) => match fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| TokenStream::from_str(&t).ok())
                    {
                        Some(stream) => {
                            let mut inc = Vec::new();
                            flatten(stream, &mut inc);
                            let sub = FileHere {
                                rel: Self::relative(cx, &path),
                                dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                            };
                            out.push(Tok::Open(Delimiter::Brace));
                            out.extend(self.expand_includes(cx, &sub, inc, depth + 1));
                            out.push(Tok::Close);
                        }
                        None => self.problems.push(Problem::Include {
                            file: here.rel.clone(),
                            what: format!("{} cannot be read", Self::relative(cx, &path)),
                        }),
                    },
                    None => self.problems.push(Problem::Include {
                        file: here.rel.clone(),
                        what: inner.iter().map(Tok::text).collect::<Vec<_>>().join(" "),
                    }),
                }
                i = end + 1;
                continue;
            }
            out.push(toks[i].clone());
            i += 1;
        }
        out
    }

    /// Resolves every unit's refs against the complete module tree.
    fn index(&mut self) {
        for (i, unit) in self.units.iter().enumerate() {
            self.by_path.entry(unit.path.clone()).or_default().push(i);
        }
        let scopes = std::mem::take(&mut self.pending_scope);
        let mut resolved_refs = Vec::with_capacity(self.units.len());
        for (unit, (module, ty)) in self.units.iter().zip(&scopes) {
            let refs: Vec<(Vec<String>, String)> = unit
                .refs
                .iter()
                .map(|(segs, shown)| {
                    // Shown as written, a `use` alias of the module expanded.
                    let globbed = self.aliases.get(module).and_then(|a| libc_glob(segs, a));
                    let shown = match segs
                        .first()
                        .and_then(|f| self.aliases.get(module).and_then(|a| a.get(f)))
                    {
                        _ if globbed.is_some() => globbed.unwrap_or_default().join("::"),
                        Some(target) => target
                            .iter()
                            .chain(&segs[1..])
                            .cloned()
                            .collect::<Vec<_>>()
                            .join("::"),
                        None => shown.clone(),
                    };
                    (self.absolute(segs, module, ty.as_deref(), 0), shown)
                })
                .collect();
            resolved_refs.push(refs);
        }
        for (unit, refs) in self.units.iter_mut().zip(resolved_refs) {
            for (path, shown) in &refs {
                // A primitive is matched on the path as written (aliases
                // expanded) and as resolved: a `type` alias of `Command`
                // is seen either way.
                let written: Vec<String> = shown.split("::").map(str::to_owned).collect();
                if let Some(p) = primitive(path).or_else(|| primitive(&written)) {
                    push_once(&mut unit.primitives, p);
                }
                if let Some(last) = path.last()
                    && (last == "AgentConfig" || last == "agent_cmd")
                {
                    push_once(&mut unit.reads, last.clone());
                }
            }
            unit.refs = refs;
        }
    }

    /// The absolute path `segs` names from `module`.
    fn absolute(
        &self,
        segs: &[String],
        module: &[String],
        ty: Option<&str>,
        depth: usize,
    ) -> Vec<String> {
        let Some(first) = segs.first() else {
            return Vec::new();
        };
        if depth > MAX_DEPTH {
            return segs.to_vec();
        }
        let krate = module.first().cloned().unwrap_or_default();
        match first.as_str() {
            "crate" => std::iter::once(krate)
                .chain(segs[1..].iter().cloned())
                .collect(),
            "self" => module.iter().chain(&segs[1..]).cloned().collect(),
            "super" => {
                let parent = &module[..module.len().saturating_sub(1).max(1)];
                if segs.len() == 1 {
                    return parent.to_vec();
                }
                let mut rest = vec!["self".to_owned()];
                rest.extend(segs[1..].iter().cloned());
                self.absolute(&rest, parent, None, depth + 1)
            }
            "Self" => {
                let mut out = module.to_vec();
                out.extend(ty.map(str::to_owned));
                out.extend(segs[1..].iter().cloned());
                out
            }
            _ => {
                // A name of this module: an alias, a child module, an item.
                if let Some(target) = self.aliases.get(module).and_then(|a| a.get(first)) {
                    let mut full = self.absolute(target, module, None, depth + 1);
                    full.extend(segs[1..].iter().cloned());
                    return full;
                }
                let local: Vec<String> = module.iter().chain(segs).cloned().collect();
                if self.modules.contains(
                    &module
                        .iter()
                        .chain(std::iter::once(first))
                        .cloned()
                        .collect::<Vec<_>>(),
                ) || self.by_path.contains_key(&local)
                    || self.by_path.contains_key(
                        &module
                            .iter()
                            .chain(std::iter::once(first))
                            .cloned()
                            .collect::<Vec<_>>(),
                    )
                {
                    return local;
                }
                segs.to_vec()
            }
        }
    }

    /// The units an absolute path names, through `pub use` re-exports.
    pub(crate) fn resolve(&self, path: &[String]) -> Vec<usize> {
        self.resolve_at(path, 0)
    }

    fn resolve_at(&self, path: &[String], depth: usize) -> Vec<usize> {
        if let Some(found) = self.by_path.get(path) {
            return found.clone();
        }
        if depth > MAX_DEPTH || path.is_empty() {
            return Vec::new();
        }
        if let Some(last) = path.last()
            && last.ends_with('!')
        {
            // Macros are found by name, in their crate first.
            let krate = path.first();
            let mut found: Vec<usize> = self
                .units
                .iter()
                .enumerate()
                .filter(|(_, u)| u.kind == UnitKind::Macro && u.path.last() == Some(last))
                .map(|(i, _)| i)
                .collect();
            if found.iter().any(|&i| Some(&self.units[i].krate) == krate) {
                found.retain(|&i| Some(&self.units[i].krate) == krate);
            }
            return found;
        }
        // A re-export: the longest module prefix with an alias for the next
        // segment.
        for cut in (1..path.len()).rev() {
            let module = &path[..cut];
            if let Some(target) = self.aliases.get(module).and_then(|a| a.get(&path[cut])) {
                let mut full = self.absolute(target, module, None, depth + 1);
                full.extend(path[cut + 1..].iter().cloned());
                if full != path {
                    return self.resolve_at(&full, depth + 1);
                }
            }
        }
        Vec::new()
    }
}

struct FileCx {
    root: PathBuf,
    krate: String,
    crate_dir: PathBuf,
}

struct FileHere {
    rel: String,
    dir: PathBuf,
}

struct Scope {
    module: Vec<String>,
    qualifiers: Vec<String>,
    type_qualifier: Option<String>,
    child_dir: PathBuf,
    test: bool,
}

impl Scope {
    fn nested_type(&self, owner: &str, test: bool) -> Scope {
        let mut qualifiers = self.qualifiers.clone();
        qualifiers.push(owner.to_owned());
        Scope {
            module: self.module.clone(),
            qualifiers,
            type_qualifier: Some(owner.to_owned()),
            child_dir: self.child_dir.clone(),
            test: self.test || test,
        }
    }
}

/// `libc::system` for a bare `system` under `use libc::*` (or `nix`): the
/// names that start a process only from those crates.
fn libc_glob(segs: &[String], aliases: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    let [name] = segs else { return None };
    if !LIBC_ONLY.contains(&name.as_str()) {
        return None;
    }
    aliases
        .iter()
        .find(|(key, target)| {
            key.starts_with('*') && target.iter().any(|s| s == "libc" || s == "nix")
        })
        .map(|(_, target)| {
            target
                .iter()
                .chain(std::iter::once(name))
                .cloned()
                .collect()
        })
}

/// A direct process start, when `path` is one.
fn primitive(path: &[String]) -> Option<String> {
    let last = path.last()?;
    let n = path.len();
    if n >= 2
        && last == "new"
        && path[n - 2] == "Command"
        && !path
            .first()
            .is_some_and(|f| NOT_PROCESSES.contains(&f.as_str()))
    {
        return Some("Command::new".to_owned());
    }
    let from_libc = path.iter().any(|s| s == "libc" || s == "nix");
    if EXEC_FAMILY.contains(&last.as_str()) || (from_libc && LIBC_ONLY.contains(&last.as_str())) {
        let shown: Vec<&str> = path
            .iter()
            .map(String::as_str)
            .skip_while(|s| !matches!(*s, "libc" | "nix"))
            .collect();
        return Some(if shown.is_empty() {
            last.clone()
        } else {
            shown.join("::")
        });
    }
    None
}

fn push_once(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// `#[test]`, or `#[cfg(test)]` exactly (`cfg(all(test, …))` is scanned,
/// on the safe side).
fn is_test(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let path = attr.path();
        if path.is_ident("test") {
            return true;
        }
        path.is_ident("cfg")
            && attr
                .parse_args::<syn::Ident>()
                .is_ok_and(|ident| ident == "test")
    })
}

/// `#[path = "…"]`.
fn path_attr(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find_map(|attr| {
        if !attr.path().is_ident("path") {
            return None;
        }
        let syn::Meta::NameValue(nv) = &attr.meta else {
            return None;
        };
        let syn::Expr::Lit(lit) = &nv.value else {
            return None;
        };
        let syn::Lit::Str(text) = &lit.lit else {
            return None;
        };
        Some(text.value())
    })
}

/// The last segment of an impl's self type, or its tokens.
fn type_name(ty: &Type) -> String {
    if let Type::Path(path) = ty
        && let Some(last) = path.path.segments.last()
    {
        return last.ident.to_string();
    }
    ty.to_token_stream().to_string()
}

fn path_text(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// The `use` statements at the top of a body: name → path.
fn local_uses(stmts: &[Stmt]) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for stmt in stmts {
        if let Stmt::Item(Item::Use(u)) = stmt {
            use_tree(&u.tree, &mut Vec::new(), &mut out);
        }
    }
    out
}

fn use_tree(tree: &UseTree, prefix: &mut Vec<String>, out: &mut BTreeMap<String, Vec<String>>) {
    match tree {
        UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_tree(&p.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                if let Some(last) = prefix.last() {
                    out.insert(last.clone(), prefix.clone());
                }
            } else {
                let mut full = prefix.clone();
                full.push(name.clone());
                out.insert(name, full);
            }
        }
        UseTree::Rename(r) => {
            let mut full = prefix.clone();
            let original = r.ident.to_string();
            if original != "self" {
                full.push(original);
            }
            out.insert(r.rename.to_string(), full);
        }
        UseTree::Group(g) => {
            for inner in &g.items {
                use_tree(inner, prefix, out);
            }
        }
        // A glob names nothing by itself; it is kept under a key no
        // identifier can be (`*libc`), so that a bare `system(..)` under
        // `use libc::*` is still seen as `libc::system`.
        UseTree::Glob(_) => {
            out.insert(format!("*{}", prefix.join("::")), prefix.clone());
        }
    }
}

/// The file an item-level `include!` names.
fn include_path(tokens: &TokenStream, dir: &Path, crate_dir: &Path) -> Option<PathBuf> {
    let mut toks = Vec::new();
    flatten(tokens.clone(), &mut toks);
    eval_str(&toks, crate_dir).map(|p| dir.join(p))
}

/// A string literal, or `concat!` of string literals and
/// `env!("CARGO_MANIFEST_DIR")`; `None` for anything else (`env!("OUT_DIR")`:
/// generated code this check cannot see).
fn eval_str(toks: &[Tok], crate_dir: &Path) -> Option<String> {
    let mut out = String::new();
    let mut i = 0;
    let mut parts = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Lit(text) => {
                out.push_str(&unquote(text)?);
                parts += 1;
                i += 1;
            }
            Tok::Punct(',', _) => i += 1,
            Tok::Ident(name)
                if matches!(toks.get(i + 1), Some(Tok::Punct('!', _)))
                    && matches!(toks.get(i + 2), Some(Tok::Open(_))) =>
            {
                let end = matching_close(toks, i + 2);
                let inner = &toks[i + 3..end];
                match name.as_str() {
                    "concat" => out.push_str(&eval_str(inner, crate_dir)?),
                    "env" => match inner {
                        [Tok::Lit(key)] if unquote(key)? == "CARGO_MANIFEST_DIR" => {
                            out.push_str(&crate_dir.to_string_lossy());
                        }
                        _ => return None,
                    },
                    _ => return None,
                }
                parts += 1;
                i = end + 1;
            }
            _ => return None,
        }
    }
    (parts > 0).then_some(out)
}

/// The text of a plain string literal.
fn unquote(lit: &str) -> Option<String> {
    let inner = lit.strip_prefix('"')?.strip_suffix('"')?;
    Some(inner.replace("\\\"", "\"").replace("\\\\", "\\"))
}

/// A token, flattened: groups become their delimiters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident(String),
    Punct(char, bool),
    Lit(String),
    Open(Delimiter),
    Close,
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Ident(s) | Tok::Lit(s) => s.clone(),
            Tok::Punct(c, _) => c.to_string(),
            Tok::Open(Delimiter::Parenthesis) => "(".to_owned(),
            Tok::Open(Delimiter::Brace) => "{".to_owned(),
            Tok::Open(Delimiter::Bracket) => "[".to_owned(),
            Tok::Open(Delimiter::None) => String::new(),
            Tok::Close => ")".to_owned(),
        }
    }
}

fn flatten(stream: TokenStream, out: &mut Vec<Tok>) {
    for tree in stream {
        match tree {
            TokenTree::Group(group) => {
                out.push(Tok::Open(group.delimiter()));
                flatten(group.stream(), out);
                out.push(Tok::Close);
            }
            TokenTree::Ident(ident) => out.push(Tok::Ident(ident.to_string())),
            TokenTree::Punct(punct) => out.push(Tok::Punct(
                punct.as_char(),
                punct.spacing() == Spacing::Joint,
            )),
            TokenTree::Literal(literal) => out.push(Tok::Lit(literal.to_string())),
        }
    }
}

/// The index of the `Close` that ends the group opened at `open`.
fn matching_close(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Open(_) => depth += 1,
            Tok::Close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    toks.len().saturating_sub(1)
}

fn is_path_sep(toks: &[Tok], at: usize) -> bool {
    matches!(toks.get(at), Some(Tok::Punct(':', true)))
        && matches!(toks.get(at + 1), Some(Tok::Punct(':', _)))
}

/// What a unit's tokens read of the agent command, and the paths they name
/// (primitives are recognised on those paths once aliases are resolved).
fn describe(toks: &[Tok], reads: &mut Vec<String>, refs: &mut Vec<Vec<String>>) {
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Lit(text) if text.contains(AGENT_CMD_ENV) => {
                push_once(reads, format!("the string {AGENT_CMD_ENV}"));
            }
            Tok::Ident(name)
                if name == "concat"
                    && matches!(toks.get(i + 1), Some(Tok::Punct('!', _)))
                    && matches!(toks.get(i + 2), Some(Tok::Open(_))) =>
            {
                let end = matching_close(toks, i + 2);
                let joined: String = toks[i + 3..end]
                    .iter()
                    .filter_map(|t| match t {
                        Tok::Lit(l) => unquote(l),
                        _ => None,
                    })
                    .collect();
                if joined.contains(AGENT_CMD_ENV) {
                    push_once(reads, format!("concat! → {AGENT_CMD_ENV}"));
                }
            }
            _ => {}
        }
        if matches!(&toks[i], Tok::Ident(a) if a == "agent")
            && matches!(toks.get(i + 1), Some(Tok::Punct('.', _)))
            && matches!(toks.get(i + 2), Some(Tok::Ident(c)) if c == "command")
        {
            push_once(reads, "agent.command".to_owned());
        }
        let after_dot = i > 0 && matches!(toks[i - 1], Tok::Punct('.', _));
        if after_dot && matches!(&toks[i], Tok::Ident(f) if f == "agent_cmd") {
            push_once(reads, "agent_cmd".to_owned());
        }
        // `<Type>::item` / `<Type as Trait>::item`: a path starting at Type.
        let mut segments = Vec::new();
        let mut j = i;
        if matches!(toks[i], Tok::Punct('<', _))
            && !(i > 0 && matches!(toks[i - 1], Tok::Ident(_) | Tok::Lit(_) | Tok::Close))
            && !(i >= 2 && is_path_sep(toks, i - 2))
        {
            let mut k = i + 1;
            let mut inner = Vec::new();
            while let Some(Tok::Ident(seg)) = toks.get(k) {
                inner.push(seg.clone());
                if is_path_sep(toks, k + 1) {
                    k += 3;
                } else {
                    k += 1;
                    break;
                }
            }
            // Skip `as Trait` and generic arguments up to the closing `>`.
            let mut depth = 1usize;
            while k < toks.len() && depth > 0 {
                match toks[k] {
                    Tok::Punct('<', _) => depth += 1,
                    Tok::Punct('>', _) => depth -= 1,
                    _ => {}
                }
                k += 1;
            }
            if !inner.is_empty() && is_path_sep(toks, k) {
                segments = inner;
                j = k + 2;
            } else {
                i += 1;
                continue;
            }
        } else if !matches!(toks[i], Tok::Ident(_)) {
            i += 1;
            continue;
        }
        let continuation = segments.is_empty()
            && i >= 3
            && is_path_sep(toks, i - 2)
            && matches!(toks[i - 3], Tok::Ident(_));
        while let Some(Tok::Ident(segment)) = toks.get(j) {
            segments.push(segment.clone());
            if is_path_sep(toks, j + 1) && matches!(toks.get(j + 3), Some(Tok::Ident(_))) {
                j += 3;
            } else if is_path_sep(toks, j + 1)
                && matches!(toks.get(j + 3), Some(Tok::Punct('<', _)))
            {
                // A turbofish: skip the generic arguments.
                let mut k = j + 4;
                let mut depth = 1usize;
                while k < toks.len() && depth > 0 {
                    match toks[k] {
                        Tok::Punct('<', _) => depth += 1,
                        Tok::Punct('>', _) => depth -= 1,
                        _ => {}
                    }
                    k += 1;
                }
                if is_path_sep(toks, k) && matches!(toks.get(k + 2), Some(Tok::Ident(_))) {
                    j = k + 2;
                } else {
                    j = k.saturating_sub(1);
                    break;
                }
            } else {
                break;
            }
        }
        let next = j + 1;
        let after_fn = i > 0 && matches!(&toks[i - 1], Tok::Ident(k) if k == "fn");
        if !after_dot && !continuation && !after_fn && !segments.is_empty() {
            if matches!(toks.get(next), Some(Tok::Punct('!', _)))
                && let Some(last) = segments.last_mut()
            {
                last.push('!');
            }
            refs.push(segments);
        }
        i = next.max(i + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(files: &[(&str, &str)]) -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        let ws = Workspace::load(dir.path(), &[]);
        (dir, ws)
    }

    const MANIFESTS: [(&str, &str); 3] = [
        ("Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\n"),
        ("crates/a/Cargo.toml", "[package]\nname = \"orch-a\"\n"),
        (
            "crates/b/Cargo.toml",
            "[package]\nname = \"orch-b\"\n[dependencies]\norch-a = { path = \"../a\" }\n",
        ),
    ];

    fn unit<'a>(ws: &'a Workspace, location: &str) -> &'a Unit {
        ws.units
            .iter()
            .find(|u| u.location() == location)
            .unwrap_or_else(|| {
                panic!(
                    "no {location}: {:?}",
                    ws.units.iter().map(Unit::location).collect::<Vec<_>>()
                )
            })
    }

    #[test]
    fn paths_resolve_through_modules_reexports_super_and_self() {
        let mut files = MANIFESTS.to_vec();
        files.extend([
            ("crates/a/src/lib.rs", "mod inner;\npub use inner::deep as exported;\n"),
            (
                "crates/a/src/inner.rs",
                "pub mod deep { pub fn go() { super::helper(); } }\nfn helper() { self::leaf(); }\nfn leaf() {}\n",
            ),
            (
                "crates/b/src/lib.rs",
                "use orch_a::exported::go as run;\npub fn caller() { run(); }\n",
            ),
        ]);
        let (_dir, ws) = workspace(&files);
        assert!(ws.problems.is_empty(), "{:?}", ws.problems);
        let caller = unit(&ws, "crates/b/src/lib.rs::caller");
        let targets: Vec<String> = caller
            .refs
            .iter()
            .flat_map(|(p, _)| ws.resolve(p))
            .map(|i| ws.units[i].location())
            .collect();
        assert_eq!(targets, ["crates/a/src/inner.rs::deep::go"]);
        let go = unit(&ws, "crates/a/src/inner.rs::deep::go");
        let targets: Vec<String> = go
            .refs
            .iter()
            .flat_map(|(p, _)| ws.resolve(p))
            .map(|i| ws.units[i].location())
            .collect();
        assert_eq!(targets, ["crates/a/src/inner.rs::helper"]);
    }

    #[test]
    fn an_include_in_a_body_is_read_and_test_modules_are_not_followed() {
        let mut files = MANIFESTS.to_vec();
        files.extend([
            (
                "crates/a/src/lib.rs",
                "pub fn f() { include!(\"body.rs\") }\n#[cfg(test)]\nmod tests;\n",
            ),
            (
                "crates/a/src/body.rs",
                "{ std::process::Command::new(\"sh\") }",
            ),
        ]);
        let (_dir, ws) = workspace(&files);
        // `mod tests;` has no file, but it is test code: not followed.
        assert!(ws.problems.is_empty(), "{:?}", ws.problems);
        assert_eq!(
            unit(&ws, "crates/a/src/lib.rs::f").primitives,
            ["Command::new"]
        );
    }

    #[test]
    fn primitives_are_recognised_and_lookalikes_are_not() {
        let p = |s: &str| primitive(&s.split("::").map(str::to_owned).collect::<Vec<_>>());
        assert_eq!(
            p("std::process::Command::new").as_deref(),
            Some("Command::new")
        );
        assert_eq!(p("clap::Command::new"), None);
        assert_eq!(p("libc::system").as_deref(), Some("libc::system"));
        assert_eq!(p("system"), None);
        assert_eq!(p("Arc::clone"), None);
        assert_eq!(p("libc::syscall"), None);
        assert_eq!(
            p("nix::unistd::execvpe").as_deref(),
            Some("nix::unistd::execvpe")
        );
        assert_eq!(p("vfork").as_deref(), Some("vfork"));
    }

    #[test]
    fn include_paths_are_computed_from_literals_and_the_manifest_dir() {
        let mut toks = Vec::new();
        flatten(
            TokenStream::from_str("concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/x.rs\")").unwrap(),
            &mut toks,
        );
        assert_eq!(
            eval_str(&toks, Path::new("/crate")).as_deref(),
            Some("/crate/x.rs")
        );
        let mut toks = Vec::new();
        flatten(
            TokenStream::from_str("concat!(env!(\"OUT_DIR\"), \"/x.rs\")").unwrap(),
            &mut toks,
        );
        assert_eq!(eval_str(&toks, Path::new("/crate")), None);
    }
}
