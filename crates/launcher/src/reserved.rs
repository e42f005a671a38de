//! The reserved agents: deterministic code that serves a stage in the LLM's
//! place. [`default_intercepts`] is the registry `launch_job` consults, in
//! order: `deploy-finalizer`, `post-deploy-monitor`, `staging-runner`,
//! `test-runner` (the last two are one type, [`SuiteRunner`], configured per
//! stage).
//!
//! All of them have one shape: resolve the command from the repository's record,
//! run it through the process machinery, write the stage's artifact with the
//! verdict in the pipeline's grammar, and hand back a [`Launch`] with one
//! [`RunRecord`] (transport `deterministic`). A repository with no deploy or
//! health-check command (a library) passes its stage explicitly: the artifact
//! says that nothing was deployed or probed and why, and the run's outcome is
//! `skipped`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use orch_pipeline::{Role, Stage, fenced_block, render_verdict_line};
use orch_self_deploy::ProcessExit;
use orch_staging_runner::exec::{self, Ending, EnvPolicy, ExecOutcome, ExecSpec, Program, Scrub};
use orch_staging_runner::{
    Executed, LogLabel, LogState, Outcome, OutputLimits, RunSpec, StagingRun, ToolErrorKind,
    describe_exit, render_fail_closed_log_as, start_to_log, write_atomically,
};
use orch_store::{AlertKind, Transport};

use crate::config::{LauncherConfig, RunnerMode, SuiteRunnerConfig};
use crate::context::{EffectRefused, EffectStart, JobContext, RunControl};
use crate::judge::{self, JudgeTree, Pin, SetupFailure};
use crate::launch::{AlertSpec, Intercept, Intercepted, Launch, RunOutcome, RunRecord, ShadowRun};
use crate::sandbox::{self, RunKind, RunRoom};
use crate::spawn::backoff;
use crate::usage::Usage;
use crate::worktree::{Git, WorktreeError};

/// The alert kind of a repository's setup command that kept failing (in a
/// new task worktree, or in a judge tree before the suite).
pub const SETUP_FAILED: AlertKind = AlertKind::SetupFailed;

/// The registry of reserved agents, in the order `launch_job` consults them.
#[must_use]
pub fn default_intercepts() -> Vec<Box<dyn Intercept>> {
    vec![
        Box::new(DeployFinalizer),
        Box::new(PostDeployMonitor),
        Box::new(SuiteRunner::staging()),
        Box::new(SuiteRunner::testing()),
    ]
}

fn record(
    role: Role,
    started: SystemTime,
    duration: Duration,
    exit_code: Option<i32>,
    outcome: RunOutcome,
    detail: String,
) -> RunRecord {
    RunRecord {
        role: role.as_str().to_owned(),
        transport: Transport::Deterministic,
        started,
        duration,
        exit_code,
        outcome,
        usage: Usage::default(),
        detail,
        sandbox: None,
    }
}

fn exit_code(exit: ProcessExit) -> Option<i32> {
    match exit {
        ProcessExit::Code(code) => Some(code),
        ProcessExit::Signal(_) => None,
    }
}

/// The environment a repository's own commands get: secrets dropped, the
/// repository's pass-through names kept.
fn command_env(ctx: &JobContext, config: &LauncherConfig) -> EnvPolicy {
    EnvPolicy {
        scrub: Scrub::Secrets,
        extra_secrets: config.secret_env.iter().map(OsString::from).collect(),
        pass_through: ctx.repo.pass_env.iter().map(OsString::from).collect(),
        set: commit_env(ctx),
        allow: Vec::new(),
    }
}

/// `ORCH_COMMIT` for a repository's own command: the commit it runs on (for
/// deploy and health checks, the commit staging tested; for a suite, the
/// commit its stage started on).
fn commit_env(ctx: &JobContext) -> Vec<(OsString, OsString)> {
    let commit = match (&ctx.tested, &ctx.workspace.start) {
        (Some(tested), _) if matches!(ctx.stage, Stage::Deploy | Stage::PostDeploy) => {
            Some(&tested.commit)
        }
        (_, Some(start)) => Some(&start.commit),
        (_, None) => None,
    };
    commit
        .map(|c| vec![(OsString::from("ORCH_COMMIT"), OsString::from(c))])
        .unwrap_or_default()
}

/// The staging log's provenance lines: the commit the suite runs on, and
/// whether the tree is exactly that commit.
fn provenance(ctx: &JobContext) -> Vec<(String, String)> {
    match (&ctx.workspace.start, &ctx.workspace.branch) {
        (Some(start), Some(branch)) => vec![
            ("commit".to_owned(), start.commit.clone()),
            ("branch".to_owned(), branch.clone()),
            ("tree".to_owned(), start.describe()),
        ],
        _ => vec![(
            "commit".to_owned(),
            "none (the repository is not a git repository: the suite ran in its folder)".to_owned(),
        )],
    }
}

