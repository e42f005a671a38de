//! The real agent CLIs — Claude Code, Codex CLI, Gemini CLI — through orch's
//! real `spawn`, in the real kernel sandbox, against a **scripted stand-in
//! for the model API** on loopback (`orch_tests::model_server`: the only
//! stand-in; the CLIs are the pinned npm packages of `tests/agents`, run as
//! they are). docs/agents.md has what each CLI needs and what was found.
//!
//! Each case runs a **preset** (`ORCH_AGENT=claude|codex|gemini`) as the
//! binary would: the preset's command, the CLI found on `PATH`, nothing
//! added but the key and base URL in orch's environment (and the settings
//! file two CLIs need for a server not their vendor's), through the
//! allow-listed agent environment.
//!
//! Each case drives one task through `analysis`: the scripted model asks the
//! CLI's own write or shell tool to write the artifact at `$ORCH_ARTIFACT`
//! (the path orch's prompt names), then ends the turn. The case checks that
//! the artifact reached the task folder, that the gate moved the task on,
//! and that `agent_runs` holds exactly the tokens (and, for Claude, the
//! cost) the CLI reported for what the server sent.
//!
//! A CLI that is not installed fails its case, saying to run `npm ci` in
//! `tests/agents`; nothing is skipped.
//!
//! This test binary has its own `main` (libtest-mimic) so that it can serve
//! as orch's process supervisor, as the `orch` binary does.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{check, drive, drive_for, stages};
use libtest_mimic::{Arguments, Failed, Trial};
use orch_launcher::check::FindingKind;
use orch_launcher::sandbox::SandboxConfig;
use orch_launcher::{AgentKind, Engine, LauncherConfig, ModelPrice};
use orch_store::{LeaseOwner, NewRepo, Store, TaskStatus, Transport};
use orch_tests::model_server::{
    Answer, BACKGROUND_MARK, BACKGROUND_SECS, FINAL_TURN, ModelServer, SIDE_TURN, Script, TOOL_TURN,
};

/// Where `npm ci` installs the pinned CLIs.
fn clis() -> PathBuf {
    orch_tests::workspace_root().join("tests/agents/node_modules/.bin")
}

/// The CLI's program, or the failure that says how to install it.
fn installed(name: &str) -> Result<PathBuf, Failed> {
    let program = clis().join(name);
    if program.is_file() {
        Ok(program)
    } else {
        Err(format!(
            "{} is not installed: run `npm ci` in {} (the pinned agent CLIs; see docs/agents.md)",
            program.display(),
            orch_tests::workspace_root().join("tests/agents").display()
        )
        .into())
    }
}

/// The three CLIs under test, by their preset.
const CLIS: [AgentKind; 3] = [AgentKind::Claude, AgentKind::Codex, AgentKind::Gemini];

/// Set in the run of this binary whose environment is orch's as an operator
/// would set it up; holds the three servers' ports, in [`CLIS`]' order.
const PORTS: &str = "AGENTS_TEST_PORTS";

/// One CLI's run: orch's home, the checkout.
struct Case {
    _dir: tempfile::TempDir,
    db: PathBuf,
    checkout: PathBuf,
    config: LauncherConfig,
}

impl Case {
    fn new(cli: AgentKind) -> Result<Case, Failed> {
        installed(cli.preset().program)?;
        Ok(Case::new_unchecked(cli))
    }

    /// The case, whether or not the CLI is installed.
    fn new_unchecked(cli: AgentKind) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("orch-home");
        let checkout = dir.path().join("checkout");
        for folder in [&home, &checkout] {
            fs::create_dir_all(folder).unwrap();
        }
        fs::write(checkout.join("README.md"), "# api\n").unwrap();
        // What the binary makes of ORCH_AGENT=<cli> and nothing else: the
        // preset's command (its CLI found on PATH), its state under HOME.
        let user_home = PathBuf::from(std::env::var_os("HOME").unwrap());
        let mut config = LauncherConfig::new(&home);
        config.agent.preset = cli;
        config.agent.command = cli.preset().command.to_owned();
        config.agent.home_dir = Some(user_home.clone());
        config.sandbox =
            SandboxConfig::new(config.sandbox.mode).with_user_defaults(&user_home, cli);
        // Each CLI run takes seconds; a hang fails the case, never the suite.
        config.agent.timeout = Duration::from_secs(90);
        config.agent.grace = Duration::from_millis(500);
        config.agent.retry.base = Duration::from_millis(1);
        config.agent.retry.retries = 0;
        Case {
            db: dir.path().join("orch.db"),
            _dir: dir,
            checkout,
            config,
        }
    }

    fn engine(&self) -> Engine {
        let store = Store::open(&self.db).unwrap();
        Engine::new(
            store,
            self.config.clone(),
            LeaseOwner::new("boot-test", "worker-0"),
        )
    }
}

