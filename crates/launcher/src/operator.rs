//! The operator's commands on a task that need the pipeline's knowledge the
//! store lacks: which stage a retry goes back to, and which role runs it.
//!
//! ```no_run
//! use orch_launcher::operator;
//! use orch_store::{Store, TaskId};
//!
//! let store = Store::open("/srv/orch/orch.db")?;
//! // Back to work where it stopped, the developer-retry budget kept.
//! let (stage, retried) = operator::retry(&store, TaskId::new(7), None, "fixed the host", false)?;
//! println!("task 7 back at {stage}, job {}", retried.job);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use orch_pipeline::Stage;
use orch_store::{
    NewJob, Retried, Store, StoreError, Task, TaskId, TaskIsolation, TaskStatus, TransitionId,
};

use crate::context::StagingVerdict;
use crate::judge::{self, ChangeKind, SuiteChange};
use crate::worktree::{Git, WorktreeError, short};

/// Why an operator's command on a task could not be done.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The store refused or failed (an unknown task, a task in the wrong
    /// state, ...); its message says what to do.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The stage named is not one a task can work at.
    #[error(
        "{0} is not a working stage (done and blocked run no job); name one of analysis, architecture, development, review, testing, deploy-staging, deploy, post-deploy"
    )]
    NotWorkingStage(Stage),
    /// The task's history does not say where it stopped.
    #[error(
        "task {0}'s history does not say at which stage it stopped; name the stage with --stage"
    )]
    UnknownStop(TaskId),
    /// The task's state does not allow the command; nothing was written.
    #[error("{0}")]
    Refused(String),
    /// git could not tell what the task changed.
    #[error("{0}")]
    Git(#[from] WorktreeError),
}

/// What [`approve_suite`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteApproval {
    /// The operator's transition in the task's history.
    pub transition: TransitionId,
    /// The commit whose suite paths the judge tree now restores.
    pub commit: String,
    /// The commit the suite was pinned to before (the base, or an earlier
    /// approval).
    pub previous: String,
    /// The sha256 of the suite's diff from the task's base to `commit`.
    pub diff_sha256: String,
    /// What the task changed under suite paths since its base.
    pub changes: Vec<SuiteChange>,
}

/// `orch task approve-suite`: pins the task's own suite version — the
/// suite paths as of its current head commit — so that the judge tree
/// restores them to that version instead of the base's (a later change by
/// an agent is reverted again). Recorded as the operator's transition with
/// the sha256 of the suite's diff from the base to the approved commit.
///
/// # Errors
///
/// [`OperatorError::Refused`] for a task that is not a git task, whose
/// repository pins no suite, that has no head commit yet, that changed
/// nothing under suite paths, or whose head is approved already;
/// [`OperatorError::Git`] when git fails; [`OperatorError::Store`] for an
/// unknown task or a store failure.
pub fn approve_suite(
    store: &Store,
    git: &Git,
    task: TaskId,
    reason: &str,
) -> Result<SuiteApproval, OperatorError> {
    let current = store.task(task)?;
    let repo = store.repo(current.repo)?;
    let refused = |why: String| Err(OperatorError::Refused(format!("task {task}: {why}")));
    let Some(base) = current
        .base_commit
        .clone()
        .filter(|_| current.isolation == TaskIsolation::Worktree)
    else {
        return refused(
            "it is not a git task (it works in its repository's folder), so there is no base suite to approve a change against".to_owned(),
        );
    };
    if repo.suite_paths.is_empty() {
        return refused(format!(
            "repository {} pins no suite (orch repo update {} --suite 'tests/**,...'), so nothing is restored and there is nothing to approve",
            repo.name, repo.name
        ));
    }
    let Some(head) = current.head_commit.clone() else {
        return refused(
            "no stage of it has ended yet, so it has no commit whose suite could be approved"
                .to_owned(),
        );
    };
    if current.suite_commit.as_deref() == Some(head.as_str()) {
        return refused(format!("its suite at {} is approved already", short(&head)));
    }
    let dir = std::path::Path::new(&repo.path);
    let changes = judge::suite_changes(git, dir, &base, &head, &repo.suite_paths)?;
    if changes.is_empty() {
        return refused(format!(
            "it changed nothing under the suite paths ({}) since its base {}; there is nothing to approve",
            repo.suite_paths.join(","),
            short(&base)
        ));
    }
    let diff_sha256 = judge::suite_diff_sha256(git, dir, &base, &head, &repo.suite_paths)?;
    let previous = current.suite_commit.clone().unwrap_or_else(|| base.clone());
    let restored = changes
        .iter()
        .filter(|c| c.kind != ChangeKind::Added)
        .count();
    let text = format!(
        "suite approved at {head} (suite diff from base {base}: sha256 {diff_sha256}; {} paths changed, {restored} of them no longer restored to the base): {reason}",
        changes.len()
    );
    let transition = store.approve_suite(task, &head, &diff_sha256, &text)?;
    Ok(SuiteApproval {
        transition,
        commit: head,
        previous,
        diff_sha256,
        changes,
    })
}