/// Why deploying the worktree as it is now would deploy a tree that staging
/// did not pass; `None` when the task's latest staging verdict passed and,
/// with a worktree, the tree is exactly the commit it tested.
fn untested(ctx: &JobContext) -> Option<String> {
    let short = crate::worktree::short;
    match &ctx.latest_staging {
        None => {
            return Some(
                "staging never judged this task: no deploy-staging verdict is recorded, so nothing tested is there to deploy"
                    .to_owned(),
            );
        }
        Some(latest) if !latest.passed => {
            return Some(format!(
                "the task's latest deploy-staging verdict{} is not PASSED; a later failing staging run outweighs any earlier pass",
                latest
                    .commit
                    .as_deref()
                    .map(|c| format!(" (on commit {})", short(c)))
                    .unwrap_or_default()
            ));
        }
        Some(_) => {}
    }
    // Without a worktree (a folder that is not a git repository) the latest
    // verdict passing is all there is to check.
    let start = ctx.workspace.start.as_ref()?;
    let Some(tested) = &ctx.tested else {
        return Some(
            "no passing deploy-staging verdict names a commit for this task, so there is no tested tree to deploy"
                .to_owned(),
        );
    };
    if !tested.clean {
        return Some(format!(
            "the staging suite ran on commit {} with uncommitted changes, or the tree changed while it ran, so no commit names what it tested",
            short(&tested.commit)
        ));
    }
    if start.commit != tested.commit {
        return Some(format!(
            "the worktree moved: HEAD is {}, but staging tested {}",
            short(&start.commit),
            short(&tested.commit)
        ));
    }
    if !start.is_clean() {
        return Some(format!(
            "the worktree has changed since staging tested {} ({})",
            short(&tested.commit),
            start.describe()
        ));
    }
    None
}

// ---------------------------------------------------------------------------
// the suite runners: staging-runner and test-runner

/// Which suite a [`SuiteRunner`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suite {
    /// The staging suite, at `deploy-staging`, in the deployer's place.
    Staging,
    /// The repository's tests, at `testing`, in the tester's place.
    Testing,
}

/// What differs between the suite runners: names and words, nothing of the
/// machinery.
struct Profile {
    /// The reserved agent's role, recorded in `agent_runs`.
    me: Role,
    /// The LLM role it serves in place of (or beside).
    serves: Role,
    /// The stage.
    stage: Stage,
    /// The log's heading.
    title: &'static str,
    /// What the repository's command is called.
    command: &'static str,
    /// What the suite is called.
    suite: &'static str,
    /// The alert raised when the infra retries are spent.
    exhausted: AlertKind,
}

const STAGING: Profile = Profile {
    me: Role::StagingRunner,
    serves: Role::Deployer,
    stage: Stage::DeployStaging,
    title: "Staging log",
    command: "staging command",
    suite: "staging suite",
    exhausted: AlertKind::StagingRunnerExhausted,
};

const TESTING: Profile = Profile {
    me: Role::TestRunner,
    serves: Role::Tester,
    stage: Stage::Testing,
    title: "Test report",
    command: "test command",
    suite: "test suite",
    exhausted: AlertKind::TestRunnerExhausted,
};

/// A suite runner: one type, configured per stage. [`SuiteRunner::staging`]
/// serves role `deployer` at `deploy-staging` with the repository's staging
/// command; [`SuiteRunner::testing`] serves role `tester` at `testing` with
/// its test command (none: it does not claim the job). Either runs the
/// command through the process machinery, maps its exit code to the
/// stage's verdict through the `self_deploy` contract (only exit 0 is
/// `PASSED`) and writes the stage's artifact, so that the unchanged gate
/// takes it from there; a tool error → deferred with backoff, then, with the
/// infra retries spent, a fail-closed `FAILED` log and an alert; an internal
/// error → the LLM path, unless the suite ran and failed (a deterministic
/// FAILED is never handed to an LLM that might say PASSED).
///
/// Its mode ([`RunnerMode`], the kill-switch first): `on` serves the job;
/// `shadow` runs the suite before the LLM role on the same tree, writes its
/// verdict to a sidecar no gate reads (`NAME.shadow.md`) and lets the LLM
/// decide; `off` leaves the LLM alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuiteRunner {
    suite: Suite,
}

impl SuiteRunner {
    /// The staging runner (`staging-runner`, `deploy-staging`).
    #[must_use]
    pub const fn staging() -> SuiteRunner {
        SuiteRunner {
            suite: Suite::Staging,
        }
    }

    /// The test runner (`test-runner`, `testing`).
    #[must_use]
    pub const fn testing() -> SuiteRunner {
        SuiteRunner {
            suite: Suite::Testing,
        }
    }

    /// The stage it serves.
    #[must_use]
    pub fn stage(&self) -> Stage {
        self.profile().stage
    }

