//! The binary's commands, one file each, and what they share: the setup
//! (configuration, home, database), the store opened with its advice, one
//! line of JSON on stdout, the job-end line. [`dispatch`] routes a parsed
//! command to its file. They parse, wire and print; the logic is the
//! crates'.
//!
//! | command | file |
//! |---------|------|
//! | `staging run` | [`staging`] |
//! | `gate check` | [`gate`] |
//! | `demo` | [`demo`] |
//! | `inventory`, `roadmap` | [`inventory`] |
//! | `agent check` | [`agent`] |
//! | `serve` | [`serve`] |
//! | `work` | [`work`] |
//! | `queue` | [`queue`] |
//! | `repo add\|update\|remove\|list` | [`repo`] |
//! | `task add\|show\|list\|log\|retry\|cancel\|approve-suite` | [`task`] |
//! | `alert list\|ack` | [`alert`] |

pub(crate) mod agent;
pub(crate) mod alert;
pub(crate) mod demo;
pub(crate) mod gate;
pub(crate) mod inventory;
pub(crate) mod queue;
pub(crate) mod repo;
pub(crate) mod serve;
pub(crate) mod staging;
pub(crate) mod task;
pub(crate) mod work;

use std::io::Write;
use std::path::{Path, PathBuf};

pub(crate) use orch_launcher::views::rfc3339;
use orch_launcher::{Engine, JobEndKind, JobReport, LauncherConfig};
use orch_store::{LeaseOwner, Store};
use serde::Serialize;

use crate::cli::{self, Command};
use crate::config::Config;
use crate::{CliError, Ending};

/// The configuration, orch's home and the database path.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub(crate) config: Config,
    pub(crate) home: PathBuf,
    pub(crate) db: PathBuf,
}

impl Setup {
    /// Reads the configuration (a bad value stops every command, exit 2).
    ///
    /// # Errors
    ///
    /// [`CliError::Config`] naming the key; [`CliError::Tool`] when no home
    /// can be found.
    pub(crate) fn load(globals: &Globals) -> Result<Setup, CliError> {
        let config = globals.config()?;
        for key in Config::unknown_keys() {
            eprintln!("warning: {key} is not an orch setting (see .env.example); ignored");
        }
        let home = config.home().ok_or_else(|| {
            CliError::Tool(
                "cannot tell where orch keeps its files: neither ORCH_HOME nor HOME is set; set ORCH_HOME".to_owned(),
            )
        })?;
        let db = config.db_path().unwrap_or_else(|| home.join("orch.db"));
        Ok(Setup { config, home, db })
    }

    /// The launcher's configuration.
    pub(crate) fn launcher(&self) -> LauncherConfig {
        self.config.launcher(self.home.clone())
    }

    /// Opens the database, creating it and its folder; refuses one that
    /// cannot be written at once, not at the first claim.
    ///
    /// # Errors
    ///
    /// [`CliError::Tool`] with the store's advice, or the permission problem.
    pub(crate) fn open_store(&self) -> Result<Store, CliError> {
        open_store_with(&self.db, self.config.poison_rescues)
    }

    /// An engine on a fresh connection, claiming as `worker` of `boot`.
    ///
    /// # Errors
    ///
    /// As [`Setup::open_store`].
    pub(crate) fn engine(&self, boot: &str, worker: &str) -> Result<Engine, CliError> {
        Ok(Engine::new(
            self.open_store()?,
            self.launcher(),
            LeaseOwner::new(boot, worker),
        ))
    }
}

/// The global flags: `--json` and `--home`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Globals {
    /// `--json`: JSON even on a terminal.
    pub(crate) json: bool,
    /// `--home DIR`: orch's home, over ORCH_HOME.
    pub(crate) home: Option<PathBuf>,
}

impl Globals {
    /// The configuration from the environment, with `--home` over
    /// `ORCH_HOME`.
    ///
    /// # Errors
    ///
    /// [`CliError::Config`] naming the key.
    pub(crate) fn config(&self) -> Result<Config, CliError> {
        let mut config = Config::from_env().map_err(CliError::Config)?;
        if let Some(home) = &self.home {
            config.home = Some(home.clone());
        }
        Ok(config)
    }

    /// Whether to print for people: stdout is a terminal and `--json` was
    /// not given.
    pub(crate) fn human(&self) -> bool {
        use std::io::IsTerminal;
        !self.json && std::io::stdout().is_terminal()
    }
}

