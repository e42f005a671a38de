//! The roadmap computed from hand-made run figures against this
//! repository's inventory (avoidable: tester C5, deployer C6).

#![expect(
    clippy::panic,
    clippy::too_many_arguments,
    reason = "test helpers: a panic is the failure report; a row is spelled out in one call"
)]

use std::path::PathBuf;

use orch_inventory::{Inventory, RoleRunStats, Transport, roadmap};

fn inventory() -> Inventory {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    Inventory::load(&root).unwrap_or_else(|e| panic!("{e}"))
}

/// A row; costs in dollars per run, `None` for "not reported".
fn row(
    role: &str,
    stage: &str,
    transport: Transport,
    runs: u64,
    tasks: u64,
    mean_ms: f64,
    cost_per_run: Option<f64>,
    failed: (u64, Option<f64>),
) -> RoleRunStats {
    let total_ms = (mean_ms * runs as f64) as i64;
    let total_cost = cost_per_run.map(|c| c * runs as f64);
    RoleRunStats {
        role: role.to_owned(),
        stage: stage.to_owned(),
        transport,
        runs,
        tasks,
        total_duration_ms: total_ms,
        mean_duration_ms: mean_ms,
        cost_runs: if cost_per_run.is_some() { runs } else { 0 },
        total_cost_usd: total_cost,
        mean_cost_usd: cost_per_run,
        failed_runs: failed.0,
        failed_cost_usd: failed.1,
    }
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn an_empty_input_yields_a_roadmap_that_says_so() {
    let plan = roadmap(&inventory(), &[]);
    assert!(
        plan.summary.starts_with("no runs recorded"),
        "{}",
        plan.summary
    );
    assert!(plan.figures.is_empty());
    let roles: Vec<&str> = plan.candidates.iter().map(|c| c.role.as_str()).collect();
    assert_eq!(roles, ["tester", "deployer"], "inventory order");
    for c in &plan.candidates {
        assert_eq!(c.llm_runs, 0);
        assert_eq!(c.score_usd_per_task, None);
        assert!(
            c.notes
                .iter()
                .any(|n| n.starts_with("no LLM runs recorded")),
            "{:?}",
            c.notes
        );
    }
    let text = plan.to_text();
    assert!(text.contains("no runs recorded"), "{text}");
    assert!(text.contains("(none)"), "{text}");
}

#[test]
fn savings_are_per_task_against_the_deterministic_runs_of_the_stage() {
    let stats = [
        row(
            "deployer",
            "deploy-staging",
            Transport::Llm,
            10,
            10,
            60_000.0,
            Some(0.2),
            (2, Some(0.4)),
        ),
        row(
            "staging-runner",
            "deploy-staging",
            Transport::Deterministic,
            20,
            20,
            10_000.0,
            None,
            (3, None),
        ),
        // The tester runs twice per task.
        row(
            "tester",
            "testing",
            Transport::Llm,
            10,
            5,
            30_000.0,
            Some(0.1),
            (0, None),
        ),
        row(
            "reviewer",
            "review",
            Transport::Llm,
            5,
            5,
            20_000.0,
            Some(0.3),
            (1, Some(0.3)),
        ),
    ];
    let plan = roadmap(&inventory(), &stats);
    assert!(
        plan.summary.starts_with("45 runs recorded"),
        "{}",
        plan.summary
    );
    assert_eq!(plan.figures.len(), 4);
    let deployer = &plan.candidates[0];
    assert_eq!((deployer.rank, deployer.role.as_str()), (1, "deployer"));
    assert!(close(deployer.saving_usd_per_task, 0.2), "{deployer:?}");
    assert!(
        close(deployer.failure_cost_usd_per_task, 0.04),
        "{deployer:?}"
    );
    assert!(close(deployer.score_usd_per_task, 0.24), "{deployer:?}");
    assert!(close(deployer.saving_ms_per_task, 50_000.0), "{deployer:?}");
    assert_eq!(deployer.deterministic_runs, 20);
    assert_eq!(deployer.implemented_by.as_deref(), Some("staging-runner"));
    let tester = &plan.candidates[1];
    assert_eq!((tester.rank, tester.role.as_str()), (2, "tester"));
    assert!(close(tester.saving_usd_per_task, 0.2), "{tester:?}");
    assert!(close(tester.score_usd_per_task, 0.2), "{tester:?}");
    assert_eq!(tester.saving_ms_per_task, None);
    assert!(
        tester
            .notes
            .iter()
            .any(|n| n.starts_with("no deterministic runs recorded at testing")),
        "{:?}",
        tester.notes
    );
    // The reviewer is measured but is no candidate.
    let reviewer = plan.figures.iter().find(|f| f.role == "reviewer").unwrap();
    assert_eq!(reviewer.class, "keep");
    let runner = plan
        .figures
        .iter()
        .find(|f| f.role == "staging-runner")
        .unwrap();
    assert_eq!(runner.class, "reserved-agent");
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
}

#[test]
fn an_llm_role_that_fails_expensively_ranks_higher() {
    // Both save $0.20 per task; the tester's failures cost $0.50 over 5 tasks.
    let stats = [
        row(
            "deployer",
            "deploy-staging",
            Transport::Llm,
            5,
            5,
            1_000.0,
            Some(0.2),
            (0, None),
        ),
        row(
            "tester",
            "testing",
            Transport::Llm,
            5,
            5,
            1_000.0,
            Some(0.2),
            (2, Some(0.5)),
        ),
    ];
    let plan = roadmap(&inventory(), &stats);
    let order: Vec<&str> = plan.candidates.iter().map(|c| c.role.as_str()).collect();
    assert_eq!(order, ["tester", "deployer"]);
    assert!(close(plan.candidates[0].score_usd_per_task, 0.3));
    assert!(close(plan.candidates[1].score_usd_per_task, 0.2));
}

#[test]
fn missing_figures_are_said_not_invented() {
    let stats = [
        // The tester's agent reported no cost; the deployer never ran as an LLM.
        row(
            "tester",
            "testing",
            Transport::Llm,
            4,
            4,
            1_000.0,
            None,
            (1, None),
        ),
        row(
            "staging-runner",
            "deploy-staging",
            Transport::Deterministic,
            3,
            3,
            500.0,
            None,
            (0, None),
        ),
        row(
            "qa-bot",
            "review",
            Transport::Llm,
            1,
            1,
            10.0,
            None,
            (0, None),
        ),
    ];
    let plan = roadmap(&inventory(), &stats);
    let tester = &plan.candidates[0];
    assert_eq!(tester.role, "tester");
    assert_eq!(tester.saving_usd_per_task, None);
    assert_eq!(tester.score_usd_per_task, None);
    assert!(
        tester.notes.iter().any(|n| n == "no cost reported"),
        "{:?}",
        tester.notes
    );
    let deployer = &plan.candidates[1];
    assert_eq!(deployer.role, "deployer");
    assert_eq!(deployer.llm_runs, 0);
    assert!(
        deployer
            .notes
            .iter()
            .any(|n| n == "no LLM runs recorded for deployer at deploy-staging"),
        "{:?}",
        deployer.notes
    );
    let figure = plan.figures.iter().find(|f| f.role == "tester").unwrap();
    assert_eq!(figure.mean_cost_usd, None);
    assert_eq!(figure.notes, ["no cost reported"]);
    assert_eq!(
        plan.notes,
        ["runs of qa-bot at review (llm) match no call site or reserved agent of the inventory"]
    );
}

#[test]
fn partial_costs_and_unknown_task_counts_are_noted() {
    let mut tester = row(
        "tester",
        "testing",
        Transport::Llm,
        4,
        0,
        1_000.0,
        Some(0.1),
        (0, None),
    );
    tester.cost_runs = 2;
    tester.total_cost_usd = Some(0.2);
    let plan = roadmap(&inventory(), &[tester]);
    let c = &plan.candidates[0];
    assert!(
        c.notes.iter().any(|n| n == "cost reported by 2 of 4 runs"),
        "{:?}",
        c.notes
    );
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("task count not given, figures are per run")),
        "{:?}",
        c.notes
    );
    // $0.20 reported over 4 runs (the task count being unknown): a lower bound.
    assert!(close(c.saving_usd_per_task, 0.05), "{c:?}");
}

