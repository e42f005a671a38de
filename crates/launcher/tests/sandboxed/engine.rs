//! The engine end to end, against a real store on a file database and real
//! processes: the staging runner's slice (TC-01 … TC-12), the LLM transport
//! with a scripted stand-in agent (TC-13 … TC-16), the task's life (TC-17 …
//! TC-21). docs/launcher.md maps every case to its test.
//!
//! This test binary has its own `main` (libtest-mimic) so that it can serve
//! as the process supervisor itself: `main` first lets
//! `orch_process::supervisor::main_if_requested` take over when the
//! binary was re-executed as one, exactly as the `orch` binary does.
//!
//! The agent is `tests/fixtures/scripted-agent.sh`, a scripted stand-in for
//! an LLM agent CLI (no model, no network) that follows the agent contract:
//! prompt on stdin, artifact at `$ORCH_ARTIFACT`, a result on stdout.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use crate::common::{Folders, assert_history, check, drive, quick_config, render_history, stages};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};
use orch_launcher::{
    Engine, Intercept, Intercepted, JobContext, JobEndKind, Launch, LauncherConfig, ModelPrice,
    RepoScope, RunControl, RunOutcome, RunRecord, RunnerMode, ShadowRun, StopSignal,
    SuiteRunnerConfig, reserved,
};
use orch_pipeline::{Role, Stage};
use orch_process::exec::SandboxMode;
use orch_store::{
    AgentRun, JobState, LeaseOwner, NewRepo, RepoId, Store, TaskId, TaskStatus, Transport,
};

const AGENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/scripted-agent.sh"
);
const OUTPUTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/agent-output");

/// A fresh orch home, database, checkout and scripted agent state.
struct Harness {
    _dir: tempfile::TempDir,
    db: PathBuf,
    state: PathBuf,
    checkout: PathBuf,
    config: LauncherConfig,
}

impl Harness {
    fn new() -> Harness {
        let folders = Folders::new();
        let mut config = quick_config(&folders, AGENT);
        // The test runner's twins run in mode `on` unless a case says
        // otherwise (its default is `shadow`).
        config.test_runner.mode = RunnerMode::On;
        config.test_runner.timeout = Duration::from_secs(20);
        config.test_runner.grace = Duration::from_millis(200);
        config.test_runner.retry.base = Duration::from_millis(1);
        config.lease = Duration::from_secs(3);
        let Folders {
            dir,
            state,
            checkout,
            ..
        } = folders;
        Harness {
            db: dir.path().join("orch.db"),
            _dir: dir,
            state,
            checkout,
            config,
        }
    }

    fn engine(&self) -> Engine {
        self.engine_with(self.config.clone())
    }

    fn engine_with(&self, config: LauncherConfig) -> Engine {
        let store = Store::open(&self.db).unwrap();
        Engine::new(store, config, LeaseOwner::new("boot-test", "worker-0"))
    }

    fn repo(&self, engine: &Engine, name: &str, staging: &str) -> RepoId {
        let mut repo = NewRepo::new(name, self.checkout.to_str().unwrap(), staging);
        repo.deploy_command = Some("true".into());
        repo.health_command = Some("true".into());
        engine.store().add_repo(&repo).unwrap()
    }

    fn plan(&self, lines: &str) {
        fs::write(self.state.join("plan"), lines).unwrap();
    }

    fn agent_calls(&self) -> Vec<String> {
        fs::read_to_string(self.state.join("calls"))
            .unwrap_or_default()
            .lines()
            .map(|line| line.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect()
    }
}

fn runs(engine: &Engine, task: TaskId) -> Vec<AgentRun> {
    engine.store().agent_runs(task).unwrap()
}

fn outcomes(engine: &Engine, task: TaskId) -> Vec<String> {
    runs(engine, task)
        .into_iter()
        .map(|r| format!("{} {} {}", r.role, r.transport, r.outcome))
        .collect()
}

fn staging_task(engine: &Engine, repo: RepoId) -> TaskId {
    engine
        .create_task_at(repo, "ship it", Stage::DeployStaging)
        .unwrap()
        .0
}

// --- the suite runners' slice: every case once per suite -----------------

/// One suite runner as the tests see it: the staging runner or the test
/// runner, through the same code.
#[derive(Debug, Clone, Copy)]
struct Suite {
    stage: Stage,
    runner: Role,
    llm: Role,
    artifact: &'static str,
    key: &'static str,
    gate: &'static str,
    next_stage: Stage,
    next_role: Role,
    exhausted: orch_store::AlertKind,
}

const STAGING: Suite = Suite {
    stage: Stage::DeployStaging,
    runner: Role::StagingRunner,
    llm: Role::Deployer,
    artifact: "15-staging-log.md",
    key: "staging_status",
    gate: "check_staging_status",
    next_stage: Stage::Deploy,
    next_role: Role::DeployFinalizer,
    exhausted: orch_store::AlertKind::StagingRunnerExhausted,
};

const TESTING: Suite = Suite {
    stage: Stage::Testing,
    runner: Role::TestRunner,
    llm: Role::Tester,
    artifact: "10-test-report.md",
    key: "test_status",
    gate: "check_test_status",
    next_stage: Stage::DeployStaging,
    next_role: Role::Deployer,
    exhausted: orch_store::AlertKind::TestRunnerExhausted,
};

impl Suite {
    fn settings(self, config: &mut LauncherConfig) -> &mut SuiteRunnerConfig {
        if self.stage == Stage::Testing {
            &mut config.test_runner
        } else {
            &mut config.staging_runner
        }
    }

    /// A repository whose suite for this stage is `command` (the other
    /// suite passes).
    fn repo(self, h: &Harness, engine: &Engine, name: &str, command: &str) -> RepoId {
        if self.stage == Stage::Testing {
            let mut repo = NewRepo::new(name, h.checkout.to_str().unwrap(), "true");
            repo.test_command = Some(command.into());
            repo.deploy_command = Some("true".into());
            repo.health_command = Some("true".into());
            engine.store().add_repo(&repo).unwrap()
        } else {
            h.repo(engine, name, command)
        }
    }

    fn task(self, engine: &Engine, repo: RepoId) -> TaskId {
        engine
            .create_task_at(repo, "ship it", self.stage)
            .unwrap()
            .0
    }

    fn log(self, h: &Harness, task: TaskId) -> String {
        fs::read_to_string(h.config.task_dir(task.get()).join(self.artifact)).unwrap()
    }

    fn to(self, to: &str) -> Vec<(String, String)> {
        vec![(self.stage.as_str().to_owned(), to.to_owned())]
    }

    fn run(self, outcome: &str) -> String {
        format!("{} deterministic {outcome}", self.runner)
    }
}

/// A registered test: its name and its body.
type Registered = (String, Box<dyn Fn() -> Result<(), Failed> + Send>);

/// A case run once per suite.
type SuiteCase = fn(Suite) -> Result<(), Failed>;

/// Registers `case` once per suite, `name` with the suite's prefix.
fn twins(tests: &mut Vec<Registered>, name: &str, case: SuiteCase) {
    for (prefix, suite) in [("staging", STAGING), ("tester", TESTING)] {
        tests.push((format!("{prefix}_{name}"), Box::new(move || case(suite))));
    }
}

/// TC-01: with the switch off, the stage is the LLM path.
fn switch_off_is_the_llm_path(suite: Suite) -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    suite.settings(&mut config).enabled = false;
    let engine = h.engine_with(config);
    let repo = suite.repo(&h, &engine, "api", "exit 1");
    let task = suite.task(&engine, repo);
    let reports = drive(&engine, 1);
    check(
        reports.len() == 1 && reports[0].spawned(),
        render_history(&reports),
    )?;
    assert_history(
        &format!("switch_off_is_the_llm_path-{}", suite.stage),
        &reports,
    )?;
    check(reports[0].intercepted_by().is_none(), "no intercept")?;
    check(engine.spawn_count() == 1, "spawn called once")?;
    check(
        stages(&engine, task) == suite.to(suite.next_stage.as_str()),
        format!(
            "the scripted LLM role wrote PASSED: {:?}",
            stages(&engine, task)
        ),
    )?;
    check(
        outcomes(&engine, task) == [format!("{} llm passed", suite.llm)],
        format!("{:?}", outcomes(&engine, task)),
    )
}

/// TC-02: a repository outside the CSV is the LLM path.
fn repo_outside_the_csv_is_the_llm_path(suite: Suite) -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    suite.settings(&mut config).repos = RepoScope::from_csv("web, docs");
    let engine = h.engine_with(config);
    let repo = suite.repo(&h, &engine, "api", "true");
    suite.task(&engine, repo);
    let reports = drive(&engine, 1);
    check(
        reports[0].spawned() && reports[0].intercepted_by().is_none(),
        render_history(&reports),
    )?;
    assert_history(
        &format!("repo_outside_the_csv_is_the_llm_path-{}", suite.stage),
        &reports,
    )?;
    // And a repository in the CSV is served by the runner.
    let web = suite.repo(&h, &engine, "web", "true");
    let web_task = suite.task(&engine, web);
    let reports = drive(&engine, 10);
    let served = reports
        .iter()
        .find(|r| r.task == web_task && r.stage == suite.stage)
        .ok_or("the web task never ran")?;
    check(
        served.intercepted_by() == Some(suite.runner.as_str()) && !served.spawned(),
        format!("{served:?}"),
    )
}

/// TC-03 and TC-04: `*` serves every repository; a passing suite advances,
/// and spawn is never called.
fn star_serves_every_repo_and_passed_advances(suite: Suite) -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = suite.repo(&h, &engine, "api", "echo suite-ran; exit 0");
    let task = suite.task(&engine, repo);
    let reports = drive(&engine, 1);
    check(
        reports[0].intercepted_by() == Some(suite.runner.as_str()),
        render_history(&reports),
    )?;
    assert_history(
        &format!("star_serves_every_repo_and_passed_advances-{}", suite.stage),
        &reports,
    )?;
    check(
        engine.spawn_count() == 0,
        "spawn was called for a job the runner served",
    )?;
    check(
        stages(&engine, task) == suite.to(suite.next_stage.as_str()),
        format!("{:?}", stages(&engine, task)),
    )?;
    let transitions = engine.store().transitions(task).unwrap();
    let gate = &transitions[0].decisions[0];
    check(
        gate.gate == suite.gate && gate.verdict.as_deref() == Some("PASSED"),
        format!("{gate:?}"),
    )?;
    check(
        gate.artifact_sha256.as_ref().is_some_and(|s| s.len() == 64),
        "sha256 kept",
    )?;
    let log = suite.log(&h, task);
    check(
        log.contains(&format!("{}: PASSED", suite.key)) && log.contains("suite-ran"),
        log.clone(),
    )?;
    let runs = runs(&engine, task);
    check(
        runs.len() == 1
            && runs[0].role == suite.runner
            && runs[0].transport == Transport::Deterministic
            && runs[0].outcome == "passed"
            && runs[0].exit_code == Some(0),
        format!("{runs:?}"),
    )?;
    // The next job is the next stage's.
    let next = engine.store().jobs_in_state(JobState::Queued, 10).unwrap();
    check(
        next.len() == 1 && next[0].stage == suite.next_stage && next[0].role == suite.next_role,
        format!("{next:?}"),
    )
}

/// TC-05: a failing suite rolls back to development and spends a retry.
fn failed_rolls_back_and_spends_a_retry(suite: Suite) -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let command = format!("echo '{}: PASSED'; exit 3", suite.key);
    let repo = suite.repo(&h, &engine, "api", &command);
    let task = suite.task(&engine, repo);
    drive(&engine, 1);
    check(
        stages(&engine, task) == suite.to("development"),
        format!("{:?}", stages(&engine, task)),
    )?;
    let t = engine.store().task(task).unwrap();
    check(
        t.developer_retries == 1 && t.status == TaskStatus::Active,
        format!("{t:?}"),
    )?;
    check(
        engine.spawn_count() == 0,
        "a FAILED suite never reaches the LLM",
    )?;
    check(
        outcomes(&engine, task) == [suite.run("failed")],
        format!("{:?}", outcomes(&engine, task)),
    )?;
    let next = engine.store().jobs_in_state(JobState::Queued, 10).unwrap();
    check(
        next.len() == 1 && next[0].role == Role::Developer,
        format!("{next:?}"),
    )
}

