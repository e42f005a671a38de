//! The JSON view of a registered repository (`orch repo add|list|update`).

use orch_store::Repo;
use serde::Serialize;

/// A registered repository: its commands, its folder and what its runs may
/// reach. `repo add` and `repo update` add how its tasks are isolated.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RepoView {
    /// The ref its tasks start from (`null`: `HEAD`).
    pub base: Option<String>,
    /// Folders outside the worktree its runs may write.
    pub cache_dirs: Vec<String>,
    /// When it was added (RFC 3339).
    pub created: String,
    /// The deploy command, if any.
    pub deploy_cmd: Option<String>,
    /// The health command, if any.
    pub health_cmd: Option<String>,
    /// The repository's id.
    pub id: i64,
    /// How its tasks are isolated, when the command checked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<IsolationView>,
    /// Its name.
    pub name: String,
    /// Environment variables passed to its suites.
    pub pass_env: Vec<String>,
    /// Its checkout (canonical path).
    pub path: String,
    /// The setup command, if any.
    pub setup_cmd: Option<String>,
    /// The staging suite's command.
    pub staging_cmd: String,
    /// The suite's git glob patterns.
    pub suite: Vec<String>,
    /// Whether the suite may use the network (`off`, `on`, ...).
    pub suite_network: String,
    /// The test command, if any.
    pub test_cmd: Option<String>,
    /// Its test-runner mode, if set.
    pub test_runner: Option<String>,
}

impl RepoView {
    /// The view of `repo`, without the isolation report.
    #[must_use]
    pub fn new(repo: &Repo) -> RepoView {
        RepoView {
            base: repo.base_ref.clone(),
            cache_dirs: repo.cache_dirs.clone(),
            created: super::rfc3339(repo.created_ms),
            deploy_cmd: repo.deploy_command.clone(),
            health_cmd: repo.health_command.clone(),
            id: repo.id.get(),
            isolation: None,
            name: repo.name.clone(),
            pass_env: repo.pass_env.clone(),
            path: repo.path.clone(),
            setup_cmd: repo.setup_command.clone(),
            staging_cmd: repo.staging_command.clone(),
            suite: repo.suite_paths.clone(),
            suite_network: repo.suite_network.as_str().to_owned(),
            test_cmd: repo.test_command.clone(),
            test_runner: repo.test_runner_mode.clone(),
        }
    }

    /// The view with the isolation report.
    #[must_use]
    pub fn with_isolation(mut self, isolation: Option<IsolationView>) -> RepoView {
        self.isolation = isolation;
        self
    }
}

/// How a repository's tasks will be isolated, as `repo add` and `repo
/// update` report it ([`crate::repos::isolation`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct IsolationView {
    /// The commit its base ref names now (a git repository with a commit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_commit_now: Option<String>,
    /// `worktree` (a git repository) or `checkout` (a plain folder).
    pub kind: &'static str,
    /// What it means for its tasks.
    pub note: &'static str,
}

/// A removed repository (`orch repo remove`): its id, its tasks removed
/// with it, and the worktrees that were kept (with changes in them, or that
/// could not be removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RemovedRepoView {
    /// The repository's id.
    pub id: i64,
    /// The worktrees left in place.
    pub kept_worktrees: Vec<String>,
    /// Its name.
    pub removed: String,
    /// Its tasks, removed with it.
    pub tasks: Vec<i64>,
}

impl RemovedRepoView {
    /// The view of repository `name`'s removal.
    #[must_use]
    pub fn new(
        name: &str,
        removed: &orch_store::RemovedRepo,
        kept_worktrees: Vec<String>,
    ) -> RemovedRepoView {
        RemovedRepoView {
            id: removed.repo.get(),
            kept_worktrees,
            removed: name.to_owned(),
            tasks: removed.tasks.iter().map(|t| t.get()).collect(),
        }
    }
}