/// Reads `.env` in the current folder, as `.env.example` says: each
/// `KEY=value` line sets a variable the environment does not already have
/// (the real environment wins). No file: nothing to do.
///
/// # Errors
///
/// [`CliError::Tool`] (exit 2) when the file is there but cannot be read
/// or parsed, naming the file and the line.
pub(crate) fn read_dot_env() -> Result<(), CliError> {
    match dotenvy::from_path(".env") {
        Ok(()) => Ok(()),
        Err(dotenvy::Error::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(CliError::Tool(format!(
            "cannot read .env in the current folder: {error}; fix the file (KEY=value lines, see .env.example) or remove it"
        ))),
    }
}

/// Prints `human` when stdout is a terminal (and `--json` was not given),
/// else `value` as one line of JSON.
///
/// # Errors
///
/// As [`print_json`].
pub(crate) fn print_view(
    globals: &Globals,
    value: &impl Serialize,
    human: impl FnOnce() -> String,
) -> Result<(), CliError> {
    if !globals.human() {
        return print_json(value);
    }
    print_text(&human())
}

/// Prints `text` for people on stdout, its control characters made visible
/// ([`orch_launcher::views::render::clean_block`]: no escape sequence from a
/// suite's output, a title or a reason reaches the terminal). Every human
/// text orch prints goes through here: a closed pipe is the clean
/// [`CliError::Output`] (exit 2), never a panic.
///
/// # Errors
///
/// [`CliError::Output`] when stdout cannot be written (a closed pipe).
pub(crate) fn print_text(text: &str) -> Result<(), CliError> {
    write_stdout(&orch_launcher::views::render::clean_block(text))
}

/// Writes `text` as it is on stdout (JSON, whose own escapes make it safe);
/// a closed pipe is [`CliError::Output`].
///
/// # Errors
///
/// [`CliError::Output`] when stdout cannot be written.
pub(crate) fn write_stdout(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(CliError::Output)
}

/// Set when a worker's progress line could not be printed (a closed
/// stdout); `work` then stops with [`CliError::Output`].
static STDOUT_CLOSED: std::sync::Mutex<Option<std::io::Error>> = std::sync::Mutex::new(None);

/// Notes that stdout could not be written ([`STDOUT_CLOSED`]).
pub(crate) fn stdout_closed(error: std::io::Error) {
    if let Ok(mut slot) = STDOUT_CLOSED.lock() {
        slot.get_or_insert(error);
    }
}

/// The error a progress line met on stdout, if any (taken once).
pub(crate) fn take_stdout_error() -> Option<std::io::Error> {
    STDOUT_CLOSED.lock().ok().and_then(|mut slot| slot.take())
}

/// Whether a progress line met a closed stdout.
pub(crate) fn stdout_is_closed() -> bool {
    STDOUT_CLOSED.lock().is_ok_and(|slot| slot.is_some())
}

/// [`print_text`] of one line (its own line breaks shown as `\n`) and a
/// line break.
///
/// # Errors
///
/// As [`print_text`].
pub(crate) fn print_line(line: &str) -> Result<(), CliError> {
    let mut line = orch_launcher::views::render::clean_line(line);
    line.push('\n');
    print_text(&line)
}

/// Milliseconds since the epoch now, for the relative times of the human
/// views.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Checks, before `serve`, `work` or `demo` starts any run, that the sandbox
/// `mode` can be had on this kernel (see [`crate::config::sandbox_start`]);
/// prints the best-effort warning, if any, on stderr.
///
/// # Errors
///
/// [`CliError::Tool`] (exit 2) when a required sandbox cannot be enforced.
pub(crate) fn check_sandbox(mode: orch_process::exec::SandboxMode) -> Result<(), CliError> {
    match crate::config::sandbox_start(mode, orch_process::sandbox::check_required()) {
        Ok(Some(warning)) => {
            eprintln!("{warning}");
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(refusal) => Err(CliError::Tool(refusal)),
    }
}

/// Opens (creating) the database at `db` and checks it can be written.
///
/// # Errors
///
/// [`CliError::Tool`] saying what is wrong and what to do.
pub(crate) fn open_store(db: &Path) -> Result<Store, CliError> {
    open_store_with(db, orch_store::DEFAULT_POISON_RESCUES)
}

/// As [`open_store`], with the poison threshold for the rescues this
/// connection runs (`ORCH_POISON_RESCUES`).
///
/// # Errors
///
/// [`CliError::Tool`] saying what is wrong and what to do.
pub(crate) fn open_store_with(db: &Path, poison_rescues: u32) -> Result<Store, CliError> {
    let folder = match db.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&folder).map_err(|error| {
        CliError::Tool(format!(
            "cannot create the database folder {}: {error}; set ORCH_DB_PATH or ORCH_HOME to a writable place",
            folder.display()
        ))
    })?;
    // SQLite opens a write-protected file read-only without a word and fails
    // at the first write; and WAL needs to create files beside the database.
    // Both are refused here, with the advice.
    let probe = folder.join(format!(".orch-write-probe.{}", std::process::id()));
    let folder_ok = std::fs::File::create(&probe).is_ok();
    let _ = std::fs::remove_file(&probe);
    if !folder_ok {
        return Err(CliError::Tool(format!(
            "the database folder {} is not writable by this user; SQLite needs to create its journal files there: fix its permissions or set ORCH_DB_PATH to a writable place",
            folder.display()
        )));
    }
    if db.exists() && std::fs::OpenOptions::new().write(true).open(db).is_err() {
        return Err(CliError::Tool(format!(
            "the database {} is read-only for this user; fix its permissions or set ORCH_DB_PATH to a writable copy",
            db.display()
        )));
    }
    let options = orch_store::StoreOptions {
        poison_rescues,
        ..orch_store::StoreOptions::default()
    };
    Store::open_with(db, options).map_err(|error| CliError::Tool(error.to_string()))
}

/// Prints `value` as one line of JSON on stdout.
///
/// # Errors
///
/// [`CliError::Output`] when it cannot be serialized or stdout cannot be
/// written.
pub(crate) fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let mut line = serde_json::to_string(value)
        .map_err(|error| CliError::Output(std::io::Error::other(error)))?;
    line.push('\n');
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(CliError::Output)
}