#[test]
fn the_roadmap_renders_as_a_table_and_as_json() {
    let stats = [
        row(
            "deployer",
            "deploy-staging",
            Transport::Llm,
            2,
            2,
            2_000.0,
            Some(0.5),
            (0, None),
        ),
        row(
            "staging-runner",
            "deploy-staging",
            Transport::Deterministic,
            2,
            2,
            1_000.0,
            None,
            (0, None),
        ),
    ];
    let plan = roadmap(&inventory(), &stats);
    let text = plan.to_text();
    assert_eq!(text, plan.to_string());
    for needle in [
        "Figures per role and transport",
        "Candidates (avoidable LLM control paths), best first",
        "implemented: staging-runner, llm fallback (configuration not given)",
        "$0.5000",
        "1.0 s",
        // No "shadow mode" without the configuration that says so.
        "implemented: test-runner, llm fallback (configuration not given)",
        "shadow agreement (all repositories, all commands): 0 runs, 0 agree, 0 runner-only FAILED",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    // With the store's agreement figures for the tester's stage.
    let figures = orch_inventory::ShadowFigures {
        runs: 4,
        agree: 3,
        runner_only_failed: 1,
        ..Default::default()
    };
    let shadowed =
        orch_inventory::roadmap_with(&inventory(), &stats, &[("testing".into(), figures)]);
    let tester = shadowed
        .candidates
        .iter()
        .find(|c| c.role == "tester")
        .unwrap();
    assert_eq!(tester.shadow, Some(figures));
    assert!(
        shadowed.to_text().contains(
            "shadow agreement (all repositories, all commands): 4 runs, 3 agree (75.0%), 1 runner-only FAILED, 0 LLM-only FAILED"
        ),
        "{}",
        shadowed.to_text()
    );
    let deployer = shadowed
        .candidates
        .iter()
        .find(|c| c.role == "deployer")
        .unwrap();
    assert_eq!(
        deployer.shadow, None,
        "the staging runner has no shadow mode"
    );
    let json: serde_json::Value = serde_json::from_str(&plan.to_json().unwrap()).unwrap();
    assert_eq!(json["candidates"][0]["role"], "deployer");
    assert_eq!(json["candidates"][0]["rank"], 1);
    assert_eq!(
        json["candidates"][1]["saving_usd_per_task"],
        serde_json::Value::Null
    );
    assert_eq!(json["figures"][0]["transport"], "llm");
    assert_eq!(json["figures"][1]["transport"], "deterministic");
}

#[test]
fn transports_parse_and_display_as_the_store_writes_them() {
    for t in [Transport::Llm, Transport::Deterministic] {
        assert_eq!(t.as_str().parse::<Transport>().unwrap(), t);
    }
    let error = "LLM".parse::<Transport>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown transport \"LLM\": expected llm or deterministic"
    );
}

