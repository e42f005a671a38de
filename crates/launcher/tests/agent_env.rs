//! Hostile: an agent gets only what it needs from orch's environment.
//!
//! orch's own environment is seeded with what a developer's shell or a CI
//! runner holds — cloud keys, a forge token, the SSH agent's socket, a
//! repository's deploy token, orch's configuration — and a stand-in agent
//! (a real shell, through the real `spawn`, in the real sandbox) dumps its
//! whole environment into its artifact. Nothing but the allow-list, the
//! preset's credentials, the operator's `ORCH_AGENT_PASS_ENV` names and the
//! task contract may reach it.
//!
//! This test binary has its own `main` (libtest-mimic): it runs itself again
//! with the seeded variables, and serves as orch's process supervisor.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::fs;
use std::time::Duration;

use common::{check, drive};
use libtest_mimic::{Arguments, Failed, Trial};
use orch_launcher::{AgentKind, Engine, LauncherConfig};
use orch_store::{LeaseOwner, NewRepo, Store};

/// What orch's environment holds that no agent may see.
const SECRETS: [(&str, &str); 9] = [
    ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
    ("AWS_ACCESS_KEY_ID", "aws-id"),
    ("GITHUB_TOKEN", "ghp-secret"),
    ("SSH_AUTH_SOCK", "/tmp/ssh-agent.sock"),
    ("DEPLOY_TOKEN", "the-repository-pass-env-token"),
    ("ORCH_DB_PATH", "/srv/orch/orch.db"),
    ("ORCH_SECRET_ENV", "MY_CONFIG"),
    ("OPENAI_API_KEY", "another-vendor-s-key"),
    ("EDITOR_PLUGIN_URL", "an ordinary variable no one named"),
];

/// What it may see: the preset's credential, the operator's name, basics.
const KEPT: [(&str, &str); 4] = [
    ("ANTHROPIC_API_KEY", "sk-ant-the-preset-s-key"),
    ("CLAUDE_CODE_MAX_RETRIES", "2"),
    ("HTTPS_PROXY", "http://proxy.example:3128"),
    ("LC_ALL", "C.UTF-8"),
];

/// The task contract `spawn` sets (docs: `orch_launcher::spawn`), and the
/// process machinery's marker that finds the run's whole tree to end it.
const CONTRACT: [&str; 8] = [
    "ORCH_RUN_MARKER",
    "ORCH_TASK_ID",
    "ORCH_ROLE",
    "ORCH_STAGE",
    "ORCH_REPO_PATH",
    "ORCH_ARTIFACT",
    "ORCH_VERDICT_KEY",
    "ORCH_VERDICT_PASS",
];

/// Set in the run of this binary whose environment is seeded.
const SEEDED: &str = "AGENT_ENV_TEST_SEEDED";

/// The stand-in agent: its environment, then the verdict, as its artifact.
const DUMP: &str =
    "env > \"$ORCH_ARTIFACT\"; echo 'analysis_status: COMPLETE' >> \"$ORCH_ARTIFACT\"";

fn an_agent_sees_only_the_allow_list_and_its_preset_s_credentials() -> Result<(), Failed> {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("orch-home");
    let checkout = dir.path().join("checkout");
    fs::create_dir_all(&checkout).unwrap();
    fs::write(checkout.join("README.md"), "# api\n").unwrap();
    let mut config = LauncherConfig::new(&home);
    config.agent.preset = AgentKind::Claude;
    config.agent.command = DUMP.to_owned();
    config.agent.pass_env = vec!["HTTPS_PROXY".to_owned()];
    config.agent.timeout = Duration::from_secs(30);
    config.secret_env = vec!["MY_CONFIG".to_owned()];
    let store = Store::open(dir.path().join("orch.db")).unwrap();
    let engine = Engine::new(store, config.clone(), LeaseOwner::new("boot", "w"));
    // The repository names the deploy token for its suites: not for agents.
    let mut repo = NewRepo::new("api", checkout.to_str().unwrap(), "true");
    repo.pass_env = vec!["DEPLOY_TOKEN".to_owned()];
    let repo = engine.store().add_repo(&repo).unwrap();
    let (task, _) = engine.create_task(repo, "describe the API").unwrap();
    let reports = drive(&engine, 1);
    let dumped =
        fs::read_to_string(config.task_dir(task.get()).join("01-analysis.md")).unwrap_or_default();
    let names: Vec<&str> = dumped
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .collect();
    check(
        dumped.contains("analysis_status: COMPLETE"),
        format!("the agent did not run: {reports:?}"),
    )?;
    for (name, value) in SECRETS {
        check(
            !names.contains(&name) && !dumped.contains(value),
            format!("{name} reached the agent:\n{dumped}"),
        )?;
    }
    for (name, value) in KEPT {
        check(
            dumped.contains(&format!("{name}={value}")),
            format!("{name} did not reach the agent:\n{dumped}"),
        )?;
    }
    for name in [
        "PATH",
        "HOME",
        "TMPDIR",
        "ORCH_TASK_ID",
        "ORCH_ARTIFACT",
        "IS_SANDBOX",
    ] {
        check(
            names.contains(&name),
            format!("{name} is missing:\n{dumped}"),
        )?;
    }
    // Every ORCH_* the agent sees is the task contract.
    for name in names.iter().filter(|n| n.starts_with("ORCH_")) {
        check(
            CONTRACT.contains(name),
            format!("{name} is not the task contract:\n{dumped}"),
        )?;
    }
    Ok(())
}

fn main() {
    orch_process::supervisor::main_if_requested();
    // orch's environment, seeded: this binary runs itself again with the
    // variables set (the workspace allows no `unsafe` `set_var`).
    if std::env::var_os(SEEDED).is_none() {
        #[expect(
            clippy::disallowed_methods,
            reason = "the test re-runs itself with orch's environment; no agent starts here"
        )]
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .envs(SECRETS.iter().chain(KEPT.iter()).copied())
            .env(SEEDED, "1")
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    let args = Arguments::from_args();
    let trials = vec![Trial::test(
        "an_agent_sees_only_the_allow_list_and_its_preset_s_credentials",
        an_agent_sees_only_the_allow_list_and_its_preset_s_credentials,
    )];
    libtest_mimic::run(&args, trials).exit();
}