/// TC-06: a timeout is FAILED with reason `timeout`.
fn a_timeout_is_failed(suite: Suite) -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    suite.settings(&mut config).timeout = Duration::from_millis(300);
    let engine = h.engine_with(config);
    let repo = suite.repo(&h, &engine, "api", "sleep 30");
    let task = suite.task(&engine, repo);
    drive(&engine, 1);
    check(
        stages(&engine, task) == suite.to("development"),
        format!("{:?}", stages(&engine, task)),
    )?;
    check(
        outcomes(&engine, task) == [suite.run("timed_out")],
        format!("{:?}", outcomes(&engine, task)),
    )?;
    let log = suite.log(&h, task);
    check(log.contains("- reason: \"timeout\""), log)?;
    // Its alert names the limit and the setting that raises it.
    let key = if suite.stage == Stage::Testing {
        "ORCH_TEST_RUNNER_TIMEOUT_SECS"
    } else {
        "ORCH_STAGING_RUNNER_TIMEOUT_SECS"
    };
    let alerts = engine.store().open_alerts().unwrap();
    check(
        alerts.iter().any(|a| {
            a.kind == orch_store::AlertKind::SuiteTimedOut
                && a.task == Some(task)
                && a.message.contains("limit of 0.3s")
                && a.message.contains(key)
        }),
        format!("{alerts:?}"),
    )
}

/// TC-07: a tool error defers the job with a run-after time.
fn a_tool_error_defers_with_a_run_after_time(suite: Suite) -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    suite.settings(&mut config).retry.base = Duration::from_secs(600);
    let engine = h.engine_with(config);
    let repo = suite.repo(&h, &engine, "api", "definitely-not-a-program-here");
    let task = suite.task(&engine, repo);
    let before = engine.store().now_ms();
    let reports = drive(&engine, 1);
    check(
        matches!(reports[0].end, JobEndKind::Deferred { retry_in } if retry_in == Duration::from_secs(600)),
        render_history(&reports),
    )?;
    assert_history(
        &format!("a_tool_error_defers_with_a_run_after_time-{}", suite.stage),
        &reports,
    )?;
    let job = engine.store().job(reports[0].job).unwrap();
    check(
        job.state == JobState::Queued
            && job.infra_attempts == 1
            && job.run_after_ms >= before + 600_000,
        format!("{job:?}"),
    )?;
    check(
        stages(&engine, task).is_empty(),
        "no transition for a deferral",
    )?;
    check(
        outcomes(&engine, task) == [suite.run("deferred")],
        format!("{:?}", outcomes(&engine, task)),
    )
}

/// TC-08: spent infra retries fail closed: FAILED with the reason and an
/// alert, never PASSED; the task is blocked at its stage (a command that
/// cannot run is not the developer's to fix), never rolled back.
fn exhaustion_fails_closed_with_an_alert(suite: Suite) -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    suite.settings(&mut config).retry.retries = 2;
    let engine = h.engine_with(config);
    let repo = suite.repo(&h, &engine, "api", "definitely-not-a-program-here");
    let task = suite.task(&engine, repo);
    let reports = drive(&engine, 3);
    check(
        reports.len() == 3
            && matches!(reports[2].end, JobEndKind::Blocked { alert } if alert == suite.exhausted),
        format!("2 deferrals then blocked: {reports:?}"),
    )?;
    check(
        stages(&engine, task) == suite.to("blocked"),
        format!("{:?}", stages(&engine, task)),
    )?;
    let t = engine.store().task(task).unwrap();
    check(
        t.status == TaskStatus::Blocked && t.developer_retries == 0,
        format!("blocked, no developer retry spent: {t:?}"),
    )?;
    let log = suite.log(&h, task);
    check(
        log.contains(&format!("{}: FAILED", suite.key)) && !log.contains("PASSED"),
        log.clone(),
    )?;
    check(log.contains("infra retries spent"), log)?;
    let alerts = engine.store().open_alerts().unwrap();
    check(
        alerts.iter().any(|a| {
            a.kind == suite.exhausted
                && a.task == Some(task)
                && a.message.contains("is blocked at")
                && a.message.contains("orch repo check api")
                && a.message.contains(&format!("orch task retry {task}"))
        }),
        format!("{alerts:?}"),
    )?;
    check(
        outcomes(&engine, task)
            == [
                suite.run("deferred"),
                suite.run("deferred"),
                suite.run("exhausted"),
            ],
        format!("{:?}", outcomes(&engine, task)),
    )?;
    check(
        engine.spawn_count() == 0,
        "exhaustion never falls back to the LLM",
    )
}

/// TC-09: an internal error of the runner falls back to the LLM deployer.
fn an_internal_error_falls_back_to_the_llm() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    // No staging command can be resolved: an internal error of the runner.
    let repo = h.repo(&engine, "api", "   ");
    let task = staging_task(&engine, repo);
    let reports = drive(&engine, 1);
    check(
        reports[0].intercepted_by() == Some("staging-runner") && reports[0].spawned(),
        render_history(&reports),
    )?;
    assert_history("an_internal_error_falls_back_to_the_llm", &reports)?;
    check(
        outcomes(&engine, task)
            == [
                "staging-runner deterministic fallback",
                "deployer llm passed",
            ],
        format!("{:?}", outcomes(&engine, task)),
    )
}

/// TC-09, both suites: a suite that passed but whose log cannot be written
/// (the suite put a folder where the log goes) hands the job to the LLM.
fn an_unwritable_log_after_a_pass_falls_back_to_the_llm(suite: Suite) -> Result<(), Failed> {
    let h = Harness::new();
    // The first task of a fresh database is task 1.
    let log = h.config.task_dir(1).join(suite.artifact);
    let command = format!("mkdir -p '{}'/in-the-way; exit 0", log.display());
    // In the sandbox the suite cannot reach orch's task folder at all: its
    // sabotage fails and the runner serves the job.
    let engine = h.engine();
    let repo = suite.repo(&h, &engine, "api", &command);
    let task = suite.task(&engine, repo);
    check(task.get() == 1, format!("{task:?}"))?;
    let reports = drive(&engine, 1);
    check(
        reports[0].intercepted_by() == Some(suite.runner.as_str())
            && !reports[0].spawned()
            && log.is_file(),
        render_history(&reports),
    )?;
    assert_history(
        &format!(
            "an_unwritable_log_after_a_pass_falls_back_to_the_llm-sandboxed-{}",
            suite.stage
        ),
        &reports,
    )?;
    // Without it (an older kernel, ORCH_SANDBOX=off) the suite can block the
    // log, and the runner falls back to the LLM.
    let h = Harness::new();
    let log = h.config.task_dir(1).join(suite.artifact);
    let command = format!("mkdir -p '{}'/in-the-way; exit 0", log.display());
    let mut config = h.config.clone();
    config.sandbox.mode = SandboxMode::Off;
    let engine = h.engine_with(config);
    let repo = suite.repo(&h, &engine, "api", &command);
    let task = suite.task(&engine, repo);
    check(task.get() == 1, format!("{task:?}"))?;
    let reports = drive(&engine, 1);
    check(
        reports[0].intercepted_by() == Some(suite.runner.as_str()) && reports[0].spawned(),
        render_history(&reports),
    )?;
    assert_history(
        &format!(
            "an_unwritable_log_after_a_pass_falls_back_to_the_llm-unsandboxed-{}",
            suite.stage
        ),
        &reports,
    )?;
    let outcomes = outcomes(&engine, task);
    check(
        outcomes.first() == Some(&suite.run("fallback"))
            && outcomes.len() == 2
            && outcomes[1].starts_with(&format!("{} llm", suite.llm)),
        format!("{outcomes:?}"),
    )
}

/// TC-10: a suite that ran and failed never falls back, even when the runner
/// is otherwise unable to serve the job the way it wanted.
fn a_failed_suite_never_falls_back(suite: Suite) -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = suite.repo(&h, &engine, "api", "exit 1");
    let task = suite.task(&engine, repo);
    let reports = drive(&engine, 1);
    check(
        !reports[0].spawned(),
        "the LLM was asked after a FAILED suite",
    )?;
    check(h.agent_calls().is_empty(), format!("{:?}", h.agent_calls()))?;
    check(
        stages(&engine, task) == suite.to("development"),
        format!("{:?}", stages(&engine, task)),
    )
}

/// A test intercept: claims the LLM role's jobs of its suite and writes
/// FAILED.
struct FirstInLine(Suite);

impl Intercept for FirstInLine {
    fn name(&self) -> &'static str {
        "first-in-line"
    }
    fn claims(&self, ctx: &JobContext, _config: &LauncherConfig) -> bool {
        ctx.role == self.0.llm
    }
    fn run(
        &self,
        ctx: &JobContext,
        _config: &LauncherConfig,
        _control: &RunControl,
    ) -> Intercepted {
        fs::write(&ctx.artifact, format!("{}: FAILED\n", self.0.key)).unwrap();
        Intercepted::Served(Launch::Ran {
            record: RunRecord {
                role: ctx.role,
                transport: Transport::Deterministic,
                started: std::time::SystemTime::now(),
                duration: Duration::ZERO,
                exit_code: None,
                outcome: RunOutcome::Failed,
                usage: orch_launcher::usage::Usage::default(),
                detail: "test".into(),
                sandbox: None,
            },
            alert: None,
        })
    }
}

/// TC-12: intercepts are consulted in order; the first that claims runs.
fn intercepts_are_consulted_in_order(suite: Suite) -> Result<(), Failed> {
    let h = Harness::new();
    let mut intercepts: Vec<Box<dyn Intercept>> = vec![Box::new(FirstInLine(suite))];
    intercepts.extend(reserved::default_intercepts());
    let engine = h.engine().with_intercepts(intercepts);
    let repo = suite.repo(&h, &engine, "api", "exit 0");
    let task = suite.task(&engine, repo);
    let reports = drive(&engine, 1);
    check(
        reports[0].intercepted_by() == Some("first-in-line"),
        render_history(&reports),
    )?;
    assert_history(
        &format!("intercepts_are_consulted_in_order-{}", suite.stage),
        &reports,
    )?;
    check(
        stages(&engine, task) == suite.to("development"),
        format!("{:?}", stages(&engine, task)),
    )
}

/// TC-11 (with TC-18): the LLM role's prompt and the runner name the same
/// command, the repository's record.
fn the_prompt_and_the_runner_name_the_same_command(suite: Suite) -> Result<(), Failed> {
    let h = Harness::new();
    let command = "make staging-test ARGS='--fast'";
    let mut config = h.config.clone();
    suite.settings(&mut config).enabled = false;
    let engine = h.engine_with(config);
    let repo = suite.repo(&h, &engine, "api", command);
    suite.task(&engine, repo);
    drive(&engine, 1);
    let prompt = fs::read_to_string(h.state.join(format!("{}.1.prompt", suite.llm))).unwrap();
    check(prompt.contains(&format!("    {command}\n")), prompt.clone())?;
    if suite.stage == Stage::DeployStaging {
        check(
            prompt.contains("staging runner"),
            "deployer.md says the runner normally serves",
        )?;
    } else {
        check(prompt.contains("test runner"), prompt.clone())?;
    }
    // The runner runs exactly the record's command.
    let repo = engine.store().repo(repo).unwrap();
    let recorded = if suite.stage == Stage::Testing {
        repo.test_command.unwrap_or_default()
    } else {
        repo.staging_command
    };
    check(recorded == command, "one source of truth")
}

// --- the LLM transport ------------------------------------------------------

