//! `launch_job`: the ordered registry of intercepts (the reserved agents),
//! consulted before `spawn`, the one LLM transport.

use std::time::SystemTime;

use orch_store::{AlertKind, Transport};

use crate::config::LauncherConfig;
use crate::context::{JobContext, RunControl};
use crate::usage::Usage;

pub use crate::record::{AlertSpec, Launch, RunOutcome, RunRecord};

/// What an intercept did with a job it claimed.
#[derive(Debug, Clone, PartialEq)]
pub enum Intercepted {
    /// It served the job ([`Launch`] says how).
    Served(Launch),
    /// It hit an internal error and hands the job to the LLM path; the record
    /// (outcome [`RunOutcome::Fallback`]) is written, then `spawn` runs.
    Fallback(RunRecord),
}

impl Intercepted {
    /// The run's record, when there is one.
    pub fn record_mut(&mut self) -> Option<&mut RunRecord> {
        match self {
            Intercepted::Served(launch) => launch.record_mut(),
            Intercepted::Fallback(record) => Some(record),
        }
    }
}

/// A reserved agent's run beside the LLM role (shadow mode): it decides
/// nothing, and its verdict is recorded for the agreement figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowRun {
    /// The run (its own role, transport `deterministic`).
    pub record: RunRecord,
    /// Its verdict, `PASSED` or `FAILED`; `None` when it produced none (the
    /// suite could not run, the runner failed or was stopped).
    pub verdict: Option<&'static str>,
    /// The commit it ran on (`None` without a worktree).
    pub commit: Option<String>,
}

/// A reserved agent: deterministic code that `launch_job` runs in the LLM's
/// place, before `spawn` is ever called.
pub trait Intercept: Send + Sync {
    /// The reserved agent's name (a role of the pipeline, e.g. `staging-runner`).
    fn name(&self) -> &'static str;

    /// Whether it serves this job. Called in registry order; the first that
    /// says yes runs it.
    fn claims(&self, ctx: &JobContext, config: &LauncherConfig) -> bool;

    /// Serves the job. Must never panic and must register every process it
    /// starts with `control`.
    fn run(&self, ctx: &JobContext, config: &LauncherConfig, control: &RunControl) -> Intercepted;

    /// Whether it runs beside the LLM on this job (shadow mode), when no
    /// intercept claims it. None does by default.
    fn shadows(&self, _ctx: &JobContext, _config: &LauncherConfig) -> bool {
        false
    }

    /// Runs beside the LLM, after it has ended, on the commit it ended on
    /// (`ctx.workspace.start`, in a tree of the runner's own): writes no
    /// artifact a gate reads and decides nothing. Must register every process it
    /// starts with `control`; a panic is caught by `launch_job` and recorded
    /// as a run without a verdict.
    fn shadow(
        &self,
        _ctx: &JobContext,
        _config: &LauncherConfig,
        _control: &RunControl,
    ) -> Option<ShadowRun> {
        None
    }
}

/// Who served a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedBy {
    /// Nobody: the job ended before its launch, or the spend ceiling
    /// refused the LLM.
    Nobody,
    /// The LLM agent, through `spawn`; no reserved agent claimed the job.
    Llm,
    /// The reserved agent of this name (`staging-runner`, `test-runner`,
    /// `deploy-finalizer`, `post-deploy-monitor`, or an embedder's
    /// intercept); the LLM did not run (after a hand-over, the spend
    /// ceiling refused it).
    Reserved(&'static str),
    /// The reserved agent of this name claimed the job and handed it over
    /// (an internal error); the LLM agent ran.
    HandedOver(&'static str),
}

impl ServedBy {
    /// The reserved agent that claimed the job, if one did.
    #[must_use]
    pub const fn intercepted_by(self) -> Option<&'static str> {
        match self {
            ServedBy::Reserved(name) | ServedBy::HandedOver(name) => Some(name),
            ServedBy::Nobody | ServedBy::Llm => None,
        }
    }

    /// Whether the LLM transport (`spawn`) ran.
    #[must_use]
    pub const fn spawned(self) -> bool {
        match self {
            ServedBy::Llm | ServedBy::HandedOver(_) => true,
            ServedBy::Nobody | ServedBy::Reserved(_) => false,
        }
    }

    /// Who served a job claimed by `intercepted_by` (if any), once `spawn`
    /// ran or not.
    const fn of(intercepted_by: Option<&'static str>, spawned: bool) -> ServedBy {
        match (intercepted_by, spawned) {
            (None, false) => ServedBy::Nobody,
            (None, true) => ServedBy::Llm,
            (Some(name), false) => ServedBy::Reserved(name),
            (Some(name), true) => ServedBy::HandedOver(name),
        }
    }
}