/// The working stage where an ended task stopped: the stage its last
/// transition left to reach where it is (for a blocked task, the stage it
/// was blocked at; for a done task, post-deploy).
///
/// # Errors
///
/// [`OperatorError::UnknownStop`] when no transition led to the task's
/// stage, or it came from a stage that is not a working one;
/// [`OperatorError::Store`] when the store fails.
pub fn stopped_at(store: &Store, task: &Task) -> Result<Stage, OperatorError> {
    store
        .transitions(task.id)?
        .iter()
        .rev()
        // An approval of the task's suite moves nothing (from = to): it is
        // not where the task stopped.
        .find(|t| t.to_stage == task.stage && t.from_stage != t.to_stage)
        .map(|t| t.from_stage)
        .filter(|stage| stage.role().is_some())
        .ok_or(OperatorError::UnknownStop(task.id))
}

/// Refuses a retry into `deploy` unless the task's latest `deploy-staging`
/// verdict passed, for a task in a worktree or in its repository's folder
/// alike: nothing reaches deploy without a staging pass.
fn deployable(store: &Store, task: TaskId, stage: Stage) -> Result<(), OperatorError> {
    let history = store.transitions(task)?;
    if stage == Stage::PostDeploy {
        post_deployable(store, task, &history)?;
    }
    let why = match StagingVerdict::latest(&history) {
        Some(latest) if latest.passed => return Ok(()),
        Some(latest) => format!(
            "its latest deploy-staging verdict{} is not PASSED, and a later failing staging run outweighs any earlier pass",
            latest
                .commit
                .as_deref()
                .map(|c| format!(" (on commit {})", short(c)))
                .unwrap_or_default()
        ),
        None => "staging never judged it (no deploy-staging verdict is recorded)".to_owned(),
    };
    Err(OperatorError::Refused(format!(
        "task {task} cannot be retried into {stage}: {why}; retry it at staging instead (`orch task retry {task} --stage deploy-staging --reason ...`)"
    )))
}

/// Post-deploy watches what deploy put out: when the task's repository has a
/// deploy command, its latest `deploy` verdict must have passed (the staging
/// rule is checked by [`deployable`] as well).
fn post_deployable(
    store: &Store,
    task: TaskId,
    history: &[orch_store::Transition],
) -> Result<(), OperatorError> {
    let repo = store.repo(store.task(task)?.repo)?;
    if repo
        .deploy_command
        .as_deref()
        .is_none_or(|c| c.trim().is_empty())
    {
        return Ok(());
    }
    let latest = history
        .iter()
        .rev()
        .find(|t| t.from_stage == Stage::Deploy && !t.decisions.is_empty());
    let why = match latest {
        Some(t) if t.to_stage == Stage::PostDeploy && t.decisions.iter().all(|d| d.passed) => {
            return Ok(());
        }
        Some(_) => "its latest deploy did not pass",
        None => {
            "it was never deployed (no deploy verdict is recorded) and its repository has a deploy command"
        }
    };
    Err(OperatorError::Refused(format!(
        "task {task} cannot be retried into post-deploy: {why}; retry it at deploy instead (`orch task retry {task} --stage deploy --reason ...`)"
    )))
}

