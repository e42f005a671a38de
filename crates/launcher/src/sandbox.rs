//! The sandbox of every program orch starts for a task: which folders each
//! kind of run may write, what it may not even read, and its network.
//!
//! The kernel enforces it (`orch-process`'s Landlock sandbox, entered by the
//! supervisor just before the program starts); this module only decides the
//! policy, from the task and the configuration:
//!
//! | run | writable | network |
//! |---|---|---|
//! | an LLM agent | the task's worktree, its private `TMPDIR`, its output folder (where it writes its artifact), the agent preset's state folders, caches | on (the model API) |
//! | a staging or test suite | the judge tree or worktree it runs in, its `TMPDIR`, caches | the repository's `--network` (off by default) |
//! | a setup command | the tree it prepares, its `TMPDIR`, caches | on (installs download) |
//! | a deploy or health command | the worktree, its `TMPDIR`, caches | on |
//!
//! For every kind, orch's home is hidden (its database, other tasks' folders,
//! worktrees and runs), except the run's own folders and, for an agent, its
//! task's folder (read-only: the earlier artifacts it is told to read).
//! Everything else is read-only: the user's checkout and its `.git` (so no
//! agent writes shared git state: orch commits for it), the rest of `$HOME`,
//! the system.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use orch_process::exec::{Network, SandboxMode, SandboxPolicy};
use orch_store::{Repo, SuiteNetwork};

use crate::config::LauncherConfig;
use crate::preset::AgentKind;

pub use crate::settings::SandboxConfig;

impl SandboxConfig {
    /// `mode`, with no agent state, cache or extra hidden folder (the
    /// launcher reads no environment: the binary adds the user's).
    #[must_use]
    pub fn new(mode: SandboxMode) -> SandboxConfig {
        SandboxConfig {
            mode,
            agent_dirs: Vec::new(),
            cache_dirs: Vec::new(),
            hidden: Vec::new(),
        }
    }

    /// The common caches ([`DEFAULT_CACHE_DIRS`]) of a user whose home
    /// folder is `home_dir`, and the state the agent preset `agent` writes
    /// there ([`crate::preset::Preset::state`]: only that CLI's), added.
    #[must_use]
    pub fn with_user_defaults(mut self, home_dir: &Path, agent: AgentKind) -> SandboxConfig {
        self.agent_dirs.extend(agent.preset().state_paths(home_dir));
        self.cache_dirs
            .extend(DEFAULT_CACHE_DIRS.iter().map(|d| home_dir.join(d)));
        self
    }
}

/// The common build caches, relative to the user's home folder.
pub const DEFAULT_CACHE_DIRS: [&str; 7] = [
    ".cargo/registry",
    ".cargo/git",
    ".cargo/.package-cache",
    ".npm",
    ".cache/pip",
    "go/pkg/mod",
    ".cache/go-build",
];

pub use crate::settings::default_mode;

/// What kind of program a run starts: it decides what the run may write and
/// whether it has the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// An LLM agent CLI.
    Agent,
    /// A staging or test suite (the runners, the shadow).
    Suite,
    /// A repository's setup command.
    Setup,
    /// A deploy or health command.
    Deploy,
}

/// A run's own folders under orch's home, removed when it is dropped: a
/// private temporary folder (its `TMPDIR`) and, for an agent, an output
/// folder its artifact is written to and taken from.
#[derive(Debug)]
pub struct RunRoom {
    root: PathBuf,
    tmp: PathBuf,
    out: PathBuf,
}

impl RunRoom {
    /// Makes `<home>/runs/<name>/{tmp,out}`, emptied first if a crashed run
    /// left it behind.
    ///
    /// # Errors
    ///
    /// The folder could not be made.
    pub fn new(home: &Path, name: &str) -> io::Result<RunRoom> {
        let root = home.join("runs").join(name);
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        let tmp = root.join("tmp");
        let out = root.join("out");
        fs::create_dir_all(&tmp)?;
        fs::create_dir_all(&out)?;
        Ok(RunRoom { root, tmp, out })
    }

    /// A room named after `kind`, this process and a counter, so that no
    /// two live runs share one.
    ///
    /// # Errors
    ///
    /// The folder could not be made.
    pub fn fresh(home: &Path, kind: &str) -> io::Result<RunRoom> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        RunRoom::new(home, &format!("{kind}-{}-{n}", std::process::id()))
    }

    /// The run's private temporary folder.
    #[must_use]
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// The folder the run writes its output file to.
    #[must_use]
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// `TMPDIR`, `TMP` and `TEMP` set to the private folder.
    #[must_use]
    pub fn env(&self) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
        ["TMPDIR", "TMP", "TEMP"]
            .into_iter()
            .map(|key| (key.into(), self.tmp.clone().into_os_string()))
            .collect()
    }
}