/// orch's environment as an operator sets it up for the three presets,
/// pointed at servers on `ports`: the CLIs on `PATH`, a `HOME` of their
/// own, each one's key and base URL. Two CLIs also need a settings file
/// to talk to a server that is not their vendor's (docs/agents.md): Codex
/// a provider in `~/.codex/config.toml` (it ignored `OPENAI_BASE_URL`),
/// Gemini its auth type in `~/.gemini/settings.json` ("Invalid auth method
/// selected" without it), where the operator also bounds its retries.
///
/// With `gemini_model`, Gemini's settings name its model: no `auto` model,
/// so no router call before each turn (whose own 5 attempts no setting
/// bounds: docs/agents.md).
fn operator_env(
    user_home: &Path,
    ports: [u16; 3],
    with_clis: bool,
    gemini_model: Option<&str>,
) -> Vec<(String, String)> {
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    let codex = user_home.join(".codex");
    fs::create_dir_all(&codex).unwrap();
    fs::write(
        codex.join("config.toml"),
        format!(
            "model = \"gpt-5-codex\"\nmodel_provider = \"scripted\"\n\n\
             [model_providers.scripted]\nname = \"scripted model server\"\n\
             base_url = \"{}/v1\"\nenv_key = \"OPENAI_API_KEY\"\nwire_api = \"responses\"\n",
            url(ports[1])
        ),
    )
    .unwrap();
    let gemini = user_home.join(".gemini");
    fs::create_dir_all(&gemini).unwrap();
    // maxAttempts: the operator's bound on Gemini's own retries of a turn
    // (orch cannot set it: docs/agents.md), 1 + orch's 2.
    let model = gemini_model
        .map(|name| format!(r#", "model": {{"name": "{name}"}}"#))
        .unwrap_or_default();
    fs::write(
        gemini.join("settings.json"),
        format!(
            r#"{{"security": {{"auth": {{"selectedType": "gemini-api-key"}}}}, "general": {{"maxAttempts": 3}}{model}}}"#
        ),
    )
    .unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    let path = if with_clis {
        format!("{}:{path}", clis().display())
    } else {
        path
    };
    vec![
        ("PATH".into(), path),
        ("HOME".into(), user_home.display().to_string()),
        ("ANTHROPIC_BASE_URL".into(), url(ports[0])),
        ("ANTHROPIC_API_KEY".into(), "sk-ant-scripted".into()),
        ("OPENAI_API_KEY".into(), "sk-scripted".into()),
        ("GEMINI_API_KEY".into(), "scripted-key".into()),
        ("GOOGLE_GEMINI_BASE_URL".into(), url(ports[2])),
        (PORTS.into(), ports.map(|p| p.to_string()).join(",")),
    ]
}

/// A free loopback port (bound, then let go for the server to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// This run's server port for `cli`.
fn port(cli: AgentKind) -> u16 {
    let ports = std::env::var(PORTS).unwrap();
    let at = CLIS.iter().position(|c| *c == cli).unwrap();
    ports.split(',').nth(at).unwrap().parse().unwrap()
}

/// The usage the server reported, summed over the requests it answered
/// with a model turn.
fn served(server: &ModelServer) -> (u64, u64, u64, u64) {
    server
        .requests()
        .iter()
        .filter_map(|r| match r.answer {
            Answer::ToolTurn => Some(TOOL_TURN),
            Answer::FinalTurn => Some(FINAL_TURN),
            Answer::SideTurn => Some(SIDE_TURN),
            Answer::CountTokens | Answer::Failure(_) | Answer::Stalled | Answer::NotFound => None,
        })
        .fold((0, 0, 0, 0), |(i, o, r, w), u| {
            (
                i + u.input,
                o + u.output,
                r + u.cache_read,
                w + u.cache_write,
            )
        })
}

/// The last `result` line's `total_cost_usd` in Claude's stream-json output.
fn claude_reported_cost(output: &str) -> Option<f64> {
    output
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|v| v.get("type").and_then(|t| t.as_str()) == Some("result"))
        .and_then(|v| v.get("total_cost_usd").and_then(serde_json::Value::as_f64))
}

/// The tool results the CLI sent back in its last request (what its tool
/// said), for the failure report.
fn last_request_tail(server: &ModelServer) -> String {
    let requests = server.requests();
    let body = requests.last().map(|r| r.body.as_str()).unwrap_or("");
    let text = body
        .find("tool_result")
        .or_else(|| body.find("_call_output"))
        .or_else(|| body.find("functionResponse"))
        .map_or("", |at| body.get(at..).unwrap_or(""));
    text.chars().take(1500).collect()
}

/// One task through analysis with the real `cli`.
fn a_task_passes_analysis(cli: AgentKind) -> Result<(), Failed> {
    let server = ModelServer::start_on(Script::WriteArtifact, port(cli), None).unwrap();
    let mut case = Case::new(cli)?;
    // Codex is priced by the model its config.toml names (its events name
    // none): orch's estimate, recorded as such.
    if cli == AgentKind::Codex {
        case.config.agent.prices = vec![ModelPrice::new("gpt-5-codex", 1.25, 10.0, Some(0.125))];
    }
    let engine = case.engine();
    let repo = engine
        .store()
        .add_repo(&NewRepo::new(
            "api",
            case.checkout.to_str().unwrap(),
            "true",
        ))
        .unwrap();
    let (task, _) = engine.create_task(repo, "describe the API").unwrap();
    let started = Instant::now();
    let reports = drive(&engine, 1);
    let took = started.elapsed();
    let task_dir = case.config.task_dir(task.get());
    let output = fs::read_to_string(task_dir.join("01-analysis.output.log")).unwrap_or_default();
    let context = || {
        format!(
            "{cli:?} in {took:?}; requests: {:?}\nlast request: {}\nreports: {reports:?}\noutput:\n{output}",
            server
                .requests()
                .iter()
                .map(|r| format!("{} {} -> {:?}", r.method, r.url, r.answer))
                .collect::<Vec<_>>(),
            last_request_tail(&server),
        )
    };
    let artifact = fs::read_to_string(task_dir.join("01-analysis.md")).unwrap_or_default();
    check(
        artifact.contains("analysis_status: COMPLETE"),
        format!("no artifact with the verdict: {artifact:?}; {}", context()),
    )?;
    check(
        stages(&engine, task) == [("analysis".to_owned(), "architecture".to_owned())],
        format!(
            "the task did not move on: {:?}; {}",
            stages(&engine, task),
            context()
        ),
    )?;
    let runs = engine.store().agent_runs(task).unwrap();
    check(runs.len() == 1, format!("{runs:?}; {}", context()))?;
    let run = &runs[0];
    check(
        run.outcome == "passed" && run.exit_code == Some(0),
        format!("{run:?}; {}", context()),
    )?;
    check(
        run.sandbox
            .as_deref()
            .is_some_and(|s| s.starts_with("required")),
        format!("not in the required sandbox: {run:?}"),
    )?;
    let (input, output_tokens, cache_read, cache_write) = served(&server);
    // Cache tokens in their own columns, as the server reported them (only
    // Claude reports cache writes), and the model where the CLI names it.
    // Codex's events name no model: orch takes it from its config.toml.
    let (writes, named) = match cli {
        AgentKind::Claude => (Some(cache_write), true),
        AgentKind::Gemini => (None, true),
        AgentKind::Codex => (None, run.model.as_deref() == Some("gpt-5-codex")),
        AgentKind::Custom => (None, false),
    };
    // Claude prints its cost; Codex's is orch's estimate; Gemini reports
    // tokens only and has no price: no cost, no source.
    let source = match cli {
        AgentKind::Claude => Some("reported"),
        AgentKind::Codex => Some("estimated"),
        AgentKind::Gemini | AgentKind::Custom => None,
    };
    check(
        run.cache_read_tokens == Some(cache_read)
            && run.cache_write_tokens == writes
            && run.model.is_some()
            && named
            && run.cost_source.as_deref() == source,
        format!(
            "cache (served {cache_read} read, {cache_write} written) or model: {run:?}; {}",
            context()
        ),
    )?;
    match cli {
        AgentKind::Claude => {
            // Claude's input_tokens exclude the cache: the server's `input`.
            check(
                run.tokens_in == Some(TOOL_TURN.input + FINAL_TURN.input)
                    && run.tokens_in == Some(input)
                    && run.tokens_out == Some(output_tokens),
                format!("tokens: {run:?}; {}", context()),
            )?;
            let reported = claude_reported_cost(&output);
            check(
                reported.is_some_and(|c| c > 0.0) && run.cost_usd == reported,
                format!("cost {:?} vs reported {reported:?}", run.cost_usd),
            )?;
        }
        AgentKind::Codex => {
            // Its input includes the cached part, priced at the cache rate.
            let estimate = ((input - cache_read) as f64 * 1.25
                + cache_read as f64 * 0.125
                + output_tokens as f64 * 10.0)
                / 1e6;
            check(
                run.tokens_in == Some(input)
                    && run.tokens_out == Some(output_tokens)
                    && run.cost_usd.is_some_and(|c| (c - estimate).abs() < 1e-12),
                format!("tokens or estimate {estimate}: {run:?}; {}", context()),
            )?;
        }
        AgentKind::Gemini => check(
            // Summed over its models: the router's side call included.
            run.tokens_in == Some(input)
                && run.tokens_out == Some(output_tokens)
                && run.cost_usd.is_none(),
            format!(
                "tokens (served {input} in, {output_tokens} out): {run:?}; {}",
                context()
            ),
        )?,
        AgentKind::Custom => return Err("no custom CLI under test".into()),
    }
    check(
        took < Duration::from_secs(60),
        format!("{cli:?} took {took:?}"),
    )?;
    Ok(())
}

/// The stages every task passes through, in order.
const EVERY_STAGE: [&str; 9] = [
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

/// Two tasks through every stage to `done` with the real `cli`: the LLM
/// roles serve analysis to deploy-staging (no test command, so the tester
/// is the LLM; the staging runner off, so the LLM deployer serves staging),
/// the reserved agents deploy and post-deploy (no deploy or health command:
/// they pass, saying so). What orch recorded over all twelve LLM runs must be
/// what the server reported.
fn two_tasks_reach_done(cli: AgentKind) -> Result<(), Failed> {
    let server = ModelServer::start_on(Script::WriteArtifact, port(cli), None).unwrap();
    let mut case = Case::new(cli)?;
    case.config.staging_runner.enabled = false;
    let engine = case.engine();
    let repo = engine
        .store()
        .add_repo(&NewRepo::new(
            "api",
            case.checkout.to_str().unwrap(),
            "true",
        ))
        .unwrap();
    let tasks = [
        engine.create_task(repo, "describe the API").unwrap().0,
        engine.create_task(repo, "document the errors").unwrap().0,
    ];
    let started = Instant::now();
    // Eight jobs a task, and room for a deferral or two before the bound.
    let reports = drive_for(&engine, 2 * 8 + 4, Duration::from_secs(300));
    let took = started.elapsed();
    let context = |what: &str| {
        format!(
            "{cli:?} in {took:?}: {what}\nrequests: {:?}\nlast request: {}\nreports: {reports:?}",
            server
                .requests()
                .iter()
                .map(|r| format!("{} {} -> {:?}", r.method, r.url, r.answer))
                .collect::<Vec<_>>(),
            last_request_tail(&server),
        )
    };
    let expected: Vec<(String, String)> = EVERY_STAGE
        .windows(2)
        .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
        .collect();
    let mut llm_runs = Vec::new();
    let mut reported_cost = 0.0;
    for task in tasks {
        let row = engine.store().task(task).unwrap();
        let moved = stages(&engine, task);
        check(
            row.status == TaskStatus::Done && moved == expected,
            context(&format!(
                "task {task} ended {:?} after {moved:?}",
                row.status
            )),
        )?;
        let runs = engine.store().agent_runs(task).unwrap();
        let (llm, reserved): (Vec<_>, Vec<_>) = runs
            .into_iter()
            .partition(|r| r.transport == Transport::Llm);
        let llm_stages: Vec<&str> = llm.iter().map(|r| r.stage.as_str()).collect();
        check(
            llm_stages == EVERY_STAGE[..6]
                && llm
                    .iter()
                    .all(|r| r.outcome == "passed" && r.exit_code == Some(0)),
            context(&format!("task {task}'s LLM runs: {llm:?}")),
        )?;
        check(
            reserved
                .iter()
                .all(|r| r.tokens_in.is_none() && r.cost_usd.is_none()),
            context(&format!("a reserved agent with spend: {reserved:?}")),
        )?;
        // Claude prints the cost of each run in its result line.
        let task_dir = case.config.task_dir(task.get());
        for stage in EVERY_STAGE[..6].iter() {
            let spec = stage
                .parse::<orch_pipeline::Stage>()
                .ok()
                .and_then(|s| s.artifact())
                .unwrap();
            let log = task_dir.join(spec.file_name.replace(".md", ".output.log"));
            let output = fs::read_to_string(&log).unwrap_or_default();
            reported_cost += claude_reported_cost(&output).unwrap_or(0.0);
        }
        llm_runs.extend(llm);
    }
    let sum = |field: fn(&orch_store::AgentRun) -> Option<u64>| -> Option<u64> {
        llm_runs.iter().map(field).sum()
    };
    let (input, output_tokens, _cache_read, _cache_write) = served(&server);
    check(
        sum(|r| r.tokens_in) == Some(input) && sum(|r| r.tokens_out) == Some(output_tokens),
        context(&format!(
            "tokens recorded {:?} in, {:?} out; served {input} in, {output_tokens} out",
            sum(|r| r.tokens_in),
            sum(|r| r.tokens_out)
        )),
    )?;
    let recorded_cost: Option<f64> = llm_runs.iter().map(|r| r.cost_usd).sum();
    match cli {
        AgentKind::Claude => check(
            reported_cost > 0.0 && recorded_cost.is_some_and(|c| (c - reported_cost).abs() < 1e-9),
            context(&format!(
                "cost recorded {recorded_cost:?} vs reported {reported_cost}"
            )),
        )?,
        // They report tokens only; no price was configured.
        AgentKind::Codex | AgentKind::Gemini => check(
            llm_runs.iter().all(|r| r.cost_usd.is_none()),
            context("a cost with no price"),
        )?,
        AgentKind::Custom => return Err("no custom CLI under test".into()),
    }
    eprintln!(
        "FIGURE {cli:?} two tasks to done: {:.1}s for {} jobs, LLM runs {:?} ms",
        took.as_secs_f64(),
        reports.len(),
        llm_runs.iter().map(|r| r.duration_ms).collect::<Vec<_>>()
    );
    check(
        took < Duration::from_secs(240),
        format!("{cli:?} took {took:?}"),
    )
}

/// A group of cases that share orch's environment: the script the servers
/// play, and whether the CLIs are on `PATH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// Each preset takes a task through analysis.
    Analysis,
    /// Each preset takes two tasks through every stage to `done`.
    TwoTasksToDone,
    /// `orch agent check` passes with each preset.
    CheckPasses,
    /// The servers answer 401: the check says the key was refused.
    CheckUnauthorized,
    /// The CLIs are not on `PATH`: the check says which package to install.
    CheckNotInstalled,
    /// A failure of the model API (or a stall): sorted as the
    /// infrastructure's, never the role's.
    Failure(Script),
    /// The model starts a background process and ends its turn: a CLI that
    /// waits for it is ended after the linger, its whole tree with it.
    Lingers,
    /// The model ends its turn without writing the artifact: the role's
    /// failure.
    NoArtifact,
    /// The same through `orch agent check`: it says no artifact was written.
    CheckNoArtifact,
    /// The model API answers 529/503 to everything: each CLI gives up by
    /// itself after a bounded number of requests.
    RetriesBounded,
    /// orch (this binary) runs as an unprivileged user (`nobody`, through
    /// `setpriv`), with a home of that user's: each preset takes a task
    /// through analysis.
    NonRoot,
}

impl Scenario {
    const ALL: [Scenario; 15] = [
        Scenario::Analysis,
        Scenario::Lingers,
        Scenario::NoArtifact,
        Scenario::CheckNoArtifact,
        Scenario::RetriesBounded,
        Scenario::NonRoot,
        Scenario::TwoTasksToDone,
        Scenario::CheckPasses,
        Scenario::CheckUnauthorized,
        Scenario::CheckNotInstalled,
        Scenario::Failure(Script::Unauthorized),
        Scenario::Failure(Script::Overloaded),
        Scenario::Failure(Script::ServerError),
        Scenario::Failure(Script::StallMidStream),
        Scenario::Failure(Script::HangAfterEnd),
    ];

    fn name(self) -> String {
        match self {
            Scenario::Analysis => "analysis".to_owned(),
            Scenario::TwoTasksToDone => "two_tasks_to_done".to_owned(),
            Scenario::CheckPasses => "check_passes".to_owned(),
            Scenario::CheckUnauthorized => "check_unauthorized".to_owned(),
            Scenario::CheckNotInstalled => "check_not_installed".to_owned(),
            Scenario::Failure(script) => format!(
                "{}_is_sorted_as_infrastructure",
                script.name().replace('-', "_")
            ),
            Scenario::Lingers => "result_then_alive_is_ended_after_the_linger".to_owned(),
            Scenario::NoArtifact => "no_artifact_is_the_roles_failure".to_owned(),
            Scenario::CheckNoArtifact => "check_no_artifact".to_owned(),
            Scenario::RetriesBounded => "overloaded_ends_within_bounded_requests".to_owned(),
            Scenario::NonRoot => "analysis_as_non_root".to_owned(),
        }
    }

    fn script(self) -> Script {
        match self {
            Scenario::CheckUnauthorized => Script::Unauthorized,
            Scenario::Failure(script) => script,
            Scenario::Lingers => Script::BackgroundThenEnd,
            Scenario::NoArtifact | Scenario::CheckNoArtifact => Script::NoArtifact,
            Scenario::RetriesBounded => Script::Overloaded,
            Scenario::Analysis
            | Scenario::TwoTasksToDone
            | Scenario::CheckPasses
            | Scenario::CheckNotInstalled
            | Scenario::NonRoot => Script::WriteArtifact,
        }
    }
}

/// A failure script through `spawn`: sorted by whose fault it was, never a
/// rollback, never a developer retry. Short clocks keep each case fast.
fn a_failure_is_the_infrastructures(cli: AgentKind, script: Script) -> Result<(), Failed> {
    let _server = ModelServer::start_on(script, port(cli), None).unwrap();
    let mut case = Case::new(cli)?;
    case.config.agent.retry.retries = 1;
    case.config.agent.linger = Duration::from_secs(1);
    case.config.agent.first_output = Some(Duration::from_secs(30));
    case.config.agent.stall = Some(Duration::from_secs(6));
    let engine = case.engine();
    let repo = engine
        .store()
        .add_repo(&NewRepo::new(
            "api",
            case.checkout.to_str().unwrap(),
            "true",
        ))
        .unwrap();
    let (task, _) = engine.create_task(repo, "describe the API").unwrap();
    let started = Instant::now();
    let reports = drive(&engine, 3);
    let took = started.elapsed();
    let task_dir = case.config.task_dir(task.get());
    let output = fs::read_to_string(task_dir.join("01-analysis.output.log")).unwrap_or_default();
    let runs = engine.store().agent_runs(task).unwrap();
    let alerts = engine.store().alerts(true, 10).unwrap();
    let context = format!(
        "{cli:?} {script:?} in {took:?}; runs: {runs:?}; alerts: {alerts:?}; reports: {reports:?}\noutput:\n{}",
        output.chars().take(3000).collect::<String>()
    );
    eprintln!(
        "FIGURE {cli:?} {}: {:.1}s, runs {:?}",
        script.name(),
        took.as_secs_f64(),
        runs.iter()
            .map(|r| format!("{} {}ms {:?}", r.outcome, r.duration_ms, r.tokens_in))
            .collect::<Vec<_>>()
    );
    let moved = stages(&engine, task);
    if script == Script::HangAfterEnd {
        // The CLI either printed its result and lingered (ended after the
        // linger, artifact taken, the task moves on), or waited for the
        // body before printing anything (a stall: deferred, then blocked).
        // (`drive` goes on to the next stages when it passed.)
        let passed = moved.first() == Some(&("analysis".to_owned(), "architecture".to_owned()));
        if passed {
            check(
                runs.first().is_some_and(|r| r.outcome == "passed"),
                &context,
            )?;
            check(runs[0].tokens_in.is_some(), format!("no tokens: {context}"))?;
            return Ok(());
        }
    }
    let task_row = engine.store().task(task).unwrap();
    check(
        moved == [("analysis".to_owned(), "blocked".to_owned())],
        format!("not blocked straight from analysis: {moved:?}; {context}"),
    )?;
    check(
        task_row.developer_retries == 0,
        format!("a developer retry was spent: {context}"),
    )?;
    check(
        alerts
            .iter()
            .any(|a| a.kind == orch_store::AlertKind::AgentUnavailable),
        format!("no agent_unavailable alert: {context}"),
    )?;
    let expected: &[&str] = if script == Script::Unauthorized {
        &["tool_error"]
    } else {
        &["deferred", "tool_error"]
    };
    let outcomes: Vec<&str> = runs.iter().map(|r| r.outcome.as_str()).collect();
    check(
        outcomes == expected,
        format!("outcomes {outcomes:?}: {context}"),
    )?;
    if script == Script::Unauthorized {
        let alert = alerts
            .iter()
            .find(|a| a.kind == orch_store::AlertKind::AgentUnavailable)
            .unwrap();
        check(
            alert.message.contains("authenticate") && alert.message.contains("API key"),
            format!("the alert does not say what to fix: {context}"),
        )?;
    }
    check(
        took < Duration::from_secs(120),
        format!("{cli:?} took {took:?}"),
    )?;
    Ok(())
}

/// The unprivileged user of [`Scenario::NonRoot`]: `nobody`.
const NOBODY: u32 = 65534;

/// Gives `dir` and everything under it to `uid` (and its group).
fn chown_all(dir: &Path, uid: u32) {
    std::os::unix::fs::chown(dir, Some(uid), Some(uid)).unwrap();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            chown_all(&path, uid);
        } else {
            std::os::unix::fs::lchown(&path, Some(uid), Some(uid)).unwrap();
        }
    }
}

