//! Task isolation end to end: real git repositories, a real store on a file
//! database, real processes. Every git task works in its own worktree on its
//! own branch; every verdict names a commit; the deploy runs only on the
//! commit staging tested; the user's checkout is never written; what an
//! agent plants in the repository never runs with orch's rights.
//!
//! This test binary has its own `main` (libtest-mimic) so that it can serve
//! as the process supervisor itself, as `tests/sandboxed/main.rs` does.
//!
//! The only stand-in is the agent: `tests/fixtures/git-agent.sh`, a scripted
//! stand-in for an LLM agent CLI that edits files and runs git in its working
//! directory (the worktree) as a plan says, then hands over to
//! `scripted-agent.sh`, which writes the artifact and the result.
//!
//! git is run by the tests through the same process machinery as orch
//! (`orch_process::exec`), always with hooks and the fsmonitor off, so
//! that a hook an agent planted can only ever be set off by orch.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a panic is the failure report"
)]

use crate::common::{Folders, check, drive, quick_config, stages};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libtest_mimic::{Failed, Trial};
use orch_launcher::worktree::{Git, WorktreeError};
use orch_launcher::{
    Engine, EngineError, JobEndKind, JobReport, LauncherConfig, RepoScope, RunnerMode, StopSignal,
    TaskRequest,
};
use orch_pipeline::{Role, Stage};
use orch_process::exec::{self, Ending, ExecOutcome, ExecSpec, Program, SandboxMode, Streams};
use orch_self_deploy::ProcessExit;
use orch_store::{JobState, LeaseOwner, NewRepo, RepoId, Store, TaskId, TaskIsolation, TaskStatus};

const GIT_AGENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/git-agent.sh");

// --- git, for the tests ------------------------------------------------------

/// Runs `git ARGS` in `dir` (hooks and fsmonitor off); its stdout, or the
/// failure as text.
fn try_git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let mut argv: Vec<OsString> = ["git", "-c", "core.hooksPath=/dev/null", "-c"]
        .iter()
        .map(OsString::from)
        .collect();
    argv.push("core.fsmonitor=false".into());
    argv.extend(args.iter().map(OsString::from));
    let spec = ExecSpec::new(Program::Argv(argv), dir)
        .streams(Streams::Separate {
            stdout_cap: 1 << 20,
        })
        .timeout(Some(Duration::from_secs(30)));
    match exec::run(&spec) {
        ExecOutcome::Finished(done) => {
            let stdout = done
                .stdout
                .map(|s| String::from_utf8_lossy(&s.bytes).into_owned())
                .unwrap_or_default();
            if done.ending == Ending::Exited(ProcessExit::Code(0)) {
                Ok(stdout)
            } else {
                Err(format!(
                    "git {args:?} in {}: {:?}: {}{}",
                    dir.display(),
                    done.ending,
                    String::from_utf8_lossy(&done.output.head),
                    String::from_utf8_lossy(&done.output.tail)
                ))
            }
        }
        ExecOutcome::Failed(error) => Err(format!("git {args:?}: {error:?}")),
    }
}

/// Runs `git ARGS` in `dir` as a user would: with the repository's own hooks
/// and fsmonitor. Only for proving that a planted hook is live.
fn raw_git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let mut argv = vec![OsString::from("git")];
    argv.extend(args.iter().map(OsString::from));
    let spec = ExecSpec::new(Program::Argv(argv), dir).timeout(Some(Duration::from_secs(30)));
    let outcome = exec::run(&spec);
    if matches!(&outcome, ExecOutcome::Finished(done) if done.ending == Ending::Exited(ProcessExit::Code(0)))
    {
        Ok(String::new())
    } else {
        Err(format!("{outcome:?}"))
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    try_git(dir, args).unwrap_or_else(|e| panic!("{e}"))
}

/// `git rev-parse REV` in `dir`.
fn rev(dir: &Path, what: &str) -> String {
    git(dir, &["rev-parse", "--verify", what]).trim().to_owned()
}

/// Whether branch `name` exists in `repo`.
fn branch_exists(repo: &Path, name: &str) -> bool {
    try_git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{name}"),
        ],
    )
    .is_ok()
}

/// Every file under `dir` (but `.git`) and its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == ".git") && dir == root {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    fs::read(&path).unwrap_or_default(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

// --- the harness -------------------------------------------------------------

/// A fresh orch home, database, git checkout and scripted agent state.
struct Harness {
    _dir: tempfile::TempDir,
    db: PathBuf,
    state: PathBuf,
    checkout: PathBuf,
    /// What the deploy command saw as `ORCH_COMMIT` (written by it).
    deployed: PathBuf,
    config: LauncherConfig,
}

impl Harness {
    /// A harness whose checkout is a git repository with one commit on
    /// `main` (README.md, src.txt).
    fn new() -> Harness {
        let h = Harness::bare();
        init_repo(&h.checkout);
        h
    }

    /// A harness whose checkout is an empty folder.
    fn bare() -> Harness {
        let folders = Folders::new();
        let mut config = quick_config(&folders, GIT_AGENT);
        config.lease = Duration::from_secs(5);
        config.worktree.git_timeout = Duration::from_secs(30);
        config.worktree.retry.base = Duration::from_millis(1);
        config.worktree.retry.retries = 1;
        let Folders {
            dir,
            state,
            checkout,
            ..
        } = folders;
        Harness {
            db: dir.path().join("orch.db"),
            deployed: dir.path().join("deploy-target/deployed"),
            _dir: dir,
            state,
            checkout,
            config,
        }
    }

    fn engine(&self) -> Engine {
        self.engine_with(self.config.clone())
    }

    /// The same harness with the kernel sandbox off: for the tests of orch's
    /// second layer, which must hold even where the sandbox cannot (an older
    /// kernel, `ORCH_SANDBOX=off`): there the agent does reach the shared git
    /// state, and orch must still not be fooled by it.
    fn unconfined(mut self) -> Harness {
        self.config.sandbox.mode = SandboxMode::Off;
        self
    }

    fn engine_with(&self, config: LauncherConfig) -> Engine {
        self.engine_as(config, "worker-0")
    }

    fn engine_as(&self, config: LauncherConfig, worker: &str) -> Engine {
        let store = Store::open(&self.db).unwrap();
        Engine::new(store, config, LeaseOwner::new("boot-test", worker))
    }

    /// The repository `api` on the checkout: the deploy command writes the
    /// `ORCH_COMMIT` it saw to `self.deployed`.
    fn repo(&self, engine: &Engine, staging: &str) -> RepoId {
        self.repo_at(engine, "api", &self.checkout, staging, None)
    }

    fn repo_at(
        &self,
        engine: &Engine,
        name: &str,
        path: &Path,
        staging: &str,
        base_ref: Option<&str>,
    ) -> RepoId {
        let mut repo = NewRepo::new(name, path.to_str().unwrap(), staging);
        repo.deploy_command = Some(format!(
            "printf '%s' \"$ORCH_COMMIT\" > '{}'",
            self.deployed.display()
        ));
        repo.health_command = Some("true".into());
        repo.base_ref = base_ref.map(str::to_owned);
        // The deploy target is outside the worktree: declared writable for
        // the repository's runs, as a user declares theirs.
        let target = self.deployed.parent().unwrap();
        fs::create_dir_all(target).unwrap();
        repo.cache_dirs = vec![target.to_str().unwrap().to_owned()];
        engine.store().add_repo(&repo).unwrap()
    }

    /// Per-role actions for git-agent.sh.
    fn actions(&self, lines: &str) {
        fs::write(self.state.join("actions"), lines).unwrap();
    }

