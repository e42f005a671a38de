//! What a repository must be to be registered, checked before anything is
//! stored: a name, a folder that exists, registered once (by its canonical
//! path), not a folder inside a repository, a base ref that names a commit
//! (and only on a git repository), suite patterns git can read, cache
//! folders outside orch's home. `orch repo add` and `orch repo update` call
//! these; an embedder that registers repositories gets the same checks.
//!
//! ```no_run
//! use orch_launcher::{LauncherConfig, repos, worktree::Git};
//! use orch_store::Store;
//!
//! let config = LauncherConfig::new("/srv/orch");
//! let store = Store::open("/srv/orch/orch.db")?;
//! let folder = repos::checked_folder(std::path::Path::new("/srv/app"))?;
//! let request = repos::RepoRequest::new("app", &folder, "make staging");
//! let checked = repos::validate(&store, &Git::new(&config), &config.home, &request)?;
//! let id = store.add_repo(&checked.repo)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use orch_store::{NewRepo, Store, StoreError, SuiteNetwork};

use crate::views::IsolationView;
use crate::worktree::{Checkout, Git, WorktreeError};

/// Why a repository cannot be registered or changed as asked. Every message
/// says what was wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The name is blank.
    #[error(
        "the repository's name is blank; give it a name (what ORCH_STAGING_RUNNER_REPOS lists)"
    )]
    BlankName,
    /// A staging command given is blank.
    #[error("--staging-cmd is blank; every repository needs its staging suite")]
    BlankStagingCommand,
    /// An optional command was given blank to `repo add` (there is nothing
    /// to clear yet): leave the flag out instead.
    #[error(
        "{flag} is blank; give the command, or leave {flag} out (a blank command would never run and its stage would silently go to the LLM)"
    )]
    BlankCommand {
        /// The flag, e.g. `--test-cmd`.
        flag: &'static str,
    },
    /// The path is not a folder.
    #[error("--path {} is not a folder; give the repository's checkout", .0.display())]
    NotAFolder(PathBuf),
    /// Another repository has the name.
    #[error("a repository named {0:?} exists already; pick another name (`orch repo list`)")]
    NameTaken(String),
    /// A base ref was given for a folder that is not a git repository.
    #[error(
        "--base: {} is not a git repository, so its tasks have no base commit; drop --base",
        .0.display()
    )]
    BaseWithoutGit(PathBuf),
    /// The folder cannot be resolved to its canonical path.
    #[error(
        "--path {}: cannot resolve the folder ({error}); give the repository's checkout",
        path.display()
    )]
    Unresolvable {
        /// The path given.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Another repository is registered at the same folder.
    #[error(
        "--path {}: the folder {} is registered already, as repository {owner:?}; a folder is registered once (use {owner:?}, or `orch repo remove {owner}` first)",
        path.display(),
        canonical.display()
    )]
    Registered {
        /// The path given.
        path: PathBuf,
        /// Its canonical form.
        canonical: PathBuf,
        /// The repository registered there.
        owner: String,
    },
    /// A suite pattern is not one git can read.
    #[error("--suite: {0}")]
    Suite(crate::judge::SuitePatternError),
    /// A cache folder cannot be granted.
    #[error("--cache-dir {}: {why}", dir.display())]
    CacheDir {
        /// The folder given.
        dir: PathBuf,
        /// Why, and what to do.
        why: String,
    },
    /// What git said about the folder or the base ref.
    #[error(transparent)]
    Worktree(#[from] WorktreeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a new repository is to be, as given (`orch repo add`'s flags).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RepoRequest {
    /// Its name.
    pub name: String,
    /// Its checkout, absolute ([`checked_folder`]).
    pub path: PathBuf,
    /// The staging suite's command.
    pub staging_command: String,
    /// The ref its tasks start from (`None`: `HEAD`).
    pub base_ref: Option<String>,
    /// The deploy command.
    pub deploy_command: Option<String>,
    /// The health command.
    pub health_command: Option<String>,
    /// The test command.
    pub test_command: Option<String>,
    /// The setup command.
    pub setup_command: Option<String>,
    /// The suite's patterns, comma-separated, as given.
    pub suite: Option<String>,
    /// Whether the suite may use the network.
    pub suite_network: SuiteNetwork,
    /// Folders outside the worktree its runs may write.
    pub cache_dirs: Vec<PathBuf>,
    /// Environment variables passed to its suites (blank entries dropped).
    pub pass_env: Vec<String>,
}

