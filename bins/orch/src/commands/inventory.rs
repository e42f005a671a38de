//! `orch inventory check|show` and `orch roadmap`: wiring of `orch-inventory`
//! (the map and its checks) and the store's run statistics.

use std::path::Path;

use orch_inventory::{Inventory, RoleRunStats, Transport};
use serde_json::json;

use std::fmt::Write as _;

use crate::commands::{Setup, open_store, print_json, print_line, print_text, write_stdout};
use crate::{CliError, Ending};

/// The inventory as built into this binary (the document of the sources it
/// was built from), so that `show` and `roadmap` work anywhere.
const DOCUMENT: &str = include_str!("../../../../docs/architecture/llm-call-sites.md");

fn built_in() -> Result<Inventory, CliError> {
    Inventory::parse(DOCUMENT).map_err(|error| {
        CliError::Tool(format!(
            "the inventory built into this binary does not parse: {error}; this is a bug, please report it"
        ))
    })
}

/// `orch inventory check --root DIR`: refused (exit code of a refusal) when
/// the tree's pipeline tables differ from this binary's.
pub(crate) fn check(root: &Path) -> Result<Ending, CliError> {
    // The check is for orch's own developers: anywhere else it says so in
    // one line (a tool error, exit 2), instead of failing on documents the
    // folder does not have.
    if !root.join(orch_inventory::INVENTORY_DOC).is_file() {
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        return Err(CliError::Tool(format!(
            "{} is not orch's source tree (no {}): `orch inventory check` checks orch's own sources; run it in orch's checkout or give --root",
            root.display(),
            orch_inventory::INVENTORY_DOC
        )));
    }
    let drift = orch_inventory::check(root);
    // The checks compare the tree with the pipeline tables compiled into
    // this binary: for a tree whose tables differ, the answer would be
    // about the wrong tables, so there is none.
    let differ: Vec<String> = drift
        .iter()
        .filter(|d| matches!(d, orch_inventory::Drift::TablesDiffer { .. }))
        .map(ToString::to_string)
        .collect();
    if !differ.is_empty() {
        return Err(CliError::Refused(format!(
            "{} has other pipeline tables than this binary, so it cannot be checked against them: {}",
            root.display(),
            differ.join("; ")
        )));
    }
    for line in &drift {
        print_line(&line.to_string())?;
    }
    if drift.is_empty() {
        print_line("inventory: no drift")?;
        Ok(Ending::Done)
    } else {
        eprintln!("inventory: {} drift(s)", drift.len());
        Ok(Ending::Failed)
    }
}

/// `orch inventory show [--json]`.
pub(crate) fn show(as_json: bool) -> Result<Ending, CliError> {
    let inventory = built_in()?;
    if as_json {
        let sites: Vec<_> = inventory
            .call_sites
            .iter()
            .map(|site| {
                json!({
                    "id": site.id,
                    "role": site.role,
                    "stage": site.stage,
                    "verdict_key": site.verdict_key,
                    "control_path": site.control_path,
                    "deterministic_oracle": site.deterministic_oracle,
                    "classification": site.classification().as_str(),
                    "implemented_by": site.implemented_by,
                    "fallback": site.fallback,
                    "locations": site.locations,
                })
            })
            .collect();
        print_json(&json!({
            "transport": {"id": inventory.transport.id, "locations": inventory.transport.locations},
            "call_sites": sites,
        }))?;
    } else {
        let mut text = format!(
            "{:<4} {:<10} {:<15} {:<20} {:<7} {:<7} classification\n",
            "id", "role", "stage", "verdict key", "control", "oracle"
        );
        for site in &inventory.call_sites {
            let _ = writeln!(
                text,
                "{:<4} {:<10} {:<15} {:<20} {:<7} {:<7} {}{}",
                site.id,
                site.role,
                site.stage,
                site.verdict_key,
                site.control_path,
                site.deterministic_oracle,
                site.classification().as_str(),
                site.implemented_by
                    .as_ref()
                    .map(|by| format!(" (implemented by {by})"))
                    .unwrap_or_default()
            );
        }
        print_text(&text)?;
    }
    Ok(Ending::Done)
}

/// `orch roadmap [--db PATH] [--json]`.
pub(crate) fn roadmap(setup: &Setup, db: Option<&Path>, as_json: bool) -> Result<Ending, CliError> {
    let db = db.map_or_else(|| setup.db.clone(), Path::to_path_buf);
    if !db.is_file() {
        return Err(CliError::BadArgument(format!(
            "no database at {}; pass --db, or set ORCH_DB_PATH or ORCH_HOME",
            db.display()
        )));
    }
    let store = open_store(&db)?;
    let launcher = setup.config.launcher(setup.home.clone());
    let roadmap = build_roadmap(&store, &launcher)?;
    if as_json {
        let text = roadmap
            .to_json()
            .map_err(|error| CliError::Output(std::io::Error::other(error)))?;
        write_stdout(&format!("{text}\n"))?;
    } else {
        print_text(&roadmap.to_text())?;
    }
    Ok(Ending::Done)
}

