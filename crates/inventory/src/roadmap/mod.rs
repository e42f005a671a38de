//! The determinization roadmap: the inventory's avoidable call sites ranked
//! by what replacing them saves, from run figures the caller brings (the
//! binary fills them from the store's `agent_runs`; this crate opens no
//! database). The ranking is here; writing it out (JSON, text) is `render`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::evidence::{RepoDecision, ShadowPairs, SwitchPolicy};
use crate::inventory::{CallSite, Classification, Inventory, PathKind};
use crate::verdicts::{RunCostRecord, VerdictCosts, VerdictRecord, verdict_costs};

mod render;

/// How a run was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// An LLM agent started by the transport.
    Llm,
    /// Deterministic code (a reserved agent).
    Deterministic,
}

impl Transport {
    /// `llm` or `deterministic`, as the store writes it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Llm => "llm",
            Transport::Deterministic => "deterministic",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transport name that is neither `llm` nor `deterministic`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport {0:?}: expected llm or deterministic")]
pub struct ParseTransportError(pub String);

impl FromStr for Transport {
    type Err = ParseTransportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "llm" => Ok(Transport::Llm),
            "deterministic" => Ok(Transport::Deterministic),
            other => Err(ParseTransportError(other.to_owned())),
        }
    }
}

/// The recorded runs of one role at one stage by one transport: the
/// roadmap's input, one row per (role, stage, transport).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleRunStats {
    /// The role, or the reserved agent's name when one served the job.
    pub role: String,
    /// The stage.
    pub stage: String,
    /// How the runs were served.
    pub transport: Transport,
    /// How many runs.
    pub runs: u64,
    /// How many distinct tasks they ran for (0 when unknown: the figures
    /// are then per run).
    #[serde(default)]
    pub tasks: u64,
    /// Their summed duration.
    pub total_duration_ms: i64,
    /// Their mean duration.
    pub mean_duration_ms: f64,
    /// How many of them reported a cost.
    pub cost_runs: u64,
    /// The summed cost of those that reported one; `None` when none did.
    pub total_cost_usd: Option<f64>,
    /// The mean cost over the runs that reported one; `None` when none did.
    pub mean_cost_usd: Option<f64>,
    /// How many runs failed (outcome failed or timed out).
    pub failed_runs: u64,
    /// The summed cost of the failed runs that reported one.
    pub failed_cost_usd: Option<f64>,
}

/// A stage's shadow-mode agreement between its runner and its LLM role, as
/// the store counts it (`shadow_verdicts`): the evidence for switching the
/// runner `on`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowFigures {
    /// Pairs of verdicts recorded.
    pub runs: u64,
    /// Both said the same.
    pub agree: u64,
    /// Only the runner said FAILED (mode `on` would have sent these back).
    pub runner_only_failed: u64,
    /// Only the LLM said FAILED (mode `on` would have let these through).
    pub llm_only_failed: u64,
    /// The runner produced no verdict.
    pub runner_no_verdict: u64,
    /// The two verdicts are about different commits (or were recorded
    /// before both commits were): kept, but not compared.
    #[serde(default)]
    pub other_commit: u64,
}

impl ShadowFigures {
    /// `12 runs, 11 agree (91.7%), 1 runner-only FAILED, 0 LLM-only FAILED, 0 without a runner verdict`.
    #[must_use]
    pub fn describe(&self) -> String {
        let compared = self.runs.saturating_sub(self.other_commit);
        #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
        let rate = if compared > 0 {
            format!(" ({:.1}%)", 100.0 * self.agree as f64 / compared as f64)
        } else {
            String::new()
        };
        let mut text = format!(
            "{} runs, {} agree{rate}, {} runner-only FAILED, {} LLM-only FAILED, {} without a runner verdict",
            self.runs,
            self.agree,
            self.runner_only_failed,
            self.llm_only_failed,
            self.runner_no_verdict
        );
        // Only pairs on one commit are compared; say how many were not.
        if self.other_commit > 0 {
            text.push_str(&format!(
                ", {} on different commits (not compared)",
                self.other_commit
            ));
        }
        text
    }
}

/// How a stage's runner stands for one repository under the configuration
/// in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunnerState {
    /// The runner decides.
    On,
    /// The LLM decides; the runner runs beside it.
    Shadow,
    /// The runner's mode is `off`, or its switch is off: the LLM alone.
    Off,
    /// The repository is not in the runner's scope: the LLM alone.
    NotEnabled,
    /// The repository names no command for the runner: the LLM alone.
    NoCommand,
}

