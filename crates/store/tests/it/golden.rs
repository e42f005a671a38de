//! The schema contract: the golden file, migrations, and what opening refuses.
//!
//! A failure of the golden test means the schema changed. If that is
//! deliberate, append a migration step (a new frozen file in
//! `src/migrations/`, listed in `MIGRATIONS`), rerun with
//! `UPDATE_GOLDEN=1 cargo test -p orch-store --test it golden::`, review the diff of
//! `tests/golden/schema.sql`, and add a CHANGELOG.md entry.

#![expect(
    clippy::unwrap_used,
    reason = "test helper: a panic is the failure report"
)]

use orch_pipeline::{Role, Stage};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use orch_store::{NewRepo, SCHEMA_SQL, SCHEMA_VERSION, Store, StoreError, StoreOptions};
use rusqlite::Connection;

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/schema.sql")
}

#[test]
fn schema_sql_matches_the_golden_file_byte_for_byte() {
    orch_tests::assert_golden(
        &golden_path(),
        SCHEMA_SQL,
        "the schema is a contract (DESIGN 3.8): 1. append a migration step as a new \
         file in crates/store/src/migrations/, listed in MIGRATIONS in \
         crates/store/src/store.rs (never edit an old one), 2. run \
         UPDATE_GOLDEN=1 cargo test -p orch-store --test it golden::",
    );
}

/// The objects of a database, as SQLite stores their SQL, in a fixed order.
fn dump(conn: &Connection) -> Vec<(String, String, Option<String>)> {
    let mut stmt = conn
        .prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn migrations_from_an_empty_file_yield_exactly_the_schema_sql() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orch.db");
    drop(Store::open(&path).unwrap());
    let migrated = Connection::open(&path).unwrap();

    let direct = Connection::open_in_memory().unwrap();
    direct.execute_batch(SCHEMA_SQL).unwrap();

    assert_eq!(dump(&migrated), dump(&direct));
    let version: i64 = migrated
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

/// The frozen first step: the whole version-1 schema.
const STEP_1: &str = include_str!("../../src/migrations/0001.sql");

/// A database file as an orch of schema version 1 left it, with one repo, one
/// task, one job and one agent run in it.
fn version_1_file(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "application_id", orch_store::APPLICATION_ID)
        .unwrap();
    conn.execute_batch(STEP_1).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    conn.execute_batch(
        "INSERT INTO repos (id, name, path, staging_command, created_ms) \
             VALUES (1, 'demo', '/srv/demo', 'make staging', 10); \
         INSERT INTO tasks (id, repo_id, title, stage, status, developer_retries, created_ms, \
             updated_ms) VALUES (1, 1, 'old task', 'testing', 'active', 1, 20, 30); \
         INSERT INTO jobs (id, task_id, stage, role, state, attempts, max_attempts, run_after_ms, \
             created_ms, updated_ms) VALUES (1, 1, 'testing', 'tester', 'queued', 0, 3, 40, 40, 40); \
         INSERT INTO agent_runs (job_id, task_id, role, stage, transport, started_ms, ended_ms, \
             duration_ms, outcome, cost_usd) \
             VALUES (1, 1, 'tester', 'testing', 'llm', 50, 60, 10, 'passed', 0.5);",
    )
    .unwrap();
}