impl RepoRequest {
    /// A request with the name, folder and staging command, and nothing else.
    #[must_use]
    pub fn new(name: &str, path: &Path, staging_command: &str) -> RepoRequest {
        RepoRequest {
            name: name.to_owned(),
            path: path.to_path_buf(),
            staging_command: staging_command.to_owned(),
            base_ref: None,
            deploy_command: None,
            health_command: None,
            test_command: None,
            setup_command: None,
            suite: None,
            suite_network: SuiteNetwork::default(),
            cache_dirs: Vec::new(),
            pass_env: Vec::new(),
        }
    }
}

/// A request that passed [`validate`]: the row to store and how its tasks
/// will be isolated.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CheckedRepo {
    /// The row, with the canonical path.
    pub repo: NewRepo,
    /// How its tasks will be isolated.
    pub isolation: IsolationView,
}

/// Refuses a blank name.
///
/// # Errors
///
/// [`RepoError::BlankName`].
pub fn check_name(name: &str) -> Result<(), RepoError> {
    if name.trim().is_empty() {
        return Err(RepoError::BlankName);
    }
    Ok(())
}

/// Refuses a blank (empty or all-whitespace) staging command, and an
/// optional command given blank: each would be stored as a command that
/// never runs.
///
/// # Errors
///
/// [`RepoError::BlankStagingCommand`] or [`RepoError::BlankCommand`] naming
/// the flag.
pub fn check_commands(request: &RepoRequest) -> Result<(), RepoError> {
    if request.staging_command.trim().is_empty() {
        return Err(RepoError::BlankStagingCommand);
    }
    let optional = [
        ("--test-cmd", &request.test_command),
        ("--setup-cmd", &request.setup_command),
        ("--deploy-cmd", &request.deploy_command),
        ("--health-cmd", &request.health_command),
    ];
    for (flag, command) in optional {
        if command.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(RepoError::BlankCommand { flag });
        }
    }
    Ok(())
}

/// `path` made absolute, refused when it is not a folder.
///
/// # Errors
///
/// [`RepoError::NotAFolder`].
pub fn checked_folder(path: &Path) -> Result<PathBuf, RepoError> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if !path.is_dir() {
        return Err(RepoError::NotAFolder(path));
    }
    Ok(path)
}

/// Checks a new repository against the store, in the order its problems are
/// reported: the name is free, the folder and base ref can be isolated
/// ([`isolation`]), the folder is not registered ([`registered_once`]), the
/// suite patterns ([`suite_patterns`]) and cache folders ([`cache_dirs`]).
/// `request.path` is expected to have passed [`checked_folder`].
///
/// # Errors
///
/// The first [`RepoError`] found; nothing is stored.
pub fn validate(
    store: &Store,
    git: &Git,
    home: &Path,
    request: &RepoRequest,
) -> Result<CheckedRepo, RepoError> {
    check_commands(request)?;
    if store.repo_by_name(&request.name)?.is_some() {
        return Err(RepoError::NameTaken(request.name.clone()));
    }
    let isolation = isolation(git, &request.path, request.base_ref.as_deref())?;
    // After the checks of what was given, so each says what is wrong with it.
    let path = registered_once(store, &request.path, None)?;
    let mut repo = NewRepo::new(
        &request.name,
        path.to_string_lossy(),
        &request.staging_command,
    );
    repo.base_ref.clone_from(&request.base_ref);
    repo.deploy_command.clone_from(&request.deploy_command);
    repo.health_command.clone_from(&request.health_command);
    repo.test_command.clone_from(&request.test_command);
    repo.setup_command.clone_from(&request.setup_command);
    repo.suite_paths = suite_patterns(request.suite.as_deref())?;
    repo.suite_network = request.suite_network;
    repo.cache_dirs = cache_dirs(&request.cache_dirs, home)?;
    repo.pass_env = request
        .pass_env
        .iter()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    Ok(CheckedRepo { repo, isolation })
}

