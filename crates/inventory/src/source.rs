//! Reading Rust sources for the drift checks, with a real parser.
//!
//! Why `syn` rather than a text search: both checks that read code need to
//! know *which function* a piece of text belongs to, and only code counts.
//! A text search for `fn spawn` would be fooled by a comment, a string or a
//! `#[cfg(test)]` helper of the same name, and it cannot tell where one
//! function's body ends. `syn` parses the file as the compiler does: comments
//! are gone, every `fn` — free, in an `impl` or a trait, in an inline module —
//! comes with its qualifiers, and its body is a token tree whose groups nest.
//! A file that `syn` cannot parse is reported, never skipped silently.
//!
//! For each function this module records, from the tokens of its signature
//! and body (macro arguments included, since they are tokens too):
//!
//! - **starts**: the paths it calls that start a process — `Command::new`,
//!   `exec::start`, `exec::run`, `ExecSpec::new`, `RunSpec::new`,
//!   `start_to_log`, `run_to_log`, `orch_staging_runner::run`,
//!   `runner::start`, `posix_spawn`, `posix_spawnp`, `spawn_supervisor`,
//!   `spawn_child`, `fork`, `execv`, `execvp`, `execve` — matched on the
//!   path's last segments after `use` aliases of the file are expanded (so
//!   `use exec::start as go; go(..)` counts), never after a `.` (a method),
//!   and not for `clap::Command::new`, which builds an argument parser;
//! - **reads**: whether it touches the agent-command setting — the field
//!   access `agent.command`, the type `AgentConfig` (also through an alias),
//!   the binary's `agent_cmd` field, or a string literal containing
//!   `ORCH_AGENT_CMD`;
//! - **calls**: the one-segment free-function calls it makes, so that a
//!   helper in the same file that starts a process makes its callers
//!   starters too (transitively).

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use quote::ToTokens;
use syn::{Attribute, ImplItem, Item, Stmt, TraitItem, Type, UseTree};

/// What the scanner learnt about one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FnInfo {
    /// Inline modules, then the impl's self type or the trait, then the
    /// function's name: `["StagingRunner", "run"]`.
    pub(crate) qualified: Vec<String>,
    /// Test code: `#[test]`, or inside a `#[cfg(test)]` module or impl.
    pub(crate) test: bool,
    /// A free function (not in an impl or a trait).
    pub(crate) free: bool,
    /// Evidence that it starts a process, e.g. `exec::start`.
    pub(crate) starts: Vec<String>,
    /// Evidence that it reads the agent-command setting, e.g. `agent.command`.
    pub(crate) reads: Vec<String>,
    /// One-segment free-function calls, e.g. `run_command`.
    pub(crate) calls: BTreeSet<String>,
}

impl FnInfo {
    /// `StagingRunner::run`.
    pub(crate) fn name(&self) -> String {
        self.qualified.join("::")
    }
}

/// Paths that start a process, as suffixes of a call's path.
const STARTS: &[&[&str]] = &[
    &["Command", "new"],
    &["exec", "start"],
    &["exec", "run"],
    &["ExecSpec", "new"],
    &["RunSpec", "new"],
    &["start_to_log"],
    &["run_to_log"],
    &["orch_staging_runner", "run"],
    &["runner", "start"],
    &["posix_spawn"],
    &["posix_spawnp"],
    &["spawn_supervisor"],
    &["spawn_child"],
    &["fork"],
    &["execv"],
    &["execvp"],
    &["execve"],
];

/// Crates whose `Command::new` builds something other than a process (a
/// command-line parser), excluded when the path names them.
const NOT_PROCESSES: &[&str] = &["clap"];

/// The environment key the binary reads the agent command from.
const AGENT_CMD_ENV: &str = "ORCH_AGENT_CMD";

/// Parses a file and describes every function in it, with same-file
/// propagation of *starts* through free-function calls already applied.
pub(crate) fn functions(source: &str) -> Result<Vec<FnInfo>, syn::Error> {
    let file = syn::parse_file(source)?;
    let mut aliases = BTreeMap::new();
    collect_aliases(&file.items, &mut aliases);
    let mut out = Vec::new();
    let ctx = Ctx {
        qualifiers: Vec::new(),
        test: false,
        aliases: &aliases,
    };
    walk_items(&file.items, &ctx, &mut out);
    propagate(&mut out);
    Ok(out)
}

struct Ctx<'a> {
    qualifiers: Vec<String>,
    test: bool,
    aliases: &'a BTreeMap<String, Vec<String>>,
}