/// How a job was launched: who served it, and with what result. `fallback`
/// holds the record of a reserved agent that handed over.
#[derive(Debug, Clone, PartialEq)]
pub struct Launched {
    /// Who served it.
    pub served: ServedBy,
    /// A reserved agent's fallback run, when it handed the job to the LLM.
    pub fallback: Option<RunRecord>,
    /// The result.
    pub launch: Launch,
}

/// Runs a claimed job: the first intercept of `intercepts` that claims it
/// serves it; otherwise, or when that intercept falls back, [`crate::spawn`]
/// starts the LLM agent. Spend ceiling: before `spawn`, a task whose recorded
/// agent cost (`spent_usd`, the sum of its `agent_runs`) has reached
/// `config.task_budget_usd` is blocked instead.
#[must_use]
pub fn launch_job(
    ctx: &JobContext,
    config: &LauncherConfig,
    intercepts: &[Box<dyn Intercept>],
    spent_usd: f64,
    control: &RunControl,
) -> Launched {
    let mut fallback = None;
    let mut intercepted_by = None;
    if let Some(intercept) = intercepts.iter().find(|i| i.claims(ctx, config)) {
        intercepted_by = Some(intercept.name());
        match intercept.run(ctx, config, control) {
            Intercepted::Served(launch) => {
                return Launched {
                    served: ServedBy::of(intercepted_by, false),
                    fallback: None,
                    launch,
                };
            }
            Intercepted::Fallback(record) => fallback = Some(record),
        }
    }
    if let Some(budget) = config.task_budget_usd
        && spent_usd >= budget
    {
        return Launched {
            served: ServedBy::of(intercepted_by, false),
            fallback,
            launch: Launch::Block {
                record: None,
                alert: AlertSpec {
                    kind: AlertKind::BudgetExhausted,
                    message: format!(
                        "task {} has spent ${spent_usd:.4} on agents, at or over its ceiling of ${budget:.4} (ORCH_TASK_BUDGET_USD); no further agent starts: raise the ceiling or finish the task by hand",
                        ctx.task.id
                    ),
                },
            },
        };
    }
    // Shadow mode is not run here: the engine runs the shadow runner after
    // the LLM role has ended and its changes are committed (`run_shadow`),
    // so that the role can never read the runner's verdict, and both
    // verdicts are about the commit the role ended on.
    Launched {
        served: ServedBy::of(intercepted_by, true),
        fallback,
        launch: crate::spawn::spawn(ctx, config, control),
    }
}

/// The first intercept that shadows the job runs beside the LLM, after it:
/// `ctx.workspace.start` names the commit the LLM role ended on. A panic in
/// it becomes a run without a verdict, never the job's end.
#[must_use]
pub fn run_shadow(
    ctx: &JobContext,
    config: &LauncherConfig,
    intercepts: &[Box<dyn Intercept>],
    control: &RunControl,
) -> Option<ShadowRun> {
    let intercept = intercepts.iter().find(|i| i.shadows(ctx, config))?;
    let started = SystemTime::now();
    let t0 = std::time::Instant::now();
    let guarded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        intercept.shadow(ctx, config, control)
    }));
    match guarded {
        Ok(shadow) => shadow,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Some(ShadowRun {
                record: RunRecord {
                    // A built-in intercept is named by its role; a custom
                    // one's panic is recorded as the job's own role.
                    role: intercept.name().parse().unwrap_or(ctx.role),
                    transport: Transport::Deterministic,
                    started,
                    duration: t0.elapsed(),
                    exit_code: None,
                    outcome: RunOutcome::ToolError,
                    usage: Usage::default(),
                    detail: format!(
                        "the shadow runner panicked: {what}; the LLM's verdict decides, this is a bug, please report it"
                    ),
                    sandbox: None,
                },
                verdict: None,
                commit: ctx.workspace.start().map(|s| s.commit.clone()),
            })
        }
    }
}
