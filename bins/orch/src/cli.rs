//! The command line: clap definitions, and the mapping of clap's errors into
//! [`CliError::Usage`] (exit code 3, not clap's default 2, which means "tool
//! error" here).

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

use orch_store::SuiteNetwork;

use crate::CliError;

const EXIT_CODES: &str = "\
Exit codes:
  0    success (staging run: the suite PASSED; gate check: the gate passed)
  1    the work ran and failed (staging run: exit code other than 0, a signal,
       or the timeout; gate check: the gate failed; inventory check: drift;
       task cancel: the job did not end within --wait, the request stays, or
       the task ended otherwise before the cancel took effect)
  2    tool error: the work could not be done (the suite did not execute, a bad
       ORCH_* value, a database that cannot be opened, an unknown task, alert
       or repository); nothing false is written (status is null in the JSON)
  3    usage error: bad or missing arguments
  4    refused: the task or repository is in the wrong state for the command
       (retry of a task still running or queued or abandoned, retry into
       deploy or post-deploy without a passing latest staging verdict, cancel
       of one that has ended, abandon of a task that is not blocked, remove
       of a repository with unfinished tasks); nothing was written
  130  interrupted by SIGINT (Ctrl-C): the suite's tree was ended, the log says
       `cancelled` (FAILED), the JSON was printed (staging run); the running
       job's tree was ended and the job given back to the queue (work); serve
       stopped (running jobs had the grace; a second Ctrl-C cuts it short)
  143  terminated by SIGTERM: likewise";

/// orch: a self-hosting orchestrator for LLM coding agents.
///
/// A task moves through analysis, architecture, development, review, testing,
/// deploy-staging, deploy and post-deploy. LLM roles are started through one
/// transport (the ORCH_AGENT preset: claude, codex, gemini or custom; `orch
/// agent check` tries it); roles whose verdict can be computed (the staging
/// suite, the deploy, the health checks) are run by deterministic code.
/// Configuration comes from ORCH_* environment variables (see .env.example);
/// `orch demo` shows a whole run offline.
#[derive(Debug, Parser)]
#[command(name = "orch", version, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Print JSON, as when stdout is not a terminal. On a terminal, `task
    /// list|show`, `repo list`, `alert list` and `queue` print tables and
    /// summaries; piped or redirected they print one line of JSON. The
    /// commands that act (add, retry, cancel, ...) always print JSON;
    /// `roadmap` and `inventory show` print JSON only with --json; `work`,
    /// `serve`, `demo`, `agent check` and `task log` print text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// orch's home (database, tasks, worktrees): overrides ORCH_HOME
    /// (ORCH_DB_PATH, when set, still names the database). For `demo`: the
    /// folder for the demo's home, empty or missing.
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) home: Option<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run workers (--workers, else ORCH_WORKERS) and the HTTP server
    /// (--addr, else ORCH_HTTP_ADDR: the dashboard at /, GET /queue,
    /// /healthz, /metrics) until SIGINT or SIGTERM.
    ///
    /// The first signal stops the claiming of jobs and gives running jobs 10
    /// s to finish; a second one ends their process trees at once. Either
    /// way their jobs go back to the queue, and serve exits 130 (SIGINT) or
    /// 143 (SIGTERM).
    #[command(after_help = EXIT_CODES)]
    Serve(ServeArgs),
    /// Process jobs in the foreground. SIGINT or SIGTERM ends the running
    /// job's process tree at once, gives the job back to the queue (never a
    /// crash rescue: it does not count towards poison) and exits 130 or 143.
    #[command(after_help = EXIT_CODES)]
    Work(WorkArgs),
    /// Repositories orch works on.
    Repo {
        #[command(subcommand)]
        command: RepoCommand,
    },
    /// Tasks: add, show, list, follow their output, retry, cancel, abandon,
    /// approve-suite.
    Task {
        #[command(subcommand)]
        command: TaskCommand,
    },
    /// Alerts: what an operator must see; list them, acknowledge them.
    Alert {
        #[command(subcommand)]
        command: AlertCommand,
    },
    /// The queue: a summary on a terminal; otherwise (or with --json) the
    /// same JSON document as GET /queue.
    Queue,
    /// The staging suite (the deploy-staging stage's deterministic runner).
    Staging {
        #[command(subcommand)]
        command: StagingCommand,
    },
    /// The quality gates.
    Gate {
        #[command(subcommand)]
        command: GateCommand,
    },
    /// The LLM call-site inventory: every place control flow consumes an LLM
    /// judgment, and its drift checks against the sources.
    Inventory {
        #[command(subcommand)]
        command: InventoryCommand,
    },
    /// The determinization roadmap: per role and transport, runs, time, cost
    /// and failures from agent_runs, and the avoidable roles ranked by what
    /// replacing them saves per task.
    Roadmap(RoadmapArgs),
    /// The agent CLI orch runs (ORCH_AGENT): try it before giving it tasks.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// The main job, offline: a fresh home with three git repositories of a
    /// sample project and a scripted stand-in agent; one task through every
    /// stage, one whose staging suite fails first, rolls back to development
    /// and passes after the retry, and one whose staging the (stand-in) LLM
    /// deployer serves, each in its own worktree and branch. Prints each job's
    /// end, each task's branch, then the /queue JSON. The demo's home is
    /// --home DIR (empty or missing), else a new temporary folder, kept.
    #[command(after_help = EXIT_CODES)]
    Demo(DemoArgs),
}