    fn profile(&self) -> &'static Profile {
        match self.suite {
            Suite::Staging => &STAGING,
            Suite::Testing => &TESTING,
        }
    }

    /// Its switch, mode, scope and limits.
    fn settings<'a>(&self, config: &'a LauncherConfig) -> &'a SuiteRunnerConfig {
        match self.suite {
            Suite::Staging => &config.staging_runner,
            Suite::Testing => &config.test_runner,
        }
    }

    /// The repository's command for the suite, when it has one (the staging
    /// command always exists; a blank one is the runner's internal error).
    fn command<'a>(&self, ctx: &'a JobContext) -> Option<&'a str> {
        match self.suite {
            Suite::Staging => Some(&ctx.repo.staging_command),
            Suite::Testing => ctx.repo.test_command.as_deref(),
        }
    }

    /// Its job, in its mode: the stage's role, the switch on, the repository
    /// in scope and naming the command.
    fn mine(&self, ctx: &JobContext, config: &LauncherConfig, mode: RunnerMode) -> bool {
        let me = self.profile();
        let settings = self.settings(config);
        // Only the test runner's mode can be set per repository.
        let own = match self.suite {
            Suite::Testing => ctx
                .repo
                .test_runner_mode
                .as_deref()
                .and_then(|m| m.parse().ok()),
            Suite::Staging => None,
        };
        ctx.role == me.serves
            && ctx.stage == me.stage
            && settings.mode_for(&ctx.repo.name, own) == Some(mode)
            && self.command(ctx).is_some()
    }

    /// Where the suite judges the task: a judge tree at the candidate commit
    /// (the commit `ctx.workspace.start` names) when the repository pins its
    /// suite, and always in shadow mode (never the LLM tester's worktree);
    /// otherwise the task's own tree. In a judge tree the pinned suite paths
    /// are restored and the repository's setup command runs first.
    fn prepare(
        &self,
        ctx: &JobContext,
        config: &LauncherConfig,
        control: &RunControl,
        shadow: bool,
    ) -> Result<Bench, Unready> {
        let patterns = &ctx.repo.suite_paths;
        let mut facts = provenance(ctx);
        let candidate = ctx
            .workspace
            .start
            .as_ref()
            .filter(|_| ctx.workspace.is_isolated())
            .map(|start| start.commit.clone());
        let Some(candidate) = candidate.filter(|_| shadow || !patterns.is_empty()) else {
            facts.push(("suite".to_owned(), suite_fact(ctx, None)));
            return Ok(Bench {
                dir: ctx.workspace.dir.clone(),
                facts,
                _tree: None,
            });
        };
        let git = Git::new(config);
        let dir = judge::judge_dir(config, ctx.task.id, ctx.job.id);
        let tree = JudgeTree::make(&git, Path::new(&ctx.repo.path), dir, &candidate)
            .map_err(Unready::Tree)?;
        facts.push((
            "judge tree".to_owned(),
            format!(
                "{} (a scratch worktree at the commit, out of the agents' reach)",
                tree.dir().display()
            ),
        ));
        let pin = Pin::of(&ctx.task).filter(|_| !patterns.is_empty());
        facts.push(("suite".to_owned(), suite_fact(ctx, pin.as_ref())));
        if let Some(pin) = &pin {
            let changes = tree
                .restore_suite(&pin.commit, &candidate, patterns)
                .map_err(Unready::Tree)?;
            facts.push((
                "suite changed by the task".to_owned(),
                judge::describe_changes(&changes),
            ));
        }
        let output = ctx
            .task_dir
            .join("setup")
            .join(format!("judge-{}.output.log", ctx.job.id));
        judge::run_setup(
            &ctx.repo,
            config,
            tree.dir(),
            Some(&candidate),
            control,
            &output,
        )
        .map_err(Unready::Setup)?;
        Ok(Bench {
            dir: tree.dir().to_path_buf(),
            facts,
            _tree: Some(tree),
        })
    }

    /// Runs `command` in `bench` and writes the log to `log`.
    fn execute(
        &self,
        ctx: &JobContext,
        config: &LauncherConfig,
        control: &RunControl,
        command: &str,
        bench: &Bench,
        log: &Path,
    ) -> StagingRun {
        let settings = self.settings(config);
        let mut spec = RunSpec::new(command, &bench.dir)
            .timeout(Some(settings.timeout))
            .grace(settings.grace)
            .limits(OutputLimits {
                sidecar_cap: settings.output_cap_bytes,
                ..OutputLimits::default()
            })
            .label(self.label(ctx))
            .supervisor(config.supervisor.clone());
        for key in &config.secret_env {
            spec = spec.scrub(key);
        }
        for key in &ctx.repo.pass_env {
            spec = spec.pass_env(key);
        }
        for (key, value) in commit_env(ctx) {
            spec.set_env.push((key, value));
        }
        spec.facts.clone_from(&bench.facts);
        // Its private TMPDIR; a room that cannot be made leaves the suite
        // with the shared one (the sandbox still confines it).
        let room = RunRoom::fresh(&config.home, "suite").ok();
        if let Some(room) = &room {
            spec.set_env.extend(room.env());
        }
        spec = spec.sandbox(sandbox::policy(
            config,
            RunKind::Suite,
            &ctx.repo,
            &bench.dir,
            None,
            room.as_ref(),
        ));
        let handle = start_to_log(&spec, log);
        control.attach(handle.canceller());
        handle.wait()
    }

    /// The judge tree could not be made ready. git's failure is the suite's
    /// tool error: deferred, then the stage fails closed with the runner's
    /// alert. A setup that failed is deferred within the runner's infra
    /// retries, then blocks the task with `setup_failed` quoting its output:
    /// never a rollback, since nothing of the task's work was judged.
    fn unready(
        &self,
        ctx: &JobContext,
        config: &LauncherConfig,
        command: &str,
        started: SystemTime,
        duration: Duration,
        unready: Unready,
    ) -> Intercepted {
        let profile = self.profile();
        let me = profile.me;
        let settings = self.settings(config);
        let spent = ctx.job.infra_attempts;
        let (why, setup) = match unready {
            Unready::Tree(WorktreeError::Cancelled) | Unready::Setup(SetupFailure::Cancelled) => {
                return Intercepted::Served(Launch::Cancelled {
                    record: Some(record(
                        me,
                        started,
                        duration,
                        None,
                        RunOutcome::Cancelled,
                        "cancelled".to_owned(),
                    )),
                });
            }
            Unready::Tree(error) => (format!("its judge tree could not be made: {error}"), false),
            Unready::Setup(SetupFailure::Failed(why)) => (why, true),
        };
        if spent < settings.infra_retries {
            return Intercepted::Served(Launch::Defer {
                record: record(me, started, duration, None, RunOutcome::Deferred, why),
                retry_in: backoff(settings.defer, spent),
            });
        }
        if setup {
            return Intercepted::Served(Launch::Block {
                record: Some(record(
                    me,
                    started,
                    duration,
                    None,
                    RunOutcome::ToolError,
                    why.clone(),
                )),
                alert: AlertSpec {
                    kind: SETUP_FAILED,
                    message: format!(
                        "task {} ({}) is blocked at {}: {why}; it failed {} times. Fix the setup (orch repo update {} --setup-cmd ...) or the host, then `orch task retry {}`",
                        ctx.task.id,
                        ctx.repo.name,
                        ctx.stage,
                        spent + 1,
                        ctx.repo.name,
                        ctx.task.id
                    ),
                },
            });
        }
        let reason = format!(
            "the {} could not be run {} times (infra retries spent): {why}",
            profile.suite,
            spent + 1
        );
        let text = render_fail_closed_log_as(
            self.label(ctx),
            command,
            &ctx.workspace.dir,
            &reason,
            &provenance(ctx),
            SystemTime::now(),
        );
        let detail = match write_atomically(&ctx.artifact, text.as_bytes()) {
            Ok(()) => reason.clone(),
            Err(write) => format!("{reason}; and the log could not be written: {write}"),
        };
        Intercepted::Served(Launch::Ran {
            record: record(me, started, duration, None, RunOutcome::Exhausted, detail),
            alert: Some(AlertSpec {
                kind: profile.exhausted,
                message: format!(
                    "task {} ({}): {reason}; the stage failed closed ({}: FAILED); fix the {} or the host",
                    ctx.task.id, ctx.repo.name, ctx.spec.verdict_key, profile.command
                ),
            }),
        })
    }

    fn label(&self, ctx: &JobContext) -> LogLabel {
        LogLabel {
            title: self.profile().title,
            verdict_key: ctx.spec.verdict_key,
        }
    }
}