/// `orch task retry`: puts a blocked or done task back to work at `stage`
/// (default: where it stopped, [`stopped_at`]) with a fresh job, its open
/// alerts acknowledged, in one transaction recorded as the operator's with
/// `reason`; its developer-retry budget restarts only with `reset_retries`.
/// Returns the stage and what was written.
///
/// # Errors
///
/// [`OperatorError::Store`] with [`StoreError::NotFound`] for an unknown
/// task or [`StoreError::TaskState`] for an active one;
/// [`OperatorError::NotWorkingStage`] for `done` or `blocked`;
/// [`OperatorError::UnknownStop`] when no stage is named and the history
/// does not tell; [`OperatorError::Refused`] for `deploy` when the task's
/// latest `deploy-staging` verdict did not pass.
pub fn retry(
    store: &Store,
    task: TaskId,
    stage: Option<Stage>,
    reason: &str,
    reset_retries: bool,
) -> Result<(Stage, Retried), OperatorError> {
    let current = store.task(task)?;
    if current.status == TaskStatus::Active {
        // Refused by the store too; said here before the history is read.
        return Err(StoreError::TaskState {
            task,
            state: current.status.as_str().to_owned(),
            advice: "it is still running or queued, so there is nothing to retry; wait for it to end, or stop it with `orch task cancel ID` first",
        }
        .into());
    }
    let stage = match stage {
        Some(stage) => stage,
        None => stopped_at(store, &current)?,
    };
    let role = stage.role().ok_or(OperatorError::NotWorkingStage(stage))?;
    // Nothing past staging runs without a staging pass: deploy, and
    // post-deploy (which also needs a passing deploy when there is a deploy
    // command).
    if matches!(stage, Stage::Deploy | Stage::PostDeploy) {
        deployable(store, task, stage)?;
    }
    let job = NewJob::new(task, stage, role);
    let retried = store.retry_task(task, &job, reason, reset_retries)?;
    Ok((stage, retried))
}

/// What became of an abandoned task's worktree ([`abandon`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbandonedWorktree {
    /// The task had none (it works in its repository's folder, or its
    /// worktree was removed before).
    None,
    /// Removed; the branch stays.
    Removed(String),
    /// Kept: it holds uncommitted changes, which only the operator may
    /// throw away (`git worktree remove --force DIR`).
    KeptDirty(String),
    /// git could not remove it; the message says why. The task is
    /// abandoned all the same, and the start-up sweep tries again.
    Failed(String, String),
}

/// What [`abandon`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbandonOutcome {
    /// What the store recorded.
    pub abandoned: orch_store::Abandoned,
    /// What became of its worktree.
    pub worktree: AbandonedWorktree,
}

/// `orch task abandon`: closes a blocked task for good. The store records it
/// ([`Store::abandon_task`]: the task stays blocked and in the history, its
/// alerts acknowledged, retry refused), then its worktree is removed and its
/// branch kept. A worktree with uncommitted changes is kept and said so.
///
/// # Errors
///
/// [`OperatorError::Store`] for an unknown task, one that is not blocked,
/// or one abandoned already (nothing is written then).
pub fn abandon(
    store: &Store,
    git: &crate::worktree::Git,
    task: TaskId,
    reason: &str,
) -> Result<AbandonOutcome, OperatorError> {
    let current = store.task(task)?;
    let abandoned = store.abandon_task(task, reason)?;
    let worktree = match abandoned.worktree.clone() {
        None => AbandonedWorktree::None,
        Some(dir) => {
            let repo = store.repo(current.repo)?;
            match git.remove(std::path::Path::new(&repo.path), std::path::Path::new(&dir)) {
                Ok(true) => {
                    store.clear_task_worktree(task)?;
                    AbandonedWorktree::Removed(dir)
                }
                Ok(false) => AbandonedWorktree::KeptDirty(dir),
                Err(error) => AbandonedWorktree::Failed(dir, error.to_string()),
            }
        }
    };
    Ok(AbandonOutcome {
        abandoned,
        worktree,
    })
}