/// Arguments of `orch serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The HTTP server's address and port, e.g. 127.0.0.1:7878 (overrides
    /// ORCH_HTTP_ADDR; port 0 picks a free one, said on stderr).
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) addr: Option<String>,
    /// Worker threads, 1 to 64 (overrides ORCH_WORKERS).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    pub(crate) workers: Option<u64>,
}

/// Arguments of `orch work`.
#[derive(Debug, Args)]
pub(crate) struct WorkArgs {
    /// Exit 0 as soon as no job is runnable (a deferred job due later does not
    /// count). Without it, wait for jobs until SIGINT or SIGTERM.
    #[arg(long)]
    pub(crate) until_idle: bool,
}

/// `orch repo ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum RepoCommand {
    /// Add a repository; prints its JSON.
    Add(RepoAddArgs),
    /// Change a repository's path, commands or sandbox; prints its JSON.
    ///
    /// Only the flags given change; an empty --deploy-cmd or --health-cmd clears it
    /// (the stage is then skipped, said so), an empty --pass-env or
    /// --cache-dir clears the list. --network and --cache-dir apply from the
    /// next run on.
    #[command(after_help = EXIT_CODES)]
    Update(RepoUpdateArgs),
    /// Remove a repository and the history of its finished tasks.
    ///
    /// Its tasks' jobs, runs, transitions, alerts, folders and worktrees go
    /// with it (their branches stay). Refused (exit 4) while any task on it is
    /// unfinished: active, or blocked waiting for `orch task retry` (unless
    /// --blocked-too). Prints {"removed": NAME, "tasks": [ids],
    /// "kept_worktrees": [...]}.
    #[command(after_help = EXIT_CODES)]
    Remove {
        /// The repository's name.
        name: String,
        /// Remove its blocked tasks too (an active task still refuses it).
        #[arg(long)]
        blocked_too: bool,
    },
    /// List the repositories: a table on a terminal, JSON otherwise (or
    /// with --json).
    List,
    /// Try the repository's setup, test and staging commands once, before a
    /// task spends anything on them.
    ///
    /// They run in a throwaway worktree of its base commit (removed after;
    /// the checkout is never written), in orch's sandbox with the runners'
    /// timeouts, as a task's runs would. Prints each with its outcome, exit
    /// code and duration (--json: one JSON document). Exit 1 when any did not
    /// pass.
    #[command(after_help = EXIT_CODES)]
    Check {
        /// The repository's name.
        name: String,
    },
}

