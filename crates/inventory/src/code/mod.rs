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

use proc_macro2::{Delimiter, TokenStream};
use quote::ToTokens;
use syn::{ImplItem, Item, TraitItem, Type};

mod manifest;
mod primitives;
mod resolve;
mod syntax;
mod tokens;

use primitives::{libc_glob, primitive, push_once};
use syntax::{is_test, local_uses, path_attr, path_text, type_name, use_tree};
use tokens::{Tok, describe, eval_str, flatten, include_path, matching_close};

/// The environment key the binary reads the agent command from.
const AGENT_CMD_ENV: &str = "ORCH_AGENT_CMD";

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

#[cfg(test)]
mod tests;
