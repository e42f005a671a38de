//! What a role's run is given ([`JobContext`]) and how it is stopped from
//! another thread ([`RunControl`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use orch_pipeline::{ArtifactSpec, Role, Stage};
use orch_process::exec::Canceller;
use orch_store::{Job, Repo, Task, Transition};

use crate::worktree::{TestedTree, Workspace};

/// One claimed job, resolved: its task and repository, its stage and role as
/// pipeline values, and where its artifact goes.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The job as claimed.
    pub job: Job,
    /// Its task.
    pub task: Task,
    /// The task's repository.
    pub repo: Repo,
    /// The job's stage.
    pub stage: Stage,
    /// The job's role (the stage's assigned role).
    pub role: Role,
    /// The stage's artifact contract.
    pub spec: &'static ArtifactSpec,
    /// The task's folder.
    pub task_dir: PathBuf,
    /// The absolute path the artifact must be written to.
    pub artifact: PathBuf,
    /// The artifacts of earlier stages that exist.
    pub earlier_artifacts: Vec<PathBuf>,
    /// On a rollback, the reasons of the gates that failed.
    pub rollback_reasons: Vec<String>,
    /// Where the role works: the task's worktree (with its state when the
    /// job started), or the repository's checkout.
    pub workspace: Workspace,
    /// The tree the task's latest `deploy-staging` verdict is about, when
    /// that verdict passed and names a commit: what `deploy` may deploy.
    pub tested: Option<TestedTree>,
    /// The task's latest `deploy-staging` verdict, passed or not (`None`:
    /// staging never judged it). Deploy requires that it passed, with or
    /// without a worktree.
    pub latest_staging: Option<StagingVerdict>,
}

/// A task's latest `deploy-staging` verdict ([`JobContext::latest_staging`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StagingVerdict {
    /// Whether its gates passed (the task went on to `deploy`).
    pub passed: bool,
    /// The commit the suite ran on; `None` without a worktree.
    pub commit: Option<String>,
    /// Whether that tree was exactly the commit for the whole run.
    pub clean: Option<bool>,
}

impl StagingVerdict {
    /// The latest `deploy-staging` verdict in a task's history (its
    /// transitions, oldest first): the last transition out of
    /// `deploy-staging` that gates decided. An operator's or a rescue's
    /// block carries no gate decision and is no verdict.
    #[must_use]
    pub fn latest(history: &[Transition]) -> Option<StagingVerdict> {
        let t = history
            .iter()
            .rev()
            .find(|t| t.from_stage == Stage::DeployStaging && !t.decisions.is_empty())?;
        let first = t.decisions.first();
        Some(StagingVerdict {
            passed: t.to_stage == Stage::Deploy && t.decisions.iter().all(|d| d.passed),
            commit: first.and_then(|d| d.commit_sha.clone()),
            clean: first.and_then(|d| d.tree_clean),
        })
    }

    /// The tree it passed, when it passed and names a commit: what deploy
    /// may deploy.
    #[must_use]
    pub fn tested(&self) -> Option<TestedTree> {
        if !self.passed {
            return None;
        }
        Some(TestedTree {
            commit: self.commit.clone()?,
            clean: self.clean?,
        })
    }
}

/// A side effect outside orch that a reserved agent is about to start (the
/// deploy command, the post-deploy probes), for [`RunControl::begin_effect`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EffectStart {
    /// What it is: `deploy`, `post-deploy`.
    pub kind: &'static str,
    /// The commit it is about; `None` without a worktree.
    pub commit: Option<String>,
    /// Whether it may run again after an interruption (read-only probes).
    pub repeatable: bool,
}

impl EffectStart {
    /// An effect about no particular commit.
    #[must_use]
    pub fn new(kind: &'static str, repeatable: bool) -> Self {
        Self {
            kind,
            commit: None,
            repeatable,
        }
    }

    /// Sets [`EffectStart::commit`].
    #[must_use]
    pub fn with_commit(mut self, commit: Option<String>) -> Self {
        self.commit = commit;
        self
    }
}

/// Why a side effect must not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EffectRefused {
    /// The job is no longer the worker's (its lease was lost or expired) or
    /// an operator asked to cancel it: the run ends as cancelled.
    #[error("{0}")]
    Fenced(String),
    /// The start could not be recorded (the database is busy): the work is
    /// deferred, the command not run.
    #[error("{0}")]
    Unrecorded(String),
}

/// Records the start of a side effect before its command runs; the engine
/// installs one that writes it to the store, fenced by the job's lease.
pub type EffectGate = Arc<dyn Fn(&EffectStart) -> Result<(), EffectRefused> + Send + Sync>;

#[derive(Default)]
struct ControlState {
    cancelled: AtomicBool,
    current: Mutex<Option<Canceller>>,
    gate: Mutex<Option<EffectGate>>,
}

impl std::fmt::Debug for ControlState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlState")
            .field("cancelled", &self.cancelled)
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

/// Stops the run of a job from another thread (a heartbeat that lost its
/// lease, a shutdown), whichever process is running at the moment: a role
/// registers the canceller of each process it starts with
/// [`RunControl::attach`].
#[derive(Debug, Clone, Default)]
pub struct RunControl(Arc<ControlState>);

impl RunControl {
    /// Cancels the current process, and every one attached later.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        if let Some(canceller) = self
            .0
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            canceller.cancel();
        }
    }

    /// Whether [`RunControl::cancel`] was called.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Installs the gate every side effect of the run must pass
    /// ([`RunControl::begin_effect`]).
    pub fn set_effect_gate(&self, gate: EffectGate) {
        *self.0.gate.lock().unwrap_or_else(PoisonError::into_inner) = Some(gate);
    }

    /// Records that the run starts `effect` now; the caller runs its command
    /// only on `Ok`. Without a gate (a reserved agent run outside the
    /// engine), nothing is recorded. A cancelled run starts nothing.
    ///
    /// # Errors
    ///
    /// [`EffectRefused::Fenced`] when the run was cancelled or the job is no
    /// longer its worker's; [`EffectRefused::Unrecorded`] when the start
    /// could not be written.
    pub fn begin_effect(&self, effect: &EffectStart) -> Result<(), EffectRefused> {
        if self.is_cancelled() {
            return Err(EffectRefused::Fenced("the run was cancelled".to_owned()));
        }
        let gate = self
            .0
            .gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match gate {
            Some(gate) => gate(effect),
            None => Ok(()),
        }
    }

    /// Registers the canceller of a process just started; cancels it at once
    /// when the run was cancelled already.
    pub fn attach(&self, canceller: Canceller) {
        let mut current = self
            .0
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.is_cancelled() {
            canceller.cancel();
        }
        *current = Some(canceller);
    }
}
