//! The real agent CLIs — Claude Code, Codex CLI, Gemini CLI — through orch's
//! real `spawn`, in the real kernel sandbox, against a **scripted stand-in
//! for the model API** on loopback (`orch_tests::model_server`: the only
//! stand-in; the CLIs are the pinned npm packages of `tests/agents`, run as
//! they are). docs/agents.md has what each CLI needs and what was found.
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

use common::{check, drive, stages};
use libtest_mimic::{Arguments, Failed, Trial};
use orch_launcher::{Engine, LauncherConfig};
use orch_store::{LeaseOwner, NewRepo, Store};
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

/// The three CLIs under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cli {
    Claude,
    Codex,
    Gemini,
}

/// One CLI's run: orch's home, the checkout, the CLI's own home folder.
struct Case {
    _dir: tempfile::TempDir,
    db: PathBuf,
    checkout: PathBuf,
    config: LauncherConfig,
}

impl Case {
    fn new(cli: Cli, server: &ModelServer) -> Result<Case, Failed> {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("orch-home");
        let checkout = dir.path().join("checkout");
        let cli_home = dir.path().join("cli-home");
        for folder in [&home, &checkout, &cli_home] {
            fs::create_dir_all(folder).unwrap();
        }
        fs::write(checkout.join("README.md"), "# api\n").unwrap();
        let mut config = LauncherConfig::new(&home);
        config.agent.command = command(cli, &cli_home, server)?;
        // Each CLI run takes seconds; a hang fails the case, never the suite.
        config.agent.timeout = Duration::from_secs(90);
        config.agent.grace = Duration::from_millis(500);
        config.agent.defer = Duration::from_millis(1);
        config.agent.infra_retries = 0;
        // The CLI's state folders, made before the run (the sandbox names
        // existing files only), declared writable as orch declares the
        // user's: `.claude`, `.claude.json`, `.codex`, `.gemini`.
        let state = state_paths(cli, &cli_home);
        config.sandbox.agent_dirs.extend(state.iter().cloned());
        Ok(Case {
            db: dir.path().join("orch.db"),
            _dir: dir,
            checkout,
            config,
        })
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

/// The state a CLI writes in its home folder, made ready as a user's would
/// be (the settings each needs to run unattended against the server).
fn state_paths(cli: Cli, cli_home: &Path) -> Vec<PathBuf> {
    match cli {
        Cli::Claude => {
            let dir = cli_home.join(".claude");
            fs::create_dir_all(&dir).unwrap();
            let file = cli_home.join(".claude.json");
            fs::write(&file, "{}\n").unwrap();
            vec![dir, file]
        }
        Cli::Codex => {
            let dir = cli_home.join(".codex");
            fs::create_dir_all(&dir).unwrap();
            vec![dir]
        }
        Cli::Gemini => {
            let dir = cli_home.join(".gemini");
            fs::create_dir_all(&dir).unwrap();
            fs::write(
                dir.join("settings.json"),
                r#"{"security": {"auth": {"selectedType": "gemini-api-key"}}}"#,
            )
            .unwrap();
            vec![dir]
        }
    }
}

/// The unattended command line of `cli`, pointed at `server` (docs/agents.md).
fn command(cli: Cli, cli_home: &Path, server: &ModelServer) -> Result<String, Failed> {
    let home = cli_home.display();
    let url = server.url();
    Ok(match cli {
        Cli::Claude => format!(
            "HOME={home} ANTHROPIC_BASE_URL={url} ANTHROPIC_API_KEY=sk-ant-scripted IS_SANDBOX=1 \
             {} -p --output-format stream-json --verbose --dangerously-skip-permissions",
            installed("claude")?.display()
        ),
        Cli::Codex => {
            let codex_home = cli_home.join(".codex");
            fs::create_dir_all(&codex_home).unwrap();
            fs::write(
                codex_home.join("config.toml"),
                format!(
                    "model = \"gpt-5-codex\"\nmodel_provider = \"scripted\"\n\n\
                     [model_providers.scripted]\nname = \"scripted model server\"\n\
                     base_url = \"{url}/v1\"\nenv_key = \"OPENAI_API_KEY\"\nwire_api = \"responses\"\n"
                ),
            )
            .unwrap();
            format!(
                "HOME={home} OPENAI_API_KEY=sk-scripted {} exec --json --skip-git-repo-check \
                 --dangerously-bypass-approvals-and-sandbox -",
                installed("codex")?.display()
            )
        }
        Cli::Gemini => format!(
            "HOME={home} GEMINI_API_KEY=scripted-key GOOGLE_GEMINI_BASE_URL={url} \
             {} --output-format stream-json --yolo --skip-trust \
             --include-directories \"$(dirname \"$ORCH_ARTIFACT\")\"",
            installed("gemini")?.display()
        ),
    })
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
fn a_task_passes_analysis(cli: Cli) -> Result<(), Failed> {
    let server = ModelServer::start(Script::WriteArtifact).unwrap();
    let case = Case::new(cli, &server)?;
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
    let (input, output_tokens, _cache_read, _cache_write) = served(&server);
    match cli {
        Cli::Claude => {
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
        Cli::Codex => check(
            run.tokens_in == Some(input)
                && run.tokens_out == Some(output_tokens)
                && run.cost_usd.is_none(),
            format!("tokens: {run:?}; {}", context()),
        )?,
        Cli::Gemini => check(
            // Summed over its models: the router's side call included.
            run.tokens_in == Some(input)
                && run.tokens_out == Some(output_tokens)
                && run.cost_usd.is_none(),
            format!(
                "tokens (served {input} in, {output_tokens} out): {run:?}; {}",
                context()
            ),
        )?,
    }
    check(
        took < Duration::from_secs(60),
        format!("{cli:?} took {took:?}"),
    )?;
    Ok(())
}

/// A failure script through `spawn`: sorted by whose fault it was, never a
/// rollback, never a developer retry. Short clocks keep each case fast.
fn a_failure_is_the_infrastructures(cli: Cli, script: Script) -> Result<(), Failed> {
    let server = ModelServer::start(script).unwrap();
    let mut case = Case::new(cli, &server)?;
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

fn main() {
    orch_process::supervisor::main_if_requested();
    let args = Arguments::from_args();
    let mut trials: Vec<Trial> = [
        ("claude_code_takes_a_task_through_analysis", Cli::Claude),
        ("codex_takes_a_task_through_analysis", Cli::Codex),
        ("gemini_takes_a_task_through_analysis", Cli::Gemini),
    ]
    .into_iter()
    .map(|(name, cli)| Trial::test(name, move || a_task_passes_analysis(cli)))
    .collect();
    for cli in [Cli::Claude, Cli::Codex, Cli::Gemini] {
        for script in [
            Script::Unauthorized,
            Script::Overloaded,
            Script::ServerError,
            Script::StallMidStream,
            Script::HangAfterEnd,
        ] {
            let name = format!(
                "{}_{}_is_sorted_as_infrastructure",
                format!("{cli:?}").to_lowercase(),
                script.name().replace('-', "_")
            );
            trials.push(Trial::test(name, move || {
                a_failure_is_the_infrastructures(cli, script)
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