impl Ctx<'_> {
    fn nested(&self, qualifier: String, test: bool) -> Ctx<'_> {
        let mut qualifiers = self.qualifiers.clone();
        qualifiers.push(qualifier);
        Ctx {
            qualifiers,
            test: self.test || test,
            aliases: self.aliases,
        }
    }
}

fn walk_items(items: &[Item], ctx: &Ctx<'_>, out: &mut Vec<FnInfo>) {
    for item in items {
        if let Item::Fn(f) = item {
            let mut tokens = f.sig.to_token_stream();
            tokens.extend(f.block.to_token_stream());
            out.push(describe(
                ctx,
                f.sig.ident.to_string(),
                is_test(&f.attrs),
                true,
                tokens,
                &local_aliases(&f.block.stmts, ctx.aliases),
            ));
        } else if let Item::Impl(imp) = item {
            let owner = type_name(&imp.self_ty);
            let inner = ctx.nested(owner, is_test(&imp.attrs));
            for member in &imp.items {
                if let ImplItem::Fn(f) = member {
                    let mut tokens = f.sig.to_token_stream();
                    tokens.extend(f.block.to_token_stream());
                    out.push(describe(
                        &inner,
                        f.sig.ident.to_string(),
                        is_test(&f.attrs),
                        false,
                        tokens,
                        &local_aliases(&f.block.stmts, ctx.aliases),
                    ));
                }
            }
        } else if let Item::Trait(tr) = item {
            let inner = ctx.nested(tr.ident.to_string(), is_test(&tr.attrs));
            for member in &tr.items {
                if let TraitItem::Fn(f) = member {
                    let Some(block) = &f.default else { continue };
                    let mut tokens = f.sig.to_token_stream();
                    tokens.extend(block.to_token_stream());
                    out.push(describe(
                        &inner,
                        f.sig.ident.to_string(),
                        is_test(&f.attrs),
                        false,
                        tokens,
                        &local_aliases(&block.stmts, ctx.aliases),
                    ));
                }
            }
        } else if let Item::Mod(m) = item
            && let Some((_, items)) = &m.content
        {
            let inner = ctx.nested(m.ident.to_string(), is_test(&m.attrs));
            walk_items(items, &inner, out);
        }
    }
}

/// `#[test]`, or `#[cfg(test)]` exactly (`cfg(all(test, …))` is scanned, on
/// the safe side).
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

/// The last segment of an impl's self type (`StagingRunner` for
/// `impl Intercept for StagingRunner`), or its tokens for anything else.
fn type_name(ty: &Type) -> String {
    if let Type::Path(path) = ty
        && let Some(last) = path.path.segments.last()
    {
        return last.ident.to_string();
    }
    ty.to_token_stream().to_string()
}

/// Every `use` of the file (at any module depth): alias → full path.
fn collect_aliases(items: &[Item], out: &mut BTreeMap<String, Vec<String>>) {
    for item in items {
        if let Item::Use(u) = item {
            use_tree(&u.tree, &mut Vec::new(), out);
        } else if let Item::Mod(m) = item
            && let Some((_, inner)) = &m.content
        {
            collect_aliases(inner, out);
        }
    }
}

/// The file's aliases plus the `use` statements at the top of a body.
fn local_aliases(
    stmts: &[Stmt],
    file: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, Vec<String>> {
    let mut out = file.clone();
    for stmt in stmts {
        if let Stmt::Item(Item::Use(u)) = stmt {
            use_tree(&u.tree, &mut Vec::new(), &mut out);
        }
    }
    out
}

fn use_tree(tree: &UseTree, prefix: &mut Vec<String>, out: &mut BTreeMap<String, Vec<String>>) {
    if let UseTree::Path(p) = tree {
        prefix.push(p.ident.to_string());
        use_tree(&p.tree, prefix, out);
        prefix.pop();
    } else if let UseTree::Name(n) = tree {
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
    } else if let UseTree::Rename(r) = tree {
        let mut full = prefix.clone();
        let original = r.ident.to_string();
        if original != "self" {
            full.push(original);
        }
        out.insert(r.rename.to_string(), full);
    } else if let UseTree::Group(g) = tree {
        for inner in &g.items {
            use_tree(inner, prefix, out);
        }
    }
    // A glob (`use exec::*`) names nothing: a bare `start(..)` through it is
    // not seen (see the crate docs, "Limits").
}

/// A token, flattened: groups become their delimiters.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Punct(char, bool),
    Lit(String),
    Open(Delimiter),
    Close,
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
            TokenTree::Punct(punct) => {
                out.push(Tok::Punct(
                    punct.as_char(),
                    punct.spacing() == Spacing::Joint,
                ));
            }
            TokenTree::Literal(literal) => out.push(Tok::Lit(literal.to_string())),
        }
    }
}

