//! The engine end to end, against a real store on a file database and real
//! processes: the staging runner's slice (TC-01 … TC-12), the LLM transport
//! with a scripted stand-in agent (TC-13 … TC-16), the task's life (TC-17 …
//! TC-21). docs/launcher.md maps every case to its test.
//!
//! This test binary has its own `main` (libtest-mimic) so that it can serve
//! as the process supervisor itself: `main` first lets
//! `orch_staging_runner::supervisor::main_if_requested` take over when the
//! binary was re-executed as one, exactly as the `orch` binary does.
//!
//! The agent is `tests/fixtures/scripted-agent.sh`, a scripted stand-in for
//! an LLM agent CLI (no model, no network) that follows the agent contract:
//! prompt on stdin, artifact at `$ORCH_ARTIFACT`, a result on stdout.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use orch_launcher::{
    Engine, Intercept, Intercepted, JobContext, JobEndKind, JobReport, Launch, LauncherConfig,
    RepoScope, RunControl, RunOutcome, RunRecord, StopSignal, reserved,
};
use orch_pipeline::{Role, Stage};
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
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let state = dir.path().join("agent-state");
        let checkout = dir.path().join("checkout");
        for folder in [&home, &state, &checkout] {
            fs::create_dir_all(folder).unwrap();
        }
        let mut config = LauncherConfig::new(&home);
        config.agent.command = format!("sh {AGENT} {}", state.display());
        config.agent.timeout = Duration::from_secs(30);
        config.agent.grace = Duration::from_millis(200);
        config.agent.defer = Duration::from_millis(1);
        config.staging_runner.timeout = Duration::from_secs(20);
        config.staging_runner.grace = Duration::from_millis(200);
        config.staging_runner.defer = Duration::from_millis(1);
        config.post_deploy.probes = 2;
        config.post_deploy.window = Duration::from_millis(20);
        config.lease = Duration::from_secs(3);
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

/// Runs jobs until none is due, waiting briefly for deferred ones; at most
/// `limit` jobs, so that a loop in the pipeline fails the test.
fn drive(engine: &Engine, limit: usize) -> Vec<JobReport> {
    let stop = StopSignal::default();
    let mut reports = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while reports.len() < limit && Instant::now() < deadline {
        match engine.run_next(&stop).unwrap() {
            Some(report) => reports.push(report),
            None => {
                let queued = engine.store().jobs_in_state(JobState::Queued, 1).unwrap();
                if queued.is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    reports
}

fn stages(engine: &Engine, task: TaskId) -> Vec<(String, String)> {
    engine
        .store()
        .transitions(task)
        .unwrap()
        .into_iter()
        .map(|t| (t.from_stage, t.to_stage))
        .collect()
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

fn check(condition: bool, what: impl Into<String>) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

// --- the staging runner's slice --------------------------------------------

/// TC-01: with the switch off, deploy-staging is the LLM path.
fn switch_off_is_the_llm_path() -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    config.staging_runner.enabled = false;
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", "exit 1");
    let task = staging_task(&engine, repo);
    let reports = drive(&engine, 1);
    check(
        reports.len() == 1 && reports[0].spawned,
        format!("{reports:?}"),
    )?;
    check(reports[0].intercepted_by.is_none(), "no intercept")?;
    check(engine.spawn_count() == 1, "spawn called once")?;
    check(
        stages(&engine, task) == [("deploy-staging".into(), "deploy".into())],
        format!(
            "the scripted deployer wrote PASSED: {:?}",
            stages(&engine, task)
        ),
    )?;
    check(
        outcomes(&engine, task) == ["deployer llm passed"],
        format!("{:?}", outcomes(&engine, task)),
    )
}

/// TC-02: a repository outside the CSV is the LLM path.
fn repo_outside_the_csv_is_the_llm_path() -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    config.staging_runner.repos = RepoScope::from_csv("web, docs");
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", "true");
    staging_task(&engine, repo);
    let reports = drive(&engine, 1);
    check(
        reports[0].spawned && reports[0].intercepted_by.is_none(),
        format!("{reports:?}"),
    )?;
    // And a repository in the CSV is served by the runner.
    let web = h.repo(&engine, "web", "true");
    let web_task = staging_task(&engine, web);
    let reports = drive(&engine, 10);
    let served = reports
        .iter()
        .find(|r| r.task == web_task && r.stage == "deploy-staging")
        .ok_or("the web task never ran")?;
    check(
        served.intercepted_by == Some("staging-runner") && !served.spawned,
        format!("{served:?}"),
    )
}

/// TC-03 and TC-04: `*` serves every repository; a passing suite advances to
/// deploy, and spawn is never called.
fn star_serves_every_repo_and_passed_advances() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "api", "echo suite-ran; exit 0");
    let task = staging_task(&engine, repo);
    let reports = drive(&engine, 1);
    check(
        reports[0].intercepted_by == Some("staging-runner"),
        format!("{reports:?}"),
    )?;
    check(
        engine.spawn_count() == 0,
        "spawn was called for a job the runner served",
    )?;
    check(
        stages(&engine, task) == [("deploy-staging".into(), "deploy".into())],
        format!("{:?}", stages(&engine, task)),
    )?;
    let transitions = engine.store().transitions(task).unwrap();
    let gate = &transitions[0].decisions[0];
    check(
        gate.gate == "check_staging_status" && gate.verdict.as_deref() == Some("PASSED"),
        format!("{gate:?}"),
    )?;
    check(
        gate.artifact_sha256.as_ref().is_some_and(|s| s.len() == 64),
        "sha256 kept",
    )?;
    let log = fs::read_to_string(h.config.task_dir(task.get()).join("15-staging-log.md")).unwrap();
    check(
        log.contains("staging_status: PASSED") && log.contains("suite-ran"),
        log.clone(),
    )?;
    let runs = runs(&engine, task);
    check(
        runs.len() == 1
            && runs[0].role == "staging-runner"
            && runs[0].transport == Transport::Deterministic
            && runs[0].outcome == "passed"
            && runs[0].exit_code == Some(0),
        format!("{runs:?}"),
    )?;
    // The next job is the deploy finalizer's.
    let next = engine.store().jobs_in_state(JobState::Queued, 10).unwrap();
    check(
        next.len() == 1 && next[0].stage == "deploy" && next[0].role == "deploy-finalizer",
        format!("{next:?}"),
    )
}

