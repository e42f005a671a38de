//! The deploy finalizer: `deploy-finalizer`, serving stage `deploy`.

use std::time::{Duration, SystemTime};

use orch_pipeline::Role;
use orch_store::AlertKind;

use crate::config::LauncherConfig;
use crate::context::{EffectStart, JobContext, RunControl};
use crate::launch::{AlertSpec, Intercept, Intercepted, Launch, RunOutcome, RunRecord};

use super::DEPLOY_EFFECT;
use super::shared::{
    configured, effect_refused, record, render_log, run_command, skipped, untested, write_artifact,
};

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
        let effect = EffectStart::new(DEPLOY_EFFECT, false)
            .with_commit(ctx.tested.as_ref().map(|t| t.commit.clone()));
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