/// Where a suite runs, and what its log says about that tree.
struct Bench {
    dir: PathBuf,
    facts: Vec<(String, String)>,
    /// The judge tree, removed when the bench is dropped.
    _tree: Option<JudgeTree>,
}

/// Why the judge tree could not be made ready.
enum Unready {
    /// git failed (or was cancelled) making it.
    Tree(WorktreeError),
    /// The repository's setup command failed in it.
    Setup(SetupFailure),
}

/// The staging log's `suite` line: pinned (to what), or plainly unpinned.
fn suite_fact(ctx: &JobContext, pin: Option<&Pin>) -> String {
    let patterns = ctx.repo.suite_paths.join(",");
    match pin {
        Some(pin) => format!(
            "pinned ({patterns}): paths the task deleted or modified were restored to {}; paths it added were kept",
            pin.describe()
        ),
        None if patterns.is_empty() => format!(
            "unpinned: repository {} names no suite paths, so the suite ran as the task left it (pin it: orch repo update {} --suite 'tests/**,...')",
            ctx.repo.name, ctx.repo.name
        ),
        None => format!(
            "not pinned for this task ({patterns}): it works in the repository's folder, not a git worktree, so there is no base commit to restore the suite from"
        ),
    }
}

/// The run's outcome as `agent_runs` records it, for a suite that executed.
fn executed_outcome(executed: &Executed) -> RunOutcome {
    if executed.timed_out {
        RunOutcome::TimedOut
    } else if executed.status().is_passed() {
        RunOutcome::Passed
    } else {
        RunOutcome::Failed
    }
}

impl SuiteRunner {
    fn name_str(&self) -> &'static str {
        self.profile().me.as_str()
    }

    fn claims_on(&self, ctx: &JobContext, config: &LauncherConfig) -> bool {
        self.mine(ctx, config, RunnerMode::On)
    }

    /// Serves the job in mode `on`: prepares the bench, runs the suite,
    /// and records what the sandbox enforced with the run.
    fn run_on(
        &self,
        ctx: &JobContext,
        config: &LauncherConfig,
        control: &RunControl,
    ) -> Intercepted {
        let profile = self.profile();
        let me = profile.me;
        let started = SystemTime::now();
        let t0 = Instant::now();
        let command = self.command(ctx).unwrap_or_default().trim();
        if command.is_empty() {
            return Intercepted::Fallback(record(
                me,
                started,
                t0.elapsed(),
                None,
                RunOutcome::Fallback,
                format!(
                    "repository {} has no {}; the LLM {} serves the stage",
                    ctx.repo.name, profile.command, profile.serves
                ),
            ));
        }
        let bench = match self.prepare(ctx, config, control, false) {
            Ok(bench) => bench,
            Err(unready) => {
                return self.unready(ctx, config, command, started, t0.elapsed(), unready);
            }
        };
        let staging = self.execute(ctx, config, control, command, &bench, &ctx.artifact);
        let mut served = self.served(ctx, config, started, t0, &bench, &staging);
        if let Some(record) = served.record_mut() {
            record.sandbox = suite_sandbox(&staging.outcome);
        }
        served
    }
}

/// What the sandbox enforced for a suite that started.
fn suite_sandbox(outcome: &Outcome) -> Option<orch_process::exec::SandboxLevel> {
    match outcome {
        Outcome::Executed(executed) | Outcome::Cancelled(executed) => Some(executed.sandbox),
        Outcome::ToolError(_) => None,
    }
}

