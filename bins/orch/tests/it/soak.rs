//! The hostile crash soak (issue 20): 24 tasks on three git repositories
//! whose deploy command appends one line to a ledger outside the worktrees,
//! while `orch serve` is killed with SIGKILL 25 times and stopped with
//! SIGSTOP past its lease 10 times, interleaved at seeded moments.
//!
//! What each event does:
//!
//! - **kill**: `kill -9` of `serve`, a wait until no process of the dead run
//!   is left (its supervisors see end-of-file and end their trees), and a new
//!   `serve` on the same database.
//! - **stop**: SIGSTOP of `serve` (its agents and suites run on: only orch is
//!   stopped, as when a debugger or a cgroup freezer holds it); a second orch
//!   process on the same database (`orch work`, or a second `orch serve` every
//!   other stop) starts; the test waits longer than the lease
//!   (`ORCH_LEASE_SECS`, 3 s) so that the second process may rescue the
//!   stopped process's jobs and run them; then SIGCONT, both processes run
//!   side by side for a moment, and the second one is stopped with SIGTERM.
//!
//! The stand-in agent takes 1 s a run and the deploy 0.3 s after its line,
//! so that the 24 tasks keep both workers busy for the whole schedule and
//! the events land in agent runs, suites and deploys alike.
//!
//! The schedule (which event when, how long `serve` works before it, how
//! long a stop lasts) comes from a seed, printed first; `SOAK_SEED=N` repeats
//! the schedule (the moments the events land on still depend on the machine).
//!
//! The last `serve` then drains the queue. A task blocked as poison (a job
//! that lost its worker `ORCH_POISON_RESCUES` times) is retried once with
//! `orch task retry`, as an operator would, and drained again. What must
//! hold, whatever the seed:
//!
//! - **At most once.** The ledger holds at most one line per task, and
//!   exactly one for every task that is `done`; each line names the commit
//!   the task's branch ends on. A deploy whose start was recorded is never
//!   run again: a rescue of such a deploy job blocks its task with a
//!   `deploy_interrupted` alert instead.
//! - **No task lost.** Every task ends `done`, or `blocked` with a
//!   `deploy_interrupted` alert (those are printed). Nothing is left queued
//!   or running, and no process outlives the last `serve`; each second
//!   process stops on SIGTERM with its usual status (143, `work` and `serve` alike),
//!   and the users' checkouts are never written.
//! - **No doubled transition.** A job moves its task at most once: by its own
//!   end, or by the rescue that blocks the task for it. So a transition is
//!   *doubled* when two rows of the `transitions` table carry the same
//!   `job_id` (whichever attempt or process wrote them: an end written by a
//!   process whose lease was taken over must be refused). Besides, every
//!   task's rows, in id order, form one unbroken chain from `analysis` (each
//!   row's `from_stage` is the previous row's `to_stage`), every move is one
//!   step forward along the pipeline or into or out of `blocked` (the
//!   stand-in agent and the suites always pass, so a move back means a gate
//!   read what they did not write), and a `done` task's chain is the 9
//!   stages of the pipeline plus two rows per block (into `blocked`, and the
//!   operator's retry out of it).
//! - **Stops bite.** At least one job the stopped `serve` held is taken
//!   (rescued, or claimed again) by the second process before SIGCONT, over
//!   all stops that found `serve` running jobs: a stop lasts 2 to 3 s past
//!   the lease, so a rescue that waits for an idle worker would leave the
//!   resumed process's fencing untested.
//!
//! Every violation is collected, not just the first; on failure the test
//! prints them with the ledger, the queue, every task's state and history,
//! and the lines of orch's logs that speak of a panic; with `SOAK_KEEP=1` the
//! soak's folder (every orch process's log, the database, the ledger) is kept
//! and named.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a panic is the failure report"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "the soak starts the real orch binary"
)]