/// Arguments of `orch repo update`.
#[derive(Debug, Args)]
pub(crate) struct RepoUpdateArgs {
    /// The repository's name.
    pub(crate) name: String,
    /// Its checkout: where every command and agent runs.
    #[arg(long, value_name = "DIR")]
    pub(crate) path: Option<PathBuf>,
    /// The staging suite, run as `sh -c CMD` in the task's worktree (or the
    /// folder itself, when it is not a git repository).
    #[arg(long, value_name = "CMD")]
    pub(crate) staging_cmd: Option<String>,
    /// The deploy command; "" clears it (nothing to deploy).
    #[arg(long, value_name = "CMD")]
    pub(crate) deploy_cmd: Option<String>,
    /// The health-check command; "" clears it (nothing to probe).
    #[arg(long, value_name = "CMD")]
    pub(crate) health_cmd: Option<String>,
    /// Environment variables the repository's commands need although they
    /// look like secrets (comma-separated; replaces the list; "" clears it).
    #[arg(long, value_name = "VAR")]
    pub(crate) pass_env: Option<String>,
    /// The ref new tasks start from (checked now, resolved when each task is
    /// created); "" goes back to the checkout's HEAD. Tasks already created
    /// keep their base.
    #[arg(long, value_name = "REF")]
    pub(crate) base: Option<String>,
    /// The repository's own test command (the test runner's, at the testing
    /// stage); "" clears it (the LLM tester serves).
    #[arg(long, value_name = "CMD")]
    pub(crate) test_cmd: Option<String>,
    /// The suite's files, as comma-separated git glob patterns (replaces
    /// the list; "" clears it: the suite is unpinned). See `repo add --help`.
    #[arg(long, value_name = "GLOBS")]
    pub(crate) suite: Option<String>,
    /// The command that prepares each new task worktree and judge tree; ""
    /// clears it. See `repo add --help`.
    #[arg(long, value_name = "CMD")]
    pub(crate) setup_cmd: Option<String>,
    /// Whether its staging and test suites may use the network (on or off).
    /// See `repo add --help`.
    #[arg(long, value_name = "on|off", value_parser = parse_network)]
    pub(crate) network: Option<SuiteNetwork>,
    /// The test runner's mode for this repository: on (the runner decides
    /// testing), shadow (the LLM tester decides, the runner measures), off
    /// (the LLM tester alone); it replaces ORCH_TEST_RUNNER_MODE and
    /// ORCH_TEST_RUNNER_REPOS for this repository (ORCH_TEST_RUNNER_ENABLED set
    /// to false still switches it off). "default" goes back to the
    /// configuration.
    /// `orch roadmap` says when the shadow evidence is enough for on.
    #[arg(long, value_name = "on|shadow|off|default", value_parser = parse_test_runner)]
    pub(crate) test_runner: Option<TestRunnerSetting>,
    /// The folders, outside the task's worktree, its runs may write
    /// (comma-separated absolute paths of existing folders; replaces the
    /// list; "" clears it). See `repo add --help`.
    #[arg(long, value_name = "DIR[,DIR...]")]
    pub(crate) cache_dir: Option<String>,
}

