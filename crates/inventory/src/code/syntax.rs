//! Reading syntax nodes: test attributes, `#[path]`, type and path text,
//! and the `use` aliases a module or a body declares.

use std::collections::BTreeMap;

use quote::ToTokens;
use syn::{Attribute, Item, Stmt, Type, UseTree};

/// `#[test]`, or `#[cfg(test)]` exactly (`cfg(all(test, …))` is scanned,
/// on the safe side).
pub(super) fn is_test(attrs: &[Attribute]) -> bool {
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
pub(super) fn path_attr(attrs: &[Attribute]) -> Option<String> {
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
pub(super) fn type_name(ty: &Type) -> String {
    if let Type::Path(path) = ty
        && let Some(last) = path.path.segments.last()
    {
        return last.ident.to_string();
    }
    ty.to_token_stream().to_string()
}

pub(super) fn path_text(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// The `use` statements at the top of a body: name → path.
pub(super) fn local_uses(stmts: &[Stmt]) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for stmt in stmts {
        if let Stmt::Item(Item::Use(u)) = stmt {
            use_tree(&u.tree, &mut Vec::new(), &mut out);
        }
    }
    out
}

pub(super) fn use_tree(
    tree: &UseTree,
    prefix: &mut Vec<String>,
    out: &mut BTreeMap<String, Vec<String>>,
) {
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
