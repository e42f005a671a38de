//! The `GET /queue` JSON and the `GET /metrics` text, from one snapshot of the
//! database. Field names are documented in docs/http.md and pinned by a test.

use std::fmt::Write as _;

use orch_launcher::{LauncherConfig, RepoScope, SuiteRunnerConfig};
use orch_store::{JobState, QueueSnapshot, Store, StoreError, SuiteRunnerStats};
use serde_json::{Value, json};

use crate::commands::rfc3339;

/// How many queued jobs, deferred jobs and alerts `/queue` lists.
pub(crate) const LIST_LIMIT: u32 = 20;

fn repos(scope: &RepoScope) -> Value {
    match scope {
        RepoScope::All => json!("*"),
        RepoScope::Only(names) => json!(names),
    }
}

/// The `/queue` document.
pub(crate) fn document(snapshot: &QueueSnapshot, config: &LauncherConfig) -> Value {
    let counts: serde_json::Map<String, Value> = snapshot
        .counts
        .iter()
        .map(|(state, n)| (state.as_str().to_owned(), json!(n)))
        .collect();
    let running: Vec<Value> = snapshot
        .running
        .iter()
        .map(|job| {
            json!({
                "job": job.id.get(),
                "task": job.task.get(),
                "repo": job.repo,
                "stage": job.stage.as_str(),
                "role": job.role.as_str(),
                "worker": format!("{}/{}", job.owner.boot_id, job.owner.worker),
                "started": job.started_ms.map(rfc3339),
                "elapsed_ms": job.elapsed_ms,
                "attempt": job.attempts,
            })
        })
        .collect();
    let queued = |jobs: &[orch_store::QueuedJob]| -> Vec<Value> {
        jobs.iter()
            .map(|job| {
                json!({
                    "job": job.id.get(),
                    "task": job.task.get(),
                    "repo": job.repo,
                    "stage": job.stage.as_str(),
                    "role": job.role.as_str(),
                    "run_after": rfc3339(job.run_after_ms),
                    "infra_attempts": job.infra_attempts,
                    "last_error": job.last_error,
                })
            })
            .collect()
    };
    let alerts: Vec<Value> = snapshot
        .alerts
        .iter()
        .map(|alert| {
            json!({
                "id": alert.id.get(),
                "kind": alert.kind.as_str(),
                "message": alert.message,
                "task": alert.task.map(orch_store::TaskId::get),
                "job": alert.job.map(orch_store::JobId::get),
                "at": rfc3339(alert.created_ms),
            })
        })
        .collect();
    let mut test_runner = runner_block(&config.test_runner, &snapshot.test_runner);
    if let Value::Object(block) = &mut test_runner {
        let agreement = &snapshot.test_runner_agreement;
        block.insert("mode".to_owned(), json!(config.test_runner.mode.as_str()));
        block.insert(
            "shadow".to_owned(),
            json!({
                "runs": agreement.runs,
                "agree": agreement.agree,
                "runner_only_failed": agreement.runner_only_failed,
                "llm_only_failed": agreement.llm_only_failed,
                "runner_no_verdict": agreement.runner_no_verdict,
                "other_commit": agreement.other_commit,
                "agreement": agreement.rate(),
            }),
        );
        block.insert("decisions".to_owned(), json!(decisions(snapshot)));
        // The latest pairs whose verdicts differ, newest first.
        block.insert(
            "disagreements".to_owned(),
            json!(
                snapshot
                    .shadow_disagreements
                    .iter()
                    .map(|pair| json!({
                        "task": pair.task.get(),
                        "job": pair.job.get(),
                        "stage": pair.stage.as_str(),
                        "runner_verdict": pair.runner_verdict,
                        "llm_verdict": pair.llm_verdict,
                        "rerun_verdict": pair.rerun_verdict,
                        "commit": pair.commit,
                        "at": rfc3339(pair.created_ms),
                    }))
                    .collect::<Vec<_>>()
            ),
        );
    }
    let tasks: serde_json::Map<String, Value> = snapshot
        .task_counts
        .iter()
        .map(|(status, n)| (status.as_str().to_owned(), json!(n)))
        .collect();
    json!({
        "at": rfc3339(snapshot.at_ms),
        "counts": counts,
        // Tasks by status (the job counts above count runs, not tasks).
        "tasks": tasks,
        // Each worker of this process with its last sign of life: filled by
        // `serve` ([`with_workers`]); empty where no worker runs.
        "workers": [],
        "running": running,
        "queued": queued(&snapshot.queued),
        "deferred": queued(&snapshot.deferred),
        "deferred_total": snapshot.deferred_total,
        "alerts": alerts,
        "alerts_total": snapshot.open_alerts_total,
        "staging_runner": runner_block(&config.staging_runner, &snapshot.staging_runner),
        "test_runner": test_runner,
        // The mode in force and what this kernel offers, so that an operator
        // sees at a glance whether runs are confined and how far.
        "sandbox": {
            "mode": config.sandbox.mode.as_str(),
            "landlock_abi": orch_process::sandbox::landlock_abi(),
            "required_abi": orch_process::sandbox::REQUIRED_ABI,
        },
    })
}