impl SuiteRunner {
    /// What a suite run in mode `on` yields: the job served, deferred,
    /// blocked, or handed to the LLM.
    fn served(
        &self,
        ctx: &JobContext,
        config: &LauncherConfig,
        started: SystemTime,
        t0: Instant,
        bench: &Bench,
        staging: &StagingRun,
    ) -> Intercepted {
        let command = self.command(ctx).unwrap_or_default().trim();
        let profile = self.profile();
        let me = profile.me;
        let settings = self.settings(config);
        match (&staging.outcome, &staging.log) {
            (Outcome::Executed(executed), LogState::Written(_)) => {
                Intercepted::Served(Launch::Ran {
                    record: record(
                        me,
                        started,
                        executed.duration,
                        exit_code(executed.exit),
                        executed_outcome(executed),
                        executed.reason(),
                    ),
                    alert: None,
                })
            }
            (Outcome::Executed(executed), LogState::Failed(error)) => {
                let detail = format!("the suite ran ({}) but {error}", executed.reason());
                if executed.status().is_passed() {
                    // Nothing is lost by asking the LLM role: the suite
                    // passed, and it will run it again.
                    Intercepted::Fallback(record(
                        me,
                        started,
                        executed.duration,
                        exit_code(executed.exit),
                        RunOutcome::Fallback,
                        detail,
                    ))
                } else {
                    // A suite that failed never goes to the LLM path: with no
                    // artifact the gate fails closed, as FAILED would.
                    Intercepted::Served(Launch::Ran {
                        record: record(
                            me,
                            started,
                            executed.duration,
                            exit_code(executed.exit),
                            RunOutcome::Failed,
                            detail,
                        ),
                        alert: None,
                    })
                }
            }
            (Outcome::Executed(_) | Outcome::Cancelled(_), LogState::NotWritten)
            | (Outcome::Cancelled(_), LogState::Written(_) | LogState::Failed(_)) => {
                // Cancelled: the worker stopped it; the log (FAILED,
                // `cancelled`) is archived when the job runs again.
                Intercepted::Served(Launch::Cancelled {
                    record: Some(record(
                        me,
                        started,
                        t0.elapsed(),
                        None,
                        RunOutcome::Cancelled,
                        "cancelled".to_owned(),
                    )),
                })
            }
            (Outcome::ToolError(error), _) if error.kind == ToolErrorKind::Internal => {
                Intercepted::Fallback(record(
                    me,
                    started,
                    error.duration,
                    None,
                    RunOutcome::Fallback,
                    error.message.clone(),
                ))
            }
            (Outcome::ToolError(error), _) => {
                let spent = ctx.job.infra_attempts;
                if spent < settings.infra_retries {
                    return Intercepted::Served(Launch::Defer {
                        record: record(
                            me,
                            started,
                            error.duration,
                            error.exit.and_then(exit_code),
                            RunOutcome::Deferred,
                            error.message.clone(),
                        ),
                        retry_in: backoff(settings.defer, spent),
                    });
                }
                // Fail closed: FAILED with the infra reason, an alert, then
                // the gate as usual.
                let reason = format!(
                    "the {} could not be run {} times (infra retries spent): {}",
                    profile.suite,
                    spent + 1,
                    error.message
                );
                let text = render_fail_closed_log_as(
                    self.label(ctx),
                    command,
                    &bench.dir,
                    &reason,
                    &bench.facts,
                    SystemTime::now(),
                );
                let written = write_atomically(&ctx.artifact, text.as_bytes());
                let detail = match written {
                    Ok(()) => reason.clone(),
                    Err(write) => format!("{reason}; and the log could not be written: {write}"),
                };
                Intercepted::Served(Launch::Ran {
                    record: record(
                        me,
                        started,
                        error.duration,
                        error.exit.and_then(exit_code),
                        RunOutcome::Exhausted,
                        detail,
                    ),
                    alert: Some(AlertSpec {
                        kind: profile.exhausted,
                        message: format!(
                            "task {} ({}): {reason}; the stage failed closed ({}: FAILED); fix the {} or the host",
                            ctx.task.id, ctx.repo.name, ctx.spec.verdict_key, profile.command
                        ),
                    }),
                })
            }
        }
    }
}

