//! Task isolation benchmark: what a task's worktree and commits cost, on a
//! repository of 1,000 files. The figures quoted in docs/benchmarks.md
//! ("Task isolation"). A benchmark, not a test: it prints medians and
//! asserts nothing about time.
//!
//! ```text
//! cargo bench -p orch-launcher --bench worktree
//! ```
//!
//! One sample is one task's whole life as the engine drives it through the
//! eight stages: `prepare` at the first job (the branch checked, `git
//! worktree prune`, `git worktree add` beside its place and `git worktree
//! move` into it, the start state), seven more job starts (one `git status`
//! each; `deploy-staging` and `deploy` also `git ls-files -v`), the post-role step of the five LLM roles (one
//! `git status` each; the developer's also `git add`, `git commit` and
//! `git rev-parse HEAD`), the staging runner's end state, and the removal at
//! `done` (a status, then `git worktree remove`). Beside it, in the same interleaved loop, the same git work done
//! by plain `git` commands started directly (no supervisor, no scrubbed
//! environment), so the ratio shows what orch's process machinery adds.

#![expect(
    clippy::disallowed_methods,
    reason = "the baseline starts git directly, and the fixture repository is made with it"
)]
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark harness: a panic is the failure report"
)]

use orch_pipeline::Stage;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orch_launcher::LauncherConfig;
use orch_launcher::worktree::Git;
use orch_store::{NewJob, NewRepo, NewTask, Repo, Store, StoreOptions, Task, TaskId};

const FILES: usize = 1000;
const SAMPLES: usize = 30;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=bench", "-c", "user.email=bench@localhost"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A repository of `FILES` files of about 1 KiB in 20 folders, one commit.
fn fixture(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "--quiet", "--initial-branch=main"]);
    for i in 0..FILES {
        let folder = dir.join(format!("src/m{:02}", i % 20));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join(format!("f{i:04}.rs")),
            format!("// file {i}\n").repeat(80),
        )
        .unwrap();
    }
    git(dir, &["add", "--all"]);
    git(dir, &["commit", "--quiet", "-m", "fixture"]);
    git(dir, &["rev-parse", "HEAD"]).trim().to_owned()
}

fn task(id: i64, base: &str) -> Task {
    // A stored row (its type is `#[non_exhaustive]`), given the bench's id.
    let store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let repo = store
        .add_repo(&NewRepo::new("bench", "/srv/bench", "true"))
        .unwrap();
    let (stored, _) = store
        .create_task_with(
            repo,
            &NewTask::in_worktree("bench", base),
            &NewJob::new(
                TaskId::new(0),
                Stage::Analysis,
                orch_pipeline::Role::Analyst,
            ),
        )
        .unwrap();
    let mut task = store.task(stored).unwrap();
    task.id = TaskId::new(id);
    task
}

/// What one task's life cost, part by part.
#[derive(Default)]
struct Parts {
    create: Duration,
    commit: Duration,
    checks: Duration,
    remove: Duration,
    total: Duration,
}

/// One task's life through orch's `Git` (the engine's calls, in order).
fn orch_task(git: &Git, config: &LauncherConfig, repo: &Repo, base: &str, id: i64) -> Parts {
    let mut parts = Parts::default();
    let mut t = task(id, base);
    let t0 = Instant::now();
    let mut ws = git.prepare(config, &t, repo, false, |_, _| Ok(())).unwrap();
    parts.create = t0.elapsed();
    t.branch = ws.worktree().map(|w| w.branch.clone());
    t.worktree = Some(ws.dir.to_string_lossy().into_owned());
    for stage in 0..8 {
        let check = Instant::now();
        if stage > 0 {
            // deploy-staging and deploy check strictly, as the engine does.
            let strict = matches!(stage, 5 | 6);
            ws = git
                .prepare(config, &t, repo, strict, |_, _| Ok(()))
                .unwrap();
        }
        match stage {
            // analysis, architecture, review, testing: LLM roles, nothing changed.
            0 | 1 | 3 | 4 => {
                git.commit_role(t.id, &ws, "bench").unwrap();
            }
            // development: one file changed and committed.
            2 => {
                std::fs::write(ws.dir.join("src/m00/f0000.rs"), format!("// task {id}\n")).unwrap();
                let commit = Instant::now();
                let end = git.commit_role(t.id, &ws, "bench: development").unwrap();
                parts.commit = commit.elapsed();
                t.head_commit = Some(end.commit);
            }
            // deploy-staging: the suite's end state.
            5 => {
                git.workspace_state(&ws).unwrap();
            }
            // deploy, post-deploy: nothing after the role.
            _ => {}
        }
        parts.checks += check.elapsed().saturating_sub(if stage == 2 {
            parts.commit
        } else {
            Duration::ZERO
        });
    }
    let remove = Instant::now();
    assert!(git.remove(Path::new(&repo.path), &ws.dir).unwrap());
    parts.remove = remove.elapsed();
    parts.total = t0.elapsed();
    parts
}

