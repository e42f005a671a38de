//! The JSON views of a task: one task in full (`orch task show`), a row of
//! the task list (`orch task list`) and a created task (`orch task add`).

use std::path::Path;

use orch_store::{
    AgentRun, Alert, GateDecision, Job, Repo, Store, StoreError, Task, TaskId, TaskStatus,
    Transition, Transport,
};
use serde::Serialize;

use super::rfc3339;
use crate::CreatedTask;

/// One task in full: its state, cost, worktree, artifacts, jobs, agent runs
/// and transitions with their gate evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TaskView {
    /// When an operator abandoned it (`orch task abandon`), RFC 3339;
    /// `None`: not abandoned.
    pub abandoned_at: Option<String>,
    /// The artifacts written so far (paths under `$ORCH_HOME/tasks/ID`).
    pub artifacts: Vec<String>,
    /// Where and why it is blocked, and the command that unblocks it;
    /// `null` unless it is blocked.
    pub blocked: Option<BlockedView>,
    /// What its agent runs cost, in US dollars.
    pub cost_usd: f64,
    /// When it was added (RFC 3339).
    pub created: String,
    /// How many times the developer stage ran again after a failed gate.
    pub developer_retries: u32,
    /// The task's id.
    pub id: i64,
    /// Its jobs, oldest first.
    pub jobs: Vec<JobView>,
    /// Its repository's name.
    pub repo: String,
    /// Its agent runs, oldest first.
    pub runs: Vec<RunView>,
    /// The shadow runner's verdicts beside the LLM role's, oldest first,
    /// each saying whether the two agree.
    pub shadow: Vec<ShadowView>,
    /// Its stage.
    pub stage: String,
    /// `active`, `done` or `blocked`.
    pub status: String,
    /// What the task is.
    pub title: String,
    /// Its stage changes, oldest first.
    pub transitions: Vec<TransitionView>,
    /// When it last changed (RFC 3339).
    pub updated: String,
    /// Where it works and what it committed.
    pub worktree: WorktreeView,
}

impl TaskView {
    /// The view of task `id` of `store`; `home` is orch's home, where its
    /// artifacts are.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] (table `tasks`) when there is no such task;
    /// any other store error reading its rows.
    pub fn load(store: &Store, home: &Path, id: i64) -> Result<TaskView, StoreError> {
        let task_id = TaskId::new(id);
        let task = store.task(task_id)?;
        let repo = store.repo(task.repo)?;
        let cost = store.task_cost_usd(task_id)?;
        let dir = home.join("tasks").join(id.to_string());
        let artifacts = orch_pipeline::ARTIFACTS
            .iter()
            .map(|spec| dir.join(spec.file_name))
            .filter(|path| path.is_file())
            .map(|path| path.to_string_lossy().into_owned())
            .collect();
        let runs = store.agent_runs(task_id)?;
        let transitions = store.transitions(task_id)?;
        Ok(TaskView {
            abandoned_at: task.abandoned_ms.map(super::rfc3339),
            artifacts,
            blocked: BlockedView::of(&task, &transitions, &store.task_alerts(task_id)?),
            cost_usd: cost,
            created: rfc3339(task.created_ms),
            developer_retries: task.developer_retries,
            id,
            jobs: store
                .task_jobs(task_id)?
                .iter()
                .map(|job| JobView::new(job).served_by(served_by(job, &runs)))
                .collect(),
            repo: repo.name.clone(),
            runs: runs.iter().map(RunView::new).collect(),
            shadow: store
                .shadow_verdicts(task_id)?
                .iter()
                .map(ShadowView::new)
                .collect(),
            stage: task.stage.to_string(),
            status: task.status.as_str().to_owned(),
            title: task.title.clone(),
            transitions: transitions.iter().map(TransitionView::new).collect(),
            updated: rfc3339(task.updated_ms),
            worktree: WorktreeView::new(&task, &repo),
        })
    }
}

