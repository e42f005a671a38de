//! `orch roadmap` on a scripted history, pinned by a golden file: a tester
//! whose LLM wrote FAILED five times (its CLI exiting 0 each time), a
//! reviewer whose APPROVED advanced while its CLI exited 1, and an LLM PASSED
//! that the staging runner then FAILED on the same commit.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is the failure report"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "the test starts the real orch binary"
)]

use orch_pipeline::{Role, Stage};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use orch_store::{
    GateDecision, JobCommits, JobEnd, LeaseOwner, NewAgentRun, NewJob, NewRepo, NewTransition,
    Store, TaskId, TaskStatus, Transport,
};

/// One run of a job: role, transport, cost, exit code, outcome.
type Run<'a> = (&'a str, Transport, Option<f64>, i32, &'a str);

/// Runs one job of `task` at `stage` for `role` to a gate-decided end.
#[expect(clippy::too_many_arguments, reason = "one scripted step, spelled out")]
fn step(
    store: &Store,
    task: TaskId,
    stage: &str,
    role: &str,
    runs: &[Run<'_>],
    passed: bool,
    commit: &str,
    to: &str,
) {
    let (stage, role): (Stage, Role) = (stage.parse().unwrap(), role.parse().unwrap());
    store.enqueue(&NewJob::new(task, stage, role)).unwrap();
    let claimed = store
        .claim(&LeaseOwner::new("boot", "w"), Duration::from_secs(60))
        .unwrap()
        .unwrap();
    let run = |(run_role, transport, cost, exit, outcome): &Run<'_>| {
        NewAgentRun::new(
            claimed.job.id,
            task,
            run_role.parse().unwrap(),
            stage,
            *transport,
            (*outcome).to_owned(),
        )
        .with_started_ms(0)
        .with_ended_ms(2_000)
        .with_duration_ms(2_000)
        .with_exit_code(Some(*exit))
        .with_cost_usd(*cost)
        .with_cost_source(cost.map(|_| "reported".to_owned()))
    };
    let (last, earlier) = runs.split_last().unwrap();
    for r in earlier {
        store.record_agent_run(&run(r)).unwrap();
    }
    let gate = orch_pipeline::gates_for(stage)[0].name();
    let transition = NewTransition::new(task, stage, to.parse().unwrap(), TaskStatus::Active)
        .with_developer_retries(0)
        .with_decisions(vec![
            GateDecision::new(
                gate.to_owned(),
                passed,
                if passed { "passed" } else { "failed" }.to_owned(),
            )
            .with_commit_sha(Some(commit.repeat(40)))
            .with_tree_clean(Some(true)),
        ]);
    store
        .complete_with_transition(
            claimed.lease,
            &JobEnd {
                transition: Some(&transition),
                run: Some(&run(last)),
                commits: Some(&JobCommits {
                    start: None,
                    end: Some(commit.repeat(40)),
                }),
                ..JobEnd::default()
            },
        )
        .unwrap();
}

const LLM: Transport = Transport::Llm;
const DET: Transport = Transport::Deterministic;