/// Per repository: the runner's state from the configuration in force, why
/// the LLM still runs there, and the shadow evidence of its current command
/// with its decision.
#[test]
fn each_repository_says_why_the_llm_runs_and_whether_the_evidence_decides() {
    use orch_inventory::{RepoRunner, RoadmapInput, RunnerState, ShadowPairs};
    let sha = |c: char| Some(c.to_string().repeat(64));
    let runner = |repo: &str, stage: &str, state, command_sha| RepoRunner {
        repo: repo.into(),
        stage: stage.into(),
        state,
        command_sha,
    };
    let input = RoadmapInput {
        stats: vec![row(
            "tester",
            "testing",
            Transport::Llm,
            4,
            4,
            1000.0,
            Some(0.1),
            (0, None),
        )],
        pairs: vec![(
            "testing".into(),
            vec![
                ShadowPairs {
                    repo: "ready".into(),
                    command_sha: sha('a'),
                    both_passed: 250,
                    both_failed: 50,
                    runner_no_verdict: 4,
                    ..ShadowPairs::default()
                },
                ShadowPairs {
                    repo: "young".into(),
                    command_sha: sha('b'),
                    llm_only_failed: 1,
                    ..ShadowPairs::default()
                },
                ShadowPairs {
                    repo: "young".into(),
                    command_sha: sha('z'),
                    both_passed: 900,
                    ..ShadowPairs::default()
                },
            ],
        )],
        runners: vec![
            runner("ready", "testing", RunnerState::Shadow, sha('a')),
            runner("young", "testing", RunnerState::Shadow, sha('b')),
            runner("lib", "testing", RunnerState::NoCommand, None),
            runner("ready", "deploy-staging", RunnerState::On, sha('s')),
            runner("young", "deploy-staging", RunnerState::NotEnabled, sha('t')),
        ],
        ..RoadmapInput::default()
    };
    let plan = orch_inventory::roadmap_from(&inventory(), &input);
    let tester = plan.candidates.iter().find(|c| c.role == "tester").unwrap();
    assert_eq!(
        tester.status,
        "implemented: test-runner, llm fallback; repositories: shadow 2, no command 1"
    );
    let deployer = plan
        .candidates
        .iter()
        .find(|c| c.role == "deployer")
        .unwrap();
    assert_eq!(
        deployer.status,
        "implemented: staging-runner, llm fallback; repositories: on 1, not enabled 1"
    );
    assert!(
        deployer.repos.iter().all(|r| r.evidence.is_none()),
        "no shadow mode"
    );
    let text = plan.to_text();
    for needle in [
        "- ready: runner shadow; the LLM runs because shadow mode: the LLM decides, the runner measures",
        "repo ready (test command aaaaaaaa): 300 pairs, 300 agree (100.0%), kappa 1.00, 0 let through by the runner (bound 0.99%), 0 sent back by the runner, 4 not compared (no runner verdict or another commit); ready to switch: 300 pairs, bound 0.99%",
        "repo young (test command bbbbbbbb): 1 pairs, 0 agree (0.0%), kappa 0.00, 1 let through by the runner (bound 100%), 0 sent back by the runner, 900 of another test command not counted; need 472 more pairs (bound now 100%)",
        "- lib: runner no command; the LLM runs because the repository names no command for the runner",
        "no test command: the LLM tester serves it",
        "- young: runner not enabled; the LLM runs because the repository is not in the runner's scope",
        "Clopper-Pearson upper bound (0 in n: about 3/n); ready to switch at 300 pairs or more with the bound at most 1%",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    let json: serde_json::Value = serde_json::from_str(&plan.to_json().unwrap()).unwrap();
    let ready = &json["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"] == "tester")
        .unwrap()["repos"][0];
    assert_eq!(ready["evidence"]["recommendation"]["decision"], "ready");
    assert_eq!(ready["evidence"]["compared"], 300);
}
