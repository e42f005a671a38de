//! Golden tests: the pipeline's contracts (DESIGN §3.1–3.3, 3.5, 3.6) rendered
//! as text and compared with the checked-in files in `tests/golden/`.
//!
//! A failure here means a contract changed. If that is deliberate, rerun with
//! `UPDATE_GOLDEN=1 cargo test -p orch-pipeline --test it golden::`, review the diff
//! of the golden file, and add a CHANGELOG.md entry.

use std::fmt::Write as _;
use std::path::PathBuf;

use orch_pipeline::{ARTIFACTS, QG_CHECKS, Role, RoleKind, STAGE_TRANSITIONS, Stage};

fn check_golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    orch_tests::assert_golden(
        &path,
        actual,
        "rerun with UPDATE_GOLDEN=1 cargo test -p orch-pipeline --test it golden::",
    );
}

#[test]
fn stages() {
    let mut out = String::new();
    for stage in Stage::ALL {
        let kind = if stage.is_terminal() {
            "terminal"
        } else {
            "working"
        };
        let role = stage.role().map_or("-", Role::as_str);
        writeln!(out, "{:<16} {kind:<9} {role}", stage.as_str()).unwrap();
    }
    check_golden("stages.txt", &out);
}

#[test]
fn roles() {
    let mut out = String::new();
    for role in Role::ALL {
        let kind = match role.kind() {
            RoleKind::Llm => "llm",
            RoleKind::Reserved => "reserved",
        };
        writeln!(out, "{:<20} {kind}", role.as_str()).unwrap();
    }
    check_golden("roles.txt", &out);
}

#[test]
fn artifacts() {
    let mut out = String::new();
    for spec in ARTIFACTS {
        writeln!(
            out,
            "{:<16} {:<20} {:<20} pass={:<9} values={}",
            spec.stage.as_str(),
            spec.file_name,
            spec.verdict_key,
            spec.pass_value,
            spec.values.join("|")
        )
        .unwrap();
    }
    check_golden("artifacts.txt", &out);
}

#[test]
fn stage_transitions() {
    let mut out = String::new();
    for t in STAGE_TRANSITIONS {
        let note = if t.is_rollback() {
            "  (rollback: spends a developer retry)"
        } else {
            ""
        };
        writeln!(
            out,
            "{:<16} {:<5} -> {}{note}",
            t.from.as_str(),
            t.verdict.as_str(),
            t.to.as_str()
        )
        .unwrap();
    }
    writeln!(
        out,
        "developer-retry budget spent: rollback -> blocked (default budget {})",
        orch_pipeline::DEFAULT_DEVELOPER_RETRIES
    )
    .unwrap();
    check_golden("stage_transitions.txt", &out);
}

#[test]
fn qg_checks() {
    let mut out = String::new();
    for (stage, gates) in QG_CHECKS {
        let names: Vec<&str> = gates.iter().map(|g| g.name()).collect();
        writeln!(out, "{:<16} {}", stage.as_str(), names.join(", ")).unwrap();
    }
    check_golden("qg_checks.txt", &out);
}