/// Where a blocked task stopped, why, when, and what unblocks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BlockedView {
    /// The alert raised when it was blocked, if any.
    pub alert: Option<i64>,
    /// When it was blocked (RFC 3339).
    pub at: String,
    /// Why: the message of the alert raised when it was blocked, else the
    /// transition's reason, else the reasons of the gates that failed.
    pub reason: String,
    /// The stage it was blocked at.
    pub stage: String,
    /// The command that sends it back to work where it stopped; `None`
    /// (JSON `null`) for a task an operator abandoned, which is not retried.
    pub unblock: Option<String>,
}

impl BlockedView {
    /// Where `task` is blocked, read from its `transitions` and `alerts`
    /// (oldest first): the last transition into `blocked`, and the newest
    /// alert raised with it or after it. `None` unless the task is blocked.
    #[must_use]
    pub fn of(task: &Task, transitions: &[Transition], alerts: &[Alert]) -> Option<BlockedView> {
        if task.status != TaskStatus::Blocked {
            return None;
        }
        let into_blocked = transitions
            .iter()
            .rev()
            .find(|t| t.to_stage == orch_pipeline::Stage::Blocked);
        let since = into_blocked.map_or(task.updated_ms, |t| t.at_ms);
        let alert = alerts
            .iter()
            .rev()
            .find(|a| a.task == Some(task.id) && a.created_ms >= since);
        let reason = alert
            .map(|a| a.message.clone())
            .filter(|m| !m.trim().is_empty())
            .or_else(|| into_blocked.and_then(|t| t.reason.clone()))
            .filter(|r| !r.trim().is_empty())
            .or_else(|| {
                let failed: Vec<&str> = into_blocked?
                    .decisions
                    .iter()
                    .filter(|d| !d.passed)
                    .map(|d| d.reason.as_str())
                    .collect();
                (!failed.is_empty()).then(|| failed.join("; "))
            })
            .unwrap_or_else(|| {
                "no reason was recorded with the transition; see `orch alert list`".to_owned()
            });
        Some(BlockedView {
            alert: alert.map(|a| a.id.get()),
            at: rfc3339(since),
            reason,
            // The stage it stopped at: the last transition into blocked from
            // a working stage (an abandon goes blocked → blocked).
            stage: transitions
                .iter()
                .rev()
                .find(|t| {
                    t.to_stage == orch_pipeline::Stage::Blocked
                        && t.from_stage != orch_pipeline::Stage::Blocked
                })
                .map_or(task.stage, |t| t.from_stage)
                .as_str()
                .to_owned(),
            unblock: task
                .abandoned_ms
                .is_none()
                .then(|| format!("orch task retry {}", task.id.get())),
        })
    }
}

/// The role that served `job`, from the task's `runs`: the pipeline role
/// when an LLM run of it exists (an LLM role that decided, also when a
/// reserved agent fell back to it or a runner ran beside it in shadow mode),
/// else the reserved agent whose run it is (`staging-runner`,
/// `test-runner`); `None` before any run.
#[must_use]
pub fn served_by(job: &Job, runs: &[AgentRun]) -> Option<String> {
    let own: Vec<&AgentRun> = runs.iter().filter(|r| r.job == job.id).collect();
    if own.iter().any(|r| r.transport == Transport::Llm) {
        return Some(job.role.as_str().to_owned());
    }
    own.last().map(|r| r.role.as_str().to_owned())
}

/// A shadow pair of a task: the runner's verdict beside the LLM role's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ShadowView {
    /// Whether both gave a verdict and they are the same.
    pub agree: bool,
    /// When it was recorded (UTC).
    pub at: String,
    /// The commit the runner ran on.
    pub commit: Option<String>,
    /// Its job.
    pub job: i64,
    /// The LLM role's verdict as the gate took it.
    pub llm_verdict: String,
    /// The runner's second verdict on a disagreement (flaky when it differs
    /// from the first).
    pub rerun_verdict: Option<String>,
    /// The runner's verdict (`null`: it gave none, e.g. its command could
    /// not run).
    pub runner_verdict: Option<String>,
    /// The stage.
    pub stage: String,
}