/// The processes alive whose command line contains `needle`: `pid args`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(raw) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args = String::from_utf8_lossy(&raw).replace('\0', " ");
        if args.contains(needle) {
            found.push(format!("{pid} {}", args.trim()));
        }
    }
    found
}

/// A task through analysis while the model makes the CLI start a
/// background process and ends its turn: a CLI that prints its result and
/// stays alive (waiting for that process) is ended after the linger, its
/// artifact taken and the run recorded as a normal end that says it
/// lingered; no process of its tree survives, whichever way it ended.
fn a_lingering_cli_is_ended(cli: AgentKind) -> Result<(), Failed> {
    let server = ModelServer::start_on(Script::BackgroundThenEnd, port(cli), None).unwrap();
    // The server's clock, near enough: its log says when each request came.
    let server_started = Instant::now();
    let mut case = Case::new(cli)?;
    case.config.agent.linger = Duration::from_secs(2);
    case.config.agent.first_output = Some(Duration::from_secs(60));
    case.config.agent.stall = Some(Duration::from_secs(60));
    let engine = case.engine();
    let repo = engine
        .store()
        .add_repo(&NewRepo::new(
            "api",
            case.checkout.to_str().unwrap(),
            "true",
        ))
        .unwrap();
    let (task, _) = engine.create_task(repo, "describe the API").unwrap();
    let started = Instant::now();
    let reports = drive(&engine, 1);
    let took = started.elapsed();
    // From the request of the final turn (the terminal event follows its
    // answer within milliseconds) to the end of the run.
    let after_final_turn = server
        .requests()
        .iter()
        .find(|r| r.answer == Answer::FinalTurn)
        .map(|r| (server_started + r.at).elapsed());
    let background = format!("{BACKGROUND_SECS}.0{BACKGROUND_MARK}{}", port(cli));
    let survivors = processes_with(&background);
    let task_dir = case.config.task_dir(task.get());
    let output = fs::read_to_string(task_dir.join("01-analysis.output.log")).unwrap_or_default();
    let runs = engine.store().agent_runs(task).unwrap();
    let detail = reports
        .first()
        .and_then(|r| r.detail.clone())
        .unwrap_or_default();
    let lingered = detail.contains("did not exit");
    let context = format!(
        "{cli:?} in {took:?}: {detail}; runs: {runs:?}; survivors: {survivors:?}\nrequests: {:?}\noutput:\n{}",
        server
            .requests()
            .iter()
            .map(|r| format!("{} {} -> {:?}", r.method, r.url, r.answer))
            .collect::<Vec<_>>(),
        output.chars().take(4000).collect::<String>()
    );
    eprintln!(
        "FIGURE {cli:?} background-then-end: {:.1}s, lingered {lingered}, ended {after_final_turn:?} after the final turn, run {:?}",
        took.as_secs_f64(),
        runs.iter()
            .map(|r| format!("{} {}ms exit {:?}", r.outcome, r.duration_ms, r.exit_code))
            .collect::<Vec<_>>()
    );
    check(
        survivors.is_empty(),
        format!("a process of the tree survived: {context}"),
    )?;
    let artifact = fs::read_to_string(task_dir.join("01-analysis.md")).unwrap_or_default();
    check(
        artifact.contains("analysis_status: COMPLETE"),
        format!("the artifact was not taken: {context}"),
    )?;
    check(
        stages(&engine, task) == [("analysis".to_owned(), "architecture".to_owned())]
            && runs.len() == 1
            && runs[0].outcome == "passed"
            && runs[0].tokens_in.is_some(),
        format!("not a normal, passed end: {context}"),
    )?;
    if cli == AgentKind::Claude {
        // Claude Code waits for its background job after its result
        // (docs/agents.md): ended after the linger, not at its timeout.
        // Ended by the linger clock: after the 2 s linger, long before the
        // 60 s stall clock, the 90 s timeout or the 150 s background job.
        check(
            lingered
                && detail.contains("ended after the 2s linger (ORCH_AGENT_LINGER_SECS)")
                && after_final_turn
                    .is_some_and(|d| d >= Duration::from_secs(2) && d < Duration::from_secs(30)),
            format!("Claude did not linger: {after_final_turn:?}; {context}"),
        )?;
    }
    check(
        took < Duration::from_secs(60),
        format!("{cli:?} waited for its background process: {context}"),
    )
}