impl Intercept for SuiteRunner {
    fn name(&self) -> &'static str {
        self.name_str()
    }

    fn claims(&self, ctx: &JobContext, config: &LauncherConfig) -> bool {
        self.claims_on(ctx, config)
    }

    fn run(&self, ctx: &JobContext, config: &LauncherConfig, control: &RunControl) -> Intercepted {
        self.run_on(ctx, config, control)
    }

    fn shadows(&self, ctx: &JobContext, config: &LauncherConfig) -> bool {
        self.mine(ctx, config, RunnerMode::Shadow)
    }

    fn shadow(
        &self,
        ctx: &JobContext,
        config: &LauncherConfig,
        control: &RunControl,
    ) -> Option<ShadowRun> {
        let profile = self.profile();
        let started = SystemTime::now();
        let t0 = Instant::now();
        let commit = ctx.workspace.start.as_ref().map(|s| s.commit.clone());
        let shadow = |outcome, exit, duration, verdict, detail| ShadowRun {
            record: record(profile.me, started, duration, exit, outcome, detail),
            verdict,
            commit: commit.clone(),
        };
        let command = self.command(ctx).unwrap_or_default().trim();
        if command.is_empty() {
            return Some(shadow(
                RunOutcome::ToolError,
                None,
                t0.elapsed(),
                None,
                format!(
                    "shadow: repository {} has a blank {}; the LLM {} decides",
                    ctx.repo.name, profile.command, profile.serves
                ),
            ));
        }
        let bench = match self.prepare(ctx, config, control, true) {
            Ok(bench) => bench,
            Err(
                Unready::Tree(WorktreeError::Cancelled) | Unready::Setup(SetupFailure::Cancelled),
            ) => {
                return Some(shadow(
                    RunOutcome::Cancelled,
                    None,
                    t0.elapsed(),
                    None,
                    "shadow: cancelled".to_owned(),
                ));
            }
            Err(Unready::Tree(error)) => {
                return Some(shadow(
                    RunOutcome::ToolError,
                    None,
                    t0.elapsed(),
                    None,
                    format!(
                        "shadow: its judge tree could not be made: {error}; the LLM {} decides",
                        profile.serves
                    ),
                ));
            }
            Err(Unready::Setup(SetupFailure::Failed(why))) => {
                return Some(shadow(
                    RunOutcome::ToolError,
                    None,
                    t0.elapsed(),
                    None,
                    format!("shadow: {why}; the LLM {} decides", profile.serves),
                ));
            }
        };
        let log = crate::workspace::shadow_path(&ctx.artifact);
        let run = self.execute(ctx, config, control, command, &bench, &log);
        let sandbox = suite_sandbox(&run.outcome);
        let mut shadow_run = match (&run.outcome, &run.log) {
            (Outcome::Executed(executed), log) => {
                let verdict = executed.status().as_str();
                let mut detail = format!("shadow: {}", executed.reason());
                if let LogState::Failed(error) = log {
                    detail.push_str(&format!("; {error}"));
                }
                shadow(
                    executed_outcome(executed),
                    exit_code(executed.exit),
                    executed.duration,
                    Some(verdict),
                    detail,
                )
            }
            (Outcome::Cancelled(_), _) => shadow(
                RunOutcome::Cancelled,
                None,
                t0.elapsed(),
                None,
                "shadow: cancelled".to_owned(),
            ),
            (Outcome::ToolError(error), _) => shadow(
                RunOutcome::ToolError,
                error.exit.and_then(exit_code),
                error.duration,
                None,
                format!(
                    "shadow: the {} could not be run: {}; the LLM {} decides",
                    profile.suite, error.message, profile.serves
                ),
            ),
        };
        shadow_run.record.sandbox = sandbox;
        Some(shadow_run)
    }
}

// ---------------------------------------------------------------------------
// deploy-finalizer and post-deploy-monitor

/// One run of a repository command, as its log shows it.
#[derive(Debug, Clone)]
struct CommandRun {
    /// `exit code 0`, `killed by signal 9`, `timeout`, or the tool error.
    what: String,
    /// Whether it exited 0 in time.
    ok: bool,
    exit_code: Option<i32>,
    duration: Duration,
    /// Its output, as kept (head and tail).
    output: String,
    /// What the sandbox enforced, when it started.
    sandbox: Option<orch_process::exec::SandboxLevel>,
}

/// Runs `command` once in the repository; `None` when cancelled.
fn run_command(
    ctx: &JobContext,
    config: &LauncherConfig,
    control: &RunControl,
    command: &str,
    timeout: Duration,
) -> Option<CommandRun> {
    let room = RunRoom::fresh(&config.home, "deploy").ok();
    let mut env = command_env(ctx, config);
    if let Some(room) = &room {
        env.set.extend(room.env());
    }
    let spec = ExecSpec::new(Program::Shell(command.to_owned()), &ctx.workspace.dir)
        .env(env)
        .timeout(Some(timeout))
        .supervisor(config.supervisor.clone())
        .sandbox(sandbox::policy(
            config,
            RunKind::Deploy,
            &ctx.repo,
            &ctx.workspace.dir,
            None,
            room.as_ref(),
        ));
    let handle = exec::start(&spec);
    control.attach(handle.canceller());
    Some(match handle.wait() {
        ExecOutcome::Finished(finished) => {
            let exit = finished.ending.exit();
            let mut output = String::from_utf8_lossy(&finished.output.head).into_owned();
            if finished.output.omitted_bytes > 0 {
                output.push_str(&format!(
                    "\n[... {} bytes omitted ...]\n",
                    finished.output.omitted_bytes
                ));
            }
            output.push_str(&String::from_utf8_lossy(&finished.output.tail));
            let (what, ok) = match finished.ending {
                Ending::Exited(ProcessExit::Code(0)) => (describe_exit(exit), true),
                Ending::Exited(_) => (describe_exit(exit), false),
                Ending::TimedOut(_) => ("timeout".to_owned(), false),
                // No observer or output clock is set on these commands; were
                // one ever set, a run ended early fails closed.
                Ending::Dismissed(_) | Ending::Stalled(..) => ("ended early".to_owned(), false),
                Ending::Cancelled(_) => return None,
            };
            CommandRun {
                what,
                ok,
                exit_code: exit_code(exit),
                duration: finished.duration,
                output,
                sandbox: Some(finished.sandbox),
            }
        }
        ExecOutcome::Failed(error) => CommandRun {
            what: error.message,
            ok: false,
            exit_code: None,
            duration: error.duration,
            output: String::new(),
            sandbox: None,
        },
    })
}

/// Renders a reserved agent's artifact: the verdict first, then one quoted
/// line per fact, then each command run with its output in a fence that
/// nothing in it can close.
fn render_log(
    title: &str,
    key: &str,
    value: &str,
    outcome: &str,
    reason: &str,
    command: Option<&str>,
    runs: &[CommandRun],
) -> String {
    let mut out = format!("# {title}\n\n");
    out.push_str(&render_verdict_line(key, value));
    out.push_str(&format!("- outcome: {outcome}\n"));
    out.push_str(&format!("- reason: {reason:?}\n"));
    if let Some(command) = command {
        out.push_str("\n## Command\n\n");
        out.push_str(&fenced_block("sh", command));
    }
    for (i, run) in runs.iter().enumerate() {
        out.push_str(&format!(
            "\n## Run {}: {} in {:.3} s\n\n",
            i + 1,
            run.what.replace('\n', " "),
            run.duration.as_secs_f64()
        ));
        if let Some(level) = run.sandbox {
            out.push_str(&format!("- sandbox: {level}\n\n"));
        }
        out.push_str(&fenced_block("text", &run.output));
    }
    out
}