impl ShadowView {
    /// The view of a recorded pair.
    #[must_use]
    pub fn new(pair: &orch_store::ShadowVerdict) -> ShadowView {
        ShadowView {
            agree: pair.runner_verdict.as_deref() == Some(pair.llm_verdict.as_str()),
            at: rfc3339(pair.created_ms),
            commit: pair.commit.clone(),
            job: pair.job.get(),
            llm_verdict: pair.llm_verdict.clone(),
            rerun_verdict: pair.rerun_verdict.clone(),
            runner_verdict: pair.runner_verdict.clone(),
            stage: pair.stage.as_str().to_owned(),
        }
    }
}

/// A task's workspace: its isolation, commits, branch and folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WorktreeView {
    /// The suite version an operator approved for it.
    pub approved_suite_commit: Option<String>,
    /// The sha256 of that suite's diff from the base commit.
    pub approved_suite_diff_sha256: Option<String>,
    /// The commit it started from.
    pub base_commit: Option<String>,
    /// Its branch (`orch/task-ID`).
    pub branch: Option<String>,
    /// The commit its latest stage ended on.
    pub head_commit: Option<String>,
    /// `worktree` or `checkout`.
    pub isolation: String,
    /// Whether its worktree is kept when it is done.
    pub kept_when_done: bool,
    /// The command that merges its branch into the checkout.
    pub merge: Option<String>,
    /// Its worktree folder, while it has one.
    pub path: Option<String>,
}

impl WorktreeView {
    fn new(task: &Task, repo: &Repo) -> WorktreeView {
        WorktreeView {
            approved_suite_commit: task.suite_commit.clone(),
            approved_suite_diff_sha256: task.suite_diff_sha256.clone(),
            base_commit: task.base_commit.clone(),
            branch: task.branch.clone(),
            head_commit: task.head_commit.clone(),
            isolation: task.isolation.as_str().to_owned(),
            kept_when_done: task.keep_worktree,
            merge: task
                .branch
                .as_ref()
                .map(|branch| format!("git -C {} merge {branch}", shell_word(&repo.path))),
            path: task.worktree.clone(),
        }
    }
}

/// One job of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct JobView {
    /// When it was queued (RFC 3339).
    pub created: String,
    /// The commit its run ended on.
    pub end_commit: Option<String>,
    /// The job's id.
    pub id: i64,
    /// Its pipeline role (`deployer`, `tester`, ...).
    pub role: String,
    /// The role that served it: a reserved agent (`staging-runner`,
    /// `test-runner`) or the pipeline role itself (an LLM run, a fallback
    /// included); `null` before any run.
    pub served_by: Option<String>,
    /// Its stage.
    pub stage: String,
    /// The commit its run started from.
    pub start_commit: Option<String>,
    /// When its latest claim was taken (RFC 3339): a running job's start (a
    /// heartbeat does not move it); `null` if never claimed.
    pub started: Option<String>,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// When it last changed (RFC 3339).
    pub updated: String,
}

impl JobView {
    /// The view of `job`.
    #[must_use]
    pub fn new(job: &Job) -> JobView {
        JobView {
            created: rfc3339(job.created_ms),
            end_commit: job.end_commit.clone(),
            id: job.id.get(),
            role: job.role.to_string(),
            served_by: None,
            stage: job.stage.to_string(),
            start_commit: job.start_commit.clone(),
            started: job.claimed_ms.map(rfc3339),
            state: job.state.as_str().to_owned(),
            updated: rfc3339(job.updated_ms),
        }
    }

    /// The view with the role that served the job ([`served_by`]).
    #[must_use]
    pub fn served_by(mut self, role: Option<String>) -> JobView {
        self.served_by = role;
        self
    }
}