/// The roadmap of the built-in inventory with the figures of `store`
/// (`orch roadmap`, and the dashboard's Runners page).
pub(crate) fn build_roadmap(
    store: &orch_store::Store,
    launcher: &orch_launcher::LauncherConfig,
) -> Result<orch_inventory::Roadmap, CliError> {
    let stats: Vec<RoleRunStats> = store
        .run_stats()
        .map_err(|error| CliError::Tool(error.to_string()))?
        .into_iter()
        .map(|row| RoleRunStats {
            role: row.role.to_string(),
            stage: row.stage.to_string(),
            transport: match row.transport {
                orch_store::Transport::Llm => Transport::Llm,
                orch_store::Transport::Deterministic => Transport::Deterministic,
            },
            runs: row.runs,
            tasks: row.tasks,
            total_duration_ms: row.total_duration_ms,
            mean_duration_ms: row.mean_duration_ms,
            cost_runs: row.cost_runs,
            total_cost_usd: row.total_cost_usd,
            mean_cost_usd: row.mean_cost_usd,
            failed_runs: row.failed_runs,
            failed_cost_usd: row.failed_cost_usd,
        })
        .collect();
    let testing = orch_pipeline::Stage::Testing;
    let agreement = store
        .shadow_agreement(testing)
        .map_err(|error| CliError::Tool(error.to_string()))?;
    let shadows = [(
        testing.to_string(),
        orch_inventory::ShadowFigures {
            runs: agreement.runs,
            agree: agreement.agree,
            runner_only_failed: agreement.runner_only_failed,
            llm_only_failed: agreement.llm_only_failed,
            runner_no_verdict: agreement.runner_no_verdict,
            other_commit: agreement.other_commit,
        },
    )];
    let tool = |error: orch_store::StoreError| CliError::Tool(error.to_string());
    let pairs: Vec<orch_inventory::ShadowPairs> = store
        .shadow_evidence(testing)
        .map_err(tool)?
        .into_iter()
        .map(|e| orch_inventory::ShadowPairs {
            repo: e.repo,
            command_sha: e.command_sha,
            both_passed: e.both_passed,
            both_failed: e.both_failed,
            runner_only_failed: e.runner_only_failed,
            llm_only_failed: e.llm_only_failed,
            runner_no_verdict: e.runner_no_verdict,
            other_commit: e.other_commit,
            flaky: e.flaky,
        })
        .collect();
    let mut runners = Vec::new();
    for repo in store.repos().map_err(tool)? {
        let own = repo
            .test_runner_mode
            .as_deref()
            .and_then(|m| m.parse::<orch_launcher::RunnerMode>().ok());
        let suites = [
            (
                orch_pipeline::Stage::Testing,
                &launcher.test_runner,
                repo.test_command.as_deref(),
                own,
            ),
            (
                orch_pipeline::Stage::DeployStaging,
                &launcher.staging_runner,
                Some(repo.staging_command.as_str()),
                None,
            ),
        ];
        for (stage, settings, command, own) in suites {
            runners.push(orch_inventory::RepoRunner {
                repo: repo.name.clone(),
                stage: stage.as_str().to_owned(),
                state: runner_state(settings, &repo.name, command, own),
                command_sha: command
                    .filter(|c| !c.trim().is_empty())
                    .map(orch_store::command_sha256),
            });
        }
    }
    let history = store.verdict_history().map_err(tool)?;
    let verdicts = history
        .verdicts
        .into_iter()
        .map(|v| orch_inventory::VerdictRecord {
            task: v.task.get(),
            repo: v.repo,
            stage: v.stage.to_string(),
            role: v.role.to_string(),
            passed: v.passed,
            commit: v.commit,
            llm: v.llm,
            cost_usd: v.cost_usd,
            last_run: v.last_run.map(|r| r.get()),
        })
        .collect();
    let runs = history
        .runs
        .into_iter()
        .map(|r| orch_inventory::RunCostRecord {
            task: r.task.get(),
            run: r.run.get(),
            cost_usd: r.cost_usd,
        })
        .collect();
    let input = orch_inventory::RoadmapInput {
        stats,
        shadows: shadows.to_vec(),
        pairs: vec![(testing.to_string(), pairs)],
        runners,
        policy: orch_inventory::SwitchPolicy::default(),
        verdicts,
        runs,
    };
    Ok(orch_inventory::roadmap_from(&built_in()?, &input))
}

/// How a suite runner stands for a repository under the configuration in
/// force, in the order its `claims` tests it: a command, the mode (the
/// kill-switch first), the scope.
fn runner_state(
    settings: &orch_launcher::SuiteRunnerConfig,
    repo: &str,
    command: Option<&str>,
    own: Option<orch_launcher::RunnerMode>,
) -> orch_inventory::RunnerState {
    use orch_inventory::RunnerState;
    use orch_launcher::RunnerMode;
    if command.is_none_or(|c| c.trim().is_empty()) {
        return RunnerState::NoCommand;
    }
    match settings.mode_for(repo, own) {
        None => RunnerState::NotEnabled,
        Some(RunnerMode::Off) => RunnerState::Off,
        Some(RunnerMode::Shadow) => RunnerState::Shadow,
        Some(RunnerMode::On) => RunnerState::On,
    }
}