impl RunnerState {
    /// Every state, in a fixed order.
    pub const ALL: [RunnerState; 5] = [
        RunnerState::On,
        RunnerState::Shadow,
        RunnerState::Off,
        RunnerState::NotEnabled,
        RunnerState::NoCommand,
    ];

    /// `on`, `shadow`, `off`, `not enabled`, `no command`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RunnerState::On => "on",
            RunnerState::Shadow => "shadow",
            RunnerState::Off => "off",
            RunnerState::NotEnabled => "not enabled",
            RunnerState::NoCommand => "no command",
        }
    }

    /// Why the LLM still runs at the site for a repository in this state.
    #[must_use]
    pub const fn why_llm(self) -> &'static str {
        match self {
            RunnerState::On => "only on a fallback (the runner's internal error)",
            RunnerState::Shadow => "shadow mode: the LLM decides, the runner measures",
            RunnerState::Off => "the runner is off",
            RunnerState::NotEnabled => "the repository is not in the runner's scope",
            RunnerState::NoCommand => "the repository names no command for the runner",
        }
    }
}

/// One repository's runner at one stage, as the configuration in force sets
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoRunner {
    /// The repository.
    pub repo: String,
    /// The stage the runner serves.
    pub stage: String,
    /// Its state there.
    pub state: RunnerState,
    /// The digest of the command it would run (the evidence is per command).
    pub command_sha: Option<String>,
}

/// Everything the roadmap is computed from; the binary fills it from the
/// store and the configuration.
#[derive(Debug, Clone, Default)]
pub struct RoadmapInput {
    /// Run figures per role, stage and transport.
    pub stats: Vec<RoleRunStats>,
    /// Shadow agreement per stage (all repositories, all time).
    pub shadows: Vec<(String, ShadowFigures)>,
    /// Shadow pairs per stage, per repository and command.
    pub pairs: Vec<(String, Vec<ShadowPairs>)>,
    /// The runners per repository and stage (empty: configuration unknown).
    pub runners: Vec<RepoRunner>,
    /// When shadow evidence is enough.
    pub policy: SwitchPolicy,
    /// The gate-decided transitions, by task then time (empty: costs by
    /// verdict unknown, the figures fall back to run outcomes).
    pub verdicts: Vec<VerdictRecord>,
    /// Every run's cost, by task then id.
    pub runs: Vec<RunCostRecord>,
}

/// One repository at an avoidable site: its runner's state and, for a
/// runner with a shadow mode, the evidence for switching it on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepoStatus {
    /// The repository.
    pub repo: String,
    /// The runner's state for it.
    pub state: RunnerState,
    /// Why the LLM still runs there.
    pub why_llm: &'static str,
    /// The shadow evidence and decision (sites with a shadow mode).
    pub evidence: Option<RepoDecision>,
    /// LLM verdicts at the site for this repository.
    pub llm_verdicts: u64,
    /// What their jobs cost.
    pub llm_verdict_spend_usd: f64,
}

/// The roadmap: the figures per role and transport, and the avoidable call
/// sites ranked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Roadmap {
    /// One line: how much was measured, or that nothing was.
    pub summary: String,
    /// Per role, stage and transport, with the role's classification.
    pub figures: Vec<Figure>,
    /// The avoidable call sites, best replacement first.
    pub candidates: Vec<Candidate>,
    /// What the input held that the inventory does not know.
    pub notes: Vec<String>,
    /// When shadow evidence is enough to switch a runner on.
    pub policy: SwitchPolicy,
}

/// The figures of one role at one stage by one transport.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// The role or reserved agent.
    pub role: String,
    /// The stage.
    pub stage: String,
    /// The transport.
    pub transport: Transport,
    /// The call site's classification, `reserved-agent`, or `unknown`.
    pub class: String,
    /// How many runs.
    pub runs: u64,
    /// Distinct tasks they ran for.
    pub tasks: u64,
    /// Mean duration.
    pub mean_duration_ms: f64,
    /// Mean cost of the runs that reported one.
    pub mean_cost_usd: Option<f64>,
    /// How many runs reported a cost.
    pub cost_runs: u64,
    /// How many failed.
    pub failed_runs: u64,
    /// What the failed runs cost.
    pub failed_cost_usd: Option<f64>,
    /// Gate-decided verdicts of its jobs (`None` when verdicts were not
    /// given).
    pub verdicts: Option<u64>,
    /// Of those, FAILED ones (a verdict, not a non-zero exit).
    pub failed_verdicts: Option<u64>,
    /// Where a figure is missing or partial.
    pub notes: Vec<String>,
}