/// A task through analysis while the model ends its turn without writing
/// the artifact: a normal end (exit 0) with no artifact is the role's
/// failure — the gate fails closed, the alert says the artifact was not
/// written — and never an infrastructure fault or a developer retry.
fn no_artifact_is_the_roles_failure(cli: AgentKind) -> Result<(), Failed> {
    let _server = ModelServer::start_on(Script::NoArtifact, port(cli), None).unwrap();
    let case = Case::new(cli)?;
    let engine = case.engine();
    let repo = engine
        .store()
        .add_repo(&NewRepo::new(
            "api",
            case.checkout.to_str().unwrap(),
            "true",
        ))
        .unwrap();
    let (task, _) = engine.create_task(repo, "describe the API").unwrap();
    let started = Instant::now();
    let reports = drive(&engine, 3);
    let took = started.elapsed();
    let runs = engine.store().agent_runs(task).unwrap();
    let alerts = engine.store().alerts(true, 10).unwrap();
    let moved = stages(&engine, task);
    let context = format!(
        "{cli:?} in {took:?}: moved {moved:?}; runs: {runs:?}; alerts: {alerts:?}; reports: {reports:?}"
    );
    eprintln!(
        "FIGURE {cli:?} no-artifact: {:.1}s, runs {:?}",
        took.as_secs_f64(),
        runs.iter()
            .map(|r| format!("{} {}ms exit {:?}", r.outcome, r.duration_ms, r.exit_code))
            .collect::<Vec<_>>()
    );
    check(
        moved == [("analysis".to_owned(), "blocked".to_owned())],
        format!("not blocked at analysis: {context}"),
    )?;
    check(
        runs.len() == 1 && runs[0].outcome == "passed" && runs[0].exit_code == Some(0),
        format!("not a normal end: {context}"),
    )?;
    check(
        alerts.iter().any(|a| {
            a.kind == orch_store::AlertKind::StageFailed
                && a.message.contains("01-analysis.md was not written")
        }) && !alerts
            .iter()
            .any(|a| a.kind == orch_store::AlertKind::AgentUnavailable),
        format!("the alert does not say the artifact was not written: {context}"),
    )?;
    check(
        engine.store().task(task).unwrap().developer_retries == 0,
        format!("a developer retry was spent: {context}"),
    )
}