#[test]
fn a_version_1_file_migrates_to_the_newest_version_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orch.db");
    version_1_file(&path);

    let store = Store::open(&path).unwrap();
    let repo = store.repo_by_name("demo").unwrap().unwrap();
    assert_eq!(
        (
            repo.path.as_str(),
            repo.staging_command.as_str(),
            repo.created_ms
        ),
        ("/srv/demo", "make staging", 10)
    );
    assert_eq!(repo.deploy_command, None, "nothing to deploy until told");
    assert_eq!(repo.health_command, None);
    assert!(repo.pass_env.is_empty());
    let task = store.task(orch_store::TaskId::new(1)).unwrap();
    assert_eq!(
        (
            task.title.as_str(),
            task.stage.as_str(),
            task.developer_retries
        ),
        ("old task", "testing", 1)
    );
    assert_eq!((task.created_ms, task.updated_ms), (20, 30));
    // A task from before worktrees keeps working where it worked: in the
    // repository's checkout, one such task of the repository at a time.
    assert_eq!(task.isolation, orch_store::TaskIsolation::Checkout);
    assert_eq!(
        (task.base_commit, task.branch, task.worktree),
        (None, None, None)
    );
    assert!(!task.keep_worktree);
    assert_eq!(repo.base_ref, None);
    assert_eq!(repo.test_command, None, "no test command until told");
    assert!(
        repo.suite_paths.is_empty(),
        "the suite is unpinned until told"
    );
    assert_eq!(repo.setup_command, None, "no setup until told");
    assert_eq!(
        repo.suite_network,
        orch_store::SuiteNetwork::Off,
        "a migrated repository's suites lose the network: the sandbox's default"
    );
    assert!(repo.cache_dirs.is_empty());
    assert_eq!(
        store.agent_runs(task.id).unwrap()[0].sandbox,
        None,
        "a run from before the sandbox has no recorded level"
    );
    let old_run = &store.agent_runs(task.id).unwrap()[0];
    assert_eq!(
        (
            old_run.cache_read_tokens,
            old_run.cache_write_tokens,
            old_run.model.as_deref(),
            old_run.cost_usd
        ),
        (None, None, None, Some(0.5)),
        "a run from before step 9 keeps its cost, with no cache tokens or model"
    );
    assert_eq!(
        store.role_stats().unwrap()[0].cache_read_tokens,
        0,
        "NULL cache tokens sum to 0"
    );
    assert_eq!(
        (
            task.suite_commit.as_deref(),
            task.suite_diff_sha256.as_deref()
        ),
        (None, None)
    );
    let job = store.job(orch_store::JobId::new(1)).unwrap();
    assert_eq!((job.start_commit, job.end_commit), (None, None));
    assert_eq!((job.task, job.role.as_str()), (task.id, "tester"));
    assert_eq!(store.task_cost_usd(task.id).unwrap(), 0.5);
    // The new columns are writable on the migrated file.
    store
        .add_repo(
            &NewRepo::new("second", "/srv/second", "true")
                .with_deploy_command(Some("make deploy".into()))
                .with_pass_env(vec!["DATABASE_URL".into()])
                .with_test_command(Some("make test".into()))
                .with_suite_network(orch_store::SuiteNetwork::On)
                .with_cache_dirs(vec!["/srv/cache".into()]),
        )
        .unwrap();
    let second = store.repo_by_name("second").unwrap().unwrap();
    assert_eq!(
        (second.suite_network, second.cache_dirs.as_slice()),
        (orch_store::SuiteNetwork::On, &["/srv/cache".to_owned()][..])
    );
    assert_eq!(
        store
            .repo_by_name("second")
            .unwrap()
            .unwrap()
            .test_command
            .as_deref(),
        Some("make test")
    );
    assert_eq!(
        store.shadow_agreement(Stage::Testing).unwrap(),
        orch_store::ShadowAgreement::default()
    );
    drop(store);

    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 16);
    let direct = Connection::open_in_memory().unwrap();
    direct.execute_batch(SCHEMA_SQL).unwrap();
    assert_eq!(
        dump(&conn),
        dump(&direct),
        "a migrated file has exactly the schema of a fresh one"
    );
}

/// The frozen second step.
/// Steps 2 to 9 as their frozen files, in order (step 1 is `version_1_file`).
const STEPS_2_TO_9: [&str; 8] = [
    include_str!("../../src/migrations/0002.sql"),
    include_str!("../../src/migrations/0003.sql"),
    include_str!("../../src/migrations/0004.sql"),
    include_str!("../../src/migrations/0005.sql"),
    include_str!("../../src/migrations/0006.sql"),
    include_str!("../../src/migrations/0007.sql"),
    include_str!("../../src/migrations/0008.sql"),
    include_str!("../../src/migrations/0009.sql"),
];

/// A file an orch of schema `version` (2 to 9) left: step 1's rows, then
/// each later step up to `version`, with `user_version` said; the connection
/// is open for the test's own rows.
fn file_at_version(path: &Path, version: usize) -> Connection {
    version_1_file(path);
    let conn = Connection::open(path).unwrap();
    for step in &STEPS_2_TO_9[..version - 1] {
        conn.execute_batch(step).unwrap();
    }
    conn.pragma_update(None, "user_version", version as i64)
        .unwrap();
    conn
}

