//! A repository as stored and as added.

use crate::types::RepoId;

/// A repository orch works on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Repo {
    /// Its id.
    pub id: RepoId,
    /// Its unique name, as used in `ORCH_STAGING_RUNNER_REPOS`.
    pub name: String,
    /// The path of its checkout.
    pub path: String,
    /// The command that runs its staging suite.
    pub staging_command: String,
    /// The command that deploys it; `None` when it has nothing to deploy.
    pub deploy_command: Option<String>,
    /// The command that probes its health after a deploy; `None` when there
    /// is nothing to probe.
    pub health_command: Option<String>,
    /// The environment variable names its staging suite needs passed
    /// through, in the order given (empty for none).
    pub pass_env: Vec<String>,
    /// The ref its tasks start from; `None`: the checkout's `HEAD` when a
    /// task is created.
    pub base_ref: Option<String>,
    /// The command that runs its own tests, for the test runner; `None`: no
    /// test command (the LLM tester serves the testing stage).
    pub test_command: Option<String>,
    /// The suite's files, as git glob patterns (`tests/**`, `staging.sh`),
    /// in the order given; empty: the suite is unpinned (the runners judge
    /// the task's tree as it left it).
    pub suite_paths: Vec<String>,
    /// The command that prepares each new task worktree and each judge tree
    /// (`npm ci`); `None`: nothing to prepare.
    pub setup_command: Option<String>,
    /// Whether its staging and test suites may use the network.
    pub suite_network: SuiteNetwork,
    /// Extra absolute folders its sandboxed runs may write (build caches, a
    /// deploy target), in the order given.
    pub cache_dirs: Vec<String>,
    /// The test runner's mode for this repository (`on`, `shadow`, `off`),
    /// which replaces the configuration's mode and repository list for it;
    /// `None`: the configuration decides (schema version 12).
    pub test_runner_mode: Option<String>,
    /// When it was added.
    pub created_ms: i64,
}

/// A repository to add with [`Store::add_repo`](crate::Store::add_repo).
///
/// ```
/// use orch_store::NewRepo;
///
/// let repo = NewRepo::new("demo", "/srv/demo", "make staging")
///     .with_deploy_command(Some("make deploy".into()))
///     .with_pass_env(vec!["DATABASE_URL".into()]);
/// assert_eq!(repo.health_command, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewRepo {
    /// Its unique, non-empty name.
    pub name: String,
    /// The path of its checkout, non-empty.
    pub path: String,
    /// The command that runs its staging suite.
    pub staging_command: String,
    /// The command that deploys it; `None` when it has nothing to deploy.
    pub deploy_command: Option<String>,
    /// The command that probes its health; `None` when there is nothing to
    /// probe.
    pub health_command: Option<String>,
    /// Environment variable names the staging suite needs passed through:
    /// names only, each non-empty, without `,`, `=` or NUL.
    pub pass_env: Vec<String>,
    /// The ref its tasks start from (not blank); `None`: the checkout's
    /// `HEAD` when a task is created.
    pub base_ref: Option<String>,
    /// The command that runs its own tests (not blank); `None`: none.
    pub test_command: Option<String>,
    /// The suite's files as glob patterns: each non-empty, without `,` or
    /// NUL (the launcher checks their syntax); empty: unpinned.
    pub suite_paths: Vec<String>,
    /// The command that prepares each worktree (not blank); `None`: none.
    pub setup_command: Option<String>,
    /// Whether its suites may use the network ([`SuiteNetwork::Off`] by
    /// default).
    pub suite_network: SuiteNetwork,
    /// Extra folders its sandboxed runs may write: absolute paths, without
    /// `,` or NUL.
    pub cache_dirs: Vec<String>,
}

impl NewRepo {
    /// Sets [`NewRepo::deploy_command`].
    #[must_use]
    pub fn with_deploy_command(mut self, deploy_command: Option<String>) -> Self {
        self.deploy_command = deploy_command;
        self
    }

    /// Sets [`NewRepo::health_command`].
    #[must_use]
    pub fn with_health_command(mut self, health_command: Option<String>) -> Self {
        self.health_command = health_command;
        self
    }

    /// Sets [`NewRepo::pass_env`].
    #[must_use]
    pub fn with_pass_env(mut self, pass_env: Vec<String>) -> Self {
        self.pass_env = pass_env;
        self
    }

    /// Sets [`NewRepo::base_ref`].
    #[must_use]
    pub fn with_base_ref(mut self, base_ref: Option<String>) -> Self {
        self.base_ref = base_ref;
        self
    }

    /// Sets [`NewRepo::test_command`].
    #[must_use]
    pub fn with_test_command(mut self, test_command: Option<String>) -> Self {
        self.test_command = test_command;
        self
    }

    /// Sets [`NewRepo::suite_paths`].
    #[must_use]
    pub fn with_suite_paths(mut self, suite_paths: Vec<String>) -> Self {
        self.suite_paths = suite_paths;
        self
    }

    /// Sets [`NewRepo::setup_command`].
    #[must_use]
    pub fn with_setup_command(mut self, setup_command: Option<String>) -> Self {
        self.setup_command = setup_command;
        self
    }

    /// Sets [`NewRepo::suite_network`].
    #[must_use]
    pub fn with_suite_network(mut self, suite_network: SuiteNetwork) -> Self {
        self.suite_network = suite_network;
        self
    }

    /// Sets [`NewRepo::cache_dirs`].
    #[must_use]
    pub fn with_cache_dirs(mut self, cache_dirs: Vec<String>) -> Self {
        self.cache_dirs = cache_dirs;
        self
    }

    /// A repository with nothing to deploy, nothing to probe and no
    /// environment passed through.
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        path: impl Into<String>,
        staging_command: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            staging_command: staging_command.into(),
            deploy_command: None,
            health_command: None,
            pass_env: Vec::new(),
            base_ref: None,
            test_command: None,
            suite_paths: Vec::new(),
            setup_command: None,
            suite_network: SuiteNetwork::Off,
            cache_dirs: Vec::new(),
        }
    }
}

/// Whether a repository's staging and test suites may use the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SuiteNetwork {
    /// None: a network namespace of their own with only loopback (where the
    /// kernel allows one; see the launcher's sandbox).
    #[default]
    Off,
    /// The host's network.
    On,
}

impl SuiteNetwork {
    /// `off` or `on`, as stored.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SuiteNetwork::Off => "off",
            SuiteNetwork::On => "on",
        }
    }

    /// Reads `off` or `on`.
    #[must_use]
    pub fn parse(text: &str) -> Option<SuiteNetwork> {
        match text {
            "off" => Some(SuiteNetwork::Off),
            "on" => Some(SuiteNetwork::On),
            _ => None,
        }
    }
}

impl rusqlite::types::FromSql for SuiteNetwork {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let text = value.as_str()?;
        SuiteNetwork::parse(text).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(format!("unknown suite network {text:?}").into())
        })
    }
}