/// Most model requests one run of each CLI may make against a model API
/// that answers 529/503 to everything, with orch's retry bounds
/// ([`orch_launcher::preset::retry_env`]: 2 retries after the first
/// attempt).
fn request_bound(cli: AgentKind) -> usize {
    match cli {
        // CLAUDE_CODE_MAX_RETRIES=2: 1 + 2.
        AgentKind::Claude => 3,
        // request_max_retries=2: 1 + 2 (a 503 is not retried as a stream).
        AgentKind::Codex => 3,
        // general.maxAttempts=3 in its settings (the operator's: orch
        // cannot set it), its model named (no router call, whose own 5
        // attempts no setting bounds).
        AgentKind::Gemini | AgentKind::Custom => 3,
    }
}

/// A model API overloaded for good: each CLI gives up by itself after a
/// bounded number of requests (counted at the server), well before orch's
/// stall clock and timeout, and the run is sorted as overloaded.
fn the_cli_s_retries_are_bounded(cli: AgentKind) -> Result<(), Failed> {
    let server = ModelServer::start_on(Script::Overloaded, port(cli), None).unwrap();
    let mut case = Case::new(cli)?;
    case.config.agent.first_output = Some(Duration::from_secs(80));
    case.config.agent.stall = Some(Duration::from_secs(80));
    let engine = case.engine();
    let repo = engine
        .store()
        .add_repo(&NewRepo::new(
            "api",
            case.checkout.to_str().unwrap(),
            "true",
        ))
        .unwrap();
    let (task, _) = engine.create_task(repo, "describe the API").unwrap();
    let started = Instant::now();
    let reports = drive(&engine, 1);
    let took = started.elapsed();
    let requests = server.requests();
    let failed: Vec<String> = requests
        .iter()
        .filter(|r| matches!(r.answer, Answer::Failure(_)))
        .map(|r| format!("{:.1}s {}", r.at.as_secs_f64(), r.url))
        .collect();
    let runs = engine.store().agent_runs(task).unwrap();
    let detail = reports
        .first()
        .and_then(|r| r.detail.clone())
        .unwrap_or_default();
    let context =
        format!("{cli:?} in {took:?}: {detail}; runs: {runs:?}; failed requests: {failed:?}");
    eprintln!(
        "FIGURE {cli:?} overloaded, bounded retries: {:.1}s, {} failed requests {failed:?}",
        took.as_secs_f64(),
        failed.len()
    );
    check(
        !failed.is_empty() && failed.len() <= request_bound(cli),
        format!("more than {} requests: {context}", request_bound(cli)),
    )?;
    check(
        runs.len() == 1
            && runs[0].outcome == "tool_error"
            && detail.contains("the model API failed the agent CLI")
            && !detail.contains("stall"),
        format!("not ended by the CLI itself as overloaded: {context}"),
    )
}