impl Drop for RunRoom {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Removes what crashed runs left under `<home>/runs`: an agent's room
/// (`job-<id>`) unless `job_running(id)` says its job still runs (in another
/// orch process on this home), and any other room (`<kind>-<pid>-<n>`)
/// unless its process is alive. Returns the folders removed.
pub fn sweep_rooms(home: &Path, job_running: impl Fn(i64) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(home.join("runs")) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let live = if let Some(job) = name.strip_prefix("job-") {
            job.parse().is_ok_and(&job_running)
        } else {
            name.split('-')
                .nth(1)
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
        };
        if !live && fs::remove_dir_all(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed
}

/// The policy for a run of `kind` for a task of `repo` working in `dir`,
/// with the run's own folders in `room` (none: it writes no private
/// folder). `task_dir` is readable for agents (their earlier artifacts).
#[must_use]
pub fn policy(
    config: &LauncherConfig,
    kind: RunKind,
    repo: &Repo,
    dir: &Path,
    task_dir: Option<&Path>,
    room: Option<&RunRoom>,
) -> SandboxPolicy {
    let settings = &config.sandbox;
    if settings.mode == SandboxMode::Off {
        return SandboxPolicy::off();
    }
    let network = match kind {
        RunKind::Agent | RunKind::Setup | RunKind::Deploy => Network::On,
        RunKind::Suite => match repo.suite_network {
            SuiteNetwork::Off => Network::Off,
            SuiteNetwork::On => Network::On,
        },
    };
    let mut policy = SandboxPolicy::new(settings.mode)
        .network(network)
        .writable(dir)
        .hidden(&config.home);
    if let Some(room) = room {
        policy = policy.writable(room.tmp());
    }
    for hidden in &settings.hidden {
        policy = policy.hidden(hidden);
    }
    for cache in settings.cache_dirs.iter().chain(
        repo.cache_dirs
            .iter()
            .map(PathBuf::from)
            .collect::<Vec<_>>()
            .iter(),
    ) {
        policy = policy.writable(cache);
    }
    if kind == RunKind::Agent {
        if let Some(room) = room {
            policy = policy.writable(room.out());
        }
        for state in &settings.agent_dirs {
            policy = policy.writable(state);
        }
        if let Some(task_dir) = task_dir {
            policy = policy.readable(task_dir);
        }
    }
    policy
}

/// Takes the file an agent wrote into its output folder and puts it at
/// `artifact`, atomically. Only a regular file counts: a link an agent
/// planted there (to another task's artifact, say) is refused, never
/// followed. No file there leaves `artifact` absent, and the gate fails
/// closed on it as for any missing artifact.
///
/// # Errors
///
/// What was wrong with the file, or why it could not be moved.
pub fn take_artifact(written: &Path, artifact: &Path) -> Result<bool, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(written)
    {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(error) => {
            return Err(format!(
                "the artifact {} is not a regular file the agent wrote ({error}); a link is never followed",
                written.display()
            ));
        }
    };
    let metadata = file
        .metadata()
        .map_err(|error| format!("cannot read {}: {error}", written.display()))?;
    if !metadata.is_file() {
        return Err(format!(
            "the artifact {} is not a regular file",
            written.display()
        ));
    }
    let mut bytes = Vec::new();
    file.by_ref()
        .take(crate::settings::MAX_ARTIFACT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read {}: {error}", written.display()))?;
    if bytes.len() as u64 > crate::settings::MAX_ARTIFACT_BYTES {
        return Err(format!(
            "the artifact {} is over {} bytes",
            written.display(),
            crate::settings::MAX_ARTIFACT_BYTES
        ));
    }
    orch_staging_runner::write_atomically(artifact, &bytes)
        .map_err(|error| format!("cannot put the artifact in place: {error}"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(network: SuiteNetwork, cache: &[&str]) -> Repo {
        // A stored row: `Repo` is `#[non_exhaustive]`.
        let store = orch_store::Store::open_in_memory(orch_store::StoreOptions::default()).unwrap();
        let id = store
            .add_repo(
                &orch_store::NewRepo::new("api", "/srv/api", "make staging")
                    .with_suite_network(network)
                    .with_cache_dirs(cache.iter().map(|c| (*c).to_owned()).collect()),
            )
            .unwrap();
        store.repo(id).unwrap()
    }

    #[test]
    fn each_kind_of_run_gets_its_own_writes_and_network() {
        let home = tempfile::tempdir().unwrap();
        let mut config = LauncherConfig::new(home.path());
        config.sandbox = SandboxConfig::new(SandboxMode::Required)
            .with_user_defaults(Path::new("/home/me"), AgentKind::Claude);
        config
            .sandbox
            .hidden
            .push(PathBuf::from("/var/lib/orch.db"));
        let room = RunRoom::fresh(home.path(), "test").unwrap();
        let repo = repo(SuiteNetwork::Off, &["/srv/deploy-target"]);
        let dir = Path::new("/work/tree");
        let task = home.path().join("tasks/1");

        let agent = policy(
            &config,
            RunKind::Agent,
            &repo,
            dir,
            Some(&task),
            Some(&room),
        );
        assert_eq!(agent.network, Network::On);
        for path in [
            dir,
            room.tmp(),
            room.out(),
            Path::new("/home/me/.claude"),
            Path::new("/srv/deploy-target"),
            Path::new("/home/me/.npm"),
        ] {
            assert!(
                agent.writable.iter().any(|w| w == path),
                "{}",
                path.display()
            );
        }
        assert_eq!(agent.readable, vec![task.clone()]);
        assert!(agent.hidden.contains(&home.path().to_path_buf()));
        assert!(agent.hidden.contains(&PathBuf::from("/var/lib/orch.db")));

        let suite = policy(&config, RunKind::Suite, &repo, dir, None, Some(&room));
        assert_eq!(
            suite.network,
            Network::Off,
            "a suite's network is the repository's"
        );
        assert!(
            !suite.writable.iter().any(|w| w.ends_with(".claude")),
            "agent state is the agent's"
        );
        assert!(
            !agent.writable.iter().any(|w| w.ends_with(".codex")),
            "only the configured preset's state"
        );
        assert!(!suite.writable.iter().any(|w| w == room.out()));
        assert!(suite.readable.is_empty());
        let open = policy(&config, RunKind::Suite, &repo_on(), dir, None, None);
        assert_eq!(open.network, Network::On);
        for kind in [RunKind::Setup, RunKind::Deploy] {
            assert_eq!(
                policy(&config, kind, &repo, dir, None, None).network,
                Network::On
            );
        }

        config.sandbox.mode = SandboxMode::Off;
        assert_eq!(
            policy(
                &config,
                RunKind::Agent,
                &repo,
                dir,
                Some(&task),
                Some(&room)
            ),
            SandboxPolicy::off()
        );
    }

    fn repo_on() -> Repo {
        repo(SuiteNetwork::On, &[])
    }

    #[test]
    fn the_sweep_keeps_the_rooms_of_live_runs_only() {
        let home = tempfile::tempdir().unwrap();
        let runs = home.path().join("runs");
        let me = std::process::id();
        for name in [
            "job-5",
            "job-6",
            "suite-999999999-0",
            &format!("suite-{me}-1"),
        ] {
            fs::create_dir_all(runs.join(name).join("tmp")).unwrap();
        }
        let mut removed = sweep_rooms(home.path(), |job| job == 5);
        removed.sort();
        assert_eq!(
            removed,
            vec![runs.join("job-6"), runs.join("suite-999999999-0")]
        );
        assert!(runs.join("job-5").is_dir() && runs.join(format!("suite-{me}-1")).is_dir());
    }

    #[test]
    fn a_room_is_removed_when_its_run_ends() {
        let home = tempfile::tempdir().unwrap();
        let room = RunRoom::fresh(home.path(), "agent").unwrap();
        let tmp = room.tmp().to_path_buf();
        fs::write(tmp.join("scratch"), "x").unwrap();
        assert!(
            room.env()
                .iter()
                .any(|(k, v)| k == "TMPDIR" && Path::new(v) == tmp)
        );
        drop(room);
        assert!(!tmp.exists());
    }

    #[test]
    fn an_artifact_is_taken_only_as_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let written = dir.path().join("out.md");
        let artifact = dir.path().join("task/01-analysis.md");
        fs::create_dir_all(artifact.parent().unwrap()).unwrap();
        assert_eq!(
            take_artifact(&written, &artifact),
            Ok(false),
            "nothing written"
        );
        let elsewhere = dir.path().join("other-task-verdict.md");
        fs::write(&elsewhere, "analysis_status: PASSED\n").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &written).unwrap();
        let refused = take_artifact(&written, &artifact).unwrap_err();
        assert!(refused.contains("link"), "{refused}");
        assert!(!artifact.exists(), "a link is never followed");
        fs::remove_file(&written).unwrap();
        fs::write(&written, "analysis_status: PASSED\n").unwrap();
        assert_eq!(take_artifact(&written, &artifact), Ok(true));
        assert_eq!(
            fs::read_to_string(&artifact).unwrap(),
            "analysis_status: PASSED\n"
        );
    }
}
