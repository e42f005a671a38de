//! What the engine's test binaries share: driving an engine until the queue
//! is idle, reading a task's stage history, a check that reports, and a
//! task's history rendered as text and compared with a golden file.

#![allow(dead_code, reason = "each test binary uses a different part")]
#![expect(
    clippy::unwrap_used,
    reason = "test support: a panic is the failure report"
)]

use std::time::{Duration, Instant};

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use libtest_mimic::Failed;
use orch_launcher::{Engine, JobEndKind, JobReport, LauncherConfig, StopSignal};
use orch_store::{JobState, TaskId};

/// A test's folders, in one temporary folder removed with it: orch's home,
/// the stand-in agent's state (as a real CLI keeps `~/.claude`) and the
/// repository's checkout.
pub(crate) struct Folders {
    /// The temporary folder; dropped last.
    pub(crate) dir: tempfile::TempDir,
    /// orch's home.
    pub(crate) home: PathBuf,
    /// The stand-in agent's state.
    pub(crate) state: PathBuf,
    /// The repository's checkout (empty).
    pub(crate) checkout: PathBuf,
}

impl Folders {
    /// Makes the three folders.
    pub(crate) fn new() -> Folders {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let state = dir.path().join("agent-state");
        let checkout = dir.path().join("checkout");
        for folder in [&home, &state, &checkout] {
            fs::create_dir_all(folder).unwrap();
        }
        Folders {
            dir,
            home,
            state,
            checkout,
        }
    }
}

/// The configuration every engine test starts from: the stand-in agent
/// `agent` (a shell script) with its state folder declared writable in the
/// sandbox, and short timeouts, graces and backoffs so that a test's task
/// moves in well under a second per stage.
pub(crate) fn quick_config(folders: &Folders, agent: &str) -> LauncherConfig {
    let mut config = LauncherConfig::new(&folders.home);
    config.agent.command = format!("sh {agent} {}", folders.state.display());
    // The stand-in agent keeps its state there, as a real CLI keeps
    // ~/.claude: declared writable for agents in the sandbox.
    config.sandbox.agent_dirs.push(folders.state.clone());
    config.agent.timeout = Duration::from_secs(30);
    config.agent.grace = Duration::from_millis(200);
    config.agent.retry.base = Duration::from_millis(1);
    config.staging_runner.timeout = Duration::from_secs(20);
    config.staging_runner.grace = Duration::from_millis(200);
    config.staging_runner.retry.base = Duration::from_millis(1);
    config.post_deploy.probes = 2;
    config.post_deploy.window = Duration::from_millis(20);
    config
}

/// Runs jobs until none is due, waiting briefly for deferred ones; at most
/// `limit` jobs, so that a loop in the pipeline fails the test.
pub(crate) fn drive(engine: &Engine, limit: usize) -> Vec<JobReport> {
    drive_for(engine, limit, Duration::from_secs(120))
}

/// As [`drive`], giving up after `bound` (many real agent runs in a row take
/// longer than [`drive`]'s two minutes on a loaded machine).
pub(crate) fn drive_for(engine: &Engine, limit: usize, bound: Duration) -> Vec<JobReport> {
    let stop = StopSignal::default();
    let mut reports = Vec::new();
    let deadline = Instant::now() + bound;
    while reports.len() < limit && Instant::now() < deadline {
        match engine.run_next(&stop).unwrap() {
            Some(report) => reports.push(report),
            None => {
                let queued = engine.store().jobs_in_state(JobState::Queued, 1).unwrap();
                if queued.is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    reports
}

/// The task's transitions as (from, to) stage names, oldest first.
pub(crate) fn stages(engine: &Engine, task: TaskId) -> Vec<(String, String)> {
    engine
        .store()
        .transitions(task)
        .unwrap()
        .into_iter()
        .map(|t| (t.from_stage.to_string(), t.to_stage.to_string()))
        .collect()
}

/// `Ok` when `condition` holds, else the failure `what` says.
pub(crate) fn check(condition: bool, what: impl Into<String>) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

/// What the engine reported of a run of jobs, one job per line: its stage
/// and role, who served it (a reserved agent, the role's CLI, or a reserved
/// agent that fell back to the CLI), how its run ended, and how the job
/// ended (the transition with each gate's verdict, a deferral with its
/// backoff, a block with its alert). No id, time or path: the same history
/// renders the same text.
pub(crate) fn render_history(reports: &[JobReport]) -> String {
    let mut out = String::new();
    for report in reports {
        let served = match (report.intercepted_by(), report.spawned()) {
            (Some(by), false) => by.to_owned(),
            (Some(by), true) => format!("{by}, then the {} CLI", report.role),
            (None, true) => format!("the {} CLI", report.role),
            (None, false) => "no run".to_owned(),
        };
        let outcome = report.outcome.map_or("-", |o| o.as_str());
        let end = match &report.end {
            JobEndKind::Transition {
                from,
                to,
                kind,
                gates,
            } => {
                let verdicts: Vec<String> = gates
                    .iter()
                    .map(|g| {
                        format!(
                            "{} {}",
                            g.gate.name(),
                            g.verdict.as_deref().unwrap_or("(no verdict)")
                        )
                    })
                    .collect();
                format!("{from} -> {to}, {kind:?} [{}]", verdicts.join(", "))
            }
            JobEndKind::Deferred { retry_in } => format!("deferred {}s", retry_in.as_secs()),
            JobEndKind::Released => "released".to_owned(),
            JobEndKind::Blocked { alert } => format!("blocked: {alert}"),
            JobEndKind::LeaseLost => "lease lost".to_owned(),
            JobEndKind::Superseded => "superseded".to_owned(),
        };
        writeln!(
            out,
            "{} | {} | {served} | {outcome} | {end}",
            report.stage, report.role
        )
        .unwrap();
    }
    out
}

/// Compares the rendered history of `reports` with
/// `tests/golden/histories/<name>.txt`; `UPDATE_GOLDEN=1` rewrites it for
/// review (a changed history is a changed behaviour: say why in the commit).
pub(crate) fn assert_history(name: &str, reports: &[JobReport]) -> Result<(), Failed> {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/histories")
        .join(format!("{name}.txt"));
    let actual = render_history(reports);
    let result = std::panic::catch_unwind(|| {
        orch_tests::assert_golden(
            &golden,
            &actual,
            "rerun with UPDATE_GOLDEN=1 cargo test -p orch-launcher --test sandboxed, review the diff",
        );
    });
    result.map_err(|_| {
        Failed::from(format!(
            "history {name} differs from its golden file:\n{actual}"
        ))
    })
}
