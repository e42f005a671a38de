//! The inventory of this repository: its documents exist, its block parses,
//! its classification is the one the policy derives, and it has no drift.

#![expect(clippy::panic, reason = "test helpers: a panic is the failure report")]

use std::collections::BTreeSet;
use std::path::PathBuf;

use orch_inventory::{Classification, DOCUMENTS, INVENTORY_DOC, Inventory, PathKind, check};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn inventory() -> Inventory {
    Inventory::load(&root()).unwrap_or_else(|e| panic!("{e}"))
}

fn roles(inventory: &Inventory, class: Classification) -> BTreeSet<String> {
    inventory
        .call_sites
        .iter()
        .filter(|s| s.classification() == class)
        .map(|s| s.role.clone())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn the_documents_exist() {
    for document in DOCUMENTS {
        let path = root().join(document);
        assert!(path.is_file(), "{document} is missing");
    }
    assert!(DOCUMENTS.contains(&INVENTORY_DOC));
}

#[test]
fn the_inventory_block_parses() {
    let inventory = inventory();
    assert_eq!(inventory.transport.id, "S0");
    assert_eq!(inventory.call_sites.len(), 6);
    let ids: Vec<&str> = inventory.call_sites.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["C1", "C2", "C3", "C4", "C5", "C6"]);
}

#[test]
fn the_classification_is_derived_from_the_bits() {
    let inventory = inventory();
    assert_eq!(
        roles(&inventory, Classification::Avoidable),
        set(&["tester", "deployer"])
    );
    assert_eq!(roles(&inventory, Classification::Keep), set(&["reviewer"]));
    assert_eq!(
        roles(&inventory, Classification::NotControlPath),
        set(&["analyst", "architect", "developer"])
    );
}

#[test]
fn the_oracles_are_the_suites_exit_codes_and_the_reviewer_has_none() {
    let inventory = inventory();
    let oracle = |role: &str| inventory.call_site(role).unwrap().oracle.clone();
    let deployer = oracle("deployer").unwrap();
    assert!(deployer.contains("staging suite's exit code"), "{deployer}");
    let tester = oracle("tester").unwrap();
    assert!(tester.contains("test suite's exit code"), "{tester}");
    let reviewer = inventory.call_site("reviewer").unwrap();
    assert!(!reviewer.deterministic_oracle && reviewer.oracle.is_none());
    assert!(reviewer.justification.is_some());
}

#[test]
fn the_deployer_is_implemented_by_the_staging_runner_with_the_llm_as_fallback() {
    let inventory = inventory();
    let deployer = inventory.call_site("deployer").unwrap();
    assert_eq!(deployer.implemented_by.as_deref(), Some("staging-runner"));
    assert_eq!(deployer.fallback.as_deref(), Some("llm"));
    let reserved: BTreeSet<&str> = inventory
        .deterministic
        .iter()
        .filter(|d| d.kind == PathKind::ReservedAgent)
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(
        reserved,
        BTreeSet::from([
            "deploy-finalizer",
            "post-deploy-monitor",
            "staging-runner",
            "test-runner"
        ])
    );
}

#[test]
fn the_tester_is_implemented_by_the_test_runner_with_a_shadow_mode_and_the_llm_as_fallback() {
    let inventory = inventory();
    let tester = inventory.call_site("tester").unwrap();
    assert_eq!(tester.implemented_by.as_deref(), Some("test-runner"));
    assert_eq!(tester.fallback.as_deref(), Some("llm"));
    assert_eq!(tester.shadow, Some(true));
}

#[test]
fn the_repository_has_no_drift() {
    let drift = check(&root());
    let lines: Vec<String> = drift.iter().map(ToString::to_string).collect();
    assert!(lines.is_empty(), "drift:\n{}", lines.join("\n"));
}