/// An avoidable call site and what replacing it saves per task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// 1 for the first to replace.
    pub rank: usize,
    /// The call site's id.
    pub id: String,
    /// The LLM role.
    pub role: String,
    /// Its stage.
    pub stage: String,
    /// The oracle that would compute its verdict.
    pub oracle: Option<String>,
    /// The reserved agent that already serves it, if one does.
    pub implemented_by: Option<String>,
    /// What serves it when that agent cannot.
    pub fallback: Option<String>,
    /// LLM runs recorded.
    pub llm_runs: u64,
    /// Distinct tasks they ran for.
    pub llm_tasks: u64,
    /// Their mean duration.
    pub llm_mean_duration_ms: Option<f64>,
    /// Their mean cost (over the runs that reported one).
    pub llm_mean_cost_usd: Option<f64>,
    /// How many failed.
    pub llm_failed_runs: u64,
    /// What the failed ones cost.
    pub llm_failed_cost_usd: Option<f64>,
    /// Deterministic runs recorded at the same stage.
    pub deterministic_runs: u64,
    /// Their mean duration.
    pub deterministic_mean_duration_ms: Option<f64>,
    /// LLM cost per task minus deterministic cost per task (a deterministic
    /// run spends nothing on agents).
    pub saving_usd_per_task: Option<f64>,
    /// LLM time per task minus deterministic time per task.
    pub saving_ms_per_task: Option<f64>,
    /// What failed LLM runs cost per task: money spent on a verdict that
    /// sent the task back.
    pub failure_cost_usd_per_task: Option<f64>,
    /// The ranking key: saving plus failure cost, per task.
    pub score_usd_per_task: Option<f64>,
    /// The shadow-mode agreement at its stage, when its runner has a shadow
    /// mode (`None` otherwise).
    pub shadow: Option<ShadowFigures>,
    /// Its status under the configuration in force.
    pub status: String,
    /// Per repository: the runner's state, why the LLM still runs, and the
    /// shadow evidence.
    pub repos: Vec<RepoStatus>,
    /// What its LLM verdicts set off (`None` when no verdicts were given).
    pub verdicts: Option<VerdictCosts>,
    /// Everything the LLM cost at the site (every run, failures included).
    pub llm_spend_usd: Option<f64>,
    /// The ranking key: the LLM's spend at the site plus the loops its false
    /// PASSes let happen — what replacing it addresses.
    pub addressable_usd: Option<f64>,
    /// Where a figure is missing or partial.
    pub notes: Vec<String>,
}

/// [`roadmap_with`] without shadow figures.
#[must_use]
pub fn roadmap(inventory: &Inventory, stats: &[RoleRunStats]) -> Roadmap {
    roadmap_with(inventory, stats, &[])
}

/// Computes the roadmap from the inventory and the recorded runs.
///
/// Candidates are the avoidable call sites. Per task (a row's totals over
/// its distinct tasks, so that a stage run twice per task counts twice):
/// `saving = LLM cost − deterministic cost` (a deterministic run spends
/// nothing on agents), `failure cost = failed LLM runs' cost`, and
/// `score = saving + failure cost`, so that an LLM role that fails
/// expensively — it paid for a verdict that sent the task back — ranks
/// higher. Sites are ranked by score; sites without a reported cost after
/// them, by the time saved per task; sites without LLM runs last, in
/// inventory order. A missing figure is said in the notes, never invented.
///
/// `shadows` are the agreement figures per stage (stage name, figures); a
/// candidate whose runner has a shadow mode (`shadow = true` in the
/// inventory) shows its stage's, zeros when none are given.
#[must_use]
pub fn roadmap_with(
    inventory: &Inventory,
    stats: &[RoleRunStats],
    shadows: &[(String, ShadowFigures)],
) -> Roadmap {
    roadmap_from(
        inventory,
        &RoadmapInput {
            stats: stats.to_vec(),
            shadows: shadows.to_vec(),
            ..RoadmapInput::default()
        },
    )
}