/// Arguments of `orch repo add`.
#[derive(Debug, Args)]
pub(crate) struct RepoAddArgs {
    /// Its unique name (what ORCH_STAGING_RUNNER_REPOS lists).
    pub(crate) name: String,
    /// Its checkout. For a git repository (its top folder), every task gets
    /// its own worktree under $ORCH_HOME/worktrees on a branch orch/task-ID,
    /// and the checkout itself is never written; any other folder is worked
    /// in directly, one task at a time.
    #[arg(long, value_name = "DIR")]
    pub(crate) path: PathBuf,
    /// The ref new tasks start from (a branch, tag or commit, resolved when
    /// each task is created); default: the checkout's HEAD at that moment.
    #[arg(long, value_name = "REF")]
    pub(crate) base: Option<String>,
    /// The staging suite, run as `sh -c CMD` in the task's worktree (or the
    /// folder itself, when it is not a git repository): the one source of
    /// truth for the staging runner and the LLM deployer's prompt.
    #[arg(long, value_name = "CMD")]
    pub(crate) staging_cmd: String,
    /// The repository's own tests, run as `sh -c CMD` in the task's worktree
    /// by the test runner (stage testing; ORCH_TEST_RUNNER_MODE says whether
    /// it decides or runs in shadow beside the LLM tester, whose prompt names
    /// it too); none: the LLM tester alone.
    #[arg(long, value_name = "CMD")]
    pub(crate) test_cmd: Option<String>,
    /// The deploy command (stage deploy); none: the stage is skipped, said so.
    #[arg(long, value_name = "CMD")]
    pub(crate) deploy_cmd: Option<String>,
    /// The health-check command (stage post-deploy); none: skipped, said so.
    #[arg(long, value_name = "CMD")]
    pub(crate) health_cmd: Option<String>,
    /// Environment variables the repository's commands need although they
    /// look like secrets (comma-separated or repeated).
    #[arg(long, value_name = "VAR", value_delimiter = ',')]
    pub(crate) pass_env: Vec<String>,
    /// Pin the suite: its files, as comma-separated git glob patterns from
    /// the repository's top folder, e.g. 'tests/**,staging.sh,Makefile'
    /// (`*` stays in one folder, `**` crosses folders, a plain name is that
    /// file or everything under that folder). The staging and test runners
    /// then judge a scratch worktree at the task's commit in which every
    /// suite file the task deleted or modified is restored to its base
    /// version (files it added stay): a task cannot pass by deleting or
    /// weakening a test. `orch task approve-suite ID` accepts a task's own
    /// change to its suite. Without it the suite is unpinned, and the logs
    /// say so.
    #[arg(long, value_name = "GLOBS")]
    pub(crate) suite: Option<String>,
    /// Prepare each new task worktree and each judge tree with this command
    /// (`sh -c CMD`, e.g. "npm ci", or "python -m venv .venv && .venv/bin/pip
    /// install -e ."), before the first role and before the suite; limit:
    /// ORCH_SETUP_TIMEOUT_SECS. Its files must be ignored by the repository
    /// (.gitignore), or the first role's commit takes them. A failing setup
    /// is deferred, then blocks the task with a setup_failed alert.
    #[arg(long, value_name = "CMD")]
    pub(crate) setup_cmd: Option<String>,
    /// Whether its staging and test suites may use the network. Every
    /// program orch starts for a task runs in a kernel sandbox (ORCH_SANDBOX);
    /// with off, the default, a suite gets a network of its own with only a
    /// loopback: it reaches no service, no other machine and no port of this
    /// one, so a test cannot talk to production or leak what it reads. Give
    /// on for suites that need the network (integration tests against a real
    /// service, downloads at test time). Agents, setup, deploy and health
    /// commands always have the network.
    #[arg(long, value_name = "on|off", default_value = "off", value_parser = parse_network)]
    pub(crate) network: SuiteNetwork,
    /// Folders its runs may write besides the task's worktree, their private
    /// TMPDIR and the usual caches (~/.cargo/registry, ~/.npm, ~/.cache/pip,
    /// ...; ORCH_SANDBOX_CACHE_DIRS adds more for every repository): absolute
    /// paths of existing folders, comma-separated or repeated. Everything
    /// else is read-only to the sandboxed runs, so a deploy command that
    /// writes /srv/app needs --cache-dir /srv/app, and a build cache of its
    /// own (say /var/cache/ccache) needs to be named too.
    #[arg(long, value_name = "DIR[,DIR...]", value_delimiter = ',')]
    pub(crate) cache_dir: Vec<PathBuf>,
}