/// Puts each worker's last sign of life in a `/queue` document: its name,
/// when it was last seen (its last claim attempt, or its running job's
/// heartbeat), how long ago as of the document's time, and whether its
/// thread still runs.
pub(crate) fn with_workers(document: &mut Value, beats: &[orch_launcher::WorkerBeat], at_ms: i64) {
    let workers: Vec<Value> = beats
        .iter()
        .map(|beat| {
            json!({
                "worker": beat.worker,
                "last_heartbeat": rfc3339(beat.last_beat_ms),
                "seconds_ago": (at_ms.saturating_sub(beat.last_beat_ms).max(0) as f64) / 1000.0,
                "alive": beat.alive,
            })
        })
        .collect();
    if let Value::Object(map) = document {
        map.insert("workers".to_owned(), Value::Array(workers));
    }
}

/// Per repository with shadow pairs, the evidence for its current test
/// command and the decision to switch its test runner on, by
/// `orch_inventory`'s default policy: what `orch roadmap` says.
pub(crate) fn decisions(snapshot: &QueueSnapshot) -> Vec<Value> {
    let pairs: Vec<orch_inventory::ShadowPairs> = snapshot
        .test_runner_evidence
        .iter()
        .map(|e| orch_inventory::ShadowPairs {
            repo: e.repo.clone(),
            command_sha: e.command_sha.clone(),
            both_passed: e.both_passed,
            both_failed: e.both_failed,
            runner_only_failed: e.runner_only_failed,
            llm_only_failed: e.llm_only_failed,
            runner_no_verdict: e.runner_no_verdict,
            other_commit: e.other_commit,
            flaky: e.flaky,
        })
        .collect();
    orch_inventory::SwitchPolicy::default()
        .decisions(&snapshot.test_runner_commands, &pairs)
        .iter()
        .map(|d| {
            let (decision, more) = match d.recommendation {
                orch_inventory::Recommendation::Ready { .. } => ("ready", None),
                orch_inventory::Recommendation::NeedMore { more, .. } => ("need-more", Some(more)),
                orch_inventory::Recommendation::NoTestCommand => ("no-test-command", None),
            };
            json!({
                "repo": d.repo,
                "command_sha": d.command_sha,
                "compared": d.compared,
                "agreement": d.agreement,
                "kappa": d.kappa,
                "let_through": d.let_through,
                "sent_back": d.pairs.runner_only_failed,
                "bound": d.bound,
                "not_compared": d.pairs.runner_no_verdict + d.pairs.other_commit,
                "flaky": d.pairs.flaky,
                "other_commands": d.other_commands,
                "decision": decision,
                "more": more,
                "summary": d.recommendation.to_string(),
            })
        })
        .collect()
}