/// A repository command, when one is configured (not blank).
fn configured(command: Option<&str>) -> Option<&str> {
    command.map(str::trim).filter(|c| !c.is_empty())
}

fn write_artifact(ctx: &JobContext, text: &str) -> Result<(), String> {
    write_atomically(&ctx.artifact, text.as_bytes()).map_err(|error| error.to_string())
}

/// A skipped stage: the artifact says nothing was done and why; the verdict
/// is the passing one, the run's outcome `skipped`.
fn skipped(ctx: &JobContext, role: Role, title: &str, why: &str) -> Intercepted {
    let started = SystemTime::now();
    let text = render_log(
        title,
        ctx.spec.verdict_key,
        ctx.spec.pass_value,
        "skipped",
        why,
        None,
        &[],
    );
    let detail = match write_artifact(ctx, &text) {
        Ok(()) => why.to_owned(),
        Err(error) => format!("{why}; the artifact could not be written: {error}"),
    };
    Intercepted::Served(Launch::Ran {
        record: record(
            role,
            started,
            Duration::ZERO,
            None,
            RunOutcome::Skipped,
            detail,
        ),
        alert: None,
    })
}

/// The kind of side effect the deploy command is ([`EffectStart::kind`]).
pub const DEPLOY_EFFECT: &str = "deploy";

/// The kind of side effect the post-deploy probes are.
pub const POST_DEPLOY_EFFECT: &str = "post-deploy";

/// The alert kind of a deploy whose start is recorded but whose end never
/// was: its outcome is unknown, so it is not run again.
pub const DEPLOY_INTERRUPTED: AlertKind = AlertKind::DeployInterrupted;

/// Records the start of `effect` ([`RunControl::begin_effect`]); `None` when
/// the command may run, otherwise how the run ends without it: cancelled
/// when the job is no longer the worker's (or was cancelled), deferred when
/// the start could not be written (within the worktree's infra retries,
/// then the task is blocked).
fn effect_refused(
    ctx: &JobContext,
    config: &LauncherConfig,
    control: &RunControl,
    me: Role,
    started: SystemTime,
    effect: &EffectStart,
) -> Option<Intercepted> {
    let why = match control.begin_effect(effect) {
        Ok(()) => return None,
        Err(EffectRefused::Fenced(_)) => {
            return Some(Intercepted::Served(Launch::Cancelled { record: None }));
        }
        Err(EffectRefused::Unrecorded(why)) => why,
    };
    let detail = format!(
        "the start of the {} could not be recorded, so its command was not run: {why}",
        effect.kind
    );
    let run = record(
        me,
        started,
        Duration::ZERO,
        None,
        RunOutcome::ToolError,
        detail.clone(),
    );
    let settings = &config.worktree;
    Some(Intercepted::Served(
        if ctx.job.infra_attempts < settings.infra_retries {
            Launch::Defer {
                record: RunRecord {
                    outcome: RunOutcome::Deferred,
                    ..run
                },
                retry_in: backoff(settings.defer, ctx.job.infra_attempts),
            }
        } else {
            Launch::Block {
                record: Some(run),
                alert: AlertSpec {
                    kind: AlertKind::EffectUnrecorded,
                    message: format!(
                        "task {} ({}) is blocked at {}: {detail} ({} tries); check the database (disk, locks), then `orch task retry {}`",
                        ctx.task.id,
                        ctx.repo.name,
                        ctx.stage,
                        ctx.job.infra_attempts + 1,
                        ctx.task.id
                    ),
                },
            }
        },
    ))
}

/// The deploy finalizer: serves stage `deploy`. Runs the repository's deploy
/// command once and writes `17-deploy-log.md`: `DEPLOYED` when it exited 0,
/// `FAILED` otherwise. No deploy command: `skipped`, `DEPLOYED` with the
/// reason. It deploys only when the task's latest staging verdict passed
/// (and, with a worktree, the tree is exactly the tested commit), and only
/// once: its start is recorded, with the commit, through
/// [`RunControl::begin_effect`] before the command runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeployFinalizer;