/// TC-13: one agent_runs row per run, with cost, tokens, prompt-cache tokens
/// and model parsed from the recorded outputs of Claude Code, Codex and
/// Gemini; a CLI without dollars is priced by its exact model, and Claude's
/// own cost is never re-priced.
fn agent_runs_carry_parsed_cost_and_tokens() -> Result<(), Failed> {
    /// What one fixture's run must record.
    struct Expected {
        fixture: &'static str,
        cost: Option<f64>,
        cache_read: Option<u64>,
        cache_write: Option<u64>,
        model: Option<&'static str>,
        /// `agent_runs.cost_source`: the CLI's figure or orch's estimate.
        source: Option<&'static str>,
    }
    let cases = [
        Expected {
            fixture: "claude-json-success.json",
            cost: Some(0.139_887_75),
            cache_read: Some(184_220),
            cache_write: Some(12_873),
            model: Some("claude-sonnet-4-5-20250929"),
            source: Some("reported"),
        },
        // No model named and no `*` price: no estimate.
        Expected {
            fixture: "codex-exec.jsonl",
            cost: None,
            cache_read: Some(41_216),
            cache_write: None,
            model: None,
            source: None,
        },
        Expected {
            fixture: "gemini-json.json",
            // (51333 - 31040) * 1 + 31040 * 0.1 + 1880 * 10, per million.
            cost: Some((20_293.0 + 3_104.0 + 18_800.0) / 1e6),
            cache_read: Some(31_040),
            cache_write: None,
            model: Some("gemini-2.5-pro"),
            source: Some("estimated"),
        },
    ];
    for Expected {
        fixture,
        cost,
        cache_read,
        cache_write,
        model,
        source,
    } in cases
    {
        let h = Harness::new();
        fs::copy(Path::new(OUTPUTS).join(fixture), h.state.join("stdout")).unwrap();
        let mut config = h.config.clone();
        config.agent.prices = vec![
            ModelPrice::new("gemini-2.5-pro", 1.0, 10.0, Some(0.1)),
            // Claude reported its cost: this price must not replace it.
            ModelPrice::new("claude-sonnet-4-5-20250929", 1000.0, 1000.0, None),
        ];
        let engine = h.engine_with(config);
        let repo = h.repo(&engine, "api", "true");
        let (task, _) = engine.create_task(repo, "analyse").unwrap();
        drive(&engine, 1);
        let runs = runs(&engine, task);
        check(runs.len() == 1, format!("{fixture}: {runs:?}"))?;
        let run = &runs[0];
        check(
            run.transport == Transport::Llm && run.role == Role::Analyst && run.outcome == "passed",
            format!("{fixture}: {run:?}"),
        )?;
        check(
            match (run.cost_usd, cost) {
                (Some(got), Some(want)) => (got - want).abs() < 1e-9,
                (None, None) => true,
                (Some(_), None) | (None, Some(_)) => false,
            },
            format!("{fixture}: cost {run:?}, want {cost:?}"),
        )?;
        check(
            run.tokens_in.is_some() && run.tokens_out.is_some(),
            format!("{fixture}: tokens {run:?}"),
        )?;
        check(
            (
                run.cache_read_tokens,
                run.cache_write_tokens,
                run.model.as_deref(),
            ) == (cache_read, cache_write, model),
            format!("{fixture}: cache tokens and model {run:?}"),
        )?;
        check(
            run.cost_source.as_deref() == source,
            format!("{fixture}: cost source {run:?}, want {source:?}"),
        )?;
    }
    Ok(())
}

/// TC-14: the spend ceiling stops any further agent and blocks the task.
fn the_spend_ceiling_blocks_the_task() -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    // The stand-in reports $0.01 a run: two runs reach the ceiling.
    config.task_budget_usd = Some(0.02);
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", "true");
    let (task, _) = engine.create_task(repo, "expensive").unwrap();
    let reports = drive(&engine, 10);
    check(reports.len() == 3, render_history(&reports))?;
    assert_history("the_spend_ceiling_blocks_the_task", &reports)?;
    check(
        matches!(
            reports[2].end,
            JobEndKind::Blocked {
                alert: orch_store::AlertKind::BudgetExhausted
            }
        ),
        format!("{:?}", reports[2]),
    )?;
    check(
        engine.spawn_count() == 2,
        "no agent started past the ceiling",
    )?;
    let t = engine.store().task(task).unwrap();
    check(t.status == TaskStatus::Blocked, format!("{t:?}"))?;
    let alerts = engine.store().open_alerts().unwrap();
    check(
        alerts
            .iter()
            .any(|a| a.kind == orch_store::AlertKind::BudgetExhausted),
        format!("{alerts:?}"),
    )?;
    // A restart does not reset the counter: a new engine on the same database
    // sees the same spend.
    let cost = h.engine().store().task_cost_usd(task).unwrap();
    check((cost - 0.02).abs() < 1e-9, format!("spent {cost}"))
}

/// TC-15: a spent developer budget ends in blocked with an alert.
fn a_spent_developer_budget_blocks_the_task() -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    config.developer_retries = 1;
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", "exit 1");
    let task = staging_task(&engine, repo);
    // staging FAILED → development → review → testing → staging FAILED → blocked.
    drive(&engine, 10);
    let t = engine.store().task(task).unwrap();
    check(
        t.status == TaskStatus::Blocked && t.stage == Stage::Blocked,
        format!("{t:?}"),
    )?;
    check(
        stages(&engine, task).last() == Some(&("deploy-staging".into(), "blocked".into())),
        format!("{:?}", stages(&engine, task)),
    )?;
    let alerts = engine.store().open_alerts().unwrap();
    check(
        alerts
            .iter()
            .any(|a| a.kind == orch_store::AlertKind::RetryBudgetSpent),
        format!("{alerts:?}"),
    )?;
    check(
        engine
            .store()
            .jobs_in_state(JobState::Queued, 10)
            .unwrap()
            .is_empty(),
        "no job after blocked",
    )
}

/// TC-16: a stale artifact from the previous round is never read.
fn a_stale_artifact_is_never_read() -> Result<(), Failed> {
    let h = Harness::new();
    // Round 1: review APPROVED, testing FAILED → development. Round 2: the
    // reviewer writes nothing; the old APPROVED must not be read.
    h.plan("reviewer APPROVED NOARTIFACT\ntester FAILED\n");
    let mut config = h.config.clone();
    config.developer_retries = 1;
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", "true");
    let (task, _) = engine
        .create_task_at(repo, "stale", Stage::Development)
        .unwrap();
    drive(&engine, 10);
    let transitions = engine.store().transitions(task).unwrap();
    // The second review: its gate found no artifact (and the retry budget of
    // 1 was spent by testing's rollback, so the task is blocked).
    let second = transitions
        .iter()
        .filter(|t| t.from_stage == Stage::Review)
        .nth(1)
        .ok_or_else(|| format!("no second review: {:?}", stages(&engine, task)))?;
    check(
        second.to_stage == Stage::Blocked,
        format!("{:?}", stages(&engine, task)),
    )?;
    check(
        second.decisions[0].verdict.is_none() && second.decisions[0].artifact_sha256.is_none(),
        format!("the gate read something: {:?}", second.decisions),
    )?;
    check(
        second.decisions[0].reason.contains("missing")
            || second.decisions[0].reason.contains("not written")
            || second.decisions[0].reason.contains("no artifact"),
        format!("{:?}", second.decisions[0].reason),
    )?;
    let attempts = h.config.task_dir(task.get()).join("attempts");
    let archived: Vec<PathBuf> = walk(&attempts)
        .into_iter()
        .filter(|path| path.ends_with("08-review.md"))
        .collect();
    check(
        archived.len() == 1,
        format!(
            "the first round's review is archived: {:?}",
            walk(&attempts)
        ),
    )
}

/// TC-50 (i21-engine): a reviewer that writes its artifact with no valid
/// verdict line runs again as the reviewer, not charged to the developer.
fn tc50d_a_missing_verdict_line_reruns_the_same_role() -> Result<(), Failed> {
    let h = Harness::new();
    h.plan("reviewer GARBLED APPROVED\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "api", "true");
    let (task, _) = engine
        .create_task_at(repo, "forgetful", Stage::Review)
        .unwrap();
    let reports = drive(&engine, 2);
    check(
        matches!(reports[0].end, JobEndKind::Deferred { retry_in } if retry_in == Duration::ZERO),
        format!("{reports:?}"),
    )?;
    check(
        stages(&engine, task) == [("review".to_owned(), "testing".to_owned())],
        format!("{:?}", stages(&engine, task)),
    )?;
    let t = engine.store().task(task).unwrap();
    check(t.developer_retries == 0, format!("{t:?}"))?;
    check(
        h.agent_calls()
            .iter()
            .filter(|c| c.starts_with("reviewer "))
            .count()
            == 2
            && !h.agent_calls().iter().any(|c| c.starts_with("developer ")),
        format!("{:?}", h.agent_calls()),
    )
}

/// TC-51 (i21-engine): past `ORCH_VERDICT_RETRIES` the task is blocked with
/// a `verdict_missing` alert naming the bound, never rolled back.
fn tc51d_a_verdict_line_missing_past_the_bound_blocks() -> Result<(), Failed> {
    let h = Harness::new();
    h.plan("reviewer GARBLED\n");
    let mut config = h.config.clone();
    config.agent.verdict_retries = 1;
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", "true");
    let (task, _) = engine
        .create_task_at(repo, "forgetful", Stage::Review)
        .unwrap();
    let reports = drive(&engine, 5);
    check(reports.len() == 2, format!("{reports:?}"))?;
    check(
        stages(&engine, task) == [("review".to_owned(), "blocked".to_owned())],
        format!("{:?}", stages(&engine, task)),
    )?;
    let t = engine.store().task(task).unwrap();
    check(
        t.status == TaskStatus::Blocked && t.developer_retries == 0,
        format!("{t:?}"),
    )?;
    let alerts = engine.store().open_alerts().unwrap();
    check(
        alerts.iter().any(|a| {
            a.kind == orch_store::AlertKind::VerdictMissing
                && a.task == Some(task)
                && a.message.contains("ORCH_VERDICT_RETRIES=1")
        }),
        format!("{alerts:?}"),
    )
}

/// TC-52 (i21-engine): a task's open alerts resolve when it moves on: a
/// staging timeout's alert stays open through the rollback, and is
/// resolved once staging passes.
fn tc52d_a_tasks_alerts_resolve_when_it_moves_on() -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    config.staging_runner.timeout = Duration::from_millis(500);
    let engine = h.engine_with(config);
    // The first run times out; the next passes.
    let repo = h.repo(
        &engine,
        "api",
        "if [ -f .seen ]; then exit 0; fi; touch .seen; sleep 30",
    );
    let task = staging_task(&engine, repo);
    drive(&engine, 1);
    let open = engine.store().open_alerts().unwrap();
    check(
        open.iter()
            .any(|a| a.kind == orch_store::AlertKind::SuiteTimedOut && a.task == Some(task)),
        format!("raised at the rollback: {open:?}"),
    )?;
    // development → review → testing → staging (passes) → deploy.
    drive(&engine, 4);
    check(
        stages(&engine, task).last() == Some(&("deploy-staging".into(), "deploy".into())),
        format!("{:?}", stages(&engine, task)),
    )?;
    let open = engine.store().open_alerts().unwrap();
    check(
        !open.iter().any(|a| a.task == Some(task)),
        format!("resolved once the task moved on: {open:?}"),
    )
}

/// TC-53 (i21-engine): the shadow runner's tool error (exit 127) is alerted
/// once per repository while the alert is open, and never changes what the
/// LLM decided.
fn tc53d_a_shadow_tool_error_is_alerted_once_per_repository() -> Result<(), Failed> {
    let (_h, engine, first) = shadow_job("carg test", "PASSED", |_| {});
    check(
        stages(&engine, first) == TESTING.to("deploy-staging"),
        format!("the LLM decides: {:?}", stages(&engine, first)),
    )?;
    let repo = engine.store().task(first).unwrap().repo;
    let second = TESTING.task(&engine, repo);
    // Both tasks to their end (the queue's order between them is its own).
    drive(&engine, 10);
    let pairs = engine.store().shadow_verdicts(second).unwrap();
    check(
        pairs.len() == 1 && pairs[0].runner_verdict.is_none(),
        format!(
            "{pairs:?} {:?} {:?} {:?}",
            stages(&engine, second),
            outcomes(&engine, first),
            outcomes(&engine, second)
        ),
    )?;
    let shadow: Vec<_> = engine
        .store()
        .open_alerts()
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == orch_store::AlertKind::ShadowRunnerUnavailable)
        .collect();
    check(
        shadow.len() == 1,
        format!("once per repository: {shadow:?}"),
    )?;
    check(
        shadow[0].message.contains("repository api")
            && shadow[0].message.contains("127")
            && shadow[0].message.contains("orch repo check api"),
        shadow[0].message.clone(),
    )
}