/// [`roadmap_with`], with the shadow evidence per repository and command
/// and the runners' states from the configuration in force: each candidate
/// says, per repository, why the LLM still runs there and, where its runner
/// has a shadow mode, whether the evidence is enough to switch it on.
#[must_use]
pub fn roadmap_from(inventory: &Inventory, input: &RoadmapInput) -> Roadmap {
    let stats = &input.stats;
    let shadows = &input.shadows;
    let rows = merge(stats);
    let reserved: Vec<&str> = inventory
        .deterministic
        .iter()
        .filter(|d| d.kind == PathKind::ReservedAgent)
        .map(|d| d.name.as_str())
        .collect();
    let mut notes = Vec::new();
    let figures: Vec<Figure> = rows
        .values()
        .map(|row| {
            let class = match inventory.call_site(&row.role) {
                Some(site) => site.classification().as_str().to_owned(),
                None if reserved.contains(&row.role.as_str()) => "reserved-agent".to_owned(),
                None => {
                    notes.push(format!(
                        "runs of {} at {} ({}) match no call site or reserved agent of the inventory",
                        row.role, row.stage, row.transport
                    ));
                    "unknown".to_owned()
                }
            };
            let mut f = figure(row, class);
            if !input.verdicts.is_empty() {
                // A reserved agent's verdicts are its jobs' (the role it
                // serves): matched by stage and transport.
                let mine = input.verdicts.iter().filter(|v| {
                    v.stage == row.stage
                        && match row.transport {
                            Transport::Llm => v.llm && v.role == row.role,
                            Transport::Deterministic => !v.llm,
                        }
                });
                let (all, failed) = mine.fold((0, 0), |(a, b), v| (a + 1, b + u64::from(!v.passed)));
                f.verdicts = Some(all);
                f.failed_verdicts = Some(failed);
            }
            f
        })
        .collect();
    let mut candidates: Vec<Candidate> = inventory
        .call_sites
        .iter()
        .filter(|s| s.classification() == Classification::Avoidable)
        .map(|site| {
            let mut c = candidate(site, &rows);
            let runners: Vec<&RepoRunner> = input
                .runners
                .iter()
                .filter(|r| r.stage == site.stage)
                .collect();
            let pairs: &[ShadowPairs] = input
                .pairs
                .iter()
                .find(|(stage, _)| *stage == site.stage)
                .map_or(&[], |(_, p)| p.as_slice());
            let decisions = if site.shadow == Some(true) {
                let repos: Vec<(String, Option<String>)> = runners
                    .iter()
                    .map(|r| (r.repo.clone(), r.command_sha.clone()))
                    .collect();
                input.policy.decisions(&repos, pairs)
            } else {
                Vec::new()
            };
            let costs = (!input.verdicts.is_empty())
                .then(|| verdict_costs(&site.role, &site.stage, &input.verdicts, &input.runs));
            c.repos = runners
                .iter()
                .map(|r| {
                    let (llm_verdicts, llm_verdict_spend_usd) = costs
                        .as_ref()
                        .and_then(|v| v.per_repo.get(&r.repo).copied())
                        .unwrap_or_default();
                    RepoStatus {
                        repo: r.repo.clone(),
                        state: r.state,
                        why_llm: r.state.why_llm(),
                        evidence: decisions.iter().find(|d| d.repo == r.repo).cloned(),
                        llm_verdicts,
                        llm_verdict_spend_usd,
                    }
                })
                .collect();
            if let Some(v) = &costs {
                // With verdicts, a failure is a FAILED verdict, not a
                // non-zero exit: its cost per task is its jobs' cost.
                let tasks = c.llm_tasks.max(1);
                #[expect(clippy::cast_precision_loss, reason = "task counts far below 2^52")]
                let per_task = v.failed_spend_usd / tasks as f64;
                if c.llm_runs > 0 {
                    c.failure_cost_usd_per_task = Some(per_task);
                    c.score_usd_per_task = c.saving_usd_per_task.map(|s| s + per_task);
                }
                c.addressable_usd =
                    Some(c.llm_spend_usd.unwrap_or(v.verdict_spend_usd) + v.false_pass_loops_usd);
            }
            c.verdicts = costs;
            c.status = status(site, &runners);
            if site.shadow == Some(true) {
                c.shadow = Some(
                    shadows
                        .iter()
                        .find(|(stage, _)| *stage == site.stage)
                        .map(|(_, figures)| *figures)
                        .unwrap_or_default(),
                );
            }
            c
        })
        .collect();
    // Stable sort: equal keys keep the inventory's order.
    candidates.sort_by(|a, b| {
        rank_key(b)
            .partial_cmp(&rank_key(a))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    for (i, c) in candidates.iter_mut().enumerate() {
        c.rank = i + 1;
    }
    let total_runs: u64 = rows.values().map(|r| r.runs).sum();
    let summary = if total_runs == 0 {
        "no runs recorded: nothing is measured yet; run tasks, then compute the roadmap again (candidates below are in inventory order)".to_owned()
    } else {
        format!(
            "{total_runs} runs recorded over {} role/stage/transport rows; {} avoidable call sites ranked",
            rows.len(),
            candidates.len()
        )
    };
    Roadmap {
        summary,
        figures,
        candidates,
        notes,
        policy: input.policy,
    }
}

/// (has LLM runs, total addressable spend, score, time saving), compared
/// largest first.
fn rank_key(c: &Candidate) -> (bool, f64, bool, f64, f64) {
    (
        c.llm_runs > 0,
        c.addressable_usd.unwrap_or(0.0),
        c.score_usd_per_task.is_some(),
        c.score_usd_per_task.unwrap_or(0.0),
        c.saving_ms_per_task.unwrap_or(f64::NEG_INFINITY),
    )
}

type Key = (String, String, Transport);

/// Rows merged per (role, stage, transport), means recomputed from totals
/// when two rows had to be merged.
fn merge(stats: &[RoleRunStats]) -> BTreeMap<Key, RoleRunStats> {
    let mut out: BTreeMap<Key, RoleRunStats> = BTreeMap::new();
    for row in stats {
        let key = (row.role.clone(), row.stage.clone(), row.transport);
        match out.get_mut(&key) {
            None => {
                out.insert(key, row.clone());
            }
            Some(acc) => *acc = combine(acc, row),
        }
    }
    out
}

fn combine(a: &RoleRunStats, b: &RoleRunStats) -> RoleRunStats {
    let runs = a.runs + b.runs;
    // Tasks may overlap between merged rows: the larger count is the safe
    // lower bound of distinct tasks.
    let tasks = a.tasks.max(b.tasks);
    let total_duration_ms = a.total_duration_ms.saturating_add(b.total_duration_ms);
    let cost_runs = a.cost_runs + b.cost_runs;
    let total_cost_usd = add(a.total_cost_usd, b.total_cost_usd);
    RoleRunStats {
        role: a.role.clone(),
        stage: a.stage.clone(),
        transport: a.transport,
        runs,
        tasks,
        total_duration_ms,
        mean_duration_ms: ratio(total_duration_ms as f64, runs).unwrap_or(0.0),
        cost_runs,
        total_cost_usd,
        mean_cost_usd: total_cost_usd.and_then(|t| ratio(t, cost_runs)),
        failed_runs: a.failed_runs + b.failed_runs,
        failed_cost_usd: add(a.failed_cost_usd, b.failed_cost_usd),
    }
}

fn add(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x + y),
        (x, None) => x,
        (None, y) => y,
    }
}

