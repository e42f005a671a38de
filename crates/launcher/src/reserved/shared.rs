//! What the reserved agents share: the run record, a repository command's
//! environment and run, the artifact's rendering and writing, a skipped
//! stage, and the effect record before a side effect.

use std::ffi::OsString;
use std::time::{Duration, SystemTime};

use orch_pipeline::{Role, Stage, fenced_block, render_verdict_line};
use orch_self_deploy::ProcessExit;
use orch_staging_runner::exec::{self, Ending, EnvPolicy, ExecOutcome, ExecSpec, Program, Scrub};
use orch_staging_runner::{describe_exit, write_atomically};
use orch_store::{AlertKind, Transport};

use crate::config::LauncherConfig;
use crate::context::{EffectRefused, EffectStart, JobContext, RunControl};
use crate::launch::{AlertSpec, Intercepted, Launch, RunOutcome, RunRecord};
use crate::sandbox::{self, RunKind, RunRoom};
use crate::usage::Usage;

pub(super) fn record(
    role: Role,
    started: SystemTime,
    duration: Duration,
    exit_code: Option<i32>,
    outcome: RunOutcome,
    detail: String,
) -> RunRecord {
    RunRecord {
        role,
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

pub(super) fn exit_code(exit: ProcessExit) -> Option<i32> {
    match exit {
        ProcessExit::Code(code) => Some(code),
        ProcessExit::Signal(_) => None,
    }
}

/// The environment a repository's own commands get: secrets dropped, the
/// repository's pass-through names kept.
pub(super) fn command_env(ctx: &JobContext, config: &LauncherConfig) -> EnvPolicy {
    EnvPolicy::new(Scrub::Secrets)
        .with_extra_secrets(&config.secret_env)
        .with_pass_through(&ctx.repo.pass_env)
        .with_set(commit_env(ctx))
}

/// `ORCH_COMMIT` for a repository's own command: the commit it runs on (for
/// deploy and health checks, the commit staging tested; for a suite, the
/// commit its stage started on).
pub(super) fn commit_env(ctx: &JobContext) -> Vec<(OsString, OsString)> {
    let commit = match (&ctx.tested, ctx.workspace.start()) {
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
pub(super) fn provenance(ctx: &JobContext) -> Vec<(String, String)> {
    match ctx.workspace.worktree() {
        Some(crate::worktree::TaskWorktree { branch, start, .. }) => vec![
            ("commit".to_owned(), start.commit.clone()),
            ("branch".to_owned(), branch.clone()),
            ("tree".to_owned(), start.describe()),
        ],
        None => vec![(
            "commit".to_owned(),
            "none (the repository is not a git repository: the suite ran in its folder)".to_owned(),
        )],
    }
}

/// Why deploying the worktree as it is now would deploy a tree that staging
/// did not pass; `None` when the task's latest staging verdict passed and,
/// with a worktree, the tree is exactly the commit it tested.
pub(super) fn untested(ctx: &JobContext) -> Option<String> {
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
    let start = ctx.workspace.start()?;
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

/// One run of a repository command, as its log shows it.
#[derive(Debug, Clone)]
pub(super) struct CommandRun {
    /// `exit code 0`, `killed by signal 9`, `timeout`, or the tool error.
    pub(super) what: String,
    /// Whether it exited 0 in time.
    pub(super) ok: bool,
    pub(super) exit_code: Option<i32>,
    pub(super) duration: Duration,
    /// Its output, as kept (head and tail).
    pub(super) output: String,
    /// What the sandbox enforced, when it started.
    pub(super) sandbox: Option<orch_process::exec::SandboxLevel>,
}

/// Runs `command` once in the repository; `None` when cancelled.
pub(super) fn run_command(
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
pub(super) fn render_log(
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
pub(super) fn configured(command: Option<&str>) -> Option<&str> {
    command.map(str::trim).filter(|c| !c.is_empty())
}

pub(super) fn write_artifact(ctx: &JobContext, text: &str) -> Result<(), String> {
    write_atomically(&ctx.artifact, text.as_bytes()).map_err(|error| error.to_string())
}

/// A skipped stage: the artifact says nothing was done and why; the verdict
/// is the passing one, the run's outcome `skipped`.
pub(super) fn skipped(ctx: &JobContext, role: Role, title: &str, why: &str) -> Intercepted {
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

/// Records the start of `effect` ([`RunControl::begin_effect`]); `None` when
/// the command may run, otherwise how the run ends without it: cancelled
/// when the job is no longer the worker's (or was cancelled), deferred when
/// the start could not be written (within the worktree's infra retries,
/// then the task is blocked).
pub(super) fn effect_refused(
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
        if let Some(retry_in) = settings.retry.next(ctx.job.infra_attempts) {
            Launch::Defer {
                record: RunRecord {
                    outcome: RunOutcome::Deferred,
                    ..run
                },
                retry_in,
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

/// A limit in seconds as people read it: `900s`, `0.3s`.
pub(super) fn limit_text(limit: Duration) -> String {
    if limit.subsec_millis() == 0 {
        format!("{}s", limit.as_secs())
    } else {
        format!("{:.1}s", limit.as_secs_f64())
    }
}