/// One agent run of a task.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RunView {
    /// Tokens read from the cache.
    pub cache_read_tokens: Option<u64>,
    /// Tokens written to the cache.
    pub cache_write_tokens: Option<u64>,
    /// `reported` by the CLI, or `estimated` by orch from
    /// `ORCH_AGENT_PRICES`; `null` without a cost.
    pub cost_source: Option<String>,
    /// What it cost, in US dollars.
    pub cost_usd: Option<f64>,
    /// How long it ran.
    pub duration_ms: i64,
    /// Its exit code, if it exited.
    pub exit_code: Option<i32>,
    /// The run's id.
    pub id: i64,
    /// Its job.
    pub job: i64,
    /// The model it used.
    pub model: Option<String>,
    /// How it ended.
    pub outcome: String,
    /// Its role.
    pub role: String,
    /// What the kernel sandbox enforced for it.
    pub sandbox: Option<String>,
    /// Its stage.
    pub stage: String,
    /// When it started (RFC 3339).
    pub started: String,
    /// Input tokens, in each CLI's own meaning: Claude's exclude the cache
    /// reads and writes, Codex's and Gemini's include the cached part
    /// (docs/store.md).
    pub tokens_in: Option<u64>,
    /// Output tokens.
    pub tokens_out: Option<u64>,
    /// How it was run (`llm`, `reserved`, ...).
    pub transport: String,
}

impl RunView {
    /// The view of `run`.
    #[must_use]
    pub fn new(run: &AgentRun) -> RunView {
        RunView {
            cache_read_tokens: run.cache_read_tokens,
            cache_write_tokens: run.cache_write_tokens,
            cost_source: run.cost_source.as_ref().map(ToString::to_string),
            cost_usd: run.cost_usd,
            duration_ms: run.duration_ms,
            exit_code: run.exit_code,
            id: run.id.get(),
            job: run.job.get(),
            model: run.model.clone(),
            outcome: run.outcome.to_string(),
            role: run.role.to_string(),
            sandbox: run.sandbox.clone(),
            stage: run.stage.to_string(),
            started: rfc3339(run.started_ms),
            tokens_in: run.tokens_in,
            tokens_out: run.tokens_out,
            transport: run.transport.as_str().to_owned(),
        }
    }
}

/// One stage change of a task, with the gate decisions it was made on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TransitionView {
    /// Who made it (`engine`, `operator`, ...), if recorded.
    pub actor: Option<String>,
    /// When (RFC 3339).
    pub at: String,
    /// The stage it left.
    pub from: String,
    /// The gates' decisions.
    pub gates: Vec<GateView>,
    /// Why, in words, if recorded.
    pub reason: Option<String>,
    /// The stage it entered.
    pub to: String,
}

impl TransitionView {
    /// The view of `transition`.
    #[must_use]
    pub fn new(transition: &Transition) -> TransitionView {
        TransitionView {
            actor: transition.actor.as_ref().map(ToString::to_string),
            at: rfc3339(transition.at_ms),
            from: transition.from_stage.to_string(),
            gates: transition.decisions.iter().map(GateView::new).collect(),
            reason: transition.reason.clone(),
            to: transition.to_stage.to_string(),
        }
    }
}

/// One gate's decision and the evidence it read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GateView {
    /// The sha256 of the artifact it read.
    pub artifact_sha256: Option<String>,
    /// The commit the verdict is about.
    pub commit: Option<String>,
    /// The gate's name.
    pub gate: String,
    /// Whether it let the task advance.
    pub passed: bool,
    /// Why, in words.
    pub reason: String,
    /// What the kernel enforced for the run whose verdict it read: evidence
    /// beside the verdict.
    pub sandbox: Option<String>,
    /// Whether the tree was exactly the commit.
    pub tree_clean: Option<bool>,
    /// The verdict it read; `null` when it failed closed.
    pub verdict: Option<String>,
}

impl GateView {
    /// The view of `decision`.
    #[must_use]
    pub fn new(decision: &GateDecision) -> GateView {
        GateView {
            artifact_sha256: decision.artifact_sha256.clone(),
            commit: decision.commit_sha.clone(),
            gate: decision.gate.to_string(),
            passed: decision.passed,
            reason: decision.reason.clone(),
            sandbox: decision.sandbox.clone(),
            tree_clean: decision.tree_clean,
            verdict: decision.verdict.clone(),
        }
    }
}