/// Runs one command; the configuration is read first by every command that
/// uses it, so a bad `ORCH_*` value stops it before anything happens.
pub(crate) fn dispatch(cli: cli::Cli) -> Result<Ending, CliError> {
    use cli::{AgentCommand, GateCommand, InventoryCommand, StagingCommand};
    let globals = Globals {
        json: cli.json,
        home: cli.home,
    };
    let g = &globals;
    match cli.command {
        Command::Staging {
            command: StagingCommand::Run(args),
        } => {
            // `staging run` takes its settings from flags; a bad ORCH_* value
            // still stops it, as it stops every command. It needs a home only
            // for its default log.
            let config = g.config()?;
            staging::run(&args, config.home().as_deref())
        }
        Command::Gate {
            command: GateCommand::Check { stage, file },
        } => {
            Setup::load(g)?;
            gate::check(&stage, &file)
        }
        Command::Demo(args) => demo::run(g.home.as_deref(), args.test_runner),
        Command::Inventory { command } => match command {
            InventoryCommand::Check { root } => inventory::check(&root),
            InventoryCommand::Show => inventory::show(g.json),
        },
        Command::Roadmap(args) => inventory::roadmap(&Setup::load(g)?, args.db.as_deref(), g.json),
        Command::Agent {
            command: AgentCommand::Check(args),
        } => agent::check(&Setup::load(g)?, &args),
        Command::Serve(args) => serve::serve(&Setup::load(g)?, &args),
        Command::Work(args) => work::work(&Setup::load(g)?, args.until_idle),
        Command::Queue => queue::show(&Setup::load(g)?, g),
        Command::Repo { command } => repo::run(&Setup::load(g)?, g, command),
        Command::Task { command } => task::run(&Setup::load(g)?, g, command),
        Command::Alert { command } => alert::run(&Setup::load(g)?, g, command),
    }
}

/// One readable line for a job's end: task, stage → next, role, verdict,
/// time.
/// A wait for people: `0 s`, `1.5 s`, `90 s` (never `0.0ns`).
fn seconds(span: std::time::Duration) -> String {
    let secs = span.as_secs_f64();
    if span.subsec_millis() == 0 {
        format!("{} s", span.as_secs())
    } else {
        format!("{secs:.1} s")
    }
}

pub(crate) fn describe(report: &JobReport) -> String {
    // One name per role: the reserved agent that served the job with the
    // pipeline role beside it; when the LLM ran (a reserved agent that fell
    // back included), the pipeline role alone.
    let role = report.role.as_str();
    let served = if report.spawned() {
        role
    } else {
        report.intercepted_by().unwrap_or(role)
    };
    let who = orch_launcher::views::render::role_label(Some(served), role);
    let what = match &report.end {
        JobEndKind::Transition {
            from, to, gates, ..
        } => {
            let verdicts: Vec<String> = gates
                .iter()
                .map(|g| {
                    g.verdict
                        .clone()
                        .unwrap_or_else(|| format!("fail-closed: {}", g.reason))
                })
                .collect();
            // A run that did not pass says how it ended (a timeout, an exit
            // code), beside what the gates read.
            let run = match (report.outcome, &report.detail) {
                (Some(outcome), Some(detail))
                    if outcome != orch_launcher::RunOutcome::Passed && !detail.is_empty() =>
                {
                    format!(" · the run: {detail}")
                }
                _ => String::new(),
            };
            format!("{from} → {to} · {who} · {}{run}", verdicts.join(", "))
        }
        JobEndKind::Deferred { retry_in } => {
            format!(
                "{} deferred {} · {who} · the work could not start: {}",
                report.stage,
                seconds(*retry_in),
                report.detail.as_deref().unwrap_or("see `orch queue`")
            )
        }
        JobEndKind::Released => format!("{} released · {who} · stopped", report.stage),
        JobEndKind::Blocked { alert } => {
            format!("{} → blocked · {who} · alert {alert}", report.stage)
        }
        JobEndKind::LeaseLost => format!("{} · {who} · lease lost, result dropped", report.stage),
        JobEndKind::Superseded => format!("{} · {who} · superseded", report.stage),
    };
    format!(
        "task {} · {what} · {:.2} s",
        report.task.get(),
        report.took.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn a_wait_reads_in_seconds_never_nanoseconds() {
        assert_eq!(super::seconds(Duration::ZERO), "0 s");
        assert_eq!(super::seconds(Duration::from_secs(90)), "90 s");
        assert_eq!(super::seconds(Duration::from_millis(1_500)), "1.5 s");
    }
}
