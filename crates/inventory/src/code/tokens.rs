//! Token-level reading of the code: a unit's tokens flattened, the agent
//! command reads and the paths they name picked out, `include!` and
//! `concat!` strings evaluated.

use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

use super::*;

/// The file an item-level `include!` names.
pub(super) fn include_path(tokens: &TokenStream, dir: &Path, crate_dir: &Path) -> Option<PathBuf> {
    let mut toks = Vec::new();
    flatten(tokens.clone(), &mut toks);
    eval_str(&toks, crate_dir).map(|p| dir.join(p))
}

/// A string literal, or `concat!` of string literals and
/// `env!("CARGO_MANIFEST_DIR")`; `None` for anything else (`env!("OUT_DIR")`:
/// generated code this check cannot see).
pub(super) fn eval_str(toks: &[Tok], crate_dir: &Path) -> Option<String> {
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
pub(super) fn unquote(lit: &str) -> Option<String> {
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
    pub(super) fn text(&self) -> String {
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

pub(super) fn flatten(stream: TokenStream, out: &mut Vec<Tok>) {
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
pub(super) fn matching_close(toks: &[Tok], open: usize) -> usize {
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

pub(super) fn is_path_sep(toks: &[Tok], at: usize) -> bool {
    matches!(toks.get(at), Some(Tok::Punct(':', true)))
        && matches!(toks.get(at + 1), Some(Tok::Punct(':', _)))
}

/// What a unit's tokens read of the agent command, and the paths they name
/// (primitives are recognised on those paths once aliases are resolved).
pub(super) fn describe(toks: &[Tok], reads: &mut Vec<String>, refs: &mut Vec<Vec<String>>) {
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
