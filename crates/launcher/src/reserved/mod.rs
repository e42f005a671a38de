//! The reserved agents: deterministic code that serves a stage in the LLM's
//! place. [`default_intercepts`] is the registry `launch_job` consults, in
//! order: `deploy-finalizer`, `post-deploy-monitor`, `staging-runner`,
//! `test-runner` (the last two are one type, [`SuiteRunner`], configured per
//! stage).
//!
//! All of them have one shape: resolve the command from the repository's record,
//! run it through the process machinery, write the stage's artifact with the
//! verdict in the pipeline's grammar, and hand back a [`Launch`](crate::Launch) with one
//! [`RunRecord`](crate::RunRecord) (transport `deterministic`). A repository with no deploy or
//! health-check command (a library) passes its stage explicitly: the artifact
//! says that nothing was deployed or probed and why, and the run's outcome is
//! `skipped`.
//!
//! One file per reserved agent: `suite.rs` (the staging and test runners),
//! `deploy.rs` (the deploy finalizer), `post_deploy.rs` (the post-deploy
//! monitor); what they share (the run record, a repository command's run,
//! the artifact, a skipped stage, the effect record) is in `shared.rs`.

mod deploy;
mod post_deploy;
mod shared;
mod suite;

use orch_store::AlertKind;

use crate::launch::Intercept;

pub use deploy::DeployFinalizer;
pub use post_deploy::PostDeployMonitor;
pub use suite::SuiteRunner;

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

/// The kind of side effect the deploy command is ([`EffectStart::kind`](crate::EffectStart::kind)).
pub const DEPLOY_EFFECT: &str = "deploy";

/// The kind of side effect the post-deploy probes are.
pub const POST_DEPLOY_EFFECT: &str = "post-deploy";

/// The alert kind of a deploy whose start is recorded but whose end never
/// was: its outcome is unknown, so it is not run again.
pub const DEPLOY_INTERRUPTED: AlertKind = AlertKind::DeployInterrupted;
