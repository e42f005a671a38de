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

/// Copies the parts of the repository the checks read — every `.rs`, `.md`
/// and `.toml` file, outside build output, hidden folders and
/// `node_modules` — to a temporary folder.
fn copy_tree() -> TempDir {
    fn walk(from: &Path, to: &Path) {
        for entry in fs::read_dir(from).unwrap().flatten() {
            let name = entry.file_name();
            let text = name.to_string_lossy();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                if text.starts_with('.') || text.starts_with("target") || text == "node_modules" {
                    continue;
                }
                walk(&entry.path(), &to.join(&name));
            } else if kind.is_file()
                && (text.ends_with(".rs") || text.ends_with(".md") || text.ends_with(".toml"))
            {
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

/// The drift without the prose-table mismatches an edit of the block also
/// causes (asserted to be there: the prose must follow the block).
fn without_prose(drift: Vec<Drift>) -> Vec<Drift> {
    assert!(
        drift
            .iter()
            .any(|d| matches!(d, Drift::ProseMismatch { .. })),
        "the prose tables did not notice: {}",
        lines(&drift)
    );
    drift
        .into_iter()
        .filter(|d| !matches!(d, Drift::ProseMismatch { .. }))
        .collect()
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
    // A file no `mod` declares is not compiled: declare it.
    append(
        copy.path(),
        "crates/launcher/src/lib.rs",
        "\nmod shortcut;\n",
    );
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
    assert_eq!(starts, "exec::start");
    assert_eq!(reads, "agent.command");
    assert_eq!(
        drift[0].to_string(),
        "crates/launcher/src/shortcut.rs::quick_agent: starts a process (exec::start) and reads the agent command (agent.command); only crates/launcher/src/spawn.rs::spawn may start an agent: call orch_launcher::spawn instead"
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
    append(copy.path(), "bins/orch/src/main.rs", "\nmod shortcut;\n");
    let drift = check(copy.path());
    let text = lines(&drift);
    assert_eq!(drift.len(), 2, "{text}");
    assert!(
        has(
            &drift,
            |d| matches!(d, Drift::SecondTransport { file, function, starts, .. }
            if file == "bins/orch/src/shortcut.rs" && function == "agent_now" && starts == "run_it() → exec::start")
        ),
        "{text}"
    );
    // The helper itself starts a process outside the allow-list.
    assert!(
        has(
            &drift,
            |d| matches!(d, Drift::ProcessStartNotAllowed { location, starts }
            if location == "bins/orch/src/shortcut.rs::run_it" && starts == "exec::start")
        ),
        "{text}"
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
    append(copy.path(), "crates/launcher/src/lib.rs", "\nmod quiet;\n");
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
    let drift = without_prose(check(copy.path()));
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
    let drift = without_prose(check(copy.path()));
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
            "crates/launcher/src/reserved/mod.rs::default_intercepts",
            "crates/launcher/src/registry.rs::default_intercepts",
        )
    });
    let drift = without_prose(check(copy.path()));
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

// ---------------------------------------------------------------------------
// Drift that the check once let through: each planted in a copy.

/// Appends `text` to a file of the copy.
fn append(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    let mut old = fs::read_to_string(&path).unwrap();
    old.push_str(text);
    fs::write(path, old).unwrap();
}

/// Replaces `from` by `to` in a file of the copy (which must contain it).
fn replace(root: &Path, relative: &str, from: &str, to: &str) {
    let path = root.join(relative);
    let old = fs::read_to_string(&path).unwrap();
    assert!(old.contains(from), "{relative} has no {from:?}");
    fs::write(path, old.replacen(from, to, 1)).unwrap();
}

/// A new module of the launcher crate, declared in its lib.rs.
fn plant_module(root: &Path, name: &str, text: &str) {
    write(root, &format!("crates/launcher/src/{name}.rs"), text);
    append(
        root,
        "crates/launcher/src/lib.rs",
        &format!("\nmod {name};\n"),
    );
}

fn has(drift: &[Drift], pred: impl Fn(&Drift) -> bool) -> bool {
    drift.iter().any(pred)
}

#[test]
fn the_test_runner_missing_from_the_registry_is_reported() {
    let copy = copy_tree();
    replace(
        copy.path(),
        "crates/launcher/src/reserved/mod.rs",
        "Box::new(SuiteRunner::testing()),",
        "",
    );
    let drift = check(copy.path());
    let text = lines(&drift);
    assert!(
        has(
            &drift,
            |d| matches!(d, Drift::NotRegistered { id, .. } if id == "D7")
        ),
        "{text}"
    );
    assert!(
        has(
            &drift,
            |d| matches!(d, Drift::ImplementerNotRegistered { id, .. } if id == "C5")
        ),
        "{text}"
    );
    assert_eq!(drift.len(), 2, "{text}");
}

#[test]
fn the_post_deploy_monitor_missing_from_the_registry_is_reported() {
    let copy = copy_tree();
    replace(
        copy.path(),
        "crates/launcher/src/reserved/mod.rs",
        "Box::new(PostDeployMonitor),",
        "",
    );
    let drift = check(copy.path());
    assert_eq!(drift.len(), 1, "{}", lines(&drift));
    assert!(
        drift[0].to_string().starts_with(
            "inventory D2: reserved agent post-deploy-monitor is PostDeployMonitor, which crates/launcher/src/reserved/mod.rs::default_intercepts does not register"
        ),
        "{}",
        lines(&drift)
    );
}

#[test]
fn the_engine_calling_spawn_directly_is_reported() {
    let copy = copy_tree();
    append(
        copy.path(),
        "crates/launcher/src/engine/run.rs",
        "\nfn straight(ctx: &JobContext, config: &LauncherConfig, control: &RunControl) -> Launch {\n    crate::spawn::spawn(ctx, config, control)\n}\n",
    );
    let drift = check(copy.path());
    assert_eq!(drift.len(), 1, "{}", lines(&drift));
    assert_eq!(
        drift[0].to_string(),
        "crates/launcher/src/engine/run.rs::straight: calls the transport (orch_launcher::spawn) directly, skipping the reserved agents and the spend ceiling; only crates/launcher/src/launch.rs::launch_job may call it: call launch_job"
    );
}

#[test]
fn a_reserved_agents_command_runner_reused_with_the_agent_command_is_reported() {
    let copy = copy_tree();
    plant_module(
        copy.path(),
        "quick",
        "use std::time::Duration;\n\
         use crate::{JobContext, LauncherConfig, RunControl};\n\
         pub(crate) fn quick(ctx: &JobContext, config: &LauncherConfig, control: &RunControl) {\n\
             let _ = crate::reserved::shared::run_command(ctx, config, control, &config.agent.command, Duration::from_secs(60));\n\
         }\n",
    );
    let drift = check(copy.path());
    assert_eq!(drift.len(), 1, "{}", lines(&drift));
    assert!(
        matches!(&drift[0], Drift::SecondTransport { file, function, starts, reads }
            if file == "crates/launcher/src/quick.rs" && function == "quick"
                && starts == "run_command() → exec::start" && reads == "agent.command"),
        "{}",
        lines(&drift)
    );
}

#[test]
fn a_deleted_function_left_as_a_test_stub_is_reported() {
    let copy = copy_tree();
    replace(
        copy.path(),
        "crates/launcher/src/launch.rs",
        "pub fn run_shadow(",
        "pub fn run_shadow_gone(",
    );
    append(
        copy.path(),
        "crates/launcher/src/launch.rs",
        "\n#[cfg(test)]\nfn run_shadow() {}\n",
    );
    let drift = check(copy.path());
    assert_eq!(drift.len(), 1, "{}", lines(&drift));
    assert!(
        matches!(&drift[0], Drift::MissingFunction { id, location }
            if id == "D7" && location == "crates/launcher/src/launch.rs::run_shadow"),
        "{}",
        lines(&drift)
    );
}

/// Each second way to start a process, planted in a module of the launcher:
/// none is on the allow-list, whatever the command's source.
#[test]
fn every_second_way_to_start_a_process_is_reported() {
    let cases: [(&str, &str, &str); 9] = [
        (
            "use libc::*;\npub(crate) fn go(c: &std::ffi::CStr) { unsafe { system(c.as_ptr()); } }\n",
            "go",
            "libc::system",
        ),
        (
            "type Sh = std::process::Command;\npub(crate) fn go(c: &str) { let _ = Sh::new(\"sh\").arg(c).status(); }\n",
            "go",
            "Command::new",
        ),
        (
            "use std::process::Command;\npub(crate) fn go(c: &str) { let _ = <Command>::new(\"sh\").arg(c).status(); }\n",
            "go",
            "Command::new",
        ),
        (
            "macro_rules! sh { ($c:expr) => { std::process::Command::new(\"sh\").arg($c) } }\npub(crate) fn go(c: &str) { let _ = sh!(c).status(); }\n",
            "sh!",
            "Command::new",
        ),
        (
            "pub(crate) fn go(c: &std::ffi::CStr) { unsafe { libc::system(c.as_ptr()); } }\n",
            "go",
            "libc::system",
        ),
        (
            "pub(crate) fn go(c: &std::ffi::CStr) { unsafe { libc::popen(c.as_ptr(), c.as_ptr()); } }\n",
            "go",
            "libc::popen",
        ),
        (
            "pub(crate) fn go(p: *const libc::c_char, a: *const *const libc::c_char) { unsafe { if libc::vfork() == 0 { libc::execvpe(p, a, a); } } }\n",
            "go",
            "libc::vfork",
        ),
        (
            "use nix::unistd::execvpe;\npub(crate) fn go(p: &std::ffi::CStr) { let _ = execvpe(p, &[p], &[p]); }\n",
            "go",
            "nix::unistd::execvpe",
        ),
        (
            "pub(crate) static CHILD: std::sync::LazyLock<Option<std::process::Child>> = std::sync::LazyLock::new(|| std::process::Command::new(\"sh\").spawn().ok());\n",
            "CHILD",
            "Command::new",
        ),
    ];
    for (source, function, starts) in cases {
        let copy = copy_tree();
        plant_module(copy.path(), "second", source);
        let drift = check(copy.path());
        let text = lines(&drift);
        assert_eq!(drift.len(), 1, "{source}\n{text}");
        assert!(
            matches!(&drift[0], Drift::ProcessStartNotAllowed { location, starts: s }
                if *location == format!("crates/launcher/src/second.rs::{function}") && s == starts),
            "{source}\n{text}"
        );
    }
}

#[test]
fn a_build_script_that_builds_the_key_with_concat_is_reported() {
    let copy = copy_tree();
    write(
        copy.path(),
        "crates/launcher/build.rs",
        "fn main() {\n    let cmd = std::env::var(concat!(\"ORCH_\", \"AGENT_CMD\")).unwrap_or_default();\n    let _ = std::process::Command::new(\"sh\").arg(\"-c\").arg(cmd).status();\n}\n",
    );
    let drift = check(copy.path());
    assert_eq!(drift.len(), 1, "{}", lines(&drift));
    assert!(
        matches!(&drift[0], Drift::SecondTransport { file, function, starts, reads }
            if file == "crates/launcher/build.rs" && function == "main"
                && starts == "Command::new" && reads == "concat! → ORCH_AGENT_CMD"),
        "{}",
        lines(&drift)
    );
}

#[test]
fn a_file_under_tests_pulled_in_with_path_or_include_is_scanned() {
    for how in [
        "#[path = \"../tests/support/shortcut.rs\"]\nmod shortcut;\n",
        "mod shortcut {\n    include!(\"../tests/support/shortcut.rs\");\n}\n",
        "mod shortcut {\n    include!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/tests/support/shortcut.rs\"));\n}\n",
    ] {
        let copy = copy_tree();
        write(
            copy.path(),
            "crates/launcher/tests/support/shortcut.rs",
            PLANTED,
        );
        append(copy.path(), "crates/launcher/src/lib.rs", how);
        let drift = check(copy.path());
        let text = lines(&drift);
        assert!(
            has(
                &drift,
                |d| matches!(d, Drift::SecondTransport { file, function, .. }
                if file == "crates/launcher/tests/support/shortcut.rs" && function.ends_with("quick_agent"))
            ),
            "{how}\n{text}"
        );
    }
}

#[test]
fn an_include_that_cannot_be_followed_is_reported() {
    let copy = copy_tree();
    append(
        copy.path(),
        "crates/launcher/src/lib.rs",
        "include!(concat!(env!(\"OUT_DIR\"), \"/generated.rs\"));\n",
    );
    let drift = check(copy.path());
    assert_eq!(drift.len(), 1, "{}", lines(&drift));
    assert!(
        matches!(&drift[0], Drift::UnresolvedInclude { file, .. } if file == "crates/launcher/src/lib.rs"),
        "{}",
        lines(&drift)
    );
}

#[test]
fn an_allow_list_entry_that_starts_nothing_is_reported() {
    let copy = copy_tree();
    edit_inventory(copy.path(), |t| {
        t.replace(
            "location = \"bins/orch/src/commands/staging.rs::run\"",
            "location = \"bins/orch/src/commands/staging.rs::run\"\nwhy = \"x\"\n\n[[process_start]]\nlocation = \"crates/pipeline/src/transition.rs::next_stage\"",
        )
    });
    let drift = check(copy.path());
    assert_eq!(drift.len(), 1, "{}", lines(&drift));
    assert!(
        matches!(&drift[0], Drift::StaleProcessStart { location } if location == "crates/pipeline/src/transition.rs::next_stage"),
        "{}",
        lines(&drift)
    );
}

#[test]
fn test_support_as_a_real_dependency_is_reported() {
    let copy = copy_tree();
    replace(
        copy.path(),
        "crates/launcher/Cargo.toml",
        "[dependencies]\n",
        "[dependencies]\norch-tests.workspace = true\n",
    );
    let drift = check(copy.path());
    assert_eq!(drift.len(), 1, "{}", lines(&drift));
    assert!(
        matches!(&drift[0], Drift::TestSupportDependency { package, dependent }
            if package == "orch-tests" && dependent == "orch-launcher"),
        "{}",
        lines(&drift)
    );
}

#[test]
fn a_consumption_point_without_mitigation_is_reported() {
    let copy = copy_tree();
    edit_inventory(copy.path(), |t| {
        let at = t.find("id = \"K3\"").unwrap();
        let start = at + t[at..].find("mitigation = ").unwrap();
        let end = start + t[start..].find('\n').unwrap();
        format!("{}mitigation = \" \"{}", &t[..start], &t[end..])
    });
    let drift = check(copy.path());
    assert_eq!(drift.len(), 1, "{}", lines(&drift));
    assert!(
        matches!(&drift[0], Drift::MissingMitigation { id } if id == "K3"),
        "{}",
        lines(&drift)
    );
}

#[test]
fn a_tree_whose_pipeline_tables_differ_is_reported_and_doc_comments_are_not() {
    let copy = copy_tree();
    replace(
        copy.path(),
        "crates/pipeline/src/artifact.rs",
        "\"10-test-report.md\"",
        "\"10-tests.md\"",
    );
    // A comment or a doc line is not a table.
    replace(
        copy.path(),
        "crates/pipeline/src/stage.rs",
        "///",
        "/// (reworded)",
    );
    let drift = check(copy.path());
    assert_eq!(drift.len(), 1, "{}", lines(&drift));
    assert!(
        matches!(&drift[0], Drift::TablesDiffer { file, items }
            if file == "crates/pipeline/src/artifact.rs" && items == &["const ARTIFACTS"]),
        "{}",
        lines(&drift)
    );
}

#[test]
fn prose_tables_that_disagree_with_the_block_are_reported() {
    let copy = copy_tree();
    edit_inventory(copy.path(), |t| {
        t.replace("| C5 | tester | testing |", "| C5 | tester | review |")
            .replace(
                "`launch.rs`: `launch_job`; `reserved/mod.rs`: `default_intercepts` |",
                "`launch.rs`: `launch_job` |",
            )
            .replace("| K4 |", "| K9 |")
    });
    let drift = check(copy.path());
    let text = lines(&drift);
    assert!(
        text.contains("row C5 disagrees with the inventory block: stage is \"review\" there, \"testing\" in the block"),
        "{text}"
    );
    assert!(
        text.contains("row D6 disagrees with the inventory block: location crates/launcher/src/reserved/mod.rs::default_intercepts is not in the prose"),
        "{text}"
    );
    assert!(
        text.contains(
            "row K4 disagrees with the inventory block: the consumption point has no row"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "row K9 disagrees with the inventory block: the block has no such consumption point"
        ),
        "{text}"
    );
    assert_eq!(drift.len(), 4, "{text}");
}