use crate::harness::{describe, git};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orch_tests::{ProcessMarker, Reaper};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

const ORCH: &str = env!("CARGO_BIN_EXE_orch");
const AGENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/agents/scripted-agent.sh"
);
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/sample-repo");

/// The repositories; each gets `TASKS_PER_REPO` tasks.
const REPOS: [&str; 3] = ["alpha", "beta", "gamma"];
const TASKS_PER_REPO: usize = 8;
const KILLS: usize = 25;
const STOPS: usize = 10;
/// `ORCH_LEASE_SECS`: the shortest lease the configuration accepts.
const LEASE_SECS: u64 = 3;
/// The pipeline's stages, from the first to `done`.
const PIPELINE: [&str; 9] = [
    "analysis",
    "architecture",
    "development",
    "review",
    "testing",
    "deploy-staging",
    "deploy",
    "post-deploy",
    "done",
];
/// How long the drains together may take before the tasks still active
/// count as lost. A job deferred after a tool error is due again after a
/// backoff (1 s for agents and suites here; a worktree's is 30 s, doubled,
/// and no key sets it), so a few deferrals fit.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// xorshift64*: the schedule's only source of chance.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A duration from `lo_ms` to `hi_ms` milliseconds.
    fn millis(&mut self, lo_ms: u64, hi_ms: u64) -> Duration {
        Duration::from_millis(lo_ms + self.below(hi_ms - lo_ms + 1))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Kill,
    Stop,
}

/// The soak's folder: orch's home, the three checkouts, the ledger, the
/// logs of every orch process; and the marker every process it starts
/// carries.
struct Soak {
    dir: tempfile::TempDir,
    marker: ProcessMarker,
    agent_cmd: String,
    started: usize,
}

impl Soak {
    fn new() -> Soak {
        let dir = tempfile::tempdir().unwrap();
        for folder in ["ledger", "logs"] {
            std::fs::create_dir_all(dir.path().join(folder)).unwrap();
        }
        // The stand-in agent takes a moment (so that kills and stops land
        // during runs), and the developer writes the task's id into the tree
        // that the deploy ships.
        let script = dir.path().join("soak-agent.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n# SCRIPTED STAND-IN FOR AN LLM AGENT (tests): the developer writes the task's id.\n\
                 if [ \"$ORCH_ROLE\" = developer ]; then\n\
                 \techo \"$ORCH_TASK_ID\" > \"$ORCH_REPO_PATH/task-id\"\n\
                 fi\n\
                 sleep 1\n\
                 exec sh {AGENT}\n"
            ),
        )
        .unwrap();
        Soak {
            agent_cmd: format!("sh {}", script.display()),
            dir,
            marker: ProcessMarker::new("soak"),
            started: 0,
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn db(&self) -> PathBuf {
        self.home().join("orch.db")
    }

    fn checkout(&self, repo: &str) -> PathBuf {
        self.dir.path().join("checkouts").join(repo)
    }

    fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger").join("deploys.txt")
    }