fn is_path_sep(toks: &[Tok], at: usize) -> bool {
    matches!(toks.get(at), Some(Tok::Punct(':', true)))
        && matches!(toks.get(at + 1), Some(Tok::Punct(':', _)))
}

fn describe(
    ctx: &Ctx<'_>,
    name: String,
    test: bool,
    free: bool,
    tokens: TokenStream,
    aliases: &BTreeMap<String, Vec<String>>,
) -> FnInfo {
    let mut toks = Vec::new();
    flatten(tokens, &mut toks);
    let mut starts = Vec::new();
    let mut reads = Vec::new();
    let mut calls = BTreeSet::new();
    let mut i = 0;
    while i < toks.len() {
        if let Tok::Lit(text) = &toks[i]
            && text.contains(AGENT_CMD_ENV)
        {
            push_once(&mut reads, format!("the string {AGENT_CMD_ENV}"));
        }
        if matches!(&toks[i], Tok::Ident(a) if a == "agent")
            && matches!(toks.get(i + 1), Some(Tok::Punct('.', _)))
            && matches!(toks.get(i + 2), Some(Tok::Ident(c)) if c == "command")
        {
            push_once(&mut reads, "agent.command".to_owned());
        }
        let Tok::Ident(_) = &toks[i] else {
            i += 1;
            continue;
        };
        // A path starts here unless a `.` (method, field) or a `::` after an
        // identifier (a continuation) comes before it.
        let after_dot = i > 0 && matches!(toks[i - 1], Tok::Punct('.', _));
        let continuation =
            i >= 3 && is_path_sep(&toks, i - 2) && matches!(toks[i - 3], Tok::Ident(_));
        let mut segments = Vec::new();
        let mut j = i;
        while let Some(Tok::Ident(segment)) = toks.get(j) {
            segments.push(segment.clone());
            if is_path_sep(&toks, j + 1) && matches!(toks.get(j + 3), Some(Tok::Ident(_))) {
                j += 3;
            } else {
                break;
            }
        }
        let next = j + 1;
        if !after_dot && !continuation {
            let expanded = expand(&segments, aliases);
            if let Some(last) = expanded.last()
                && (last == "AgentConfig" || last == "agent_cmd")
            {
                push_once(&mut reads, last.clone());
            }
            let is_call = matches!(toks.get(next), Some(Tok::Open(Delimiter::Parenthesis)));
            let after_fn = i > 0 && matches!(&toks[i - 1], Tok::Ident(k) if k == "fn");
            if is_call && !after_fn {
                let builder = expanded
                    .first()
                    .is_some_and(|f| NOT_PROCESSES.contains(&f.as_str()));
                if let Some(pattern) = STARTS.iter().find(|p| !builder && ends_with(&expanded, p)) {
                    push_once(&mut starts, pattern.join("::"));
                }
                if let [single] = segments.as_slice() {
                    calls.insert(single.clone());
                }
            }
        } else if after_dot
            && let Some(first) = segments.first()
            && first == "agent_cmd"
        {
            push_once(&mut reads, first.clone());
        }
        i = next;
    }
    let mut qualified = ctx.qualifiers.clone();
    qualified.push(name);
    FnInfo {
        qualified,
        test: ctx.test || test,
        free,
        starts,
        reads,
        calls,
    }
}