#[test]
fn a_version_2_file_migrates_to_version_3_and_its_old_claims_have_no_claim_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orch.db");
    {
        let conn = file_at_version(&path, 2);
        // A job running under a version-2 orch: claimed, then heartbeaten.
        conn.execute_batch(
            "INSERT INTO jobs (id, task_id, stage, role, state, attempts, max_attempts, \
                 run_after_ms, lease_token, lease_owner, lease_boot_id, lease_expires_ms, \
                 created_ms, updated_ms) \
                 VALUES (2, 1, 'testing', 'tester', 'running', 1, 3, 40, 1, 'w0', 'boot-old', \
                 90000, 40, 70);",
        )
        .unwrap();
    }

    let store = Store::open(&path).unwrap();
    let snapshot = store.queue_snapshot(10).unwrap();
    assert_eq!(snapshot.running.len(), 1);
    let running = &snapshot.running[0];
    assert_eq!(running.id, orch_store::JobId::new(2));
    assert_eq!(running.started_ms, None, "never invented from updated_ms");
    assert_eq!(running.elapsed_ms, None);
    assert_eq!(running.lease_expires_ms, 90_000);
    assert_eq!(snapshot.queued[0].id, orch_store::JobId::new(1));
    drop(store);

    let conn = Connection::open(&path).unwrap();
    let direct = Connection::open_in_memory().unwrap();
    direct.execute_batch(SCHEMA_SQL).unwrap();
    assert_eq!(
        dump(&conn),
        dump(&direct),
        "a migrated file has exactly the schema of a fresh one"
    );
}

/// A run recorded by a version-8 orch (with its sandbox, before cache tokens
/// and models were stored) migrates to step 9 untouched, its new columns
/// NULL: unknown, never 0.
#[test]
fn a_version_8_run_keeps_its_figures_with_null_cache_tokens_and_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orch.db");
    {
        let conn = file_at_version(&path, 8);
        conn.execute_batch(
            "INSERT INTO agent_runs (id, job_id, task_id, role, stage, transport, started_ms, \
                 ended_ms, duration_ms, outcome, cost_usd, tokens_in, tokens_out, sandbox) \
                 VALUES (8, 1, 1, 'tester', 'testing', 'llm', 70, 90, 20, 'passed', 0.25, \
                 1200, 80, 'off (no sandbox)');",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let runs = store.agent_runs(orch_store::TaskId::new(1)).unwrap();
    assert_eq!(runs.len(), 2, "both runs are kept");
    let run = runs.iter().find(|r| r.id.get() == 8).unwrap();
    assert_eq!(
        (
            run.cost_usd,
            run.tokens_in,
            run.tokens_out,
            run.sandbox.as_deref()
        ),
        (Some(0.25), Some(1200), Some(80), Some("off (no sandbox)"))
    );
    assert_eq!(
        (
            run.cache_read_tokens,
            run.cache_write_tokens,
            run.model.as_deref()
        ),
        (None, None, None)
    );
}

/// A shadow pair recorded by a version-6 orch compared the runner on the
/// stage's start commit with the LLM on its end commit: after step 7 it is
/// kept but counted apart (`other_commit`), never as agreement.
#[test]
fn a_version_6_shadow_pair_is_kept_but_not_counted_as_agreement() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orch.db");
    {
        let conn = file_at_version(&path, 6);
        conn.execute_batch(&format!(
            "INSERT INTO agent_runs (id, job_id, task_id, role, stage, transport, started_ms, \
                 ended_ms, duration_ms, outcome) VALUES (7, 1, 1, 'test-runner', 'testing', \
                 'deterministic', 1, 2, 1, 'passed'); \
             INSERT INTO shadow_verdicts (job_id, task_id, stage, runner_run_id, commit_sha, \
                 runner_verdict, llm_verdict, created_ms) \
                 VALUES (1, 1, 'testing', 7, '{}', 'PASSED', 'PASSED', 3);",
            "a".repeat(40)
        ))
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let agreement = store.shadow_agreement(Stage::Testing).unwrap();
    assert_eq!(
        (agreement.runs, agreement.agree, agreement.other_commit),
        (1, 0, 1),
        "{agreement:?}"
    );
    assert_eq!(agreement.compared(), 0);
    assert_eq!(agreement.rate(), None);
    let pairs = store.shadow_verdicts(orch_store::TaskId::new(1)).unwrap();
    assert_eq!(pairs[0].llm_commit, None);
    // Step 14 backfilled the pair's repository from its task: the evidence
    // per repository (read from shadow_verdicts_evidence alone) still finds it.
    let task = store.task(orch_store::TaskId::new(1)).unwrap();
    let repo = store
        .repos()
        .unwrap()
        .into_iter()
        .find(|r| r.id == task.repo)
        .unwrap();
    let evidence = store.shadow_evidence(Stage::Testing).unwrap();
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    assert_eq!(evidence[0].repo, repo.name);
    assert_eq!(evidence[0].other_commit, 1);
    drop(store);
    let conn = Connection::open(&path).unwrap();
    let direct = Connection::open_in_memory().unwrap();
    direct.execute_batch(SCHEMA_SQL).unwrap();
    assert_eq!(dump(&conn), dump(&direct));
}

#[test]
fn a_version_3_file_migrates_to_version_5_with_no_rescue_counted_no_actor_and_checkout_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orch.db");
    {
        let conn = file_at_version(&path, 3);
        conn.execute_batch(
            "INSERT INTO transitions (id, task_id, job_id, from_stage, to_stage, at_ms) \
                 VALUES (1, 1, 1, 'development', 'testing', 25);",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let job = store.job(orch_store::JobId::new(1)).unwrap();
    assert_eq!((job.rescues, job.cancel_requested_ms), (0, None));
    assert_eq!((job.start_commit, job.end_commit), (None, None));
    let task = store.task(orch_store::TaskId::new(1)).unwrap();
    assert_eq!(task.isolation, orch_store::TaskIsolation::Checkout);
    let history = store.transitions(orch_store::TaskId::new(1)).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].actor, history[0].reason.as_deref()),
        (None, None)
    );
    drop(store);
    let conn = Connection::open(&path).unwrap();
    let direct = Connection::open_in_memory().unwrap();
    direct.execute_batch(SCHEMA_SQL).unwrap();
    assert_eq!(
        dump(&conn),
        dump(&direct),
        "a migrated file has exactly the schema of a fresh one"
    );
}

