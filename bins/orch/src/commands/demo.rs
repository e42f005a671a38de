//! `orch demo`: the main job, offline, on the embedded default (SQLite).
//!
//! A fresh home (the folder given, or a new one in the temporary folder,
//! kept afterwards for `orch task show`), the sample repository of
//! `examples/sample-repo` checked out three times, and the scripted stand-in
//! agent of `examples/agents` as `ORCH_AGENT_CMD`. Three tasks:
//! 1. `calc`: every stage passes; its repository names a test command
//!    (`sh ./test.sh`), so the test runner serves its testing stage (mode
//!    `on`, the demo's default; `--test-runner shadow` runs it beside the
//!    stand-in tester, `off` leaves the tester alone), and the staging
//!    runner runs the real staging suite;
//! 2. `calc-buggy`: its `calc.sh` subtracts, so the suite fails, the task
//!    rolls back to development, the stand-in developer fixes it, and the
//!    suite passes on the retry;
//! 3. `calc-docs`: outside `ORCH_STAGING_RUNNER_REPOS`, so its staging step is
//!    the LLM path (the stand-in deployer runs the suite itself).
//!
//! Each checkout is made a git repository, so every task works in its own
//! worktree on its own branch (`orch/task-N`), and the checkouts stay as
//! they were; without git on `PATH` the demo runs the tasks in the folders.
//! Every job's end is printed as it happens; the `/queue` JSON ends the run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use orch_launcher::worktree::Git;
use orch_launcher::{Engine, LauncherConfig, RepoScope, RunnerMode, StopSignal};
use orch_process::exec::SupervisorProgram;
use orch_store::{LeaseOwner, NewRepo, TaskStatus};

use crate::commands::{describe, open_store, print_json};
use crate::{CliError, Ending, queue};

const CALC: &str = include_str!("../../../../examples/sample-repo/calc.sh");
const STAGING: &str = include_str!("../../../../examples/sample-repo/staging.sh");
const TESTS: &str = include_str!("../../../../examples/sample-repo/test.sh");
const FIX: &str = include_str!("../../../../examples/sample-repo/fix-bug.sh");
const README: &str = include_str!("../../../../examples/sample-repo/README.md");
const AGENT: &str = include_str!("../../../../examples/agents/scripted-agent.sh");

fn tool(what: &str) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |error| CliError::Tool(format!("{what}: {error}"))
}

/// A fresh home: `given` (empty or missing), else a new temporary folder.
fn fresh_home(given: Option<&Path>) -> Result<PathBuf, CliError> {
    let home = match given {
        Some(path) => {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            if path.exists()
                && std::fs::read_dir(&path)
                    .map_err(tool("cannot read --home"))?
                    .next()
                    .is_some()
            {
                return Err(CliError::BadArgument(format!(
                    "--home {} is not empty; the demo needs a fresh folder (give a new path, or none for a temporary one)",
                    path.display()
                )));
            }
            path
        }
        None => {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            std::env::temp_dir().join(format!("orch-demo-{}-{nanos}", std::process::id()))
        }
    };
    std::fs::create_dir_all(&home).map_err(tool("cannot create the demo's home"))?;
    Ok(home)
}

/// Writes a checkout of the sample repository; `buggy` puts the bug in.
fn checkout(dir: &Path, buggy: bool) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(tool("cannot create a sample checkout"))?;
    let calc = if buggy {
        CALC.replace("$1 + $2", "$1 - $2")
    } else {
        CALC.to_owned()
    };
    for (name, text) in [
        ("calc.sh", calc.as_str()),
        ("staging.sh", STAGING),
        ("test.sh", TESTS),
        ("README.md", README),
        ("fix-bug.sh", FIX),
    ] {
        std::fs::write(dir.join(name), text).map_err(tool("cannot write a sample file"))?;
    }
    Ok(())
}

/// Makes the checkout at `dir` a git repository with one commit of its
/// files, as a user's project would be.
fn commit_checkout(git: &Git, dir: &Path) -> Result<(), orch_launcher::worktree::WorktreeError> {
    git.git(dir, &["init", "--quiet", "--initial-branch=main"])?;
    git.git(dir, &["add", "--all"])?;
    git.git(
        dir,
        &[
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            "the sample project",
        ],
    )?;
    Ok(())
}

/// Prints a line of the demo's report (made safe for a terminal); a closed
/// stdout is the clean error, never a panic.
macro_rules! say {
    ($($arg:tt)*) => {
        crate::commands::print_text(&format!("{}\n", format!($($arg)*)))?
    };
}