/// `orch task ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum TaskCommand {
    /// Add a task at the first stage; prints {"id": N, "job": M, ...} with the
    /// commit and branch it works on.
    Add(TaskAddArgs),
    /// Show a task: where it is, what ran, its history, cost and branch; for a
    /// blocked task the stage it stopped at, why, and the command that
    /// unblocks it.
    ///
    /// On a terminal, a readable summary; otherwise (or with --json) the
    /// JSON: stage, status, retries, cost, blocked (stage, reason, time,
    /// command; null unless blocked), its worktree (branch, base and head
    /// commits, the merge command), artifacts, its jobs with the commits they
    /// started and ended on and the role that served each (served_by:
    /// staging-runner, test-runner, or the pipeline role), every run (agent or
    /// deterministic) with what the kernel sandbox enforced for it, and every
    /// transition with its gate decisions (each with the sandbox of the run it
    /// read).
    Show {
        /// The task's id.
        id: i64,
    },
    /// List the newest tasks (a table on a terminal, JSON otherwise or with
    /// --json), optionally only those with a status or on a repository.
    #[command(after_help = EXIT_CODES)]
    List(TaskListArgs),
    /// Print the output of the task's running (or latest) role; --follow
    /// follows the task from stage to stage until it is done or blocked.
    ///
    /// The capped NAME.output.log of the latest job's stage, as raw text (not
    /// JSON); a stage whose file was archived is read from the task's
    /// attempts/ folder; a finished stage whose role printed nothing shows its
    /// artifact. With --follow, print each job's output under a header line
    /// as it grows, the shadow runner's beside it, stage after stage, and end
    /// when the task is done or blocked (a job still queued is waited for).
    /// With --follow --stage, follow only that stage's job until it ends.
    #[command(after_help = EXIT_CODES)]
    Log(TaskLogArgs),
    /// Put a blocked (or done) task back to work where it stopped.
    ///
    /// At the stage where it stopped, or at --stage, with a fresh job (its crash-rescue and infra
    /// budgets new), its open alerts acknowledged; recorded in its history as
    /// the operator's transition with --reason. The developer-retry budget
    /// is kept unless --reset-retries. Refused (exit 4) while the task is
    /// running or queued. Prints {"id", "stage", "from", "job",
    /// "developer_retries", "acknowledged_alerts"}.
    #[command(after_help = EXIT_CODES)]
    Retry(TaskRetryArgs),
    /// Stop a task now: end its job's process tree and block it (cancelled).
    ///
    /// A queued job is failed at once; a running job's
    /// worker (in `orch serve` or `orch work`) sees the request within a
    /// fraction of a second, ends the run's whole process tree and archives
    /// what it had half written. The task is blocked with reason
    /// `cancelled`. Waits until the job has ended (at most --wait seconds;
    /// exit 1 if it has not: the request stays recorded). Refused (exit 4)
    /// for a task that has ended. Prints {"id", "job", "was", "status",
    /// "reason"}.
    #[command(after_help = EXIT_CODES)]
    Cancel(TaskCancelArgs),
    /// Close a blocked task for good: it stays in the history, blocked and
    /// abandoned, its open alerts acknowledged, and is never retried.
    ///
    /// Its worktree is removed (one with uncommitted changes is kept and
    /// named); its branch is kept. Refused (exit 4) for a task that is
    /// running or queued (`orch task cancel ID` first), done, or abandoned
    /// already. Prints {"id", "abandoned_at", "transition", "branch",
    /// "worktree", "worktree_note", "acknowledged_alerts"}.
    #[command(after_help = EXIT_CODES)]
    Abandon {
        /// The task's id.
        id: i64,
        /// Why, for the task's history.
        #[arg(long, default_value = "nobody will retry it")]
        reason: String,
    },
    /// Accept a task's own change to its pinned suite (`repo add --suite`).
    ///
    /// The judge tree then restores the suite paths to the task's version
    /// as of its current head commit, instead of its base's; a later change
    /// by an agent is reverted again. Recorded in the task's history as the
    /// operator's transition with the sha256 of the suite's diff from the
    /// base. Refused (exit 4) for a task that is not a git task, whose
    /// repository pins no suite, or that changed nothing under its suite
    /// paths. Look at the change first (`git -C REPO diff BASE HEAD --
    /// 'tests/**'`; `orch task show ID` names both commits). Prints {"id",
    /// "approved_commit", "previous", "diff_sha256", "changes"}.
    #[command(after_help = EXIT_CODES)]
    ApproveSuite {
        /// The task's id.
        id: i64,
        /// Why, for the task's history.
        #[arg(long, default_value = "the operator approved the task's suite change")]
        reason: String,
    },
}

/// Arguments of `orch task list`.
#[derive(Debug, Args)]
pub(crate) struct TaskListArgs {
    /// Only tasks with this status: active, done, blocked (stuck, waiting
    /// for `orch task retry`) or abandoned (closed by `orch task abandon`).
    #[arg(long, value_name = "STATUS")]
    pub(crate) status: Option<String>,
    /// Only tasks on this repository (its name).
    #[arg(long, value_name = "NAME")]
    pub(crate) repo: Option<String>,
    /// How many, newest first.
    #[arg(long, default_value = "50")]
    pub(crate) limit: u32,
}

/// Arguments of `orch task log`.
#[derive(Debug, Args)]
pub(crate) struct TaskLogArgs {
    /// The task's id.
    pub(crate) id: i64,
    /// Keep printing while the job runs; end when it ends.
    #[arg(long, short = 'f')]
    pub(crate) follow: bool,
    /// The stage whose output to print (default: the latest job's stage);
    /// a stage that ran before is read from the task's attempt archive.
    #[arg(long, value_name = "STAGE")]
    pub(crate) stage: Option<String>,
}

/// Arguments of `orch task retry`.
#[derive(Debug, Args)]
pub(crate) struct TaskRetryArgs {
    /// The task's id.
    pub(crate) id: i64,
    /// The working stage to go back to (default: where it stopped).
    #[arg(long, value_name = "STAGE")]
    pub(crate) stage: Option<String>,
    /// Why, for the task's history.
    #[arg(long, default_value = "retried by the operator")]
    pub(crate) reason: String,
    /// Give the task its whole developer-retry budget again
    /// (ORCH_DEVELOPER_RETRIES rollbacks).
    #[arg(long)]
    pub(crate) reset_retries: bool,
}

