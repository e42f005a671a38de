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
use orch_launcher::{AgentKind, Engine, LauncherConfig};
use orch_store::{LeaseOwner, NewRepo, Store, TaskStatus, Transport};
use orch_tests::model_server::{Answer, FINAL_TURN, ModelServer, SIDE_TURN, Script, TOOL_TURN};

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
        config.agent.defer = Duration::from_millis(1);
        config.agent.infra_retries = 0;
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
/// selected" without it).
fn operator_env(user_home: &Path, ports: [u16; 3], with_clis: bool) -> Vec<(String, String)> {
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
    fs::write(
        gemini.join("settings.json"),
        r#"{"security": {"auth": {"selectedType": "gemini-api-key"}}}"#,
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
    let (writes, named) = match cli {
        AgentKind::Claude => (Some(cache_write), true),
        AgentKind::Gemini => (None, true),
        AgentKind::Codex | AgentKind::Custom => (None, false),
    };
    check(
        run.cache_read_tokens == Some(cache_read)
            && run.cache_write_tokens == writes
            && run.model.is_some() == named,
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
        AgentKind::Codex => check(
            run.tokens_in == Some(input)
                && run.tokens_out == Some(output_tokens)
                && run.cost_usd.is_none(),
            format!("tokens: {run:?}; {}", context()),
        )?,
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
}

impl Scenario {
    const ALL: [Scenario; 10] = [
        Scenario::Analysis,
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
        }
    }

    fn script(self) -> Script {
        match self {
            Scenario::CheckUnauthorized => Script::Unauthorized,
            Scenario::Failure(script) => script,
            Scenario::Analysis
            | Scenario::TwoTasksToDone
            | Scenario::CheckPasses
            | Scenario::CheckNotInstalled => Script::WriteArtifact,
        }
    }
}

/// A failure script through `spawn`: sorted by whose fault it was, never a
/// rollback, never a developer retry. Short clocks keep each case fast.
fn a_failure_is_the_infrastructures(cli: AgentKind, script: Script) -> Result<(), Failed> {
    let _server = ModelServer::start_on(script, port(cli), None).unwrap();
    let mut case = Case::new(cli)?;
    case.config.agent.infra_retries = 1;
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
        alerts.iter().any(|a| a.kind == "agent_unavailable"),
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
            .find(|a| a.kind == "agent_unavailable")
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
        Scenario::CheckPasses => check(
            report.artifact_written && report.findings.is_empty(),
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
        Scenario::Analysis | Scenario::TwoTasksToDone | Scenario::Failure(_) => {
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
            #[expect(
                clippy::disallowed_methods,
                reason = "the test re-runs itself with orch's environment; no agent starts here"
            )]
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .args(std::env::args_os().skip(1))
                .envs(operator_env(
                    user_home.path(),
                    ports,
                    scenario != Scenario::CheckNotInstalled,
                ))
                .env(SCENARIO, scenario.name())
                .status()
                .unwrap();
            if !status.success() {
                code = status.code().unwrap_or(1);
            }
        }
        std::process::exit(code);
    };
    let args = Arguments::from_args();
    let trials = CLIS
        .into_iter()
        .map(|cli| {
            let name = format!("{}_{}", cli.as_str(), scenario.name());
            match scenario {
                Scenario::Analysis => Trial::test(name, move || a_task_passes_analysis(cli)),
                Scenario::TwoTasksToDone => Trial::test(name, move || two_tasks_reach_done(cli)),
                Scenario::Failure(script) => {
                    Trial::test(name, move || a_failure_is_the_infrastructures(cli, script))
                }
                Scenario::CheckPasses
                | Scenario::CheckUnauthorized
                | Scenario::CheckNotInstalled => {
                    Trial::test(name, move || the_check_says_what_is_wrong(cli, scenario))
                }
            }
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
