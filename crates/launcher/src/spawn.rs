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
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use orch_process::exec::{
    self, Ending, ExecOutcome, ExecSpec, Finished, LineAction, LineObserver, OutputClocks,
    OutputLimits, Program, SandboxLevel, Stall, Streams,
};
use orch_self_deploy::ProcessExit;
use orch_store::{AlertKind, Transport};

use crate::config::LauncherConfig;
use crate::context::{JobContext, RunControl};
use crate::record::{AlertSpec, Launch, RunOutcome, RunRecord};
use crate::sandbox::{self, RunKind, RunRoom};
use crate::stream::{AgentStream, Fault, RunEnd, StreamReport, classify};
use crate::usage::{Usage, estimate_cost, parse_usage};

/// Whether the agent command asks for a streaming output format, one event
/// per line as the run goes (Claude Code and Gemini `stream-json`, Codex
/// `exec --json`). Only then are the output clocks armed: a CLI that prints
/// one document at its end is silent by design until then.
fn streams_events(command: &str) -> bool {
    command.contains("stream-json") || (command.contains("codex") && command.contains("--json"))
}
use crate::{prompt, workspace};

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

/// Makes the [`RunRecord`] of an agent run from what the run's end knows:
/// outcome, exit code, duration, usage, detail, sandbox level.
type Record<'a> =
    &'a dyn Fn(RunOutcome, Option<i32>, Duration, Usage, String, Option<SandboxLevel>) -> RunRecord;

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
        role: ctx.role,
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
    // The agent command (`sh -c COMMAND`): read here, where the one
    // transport starts it.
    let run = AgentRun::prepare(ctx, config, &config.agent.command, &room);
    let handle = exec::start(&run.spec);
    control.attach(handle.canceller());
    match handle.wait() {
        ExecOutcome::Finished(finished) => run.ended(ctx, config, &finished, &record),
        ExecOutcome::Failed(error) => {
            unavailable(ctx, config, error.message, error.duration, &record)
        }
    }
}

/// One agent run as [`spawn`] starts it: the machinery's spec, the stream
/// it reads as output arrives, where the agent writes its artifact, and the
/// Codex home its model is read from.
struct AgentRun {
    spec: ExecSpec,
    stream: Arc<Mutex<AgentStream>>,
    written: std::path::PathBuf,
    codex_home: Option<std::path::PathBuf>,
}

