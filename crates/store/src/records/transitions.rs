//! A stage change with its gates' evidence, and the verdict history the roadmap reads.

use orch_pipeline::{Role, Stage};

use crate::types::{Actor, AgentRunId, JobId, TaskId, TaskStatus, TransitionId};

/// One gate's decision and the evidence it was made on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GateDecision {
    /// The gate, for example `check_staging_status`.
    pub gate: String,
    /// Whether the gate let the task advance.
    pub passed: bool,
    /// The verdict value it read, for example `FAILED`; `None` when it failed
    /// closed (the verdict line was missing, duplicated or unknown).
    pub verdict: Option<String>,
    /// Why, in words (for a fail-closed gate: what was missing or wrong).
    pub reason: String,
    /// The sha256 of the artifact the gate read, 64 lower-case hex digits;
    /// `None` when the artifact did not exist.
    pub artifact_sha256: Option<String>,
    /// The commit of the tree the verdict is about (for `deploy-staging`:
    /// the commit the suite ran on); `None` for a task without a worktree.
    pub commit_sha: Option<String>,
    /// Whether that tree was exactly the commit: nothing uncommitted (and,
    /// for `deploy-staging`, unchanged for the whole run). `None` without a
    /// worktree.
    pub tree_clean: Option<bool>,
    /// What the kernel sandbox enforced for the run whose verdict the gate
    /// read, in words; `None` when unknown (before schema step 8, or no run).
    pub sandbox: Option<String>,
}

impl GateDecision {
    /// A decision with no verdict read, no artifact, no tree and no sandbox.
    #[must_use]
    pub fn new(gate: impl Into<String>, passed: bool, reason: impl Into<String>) -> Self {
        Self {
            gate: gate.into(),
            passed,
            verdict: None,
            reason: reason.into(),
            artifact_sha256: None,
            commit_sha: None,
            tree_clean: None,
            sandbox: None,
        }
    }

    /// Sets [`GateDecision::verdict`].
    #[must_use]
    pub fn with_verdict(mut self, verdict: Option<String>) -> Self {
        self.verdict = verdict;
        self
    }

    /// Sets [`GateDecision::artifact_sha256`].
    #[must_use]
    pub fn with_artifact_sha256(mut self, artifact_sha256: Option<String>) -> Self {
        self.artifact_sha256 = artifact_sha256;
        self
    }

    /// Sets [`GateDecision::commit_sha`].
    #[must_use]
    pub fn with_commit_sha(mut self, commit_sha: Option<String>) -> Self {
        self.commit_sha = commit_sha;
        self
    }

    /// Sets [`GateDecision::tree_clean`].
    #[must_use]
    pub fn with_tree_clean(mut self, tree_clean: Option<bool>) -> Self {
        self.tree_clean = tree_clean;
        self
    }

    /// Sets [`GateDecision::sandbox`].
    #[must_use]
    pub fn with_sandbox(mut self, sandbox: Option<String>) -> Self {
        self.sandbox = sandbox;
        self
    }
}

/// A stage change to record, with the task's state after it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewTransition {
    /// The task that moves.
    pub task: TaskId,
    /// The stage it was decided from; the task must still be there.
    pub from_stage: Stage,
    /// The stage it moves to.
    pub to_stage: Stage,
    /// The task's status after the move.
    pub status: TaskStatus,
    /// The task's developer-retry count after the move.
    pub developer_retries: u32,
    /// Every gate that decided it, in the order they ran.
    pub decisions: Vec<GateDecision>,
}

impl NewTransition {
    /// A move with no developer retries and no gate decisions.
    #[must_use]
    pub fn new(task: TaskId, from_stage: Stage, to_stage: Stage, status: TaskStatus) -> Self {
        Self {
            task,
            from_stage,
            to_stage,
            status,
            developer_retries: 0,
            decisions: Vec::new(),
        }
    }

    /// Sets [`NewTransition::developer_retries`].
    #[must_use]
    pub fn with_developer_retries(mut self, developer_retries: u32) -> Self {
        self.developer_retries = developer_retries;
        self
    }

    /// Sets [`NewTransition::decisions`].
    #[must_use]
    pub fn with_decisions(mut self, decisions: Vec<GateDecision>) -> Self {
        self.decisions = decisions;
        self
    }
}

/// A recorded stage change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// Its id.
    pub id: TransitionId,
    /// The task that moved.
    pub task: TaskId,
    /// The job whose end caused it, if any.
    pub job: Option<JobId>,
    /// The stage it left.
    pub from_stage: Stage,
    /// The stage it entered.
    pub to_stage: Stage,
    /// When.
    pub at_ms: i64,
    /// Who moved the task when it was not a job's own end:
    /// [`Actor::Operator`] (a retry or cancel from the command line),
    /// [`Actor::Rescue`] (a poison block); `None` for a job's own end (the
    /// engine). An unknown text in the database is a typed error.
    pub actor: Option<Actor>,
    /// Why, in words, when the gate decisions do not say it (e.g.
    /// `cancelled`, `poison`, the operator's reason for a retry).
    pub reason: Option<String>,
    /// The gates that decided it, in the order they ran.
    pub decisions: Vec<GateDecision>,
}

/// A verdict that moved a task: a transition decided by gates at the end of
/// a job, for the roadmap's costs by verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictEvent {
    /// The task.
    pub task: TaskId,
    /// Its repository's name.
    pub repo: String,
    /// The transition.
    pub transition: TransitionId,
    /// The job whose end it was.
    pub job: JobId,
    /// The stage decided.
    pub stage: Stage,
    /// Where the task went.
    pub to_stage: Stage,
    /// The job's role.
    pub role: Role,
    /// Every gate passed: the stage's verdict was the passing one.
    pub passed: bool,
    /// The commit the gates judged (`None` without a worktree).
    pub commit: Option<String>,
    /// An LLM run of the job decided it (otherwise a reserved agent did).
    pub llm: bool,
    /// The summed reported cost of the job's runs.
    pub cost_usd: f64,
    /// The job's last run (its id), `None` when it recorded none: runs
    /// after it came after the verdict.
    pub last_run: Option<AgentRunId>,
}

/// One run's place and cost in its task's history.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCost {
    /// The task.
    pub task: TaskId,
    /// The run (ids grow with time).
    pub run: AgentRunId,
    /// Its reported cost.
    pub cost_usd: Option<f64>,
}

/// Every verdict and every run's cost, per task in order: what the roadmap
/// attributes rollback loops from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerdictHistory {
    /// The gate-decided transitions, by task then time.
    pub verdicts: Vec<VerdictEvent>,
    /// The runs, by task then time.
    pub runs: Vec<RunCost>,
}
