//! `spawn`: the one function in orch that starts an LLM agent process.
//!
//! It runs the configured agent command (`sh -c AGENT_CMD`, e.g.
//! `claude -p --output-format json`) in the task's worktree through the
//! process machinery of `orch-staging-runner` — timeout, whole-tree kill, no
//! inherited descriptor, no second copy of any of it — with the prompt on
//! stdin, then stdin closed. The agent's environment is an allow-list
//! ([`crate::preset::env_policy`]: `PATH`, `HOME`, locale, terminal, its
//! preset's credentials, `ORCH_AGENT_PASS_ENV`), plus the task contract:
//!
//! | variable | value |
//! |---|---|
//! | `ORCH_TASK_ID` | the task's id |
//! | `ORCH_ROLE` | the role, e.g. `developer` |
//! | `ORCH_STAGE` | the stage, e.g. `development` |
//! | `ORCH_REPO_PATH` | where the role works: the task's own git worktree (or the repository's folder, when it is not a git repository) |
//! | `ORCH_ARTIFACT` | the absolute path of the artifact to write |
//! | `ORCH_VERDICT_KEY` | the verdict key, e.g. `development_status` |
//! | `ORCH_VERDICT_PASS` | the value that lets the task advance |
//!
//! Its stdout and stderr go, capped, to `NAME.output.log` beside the
//! artifact, and the prompt to `NAME.prompt.md`. Its stdout is parsed for cost
//! and tokens whatever its exit code ([`crate::usage`]).

use std::ffi::OsString;
use std::time::{Duration, SystemTime};

use orch_process::exec::OutputLimits;
use orch_process::exec::{self, Ending, ExecOutcome, ExecSpec, Program, SandboxLevel, Streams};
use orch_self_deploy::ProcessExit;
use orch_store::Transport;

use crate::config::LauncherConfig;
use crate::context::{JobContext, RunControl};
use crate::launch::{AlertSpec, Launch, RunOutcome, RunRecord};
use crate::sandbox::{self, RunKind, RunRoom};
use crate::usage::{Usage, parse_usage};
use crate::{prompt, workspace};

/// The longest backoff between deferrals.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// `base × 2^attempts`, at most an hour.
#[must_use]
pub(crate) fn backoff(base: Duration, attempts: u32) -> Duration {
    base.checked_mul(1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX))
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
}

/// The environment contract of an agent run (see the module documentation).
#[must_use]
pub fn agent_env(ctx: &JobContext) -> Vec<(OsString, OsString)> {
    vec![
        ("ORCH_TASK_ID".into(), ctx.task.id.to_string().into()),
        ("ORCH_ROLE".into(), ctx.role.as_str().into()),
        ("ORCH_STAGE".into(), ctx.stage.as_str().into()),
        (
            "ORCH_REPO_PATH".into(),
            ctx.workspace.dir.clone().into_os_string(),
        ),
        (
            "ORCH_ARTIFACT".into(),
            ctx.artifact.clone().into_os_string(),
        ),
        ("ORCH_VERDICT_KEY".into(), ctx.spec.verdict_key.into()),
        ("ORCH_VERDICT_PASS".into(), ctx.spec.pass_value.into()),
    ]
}