/// The same git work with plain git commands, started directly.
fn plain_task(repo: &Path, root: &Path, base: &str, id: i64) -> Duration {
    let dir = root.join(format!("plain-{id}"));
    let dir_s = dir.to_str().unwrap();
    let branch = format!("plain/task-{id}");
    let t0 = Instant::now();
    // orch's branch check (rev-parse --verify, exit 1 when free) as a
    // command that exits 0 either way.
    git(repo, &["for-each-ref", &format!("refs/heads/{branch}")]);
    git(repo, &["worktree", "prune"]);
    // Made beside its place and moved in whole, as orch does.
    let partial = format!("{dir_s}.partial");
    git(
        repo,
        &["worktree", "add", "--quiet", "-b", &branch, &partial, base],
    );
    git(repo, &["worktree", "move", &partial, dir_s]);
    for stage in 0..8 {
        git(&dir, &["status", "--porcelain=v2", "--branch", "-z"]);
        if matches!(stage, 5 | 6) {
            git(&dir, &["ls-files", "-v", "-z"]);
        }
        match stage {
            0 | 1 | 3 | 4 => {
                git(&dir, &["status", "--porcelain=v2", "--branch", "-z"]);
            }
            2 => {
                std::fs::write(dir.join("src/m00/f0000.rs"), format!("// task {id}\n")).unwrap();
                git(&dir, &["status", "--porcelain=v2", "--branch", "-z"]);
                git(&dir, &["add", "--all"]);
                git(&dir, &["commit", "--quiet", "--no-verify", "-m", "plain"]);
                git(&dir, &["rev-parse", "--verify", "HEAD"]);
            }
            5 => {
                git(&dir, &["status", "--porcelain=v2", "--branch", "-z"]);
                git(&dir, &["ls-files", "-v", "-z"]);
            }
            _ => {}
        }
    }
    git(&dir, &["status", "--porcelain=v2", "--branch", "-z"]);
    git(repo, &["worktree", "remove", dir_s]);
    t0.elapsed()
}

/// The floor: copying the tree's files (no git at all) to a fresh folder.
fn copy_tree(repo: &Path, root: &Path, id: i64) -> Duration {
    let to = root.join(format!("copy-{id}"));
    let t0 = Instant::now();
    let status = Command::new("cp")
        .arg("-r")
        .arg(repo.join("src"))
        .arg(&to)
        .status()
        .unwrap();
    let took = t0.elapsed();
    assert!(status.success());
    std::fs::remove_dir_all(&to).unwrap();
    took
}

fn main() {
    orch_process::supervisor::main_if_requested();
    orch_process::exec::restore_sigchld_default();
    let dir = tempfile::tempdir().unwrap();
    let repo_dir: PathBuf = dir.path().join("repo");
    let base = fixture(&repo_dir);
    let config = LauncherConfig::new(dir.path().join("home"));
    let git_ = Git::new(&config);
    // A stored row (its type is `#[non_exhaustive]`).
    let repo = {
        let store = Store::open_in_memory(StoreOptions::default()).unwrap();
        let path = repo_dir.to_string_lossy().into_owned();
        let id = store
            .add_repo(&NewRepo::new("bench", path, "true"))
            .unwrap();
        store.repo(id).unwrap()
    };
    // Warm the page cache and git's own caches once.
    orch_task(&git_, &config, &repo, &base, 1_000_000);
    plain_task(&repo_dir, dir.path(), &base, 1_000_000);
    let mut runs: Vec<Parts> = Vec::new();
    let (mut plain, mut copies) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        let id = i64::try_from(i).unwrap() + 1;
        runs.push(orch_task(&git_, &config, &repo, &base, id));
        plain.push(plain_task(&repo_dir, dir.path(), &base, id));
        copies.push(copy_tree(&repo_dir, dir.path(), id));
    }
    let of = |f: fn(&Parts) -> Duration| median(&mut runs.iter().map(f).collect::<Vec<_>>());
    let (create, commit, checks, remove, total) = (
        of(|p| p.create),
        of(|p| p.commit),
        of(|p| p.checks),
        of(|p| p.remove),
        of(|p| p.total),
    );
    let plain = median(&mut plain);
    let copy = median(&mut copies);
    println!(
        "task isolation on a {FILES}-file repository, {SAMPLES} tasks, interleaved (medians):"
    );
    println!(
        "  worktree creation (first job's prepare):          {}",
        ms(create)
    );
    println!(
        "  the developer's commit (status, add, commit, rev-parse): {}",
        ms(commit)
    );
    println!(
        "  creation + commit:                                {}",
        ms(create + commit)
    );
    println!(
        "  the 15 other checks (job starts, clean post-role): {}",
        ms(checks)
    );
    println!(
        "  removal at done:                                  {}",
        ms(remove)
    );
    println!(
        "  one task's whole life through orch:               {}",
        ms(total)
    );
    println!(
        "  the same git commands, started directly:          {}",
        ms(plain)
    );
    println!(
        "  ratio orch / plain: {:.2}",
        total.as_secs_f64() / plain.as_secs_f64()
    );
    println!(
        "  `cp -r` of the same {FILES} files, no git (the file system's floor): {}",
        ms(copy)
    );
}