impl AgentRun {
    /// The prompt (kept beside the artifact), the environment, the sandbox
    /// and the limits of `ctx`'s agent run of `command` in `room`.
    fn prepare(
        ctx: &JobContext,
        config: &LauncherConfig,
        command: &str,
        room: &RunRoom,
    ) -> AgentRun {
        let written = room.out().join(
            ctx.artifact
                .file_name()
                .unwrap_or_else(|| std::ffi::OsStr::new("artifact.md")),
        );
        let mut agent_ctx = ctx.clone();
        agent_ctx.artifact.clone_from(&written);
        let prompt = prompt::build(&config.home, &agent_ctx);
        let [output_log, prompt_file] = workspace::sidecars(&ctx.artifact);
        // Kept for the operator; a prompt that cannot be written does not
        // stop the run.
        let _ = std::fs::write(&prompt_file, &prompt);
        // Bounds on the CLI's own retries ([`crate::preset::retry_env`]).
        let codex_home = std::env::var_os("CODEX_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                config
                    .agent
                    .home_dir
                    .as_ref()
                    .map(|home| home.join(".codex"))
            });
        let mut set = crate::preset::retry_env(config.agent.preset, codex_home.as_deref());
        set.extend(agent_env(&agent_ctx));
        set.extend(room.env());
        // Only what the agent needs: an allow-list, its preset's credentials.
        let env = crate::preset::prepare(config, set);
        // The stream as it arrives: usage (so a killed run still records
        // what it spent) and the terminal event, after which the CLI gets
        // the linger to exit.
        let stream = Arc::new(Mutex::new(AgentStream::default()));
        let observer = {
            let stream = Arc::clone(&stream);
            let linger = config.agent.linger;
            LineObserver::new(move |line| {
                let terminal = stream
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .line(line);
                if terminal {
                    LineAction::EndAfter(linger)
                } else {
                    LineAction::Continue
                }
            })
        };
        let policy = sandbox::policy(
            config,
            RunKind::Agent,
            &ctx.repo,
            &ctx.workspace.dir,
            Some(&ctx.task_dir),
            Some(room),
        );
        let spec = ExecSpec::new(Program::Shell(command.to_owned()), &ctx.workspace.dir)
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
            .sandbox(policy)
            .observer(observer)
            .clocks(if streams_events(command) {
                OutputClocks::new(config.agent.first_output, config.agent.stall)
            } else {
                OutputClocks::default()
            });
        AgentRun {
            spec,
            stream,
            written,
            codex_home,
        }
    }

    /// What a run that finished becomes: an agent that could not be run
    /// (126/127), a cancelled run, an infrastructure fault (deferred or
    /// blocked), or a run that ended, with its artifact taken.
    fn ended(
        &self,
        ctx: &JobContext,
        config: &LauncherConfig,
        finished: &Finished,
        record: Record<'_>,
    ) -> Launch {
        let report = self
            .stream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .report();
        let usage = self.usage(config, finished, &report);
        let exit = finished.ending.exit();
        let exit_code = match exit {
            ProcessExit::Code(code) => Some(code),
            ProcessExit::Signal(_) => None,
        };
        let detail = orch_process::describe_exit(exit);
        let sandbox = Some(finished.sandbox);
        if let Some(refused) = shell_refused(ctx, config, finished, record) {
            return refused;
        }
        let end = match finished.ending {
            Ending::Exited(ProcessExit::Code(code)) => RunEnd::Exit(code),
            Ending::Exited(ProcessExit::Signal(_)) => RunEnd::Signal,
            Ending::Dismissed(_) => RunEnd::Lingered,
            Ending::TimedOut(_) => RunEnd::TimedOut,
            Ending::Stalled(..) => RunEnd::Stalled,
            Ending::Cancelled(_) => {
                let _ = sandbox::take_artifact(&self.written, &ctx.artifact);
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
        let stderr = String::from_utf8_lossy(&finished.output.tail);
        let fault = classify(end, &report, &stderr);
        if let Some((fault, outcome)) = infra_of(fault, &detail, &stall_detail(&finished.ending)) {
            return infra_fault(
                ctx,
                config,
                &fault,
                record(
                    outcome,
                    exit_code,
                    finished.duration,
                    usage,
                    String::new(),
                    sandbox,
                ),
            );
        }
        // The artifact, from the agent's output folder into the task
        // folder; a link or a non-file there is refused (the gate then
        // fails closed on the missing artifact). A run the wall clock or a
        // stall ended is never taken unless the CLI had printed its
        // terminal event: half an artifact is no verdict.
        let accepted = report.terminal || !matches!(end, RunEnd::TimedOut | RunEnd::Stalled);
        let refused = if accepted {
            sandbox::take_artifact(&self.written, &ctx.artifact)
                .err()
                .map(|why| format!("; {why}"))
                .unwrap_or_default()
        } else {
            "; its artifact was not taken (killed before its result)".to_owned()
        };
        let (outcome, detail) = ran_outcome(end, report.succeeded, detail, config);
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
}

impl AgentRun {
    /// The run's usage: its whole stdout's, completed from the stream's
    /// ([`merge_usage`]).
    fn usage(&self, config: &LauncherConfig, finished: &Finished, report: &StreamReport) -> Usage {
        merge_usage(
            finished
                .stdout
                .as_ref()
                .map(|stdout| parse_usage(&stdout.bytes))
                .unwrap_or_default(),
            report.usage.clone(),
            &config.agent.prices,
            // Codex's events name no model: its command line or config.
            (config.agent.preset == crate::preset::AgentKind::Codex)
                .then(|| {
                    crate::preset::codex_model(&config.agent.command, self.codex_home.as_deref())
                })
                .flatten(),
        )
    }
}

/// The shell's 126 or 127: the agent's program was not executable or not
/// found, so the agent could not be run at all ([`unavailable`]).
fn shell_refused(
    ctx: &JobContext,
    config: &LauncherConfig,
    finished: &Finished,
    record: Record<'_>,
) -> Option<Launch> {
    let Ending::Exited(ProcessExit::Code(code @ (126 | 127))) = finished.ending else {
        return None;
    };
    let said = String::from_utf8_lossy(&finished.output.tail);
    let said = said.trim().lines().last().unwrap_or("").to_owned();
    let what = if code == 127 {
        "not found"
    } else {
        "not executable"
    };
    Some(unavailable(
        ctx,
        config,
        format!(
            "the agent command {:?} exited {code}: the shell found its program {what} ({said})",
            config.agent.command
        ),
        finished.duration,
        record,
    ))
}

/// What an output clock's stall says (empty for any other ending).
fn stall_detail(ending: &Ending) -> String {
    match ending {
        Ending::Stalled(_, Stall::NoFirstOutput(limit)) => format!(
            "stall: no output within {}s of the start (ORCH_AGENT_FIRST_OUTPUT_SECS)",
            limit.as_secs()
        ),
        Ending::Stalled(_, Stall::Silent(limit)) => format!(
            "stall: no output for {}s (ORCH_AGENT_STALL_SECS)",
            limit.as_secs()
        ),
        Ending::Exited(_) | Ending::TimedOut(_) | Ending::Cancelled(_) | Ending::Dismissed(_) => {
            String::new()
        }
    }
}

/// A fault of the model API, the CLI's login or the network is the
/// infrastructure's: deferred or blocked, never a verdict. `None` for the
/// role's own fault.
fn infra_of(fault: Fault, detail: &str, stall_detail: &str) -> Option<(InfraFault, RunOutcome)> {
    match fault {
        Fault::Role => None,
        Fault::Authentication(said) => Some((
            InfraFault {
                what: format!("the agent CLI could not authenticate: {said:?}"),
                fix: "fix the CLI's API key or login (e.g. ANTHROPIC_API_KEY, OPENAI_API_KEY, GEMINI_API_KEY in the agent's environment, or ORCH_AGENT_CMD)",
                transient: false,
            },
            RunOutcome::ToolError,
        )),
        Fault::Overloaded(said) | Fault::ServerError(said) | Fault::Network(said) => {
            let why = if stall_detail.is_empty() {
                detail
            } else {
                stall_detail
            };
            Some((
                InfraFault {
                    what: format!("the model API failed the agent CLI: {said:?} ({why})"),
                    fix: "check the model provider's status and the network, or raise ORCH_AGENT_INFRA_RETRIES",
                    transient: true,
                },
                RunOutcome::Deferred,
            ))
        }
        Fault::Stall => Some((
            InfraFault {
                what: format!("the agent CLI stalled ({stall_detail})"),
                fix: "check the model provider and the network, or raise ORCH_AGENT_STALL_SECS / ORCH_AGENT_FIRST_OUTPUT_SECS",
                transient: true,
            },
            RunOutcome::Deferred,
        )),
    }
}

/// The outcome and detail of a run that ended as the role's own: its exit,
/// a linger after the CLI's result (`succeeded` says which), or a timeout.
fn ran_outcome(
    end: RunEnd,
    succeeded: Option<bool>,
    detail: String,
    config: &LauncherConfig,
) -> (RunOutcome, String) {
    match end {
        RunEnd::Exit(0) => (RunOutcome::Passed, detail),
        RunEnd::Exit(_) | RunEnd::Signal | RunEnd::Stalled => (RunOutcome::Failed, detail),
        RunEnd::Lingered => (
            if succeeded == Some(true) {
                RunOutcome::Passed
            } else {
                RunOutcome::Failed
            },
            format!(
                "the CLI printed its result but did not exit: ended after the {}s linger (ORCH_AGENT_LINGER_SECS)",
                config.agent.linger.as_secs()
            ),
        ),
        RunEnd::TimedOut => (
            RunOutcome::TimedOut,
            format!(
                "timeout after {}s (its limit, ORCH_AGENT_TIMEOUT_SECS)",
                config.agent.timeout.as_secs()
            ),
        ),
    }
}

/// An infrastructure fault of a run that happened: the words for its alert.
struct InfraFault {
    /// What happened, quoting the CLI.
    what: String,
    /// The setting or action that fixes it.
    fix: &'static str,
    /// Whether waiting may help (deferred within the infra retries) or not
    /// (blocked at once).
    transient: bool,
}

/// A run whose failure was the infrastructure's, not the role's: never a
/// rollback, never a developer retry. A transient fault is deferred with
/// backoff within `ORCH_AGENT_INFRA_RETRIES`, then blocks; authentication
/// blocks at once. The run's usage is recorded either way.
fn infra_fault(
    ctx: &JobContext,
    config: &LauncherConfig,
    fault: &InfraFault,
    mut run: RunRecord,
) -> Launch {
    let spent = ctx.job.infra_attempts;
    run.detail.clone_from(&fault.what);
    if fault.transient
        && let Some(retry_in) = config.agent.retry.next(spent)
    {
        run.outcome = RunOutcome::Deferred;
        return Launch::Defer {
            record: run,
            retry_in,
        };
    }
    run.outcome = RunOutcome::ToolError;
    let tries = if fault.transient {
        format!(" ({} attempts)", spent + 1)
    } else {
        String::new()
    };
    Launch::Block {
        record: Some(run),
        alert: AlertSpec {
            kind: AlertKind::AgentUnavailable,
            message: format!(
                "the agent for task {} ({}) cannot work{tries}: {}; {}, then `orch task retry {}`",
                ctx.task.id,
                ctx.role.as_str(),
                fault.what,
                fault.fix,
                ctx.task.id,
            ),
        },
    }
}

/// The run's usage: what the whole stdout gave (the terminal event's
/// totals), completed from what the stream gave as it arrived (a killed
/// run, or stdout cut at its cap), and a cost estimated from `prices` when
/// the CLI reported tokens but no dollars (see [`estimate_cost`]).
///
/// `model` is the run's model when the CLI's output cannot name it (Codex):
/// taken when the output named none and the run reported tokens.
fn merge_usage(
    parsed: Usage,
    streamed: Usage,
    prices: &[crate::config::ModelPrice],
    model: Option<String>,
) -> Usage {
    let mut usage = if parsed.input_tokens.is_some() || parsed.cost_usd.is_some() {
        Usage {
            // stdout cut at its cap may have lost the init event that named
            // the model; the stream saw it.
            model: parsed.model.or(streamed.model),
            ..parsed
        }
    } else {
        Usage {
            reported_error: parsed.reported_error.or(streamed.reported_error.clone()),
            ..streamed
        }
    };
    if usage.model.is_none() && usage.input_tokens.is_some() {
        usage.model = model;
    }
    let reported = usage.cost_usd.is_some();
    usage.cost_usd = estimate_cost(&usage, prices);
    usage.cost_estimated = !reported && usage.cost_usd.is_some();
    usage
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
    record: Record<'_>,
) -> Launch {
    let spent = ctx.job.infra_attempts;
    if let Some(retry_in) = config.agent.retry.next(spent) {
        return Launch::Defer {
            record: record(
                RunOutcome::Deferred,
                None,
                duration,
                Usage::default(),
                message,
                None,
            ),
            retry_in,
        };
    }
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
            kind: AlertKind::AgentUnavailable,
            message: format!(
                "the agent for task {} ({}) could not be started {} times: {message}; check ORCH_AGENT (or ORCH_AGENT_CMD) with `orch agent check`, ORCH_SANDBOX and the repository's checkout, then `orch task retry {}`",
                ctx.task.id,
                ctx.role.as_str(),
                spent + 1,
                ctx.task.id,
            ),
        },
    }
}