/// TC-54 (i21-engine): a shadow disagreement is told in the job's report
/// (the serve log's line) and in the task's view.
fn tc54d_a_shadow_disagreement_is_reported_and_shown() -> Result<(), Failed> {
    let h = Harness::new();
    h.plan("tester PASSED\n");
    let mut config = h.config.clone();
    config.test_runner.mode = RunnerMode::Shadow;
    let engine = h.engine_with(config);
    let repo = TESTING.repo(&h, &engine, "api", "exit 1");
    let task = TESTING.task(&engine, repo);
    let reports = drive(&engine, 1);
    let said = reports[0].shadow_disagreement.clone().unwrap_or_default();
    check(
        said.starts_with("shadow disagreement: test-runner FAILED, tester PASSED")
            && said.contains("the runner's second run: FAILED"),
        format!("{reports:?}"),
    )?;
    let view =
        orch_launcher::views::TaskView::load(&engine.store(), &h.config.home, task.get()).unwrap();
    let json = serde_json::to_value(&view).unwrap();
    check(
        json["shadow"][0]["agree"] == false
            && json["shadow"][0]["runner_verdict"] == "FAILED"
            && json["shadow"][0]["llm_verdict"] == "PASSED",
        format!("{json}"),
    )?;
    // An agreeing pair says nothing.
    let h = Harness::new();
    h.plan("tester PASSED\n");
    let mut config = h.config.clone();
    config.test_runner.mode = RunnerMode::Shadow;
    let engine = h.engine_with(config);
    let repo = TESTING.repo(&h, &engine, "api", "exit 0");
    TESTING.task(&engine, repo);
    let reports = drive(&engine, 1);
    check(
        reports[0].shadow_disagreement.is_none(),
        format!("{reports:?}"),
    )
}

/// TC-55 (i21-engine): `repo check` of a folder that is not a git
/// repository runs in a copy (the folder is never written, the copy is
/// removed), and a blank staging command (a row from before `repo add`
/// refused one) is reported as one that cannot run.
fn tc55d_repo_check_of_a_plain_folder_runs_in_a_copy() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let mut repo = NewRepo::new("plain", h.checkout.to_str().unwrap(), "  ");
    repo.test_command = Some("echo ran > written.txt && cat written.txt".into());
    let id = engine.store().add_repo(&repo).unwrap();
    let repo = engine.store().repo(id).unwrap();
    let report = orch_launcher::repo_check::check_repo(&repo, &h.config).unwrap();
    check(
        report.tree == "copy" && report.commit.is_none(),
        format!("{report:?}"),
    )?;
    let outcomes: Vec<(&str, &str)> = report
        .commands
        .iter()
        .map(|c| (c.name, c.outcome))
        .collect();
    check(
        outcomes == [("test", "passed"), ("staging", "cannot_run")] && !report.passed,
        format!("{report:?}"),
    )?;
    check(
        report.commands[1]
            .detail
            .contains("orch repo update plain --staging-cmd"),
        format!("{report:?}"),
    )?;
    check(
        !h.checkout.join("written.txt").exists(),
        "the folder itself was written",
    )?;
    let left: Vec<_> = fs::read_dir(h.config.home.join("checks"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    check(left.is_empty(), format!("the copy was left: {left:?}"))
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

// --- the task's life --------------------------------------------------------

/// TC-17: a poison job blocks its task with an alert.
fn a_poison_job_blocks_its_task() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "api", "true");
    let (task, _) = engine.create_task(repo, "crashy").unwrap();
    // A worker of another boot claims the job and dies, three times.
    for _ in 0..3 {
        let store = engine.store();
        let dead = LeaseOwner::new("boot-dead", "worker-9");
        store
            .claim(&dead, Duration::from_secs(60))
            .unwrap()
            .unwrap();
        store.rescue_other_boots("boot-test").unwrap();
    }
    let t = engine.store().task(task).unwrap();
    check(t.status == TaskStatus::Blocked, format!("{t:?}"))?;
    let alerts = engine.store().open_alerts().unwrap();
    check(
        alerts
            .iter()
            .any(|a| a.kind == orch_store::AlertKind::PoisonJob && a.task == Some(task)),
        format!("{alerts:?}"),
    )?;
    check(
        drive(&engine, 5).is_empty(),
        "nothing runs for a blocked task",
    )
}

/// TC-19: with the switch off, the recorded sequence is exactly the plain
/// LLM path's (an engine without the suite runner at all).
fn switch_off_records_exactly_the_llm_sequence(suite: Suite) -> Result<(), Failed> {
    let sequence = |engine: &Engine, task: TaskId| {
        let transitions = stages(engine, task);
        let runs: Vec<String> = runs(engine, task)
            .into_iter()
            .map(|r| format!("{} {} {} {}", r.role, r.stage, r.transport, r.outcome))
            .collect();
        (transitions, runs)
    };
    let plan = format!("{} FAILED PASSED\n", suite.llm);
    let off = {
        let h = Harness::new();
        h.plan(&plan);
        let mut config = h.config.clone();
        suite.settings(&mut config).enabled = false;
        let engine = h.engine_with(config);
        let repo = suite.repo(&h, &engine, "api", "exit 1");
        let task = suite.task(&engine, repo);
        drive(&engine, 20);
        sequence(&engine, task)
    };
    let plain = {
        let h = Harness::new();
        h.plan(&plan);
        // Every reserved agent but this suite's runner.
        let intercepts: Vec<Box<dyn Intercept>> = reserved::default_intercepts()
            .into_iter()
            .filter(|i| i.name() != suite.runner.as_str())
            .collect();
        let engine = h.engine().with_intercepts(intercepts);
        let repo = suite.repo(&h, &engine, "api", "exit 1");
        let task = suite.task(&engine, repo);
        drive(&engine, 20);
        sequence(&engine, task)
    };
    check(
        off == plain,
        format!("switch off: {off:?}\nplain LLM: {plain:?}"),
    )?;
    check(
        off.1
            .iter()
            .any(|r| r.starts_with(&format!("{} {} llm", suite.llm, suite.stage))),
        format!("{off:?}"),
    )
}

// --- the test runner: no command, modes, shadow ------------------------------

/// A repository without a test command is the LLM tester's, in every mode:
/// the runner claims nothing and records nothing.
fn no_test_command_is_the_llm_tester() -> Result<(), Failed> {
    for mode in RunnerMode::ALL {
        let h = Harness::new();
        let mut config = h.config.clone();
        config.test_runner.mode = mode;
        let engine = h.engine_with(config);
        let repo = h.repo(&engine, "api", "true");
        let task = TESTING.task(&engine, repo);
        let reports = drive(&engine, 1);
        check(
            reports[0].spawned() && reports[0].intercepted_by().is_none(),
            format!("{mode}: {reports:?}"),
        )?;
        check(
            outcomes(&engine, task) == ["tester llm passed"],
            format!("{mode}: {:?}", outcomes(&engine, task)),
        )?;
    }
    Ok(())
}

/// Mode `off` leaves the LLM tester alone, with a test command and the
/// switch on.
fn mode_off_is_the_llm_tester() -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    config.test_runner.mode = RunnerMode::Off;
    let engine = h.engine_with(config);
    let repo = TESTING.repo(&h, &engine, "api", "exit 1");
    let task = TESTING.task(&engine, repo);
    drive(&engine, 1);
    check(
        outcomes(&engine, task) == ["tester llm passed"],
        format!("{:?}", outcomes(&engine, task)),
    )?;
    check(
        engine.store().shadow_verdicts(task).unwrap().is_empty(),
        "no shadow pair",
    )
}

/// One shadow-mode testing job: the test command, the LLM tester's verdict,
/// and the config changed by `tune`; returns the harness, engine and task.
fn shadow_job(
    command: &str,
    llm: &str,
    tune: impl FnOnce(&mut LauncherConfig),
) -> (Harness, Engine, TaskId) {
    let h = Harness::new();
    h.plan(&format!("tester {llm}\n"));
    let mut config = h.config.clone();
    config.test_runner.mode = RunnerMode::Shadow;
    tune(&mut config);
    let engine = h.engine_with(config);
    let repo = TESTING.repo(&h, &engine, "api", command);
    let task = TESTING.task(&engine, repo);
    drive(&engine, 1);
    (h, engine, task)
}

/// Shadow mode: the LLM decides, the runner's verdict is recorded beside it,
/// and disagreement is counted both ways.
fn shadow_mode_records_both_verdicts_and_the_llm_decides() -> Result<(), Failed> {
    for (command, llm, runner_verdict, to, counted) in [
        ("exit 0", "PASSED", "PASSED", "deploy-staging", "agree"),
        (
            "exit 1",
            "PASSED",
            "FAILED",
            "deploy-staging",
            "runner_only_failed",
        ),
        (
            "exit 0",
            "FAILED",
            "PASSED",
            "development",
            "llm_only_failed",
        ),
        ("exit 1", "FAILED", "FAILED", "development", "agree"),
    ] {
        let case = format!("suite `{command}`, LLM {llm}");
        let (h, engine, task) = shadow_job(command, llm, |_| {});
        check(
            stages(&engine, task) == TESTING.to(to),
            format!("{case}: the LLM decides: {:?}", stages(&engine, task)),
        )?;
        // The stand-in exits 0 whatever verdict it writes: its run passed.
        let runner_outcome = if runner_verdict == "PASSED" {
            "passed"
        } else {
            "failed"
        };
        // A disagreement: the runner runs once more on the same commit; a
        // stable suite gives the same verdict again.
        let disagree = runner_verdict != llm;
        let mut expected = vec![TESTING.run(runner_outcome)];
        if disagree {
            expected.push(TESTING.run(runner_outcome));
        }
        expected.push("tester llm passed".to_owned());
        check(
            outcomes(&engine, task) == expected,
            format!("{case}: {:?}", outcomes(&engine, task)),
        )?;
        let pairs = engine.store().shadow_verdicts(task).unwrap();
        let runs = runs(&engine, task);
        check(pairs.len() == 1, format!("{case}: {pairs:?}"))?;
        let pair = &pairs[0];
        check(
            pair.runner_verdict.as_deref() == Some(runner_verdict)
                && pair.llm_verdict == llm
                && pair.runner_run == runs[0].id
                && pair.llm_run == Some(runs[runs.len() - 1].id)
                && pair.stage == Stage::Testing
                && pair.command_sha == Some(orch_store::command_sha256(command))
                && pair.rerun_verdict.as_deref() == disagree.then_some(runner_verdict),
            format!("{case}: {pair:?}"),
        )?;
        // The gate read the LLM's artifact, never the sidecar.
        let dir = h.config.task_dir(task.get());
        let sidecar = fs::read_to_string(dir.join("10-test-report.shadow.md")).unwrap();
        check(
            sidecar.starts_with(&format!("# Test report\n\ntest_status: {runner_verdict}\n")),
            format!("{case}: {sidecar}"),
        )?;
        let artifact = TESTING.log(&h, task);
        check(
            artifact.contains("scripted stand-in")
                && artifact.contains(&format!("test_status: {llm}")),
            format!("{case}: {artifact}"),
        )?;
        let agreement = engine.store().shadow_agreement(Stage::Testing).unwrap();
        let n = match counted {
            "agree" => agreement.agree,
            "runner_only_failed" => agreement.runner_only_failed,
            _ => agreement.llm_only_failed,
        };
        check(
            agreement.runs == 1 && n == 1,
            format!("{case}: {agreement:?}"),
        )?;
        let snapshot = engine.store().queue_snapshot(5).unwrap();
        check(
            snapshot.test_runner_agreement == agreement
                && snapshot.test_runner.runs == if disagree { 2 } else { 1 },
            format!("{case}: {snapshot:?}"),
        )?;
    }
    Ok(())
}

