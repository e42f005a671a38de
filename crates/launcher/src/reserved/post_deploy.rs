//! The post-deploy monitor: `post-deploy-monitor`, serving stage
//! `post-deploy`.

use std::time::{Duration, Instant, SystemTime};

use orch_pipeline::Role;

use crate::config::LauncherConfig;
use crate::context::{EffectStart, JobContext, RunControl};
use crate::launch::{Intercept, Intercepted, Launch, RunOutcome, RunRecord};

use super::POST_DEPLOY_EFFECT;
use super::shared::{
    configured, effect_refused, record, render_log, run_command, skipped, write_artifact,
};

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
        let effect = EffectStart::new(POST_DEPLOY_EFFECT, true)
            .with_commit(ctx.tested.as_ref().map(|t| t.commit.clone()));
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