/// A suite runner's block: its configuration and its counters.
fn runner_block(settings: &SuiteRunnerConfig, stats: &SuiteRunnerStats) -> Value {
    json!({
        "enabled": settings.enabled,
        "repos": repos(&settings.repos),
        "timeout_secs": settings.timeout.as_secs_f64(),
        "grace_secs": settings.grace.as_secs_f64(),
        "infra_retries": settings.retry.retries,
        "runs": stats.runs,
        "passed": stats.passed,
        "failed": stats.failed,
        "timed_out": stats.timed_out,
        "tool_errors": stats.tool_errors,
        "deferred": stats.deferred,
        "exhausted": stats.exhausted,
        "fallbacks_to_llm": stats.fallbacks_to_llm,
        "cancelled": stats.cancelled,
        "other": stats.other,
        "last_run": stats.last_run.as_ref().map(|run| json!({
            "task": run.task.get(),
            "status": run.outcome,
            "duration_ms": run.duration_ms,
            "at": rfc3339(run.ended_ms),
        })),
    })
}

/// One suite runner's metrics: its switch and its counters.
fn runner_metrics(
    out: &mut String,
    name: &str,
    settings: &SuiteRunnerConfig,
    stats: &SuiteRunnerStats,
    llm: &str,
) {
    let what = name.replace('_', " ");
    let _ = writeln!(
        out,
        "# HELP orch_{name}_enabled Whether the {what}'s kill-switch is on.\n# TYPE orch_{name}_enabled gauge\norch_{name}_enabled {}",
        u8::from(settings.enabled)
    );
    let fallbacks = format!("Jobs handed to the LLM {llm}.");
    let runs = format!(
        "{} runs, whatever their outcome: passed + failed + timed_out + tool_errors + fallbacks_to_llm + cancelled + other.",
        capitalized(&what)
    );
    for (counter, value, help) in [
        ("runs", stats.runs, runs.as_str()),
        ("passed", stats.passed, "Suites that ran and passed."),
        ("failed", stats.failed, "Suites that ran and failed."),
        (
            "timed_out",
            stats.timed_out,
            "Suites ended by their time limit.",
        ),
        (
            "tool_errors",
            stats.tool_errors,
            "Suites that could not run (deferred, exhausted, or a shadow run's tool error).",
        ),
        (
            "deferred",
            stats.deferred,
            "Jobs deferred after a tool error.",
        ),
        (
            "exhausted",
            stats.exhausted,
            "Stages failed closed after the infra retries.",
        ),
        (
            "fallbacks_to_llm",
            stats.fallbacks_to_llm,
            fallbacks.as_str(),
        ),
        (
            "cancelled",
            stats.cancelled,
            "Runs the worker stopped (shutdown, lost lease).",
        ),
        (
            "other",
            stats.other,
            "Runs of any other outcome (none expected).",
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP orch_{name}_{counter}_total {help}\n# TYPE orch_{name}_{counter}_total counter\norch_{name}_{counter}_total {value}"
        );
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The `/queue` document, read now.
///
/// # Errors
///
/// The store's error when the database does not answer.
pub(crate) fn queue_json(store: &Store, config: &LauncherConfig) -> Result<Value, StoreError> {
    let mut document = document(&store.queue_snapshot(LIST_LIMIT)?, config);
    let modes: Vec<(String, String)> = store
        .repos()?
        .into_iter()
        .filter_map(|repo| repo.test_runner_mode.map(|mode| (repo.name, mode)))
        .collect();
    with_repo_modes(&mut document, &modes);
    Ok(document)
}

/// Adds `test_runner.repo_modes`: each repository whose test-runner mode
/// overrides the global one (`orch repo update NAME --test-runner MODE`),
/// as `{repo, mode}`, by name. Read beside the snapshot (the repositories are
/// few), not inside its transaction.
pub(crate) fn with_repo_modes(document: &mut Value, modes: &[(String, String)]) {
    if let Some(Value::Object(block)) = document.get_mut("test_runner") {
        let modes: Vec<Value> = modes
            .iter()
            .map(|(repo, mode)| json!({"repo": repo, "mode": mode}))
            .collect();
        block.insert("repo_modes".to_owned(), Value::Array(modes));
    }
}

/// The same counters in the Prometheus text format (`orch_` prefix, `_total`
/// suffix on counters).
///
/// # Errors
///
/// The store's error when the database does not answer.
pub(crate) fn metrics(store: &Store, config: &LauncherConfig) -> Result<String, StoreError> {
    let snapshot = store.queue_snapshot(0)?;
    let mut out = String::new();
    out.push_str("# HELP orch_jobs Jobs in each state of the queue.\n# TYPE orch_jobs gauge\n");
    for state in JobState::ALL {
        let n = snapshot
            .counts
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "orch_jobs{{state=\"{}\"}} {n}", state.as_str());
    }
    let _ = writeln!(
        out,
        "# HELP orch_alerts_open Alerts not yet acknowledged.\n# TYPE orch_alerts_open gauge\norch_alerts_open {}",
        snapshot.open_alerts_total
    );
    for (name, settings, stats, llm) in [
        (
            "staging_runner",
            &config.staging_runner,
            &snapshot.staging_runner,
            "deployer",
        ),
        (
            "test_runner",
            &config.test_runner,
            &snapshot.test_runner,
            "tester",
        ),
    ] {
        runner_metrics(&mut out, name, settings, stats, llm);
    }
    let agreement = &snapshot.test_runner_agreement;
    for (name, value, help) in [
        (
            "runs",
            agreement.runs,
            "Testing jobs with both verdicts recorded (shadow mode).",
        ),
        ("agree", agreement.agree, "Pairs where both said the same."),
        (
            "runner_only_failed",
            agreement.runner_only_failed,
            "Pairs where only the test runner said FAILED.",
        ),
        (
            "llm_only_failed",
            agreement.llm_only_failed,
            "Pairs where only the LLM tester said FAILED.",
        ),
        (
            "runner_no_verdict",
            agreement.runner_no_verdict,
            "Pairs where the test runner produced no verdict.",
        ),
        (
            "other_commit",
            agreement.other_commit,
            "Pairs whose two verdicts are about different commits: kept, not compared.",
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP orch_test_runner_shadow_{name}_total {help}\n# TYPE orch_test_runner_shadow_{name}_total counter\norch_test_runner_shadow_{name}_total {value}"
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orch_pipeline::{Role, Stage};
    use orch_store::{
        Alert, AlertId, JobId, LeaseOwner, QueuedJob, RunningJob, StagingRunnerRun,
        StagingRunnerStats, TaskId,
    };

    /// Replaces every value by its type's name, keeping the keys: the
    /// contract is the shape, not the figures.
    fn shape(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().take(1).map(shape).collect()),
            Value::String(_) => Value::String("string".into()),
            Value::Number(_) => Value::String("number".into()),
            Value::Bool(_) => Value::String("bool".into()),
            Value::Null => Value::Null,
        }
    }

    /// A snapshot with one of everything.
    fn full_snapshot() -> QueueSnapshot {
        let queued = QueuedJob {
            id: JobId::new(7),
            task: TaskId::new(3),
            repo: "api".into(),
            stage: Stage::DeployStaging,
            role: Role::Deployer,
            run_after_ms: 1_795_000_000_000,
            attempts: 0,
            infra_attempts: 1,
            last_error: Some("command not found".into()),
        };
        QueueSnapshot {
            at_ms: 1_795_000_000_000,
            counts: JobState::ALL.iter().map(|s| (*s, 1)).collect(),
            shadow_disagreements: vec![orch_store::ShadowVerdict {
                job: JobId::new(5),
                task: TaskId::new(2),
                stage: orch_store::Stage::Testing,
                runner_run: orch_store::AgentRunId::new(8),
                llm_run: Some(orch_store::AgentRunId::new(9)),
                commit: Some("abc".into()),
                llm_commit: Some("abc".into()),
                runner_verdict: Some("FAILED".into()),
                llm_verdict: "PASSED".into(),
                created_ms: 1_795_000_000_000,
                command_sha: None,
                rerun_verdict: Some("FAILED".into()),
            }],
            task_counts: orch_store::TaskStatus::ALL
                .iter()
                .map(|s| (*s, 2))
                .collect(),
            running: vec![RunningJob {
                id: JobId::new(5),
                task: TaskId::new(2),
                repo: "api".into(),
                stage: Stage::Development,
                role: Role::Developer,
                owner: LeaseOwner::new("boot-1", "worker-0"),
                started_ms: Some(1_794_999_990_000),
                elapsed_ms: Some(10_000),
                lease_expires_ms: 1_795_000_050_000,
                attempts: 1,
                max_attempts: 3,
            }],
            queued: vec![queued.clone()],
            deferred: vec![queued],
            deferred_total: 1,
            alerts: vec![Alert {
                id: AlertId::new(1),
                kind: orch_store::AlertKind::StagingRunnerExhausted,
                message: "the suite could not run".into(),
                task: Some(TaskId::new(3)),
                job: Some(JobId::new(7)),
                created_ms: 1_795_000_000_000,
                acknowledged_ms: None,
            }],
            open_alerts_total: 1,
            test_runner: SuiteRunnerStats {
                runs: 3,
                passed: 2,
                failed: 1,
                last_run: Some(StagingRunnerRun {
                    id: orch_store::AgentRunId::new(11),
                    task: TaskId::new(4),
                    outcome: "passed".into(),
                    duration_ms: 40,
                    ended_ms: 1_795_000_000_000,
                }),
                ..SuiteRunnerStats::default()
            },
            test_runner_agreement: orch_store::ShadowAgreement {
                runs: 4,
                agree: 2,
                runner_only_failed: 1,
                llm_only_failed: 1,
                runner_no_verdict: 0,
                other_commit: 0,
            },
            test_runner_evidence: vec![orch_store::ShadowEvidence {
                repo: "api".into(),
                command_sha: Some(orch_store::command_sha256("cargo test")),
                both_passed: 2,
                both_failed: 0,
                runner_only_failed: 1,
                llm_only_failed: 1,
                runner_no_verdict: 0,
                other_commit: 0,
                flaky: 0,
            }],
            test_runner_commands: vec![(
                "api".into(),
                Some(orch_store::command_sha256("cargo test")),
            )],
            staging_runner: StagingRunnerStats {
                runs: 4,
                passed: 1,
                failed: 1,
                timed_out: 0,
                tool_errors: 2,
                deferred: 1,
                exhausted: 1,
                fallbacks_to_llm: 0,
                cancelled: 0,
                other: 0,
                last_run: Some(StagingRunnerRun {
                    id: orch_store::AgentRunId::new(9),
                    task: TaskId::new(3),
                    outcome: "exhausted".into(),
                    duration_ms: 12,
                    ended_ms: 1_795_000_000_000,
                }),
            },
        }
    }

    #[test]
    fn the_queue_document_keeps_its_field_names() {
        let config = LauncherConfig::new("/srv/orch");
        let mut document = document(&full_snapshot(), &config);
        with_repo_modes(&mut document, &[("api".to_owned(), "on".to_owned())]);
        with_workers(
            &mut document,
            &[orch_launcher::WorkerBeat {
                worker: "worker-0".to_owned(),
                last_beat_ms: 1_795_000_000_000,
                alive: true,
            }],
            1_795_000_001_500,
        );
        let mut text = serde_json::to_string_pretty(&shape(&document)).unwrap();
        text.push('\n');
        orch_tests::assert_golden(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/queue.json"),
            &text,
            "UPDATE_GOLDEN=1 cargo test -p orch queue, then update docs/http.md and the CHANGELOG",
        );
        assert_eq!(document["staging_runner"]["repos"], "*");
        assert_eq!(document["test_runner"]["mode"], "shadow");
        assert_eq!(document["test_runner"]["shadow"]["agreement"], 0.5);
        assert_eq!(document["test_runner"]["shadow"]["runner_only_failed"], 1);
        assert!(document["staging_runner"].get("mode").is_none());
        assert_eq!(document["counts"]["running"], 1);
        assert_eq!(document["tasks"]["blocked"], 2);
        assert_eq!(document["workers"][0]["seconds_ago"], 1.5);
        assert_eq!(
            document["sandbox"]["mode"],
            config.sandbox.mode.as_str(),
            "the mode in force"
        );
        assert_eq!(document["sandbox"]["required_abi"], 6);
    }

    /// A run of `role` for `job` that ended with `outcome`.
    fn agent_run(
        job: JobId,
        task: TaskId,
        role: Role,
        transport: orch_store::Transport,
        outcome: &str,
    ) -> orch_store::NewAgentRun {
        orch_store::NewAgentRun::new(job, task, role, Stage::Testing, transport, outcome)
            .with_started_ms(0)
            .with_ended_ms(1)
            .with_duration_ms(1)
            .with_exit_code(Some(0))
    }

    /// Records `n` shadow pairs of the testing stage for `task`, judged
    /// with `command`, on one commit: the runner says `runner`, the LLM
    /// `llm`.
    fn record_pairs(store: &Store, task: TaskId, command: &str, runner: &str, llm: &str, n: usize) {
        for _ in 0..n {
            store
                .enqueue(&orch_store::NewJob::new(task, Stage::Testing, Role::Tester))
                .unwrap();
            let claimed = store
                .claim(
                    &LeaseOwner::new("boot-1", "w"),
                    std::time::Duration::from_secs(60),
                )
                .unwrap()
                .unwrap();
            let run = |role, transport| agent_run(claimed.job.id, task, role, transport, "passed");
            let runner_run = store
                .record_agent_run(&run(Role::TestRunner, orch_store::Transport::Deterministic))
                .unwrap();
            let pair = orch_store::NewShadowVerdict::new(Stage::Testing, runner_run, llm)
                .with_commit(Some("a".repeat(40)))
                .with_llm_commit(Some("a".repeat(40)))
                .with_runner_verdict(Some(runner.into()))
                .with_command_sha(Some(orch_store::command_sha256(command)));
            store
                .complete_with_transition(
                    claimed.lease,
                    &orch_store::JobEnd {
                        run: Some(&run(Role::Tester, orch_store::Transport::Llm)),
                        shadow: Some(&pair),
                        ..orch_store::JobEnd::default()
                    },
                )
                .unwrap();
        }
    }

    /// `/queue` says per repository what `orch roadmap` says: ready to
    /// switch once the current command's pairs are enough, how many more
    /// otherwise; pairs of an earlier command do not count.
    #[test]
    fn the_queue_shows_each_repositorys_switch_decision() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("orch.db")).unwrap();
        let add = |name: &str, command: Option<&str>| {
            let repo = store
                .add_repo(
                    &orch_store::NewRepo::new(name, format!("/srv/{name}"), "make staging")
                        .with_test_command(command.map(str::to_owned)),
                )
                .unwrap();
            store.add_task(repo, "a task", Stage::Testing).unwrap()
        };
        let ready = add("ready", Some("cargo test"));
        let young = add("young", Some("make test"));
        let quiet = add("quiet", Some("make test"));
        record_pairs(&store, ready, "cargo test", "PASSED", "PASSED", 300);
        record_pairs(&store, young, "make test", "FAILED", "FAILED", 10);
        // Pairs of a command the repository no longer runs.
        record_pairs(&store, young, "make check", "PASSED", "PASSED", 5);
        let _ = quiet;
        let document = queue_json(&store, &LauncherConfig::new("/srv/orch")).unwrap();
        let decisions = document["test_runner"]["decisions"].as_array().unwrap();
        let repos: Vec<&str> = decisions
            .iter()
            .map(|d| d["repo"].as_str().unwrap())
            .collect();
        assert_eq!(
            repos,
            ["ready", "young"],
            "repositories with pairs, by name"
        );
        let ready = &decisions[0];
        assert_eq!(ready["decision"], "ready");
        assert_eq!(ready["compared"], 300);
        assert_eq!(ready["let_through"], 0);
        assert_eq!(
            ready["summary"].as_str().unwrap(),
            "ready to switch: 300 pairs, bound 0.99%"
        );
        let young = &decisions[1];
        assert_eq!(young["decision"], "need-more");
        assert_eq!(young["compared"], 10);
        assert_eq!(young["other_commands"], 5);
        assert_eq!(young["more"], 290);
        assert!(
            young["summary"]
                .as_str()
                .unwrap()
                .starts_with("need 290 more pairs"),
            "{young}"
        );
        assert_eq!(
            young["command_sha"].as_str().unwrap(),
            orch_store::command_sha256("make test")
        );
        assert_eq!(document["test_runner"]["shadow"]["runs"], 315);
    }

    #[test]
    fn metrics_name_every_counter_with_the_orch_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("orch.db")).unwrap();
        let text = metrics(&store, &LauncherConfig::new("/srv/orch")).unwrap();
        for name in [
            "orch_jobs{state=\"queued\"} 0",
            "orch_alerts_open 0",
            "orch_staging_runner_enabled 1",
            "orch_staging_runner_runs_total 0",
            "orch_staging_runner_fallbacks_to_llm_total 0",
            "orch_test_runner_enabled 1",
            "orch_test_runner_runs_total 0",
            "orch_test_runner_shadow_runner_only_failed_total 0",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
    }

    /// Issue 21: each runner's result buckets in `/metrics` add up to its
    /// `runs_total`, a shadow tool error and a cancelled run included.
    #[test]
    fn metrics_buckets_add_up_to_the_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("orch.db")).unwrap();
        let repo = store
            .add_repo(&orch_store::NewRepo::new("api", "/srv/api", "make staging"))
            .unwrap();
        let task = store.add_task(repo, "a task", Stage::Testing).unwrap();
        let job = store
            .enqueue(&orch_store::NewJob::new(task, Stage::Testing, Role::Tester))
            .unwrap();
        for (role, outcomes) in [
            (
                Role::TestRunner,
                "passed failed tool_error deferred cancelled",
            ),
            (Role::StagingRunner, "passed cancelled cancelled"),
        ] {
            for outcome in outcomes.split(' ') {
                let transport = orch_store::Transport::Deterministic;
                let run = agent_run(job, task, role, transport, outcome);
                store.record_agent_run(&run).unwrap();
            }
        }
        let text = metrics(&store, &LauncherConfig::new("/srv/orch")).unwrap();
        let value = |name: &str| -> u64 {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
                .parse()
                .unwrap()
        };
        for (runner, runs) in [("test_runner", 5), ("staging_runner", 3)] {
            let total = value(&format!("orch_{runner}_runs_total"));
            assert_eq!(total, runs, "{text}");
            let buckets: u64 =
                "passed failed timed_out tool_errors fallbacks_to_llm cancelled other"
                    .split(' ')
                    .map(|bucket| value(&format!("orch_{runner}_{bucket}_total")))
                    .sum();
            assert_eq!(buckets, total, "{runner}'s buckets add up:\n{text}");
        }
        assert_eq!(value("orch_test_runner_tool_errors_total"), 2, "{text}");
        assert_eq!(value("orch_staging_runner_cancelled_total"), 2, "{text}");
    }
}