/// How the repository at `path` will be isolated; refuses what cannot work
/// (a folder inside a repository, a base ref that names nothing, a base ref
/// on a folder that is not a git repository, git that cannot run).
///
/// # Errors
///
/// [`RepoError::BaseWithoutGit`], or git's [`RepoError::Worktree`].
pub fn isolation(git: &Git, path: &Path, base: Option<&str>) -> Result<IsolationView, RepoError> {
    let checkout = git.inspect(path)?;
    Ok(match (&checkout, base) {
        (Checkout::NotGit, Some(_)) => return Err(RepoError::BaseWithoutGit(path.to_path_buf())),
        (Checkout::NotGit, None) => IsolationView {
            base_commit_now: None,
            kind: "checkout",
            note: "not a git repository: its tasks work in the folder itself, one whole task at a time",
        },
        (Checkout::Unborn, _) => IsolationView {
            base_commit_now: None,
            kind: "worktree",
            note: "the repository has no commit yet: commit something before adding a task",
        },
        (Checkout::Git(_), base) => {
            let base = git.resolve_base(path, base)?;
            IsolationView {
                base_commit_now: Some(base.commit),
                kind: "worktree",
                note: "every task works in its own worktree under $ORCH_HOME/worktrees on branch orch/task-ID; the checkout is never written",
            }
        }
    })
}

/// The canonical form of `path` (links and `..` resolved), refused when
/// another repository than `except` is registered at the same folder: a
/// folder is registered once, else two tasks of two names would run in it at
/// once.
///
/// # Errors
///
/// [`RepoError::Registered`] naming the repository that has the folder,
/// [`RepoError::Unresolvable`], or the store's error.
pub fn registered_once(
    store: &Store,
    path: &Path,
    except: Option<&str>,
) -> Result<PathBuf, RepoError> {
    let canonical = path
        .canonicalize()
        .map_err(|error| RepoError::Unresolvable {
            path: path.to_path_buf(),
            error,
        })?;
    let repos = store.repos()?;
    if let Some(owner) = repos.iter().find(|repo| {
        Some(repo.name.as_str()) != except
            && Path::new(&repo.path)
                .canonicalize()
                .unwrap_or_else(|_| PathBuf::from(&repo.path))
                == canonical
    }) {
        return Err(RepoError::Registered {
            path: path.to_path_buf(),
            canonical,
            owner: owner.name.clone(),
        });
    }
    Ok(canonical)
}

/// The suite's patterns, checked (git glob patterns, comma-separated).
///
/// # Errors
///
/// [`RepoError::Suite`] naming the pattern and what is wrong.
pub fn suite_patterns(text: Option<&str>) -> Result<Vec<String>, RepoError> {
    crate::judge::parse_suite(text.unwrap_or_default()).map_err(RepoError::Suite)
}

/// The cache folders, checked: each must be an absolute path of an existing
/// folder (the kernel's rules name folders that exist when a run starts),
/// and none may hold orch's `home` or lie inside it (the home is hidden from
/// every run; a writable folder around it would open it up). Empty entries
/// are skipped.
///
/// # Errors
///
/// [`RepoError::CacheDir`] naming the folder and what to do.
pub fn cache_dirs(dirs: &[PathBuf], home: &Path) -> Result<Vec<String>, RepoError> {
    let canonical = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let home = canonical(home);
    let mut checked = Vec::new();
    for dir in dirs.iter().filter(|d| !d.as_os_str().is_empty()) {
        let bad = |why: String| RepoError::CacheDir {
            dir: dir.clone(),
            why,
        };
        if !dir.is_absolute() {
            return Err(bad(
                "not an absolute path; give it from the root, e.g. /srv/app".to_owned(),
            ));
        }
        if !dir.is_dir() {
            return Err(bad(
                "no such folder; create it first (the sandbox can grant only a folder that exists)"
                    .to_owned(),
            ));
        }
        let real = canonical(dir);
        if home.starts_with(&real) || real.starts_with(&home) {
            return Err(bad(format!(
                "it holds or lies in orch's home {}, which every run is denied; give a folder outside it",
                home.display()
            )));
        }
        let text = dir
            .to_str()
            .ok_or_else(|| bad("the path is not UTF-8; give one that is".to_owned()))?;
        checked.push(text.to_owned());
    }
    Ok(checked)
}
