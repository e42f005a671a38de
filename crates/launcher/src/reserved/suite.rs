//! The suite runners: `staging-runner` and `test-runner`, one type
//! ([`SuiteRunner`]) configured per stage.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use orch_pipeline::{Role, Stage};
use orch_staging_runner::{
    Executed, LogLabel, LogState, Outcome, OutputLimits, RunSpec, StagingRun, ToolErrorKind,
    render_fail_closed_log_as, start_to_log, write_atomically,
};
use orch_store::AlertKind;

use crate::config::{LauncherConfig, RunnerMode, SuiteRunnerConfig};
use crate::context::{JobContext, RunControl};
use crate::judge::{self, JudgeTree, Pin, SetupFailure};
use crate::launch::{AlertSpec, Intercept, Intercepted, Launch, RunOutcome, ShadowRun};
use crate::sandbox::{self, RunKind, RunRoom};
use crate::worktree::{Git, WorktreeError};

use super::SETUP_FAILED;
use super::shared::{commit_env, exit_code, limit_text, provenance, record};

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
    /// The `orch repo update` flag that sets its command.
    flag: &'static str,
    /// The setting that bounds one run of it.
    timeout_key: &'static str,
}

const STAGING: Profile = Profile {
    me: Role::StagingRunner,
    serves: Role::Deployer,
    stage: Stage::DeployStaging,
    title: "Staging log",
    command: "staging command",
    suite: "staging suite",
    exhausted: AlertKind::StagingRunnerExhausted,
    flag: "staging-cmd",
    timeout_key: "ORCH_STAGING_RUNNER_TIMEOUT_SECS",
};

const TESTING: Profile = Profile {
    me: Role::TestRunner,
    serves: Role::Tester,
    stage: Stage::Testing,
    title: "Test report",
    command: "test command",
    suite: "test suite",
    exhausted: AlertKind::TestRunnerExhausted,
    flag: "test-cmd",
    timeout_key: "ORCH_TEST_RUNNER_TIMEOUT_SECS",
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
        let candidate = ctx.workspace.start().map(|start| start.commit.clone());
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
            .limits(OutputLimits::default().with_sidecar_cap(settings.output_cap_bytes))
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
        if let Some(retry_in) = settings.retry.next(spent) {
            return Intercepted::Served(Launch::Defer {
                record: record(me, started, duration, None, RunOutcome::Deferred, why),
                retry_in,
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
        // Nothing of the task's work was judged: the task is blocked for the
        // operator, never rolled back to a developer who cannot fix it.
        Intercepted::Served(Launch::Block {
            record: Some(record(
                me,
                started,
                duration,
                None,
                RunOutcome::Exhausted,
                detail,
            )),
            alert: self.cannot_run_alert(ctx, &reason),
        })
    }

    /// The alert of a suite that could not be run and whose infra retries
    /// are spent: the task is blocked at its stage, and the alert says what
    /// to fix and how to go on.
    fn cannot_run_alert(&self, ctx: &JobContext, reason: &str) -> AlertSpec {
        let profile = self.profile();
        AlertSpec {
            kind: profile.exhausted,
            message: format!(
                "task {} ({}) is blocked at {}: {reason}; the stage failed closed ({}: FAILED), not charged to the developer. Fix the {} (`orch repo update {} --{} ...`, try it with `orch repo check {}`) or the host, then `orch task retry {}`",
                ctx.task.id,
                ctx.repo.name,
                ctx.stage,
                ctx.spec.verdict_key,
                profile.command,
                ctx.repo.name,
                profile.flag,
                ctx.repo.name,
                ctx.task.id
            ),
        }
    }

    fn label(&self, ctx: &JobContext) -> LogLabel {
        LogLabel::new(self.profile().title, ctx.spec.verdict_key)
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
                // A timeout fails the stage as a failure does; its alert
                // names the limit and the setting that raises it.
                let alert = executed.timed_out.then(|| AlertSpec {
                    kind: AlertKind::SuiteTimedOut,
                    message: format!(
                        "task {} ({}): the {} `{command}` ran past its limit of {} ({}) and was stopped; the stage failed (a timeout is a failure). Make the suite faster, or raise {} if the limit is too tight",
                        ctx.task.id,
                        ctx.repo.name,
                        profile.suite,
                        limit_text(settings.timeout),
                        profile.timeout_key,
                        profile.timeout_key
                    ),
                });
                Intercepted::Served(Launch::Ran {
                    record: record(
                        me,
                        started,
                        executed.duration,
                        exit_code(executed.exit),
                        executed_outcome(executed),
                        executed.reason(),
                    ),
                    alert,
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
                self.tool_error(ctx, config, started, bench, command, error)
            }
        }
    }

    /// A suite that could not be run (a tool error): deferred while the
    /// infra retries last; then the stage fails closed — FAILED with the
    /// infra reason in the log, and an alert.
    fn tool_error(
        &self,
        ctx: &JobContext,
        config: &LauncherConfig,
        started: SystemTime,
        bench: &Bench,
        command: &str,
        error: &orch_staging_runner::ToolError,
    ) -> Intercepted {
        let profile = self.profile();
        let me = profile.me;
        let settings = self.settings(config);
        let spent = ctx.job.infra_attempts;
        if let Some(retry_in) = settings.retry.next(spent) {
            return Intercepted::Served(Launch::Defer {
                record: record(
                    me,
                    started,
                    error.duration,
                    error.exit.and_then(exit_code),
                    RunOutcome::Deferred,
                    error.message.clone(),
                ),
                retry_in,
            });
        }
        // Fail closed: FAILED with the infra reason in the log, the task
        // blocked with the alert.
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
        // A command that cannot run (126, 127, a missing folder) is not the
        // developer's to fix: blocked, not rolled back.
        Intercepted::Served(Launch::Block {
            record: Some(record(
                me,
                started,
                error.duration,
                error.exit.and_then(exit_code),
                RunOutcome::Exhausted,
                detail,
            )),
            alert: self.cannot_run_alert(ctx, &reason),
        })
    }
}

impl SuiteRunner {
    /// A shadow run whose judge tree or setup was not ready: cancelled, or
    /// a tool error the LLM's verdict decides past.
    fn shadow_unready(&self, unready: Unready) -> (RunOutcome, String) {
        let serves = self.profile().serves;
        match unready {
            Unready::Tree(WorktreeError::Cancelled) | Unready::Setup(SetupFailure::Cancelled) => {
                (RunOutcome::Cancelled, "shadow: cancelled".to_owned())
            }
            Unready::Tree(error) => (
                RunOutcome::ToolError,
                format!(
                    "shadow: its judge tree could not be made: {error}; the LLM {serves} decides"
                ),
            ),
            Unready::Setup(SetupFailure::Failed(why)) => (
                RunOutcome::ToolError,
                format!("shadow: {why}; the LLM {serves} decides"),
            ),
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
        let commit = ctx.workspace.start().map(|s| s.commit.clone());
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
            Err(unready) => {
                let (outcome, detail) = self.shadow_unready(unready);
                return Some(shadow(outcome, None, t0.elapsed(), None, detail));
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
