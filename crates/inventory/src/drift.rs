//! The drift checks: the inventory against the pipeline's tables and the
//! code, and the code against its single-transport rule.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::str::FromStr;

use orch_pipeline::{ARTIFACTS, Role, RoleKind, Stage, gates_for};

use crate::code::{Problem, Workspace};
use crate::finding::{Drift, TRANSPORT_LOCATION};
use crate::inventory::{Classification, Inventory, PathKind};
use crate::scan::{
    check_consumption, check_locations, check_registry, check_test_support, check_transports,
};

/// The LLM roles a suite runner serves, the runner, and whether it has a
/// shadow mode there: one type in the launcher, configured per stage.
const SUITE_RUNNERS: [(Role, Role, bool); 2] = [
    (Role::Deployer, Role::StagingRunner, false),
    (Role::Tester, Role::TestRunner, true),
];

/// The documents the inventory keeps, relative to the root; each must exist.
pub const DOCUMENTS: [&str; 6] = [
    "docs/architecture/llm-call-sites.md",
    "docs/architecture/llm-determinization-roadmap.md",
    "docs/architecture/llm-usage-policy.md",
    "docs/overview/pipeline.md",
    "docs/overview/agents.md",
    "docs/overview/quality-and-security.md",
];

/// Every drift between the inventory in [`crate::INVENTORY_DOC`], the
/// pipeline's tables, the documents and the Rust sources under `root`; empty
/// when they agree. Reads files under `root` only; never fails: what cannot
/// be read is itself a drift.
#[must_use]
pub fn check(root: &Path) -> Vec<Drift> {
    let mut out = Vec::new();
    check_documents(root, &mut out);
    crate::tables::check_tables(root, &mut out);
    let inventory = match Inventory::load(root) {
        Ok(inventory) => Some(inventory),
        Err(error) => {
            out.push(Drift::Inventory(error));
            None
        }
    };
    let test_support = inventory
        .as_ref()
        .map(|i| i.scan.test_support.clone())
        .unwrap_or_default();
    let ws = Workspace::load(root, &test_support);
    problems(&ws, &mut out);
    if let Some(inventory) = &inventory {
        check_call_sites(inventory, &mut out);
        check_deterministic(inventory, &mut out);
        check_locations(root, inventory, &ws, &mut out);
        check_registry(inventory, &ws, &mut out);
        check_consumption(inventory, &mut out);
        if let Ok(text) = fs::read_to_string(root.join(crate::INVENTORY_DOC)) {
            crate::prose::check_prose(&text, inventory, &mut out);
        }
        check_test_support(inventory, &ws, &mut out);
    }
    check_transports(inventory.as_ref(), &ws, &mut out);
    out
}

fn problems(ws: &Workspace, out: &mut Vec<Drift>) {
    for problem in &ws.problems {
        out.push(match problem.clone() {
            Problem::Manifest { file, error } => Drift::BadManifest { file, error },
            Problem::Unparsable { file, error } => Drift::UnparsableSource { file, error },
            Problem::MissingModule { file, module } => Drift::MissingModule { file, module },
            Problem::Include { file, what } => Drift::UnresolvedInclude { file, what },
        });
    }
}

fn check_documents(root: &Path, out: &mut Vec<Drift>) {
    for document in DOCUMENTS {
        let path = root.join(document);
        let Ok(text) = fs::read_to_string(&path) else {
            out.push(Drift::MissingDocument {
                path: document.to_owned(),
            });
            continue;
        };
        let dir = path.parent().unwrap_or(root);
        for target in relative_links(&text) {
            let file = target.split('#').next().unwrap_or_default();
            if !file.is_empty() && !dir.join(file).exists() {
                out.push(Drift::BrokenLink {
                    document: document.to_owned(),
                    target,
                });
            }
        }
    }
}

/// The targets of `[text](target)` links that are neither URLs nor anchors.
fn relative_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].trim();
        if !target.is_empty()
            && !target.contains("://")
            && !target.starts_with('#')
            && !target.starts_with("mailto:")
            && !target.contains(char::is_whitespace)
        {
            out.push(target.to_owned());
        }
        rest = &rest[end..];
    }
    out
}

