//! The drift checks on copies of this repository: an unmodified copy is
//! clean, and each planted drift — a second transport, an inventory that
//! disagrees with the pipeline or the code, a missing document — is reported.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is the failure report"
)]

use std::fs;
use std::path::{Path, PathBuf};

use orch_inventory::{Drift, INVENTORY_DOC, InventoryError, check};
use orch_pipeline::Role;
use tempfile::TempDir;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Copies the parts of the repository the checks read — every `.rs` and
/// `.md` file, outside build output and hidden folders — to a temporary
/// folder.
fn copy_tree() -> TempDir {
    fn walk(from: &Path, to: &Path) {
        for entry in fs::read_dir(from).unwrap().flatten() {
            let name = entry.file_name();
            let text = name.to_string_lossy();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                if text.starts_with('.') || text.starts_with("target") {
                    continue;
                }
                walk(&entry.path(), &to.join(&name));
            } else if kind.is_file() && (text.ends_with(".rs") || text.ends_with(".md")) {
                fs::create_dir_all(to).unwrap();
                fs::copy(entry.path(), to.join(&name)).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    walk(&root(), dir.path());
    dir
}

fn lines(drift: &[Drift]) -> String {
    drift
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Rewrites the inventory document of a copy.
fn edit_inventory(root: &Path, edit: impl FnOnce(String) -> String) {
    let path = root.join(INVENTORY_DOC);
    let text = fs::read_to_string(&path).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changed nothing");
    fs::write(path, edited).unwrap();
}

/// Replaces the `[[call_site]]` or `[[deterministic]]` table with this id.
fn without_entry(text: &str, id: &str) -> String {
    let marker = format!("id = \"{id}\"\n");
    let at = text.find(&marker).unwrap();
    let start = text[..at].rfind("\n[[").unwrap();
    let end = text[at..]
        .find("\n[[")
        .or_else(|| text[at..].find("\n```"))
        .map(|e| at + e)
        .unwrap();
    format!("{}{}", &text[..start], &text[end..])
}

const PLANTED: &str = r#"
use std::path::Path;

use orch_staging_runner::exec::{self, ExecSpec, Program};

use crate::config::LauncherConfig;

/// A shortcut that skips the launcher: a second transport.
pub fn quick_agent(config: &LauncherConfig, dir: &Path) {
    let spec = ExecSpec::new(Program::Shell(config.agent.command.clone()), dir);
    let _ = exec::start(&spec).wait();
}
"#;

#[test]
fn an_unmodified_copy_is_clean() {
    let copy = copy_tree();
    let drift = check(copy.path());
    assert!(drift.is_empty(), "{}", lines(&drift));
}

#[test]
fn a_planted_second_transport_is_reported() {
    let copy = copy_tree();
    write(copy.path(), "crates/launcher/src/shortcut.rs", PLANTED);
    let drift = check(copy.path());
    assert_eq!(drift.len(), 1, "{}", lines(&drift));
    let Drift::SecondTransport {
        file,
        function,
        starts,
        reads,
    } = &drift[0]
    else {
        panic!("{}", lines(&drift));
    };
    assert_eq!(file, "crates/launcher/src/shortcut.rs");
    assert_eq!(function, "quick_agent");
    assert_eq!(starts, "ExecSpec::new");
    assert_eq!(reads, "agent.command");
    assert_eq!(
        drift[0].to_string(),
        "crates/launcher/src/shortcut.rs::quick_agent: starts a process (ExecSpec::new) and reads the agent command (agent.command); only crates/launcher/src/spawn.rs::spawn may start an agent: call orch_launcher::spawn instead"
    );
}

#[test]
fn a_second_transport_in_another_crate_through_a_helper_and_an_alias_is_reported() {
    let copy = copy_tree();
    write(
        copy.path(),
        "bins/orch/src/shortcut.rs",
        r#"
use orch_staging_runner::exec::start as go;

fn run_it(spec: &ExecSpec) {
    let _ = go(spec).wait();
}

pub(crate) fn agent_now(config: &Config) {
    let command = std::env::var("ORCH_AGENT_CMD").unwrap_or_default();
    run_it(&spec_for(&command, config));
}
"#,
    );
    let drift = check(copy.path());
    assert_eq!(drift.len(), 1, "{}", lines(&drift));
    assert!(
        matches!(&drift[0], Drift::SecondTransport { file, function, starts, .. }
            if file == "bins/orch/src/shortcut.rs" && function == "agent_now" && starts == "run_it() → exec::start"),
        "{}",
        lines(&drift)
    );
}

#[test]
fn test_code_and_comments_are_not_a_second_transport() {
    let copy = copy_tree();
    // An integration test that drives a scripted agent on purpose.
    write(copy.path(), "crates/launcher/tests/shortcut.rs", PLANTED);
    // A unit-test module, and a comment.
    write(
        copy.path(),
        "crates/launcher/src/quiet.rs",
        &format!(
            "// exec::start(&ExecSpec::new(Program::Shell(config.agent.command.clone()), dir));\n\
             #[cfg(test)]\nmod tests {{\n{PLANTED}\n}}\n"
        ),
    );
    let drift = check(copy.path());
    assert!(drift.is_empty(), "{}", lines(&drift));
}

#[test]
fn a_transport_the_scan_no_longer_sees_is_reported() {
    let copy = copy_tree();
    let spawn = copy.path().join("crates/launcher/src/spawn.rs");
    let text = fs::read_to_string(&spawn).unwrap();
    fs::write(&spawn, text.replace("pub fn spawn(", "pub fn spawn_agent(")).unwrap();
    let drift = check(copy.path());
    let text = lines(&drift);
    assert!(
        drift
            .iter()
            .any(|d| matches!(d, Drift::TransportNotRecognised)),
        "{text}"
    );
    assert!(
        drift.iter().any(
            |d| matches!(d, Drift::SecondTransport { function, .. } if function == "spawn_agent")
        ),
        "{text}"
    );
    assert!(
        drift
            .iter()
            .any(|d| matches!(d, Drift::MissingFunction { id, location }
            if id == "S0" && location == "crates/launcher/src/spawn.rs::spawn")),
        "{text}"
    );
}

#[test]
fn a_missing_llm_role_and_a_missing_reserved_agent_are_reported() {
    let copy = copy_tree();
    edit_inventory(copy.path(), |t| {
        without_entry(&without_entry(&t, "C5"), "D3")
    });
    let drift = check(copy.path());
    let text = lines(&drift);
    assert!(
        drift
            .iter()
            .any(|d| matches!(d, Drift::MissingCallSite { role: Role::Tester })),
        "{text}"
    );
    assert!(
        drift.iter().any(|d| matches!(
            d,
            Drift::MissingReservedAgent {
                role: Role::StagingRunner
            }
        )),
        "{text}"
    );
    // The deployer's implementer is gone with it.
    assert!(
        drift
            .iter()
            .any(|d| matches!(d, Drift::UnknownImplementer { id, .. } if id == "C6")),
        "{text}"
    );
}

#[test]
fn a_verdict_key_that_disagrees_with_artifacts_is_reported() {
    let copy = copy_tree();
    edit_inventory(copy.path(), |t| {
        t.replace(
            "verdict_key = \"staging_status\"",
            "verdict_key = \"deploy_status\"",
        )
    });
    let drift = check(copy.path());
    assert_eq!(drift.len(), 1, "{}", lines(&drift));
    assert_eq!(
        drift[0].to_string(),
        "inventory C6: verdict_key is \"deploy_status\" but the pipeline says \"staging_status\"; update the inventory"
    );
}

#[test]
fn a_control_path_bit_that_disagrees_with_the_verdict_values_is_reported() {
    let copy = copy_tree();
    edit_inventory(copy.path(), |t| {
        let at = t.find("id = \"C4\"").unwrap();
        let (head, tail) = t.split_at(at);
        format!(
            "{head}{}",
            tail.replacen("control_path = true", "control_path = false", 1)
        )
    });
    let drift = check(copy.path());
    assert_eq!(drift.len(), 1, "{}", lines(&drift));
    assert!(
        matches!(&drift[0], Drift::ControlPathMismatch { id, inventory: false, .. } if id == "C4"),
        "{}",
        lines(&drift)
    );
}

#[test]
fn a_kept_site_without_justification_and_an_unimplemented_deployer_are_reported() {
    let copy = copy_tree();
    edit_inventory(copy.path(), |t| {
        let t = t.replace("implemented_by = \"staging-runner\"\n", "");
        let at = t.find("id = \"C4\"").unwrap();
        let start = at + t[at..].find("justification = ").unwrap();
        let end = start + t[start..].find('\n').unwrap() + 1;
        format!("{}{}", &t[..start], &t[end..])
    });
    let drift = check(copy.path());
    let text = lines(&drift);
    assert_eq!(drift.len(), 2, "{text}");
    assert!(
        text.contains("inventory C4: classified keep, so the LLM stays; give a justification"),
        "{text}"
    );
    assert!(
        text.contains("inventory C6: the deployer is implemented by the staging runner with the LLM as fallback"),
        "{text}"
    );
}

#[test]
fn a_tester_without_its_runner_or_its_shadow_mode_is_reported() {
    for cut in ["implemented_by = \"test-runner\"\n", "shadow = true\n"] {
        let copy = copy_tree();
        edit_inventory(copy.path(), |t| t.replace(cut, ""));
        let drift = check(copy.path());
        let text = lines(&drift);
        assert_eq!(drift.len(), 1, "{cut}: {text}");
        assert!(
            text.contains("inventory C5: the tester is implemented by the test runner with the LLM as fallback and a shadow mode; set implemented_by = \"test-runner\" and fallback = \"llm\" and shadow = true"),
            "{text}"
        );
    }
}

#[test]
fn locations_that_name_no_function_or_file_are_reported() {
    let copy = copy_tree();
    edit_inventory(copy.path(), |t| {
        t.replace(
            "crates/pipeline/src/transition.rs::next_stage",
            "crates/pipeline/src/transition.rs::next_stage_v2",
        )
        .replace(
            "crates/launcher/src/reserved.rs::default_intercepts",
            "crates/launcher/src/registry.rs::default_intercepts",
        )
    });
    let drift = check(copy.path());
    let text = lines(&drift);
    assert_eq!(drift.len(), 2, "{text}");
    assert!(
        matches!(&drift[0], Drift::MissingFunction { id, .. } if id == "D5"),
        "{text}"
    );
    assert!(
        matches!(&drift[1], Drift::MissingFile { id, .. } if id == "D6"),
        "{text}"
    );
}

#[test]
fn an_unknown_role_is_reported() {
    let copy = copy_tree();
    edit_inventory(copy.path(), |t| {
        t.replace("role = \"analyst\"", "role = \"qa\"")
    });
    let drift = check(copy.path());
    let text = lines(&drift);
    assert!(
        drift
            .iter()
            .any(|d| matches!(d, Drift::UnknownRole { id, role } if id == "C1" && role == "qa")),
        "{text}"
    );
    assert!(
        drift.iter().any(|d| matches!(
            d,
            Drift::MissingCallSite {
                role: Role::Analyst
            }
        )),
        "{text}"
    );
}

#[test]
fn a_missing_block_and_a_missing_document_are_reported() {
    let copy = copy_tree();
    edit_inventory(copy.path(), |t| t.replace("<!-- inventory:begin -->\n", ""));
    fs::remove_file(copy.path().join("docs/overview/agents.md")).unwrap();
    let drift = check(copy.path());
    let text = lines(&drift);
    assert!(
        drift
            .iter()
            .any(|d| matches!(d, Drift::Inventory(InventoryError::NoBlock))),
        "{text}"
    );
    assert!(
        text.contains("llm-call-sites.md: no inventory block between <!-- inventory:begin --> and <!-- inventory:end -->; add one"),
        "{text}"
    );
    assert!(text.contains("docs/overview/agents.md: missing"), "{text}");
}