/// TC-05: a failing suite rolls back to development and spends a retry.
fn failed_rolls_back_and_spends_a_retry() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "api", "echo 'staging_status: PASSED'; exit 3");
    let task = staging_task(&engine, repo);
    drive(&engine, 1);
    check(
        stages(&engine, task) == [("deploy-staging".into(), "development".into())],
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
        outcomes(&engine, task) == ["staging-runner deterministic failed"],
        format!("{:?}", outcomes(&engine, task)),
    )?;
    let next = engine.store().jobs_in_state(JobState::Queued, 10).unwrap();
    check(
        next.len() == 1 && next[0].role == "developer",
        format!("{next:?}"),
    )
}

/// TC-06: a timeout is FAILED with reason `timeout`.
fn a_timeout_is_failed() -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    config.staging_runner.timeout = Duration::from_millis(300);
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", "sleep 30");
    let task = staging_task(&engine, repo);
    drive(&engine, 1);
    check(
        stages(&engine, task) == [("deploy-staging".into(), "development".into())],
        format!("{:?}", stages(&engine, task)),
    )?;
    check(
        outcomes(&engine, task) == ["staging-runner deterministic timed_out"],
        format!("{:?}", outcomes(&engine, task)),
    )?;
    let log = fs::read_to_string(h.config.task_dir(task.get()).join("15-staging-log.md")).unwrap();
    check(log.contains("- reason: \"timeout\""), log)
}

/// TC-07: a tool error defers the job with a run-after time.
fn a_tool_error_defers_with_a_run_after_time() -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    config.staging_runner.defer = Duration::from_secs(600);
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", "definitely-not-a-program-here");
    let task = staging_task(&engine, repo);
    let before = engine.store().now_ms();
    let reports = drive(&engine, 1);
    check(
        matches!(reports[0].end, JobEndKind::Deferred { retry_in } if retry_in == Duration::from_secs(600)),
        format!("{reports:?}"),
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
        outcomes(&engine, task) == ["staging-runner deterministic deferred"],
        format!("{:?}", outcomes(&engine, task)),
    )
}