/// Set in the run of this binary that plays one scenario.
const SCENARIO: &str = "AGENTS_TEST_SCENARIO";

/// `orch agent check` with `cli`, in `scenario`'s environment.
fn the_check_says_what_is_wrong(cli: AgentKind, scenario: Scenario) -> Result<(), Failed> {
    let server = ModelServer::start_on(scenario.script(), port(cli), None).unwrap();
    let case = Case::new_unchecked(cli);
    let scratch = tempfile::tempdir().unwrap();
    // Claude Code retries a 401 for minutes: the check's timeout ends it.
    let report =
        orch_launcher::check::check_agent(&case.config, scratch.path(), Duration::from_secs(25))
            .map_err(|error| Failed::from(error.to_string()))?;
    let context = || {
        format!(
            "{report:#?}\nrequests: {:?}",
            server
                .requests()
                .iter()
                .map(|r| format!("{} {} -> {:?}", r.method, r.url, r.answer))
                .collect::<Vec<_>>()
        )
    };
    let kinds: Vec<FindingKind> = report.findings.iter().map(|f| f.kind).collect();
    match scenario {
        // The operator's settings let orch's retry bounds apply (Codex's
        // provider is the user's; Gemini's maxAttempts is set): no note.
        Scenario::CheckPasses => check(
            report.artifact_written && report.findings.is_empty() && report.notes.is_empty(),
            format!("the check did not pass: {}", context()),
        )?,
        Scenario::CheckUnauthorized => check(
            !report.artifact_written
                && kinds.first() == Some(&FindingKind::NotAuthenticated)
                && report.findings[0].message.contains(cli.preset().keys[0]),
            format!("the refused key was not named: {}", context()),
        )?,
        Scenario::CheckNotInstalled => check(
            kinds == [FindingKind::NotInstalled]
                && report.findings[0]
                    .message
                    .contains(&format!("npm install -g {}", cli.preset().npm_package)),
            format!("the missing CLI was not named: {}", context()),
        )?,
        Scenario::CheckNoArtifact => check(
            !report.artifact_written
                && kinds == [FindingKind::NoArtifact]
                && report.findings[0]
                    .message
                    .starts_with("no artifact written")
                && report.outcome.as_deref() == Some("passed"),
            format!("the missing artifact was not named: {}", context()),
        )?,
        Scenario::Analysis
        | Scenario::TwoTasksToDone
        | Scenario::Failure(_)
        | Scenario::Lingers
        | Scenario::NoArtifact
        | Scenario::RetriesBounded
        | Scenario::NonRoot => {
            unreachable!("not a check")
        }
    }
    check(
        scratch.path().read_dir().unwrap().next().is_none(),
        "the check left its throwaway folders behind",
    )
}