/// A row of the task list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TaskSummary {
    /// Where and why it is blocked, and the command that unblocks it;
    /// `null` unless it is blocked.
    pub blocked: Option<BlockedView>,
    /// Its branch, if it has a worktree.
    pub branch: Option<String>,
    /// When it was added (RFC 3339).
    pub created: String,
    /// How many times the developer stage ran again.
    pub developer_retries: u32,
    /// The task's id.
    pub id: i64,
    /// Its repository's name.
    pub repo: String,
    /// Its stage.
    pub stage: String,
    /// `active`, `done` or `blocked`.
    pub status: String,
    /// What the task is.
    pub title: String,
    /// When it last changed (RFC 3339).
    pub updated: String,
}

impl TaskSummary {
    /// The row of `task`, of repository `repo`, without where it is
    /// blocked (see [`TaskSummary::load`]).
    #[must_use]
    pub fn new(task: &Task, repo: &Repo) -> TaskSummary {
        TaskSummary {
            blocked: None,
            branch: task.branch.clone(),
            created: rfc3339(task.created_ms),
            developer_retries: task.developer_retries,
            id: task.id.get(),
            repo: repo.name.clone(),
            stage: task.stage.to_string(),
            status: task.status.as_str().to_owned(),
            title: task.title.clone(),
            updated: rfc3339(task.updated_ms),
        }
    }

    /// The row of `task` with where it is blocked (its transitions are read
    /// only when it is blocked).
    ///
    /// # Errors
    ///
    /// A store error reading its transitions.
    pub fn load(store: &Store, task: &Task, repo: &Repo) -> Result<TaskSummary, StoreError> {
        let mut row = TaskSummary::new(task, repo);
        if task.status == TaskStatus::Blocked {
            row.blocked = BlockedView::of(
                task,
                &store.transitions(task.id)?,
                &store.task_alerts(task.id)?,
            );
        }
        Ok(row)
    }
}

/// A task just created: its id, first job and isolation, and for a worktree
/// task the base it starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CreatedTaskView {
    /// The ref its base was resolved from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The commit it starts from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_commit: Option<String>,
    /// Its branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The task's id.
    pub id: i64,
    /// `worktree` or `checkout`.
    pub isolation: String,
    /// Its first job.
    pub job: i64,
    /// What the user should know about its base.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<String>>,
}

impl CreatedTaskView {
    /// The view of `created`.
    #[must_use]
    pub fn new(created: &CreatedTask) -> CreatedTaskView {
        let base = created.base.as_ref();
        CreatedTaskView {
            base: base.map(|b| b.reference.clone()),
            base_commit: base.map(|b| b.commit.clone()),
            branch: base.map(|_| crate::worktree::branch_name(created.task)),
            id: created.task.get(),
            isolation: created.isolation.as_str().to_owned(),
            job: created.job.get(),
            notes: base.map(|b| b.notes.clone()),
        }
    }
}

/// A task the operator abandoned (`orch task abandon`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AbandonedView {
    /// When, RFC 3339.
    pub abandoned_at: String,
    /// The task's alerts it acknowledged.
    pub acknowledged_alerts: Vec<i64>,
    /// Its branch, kept (`None`: it had none).
    pub branch: Option<String>,
    /// The task's id.
    pub id: i64,
    /// The operator's transition that records it.
    pub transition: i64,
    /// Its worktree: `removed`, `kept` (uncommitted changes), `failed` or
    /// `none`.
    pub worktree: &'static str,
    /// The worktree's folder, and for `kept` or `failed` what to do.
    pub worktree_note: Option<String>,
}

impl AbandonedView {
    /// The view of task `id`'s abandonment ([`crate::operator::abandon`]).
    #[must_use]
    pub fn new(id: i64, outcome: &crate::operator::AbandonOutcome) -> AbandonedView {
        use crate::operator::AbandonedWorktree;
        let (worktree, worktree_note) = match &outcome.worktree {
            AbandonedWorktree::None => ("none", None),
            AbandonedWorktree::Removed(dir) => ("removed", Some(dir.clone())),
            AbandonedWorktree::KeptDirty(dir) => (
                "kept",
                Some(format!(
                    "{dir} holds uncommitted changes; look at them, then `git worktree remove --force {dir}`"
                )),
            ),
            AbandonedWorktree::Failed(dir, why) => (
                "failed",
                Some(format!(
                    "{dir} was not removed ({why}); orch serve's start-up sweep tries again"
                )),
            ),
        };
        AbandonedView {
            abandoned_at: super::rfc3339(outcome.abandoned.abandoned_ms),
            acknowledged_alerts: outcome
                .abandoned
                .acknowledged
                .iter()
                .map(|a| a.get())
                .collect(),
            branch: outcome.abandoned.branch.clone(),
            id,
            transition: outcome.abandoned.transition.get(),
            worktree,
            worktree_note,
        }
    }
}