/// The longest `task cancel --wait`: a day.
pub(crate) const MAX_WAIT_SECS: u64 = 24 * 3600;

/// Arguments of `orch task cancel`.
#[derive(Debug, Args)]
pub(crate) struct TaskCancelArgs {
    /// The task's id.
    pub(crate) id: i64,
    /// Seconds to wait for the worker to end a running job (0 to 86400).
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = clap::value_parser!(u64).range(0..=MAX_WAIT_SECS))]
    pub(crate) wait: u64,
}

/// `orch alert ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum AlertCommand {
    /// List the open alerts, newest first (--all: acknowledged ones too,
    /// with the time they were acknowledged): a table on a terminal, JSON
    /// otherwise (or with --json).
    List {
        /// Acknowledged alerts too.
        #[arg(long)]
        all: bool,
        /// How many.
        #[arg(long, default_value = "50")]
        limit: u32,
    },
    /// Acknowledge an alert, or --all open ones.
    ///
    /// An acknowledged alert no longer shows on GET /queue, in `orch queue` or in `orch alert list`, across restarts.
    /// Prints {"acknowledged": [ids]}.
    #[command(after_help = EXIT_CODES, override_usage = "orch alert ack <ID|--all>")]
    Ack {
        /// The alert's id (or give --all).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Every open alert.
        #[arg(long)]
        all: bool,
    },
}

/// Arguments of `orch task add`.
#[derive(Debug, Args)]
pub(crate) struct TaskAddArgs {
    /// The repository's name.
    #[arg(long)]
    pub(crate) repo: String,
    /// What to do.
    #[arg(long)]
    pub(crate) title: String,
    /// The ref this task starts from, instead of the repository's --base (or
    /// the checkout's HEAD).
    #[arg(long, value_name = "REF")]
    pub(crate) base: Option<String>,
    /// Keep the task's worktree when it is done (it is removed by default;
    /// its branch always stays).
    #[arg(long)]
    pub(crate) keep_worktree: bool,
}

/// `orch gate ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum GateCommand {
    /// Print, as JSON, what the stage's gates read in an artifact (exit 0 when
    /// every gate passes, 1 when one fails).
    #[command(after_help = EXIT_CODES)]
    Check {
        /// The stage whose gates to run, e.g. deploy-staging.
        #[arg(long)]
        stage: String,
        /// The artifact file.
        file: PathBuf,
    },
}

/// `orch inventory ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum InventoryCommand {
    /// Check the inventory against orch's source tree: exit 0 when clean, 1
    /// with one line per drift.
    #[command(after_help = EXIT_CODES)]
    Check {
        /// The root of orch's source tree (the folder with Cargo.toml and docs/).
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
    },
    /// Print every call site with its role, bits and computed classification
    /// (a table; --json for JSON).
    Show,
}

/// `orch agent ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    /// Run the configured agent once on a throwaway task and say what is wrong.
    ///
    /// Makes a temporary orch home with a git repository of one commit, and
    /// runs its analysis job exactly as `orch work` would: the task's own
    /// worktree, the kernel sandbox (ORCH_SANDBOX), the preset's command and
    /// environment (ORCH_AGENT, ORCH_AGENT_CMD, ORCH_AGENT_PASS_ENV) and a
    /// real call to the model API (it costs one small request). Then prints
    /// one line per problem with its fix — the CLI not installed (with the
    /// npm package to install), no key or a refused key, the CLI refusing to
    /// run as root, no artifact written, a timeout — and the agent's last
    /// output. Exit 0 when the agent wrote its artifact, 1 when it did not,
    /// 2 when the check itself could not run. Your orch home and database are
    /// not touched.
    #[command(after_help = EXIT_CODES)]
    Check(AgentCheckArgs),
}

/// Arguments of `orch agent check`.
#[derive(Debug, Args)]
pub(crate) struct AgentCheckArgs {
    /// Seconds the agent may take (a CLI that retries a refused key, as
    /// Claude Code does for minutes, is ended then).
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) timeout: u64,
}