/// Shadow mode with a flaky suite (a real one: it fails, then passes, then
/// fails, by a counter file): a disagreement makes the runner run once more
/// on the same commit; the two runner verdicts differ, so the pair is
/// flaky and out of the evidence's every cell. A pair that agrees is not
/// run again.
fn a_flaky_suite_is_run_again_on_a_disagreement_and_counted_apart() -> Result<(), Failed> {
    let counter_dir = tempfile::tempdir().unwrap();
    let counter = counter_dir.path().join("runs");
    // Odd runs (the 1st, 3rd, ...) fail, even ones pass.
    let command = format!(
        "n=$(cat '{c}' 2>/dev/null || echo 0); echo $((n + 1)) > '{c}'; [ $((n % 2)) -eq 1 ]",
        c = counter.display()
    );
    // The counter lives outside the worktree, where the sandbox would not
    // let the suite write.
    let unsandboxed = |config: &mut LauncherConfig| config.sandbox.mode = SandboxMode::Off;
    let (_h, engine, task) = shadow_job(&command, "PASSED", unsandboxed);
    check(
        stages(&engine, task) == TESTING.to("deploy-staging"),
        format!("the LLM decides: {:?}", stages(&engine, task)),
    )?;
    check(
        outcomes(&engine, task)
            == [
                TESTING.run("failed"),
                TESTING.run("passed"),
                "tester llm passed".to_owned(),
            ],
        format!("{:?}", outcomes(&engine, task)),
    )?;
    check(
        fs::read_to_string(&counter).unwrap().trim() == "2",
        "the suite ran twice",
    )?;
    let pairs = engine.store().shadow_verdicts(task).unwrap();
    check(
        pairs.len() == 1
            && pairs[0].runner_verdict.as_deref() == Some("FAILED")
            && pairs[0].rerun_verdict.as_deref() == Some("PASSED"),
        format!("{pairs:?}"),
    )?;
    let evidence = engine.store().shadow_evidence(Stage::Testing).unwrap();
    check(
        evidence.len() == 1
            && evidence[0].flaky == 1
            && evidence[0].both_passed
                + evidence[0].both_failed
                + evidence[0].runner_only_failed
                + evidence[0].llm_only_failed
                == 0,
        format!("{evidence:?}"),
    )?;
    // The next run fails (the 3rd) and the LLM says FAILED too: they agree,
    // nothing runs again.
    let (_h, engine, task) = shadow_job(&command, "FAILED", unsandboxed);
    check(
        outcomes(&engine, task) == [TESTING.run("failed"), "tester llm passed".to_owned()],
        format!("{:?}", outcomes(&engine, task)),
    )?;
    let pairs = engine.store().shadow_verdicts(task).unwrap();
    check(
        pairs.len() == 1 && pairs[0].rerun_verdict.is_none(),
        format!("{pairs:?}"),
    )?;
    check(
        fs::read_to_string(&counter).unwrap().trim() == "3",
        "the suite ran once more",
    )?;
    Ok(())
}

/// Shadow mode: a broken or hostile test command — missing, hanging past
/// its timeout, killing its own supervisor, leaving a daemon — never changes
/// the LLM's outcome: the task moves exactly as with the runner off, no job
/// is deferred, and the pair records what the runner saw.
fn a_broken_runner_in_shadow_mode_never_changes_the_llm_outcome() -> Result<(), Failed> {
    let baseline = {
        let h = Harness::new();
        h.plan("tester FAILED\n");
        let mut config = h.config.clone();
        config.test_runner.mode = RunnerMode::Off;
        let engine = h.engine_with(config);
        let repo = TESTING.repo(&h, &engine, "api", "true");
        let task = TESTING.task(&engine, repo);
        drive(&engine, 1);
        (stages(&engine, task), outcomes(&engine, task))
    };
    let (baseline, llm) = baseline;
    for (command, verdict) in [
        ("definitely-not-a-program-here", None),
        ("sleep 30", Some("FAILED")),
        ("kill -9 $PPID; sleep 5", None),
        ("(setsid sleep 30 &) ; exit 0", Some("PASSED")),
    ] {
        let (_h, engine, task) = shadow_job(command, "FAILED", |config| {
            config.test_runner.timeout = Duration::from_millis(400);
        });
        check(
            stages(&engine, task) == baseline,
            format!(
                "`{command}`: {:?} instead of {baseline:?}",
                stages(&engine, task)
            ),
        )?;
        let outcomes = outcomes(&engine, task);
        // A runner that PASSED disagrees with the LLM's FAILED: it runs once
        // more (and passes again).
        let runner_runs = if verdict == Some("PASSED") { 2 } else { 1 };
        check(
            outcomes.len() == runner_runs + 1 && outcomes[runner_runs..] == llm[..],
            format!("`{command}`: {outcomes:?}, with the runner off {llm:?}"),
        )?;
        let pairs = engine.store().shadow_verdicts(task).unwrap();
        check(
            pairs.len() == 1 && pairs[0].runner_verdict.as_deref() == verdict,
            format!("`{command}`: {pairs:?} {outcomes:?}"),
        )?;
        check(
            engine
                .store()
                .jobs_in_state(JobState::Queued, 5)
                .unwrap()
                .iter()
                .all(|j| j.infra_attempts == 0),
            format!("`{command}`: a shadow run deferred the job"),
        )?;
    }
    Ok(())
}

/// A shadow runner that panics: caught, recorded without a verdict, and the
/// LLM decides.
struct PanickingShadow;

impl Intercept for PanickingShadow {
    fn name(&self) -> &'static str {
        "test-runner"
    }
    fn claims(&self, _ctx: &JobContext, _config: &LauncherConfig) -> bool {
        false
    }
    fn run(&self, _: &JobContext, _: &LauncherConfig, _: &RunControl) -> Intercepted {
        unreachable!("never claims")
    }
    fn shadows(&self, ctx: &JobContext, _config: &LauncherConfig) -> bool {
        ctx.role == Role::Tester
    }
    fn shadow(
        &self,
        _ctx: &JobContext,
        _config: &LauncherConfig,
        _control: &RunControl,
    ) -> Option<ShadowRun> {
        #[expect(
            clippy::panic,
            reason = "the bug under test: a shadow runner that panics"
        )]
        {
            panic!("a bug in the shadow runner")
        }
    }
}

fn a_panicking_shadow_runner_never_changes_the_llm_outcome() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine().with_intercepts(vec![Box::new(PanickingShadow)]);
    let repo = h.repo(&engine, "api", "true");
    let task = TESTING.task(&engine, repo);
    let reports = drive(&engine, 1);
    check(reports[0].spawned(), render_history(&reports))?;
    assert_history(
        "a_panicking_shadow_runner_never_changes_the_llm_outcome",
        &reports,
    )?;
    check(
        stages(&engine, task) == TESTING.to("deploy-staging"),
        format!("{:?}", stages(&engine, task)),
    )?;
    check(
        outcomes(&engine, task) == ["test-runner deterministic tool_error", "tester llm passed"],
        format!("{:?}", outcomes(&engine, task)),
    )?;
    let pairs = engine.store().shadow_verdicts(task).unwrap();
    check(
        pairs.len() == 1 && pairs[0].runner_verdict.is_none() && pairs[0].llm_verdict == "PASSED",
        format!("{pairs:?}"),
    )?;
    let agreement = engine.store().shadow_agreement(Stage::Testing).unwrap();
    check(
        agreement.runner_no_verdict == 1 && agreement.runs == 1,
        format!("{agreement:?}"),
    )
}

/// TC-26: the kill-switch off beats any mode: no run, no shadow.
fn a_kill_switch_beats_the_mode(suite: Suite) -> Result<(), Failed> {
    for mode in RunnerMode::ALL {
        let h = Harness::new();
        let mut config = h.config.clone();
        let settings = suite.settings(&mut config);
        settings.enabled = false;
        settings.mode = mode;
        let engine = h.engine_with(config);
        let repo = suite.repo(&h, &engine, "api", "exit 1");
        let task = suite.task(&engine, repo);
        drive(&engine, 1);
        check(
            outcomes(&engine, task) == [format!("{} llm passed", suite.llm)],
            format!("{mode}: {:?}", outcomes(&engine, task)),
        )?;
        check(
            engine.store().shadow_verdicts(task).unwrap().is_empty(),
            format!("{mode}: a shadow ran"),
        )?;
    }
    Ok(())
}

/// TC-20: a repository with nothing to deploy or probe passes those stages
/// explicitly: `skipped`, and the artifacts say why.
fn nothing_to_deploy_is_skipped_explicitly() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = engine
        .store()
        .add_repo(&NewRepo::new("lib", h.checkout.to_str().unwrap(), "true"))
        .unwrap();
    let (task, _) = engine
        .create_task_at(repo, "release", Stage::Deploy)
        .unwrap();
    drive(&engine, 5);
    let t = engine.store().task(task).unwrap();
    check(t.status == TaskStatus::Done, format!("{t:?}"))?;
    check(
        outcomes(&engine, task)
            == [
                "deploy-finalizer deterministic skipped",
                "post-deploy-monitor deterministic skipped",
            ],
        format!("{:?}", outcomes(&engine, task)),
    )?;
    let dir = h.config.task_dir(task.get());
    let deploy = fs::read_to_string(dir.join("17-deploy-log.md")).unwrap();
    check(deploy.contains("nothing was deployed"), deploy.clone())?;
    let health = fs::read_to_string(dir.join("19-post-deploy.md")).unwrap();
    check(health.contains("nothing was probed"), health)
}

/// TC-21: a task through every stage to done, the staging runner running
/// the real suite; every stage's role, in order, and the env contract.
fn a_task_goes_through_every_stage() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "api", "test -d .");
    let (task, _) = engine.create_task(repo, "whole pipeline").unwrap();
    let reports = drive(&engine, 20);
    check(reports.len() == 8, render_history(&reports))?;
    assert_history("a_task_goes_through_every_stage", &reports)?;
    let t = engine.store().task(task).unwrap();
    check(
        t.status == TaskStatus::Done && t.stage == Stage::Done,
        format!("{t:?}"),
    )?;
    check(
        h.agent_calls()
            == [
                "analyst analysis",
                "architect architecture",
                "developer development",
                "reviewer review",
                "tester testing",
            ],
        format!("{:?}", h.agent_calls()),
    )?;
    check(
        outcomes(&engine, task)
            == [
                "analyst llm passed",
                "architect llm passed",
                "developer llm passed",
                "reviewer llm passed",
                "tester llm passed",
                "staging-runner deterministic passed",
                "deploy-finalizer deterministic passed",
                "post-deploy-monitor deterministic passed",
            ],
        format!("{:?}", outcomes(&engine, task)),
    )?;
    // The prompt carries the task context.
    let prompt = fs::read_to_string(h.state.join("developer.1.prompt")).unwrap();
    check(
        prompt.contains("whole pipeline")
            && prompt.contains("05-development.md")
            && prompt.contains("01-analysis.md"),
        prompt,
    )
}