fn push_once(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// Drops `crate`/`self`/`super`, then replaces the first segment by what a
/// `use` of the file made it stand for.
fn expand(segments: &[String], aliases: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let trimmed: Vec<String> = segments
        .iter()
        .skip_while(|s| matches!(s.as_str(), "crate" | "self" | "super"))
        .cloned()
        .collect();
    let Some((first, rest)) = trimmed.split_first() else {
        return trimmed;
    };
    match aliases.get(first) {
        Some(full) => full.iter().chain(rest).cloned().collect(),
        None => trimmed,
    }
}

fn ends_with(path: &[String], pattern: &[&str]) -> bool {
    path.len() >= pattern.len()
        && path[path.len() - pattern.len()..]
            .iter()
            .zip(pattern)
            .all(|(a, b)| a == b)
}

/// A free function that calls a same-file free function which starts a
/// process starts one too (to a fixpoint).
fn propagate(fns: &mut [FnInfo]) {
    loop {
        let starters: BTreeMap<String, String> = fns
            .iter()
            .filter(|f| f.free && !f.test && !f.starts.is_empty())
            .filter_map(|f| {
                Some((
                    f.qualified.last()?.clone(),
                    f.starts.first().cloned().unwrap_or_default(),
                ))
            })
            .collect();
        let mut changed = false;
        for f in fns.iter_mut() {
            let own = f.qualified.last().cloned().unwrap_or_default();
            for callee in &f.calls {
                if *callee == own {
                    continue;
                }
                if let Some(evidence) = starters.get(callee) {
                    let via = format!("{callee}() → {evidence}");
                    if !f
                        .starts
                        .iter()
                        .any(|s| s.starts_with(&format!("{callee}()")))
                    {
                        f.starts.push(via);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(fns: &'a [FnInfo], name: &str) -> &'a FnInfo {
        fns.iter().find(|f| f.name() == name).unwrap()
    }

    #[test]
    fn functions_carry_their_qualifiers_and_test_flags() {
        let fns = functions(
            "fn free() {}
             impl Intercept for StagingRunner { fn run(&self) {} }
             trait T { fn provided(&self) {} fn required(&self); }
             mod inner { pub fn nested() {} }
             #[cfg(test)] mod tests { #[test] fn a_test() {} fn helper() {} }",
        )
        .unwrap();
        let names: Vec<String> = fns.iter().map(FnInfo::name).collect();
        assert_eq!(
            names,
            [
                "free",
                "StagingRunner::run",
                "T::provided",
                "inner::nested",
                "tests::a_test",
                "tests::helper"
            ]
        );
        assert!(!find(&fns, "free").test);
        assert!(find(&fns, "tests::helper").test);
        assert!(find(&fns, "free").free);
        assert!(!find(&fns, "StagingRunner::run").free);
    }

    #[test]
    fn starts_and_reads_are_seen_through_aliases_and_macros() {
        let fns = functions(
            "use orch_staging_runner::exec::{self, start as go};
             use orch_launcher::AgentConfig as Ac;
             fn direct(config: &LauncherConfig) { exec::start(&spec(config.agent.command.clone())); }
             fn aliased(a: &Ac) { go(&x); }
             fn in_macro() { let v = vec![std::process::Command::new(\"sh\")]; }
             fn env() { std::env::var(\"ORCH_AGENT_CMD\"); }
             fn method(x: X) { x.start(); x.exec.run(); }
             fn field(c: &Config) { let _ = &c.agent_cmd; }
             fn cli(c: &Config) { let _ = clap::Command::new(c.agent_cmd.clone()); }",
        )
        .unwrap();
        assert_eq!(find(&fns, "direct").starts, ["exec::start"]);
        assert_eq!(find(&fns, "direct").reads, ["agent.command"]);
        assert_eq!(find(&fns, "aliased").starts, ["exec::start"]);
        assert_eq!(find(&fns, "aliased").reads, ["AgentConfig"]);
        assert_eq!(find(&fns, "in_macro").starts, ["Command::new"]);
        assert_eq!(find(&fns, "env").reads, ["the string ORCH_AGENT_CMD"]);
        assert!(find(&fns, "method").starts.is_empty());
        assert_eq!(find(&fns, "field").reads, ["agent_cmd"]);
        assert!(find(&fns, "cli").starts.is_empty());
    }

    #[test]
    fn comments_are_not_code() {
        let fns = functions(
            "fn quiet() {
                 // exec::start(&ExecSpec::new(config.agent.command))
                 /* Command::new(\"sh\") */
             }",
        )
        .unwrap();
        let quiet = find(&fns, "quiet");
        assert!(
            quiet.starts.is_empty() && quiet.reads.is_empty(),
            "{quiet:?}"
        );
    }

    #[test]
    fn a_same_file_helper_makes_its_callers_starters() {
        let fns = functions(
            "fn helper(cmd: &str) { exec::start(&spec(cmd)); }
             fn middle(cmd: &str) { helper(cmd) }
             fn caller(config: &LauncherConfig) { middle(&config.agent.command); }",
        )
        .unwrap();
        let caller = find(&fns, "caller");
        assert_eq!(caller.starts, ["middle() → helper() → exec::start"]);
        assert_eq!(caller.reads, ["agent.command"]);
    }
}