/// Arguments of `orch roadmap`.
#[derive(Debug, Args)]
pub(crate) struct RoadmapArgs {
    /// The database (default: ORCH_DB_PATH, else $ORCH_HOME/orch.db).
    #[arg(long, value_name = "PATH")]
    pub(crate) db: Option<PathBuf>,
}

/// Arguments of `orch demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// The test runner's mode for the demo (off, shadow or on): with `on`,
    /// the first task's testing stage is served by its repository's test
    /// command instead of the stand-in LLM tester.
    #[arg(long, value_name = "MODE", default_value = "on")]
    pub(crate) test_runner: orch_launcher::RunnerMode,
}

/// `orch staging ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum StagingCommand {
    /// Run the staging suite once, write the staging log, print a JSON summary.
    ///
    /// The suite runs as `sh -c CMD` in DIR, in its own process group under a
    /// supervisor, with stdin from /dev/null, stdout and stderr merged, no
    /// inherited file descriptor, and this environment minus secrets (every
    /// ORCH_* key, AWS_* and the LLM vendors' prefixes, and names ending in
    /// _API_KEY, _TOKEN, _PASSWORD, ... or containing _SECRET; see
    /// --pass-env). When it ends, at the timeout, or on Ctrl-C, every process
    /// it started is killed, including those that left its process group. The
    /// log gets the verdict line `staging_status: PASSED|FAILED`; the full raw
    /// output goes, capped at 64 MiB, to a file beside the log (LOG without
    /// `.md`, plus `.output.log`) as it arrives. One JSON object is printed on
    /// stdout: {"outcome", "status", "exit_code", "signal", "timed_out",
    /// "duration_ms", "output_bytes", "reason", "log", "sidecar", "error_kind"}.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
}

/// Arguments of `orch staging run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The repository checkout: the suite's working directory. A missing
    /// folder is a tool error (exit 2), not a failure.
    #[arg(long, value_name = "DIR")]
    pub(crate) repo: PathBuf,

    /// The staging command, run as `sh -c CMD` in DIR. Exit code 0 is PASSED,
    /// anything else FAILED; the shell's 126 and 127 (not executable, not
    /// found) are tool errors.
    #[arg(long, value_name = "CMD")]
    pub(crate) cmd: String,

    /// Seconds the suite may run before it is ended: SIGTERM to its process
    /// tree, the grace period, then SIGKILL. The verdict is then FAILED with
    /// reason `timeout`. Fractions allowed; more than 0, at most 1e9.
    #[arg(
        long,
        value_name = "SECS",
        default_value = "1800",
        value_parser = parse_timeout,
        allow_negative_numbers = true
    )]
    pub(crate) timeout: Duration,

    /// Seconds between SIGTERM and SIGKILL, at the timeout, on Ctrl-C, and
    /// for processes the suite leaves running when its main process ends.
    #[arg(
        long,
        value_name = "SECS",
        default_value = "5",
        value_parser = parse_grace,
        allow_negative_numbers = true
    )]
    pub(crate) grace: Duration,

    /// Where to write the staging log (a file path; its folder must exist).
    /// Default: $ORCH_HOME/staging/<DIR's name>/15-staging-log.md, outside
    /// the checkout, so the run never dirties what the suite is testing
    /// (ORCH_HOME defaults to $XDG_DATA_HOME/orch, else ~/.local/share/orch).
    /// A log already there is removed before the suite starts, so a tool
    /// error never leaves an older verdict behind.
    #[arg(long, value_name = "PATH")]
    pub(crate) log: Option<PathBuf>,

    /// One more environment key to drop from the suite's environment
    /// (repeatable), on top of the built-in secret patterns.
    #[arg(long = "scrub-env", value_name = "KEY")]
    pub(crate) scrub_env: Vec<String>,

    /// An environment key the suite needs although it looks like a secret
    /// (repeatable, or comma-separated): passed through whatever the
    /// patterns say, e.g. --pass-env NPM_TOKEN.
    #[arg(long = "pass-env", value_name = "KEY", value_delimiter = ',')]
    pub(crate) pass_env: Vec<String>,

    /// Do not stream the suite's output to stderr as it runs (it still goes
    /// to the log's output file); only the JSON summary is printed.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}

/// `on` or `off`, for `--network`.
/// `repo update --test-runner`: a mode, or `None` for the configuration's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestRunnerSetting(pub(crate) Option<String>);