/// A stop cancels a running agent and gives the job back to the queue.
/// TC-34: an agent CLI that is not installed (its shell exits 127, as with
/// the default `claude` on a machine without it) is deferred, then the task
/// is blocked with `agent_unavailable` naming the command; no developer
/// retry is spent and no stage "fails".
fn an_agent_cli_that_is_not_installed_is_unavailable_not_a_failure() -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    config.agent.command = "no-such-agent-cli -p".to_owned();
    config.agent.retry.retries = 1;
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", "true");
    let (task, _) = engine.create_task(repo, "no agent").unwrap();
    let reports = drive(&engine, 5);
    check(
        matches!(
            reports.first().map(|r| &r.end),
            Some(JobEndKind::Deferred { .. })
        ),
        format!("{reports:#?}"),
    )?;
    check(
        matches!(
            reports.last().map(|r| &r.end),
            Some(JobEndKind::Blocked {
                alert: orch_store::AlertKind::AgentUnavailable
            })
        ),
        format!("{reports:#?}"),
    )?;
    let t = engine.store().task(task).unwrap();
    check(
        t.status == TaskStatus::Blocked && t.developer_retries == 0,
        format!("{t:?}"),
    )?;
    let alerts = engine.store().open_alerts().unwrap();
    check(
        alerts.iter().any(|a| {
            a.kind == orch_store::AlertKind::AgentUnavailable
                && a.message.contains("no-such-agent-cli")
                && a.message.contains("not found")
                && a.message.contains(&format!("orch task retry {task}"))
        }),
        format!("{alerts:?}"),
    )
}

fn a_stop_cancels_the_run_and_releases_the_job() -> Result<(), Failed> {
    let h = Harness::new();
    h.plan("analyst SLEEP\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "api", "true");
    let (task, job) = engine.create_task(repo, "slow").unwrap();
    let stop = StopSignal::default();
    let stopper = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        stopper.stop();
    });
    let t0 = Instant::now();
    let report = engine.run_next(&stop).unwrap().unwrap();
    check(
        t0.elapsed() < Duration::from_secs(20),
        "the stop was not seen",
    )?;
    check(report.end == JobEndKind::Released, format!("{report:?}"))?;
    let job = engine.store().job(job).unwrap();
    check(
        job.state == JobState::Queued && job.attempts == 0,
        format!("{job:?}"),
    )?;
    check(stages(&engine, task).is_empty(), "no transition")
}

/// Issue 20: durations too long for the clock (an embedder's settings; the
/// binary refuses them) neither panic nor kill the worker: the probes of a
/// post-deploy window that never ends wait, the heartbeat of a lease that
/// never ends still beats, and a stop ends the run.
fn durations_past_the_clock_wait_and_stop_without_a_panic() -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    config.post_deploy.window = Duration::MAX;
    config.post_deploy.probes = 2;
    config.lease = Duration::MAX;
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", "true");
    let (task, job) = engine
        .create_task_at(repo, "watch forever", Stage::PostDeploy)
        .unwrap();
    let stop = StopSignal::default();
    let stopper = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        stopper.stop();
    });
    let report = engine.run_next(&stop).unwrap().unwrap();
    check(report.end == JobEndKind::Released, format!("{report:?}"))?;
    let job = engine.store().job(job).unwrap();
    check(job.state == JobState::Queued, format!("{job:?}"))?;
    check(stages(&engine, task).is_empty(), "no transition")
}

/// TC-32: an operator's cancel, asked on another connection (as `orch task
/// cancel` does from its own process), is seen by the heartbeat: the run's
/// tree ends, the half-written artifact is archived, and the task is blocked
/// with reason `cancelled` in one transaction with the run's row.
fn an_operators_cancel_ends_the_run_and_blocks_the_task() -> Result<(), Failed> {
    let h = Harness::new();
    h.plan("analyst HALF\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "api", "true");
    let (task, job) = engine.create_task(repo, "cancel me").unwrap();
    let db = h.db.clone();
    let artifact = h.config.task_dir(task.get()).join("01-analysis.md");
    // The agent writes its artifact in its run's output folder; orch takes
    // it into the task folder when the run ends.
    let watched = h
        .config
        .home
        .join(format!("runs/job-{}/out/01-analysis.md", job.get()));
    let asker = std::thread::spawn(move || {
        let operator = Store::open(&db).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !watched.is_file() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        operator.request_cancel(task).unwrap()
    });
    let t0 = Instant::now();
    let report = engine.run_next(&StopSignal::default()).unwrap().unwrap();
    let asked = asker.join().unwrap();
    check(
        matches!(asked, orch_store::CancelRequest::Requested { job: j, .. } if j == job),
        format!("{asked:?}"),
    )?;
    check(
        t0.elapsed() < Duration::from_secs(20),
        "the cancel was not seen",
    )?;
    check(
        report.end
            == JobEndKind::Blocked {
                alert: orch_store::AlertKind::Cancelled,
            },
        format!("{report:?}"),
    )?;
    check(!artifact.exists(), "the half-written artifact was kept")?;
    check(
        h.config
            .task_dir(task.get())
            .join("attempts/1/01-analysis.md")
            .is_file(),
        "the half-written artifact was not archived",
    )?;
    let store = engine.store();
    let t = store.task(task).unwrap();
    check(t.status == TaskStatus::Blocked, format!("{t:?}"))?;
    let last = store.transitions(task).unwrap().pop().unwrap();
    check(
        last.actor == Some(orch_store::Actor::Operator)
            && last.reason.as_deref() == Some("cancelled"),
        format!("{last:?}"),
    )?;
    check(
        store.job(job).unwrap().state == JobState::Failed,
        "the job ended failed",
    )?;
    let runs = store.agent_runs(task).unwrap();
    check(
        runs.len() == 1 && runs[0].outcome == "cancelled",
        format!("{runs:?}"),
    )
}

/// TC-33: `operator::retry` puts a blocked task back at the stage it was
/// blocked at, and it runs on to the end.
fn a_retried_task_resumes_where_it_stopped() -> Result<(), Failed> {
    let h = Harness::new();
    h.plan("tester FAILED PASSED\n");
    let mut config = h.config.clone();
    config.developer_retries = 0;
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", "true");
    let (task, _) = engine
        .create_task_at(repo, "flaky", Stage::Testing)
        .unwrap();
    drive(&engine, 5);
    let status = engine.store().task(task).unwrap().status;
    check(
        status == TaskStatus::Blocked,
        format!("{:?}", stages(&engine, task)),
    )?;
    let (stage, retried) = {
        let store = engine.store();
        orch_launcher::operator::retry(&store, task, None, "the tester was flaky", false).unwrap()
    };
    check(stage == Stage::Testing, format!("{stage}"))?;
    check(retried.from_stage == Stage::Blocked, format!("{retried:?}"))?;
    drive(&engine, 10);
    let t = engine.store().task(task).unwrap();
    check(
        t.status == TaskStatus::Done,
        format!("{:?}", stages(&engine, task)),
    )?;
    // Retrying a done task needs no stage: it goes back to post-deploy.
    let (stage, _) = {
        let store = engine.store();
        orch_launcher::operator::retry(&store, task, None, "again", false).unwrap()
    };
    check(stage == Stage::PostDeploy, format!("{stage}"))?;
    // Active now: refused.
    let store = engine.store();
    let refused = orch_launcher::operator::retry(&store, task, None, "twice", false);
    check(
        matches!(
            refused,
            Err(orch_launcher::operator::OperatorError::Store(
                orch_store::StoreError::TaskState { .. }
            ))
        ),
        format!("{refused:?}"),
    )
}

/// TC-23: an agent that plants a PASSED staging log for a later stage gains
/// nothing: the planted file is archived before the deployer runs, so a
/// deployer that writes nothing fails its gate instead of reading the plant.
fn a_planted_later_artifact_is_archived_not_read() -> Result<(), Failed> {
    let h = Harness::new();
    h.plan("developer PLANT\ndeployer NOARTIFACT\n");
    let mut config = h.config.clone();
    config.developer_retries = 0;
    config.staging_runner.enabled = false;
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", "true");
    let (task, _) = engine
        .create_task_at(repo, "planted", Stage::Development)
        .unwrap();
    drive(&engine, 10);
    let last = engine.store().transitions(task).unwrap().pop().unwrap();
    check(
        last.from_stage == Stage::DeployStaging && last.to_stage == Stage::Blocked,
        format!("{:?}", stages(&engine, task)),
    )?;
    check(
        last.decisions[0].verdict.is_none() && !last.decisions[0].passed,
        format!("the planted PASSED was read: {:?}", last.decisions),
    )
}

/// TC-24: an artifact that is a symlink is not read (the gate fails closed),
/// whatever it points to.
fn an_artifact_that_is_a_link_fails_closed() -> Result<(), Failed> {
    let h = Harness::new();
    h.plan("analyst LINK\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "api", "true");
    let (task, _) = engine.create_task(repo, "linked").unwrap();
    drive(&engine, 1);
    let transitions = engine.store().transitions(task).unwrap();
    check(
        transitions.len() == 1 && transitions[0].to_stage == Stage::Blocked,
        format!("{:?}", stages(&engine, task)),
    )?;
    check(
        transitions[0].decisions[0].artifact_sha256.is_none(),
        format!("{:?}", transitions[0].decisions),
    )
}

/// TC-25: a run whose lease is lost (the job was rescued under it) is
/// cancelled at once, writes no end for the job, and still records what it
/// spent, so the spend ceiling sees it.
fn a_lost_lease_cancels_the_run_and_still_counts_its_cost() -> Result<(), Failed> {
    let h = Harness::new();
    h.plan("analyst SLEEP\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "api", "true");
    let (task, job) = engine.create_task(repo, "rescued").unwrap();
    let db = h.db.clone();
    std::thread::spawn(move || {
        // Another process of another boot takes the job over: its rescue of
        // "other boots" fences the running worker out.
        std::thread::sleep(Duration::from_millis(500));
        let store = Store::open(&db).unwrap();
        store.rescue_other_boots("boot-other").unwrap();
    });
    let t0 = Instant::now();
    let report = engine.run_next(&StopSignal::default()).unwrap().unwrap();
    check(
        t0.elapsed() < Duration::from_secs(20),
        "the lost lease was not seen",
    )?;
    check(report.end == JobEndKind::LeaseLost, format!("{report:?}"))?;
    check(
        stages(&engine, task).is_empty(),
        "no transition from a fenced worker",
    )?;
    let job = engine.store().job(job).unwrap();
    check(job.state == JobState::Queued, format!("{job:?}"))?;
    let cost = engine.store().task_cost_usd(task).unwrap();
    check(
        (cost - 0.01).abs() < 1e-9,
        format!("the spend was lost: {cost}"),
    )
}

/// TC-35: the heartbeat reads the lease at every tick, not only at its
/// beats: with a lease of ten minutes (a beat every 200 s), a rescue under
/// the run still cancels it at once, and nothing of it is written.
fn a_lost_lease_is_seen_at_the_next_tick() -> Result<(), Failed> {
    let h = Harness::new();
    h.plan("analyst SLEEP\n");
    let mut config = h.config.clone();
    config.lease = Duration::from_secs(600);
    config.agent.timeout = Duration::from_secs(20);
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", "true");
    let (task, job) = engine.create_task(repo, "rescued").unwrap();
    let db = h.db.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        Store::open(&db)
            .unwrap()
            .rescue_other_boots("boot-other")
            .unwrap();
    });
    let report = engine.run_next(&StopSignal::default()).unwrap().unwrap();
    // Seen at a tick, the run was cancelled; seen only at its end (the
    // agent's timeout), it would have run its course.
    check(
        report.end == JobEndKind::LeaseLost && report.outcome == Some(RunOutcome::Cancelled),
        format!("{report:?}"),
    )?;
    check(stages(&engine, task).is_empty(), "no transition")?;
    let job = engine.store().job(job).unwrap();
    check(job.state == JobState::Queued, format!("{job:?}"))
}

/// TC-36: a job whose task's run lock is held (a live run of another
/// process, maybe stopped past its lease) is given back for a moment: its
/// role never starts, nothing of the task is touched, no retry is spent.
fn a_locked_worktree_gives_the_job_back_without_spending_a_retry() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "api", "true");
    let (task, job) = engine.create_task(repo, "locked").unwrap();
    let path = h
        .config
        .home
        .join("locks")
        .join(format!("task-{task}.lock"));
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = fs::File::create(&path).unwrap();
    let held = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .unwrap();
    let report = engine.run_next(&StopSignal::default()).unwrap().unwrap();
    check(
        matches!(report.end, JobEndKind::Deferred { .. })
            && report
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("in use by a run that still lives")),
        format!("{report:?}"),
    )?;
    check(h.agent_calls().is_empty(), "the role ran")?;
    let stored = engine.store().job(job).unwrap();
    check(
        stored.state == JobState::Queued
            && stored.attempts == 0
            && stored.infra_attempts == 0
            && stored.rescues == 0,
        format!("{stored:?}"),
    )?;
    check(
        engine.run_next(&StopSignal::default()).unwrap().is_none(),
        "due again at once",
    )?;
    drop(held);
    check(stages(&engine, task).is_empty(), "no transition")
}