/// TC-08: spent infra retries fail closed: FAILED with the reason and an
/// alert, never PASSED.
fn exhaustion_fails_closed_with_an_alert() -> Result<(), Failed> {
    let h = Harness::new();
    let mut config = h.config.clone();
    config.staging_runner.infra_retries = 2;
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", "definitely-not-a-program-here");
    let task = staging_task(&engine, repo);
    let reports = drive(&engine, 3);
    check(
        reports.len() == 3 && matches!(reports[2].end, JobEndKind::Transition { .. }),
        format!("2 deferrals then the end: {reports:?}"),
    )?;
    check(
        stages(&engine, task) == [("deploy-staging".into(), "development".into())],
        format!("{:?}", stages(&engine, task)),
    )?;
    let log = fs::read_to_string(h.config.task_dir(task.get()).join("15-staging-log.md")).unwrap();
    check(
        log.contains("staging_status: FAILED") && !log.contains("PASSED"),
        log.clone(),
    )?;
    check(log.contains("infra retries spent"), log)?;
    let alerts = engine.store().open_alerts().unwrap();
    check(
        alerts
            .iter()
            .any(|a| a.kind == "staging_runner_exhausted" && a.task == Some(task)),
        format!("{alerts:?}"),
    )?;
    check(
        outcomes(&engine, task)
            == [
                "staging-runner deterministic deferred",
                "staging-runner deterministic deferred",
                "staging-runner deterministic exhausted",
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
        reports[0].intercepted_by == Some("staging-runner") && reports[0].spawned,
        format!("{reports:?}"),
    )?;
    check(
        outcomes(&engine, task)
            == [
                "staging-runner deterministic fallback",
                "deployer llm passed",
            ],
        format!("{:?}", outcomes(&engine, task)),
    )
}

/// TC-10: a suite that ran and failed never falls back, even when the runner
/// is otherwise unable to serve the job the way it wanted.
fn a_failed_suite_never_falls_back() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "api", "exit 1");
    let task = staging_task(&engine, repo);
    let reports = drive(&engine, 1);
    check(
        !reports[0].spawned,
        "the LLM was asked after a FAILED suite",
    )?;
    check(h.agent_calls().is_empty(), format!("{:?}", h.agent_calls()))?;
    check(
        stages(&engine, task) == [("deploy-staging".into(), "development".into())],
        format!("{:?}", stages(&engine, task)),
    )
}

/// A test intercept: claims deployer jobs and writes FAILED.
struct FirstInLine;

impl Intercept for FirstInLine {
    fn name(&self) -> &'static str {
        "first-in-line"
    }
    fn claims(&self, ctx: &JobContext, _config: &LauncherConfig) -> bool {
        ctx.role == Role::Deployer
    }
    fn run(
        &self,
        ctx: &JobContext,
        _config: &LauncherConfig,
        _control: &RunControl,
    ) -> Intercepted {
        fs::write(&ctx.artifact, "staging_status: FAILED\n").unwrap();
        Intercepted::Served(Launch::Ran {
            record: RunRecord {
                role: "first-in-line".into(),
                transport: Transport::Deterministic,
                started: std::time::SystemTime::now(),
                duration: Duration::ZERO,
                exit_code: None,
                outcome: RunOutcome::Failed,
                usage: orch_launcher::usage::Usage::default(),
                detail: "test".into(),
            },
            alert: None,
        })
    }
}

/// TC-12: intercepts are consulted in order; the first that claims runs.
fn intercepts_are_consulted_in_order() -> Result<(), Failed> {
    let h = Harness::new();
    let mut intercepts: Vec<Box<dyn Intercept>> = vec![Box::new(FirstInLine)];
    intercepts.extend(reserved::default_intercepts());
    let engine = h.engine().with_intercepts(intercepts);
    let repo = h.repo(&engine, "api", "exit 0");
    let task = staging_task(&engine, repo);
    let reports = drive(&engine, 1);
    check(
        reports[0].intercepted_by == Some("first-in-line"),
        format!("{reports:?}"),
    )?;
    check(
        stages(&engine, task) == [("deploy-staging".into(), "development".into())],
        format!("{:?}", stages(&engine, task)),
    )
}

/// TC-11 (with TC-18): the deployer's prompt and the runner name the same
/// staging command, the repository's record.
fn the_prompt_and_the_runner_name_the_same_command() -> Result<(), Failed> {
    let h = Harness::new();
    let command = "make staging-test ARGS='--fast'";
    let mut config = h.config.clone();
    config.staging_runner.enabled = false;
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "api", command);
    staging_task(&engine, repo);
    drive(&engine, 1);
    let prompt = fs::read_to_string(h.state.join("deployer.1.prompt")).unwrap();
    check(prompt.contains(&format!("    {command}\n")), prompt.clone())?;
    check(
        prompt.contains("staging runner"),
        "deployer.md says the runner normally serves",
    )?;
    // The runner runs exactly the record's command.
    let repo = engine.store().repo(repo).unwrap();
    check(repo.staging_command == command, "one source of truth")
}

// --- the LLM transport ------------------------------------------------------