/// `orch demo`.
pub(crate) fn run(home: Option<&Path>, test_runner: RunnerMode) -> Result<Ending, CliError> {
    let t0 = Instant::now();
    // The demo takes its settings from its own flags, except the sandbox
    // (ORCH_SANDBOX, ORCH_SANDBOX_*): it shows orch as it runs here, confined
    // as serve and work would be, and refuses a required sandbox the kernel
    // cannot enforce as they do.
    let settings = crate::config::Config::from_env().map_err(CliError::Config)?;
    crate::commands::check_sandbox(settings.sandbox_mode())?;
    let home = fresh_home(home)?;
    let agent = home.join("examples/scripted-agent.sh");
    std::fs::create_dir_all(home.join("examples"))
        .map_err(tool("cannot create the demo's home"))?;
    std::fs::write(&agent, AGENT).map_err(tool("cannot write the stand-in agent"))?;
    let db = home.join("orch.db");
    say!("orch demo: home {}", home.display());
    say!("  database   {}", db.display());
    say!(
        "  agent      {} — a scripted stand-in for an LLM agent CLI (no model, no network)",
        agent.display()
    );
    say!(
        "  sandbox    {} (landlock abi {}; ORCH_SANDBOX=required|best-effort|off)",
        settings.sandbox_mode(),
        orch_process::sandbox::landlock_abi()
    );

    let mut config = LauncherConfig::new(&home);
    config.agent.command = format!("sh '{}'", agent.display());
    config.agent.timeout = Duration::from_secs(60);
    config.staging_runner.repos = RepoScope::from_csv("calc,calc-buggy");
    config.staging_runner.timeout = Duration::from_secs(60);
    config.staging_runner.grace = Duration::from_secs(1);
    config.test_runner.mode = test_runner;
    config.test_runner.timeout = Duration::from_secs(60);
    config.test_runner.grace = Duration::from_secs(1);
    config.post_deploy.probes = 2;
    config.post_deploy.window = Duration::from_millis(200);
    config.supervisor = SupervisorProgram::CurrentExe;
    let user_home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute());
    config.sandbox = settings.sandbox_config(&home, user_home.as_deref());
    // The stand-in agent lives in the demo's home, which every run is denied
    // (orch's home is hidden); declared as an agent folder, the agents may
    // read it again, as a real agent CLI its own state folder.
    config.sandbox.agent_dirs.push(home.join("examples"));
    let git = Git::new(&config);
    let store = open_store(&db)?;
    let engine = Engine::new(store, config, LeaseOwner::new("demo", "worker-0"));
    let mut with_git = true;

    let mut tasks = Vec::new();
    for (name, buggy, title) in [
        ("calc", false, "add a --version flag to calc"),
        ("calc-buggy", true, "make calc add negative numbers"),
        ("calc-docs", false, "document calc's arguments"),
    ] {
        let dir = home.join("checkouts").join(name);
        checkout(&dir, buggy)?;
        if with_git && let Err(error) = commit_checkout(&git, &dir) {
            say!("  (no git: {error}; the tasks run in the checkouts, one at a time)");
            with_git = false;
        }
        let mut repo = NewRepo::new(name, dir.to_string_lossy(), "sh ./staging.sh");
        repo.deploy_command = Some("echo deployed calc".to_owned());
        repo.health_command = Some("sh ./calc.sh 1 1".to_owned());
        if name == "calc" {
            repo.test_command = Some("sh ./test.sh".to_owned());
        }
        let id = engine
            .store()
            .add_repo(&repo)
            .map_err(|error| CliError::Tool(error.to_string()))?;
        let (task, _) = engine
            .create_task(id, title)
            .map_err(|error| CliError::Tool(error.to_string()))?;
        say!(
            "  task {}     {title:?} on {name}{}",
            task.get(),
            if buggy {
                " (its calc.sh has a bug)"
            } else if name == "calc" {
                match test_runner {
                    RunnerMode::On => " (test command: the test runner serves testing)",
                    RunnerMode::Shadow => {
                        " (test command: the test runner runs beside the LLM tester)"
                    }
                    RunnerMode::Off => " (test command, test runner off: the LLM tester)",
                }
            } else if name == "calc-docs" {
                " (outside ORCH_STAGING_RUNNER_REPOS: the LLM deployer serves staging)"
            } else {
                ""
            }
        );
        tasks.push(task);
    }
    say!("");

    let stop = StopSignal::default();
    let mut jobs = 0;
    while jobs < 100 {
        match engine
            .run_next(&stop)
            .map_err(|error| CliError::Tool(error.to_string()))?
        {
            Some(report) => {
                jobs += 1;
                crate::commands::print_line(&describe(&report))?;
            }
            None => break,
        }
    }
    say!("");
    let store = engine.store();
    let mut all_done = true;
    // The commands suggested must work where the demo was started (after
    // `cargo run`, `orch` is not on PATH): this binary's own path.
    let orch_exe =
        std::env::current_exe().map_or_else(|_| "orch".to_owned(), |p| p.display().to_string());
    for task in &tasks {
        let t = store
            .task(*task)
            .map_err(|error| CliError::Tool(error.to_string()))?;
        all_done &= t.status == TaskStatus::Done;
        let repo = store
            .repo(t.repo)
            .map_err(|error| CliError::Tool(error.to_string()))?;
        let unchanged = t.head_commit.is_some() && t.head_commit == t.base_commit;
        let branch = t.branch.as_deref().map_or_else(String::new, |branch| {
            let head = t
                .head_commit
                .as_deref()
                .map_or("?", orch_launcher::worktree::short);
            if unchanged {
                format!("\n        branch {branch} at {head}: no changes (head = base), nothing to merge")
            } else {
                format!(
                    "\n        branch {branch} at {head} (merge: git -C {} merge {branch})",
                    repo.path
                )
            }
        });
        let runs = store
            .agent_runs(*task)
            .map_err(|error| CliError::Tool(error.to_string()))?;
        let llm: Vec<_> = runs
            .iter()
            .filter(|r| r.transport == orch_store::Transport::Llm)
            .collect();
        let cost: f64 = llm.iter().filter_map(|r| r.cost_usd).sum();
        say!(
            "task {}: {} after {} developer retr{} — {} LLM calls, ${cost:.3}, {} deterministic runs — ORCH_HOME={} {} task show {}{branch}",
            task.get(),
            t.status.as_str(),
            t.developer_retries,
            if t.developer_retries == 1 { "y" } else { "ies" },
            llm.len(),
            runs.len() - llm.len(),
            home.display(),
            orch_exe,
            task.get()
        );
    }
    say!("\nGET /queue:");
    let value = queue::queue_json(&store, engine.config())
        .map_err(|error| CliError::Tool(error.to_string()))?;
    print_json(&value)?;
    say!("\n{jobs} jobs in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(if all_done {
        Ending::Done
    } else {
        Ending::Failed
    })
}