/// An intercept with a bug: it panics on the analyst's job.
struct PanickingAnalyst;

impl Intercept for PanickingAnalyst {
    fn name(&self) -> &'static str {
        "panicking-analyst"
    }
    fn claims(&self, ctx: &JobContext, _config: &LauncherConfig) -> bool {
        ctx.role == Role::Analyst
    }
    fn run(&self, _: &JobContext, _: &LauncherConfig, _: &RunControl) -> Intercepted {
        #[expect(clippy::panic, reason = "the bug under test: a job that panics")]
        {
            panic!("a bug in an intercept")
        }
    }
}

/// TC-37: `Workers` catch a job's panic: the job is given back (deferred),
/// the panic counted and reported; the second panic blocks the task with an
/// `internal_error` alert; every worker is still alive and serving.
fn workers_catch_a_panic_and_stay_alive() -> Result<(), Failed> {
    use std::sync::{Arc, Mutex};
    let h = Harness::new();
    let mut config = h.config.clone();
    config.worktree.retry.retries = 1;
    config.worktree.retry.base = Duration::from_millis(1);
    let engine = h.engine();
    let repo = h.repo(&engine, "api", "true");
    let (task, _) = engine.create_task(repo, "panics").unwrap();
    let (other, _) = engine.create_task_at(repo, "fine", Stage::Deploy).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let events = Arc::clone(&seen);
    let workers = orch_launcher::Workers::builder(&h.db, config)
        .workers(2)
        .boot("boot-panics")
        .intercepts(|| vec![Box::new(PanickingAnalyst)])
        .observer(move |event| {
            if let orch_launcher::Event::Failed { error, .. } = event {
                events.lock().unwrap().push(error.to_string());
            }
        })
        .start()
        .unwrap();
    let monitor = workers.monitor();
    let deadline = Instant::now() + Duration::from_secs(60);
    let store = Store::open(&h.db).unwrap();
    while store.task(task).unwrap().status != TaskStatus::Blocked
        || store.task(other).unwrap().status != TaskStatus::Done
    {
        check(Instant::now() < deadline, "the tasks never ended")?;
        std::thread::sleep(Duration::from_millis(50));
    }
    let health = monitor.health(&store);
    check(
        health.panics == 2 && health.live == 2 && health.is_ok(),
        format!("{health:?}"),
    )?;
    let events = seen.lock().unwrap().clone();
    check(
        events.len() == 2
            && events[0].contains("panicked: a bug in an intercept")
            && events[0].contains("given back")
            && events[1].contains("blocked"),
        format!("{events:?}"),
    )?;
    let alerts = store.open_alerts().unwrap();
    check(
        alerts.iter().any(|a| {
            a.kind == orch_store::AlertKind::InternalError && a.message.contains("panic 2 times")
        }),
        format!("{alerts:?}"),
    )?;
    workers.shutdown(Duration::ZERO).unwrap();
    Ok(())
}

/// TC-38: the rescue timer of `Workers` runs on its own thread: a job whose
/// lease expired (its process is gone, with no boot file to say so) is
/// rescued while the only worker is busy with a hanging agent; a shutdown
/// then gives the busy worker's job back.
fn workers_rescue_expired_leases_while_every_worker_is_busy() -> Result<(), Failed> {
    let h = Harness::new();
    h.plan("analyst SLEEP\n");
    let mut config = h.config.clone();
    config.lease = Duration::from_secs(600);
    let engine = h.engine();
    let repo = h.repo(&engine, "api", "true");
    let (busy, busy_job) = engine.create_task(repo, "busy").unwrap();
    let workers = orch_launcher::Workers::builder(&h.db, config)
        .boot("boot-busy")
        .start()
        .unwrap();
    let store = Store::open(&h.db).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.job(busy_job).unwrap().state != JobState::Running {
        check(Instant::now() < deadline, "the worker never claimed")?;
        std::thread::sleep(Duration::from_millis(20));
    }
    // Another task's job (on another folder: folder tasks of one
    // repository run one at a time), claimed by a process that is gone,
    // with a short lease.
    let folder = h.checkout.with_file_name("other");
    fs::create_dir_all(&folder).unwrap();
    let mut other_repo = NewRepo::new("other", folder.to_str().unwrap(), "true");
    other_repo.deploy_command = Some("true".into());
    let other_repo = engine.store().add_repo(&other_repo).unwrap();
    let (other, _) = engine
        .create_task_at(other_repo, "orphan", Stage::Deploy)
        .unwrap();
    let orphan = store
        .claim(
            &LeaseOwner::new("boot-gone", "w"),
            Duration::from_millis(50),
        )
        .unwrap()
        .unwrap();
    check(orphan.job.task == other, format!("{orphan:?}"))?;
    while store.job(orphan.job.id).unwrap().state == JobState::Running {
        check(
            Instant::now() < deadline,
            "the expired lease was never rescued",
        )?;
        std::thread::sleep(Duration::from_millis(20));
    }
    let rescued = store.job(orphan.job.id).unwrap();
    check(
        rescued.rescues == 1 && store.job(busy_job).unwrap().state == JobState::Running,
        format!("{rescued:?}"),
    )?;
    workers.shutdown(Duration::ZERO).unwrap();
    let given_back = store.job(busy_job).unwrap();
    check(
        given_back.state == JobState::Queued && given_back.rescues == 0,
        format!("{given_back:?}"),
    )?;
    check(stages(&engine, busy).is_empty(), "no transition")
}

/// A test case of this file.
type TestFn = fn() -> Result<(), Failed>;

/// An engine on the harness's database with a manual clock (leases expire
/// only when the test says) and a short busy timeout (a write lock held
/// elsewhere fails a write quickly).
fn manual_engine(h: &Harness) -> (Engine, std::sync::Arc<orch_store::ManualClock>) {
    let clock = std::sync::Arc::new(orch_store::ManualClock::new(1_767_225_600_000));
    let options = orch_store::StoreOptions {
        clock: clock.clone(),
        busy_timeout: Duration::from_millis(300),
        ..orch_store::StoreOptions::default()
    };
    let store = Store::open_with(&h.db, options).unwrap();
    let engine = Engine::new(
        store,
        h.config.clone(),
        LeaseOwner::new("boot-test", "worker-0"),
    );
    (engine, clock)
}

fn lines(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

/// TC-39 (issue 20): a deploy command runs at most once. It appends to a
/// ledger and waits; meanwhile another connection holds the database's
/// write lock, so the job's end cannot be written. The lease expires and
/// the job is rescued; its next claim finds the deploy's start recorded and
/// never ended, so it does not run the command again: the task is blocked
/// with `deploy_interrupted`, naming what to check. The operator's retry is
/// the explicit decision that runs it again.
fn a_deploy_whose_end_cannot_be_written_runs_once() -> Result<(), Failed> {
    let h = Harness::new();
    let (engine, clock) = manual_engine(&h);
    let ledger = h.checkout.join("ledger");
    let go = h.checkout.join("go");
    let mut repo = NewRepo::new("api", h.checkout.to_str().unwrap(), "true");
    repo.deploy_command = Some(format!(
        "echo deployed >> {}; while [ ! -e {} ]; do sleep 0.02; done",
        ledger.display(),
        go.display()
    ));
    repo.health_command = Some("true".into());
    let repo = engine.store().add_repo(&repo).unwrap();
    let task = staging_task(&engine, repo);
    drive(&engine, 1);
    check(
        stages(&engine, task).last() == Some(&("deploy-staging".into(), "deploy".into())),
        format!("{:?}", stages(&engine, task)),
    )?;
    // The lock holder: once the deploy has written its line, it takes the
    // write lock, lets the deploy end, and holds the lock until the
    // engine's attempt to end the job has failed.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let db = h.db.clone();
    let (watched, release) = (ledger.clone(), go.clone());
    let holder = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while lines(&watched) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        fs::write(&release, "").unwrap();
        let _ = done_rx.recv_timeout(Duration::from_secs(60));
        conn.execute_batch("ROLLBACK").unwrap();
    });
    let ended = engine.run_next(&StopSignal::default());
    drop(done_tx);
    holder.join().unwrap();
    check(
        matches!(ended, Err(orch_launcher::EngineError::Store(_))),
        format!("the end was written: {ended:?}"),
    )?;
    check(lines(&ledger) == 1, "the deploy ran once")?;
    let effects = engine.store().effects(task).unwrap();
    check(
        effects.len() == 1 && effects[0].ended_ms.is_none() && effects[0].kind == "deploy",
        format!("{effects:?}"),
    )?;
    // The worker's lease expires; a rescue puts the job back.
    clock.advance(h.config.lease.as_millis() as i64 + 1);
    let rescued = engine.store().rescue_expired().unwrap();
    check(rescued.requeued.len() == 1, format!("{rescued:?}"))?;
    let report = engine.run_next(&StopSignal::default()).unwrap().unwrap();
    check(
        report.end
            == JobEndKind::Blocked {
                alert: reserved::DEPLOY_INTERRUPTED,
            },
        format!("{report:?}"),
    )?;
    check(lines(&ledger) == 1, "the deploy ran again after its rescue")?;
    let t = engine.store().task(task).unwrap();
    check(t.status == TaskStatus::Blocked, format!("{t:?}"))?;
    let alert = engine.store().open_alerts().unwrap().pop().unwrap();
    check(
        alert.kind == orch_store::AlertKind::DeployInterrupted
            && alert.message.contains("not run again")
            && alert.message.contains("orch task retry"),
        alert.message.clone(),
    )?;
    // The operator checked and decides to deploy again.
    let (stage, _) = orch_launcher::operator::retry(
        &engine.store(),
        task,
        None,
        "the target shows no deploy: run it again",
        false,
    )
    .unwrap();
    check(stage == Stage::Deploy, format!("{stage}"))?;
    drive(&engine, 2);
    check(lines(&ledger) == 2, "the operator's retry deployed again")?;
    let t = engine.store().task(task).unwrap();
    check(t.status == TaskStatus::Done, format!("{t:?}"))?;
    let effects = engine.store().effects(task).unwrap();
    check(
        effects[0].acknowledged_ms.is_some() && effects[1].ended_ms.is_some(),
        format!("{effects:?}"),
    )
}

/// A reserved agent that stands in for a role whose process has just ended:
/// before it returns a passing verdict (or, with `defer`, a tool error), an
/// operator's cancel arrives.
struct CancelledAtTheEnd(PathBuf, bool);

impl Intercept for CancelledAtTheEnd {
    fn name(&self) -> &'static str {
        "cancelled-at-the-end"
    }
    fn claims(&self, ctx: &JobContext, _config: &LauncherConfig) -> bool {
        ctx.stage == Stage::Analysis
    }
    fn run(&self, ctx: &JobContext, _: &LauncherConfig, _: &RunControl) -> Intercepted {
        fs::write(&ctx.artifact, "# Analysis\n\nanalysis_status: COMPLETE\n").unwrap();
        Store::open(&self.0)
            .unwrap()
            .request_cancel(ctx.task.id)
            .unwrap();
        let record = RunRecord {
            role: ctx.role,
            transport: Transport::Deterministic,
            started: std::time::SystemTime::now(),
            duration: Duration::ZERO,
            exit_code: Some(0),
            outcome: RunOutcome::Passed,
            usage: orch_launcher::usage::Usage::default(),
            detail: "test".into(),
            sandbox: None,
        };
        Intercepted::Served(if self.1 {
            Launch::Defer {
                record,
                retry_in: Duration::from_millis(1),
            }
        } else {
            Launch::Ran {
                record,
                alert: None,
            }
        })
    }
}