/// Starts the LLM agent for `ctx`'s role and waits for it; the only function
/// that starts an agent process. Never panics; every ending is a [`Launch`].
#[must_use]
pub fn spawn(ctx: &JobContext, config: &LauncherConfig, control: &RunControl) -> Launch {
    let started = SystemTime::now();
    let record = |outcome: RunOutcome,
                  exit_code,
                  duration,
                  usage,
                  detail: String,
                  sandbox: Option<SandboxLevel>| RunRecord {
        role: ctx.role.as_str().to_owned(),
        transport: Transport::Llm,
        started,
        duration,
        exit_code,
        outcome,
        usage,
        detail,
        sandbox,
    };
    // The run's own folders: a private TMPDIR, and the output folder the
    // agent writes its artifact to (the task folder is read-only to it in
    // the sandbox); orch takes the artifact from there when it ends.
    let room = match RunRoom::new(&config.home, &format!("job-{}", ctx.job.id)) {
        Ok(room) => room,
        Err(error) => {
            return unavailable(
                ctx,
                config,
                format!(
                    "cannot make the run's folders under {}: {error}",
                    config.home.display()
                ),
                Duration::ZERO,
                &record,
            );
        }
    };
    let written = room.out().join(
        ctx.artifact
            .file_name()
            .unwrap_or_else(|| std::ffi::OsStr::new("artifact.md")),
    );
    let mut agent_ctx = ctx.clone();
    agent_ctx.artifact.clone_from(&written);
    let prompt = prompt::build(&config.home, &agent_ctx);
    let [output_log, prompt_file] = workspace::sidecars(&ctx.artifact);
    // Kept for the operator; a prompt that cannot be written does not stop
    // the run.
    let _ = std::fs::write(&prompt_file, &prompt);
    let mut set = agent_env(&agent_ctx);
    set.extend(room.env());
    // Only what the agent needs: an allow-list, its preset's credentials.
    let env = crate::preset::prepare(config, set);
    let policy = sandbox::policy(
        config,
        RunKind::Agent,
        &ctx.repo,
        &ctx.workspace.dir,
        Some(&ctx.task_dir),
        Some(&room),
    );
    let spec = ExecSpec::new(
        Program::Shell(config.agent.command.clone()),
        &ctx.workspace.dir,
    )
    .stdin(prompt.into_bytes())
    .streams(Streams::Separate {
        stdout_cap: config.agent.stdout_cap,
    })
    .sidecar(output_log)
    .limits(OutputLimits::default())
    .env(env)
    .timeout(Some(config.agent.timeout))
    .grace(config.agent.grace)
    .supervisor(config.supervisor.clone())
    .sandbox(policy);
    let handle = exec::start(&spec);
    control.attach(handle.canceller());
    let outcome = handle.wait();
    match outcome {
        ExecOutcome::Finished(finished) => {
            let usage = finished
                .stdout
                .as_ref()
                .map(|stdout| parse_usage(&stdout.bytes))
                .unwrap_or_default();
            let exit = finished.ending.exit();
            let exit_code = match exit {
                ProcessExit::Code(code) => Some(code),
                ProcessExit::Signal(_) => None,
            };
            let detail = orch_process::describe_exit(exit);
            let sandbox = Some(finished.sandbox);
            if let Ending::Exited(ProcessExit::Code(code @ (126 | 127))) = finished.ending {
                let said = String::from_utf8_lossy(&finished.output.tail);
                let said = said.trim().lines().last().unwrap_or("").to_owned();
                let what = if code == 127 {
                    "not found"
                } else {
                    "not executable"
                };
                return unavailable(
                    ctx,
                    config,
                    format!(
                        "the agent command {:?} exited {code}: the shell found its program {what} ({said})",
                        config.agent.command
                    ),
                    finished.duration,
                    &record,
                );
            }
            // The artifact, from the agent's output folder into the task
            // folder; a link or a non-file there is refused (the gate then
            // fails closed on the missing artifact). A cancelled run's half
            // is taken too: the engine moves it to the attempt archive.
            let taken = sandbox::take_artifact(&written, &ctx.artifact);
            let refused = taken
                .err()
                .map(|why| format!("; {why}"))
                .unwrap_or_default();
            let (outcome, detail) = match finished.ending {
                Ending::Exited(ProcessExit::Code(0)) => (RunOutcome::Passed, detail),
                Ending::Exited(_) => (RunOutcome::Failed, detail),
                Ending::TimedOut(_) => (
                    RunOutcome::TimedOut,
                    format!("timeout after {:?}", config.agent.timeout),
                ),
                Ending::Cancelled(_) => {
                    return Launch::Cancelled {
                        record: Some(record(
                            RunOutcome::Cancelled,
                            exit_code,
                            finished.duration,
                            usage,
                            "cancelled".to_owned(),
                            sandbox,
                        )),
                    };
                }
            };
            Launch::Ran {
                record: record(
                    outcome,
                    exit_code,
                    finished.duration,
                    usage,
                    format!("{detail}{refused}"),
                    sandbox,
                ),
                alert: None,
            }
        }
        ExecOutcome::Failed(error) => {
            unavailable(ctx, config, error.message, error.duration, &record)
        }
    }
}

/// The agent could not be run at all (spawn failed, its shell said 126/127:
/// not executable, not found, or its sandbox could not be set up): deferred
/// while the retries last, then the task is blocked — never a stage failure
/// the developer budget pays for.
fn unavailable(
    ctx: &JobContext,
    config: &LauncherConfig,
    message: String,
    duration: Duration,
    record: &dyn Fn(
        RunOutcome,
        Option<i32>,
        Duration,
        Usage,
        String,
        Option<SandboxLevel>,
    ) -> RunRecord,
) -> Launch {
    let spent = ctx.job.infra_attempts;
    if spent >= config.agent.infra_retries {
        Launch::Block {
            record: Some(record(
                RunOutcome::ToolError,
                None,
                duration,
                Usage::default(),
                message.clone(),
                None,
            )),
            alert: AlertSpec {
                kind: "agent_unavailable",
                message: format!(
                    "the agent for task {} ({}) could not be started {} times: {message}; check ORCH_AGENT (or ORCH_AGENT_CMD) with `orch agent check`, ORCH_SANDBOX and the repository's checkout, then `orch task retry {}`",
                    ctx.task.id,
                    ctx.role.as_str(),
                    spent + 1,
                    ctx.task.id,
                ),
            },
        }
    } else {
        Launch::Defer {
            record: record(
                RunOutcome::Deferred,
                None,
                duration,
                Usage::default(),
                message,
                None,
            ),
            retry_in: backoff(config.agent.defer, spent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 0), Duration::from_secs(30));
        assert_eq!(backoff(base, 1), Duration::from_secs(60));
        assert_eq!(backoff(base, 3), Duration::from_secs(240));
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
        assert_eq!(backoff(Duration::ZERO, 5), Duration::ZERO);
    }
}