fn check_call_sites(inventory: &Inventory, out: &mut Vec<Drift>) {
    let mut ids = BTreeSet::new();
    let all_ids = std::iter::once(&inventory.transport.id)
        .chain(inventory.call_sites.iter().map(|s| &s.id))
        .chain(inventory.deterministic.iter().map(|d| &d.id));
    for id in all_ids {
        if !ids.insert(id.as_str()) {
            out.push(Drift::DuplicateId { id: id.clone() });
        }
    }
    let reserved_names: BTreeSet<&str> = inventory
        .deterministic
        .iter()
        .filter(|d| d.kind == PathKind::ReservedAgent)
        .map(|d| d.name.as_str())
        .collect();
    let mut by_role: BTreeMap<Role, Vec<String>> = BTreeMap::new();
    for site in &inventory.call_sites {
        let id = &site.id;
        let role = match Role::from_str(&site.role) {
            Ok(role) => role,
            Err(_) => {
                out.push(Drift::UnknownRole {
                    id: id.clone(),
                    role: site.role.clone(),
                });
                continue;
            }
        };
        if role.kind() == RoleKind::Reserved {
            out.push(Drift::NotAnLlmRole {
                id: id.clone(),
                role,
            });
            continue;
        }
        by_role.entry(role).or_default().push(id.clone());
        let classification = site.classification();
        if classification != Classification::Avoidable
            && site.justification.as_deref().is_none_or(blank)
        {
            out.push(Drift::MissingJustification {
                id: id.clone(),
                classification,
            });
        }
        if site.deterministic_oracle && site.oracle.as_deref().is_none_or(blank) {
            out.push(Drift::MissingOracle { id: id.clone() });
        }
        if let Some((_, runner, shadow)) = SUITE_RUNNERS.iter().find(|(r, ..)| *r == role)
            && (site.implemented_by.as_deref() != Some(runner.as_str())
                || site.fallback.as_deref() != Some("llm")
                || (*shadow && site.shadow != Some(true)))
        {
            out.push(Drift::NotImplementedByRunner {
                id: id.clone(),
                role,
                runner: *runner,
                shadow: *shadow,
                implemented_by: site.implemented_by.clone(),
                fallback: site.fallback.clone(),
            });
        }
        if let Some(name) = &site.implemented_by
            && !reserved_names.contains(name.as_str())
        {
            out.push(Drift::UnknownImplementer {
                id: id.clone(),
                name: name.clone(),
            });
        }
        let Ok(stage) = Stage::from_str(&site.stage) else {
            out.push(Drift::UnknownStage {
                id: id.clone(),
                stage: site.stage.clone(),
            });
            continue;
        };
        if stage.role() != Some(role) {
            out.push(Drift::WrongStage {
                id: id.clone(),
                role,
                stage,
            });
        }
        check_contract(site, stage, out);
    }
    for role in Role::ALL {
        if role.kind() != RoleKind::Llm {
            continue;
        }
        match by_role.get(&role).map(Vec::as_slice) {
            None | Some([]) => out.push(Drift::MissingCallSite { role }),
            Some([_]) => {}
            Some(ids) => out.push(Drift::DuplicateCallSite {
                role,
                ids: ids.to_vec(),
            }),
        }
    }
}

fn blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// The site's verdict key, artifact, gate and control-path bit against
/// `ARTIFACTS` and `QG_CHECKS`.
fn check_contract(site: &crate::CallSite, stage: Stage, out: &mut Vec<Drift>) {
    let Some(spec) = ARTIFACTS.iter().find(|a| a.stage == stage) else {
        return;
    };
    let mismatch = |field, inventory: &str, code: &str| Drift::ContractMismatch {
        id: site.id.clone(),
        field,
        inventory: inventory.to_owned(),
        code: code.to_owned(),
    };
    if site.verdict_key != spec.verdict_key {
        out.push(mismatch("verdict_key", &site.verdict_key, spec.verdict_key));
    }
    if site.artifact != spec.file_name {
        out.push(mismatch("artifact", &site.artifact, spec.file_name));
    }
    let gates: Vec<&str> = gates_for(stage).iter().map(|g| g.name()).collect();
    if !gates.contains(&site.gate.as_str()) {
        out.push(mismatch("gate", &site.gate, &gates.join(", ")));
    }
    let steers = spec.values.len() > 1;
    if site.control_path != steers {
        out.push(Drift::ControlPathMismatch {
            id: site.id.clone(),
            inventory: site.control_path,
            values: spec.values.to_vec(),
        });
    }
}

fn check_deterministic(inventory: &Inventory, out: &mut Vec<Drift>) {
    let first = inventory.transport.locations.first().map(String::as_str);
    if first != Some(TRANSPORT_LOCATION) {
        out.push(Drift::TransportMismatch {
            inventory: first.unwrap_or_default().to_owned(),
        });
    }
    let mut listed = BTreeSet::new();
    for path in &inventory.deterministic {
        if path.kind != PathKind::ReservedAgent {
            continue;
        }
        match Role::from_str(&path.name) {
            Ok(role) if role.kind() == RoleKind::Reserved => {
                listed.insert(role);
            }
            Ok(_) | Err(_) => out.push(Drift::UnknownReservedAgent {
                id: path.id.clone(),
                name: path.name.clone(),
            }),
        }
    }
    for role in Role::ALL {
        if role.kind() == RoleKind::Reserved && !listed.contains(&role) {
            out.push(Drift::MissingReservedAgent { role });
        }
    }
    for kind in PathKind::ALL {
        if !inventory.deterministic.iter().any(|d| d.kind == kind) {
            out.push(Drift::MissingPathKind { kind });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_relative_links_are_followed() {
        let links = relative_links(
            "see [a](../staging-runner.md), [b](https://x.invalid/), [c](#top), [d](pipeline.md#stages)",
        );
        assert_eq!(links, ["../staging-runner.md", "pipeline.md#stages"]);
    }
}