/// TC-40 (issue 20): a cancel that arrives after the role's process ended,
/// but before the job's end is written, is never lost: the task ends
/// cancelled, never at the next stage.
fn a_cancel_after_the_run_ended_is_never_lost() -> Result<(), Failed> {
    for defer in [false, true] {
        cancelled_at_the_end(defer)?;
    }
    Ok(())
}

/// TC-40 for a run that passed, or (`defer`) that met a tool error.
fn cancelled_at_the_end(defer: bool) -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h
        .engine()
        .with_intercepts(vec![Box::new(CancelledAtTheEnd(h.db.clone(), defer))]);
    let repo = h.repo(&engine, "api", "true");
    let (task, job) = engine.create_task(repo, "cancelled late").unwrap();
    let report = engine.run_next(&StopSignal::default()).unwrap().unwrap();
    check(
        report.end
            == JobEndKind::Blocked {
                alert: orch_store::AlertKind::Cancelled,
            },
        format!("{report:?}"),
    )?;
    let store = engine.store();
    let t = store.task(task).unwrap();
    check(
        t.status == TaskStatus::Blocked && t.stage == Stage::Blocked,
        format!("{t:?}"),
    )?;
    let last = store.transitions(task).unwrap().pop().unwrap();
    check(
        last.from_stage == Stage::Analysis && last.reason.as_deref() == Some("cancelled"),
        format!("{last:?}"),
    )?;
    check(
        store.task_jobs(task).unwrap().len() == 1
            && store.job(job).unwrap().state == JobState::Failed,
        "a next job was queued",
    )?;
    check(
        store.agent_runs(task).unwrap().len() == 1,
        "the run was not recorded once",
    )
}

/// TC-41 (issue 20): deploy needs the task's latest staging verdict to be
/// PASSED, in a folder that is not a git repository too. Staging passed
/// once, then failed; a retry into deploy is refused, saying why, and a
/// deploy job put on the queue behind the operator's back deploys nothing.
fn deploy_needs_the_latest_staging_verdict_passed() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let ledger = h.checkout.join("ledger");
    let pass = h.checkout.join("pass");
    fs::write(&pass, "").unwrap();
    let mut repo = NewRepo::new(
        "api",
        h.checkout.to_str().unwrap(),
        format!("test -e {}", pass.display()),
    );
    repo.deploy_command = Some(format!("echo deployed >> {}; exit 1", ledger.display()));
    let repo = engine.store().add_repo(&repo).unwrap();
    let task = staging_task(&engine, repo);
    drive(&engine, 2);
    check(lines(&ledger) == 1, "the first deploy did not run")?;
    check(
        engine.store().task(task).unwrap().status == TaskStatus::Blocked,
        "the failed deploy did not block",
    )?;
    // Staging is run again and fails this time; the task goes back to
    // development, and the operator stops it there.
    fs::remove_file(&pass).unwrap();
    orch_launcher::operator::retry(
        &engine.store(),
        task,
        Some(Stage::DeployStaging),
        "again",
        false,
    )
    .unwrap();
    drive(&engine, 1);
    engine.store().request_cancel(task).unwrap();
    let refused = orch_launcher::operator::retry(
        &engine.store(),
        task,
        Some(Stage::Deploy),
        "ship the old pass",
        false,
    );
    check(
        matches!(&refused, Err(orch_launcher::operator::OperatorError::Refused(why))
            if why.contains("latest deploy-staging verdict")),
        format!("{refused:?}"),
    )?;
    // Behind the operator's back, straight into the store: the deploy
    // refuses at run time as well.
    engine
        .store()
        .retry_task(
            task,
            &orch_store::NewJob::new(task, Stage::Deploy, Role::DeployFinalizer),
            "forced",
            false,
        )
        .unwrap();
    let report = engine.run_next(&StopSignal::default()).unwrap().unwrap();
    check(
        matches!(
            report.end,
            JobEndKind::Transition {
                to: Stage::Blocked,
                ..
            }
        ) && report
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("latest deploy-staging verdict is not PASSED")),
        format!("{report:?}"),
    )?;
    let alert = engine.store().open_alerts().unwrap().pop().unwrap();
    check(
        alert.kind == orch_store::AlertKind::DeployRefused,
        format!("{alert:?}"),
    )?;
    check(lines(&ledger) == 1, "a deploy ran without a staging pass")
}

/// This module's trials, in registry order (`main.rs` runs them).
pub(crate) fn trials() -> Vec<Trial> {
    let mut tests: Vec<Registered> = Vec::new();
    // The suite runners' slice, once per suite through the shared code.
    let twinned: [(&str, SuiteCase); 13] = [
        (
            "tc01_switch_off_is_the_llm_path",
            switch_off_is_the_llm_path,
        ),
        (
            "tc02_repo_outside_the_csv_is_the_llm_path",
            repo_outside_the_csv_is_the_llm_path,
        ),
        (
            "tc03_star_serves_every_repo_and_passed_advances",
            star_serves_every_repo_and_passed_advances,
        ),
        (
            "tc05_failed_rolls_back_and_spends_a_retry",
            failed_rolls_back_and_spends_a_retry,
        ),
        ("tc06_a_timeout_is_failed", a_timeout_is_failed),
        (
            "tc07_a_tool_error_defers_with_a_run_after_time",
            a_tool_error_defers_with_a_run_after_time,
        ),
        (
            "tc08_exhaustion_fails_closed_with_an_alert",
            exhaustion_fails_closed_with_an_alert,
        ),
        (
            "tc09_an_unwritable_log_after_a_pass_falls_back_to_the_llm",
            an_unwritable_log_after_a_pass_falls_back_to_the_llm,
        ),
        (
            "tc10_a_failed_suite_never_falls_back",
            a_failed_suite_never_falls_back,
        ),
        (
            "tc11_the_prompt_and_the_runner_name_the_same_command",
            the_prompt_and_the_runner_name_the_same_command,
        ),
        (
            "tc12_intercepts_are_consulted_in_order",
            intercepts_are_consulted_in_order,
        ),
        (
            "tc19_switch_off_records_exactly_the_llm_sequence",
            switch_off_records_exactly_the_llm_sequence,
        ),
        (
            "tc26_a_kill_switch_beats_the_mode",
            a_kill_switch_beats_the_mode,
        ),
    ];
    for (name, case) in twinned {
        twins(&mut tests, name, case);
    }
    let single: Vec<(&'static str, TestFn)> = vec![
        (
            "tc09_an_internal_error_falls_back_to_the_llm",
            an_internal_error_falls_back_to_the_llm,
        ),
        (
            "tc27_no_test_command_is_the_llm_tester",
            no_test_command_is_the_llm_tester,
        ),
        (
            "tc28_mode_off_is_the_llm_tester",
            mode_off_is_the_llm_tester,
        ),
        (
            "tc29_shadow_mode_records_both_verdicts_and_the_llm_decides",
            shadow_mode_records_both_verdicts_and_the_llm_decides,
        ),
        (
            "tc29b_a_flaky_suite_is_run_again_on_a_disagreement_and_counted_apart",
            a_flaky_suite_is_run_again_on_a_disagreement_and_counted_apart,
        ),
        (
            "tc30_a_broken_runner_in_shadow_mode_never_changes_the_llm_outcome",
            a_broken_runner_in_shadow_mode_never_changes_the_llm_outcome,
        ),
        (
            "tc31_a_panicking_shadow_runner_never_changes_the_llm_outcome",
            a_panicking_shadow_runner_never_changes_the_llm_outcome,
        ),
        (
            "tc13_agent_runs_carry_parsed_cost_and_tokens",
            agent_runs_carry_parsed_cost_and_tokens,
        ),
        (
            "tc14_the_spend_ceiling_blocks_the_task",
            the_spend_ceiling_blocks_the_task,
        ),
        (
            "tc15_a_spent_developer_budget_blocks_the_task",
            a_spent_developer_budget_blocks_the_task,
        ),
        (
            "tc16_a_stale_artifact_is_never_read",
            a_stale_artifact_is_never_read,
        ),
        (
            "tc17_a_poison_job_blocks_its_task",
            a_poison_job_blocks_its_task,
        ),
        (
            "tc20_nothing_to_deploy_is_skipped_explicitly",
            nothing_to_deploy_is_skipped_explicitly,
        ),
        (
            "tc21_a_task_goes_through_every_stage",
            a_task_goes_through_every_stage,
        ),
        (
            "tc23_a_planted_later_artifact_is_archived_not_read",
            a_planted_later_artifact_is_archived_not_read,
        ),
        (
            "tc24_an_artifact_that_is_a_link_fails_closed",
            an_artifact_that_is_a_link_fails_closed,
        ),
        (
            "tc25_a_lost_lease_cancels_the_run_and_still_counts_its_cost",
            a_lost_lease_cancels_the_run_and_still_counts_its_cost,
        ),
        (
            "tc35_a_lost_lease_is_seen_at_the_next_tick",
            a_lost_lease_is_seen_at_the_next_tick,
        ),
        (
            "tc36_a_locked_worktree_gives_the_job_back_without_spending_a_retry",
            a_locked_worktree_gives_the_job_back_without_spending_a_retry,
        ),
        (
            "tc37_workers_catch_a_panic_and_stay_alive",
            workers_catch_a_panic_and_stay_alive,
        ),
        (
            "tc38_workers_rescue_expired_leases_while_every_worker_is_busy",
            workers_rescue_expired_leases_while_every_worker_is_busy,
        ),
        (
            "tc22_a_stop_cancels_the_run_and_releases_the_job",
            a_stop_cancels_the_run_and_releases_the_job,
        ),
        (
            "tc42_durations_past_the_clock_wait_and_stop_without_a_panic",
            durations_past_the_clock_wait_and_stop_without_a_panic,
        ),
        (
            "tc32_an_operators_cancel_ends_the_run_and_blocks_the_task",
            an_operators_cancel_ends_the_run_and_blocks_the_task,
        ),
        (
            "tc33_a_retried_task_resumes_where_it_stopped",
            a_retried_task_resumes_where_it_stopped,
        ),
        (
            "tc34_an_agent_cli_that_is_not_installed_is_unavailable_not_a_failure",
            an_agent_cli_that_is_not_installed_is_unavailable_not_a_failure,
        ),
        (
            "tc39_a_deploy_whose_end_cannot_be_written_runs_once",
            a_deploy_whose_end_cannot_be_written_runs_once,
        ),
        (
            "tc40_a_cancel_after_the_run_ended_is_never_lost",
            a_cancel_after_the_run_ended_is_never_lost,
        ),
        (
            "tc41_deploy_needs_the_latest_staging_verdict_passed",
            deploy_needs_the_latest_staging_verdict_passed,
        ),
        (
            "tc50d_a_missing_verdict_line_reruns_the_same_role",
            tc50d_a_missing_verdict_line_reruns_the_same_role,
        ),
        (
            "tc51d_a_verdict_line_missing_past_the_bound_blocks",
            tc51d_a_verdict_line_missing_past_the_bound_blocks,
        ),
        (
            "tc52d_a_tasks_alerts_resolve_when_it_moves_on",
            tc52d_a_tasks_alerts_resolve_when_it_moves_on,
        ),
        (
            "tc53d_a_shadow_tool_error_is_alerted_once_per_repository",
            tc53d_a_shadow_tool_error_is_alerted_once_per_repository,
        ),
        (
            "tc54d_a_shadow_disagreement_is_reported_and_shown",
            tc54d_a_shadow_disagreement_is_reported_and_shown,
        ),
        (
            "tc55d_repo_check_of_a_plain_folder_runs_in_a_copy",
            tc55d_repo_check_of_a_plain_folder_runs_in_a_copy,
        ),
    ];
    for (name, test) in single {
        tests.push((name.to_owned(), Box::new(test)));
    }
    tests
        .into_iter()
        .map(|(name, test)| Trial::test(name, move || (*test)()))
        .collect()
}