#[test]
fn opening_twice_and_again_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orch.db");
    let first = Store::open(&path).unwrap();
    let second = Store::open(&path).unwrap();
    let repo = first
        .add_repo(&NewRepo::new("demo", "/srv/demo", "make staging"))
        .unwrap();
    assert_eq!(second.repo(repo).unwrap().name, "demo");
    drop((first, second));

    let again = Store::open(&path).unwrap();
    assert_eq!(again.repo_by_name("demo").unwrap().unwrap().id, repo);
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn concurrent_first_opens_of_a_fresh_file_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orch.db");
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                Store::open(&path).map(drop)
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let store = Store::open(&path).unwrap();
    store
        .add_repo(&NewRepo::new("demo", "/srv/demo", "true"))
        .unwrap();
}

#[test]
fn the_file_is_in_wal_mode_with_normal_sync_and_checkpoints() {
    let fx = crate::common::Fixture::new();
    let conn = Connection::open(&fx.path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let checkpoint = fx.store.checkpoint().unwrap();
    assert!(checkpoint.completed, "{checkpoint:?}");
    let wal = fx.path.with_file_name("orch.db-wal");
    assert_eq!(
        fs::metadata(wal).unwrap().len(),
        0,
        "TRUNCATE empties the WAL"
    );
}

#[test]
fn a_file_from_a_newer_orch_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orch.db");
    let newer = SCHEMA_VERSION + 1;
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE from_the_future (x INTEGER);")
            .unwrap();
        conn.pragma_update(None, "user_version", newer).unwrap();
    }
    let before = fs::read(&path).unwrap();

    let err = Store::open(&path).unwrap_err();
    let StoreError::SchemaTooNew {
        found, supported, ..
    } = &err
    else {
        panic!("expected SchemaTooNew, got {err:?}");
    };
    assert_eq!(*found, newer);
    assert_eq!(*supported, SCHEMA_VERSION);
    let message = err.to_string();
    assert!(message.contains("newer"), "{message}");
    assert!(message.contains("left untouched"), "{message}");

    assert_eq!(fs::read(&path).unwrap(), before, "the file changed");
    assert!(
        !path.with_file_name("orch.db-wal").exists(),
        "a WAL was created beside a refused file"
    );
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, newer);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "the journal mode was switched");
}

#[test]
fn a_file_that_is_not_an_orch_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();

    // Another program's database: tables, but no orch schema version.
    let path = dir.path().join("other.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE notes (body TEXT);")
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::ForeignDatabase { why, .. } if why.contains("no orch schema version")),
        "{err:?}"
    );
    assert!(err.to_string().contains("is not an orch database"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was changed"
    );
    assert!(
        !dir.path().join("other.db-wal").exists(),
        "a WAL was created"
    );

    // Another program's application_id, even with no tables yet.
    let tagged = dir.path().join("tagged.db");
    Connection::open(&tagged)
        .unwrap()
        .pragma_update(None, "application_id", 0x1234_5678)
        .unwrap();
    let err = Store::open(&tagged).unwrap_err();
    assert!(matches!(err, StoreError::ForeignDatabase { .. }), "{err:?}");

    // A version no orch ever wrote.
    let negative = dir.path().join("negative.db");
    Connection::open(&negative)
        .unwrap()
        .pragma_update(None, "user_version", -3)
        .unwrap();
    let err = Store::open(&negative).unwrap_err();
    assert!(
        matches!(err, StoreError::NotOrchDatabase { found: -3, .. }),
        "{err:?}"
    );
}