impl Intercept for DeployFinalizer {
    fn name(&self) -> &'static str {
        Role::DeployFinalizer.as_str()
    }

    fn claims(&self, ctx: &JobContext, _config: &LauncherConfig) -> bool {
        ctx.role == Role::DeployFinalizer
    }

    fn run(&self, ctx: &JobContext, config: &LauncherConfig, control: &RunControl) -> Intercepted {
        let me = Role::DeployFinalizer;
        let Some(command) = configured(ctx.repo.deploy_command.as_deref()) else {
            return skipped(
                ctx,
                me,
                "Deploy log",
                "the repository has no deploy command, so nothing was deployed",
            );
        };
        let started = SystemTime::now();
        if let Some(why) = untested(ctx) {
            // Never deploy a tree that staging did not pass: the stage fails
            // closed, the task is blocked, and an alert says why.
            let reason = format!("deploy refused: {why}");
            let text = render_log(
                "Deploy log",
                ctx.spec.verdict_key,
                "FAILED",
                "refused",
                &reason,
                Some(command),
                &[],
            );
            let detail = match write_artifact(ctx, &text) {
                Ok(()) => reason.clone(),
                Err(error) => format!("{reason}; the artifact could not be written: {error}"),
            };
            return Intercepted::Served(Launch::Ran {
                record: record(
                    me,
                    started,
                    Duration::ZERO,
                    None,
                    RunOutcome::Failed,
                    detail,
                ),
                alert: Some(AlertSpec {
                    kind: AlertKind::DeployRefused,
                    message: format!(
                        "task {} ({}): {reason}; nothing was deployed. Look at the worktree {}, then send the task back through staging",
                        ctx.task.id,
                        ctx.repo.name,
                        ctx.workspace.dir.display()
                    ),
                }),
            });
        }
        // At most once: the start is recorded, with the commit, before the
        // command runs. A later claim of this job that finds it unended
        // never runs the command again (the engine blocks the task with
        // deploy_interrupted).
        let effect = EffectStart {
            kind: DEPLOY_EFFECT,
            commit: ctx.tested.as_ref().map(|t| t.commit.clone()),
            repeatable: false,
        };
        if let Some(refused) = effect_refused(ctx, config, control, me, started, &effect) {
            return refused;
        }
        let Some(run) = run_command(ctx, config, control, command, config.deploy.timeout) else {
            return Intercepted::Served(Launch::Cancelled { record: None });
        };
        let (value, outcome) = if run.ok {
            (ctx.spec.pass_value, RunOutcome::Passed)
        } else {
            ("FAILED", RunOutcome::Failed)
        };
        let text = render_log(
            "Deploy log",
            ctx.spec.verdict_key,
            value,
            "executed",
            &run.what,
            Some(command),
            std::slice::from_ref(&run),
        );
        let detail = match write_artifact(ctx, &text) {
            Ok(()) => run.what.clone(),
            Err(error) => format!("{}; the artifact could not be written: {error}", run.what),
        };
        Intercepted::Served(Launch::Ran {
            record: RunRecord {
                sandbox: run.sandbox,
                ..record(me, started, run.duration, run.exit_code, outcome, detail)
            },
            alert: None,
        })
    }
}

/// The post-deploy monitor: serves stage `post-deploy`. Runs the repository's
/// health-check command `probes` times spread over `window` and writes
/// `19-post-deploy.md`: `HEALTHY` when every probe exited 0, `DEGRADED`
/// otherwise. No health-check command: `skipped`, `HEALTHY` with the reason.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostDeployMonitor;

impl Intercept for PostDeployMonitor {
    fn name(&self) -> &'static str {
        Role::PostDeployMonitor.as_str()
    }

    fn claims(&self, ctx: &JobContext, _config: &LauncherConfig) -> bool {
        ctx.role == Role::PostDeployMonitor
    }

    fn run(&self, ctx: &JobContext, config: &LauncherConfig, control: &RunControl) -> Intercepted {
        let me = Role::PostDeployMonitor;
        let Some(command) = configured(ctx.repo.health_command.as_deref()) else {
            return skipped(
                ctx,
                me,
                "Post-deploy report",
                "the repository has no health-check command, so nothing was probed",
            );
        };
        // Recorded for the history, with the commit probed; repeatable: the
        // probes only read the deployed service's health, so a probe run
        // cut short is run again whole after a rescue.
        let effect = EffectStart {
            kind: POST_DEPLOY_EFFECT,
            commit: ctx.tested.as_ref().map(|t| t.commit.clone()),
            repeatable: true,
        };
        if let Some(refused) = effect_refused(ctx, config, control, me, SystemTime::now(), &effect)
        {
            return refused;
        }
        let plan = &config.post_deploy;
        let probes = plan.probes.max(1);
        let interval = plan.window / probes.saturating_sub(1).max(1);
        let started = SystemTime::now();
        let t0 = Instant::now();
        let mut runs = Vec::new();
        for i in 0..probes {
            if i > 0 {
                // Checked: a window too long for the clock is never due (the
                // binary refuses one past 7 days; an embedder may not).
                let due = interval
                    .checked_mul(i)
                    .and_then(|offset| t0.checked_add(offset));
                while due.is_none_or(|due| Instant::now() < due) {
                    if control.is_cancelled() {
                        return Intercepted::Served(Launch::Cancelled { record: None });
                    }
                    std::thread::sleep(
                        due.map_or(Duration::MAX, |due| {
                            due.saturating_duration_since(Instant::now())
                        })
                        .min(Duration::from_millis(100)),
                    );
                }
            }
            let Some(run) = run_command(ctx, config, control, command, plan.probe_timeout) else {
                return Intercepted::Served(Launch::Cancelled { record: None });
            };
            runs.push(run);
        }
        let failed = runs.iter().filter(|run| !run.ok).count();
        let (value, outcome, reason) = if failed == 0 {
            (
                ctx.spec.pass_value,
                RunOutcome::Passed,
                format!("all {probes} probes passed"),
            )
        } else {
            (
                "DEGRADED",
                RunOutcome::Failed,
                format!("{failed} of {probes} probes failed"),
            )
        };
        let text = render_log(
            "Post-deploy report",
            ctx.spec.verdict_key,
            value,
            "executed",
            &reason,
            Some(command),
            &runs,
        );
        let detail = match write_artifact(ctx, &text) {
            Ok(()) => reason,
            Err(error) => format!("{reason}; the artifact could not be written: {error}"),
        };
        let last_exit = runs.last().and_then(|run| run.exit_code);
        Intercepted::Served(Launch::Ran {
            record: RunRecord {
                sandbox: runs.last().and_then(|run| run.sandbox),
                ..record(me, started, t0.elapsed(), last_exit, outcome, detail)
            },
            alert: None,
        })
    }
}