    /// What each agent run saw: `ROLE TASK ORCH_REPO_PATH PWD BRANCH TOP`.
    fn seen(&self) -> Vec<Vec<String>> {
        fs::read_to_string(self.state.join("seen"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(' ').map(str::to_owned).collect())
            .collect()
    }

    /// What a planted hook or script wrote, if anything ran.
    fn marker(&self) -> Option<String> {
        fs::read_to_string(self.state.join("marker")).ok()
    }

    fn worktree(&self, task: TaskId) -> PathBuf {
        self.config.home.join("worktrees").join(task.to_string())
    }

    fn staging_log(&self, task: TaskId) -> String {
        fs::read_to_string(self.config.task_dir(task.get()).join("15-staging-log.md"))
            .unwrap_or_default()
    }
}

/// `git init` with one commit on `main`.
fn init_repo(dir: &Path) {
    git(dir, &["init", "--quiet", "-b", "main"]);
    git(dir, &["config", "user.name", "Test User"]);
    git(dir, &["config", "user.email", "test@example.invalid"]);
    git(dir, &["config", "commit.gpgSign", "false"]);
    fs::write(dir.join("README.md"), "# the project\n").unwrap();
    fs::write(dir.join("src.txt"), "source\n").unwrap();
    git(dir, &["add", "--all"]);
    git(dir, &["commit", "--quiet", "-m", "initial"]);
}

/// Runs exactly one job (waiting for a deferred one to be due).
fn step(engine: &Engine) -> JobReport {
    let reports = drive(engine, 1);
    assert_eq!(reports.len(), 1, "a job was due");
    reports.into_iter().next().unwrap()
}

fn alerts(engine: &Engine, task: TaskId) -> Vec<(orch_store::AlertKind, String)> {
    engine
        .store()
        .open_alerts()
        .unwrap()
        .into_iter()
        .filter(|a| a.task == Some(task))
        .map(|a| (a.kind, a.message))
        .collect()
}

fn status(engine: &Engine, task: TaskId) -> TaskStatus {
    engine.store().task(task).unwrap().status
}

fn blocked_with(report: &JobReport, kind: orch_store::AlertKind) -> bool {
    matches!(report.end, JobEndKind::Blocked { alert } if alert == kind)
}

/// The changed paths between two commits.
fn changed(repo: &Path, from: &str, to: &str) -> Vec<String> {
    git(repo, &["diff", "--name-only", &format!("{from}..{to}")])
        .lines()
        .map(str::to_owned)
        .collect()
}

const FULL_PIPELINE: [(&str, &str); 8] = [
    ("analysis", "architecture"),
    ("architecture", "development"),
    ("development", "review"),
    ("review", "testing"),
    ("testing", "deploy-staging"),
    ("deploy-staging", "deploy"),
    ("deploy", "post-deploy"),
    ("post-deploy", "done"),
];

fn full_pipeline() -> Vec<(String, String)> {
    FULL_PIPELINE
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

// --- the test runner on a worktree task --------------------------------------

/// The test runner, `on` and in shadow, runs the tests on the commit the
/// testing stage started on (the developer's committed change), names it to
/// the command (`ORCH_COMMIT`) and records it: in the gate decision (mode
/// `on`, with a clean tree) or in the shadow pair (the LLM tester's verdict
/// is then about the commit after its own run).
fn the_test_runner_tests_the_commit_the_stage_started_on() -> Result<(), Failed> {
    for mode in [RunnerMode::On, RunnerMode::Shadow] {
        let h = Harness::new();
        h.actions("developer change\n");
        let mut config = h.config.clone();
        config.test_runner.mode = mode;
        config.test_runner.timeout = Duration::from_secs(20);
        let engine = h.engine_with(config);
        let mut repo = NewRepo::new("api", h.checkout.to_str().unwrap(), "true");
        repo.test_command = Some(
            "test -f change-1.txt && test \"$ORCH_COMMIT\" = \"$(git rev-parse HEAD)\"".into(),
        );
        let repo = engine.store().add_repo(&repo).unwrap();
        let (task, _) = engine
            .create_task_at(repo, "tested change", Stage::Development)
            .unwrap();
        drive(&engine, 3);
        let transitions = engine.store().transitions(task).unwrap();
        let developed = transitions
            .iter()
            .find(|t| t.from_stage == Stage::Development)
            .and_then(|t| t.decisions[0].commit_sha.clone())
            .ok_or(format!("{mode}: no development commit"))?;
        let tested = transitions
            .iter()
            .find(|t| t.from_stage == Stage::Testing)
            .ok_or(format!("{mode}: {:?}", stages(&engine, task)))?;
        check(
            tested.to_stage == Stage::DeployStaging,
            format!("{mode}: {tested:?}"),
        )?;
        let runs = engine.store().agent_runs(task).unwrap();
        let runner = runs
            .iter()
            .find(|r| r.role == Role::TestRunner)
            .ok_or(format!("{mode}: {runs:?}"))?;
        check(
            runner.outcome == "passed",
            format!("{mode}: the tests saw another commit: {runner:?}"),
        )?;
        let dir = h.config.task_dir(task.get());
        if mode == RunnerMode::On {
            let gate = &tested.decisions[0];
            check(
                gate.commit_sha.as_deref() == Some(developed.as_str())
                    && gate.tree_clean == Some(true),
                format!("{mode}: {gate:?}, developed {developed}"),
            )?;
            let report = fs::read_to_string(dir.join("10-test-report.md")).unwrap();
            check(
                report.starts_with("# Test report\n\ntest_status: PASSED\n")
                    && report.contains(&format!("- commit: \"{developed}\"")),
                format!("{mode}: {report}"),
            )?;
        } else {
            let pairs = engine.store().shadow_verdicts(task).unwrap();
            check(
                pairs.len() == 1
                    && pairs[0].commit.as_deref() == Some(developed.as_str())
                    && pairs[0].runner_verdict.as_deref() == Some("PASSED"),
                format!("{mode}: {pairs:?}, developed {developed}"),
            )?;
            let sidecar = fs::read_to_string(dir.join("10-test-report.shadow.md")).unwrap();
            check(
                sidecar.contains(&format!("- commit: \"{developed}\"")),
                format!("{mode}: {sidecar}"),
            )?;
        }
    }
    Ok(())
}

// --- the pinned suite, the setup, the blind shadow (issue 18) ---------------

/// A repository whose tests fail until `src.txt` reads `fixed`: staging.sh
/// runs every tests/*.sh; `.setup-done` (what a setup writes) is ignored.
fn init_suite_repo(dir: &Path) {
    git(dir, &["init", "--quiet", "-b", "main"]);
    git(dir, &["config", "user.name", "Test User"]);
    git(dir, &["config", "user.email", "test@example.invalid"]);
    fs::create_dir_all(dir.join("tests")).unwrap();
    fs::write(dir.join("src.txt"), "broken\n").unwrap();
    fs::write(dir.join("tests/test_src.sh"), "grep -qx fixed src.txt\n").unwrap();
    fs::write(
        dir.join("staging.sh"),
        "for t in tests/*.sh; do sh \"$t\" || { echo \"FAIL $t\"; exit 1; }; done\necho all passed\n",
    )
    .unwrap();
    fs::write(dir.join(".gitignore"), ".setup-done\n").unwrap();
    git(dir, &["add", "--all"]);
    git(dir, &["commit", "--quiet", "-m", "a failing test"]);
}

/// A harness on the suite repository, with the suite pinned (or not).
fn suite_harness(pinned: bool, setup: Option<&str>) -> (Harness, Engine, RepoId) {
    let h = Harness::bare();
    init_suite_repo(&h.checkout);
    let engine = h.engine();
    let mut repo = NewRepo::new("api", h.checkout.to_str().unwrap(), "sh staging.sh");
    if pinned {
        repo.suite_paths = vec!["tests/**".into(), "staging.sh".into()];
    }
    repo.setup_command = setup.map(str::to_owned);
    let repo = engine.store().add_repo(&repo).unwrap();
    (h, engine, repo)
}

fn reached(engine: &Engine, task: TaskId, stage: &str) -> bool {
    stages(engine, task).iter().any(|(_, to)| to == stage)
}

/// ImpossibleBench's move: a developer agent deletes the failing test and
/// makes staging.sh `exit 0` (or weakens the assertion). With the suite
/// pinned the staging runner restores both in its judge tree and says
/// FAILED; the log and the gate evidence list what the task changed; the
/// task never deploys. An honest task on the same repository reaches done,
/// and one that adds a new test passes with its new test run.
fn a_task_that_deletes_or_weakens_its_failing_test_never_deploys() -> Result<(), Failed> {
    for (cheat, changed) in [
        (
            "cheat",
            "modified (restored): staging.sh; deleted (restored): tests/test_src.sh",
        ),
        ("weaken", "modified (restored): tests/test_src.sh"),
    ] {
        let (h, engine, repo) = suite_harness(true, None);
        h.actions(&format!("developer {cheat}\n"));
        let (task, _) = engine
            .create_task_at(repo, "make the test pass", Stage::Development)
            .unwrap();
        drive(&engine, 40);
        check(
            !reached(&engine, task, "deploy") && !h.deployed.exists(),
            format!("{cheat}: deployed: {:?}", stages(&engine, task)),
        )?;
        check(
            status(&engine, task) == TaskStatus::Blocked,
            format!("{cheat}: not blocked"),
        )?;
        let log = h.staging_log(task);
        check(
            log.contains("staging_status: FAILED")
                && log.contains(&format!("- suite changed by the task: \"{changed}\""))
                && log.contains("- suite: \"pinned (tests/**,staging.sh)")
                && log.contains("- judge tree: "),
            format!("{cheat}: {log}"),
        )?;
        let staged = engine
            .store()
            .transitions(task)
            .unwrap()
            .into_iter()
            .find(|t| t.from_stage == Stage::DeployStaging)
            .ok_or("no staging transition")?;
        check(
            staged.decisions[0].reason.contains(changed),
            format!("{cheat}: gate evidence: {:?}", staged.decisions),
        )?;
        // The judge tree is gone; the task's own branch keeps the cheat.
        let judge = h.config.home.join("judge");
        check(
            fs::read_dir(&judge).map_or(true, |mut d| d.next().is_none()),
            format!("{cheat}: judge trees left in {}", judge.display()),
        )?;
    }
    // The honest control and a task that adds a test, on one repository.
    let (h, engine, repo) = suite_harness(true, None);
    h.actions("developer fix add-test\n");
    let (task, _) = engine
        .create_task_at(repo, "fix it honestly", Stage::Development)
        .unwrap();
    drive(&engine, 20);
    check(
        status(&engine, task) == TaskStatus::Done,
        format!("honest: {:?}", stages(&engine, task)),
    )?;
    let log = fs::read_to_string(
        h.config
            .task_dir(task.get())
            .join("attempts/1/15-staging-log.output.log"),
    )
    .or_else(|_| {
        fs::read_to_string(
            h.config
                .task_dir(task.get())
                .join("15-staging-log.output.log"),
        )
    })
    .unwrap_or_default();
    let staging = h.staging_log(task);
    check(
        staging.contains("added (kept): tests/test_new_developer.sh")
            && (log.is_empty() || log.contains("all passed")),
        format!("{staging}\n{log}"),
    )?;
    Ok(())
}

/// Without `--suite` the staging log says plainly, in one line, that the
/// suite is unpinned, and the suite runs in the task's worktree.
fn an_unpinned_suite_is_said_in_the_log() -> Result<(), Failed> {
    let (h, engine, repo) = suite_harness(false, None);
    h.actions("developer cheat\n");
    let (task, _) = engine
        .create_task_at(repo, "unpinned", Stage::Development)
        .unwrap();
    drive(&engine, 20);
    let log = h.staging_log(task);
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("- suite")).collect();
    check(
        lines.len() == 1
            && lines[0].starts_with("- suite: \"unpinned: repository api names no suite paths"),
        log.clone(),
    )?;
    // Unpinned, the cheat passes: what --suite is for.
    check(
        reached(&engine, task, "deploy"),
        format!("{:?}", stages(&engine, task)),
    )
}

/// A task that truly needs a changed test passes only once the operator
/// approves it: the approval is the operator's transition with the sha256
/// of the suite's diff; the approved test is then used; a later weakening
/// is reverted again. Refused: a task that changed nothing under suite
/// paths, a task that is not a git task.
fn an_approved_suite_change_is_used_and_a_later_weakening_is_reverted() -> Result<(), Failed> {
    let (mut h, _, _) = suite_harness(true, None);
    h.config.developer_retries = 0;
    let engine = h.engine();
    let repo = engine.store().repo_by_name("api").unwrap().unwrap().id;
    h.actions("developer retest\n");
    let (task, _) = engine
        .create_task_at(repo, "rename the state", Stage::Development)
        .unwrap();
    drive(&engine, 10);
    check(
        status(&engine, task) == TaskStatus::Blocked && !reached(&engine, task, "deploy"),
        format!("before approval: {:?}", stages(&engine, task)),
    )?;
    let git_ = orch_launcher::worktree::Git::new(&h.config);
    let approval = {
        let store = engine.store();
        orch_launcher::operator::approve_suite(&store, &git_, task, "the state was renamed")
            .map_err(|e| format!("{e}"))?
    };
    let head = engine.store().task(task).unwrap().head_commit.unwrap();
    let expected = git(
        &h.checkout,
        &[
            "diff",
            "--no-ext-diff",
            "--no-textconv",
            "--no-renames",
            "--binary",
            "--full-index",
            &engine.store().task(task).unwrap().base_commit.unwrap(),
            &head,
            "--",
            ":(glob)tests/**",
            ":(glob)staging.sh",
        ],
    );
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(expected.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    check(
        approval.commit == head && approval.diff_sha256 == sha,
        format!("{approval:?} vs {head} {sha}"),
    )?;
    let history = engine.store().transitions(task).unwrap();
    let approved = history.last().ok_or("no history")?;
    check(
        approved.actor == Some(orch_store::Actor::Operator)
            && approved.from_stage == approved.to_stage
            && approved
                .reason
                .as_deref()
                .is_some_and(|r| r.contains(&sha) && r.contains(&head)),
        format!("{approved:?}"),
    )?;
    // Back to staging: the approved test is used, and the task passes.
    {
        let store = engine.store();
        orch_launcher::operator::retry(&store, task, Some(Stage::DeployStaging), "approved", true)
            .map_err(|e| format!("{e}"))?;
    }
    drive(&engine, 10);
    check(
        status(&engine, task) == TaskStatus::Done,
        format!(
            "after approval: {:?}\n{}",
            stages(&engine, task),
            h.staging_log(task)
        ),
    )?;
    // A second task: approved, then weakened by a later agent run.
    h.actions("developer retest\n");
    let (second, _) = engine
        .create_task_at(repo, "rename again", Stage::Development)
        .unwrap();
    drive(&engine, 10);
    {
        let store = engine.store();
        orch_launcher::operator::approve_suite(&store, &git_, second, "ok")
            .map_err(|e| format!("{e}"))?;
        // Refused: approved already at this head.
        check(
            matches!(
                orch_launcher::operator::approve_suite(&store, &git_, second, "again"),
                Err(orch_launcher::operator::OperatorError::Refused(_))
            ),
            "a second approval of the same head",
        )?;
    }
    // The weakening also breaks the code: only the approved test sees it.
    fs::write(h.state.join("actions"), "developer weaken fix\n").unwrap();
    {
        let store = engine.store();
        orch_launcher::operator::retry(&store, second, Some(Stage::Development), "again", true)
            .map_err(|e| format!("{e}"))?;
    }
    drive(&engine, 10);
    let log = h.staging_log(second);
    check(
        !reached_after_approval(&engine, second)
            && log.contains("staging_status: FAILED")
            && log.contains("the version the operator approved at"),
        format!(
            "weakened after approval: {:?}\n{log}",
            stages(&engine, second)
        ),
    )?;
    // Refused: a task that changed nothing under suite paths.
    h.actions("developer fix\n");
    let (third, _) = engine
        .create_task_at(repo, "no suite change", Stage::Development)
        .unwrap();
    drive(&engine, 1);
    let store = engine.store();
    match orch_launcher::operator::approve_suite(&store, &git_, third, "nothing") {
        Err(orch_launcher::operator::OperatorError::Refused(why)) => {
            check(why.contains("changed nothing"), why)?;
        }
        other => return Err(format!("{other:?}").into()),
    }
    Ok(())
}

/// Whether the task reached deploy after its latest operator transition.
fn reached_after_approval(engine: &Engine, task: TaskId) -> bool {
    let history = engine.store().transitions(task).unwrap();
    let from = history.iter().rposition(|t| t.actor.is_some()).unwrap_or(0);
    history[from..].iter().any(|t| t.to_stage == Stage::Deploy)
}

/// The setup runs in the task's worktree before the first role and in the
/// judge tree before the suite: the suite checks the file it writes (ignored
/// by the repository, so never committed).
fn the_setup_runs_in_the_worktree_and_the_judge_tree() -> Result<(), Failed> {
    let (h, engine, repo) = suite_harness(
        true,
        Some("echo \"$ORCH_COMMIT\" > .setup-done; echo ran >> \"$SETUP_LOG\""),
    );
    // The setup's own record, outside any tree.
    let setup_log = h.state.join("setup-runs");
    // The staging suite passes only where the setup ran.
    engine
        .store()
        .update_repo(
            "api",
            &orch_store::RepoChange {
                staging_command: Some("test -f .setup-done && sh staging.sh".into()),
                setup_command: Some(Some(format!(
                    "echo \"$ORCH_COMMIT\" > .setup-done; echo \"$PWD\" >> '{}'",
                    setup_log.display()
                ))),
                // The record is outside every tree: declared writable, as a
                // cache would be.
                cache_dirs: Some(vec![h.state.to_str().unwrap().to_owned()]),
                ..orch_store::RepoChange::default()
            },
        )
        .unwrap();
    h.actions("developer fix\n");
    let (task, _) = engine
        .create_task_at(repo, "with setup", Stage::Development)
        .unwrap();
    drive(&engine, 20);
    check(
        status(&engine, task) == TaskStatus::Done,
        format!("{:?}\n{}", stages(&engine, task), h.staging_log(task)),
    )?;
    let runs = fs::read_to_string(&setup_log).unwrap_or_default();
    let worktree = h.worktree(task);
    check(
        runs.lines().count() == 2
            && runs
                .lines()
                .next()
                .is_some_and(|l| Path::new(l) == worktree)
            && runs.lines().nth(1).is_some_and(|l| l.contains("/judge/")),
        format!("setup runs: {runs}"),
    )?;
    // Never committed: the branch holds no .setup-done.
    let files = git(
        &h.checkout,
        &["ls-tree", "-r", "--name-only", "orch/task-1"],
    );
    check(!files.contains(".setup-done"), files)
}

/// A failing setup is deferred, then blocks the task with a setup_failed
/// alert quoting its output; no rollback, no developer retry spent.
fn a_failing_setup_is_deferred_then_blocks_with_its_output() -> Result<(), Failed> {
    let (h, engine, repo) = suite_harness(
        true,
        Some("echo 'npm ERR! missing: left-pad@1.3.0'; exit 3"),
    );
    h.actions("developer fix\n");
    let (task, _) = engine
        .create_task_at(repo, "setup fails", Stage::Development)
        .unwrap();
    let first = step(&engine);
    check(
        matches!(first.end, JobEndKind::Deferred { .. }),
        format!("{first:?}"),
    )?;
    let second = step(&engine);
    check(
        blocked_with(&second, orch_store::AlertKind::SetupFailed),
        format!("{second:?}"),
    )?;
    let alerts = alerts(&engine, task);
    check(
        alerts.iter().any(|(kind, message)| {
            *kind == orch_store::AlertKind::SetupFailed
                && message.contains("npm ERR! missing: left-pad@1.3.0")
                && message.contains("exit code 3")
        }),
        format!("{alerts:?}"),
    )?;
    let t = engine.store().task(task).unwrap();
    check(
        t.developer_retries == 0 && !reached(&engine, task, "review") && h.seen().is_empty(),
        format!("{t:?} {:?}", stages(&engine, task)),
    )
}

/// Shadow mode, blind and fair: the stand-in tester that looks for the
/// runner's verdict finds none (it runs after the tester); the pair names
/// both commits, the same one; a tester that commits a failing new test
/// gets a runner that ran it (on the tester's end commit).
fn the_shadow_runner_runs_after_the_tester_on_its_end_commit() -> Result<(), Failed> {
    let (h, _, _) = suite_harness(true, None);
    let mut config = h.config.clone();
    config.test_runner.mode = RunnerMode::Shadow;
    config.test_runner.timeout = Duration::from_secs(20);
    let engine = h.engine_with(config);
    engine
        .store()
        .update_repo(
            "api",
            &orch_store::RepoChange {
                test_command: Some(Some("sh staging.sh".into())),
                ..orch_store::RepoChange::default()
            },
        )
        .unwrap();
    let repo = engine.store().repo_by_name("api").unwrap().unwrap().id;
    h.actions("developer fix\ntester read-shadow add-failing-test\n");
    let (task, _) = engine
        .create_task_at(repo, "shadowed", Stage::Development)
        .unwrap();
    drive(&engine, 3);
    let seen = fs::read_to_string(h.state.join("shadow-seen")).unwrap_or_default();
    check(
        !seen.is_empty() && !seen.contains("shadow") && !seen.contains("test_status"),
        format!("the tester saw: {seen}"),
    )?;
    let pairs = engine.store().shadow_verdicts(task).unwrap();
    let jobs = engine.store().task_jobs(task).unwrap();
    let testing = jobs
        .iter()
        .find(|j| j.stage == Stage::Testing)
        .ok_or("no testing job")?;
    let end = testing.end_commit.clone().ok_or("no end commit")?;
    check(
        testing.start_commit.as_deref() != Some(end.as_str()),
        "the tester committed its test",
    )?;
    check(
        pairs.len() == 1
            && pairs[0].commit.as_deref() == Some(end.as_str())
            && pairs[0].llm_commit.as_deref() == Some(end.as_str())
            && pairs[0].runner_verdict.as_deref() == Some("FAILED")
            && pairs[0].llm_verdict == "PASSED",
        format!("{pairs:?}, tester ended on {end}"),
    )?;
    let agreement = engine.store().shadow_agreement(Stage::Testing).unwrap();
    check(
        agreement.runs == 1 && agreement.runner_only_failed == 1 && agreement.other_commit == 0,
        format!("{agreement:?}"),
    )?;
    let sidecar = fs::read_to_string(
        h.config
            .task_dir(task.get())
            .join("10-test-report.shadow.md"),
    )
    .unwrap_or_default();
    check(
        sidecar.contains(&format!("- commit: \"{end}\""))
            && sidecar.contains("added (kept): tests/test_new_tester.sh"),
        sidecar,
    )
}

// --- 1. a task in its own worktree -------------------------------------------

/// A task on a git repository works in `home/worktrees/<id>` on
/// `orch/task-<id>`, from HEAD; orch commits the developer's change; every
/// job and gate decision names a commit; staging names the commit and a clean
/// tree; deploy sees that commit; at done the folder is gone, the branch and
/// the user's checkout are as they were.
fn a_task_works_in_its_own_worktree_and_reaches_done() -> Result<(), Failed> {
    let h = Harness::new();
    h.actions("developer change\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "test -f change-1.txt && test ! -e unrelated.txt");
    let head = rev(&h.checkout, "HEAD");
    let before = snapshot(&h.checkout);
    check(
        git(&h.checkout, &["status", "--porcelain"]).is_empty(),
        "clean to start",
    )?;

    let created = engine
        .create_task_with(repo, &TaskRequest::new("add a change"))
        .unwrap();
    let task = created.task;
    check(
        created.isolation == TaskIsolation::Worktree,
        format!("{created:?}"),
    )?;
    let base = created.base.clone().ok_or("a git task has a base")?;
    check(
        base.commit == head && base.reference == "HEAD" && base.notes.is_empty(),
        format!("{base:?}"),
    )?;

    let reports = drive(&engine, 20);
    check(
        stages(&engine, task) == full_pipeline(),
        format!("{:?}\n{reports:#?}", stages(&engine, task)),
    )?;
    let wt = h.worktree(task);
    let real_wt = fs::canonicalize(&h.config.home)
        .unwrap()
        .join("worktrees")
        .join(task.to_string());
    let branch = format!("orch/task-{task}");

    // Every agent ran in the worktree, on the task's branch.
    let seen = h.seen();
    check(seen.len() == 5, format!("five LLM roles ran: {seen:?}"))?;
    for line in &seen {
        check(
            line[2] == wt.to_str().unwrap()
                && Path::new(&line[3]) == real_wt
                && line[4] == branch
                && Path::new(&line[5]) == Path::new(&line[3]),
            format!("an agent saw {line:?}, not {}", wt.display()),
        )?;
    }

    // The developer's change is committed on the branch, by orch.
    let tip = rev(&h.checkout, &branch);
    check(
        changed(&h.checkout, &head, &branch) == ["change-1.txt"],
        format!("{:?}", changed(&h.checkout, &head, &branch)),
    )?;
    let log = git(
        &h.checkout,
        &["log", "--format=%an <%ae>|%s", &format!("{head}..{branch}")],
    );
    check(
        log.trim() == "orch <orch@localhost>|orch: task 1 development (developer)",
        format!("the branch's log: {log}"),
    )?;
    let body = git(&h.checkout, &["log", "-1", "--format=%B", &branch]);
    check(
        body.contains("Task: add a change"),
        format!("the commit message: {body}"),
    )?;

    // Every job names the commits it started and ended on.
    for report in &reports {
        let job = engine.store().job(report.job).unwrap();
        let want_start = if matches!(
            job.stage,
            Stage::Analysis | Stage::Architecture | Stage::Development
        ) {
            head.clone()
        } else {
            tip.clone()
        };
        let want_end = if matches!(job.stage, Stage::Analysis | Stage::Architecture) {
            head.clone()
        } else {
            tip.clone()
        };
        check(
            job.start_commit.as_deref() == Some(want_start.as_str())
                && job.end_commit.as_deref() == Some(want_end.as_str()),
            format!(
                "job {} at {}: {:?} → {:?}",
                job.id, job.stage, job.start_commit, job.end_commit
            ),
        )?;
    }
    // Every gate decision names the commit and a clean tree.
    for t in engine.store().transitions(task).unwrap() {
        for d in &t.decisions {
            let want = if matches!(t.from_stage, Stage::Analysis | Stage::Architecture) {
                &head
            } else {
                &tip
            };
            check(
                d.commit_sha.as_deref() == Some(want.as_str()) && d.tree_clean == Some(true),
                format!("{} → {}: {d:?}", t.from_stage, t.to_stage),
            )?;
        }
    }

    // The staging log names the commit and a clean tree; deploy saw it.
    let staging = h.staging_log(task);
    check(
        staging.contains("staging_status: PASSED")
            && staging.contains(&format!("- commit: \"{tip}\""))
            && staging.contains("- tree: \"clean\"")
            && staging.contains(&format!("- branch: \"{branch}\"")),
        staging.clone(),
    )?;
    let deployed = fs::read_to_string(&h.deployed).unwrap_or_default();
    check(
        deployed == tip,
        format!("ORCH_COMMIT was {deployed:?}, tested {tip}"),
    )?;

    // At done: the folder is gone, the record cleared, the branch kept.
    let t = engine.store().task(task).unwrap();
    check(t.status == TaskStatus::Done, format!("{t:?}"))?;
    check(!wt.exists(), format!("{} still exists", wt.display()))?;
    check(
        t.worktree.is_none() && t.branch.as_deref() == Some(branch.as_str()),
        format!("{t:?}"),
    )?;
    check(
        t.head_commit.as_deref() == Some(tip.as_str()),
        format!("{t:?}"),
    )?;
    check(branch_exists(&h.checkout, &branch), "the branch stays")?;
    check(
        !git(&h.checkout, &["worktree", "list", "--porcelain"]).contains("worktrees/1"),
        "git's bookkeeping of the worktree is gone",
    )?;

    // The user's checkout: untouched.
    check(
        git(&h.checkout, &["status", "--porcelain"]).is_empty(),
        git(&h.checkout, &["status", "--porcelain"]),
    )?;
    check(rev(&h.checkout, "HEAD") == head, "HEAD unchanged")?;
    check(
        git(&h.checkout, &["symbolic-ref", "HEAD"]).trim() == "refs/heads/main",
        "still on main",
    )?;
    check(rev(&h.checkout, "main") == head, "main unchanged")?;
    // The prompt tells the agent where it works and what it must not do.
    let prompt = fs::read_to_string(h.state.join("developer.1.prompt")).unwrap_or_default();
    check(
        prompt.contains("on branch `orch/task-1`")
            && prompt.contains("do not commit, switch branches"),
        format!("the prompt names the branch: {prompt}"),
    )?;
    check(
        snapshot(&h.checkout) == before,
        "no file of the checkout changed",
    )
}

/// `keep_worktree`: the folder stays at done, on its branch, recorded.
fn a_kept_worktree_stays_after_done() -> Result<(), Failed> {
    let h = Harness::new();
    h.actions("developer change\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let created = engine
        .create_task_with(
            repo,
            &TaskRequest::new("keep it")
                .with_keep_worktree(true)
                .with_stage(Stage::Development),
        )
        .unwrap();
    drive(&engine, 20);
    let task = created.task;
    let t = engine.store().task(task).unwrap();
    check(t.status == TaskStatus::Done, format!("{t:?}"))?;
    let wt = h.worktree(task);
    check(
        wt.join("change-1.txt").is_file(),
        "the kept worktree holds the change",
    )?;
    check(
        t.worktree.as_deref() == Some(wt.to_str().unwrap()),
        format!("{t:?}"),
    )?;
    check(
        git(&wt, &["symbolic-ref", "--short", "HEAD"]).trim() == "orch/task-1",
        "on its branch",
    )?;
    // The start-up sweep keeps it too.
    let sweep = engine.sweep_worktrees().unwrap();
    check(sweep.removed.is_empty(), format!("{sweep:?}"))?;
    check(wt.is_dir(), "kept by the sweep")
}

// --- 2. tasks side by side ---------------------------------------------------

/// Two tasks on one repository, run interleaved by two engines on one
/// database: each branch holds only its own change; each staging run sees
/// only its own change and names its own commit.
fn interleaved_tasks_each_see_only_their_own_change() -> Result<(), Failed> {
    let h = Harness::new();
    h.actions("developer change\n");
    let a = h.engine_as(h.config.clone(), "worker-a");
    let b = h.engine_as(h.config.clone(), "worker-b");
    let repo = h.repo(
        &a,
        // Fails when the tree holds any other task's change.
        "test \"$(ls change-*.txt | wc -l)\" -eq 1",
    );
    let head = rev(&h.checkout, "HEAD");
    let t1 = a.create_task(repo, "first").unwrap().0;
    let t2 = b.create_task(repo, "second").unwrap().0;
    let t3 = a.create_task(repo, "third").unwrap().0;
    let stop = StopSignal::default();
    let mut order = Vec::new();
    for i in 0..200 {
        let engine = if i % 2 == 0 { &a } else { &b };
        match engine.run_next(&stop).unwrap() {
            Some(report) => order.push(report.task),
            None => {
                if a.store()
                    .jobs_in_state(JobState::Queued, 1)
                    .unwrap()
                    .is_empty()
                {
                    break;
                }
            }
        }
    }
    // They did interleave.
    let first_done = order.iter().rposition(|t| *t == t1).unwrap();
    check(
        order[..first_done].contains(&t2) && order[..first_done].contains(&t3),
        format!("not interleaved: {order:?}"),
    )?;
    let mut tested = Vec::new();
    for task in [t1, t2, t3] {
        check(
            stages(&a, task) == full_pipeline(),
            format!("task {task}: {:?}", stages(&a, task)),
        )?;
        let branch = format!("orch/task-{task}");
        check(
            changed(&h.checkout, &head, &branch) == [format!("change-{task}.txt")],
            format!("{branch}: {:?}", changed(&h.checkout, &head, &branch)),
        )?;
        let log = h.staging_log(task);
        let tip = rev(&h.checkout, &branch);
        check(
            log.contains(&format!("- commit: \"{tip}\"")),
            format!("task {task}'s log names {tip}: {log}"),
        )?;
        tested.push(tip);
    }
    tested.sort();
    tested.dedup();
    check(tested.len() == 3, "three distinct tested commits")?;
    check(
        git(&h.checkout, &["status", "--porcelain"]).is_empty() && rev(&h.checkout, "HEAD") == head,
        "the user's checkout is untouched",
    )
}

// --- 3. tampering ------------------------------------------------------------

/// An agent at testing moves HEAD off the branch: the task is blocked
/// (`worktree_tampered`), nothing is committed for it, no deploy runs.
fn an_agent_that_detaches_head_blocks_the_task() -> Result<(), Failed> {
    let h = Harness::new().unconfined();
    h.actions("developer change\ntester change detach\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let task = engine
        .create_task_at(repo, "detach", Stage::Development)
        .unwrap()
        .0;
    let reports = drive(&engine, 20);
    let last = reports.last().unwrap();
    check(
        last.stage == Stage::Testing && blocked_with(last, orch_store::AlertKind::WorktreeTampered),
        format!("{reports:#?}"),
    )?;
    check(status(&engine, task) == TaskStatus::Blocked, "blocked")?;
    let alerts = alerts(&engine, task);
    check(
        alerts
            .iter()
            .any(|(k, m)| *k == orch_store::AlertKind::WorktreeTampered && m.contains("HEAD")),
        format!("{alerts:?}"),
    )?;
    check(!h.deployed.exists(), "no deploy ran")?;
    // The tester's file was not committed onto the branch.
    let branch = format!("orch/task-{task}");
    check(
        git(&h.checkout, &["log", "--format=%s", &branch])
            .lines()
            .count()
            == 2,
        git(&h.checkout, &["log", "--format=%s", &branch]),
    )?;
    // The blocked job recorded no end commit; the task's head is the developer's.
    let job = engine.store().job(last.job).unwrap();
    check(job.end_commit.is_none(), format!("{job:?}"))?;
    check(
        engine.store().task(task).unwrap().head_commit.as_deref()
            == Some(rev(&h.checkout, &branch).as_str()),
        "head is the developer's commit",
    )
}

/// An LLM tester that adds a test file: its verdict is about the tree it
/// leaves (its commit, clean), not the one it started on; the staging suite
/// then tests that commit.
fn an_llm_testers_verdict_names_the_commit_it_leaves() -> Result<(), Failed> {
    let h = Harness::new();
    h.actions("tester change\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "test -f change-1.txt");
    let task = engine
        .create_task_at(repo, "new tests", Stage::Testing)
        .unwrap()
        .0;
    let start = rev(&h.checkout, "main");
    step(&engine);
    step(&engine);
    let tip = rev(&h.checkout, "orch/task-1");
    check(tip != start, "the tester's file was committed")?;
    let history = engine.store().transitions(task).unwrap();
    let testing = history
        .iter()
        .find(|t| t.from_stage == Stage::Testing)
        .unwrap();
    let staging = history
        .iter()
        .find(|t| t.from_stage == Stage::DeployStaging)
        .unwrap();
    check(
        testing.decisions[0].commit_sha.as_deref() == Some(tip.as_str())
            && testing.decisions[0].tree_clean == Some(true),
        format!("{:?}", testing.decisions),
    )?;
    check(
        staging.decisions[0].commit_sha.as_deref() == Some(tip.as_str())
            && staging.decisions[0].tree_clean == Some(true),
        format!("{:?}", staging.decisions),
    )
}

/// The operator's way out of a tampering block: put the worktree back on its
/// branch, `retry` the task, and it goes on to done from the stage where it
/// stopped; retried without the repair, it is blocked again.
fn a_repaired_worktree_goes_on_after_a_retry() -> Result<(), Failed> {
    let h = Harness::new().unconfined();
    h.actions("developer change\ntester detach\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "test -f change-1.txt");
    let task = engine
        .create_task_at(repo, "repair", Stage::Development)
        .unwrap()
        .0;
    drive(&engine, 20);
    check(status(&engine, task) == TaskStatus::Blocked, "blocked")?;
    // The tester would detach HEAD again: from now on it leaves it alone.
    h.actions("developer change\n");
    // Retried as it is (HEAD still detached): blocked again, nothing run.
    orch_launcher::operator::retry(&engine.store(), task, None, "try as is", false).unwrap();
    let again = step(&engine);
    check(
        blocked_with(&again, orch_store::AlertKind::WorktreeTampered) && again.outcome.is_none(),
        format!("{again:?}"),
    )?;
    // Repaired and retried: on to done, deploying the developer's commit.
    let wt = h.worktree(task);
    git(&wt, &["switch", "--quiet", "orch/task-1"]);
    let (stage, _) =
        orch_launcher::operator::retry(&engine.store(), task, None, "repaired", false).unwrap();
    check(stage == Stage::Testing, format!("retried at {stage}"))?;
    let reports = drive(&engine, 20);
    check(
        status(&engine, task) == TaskStatus::Done,
        format!("{reports:#?}"),
    )?;
    check(
        fs::read_to_string(&h.deployed).unwrap_or_default() == rev(&h.checkout, "orch/task-1"),
        "deployed the branch's tip",
    )
}

/// The staging runner out of scope: the LLM deployer resets the branch →
/// blocked `worktree_tampered`, no deploy.
fn an_llm_deployer_that_resets_the_branch_blocks_the_task() -> Result<(), Failed> {
    let h = Harness::new().unconfined();
    h.actions("developer change\ndeployer reset-back\n");
    let mut config = h.config.clone();
    config.staging_runner.repos = RepoScope::Only(vec![]);
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "true");
    let task = engine
        .create_task_at(repo, "reset", Stage::Development)
        .unwrap()
        .0;
    let reports = drive(&engine, 20);
    let last = reports.last().unwrap();
    check(
        last.stage == Stage::DeployStaging
            && last.spawned()
            && blocked_with(last, orch_store::AlertKind::WorktreeTampered),
        format!("{reports:#?}"),
    )?;
    check(status(&engine, task) == TaskStatus::Blocked, "blocked")?;
    check(!h.deployed.exists(), "no deploy ran")
}

/// The LLM deployer changes a file in the worktree while it "tests" (and
/// writes the PASSED log itself): the stage passes, but the verdict is not
/// about a clean commit, so the deploy refuses and never runs.
fn an_llm_deployer_that_changes_the_tree_gets_no_deploy() -> Result<(), Failed> {
    let h = Harness::new();
    h.actions("deployer change\n");
    let mut config = h.config.clone();
    config.staging_runner.enabled = false;
    let engine = h.engine_with(config);
    let repo = h.repo(&engine, "true");
    let task = engine
        .create_task_at(repo, "sneak", Stage::DeployStaging)
        .unwrap()
        .0;
    let reports = drive(&engine, 20);
    check(
        stages(&engine, task)
            == [
                ("deploy-staging".to_owned(), "deploy".to_owned()),
                ("deploy".to_owned(), "blocked".to_owned()),
            ],
        format!("{:?}\n{reports:#?}", stages(&engine, task)),
    )?;
    let transitions = engine.store().transitions(task).unwrap();
    check(
        transitions[0].decisions[0].tree_clean == Some(false),
        format!(
            "the verdict is not about a clean tree: {:?}",
            transitions[0].decisions
        ),
    )?;
    check(!h.deployed.exists(), "the deploy command never ran")?;
    let log = fs::read_to_string(h.config.task_dir(task.get()).join("17-deploy-log.md")).unwrap();
    check(log.contains("deploy refused"), log.clone())?;
    let alerts = alerts(&engine, task);
    check(
        alerts.iter().any(|(_, m)| m.contains("deploy refused")),
        format!("{alerts:?}"),
    )
}

/// The deploy finalizer's refusal raises the alert it names,
/// `deploy_refused` (reserved.rs), so that an operator can find it by kind.
fn a_refused_deploy_raises_a_deploy_refused_alert() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let task = engine
        .create_task_at(repo, "refuse", Stage::DeployStaging)
        .unwrap()
        .0;
    step(&engine);
    fs::write(h.worktree(task).join("late.txt"), "after staging\n").unwrap();
    let report = step(&engine);
    check(!h.deployed.exists(), "the deploy command never ran")?;
    check(status(&engine, task) == TaskStatus::Blocked, "blocked")?;
    let alerts = alerts(&engine, task);
    check(
        alerts
            .iter()
            .any(|(k, _)| *k == orch_store::AlertKind::DeployRefused),
        format!(
            "no alert of kind deploy_refused: {alerts:?} ({:?})",
            report.end
        ),
    )
}

/// Between the deploy-staging job and the deploy job, by hand: an untracked
/// file, or a commit, in the worktree → the deploy refuses.
fn a_change_after_staging_refuses_the_deploy() -> Result<(), Failed> {
    for how in ["untracked", "modified", "commit", "staged"] {
        let h = Harness::new();
        let engine = h.engine();
        let repo = h.repo(&engine, "true");
        let task = engine
            .create_task_at(repo, how, Stage::DeployStaging)
            .unwrap()
            .0;
        let staged = step(&engine);
        check(
            matches!(
                staged.end,
                JobEndKind::Transition {
                    to: Stage::Deploy,
                    ..
                }
            ),
            format!("{how}: {staged:?}"),
        )?;
        let wt = h.worktree(task);
        match how {
            "untracked" => fs::write(wt.join("late.txt"), "after staging\n").unwrap(),
            "modified" => fs::write(wt.join("src.txt"), "changed after staging\n").unwrap(),
            "staged" => {
                fs::write(wt.join("src.txt"), "changed after staging\n").unwrap();
                git(&wt, &["add", "src.txt"]);
            }
            _ => {
                fs::write(wt.join("late.txt"), "after staging\n").unwrap();
                git(&wt, &["add", "late.txt"]);
                git(&wt, &["commit", "--quiet", "-m", "late"]);
            }
        }
        let deploy = step(&engine);
        check(
            deploy.stage == Stage::Deploy
                && matches!(
                    deploy.end,
                    JobEndKind::Transition {
                        to: Stage::Blocked,
                        ..
                    }
                ),
            format!("{how}: {deploy:?}"),
        )?;
        check(
            !h.deployed.exists(),
            format!("{how}: the deploy command ran"),
        )?;
        let log =
            fs::read_to_string(h.config.task_dir(task.get()).join("17-deploy-log.md")).unwrap();
        check(log.contains("deploy refused"), format!("{how}: {log}"))?;
    }
    Ok(())
}

/// Between staging and deploy, a tracked file is changed and hidden from
/// `git status` (`update-index --assume-unchanged` / `--skip-worktree`): the
/// tree is no longer the commit staging tested, so the deploy refuses.
fn a_change_hidden_from_status_after_staging_refuses_the_deploy() -> Result<(), Failed> {
    for flag in ["--assume-unchanged", "--skip-worktree"] {
        let h = Harness::new();
        let engine = h.engine();
        let repo = h.repo(&engine, "true");
        let task = engine
            .create_task_at(repo, flag, Stage::DeployStaging)
            .unwrap()
            .0;
        step(&engine);
        let wt = h.worktree(task);
        git(&wt, &["update-index", flag, "src.txt"]);
        fs::write(wt.join("src.txt"), "untested content\n").unwrap();
        let deploy = step(&engine);
        check(
            !h.deployed.exists(),
            format!(
                "{flag}: the deploy ran on a tree staging never tested (src.txt changed, hidden from git status): {:?}",
                deploy.end
            ),
        )?;
    }
    Ok(())
}

/// The developer changes a tracked file and hides it from `git status`
/// (`--skip-worktree`): no stage may call that tree clean, so the staging
/// log says dirty and the deploy refuses.
fn an_agent_that_hides_a_change_from_status_gets_no_deploy() -> Result<(), Failed> {
    let h = Harness::new().unconfined();
    h.actions("developer hide\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let task = engine
        .create_task_at(repo, "hide", Stage::Development)
        .unwrap()
        .0;
    let reports = drive(&engine, 20);
    check(
        !h.deployed.exists(),
        format!("the deploy ran on a tree no commit names: {reports:#?}"),
    )?;
    check(status(&engine, task) == TaskStatus::Blocked, "blocked")?;
    let log = h.staging_log(task);
    check(log.contains("- tree: \"dirty"), log.clone())
}

/// By hand, between jobs, the branch is reset to before the task's latest
/// commit: the next job blocks `worktree_tampered` without running.
fn a_branch_reset_between_jobs_blocks_the_next_job() -> Result<(), Failed> {
    let h = Harness::new();
    h.actions("developer change\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let head = rev(&h.checkout, "HEAD");
    let task = engine
        .create_task_at(repo, "reset by hand", Stage::Development)
        .unwrap()
        .0;
    let dev = step(&engine);
    check(
        matches!(
            dev.end,
            JobEndKind::Transition {
                to: Stage::Review,
                ..
            }
        ),
        format!("{dev:?}"),
    )?;
    let wt = h.worktree(task);
    let tip = rev(&wt, "HEAD");
    git(&wt, &["reset", "--quiet", "--hard", &head]);
    let next = step(&engine);
    check(
        blocked_with(&next, orch_store::AlertKind::WorktreeTampered) && !next.spawned(),
        format!("{next:?}"),
    )?;
    let alerts = alerts(&engine, task);
    check(
        alerts
            .iter()
            .any(|(k, m)| *k == orch_store::AlertKind::WorktreeTampered && m.contains(&tip[..12])),
        format!("{alerts:?}"),
    )?;
    check(h.seen().len() == 1, "the reviewer never ran")
}

/// The same, with the branch switched away by hand between jobs.
fn a_switched_branch_between_jobs_blocks_the_next_job() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let task = engine
        .create_task_at(repo, "switched", Stage::Review)
        .unwrap()
        .0;
    step(&engine);
    git(&h.worktree(task), &["switch", "--quiet", "-c", "elsewhere"]);
    let next = step(&engine);
    check(
        blocked_with(&next, orch_store::AlertKind::WorktreeTampered),
        format!("{next:?}"),
    )?;
    check(h.seen().len() == 1, "the tester never ran")
}

/// A staging suite that commits, or moves HEAD, does not get a clean
/// verdict: the deploy refuses, or the next job blocks.
fn a_staging_suite_that_touches_git_gets_no_deploy() -> Result<(), Failed> {
    for (suite, expect) in [
        (
            "echo x > made.txt && git -c core.hooksPath=/dev/null add made.txt && git -c core.hooksPath=/dev/null -c user.name=s -c user.email=s@s commit -q -m suite",
            "deploy_refused",
        ),
        ("echo built > output.txt", "deploy_refused"),
        ("git checkout --quiet --detach", "worktree_tampered"),
    ] {
        let h = Harness::new().unconfined();
        let engine = h.engine();
        let repo = h.repo(&engine, suite);
        let task = engine
            .create_task_at(repo, "suite", Stage::DeployStaging)
            .unwrap()
            .0;
        let reports = drive(&engine, 5);
        check(
            !h.deployed.exists(),
            format!("{suite}: the deploy ran: {reports:#?}"),
        )?;
        check(
            status(&engine, task) == TaskStatus::Blocked,
            format!("{suite}: {reports:#?}"),
        )?;
        let last = reports.last().unwrap();
        let ok = match expect {
            "worktree_tampered" => blocked_with(last, orch_store::AlertKind::WorktreeTampered),
            _ => {
                let transitions = engine.store().transitions(task).unwrap();
                transitions[0].decisions[0].tree_clean == Some(false)
                    && matches!(
                        last.end,
                        JobEndKind::Transition {
                            to: Stage::Blocked,
                            ..
                        }
                    )
            }
        };
        check(ok, format!("{suite}: {reports:#?}"))?;
    }
    Ok(())
}

// --- 4. hostile git configuration --------------------------------------------

/// The first layer, the kernel's: with the sandbox on (this machine's and
/// CI's kernel have Landlock), an agent's every write to the shared git
/// state is denied — hooks, a filter in the repository's config, a replace
/// ref, a detached HEAD, a reset branch, its own commit — and so is a write
/// to the user's checkout or orch's database. None of it becomes a verdict:
/// the role fails closed and the task never deploys. An honest task on the
/// same repository reaches done.
fn the_sandbox_keeps_agents_out_of_the_shared_git_state() -> Result<(), Failed> {
    let h = Harness::new();
    check(
        h.config.sandbox.mode == SandboxMode::Required,
        format!(
            "this kernel cannot enforce the sandbox ({:?}); the test needs Landlock ABI 6",
            orch_process::sandbox::check_required()
        ),
    )?;
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let common = h.checkout.join(".git");
    let config_before = fs::read_to_string(common.join("config")).unwrap();
    let head_before = rev(&h.checkout, "HEAD");
    let db = h.db.display().to_string();
    let checkout = h.checkout.display().to_string();
    let mut hostile = Vec::new();
    for action in [
        "plant-hook",
        "plant-filter",
        "replace",
        "detach",
        "reset-back",
        "change commit",
    ] {
        h.actions(&format!("developer {action}\n"));
        let task = engine
            .create_task_at(repo, action, Stage::Development)
            .unwrap()
            .0;
        drive(&engine, 6);
        check(
            !reached(&engine, task, "review") && !reached(&engine, task, "deploy"),
            format!("{action}: {:?}", stages(&engine, task)),
        )?;
        // Only orch committed (what the role left in its worktree): the
        // agent's own commit and reset were denied.
        let branch = format!("orch/task-{task}");
        let log = git(
            &h.checkout,
            &["log", "--format=%s", &format!("{head_before}..{branch}")],
        );
        check(
            log.lines().all(|subject| subject.starts_with("orch: ")),
            format!("{action}: commits not orch's: {log}"),
        )?;
        check(
            git(
                &h.checkout,
                &["merge-base", "--is-ancestor", &head_before, &branch],
            )
            .is_empty(),
            format!("{action}: the branch lost its base"),
        )?;
        hostile.push(task);
    }
    // Nothing the agents tried landed in the shared git state.
    check(
        !common.join("hooks/pre-commit").exists(),
        "a hook was planted",
    )?;
    check(
        fs::read_to_string(common.join("config")).unwrap() == config_before,
        "the repository's config changed",
    )?;
    check(
        !common.join("refs/replace").exists()
            && git(&h.checkout, &["replace", "-l"]).trim().is_empty(),
        "a replace ref was made",
    )?;
    check(
        rev(&h.checkout, "HEAD") == head_before,
        "the checkout's HEAD moved",
    )?;
    check(h.marker().is_none(), format!("{:?}", h.marker()))?;
    // Writes outside the worktree: the user's checkout and orch's database.
    h.actions("developer change escape\nreviewer change\n");
    fs::write(
        h.state.join("escape.sh"),
        format!(
            "echo x >> '{checkout}/escaped' 2>/dev/null && echo CHECKOUT >> '{state}/escapes'\n\
             echo x >> '{db}' 2>/dev/null && echo DB >> '{state}/escapes'\n\
             exit 0\n",
            state = h.state.display()
        ),
    )
    .unwrap();
    let honest = engine
        .create_task_at(repo, "honest", Stage::Development)
        .unwrap()
        .0;
    drive(&engine, 20);
    check(
        status(&engine, honest) == TaskStatus::Done,
        format!("{:?}", stages(&engine, honest)),
    )?;
    check(
        !h.state.join("escapes").exists() && !h.checkout.join("escaped").exists(),
        format!(
            "a write outside the worktree went through: {:?}",
            fs::read_to_string(h.state.join("escapes"))
        ),
    )?;
    check(
        Store::open(&h.db).is_ok(),
        "the database is still a database",
    )?;
    for task in hostile {
        check(
            status(&engine, task) != TaskStatus::Done,
            format!("hostile task {task} is done"),
        )?;
    }
    Ok(())
}

/// An agent plants hooks in the repository's .git/hooks, sets
/// core.hooksPath, core.fsmonitor and a gpg program: orch's commit after the
/// role still happens, and none of them ever runs.
fn planted_hooks_never_run_under_orch() -> Result<(), Failed> {
    let h = Harness::new().unconfined();
    h.actions(
        "architect plant-hook hooks-path fsmonitor gpg\n\
         developer change\n\
         reviewer change\n",
    );
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let head = rev(&h.checkout, "HEAD");
    let task = engine
        .create_task_at(repo, "hostile", Stage::Architecture)
        .unwrap()
        .0;
    let reports = drive(&engine, 20);
    check(
        status(&engine, task) == TaskStatus::Done,
        format!("{:?}\n{reports:#?}", stages(&engine, task)),
    )?;
    let branch = format!("orch/task-{task}");
    // The hooks really are in place (the test would prove nothing otherwise).
    let common = h.checkout.join(".git");
    check(
        common.join("hooks/pre-commit").is_file(),
        "a hook was planted",
    )?;
    check(
        fs::read_to_string(common.join("config"))
            .unwrap()
            .contains("fsmonitor.sh"),
        "the fsmonitor was set",
    )?;
    let log = git(
        &h.checkout,
        &["log", "--format=%s", &format!("{head}..{branch}")],
    );
    check(
        log.lines().collect::<Vec<_>>()
            == [
                "orch: task 1 review (reviewer)",
                "orch: task 1 development (developer)",
            ],
        format!("orch committed after each role: {log}"),
    )?;
    check(
        h.marker().is_none(),
        format!("a planted script ran: {:?}", h.marker()),
    )?;
    // And they are live: the same commit made as a user makes it sets them
    // off (so the test above can fail).
    let wt = h.config.home.join("worktrees").join("probe");
    let wt_arg = wt.to_string_lossy().into_owned();
    git(
        &h.checkout,
        &["worktree", "add", "--quiet", "-b", "probe", &wt_arg],
    );
    fs::write(wt.join("probe.txt"), "probe\n").unwrap();
    raw_git(&wt, &["add", "probe.txt"]).map_err(|e| format!("add: {e}"))?;
    let _ = raw_git(&wt, &["commit", "--quiet", "-m", "probe"]);
    let marker = h.marker().unwrap_or_default();
    check(
        marker.contains("pre-commit") && marker.contains("fsmonitor.sh"),
        format!("the planted scripts are live: {marker:?}"),
    )
}

/// An agent points the worktree's `.git` at the repository's main git dir
/// (the user's checkout's HEAD and index): orch refuses to commit there, and
/// the user's branch is untouched.
fn an_agent_that_repoints_the_worktree_git_file_is_refused() -> Result<(), Failed> {
    let h = Harness::new();
    h.actions("developer change steal-git\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let head = rev(&h.checkout, "HEAD");
    let task = engine
        .create_task_at(repo, "steal", Stage::Development)
        .unwrap()
        .0;
    let report = step(&engine);
    check(
        blocked_with(&report, orch_store::AlertKind::WorktreeTampered),
        format!("{report:?}"),
    )?;
    check(status(&engine, task) == TaskStatus::Blocked, "blocked")?;
    check(rev(&h.checkout, "main") == head, "main unchanged")?;
    check(
        git(&h.checkout, &["diff", "--cached", "--name-only"]).is_empty(),
        "nothing staged in the user's index",
    )
}

// --- 5. orch's own git is never steered by the repository ----------------------
//
// Each test plants what an agent could write into the shared `.git` (or has
// the stand-in agent plant it), runs the task, and checks that no verdict is
// turned into a lie: whatever staging called clean is a commit that really
// holds the tree it tested. Then an honest task on the same repository, with
// the planted state still there, reaches done.

/// The blob at `path` in `commit`, read past any replace ref.
fn blob(repo: &Path, commit: &str, path: &str) -> Option<String> {
    try_git(
        repo,
        &[
            "--no-replace-objects",
            "cat-file",
            "blob",
            &format!("{commit}:{path}"),
        ],
    )
    .ok()
}

/// What the staging log says it tested: the commit, and whether the tree
/// was clean.
fn tested(h: &Harness, task: TaskId) -> Option<(String, bool)> {
    let log = h.staging_log(task);
    let commit = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("- commit: \""))?
        .trim_end_matches('"')
        .to_owned();
    Some((commit, log.contains("- tree: \"clean\"")))
}

/// The attack left no lie: if staging passed on a clean tree, the commit it
/// names holds `path` as `content` (the tree the suite really ran on), and
/// the deploy, if any, deployed that commit.
fn no_lie(h: &Harness, task: TaskId, path: &str, content: &str) -> Result<(), Failed> {
    let log = h.staging_log(task);
    if let Some((commit, true)) = tested(h, task)
        && log.contains("staging_status: PASSED")
    {
        let held = blob(&h.checkout, &commit, path);
        check(
            held.as_deref() == Some(content),
            format!(
                "staging called commit {commit} clean, but its {path} is {held:?}, while the tree it tested held {content:?}:\n{log}"
            ),
        )?;
    }
    if let Ok(deployed) = fs::read_to_string(&h.deployed) {
        let held = blob(&h.checkout, &deployed, path);
        check(
            held.as_deref() == Some(content),
            format!("the deploy named {deployed}, whose {path} is {held:?}, not {content:?}"),
        )?;
    }
    Ok(())
}

/// The honest control: with what the attack left in the repository, a new
/// task whose developer writes its change reaches done, its change
/// committed byte for byte, and nothing planted ran.
fn an_honest_task_still_reaches_done(
    h: &Harness,
    engine: &Engine,
    repo: RepoId,
) -> Result<(), Failed> {
    h.actions("developer change\n");
    let task = engine
        .create_task_at(repo, "honest control", Stage::Development)
        .unwrap()
        .0;
    let reports = drive(engine, 20);
    check(
        status(engine, task) == TaskStatus::Done,
        format!(
            "the honest task did not reach done: {:?}\n{reports:#?}",
            stages(engine, task)
        ),
    )?;
    let branch = format!("orch/task-{task}");
    let held = blob(&h.checkout, &branch, &format!("change-{task}.txt"));
    check(
        held == Some(format!("task {task} by developer\n")),
        format!("the honest task's change was committed as {held:?}"),
    )?;
    check(
        blob(&h.checkout, &branch, "src.txt").as_deref() == Some("source\n"),
        "the honest task's worktree was checked out as the commit holds it",
    )?;
    check(
        h.marker().is_none(),
        format!("something planted ran: {:?}", h.marker()),
    )
}

/// One task plants a clean/smudge filter for every path (info/attributes
/// and filter.evil.* in .git/config, `required`) that would turn its
/// backdoored src.txt back into the committed content: orch never runs it,
/// the backdoor is committed as written, and a later honest task's
/// `worktree add` and `add` run no filter either.
fn a_planted_filter_never_runs_and_hides_nothing() -> Result<(), Failed> {
    let h = Harness::new().unconfined();
    h.actions("developer plant-filter backdoor\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let task = engine
        .create_task_at(repo, "filter", Stage::Development)
        .unwrap()
        .0;
    let reports = drive(&engine, 20);
    // Planted, really.
    let config = fs::read_to_string(h.checkout.join(".git/config")).unwrap();
    check(
        config.contains("filter.sh clean")
            && fs::read_to_string(h.checkout.join(".git/info/attributes"))
                .unwrap_or_default()
                .contains("filter=evil"),
        "the filter was planted",
    )?;
    check(
        h.marker().is_none(),
        format!("the planted filter ran under orch: {:?}", h.marker()),
    )?;
    let branch = format!("orch/task-{task}");
    check(
        blob(&h.checkout, &branch, "src.txt").as_deref() == Some("BACKDOOR\n"),
        format!(
            "the branch does not hold src.txt as the agent wrote it: {:?}\n{reports:#?}",
            blob(&h.checkout, &branch, "src.txt")
        ),
    )?;
    no_lie(&h, task, "src.txt", "BACKDOOR\n")?;
    an_honest_task_still_reaches_done(&h, &engine, repo)
}

/// The agent stages a backdoor and plants a replace ref that makes HEAD's
/// sha name a commit holding it: orch reads objects as they are, sees the
/// change, and commits it; no verdict names a sha whose real content was
/// not what was tested.
fn a_replace_ref_never_names_other_content() -> Result<(), Failed> {
    let h = Harness::new().unconfined();
    h.actions("developer replace\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let head = rev(&h.checkout, "HEAD");
    let task = engine
        .create_task_at(repo, "replace", Stage::Development)
        .unwrap()
        .0;
    let reports = drive(&engine, 20);
    check(
        try_git(
            &h.checkout,
            &["rev-parse", "--verify", &format!("refs/replace/{head}")],
        )
        .is_ok(),
        "the replace ref was planted",
    )?;
    let branch = format!("orch/task-{task}");
    check(
        blob(&h.checkout, &branch, "src.txt").as_deref() == Some("BACKDOOR\n"),
        format!(
            "the branch does not really hold the backdoor: {:?}\n{reports:#?}",
            blob(&h.checkout, &branch, "src.txt")
        ),
    )?;
    no_lie(&h, task, "src.txt", "BACKDOOR\n")?;
    an_honest_task_still_reaches_done(&h, &engine, repo)
}

/// `status.showUntrackedFiles=no` in the repository's config: the
/// developer's new file is still seen, and committed.
fn a_planted_show_untracked_files_no_hides_nothing() -> Result<(), Failed> {
    let h = Harness::new().unconfined();
    git(&h.checkout, &["config", "status.showUntrackedFiles", "no"]);
    h.actions("developer change\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let head = rev(&h.checkout, "HEAD");
    let task = engine
        .create_task_at(repo, "untracked hidden", Stage::Development)
        .unwrap()
        .0;
    let reports = drive(&engine, 20);
    let branch = format!("orch/task-{task}");
    check(
        changed(&h.checkout, &head, &branch) == ["change-1.txt"],
        format!(
            "the new file was not committed: {:?}\n{reports:#?}",
            changed(&h.checkout, &head, &branch)
        ),
    )?;
    no_lie(&h, task, "change-1.txt", "task 1 by developer\n")?;
    an_honest_task_still_reaches_done(&h, &engine, repo)
}

/// `core.checkStat=minimal` (or `core.trustctime=false`) in the
/// repository's config, and a change of as many bytes with its mtime put
/// back: only ctime tells, and orch still sees it and commits it.
fn a_planted_lax_stat_setting_hides_nothing() -> Result<(), Failed> {
    for (key, value) in [("core.checkStat", "minimal"), ("core.trustctime", "false")] {
        let h = Harness::new().unconfined();
        git(&h.checkout, &["config", key, value]);
        h.actions("developer same-size\n");
        let engine = h.engine();
        let repo = h.repo(&engine, "true");
        let task = engine
            .create_task_at(repo, "same size", Stage::Development)
            .unwrap()
            .0;
        let reports = drive(&engine, 20);
        let branch = format!("orch/task-{task}");
        check(
            blob(&h.checkout, &branch, "src.txt").as_deref() == Some("SOURCE\n"),
            format!(
                "{key}={value}: the same-size change was not committed: {:?}\n{reports:#?}",
                blob(&h.checkout, &branch, "src.txt")
            ),
        )?;
        no_lie(&h, task, "src.txt", "SOURCE\n")?;
        an_honest_task_still_reaches_done(&h, &engine, repo)?;
    }
    Ok(())
}

/// The agent turns on `extensions.worktreeConfig` and sets `core.worktree`
/// of its worktree to a decoy folder holding an untouched copy of HEAD:
/// orch names the worktree itself, sees the backdoor, and commits it.
fn a_core_worktree_decoy_never_steers_orch() -> Result<(), Failed> {
    let h = Harness::new().unconfined();
    h.actions("developer decoy\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let task = engine
        .create_task_at(repo, "decoy", Stage::Development)
        .unwrap()
        .0;
    let reports = drive(&engine, 20);
    check(
        h.state.join("decoy/src.txt").is_file(),
        "the decoy was planted",
    )?;
    let branch = format!("orch/task-{task}");
    check(
        blob(&h.checkout, &branch, "src.txt").as_deref() == Some("BACKDOOR\n"),
        format!(
            "orch judged the decoy, not the worktree: {:?}\n{reports:#?}",
            blob(&h.checkout, &branch, "src.txt")
        ),
    )?;
    no_lie(&h, task, "src.txt", "BACKDOOR\n")?;
    an_honest_task_still_reaches_done(&h, &engine, repo)
}

/// The developer commits code in a repository of its own inside the
/// worktree (`git init nested`): `git add` would record only a gitlink to
/// a commit the repository does not hold. orch refuses to commit it (the
/// task is blocked, `worktree_tampered`); a gitlink that `.gitmodules` does
/// not declare, committed by hand, blocks the testing stage; a declared one
/// goes through.
fn a_nested_repository_is_refused_not_committed_as_a_gitlink() -> Result<(), Failed> {
    let h = Harness::new();
    h.actions("developer change nested-repo\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let head = rev(&h.checkout, "HEAD");
    let task = engine
        .create_task_at(repo, "nested", Stage::Development)
        .unwrap()
        .0;
    let dev = step(&engine);
    check(
        blocked_with(&dev, orch_store::AlertKind::WorktreeTampered),
        format!("the nested repository was not refused: {dev:?}"),
    )?;
    check(
        rev(&h.checkout, &format!("orch/task-{task}")) == head,
        "nothing of that run was committed",
    )?;
    let alerts = alerts(&engine, task);
    check(
        alerts
            .iter()
            .any(|(k, m)| *k == orch_store::AlertKind::WorktreeTampered && m.contains("nested")),
        format!("the alert names the nested repository: {alerts:?}"),
    )?;
    check(!h.deployed.exists(), "nothing deployed")?;

    // A gitlink committed by hand between jobs, not declared: the testing
    // stage (where the tree is evidence) refuses to start on it.
    h.actions("");
    let by_hand = engine
        .create_task_at(repo, "gitlink by hand", Stage::Review)
        .unwrap()
        .0;
    step(&engine);
    let wt = h.worktree(by_hand);
    let gitlink = format!("160000,{head},vendor/lib");
    git(&wt, &["update-index", "--add", "--cacheinfo", &gitlink]);
    git(
        &wt,
        &[
            "-c",
            "user.name=u",
            "-c",
            "user.email=u@u",
            "commit",
            "-q",
            "-m",
            "gitlink",
        ],
    );
    let testing = step(&engine);
    check(
        blocked_with(&testing, orch_store::AlertKind::WorktreeTampered) && !testing.spawned(),
        format!("an undeclared gitlink went to testing: {testing:?}"),
    )?;

    // Declared in .gitmodules: a submodule, and no reason to stop.
    let declared = engine
        .create_task_at(repo, "declared submodule", Stage::Review)
        .unwrap()
        .0;
    step(&engine);
    let wt = h.worktree(declared);
    fs::write(
        wt.join(".gitmodules"),
        "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = ./lib\n",
    )
    .unwrap();
    git(&wt, &["add", ".gitmodules"]);
    git(&wt, &["update-index", "--add", "--cacheinfo", &gitlink]);
    git(
        &wt,
        &[
            "-c",
            "user.name=u",
            "-c",
            "user.email=u@u",
            "commit",
            "-q",
            "-m",
            "submodule",
        ],
    );
    let reports = drive(&engine, 20);
    check(
        status(&engine, declared) == TaskStatus::Done,
        format!("a declared submodule was refused: {reports:#?}"),
    )?;
    an_honest_task_still_reaches_done(&h, &engine, repo)
}

/// git's stdout is cut at the cap (here 4 KiB, and 300 new files make the
/// status longer): orch judges no tree from a partial listing. The commit
/// after the role fails closed — nothing committed, no verdict — and the
/// task is blocked; a task with a short listing is unaffected.
fn a_truncated_git_listing_fails_closed() -> Result<(), Failed> {
    let h = Harness::new();
    h.actions("developer many\n");
    let engine = h
        .engine()
        .with_git(Git::new(&h.config).with_stdout_cap(4096));
    let repo = h.repo(&engine, "true");
    let head = rev(&h.checkout, "HEAD");
    let task = engine
        .create_task_at(repo, "many files", Stage::Development)
        .unwrap()
        .0;
    let reports = drive(&engine, 20);
    check(
        status(&engine, task) == TaskStatus::Blocked,
        format!(
            "a cut listing was judged: {:?}\n{reports:#?}",
            stages(&engine, task)
        ),
    )?;
    check(
        rev(&h.checkout, &format!("orch/task-{task}")) == head,
        "nothing was committed from a cut listing",
    )?;
    check(h.staging_log(task).is_empty(), "no staging verdict")?;
    let alerts = alerts(&engine, task);
    check(
        alerts.iter().any(|(_, m)| m.contains("4096")),
        format!("the alert says what was cut: {alerts:?}"),
    )?;
    an_honest_task_still_reaches_done(&h, &engine, repo)
}

// --- 6. bad input and broken state -------------------------------------------

/// A base ref that names no commit (or looks like an option): no task.
fn an_unknown_base_ref_creates_no_task() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    for bad in ["nope", "--output=/tmp/x", "HEAD~5", ""] {
        let result = engine.create_task_with(
            repo,
            &TaskRequest::new("bad base").with_base(Some(bad.into())),
        );
        check(
            matches!(
                &result,
                Err(EngineError::Workspace(WorktreeError::UnknownRef { reference, .. })) if reference == bad
            ),
            format!("{bad:?}: {result:?}"),
        )?;
    }
    check(engine.store().tasks(100).unwrap().is_empty(), "no task row")?;
    check(
        engine
            .store()
            .jobs_in_state(JobState::Queued, 10)
            .unwrap()
            .is_empty(),
        "no job row",
    )
}

/// The request's base ref, else the repository's, names the start commit.
fn a_base_ref_names_the_start_commit() -> Result<(), Failed> {
    let h = Harness::new();
    let first = rev(&h.checkout, "HEAD");
    git(&h.checkout, &["tag", "v1"]);
    fs::write(h.checkout.join("src.txt"), "second\n").unwrap();
    git(&h.checkout, &["commit", "--quiet", "-am", "second"]);
    let second = rev(&h.checkout, "HEAD");
    let engine = h.engine();
    let repo = h.repo_at(&engine, "api", &h.checkout, "true", Some("v1"));
    let from_repo = engine
        .create_task_with(repo, &TaskRequest::new("from the repo's base"))
        .unwrap();
    check(
        from_repo
            .base
            .as_ref()
            .is_some_and(|b| b.commit == first && b.reference == "v1"),
        format!("{from_repo:?}"),
    )?;
    let from_request = engine
        .create_task_with(
            repo,
            &TaskRequest::new("from main").with_base(Some("main".into())),
        )
        .unwrap();
    check(
        from_request
            .base
            .as_ref()
            .is_some_and(|b| b.commit == second),
        format!("{from_request:?}"),
    )?;
    // The worktrees start there.
    step(&engine);
    step(&engine);
    check(
        rev(&h.worktree(from_repo.task), "HEAD") == first,
        "the first task's worktree is at v1",
    )?;
    check(
        rev(&h.worktree(from_request.task), "HEAD") == second,
        "the second task's worktree is at main",
    )?;
    check(
        fs::read_to_string(h.worktree(from_repo.task).join("src.txt")).unwrap() == "source\n",
        "v1's file",
    )
}

/// A repository with no commit yet: `NoCommit`, no task.
fn a_repository_without_a_commit_is_refused() -> Result<(), Failed> {
    let h = Harness::bare();
    git(&h.checkout, &["init", "--quiet", "-b", "main"]);
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let result = engine.create_task_with(repo, &TaskRequest::new("nothing yet"));
    check(
        matches!(
            result,
            Err(EngineError::Workspace(WorktreeError::NoCommit { .. }))
        ),
        format!("{result:?}"),
    )?;
    check(engine.store().tasks(10).unwrap().is_empty(), "no task row")
}

/// A folder inside a repository but not its top: refused.
fn a_folder_inside_a_repository_is_refused() -> Result<(), Failed> {
    let h = Harness::new();
    let sub = h.checkout.join("sub");
    fs::create_dir_all(&sub).unwrap();
    let engine = h.engine();
    let repo = h.repo_at(&engine, "sub", &sub, "true", None);
    let result = engine.create_task_with(repo, &TaskRequest::new("inside"));
    check(
        matches!(
            result,
            Err(EngineError::Workspace(WorktreeError::NotTopLevel { .. }))
        ),
        format!("{result:?}"),
    )
}

/// A plain folder: the task runs in the folder itself; a base ref for it is
/// refused.
fn a_plain_folder_runs_in_its_checkout() -> Result<(), Failed> {
    let h = Harness::bare();
    fs::write(h.checkout.join("file.txt"), "plain\n").unwrap();
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let with_base = engine.create_task_with(
        repo,
        &TaskRequest::new("based").with_base(Some("main".into())),
    );
    check(
        matches!(with_base, Err(EngineError::BaseWithoutGit { .. })),
        format!("{with_base:?}"),
    )?;
    check(engine.store().tasks(10).unwrap().is_empty(), "no task row")?;
    let created = engine
        .create_task_with(
            repo,
            &TaskRequest::new("plain").with_stage(Stage::Development),
        )
        .unwrap();
    check(
        created.isolation == TaskIsolation::Checkout && created.base.is_none(),
        format!("{created:?}"),
    )?;
    h.actions("developer change\n");
    drive(&engine, 20);
    check(
        status(&engine, created.task) == TaskStatus::Done,
        format!("{:?}", stages(&engine, created.task)),
    )?;
    let seen = h.seen();
    check(
        !seen.is_empty() && seen.iter().all(|l| l[2] == h.checkout.to_str().unwrap()),
        format!("{seen:?}"),
    )?;
    check(
        h.checkout.join("change-1.txt").is_file(),
        "the change is in the folder",
    )?;
    check(
        !h.config.home.join("worktrees").join("1").exists(),
        "no worktree for a plain folder",
    )?;
    let log = h.staging_log(created.task);
    check(log.contains("- commit: \"none"), log.clone())?;
    // Jobs of a checkout task record no commit.
    let t = engine.store().transitions(created.task).unwrap();
    check(
        t.iter()
            .all(|t| t.decisions.iter().all(|d| d.commit_sha.is_none())),
        format!("{t:?}"),
    )
}

/// A dirty checkout: the task starts from HEAD, with a note; the dirty and
/// untracked files are not in the worktree; the checkout stays dirty as the
/// user left it.
fn a_dirty_checkout_starts_from_head_without_its_changes() -> Result<(), Failed> {
    let h = Harness::new();
    fs::write(h.checkout.join("src.txt"), "work in progress\n").unwrap();
    fs::write(h.checkout.join("scratch.txt"), "untracked\n").unwrap();
    let before = snapshot(&h.checkout);
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let created = engine
        .create_task_with(repo, &TaskRequest::new("from a dirty checkout"))
        .unwrap();
    let base = created.base.clone().unwrap();
    check(
        base.commit == rev(&h.checkout, "HEAD")
            && base.notes.len() == 1
            && base.notes[0].contains("2 uncommitted paths"),
        format!("{base:?}"),
    )?;
    step(&engine);
    let wt = h.worktree(created.task);
    check(
        fs::read_to_string(wt.join("src.txt")).unwrap() == "source\n",
        "the worktree has the committed file",
    )?;
    check(
        !wt.join("scratch.txt").exists(),
        "no untracked file of the user",
    )?;
    check(
        snapshot(&h.checkout) == before,
        "the user's work is untouched",
    )
}

/// A detached checkout: the task starts from its commit, with a note.
fn a_detached_checkout_is_noted() -> Result<(), Failed> {
    let h = Harness::new();
    git(&h.checkout, &["checkout", "--quiet", "--detach"]);
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let created = engine
        .create_task_with(repo, &TaskRequest::new("detached"))
        .unwrap();
    let base = created.base.unwrap();
    check(
        base.commit == rev(&h.checkout, "HEAD")
            && base.notes.iter().any(|n| n.contains("detached")),
        format!("{base:?}"),
    )
}

/// The task's branch already exists before its first job: deferred, then
/// blocked `worktree_unavailable`; the branch is untouched.
fn a_taken_branch_defers_then_blocks() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    // Someone else's branch, at another commit.
    git(&h.checkout, &["switch", "--quiet", "-c", "orch/task-1"]);
    fs::write(h.checkout.join("theirs.txt"), "theirs\n").unwrap();
    git(&h.checkout, &["add", "theirs.txt"]);
    git(&h.checkout, &["commit", "--quiet", "-m", "theirs"]);
    let theirs = rev(&h.checkout, "HEAD");
    git(&h.checkout, &["switch", "--quiet", "main"]);
    let task = engine.create_task(repo, "collide").unwrap().0;
    check(task == TaskId::new(1), "task 1")?;
    let first = step(&engine);
    check(
        matches!(first.end, JobEndKind::Deferred { .. }),
        format!("{first:?}"),
    )?;
    let second = step(&engine);
    check(
        blocked_with(&second, orch_store::AlertKind::WorktreeUnavailable),
        format!("{second:?}"),
    )?;
    let alerts = alerts(&engine, task);
    check(
        alerts.iter().any(|(k, m)| {
            *k == orch_store::AlertKind::WorktreeUnavailable && m.contains("orch/task-1")
        }),
        format!("{alerts:?}"),
    )?;
    check(
        rev(&h.checkout, "orch/task-1") == theirs,
        "their branch is untouched",
    )?;
    check(h.seen().is_empty(), "no agent ran")?;
    let t = engine.store().task(task).unwrap();
    check(
        t.branch.is_none() && t.worktree.is_none(),
        format!("the task never claimed the branch: {t:?}"),
    )?;
    check(!h.worktree(task).exists(), "no worktree made")
}

/// The worktree folder deleted by hand between jobs: made again from the
/// branch, the task reaches done with the earlier commit intact.
fn a_deleted_worktree_is_made_again_from_its_branch() -> Result<(), Failed> {
    let h = Harness::new();
    h.actions("developer change\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "test -f change-1.txt");
    let task = engine
        .create_task_at(repo, "rm -rf", Stage::Development)
        .unwrap()
        .0;
    step(&engine);
    let wt = h.worktree(task);
    let tip = rev(&wt, "HEAD");
    fs::remove_dir_all(&wt).unwrap();
    let reports = drive(&engine, 20);
    check(
        status(&engine, task) == TaskStatus::Done,
        format!("{:?}\n{reports:#?}", stages(&engine, task)),
    )?;
    check(
        rev(&h.checkout, "orch/task-1") == tip,
        "the developer's commit is the branch's tip",
    )?;
    check(
        fs::read_to_string(&h.deployed).unwrap_or_default() == tip,
        "deployed the developer's commit",
    )
}

/// A crash inside `git worktree add` leaves a half-made `<id>.partial`
/// folder (files missing): the next job throws it away and makes the
/// worktree whole; no missing file is ever committed as a deletion.
fn a_half_made_worktree_from_a_crash_is_made_again() -> Result<(), Failed> {
    let h = Harness::new();
    h.actions("developer change\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "test -f change-1.txt && test -f src.txt");
    let task = engine
        .create_task_at(repo, "crash in add", Stage::Development)
        .unwrap()
        .0;
    // What a killed `git worktree add` leaves: the branch and folder named
    // on the task (that comes first), the folder half checked out.
    engine
        .store()
        .set_task_worktree(task, "orch/task-1", h.worktree(task).to_str().unwrap())
        .unwrap();
    let partial = h.worktree(task).with_file_name("1.partial");
    git(
        &h.checkout,
        &[
            "worktree",
            "add",
            "--quiet",
            "-b",
            "orch/task-1",
            partial.to_str().unwrap(),
        ],
    );
    fs::remove_file(partial.join("src.txt")).unwrap();
    let reports = drive(&engine, 20);
    check(
        status(&engine, task) == TaskStatus::Done,
        format!("{:?}\n{reports:#?}", stages(&engine, task)),
    )?;
    check(!partial.exists(), "the half-made folder is gone")?;
    check(
        changed(&h.checkout, &rev(&h.checkout, "main"), "orch/task-1") == ["change-1.txt"],
        "only the developer's change is on the branch, no deletion",
    )
}

/// A `git worktree add` killed before it finished leaves git's folder for the
/// worktree locked ("initializing"), which `git worktree prune` keeps; found
/// with no worktree behind it, it is orch's own leftover and is removed, and
/// the task goes on (the crash soak met this as a task deferred for ever).
fn a_locked_leftover_of_a_killed_worktree_add_is_cleared() -> Result<(), Failed> {
    let h = Harness::new();
    h.actions("developer change\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "test -f change-1.txt && test -f src.txt");
    let task = engine
        .create_task_at(repo, "crash in add", Stage::Development)
        .unwrap()
        .0;
    let admin = h.checkout.join(".git/worktrees/1.partial");
    fs::create_dir_all(&admin).unwrap();
    fs::write(admin.join("locked"), "initializing").unwrap();
    fs::write(
        admin.join("gitdir"),
        format!(
            "{}/.git\n",
            h.worktree(task).with_file_name("1.partial").display()
        ),
    )
    .unwrap();
    let reports = drive(&engine, 20);
    check(
        status(&engine, task) == TaskStatus::Done,
        format!("{:?}\n{reports:#?}", stages(&engine, task)),
    )
}

/// A git killed while it held the worktree's index lock (a crash of orch
/// during a commit) leaves `index.lock`: the next job removes it, and the
/// commit after the next role goes through.
fn a_stale_index_lock_from_a_crash_is_cleared() -> Result<(), Failed> {
    let h = Harness::new();
    h.actions("developer change\n");
    let engine = h.engine();
    let repo = h.repo(&engine, "test -f change-1.txt");
    let task = engine
        .create_task_at(repo, "stale lock", Stage::Review)
        .unwrap()
        .0;
    step(&engine);
    let wt = h.worktree(task);
    let gitdir = git(&wt, &["rev-parse", "--absolute-git-dir"]);
    let lock = Path::new(gitdir.trim()).join("index.lock");
    fs::write(&lock, "").unwrap();
    // The next stage's agent changes a file, so orch must commit.
    fs::write(h.state.join("actions"), "tester change\n").unwrap();
    let report = step(&engine);
    check(
        matches!(report.end, JobEndKind::Transition { .. }),
        format!("{report:?}"),
    )?;
    check(!lock.exists(), "the stale lock is gone")?;
    check(
        changed(&h.checkout, &rev(&h.checkout, "main"), "orch/task-1") == ["change-1.txt"],
        "the tester's change was committed",
    )
}

/// A folder that is not the task's worktree where the worktree must go:
/// deferred, then blocked; the folder is untouched.
fn a_folder_in_the_way_is_never_overwritten() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let task = engine.create_task(repo, "in the way").unwrap().0;
    let wt = h.worktree(task);
    fs::create_dir_all(&wt).unwrap();
    fs::write(wt.join("precious.txt"), "mine\n").unwrap();
    step(&engine);
    let second = step(&engine);
    check(
        blocked_with(&second, orch_store::AlertKind::WorktreeUnavailable),
        format!("{second:?}"),
    )?;
    check(
        fs::read_to_string(wt.join("precious.txt")).unwrap() == "mine\n"
            && fs::read_dir(&wt).unwrap().count() == 1,
        "the folder is untouched",
    )
}

/// git missing for the engine (after the task was created with a working
/// git): deferred, then blocked `worktree_unavailable` naming ORCH_GIT.
fn missing_git_defers_then_blocks() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let task = engine.create_task(repo, "no git").unwrap().0;
    drop(engine);
    let mut config = h.config.clone();
    config.worktree.git = "/nonexistent/git".into();
    let engine = h.engine_with(config);
    let first = step(&engine);
    check(
        matches!(first.end, JobEndKind::Deferred { .. }),
        format!("{first:?}"),
    )?;
    let second = step(&engine);
    check(
        blocked_with(&second, orch_store::AlertKind::WorktreeUnavailable),
        format!("{second:?}"),
    )?;
    let alerts = alerts(&engine, task);
    check(
        alerts.iter().any(|(k, m)| {
            *k == orch_store::AlertKind::WorktreeUnavailable && m.contains("ORCH_GIT")
        }),
        format!("{alerts:?}"),
    )?;
    check(h.seen().is_empty(), "no agent ran")
}

// --- 7. the start-up sweep ---------------------------------------------------

/// The sweep removes the worktree of a task that does not exist and of a
/// done task (branches stay), and keeps an active task's.
fn the_sweep_removes_only_finished_and_orphaned_worktrees() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    // Task 1: done, and its worktree made again by hand on its branch (what
    // a removal at done that failed leaves behind).
    let done = engine
        .create_task_at(repo, "done", Stage::PostDeploy)
        .unwrap()
        .0;
    let reports = drive(&engine, 1);
    check(
        status(&engine, done) == TaskStatus::Done,
        format!("{reports:#?}"),
    )?;
    let done_wt = h.worktree(done);
    check(!done_wt.exists(), "removed at done")?;
    let done_wt_arg = done_wt.to_string_lossy().into_owned();
    git(
        &h.checkout,
        &["worktree", "add", "--quiet", &done_wt_arg, "orch/task-1"],
    );
    // Task 2: active, its worktree made by its first job.
    let active = engine
        .create_task_at(repo, "active", Stage::Review)
        .unwrap()
        .0;
    step(&engine);
    // Task 99: no such task.
    let orphan = h.config.home.join("worktrees").join("99");
    let orphan_arg = orphan.to_string_lossy().into_owned();
    git(
        &h.checkout,
        &[
            "worktree",
            "add",
            "--quiet",
            "-b",
            "orch/task-99",
            &orphan_arg,
        ],
    );
    // And a folder that is no worktree at all.
    let stray = h.config.home.join("worktrees").join("98");
    fs::create_dir_all(&stray).unwrap();
    fs::write(stray.join("keep.txt"), "not a worktree\n").unwrap();

    let sweep = engine.sweep_worktrees().unwrap();
    check(
        !orphan.exists() && !done_wt.exists(),
        format!("orphan and done removed: {sweep:?}"),
    )?;
    check(
        h.worktree(active).is_dir(),
        format!("the active one is kept: {sweep:?}"),
    )?;
    check(
        stray.join("keep.txt").is_file(),
        format!("a folder that is no worktree is kept: {sweep:?}"),
    )?;
    check(
        sweep.removed.len() == 2 && sweep.kept.iter().any(|(p, _)| *p == stray),
        format!("{sweep:?}"),
    )?;
    check(
        branch_exists(&h.checkout, "orch/task-99") && branch_exists(&h.checkout, "orch/task-1"),
        "branches stay",
    )?;
    let list = git(&h.checkout, &["worktree", "list", "--porcelain"]);
    check(
        !list.contains("worktrees/99") && !list.contains("worktrees/1\n"),
        list,
    )?;
    // The active task goes on.
    drive(&engine, 20);
    check(
        status(&engine, active) == TaskStatus::Done,
        "the active task finishes",
    )
}

type TestFn = fn() -> Result<(), Failed>;

/// Issue 20: a worktree of another repository planted at the task's
/// worktree path, on a branch named as the task's, is never adopted: the
/// task is blocked `worktree_tampered` at once, saying whose worktree it is,
/// and nothing in it, nor its repository, is touched.
fn a_planted_worktree_of_another_repository_is_not_adopted() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let task = engine.create_task(repo, "mine").unwrap().0;
    let other = h.checkout.parent().unwrap().join("other");
    fs::create_dir_all(&other).unwrap();
    init_repo(&other);
    let wt = h.worktree(task);
    fs::create_dir_all(wt.parent().unwrap()).unwrap();
    let branch = format!("orch/task-{task}");
    git(
        &other,
        &[
            "worktree",
            "add",
            "--quiet",
            "-b",
            &branch,
            wt.to_str().unwrap(),
        ],
    );
    let theirs = rev(&other, &branch);
    let report = step(&engine);
    check(
        blocked_with(&report, orch_store::AlertKind::WorktreeTampered),
        format!("{report:?}"),
    )?;
    let alerts = alerts(&engine, task);
    check(
        alerts.iter().any(|(k, m)| {
            *k == orch_store::AlertKind::WorktreeTampered && m.contains("not adopted")
        }),
        format!("{alerts:?}"),
    )?;
    check(h.seen().is_empty(), "an agent ran in it")?;
    check(rev(&other, &branch) == theirs, "their branch moved")?;
    check(
        git(&wt, &["status", "--porcelain"]).is_empty(),
        "their worktree was changed",
    )?;
    check(
        !branch_exists(&h.checkout, &branch),
        "the task made its branch",
    )
}

/// Issue 20: a worktree of the task's own repository, on a branch named as
/// the task's but not started from the task's base (other work left there),
/// is not adopted either: the branch is taken, deferred then blocked, and no
/// role runs on it.
fn a_worktree_on_the_tasks_branch_from_another_base_is_not_adopted() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let old = rev(&h.checkout, "HEAD");
    fs::write(h.checkout.join("later.txt"), "later\n").unwrap();
    git(&h.checkout, &["add", "later.txt"]);
    git(&h.checkout, &["commit", "--quiet", "-m", "later"]);
    let task = engine.create_task(repo, "mine").unwrap().0;
    let wt = h.worktree(task);
    fs::create_dir_all(wt.parent().unwrap()).unwrap();
    let branch = format!("orch/task-{task}");
    git(
        &h.checkout,
        &[
            "worktree",
            "add",
            "--quiet",
            "-b",
            &branch,
            wt.to_str().unwrap(),
            &old,
        ],
    );
    let first = step(&engine);
    check(
        matches!(first.end, JobEndKind::Deferred { .. }),
        format!("{first:?}"),
    )?;
    let second = step(&engine);
    check(
        blocked_with(&second, orch_store::AlertKind::WorktreeUnavailable),
        format!("{second:?}"),
    )?;
    check(h.seen().is_empty(), "an agent ran on the other work")?;
    check(rev(&h.checkout, &branch) == old, "the branch moved")?;
    let t = engine.store().task(task).unwrap();
    check(
        t.branch.is_none(),
        format!("the task took the branch: {t:?}"),
    )
}

/// A kill inside orch's `git worktree move` (`<id>.partial` → `<id>`),
/// between git's rename of the folder and its record of the new place,
/// leaves the folder in place and git's record naming the `.partial`
/// folder. The next job finishes the move and runs; before, every job of
/// the task was deferred with "no folder records this worktree" until the
/// task blocked.
fn a_worktree_move_cut_short_by_a_kill_is_finished() -> Result<(), Failed> {
    let h = Harness::new();
    let engine = h.engine();
    let repo = h.repo(&engine, "true");
    let task = engine.create_task(repo, "moved").unwrap().0;
    let first = step(&engine);
    check(first.outcome.is_some(), format!("{first:?}"))?;
    let wt = h.worktree(task);
    let record = h
        .checkout
        .join(".git/worktrees")
        .join(format!("{task}.partial"))
        .join("gitdir");
    let moved = fs::read_to_string(&record).unwrap();
    check(
        moved.trim_end() == wt.join(".git").to_str().unwrap(),
        format!("git's record after the move: {moved}"),
    )?;
    // The state a kill between git's rename and its record leaves.
    let partial = wt.with_file_name(format!("{task}.partial"));
    fs::write(&record, format!("{}\n", partial.join(".git").display())).unwrap();
    let second = step(&engine);
    check(
        second.outcome.is_some() && second.stage == Stage::Architecture,
        format!("{second:?}"),
    )?;
    check(h.seen().len() == 2, format!("roles run: {:?}", h.seen()))?;
    let repaired = fs::read_to_string(&record).unwrap();
    check(
        repaired.trim_end() == wt.join(".git").to_str().unwrap(),
        format!("git's record after the repair: {repaired}"),
    )?;
    check(
        git(&wt, &["rev-parse", "--abbrev-ref", "HEAD"]).trim() == format!("orch/task-{task}"),
        "git sees the worktree on its branch",
    )
}

/// This module's trials, in registry order (`main.rs` runs them).
pub(crate) fn trials() -> Vec<Trial> {
    let tests: Vec<(&'static str, TestFn)> = vec![
        (
            "a_task_that_deletes_or_weakens_its_failing_test_never_deploys",
            a_task_that_deletes_or_weakens_its_failing_test_never_deploys,
        ),
        (
            "an_unpinned_suite_is_said_in_the_log",
            an_unpinned_suite_is_said_in_the_log,
        ),
        (
            "an_approved_suite_change_is_used_and_a_later_weakening_is_reverted",
            an_approved_suite_change_is_used_and_a_later_weakening_is_reverted,
        ),
        (
            "the_setup_runs_in_the_worktree_and_the_judge_tree",
            the_setup_runs_in_the_worktree_and_the_judge_tree,
        ),
        (
            "a_failing_setup_is_deferred_then_blocks_with_its_output",
            a_failing_setup_is_deferred_then_blocks_with_its_output,
        ),
        (
            "the_shadow_runner_runs_after_the_tester_on_its_end_commit",
            the_shadow_runner_runs_after_the_tester_on_its_end_commit,
        ),
        (
            "the_test_runner_tests_the_commit_the_stage_started_on",
            the_test_runner_tests_the_commit_the_stage_started_on,
        ),
        (
            "a_task_works_in_its_own_worktree_and_reaches_done",
            a_task_works_in_its_own_worktree_and_reaches_done,
        ),
        (
            "a_kept_worktree_stays_after_done",
            a_kept_worktree_stays_after_done,
        ),
        (
            "interleaved_tasks_each_see_only_their_own_change",
            interleaved_tasks_each_see_only_their_own_change,
        ),
        (
            "an_agent_that_detaches_head_blocks_the_task",
            an_agent_that_detaches_head_blocks_the_task,
        ),
        (
            "an_llm_deployer_that_resets_the_branch_blocks_the_task",
            an_llm_deployer_that_resets_the_branch_blocks_the_task,
        ),
        (
            "an_llm_deployer_that_changes_the_tree_gets_no_deploy",
            an_llm_deployer_that_changes_the_tree_gets_no_deploy,
        ),
        (
            "a_refused_deploy_raises_a_deploy_refused_alert",
            a_refused_deploy_raises_a_deploy_refused_alert,
        ),
        (
            "a_change_after_staging_refuses_the_deploy",
            a_change_after_staging_refuses_the_deploy,
        ),
        (
            "a_change_hidden_from_status_after_staging_refuses_the_deploy",
            a_change_hidden_from_status_after_staging_refuses_the_deploy,
        ),
        (
            "an_agent_that_hides_a_change_from_status_gets_no_deploy",
            an_agent_that_hides_a_change_from_status_gets_no_deploy,
        ),
        (
            "a_branch_reset_between_jobs_blocks_the_next_job",
            a_branch_reset_between_jobs_blocks_the_next_job,
        ),
        (
            "a_switched_branch_between_jobs_blocks_the_next_job",
            a_switched_branch_between_jobs_blocks_the_next_job,
        ),
        (
            "a_staging_suite_that_touches_git_gets_no_deploy",
            a_staging_suite_that_touches_git_gets_no_deploy,
        ),
        (
            "planted_hooks_never_run_under_orch",
            planted_hooks_never_run_under_orch,
        ),
        (
            "an_agent_that_repoints_the_worktree_git_file_is_refused",
            an_agent_that_repoints_the_worktree_git_file_is_refused,
        ),
        (
            "an_unknown_base_ref_creates_no_task",
            an_unknown_base_ref_creates_no_task,
        ),
        (
            "a_base_ref_names_the_start_commit",
            a_base_ref_names_the_start_commit,
        ),
        (
            "a_repository_without_a_commit_is_refused",
            a_repository_without_a_commit_is_refused,
        ),
        (
            "a_folder_inside_a_repository_is_refused",
            a_folder_inside_a_repository_is_refused,
        ),
        (
            "a_plain_folder_runs_in_its_checkout",
            a_plain_folder_runs_in_its_checkout,
        ),
        (
            "a_dirty_checkout_starts_from_head_without_its_changes",
            a_dirty_checkout_starts_from_head_without_its_changes,
        ),
        ("a_detached_checkout_is_noted", a_detached_checkout_is_noted),
        (
            "a_taken_branch_defers_then_blocks",
            a_taken_branch_defers_then_blocks,
        ),
        (
            "a_planted_worktree_of_another_repository_is_not_adopted",
            a_planted_worktree_of_another_repository_is_not_adopted,
        ),
        (
            "a_worktree_on_the_tasks_branch_from_another_base_is_not_adopted",
            a_worktree_on_the_tasks_branch_from_another_base_is_not_adopted,
        ),
        (
            "a_worktree_move_cut_short_by_a_kill_is_finished",
            a_worktree_move_cut_short_by_a_kill_is_finished,
        ),
        (
            "a_deleted_worktree_is_made_again_from_its_branch",
            a_deleted_worktree_is_made_again_from_its_branch,
        ),
        (
            "a_folder_in_the_way_is_never_overwritten",
            a_folder_in_the_way_is_never_overwritten,
        ),
        (
            "a_repaired_worktree_goes_on_after_a_retry",
            a_repaired_worktree_goes_on_after_a_retry,
        ),
        (
            "an_llm_testers_verdict_names_the_commit_it_leaves",
            an_llm_testers_verdict_names_the_commit_it_leaves,
        ),
        (
            "a_half_made_worktree_from_a_crash_is_made_again",
            a_half_made_worktree_from_a_crash_is_made_again,
        ),
        (
            "a_stale_index_lock_from_a_crash_is_cleared",
            a_stale_index_lock_from_a_crash_is_cleared,
        ),
        (
            "missing_git_defers_then_blocks",
            missing_git_defers_then_blocks,
        ),
        (
            "the_sweep_removes_only_finished_and_orphaned_worktrees",
            the_sweep_removes_only_finished_and_orphaned_worktrees,
        ),
        (
            "a_planted_filter_never_runs_and_hides_nothing",
            a_planted_filter_never_runs_and_hides_nothing,
        ),
        (
            "a_replace_ref_never_names_other_content",
            a_replace_ref_never_names_other_content,
        ),
        (
            "a_planted_show_untracked_files_no_hides_nothing",
            a_planted_show_untracked_files_no_hides_nothing,
        ),
        (
            "a_planted_lax_stat_setting_hides_nothing",
            a_planted_lax_stat_setting_hides_nothing,
        ),
        (
            "a_core_worktree_decoy_never_steers_orch",
            a_core_worktree_decoy_never_steers_orch,
        ),
        (
            "a_nested_repository_is_refused_not_committed_as_a_gitlink",
            a_nested_repository_is_refused_not_committed_as_a_gitlink,
        ),
        (
            "a_truncated_git_listing_fails_closed",
            a_truncated_git_listing_fails_closed,
        ),
        (
            "the_sandbox_keeps_agents_out_of_the_shared_git_state",
            the_sandbox_keeps_agents_out_of_the_shared_git_state,
        ),
        (
            "a_locked_leftover_of_a_killed_worktree_add_is_cleared",
            a_locked_leftover_of_a_killed_worktree_add_is_cleared,
        ),
    ];
    tests
        .into_iter()
        .map(|(name, test)| Trial::test(name, test))
        .collect()
}