fn main() {
    orch_process::supervisor::main_if_requested();
    // orch's environment is what the operator set: this binary runs itself
    // again with it, once per scenario (the workspace allows no `unsafe`
    // `set_var`).
    let Some(scenario) = std::env::var(SCENARIO)
        .ok()
        .and_then(|name| Scenario::ALL.into_iter().find(|s| s.name() == name))
    else {
        let mut code = 0;
        for scenario in Scenario::ALL {
            let user_home = tempfile::tempdir().unwrap();
            let ports = [free_port(), free_port(), free_port()];
            let env = operator_env(
                user_home.path(),
                ports,
                scenario != Scenario::CheckNotInstalled,
                (scenario == Scenario::RetriesBounded).then_some("gemini-3.8-flash"),
            );
            // As `nobody`, through setpriv: its home is its own.
            let mut command = if scenario == Scenario::NonRoot {
                chown_all(user_home.path(), NOBODY);
                #[expect(
                    clippy::disallowed_methods,
                    reason = "the test re-runs itself as another user; no agent starts here"
                )]
                let mut setpriv = std::process::Command::new("setpriv");
                setpriv
                    .arg(format!("--reuid={NOBODY}"))
                    .arg(format!("--regid={NOBODY}"))
                    .arg("--clear-groups")
                    .arg(std::env::current_exe().unwrap());
                setpriv
            } else {
                #[expect(
                    clippy::disallowed_methods,
                    reason = "the test re-runs itself with orch's environment; no agent starts here"
                )]
                let itself = std::process::Command::new(std::env::current_exe().unwrap());
                itself
            };
            let status = command
                .args(std::env::args_os().skip(1))
                .envs(env)
                .env(SCENARIO, scenario.name())
                .status()
                .unwrap();
            if !status.success() {
                code = status.code().unwrap_or(1);
            }
        }
        std::process::exit(code);
    };
    // The unprivileged run is one: orch, and so its agents, are not root
    // (and orch does not set IS_SANDBOX for Claude).
    if scenario == Scenario::NonRoot {
        assert!(
            !orch_launcher::preset::running_as_root(),
            "the non-root scenario runs as root"
        );
    }
    let args = Arguments::from_args();
    let trials = CLIS
        .into_iter()
        .map(|cli| {
            let name = format!("{}_{}", cli.as_str(), scenario.name());
            match scenario {
                Scenario::Analysis | Scenario::NonRoot => {
                    Trial::test(name, move || a_task_passes_analysis(cli))
                }
                Scenario::Lingers => Trial::test(name, move || a_lingering_cli_is_ended(cli)),
                Scenario::NoArtifact => {
                    Trial::test(name, move || no_artifact_is_the_roles_failure(cli))
                }
                Scenario::RetriesBounded => {
                    Trial::test(name, move || the_cli_s_retries_are_bounded(cli))
                }
                Scenario::TwoTasksToDone => Trial::test(name, move || two_tasks_reach_done(cli)),
                Scenario::Failure(script) => {
                    Trial::test(name, move || a_failure_is_the_infrastructures(cli, script))
                }
                Scenario::CheckPasses
                | Scenario::CheckUnauthorized
                | Scenario::CheckNotInstalled
                | Scenario::CheckNoArtifact => {
                    Trial::test(name, move || the_check_says_what_is_wrong(cli, scenario))
                }
            }
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