#[test]
fn an_orch_database_carries_the_orch_application_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orch.db");
    drop(Store::open(&path).unwrap());
    let id: i32 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(id, orch_store::APPLICATION_ID);
    // And it opens again.
    drop(Store::open(&path).unwrap());
}

#[test]
fn an_in_memory_store_has_the_schema() {
    let store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let repo = store
        .add_repo(&NewRepo::new("demo", "/srv/demo", "true"))
        .unwrap();
    assert_eq!(store.repo(repo).unwrap().staging_command, "true");
}

#[test]
fn the_advice_for_a_file_that_cannot_be_opened_fits_the_error() {
    let dir = tempfile::tempdir().unwrap();
    // Not SQLite at all: the advice is about the file, not the folder.
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    let err = Store::open(&garbage).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("not a SQLite database"), "{text}");
    assert!(!text.contains("folder exists"), "{text}");
    assert_eq!(std::fs::read(&garbage).unwrap(), vec![0x5a; 8192]);

    // A folder that does not exist: now the folder is the advice.
    let err = Store::open(dir.path().join("no/such/folder/orch.db")).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(text.contains("folder exists"), "{text}");
}

/// A version-9 file (steps 1 to 9) with two tasks, their jobs, runs,
/// transitions and alerts migrates to step 10 with every row and id kept and
/// every reference still naming its row; from then on, an id freed by a
/// removed task is never handed out again.
#[test]
fn a_version_9_file_is_rebuilt_with_its_rows_and_ids_and_never_reuses_an_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orch.db");
    {
        let conn = file_at_version(&path, 9);
        conn.execute_batch(
            "INSERT INTO tasks (id, repo_id, title, stage, status, created_ms, updated_ms, \
                 isolation, branch) VALUES (7, 1, 'seventh', 'done', 'done', 70, 80, 'worktree', \
                 'orch/task-7'); \
             INSERT INTO jobs (id, task_id, stage, role, state, attempts, max_attempts, \
                 run_after_ms, created_ms, updated_ms, rescues, cancel_requested_ms) \
                 VALUES (9, 7, 'analysis', 'analyst', 'done', 1, 3, 70, 70, 75, 1, 74); \
             INSERT INTO transitions (id, task_id, job_id, from_stage, to_stage, at_ms, actor) \
                 VALUES (4, 7, 9, 'analysis', 'done', 76, 'operator'); \
             INSERT INTO alerts (id, kind, message, task_id, job_id, created_ms) \
                 VALUES (5, 'poison_job', 'look', 7, 9, 77);",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let task = store.task(orch_store::TaskId::new(7)).unwrap();
    assert_eq!(
        (task.title.as_str(), task.branch.as_deref(), task.created_ms),
        ("seventh", Some("orch/task-7"), 70)
    );
    let job = store.job(orch_store::JobId::new(9)).unwrap();
    assert_eq!(
        (job.task.get(), job.rescues, job.cancel_requested_ms),
        (7, 1, Some(74))
    );
    assert_eq!(store.transitions(task.id).unwrap().len(), 1);
    assert_eq!(store.alerts(true, 10).unwrap()[0].id.get(), 5);
    drop(store);
    let conn = Connection::open(&path).unwrap();
    let dangling: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(dangling, 0, "every reference still names its row");
    // The highest task is removed; the next task gets a new id all the same.
    conn.execute_batch(
        "DELETE FROM alerts WHERE task_id = 7; DELETE FROM transitions WHERE task_id = 7; \
         DELETE FROM jobs WHERE task_id = 7; DELETE FROM tasks WHERE id = 7;",
    )
    .unwrap();
    drop(conn);
    let store = Store::open(&path).unwrap();
    let (task, job) = store
        .create_task_with(
            orch_store::RepoId::new(1),
            &orch_store::NewTask::in_checkout("next"),
            &orch_store::NewJob::new(orch_store::TaskId::new(0), Stage::Analysis, Role::Analyst),
        )
        .unwrap();
    assert_eq!(
        (task.get(), job.get()),
        (8, 10),
        "ids 7 and 9 are not reused"
    );
}