fn history(db: &Path) {
    let store = Store::open(db).unwrap();
    let mut demo = NewRepo::new("demo", "/srv/demo", "make staging");
    demo.test_command = Some("make test".into());
    let demo = store.add_repo(&demo).unwrap();
    let web = store
        .add_repo(&NewRepo::new("web", "/srv/web", "make staging"))
        .unwrap();
    // Task 1: the LLM tester writes FAILED five times (its CLI exits 0);
    // each time the developer reworks and the reviewer approves (its CLI
    // exiting 1 while its verdict advances).
    let one = store
        .add_task(demo, "five failures", Stage::Testing)
        .unwrap();
    for i in 0..5 {
        let commit = char::from(b'a' + i).to_string();
        step(
            &store,
            one,
            "testing",
            "tester",
            &[("tester", LLM, Some(0.03), 0, "passed")],
            false,
            &commit,
            "development",
        );
        step(
            &store,
            one,
            "development",
            "developer",
            &[("developer", LLM, Some(0.10), 0, "passed")],
            true,
            &commit,
            "review",
        );
        step(
            &store,
            one,
            "review",
            "reviewer",
            &[("reviewer", LLM, Some(0.05), 1, "failed")],
            true,
            &commit,
            "testing",
        );
    }
    step(
        &store,
        one,
        "testing",
        "tester",
        &[("tester", LLM, Some(0.03), 0, "passed")],
        true,
        "f",
        "deploy-staging",
    );
    step(
        &store,
        one,
        "deploy-staging",
        "deployer",
        &[("staging-runner", DET, None, 0, "passed")],
        true,
        "f",
        "deploy",
    );
    // Task 2: the LLM tester PASSED a commit the staging runner then FAILED.
    let two = store.add_task(web, "a wrong pass", Stage::Testing).unwrap();
    step(
        &store,
        two,
        "testing",
        "tester",
        &[("tester", LLM, Some(0.03), 0, "passed")],
        true,
        "1",
        "deploy-staging",
    );
    step(
        &store,
        two,
        "deploy-staging",
        "deployer",
        &[("staging-runner", DET, None, 1, "failed")],
        false,
        "1",
        "development",
    );
    step(
        &store,
        two,
        "development",
        "developer",
        &[("developer", LLM, Some(0.10), 0, "passed")],
        true,
        "2",
        "review",
    );
    step(
        &store,
        two,
        "review",
        "reviewer",
        &[("reviewer", LLM, Some(0.05), 0, "passed")],
        true,
        "2",
        "testing",
    );
    step(
        &store,
        two,
        "testing",
        "tester",
        &[("tester", LLM, Some(0.03), 0, "passed")],
        true,
        "2",
        "deploy-staging",
    );
    step(
        &store,
        two,
        "deploy-staging",
        "deployer",
        &[("staging-runner", DET, None, 0, "passed")],
        true,
        "2",
        "deploy",
    );
}

#[test]
fn the_roadmap_of_a_scripted_history_counts_verdicts_loops_and_false_passes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orch.db");
    history(&db);
    let output = Command::new(env!("CARGO_BIN_EXE_orch"))
        .args(["roadmap", "--db", db.to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("ORCH_HOME", dir.path())
        .env("ORCH_TEST_RUNNER_MODE", "shadow")
        .env("ORCH_TEST_RUNNER_REPOS", "demo,web")
        .env("ORCH_STAGING_RUNNER_REPOS", "demo,web")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    orch_tests::assert_golden(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/roadmap.txt"),
        &text,
        "UPDATE_GOLDEN=1 cargo test -p orch --test it roadmap::, then review the diff",
    );
    for needle in [
        "5 FAILED",
        "false PASSes (the next deterministic verdict on the same commit FAILED): 1, caught 1 at deploy-staging; the loops they let happen cost $0.1800",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
}

/// `orch repo update --test-runner` sets the repository's own mode, which
/// `orch roadmap` then reports as the one in force; `default` clears it.
#[test]
fn repo_update_sets_the_test_runner_per_repository() {
    let dir = tempfile::tempdir().unwrap();
    let checkout = dir.path().join("checkout");
    std::fs::create_dir_all(&checkout).unwrap();
    let orch = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_orch"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("ORCH_HOME", dir.path().join("home"))
            .env("ORCH_TEST_RUNNER_MODE", "shadow")
            .output()
            .unwrap()
    };
    let json = |args: &[&str]| {
        let output = orch(args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let path = checkout.to_str().unwrap();
    let added = json(&[
        "repo",
        "add",
        "calc",
        "--path",
        path,
        "--staging-cmd",
        "true",
        "--test-cmd",
        "true",
    ]);
    assert_eq!(added["test_runner"], serde_json::Value::Null);
    let on = json(&["repo", "update", "calc", "--test-runner", "on"]);
    assert_eq!(on["test_runner"], "on");
    let roadmap = String::from_utf8(orch(&["roadmap"]).stdout).unwrap();
    assert!(
        roadmap.contains(
            "- calc: runner on; the LLM runs because only on a fallback (the runner's internal error)\n           repo calc (test command"
        ),
        "{roadmap}"
    );
    let refused = orch(&["repo", "update", "calc", "--test-runner", "maybe"]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("on, shadow, off, or default"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let cleared = json(&["repo", "update", "calc", "--test-runner", "default"]);
    assert_eq!(cleared["test_runner"], serde_json::Value::Null);
    let roadmap = String::from_utf8(orch(&["roadmap"]).stdout).unwrap();
    assert!(roadmap.contains("- calc: runner shadow;"), "{roadmap}");
}