/// A task the operator sent back to work (`orch task retry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RetriedView {
    /// The task's alerts the retry acknowledged.
    pub acknowledged_alerts: Vec<i64>,
    /// The developer-retry count after the retry.
    pub developer_retries: u32,
    /// The stage the task was at.
    pub from: String,
    /// The task's id.
    pub id: i64,
    /// Its fresh job.
    pub job: i64,
    /// The stage it works at again.
    pub stage: String,
}

impl RetriedView {
    /// The view of task `id`'s retry at `stage` ([`crate::operator::retry`]).
    #[must_use]
    pub fn new(id: i64, stage: orch_pipeline::Stage, retried: &orch_store::Retried) -> RetriedView {
        RetriedView {
            acknowledged_alerts: retried.acknowledged.iter().map(|a| a.get()).collect(),
            developer_retries: retried.developer_retries,
            from: retried.from_stage.to_string(),
            id,
            job: retried.job.get(),
            stage: stage.as_str().to_owned(),
        }
    }
}

/// A task's suite change the operator accepted (`orch task
/// approve-suite`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SuiteApprovalView {
    /// The commit whose suite paths the judge tree now restores.
    pub approved_commit: String,
    /// What changed in the suite, path by path.
    pub changes: Vec<SuiteChangeView>,
    /// The sha256 of the suite's diff.
    pub diff_sha256: String,
    /// The task's id.
    pub id: i64,
    /// The commit the suite was pinned to before.
    pub previous: String,
    /// The operator's transition in the task's history.
    pub transition: i64,
}

/// One path of an approved suite change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SuiteChangeView {
    /// `added`, `modified`, `deleted`, ...
    pub change: String,
    /// The path.
    pub path: String,
}

impl SuiteApprovalView {
    /// The view of task `id`'s approval ([`crate::operator::approve_suite`]).
    #[must_use]
    pub fn new(id: i64, approval: &crate::operator::SuiteApproval) -> SuiteApprovalView {
        SuiteApprovalView {
            approved_commit: approval.commit.clone(),
            changes: approval
                .changes
                .iter()
                .map(|c| SuiteChangeView {
                    change: c.kind.as_str().to_owned(),
                    path: c.path.clone(),
                })
                .collect(),
            diff_sha256: approval.diff_sha256.clone(),
            id,
            previous: approval.previous.clone(),
            transition: approval.transition.get(),
        }
    }
}

/// Where an operator's cancel left a task (`orch task cancel`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CancelView {
    /// The task's id.
    pub id: i64,
    /// The job the cancel ended or asked to end, if any.
    pub job: Option<i64>,
    /// Why the task ended as it did (`cancelled`, or what ended it first).
    pub reason: Option<String>,
    /// The task's status now (`blocked`; `active` while the job still runs).
    pub status: String,
    /// What the job was doing when the cancel came: `queued` or `running`.
    pub was: String,
}

impl CancelView {
    /// The view of a cancel of task `id`.
    #[must_use]
    pub fn new(
        id: i64,
        job: Option<orch_store::JobId>,
        was: &str,
        status: &str,
        reason: Option<&str>,
    ) -> CancelView {
        CancelView {
            id,
            job: job.map(orch_store::JobId::get),
            reason: reason.map(str::to_owned),
            status: status.to_owned(),
            was: was.to_owned(),
        }
    }
}

/// `word` quoted for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%".contains(&b))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("/srv/app"), "/srv/app");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