/// TC-13: one agent_runs row per run, with cost and tokens parsed from the
/// recorded outputs of Claude Code, Codex and Gemini.
fn agent_runs_carry_parsed_cost_and_tokens() -> Result<(), Failed> {
    for (fixture, cost, tokens_in, tokens_out) in [
        ("claude-json-success.json", Some(true), true, true),
        ("codex-exec.jsonl", None, true, true),
        ("gemini-json.json", None, true, true),
    ] {
        let h = Harness::new();
        fs::copy(Path::new(OUTPUTS).join(fixture), h.state.join("stdout")).unwrap();
        let engine = h.engine();
        let repo = h.repo(&engine, "api", "true");
        let (task, _) = engine.create_task(repo, "analyse").unwrap();
        drive(&engine, 1);
        let runs = runs(&engine, task);
        check(runs.len() == 1, format!("{fixture}: {runs:?}"))?;
        let run = &runs[0];
        check(
            run.transport == Transport::Llm && run.role == "analyst" && run.outcome == "passed",
            format!("{fixture}: {run:?}"),
        )?;
        check(
            run.cost_usd.is_some() == cost.is_some(),
            format!("{fixture}: cost {run:?}"),
        )?;
        check(
            run.tokens_in.is_some() == tokens_in && run.tokens_out.is_some() == tokens_out,
            format!("{fixture}: tokens {run:?}"),
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
    check(reports.len() == 3, format!("{reports:?}"))?;
    check(
        matches!(
            reports[2].end,
            JobEndKind::Blocked {
                alert: "budget_exhausted"
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
        alerts.iter().any(|a| a.kind == "budget_exhausted"),
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
        t.status == TaskStatus::Blocked && t.stage == "blocked",
        format!("{t:?}"),
    )?;
    check(
        stages(&engine, task).last() == Some(&("deploy-staging".into(), "blocked".into())),
        format!("{:?}", stages(&engine, task)),
    )?;
    let alerts = engine.store().open_alerts().unwrap();
    check(
        alerts.iter().any(|a| a.kind == "retry_budget_spent"),
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
        .filter(|t| t.from_stage == "review")
        .nth(1)
        .ok_or_else(|| format!("no second review: {:?}", stages(&engine, task)))?;
    check(
        second.to_stage == "blocked",
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
            .any(|a| a.kind == "poison_job" && a.task == Some(task)),
        format!("{alerts:?}"),
    )?;
    check(
        drive(&engine, 5).is_empty(),
        "nothing runs for a blocked task",
    )
}

/// TC-19: with the switch off, the recorded sequence is exactly the plain
/// LLM path's (an engine without the staging runner at all).
fn switch_off_records_exactly_the_llm_sequence() -> Result<(), Failed> {
    let sequence = |engine: &Engine, task: TaskId| {
        let transitions = stages(engine, task);
        let runs: Vec<String> = runs(engine, task)
            .into_iter()
            .map(|r| format!("{} {} {} {}", r.role, r.stage, r.transport, r.outcome))
            .collect();
        (transitions, runs)
    };
    let off = {
        let h = Harness::new();
        h.plan("deployer FAILED PASSED\n");
        let mut config = h.config.clone();
        config.staging_runner.enabled = false;
        let engine = h.engine_with(config);
        let repo = h.repo(&engine, "api", "exit 1");
        let task = staging_task(&engine, repo);
        drive(&engine, 20);
        sequence(&engine, task)
    };
    let plain = {
        let h = Harness::new();
        h.plan("deployer FAILED PASSED\n");
        let engine = h.engine().with_intercepts(vec![
            Box::new(reserved::DeployFinalizer),
            Box::new(reserved::PostDeployMonitor),
        ]);
        let repo = h.repo(&engine, "api", "exit 1");
        let task = staging_task(&engine, repo);
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
            .any(|r| r.starts_with("deployer deploy-staging llm")),
        format!("{off:?}"),
    )
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
    check(reports.len() == 8, format!("{reports:?}"))?;
    let t = engine.store().task(task).unwrap();
    check(
        t.status == TaskStatus::Done && t.stage == "done",
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

/// TC-26: an operator's cancel, asked on another connection (as `orch task
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
    let watched = artifact.clone();
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
                alert: orch_store::CANCELLED,
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
        last.actor.as_deref() == Some("operator") && last.reason.as_deref() == Some("cancelled"),
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

/// TC-27: `operator::retry` puts a blocked task back at the stage it was
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
    check(retried.from_stage == "blocked", format!("{retried:?}"))?;
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
        last.from_stage == "deploy-staging" && last.to_stage == "blocked",
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
        transitions.len() == 1 && transitions[0].to_stage == "blocked",
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

/// A test case of this file.
type TestFn = fn() -> Result<(), Failed>;

fn main() {
    orch_staging_runner::supervisor::main_if_requested();
    let args = Arguments::from_args();
    let tests: Vec<(&'static str, TestFn)> = vec![
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
            "tc09_an_internal_error_falls_back_to_the_llm",
            an_internal_error_falls_back_to_the_llm,
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
            "tc19_switch_off_records_exactly_the_llm_sequence",
            switch_off_records_exactly_the_llm_sequence,
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
            "tc22_a_stop_cancels_the_run_and_releases_the_job",
            a_stop_cancels_the_run_and_releases_the_job,
        ),
        (
            "tc26_an_operators_cancel_ends_the_run_and_blocks_the_task",
            an_operators_cancel_ends_the_run_and_blocks_the_task,
        ),
        (
            "tc27_a_retried_task_resumes_where_it_stopped",
            a_retried_task_resumes_where_it_stopped,
        ),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| Trial::test(name, test))
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