fn ratio(total: f64, count: u64) -> Option<f64> {
    (count > 0).then(|| total / count as f64)
}

fn cost_notes(row: &RoleRunStats) -> Vec<String> {
    let mut notes = Vec::new();
    if row.transport == Transport::Llm {
        if row.cost_runs == 0 || row.mean_cost_usd.is_none() {
            notes.push("no cost reported".to_owned());
        } else if row.cost_runs < row.runs {
            notes.push(format!(
                "cost reported by {} of {} runs",
                row.cost_runs, row.runs
            ));
        }
    }
    notes
}

fn figure(row: &RoleRunStats, class: String) -> Figure {
    Figure {
        role: row.role.clone(),
        stage: row.stage.clone(),
        transport: row.transport,
        class,
        runs: row.runs,
        tasks: row.tasks,
        mean_duration_ms: row.mean_duration_ms,
        mean_cost_usd: row.mean_cost_usd,
        cost_runs: row.cost_runs,
        failed_runs: row.failed_runs,
        failed_cost_usd: row.failed_cost_usd,
        verdicts: None,
        failed_verdicts: None,
        notes: cost_notes(row),
    }
}

/// The divisor that turns a row's totals into per-task figures: its task
/// count, or its run count (with a note) when the count of tasks is unknown.
fn per_task(row: &RoleRunStats, notes: &mut Vec<String>) -> u64 {
    if row.tasks > 0 {
        row.tasks
    } else {
        notes.push(format!(
            "{} runs of {} at {}: task count not given, figures are per run",
            row.transport, row.role, row.stage
        ));
        row.runs
    }
}

