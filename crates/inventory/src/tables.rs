//! The tree's pipeline tables against the ones this crate was built with.
//!
//! The checks compare the inventory with `orch_pipeline` as compiled into
//! this crate. Checking another tree against them is only right when that
//! tree's tables are the same: the four files that hold them (`stage.rs`,
//! `artifact.rs`, `gate.rs`, `transition.rs`) are embedded here at build
//! time and compared item by item with the tree's (tokens, doc comments and
//! tests left out), and any difference is a [`Drift::TablesDiffer`], which
//! the binary turns into a refusal.

#![allow(
    clippy::wildcard_enum_match_arm,
    reason = "syntax and token kinds, not contracts: only a few kinds matter to the scan"
)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use quote::ToTokens;
use syn::{Attribute, ImplItem, Item};

use crate::finding::Drift;

/// The files that hold the pipeline's tables, as this crate was built with
/// them.
const EMBEDDED: [(&str, &str); 4] = [
    (
        "crates/pipeline/src/stage.rs",
        include_str!("../../pipeline/src/stage.rs"),
    ),
    (
        "crates/pipeline/src/artifact.rs",
        include_str!("../../pipeline/src/artifact.rs"),
    ),
    (
        "crates/pipeline/src/gate.rs",
        include_str!("../../pipeline/src/gate.rs"),
    ),
    (
        "crates/pipeline/src/transition.rs",
        include_str!("../../pipeline/src/transition.rs"),
    ),
];

pub(crate) fn check_tables(root: &Path, out: &mut Vec<Drift>) {
    for (file, built) in EMBEDDED {
        let Ok(theirs) = fs::read_to_string(root.join(file)) else {
            out.push(Drift::TablesDiffer {
                file: file.to_owned(),
                items: vec!["the file is missing".to_owned()],
            });
            continue;
        };
        let (Some(ours), Some(theirs)) = (items(built), items(&theirs)) else {
            // An unparsable file is reported by the code scan.
            continue;
        };
        let mut differ: Vec<String> = ours
            .iter()
            .filter(|(name, tokens)| theirs.get(*name) != Some(*tokens))
            .map(|(name, _)| name.clone())
            .collect();
        differ.extend(theirs.keys().filter(|k| !ours.contains_key(*k)).cloned());
        if !differ.is_empty() {
            out.push(Drift::TablesDiffer {
                file: file.to_owned(),
                items: differ,
            });
        }
    }
}

fn is_doc_or_test(attr: &Attribute) -> bool {
    attr.path().is_ident("doc")
}

fn is_test(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("test")
            || (a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test"))
    })
}

/// Each non-test item of a file, by a name (`const ARTIFACTS`,
/// `impl Stage::as_str`), as tokens without doc comments.
fn items(text: &str) -> Option<BTreeMap<String, String>> {
    let file = syn::parse_file(text).ok()?;
    let mut out = BTreeMap::new();
    for item in file.items {
        let mut item = item;
        let (name, attrs): (String, Option<&mut Vec<Attribute>>) = match &mut item {
            Item::Const(c) => (format!("const {}", c.ident), Some(&mut c.attrs)),
            Item::Static(s) => (format!("static {}", s.ident), Some(&mut s.attrs)),
            Item::Enum(e) => {
                for v in &mut e.variants {
                    v.attrs.retain(|a| !is_doc_or_test(a));
                }
                (format!("enum {}", e.ident), Some(&mut e.attrs))
            }
            Item::Struct(s) => {
                for f in &mut s.fields {
                    f.attrs.retain(|a| !is_doc_or_test(a));
                }
                (format!("struct {}", s.ident), Some(&mut s.attrs))
            }
            Item::Fn(f) => (format!("fn {}", f.sig.ident), Some(&mut f.attrs)),
            Item::Impl(imp) => {
                if is_test(&imp.attrs) {
                    continue;
                }
                let owner = imp.self_ty.to_token_stream().to_string();
                let of = imp
                    .trait_
                    .as_ref()
                    .map(|t| format!("{} for ", t.0.to_token_stream()))
                    .unwrap_or_default();
                for member in &mut imp.items {
                    let (n, attrs) = match member {
                        ImplItem::Fn(f) => (f.sig.ident.to_string(), &mut f.attrs),
                        ImplItem::Const(c) => (c.ident.to_string(), &mut c.attrs),
                        _ => continue,
                    };
                    if is_test(attrs) {
                        continue;
                    }
                    attrs.retain(|a| !is_doc_or_test(a));
                    out.insert(
                        format!("impl {of}{owner}::{n}"),
                        member.to_token_stream().to_string(),
                    );
                }
                continue;
            }
            _ => continue,
        };
        let Some(attrs) = attrs else { continue };
        if is_test(attrs) {
            continue;
        }
        attrs.retain(|a| !is_doc_or_test(a));
        out.insert(name, item.to_token_stream().to_string());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_comments_do_not_count_but_values_do() {
        let a = items("/// one\npub const X: u8 = 1;\nimpl S { /// doc\n fn f() {} }").unwrap();
        let b = items("/// two\npub const X: u8 = 1;\nimpl S { fn f() {} }").unwrap();
        let c = items("pub const X: u8 = 2;\nimpl S { fn f() {} }").unwrap();
        assert_eq!(a, b);
        assert_ne!(a.get("const X"), c.get("const X"));
        assert!(a.contains_key("impl S::f"));
    }
}