    fn orch(&self, args: &[&str]) -> Command {
        let mut command = Command::new(ORCH);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("ORCH_HOME", self.home())
            .env("ORCH_AGENT_CMD", &self.agent_cmd)
            .env("ORCH_LEASE_SECS", LEASE_SECS.to_string())
            .env("ORCH_WORKERS", "2")
            .env("ORCH_POST_DEPLOY_PROBES", "1")
            .env("ORCH_POST_DEPLOY_WINDOW_SECS", "0")
            // A run that could not start (a kill in the middle of its
            // start) is tried again soon.
            .env("ORCH_AGENT_DEFER_SECS", "1")
            .env("ORCH_STAGING_RUNNER_DEFER_SECS", "1")
            .env(self.marker.env_key(), self.marker.token())
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.orch(args).output().unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "orch {args:?}: {}",
            describe(&output)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!("orch {args:?} printed no JSON ({e}): {}", describe(&output))
        })
    }

    /// A git checkout of the sample repository, registered as `name` with a
    /// deploy that appends `task=ID repo=NAME commit=SHA` to the ledger
    /// (the ledger's folder declared writable with `--cache-dir`), then
    /// takes a moment, as a deploy does.
    fn add_repo(&self, name: &str) {
        let checkout = self.checkout(name);
        std::fs::create_dir_all(&checkout).unwrap();
        for entry in std::fs::read_dir(SAMPLE).unwrap().flatten() {
            std::fs::copy(entry.path(), checkout.join(entry.file_name())).unwrap();
        }
        git(&checkout, &["init", "--quiet", "--initial-branch=main"]);
        git(&checkout, &["add", "--all"]);
        git(&checkout, &["commit", "--quiet", "-m", "the sample"]);
        let ledger = self.ledger();
        let deploy = format!(
            "id=$(cat task-id) && printf 'task=%s repo={name} commit=%s\\n' \"$id\" \"$ORCH_COMMIT\" >> {} && sleep 0.3",
            ledger.display()
        );
        self.json(&[
            "repo",
            "add",
            name,
            "--path",
            checkout.to_str().unwrap(),
            "--staging-cmd",
            "sleep 0.2; sh ./staging.sh",
            "--deploy-cmd",
            &deploy,
            "--health-cmd",
            "true",
            "--cache-dir",
            ledger.parent().unwrap().to_str().unwrap(),
        ]);
    }

    /// Starts `orch serve` or `orch work` (`args`), its output in a log file
    /// of its own.
    fn spawn(&mut self, args: &[&str]) -> Child {
        self.started += 1;
        let log = self
            .dir
            .path()
            .join("logs")
            .join(format!("{:02}-{}.log", self.started, args[0]));
        let file = File::create(&log).unwrap();
        self.orch(args)
            .env("ORCH_HTTP_ADDR", "127.0.0.1:0")
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap()
    }

    /// Starts `orch serve` and waits until it listens (its start-up rescue
    /// and worktree sweep are then behind it).
    fn serve(&mut self) -> Child {
        let mut child = self.spawn(&["serve"]);
        let log = self
            .dir
            .path()
            .join("logs")
            .join(format!("{:02}-serve.log", self.started));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("HTTP on http://") {
                return child;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("serve ended before listening ({status}): {text}");
            }
            assert!(
                Instant::now() < deadline,
                "serve never said it listens: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A read-only connection to orch's database.
    fn db_read(&self) -> Connection {
        let conn = Connection::open_with_flags(
            self.db(),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn
    }

    /// Waits until no process of the test is alive (after a `kill -9`, the
    /// dead run's processes end once their supervisors see end-of-file);
    /// after 15 s, records a violation and kills them.
    fn wait_no_survivors(&self, after: &str, violations: &mut Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let survivors = self.marker.survivors();
            if survivors.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                violations.push(format!(
                    "processes outlived {after} by 15 s: {survivors:#?}"
                ));
                self.marker.kill_survivors();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn pid(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).unwrap())
}

/// Waits until `child` is stopped (state `T` in `/proc/PID/stat`).
fn wait_stopped(child: &Child) {
    let stat = format!("/proc/{}/stat", child.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&stat).unwrap_or_default();
        let state = text
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if state == Some("T") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "serve never stopped after SIGSTOP: {text}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for `child` to exit, up to `limit`; `None` (and a SIGKILL) if it
/// did not.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The running jobs, as (job id, lease token).
fn running_jobs(conn: &Connection) -> BTreeMap<i64, i64> {
    let mut stmt = conn
        .prepare("SELECT id, lease_token FROM jobs WHERE state = 'running'")
        .unwrap();
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Which of `held` (job id, lease token) are no longer running under that
/// token: rescued, or claimed again, by another process.
fn taken(conn: &Connection, held: &BTreeMap<i64, i64>) -> Vec<i64> {
    held.iter()
        .filter(|(id, token)| {
            let (state, now): (String, i64) = conn
                .query_row(
                    "SELECT state, lease_token FROM jobs WHERE id = ?1",
                    [id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .unwrap();
            state != "running" || now != **token
        })
        .map(|(id, _)| *id)
        .collect()
}

/// How many running jobs have a lease that has expired.
fn expired_running(conn: &Connection) -> i64 {
    let now_ms = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    conn.query_row(
        "SELECT count(*) FROM jobs WHERE state = 'running' AND lease_expires_ms < ?1",
        [now_ms],
        |row| row.get(0),
    )
    .unwrap()
}

/// (active tasks, queued jobs, running jobs).
fn load(conn: &Connection) -> (i64, i64, i64) {
    conn.query_row(
        "SELECT (SELECT count(*) FROM tasks WHERE status = 'active'), \
                (SELECT count(*) FROM jobs WHERE state = 'queued'), \
                (SELECT count(*) FROM jobs WHERE state = 'running')",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )
    .unwrap()
}

/// The jobs done so far: how far the pipeline got.
fn jobs_done(conn: &Connection) -> i64 {
    conn.query_row(
        "SELECT count(*) FROM jobs WHERE state = 'done'",
        [],
        |row| row.get(0),
    )
    .unwrap()
}

/// Lets `serve` work until no job is queued or running, or `limit` has
/// passed; returns how long it took.
fn drain(soak: &Soak, limit: Duration) -> Duration {
    let t0 = Instant::now();
    let conn = soak.db_read();
    // Two looks in a row: a job end and its next job are one transaction,
    // but a look can fall between a deferral's release and its re-claim.
    let mut quiet = 0;
    while t0.elapsed() < limit {
        let (_, queued, running) = load(&conn);
        quiet = if queued + running == 0 { quiet + 1 } else { 0 };
        if quiet == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    t0.elapsed()
}

/// One task as the end checks read it.
#[derive(Debug)]
struct TaskState {
    id: i64,
    repo: String,
    checkout: String,
    stage: String,
    status: String,
    /// The kinds of its alerts, acknowledged or not, oldest first.
    alerts: Vec<String>,
    /// The same alerts' messages.
    messages: Vec<String>,
    /// In id order.
    transitions: Vec<Transition>,
}

/// One row of the `transitions` table.
#[derive(Debug)]
struct Transition {
    id: i64,
    job: Option<i64>,
    from: String,
    to: String,
    actor: Option<String>,
    reason: Option<String>,
}

fn tasks(conn: &Connection) -> Vec<TaskState> {
    let mut stmt = conn
        .prepare(
            "SELECT t.id, r.name, r.path, t.stage, t.status FROM tasks t \
             JOIN repos r ON r.id = t.repo_id ORDER BY t.id",
        )
        .unwrap();
    let mut out: Vec<TaskState> = stmt
        .query_map([], |row| {
            Ok(TaskState {
                id: row.get(0)?,
                repo: row.get(1)?,
                checkout: row.get(2)?,
                stage: row.get(3)?,
                status: row.get(4)?,
                alerts: Vec::new(),
                messages: Vec::new(),
                transitions: Vec::new(),
            })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for task in &mut out {
        let mut stmt = conn
            .prepare("SELECT kind, message FROM alerts WHERE task_id = ?1 ORDER BY id")
            .unwrap();
        let alerts: Vec<(String, String)> = stmt
            .query_map([task.id], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        (task.alerts, task.messages) = alerts.into_iter().unzip();
        let mut stmt = conn
            .prepare(
                "SELECT id, job_id, from_stage, to_stage, actor, reason FROM transitions \
                 WHERE task_id = ?1 ORDER BY id",
            )
            .unwrap();
        task.transitions = stmt
            .query_map([task.id], |row| {
                Ok(Transition {
                    id: row.get(0)?,
                    job: row.get(1)?,
                    from: row.get(2)?,
                    to: row.get(3)?,
                    actor: row.get(4)?,
                    reason: row.get(5)?,
                })
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
    }
    out
}

/// The gate decisions of a transition, as `gate passed=.. verdict=..: reason`.
fn gates(conn: &Connection, transition: i64) -> Vec<String> {
    let mut stmt = conn
        .prepare(
            "SELECT gate, passed, verdict, reason FROM gate_decisions \
             WHERE transition_id = ?1 ORDER BY position",
        )
        .unwrap();
    stmt.query_map([transition], |row| {
        Ok(format!(
            "{} passed={} verdict={:?}: {}",
            row.get::<_, String>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, Option<String>>(2)?,
            row.get::<_, String>(3)?
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The ledger's lines, by task id: (repo, commit) per line. A line that is
/// not `task=ID repo=NAME commit=SHA` is a violation.
fn ledger(path: &Path, violations: &mut Vec<String>) -> BTreeMap<i64, Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let parsed = match fields.as_slice() {
            [task, repo, commit] => task
                .strip_prefix("task=")
                .and_then(|id| id.parse::<i64>().ok())
                .zip(repo.strip_prefix("repo="))
                .zip(commit.strip_prefix("commit="))
                .map(|((id, repo), commit)| (id, repo, commit)),
            _ => None,
        };
        match parsed {
            Some((id, repo, commit)) => out
                .entry(id)
                .or_default()
                .push((repo.to_owned(), commit.to_owned())),
            None => violations.push(format!("a malformed ledger line: {line:?}")),
        }
    }
    out
}

/// What the events did, for the figures.
#[derive(Debug, Default)]
struct Figures {
    kills: usize,
    stops: usize,
    /// Stops that found `serve` running at least one job.
    stops_on_running_jobs: usize,
    /// Jobs `serve` held when stopped that were no longer its own when it
    /// was resumed (rescued or claimed again: the second process took them).
    taken_over: usize,
    /// The event at which the last task stopped being active, if any.
    work_ended_at: Option<usize>,
}

#[test]
fn kill_9_and_stops_past_the_lease_deploy_at_most_once_and_lose_nothing() {
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .subsec_nanos();
            u64::from(nanos) | 1
        });
    println!("soak seed {seed} (SOAK_SEED={seed} repeats this schedule)");
    let mut rng = Rng(seed.max(1));
    let mut soak = Soak::new();
    let marker = soak.marker.clone();
    let reaper = Reaper(&marker);
    let t_soak = Instant::now();

    for repo in REPOS {
        soak.add_repo(repo);
    }
    for i in 0..TASKS_PER_REPO {
        for repo in REPOS {
            soak.json(&[
                "task",
                "add",
                "--repo",
                repo,
                "--title",
                &format!("soak {repo} {i}"),
            ]);
        }
    }
    let task_count = REPOS.len() * TASKS_PER_REPO;

    // The schedule: KILLS kills and STOPS stops, shuffled (Fisher-Yates).
    let mut schedule: Vec<Event> = std::iter::repeat_n(Event::Kill, KILLS)
        .chain(std::iter::repeat_n(Event::Stop, STOPS))
        .collect();
    for i in (1..schedule.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).unwrap();
        schedule.swap(i, j);
    }

    let mut violations: Vec<String> = Vec::new();
    let mut figures = Figures::default();
    let conn = soak.db_read();
    let mut serve = soak.serve();
    for (n, event) in schedule.iter().enumerate() {
        std::thread::sleep(rng.millis(200, 1200));
        if let Some(status) = serve.try_wait().unwrap() {
            violations.push(format!("serve ended by itself ({status}) before event {n}"));
            serve = soak.serve();
        }
        let (active, queued, running) = load(&conn);
        if active == 0 && figures.work_ended_at.is_none() {
            figures.work_ended_at = Some(n);
        }
        println!(
            "event {n:2} {event:?} at {:5.1}s: {active} tasks active, {} jobs done, {queued} queued, {running} running",
            t_soak.elapsed().as_secs_f64(),
            jobs_done(&conn)
        );
        match event {
            Event::Kill => {
                serve.kill().unwrap(); // SIGKILL
                serve.wait().unwrap();
                figures.kills += 1;
                soak.wait_no_survivors(&format!("kill -9 {n}"), &mut violations);
                serve = soak.serve();
            }
            Event::Stop => {
                kill(pid(&serve), Signal::SIGSTOP).unwrap();
                wait_stopped(&serve);
                // Every running job is the stopped serve's, and stays as it
                // is unless another process takes it.
                let held = running_jobs(&conn);
                let second_kind = if figures.stops % 2 == 0 {
                    "work"
                } else {
                    "serve"
                };
                let mut second = soak.spawn(&[second_kind]);
                std::thread::sleep(Duration::from_secs(LEASE_SECS) + rng.millis(2000, 3000));
                let lost = taken(&conn, &held);
                println!(
                    "         stop {}: serve held jobs {:?}; taken by the second process (orch {second_kind}) before SIGCONT: {lost:?}; leases expired and not taken: {}",
                    figures.stops,
                    held.keys().collect::<Vec<_>>(),
                    expired_running(&conn)
                );
                figures.taken_over += lost.len();
                figures.stops_on_running_jobs += usize::from(!held.is_empty());
                kill(pid(&serve), Signal::SIGCONT).unwrap();
                // Both processes at once: the resumed one finds its leases
                // taken, or ends what it still owns.
                std::thread::sleep(rng.millis(200, 1500));
                kill(pid(&second), Signal::SIGTERM).unwrap();
                let expected = 143;
                match wait_exit(&mut second, Duration::from_secs(60)) {
                    Some(status) if status.code() == Some(expected) => {}
                    Some(status) => violations.push(format!(
                        "the second process (orch {second_kind}) of stop {} exited {status} on SIGTERM, not {expected}",
                        figures.stops
                    )),
                    None => violations.push(format!(
                        "the second process (orch {second_kind}) of stop {} did not stop within 60 s of SIGTERM",
                        figures.stops
                    )),
                }
                figures.stops += 1;
            }
        }
    }
    let t_events = t_soak.elapsed();

    // Drain with the last serve; retry the poison blocks once, as an
    // operator would; drain again.
    let mut t_drain = drain(&soak, DRAIN_LIMIT);
    let mut retried = Vec::new();
    for task in tasks(&conn) {
        if task.status == "blocked"
            && task.alerts.iter().any(|k| k == "poison_job")
            && !task.alerts.iter().any(|k| k == "deploy_interrupted")
        {
            soak.json(&[
                "task",
                "retry",
                &task.id.to_string(),
                "--reason",
                "after the soak",
            ]);
            retried.push(task.id);
        }
    }
    if !retried.is_empty() {
        t_drain += drain(&soak, DRAIN_LIMIT.saturating_sub(t_drain));
    }
    let queue_json = soak.json(&["queue"]);
    kill(pid(&serve), Signal::SIGTERM).unwrap();
    match wait_exit(&mut serve, Duration::from_secs(60)) {
        Some(status) if status.code() == Some(143) => {}
        Some(status) => violations.push(format!(
            "the last serve exited {status} on SIGTERM, not 143"
        )),
        None => violations.push("the last serve did not stop within 60 s of SIGTERM".to_owned()),
    }
    let survivors = soak.marker.survivors();
    if !survivors.is_empty() {
        violations.push(format!("processes outlived the last serve: {survivors:#?}"));
    }

    // The checks.
    let conn = soak.db_read();
    let states = tasks(&conn);
    let lines = ledger(&soak.ledger(), &mut violations);
    if states.len() != task_count {
        violations.push(format!(
            "{} tasks in the database, {task_count} added",
            states.len()
        ));
    }
    let (_, queued, running) = load(&conn);
    if queued + running != 0 {
        violations.push(format!(
            "after the drain: {queued} jobs queued, {running} running"
        ));
    }
    let mut done = 0;
    let mut interrupted = Vec::new();
    for task in &states {
        let id = task.id;
        let deploys = lines.get(&id).map_or(&[][..], Vec::as_slice);
        if deploys.len() > 1 {
            violations.push(format!(
                "task {id} was deployed {} times: {deploys:?}",
                deploys.len()
            ));
        }
        for (repo, commit) in deploys {
            let tip = git(
                Path::new(&task.checkout),
                &["rev-parse", &format!("orch/task-{id}")],
            );
            if *repo != task.repo || commit != tip.trim() {
                violations.push(format!(
                    "task {id} ({}) deployed repo {repo} commit {commit}, but its branch is at {}",
                    task.repo,
                    tip.trim()
                ));
            }
        }
        match (
            task.status.as_str(),
            task.alerts.iter().any(|k| k == "deploy_interrupted"),
        ) {
            ("done", _) => {
                done += 1;
                if deploys.is_empty() {
                    violations.push(format!("task {id} is done but was never deployed"));
                }
            }
            ("blocked", true) => interrupted.push(id),
            (status, _) => violations.push(format!(
                "task {id} lost: it ended {status} at stage {} with alerts {:?}",
                task.stage, task.alerts
            )),
        }
        // The chain, and each move one step forward: the stand-in agent
        // and the suites always pass, so a move back means a gate read
        // something they did not write (say, an artifact a second run of the
        // job replaced while the first still wrote).
        let mut at = "analysis";
        for t in &task.transitions {
            if t.from != at {
                violations.push(format!(
                    "task {id}: transition {} moves it from {}, but it was at {at}",
                    t.id, t.from
                ));
            }
            let step = |stage: &str| PIPELINE.iter().position(|s| *s == stage);
            let forward = t.from == "blocked"
                || t.to == "blocked"
                || step(&t.from)
                    .zip(step(&t.to))
                    .is_some_and(|(a, b)| b == a + 1);
            if !forward {
                violations.push(format!(
                    "task {id}: transition {} {}->{} (job {:?}) is not a step forward, though nothing fails: gates {:?}",
                    t.id,
                    t.from,
                    t.to,
                    t.job,
                    gates(&conn, t.id)
                ));
            }
            at = &t.to;
        }
        if task.status == "done" {
            let blocks = task
                .transitions
                .iter()
                .filter(|t| t.to == "blocked")
                .count();
            let expected = PIPELINE.len() - 1 + 2 * blocks;
            if task.transitions.len() != expected {
                violations.push(format!(
                    "task {id}: {} transitions, {expected} expected for a done task with {blocks} blocks",
                    task.transitions.len()
                ));
            }
        }
    }
    let mut stmt = conn
        .prepare(
            "SELECT job_id, count(*), group_concat(from_stage || '->' || to_stage, ', ') \
             FROM transitions WHERE job_id IS NOT NULL GROUP BY job_id HAVING count(*) > 1",
        )
        .unwrap();
    let doubled: Vec<(i64, i64, String)> = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (job, count, moves) in &doubled {
        violations.push(format!(
            "a doubled transition: job {job} moved its task {count} times ({moves})"
        ));
    }
    // The stops must have tested something: a second process that never
    // takes an expired lease (its rescue waits for an idle worker) leaves
    // the fencing of a resumed process unexercised.
    if figures.stops_on_running_jobs > 0 && figures.taken_over == 0 {
        violations.push(format!(
            "no stop past the lease let the second process take a job: {} stops found serve running jobs, their leases expired, and none was rescued before SIGCONT",
            figures.stops_on_running_jobs
        ));
    }
    for repo in REPOS {
        let status = git(&soak.checkout(repo), &["status", "--porcelain"]);
        if !status.is_empty() {
            violations.push(format!("the checkout of {repo} was written: {status}"));
        }
    }

    let lost = states
        .iter()
        .filter(|t| t.status != "done" && !interrupted.contains(&t.id))
        .count();
    println!(
        "hostile soak (seed {seed}): {task_count} tasks on {} repositories, {} kill -9 and {} stops past the {LEASE_SECS} s lease of serve \
         ({} stops found running jobs; {} jobs of the stopped serve were taken by the second process); \
         the last task left `active` {}; {done} done, {} blocked deploy_interrupted {interrupted:?}, {} retried after poison {retried:?}, \
         {lost} lost, {} doubled transitions, {} ledger lines; events {:.1?}, drain {:.1?}, whole soak {:.1?}",
        REPOS.len(),
        figures.kills,
        figures.stops,
        figures.stops_on_running_jobs,
        figures.taken_over,
        figures
            .work_ended_at
            .map_or("after the last event".to_owned(), |n| format!(
                "before event {n}"
            )),
        interrupted.len(),
        retried.len(),
        doubled.len(),
        lines.values().map(Vec::len).sum::<usize>(),
        t_events,
        t_drain,
        t_soak.elapsed()
    );
    if !violations.is_empty() {
        let mut report = String::new();
        writeln!(report, "{} violations (seed {seed}):", violations.len()).unwrap();
        for v in &violations {
            writeln!(report, "- {v}").unwrap();
        }
        writeln!(
            report,
            "\nledger:\n{}",
            std::fs::read_to_string(soak.ledger()).unwrap_or_default()
        )
        .unwrap();
        writeln!(report, "tasks:").unwrap();
        for task in &states {
            let history: Vec<String> = task
                .transitions
                .iter()
                .map(|t| {
                    let mut s = format!("#{} {}->{}", t.id, t.from, t.to);
                    if let Some(job) = t.job {
                        write!(s, " job {job}").unwrap();
                    }
                    if let Some(actor) = &t.actor {
                        write!(s, " by {actor}").unwrap();
                    }
                    if let Some(reason) = &t.reason {
                        write!(s, " ({reason})").unwrap();
                    }
                    s
                })
                .collect();
            writeln!(
                report,
                "  task {} ({}): {} at {}, alerts {:?}, {} ledger lines\n    {}{}",
                task.id,
                task.repo,
                task.status,
                task.stage,
                task.alerts,
                lines.get(&task.id).map_or(0, Vec::len),
                history.join("; "),
                task.messages
                    .iter()
                    .map(|m| format!("\n    alert: {m}"))
                    .collect::<String>()
            )
            .unwrap();
        }
        writeln!(
            report,
            "\nqueue before the last serve stopped:\n{}",
            serde_json::to_string_pretty(&queue_json).unwrap()
        )
        .unwrap();
        let mut panics = Vec::new();
        for entry in std::fs::read_dir(soak.dir.path().join("logs"))
            .unwrap()
            .flatten()
        {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            for line in text.lines().filter(|l| l.contains("panick")) {
                panics.push(format!("{}: {line}", entry.file_name().to_string_lossy()));
            }
        }
        writeln!(report, "\npanics in orch's logs: {panics:#?}").unwrap();
        drop(reaper);
        if std::env::var_os("SOAK_KEEP").is_some() {
            let kept = soak.dir.keep();
            writeln!(
                report,
                "the soak's folder is kept: {} (logs/, home/orch.db, ledger/)",
                kept.display()
            )
            .unwrap();
        } else {
            writeln!(
                report,
                "SOAK_KEEP=1 keeps the soak's folder (orch's logs, its database, the ledger)"
            )
            .unwrap();
        }
        panic!("{report}");
    }
    drop(reaper);
}