fn candidate(site: &CallSite, rows: &BTreeMap<Key, RoleRunStats>) -> Candidate {
    let llm = rows
        .get(&(site.role.clone(), site.stage.clone(), Transport::Llm))
        .filter(|r| r.runs > 0);
    let deterministic = rows
        .values()
        .filter(|r| r.stage == site.stage && r.transport == Transport::Deterministic && r.runs > 0)
        .fold(None::<RoleRunStats>, |acc, r| {
            Some(acc.map_or_else(|| r.clone(), |a| combine(&a, r)))
        });
    let mut notes = Vec::new();
    let (mut saving_usd, mut failure_usd, mut saving_ms) = (None, None, None);
    match llm {
        None => notes.push(format!(
            "no LLM runs recorded for {} at {}",
            site.role, site.stage
        )),
        Some(llm) => {
            notes.extend(cost_notes(llm));
            let tasks = per_task(llm, &mut notes);
            let det_tasks = deterministic.as_ref().map(|d| per_task(d, &mut notes));
            // Cost: the sum of the reported costs per task (a lower bound
            // when some runs reported none, which the notes say).
            if let Some(llm_cost) = llm.total_cost_usd.filter(|_| llm.cost_runs > 0) {
                let det_cost = deterministic
                    .as_ref()
                    .zip(det_tasks)
                    .and_then(|(d, n)| d.total_cost_usd.and_then(|c| ratio(c, n)))
                    .unwrap_or(0.0);
                saving_usd = ratio(llm_cost, tasks).map(|c| c - det_cost);
                failure_usd = ratio(llm.failed_cost_usd.unwrap_or(0.0), tasks);
                if llm.failed_runs > 0 && llm.failed_cost_usd.is_none() {
                    notes.push(format!(
                        "{} failed LLM runs reported no cost",
                        llm.failed_runs
                    ));
                }
            }
            match (&deterministic, det_tasks) {
                (Some(d), Some(n)) => {
                    let llm_ms = ratio(llm.total_duration_ms as f64, tasks);
                    let det_ms = ratio(d.total_duration_ms as f64, n);
                    saving_ms = llm_ms.zip(det_ms).map(|(l, d)| l - d);
                }
                (None, _) | (_, None) => notes.push(format!(
                    "no deterministic runs recorded at {}: time saving unknown; the cost saving counts the replacement as spending nothing on agents",
                    site.stage
                )),
            }
        }
    }
    Candidate {
        rank: 0,
        id: site.id.clone(),
        role: site.role.clone(),
        stage: site.stage.clone(),
        oracle: site.oracle.clone(),
        implemented_by: site.implemented_by.clone(),
        fallback: site.fallback.clone(),
        llm_runs: llm.map_or(0, |r| r.runs),
        llm_tasks: llm.map_or(0, |r| r.tasks),
        llm_mean_duration_ms: llm.map(|r| r.mean_duration_ms),
        llm_mean_cost_usd: llm.and_then(|r| r.mean_cost_usd),
        llm_failed_runs: llm.map_or(0, |r| r.failed_runs),
        llm_failed_cost_usd: llm.and_then(|r| r.failed_cost_usd),
        deterministic_runs: deterministic.as_ref().map_or(0, |d| d.runs),
        deterministic_mean_duration_ms: deterministic.as_ref().map(|d| d.mean_duration_ms),
        saving_usd_per_task: saving_usd,
        saving_ms_per_task: saving_ms,
        failure_cost_usd_per_task: failure_usd,
        score_usd_per_task: saving_usd.map(|s| s + failure_usd.unwrap_or(0.0)),
        shadow: None,
        status: String::new(),
        repos: Vec::new(),
        verdicts: None,
        llm_spend_usd: llm
            .and_then(|r| r.total_cost_usd)
            .filter(|_| llm.is_some_and(|r| r.cost_runs > 0)),
        addressable_usd: None,
        notes,
    }
}

/// The candidate's status: who serves it, and, from the configuration in
/// force, in how many repositories the runner is in each state.
fn status(site: &CallSite, runners: &[&RepoRunner]) -> String {
    let Some(by) = &site.implemented_by else {
        return "to do".to_owned();
    };
    let fallback = site
        .fallback
        .as_ref()
        .map(|f| format!(", {f} fallback"))
        .unwrap_or_default();
    if runners.is_empty() {
        return format!("implemented: {by}{fallback} (configuration not given)");
    }
    let counts: Vec<String> = RunnerState::ALL
        .iter()
        .filter_map(|state| {
            let n = runners.iter().filter(|r| r.state == *state).count();
            (n > 0).then(|| format!("{} {n}", state.as_str()))
        })
        .collect();
    format!(
        "implemented: {by}{fallback}; repositories: {}",
        counts.join(", ")
    )
}
