//! What can go wrong with a task's worktree, and what to do about it.

use std::path::PathBuf;

use orch_store::TaskId;

/// Why a worktree could not be made, inspected or committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorktreeError {
    /// git could not be started.
    #[error(
        "git could not be run ({program}: {message}); install git, or set ORCH_GIT to its path"
    )]
    GitUnavailable {
        /// The program orch tried.
        program: String,
        /// What went wrong.
        message: String,
    },
    /// A git command failed.
    #[error("`git {args}` failed in {dir}: {message}")]
    Git {
        /// Its arguments.
        args: String,
        /// Where it ran.
        dir: PathBuf,
        /// What it said (or its ending).
        message: String,
    },
    /// The folder is inside a git repository but not at its top.
    #[error("{path} is inside the git repository at {top}, not its top folder; add {top} instead")]
    NotTopLevel {
        /// The folder given.
        path: PathBuf,
        /// The repository's top folder.
        top: PathBuf,
    },
    /// The base ref names no commit.
    #[error(
        "the base ref {reference:?} names no commit in {repo}; give a branch, tag or commit that exists (git -C {repo} rev-parse {reference})"
    )]
    UnknownRef {
        /// The ref.
        reference: String,
        /// The repository.
        repo: PathBuf,
    },
    /// The repository has no commit to start from.
    #[error("the repository at {repo} has no commit yet; commit something before adding a task")]
    NoCommit {
        /// The repository.
        repo: PathBuf,
    },
    /// The task's branch exists and is not the task's.
    #[error(
        "the branch {branch} already exists in {repo} and is not this task's (left by a removed task, or by another orch home working on this repository?); rename or delete it (git -C {repo} branch -m {branch} NEW), then the task goes on"
    )]
    BranchTaken {
        /// The branch.
        branch: String,
        /// The repository.
        repo: PathBuf,
    },
    /// Something that is not the task's worktree is where it must go.
    #[error(
        "{path} exists and is not the worktree of task {task}; move it away, then the task goes on"
    )]
    FolderInTheWay {
        /// The folder.
        path: PathBuf,
        /// The task.
        task: TaskId,
    },
    /// The worktree is not where the task's own work left it.
    #[error("the worktree of task {task} ({path}) was tampered with: {what}")]
    Tampered {
        /// The task.
        task: TaskId,
        /// Its worktree.
        path: PathBuf,
        /// What is wrong, and what to do.
        what: String,
    },
    /// git printed more than orch keeps of its output, so what orch read
    /// is not all git said.
    #[error(
        "`git {args}` in {dir} printed more than {cap} bytes, all orch keeps of its output; orch judges no tree from a cut listing, so nothing was committed or called clean. A folder of generated files that .gitignore does not cover makes such a listing: ignore or delete it in the worktree, then retry the task"
    )]
    OutputCut {
        /// Its arguments.
        args: String,
        /// Where it ran.
        dir: PathBuf,
        /// The bytes kept.
        cap: usize,
    },
    /// The run was cancelled (a shutdown) while git ran.
    #[error("cancelled while git ran")]
    Cancelled,
}

impl WorktreeError {
    /// Whether waiting may mend it (git installed, a branch renamed, a folder
    /// moved): the job is deferred. Tampering is not waited out.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            WorktreeError::Tampered { .. } => false,
            WorktreeError::GitUnavailable { .. }
            | WorktreeError::Git { .. }
            | WorktreeError::NotTopLevel { .. }
            | WorktreeError::UnknownRef { .. }
            | WorktreeError::NoCommit { .. }
            | WorktreeError::BranchTaken { .. }
            | WorktreeError::FolderInTheWay { .. }
            | WorktreeError::OutputCut { .. }
            | WorktreeError::Cancelled => true,
        }
    }
}