fn parse_test_runner(text: &str) -> Result<TestRunnerSetting, String> {
    match text.trim() {
        "default" => Ok(TestRunnerSetting(None)),
        mode @ ("on" | "shadow" | "off") => Ok(TestRunnerSetting(Some(mode.to_owned()))),
        other => Err(format!(
            "{other:?} is not a test-runner mode: give on, shadow, off, or default (the configuration's)"
        )),
    }
}

fn parse_network(text: &str) -> Result<SuiteNetwork, String> {
    SuiteNetwork::parse(text.trim())
        .ok_or_else(|| format!("{text:?} is not a network setting; use on or off"))
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = parse_grace(text)?;
    if duration.is_zero() {
        return Err("the timeout must be more than 0 seconds".to_owned());
    }
    Ok(duration)
}

fn parse_grace(text: &str) -> Result<Duration, String> {
    orch_staging_runner::parse_seconds(text).map_err(|error| error.to_string())
}

/// What the command line asked for.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "made once per process and matched at once; a box buys nothing"
)]
pub(crate) enum Parsed {
    /// Help or version: print this and exit 0.
    Informational(clap::Error),
    /// A command to run, with the global flags.
    Command(Cli),
}

/// Parses the process's arguments.
///
/// # Errors
///
/// [`CliError::Usage`] for every usage error clap finds.
pub(crate) fn parse() -> Result<Parsed, CliError> {
    parse_from(std::env::args_os())
}

fn parse_from<I, T>(args: I) -> Result<Parsed, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => Ok(Parsed::Command(cli)),
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            Ok(Parsed::Informational(error))
        }
        // Every other clap error, including the kinds a later clap adds, is a
        // usage error.
        Err(error) => Err(CliError::Usage(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One table: every code the binary can exit with has its line in
    /// `--help`'s table, in the crate's doc table, and in the README.
    #[test]
    fn every_exit_code_is_in_each_copy_of_the_table() {
        let main_rs = include_str!("main.rs");
        let readme = include_str!("../../../README.md");
        let from = readme
            .find("Exit codes: 0 done")
            .expect("the README's operator section lists the exit codes");
        let readme = readme.get(from..).unwrap_or_default();
        let readme = readme
            .get(..readme.find("\n\n").unwrap_or(readme.len()))
            .unwrap_or_default();
        for code in [0, 1, 2, 3, 4, 130, 143] {
            assert!(
                EXIT_CODES
                    .lines()
                    .any(|line| line.starts_with(&format!("  {code} "))),
                "--help's table lacks {code}"
            );
            assert!(
                main_rs.contains(&format!("//! | {code} |"))
                    || main_rs.contains(&format!(" {code} |"))
                    || main_rs.contains(&format!("| {code}, ")),
                "main.rs's table lacks {code}"
            );
            assert!(
                readme.contains(&format!(" {code} "))
                    || readme.contains(&format!(" {code}/"))
                    || readme.contains(&format!("/{code} ")),
                "the README's exit codes lack {code}"
            );
        }
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn negative_durations_get_our_message_not_clap_s() {
        let Err(CliError::Usage(error)) = parse_from([
            "orch",
            "staging",
            "run",
            "--repo",
            ".",
            "--cmd",
            "true",
            "--timeout",
            "-5",
        ]) else {
            panic!("a negative timeout must be a usage error");
        };
        let text = error.to_string();
        assert!(text.contains("negative"), "{text}");
        assert!(!text.contains("unexpected argument"), "{text}");
    }

    #[test]
    fn usage_errors_and_help_are_told_apart() {
        assert!(matches!(
            parse_from(["orch", "staging", "run", "--help"]),
            Ok(Parsed::Informational(_))
        ));
        for bad in [
            &["orch"][..],
            &["orch", "staging", "run", "--repo", "."],
            &[
                "orch",
                "staging",
                "run",
                "--repo",
                ".",
                "--cmd",
                "true",
                "--timeout",
                "0",
            ],
            &[
                "orch", "staging", "run", "--repo", ".", "--cmd", "true", "--grace", "-1",
            ],
            &[
                "orch",
                "staging",
                "run",
                "--repo",
                ".",
                "--cmd",
                "true",
                "--timeout",
                "1e20",
            ],
            &["orch", "nope"],
        ] {
            assert!(
                matches!(parse_from(bad), Err(CliError::Usage(_))),
                "{bad:?}"
            );
        }
    }
}
